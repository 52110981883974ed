//! The keeper daemon over HTTP, measured as users run it: the real `ironroot-keeper` binary (release
//! build when run through `cargo bench`/`scripts/bench.sh`), the JSON-RPC localnet as its chain, local
//! blobs, loopback, `HTTP_CONNECTIONS` connections (32). Written to a Markdown and a JSON report.
//!
//! Phases, each `HTTP_SECONDS` long, in one run:
//!   - single 1 KiB PUTs of fresh keys: Debian's `wrk` (Lua script for the bodies), then our own
//!     Rust client (reqwest), both with p50/p99;
//!   - batch writes of `HTTP_BATCH` 1 KiB records per request, durability `local`, then `chain`
//!     (acknowledged only once an on-chain root holding the write is confirmed), each with `wrk`
//!     (Lua script for the JSON bodies), then with ours: records/s, p50/p99
//!     acknowledgement latency per request, records per `update_shard` transaction, and what the
//!     anchoring cost: the fee payer's lamports spent during the phase (its balance before and
//!     after; the keeper's updates are all it pays for then) per million records written;
//!   - GETs of one hot record: `wrk`, then our client;
//!   - the daemon's peak RSS (VmHWM, the keeper process alone: the chain is another process here);
//!   - restart: process start to first healthy answer, in sync with the chain;
//!   - rebuild: the shard stores deleted, `ironroot-keeper recover` from the chain and manifests.
//!
//! Every phase also reports the keeper process's CPU time per record (user + system, from
//! `/proc`: comparable across runs on a loaded machine), and the writer's group commits and the
//! batcher's on-chain commits during it (from `/metrics`).
//!
//! `HTTP_FILL_RECORDS` (default 0) writes that many more records (batched) before the restart and
//! rebuild, for the 1 M-record figures.
//!
//! Run: `bash scripts/bench.sh` (or `cargo bench -p ironroot-keeper --profile bench-fast --bench http`).
//! Env: HTTP_SECONDS, HTTP_CONNECTIONS, HTTP_SHARDS, HTTP_BATCH, HTTP_FILL_RECORDS, HTTP_SLOT_MS,
//! HTTP_PHASES (default `put,batch,get,restart`: the phases to run), HTTP_KEEPER_BIN (the daemon
//! binary to measure, default this build's: e.g. a copy of a base build, to alternate runs),
//! HTTP_OUT (default `target/ironroot-results/keeper_http.md`; JSON beside it), HTTP_KEEPER_LOG
//! (the daemon's `RUST_LOG`, default `error`; e.g. `ironroot_keeper::shard=debug` logs each
//! on-chain commit's stage times).
#[path = "common/keeper_app.rs"]
mod keeper_app;
#[path = "common/machine.rs"]
mod machine;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::commitment_config::CommitmentConfig;
use solana_sdk::native_token::LAMPORTS_PER_SOL;

use keeper_app::{env, keeper_bin, run_keeper, KeeperApp, ADMIN_TOKEN};
use machine::{cpu_model, load_average, peak_rss_mib};

const APP_ID: [u8; 32] = [0x68; 32];
const VALUE_LEN: usize = 1024;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// One measured phase.
struct Phase {
    name: String,
    tool: &'static str,
    /// Requests answered 2xx.
    requests: u64,
    /// Records written or read (a batch request carries many).
    records: u64,
    errors: u64,
    elapsed: Duration,
    p50_ms: f64,
    p99_ms: f64,
    note: String,
    /// CPU time of the keeper process during the phase.
    keeper_cpu: Duration,
    /// Context switches of the keeper's threads during the phase (threads that exited during it
    /// are not counted).
    keeper_switches: u64,
    /// The whole machine during the phase: busy and idle CPU seconds (all cores, every process).
    machine_busy: f64,
    machine_idle: f64,
}

/// CPU used so far: the keeper's, and the machine's busy and idle seconds.
#[derive(Clone, Copy)]
struct CpuMark {
    keeper: Duration,
    busy: f64,
    idle: f64,
    /// Context switches of the keeper's live threads (voluntary and not).
    switches: u64,
}

