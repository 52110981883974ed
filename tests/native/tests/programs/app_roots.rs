//! `app_roots`: apps, shards, TEE-signed shard updates and the root-history tree.
use anchor_lang::error::ErrorCode;
use anchor_lang::AccountSerialize;
use app_roots::error::AppRootsError;
use app_roots::events::ShardUpdated;
use app_roots::{App, AppPolicy, AppStatus, CreateAppArgs, Shard, UpdateShardArgs};
use ironroot_bank::dev::{DevApp, DevTrust};
use ironroot_bank::LocalBank;
use ironroot_sdk::app_roots::{self as roots, creation_cost, decode_app, decode_shard};
use ironroot_sdk::history::{onchain_tree_root, HistoryMirror};
use ironroot_sdk::{pda, transaction_size, verifier, SdkError, PACKET_DATA_SIZE};
use solana_sdk::account::{Account, AccountSharedData};
use solana_sdk::hash::hashv;
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};

use crate::common::*;

const SHAPE: (u32, u32) = (14, 64);

fn root_of(label: &str, seq: u64) -> [u8; 32] {
    hashv(&[label.as_bytes(), &seq.to_le_bytes()]).to_bytes()
}

/// A binary CIDv1 (raw, sha2-256) of some bytes: what the keeper commits for a manifest.
fn cid_for(seq: u64) -> Vec<u8> {
    let mut cid = vec![0x01, 0x55, 0x12, 0x20];
    cid.extend_from_slice(&hashv(&[b"manifest", &seq.to_le_bytes()]).to_bytes());
    cid
}

fn update(app: &DevApp, tee: &Keypair, shard_id: u16, prev_root: [u8; 32], new_seq: u64) -> Instruction {
    let args = UpdateShardArgs {
        shard_id,
        prev_root,
        new_root: root_of(&format!("shard-{shard_id}"), new_seq),
        new_seq,
        manifest_cid: cid_for(new_seq),
    };
    roots::update_shard(&tee.pubkey(), &app.address, &app.tree, args)
}

async fn shard(bank: &mut LocalBank, app: &DevApp, shard_id: u16) -> Shard {
    let address = pda::shard(&app.address, shard_id);
    decode_shard(&address, &bank.account(&address).await.expect("shard exists")).unwrap()
}

async fn app_state(bank: &mut LocalBank, app: &DevApp) -> App {
    decode_app(&app.address, &bank.account(&app.address).await.expect("app exists")).unwrap()
}

async fn onchain_root(bank: &mut LocalBank, app: &DevApp) -> [u8; 32] {
    onchain_tree_root(&bank.account(&app.tree).await.expect("tree exists").data).unwrap().0
}

struct Setup {
    trust: DevTrust,
    bank: LocalBank,
    app: DevApp,
    tee: Keypair,
}

async fn setup(shards: u16) -> Setup {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let app = trust.create_app(&mut bank, [7; 32], shards, SHAPE).await.expect("app created");
    let tee = Keypair::new();
    trust.register(&mut bank, &tee, 1).await.expect("tee registered");
    Setup { trust, bank, app, tee }
}

/// Applies `count` sequential updates to `shard_id`, mirroring their history records.
async fn advance(s: &mut Setup, mirror: &mut HistoryMirror, shard_id: u16, count: u64) {
    for _ in 0..count {
        let current = shard(&mut s.bank, &s.app, shard_id).await;
        let ix = update(&s.app, &s.tee, shard_id, current.root, current.seq + 1);
        let records = s.bank.process_capturing_history(&[ix], &[&s.tee]).await.expect("update");
        assert_eq!(records.len(), 1);
        for record in records {
            mirror.push(record).unwrap();
        }
    }
}

