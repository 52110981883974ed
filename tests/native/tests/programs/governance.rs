//! `initialize` and the governance instructions of the attestation verifier.
use anchor_lang::error::ErrorCode;
use anchor_lang::AccountSerialize;
use attestation_verifier::error::VerifierError;
use attestation_verifier::{AllowedTee, Policy, TcbStatus, VerifierConfig};
use ironroot_bank::dev::DevTrust;
use ironroot_bank::LocalBank;
use ironroot_sdk::registry::decode_verifier_config;
use ironroot_sdk::{pda, verifier};
use solana_sdk::account::{Account, AccountSharedData};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::system_program;

use crate::common::*;

async fn config(bank: &mut LocalBank) -> VerifierConfig {
    let address = pda::verifier_config();
    let account = bank.account(&address).await.expect("config exists");
    decode_verifier_config(&address, &account).expect("config decodes")
}

#[tokio::test]
async fn initialize_stores_the_trust_setup() {
    let (trust, mut bank) = trusted_bank(3, 2).await;
    let config = config(&mut bank).await;
    assert_eq!(config.authority, trust.governance.pubkey());
    assert_eq!(config.pending_authority, None);
    assert_eq!(config.cluster_genesis_hash, bank.genesis_hash().to_bytes());
    assert_eq!(config.attesters, trust.attesters.iter().map(|k| k.pubkey()).collect::<Vec<_>>());
    assert_eq!(config.threshold, 2);
    assert_eq!(config.allowed, vec![trust.allowed()]);
    assert_eq!(config.policy, DevTrust::policy());
    let (_, bump) = Pubkey::find_program_address(&[b"verifier_authority"], &attestation_verifier::ID);
    assert_eq!(config.verifier_authority_bump, bump);
}

#[tokio::test]
async fn initialize_only_by_the_upgrade_authority_and_only_once() {
    let trust = DevTrust::new(2, 1);
    let mut bank = LocalBank::start(&trust.governance.pubkey()).await;
    let args = trust.initialize_args(&bank);

    // Someone else (the bank's funded payer) tries to initialise first.
    let impostor = bank.payer().pubkey();
    let ix = verifier::initialize(&impostor, args.clone());
    assert_code(bank.process(&[ix], &[]).await, VerifierError::NotUpgradeAuthority);

    // The upgrade authority's key, but it does not sign.
    let mut ix = verifier::initialize(&trust.governance.pubkey(), args.clone());
    ix.accounts[0].is_signer = false;
    assert_anchor(bank.process(&[ix], &[]).await, ErrorCode::AccountNotSigner);

    // A look-alike program-data account at an address that is not the loader's PDA.
    let fake = Pubkey::new_unique();
    let real = bank.account(&pda::program_data(&attestation_verifier::ID)).await.unwrap();
    bank.ctx.set_account(&fake, &AccountSharedData::from(real));
    let mut ix = verifier::initialize(&trust.governance.pubkey(), args.clone());
    ix.accounts[1].pubkey = fake;
    assert_anchor(bank.process(&[ix], &[&trust.governance]).await, ErrorCode::ConstraintSeeds);

    // Invalid trust setups are refused with their own errors.
    let mut bad = args.clone();
    bad.attesters = vec![bad.attesters[0], bad.attesters[0]];
    let ix = verifier::initialize(&trust.governance.pubkey(), bad);
    assert_code(bank.process(&[ix], &[&trust.governance]).await, VerifierError::InvalidAttesterSet);
    let mut bad = args.clone();
    bad.threshold = 3;
    let ix = verifier::initialize(&trust.governance.pubkey(), bad);
    assert_code(bank.process(&[ix], &[&trust.governance]).await, VerifierError::InvalidThreshold);
    let mut bad = args.clone();
    bad.policy.accepted_tcb |= TcbStatus::Revoked.bit();
    let ix = verifier::initialize(&trust.governance.pubkey(), bad);
    assert_code(bank.process(&[ix], &[&trust.governance]).await, VerifierError::InvalidPolicy);

    // The real upgrade authority succeeds, once.
    let ix = verifier::initialize(&trust.governance.pubkey(), args.clone());
    bank.process(&[ix], &[&trust.governance]).await.expect("initialise");
    let mut again = args;
    again.threshold = 2;
    let ix = verifier::initialize(&trust.governance.pubkey(), again);
    // The system program refuses to create an account that exists (AccountAlreadyInUse = 0).
    assert_code(bank.process(&[ix], &[&trust.governance]).await, 0u32);
    assert_eq!(config(&mut bank).await.threshold, 1);
}

