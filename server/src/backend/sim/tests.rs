//! The simulator against DOMAIN.md's method table, row by row, with the clock advanced past the
//! 3- and 5-minute marks.

use super::*;
use crate::backend::{DirectoryRead, DirectorySource, LyncShell, Watermark};
use deprov_wire::directory::{ClientCertificate, LyncState};
use time::Duration;
use time::macros::datetime;

const START: OffsetDateTime = datetime!(2026-11-23 09:00 UTC);
use crate::fixtures::POOL;

fn sip(lhs: &str) -> SipAddress {
    SipAddress::new(lhs, "contoso.com").unwrap()
}

/// Jane: AD enabled, Lync enabled, one saved-password certificate, signed in on her laptop.
fn jane() -> DirectoryUser {
    let mut jane = crate::fixtures::user(1, "jane.doe", START);
    jane.ad.sam_account_name = "jdoe".into();
    let lync = jane.lync.as_mut().unwrap();
    lync.policies = Fact::Known(vec![PolicyAssignment {
        kind: "Voice".into(),
        name: "Tag:International".into(),
    }]);
    (lync.contact_count, lync.conference_count) = (Fact::Known(42), Fact::Known(3));
    lync.certificates = Fact::Known(vec![ClientCertificate {
        serial_number: "01".into(),
        issued: START - Duration::days(10),
        expires: START - Duration::days(10) + crate::timing::CERTIFICATE_LIFETIME,
        revoked_from: None,
    }]);
    jane.endpoints = Fact::Known(vec![Endpoint {
        device: "Lync 2013 (Windows)".into(),
        signed_in_with: SignInMethod::Windows,
        signed_in_at: START - Duration::hours(1),
        features_blocked_from: None,
        disconnect_at: None,
    }]);
    jane
}

fn sim() -> (Simulator, UserId) {
    let user = jane();
    let id = user.id;
    (
        Simulator::with_users(vec![user], SimClock::frozen(START)),
        id,
    )
}

async fn jane_now(sim: &Simulator, id: UserId) -> DirectoryUser {
    sim.read_user(id).await.unwrap()
}

/// Can the signed-in session still IM, and is it still connected?
async fn session(sim: &Simulator, id: UserId) -> Option<bool> {
    let now = sim.now();
    jane_now(sim, id)
        .await
        .sessions(now)
        .known()
        .expect("the simulator knows sessions")
        .first()
        .map(|e| e.features_work(now))
}

async fn run(sim: &Simulator, cmdlet: Cmdlet) {
    sim.run(&cmdlet)
        .await
        .unwrap_or_else(|e| panic!("{} failed: {e}", cmdlet.render()));
}

fn identity() -> String {
    "jane.doe@contoso.com".into()
}

#[tokio::test]
async fn disabling_the_ad_account_alone_changes_nothing_in_lync() {
    let (sim, id) = sim();
    sim.ad_disable(id).unwrap();
    sim.advance_clock(Duration::minutes(10));
    let jane = jane_now(&sim, id).await;
    assert_eq!(
        jane.lync_state(),
        LyncState::Enabled,
        "msRTCSIP-UserEnabled is unaffected"
    );
    assert_eq!(
        session(&sim, id).await,
        Some(true),
        "the session keeps full IM and presence"
    );
    assert_eq!(
        sim.sign_in(&sip("jane.doe"), SignInMethod::Windows, "PC"),
        Err(SignInRefused::AdDisabled)
    );
    assert_eq!(
        sim.sign_in(&sip("jane.doe"), SignInMethod::ClientCertificate, "PC"),
        Ok(()),
        "certificate sign-in still works"
    );
    // Until the certificate expires (issued 10 days before START, valid 180 days).
    sim.advance_clock(Duration::days(171));
    assert_eq!(
        sim.sign_in(&sip("jane.doe"), SignInMethod::ClientCertificate, "PC"),
        Err(SignInRefused::NoValidCertificate)
    );
    sim.ad_enable(id).unwrap();
    assert_eq!(
        sim.sign_in(&sip("jane.doe"), SignInMethod::Windows, "PC"),
        Ok(()),
        "reversible"
    );
}

