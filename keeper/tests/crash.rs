//! The real daemon (`ironroot-keeper run`, a child process) against a JSON-RPC localnet that
//! outlives it (it runs in this test process): `kill -9` at every write-path, batcher and start-up
//! step, then restart and reconcile against the same chain. The crash points are compiled in only
//! for this test build (`failpoints`, see `keeper/src/failpoint.rs`); the process sends itself
//! SIGKILL there.
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use attestation_verifier::AppIdentity;
use ironroot_keeper::api::{ProofResponse, StatusResponse, WriteResponse};
use ironroot_keeper::chain::{Chain, RpcChain, ShardOnChain};
use ironroot_keeper::failpoint::{self, Step};
use ironroot_keeper::keys::ShardId;
use ironroot_keeper::shard::Durability;
use ironroot_keeper::verify::{verify_against_chain, RecordState};
use ironroot_localnet::dev_app::DevApp;
use ironroot_localnet::{Localnet, Options};
use solana_sdk::signature::{write_keypair_file, Keypair, Signer};

const APP_ID: [u8; 32] = [0x5c; 32];
const MEASUREMENT: [u8; 32] = [0x11; 32];
const IDENTITY: AppIdentity = AppIdentity { app_id: [0x22; 32], compose_hash: [0x33; 32] };

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A localnet with governance, an app of `shards` shards and a keeper whose TEE key is registered
/// (through `ironroot-keeper register`); the keeper's data directory and config live in `dir`.
pub struct LocalApp {
    pub dir: tempfile::TempDir,
    pub net: Localnet,
    pub rpc_url: String,
    pub payer: Keypair,
    pub shards: u16,
}

impl LocalApp {
    pub async fn start(shards: u16) -> LocalApp {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            state_dir: dir.path().join("localnet"),
            rpc_port: free_port(),
            ws_port: free_port(),
            slot_time_ms: 100,
        };
        let net = tokio::task::spawn_blocking(move || Localnet::start(&options)).await.unwrap().unwrap();
        let config = net.config().clone();
        let (payer, _) = DevApp::new(APP_ID, shards, MEASUREMENT, IDENTITY).create(&config).await.unwrap();
        write_keypair_file(&payer, dir.path().join("fee-payer.json")).unwrap();
        let this = LocalApp { dir, net, rpc_url: config.rpc_url.clone(), payer, shards };

        let cfg = this.config(&this.rpc_url, "");
        let out = Command::new(env!("CARGO_BIN_EXE_ironroot-keeper"))
            .arg("--config")
            .arg(&cfg.path)
            .args(["register", "--attester", config.attester.keypair_path.to_str().unwrap()])
            .args(["--measurement", &hex::encode(MEASUREMENT)])
            .args(["--dstack-app-id", &hex::encode(IDENTITY.app_id)])
            .args(["--compose-hash", &hex::encode(IDENTITY.compose_hash)])
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        assert!(out.status.success(), "register: {}", String::from_utf8_lossy(&out.stderr));
        this
    }

    /// A keeper config on `rpc_url` (plus `extra` TOML lines), on a fresh port, over this app's
    /// one data directory.
    pub fn config(&self, rpc_url: &str, extra: &str) -> KeeperConfig {
        let port = free_port();
        let path = self.dir.path().join(format!("keeper-{port}.toml"));
        let data_dir = self.dir.path().join("keeper");
        std::fs::write(
            &path,
            format!(
                "listen = \"127.0.0.1:{port}\"\ndata_dir = {data_dir:?}\npublisher = \"{}\"\napp_id = \"{}\"\nrpc_url = \"{rpc_url}\"\nfee_payer_keypair = {:?}\ncommit_interval_ms = 100\ncommit_every_writes = 64\nadmin_token = \"crash-token\"\n{extra}\n{}",
                self.payer.pubkey(),
                hex::encode(APP_ID),
                self.dir.path().join("fee-payer.json"),
                // Stale views (the lying proxy) fail closed after this, unless a test sets it.
                if extra.contains("startup_finality_wait_ms") { "" } else { "startup_finality_wait_ms = 2000" },
            ),
        )
        .unwrap();
        KeeperConfig { path, url: format!("http://127.0.0.1:{port}") }
    }

    /// The chain as the test sees it (the honest localnet).
    pub fn chain(&self) -> RpcChain {
        RpcChain::new(self.rpc_url.clone(), self.payer.insecure_clone(), self.payer.pubkey())
    }

    pub async fn onchain(&self, shard: impl Into<ShardId>) -> ShardOnChain {
        self.chain().shard(&APP_ID, shard.into()).await.unwrap().unwrap()
    }

    /// The shards' local store files.
    pub fn stores(&self) -> Vec<PathBuf> {
        let dir = self.dir.path().join("keeper").join(hex::encode(APP_ID));
        (0..self.shards).map(|s| dir.join(format!("shard-{s}.redb"))).collect()
    }
}

