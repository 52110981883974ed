//! The sample quotes' own P-256 signatures checked by the secp256r1 precompile's verifier (the code
//! the runtime runs for the precompile), a tampered body refused, and the sizes of transactions
//! carrying them.

use crate::common::sample;
use ironroot_sdk::quote::{negate_s, precompile_instruction, P256Signature, QuoteParts};
use solana_feature_set::FeatureSet;
use solana_sdk::message::Message;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::transaction::Transaction;

/// `solana_secp256r1_program::verify` is the precompile's verifier as the 2.2 runtime runs it (the
/// deprecation points at its move to agave-precompiles, which this line does not have).
#[allow(deprecated)]
fn precompile_verifies(signatures: &[&P256Signature]) -> bool {
    let ix = precompile_instruction(signatures);
    solana_secp256r1_program::verify(&ix.data, &[&ix.data], &FeatureSet::all_enabled()).is_ok()
}

fn transaction_size(signatures: &[&P256Signature]) -> usize {
    let payer = Keypair::new();
    let message = Message::new(&[precompile_instruction(signatures)], Some(&payer.pubkey()));
    let tx = Transaction::new(&[&payer], message, solana_sdk::hash::Hash::default());
    ironroot_sdk::transaction_size(&tx)
}

#[test]
fn the_sample_quotes_signatures_verify_in_the_precompile() {
    for name in ["tdx_quote", "sgx_quote", "tdx_quote_td15ex"] {
        let (quote, _) = sample(name);
        let sigs = QuoteParts::parse(&quote).unwrap();
        assert_eq!(precompile_instruction(&[&sigs.isv]).program_id, solana_secp256r1_program::ID);
        assert!(precompile_verifies(&[&sigs.isv]), "{name}: ISV signature");
        assert!(precompile_verifies(&[&sigs.qe_report]), "{name}: QE report signature");
        let isv = transaction_size(&[&sigs.isv]);
        let qe = transaction_size(&[&sigs.qe_report]);
        let both = transaction_size(&[&sigs.isv, &sigs.qe_report]);
        println!(
            "{name}: ISV-signature tx {isv} B, QE-report tx {qe} B, both in one tx {both} B (limit 1232)"
        );
        assert!(qe <= ironroot_sdk::PACKET_DATA_SIZE, "{name}: QE report tx {qe}");
        if name.starts_with("tdx") {
            assert!(both > ironroot_sdk::PACKET_DATA_SIZE, "{name}: TDX needs two transactions ({both} B)");
        }
    }
}

#[test]
fn a_tampered_body_or_swapped_key_fails_the_precompile() {
    let (quote, _) = sample("tdx_quote");
    let sigs = QuoteParts::parse(&quote).unwrap();
    let mut body = sigs.isv.clone();
    body.message[48 + 520] ^= 1; // report data
    assert!(!precompile_verifies(&[&body]));
    let mut header = sigs.isv.clone();
    header.message[40] ^= 1;
    assert!(!precompile_verifies(&[&header]));
    let mut qe = sigs.qe_report.clone();
    qe.message[100] ^= 1;
    assert!(!precompile_verifies(&[&qe]));
    let swapped = P256Signature { public_key: sigs.qe_report.public_key, ..sigs.isv.clone() };
    assert!(!precompile_verifies(&[&swapped]));
    // A high-S form of a valid signature is refused by the precompile: normalisation is required.
    let mut high = sigs.isv.clone();
    high.signature = negate_s(&high.signature);
    assert!(!precompile_verifies(&[&high]));
}
