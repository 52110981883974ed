//! Shared test vectors for the TypeScript SDK (`sdk/ts/test/vectors.json`), produced by the Rust
//! side: attestation statements and their precompile instruction, PDAs, instruction data, history
//! leaves and proofs, and JMT inclusion / non-inclusion proofs as the keeper serves them.
//!
//! Deterministic (fixed seeds, fixed inputs). `cargo test -p ironroot-devkit ts_vectors` checks the
//! committed file; `IRONROOT_WRITE_VECTORS=1` rewrites it.
use app_roots::events::ShardUpdated;
use app_roots::history::history_leaf;
use app_roots::{AllowedTee as AppAllowedTee, AppPolicy, CreateAppArgs, UpdateShardArgs};
use ironroot_sdk::attestation::{ed25519_instruction, sign_statement, statement, StatementFields};
use ironroot_sdk::attestation_verifier::{AllowedTee, AppIdentity, InitializeArgs, Policy};
use ironroot_sdk::history::{decode_history_record, HistoryMirror};
use ironroot_sdk::{app_roots as sdk_app_roots, pda, verifier};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use solana_sdk::instruction::Instruction;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::signer::keypair::keypair_from_seed;

use ironroot_keeper::api::LeafJson;
use ironroot_keeper::tree::{RecordLeaf, ShardStore, TreeKey, TreeKeyMode};

const VECTORS_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk/ts/test/vectors.json");

fn key(seed: u8) -> Keypair {
    keypair_from_seed(&[seed; 32]).expect("32-byte seed")
}

fn h(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(bytes)
}

fn ix_json(ix: &Instruction) -> Value {
    json!({
        "program_id": ix.program_id.to_string(),
        "accounts": ix.accounts.iter().map(|m| json!({
            "pubkey": m.pubkey.to_string(), "is_signer": m.is_signer, "is_writable": m.is_writable,
        })).collect::<Vec<_>>(),
        "data": h(&ix.data),
    })
}

fn statements() -> Value {
    let attesters = [key(1), key(2), key(3)];
    let cases = [
        (key(7).pubkey(), 0u8, 7u64, 1_700_000_000i64, 1_700_086_400i64, 0x11u8),
        (key(8).pubkey(), 1, u64::MAX - 1, -5, i64::MAX, 0xa5),
    ];
    cases
        .iter()
        .map(|(tee, tcb, nonce, verified_at, expires_at, fill)| {
            let fields = StatementFields {
                cluster_genesis_hash: [*fill; 32],
                tee_pubkey: *tee,
                app_id: [fill.wrapping_add(1); 32],
                compose_hash: [fill.wrapping_add(2); 32],
                measurement: [fill.wrapping_add(3); 32],
                tcb_status: *tcb,
                quote_hash: [fill.wrapping_add(4); 32],
                nonce: *nonce,
                verified_at: *verified_at,
                expires_at: *expires_at,
            };
            let st = statement(fields.clone());
            let bytes = st.to_bytes();
            let signers: Vec<&dyn Signer> = attesters.iter().map(|k| k as &dyn Signer).collect();
            let signatures = sign_statement(&st, &signers);
            let precompile = ed25519_instruction(&bytes, &signatures).expect("3 signatures fit");
            json!({
                "fields": {
                    "cluster_genesis_hash": h(fields.cluster_genesis_hash),
                    "tee_pubkey": tee.to_string(),
                    "app_id": h(fields.app_id),
                    "compose_hash": h(fields.compose_hash),
                    "measurement": h(fields.measurement),
                    "tcb_status": tcb,
                    "quote_hash": h(fields.quote_hash),
                    "nonce": nonce.to_string(),
                    "verified_at": verified_at.to_string(),
                    "expires_at": expires_at.to_string(),
                },
                "bytes": h(&bytes),
                "attester_seeds": [h([1u8; 32]), h([2u8; 32]), h([3u8; 32])],
                "signatures": signatures.iter().map(|(k, s)| json!({"pubkey": k.to_string(), "signature": h(s.as_ref())})).collect::<Vec<_>>(),
                "ed25519_instruction": ix_json(&precompile),
            })
        })
        .collect()
}

