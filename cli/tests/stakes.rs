//! `ironroot stake …`, `pay …`, `challenge …` and `retrieval request|show` against a localnet:
//! real SPL token movements, a challenge window short enough to run out in real time (the
//! localnet's clock follows wall time), and the slash that moves the stake to the publisher.
use ironroot_sdk::pda;
use ironroot_sdk::storage_stake as sdk;
use solana_sdk::signature::{Keypair, Signer};
use storage_stake::{AnswerRetrievalArgs, StakeStatus};

use crate::support::Net;

const APP_ID: [u8; 32] = [0xb2; 32];
/// CIDv1 (raw, sha2-256) of the empty input, and its well-known text form.
const EMPTY_CID_HEX: &str = "01551220e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const EMPTY_CID_TEXT: &str = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
const ROOT: [u8; 32] = [0x5a; 32];
const ANSWER_WINDOW_SECS: i64 = 6;

#[test]
fn stake_pay_challenge_slash_and_retrieval() {
    let net = Net::start();
    net.init_governance();
    let (publisher, publisher_path) = net.funded("publisher", 20);
    let (provider, provider_path) = net.funded("provider", 5);
    let (leaver, leaver_path) = net.funded("leaver", 5);
    let (_, cranker_path) = net.funded("cranker", 5);
    let tee = Keypair::new();
    net.register_tee(&tee, net.now() + 20 * 86_400);
    let app = net.create_app(&publisher_path, APP_ID, 2);
    let app_ref = app.to_string();
    let cid = hex::decode(EMPTY_CID_HEX).unwrap();
    // Shard 0 holds data, shard 1 stays empty: every challenge lands on shard 0.
    net.update_shard(&tee, &app, 0, ROOT, &cid);
    let shards = net.cli(&publisher_path, &["app", "shards", &app_ref]).ok().json();
    assert_eq!(shards["shards"][0]["manifest_cid"], EMPTY_CID_TEXT);
    assert_eq!(shards["shards"][0]["seq"], 1);

    let mint = net.create_mint();
    let provider_ata = net.mint_to(&mint, &provider.pubkey(), 1_000);
    let leaver_ata = net.mint_to(&mint, &leaver.pubkey(), 500);
    let publisher_ata = net.mint_to(&mint, &publisher.pubkey(), 1_000);

    // Terms: missing first (not found), then created by the publisher.
    net.cli(&publisher_path, &["stake", "terms", &app_ref]).fails(5);
    let window = ANSWER_WINDOW_SECS.to_string();
    let terms = net
        .cli(
            &publisher_path,
            &[
                "stake",
                "terms",
                &app_ref,
                "init",
                "--mint",
                &mint.to_string(),
                "--min-stake",
                "100",
                "--answer-window-secs",
                &window,
                "--retrieval-window-secs",
                &window,
                "--unstake-cooldown-secs",
                "1",
                "--challenge-interval-secs",
                "0",
                "--payment-per-epoch",
                "1",
                "--epoch-secs",
                "2",
                "--slash-to-publisher-bps",
                "8000",
            ],
        )
        .ok()
        .json();
    assert_eq!(terms["mint"], mint.to_string());
    assert_eq!(terms["params"]["min_stake"], 100);
    let onchain =
        sdk::decode_terms(&pda::stake_terms(&app), &net.account(&pda::stake_terms(&app)).unwrap()).unwrap();
    assert_eq!(
        (onchain.params.answer_window_secs, onchain.params.slash_to_publisher_bps),
        (ANSWER_WINDOW_SECS, 8000)
    );
    assert_eq!(onchain.params.recovery_window_secs, 86_400, "unset flags take the defaults");

    // Deposit: below the minimum is refused by name and moves nothing; then a real deposit.
    let low = net.cli(&provider_path, &["stake", "deposit", &app_ref, "50"]).fails(3);
    assert_eq!(low.program_error().0, "BelowMinimumStake");
    assert!(net.account(&pda::provider_stake(&app, &provider.pubkey())).is_none());
    assert_eq!(net.balance(&provider_ata), 1_000);
    let deposited = net.cli(&provider_path, &["stake", "deposit", &app_ref, "300"]).ok().json();
    assert_eq!((deposited["amount"].as_u64(), deposited["opened"].as_bool()), (Some(300), Some(true)));
    let stake_address = pda::provider_stake(&app, &provider.pubkey());
    assert_eq!(net.balance(&provider_ata), 700);
    assert_eq!(net.balance(&pda::stake_vault(&stake_address)), 300);
    // More than the token account holds: SPL Token's error through the CPI, named.
    let broke = net.cli(&provider_path, &["stake", "deposit", &app_ref, "5000"]).fails(3);
    assert_eq!(broke.program_error(), ("InsufficientFunds".to_string(), 1));
    assert_eq!(net.balance(&provider_ata), 700);
    let provider_arg = provider.pubkey().to_string();
    let shown =
        net.cli(&publisher_path, &["stake", "show", &app_ref, "--provider", &provider_arg]).ok().json();
    assert_eq!((shown["amount"].as_u64(), shown["status"].as_str()), (Some(300), Some("Active")));
    assert!(shown["challenge"].is_null());

    // The payment escrow: funded by the publisher, claimed by the provider after an epoch.
    let funded =
        net.cli(&publisher_path, &["pay", "fund", &app_ref, "--provider", &provider_arg, "200"]).ok().json();
    assert_eq!(funded["escrow_balance"], 200);
    assert_eq!(funded["funded"], true);
    assert_eq!(net.balance(&publisher_ata), 800);
    net.wait_past(funded["paid_through"].as_i64().unwrap() + 2);
    let claimed = net.cli(&provider_path, &["pay", "claim", &app_ref]).ok().json();
    let earned = net.balance(&provider_ata) - 700;
    assert!(earned >= 1, "nothing was claimed: {claimed}");
    assert_eq!(claimed["escrow_balance"].as_u64().unwrap(), 200 - earned);
    assert_eq!(net.balance(&pda::stake_escrow(&stake_address)), 200 - earned);
    let escrow_before_slash = 200 - earned;

    // A challenge: lands on the only shard with data, due in the answer window.
    let opened =
        net.cli(&publisher_path, &["challenge", "open", &app_ref, "--provider", &provider_arg]).ok().json();
    let challenge = &opened["challenge"];
    assert_eq!((challenge["shard_id"].as_u64(), challenge["opened_seq"].as_u64()), (Some(0), Some(1)));
    assert_eq!(challenge["opened_root"], hex::encode(ROOT));
    let deadline = challenge["deadline"].as_i64().unwrap();
    assert_eq!(deadline - challenge["opened_at"].as_i64().unwrap(), ANSWER_WINDOW_SECS);
    let stake = sdk::decode_stake(&stake_address, &net.account(&stake_address).unwrap()).unwrap();
    assert_eq!(stake.challenge.unwrap().deadline, deadline);
    net.next_blockhash();
    let again =
        net.cli(&publisher_path, &["challenge", "open", &app_ref, "--provider", &provider_arg]).fails(3);
    assert_eq!(again.program_error().0, "ChallengeOpen");
    let early = net
        .cli(&cranker_path, &["challenge", "slash", &app_ref, "--provider", &provider_arg, "--yes"])
        .fails(3);
    assert_eq!(early.program_error().0, "SlashTooEarly");
    let listed = net.cli(&publisher_path, &["challenge", "list", &app_ref]).ok().json();
    let stakes = listed["stakes"].as_array().unwrap();
    assert_eq!(stakes.len(), 1);
    assert_eq!(stakes[0]["challenge"]["deadline"], deadline);
    let show = net.cli(&provider_path, &["challenge", "show", &app_ref]).ok().json();
    assert_eq!(show["challenge"]["overdue"], false);

    // A terms change: proposed (asks first), refused before its notice has run, applied after.
    net.cli_with_input(
        &publisher_path,
        &["stake", "terms", &app_ref, "propose", "--min-stake", "150"],
        Some("n\n"),
    )
    .fails(4);
    let proposed = net
        .cli(&publisher_path, &["stake", "terms", &app_ref, "propose", "--min-stake", "150", "--yes"])
        .ok()
        .json();
    assert_eq!(proposed["pending"]["min_stake"], 150);
    assert_eq!(proposed["params"]["min_stake"], 100);
    let effective_at = proposed["pending_effective_at"].as_i64().unwrap();
    let too_soon = net.cli(&cranker_path, &["stake", "terms", &app_ref, "apply"]).fails(3);
    assert_eq!(too_soon.program_error().0, "NoticeNotOver");

    // A retrieval request, answered by the provider's bound TEE key (set up through the SDK):
    // `retrieval show` finds the answer's CID in the answering transaction.
    let requested = net
        .cli(
            &publisher_path,
            &["retrieval", "request", &app_ref, "--provider", &provider_arg, "--shard", "0"],
        )
        .ok()
        .json();
    assert_eq!(
        (requested["retrieval"]["shard_id"].as_u64(), requested["retrieval"]["requested_seq"].as_u64()),
        (Some(0), Some(1))
    );
    assert!(requested["latest_answer"].is_null());
    net.send(&[sdk::bind_tee(&provider.pubkey(), &tee.pubkey(), &app)], &[&provider, &tee]);
    let answer = AnswerRetrievalArgs { export_cid: cid.clone(), root: ROOT };
    net.send(
        &[sdk::answer_retrieval(&tee.pubkey(), &app, &provider.pubkey(), &pda::shard(&app, 0), answer)],
        &[&tee],
    );
    let retrieval =
        net.cli(&publisher_path, &["retrieval", "show", &app_ref, "--provider", &provider_arg]).ok().json();
    assert!(retrieval["retrieval"].is_null());
    assert_eq!(retrieval["latest_answer"]["export_cid"], EMPTY_CID_TEXT);
    assert_eq!(retrieval["latest_answer"]["root"], hex::encode(ROOT));

    // Another provider unstakes (the prompt first) and withdraws everything after the cool-down.
    net.cli(&leaver_path, &["stake", "deposit", &app_ref, "200"]).ok();
    assert_eq!(net.balance(&leaver_ata), 300);
    net.cli_with_input(&leaver_path, &["stake", "unstake", &app_ref], Some("n\n")).fails(4);
    let unstaking = net.cli(&leaver_path, &["stake", "unstake", &app_ref, "--yes"]).ok().json();
    assert_eq!(unstaking["status"], "Unstaking");
    net.wait_past(unstaking["unlock_at"].as_i64().unwrap());
    let withdrawn = net.cli(&leaver_path, &["stake", "withdraw", &app_ref, "--yes"]).ok().json();
    assert_eq!((withdrawn["withdrawn"].as_u64(), withdrawn["closed"].as_bool()), (Some(200), Some(true)));
    assert_eq!(net.balance(&leaver_ata), 500);
    assert!(net.account(&pda::provider_stake(&app, &leaver.pubkey())).is_none());

    // The deadline passes unanswered: anyone slashes; 80 % of the stake and the escrow go to the
    // publisher, the rest is burned.
    net.wait_past(deadline);
    let overdue = net.cli(&provider_path, &["challenge", "show", &app_ref]).ok().json();
    assert_eq!(overdue["challenge"]["overdue"], true);
    let supply_before = net.rpc.get_token_supply(&mint).unwrap().amount.parse::<u64>().unwrap();
    let slashed = net
        .cli(&cranker_path, &["challenge", "slash", &app_ref, "--provider", &provider_arg, "--yes"])
        .ok()
        .json();
    assert_eq!(slashed["stake"]["status"], "Slashed");
    assert_eq!(net.balance(&publisher_ata), 800 + 240 + escrow_before_slash);
    assert_eq!(
        slashed["publisher_balance_after"].as_u64().unwrap()
            - slashed["publisher_balance_before"].as_u64().unwrap(),
        240 + escrow_before_slash
    );
    assert_eq!(net.balance(&pda::stake_vault(&stake_address)), 0);
    let supply_after = net.rpc.get_token_supply(&mint).unwrap().amount.parse::<u64>().unwrap();
    assert_eq!(supply_before - supply_after, 60, "20 % burned");
    let stake = sdk::decode_stake(&stake_address, &net.account(&stake_address).unwrap()).unwrap();
    assert_eq!((stake.status, stake.amount), (StakeStatus::Slashed, 0));
    net.next_blockhash();
    let twice = net
        .cli(&cranker_path, &["challenge", "slash", &app_ref, "--provider", &provider_arg, "--yes"])
        .fails(3);
    assert_eq!(twice.program_error().0, "Slashed");

    // The notice has run by now (it is longer than the answer window): anyone applies the terms.
    net.wait_past(effective_at);
    let applied = net.cli(&cranker_path, &["stake", "terms", &app_ref, "apply"]).ok().json();
    assert_eq!((applied["params"]["min_stake"].as_u64(), applied["pending"].is_null()), (Some(150), true));
    let onchain =
        sdk::decode_terms(&pda::stake_terms(&app), &net.account(&pda::stake_terms(&app)).unwrap()).unwrap();
    assert_eq!((onchain.params.min_stake, onchain.pending), (150, None));

    // pay show reads the escrow after the slash: refunded to the publisher.
    let pay = net.cli(&publisher_path, &["pay", "show", &app_ref, "--provider", &provider_arg]).ok().json();
    assert_eq!(pay["escrow_balance"], 0);
    assert_eq!(pay["stake"], stake_address.to_string());
}

