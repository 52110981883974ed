//! Issue 11: each attack on app_roots, the registry and the verifier that the earlier programs
//! allowed, as a test (each fails against the earlier code), plus rotation and batch closing.
use anchor_lang::error::ErrorCode;
use anchor_lang::{AccountSerialize, Discriminator, InstructionData};
use app_roots::error::AppRootsError;
use app_roots::events::ShardUpdated;
use app_roots::{AllowedTee as AppPair, App, AppStatus, CreateAppArgs, UpdateShardArgs};
use attestation_verifier::error::VerifierError;
use attestation_verifier::{AllowedTee, AppIdentity, TcbStatus};
use ironroot_bank::dev::{DevTrust, DEV_KEY_LIFETIME_SECS};
use ironroot_bank::LocalBank;
use ironroot_sdk::app_roots::{self as roots, creation_cost, decode_app, decode_shard, CLOSE_SHARDS_BATCH};
use ironroot_sdk::attestation::{self, StatementFields};
use ironroot_sdk::history::{authenticate_tree, history_records, HistoryMirror, InnerCall};
use ironroot_sdk::{pda, transaction_size, verifier, SdkError, PACKET_DATA_SIZE};
use solana_program_test::processor;
use solana_sdk::account::AccountSharedData;
use solana_sdk::account_info::AccountInfo;
use solana_sdk::entrypoint::ProgramResult;
use solana_sdk::hash::hashv;
use solana_sdk::instruction::{AccountMeta, Instruction};
use solana_sdk::program::invoke;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::system_instruction;

use crate::common::*;

const SHAPE: (u32, u32) = (14, 64);

fn root_of(shard_id: u16, seq: u64) -> [u8; 32] {
    hashv(&[b"root", &shard_id.to_le_bytes(), &seq.to_le_bytes()]).to_bytes()
}

fn cid_for(seq: u64) -> Vec<u8> {
    let mut cid = vec![0x01, 0x55, 0x12, 0x20];
    cid.extend_from_slice(&hashv(&[b"manifest", &seq.to_le_bytes()]).to_bytes());
    cid
}

fn update_in(
    tee: &Keypair,
    app: &Pubkey,
    tree: &Pubkey,
    shard_id: u16,
    prev_root: [u8; 32],
    seq: u64,
) -> Instruction {
    let args = UpdateShardArgs {
        shard_id,
        prev_root,
        new_root: root_of(shard_id, seq),
        new_seq: seq,
        manifest_cid: cid_for(seq),
    };
    roots::update_shard(&tee.pubkey(), app, tree, args)
}

async fn funded(bank: &mut LocalBank, lamports: u64) -> Keypair {
    let key = Keypair::new();
    let fund = system_instruction::transfer(&bank.payer().pubkey(), &key.pubkey(), lamports);
    bank.process(&[fund], &[]).await.unwrap();
    key
}

/// Creates `app_id` in `publisher`'s namespace with `shards` shards; returns (app, tree).
async fn create(
    bank: &mut LocalBank,
    trust: &DevTrust,
    publisher: &Keypair,
    app_id: [u8; 32],
    shards: u16,
) -> Result<(Pubkey, Pubkey), solana_program_test::BanksClientError> {
    let tree = Keypair::new();
    let rent = bank.rent().await;
    let args = CreateAppArgs {
        app_id,
        shard_count: shards,
        max_depth: SHAPE.0,
        max_buffer_size: SHAPE.1,
        policy: trust.app_policy(),
    };
    let ixs = roots::create_app(&publisher.pubkey(), &tree.pubkey(), &rent, args).unwrap();
    bank.process(&ixs, &[publisher, &tree]).await?;
    let app = pda::app(&publisher.pubkey(), &app_id);
    for chunk in (0..shards).collect::<Vec<_>>().chunks(8) {
        let ixs: Vec<Instruction> =
            chunk.iter().map(|id| roots::init_shard(&publisher.pubkey(), &app, *id)).collect();
        bank.process(&ixs, &[publisher]).await?;
    }
    Ok((app, tree.pubkey()))
}

async fn app_state(bank: &mut LocalBank, app: &Pubkey) -> App {
    decode_app(app, &bank.account(app).await.expect("app exists")).unwrap()
}

async fn shard_seq(bank: &mut LocalBank, app: &Pubkey, shard_id: u16) -> Option<(u64, [u8; 32])> {
    let address = pda::shard(app, shard_id);
    let account = bank.account(&address).await?;
    let shard = decode_shard(&address, &account).unwrap();
    Some((shard.seq, shard.root))
}

/// Overwrites the app account's state (tests that need a nearly full tree without 15,000 updates).
async fn poke_app(bank: &mut LocalBank, app: &Pubkey, change: impl FnOnce(&mut App)) {
    let mut account = bank.account(app).await.unwrap();
    let mut state = decode_app(app, &account).unwrap();
    change(&mut state);
    let mut data = Vec::new();
    state.try_serialize(&mut data).unwrap();
    account.data[..data.len()].copy_from_slice(&data);
    bank.ctx.set_account(app, &AccountSharedData::from(account));
}

