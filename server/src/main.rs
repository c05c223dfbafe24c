//! The `deprov` command: `deprov serve` runs the portal; `deprov check-connection` tries the AD
//! connection an operator configured; `deprov user` manages local accounts; `deprov audit
//! verify` checks the audit log's keyed hash chain and the request tables against it; `deprov
//! lab-ldif` writes a lab directory.

use clap::{Args, Parser, Subcommand};
use deprov_server::Portal;
use deprov_server::audit::verify::ExpectedHead;
use deprov_server::backend::ldap::settings::{LdapArgs, SignInArgs};
use deprov_server::config::{Backend, ServeConfig};
use deprov_server::people::accounts::{self, random_password};
use deprov_server::people::tokens;
use deprov_server::store::Store;
use deprov_wire::people::Role;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "deprov",
    version,
    about = "De-provision Lync / Skype for Business Server users safely"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the portal (API and front end): on the embedded simulator, or on a real AD
    /// (--backend lync).
    Serve(Box<ServeConfig>),
    /// Try the AD connection the --ldap-* flags describe: bind, rootDSE, the Lync schema, a paged
    /// read, the pools. Exits non-zero and says what is wrong if anything is.
    CheckConnection {
        #[command(flatten)]
        ldap: LdapArgs,
        #[command(flatten)]
        sign_in: SignInArgs,
    },
    /// A Lync shell worker for tests and labs: speaks the worker protocol on stdin/stdout and
    /// applies the cmdlets to AD over LDAP as Lync would (or to the simulator without --ldap-url).
    ShellStandIn(Box<deprov_server::backend::shell::stand_in::StandInArgs>),
    /// Write the simulated directory as LDIF for a lab AD (the tests load a Samba DC with it).
    LabLdif {
        /// Users to generate.
        #[arg(long, default_value_t = 300)]
        users: usize,
        /// Seed of the generated directory (the same as `deprov serve --sim-seed`).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The domain's base DN (the generator's users live under DC=contoso,DC=com).
        #[arg(long, default_value = "DC=contoso,DC=com")]
        base_dn: String,
        /// Also write the --ldap-pool FQDN=DN mappings here, one per line.
        #[arg(long)]
        pools_file: Option<PathBuf>,
    },
    /// Manage local accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Manage API tokens for other systems (an HR system filing requests).
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token. Its secret is printed once and stored only as a hash; the system sends it
    /// as `Authorization: Bearer <secret>`.
    Add {
        name: String,
        /// The one role it acts with: requester (files requests) or auditor (reads); approving
        /// and running stay with people.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Days until it expires (1 to 3650); without it, it lasts until revoked.
        #[arg(long, value_name = "DAYS")]
        expires: Option<u32>,
        #[command(flatten)]
        data: DataDir,
    },
    /// Revoke a token at once.
    Revoke {
        name: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// List tokens: role, expiry, last use (never their secrets).
    List {
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Args)]
struct DataDir {
    /// The portal's data folder (as given to `deprov serve`).
    #[arg(long, env = "DEPROV_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// The audit log's key, when not `audit.key` in the data folder (as given to `deprov serve`).
    #[arg(long, env = "DEPROV_AUDIT_KEY_FILE", value_name = "FILE")]
    audit_key_file: Option<PathBuf>,
    #[command(flatten)]
    database: deprov_server::config::DatabaseArgs,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account. The password is read from standard input when it is piped, else a
    /// random one is generated and printed once.
    Add {
        name: String,
        /// requester, approver, admin or auditor; repeat for several.
        #[arg(long = "role", required = true, value_parser = parse_role)]
        roles: Vec<Role>,
        /// Where deprov mails them of work waiting for them and of their requests.
        #[arg(long, value_name = "ADDRESS")]
        email: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
    /// Set the address deprov mails an account's owner at; without ADDRESS, remove it.
    SetEmail {
        name: String,
        address: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
    /// List accounts and their roles.
    List {
        #[command(flatten)]
        data: DataDir,
    },
    /// Disable an account and end its sessions.
    Disable {
        name: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Enable a disabled account again.
    Enable {
        name: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Set a new password (from standard input when piped, else random and printed once).
    ResetPassword {
        name: String,
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the keyed hash chain, print its head, and check every request, decision and
    /// operation against the log; exit 1 and name the rows and requests at fault if anything
    /// was edited, added or deleted.
    Verify {
        /// The head an earlier verify printed, or the daily digest mailed (SEQ:HASH): the log
        /// must still reach that row with that hash. This is what catches rows deleted from the
        /// end. `--anchor` is the same.
        #[arg(long, alias = "anchor", value_name = "SEQ:HASH")]
        expect_head: Option<ExpectedHead>,
        #[command(flatten)]
        data: DataDir,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text)
        .ok_or_else(|| format!("'{text}' is not a role: use requester, approver, admin or auditor"))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let outcome = match Cli::parse().command {
        Command::Serve(config) => serve(*config).await,
        Command::CheckConnection { ldap, sign_in } => check_connection(ldap, sign_in).await,
        Command::ShellStandIn(args) => deprov_server::backend::shell::stand_in::run(*args)
            .await
            .map(|()| ExitCode::SUCCESS)
            .map_err(Into::into),
        Command::LabLdif {
            users,
            seed,
            base_dn,
            pools_file,
        } => lab_ldif(users, seed, &base_dn, pools_file),
        Command::User(command) => user(command).await,
        Command::Token(command) => token(command).await,
        Command::Audit(AuditCommand::Verify { expect_head, data }) => {
            verify(data, expect_head).await
        }
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("deprov: {error}");
            ExitCode::FAILURE
        }
    }
}

type Outcome = Result<ExitCode, Box<dyn std::error::Error>>;

async fn serve(config: ServeConfig) -> Outcome {
    let listen = config.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e} (choose another with --listen)"))?;
    let (data_dir, demo) = (config.data_dir.clone(), config.demo_accounts == "on");
    let what = match config.backend {
        Backend::Sim => format!("simulated directory of {} users", config.sim_users),
        Backend::Lync => format!(
            "AD at {}; read-only: no Lync shell is configured",
            config.ldap.ldap_url.as_deref().unwrap_or("?")
        ),
    };
    let portal = Portal::start(config).await?;
    let address = listener.local_addr()?;
    let users = portal.state.directory.snapshot().len();
    println!(
        "deprov is running at http://{address}/ ({what}; {users} users read). Ctrl-C stops it."
    );
    if demo {
        println!(
            "Demo accounts (name, password, roles), also in {}:",
            deprov_server::demo::credentials_file(&data_dir).display()
        );
        for line in deprov_server::demo::credentials(&data_dir) {
            println!("    {line}");
        }
    }
    // Ctrl-C or SIGTERM (what systemd and container runtimes send): finish, then exit.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    portal
        .serve(listener, async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            tracing::info!("stopping: finishing open requests");
        })
        .await?;
    println!("deprov stopped.");
    Ok(ExitCode::SUCCESS)
}

async fn check_connection(ldap: LdapArgs, sign_in: SignInArgs) -> Outcome {
    use deprov_server::backend::ldap::check::{self, Verdict};
    let settings = ldap.settings()?;
    let groups = match sign_in.role_groups() {
        Ok(groups) => groups.unwrap_or_default(),
        Err(why) => return Err(why.into()),
    };
    println!(
        "Checking {} (users under {}):",
        settings.url, settings.base_dn
    );
    let checked = check::run(&settings, &groups).await;
    for finding in &checked.findings {
        let mark = match finding.verdict {
            Verdict::Ok => "  ok  ",
            Verdict::Note => " note ",
            Verdict::Fail => " FAIL ",
        };
        println!("{mark} {}", finding.text);
    }
    if checked.failed() {
        println!("The connection does not work yet: fix what FAIL says and run this again.");
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "The connection works. Start the portal with the same flags: deprov serve --backend lync ..."
    );
    Ok(ExitCode::SUCCESS)
}

fn lab_ldif(users: usize, seed: u64, base_dn: &str, pools_file: Option<PathBuf>) -> Outcome {
    use deprov_server::backend::{ldap::ldif, sim::generate};
    let directory = generate::directory(users, seed, time::OffsetDateTime::now_utc());
    let lab = ldif::lab(&directory, base_dn)?;
    if let Some(file) = pools_file {
        let lines: String = lab
            .pools
            .iter()
            .map(|(fqdn, dn)| format!("{fqdn}={dn}\n"))
            .collect();
        std::fs::write(&file, lines).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    print!("{}", lab.ldif);
    Ok(ExitCode::SUCCESS)
}

/// A password from piped standard input, or a fresh random one to print.
fn password() -> Result<(String, bool), Box<dyn std::error::Error>> {
    if std::io::stdin().is_terminal() {
        return Ok((random_password(), true));
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    if line.is_empty() {
        Ok((random_password(), true))
    } else {
        Ok((line, false))
    }
}

async fn open(data: &DataDir) -> Result<Store, Box<dyn std::error::Error>> {
    deprov_server::store::create_data_dir(&data.data_dir)?;
    let key_file = data
        .audit_key_file
        .clone()
        .unwrap_or_else(|| data.data_dir.join(deprov_server::audit::key::KEY_FILE));
    let database = data.database.database(&data.data_dir)?;
    Ok(Store::connect(&database, &key_file).await?)
}

async fn user(command: UserCommand) -> Outcome {
    match command {
        UserCommand::Add {
            name,
            roles,
            email,
            data,
        } => {
            let store = open(&data).await?;
            let (password, generated) = password()?;
            if let Some(email) = &email {
                // Checked before the account exists: a typo must not leave it half made.
                email.parse::<lettre::Address>().map_err(|e| {
                    accounts::AccountError::Invalid(format!("'{email}' is not a mail address: {e}"))
                })?;
            }
            accounts::add(&store, &name, &roles, &password).await?;
            if email.is_some() {
                accounts::set_email(&store, &name, email.as_deref()).await?;
            }
            println!("Added {name}.");
            if generated {
                println!("Password (shown once): {password}");
            }
        }
        UserCommand::List { data } => {
            let store = open(&data).await?;
            for account in accounts::list(&store).await? {
                let roles: Vec<_> = account.roles.iter().map(|r| r.as_str()).collect();
                let state = if account.disabled {
                    "disabled"
                } else {
                    "active"
                };
                println!(
                    "{:<24} {:<32} {state:<9} {:<32} created {}",
                    account.name,
                    roles.join(","),
                    account.email.as_deref().unwrap_or("(no mail address)"),
                    account.created_at
                );
            }
        }
        UserCommand::SetEmail {
            name,
            address,
            data,
        } => {
            accounts::set_email(&open(&data).await?, &name, address.as_deref()).await?;
            match address {
                Some(address) => println!("{name} is mailed at {address}."),
                None => println!("{name} has no mail address now."),
            }
        }
        UserCommand::Disable { name, data } => {
            accounts::set_disabled(&open(&data).await?, &name, true).await?;
            println!("Disabled {name}; their sessions have ended.");
        }
        UserCommand::Enable { name, data } => {
            accounts::set_disabled(&open(&data).await?, &name, false).await?;
            println!("Enabled {name}.");
        }
        UserCommand::ResetPassword { name, data } => {
            let store = open(&data).await?;
            let (password, generated) = password()?;
            accounts::reset_password(&store, &name, &password).await?;
            println!("New password set for {name}; their sessions have ended.");
            if generated {
                println!("Password (shown once): {password}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn token(command: TokenCommand) -> Outcome {
    match command {
        TokenCommand::Add {
            name,
            role,
            expires,
            data,
        } => {
            let secret = tokens::add(&open(&data).await?, &name, role, expires).await?;
            println!(
                "Added token {name} ({}); calls with it are recorded as {}.",
                role.as_str(),
                tokens::principal(&name)
            );
            println!("Secret (shown once): {secret}");
        }
        TokenCommand::Revoke { name, data } => {
            tokens::revoke(&open(&data).await?, &name).await?;
            println!("Revoked token {name}: its next call is refused.");
        }
        TokenCommand::List { data } => {
            let moment = |at: Option<time::OffsetDateTime>, none: &str| {
                at.map_or_else(|| none.to_owned(), deprov_server::store::stamp)
            };
            for token in tokens::list(&open(&data).await?).await? {
                let state = if token.revoked_at.is_some() {
                    "revoked"
                } else if token
                    .expires_at
                    .is_some_and(|at| at <= time::OffsetDateTime::now_utc())
                {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{:<24} {:<10} {state:<8} expires {:<26} last used {}",
                    token.name,
                    token.role.as_str(),
                    moment(token.expires_at, "never"),
                    moment(token.last_used_at, "never")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn verify(data: DataDir, expected: Option<ExpectedHead>) -> Outcome {
    let store = open(&data).await?;
    let found = deprov_server::audit::verify::verify(&store, expected.as_ref()).await?;
    let checked = &found.cross_checked;
    match &found.head {
        Some(head) => println!(
            "Head: row {} at {}, hash {}\n  (write it down; `deprov audit verify --expect-head {}:{}` later shows whether rows were cut from the end)",
            head.seq, head.at, head.hash, head.seq, head.hash
        ),
        None => println!("Head: none (the audit log is empty)"),
    }
    if found.unkeyed_rows > 0 {
        println!(
            "{} rows predate the audit key: they are chained by unkeyed SHA-256 only.",
            found.unkeyed_rows
        );
    }
    println!(
        "Cross-checked against the log: {} requests, {} decisions, {} operations{}.",
        checked.requests,
        checked.decisions,
        checked.operations,
        if checked.predating > 0 {
            format!(
                " ({} more last changed before the key: found in the old rows, their state not checked)",
                checked.predating
            )
        } else {
            String::new()
        }
    );
    if found.problems.is_empty() {
        println!(
            "Audit log intact: {} rows, hash chain verified, the request tables agree with it.",
            found.rows
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Audit log TAMPERED ({} rows read, {} problems):",
        found.rows,
        found.problems.len()
    );
    for problem in &found.problems {
        println!("  - {problem}");
    }
    Ok(ExitCode::FAILURE)
}
