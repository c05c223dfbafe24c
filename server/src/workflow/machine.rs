//! The request state machine, pure: given where a request stands and what someone does, the next
//! state or why not. Roles are checked by the HTTP layer; this checks who the person is.

use deprov_wire::workflow::{DecisionKind, RequestState};

/// Where a request stands, as far as deciding goes.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub state: RequestState,
    pub requested_by: &'a str,
    pub approved_by: &'a [String],
    pub approvals_needed: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act<'a> {
    Approve {
        by: &'a str,
    },
    Reject {
        by: &'a str,
    },
    /// The requester (before execution), or, for an approved request that has not run, an
    /// approver or admin (`others` says the person holds one of those roles).
    Cancel {
        by: &'a str,
        others: bool,
    },
    /// Pending past the portal's limit.
    Expire,
}

impl<'a> Act<'a> {
    /// Who acts: a person, or deprov itself for an expiry.
    pub fn by(self) -> &'a str {
        match self {
            Act::Approve { by } | Act::Reject { by } | Act::Cancel { by, .. } => by,
            Act::Expire => "deprov",
        }
    }

    pub fn kind(self) -> DecisionKind {
        match self {
            Act::Approve { .. } => DecisionKind::Approve,
            Act::Reject { .. } => DecisionKind::Reject,
            Act::Cancel { .. } => DecisionKind::Cancel,
            Act::Expire => DecisionKind::Expire,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("This request is already {0}: there is nothing left to decide.")]
    Closed(&'static str),
    #[error("This request is already approved.")]
    AlreadyApproved,
    #[error("You requested this removal: somebody else must approve or reject it.")]
    OwnRequest,
    #[error("You have already approved this request; it needs an approval from somebody else.")]
    ApprovedTwice,
    #[error(
        "Only {0}, who requested it, can cancel this request (an approver or admin can once it is approved)."
    )]
    NotRequester(String),
    #[error("Only a request waiting for approval can expire.")]
    NotPending,
    #[error("Execution has started (the request is now: {0}): deciding or cancelling is over.")]
    Executing(&'static str),
}

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The state after `act`, or why `act` is refused.
pub fn next(facts: Facts<'_>, act: Act<'_>) -> Result<RequestState, Refusal> {
    use RequestState::*;
    match (facts.state, act) {
        (Executing | StageOneDone | Failed | Removed | RolledBack | Restored, _) => {
            Err(Refusal::Executing(facts.state.label()))
        }
        (Rejected | Cancelled | Expired, _) => Err(Refusal::Closed(match facts.state {
            Rejected => "rejected",
            Cancelled => "cancelled",
            _ => "expired",
        })),
        (PendingApproval, Act::Approve { by }) => {
            if same(by, facts.requested_by) {
                return Err(Refusal::OwnRequest);
            }
            if facts.approved_by.iter().any(|a| same(a, by)) {
                return Err(Refusal::ApprovedTwice);
            }
            let approvals = facts.approved_by.len() as u32 + 1;
            Ok(if approvals >= facts.approvals_needed {
                Approved
            } else {
                PendingApproval
            })
        }
        (PendingApproval, Act::Reject { by }) => {
            if same(by, facts.requested_by) {
                return Err(Refusal::OwnRequest);
            }
            Ok(Rejected)
        }
        (Approved, Act::Approve { .. } | Act::Reject { .. }) => Err(Refusal::AlreadyApproved),
        (state @ (PendingApproval | Approved), Act::Cancel { by, others }) => {
            let allowed = same(by, facts.requested_by) || (others && state == Approved);
            if !allowed {
                return Err(Refusal::NotRequester(facts.requested_by.to_owned()));
            }
            Ok(Cancelled)
        }
        (PendingApproval, Act::Expire) => Ok(Expired),
        (Approved, Act::Expire) => Err(Refusal::NotPending),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestState::*;

    fn facts<'a>(state: RequestState, approved_by: &'a [String], needed: u32) -> Facts<'a> {
        Facts {
            state,
            requested_by: "manager",
            approved_by,
            approvals_needed: needed,
        }
    }

    #[test]
    fn one_approval_from_somebody_else_approves() {
        assert_eq!(
            next(
                facts(PendingApproval, &[], 1),
                Act::Approve { by: "approver" }
            ),
            Ok(Approved)
        );
    }

    #[test]
    fn nobody_approves_or_rejects_their_own_request_whatever_the_case() {
        assert_eq!(
            next(
                facts(PendingApproval, &[], 1),
                Act::Approve { by: "MANAGER" }
            ),
            Err(Refusal::OwnRequest)
        );
        assert_eq!(
            next(
                facts(PendingApproval, &[], 1),
                Act::Reject { by: "manager" }
            ),
            Err(Refusal::OwnRequest)
        );
    }

    #[test]
    fn protected_users_need_two_different_approvers() {
        let first = vec!["approver".to_owned()];
        assert_eq!(
            next(
                facts(PendingApproval, &[], 2),
                Act::Approve { by: "approver" }
            ),
            Ok(PendingApproval)
        );
        assert_eq!(
            next(
                facts(PendingApproval, &first, 2),
                Act::Approve { by: "Approver" }
            ),
            Err(Refusal::ApprovedTwice)
        );
        assert_eq!(
            next(
                facts(PendingApproval, &first, 2),
                Act::Approve { by: "approver2" }
            ),
            Ok(Approved)
        );
    }

    #[test]
    fn a_rejection_closes_the_request() {
        assert_eq!(
            next(
                facts(PendingApproval, &[], 1),
                Act::Reject { by: "approver" }
            ),
            Ok(Rejected)
        );
        assert_eq!(
            next(facts(Rejected, &[], 1), Act::Approve { by: "approver" }),
            Err(Refusal::Closed("rejected"))
        );
    }

    #[test]
    fn an_approver_or_admin_cancels_an_approved_request_but_not_a_pending_one() {
        assert_eq!(
            next(
                facts(Approved, &[], 1),
                Act::Cancel {
                    by: "approver",
                    others: true
                }
            ),
            Ok(Cancelled)
        );
        assert!(matches!(
            next(
                facts(PendingApproval, &[], 1),
                Act::Cancel {
                    by: "approver",
                    others: true
                }
            ),
            Err(Refusal::NotRequester(_))
        ));
        assert!(matches!(
            next(
                facts(Executing, &[], 1),
                Act::Cancel {
                    by: "admin",
                    others: true
                }
            ),
            Err(Refusal::Executing(_))
        ));
    }

    #[test]
    fn only_the_requester_cancels_and_only_before_execution() {
        assert_eq!(
            next(
                facts(PendingApproval, &[], 1),
                Act::Cancel {
                    by: "manager",
                    others: false
                }
            ),
            Ok(Cancelled)
        );
        assert_eq!(
            next(
                facts(Approved, &[], 1),
                Act::Cancel {
                    by: "manager",
                    others: false
                }
            ),
            Ok(Cancelled)
        );
        assert_eq!(
            next(
                facts(PendingApproval, &[], 1),
                Act::Cancel {
                    by: "approver",
                    others: false
                }
            ),
            Err(Refusal::NotRequester("manager".into()))
        );
        assert_eq!(
            next(
                facts(Cancelled, &[], 1),
                Act::Cancel {
                    by: "manager",
                    others: false
                }
            ),
            Err(Refusal::Closed("cancelled"))
        );
    }

    #[test]
    fn an_approved_request_takes_no_second_decision() {
        assert_eq!(
            next(facts(Approved, &[], 1), Act::Approve { by: "approver2" }),
            Err(Refusal::AlreadyApproved)
        );
        assert_eq!(
            next(facts(Approved, &[], 1), Act::Reject { by: "approver2" }),
            Err(Refusal::AlreadyApproved)
        );
    }

    #[test]
    fn once_execution_starts_nobody_decides_or_cancels() {
        for state in [
            Executing,
            StageOneDone,
            Failed,
            Removed,
            RolledBack,
            Restored,
        ] {
            for act in [
                Act::Approve { by: "approver" },
                Act::Reject { by: "approver" },
                Act::Cancel {
                    by: "manager",
                    others: false,
                },
                Act::Expire,
            ] {
                assert_eq!(
                    next(facts(state, &[], 1), act),
                    Err(Refusal::Executing(state.label())),
                    "{state:?} {act:?}"
                );
            }
        }
    }

    #[test]
    fn only_pending_requests_expire() {
        assert_eq!(
            next(facts(PendingApproval, &[], 1), Act::Expire),
            Ok(Expired)
        );
        assert_eq!(
            next(facts(Approved, &[], 1), Act::Expire),
            Err(Refusal::NotPending)
        );
        assert_eq!(
            next(facts(Expired, &[], 1), Act::Expire),
            Err(Refusal::Closed("expired"))
        );
    }
}
