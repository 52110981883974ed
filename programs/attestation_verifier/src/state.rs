use anchor_lang::prelude::*;

use crate::error::VerifierError;

pub use tee_registry::state::{TEE_ENTRY_SEED, VERIFIER_AUTHORITY_SEED};

/// Seed of the single governance config account.
pub const CONFIG_SEED: &[u8] = b"config";
/// Domain tag that opens every attestation statement.
pub const STATEMENT_DOMAIN: [u8; 16] = *b"IRONROOT-ATTEST1";
/// Layout version of [`AttestationStatement`] attesters sign now: version 2, whose `quote_hash` is
/// the [`quote_digest`] of the quote's signed parts.
pub const STATEMENT_VERSION: u8 = 2;
/// Version 1 statements (`quote_hash` = SHA-256 of the whole quote) are still accepted while
/// governance does not require the quote's signatures on-chain: their hash cannot be tied to a
/// recorded quote.
pub const STATEMENT_VERSION_WHOLE_QUOTE_HASH: u8 = 1;
pub const MAX_ATTESTERS: usize = 16;
/// Allowed (measurement, identity) pairs.
pub const MAX_ALLOWED: usize = 32;
/// How far an attester's clock may run ahead of the cluster's.
pub const MAX_CLOCK_SKEW_SECS: i64 = 120;

/// dstack app identity: app id and the compose hash it runs.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub struct AppIdentity {
    pub app_id: [u8; 32],
    pub compose_hash: [u8; 32],
}

/// One allowed TEE configuration: a measurement together with the app identity it must run, and
/// the worst TCB status accepted for it. A statement passes only if its own pair is listed, so
/// allowing (M1, I1) and (M2, I2) never lets (M2, I1) in.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub struct AllowedTee {
    pub measurement: [u8; 32],
    pub app: AppIdentity,
    /// TCB floor for this pair: the largest [`TcbStatus`] value accepted (0 = UpToDate only).
    /// Applies on top of the policy's `accepted_tcb` set.
    pub max_tcb_status: u8,
}

impl AllowedTee {
    pub fn same_pair(&self, measurement: &[u8; 32], app: &AppIdentity) -> bool {
        self.measurement == *measurement && self.app == *app
    }
}

/// Intel TCB status as reported by quote verification (bit `n` of `accepted_tcb` = status `n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TcbStatus {
    UpToDate = 0,
    SwHardeningNeeded = 1,
    ConfigurationNeeded = 2,
    ConfigurationAndSwHardeningNeeded = 3,
    OutOfDate = 4,
    OutOfDateConfigurationNeeded = 5,
    Revoked = 6,
}

impl TcbStatus {
    pub fn bit(self) -> u16 {
        1 << (self as u8)
    }
}

/// Policy knobs governance can change in one instruction.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub struct Policy {
    /// Bitmask of accepted [`TcbStatus`] values; `Revoked` can never be accepted.
    pub accepted_tcb: u16,
    /// Upper bound on a registration's lifetime, in seconds.
    pub max_key_lifetime_secs: i64,
    /// How old a statement's `verified_at` may be when it is submitted, in seconds.
    pub max_statement_age_secs: i64,
    /// Statements with a smaller nonce are refused; only ever raised (invalidates outstanding ones).
    pub nonce_floor: u64,
    /// `register_tee` also requires the quote's own P-256 signatures, checked by the secp256r1
    /// precompile and recorded in a [`QuoteBuffer`] by `record_quote_isv` / `record_quote_qe`,
    /// whose [`quote_digest`] must equal the (version 2) statement's `quote_hash`.
    pub require_quote_signatures: bool,
}

