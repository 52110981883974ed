//! `ironroot-keeper`: wires configuration to the keeper library.
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use ironroot_keeper::api::{self, ApiMetrics, ApiState, ProofResponse, StatusResponse};
use ironroot_keeper::app::{AppKeeper, AppSettings};
use ironroot_keeper::blobs::{BlobStore, IpfsBlobStore, LocalBlobStore};
use ironroot_keeper::chain::{Chain, RpcChain};
use ironroot_keeper::config::Config;
use ironroot_keeper::demo::{run_demo, DemoOptions};
use ironroot_keeper::keys::{AppId, DstackClient, DstackKeySource, KeySource, SealedKeyFile};
use ironroot_keeper::tree::{verify_record_proof, RecordProof, ShardStore};
use ironroot_keeper::{backup, recovery};
use solana_sdk::signature::{read_keypair_file, Keypair, Signer};

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
    /// Everything in one process on embedded defaults: bank, programs, keeper, HTTP, rollback.
    Demo {
        #[arg(long, default_value_t = 3000)]
        records: usize,
        #[arg(long, default_value_t = 4)]
        shards: u16,
        /// Store blobs on this Kubo RPC API instead of a local directory.
        #[arg(long)]
        ipfs: Option<String>,
    },
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

struct Parts {
    app: AppId,
    keys: Arc<dyn KeySource>,
    blobs: Arc<dyn BlobStore>,
    chain: Arc<dyn Chain>,
    signer: Arc<Keypair>,
}

