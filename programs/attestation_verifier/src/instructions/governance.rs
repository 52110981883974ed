//! Governance instructions that share one account set: the authority and the config.
use anchor_lang::prelude::*;

use crate::error::VerifierError;
use crate::events::*;
use crate::state::*;

#[derive(Accounts)]
pub struct Governed<'info> {
    pub authority: Signer<'info>,
    #[account(mut, seeds = [CONFIG_SEED], bump = config.bump, has_one = authority @ VerifierError::NotAuthority)]
    pub config: Account<'info, VerifierConfig>,
}

pub fn handle_set_attesters(ctx: Context<Governed>, attesters: Vec<Pubkey>, threshold: u8) -> Result<()> {
    validate_attesters(&attesters, threshold)?;
    let config = &mut ctx.accounts.config;
    config.attesters = attesters.clone();
    config.threshold = threshold;
    emit!(AttestersUpdated { attesters, threshold });
    Ok(())
}

pub fn handle_add_allowed(ctx: Context<Governed>, allowed: AllowedTee) -> Result<()> {
    require!(allowed.max_tcb_status < TcbStatus::Revoked as u8, VerifierError::InvalidPolicy);
    let list = &mut ctx.accounts.config.allowed;
    require!(
        !list.iter().any(|a| a.same_pair(&allowed.measurement, &allowed.app)),
        VerifierError::AlreadyAllowed
    );
    require!(list.len() < MAX_ALLOWED, VerifierError::AllowListFull);
    list.push(allowed);
    emit!(TeeAllowed { allowed });
    Ok(())
}

pub fn handle_remove_allowed(ctx: Context<Governed>, measurement: [u8; 32], app: AppIdentity) -> Result<()> {
    let list = &mut ctx.accounts.config.allowed;
    let index = list.iter().position(|a| a.same_pair(&measurement, &app)).ok_or(VerifierError::NotAllowed)?;
    list.swap_remove(index);
    emit!(TeeDisallowed { measurement, app });
    Ok(())
}

pub fn handle_set_policy(ctx: Context<Governed>, policy: Policy) -> Result<()> {
    policy.validate()?;
    let config = &mut ctx.accounts.config;
    require!(policy.nonce_floor >= config.policy.nonce_floor, VerifierError::NonceFloorDecrease);
    config.policy = policy;
    emit!(PolicyUpdated { policy });
    Ok(())
}

pub fn handle_propose_authority(ctx: Context<Governed>, new_authority: Pubkey) -> Result<()> {
    let config = &mut ctx.accounts.config;
    config.pending_authority = Some(new_authority);
    emit!(AuthorityProposed { current: config.authority, proposed: new_authority });
    Ok(())
}
