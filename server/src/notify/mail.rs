//! Mail over SMTP (lettre): what each event says, to whom, with a link to the page where the
//! reader acts.
//!
//! `smtps://` is TLS from the first byte; `smtp://` upgrades with STARTTLS, and goes in clear
//! text only to a relay on this machine (loopback), where it never crosses a network.

use super::{Event, Notice};
use crate::backend::ldap::settings::Secret;
use crate::predict::when;
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// Findings listed one by one in a digest; the rest are counted.
const DIGEST_LISTED: usize = 50;

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// `smtps://`: TLS from the first byte.
    Tls,
    /// `smtp://` to another machine: STARTTLS, or no mail (a relay that does not offer it is
    /// refused rather than sent passwords and leavers' names in clear).
    StartTls,
    /// `smtp://` to this machine: STARTTLS when offered; clear text never leaves the host.
    StartTlsIfOffered,
}

/// The protection and default port for `scheme` to `host`.
fn security(scheme: &str, host: &str) -> Result<(Security, u16), String> {
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match scheme {
        "smtps" => Ok((Security::Tls, 465)),
        "smtp" if loopback => Ok((Security::StartTlsIfOffered, 25)),
        "smtp" => Ok((Security::StartTls, 587)),
        other => Err(format!(
            "the scheme is smtp:// (STARTTLS) or smtps:// (TLS), not {other}://"
        )),
    }
}

/// An SMTP relay and the sender's address.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// Where links in mails point: `--public-url`, without a trailing slash.
    public_url: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