/// Registers `tee` with the given evidence (the verifier must allow its pair).
async fn register_with(
    trust: &DevTrust,
    bank: &mut LocalBank,
    tee: &Keypair,
    measurement: [u8; 32],
    app: AppIdentity,
    tcb_status: u8,
) -> Result<(), solana_program_test::BanksClientError> {
    let now = bank.clock().await.unix_timestamp;
    let statement = attestation::statement(StatementFields {
        cluster_genesis_hash: bank.genesis_hash().to_bytes(),
        tee_pubkey: tee.pubkey(),
        app_id: app.app_id,
        compose_hash: app.compose_hash,
        measurement,
        tcb_status,
        quote_hash: hashv(&[b"quote", tee.pubkey().as_ref()]).to_bytes(),
        nonce: 1,
        verified_at: now,
        expires_at: now + DEV_KEY_LIFETIME_SECS,
    });
    let ixs = trust.registration(bank, &statement);
    bank.process(&ixs, &[tee]).await
}

// ---- owned namespaces -------------------------------------------------------------------------

#[tokio::test]
async fn an_app_id_cannot_be_squatted_or_front_run() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let attacker = funded(&mut bank, 10_000_000_000).await;
    let victim = funded(&mut bank, 10_000_000_000).await;
    let app_id = [7; 32];
    // The attacker sees the id (registry, transactions) and claims it first...
    let (squatted, _) = create(&mut bank, &trust, &attacker, app_id, 1).await.unwrap();
    // ...which only creates the id in the attacker's own namespace: the publisher still gets it.
    let (app, tree) =
        create(&mut bank, &trust, &victim, app_id, 1).await.expect("the publisher's id is free");
    assert_ne!(squatted, app);
    let state = app_state(&mut bank, &app).await;
    assert_eq!(
        (state.creator, state.publisher, state.app_id, state.active_tree),
        (victim.pubkey(), victim.pubkey(), app_id, tree)
    );
    // The attacker has no power over it.
    assert_code(
        bank.process(&[roots::set_policy(&attacker.pubkey(), &app, trust.app_policy())], &[&attacker]).await,
        AppRootsError::NotPublisher,
    );
    // Nor can the attacker create at the publisher's address by naming it.
    let rent = bank.rent().await;
    let tree2 = Keypair::new();
    let args = CreateAppArgs {
        app_id: [9; 32],
        shard_count: 1,
        max_depth: SHAPE.0,
        max_buffer_size: SHAPE.1,
        policy: trust.app_policy(),
    };
    let mut ixs = roots::create_app(&attacker.pubkey(), &tree2.pubkey(), &rent, args).unwrap();
    ixs[1].accounts[1].pubkey = pda::app(&victim.pubkey(), &[9; 32]);
    ixs[1].accounts[2].pubkey = pda::history_tree(&pda::app(&victim.pubkey(), &[9; 32]), 0);
    assert_anchor(bank.process(&ixs, &[&attacker, &tree2]).await, ErrorCode::ConstraintSeeds);
}

#[tokio::test]
async fn publisher_rotation_takes_two_steps_and_keeps_the_address() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let old = funded(&mut bank, 10_000_000_000).await;
    let new = funded(&mut bank, 1_000_000_000).await;
    let outsider = funded(&mut bank, 1_000_000_000).await;
    let (app, _) = create(&mut bank, &trust, &old, [1; 32], 1).await.unwrap();
    bank.process(&[roots::propose_publisher(&old.pubkey(), &app, new.pubkey())], &[&old]).await.unwrap();
    assert_eq!(app_state(&mut bank, &app).await.pending_publisher, Some(new.pubkey()));
    assert_code(
        bank.process(&[roots::accept_publisher(&outsider.pubkey(), &app)], &[&outsider]).await,
        AppRootsError::NotPendingPublisher,
    );
    // Until accepted, the old publisher keeps every power.
    bank.process(&[roots::set_policy(&old.pubkey(), &app, trust.app_policy())], &[&old]).await.unwrap();
    bank.process(&[roots::accept_publisher(&new.pubkey(), &app)], &[&new]).await.unwrap();
    let state = app_state(&mut bank, &app).await;
    assert_eq!((state.creator, state.publisher, state.pending_publisher), (old.pubkey(), new.pubkey(), None));
    assert_eq!(app, pda::app(&old.pubkey(), &[1; 32]), "the address keeps naming the creator");
    assert_code(
        bank.process(&[roots::set_policy(&old.pubkey(), &app, trust.app_policy())], &[&old]).await,
        AppRootsError::NotPublisher,
    );
    bank.process(&[roots::set_policy(&new.pubkey(), &app, trust.app_policy())], &[&new]).await.unwrap();
    // A second accept finds nothing pending.
    assert_code(
        bank.process(&[roots::accept_publisher(&new.pubkey(), &app)], &[&new]).await,
        AppRootsError::NotPendingPublisher,
    );
}

// ---- no reset to seq 0 ------------------------------------------------------------------------

