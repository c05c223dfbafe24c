//! `deprov serve`'s settings: each a flag, each also an environment variable.

use crate::backend::ldap::settings::{LdapArgs, Secret, SignInArgs};
use crate::backend::shell::ShellConfig;
use crate::backend::shell::worker::Launch;
use clap::builder::TypedValueParser as _;
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Where the directory comes from, and what runs cmdlets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// The embedded simulator: a generated AD + Lync deployment with a controllable clock.
    Sim,
    /// A real deployment: AD over LDAP (--ldap-*). Read-only until a Lync shell is configured.
    Lync,
}

/// The Lync Management Shell: how to start one worker, and how many.
#[derive(Debug, Clone, Args)]
pub struct ShellArgs {
    /// The argv that starts one worker, as a JSON array, e.g.
    /// '["powershell.exe","-NoProfile","-NonInteractive","-File","C:\\deprov\\lync-shell.ps1"]' or
    /// '["ssh","-T","-o","BatchMode=yes","svc-deprov@lync-mgmt01"]'. With --backend lync, deprov
    /// is then no longer read-only.
    #[arg(long, env = "DEPROV_LYNC_SHELL", value_name = "JSON")]
    pub lync_shell: Option<String>,

    /// Workers kept running (each runs one call at a time; Windows allows 5 remote shells per
    /// user by default).
    #[arg(long, env = "DEPROV_LYNC_SHELL_WORKERS", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..=5))]
    pub lync_shell_workers: u32,

    /// Seconds a new worker may take to load the module and say hello (10-20 s is usual).
    #[arg(long, env = "DEPROV_LYNC_SHELL_START_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub lync_shell_start_secs: u64,

    /// For a worker that opens a remote session (-ConnectionUri): the account, sent to it as its
    /// first line with the password from --lync-shell-password-file.
    #[arg(long, env = "DEPROV_LYNC_SHELL_USER", value_name = "DOMAIN\\USER")]
    pub lync_shell_user: Option<String>,

    #[arg(long, env = "DEPROV_LYNC_SHELL_PASSWORD_FILE", value_name = "FILE")]
    pub lync_shell_password_file: Option<PathBuf>,
}

impl Default for ShellArgs {
    /// No shell; the defaults the flags have.
    fn default() -> Self {
        Self {
            lync_shell: None,
            lync_shell_workers: 2,
            lync_shell_start_secs: 60,
            lync_shell_user: None,
            lync_shell_password_file: None,
        }
    }
}

impl ShellArgs {
    /// The pool's configuration, `None` when no shell is configured.
    pub fn config(&self, call_timeout: std::time::Duration) -> Result<Option<ShellConfig>, String> {
        let Some(json) = &self.lync_shell else {
            return Ok(None);
        };
        let argv: Vec<String> = serde_json::from_str(json).map_err(|e| {
            format!("--lync-shell must be a JSON array of strings, e.g. '[\"ssh\",\"-T\",\"svc@host\"]': {e}")
        })?;
        if argv.is_empty() || argv[0].is_empty() {
            return Err("--lync-shell is empty: give the argv that starts one worker".to_owned());
        }
        let credential = match (&self.lync_shell_user, &self.lync_shell_password_file) {
            (None, None) => None,
            (Some(user), Some(file)) => Some((
                user.clone(),
                Secret::from_file("--lync-shell-password-file", file)?,
            )),
            _ => {
                return Err(
                    "--lync-shell-user and --lync-shell-password-file go together".to_owned(),
                );
            }
        };
        Ok(Some(ShellConfig {
            launch: Launch {
                argv,
                credential,
                handshake: std::time::Duration::from_secs(self.lync_shell_start_secs),
            },
            workers: self.lync_shell_workers as usize,
            call_timeout,
        }))
    }
}

/// Notifications: mail over SMTP and webhooks.
#[derive(Debug, Clone, Default, Args)]
pub struct NotifyArgs {
    /// The SMTP relay: smtps://HOST[:PORT] (TLS), or smtp://HOST[:PORT] (STARTTLS; clear text
    /// only to a relay on this machine). Without it, deprov sends no mail.
    #[arg(long, env = "DEPROV_SMTP_URL", value_name = "URL")]
    pub smtp_url: Option<String>,

    /// The sender of deprov's mails.
    #[arg(long, env = "DEPROV_SMTP_FROM", value_name = "ADDRESS")]
    pub smtp_from: Option<String>,

    /// The account to sign in to the relay with, the password read from --smtp-password-file.
    #[arg(long, env = "DEPROV_SMTP_USER")]
    pub smtp_user: Option<String>,

