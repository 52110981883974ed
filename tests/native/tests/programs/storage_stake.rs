//! `storage_stake`: stake, challenges answered with JMT proofs against the live shard root,
//! slashing, corruption reports, payment with a grace period and retrieval requests — with real
//! SPL Token / Token-2022 transfers, real jmt trees and the clock moved by the test.
use anchor_lang::error::ErrorCode;
use anchor_spl::token_2022::spl_token_2022;
use anchor_spl::token_2022::spl_token_2022::extension::StateWithExtensions;
use app_roots::error::AppRootsError;
use app_roots::UpdateShardArgs;
use attestation_verifier::{AllowedTee, AppIdentity, TcbStatus};
use ironroot_bank::dev::{DevApp, DevTrust};
use ironroot_bank::LocalBank;
use ironroot_sdk::app_roots as roots;
use ironroot_sdk::attestation::{self, StatementFields};
use ironroot_sdk::storage_stake::{self as ss, Parties, TokenSetup};
use ironroot_sdk::{pda, transaction_size, verifier, PACKET_DATA_SIZE};
use solana_program_test::BanksClientError;
use solana_sdk::hash::hashv;
use solana_sdk::instruction::Instruction;
use solana_sdk::program_pack::Pack;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::system_instruction;
use storage_stake::error::StakeError;
use storage_stake::{
    AnswerChallengeArgs, AnswerRetrievalArgs, Challenge, ChallengeKind, LeafProof, ProviderStake,
    StakeStatus, StakeTerms, TermsParams,
};

use crate::common::*;
use crate::shard_tree::ShardTree;

const SHAPE: (u32, u32) = (14, 64);
const DAY: i64 = 24 * 3600;
const STAKE: u64 = 1_000_000;
const BOND: u64 = 50_000_000;

fn terms() -> TermsParams {
    TermsParams {
        min_stake: 500_000,
        answer_window_secs: 2 * DAY,
        recovery_window_secs: 3 * DAY,
        retrieval_window_secs: DAY,
        unstake_cooldown_secs: 7 * DAY,
        slash_to_publisher_bps: 8_000,
        corruption_refund_bps: 2_500,
        challenge_bond_lamports: BOND,
        bond_to_provider_on_answer: true,
        challenge_interval_secs: DAY,
        payment_per_epoch: 1_000,
        epoch_secs: DAY,
        grace_secs: 5 * DAY,
    }
}

fn code(e: StakeError) -> u32 {
    e.into()
}

fn roots_code(e: AppRootsError) -> u32 {
    e.into()
}

/// One app with `shards` shards, one provider with a bound TEE key and a stake, and the shard
/// trees the provider keeps (shard 0 holds `records` records; the others stay empty).
struct World {
    trust: DevTrust,
    bank: LocalBank,
    app: DevApp,
    tee: Keypair,
    provider: Keypair,
    token: TokenSetup,
    provider_token: Pubkey,
    publisher_token: Pubkey,
    trees: Vec<ShardTree>,
}

async fn create_mint(bank: &mut LocalBank, token_program: Pubkey) -> Pubkey {
    let mint = Keypair::new();
    let rent = bank.rent().await;
    let payer = bank.payer().pubkey();
    let ixs = [
        system_instruction::create_account(
            &payer,
            &mint.pubkey(),
            rent.minimum_balance(spl_token_2022::state::Mint::LEN),
            spl_token_2022::state::Mint::LEN as u64,
            &token_program,
        ),
        spl_token_2022::instruction::initialize_mint2(&token_program, &mint.pubkey(), &payer, None, 6)
            .unwrap(),
    ];
    bank.process(&ixs, &[&mint]).await.expect("mint created");
    mint.pubkey()
}

async fn create_token_account(
    bank: &mut LocalBank,
    token: TokenSetup,
    owner: &Pubkey,
    amount: u64,
) -> Pubkey {
    let account = Keypair::new();
    let rent = bank.rent().await;
    let payer = bank.payer().pubkey();
    let mut ixs = vec![
        system_instruction::create_account(
            &payer,
            &account.pubkey(),
            rent.minimum_balance(spl_token_2022::state::Account::LEN),
            spl_token_2022::state::Account::LEN as u64,
            &token.token_program,
        ),
        spl_token_2022::instruction::initialize_account3(
            &token.token_program,
            &account.pubkey(),
            &token.mint,
            owner,
        )
        .unwrap(),
    ];
    if amount > 0 {
        ixs.push(
            spl_token_2022::instruction::mint_to(
                &token.token_program,
                &token.mint,
                &account.pubkey(),
                &payer,
                &[],
                amount,
            )
            .unwrap(),
        );
    }
    bank.process(&ixs, &[&account]).await.expect("token account created");
    account.pubkey()
}

async fn balance(bank: &mut LocalBank, account: &Pubkey) -> u64 {
    let data = bank.account(account).await.expect("token account exists").data;
    StateWithExtensions::<spl_token_2022::state::Account>::unpack(&data).unwrap().base.amount
}

async fn supply(bank: &mut LocalBank, mint: &Pubkey) -> u64 {
    let data = bank.account(mint).await.expect("mint exists").data;
    StateWithExtensions::<spl_token_2022::state::Mint>::unpack(&data).unwrap().base.supply
}

async fn lamports(bank: &mut LocalBank, address: &Pubkey) -> u64 {
    bank.account(address).await.map_or(0, |a| a.lamports)
}

async fn fund_sol(bank: &mut LocalBank, to: &Pubkey) {
    let ix = system_instruction::transfer(&bank.payer().pubkey(), to, 10_000_000_000);
    bank.process(&[ix], &[]).await.unwrap();
}

impl World {
    async fn bal(&mut self, account: Pubkey) -> u64 {
        balance(&mut self.bank, &account).await
    }

    async fn lam(&mut self, address: Pubkey) -> u64 {
        lamports(&mut self.bank, &address).await
    }

    async fn sup(&mut self, mint: Pubkey) -> u64 {
        supply(&mut self.bank, &mint).await
    }

    async fn new(token_program: Pubkey, shards: u16, records: usize) -> World {
        Self::with_terms(token_program, shards, records, terms()).await
    }

    async fn with_terms(token_program: Pubkey, shards: u16, records: usize, params: TermsParams) -> World {
        let (trust, mut bank) = trusted_bank(1, 1).await;
        let app = trust.create_app(&mut bank, [9; 32], shards, SHAPE).await.expect("app created");
        let tee = Keypair::new();
        trust.register(&mut bank, &tee, 1).await.expect("tee registered");
        let provider = Keypair::new();
        fund_sol(&mut bank, &provider.pubkey()).await;
        let mint = create_mint(&mut bank, token_program).await;
        let token = TokenSetup { mint, token_program };
        let provider_token = create_token_account(&mut bank, token, &provider.pubkey(), 10 * STAKE).await;
        let publisher_token =
            create_token_account(&mut bank, token, &app.publisher.pubkey(), 10 * STAKE).await;
        let mut w = World {
            trust,
            bank,
            app,
            tee,
            provider,
            token,
            provider_token,
            publisher_token,
            trees: (0..shards).map(|_| ShardTree::new()).collect(),
        };
        let publisher = w.app.publisher.insecure_clone();
        w.process(&[ss::init_terms(&publisher.pubkey(), &w.app.address, token, params)], &[&publisher])
            .await
            .expect("terms");
        let p = w.provider.insecure_clone();
        let tee = w.tee.insecure_clone();
        w.process(&[ss::open_stake(&p.pubkey(), &w.app.address, token)], &[&p]).await.expect("open stake");
        w.process(&[ss::bind_tee(&p.pubkey(), &tee.pubkey(), &w.app.address)], &[&p, &tee])
            .await
            .expect("bind");
        w.process(&[w.stake_ix(STAKE)], &[&p]).await.expect("stake");
        if records > 0 {
            w.trees[0].put_many("record", records);
            w.commit_root(0).await;
        }
        w
    }

