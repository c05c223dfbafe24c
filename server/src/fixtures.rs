//! Test fixtures: a plain directory user that each test then bends to its situation.

use deprov_wire::directory::{
    AdAccount, DirectoryUser, Fact, LyncAccount, ON_PREMISES_HOSTING_PROVIDER, SipAddress, UserId,
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
            employee_id: Some(format!("E{n:05}")),
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
            policies: Fact::Known(vec![]),
            contact_count: Fact::Known(0),
            conference_count: Fact::Known(0),
            certificates: Fact::Known(vec![]),
        }),
        endpoints: Fact::Known(vec![]),
        anomalies: vec![],
        usn_changed: 1,
    }
}

/// The same user as AD over LDAP alone reports them: what only the Lync server knows is unknown.
pub fn without_shell(mut user: DirectoryUser) -> DirectoryUser {
    user.endpoints = Fact::Unknown;
    if let Some(lync) = user.lync.as_mut() {
        lync.certificates = Fact::Unknown;
        lync.policies = Fact::Unknown;
        lync.contact_count = Fact::Unknown;
        lync.conference_count = Fact::Unknown;
    }
    user
}

/// Sets ACCOUNTDISABLE as of `since`.
pub fn ad_disabled(mut user: DirectoryUser, since: OffsetDateTime) -> DirectoryUser {
    user.ad.account_disabled = true;
    user.ad.disabled_since = Some(since);
    user
}

/// Jane Doe (`jane.doe@contoso.com`, objectGUID 9), leaving: signed in on two endpoints with her
/// saved-password certificate (issued 10 days ago, 170 days left), 12 contacts, 2 scheduled
/// conferences, a Conferencing and a Voice policy, and a line URI.
pub fn leaver(now: OffsetDateTime) -> DirectoryUser {
    use deprov_wire::directory::{ClientCertificate, Endpoint, PolicyAssignment, SignInMethod};
    let mut jane = user(9, "jane.doe", now);
    let lync = jane.lync.as_mut().expect("Lync-enabled");
    (lync.contact_count, lync.conference_count) = (Fact::Known(12), Fact::Known(2));
    lync.line_uri = Some("tel:+31201234567".into());
    lync.policies = Fact::Known(vec![
        PolicyAssignment {
            kind: "Conferencing".into(),
            name: "BoardRoom".into(),
        },
        PolicyAssignment {
            kind: "Voice".into(),
            name: "Intl".into(),
        },
    ]);
    lync.certificates = Fact::Known(vec![ClientCertificate {
        serial_number: "01".into(),
        issued: now - Duration::days(10),
        expires: now + Duration::days(170),
        revoked_from: None,
    }]);
    let endpoint = Endpoint {
        device: "Lync 2013 (Windows)".into(),
        signed_in_with: SignInMethod::ClientCertificate,
        signed_in_at: now - Duration::hours(3),
        features_blocked_from: None,
        disconnect_at: None,
    };
    jane.endpoints = Fact::Known(vec![endpoint.clone(), endpoint]);
    jane
}
