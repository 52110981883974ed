//! The one-command demo: everything in one process on embedded defaults. An in-process bank with
//! the real programs, a 2-of-3 development attester set, the keeper's TEE key registered through
//! the verifier, a multi-shard app, the HTTP API on loopback; thousands of records written and
//! read over HTTP, roots committed, then a restart on a rolled-back copy of the store, detected
//! and repaired.
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ironroot_keeper::api::{
    self, ApiMetrics, ApiState, CommitResponse, ProofResponse, RecordResponse, StatusResponse,
};
use ironroot_keeper::app::{AppKeeper, AppServices, AppSettings};
use ironroot_keeper::blobs::{BlobStore, IpfsBlobStore, LocalBlobStore};
use ironroot_keeper::chain::Chain;
use ironroot_keeper::keys::{AppId, ShardId};
use ironroot_keeper::recovery::Startup;
use ironroot_keeper::tree::{verify_record_proof, RecordProof};

use crate::harness::{Harness, HarnessOptions};

pub const DEMO_APP_ID: [u8; 32] = *b"ironroot-demo-app-00000000000000";
const ADMIN_TOKEN: &str = "demo-admin-token";
const CONCURRENCY: usize = 32;

#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub records: usize,
    pub shards: u16,
    /// Kubo RPC API to store blobs on (a local directory otherwise).
    pub ipfs_api: Option<String>,
    /// Where to keep the keeper's state (a temporary directory otherwise).
    pub data_dir: Option<PathBuf>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions { records: 3000, shards: 4, ipfs_api: None, data_dir: None }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("demo step `{step}` failed: {message}")]
pub struct DemoError {
    pub step: &'static str,
    pub message: String,
}

trait Step<T> {
    fn step(self, step: &'static str) -> Result<T, DemoError>;
}

impl<T, E: fmt::Display> Step<T> for Result<T, E> {
    fn step(self, step: &'static str) -> Result<T, DemoError> {
        self.map_err(|e| DemoError { step, message: e.to_string() })
    }
}

fn check(ok: bool, step: &'static str, message: impl Into<String>) -> Result<(), DemoError> {
    if ok {
        Ok(())
    } else {
        Err(DemoError { step, message: message.into() })
    }
}

#[derive(Debug, Default)]
pub struct DemoReport {
    pub blob_store: String,
    pub records: usize,
    pub write_secs: f64,
    pub read_secs: f64,
    pub proofs_verified: usize,
    pub commits: u64,
    pub commit_tx_bytes: Vec<usize>,
    pub rollback: Vec<(ShardId, Startup)>,
    pub records_after_recovery: usize,
    pub total_secs: f64,
}

impl fmt::Display for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let writes_per_commit = self.records as f64 / self.commits.max(1) as f64;
        let tx = self.commit_tx_bytes.iter().copied().max().unwrap_or(0);
        writeln!(f, "== Ironroot demo report ==")?;
        writeln!(f, "blob store                 {}", self.blob_store)?;
        writeln!(
            f,
            "records written over HTTP  {} in {:.2} s = {:.0} writes/s ({CONCURRENCY} connections)",
            self.records,
            self.write_secs,
            self.records as f64 / self.write_secs
        )?;
        writeln!(
            f,
            "records read back          {} in {:.2} s = {:.0} reads/s, all values equal",
            self.records,
            self.read_secs,
            self.records as f64 / self.read_secs
        )?;
        writeln!(f, "proofs checked vs chain    {} (record → on-chain shard root)", self.proofs_verified)?;
        writeln!(f, "on-chain commits           {} ({writes_per_commit:.0} writes per commit), update_shard tx ≤ {tx} bytes", self.commits)?;
        writeln!(f, "rollback on restart:")?;
        for (shard, startup) in &self.rollback {
            writeln!(f, "  shard {shard}: {startup:?}")?;
        }
        writeln!(
            f,
            "records after recovery     {} readable, all from the on-chain roots",
            self.records_after_recovery
        )?;
        write!(f, "total                      {:.1} s", self.total_secs)
    }
}

struct Server {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

async fn serve(keeper: Arc<AppKeeper>) -> Result<Server, DemoError> {
    let state = ApiState {
        keeper,
        admin_token: Some(Arc::new(ADMIN_TOKEN.into())),
        metrics: Arc::new(ApiMetrics::default()),
        max_body_bytes: 9 * 1024 * 1024,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.step("bind the API")?;
    let url = format!("http://{}", listener.local_addr().step("bind the API")?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, api::router(state)).await;
    });
    Ok(Server { url, task })
}

