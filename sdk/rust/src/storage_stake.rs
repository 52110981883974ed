//! Instruction builders, decoders and proof helpers for the storage-stake program.
//!
//! Answering a challenge: walk the shard tree with [`next_probe`] from the challenge's point
//! (each step is one jmt `get_with_proof`), then turn the proof that ends the walk into the
//! compact [`LeafProof`] the program checks ([`compact_proof`]).
use anchor_lang::{InstructionData, ToAccountMetas};
use solana_sdk::account::Account;
use solana_sdk::hash::hashv;
use solana_sdk::instruction::{AccountMeta, Instruction};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::{system_program, sysvar};
use storage_stake::jmt::{bit, internal_hash, leaf_hash, PLACEHOLDER};
use storage_stake::{
    accounts, instruction, AnswerChallengeArgs, AnswerRetrievalArgs, LeafProof, ProviderStake, StakeTerms,
    TermsParams,
};

use crate::registry::decode;
use crate::{pda, SdkError};

fn ix(accounts: impl ToAccountMetas, data: impl InstructionData) -> Instruction {
    Instruction {
        program_id: storage_stake::ID,
        accounts: accounts.to_account_metas(None),
        data: data.data(),
    }
}

/// Token accounts and program a stake moves tokens with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenSetup {
    pub mint: Pubkey,
    /// SPL Token or Token-2022 (the mint's owner).
    pub token_program: Pubkey,
}

pub fn init_terms(publisher: &Pubkey, app: &Pubkey, token: TokenSetup, params: TermsParams) -> Instruction {
    ix(
        accounts::InitTerms {
            publisher: *publisher,
            app: *app,
            mint: token.mint,
            terms: pda::stake_terms(app),
            token_program: token.token_program,
            system_program: system_program::ID,
        },
        instruction::InitTerms { params },
    )
}

pub fn propose_terms(publisher: &Pubkey, app: &Pubkey, params: TermsParams) -> Instruction {
    ix(
        accounts::ProposeTerms { publisher: *publisher, app: *app, terms: pda::stake_terms(app) },
        instruction::ProposeTerms { params },
    )
}

pub fn apply_terms(app: &Pubkey) -> Instruction {
    ix(accounts::ApplyTerms { terms: pda::stake_terms(app) }, instruction::ApplyTerms {})
}

pub fn open_stake(provider: &Pubkey, app: &Pubkey, token: TokenSetup) -> Instruction {
    let stake = pda::provider_stake(app, provider);
    ix(
        accounts::OpenStake {
            provider: *provider,
            app: *app,
            terms: pda::stake_terms(app),
            mint: token.mint,
            stake,
            vault: pda::stake_vault(&stake),
            escrow: pda::stake_escrow(&stake),
            token_program: token.token_program,
            system_program: system_program::ID,
        },
        instruction::OpenStake {},
    )
}

/// Signers: `provider` and `tee`.
pub fn bind_tee(provider: &Pubkey, tee: &Pubkey, app: &Pubkey) -> Instruction {
    ix(
        accounts::BindTee {
            provider: *provider,
            tee: *tee,
            tee_entry: pda::tee_entry(tee),
            app: *app,
            stake: pda::provider_stake(app, provider),
        },
        instruction::BindTee {},
    )
}

pub fn unbind_tee(provider: &Pubkey, app: &Pubkey, tee: &Pubkey) -> Instruction {
    ix(
        accounts::UnbindTee { provider: *provider, stake: pda::provider_stake(app, provider) },
        instruction::UnbindTee { tee: *tee },
    )
}

pub fn stake(
    provider: &Pubkey,
    app: &Pubkey,
    provider_token: &Pubkey,
    token: TokenSetup,
    amount: u64,
) -> Instruction {
    let stake = pda::provider_stake(app, provider);
    ix(
        accounts::Deposit {
            provider: *provider,
            terms: pda::stake_terms(app),
            stake,
            vault: pda::stake_vault(&stake),
            provider_token: *provider_token,
            mint: token.mint,
            token_program: token.token_program,
        },
        instruction::Stake { amount },
    )
}

pub fn request_unstake(provider: &Pubkey, app: &Pubkey) -> Instruction {
    let stake = pda::provider_stake(app, provider);
    ix(
        accounts::RequestUnstake {
            provider: *provider,
            terms: pda::stake_terms(app),
            stake,
            escrow: pda::stake_escrow(&stake),
        },
        instruction::RequestUnstake {},
    )
}

/// Token accounts of the two parties, for instructions that pay both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parties {
    pub publisher: Pubkey,
    pub publisher_token: Pubkey,
    pub provider: Pubkey,
    pub provider_token: Pubkey,
}

