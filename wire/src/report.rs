//! The mismatch report: who can still use Lync although they should not (DOMAIN.md,
//! "The mismatch report"), and the events that keep an open page current.

use crate::directory::UserId;
use crate::workflow::OpenRequest;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Why an account is a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// AD disabled and Lync Enabled = True: the article's script.
    AdDisabledLyncEnabled,
    /// AD disabled and a client certificate that still allows sign-in, whatever Enabled says.
    CertificateSignIn,
    /// Lync temporarily disabled for longer than the grace period and never removed.
    StageTwoOverdue,
    /// SIP left-hand side disjoint from the UPN with no open request that explains it.
    SipRenamedUnexplained,
}

impl Rule {
    pub const ALL: [Rule; 4] = [
        Self::AdDisabledLyncEnabled,
        Self::CertificateSignIn,
        Self::StageTwoOverdue,
        Self::SipRenamedUnexplained,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AdDisabledLyncEnabled => "ad_disabled_lync_enabled",
            Self::CertificateSignIn => "certificate_sign_in",
            Self::StageTwoOverdue => "stage_two_overdue",
            Self::SipRenamedUnexplained => "sip_renamed_unexplained",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|rule| rule.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::AdDisabledLyncEnabled => "AD disabled, Lync enabled",
            Self::CertificateSignIn => "AD disabled, certificate still signs in",
            Self::StageTwoOverdue => "Stage 2 overdue",
            Self::SipRenamedUnexplained => "SIP renamed, unexplained",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    High,
    Medium,
    Low,
}

/// One account breaking one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Finding {
    pub user_id: UserId,
    pub rule: Rule,
    pub display_name: String,
    pub sam_account_name: String,
    pub sip_address: Option<String>,
    pub department: String,
    pub registrar_pool: Option<String>,
    pub risk: Risk,
    /// Since when the rule holds (AD account disabled, grace period ended...).
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub since: Option<OffsetDateTime>,
    /// Until when it holds by itself, if it ends (the certificate's expiry).
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub until: Option<OffsetDateTime>,
    /// Why this is a finding, in a sentence.
    pub why: String,
    /// What to do next, in a sentence (with the cmdlet where there is one).
    pub next_action: String,
    pub protected: bool,
    pub homed_online: bool,
    /// The user's open request: the finding is being dealt with ("#12 waiting for approval",
    /// "stage 2 due ..."), and no second request can be filed.
    #[serde(default)]
    pub open_request: Option<OpenRequest>,
    /// An accepted exception for this rule takes the finding out of the count until it ends: it
    /// is then listed apart, with the excluded accounts.
    #[serde(default)]
    pub exception: Option<AcceptedException>,
}

impl Finding {
    /// A finding is one user under one rule.
    pub fn key(&self) -> FindingKey {
        FindingKey {
            user_id: self.user_id,
            rule: self.rule,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FindingKey {
    pub user_id: UserId,
    pub rule: Rule,
}

/// A finding an admin or auditor decided to live with, for a reason, until a date (by the
/// deployment's clock); audited when recorded and when ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcceptedException {
    pub id: i64,
    pub user_id: UserId,
    pub display_name: String,
    /// The rules the user broke when it was accepted: a rule broken later still counts.
    pub rules: Vec<Rule>,
    pub reason: String,
    pub accepted_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub accepted_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub until: OffsetDateTime,
}

/// `POST /api/exceptions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewException {
    pub user_id: UserId,
    /// Why the finding is accepted (who decided, on what grounds).
    pub reason: String,
    /// Until when: in the future, at most [`MAX_EXCEPTION_DAYS`] days ahead.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub until: OffsetDateTime,
}

/// The longest an exception lasts before someone must look again.
pub const MAX_EXCEPTION_DAYS: i64 = 365;

/// `GET /api/exceptions`: the exceptions in force, soonest to end first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExceptionList {
    pub exceptions: Vec<AcceptedException>,
}

/// Findings per rule, in `Rule::ALL` order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleCounts {
    pub ad_disabled_lync_enabled: usize,
    pub certificate_sign_in: usize,
    pub stage_two_overdue: usize,
    pub sip_renamed_unexplained: usize,
}

impl RuleCounts {
    pub fn get(&self, rule: Rule) -> usize {
        match rule {
            Rule::AdDisabledLyncEnabled => self.ad_disabled_lync_enabled,
            Rule::CertificateSignIn => self.certificate_sign_in,
            Rule::StageTwoOverdue => self.stage_two_overdue,
            Rule::SipRenamedUnexplained => self.sip_renamed_unexplained,
        }
    }

    pub fn add(&mut self, rule: Rule) {
        match rule {
            Rule::AdDisabledLyncEnabled => self.ad_disabled_lync_enabled += 1,
            Rule::CertificateSignIn => self.certificate_sign_in += 1,
            Rule::StageTwoOverdue => self.stage_two_overdue += 1,
            Rule::SipRenamedUnexplained => self.sip_renamed_unexplained += 1,
        }
    }

    pub fn total(&self) -> usize {
        Rule::ALL.into_iter().map(|rule| self.get(rule)).sum()
    }
}

/// A rule the report could not apply to some users because what it reads is unknown (client
/// certificates without the Lync shell): those users are neither findings nor cleared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotEvaluated {
    pub rule: Rule,
    /// Users the rule could not be decided for.
    pub users: usize,
    /// Why, in a sentence.
    pub why: String,
}

/// The findings count at one moment, for the chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryPoint {
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: OffsetDateTime,
    pub counts: RuleCounts,
}

/// `GET /api/report/mismatches` and the stream's first event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MismatchReport {
    /// Grows by one with every change; a stream's `changed` events chain from it.
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub computed_at: OffsetDateTime,
    pub counts: RuleCounts,
    /// One page of the findings the filter keeps, risk first: it starts at `offset` of `total`.
    /// The stream opens with the first page; the CSV export holds them all.
    pub findings: Vec<Finding>,
    pub offset: usize,
    /// How many findings the filter keeps in all.
    pub total: usize,
    /// Every registrar pool and every department among all the findings, for the filter menus.
    pub pools: Vec<String>,
    pub departments: Vec<String>,
    /// Accounts on the exclusion list that would otherwise be findings: shown apart, never counted.
    pub excluded: Vec<Finding>,
    /// The exclusion list itself (OUs and account names), so it is visible.
    pub exclusions: Vec<String>,
    pub grace_period_days: u32,
    pub history: Vec<HistoryPoint>,
    /// Rules not decided for some users, and why (empty when everything was known).
    #[serde(default)]
    pub not_evaluated: Vec<NotEvaluated>,
}

/// The stream's `total` event, after each change on a filtered stream: how many findings the
/// stream's filter keeps as of `version` (unfiltered, it is the counts' total).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FilteredTotal {
    pub version: u64,
    pub total: usize,
}

/// What the stream sends after the first report: what changed from one version to the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportChange {
    pub from_version: u64,
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub computed_at: OffsetDateTime,
    pub counts: RuleCounts,
    pub added: Vec<Finding>,
    pub removed: Vec<FindingKey>,
    pub excluded_added: Vec<Finding>,
    pub excluded_removed: Vec<FindingKey>,
    /// A new point for the chart, when the counts moved.
    pub history: Option<HistoryPoint>,
    /// As in the report: rules not decided for some users.
    #[serde(default)]
    pub not_evaluated: Vec<NotEvaluated>,
}
