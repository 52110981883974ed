use anchor_lang::prelude::*;
use tee_registry::program::TeeRegistry;
use tee_registry::TeeEntry;

use crate::error::VerifierError;
use crate::events::TeeRevokedByGovernance;
use crate::state::*;

#[derive(Accounts)]
pub struct RevokeTee<'info> {
    pub authority: Signer<'info>,
    #[account(seeds = [CONFIG_SEED], bump = config.bump, has_one = authority @ VerifierError::NotAuthority)]
    pub config: Account<'info, VerifierConfig>,
    /// CHECK: PDA with no data; signs the registry CPI.
    #[account(seeds = [VERIFIER_AUTHORITY_SEED], bump = config.verifier_authority_bump)]
    pub verifier_authority: UncheckedAccount<'info>,
    /// Owner-checked by `Account`; seeds re-checked by the registry.
    #[account(mut)]
    pub tee_entry: Account<'info, TeeEntry>,
    pub tee_registry_program: Program<'info, TeeRegistry>,
}

pub fn handle_revoke_tee(ctx: Context<RevokeTee>) -> Result<()> {
    let seeds: &[&[u8]] = &[VERIFIER_AUTHORITY_SEED, &[ctx.accounts.config.verifier_authority_bump]];
    tee_registry::cpi::revoke(CpiContext::new_with_signer(
        ctx.accounts.tee_registry_program.to_account_info(),
        tee_registry::cpi::accounts::Revoke {
            verifier_authority: ctx.accounts.verifier_authority.to_account_info(),
            entry: ctx.accounts.tee_entry.to_account_info(),
        },
        &[seeds],
    ))?;
    emit!(TeeRevokedByGovernance { tee_pubkey: ctx.accounts.tee_entry.tee_pubkey });
    Ok(())
}
