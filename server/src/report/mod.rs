//! The mismatch report (DOMAIN.md, "The mismatch report"): every account that can still use
//! Lync although it should not, computed from a directory snapshot at one moment.
//!
//! [`compute`] is a pure function of the snapshot, the clock and the settings; [`engine`] runs it
//! once per change and fans the result out to every open stream.

pub mod engine;
pub mod exceptions;

use crate::directory::Snapshot;
use crate::predict::{identity, when};
use deprov_wire::cmdlet::Cmdlet;
use deprov_wire::directory::{DirectoryUser, Fact, LyncAccount, NOT_KNOWN_WITHOUT_SHELL, UserId};
use deprov_wire::report::{
    AcceptedException, Finding, MismatchReport, NotEvaluated, Risk, Rule, RuleCounts,
};
use deprov_wire::workflow::OpenRequest;
use time::{Duration, OffsetDateTime};

/// Findings in the stream's first event: enough for a screen and the next, a few hundred
/// kilobytes at most however large the directory (the rest is paged, or in the CSV).
pub const OPENING_PAGE: usize = 200;

/// One page of `report` (the whole report, as the engine keeps it): the findings and excluded
/// accounts `keep` keeps, `limit` findings from `offset`, with how many it keeps in all.
pub fn page(
    report: &MismatchReport,
    keep: &dyn Fn(&Finding) -> bool,
    offset: usize,
    limit: usize,
) -> MismatchReport {
    let mut total = 0;
    let mut findings = Vec::with_capacity(limit.min(report.findings.len()));
    for finding in report.findings.iter().filter(|f| keep(f)) {
        if total >= offset && findings.len() < limit {
            findings.push(finding.clone());
        }
        total += 1;
    }
    MismatchReport {
        version: report.version,
        computed_at: report.computed_at,
        counts: report.counts,
        findings,
        offset,
        total,
        pools: report.pools.clone(),
        departments: report.departments.clone(),
        excluded: report
            .excluded
            .iter()
            .filter(|f| keep(f))
            .cloned()
            .collect(),
        exclusions: report.exclusions.clone(),
        grace_period_days: report.grace_period_days,
        history: report.history.clone(),
        not_evaluated: report.not_evaluated.clone(),
    }
}

/// The distinct pools and departments among `findings`, sorted, for the filter menus.
pub fn facets(findings: &[Finding]) -> (Vec<String>, Vec<String>) {
    let pools: std::collections::BTreeSet<&str> = findings
        .iter()
        .filter_map(|f| f.registrar_pool.as_deref())
        .collect();
    let departments: std::collections::BTreeSet<&str> = findings
        .iter()
        .map(|f| f.department.as_str())
        .filter(|d| !d.is_empty())
        .collect();
    (
        pools.into_iter().map(str::to_owned).collect(),
        departments.into_iter().map(str::to_owned).collect(),
    )
}

/// What the report treats as normal.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    /// How long a temporarily disabled user may wait for stage 2 before it is overdue.
    pub grace_period: Duration,
    /// OUs whose accounts are Lync-enabled on purpose (rooms, watcher nodes, services), e.g. `OU=Resources`.
    pub excluded_ous: Vec<String>,
    /// Individual sAMAccountNames excluded for the same reason.
    pub excluded_accounts: Vec<String>,
}

impl Default for ReportConfig {
    fn default() -> Self {
        Self {
            grace_period: Duration::days(30),
            excluded_ous: vec!["OU=Resources".to_owned(), "OU=Service Accounts".to_owned()],
            excluded_accounts: Vec::new(),
        }
    }
}

impl ReportConfig {
    pub fn excludes(&self, user: &DirectoryUser) -> bool {
        let mut parts = user.ad.distinguished_name.split(',').map(str::trim);
        parts.any(|part| {
            self.excluded_ous
                .iter()
                .any(|ou| ou.eq_ignore_ascii_case(part))
        }) || self
            .excluded_accounts
            .iter()
            .any(|sam| sam.eq_ignore_ascii_case(&user.ad.sam_account_name))
    }

    /// The exclusion list as people read it.
    pub fn exclusions(&self) -> Vec<String> {
        self.excluded_ous
            .iter()
            .chain(&self.excluded_accounts)
            .cloned()
            .collect()
    }
}

/// One computation of the report.
#[derive(Debug, Clone, Default)]
pub struct Computed {
    /// Risk first, then longest-standing first, then by name.
    pub findings: Vec<Finding>,
    pub excluded: Vec<Finding>,
    pub counts: RuleCounts,
    /// The next moment the report changes by the clock alone (a certificate expires, a grace
    /// period ends), so the engine can recompute then without polling.
    pub next_change: Option<OffsetDateTime>,
    /// Rules that could not be decided for some users (certificates unknown without a shell).
    pub not_evaluated: Vec<NotEvaluated>,
}