#[tokio::test]
async fn one_shard_app_accepts_sequential_updates() {
    let mut s = setup(1).await;
    let fresh = shard(&mut s.bank, &s.app, 0).await;
    assert_eq!((fresh.seq, fresh.root, fresh.manifest_cid.len()), (0, [0; 32], 0));
    let app = app_state(&mut s.bank, &s.app).await;
    assert_eq!((app.shard_count, app.open_shards, app.history_len), (1, 1, 0));
    assert_eq!(app.publisher, s.app.publisher.pubkey());

    let ix = update(&s.app, &s.tee, 0, [0; 32], 1);
    let tx = s.bank.transaction(&[ix], &[&s.tee]).await;
    let size = transaction_size(&tx);
    println!("update_shard transaction: {size} bytes");
    assert!(size <= PACKET_DATA_SIZE);
    let records = s.bank.simulated_history(&tx).await.unwrap();
    s.bank.send(tx).await.unwrap();

    let after = shard(&mut s.bank, &s.app, 0).await;
    assert_eq!(after.seq, 1);
    assert_eq!(after.root, root_of("shard-0", 1));
    assert_eq!(after.manifest_cid, cid_for(1));
    assert_eq!(after.last_signer, s.tee.pubkey());
    assert!(after.updated_slot > 0);
    assert_eq!(app_state(&mut s.bank, &s.app).await.history_len, 1);
    assert_eq!(
        records,
        vec![ShardUpdated {
            app: s.app.address,
            tree: s.app.tree,
            tree_index: 0,
            shard_id: 0,
            seq: 1,
            prev_root: [0; 32],
            root: root_of("shard-0", 1),
            manifest_cid: cid_for(1),
            slot: after.updated_slot,
            signer: s.tee.pubkey(),
            leaf_index: 0,
            leaf: app_roots::history::history_leaf(
                &s.app.address,
                &s.app.tree,
                0,
                1,
                &after.root,
                &after.manifest_cid,
                after.updated_slot
            ),
        }]
    );

    let mut mirror = HistoryMirror::new(s.app.address, s.app.tree, 0, SHAPE.0);
    mirror.push(records[0].clone()).unwrap();
    advance(&mut s, &mut mirror, 0, 4).await;
    assert_eq!(shard(&mut s.bank, &s.app, 0).await.seq, 5);
    assert_eq!(mirror.root(), onchain_root(&mut s.bank, &s.app).await);
}

#[tokio::test]
async fn four_shard_app_keeps_shards_independent() {
    let mut s = setup(4).await;
    let mut mirror = HistoryMirror::new(s.app.address, s.app.tree, 0, SHAPE.0);
    for (shard_id, count) in [(0u16, 3u64), (1, 1), (3, 2), (2, 4)] {
        advance(&mut s, &mut mirror, shard_id, count).await;
    }
    for (shard_id, expected) in [(0u16, 3u64), (1, 1), (2, 4), (3, 2)] {
        let state = shard(&mut s.bank, &s.app, shard_id).await;
        assert_eq!((state.shard_id, state.seq), (shard_id, expected));
        assert_eq!(state.root, root_of(&format!("shard-{shard_id}"), expected));
    }
    assert_eq!(app_state(&mut s.bank, &s.app).await.history_len, 10);
    assert_eq!(mirror.root(), onchain_root(&mut s.bank, &s.app).await);
}

#[tokio::test]
async fn two_tee_keys_update_two_shards_in_the_same_slot() {
    let mut s = setup(2).await;
    let second = Keypair::new();
    s.trust.register(&mut s.bank, &second, 1).await.unwrap();
    let tx_a = s.bank.transaction(&[update(&s.app, &s.tee, 0, [0; 32], 1)], &[&s.tee]).await;
    let tx_b = s.bank.transaction(&[update(&s.app, &second, 1, [0; 32], 1)], &[&second]).await;
    let mut mirror = HistoryMirror::new(s.app.address, s.app.tree, 0, SHAPE.0);
    let mut records = s.bank.simulated_history(&tx_a).await.unwrap();
    // Back to back on the working bank, which does not advance its slot between them.
    let slot = s.bank.ctx.banks_client.get_root_slot().await.unwrap();
    s.bank.send(tx_a).await.unwrap();
    s.bank.send(tx_b).await.unwrap();
    assert_eq!(s.bank.ctx.banks_client.get_root_slot().await.unwrap(), slot);
    let a = shard(&mut s.bank, &s.app, 0).await;
    let b = shard(&mut s.bank, &s.app, 1).await;
    assert_eq!((a.seq, a.last_signer), (1, s.tee.pubkey()));
    assert_eq!((b.seq, b.last_signer), (1, second.pubkey()));
    assert_eq!(a.updated_slot, b.updated_slot, "both updates in one slot");

    // Rebuild B's record from its shard state (it was appended second, at index 1).
    let record_b = ShardUpdated {
        app: s.app.address,
        tree: s.app.tree,
        tree_index: 0,
        shard_id: 1,
        seq: 1,
        prev_root: [0; 32],
        root: b.root,
        manifest_cid: b.manifest_cid.clone(),
        slot: b.updated_slot,
        signer: second.pubkey(),
        leaf_index: 1,
        leaf: app_roots::history::history_leaf(
            &s.app.address,
            &s.app.tree,
            1,
            1,
            &b.root,
            &b.manifest_cid,
            b.updated_slot,
        ),
    };
    records.push(record_b);
    for r in records {
        mirror.push(r).unwrap();
    }
    assert_eq!(mirror.root(), onchain_root(&mut s.bank, &s.app).await);
}

