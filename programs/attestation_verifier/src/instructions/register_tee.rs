use anchor_lang::prelude::*;
use anchor_lang::solana_program::hash::hash;
use anchor_lang::solana_program::sysvar::instructions as instructions_sysvar;
use tee_registry::program::TeeRegistry;
use tee_registry::RegisterArgs;

use crate::ed25519::signed_statement;
use crate::error::VerifierError;
use crate::events::{QuoteBufferClosed, TeeAttested};
use crate::instructions::record_quote_part::check_quote_buffer;
use crate::state::*;

#[derive(Accounts)]
pub struct RegisterTee<'info> {
    /// Pays for the registry entry; may be any account.
    #[account(mut)]
    pub payer: Signer<'info>,
    /// The TEE key being registered: its signature is the proof of possession.
    pub tee: Signer<'info>,
    #[account(seeds = [CONFIG_SEED], bump = config.bump)]
    pub config: Account<'info, VerifierConfig>,
    /// CHECK: PDA with no data; signs the registry CPI.
    #[account(seeds = [VERIFIER_AUTHORITY_SEED], bump = config.verifier_authority_bump)]
    pub verifier_authority: UncheckedAccount<'info>,
    /// CHECK: the registry checks its seeds (`[TEE_ENTRY_SEED, tee]`) and creates it if needed.
    #[account(mut)]
    pub tee_entry: UncheckedAccount<'info>,
    /// The quote's recorded signatures (`[b"quote", tee, nonce, payer]`): required when
    /// governance's policy requires them, checked and closed (rent to `payer`) whenever passed.
    #[account(mut)]
    pub quote_buffer: Option<Account<'info, QuoteBuffer>>,
    /// CHECK: address-checked instructions sysvar.
    #[account(address = instructions_sysvar::ID)]
    pub instructions: UncheckedAccount<'info>,
    pub tee_registry_program: Program<'info, TeeRegistry>,
    pub system_program: Program<'info, System>,
}

pub fn handle_register_tee(ctx: Context<RegisterTee>) -> Result<()> {
    let signed = signed_statement(&ctx.accounts.instructions.to_account_info())?;
    require!(signed.message.len() == AttestationStatement::LEN, VerifierError::MalformedStatement);
    let statement = AttestationStatement::try_from_slice(&signed.message)
        .map_err(|_| VerifierError::MalformedStatement)?;
    let config = &ctx.accounts.config;
    let now = Clock::get()?.unix_timestamp;
    config.check_attesters(&signed.signers)?;
    config.check_statement(&statement, ctx.accounts.tee.key, now)?;
    match &ctx.accounts.quote_buffer {
        Some(buffer) => check_quote_buffer(buffer, &statement, ctx.accounts.payer.key, now)?,
        None => require!(!config.policy.require_quote_signatures, VerifierError::QuoteSignaturesRequired),
    }

    let lifetime_end = now.checked_add(config.policy.max_key_lifetime_secs).ok_or(VerifierError::Overflow)?;
    let expires_at = statement.expires_at.min(lifetime_end);
    let statement_hash = hash(&signed.message).to_bytes();

    let seeds: &[&[u8]] = &[VERIFIER_AUTHORITY_SEED, &[config.verifier_authority_bump]];
    tee_registry::cpi::register(
        CpiContext::new_with_signer(
            ctx.accounts.tee_registry_program.to_account_info(),
            tee_registry::cpi::accounts::Register {
                verifier_authority: ctx.accounts.verifier_authority.to_account_info(),
                payer: ctx.accounts.payer.to_account_info(),
                entry: ctx.accounts.tee_entry.to_account_info(),
                system_program: ctx.accounts.system_program.to_account_info(),
            },
            &[seeds],
        ),
        RegisterArgs {
            tee_pubkey: statement.tee_pubkey,
            measurement: statement.measurement,
            app_id: statement.app_id,
            compose_hash: statement.compose_hash,
            statement_hash,
            quote_hash: statement.quote_hash,
            tcb_status: statement.tcb_status,
            nonce: statement.nonce,
            expires_at,
        },
    )?;
    if let Some(buffer) = &ctx.accounts.quote_buffer {
        buffer.close(ctx.accounts.payer.to_account_info())?;
        emit!(QuoteBufferClosed { tee_pubkey: buffer.tee, nonce: buffer.nonce, consumed: true });
    }
    emit!(TeeAttested {
        tee_pubkey: statement.tee_pubkey,
        statement_hash,
        attesters: signed.signers,
        expires_at,
    });
    Ok(())
}
