//! Webhooks: each event POSTed as JSON to every `--webhook` URL, signed with that hook's secret.
//!
//! `X-Deprov-Signature: t=TIMESTAMP,v1=HEX`, where HEX is HMAC-SHA256 under the secret of
//! `TIMESTAMP.BODY` (the Unix time in seconds, a dot, the exact body). A receiver recomputes it,
//! compares in constant time, and refuses a timestamp more than a few minutes off: a captured
//! request cannot be replayed later or altered. `X-Deprov-Idempotency-Key` is the same on every
//! retry of one event to one hook.

use crate::backend::ldap::settings::Secret;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

/// The shortest secret accepted: a webhook signature is only as strong as its secret.
const MIN_SECRET: usize = 16;

/// One configured webhook.
#[derive(Debug)]
pub struct Webhook {
    pub url: String,
    secret: Secret,
}

impl Webhook {
    /// The hook at `url`, with the secret in `secret_file`.
    pub fn new(url: &str, secret_file: &std::path::Path) -> Result<Self, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("--webhook {url}: {e}"))?;
        if !matches!(parsed.scheme(), "https" | "http") || parsed.host().is_none() {
            return Err(format!("--webhook {url}: give an http:// or https:// URL"));
        }
        let secret = Secret::from_file("--webhook-secret-file", secret_file)?;
        if secret.expose().len() < MIN_SECRET {
            return Err(format!(
                "--webhook-secret-file {}: a secret has at least {MIN_SECRET} characters (e.g. `openssl rand -hex 32`)",
                secret_file.display()
            ));
        }
        Ok(Self {
            url: url.to_owned(),
            secret,
        })
    }
}

/// The `X-Deprov-Signature` value for `body` sent at `timestamp`.
pub fn signature(secret: &[u8], timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("t={timestamp},v1={:x}", mac.finalize().into_bytes())
}

/// Sends webhooks.
#[derive(Clone)]
pub struct Poster {
    client: reqwest::Client,
}

impl Poster {
    pub fn new() -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(10))
            // A redirect would send the signed event somewhere nobody configured.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("deprov/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up the webhook client: {e}"))?;
        Ok(Self { client })
    }

    /// POSTs `body` (the event `kind`) to `hook`: Ok with the status on a 2xx, Err otherwise.
    pub async fn post(
        &self,
        hook: &Webhook,
        kind: &str,
        idempotency_key: &str,
        body: &str,
    ) -> Result<String, String> {
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let response = self
            .client
            .post(&hook.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Deprov-Event", kind)
            .header("X-Deprov-Idempotency-Key", idempotency_key)
            .header(
                "X-Deprov-Signature",
                signature(hook.secret.expose().as_bytes(), timestamp, body),
            )
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| format!("not sent: {}", error_chain(&e)))?;
        let status = response.status();
        let text = format!("HTTP {}", status.as_u16());
        if status.is_success() {
            Ok(text)
        } else {
            Err(text)
        }
    }
}

/// An error and its causes, on one line ("error sending request: connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn the_signature_covers_the_timestamp_and_the_body() {
        let a = signature(b"0123456789abcdef", 1_700_000_000, "{\"kind\":\"x\"}");
        assert!(a.starts_with("t=1700000000,v1="), "{a}");
        assert_eq!(a.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(
            a,
            signature(b"0123456789abcdef", 1_700_000_001, "{\"kind\":\"x\"}")
        );
        assert_ne!(
            a,
            signature(b"0123456789abcdef", 1_700_000_000, "{\"kind\":\"y\"}")
        );
        assert_ne!(
            a,
            signature(b"0123456789abcdeF", 1_700_000_000, "{\"kind\":\"x\"}")
        );
    }
}
