//! The report's rules, including an independent oracle for the article's rule.

use super::*;
use crate::backend::DirectorySource;
use crate::backend::sim::{SimClock, SimConfig, Simulator};
use deprov_wire::directory::{ClientCertificate, SipAddress};
use deprov_wire::workflow::RequestState;
use std::collections::BTreeSet;
use std::sync::Arc;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);

/// The article's script, as it loops: every Get-CsAdUser entry, one by one; AccountDisabled in
/// UserAccountControl and `$LyncUser.Enabled -eq $True` (False and Null are not True).
async fn article_script(sim: &Simulator) -> BTreeSet<UserId> {
    let mut listed = BTreeSet::new();
    for lync_user in sim.read_directory(None).await.unwrap().users().to_vec() {
        let user_account_control = if lync_user.ad.account_disabled {
            vec!["AccountDisabled", "NormalAccount"]
        } else {
            vec!["NormalAccount"]
        };
        for value in user_account_control {
            if value.starts_with("AccountDisabled") {
                let enabled: Option<bool> = lync_user.lync.as_ref().map(|l| l.enabled);
                if enabled == Some(true) {
                    listed.insert(lync_user.id);
                }
            }
        }
    }
    listed
}

#[tokio::test]
async fn the_first_rule_equals_the_articles_script_at_several_seeds_and_sizes() {
    for (users, seed) in [(50, 1), (1_000, 2), (5_000, 3), (20_000, 4)] {
        let sim = Simulator::new(&SimConfig { users, seed }, SimClock::frozen(NOW));
        let expected = article_script(&sim).await;
        let snapshot = snapshot(sim.read_directory(None).await.unwrap().users().to_vec());
        let report = compute(&snapshot, NOW, &ReportConfig::default(), &|_| None, &|_| {
            None
        });
        // The article has no exclusion list: its rows are our findings plus the excluded ones.
        let ours: BTreeSet<UserId> = report
            .findings
            .iter()
            .chain(&report.excluded)
            .filter(|f| f.rule == Rule::AdDisabledLyncEnabled)
            .map(|f| f.user_id)
            .collect();
        assert_eq!(ours, expected, "{users} users, seed {seed}");
        assert!(
            users < 1_000 || !expected.is_empty(),
            "the directory has the article's hole"
        );
    }
}

/// User `n`: AD disabled three days ago or not; Lync Enabled True, False (for ten days) or Null.
fn user(n: u128, ad_disabled: bool, lync: Option<bool>) -> DirectoryUser {
    let mut user = crate::fixtures::user(n, &format!("user{n}"), NOW);
    if ad_disabled {
        user = crate::fixtures::ad_disabled(user, NOW - Duration::days(3));
    }
    match lync {
        None => user.lync = None,
        Some(enabled) => {
            let account = user.lync.as_mut().unwrap();
            account.enabled = enabled;
            account.enabled_changed = NOW - Duration::days(10);
        }
    }
    user
}

fn with_certificate(mut user: DirectoryUser, expires: OffsetDateTime) -> DirectoryUser {
    user.lync
        .as_mut()
        .unwrap()
        .certificates
        .known_mut()
        .expect("a fixture user's certificates are known")
        .push(ClientCertificate {
            serial_number: "1".into(),
            issued: expires - Duration::days(180),
            expires,
            revoked_from: None,
        });
    user
}

fn snapshot(users: Vec<DirectoryUser>) -> Snapshot {
    Snapshot::build(
        users.into_iter().map(Arc::new).collect(),
        crate::backend::Watermark::new("test", 0),
        NOW,
    )
}

fn rules(users: Vec<DirectoryUser>, now: OffsetDateTime) -> Vec<(u128, Rule)> {
    let users = snapshot(users);
    let mut found: Vec<_> = compute(&users, now, &ReportConfig::default(), &|_| None, &|_| None)
        .findings
        .iter()
        .map(|f| (f.user_id.0.as_u128(), f.rule))
        .collect();
    found.sort();
    found
}

#[test]
fn the_three_valued_flag_is_respected() {
    let users = vec![
        user(1, true, Some(true)),  // True: the article's row
        user(2, true, Some(false)), // False: temporarily disabled, 10 days: not overdue, not rule 1
        user(3, true, None),        // Null: never enabled or removed
        user(4, false, Some(true)), // AD enabled: fine
    ];
    assert_eq!(rules(users, NOW), vec![(1, Rule::AdDisabledLyncEnabled)]);
}

