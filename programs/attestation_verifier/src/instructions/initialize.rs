use anchor_lang::prelude::*;
use anchor_lang::solana_program::bpf_loader_upgradeable;

use crate::error::VerifierError;
use crate::events::ConfigInitialized;
use crate::state::*;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct InitializeArgs {
    /// Governance authority (a multisig in production); may differ from the upgrade authority.
    pub authority: Pubkey,
    pub cluster_genesis_hash: [u8; 32],
    pub attesters: Vec<Pubkey>,
    pub threshold: u8,
    pub policy: Policy,
}

#[derive(Accounts)]
pub struct Initialize<'info> {
    /// The program's upgrade authority: only the deployer can create the config, so nobody can
    /// front-run the deployment with a config of their own.
    #[account(mut)]
    pub upgrade_authority: Signer<'info>,
    #[account(
        seeds = [crate::ID.as_ref()],
        bump,
        seeds::program = bpf_loader_upgradeable::ID,
        constraint = program_data.upgrade_authority_address == Some(upgrade_authority.key())
            @ VerifierError::NotUpgradeAuthority,
    )]
    pub program_data: Account<'info, ProgramData>,
    #[account(
        init,
        payer = upgrade_authority,
        space = 8 + VerifierConfig::INIT_SPACE,
        seeds = [CONFIG_SEED],
        bump,
    )]
    pub config: Account<'info, VerifierConfig>,
    pub system_program: Program<'info, System>,
}

pub fn handle_initialize(ctx: Context<Initialize>, args: InitializeArgs) -> Result<()> {
    validate_attesters(&args.attesters, args.threshold)?;
    args.policy.validate()?;
    let (_, verifier_authority_bump) = Pubkey::find_program_address(&[VERIFIER_AUTHORITY_SEED], &crate::ID);
    ctx.accounts.config.set_inner(VerifierConfig {
        authority: args.authority,
        pending_authority: None,
        cluster_genesis_hash: args.cluster_genesis_hash,
        threshold: args.threshold,
        attesters: args.attesters.clone(),
        allowed: Vec::new(),
        policy: args.policy,
        bump: ctx.bumps.config,
        verifier_authority_bump,
    });
    emit!(ConfigInitialized {
        authority: args.authority,
        cluster_genesis_hash: args.cluster_genesis_hash,
        attesters: args.attesters,
        threshold: args.threshold,
    });
    Ok(())
}