fn pdas_and_instructions() -> (Value, Value) {
    let tee = key(7).pubkey();
    let payer = key(9).pubkey();
    let publisher = key(10).pubkey();
    let tree = key(11).pubkey();
    let app_id = [0x42u8; 32];
    let app = pda::app(&publisher, &app_id);
    let shards: Vec<Value> = [0u16, 1, 3, 513]
        .iter()
        .map(|s| json!({"shard_id": s, "address": pda::shard(&app, *s).to_string()}))
        .collect();
    let history_trees: Vec<Value> = [0u32, 1, 300]
        .iter()
        .map(|i| json!({"index": i, "address": pda::history_tree(&app, *i).to_string()}))
        .collect();
    let pdas = json!({
        "verifier_config": pda::verifier_config().to_string(),
        "verifier_authority": pda::verifier_authority().to_string(),
        "verifier_program_data": pda::program_data(&ironroot_sdk::attestation_verifier::ID).to_string(),
        "tee": tee.to_string(),
        "tee_entry": pda::tee_entry(&tee).to_string(),
        "app_id": h(app_id),
        "publisher": publisher.to_string(),
        "app": app.to_string(),
        "history_trees": history_trees,
        "shards": shards,
    });
    let policy = AppPolicy {
        allowed: vec![AppAllowedTee {
            measurement: [0x14; 32],
            app_id: [0x12; 32],
            compose_hash: [0x13; 32],
        }],
        max_tcb_status: 1,
        blocked_keys: vec![key(12).pubkey()],
        min_key_validity_secs: 3600,
    };
    let rent = solana_sdk::rent::Rent::default();
    let create = sdk_app_roots::create_app(
        &publisher,
        &tree,
        &rent,
        CreateAppArgs { app_id, shard_count: 2, max_depth: 14, max_buffer_size: 64, policy: policy.clone() },
    )
    .expect("allowed shape");
    let instructions = json!({
        "keys": {"tee": tee.to_string(), "payer": payer.to_string(), "publisher": publisher.to_string(), "tree": tree.to_string(), "app_id": h(app_id)},
        "initialize": ix_json(&verifier::initialize(&payer, InitializeArgs {
            authority: publisher,
            cluster_genesis_hash: [0x11; 32],
            attesters: vec![key(1).pubkey(), key(2).pubkey()],
            threshold: 2,
            policy: Policy {
                accepted_tcb: 0b11,
                max_key_lifetime_secs: 86_400,
                max_statement_age_secs: 600,
                nonce_floor: 5,
                require_quote_signatures: true,
            },
        })),
        "register_tee": ix_json(&verifier::register_tee(&payer, &tee)),
        "revoke_tee": ix_json(&verifier::revoke_tee(&publisher, &tee)),
        "set_attesters": ix_json(&verifier::set_attesters(&publisher, vec![key(1).pubkey()], 1)),
        "add_allowed": ix_json(&verifier::add_allowed(&publisher, AllowedTee {
            measurement: [0x14; 32],
            app: AppIdentity { app_id: [0x12; 32], compose_hash: [0x13; 32] },
            max_tcb_status: 1,
        })),
        "remove_allowed": ix_json(&verifier::remove_allowed(&publisher, [0x14; 32], AppIdentity { app_id: [0x12; 32], compose_hash: [0x13; 32] })),
        "create_app": ix_json(&create[1]),
        "create_app_tree_lamports": rent.minimum_balance(app_roots::tree_account_size(14, 64)).to_string(),
        "create_app_tree_bytes": app_roots::tree_account_size(14, 64),
        "init_shard": ix_json(&sdk_app_roots::init_shard(&publisher, &app, 1)),
        "update_shard": ix_json(&sdk_app_roots::update_shard(&tee, &app, &tree, UpdateShardArgs {
            shard_id: 1, prev_root: [0; 32], new_root: [0x33; 32], new_seq: 1, manifest_cid: vec![1, 0x55, 0x12, 0x20, 9, 9],
        })),
        "set_policy": ix_json(&sdk_app_roots::set_policy(&publisher, &app, policy)),
        "rotate_history": ix_json(&sdk_app_roots::rotate_history(&payer, &app, &tree, 1, 14, 64, &rent).expect("allowed shape")[1]),
        "propose_publisher": ix_json(&sdk_app_roots::propose_publisher(&publisher, &app, payer)),
        "accept_publisher": ix_json(&sdk_app_roots::accept_publisher(&payer, &app)),
        "begin_close": ix_json(&sdk_app_roots::begin_close(&publisher, &app)),
        "close_shards": ix_json(&sdk_app_roots::close_shards(&app, &publisher, &[0, 1])),
    });
    (pdas, instructions)
}

