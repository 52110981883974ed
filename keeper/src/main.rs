//! `ironroot-keeper`: wires configuration to the keeper library and prints what it returns.
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ironroot_keeper::api::{ProofResponse, StatusResponse};
use ironroot_keeper::config::Config;
use ironroot_keeper::keys::AppId;
use ironroot_keeper::node::{chain_from_config, read_keypair, Node};
use ironroot_keeper::registration::{register_with_attester_keys, register_with_attesters, Evidence};
use ironroot_keeper::verify::{verify_against_chain_in, RecordState};
use solana_sdk::signature::Signer;

ironroot_keeper::use_keeper_allocator!();

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
    /// Register this keeper's TEE key: a quote from the dstack guest agent, checked and signed by
    /// attester services (governance's threshold k of them), then `register_tee`.
    Register {
        /// Attester service base URL (repeat it; k must vouch). Default: the config's attester_urls.
        #[arg(long = "attester-url")]
        attester_urls: Vec<String>,
        /// Registration lifetime to ask for (seconds; attesters and governance cap it).
        /// Default: the config's registration_lifetime_secs.
        #[arg(long)]
        lifetime_secs: Option<i64>,
        /// Development only, instead of attester services: attester keypair files that sign the
        /// statement themselves, checking nothing.
        #[arg(long = "attester", conflicts_with = "attester_urls", requires_all = ["measurement", "dstack_app_id", "compose_hash"])]
        attesters: Vec<PathBuf>,
        /// Development only: measurement digest (hex) the attester keys vouch for.
        #[arg(long, requires = "attesters")]
        measurement: Option<String>,
        /// Development only: dstack app id and compose hash (hex).
        #[arg(long, requires = "attesters")]
        dstack_app_id: Option<String>,
        #[arg(long, requires = "attesters")]
        compose_hash: Option<String>,
        /// Development only: statement nonce (must exceed the key's last one).
        #[arg(long, default_value_t = 1, requires = "attesters")]
        nonce: u64,
    },
    /// Bind this keeper's TEE key to a provider's stake for the app (`bind_tee`: the provider
    /// and the TEE key both sign), so the keeper can answer challenges for it.
    BindStake {
        /// The provider's keypair file (the wallet that opened the stake).
        #[arg(long)]
        provider_keypair: PathBuf,
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

fn main() -> anyhow::Result<()> {
    // Before the runtime starts its threads: the arena cap holds for every thread from the start.
    limit_malloc_arenas();
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("tokio runtime")?.block_on(run())
}

/// glibc's malloc gives threads that contend for it arenas of their own (up to eight per core)
/// and memory freed in one arena serves only that arena, so a daemon whose blocking threads
/// allocate and free page-sized buffers (the stores' page caches) and large transient ones
/// (manifest parts, listings) holds several times its live heap: 300,000 records filled through
/// the daemon peaked at 425 MiB with the default and 266 MiB with two arenas.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc's tuning; called before any thread is started.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// SIGINT (Ctrl-C) or SIGTERM (what `docker stop` and systemd send): either stops the daemon
/// cleanly (requests finish, the shards close and merge their record index).
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; stop the daemon with SIGINT");
                std::future::pending::<()>().await
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

async fn run() -> anyhow::Result<()> {
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
            node.serve(keeper, listener, stop_signal()).await?;
        }
        Command::BindStake { provider_keypair } => {
            let node = Node::from_config(cfg).await?;
            let provider = read_keypair(&provider_keypair)?;
            let signature = node.bind_stake(&provider).await?;
            println!(
                "bound TEE key {} to the stake of provider {} ({signature})",
                node.services.signer.pubkey(),
                provider.pubkey()
            );
        }
        Command::Register {
            attester_urls,
            lifetime_secs,
            attesters,
            measurement,
            dstack_app_id,
            compose_hash,
            nonce,
        } => {
            let node = Node::from_config(cfg).await?;
            let tee = node.services.signer.pubkey();
            if attesters.is_empty() {
                let urls =
                    if attester_urls.is_empty() { node.config.attester_urls.clone() } else { attester_urls };
                let lifetime = lifetime_secs.unwrap_or(node.config.registration_lifetime_secs);
                let done = register_with_attesters(&node, &urls, lifetime, &mut 0).await?;
                for failure in &done.failures {
                    eprintln!("attester did not vouch: {failure}");
                }
                let by: Vec<String> = done.attesters.iter().map(ToString::to_string).collect();
                println!(
                    "registered TEE key {tee} for app {} ({}), nonce {}, expires at {}, vouched by {}",
                    node.app,
                    done.registered.signature,
                    done.nonce,
                    done.expires_at,
                    by.join(", ")
                );
                println!("status: {:?}", done.registered.status);
            } else {
                let keys = attesters.iter().map(read_keypair).collect::<Result<Vec<_>, _>>()?;
                let hex_arg = |name: &str, v: Option<String>| hex32(name, v.as_deref().unwrap_or_default());
                let evidence = Evidence {
                    measurement: hex_arg("measurement", measurement)?,
                    dstack_app_id: hex_arg("dstack_app_id", dstack_app_id)?,
                    compose_hash: hex_arg("compose_hash", compose_hash)?,
                    nonce,
                };
                let registered = register_with_attester_keys(&node, &keys, &evidence).await?;
                println!("registered TEE key {tee} for app {} ({})", node.app, registered.signature);
                println!("status: {:?}", registered.status);
            }
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
            let mut request = reqwest::Client::new().get(format!("{url}/v1/apps/{app}/records/{key}/proof"));
            if let Some(token) = &cfg.api_token {
                request = request.bearer_auth(token);
            }
            let proof: ProofResponse = request.send().await?.error_for_status()?.json().await?;
            let onchain = chain.shard(app.as_bytes(), proof.shard).await?.context("shard not on-chain")?;
            let verified = verify_against_chain_in(cfg.tree_key_mode, key.as_bytes(), &proof, &onchain)?;
            if !verified.key_position_checked {
                println!(
                    "tree key mode keyed: checked at the position {} the keeper named; only the keeper can derive it from the key",
                    proof.key_hash
                );
            }
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
