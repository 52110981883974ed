//! The HTTP API against a running daemon (real HTTP on loopback; the real programs in an
//! in-process bank): every success shape and error case, admin auth, health/status/metrics/OpenAPI,
//! and a bounded load test.
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use ironroot_devkit::{Harness, HarnessOptions};
use ironroot_keeper::api::{
    self, ApiMetrics, ApiState, BatchReadResponse, BatchWriteResponse, ListResponse, ProofResponse,
    RecordResponse, StatusResponse, WriteResponse,
};
use ironroot_keeper::app::{AppKeeper, AppServices, AppSettings};
use ironroot_keeper::blobs::LocalBlobStore;
use ironroot_keeper::chain::Chain;
use ironroot_keeper::keys::{AppId, ShardId};
use ironroot_keeper::tree::{public_key_hash, verify_record_proof, RecordProof, TreeKeyMode};
use ironroot_keeper::verify::{verify_against_chain, verify_against_chain_in, RecordState, VerifyError};
use serde_json::{json, Value};

const APP_ID: [u8; 32] = [0x51; 32];
const TOKEN: &str = "test-admin-token";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

struct Daemon {
    url: String,
    base: String,
    keeper: Arc<AppKeeper>,
    chain: Arc<dyn Chain>,
    blobs: Arc<LocalBlobStore>,
    dev: Harness,
    client: reqwest::Client,
    _server: tokio::task::JoinHandle<()>,
}

async fn daemon(shards: u16, max_body_bytes: usize) -> Daemon {
    daemon_with(shards, max_body_bytes, None, TreeKeyMode::Keyed).await
}

async fn daemon_with(
    shards: u16,
    max_body_bytes: usize,
    api_token: Option<&str>,
    tree_key_mode: TreeKeyMode,
) -> Daemon {
    let dev = Harness::start(HarnessOptions::new(APP_ID, shards)).await.unwrap();
    let chain: Arc<dyn Chain> = Arc::new(dev.chain.clone());
    let blobs = Arc::new(LocalBlobStore::open(dev.data_dir().join("blobs")).unwrap());
    let settings = AppSettings {
        commit_every_writes: u64::MAX,
        commit_interval: Duration::from_secs(3600),
        max_group: 1024,
        // Tests commit on demand: the rollback window must not close on a slow run.
        max_unanchored_age: Duration::from_secs(3600),
        tree_key_mode,
        ..AppSettings::default()
    };
    let services = AppServices {
        blobs: blobs.clone(),
        keys: dev.key_source(),
        chain: chain.clone(),
        signer: dev.signer.clone(),
    };
    let keeper = AppKeeper::open(AppId(APP_ID), None, dev.data_dir(), settings, services).await.unwrap();
    let state = ApiState {
        keeper: keeper.clone(),
        admin_token: Some(Arc::new(TOKEN.into())),
        api_token: api_token.map(|t| Arc::new(t.to_string())),
        metrics: Arc::new(ApiMetrics::default()),
        max_body_bytes,
        provider: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, api::router(state)).await.unwrap();
    });
    let base = format!("{url}/v1/apps/{}", AppId(APP_ID));
    Daemon { url, base, keeper, chain, blobs, dev, client: reqwest::Client::new(), _server: server }
}

/// Status and JSON body of a response.
async fn json_of(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    (status, res.json().await.expect("every response is JSON"))
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error body: {body}"))
}