impl Phase {
    fn requests_per_sec(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64()
    }
    /// Keeper CPU per record, in microseconds.
    fn cpu_us_per_record(&self) -> f64 {
        self.keeper_cpu.as_secs_f64() * 1e6 / self.records.max(1) as f64
    }
    /// Keeper context switches per request.
    fn switches_per_request(&self) -> f64 {
        self.keeper_switches as f64 / self.requests.max(1) as f64
    }
    /// The CPU the keeper, the daemon's chain and client, and other processes used since `mark`.
    fn cpu_since(&mut self, daemon: &Daemon, mark: CpuMark) {
        let now = daemon.cpu_mark();
        self.keeper_cpu = now.keeper.saturating_sub(mark.keeper);
        self.keeper_switches = now.switches.saturating_sub(mark.switches);
        self.machine_busy = now.busy - mark.busy;
        self.machine_idle = now.idle - mark.idle;
    }
    /// Cores in use during the phase: the keeper, every other process (the load generator, the
    /// localnet, anything else running), and idle.
    fn cores(&self) -> (f64, f64, f64) {
        let seconds = self.elapsed.as_secs_f64().max(1e-9);
        let keeper = self.keeper_cpu.as_secs_f64() / seconds;
        (keeper, (self.machine_busy / seconds - keeper).max(0.0), self.machine_idle / seconds)
    }
    fn json(&self) -> Value {
        json!({
            "keeper_cpu_seconds": self.keeper_cpu.as_secs_f64(), "keeper_cpu_us_per_record": self.cpu_us_per_record(),
            "keeper_context_switches_per_request": self.switches_per_request(),
            "cores_keeper": self.cores().0, "cores_other": self.cores().1, "cores_idle": self.cores().2,
            "name": self.name, "tool": self.tool, "requests": self.requests, "records": self.records,
            "errors": self.errors, "seconds": self.elapsed.as_secs_f64(),
            "requests_per_sec": self.requests_per_sec(), "records_per_sec": self.records_per_sec(),
            "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "note": self.note,
        })
    }
}

/// The whole machine's CPU time so far (all cores, from `/proc/stat`): busy and idle (idle and
/// I/O wait), in seconds.
fn machine_cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .map(|l| l.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect())
        .unwrap_or_default();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (total.saturating_sub(idle) as f64 / per_sec, idle as f64 / per_sec)
}