#[tokio::test]
async fn close_then_recreate_cannot_reset_a_shard_to_seq_0() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let publisher = funded(&mut bank, 10_000_000_000).await;
    let tee = Keypair::new();
    trust.register(&mut bank, &tee, 1).await.unwrap();
    let app_id = [5; 32];
    let (app, tree) = create(&mut bank, &trust, &publisher, app_id, 2).await.unwrap();
    let mut root = [0; 32];
    for seq in 1..=3 {
        bank.process(&[update_in(&tee, &app, &tree, 0, root, seq)], &[&tee]).await.unwrap();
        root = root_of(0, seq);
    }
    bank.process(&[roots::begin_close(&publisher.pubkey(), &app)], &[&publisher]).await.unwrap();
    bank.process(&[roots::close_shards(&app, &publisher.pubkey(), &[0, 1])], &[]).await.unwrap();
    assert_eq!(app_state(&mut bank, &app).await.status, AppStatus::Closed);

    // Re-creating the same app: the tombstone holds the address.
    assert!(create(&mut bank, &trust, &publisher, app_id, 2).await.is_err());
    assert_eq!(app_state(&mut bank, &app).await.status, AppStatus::Closed);
    // No shard can come back at seq 0 under the tombstone...
    assert_code(
        bank.process(&[roots::init_shard(&publisher.pubkey(), &app, 0)], &[&publisher]).await,
        AppRootsError::AppNotActive,
    );
    assert_eq!(shard_seq(&mut bank, &app, 0).await, None);
    // ...so the replay of seq 1 from the start has nothing to land on.
    assert!(bank.process(&[update_in(&tee, &app, &tree, 0, [0; 32], 1)], &[&tee]).await.is_err());
    assert!(bank.account(&pda::shard(&app, 0)).await.is_none());
    // Leaves name their tree: the same update in another tree is another leaf.
    let other_tree = Pubkey::new_unique();
    let leaf = |t: &Pubkey| app_roots::history::history_leaf(&app, t, 0, 1, &root_of(0, 1), &cid_for(1), 5);
    assert_ne!(leaf(&tree), leaf(&other_tree));
    // Closing again, or policies on a tombstone, are refused.
    assert_code(
        bank.process(&[roots::begin_close(&publisher.pubkey(), &app)], &[&publisher]).await,
        AppRootsError::AppNotActive,
    );
}

#[tokio::test]
async fn the_maximum_shard_count_closes_in_batches() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let publisher = funded(&mut bank, 50_000_000_000).await;
    let max = app_roots::MAX_SHARDS;
    let (app, _) = create(&mut bank, &trust, &publisher, [2; 32], max).await.unwrap();
    assert_eq!(app_state(&mut bank, &app).await.open_shards, max);
    let mut shard_rent = 0;
    for id in 0..max {
        shard_rent += bank.account(&pda::shard(&app, id)).await.unwrap().lamports;
    }
    bank.process(&[roots::begin_close(&publisher.pubkey(), &app)], &[&publisher]).await.unwrap();
    let before = bank.ctx.banks_client.get_balance(publisher.pubkey()).await.unwrap();

    // The batch size is the most that fits one transaction (a cranker paying, the publisher not signing).
    let ids: Vec<u16> = (0..max).collect();
    let full = bank
        .transaction(&[roots::close_shards(&app, &publisher.pubkey(), &ids[..CLOSE_SHARDS_BATCH])], &[])
        .await;
    let one_more = bank
        .transaction(&[roots::close_shards(&app, &publisher.pubkey(), &ids[..CLOSE_SHARDS_BATCH + 1])], &[])
        .await;
    println!("close_shards with {CLOSE_SHARDS_BATCH} shards: {} bytes", transaction_size(&full));
    assert!(transaction_size(&full) <= PACKET_DATA_SIZE);
    assert!(transaction_size(&one_more) > PACKET_DATA_SIZE);

    let mut batches = 0;
    for batch in ids.chunks(CLOSE_SHARDS_BATCH) {
        let tx = bank.transaction(&[roots::close_shards(&app, &publisher.pubkey(), batch)], &[]).await;
        assert!(transaction_size(&tx) <= PACKET_DATA_SIZE);
        bank.send(tx).await.unwrap();
        batches += 1;
    }
    assert_eq!(batches, (max as usize).div_ceil(CLOSE_SHARDS_BATCH));
    let state = app_state(&mut bank, &app).await;
    assert_eq!((state.status, state.open_shards), (AppStatus::Closed, 0));
    for id in [0, 1, max / 2, max - 1] {
        assert!(bank.account(&pda::shard(&app, id)).await.is_none());
    }
    let after = bank.ctx.banks_client.get_balance(publisher.pubkey()).await.unwrap();
    assert_eq!(after - before, shard_rent);
}

// ---- history that never freezes ---------------------------------------------------------------

