//! The keeper's write path, measured side by side in one run and written to a Markdown and a JSON
//! report. Baselines, measured in the same run:
//!   - SHA-256 and AES-256-GCM throughput (the `aes-gcm` crate the keeper uses, and `ring` for
//!     comparison), and the keeper's whole `seal` (fresh data key, key wrap, context tag, record);
//!   - raw file append + `fdatasync` in groups of records the size of sealed blobs;
//!   - raw redb group commit (plain inserts, one durable transaction per group);
//!   - the local blob store alone (`put_many` of sealed-size blobs per group);
//!   - the IPFS node's own pipelined add rate of new blocks, before and after (d), when
//!     IRONROOT_IPFS_API is set.
//!
//! Runs: (a) raw local store: group commits of record leaves into the shard store (no crypto, no
//! blobs); (b) (a) plus sealing every value; (c) the full verified path with local blobs:
//! `ShardKeeper::put` (encrypt, blob add, tree update, durable commit, acknowledge) with the
//! batcher anchoring roots on the in-process bank; (d) (c) with IPFS blobs. Then cold start and
//! rebuild for a keeper holding N records.
//!
//! (a) and (c) commit groups of the same size (512), each durable before it is acknowledged: (a)
//! as one fsync'd redb transaction per group, (c) through the group log (the group's sealed record
//! goes into its blobs' append and sync; the store syncs at the log's checkpoints, every 4,096
//! writes here). On top of (a), (c) pays: sealing each value, the blob store (CID hash, append,
//! fdatasync, its index), the group's log record, the writer's version lookup per group, and the batcher: a
//! manifest per on-chain update (a delta, every 64th a checkpoint of every record), a durable
//! state write (prepared) and an unsynced one (confirmed) per update on the store's single writer,
//! the prunes after confirmed updates (in sweeps, inside a group's transaction; (a) never prunes,
//! so its stale nodes pile up: the reports show both stores' backlogs), and `update_shard` on
//! the in-process bank, whose CPU (baseline "in-process bank") shares this process's cores and is
//! counted in (c)'s CPU per write.
//!
//! Run: `cargo bench -p ironroot-keeper --profile bench-fast --bench write_path`
//! (env: BENCH_WRITES, BENCH_LARGE_WRITES, BENCH_START_RECORDS, BENCH_CRYPTO_MIB, BENCH_OUT, BENCH_DIR,
//! BENCH_IN_FLIGHT: writes outstanding in (c)/(d), default 1024 = two groups of 512, one for each
//! stage of the pipelined writer; BENCH_BANK_UPDATES: updates timed for the bank baseline, default 50;
//! BENCH_PRUNE_SWEEP_NODES: the stores' prune sweep in stale nodes, BENCH_STORE_CACHE_MIB: their page
//! cache, default the store's defaults;
//! BENCH_PREFILL: records the 1 KiB runs' stores hold before the run, default 0; BENCH_COUNT_GROUPS:
//! groups after (a) whose dirtied pages are counted by table, default 4;
//! BENCH_PHASES: which parts run, a comma list of `baselines`, `small` (1 KiB runs), `large`
//! (64 KiB runs), `start` (cold start and rebuild), default all: to profile one part alone).
//! The JSON report is written next to the Markdown one (`.json`).
#[path = "common/machine.rs"]
mod machine;

// The daemon's allocator, so the path is measured as the keeper runs it.
ironroot_keeper::use_keeper_allocator!();

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aes_gcm::aead::rand_core::{OsRng, RngCore};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use app_roots::UpdateShardArgs;
use bytes::Bytes;
use ironroot_devkit::{Harness, HarnessOptions};
use ironroot_keeper::blobs::{BlobStore, IpfsBlobStore, LocalBlobStore};
use ironroot_keeper::chain::Chain;
use ironroot_keeper::crypto::{self, seal, Padding, RecordContext};
use ironroot_keeper::keys::{AppId, Kek, ShardId};
use ironroot_keeper::shard::{ShardConfig, ShardKeeper};
use ironroot_keeper::tree::{
    CommitPhase, GroupPart, RecordLeaf, ShardStore, StoreLock, StoreOptions, StoreSeal,
};
use redb::TableDefinition;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use machine::{cpu_model, load_average, peak_rss_mib};

const APP: AppId = AppId([9; 32]);
const GROUP: usize = 512;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Run {
    name: String,
    writes: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// CPU time of the whole process (every thread, the in-process bank included) during the run:
    /// unlike wall time, it hardly depends on what else the machine runs.
    cpu: Duration,
}

