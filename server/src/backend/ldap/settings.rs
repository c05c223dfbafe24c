//! How deprov reaches AD: the `--ldap-*` flags (shared by `deprov serve`, `deprov check-connection`
//! and the shell stand-in), checked into [`LdapSettings`], and the one way a connection is opened:
//! TLS verified against a CA (never skipped silently), then a simple bind.

use clap::Args;
use deprov_wire::people::Role;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The environment variable that may carry the bind password (never a flag: command lines are
/// visible to every user of the machine and end up in shell histories).
pub const PASSWORD_ENV: &str = "DEPROV_LDAP_BIND_PASSWORD";

/// The `--ldap-*` flags.
#[derive(Debug, Clone, Args)]
pub struct LdapArgs {
    /// The domain controller (or global catalog): `ldaps://dc01.contoso.com`, or
    /// `ldap://dc01.contoso.com` with StartTLS. Plain text only with --ldap-insecure.
    #[arg(long, env = "DEPROV_LDAP_URL", value_name = "URL")]
    pub ldap_url: Option<String>,

    /// Allow `ldap://` without StartTLS: passwords cross the network in clear. Lab use only.
    #[arg(long, env = "DEPROV_LDAP_INSECURE")]
    pub ldap_insecure: bool,

    /// PEM file with the CA certificate(s) that signed the DC's certificate (default: the
    /// system's trusted CAs).
    #[arg(long, env = "DEPROV_LDAP_CA_FILE", value_name = "FILE")]
    pub ldap_ca_file: Option<PathBuf>,

    /// The service account deprov reads the directory as, e.g. `CN=svc-deprov,OU=Service
    /// Accounts,DC=contoso,DC=com` or `svc-deprov@contoso.com`.
    #[arg(long, env = "DEPROV_LDAP_BIND_DN", value_name = "DN")]
    pub ldap_bind_dn: Option<String>,

    /// A file holding the service account's password (or set DEPROV_LDAP_BIND_PASSWORD).
    #[arg(long, env = "DEPROV_LDAP_BIND_PASSWORD_FILE", value_name = "FILE")]
    pub ldap_bind_password_file: Option<PathBuf>,

    /// Where users are read from, e.g. `DC=contoso,DC=com` or `OU=Staff,DC=contoso,DC=com`.
    #[arg(long, env = "DEPROV_LDAP_BASE_DN", value_name = "DN")]
    pub ldap_base_dn: Option<String>,

    /// Seconds between reads of what changed in AD.
    #[arg(long, env = "DEPROV_LDAP_POLL_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ldap_poll_secs: u64,

    /// A registrar pool's FQDN and the DN of its service in AD (what msRTCSIP-PrimaryHomeServer
    /// holds), e.g. `pool01.contoso.com=CN=Lc Services,CN=Microsoft,CN=1:1,CN=Pools,...`.
    /// Repeat for each pool. Unmapped pools are shown by their pool id.
    #[arg(
        long = "ldap-pool",
        env = "DEPROV_LDAP_POOLS",
        value_delimiter = ';',
        value_name = "FQDN=DN"
    )]
    pub ldap_pools: Vec<String>,

    /// Seconds between listings of every user's objectGUID, which is how deletions are found
    /// when the service account may not read deleted objects (AD's default). Tombstones, when
    /// readable, show deletions at the next poll.
    #[arg(long, env = "DEPROV_LDAP_DELETIONS_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub ldap_deletions_secs: u64,

    /// Entries per page of a paged search (AD returns at most 1,000 without paging).
    #[arg(long, env = "DEPROV_LDAP_PAGE_SIZE", default_value_t = 500, hide = true,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub ldap_page_size: u32,
}

impl Default for LdapArgs {
    /// No connection configured; the defaults the flags have.
    fn default() -> Self {
        Self {
            ldap_url: None,
            ldap_insecure: false,
            ldap_ca_file: None,
            ldap_bind_dn: None,
            ldap_bind_password_file: None,
            ldap_base_dn: None,
            ldap_poll_secs: 15,
            ldap_pools: Vec::new(),
            ldap_deletions_secs: 300,
            ldap_page_size: 500,
        }
    }
}

