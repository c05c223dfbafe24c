//! Who hears of what: approvers when a request waits for them (and once more when it is overdue),
//! the requester when it is decided and done, admins when a request is approved, fails or stage 2
//! falls due or a bulk filing is held for them, the security address of high-risk findings and the daily digest. Every webhook
//! receives every event.

use super::{Event, Notice};
use crate::people::accounts::parse_roles;
use crate::store::{StoreError, stamp};
use deprov_wire::notify::Channel;
use deprov_wire::people::Role;
use deprov_wire::workflow::RequestState;
use sqlx::{AnyConnection, Row};
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
        db: &mut AnyConnection,
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
async fn addresses(db: &mut AnyConnection) -> Result<Vec<Person>, StoreError> {
    let recent = stamp(OffsetDateTime::now_utc() - AD_PERSON_KEPT);
    let rows = sqlx::query(
        "SELECT name, email AS address, roles FROM accounts WHERE disabled = 0 AND COALESCE(email, '') <> '' \
         UNION ALL SELECT principal, mail, roles FROM ad_people \
         WHERE COALESCE(mail, '') <> '' AND julianday(last_sign_in) >= julianday($1)",
    )
    .bind(recent)
    .fetch_all(&mut *db)
    .await?;
    let mut people = Vec::with_capacity(rows.len());
    for row in &rows {
        let name: String = row.try_get("name")?;
        // One unreadable row must not stop every mail: that person is left out, loudly.
        match parse_roles(&row.try_get::<String, _>("roles")?) {
            Ok(roles) => people.push(Person {
                name,
                address: row.try_get("address")?,
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
pub async fn remember_ad_person(
    store: &crate::store::Store,
    principal: &str,
    mail: Option<&str>,
    roles: &[Role],
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ad_people (principal, mail, roles, last_sign_in) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (principal) DO UPDATE SET mail = excluded.mail, roles = excluded.roles, \
         last_sign_in = excluded.last_sign_in",
    )
    .bind(principal)
    .bind(mail)
    .bind(crate::people::accounts::roles_text(roles))
    .bind(stamp(OffsetDateTime::now_utc()))
    .execute(store.pool())
    .await?;
    Ok(())
}
