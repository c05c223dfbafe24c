//! The `deprov` command: `deprov serve` runs the portal; `deprov user` manages local accounts;
//! `deprov audit verify` checks the audit log's hash chain.

use clap::{Args, Parser, Subcommand};
use deprov_server::Portal;
use deprov_server::config::ServeConfig;
use deprov_server::people::accounts::{self, random_password};
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
    /// Run the portal (API and front end) on the embedded simulator.
    Serve(ServeConfig),
    /// Manage local accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Args)]
struct DataDir {
    /// The portal's data folder (as given to `deprov serve`).
    #[arg(long, env = "DEPROV_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
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
    /// Recompute the hash chain; exit 1 if any row was edited or deleted.
    Verify {
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
        Command::Serve(config) => serve(config).await,
        Command::User(command) => user(command).await,
        Command::Audit(AuditCommand::Verify { data }) => verify(data).await,
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
    let (users, data_dir, demo) = (
        config.sim_users,
        config.data_dir.clone(),
        config.demo_accounts == "on",
    );
    let portal = Portal::start(config).await?;
    let address = listener.local_addr()?;
    println!(
        "deprov is running at http://{address}/ (simulated directory of {users} users). Ctrl-C stops it."
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
    portal
        .serve(listener, async {
            tokio::signal::ctrl_c().await.ok();
        })
        .await?;
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
    std::fs::create_dir_all(&data.data_dir)?;
    Ok(Store::open(&data.data_dir).await?)
}

async fn user(command: UserCommand) -> Outcome {
    match command {
        UserCommand::Add { name, roles, data } => {
            let store = open(&data).await?;
            let (password, generated) = password()?;
            accounts::add(&store, &name, &roles, &password).await?;
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
                    "{:<24} {:<32} {state:<9} created {}",
                    account.name,
                    roles.join(","),
                    account.created_at
                );
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

async fn verify(data: DataDir) -> Outcome {
    let store = open(&data).await?;
    let verification = deprov_server::audit::verify(&store).await?;
    if verification.problems.is_empty() {
        println!(
            "Audit log intact: {} rows, hash chain verified.",
            verification.rows
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("Audit log TAMPERED ({} rows read):", verification.rows);
    for problem in &verification.problems {
        println!("  - {problem}");
    }
    Ok(ExitCode::FAILURE)
}
