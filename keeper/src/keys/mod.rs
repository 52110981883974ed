//! Key sources: where the keeper's secrets come from.
//!
//! Every key is derived per app (and, for key-encryption keys, per key epoch) with HKDF-SHA256 and a
//! versioned context string, so a new derivation scheme gets a new context ("ironroot/v2/...") and
//! never collides with old keys:
//!
//! | key | context | info |
//! |---|---|---|
//! | key-encryption key (KEK) | `ironroot/v1/kek` | context ‖ 0x00 ‖ app id (32) ‖ epoch (u32 LE) |
//! | ed25519 signing seed | `ironroot/v1/signing` | context ‖ 0x00 ‖ app id (32) |
//! | local-store sealing key | `ironroot/v1/store-seal` | context ‖ 0x00 ‖ app id (32) |
//!
//! Two sources implement [`KeySource`]: [`SealedKeyFile`] (development; a root secret in a 0600 file,
//! the HKDF input key material) and [`DstackKeySource`] (the dstack guest agent's KMS-backed `GetKey`,
//! one agent key path per derived key; see its module for how the context strings map to paths).

mod dstack;
mod sealed;

use std::fmt;
use std::path::PathBuf;

use async_trait::async_trait;
use hkdf::Hkdf;
use sha2::Sha256;
use solana_sdk::signature::Keypair;
use solana_sdk::signer::keypair::keypair_from_seed;
use zeroize::Zeroizing;

pub use dstack::{
    AgentInfo, DstackClient, DstackKeySource, Quote, DSTACK_ENDPOINT_ENV, DSTACK_SOCKET_DEFAULT,
};
pub use sealed::SealedKeyFile;

/// HKDF context of key-encryption keys.
pub const KEK_CONTEXT: &str = "ironroot/v1/kek";
/// HKDF context of ed25519 signing seeds.
pub const SIGNING_CONTEXT: &str = "ironroot/v1/signing";
/// HKDF context of the key that authenticates the keeper's local store (its sealed state).
pub const STORE_SEAL_CONTEXT: &str = "ironroot/v1/store-seal";
/// HKDF salt shared by every derivation of this scheme version.
const HKDF_SALT: &[u8] = b"ironroot/v1";

/// An app's identity: its 32-byte on-chain id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppId(pub [u8; 32]);

impl AppId {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppId({self})")
    }
}

/// A shard's index within its app, as the chain numbers it (`u16` in app_roots). Formats that
/// predate this type (record AAD, store seals, manifest headers) encode it widened to `u32`.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    borsh::BorshSerialize,
    borsh::BorshDeserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct ShardId(pub u16);

impl ShardId {
    /// The id as the `u32` that sealed formats carry.
    pub fn wire(self) -> u32 {
        u32::from(self.0)
    }
}

