//! Predictions for the situations DOMAIN.md distinguishes.

use super::*;
use deprov_wire::directory::Fact;
use deprov_wire::directory::{ClientCertificate, Endpoint, ONLINE_HOSTING_PROVIDER, SignInMethod};
use deprov_wire::method::Tone;
use time::Duration;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-11-23 14:00 UTC);

/// Jane left two days ago; her AD account is disabled, her Lync account is not, and two
/// clients are still signed in with her saved-password certificate.
fn user() -> DirectoryUser {
    let mut jane = crate::fixtures::ad_disabled(
        crate::fixtures::user(9, "jane.doe", NOW),
        NOW - Duration::days(2),
    );
    let lync = jane.lync.as_mut().unwrap();
    lync.registrar_pool = Some("pool.contoso.com".into());
    (lync.contact_count, lync.conference_count) = (Fact::Known(12), Fact::Known(2));
    lync.certificates = Fact::Known(vec![ClientCertificate {
        serial_number: "01".into(),
        issued: datetime!(2026-09-02 10:00 UTC),
        expires: datetime!(2027-03-01 10:00 UTC),
        revoked_from: None,
    }]);
    let endpoint = Endpoint {
        device: "Lync 2013 (Windows)".into(),
        signed_in_with: SignInMethod::ClientCertificate,
        signed_in_at: NOW - Duration::hours(3),
        features_blocked_from: None,
        disconnect_at: None,
    };
    jane.endpoints = Fact::Known(vec![endpoint.clone(), endpoint]);
    jane
}

fn prediction(user: &DirectoryUser, method: Method) -> MethodPrediction {
    let target = SipAddress::new("jane.doe.123456", "contoso.com").unwrap();
    predict(user, NOW, Some(&target), None)
        .into_iter()
        .find(|p| p.method == method)
        .unwrap()
}

#[test]
fn the_ad_only_method_warns_that_the_certificate_still_signs_in_until_it_expires() {
    let p = prediction(&user(), Method::DisableAdOnly);
    assert_eq!(p.signed_in_sessions.tone, Tone::Bad);
    assert!(
        p.signed_in_sessions
            .text
            .contains("2 signed-in sessions keep full IM"),
        "{}",
        p.signed_in_sessions.text
    );
    assert_eq!(p.new_sign_in.tone, Tone::Bad);
    assert!(
        p.new_sign_in.text.contains("until 2027-03-01 10:00 UTC"),
        "{}",
        p.new_sign_in.text
    );
    assert_eq!(
        p.refused.as_deref(),
        Some("The AD account is already disabled.")
    );
}

#[test]
fn temporary_disable_gives_the_five_minute_deadline_and_keeps_data() {
    let p = prediction(&user(), Method::TemporarilyDisable);
    assert_eq!(
        p.command.as_deref(),
        Some("Set-CsUser -Identity 'jane.doe@contoso.com' -Enabled $false")
    );
    assert!(
        p.signed_in_sessions
            .text
            .contains("until 2026-11-23 14:05 UTC"),
        "{}",
        p.signed_in_sessions.text
    );
    assert_eq!(p.timeline[0].at, NOW + Duration::minutes(5));
    assert!(p.data.text.contains("12 contacts, 2 scheduled conferences"));
    assert!(p.reversible.text.contains("-Enabled $true"));
    assert!(p.refused.is_none());

    let mut already = user();
    already.lync.as_mut().unwrap().enabled = false;
    assert!(
        prediction(&already, Method::TemporarilyDisable)
            .refused
            .unwrap()
            .starts_with("Already temporarily disabled")
    );
}

#[test]
fn removal_is_refused_for_users_homed_online_and_protected_users() {
    let mut online = user();
    let lync = online.lync.as_mut().unwrap();
    lync.hosting_provider = ONLINE_HOSTING_PROVIDER.into();
    lync.registrar_pool = None;
    assert!(
        prediction(&online, Method::RemoveFromLync)
            .refused
            .unwrap()
            .contains("hybrid")
    );
    assert!(warnings(&online).iter().any(|w| w.contains("Homed online")));

    let mut admin = user();
    admin.ad.protected_groups = vec!["Domain Admins".into()];
    for method in [
        Method::TemporarilyDisable,
        Method::RemoveFromLync,
        Method::RevokeCertificate,
        Method::RenameSipAddress,
    ] {
        assert!(
            prediction(&admin, method)
                .refused
                .unwrap()
                .contains("override"),
            "{method:?}"
        );
    }
    assert!(warnings(&admin)[0].contains("AdminSDHolder"));
}

