//! `ironroot-keeper`: wires configuration to the keeper library and prints what it returns.
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ironroot_keeper::api::{ProofResponse, StatusResponse};
use ironroot_keeper::config::Config;
use ironroot_keeper::keys::AppId;
use ironroot_keeper::node::{chain_from_config, read_keypair, Node};
use ironroot_keeper::registration::{register_with_attester_keys, Evidence};
use ironroot_keeper::verify::{verify_against_chain, RecordState};
use solana_sdk::signature::Signer;

#[derive(Parser)]
#[command(name = "ironroot-keeper", version, about = "Rollback-proof encrypted storage keeper for TEE apps")]
struct Cli {
    /// TOML config file (environment variables IRONROOT_* override it).
    #[arg(long, global = true, env = "IRONROOT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the keeper daemon (HTTP API).
    Run,
    /// Register this keeper's TEE key: attestation evidence from the key source, signed by
    /// development attester keys (the attester service takes their place in production).
    Register {
        /// Attester keypair files (k of them).
        #[arg(long = "attester", required = true)]
        attesters: Vec<PathBuf>,
        /// Measurement digest (hex) the attesters vouch for.
        #[arg(long)]
        measurement: String,
        /// dstack app id and compose hash (hex).
        #[arg(long)]
        dstack_app_id: String,
        #[arg(long)]
        compose_hash: String,
        /// Statement nonce (must exceed the key's last one).
        #[arg(long, default_value_t = 1)]
        nonce: u64,
    },
    /// Show a running keeper's status.
    Status {
        #[arg(long, default_value = "http://127.0.0.1:8787")]
        url: String,
    },
    /// Rebuild local shard stores from the chain and the blob store (keeper stopped).
    Recover,
    /// Check a record's proof from outside the keeper, against the shard root on-chain.
    Verify {
        #[arg(long, default_value = "http://127.0.0.1:8787")]
        url: String,
        key: String,
    },
    /// Write an encrypted backup of the committed state (keeper stopped).
    Export { out: PathBuf },
    /// Restore an encrypted backup into this keeper's data dir (keeper stopped).
    Import { input: PathBuf },
}

fn hex32(name: &str, v: &str) -> anyhow::Result<[u8; 32]> {
    hex::decode(v)
        .ok()
        .and_then(|b| b.try_into().ok())
        .with_context(|| format!("{name} must be 64 hex characters"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,solana=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cfg = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Run => {
            let node = Node::from_config(cfg).await?;
            let keeper = node.open_keeper().await?;
            let listener = tokio::net::TcpListener::bind(&node.config.listen).await?;
            eprintln!("ironroot-keeper serving app {} on http://{}", node.app, listener.local_addr()?);
            node.serve(keeper, listener, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        }
        Command::Register { attesters, measurement, dstack_app_id, compose_hash, nonce } => {
            let node = Node::from_config(cfg).await?;
            let attesters = attesters.iter().map(read_keypair).collect::<Result<Vec<_>, _>>()?;
            let evidence = Evidence {
                measurement: hex32("measurement", &measurement)?,
                dstack_app_id: hex32("dstack_app_id", &dstack_app_id)?,
                compose_hash: hex32("compose_hash", &compose_hash)?,
                nonce,
            };
            let registered = register_with_attester_keys(&node, &attesters, &evidence).await?;
            println!(
                "registered TEE key {} for app {} ({})",
                node.services.signer.pubkey(),
                node.app,
                registered.signature
            );
            println!("status: {:?}", registered.status);
        }
        Command::Status { url } => {
            let status: StatusResponse =
                reqwest::get(format!("{url}/v1/status")).await?.error_for_status()?.json().await?;
            print!("{status}");
        }
        Command::Recover => {
            let node = Node::from_config(cfg).await?;
            let bar = indicatif::ProgressBar::new_spinner();
            let outcomes = node
                .recover(|shard, manifests, entries| {
                    bar.set_message(format!("shard {shard}: {manifests} manifests, {entries} entries read"));
                    bar.tick();
                })
                .await?;
            bar.finish_and_clear();
            let mut failed = 0;
            for (shard, outcome) in outcomes {
                match outcome {
                    Ok(startup) => println!("shard {shard}: {startup:?}"),
                    Err(e) => {
                        failed += 1;
                        println!("shard {shard}: FAILED CLOSED: {e}");
                    }
                }
            }
            anyhow::ensure!(failed == 0, "{failed} shard(s) could not be recovered");
        }
        Command::Verify { url, key } => {
            // Only the chain: a running daemon holds the local stores locked.
            let app = AppId(cfg.app_id_bytes()?);
            let chain = chain_from_config(&cfg)?;
            let proof: ProofResponse = reqwest::get(format!("{url}/v1/apps/{app}/records/{key}/proof"))
                .await?
                .error_for_status()?
                .json()
                .await?;
            let onchain = chain.shard(app.as_bytes(), proof.shard).await?.context("shard not on-chain")?;
            let verified = verify_against_chain(key.as_bytes(), &proof, &onchain)?;
            let what = match verified.state {
                RecordState::Exists { version } => format!("version {version} exists"),
                RecordState::Deleted { version } => format!("deleted at version {version}"),
                RecordState::NeverWritten => "was never written".into(),
            };
            if verified.on_chain {
                println!(
                    "verified: {key:?} {what} under on-chain shard {} root {} (seq {})",
                    proof.shard, proof.root, verified.onchain_seq
                );
            } else {
                println!(
                    "verified against the keeper's pending root {} only: {key:?} {what}; not yet committed (on-chain seq {})",
                    proof.root, verified.onchain_seq
                );
            }
        }
        Command::Export { out } => {
            let node = Node::from_config(cfg).await?;
            let file = tokio::io::BufWriter::new(tokio::fs::File::create(&out).await?);
            for s in node.export(file).await? {
                println!(
                    "shard {}: seq {} root {} {} records",
                    s.shard,
                    s.seq,
                    hex::encode(s.root),
                    s.records
                );
            }
            println!("backup written to {}", out.display());
        }
        Command::Import { input } => {
            let node = Node::from_config(cfg).await?;
            let file = std::io::BufReader::new(std::fs::File::open(&input)?);
            for s in node.import(file).await? {
                println!(
                    "shard {}: restored seq {} root {} ({} records), matches the chain",
                    s.shard,
                    s.seq,
                    hex::encode(s.root),
                    s.records
                );
            }
        }
    }
    Ok(())
}
