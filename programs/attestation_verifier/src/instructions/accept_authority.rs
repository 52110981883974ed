use anchor_lang::prelude::*;

use crate::error::VerifierError;
use crate::events::AuthorityRotated;
use crate::state::*;

#[derive(Accounts)]
pub struct AcceptAuthority<'info> {
    pub new_authority: Signer<'info>,
    #[account(mut, seeds = [CONFIG_SEED], bump = config.bump)]
    pub config: Account<'info, VerifierConfig>,
}

pub fn handle_accept_authority(ctx: Context<AcceptAuthority>) -> Result<()> {
    let config = &mut ctx.accounts.config;
    require!(
        config.pending_authority == Some(ctx.accounts.new_authority.key()),
        VerifierError::NotPendingAuthority
    );
    let previous = config.authority;
    config.authority = ctx.accounts.new_authority.key();
    config.pending_authority = None;
    emit!(AuthorityRotated { previous, authority: config.authority });
    Ok(())
}
