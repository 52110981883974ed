use anchor_lang::prelude::*;

use crate::error::StakeError;

/// `[TERMS_SEED, app]`: the app's stake terms.
pub const TERMS_SEED: &[u8] = b"terms";
/// `[STAKE_SEED, app, provider]`: one provider's stake, challenge and payment state for one app.
pub const STAKE_SEED: &[u8] = b"stake";
/// `[VAULT_SEED, stake]`: token account holding the stake; its authority is the stake PDA.
pub const VAULT_SEED: &[u8] = b"vault";
/// `[ESCROW_SEED, stake]`: token account holding the publisher's payments; authority the stake PDA.
pub const ESCROW_SEED: &[u8] = b"escrow";
/// TEE keys one provider may bind to one stake.
pub const MAX_TEE_KEYS: usize = 4;
/// Basis points: shares are out of 10,000.
pub const BPS: u64 = 10_000;
/// A binary CID (CIDv1 sha2-256 is 36 bytes); room for other hashes.
pub const MAX_CID_LEN: usize = 64;

/// What the publisher asks of providers, and pays them.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq, InitSpace)]
pub struct TermsParams {
    /// Smallest stake (in mint base units) a provider must hold.
    pub min_stake: u64,
    /// Time a provider has to answer a publisher's challenge.
    pub answer_window_secs: i64,
    /// Time a provider has to recover after reporting corruption.
    pub recovery_window_secs: i64,
    /// Time a provider has to answer a retrieval request.
    pub retrieval_window_secs: i64,
    /// Time between `request_unstake` and `withdraw` (the provider stays liable meanwhile).
    pub unstake_cooldown_secs: i64,
    /// Share of a slashed stake paid to the publisher; the rest is burned.
    pub slash_to_publisher_bps: u16,
    /// Share of the stake refunded to the provider when a self-reported corruption is not recovered.
    pub corruption_refund_bps: u16,
    /// Lamports the publisher posts with each challenge.
    pub challenge_bond_lamports: u64,
    /// An answered challenge's bond goes to the provider (true) or back to the publisher (false).
    pub bond_to_provider_on_answer: bool,
    /// Minimum time between two challenges (and between two retrieval requests) of one provider.
    pub challenge_interval_secs: i64,
    /// Tokens paid to the provider per epoch of service.
    pub payment_per_epoch: u64,
    pub epoch_secs: i64,
    /// How long the provider stays bound after the escrow runs dry.
    pub grace_secs: i64,
}

impl TermsParams {
    pub fn validate(&self) -> Result<()> {
        require!(
            self.min_stake > 0
                && self.answer_window_secs > 0
                && self.recovery_window_secs > 0
                && self.retrieval_window_secs > 0
                && self.unstake_cooldown_secs >= 0
                && self.slash_to_publisher_bps as u64 <= BPS
                && self.corruption_refund_bps as u64 <= BPS
                && self.challenge_interval_secs >= 0
                && self.epoch_secs > 0
                && self.grace_secs >= 0,
            StakeError::InvalidTerms
        );
        Ok(())
    }

    /// How long a terms change waits: long enough for a provider who objects to request unstake
    /// at once and be out (cool-down) with an answer window to spare.
    pub fn notice_secs(&self) -> Result<i64> {
        self.unstake_cooldown_secs
            .checked_add(self.answer_window_secs)
            .ok_or_else(|| error!(StakeError::Overflow))
    }
}

/// The stake terms of one app (PDA `[TERMS_SEED, app]`). The mint never changes.
#[account]
#[derive(InitSpace, Debug, PartialEq, Eq)]
pub struct StakeTerms {
    pub app: Pubkey,
    pub mint: Pubkey,
    /// SPL Token or Token-2022: the owner of `mint`.
    pub token_program: Pubkey,
    pub params: TermsParams,
    /// A change the publisher proposed; applies at `pending_effective_at`.
    pub pending: Option<TermsParams>,
    pub pending_effective_at: i64,
    pub bump: u8,
}

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum StakeStatus {
    /// Serving; deposits allowed.
    Active,
    /// Cool-down running until `unlock_at`; still liable to challenges and retrievals.
    Unstaking,
    /// Lost its stake; can no longer answer, deposit or withdraw.
    Slashed,
}

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum ChallengeKind {
    /// Opened by the publisher (with a bond).
    Publisher,
    /// Opened by the provider's own TEE after it found corruption (Apocryph case 2).
    Corruption,
}