fn percentile_ms(latencies: &mut [Duration], p: f64) -> f64 {
    if latencies.is_empty() {
        return 0.0;
    }
    latencies.sort();
    latencies[((latencies.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

struct Daemon {
    child: Child,
}

impl Daemon {
    /// Starts the daemon; returns it with the time from spawn to its first healthy answer.
    async fn start(config: &Path, url: &str, client: &reqwest::Client) -> (Daemon, Duration) {
        let started = Instant::now();
        let bin = std::env::var("HTTP_KEEPER_BIN").unwrap_or_else(|_| keeper_bin().into());
        let child = Command::new(bin)
            // Local blobs: bench.sh exports an IPFS node for the write-path bench.
            .env_remove("IRONROOT_IPFS_API")
            .arg("--config")
            .arg(config)
            .arg("run")
            .env("RUST_LOG", std::env::var("HTTP_KEEPER_LOG").unwrap_or_else(|_| "error".into()))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the keeper daemon");
        let daemon = Daemon { child };
        let deadline = started + Duration::from_secs(120);
        while Instant::now() < deadline {
            if client.get(format!("{url}/health")).send().await.is_ok_and(|r| r.status() == 200) {
                return (daemon, started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("the keeper daemon did not become healthy");
    }

    /// Peak resident set of the daemon process so far (VmHWM), in MiB.
    fn peak_rss_mib(&self) -> f64 {
        peak_rss_mib(&self.child.id().to_string())
    }

    /// CPU time (user + system) the daemon process has used so far.
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which may hold spaces): utime and stime are the 12th and
        // 13th, in clock ticks.
        let fields: Vec<&str> =
            stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("").split_whitespace().collect();
        let ticks: u64 =
            fields.get(11..13).map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
        // SAFETY: sysconf has no preconditions.
        let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Duration::from_micros(ticks * 1_000_000 / per_sec)
    }

    /// Context switches of the daemon's live threads so far (from each thread's
    /// `/proc/<pid>/task/<tid>/status`).
    fn context_switches(&self) -> u64 {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.child.id())) else { return 0 };
        tasks
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok())
            .map(|status| {
                status
                    .lines()
                    .filter(|l| l.contains("ctxt_switches:"))
                    .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .sum::<u64>()
            })
            .sum()
    }

    fn cpu_mark(&self) -> CpuMark {
        let (busy, idle) = machine_cpu_seconds();
        CpuMark { keeper: self.cpu_time(), busy, idle, switches: self.context_switches() }
    }

    /// SIGINT (graceful: the shards close cleanly) and wait.
    fn stop(mut self) {
        // SAFETY: signals the child this struct spawned and still owns.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let _ = self.child.wait();
    }
}

/// Debian's `wrk` with `script` for `seconds`; `None` when wrk is not installed.
fn wrk(url: &str, script: &Path, args: &[&str], connections: u64, seconds: u64) -> Option<Phase> {
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(script)
        .arg(url)
        .arg("--")
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |prefix: &str| -> Option<String> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .map(|l| l[prefix.len()..].trim().to_string())
    };
    let latency = |pct: &str| field(pct).and_then(|v| parse_wrk_duration(&v)).unwrap_or(f64::NAN);
    let total: u64 = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let errors: u64 = field("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok()).unwrap_or(0);
    let socket_errors = field("Socket errors:").unwrap_or_default();
    Some(Phase {
        name: String::new(),
        tool: "wrk",
        requests: total - errors.min(total),
        records: total - errors.min(total),
        errors,
        elapsed: Duration::from_secs(seconds),
        p50_ms: latency("50%"),
        p99_ms: latency("99%"),
        note: if socket_errors.is_empty() {
            String::new()
        } else {
            format!("socket errors: {socket_errors}")
        },
        keeper_cpu: Duration::ZERO,
        keeper_switches: 0,
        machine_busy: 0.0,
        machine_idle: 0.0,
    })
}

/// wrk prints latencies as `812.00us`, `1.23ms` or `1.02s`.
fn parse_wrk_duration(v: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e3)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

/// What one request of our client does; returns the records it carried, or an error.
#[derive(Clone, Copy)]
enum Load {
    Put,
    Batch { len: usize, durability: &'static str },
    GetHot,
}

/// Our own client: `connections` tasks, each one request at a time, for `seconds`.
async fn ours(
    client: &reqwest::Client,
    base: &str,
    load: Load,
    connections: u64,
    seconds: u64,
    tag: &str,
) -> Phase {
    let value = vec![0x5Au8; VALUE_LEN];
    let value_b64 = Arc::new(B64.encode(&value));
    let value = bytes::Bytes::from(value);
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..connections {
        let (client, base, value, value_b64, errors) =
            (client.clone(), base.to_string(), value.clone(), value_b64.clone(), errors.clone());
        let tag = tag.to_string();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut records = 0u64;
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let t = Instant::now();
                let (request, carried) = match load {
                    Load::Put => (client.put(format!("{base}/records/{tag}-{c}-{n}")).body(value.clone()), 1),
                    Load::Batch { len, durability } => {
                        let writes: Vec<Value> = (0..len)
                            .map(
                                |i| json!({"key": format!("{tag}-{c}-{n}-{i}"), "value": value_b64.as_str()}),
                            )
                            .collect();
                        let body = json!({"writes": writes, "durability": durability});
                        (client.post(format!("{base}/batch/write")).json(&body), len as u64)
                    }
                    Load::GetHot => (client.get(format!("{base}/records/hot")), 1),
                };
                // The whole body: a write is acknowledged only with its answer.
                let answered = match request.send().await {
                    Ok(res) if res.status().is_success() => res.bytes().await.is_ok(),
                    _ => false,
                };
                if answered {
                    latencies.push(t.elapsed());
                    records += carried;
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            (latencies, records)
        });
    }
    let mut latencies = Vec::new();
    let mut records = 0;
    while let Some(done) = tasks.join_next().await {
        let (l, r) = done.expect("client task");
        latencies.extend(l);
        records += r;
    }
    let elapsed = started.elapsed();
    Phase {
        name: String::new(),
        tool: "ours (reqwest)",
        requests: latencies.len() as u64,
        records,
        errors: errors.load(Ordering::Relaxed),
        elapsed,
        p50_ms: percentile_ms(&mut latencies, 0.50),
        p99_ms: percentile_ms(&mut latencies, 0.99),
        note: String::new(),
        keeper_cpu: Duration::ZERO,
        keeper_switches: 0,
        machine_busy: 0.0,
        machine_idle: 0.0,
    }
}

/// Anchors every shard's pending writes now.
async fn commit(client: &reqwest::Client, url: &str) {
    let res =
        client.post(format!("{url}/v1/admin/commit")).bearer_auth(ADMIN_TOKEN).send().await.expect("commit");
    assert!(res.status().is_success(), "commit: {}", res.status());
}

/// Sum over shards of the confirmed on-chain seq (one per `update_shard`) and of the records.
async fn chain_updates(client: &reqwest::Client, url: &str) -> (u64, u64) {
    let status: Value = client
        .get(format!("{url}/v1/status"))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("status json");
    let shards = status["shards"].as_array().cloned().unwrap_or_default();
    let seqs = shards.iter().filter_map(|s| s["local_seq"].as_u64()).sum();
    let records = shards.iter().filter_map(|s| s["records"].as_u64()).sum();
    (seqs, records)
}

/// Sums of the daemon's per-shard Prometheus counters: (group commits, writes in them, confirmed
/// on-chain commits, milliseconds spent in them).
async fn writer_counters(client: &reqwest::Client, url: &str) -> [u64; 4] {
    let text = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let sum = |name: &str| -> u64 {
        text.lines()
            .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with('{')))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<u64>().ok()))
            .sum()
    };
    [
        sum("ironroot_group_commits_total"),
        sum("ironroot_group_commit_writes_total"),
        sum("ironroot_chain_commits_total"),
        sum("ironroot_chain_commit_milliseconds_total"),
    ]
}