#[tokio::test]
async fn temporarily_disabling_blocks_sign_in_at_once_and_sessions_after_five_minutes() {
    let (sim, id) = sim();
    run(
        &sim,
        Cmdlet::SetCsUserEnabled {
            identity: identity(),
            enabled: false,
        },
    )
    .await;
    assert_eq!(
        sim.sign_in(&sip("jane.doe"), SignInMethod::Windows, "PC"),
        Err(SignInRefused::LyncDisabled)
    );
    assert_eq!(
        sim.sign_in(&sip("jane.doe"), SignInMethod::ClientCertificate, "PC"),
        Err(SignInRefused::LyncDisabled)
    );
    sim.advance_clock(Duration::seconds(4 * 60 + 59));
    assert_eq!(
        session(&sim, id).await,
        Some(true),
        "IM and presence work for up to 5 minutes"
    );
    sim.advance_clock(Duration::seconds(2));
    assert_eq!(
        session(&sim, id).await,
        Some(false),
        "then the user appears signed in but IM fails"
    );
    sim.advance_clock(Duration::hours(2));
    assert_eq!(
        session(&sim, id).await,
        Some(false),
        "still appears signed in, never disconnected"
    );

    let jane = jane_now(&sim, id).await;
    assert_eq!(jane.lync_state(), LyncState::TemporarilyDisabled);
    let lync = jane.lync.as_ref().unwrap();
    assert_eq!(
        (
            *lync.contact_count.known().unwrap(),
            *lync.conference_count.known().unwrap(),
            lync.policies.known().unwrap().len()
        ),
        (42, 3, 1),
        "all data kept"
    );

    run(
        &sim,
        Cmdlet::SetCsUserEnabled {
            identity: identity(),
            enabled: true,
        },
    )
    .await;
    assert_eq!(
        sim.sign_in(&sip("jane.doe"), SignInMethod::Windows, "PC"),
        Ok(()),
        "reversible"
    );
    assert_eq!(session(&sim, id).await, Some(true));
}

#[tokio::test]
async fn removing_from_lync_deletes_everything_and_disconnects_within_minutes() {
    let (sim, id) = sim();
    run(
        &sim,
        Cmdlet::DisableCsUser {
            identity: identity(),
        },
    )
    .await;
    let jane = jane_now(&sim, id).await;
    assert_eq!(
        jane.lync_state(),
        LyncState::NeverEnabled,
        "every msRTCSIP attribute is gone: Enabled = Null"
    );
    assert_eq!(
        session(&sim, id).await,
        Some(false),
        "no new IM or conferencing meanwhile"
    );
    sim.advance_clock(Duration::minutes(2));
    assert_eq!(
        session(&sim, id).await,
        Some(false),
        "still connected after 2 minutes"
    );
    sim.advance_clock(Duration::seconds(61));
    assert_eq!(
        session(&sim, id).await,
        None,
        "disconnected within a few minutes"
    );
    assert_eq!(
        sim.sign_in(&sip("jane.doe"), SignInMethod::Windows, "PC"),
        Err(SignInRefused::UnknownAddress)
    );

    // Enable-CsUser needs an existing pool and gives back only a blank account.
    let bad_pool = Cmdlet::EnableCsUser {
        identity: identity(),
        sip_address: sip("jane.doe"),
        registrar_pool: "nope.contoso.com".into(),
    };
    assert!(matches!(
        sim.run(&bad_pool).await,
        Err(BackendError::CommandFailed { .. })
    ));
    run(
        &sim,
        Cmdlet::EnableCsUser {
            identity: identity(),
            sip_address: sip("jane.doe"),
            registrar_pool: POOL.into(),
        },
    )
    .await;
    let lync = jane_now(&sim, id).await.lync.unwrap();
    assert!(lync.enabled);
    assert_eq!(
        (
            *lync.contact_count.known().unwrap(),
            *lync.conference_count.known().unwrap(),
            lync.policies.known().unwrap().len()
        ),
        (0, 0, 0),
        "a blank account"
    );
}

