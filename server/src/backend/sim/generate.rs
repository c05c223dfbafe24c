//! The deterministic generator of a realistic AD + Lync directory: same seed and start, same
//! directory, at any size from a handful of users to 200,000.
//!
//! Besides ordinary staff it seeds every situation the portal must handle: leavers whose AD account
//! is disabled but who can still use Lync, temporarily disabled users (some past the grace period),
//! renamed SIP addresses, users homed online, protected admins, and resource and monitoring accounts.

use super::names::{DEPARTMENTS, DEVICES, GIVEN_NAMES, POLICY_NAMES, SITES, SURNAMES};
use crate::timing::CERTIFICATE_LIFETIME;
use deprov_wire::directory::{
    AdAccount, ClientCertificate, DirectoryUser, Endpoint, Fact, LyncAccount,
    ON_PREMISES_HOSTING_PROVIDER, ONLINE_HOSTING_PROVIDER, PolicyAssignment, SignInMethod,
    SipAddress, UserId,
};
use std::collections::HashSet;
use time::{Duration, OffsetDateTime};

/// The SIP and UPN domain of the simulated company.
pub const DOMAIN: &str = "contoso.com";
const BASE_DN: &str = "DC=contoso,DC=com";

/// OUs that hold resource, monitoring and service accounts (Lync-enabled on purpose).
pub const RESOURCE_OU: &str = "OU=Resources";
pub const SERVICE_OU: &str = "OU=Service Accounts";

/// Generates `count` users deterministically from `seed`, with timestamps relative to `now`.
pub fn directory(count: usize, seed: u64, now: OffsetDateTime) -> Vec<DirectoryUser> {
    let mut generator = Generator {
        rng: fastrand::Rng::with_seed(seed),
        now,
        users: Vec::with_capacity(count),
        taken_sam: HashSet::with_capacity(count),
        taken_upn: HashSet::with_capacity(count),
        taken_dn: HashSet::with_capacity(count),
        managers: vec![Vec::new(); DEPARTMENTS.len()],
    };
    // About one in 200 accounts is a room, a watcher-node test user or a service account.
    let resources = if count < 20 { 0 } else { (count / 200).max(3) };
    for _ in 0..count - resources {
        generator.person();
    }
    for n in 0..resources {
        generator.resource_account(n);
    }
    for (usn, user) in generator.users.iter_mut().enumerate() {
        user.usn_changed = usn as u64 + 1;
    }
    generator.users
}

struct Generator {
    rng: fastrand::Rng,
    now: OffsetDateTime,
    users: Vec<DirectoryUser>,
    taken_sam: HashSet<String>,
    taken_upn: HashSet<String>,
    /// Lower-cased DNs: AD allows one entry per name in a container.
    taken_dn: HashSet<String>,
    /// Per department, the users who manage others.
    managers: Vec<Vec<UserId>>,
}

/// What happened to a person, drawn once per person.
enum Situation {
    Active,
    /// Never enabled for Lync (contractors, warehouse staff...).
    NoLync,
    /// AD disabled, Lync left enabled: the article's security hole.
    LeaverStillEnabled,
    /// AD disabled and Set-CsUser -Enabled $false (stage 1), maybe long ago.
    LeaverTemporarilyDisabled,
    /// AD disabled and removed from Lync: a finished de-provisioning.
    LeaverRemoved,
    /// On leave: AD enabled, Lync temporarily disabled.
    OnLeave,
    /// An immediate disconnect by SIP rename, never finished with Disable-CsUser.
    Renamed,
}

impl Generator {
    fn id(&mut self) -> UserId {
        UserId(uuid::Builder::from_random_bytes(self.rng.u128(..).to_le_bytes()).into_uuid())
    }