    async fn process(&mut self, ixs: &[Instruction], signers: &[&Keypair]) -> Result<(), BanksClientError> {
        self.bank.process(ixs, signers).await
    }

    fn stake_address(&self) -> Pubkey {
        pda::provider_stake(&self.app.address, &self.provider.pubkey())
    }

    fn stake_ix(&self, amount: u64) -> Instruction {
        ss::stake(&self.provider.pubkey(), &self.app.address, &self.provider_token, self.token, amount)
    }

    fn parties(&self) -> Parties {
        Parties {
            publisher: self.app.publisher.pubkey(),
            publisher_token: self.publisher_token,
            provider: self.provider.pubkey(),
            provider_token: self.provider_token,
        }
    }

    fn shard_addresses(&self) -> Vec<Pubkey> {
        (0..self.app.shard_count).map(|id| pda::shard(&self.app.address, id)).collect()
    }

    /// The TEE commits shard `id`'s current tree root on-chain (one `update_shard`).
    async fn commit_root(&mut self, id: u16) {
        let address = pda::shard(&self.app.address, id);
        let shard = roots::decode_shard(&address, &self.bank.account(&address).await.unwrap()).unwrap();
        let args = UpdateShardArgs {
            shard_id: id,
            prev_root: shard.root,
            new_root: self.trees[id as usize].root,
            new_seq: shard.seq + 1,
            manifest_cid: vec![0x01, 0x55, 0x12, 0x20].into_iter().chain([shard.seq as u8; 32]).collect(),
        };
        let tee = self.tee.insecure_clone();
        let ix = roots::update_shard(&tee.pubkey(), &self.app.address, &self.app.tree, args);
        self.process(&[ix], &[&tee]).await.expect("shard update");
    }

    async fn state(&mut self) -> ProviderStake {
        let address = self.stake_address();
        ss::decode_stake(&address, &self.bank.account(&address).await.expect("stake exists")).unwrap()
    }

    async fn terms_state(&mut self) -> StakeTerms {
        let address = pda::stake_terms(&self.app.address);
        ss::decode_terms(&address, &self.bank.account(&address).await.expect("terms exist")).unwrap()
    }

    async fn challenge(&mut self) -> Challenge {
        self.state().await.challenge.expect("a challenge is open")
    }

    async fn open_challenge(&mut self) -> Result<(), BanksClientError> {
        let publisher = self.app.publisher.insecure_clone();
        let ix = ss::open_challenge(
            &publisher.pubkey(),
            &self.app.address,
            &self.provider.pubkey(),
            &self.shard_addresses(),
        );
        self.process(&[ix], &[&publisher]).await
    }

    /// What an honest TEE answers to the open challenge, from the trees as they are now.
    async fn honest_answer(&mut self) -> AnswerChallengeArgs {
        let challenge = self.challenge().await;
        let tree = &self.trees[challenge.shard_id as usize];
        let proof = tree.prove_target(&challenge.point);
        AnswerChallengeArgs { possession_tag: tree.tag(&challenge.nonce, &proof.key_hash), proof }
    }

    fn answer_ix_by(&self, tee: &Keypair, shard_id: u16, args: AnswerChallengeArgs) -> Instruction {
        let shard = pda::shard(&self.app.address, shard_id);
        ss::answer_challenge(&tee.pubkey(), &self.app.address, &self.provider.pubkey(), &shard, args)
    }

    async fn answer_by(&mut self, tee: &Keypair, args: AnswerChallengeArgs) -> Result<(), BanksClientError> {
        let shard_id = self.challenge().await.shard_id;
        let ix = self.answer_ix_by(tee, shard_id, args);
        self.process(&[ix], &[tee]).await
    }

    async fn answer(&mut self, args: AnswerChallengeArgs) -> Result<(), BanksClientError> {
        let tee = self.tee.insecure_clone();
        self.answer_by(&tee, args).await
    }

    async fn slash(&mut self) -> Result<(), BanksClientError> {
        let ix = ss::slash(&self.app.address, self.parties(), self.token);
        self.process(&[ix], &[]).await
    }

    async fn fund(&mut self, amount: u64) -> Result<(), BanksClientError> {
        let publisher = self.app.publisher.insecure_clone();
        let ix = ss::fund(
            &publisher.pubkey(),
            &self.app.address,
            &self.provider.pubkey(),
            &self.publisher_token,
            self.token,
            amount,
        );
        self.process(&[ix], &[&publisher]).await
    }

    async fn claim(&mut self) -> Result<(), BanksClientError> {
        let p = self.provider.insecure_clone();
        let ix = ss::claim_payment(&p.pubkey(), &self.app.address, &self.provider_token, self.token);
        self.process(&[ix], &[&p]).await
    }

    async fn request_unstake(&mut self) -> Result<(), BanksClientError> {
        let p = self.provider.insecure_clone();
        self.process(&[ss::request_unstake(&p.pubkey(), &self.app.address)], &[&p]).await
    }

    async fn withdraw(&mut self) -> Result<(), BanksClientError> {
        let p = self.provider.insecure_clone();
        let ix = ss::withdraw(&self.app.address, self.parties(), self.token);
        self.process(&[ix], &[&p]).await
    }

    async fn request_retrieval(&mut self, shard_id: u16) -> Result<(), BanksClientError> {
        let publisher = self.app.publisher.insecure_clone();
        let shard = pda::shard(&self.app.address, shard_id);
        let ix = ss::request_retrieval(
            &publisher.pubkey(),
            &self.app.address,
            &self.provider.pubkey(),
            &shard,
            shard_id,
        );
        self.process(&[ix], &[&publisher]).await
    }

    async fn answer_retrieval(&mut self, shard_id: u16, root: [u8; 32]) -> Result<(), BanksClientError> {
        let tee = self.tee.insecure_clone();
        let shard = pda::shard(&self.app.address, shard_id);
        let args = AnswerRetrievalArgs { export_cid: vec![0x01, 0x70, 0x12, 0x20, 7, 7, 7], root };
        let ix =
            ss::answer_retrieval(&tee.pubkey(), &self.app.address, &self.provider.pubkey(), &shard, args);
        self.process(&[ix], &[&tee]).await
    }

    fn vault(&self) -> Pubkey {
        pda::stake_vault(&self.stake_address())
    }

    fn escrow(&self) -> Pubkey {
        pda::stake_escrow(&self.stake_address())
    }
}

fn spl_token_id() -> Pubkey {
    anchor_spl::token::ID
}

fn token_2022_id() -> Pubkey {
    spl_token_2022::ID
}

