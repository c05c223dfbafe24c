//! AD accounts and Lync users as a backend reports them (Get-CsAdUser plus the AD attributes).
//!
//! The three-valued Lync `Enabled` flag is [`LyncState`]; a user with no Lync attributes at all
//! (never enabled, or removed by Disable-CsUser) has `lync: None`.

use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;
use uuid::Uuid;

/// An AD object's `objectGUID`: the one identity that survives renames of every other name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub Uuid);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for UserId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(UserId)
    }
}

/// Both are strings on the wire: a GUID, and `sip:lhs@domain`.
#[cfg(feature = "openapi")]
mod string_schemas {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    use utoipa::openapi::{RefOr, Schema};

    impl utoipa::PartialSchema for super::UserId {
        fn schema() -> RefOr<Schema> {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                .description(Some("The AD objectGUID"))
                .into()
        }
    }
    impl utoipa::ToSchema for super::UserId {}

    impl utoipa::PartialSchema for super::SipAddress {
        fn schema() -> RefOr<Schema> {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^sip:[^@:\\s]+@[^@:\\s]+$"))
                .examples(["sip:jane.doe@contoso.com"])
                .into()
        }
    }
    impl utoipa::ToSchema for super::SipAddress {}
}

/// Get-CsAdUser's `Enabled`, which is three-valued and must be treated so everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LyncState {
    /// `Enabled = True`.
    Enabled,
    /// `Enabled = False`: Set-CsUser -Enabled $false; everything is kept.
    TemporarilyDisabled,
    /// `Enabled = Null`: no Lync attributes (never enabled, or removed by Disable-CsUser).
    NeverEnabled,
}

impl LyncState {
    pub const ALL: [LyncState; 3] = [Self::Enabled, Self::TemporarilyDisabled, Self::NeverEnabled];

    /// The query-string and JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::TemporarilyDisabled => "temporarily_disabled",
            Self::NeverEnabled => "never_enabled",
        }
    }

    /// How Get-CsAdUser prints it.
    pub fn powershell(self) -> &'static str {
        match self {
            Self::Enabled => "True",
            Self::TemporarilyDisabled => "False",
            Self::NeverEnabled => "Null",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Enabled => "Lync enabled",
            Self::TemporarilyDisabled => "Lync temporarily disabled",
            Self::NeverEnabled => "Not enabled for Lync",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

/// `userAccountControl` bit 0x2 (ACCOUNTDISABLE), as a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AdState {
    Enabled,
    Disabled,
}

impl AdState {
    pub const ALL: [AdState; 2] = [Self::Enabled, Self::Disabled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Enabled => "AD enabled",
            Self::Disabled => "AD disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

/// `msRTCSIP-PrimaryUserAddress`: always `sip:` + left-hand side + `@` + SIP domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SipAddress {
    lhs: String,
    domain: String,
}

impl SipAddress {
    /// Builds `sip:lhs@domain`; both parts must be non-empty and free of `@`, `:` and spaces.
    pub fn new(lhs: &str, domain: &str) -> Result<Self, String> {
        let valid = |part: &str| {
            !part.is_empty()
                && !part
                    .chars()
                    .any(|c| c == '@' || c == ':' || c.is_whitespace())
        };
        if !valid(lhs) || !valid(domain) {
            return Err(format!("'sip:{lhs}@{domain}' is not a valid SIP address"));
        }
        Ok(Self {
            lhs: lhs.to_owned(),
            domain: domain.to_ascii_lowercase(),
        })
    }

    /// The left-hand side: the only part a rename may change.
    pub fn lhs(&self) -> &str {
        &self.lhs
    }

    /// The SIP domain (right-hand side), which must stay a supported domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// `lhs@domain`, the form Export-CsUserData's `-UserFilter` wants (no `sip:` prefix).
    pub fn without_scheme(&self) -> String {
        format!("{}@{}", self.lhs, self.domain)
    }
}

impl fmt::Display for SipAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sip:{}@{}", self.lhs, self.domain)
    }
}

impl TryFrom<String> for SipAddress {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let rest = value
            .strip_prefix("sip:")
            .ok_or_else(|| format!("'{value}' is not a SIP address: it must start with 'sip:'"))?;
        let (lhs, domain) = rest
            .split_once('@')
            .ok_or_else(|| format!("'{value}' is not a SIP address: it has no '@'"))?;
        Self::new(lhs, domain)
    }
}

