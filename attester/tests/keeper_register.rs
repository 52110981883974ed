//! The keeper registers its TEE key through real attester daemons, as deployed: a JSON-RPC
//! localnet governed with two attesters (threshold 2), two `ironroot-attester` processes on our
//! test PKI, the mock dstack guest agent on a unix socket serving quotes from that PKI, and the
//! real `ironroot-keeper` binary (`register --attester-url …`, then `run`, which re-registers
//! before expiry; the later registrations with governance requiring the quote's own signatures
//! on-chain).
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::pki::TestPki;
use attestation_verifier::{AppIdentity, TcbStatus};
use ironroot_attester::eventlog::dstack_boot_log;
use ironroot_attester::quote::{measurement_digest, parse_quote};
use ironroot_bank::dev::DevTrust;
use ironroot_devkit::dstack_mock::{MockAgentOptions, MockGuestAgent, MockListen, QuoteProvider};
use ironroot_localnet::dev_app::{send, DevApp};
use ironroot_localnet::{Localnet, Options};
use ironroot_sdk::quote::QuoteParts;
use ironroot_sdk::{pda, registry, verifier};
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::commitment_config::CommitmentConfig;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{read_keypair_file, write_keypair_file, Keypair, Signature, Signer};
use tee_registry::TeeEntry;

/// The on-chain app the keeper serves.
const APP: [u8; 32] = [0x5A; 32];
/// The dstack app identity the TEE boots (20-byte id, as dstack's event log carries it).
const DSTACK_APP_ID: [u8; 20] = [0xA7; 20];
const COMPOSE: [u8; 32] = [0xC3; 32];

fn dstack_app_id32() -> [u8; 32] {
    let mut id = [0u8; 32];
    id[..20].copy_from_slice(&DSTACK_APP_ID);
    id
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process killed when the test ends, however it ends.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The keeper binary. Cargo hands a test only its own package's binaries; `cargo test
/// --workspace` builds every workspace binary into the same directory.
fn keeper_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().and_then(Path::parent).unwrap().join("ironroot-keeper");
    assert!(path.exists(), "{} is missing: run with `cargo test --workspace`", path.display());
    path
}

