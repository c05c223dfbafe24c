//! What each de-provisioning method would do to one user right now (DOMAIN.md's method table,
//! applied to this user's sessions, certificates and data), so the person acting knows what
//! will happen, and when, before anything runs.

use crate::timing::{REMOVAL_DISCONNECT, REVOCATION_DELAY, TEMPORARY_DISABLE_GRACE};
use deprov_wire::cmdlet::Cmdlet;
use deprov_wire::directory::{
    DirectoryUser, Fact, LyncAccount, NOT_KNOWN_WITHOUT_SHELL, SipAddress,
};
use deprov_wire::method::{Method, MethodPrediction, Outcome, TimelineEntry};
use time::OffsetDateTime;
use time::macros::format_description;

/// Formats a moment for a sentence: "2027-03-02 14:05 UTC".
pub fn when(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_else(|_| at.to_string())
}

/// A count only the Lync server knows, for a sentence: "12", or "an unknown number of".
pub fn count(fact: Fact<u32>) -> String {
    match fact {
        Fact::Known(n) => n.to_string(),
        Fact::Unknown => "an unknown number of".to_owned(),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The `-Identity` deprov passes: the UPN, which a SIP rename does not change.
pub fn identity(user: &DirectoryUser) -> String {
    user.ad.user_principal_name.clone()
}

/// Warnings that come before any method: reasons to stop and look.
pub fn warnings(user: &DirectoryUser) -> Vec<String> {
    let mut warnings = Vec::new();
    if user.protected() {
        warnings.push(format!(
            "Member of {}: protected by AdminSDHolder and read-only in the Lync Control Panel. \
             Acting needs an explicit, recorded override.",
            user.ad.protected_groups.join(", ")
        ));
    }
    if user.lync.as_ref().is_some_and(LyncAccount::homed_online) {
        warnings.push(
            "Homed online (sipfed.online.lync.com): a hybrid user. Disable-CsUser must not be run on-premises."
                .to_owned(),
        );
    }
    if user.sip_disjoint_from_upn() {
        warnings.push(renamed_sip_warning());
    }
    warnings
}

/// The warning for a SIP address disjoint from the UPN.
pub fn renamed_sip_warning() -> String {
    "The SIP address does not match the UPN: it may have been renamed to cut the user off. \
     Finish with Disable-CsUser once the grace period is over."
        .to_owned()
}

/// The prediction for every method, in DOMAIN.md's order. `renamed_sip` is the address a rename
/// would use, already checked to be free.
pub fn predict(
    user: &DirectoryUser,
    now: OffsetDateTime,
    renamed_sip: Option<&SipAddress>,
    original_sip: Option<&SipAddress>,
) -> Vec<MethodPrediction> {
    let situation = Situation {
        original_sip,
        ..Situation::of(user, now)
    };
    Method::ALL
        .into_iter()
        .map(|method| situation.predict(method, renamed_sip))
        .collect()
}

/// The facts about a user that every method's prediction reads.
struct Situation<'a> {
    user: &'a DirectoryUser,
    lync: Option<&'a LyncAccount>,
    now: OffsetDateTime,
    /// Sessions signed in now (unknown without the Lync shell).
    sessions: Fact<usize>,
    /// Sessions whose IM and presence still work.
    working_sessions: Fact<usize>,
    certificate_until: Fact<Option<OffsetDateTime>>,
    /// The address before deprov renamed it (an immediate disconnect): what every undo sets back.
    original_sip: Option<&'a SipAddress>,
}

impl<'a> Situation<'a> {
    fn of(user: &'a DirectoryUser, now: OffsetDateTime) -> Self {
        Self {
            user,
            lync: user.lync.as_ref(),
            now,
            sessions: user.sessions(now).map(|s| s.len()),
            working_sessions: user.working_sessions(now),
            certificate_until: user.certificate_sign_in_until(now),
            original_sip: None,
        }
    }

    /// The address an undo sets back: the original one if deprov renamed it, else the current.
    fn undo_address(&self) -> Option<SipAddress> {
        self.original_sip
            .cloned()
            .or_else(|| self.lync.map(|l| l.sip_address.clone()))
    }

    /// "2 signed-in sessions", or "Any signed-in sessions (not known without the Lync shell)".
    fn sessions_text(&self) -> String {
        sessions_text(self.sessions)
    }

    /// A refusal common to every Lync cmdlet, or `None`.
    fn lync_refusal(&self) -> Option<String> {
        if self.lync.is_none() {
            return Some(
                "Not enabled for Lync (Enabled = Null): there is nothing to change in Lync."
                    .to_owned(),
            );
        }
        self.user.protected().then(|| {
            format!(
                "Protected account ({}): refused unless an override is recorded.",
                self.user.ad.protected_groups.join(", ")
            )
        })
    }

    /// The one way every method says there is no session to worry about: none at all, or
    /// signed in with nothing that still works.
    fn no_working_session(&self) -> Outcome {
        if self.sessions == Fact::Known(0) {
            Outcome::good(NOT_SIGNED_IN)
        } else {
            Outcome::good("Signed in, but no session still works: IM and meetings already fail.")
        }
    }

    fn data_summary(&self) -> String {
        self.lync.map_or_else(String::new, |lync| {
            if lync.contact_count.is_unknown()
                && lync.conference_count.is_unknown()
                && lync.policies.is_unknown()
            {
                return format!(
                    "contacts, scheduled conferences and policy assignments ({NOT_KNOWN_WITHOUT_SHELL})"
                );
            }
            let count = |fact: Fact<usize>, one: &str, many: &str| match fact {
                Fact::Known(n) => plural(n, one, many),
                Fact::Unknown => format!("{many} ({NOT_KNOWN_WITHOUT_SHELL})"),
            };
            format!(
                "{}, {}, {}",
                count(
                    lync.contact_count.map(|n| n as usize),
                    "contact",
                    "contacts"
                ),
                count(
                    lync.conference_count.map(|n| n as usize),
                    "scheduled conference",
                    "scheduled conferences"
                ),
                count(
                    lync.policies.as_ref().map(Vec::len),
                    "policy assignment",
                    "policy assignments"
                ),
            )
        })
    }

    fn predict(&self, method: Method, renamed_sip: Option<&SipAddress>) -> MethodPrediction {
        let identity = identity(self.user);
        let mut timeline = Vec::new();
        let (command, refused, signed_in_sessions, new_sign_in, data, reversible) = match method {
            Method::DisableAdOnly => {
                let sessions = match self.working_sessions {
                    Fact::Known(0) => self.no_working_session(),
                    working => Outcome::bad(format!(
                        "Nothing changes: {} full IM, presence and conferencing.",
                        working_sessions_keep(working)
                    )),
                };
                let new_sign_in = match (self.lync, self.certificate_until) {
                    (None, _) => Outcome::good("Not a Lync user: nothing to sign in to."),
                    (Some(lync), _) if !lync.enabled => {
                        Outcome::good("Already blocked by Lync (Enabled = False).")
                    }
                    (Some(_), Fact::Unknown) => Outcome::bad(format!(
                        "Possible with a saved-password client certificate, for up to 180 days with no AD \
                         authentication: certificates are {NOT_KNOWN_WITHOUT_SHELL}."
                    )),
                    (Some(_), Fact::Known(Some(until))) => {
                        timeline.push(TimelineEntry {
                            at: until,
                            what: "The last client certificate expires: certificate sign-in ends."
                                .into(),
                        });
                        Outcome::bad(format!(
                            "Still possible with the saved client certificate until {}: no AD authentication needed.",
                            when(until)
                        ))
                    }
                    (Some(_), Fact::Known(None)) => Outcome::good(
                        "Blocked: no valid client certificate, and Windows sign-in needs AD.",
                    ),
                };
                let refused = self
                    .user
                    .ad
                    .account_disabled
                    .then(|| "The AD account is already disabled.".to_owned());
                (
                    None,
                    refused,
                    sessions,
                    new_sign_in,
                    Outcome::good("All kept."),
                    Outcome::good("Yes: enable the AD account again."),
                )
            }
            Method::TemporarilyDisable => {
                let command = Cmdlet::SetCsUserEnabled {
                    identity: identity.clone(),
                    enabled: false,
                };
                let refused = self.lync_refusal().or_else(|| {
                    self.lync.filter(|l| !l.enabled).map(|l| {
                        format!(
                            "Already temporarily disabled (Enabled = False) since {}.",
                            when(l.enabled_changed)
                        )
                    })
                });
                let sessions = if self.working_sessions != Fact::Known(0) {
                    let blocked = self.now + TEMPORARY_DISABLE_GRACE;
                    let which = match self.working_sessions {
                        Fact::Known(n) => plural(n, "session", "sessions"),
                        Fact::Unknown => "any signed-in session".to_owned(),
                    };
                    timeline.push(TimelineEntry {
                        at: blocked,
                        what: format!(
                            "IM, presence and conferencing stop in {which}; the user still appears signed in."
                        ),
                    });
                    Outcome::caution(format!(
                        "{}: presence, IM and conferencing keep working until {} (up to 5 minutes); after that \
                         the user appears signed in but every IM or Meet Now fails, and others see them offline.",
                        self.sessions_text(),
                        when(blocked)
                    ))
                } else {
                    self.no_working_session()
                };
                let reverse = Cmdlet::SetCsUserEnabled {
                    identity,
                    enabled: true,
                };
                (
                    Some(command.render()),
                    refused,
                    sessions,
                    Outcome::good("Blocked at once, with or without a certificate."),
                    Outcome::good(match self.data_summary() {
                        summary if summary.is_empty() => "All kept.".to_owned(),
                        summary => format!("All kept: {summary}."),
                    }),
                    Outcome::good(format!("Yes: {}", reverse.render())),
                )
            }
            Method::RemoveFromLync => {
                let command = Cmdlet::DisableCsUser {
                    identity: identity.clone(),
                };
                let refused = self.lync_refusal().or_else(|| {
                    self.lync.filter(|l| l.homed_online()).map(|_| {
                        "Homed online (sipfed.online.lync.com): Disable-CsUser is refused for hybrid users.".to_owned()
                    })
                });
                let sessions = if self.sessions != Fact::Known(0) {
                    let gone = self.now + REMOVAL_DISCONNECT;
                    timeline.push(TimelineEntry {
                        at: self.now,
                        what: "No new IM, conferencing or Enterprise Voice.".into(),
                    });
                    timeline.push(TimelineEntry {
                        at: gone,
                        what: format!("{} disconnected.", self.sessions_text()),
                    });
                    Outcome::caution(format!(
                        "{}: no new IM, conferencing or Enterprise Voice from now; disconnected within a few minutes (about {}).",
                        self.sessions_text(),
                        when(gone)
                    ))
                } else {
                    Outcome::good(NOT_SIGNED_IN)
                };
                let enable_again = match self
                    .undo_address()
                    .zip(self.lync.and_then(|l| l.registrar_pool.clone()))
                {
                    Some((sip_address, registrar_pool)) => Cmdlet::EnableCsUser {
                        identity,
                        sip_address,
                        registrar_pool,
                    }
                    .render(),
                    None => {
                        "Enable-CsUser with -Identity, -SipAddress and -RegistrarPool".to_owned()
                    }
                };
                (
                    Some(command.render()),
                    refused,
                    sessions,
                    Outcome::good("Blocked at once."),
                    Outcome::bad(format!(
                        "Deleted: every msRTCSIP attribute, {}. Back up first (Export-CsUserData) and record the policies.",
                        self.data_summary()
                    )),
                    Outcome::bad(format!(
                        "Only to a blank account: {enable_again}. Contacts and conferences come back only from a backup; \
                         the user stays on other people's contact lists."
                    )),
                )
            }
            Method::RevokeCertificate => {
                let command = Cmdlet::RevokeCsClientCertificate { identity };
                let refused = self.lync_refusal().or_else(|| {
                    (self.certificate_until == Fact::Known(None))
                        .then(|| "No valid client certificate to revoke.".to_owned())
                });
                let sessions = match self.working_sessions {
                    Fact::Known(0) => self.no_working_session(),
                    working => Outcome::bad(format!(
                        "No effect: {} IM, conferencing, everything.",
                        working_sessions_keep(working)
                    )),
                };
                let blocked = self.now + REVOCATION_DELAY;
                let new_sign_in = if self.certificate_until != Fact::Known(None) {
                    timeline.push(TimelineEntry {
                        at: blocked,
                        what: "Certificate sign-in blocked.".into(),
                    });
                    let windows = if self.user.ad.account_disabled {
                        "Windows sign-in already needs the disabled AD account."
                    } else {
                        "Windows sign-in still works while the AD account is enabled."
                    };
                    let unknown = if self.certificate_until.is_unknown() {
                        format!(
                            " (Whether the user has a certificate is {NOT_KNOWN_WITHOUT_SHELL}.)"
                        )
                    } else {
                        String::new()
                    };
                    Outcome::caution(format!(
                        "Certificate sign-in blocked after about 3 minutes ({}). {windows}{unknown}",
                        when(blocked)
                    ))
                } else {
                    Outcome::good("No valid certificate: nothing changes.")
                };
                (
                    Some(command.render()),
                    refused,
                    sessions,
                    new_sign_in,
                    Outcome::good("All kept."),
                    Outcome::bad("No: a revoked certificate cannot be restored."),
                )
            }
            Method::RenameSipAddress => {
                let refused = self.lync_refusal().or_else(|| {
                    renamed_sip
                        .is_none()
                        .then(|| "No free SIP address could be found for the rename.".to_owned())
                });
                let command = renamed_sip.map(|sip| {
                    Cmdlet::SetCsUserSipAddress {
                        identity: identity.clone(),
                        sip_address: sip.clone(),
                    }
                    .render()
                });
                let sessions = if self.sessions != Fact::Known(0) {
                    timeline.push(TimelineEntry {
                        at: self.now,
                        what: format!("{} disconnected.", self.sessions_text()),
                    });
                    Outcome::good(format!(
                        "{} disconnected immediately.",
                        self.sessions_text()
                    ))
                } else {
                    Outcome::good(NOT_SIGNED_IN)
                };
                let new_sign_in = match (self.lync, renamed_sip) {
                    (Some(lync), Some(sip)) if lync.enabled => Outcome::caution(format!(
                        "Blocked for {}; possible as {} if the user guesses it: combine with Set-CsUser -Enabled $false.",
                        lync.sip_address, sip
                    )),
                    _ => Outcome::good("Blocked for the old address."),
                };
                let reverse = self.undo_address().map(|sip_address| {
                    Cmdlet::SetCsUserSipAddress {
                        identity,
                        sip_address,
                    }
                    .render()
                });
                (
                    command,
                    refused,
                    sessions,
                    new_sign_in,
                    Outcome::good(
                        "All kept; the SIP address becomes disjoint from the UPN until Disable-CsUser.",
                    ),
                    Outcome::caution(format!(
                        "Yes: {}; other users must sign out and in again to see presence.",
                        reverse.unwrap_or_else(|| "set the old address back".to_owned())
                    )),
                )
            }
        };
        timeline.sort_by_key(|entry| entry.at);
        MethodPrediction {
            method,
            command,
            refused,
            signed_in_sessions,
            new_sign_in,
            data,
            reversible,
            timeline,
        }
    }
}

/// What every page says of a user with no session, as the user page does.
const NOT_SIGNED_IN: &str = "Not signed in anywhere.";

/// "2 signed-in sessions", or "Any signed-in sessions (not known without the Lync shell)".
fn sessions_text(sessions: Fact<usize>) -> String {
    match sessions {
        Fact::Known(n) => plural(n, "signed-in session", "signed-in sessions"),
        Fact::Unknown => format!("Any signed-in sessions ({NOT_KNOWN_WITHOUT_SHELL})"),
    }
}

/// "1 signed-in session keeps", "2 signed-in sessions keep", or what an unknown number does.
fn working_sessions_keep(working: Fact<usize>) -> String {
    match working {
        Fact::Known(1) => "1 signed-in session keeps".to_owned(),
        Fact::Known(n) => format!("{n} signed-in sessions keep"),
        Fact::Unknown => {
            format!("any signed-in session ({NOT_KNOWN_WITHOUT_SHELL}) keeps")
        }
    }
}

/// A free address for an immediate-disconnect rename: the left-hand side with a numeric suffix
/// (the article's advice), checked against `in_use`, in the same SIP domain.
pub fn rename_target(
    current: &SipAddress,
    seed: u128,
    in_use: impl Fn(&SipAddress) -> bool,
) -> Option<SipAddress> {
    (0..20u128).find_map(|attempt| {
        let suffix = 100_000 + (seed.wrapping_add(attempt * 7_919)) % 900_000;
        let candidate =
            SipAddress::new(&format!("{}.{suffix}", current.lhs()), current.domain()).ok()?;
        (!in_use(&candidate)).then_some(candidate)
    })
}

#[cfg(test)]
mod tests;
