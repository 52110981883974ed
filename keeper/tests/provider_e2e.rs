//! The keeper as a provider, end to end: the real `ironroot-keeper` daemon against the JSON-RPC
//! localnet (its clock follows wall time, so the terms use windows of seconds). The publisher's
//! actions go through the Rust SDK's `storage_stake` instruction builders over RPC, and in step 2
//! through the `ironroot` CLI.
//!
//! 1. A provider stakes; the keeper serves the app; the publisher opens challenges; the keeper
//!    answers every one in time (on-chain state, `/v1/status`, `/metrics`).
//! 4. The escrow runs dry; in the grace period the publisher asks for retrieval, the keeper
//!    answers with the CID of an encrypted export, the publisher fetches and restores it and it
//!    reproduces the on-chain root.
//! 3. The keeper restarts on a host that lost its blobs and stores: it reports the corruption
//!    on-chain; the operator restores the blobs and restarts it; it rebuilds and answers before
//!    the recovery deadline: good standing.
//! 2. The operator destroys the keeper's blobs and stores under the running daemon: the next
//!    challenge (`ironroot challenge open`) goes unanswered and `ironroot challenge slash` moves
//!    the stake and the escrow to the publisher (SPL token balances).
//!
//! (Run in the order 1, 4, 3, 2 on one stake: a slash is final.)
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use attestation_verifier::AppIdentity;
use ironroot_devkit::stake::{token_amount, StakeSetup};
use ironroot_keeper::api::StatusResponse;
use ironroot_keeper::backup;
use ironroot_keeper::blobs::{BlobStore, Cid, LocalBlobStore};
use ironroot_keeper::chain::{Chain, RpcChain};
use ironroot_keeper::keys::{AppId, SealedKeyFile, ShardId};
use ironroot_keeper::tree::TreeKeyMode;
use ironroot_localnet::dev_app::{airdrop, send, DevApp};
use ironroot_localnet::{Localnet, Options};
use ironroot_sdk::storage_stake::decode_stake;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::commitment_config::CommitmentConfig;
use solana_sdk::instruction::Instruction;
use solana_sdk::native_token::LAMPORTS_PER_SOL;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{write_keypair_file, Keypair, Signer};
use storage_stake::{ChallengeKind, ProviderStake, StakeStatus, TermsParams};

const APP_ID: [u8; 32] = [0x7a; 32];
const MEASUREMENT: [u8; 32] = [0x11; 32];
const IDENTITY: AppIdentity = AppIdentity { app_id: [0x22; 32], compose_hash: [0x33; 32] };
const STAKE: u64 = 5_000;
const FUNDED: u64 = 30;