impl From<SipAddress> for String {
    fn from(value: SipAddress) -> Self {
        value.to_string()
    }
}

/// How every screen and sentence says that only the Lync server knows something.
pub const NOT_KNOWN_WITHOUT_SHELL: &str = "not known without the Lync shell";

/// Something only the Lync server holds (client certificates, signed-in sessions, contacts,
/// conferences, policy assignments): `Known` where a source for it is configured (the simulator,
/// the Lync shell), `Unknown` where it is not (AD over LDAP alone). Unknown is a third state and
/// must never be read as "none" or "safe".
///
/// On the wire: the value, or `null` when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fact<T> {
    Known(T),
    Unknown,
}

impl<T> Fact<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Self::Known(value) => Some(value),
            Self::Unknown => None,
        }
    }

    pub fn known_mut(&mut self) -> Option<&mut T> {
        match self {
            Self::Known(value) => Some(value),
            Self::Unknown => None,
        }
    }

    pub fn into_known(self) -> Option<T> {
        match self {
            Self::Known(value) => Some(value),
            Self::Unknown => None,
        }
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Self::Unknown)
    }

    pub fn as_ref(&self) -> Fact<&T> {
        match self {
            Self::Known(value) => Fact::Known(value),
            Self::Unknown => Fact::Unknown,
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Fact<U> {
        match self {
            Self::Known(value) => Fact::Known(f(value)),
            Self::Unknown => Fact::Unknown,
        }
    }

    /// Whether it is known and satisfies `f` (unknown is never "yes").
    pub fn is_known_and(&self, f: impl FnOnce(&T) -> bool) -> bool {
        self.known().is_some_and(f)
    }
}

impl<T> From<Option<T>> for Fact<T> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Self::Unknown, Self::Known)
    }
}

impl<T: Serialize> Serialize for Fact<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.known().serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Fact<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(deserializer).map(Self::from)
    }
}

/// The `HostingProvider` of a user homed online (a hybrid user): Disable-CsUser must be refused.
pub const ONLINE_HOSTING_PROVIDER: &str = "sipfed.online.lync.com";
/// The `HostingProvider` of a user homed on-premises.
pub const ON_PREMISES_HOSTING_PROVIDER: &str = "SRV:";

crate::schema! {
/// One directory entry: the AD object and, when it has any, its Lync attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectoryUser {
    pub id: UserId,
    pub ad: AdAccount,
    /// `None` when Get-CsAdUser reports `Enabled = Null` (no msRTCSIP attributes).
    pub lync: Option<LyncAccount>,
    /// Sessions registered on the front-end pool. They outlive the Lync attributes for a few
    /// minutes after Disable-CsUser, so they hang off the user, not the Lync account.
    /// `null`: not known (only the Lync server knows them).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Endpoint>>))]
    pub endpoints: Fact<Vec<Endpoint>>,
    /// Directory values deprov could not read as expected (logged once, shown on the user page).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anomalies: Vec<String>,
    /// AD `uSNChanged`: grows with every change, for incremental reads.
    pub usn_changed: u64,
}
}

/// The registrar pools `users` are homed on, sorted, each once.
pub fn registrar_pools<'a>(users: impl IntoIterator<Item = &'a DirectoryUser>) -> Vec<String> {
    let mut pools: Vec<String> = users
        .into_iter()
        .filter_map(|u| u.lync.as_ref()?.registrar_pool.clone())
        .collect();
    pools.sort();
    pools.dedup();
    pools
}

impl DirectoryUser {
    pub fn lync_state(&self) -> LyncState {
        match &self.lync {
            None => LyncState::NeverEnabled,
            Some(lync) if lync.enabled => LyncState::Enabled,
            Some(_) => LyncState::TemporarilyDisabled,
        }
    }

    pub fn ad_state(&self) -> AdState {
        if self.ad.account_disabled {
            AdState::Disabled
        } else {
            AdState::Enabled
        }
    }

    /// Sessions still connected at `now` (a disconnect scheduled in the past has happened).
    pub fn sessions(&self, now: OffsetDateTime) -> Fact<Vec<&Endpoint>> {
        self.endpoints.as_ref().map(|endpoints| {
            endpoints
                .iter()
                .filter(|endpoint| endpoint.connected(now))
                .collect()
        })
    }