/// User + system CPU time this process has used so far.
fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes into the struct passed to it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
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
    fn cpu_us_per_write(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.writes.max(1) as f64
    }
    fn row(&self) -> String {
        format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.1} |",
            self.name,
            self.writes,
            self.per_sec(),
            self.pct(0.50).as_secs_f64() * 1e3,
            self.pct(0.99).as_secs_f64() * 1e3,
            self.cpu_us_per_write()
        )
    }
    fn json(&self) -> Value {
        json!({
            "name": self.name,
            "writes": self.writes,
            "writes_per_sec": self.per_sec(),
            "p50_ms": self.pct(0.50).as_secs_f64() * 1e3,
            "p99_ms": self.pct(0.99).as_secs_f64() * 1e3,
            "cpu_us_per_write": self.cpu_us_per_write(),
        })
    }
}

/// Every figure of the report, in order, for both outputs.
#[derive(Default)]
struct Report {
    baselines: Vec<(String, f64, &'static str)>,
    runs: Vec<Run>,
    ratios: Vec<(String, f64)>,
    notes: Vec<String>,
}

impl Report {
    fn baseline(&mut self, name: impl Into<String>, value: f64, unit: &'static str) {
        let name = name.into();
        eprintln!("baseline: {name}: {value:.1} {unit}");
        self.baselines.push((name, value, unit));
    }
    fn ratio(&mut self, name: impl Into<String>, value: f64) {
        self.ratios.push((name.into(), value));
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

fn size_name(len: usize) -> String {
    if len >= 1024 {
        format!("{} KiB", len / 1024)
    } else {
        format!("{len} B")
    }
}

fn ctx(key: &[u8]) -> RecordContext<'_> {
    RecordContext { app: APP, scope: ShardId(0).into(), key, version: 1 }
}

/// Megabytes per second of `work` applied `n` times to `len` bytes.
fn throughput(len: usize, n: usize, mut work: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        work();
    }
    (len * n) as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// `volume` bytes of data per measurement.
fn crypto_baselines(report: &mut Report, kek: &Kek, volume: usize) {
    for len in [2048usize, 64 * 1024] {
        let n = (volume / len).clamp(1, 20_000);
        let data = vec![0x5Au8; len];
        report.baseline(
            format!("SHA-256, {}", size_name(len)),
            throughput(len, n, || {
                std::hint::black_box(Sha256::digest(&data));
            }),
            "MB/s",
        );
        let key = [7u8; 32];
        let nonce = [1u8; 12];
        let mut buf = data.clone();
        let aes = aes_gcm::Aes256Gcm::new(&key.into());
        report.baseline(
            format!("AES-256-GCM (aes-gcm crate), {}", size_name(len)),
            throughput(len, n, || {
                std::hint::black_box(
                    aes.encrypt_in_place_detached(&nonce.into(), b"aad", &mut buf).expect("encrypt"),
                );
            }),
            "MB/s",
        );
        let ring_key = ring::aead::LessSafeKey::new(
            ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &key).expect("ring key"),
        );
        report.baseline(
            format!("AES-256-GCM (ring, for comparison), {}", size_name(len)),
            throughput(len, n, || {
                let nonce = ring::aead::Nonce::assume_unique_for_key(nonce);
                let tag = ring_key
                    .seal_in_place_separate_tag(nonce, ring::aead::Aad::from(b"aad"), &mut buf)
                    .expect("ring seal");
                std::hint::black_box(tag.as_ref());
            }),
            "MB/s",
        );
    }
    for len in [1024usize, 64 * 1024] {
        let n = (volume / 2 / len).clamp(1, 20_000);
        let value = vec![0x5Au8; len];
        let start = Instant::now();
        for _ in 0..n {
            std::hint::black_box(seal(kek, &ctx(b"bench/key"), &value, Padding::Buckets).expect("seal"));
        }
        let each = start.elapsed().as_secs_f64() / n as f64;
        report.baseline(format!("keeper seal (whole envelope), {}", size_name(len)), each * 1e6, "µs/value");
    }
}

/// Raw file append + `fdatasync`, `groups` groups of `GROUP` records of `record_len` bytes.
fn append_fsync(dir: &std::path::Path, record_len: usize, groups: usize) -> (f64, Duration) {
    let path = dir.join(format!("append-{record_len}.bin"));
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).expect("append file");
    let group = vec![0xA5u8; record_len * GROUP];
    let mut syncs = Vec::with_capacity(groups);
    let start = Instant::now();
    for _ in 0..groups {
        file.write_all(&group).expect("append");
        let t = Instant::now();
        file.sync_data().expect("fdatasync");
        syncs.push(t.elapsed());
    }
    let rate = (groups * GROUP) as f64 / start.elapsed().as_secs_f64();
    syncs.sort();
    let _ = std::fs::remove_file(&path);
    (rate, syncs[syncs.len() / 2])
}

