//! `deprov serve`'s settings: each a flag, each also an environment variable.

use crate::backend::ldap::settings::{LdapArgs, SignInArgs};
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

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// The deployment: the embedded simulator, or a real AD (read-only without a Lync shell).
    #[arg(long, env = "DEPROV_BACKEND", value_enum, default_value_t = Backend::Sim)]
    pub backend: Backend,

    #[command(flatten)]
    pub ldap: LdapArgs,

    #[command(flatten)]
    pub sign_in: SignInArgs,

    /// Address and port to listen on.
    #[arg(long, env = "DEPROV_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Where the SQLite database (and the demo accounts' passwords) are kept.
    #[arg(long, env = "DEPROV_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

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
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            static_dir,
            sim_users,
            sim_seed,
            sim_churn: "off".to_owned(),
            grace_days: 30,
            exclude_ous: vec!["OU=Resources".to_owned(), "OU=Service Accounts".to_owned()],
            exclude_accounts: Vec::new(),
            demo_accounts: "off".to_owned(),
            secure_cookies: false,
            approvals: 1,
            overdue_hours: 48,
            expire_days: 14,
            step_timeout_secs: 2,
        }
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
