//! The `deprov` command: `deprov serve` runs the portal.

use clap::{Parser, Subcommand};
use deprov_server::Portal;
use deprov_server::config::ServeConfig;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "deprov", version, about = "De-provision Lync / Skype for Business Server users safely")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the portal (API and front end) on the embedded simulator.
    Serve(ServeConfig),
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn")))
        .init();
    let Command::Serve(config) = Cli::parse().command;
    match serve(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("deprov: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: ServeConfig) -> Result<(), Box<dyn std::error::Error>> {
    let listen = config.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e} (choose another with --listen)"))?;
    let users = config.sim_users;
    let portal = Portal::start(config).await?;
    let address = listener.local_addr()?;
    println!("deprov is running at http://{address}/ (simulated directory of {users} users). Ctrl-C stops it.");
    portal.serve(listener, async { tokio::signal::ctrl_c().await.ok(); }).await?;
    Ok(())
}