    /// Sessions still connected at `now` whose IM, presence and conferencing still work.
    pub fn working_sessions(&self, now: OffsetDateTime) -> Fact<usize> {
        self.sessions(now)
            .map(|sessions| sessions.iter().filter(|e| e.features_work(now)).count())
    }

    /// The latest moment a client certificate allows signing in with no AD authentication:
    /// `Known(None)` when none does (or the user is not a Lync user).
    pub fn certificate_sign_in_until(&self, now: OffsetDateTime) -> Fact<Option<OffsetDateTime>> {
        let Some(lync) = self.lync.as_ref() else {
            return Fact::Known(None);
        };
        lync.usable_certificates(now).map(|usable| {
            usable
                .into_iter()
                .map(|cert| {
                    cert.revoked_from
                        .map_or(cert.expires, |r| r.min(cert.expires))
                })
                .max()
        })
    }

    /// Protected-group members are read-only in the Lync Control Panel (AdminSDHolder).
    pub fn protected(&self) -> bool {
        !self.ad.protected_groups.is_empty()
    }

    /// The SIP left-hand side no longer matches the UPN's: the sign of a rename (or of a
    /// deployment that never aligned them), which the mismatch report asks to be explained.
    pub fn sip_disjoint_from_upn(&self) -> bool {
        let Some(lync) = &self.lync else { return false };
        let upn_lhs = self
            .ad
            .user_principal_name
            .split('@')
            .next()
            .unwrap_or_default();
        !lync.sip_address.lhs().eq_ignore_ascii_case(upn_lhs)
    }
}

crate::schema! {
/// The AD side of a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdAccount {
    pub sam_account_name: String,
    pub user_principal_name: String,
    pub display_name: String,
    pub distinguished_name: String,
    pub department: String,
    pub title: String,
    /// `employeeID`: the HR system's number for the person, when AD carries it.
    #[serde(default)]
    pub employee_id: Option<String>,
    pub manager: Option<UserId>,
    /// `userAccountControl` has ACCOUNTDISABLE (0x2).
    pub account_disabled: bool,
    /// When ACCOUNTDISABLE was last set (from the object's change history), if it is set.
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub disabled_since: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub when_changed: OffsetDateTime,
    /// Protected groups (Domain Admins, Enterprise Admins...) the account belongs to: AdminSDHolder
    /// makes such accounts read-only in the Lync Control Panel.
    pub protected_groups: Vec<String>,
}
}

crate::schema! {
/// The Lync side of a user: its msRTCSIP attributes plus what the Lync server knows of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LyncAccount {
    /// `msRTCSIP-UserEnabled`: true = enabled, false = temporarily disabled.
    pub enabled: bool,
    /// When `enabled` last changed (when Set-CsUser -Enabled was last run, or the user was enabled).
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub enabled_changed: OffsetDateTime,
    pub sip_address: SipAddress,
    /// `msRTCSIP-PrimaryHomeServer`; `None` for users homed online.
    pub registrar_pool: Option<String>,
    /// `SRV:` on-premises, `sipfed.online.lync.com` homed online.
    pub hosting_provider: String,
    pub line_uri: Option<String>,
    pub enterprise_voice_enabled: bool,
    /// Per-user policy assignments (Get-CsUser); `null`: not known without the Lync shell.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<PolicyAssignment>>))]
    pub policies: Fact<Vec<PolicyAssignment>>,
    /// Contacts on the user's list; `null`: not known without the Lync shell.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u32>))]
    pub contact_count: Fact<u32>,
    /// Scheduled conferences; `null`: not known without the Lync shell.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u32>))]
    pub conference_count: Fact<u32>,
    /// Client certificates (Get-CsClientCertificate); `null`: not known without the Lync shell.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<ClientCertificate>>))]
    pub certificates: Fact<Vec<ClientCertificate>>,
}
}

impl LyncAccount {
    pub fn homed_online(&self) -> bool {
        self.hosting_provider
            .eq_ignore_ascii_case(ONLINE_HOSTING_PROVIDER)
    }

