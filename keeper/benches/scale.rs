//! The keeper at scale (issue 15): a store of `SCALE_RECORDS` records (1 M by default) held by the
//! real `ironroot-keeper` daemon (the build of this bench's profile) on the JSON-RPC localnet,
//! local blobs, loopback. Written to a Markdown and a JSON report:
//!   - fill: batches of `SCALE_BATCH` records through `POST /batch/write` (durability `local`,
//!     `SCALE_CONNECTIONS` requests in flight; small values: the record count is what scales
//!     here), then everything anchored;
//!   - peak RSS (VmHWM) of the keeper process during the fill (the chain is another process), and
//!     its CPU time per record (what a smaller page cache costs shows here, not in wall time);
//!   - cold start in sync with the chain, `SCALE_RESTARTS` times: process start to the first
//!     healthy answer, with the daemon's peak RSS after it;
//!   - the first listing after a restart (which builds the name index) and the RSS after it;
//!   - rebuild: the shard stores deleted, `ironroot-keeper recover` from the chain and the
//!     manifests (records/s, peak RSS of that process), then a start on the rebuilt stores that
//!     must serve every record and the same roots.
//!
//! Run: `cargo bench --workspace --profile bench-fast --bench scale`.
//! Env: SCALE_RECORDS, SCALE_SHARDS (4), SCALE_BATCH (1024), SCALE_CONNECTIONS (8),
//! SCALE_VALUE_BYTES (64), SCALE_RESTARTS (3), HTTP_SLOT_MS (400), SCALE_OUT (default
//! `target/ironroot-results/keeper_scale.md`; JSON beside it).
#[path = "common/keeper_app.rs"]
mod keeper_app;
#[path = "common/machine.rs"]
mod machine;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use keeper_app::{env, keeper_bin, KeeperApp, ADMIN_TOKEN};
use machine::{cpu_model, load_average, peak_rss_mib};

const APP_ID: [u8; 32] = [0x5C; 32];
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// CPU time (user + system) process `pid` has used so far, in seconds (0 once it is gone).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces), from field 3 on: utime and stime
    // are fields 14 and 15, in clock ticks.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |t| t.iter().filter_map(|v| v.parse::<f64>().ok()).sum());
    // SAFETY: sysconf reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks / per_second
}

struct Daemon {
    child: Child,
}

impl Daemon {
    /// Starts the daemon; returns it with the time from spawn to its first healthy answer.
    async fn start(config: &Path, url: &str, client: &reqwest::Client) -> (Daemon, Duration) {
        let started = Instant::now();
        let child = Command::new(keeper_bin())
            // Local blobs: bench.sh exports an IPFS node for the write-path bench.
            .env_remove("IRONROOT_IPFS_API")
            .arg("--config")
            .arg(config)
            .arg("run")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the keeper daemon");
        let daemon = Daemon { child };
        let deadline = started + Duration::from_secs(600);
        while Instant::now() < deadline {
            if client.get(format!("{url}/health")).send().await.is_ok_and(|r| r.status() == 200) {
                return (daemon, started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("the keeper daemon did not become healthy");
    }

    fn peak_rss_mib(&self) -> f64 {
        peak_rss_mib(&self.child.id().to_string())
    }

    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.child.id())
    }

    /// SIGINT (graceful: the shards close cleanly) and wait.
    fn stop(mut self) {
        // SAFETY: signals the child this struct spawned and still owns.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let _ = self.child.wait();
    }
}

/// Runs `ironroot-keeper recover`; returns its wall time and its peak RSS (sampled every 20 ms).
fn recover(config: &Path) -> (Duration, f64) {
    let started = Instant::now();
    let mut child = Command::new(keeper_bin())
        // Local blobs: bench.sh exports an IPFS node for the write-path bench.
        .env_remove("IRONROOT_IPFS_API")
        .arg("--config")
        .arg(config)
        .arg("recover")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn ironroot-keeper recover");
    let mut peak: f64 = 0.0;
    loop {
        if let Some(status) = child.try_wait().expect("wait for recover") {
            assert!(status.success(), "ironroot-keeper recover failed: {status}");
            return (started.elapsed(), peak);
        }
        peak = peak.max(peak_rss_mib(&child.id().to_string()));
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Anchors every shard's pending writes now.
async fn commit(client: &reqwest::Client, url: &str) {
    let res =
        client.post(format!("{url}/v1/admin/commit")).bearer_auth(ADMIN_TOKEN).send().await.expect("commit");
    assert!(res.status().is_success(), "commit: {}", res.status());
}

/// The sum over shards of one of the daemon's per-shard Prometheus counters.
async fn counter_sum(client: &reqwest::Client, url: &str, name: &str) -> u64 {
    let text =
        client.get(format!("{url}/metrics")).send().await.expect("metrics").text().await.expect("text");
    text.lines()
        .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with('{')))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<u64>().ok()))
        .sum()
}

