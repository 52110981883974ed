//! The sample quotes' own P-256 signatures checked by the secp256r1 precompile's verifier (the code
//! the runtime runs for the precompile), a tampered body refused, and the sizes of transactions
//! carrying them.

use crate::common::sample;
use ironroot_attester::secp256r1::{precompile_instruction, quote_signatures, P256Signature};
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
        let sigs = quote_signatures(&quote).unwrap();
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
    let sigs = quote_signatures(&quote).unwrap();
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
    high.signature = high_s(&high.signature);
    assert!(!precompile_verifies(&[&high]));
}

fn high_s(signature: &[u8; 64]) -> [u8; 64] {
    // low_s maps s and n − s to the same low value; from the low form, n − s is the high form.
    const ORDER: [u8; 32] = [
        0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xBC,
        0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
    ];
    let mut out = *signature;
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = ORDER[i] as i16 - signature[32 + i] as i16 - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[32 + i] = d as u8;
    }
    out
}
