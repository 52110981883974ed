use anchor_lang::prelude::*;

use crate::error::RegistryError;
use crate::events::{TeeRefreshed, TeeRegistered};
use crate::state::*;

#[derive(Accounts)]
#[instruction(args: RegisterArgs)]
pub struct Register<'info> {
    /// The verifier's PDA: the only signer the registry accepts.
    #[account(seeds = [VERIFIER_AUTHORITY_SEED], bump, seeds::program = ATTESTATION_VERIFIER_ID)]
    pub verifier_authority: Signer<'info>,
    #[account(mut)]
    pub payer: Signer<'info>,
    #[account(
        init_if_needed,
        payer = payer,
        space = 8 + TeeEntry::INIT_SPACE,
        seeds = [TEE_ENTRY_SEED, args.tee_pubkey.as_ref()],
        bump,
    )]
    pub entry: Account<'info, TeeEntry>,
    pub system_program: Program<'info, System>,
}

pub fn handle_register(ctx: Context<Register>, args: RegisterArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    require!(args.expires_at > now, RegistryError::ExpiryInPast);
    let entry = &mut ctx.accounts.entry;

    // `registered_at` is set on the first registration and never cleared, and the cluster's clock
    // is past 0: only an account created by this very instruction reads 0.
    if entry.registered_at == 0 {
        entry.set_inner(TeeEntry {
            tee_pubkey: args.tee_pubkey,
            measurement: args.measurement,
            app_id: args.app_id,
            compose_hash: args.compose_hash,
            statement_hash: args.statement_hash,
            quote_hash: args.quote_hash,
            tcb_status: args.tcb_status,
            registered_at: now,
            refreshed_at: now,
            expires_at: args.expires_at,
            last_nonce: args.nonce,
            revoked: false,
            revoked_at: 0,
            bump: ctx.bumps.entry,
        });
        emit!(TeeRegistered {
            tee_pubkey: args.tee_pubkey,
            measurement: args.measurement,
            app_id: args.app_id,
            compose_hash: args.compose_hash,
            statement_hash: args.statement_hash,
            nonce: args.nonce,
            expires_at: args.expires_at,
        });
        return Ok(());
    }

    require!(!entry.revoked, RegistryError::TeeRevoked);
    require!(args.nonce > entry.last_nonce, RegistryError::NonceReplayed);
    require!(
        entry.measurement == args.measurement
            && entry.app_id == args.app_id
            && entry.compose_hash == args.compose_hash,
        RegistryError::EvidenceMismatch
    );
    entry.statement_hash = args.statement_hash;
    entry.quote_hash = args.quote_hash;
    entry.tcb_status = args.tcb_status;
    entry.refreshed_at = now;
    entry.expires_at = args.expires_at;
    entry.last_nonce = args.nonce;
    emit!(TeeRefreshed {
        tee_pubkey: args.tee_pubkey,
        statement_hash: args.statement_hash,
        nonce: args.nonce,
        expires_at: args.expires_at,
    });
    Ok(())
}
