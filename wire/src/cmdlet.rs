//! The Lync Management Shell commands deprov runs, modelled as data.
//!
//! A backend receives a [`Cmdlet`] value and passes its [`parameters`](Cmdlet::parameters) as data
//! (splatting, in the PowerShell worker); no command line is ever built from user input.
//! [`Cmdlet::render`] exists only to show a person what will run, and is the one place that does.

use crate::directory::SipAddress;
use serde::{Deserialize, Serialize};

/// The per-user policy types deprov records before removal and re-grants on restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PolicyKind {
    Conferencing,
    ExternalAccess,
    Client,
    Voice,
    Archiving,
    Mobility,
    Presence,
    Pin,
}

impl PolicyKind {
    pub const ALL: [PolicyKind; 8] = [
        Self::Conferencing,
        Self::ExternalAccess,
        Self::Client,
        Self::Voice,
        Self::Archiving,
        Self::Mobility,
        Self::Presence,
        Self::Pin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Conferencing => "Conferencing",
            Self::ExternalAccess => "ExternalAccess",
            Self::Client => "Client",
            Self::Voice => "Voice",
            Self::Archiving => "Archiving",
            Self::Mobility => "Mobility",
            Self::Presence => "Presence",
            Self::Pin => "Pin",
        }
    }

    /// The kind Get-CsUser names ("Conferencing"...), any case.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(s))
    }

    /// The Grant-Cs*Policy cmdlet for this kind.
    pub fn grant_cmdlet(self) -> &'static str {
        match self {
            Self::Conferencing => "Grant-CsConferencingPolicy",
            Self::ExternalAccess => "Grant-CsExternalAccessPolicy",
            Self::Client => "Grant-CsClientPolicy",
            Self::Voice => "Grant-CsVoicePolicy",
            Self::Archiving => "Grant-CsArchivingPolicy",
            Self::Mobility => "Grant-CsMobilityPolicy",
            Self::Presence => "Grant-CsPresencePolicy",
            Self::Pin => "Grant-CsPinPolicy",
        }
    }
}

/// One Lync Management Shell command with its values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "cmdlet", rename_all = "snake_case")]
pub enum Cmdlet {
    /// `Set-CsUser -Identity X -Enabled $false|$true`: temporarily disable, or undo it.
    SetCsUserEnabled { identity: String, enabled: bool },
    /// `Set-CsUser -Identity X -SipAddress sip:new@domain`: rename the left-hand side.
    SetCsUserSipAddress {
        identity: String,
        sip_address: SipAddress,
    },
    /// `Disable-CsUser -Identity X`: remove from Lync, deleting every msRTCSIP attribute and all data.
    DisableCsUser { identity: String },
    /// `Enable-CsUser -Identity X -SipAddress ... -RegistrarPool ...`: all three are required.
    EnableCsUser {
        identity: String,
        sip_address: SipAddress,
        registrar_pool: String,
    },
    /// `Revoke-CsClientCertificate -Identity X` (the article's "Revoke-CsCertificate" does not exist).
    RevokeCsClientCertificate { identity: String },
    /// `Export-CsUserData -PoolFqdn ... -UserFilter user@domain -FileName backup.zip`.
    ExportCsUserData {
        pool_fqdn: String,
        user_filter: String,
        file_name: String,
    },
    /// `Update-CsUserData -Filename backup.zip -UserFilter user@domain`.
    UpdateCsUserData {
        file_name: String,
        user_filter: String,
    },
    /// `Grant-Cs<Kind>Policy -Identity X -PolicyName ...`.
    GrantPolicy {
        kind: PolicyKind,
        identity: String,
        policy_name: String,
    },
}

/// A parameter value as PowerShell receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParameterValue {
    Text(String),
    Bool(bool),
}