pub fn withdraw(app: &Pubkey, parties: Parties, token: TokenSetup) -> Instruction {
    let stake = pda::provider_stake(app, &parties.provider);
    ix(
        accounts::Withdraw {
            provider: parties.provider,
            app: *app,
            terms: pda::stake_terms(app),
            stake,
            vault: pda::stake_vault(&stake),
            escrow: pda::stake_escrow(&stake),
            provider_token: parties.provider_token,
            publisher_token: parties.publisher_token,
            publisher: parties.publisher,
            mint: token.mint,
            token_program: token.token_program,
        },
        instruction::Withdraw {},
    )
}

fn shard_metas(shards: &[Pubkey]) -> impl Iterator<Item = AccountMeta> + '_ {
    shards.iter().map(|shard| AccountMeta::new_readonly(*shard, false))
}

/// `shards`: every shard account of the app, in shard-id order (the target is drawn on-chain).
pub fn open_challenge(publisher: &Pubkey, app: &Pubkey, provider: &Pubkey, shards: &[Pubkey]) -> Instruction {
    let stake = pda::provider_stake(app, provider);
    let mut open = ix(
        accounts::OpenChallenge {
            publisher: *publisher,
            app: *app,
            terms: pda::stake_terms(app),
            stake,
            escrow: pda::stake_escrow(&stake),
            slot_hashes: sysvar::slot_hashes::ID,
            system_program: system_program::ID,
        },
        instruction::OpenChallenge {},
    );
    open.accounts.extend(shard_metas(shards));
    open
}

/// Signed by `tee`; the fee payer is the transaction's.
pub fn answer_challenge(
    tee: &Pubkey,
    app: &Pubkey,
    provider: &Pubkey,
    shard: &Pubkey,
    args: AnswerChallengeArgs,
) -> Instruction {
    ix(
        accounts::AnswerChallenge {
            tee: *tee,
            tee_entry: pda::tee_entry(tee),
            app: *app,
            shard: *shard,
            stake: pda::provider_stake(app, provider),
        },
        instruction::AnswerChallenge { args },
    )
}

pub fn report_corruption(tee: &Pubkey, app: &Pubkey, provider: &Pubkey, shards: &[Pubkey]) -> Instruction {
    let mut report = ix(
        accounts::ReportCorruption {
            tee: *tee,
            tee_entry: pda::tee_entry(tee),
            app: *app,
            terms: pda::stake_terms(app),
            stake: pda::provider_stake(app, provider),
            slot_hashes: sysvar::slot_hashes::ID,
        },
        instruction::ReportCorruption {},
    );
    report.accounts.extend(shard_metas(shards));
    report
}

pub fn slash(app: &Pubkey, parties: Parties, token: TokenSetup) -> Instruction {
    let stake = pda::provider_stake(app, &parties.provider);
    ix(
        accounts::Slash {
            app: *app,
            terms: pda::stake_terms(app),
            stake,
            vault: pda::stake_vault(&stake),
            escrow: pda::stake_escrow(&stake),
            mint: token.mint,
            publisher_token: parties.publisher_token,
            provider_token: parties.provider_token,
            publisher: parties.publisher,
            token_program: token.token_program,
        },
        instruction::Slash {},
    )
}

pub fn fund(
    publisher: &Pubkey,
    app: &Pubkey,
    provider: &Pubkey,
    publisher_token: &Pubkey,
    token: TokenSetup,
    amount: u64,
) -> Instruction {
    let stake = pda::provider_stake(app, provider);
    ix(
        accounts::Fund {
            publisher: *publisher,
            app: *app,
            terms: pda::stake_terms(app),
            stake,
            escrow: pda::stake_escrow(&stake),
            publisher_token: *publisher_token,
            mint: token.mint,
            token_program: token.token_program,
        },
        instruction::Fund { amount },
    )
}

pub fn claim_payment(
    provider: &Pubkey,
    app: &Pubkey,
    provider_token: &Pubkey,
    token: TokenSetup,
) -> Instruction {
    let stake = pda::provider_stake(app, provider);
    ix(
        accounts::ClaimPayment {
            provider: *provider,
            terms: pda::stake_terms(app),
            stake,
            escrow: pda::stake_escrow(&stake),
            provider_token: *provider_token,
            mint: token.mint,
            token_program: token.token_program,
        },
        instruction::ClaimPayment {},
    )
}

pub fn request_retrieval(
    publisher: &Pubkey,
    app: &Pubkey,
    provider: &Pubkey,
    shard: &Pubkey,
    shard_id: u16,
) -> Instruction {
    let stake = pda::provider_stake(app, provider);
    ix(
        accounts::RequestRetrieval {
            publisher: *publisher,
            app: *app,
            terms: pda::stake_terms(app),
            stake,
            escrow: pda::stake_escrow(&stake),
            shard: *shard,
        },
        instruction::RequestRetrieval { shard_id },
    )
}

pub fn answer_retrieval(
    tee: &Pubkey,
    app: &Pubkey,
    provider: &Pubkey,
    shard: &Pubkey,
    args: AnswerRetrievalArgs,
) -> Instruction {
    ix(
        accounts::AnswerRetrieval {
            tee: *tee,
            tee_entry: pda::tee_entry(tee),
            app: *app,
            shard: *shard,
            stake: pda::provider_stake(app, provider),
        },
        instruction::AnswerRetrieval { args },
    )
}