/// Raw redb: `GROUP` inserts (32-byte key, 110-byte value, about a record leaf) per durable commit.
fn redb_group_commit(dir: &std::path::Path, groups: usize) -> f64 {
    const TABLE: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("raw");
    let db = redb::Database::create(dir.join("raw-redb.redb")).expect("redb");
    let value = [3u8; 110];
    let start = Instant::now();
    for g in 0..groups {
        let mut txn = db.begin_write().expect("txn");
        txn.set_durability(redb::Durability::Immediate).expect("durability");
        {
            let mut table = txn.open_table(TABLE).expect("table");
            for i in 0..GROUP {
                let key: [u8; 32] = Sha256::digest((g * GROUP + i).to_le_bytes()).into();
                table.insert(key, &value[..]).expect("insert");
            }
        }
        txn.commit().expect("commit");
    }
    (groups * GROUP) as f64 / start.elapsed().as_secs_f64()
}

/// The local blob store alone: `put_many` of `GROUP` distinct blobs of `blob_len` bytes per group.
async fn blob_store_only(dir: &std::path::Path, blob_len: usize, writes: usize) -> f64 {
    let store = LocalBlobStore::open(dir.join(format!("blobs-only-{blob_len}"))).expect("blobs");
    let groups: Vec<Vec<Bytes>> = (0..writes.div_ceil(GROUP))
        .map(|g| {
            (g * GROUP..((g + 1) * GROUP).min(writes))
                .map(|i| {
                    let mut blob = vec![0x5Au8; blob_len];
                    blob[..8].copy_from_slice(&(i as u64).to_le_bytes());
                    Bytes::from(blob)
                })
                .collect()
        })
        .collect();
    let start = Instant::now();
    for group in groups {
        store.put_many(group).await.expect("put_many");
    }
    writes as f64 / start.elapsed().as_secs_f64()
}

/// A store's commit counters at one moment (see [`ShardStore::commit_times`]), to take a run's
/// share of them when the store was filled before it.
#[derive(Clone, Copy, Default)]
struct CommitCounters {
    /// Per [`CommitPhase`]: wall, CPU microseconds.
    phases: [(u64, u64); CommitPhase::ALL.len()],
    /// Per [`GroupPart`]: CPU microseconds, pages.
    parts: [(u64, u64); GroupPart::ALL.len()],
    pruned: u64,
    /// Stale nodes waiting for a prune.
    stale: u64,
    /// Record index merges and the entries they wrote.
    merges: u64,
    merged_entries: u64,
}

impl CommitCounters {
    fn of(store: &ShardStore) -> Self {
        let t = store.commit_times();
        CommitCounters {
            phases: CommitPhase::ALL.map(|p| t.micros(p)),
            parts: GroupPart::ALL.map(|p| t.part(p)),
            pruned: t.pruned_nodes.load(Ordering::Relaxed),
            stale: store.prune_backlog().0,
            merges: t.index_merges.load(Ordering::Relaxed),
            merged_entries: t.merged_entries.load(Ordering::Relaxed),
        }
    }
}

/// The process's I/O so far (/proc/self/io): read syscalls (a page redb's cache misses is one
/// `pread`) and bytes passed to write syscalls (redb's page flushes).
fn process_io() -> (u64, u64) {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let field = |name: &str| {
        io.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok())).unwrap_or(0)
    };
    (field("syscr:"), field("wchar:"))
}