impl Cmdlet {
    /// The cmdlet's name as the shell knows it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::SetCsUserEnabled { .. } | Self::SetCsUserSipAddress { .. } => "Set-CsUser",
            Self::DisableCsUser { .. } => "Disable-CsUser",
            Self::EnableCsUser { .. } => "Enable-CsUser",
            Self::RevokeCsClientCertificate { .. } => "Revoke-CsClientCertificate",
            Self::ExportCsUserData { .. } => "Export-CsUserData",
            Self::UpdateCsUserData { .. } => "Update-CsUserData",
            Self::GrantPolicy { kind, .. } => kind.grant_cmdlet(),
        }
    }

    /// The named parameters, in the order they are shown; a worker splats exactly these.
    pub fn parameters(&self) -> Vec<(&'static str, ParameterValue)> {
        use ParameterValue::{Bool, Text};
        match self {
            Self::SetCsUserEnabled { identity, enabled } => {
                vec![
                    ("Identity", Text(identity.clone())),
                    ("Enabled", Bool(*enabled)),
                ]
            }
            Self::SetCsUserSipAddress {
                identity,
                sip_address,
            } => vec![
                ("Identity", Text(identity.clone())),
                ("SipAddress", Text(sip_address.to_string())),
            ],
            Self::DisableCsUser { identity } | Self::RevokeCsClientCertificate { identity } => {
                vec![("Identity", Text(identity.clone()))]
            }
            Self::EnableCsUser {
                identity,
                sip_address,
                registrar_pool,
            } => vec![
                ("Identity", Text(identity.clone())),
                ("SipAddress", Text(sip_address.to_string())),
                ("RegistrarPool", Text(registrar_pool.clone())),
            ],
            Self::ExportCsUserData {
                pool_fqdn,
                user_filter,
                file_name,
            } => vec![
                ("PoolFqdn", Text(pool_fqdn.clone())),
                ("UserFilter", Text(user_filter.clone())),
                ("FileName", Text(file_name.clone())),
            ],
            Self::UpdateCsUserData {
                file_name,
                user_filter,
            } => vec![
                ("Filename", Text(file_name.clone())),
                ("UserFilter", Text(user_filter.clone())),
            ],
            Self::GrantPolicy {
                identity,
                policy_name,
                ..
            } => vec![
                ("Identity", Text(identity.clone())),
                ("PolicyName", Text(policy_name.clone())),
            ],
        }
    }

    /// The command as a person would read it, values single-quoted with embedded quotes doubled.
    /// For display only: backends never execute this text.
    pub fn render(&self) -> String {
        let mut line = self.name().to_owned();
        for (name, value) in self.parameters() {
            line.push_str(" -");
            line.push_str(name);
            match value {
                ParameterValue::Bool(true) => line.push_str(" $true"),
                ParameterValue::Bool(false) => line.push_str(" $false"),
                ParameterValue::Text(text) => {
                    line.push(' ');
                    line.push_str(&quote(&text));
                }
            }
        }
        line
    }
}

/// The characters PowerShell takes for a single quote: the ASCII one and U+2018 to U+201B.
const SINGLE_QUOTES: [char; 5] = ['\'', '\u{2018}', '\u{2019}', '\u{201A}', '\u{201B}'];

/// A value single-quoted for reading, every single quote PowerShell recognises doubled (its
/// literal string), so a pasted name like `o’brien` cannot end the string early.
fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('\'');
    for c in text.chars() {
        quoted.push(c);
        if SINGLE_QUOTES.contains(&c) {
            quoted.push(c);
        }
    }
    quoted.push('\'');
    quoted
}

/// The read a backup makes, for display: `Get-CsUser -Identity '...'`. Reads are not cmdlets
/// deprov runs through [`Cmdlet`]; backends answer them with their directory read.
pub fn render_get_cs_user(identity: &str) -> String {
    format!("Get-CsUser -Identity {}", quote(identity))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_quote_powershell_recognises_is_doubled() {
        for quote_char in SINGLE_QUOTES {
            let cmd = Cmdlet::DisableCsUser {
                identity: format!("o{quote_char}brien; Remove-Item x"),
            };
            assert_eq!(
                cmd.render(),
                format!("Disable-CsUser -Identity 'o{quote_char}{quote_char}brien; Remove-Item x'")
            );
        }
    }

    #[test]
    fn render_quotes_values_so_they_read_as_data() {
        let cmd = Cmdlet::SetCsUserEnabled {
            identity: "o'brien@contoso.com".into(),
            enabled: false,
        };
        assert_eq!(
            cmd.render(),
            "Set-CsUser -Identity 'o''brien@contoso.com' -Enabled $false"
        );
        let sip = SipAddress::new("jdoe", "contoso.com").unwrap();
        let cmd = Cmdlet::EnableCsUser {
            identity: "jdoe@contoso.com".into(),
            sip_address: sip,
            registrar_pool: "pool01.contoso.com".into(),
        };
        assert_eq!(
            cmd.render(),
            "Enable-CsUser -Identity 'jdoe@contoso.com' -SipAddress 'sip:jdoe@contoso.com' -RegistrarPool 'pool01.contoso.com'"
        );
        let grant = Cmdlet::GrantPolicy {
            kind: PolicyKind::Voice,
            identity: "x".into(),
            policy_name: "Intl".into(),
        };
        assert_eq!(
            grant.render(),
            "Grant-CsVoicePolicy -Identity 'x' -PolicyName 'Intl'"
        );
    }
}
