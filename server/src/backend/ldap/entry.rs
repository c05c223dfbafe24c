//! From an AD entry to a [`DirectoryUser`], pure: the attribute list deprov reads, how each value
//! is decoded (objectGUID's little-endian layout, GeneralizedTime, userAccountControl bits, the
//! three-valued msRTCSIP-UserEnabled, the home-server DN of a pool), and when AD last changed the
//! two attributes a leaver's timeline hangs on (from `replPropertyMetaData`).
//!
//! A value deprov did not expect never stops a read: it is logged once and noted on the user.

use super::settings::normalise_dn;
use deprov_wire::directory::{
    AdAccount, DirectoryUser, Fact, LyncAccount, ON_PREMISES_HOSTING_PROVIDER,
    ONLINE_HOSTING_PROVIDER, SipAddress, UserId,
};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use time::OffsetDateTime;

/// Every attribute a user read asks for.
pub const USER_ATTRIBUTES: [&str; 20] = [
    "objectGUID",
    "employeeID",
    "sAMAccountName",
    "userPrincipalName",
    "displayName",
    "department",
    "title",
    "manager",
    "mail",
    "userAccountControl",
    "adminCount",
    "memberOf",
    "uSNChanged",
    "whenChanged",
    "msRTCSIP-PrimaryUserAddress",
    "msRTCSIP-UserEnabled",
    "msRTCSIP-PrimaryHomeServer",
    "msRTCSIP-DeploymentLocator",
    "msRTCSIP-Line",
    "msRTCSIP-OptionFlags",
];

/// The Lync attributes the schema must have for deprov to see Lync users at all.
pub const LYNC_ATTRIBUTES: [&str; 6] = [
    "msRTCSIP-PrimaryUserAddress",
    "msRTCSIP-UserEnabled",
    "msRTCSIP-PrimaryHomeServer",
    "msRTCSIP-DeploymentLocator",
    "msRTCSIP-Line",
    "msRTCSIP-OptionFlags",
];

/// People, not computers (which are `objectClass=user` too) or contacts.
pub const USERS_FILTER: &str = "(&(objectCategory=person)(objectClass=user))";

/// userAccountControl's ACCOUNTDISABLE bit.
const ACCOUNTDISABLE: i64 = 0x2;
/// msRTCSIP-OptionFlags' Enterprise Voice bit.
const ENTERPRISE_VOICE: i64 = 128;
/// userAccountControl's attribute id in replication metadata: a base-schema attribute, the same
/// in every forest (prefix 1.2.840.113556.1.4 → 0x0009, last arc 8).
pub const USER_ACCOUNT_CONTROL_ATTID: u32 = 0x0009_0008;

/// Groups AdminSDHolder protects (their members are read-only in the Lync Control Panel).
const PROTECTED_GROUPS: [&str; 13] = [
    "Domain Admins",
    "Enterprise Admins",
    "Schema Admins",
    "Administrators",
    "Account Operators",
    "Server Operators",
    "Print Operators",
    "Backup Operators",
    "Replicator",
    "Domain Controllers",
    "Read-only Domain Controllers",
    "Key Admins",
    "Enterprise Key Admins",
];

/// What one entry carries, as ldap3 hands it over: text attributes and binary ones.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub dn: String,
    pub attrs: HashMap<String, Vec<String>>,
    pub bin_attrs: HashMap<String, Vec<Vec<u8>>>,
}

impl From<ldap3::SearchEntry> for Entry {
    fn from(entry: ldap3::SearchEntry) -> Self {
        // AD answers attribute names in its own case; lookups here use lower case.
        fn lower<V>(map: HashMap<String, V>) -> HashMap<String, V> {
            map.into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect()
        }
        Self {
            dn: entry.dn,
            attrs: lower(entry.attrs),
            bin_attrs: lower(entry.bin_attrs),
        }
    }
}

impl Entry {
    pub fn text(&self, name: &str) -> Option<&str> {
        self.attrs
            .get(&name.to_ascii_lowercase())
            .and_then(|values| values.first())
            .map(String::as_str)
    }