/// An open challenge: the provider must prove, against the shard's root at answer time, the leaf
/// that `point` selects in shard `shard_id`.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub struct Challenge {
    pub kind: ChallengeKind,
    pub shard_id: u16,
    /// Target point in the shard's 256-bit key space.
    pub point: [u8; 32],
    /// Mixed into the possession tag `H(nonce ‖ ciphertext)`.
    pub nonce: [u8; 32],
    /// The shard's seq and root when the challenge opened (the answer uses the live root).
    pub opened_seq: u64,
    pub opened_root: [u8; 32],
    /// The slot whose hash the target was derived from.
    pub source_slot: u64,
    pub opened_at: i64,
    pub deadline: i64,
    pub bond_lamports: u64,
    pub bond_to_provider: bool,
}

/// An open retrieval request for one shard's committed state.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub struct Retrieval {
    pub shard_id: u16,
    /// The shard's seq at request time: the export must be at least that recent.
    pub requested_seq: u64,
    pub requested_at: i64,
    pub deadline: i64,
}

/// One provider's stake for one app (PDA `[STAKE_SEED, app, provider]`), with its open challenge,
/// open retrieval request and payment state.
#[account]
#[derive(InitSpace, Debug, PartialEq, Eq)]
pub struct ProviderStake {
    pub app: Pubkey,
    pub provider: Pubkey,
    pub mint: Pubkey,
    /// Tokens in the stake vault.
    pub amount: u64,
    pub status: StakeStatus,
    /// When `withdraw` becomes possible (while unstaking).
    pub unlock_at: i64,
    /// TEE keys (registered, consenting) that answer for this provider.
    #[max_len(MAX_TEE_KEYS)]
    pub tee_keys: Vec<Pubkey>,
    pub challenge: Option<Challenge>,
    /// Challenges opened so far (publisher and corruption); seeds the next target.
    pub challenges_opened: u64,
    pub last_challenge_at: i64,
    pub retrieval: Option<Retrieval>,
    pub last_retrieval_at: i64,
    /// Whether the publisher ever funded the escrow (a grace obligation needs a paid service).
    pub funded: bool,
    /// Service up to here is paid; the escrow pays whole epochs from here on.
    pub paid_through: i64,
    /// Bond lamports held in this account, owed to the provider / the publisher.
    pub provider_bond_credit: u64,
    pub publisher_bond_credit: u64,
    pub created_at: i64,
    pub bump: u8,
    pub vault_bump: u8,
    pub escrow_bump: u8,
}

/// Where the payment escrow stands at some time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaymentState {
    /// Whole epochs served since `paid_through` that the escrow can pay.
    pub claimable_epochs: u64,
    pub claimable_amount: u64,
    /// End of the service the escrow pays for (`i64::MAX` when service is free or never runs dry).
    pub funded_until: i64,
    /// End of the grace period (`i64::MAX` as above).
    pub grace_until: i64,
}

impl PaymentState {
    pub fn in_grace(&self, now: i64) -> bool {
        now >= self.funded_until && now < self.grace_until
    }

    pub fn lapsed(&self, now: i64) -> bool {
        now >= self.grace_until
    }
}

impl ProviderStake {
    pub fn require_not_slashed(&self) -> Result<()> {
        require!(self.status != StakeStatus::Slashed, StakeError::Slashed);
        Ok(())
    }

    /// The payment escrow with `escrow_balance` tokens at `now`.
    pub fn payment_state(&self, params: &TermsParams, escrow_balance: u64, now: i64) -> Result<PaymentState> {
        let unbounded = PaymentState {
            claimable_epochs: 0,
            claimable_amount: 0,
            funded_until: i64::MAX,
            grace_until: i64::MAX,
        };
        if !self.funded || params.payment_per_epoch == 0 {
            return Ok(unbounded);
        }
        let affordable = escrow_balance / params.payment_per_epoch;
        let elapsed =
            u64::try_from(now.saturating_sub(self.paid_through)).unwrap_or(0) / params.epoch_secs as u64;
        let claimable_epochs = elapsed.min(affordable);
        let overflow = || error!(StakeError::Overflow);
        // Beyond i64 the escrow never runs dry in practice.
        let funded_until = i64::try_from(affordable)
            .ok()
            .and_then(|epochs| epochs.checked_mul(params.epoch_secs))
            .and_then(|secs| self.paid_through.checked_add(secs))
            .unwrap_or(i64::MAX);
        Ok(PaymentState {
            claimable_epochs,
            claimable_amount: claimable_epochs.checked_mul(params.payment_per_epoch).ok_or_else(overflow)?,
            funded_until,
            grace_until: funded_until.saturating_add(params.grace_secs),
        })
    }
}

/// `amount * bps / 10_000` without overflow (bps <= 10_000, so the result fits in u64).
pub fn share(amount: u64, bps: u16) -> u64 {
    ((amount as u128 * bps as u128) / BPS as u128) as u64
}
