//! The keeper's write path, measured side by side in one run and written to a results file:
//!   (a) raw local store: group commits of record leaves into the shard store (no crypto, no blobs)
//!   (b) (a) plus sealing every value (envelope encryption)
//!   (c) the full verified path with local blobs: `ShardKeeper::put` (encrypt, blob add, tree
//!       update, durable commit, acknowledge) with the batcher anchoring roots on the in-process bank
//!   (d) (c) with IPFS blobs, and the IPFS node's own raw add rate, when IRONROOT_IPFS_API is set
//! plus cold start and peak RSS for a keeper holding N records.
//!
//! Run: `cargo bench -p ironroot-keeper --profile bench-fast --bench write_path`
//! (env: BENCH_WRITES, BENCH_LARGE_WRITES, BENCH_START_RECORDS, BENCH_OUT).
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ironroot_bank::dev::DevTrust;
use ironroot_keeper::blobs::{BlobStore, IpfsBlobStore, LocalBlobStore};
use ironroot_keeper::chain::BankChain;
use ironroot_keeper::crypto::{seal, Padding, RecordContext};
use ironroot_keeper::keys::{AppId, KeySource, SealedKeyFile};
use ironroot_keeper::shard::{ShardConfig, ShardKeeper};
use ironroot_keeper::tree::{RecordLeaf, ShardStore};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

const APP: AppId = AppId([9; 32]);
const IN_FLIGHT: usize = 512;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Run {
    name: String,
    writes: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn per_sec(&self) -> f64 {
        self.writes as f64 / self.elapsed.as_secs_f64()
    }
    fn pct(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let mut l = self.latencies.clone();
        l.sort();
        l[((l.len() - 1) as f64 * p).round() as usize]
    }
    fn row(&self) -> String {
        format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} |",
            self.name,
            self.writes,
            self.per_sec(),
            self.pct(0.50).as_secs_f64() * 1e3,
            self.pct(0.99).as_secs_f64() * 1e3
        )
    }
}

fn leaf(i: usize, version: u64) -> RecordLeaf {
    let h: [u8; 32] = Sha256::digest(i.to_le_bytes()).into();
    RecordLeaf {
        version,
        cid: [&[1u8, 0x55, 0x12, 0x20][..], &h].concat(),
        ciphertext_hash: h,
        key_epoch: 0,
        tombstone: false,
    }
}

/// (a) and (b): groups of `group` writes committed straight into a shard store.
fn store_only(
    dir: &std::path::Path,
    len: usize,
    writes: usize,
    group: usize,
    encrypt: bool,
    kek: &ironroot_keeper::keys::Kek,
) -> Run {
    let store = ShardStore::open(dir.join(format!("raw-{len}-{encrypt}.redb"))).expect("store");
    let value = vec![0x5Au8; len];
    let mut latencies = Vec::new();
    let start = Instant::now();
    for chunk_start in (0..writes).step_by(group) {
        let t = Instant::now();
        let changes: Vec<_> = (chunk_start..(chunk_start + group).min(writes))
            .map(|i| {
                let key = format!("key-{i}").into_bytes();
                let mut l = leaf(i, 1);
                if encrypt {
                    let ctx = RecordContext { app: APP, shard: 0, key: &key, version: 1 };
                    let blob = seal(kek, &ctx, &value, Padding::Buckets).expect("seal");
                    l.ciphertext_hash = Sha256::digest(&blob).into();
                }
                (key, l)
            })
            .collect();
        store.commit_group(&changes, None).expect("commit");
        let each = t.elapsed();
        latencies.extend(std::iter::repeat_n(each, changes.len()));
    }
    let name = if encrypt { "(b) store + encryption" } else { "(a) raw local store" };
    Run { name: format!("{name}, {}", size_name(len)), writes, elapsed: start.elapsed(), latencies }
}

fn size_name(len: usize) -> String {
    if len >= 1024 {
        format!("{} KiB", len / 1024)
    } else {
        format!("{len} B")
    }
}

struct Setup {
    _trust: DevTrust,
    chain: Arc<BankChain>,
    keys: Arc<SealedKeyFile>,
    signer: Arc<solana_sdk::signature::Keypair>,
}