    #[arg(long, env = "DEPROV_SMTP_PASSWORD_FILE", value_name = "FILE")]
    pub smtp_password_file: Option<PathBuf>,

    /// Where people reach the portal, for the links in mails (default: http:// and --listen).
    #[arg(long, env = "DEPROV_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// Who hears of new high-risk findings (as a digest) and gets the daily digest with the
    /// audit log's head.
    #[arg(long, env = "DEPROV_SECURITY_MAIL", value_name = "ADDRESS")]
    pub security_mail: Option<String>,

    /// At most one mail of new high-risk findings this often.
    #[arg(long, env = "DEPROV_DIGEST_MINUTES", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=10_080))]
    pub digest_minutes: u32,

    /// A URL every event is POSTed to as signed JSON; repeat for several, each with its own
    /// --webhook-secret-file, given in the same order.
    #[arg(
        long = "webhook",
        env = "DEPROV_WEBHOOKS",
        value_delimiter = ' ',
        value_name = "URL"
    )]
    pub webhooks: Vec<String>,

    /// The file holding a webhook's signing secret (at least 16 characters), one per --webhook.
    #[arg(
        long = "webhook-secret-file",
        env = "DEPROV_WEBHOOK_SECRET_FILES",
        value_delimiter = ' ',
        value_name = "FILE"
    )]
    pub webhook_secret_files: Vec<PathBuf>,

    /// Seconds before a failed delivery is tried again; the wait doubles with each failure (up to
    /// 15 minutes), and deprov gives up a day after the event.
    #[arg(long, env = "DEPROV_RETRY_FIRST_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub retry_first_secs: u64,
}

