//! Every `ironroot-keeper` subcommand, run as the real binary against a JSON-RPC localnet (which
//! also exercises the keeper's RPC `Chain`).
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::str::FromStr;
use std::time::Duration;

use app_roots::{AllowedTee as AppPair, AppPolicy, CreateAppArgs};
use attestation_verifier::{AllowedTee, AppIdentity, InitializeArgs};
use ironroot_bank::dev::DevTrust;
use ironroot_localnet::{Localnet, Options};
use ironroot_sdk::{app_roots as roots, verifier};
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::commitment_config::CommitmentConfig;
use solana_sdk::hash::Hash;
use solana_sdk::instruction::Instruction;
use solana_sdk::native_token::LAMPORTS_PER_SOL;
use solana_sdk::signature::{read_keypair_file, write_keypair_file, Keypair, Signer};
use solana_sdk::transaction::Transaction;

const APP_ID: [u8; 32] = [0x77; 32];
const MEASUREMENT: [u8; 32] = [0x11; 32];
const IDENTITY: AppIdentity = AppIdentity { app_id: [0x22; 32], compose_hash: [0x33; 32] };

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn send(rpc: &RpcClient, payer: &Keypair, ixs: &[Instruction], signers: &[&Keypair]) {
    let mut all = vec![payer];
    all.extend(signers.iter().copied());
    let tx = Transaction::new_signed_with_payer(
        ixs,
        Some(&payer.pubkey()),
        &all,
        rpc.get_latest_blockhash().await.unwrap(),
    );
    rpc.send_and_confirm_transaction(&tx).await.unwrap();
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
    let rpc = RpcClient::new_with_commitment(config.rpc_url.clone(), CommitmentConfig::confirmed());

    // Chain set-up: governance (the verifier's upgrade authority) with the localnet's attester,
    // and an app with two shards whose policy allows the measurement and identity below.
    let payer = Keypair::new();
    let airdrop = rpc.request_airdrop(&payer.pubkey(), 100 * LAMPORTS_PER_SOL).await.unwrap();
    while !rpc.confirm_transaction(&airdrop).await.unwrap() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let governance = read_keypair_file(&config.governance.keypair_path).unwrap();
    let attester = read_keypair_file(&config.attester.keypair_path).unwrap();
    let genesis = Hash::from_str(&config.genesis_hash).unwrap();
    let init = InitializeArgs {
        authority: governance.pubkey(),
        cluster_genesis_hash: genesis.to_bytes(),
        attesters: vec![attester.pubkey()],
        threshold: 1,
        policy: DevTrust::policy(),
    };
    let gov = governance.pubkey();
    let allow = [
        verifier::initialize(&gov, init),
        verifier::add_allowed(
            &gov,
            AllowedTee { measurement: MEASUREMENT, app: IDENTITY, max_tcb_status: 1 },
        ),
    ];
    send(&rpc, &payer, &allow, &[&governance]).await;
    let tree = Keypair::new();
    let rent = solana_sdk::rent::Rent::default();
    let policy = AppPolicy {
        allowed: vec![AppPair {
            measurement: MEASUREMENT,
            app_id: IDENTITY.app_id,
            compose_hash: IDENTITY.compose_hash,
        }],
        max_tcb_status: 1,
        blocked_keys: Vec::new(),
        min_key_validity_secs: 60,
    };
    let args = CreateAppArgs { app_id: APP_ID, shard_count: 2, max_depth: 14, max_buffer_size: 64, policy };
    send(&rpc, &payer, &roots::create_app(&payer.pubkey(), &tree.pubkey(), &rent, args).unwrap(), &[&tree])
        .await;
    let app = ironroot_sdk::pda::app(&payer.pubkey(), &APP_ID);
    send(
        &rpc,
        &payer,
        &[roots::init_shard(&payer.pubkey(), &app, 0), roots::init_shard(&payer.pubkey(), &app, 1)],
        &[],
    )
    .await;

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
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_ironroot-keeper"))
        .arg("--config")
        .arg(&cfg_path)
        .arg("run")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..200 {
        if client.get(format!("{url}/health")).send().await.is_ok_and(|r| r.status() == 200) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the daemon did not become healthy");
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

    // demo: everything in one process on embedded defaults (small, to keep the test short).
    let out = keeper(&cfg_path, &["demo", "--records", "200", "--shards", "2"]);
    assert!(stdout(&out).contains("records after recovery     200 readable"), "{}", stdout(&out));
    net.stop().unwrap();
}
