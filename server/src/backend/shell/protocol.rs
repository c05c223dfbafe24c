//! Protocol 1's messages (`shell/PROTOCOL.md`), and the allowlist both sides share: which
//! cmdlets a worker runs, with which parameter names, derived from the portal's cmdlet model.

use deprov_wire::cmdlet::{Cmdlet, ParameterValue, PolicyKind};
use deprov_wire::directory::{ClientCertificate, PolicyAssignment};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// The worker's first line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    pub hello: String,
    pub protocol: u32,
    pub ready: bool,
    #[serde(default)]
    pub detail: String,
}

pub const HELLO: &str = "deprov-lync-shell";
pub const PROTOCOL: u32 = 1;

/// The reads only Lync answers, which are not [`Cmdlet`]s deprov runs to change anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    GetCsUser,
    GetCsClientCertificate,
}

impl Read {
    pub fn name(self) -> &'static str {
        match self {
            Self::GetCsUser => "Get-CsUser",
            Self::GetCsClientCertificate => "Get-CsClientCertificate",
        }
    }
}

/// What one call asks for.
#[derive(Debug, Clone)]
pub enum Call {
    Run(Cmdlet),
    Read { read: Read, identity: String },
    Ping,
}

impl Call {
    /// What the log and errors call it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Run(cmdlet) => cmdlet.name(),
            Self::Read { read, .. } => read.name(),
            Self::Ping => "ping",
        }
    }

    /// The request line (without the newline).
    pub fn request(&self, id: u64) -> String {
        let message = match self {
            Self::Ping => serde_json::json!({ "id": id, "ping": true }),
            Self::Read { read, identity } => serde_json::json!({
                "id": id, "cmdlet": read.name(), "parameters": { "Identity": identity }
            }),
            Self::Run(cmdlet) => {
                let parameters: Map<String, Value> = cmdlet
                    .parameters()
                    .into_iter()
                    .map(|(name, value)| {
                        let value = match value {
                            ParameterValue::Text(text) => Value::String(text),
                            ParameterValue::Bool(flag) => Value::Bool(flag),
                        };
                        (name.to_owned(), value)
                    })
                    .collect();
                serde_json::json!({ "id": id, "cmdlet": cmdlet.name(), "parameters": parameters })
            }
        };
        message.to_string()
    }
}

/// An answer, as the worker sent it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    pub id: u64,
    pub ok: bool,
    #[serde(default)]
    pub output: Value,
    #[serde(default)]
    pub warnings: Vec<String>,
    #[serde(default)]
    pub error: Option<ReplyError>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplyError {
    pub kind: String,
    pub message: String,
    #[serde(default)]
    pub fqid: String,
}

/// The projected `Get-CsUser` output.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ShellUser {
    #[serde(default)]
    pub identity: String,
    #[serde(default)]
    pub sip_address: String,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub registrar_pool: String,
    #[serde(default)]
    pub policies: std::collections::BTreeMap<String, String>,
}

impl ShellUser {
    pub fn policies(&self) -> Vec<PolicyAssignment> {
        self.policies
            .iter()
            .filter(|(_, name)| !name.is_empty())
            .map(|(kind, name)| PolicyAssignment {
                kind: kind.clone(),
                name: name.clone(),
            })
            .collect()
    }
}

/// One projected `Get-CsClientCertificate` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShellCertificate {
    pub serial_number: String,
    #[serde(with = "time::serde::rfc3339")]
    pub issued: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_from: Option<OffsetDateTime>,
}

impl From<ShellCertificate> for ClientCertificate {
    fn from(c: ShellCertificate) -> Self {
        Self {
            serial_number: c.serial_number,
            issued: c.issued,
            expires: c.expires,
            revoked_from: c.revoked_from,
        }
    }
}

impl From<&ClientCertificate> for ShellCertificate {
    fn from(c: &ClientCertificate) -> Self {
        Self {
            serial_number: c.serial_number.clone(),
            issued: c.issued,
            expires: c.expires,
            revoked_from: c.revoked_from,
        }
    }
}