impl Mailer {
    /// A mailer for `url` (`smtp://host[:port]` or `smtps://host[:port]`), sending as `from`,
    /// signing in as `credentials` if given.
    pub fn new(
        url: &str,
        from: &str,
        credentials: Option<(String, Secret)>,
        public_url: &str,
    ) -> Result<Self, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("--smtp-url {url}: {e}"))?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| {
                format!("--smtp-url {url}: name the server, e.g. smtp://mail.example.com")
            })?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let (security, default_port) =
            security(parsed.scheme(), &host).map_err(|why| format!("--smtp-url {url}: {why}"))?;
        let parameters = TlsParameters::new(host.clone())
            .map_err(|e| format!("--smtp-url {url}: cannot set up TLS: {e}"))?;
        let tls = match security {
            Security::Tls => Tls::Wrapper(parameters),
            Security::StartTls => Tls::Required(parameters),
            Security::StartTlsIfOffered => Tls::Opportunistic(parameters),
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(format!(
                "--smtp-url {url}: no credentials in the URL (they would show in process lists); use --smtp-user and --smtp-password-file"
            ));
        }
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("--smtp-from {from}: not a mail address: {e}"))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(parsed.port().unwrap_or(default_port))
            .tls(tls)
            .timeout(Some(Duration::from_secs(30)));
        if let Some((user, password)) = credentials {
            builder = builder.credentials(Credentials::new(user, password.expose().to_owned()));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            public_url: public_url.trim_end_matches('/').to_owned(),
        })
    }

    /// Sends one mail to `to`; `message_id` is the same on every retry.
    pub async fn send(
        &self,
        to: &str,
        message_id: &str,
        subject: &str,
        body: String,
    ) -> Result<String, String> {
        let to: Mailbox = to.parse().map_err(|e| format!("not a mail address: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{message_id}@deprov>")))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| format!("cannot build the mail: {e}"))?;
        let response = self
            .transport
            .send(message)
            .await
            .map_err(|e| format!("not sent: {e}"))?;
        Ok(format!(
            "{} {}",
            response.code(),
            response.message().collect::<Vec<_>>().join(" ")
        ))
    }

    /// The subject and body of the mail about `event`.
    pub fn compose(&self, event: &Event) -> (String, String) {
        let base = &self.public_url;
        let Some(request) = &event.request else {
            return match &event.notice {
                Notice::BatchHeld {
                    batch,
                    filed_by,
                    users,
                } => (
                    format!("Batch #{batch} of {users} requests waits for a second admin"),
                    format!(
                        "{filed_by} filed {users} requests at once: more than deprov files in an hour without a second admin                          (the blast-radius limit). Nothing is filed until an admin other than {filed_by} confirms the batch.\n\n                         See who it would cut off, and confirm or discard it: {base}/requests#batches\n"
                    ),
                ),
                Notice::DailyDigest {
                    head_seq,
                    head_hash,
                    open_requests,
                } => (
                    "deprov daily digest".to_owned(),
                    format!(
                        "Open requests: {open_requests}.\n\nThe audit log's head on {}: row {head_seq}, hash {head_hash}.\n\
                         Keep this mail: `deprov audit verify --anchor {head_seq}:{head_hash}` fails if rows up to it were \
                         removed or changed.\n\nThe audit log: {base}/audit\n",
                        when(event.at)
                    ),
                ),
                _ => self.digest(std::slice::from_ref(event)),
            };
        };
        let who = format!(
            "{} ({})",
            request.user_display_name, request.user_sam_account_name
        );
        let link = format!("{base}/requests/{}", request.id);
        let reference = request
            .external_ref
            .as_deref()
            .map(|r| format!(" (reference {r})"))
            .unwrap_or_default();
        let id = request.id;
        let (subject, text) = match &event.notice {
            Notice::RequestFiled => (
                format!("Request #{id} waits for your approval: {who}"),
                format!(
                    "{} asks to de-provision {who} from Lync: {}{reference}.\nOnly an approver other than the requester can sign it off.",
                    request.requested_by,
                    request.urgency.label()
                ),
            ),
            Notice::RequestOverdue => (
                format!("Reminder: request #{id} is overdue for approval: {who}"),
                format!(
                    "Request #{id} to de-provision {who}{reference}, filed by {}, still waits for approval.",
                    request.requested_by
                ),
            ),
            Notice::RequestDecided {
                decision,
                by,
                state,
                comment,
            } => (
                format!("Request #{id} {}: {who}", state.label().to_lowercase()),
                format!(
                    "{by} {} request #{id} to de-provision {who}{reference}.{}\nIt is now: {}.",
                    decision.past(),
                    if comment.is_empty() {
                        String::new()
                    } else {
                        format!("\nComment: {comment}")
                    },
                    state.label()
                ),
            ),
            Notice::StageOneDone { stage_two_due_at } => (
                format!("Request #{id}: {who} is cut off from Lync"),
                format!(
                    "Stage 1 of request #{id}{reference} is done: {who} can no longer sign in to Lync.{}",
                    stage_two_due_at
                        .map(|d| format!("\nStage 2 (removal) is due {}.", when(d)))
                        .unwrap_or_default()
                ),
            ),
            Notice::StageTwoDue => (
                format!("Request #{id}: stage 2 is due for {who}"),
                format!(
                    "The grace period of request #{id}{reference} is over: stage 2 can remove {who} from Lync (a backup is taken first)."
                ),
            ),
            Notice::RequestDone { state } => (
                format!("Request #{id} is done: {who}"),
                format!("Request #{id}{reference} is done: {}.", state.label()),
            ),
            Notice::StepFailed { operation, error } => (
                format!("Request #{id}: {} failed for {who}", operation.label()),
                format!(
                    "{} of request #{id}{reference} stopped on a failed step: {error}\nRetry it or roll back from the request's page.",
                    operation.label()
                ),
            ),
            Notice::StepNotAsPredicted {
                operation,
                step,
                observed,
            } => (
                format!("Request #{id}: a step did not do what was predicted for {who}"),
                format!(
                    "{} of request #{id}{reference} ran `{step}`, but reading the user back shows: {observed}",
                    operation.label()
                ),
            ),
            Notice::HighRiskFinding { .. }
            | Notice::DailyDigest { .. }
            | Notice::BatchHeld { .. } => (format!("Request #{id}"), String::new()),
        };
        (
            subject,
            format!(
                "{text}\n\nOpen the request: {link}\n\nRaised {}.\n",
                when(event.at)
            ),
        )
    }

    /// One mail for several high-risk findings.
    pub fn digest(&self, events: &[Event]) -> (String, String) {
        let lines: Vec<String> = events
            .iter()
            .filter_map(|e| match &e.notice {
                Notice::HighRiskFinding {
                    display_name,
                    sam_account_name,
                    why,
                    ..
                } => Some(format!("- {display_name} ({sam_account_name}): {why}")),
                _ => None,
            })
            .collect();
        let more = lines.len().saturating_sub(DIGEST_LISTED);
        let subject = match lines.len() {
            1 => "deprov: a new high-risk finding".to_owned(),
            n => format!("deprov: {n} new high-risk findings"),
        };
        let mut body = lines
            .into_iter()
            .take(DIGEST_LISTED)
            .collect::<Vec<_>>()
            .join("\n");
        if more > 0 {
            body.push_str(&format!("\n... and {more} more."));
        }
        body.push_str(&format!(
            "\n\nAD-disabled users who can still use Lync. The report: {}/report\n",
            self.public_url
        ));
        (subject, body)
    }
}

#[cfg(test)]
mod tests {
    use super::{Mailer, Security, security};

    #[test]
    fn clear_text_never_leaves_the_machine() {
        assert_eq!(
            security("smtp", "mail.contoso.com"),
            Ok((Security::StartTls, 587))
        );
        assert_eq!(security("smtp", "10.0.0.5"), Ok((Security::StartTls, 587)));
        for host in ["localhost", "127.0.0.1", "::1"] {
            assert_eq!(
                security("smtp", host),
                Ok((Security::StartTlsIfOffered, 25)),
                "{host}"
            );
        }
        assert_eq!(
            security("smtps", "mail.contoso.com"),
            Ok((Security::Tls, 465))
        );
        assert!(security("http", "mail.contoso.com").is_err());
    }

    #[test]
    fn a_bad_setting_is_refused_with_its_flag() {
        let url =
            |u: &str| Mailer::new(u, "deprov@contoso.com", None, "https://deprov").unwrap_err();
        assert!(url("smtp://user:secret@mail.contoso.com").contains("--smtp-user"));
        assert!(url("imap://mail.contoso.com").contains("smtps://"));
        assert!(url("not a url").starts_with("--smtp-url"));
        let from = Mailer::new(
            "smtp://127.0.0.1:25",
            "not an address",
            None,
            "https://deprov",
        )
        .unwrap_err();
        assert!(from.starts_with("--smtp-from"), "{from}");
    }
}