/// Governance configuration of the verifier (PDA `[CONFIG_SEED]`).
#[account]
#[derive(InitSpace, Debug)]
pub struct VerifierConfig {
    pub authority: Pubkey,
    /// Set by `propose_authority`, cleared by `accept_authority`.
    pub pending_authority: Option<Pubkey>,
    /// Genesis hash of the cluster this config serves; statements must name it.
    pub cluster_genesis_hash: [u8; 32],
    pub threshold: u8,
    #[max_len(MAX_ATTESTERS)]
    pub attesters: Vec<Pubkey>,
    #[max_len(MAX_ALLOWED)]
    pub allowed: Vec<AllowedTee>,
    pub policy: Policy,
    pub bump: u8,
    /// Bump of the `[VERIFIER_AUTHORITY_SEED]` PDA, stored to avoid re-deriving it per call.
    pub verifier_authority_bump: u8,
}

/// The statement attesters sign after verifying a quote. Fixed-size Borsh layout,
/// [`AttestationStatement::LEN`] bytes; every field is covered by each attester's signature.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct AttestationStatement {
    pub domain: [u8; 16],
    pub version: u8,
    pub cluster_genesis_hash: [u8; 32],
    /// The TEE registry program the statement is meant for.
    pub registry_program: Pubkey,
    pub tee_pubkey: Pubkey,
    pub app_id: [u8; 32],
    pub compose_hash: [u8; 32],
    pub measurement: [u8; 32],
    pub tcb_status: u8,
    /// Version 2: the [`quote_digest`] of the quote the attesters verified; version 1: SHA-256 of
    /// the whole quote.
    pub quote_hash: [u8; 32],
    pub nonce: u64,
    /// Unix time at which the attesters verified the quote.
    pub verified_at: i64,
    /// Unix time after which the statement (and a registration from it) is void.
    pub expires_at: i64,
}

impl AttestationStatement {
    pub const LEN: usize = 16 + 1 + 6 * 32 + 1 + 32 + 3 * 8;

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::LEN);
        // Writing into a Vec cannot fail.
        self.serialize(&mut out).expect("serialize into Vec");
        out
    }
}

impl Policy {
    pub fn validate(&self) -> Result<()> {
        require!(
            self.accepted_tcb & TcbStatus::Revoked.bit() == 0
                && self.accepted_tcb < (TcbStatus::Revoked.bit() << 1)
                && self.max_key_lifetime_secs > 0
                && self.max_statement_age_secs > 0,
            VerifierError::InvalidPolicy
        );
        Ok(())
    }
}

/// An attester set is 1..=MAX_ATTESTERS distinct keys with 1 <= threshold <= len.
pub fn validate_attesters(attesters: &[Pubkey], threshold: u8) -> Result<()> {
    require!(!attesters.is_empty() && attesters.len() <= MAX_ATTESTERS, VerifierError::InvalidAttesterSet);
    for (i, key) in attesters.iter().enumerate() {
        require!(!attesters[..i].contains(key), VerifierError::InvalidAttesterSet);
    }
    require!(threshold >= 1 && threshold as usize <= attesters.len(), VerifierError::InvalidThreshold);
    Ok(())
}

impl VerifierConfig {
    /// Checks every statement field against this config at unix time `now`.
    pub fn check_statement(&self, st: &AttestationStatement, tee: &Pubkey, now: i64) -> Result<()> {
        require!(st.domain == STATEMENT_DOMAIN, VerifierError::WrongDomain);
        require!(
            st.version == STATEMENT_VERSION
                || (st.version == STATEMENT_VERSION_WHOLE_QUOTE_HASH
                    && !self.policy.require_quote_signatures),
            VerifierError::UnsupportedVersion
        );
        require!(st.cluster_genesis_hash == self.cluster_genesis_hash, VerifierError::WrongCluster);
        require_keys_eq!(st.registry_program, tee_registry::ID, VerifierError::WrongProgram);
        require_keys_eq!(st.tee_pubkey, *tee, VerifierError::TeeKeyMismatch);
        let app = AppIdentity { app_id: st.app_id, compose_hash: st.compose_hash };
        let pair = self
            .allowed
            .iter()
            .find(|allowed| allowed.same_pair(&st.measurement, &app))
            .ok_or(VerifierError::TeeNotAllowed)?;
        require!(
            st.tcb_status < 16 && self.policy.accepted_tcb & (1u16 << st.tcb_status) != 0,
            VerifierError::TcbNotAccepted
        );
        require!(st.tcb_status <= pair.max_tcb_status, VerifierError::TcbBelowPairFloor);
        require!(st.nonce >= self.policy.nonce_floor, VerifierError::NonceBelowFloor);
        let latest = now.checked_add(MAX_CLOCK_SKEW_SECS).ok_or(VerifierError::Overflow)?;
        require!(st.verified_at <= latest, VerifierError::StatementFromFuture);
        let age = now.checked_sub(st.verified_at).ok_or(VerifierError::Overflow)?;
        require!(age <= self.policy.max_statement_age_secs, VerifierError::StatementStale);
        require!(st.expires_at > now, VerifierError::StatementExpired);
        Ok(())
    }

