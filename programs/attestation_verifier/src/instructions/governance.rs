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

pub fn handle_add_measurement(ctx: Context<Governed>, measurement: [u8; 32]) -> Result<()> {
    add_unique(&mut ctx.accounts.config.measurements, measurement, MAX_MEASUREMENTS)?;
    emit!(MeasurementAllowed { measurement });
    Ok(())
}

pub fn handle_remove_measurement(ctx: Context<Governed>, measurement: [u8; 32]) -> Result<()> {
    remove(&mut ctx.accounts.config.measurements, &measurement)?;
    emit!(MeasurementRemoved { measurement });
    Ok(())
}

pub fn handle_add_app(ctx: Context<Governed>, app: AppIdentity) -> Result<()> {
    add_unique(&mut ctx.accounts.config.apps, app, MAX_APPS)?;
    emit!(AppAllowed { app });
    Ok(())
}

pub fn handle_remove_app(ctx: Context<Governed>, app: AppIdentity) -> Result<()> {
    remove(&mut ctx.accounts.config.apps, &app)?;
    emit!(AppRemoved { app });
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

fn add_unique<T: PartialEq>(list: &mut Vec<T>, item: T, max: usize) -> Result<()> {
    require!(!list.contains(&item), VerifierError::AlreadyAllowed);
    require!(list.len() < max, VerifierError::AllowListFull);
    list.push(item);
    Ok(())
}

fn remove<T: PartialEq>(list: &mut Vec<T>, item: &T) -> Result<()> {
    let index = list.iter().position(|x| x == item).ok_or(VerifierError::NotAllowed)?;
    list.swap_remove(index);
    Ok(())
}