fn history() -> Value {
    let depth = 5;
    let app = pda::app(&key(10).pubkey(), &[0x42; 32]);
    let tree = key(11).pubkey();
    let tree_index = 2u32;
    let signer = key(7).pubkey();
    let mut mirror = HistoryMirror::new(app, tree, tree_index, depth);
    let mut records = Vec::new();
    for i in 0..6u64 {
        let shard_id = (i % 2) as u16;
        let seq = i / 2 + 1;
        let root = [i as u8 + 0x20; 32];
        let manifest_cid = if i == 3 { Vec::new() } else { vec![0x01, 0x55, i as u8, 0xfe] };
        let slot = 100 + 7 * i;
        let leaf = history_leaf(&app, &tree, shard_id, seq, &root, &manifest_cid, slot);
        let record = ShardUpdated {
            app,
            tree,
            tree_index,
            shard_id,
            seq,
            prev_root: [i as u8 + 0x1f; 32],
            root,
            manifest_cid,
            slot,
            signer,
            leaf_index: i,
            leaf,
        };
        let mut event = Sha256::digest(b"event:ShardUpdated")[..8].to_vec();
        // Borsh by hand (anchor's borsh 0.10 is not the keeper's); the decode below checks it.
        event.extend_from_slice(app.as_ref());
        event.extend_from_slice(tree.as_ref());
        event.extend_from_slice(&tree_index.to_le_bytes());
        event.extend_from_slice(&shard_id.to_le_bytes());
        event.extend_from_slice(&seq.to_le_bytes());
        event.extend_from_slice(&record.prev_root);
        event.extend_from_slice(&root);
        event.extend_from_slice(&(record.manifest_cid.len() as u32).to_le_bytes());
        event.extend_from_slice(&record.manifest_cid);
        event.extend_from_slice(&slot.to_le_bytes());
        event.extend_from_slice(signer.as_ref());
        event.extend_from_slice(&i.to_le_bytes());
        event.extend_from_slice(&leaf);
        assert_eq!(decode_history_record(&event).as_ref(), Some(&record));
        mirror.push(record.clone()).expect("in order");
        records.push(json!({
            "app": app.to_string(), "tree": tree.to_string(), "tree_index": tree_index, "shard_id": shard_id, "seq": seq.to_string(), "prev_root": h(record.prev_root),
            "root": h(root), "manifest_cid": h(&record.manifest_cid), "slot": slot.to_string(), "signer": signer.to_string(),
            "leaf_index": i.to_string(), "leaf": h(leaf), "event_bytes": h(&event),
        }));
    }
    let proofs: Vec<Value> = (0..mirror.len())
        .map(|i| {
            let p = mirror.proof(i).expect("leaf exists");
            assert!(p.verify(&mirror.root()));
            json!({"leaf_index": i.to_string(), "siblings": p.siblings.iter().map(h).collect::<Vec<_>>()})
        })
        .collect();
    let empty: Vec<String> = (0..=depth).map(|l| h(ironroot_sdk::history::empty_node(l))).collect();
    json!({"depth": depth, "records": records, "root": h(mirror.root()), "proofs": proofs, "empty_nodes": empty})
}