/// What the writer and the batcher did during a phase, from [`writer_counters`] before and after;
/// with the writes the shards held before and after it (a write costs more as the stores grow).
fn writer_note(before: [u64; 4], after: [u64; 4]) -> String {
    let d: Vec<u64> = before.iter().zip(after).map(|(b, a)| a.saturating_sub(*b)).collect();
    format!(
        "{} group commits of {:.1} writes on average; {} on-chain commits of {:.0} ms on average; \
         {} writes stored before the phase, {} after",
        d[0],
        d[1] as f64 / d[0].max(1) as f64,
        d[2],
        d[3] as f64 / d[2].max(1) as f64,
        before[1],
        after[1]
    )
}

/// Numbers wrk's threads (`tid`), for keys no other thread writes; the write scripts start with it.
const THREAD_IDS: &str = r#"local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
"#;

const PUT_SCRIPT: &str = r#"-- Fresh keys per request: thread id and a counter; a 1 KiB body.
function init(args)
  prefix = args[1]
  counter = 0
  body = string.rep("x", 1024)
  headers = { ["Content-Type"] = "application/octet-stream" }
end
function request()
  counter = counter + 1
  return wrk.format("PUT", prefix .. tid .. "-" .. counter, headers, body)
end
"#;

const BATCH_SCRIPT: &str = r#"-- Batches of fresh keys (thread id and a counter), each value the same 1 KiB in base64.
function init(args)
  path = args[1]
  len = tonumber(args[2])
  durability = args[3]
  value = args[4]
  prefix = args[5]
  counter = 0
  headers = { ["Content-Type"] = "application/json" }
end
function request()
  local writes = {}
  for i = 1, len do
    counter = counter + 1
    writes[i] = '{"key":"' .. prefix .. tid .. '-' .. counter .. '","value":"' .. value .. '"}'
  end
  local body = '{"durability":"' .. durability .. '","writes":[' .. table.concat(writes, ",") .. ']}'
  return wrk.format("POST", path, headers, body)
end
"#;