#[tokio::test]
async fn program_data_owned_by_another_program_is_refused() {
    let trust = DevTrust::new(1, 1);
    let mut bank = LocalBank::start(&trust.governance.pubkey()).await;
    let address = pda::program_data(&attestation_verifier::ID);
    let mut forged = bank.account(&address).await.unwrap();
    forged.owner = system_program::ID;
    bank.ctx.set_account(&address, &AccountSharedData::from(forged));
    let ix = verifier::initialize(&trust.governance.pubkey(), trust.initialize_args(&bank));
    assert_anchor(bank.process(&[ix], &[&trust.governance]).await, ErrorCode::AccountOwnedByWrongProgram);
}

#[tokio::test]
async fn governance_updates_attesters_and_allow_lists() {
    let (trust, mut bank) = trusted_bank(3, 2).await;
    let gov = trust.governance.pubkey();
    let new_set: Vec<Pubkey> = (0..4).map(|_| Pubkey::new_unique()).collect();
    bank.process(&[verifier::set_attesters(&gov, new_set.clone(), 3)], &[&trust.governance]).await.unwrap();
    let c = config(&mut bank).await;
    assert_eq!((c.attesters, c.threshold), (new_set.clone(), 3));

    let dup = vec![new_set[0], new_set[1], new_set[0]];
    assert_code(
        bank.process(&[verifier::set_attesters(&gov, dup, 1)], &[&trust.governance]).await,
        VerifierError::InvalidAttesterSet,
    );
    assert_code(
        bank.process(&[verifier::set_attesters(&gov, new_set.clone(), 0)], &[&trust.governance]).await,
        VerifierError::InvalidThreshold,
    );
    assert_code(
        bank.process(&[verifier::set_attesters(&gov, vec![], 1)], &[&trust.governance]).await,
        VerifierError::InvalidAttesterSet,
    );

    let pair2 = AllowedTee { measurement: [7u8; 32], ..trust.allowed() };
    bank.process(&[verifier::add_allowed(&gov, pair2)], &[&trust.governance]).await.unwrap();
    assert_code(
        bank.process(&[verifier::add_allowed(&gov, pair2)], &[&trust.governance]).await,
        VerifierError::AlreadyAllowed,
    );
    bank.process(&[verifier::remove_allowed(&gov, trust.measurement, trust.app)], &[&trust.governance])
        .await
        .unwrap();
    assert_eq!(config(&mut bank).await.allowed, vec![pair2]);
    assert_code(
        bank.process(&[verifier::remove_allowed(&gov, trust.measurement, trust.app)], &[&trust.governance])
            .await,
        VerifierError::NotAllowed,
    );
}

#[tokio::test]
async fn allow_lists_are_bounded() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let gov = trust.governance.pubkey();
    // The dev setup already allows one pair.
    for i in 1..attestation_verifier::MAX_ALLOWED {
        let ix = verifier::add_allowed(&gov, AllowedTee { measurement: [i as u8; 32], ..trust.allowed() });
        bank.process(&[ix], &[&trust.governance]).await.unwrap();
    }
    assert_code(
        bank.process(
            &[verifier::add_allowed(&gov, AllowedTee { measurement: [0xEE; 32], ..trust.allowed() })],
            &[&trust.governance],
        )
        .await,
        VerifierError::AllowListFull,
    );
}

#[tokio::test]
async fn policy_nonce_floor_only_rises() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let gov = trust.governance.pubkey();
    let mut policy = DevTrust::policy();
    policy.nonce_floor = 10;
    policy.accepted_tcb = TcbStatus::UpToDate.bit();
    bank.process(&[verifier::set_policy(&gov, policy)], &[&trust.governance]).await.unwrap();
    assert_eq!(config(&mut bank).await.policy, policy);
    let lower = Policy { nonce_floor: 9, ..policy };
    assert_code(
        bank.process(&[verifier::set_policy(&gov, lower)], &[&trust.governance]).await,
        VerifierError::NonceFloorDecrease,
    );
    let zero_lifetime = Policy { max_key_lifetime_secs: 0, ..policy };
    assert_code(
        bank.process(&[verifier::set_policy(&gov, zero_lifetime)], &[&trust.governance]).await,
        VerifierError::InvalidPolicy,
    );
}