/// The AD sign-in flags of `deprov serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct SignInArgs {
    /// Let people sign in with their AD account (`user@domain` or `DOMAIN\user`) by an LDAP bind
    /// over TLS; their roles come from --role-group. Needs the --ldap-* connection flags.
    #[arg(long, env = "DEPROV_LDAP_SIGN_IN", default_value = "off", value_parser = ["on", "off"],
          value_name = "on|off")]
    pub ldap_sign_in: String,

    /// An AD group whose members (nested groups included) hold a role, e.g.
    /// `approver=CN=Lync Approvers,OU=Groups,DC=contoso,DC=com`. Repeat for each role or group.
    #[arg(
        long = "role-group",
        env = "DEPROV_ROLE_GROUPS",
        value_delimiter = ';',
        value_name = "ROLE=GROUP_DN"
    )]
    pub role_groups: Vec<String>,
}

/// A password that never reaches a log: `Debug` prints asterisks.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: String) -> Self {
        Self(text)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The secret in `file` (given as `flag`), without the line end an editor leaves.
    pub fn from_file(flag: &str, file: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("{flag} {}: cannot read it: {e}", file.display()))?;
        Ok(Self(text.trim_end_matches(['\r', '\n']).to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `ldaps://`: TLS from the first byte.
    Ldaps,
    /// `ldap://` upgraded with the StartTLS extended operation before anything else.
    StartTls,
    /// `ldap://` in clear text (`--ldap-insecure`).
    Plain,
}

/// Checked connection settings.
#[derive(Clone)]
pub struct LdapSettings {
    pub url: String,
    pub transport: Transport,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub ca_file: Option<PathBuf>,
    pub bind_dn: String,
    pub bind_password: Secret,
    pub base_dn: String,
    pub poll: Duration,
    /// Lower-cased, normalised service DN → pool FQDN.
    pub pools: HashMap<String, String>,
    pub page_size: i32,
    /// How often deletions are looked for by a census of objectGUIDs.
    pub census_every: Duration,
    /// How long connecting, binding or one search may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for LdapSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapSettings")
            .field("url", &self.url)
            .field("transport", &self.transport)
            .field("bind_dn", &self.bind_dn)
            .field("base_dn", &self.base_dn)
            .finish_non_exhaustive()
    }
}

/// A DN compared the way AD compares them: case-insensitive, no spaces around separators.
pub fn normalise_dn(dn: &str) -> String {
    dn.split(',')
        .map(|rdn| {
            rdn.split_once('=')
                .map(|(k, v)| format!("{}={}", k.trim(), v.trim()))
                .unwrap_or_else(|| rdn.trim().to_owned())
        })
        .collect::<Vec<_>>()
        .join(",")
        .to_lowercase()
}