/// Computes the report over a snapshot at `now`. `open` gives a user's open request: it explains
/// a renamed SIP address, and every finding carries it, so the page shows the case is in hand.
/// `excepted` gives a user's accepted exception: while in force, their findings are set apart
/// with the excluded accounts, uncounted.
pub fn compute(
    snapshot: &Snapshot,
    now: OffsetDateTime,
    config: &ReportConfig,
    open: &dyn Fn(UserId) -> Option<OpenRequest>,
    excepted: &dyn Fn(UserId) -> Option<AcceptedException>,
) -> Computed {
    let mut computed = Computed::default();
    let soonest = |at: OffsetDateTime, computed: &mut Computed| {
        if at > now && computed.next_change.is_none_or(|next| at < next) {
            computed.next_change = Some(at);
        }
    };
    // AD-disabled Lync users whose certificates nobody knows: rule 2 cannot be decided for them.
    let mut certificates_unknown = 0;
    for (flags, user) in snapshot.flags().iter().zip(snapshot.users()) {
        if flags.ad_disabled && flags.certificates_unknown && !config.excludes(user) {
            certificates_unknown += 1;
        }
        let rule_one = flags.ad_disabled && flags.lync_enabled == Some(true);
        // Certificates matter only once AD no longer authenticates the user.
        let rule_two_candidate = flags.ad_disabled && flags.has_certificates;
        let overdue_from = flags
            .disabled_in_lync_since
            .map(|since| since + config.grace_period);
        let candidate = rule_one || rule_two_candidate || overdue_from.is_some();
        if !(candidate || flags.sip_disjoint) {
            continue; // Most users: decided from the flags alone, without reading the user.
        }
        let open_request = open(user.id);
        let rule_four = flags.sip_disjoint && open_request.is_none();
        if !(candidate || rule_four) {
            continue;
        }
        let exception = excepted(user.id).filter(|e| e.until > now);
        if let Some(exception) = &exception {
            // It runs out by the clock: the report changes then by itself.
            soonest(exception.until, &mut computed);
        }
        let excluded = std::cell::OnceCell::new();
        let found = |mut finding: Finding, computed: &mut Computed| {
            finding.open_request = open_request;
            finding.exception = exception
                .as_ref()
                .filter(|e| e.rules.contains(&finding.rule))
                .cloned();
            if finding.exception.is_some() || *excluded.get_or_init(|| config.excludes(user)) {
                computed.excluded.push(finding);
            } else {
                computed.counts.add(finding.rule);
                computed.findings.push(finding);
            }
        };
        let lync = user.lync.as_ref();
        if rule_one {
            // Its risk and wording follow the sessions, which change by the clock alone.
            for endpoint in user.endpoints.known().into_iter().flatten() {
                endpoint
                    .features_blocked_from
                    .inspect(|&at| soonest(at, &mut computed));
                endpoint
                    .disconnect_at
                    .inspect(|&at| soonest(at, &mut computed));
            }
            found(
                ad_disabled_lync_enabled(user, lync.expect("enabled implies Lync attributes"), now),
                &mut computed,
            );
        }
        if rule_two_candidate {
            // The report changes by itself when a certificate expires or a revocation takes effect.
            for cert in lync
                .iter()
                .flat_map(|l| l.certificates.known().into_iter().flatten())
            {
                soonest(cert.expires, &mut computed);
                cert.revoked_from.inspect(|&at| soonest(at, &mut computed));
            }
            if let Fact::Known(Some(until)) = user.certificate_sign_in_until(now) {
                found(certificate_sign_in(user, until), &mut computed);
            }
        }
        if let (Some(from), Some(lync)) = (overdue_from, lync) {
            soonest(from, &mut computed);
            if now >= from {
                found(
                    stage_two_overdue(user, lync, config.grace_period),
                    &mut computed,
                );
            }
        }
        if rule_four {
            found(sip_renamed(user), &mut computed);
        }
    }
    let order = |a: &Finding, b: &Finding| {
        (a.risk, a.since, &a.display_name, a.rule).cmp(&(b.risk, b.since, &b.display_name, b.rule))
    };
    computed.findings.sort_by(order);
    computed.excluded.sort_by(order);
    if certificates_unknown > 0 {
        computed.not_evaluated.push(NotEvaluated {
            rule: Rule::CertificateSignIn,
            users: certificates_unknown,
            why: format!(
                "Client certificates are {NOT_KNOWN_WITHOUT_SHELL}: whether these AD-disabled Lync users \
                 can still sign in with a saved-password certificate (up to 180 days) cannot be told."
            ),
        });
    }
    computed
}