impl NotifyArgs {
    /// The delivery worker these settings describe, for the portal listening on `listen`.
    pub fn dispatcher(
        &self,
        store: crate::store::Store,
        listen: SocketAddr,
        instance: &str,
    ) -> Result<crate::notify::worker::Dispatcher, String> {
        use crate::notify::{mail::Mailer, routes::Routes, webhook, worker};
        let public_url = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{listen}"));
        let mailer = match &self.smtp_url {
            None => None,
            Some(url) => {
                let from = self
                    .smtp_from
                    .as_deref()
                    .ok_or("--smtp-url needs --smtp-from: the address deprov's mails come from")?;
                let credentials = match (&self.smtp_user, &self.smtp_password_file) {
                    (None, None) => None,
                    (Some(user), Some(file)) => Some((
                        user.clone(),
                        Secret::from_file("--smtp-password-file", file)?,
                    )),
                    _ => return Err("--smtp-user and --smtp-password-file go together".to_owned()),
                };
                Some(Mailer::new(url, from, credentials, &public_url)?)
            }
        };
        if self.security_mail.is_some() && mailer.is_none() {
            return Err("--security-mail needs --smtp-url to send mail".to_owned());
        }
        if let Some(address) = &self.security_mail {
            address
                .parse::<lettre::Address>()
                .map_err(|e| format!("--security-mail {address}: not a mail address: {e}"))?;
        }
        if self.webhooks.len() != self.webhook_secret_files.len() {
            return Err(format!(
                "{} --webhook but {} --webhook-secret-file: give each webhook its secret, in the same order",
                self.webhooks.len(),
                self.webhook_secret_files.len()
            ));
        }
        let webhooks = self
            .webhooks
            .iter()
            .zip(&self.webhook_secret_files)
            .map(|(url, file)| webhook::Webhook::new(url, file))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(worker::Dispatcher {
            store,
            instance: instance.to_owned(),
            routes: Routes {
                mail: mailer.is_some(),
                security: self.security_mail.as_ref().map(|a| a.to_lowercase()),
                webhooks: webhooks.iter().map(|h| h.url.clone()).collect(),
            },
            mailer,
            webhooks,
            poster: webhook::Poster::new()?,
            retry: worker::RetryPolicy {
                first: std::time::Duration::from_secs(self.retry_first_secs),
                ..worker::RetryPolicy::default()
            },
            digest_every: time::Duration::minutes(self.digest_minutes.into()),
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// The deployment: the embedded simulator, or a real AD (read-only without a Lync shell).
    #[arg(long, env = "DEPROV_BACKEND", value_enum, default_value_t = Backend::Sim)]
    pub backend: Backend,

    #[command(flatten)]
    pub ldap: LdapArgs,

    #[command(flatten)]
    pub sign_in: SignInArgs,

    #[command(flatten)]
    pub shell: ShellArgs,

    #[command(flatten)]
    pub notify: NotifyArgs,

    /// Address and port to listen on.
    #[arg(long, env = "DEPROV_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Where the SQLite database (and the demo accounts' passwords) are kept.
    #[arg(long, env = "DEPROV_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// The audit log's key (32 bytes, mode 600); default `audit.key` in the data folder, created
    /// on the first start. Keep a backup of it apart from the database's.
    #[arg(long, env = "DEPROV_AUDIT_KEY_FILE", value_name = "FILE")]
    pub audit_key_file: Option<PathBuf>,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// The built front end (Trunk's output).
    #[arg(long, env = "DEPROV_STATIC_DIR", default_value = "dist")]
    pub static_dir: PathBuf,

    /// Users in the simulated directory (0 to 200,000).
    #[arg(long, env = "DEPROV_SIM_USERS", default_value_t = 5_000,
          value_parser = clap::value_parser!(u32).range(0..=200_000).map(|n| n as usize))]
    pub sim_users: usize,

    /// Seed of the simulated directory: the same seed gives the same directory.
    #[arg(long, env = "DEPROV_SIM_SEED", default_value_t = 1)]
    pub sim_seed: u64,

    /// Slow background change in the simulated directory, so the demo's report moves.
    #[arg(long, env = "DEPROV_SIM_CHURN", default_value = "on", value_parser = ["on", "off"],
          action = clap::ArgAction::Set, value_name = "on|off")]
    pub sim_churn: String,

    /// Days a temporarily disabled user may wait for stage 2 before the report calls it overdue.
    #[arg(long, env = "DEPROV_GRACE_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub grace_days: u32,

    /// OUs whose accounts are Lync-enabled on purpose (rooms, watcher nodes, services): shown apart in the report.
    #[arg(long = "exclude-ou", env = "DEPROV_EXCLUDE_OUS", value_delimiter = ';',
          default_values_t = ["OU=Resources".to_owned(), "OU=Service Accounts".to_owned()])]
    pub exclude_ous: Vec<String>,

    /// Seed one demo account per role (passwords in DATA_DIR/demo-accounts.txt). Off outside demos:
    /// then accounts come only from `deprov user add`, and no default password exists.
    #[arg(long, env = "DEPROV_DEMO_ACCOUNTS", default_value = "on", value_parser = ["on", "off"], value_name = "on|off")]
    pub demo_accounts: String,

    /// Open connections one client address may hold (an open report page holds one). Behind a
    /// reverse proxy every browser shares the proxy's address: raise it to the pages you expect.
    #[arg(long, env = "DEPROV_CONNECTIONS_PER_ADDRESS", default_value_t = 128,
          value_parser = clap::value_parser!(u32).range(1..=100_000).map(|n| n as usize))]
    pub connections_per_address: usize,

    /// Mark the session cookie Secure (when served over HTTPS, e.g. behind a reverse proxy).
    #[arg(long, env = "DEPROV_SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// Approvals a request needs (protected accounts always need at least two, from two people).
    #[arg(long, env = "DEPROV_APPROVALS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=5))]
    pub approvals: u32,

    /// Hours after which a pending request is flagged overdue.
    #[arg(long, env = "DEPROV_OVERDUE_HOURS", default_value_t = 48, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub overdue_hours: u32,

    /// Days after which a pending request expires.
    #[arg(long, env = "DEPROV_EXPIRE_DAYS", default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub expire_days: u32,

    /// Seconds a Lync command may take before its outcome counts as unknown (then deprov reads
    /// the user back to find out, rather than running it again).
    #[arg(long, env = "DEPROV_STEP_TIMEOUT", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub step_timeout_secs: u64,

    /// This instance's name on the operations it runs (default: the host name). Keep it across
    /// restarts, so a restarted instance settles what it left running at once; give each
    /// instance sharing a database its own.
    #[arg(long, env = "DEPROV_INSTANCE_ID", value_name = "NAME")]
    pub instance_id: Option<String>,

    /// How long an instance's hold on an operation it drives lasts unrenewed (it renews at a
    /// third of it): when an instance dies mid-operation, another settles and finishes the
    /// operation this long after the last renewal (plus up to half of it, the settling's round).
    #[arg(long, env = "DEPROV_LEASE_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(3..=600))]
    pub lease_secs: u64,

    /// Requests an hour may bring by bulk filing before a batch is held for a second admin
    /// (default: 20, or 1% of the directory, whichever is lower).
    #[arg(long, env = "DEPROV_BULK_THRESHOLD", value_parser = clap::value_parser!(u32).range(1..=100_000).map(|n| n as usize))]
    pub bulk_threshold: Option<usize>,

    /// Further sAMAccountNames to exclude from the report.
    #[arg(
        long = "exclude-account",
        env = "DEPROV_EXCLUDE_ACCOUNTS",
        value_delimiter = ';'
    )]
    pub exclude_accounts: Vec<String>,
}

