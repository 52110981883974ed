use anchor_lang::prelude::*;

use crate::error::RegistryError;
use crate::events::TeeRevoked;
use crate::state::*;

#[derive(Accounts)]
pub struct Revoke<'info> {
    /// The verifier's PDA, signing on behalf of governance.
    #[account(seeds = [VERIFIER_AUTHORITY_SEED], bump, seeds::program = ATTESTATION_VERIFIER_ID)]
    pub verifier_authority: Signer<'info>,
    #[account(mut, seeds = [TEE_ENTRY_SEED, entry.tee_pubkey.as_ref()], bump = entry.bump)]
    pub entry: Account<'info, TeeEntry>,
}

pub fn handle_revoke(ctx: Context<Revoke>) -> Result<()> {
    let entry = &mut ctx.accounts.entry;
    require!(!entry.revoked, RegistryError::AlreadyRevoked);
    let now = Clock::get()?.unix_timestamp;
    entry.revoked = true;
    entry.revoked_at = now;
    emit!(TeeRevoked { tee_pubkey: entry.tee_pubkey, revoked_at: now });
    Ok(())
}