fn value_of(i: usize) -> Vec<u8> {
    format!("record {i}: {}", "ironroot ".repeat(1 + i % 7)).into_bytes()
}

async fn write_range(
    client: &reqwest::Client,
    base: &str,
    range: std::ops::Range<usize>,
) -> Result<(), DemoError> {
    use futures::StreamExt;
    let results: Vec<Result<(), DemoError>> = futures::stream::iter(range)
        .map(|i| async move {
            let res = client
                .put(format!("{base}/records/key-{i}"))
                .body(value_of(i))
                .send()
                .await
                .step("PUT record")?;
            check(res.status().is_success(), "PUT record", format!("status {}", res.status()))
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn read_range(
    client: &reqwest::Client,
    base: &str,
    range: std::ops::Range<usize>,
) -> Result<(), DemoError> {
    use base64::Engine;
    use futures::StreamExt;
    let results: Vec<Result<(), DemoError>> = futures::stream::iter(range)
        .map(|i| async move {
            let res = client.get(format!("{base}/records/key-{i}")).send().await.step("GET record")?;
            check(res.status().is_success(), "GET record", format!("key-{i}: status {}", res.status()))?;
            let record: RecordResponse = res.json().await.step("GET record")?;
            let value = base64::engine::general_purpose::STANDARD.decode(&record.value).step("GET record")?;
            check(value == value_of(i), "GET record", format!("key-{i} returned another value"))
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn commit(client: &reqwest::Client, url: &str) -> Result<CommitResponse, DemoError> {
    let res =
        client.post(format!("{url}/v1/admin/commit")).bearer_auth(ADMIN_TOKEN).send().await.step("commit")?;
    check(res.status().is_success(), "commit", format!("status {}", res.status()))?;
    res.json().await.step("commit")
}

/// Runs the demo; `progress` hears one line as each phase starts.
pub async fn run_demo(opts: DemoOptions, progress: impl Fn(&str)) -> Result<DemoReport, DemoError> {
    let started = Instant::now();
    let mut report = DemoReport { records: opts.records, ..Default::default() };

    // Chain: the real programs in an in-process bank; a 2-of-3 development attester set.
    progress("starting an in-process Solana bank with the Ironroot programs and a 2-of-3 attester set");
    let harness = Harness::start(HarnessOptions {
        attesters: 3,
        threshold: 2,
        data_dir: opts.data_dir.clone(),
        ..HarnessOptions::new(DEMO_APP_ID, opts.shards)
    })
    .await
    .step("set up the chain")?;
    progress(&format!(
        "app {} created with {} shards; keeper TEE key {} registered through the verifier",
        harness.app_id,
        opts.shards,
        solana_sdk::signer::Signer::pubkey(harness.signer.as_ref())
    ));
    let data_dir = harness.data_dir().to_path_buf();
    let keys = harness.key_source();
    let signer = harness.signer.clone();
    let chain: Arc<dyn Chain> = Arc::new(harness.chain.clone());
    let blobs: Arc<dyn BlobStore> = match &opts.ipfs_api {
        Some(api) => {
            report.blob_store = format!("IPFS at {api}");
            Arc::new(IpfsBlobStore::new(api.clone()).step("IPFS client")?)
        }
        None => {
            report.blob_store = format!("local directory {}", data_dir.join("blobs").display());
            Arc::new(LocalBlobStore::open(data_dir.join("blobs")).step("blob directory")?)
        }
    };
    let settings = AppSettings {
        commit_every_writes: u64::MAX,
        commit_interval: Duration::from_secs(3600),
        max_group: 1024,
        ..AppSettings::default()
    };
    let open = || {
        AppKeeper::open(
            AppId(DEMO_APP_ID),
            None,
            &data_dir,
            settings.clone(),
            AppServices {
                blobs: blobs.clone(),
                keys: keys.clone(),
                chain: chain.clone(),
                signer: signer.clone(),
            },
        )
    };
    let keeper = open().await.step("open the keeper")?;
    let server = serve(keeper.clone()).await?;
    progress(&format!("keeper serving on {}", server.url));
    let client = reqwest::Client::new();
    let base = format!("{}/v1/apps/{}", server.url, AppId(DEMO_APP_ID));

    // Write and read over HTTP, then commit every shard's root on-chain.
    let first = opts.records * 4 / 5;
    progress(&format!("writing {first} records over HTTP, then committing every shard's root on-chain"));
    let t = Instant::now();
    write_range(&client, &base, 0..first).await?;
    let committed = commit(&client, &server.url).await?;
    report.commit_tx_bytes.extend(committed.commits.iter().filter_map(|c| c.tx_bytes));

    // The operator's snapshot of the store, taken now.
    let store_dir = data_dir.join(AppId(DEMO_APP_ID).to_string());
    let snapshot = data_dir.join("snapshot");
    copy_dir(&store_dir, &snapshot).step("snapshot the store")?;
    progress("the operator snapshots the keeper's local store");
    progress(&format!("writing {} more records and committing", opts.records - first));

    write_range(&client, &base, first..opts.records).await?;
    let committed = commit(&client, &server.url).await?;
    report.write_secs = t.elapsed().as_secs_f64();
    report.commit_tx_bytes.extend(committed.commits.iter().filter_map(|c| c.tx_bytes));
    progress(&format!(
        "reading all {} records back and checking proofs against the on-chain roots",
        opts.records
    ));
    let t = Instant::now();
    read_range(&client, &base, 0..opts.records).await?;
    report.read_secs = t.elapsed().as_secs_f64();
    report.proofs_verified = verify_sample(&client, &base, &chain, opts.records).await?;
    let status: StatusResponse = client
        .get(format!("{}/v1/status", server.url))
        .send()
        .await
        .step("status")?
        .json()
        .await
        .step("status")?;
    report.commits = status.shards.iter().filter_map(|s| s.onchain_seq).sum();

    // Roll the store back to the snapshot and restart: detected, rebuilt from chain + blobs.
    progress("the operator stops the keeper, restores the old snapshot and restarts it");
    server.task.abort();
    keeper.shutdown().await;
    drop(keeper);
    std::fs::remove_dir_all(&store_dir).step("roll back the store")?;
    copy_dir(&snapshot, &store_dir).step("roll back the store")?;
    let keeper = open().await.step("restart on the rolled-back store")?;
    for (id, slot) in keeper.slots().await {
        let shard = slot.map_err(|e| DemoError { step: "restart", message: e.to_string() })?;
        report.rollback.push((id, shard.startup().clone()));
    }
    check(
        report.rollback.iter().all(|(_, s)| matches!(s, Startup::Rebuilt { .. })),
        "restart",
        "a rolled-back shard was not detected",
    )?;
    progress("rollback detected on every shard; rebuilt from the chain and the blob store; reading everything again");
    let server = serve(keeper.clone()).await?;
    let base = format!("{}/v1/apps/{}", server.url, AppId(DEMO_APP_ID));
    read_range(&client, &base, 0..opts.records).await?;
    report.records_after_recovery = opts.records;
    server.task.abort();
    keeper.shutdown().await;
    report.total_secs = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Checks proofs of a sample of records against the shard roots read from the chain itself.
async fn verify_sample(
    client: &reqwest::Client,
    base: &str,
    chain: &Arc<dyn Chain>,
    records: usize,
) -> Result<usize, DemoError> {
    let mut verified = 0;
    for i in (0..records).step_by((records / 50).max(1)) {
        let proof: ProofResponse = client
            .get(format!("{base}/records/key-{i}/proof"))
            .send()
            .await
            .step("proof")?
            .json()
            .await
            .step("proof")?;
        let onchain = chain
            .shard(&DEMO_APP_ID, proof.shard)
            .await
            .step("read the shard")?
            .ok_or(DemoError { step: "proof", message: "shard missing".into() })?;
        let leaf = proof.leaf.as_ref().and_then(|l| l.to_leaf());
        let decoded: RecordProof =
            borsh::from_slice(&hex::decode(&proof.proof).step("proof")?).step("proof")?;
        check(
            proof.committed && hex::encode(onchain.root) == proof.root,
            "proof",
            format!("key-{i} is not committed"),
        )?;
        check(
            verify_record_proof(&onchain.root, format!("key-{i}").as_bytes(), leaf.as_ref(), &decoded),
            "proof",
            format!("key-{i}: proof does not verify"),
        )?;
        verified += 1;
    }
    Ok(verified)
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}
