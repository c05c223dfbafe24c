//! Proof that a step's effect happened: when each cmdlet's effect is predicted to show (at once
//! for a SIP rename, after the 5-minute window for Set-CsUser -Enabled $false, about 3 minutes
//! for a revocation, a few minutes for Disable-CsUser), and, pure, what a fresh read of the user
//! then says: verified, or NOT as predicted, in words.

use crate::predict::when;
use crate::timing::{REMOVAL_DISCONNECT, REVOCATION_DELAY, TEMPORARY_DISABLE_GRACE};
use deprov_wire::cmdlet::Cmdlet;
use deprov_wire::directory::{DirectoryUser, Fact, NOT_KNOWN_WITHOUT_SHELL};
use deprov_wire::execution::VerificationState;
use time::{Duration, OffsetDateTime};

/// A little after the predicted moment: AD replication and Lync's own timers are not exact.
const MARGIN: Duration = Duration::seconds(10);

/// How long after a step its effect should show, or `None` when a read cannot tell (exports).
pub fn delay(cmdlet: &Cmdlet) -> Option<Duration> {
    Some(match cmdlet {
        Cmdlet::SetCsUserEnabled { enabled: false, .. } => TEMPORARY_DISABLE_GRACE + MARGIN,
        Cmdlet::RevokeCsClientCertificate { .. } => REVOCATION_DELAY + MARGIN,
        Cmdlet::DisableCsUser { .. } => REMOVAL_DISCONNECT + MARGIN,
        Cmdlet::SetCsUserEnabled { enabled: true, .. }
        | Cmdlet::SetCsUserSipAddress { .. }
        | Cmdlet::EnableCsUser { .. }
        | Cmdlet::GrantPolicy { .. } => MARGIN,
        Cmdlet::ExportCsUserData { .. } | Cmdlet::UpdateCsUserData { .. } => return None,
    })
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub state: VerificationState,
    pub text: String,
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What the user, read at `now`, says of `cmdlet`'s predicted effect.
pub fn check(cmdlet: &Cmdlet, user: Option<&DirectoryUser>, now: OffsetDateTime) -> Verdict {
    let at = when(now);
    let verified = |what: String| Verdict {
        state: VerificationState::Verified,
        text: format!("verified {at}: {what}"),
    };
    let not_as_predicted = |what: String| Verdict {
        state: VerificationState::NotAsPredicted,
        text: format!("NOT as predicted ({at}): {what}"),
    };
    let Some(user) = user else {
        return not_as_predicted("the user is no longer in the directory".to_owned());
    };
    let lync = user.lync.as_ref();
    // Sessions still connected, and those whose IM still works.
    let sessions = user.sessions(now).map(|s| s.len());
    let working = user.working_sessions(now);
    let sessions_unknown =
        || format!("signed-in sessions are {NOT_KNOWN_WITHOUT_SHELL} (no source for them)");
    match cmdlet {
        Cmdlet::SetCsUserEnabled { enabled: false, .. } => match (lync.map(|l| l.enabled), working)
        {
            (Some(true), _) => not_as_predicted("Enabled is still True".to_owned()),
            (None, _) => {
                not_as_predicted("the user is no longer enabled for Lync at all".to_owned())
            }
            (Some(false), Fact::Known(0)) => {
                verified("Enabled = False, no signed-in session can IM or meet".to_owned())
            }
            (Some(false), Fact::Known(n)) => not_as_predicted(format!(
                "Enabled = False, but still signed in on {} with IM and meetings working; the article saw this \
                 with unpatched clients: consider the immediate disconnect",
                plural(n, "endpoint", "endpoints")
            )),
            (Some(false), Fact::Unknown) => {
                verified(format!("Enabled = False; {}", sessions_unknown()))
            }
        },
        Cmdlet::SetCsUserEnabled { enabled: true, .. } => match lync.map(|l| l.enabled) {
            Some(true) => verified("Enabled = True".to_owned()),
            _ => not_as_predicted("Enabled is not True".to_owned()),
        },
        Cmdlet::SetCsUserSipAddress { sip_address, .. } => {
            match (lync.map(|l| &l.sip_address), sessions) {
                (Some(sip), _) if sip != sip_address => {
                    not_as_predicted(format!("the SIP address is {sip}, not {sip_address}"))
                }
                (None, _) => not_as_predicted("the user is no longer enabled for Lync".to_owned()),
                (Some(_), Fact::Known(0)) => verified(format!(
                    "the SIP address is {sip_address}; no session signed in"
                )),
                (Some(_), Fact::Known(n)) => not_as_predicted(format!(
                    "the SIP address is {sip_address}, but {} still connected",
                    plural(n, "session is", "sessions are")
                )),
                (Some(_), Fact::Unknown) => verified(format!(
                    "the SIP address is {sip_address}; {}",
                    sessions_unknown()
                )),
            }
        }
        Cmdlet::RevokeCsClientCertificate { .. } => {
            match lync.map(|l| l.usable_certificates(now)) {
                None => verified("not a Lync user: no certificate signs in".to_owned()),
                Some(Fact::Known(usable)) if usable.is_empty() => {
                    verified("no client certificate allows sign-in".to_owned())
                }
                Some(Fact::Known(usable)) => not_as_predicted(format!(
                    "{} still {} sign-in",
                    plural(usable.len(), "client certificate", "client certificates"),
                    if usable.len() == 1 { "allows" } else { "allow" }
                )),
                Some(Fact::Unknown) => Verdict {
                    state: VerificationState::Unverifiable,
                    text: format!(
                        "not checked ({at}): client certificates are {NOT_KNOWN_WITHOUT_SHELL}"
                    ),
                },
            }
        }
        Cmdlet::DisableCsUser { .. } => match (lync, sessions) {
            (Some(_), _) => not_as_predicted("the user is still enabled for Lync".to_owned()),
            (None, Fact::Known(0)) => {
                verified("removed from Lync; no session signed in".to_owned())
            }
            (None, Fact::Known(n)) => not_as_predicted(format!(
                "removed from Lync, but {} still connected",
                plural(n, "session is", "sessions are")
            )),
            (None, Fact::Unknown) => verified(format!(
                "removed from Lync (no msRTCSIP attributes); {}",
                sessions_unknown()
            )),
        },
        Cmdlet::EnableCsUser { sip_address, .. } => match lync {
            Some(l) if l.sip_address == *sip_address => {
                verified(format!("enabled for Lync as {sip_address}"))
            }
            _ => not_as_predicted(format!("not enabled for Lync as {sip_address}")),
        },
        Cmdlet::GrantPolicy {
            kind, policy_name, ..
        } => match lync.map(|l| &l.policies) {
            Some(Fact::Known(policies))
                if policies.iter().any(|p| {
                    p.kind.eq_ignore_ascii_case(kind.as_str()) && p.name == *policy_name
                }) =>
            {
                verified(format!("{} policy {policy_name} granted", kind.as_str()))
            }
            Some(Fact::Unknown) => Verdict {
                state: VerificationState::Unverifiable,
                text: format!("not checked ({at}): policies are {NOT_KNOWN_WITHOUT_SHELL}"),
            },
            _ => not_as_predicted(format!("the {} policy is not {policy_name}", kind.as_str())),
        },
        Cmdlet::ExportCsUserData { .. } | Cmdlet::UpdateCsUserData { .. } => Verdict {
            state: VerificationState::Unverifiable,
            text: format!("not checked ({at}): it works on a file on the Lync server"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-23 14:10 UTC);

    fn disable() -> Cmdlet {
        Cmdlet::SetCsUserEnabled {
            identity: "jane.doe@contoso.com".into(),
            enabled: false,
        }
    }

    #[test]
    fn a_temporary_disable_is_verified_once_sessions_stop_working() {
        let mut jane = crate::fixtures::leaver(NOW);
        jane.lync.as_mut().unwrap().enabled = false;
        for endpoint in jane.endpoints.known_mut().unwrap() {
            endpoint.features_blocked_from = Some(NOW - Duration::minutes(1));
        }
        let verdict = check(&disable(), Some(&jane), NOW);
        assert_eq!(
            verdict.state,
            VerificationState::Verified,
            "{}",
            verdict.text
        );
        assert_eq!(
            verdict.text,
            "verified 2026-11-23 14:10 UTC: Enabled = False, no signed-in session can IM or meet"
        );
    }

    #[test]
    fn sessions_that_keep_working_are_not_as_predicted_and_say_what_to_do() {
        let mut jane = crate::fixtures::leaver(NOW);
        jane.lync.as_mut().unwrap().enabled = false;
        let verdict = check(&disable(), Some(&jane), NOW);
        assert_eq!(verdict.state, VerificationState::NotAsPredicted);
        assert!(
            verdict.text.starts_with("NOT as predicted"),
            "{}",
            verdict.text
        );
        assert!(
            verdict.text.contains("still signed in on 2 endpoints"),
            "{}",
            verdict.text
        );
        assert!(
            verdict.text.contains("consider the immediate disconnect"),
            "{}",
            verdict.text
        );
    }

    #[test]
    fn without_a_source_for_sessions_it_says_so() {
        let mut jane = crate::fixtures::without_shell(crate::fixtures::leaver(NOW));
        jane.lync.as_mut().unwrap().enabled = false;
        let verdict = check(&disable(), Some(&jane), NOW);
        assert_eq!(verdict.state, VerificationState::Verified);
        assert!(verdict.text.contains(NOT_KNOWN_WITHOUT_SHELL));
        let revoke = Cmdlet::RevokeCsClientCertificate {
            identity: "x".into(),
        };
        assert_eq!(
            check(&revoke, Some(&jane), NOW).state,
            VerificationState::Unverifiable
        );
        assert_eq!(delay(&revoke), Some(REVOCATION_DELAY + MARGIN));
    }

    #[test]
    fn a_removal_and_a_revocation_are_checked_against_the_read() {
        let mut jane = crate::fixtures::leaver(NOW);
        let remove = Cmdlet::DisableCsUser {
            identity: "x".into(),
        };
        assert_eq!(
            check(&remove, Some(&jane), NOW).state,
            VerificationState::NotAsPredicted
        );
        jane.lync = None;
        jane.endpoints = Fact::Known(vec![]);
        assert_eq!(
            check(&remove, Some(&jane), NOW).state,
            VerificationState::Verified
        );
        let revoke = Cmdlet::RevokeCsClientCertificate {
            identity: "x".into(),
        };
        let mut jane = crate::fixtures::leaver(NOW);
        assert_eq!(
            check(&revoke, Some(&jane), NOW).state,
            VerificationState::NotAsPredicted
        );
        jane.lync
            .as_mut()
            .unwrap()
            .certificates
            .known_mut()
            .unwrap()[0]
            .revoked_from = Some(NOW);
        assert_eq!(
            check(&revoke, Some(&jane), NOW).state,
            VerificationState::Verified
        );
    }
}