/// Every cmdlet a worker runs, with the parameter names it passes on: the changing cmdlets of
/// the portal's model, and the reads. The PowerShell worker's `$Allowed` must equal this.
pub fn allowlist() -> Vec<(&'static str, Vec<&'static str>)> {
    let sip = || deprov_wire::directory::SipAddress::new("x", "contoso.com").expect("valid");
    let mut samples = vec![
        Cmdlet::SetCsUserEnabled {
            identity: String::new(),
            enabled: false,
        },
        Cmdlet::SetCsUserSipAddress {
            identity: String::new(),
            sip_address: sip(),
        },
        Cmdlet::DisableCsUser {
            identity: String::new(),
        },
        Cmdlet::EnableCsUser {
            identity: String::new(),
            sip_address: sip(),
            registrar_pool: String::new(),
        },
        Cmdlet::RevokeCsClientCertificate {
            identity: String::new(),
        },
        Cmdlet::ExportCsUserData {
            pool_fqdn: String::new(),
            user_filter: String::new(),
            file_name: String::new(),
        },
        Cmdlet::UpdateCsUserData {
            file_name: String::new(),
            user_filter: String::new(),
        },
    ];
    samples.extend(PolicyKind::ALL.into_iter().map(|kind| Cmdlet::GrantPolicy {
        kind,
        identity: String::new(),
        policy_name: String::new(),
    }));
    let mut allowed: Vec<(&'static str, Vec<&'static str>)> = vec![
        (Read::GetCsUser.name(), vec!["Identity"]),
        (Read::GetCsClientCertificate.name(), vec!["Identity"]),
    ];
    for cmdlet in samples {
        let names: Vec<&'static str> = cmdlet.parameters().into_iter().map(|(n, _)| n).collect();
        match allowed.iter_mut().find(|(name, _)| *name == cmdlet.name()) {
            Some((_, parameters)) => {
                for name in names {
                    if !parameters.contains(&name) {
                        parameters.push(name);
                    }
                }
            }
            None => allowed.push((cmdlet.name(), names)),
        }
    }
    allowed
}

/// A request line as a worker reads it: the cmdlet name and its named parameters, refused with
/// the protocol's `not_allowed` when either is not on the allowlist.
pub fn parse_call(line: &Value) -> Result<(String, Map<String, Value>), ReplyError> {
    let name = line
        .get("cmdlet")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let parameters = line
        .get("parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let refuse = |message: String| ReplyError {
        kind: "not_allowed".to_owned(),
        message,
        fqid: String::new(),
    };
    let allowed = allowlist();
    let Some((_, names)) = allowed.iter().find(|(n, _)| *n == name) else {
        return Err(refuse(format!("The worker does not run '{name}'.")));
    };
    for parameter in parameters.keys() {
        if !names.contains(&parameter.as_str()) {
            return Err(refuse(format!(
                "The worker does not pass -{parameter} to {name}."
            )));
        }
    }
    for (parameter, value) in &parameters {
        if !(value.is_string() || value.is_boolean()) {
            return Err(ReplyError {
                kind: "invalid_parameter".to_owned(),
                message: format!("-{parameter} must be a string or a boolean."),
                fqid: String::new(),
            });
        }
    }
    Ok((name, parameters))
}