#[tokio::test]
async fn history_rotates_before_it_fills_and_old_proofs_keep_verifying() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let publisher = funded(&mut bank, 20_000_000_000).await;
    let cranker = funded(&mut bank, 5_000_000_000).await;
    let tee = Keypair::new();
    trust.register(&mut bank, &tee, 1).await.unwrap();
    let (app, tree0) = create(&mut bank, &trust, &publisher, [3; 32], 1).await.unwrap();
    let rent = bank.rent().await;
    let cost = creation_cost(&rent, SHAPE.0, SHAPE.1, 1).unwrap();

    let mut mirror0 = HistoryMirror::new(app, tree0, 0, SHAPE.0);
    let mut root = [0; 32];
    for seq in 1..=3 {
        let records = bank
            .process_capturing_history(&[update_in(&tee, &app, &tree0, 0, root, seq)], &[&tee])
            .await
            .unwrap();
        for r in records {
            mirror0.push(r).unwrap();
        }
        root = root_of(0, seq);
    }

    // Anyone but the publisher: only once the tree is nearly full.
    let new_tree = Keypair::new();
    let ixs = roots::rotate_history(&cranker.pubkey(), &app, &new_tree.pubkey(), 1, SHAPE.0, SHAPE.1, &rent)
        .unwrap();
    assert_code(bank.process(&ixs, &[&cranker, &new_tree]).await, AppRootsError::RotationTooEarly);

    // A full tree: the program's own error, before the CPI, and nothing changes.
    let capacity = app_roots::tree_capacity(SHAPE.0);
    poke_app(&mut bank, &app, |a| a.active_tree_leaves = capacity).await;
    assert_code(
        bank.process(&[update_in(&tee, &app, &tree0, 0, root, 4)], &[&tee]).await,
        AppRootsError::HistoryTreeFull,
    );
    assert_eq!(shard_seq(&mut bank, &app, 0).await, Some((3, root)));

    // Eligible now, but the app holds no reserve to reimburse a stranger.
    let new_tree = Keypair::new();
    let ixs = roots::rotate_history(&cranker.pubkey(), &app, &new_tree.pubkey(), 1, SHAPE.0, SHAPE.1, &rent)
        .unwrap();
    assert_code(bank.process(&ixs, &[&cranker, &new_tree]).await, AppRootsError::RotationUnfunded);
    // The publisher funds the reserve with a plain transfer; the stranger's crank then costs it nothing.
    let fund = system_instruction::transfer(&publisher.pubkey(), &app, cost.rotation_lamports());
    bank.process(&[fund], &[&publisher]).await.unwrap();
    let cranker_before = bank.ctx.banks_client.get_balance(cranker.pubkey()).await.unwrap();
    let new_tree = Keypair::new();
    let ixs = roots::rotate_history(&cranker.pubkey(), &app, &new_tree.pubkey(), 1, SHAPE.0, SHAPE.1, &rent)
        .unwrap();
    let tx = bank.transaction(&ixs, &[&cranker, &new_tree]).await;
    println!("rotate_history transaction (cranker + new tree + fee payer): {} bytes", transaction_size(&tx));
    assert!(transaction_size(&tx) <= PACKET_DATA_SIZE);
    bank.send(tx).await.unwrap();
    let tree1 = new_tree.pubkey();
    assert_eq!(
        bank.ctx.banks_client.get_balance(cranker.pubkey()).await.unwrap(),
        cranker_before,
        "reimbursed in full"
    );
    let app_account = bank.account(&app).await.unwrap();
    assert_eq!(app_account.lamports, rent.minimum_balance(app_account.data.len()), "reserve spent exactly");
    let state = app_state(&mut bank, &app).await;
    assert_eq!(
        (state.active_tree, state.active_tree_index, state.active_tree_leaves, state.history_len),
        (tree1, 1, 0, 3)
    );
    let record1 = pda::history_tree(&app, 1);
    let record = roots::decode_history_tree(&record1, &bank.account(&record1).await.unwrap()).unwrap();
    assert_eq!((record.app, record.index, record.tree, record.first_history_index), (app, 1, tree1, 3));

    // Updates go to the new tree only.
    assert_code(
        bank.process(&[update_in(&tee, &app, &tree0, 0, root, 4)], &[&tee]).await,
        AppRootsError::WrongTree,
    );
    let records =
        bank.process_capturing_history(&[update_in(&tee, &app, &tree1, 0, root, 4)], &[&tee]).await.unwrap();
    assert_eq!((records[0].tree, records[0].tree_index, records[0].leaf_index), (tree1, 1, 0));
    let shard =
        decode_shard(&pda::shard(&app, 0), &bank.account(&pda::shard(&app, 0)).await.unwrap()).unwrap();
    assert_eq!((shard.seq, shard.history_tree, shard.leaf_index), (4, tree1, 0));
    let mut mirror1 = HistoryMirror::new(app, tree1, 1, SHAPE.0);
    mirror1.push(records[0].clone()).unwrap();
    // A tree-0 record does not enter tree 1's mirror.
    let stray = ShardUpdated { tree: tree0, tree_index: 0, ..records[0].clone() };
    assert!(matches!(mirror1.push(stray), Err(SdkError::NotAppTree { .. })));

    // Old proofs verify against tree 0, new ones against tree 1, each authenticated from chain state.
    let record0 = bank.account(&pda::history_tree(&app, 0)).await.unwrap();
    let t0 = authenticate_tree(&app, 0, &record0, &tree0, &bank.account(&tree0).await.unwrap()).unwrap();
    let record1 = bank.account(&record1).await.unwrap();
    let t1 = authenticate_tree(&app, 1, &record1, &tree1, &bank.account(&tree1).await.unwrap()).unwrap();
    for i in 0..3 {
        let proof = mirror0.proof(i).unwrap();
        assert!(proof.verify_in(&t0), "old proof {i}");
        assert!(!proof.verify_in(&t1));
    }
    assert!(mirror1.proof(0).unwrap().verify_in(&t1));
    assert!(!mirror1.proof(0).unwrap().verify_in(&t0));
    // Tree 0 as "tree 1", or tree 1's record for tree 0: refused.
    assert!(authenticate_tree(&app, 1, &record1, &tree0, &bank.account(&tree0).await.unwrap()).is_err());

    // The publisher may rotate at any time, paying itself (no reimbursement from the app).
    let app_before = bank.account(&app).await.unwrap().lamports;
    let skip = Keypair::new();
    let ixs =
        roots::rotate_history(&publisher.pubkey(), &app, &skip.pubkey(), 5, SHAPE.0, SHAPE.1, &rent).unwrap();
    assert_code(bank.process(&ixs, &[&publisher, &skip]).await, AppRootsError::WrongHistoryRecord);
    let tree2 = Keypair::new();
    let ixs = roots::rotate_history(&publisher.pubkey(), &app, &tree2.pubkey(), 2, SHAPE.0, SHAPE.1, &rent)
        .unwrap();
    bank.process(&ixs, &[&publisher, &tree2]).await.unwrap();
    assert_eq!(bank.account(&app).await.unwrap().lamports, app_before);
    let state = app_state(&mut bank, &app).await;
    assert_eq!((state.active_tree, state.active_tree_index, state.history_len), (tree2.pubkey(), 2, 4));
}

