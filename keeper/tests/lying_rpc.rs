//! A lying RPC node against the real daemon: an HTTP proxy in front of the JSON-RPC localnet that
//! forwards everything but, on demand, serves an older answer for the shard account
//! (`getAccountInfo`, `getMultipleAccounts`) or swallows the keeper's transactions and reports
//! them confirmed. Alone or beside an honest endpoint, the keeper must fail closed: never serve
//! old values as committed, never acknowledge a `chain` write the chain does not hold, never
//! resubmit an old root.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::Json;
use ironroot_keeper::chain::Chain;
use ironroot_keeper::keys::ShardId;
use ironroot_keeper::shard::Durability;
use serde_json::{json, Value};
use solana_sdk::signature::Signer;

use crate::crash::{write_load, Daemon, LocalApp};

const APP_ID: [u8; 32] = [0x5c; 32];

#[derive(Default)]
struct Proxy {
    upstream: String,
    client: reqwest::Client,
    /// The shard accounts (base58) it lies about.
    watched: Vec<String>,
    /// Serve the remembered (older) shard accounts instead of the live ones.
    stale: AtomicBool,
    /// Set at the first `go_stale(true)`: from then on the remembered answers stay as they were.
    captured: AtomicBool,
    /// Swallow `sendTransaction` and report the signature confirmed.
    fake_confirmations: AtomicBool,
    /// The last honest answer (`result.value`) per watched account.
    remembered: Mutex<HashMap<String, Value>>,
    /// The commitment of every read of a watched account.
    commitments: Mutex<Vec<String>>,
    /// Transactions swallowed.
    swallowed: Mutex<Vec<String>>,
}

pub struct LyingRpc {
    pub url: String,
    state: Arc<Proxy>,
    task: tokio::task::JoinHandle<()>,
}

impl LyingRpc {
    pub async fn start(upstream: &str, watched: Vec<String>) -> LyingRpc {
        let state = Arc::new(Proxy { upstream: upstream.into(), watched, ..Proxy::default() });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = axum::Router::new().fallback(axum::routing::post(handle)).with_state(state.clone());
        let task = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        LyingRpc { url, state, task }
    }

    /// Serve the shard accounts as they were at the last read through the proxy before the first
    /// call (`true`), or the live ones (`false`).
    pub fn go_stale(&self, stale: bool) {
        if stale {
            self.state.captured.store(true, Ordering::SeqCst);
        }
        self.state.stale.store(stale, Ordering::SeqCst);
    }

    pub fn fake_confirmations(&self, fake: bool) {
        self.state.fake_confirmations.store(fake, Ordering::SeqCst);
    }

    pub fn commitments(&self) -> Vec<String> {
        self.state.commitments.lock().unwrap().clone()
    }

    pub fn swallowed(&self) -> usize {
        self.state.swallowed.lock().unwrap().len()
    }
}