#[tokio::test]
async fn a_backup_brings_contacts_and_conferences_back_after_removal() {
    let (sim, id) = sim();
    let export = Cmdlet::ExportCsUserData {
        pool_fqdn: POOL.into(),
        user_filter: "jane.doe@contoso.com".into(),
        file_name: "jane.zip".into(),
    };
    run(&sim, export).await;
    run(
        &sim,
        Cmdlet::DisableCsUser {
            identity: identity(),
        },
    )
    .await;
    run(
        &sim,
        Cmdlet::EnableCsUser {
            identity: identity(),
            sip_address: sip("jane.doe"),
            registrar_pool: POOL.into(),
        },
    )
    .await;
    run(
        &sim,
        Cmdlet::UpdateCsUserData {
            file_name: "jane.zip".into(),
            user_filter: "jane.doe@contoso.com".into(),
        },
    )
    .await;
    run(
        &sim,
        Cmdlet::GrantPolicy {
            kind: deprov_wire::cmdlet::PolicyKind::Voice,
            identity: identity(),
            policy_name: "Tag:International".into(),
        },
    )
    .await;
    let lync = jane_now(&sim, id).await.lync.unwrap();
    assert_eq!(
        (
            *lync.contact_count.known().unwrap(),
            *lync.conference_count.known().unwrap(),
            lync.policies.known().unwrap().len()
        ),
        (42, 3, 1)
    );
}

#[tokio::test]
async fn revoking_the_certificate_blocks_new_sign_in_after_three_minutes_only() {
    let (sim, id) = sim();
    sim.ad_disable(id).unwrap();
    run(
        &sim,
        Cmdlet::RevokeCsClientCertificate {
            identity: identity(),
        },
    )
    .await;
    sim.advance_clock(Duration::seconds(2 * 60 + 59));
    assert_eq!(
        sim.sign_in(&sip("jane.doe"), SignInMethod::ClientCertificate, "PC"),
        Ok(()),
        "not yet effective"
    );
    sim.advance_clock(Duration::seconds(2));
    assert_eq!(
        sim.sign_in(&sip("jane.doe"), SignInMethod::ClientCertificate, "PC"),
        Err(SignInRefused::NoValidCertificate)
    );
    sim.advance_clock(Duration::hours(1));
    assert_eq!(
        session(&sim, id).await,
        Some(true),
        "sessions keep working: revocation does not touch them"
    );
    let jane = jane_now(&sim, id).await;
    assert_eq!(
        jane.lync_state(),
        LyncState::Enabled,
        "data and flag untouched"
    );
}

#[tokio::test]
async fn renaming_the_sip_address_disconnects_at_once_and_can_be_undone() {
    let (sim, id) = sim();
    let rename = |lhs: &str| Cmdlet::SetCsUserSipAddress {
        identity: identity(),
        sip_address: sip(lhs),
    };
    run(&sim, rename("jane.doe123456")).await;
    assert_eq!(session(&sim, id).await, None, "disconnected immediately");
    assert_eq!(
        sim.sign_in(&sip("jane.doe"), SignInMethod::Windows, "PC"),
        Err(SignInRefused::UnknownAddress)
    );
    assert_eq!(
        sim.sign_in(&sip("jane.doe123456"), SignInMethod::Windows, "PC"),
        Ok(()),
        "a guessed new address works"
    );
    run(
        &sim,
        Cmdlet::SetCsUserEnabled {
            identity: identity(),
            enabled: false,
        },
    )
    .await;
    assert_eq!(
        sim.sign_in(&sip("jane.doe123456"), SignInMethod::Windows, "PC"),
        Err(SignInRefused::LyncDisabled)
    );
    assert!(jane_now(&sim, id).await.sip_disjoint_from_upn());

    // Only the left-hand side may change.
    let other_domain = Cmdlet::SetCsUserSipAddress {
        identity: identity(),
        sip_address: SipAddress::new("jane.doe", "fabrikam.com").unwrap(),
    };
    assert!(matches!(
        sim.run(&other_domain).await,
        Err(BackendError::CommandFailed { .. })
    ));

    run(&sim, rename("jane.doe")).await;
    run(
        &sim,
        Cmdlet::SetCsUserEnabled {
            identity: identity(),
            enabled: true,
        },
    )
    .await;
    assert_eq!(
        sim.sign_in(&sip("jane.doe"), SignInMethod::Windows, "PC"),
        Ok(()),
        "reversible"
    );
    assert!(!jane_now(&sim, id).await.sip_disjoint_from_upn());
}