// ---- policy pairs, TCB floor, block list ------------------------------------------------------

#[tokio::test]
async fn app_policy_allows_pairs_not_their_cross_product() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let gov = trust.governance.pubkey();
    let (m1, i1) = (trust.measurement, trust.app);
    let m2 = [0x22; 32];
    let i2 = AppIdentity { app_id: [0x23; 32], compose_hash: [0x24; 32] };
    // Governance allows the crossed pair too (so keys carrying it can register at all).
    for (m, i) in [(m2, i2), (m2, i1)] {
        let pair = AllowedTee { measurement: m, app: i, max_tcb_status: TcbStatus::SwHardeningNeeded as u8 };
        bank.process(&[verifier::add_allowed(&gov, pair)], &[&trust.governance]).await.unwrap();
    }
    let publisher = funded(&mut bank, 10_000_000_000).await;
    let (app, tree) = create(&mut bank, &trust, &publisher, [4; 32], 3).await.unwrap();
    let pair = |m: [u8; 32], i: AppIdentity| AppPair {
        measurement: m,
        app_id: i.app_id,
        compose_hash: i.compose_hash,
    };
    let mut policy = trust.app_policy();
    policy.allowed = vec![pair(m1, i1), pair(m2, i2)];
    bank.process(&[roots::set_policy(&publisher.pubkey(), &app, policy.clone())], &[&publisher])
        .await
        .unwrap();

    let crossed = Keypair::new();
    register_with(&trust, &mut bank, &crossed, m2, i1, TcbStatus::UpToDate as u8).await.unwrap();
    assert_code(
        bank.process(&[update_in(&crossed, &app, &tree, 0, [0; 32], 1)], &[&crossed]).await,
        AppRootsError::TeeNotAllowed,
    );
    assert_eq!(shard_seq(&mut bank, &app, 0).await, Some((0, [0; 32])));
    let second = Keypair::new();
    register_with(&trust, &mut bank, &second, m2, i2, TcbStatus::UpToDate as u8).await.unwrap();
    bank.process(&[update_in(&second, &app, &tree, 0, [0; 32], 1)], &[&second]).await.unwrap();

    // TCB floor: a key attested SwHardeningNeeded is refused while the app accepts UpToDate only.
    let hardening = Keypair::new();
    register_with(&trust, &mut bank, &hardening, m1, i1, TcbStatus::SwHardeningNeeded as u8).await.unwrap();
    policy.max_tcb_status = TcbStatus::UpToDate as u8;
    bank.process(&[roots::set_policy(&publisher.pubkey(), &app, policy.clone())], &[&publisher])
        .await
        .unwrap();
    assert_code(
        bank.process(&[update_in(&hardening, &app, &tree, 1, [0; 32], 1)], &[&hardening]).await,
        AppRootsError::TcbBelowFloor,
    );
    policy.max_tcb_status = TcbStatus::SwHardeningNeeded as u8;
    bank.process(&[roots::set_policy(&publisher.pubkey(), &app, policy.clone())], &[&publisher])
        .await
        .unwrap();
    bank.process(&[update_in(&hardening, &app, &tree, 1, [0; 32], 1)], &[&hardening]).await.unwrap();

    // Block list: an allowed, valid key the publisher no longer trusts.
    policy.blocked_keys = vec![second.pubkey()];
    bank.process(&[roots::set_policy(&publisher.pubkey(), &app, policy)], &[&publisher]).await.unwrap();
    assert_code(
        bank.process(&[update_in(&second, &app, &tree, 0, root_of(0, 1), 2)], &[&second]).await,
        AppRootsError::TeeBlocked,
    );
    assert_eq!(shard_seq(&mut bank, &app, 0).await, Some((1, root_of(0, 1))));
}

