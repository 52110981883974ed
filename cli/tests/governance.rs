//! `ironroot governance …`, `registry show|list` and `history show|prove` against a localnet.
use std::str::FromStr;

use ironroot_sdk::pda;
use ironroot_sdk::registry::decode_verifier_config;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};

use crate::support::{Net, COMPOSE_HASH, DSTACK_APP_ID, MEASUREMENT};

const APP_ID: [u8; 32] = [0xc3; 32];

#[test]
fn governance_registry_and_history() {
    let net = Net::start();
    let (governance, gov_path) = net.governance();
    let attester = net.attester().pubkey();

    // Nothing before init (not found); init by the upgrade authority.
    net.cli(&gov_path, &["governance", "show"]).fails(5);
    let (_, stranger_path) = net.funded("stranger", 5);
    let refused =
        net.cli(&stranger_path, &["governance", "init", "--attester", &attester.to_string()]).fails(3);
    assert_eq!(refused.program_error().0, "NotUpgradeAuthority");
    net.init_governance();
    let shown = net.cli(&gov_path, &["governance", "show"]).ok().json();
    assert_eq!(shown["authority"], governance.pubkey().to_string());
    assert_eq!(shown["attesters"][0], attester.to_string());
    assert_eq!(shown["cluster_genesis_hash"], net.config.genesis_hash);
    assert_eq!(shown["allowed"][0]["measurement"], hex::encode(MEASUREMENT));

    // Attesters: a second key and threshold 1 (asks first); measurements: add and remove.
    let extra = Pubkey::new_unique();
    net.cli_with_input(
        &gov_path,
        &[
            "governance",
            "attesters",
            "--set",
            &attester.to_string(),
            "--set",
            &extra.to_string(),
            "--threshold",
            "1",
        ],
        Some("n\n"),
    )
    .fails(4);
    net.cli(
        &gov_path,
        &[
            "governance",
            "attesters",
            "--set",
            &attester.to_string(),
            "--set",
            &extra.to_string(),
            "--threshold",
            "1",
            "--yes",
        ],
    )
    .ok();
    let other = [0x66u8; 32];
    let pair = [
        "--measurement",
        &hex::encode(other),
        "--app-id",
        &hex::encode(DSTACK_APP_ID),
        "--compose-hash",
        &hex::encode(COMPOSE_HASH),
    ];
    net.cli(&gov_path, &[&["governance", "measurements", "add"][..], &pair[..]].concat()).ok();
    net.next_blockhash();
    let dup = net.cli(&gov_path, &[&["governance", "measurements", "add"][..], &pair[..]].concat()).fails(3);
    assert_eq!(dup.program_error().0, "AlreadyAllowed");
    let removed = net
        .cli(&gov_path, &[&["governance", "measurements", "remove", "--yes"][..], &pair[..]].concat())
        .ok()
        .json();
    assert_eq!(removed["allowed"].as_array().unwrap().len(), 1);
    let policy = net
        .cli(
            &gov_path,
            &[
                "governance",
                "policy",
                "--max-key-lifetime-secs",
                "2592000",
                "--nonce-floor",
                "1",
                "--require-quote-signatures",
                "true",
                "--yes",
            ],
        )
        .ok()
        .json();
    assert_eq!(policy["policy"]["nonce_floor"], 1);
    assert_eq!(policy["policy"]["require_quote_signatures"], true);
    let revoked_tcb = net.cli(&gov_path, &["governance", "policy", "--accepted-tcb", "67", "--yes"]).fails(3);
    assert_eq!(revoked_tcb.program_error().0, "InvalidPolicy");
    assert!(
        revoked_tcb.json()["error"]["hint"].as_str().unwrap().contains("Revoked"),
        "{}",
        revoked_tcb.stdout
    );
    let config_address = pda::verifier_config();
    let config = decode_verifier_config(&config_address, &net.account(&config_address).unwrap()).unwrap();
    assert_eq!(config.attesters, vec![attester, extra]);
    assert_eq!((config.policy.nonce_floor, config.policy.max_key_lifetime_secs), (1, 2_592_000));
    assert!(config.policy.require_quote_signatures);
    // Off again: the registrations below carry no recorded quote.
    let relaxed = net
        .cli(&gov_path, &["governance", "policy", "--require-quote-signatures", "false", "--yes"])
        .ok()
        .json();
    assert_eq!(relaxed["policy"]["require_quote_signatures"], false);
    assert_eq!(config.allowed.len(), 1);

    // Registry: one key expiring within the default week, one valid for longer, then revoked.
    let now = net.now();
    let (soon, later) = (Keypair::new(), Keypair::new());
    net.register_tee(&soon, now + 3 * 86_400);
    net.register_tee(&later, now + 20 * 86_400);
    let (_, reader_path) = net.funded("reader", 0);
    let soon_status = net.cli(&reader_path, &["registry", "show", &soon.pubkey().to_string()]).ok().json();
    assert_eq!(soon_status["status"], "expiring");
    let narrow = net
        .cli(
            &reader_path,
            &["registry", "show", &soon.pubkey().to_string(), "--expiring-within-secs", "3600"],
        )
        .ok()
        .json();
    assert_eq!(narrow["status"], "valid");
    let unknown = net.cli(&reader_path, &["registry", "show", &Pubkey::new_unique().to_string()]).ok().json();
    assert_eq!(unknown["status"], "not_registered");
    net.cli_with_input(&gov_path, &["governance", "revoke", &later.pubkey().to_string()], Some("n\n"))
        .fails(4);
    let revoked =
        net.cli(&gov_path, &["governance", "revoke", &later.pubkey().to_string(), "--yes"]).ok().json();
    assert_eq!(revoked["revoked"], true);
    let listed = net.cli(&reader_path, &["registry", "list"]).ok().json();
    let mut statuses: Vec<(String, String)> = listed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["tee"].as_str().unwrap().to_string(), e["status"].as_str().unwrap().to_string()))
        .collect();
    statuses.sort();
    let mut expected = vec![
        (soon.pubkey().to_string(), "expiring".to_string()),
        (later.pubkey().to_string(), "revoked".to_string()),
    ];
    expected.sort();
    assert_eq!(statuses, expected);

    // History: three updates in tree 0, a rotation, one more in tree 1; shown and proven.
    let (_, publisher_path) = net.funded("publisher", 20);
    let app = net.create_app(&publisher_path, APP_ID, 2);
    let app_ref = app.to_string();
    let cid = |n: u8| [vec![0x01, 0x55, 0x12, 0x20], vec![n; 32]].concat();
    net.update_shard(&soon, &app, 0, [1; 32], &cid(1));
    net.update_shard(&soon, &app, 0, [2; 32], &cid(2));
    net.update_shard(&soon, &app, 1, [3; 32], &cid(3));
    net.cli(&publisher_path, &["app", "rotate-tree", &app_ref, "--yes"]).ok();
    net.update_shard(&soon, &app, 0, [4; 32], &cid(4));
    let history = net.cli(&reader_path, &["history", "show", &app_ref]).ok().json();
    let records = history["records"].as_array().unwrap();
    let seen: Vec<(u64, u64, u64, String)> = records
        .iter()
        .map(|r| {
            (
                r["tree_index"].as_u64().unwrap(),
                r["shard_id"].as_u64().unwrap(),
                r["seq"].as_u64().unwrap(),
                r["root"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (0, 0, 1, hex::encode([1u8; 32])),
            (0, 0, 2, hex::encode([2u8; 32])),
            (0, 1, 1, hex::encode([3u8; 32])),
            (1, 0, 3, hex::encode([4u8; 32])),
        ]
    );
    assert_eq!(records[0]["signer"], soon.pubkey().to_string());
    assert_eq!(history["trees"].as_array().unwrap().len(), 2);
    let only_shard_1 = net.cli(&reader_path, &["history", "show", &app_ref, "--shard", "1"]).ok().json();
    assert_eq!(only_shard_1["records"].as_array().unwrap().len(), 1);

    let proof = net
        .cli(
            &reader_path,
            &["history", "prove", &app_ref, "--shard", "0", "--seq", "2", "--root", &hex::encode([2u8; 32])],
        )
        .ok()
        .json();
    assert_eq!(
        (proof["verified"].as_bool(), proof["tree_index"].as_u64(), proof["leaf_index"].as_u64()),
        (Some(true), Some(0), Some(1))
    );
    assert_eq!(proof["siblings"].as_array().unwrap().len(), 14);
    let tree0 = Pubkey::from_str(proof["tree"].as_str().unwrap()).unwrap();
    let onchain_root =
        ironroot_sdk::history::onchain_tree_root(&net.account(&tree0).unwrap().data).unwrap().0;
    assert_eq!(proof["tree_root"], hex::encode(onchain_root));
    let rotated =
        net.cli(&reader_path, &["history", "prove", &app_ref, "--shard", "0", "--seq", "3"]).ok().json();
    assert_eq!(rotated["tree_index"], 1);
    let wrong_root = net
        .cli(
            &reader_path,
            &["history", "prove", &app_ref, "--shard", "0", "--seq", "1", "--root", &hex::encode([2u8; 32])],
        )
        .fails(6);
    assert_eq!(wrong_root.json()["error"]["kind"], "verification");
    net.cli(&reader_path, &["history", "prove", &app_ref, "--shard", "1", "--seq", "9"]).fails(6);

    // Every app, for governance.
    let apps = net.cli(&reader_path, &["governance", "apps"]).ok().json();
    assert!(apps["apps"].as_array().unwrap().iter().any(|a| a["address"] == app_ref));

    // Authority rotation: proposed, accepted by the new key; the old one is refused afterwards.
    let (successor, successor_path) = net.funded("successor", 5);
    net.cli(&gov_path, &["governance", "propose-authority", &successor.pubkey().to_string(), "--yes"]).ok();
    let accepted = net.cli(&successor_path, &["governance", "accept-authority"]).ok().json();
    assert_eq!(accepted["authority"], successor.pubkey().to_string());
    let config = decode_verifier_config(&config_address, &net.account(&config_address).unwrap()).unwrap();
    assert_eq!((config.authority, config.pending_authority), (successor.pubkey(), None));
    let old = net.cli(&gov_path, &["governance", "revoke", &soon.pubkey().to_string(), "--yes"]).fails(3);
    assert_eq!(old.program_error().0, "NotAuthority");
}
