//! Reading the quote signature a secp256r1 precompile instruction checked.
//!
//! The runtime verifies every precompile instruction before any program runs, so a precompile
//! instruction present in the transaction is a valid signature; what is left is to pin *which* key
//! and *which* bytes. `record_quote_isv` / `record_quote_qe` take the instruction right before
//! themselves, which must hold exactly one signature whose key, signature and message all lie in
//! that instruction's own data (no offset may name another instruction, whose bytes the record
//! instruction would not see).
use anchor_lang::prelude::*;
use anchor_lang::solana_program::sysvar::instructions::{
    load_current_index_checked, load_instruction_at_checked,
};

use crate::error::VerifierError;
use crate::state::P256_COMPRESSED_KEY_LEN;

/// The secp256r1 signature-verification precompile.
pub const SECP256R1_PROGRAM_ID: Pubkey =
    anchor_lang::solana_program::pubkey!("Secp256r1SigVerify1111111111111111111111111");

const OFFSETS_START: usize = 2;
const OFFSETS_LEN: usize = 14;
const SIGNATURE_LEN: usize = 64;
/// Index value meaning "the precompile instruction itself".
const THIS_INSTRUCTION: u16 = u16::MAX;

/// One precompile-checked signature: the compressed P-256 key and the message it signed.
#[derive(Debug, PartialEq, Eq)]
pub struct CheckedSignature {
    pub key: [u8; P256_COMPRESSED_KEY_LEN],
    pub message: Vec<u8>,
}

/// The signature checked by the secp256r1 precompile instruction just before the current one.
pub fn preceding_signature(instructions_sysvar: &AccountInfo) -> Result<CheckedSignature> {
    let current = load_current_index_checked(instructions_sysvar)?;
    let index = current.checked_sub(1).ok_or(VerifierError::MissingQuoteSignature)?;
    let ix = load_instruction_at_checked(index as usize, instructions_sysvar)?;
    require_keys_eq!(ix.program_id, SECP256R1_PROGRAM_ID, VerifierError::MissingQuoteSignature);
    parse_single_signature(index, &ix.data)
}

fn parse_single_signature(own_index: u16, data: &[u8]) -> Result<CheckedSignature> {
    let count = *data.first().ok_or(VerifierError::MalformedQuotePrecompile)?;
    require!(count == 1, VerifierError::QuoteSignatureRedirected);
    let entry = data
        .get(OFFSETS_START..OFFSETS_START + OFFSETS_LEN)
        .ok_or(VerifierError::MalformedQuotePrecompile)?;
    let field = |i: usize| u16::from_le_bytes([entry[2 * i], entry[2 * i + 1]]);
    let (signature_offset, signature_ix) = (field(0), field(1));
    let (key_offset, key_ix) = (field(2), field(3));
    let (message_offset, message_len, message_ix) = (field(4), field(5), field(6));
    for ix in [signature_ix, key_ix, message_ix] {
        require!(ix == THIS_INSTRUCTION || ix == own_index, VerifierError::QuoteSignatureRedirected);
    }
    slice(data, signature_offset, SIGNATURE_LEN)?;
    let key = slice(data, key_offset, P256_COMPRESSED_KEY_LEN)?;
    let message = slice(data, message_offset, message_len as usize)?;
    Ok(CheckedSignature {
        key: key.try_into().map_err(|_| VerifierError::MalformedQuotePrecompile)?,
        message: message.to_vec(),
    })
}

fn slice(data: &[u8], offset: u16, len: usize) -> Result<&[u8]> {
    let start = offset as usize;
    let end = start.checked_add(len).ok_or(VerifierError::Overflow)?;
    data.get(start..end).ok_or_else(|| VerifierError::MalformedQuotePrecompile.into())
}

/// `0x02 | parity(y)` ‖ x of a raw `x ‖ y` P-256 point (how quotes carry the attestation key).
pub fn compress_point(point: &[u8; 64]) -> [u8; P256_COMPRESSED_KEY_LEN] {
    let mut out = [0u8; P256_COMPRESSED_KEY_LEN];
    out[0] = 0x02 | (point[63] & 1);
    out[1..].copy_from_slice(&point[..32]);
    out
}

const QUOTE_HEADER_LEN: usize = 48;
const V5_BODY_DESCRIPTOR_LEN: usize = 6;
const TEE_TYPE_SGX: u32 = 0;
const TEE_TYPE_TDX: u32 = 0x81;
const SGX_REPORT_LEN: usize = 384;
const SGX_REPORT_DATA_OFFSET: usize = 320;
const TD10_REPORT_LEN: usize = 584;
const TD15_REPORT_LEN: usize = 648;
/// TD 1.0 and 1.5 reports both carry report data at this offset.
const TD_REPORT_DATA_OFFSET: usize = 520;
const REPORT_DATA_LEN: usize = 64;