#[tokio::test]
async fn sequence_and_root_rules_reject_replay_gap_rollback_and_fork() {
    let mut s = setup(1).await;
    let first = update(&s.app, &s.tee, 0, [0; 32], 1);
    s.bank.process(std::slice::from_ref(&first), &[&s.tee]).await.unwrap();
    // The same update again (a new transaction): replay.
    assert_code(s.bank.process(&[first], &[&s.tee]).await, AppRootsError::SequenceReplay);

    let root1 = root_of("shard-0", 1);
    assert_code(
        s.bank.process(&[update(&s.app, &s.tee, 0, root1, 3)], &[&s.tee]).await,
        AppRootsError::SequenceGap,
    );
    // The right sequence number but another previous root: a fork.
    assert_code(
        s.bank.process(&[update(&s.app, &s.tee, 0, [9; 32], 2)], &[&s.tee]).await,
        AppRootsError::RootMismatch,
    );
    s.bank.process(&[update(&s.app, &s.tee, 0, root1, 2)], &[&s.tee]).await.unwrap();
    s.bank.process(&[update(&s.app, &s.tee, 0, root_of("shard-0", 2), 3)], &[&s.tee]).await.unwrap();
    // Going back to seq 2: a rollback.
    assert_code(
        s.bank.process(&[update(&s.app, &s.tee, 0, root_of("shard-0", 3), 2)], &[&s.tee]).await,
        AppRootsError::SequenceRollback,
    );
    let state = shard(&mut s.bank, &s.app, 0).await;
    assert_eq!((state.seq, state.root), (3, root_of("shard-0", 3)));
    assert_eq!(app_state(&mut s.bank, &s.app).await.history_len, 3);
}