    /// Certificates that still allow a sign-in with no AD authentication at `now`.
    pub fn usable_certificates(&self, now: OffsetDateTime) -> Fact<Vec<&ClientCertificate>> {
        self.certificates.as_ref().map(|certificates| {
            certificates
                .iter()
                .filter(|cert| cert.allows_sign_in(now))
                .collect()
        })
    }
}

crate::schema! {
/// A per-user policy assignment (Grant-Cs*Policy); recorded before removal so it can be re-granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyAssignment {
    /// The policy type: Conferencing, ExternalAccess, Client, Voice, Archiving, Mobility...
    pub kind: String,
    pub name: String,
}
}

crate::schema! {
/// A client certificate (Get-CsClientCertificate), issued when the user ticked "Save my password".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCertificate {
    pub serial_number: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub issued: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires: OffsetDateTime,
    /// When Revoke-CsClientCertificate took effect (about 3 minutes after it ran).
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub revoked_from: Option<OffsetDateTime>,
}
}

impl ClientCertificate {
    pub fn allows_sign_in(&self, now: OffsetDateTime) -> bool {
        now < self.expires && self.revoked_from.is_none_or(|from| now < from)
    }
}

crate::schema! {
/// A signed-in client session and what it can still do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub device: String,
    pub signed_in_with: SignInMethod,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub signed_in_at: OffsetDateTime,
    /// IM, presence and conferencing stop working from this moment (the user still appears
    /// signed in): set by Set-CsUser -Enabled $false (about 5 minutes) and Disable-CsUser (at once).
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub features_blocked_from: Option<OffsetDateTime>,
    /// The server disconnects the session at this moment (Disable-CsUser: a few minutes).
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub disconnect_at: Option<OffsetDateTime>,
}
}

impl Endpoint {
    pub fn connected(&self, now: OffsetDateTime) -> bool {
        self.disconnect_at.is_none_or(|at| now < at)
    }

    /// IM, presence and Meet Now work in this session at `now`.
    pub fn features_work(&self, now: OffsetDateTime) -> bool {
        self.features_blocked_from.is_none_or(|from| now < from)
    }
}

/// How a client authenticated when it signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SignInMethod {
    /// Kerberos or NTLM against AD.
    Windows,
    /// The Lync client certificate: no AD authentication at all.
    ClientCertificate,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_address_round_trips_and_rejects_garbage() {
        let sip: SipAddress = "sip:Jane.Doe@Contoso.com".to_owned().try_into().unwrap();
        assert_eq!(sip.lhs(), "Jane.Doe");
        assert_eq!(sip.domain(), "contoso.com");
        assert_eq!(sip.to_string(), "sip:Jane.Doe@contoso.com");
        assert_eq!(sip.without_scheme(), "Jane.Doe@contoso.com");
        for bad in [
            "jane@contoso.com",
            "sip:janecontoso.com",
            "sip:@contoso.com",
            "sip:a b@c.com",
            "sip:a@",
        ] {
            assert!(
                SipAddress::try_from(bad.to_owned()).is_err(),
                "{bad} accepted"
            );
        }
        let json = serde_json::to_string(&sip).unwrap();
        assert_eq!(json, "\"sip:Jane.Doe@contoso.com\"");
    }

    #[test]
    fn an_unknown_fact_is_null_on_the_wire_and_never_reads_as_none() {
        let unknown: Fact<Vec<u32>> = Fact::Unknown;
        assert_eq!(serde_json::to_string(&unknown).unwrap(), "null");
        assert_eq!(
            serde_json::to_string(&Fact::Known(Vec::<u32>::new())).unwrap(),
            "[]"
        );
        let back: Fact<Vec<u32>> = serde_json::from_str("null").unwrap();
        assert!(back.is_unknown());
        let back: Fact<Vec<u32>> = serde_json::from_str("[]").unwrap();
        assert_eq!(back, Fact::Known(vec![]));
        assert!(!unknown.is_known_and(|v| v.is_empty()));
    }

    #[test]
    fn states_parse_their_own_spelling_only() {
        for state in LyncState::ALL {
            assert_eq!(LyncState::parse(state.as_str()), Some(state));
        }
        assert_eq!(LyncState::parse("True"), None);
        for state in AdState::ALL {
            assert_eq!(AdState::parse(state.as_str()), Some(state));
        }
    }
}
