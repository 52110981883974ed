//! `ironroot-localnet`: serves Solana JSON-RPC and WebSocket on 127.0.0.1 with Ironroot's programs
//! until SIGINT or SIGTERM.
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use ironroot_localnet::{Localnet, Options};
use tokio::signal::unix::{signal, SignalKind};
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(version, about = "Solana JSON-RPC localnet with Ironroot's programs (surfpool-core over LiteSVM)")]
struct Args {
    /// Where the development keypairs (kept across restarts) and `localnet.json` are written.
    #[arg(long, default_value = ".ironroot/localnet")]
    state_dir: PathBuf,
    #[arg(long, default_value_t = 8899)]
    rpc_port: u16,
    #[arg(long, default_value_t = 8900)]
    ws_port: u16,
    /// Block time in milliseconds (a blockhash stays valid for 75 blocks).
    #[arg(long, default_value_t = 400)]
    slot_time_ms: u64,
}

fn main() -> anyhow::Result<()> {
    // Our own lines at info; the Solana crates (the bank that installs the syscall stubs, surfpool's
    // servers) only from warn. LiteSVM is off: surfpool's per-instruction profiling makes it log a
    // sanitization error for every multi-instruction transaction; real failures reach the client.
    let default_filter = || EnvFilter::new("warn,ironroot_localnet=info,litesvm=off");
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let args = Args::parse();
    let options = Options {
        state_dir: args.state_dir,
        rpc_port: args.rpc_port,
        ws_port: args.ws_port,
        slot_time_ms: args.slot_time_ms,
    };
    let mut localnet = Localnet::start(&options).context("starting the localnet")?;
    println!("ready {} (config: {})", localnet.config().rpc_url, localnet.config_path().display());
    // surfpool 0.10 prints per-transaction debugging with `println!`; keep stdout to the one
    // "ready" line that scripts wait for by sending everything after it to stderr.
    redirect_stdout_to_stderr().context("redirecting stdout")?;

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut terminate = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("waiting for SIGINT")?,
            _ = terminate.recv() => {}
            _ = localnet.exited() => warn!("the localnet stopped by itself"),
        }
        anyhow::Ok(())
    })?;
    info!("stopping");
    localnet.stop().context("stopping the localnet")?;
    info!("stopped");
    Ok(())
}

fn redirect_stdout_to_stderr() -> std::io::Result<()> {
    use std::io::Write;
    std::io::stdout().flush()?;
    // SAFETY: duplicates the process's own standard descriptors; nothing else owns fd 1.
    if unsafe { libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
