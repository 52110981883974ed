//! Recording the quote's own P-256 signatures, checked by the secp256r1 precompile in the same
//! transaction, into a [`QuoteBuffer`] that `register_tee` consumes when governance requires it.
//!
//! Part 1 (`record_quote_isv`): the attestation key over header‖body; the body's report data must
//! start with the TEE key. Part 2 (`record_quote_qe`): the PCK key over the QE report; the raw
//! attestation key must compress to part 1's, and the QE report's data must be
//! SHA-256(attestation key ‖ QE authentication data) followed by zeros, which is what ties the
//! attestation key to the quoting enclave. Two transactions, because the two signed messages with
//! their keys do not fit one packet for TDX.
use anchor_lang::prelude::*;
use anchor_lang::solana_program::hash::{hash, hashv};
use anchor_lang::solana_program::sysvar::instructions as instructions_sysvar;

use crate::error::VerifierError;
use crate::events::{QuoteBufferClosed, QuotePartRecorded};
use crate::secp256r1::{compress_point, preceding_signature, quote_report_data};
use crate::state::*;

/// Intel's QE authentication data is 32 bytes; the bound keeps the instruction within a packet.
pub const MAX_QE_AUTH_DATA_LEN: usize = 256;
const QE_REPORT_LEN: usize = 384;
const QE_REPORT_DATA_OFFSET: usize = 320;

#[derive(Accounts)]
#[instruction(tee: Pubkey, nonce: u64)]
pub struct RecordQuoteIsv<'info> {
    /// Funds the buffer, gets its rent back, and must be `register_tee`'s payer. The buffer's
    /// address includes it, so nobody can squat (or fill with another quote) someone else's.
    #[account(mut)]
    pub payer: Signer<'info>,
    #[account(
        init,
        payer = payer,
        space = 8 + QuoteBuffer::INIT_SPACE,
        seeds = [QUOTE_SEED, tee.as_ref(), &nonce.to_le_bytes(), payer.key().as_ref()],
        bump,
    )]
    pub quote_buffer: Account<'info, QuoteBuffer>,
    /// CHECK: address-checked instructions sysvar.
    #[account(address = instructions_sysvar::ID)]
    pub instructions: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handle_record_quote_isv(ctx: Context<RecordQuoteIsv>, tee: Pubkey, nonce: u64) -> Result<()> {
    let signed = preceding_signature(&ctx.accounts.instructions.to_account_info())?;
    let report_data = quote_report_data(&signed.message)?;
    require!(report_data[..32] == tee.to_bytes(), VerifierError::ReportDataKeyMismatch);
    let header_body_hash = hash(&signed.message).to_bytes();
    let now = Clock::get()?.unix_timestamp;
    ctx.accounts.quote_buffer.set_inner(QuoteBuffer {
        tee,
        nonce,
        payer: ctx.accounts.payer.key(),
        expires_at: now.checked_add(QUOTE_BUFFER_LIFETIME_SECS).ok_or(VerifierError::Overflow)?,
        header_body_hash,
        attestation_key: signed.key,
        qe_report_hash: [0; 32],
        pck_key: [0; P256_COMPRESSED_KEY_LEN],
        complete: false,
        bump: ctx.bumps.quote_buffer,
    });
    emit!(QuotePartRecorded {
        tee_pubkey: tee,
        nonce,
        part: 1,
        signed_hash: header_body_hash,
        signing_key: signed.key
    });
    Ok(())
}

#[derive(Accounts)]
#[instruction(tee: Pubkey, nonce: u64)]
pub struct RecordQuoteQe<'info> {
    pub payer: Signer<'info>,
    #[account(
        mut,
        seeds = [QUOTE_SEED, tee.as_ref(), &nonce.to_le_bytes(), payer.key().as_ref()],
        bump = quote_buffer.bump,
    )]
    pub quote_buffer: Account<'info, QuoteBuffer>,
    /// CHECK: address-checked instructions sysvar.
    #[account(address = instructions_sysvar::ID)]
    pub instructions: UncheckedAccount<'info>,
}

