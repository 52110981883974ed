//! `ironroot-attester`: the attester daemon.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use ironroot_attester::attest::{DEFAULT_FRESHNESS_SECS, DEFAULT_STATEMENT_LIFETIME_SECS};
use ironroot_attester::chain::RpcChain;
use ironroot_attester::collateral::{CollateralSource, DirectorySource, PccsSource};
use ironroot_attester::{api, keyfile, system_clock, Attester, AttesterSettings};
use tracing::info;

#[derive(Parser, Debug)]
#[command(
    name = "ironroot-attester",
    about = "Verifies TEE quotes and signs Ironroot attestation statements"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "IRONROOT_ATTESTER_LISTEN", default_value = "127.0.0.1:8790")]
    listen: SocketAddr,
    /// The attester's ed25519 keypair (Solana JSON keypair file, mode 600).
    #[arg(long, env = "IRONROOT_ATTESTER_KEY")]
    key_file: PathBuf,
    /// JSON-RPC URL of the cluster whose governance config is enforced.
    #[arg(long, env = "IRONROOT_RPC_URL", default_value = "http://127.0.0.1:8899")]
    rpc_url: String,
    /// Offline collateral directory (`<tee>-<FMSPC>-<ca>.json` files).
    #[arg(long, env = "IRONROOT_COLLATERAL_DIR", conflicts_with = "pccs_url")]
    collateral_dir: Option<PathBuf>,
    /// PCCS or Intel PCS base URL (collateral fetched and cached).
    #[arg(long, env = "IRONROOT_PCCS_URL")]
    pccs_url: Option<String>,
    /// Refetch cached PCCS collateral once it is this old (seconds).
    #[arg(long, default_value_t = 3600)]
    pccs_refresh_secs: u64,
    /// Refuse collateral issued longer ago than this (seconds).
    #[arg(long, env = "IRONROOT_COLLATERAL_FRESHNESS_SECS", default_value_t = DEFAULT_FRESHNESS_SECS)]
    freshness_secs: u64,
    /// Lifetime of a signed statement (seconds); governance's key lifetime caps it.
    #[arg(long, default_value_t = DEFAULT_STATEMENT_LIFETIME_SECS)]
    statement_lifetime_secs: i64,
    /// Trust anchor (DER). Default: Intel's SGX root CA.
    #[arg(long)]
    root_ca: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let key = keyfile::read_signing_key(&args.key_file)?;
    let clock = system_clock();
    let collateral: Arc<dyn CollateralSource> = match (&args.collateral_dir, &args.pccs_url) {
        (Some(dir), _) => Arc::new(DirectorySource::new(dir)),
        (None, Some(url)) => {
            Arc::new(PccsSource::new(url, Duration::from_secs(args.pccs_refresh_secs), clock.clone())?)
        }
        (None, None) => anyhow::bail!("set --collateral-dir or --pccs-url"),
    };
    let root_ca_der = match &args.root_ca {
        Some(path) => std::fs::read(path).with_context(|| format!("root CA {}", path.display()))?,
        None => ironroot_attester::quote::INTEL_ROOT_CA_DER.to_vec(),
    };
    let settings = AttesterSettings {
        root_ca_der,
        freshness_secs: args.freshness_secs,
        statement_lifetime_secs: args.statement_lifetime_secs,
    };
    let attester =
        Arc::new(Attester::new(key, settings, collateral, Arc::new(RpcChain::new(args.rpc_url)), clock));
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("bind {}", args.listen))?;
    info!(attester = %attester.pubkey(), addr = %listener.local_addr()?, "attester listening");
    axum::serve(listener, api::router(attester))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
