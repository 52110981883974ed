//! Building attestation statements and the Ed25519 precompile instruction that carries them.
use attestation_verifier::{AttestationStatement, STATEMENT_DOMAIN, STATEMENT_VERSION};
use solana_sdk::ed25519_program;
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Signature, Signer};

use crate::SdkError;

const HEADER_LEN: usize = 2;
const OFFSETS_LEN: usize = 14;
const THIS_INSTRUCTION: u16 = u16::MAX;

/// What an attester learned from a verified quote, plus the freshness fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementFields {
    pub cluster_genesis_hash: [u8; 32],
    pub tee_pubkey: Pubkey,
    pub app_id: [u8; 32],
    pub compose_hash: [u8; 32],
    pub measurement: [u8; 32],
    pub tcb_status: u8,
    pub quote_hash: [u8; 32],
    pub nonce: u64,
    pub verified_at: i64,
    pub expires_at: i64,
}

/// A statement for Ironroot's own registry program, current domain tag and layout version.
pub fn statement(fields: StatementFields) -> AttestationStatement {
    AttestationStatement {
        domain: STATEMENT_DOMAIN,
        version: STATEMENT_VERSION,
        cluster_genesis_hash: fields.cluster_genesis_hash,
        registry_program: tee_registry::ID,
        tee_pubkey: fields.tee_pubkey,
        app_id: fields.app_id,
        compose_hash: fields.compose_hash,
        measurement: fields.measurement,
        tcb_status: fields.tcb_status,
        quote_hash: fields.quote_hash,
        nonce: fields.nonce,
        verified_at: fields.verified_at,
        expires_at: fields.expires_at,
    }
}

/// Parses a statement's serialized bytes (as attesters send them): exactly
/// [`AttestationStatement::LEN`] bytes.
pub fn decode_statement(bytes: &[u8]) -> Result<AttestationStatement, SdkError> {
    if bytes.len() != AttestationStatement::LEN {
        return Err(SdkError::Decode("AttestationStatement"));
    }
    anchor_lang::AnchorDeserialize::deserialize(&mut &bytes[..])
        .map_err(|_| SdkError::Decode("AttestationStatement"))
}

/// Domain tag of the report-data binding (see [`report_data`]).
pub const REPORT_DATA_DOMAIN: [u8; 16] = *b"IRONROOT-REPORT1";

/// The 64 bytes a TEE puts into its quote's report data to bind its ed25519 key to one
/// registration: `tee_pubkey ‖ sha256(domain ‖ cluster genesis hash ‖ registry program ‖ tee_pubkey
/// ‖ app id ‖ nonce (u64 LE))`. Attesters refuse a quote whose report data is not exactly this for
/// the key, cluster, app and nonce being registered, so a quote cannot be reused for another key,
/// cluster or registration.
pub fn report_data(
    cluster_genesis_hash: &[u8; 32],
    tee_pubkey: &Pubkey,
    app_id: &[u8; 32],
    nonce: u64,
) -> [u8; 64] {
    let digest = solana_sdk::hash::hashv(&[
        &REPORT_DATA_DOMAIN,
        cluster_genesis_hash,
        tee_registry::ID.as_ref(),
        tee_pubkey.as_ref(),
        app_id,
        &nonce.to_le_bytes(),
    ]);
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(tee_pubkey.as_ref());
    out[32..].copy_from_slice(digest.as_ref());
    out
}

/// Each attester signs the statement's serialized bytes.
pub fn sign_statement(
    statement: &AttestationStatement,
    attesters: &[&dyn Signer],
) -> Vec<(Pubkey, Signature)> {
    let message = statement.to_bytes();
    attesters.iter().map(|a| (a.pubkey(), a.sign_message(&message))).collect()
}