const GET_SCRIPT: &str = r#"-- One hot record.
function init(args)
  path = args[1]
end
function request()
  return wrk.format("GET", path)
end
"#;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds = env("HTTP_SECONDS", 10);
    let connections = env("HTTP_CONNECTIONS", 32);
    let shards = env("HTTP_SHARDS", 4) as u16;
    let batch = env("HTTP_BATCH", 64) as usize;
    let fill = env("HTTP_FILL_RECORDS", 0);
    let slot_ms = env("HTTP_SLOT_MS", 400);
    let wanted_phases = std::env::var("HTTP_PHASES").unwrap_or_else(|_| "put,batch,get,restart".into());
    let wanted = |phase: &str| wanted_phases.split(',').any(|p| p.trim() == phase);
    let out = std::env::var("HTTP_OUT").unwrap_or_else(|_| "target/ironroot-results/keeper_http.md".into());
    let dir = tempfile::tempdir().expect("temp dir");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load_start = load_average();

    let KeeperApp { net, fee_payer, cfg_path, url, data_dir } =
        KeeperApp::start(dir.path(), APP_ID, shards, slot_ms).await;
    let rpc = RpcClient::new_with_commitment(net.config().rpc_url.clone(), CommitmentConfig::confirmed());

    let client =
        reqwest::Client::builder().pool_max_idle_per_host(connections as usize).build().expect("client");
    let (daemon, _) = Daemon::start(&cfg_path, &url, &client).await;
    let base = format!("{url}/v1/apps/{}", hex::encode(APP_ID));
    let put_script = dir.path().join("put.lua");
    let get_script = dir.path().join("get.lua");
    let batch_script = dir.path().join("batch.lua");
    std::fs::write(&put_script, [THREAD_IDS, PUT_SCRIPT].concat()).expect("lua");
    std::fs::write(&batch_script, [THREAD_IDS, BATCH_SCRIPT].concat()).expect("lua");
    std::fs::write(&get_script, GET_SCRIPT).expect("lua");
    let mut phases: Vec<Phase> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let named = |mut p: Phase, name: &str| {
        p.name = name.to_string();
        let switches = format!("{:.1} keeper context switches per request", p.switches_per_request());
        p.note = if p.note.is_empty() { switches } else { format!("{}; {switches}", p.note) };
        eprintln!(
            "{name} [{}]: {:.0} req/s, {:.0} records/s, p50 {:.2} ms, p99 {:.2} ms, {} errors, keeper CPU {:.1} µs/record; {}",
            p.tool,
            p.requests_per_sec(),
            p.records_per_sec(),
            p.p50_ms,
            p.p99_ms,
            p.errors,
            p.cpu_us_per_record(),
            p.note
        );
        p
    };

    if wanted("put") {
        // Single PUTs: wrk, then ours.
        let wrk_path = format!("/v1/apps/{}/records/wrk-", hex::encode(APP_ID));
        let (before, cpu) = (writer_counters(&client, &url).await, daemon.cpu_mark());
        match wrk(&url, &put_script, &[&wrk_path], connections, seconds) {
            Some(mut p) => {
                p.cpu_since(&daemon, cpu);
                p.note = writer_note(before, writer_counters(&client, &url).await);
                phases.push(named(p, "PUT 1 KiB, fresh keys"))
            }
            None => {
                notes.push("wrk is not installed (scripts/bench.sh installs it): wrk phases skipped".into())
            }
        }
        let (before, cpu) = (writer_counters(&client, &url).await, daemon.cpu_mark());
        let mut p = ours(&client, &base, Load::Put, connections, seconds, "put").await;
        p.cpu_since(&daemon, cpu);
        p.note = writer_note(before, writer_counters(&client, &url).await);
        phases.push(named(p, "PUT 1 KiB, fresh keys"));
    }
    // Batches, local then chain durability; updates counted from the shards' confirmed seqs, their
    // cost from the fee payer's balance (the keeper's only payer; nothing else spends from it
    // during a phase).
    let mut anchoring = Vec::new();
    if wanted("batch") {
        let batch_path = format!("/v1/apps/{}/batch/write", hex::encode(APP_ID));
        let value_b64 = B64.encode(vec![0x5Au8; VALUE_LEN]);
        // Each durability: wrk, then ours.
        for (durability, tool) in [("local", "wrk"), ("local", "ours"), ("chain", "wrk"), ("chain", "ours")] {
            commit(&client, &url).await;
            let (seq_before, _) = chain_updates(&client, &url).await;
            let lamports_before = rpc.get_balance(&fee_payer).await.expect("fee payer balance");
            let (before, cpu) = (writer_counters(&client, &url).await, daemon.cpu_mark());
            let mut p = if tool == "wrk" {
                let (len, prefix) = (batch.to_string(), format!("wrkb-{durability}-"));
                let args = [batch_path.as_str(), &len, durability, &value_b64, &prefix];
                let Some(mut p) = wrk(&url, &batch_script, &args, connections, seconds) else { continue };
                p.records = p.requests * batch as u64;
                p
            } else {
                let load = Load::Batch { len: batch, durability };
                ours(&client, &base, load, connections, seconds, &format!("batch-{durability}")).await
            };
            p.cpu_since(&daemon, cpu);
            let after = writer_counters(&client, &url).await;
            // wrk sees only the status: the writes the shards counted must cover what it reported.
            let counted = after[1].saturating_sub(before[1]);
            assert!(
                counted >= p.records,
                "{tool} reported {} records written, the shards counted {counted}",
                p.records
            );
            let (seq_after, _) = chain_updates(&client, &url).await;
            let lamports_after = rpc.get_balance(&fee_payer).await.expect("fee payer balance");
            let updates = seq_after.saturating_sub(seq_before);
            let spent = lamports_before.saturating_sub(lamports_after);
            let per_update = p.records as f64 / updates.max(1) as f64;
            let sol_per_million = spent as f64 / LAMPORTS_PER_SOL as f64 / p.records.max(1) as f64 * 1e6;
            p.note = format!(
                "{updates} update_shard transactions during the phase: {per_update:.0} records per update; \
                 fee payer spent {spent} lamports ({:.0} per update) = {sol_per_million:.4} SOL per million writes; {}",
                spent as f64 / updates.max(1) as f64,
                writer_note(before, after)
            );
            anchoring.push(json!({
                "durability": durability, "tool": p.tool, "updates": updates, "records": p.records,
                "records_per_update": per_update, "lamports_spent": spent,
                "sol_per_million_writes": sol_per_million,
            }));
            phases.push(named(
                p,
                &format!("batch write, {batch} x 1 KiB per request, durability {durability}"),
            ));
        }
    }

    if wanted("get") {
        // Reads of one hot record.
        let res = client
            .put(format!("{base}/records/hot"))
            .body(vec![0x5Au8; VALUE_LEN])
            .send()
            .await
            .expect("hot put");
        assert!(res.status().is_success(), "hot record: {}", res.status());
        let hot_path = format!("/v1/apps/{}/records/hot", hex::encode(APP_ID));
        let cpu = daemon.cpu_mark();
        if let Some(mut p) = wrk(&url, &get_script, &[&hot_path], connections, seconds) {
            p.cpu_since(&daemon, cpu);
            phases.push(named(p, "GET of one hot record"));
        }
        let cpu = daemon.cpu_mark();
        let mut p = ours(&client, &base, Load::GetHot, connections, seconds, "get").await;
        p.cpu_since(&daemon, cpu);
        phases.push(named(p, "GET of one hot record"));
    }

    // More records for the restart and rebuild figures.
    if fill > 0 {
        let t = Instant::now();
        let mut filled = 0;
        let per_request = 1024u64;
        let mut round = 0;
        while filled < fill {
            let requests = ((fill - filled).div_ceil(per_request)).min(connections);
            let mut tasks = tokio::task::JoinSet::new();
            for c in 0..requests {
                let (client, base) = (client.clone(), base.clone());
                let len = per_request.min(fill - filled - c * per_request).max(1);
                tasks.spawn(async move {
                    let v = B64.encode([0x5Au8; VALUE_LEN]);
                    let writes: Vec<Value> = (0..len)
                        .map(|i| json!({"key": format!("fill-{round}-{c}-{i}"), "value": v}))
                        .collect();
                    let res = client
                        .post(format!("{base}/batch/write"))
                        .json(&json!({"writes": writes}))
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status().is_success() => len,
                        Ok(r) => panic!("fill batch: {}", r.status()),
                        Err(e) => panic!("fill batch: {e}"),
                    }
                });
            }
            while let Some(done) = tasks.join_next().await {
                filled += done.expect("fill task");
            }
            round += 1;
        }
        notes.push(format!(
            "filled {fill} more records at {:.0} records/s",
            fill as f64 / t.elapsed().as_secs_f64()
        ));
    }
    commit(&client, &url).await;
    let (_, records) = chain_updates(&client, &url).await;
    let rss_loaded = daemon.peak_rss_mib();
    daemon.stop();

    let (mut restart_ms, mut rebuild_seconds) = (None, None);
    if wanted("restart") {
        // Restart in sync, then rebuild from the chain and manifests after losing the stores.
        let (daemon, restart) = Daemon::start(&cfg_path, &url, &client).await;
        let rss_restart = daemon.peak_rss_mib();
        daemon.stop();
        let app_dir = data_dir.join(hex::encode(APP_ID));
        for entry in std::fs::read_dir(&app_dir).expect("store dir") {
            let path: PathBuf = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "redb") {
                std::fs::remove_file(&path).expect("remove store");
            }
        }
        let t = Instant::now();
        run_keeper(&cfg_path, &["recover"]);
        let rebuild = t.elapsed();
        let (daemon, restart_after_rebuild) = Daemon::start(&cfg_path, &url, &client).await;
        let (_, rebuilt_records) = chain_updates(&client, &url).await;
        daemon.stop();
        assert_eq!(rebuilt_records, records, "the rebuild restored every record");
        notes.push(format!(
            "{records} records in {shards} shards: peak RSS of the keeper process {rss_loaded:.0} MiB after the load phases, {rss_restart:.0} MiB after a restart"
        ));
        notes.push(format!(
            "restart in sync with the chain: {:.1} ms from process start to the first healthy answer ({:.1} ms after the rebuild)",
            restart.as_secs_f64() * 1e3,
            restart_after_rebuild.as_secs_f64() * 1e3
        ));
        notes.push(format!(
            "rebuild of {records} records from the chain and manifests (`ironroot-keeper recover`, a new process): {:.2} s = {:.0} records/s",
            rebuild.as_secs_f64(),
            records as f64 / rebuild.as_secs_f64()
        ));
        restart_ms = Some(restart.as_secs_f64() * 1e3);
        rebuild_seconds = Some(rebuild.as_secs_f64());
    }
    tokio::task::spawn_blocking(move || net.stop()).await.expect("localnet task").expect("stop the localnet");
    let load_end = load_average();

    let profile = if cfg!(debug_assertions) { "debug" } else { "optimised" };
    let mut md = format!(
        "Machine: {cores} cores ({}), load average at start {load_start}, at end {load_end}; {profile} build; \
         {connections} connections, {seconds} s per phase, {shards} shards, localnet slot {slot_ms} ms.\n\n",
        cpu_model()
    );
    md.push_str("| phase | client | requests/s | records/s | p50 (ms) | p99 (ms) | errors | keeper CPU µs/record | cores: keeper / other processes / idle | note |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for p in &phases {
        let (keeper, other, idle) = p.cores();
        md.push_str(&format!(
            "| {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {} | {:.1} | {keeper:.2} / {other:.2} / {idle:.2} | {} |\n",
            p.name,
            p.tool,
            p.requests_per_sec(),
            p.records_per_sec(),
            p.p50_ms,
            p.p99_ms,
            p.errors,
            p.cpu_us_per_record(),
            p.note
        ));
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
        "settings": {"connections": connections, "seconds": seconds, "shards": shards, "batch": batch, "slot_ms": slot_ms},
        "phases": phases.iter().map(Phase::json).collect::<Vec<_>>(),
        "records": records,
        "anchoring": anchoring,
        "peak_rss_mib": rss_loaded,
        "restart_ms": restart_ms,
        "rebuild_seconds": rebuild_seconds,
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