#[tokio::test]
async fn records_round_trip_with_proofs_batches_and_listing() {
    let d = daemon(2, 1 << 20).await;
    let res = d.client.put(format!("{}/records/alice", d.base)).body("hello").send().await.unwrap();
    let (code, body) = json_of(res).await;
    assert_eq!(code, 200, "{body}");
    let written: WriteResponse = serde_json::from_value(body).unwrap();
    assert_eq!((written.key.as_str(), written.version), ("alice", 1));

    let record: RecordResponse =
        d.client.get(format!("{}/records/alice", d.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(B64.decode(&record.value).unwrap(), b"hello");
    assert!(!record.committed);

    // Commit, then the proof verifies against the shard root read from the chain itself.
    let res = d.client.post(format!("{}/v1/admin/commit", d.url)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let proof: ProofResponse =
        d.client.get(format!("{}/records/alice/proof", d.base)).send().await.unwrap().json().await.unwrap();
    let onchain = d.chain.shard(&APP_ID, proof.shard).await.unwrap().unwrap();
    assert!(proof.committed);
    assert_eq!(proof.root, hex::encode(onchain.root));
    let decoded: RecordProof = borsh::from_slice(&hex::decode(&proof.proof).unwrap()).unwrap();
    let leaf = proof.leaf.as_ref().unwrap().to_leaf().unwrap();
    let position = |p: &ProofResponse| jmt::KeyHash(hex::decode(&p.key_hash).unwrap().try_into().unwrap());
    assert!(verify_record_proof(&onchain.root, position(&proof), Some(&leaf), &decoded));
    let mallory = d.keeper.shard_for(b"mallory").await.unwrap().key_hash(b"mallory");
    assert!(!verify_record_proof(&onchain.root, jmt::KeyHash(mallory), Some(&leaf), &decoded));
    // A key never written gets a non-inclusion proof.
    let absent: ProofResponse =
        d.client.get(format!("{}/records/nobody/proof", d.base)).send().await.unwrap().json().await.unwrap();
    assert!(absent.leaf.is_none());
    let decoded: RecordProof = borsh::from_slice(&hex::decode(&absent.proof).unwrap()).unwrap();
    assert!(verify_record_proof(
        &hex::decode(&absent.root).unwrap().try_into().unwrap(),
        position(&absent),
        None,
        &decoded
    ));

    // Batch write (puts and a delete) and batch read.
    let writes: Vec<Value> =
        (0..20).map(|i| json!({"key": format!("k{i:02}"), "value": B64.encode(format!("v{i}"))})).collect();
    let res = d
        .client
        .post(format!("{}/batch/write", d.base))
        .json(&json!({"writes": writes}))
        .send()
        .await
        .unwrap();
    let batch: BatchWriteResponse = res.json().await.unwrap();
    assert_eq!(batch.results.len(), 20);
    let res = d
        .client
        .post(format!("{}/batch/write", d.base))
        .json(&json!({"writes": [{"key": "k03", "delete": true}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let read: BatchReadResponse = d
        .client
        .post(format!("{}/batch/read", d.base))
        .json(&json!({"keys": ["k01", "k03", "zzz"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(B64.decode(&read.records[0].as_ref().unwrap().value).unwrap(), b"v1");
    assert!(read.records[1].is_none() && read.records[2].is_none());

    // Listing pages through both shards in key order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{}/records?limit=7", d.base);
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: ListResponse = d.client.get(url).send().await.unwrap().json().await.unwrap();
        seen.extend(page.keys);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let mut expected: Vec<String> = (0..20).filter(|i| *i != 3).map(|i| format!("k{i:02}")).collect();
    expected.insert(0, "alice".into());
    expected.sort();
    assert_eq!(seen, expected);

    let res = d.client.delete(format!("{}/records/alice", d.base)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let (code, body) = json_of(d.client.get(format!("{}/records/alice", d.base)).send().await.unwrap()).await;
    assert_eq!((code, error_code(&body)), (404, "NOT_FOUND"));
}

#[tokio::test]
async fn every_error_has_its_status_and_code() {
    let d = daemon(1, 64 * 1024).await;
    let put = |path: String, body: Vec<u8>| d.client.put(path).body(body).send();

    let (code, body) = json_of(put(format!("{}/records/a", d.base), b"1".to_vec()).await.unwrap()).await;
    assert_eq!(code, 200);
    let root = body["root"].as_str().unwrap().to_string();
    // Optimistic concurrency.
    let (code, body) =
        json_of(put(format!("{}/records/a?expected_root={root}", d.base), b"2".to_vec()).await.unwrap())
            .await;
    assert_eq!(code, 200, "{body}");
    let (code, body) =
        json_of(put(format!("{}/records/a?expected_root={root}", d.base), b"3".to_vec()).await.unwrap())
            .await;
    assert_eq!((code, error_code(&body)), (409, "ROOT_CHANGED"));
    // Durability per request, stated in the receipt.
    let (code, body) = json_of(put(format!("{}/records/a", d.base), b"l".to_vec()).await.unwrap()).await;
    assert_eq!(
        (code, body["durability"].as_str(), body["anchored_seq"].is_null()),
        (200, Some("local"), true)
    );
    let (code, body) =
        json_of(put(format!("{}/records/a?durability=chain", d.base), b"c".to_vec()).await.unwrap()).await;
    assert_eq!((code, body["durability"].as_str()), (200, Some("chain")), "{body}");
    assert!(body["anchored_seq"].as_u64().is_some_and(|s| s >= 1), "{body}");
    let (code, body) = json_of(d.client.get(format!("{}/records/a", d.base)).send().await.unwrap()).await;
    assert_eq!((code, body["committed"].as_bool()), (200, Some(true)), "{body}");
    let (code, body) =
        json_of(put(format!("{}/records/a?durability=maybe", d.base), b"x".to_vec()).await.unwrap()).await;
    assert_eq!((code, error_code(&body)), (400, "VALIDATION"));
    assert_eq!(body["error"]["details"][0]["field"], "durability");
    // Batches are bounded.
    let keys: Vec<String> = (0..1025).map(|i| format!("k{i}")).collect();
    let (code, body) = json_of(
        d.client.post(format!("{}/batch/read", d.base)).json(&json!({"keys": keys})).send().await.unwrap(),
    )
    .await;
    assert_eq!(
        (code, error_code(&body), body["error"]["details"][0]["field"].as_str()),
        (400, "VALIDATION", Some("keys"))
    );
    // Validation: a structured list of what is wrong.
    let (code, body) =
        json_of(put(format!("{}/records/a?expected_root=nothex", d.base), b"3".to_vec()).await.unwrap())
            .await;
    assert_eq!((code, error_code(&body)), (400, "VALIDATION"));
    assert_eq!(body["error"]["details"][0]["field"], "expected_root");
    let bad_batch =
        json!({"writes": [{"key": "", "value": "!!"}, {"key": "b"}, {"key": "c", "value": "eA=="}]});
    let (code, body) =
        json_of(d.client.post(format!("{}/batch/write", d.base)).json(&bad_batch).send().await.unwrap())
            .await;
    assert_eq!((code, error_code(&body)), (400, "VALIDATION"));
    let fields: Vec<&str> =
        body["error"]["details"].as_array().unwrap().iter().map(|p| p["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["writes[0].key", "writes[0].value", "writes[1]"]);
    let (code, body) = json_of(
        d.client
            .post(format!("{}/batch/write", d.base))
            .body("{not json")
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((code, error_code(&body)), (400, "VALIDATION"));
    let (code, body) =
        json_of(d.client.get(format!("{}/records?limit=0", d.base)).send().await.unwrap()).await;
    assert_eq!((code, error_code(&body)), (400, "VALIDATION"));
    // Unknown app, unknown key, unknown route.
    let (code, body) = json_of(
        d.client.get(format!("{}/v1/apps/{}/records/a", d.url, "00".repeat(32))).send().await.unwrap(),
    )
    .await;
    assert_eq!((code, error_code(&body)), (404, "UNKNOWN_APP"));
    // The app's own id only as the 64 hex digits it is served under.
    let (apps, app) = d.base.rsplit_once('/').unwrap();
    let last_digit_changed = format!("{}{}", &app[..63], if app.ends_with('0') { '1' } else { '0' });
    for other in [app[..62].to_string(), format!("{app}00"), last_digit_changed, "zz".repeat(32)] {
        let (code, body) =
            json_of(d.client.get(format!("{apps}/{other}/records/a")).send().await.unwrap()).await;
        assert_eq!((code, error_code(&body)), (404, "UNKNOWN_APP"), "app {other}");
    }
    let (code, body) = json_of(d.client.get(format!("{}/records/nope", d.base)).send().await.unwrap()).await;
    assert_eq!((code, error_code(&body)), (404, "NOT_FOUND"));
    let (code, body) =
        json_of(d.client.delete(format!("{}/records/nope", d.base)).send().await.unwrap()).await;
    assert_eq!((code, error_code(&body)), (404, "NOT_FOUND"));
    let (code, body) = json_of(d.client.get(format!("{}/v2/whatever", d.url)).send().await.unwrap()).await;
    assert_eq!((code, error_code(&body)), (404, "NOT_FOUND"));
    // Too large a body.
    let (code, body) =
        json_of(put(format!("{}/records/big", d.base), vec![7u8; 65 * 1024]).await.unwrap()).await;
    assert_eq!((code, error_code(&body)), (413, "PAYLOAD_TOO_LARGE"));
    // Admin: no token, wrong token.
    let (code, body) =
        json_of(d.client.post(format!("{}/v1/admin/commit", d.url)).send().await.unwrap()).await;
    assert_eq!((code, error_code(&body)), (401, "UNAUTHORIZED"));
    let (code, body) = json_of(
        d.client.post(format!("{}/v1/admin/commit", d.url)).bearer_auth("guess").send().await.unwrap(),
    )
    .await;
    assert_eq!((code, error_code(&body)), (401, "UNAUTHORIZED"));
    // A tampered blob is an integrity error, not data. A new version first: the read cache
    // answers reads of a leaf it opened before (the GET above) from memory, without the blob;
    // the leaf comes from the proof route, which caches nothing.
    let (code, _) = json_of(put(format!("{}/records/a", d.base), b"t".to_vec()).await.unwrap()).await;
    assert_eq!(code, 200);
    let proof: ProofResponse =
        d.client.get(format!("{}/records/a/proof", d.base)).send().await.unwrap().json().await.unwrap();
    let cid: cid::Cid = proof.leaf.unwrap().cid.parse().unwrap();
    let at = d.blobs.block_location(&cid).unwrap().unwrap();
    let segment = std::fs::OpenOptions::new().read(true).write(true).open(&at.path).unwrap();
    let mut byte = [0u8];
    std::os::unix::fs::FileExt::read_exact_at(&segment, &mut byte, at.offset + 120).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&segment, &[byte[0] ^ 1], at.offset + 120).unwrap();
    let (code, body) = json_of(d.client.get(format!("{}/records/a", d.base)).send().await.unwrap()).await;
    assert_eq!((code, error_code(&body)), (502, "INTEGRITY"));
    d.blobs.remove_blocks(vec![cid]).await.unwrap();
    let (code, body) = json_of(d.client.get(format!("{}/records/a", d.base)).send().await.unwrap()).await;
    assert_eq!((code, error_code(&body)), (502, "BLOB_MISSING"));
}

#[tokio::test]
async fn failed_closed_shard_answers_503_and_admin_rebuild_reports_it() {
    let d = daemon(1, 1 << 20).await;
    for i in 0..5 {
        d.client.put(format!("{}/records/k{i}", d.base)).body("v").send().await.unwrap();
    }
    let res = d.client.post(format!("{}/v1/admin/commit", d.url)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // Lose the store and withhold the manifest: the shard cannot be rebuilt and must not serve.
    let onchain = d.chain.shard(&APP_ID, ShardId(0)).await.unwrap().unwrap();
    d.keeper.shutdown().await;
    std::fs::remove_file(d.dev.data_dir().join(AppId(APP_ID).to_string()).join("shard-0.redb")).unwrap();
    d.blobs.remove_blocks(vec![cid::Cid::try_from(onchain.manifest_cid.as_slice()).unwrap()]).await.unwrap();
    let res = d.client.post(format!("{}/v1/admin/rebuild", d.url)).bearer_auth(TOKEN).send().await.unwrap();
    let (code, body) = json_of(res).await;
    assert_eq!(code, 200, "{body}");
    assert!(body["shards"][0]["failed_closed"].as_str().unwrap().contains("on-chain seq 1"), "{body}");
    let (code, body) = json_of(d.client.get(format!("{}/records/k1", d.base)).send().await.unwrap()).await;
    assert_eq!((code, error_code(&body)), (503, "FAILED_CLOSED"));
    assert!(body["error"]["message"].as_str().unwrap().contains("refusing to serve shard 0"));
    let (code, body) = json_of(d.client.get(format!("{}/health", d.url)).send().await.unwrap()).await;
    assert_eq!((code, body["shards_failed_closed"].as_u64()), (503, Some(1)));
}

#[tokio::test]
async fn health_status_metrics_openapi_and_admin_operations() {
    let d = daemon(2, 1 << 20).await;
    let (code, body) = json_of(d.client.get(format!("{}/health", d.url)).send().await.unwrap()).await;
    assert_eq!(code, 200);
    assert_eq!(
        (body["ipfs_reachable"].as_bool(), body["chain_reachable"].as_bool()),
        (Some(true), Some(true))
    );
    for i in 0..10 {
        d.client.put(format!("{}/records/k{i}", d.base)).body(vec![1u8; 100]).send().await.unwrap();
    }
    let res = d.client.post(format!("{}/v1/admin/rotate", d.url)).bearer_auth(TOKEN).send().await.unwrap();
    let (code, body) = json_of(res).await;
    assert_eq!((code, body["rewrapped"].as_u64()), (200, Some(10)), "{body}");
    let res = d.client.post(format!("{}/v1/admin/commit", d.url)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let status: StatusResponse =
        d.client.get(format!("{}/v1/status", d.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(status.shards.len(), 2);
    for s in &status.shards {
        assert!(s.serving);
        assert_eq!(s.local_root, s.onchain_root, "committed: local and on-chain roots agree");
        assert_eq!(
            (s.local_seq, s.onchain_seq, s.key_epoch, s.pending_writes),
            (Some(1), Some(1), Some(1), Some(0))
        );
    }
    assert_eq!(status.shards.iter().map(|s| s.records.unwrap()).sum::<u64>(), 10);
    let metrics = d.client.get(format!("{}/metrics", d.url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("ironroot_writes_total 10"), "{metrics}");
    assert!(metrics.contains("ironroot_written_bytes_total 1000"));
    assert!(metrics.contains("ironroot_chain_commits_total{shard=\"0\"} 1"));
    assert!(metrics.contains("ironroot_queued_bytes{shard=\"0\"} 0"), "{metrics}");
    // The writer's stage times and the prune backlog, per shard.
    let value_of = |line_start: &str| -> u64 {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(line_start))
            .unwrap_or_else(|| panic!("{line_start}: {metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(value_of("ironroot_write_stage_microseconds_total{shard=\"0\",stage=\"tree_commit\"}") > 0);
    assert!(value_of("ironroot_write_stage_microseconds_total{shard=\"0\",stage=\"blobs\"}") > 0);
    // Local blobs: the first group commit after the start syncs the store, the log covers the rest.
    let durable = value_of("ironroot_durable_group_commits_total{shard=\"0\"}");
    assert!(durable >= 1 && durable <= value_of("ironroot_group_commits_total{shard=\"0\"}"), "{metrics}");
    // Each shard's first manifest is a checkpoint of its records.
    for shard in 0..2 {
        assert_eq!(value_of(&format!("ironroot_manifest_checkpoints_total{{shard=\"{shard}\"}}")), 1);
    }
    let entries: u64 =
        (0..2).map(|shard| value_of(&format!("ironroot_manifest_entries_total{{shard=\"{shard}\"}}"))).sum();
    assert_eq!(entries, 10, "{metrics}");
    // The commit pruned what the rewrites left stale: nothing waits for a sweep.
    assert_eq!(value_of("ironroot_prune_backlog_nodes{shard=\"0\"}"), 0);
    assert_eq!(value_of("ironroot_prune_backlog_values{shard=\"1\"}"), 0);
    let spec: Value =
        d.client.get(format!("{}/openapi.json", d.url)).send().await.unwrap().json().await.unwrap();
    assert!(spec["paths"]["/v1/apps/{app}/records/{key}"]["put"].is_object());
    assert!(spec["components"]["schemas"]["ErrorResponse"].is_object());
    // Every route the router serves is in the spec (they come from one declaration).
    for (path, method) in [
        ("/v1/apps/{app}/records/{key}", "get"),
        ("/v1/apps/{app}/records/{key}", "delete"),
        ("/v1/apps/{app}/records/{key}/proof", "get"),
        ("/v1/apps/{app}/records", "get"),
        ("/v1/apps/{app}/batch/write", "post"),
        ("/v1/apps/{app}/batch/read", "post"),
        ("/health", "get"),
        ("/v1/status", "get"),
        ("/metrics", "get"),
        ("/v1/admin/commit", "post"),
        ("/v1/admin/rotate", "post"),
        ("/v1/admin/rebuild", "post"),
        ("/v1/admin/export", "get"),
    ] {
        assert!(spec["paths"][path][method].is_object(), "{method} {path} is missing from the spec");
    }
    assert_eq!(spec, serde_json::to_value(ironroot_keeper::api::openapi()).unwrap());
    // Export over the admin API restores into a fresh keeper directory, checked against the chain.
    let res = d.client.get(format!("{}/v1/admin/export", d.url)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let backup = res.bytes().await.unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let restored = ironroot_keeper::backup::import(
        AppId(APP_ID),
        TreeKeyMode::Keyed,
        backup.as_ref(),
        d.blobs.as_ref(),
        d.dev.keys.as_ref(),
        d.chain.as_ref(),
        |id| elsewhere.path().join(format!("shard-{id}.redb")),
    )
    .await
    .unwrap();
    assert_eq!(restored.len(), 2);
    for s in &restored {
        assert_eq!(
            hex::encode(s.root),
            d.chain
                .shard(&APP_ID, s.shard)
                .await
                .unwrap()
                .unwrap()
                .root
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
    }
    // A tampered backup is refused.
    let mut bad = backup.to_vec();
    let last = bad.len() - 20;
    bad[last] ^= 1;
    let refused = ironroot_keeper::backup::import(
        AppId(APP_ID),
        TreeKeyMode::Keyed,
        bad.as_slice(),
        d.blobs.as_ref(),
        d.dev.keys.as_ref(),
        d.chain.as_ref(),
        |id| elsewhere.path().join(format!("other-{id}.redb")),
    )
    .await;
    assert!(refused.is_err());
    let ui = d.client.get(format!("{}/swagger-ui/", d.url)).send().await.unwrap();
    assert_eq!(ui.status(), 200);
    assert!(ui.text().await.unwrap().contains("swagger"));
}

fn load_requests() -> usize {
    std::env::var("IRONROOT_LOAD_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(50_000)
}

/// 50k requests (writes, then reads of everything acknowledged) over 32 connections on loopback;
/// nothing acknowledged may be lost; throughput and p99 go to a results file.
#[tokio::test]
async fn load_test_loses_nothing_acknowledged() {
    let d = daemon(4, 1 << 20).await;
    let total = load_requests();
    let writes = total / 2;
    let connections = 32;
    let client = reqwest::Client::builder().pool_max_idle_per_host(connections).build().unwrap();
    let run = |phase: &'static str, n: usize| {
        let client = client.clone();
        let base = d.base.clone();
        async move {
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let started = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..connections {
                let (client, base, next) = (client.clone(), base.clone(), next.clone());
                tasks.spawn(async move {
                    let mut latencies = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= n {
                            return latencies;
                        }
                        let t = Instant::now();
                        let res = if phase == "write" {
                            client
                                .put(format!("{base}/records/load-{i}"))
                                .body(format!("value-{i}"))
                                .send()
                                .await
                        } else {
                            client.get(format!("{base}/records/load-{i}")).send().await
                        }
                        .unwrap();
                        assert_eq!(res.status(), 200, "{phase} load-{i}");
                        if phase == "read" {
                            let r: RecordResponse = res.json().await.unwrap();
                            assert_eq!(
                                B64.decode(&r.value).unwrap(),
                                format!("value-{i}").into_bytes(),
                                "load-{i} lost or changed"
                            );
                        }
                        latencies.push(t.elapsed());
                    }
                });
            }
            let mut latencies: Vec<Duration> = Vec::new();
            while let Some(l) = tasks.join_next().await {
                latencies.extend(l.unwrap());
            }
            latencies.sort();
            let elapsed = started.elapsed();
            (
                n as f64 / elapsed.as_secs_f64(),
                latencies[latencies.len() / 2],
                latencies[latencies.len() * 99 / 100],
            )
        }
    };
    let (w_rate, w_p50, w_p99) = run("write", writes).await;
    let res = d.client.post(format!("{}/v1/admin/commit", d.url)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let (r_rate, r_p50, r_p99) = run("read", writes).await;
    let report = format!(
        "load test: {total} requests, {connections} connections, 4 shards, local blobs (debug build)\n\
         writes: {writes} at {w_rate:.0}/s, p50 {:.1} ms, p99 {:.1} ms\n\
         reads:  {writes} at {r_rate:.0}/s, p50 {:.1} ms, p99 {:.1} ms\n\
         acknowledged writes lost: 0\n",
        w_p50.as_secs_f64() * 1e3,
        w_p99.as_secs_f64() * 1e3,
        r_p50.as_secs_f64() * 1e3,
        r_p99.as_secs_f64() * 1e3,
    );
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ironroot-load-test.txt");
    std::fs::write(&out, &report).unwrap();
    println!("{report}written to {}", out.display());
}

/// With `api_token` the data API wants that bearer token: none, a wrong one, or the admin token
/// get 401 `UNAUTHORIZED` and change nothing; the data token opens no admin route; health and
/// status stay open.
#[tokio::test]
async fn the_data_api_token_is_required_and_separate_from_the_admin_token() {
    const DATA: &str = "data-api-token-1";
    let d = daemon_with(1, 1 << 20, Some(DATA), TreeKeyMode::Keyed).await;
    let rec = |key: &str| format!("{}/records/{key}", d.base);
    let attempts: [(&str, Option<&str>); 4] = [
        ("none", None),
        ("wrong", Some("data-api-token-2")),
        ("short", Some("data")),
        ("admin", Some(TOKEN)),
    ];
    for (what, token) in attempts {
        let with = |r: reqwest::RequestBuilder| match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        };
        let requests = [
            with(d.client.put(rec("alice")).body("v")),
            with(d.client.get(rec("alice"))),
            with(d.client.delete(rec("alice"))),
            with(d.client.get(format!("{}/proof", rec("alice")))),
            with(d.client.get(format!("{}/records", d.base))),
            with(
                d.client
                    .post(format!("{}/batch/write", d.base))
                    .json(&json!({"writes": [{"key": "b", "value": "dg=="}]})),
            ),
            with(d.client.post(format!("{}/batch/read", d.base)).json(&json!({"keys": ["b"]}))),
        ];
        for request in requests {
            let (code, body) = json_of(request.send().await.unwrap()).await;
            assert_eq!((code, error_code(&body)), (401, "UNAUTHORIZED"), "{what}: {body}");
        }
    }
    let status = d.keeper.shard(ShardId(0)).await.unwrap().status().unwrap();
    assert_eq!(status.tree_version, 0, "nothing was written");
    // The data token works for data...
    let res = d.client.put(rec("alice")).bearer_auth(DATA).body("v").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = d.client.get(rec("alice")).bearer_auth(DATA).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // ...and not for admin, which keeps its own token.
    let (code, body) =
        json_of(d.client.post(format!("{}/v1/admin/commit", d.url)).bearer_auth(DATA).send().await.unwrap())
            .await;
    assert_eq!((code, error_code(&body)), (401, "UNAUTHORIZED"));
    let res = d.client.post(format!("{}/v1/admin/commit", d.url)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 200);
    for open in ["/health", "/v1/status"] {
        assert_eq!(d.client.get(format!("{}{open}", d.url)).send().await.unwrap().status(), 200, "{open}");
    }
}

/// Keyed mode: the proof names a keyed position (not SHA-256 of the key) and verifies against the
/// chain there; the verifier says it could not derive the position itself, and a client that
/// expects a public app refuses it. Public mode: the position is SHA-256 of the key and a
/// non-inclusion proof shows the key was never written; a proof moved to another key's position
/// is refused.
#[tokio::test]
async fn proofs_verify_against_the_chain_in_both_tree_key_modes() {
    for mode in [TreeKeyMode::Keyed, TreeKeyMode::Public] {
        let d = daemon_with(1, 1 << 20, None, mode).await;
        for key in ["alice", "bob", "carol"] {
            let res = d.client.put(format!("{}/records/{key}", d.base)).body(key).send().await.unwrap();
            assert_eq!(res.status(), 200);
        }
        let res =
            d.client.post(format!("{}/v1/admin/commit", d.url)).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let proof_of = |key: &str| {
            let url = format!("{}/records/{key}/proof", d.base);
            let client = d.client.clone();
            async move { client.get(url).send().await.unwrap().json::<ProofResponse>().await.unwrap() }
        };
        let onchain = d.chain.shard(&APP_ID, ShardId(0)).await.unwrap().unwrap();
        let alice = proof_of("alice").await;
        assert_eq!(alice.tree_key_mode, mode);
        assert_eq!(alice.key_hash == hex::encode(public_key_hash(b"alice").0), mode == TreeKeyMode::Public);
        let verified = verify_against_chain_in(mode, b"alice", &alice, &onchain).unwrap();
        assert_eq!(verified.state, RecordState::Exists { version: 1 });
        assert!(verified.on_chain);
        assert_eq!(verified.key_position_checked, mode == TreeKeyMode::Public);
        let other = match mode {
            TreeKeyMode::Keyed => TreeKeyMode::Public,
            TreeKeyMode::Public => TreeKeyMode::Keyed,
        };
        assert!(matches!(
            verify_against_chain_in(other, b"alice", &alice, &onchain),
            Err(VerifyError::WrongMode { .. })
        ));
        // A proof whose position is moved (bob's proof offered for alice, or its position
        // swapped) does not verify.
        let bob = proof_of("bob").await;
        let moved = ProofResponse { key_hash: bob.key_hash.clone(), ..proof_of("alice").await };
        assert!(verify_against_chain(b"alice", &moved, &onchain).is_err());
        match mode {
            TreeKeyMode::Public => assert!(matches!(
                verify_against_chain(
                    b"alice",
                    &ProofResponse { key: "alice".into(), ..proof_of("bob").await },
                    &onchain
                ),
                Err(VerifyError::WrongPosition { .. })
            )),
            // Keyed: the verifier cannot tell which key a position belongs to.
            TreeKeyMode::Keyed => {
                assert!(!verify_against_chain(b"alice", &bob, &onchain).unwrap().key_position_checked)
            }
        }
        let absent = proof_of("dave").await;
        assert!(absent.leaf.is_none());
        let verified = verify_against_chain_in(mode, b"dave", &absent, &onchain).unwrap();
        assert_eq!(verified.state, RecordState::NeverWritten);
        assert_eq!(verified.key_position_checked, mode == TreeKeyMode::Public);
        // An inclusion proof offered as dave's absence fails.
        let forged = ProofResponse { leaf: None, ..proof_of("alice").await };
        assert!(verify_against_chain_in(mode, b"alice", &forged, &onchain).is_err());
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

/// The operator reads everything outside the TEE: the shard stores, the blob store (records and
/// the manifests every commit publishes, checkpoint and delta) and an admin export. No record key
/// is there in clear, and in keyed mode no SHA-256 of one either; listing and export still work.
#[tokio::test]
async fn no_record_key_leaves_the_keeper_in_clear() {
    for mode in [TreeKeyMode::Keyed, TreeKeyMode::Public] {
        let d = daemon_with(2, 1 << 20, None, mode).await;
        let keys: Vec<String> = (0..40).map(|i| format!("customer-{i:03}@example.org")).collect();
        for (round, chunk) in keys.chunks(20).enumerate() {
            let writes: Vec<Value> =
                chunk.iter().map(|k| json!({"key": k, "value": B64.encode(k)})).collect();
            let res = d
                .client
                .post(format!("{}/batch/write", d.base))
                .json(&json!({"writes": writes}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            let res = d.client.delete(format!("{}/records/{}", d.base, keys[round])).send().await.unwrap();
            assert_eq!(res.status(), 200);
            // Two commits per shard: a checkpoint manifest, then a delta.
            let res =
                d.client.post(format!("{}/v1/admin/commit", d.url)).bearer_auth(TOKEN).send().await.unwrap();
            assert_eq!(res.status(), 200);
        }
        let listed: ListResponse = d
            .client
            .get(format!("{}/records?limit=1000", d.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut live: Vec<String> = keys[2..].to_vec();
        live.sort();
        assert_eq!(listed.keys, live, "{mode}: listing opens the keys inside the keeper");
        let backup =
            d.client.get(format!("{}/v1/admin/export", d.url)).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(backup.status(), 200);
        let backup = backup.bytes().await.unwrap().to_vec();
        let mut outside = files_under(d.dev.data_dir());
        assert!(outside.iter().any(|(p, _)| p.to_string_lossy().contains("blobs")));
        outside.push(("export".into(), backup));
        for (path, bytes) in &outside {
            for key in &keys {
                assert!(!contains(bytes, key.as_bytes()), "{mode}: {key} in clear in {}", path.display());
                if mode == TreeKeyMode::Keyed {
                    let sha = public_key_hash(key.as_bytes()).0;
                    assert!(!contains(bytes, &sha), "{mode}: SHA-256({key}) in {}", path.display());
                }
            }
        }
        if mode == TreeKeyMode::Public {
            // The positions are SHA-256 of the keys, in the shard stores' tree nodes.
            let sha = public_key_hash(keys[5].as_bytes()).0;
            assert!(outside.iter().any(|(_, b)| contains(b, &sha)));
        }
    }
}