#[tokio::test]
async fn verifier_allows_pairs_with_a_tcb_floor_each() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let gov = trust.governance.pubkey();
    let (m1, i1) = (trust.measurement, trust.app);
    let m2 = [0x32; 32];
    let i2 = AppIdentity { app_id: [0x33; 32], compose_hash: [0x34; 32] };
    let strict = AllowedTee { measurement: m2, app: i2, max_tcb_status: TcbStatus::UpToDate as u8 };
    bank.process(&[verifier::add_allowed(&gov, strict)], &[&trust.governance]).await.unwrap();
    let config = ironroot_sdk::registry::decode_verifier_config(
        &pda::verifier_config(),
        &bank.account(&pda::verifier_config()).await.unwrap(),
    )
    .unwrap();
    assert_eq!(config.allowed, vec![trust.allowed(), strict]);

    // (m2, i1): each half is allowed somewhere, the pair is not.
    let crossed = Keypair::new();
    assert_code(register_with(&trust, &mut bank, &crossed, m2, i1, 0).await, VerifierError::TeeNotAllowed);
    let crossed = Keypair::new();
    assert_code(register_with(&trust, &mut bank, &crossed, m1, i2, 0).await, VerifierError::TeeNotAllowed);
    assert!(bank.account(&pda::tee_entry(&crossed.pubkey())).await.is_none());
    // The pair's own floor: SwHardeningNeeded passes the global set but not this pair.
    let tee = Keypair::new();
    assert_code(
        register_with(&trust, &mut bank, &tee, m2, i2, TcbStatus::SwHardeningNeeded as u8).await,
        VerifierError::TcbBelowPairFloor,
    );
    register_with(&trust, &mut bank, &tee, m2, i2, TcbStatus::UpToDate as u8).await.unwrap();

    // Governance checks: duplicates, Revoked as a floor, outsiders; removal by pair.
    assert_code(
        bank.process(
            &[verifier::add_allowed(&gov, AllowedTee { max_tcb_status: 1, ..strict })],
            &[&trust.governance],
        )
        .await,
        VerifierError::AlreadyAllowed,
    );
    let revoked_floor =
        AllowedTee { measurement: [9; 32], app: i2, max_tcb_status: TcbStatus::Revoked as u8 };
    assert_code(
        bank.process(&[verifier::add_allowed(&gov, revoked_floor)], &[&trust.governance]).await,
        VerifierError::InvalidPolicy,
    );
    let outsider = Keypair::new();
    assert_code(
        bank.process(&[verifier::add_allowed(&outsider.pubkey(), strict)], &[&outsider]).await,
        VerifierError::NotAuthority,
    );
    bank.process(&[verifier::remove_allowed(&gov, m2, i2)], &[&trust.governance]).await.unwrap();
    assert_code(
        bank.process(&[verifier::remove_allowed(&gov, m2, i2)], &[&trust.governance]).await,
        VerifierError::NotAllowed,
    );
    let later = Keypair::new();
    assert_code(register_with(&trust, &mut bank, &later, m2, i2, 0).await, VerifierError::TeeNotAllowed);
}

// ---- authenticated history proofs -------------------------------------------------------------

/// A hostile program: writes whatever it is given through spl-noop, as app_roots writes records.
fn forger(_program_id: &Pubkey, accounts: &[AccountInfo], data: &[u8]) -> ProgramResult {
    invoke(&spl_noop::instruction(data.to_vec()), accounts)
}