async fn parts(cfg: &Config) -> anyhow::Result<Parts> {
    let app = AppId(cfg.app_id_bytes()?);
    let keys: Arc<dyn KeySource> = match cfg.key_source.as_str() {
        "sealed" => Arc::new(SealedKeyFile::open_or_create(
            cfg.sealed_key_file.clone().unwrap_or_else(|| cfg.data_dir.join("keys").join("root.key")),
        )?),
        "dstack" => {
            let endpoint =
                cfg.dstack_endpoint.clone().context("key_source = dstack needs dstack_endpoint")?;
            Arc::new(DstackKeySource::new(DstackClient::new(endpoint)?))
        }
        other => bail!("unknown key_source {other:?} (sealed or dstack)"),
    };
    let seed = keys.signing_seed(&app).await?;
    let signer = Arc::new(
        solana_sdk::signer::keypair::keypair_from_seed(&seed[..]).map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let blobs: Arc<dyn BlobStore> = match &cfg.ipfs_api {
        Some(api) => Arc::new(IpfsBlobStore::new(api.clone())?),
        None => Arc::new(LocalBlobStore::open(cfg.data_dir.join("blobs"))?),
    };
    let fee_payer = match &cfg.fee_payer_keypair {
        Some(path) => read_keypair_file(path)
            .map_err(|e| anyhow::anyhow!("fee payer keypair {}: {e}", path.display()))?,
        None => bail!("fee_payer_keypair (or IRONROOT_FEE_PAYER) is required"),
    };
    let chain: Arc<dyn Chain> =
        Arc::new(RpcChain::new(cfg.rpc_url.clone(), fee_payer, cfg.publisher_pubkey()?));
    Ok(Parts { app, keys, blobs, chain, signer })
}

fn settings(cfg: &Config) -> AppSettings {
    AppSettings {
        commit_every_writes: cfg.commit_every_writes,
        commit_interval: cfg.commit_interval(),
        max_group: cfg.max_group,
    }
}

async fn stores(cfg: &Config, p: &Parts) -> anyhow::Result<Vec<(u16, PathBuf)>> {
    let app = p.chain.app(&p.app.0).await?.context("the app is not on-chain")?;
    let ids = cfg.shards.clone().unwrap_or_else(|| (0..app.shard_count).collect());
    Ok(ids
        .into_iter()
        .map(|id| (id, cfg.data_dir.join(p.app.to_string()).join(format!("shard-{id}.redb"))))
        .collect())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The demo prints a report; the in-process bank would otherwise log every request.
    let default_filter = match cli.command {
        Command::Demo { .. } => "error",
        _ => "info,solana=warn,solana_runtime=warn,solana_program_test=warn,tarpc=warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cfg = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Run => {
            let p = parts(&cfg).await?;
            let keeper = AppKeeper::open(
                p.app,
                cfg.shards.clone(),
                &cfg.data_dir,
                settings(&cfg),
                p.blobs,
                p.keys,
                p.chain,
                p.signer,
            )
            .await?;
            let state = ApiState {
                keeper: keeper.clone(),
                admin_token: cfg.admin_token.clone().map(Arc::new),
                metrics: Arc::new(ApiMetrics::default()),
                max_body_bytes: cfg.max_body_bytes,
            };
            let listener = tokio::net::TcpListener::bind(&cfg.listen).await?;
            eprintln!("ironroot-keeper serving app {} on http://{}", p.app, listener.local_addr()?);
            axum::serve(listener, api::router(state))
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await?;
            keeper.shutdown().await;
        }
        Command::Demo { records, shards, ipfs } => {
            let report = run_demo(DemoOptions { records, shards, ipfs_api: ipfs, data_dir: None }).await?;
            println!("\n{report}");
        }
        Command::Register { attesters, measurement, dstack_app_id, compose_hash, nonce } => {
            register(&cfg, attesters, &measurement, &dstack_app_id, &compose_hash, nonce).await?;
        }
        Command::Status { url } => {
            let status: StatusResponse =
                reqwest::get(format!("{url}/v1/status")).await?.error_for_status()?.json().await?;
            println!("app {} ({} shards), TEE key {}", status.app, status.shard_count, status.tee_pubkey);
            for s in status.shards {
                match s.failed_closed {
                    Some(reason) => println!("shard {:>3}: FAILED CLOSED: {reason}", s.shard),
                    None => println!(
                        "shard {:>3}: local seq {} root {}, on-chain seq {} root {}, {} pending writes, key epoch {}, {} records",
                        s.shard,
                        s.local_seq.unwrap_or(0),
                        s.local_root.unwrap_or_default(),
                        s.onchain_seq.unwrap_or(0),
                        s.onchain_root.unwrap_or_default(),
                        s.pending_writes.unwrap_or(0),
                        s.key_epoch.unwrap_or(0),
                        s.records.unwrap_or(0),
                    ),
                }
            }
        }
        Command::Recover => {
            let p = parts(&cfg).await?;
            for (id, path) in stores(&cfg, &p).await? {
                let onchain = p.chain.shard(&p.app.0, id).await?.context("shard not on-chain")?;
                let (store, quarantined) = recovery::open_or_quarantine(&path)?;
                let bar = indicatif::ProgressBar::new_spinner();
                bar.set_message(format!("shard {id}: reconciling with on-chain seq {}", onchain.seq));
                let (_, startup) = recovery::reconcile(
                    store,
                    &onchain,
                    p.blobs.as_ref(),
                    p.keys.as_ref(),
                    p.app,
                    id as u32,
                    quarantined.is_some(),
                    |manifests, entries| {
                        bar.set_message(format!("shard {id}: {manifests} manifests, {entries} entries read"));
                        bar.tick();
                    },
                )
                .await?;
                bar.finish_and_clear();
                println!("shard {id}: {startup:?}");
            }
        }
        Command::Verify { url, key } => {
            let p = parts(&cfg).await?;
            let proof: ProofResponse = reqwest::get(format!("{url}/v1/apps/{}/records/{key}/proof", p.app))
                .await?
                .error_for_status()?
                .json()
                .await?;
            let onchain = p.chain.shard(&p.app.0, proof.shard).await?.context("shard not on-chain")?;
            let decoded: RecordProof = borsh::from_slice(&hex::decode(&proof.proof)?)?;
            let leaf = proof.leaf.as_ref().map(|l| l.to_leaf().context("malformed leaf")).transpose()?;
            let against = if proof.committed {
                onchain.root
            } else {
                <[u8; 32]>::try_from(hex::decode(&proof.root)?).map_err(|_| anyhow::anyhow!("bad root"))?
            };
            if proof.committed && hex::encode(onchain.root) != proof.root {
                bail!(
                    "the keeper claims root {} is committed but the chain holds {}",
                    proof.root,
                    hex::encode(onchain.root)
                );
            }
            if !verify_record_proof(&against, key.as_bytes(), leaf.as_ref(), &decoded) {
                bail!("proof of {key:?} does NOT verify");
            }
            let what = match &leaf {
                Some(l) if !l.tombstone => format!("version {} exists", l.version),
                Some(l) => format!("deleted at version {}", l.version),
                None => "was never written".into(),
            };
            if proof.committed {
                println!(
                    "verified: {key:?} {what} under on-chain shard {} root {} (seq {})",
                    proof.shard, proof.root, onchain.seq
                );
            } else {
                println!("verified against the keeper's pending root {} only: {key:?} {what}; not yet committed (on-chain seq {})", proof.root, onchain.seq);
            }
        }
        Command::Export { out } => {
            let p = parts(&cfg).await?;
            let mut opened = Vec::new();
            for (id, path) in stores(&cfg, &p).await? {
                opened.push((id, ShardStore::open(&path)?));
            }
            let file = std::io::BufWriter::new(std::fs::File::create(&out)?);
            let refs: Vec<(u16, &ShardStore)> = opened.iter().map(|(id, s)| (*id, s)).collect();
            let summaries = backup::export(p.app, &refs, p.blobs.as_ref(), p.keys.as_ref(), file).await?;
            for s in summaries {
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
            let p = parts(&cfg).await?;
            let dir = cfg.data_dir.join(p.app.to_string());
            std::fs::create_dir_all(&dir)?;
            let file = std::io::BufReader::new(std::fs::File::open(&input)?);
            let summaries =
                backup::import(p.app, file, p.blobs.as_ref(), p.keys.as_ref(), p.chain.as_ref(), |id| {
                    dir.join(format!("shard-{id}.redb"))
                })
                .await?;
            for s in summaries {
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

async fn register(
    cfg: &Config,
    attesters: Vec<PathBuf>,
    measurement: &str,
    app_id: &str,
    compose: &str,
    nonce: u64,
) -> anyhow::Result<()> {
    use solana_rpc_client::nonblocking::rpc_client::RpcClient;
    let p = parts(cfg).await?;
    let hex32 = |name: &str, v: &str| -> anyhow::Result<[u8; 32]> {
        hex::decode(v)
            .ok()
            .and_then(|b| b.try_into().ok())
            .with_context(|| format!("{name} must be 64 hex characters"))
    };
    let attesters: Vec<Keypair> = attesters
        .iter()
        .map(|f| read_keypair_file(f).map_err(|e| anyhow::anyhow!("attester keypair {}: {e}", f.display())))
        .collect::<anyhow::Result<_>>()?;
    let rpc = RpcClient::new(cfg.rpc_url.clone());
    let genesis = rpc.get_genesis_hash().await?;
    // The verifier judges freshness by the cluster's clock, so the statement is dated by it too.
    let clock: solana_sdk::clock::Clock =
        bincode::deserialize(&rpc.get_account(&solana_sdk::sysvar::clock::ID).await?.data)?;
    let now = clock.unix_timestamp;
    // Evidence: with dstack, a quote whose report data binds the TEE key; the dev key source has none.
    let quote_hash = match (&cfg.key_source[..], &cfg.dstack_endpoint) {
        ("dstack", Some(endpoint)) => {
            let mut report_data = p.signer.pubkey().to_bytes().to_vec();
            report_data.extend_from_slice(
                &solana_sdk::hash::hashv(&[b"ironroot-register", genesis.as_ref(), &nonce.to_le_bytes()])
                    .to_bytes(),
            );
            let quote = DstackClient::new(endpoint.clone())?.get_quote(&report_data).await?;
            solana_sdk::hash::hash(&quote.quote).to_bytes()
        }
        _ => solana_sdk::hash::hash(b"development key source: no quote").to_bytes(),
    };
    let statement = ironroot_sdk::attestation::statement(ironroot_sdk::attestation::StatementFields {
        cluster_genesis_hash: genesis.to_bytes(),
        tee_pubkey: p.signer.pubkey(),
        app_id: hex32("dstack_app_id", app_id)?,
        compose_hash: hex32("compose_hash", compose)?,
        measurement: hex32("measurement", measurement)?,
        tcb_status: 0,
        quote_hash,
        nonce,
        verified_at: now,
        expires_at: now + 30 * 24 * 3600,
    });
    let signers: Vec<&dyn Signer> = attesters.iter().map(|k| k as &dyn Signer).collect();
    let signatures = ironroot_sdk::attestation::sign_statement(&statement, &signers);
    let fee_payer = read_keypair_file(cfg.fee_payer_keypair.as_ref().context("fee payer required")?)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let ixs = ironroot_sdk::verifier::register_tee_transaction_instructions(
        &fee_payer.pubkey(),
        &statement,
        &signatures,
    )?;
    let tx = solana_sdk::transaction::Transaction::new_signed_with_payer(
        &ixs,
        Some(&fee_payer.pubkey()),
        &[&fee_payer, p.signer.as_ref()],
        rpc.get_latest_blockhash().await?,
    );
    let signature = rpc.send_and_confirm_transaction(&tx).await?;
    println!("registered TEE key {} for app {} ({signature})", p.signer.pubkey(), p.app);
    println!("status: {:?}", p.chain.tee_status(&p.signer.pubkey()).await?);
    Ok(())
}
