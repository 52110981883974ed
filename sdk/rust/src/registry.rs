//! Decoding registry and verifier accounts, and whether a TEE key may sign right now.
use anchor_lang::{AccountDeserialize, Discriminator};
use attestation_verifier::VerifierConfig;
use solana_sdk::account::Account;
use solana_sdk::pubkey::Pubkey;
use tee_registry::TeeEntry;

use crate::SdkError;

/// Whether a TEE key is currently allowed to sign, and if not, why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TeeKeyStatus {
    Valid { expires_at: i64 },
    NotRegistered,
    Revoked { revoked_at: i64 },
    Expired { expired_at: i64 },
}

impl TeeKeyStatus {
    pub fn is_valid(&self) -> bool {
        matches!(self, TeeKeyStatus::Valid { .. })
    }
}

pub(crate) fn decode<T: AccountDeserialize + Discriminator>(
    address: &Pubkey,
    account: &Account,
    owner: &Pubkey,
    name: &'static str,
) -> Result<T, SdkError> {
    if account.owner != *owner {
        return Err(SdkError::WrongOwner { address: *address, owner: account.owner, expected: *owner });
    }
    T::try_deserialize(&mut account.data.as_slice()).map_err(|_| SdkError::Decode(name))
}

pub fn decode_tee_entry(address: &Pubkey, account: &Account) -> Result<TeeEntry, SdkError> {
    decode(address, account, &tee_registry::ID, "TeeEntry")
}

pub fn decode_verifier_config(address: &Pubkey, account: &Account) -> Result<VerifierConfig, SdkError> {
    decode(address, account, &attestation_verifier::ID, "VerifierConfig")
}

/// Status of the TEE key whose registry entry (at `address`) is `account`, at unix time `now`.
/// A missing account means the key was never registered.
pub fn tee_key_status(
    address: &Pubkey,
    account: Option<&Account>,
    now: i64,
) -> Result<TeeKeyStatus, SdkError> {
    let Some(account) = account else { return Ok(TeeKeyStatus::NotRegistered) };
    let entry = decode_tee_entry(address, account)?;
    Ok(if entry.revoked {
        TeeKeyStatus::Revoked { revoked_at: entry.revoked_at }
    } else if now >= entry.expires_at {
        TeeKeyStatus::Expired { expired_at: entry.expires_at }
    } else {
        TeeKeyStatus::Valid { expires_at: entry.expires_at }
    })
}