#[tokio::test]
async fn signer_must_be_registered_unrevoked_unexpired_and_allowed() {
    let mut s = setup(1).await;
    // Never registered: there is no registry entry to read.
    let stranger = Keypair::new();
    assert_anchor(
        s.bank.process(&[update(&s.app, &stranger, 0, [0; 32], 1)], &[&stranger]).await,
        ErrorCode::AccountNotInitialized,
    );
    // Another key's entry in place of the signer's: seeds do not match.
    let mut ix = update(&s.app, &stranger, 0, [0; 32], 1);
    ix.accounts[1].pubkey = pda::tee_entry(&s.tee.pubkey());
    assert_anchor(s.bank.process(&[ix], &[&stranger]).await, ErrorCode::ConstraintSeeds);
    // The TEE key named but not signing (only the fee payer signs).
    let mut ix = update(&s.app, &s.tee, 0, [0; 32], 1);
    ix.accounts[0].is_signer = false;
    assert_anchor(s.bank.process(&[ix], &[]).await, ErrorCode::AccountNotSigner);

    // Policy: the publisher stops allowing the key's measurement, then its identity.
    let publisher = s.app.publisher.pubkey();
    let mut policy = s.trust.app_policy();
    policy.allowed[0].measurement = [1; 32];
    s.bank
        .process(&[roots::set_policy(&publisher, &s.app.address, policy)], &[&s.app.publisher])
        .await
        .unwrap();
    assert_code(
        s.bank.process(&[update(&s.app, &s.tee, 0, [0; 32], 1)], &[&s.tee]).await,
        AppRootsError::TeeNotAllowed,
    );
    let mut policy = s.trust.app_policy();
    policy.allowed[0].app_id = [1; 32];
    s.bank
        .process(&[roots::set_policy(&publisher, &s.app.address, policy)], &[&s.app.publisher])
        .await
        .unwrap();
    assert_code(
        s.bank.process(&[update(&s.app, &s.tee, 0, [0; 32], 1)], &[&s.tee]).await,
        AppRootsError::TeeNotAllowed,
    );
    // A key that expires sooner than the policy's margin.
    let mut policy = s.trust.app_policy();
    policy.min_key_validity_secs = 365 * 24 * 3600;
    s.bank
        .process(&[roots::set_policy(&publisher, &s.app.address, policy)], &[&s.app.publisher])
        .await
        .unwrap();
    assert_code(
        s.bank.process(&[update(&s.app, &s.tee, 0, [0; 32], 1)], &[&s.tee]).await,
        AppRootsError::KeyValidityTooShort,
    );
    let policy = s.trust.app_policy();
    s.bank
        .process(&[roots::set_policy(&publisher, &s.app.address, policy)], &[&s.app.publisher])
        .await
        .unwrap();
    s.bank.process(&[update(&s.app, &s.tee, 0, [0; 32], 1)], &[&s.tee]).await.expect("allowed again");

    // Revoked by governance.
    let gov = s.trust.governance.pubkey();
    s.bank.process(&[verifier::revoke_tee(&gov, &s.tee.pubkey())], &[&s.trust.governance]).await.unwrap();
    assert_code(
        s.bank.process(&[update(&s.app, &s.tee, 0, root_of("shard-0", 1), 2)], &[&s.tee]).await,
        AppRootsError::TeeRevoked,
    );

    // Expired: a second key, and the clock moved past its registration.
    let second = Keypair::new();
    s.trust.register(&mut s.bank, &second, 1).await.unwrap();
    s.bank.advance_clock(ironroot_bank::dev::DEV_KEY_LIFETIME_SECS + 1).await;
    assert_code(
        s.bank.process(&[update(&s.app, &second, 0, root_of("shard-0", 1), 2)], &[&second]).await,
        AppRootsError::TeeExpired,
    );
    assert_eq!(shard(&mut s.bank, &s.app, 0).await.seq, 1);
}

#[tokio::test]
async fn accounts_of_update_shard_are_checked() {
    let mut s = setup(2).await;
    // Shard 2 of a 2-shard app has no account (init_shard refuses to create it, see
    // `publisher_only_operations_refuse_others`), so the update fails on the missing account.
    assert_anchor(
        s.bank.process(&[update(&s.app, &s.tee, 2, [0; 32], 1)], &[&s.tee]).await,
        ErrorCode::AccountNotInitialized,
    );
    // Account order: tee, tee_entry, app, shard, tree, compression, noop.
    let mut ix = update(&s.app, &s.tee, 0, [0; 32], 1);
    ix.accounts[4].pubkey = Pubkey::new_unique();
    assert_code(s.bank.process(&[ix], &[&s.tee]).await, AppRootsError::WrongTree);
    let mut ix = update(&s.app, &s.tee, 0, [0; 32], 1);
    ix.accounts[6].pubkey = spl_noop_lookalike();
    assert_anchor(s.bank.process(&[ix], &[&s.tee]).await, ErrorCode::InvalidProgramId);
    let mut ix = update(&s.app, &s.tee, 0, [0; 32], 1);
    ix.accounts[5].pubkey = spl_noop::ID;
    assert_anchor(s.bank.process(&[ix], &[&s.tee]).await, ErrorCode::InvalidProgramId);
    // Shard 1's account used for shard 0.
    let mut ix = update(&s.app, &s.tee, 0, [0; 32], 1);
    ix.accounts[3].pubkey = pda::shard(&s.app.address, 1);
    assert_anchor(s.bank.process(&[ix], &[&s.tee]).await, ErrorCode::ConstraintSeeds);

    // A look-alike app account (same data, not at the PDA) pointing at the same tree.
    let mut forged = app_state(&mut s.bank, &s.app).await;
    forged.policy.allowed[0].measurement = [0xAA; 32];
    let mut data = Vec::new();
    forged.try_serialize(&mut data).unwrap();
    let spoofed = Pubkey::new_unique();
    let account = Account { lamports: 10_000_000, data, owner: app_roots::ID, ..Account::default() };
    s.bank.ctx.set_account(&spoofed, &AccountSharedData::from(account.clone()));
    let mut ix = update(&s.app, &s.tee, 0, [0; 32], 1);
    ix.accounts[2].pubkey = spoofed;
    assert_anchor(s.bank.process(&[ix], &[&s.tee]).await, ErrorCode::ConstraintSeeds);
    // The same bytes owned by another program.
    let other_owner = Pubkey::new_unique();
    s.bank.ctx.set_account(
        &other_owner,
        &AccountSharedData::from(Account { owner: Pubkey::new_unique(), ..account }),
    );
    let mut ix = update(&s.app, &s.tee, 0, [0; 32], 1);
    ix.accounts[2].pubkey = other_owner;
    assert_anchor(s.bank.process(&[ix], &[&s.tee]).await, ErrorCode::AccountOwnedByWrongProgram);

    // A CID that is empty.
    let args = UpdateShardArgs {
        shard_id: 0,
        prev_root: [0; 32],
        new_root: [1; 32],
        new_seq: 1,
        manifest_cid: vec![],
    };
    let ix = roots::update_shard(&s.tee.pubkey(), &s.app.address, &s.app.tree, args);
    assert_code(s.bank.process(&[ix], &[&s.tee]).await, AppRootsError::InvalidCid);
    assert_eq!(shard(&mut s.bank, &s.app, 0).await.seq, 0);
}