    fn texts(&self, name: &str) -> &[String] {
        self.attrs
            .get(&name.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    pub fn binary(&self, name: &str) -> Option<&[u8]> {
        self.bin_attrs
            .get(&name.to_ascii_lowercase())
            .and_then(|values| values.first())
            .map(Vec::as_slice)
    }

    /// The objectGUID: 16 bytes in the little-endian GUID layout AD uses.
    pub fn object_guid(&self) -> Option<UserId> {
        let bytes: [u8; 16] = self.binary("objectGUID")?.try_into().ok()?;
        Some(UserId(uuid::Uuid::from_bytes_le(bytes)))
    }
}

/// An objectGUID as an LDAP filter value: every byte escaped, in AD's byte order.
pub fn guid_filter(id: UserId) -> String {
    let mut filter = String::from("(objectGUID=");
    for byte in id.0.to_bytes_le() {
        filter.push_str(&format!("\\{byte:02x}"));
    }
    filter.push(')');
    filter
}

/// `20261125223646.0Z` (GeneralizedTime, as AD writes it) → a moment.
pub fn generalized_time(text: &str) -> Option<OffsetDateTime> {
    let digits = text.get(..14)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| digits[range].parse::<u32>().ok();
    let date = time::Date::from_calendar_date(
        number(0..4)? as i32,
        time::Month::try_from(number(4..6)? as u8).ok()?,
        number(6..8)? as u8,
    )
    .ok()?;
    let clock = time::Time::from_hms(
        number(8..10)? as u8,
        number(10..12)? as u8,
        number(12..14)? as u8,
    )
    .ok()?;
    Some(date.with_time(clock).assume_utc())
}

/// When each attribute last changed at its origin, from `replPropertyMetaData` (AD's
/// replication metadata: a header of four 32-bit words, then 48 bytes per attribute: attid,
/// version, originating change time in whole seconds since 1601, invocation id, two USNs).
pub fn change_times(blob: &[u8]) -> HashMap<u32, OffsetDateTime> {
    let word = |at: usize| {
        blob.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut times = HashMap::new();
    let (Some(1), Some(count)) = (word(0), word(8)) else {
        return times;
    };
    for n in 0..count as usize {
        let at = 16 + n * 48;
        let (Some(attid), Some(seconds)) = (
            word(at),
            blob.get(at + 8..at + 16)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))),
        ) else {
            break;
        };
        // Seconds since 1601-01-01; the Unix epoch is 11,644,473,600 s later.
        let unix = seconds as i64 - 11_644_473_600;
        if let Ok(at) = OffsetDateTime::from_unix_timestamp(unix) {
            times.insert(attid, at);
        }
    }
    times
}

/// Values deprov did not expect, each logged once however many reads see it again.
#[derive(Debug, Default)]
pub struct Oddities {
    seen: Mutex<HashSet<String>>,
}

impl Oddities {
    /// Logs `what` the first time it is seen.
    pub fn note(&self, what: &str) {
        let first = self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(what.to_owned());
        if first {
            tracing::warn!("{what}");
        }
    }
}

/// What mapping an entry needs besides the entry.
pub struct Mapping<'a> {
    /// Normalised home-server DN → pool FQDN (`--ldap-pool`).
    pub pools: &'a HashMap<String, String>,
    /// The user with a given (normalised) DN, for `manager`.
    pub user_by_dn: &'a dyn Fn(&str) -> Option<UserId>,
    /// msRTCSIP-UserEnabled's attribute id in this forest's replication metadata, if known.
    pub lync_enabled_attid: Option<u32>,
    /// When attributes last changed, per user (read only for the users who need it).
    pub change_times: &'a HashMap<UserId, HashMap<u32, OffsetDateTime>>,
    pub oddities: &'a Oddities,
}

/// The pool a home-server DN names: its FQDN when mapped, else the pool id the DN carries
/// (`CN=Lc Services,CN=Microsoft,CN=1:1,CN=Pools,...` → `1:1`).
pub fn pool_of(dn: &str, pools: &HashMap<String, String>) -> (String, bool) {
    if let Some(fqdn) = pools.get(&normalise_dn(dn)) {
        return (fqdn.clone(), true);
    }
    let rdns: Vec<&str> = dn.split(',').map(str::trim).collect();
    let id = rdns
        .iter()
        .position(|rdn| rdn.eq_ignore_ascii_case("CN=Microsoft"))
        .and_then(|i| rdns.get(i + 1))
        .and_then(|rdn| rdn.split_once('='))
        .map(|(_, id)| id.to_owned());
    (id.unwrap_or_else(|| dn.to_owned()), false)
}