    /// Every signer must be a distinct member, and at least `threshold` of them must have signed.
    pub fn check_attesters(&self, signers: &[Pubkey]) -> Result<()> {
        for (i, key) in signers.iter().enumerate() {
            require!(self.attesters.contains(key), VerifierError::UnknownAttester);
            require!(!signers[..i].contains(key), VerifierError::DuplicateAttester);
        }
        require!(signers.len() >= self.threshold as usize, VerifierError::InsufficientAttesters);
        Ok(())
    }
}

/// Seed prefix of a [`QuoteBuffer`]: `[QUOTE_SEED, tee, nonce LE, payer]`.
pub const QUOTE_SEED: &[u8] = b"quote";
/// Domain tag of [`quote_digest`].
pub const QUOTE_DIGEST_DOMAIN: [u8; 15] = *b"IRONROOT-QUOTE2";
/// How long a quote buffer may wait for its `register_tee`; after that only its payer may close it.
pub const QUOTE_BUFFER_LIFETIME_SECS: i64 = 3_600;
/// Compressed P-256 public key (`0x02 | parity(y)` ‖ x), as the secp256r1 precompile takes it.
pub const P256_COMPRESSED_KEY_LEN: usize = 33;

/// The quote digest a version 2 statement carries: it names exactly the two signed parts of the
/// quote and the PCK key whose certificate chain the attesters verified:
/// `SHA-256("IRONROOT-QUOTE2" ‖ SHA-256(header‖body) ‖ SHA-256(QE report) ‖ compressed PCK key)`.
pub fn quote_digest(
    header_body_hash: &[u8; 32],
    qe_report_hash: &[u8; 32],
    pck_key: &[u8; P256_COMPRESSED_KEY_LEN],
) -> [u8; 32] {
    anchor_lang::solana_program::hash::hashv(&[
        &QUOTE_DIGEST_DOMAIN,
        header_body_hash,
        qe_report_hash,
        pck_key,
    ])
    .to_bytes()
}

/// What the secp256r1 precompile proved about one quote, recorded across two transactions
/// (PDA `[QUOTE_SEED, tee, nonce LE, payer]`; created by `record_quote_isv`, completed by
/// `record_quote_qe`, closed by `register_tee` or, after `expires_at`, by its payer).
#[account]
#[derive(InitSpace, Debug)]
pub struct QuoteBuffer {
    pub tee: Pubkey,
    pub nonce: u64,
    /// Funded the account; gets the rent back.
    pub payer: Pubkey,
    pub expires_at: i64,
    /// SHA-256(header‖body), whose signature by `attestation_key` the precompile checked.
    pub header_body_hash: [u8; 32],
    pub attestation_key: [u8; P256_COMPRESSED_KEY_LEN],
    /// SHA-256(QE report), whose signature by `pck_key` the precompile checked (part 2).
    pub qe_report_hash: [u8; 32],
    pub pck_key: [u8; P256_COMPRESSED_KEY_LEN],
    /// Set once part 2 is recorded.
    pub complete: bool,
    pub bump: u8,
}

impl QuoteBuffer {
    pub fn digest(&self) -> [u8; 32] {
        quote_digest(&self.header_body_hash, &self.qe_report_hash, &self.pck_key)
    }
}