/// One Ed25519 precompile instruction holding every signature over `message`, which is stored
/// once; each signature's offsets name this instruction itself, as the verifier requires.
pub fn ed25519_instruction(
    message: &[u8],
    signatures: &[(Pubkey, Signature)],
) -> Result<Instruction, SdkError> {
    const MAX: usize = u8::MAX as usize;
    if signatures.len() > MAX {
        return Err(SdkError::TooManySignatures { max: MAX, got: signatures.len() });
    }
    let table_end = HEADER_LEN + OFFSETS_LEN * signatures.len();
    let message_offset = table_end + signatures.len() * (32 + 64);
    let mut data = Vec::with_capacity(message_offset + message.len());
    data.push(signatures.len() as u8);
    data.push(0);
    let u16_of = |v: usize| u16::try_from(v).map_err(|_| SdkError::OffsetOverflow(v));
    for i in 0..signatures.len() {
        let key_offset = table_end + i * 96;
        for field in [
            u16_of(key_offset + 32)?,
            THIS_INSTRUCTION,
            u16_of(key_offset)?,
            THIS_INSTRUCTION,
            u16_of(message_offset)?,
            u16_of(message.len())?,
            THIS_INSTRUCTION,
        ] {
            data.extend_from_slice(&field.to_le_bytes());
        }
    }
    for (key, signature) in signatures {
        data.extend_from_slice(key.as_ref());
        data.extend_from_slice(signature.as_ref());
    }
    data.extend_from_slice(message);
    Ok(Instruction { program_id: ed25519_program::ID, accounts: vec![], data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_sdk::signature::Keypair;

    fn sample() -> AttestationStatement {
        statement(StatementFields {
            cluster_genesis_hash: [1; 32],
            tee_pubkey: Pubkey::new_unique(),
            app_id: [2; 32],
            compose_hash: [3; 32],
            measurement: [4; 32],
            tcb_status: 0,
            quote_hash: [5; 32],
            nonce: 7,
            verified_at: 1_700_000_000,
            expires_at: 1_700_086_400,
        })
    }

    #[test]
    fn report_data_starts_with_the_key_and_commits_to_every_input() {
        let tee = Pubkey::new_unique();
        let base = report_data(&[1; 32], &tee, &[2; 32], 7);
        assert_eq!(&base[..32], tee.as_ref());
        assert_ne!(base, report_data(&[9; 32], &tee, &[2; 32], 7));
        assert_ne!(base, report_data(&[1; 32], &Pubkey::new_unique(), &[2; 32], 7));
        assert_ne!(base, report_data(&[1; 32], &tee, &[3; 32], 7));
        assert_ne!(base, report_data(&[1; 32], &tee, &[2; 32], 8));
    }

    #[test]
    fn statement_layout_has_the_documented_size() {
        assert_eq!(sample().to_bytes().len(), AttestationStatement::LEN);
        assert_eq!(AttestationStatement::LEN, 266);
        assert_eq!(&sample().to_bytes()[..16], b"IRONROOT-ATTEST1");
    }

    #[test]
    fn precompile_instruction_stores_the_message_once_and_points_every_entry_at_it() {
        let statement = sample();
        let message = statement.to_bytes();
        let signers = [Keypair::new(), Keypair::new(), Keypair::new()];
        let dyn_signers: Vec<&dyn Signer> = signers.iter().map(|k| k as &dyn Signer).collect();
        let ix = ed25519_instruction(&message, &sign_statement(&statement, &dyn_signers)).unwrap();
        assert_eq!(ix.data.len(), 2 + 3 * 14 + 3 * 96 + message.len());
        assert_eq!(&ix.data[ix.data.len() - message.len()..], message.as_slice());
        for (i, entry) in ix.data[2..2 + 3 * 14].chunks(14).enumerate() {
            let field = |n: usize| u16::from_le_bytes([entry[2 * n], entry[2 * n + 1]]) as usize;
            assert_eq!([field(1), field(3), field(6)], [u16::MAX as usize; 3]);
            assert_eq!(&ix.data[field(2)..field(2) + 32], signers[i].pubkey().as_ref());
            assert_eq!((field(4), field(5)), (ix.data.len() - message.len(), message.len()));
            let signature = Signature::try_from(&ix.data[field(0)..field(0) + 64]).unwrap();
            assert!(signature.verify(signers[i].pubkey().as_ref(), &message));
        }
    }
}
