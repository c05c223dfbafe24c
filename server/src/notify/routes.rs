//! Who hears of what: approvers when a request waits for them (and once more when it is overdue),
//! the requester when it is decided and done, admins when a request is approved, fails or stage 2
//! falls due or a bulk filing is held for them, the security address of high-risk findings and the daily digest. Every webhook
//! receives every event.

use super::{Event, Notice};
use crate::store::StoreError;
use crate::store::outbox::Outbox;
use deprov_wire::notify::Channel;
use deprov_wire::people::Role;
use deprov_wire::workflow::RequestState;
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// How long an AD sign-in keeps someone on the mailing lists of their roles: AD people are known
/// only from signing in, and someone who left the role months ago should not hear of its work.
const AD_PERSON_KEPT: time::Duration = time::Duration::days(90);

/// Who an event is for, before addresses are looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Everyone with the role, except whoever the event is from.
    Role(Role),
    /// The person who filed the request.
    Requester,
    /// The configured security address (high-risk findings come as a digest).
    Security,
}

/// The audiences of `event` by mail.
pub fn audiences(event: &Event) -> Vec<Audience> {
    match &event.notice {
        Notice::RequestFiled | Notice::RequestOverdue => vec![Audience::Role(Role::Approver)],
        Notice::RequestDecided { state, .. } if *state == RequestState::Approved => {
            vec![Audience::Requester, Audience::Role(Role::Admin)]
        }
        // One approval of several moves nothing yet: nobody needs a mail about it.
        Notice::RequestDecided { state, .. } if *state == RequestState::PendingApproval => vec![],
        Notice::RequestDecided { .. }
        | Notice::StageOneDone { .. }
        | Notice::RequestDone { .. } => {
            vec![Audience::Requester]
        }
        Notice::StageTwoDue
        | Notice::StepFailed { .. }
        | Notice::StepNotAsPredicted { .. }
        | Notice::BatchHeld { .. } => vec![Audience::Role(Role::Admin)],
        Notice::HighRiskFinding { .. } | Notice::DailyDigest { .. } => vec![Audience::Security],
    }
}

/// Where events go: whether mail is on, the security address, the webhooks' URLs.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    pub mail: bool,
    pub security: Option<String>,
    pub webhooks: Vec<String>,
}

impl Routes {
    /// Every (channel, recipient) `event` goes to, each once.
    pub async fn recipients(
        &self,
        db: Outbox<'_>,
        event: &Event,
    ) -> Result<Vec<(Channel, String)>, StoreError> {
        let mut mail = BTreeSet::new();
        if self.mail {
            let request = event.request.as_ref();
            // The actor of a decision, and a request's filer, need no mail about their own act.
            let actor = match &event.notice {
                Notice::RequestDecided { by, .. } => Some(by.as_str()),
                Notice::BatchHeld { filed_by, .. } => Some(filed_by.as_str()),
                Notice::RequestFiled | Notice::RequestOverdue => {
                    request.map(|r| r.requested_by.as_str())
                }
                _ => None,
            };
            let people = addresses(db).await?;
            for audience in audiences(event) {
                match audience {
                    Audience::Role(role) => mail.extend(
                        people
                            .iter()
                            .filter(|p| p.roles.contains(&role))
                            .filter(|p| actor.is_none_or(|a| !p.name.eq_ignore_ascii_case(a)))
                            .map(|p| p.address.to_lowercase()),
                    ),
                    Audience::Requester => mail.extend(
                        request
                            .map(|r| r.requested_by.as_str())
                            .filter(|filer| actor.is_none_or(|a| !filer.eq_ignore_ascii_case(a)))
                            .and_then(|filer| {
                                people.iter().find(|p| p.name.eq_ignore_ascii_case(filer))
                            })
                            .map(|p| p.address.to_lowercase()),
                    ),
                    Audience::Security => mail.extend(self.security.clone()),
                }
            }
        }
        Ok(mail
            .into_iter()
            .map(|address| (Channel::Mail, address))
            .chain(
                self.webhooks
                    .iter()
                    .map(|url| (Channel::Webhook, url.clone())),
            )
            .collect())
    }
}

/// Someone deprov can write to.
struct Person {
    name: String,
    address: String,
    roles: Vec<Role>,
}

/// Local accounts with an address, and AD people who signed in lately.
async fn addresses(db: Outbox<'_>) -> Result<Vec<Person>, StoreError> {
    let recent = OffsetDateTime::now_utc() - AD_PERSON_KEPT;
    let mut people = Vec::new();
    for addressee in db.addressees(recent).await? {
        let name = addressee.name;
        // One unreadable row must not stop every mail: that person is left out, loudly.
        match addressee.roles {
            Ok(roles) => people.push(Person {
                name,
                address: addressee.address,
                roles,
            }),
            Err(error) => {
                tracing::error!(%name, %error, "notifications: this person's roles are unreadable; they get no mail")
            }
        }
    }
    Ok(people)
}

/// Remembers an AD person at sign-in: their address and roles as AD says now.
///
/// On a pooled connection, outside any write: a sign-in does not wait for the writer gate.
pub async fn remember_ad_person(
    store: &crate::store::Store,
    principal: &str,
    mail: Option<&str>,
    roles: &[Role],
) -> Result<(), StoreError> {
    store
        .read()
        .await?
        .people()
        .remember_ad_person(principal, mail, roles, OffsetDateTime::now_utc())
        .await
}