/// The honest path with either token program: stake, challenge (bond), answer, bond to the provider.
async fn challenge_round_trip(token_program: Pubkey) {
    let mut w = World::new(token_program, 2, 300).await;
    let stake = w.state().await;
    assert_eq!(
        (stake.amount, stake.status, stake.tee_keys.clone()),
        (STAKE, StakeStatus::Active, vec![w.tee.pubkey()])
    );
    assert_eq!(w.bal(w.vault()).await, STAKE);
    assert_eq!(w.bal(w.provider_token).await, 9 * STAKE);

    let publisher = w.app.publisher.pubkey();
    let before = lamports(&mut w.bank, &publisher).await;
    let stake_before = w.lam(w.stake_address()).await;
    w.open_challenge().await.unwrap();
    let challenge = w.challenge().await;
    // Shard 1 is empty: the draw always lands on shard 0, which holds data.
    assert_eq!((challenge.kind, challenge.shard_id, challenge.opened_seq), (ChallengeKind::Publisher, 0, 1));
    assert_eq!(challenge.opened_root, w.trees[0].root);
    assert_eq!(challenge.bond_lamports, BOND);
    // The target is the slot hash's: recompute it from the sysvar entry the challenge names.
    let slot_hashes = w.bank.account(&solana_sdk::sysvar::slot_hashes::ID).await.unwrap();
    let entries: solana_sdk::slot_hashes::SlotHashes = bincode::deserialize(&slot_hashes.data).unwrap();
    let hash = entries.get(&challenge.source_slot).expect("source slot is recent").to_bytes();
    let target = storage_stake::target::derive_target(&hash, &w.stake_address(), 0, 2);
    assert_eq!((challenge.point, challenge.nonce), (target.point, target.nonce));
    assert_eq!(w.lam(w.stake_address()).await, stake_before + BOND);
    assert!(lamports(&mut w.bank, &publisher).await <= before - BOND);

    let args = w.honest_answer().await;
    assert_eq!(args.proof.key_hash, ss::select_leaf_by_keys(&challenge.point, &w.trees[0].keys).unwrap());
    w.answer(args).await.unwrap();
    let after = w.state().await;
    assert_eq!(after.challenge, None);
    assert_eq!(after.provider_bond_credit, BOND);
    assert_eq!(after.status, StakeStatus::Active);

    let provider_before = w.lam(w.provider.pubkey()).await;
    w.claim().await.unwrap();
    assert_eq!(w.lam(w.provider.pubkey()).await, provider_before + BOND);
    assert_eq!(w.lam(w.stake_address()).await, stake_before);
    assert_eq!(w.state().await.provider_bond_credit, 0);
}

#[tokio::test]
async fn challenge_answered_with_spl_token() {
    challenge_round_trip(spl_token_id()).await;
}

#[tokio::test]
async fn challenge_answered_with_token_2022() {
    challenge_round_trip(token_2022_id()).await;
}

/// Unanswered → slashed after the deadline, not before; the split, the burn, the bond and the
/// escrow go where the terms say; a slashed provider can do nothing more.
async fn unanswered_challenge_is_slashed(token_program: Pubkey) {
    let mut w = World::new(token_program, 1, 50).await;
    w.fund(10_000).await.unwrap();
    w.open_challenge().await.unwrap();
    let args = w.honest_answer().await;
    assert_code(w.slash().await, code(StakeError::SlashTooEarly));
    w.bank.advance_clock(2 * DAY + 1).await;
    assert_code(w.answer(args.clone()).await, code(StakeError::DeadlinePassed));

    let publisher = w.app.publisher.pubkey();
    let publisher_sol = lamports(&mut w.bank, &publisher).await;
    let publisher_tokens = w.bal(w.publisher_token).await;
    let supply_before = w.sup(w.token.mint).await;
    w.slash().await.unwrap();
    let to_publisher = STAKE * 8_000 / 10_000;
    assert_eq!(w.bal(w.publisher_token).await, publisher_tokens + to_publisher + 10_000);
    assert_eq!(w.sup(w.token.mint).await, supply_before - (STAKE - to_publisher));
    assert_eq!(w.bal(w.vault()).await, 0);
    assert_eq!(w.bal(w.escrow()).await, 0);
    assert_eq!(lamports(&mut w.bank, &publisher).await, publisher_sol + BOND);
    let state = w.state().await;
    assert_eq!((state.status, state.amount, state.challenge), (StakeStatus::Slashed, 0, None));

    assert_code(w.slash().await, code(StakeError::Slashed));
    let tee = w.tee.insecure_clone();
    let answer = w.answer_ix_by(&tee, 0, args);
    assert_code(w.process(&[answer], &[&tee]).await, code(StakeError::Slashed));
    assert_code(w.request_unstake().await, code(StakeError::Slashed));
    assert_code(w.withdraw().await, code(StakeError::Slashed));
    assert_code(w.open_challenge().await, code(StakeError::Slashed));
    assert_code(
        w.process(&[w.stake_ix(10)], &[&w.provider.insecure_clone()]).await,
        code(StakeError::Slashed),
    );
}

#[tokio::test]
async fn unanswered_challenge_is_slashed_with_spl_token() {
    unanswered_challenge_is_slashed(spl_token_id()).await;
}

#[tokio::test]
async fn unanswered_challenge_is_slashed_with_token_2022() {
    unanswered_challenge_is_slashed(token_2022_id()).await;
}

#[tokio::test]
async fn answer_uses_the_live_root() {
    let mut w = World::new(spl_token_id(), 1, 200).await;
    w.open_challenge().await.unwrap();
    let stale = w.honest_answer().await;
    // The shard moves on after the challenge opened.
    w.trees[0].put_many("later", 40);
    w.commit_root(0).await;
    let challenge = w.challenge().await;
    assert_eq!(challenge.opened_seq, 1, "the challenge keeps the state it was opened against");
    assert_code(w.answer(stale).await, code(StakeError::ProofRootMismatch));
    let live = w.honest_answer().await;
    w.answer(live.clone()).await.unwrap();
    assert_eq!(w.state().await.challenge, None);
    // Double answer.
    assert_code(w.answer_by_shard(0, live).await, code(StakeError::NoOpenChallenge));
}

impl World {
    async fn answer_by_shard(
        &mut self,
        shard_id: u16,
        args: AnswerChallengeArgs,
    ) -> Result<(), BanksClientError> {
        let tee = self.tee.insecure_clone();
        let ix = self.answer_ix_by(&tee, shard_id, args);
        self.process(&[ix], &[&tee]).await
    }
}

#[tokio::test]
async fn forged_and_misdirected_proofs_are_rejected() {
    let mut w = World::new(spl_token_id(), 1, 300).await;
    w.open_challenge().await.unwrap();
    let honest = w.honest_answer().await;

    // A valid proof of another leaf: right root, wrong target.
    let other = *w.trees[0].keys.iter().find(|k| **k != honest.proof.key_hash).unwrap();
    let mut misdirected = honest.clone();
    misdirected.proof = w.trees[0].prove_leaf(&other);
    assert_code(w.answer(misdirected).await, code(StakeError::TargetMismatch));

    // A tampered sibling or value: the root does not match.
    let mut tampered = honest.clone();
    tampered.proof.siblings[0][0] ^= 1;
    assert_code(w.answer(tampered).await, code(StakeError::ProofRootMismatch));
    let mut tampered = honest.clone();
    tampered.proof.value_hash[5] ^= 1;
    assert_code(w.answer(tampered).await, code(StakeError::ProofRootMismatch));

    // Claiming a non-empty sibling is empty changes the shape: bitmap and hashes disagree.
    let mut malformed = honest.clone();
    malformed.proof.siblings.pop();
    assert_code(w.answer(malformed).await, code(StakeError::ProofMalformed));
    let mut malformed = honest.clone();
    malformed.proof.depth = 300;
    assert_code(w.answer(malformed).await, code(StakeError::ProofMalformed));
    let mut malformed = honest.clone();
    malformed.proof.empty_siblings.push(0);
    assert_code(w.answer(malformed).await, code(StakeError::ProofMalformed));

    // The right proof against the wrong shard account (another app's shard would fail the same way).
    let mut w2 = World::new(spl_token_id(), 2, 100).await;
    w2.trees[1].put_many("one", 10);
    w2.commit_root(1).await;
    w2.open_challenge().await.unwrap();
    let c = w2.challenge().await;
    let answer = w2.honest_answer().await;
    assert_code(w2.answer_by_shard(1 - c.shard_id, answer.clone()).await, code(StakeError::ShardMismatch));
    w2.answer_by_shard(c.shard_id, answer).await.unwrap();

    w.answer(honest).await.unwrap();
}