#[test]
fn removal_spells_out_what_is_deleted_and_how_it_comes_back() {
    let p = prediction(&user(), Method::RemoveFromLync);
    assert_eq!(p.data.tone, Tone::Bad);
    assert!(p.data.text.contains("12 contacts"));
    assert!(p.reversible.text.contains(
        "Enable-CsUser -Identity 'jane.doe@contoso.com' -SipAddress 'sip:jane.doe@contoso.com' -RegistrarPool 'pool.contoso.com'"
    ));
    assert_eq!(p.timeline.last().unwrap().at, NOW + Duration::minutes(3));
}

#[test]
fn revocation_leaves_sessions_alone_and_cannot_be_undone() {
    let p = prediction(&user(), Method::RevokeCertificate);
    assert_eq!(p.signed_in_sessions.tone, Tone::Bad);
    assert!(
        p.new_sign_in.text.contains("14:03 UTC"),
        "{}",
        p.new_sign_in.text
    );
    assert_eq!(p.reversible.tone, Tone::Bad);

    let mut no_cert = user();
    no_cert.lync.as_mut().unwrap().certificates = Fact::Known(vec![]);
    assert_eq!(
        prediction(&no_cert, Method::RevokeCertificate)
            .refused
            .as_deref(),
        Some("No valid client certificate to revoke.")
    );
}

#[test]
fn rename_disconnects_at_once_and_says_the_new_address_can_be_guessed() {
    let p = prediction(&user(), Method::RenameSipAddress);
    assert_eq!(
        p.command.as_deref(),
        Some(
            "Set-CsUser -Identity 'jane.doe@contoso.com' -SipAddress 'sip:jane.doe.123456@contoso.com'"
        )
    );
    assert!(
        p.signed_in_sessions
            .text
            .contains("disconnected immediately")
    );
    assert!(
        p.new_sign_in
            .text
            .contains("combine with Set-CsUser -Enabled $false")
    );
    assert!(
        p.reversible
            .text
            .contains("-SipAddress 'sip:jane.doe@contoso.com'")
    );
}

#[test]
fn users_without_lync_get_a_refusal_for_every_cmdlet() {
    let mut gone = user();
    gone.lync = None;
    for p in predict(&gone, NOW, None, None) {
        if p.method != Method::DisableAdOnly {
            assert!(
                p.refused
                    .as_deref()
                    .unwrap()
                    .contains("Not enabled for Lync"),
                "{:?}",
                p.method
            );
        }
    }
}

#[test]
fn rename_targets_skip_addresses_in_use_and_keep_the_domain() {
    let current = SipAddress::new("jane.doe", "contoso.com").unwrap();
    let first = rename_target(&current, 42, |_| false).unwrap();
    assert_eq!(first.domain(), "contoso.com");
    assert!(first.lhs().starts_with("jane.doe."));
    let second = rename_target(&current, 42, |sip| *sip == first).unwrap();
    assert_ne!(second, first);
    assert!(rename_target(&current, 42, |_| true).is_none());
}

#[test]
fn without_the_lync_shell_sessions_and_certificates_are_unknown_never_none() {
    let jane = crate::fixtures::without_shell(user());
    let ad_only = prediction(&jane, Method::DisableAdOnly);
    assert_eq!(ad_only.signed_in_sessions.tone, Tone::Bad);
    assert!(
        ad_only
            .signed_in_sessions
            .text
            .contains(NOT_KNOWN_WITHOUT_SHELL),
        "{}",
        ad_only.signed_in_sessions.text
    );
    assert_eq!(
        ad_only.new_sign_in.tone,
        Tone::Bad,
        "an unknown certificate is not safe"
    );
    assert!(ad_only.new_sign_in.text.contains(NOT_KNOWN_WITHOUT_SHELL));

    let revoke = prediction(&jane, Method::RevokeCertificate);
    assert_eq!(
        revoke.refused, None,
        "not refused: there may be a certificate"
    );
    assert!(
        revoke.new_sign_in.text.contains(NOT_KNOWN_WITHOUT_SHELL),
        "{}",
        revoke.new_sign_in.text
    );

    let temporary = prediction(&jane, Method::TemporarilyDisable);
    assert!(
        temporary
            .signed_in_sessions
            .text
            .contains("until 2026-11-23 14:05 UTC")
    );
    assert!(
        temporary
            .signed_in_sessions
            .text
            .contains(NOT_KNOWN_WITHOUT_SHELL)
    );
    assert_eq!(
        temporary.data.text,
        "All kept: contacts, scheduled conferences and policy assignments (not known without the Lync shell)."
    );

    let remove = prediction(&jane, Method::RemoveFromLync);
    assert!(
        !remove.timeline.is_empty(),
        "any sessions are still disconnected on a timeline"
    );
}

#[test]
fn one_session_keeps_in_the_singular() {
    let mut jane = user();
    jane.endpoints.known_mut().unwrap().pop();
    let p = prediction(&jane, Method::DisableAdOnly);
    assert!(
        p.signed_in_sessions
            .text
            .contains("1 signed-in session keeps"),
        "{}",
        p.signed_in_sessions.text
    );
}
