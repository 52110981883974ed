//! `ironroot-demo`: the one-command demo on embedded defaults (bank, programs, keeper, HTTP,
//! rollback), printed as a short narrative and a report.
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};

use clap::Parser;
use ironroot_devkit::demo::{run_demo, DemoOptions};

#[derive(Parser)]
#[command(name = "ironroot-demo", version, about = "Ironroot's one-command local demo")]
struct Args {
    #[arg(long, default_value_t = 3000)]
    records: usize,
    #[arg(long, default_value_t = 4)]
    shards: u16,
    /// Store blobs on this Kubo RPC API instead of a local directory.
    #[arg(long)]
    ipfs: Option<String>,
    /// Keep the programs' raw log lines (native programs print them to stdout).
    #[arg(long)]
    program_logs: bool,
}

/// Natively run programs print `msg!`/`emit!` lines straight to the process's stdout; the demo
/// sends those to /dev/null and writes its own narrative to a duplicate of the real stdout.
fn narrative_output(keep_program_logs: bool) -> anyhow::Result<std::fs::File> {
    // SAFETY: dup/dup2 on the process's own standard descriptors; the returned fd is owned here.
    let real = unsafe { libc::dup(1) };
    anyhow::ensure!(real >= 0, "dup(stdout): {}", std::io::Error::last_os_error());
    let real = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(real) });
    if !keep_program_logs {
        let null = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
        let rc = unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 1) };
        anyhow::ensure!(rc >= 0, "dup2(/dev/null, stdout): {}", std::io::Error::last_os_error());
    }
    Ok(real)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            // The availability story destroys the keeper's data on purpose: its errors are the
            // story, told by the narrative (every step is checked), not log noise.
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error,ironroot_keeper::provider=off,ironroot_keeper::app=off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let out = std::sync::Mutex::new(narrative_output(args.program_logs)?);
    let started = std::time::Instant::now();
    let say = |line: &str| {
        let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "[{:>5.1} s] {line}", started.elapsed().as_secs_f64());
    };
    let opts =
        DemoOptions { records: args.records, shards: args.shards, ipfs_api: args.ipfs, data_dir: None };
    let report = run_demo(opts, say).await?;
    let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
    writeln!(out, "\n{report}")?;
    Ok(())
}