/// Proofs as the keeper serves them, in one tree key mode: `public` (positions are SHA-256 of the
/// key) or `keyed` (HMAC-SHA256 under a fixed test tree key; the proof names the position).
fn jmt(tree_key: TreeKey) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let mode = tree_key.mode();
    let seal = ironroot_keeper::tree::StoreSeal::new(
        zeroize::Zeroizing::new([7; 32]),
        ironroot_keeper::keys::AppId([0; 32]),
        ironroot_keeper::keys::ShardId(0),
        tree_key,
    );
    let store = ShardStore::open(dir.path().join("shard.redb"), seal).expect("open store");
    let cid = ironroot_keeper::blobs::raw_cid(b"ironroot vector blob").to_bytes();
    let leaf = |version: u64, tag: u8, tombstone: bool| RecordLeaf {
        version,
        cid: if tombstone { Vec::new() } else { cid.clone() },
        ciphertext_hash: [tag; 32],
        key_epoch: tag as u32 % 3,
        tombstone,
    };
    let keys: Vec<Vec<u8>> = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
        .iter()
        .map(|k| k.as_bytes().to_vec())
        .collect();
    let group1: Vec<_> =
        keys[..5].iter().enumerate().map(|(i, k)| (k.clone(), leaf(1, i as u8, false))).collect();
    store.commit_group(&group1, None).expect("commit");
    let group2: Vec<_> = vec![
        (keys[1].clone(), leaf(2, 0x77, true)),
        (keys[5].clone(), leaf(1, 9, false)),
        (keys[6].clone(), leaf(1, 10, false)),
    ];
    let state = store.commit_group(&group2, None).expect("commit");
    let root = state.root;
    let case = |k: &[u8]| {
        let (leaf, proof) = store.prove(k, state.tree_version).expect("prove");
        let position = store.key_hash(k);
        assert!(ironroot_keeper::tree::verify_record_proof(&root, position, leaf.as_ref(), &proof));
        assert_eq!(position.0 == <[u8; 32]>::from(Sha256::digest(k)), mode == TreeKeyMode::Public);
        json!({
            "key": String::from_utf8(k.to_vec()).expect("utf-8"),
            "key_hash": h(position.0),
            "leaf": leaf.as_ref().map(LeafJson::from),
            "leaf_bytes": leaf.as_ref().map(|l| h(l.to_bytes())),
            "proof": h(borsh::to_vec(&proof).expect("serialize")),
        })
    };
    json!({
        "root": h(root),
        "tree_key_mode": mode,
        "inclusion": [case(b"alpha"), case(b"beta"), case(b"zeta")],
        "non_inclusion": [case(b"theta"), case(b"missing-key")],
    })
}

fn vectors() -> String {
    let (pdas, instructions) = pdas_and_instructions();
    let v = json!({
        "about": "Generated by devkit/src/ts_vectors.rs (IRONROOT_WRITE_VECTORS=1 cargo test -p ironroot-devkit ts_vectors); do not edit.",
        "programs": {
            "attestation_verifier": ironroot_sdk::attestation_verifier::ID.to_string(),
            "tee_registry": ironroot_sdk::tee_registry::ID.to_string(),
            "app_roots": app_roots::ID.to_string(),
        },
        "statements": statements(),
        "pdas": pdas,
        "instructions": instructions,
        "history": history(),
        "jmt": jmt(TreeKey::public()),
        "jmt_keyed": jmt(TreeKey::keyed(zeroize::Zeroizing::new([0x33; 32]))),
    });
    serde_json::to_string_pretty(&sorted_keys(v)).expect("json") + "\n"
}

/// Objects with their keys in sorted order whether or not serde_json's `preserve_order` feature is
/// on (a workspace build turns it on: dcap-qvl, used by the attester, needs it), so the vectors are
/// the same bytes in every build.
fn sorted_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted_keys(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted_keys).collect()),
        other => other,
    }
}

#[test]
fn ts_vectors_are_reproduced() {
    let fresh = vectors();
    assert_eq!(fresh, vectors(), "vectors are deterministic");
    if std::env::var_os("IRONROOT_WRITE_VECTORS").is_some() {
        std::fs::write(VECTORS_PATH, &fresh).expect("write vectors");
        return;
    }
    let committed = std::fs::read_to_string(VECTORS_PATH).unwrap_or_default();
    assert!(
        committed == fresh,
        "sdk/ts/test/vectors.json is out of date: run IRONROOT_WRITE_VECTORS=1 cargo test -p ironroot-devkit ts_vectors"
    );
}
