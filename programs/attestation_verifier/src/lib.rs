//! Ironroot attestation verifier.
//!
//! Off-chain attesters verify a TEE's quote and sign a fixed-layout [`AttestationStatement`];
//! `register_tee` checks k-of-n of those signatures through the Ed25519 precompile, checks the
//! statement against governance's configuration, requires the TEE key itself to sign the
//! transaction, and then writes the TEE registry by CPI, signing with this program's PDA.
// Anchor 0.31's `#[program]` expands to `AccountInfo::realloc`, deprecated in solana-program 2.2.
#![allow(deprecated)]

use anchor_lang::prelude::*;

pub mod ed25519;
pub mod error;
pub mod events;
pub mod instructions;
pub mod secp256r1;
pub mod state;

pub use instructions::*;
pub use state::*;

declare_id!("57vDmhykDq4pCVjm4ZcsUhTwTkKk6kQDU5kkSHS1tvC2");

#[program]
pub mod attestation_verifier {
    use super::*;

    /// Create the governance config. Only the program's upgrade authority may call it, once.
    pub fn initialize(ctx: Context<Initialize>, args: InitializeArgs) -> Result<()> {
        instructions::initialize::handle_initialize(ctx, args)
    }

    /// Register (or refresh) a TEE key from a k-of-n attester statement.
    pub fn register_tee(ctx: Context<RegisterTee>) -> Result<()> {
        instructions::register_tee::handle_register_tee(ctx)
    }

    /// Part 1 of the on-chain quote check: the secp256r1 precompile instruction just before this
    /// one checked the attestation key's signature over the quote's header‖body, whose report data
    /// must start with `tee`; opens the payer's buffer `[b"quote", tee, nonce, payer]`.
    pub fn record_quote_isv(ctx: Context<RecordQuoteIsv>, tee: Pubkey, nonce: u64) -> Result<()> {
        instructions::record_quote_part::handle_record_quote_isv(ctx, tee, nonce)
    }

    /// Part 2: the precompile instruction just before this one checked the PCK key's signature over
    /// the QE report, which must bind `attestation_key` (part 1's signer) and `qe_auth_data`.
    pub fn record_quote_qe(
        ctx: Context<RecordQuoteQe>,
        tee: Pubkey,
        nonce: u64,
        attestation_key: [u8; 64],
        qe_auth_data: Vec<u8>,
    ) -> Result<()> {
        instructions::record_quote_part::handle_record_quote_qe(
            ctx,
            tee,
            nonce,
            attestation_key,
            qe_auth_data,
        )
    }

    /// The payer reclaims an expired quote buffer that no registration consumed.
    pub fn close_quote_buffer(ctx: Context<CloseQuoteBuffer>) -> Result<()> {
        instructions::record_quote_part::handle_close_quote_buffer(ctx)
    }

    /// Governance: revoke a TEE key in the registry.
    pub fn revoke_tee(ctx: Context<RevokeTee>) -> Result<()> {
        instructions::revoke_tee::handle_revoke_tee(ctx)
    }

    /// Governance: replace the attester set and its threshold.
    pub fn set_attesters(ctx: Context<Governed>, attesters: Vec<Pubkey>, threshold: u8) -> Result<()> {
        instructions::governance::handle_set_attesters(ctx, attesters, threshold)
    }

    /// Governance: allow a (measurement, app identity) pair with its TCB floor.
    pub fn add_allowed(ctx: Context<Governed>, allowed: AllowedTee) -> Result<()> {
        instructions::governance::handle_add_allowed(ctx, allowed)
    }

    /// Governance: stop allowing a pair (registered keys stay until revoked).
    pub fn remove_allowed(ctx: Context<Governed>, measurement: [u8; 32], app: AppIdentity) -> Result<()> {
        instructions::governance::handle_remove_allowed(ctx, measurement, app)
    }

    /// Governance: accepted TCB statuses, key lifetime, statement age and the nonce floor.
    pub fn set_policy(ctx: Context<Governed>, policy: Policy) -> Result<()> {
        instructions::governance::handle_set_policy(ctx, policy)
    }

    /// Governance: first step of an authority rotation.
    pub fn propose_authority(ctx: Context<Governed>, new_authority: Pubkey) -> Result<()> {
        instructions::governance::handle_propose_authority(ctx, new_authority)
    }

    /// Second step: the proposed authority signs to take over.
    pub fn accept_authority(ctx: Context<AcceptAuthority>) -> Result<()> {
        instructions::accept_authority::handle_accept_authority(ctx)
    }
}
