//! The ways to cut a user off (DOMAIN.md, "What each method does") and the portal's prediction
//! of what each would do to one user right now.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A de-provisioning method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Disable the AD account only (what most shops do, and why this product exists).
    DisableAdOnly,
    /// `Set-CsUser -Enabled $false`: stage 1 of the recommended process.
    TemporarilyDisable,
    /// `Disable-CsUser`: stage 2, deletes everything.
    RemoveFromLync,
    /// `Revoke-CsClientCertificate`.
    RevokeCertificate,
    /// `Set-CsUser -SipAddress` with a new left-hand side: immediate disconnect.
    RenameSipAddress,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Self::DisableAdOnly,
        Self::TemporarilyDisable,
        Self::RemoveFromLync,
        Self::RevokeCertificate,
        Self::RenameSipAddress,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::DisableAdOnly => "Disable the AD account only",
            Self::TemporarilyDisable => "Temporarily disable in Lync",
            Self::RemoveFromLync => "Remove from Lync",
            Self::RevokeCertificate => "Revoke client certificates",
            Self::RenameSipAddress => "Rename the SIP address",
        }
    }

    /// The method in one line, whatever the user: what it is good for, and its catch.
    pub fn verdict(self) -> &'static str {
        match self {
            Self::DisableAdOnly => {
                "Not enough on its own: signed-in sessions and saved-password certificates keep Lync working."
            }
            Self::TemporarilyDisable => {
                "The usual first step: blocks new sign-ins, sessions fail within 5 minutes, data kept, undone in one command."
            }
            Self::RemoveFromLync => {
                "The last step, after a backup: contacts, conferences and policies are deleted; only a blank account comes back."
            }
            Self::RevokeCertificate => {
                "Closes the certificate sign-in for good (about 3 minutes); signed-in sessions are untouched; cannot be undone."
            }
            Self::RenameSipAddress => {
                "Cuts signed-in sessions at once, for a hostile exit; undone by setting the old address back."
            }
        }
    }
}

/// How bad an outcome is for the person acting, so the page can colour it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    /// What the person wants: access cut, data kept, undoable.
    Good,
    /// A delay, or a partial effect.
    Caution,
    /// Access remains, or data is destroyed, or it cannot be undone.
    Bad,
}

/// One cell of the prediction table: a sentence and its tone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Outcome {
    pub text: String,
    pub tone: Tone,
}

impl Outcome {
    pub fn good(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            tone: Tone::Good,
        }
    }
    pub fn caution(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            tone: Tone::Caution,
        }
    }
    pub fn bad(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            tone: Tone::Bad,
        }
    }
}

/// What one method would do to one user if run at `as_of`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MethodPrediction {
    pub method: Method,
    /// The command as it would run (rendered by `Cmdlet::render`), or `None` for the AD-only method.
    pub command: Option<String>,
    /// Why the portal would refuse this method for this user, if it would.
    pub refused: Option<String>,
    pub signed_in_sessions: Outcome,
    pub new_sign_in: Outcome,
    pub data: Outcome,
    pub reversible: Outcome,
    /// Dated consequences, earliest first ("IM stops working at 14:05").
    pub timeline: Vec<TimelineEntry>,
}

/// A dated consequence of an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimelineEntry {
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: OffsetDateTime,
    pub what: String,
}