#[tokio::test]
async fn only_bound_valid_allowed_tee_keys_answer() {
    let mut w = World::new(spl_token_id(), 1, 100).await;
    w.open_challenge().await.unwrap();
    let honest = w.honest_answer().await;

    // Registered and allowed, but not bound to this provider.
    let stranger = Keypair::new();
    w.trust.register(&mut w.bank, &stranger, 1).await.unwrap();
    assert_code(w.answer_by(&stranger, honest.clone()).await, code(StakeError::TeeNotBound));
    // A provider cannot bind a TEE key without that key's signature; nor a key it does not own.
    let p = w.provider.insecure_clone();
    let mut bind = ss::bind_tee(&p.pubkey(), &stranger.pubkey(), &w.app.address);
    bind.accounts[1].is_signer = false;
    assert_anchor(w.process(&[bind], &[&p]).await, ErrorCode::AccountNotSigner);
    // A never-registered key has no registry entry.
    let unregistered = Keypair::new();
    let bind = ss::bind_tee(&p.pubkey(), &unregistered.pubkey(), &w.app.address);
    assert_anchor(w.process(&[bind], &[&p, &unregistered]).await, ErrorCode::AccountNotInitialized);

    // A key registered for another app identity is not allowed by this app's policy.
    let other_app = AppIdentity { app_id: [0xEE; 32], compose_hash: [0xEF; 32] };
    let gov = w.trust.governance.insecure_clone();
    let pair = AllowedTee {
        measurement: w.trust.measurement,
        app: other_app,
        max_tcb_status: TcbStatus::SwHardeningNeeded as u8,
    };
    w.process(&[verifier::add_allowed(&gov.pubkey(), pair)], &[&gov]).await.unwrap();
    let foreign = Keypair::new();
    let now = w.bank.clock().await.unix_timestamp;
    let template = w.trust.statement(&w.bank, &foreign, 1, now);
    let statement = attestation::statement(StatementFields {
        cluster_genesis_hash: template.cluster_genesis_hash,
        tee_pubkey: foreign.pubkey(),
        app_id: other_app.app_id,
        compose_hash: other_app.compose_hash,
        measurement: template.measurement,
        tcb_status: template.tcb_status,
        quote_hash: template.quote_hash,
        nonce: 1,
        verified_at: now,
        expires_at: template.expires_at,
    });
    let ixs = w.trust.registration(&w.bank, &statement);
    w.process(&ixs, &[&foreign]).await.expect("foreign key registered");
    let bind = ss::bind_tee(&p.pubkey(), &foreign.pubkey(), &w.app.address);
    assert_code(w.process(&[bind], &[&p, &foreign]).await, roots_code(AppRootsError::TeeNotAllowed));

    // A second bound key works, until governance revokes it.
    let second = Keypair::new();
    w.trust.register(&mut w.bank, &second, 1).await.unwrap();
    w.process(&[ss::bind_tee(&p.pubkey(), &second.pubkey(), &w.app.address)], &[&p, &second]).await.unwrap();
    assert_eq!(w.state().await.tee_keys, vec![w.tee.pubkey(), second.pubkey()]);
    w.process(&[verifier::revoke_tee(&gov.pubkey(), &second.pubkey())], &[&gov]).await.unwrap();
    assert_code(w.answer_by(&second, honest.clone()).await, roots_code(AppRootsError::TeeRevoked));

    // The publisher stops allowing the bound key's identity: its answers stop counting.
    let publisher = w.app.publisher.insecure_clone();
    let mut strict = w.trust.app_policy();
    strict.allowed[0].app_id = other_app.app_id;
    strict.allowed[0].compose_hash = other_app.compose_hash;
    let loose = w.trust.app_policy();
    w.process(&[roots::set_policy(&publisher.pubkey(), &w.app.address, strict)], &[&publisher])
        .await
        .unwrap();
    assert_code(w.answer(honest.clone()).await, roots_code(AppRootsError::TeeNotAllowed));
    w.process(&[roots::set_policy(&publisher.pubkey(), &w.app.address, loose)], &[&publisher]).await.unwrap();

    // Unbinding: the provider alone can.
    w.process(&[ss::unbind_tee(&p.pubkey(), &w.app.address, &second.pubkey())], &[&p]).await.unwrap();
    assert_eq!(w.state().await.tee_keys, vec![w.tee.pubkey()]);
    w.answer(honest).await.unwrap();
}

#[tokio::test]
async fn expired_tee_key_cannot_answer() {
    let mut w =
        World::with_terms(spl_token_id(), 1, 50, TermsParams { answer_window_secs: 60 * DAY, ..terms() })
            .await;
    w.open_challenge().await.unwrap();
    let honest = w.honest_answer().await;
    w.bank.advance_clock(ironroot_bank::dev::DEV_KEY_LIFETIME_SECS + 1).await;
    assert_code(w.answer(honest).await, roots_code(AppRootsError::TeeExpired));
}

#[tokio::test]
async fn wrong_signers_owners_and_pdas_are_rejected() {
    let mut w = World::new(spl_token_id(), 1, 50).await;
    let mallory = Keypair::new();
    fund_sol(&mut w.bank, &mallory.pubkey()).await;

    // Not the publisher: challenge, fund, retrieval, terms.
    let ix =
        ss::open_challenge(&mallory.pubkey(), &w.app.address, &w.provider.pubkey(), &w.shard_addresses());
    assert_code(w.process(&[ix], &[&mallory]).await, code(StakeError::NotPublisher));
    let mallory_token = create_token_account(&mut w.bank, w.token, &mallory.pubkey(), 1000).await;
    let ix = ss::fund(&mallory.pubkey(), &w.app.address, &w.provider.pubkey(), &mallory_token, w.token, 10);
    assert_code(w.process(&[ix], &[&mallory]).await, code(StakeError::NotPublisher));
    let ix = ss::propose_terms(&mallory.pubkey(), &w.app.address, terms());
    assert_code(w.process(&[ix], &[&mallory]).await, code(StakeError::NotPublisher));

    // Not the provider: its own stake PDA does not exist; pointing at the provider's fails seeds.
    let mut ix = ss::request_unstake(&mallory.pubkey(), &w.app.address);
    ix.accounts[2].pubkey = w.stake_address();
    ix.accounts[3].pubkey = w.escrow();
    assert_anchor(w.process(&[ix], &[&mallory]).await, ErrorCode::ConstraintSeeds);

    // A vault that is not the stake's PDA.
    let mut ix = w.stake_ix(10);
    ix.accounts[3].pubkey = mallory_token;
    assert_anchor(w.process(&[ix], &[&w.provider.insecure_clone()]).await, ErrorCode::ConstraintSeeds);

    // A mint that is not the terms' mint.
    let other_mint = create_mint(&mut w.bank, spl_token_id()).await;
    let mut ix = w.stake_ix(10);
    ix.accounts[5].pubkey = other_mint;
    assert_code(w.process(&[ix], &[&w.provider.insecure_clone()]).await, code(StakeError::WrongMint));

    // A token program other than the terms'.
    let mut ix = w.stake_ix(10);
    ix.accounts[6].pubkey = token_2022_id();
    assert_code(w.process(&[ix], &[&w.provider.insecure_clone()]).await, code(StakeError::WrongTokenProgram));

    // A shard account with the right bytes but not owned by app_roots.
    w.open_challenge().await.unwrap();
    let honest = w.honest_answer().await;
    let real = pda::shard(&w.app.address, 0);
    let mut forged = w.bank.account(&real).await.unwrap();
    forged.owner = storage_stake::ID;
    let fake = Pubkey::new_unique();
    w.bank.ctx.set_account(&fake, &forged.into());
    let tee = w.tee.insecure_clone();
    let ix = ss::answer_challenge(&tee.pubkey(), &w.app.address, &w.provider.pubkey(), &fake, honest.clone());
    assert_anchor(w.process(&[ix], &[&tee]).await, ErrorCode::AccountOwnedByWrongProgram);

    // A forged shard list for a new challenge is refused (wrong owner in the remaining accounts).
    // Slash paying a publisher token account someone else owns.
    let mut ix = ss::slash(&w.app.address, w.parties(), w.token);
    ix.accounts[6].pubkey = mallory_token;
    w.bank.advance_clock(3 * DAY).await;
    assert_anchor(w.process(&[ix], &[]).await, ErrorCode::ConstraintTokenOwner);
    let mut ix = ss::slash(&w.app.address, w.parties(), w.token);
    ix.accounts[8].pubkey = mallory.pubkey();
    assert_code(w.process(&[ix], &[]).await, code(StakeError::NotPublisher));
}

