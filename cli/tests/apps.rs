//! `ironroot app …`: create (rent first, prompt), show, shards, policy, rotate-tree, close, and
//! a refusal named after the program's error.
use std::str::FromStr;

use ironroot_sdk::pda;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signer;

use crate::support::{allow_arg, Net, COMPOSE_HASH, DSTACK_APP_ID, MEASUREMENT};

const APP_ID: [u8; 32] = [0xa1; 32];

#[test]
fn app_lifecycle() {
    let net = Net::start();
    let (publisher, publisher_path) = net.funded("publisher", 50);
    let address = pda::app(&publisher.pubkey(), &APP_ID);
    let create = [
        "app",
        "create",
        "--app-id",
        &hex::encode(APP_ID),
        "--shards",
        "3",
        "--allow",
        &allow_arg(),
        "--max-tcb-status",
        "1",
    ];

    // Declined at the prompt: the rent was shown, nothing was created.
    let declined = net.cli_with_input(&publisher_path, &create, Some("n\n")).fails(4);
    assert!(
        declined.stderr.contains("costs") && declined.stderr.contains("SOL in rent"),
        "{}",
        declined.stderr
    );
    assert_eq!(declined.json()["error"]["kind"], "aborted");
    assert!(net.account(&address).is_none());

    // Accepted: the app and its three shards exist, paid by the publisher.
    let before = net.rpc.get_balance(&publisher.pubkey()).unwrap();
    let created = net.cli_with_input(&publisher_path, &create, Some("y\n")).ok().json();
    assert_eq!(created["app"], address.to_string());
    let cost = &created["cost"];
    let total = cost["total_lamports"].as_u64().unwrap();
    assert_eq!(
        total,
        cost["tree_lamports"].as_u64().unwrap()
            + cost["app_lamports"].as_u64().unwrap()
            + cost["history_record_lamports"].as_u64().unwrap()
            + 3 * cost["shard_lamports_each"].as_u64().unwrap()
    );
    let after = net.rpc.get_balance(&publisher.pubkey()).unwrap();
    assert!(before - after >= total, "paid {} for {total} of rent", before - after);
    let app = net.app(&address);
    assert_eq!((app.shard_count, app.open_shards, app.publisher), (3, 3, publisher.pubkey()));
    assert_eq!(app.policy.allowed[0].measurement, MEASUREMENT);
    assert_eq!(app.policy.allowed[0].compose_hash, COMPOSE_HASH);
    assert_eq!(app.active_tree.to_string(), created["tree"].as_str().unwrap());
    for id in 0..3 {
        assert!(net.account(&pda::shard(&address, id)).is_some(), "shard {id}");
    }

    // show and shards read the same state back.
    let app_ref = address.to_string();
    let shown = net.cli(&publisher_path, &["app", "show", &app_ref]).ok().json();
    assert_eq!(shown["publisher"], publisher.pubkey().to_string());
    assert_eq!(shown["status"], "Active");
    assert_eq!(shown["app_id"], hex::encode(APP_ID));
    let shards = net.cli(&publisher_path, &["app", "shards", &app_ref]).ok().json();
    let shards = shards["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 3);
    assert!(shards.iter().all(|s| s["seq"] == 0 && s["root"] == hex::encode([0u8; 32])));

    // policy: shown without flags; replaced (after the prompt) with flags.
    let policy = net.cli(&publisher_path, &["app", "policy", &app_ref]).ok().json();
    assert_eq!(policy["policy"]["max_tcb_status"], 1);
    let second =
        format!("{}:{}:{}", hex::encode([0x55; 32]), hex::encode(DSTACK_APP_ID), hex::encode(COMPOSE_HASH));
    let blocked = Pubkey::new_unique().to_string();
    let set = [
        "app",
        "policy",
        &app_ref,
        "--allow",
        &allow_arg(),
        "--allow",
        &second,
        "--max-tcb-status",
        "0",
        "--block-key",
        &blocked,
    ];
    let replaced = net.cli_with_input(&publisher_path, &set, Some("yes\n")).ok().json();
    assert_eq!(replaced["policy"]["allowed"].as_array().unwrap().len(), 2);
    let app = net.app(&address);
    assert_eq!((app.policy.allowed.len(), app.policy.max_tcb_status), (2, 0));
    assert_eq!(app.policy.blocked_keys, vec![Pubkey::from_str(&blocked).unwrap()]);
    assert_eq!(app.policy.min_key_validity_secs, 3600, "unset flags keep the current value");

    // Someone else is refused with the program's error name, code and a hint; nothing changes.
    let (_, stranger_path) = net.funded("stranger", 5);
    let refused =
        net.cli(&stranger_path, &["app", "policy", &app_ref, "--max-tcb-status", "1", "--yes"]).fails(3);
    assert_eq!(refused.program_error(), ("NotPublisher".to_string(), 7006));
    assert!(refused.json()["error"]["hint"].as_str().unwrap().contains("publisher"), "{}", refused.stdout);
    assert!(refused.stderr.contains("NotPublisher"), "{}", refused.stderr);
    assert_eq!(net.app(&address).policy.max_tcb_status, 0);

    // rotate-tree: a new active tree and its history record.
    let old_tree = net.app(&address).active_tree;
    let rotated = net.cli(&publisher_path, &["app", "rotate-tree", &app_ref, "--yes"]).ok().json();
    let app = net.app(&address);
    assert_eq!(app.active_tree_index, 1);
    assert_ne!(app.active_tree, old_tree);
    assert_eq!(rotated["active_tree"], app.active_tree.to_string());
    assert!(net.account(&pda::history_tree(&address, 1)).is_some());

    // close: declined changes nothing; confirmed leaves a tombstone and no shard accounts.
    net.cli_with_input(&publisher_path, &["app", "close", &app_ref], Some("\n")).fails(4);
    assert_eq!(net.app(&address).status, app_roots::AppStatus::Active);
    let closed = net.cli(&publisher_path, &["app", "close", &app_ref, "--yes"]).ok().json();
    assert_eq!(closed["status"], "Closed");
    let app = net.app(&address);
    assert_eq!((app.status, app.open_shards), (app_roots::AppStatus::Closed, 0));
    for id in 0..3 {
        assert!(net.account(&pda::shard(&address, id)).is_none(), "shard {id} still open");
    }

    // A missing app is "not found" (exit 5), not a crash.
    let missing = net.cli(&publisher_path, &["app", "show", &Pubkey::new_unique().to_string()]).fails(5);
    assert_eq!(missing.json()["error"]["kind"], "not_found");
}

/// Shard accounts are created and closed in as many transactions as the 1,232-byte limit needs.
#[test]
fn many_shards_are_created_and_closed_in_batches() {
    let net = Net::start();
    let (publisher, publisher_path) = net.funded("publisher", 50);
    let app_id = [0xa4; 32];
    let created = net
        .cli(
            &publisher_path,
            &[
                "app",
                "create",
                "--yes",
                "--app-id",
                &hex::encode(app_id),
                "--shards",
                "70",
                "--allow",
                &allow_arg(),
            ],
        )
        .ok()
        .json();
    let address = pda::app(&publisher.pubkey(), &app_id);
    // One transaction creates the app; the 70 init_shard instructions need more than one more.
    assert!(created["signatures"].as_array().unwrap().len() >= 3, "{created}");
    assert_eq!(net.app(&address).open_shards, 70);
    let shards: Vec<Pubkey> = (0..70).map(|id| pda::shard(&address, id)).collect();
    let accounts = net.rpc.get_multiple_accounts(&shards).unwrap();
    assert!(accounts.iter().all(Option::is_some));

    let closed = net.cli(&publisher_path, &["app", "close", &address.to_string(), "--yes"]).ok().json();
    // begin_close, then 70 shards in batches of 29: 3 close_shards transactions.
    assert_eq!(closed["signatures"].as_array().unwrap().len(), 4, "{closed}");
    assert_eq!(net.app(&address).status, app_roots::AppStatus::Closed);
    let accounts = net.rpc.get_multiple_accounts(&shards).unwrap();
    assert!(accounts.iter().all(Option::is_none));
}