impl LdapArgs {
    /// Checks the flags and reads the password; every problem in words an operator can act on.
    pub fn settings(&self) -> Result<LdapSettings, String> {
        let url = self.ldap_url.clone().ok_or(
            "--ldap-url is missing: give the domain controller, e.g. ldaps://dc01.contoso.com",
        )?;
        let transport = match url
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase())
        {
            Some(scheme) if scheme == "ldaps" => Transport::Ldaps,
            Some(scheme) if scheme == "ldap" && self.ldap_insecure => Transport::Plain,
            Some(scheme) if scheme == "ldap" => Transport::StartTls,
            _ => {
                return Err(format!(
                    "--ldap-url {url} is not an LDAP URL: use ldaps://host, or ldap://host (StartTLS)"
                ));
            }
        };
        let bind_dn = self
            .ldap_bind_dn
            .clone()
            .filter(|dn| !dn.trim().is_empty())
            .ok_or("--ldap-bind-dn is missing: the service account deprov reads AD as")?;
        let bind_password = self.bind_password()?;
        let base_dn = self
            .ldap_base_dn
            .clone()
            .filter(|dn| dn.contains('='))
            .ok_or(
                "--ldap-base-dn is missing: where users are read from, e.g. DC=contoso,DC=com",
            )?;
        let mut pools = HashMap::new();
        for mapping in &self.ldap_pools {
            let (fqdn, dn) = mapping
                .split_once('=')
                .filter(|(fqdn, dn)| fqdn.contains('.') && dn.contains('='))
                .ok_or_else(|| {
                    format!(
                        "--ldap-pool {mapping}: write FQDN=DN, e.g. pool01.contoso.com=CN=Lc Services,CN=Microsoft,CN=1:1,..."
                    )
                })?;
            pools.insert(normalise_dn(dn), fqdn.trim().to_ascii_lowercase());
        }
        let tls = match transport {
            Transport::Plain => None,
            Transport::Ldaps | Transport::StartTls => {
                Some(tls_config(self.ldap_ca_file.as_deref())?)
            }
        };
        Ok(LdapSettings {
            url,
            transport,
            tls,
            ca_file: self.ldap_ca_file.clone(),
            bind_dn,
            bind_password,
            base_dn,
            poll: Duration::from_secs(self.ldap_poll_secs),
            pools,
            page_size: self.ldap_page_size as i32,
            census_every: Duration::from_secs(self.ldap_deletions_secs),
            timeout: Duration::from_secs(30),
        })
    }

    fn bind_password(&self) -> Result<Secret, String> {
        let password = match (&self.ldap_bind_password_file, std::env::var(PASSWORD_ENV)) {
            (Some(file), _) => Secret::from_file("--ldap-bind-password-file", file)?.0,
            (None, Ok(password)) => password,
            (None, Err(_)) => {
                return Err(format!(
                    "no bind password: give --ldap-bind-password-file FILE or set {PASSWORD_ENV}"
                ));
            }
        };
        if password.is_empty() {
            // AD treats a simple bind with an empty password as anonymous, and it "succeeds".
            return Err("the bind password is empty: AD would treat the bind as anonymous".into());
        }
        Ok(Secret::new(password))
    }
}

impl SignInArgs {
    /// The group DN → role mapping, or `None` when AD sign-in is off.
    pub fn role_groups(&self) -> Result<Option<Vec<(Role, String)>>, String> {
        if self.ldap_sign_in != "on" {
            return Ok(None);
        }
        let mut groups = Vec::new();
        for mapping in &self.role_groups {
            let (role, dn) = mapping
                .split_once('=')
                .filter(|(_, dn)| dn.contains('='))
                .ok_or_else(|| format!("--role-group {mapping}: write ROLE=GROUP_DN"))?;
            let role = Role::parse(role).ok_or_else(|| {
                format!("--role-group {mapping}: '{role}' is not a role: use requester, approver, admin or auditor")
            })?;
            groups.push((role, dn.trim().to_owned()));
        }
        if groups.is_empty() {
            return Err("--ldap-sign-in on needs at least one --role-group ROLE=GROUP_DN".into());
        }
        Ok(Some(groups))
    }
}