pub fn handle_record_quote_qe(
    ctx: Context<RecordQuoteQe>,
    _tee: Pubkey,
    nonce: u64,
    attestation_key: [u8; 64],
    qe_auth_data: Vec<u8>,
) -> Result<()> {
    require!(qe_auth_data.len() <= MAX_QE_AUTH_DATA_LEN, VerifierError::QeAuthDataTooLong);
    let signed = preceding_signature(&ctx.accounts.instructions.to_account_info())?;
    let buffer = &mut ctx.accounts.quote_buffer;
    require!(!buffer.complete, VerifierError::QuotePartAlreadyRecorded);
    require!(Clock::get()?.unix_timestamp < buffer.expires_at, VerifierError::QuoteBufferExpired);
    require!(signed.message.len() == QE_REPORT_LEN, VerifierError::MalformedQeReport);
    require!(
        compress_point(&attestation_key) == buffer.attestation_key,
        VerifierError::AttestationKeyMismatch
    );
    let expected = hashv(&[&attestation_key, &qe_auth_data]).to_bytes();
    let report_data = &signed.message[QE_REPORT_DATA_OFFSET..];
    require!(
        report_data[..32] == expected && report_data[32..].iter().all(|b| *b == 0),
        VerifierError::QeReportDataMismatch
    );
    let qe_report_hash = hash(&signed.message).to_bytes();
    buffer.qe_report_hash = qe_report_hash;
    buffer.pck_key = signed.key;
    buffer.complete = true;
    emit!(QuotePartRecorded {
        tee_pubkey: buffer.tee,
        nonce,
        part: 2,
        signed_hash: qe_report_hash,
        signing_key: signed.key
    });
    Ok(())
}

#[derive(Accounts)]
pub struct CloseQuoteBuffer<'info> {
    #[account(mut)]
    pub payer: Signer<'info>,
    #[account(mut, has_one = payer @ VerifierError::QuoteBufferPayerMismatch, close = payer)]
    pub quote_buffer: Account<'info, QuoteBuffer>,
}

/// The payer reclaims a buffer no `register_tee` consumed, once it has expired.
pub fn handle_close_quote_buffer(ctx: Context<CloseQuoteBuffer>) -> Result<()> {
    let buffer = &ctx.accounts.quote_buffer;
    require!(Clock::get()?.unix_timestamp >= buffer.expires_at, VerifierError::QuoteBufferNotExpired);
    emit!(QuoteBufferClosed { tee_pubkey: buffer.tee, nonce: buffer.nonce, consumed: false });
    Ok(())
}

/// `register_tee`'s check of the buffer against the statement at unix time `now`: the buffer of
/// the statement's key and nonce funded by `payer` (`register_tee`'s payer, who gets the rent back).
pub fn check_quote_buffer(
    buffer: &Account<QuoteBuffer>,
    statement: &AttestationStatement,
    payer: &Pubkey,
    now: i64,
) -> Result<()> {
    let expected = Pubkey::create_program_address(
        &[
            QUOTE_SEED,
            statement.tee_pubkey.as_ref(),
            &statement.nonce.to_le_bytes(),
            payer.as_ref(),
            &[buffer.bump],
        ],
        &crate::ID,
    )
    .map_err(|_| VerifierError::QuoteBufferMismatch)?;
    require_keys_eq!(buffer.key(), expected, VerifierError::QuoteBufferMismatch);
    require!(
        buffer.tee == statement.tee_pubkey && buffer.nonce == statement.nonce,
        VerifierError::QuoteBufferMismatch
    );
    require!(buffer.complete, VerifierError::QuoteBufferIncomplete);
    require!(now < buffer.expires_at, VerifierError::QuoteBufferExpired);
    require!(statement.version == STATEMENT_VERSION, VerifierError::UnsupportedVersion);
    require!(buffer.digest() == statement.quote_hash, VerifierError::QuoteDigestMismatch);
    Ok(())
}