/// Where the portal's state is, when not SQLite in the data folder (`serve` and every command
/// that opens the store take these).
#[derive(Args, Clone, Default)]
pub struct DatabaseArgs {
    /// PostgreSQL, for several instances sharing one database (`postgres://user@host/deprov`;
    /// `?sslmode=require` for TLS). Not given: SQLite in the data folder.
    #[arg(
        long = "database",
        env = "DEPROV_DATABASE",
        value_name = "URL",
        hide_env_values = true
    )]
    pub url: Option<String>,

    /// The PostgreSQL password, read from this file (else the URL's or `PGPASSWORD`).
    #[arg(
        long = "database-password-file",
        env = "DEPROV_DATABASE_PASSWORD_FILE",
        value_name = "FILE"
    )]
    pub password_file: Option<PathBuf>,
}

/// Without the URL's password.
impl std::fmt::Debug for DatabaseArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = self.url.as_deref().map(|url| match url::Url::parse(url) {
            Ok(mut url) => {
                let _ = url.set_password(None);
                url.to_string()
            }
            Err(_) => "(not a URL)".to_owned(),
        });
        f.debug_struct("DatabaseArgs")
            .field("url", &url)
            .field("password_file", &self.password_file)
            .finish()
    }
}

impl DatabaseArgs {
    pub fn database(&self, data_dir: &Path) -> Result<crate::store::Database, String> {
        crate::store::Database::from_args(
            self.url.as_deref(),
            self.password_file.as_deref(),
            data_dir,
        )
    }
}

impl ServeConfig {
    /// Defaults for tests and embedding: port 0 is chosen by the caller's listener.
    pub fn for_tests(
        data_dir: PathBuf,
        static_dir: PathBuf,
        sim_users: usize,
        sim_seed: u64,
    ) -> Self {
        Self {
            backend: Backend::Sim,
            ldap: LdapArgs::default(),
            sign_in: SignInArgs {
                ldap_sign_in: "off".to_owned(),
                role_groups: Vec::new(),
            },
            shell: ShellArgs::default(),
            notify: NotifyArgs {
                digest_minutes: 60,
                retry_first_secs: 1,
                ..NotifyArgs::default()
            },
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            audit_key_file: None,
            database: DatabaseArgs::default(),
            static_dir,
            sim_users,
            sim_seed,
            sim_churn: "off".to_owned(),
            grace_days: 30,
            exclude_ous: vec!["OU=Resources".to_owned(), "OU=Service Accounts".to_owned()],
            exclude_accounts: Vec::new(),
            demo_accounts: "off".to_owned(),
            connections_per_address: 128,
            secure_cookies: false,
            approvals: 1,
            overdue_hours: 48,
            expire_days: 14,
            step_timeout_secs: 2,
            bulk_threshold: None,
            instance_id: None,
            lease_secs: 30,
        }
    }

    /// Where the audit key is: `--audit-key-file`, or `audit.key` in the data folder.
    pub fn audit_key_file(&self) -> PathBuf {
        self.audit_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join(crate::audit::key::KEY_FILE))
    }

    pub fn workflow(&self) -> crate::workflow::WorkflowPolicy {
        crate::workflow::WorkflowPolicy {
            approvals_needed: self.approvals,
            overdue_after: time::Duration::hours(self.overdue_hours.into()),
            expire_after: time::Duration::days(self.expire_days.into()),
            default_grace_days: self.grace_days,
            bulk_threshold: self.bulk_threshold,
            ..Default::default()
        }
    }

    /// How this instance leases the operations it runs.
    pub fn lease(&self) -> crate::execution::Lease {
        let holder = self.instance_id.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|name| name.trim().to_owned())
                .ok()
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| "deprov".to_owned())
        });
        crate::execution::Lease {
            holder: holder.into(),
            lasts: std::time::Duration::from_secs(self.lease_secs),
        }
    }

    pub fn report(&self) -> crate::report::ReportConfig {
        crate::report::ReportConfig {
            grace_period: time::Duration::days(self.grace_days.into()),
            excluded_ous: self.exclude_ous.clone(),
            excluded_accounts: self.exclude_accounts.clone(),
        }
    }
}