fn terms() -> TermsParams {
    TermsParams {
        min_stake: 1_000,
        answer_window_secs: 10,
        recovery_window_secs: 120,
        retrieval_window_secs: 30,
        unstake_cooldown_secs: 0,
        slash_to_publisher_bps: 10_000,
        corruption_refund_bps: 0,
        challenge_bond_lamports: 0,
        bond_to_provider_on_answer: true,
        challenge_interval_secs: 0,
        // 30 tokens at 10 per 1-second epoch: dry 3 s after funding, then 10 minutes of grace.
        payment_per_epoch: 10,
        epoch_secs: 1,
        grace_secs: 600,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `check` every 100 ms until it holds; fails the test after `secs` seconds.
async fn wait_for<F, Fut>(what: &str, secs: u64, log: &Path, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}; keeper log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Env {
    rpc: RpcClient,
    rpc_url: String,
    publisher: Keypair,
    publisher_keypair: PathBuf,
    setup: StakeSetup,
    cfg_path: PathBuf,
    data_dir: PathBuf,
    url: String,
    log: PathBuf,
    client: reqwest::Client,
}

impl Env {
    async fn stake(&self) -> ProviderStake {
        let address = self.setup.stake_address();
        decode_stake(&address, &self.rpc.get_account(&address).await.unwrap()).unwrap()
    }

    async fn tokens(&self, account: &Pubkey) -> u64 {
        token_amount(&self.rpc.get_account(account).await.unwrap().data).unwrap()
    }

    async fn now(&self) -> i64 {
        let clock = self.rpc.get_account(&solana_sdk::sysvar::clock::ID).await.unwrap();
        bincode::deserialize::<solana_sdk::clock::Clock>(&clock.data).unwrap().unix_timestamp
    }

    async fn publisher_sends(&self, ix: Instruction) {
        send(&self.rpc, &self.publisher, &[ix], &[]).await.unwrap();
    }

    async fn status(&self) -> StatusResponse {
        self.client.get(format!("{}/v1/status", self.url)).send().await.unwrap().json().await.unwrap()
    }

    fn start_keeper(&self) -> Child {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        // The operator destroys the keeper's local blob files in step 2: keep the blobs local
        // even when the test run exports an IPFS node.
        Command::new(env!("CARGO_BIN_EXE_ironroot-keeper"))
            .env_remove("IRONROOT_IPFS_API")
            .arg("--config")
            .arg(&self.cfg_path)
            .arg("run")
            .env("RUST_LOG", "ironroot_keeper=info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    async fn wait_healthy_or_degraded(&self) {
        let url = format!("{}/health", self.url);
        let client = self.client.clone();
        wait_for("the daemon to answer /health", 20, &self.log, || {
            let (client, url) = (client.clone(), url.clone());
            async move { client.get(url).send().await.is_ok() }
        })
        .await;
    }

    fn keeper_cli(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_ironroot-keeper"))
            .env_remove("IRONROOT_IPFS_API")
            .arg("--config")
            .arg(&self.cfg_path)
            .args(args)
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "ironroot-keeper {args:?} failed:\n{text}");
        text
    }

    /// The publisher runs the `ironroot` CLI, which `cargo test --workspace` builds beside this
    /// test binary (its own crate's tests need it).
    fn ironroot(&self, args: &[&str]) -> String {
        let exe = std::env::current_exe().unwrap();
        let bin = exe.parent().and_then(Path::parent).unwrap().join("ironroot");
        assert!(bin.exists(), "{} is missing: run the tests with `cargo test --workspace`", bin.display());
        let out = Command::new(&bin)
            .args(["-u", &self.rpc_url, "-k", self.publisher_keypair.to_str().unwrap(), "--yes"])
            .args(args)
            .output()
            .unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "ironroot {args:?} failed:\n{text}");
        text
    }

    /// The publisher's associated token account (where the CLI's slash pays the stake).
    fn publisher_ata(&self) -> Pubkey {
        let ata_program = Pubkey::from_str("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL").unwrap();
        let token_program = Pubkey::from_str("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA").unwrap();
        let seeds = [
            self.publisher.pubkey().to_bytes(),
            token_program.to_bytes(),
            self.setup.mint.pubkey().to_bytes(),
        ];
        Pubkey::find_program_address(&[&seeds[0], &seeds[1], &seeds[2]], &ata_program).0
    }

    async fn tokens_or_zero(&self, account: &Pubkey) -> u64 {
        match self.rpc.get_account(account).await {
            Ok(a) => token_amount(&a.data).unwrap(),
            Err(_) => 0,
        }
    }

    fn store_dir(&self) -> PathBuf {
        self.data_dir.join(hex::encode(APP_ID))
    }
}

fn stop(mut child: Child) {
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    child.wait().unwrap();
}

fn delete_stores(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("shard-") && path.is_file() {
            std::fs::remove_file(path).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keeper_provider_answers_recovers_serves_retrieval_and_is_slashed_when_data_is_destroyed() {
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

    // Governance with the localnet's attester; a 2-shard app; the publisher pays.
    let (publisher, app) = DevApp::new(APP_ID, 2, MEASUREMENT, IDENTITY).create(&config).await.unwrap();
    let rent = solana_sdk::rent::Rent::default();

    // Tokens, terms and the provider's stake: real SPL token transfers.
    let setup = StakeSetup::new(app, publisher.pubkey());
    airdrop(&rpc, &setup.provider.pubkey(), 100 * LAMPORTS_PER_SOL).await.unwrap();
    send(
        &rpc,
        &publisher,
        &setup.token_instructions(&publisher.pubkey(), &rent, 10 * STAKE),
        &setup.token_signers(),
    )
    .await
    .unwrap();
    send(&rpc, &publisher, &[setup.terms_instruction(terms())], &[]).await.unwrap();
    send(&rpc, &publisher, &setup.stake_instructions(STAKE), &[&setup.provider]).await.unwrap();

    // The keeper: config with the provider role; register its TEE key; bind it to the stake.
    let fee_payer = dir.path().join("fee-payer.json");
    write_keypair_file(&publisher, &fee_payer).unwrap();
    let provider_keypair = dir.path().join("provider.json");
    write_keypair_file(&setup.provider, &provider_keypair).unwrap();
    let data_dir = dir.path().join("keeper");
    let port = free_port();
    let cfg_path = dir.path().join("keeper.toml");
    std::fs::write(
        &cfg_path,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = {:?}\npublisher = \"{}\"\napp_id = \"{}\"\nrpc_url = \"{}\"\nfee_payer_keypair = {:?}\ncommit_interval_ms = 200\nadmin_token = \"provider-token\"\n\n[provider]\nprovider = \"{}\"\npoll_interval_ms = 200\nrecovery_retry_ms = 500\n",
            data_dir,
            publisher.pubkey(),
            hex::encode(APP_ID),
            config.rpc_url,
            fee_payer,
            setup.provider.pubkey()
        ),
    )
    .unwrap();
    let env = Env {
        rpc,
        rpc_url: config.rpc_url.clone(),
        publisher,
        publisher_keypair: fee_payer.clone(),
        setup,
        cfg_path,
        data_dir: data_dir.clone(),
        url: format!("http://127.0.0.1:{port}"),
        log: dir.path().join("keeper.log"),
        client: reqwest::Client::new(),
    };
    let measurement = hex::encode(MEASUREMENT);
    let (app_hex, compose_hex) = (hex::encode(IDENTITY.app_id), hex::encode(IDENTITY.compose_hash));
    let attester_path = config.attester.keypair_path.to_str().unwrap().to_string();
    env.keeper_cli(&[
        "register",
        "--attester",
        &attester_path,
        "--measurement",
        &measurement,
        "--dstack-app-id",
        &app_hex,
        "--compose-hash",
        &compose_hex,
    ]);
    let bound = env.keeper_cli(&["bind-stake", "--provider-keypair", provider_keypair.to_str().unwrap()]);
    assert!(bound.contains("bound TEE key"), "{bound}");
    let tee = SealedKeyFile::open_or_create(data_dir.join("keys").join("root.key")).unwrap();
    let tee_key = {
        use ironroot_keeper::keys::KeySource;
        tee.signing_keypair(&AppId(APP_ID)).await.unwrap().pubkey()
    };
    assert_eq!(env.stake().await.tee_keys, vec![tee_key]);

    // Data, committed on-chain.
    let mut daemon = env.start_keeper();
    env.wait_healthy_or_degraded().await;
    let base = format!("{}/v1/apps/{}", env.url, hex::encode(APP_ID));
    for i in 0..24 {
        let res =
            env.client.put(format!("{base}/records/e2e-{i}")).body(format!("v{i}")).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }
    let res = env
        .client
        .post(format!("{}/v1/admin/commit", env.url))
        .bearer_auth("provider-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    // 1. Three challenges, each answered by the keeper on its own, well before the deadline.
    for round in 1..=3u64 {
        env.publisher_sends(env.setup.open_challenge_instruction(2)).await;
        let challenge = env.stake().await.challenge.expect("challenge open");
        wait_for("the keeper's answer", 8, &env.log, || async { env.stake().await.challenge.is_none() })
            .await;
        assert!(env.now().await <= challenge.deadline);
        let stake = env.stake().await;
        assert_eq!((stake.status, stake.amount), (StakeStatus::Active, STAKE), "round {round}");
    }
    // The keeper records an answer right after its confirmation.
    wait_for("the keeper to record 3 answers", 5, &env.log, || async {
        env.status().await.provider.is_some_and(|p| p.answers_total == 3)
    })
    .await;
    let status = env.status().await;
    let provider = status.provider.expect("provider status");
    assert_eq!((provider.answers_total, provider.challenges_missed_total), (3, 0));
    assert_eq!(
        (provider.stake_amount, provider.stake_status.as_deref(), provider.tee_bound),
        (Some(STAKE), Some("active"), true)
    );
    for answer in &provider.answers {
        eprintln!(
            "answered shard {} in {} ms, {} slots, {} s before the deadline, {} tx bytes",
            answer.shard, answer.latency_ms, answer.slots_taken, answer.margin_secs, answer.tx_bytes
        );
        assert!(answer.margin_secs > 0 && answer.latency_ms < 8_000 && answer.tx_bytes <= 1232, "{answer:?}");
    }
    let metrics = env.client.get(format!("{}/metrics", env.url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("ironroot_provider_answers_total 3"), "{metrics}");
    assert!(metrics.contains(&format!("ironroot_provider_stake_amount {STAKE}")), "{metrics}");
    let human = env.keeper_cli(&["status", "--url", &env.url]);
    assert!(human.contains("3 answers"), "{human}");

    // 4. The escrow runs dry; in the grace period the publisher asks for retrieval of shard 0.
    env.publisher_sends(env.setup.fund_instruction(FUNDED)).await;
    let params = terms();
    let escrow = env.setup.escrow();
    wait_for("the escrow to run dry", 10, &env.log, || async {
        let (stake, balance, now) = (env.stake().await, env.tokens(&escrow).await, env.now().await);
        stake.payment_state(&params, balance, now).unwrap().in_grace(now)
    })
    .await;
    env.publisher_sends(env.setup.request_retrieval_instruction(0)).await;
    wait_for("the retrieval answer", 10, &env.log, || async { env.stake().await.retrieval.is_none() }).await;
    wait_for("the keeper to record the retrieval", 5, &env.log, || async {
        env.status().await.provider.is_some_and(|p| p.retrievals_answered_total == 1)
    })
    .await;
    let provider = env.status().await.provider.unwrap();
    let retrieval = provider.retrievals.last().expect("retrieval recorded").clone();
    assert_eq!((retrieval.shard, provider.retrievals_answered_total), (ShardId(0), 1));

    // 3. The host loses the blobs and the stores; the keeper restarts and cannot rebuild.
    stop(daemon);
    // (First, the publisher's side of 4: fetch the export by CID and restore it elsewhere.)
    let chain = RpcChain::new(config.rpc_url.clone(), Keypair::new(), env.publisher.pubkey());
    let onchain = chain.shard(&APP_ID, ShardId(0)).await.unwrap().unwrap();
    {
        let blobs = LocalBlobStore::open(data_dir.join("blobs")).unwrap();
        let export = blobs.get(&Cid::from_str(&retrieval.cid).unwrap()).await.unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let restored_blobs = LocalBlobStore::open(elsewhere.path().join("blobs")).unwrap();
        let restored = backup::import(
            AppId(APP_ID),
            TreeKeyMode::Keyed,
            &export[..],
            &restored_blobs,
            &tee,
            &chain,
            |id| elsewhere.path().join(format!("shard-{id}.redb")),
        )
        .await
        .unwrap();
        assert_eq!(
            (restored[0].shard, restored[0].seq, restored[0].root),
            (ShardId(0), onchain.seq, onchain.root)
        );
    }
    let saved_blobs = dir.path().join("blobs.saved");
    std::fs::rename(data_dir.join("blobs"), &saved_blobs).unwrap();
    delete_stores(&env.store_dir());
    daemon = env.start_keeper();
    env.wait_healthy_or_degraded().await;
    wait_for("the corruption report", 10, &env.log, || async {
        env.stake().await.challenge.is_some_and(|c| c.kind == ChallengeKind::Corruption)
    })
    .await;
    let reported = env.stake().await.challenge.unwrap();
    wait_for("the status to show the open corruption challenge", 5, &env.log, || async {
        let provider = env.status().await.provider.unwrap();
        provider.open_challenge.is_some_and(|c| c.kind == "corruption")
    })
    .await;
    let provider = env.status().await.provider.unwrap();
    assert_eq!(
        (provider.corruption_reports_total, provider.recovering_shards.clone()),
        (1, vec![ShardId(0), ShardId(1)])
    );
    // The operator restores the blobs and restarts the keeper: it rebuilds and answers in time.
    stop(daemon);
    std::fs::remove_dir_all(data_dir.join("blobs")).unwrap();
    std::fs::rename(&saved_blobs, data_dir.join("blobs")).unwrap();
    daemon = env.start_keeper();
    env.wait_healthy_or_degraded().await;
    wait_for("the corruption challenge answered", 15, &env.log, || async {
        env.stake().await.challenge.is_none()
    })
    .await;
    assert!(env.now().await <= reported.deadline);
    let stake = env.stake().await;
    assert_eq!((stake.status, stake.amount), (StakeStatus::Active, STAKE), "good standing");
    wait_for("the keeper to record the corruption answer", 5, &env.log, || async {
        env.status().await.provider.is_some_and(|p| p.answers.last().is_some_and(|a| a.kind == "corruption"))
    })
    .await;

    // 2. The operator destroys the blobs and the stores under the running keeper.
    for entry in std::fs::read_dir(data_dir.join("blobs").join("segments")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(0).unwrap();
    }
    delete_stores(&env.store_dir());
    let (app_address, provider_address) =
        (env.setup.app.to_string(), env.setup.provider.pubkey().to_string());
    env.ironroot(&["challenge", "open", &app_address, "--provider", &provider_address]);
    let challenge = env.stake().await.challenge.unwrap();
    assert_eq!(challenge.kind, ChallengeKind::Publisher);
    wait_for("the deadline to pass", 15, &env.log, || async { env.now().await > challenge.deadline }).await;
    assert_eq!(env.stake().await.challenge, Some(challenge), "unanswered");
    wait_for("the keeper to count the challenge missed", 5, &env.log, || async {
        env.status().await.provider.is_some_and(|p| p.challenges_missed_total == 1)
    })
    .await;
    let provider = env.status().await.provider.unwrap();
    // (Counters are the running process's: one answer since the last restart.)
    assert!(provider.answer_failures_total > 0 && provider.answers_total == 1, "{provider:?}");
    assert!(provider.last_error.as_deref().is_some_and(|e| e.contains("not found")), "{provider:?}");
    let publisher_ata = env.publisher_ata();
    let publisher_before = env.tokens_or_zero(&publisher_ata).await;
    let (vault_before, escrow_before) = (env.tokens(&env.setup.vault()).await, env.tokens(&escrow).await);
    assert_eq!((vault_before, escrow_before), (STAKE, FUNDED));
    env.ironroot(&["challenge", "slash", &app_address, "--provider", &provider_address]);
    assert_eq!(env.tokens(&publisher_ata).await, publisher_before + STAKE + FUNDED);
    assert_eq!((env.tokens(&env.setup.vault()).await, env.tokens(&escrow).await), (0, 0));
    let stake = env.stake().await;
    assert_eq!((stake.status, stake.amount, stake.challenge), (StakeStatus::Slashed, 0, None));
    wait_for("the keeper to see the slash", 5, &env.log, || async {
        env.status().await.provider.is_some_and(|p| p.stake_status.as_deref() == Some("slashed"))
    })
    .await;
    stop(daemon);
    net.stop().unwrap();
}