#[tokio::test]
async fn governance_instructions_refuse_other_signers() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let outsider = Keypair::new();
    let o = outsider.pubkey();
    for ix in [
        verifier::set_attesters(&o, vec![o], 1),
        verifier::add_allowed(&o, AllowedTee { measurement: [9; 32], ..trust.allowed() }),
        verifier::remove_allowed(&o, trust.measurement, trust.app),
        verifier::set_policy(&o, DevTrust::policy()),
        verifier::propose_authority(&o, o),
    ] {
        assert_code(bank.process(&[ix], &[&outsider]).await, VerifierError::NotAuthority);
    }
    // The governance key without its signature.
    let mut ix = verifier::add_allowed(
        &trust.governance.pubkey(),
        AllowedTee { measurement: [9; 32], ..trust.allowed() },
    );
    ix.accounts[0].is_signer = false;
    assert_anchor(bank.process(&[ix], &[]).await, ErrorCode::AccountNotSigner);
}

#[tokio::test]
async fn config_accounts_are_owner_seed_and_discriminator_checked() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let attacker = Keypair::new();
    // A copy of the config naming the attacker as authority...
    let mut forged = config(&mut bank).await;
    forged.authority = attacker.pubkey();
    let mut data = Vec::new();
    forged.try_serialize(&mut data).unwrap();
    let lamports = 10_000_000;

    // ...owned by the system program: wrong owner.
    let fake_owner = Pubkey::new_unique();
    bank.ctx.set_account(
        &fake_owner,
        &AccountSharedData::from(Account {
            lamports,
            data: data.clone(),
            owner: system_program::ID,
            ..Account::default()
        }),
    );
    let mut ix =
        verifier::add_allowed(&attacker.pubkey(), AllowedTee { measurement: [9; 32], ..trust.allowed() });
    ix.accounts[1].pubkey = fake_owner;
    assert_anchor(bank.process(&[ix], &[&attacker]).await, ErrorCode::AccountOwnedByWrongProgram);

    // ...owned by the verifier but not at the config PDA: spoofed PDA.
    let spoofed = Pubkey::new_unique();
    bank.ctx.set_account(
        &spoofed,
        &AccountSharedData::from(Account {
            lamports,
            data,
            owner: attestation_verifier::ID,
            ..Account::default()
        }),
    );
    let mut ix =
        verifier::add_allowed(&attacker.pubkey(), AllowedTee { measurement: [9; 32], ..trust.allowed() });
    ix.accounts[1].pubkey = spoofed;
    assert_anchor(bank.process(&[ix], &[&attacker]).await, ErrorCode::ConstraintSeeds);

    // ...a verifier-owned account of another type: discriminator mismatch.
    let garbage = Pubkey::new_unique();
    bank.ctx.set_account(
        &garbage,
        &AccountSharedData::from(Account {
            lamports,
            data: vec![1; 64],
            owner: attestation_verifier::ID,
            ..Account::default()
        }),
    );
    let mut ix = verifier::add_allowed(
        &trust.governance.pubkey(),
        AllowedTee { measurement: [9; 32], ..trust.allowed() },
    );
    ix.accounts[1].pubkey = garbage;
    assert_anchor(bank.process(&[ix], &[&trust.governance]).await, ErrorCode::AccountDiscriminatorMismatch);
}

#[tokio::test]
async fn authority_rotation_takes_two_steps() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let next = Keypair::new();
    let stranger = Keypair::new();
    let gov = trust.governance.pubkey();
    bank.process(&[verifier::propose_authority(&gov, next.pubkey())], &[&trust.governance]).await.unwrap();
    assert_eq!(config(&mut bank).await.pending_authority, Some(next.pubkey()));
    // Proposing does not hand over anything yet.
    assert_code(
        bank.process(
            &[verifier::add_allowed(&next.pubkey(), AllowedTee { measurement: [3; 32], ..trust.allowed() })],
            &[&next],
        )
        .await,
        VerifierError::NotAuthority,
    );
    assert_code(
        bank.process(&[verifier::accept_authority(&stranger.pubkey())], &[&stranger]).await,
        VerifierError::NotPendingAuthority,
    );
    bank.process(&[verifier::accept_authority(&next.pubkey())], &[&next]).await.unwrap();
    let c = config(&mut bank).await;
    assert_eq!((c.authority, c.pending_authority), (next.pubkey(), None));
    assert_code(
        bank.process(
            &[verifier::add_allowed(&gov, AllowedTee { measurement: [4; 32], ..trust.allowed() })],
            &[&trust.governance],
        )
        .await,
        VerifierError::NotAuthority,
    );
    bank.process(
        &[verifier::add_allowed(&next.pubkey(), AllowedTee { measurement: [4; 32], ..trust.allowed() })],
        &[&next],
    )
    .await
    .unwrap();
}