fn spl_noop_lookalike() -> Pubkey {
    app_roots::ID
}

#[tokio::test]
async fn create_app_validates_shape_size_shards_and_policy() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let publisher = Keypair::new();
    let fund =
        solana_sdk::system_instruction::transfer(&bank.payer().pubkey(), &publisher.pubkey(), 20_000_000_000);
    bank.process(&[fund], &[]).await.unwrap();
    let rent = bank.rent().await;
    let args = |shards: u16, policy: AppPolicy| CreateAppArgs {
        app_id: [3; 32],
        shard_count: shards,
        max_depth: 14,
        max_buffer_size: 64,
        policy,
    };
    let create = |bank: &LocalBank, args: CreateAppArgs, tree: &Keypair| {
        let _ = bank;
        roots::create_app(&publisher.pubkey(), &tree.pubkey(), &rent, args).unwrap()
    };

    // The SDK refuses shapes the program refuses; by hand, the program does too.
    assert_eq!(
        roots::create_app(
            &publisher.pubkey(),
            &Pubkey::new_unique(),
            &rent,
            CreateAppArgs { max_buffer_size: 128, ..args(1, trust.app_policy()) }
        ),
        Err(SdkError::TreeShape(14, 128))
    );
    let tree = Keypair::new();
    let mut ixs = create(&bank, args(1, trust.app_policy()), &tree);
    let mut bad: CreateAppArgs = anchor_lang::AnchorDeserialize::deserialize(&mut &ixs[1].data[8..]).unwrap();
    bad.max_depth = 17;
    bad.max_buffer_size = 256;
    ixs[1].data = anchor_lang::InstructionData::data(&app_roots::instruction::CreateApp { args: bad });
    assert_code(bank.process(&ixs, &[&publisher, &tree]).await, AppRootsError::TreeShapeNotAllowed);

    // A tree account of the wrong size for the shape.
    let tree = Keypair::new();
    let mut ixs = create(&bank, args(1, trust.app_policy()), &tree);
    ixs[0] = solana_sdk::system_instruction::create_account(
        &publisher.pubkey(),
        &tree.pubkey(),
        rent.minimum_balance(4096),
        4096,
        &spl_account_compression::ID,
    );
    assert_code(bank.process(&ixs, &[&publisher, &tree]).await, AppRootsError::TreeSizeMismatch);

    let tree = Keypair::new();
    let ixs = create(&bank, args(0, trust.app_policy()), &tree);
    assert_code(bank.process(&ixs, &[&publisher, &tree]).await, AppRootsError::InvalidShardCount);
    let tree = Keypair::new();
    let empty = AppPolicy { allowed: vec![], ..trust.app_policy() };
    let ixs = create(&bank, args(1, empty), &tree);
    assert_code(bank.process(&ixs, &[&publisher, &tree]).await, AppRootsError::InvalidPolicy);

    // Success, with the costs the SDK predicted; then the same app id again fails.
    let before = bank.ctx.banks_client.get_balance(publisher.pubkey()).await.unwrap();
    let tree = Keypair::new();
    let ixs = create(&bank, args(2, trust.app_policy()), &tree);
    bank.process(&ixs, &[&publisher, &tree]).await.unwrap();
    let cost = creation_cost(&rent, 14, 64, 2).unwrap();
    let tree_account = bank.account(&tree.pubkey()).await.unwrap();
    assert_eq!(tree_account.data.len(), cost.tree_bytes);
    assert_eq!(tree_account.lamports, cost.tree_lamports);
    let app = pda::app(&publisher.pubkey(), &[3; 32]);
    assert_eq!(bank.account(&app).await.unwrap().lamports, cost.app_lamports);
    let record = pda::history_tree(&app, 0);
    assert_eq!(bank.account(&record).await.unwrap().lamports, cost.history_record_lamports);
    let after = bank.ctx.banks_client.get_balance(publisher.pubkey()).await.unwrap();
    assert_eq!(before - after, cost.tree_lamports + cost.app_lamports + cost.history_record_lamports);
    let state = decode_app(&app, &bank.account(&app).await.unwrap()).unwrap();
    assert_eq!(
        (state.creator, state.publisher, state.status),
        (publisher.pubkey(), publisher.pubkey(), AppStatus::Active)
    );
    assert_eq!((state.active_tree, state.active_tree_index, state.active_tree_leaves), (tree.pubkey(), 0, 0));
    let record = roots::decode_history_tree(&record, &bank.account(&record).await.unwrap()).unwrap();
    assert_eq!(
        (record.app, record.index, record.tree, record.first_history_index),
        (app, 0, tree.pubkey(), 0)
    );
    let (root, depth) = onchain_tree_root(&tree_account.data).unwrap();
    assert_eq!((root, depth), (ironroot_sdk::history::empty_node(14), 14));

    let tree2 = Keypair::new();
    let ixs = create(&bank, args(2, trust.app_policy()), &tree2);
    assert_code(bank.process(&ixs, &[&publisher, &tree2]).await, 0u32);
    // A tree that is already initialised cannot back a new app.
    let other_args = CreateAppArgs { app_id: [4; 32], ..args(1, trust.app_policy()) };
    let reuse = roots::create_app(&publisher.pubkey(), &tree.pubkey(), &rent, other_args).unwrap();
    assert!(bank.process(&reuse[1..], &[&publisher]).await.is_err());
    assert!(bank.account(&pda::app(&publisher.pubkey(), &[4; 32])).await.is_none());
}