#[tokio::test]
async fn a_sip_address_in_use_is_refused() {
    let mut john = jane();
    john.id = UserId(uuid::Uuid::from_u128(2));
    john.ad.sam_account_name = "jsmith".into();
    john.ad.user_principal_name = "john.smith@contoso.com".into();
    john.lync.as_mut().unwrap().sip_address = sip("john.smith");
    let sim = Simulator::with_users(vec![jane(), john], SimClock::frozen(START));
    let taken = Cmdlet::SetCsUserSipAddress {
        identity: identity(),
        sip_address: sip("john.smith"),
    };
    let err = sim.run(&taken).await.unwrap_err();
    assert!(err.to_string().contains("already in use"), "{err}");
}

#[tokio::test]
async fn cmdlets_on_users_without_lync_fail_like_the_shell() {
    let (sim, _) = sim();
    run(
        &sim,
        Cmdlet::DisableCsUser {
            identity: identity(),
        },
    )
    .await;
    let again = sim
        .run(&Cmdlet::SetCsUserEnabled {
            identity: identity(),
            enabled: false,
        })
        .await;
    assert!(
        matches!(
            again,
            Err(BackendError::CommandFailed {
                cmdlet: "Set-CsUser",
                ..
            })
        ),
        "{again:?}"
    );
    let unknown = sim
        .run(&Cmdlet::DisableCsUser {
            identity: "nobody@contoso.com".into(),
        })
        .await;
    assert!(matches!(unknown, Err(BackendError::CommandFailed { .. })));
}

#[tokio::test]
async fn identities_resolve_by_upn_sip_sam_and_domain_sam() {
    let (sim, id) = sim();
    for identity in [
        "JANE.DOE@contoso.com",
        "sip:jane.doe@contoso.com",
        "jdoe",
        "CONTOSO\\jdoe",
        &id.to_string(),
    ] {
        let cmdlet = Cmdlet::GrantPolicy {
            kind: deprov_wire::cmdlet::PolicyKind::Client,
            identity: identity.to_owned(),
            policy_name: "Tag:X".into(),
        };
        sim.run(&cmdlet)
            .await
            .unwrap_or_else(|e| panic!("{identity}: {e}"));
    }
}

#[tokio::test]
async fn incremental_reads_return_only_what_changed_and_changed_wakes_readers() {
    let sim = Simulator::new(
        &SimConfig {
            users: 500,
            seed: 3,
        },
        SimClock::frozen(START),
    );
    let full = sim.read_directory(None).await.unwrap();
    assert!(matches!(full, DirectoryRead::Full { .. }));
    assert_eq!(full.users().len(), 500);
    let target = full.users()[17].id;

    let since = full.high_water().clone();
    let wait =
        tokio::time::timeout(std::time::Duration::from_millis(50), sim.changed(&since)).await;
    assert!(wait.is_err(), "nothing changed yet");
    sim.ad_disable(target).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(1), sim.changed(&since))
        .await
        .expect("woken by the change");
    let delta = sim.read_directory(Some(&since)).await.unwrap();
    assert!(matches!(delta, DirectoryRead::Changes { .. }));
    assert_eq!(delta.users().len(), 1);
    assert_eq!(delta.users()[0].id, target);
    assert!(delta.users()[0].ad.account_disabled);
    assert_eq!(delta.high_water().usn, since.usn + 1);
    // A mark from somewhere else (another DC) means nothing here: everything is read again.
    let elsewhere = Watermark::new("another server", since.usn);
    assert!(matches!(
        sim.read_directory(Some(&elsewhere)).await.unwrap(),
        DirectoryRead::Full { .. }
    ));
}
