//! The quote's own P-256 signatures as secp256r1 precompile instructions: the attestation key's
//! signature over header‖body (ISV signature) and the PCK key's signature over the QE report.
//!
//! The precompile takes a 33-byte compressed key and a 64-byte `r ‖ s` signature with low S, and
//! hashes the message (SHA-256) itself. Intel's signatures are over SHA-256 of the same bytes, so
//! they verify as they are once `s` is normalised (`(r, n − s)` is the same signature).
//! Each instruction carries its own key, signature and message (offsets name the instruction
//! itself), so it can be placed in any transaction.
use dcap_qvl::quote::Quote;
use solana_sdk::instruction::Instruction;

use crate::error::{Check, Refusal};

const OFFSETS_START: usize = 2;
const OFFSETS_LEN: usize = 14;
const KEY_LEN: usize = 33;
const SIGNATURE_LEN: usize = 64;
/// The instruction-index value meaning "this instruction".
const THIS_INSTRUCTION: u16 = u16::MAX;
/// The P-256 group order n, big-endian.
const ORDER: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xBC,
    0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
];
/// n / 2 (rounded down), big-endian.
const HALF_ORDER: [u8; 32] = [
    0x7F, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xDE,
    0x73, 0x7D, 0x56, 0xD3, 0x8B, 0xCF, 0x42, 0x79, 0xDC, 0xE5, 0x61, 0x7E, 0x31, 0x92, 0xA8,
];

/// One P-256 signature as the precompile wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct P256Signature {
    pub public_key: [u8; KEY_LEN],
    pub signature: [u8; SIGNATURE_LEN],
    pub message: Vec<u8>,
}

/// The two signatures a quote carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteSignatures {
    /// Attestation key over header‖body.
    pub isv: P256Signature,
    /// PCK key over the QE report.
    pub qe_report: P256Signature,
}

/// `0x02 | parity(y)` ‖ x from a raw 64-byte `x ‖ y` point.
pub fn compress(point: &[u8; 64]) -> [u8; KEY_LEN] {
    let mut out = [0u8; KEY_LEN];
    out[0] = 0x02 | (point[63] & 1);
    out[1..].copy_from_slice(&point[..32]);
    out
}

/// `r ‖ s` with `s` replaced by `n − s` when `s > n/2`.
pub fn low_s(signature: &[u8; SIGNATURE_LEN]) -> [u8; SIGNATURE_LEN] {
    let mut out = *signature;
    if signature[32..] > HALF_ORDER[..] {
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let mut digit = ORDER[i] as i16 - signature[32 + i] as i16 - borrow;
            borrow = i16::from(digit < 0);
            if digit < 0 {
                digit += 256;
            }
            out[32 + i] = digit as u8;
        }
    }
    out
}

/// Extracts both signatures from a quote. The PCK public key comes from the PCK leaf certificate
/// the quote embeds: on-chain it is trusted only as far as the attesters vouch for the chain.
pub fn quote_signatures(raw: &[u8]) -> Result<QuoteSignatures, Refusal> {
    let refuse = |reason: String| Refusal::new(Check::QuoteFormat, reason);
    let quote = Quote::parse(raw).map_err(|e| refuse(format!("{e:#}")))?;
    let signed_len = quote.signed_length();
    let signed = raw.get(..signed_len).ok_or_else(|| refuse("quote shorter than its signed part".into()))?;
    let auth = quote.auth_data.clone().into_v3();
    let chain =
        dcap_qvl::intel::extract_cert_chain(&quote).map_err(|e| refuse(format!("PCK chain: {e:#}")))?;
    let leaf = chain.first().ok_or_else(|| refuse("empty PCK chain".into()))?;
    let pck_point = pck_public_key(leaf).ok_or_else(|| refuse("PCK certificate has no P-256 key".into()))?;
    Ok(QuoteSignatures {
        isv: P256Signature {
            public_key: compress(&auth.ecdsa_attestation_key),
            signature: low_s(&auth.ecdsa_signature),
            message: signed.to_vec(),
        },
        qe_report: P256Signature {
            public_key: compress(&pck_point),
            signature: low_s(&auth.qe_report_signature),
            message: auth.qe_report.to_vec(),
        },
    })
}

/// The uncompressed P-256 point of a certificate's subject key: the one `04 ‖ x ‖ y` BIT STRING
/// content that follows the id-ecPublicKey/prime256v1 algorithm identifier.
fn pck_public_key(cert_der: &[u8]) -> Option<[u8; 64]> {
    // AlgorithmIdentifier { id-ecPublicKey, prime256v1 } then BIT STRING (66 bytes: 00 04 x y).
    const SPKI_PREFIX: [u8; 27] = [
        0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE,
        0x3D, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04, 0x00, 0x00,
    ];
    let prefix = &SPKI_PREFIX[..25];
    let start = cert_der.windows(prefix.len()).position(|w| w == prefix)? + prefix.len();
    cert_der.get(start..start + 64)?.try_into().ok()
}

/// A secp256r1 precompile instruction checking `signatures` (at most 8), each entry pointing at data
/// inside this instruction.
pub fn precompile_instruction(signatures: &[&P256Signature]) -> Instruction {
    let count = signatures.len();
    let mut data = vec![count as u8, 0];
    let mut payload = Vec::new();
    let payload_start = OFFSETS_START + count * OFFSETS_LEN;
    for sig in signatures {
        let key_offset = payload_start + payload.len();
        payload.extend_from_slice(&sig.public_key);
        let signature_offset = payload_start + payload.len();
        payload.extend_from_slice(&sig.signature);
        let message_offset = payload_start + payload.len();
        payload.extend_from_slice(&sig.message);
        for field in [
            signature_offset as u16,
            THIS_INSTRUCTION,
            key_offset as u16,
            THIS_INSTRUCTION,
            message_offset as u16,
            sig.message.len() as u16,
            THIS_INSTRUCTION,
        ] {
            data.extend_from_slice(&field.to_le_bytes());
        }
    }
    data.extend_from_slice(&payload);
    Instruction { program_id: solana_secp256r1_program::ID, accounts: vec![], data }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_s_flips_only_high_values_and_is_an_involution_on_them() {
        let mut sig = [0u8; 64];
        sig[32..].copy_from_slice(&HALF_ORDER);
        assert_eq!(low_s(&sig), sig, "n/2 itself is low");
        sig[63] += 1;
        let flipped = low_s(&sig);
        assert!(flipped[32..] <= HALF_ORDER[..]);
        // (n − s) + s = n
        let mut carry = 0u16;
        let mut sum = [0u8; 32];
        for i in (0..32).rev() {
            let v = flipped[32 + i] as u16 + sig[32 + i] as u16 + carry;
            sum[i] = v as u8;
            carry = v >> 8;
        }
        assert_eq!(sum, ORDER);
    }

    #[test]
    fn compression_takes_the_parity_of_y() {
        let mut point = [7u8; 64];
        assert_eq!(compress(&point)[0], 0x03);
        point[63] = 8;
        assert_eq!(compress(&point)[0], 0x02);
        assert_eq!(&compress(&point)[1..], &point[..32]);
    }
}