#[tokio::test]
async fn open_challenge_needs_every_shard_in_order() {
    let mut w = World::new(spl_token_id(), 3, 20).await;
    let publisher = w.app.publisher.insecure_clone();
    let mut shards = w.shard_addresses();
    let short = ss::open_challenge(&publisher.pubkey(), &w.app.address, &w.provider.pubkey(), &shards[..2]);
    assert_code(w.process(&[short], &[&publisher]).await, code(StakeError::ShardAccountsMismatch));
    shards.swap(0, 1);
    let swapped = ss::open_challenge(&publisher.pubkey(), &w.app.address, &w.provider.pubkey(), &shards);
    assert_code(w.process(&[swapped], &[&publisher]).await, code(StakeError::ShardAccountsMismatch));
    let mut shards = w.shard_addresses();
    shards[2] = w.stake_address();
    let foreign = ss::open_challenge(&publisher.pubkey(), &w.app.address, &w.provider.pubkey(), &shards);
    assert_code(w.process(&[foreign], &[&publisher]).await, code(StakeError::ShardAccountsMismatch));
}

#[tokio::test]
async fn challenge_needs_data_stake_and_respects_the_rate_limit() {
    // Every shard empty: nothing to challenge.
    let mut w = World::new(spl_token_id(), 2, 0).await;
    assert_code(w.open_challenge().await, code(StakeError::NothingToChallenge));
    w.trees[1].put_many("late", 5);
    w.commit_root(1).await;
    w.open_challenge().await.unwrap();
    assert_eq!(w.challenge().await.shard_id, 1);
    assert_code(w.open_challenge().await, code(StakeError::ChallengeOpen));
    let answer = w.honest_answer().await;
    w.answer(answer).await.unwrap();
    assert_code(w.open_challenge().await, code(StakeError::ChallengeRateLimited));
    w.bank.advance_clock(DAY).await;
    w.open_challenge().await.unwrap();
    assert_eq!(w.state().await.challenges_opened, 2);
}

#[tokio::test]
async fn bond_returns_to_the_publisher_when_the_terms_say_so() {
    let params = TermsParams { bond_to_provider_on_answer: false, ..terms() };
    let mut w = World::with_terms(spl_token_id(), 1, 30, params).await;
    w.open_challenge().await.unwrap();
    let answer = w.honest_answer().await;
    w.answer(answer).await.unwrap();
    assert_eq!((w.state().await.publisher_bond_credit, w.state().await.provider_bond_credit), (BOND, 0));
    // Paid back when the publisher next signs (here: the next challenge, net of its new bond).
    w.bank.advance_clock(DAY).await;
    let publisher = w.app.publisher.pubkey();
    let before = lamports(&mut w.bank, &publisher).await;
    w.open_challenge().await.unwrap();
    let after = lamports(&mut w.bank, &publisher).await;
    assert_eq!(w.state().await.publisher_bond_credit, 0);
    // The returned bond covered the new one (the bank's payer pays the fees).
    assert_eq!(after, before);
    assert_code(w.claim().await, code(StakeError::NothingToClaim));
}

#[tokio::test]
async fn unstake_waits_for_challenges_and_the_cooldown() {
    let mut w = World::new(spl_token_id(), 1, 30).await;
    w.open_challenge().await.unwrap();
    assert_code(w.request_unstake().await, code(StakeError::ChallengeOpen));
    let answer = w.honest_answer().await;
    w.answer(answer).await.unwrap();
    w.request_unstake().await.unwrap();
    let state = w.state().await;
    assert_eq!(state.status, StakeStatus::Unstaking);
    assert_code(w.request_unstake().await, code(StakeError::Unstaking));
    assert_code(
        w.process(&[w.stake_ix(10)], &[&w.provider.insecure_clone()]).await,
        code(StakeError::Unstaking),
    );
    assert_code(w.withdraw().await, code(StakeError::CooldownNotOver));
    // Still liable during the cool-down: a challenge opened now blocks the withdrawal.
    w.bank.advance_clock(DAY).await;
    w.open_challenge().await.unwrap();
    w.bank.advance_clock(7 * DAY).await;
    assert_code(w.withdraw().await, code(StakeError::ChallengeOpen));
    // Overdue by now: slashable.
    w.slash().await.unwrap();
    assert_eq!(w.state().await.status, StakeStatus::Slashed);
}

#[tokio::test]
async fn withdraw_pays_stake_and_accrued_payment_and_refunds_the_rest() {
    let mut w = World::new(spl_token_id(), 1, 30).await;
    w.fund(10_500).await.unwrap();
    assert_eq!(w.bal(w.escrow()).await, 10_500);
    w.bank.advance_clock(3 * DAY + 10).await;
    w.claim().await.unwrap();
    assert_eq!(w.bal(w.provider_token).await, 9 * STAKE + 3_000);
    assert_code(w.claim().await, code(StakeError::NothingToClaim));
    w.request_unstake().await.unwrap();
    w.bank.advance_clock(7 * DAY).await;
    let publisher_before = w.bal(w.publisher_token).await;
    let provider_sol = w.lam(w.provider.pubkey()).await;
    let rent_held = w.lam(w.stake_address()).await + w.lam(w.vault()).await + w.lam(w.escrow()).await;
    w.withdraw().await.unwrap();
    // 7 more epochs accrued (10 in all, 3 claimed): 7,000 to the provider, 500 back to the publisher.
    assert_eq!(w.bal(w.provider_token).await, 10 * STAKE + 10_000);
    assert_eq!(w.bal(w.publisher_token).await, publisher_before + 500);
    assert!(w.bank.account(&w.stake_address()).await.is_none());
    assert!(w.bank.account(&w.vault()).await.is_none());
    assert!(w.bank.account(&w.escrow()).await.is_none());
    assert_eq!(w.lam(w.provider.pubkey()).await, provider_sol + rent_held);
}

#[tokio::test]
async fn grace_period_binds_the_provider_then_releases_it() {
    let mut w = World::new(spl_token_id(), 1, 30).await;
    w.fund(2_000).await.unwrap();
    // Two epochs paid; after them the escrow is dry and the grace period (5 days) runs.
    w.bank.advance_clock(2 * DAY + 1).await;
    assert_code(w.request_unstake().await, code(StakeError::GraceObligation));
    // The publisher can still challenge and retrieve during the grace period.
    w.request_retrieval(0).await.unwrap();
    let root = w.trees[0].root;
    w.answer_retrieval(0, root).await.unwrap();
    w.open_challenge().await.unwrap();
    let answer = w.honest_answer().await;
    w.answer(answer).await.unwrap();
    w.claim().await.unwrap();
    assert_eq!(w.bal(w.provider_token).await, 9 * STAKE + 2_000);
    // After the grace period: no more obligations, the provider leaves without penalty.
    w.bank.advance_clock(5 * DAY).await;
    assert_code(w.open_challenge().await, code(StakeError::ServiceLapsed));
    assert_code(w.request_retrieval(0).await, code(StakeError::ServiceLapsed));
    w.request_unstake().await.unwrap();
    w.bank.advance_clock(7 * DAY).await;
    w.withdraw().await.unwrap();
    assert_eq!(w.bal(w.provider_token).await, 10 * STAKE + 2_000);
}