/// The CN of a DN's first RDN.
fn common_name(dn: &str) -> Option<&str> {
    let first = dn.split(',').next()?;
    let (key, value) = first.split_once('=')?;
    key.trim()
        .eq_ignore_ascii_case("CN")
        .then_some(value.trim())
}

/// A user from an entry, or why the entry is skipped (no objectGUID or sAMAccountName).
pub fn user(entry: &Entry, mapping: &Mapping<'_>) -> Result<DirectoryUser, String> {
    let id = entry
        .object_guid()
        .ok_or_else(|| format!("{}: no readable objectGUID; skipped", entry.dn))?;
    let sam = entry
        .text("sAMAccountName")
        .ok_or_else(|| format!("{}: no sAMAccountName; skipped", entry.dn))?
        .to_owned();
    let mut anomalies = Vec::new();
    let mut odd = |what: String| {
        mapping.oddities.note(&format!("{}: {what}", entry.dn));
        anomalies.push(what);
    };
    let when_changed = match entry.text("whenChanged").map(|t| (t, generalized_time(t))) {
        Some((_, Some(at))) => at,
        Some((text, None)) => {
            odd(format!("whenChanged '{text}' is not a GeneralizedTime"));
            OffsetDateTime::UNIX_EPOCH
        }
        None => OffsetDateTime::UNIX_EPOCH,
    };
    let changed = mapping.change_times.get(&id);
    let changed_at = |attid: Option<u32>| {
        attid
            .and_then(|attid| changed?.get(&attid).copied())
            .unwrap_or(when_changed)
    };
    let uac = match entry
        .text("userAccountControl")
        .map(|t| (t, t.parse::<i64>()))
    {
        Some((_, Ok(flags))) => flags,
        Some((text, Err(_))) => {
            odd(format!("userAccountControl '{text}' is not a number"));
            0
        }
        None => 0,
    };
    let account_disabled = uac & ACCOUNTDISABLE != 0;
    let mut protected_groups: Vec<String> = entry
        .texts("memberOf")
        .iter()
        .filter(|dn| {
            // The real ones live in CN=Users or CN=Builtin; a look-alike name elsewhere is not one.
            let container = dn.split(',').nth(1).unwrap_or_default().replace(' ', "");
            container.eq_ignore_ascii_case("CN=Users")
                || container.eq_ignore_ascii_case("CN=Builtin")
        })
        .filter_map(|dn| common_name(dn))
        .filter(|cn| PROTECTED_GROUPS.iter().any(|g| g.eq_ignore_ascii_case(cn)))
        .map(str::to_owned)
        .collect();
    if protected_groups.is_empty() && entry.text("adminCount") == Some("1") {
        protected_groups.push("AdminSDHolder (adminCount = 1)".to_owned());
    }
    let ad = AdAccount {
        sam_account_name: sam,
        user_principal_name: entry
            .text("userPrincipalName")
            .unwrap_or_default()
            .to_owned(),
        display_name: entry
            .text("displayName")
            .or_else(|| common_name(&entry.dn))
            .unwrap_or_default()
            .to_owned(),
        distinguished_name: entry.dn.clone(),
        department: entry.text("department").unwrap_or_default().to_owned(),
        title: entry.text("title").unwrap_or_default().to_owned(),
        employee_id: entry
            .text("employeeID")
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned),
        manager: entry
            .text("manager")
            .and_then(|dn| (mapping.user_by_dn)(&normalise_dn(dn))),
        account_disabled,
        disabled_since: account_disabled.then(|| changed_at(Some(USER_ACCOUNT_CONTROL_ATTID))),
        when_changed,
        protected_groups,
    };

    let enabled = match entry.text("msRTCSIP-UserEnabled") {
        None => None,
        Some(text) if text.eq_ignore_ascii_case("TRUE") => Some(true),
        Some(text) if text.eq_ignore_ascii_case("FALSE") => Some(false),
        Some(text) => {
            // Not TRUE or FALSE: read as enabled, so a possible hole shows in the report.
            odd(format!(
                "msRTCSIP-UserEnabled '{text}' is neither TRUE nor FALSE; read as TRUE"
            ));
            Some(true)
        }
    };
    let sip = entry.text("msRTCSIP-PrimaryUserAddress");
    let lync = match (enabled, sip) {
        (None, None) => None,
        (None, Some(sip)) => {
            odd(format!(
                "msRTCSIP-PrimaryUserAddress '{sip}' is set but msRTCSIP-UserEnabled is not: read as not enabled for Lync"
            ));
            None
        }
        (Some(_), None) => {
            odd("msRTCSIP-UserEnabled is set but there is no msRTCSIP-PrimaryUserAddress: read as not enabled for Lync".to_owned());
            None
        }
        (Some(enabled), Some(text)) => {
            // Lync writes "sip:"; other tools have been seen writing "SIP:".
            let normalised = match text.get(..4) {
                Some(scheme) if scheme.eq_ignore_ascii_case("sip:") => {
                    format!("sip:{}", &text[4..])
                }
                _ => text.to_owned(),
            };
            match SipAddress::try_from(normalised) {
                Err(why) => {
                    odd(format!(
                        "msRTCSIP-PrimaryUserAddress: {why}; read as not enabled for Lync (check it in the Lync Control Panel)"
                    ));
                    None
                }
                Ok(sip_address) => {
                    let locator = entry.text("msRTCSIP-DeploymentLocator");
                    let homed_online =
                        locator.is_some_and(|l| l.eq_ignore_ascii_case(ONLINE_HOSTING_PROVIDER));
                    let registrar_pool = if homed_online {
                        None
                    } else {
                        entry.text("msRTCSIP-PrimaryHomeServer").map(|dn| {
                            let (pool, mapped) = pool_of(dn, mapping.pools);
                            if !mapped {
                                mapping.oddities.note(&format!(
                                    "registrar pool {dn} is not mapped to an FQDN: shown as pool id '{pool}' \
                                     (map it with --ldap-pool FQDN=DN)"
                                ));
                            }
                            pool
                        })
                    };
                    let option_flags = match entry
                        .text("msRTCSIP-OptionFlags")
                        .map(|t| (t, t.parse::<i64>()))
                    {
                        Some((_, Ok(flags))) => flags,
                        Some((text, Err(_))) => {
                            odd(format!("msRTCSIP-OptionFlags '{text}' is not a number"));
                            0
                        }
                        None => 0,
                    };
                    Some(LyncAccount {
                        enabled,
                        enabled_changed: changed_at(mapping.lync_enabled_attid),
                        sip_address,
                        registrar_pool,
                        hosting_provider: locator
                            .unwrap_or(ON_PREMISES_HOSTING_PROVIDER)
                            .to_owned(),
                        line_uri: entry.text("msRTCSIP-Line").map(str::to_owned),
                        enterprise_voice_enabled: option_flags & ENTERPRISE_VOICE != 0,
                        // Only the Lync server knows these: AD does not hold them.
                        policies: Fact::Unknown,
                        contact_count: Fact::Unknown,
                        conference_count: Fact::Unknown,
                        certificates: Fact::Unknown,
                    })
                }
            }
        }
    };
    let usn_changed = match entry.text("uSNChanged").map(str::parse::<u64>) {
        Some(Ok(usn)) => usn,
        _ => {
            odd("uSNChanged is missing or not a number".to_owned());
            0
        }
    };
    Ok(DirectoryUser {
        id,
        ad,
        lync,
        endpoints: Fact::Unknown,
        anomalies,
        usn_changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(attrs: &[(&str, &str)]) -> Entry {
        let mut entry = Entry {
            dn: "CN=Alice Able,OU=Staff,DC=corp,DC=example".into(),
            ..Entry::default()
        };
        entry.bin_attrs.insert(
            "objectguid".into(),
            vec![
                uuid::Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10)
                    .to_bytes_le()
                    .to_vec(),
            ],
        );
        for (name, value) in attrs {
            entry
                .attrs
                .entry(name.to_ascii_lowercase())
                .or_default()
                .push((*value).to_owned());
        }
        entry
    }

    fn map(entry: &Entry) -> DirectoryUser {
        let pools = HashMap::from([(
            normalise_dn(
                "CN=Lc Services,CN=Microsoft,CN=1:1,CN=Pools,CN=RTC Service,CN=Services,CN=Configuration,DC=corp,DC=example",
            ),
            "pool01.corp.example".to_owned(),
        )]);
        let boss = UserId(uuid::Uuid::from_u128(7));
        let by_dn = move |dn: &str| (dn == "cn=bob,ou=staff,dc=corp,dc=example").then_some(boss);
        let times = HashMap::new();
        let oddities = Oddities::default();
        user(
            entry,
            &Mapping {
                pools: &pools,
                user_by_dn: &by_dn,
                lync_enabled_attid: None,
                change_times: &times,
                oddities: &oddities,
            },
        )
        .unwrap()
    }

    const ALICE: [(&str, &str); 12] = [
        ("sAMAccountName", "alice"),
        ("userPrincipalName", "alice@corp.example"),
        ("displayName", "Alice Able"),
        ("userAccountControl", "514"),
        ("whenChanged", "20261125223646.0Z"),
        ("uSNChanged", "3959"),
        ("manager", "CN=Bob, OU=Staff,DC=corp,DC=example"),
        ("msRTCSIP-PrimaryUserAddress", "SIP:alice@corp.example"),
        ("msRTCSIP-UserEnabled", "TRUE"),
        (
            "msRTCSIP-PrimaryHomeServer",
            "CN=Lc Services,CN=Microsoft,CN=1:1,CN=Pools,CN=RTC Service,CN=Services,CN=Configuration,DC=corp,DC=example",
        ),
        ("msRTCSIP-OptionFlags", "385"),
        ("msRTCSIP-Line", "tel:+3120555"),
    ];

    #[test]
    fn an_entry_becomes_a_user_with_what_only_lync_knows_unknown() {
        let alice = map(&entry(&ALICE));
        assert_eq!(alice.id.to_string(), "01020304-0506-0708-090a-0b0c0d0e0f10");
        assert!(alice.ad.account_disabled);
        assert_eq!(
            alice.ad.disabled_since,
            generalized_time("20261125223646.0Z")
        );
        assert_eq!(alice.ad.manager, Some(UserId(uuid::Uuid::from_u128(7))));
        let lync = alice.lync.as_ref().unwrap();
        assert!(lync.enabled);
        assert_eq!(lync.sip_address.to_string(), "sip:alice@corp.example");
        assert_eq!(lync.registrar_pool.as_deref(), Some("pool01.corp.example"));
        assert!(lync.enterprise_voice_enabled);
        assert!(lync.certificates.is_unknown() && lync.contact_count.is_unknown());
        assert!(alice.endpoints.is_unknown());
        assert!(alice.anomalies.is_empty());
        assert_eq!(alice.usn_changed, 3959);
    }

    #[test]
    fn enabled_is_three_valued_and_online_users_have_no_pool() {
        let mut attrs = ALICE.to_vec();
        attrs.retain(|(k, _)| !k.starts_with("msRTCSIP"));
        assert!(map(&entry(&attrs)).lync.is_none());
        let mut attrs = ALICE.to_vec();
        attrs.retain(|(k, _)| *k != "msRTCSIP-UserEnabled");
        attrs.push(("msRTCSIP-UserEnabled", "FALSE"));
        attrs.push(("msRTCSIP-DeploymentLocator", "sipfed.online.lync.com"));
        let user = map(&entry(&attrs));
        let lync = user.lync.unwrap();
        assert!(!lync.enabled);
        assert!(lync.homed_online());
        assert_eq!(lync.registrar_pool, None);
    }

    #[test]
    fn unexpected_values_are_noted_and_the_read_carries_on() {
        let mut attrs = ALICE.to_vec();
        attrs.retain(|(k, _)| *k != "msRTCSIP-UserEnabled" && *k != "userAccountControl");
        attrs.push(("msRTCSIP-UserEnabled", "maybe"));
        attrs.push(("userAccountControl", "lots"));
        let user = map(&entry(&attrs));
        assert_eq!(user.anomalies.len(), 2, "{:?}", user.anomalies);
        assert!(
            user.lync.unwrap().enabled,
            "an unreadable flag is read as the riskier value"
        );
        let mut attrs = ALICE.to_vec();
        attrs.retain(|(k, _)| *k != "msRTCSIP-PrimaryUserAddress");
        attrs.push(("msRTCSIP-PrimaryUserAddress", "alice-at-nowhere"));
        let user = map(&entry(&attrs));
        assert!(user.lync.is_none());
        assert_eq!(user.anomalies.len(), 1);
        let mut no_guid = entry(&ALICE);
        no_guid.bin_attrs.clear();
        let pools = HashMap::new();
        let times = HashMap::new();
        let oddities = Oddities::default();
        let none = |_: &str| None;
        let mapping = Mapping {
            pools: &pools,
            user_by_dn: &none,
            lync_enabled_attid: None,
            change_times: &times,
            oddities: &oddities,
        };
        assert!(
            user_of(&no_guid, &mapping)
                .unwrap_err()
                .contains("objectGUID")
        );
    }

    fn user_of(entry: &Entry, mapping: &Mapping<'_>) -> Result<DirectoryUser, String> {
        user(entry, mapping)
    }

    #[test]
    fn unmapped_pools_show_their_pool_id() {
        let (pool, mapped) = pool_of(
            "CN=Lc Services,CN=Microsoft,CN=2:1,CN=Pools,CN=RTC Service,CN=Services,CN=Configuration,DC=x",
            &HashMap::new(),
        );
        assert_eq!((pool.as_str(), mapped), ("2:1", false));
    }

    #[test]
    fn protected_accounts_come_from_admin_count_or_builtin_groups() {
        let mut attrs = ALICE.to_vec();
        attrs.push(("adminCount", "1"));
        assert_eq!(
            map(&entry(&attrs)).ad.protected_groups,
            ["AdminSDHolder (adminCount = 1)"]
        );
        attrs.push(("memberOf", "CN=Domain Admins,CN=Users,DC=corp,DC=example"));
        assert_eq!(map(&entry(&attrs)).ad.protected_groups, ["Domain Admins"]);
        let mut attrs = ALICE.to_vec();
        attrs.push(("memberOf", "CN=Domain Admins,OU=Pranks,DC=corp,DC=example"));
        assert!(
            map(&entry(&attrs)).ad.protected_groups.is_empty(),
            "a look-alike group elsewhere"
        );
    }

    #[test]
    fn times_and_guids_decode_as_ad_writes_them() {
        let at = generalized_time("20261125223646.0Z").unwrap();
        assert_eq!(at.to_string(), "2026-11-25 22:36:46.0 +00:00:00");
        assert!(generalized_time("2026").is_none());
        assert!(generalized_time("20261345223646.0Z").is_none());
        let id = UserId(uuid::Uuid::parse_str("5712c8ea-3fd1-46b1-8bf1-5e022604347d").unwrap());
        assert_eq!(
            guid_filter(id),
            "(objectGUID=\\ea\\c8\\12\\57\\d1\\3f\\b1\\46\\8b\\f1\\5e\\02\\26\\04\\34\\7d)"
        );
    }

    #[test]
    fn replication_metadata_gives_when_an_attribute_changed() {
        // Header (version 1, count 2), then two 48-byte entries: attid, version, NTTIME, ...
        let mut blob = vec![1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0];
        let unix = 1_795_000_000i64;
        let seconds = (unix + 11_644_473_600) as u64;
        for attid in [USER_ACCOUNT_CONTROL_ATTID, 0x8150_0057] {
            blob.extend(attid.to_le_bytes());
            blob.extend(1u32.to_le_bytes());
            blob.extend(seconds.to_le_bytes());
            blob.extend([0u8; 32]);
        }
        let times = change_times(&blob);
        assert_eq!(times.len(), 2);
        assert_eq!(times[&USER_ACCOUNT_CONTROL_ATTID].unix_timestamp(), unix);
        assert!(
            change_times(&blob[..20]).len() <= 1,
            "a cut-off blob reads what it can"
        );
        // The first entry of a blob a Samba DC returned for an account added at 22:36:46.
        let samba: Vec<u8> = [
            "0100000000000000010000000000000000000000",
            "01000000fef3172103000000ea09f18cdd5a784e",
            "bbc61b82a36b4b7c780f000000000000780f000000000000",
        ]
        .concat()
        .as_bytes()
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect();
        assert_eq!(
            change_times(&samba)[&0],
            generalized_time("20261125223646.0Z").unwrap()
        );
        assert!(change_times(&[]).is_empty());
    }
}
