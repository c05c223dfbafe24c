//! Test fixtures: a plain directory user that each test then bends to its situation.

use deprov_wire::directory::{
    AdAccount, DirectoryUser, LyncAccount, ON_PREMISES_HOSTING_PROVIDER, SipAddress, UserId,
};
use time::{Duration, OffsetDateTime};

pub const POOL: &str = "lyncpool-ams.contoso.com";

/// `lhs@contoso.com`: AD enabled, Lync enabled on `POOL` (SIP address = UPN), no certificates,
/// no sessions, no policies; its objectGUID is `n`.
pub fn user(n: u128, lhs: &str, now: OffsetDateTime) -> DirectoryUser {
    DirectoryUser {
        id: UserId(uuid::Uuid::from_u128(n)),
        ad: AdAccount {
            sam_account_name: lhs.replace('.', "").chars().take(20).collect(),
            user_principal_name: format!("{lhs}@contoso.com"),
            display_name: lhs.replace('.', " "),
            distinguished_name: format!("CN={lhs},OU=Users,DC=contoso,DC=com"),
            department: "Sales".into(),
            title: "Account Executive".into(),
            manager: None,
            account_disabled: false,
            disabled_since: None,
            when_changed: now - Duration::days(30),
            protected_groups: vec![],
        },
        lync: Some(LyncAccount {
            enabled: true,
            enabled_changed: now - Duration::days(400),
            sip_address: SipAddress::new(lhs, "contoso.com").expect("a valid left-hand side"),
            registrar_pool: Some(POOL.into()),
            hosting_provider: ON_PREMISES_HOSTING_PROVIDER.into(),
            line_uri: None,
            enterprise_voice_enabled: false,
            policies: vec![],
            contact_count: 0,
            conference_count: 0,
            certificates: vec![],
        }),
        endpoints: vec![],
        usn_changed: 1,
    }
}

/// Sets ACCOUNTDISABLE as of `since`.
pub fn ad_disabled(mut user: DirectoryUser, since: OffsetDateTime) -> DirectoryUser {
    user.ad.account_disabled = true;
    user.ad.disabled_since = Some(since);
    user
}