#[tokio::test]
async fn funding_after_a_lapse_restarts_paid_service() {
    let mut w = World::new(spl_token_id(), 1, 30).await;
    w.fund(1_000).await.unwrap();
    w.bank.advance_clock(20 * DAY).await;
    let now = w.bank.clock().await.unix_timestamp;
    w.fund(3_000).await.unwrap();
    let state = w.state().await;
    // The lapsed stretch is not owed, but the epoch served and funded before it still is.
    assert_eq!(state.paid_through, now - DAY);
    w.claim().await.unwrap();
    assert_eq!(w.bal(w.provider_token).await, 9 * STAKE + 1_000);
    assert_code(w.claim().await, code(StakeError::NothingToClaim));
    w.bank.advance_clock(DAY).await;
    w.claim().await.unwrap();
    assert_eq!(w.bal(w.provider_token).await, 9 * STAKE + 2_000);
    assert_eq!(w.bal(w.escrow()).await, 2_000);
}

#[tokio::test]
async fn corruption_report_recovered_restores_good_standing() {
    let mut w = World::new(spl_token_id(), 1, 80).await;
    let tee = w.tee.insecure_clone();
    let ix = ss::report_corruption(&tee.pubkey(), &w.app.address, &w.provider.pubkey(), &w.shard_addresses());
    w.process(std::slice::from_ref(&ix), &[&tee]).await.unwrap();
    let challenge = w.challenge().await;
    assert_eq!((challenge.kind, challenge.bond_lamports), (ChallengeKind::Corruption, 0));
    let now = w.bank.clock().await.unix_timestamp;
    assert_eq!(challenge.deadline, now + 3 * DAY);
    // While it runs: no second report, no publisher challenge, no unstake.
    assert_code(w.process(&[ix], &[&tee]).await, code(StakeError::ChallengeOpen));
    assert_code(w.open_challenge().await, code(StakeError::ChallengeOpen));
    assert_code(w.request_unstake().await, code(StakeError::ChallengeOpen));
    // A stranger key cannot report for this provider.
    let stranger = Keypair::new();
    w.trust.register(&mut w.bank, &stranger, 1).await.unwrap();
    let ix =
        ss::report_corruption(&stranger.pubkey(), &w.app.address, &w.provider.pubkey(), &w.shard_addresses());
    assert_code(w.process(&[ix], &[&stranger]).await, code(StakeError::TeeNotBound));
    // Recovered (here: the data was restored and the shard committed again) within the deadline.
    w.bank.advance_clock(2 * DAY).await;
    w.trees[0].put_many("restored", 3);
    w.commit_root(0).await;
    let answer = w.honest_answer().await;
    w.answer(answer).await.unwrap();
    let state = w.state().await;
    assert_eq!((state.status, state.challenge, state.amount), (StakeStatus::Active, None, STAKE));
}

#[tokio::test]
async fn unrecovered_corruption_refunds_the_agreed_share() {
    let mut w = World::new(spl_token_id(), 1, 80).await;
    let tee = w.tee.insecure_clone();
    let ix = ss::report_corruption(&tee.pubkey(), &w.app.address, &w.provider.pubkey(), &w.shard_addresses());
    w.process(&[ix], &[&tee]).await.unwrap();
    w.bank.advance_clock(3 * DAY).await;
    assert_code(w.slash().await, code(StakeError::SlashTooEarly));
    w.bank.advance_clock(1).await;
    let publisher_before = w.bal(w.publisher_token).await;
    let supply_before = w.sup(w.token.mint).await;
    w.slash().await.unwrap();
    let refund = STAKE / 4;
    let to_publisher = (STAKE - refund) * 8 / 10;
    let burned = STAKE - refund - to_publisher;
    assert_eq!(w.bal(w.provider_token).await, 9 * STAKE + refund);
    assert_eq!(w.bal(w.publisher_token).await, publisher_before + to_publisher);
    assert_eq!(w.sup(w.token.mint).await, supply_before - burned);
    assert_eq!(w.state().await.status, StakeStatus::Slashed);
}

#[tokio::test]
async fn retrieval_requests_are_answered_with_the_committed_root_or_slashed() {
    let mut w = World::new(spl_token_id(), 2, 40).await;
    assert_code(w.answer_retrieval(0, w.trees[0].root).await, code(StakeError::NoOpenRetrieval));
    w.request_retrieval(0).await.unwrap();
    assert_code(w.request_retrieval(0).await, code(StakeError::RetrievalOpen));
    assert_code(w.request_unstake().await, code(StakeError::RetrievalOpen));
    // An export of stale state (an older root) is refused; so is the wrong shard.
    let old_root = w.trees[0].root;
    w.trees[0].put_many("newer", 5);
    w.commit_root(0).await;
    assert_code(w.answer_retrieval(0, old_root).await, code(StakeError::RetrievalRootMismatch));
    assert_code(w.answer_retrieval(1, [0; 32]).await, code(StakeError::ShardMismatch));
    let root = w.trees[0].root;
    w.answer_retrieval(0, root).await.unwrap();
    assert_eq!(w.state().await.retrieval, None);
    assert_code(w.request_retrieval(1).await, code(StakeError::RetrievalRateLimited));

    // Unanswered by the deadline: slashable.
    w.bank.advance_clock(DAY).await;
    w.request_retrieval(1).await.unwrap();
    assert_code(w.slash().await, code(StakeError::SlashTooEarly));
    w.bank.advance_clock(DAY + 1).await;
    assert_code(w.answer_retrieval(1, [0; 32]).await, code(StakeError::DeadlinePassed));
    w.slash().await.unwrap();
    assert_eq!(w.state().await.status, StakeStatus::Slashed);
}

#[tokio::test]
async fn nothing_to_slash_without_an_open_request() {
    let mut w = World::new(spl_token_id(), 1, 10).await;
    assert_code(w.slash().await, code(StakeError::NothingToSlash));
}

#[tokio::test]
async fn terms_change_only_after_notice() {
    let mut w = World::new(spl_token_id(), 1, 10).await;
    let publisher = w.app.publisher.insecure_clone();
    let stricter = TermsParams { min_stake: 2 * STAKE, answer_window_secs: DAY, ..terms() };
    assert_code(w.process(&[ss::apply_terms(&w.app.address)], &[]).await, code(StakeError::NoPendingTerms));
    w.process(&[ss::propose_terms(&publisher.pubkey(), &w.app.address, stricter.clone())], &[&publisher])
        .await
        .unwrap();
    let t = w.terms_state().await;
    let now = w.bank.clock().await.unix_timestamp;
    assert_eq!((t.pending.clone(), t.pending_effective_at), (Some(stricter.clone()), now + 9 * DAY));
    assert_eq!(t.params, terms());
    assert_code(w.process(&[ss::apply_terms(&w.app.address)], &[]).await, code(StakeError::NoticeNotOver));
    // A provider who objects can be out before the change applies.
    w.request_unstake().await.unwrap();
    w.bank.advance_clock(7 * DAY).await;
    w.withdraw().await.unwrap();
    w.bank.advance_clock(2 * DAY).await;
    w.process(&[ss::apply_terms(&w.app.address)], &[]).await.unwrap();
    let t = w.terms_state().await;
    assert_eq!((t.params, t.pending), (stricter, None));
    let bad = TermsParams { slash_to_publisher_bps: 10_001, ..terms() };
    let ix = ss::propose_terms(&publisher.pubkey(), &w.app.address, bad);
    assert_code(w.process(&[ix], &[&publisher]).await, code(StakeError::InvalidTerms));
}