/// Where a store's group commits spent their time, per write, since `before`: CPU (the
/// committing thread's), with wall time in brackets; the write phase and the prune split by the
/// tables they write.
fn commit_split(store: &ShardStore, writes: usize, before: &CommitCounters) -> String {
    let now = CommitCounters::of(store);
    let per_write = |us: u64| us as f64 / writes.max(1) as f64;
    let phases: Vec<String> = CommitPhase::ALL
        .iter()
        .zip(now.phases.iter().zip(&before.phases))
        .map(|(phase, ((wall, cpu), (wall0, cpu0)))| {
            format!("{phase:?} {:.1} ({:.1})", per_write(cpu - cpu0), per_write(wall - wall0))
        })
        .collect();
    let parts: Vec<String> = GroupPart::ALL
        .iter()
        .zip(now.parts.iter().zip(&before.parts))
        .map(|(part, ((cpu, _), (cpu0, _)))| format!("{part:?} {:.1}", per_write(cpu - cpu0)))
        .collect();
    let file_mib = std::fs::metadata(store.path()).map_or(0.0, |m| m.len() as f64 / (1 << 20) as f64);
    let (stale_nodes, replaced_values) = store.prune_backlog();
    let pruned = now.pruned - before.pruned;
    // A run ends with a backlog its sweeps did not reach: the prune's cost per node times the
    // stale nodes the run made (pruned, or waiting beyond what waited before it) is what every
    // write pays in the long run.
    let prune_cpu = now.phases[CommitPhase::Prune as usize].1 - before.phases[CommitPhase::Prune as usize].1;
    let prune_cpu_per_node = prune_cpu as f64 / pruned.max(1) as f64;
    let made_per_write = (pruned + stale_nodes).saturating_sub(before.stale) as f64 / writes.max(1) as f64;
    // Likewise a run lands a whole number of record index merges (each write leaves one entry to
    // merge): the merge's cost per entry is what every write pays in the long run.
    let merge_cpu = now.parts[GroupPart::Merge as usize].0 - before.parts[GroupPart::Merge as usize].0;
    let (merges, merged) = (now.merges - before.merges, now.merged_entries - before.merged_entries);
    let merge_cpu_per_entry = merge_cpu as f64 / merged.max(1) as f64;
    format!(
        "{}; CPU by part: {}; {pruned} nodes pruned, {prune_cpu_per_node:.2} µs CPU each; {made_per_write:.2} stale nodes made per write, so prune amortized {:.1} µs per write; {merges} record index merges of {merged} entries, {merge_cpu_per_entry:.2} µs CPU each (one per write), {} entries unmerged; {} tree nodes stored, file {file_mib:.1} MiB; waiting for a prune: {stale_nodes} stale nodes ({:.2} MiB of node rows), {replaced_values} replaced values",
        phases.join(", "),
        parts.join(", "),
        prune_cpu_per_node * made_per_write,
        store.unmerged_entries(),
        store.node_count().unwrap_or(0),
        store.stale_node_bytes().unwrap_or(0) as f64 / (1 << 20) as f64,
    )
}