/// TLS that trusts the CA file (or the system's CAs), and nothing else.
fn tls_config(ca_file: Option<&std::path::Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certificates = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("--ldap-ca-file {}: cannot read it: {e}", path.display()))?;
            for certificate in certificates {
                let certificate = certificate.map_err(|e| {
                    format!(
                        "--ldap-ca-file {}: not a PEM certificate: {e}",
                        path.display()
                    )
                })?;
                roots.add(certificate).map_err(|e| {
                    format!(
                        "--ldap-ca-file {}: unusable certificate: {e}",
                        path.display()
                    )
                })?;
            }
            if roots.is_empty() {
                return Err(format!(
                    "--ldap-ca-file {}: no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)",
                    path.display()
                ));
            }
        }
        None => {
            for certificate in rustls_native_certs::load_native_certs().certs {
                roots.add(certificate).ok();
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Why a simple bind was refused, from AD's "data NNN" sub-code (result 49).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindRefusal {
    /// 52e: wrong password (AD also says this for a name it does not know).
    WrongPassword,
    /// 533: the account is disabled.
    Disabled,
    /// 775: locked out after too many wrong passwords.
    Locked,
    /// 532, 701, 773: the password or the account expired, or the password must be changed.
    Expired(&'static str),
    /// Any other refusal, in AD's words.
    Other(String),
}

impl BindRefusal {
    /// Reads AD's diagnostic text ("80090308: LdapErr: ..., data 52e, v1db1").
    pub fn from_diagnostic(text: &str) -> Self {
        let code = text
            .split("data ")
            .nth(1)
            .and_then(|rest| rest.split([',', ' ']).next())
            .unwrap_or_default()
            .to_ascii_lowercase();
        match code.as_str() {
            "52e" | "525" => Self::WrongPassword,
            "533" => Self::Disabled,
            "775" => Self::Locked,
            "532" => Self::Expired("the password has expired"),
            "701" => Self::Expired("the account has expired"),
            "773" => Self::Expired("the password must be changed first"),
            _ => Self::Other(text.to_owned()),
        }
    }

    /// The sentence for the person signing in or the operator.
    pub fn sentence(&self) -> String {
        match self {
            Self::WrongPassword => "wrong name or password".to_owned(),
            Self::Disabled => "the AD account is disabled".to_owned(),
            Self::Locked => "the AD account is locked out (too many wrong passwords)".to_owned(),
            Self::Expired(why) => why.to_string(),
            Self::Other(text) => format!("AD refused the bind: {text}"),
        }
    }
}

/// Why a connection could not be opened and bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// Nothing answered, or the TLS handshake failed.
    #[error("{0}")]
    Unreachable(String),
    /// The DC answered and refused the bind.
    #[error("{}", .0.sentence())]
    Refused(BindRefusal),
}

/// Opens a connection to the DC in `settings` and binds as `name` (a DN, `user@domain` or
/// `DOMAIN\user`) with `password`. The caller refuses empty passwords first.
pub async fn connect(
    settings: &LdapSettings,
    name: &str,
    password: &str,
) -> Result<Ldap, ConnectError> {
    let mut options = LdapConnSettings::new()
        .set_conn_timeout(settings.timeout)
        .set_starttls(settings.transport == Transport::StartTls);
    if let Some(tls) = &settings.tls {
        options = options.set_config(Arc::clone(tls));
    }
    let (connection, mut ldap) = LdapConnAsync::with_settings(options, &settings.url)
        .await
        .map_err(|e| ConnectError::Unreachable(transport_failure(settings, &e)))?;
    tokio::spawn(async move {
        if let Err(error) = connection.drive().await {
            tracing::debug!(%error, "LDAP connection ended");
        }
    });
    let bound = ldap
        .with_timeout(settings.timeout)
        .simple_bind(name, password)
        .await
        .map_err(|e| ConnectError::Unreachable(transport_failure(settings, &e)))?;
    match bound.rc {
        0 => Ok(ldap),
        49 => Err(ConnectError::Refused(BindRefusal::from_diagnostic(
            &bound.text,
        ))),
        8 => Err(ConnectError::Unreachable(format!(
            "the DC requires a protected connection for binds ({}): use ldaps:// or ldap:// with StartTLS",
            bound.text
        ))),
        rc => Err(ConnectError::Refused(BindRefusal::Other(format!(
            "result {rc}: {}",
            bound.text
        )))),
    }
}

/// A transport failure in words an AD administrator understands.
pub fn transport_failure(settings: &LdapSettings, error: &LdapError) -> String {
    let text = error.to_string();
    let lower = text.to_lowercase();
    if lower.contains("certificate") || lower.contains("unknownissuer") {
        let trusted = match &settings.ca_file {
            Some(file) => format!("the CA in --ldap-ca-file {}", file.display()),
            None => "the system's trusted CAs (give the issuing CA with --ldap-ca-file)".to_owned(),
        };
        return format!(
            "TLS to {} failed: the DC's certificate is not trusted by {trusted}, or does not name the host in the URL ({text})",
            settings.url
        );
    }
    if lower.contains("timed out") || lower.contains("elapsed") {
        return format!(
            "{} did not answer within {} s",
            settings.url,
            settings.timeout.as_secs()
        );
    }
    if lower.contains("refused") {
        return format!(
            "{} refused the connection: is the DC up, and the port right? ({text})",
            settings.url
        );
    }
    format!("{}: {text}", settings.url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> LdapArgs {
        LdapArgs {
            ldap_url: Some("ldaps://dc01.contoso.com".into()),
            ldap_bind_dn: Some("svc@contoso.com".into()),
            ldap_base_dn: Some("DC=contoso,DC=com".into()),
            ..LdapArgs::default()
        }
    }

    fn with_password_file(
        mut args: LdapArgs,
        password: &str,
    ) -> (LdapArgs, tempfile::NamedTempFile) {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), format!("{password}\n")).unwrap();
        args.ldap_bind_password_file = Some(file.path().to_path_buf());
        (args, file)
    }

    #[test]
    fn plain_ldap_needs_an_explicit_insecure_flag() {
        let (mut args, _file) = with_password_file(args(), "s3cret");
        args.ldap_url = Some("ldap://dc01.contoso.com".into());
        assert_eq!(args.settings().unwrap().transport, Transport::StartTls);
        args.ldap_insecure = true;
        assert_eq!(args.settings().unwrap().transport, Transport::Plain);
        args.ldap_url = Some("http://dc01".into());
        assert!(args.settings().unwrap_err().contains("not an LDAP URL"));
    }

    #[test]
    fn the_password_comes_from_a_file_is_trimmed_and_never_printed() {
        let (args, _file) = with_password_file(args(), "s3cret");
        let settings = args.settings().unwrap();
        assert_eq!(settings.bind_password.expose(), "s3cret");
        assert!(!format!("{settings:?}").contains("s3cret"));
        let (args, _file) = with_password_file(args, "");
        assert!(args.settings().unwrap_err().contains("anonymous"));
    }

    #[test]
    fn pools_and_role_groups_are_checked() {
        let (mut args, _file) = with_password_file(args(), "x");
        args.ldap_pools =
            vec!["Pool01.contoso.com=CN=Lc Services, CN=Microsoft,CN=1:1,CN=Pools".into()];
        let settings = args.settings().unwrap();
        assert_eq!(
            settings
                .pools
                .get("cn=lc services,cn=microsoft,cn=1:1,cn=pools")
                .map(String::as_str),
            Some("pool01.contoso.com")
        );
        args.ldap_pools = vec!["no-equals-sign".into()];
        assert!(args.settings().unwrap_err().contains("FQDN=DN"));

        let sign_in = SignInArgs {
            ldap_sign_in: "on".into(),
            role_groups: vec!["approver=CN=Approvers,DC=contoso,DC=com".into()],
        };
        assert_eq!(sign_in.role_groups().unwrap().unwrap()[0].0, Role::Approver);
        let wrong = SignInArgs {
            ldap_sign_in: "on".into(),
            role_groups: vec!["boss=CN=X,DC=y".into()],
        };
        assert!(wrong.role_groups().unwrap_err().contains("not a role"));
        let none = SignInArgs {
            ldap_sign_in: "on".into(),
            role_groups: vec![],
        };
        assert!(none.role_groups().is_err());
    }

    #[test]
    fn a_ca_file_that_holds_no_certificate_is_refused() {
        let (mut args, _file) = with_password_file(args(), "x");
        let ca = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(ca.path(), "not a certificate").unwrap();
        args.ldap_ca_file = Some(ca.path().to_path_buf());
        assert!(args.settings().unwrap_err().contains("no certificate"));
    }

    #[test]
    fn bind_refusals_are_read_from_ad_sub_codes() {
        let text = |code: &str| {
            format!(
                "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data {code}, v1db1"
            )
        };
        assert_eq!(
            BindRefusal::from_diagnostic(&text("52e")),
            BindRefusal::WrongPassword
        );
        assert_eq!(
            BindRefusal::from_diagnostic(&text("533")),
            BindRefusal::Disabled
        );
        assert_eq!(
            BindRefusal::from_diagnostic(&text("775")),
            BindRefusal::Locked
        );
        assert!(matches!(
            BindRefusal::from_diagnostic(&text("773")),
            BindRefusal::Expired(_)
        ));
        assert!(matches!(
            BindRefusal::from_diagnostic("weird"),
            BindRefusal::Other(_)
        ));
    }
}