#[tokio::test]
async fn arithmetic_edges() {
    let mut w = World::new(spl_token_id(), 1, 10).await;
    let p = w.provider.insecure_clone();
    assert_code(w.process(&[w.stake_ix(0)], &[&p]).await, code(StakeError::ZeroAmount));
    assert_code(w.fund(0).await, code(StakeError::ZeroAmount));

    // Below the minimum on a fresh stake.
    let mut low = World::new(spl_token_id(), 1, 0).await;
    let newcomer = Keypair::new();
    fund_sol(&mut low.bank, &newcomer.pubkey()).await;
    let token = create_token_account(&mut low.bank, low.token, &newcomer.pubkey(), 1_000).await;
    low.process(&[ss::open_stake(&newcomer.pubkey(), &low.app.address, low.token)], &[&newcomer])
        .await
        .unwrap();
    let ix = ss::stake(&newcomer.pubkey(), &low.app.address, &token, low.token, 1_000);
    assert_code(low.process(&[ix], &[&newcomer]).await, code(StakeError::BelowMinimumStake));
    // No stake: nothing to challenge it for.
    low.trees[0].put_many("x", 3);
    low.commit_root(0).await;
    let publisher = low.app.publisher.insecure_clone();
    let ix =
        ss::open_challenge(&publisher.pubkey(), &low.app.address, &newcomer.pubkey(), &low.shard_addresses());
    assert_code(low.process(&[ix], &[&publisher]).await, code(StakeError::NoStake));

    // The largest possible stake (the whole u64 supply) slashes into exact shares.
    let mut big = World::new(token_2022_id(), 1, 10).await;
    let whale = Keypair::new();
    fund_sol(&mut big.bank, &whale.pubkey()).await;
    let max = u64::MAX - big.sup(big.token.mint).await;
    let whale_token = create_token_account(&mut big.bank, big.token, &whale.pubkey(), max).await;
    big.process(&[ss::open_stake(&whale.pubkey(), &big.app.address, big.token)], &[&whale]).await.unwrap();
    let tee = big.tee.insecure_clone();
    big.process(&[ss::bind_tee(&whale.pubkey(), &tee.pubkey(), &big.app.address)], &[&whale, &tee])
        .await
        .unwrap();
    let ix = ss::stake(&whale.pubkey(), &big.app.address, &whale_token, big.token, max);
    big.process(&[ix], &[&whale]).await.unwrap();
    big.provider = whale;
    big.provider_token = whale_token;
    assert_eq!(big.state().await.amount, max);
    big.open_challenge().await.unwrap();
    big.bank.advance_clock(2 * DAY + 1).await;
    let publisher_before = big.bal(big.publisher_token).await;
    big.slash().await.unwrap();
    let to_publisher = ((max as u128 * 8_000) / 10_000) as u64;
    assert_eq!(big.bal(big.publisher_token).await, publisher_before + to_publisher);
    assert_eq!(big.bal(big.vault()).await, 0);

    // Terms at the limits.
    let mut edge = terms();
    edge.slash_to_publisher_bps = 10_000;
    edge.corruption_refund_bps = 10_000;
    edge.validate().unwrap();
    for bad in [
        TermsParams { min_stake: 0, ..terms() },
        TermsParams { answer_window_secs: 0, ..terms() },
        TermsParams { epoch_secs: 0, ..terms() },
        TermsParams { corruption_refund_bps: 10_001, ..terms() },
        TermsParams { grace_secs: -1, ..terms() },
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
    // Near-overflow windows are refused, not wrapped.
    let publisher = w.app.publisher.insecure_clone();
    let huge = TermsParams { unstake_cooldown_secs: i64::MAX, answer_window_secs: i64::MAX, ..terms() };
    w.process(&[ss::propose_terms(&publisher.pubkey(), &w.app.address, huge)], &[&publisher]).await.unwrap();
    w.bank.advance_clock(9 * DAY).await;
    w.process(&[ss::apply_terms(&w.app.address)], &[]).await.unwrap();
    assert_code(w.request_unstake().await, code(StakeError::Overflow));
    let ix = ss::propose_terms(&publisher.pubkey(), &w.app.address, terms());
    assert_code(w.process(&[ix], &[&publisher]).await, code(StakeError::Overflow));
}

#[tokio::test]
async fn accounts_cannot_be_reinitialised() {
    let mut w = World::new(spl_token_id(), 1, 10).await;
    let publisher = w.app.publisher.insecure_clone();
    let again = ss::init_terms(&publisher.pubkey(), &w.app.address, w.token, terms());
    let result = w.process(&[again], &[&publisher]).await;
    assert!(
        matches!(instruction_error(&result), Some((0, solana_sdk::instruction::InstructionError::Custom(0)))),
        "{result:?}"
    );
    let p = w.provider.insecure_clone();
    let result = w.process(&[ss::open_stake(&p.pubkey(), &w.app.address, w.token)], &[&p]).await;
    assert!(
        matches!(instruction_error(&result), Some((0, solana_sdk::instruction::InstructionError::Custom(0)))),
        "{result:?}"
    );
    assert_eq!(w.state().await.amount, STAKE, "the stake is untouched");
    let rebind = ss::bind_tee(&p.pubkey(), &w.tee.pubkey(), &w.app.address);
    assert_code(
        w.process(&[rebind], &[&p, &w.tee.insecure_clone()]).await,
        code(StakeError::TeeAlreadyBound),
    );
}

#[test]
fn target_rule_over_jmt_proofs_selects_the_defined_leaf() {
    let mut tree = ShardTree::new();
    tree.put_many("k", 1_000);
    for i in 0..300u32 {
        let point = hashv(&[b"point", &i.to_le_bytes()]).to_bytes();
        let proof = tree.prove_target(&point);
        assert_eq!(Some(proof.key_hash), ss::select_leaf_by_keys(&point, &tree.keys));
        proof.verify_target(&tree.root, &point).unwrap();
        // Every other leaf's (valid) proof is refused for this point.
        let other = tree.keys[(i as usize * 7) % tree.keys.len()];
        if other != proof.key_hash {
            assert!(tree.prove_leaf(&other).verify_target(&tree.root, &point).is_err());
        }
    }
    // A one-record tree: its leaf is the root, depth 0, selected by every point.
    let mut single = ShardTree::new();
    single.put_many("only", 1);
    let proof = single.prove_target(&[0xAB; 32]);
    assert_eq!((proof.depth, proof.siblings.len()), (0, 0));
    proof.verify_target(&single.root, &[0xAB; 32]).unwrap();
}

/// Bytes of an `answer_challenge` transaction carrying `proof`, paid by the TEE key itself (one
/// signature: the keeper's TEE key holds the SOL for its answers).
fn answer_tx_size(w: &World, proof: LeafProof) -> usize {
    let args = AnswerChallengeArgs { proof, possession_tag: [7; 32] };
    let ix = w.answer_ix_by(&w.tee, 0, args);
    let tx = solana_sdk::transaction::Transaction::new_with_payer(&[ix], Some(&w.tee.pubkey()));
    transaction_size(&tx)
}

/// Slow (builds a real one-million-record jmt: minutes on a loaded 2-core box), so opt-in:
/// `cargo test -p ironroot-program-tests --test programs million -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn million_record_answer_fits_one_transaction() {
    const RECORDS: usize = 1_000_000;
    const POINTS: u32 = 500;
    let mut w = World::new(spl_token_id(), 1, 0).await;
    let started = std::time::Instant::now();
    w.trees[0].put_many("record", RECORDS);
    println!("built the {RECORDS}-record tree in {:?}", started.elapsed());
    w.commit_root(0).await;

    // One real round trip against the million-record root, the TEE key paying.
    let tee = w.tee.insecure_clone();
    fund_sol(&mut w.bank, &tee.pubkey()).await;
    w.open_challenge().await.unwrap();
    let args = w.honest_answer().await;
    let ix = w.answer_ix_by(&tee, 0, args);
    let blockhash = w.bank.ctx.get_new_latest_blockhash().await.unwrap();
    let tx = solana_sdk::transaction::Transaction::new_signed_with_payer(
        &[ix],
        Some(&tee.pubkey()),
        &[&tee],
        blockhash,
    );
    let size = transaction_size(&tx);
    assert!(size <= PACKET_DATA_SIZE, "answer is {size} bytes");
    w.bank.send(tx).await.unwrap();
    assert_eq!(w.state().await.challenge, None);

    // The size distribution over many target points.
    let started = std::time::Instant::now();
    let (mut max_size, mut max_depth, mut total) = (0, 0, 0);
    let mut by_full_siblings = std::collections::BTreeMap::<usize, u32>::new();
    for i in 0..POINTS {
        let point = hashv(&[b"million", &i.to_le_bytes()]).to_bytes();
        let proof = w.trees[0].prove_target(&point);
        proof.verify_target(&w.trees[0].root, &point).unwrap();
        max_depth = max_depth.max(proof.depth);
        *by_full_siblings.entry(proof.siblings.len()).or_default() += 1;
        let size = answer_tx_size(&w, proof);
        max_size = max_size.max(size);
        total += size;
    }
    println!("{POINTS} walks and proofs in {:?}", started.elapsed());
    // How many non-empty siblings fit at all (a deep leaf: 64 levels, bitmap 8 bytes).
    let fit = (0..=40)
        .take_while(|&full| {
            let proof = LeafProof {
                key_hash: [1; 32],
                value_hash: [2; 32],
                depth: 64,
                empty_siblings: vec![0; 8],
                siblings: vec![[3; 32]; full],
            };
            answer_tx_size(&w, proof) <= PACKET_DATA_SIZE
        })
        .last()
        .unwrap();
    println!(
        "answer_challenge over {RECORDS} records, {POINTS} targets: max {max_size} bytes, mean {} bytes, max depth {max_depth}, non-empty siblings histogram {by_full_siblings:?}; up to {fit} non-empty siblings fit in {PACKET_DATA_SIZE} bytes",
        total / POINTS as usize
    );
    assert!(max_size <= PACKET_DATA_SIZE, "largest answer is {max_size} bytes");
}