#[tokio::test]
async fn history_records_count_only_when_app_roots_wrote_them() {
    let forger_id = Pubkey::new_unique();
    let trust = DevTrust::new(1, 1);
    let mut bank = trust
        .start_bank_with(|test| test.add_program("forger", forger_id, processor!(forger)))
        .await
        .unwrap();
    let tee = Keypair::new();
    trust.register(&mut bank, &tee, 1).await.unwrap();
    let publisher = funded(&mut bank, 10_000_000_000).await;
    let (app, tree) = create(&mut bank, &trust, &publisher, [6; 32], 1).await.unwrap();

    // A record claiming shard 0 reached seq 1 with a root the keeper never committed.
    let forged = ShardUpdated {
        app,
        tree,
        tree_index: 0,
        shard_id: 0,
        seq: 1,
        prev_root: [0; 32],
        root: [0xBA; 32],
        manifest_cid: cid_for(1),
        slot: 1,
        signer: tee.pubkey(),
        leaf_index: 0,
        leaf: app_roots::history::history_leaf(&app, &tree, 0, 1, &[0xBA; 32], &cid_for(1), 1),
    };
    let mut data = ShardUpdated::DISCRIMINATOR.to_vec();
    data.extend(anchor_lang::AnchorSerialize::try_to_vec(&forged).unwrap());
    let forge = Instruction {
        program_id: forger_id,
        accounts: vec![AccountMeta::new_readonly(spl_noop::ID, false)],
        data,
    };
    // Alone, and next to a real update in the same transaction: only the real record counts.
    let tx = bank.transaction(std::slice::from_ref(&forge), &[]).await;
    assert_eq!(bank.simulated_history(&tx).await.unwrap(), vec![]);
    let real = update_in(&tee, &app, &tree, 0, [0; 32], 1);
    let records = bank.process_capturing_history(&[forge, real], &[&tee]).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].root, root_of(0, 1));

    // The filter itself: app_roots' direct noop call counts; deeper calls and other outer
    // programs do not.
    let mut payload = ShardUpdated::DISCRIMINATOR.to_vec();
    payload.extend(anchor_lang::AnchorSerialize::try_to_vec(&forged).unwrap());
    let call = |outer_index, stack_height| InnerCall {
        outer_index,
        stack_height,
        program_id: &spl_noop::ID,
        data: &payload,
    };
    let outer = [app_roots::ID, forger_id];
    assert_eq!(history_records(&outer, [call(0, Some(2))]).len(), 1);
    assert_eq!(history_records(&outer, [call(0, Some(3))]).len(), 0);
    assert_eq!(history_records(&outer, [call(1, Some(2))]).len(), 0);
    assert_eq!(history_records(&outer, [call(2, Some(2))]).len(), 0);
}

#[tokio::test]
async fn a_tree_someone_else_built_cannot_prove_an_apps_history() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let tee = Keypair::new();
    trust.register(&mut bank, &tee, 1).await.unwrap();
    let publisher = funded(&mut bank, 10_000_000_000).await;
    let (app, tree) = create(&mut bank, &trust, &publisher, [8; 32], 1).await.unwrap();
    bank.process(&[update_in(&tee, &app, &tree, 0, [0; 32], 1)], &[&tee]).await.unwrap();

    // The attacker builds a compression tree of its own and appends a leaf for the victim app.
    let attacker = funded(&mut bank, 10_000_000_000).await;
    let fake = Keypair::new();
    let rent = bank.rent().await;
    let size = app_roots::tree_account_size(SHAPE.0, SHAPE.1);
    let allocate = system_instruction::create_account(
        &attacker.pubkey(),
        &fake.pubkey(),
        rent.minimum_balance(size),
        size as u64,
        &spl_account_compression::ID,
    );
    let modify = |data: Vec<u8>| Instruction {
        program_id: spl_account_compression::ID,
        accounts: vec![
            AccountMeta::new(fake.pubkey(), false),
            AccountMeta::new_readonly(attacker.pubkey(), true),
            AccountMeta::new_readonly(spl_noop::ID, false),
        ],
        data,
    };
    let init = modify(
        spl_account_compression::instruction::InitEmptyMerkleTree {
            max_depth: SHAPE.0,
            max_buffer_size: SHAPE.1,
        }
        .data(),
    );
    bank.process(&[allocate, init], &[&attacker, &fake]).await.unwrap();
    let record = ShardUpdated {
        app,
        tree: fake.pubkey(),
        tree_index: 0,
        shard_id: 0,
        seq: 2,
        prev_root: root_of(0, 1),
        root: [0xBA; 32],
        manifest_cid: cid_for(2),
        slot: 9,
        signer: tee.pubkey(),
        leaf_index: 0,
        leaf: app_roots::history::history_leaf(&app, &fake.pubkey(), 0, 2, &[0xBA; 32], &cid_for(2), 9),
    };
    let append = modify(spl_account_compression::instruction::Append { leaf: record.leaf }.data());
    bank.process(&[append], &[&attacker]).await.unwrap();
    let mut mirror = HistoryMirror::new(app, fake.pubkey(), 0, SHAPE.0);
    mirror.push(record).unwrap();
    let proof = mirror.proof(0).unwrap();
    let fake_account = bank.account(&fake.pubkey()).await.unwrap();
    // The bare path check passes (that is all the old verifiers did)...
    let (fake_root, _) = ironroot_sdk::history::onchain_tree_root(&fake_account.data).unwrap();
    assert!(proof.verify(&fake_root));
    // ...but the tree is not the app's: its record names another tree, and its authority is not the app.
    let record0 = bank.account(&pda::history_tree(&app, 0)).await.unwrap();
    assert_eq!(
        authenticate_tree(&app, 0, &record0, &fake.pubkey(), &fake_account),
        Err(SdkError::NotAppTree { app, tree: fake.pubkey() })
    );
    // Even with a record that names it (a record account the attacker fabricated off-chain, owned by
    // another program), the owner and authority checks refuse it.
    let mut fabricated = record0.clone();
    fabricated.owner = attacker.pubkey();
    assert!(authenticate_tree(&app, 0, &fabricated, &fake.pubkey(), &fake_account).is_err());
    let (_, authority) = ironroot_sdk::history::tree_header(&fake_account.data).unwrap();
    assert_eq!(authority, attacker.pubkey());
    // The real tree authenticates.
    let real = authenticate_tree(&app, 0, &record0, &tree, &bank.account(&tree).await.unwrap()).unwrap();
    assert_eq!((real.tree, real.depth), (tree, SHAPE.0));
}