pub fn decode_terms(address: &Pubkey, account: &Account) -> Result<StakeTerms, SdkError> {
    decode(address, account, &storage_stake::ID, "StakeTerms")
}

pub fn decode_stake(address: &Pubkey, account: &Account) -> Result<ProviderStake, SdkError> {
    decode(address, account, &storage_stake::ID, "ProviderStake")
}

/// `SHA-256(nonce ‖ ciphertext)`: what the TEE computes after fetching the challenged leaf's blob.
pub fn possession_tag(nonce: &[u8; 32], ciphertext: &[u8]) -> [u8; 32] {
    hashv(&[nonce, ciphertext]).to_bytes()
}

/// A jmt 0.12 `SparseMerkleProof<Sha256>` (Borsh): its leaf `(key hash, value hash)` if any and
/// its siblings' hashes, bottom first (`None` = empty subtree).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JmtProof {
    pub leaf: Option<([u8; 32], [u8; 32])>,
    pub siblings: Vec<Option<[u8; 32]>>,
}

impl JmtProof {
    pub fn from_borsh(bytes: &[u8]) -> Result<Self, SdkError> {
        let mut rest = bytes;
        let mut take = |n: usize| -> Result<&[u8], SdkError> {
            if rest.len() < n {
                return Err(SdkError::JmtProof("truncated"));
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        let hash = |b: &[u8]| -> [u8; 32] { b.try_into().unwrap_or([0; 32]) };
        let leaf = match take(1)?[0] {
            0 => None,
            1 => Some((hash(take(32)?), hash(take(32)?))),
            _ => return Err(SdkError::JmtProof("invalid Option tag")),
        };
        let count = u32::from_le_bytes(take(4)?.try_into().unwrap_or_default()) as usize;
        if count > 256 {
            return Err(SdkError::JmtProof("more than 256 siblings"));
        }
        let mut siblings = Vec::with_capacity(count);
        for _ in 0..count {
            siblings.push(match take(1)?[0] {
                0 => None,
                1 => Some(internal_hash(&hash(take(32)?), &hash(take(32)?))),
                2 => Some(leaf_hash(&hash(take(32)?), &hash(take(32)?))),
                _ => return Err(SdkError::JmtProof("invalid node tag")),
            });
        }
        if !rest.is_empty() {
            return Err(SdkError::JmtProof("trailing bytes"));
        }
        Ok(JmtProof { leaf, siblings })
    }
}

/// One step of the target rule off-chain, given jmt's proof for `probe` (start with the
/// challenge's point): the proof ends at a leaf (the selected one: prove it with
/// [`compact_proof`] of this same proof), or at an empty subtree, in which case the walk goes on
/// in the sibling subtree: the next probe is `probe` with the bit above the empty subtree flipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    Leaf,
    Next([u8; 32]),
}

pub fn next_probe(probe: &[u8; 32], proof: &JmtProof) -> Result<Probe, SdkError> {
    if proof.leaf.is_some() {
        return Ok(Probe::Leaf);
    }
    let depth = proof.siblings.len();
    if depth == 0 {
        return Err(SdkError::EmptyTree);
    }
    let mut next = *probe;
    let d = depth - 1;
    next[d / 8] ^= 0x80 >> (d % 8);
    Ok(Probe::Next(next))
}

/// The compact proof the program checks, from a jmt proof that ends at a leaf.
pub fn compact_proof(proof: &JmtProof) -> Result<LeafProof, SdkError> {
    let (key_hash, value_hash) =
        proof.leaf.ok_or(SdkError::JmtProof("the proof ends at an empty subtree"))?;
    let depth = proof.siblings.len();
    let mut empty_siblings = vec![0u8; depth.div_ceil(8)];
    let mut siblings = Vec::new();
    for (i, sibling) in proof.siblings.iter().enumerate() {
        match sibling {
            Some(hash) if *hash != PLACEHOLDER => siblings.push(*hash),
            _ => empty_siblings[i / 8] |= 1 << (i % 8),
        }
    }
    Ok(LeafProof { key_hash, value_hash, depth: depth as u16, empty_siblings, siblings })
}

/// The leaf `point` selects per the target rule, by the rule's definition, over a plain list of
/// the tree's key hashes (a reference for tests and audits; O(depth × keys)).
pub fn select_leaf_by_keys(point: &[u8; 32], keys: &[[u8; 32]]) -> Option<[u8; 32]> {
    let mut candidates: Vec<&[u8; 32]> = keys.iter().collect();
    let mut depth = 0;
    while candidates.len() > 1 {
        let (same, other): (Vec<&[u8; 32]>, Vec<&[u8; 32]>) =
            candidates.iter().partition(|key| bit(key, depth) == bit(point, depth));
        candidates = if same.is_empty() { other } else { same };
        depth += 1;
    }
    candidates.first().map(|key| **key)
}