async fn setup(dir: &std::path::Path, shards: u16) -> Setup {
    let trust = DevTrust::new(1, 1);
    let mut bank = trust.start_bank().await.expect("bank");
    let app = trust.create_app(&mut bank, APP.0, shards, (20, 64)).await.expect("app");
    let keys = Arc::new(SealedKeyFile::open_or_create(dir.join("root.key")).expect("key file"));
    let seed = keys.signing_seed(&APP).await.expect("seed");
    let signer = Arc::new(solana_sdk::signer::keypair::keypair_from_seed(&seed[..]).expect("keypair"));
    trust.register(&mut bank, &signer, 1).await.expect("register");
    Setup {
        _trust: trust,
        chain: Arc::new(BankChain::new(
            Arc::new(Mutex::new(bank)),
            solana_sdk::signature::Signer::pubkey(&app.publisher),
        )),
        keys,
        signer,
    }
}

async fn open_keeper(
    s: &Setup,
    path: std::path::PathBuf,
    shard: u16,
    blobs: Arc<dyn BlobStore>,
) -> Arc<ShardKeeper> {
    let mut cfg = ShardConfig::new(APP, shard, path);
    cfg.commit_every_writes = 1024;
    cfg.commit_interval = Duration::from_millis(250);
    ShardKeeper::open(cfg, blobs, s.keys.clone(), s.chain.clone(), s.signer.clone()).await.expect("keeper")
}

