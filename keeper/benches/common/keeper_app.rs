//! A localnet with an app and a registered keeper config, for the benches that drive the real
//! `ironroot-keeper` daemon.
use std::path::{Path, PathBuf};
use std::process::Command;

use attestation_verifier::AppIdentity;
use ironroot_localnet::dev_app::DevApp;
use ironroot_localnet::{Localnet, Options};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{write_keypair_file, Signer};

const MEASUREMENT: [u8; 32] = [0x11; 32];
const IDENTITY: AppIdentity = AppIdentity { app_id: [0x22; 32], compose_hash: [0x33; 32] };
pub const ADMIN_TOKEN: &str = "bench-admin-token";

pub fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

pub fn keeper_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ironroot-keeper")
}

/// Runs an `ironroot-keeper` subcommand to completion; panics with its output if it fails.
pub fn run_keeper(config: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(keeper_bin())
        // Local blobs: bench.sh exports an IPFS node for the write-path bench.
        .env_remove("IRONROOT_IPFS_API")
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .expect("run ironroot-keeper");
    assert!(
        out.status.success(),
        "ironroot-keeper {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub struct KeeperApp {
    pub net: Localnet,
    /// The publisher's address, also the keeper's fee payer.
    pub fee_payer: Pubkey,
    pub cfg_path: PathBuf,
    pub url: String,
    /// The keeper's data directory.
    pub data_dir: PathBuf,
}

impl KeeperApp {
    /// A localnet in `dir` (slots of `slot_ms`), governance and app `app_id` with `shards` shards,
    /// and a keeper config on a free port whose TEE key is registered (`ironroot-keeper register`).
    pub async fn start(dir: &Path, app_id: [u8; 32], shards: u16, slot_ms: u64) -> KeeperApp {
        let options = Options {
            state_dir: dir.join("localnet"),
            rpc_port: free_port(),
            ws_port: free_port(),
            slot_time_ms: slot_ms,
        };
        let net = tokio::task::spawn_blocking(move || Localnet::start(&options))
            .await
            .expect("localnet task")
            .expect("localnet");
        let mut dev_app = DevApp::new(app_id, shards, MEASUREMENT, IDENTITY);
        // Depth 20: room for a long run's updates without a history rotation.
        dev_app.max_depth = 20;
        dev_app.publisher_sol = 1_000;
        let (payer, _) = dev_app.create(net.config()).await.expect("governance and the app");

        let fee_payer = dir.join("fee-payer.json");
        write_keypair_file(&payer, &fee_payer).expect("fee payer file");
        let data_dir = dir.join("keeper");
        let port = free_port();
        let cfg_path = dir.join("keeper.toml");
        let rpc_url = &net.config().rpc_url;
        std::fs::write(
            &cfg_path,
            format!(
                "listen = \"127.0.0.1:{port}\"\ndata_dir = {data_dir:?}\npublisher = \"{}\"\napp_id = \"{}\"\nrpc_url = \"{rpc_url}\"\nfee_payer_keypair = {fee_payer:?}\nadmin_token = \"{ADMIN_TOKEN}\"\n",
                payer.pubkey(),
                hex::encode(app_id),
            ),
        )
        .expect("keeper config");
        let attester = net.config().attester.keypair_path.clone();
        run_keeper(
            &cfg_path,
            &[
                "register",
                "--attester",
                attester.to_str().expect("utf-8 path"),
                "--measurement",
                &hex::encode(MEASUREMENT),
                "--dstack-app-id",
                &hex::encode(IDENTITY.app_id),
                "--compose-hash",
                &hex::encode(IDENTITY.compose_hash),
            ],
        );
        KeeperApp {
            net,
            fee_payer: payer.pubkey(),
            cfg_path,
            url: format!("http://127.0.0.1:{port}"),
            data_dir,
        }
    }
}