impl Drop for LyingRpc {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn reply(id: &Value, result: Value) -> Json<Value> {
    Json(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

async fn handle(State(proxy): State<Arc<Proxy>>, Json(request): Json<Value>) -> Json<Value> {
    let id = request["id"].clone();
    let method = request["method"].as_str().unwrap_or_default().to_string();
    let params = request["params"].clone();
    let stale = proxy.stale.load(Ordering::SeqCst);
    if proxy.fake_confirmations.load(Ordering::SeqCst) {
        match method.as_str() {
            "sendTransaction" => {
                // The signature is the transaction's first: after the one-byte signature count.
                use base64::Engine;
                let tx = params[0].as_str().unwrap_or_default();
                let bytes = base64::engine::general_purpose::STANDARD.decode(tx).unwrap();
                let signature =
                    solana_sdk::signature::Signature::try_from(&bytes[1..65]).unwrap().to_string();
                proxy.swallowed.lock().unwrap().push(signature.clone());
                return reply(&id, json!(signature));
            }
            "getSignatureStatuses" => {
                let n = params[0].as_array().map(Vec::len).unwrap_or(1);
                let status = json!({"slot": 1000, "confirmations": null, "err": null,
                    "status": {"Ok": null}, "confirmationStatus": "finalized"});
                return reply(&id, json!({"context": {"slot": 1000}, "value": vec![status; n]}));
            }
            _ => {}
        }
    }
    let watched_one = (method == "getAccountInfo")
        .then(|| params[0].as_str().map(str::to_string))
        .flatten()
        .filter(|a| proxy.watched.contains(a));
    if let Some(address) = &watched_one {
        let commitment = params[1]["commitment"].as_str().unwrap_or("finalized").to_string();
        proxy.commitments.lock().unwrap().push(commitment);
        if stale {
            if let Some(old) = proxy.remembered.lock().unwrap().get(address) {
                return reply(&id, json!({"context": {"slot": 1000}, "value": old}));
            }
        }
    }
    let mut answer: Value =
        proxy.client.post(&proxy.upstream).json(&request).send().await.unwrap().json().await.unwrap();
    if let Some(address) = watched_one {
        if !proxy.captured.load(Ordering::SeqCst) {
            proxy.remembered.lock().unwrap().insert(address, answer["result"]["value"].clone());
        }
    }
    if method == "getMultipleAccounts" && stale {
        let addresses: Vec<String> = params[0]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect();
        let remembered = proxy.remembered.lock().unwrap();
        for (i, address) in addresses.iter().enumerate() {
            if let Some(old) = remembered.get(address) {
                answer["result"]["value"][i] = old.clone();
            }
        }
    }
    Json(answer)
}

async fn get(records: &str, key: &str) -> (u16, Value) {
    let res = reqwest::get(format!("{records}/{key}")).await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

async fn put(records: &str, key: &str, durability: Durability) -> (u16, Value) {
    let res = reqwest::Client::new()
        .put(format!("{records}/{key}?durability={durability}"))
        .body(format!("{key}-value"))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lying_rpc_alone_or_outvoted_makes_the_daemon_fail_closed() {
    let app = LocalApp::start(1).await;
    let shard_address =
        ironroot_sdk::pda::shard(&ironroot_sdk::pda::app(&app.payer.pubkey(), &APP_ID), 0).to_string();
    let proxy = LyingRpc::start(&app.rpc_url, vec![shard_address]).await;
    let through_proxy = app.config(&proxy.url, "");
    let no_stop = || Arc::new(AtomicBool::new(false));

    // Honest phase, through the proxy: start-up reads the shard at `finalized`.
    let mut daemon = Daemon::spawn(&through_proxy, None);
    daemon.serving().await;
    assert!(proxy.commitments().first().is_some_and(|c| c == "finalized"), "{:?}", proxy.commitments());
    let old = write_load(&through_proxy.records(), "old", 4, 10, no_stop()).await;
    daemon.commit().await;
    // Everything else (status, confirmations) reads at the acknowledging commitment.
    daemon.status().await;
    assert!(proxy.commitments().iter().any(|c| c == "confirmed"), "{:?}", proxy.commitments());
    daemon.stop();
    // What the proxy will later serve: the shard as it is now.
    let stale_view = app.onchain(0).await;
    let via_proxy = ironroot_keeper::chain::RpcChain::new(
        proxy.url.clone(),
        app.payer.insecure_clone(),
        app.payer.pubkey(),
    );
    assert_eq!(via_proxy.shard(&APP_ID, ShardId(0)).await.unwrap().unwrap(), stale_view);
    let old_store: Vec<_> =
        app.stores().into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect();

    // The chain moves on (straight to the localnet); then the proxy freezes the old view.
    let direct = app.config(&app.rpc_url, "");
    let mut daemon = Daemon::spawn(&direct, None);
    daemon.serving().await;
    let new = write_load(&direct.records(), "new", 4, 10, no_stop()).await;
    daemon.commit().await;
    daemon.stop();
    let current = app.onchain(0).await;
    assert!(current.seq > stale_view.seq);
    proxy.go_stale(true);
    assert_eq!(via_proxy.shard(&APP_ID, ShardId(0)).await.unwrap().unwrap(), stale_view);

    // 1. The lying endpoint alone, current store: its seq is older than the one sealed in the
    //    store, so after waiting for finality the shard fails closed; nothing is served or sent.
    let mut daemon = Daemon::spawn(&through_proxy, None);
    assert_eq!(daemon.up().await.unwrap(), 503);
    let status = daemon.status().await;
    let reason = status.shards[0].failed_closed.clone().expect("the shard must fail closed");
    assert!(reason.contains("never confirmed"), "{reason}");
    for key in [&new[0].key, &old[0].key] {
        let (code, body) = get(&through_proxy.records(), key).await;
        assert_eq!((code, body["error"]["code"].as_str()), (503, Some("FAILED_CLOSED")), "{body}");
    }
    let (code, _) = put(&through_proxy.records(), "refused", Durability::Local).await;
    assert_eq!(code, 503);
    daemon.stop();
    assert_eq!(app.onchain(0).await, current, "the chain moved");

    // 1b. A finalized view that lags (here: the proxy catches up after a while) is waited for
    //     within `startup_finality_wait_ms`, then the shard serves.
    let patient = app.config(&proxy.url, "startup_finality_wait_ms = 20000");
    let reads_before = proxy.commitments().len();
    let mut daemon = Daemon::spawn(&patient, None);
    let mut waited = false;
    for _ in 0..400 {
        // The pre-check and the first view read stale; a third read means it is waiting.
        if proxy.commitments().len() >= reads_before + 3 {
            waited = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(waited, "start-up did not wait for the finalized view:\n{}", daemon.log());
    proxy.go_stale(false);
    daemon.serving().await;
    let status = daemon.status().await;
    assert_eq!(status.shards[0].local_seq, Some(current.seq), "{:?}", status.shards[0]);
    daemon.stop();
    proxy.go_stale(true);

    // 2. The operator also restores the old store, whose sealed seq matches the lie. With the
    //    lying and an honest endpoint the view has no quorum: the daemon refuses to start, the
    //    old values are never served, the store is not touched and nothing is sent.
    for (path, bytes) in &old_store {
        std::fs::write(path, bytes).unwrap();
    }
    let quorum = app.config(&proxy.url, &format!("rpc_urls = [\"{}\"]", app.rpc_url));
    let mut daemon = Daemon::spawn(&quorum, None);
    let exit = daemon.up().await.expect_err("the daemon must not serve without a quorum");
    assert!(!exit.success());
    assert!(daemon.log().contains("disagree"), "{}", daemon.log());
    for (path, bytes) in &old_store {
        assert!(std::fs::read(path).unwrap() == *bytes, "the store was changed");
    }
    assert_eq!(app.onchain(0).await, current, "the chain moved");

    // 3. The endpoint turns honest for reads but swallows transactions and reports them
    //    confirmed: the quorum never sees the update, so no `chain` write is acknowledged.
    proxy.go_stale(false);
    let quorum =
        app.config(&proxy.url, &format!("rpc_urls = [\"{}\"]\nmax_unanchored_age_ms = 4000", app.rpc_url));
    let mut daemon = Daemon::spawn(&quorum, None);
    daemon.serving().await;
    // The restored old store was behind: rebuilt from the chain, so every anchored write is back.
    for a in old.iter().chain(&new) {
        let (code, _) = get(&quorum.records(), &a.key).await;
        assert_eq!(code, 200, "{} lost", a.key);
    }
    proxy.fake_confirmations(true);
    let (code, body) = put(&quorum.records(), "never-anchored", Durability::Chain).await;
    assert_eq!((code, body["error"]["code"].as_str()), (503, Some("ANCHOR_LAGGING")), "{body}");
    assert!(proxy.swallowed() > 0, "the keeper never sent its update");
    assert_eq!(app.onchain(0).await, current, "the chain moved");
    // Once the endpoint forwards again the batcher's retry lands, the quorum sees it, the window
    // empties, and writes are acknowledged again.
    proxy.fake_confirmations(false);
    let mut anchored = false;
    for _ in 0..200 {
        if daemon.status().await.shards[0].unanchored_writes == Some(0) {
            anchored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(anchored, "the update was never anchored:\n{}", daemon.log());
    assert!(app.onchain(0).await.seq > current.seq);
    let (code, body) = put(&quorum.records(), "anchored", Durability::Chain).await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = get(&quorum.records(), "never-anchored").await;
    assert_eq!(code, 200, "{body}");
    daemon.stop();

    // 4. With `ack_commitment = "finalized"` a `chain` write is acknowledged only once the update
    //    that anchors it is finalized: the finalized slot has reached that update's slot.
    let finalized = app.config(&app.rpc_url, "ack_commitment = \"finalized\"");
    let mut daemon = Daemon::spawn(&finalized, None);
    daemon.serving().await;
    let (code, body) = put(&finalized.records(), "final", Durability::Chain).await;
    assert_eq!(code, 200, "{body}");
    let anchored = app.onchain(0).await;
    assert_eq!(body["anchored_seq"].as_u64(), Some(anchored.seq), "{body}");
    let rpc = solana_rpc_client::nonblocking::rpc_client::RpcClient::new(app.rpc_url.clone());
    let finalized_slot = rpc
        .get_slot_with_commitment(solana_sdk::commitment_config::CommitmentConfig::finalized())
        .await
        .unwrap();
    assert!(
        finalized_slot >= anchored.updated_slot,
        "acknowledged at slot {finalized_slot} < {}",
        anchored.updated_slot
    );
    daemon.stop();
    app.net.stop().unwrap();
}