#[test]
fn a_certificate_counts_whatever_enabled_says_until_it_expires() {
    let expires = NOW + Duration::days(15);
    let users = vec![
        with_certificate(user(1, true, Some(true)), expires),
        with_certificate(user(2, true, Some(false)), expires),
    ];
    assert_eq!(
        rules(users.clone(), NOW),
        vec![
            (1, Rule::AdDisabledLyncEnabled),
            (1, Rule::CertificateSignIn),
            (2, Rule::CertificateSignIn)
        ]
    );
    let report = compute(
        &snapshot(users.clone()),
        NOW,
        &ReportConfig::default(),
        &|_| None,
        &|_| None,
    );
    let risks: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.rule == Rule::CertificateSignIn)
        .map(|f| f.risk)
        .collect();
    assert_eq!(
        risks,
        vec![Risk::High, Risk::Medium],
        "usable now is high; usable after a re-enable is medium"
    );
    assert_eq!(
        report.next_change,
        Some(expires),
        "the engine wakes when the certificate expires"
    );
    assert_eq!(
        rules(users, expires),
        vec![(1, Rule::AdDisabledLyncEnabled)],
        "gone once expired"
    );
}

#[test]
fn stage_two_is_overdue_after_the_grace_period() {
    let temporarily_disabled = user(1, true, Some(false));
    let changed = temporarily_disabled.lync.as_ref().unwrap().enabled_changed;
    let deadline = changed + Duration::days(30);
    assert_eq!(
        rules(
            vec![temporarily_disabled.clone()],
            deadline - Duration::seconds(1)
        ),
        vec![]
    );
    assert_eq!(
        rules(vec![temporarily_disabled.clone()], deadline),
        vec![(1, Rule::StageTwoOverdue)]
    );
    assert_eq!(
        compute(
            &snapshot(vec![temporarily_disabled]),
            NOW,
            &ReportConfig::default(),
            &|_| None,
            &|_| None
        )
        .next_change,
        Some(deadline)
    );
}

#[test]
fn a_renamed_sip_address_is_a_finding_unless_a_request_explains_it() {
    let mut renamed = user(1, false, Some(false));
    renamed.lync.as_mut().unwrap().sip_address =
        SipAddress::new("user1.123456", "contoso.com").unwrap();
    let id = renamed.id;
    let users = snapshot(vec![renamed]);
    let found = compute(&users, NOW, &ReportConfig::default(), &|_| None, &|_| None);
    assert_eq!(
        found.findings.iter().map(|f| f.rule).collect::<Vec<_>>(),
        vec![Rule::SipRenamedUnexplained]
    );
    let explained = compute(
        &users,
        NOW,
        &ReportConfig::default(),
        &|candidate| {
            (candidate == id).then_some(OpenRequest {
                id: 1,
                state: RequestState::PendingApproval,
                stage_two_due_at: None,
            })
        },
        &|_| None,
    );
    assert!(explained.findings.is_empty());
}

#[test]
fn excluded_accounts_are_shown_apart_and_never_counted() {
    let mut room = user(1, true, Some(true));
    room.ad.distinguished_name = "CN=Room AMS 4.12,OU=Resources,DC=contoso,DC=com".into();
    let mut named = user(2, true, Some(true));
    named.ad.sam_account_name = "svc-special".into();
    let config = ReportConfig {
        excluded_accounts: vec!["SVC-special".into()],
        ..ReportConfig::default()
    };
    let report = compute(
        &snapshot(vec![room, named, user(3, true, Some(true))]),
        NOW,
        &config,
        &|_| None,
        &|_| None,
    );
    assert_eq!(report.counts.total(), 1);
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.excluded.len(), 2);
    assert!(config.exclusions().contains(&"OU=Resources".to_owned()));
}