async fn keeper(config: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(keeper_bin());
    command.arg("--config").arg(config).args(args).env("RUST_LOG", "error");
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

async fn entry(rpc: &RpcClient, tee: &Pubkey) -> Option<TeeEntry> {
    let address = pda::tee_entry(tee);
    let account = rpc.get_account_with_commitment(&address, rpc.commitment()).await.unwrap().value?;
    Some(registry::decode_tee_entry(&address, &account).unwrap())
}

/// Starts an attester daemon and waits until it answers; returns it and its base URL.
async fn start_attester(key: &Path, rpc_url: &str, collateral: &Path, root: &Path) -> (Daemon, String) {
    let port = free_port();
    let daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_ironroot-attester"))
            .arg("--key-file")
            .arg(key)
            .args(["--rpc-url", rpc_url, "--listen", &format!("127.0.0.1:{port}")])
            .arg("--collateral-dir")
            .arg(collateral)
            .arg("--root-ca")
            .arg(root)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http.get(format!("{url}/health")).send().await.is_ok_and(|r| r.status() == 200) {
            return (daemon, url);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("attester on {url} did not come up");
}

/// How a man in the middle edits an attester's answer (JSON) before the keeper sees it.
type Edit = Arc<dyn Fn(&mut serde_json::Value) + Send + Sync>;

/// A network attacker in front of `upstream`: forwards `/v1/attest` and edits the answer.
async fn tampering_proxy(upstream: String, edit: Edit) -> String {
    let handler = move |axum::Json(body): axum::Json<serde_json::Value>| {
        let (upstream, edit) = (upstream.clone(), edit.clone());
        async move {
            let answer =
                reqwest::Client::new().post(format!("{upstream}/v1/attest")).json(&body).send().await;
            let mut answer: serde_json::Value = answer.unwrap().json().await.unwrap();
            edit(&mut answer);
            axum::Json(answer)
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/v1/attest", axum::routing::post(handler));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// Re-signs an answer's statement with `key` after `change` (the answer names `key` as attester).
fn resign(
    answer: &mut serde_json::Value,
    key: &Keypair,
    change: impl Fn(&mut attestation_verifier::AttestationStatement),
) {
    let bytes = hex::decode(answer["statement"].as_str().unwrap()).unwrap();
    let mut statement = ironroot_sdk::attestation::decode_statement(&bytes).unwrap();
    change(&mut statement);
    answer["statement"] = hex::encode(statement.to_bytes()).into();
    answer["attester"] = key.pubkey().to_string().into();
    answer["signature"] = key.sign_message(&statement.to_bytes()).to_string().into();
}

fn keeper_config(
    dir: &Path,
    name: &str,
    rpc_url: &str,
    publisher: &Pubkey,
    fee_payer: &Path,
    agent: &str,
    extra: &str,
) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:{}\"\ndata_dir = {:?}\npublisher = \"{publisher}\"\napp_id = \"{}\"\nrpc_url = \"{rpc_url}\"\nfee_payer_keypair = {:?}\nkey_source = \"dstack\"\ndstack_endpoint = {agent:?}\n{extra}",
            free_port(),
            dir.join(format!("{name}-data")),
            hex::encode(APP),
            fee_payer,
        ),
    )
    .unwrap();
    path
}

/// "registered TEE key <key> for app …" → the key.
fn registered_key(out: &Output) -> Pubkey {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let key = stdout.split("registered TEE key ").nth(1).and_then(|r| r.split(' ').next());
    Pubkey::from_str(key.unwrap_or_else(|| panic!("no key in {stdout}"))).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keeper_registers_through_two_attester_daemons_and_re_registers_before_expiry() {
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
    // Our PKI, dated by the wall clock the attesters (and the localnet) run on; the TEE's boot log.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let pki = Arc::new(TestPki::new(now));
    let (event_log, rtmr3) = dstack_boot_log(&DSTACK_APP_ID, &COMPOSE, b"instance-1");
    let probe = parse_quote(&pki.quote(&[0; 64], &rtmr3, None)).unwrap();
    let measurement = measurement_digest(&probe.report);

    // Governance: two attesters, both needed; the TEE's (measurement, identity) pair allowed, by
    // governance up to SW-hardening-needed, by the app (whose daemon opens the shard) only up to date.
    let governance = read_keypair_file(&config.governance.keypair_path).unwrap();
    let gov = governance.pubkey();
    let attester_keys = [Keypair::new(), Keypair::new()];
    let identity = AppIdentity { app_id: dstack_app_id32(), compose_hash: COMPOSE };
    let mut dev_app = DevApp::new(APP, 1, measurement, identity);
    dev_app.attesters = Some(attester_keys.iter().map(|k| k.pubkey()).collect());
    dev_app.threshold = 2;
    dev_app.max_tcb_status = TcbStatus::UpToDate as u8;
    dev_app.app_max_tcb_status = 0;
    dev_app.min_key_validity_secs = 1;
    let (payer, _) = dev_app.create(&config).await.unwrap();
    let fee_payer = dir.path().join("fee-payer.json");
    write_keypair_file(&payer, &fee_payer).unwrap();

    // Two attester daemons with their own keys, our root CA and offline collateral.
    let collateral = dir.path().join("collateral");
    std::fs::create_dir(&collateral).unwrap();
    let key = ironroot_attester::collateral::CollateralKey::of(&probe).unwrap();
    std::fs::write(collateral.join(key.file_name()), serde_json::to_vec(&pki.collateral).unwrap()).unwrap();
    let root = dir.path().join("root.der");
    std::fs::write(&root, &pki.root_der).unwrap();
    let mut attesters = Vec::new();
    for (i, k) in attester_keys.iter().enumerate() {
        let path = dir.path().join(format!("attester-{i}.json"));
        write_keypair_file(k, &path).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        attesters.push(start_attester(&path, &config.rpc_url, &collateral, &root).await);
    }
    let urls: Vec<String> = attesters.iter().map(|(_, url)| url.clone()).collect();

    // The TEE: the mock guest agent on a unix socket, quoting through our PKI (each quote it
    // makes is kept, to check the registry names the one the attesters verified).
    let quotes_made: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let provider: QuoteProvider = {
        let (pki, log, made) = (pki.clone(), event_log.clone(), quotes_made.clone());
        Arc::new(move |report_data: &[u8; 64]| {
            let quote = pki.quote(report_data, &rtmr3, None);
            made.lock().unwrap().push(quote.clone());
            (quote, log.clone())
        })
    };
    let socket = dir.path().join("dstack.sock");
    let agent = MockGuestAgent::start_with(
        MockAgentOptions {
            seed: [9; 32],
            quotes: Some(provider.clone()),
            identity: Some((DSTACK_APP_ID, COMPOSE)),
        },
        MockListen::Unix(socket.clone()),
    )
    .await
    .unwrap();
    let cfg = keeper_config(
        dir.path(),
        "keeper",
        &config.rpc_url,
        &payer.pubkey(),
        &fee_payer,
        &agent.endpoint(),
        "",
    );

    // One attester is below governance's threshold of two: refused before anything is sent.
    let out = keeper(&cfg, &["register", "--attester-url", &urls[0]]).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("needs 2 attesters to vouch; only 1 attester URL(s) given"),
        "{}",
        text(&out)
    );

    // Both: registered, as the attesters saw it.
    let out = keeper(
        &cfg,
        &["register", "--attester-url", &urls[0], "--attester-url", &urls[1], "--lifetime-secs", "3600"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    for k in &attester_keys {
        assert!(text(&out).contains(&k.pubkey().to_string()), "vouched by {}: {}", k.pubkey(), text(&out));
    }
    let tee = registered_key(&out);
    let registered = entry(&rpc, &tee).await.expect("registry entry written");
    assert_eq!(registered.tee_pubkey, tee);
    assert_eq!(registered.measurement, measurement);
    assert_eq!((registered.app_id, registered.compose_hash), (dstack_app_id32(), COMPOSE));
    assert!(!registered.revoked);
    assert!((3590..=3600).contains(&(registered.expires_at - registered.refreshed_at)), "{registered:?}");
    let last_quote = quotes_made.lock().unwrap().last().cloned().unwrap();
    assert_eq!(registered.quote_hash, QuoteParts::parse(&last_quote).unwrap().digest());
    let dcap_qvl::quote::Report::TD10(report) = parse_quote(&last_quote).unwrap().report else {
        panic!("a TDX 1.0 quote")
    };
    assert_eq!(report.report_data[..32], tee.to_bytes(), "the quote binds the registered key");
    assert!(text(&out).contains(&format!("nonce {}", registered.last_nonce)), "{}", text(&out));

    // A network attacker between the keeper and attester 0 edits its answers. Attester 1 is
    // honest, so each time one valid signature is missing: nothing is registered.
    let outsider = Keypair::new();
    let governance_key = attester_keys[0].insecure_clone();
    let edits: Vec<(Edit, &str)> = vec![
        (
            // A longer registration than asked, signed by a governance attester.
            Arc::new(move |a| resign(a, &governance_key, |s| s.expires_at += 600)),
            "not the one asked for",
        ),
        (Arc::new(move |a| resign(a, &outsider, |_| {})), "not in governance's attester set"),
        (
            Arc::new(|a| {
                let signature = Signature::from_str(a["signature"].as_str().unwrap()).unwrap();
                let mut bytes: [u8; 64] = signature.as_ref().try_into().unwrap();
                bytes[0] ^= 1;
                a["signature"] = Signature::from(bytes).to_string().into();
            }),
            "does not verify",
        ),
    ];
    for (edit, reason) in edits {
        let proxy = tampering_proxy(urls[0].clone(), edit).await;
        let out = keeper(&cfg, &["register", "--attester-url", &proxy, "--attester-url", &urls[1]]).await;
        assert!(!out.status.success(), "{}", text(&out));
        assert!(text(&out).contains(reason) && text(&out).contains("got 1"), "{reason}: {}", text(&out));
        assert_eq!(entry(&rpc, &tee).await.unwrap(), registered, "nothing changed on-chain");
    }

    // An agent claiming an app identity its boot log does not carry: both attesters refuse it
    // (event-log check) and nothing is registered for that TEE's key.
    let liar_socket = dir.path().join("liar.sock");
    let liar = MockGuestAgent::start_with(
        MockAgentOptions {
            seed: [10; 32],
            quotes: Some(provider.clone()),
            identity: Some((DSTACK_APP_ID, [0x0D; 32])),
        },
        MockListen::Unix(liar_socket),
    )
    .await
    .unwrap();
    let liar_cfg =
        keeper_config(dir.path(), "liar", &config.rpc_url, &payer.pubkey(), &fee_payer, &liar.endpoint(), "");
    let out = keeper(&liar_cfg, &["register", "--attester-url", &urls[0], "--attester-url", &urls[1]]).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(text(&out).matches("REFUSED (event_log)").count(), 2, "{}", text(&out));
    assert!(text(&out).contains("got 0"), "{}", text(&out));

    // From here on governance requires the quote's own signatures on-chain: the keeper records
    // them (two transactions through the secp256r1 precompile) before each `register_tee`, which
    // consumes and closes the buffer.
    let strict = attestation_verifier::Policy { require_quote_signatures: true, ..DevTrust::policy() };
    send(&rpc, &payer, &[verifier::set_policy(&gov, strict)], &[&governance]).await.unwrap();

    // The daemon re-registers before expiry: registered for 40 s with a 34 s margin (plus the
    // app's 1 s minimum key validity), it must register again about every 5 s, never letting the
    // key lapse.
    let out = keeper(
        &cfg,
        &["register", "--attester-url", &urls[0], "--attester-url", &urls[1], "--lifetime-secs", "40"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let short = entry(&rpc, &tee).await.unwrap();
    assert!((30..=40).contains(&(short.expires_at - short.refreshed_at)), "{short:?}");
    let last_quote = quotes_made.lock().unwrap().last().cloned().unwrap();
    assert_eq!(short.quote_hash, QuoteParts::parse(&last_quote).unwrap().digest());
    let buffer = pda::quote_buffer(&tee, short.last_nonce, &payer.pubkey());
    assert!(
        rpc.get_account_with_commitment(&buffer, rpc.commitment()).await.unwrap().value.is_none(),
        "register_tee closed the quote buffer"
    );
    let extra = format!(
        "attester_urls = [{:?}, {:?}]\nregistration_lifetime_secs = 40\nreregister_margin_secs = 34\n",
        urls[0], urls[1]
    );
    let run_cfg = keeper_config(
        dir.path(),
        "daemon",
        &config.rpc_url,
        &payer.pubkey(),
        &fee_payer,
        &agent.endpoint(),
        &extra,
    );
    let _daemon = Daemon(
        Command::new(keeper_bin())
            .arg("--config")
            .arg(&run_cfg)
            .arg("run")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut seen = vec![(short.last_nonce, short.expires_at)];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    while seen.len() < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let current = entry(&rpc, &tee).await.unwrap();
        let clock: solana_sdk::clock::Clock =
            bincode::deserialize(&rpc.get_account(&solana_sdk::sysvar::clock::ID).await.unwrap().data)
                .unwrap();
        assert!(current.expires_at > clock.unix_timestamp, "the registration lapsed: {current:?}");
        if current.last_nonce != seen.last().unwrap().0 {
            seen.push((current.last_nonce, current.expires_at));
        }
    }
    assert!(seen.len() >= 3, "the daemon re-registered {} times in 45 s: {seen:?}", seen.len() - 1);
    assert!(seen.windows(2).all(|w| w[1].0 > w[0].0 && w[1].1 > w[0].1), "{seen:?}");
    // Each re-registration went through the quote buffer: the entry names one of the agent's
    // quotes by its digest, and that registration's buffer is closed.
    let latest = entry(&rpc, &tee).await.unwrap();
    let made = quotes_made.lock().unwrap().clone();
    assert!(made.iter().any(|q| QuoteParts::parse(q).unwrap().digest() == latest.quote_hash), "{latest:?}");
    let buffer = pda::quote_buffer(&tee, latest.last_nonce, &payer.pubkey());
    assert!(rpc.get_account_with_commitment(&buffer, rpc.commitment()).await.unwrap().value.is_none());
    drop(net);
}
