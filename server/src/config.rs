//! `deprov serve`'s settings: each a flag, each also an environment variable.

use crate::backend::ldap::settings::{LdapArgs, Secret, SignInArgs};
use crate::backend::shell::ShellConfig;
use crate::backend::shell::worker::Launch;
use clap::builder::TypedValueParser as _;
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

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
            (Some(user), Some(file)) => {
                let password = std::fs::read_to_string(file)
                    .map_err(|e| format!("--lync-shell-password-file {}: {e}", file.display()))?;
                Some((
                    user.clone(),
                    Secret::new(password.trim_end_matches(['\r', '\n']).to_owned()),
                ))
            }
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

    /// Further sAMAccountNames to exclude from the report.
    #[arg(
        long = "exclude-account",
        env = "DEPROV_EXCLUDE_ACCOUNTS",
        value_delimiter = ';'
    )]
    pub exclude_accounts: Vec<String>,
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
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            audit_key_file: None,
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
            ..Default::default()
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