pub struct KeeperConfig {
    pub path: PathBuf,
    pub url: String,
}

impl KeeperConfig {
    pub fn records(&self) -> String {
        format!("{}/v1/apps/{}/records", self.url, hex::encode(APP_ID))
    }
}

/// `ironroot-keeper run` as a child process, its stderr in a log file.
pub struct Daemon {
    child: Child,
    log: PathBuf,
    pub url: String,
}

impl Daemon {
    pub fn spawn(cfg: &KeeperConfig, failpoint: Option<String>) -> Daemon {
        let log =
            cfg.path.with_extension(format!("{}.log", std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos()));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ironroot-keeper"));
        cmd.arg("--config")
            .arg(&cfg.path)
            .arg("run")
            .env("RUST_LOG", "warn,solana=error")
            .env_remove(failpoint::ENV)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        if let Some(spec) = failpoint {
            cmd.env(failpoint::ENV, spec);
        }
        Daemon { child: cmd.spawn().unwrap(), log, url: cfg.url.clone() }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the HTTP API answers (`/health`, whatever its status, which is 503 while a
    /// shard is failed closed); the exit status if the process exited first.
    pub async fn up(&mut self) -> Result<reqwest::StatusCode, ExitStatus> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(status);
            }
            if let Ok(res) = client.get(format!("{}/health", self.url)).send().await {
                return Ok(res.status());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the daemon did not come up:\n{}", self.log());
    }

    /// Waits until the daemon is up with every shard serving.
    pub async fn serving(&mut self) {
        match self.up().await {
            Ok(status) => assert_eq!(status, 200, "not every shard is serving:\n{}", self.log()),
            Err(status) => panic!("the daemon exited ({status}):\n{}", self.log()),
        }
    }

    /// Waits for the process to exit by itself.
    pub async fn exited(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the daemon is still running:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The operator's `kill -9`.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGINT: a graceful stop.
    pub fn stop(&mut self) {
        self.stop_with(libc::SIGINT);
    }

    /// A graceful stop by `signal` (SIGINT or SIGTERM): the daemon exits with success.
    pub fn stop_with(&mut self, signal: libc::c_int) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, signal) };
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the daemon did not stop cleanly ({status}):\n{}", self.log());
    }

    pub async fn status(&self) -> StatusResponse {
        reqwest::get(format!("{}/v1/status", self.url)).await.unwrap().json().await.unwrap()
    }

    pub async fn commit(&self) {
        let res = reqwest::Client::new()
            .post(format!("{}/v1/admin/commit", self.url))
            .bearer_auth("crash-token")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An acknowledged write.
#[derive(Clone, Debug)]
pub struct Acked {
    pub key: String,
    pub value: String,
    pub durability: Durability,
    pub version: u64,
}

/// Writes unique keys `{prefix}-{worker}-{i}` from `workers` concurrent clients (every third with
/// `chain` durability) until the daemon stops answering, `stop` is set, or each wrote `max`;
/// returns what was acknowledged.
pub async fn write_load(
    records: &str,
    prefix: &str,
    workers: usize,
    max: usize,
    stop: Arc<AtomicBool>,
) -> Vec<Acked> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (client, records, prefix, stop) =
                (client.clone(), records.to_string(), prefix.to_string(), stop.clone());
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..max {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let key = format!("{prefix}-{w}-{i}");
                    let value = format!("{key}:{}", "v".repeat(i % 300));
                    let durability = if i % 3 == 2 { Durability::Chain } else { Durability::Local };
                    let sent = client
                        .put(format!("{records}/{key}?durability={durability}"))
                        .body(value.clone())
                        .send()
                        .await;
                    let Ok(res) = sent else { break }; // the daemon is gone
                    if res.status() != 200 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    let Ok(receipt) = res.json::<WriteResponse>().await else { break };
                    assert_eq!(receipt.durability, durability);
                    if durability == Durability::Chain {
                        assert!(receipt.anchored_seq.is_some(), "a chain write acknowledged unanchored");
                    }
                    acked.push(Acked { key, value, durability, version: receipt.version });
                }
                acked
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all
}