#[tokio::test]
async fn publisher_only_operations_refuse_others() {
    let mut s = setup(2).await;
    let outsider = Keypair::new();
    let fund =
        solana_sdk::system_instruction::transfer(&s.bank.payer().pubkey(), &outsider.pubkey(), 1_000_000_000);
    s.bank.process(&[fund], &[]).await.unwrap();
    let policy = s.trust.app_policy();
    assert_code(
        s.bank.process(&[roots::set_policy(&outsider.pubkey(), &s.app.address, policy)], &[&outsider]).await,
        AppRootsError::NotPublisher,
    );
    assert_code(
        s.bank.process(&[roots::begin_close(&outsider.pubkey(), &s.app.address)], &[&outsider]).await,
        AppRootsError::NotPublisher,
    );
    assert_code(
        s.bank
            .process(
                &[roots::propose_publisher(&outsider.pubkey(), &s.app.address, outsider.pubkey())],
                &[&outsider],
            )
            .await,
        AppRootsError::NotPublisher,
    );
    // A second app whose shards are not initialised yet: an outsider cannot create them.
    let tree = Keypair::new();
    let rent = s.bank.rent().await;
    let args = CreateAppArgs {
        app_id: [8; 32],
        shard_count: 2,
        max_depth: 14,
        max_buffer_size: 64,
        policy: s.trust.app_policy(),
    };
    let ixs = roots::create_app(&s.app.publisher.pubkey(), &tree.pubkey(), &rent, args).unwrap();
    s.bank.process(&ixs, &[&s.app.publisher, &tree]).await.unwrap();
    let second = pda::app(&s.app.publisher.pubkey(), &[8; 32]);
    assert_code(
        s.bank.process(&[roots::init_shard(&outsider.pubkey(), &second, 0)], &[&outsider]).await,
        AppRootsError::NotPublisher,
    );
    assert!(s.bank.account(&pda::shard(&second, 0)).await.is_none());
    let publisher = s.app.publisher.pubkey();
    assert_code(
        s.bank.process(&[roots::init_shard(&publisher, &s.app.address, 2)], &[&s.app.publisher]).await,
        AppRootsError::ShardOutOfRange,
    );
    for bad in [
        AppPolicy { allowed: vec![], ..s.trust.app_policy() },
        AppPolicy { max_tcb_status: 6, ..s.trust.app_policy() },
        AppPolicy { allowed: vec![s.trust.app_policy().allowed[0]; 2], ..s.trust.app_policy() },
        AppPolicy { blocked_keys: vec![Pubkey::new_unique(); 5], ..s.trust.app_policy() },
    ] {
        assert_code(
            s.bank.process(&[roots::set_policy(&publisher, &s.app.address, bad)], &[&s.app.publisher]).await,
            AppRootsError::InvalidPolicy,
        );
    }
}

