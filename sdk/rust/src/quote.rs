//! A DCAP quote's own P-256 signatures for the secp256r1 precompile, the version 2 statement's
//! quote digest, and the two transactions that record them on-chain before `register_tee`.
//!
//! The precompile takes a 33-byte compressed key and a 64-byte `r ‖ s` signature with low S, and
//! hashes the message (SHA-256) itself. Intel's signatures are over SHA-256 of the same bytes, so
//! they verify as they are once `s` is normalised (`(r, n − s)` is the same signature).
use attestation_verifier::secp256r1::{compress_point, SECP256R1_PROGRAM_ID};
use attestation_verifier::P256_COMPRESSED_KEY_LEN;
use dcap_qvl::quote::Quote;
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;

use crate::{verifier, SdkError};

const OFFSETS_START: usize = 2;
const OFFSETS_LEN: usize = 14;
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
    pub public_key: [u8; P256_COMPRESSED_KEY_LEN],
    pub signature: [u8; SIGNATURE_LEN],
    pub message: Vec<u8>,
}

/// The parts of a quote the chain re-checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteParts {
    /// Attestation key over header‖body.
    pub isv: P256Signature,
    /// PCK key over the QE report. The key comes from the PCK leaf certificate the quote embeds:
    /// on-chain it is trusted only as far as the attesters vouch for its chain.
    pub qe_report: P256Signature,
    /// The raw attestation key (`x ‖ y`) and the QE authentication data, whose SHA-256 the QE
    /// report's data must be.
    pub attestation_key: [u8; 64],
    pub qe_auth_data: Vec<u8>,
}

impl QuoteParts {
    /// Splits a raw quote (SGX v3, TDX v4/v5; PCK chain embedded). Checks nothing cryptographic:
    /// attesters verify the quote with dcap-qvl, the chain re-checks the signatures.
    pub fn parse(raw: &[u8]) -> Result<Self, SdkError> {
        let quote = Quote::parse(raw).map_err(|e| SdkError::Quote(format!("{e:#}")))?;
        let signed = raw
            .get(..quote.signed_length())
            .ok_or_else(|| SdkError::Quote("quote shorter than its signed part".into()))?;
        let chain = dcap_qvl::intel::extract_cert_chain(&quote)
            .map_err(|e| SdkError::Quote(format!("PCK chain: {e:#}")))?;
        let leaf = chain.first().ok_or_else(|| SdkError::Quote("empty PCK chain".into()))?;
        let pck_point =
            pck_public_key(leaf).ok_or_else(|| SdkError::Quote("PCK certificate has no P-256 key".into()))?;
        let auth = quote.auth_data.into_v3();
        Ok(QuoteParts {
            isv: P256Signature {
                public_key: compress_point(&auth.ecdsa_attestation_key),
                signature: low_s(&auth.ecdsa_signature),
                message: signed.to_vec(),
            },
            qe_report: P256Signature {
                public_key: compress_point(&pck_point),
                signature: low_s(&auth.qe_report_signature),
                message: auth.qe_report.to_vec(),
            },
            attestation_key: auth.ecdsa_attestation_key,
            qe_auth_data: auth.qe_auth_data.data,
        })
    }

    /// The version 2 statement's `quote_hash` for this quote.
    pub fn digest(&self) -> [u8; 32] {
        quote_digest(&self.isv.message, &self.qe_report.message, &self.qe_report.public_key)
    }

    /// The two transactions' instructions recording this quote for `(tee, nonce)` into `payer`'s
    /// buffer (each signed by `payer` only): the precompile over header‖body then
    /// `record_quote_isv`, and the precompile over the QE report then `record_quote_qe`.
    pub fn record_instructions(&self, payer: &Pubkey, tee: &Pubkey, nonce: u64) -> [Vec<Instruction>; 2] {
        [
            vec![precompile_instruction(&[&self.isv]), verifier::record_quote_isv(payer, tee, nonce)],
            vec![
                precompile_instruction(&[&self.qe_report]),
                verifier::record_quote_qe(payer, tee, nonce, self.attestation_key, self.qe_auth_data.clone()),
            ],
        ]
    }
}

/// `SHA-256("IRONROOT-QUOTE2" ‖ SHA-256(header‖body) ‖ SHA-256(QE report) ‖ compressed PCK key)`,
/// the program's [`attestation_verifier::quote_digest`] over the signed bytes.
pub fn quote_digest(
    header_body: &[u8],
    qe_report: &[u8],
    pck_key: &[u8; P256_COMPRESSED_KEY_LEN],
) -> [u8; 32] {
    let sha256 = |bytes: &[u8]| solana_sdk::hash::hash(bytes).to_bytes();
    attestation_verifier::quote_digest(&sha256(header_body), &sha256(qe_report), pck_key)
}

/// `r ‖ s` with `s` replaced by `n − s` when `s > n/2`.
pub fn low_s(signature: &[u8; SIGNATURE_LEN]) -> [u8; SIGNATURE_LEN] {
    let mut out = *signature;
    if signature[32..] > HALF_ORDER[..] {
        out[32..].copy_from_slice(&order_minus(&signature[32..]));
    }
    out
}

/// `r ‖ (n − s)`: the other form of the same signature (high S when `s` is low).
pub fn negate_s(signature: &[u8; SIGNATURE_LEN]) -> [u8; SIGNATURE_LEN] {
    let mut out = *signature;
    out[32..].copy_from_slice(&order_minus(&signature[32..]));
    out
}

fn order_minus(s: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut digit = ORDER[i] as i16 - s[i] as i16 - borrow;
        borrow = i16::from(digit < 0);
        if digit < 0 {
            digit += 256;
        }
        out[i] = digit as u8;
    }
    out
}

/// The uncompressed P-256 point of a certificate's subject key: the one `04 ‖ x ‖ y` BIT STRING
/// content that follows the id-ecPublicKey/prime256v1 algorithm identifier.
fn pck_public_key(cert_der: &[u8]) -> Option<[u8; 64]> {
    // AlgorithmIdentifier { id-ecPublicKey, prime256v1 } then BIT STRING (66 bytes: 00 04 x y).
    const SPKI_PREFIX: [u8; 25] = [
        0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE,
        0x3D, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
    ];
    let start = cert_der.windows(SPKI_PREFIX.len()).position(|w| w == SPKI_PREFIX)? + SPKI_PREFIX.len();
    cert_der.get(start..start + 64)?.try_into().ok()
}

/// A secp256r1 precompile instruction checking `signatures`, each entry pointing at data inside
/// this instruction (what `record_quote_isv` / `record_quote_qe` require, with one signature).
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
    Instruction { program_id: SECP256R1_PROGRAM_ID, accounts: vec![], data }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_s_flips_only_high_values_and_negation_sums_to_the_order() {
        let mut sig = [0u8; 64];
        sig[32..].copy_from_slice(&HALF_ORDER);
        assert_eq!(low_s(&sig), sig, "n/2 itself is low");
        sig[63] += 1;
        let flipped = low_s(&sig);
        assert!(flipped[32..] <= HALF_ORDER[..]);
        assert_eq!(negate_s(&flipped), sig);
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
    fn the_digest_commits_to_every_part() {
        let base = quote_digest(b"header-body", b"qe-report", &[2; 33]);
        assert_ne!(base, quote_digest(b"header-bodY", b"qe-report", &[2; 33]));
        assert_ne!(base, quote_digest(b"header-body", b"qe-repor7", &[2; 33]));
        assert_ne!(base, quote_digest(b"header-body", b"qe-report", &[3; 33]));
    }
}