/// `retrieval fetch` needs an IPFS node (`IRONROOT_IPFS_API`, as the keeper's IPFS tests): CI has
/// one; locally the test says so and skips without it.
fn ipfs_api() -> Option<String> {
    match std::env::var("IRONROOT_IPFS_API") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but IRONROOT_IPFS_API is not set: start the node with scripts/ipfs-node.sh start")
        }
        Err(_) => {
            eprintln!("skipping: IRONROOT_IPFS_API is not set (scripts/ipfs-node.sh start)");
            None
        }
    }
}

#[test]
fn retrieval_fetch_downloads_the_answered_export_from_ipfs() {
    let Some(ipfs) = ipfs_api() else { return };
    let net = Net::start();
    net.init_governance();
    let (publisher, publisher_path) = net.funded("publisher", 20);
    let (provider, provider_path) = net.funded("provider", 5);
    let tee = Keypair::new();
    net.register_tee(&tee, net.now() + 20 * 86_400);
    let app = net.create_app(&publisher_path, [0xb3; 32], 1);
    let app_ref = app.to_string();
    net.update_shard(&tee, &app, 0, ROOT, &hex::decode(EMPTY_CID_HEX).unwrap());
    let mint = net.create_mint();
    net.mint_to(&mint, &provider.pubkey(), 1_000);
    net.mint_to(&mint, &publisher.pubkey(), 10);
    net.cli(
        &publisher_path,
        &[
            "stake",
            "terms",
            &app_ref,
            "init",
            "--mint",
            &mint.to_string(),
            "--min-stake",
            "100",
            "--challenge-interval-secs",
            "0",
        ],
    )
    .ok();
    net.cli(&provider_path, &["stake", "deposit", &app_ref, "100"]).ok();
    net.send(&[sdk::bind_tee(&provider.pubkey(), &tee.pubkey(), &app)], &[&provider, &tee]);
    let provider_arg = provider.pubkey().to_string();
    let out = net.dir.path().join("export.irbk");
    let fetch = [
        "retrieval",
        "fetch",
        &app_ref,
        "--provider",
        &provider_arg,
        "--ipfs",
        &ipfs,
        "--out",
        out.to_str().unwrap(),
    ];

    // Nothing answered yet: a clear error, no file.
    net.cli(&publisher_path, &fetch).fails(1);
    assert!(!out.exists());

    // The provider's TEE publishes an export (here: bytes in the export format's framing, put on
    // the node through the keeper's IPFS client) and answers with its CID.
    let store = ironroot_keeper::blobs::IpfsBlobStore::new(ipfs.clone()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let put = |bytes: Vec<u8>| {
        use ironroot_keeper::blobs::BlobStore;
        runtime.block_on(store.put(bytes.into())).unwrap()
    };
    let mut export = b"IRBK\x01".to_vec();
    export.extend((0..3000u32).flat_map(|i| i.to_le_bytes()));
    let answer_with = |cid: &ironroot_keeper::blobs::Cid| {
        net.cli(
            &publisher_path,
            &["retrieval", "request", &app_ref, "--provider", &provider_arg, "--shard", "0"],
        )
        .ok();
        let args = AnswerRetrievalArgs { export_cid: cid.to_bytes(), root: ROOT };
        net.send(
            &[sdk::answer_retrieval(&tee.pubkey(), &app, &provider.pubkey(), &pda::shard(&app, 0), args)],
            &[&tee],
        );
    };
    let cid = put(export.clone());
    answer_with(&cid);
    let fetched = net.cli(&publisher_path, &fetch).ok().json();
    assert_eq!(std::fs::read(&out).unwrap(), export);
    assert_eq!(fetched["export_cid"], cid.to_string());
    assert_eq!(
        (fetched["seq"].as_u64(), fetched["root"].as_str()),
        (Some(1), Some(hex::encode(ROOT).as_str()))
    );

    // An answer naming something that is not an export is refused (exit 6); the file stays.
    net.next_blockhash();
    answer_with(&put(b"not an export".to_vec()));
    let refused = net.cli(&publisher_path, &fetch).fails(6);
    assert!(refused.stderr.contains("not an Ironroot export"), "{}", refused.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), export);
}
