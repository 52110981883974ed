//! Reading attester signatures out of the transaction's Ed25519 precompile instructions.
//!
//! The runtime has already verified every precompile signature before this program runs; what is
//! left to check is *what* was signed and *by whom*. Each signature entry's three
//! instruction-index fields must name its own precompile instruction, so an attacker cannot point a
//! valid signature at bytes elsewhere in the transaction, and every signed message must be the same
//! statement.
use anchor_lang::prelude::*;
use anchor_lang::solana_program::ed25519_program;
use anchor_lang::solana_program::sysvar::instructions::load_instruction_at_checked;

use crate::error::VerifierError;

const HEADER_LEN: usize = 2;
const OFFSETS_LEN: usize = 14;
const SIGNATURE_LEN: usize = 64;
const PUBKEY_LEN: usize = 32;
/// Index value meaning "the precompile instruction itself".
const THIS_INSTRUCTION: u16 = u16::MAX;

/// The one statement the precompile instructions carry, and who signed it (in order, possibly
/// with repeats: the caller decides what repeats mean).
#[derive(Debug, PartialEq, Eq)]
pub struct SignedStatement {
    pub message: Vec<u8>,
    pub signers: Vec<Pubkey>,
}

/// Scans every instruction of the current transaction for Ed25519 precompile instructions.
pub fn signed_statement(instructions_sysvar: &AccountInfo) -> Result<SignedStatement> {
    let count = {
        let data = instructions_sysvar.try_borrow_data()?;
        let bytes: [u8; 2] =
            data.get(..2).and_then(|b| b.try_into().ok()).ok_or(VerifierError::MalformedPrecompile)?;
        u16::from_le_bytes(bytes)
    };
    let mut message: Option<Vec<u8>> = None;
    let mut signers = Vec::new();
    for index in 0..count {
        let ix = load_instruction_at_checked(index as usize, instructions_sysvar)?;
        if ix.program_id != ed25519_program::ID {
            continue;
        }
        parse_precompile(index, &ix.data, &mut message, &mut signers)?;
    }
    let message = message.ok_or(VerifierError::MissingAttestation)?;
    Ok(SignedStatement { message, signers })
}

fn parse_precompile(
    own_index: u16,
    data: &[u8],
    message: &mut Option<Vec<u8>>,
    signers: &mut Vec<Pubkey>,
) -> Result<()> {
    let count = *data.first().ok_or(VerifierError::MalformedPrecompile)? as usize;
    require!(count > 0, VerifierError::MalformedPrecompile);
    let table_end = HEADER_LEN
        .checked_add(count.checked_mul(OFFSETS_LEN).ok_or(VerifierError::Overflow)?)
        .ok_or(VerifierError::Overflow)?;
    require!(data.len() >= table_end, VerifierError::MalformedPrecompile);

    for entry in data[HEADER_LEN..table_end].chunks_exact(OFFSETS_LEN) {
        let field = |i: usize| u16::from_le_bytes([entry[2 * i], entry[2 * i + 1]]);
        let (sig_offset, sig_ix) = (field(0), field(1));
        let (key_offset, key_ix) = (field(2), field(3));
        let (msg_offset, msg_len, msg_ix) = (field(4), field(5), field(6));
        for ix in [sig_ix, key_ix, msg_ix] {
            require!(ix == THIS_INSTRUCTION || ix == own_index, VerifierError::OffsetRedirection);
        }
        slice(data, sig_offset, SIGNATURE_LEN)?;
        let key = slice(data, key_offset, PUBKEY_LEN)?;
        let signed = slice(data, msg_offset, msg_len as usize)?;
        match message {
            None => *message = Some(signed.to_vec()),
            Some(first) => require!(first.as_slice() == signed, VerifierError::StatementMismatch),
        }
        signers.push(Pubkey::try_from(key).map_err(|_| VerifierError::MalformedPrecompile)?);
    }
    Ok(())
}

fn slice(data: &[u8], offset: u16, len: usize) -> Result<&[u8]> {
    let start = offset as usize;
    let end = start.checked_add(len).ok_or(VerifierError::Overflow)?;
    data.get(start..end).ok_or_else(|| VerifierError::MalformedPrecompile.into())
}