/// (a) and (b): groups of `GROUP` writes committed straight into a shard store.
fn store_only(
    report: &mut Report,
    dir: &std::path::Path,
    len: usize,
    writes: usize,
    encrypt: bool,
    kek: &Kek,
) -> Run {
    let tree_key = ironroot_keeper::tree::TreeKey::keyed(zeroize::Zeroizing::new([8; 32]));
    let store_seal = StoreSeal::new(zeroize::Zeroizing::new([7; 32]), APP, ShardId(0), tree_key);
    let path = dir.join(format!("raw-{len}-{encrypt}.redb"));
    let lock = StoreLock::acquire(&path).expect("store lock");
    let store = ShardStore::open_locked_with(&path, store_seal, lock, store_options()).expect("store");
    // The reports split each group commit's CPU by phase.
    store.time_commit_cpu(true);
    let prefill = prefill_records(len);
    for chunk_start in (0..prefill).step_by(GROUP) {
        let changes: Vec<_> = (chunk_start..(chunk_start + GROUP).min(prefill))
            .map(|i| (format!("prefill-{i}").into_bytes(), leaf(i, 1)))
            .collect();
        store.commit_group(&changes, None).expect("prefill");
    }
    let counters = CommitCounters::of(&store);
    let value = vec![0x5Au8; len];
    let mut latencies = Vec::new();
    let (reads, written) = process_io();
    let cpu = process_cpu();
    let start = Instant::now();
    for chunk_start in (0..writes).step_by(GROUP) {
        let t = Instant::now();
        let changes: Vec<_> = (chunk_start..(chunk_start + GROUP).min(writes))
            .map(|i| {
                let key = format!("key-{i}").into_bytes();
                let mut l = leaf(i, 1);
                if encrypt {
                    let blob = seal(kek, &ctx(&key), &value, Padding::Buckets).expect("seal");
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
    let elapsed = start.elapsed();
    let cpu = process_cpu() - cpu;
    let (reads_after, written_after) = process_io();
    if !encrypt {
        let per_write = |n: u64| n as f64 / writes.max(1) as f64;
        report.notes.push(format!(
            "(a) {} on a store of {prefill} records: group commit CPU (wall) µs per write: {}; per write {:.2} page reads from the OS (redb cache misses) and {:.0} bytes written",
            size_name(len),
            commit_split(&store, writes, &counters),
            per_write(reads_after - reads),
            per_write(written_after - written),
        ));
        report.notes.push(format!("(a) {}: {}", size_name(len), dirty_pages(&store, writes)));
    }
    Run { name: format!("{name}, {}", size_name(len)), writes, elapsed, latencies, cpu }
}

/// The stores' options: the defaults, or BENCH_PRUNE_SWEEP_NODES (stale nodes per prune sweep)
/// and BENCH_STORE_CACHE_MIB (redb's page cache per store).
fn store_options() -> StoreOptions {
    let mut options = StoreOptions::default();
    if let Ok(nodes) = std::env::var("BENCH_PRUNE_SWEEP_NODES") {
        options.prune_sweep_nodes = nodes.parse().expect("BENCH_PRUNE_SWEEP_NODES: a node count");
    }
    options.cache_bytes = env("BENCH_STORE_CACHE_MIB", options.cache_bytes >> 20) << 20;
    options
}

/// Records the 1 KiB stores hold before their runs (BENCH_PREFILL, default none): a keeper's
/// shards hold far more than one run writes, and the record index's pages a group dirties and
/// the page cache's misses grow with the store.
fn prefill_records(len: usize) -> usize {
    if len == 1024 {
        env("BENCH_PREFILL", 0)
    } else {
        0
    }
}

/// Pages each part of a group commit dirties per write, counted over a few more groups (counting
/// walks every table, so it is kept out of the timed run).
fn dirty_pages(store: &ShardStore, after: usize) -> String {
    let groups = env("BENCH_COUNT_GROUPS", 4);
    let before = CommitCounters::of(store);
    store.count_dirty_pages(true);
    for g in 0..groups {
        let changes: Vec<_> = (0..GROUP)
            .map(|i| {
                let n = after + g * GROUP + i;
                (format!("counted-{n}").into_bytes(), leaf(n, 1))
            })
            .collect();
        store.commit_group(&changes, None).expect("counted group");
    }
    let counted = CommitCounters::of(store);
    // The record index's merge, counted on its own: every write leaves one entry to merge.
    let unmerged = store.unmerged_entries();
    store.merge_index().expect("merge the record index");
    store.count_dirty_pages(false);
    let now = CommitCounters::of(store);
    let writes = (groups * GROUP).max(1) as f64;
    let parts: Vec<String> = GroupPart::ALL
        .iter()
        .filter(|part| **part != GroupPart::Merge)
        .map(|part| {
            let i = *part as usize;
            format!("{part:?} {:.2}", (counted.parts[i].1 - before.parts[i].1) as f64 / writes)
        })
        .collect();
    let merge = GroupPart::Merge as usize;
    let merge_pages = now.parts[merge].1 - counted.parts[merge].1;
    format!(
        "4 KiB pages dirtied per write, by part ({groups} groups of {GROUP}): {}; then a merge of the record index's {unmerged} unmerged entries: {merge_pages} pages, {:.2} per entry (per write)",
        parts.join(", "),
        merge_pages as f64 / unmerged.max(1) as f64,
    )
}

/// The in-process bank's CPU, which (c) pays on the same cores (a real cluster runs it elsewhere):
/// per `update_shard` (`updates` sent back to back on a fresh bank), and per second while idle
/// (its background threads).
async fn bank_cpu(updates: u64) -> (Duration, Duration) {
    let s = setup(1).await;
    let idle_start = process_cpu();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = process_cpu() - idle_start;
    let mut prev_root = ironroot_keeper::tree::EMPTY_ROOT;
    let cpu = process_cpu();
    for seq in 1..=updates {
        let new_root: [u8; 32] = Sha256::digest(seq.to_le_bytes()).into();
        let args =
            UpdateShardArgs { shard_id: 0, prev_root, new_root, new_seq: seq, manifest_cid: vec![1; 36] };
        s.chain.submit_update(&s.signer, &APP.0, args).await.expect("update_shard");
        prev_root = new_root;
    }
    ((process_cpu() - cpu) / updates.max(1) as u32, idle)
}

async fn setup(shards: u16) -> Harness {
    Harness::start(HarnessOptions { tree: (20, 64), ..HarnessOptions::new(APP.0, shards) })
        .await
        .expect("harness")
}

async fn open_keeper(
    s: &Harness,
    path: std::path::PathBuf,
    shard: ShardId,
    blobs: Arc<dyn BlobStore>,
) -> Arc<ShardKeeper> {
    let mut cfg = ShardConfig::new(APP, shard, path);
    cfg.commit_every_writes = 1024;
    // Groups as large as (a)'s; with BENCH_IN_FLIGHT = 2 x GROUP both pipeline stages get one.
    cfg.max_group = GROUP;
    cfg.store = store_options();
    cfg.commit_interval = Duration::from_millis(250);
    ShardKeeper::open(cfg, blobs, s.keys.clone(), Arc::new(s.chain.clone()), s.signer.clone())
        .await
        .expect("keeper")
}

/// (c)/(d): `writes` puts with `BENCH_IN_FLIGHT` outstanding, each timed from submit to
/// acknowledgement.
/// The node's own pipelined add of `n` new blocks of `len` random bytes, in blocks/s. Random, like
/// (d)'s ciphertext: the node's repo outlives a run, and re-adding blocks it already holds is
/// cheaper than adding new ones (15-28 % faster measured).
async fn raw_ipfs_add(ipfs: &IpfsBlobStore, n: usize, len: usize) -> f64 {
    let blobs: Vec<Bytes> = (0..n)
        .map(|_| {
            let mut blob = vec![0u8; len];
            OsRng.fill_bytes(&mut blob);
            Bytes::from(blob)
        })
        .collect();
    let t = Instant::now();
    ipfs.put_many(blobs).await.expect("ipfs raw adds");
    n as f64 / t.elapsed().as_secs_f64()
}

async fn full_path(keeper: &Arc<ShardKeeper>, name: String, len: usize, writes: usize) -> Run {
    let value = Bytes::from(vec![0x5Au8; len]);
    let in_flight = env("BENCH_IN_FLIGHT", 1024);
    let cpu = process_cpu();
    let start = Instant::now();
    let mut latencies = Vec::with_capacity(writes);
    let mut next = 0;
    let mut tasks = tokio::task::JoinSet::new();
    while next < writes || !tasks.is_empty() {
        while next < writes && tasks.len() < in_flight {
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
    let elapsed = start.elapsed();
    Run { name, writes, elapsed, latencies, cpu: process_cpu() - cpu }
}

/// The baselines measured beside the runs: crypto, raw append + fdatasync, the blob store alone,
/// the in-process bank, raw redb.
async fn baselines(
    report: &mut Report,
    dir: &std::path::Path,
    kek: &Kek,
    writes: usize,
    large_writes: usize,
    groups: usize,
) {
    crypto_baselines(report, kek, env("BENCH_CRYPTO_MIB", 256) << 20);
    for len in [1024usize, 64 * 1024] {
        let blob_len = seal(kek, &ctx(b"k"), &vec![0; len], Padding::Buckets).expect("seal").len();
        let (rate, fsync) = append_fsync(dir, blob_len + 40, groups);
        report.baseline(
            format!("file append + fdatasync, {GROUP} x {blob_len} B per group"),
            rate,
            "records/s",
        );
        report.baseline(
            format!("fdatasync after a {} KiB append (median)", GROUP * (blob_len + 40) / 1024),
            fsync.as_secs_f64() * 1e3,
            "ms",
        );
        let n = if len > 1024 { large_writes } else { writes };
        report.baseline(
            format!("local blob store put_many, {GROUP} x {blob_len} B per group"),
            blob_store_only(dir, blob_len, n).await,
            "blobs/s",
        );
    }
    let (bank_per_update, bank_idle) = bank_cpu(env("BENCH_BANK_UPDATES", 50) as u64).await;
    report.baseline("in-process bank: CPU per update_shard", bank_per_update.as_secs_f64() * 1e3, "ms");
    report.baseline("in-process bank: CPU while idle", bank_idle.as_secs_f64() * 1e3, "ms per s");
    report.baseline(
        format!("redb group commit, {GROUP} inserts per durable commit"),
        redb_group_commit(dir, groups),
        "records/s",
    );
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
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load_start = load_average();
    let acceleration = crypto::acceleration();
    let kek = Kek::new(0, zeroize::Zeroizing::new([7; 32]));
    let mut report = Report::default();
    let phases = std::env::var("BENCH_PHASES").unwrap_or_else(|_| "baselines,small,large,start".into());
    let phase = |name: &str| phases.split(',').any(|p| p.trim() == name);

    let groups = (writes / GROUP).clamp(2, 40);
    if phase("baselines") {
        baselines(&mut report, dir.path(), &kek, writes, large_writes, groups).await;
    }
    let sizes = [(1024usize, writes, phase("small")), (64 * 1024, large_writes, phase("large"))];
    for (len, n) in sizes.into_iter().filter(|(_, _, on)| *on).map(|(len, n, _)| (len, n)) {
        let a = store_only(&mut report, dir.path(), len, n, false, &kek);
        let b = store_only(&mut report, dir.path(), len, n, true, &kek);
        // Shard 0 for local blobs, shard 1 for IPFS: a shard's manifests live in one blob store.
        let s = setup(2).await;
        let local: Arc<dyn BlobStore> =
            Arc::new(LocalBlobStore::open(dir.path().join(format!("blobs-{len}"))).expect("blobs"));
        let keeper = open_keeper(&s, dir.path().join(format!("c-{len}.redb")), ShardId(0), local).await;
        keeper.store().time_commit_cpu(true);
        let prefill = prefill_records(len);
        if prefill > 0 {
            full_path(&keeper, "prefill".into(), len, prefill).await;
        }
        let counters = CommitCounters::of(keeper.store());
        let writer_counters = |m: &ironroot_keeper::shard::ShardMetrics| {
            [
                &m.seal_micros_total,
                &m.blob_micros_total,
                &m.tree_compute_micros_total,
                &m.tree_commit_micros_total,
                &m.groups,
            ]
            .map(|v| v.load(Ordering::Relaxed))
        };
        let writer_before = writer_counters(keeper.metrics());
        let (reads, written) = process_io();
        let c = full_path(&keeper, format!("(c) full path, local blobs, {}", size_name(len)), len, n).await;
        let (reads_after, written_after) = process_io();
        // Before the final commit, whose prune (of its own) empties the backlog.
        let c_split = commit_split(keeper.store(), n, &counters);
        keeper.commit().await.expect("final commit");
        let writer_after = writer_counters(keeper.metrics());
        let [seal_us, blob_us, compute_us, commit_us, groups] =
            std::array::from_fn(|i| writer_after[i] - writer_before[i]);
        let per_write = |v: u64| v as f64 / n as f64;
        report.notes.push(format!(
            "(c) {}: where the writer's time went, per write (stages of consecutive groups overlap, and a large group stores its blobs and computes its tree at the same time): seal {:.1} µs, blob store (SHA-256 for the CID, append, fdatasync, index) {:.1} µs, tree computed ahead (JMT) {:.1} µs, tree commit (index, nodes, fsync) {:.1} µs; wall time {:.1} µs per write; {groups} groups of {:.0} writes on average",
            size_name(len),
            per_write(seal_us),
            per_write(blob_us),
            per_write(compute_us),
            per_write(commit_us),
            1e6 / c.per_sec(),
            n as f64 / groups.max(1) as f64,
        ));
        report.notes.push(format!(
            "(c) {} on a store of {prefill} records: group commit CPU (wall) µs per write: {c_split}; per write {:.2} read syscalls and {:.0} bytes written (the blob store's too)",
            size_name(len),
            per_write(reads_after - reads),
            per_write(written_after - written),
        ));
        let status = keeper.status().expect("status");
        report.notes.push(format!(
            "{}: {} writes in {} on-chain updates = {:.0} writes per update; last update_shard tx {} bytes",
            size_name(len),
            n,
            status.local_seq,
            n as f64 / status.local_seq.max(1) as f64,
            status.last_commit_tx_bytes
        ));
        report.ratio(
            format!("(c)/(a) full path vs raw local store, {}", size_name(len)),
            c.per_sec() / a.per_sec(),
        );
        report.ratio(
            format!("(a)/(c) CPU per write, raw local store vs full path, {}", size_name(len)),
            a.cpu_us_per_write() / c.cpu_us_per_write(),
        );
        report.ratio(
            format!("(b)/(a) elapsed, store + encryption vs raw store, {}", size_name(len)),
            b.elapsed.as_secs_f64() / a.elapsed.as_secs_f64(),
        );
        let seal_us = report
            .baselines
            .iter()
            .find(|(name, _, _)| name == &format!("keeper seal (whole envelope), {}", size_name(len)))
            .map_or(0.0, |(_, v, _)| *v);
        report.ratio(
            format!("encryption share of the full path (seal µs / (c) µs per write), {}", size_name(len)),
            seal_us / (1e6 / c.per_sec()),
        );
        keeper.shutdown().await;
        report.runs.extend([a, b, c]);

        if let Ok(api) = std::env::var("IRONROOT_IPFS_API") {
            let ipfs = Arc::new(IpfsBlobStore::new(api).expect("ipfs client"));
            let raw_n = (n / 4).max(200);
            // The node's own add, before and after (d): its rate drifts as it warms up and its
            // repo grows, so (d) is compared with the mean of the two.
            let before = raw_ipfs_add(&ipfs, raw_n, len).await;
            let keeper =
                open_keeper(&s, dir.path().join(format!("d-{len}.redb")), ShardId(1), ipfs.clone()).await;
            let d = full_path(&keeper, format!("(d) full path, IPFS blobs, {}", size_name(len)), len, raw_n)
                .await;
            keeper.shutdown().await;
            let after = raw_ipfs_add(&ipfs, raw_n, len).await;
            for (when, rate) in [("before", before), ("after", after)] {
                report.baseline(
                    format!("IPFS node add (put_many, pipelined), {}, {when} (d)", size_name(len)),
                    rate,
                    "blobs/s",
                );
            }
            report.ratio(
                format!(
                    "(d) full path with IPFS vs the node's raw add (mean of before and after), {}",
                    size_name(len)
                ),
                d.per_sec() / ((before + after) / 2.0),
            );
            report.runs.push(d);
        }
    }

    if phase("start") {
        // Cold start: a keeper with `start_records` records, reopened (in sync), then rebuilt from
        // the chain and manifests after losing its store.
        let s = setup(1).await;
        let local: Arc<dyn BlobStore> =
            Arc::new(LocalBlobStore::open(dir.path().join("blobs-start")).expect("blobs"));
        let path = dir.path().join("start.redb");
        let keeper = open_keeper(&s, path.clone(), ShardId(0), local.clone()).await;
        let fill = full_path(&keeper, "fill".into(), 1024, start_records).await;
        keeper.commit().await.expect("commit");
        keeper.shutdown().await;
        drop(keeper);
        let rss = peak_rss_mib("self");
        let t = Instant::now();
        let keeper = open_keeper(&s, path.clone(), ShardId(0), local.clone()).await;
        let reopen = t.elapsed();
        keeper.shutdown().await;
        drop(keeper);
        std::fs::remove_file(&path).expect("remove store");
        let t = Instant::now();
        let keeper = open_keeper(&s, path.clone(), ShardId(0), local).await;
        let rebuild = t.elapsed();
        report.notes.push(format!(
            "{start_records} records (1 KiB, filled at {:.0} writes/s): cold start in sync {:.1} ms; rebuild from chain + manifests after losing the store {:.2} s = {:.0} records/s ({:?}); peak RSS after filling {:.0} MiB (with the in-process bank)",
            fill.per_sec(),
            reopen.as_secs_f64() * 1e3,
            rebuild.as_secs_f64(),
            start_records as f64 / rebuild.as_secs_f64(),
            keeper.startup(),
            rss
        ));
        keeper.shutdown().await;
    }
    let load_end = load_average();

    let profile = if cfg!(debug_assertions) { "debug" } else { "optimised" };
    let mut md = format!(
        "Machine: {cores} cores ({}), load average at start {load_start}, at end {load_end}; {profile} build; \
         AES-NI {}, CLMUL {}, SHA-NI {}.\n\n",
        cpu_model(),
        yes(acceleration.aes),
        yes(acceleration.clmul),
        yes(acceleration.sha),
    );
    md.push_str("| baseline | value | unit |\n|---|---|---|\n");
    for (name, value, unit) in &report.baselines {
        md.push_str(&format!("| {name} | {value:.1} | {unit} |\n"));
    }
    md.push_str(
        "\n| run | writes | writes/s | p50 latency (ms) | p99 latency (ms) | CPU µs per write |\n|---|---|---|---|---|---|\n",
    );
    for run in &report.runs {
        md.push_str(&run.row());
        md.push('\n');
    }
    md.push_str("\n| ratio | value |\n|---|---|\n");
    for (name, value) in &report.ratios {
        md.push_str(&format!("| {name} | {value:.3} |\n"));
    }
    md.push('\n');
    for note in &report.notes {
        md.push_str(&format!("- {note}\n"));
    }
    let json = json!({
        "machine": {
            "cores": cores,
            "cpu": cpu_model(),
            "load_average_start": load_start,
            "load_average_end": load_end,
            "profile": profile,
            "aes_ni": acceleration.aes,
            "clmul": acceleration.clmul,
            "sha_ni": acceleration.sha,
        },
        "baselines": report.baselines.iter().map(|(n, v, u)| json!({"name": n, "value": v, "unit": u})).collect::<Vec<_>>(),
        "runs": report.runs.iter().map(Run::json).collect::<Vec<_>>(),
        "ratios": report.ratios.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
        "notes": report.notes,
    });
    let out = std::path::Path::new(&out);
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).expect("results dir");
    }
    std::fs::write(out, &md).expect("write Markdown report");
    let json_out = out.with_extension("json");
    std::fs::write(&json_out, serde_json::to_string_pretty(&json).expect("json")).expect("write JSON report");
    println!("{md}\nwritten to {} and {}", out.display(), json_out.display());
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}