fn finding(
    user: &DirectoryUser,
    rule: Rule,
    risk: Risk,
    why: String,
    next_action: String,
) -> Finding {
    let lync = user.lync.as_ref();
    let mut next_action = next_action;
    if user.protected() {
        next_action.push_str(" Protected account: acting needs a recorded override.");
    }
    Finding {
        user_id: user.id,
        rule,
        display_name: user.ad.display_name.clone(),
        sam_account_name: user.ad.sam_account_name.clone(),
        sip_address: lync.map(|l| l.sip_address.to_string()),
        department: user.ad.department.clone(),
        registrar_pool: lync.and_then(|l| l.registrar_pool.clone()),
        risk,
        since: None,
        until: None,
        why,
        next_action,
        protected: user.protected(),
        homed_online: lync.is_some_and(LyncAccount::homed_online),
        open_request: None,
        exception: None,
    }
}

fn disabled_since(user: &DirectoryUser) -> String {
    user.ad.disabled_since.map_or_else(
        || "AD account disabled".to_owned(),
        |at| format!("AD account disabled since {}", when(at)),
    )
}

fn ad_disabled_lync_enabled(
    user: &DirectoryUser,
    lync: &LyncAccount,
    now: OffsetDateTime,
) -> Finding {
    let sessions = user.working_sessions(now);
    let certificate = user.certificate_sign_in_until(now);
    // What nobody knows may be signed in: as risky as what is known to be.
    let risk = if sessions.known() != Some(&0) || certificate.known() != Some(&None) {
        Risk::High
    } else {
        Risk::Medium
    };
    let mut why = format!(
        "{}, but Lync is still enabled (Enabled = True)",
        disabled_since(user)
    );
    match (sessions, certificate) {
        (Fact::Known(0), _) => {}
        (Fact::Known(1), _) => why.push_str("; 1 signed-in session keeps full IM and conferencing"),
        (Fact::Known(n), _) => why.push_str(&format!(
            "; {n} signed-in sessions keep full IM and conferencing"
        )),
        (Fact::Unknown, _) => why.push_str(&format!(
            "; signed-in sessions and client certificates are {NOT_KNOWN_WITHOUT_SHELL}"
        )),
    }
    why.push('.');
    let next = if lync.homed_online() {
        "Homed online: disable the account in Lync Online (Disable-CsUser is refused for hybrid users).".to_owned()
    } else {
        let stage_one = Cmdlet::SetCsUserEnabled {
            identity: identity(user),
            enabled: false,
        };
        format!(
            "Request de-provisioning; stage 1 runs {}.",
            stage_one.render()
        )
    };
    Finding {
        since: user.ad.disabled_since,
        ..finding(user, Rule::AdDisabledLyncEnabled, risk, why, next)
    }
}

fn certificate_sign_in(user: &DirectoryUser, until: OffsetDateTime) -> Finding {
    let enabled = user.lync.as_ref().is_some_and(|l| l.enabled);
    let risk = if enabled { Risk::High } else { Risk::Medium };
    let why = if enabled {
        format!(
            "{}; a saved-password certificate signs in with no AD check until {}.",
            disabled_since(user),
            when(until)
        )
    } else {
        format!(
            "{}; a certificate valid until {} would sign in again the moment Lync is re-enabled.",
            disabled_since(user),
            when(until)
        )
    };
    let revoke = Cmdlet::RevokeCsClientCertificate {
        identity: identity(user),
    };
    let next = format!("Revoke it: {} (cannot be undone).", revoke.render());
    Finding {
        since: user.ad.disabled_since,
        until: Some(until),
        ..finding(user, Rule::CertificateSignIn, risk, why, next)
    }
}

fn stage_two_overdue(user: &DirectoryUser, lync: &LyncAccount, grace: Duration) -> Finding {
    let why = format!(
        "Temporarily disabled since {} (grace period {} days): stage 2 never ran, so the account and its data linger.",
        when(lync.enabled_changed),
        grace.whole_days()
    );
    let next = match &lync.registrar_pool {
        Some(pool) => format!(
            "Back up ({}), then remove ({}).",
            Cmdlet::ExportCsUserData {
                pool_fqdn: pool.clone(),
                user_filter: lync.sip_address.without_scheme(),
                file_name: format!("{}.zip", user.ad.sam_account_name),
            }
            .render(),
            Cmdlet::DisableCsUser {
                identity: identity(user)
            }
            .render()
        ),
        None => "Homed online: finish the removal in Lync Online.".to_owned(),
    };
    Finding {
        since: Some(lync.enabled_changed + grace),
        ..finding(user, Rule::StageTwoOverdue, Risk::Low, why, next)
    }
}

fn sip_renamed(user: &DirectoryUser) -> Finding {
    let sip = user
        .lync
        .as_ref()
        .map(|l| l.sip_address.to_string())
        .unwrap_or_default();
    let why = format!(
        "The SIP address {sip} does not match the UPN {}: renamed, and no open request explains it.",
        user.ad.user_principal_name
    );
    let next = "Find out who renamed it and why; finish with Disable-CsUser once the grace period is over, \
                or set the old address back if it was a mistake."
        .to_owned();
    Finding {
        since: None,
        ..finding(user, Rule::SipRenamedUnexplained, Risk::Medium, why, next)
    }
}

#[cfg(test)]
mod tests;