/// (c)/(d): `writes` puts with `IN_FLIGHT` outstanding, each timed from submit to acknowledgement.
async fn full_path(keeper: &Arc<ShardKeeper>, name: String, len: usize, writes: usize) -> Run {
    let value = Bytes::from(vec![0x5Au8; len]);
    let start = Instant::now();
    let mut latencies = Vec::with_capacity(writes);
    let mut next = 0;
    let mut tasks = tokio::task::JoinSet::new();
    while next < writes || !tasks.is_empty() {
        while next < writes && tasks.len() < IN_FLIGHT {
            let keeper = keeper.clone();
            let value = value.clone();
            let key = format!("{name}-{next}");
            tasks.spawn(async move {
                let t = Instant::now();
                keeper.put(key.as_bytes(), value, None).await.expect("write");
                t.elapsed()
            });
            next += 1;
        }
        if let Some(done) = tasks.join_next().await {
            latencies.push(done.expect("task"));
        }
    }
    Run { name, writes, elapsed: start.elapsed(), latencies }
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    std::env::set_var("RUST_LOG", "error");
    let writes = env("BENCH_WRITES", 20_000);
    let large_writes = env("BENCH_LARGE_WRITES", 2_000);
    let start_records = env("BENCH_START_RECORDS", 100_000);
    let out =
        std::env::var("BENCH_OUT").unwrap_or_else(|_| "target/ironroot-results/keeper_write_path.md".into());
    let dir = tempfile::tempdir_in(
        std::env::var("BENCH_DIR").unwrap_or_else(|_| std::env::temp_dir().display().to_string()),
    )
    .expect("temp dir");
    let kek = ironroot_keeper::keys::Kek::new(0, zeroize::Zeroizing::new([7; 32]));
    let mut rows = Vec::new();
    let mut notes = Vec::new();

    for (len, n) in [(1024usize, writes), (64 * 1024, large_writes)] {
        let a = store_only(dir.path(), len, n, 512, false, &kek);
        let b = store_only(dir.path(), len, n, 512, true, &kek);
        // Shard 0 for local blobs, shard 1 for IPFS: a shard's manifests live in one blob store.
        let s = setup(dir.path(), 2).await;
        let local: Arc<dyn BlobStore> =
            Arc::new(LocalBlobStore::open(dir.path().join(format!("blobs-{len}"))).expect("blobs"));
        let keeper = open_keeper(&s, dir.path().join(format!("c-{len}.redb")), 0, local).await;
        let c = full_path(&keeper, format!("(c) full path, local blobs, {}", size_name(len)), len, n).await;
        keeper.commit().await.expect("final commit");
        let status = keeper.status().expect("status");
        notes.push(format!(
            "{}: {} writes in {} on-chain updates = {:.0} writes per update; last update_shard tx {} bytes",
            size_name(len),
            n,
            status.local_seq,
            n as f64 / status.local_seq.max(1) as f64,
            status.last_commit_tx_bytes
        ));
        let enc = (b.elapsed.as_secs_f64() - a.elapsed.as_secs_f64()).max(0.0);
        notes.push(format!(
            "{}: encryption overhead (b)/(a) = {:.2}x of the raw store; encryption = {:.1} % of the full path (c)",
            size_name(len),
            b.elapsed.as_secs_f64() / a.elapsed.as_secs_f64(),
            100.0 * enc / c.elapsed.as_secs_f64()
        ));
        keeper.shutdown().await;
        rows.extend([a.row(), b.row(), c.row()]);

        if let Ok(api) = std::env::var("IRONROOT_IPFS_API") {
            let ipfs = Arc::new(IpfsBlobStore::new(api).expect("ipfs client"));
            let raw_n = (n / 4).max(200);
            let blobs: Vec<Bytes> =
                (0..raw_n).map(|i| Bytes::from([&i.to_le_bytes()[..], &vec![1u8; len]].concat())).collect();
            let t = Instant::now();
            ipfs.put_many(blobs).await.expect("ipfs raw adds");
            let raw = raw_n as f64 / t.elapsed().as_secs_f64();
            let keeper = open_keeper(&s, dir.path().join(format!("d-{len}.redb")), 1, ipfs).await;
            let d = full_path(&keeper, format!("(d) full path, IPFS blobs, {}", size_name(len)), len, raw_n)
                .await;
            keeper.shutdown().await;
            notes.push(format!(
                "{}: IPFS node raw add rate {:.0}/s (put_many, pipelined); full path with IPFS {:.0}/s = {:.2}x of raw",
                size_name(len),
                raw,
                d.per_sec(),
                d.per_sec() / raw
            ));
            rows.push(d.row());
        }
    }

    // Cold start: a keeper with `start_records` records, reopened (in sync), then rebuilt from
    // the chain and manifests after losing its store.
    let s = setup(dir.path(), 1).await;
    let local: Arc<dyn BlobStore> =
        Arc::new(LocalBlobStore::open(dir.path().join("blobs-start")).expect("blobs"));
    let path = dir.path().join("start.redb");
    let keeper = open_keeper(&s, path.clone(), 0, local.clone()).await;
    let fill = full_path(&keeper, "fill".into(), 1024, start_records).await;
    keeper.commit().await.expect("commit");
    keeper.shutdown().await;
    drop(keeper);
    let rss = peak_rss_mib();
    let t = Instant::now();
    let keeper = open_keeper(&s, path.clone(), 0, local.clone()).await;
    let reopen = t.elapsed();
    keeper.shutdown().await;
    drop(keeper);
    std::fs::remove_file(&path).expect("remove store");
    let t = Instant::now();
    let keeper = open_keeper(&s, path.clone(), 0, local).await;
    let rebuild = t.elapsed();
    notes.push(format!(
        "{start_records} records (1 KiB, filled at {:.0} writes/s): cold start in sync {:.1} ms; rebuild from chain + manifests after losing the store {:.2} s ({:?}); peak RSS after filling {:.0} MiB",
        fill.per_sec(),
        reopen.as_secs_f64() * 1e3,
        rebuild.as_secs_f64(),
        keeper.startup(),
        rss
    ));
    keeper.shutdown().await;

    let mut report = String::from(
        "| run | writes | writes/s | p50 latency (ms) | p99 latency (ms) |\n|---|---|---|---|---|\n",
    );
    for row in rows {
        report.push_str(&row);
        report.push('\n');
    }
    report.push('\n');
    for note in notes {
        report.push_str(&format!("- {note}\n"));
    }
    if let Some(parent) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(parent).expect("results dir");
    }
    std::fs::write(&out, &report).expect("write results");
    println!("{report}\nwritten to {out}");
}
