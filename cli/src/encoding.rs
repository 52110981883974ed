//! Parsing and printing the values commands take and show: hex digests, pubkeys, CIDs.
use anyhow::{bail, Context as _};
use solana_sdk::pubkey::Pubkey;
use std::str::FromStr;

/// A 32-byte value given as 64 hex digits.
pub fn parse_hex32(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(text.trim_start_matches("0x")).with_context(|| format!("{text:?} is not hex"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| anyhow::anyhow!("{text:?} is {} bytes, expected 32 (64 hex digits)", b.len()))
}

pub fn parse_pubkey(text: &str) -> anyhow::Result<Pubkey> {
    Pubkey::from_str(text).map_err(|_| anyhow::anyhow!("{text:?} is not a base58 public key"))
}

/// `MEASUREMENT:APP_ID:COMPOSE_HASH`, each 64 hex digits.
pub fn parse_triple(text: &str) -> anyhow::Result<([u8; 32], [u8; 32], [u8; 32])> {
    let parts: Vec<&str> = text.split(':').collect();
    let [measurement, app_id, compose_hash] = parts[..] else {
        bail!("{text:?}: expected MEASUREMENT:APP_ID:COMPOSE_HASH (three 64-digit hex values)")
    };
    Ok((parse_hex32(measurement)?, parse_hex32(app_id)?, parse_hex32(compose_hash)?))
}

/// A binary CID as text: CIDv1 in base32 (`b…`, what `ipfs cid format -b base32` prints),
/// CIDv0 in base58btc (`Qm…`); anything else as hex.
pub fn cid_text(cid: &[u8]) -> String {
    match cid.first() {
        None => String::new(),
        Some(0x01) => format!("b{}", base32_lower(cid)),
        Some(0x12) if cid.len() == 34 => bs58::encode(cid).into_string(),
        Some(_) => hex::encode(cid),
    }
}

/// RFC 4648 base32, lower case, no padding (the multibase `b` alphabet).
fn base32_lower(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in bytes {
        buffer = (buffer << 8) | *byte as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Lamports as SOL, the way the Solana CLI prints them.
pub fn sol(lamports: u64) -> String {
    let text = format!("{}.{:09}", lamports / 1_000_000_000, lamports % 1_000_000_000);
    let trimmed = text.trim_end_matches('0').trim_end_matches('.');
    format!("{trimmed} SOL")
}

/// A duration in seconds, signed, for "in 5m 3s" / "2h ago" displays.
pub fn relative(secs: i64) -> String {
    let abs = secs.unsigned_abs();
    let text = match abs {
        0..=59 => format!("{abs}s"),
        60..=3599 => format!("{}m {}s", abs / 60, abs % 60),
        3600..=86_399 => format!("{}h {}m", abs / 3600, (abs % 3600) / 60),
        _ => format!("{}d {}h", abs / 86_400, (abs % 86_400) / 3600),
    };
    if secs >= 0 {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}