#[test]
fn without_the_lync_shell_certificates_are_not_evaluated_and_rule_one_stays_high() {
    let users = vec![
        crate::fixtures::without_shell(user(1, true, Some(true))),
        crate::fixtures::without_shell(user(2, true, Some(false))),
        crate::fixtures::without_shell(user(3, false, Some(true))),
    ];
    let report = compute(
        &snapshot(users),
        NOW,
        &ReportConfig::default(),
        &|_| None,
        &|_| None,
    );
    let rule_one: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.rule == Rule::AdDisabledLyncEnabled)
        .collect();
    assert_eq!(rule_one.len(), 1);
    assert_eq!(
        rule_one[0].risk,
        Risk::High,
        "unknown sessions may be signed in"
    );
    assert!(
        rule_one[0].why.contains(NOT_KNOWN_WITHOUT_SHELL),
        "{}",
        rule_one[0].why
    );
    assert_eq!(report.counts.certificate_sign_in, 0);
    assert_eq!(report.not_evaluated.len(), 1);
    assert_eq!(report.not_evaluated[0].rule, Rule::CertificateSignIn);
    assert_eq!(
        report.not_evaluated[0].users, 2,
        "the two AD-disabled Lync users"
    );
}

#[test]
fn a_finding_carries_the_open_request_that_deals_with_it() {
    let leaver = user(1, true, Some(true));
    let other = user(2, true, Some(true));
    let id = leaver.id;
    let users = snapshot(vec![leaver, other]);
    let due = NOW + Duration::days(30);
    let report = compute(
        &users,
        NOW,
        &ReportConfig::default(),
        &|candidate| {
            (candidate == id).then_some(OpenRequest {
                id: 12,
                state: RequestState::StageOneDone,
                stage_two_due_at: Some(due),
            })
        },
        &|_| None,
    );
    let carried: Vec<_> = report
        .findings
        .iter()
        .map(|f| {
            (
                f.user_id == id,
                f.open_request.map(|o| (o.id, o.stage_two_due_at)),
            )
        })
        .collect();
    assert!(
        carried.contains(&(true, Some((12, Some(due))))),
        "{carried:?}"
    );
    assert!(carried.contains(&(false, None)), "{carried:?}");
    assert_eq!(
        report.counts.total(),
        2,
        "a finding in hand still counts until it is gone"
    );
}

#[test]
fn an_accepted_exception_sets_the_finding_apart_until_it_ends() {
    let kept = user(1, true, Some(true));
    let id = kept.id;
    let users = snapshot(vec![kept, user(2, true, Some(true))]);
    let until = NOW + Duration::days(7);
    let exception = AcceptedException {
        id: 1,
        user_id: id,
        display_name: "User 1".into(),
        rules: vec![Rule::AdDisabledLyncEnabled, Rule::CertificateSignIn],
        reason: "Legal hold on the mailbox until the audit closes".into(),
        accepted_by: "auditor".into(),
        accepted_at: NOW,
        until,
    };
    let excepted = |candidate: UserId| (candidate == id).then(|| exception.clone());
    let during = compute(&users, NOW, &ReportConfig::default(), &|_| None, &excepted);
    assert_eq!(during.counts.total(), 1, "the excepted user is not counted");
    assert!(
        during
            .excluded
            .iter()
            .all(|f| f.user_id == id && f.exception.is_some())
    );
    assert!(!during.excluded.is_empty());
    assert_eq!(
        during.next_change,
        Some(until),
        "the report changes when it runs out"
    );
    let after = compute(
        &users,
        until,
        &ReportConfig::default(),
        &|_| None,
        &excepted,
    );
    assert_eq!(
        after.counts.total(),
        2,
        "once it has run out, the finding counts again"
    );
}

#[test]
fn an_exception_covers_the_rules_it_accepted_and_not_one_broken_later() {
    let kept = user(1, true, Some(true));
    let id = kept.id;
    let users = snapshot(vec![kept]);
    let exception = AcceptedException {
        id: 1,
        user_id: id,
        display_name: "User 1".into(),
        rules: vec![Rule::StageTwoOverdue],
        reason: "Accepted while disabled in Lync".into(),
        accepted_by: "auditor".into(),
        accepted_at: NOW,
        until: NOW + Duration::days(7),
    };
    let report = compute(&users, NOW, &ReportConfig::default(), &|_| None, &|_| {
        Some(exception.clone())
    });
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.rule == Rule::AdDisabledLyncEnabled),
        "Lync enabled again: a rule the exception did not accept counts"
    );
    assert!(report.excluded.is_empty());
}