// ---- registry and verifier id -----------------------------------------------------------------

#[test]
fn the_registry_trusts_the_verifier_crates_own_id() {
    // The registry reads the id from the verifier crate's `declare_id!` at build time: no copy to drift.
    assert_eq!(tee_registry::ATTESTATION_VERIFIER_ID, attestation_verifier::ID);
    let (authority, _) = Pubkey::find_program_address(
        &[tee_registry::VERIFIER_AUTHORITY_SEED],
        &tee_registry::ATTESTATION_VERIFIER_ID,
    );
    assert_eq!(authority, pda::verifier_authority());
}

#[tokio::test]
async fn refresh_keeps_the_first_registration_time() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let tee = Keypair::new();
    trust.register(&mut bank, &tee, 1).await.unwrap();
    let address = pda::tee_entry(&tee.pubkey());
    let first =
        ironroot_sdk::registry::decode_tee_entry(&address, &bank.account(&address).await.unwrap()).unwrap();
    assert!(first.registered_at > 0);
    bank.advance_clock(100).await;
    trust.register(&mut bank, &tee, 2).await.unwrap();
    let second =
        ironroot_sdk::registry::decode_tee_entry(&address, &bank.account(&address).await.unwrap()).unwrap();
    assert_eq!(second.registered_at, first.registered_at);
    assert_eq!((second.last_nonce, second.refreshed_at), (2, first.refreshed_at + 100));
}

// ---- transaction sizes ------------------------------------------------------------------------

#[tokio::test]
async fn create_app_fits_one_transaction_with_the_policy_sizes_it_allows() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let publisher = funded(&mut bank, 10_000_000_000).await;
    let rent = bank.rent().await;
    let tx_for = |pairs: usize, blocked: usize, tree: &Pubkey| {
        let mut policy = trust.app_policy();
        policy.allowed = (0..pairs as u8)
            .map(|i| AppPair { measurement: [i; 32], app_id: [i; 32], compose_hash: [i; 32] })
            .collect();
        policy.blocked_keys = vec![Pubkey::new_unique(); blocked];
        let args = CreateAppArgs {
            app_id: [1; 32],
            shard_count: 4,
            max_depth: SHAPE.0,
            max_buffer_size: SHAPE.1,
            policy,
        };
        roots::create_app(&publisher.pubkey(), tree, &rent, args).unwrap()
    };
    let tree = Keypair::new();
    let one = bank.transaction(&tx_for(1, 0, &tree.pubkey()), &[&publisher, &tree]).await;
    println!("create_app (1 pair): {} bytes", transaction_size(&one));
    assert!(transaction_size(&one) <= PACKET_DATA_SIZE);
    // The largest policy that fits at creation; larger ones are set afterwards with set_policy.
    let max_pairs = (1..=app_roots::MAX_POLICY_PAIRS)
        .take_while(|&n| {
            let ixs = tx_for(n, 0, &tree.pubkey());
            // Unsigned, with room for the 3 signatures it will carry (payer, publisher, tree).
            let tx = solana_sdk::transaction::Transaction::new_with_payer(&ixs, Some(&bank.payer().pubkey()));
            transaction_size(&tx) <= PACKET_DATA_SIZE
        })
        .last()
        .unwrap();
    println!("create_app fits a policy of up to {max_pairs} pairs");
    assert!(max_pairs >= 4);
    let full_policy = {
        let mut p = trust.app_policy();
        p.allowed = (0..app_roots::MAX_POLICY_PAIRS as u8)
            .map(|i| AppPair { measurement: [i; 32], app_id: [i; 32], compose_hash: [i; 32] })
            .collect();
        p.blocked_keys = vec![Pubkey::new_unique(); app_roots::MAX_BLOCKED_KEYS];
        p
    };
    bank.send(one).await.unwrap();
    let app = pda::app(&publisher.pubkey(), &[1; 32]);
    let set =
        bank.transaction(&[roots::set_policy(&publisher.pubkey(), &app, full_policy)], &[&publisher]).await;
    println!("set_policy (8 pairs, 4 blocked keys): {} bytes", transaction_size(&set));
    assert!(transaction_size(&set) <= PACKET_DATA_SIZE);
    let cost = creation_cost(&rent, SHAPE.0, SHAPE.1, 1).unwrap();
    println!(
        "rent: app {} lamports ({} bytes), history record {} lamports, shard {} lamports, tree (14, 64) {} lamports",
        cost.app_lamports,
        8 + <App as anchor_lang::Space>::INIT_SPACE,
        cost.history_record_lamports,
        cost.shard_lamports_each,
        cost.tree_lamports
    );
}