/// Every acknowledged write is served with its value; after a commit the chain and the keeper
/// agree on every shard, and each `chain` write's proof checks against the on-chain root.
pub async fn assert_served_and_anchored(app: &LocalApp, daemon: &Daemon, acked: &[Acked], context: &str) {
    let records = format!("{}/v1/apps/{}/records", daemon.url, hex::encode(APP_ID));
    let client = reqwest::Client::new();
    for a in acked {
        let res = client.get(format!("{records}/{}", a.key)).send().await.unwrap();
        assert_eq!(
            res.status(),
            200,
            "{context}: acknowledged {} ({}) lost:\n{}",
            a.key,
            a.durability,
            daemon.log()
        );
        let body: serde_json::Value = res.json().await.unwrap();
        let value = body["value"].as_str().unwrap();
        use base64::Engine;
        let value = base64::engine::general_purpose::STANDARD.decode(value).unwrap();
        assert_eq!(String::from_utf8(value).unwrap(), a.value, "{context}: {}", a.key);
    }
    daemon.commit().await;
    let status = daemon.status().await;
    for s in &status.shards {
        assert!(s.serving && s.failed_closed.is_none() && s.halted.is_none(), "{context}: {s:?}");
        let onchain = app.onchain(s.shard).await;
        assert_eq!(s.local_seq, Some(onchain.seq), "{context}: shard {}", s.shard);
        assert_eq!(
            s.local_root.as_deref(),
            Some(hex::encode(onchain.root).as_str()),
            "{context}: shard {}",
            s.shard
        );
    }
    for a in acked.iter().filter(|a| a.durability == Durability::Chain) {
        let proof: ProofResponse =
            client.get(format!("{records}/{}/proof", a.key)).send().await.unwrap().json().await.unwrap();
        let onchain = app.onchain(proof.shard).await;
        let verified = verify_against_chain(a.key.as_bytes(), &proof, &onchain).unwrap();
        assert!(verified.on_chain, "{context}: {}", a.key);
        assert_eq!(verified.state, RecordState::Exists { version: a.version }, "{context}: {}", a.key);
    }
}

/// Which hit of `step` kills: the writer's after some groups were acknowledged, the batcher's at
/// a later update (earlier ones anchored writes already; the count is over both shards).
fn nth_hit(step: Step) -> u32 {
    match step {
        Step::WriterAfterBlobs | Step::WriterAfterTreeCommit => 25,
        _ => 5,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_at_every_step_loses_no_acknowledged_write() {
    let app = LocalApp::start(2).await;
    let cfg = app.config(&app.rpc_url, "");
    let mut all: Vec<Acked> = Vec::new();

    for step in Step::ALL.into_iter().filter(|s| *s != Step::RebuildBeforeInstall) {
        let spec = format!("{}@{}", step.name(), nth_hit(step));
        let mut daemon = Daemon::spawn(&cfg, Some(spec.clone()));
        daemon.serving().await;
        let acked = write_load(&cfg.records(), step.name(), 8, 500, Arc::new(AtomicBool::new(false))).await;
        let status = daemon.exited(Duration::from_secs(30)).await;
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{spec}: {status}\n{}", daemon.log());
        assert!(daemon.log().contains(&format!("failpoint {}", step.name())), "{spec}: {}", daemon.log());
        assert!(!acked.is_empty(), "{spec}: nothing was acknowledged before the kill");
        let chain = acked.iter().filter(|a| a.durability == Durability::Chain).count();
        eprintln!("{spec}: {} writes acknowledged before the kill ({chain} chain)", acked.len());
        all.extend(acked);

        // Restart on the same store and the same chain: reconciled, nothing acknowledged lost.
        let mut daemon = Daemon::spawn(&cfg, None);
        daemon.serving().await;
        assert_served_and_anchored(&app, &daemon, &all, step.name()).await;
        // What `docker stop` and systemd send: as graceful as SIGINT.
        daemon.stop_with(libc::SIGTERM);
    }

    // During a rebuild: the operator restores an older copy of the stores after more writes
    // (some `chain`-acknowledged) were anchored; start-up rebuilds from the chain and is killed
    // before installing the rebuilt store; the next start finishes the job.
    let old: Vec<(PathBuf, Vec<u8>)> =
        app.stores().into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect();
    let mut daemon = Daemon::spawn(&cfg, None);
    daemon.serving().await;
    let acked = write_load(&cfg.records(), "rolled-back", 8, 40, Arc::new(AtomicBool::new(false))).await;
    daemon.commit().await;
    daemon.kill9();
    for (path, bytes) in &old {
        std::fs::write(path, bytes).unwrap();
    }
    let mut daemon = Daemon::spawn(&cfg, Some(Step::RebuildBeforeInstall.name().into()));
    let died = daemon.up().await.expect_err("start-up should have been killed while rebuilding");
    assert_eq!(died.signal(), Some(libc::SIGKILL), "{}", daemon.log());
    let mut daemon = Daemon::spawn(&cfg, None);
    daemon.serving().await;
    // Everything was anchored before the rollback (the commit above), so nothing may be missing.
    all.extend(acked);
    assert_served_and_anchored(&app, &daemon, &all, "rebuild").await;
    daemon.stop();
    app.net.stop().unwrap();
}