impl From<u16> for ShardId {
    fn from(id: u16) -> Self {
        ShardId(id)
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A key-encryption key for one app and key epoch. Zeroized on drop; `Debug` never prints the key.
#[derive(Clone)]
pub struct Kek {
    epoch: u32,
    key: Zeroizing<[u8; 32]>,
}

impl Kek {
    pub fn new(epoch: u32, key: Zeroizing<[u8; 32]>) -> Self {
        Self { epoch, key }
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    pub(crate) fn key_bytes(&self) -> &[u8; 32] {
        &self.key
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kek").field("epoch", &self.epoch).finish_non_exhaustive()
    }
}

/// Errors of the key sources.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("key file {path} is malformed: {reason}")]
    MalformedKeyFile { path: PathBuf, reason: &'static str },
    #[error("key file {path} has mode {mode:o}; refusing a key readable by group or others (want 600)")]
    InsecureKeyFile { path: PathBuf, mode: u32 },
    #[error("the operating system's random number generator failed: {0}")]
    Rng(String),
    #[error("dstack guest agent {endpoint}: {message}")]
    Agent { endpoint: String, message: String },
    #[error("dstack guest agent returned a malformed {what}")]
    AgentResponse { what: &'static str },
    #[error("the signing seed does not make an ed25519 key")]
    SigningKey,
    #[error("invalid request to the dstack guest agent: {0}")]
    InvalidRequest(&'static str),
}

/// Where an app's key-encryption keys and signing seed come from.
#[async_trait]
pub trait KeySource: Send + Sync {
    /// The key-encryption key of `app` for key epoch `epoch`.
    async fn app_kek(&self, app: &AppId, epoch: u32) -> Result<Kek, KeyError>;

    /// The ed25519 seed of the keeper's signing key for `app`.
    async fn signing_seed(&self, app: &AppId) -> Result<Zeroizing<[u8; 32]>, KeyError>;

    /// The key that authenticates `app`'s local stores (their sealed state), so that nothing
    /// outside the TEE can forge or edit what the keeper trusts from its disk.
    async fn store_seal_key(&self, app: &AppId) -> Result<Zeroizing<[u8; 32]>, KeyError>;

    /// The keeper's ed25519 signing key for `app`: the TEE key the registry knows. The one place
    /// the seed becomes a keypair.
    async fn signing_keypair(&self, app: &AppId) -> Result<Keypair, KeyError> {
        let seed = self.signing_seed(app).await?;
        keypair_from_seed(&seed[..]).map_err(|_| KeyError::SigningKey)
    }
}

/// Derives the KEK of (`app`, `epoch`) from input key material.
pub(crate) fn derive_kek(ikm: &[u8], app: &AppId, epoch: u32) -> Kek {
    let mut info = derivation_info(KEK_CONTEXT, app);
    info.extend_from_slice(&epoch.to_le_bytes());
    Kek::new(epoch, hkdf_32(ikm, &info))
}

/// Derives the ed25519 signing seed of `app` from input key material.
pub(crate) fn derive_signing_seed(ikm: &[u8], app: &AppId) -> Zeroizing<[u8; 32]> {
    hkdf_32(ikm, &derivation_info(SIGNING_CONTEXT, app))
}

/// Derives the local-store sealing key of `app` from input key material.
pub(crate) fn derive_store_seal_key(ikm: &[u8], app: &AppId) -> Zeroizing<[u8; 32]> {
    hkdf_32(ikm, &derivation_info(STORE_SEAL_CONTEXT, app))
}

fn derivation_info(context: &str, app: &AppId) -> Vec<u8> {
    let mut info = Vec::with_capacity(context.len() + 1 + 32 + 4);
    info.extend_from_slice(context.as_bytes());
    info.push(0);
    info.extend_from_slice(app.as_bytes());
    info
}

fn hkdf_32(ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    // Expanding 32 bytes from SHA-256 HKDF cannot fail (the limit is 255 * 32 bytes).
    Hkdf::<Sha256>::new(Some(HKDF_SALT), ikm)
        .expand(info, out.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivations_are_separated_by_app_epoch_and_purpose() {
        let ikm = [7u8; 32];
        let a = AppId([1; 32]);
        let b = AppId([2; 32]);
        let k_a0 = derive_kek(&ikm, &a, 0);
        assert_eq!(k_a0.key_bytes(), derive_kek(&ikm, &a, 0).key_bytes());
        assert_ne!(k_a0.key_bytes(), derive_kek(&ikm, &a, 1).key_bytes());
        assert_ne!(k_a0.key_bytes(), derive_kek(&ikm, &b, 0).key_bytes());
        assert_ne!(*derive_signing_seed(&ikm, &a), *derive_signing_seed(&ikm, &b));
        assert_ne!(k_a0.key_bytes(), &*derive_signing_seed(&ikm, &a));
        assert_ne!(*derive_store_seal_key(&ikm, &a), *derive_store_seal_key(&ikm, &b));
        assert_ne!(*derive_store_seal_key(&ikm, &a), *derive_signing_seed(&ikm, &a));
        assert_ne!(&*derive_store_seal_key(&ikm, &a), k_a0.key_bytes());
    }

    #[test]
    fn kek_debug_hides_the_key() {
        let kek = Kek::new(3, Zeroizing::new([0xAB; 32]));
        let shown = format!("{kek:?}");
        assert!(shown.contains("epoch: 3"));
        assert!(!shown.to_lowercase().contains("ab, ") && !shown.contains("171"));
    }
}
