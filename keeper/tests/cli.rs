//! Every `ironroot-keeper` subcommand, run as the real binary against a JSON-RPC localnet (which
//! also exercises the keeper's RPC `Chain`), and the offline `recover` after a SIGKILL.
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use attestation_verifier::AppIdentity;
use ironroot_keeper::app::{shard_of, store_path};
use ironroot_keeper::keys::{AppId, SealedKeyFile, ShardId};
use ironroot_keeper::tree::{ShardStore, StoreSeal, TreeKeyMode};
use ironroot_localnet::dev_app::DevApp;
use ironroot_localnet::{Localnet, Options};
use solana_sdk::signature::{write_keypair_file, Signer};

const APP_ID: [u8; 32] = [0x77; 32];
const MEASUREMENT: [u8; 32] = [0x11; 32];
const IDENTITY: AppIdentity = AppIdentity { app_id: [0x22; 32], compose_hash: [0x33; 32] };

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn keeper(config: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_ironroot-keeper"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ironroot-keeper {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts `ironroot-keeper run` and waits until it answers healthy.
async fn run_daemon(cfg_path: &Path, client: &reqwest::Client, url: &str) -> std::process::Child {
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_ironroot-keeper"))
        .arg("--config")
        .arg(cfg_path)
        .arg("run")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if client.get(format!("{url}/health")).send().await.is_ok_and(|r| r.status() == 200) {
            return daemon;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    panic!("the daemon did not become healthy");
}

/// The shard stores' bytes once the daemon has stopped writing them: after a quiet interval its
/// batcher carries out the prune the last update left waiting, so two reads must agree.
fn settled_store_bytes(data_dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let read = || -> Vec<(PathBuf, Vec<u8>)> {
        store_files(data_dir).into_iter().map(|f| (f.clone(), std::fs::read(&f).unwrap())).collect()
    };
    let mut last = read();
    for _ in 0..30 {
        std::thread::sleep(Duration::from_secs(1));
        let now = read();
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the daemon kept writing its stores");
}

fn store_files(data_dir: &Path) -> Vec<PathBuf> {
    let dir = data_dir.join(hex::encode(APP_ID));
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "redb"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subcommand_against_a_localnet() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        state_dir: dir.path().join("localnet"),
        rpc_port: free_port(),
        ws_port: free_port(),
        slot_time_ms: 100,
    };
    let net = tokio::task::spawn_blocking(move || Localnet::start(&options)).await.unwrap().unwrap();
    let config = net.config().clone();
    // Chain set-up: governance (the verifier's upgrade authority) with the localnet's attester,
    // and an app with two shards whose policy allows the measurement and identity below.
    let (payer, _) = DevApp::new(APP_ID, 2, MEASUREMENT, IDENTITY).create(&config).await.unwrap();

    // Keeper configuration: file plus environment.
    let fee_payer = dir.path().join("fee-payer.json");
    write_keypair_file(&payer, &fee_payer).unwrap();
    let data_dir = dir.path().join("keeper");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let cfg_path = dir.path().join("keeper.toml");
    std::fs::write(
        &cfg_path,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = {:?}\npublisher = \"{}\"\napp_id = \"{}\"\nrpc_url = \"{}\"\nfee_payer_keypair = {:?}\ncommit_interval_ms = 200\nadmin_token = \"cli-token\"\n",
            data_dir, payer.pubkey(), hex::encode(APP_ID), config.rpc_url, fee_payer
        ),
    )
    .unwrap();

    // register: the dev attester signs the statement; the TEE key signs the transaction.
    let out = keeper(
        &cfg_path,
        &[
            "register",
            "--attester",
            config.attester.keypair_path.to_str().unwrap(),
            "--measurement",
            &hex::encode(MEASUREMENT),
            "--dstack-app-id",
            &hex::encode(IDENTITY.app_id),
            "--compose-hash",
            &hex::encode(IDENTITY.compose_hash),
        ],
    );
    assert!(
        stdout(&out).contains("registered TEE key") && stdout(&out).contains("Valid"),
        "{}",
        stdout(&out)
    );

    // run: the daemon, over the RPC chain.
    let client = reqwest::Client::new();
    let mut daemon = run_daemon(&cfg_path, &client, &url).await;
    let base = format!("{url}/v1/apps/{}", hex::encode(APP_ID));
    for i in 0..20 {
        let res = client.put(format!("{base}/records/cli-{i}")).body(format!("v{i}")).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }
    let res = client.post(format!("{url}/v1/admin/commit")).bearer_auth("cli-token").send().await.unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    // status and verify, from outside the keeper.
    let out = keeper(&cfg_path, &["status", "--url", &url]);
    let text = stdout(&out);
    let shard_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("shard")).collect();
    assert_eq!(shard_lines.len(), 2, "{text}");
    for line in shard_lines {
        // "shard N: local seq S root R, on-chain seq S root R, …": committed, so both sides agree.
        let local = line.split("local seq ").nth(1).and_then(|r| r.split(", on-chain").next()).unwrap();
        let onchain = line.split("on-chain seq ").nth(1).and_then(|r| r.split(',').next()).unwrap();
        assert_eq!(local, onchain, "{line}");
        assert!(!local.starts_with("0 "), "{line}");
    }
    let out = keeper(&cfg_path, &["verify", "--url", &url, "cli-7"]);
    assert!(
        stdout(&out).contains("verified: \"cli-7\" version 1 exists under on-chain shard"),
        "{}",
        stdout(&out)
    );
    let out = keeper(&cfg_path, &["verify", "--url", &url, "never-written"]);
    assert!(stdout(&out).contains("was never written"), "{}", stdout(&out));

    // A second process on the live stores: `recover` and `export` fail with STORE_IN_USE and
    // change nothing (no quarantine, no rebuild); the daemon keeps serving.
    let before = settled_store_bytes(&data_dir);
    for args in [&["recover"][..], &["export", dir.path().join("live.irbk").to_str().unwrap()][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_ironroot-keeper"))
            .arg("--config")
            .arg(&cfg_path)
            .args(args)
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success() && text.contains("STORE_IN_USE"), "{args:?}: {text}");
    }
    let after: Vec<(PathBuf, Vec<u8>)> =
        store_files(&data_dir).into_iter().map(|f| (f.clone(), std::fs::read(&f).unwrap())).collect();
    assert_eq!(before, after, "a second process changed the live stores");
    let all_files = std::fs::read_dir(data_dir.join(hex::encode(APP_ID))).unwrap().count();
    assert_eq!(all_files, 4, "only the two stores and their lock files");
    let res = client.get(format!("{base}/records/cli-3")).send().await.unwrap();
    assert_eq!(res.status(), 200);

    // Stop the daemon (SIGINT: graceful).
    unsafe { libc::kill(daemon.id() as i32, libc::SIGINT) };
    daemon.wait().unwrap();

    // export, lose the stores, import: restored and checked against the chain.
    let backup = dir.path().join("backup.irbk");
    keeper(&cfg_path, &["export", backup.to_str().unwrap()]);
    for f in store_files(&data_dir) {
        std::fs::remove_file(f).unwrap();
    }
    let out = keeper(&cfg_path, &["import", backup.to_str().unwrap()]);
    assert_eq!(stdout(&out).matches("matches the chain").count(), 2, "{}", stdout(&out));
    let out = keeper(&cfg_path, &["recover"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("InSync") || stdout(&out).contains("InSync"),
        "{out:?}"
    );

    // recover after losing the stores: rebuilt from the chain and the manifests.
    for f in store_files(&data_dir) {
        std::fs::remove_file(f).unwrap();
    }
    let out = keeper(&cfg_path, &["recover"]);
    let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert_eq!(text.matches("Rebuilt").count(), 2, "{text}");

    // A crash while writes flow: the latest groups may be durable only in the group log. The
    // offline `recover` replays them into the stores (and makes them durable there), so a plain
    // open of the stores afterwards holds every acknowledged write.
    let mut daemon = run_daemon(&cfg_path, &client, &url).await;
    let (tx, mut acked) = tokio::sync::mpsc::unbounded_channel::<String>();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (client, base, tx) = (client.clone(), base.clone(), tx.clone());
            tokio::spawn(async move {
                for i in (w..).step_by(8) {
                    let key = format!("late-{i}");
                    match client.put(format!("{base}/records/{key}")).body(format!("v{i}")).send().await {
                        Ok(res) if res.status() == 200 => {
                            let _ = tx.send(key);
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    let mut keys = Vec::new();
    while keys.len() < 300 {
        keys.push(acked.recv().await.unwrap());
    }
    daemon.kill().unwrap(); // SIGKILL
    daemon.wait().unwrap();
    for writer in writers {
        let _ = writer.await;
    }
    while let Ok(key) = acked.try_recv() {
        keys.push(key);
    }
    keeper(&cfg_path, &["recover"]);
    let keys_file = SealedKeyFile::open_or_create(data_dir.join("keys").join("root.key")).unwrap();
    for shard in 0..2u16 {
        let seal =
            StoreSeal::derive(&keys_file, AppId(APP_ID), ShardId(shard), TreeKeyMode::Keyed).await.unwrap();
        let store = ShardStore::open(store_path(&data_dir, AppId(APP_ID), ShardId(shard)), seal).unwrap();
        let version = store.state().unwrap().tree_version;
        for key in keys.iter().filter(|k| shard_of(k.as_bytes(), 2) == ShardId(shard)) {
            let (leaf, _) = store.prove(key.as_bytes(), version).unwrap();
            assert!(leaf.is_some(), "shard {shard}: acknowledged {key} not in the store after recover");
        }
    }
    net.stop().unwrap();
}

/// The daemon runs on jemalloc with the keeper's options (the memory budget depends on them):
/// jemalloc itself reports the options it read from the binary when asked to confirm them.
#[test]
fn the_binary_allocates_with_jemalloc_and_the_keepers_options() {
    let out = Command::new(env!("CARGO_BIN_EXE_ironroot-keeper"))
        .arg("--version")
        .env("_RJEM_MALLOC_CONF", "confirm_conf:true")
        .output()
        .unwrap();
    assert!(out.status.success());
    let report = String::from_utf8_lossy(&out.stderr);
    let expected = std::str::from_utf8(ironroot_keeper::allocator::CONF).unwrap().trim_end_matches('\0');
    assert!(
        report.contains(&format!("global variable malloc_conf): \"{expected}\"")),
        "jemalloc did not report the keeper's options:\n{report}"
    );
    for option in expected.split(',') {
        assert!(report.contains(&format!("Set conf value: {option}")), "{option} not set:\n{report}");
    }
}