/// The [`Cmdlet`] a request names, if it is one of the changing cmdlets (reads are not).
pub fn cmdlet_of(name: &str, parameters: &Map<String, Value>) -> Result<Option<Cmdlet>, String> {
    let text = |key: &str| -> Result<String, String> {
        parameters
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("{name} needs -{key}"))
    };
    let sip = |key: &str| -> Result<deprov_wire::directory::SipAddress, String> {
        deprov_wire::directory::SipAddress::try_from(text(key)?)
    };
    Ok(Some(match name {
        "Set-CsUser" => match parameters.get("Enabled").and_then(Value::as_bool) {
            Some(enabled) => Cmdlet::SetCsUserEnabled {
                identity: text("Identity")?,
                enabled,
            },
            None => Cmdlet::SetCsUserSipAddress {
                identity: text("Identity")?,
                sip_address: sip("SipAddress")?,
            },
        },
        "Disable-CsUser" => Cmdlet::DisableCsUser {
            identity: text("Identity")?,
        },
        "Enable-CsUser" => Cmdlet::EnableCsUser {
            identity: text("Identity")?,
            sip_address: sip("SipAddress")?,
            registrar_pool: text("RegistrarPool")?,
        },
        "Revoke-CsClientCertificate" => Cmdlet::RevokeCsClientCertificate {
            identity: text("Identity")?,
        },
        "Export-CsUserData" => Cmdlet::ExportCsUserData {
            pool_fqdn: text("PoolFqdn")?,
            user_filter: text("UserFilter")?,
            file_name: text("FileName")?,
        },
        "Update-CsUserData" => Cmdlet::UpdateCsUserData {
            file_name: text("Filename")?,
            user_filter: text("UserFilter")?,
        },
        grant => match PolicyKind::ALL
            .into_iter()
            .find(|k| k.grant_cmdlet() == grant)
        {
            Some(kind) => Cmdlet::GrantPolicy {
                kind,
                identity: text("Identity")?,
                policy_name: text("PolicyName")?,
            },
            None => return Ok(None),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PowerShell worker's `$Allowed` table, read from the script.
    fn script_allowlist() -> Vec<(String, Vec<String>)> {
        let script = include_str!("../../../../shell/lync-shell.ps1");
        let table = script
            .split("$Allowed = @{")
            .nth(1)
            .and_then(|rest| rest.split("\n}").next())
            .expect("the script has an $Allowed table");
        table
            .lines()
            .filter_map(|line| {
                let (name, parameters) = line.split_once('=')?;
                let name = name.trim().trim_matches('\'').to_owned();
                let parameters = parameters
                    .trim()
                    .trim_start_matches("@(")
                    .trim_end_matches(')')
                    .split(',')
                    .map(|p| p.trim().trim_matches('\'').to_owned())
                    .filter(|p| !p.is_empty())
                    .collect();
                Some((name, parameters))
            })
            .collect()
    }

    #[test]
    fn the_powershell_worker_allows_exactly_what_the_portal_sends() {
        let mut script = script_allowlist();
        let mut portal: Vec<(String, Vec<String>)> = allowlist()
            .into_iter()
            .map(|(n, p)| (n.to_owned(), p.into_iter().map(str::to_owned).collect()))
            .collect();
        for list in [&mut script, &mut portal] {
            list.sort();
            for (_, parameters) in list.iter_mut() {
                parameters.sort();
            }
        }
        assert_eq!(script, portal);
        assert!(portal.len() >= 16, "{portal:?}");
    }

    #[test]
    fn calls_carry_values_as_data_and_come_back_as_the_same_cmdlet() {
        let hostile = "o'brien; $(Remove-Item C:\\) `n\"\u{202e}@contoso.com";
        let cmdlet = Cmdlet::GrantPolicy {
            kind: PolicyKind::Voice,
            identity: hostile.to_owned(),
            policy_name: "Tag:Intl'; exit".to_owned(),
        };
        let line: Value = serde_json::from_str(&Call::Run(cmdlet.clone()).request(3)).unwrap();
        assert_eq!(line["parameters"]["Identity"], hostile);
        let (name, parameters) = parse_call(&line).unwrap();
        assert_eq!(cmdlet_of(&name, &parameters).unwrap(), Some(cmdlet));
    }

    #[test]
    fn anything_off_the_allowlist_is_refused() {
        let refused = |line: Value| parse_call(&line).unwrap_err().kind;
        assert_eq!(
            refused(serde_json::json!({"id": 1, "cmdlet": "Remove-CsUser", "parameters": {}})),
            "not_allowed"
        );
        assert_eq!(
            refused(
                serde_json::json!({"id": 1, "cmdlet": "Set-CsUser", "parameters": {"Identity": "x", "Script": "y"}})
            ),
            "not_allowed"
        );
        assert_eq!(
            refused(
                serde_json::json!({"id": 1, "cmdlet": "Set-CsUser", "parameters": {"Identity": {"a": 1}}})
            ),
            "invalid_parameter"
        );
    }
}