#[tokio::test]
async fn close_shards_checks_its_accounts_and_returns_the_rent() {
    let mut s = setup(3).await;
    s.bank.process(&[update(&s.app, &s.tee, 1, [0; 32], 1)], &[&s.tee]).await.unwrap();
    let publisher = s.app.publisher.pubkey();
    // Not closing yet: nobody may close shards.
    assert_code(
        s.bank.process(&[roots::close_shards(&s.app.address, &publisher, &[0])], &[]).await,
        AppRootsError::AppNotClosing,
    );
    s.bank.process(&[roots::begin_close(&publisher, &s.app.address)], &[&s.app.publisher]).await.unwrap();
    assert_eq!(app_state(&mut s.bank, &s.app).await.status, AppStatus::Closing);
    // Closing stops updates, new shards and policy changes.
    assert_code(
        s.bank.process(&[update(&s.app, &s.tee, 1, root_of("shard-1", 1), 2)], &[&s.tee]).await,
        AppRootsError::AppNotActive,
    );
    assert_code(
        s.bank
            .process(
                &[roots::set_policy(&publisher, &s.app.address, s.trust.app_policy())],
                &[&s.app.publisher],
            )
            .await,
        AppRootsError::AppNotActive,
    );
    // Rent goes to the publisher only; duplicates and foreign accounts are refused.
    let thief = Pubkey::new_unique();
    assert_code(
        s.bank.process(&[roots::close_shards(&s.app.address, &thief, &[0])], &[]).await,
        AppRootsError::NotPublisher,
    );
    assert_code(
        s.bank.process(&[roots::close_shards(&s.app.address, &publisher, &[0, 0])], &[]).await,
        AppRootsError::ShardAccountsMismatch,
    );
    let mut wrong = roots::close_shards(&s.app.address, &publisher, &[0]);
    wrong.accounts[2].pubkey = s.app.address;
    assert!(s.bank.process(&[wrong], &[]).await.is_err());

    let app_rent = s.bank.account(&s.app.address).await.unwrap().lamports;
    let mut reclaimed = 0;
    for id in 0..3 {
        reclaimed += s.bank.account(&pda::shard(&s.app.address, id)).await.unwrap().lamports;
    }
    let before = s.bank.ctx.banks_client.get_balance(publisher).await.unwrap();
    // Anyone may crank (only the bank's payer signs), in two batches.
    s.bank.process(&[roots::close_shards(&s.app.address, &publisher, &[2, 0])], &[]).await.unwrap();
    let mid = app_state(&mut s.bank, &s.app).await;
    assert_eq!((mid.status, mid.open_shards), (AppStatus::Closing, 1));
    s.bank.process(&[roots::close_shards(&s.app.address, &publisher, &[1])], &[]).await.unwrap();
    let after = s.bank.ctx.banks_client.get_balance(publisher).await.unwrap();
    assert_eq!(after - before, reclaimed);
    for id in 0..3 {
        assert!(s.bank.account(&pda::shard(&s.app.address, id)).await.is_none());
    }
    // The app stays as a tombstone, keeping exactly its rent; the history tree stays too.
    let tomb = app_state(&mut s.bank, &s.app).await;
    assert_eq!((tomb.status, tomb.open_shards, tomb.history_len), (AppStatus::Closed, 0, 1));
    assert!(tomb.closed_slot > 0);
    assert_eq!(s.bank.account(&s.app.address).await.unwrap().lamports, app_rent);
    assert!(s.bank.account(&s.app.tree).await.is_some());
}