/// The report data of a quote's signed `header‖body`, whose length must be exactly that of the
/// layout its header names: SGX v3, TDX v4 (TD 1.0 report), or v5 with an SGX, TD 1.0 or TD 1.5
/// body. A v5 TD 1.5 "extended" body (885 B) is refused: with its signature and key the precompile
/// instruction alone leaves no room for anything else in a transaction.
pub fn quote_report_data(signed: &[u8]) -> Result<&[u8]> {
    let header = signed.get(..QUOTE_HEADER_LEN).ok_or(VerifierError::UnsupportedQuoteLayout)?;
    let version = u16::from_le_bytes([header[0], header[1]]);
    let tee_type = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let (body_start, report_len, report_data_offset) = match (version, tee_type) {
        (3, TEE_TYPE_SGX) => (QUOTE_HEADER_LEN, SGX_REPORT_LEN, SGX_REPORT_DATA_OFFSET),
        (4, TEE_TYPE_TDX) => (QUOTE_HEADER_LEN, TD10_REPORT_LEN, TD_REPORT_DATA_OFFSET),
        (5, TEE_TYPE_SGX | TEE_TYPE_TDX) => {
            let descriptor = signed
                .get(QUOTE_HEADER_LEN..QUOTE_HEADER_LEN + V5_BODY_DESCRIPTOR_LEN)
                .ok_or(VerifierError::UnsupportedQuoteLayout)?;
            let body_type = u16::from_le_bytes([descriptor[0], descriptor[1]]);
            let body_size = u32::from_le_bytes([descriptor[2], descriptor[3], descriptor[4], descriptor[5]]);
            let (report_len, offset) = match (body_type, tee_type) {
                (1, TEE_TYPE_SGX) => (SGX_REPORT_LEN, SGX_REPORT_DATA_OFFSET),
                (2, TEE_TYPE_TDX) => (TD10_REPORT_LEN, TD_REPORT_DATA_OFFSET),
                (3, TEE_TYPE_TDX) => (TD15_REPORT_LEN, TD_REPORT_DATA_OFFSET),
                _ => return err!(VerifierError::UnsupportedQuoteLayout),
            };
            require!(body_size as usize == report_len, VerifierError::UnsupportedQuoteLayout);
            (QUOTE_HEADER_LEN + V5_BODY_DESCRIPTOR_LEN, report_len, offset)
        }
        _ => return err!(VerifierError::UnsupportedQuoteLayout),
    };
    require!(signed.len() == body_start + report_len, VerifierError::UnsupportedQuoteLayout);
    let start = body_start + report_data_offset;
    Ok(&signed[start..start + REPORT_DATA_LEN])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn precompile_data(ix_fields: [u16; 3], key: &[u8; 33], message: &[u8]) -> Vec<u8> {
        let key_offset = 16u16;
        let signature_offset = key_offset + 33;
        let message_offset = signature_offset + 64;
        let mut data = vec![1, 0];
        for v in [
            signature_offset,
            ix_fields[0],
            key_offset,
            ix_fields[1],
            message_offset,
            message.len() as u16,
            ix_fields[2],
        ] {
            data.extend_from_slice(&v.to_le_bytes());
        }
        data.extend_from_slice(key);
        data.extend_from_slice(&[9; 64]);
        data.extend_from_slice(message);
        data
    }

    #[test]
    fn reads_a_self_contained_signature_and_refuses_redirection() {
        let key = [2u8; 33];
        let data = precompile_data([u16::MAX, 3, u16::MAX], &key, b"signed");
        let parsed = parse_single_signature(3, &data).unwrap();
        assert_eq!(parsed, CheckedSignature { key, message: b"signed".to_vec() });
        for fields in [[2, u16::MAX, u16::MAX], [u16::MAX, 0, u16::MAX], [u16::MAX, u16::MAX, 4]] {
            let redirected = precompile_data(fields, &key, b"signed");
            assert_eq!(
                parse_single_signature(3, &redirected).unwrap_err(),
                VerifierError::QuoteSignatureRedirected.into()
            );
        }
        let mut two = data.clone();
        two[0] = 2;
        assert_eq!(
            parse_single_signature(3, &two).unwrap_err(),
            VerifierError::QuoteSignatureRedirected.into()
        );
        let truncated = &data[..data.len() - 1];
        assert_eq!(
            parse_single_signature(3, truncated).unwrap_err(),
            VerifierError::MalformedQuotePrecompile.into()
        );
    }

    #[test]
    fn report_data_is_found_only_in_exact_layouts() {
        let mut sgx = vec![0u8; 48 + 384];
        sgx[0] = 3;
        sgx[48 + 320] = 7;
        assert_eq!(quote_report_data(&sgx).unwrap()[0], 7);
        sgx.push(0);
        assert!(quote_report_data(&sgx).is_err(), "trailing bytes");
        let mut tdx = vec![0u8; 48 + 584];
        tdx[0] = 4;
        tdx[4] = 0x81;
        tdx[48 + 520] = 8;
        assert_eq!(quote_report_data(&tdx).unwrap()[0], 8);
        let mut v5 = vec![0u8; 48 + 6 + 648];
        v5[0] = 5;
        v5[4] = 0x81;
        v5[48] = 3;
        v5[50..54].copy_from_slice(&648u32.to_le_bytes());
        v5[54 + 520] = 9;
        assert_eq!(quote_report_data(&v5).unwrap()[0], 9);
        v5[48] = 4;
        assert!(quote_report_data(&v5).is_err(), "TD 1.5 extended body");
    }
}