/// Bytes of the files under `dir` (recursively) whose names do not end with `.redb`.
fn bytes_besides_stores(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| {
                    let path = entry.path();
                    match entry.metadata() {
                        Ok(m) if m.is_dir() => bytes_besides_stores(&path),
                        Ok(m) if path.extension().is_none_or(|e| e != "redb") => m.len(),
                        _ => 0,
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Per shard: (confirmed seq, local root, on-chain root, records).
async fn shard_status(client: &reqwest::Client, url: &str) -> Vec<(u64, String, String, u64)> {
    let status: Value = client
        .get(format!("{url}/v1/status"))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("status json");
    status["shards"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            (
                s["local_seq"].as_u64().unwrap_or_default(),
                s["local_root"].to_string(),
                s["onchain_root"].to_string(),
                s["records"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

fn record_key(request: u64, i: u64) -> String {
    format!("scale-{request:07}-{i:05}")
}

fn value_of(key: &str, len: usize) -> Vec<u8> {
    key.bytes().cycle().take(len).collect()
}

/// Every `stride`-th record of the fill reads back with its value.
async fn check_sample(client: &reqwest::Client, base: &str, fill: u64, batch: u64, value_len: usize) -> u64 {
    let mut checked = 0;
    let stride = (fill / 64).max(1);
    let mut n = 0;
    while n < fill {
        let key = record_key(n / batch, n % batch);
        let res = client.get(format!("{base}/records/{key}")).send().await.expect("get");
        assert!(res.status().is_success(), "GET {key}: {}", res.status());
        let body: Value = res.json().await.expect("record JSON");
        let value = base64::engine::general_purpose::STANDARD
            .decode(body["value"].as_str().expect("value field"))
            .expect("base64 value");
        assert_eq!(value, value_of(&key, value_len), "value of {key}");
        checked += 1;
        n += stride;
    }
    checked
}

/// The first page of the listing (every shard builds its name index if it has none).
async fn first_page(client: &reqwest::Client, base: &str) -> Vec<String> {
    let res = client.get(format!("{base}/records?limit=1000")).send().await.expect("list");
    assert!(res.status().is_success(), "list: {}", res.status());
    let page: Value = res.json().await.expect("list json");
    page["keys"].as_array().expect("keys").iter().map(|k| k.as_str().expect("key").to_string()).collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let fill = env("SCALE_RECORDS", 1_000_000);
    let shards = env("SCALE_SHARDS", 4) as u16;
    let batch = env("SCALE_BATCH", 1024).max(1);
    let connections = env("SCALE_CONNECTIONS", 8).max(1);
    let value_len = env("SCALE_VALUE_BYTES", 64) as usize;
    let restarts = env("SCALE_RESTARTS", 3).max(1);
    let slot_ms = env("HTTP_SLOT_MS", 400);
    let out = std::env::var("SCALE_OUT").unwrap_or_else(|_| "target/ironroot-results/keeper_scale.md".into());
    let dir = tempfile::tempdir().expect("temp dir");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load_start = load_average();

    let KeeperApp { net, fee_payer, cfg_path, url, data_dir } =
        KeeperApp::start(dir.path(), APP_ID, shards, slot_ms).await;
    eprintln!("keeper on {url}, fee payer {fee_payer}");
    let client =
        reqwest::Client::builder().pool_max_idle_per_host(connections as usize).build().expect("client");
    let base = format!("{url}/v1/apps/{}", hex::encode(APP_ID));
    let mut notes: Vec<String> = Vec::new();

    // Fill.
    let (daemon, _) = Daemon::start(&cfg_path, &url, &client).await;
    let fill_started = Instant::now();
    let requests = fill.div_ceil(batch);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (client, base, next) = (client.clone(), base.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let request = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if request >= requests {
                    break;
                }
                let len = batch.min(fill - request * batch);
                let writes: Vec<Value> = (0..len)
                    .map(|i| {
                        let key = record_key(request, i);
                        json!({"key": key, "value": B64.encode(value_of(&key, value_len))})
                    })
                    .collect();
                let body = json!({"writes": writes, "durability": "local"});
                // A full rollback window or queue (503) is back-pressure: try again.
                loop {
                    let res = client.post(format!("{base}/batch/write")).json(&body).send().await;
                    match res {
                        Ok(r) if r.status().is_success() => break,
                        Ok(r) if r.status() == 503 => tokio::time::sleep(Duration::from_millis(50)).await,
                        Ok(r) => panic!("fill batch: {} {}", r.status(), r.text().await.unwrap_or_default()),
                        Err(e) => panic!("fill batch: {e}"),
                    }
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("fill task");
    }
    commit(&client, &url).await;
    let fill_time = fill_started.elapsed();
    let loaded = shard_status(&client, &url).await;
    let records: u64 = loaded.iter().map(|s| s.3).sum();
    assert_eq!(records, fill, "every filled record is in the store");
    assert!(loaded.iter().all(|s| s.1 == s.2), "every shard's root is anchored: {loaded:?}");
    let rss_loaded = daemon.peak_rss_mib();
    // From its start: the fill and the final commit (its start-up is milliseconds).
    let fill_cpu_us = daemon.cpu_seconds() * 1e6 / fill as f64;
    let manifest_entries = counter_sum(&client, &url, "ironroot_manifest_entries_total").await;
    let manifest_checkpoints = counter_sum(&client, &url, "ironroot_manifest_checkpoints_total").await;
    let manifests = shard_status(&client, &url).await.iter().map(|s| s.0).sum::<u64>();
    // The blob store (values and manifests) and the group log: everything but the shard stores.
    let blob_mib = bytes_besides_stores(&data_dir) as f64 / (1 << 20) as f64;
    daemon.stop();
    eprintln!("filled {fill} records in {:.1} s; peak RSS {rss_loaded:.0} MiB", fill_time.as_secs_f64());

    // Cold starts in sync.
    let mut starts_ms = Vec::new();
    let mut rss_started = Vec::new();
    let mut list_ms = 0.0;
    let mut rss_listed = 0.0;
    for round in 0..restarts {
        let (daemon, took) = Daemon::start(&cfg_path, &url, &client).await;
        starts_ms.push(took.as_secs_f64() * 1e3);
        rss_started.push(daemon.peak_rss_mib());
        assert_eq!(shard_status(&client, &url).await, loaded, "a restart serves the same state");
        if round + 1 == restarts {
            let t = Instant::now();
            let page = first_page(&client, &base).await;
            list_ms = t.elapsed().as_secs_f64() * 1e3;
            let expected: Vec<String> =
                (0..page.len() as u64).map(|n| record_key(n / batch, n % batch)).collect();
            assert_eq!(page, expected, "the listing after a restart is the records in key order");
            rss_listed = daemon.peak_rss_mib();
        }
        daemon.stop();
    }
    eprintln!("cold starts {starts_ms:?} ms; peak RSS after start {rss_started:?} MiB, after listing {rss_listed:.0} MiB");

    // Rebuild from the chain and the manifests.
    let app_dir = data_dir.join(hex::encode(APP_ID));
    for entry in std::fs::read_dir(&app_dir).expect("store dir") {
        let path: PathBuf = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "redb") {
            std::fs::remove_file(&path).expect("remove store");
        }
    }
    let (rebuild, rss_recover) = recover(&cfg_path);
    let (daemon, start_after_rebuild) = Daemon::start(&cfg_path, &url, &client).await;
    let rebuilt = shard_status(&client, &url).await;
    assert_eq!(rebuilt, loaded, "the rebuild restored every shard's seq, root and records");
    let checked = check_sample(&client, &base, fill, batch, value_len).await;
    daemon.stop();
    eprintln!(
        "rebuild {:.2} s = {:.0} records/s, peak RSS {rss_recover:.0} MiB",
        rebuild.as_secs_f64(),
        fill as f64 / rebuild.as_secs_f64()
    );
    tokio::task::spawn_blocking(move || net.stop()).await.expect("localnet task").expect("stop the localnet");
    let load_end = load_average();

    notes.push(format!(
        "{checked} records sampled across the key space read back with their values after the rebuild"
    ));
    let profile = if cfg!(debug_assertions) { "debug" } else { "optimised" };
    let start_median = median(starts_ms.clone());
    let rss_started_max = rss_started.iter().copied().fold(0.0, f64::max);
    let mut md = format!(
        "Machine: {cores} cores ({}), load average at start {load_start}, at end {load_end}; {profile} build; \
         {fill} records of {value_len} bytes in {shards} shards, filled in batches of {batch} with {connections} requests in flight, localnet slot {slot_ms} ms.\n\n",
        cpu_model()
    );
    md.push_str("| measure | value |\n|---|---|\n");
    let rows = [
        (
            "fill through the daemon (records/s, durability local, then anchored)",
            format!("{:.0}", fill as f64 / fill_time.as_secs_f64()),
        ),
        ("peak RSS of the keeper process during the fill (VmHWM, MiB)", format!("{rss_loaded:.0}")),
        ("keeper CPU time per record during the fill (µs, user + system)", format!("{fill_cpu_us:.1}")),
        (
            "manifest entries published during the fill, per record (checkpoints among the manifests)",
            format!("{:.2} ({manifest_checkpoints} of {manifests})", manifest_entries as f64 / fill as f64),
        ),
        ("blob store and group log on disk after the fill (MiB)", format!("{blob_mib:.0}")),
        (
            "cold start in sync: process start to first healthy answer (ms, median)",
            format!(
                "{start_median:.1} (runs: {})",
                starts_ms.iter().map(|m| format!("{m:.1}")).collect::<Vec<_>>().join(", ")
            ),
        ),
        ("peak RSS after a cold start (MiB, highest of the runs)", format!("{rss_started_max:.0}")),
        ("first listing after a start, builds the name index (ms)", format!("{list_ms:.0}")),
        ("peak RSS after that listing (MiB)", format!("{rss_listed:.0}")),
        ("rebuild, `ironroot-keeper recover` (s)", format!("{:.2}", rebuild.as_secs_f64())),
        ("rebuild rate (records/s)", format!("{:.0}", fill as f64 / rebuild.as_secs_f64())),
        ("peak RSS of `recover` (MiB)", format!("{rss_recover:.0}")),
        ("cold start on the rebuilt stores (ms)", format!("{:.1}", start_after_rebuild.as_secs_f64() * 1e3)),
    ];
    for (what, value) in &rows {
        md.push_str(&format!("| {what} | {value} |\n"));
    }
    md.push('\n');
    for note in &notes {
        md.push_str(&format!("- {note}\n"));
    }
    let report = json!({
        "machine": {
            "cores": cores, "cpu": cpu_model(), "load_average_start": load_start,
            "load_average_end": load_end, "profile": profile,
        },
        "settings": {"records": fill, "shards": shards, "batch": batch, "connections": connections, "value_bytes": value_len, "slot_ms": slot_ms},
        "fill_seconds": fill_time.as_secs_f64(),
        "peak_rss_loaded_mib": rss_loaded,
        "fill_cpu_us_per_record": fill_cpu_us,
        "manifest_entries_per_record": manifest_entries as f64 / fill as f64,
        "manifest_checkpoints": manifest_checkpoints,
        "manifests": manifests,
        "blob_store_mib": blob_mib,
        "cold_start_ms": starts_ms,
        "peak_rss_after_start_mib": rss_started,
        "first_list_ms": list_ms,
        "peak_rss_after_list_mib": rss_listed,
        "rebuild_seconds": rebuild.as_secs_f64(),
        "rebuild_records_per_sec": fill as f64 / rebuild.as_secs_f64(),
        "peak_rss_recover_mib": rss_recover,
        "start_after_rebuild_ms": start_after_rebuild.as_secs_f64() * 1e3,
        "notes": notes,
    });
    let out = Path::new(&out);
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).expect("results dir");
    }
    std::fs::write(out, &md).expect("write Markdown report");
    let json_out = out.with_extension("json");
    std::fs::write(&json_out, serde_json::to_string_pretty(&report).expect("json"))
        .expect("write JSON report");
    println!("{md}\nwritten to {} and {}", out.display(), json_out.display());
}