#[tokio::test]
async fn history_proofs_verify_old_updates_and_reject_forgeries() {
    let mut s = setup(3).await;
    let mut mirror = HistoryMirror::new(s.app.address, s.app.tree, 0, SHAPE.0);
    for round in 0..4u64 {
        for shard_id in 0..3u16 {
            advance(&mut s, &mut mirror, shard_id, 1 + (round + shard_id as u64) % 2).await;
        }
    }
    let onchain = onchain_root(&mut s.bank, &s.app).await;
    assert_eq!(mirror.root(), onchain);
    assert_eq!(mirror.len(), app_state(&mut s.bank, &s.app).await.history_len);

    for index in [0, 1, mirror.len() / 2, mirror.len() - 1] {
        let proof = mirror.proof(index).unwrap();
        assert!(proof.verify(&onchain), "proof of leaf {index}");
        // Claiming another root, seq, shard or slot for the same leaf fails.
        assert!(!ironroot_sdk::history::HistoryProof { root: [0xEE; 32], ..proof.clone() }.verify(&onchain));
        assert!(!ironroot_sdk::history::HistoryProof { seq: proof.seq + 1, ..proof.clone() }.verify(&onchain));
        assert!(!ironroot_sdk::history::HistoryProof { shard_id: proof.shard_id ^ 1, ..proof.clone() }
            .verify(&onchain));
        assert!(!ironroot_sdk::history::HistoryProof { leaf_index: proof.leaf_index ^ 1, ..proof.clone() }
            .verify(&onchain));
    }
    // The first update of shard 1 was at seq 1: provable as such.
    let first_of_shard_1 =
        (0..mirror.len()).map(|i| mirror.proof(i).unwrap()).find(|p| p.shard_id == 1).unwrap();
    assert_eq!((first_of_shard_1.seq, first_of_shard_1.root), (1, root_of("shard-1", 1)));
    assert!(first_of_shard_1.verify(&onchain));

    // A forged record (a root the shard never had, leaf recomputed or not) does not enter the mirror.
    let mut forged = mirror.clone();
    let latest = mirror.latest(0).unwrap().clone();
    let tampered =
        ShardUpdated { leaf_index: mirror.len(), seq: latest.seq + 1, root: [0xAB; 32], ..latest.clone() };
    assert_eq!(forged.push(tampered), Err(SdkError::ForgedHistoryRecord { seq: latest.seq + 1 }));
    // With a self-consistent leaf it enters the mirror, but then the mirror no longer matches the chain.
    let leaf = app_roots::history::history_leaf(
        &latest.app,
        &latest.tree,
        0,
        latest.seq + 1,
        &[0xAB; 32],
        &latest.manifest_cid,
        latest.slot,
    );
    forged
        .push(ShardUpdated {
            leaf_index: mirror.len(),
            seq: latest.seq + 1,
            root: [0xAB; 32],
            leaf,
            ..latest
        })
        .unwrap();
    assert_ne!(forged.root(), onchain);
    assert!(!forged.proof(forged.len() - 1).unwrap().verify(&onchain));
}

#[tokio::test]
async fn update_shard_stays_well_under_the_packet_limit_for_every_tree_shape() {
    let costs = ironroot_bank::costs::measure().await.unwrap();
    assert_eq!(costs.len(), app_roots::ALLOWED_TREE_SHAPES.len());
    for c in costs {
        // Headroom for a compute-budget instruction and a priority fee on a real cluster.
        assert!(c.update_tx_bytes <= PACKET_DATA_SIZE * 3 / 4, "{c:?}");
        assert!(c.tree_bytes == app_roots::tree_account_size(c.max_depth, c.max_buffer_size));
    }
}