/// Transaction sizes of every instruction (a separate fee payer signs too, the worst case, except
/// where noted) and rent of every account; printed as the README's cost table, sizes asserted.
#[test]
fn every_instruction_fits_one_transaction() {
    use solana_sdk::rent::Rent;
    use solana_sdk::transaction::Transaction;
    use storage_stake::state::ProviderStake as Stake;
    let (payer, publisher, provider, tee) =
        (Pubkey::new_unique(), Pubkey::new_unique(), Pubkey::new_unique(), Pubkey::new_unique());
    let app = Pubkey::new_unique();
    let token = TokenSetup { mint: Pubkey::new_unique(), token_program: token_2022_id() };
    let parties = Parties {
        publisher,
        publisher_token: Pubkey::new_unique(),
        provider,
        provider_token: Pubkey::new_unique(),
    };
    let shards = |n: u16| (0..n).map(|id| pda::shard(&app, id)).collect::<Vec<_>>();
    let proof = |full: usize| LeafProof {
        key_hash: [1; 32],
        value_hash: [2; 32],
        depth: 24,
        empty_siblings: vec![0; 3],
        siblings: vec![[3; 32]; full],
    };
    let answer = |full: usize| AnswerChallengeArgs { proof: proof(full), possession_tag: [4; 32] };
    let size = |ix: Instruction, fee_payer: &Pubkey| {
        transaction_size(&Transaction::new_with_payer(&[ix], Some(fee_payer)))
    };
    let shard0 = pda::shard(&app, 0);
    let cases: Vec<(&str, usize)> = vec![
        ("init_terms", size(ss::init_terms(&publisher, &app, token, terms()), &payer)),
        ("propose_terms", size(ss::propose_terms(&publisher, &app, terms()), &payer)),
        ("apply_terms", size(ss::apply_terms(&app), &payer)),
        ("open_stake", size(ss::open_stake(&provider, &app, token), &payer)),
        ("bind_tee", size(ss::bind_tee(&provider, &tee, &app), &payer)),
        ("unbind_tee", size(ss::unbind_tee(&provider, &app, &tee), &payer)),
        ("stake", size(ss::stake(&provider, &app, &parties.provider_token, token, 1), &payer)),
        ("request_unstake", size(ss::request_unstake(&provider, &app), &payer)),
        ("withdraw", size(ss::withdraw(&app, parties, token), &payer)),
        (
            "open_challenge (1 shard)",
            size(ss::open_challenge(&publisher, &app, &provider, &shards(1)), &payer),
        ),
        (
            "open_challenge (16 shards)",
            size(ss::open_challenge(&publisher, &app, &provider, &shards(16)), &payer),
        ),
        (
            "open_challenge (23 shards, the most a legacy transaction holds)",
            size(ss::open_challenge(&publisher, &app, &provider, &shards(23)), &payer),
        ),
        (
            "answer_challenge (depth 24, 20 non-empty siblings, TEE pays)",
            size(ss::answer_challenge(&tee, &app, &provider, &shard0, answer(20)), &tee),
        ),
        (
            "answer_challenge (depth 24, 20 non-empty siblings, separate payer)",
            size(ss::answer_challenge(&tee, &app, &provider, &shard0, answer(20)), &payer),
        ),
        (
            "report_corruption (1 shard)",
            size(ss::report_corruption(&tee, &app, &provider, &shards(1)), &payer),
        ),
        ("slash", size(ss::slash(&app, parties, token), &payer)),
        ("fund", size(ss::fund(&publisher, &app, &provider, &parties.publisher_token, token, 1), &payer)),
        ("claim_payment", size(ss::claim_payment(&provider, &app, &parties.provider_token, token), &payer)),
        ("request_retrieval", size(ss::request_retrieval(&publisher, &app, &provider, &shard0, 0), &payer)),
        (
            "answer_retrieval (36-byte CID)",
            size(
                ss::answer_retrieval(
                    &tee,
                    &app,
                    &provider,
                    &shard0,
                    AnswerRetrievalArgs { export_cid: vec![1; 36], root: [5; 32] },
                ),
                &payer,
            ),
        ),
    ];
    let per_sibling = size(ss::answer_challenge(&tee, &app, &provider, &shard0, answer(21)), &tee)
        - size(ss::answer_challenge(&tee, &app, &provider, &shard0, answer(20)), &tee);
    assert_eq!(per_sibling, 32);
    let too_many = size(ss::open_challenge(&publisher, &app, &provider, &shards(24)), &payer);
    assert!(too_many > PACKET_DATA_SIZE, "24 shards: {too_many} bytes");
    let rent = Rent::default();
    println!("| instruction | transaction bytes |\n|---|---|");
    for (name, bytes) in &cases {
        println!("| {name} | {bytes} |");
        assert!(*bytes <= PACKET_DATA_SIZE, "{name}: {bytes} bytes");
    }
    println!("\n| account | bytes | rent (lamports) |\n|---|---|---|");
    for (name, bytes) in [
        ("StakeTerms", 8 + <StakeTerms as anchor_lang::Space>::INIT_SPACE),
        ("ProviderStake", 8 + <Stake as anchor_lang::Space>::INIT_SPACE),
        ("stake vault / escrow (token account, no extensions)", 165),
    ] {
        println!("| {name} | {bytes} | {} |", rent.minimum_balance(bytes));
    }
    println!("\n| leaf depth | SHA-256 calls of the proof check |\n|---|---|");
    for depth in [0u16, 8, 16, 20, 24, 32, 40, 64, 256] {
        println!("| {depth} | {} |", depth + 1);
    }
}

/// The target derivation as documented (a vector computed independently, shared with the TS SDK's test).
#[test]
fn target_derivation_vector() {
    let stake = Pubkey::new_from_array([9; 32]);
    let target = storage_stake::target::derive_target(&[7; 32], &stake, 5, 3);
    assert_eq!(target.drawn_shard, 0);
    let hex = |b: [u8; 32]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(hex(target.point), "f248e3e066405240a852715087a7c92b6f1d0ade10d08690fbc2e44bb8524714");
    assert_eq!(hex(target.nonce), "dcf2625d15518807e95c9fdcfaa2a072578acd365cc882a2a525cb456c1ae063");
}