    fn ago(&mut self, min: Duration, max: Duration) -> OffsetDateTime {
        let span = (max - min).whole_seconds().max(1);
        self.now - min - Duration::seconds(self.rng.i64(0..span))
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.usize(..items.len())]
    }

    fn weighted<T>(&mut self, items: &'static [T], weight: impl Fn(&T) -> u32) -> usize {
        let total: u32 = items.iter().map(&weight).sum();
        let mut roll = self.rng.u32(..total);
        for (i, item) in items.iter().enumerate() {
            let w = weight(item);
            if roll < w {
                return i;
            }
            roll -= w;
        }
        items.len() - 1
    }

    /// A name not yet taken: `base`, else `base2`, `base3`...
    fn unique(taken: &mut HashSet<String>, base: String) -> String {
        let mut candidate = base.clone();
        let mut n = 2;
        while !taken.insert(candidate.clone()) {
            candidate = format!("{base}{n}");
            n += 1;
        }
        candidate
    }

    fn person(&mut self) {
        let given = self.pick(GIVEN_NAMES);
        let surname = self.pick(SURNAMES);
        let site = &SITES[self.weighted(SITES, |s| s.weight)];
        let dept_index = self.weighted(DEPARTMENTS, |d| d.weight);
        let dept = &DEPARTMENTS[dept_index];
        let id = self.id();

        let letters = |s: &str| {
            s.chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
                .to_lowercase()
        };
        let mut sam_base = format!("{}{}", &letters(given)[..1], letters(surname));
        sam_base.truncate(17);
        let sam = Self::unique(&mut self.taken_sam, sam_base);
        let upn_lhs = Self::unique(
            &mut self.taken_upn,
            format!("{}.{}", letters(given), letters(surname)),
        );

        // Roughly one in ten people manages others; everyone reports to someone in their department.
        let dept_managers = &self.managers[dept_index];
        let (title, manager) = if dept_managers.is_empty() || self.rng.u8(..100) < 8 {
            let manager = self.users.first().map(|ceo| ceo.id);
            self.managers[dept_index].push(id);
            (dept.manager_title, manager)
        } else {
            let manager = dept_managers[self.rng.usize(..dept_managers.len())];
            (self.pick(dept.titles), Some(manager))
        };
        let title = if self.users.is_empty() {
            "Chief Executive Officer"
        } else {
            title
        };

        let roll = self.rng.u16(..1000);
        let situation = match roll {
            0..30 => Situation::LeaverStillEnabled,
            30..45 => Situation::LeaverTemporarilyDisabled,
            45..65 => Situation::LeaverRemoved,
            65..75 => Situation::OnLeave,
            75..82 => Situation::Renamed,
            82..130 => Situation::NoLync,
            _ => Situation::Active,
        };
        let ad_disabled_since = match situation {
            Situation::LeaverStillEnabled
            | Situation::LeaverTemporarilyDisabled
            | Situation::LeaverRemoved => Some(self.ago(Duration::hours(2), Duration::days(150))),
            Situation::Renamed if self.rng.u8(..10) < 7 => {
                Some(self.ago(Duration::hours(1), Duration::days(60)))
            }
            _ => None,
        };
        let protected_groups = if dept.name == "IT" && self.rng.u8(..100) < 6 {
            vec![
                if self.rng.bool() {
                    "Domain Admins"
                } else {
                    "Enterprise Admins"
                }
                .to_owned(),
            ]
        } else {
            Vec::new()
        };

        let display_name = format!("{given} {surname}");
        let container = format!("OU=Users,OU={},{BASE_DN}", site.ou);
        let mut distinguished_name = format!("CN={display_name},{container}");
        if !self.taken_dn.insert(distinguished_name.to_lowercase()) {
            // A namesake in the same OU: as AD admins do, the account name tells them apart.
            distinguished_name = format!("CN={display_name} ({sam}),{container}");
        }
        let ad = AdAccount {
            sam_account_name: sam,
            user_principal_name: format!("{upn_lhs}@{DOMAIN}"),
            distinguished_name,
            display_name,
            department: dept.name.to_owned(),
            title: title.to_owned(),
            // The HR number: six digits, in the order people were hired into the directory.
            employee_id: Some(format!("{:06}", 100_000 + self.users.len())),
            manager,
            account_disabled: ad_disabled_since.is_some(),
            disabled_since: ad_disabled_since,
            when_changed: ad_disabled_since
                .unwrap_or_else(|| self.ago(Duration::days(1), Duration::days(700))),
            protected_groups,
        };

        let (lync, endpoints) = match situation {
            Situation::NoLync | Situation::LeaverRemoved => (None, Vec::new()),
            _ => {
                let (lync, endpoints) =
                    self.lync_account(&upn_lhs, site, &situation, ad_disabled_since);
                (Some(lync), endpoints)
            }
        };
        self.users.push(DirectoryUser {
            id,
            ad,
            lync,
            endpoints: Fact::Known(endpoints),
            anomalies: Vec::new(),
            usn_changed: 0,
        });
    }

    fn lync_account(
        &mut self,
        upn_lhs: &str,
        site: &super::names::Site,
        situation: &Situation,
        ad_disabled_since: Option<OffsetDateTime>,
    ) -> (LyncAccount, Vec<Endpoint>) {
        let homed_online = self.rng.u8(..100) < 3;
        let enabled_at = self.ago(Duration::days(200), Duration::days(2000));
        let (enabled, enabled_changed) = match situation {
            Situation::LeaverTemporarilyDisabled => {
                // Stage 1 ran some time after the AD account was disabled; many never got stage 2.
                let since = ad_disabled_since.unwrap_or(self.now);
                let after = Duration::minutes(self.rng.i64(5..60 * 24 * 3));
                (false, (since + after).min(self.now - Duration::minutes(1)))
            }
            Situation::OnLeave => (false, self.ago(Duration::days(1), Duration::days(60))),
            Situation::Renamed if self.rng.u8(..10) < 8 => {
                (false, self.ago(Duration::hours(1), Duration::days(60)))
            }
            _ => (true, enabled_at),
        };
        let lhs = match situation {
            // The article's advice: append something like "123456" to the left-hand side.
            Situation::Renamed => format!("{upn_lhs}{}", self.rng.u32(100_000..1_000_000)),
            _ => upn_lhs.to_owned(),
        };
        let enterprise_voice_enabled = !homed_online && self.rng.u8(..100) < 40;
        let line_uri = enterprise_voice_enabled.then(|| {
            format!(
                "tel:{}{:04};ext={:04}",
                site.tel_prefix,
                self.rng.u16(..10_000),
                self.rng.u16(..10_000)
            )
        });
        let mut policies = Vec::new();
        for (kind, names) in POLICY_NAMES {
            if self.rng.u8(..100) < 35 {
                policies.push(PolicyAssignment {
                    kind: kind.as_str().to_owned(),
                    name: self.pick(names).to_owned(),
                });
            }
        }
        let contact_count = if self.rng.u8(..10) == 0 {
            self.rng.u32(80..400)
        } else {
            self.rng.u32(0..80)
        };
        let conference_count = self.rng.u32(0..13);

        let mut certificates = Vec::new();
        if self.rng.u8(..100) < 60 {
            for _ in 0..if self.rng.u8(..10) == 0 { 2 } else { 1 } {
                let issued = self.ago(Duration::hours(1), Duration::days(210));
                certificates.push(ClientCertificate {
                    serial_number: format!("{:032X}", self.rng.u128(..)),
                    issued,
                    expires: issued + CERTIFICATE_LIFETIME,
                    revoked_from: None,
                });
            }
        }

        // Sessions: staff at work, and leavers who kept their cached certificate sign-in.
        let now = self.now;
        let usable_cert = certificates.iter().any(|c| c.allows_sign_in(now));
        let sessions = match (enabled, ad_disabled_since) {
            (true, None) if self.rng.u8(..100) < 35 => self.rng.usize(1..4),
            (true, Some(_)) if usable_cert && self.rng.u8(..100) < 40 => self.rng.usize(1..3),
            _ => 0,
        };
        let signed_in_with = if ad_disabled_since.is_some() {
            SignInMethod::ClientCertificate
        } else {
            SignInMethod::Windows
        };
        let endpoints = (0..sessions)
            .map(|_| Endpoint {
                device: self.pick(DEVICES).to_owned(),
                signed_in_with,
                signed_in_at: self.ago(Duration::minutes(1), Duration::hours(30)),
                features_blocked_from: None,
                disconnect_at: None,
            })
            .collect();

        let lync = LyncAccount {
            enabled,
            enabled_changed,
            sip_address: SipAddress::new(&lhs, DOMAIN).expect("generated SIP addresses are valid"),
            registrar_pool: (!homed_online).then(|| site.pool.to_owned()),
            hosting_provider: if homed_online {
                ONLINE_HOSTING_PROVIDER
            } else {
                ON_PREMISES_HOSTING_PROVIDER
            }
            .to_owned(),
            line_uri,
            enterprise_voice_enabled,
            policies: Fact::Known(policies),
            contact_count: Fact::Known(contact_count),
            conference_count: Fact::Known(conference_count),
            certificates: Fact::Known(certificates),
        };
        (lync, endpoints)
    }

    /// Rooms (AD account disabled, as resource accounts usually are), watcher-node test users and
    /// service accounts: Lync-enabled on purpose, for the exclusion list.
    fn resource_account(&mut self, n: usize) {
        let site = &SITES[n % SITES.len()];
        let (display_name, sam, ou, disabled) = match n % 3 {
            0 => (
                format!(
                    "Room {} {}.{:02}",
                    site.code.to_uppercase(),
                    1 + n % 9,
                    n % 40
                ),
                format!("room-{}-{n:03}", site.code),
                RESOURCE_OU,
                true,
            ),
            1 => (
                format!("Watcher Node Test User {n}"),
                format!("lyncwatch{n:02}"),
                SERVICE_OU,
                false,
            ),
            _ => (
                format!("Response Group Service {n}"),
                format!("svc-lyncrgs{n:02}"),
                SERVICE_OU,
                true,
            ),
        };
        let sam = Self::unique(&mut self.taken_sam, sam);
        let upn_lhs = Self::unique(&mut self.taken_upn, sam.clone());
        let enabled_at = self.ago(Duration::days(100), Duration::days(1500));
        let id = self.id();
        self.users.push(DirectoryUser {
            id,
            ad: AdAccount {
                sam_account_name: sam,
                user_principal_name: format!("{upn_lhs}@{DOMAIN}"),
                distinguished_name: format!("CN={display_name},{ou},{BASE_DN}"),
                display_name,
                department: "IT".to_owned(),
                title: String::new(),
                employee_id: None,
                manager: None,
                account_disabled: disabled,
                disabled_since: disabled.then_some(enabled_at),
                when_changed: enabled_at,
                protected_groups: Vec::new(),
            },
            lync: Some(LyncAccount {
                enabled: true,
                enabled_changed: enabled_at,
                sip_address: SipAddress::new(&upn_lhs, DOMAIN)
                    .expect("generated SIP addresses are valid"),
                registrar_pool: Some(site.pool.to_owned()),
                hosting_provider: ON_PREMISES_HOSTING_PROVIDER.to_owned(),
                line_uri: None,
                enterprise_voice_enabled: false,
                policies: Fact::Known(Vec::new()),
                contact_count: Fact::Known(0),
                conference_count: Fact::Known(0),
                certificates: Fact::Known(Vec::new()),
            }),
            endpoints: Fact::Known(Vec::new()),
            anomalies: Vec::new(),
            usn_changed: 0,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deprov_wire::directory::{AdState, LyncState};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);

    #[test]
    fn same_seed_same_directory_other_seed_other_directory() {
        assert_eq!(directory(2_000, 7, NOW), directory(2_000, 7, NOW));
        assert_ne!(directory(2_000, 7, NOW), directory(2_000, 8, NOW));
    }

    #[test]
    fn names_are_unique_and_addresses_valid() {
        let users = directory(20_000, 1, NOW);
        let sams: HashSet<_> = users
            .iter()
            .map(|u| u.ad.sam_account_name.to_lowercase())
            .collect();
        let upns: HashSet<_> = users
            .iter()
            .map(|u| u.ad.user_principal_name.to_lowercase())
            .collect();
        let sips: HashSet<_> = users
            .iter()
            .filter_map(|u| u.lync.as_ref())
            .map(|l| l.sip_address.to_string())
            .collect();
        let lync_users = users.iter().filter(|u| u.lync.is_some()).count();
        assert_eq!(sams.len(), users.len());
        assert_eq!(upns.len(), users.len());
        assert_eq!(sips.len(), lync_users);
        assert!(users.iter().all(|u| u.ad.sam_account_name.len() <= 20));
    }

    #[test]
    fn every_situation_the_portal_handles_is_present_in_realistic_proportions() {
        let users = directory(10_000, 42, NOW);
        let share = |pred: &dyn Fn(&DirectoryUser) -> bool| {
            users.iter().filter(|u| pred(u)).count() as f64 / 100.0
        };
        let hole =
            share(&|u| u.ad_state() == AdState::Disabled && u.lync_state() == LyncState::Enabled);
        assert!(
            (2.0..6.0).contains(&hole),
            "AD disabled but Lync enabled: {hole}%"
        );
        let temp = share(&|u| u.lync_state() == LyncState::TemporarilyDisabled);
        assert!((1.0..5.0).contains(&temp), "temporarily disabled: {temp}%");
        let never = share(&|u| u.lync_state() == LyncState::NeverEnabled);
        assert!((4.0..10.0).contains(&never), "never enabled: {never}%");
        let online = share(&|u| u.lync.as_ref().is_some_and(LyncAccount::homed_online));
        assert!((1.0..6.0).contains(&online), "homed online: {online}%");
        let renamed = share(&DirectoryUser::sip_disjoint_from_upn);
        assert!((0.3..2.0).contains(&renamed), "renamed: {renamed}%");
        assert!(users.iter().any(|u| !u.ad.protected_groups.is_empty()));
        let dns: HashSet<String> = users
            .iter()
            .map(|u| u.ad.distinguished_name.to_lowercase())
            .collect();
        assert_eq!(dns.len(), users.len(), "every DN is unique, as AD requires");
        assert!(
            users
                .iter()
                .any(|u| u.ad.distinguished_name.contains(RESOURCE_OU))
        );
        assert!(
            users
                .iter()
                .any(|u| u.endpoints.is_known_and(|e| !e.is_empty()))
        );
        let pools: HashSet<_> = users
            .iter()
            .filter_map(|u| u.lync.as_ref()?.registrar_pool.clone())
            .collect();
        assert_eq!(pools.len(), 3);
        let managed = users.iter().filter(|u| u.ad.manager.is_some()).count();
        assert!(managed > 9_000, "most people have a manager");
    }

    #[test]
    fn tiny_directories_work() {
        assert!(directory(0, 1, NOW).is_empty());
        assert_eq!(directory(1, 1, NOW).len(), 1);
    }
}
