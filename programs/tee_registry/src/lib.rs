//! Ironroot TEE registry: one account per attested TEE signing key.
//!
//! Every mutation must be signed by the attestation verifier's PDA, so the only way into the
//! registry is through evidence the verifier accepted (or governance acting through it).
// Anchor 0.31's `#[program]` expands to `AccountInfo::realloc`, deprecated in solana-program 2.2.
#![allow(deprecated)]

use anchor_lang::prelude::*;

pub mod error;
pub mod events;
pub mod instructions;
pub mod state;

pub use instructions::*;
pub use state::*;

declare_id!("6PMREzfVXtPEc4x5YrTQWhH3N6Dow6y8hVuyggQC3ew2");

#[program]
pub mod tee_registry {
    use super::*;

    /// Create the entry for a TEE key, or refresh an existing one with newer evidence.
    pub fn register(ctx: Context<Register>, args: RegisterArgs) -> Result<()> {
        instructions::register::handle_register(ctx, args)
    }

    /// Mark a TEE key revoked; a revoked key can never be registered again.
    pub fn revoke(ctx: Context<Revoke>) -> Result<()> {
        instructions::revoke::handle_revoke(ctx)
    }
}
