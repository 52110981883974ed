//! Envelope encryption of records.
//!
//! Every sealed record gets a fresh random 256-bit data key (DEK). The record is encrypted with
//! AES-256-GCM under the DEK; the DEK is wrapped (AES-256-GCM, its own nonce) by the app's
//! key-encryption key (KEK) of the current key epoch.
//!
//! # Blob format, version 1 (integers little-endian)
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `IREC` |
//! | 4 | 1 | format version = 1 |
//! | 5 | 1 | reserved, 0 |
//! | 6 | 4 | key epoch of the KEK that wrapped the DEK |
//! | 10 | 12 | wrap nonce |
//! | 22 | 48 | wrapped DEK (32) ‖ wrap tag (16) |
//! | 70 | 16 | context tag |
//! | 86 | 12 | record nonce |
//! | 98 | n + 16 | record ciphertext ‖ tag |
//!
//! The record plaintext is `value length (u32) ‖ value ‖ zero padding`. With [`Padding::Buckets`]
//! (the default) a value shorter than 64 KiB is padded to the next power of two, at least 256 bytes,
//! so a blob's size reveals only its bucket; larger values are not padded.
//!
//! # What is bound where, and why the epoch is not in the record's AAD
//!
//! * DEK wrap AAD: `"ironroot/v1/dek-wrap"` ‖ magic ‖ version ‖ epoch. Changing the epoch field makes
//!   the unwrap fail, so the epoch is authenticated, by the KEK it names.
//! * Record AAD: `"ironroot/v1/record"` ‖ version ‖ reserved ‖ app (32) ‖ scope (u32: the
//!   [`ShardId`], or `u32::MAX` for a backup frame) ‖ key length (u64) ‖ key ‖ record version (u64).
//!   It binds the record's identity, not the epoch: key rotation ([`rewrap`]) re-wraps only the
//!   48-byte DEK and leaves the ciphertext, its nonce and tag untouched, which would be impossible
//!   if the ciphertext's AAD named the old epoch.
//! * Context tag: `HMAC-SHA256(HKDF(DEK, "ironroot/v1/ctx-tag"), record AAD)`, first 16 bytes. AES-GCM
//!   cannot tell a tampered ciphertext from a wrong AAD; this tag, keyed by the DEK so it reveals
//!   nothing about the record's identity, lets [`open`] report a blob replayed under another
//!   app/shard/key/version ([`CryptoError::WrongContext`]) apart from tampering
//!   ([`CryptoError::Tampered`]). It also commits the blob to its DEK.

use aes_gcm::aead::rand_core::{OsRng, RngCore};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hkdf::hmac::{Hmac, Mac};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::keys::{AppId, Kek, ShardId};

/// Magic at the start of every sealed blob.
pub const MAGIC: &[u8; 4] = b"IREC";
/// Current blob format version.
pub const FORMAT_VERSION: u8 = 1;
/// Bytes before the record ciphertext.
pub const HEADER_LEN: usize = 98;
/// Fixed bytes a sealed blob adds to an unpadded value: header, length prefix and GCM tag.
pub const OVERHEAD: usize = HEADER_LEN + LEN_PREFIX + TAG_LEN;
/// Largest value [`seal`] accepts.
pub const MAX_VALUE_LEN: usize = 8 * 1024 * 1024;
/// Values shorter than this are padded under [`Padding::Buckets`].
pub const PAD_LIMIT: usize = 64 * 1024;
/// Smallest padding bucket.
pub const MIN_BUCKET: usize = 256;

const WRAP_DOMAIN: &[u8] = b"ironroot/v1/dek-wrap";
const RECORD_DOMAIN: &[u8] = b"ironroot/v1/record";
const CTX_TAG_INFO: &[u8] = b"ironroot/v1/ctx-tag";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const LEN_PREFIX: usize = 4;
const CTX_TAG_LEN: usize = 16;
const WRAPPED_LEN: usize = 32 + TAG_LEN;

const OFF_EPOCH: usize = 6;
const OFF_WRAP_NONCE: usize = 10;
const OFF_WRAPPED: usize = OFF_WRAP_NONCE + NONCE_LEN;
const OFF_CTX_TAG: usize = OFF_WRAPPED + WRAPPED_LEN;
const OFF_NONCE: usize = OFF_CTX_TAG + CTX_TAG_LEN;
const _: () = assert!(OFF_NONCE + NONCE_LEN == HEADER_LEN);

/// Errors of sealing and opening records.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("malformed blob: {0}")]
    Malformed(&'static str),
    #[error("unsupported blob format version {0}")]
    UnsupportedVersion(u8),
    #[error("wrong key epoch: blob was wrapped under epoch {blob}, the key given is epoch {key}")]
    EpochMismatch { blob: u32, key: u32 },
    #[error(
        "cannot unwrap the data key with the KEK of epoch {epoch}: wrong key, or the key wrap was altered"
    )]
    KeyUnwrap { epoch: u32 },
    #[error("blob belongs to another record context (app, shard, key or version): replayed or misplaced")]
    WrongContext,
    #[error("record ciphertext failed authentication: tampered")]
    Tampered,
    #[error("value of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("the operating system's random number generator failed: {0}")]
    Rng(String),
}

/// CPU instructions the AES-256-GCM and SHA-256 code here runs on. The `aes`, `polyval` and `sha2`
/// crates (key wrap, hashing) pick their hardware backend at run time with `cpufeatures`; this asks
/// `cpufeatures` the same questions they ask, so it reports the path they take. `ring` (record
/// bodies) runs its own CPUID check and takes its AES-NI + CLMUL assembly on the same features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acceleration {
    /// AES-NI (x86) or the ARMv8 AES extension: the block cipher.
    pub aes: bool,
    /// CLMUL (x86) or PMULL (ARMv8): GHASH/POLYVAL multiplication.
    pub clmul: bool,
    /// SHA extensions: record and CID hashing.
    pub sha: bool,
}

#[cfg(target_arch = "x86_64")]
cpufeatures::new!(cpu_aes, "aes");
#[cfg(target_arch = "x86_64")]
cpufeatures::new!(cpu_clmul, "pclmulqdq");
#[cfg(target_arch = "x86_64")]
cpufeatures::new!(cpu_sha, "sha", "sse2", "ssse3", "sse4.1");
#[cfg(target_arch = "aarch64")]
cpufeatures::new!(cpu_aes, "aes");
#[cfg(target_arch = "aarch64")]
cpufeatures::new!(cpu_clmul, "aes"); // PMULL comes with the AES extension
#[cfg(target_arch = "aarch64")]
cpufeatures::new!(cpu_sha, "sha2");

/// What the crypto runs on here (see [`Acceleration`]).
pub fn acceleration() -> Acceleration {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        Acceleration { aes: cpu_aes::get(), clmul: cpu_clmul::get(), sha: cpu_sha::get() }
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        Acceleration { aes: false, clmul: false, sha: false }
    }
}

/// Logs once, at the first seal, whether AES-GCM runs on hardware instructions: without them it
/// falls back to constant-time software, an order of magnitude slower.
fn log_acceleration_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let a = acceleration();
        if a.aes && a.clmul {
            tracing::info!(
                aes_ni = a.aes,
                clmul = a.clmul,
                sha_ni = a.sha,
                "AES-256-GCM runs on AES-NI and CLMUL"
            );
        } else {
            tracing::warn!(
                aes_ni = a.aes,
                clmul = a.clmul,
                sha_ni = a.sha,
                "AES-256-GCM runs without hardware AES or carry-less multiply: sealing is slow"
            );
        }
    });
}

/// What a sealed blob belongs to: a shard's records and manifests, or an app's backup frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealScope {
    Shard(ShardId),
    Backup,
}

impl SealScope {
    /// The AAD's `u32` scope field: the shard id, or `u32::MAX` (never a shard) for a backup.
    fn wire(self) -> u32 {
        match self {
            SealScope::Shard(shard) => shard.wire(),
            SealScope::Backup => u32::MAX,
        }
    }
}

impl From<ShardId> for SealScope {
    fn from(shard: ShardId) -> Self {
        SealScope::Shard(shard)
    }
}

/// Where a record lives; bound into its ciphertext.
#[derive(Clone, Copy, Debug)]
pub struct RecordContext<'a> {
    pub app: AppId,
    pub scope: SealScope,
    pub key: &'a [u8],
    pub version: u64,
}

impl RecordContext<'_> {
    fn aad(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(RECORD_DOMAIN.len() + 2 + 32 + 4 + 8 + self.key.len() + 8);
        aad.extend_from_slice(RECORD_DOMAIN);
        aad.push(FORMAT_VERSION);
        aad.push(0);
        aad.extend_from_slice(self.app.as_bytes());
        aad.extend_from_slice(&self.scope.wire().to_le_bytes());
        // Length prefix: keys are variable-length, so (key, version) pairs must not run together.
        aad.extend_from_slice(&(self.key.len() as u64).to_le_bytes());
        aad.extend_from_slice(self.key);
        aad.extend_from_slice(&self.version.to_le_bytes());
        aad
    }
}

/// Size padding of record plaintexts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Padding {
    /// Values shorter than [`PAD_LIMIT`] padded to the next power of two, at least [`MIN_BUCKET`].
    #[default]
    Buckets,
    /// No padding: the blob's size reveals the value's exact length.
    None,
}

impl Padding {
    fn padded_len(self, len: usize) -> usize {
        match self {
            Padding::Buckets if len < PAD_LIMIT => len.next_power_of_two().max(MIN_BUCKET),
            _ => len,
        }
    }
}

/// Encrypts `value` for the record `ctx` under a fresh data key wrapped by `kek`.
pub fn seal(
    kek: &Kek,
    ctx: &RecordContext<'_>,
    value: &[u8],
    padding: Padding,
) -> Result<Vec<u8>, CryptoError> {
    if value.len() > MAX_VALUE_LEN {
        return Err(CryptoError::TooLarge { len: value.len(), max: MAX_VALUE_LEN });
    }
    log_acceleration_once();
    let body_len = LEN_PREFIX + padding.padded_len(value.len());
    let mut blob = Vec::with_capacity(HEADER_LEN + body_len + TAG_LEN);
    blob.resize(HEADER_LEN, 0);

    // One call to the OS generator for the data key and both nonces.
    let mut random = Zeroizing::new([0u8; 32 + 2 * NONCE_LEN]);
    fill_random(random.as_mut())?;
    let mut dek = Zeroizing::new([0u8; 32]);
    dek.copy_from_slice(&random[..32]);
    blob[OFF_WRAP_NONCE..OFF_WRAPPED].copy_from_slice(&random[32..32 + NONCE_LEN]);
    blob[OFF_NONCE..HEADER_LEN].copy_from_slice(&random[32 + NONCE_LEN..]);

    blob[..4].copy_from_slice(MAGIC);
    blob[4] = FORMAT_VERSION;
    blob[OFF_EPOCH..OFF_WRAP_NONCE].copy_from_slice(&kek.epoch().to_le_bytes());
    wrap_into(&mut blob, kek, &dek);

    let aad = ctx.aad();
    let ctx_tag = context_tag(&dek, &aad);
    blob[OFF_CTX_TAG..OFF_NONCE].copy_from_slice(&ctx_tag[..CTX_TAG_LEN]);

    // The plaintext is written straight into the output buffer and encrypted in place: no second
    // copy of it is left behind in memory. The body is not zeroed first (a 64 KiB memset per
    // value): only the padding and the tag's room are.
    blob.extend_from_slice(&(value.len() as u32).to_le_bytes());
    blob.extend_from_slice(value);
    blob.resize(HEADER_LEN + body_len + TAG_LEN, 0);
    let (header, rest) = blob.split_at_mut(HEADER_LEN);
    let (body, tag_out) = rest.split_at_mut(body_len);
    let nonce = nonce_of(&header[OFF_NONCE..HEADER_LEN]);
    let tag = RecordKey::new(&dek)
        .key()
        .seal_in_place_separate_tag(nonce, ring::aead::Aad::from(&aad), body)
        .map_err(|_| CryptoError::TooLarge { len: value.len(), max: MAX_VALUE_LEN })?;
    tag_out.copy_from_slice(tag.as_ref());
    Ok(blob)
}

/// Decrypts a blob sealed for `ctx`, checking each layer in turn so every failure has its own error.
pub fn open(kek: &Kek, ctx: &RecordContext<'_>, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let epoch = blob_epoch(blob)?;
    if epoch != kek.epoch() {
        return Err(CryptoError::EpochMismatch { blob: epoch, key: kek.epoch() });
    }
    let dek = unwrap(blob, kek)?;

    let aad = ctx.aad();
    let mut mac = ctx_mac(&dek);
    mac.update(&aad);
    mac.verify_truncated_left(&blob[OFF_CTX_TAG..OFF_NONCE]).map_err(|_| CryptoError::WrongContext)?;

    let (body, tag) = blob[HEADER_LEN..].split_at(blob.len() - HEADER_LEN - TAG_LEN);
    let mut plain = Zeroizing::new(body.to_vec());
    let tag = ring::aead::Tag::try_from(tag).map_err(|_| CryptoError::Malformed("tag length"))?;
    RecordKey::new(&dek)
        .key()
        .open_in_place_separate_tag(
            nonce_of(&blob[OFF_NONCE..HEADER_LEN]),
            ring::aead::Aad::from(&aad),
            tag,
            &mut plain,
            0..,
        )
        .map_err(|_| CryptoError::Tampered)?;

    // Authenticated from here on: a bad length or padding means a faulty sealer, not an attacker.
    let len = u32::from_le_bytes([plain[0], plain[1], plain[2], plain[3]]) as usize;
    let padded = &plain[LEN_PREFIX..];
    if len > padded.len() || padded[len..].iter().any(|&b| b != 0) {
        return Err(CryptoError::Malformed("bad length prefix or padding"));
    }
    plain.truncate(LEN_PREFIX + len);
    plain.drain(..LEN_PREFIX);
    Ok(plain)
}

/// The key epoch a blob's data key is wrapped under (to pick the KEK for [`open`]).
pub fn blob_epoch(blob: &[u8]) -> Result<u32, CryptoError> {
    check_header(blob)?;
    Ok(u32::from_le_bytes([blob[6], blob[7], blob[8], blob[9]]))
}

/// Key rotation: re-wraps the blob's data key from `old` to `new` (whose epoch the blob then names),
/// with a fresh wrap nonce. The record ciphertext, nonce, tag and context tag are unchanged.
pub fn rewrap(blob: &[u8], old: &Kek, new: &Kek) -> Result<Vec<u8>, CryptoError> {
    let epoch = blob_epoch(blob)?;
    if epoch != old.epoch() {
        return Err(CryptoError::EpochMismatch { blob: epoch, key: old.epoch() });
    }
    let dek = unwrap(blob, old)?;
    let mut out = blob.to_vec();
    out[OFF_EPOCH..OFF_WRAP_NONCE].copy_from_slice(&new.epoch().to_le_bytes());
    fill_random(&mut out[OFF_WRAP_NONCE..OFF_WRAPPED])?;
    wrap_into(&mut out, new, &dek);
    Ok(out)
}

fn check_header(blob: &[u8]) -> Result<(), CryptoError> {
    if blob.len() < 5 || &blob[..4] != MAGIC {
        return Err(CryptoError::Malformed("bad magic"));
    }
    if blob[4] != FORMAT_VERSION {
        return Err(CryptoError::UnsupportedVersion(blob[4]));
    }
    if blob.len() < HEADER_LEN + LEN_PREFIX + TAG_LEN {
        return Err(CryptoError::Malformed("truncated"));
    }
    if blob[5] != 0 {
        return Err(CryptoError::Malformed("reserved byte set"));
    }
    Ok(())
}

fn wrap_aad(blob: &[u8]) -> [u8; WRAP_DOMAIN.len() + 10] {
    let mut aad = [0u8; WRAP_DOMAIN.len() + 10];
    aad[..WRAP_DOMAIN.len()].copy_from_slice(WRAP_DOMAIN);
    // magic ‖ version ‖ reserved ‖ epoch, as they stand in the header.
    aad[WRAP_DOMAIN.len()..].copy_from_slice(&blob[..OFF_WRAP_NONCE]);
    aad
}

/// Wraps `dek` with `kek` into the header of `blob`, whose magic, version, epoch and wrap nonce are set.
fn wrap_into(blob: &mut [u8], kek: &Kek, dek: &[u8; 32]) {
    let aad = wrap_aad(blob);
    let (head, rest) = blob.split_at_mut(OFF_WRAPPED);
    let wrapped = &mut rest[..WRAPPED_LEN];
    wrapped[..32].copy_from_slice(dek);
    // Encrypting 32 bytes cannot exceed AES-GCM's length limit.
    let tag = cipher(kek.key_bytes())
        .encrypt_in_place_detached(Nonce::from_slice(&head[OFF_WRAP_NONCE..]), &aad, &mut wrapped[..32])
        .expect("a 32-byte AES-GCM message is within limits");
    wrapped[32..].copy_from_slice(&tag);
}

fn unwrap(blob: &[u8], kek: &Kek) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let mut dek = Zeroizing::new([0u8; 32]);
    dek.copy_from_slice(&blob[OFF_WRAPPED..OFF_WRAPPED + 32]);
    cipher(kek.key_bytes())
        .decrypt_in_place_detached(
            Nonce::from_slice(&blob[OFF_WRAP_NONCE..OFF_WRAPPED]),
            &wrap_aad(blob),
            dek.as_mut(),
            Tag::from_slice(&blob[OFF_WRAPPED + 32..OFF_CTX_TAG]),
        )
        .map_err(|_| CryptoError::KeyUnwrap { epoch: kek.epoch() })?;
    Ok(dek)
}

fn nonce_of(bytes: &[u8]) -> ring::aead::Nonce {
    ring::aead::Nonce::assume_unique_for_key(bytes.try_into().expect("a 12-byte nonce slice"))
}

/// The AES-256-GCM key of one record body, from `ring`: on bulk data its AES-NI/CLMUL (and
/// VAES/AVX2) assembly runs several times faster than the `aes-gcm` crate (the write-path bench
/// measures both side by side). `ring` does not wipe its expanded key schedule, so this wrapper
/// does, as `aes-gcm`'s `zeroize` feature does for the key wrap.
struct RecordKey(Box<std::mem::ManuallyDrop<ring::aead::LessSafeKey>>);

impl RecordKey {
    fn new(dek: &[u8; 32]) -> Self {
        let unbound = ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, dek)
            .expect("AES-256-GCM takes a 32-byte key");
        Self(Box::new(std::mem::ManuallyDrop::new(ring::aead::LessSafeKey::new(unbound))))
    }

    fn key(&self) -> &ring::aead::LessSafeKey {
        &self.0
    }
}

impl Drop for RecordKey {
    fn drop(&mut self) {
        let key: *mut std::mem::ManuallyDrop<ring::aead::LessSafeKey> = &mut *self.0;
        // SAFETY: `key` points to the boxed key, valid and exclusively ours; `LessSafeKey` owns
        // no heap memory and has no destructor (plain key schedule and a `&'static` algorithm),
        // and `ManuallyDrop` keeps the zeroed value from ever being read or dropped again: only
        // the box's allocation is freed afterwards.
        unsafe {
            for i in 0..std::mem::size_of::<ring::aead::LessSafeKey>() {
                std::ptr::write_volatile((key as *mut u8).add(i), 0);
            }
        }
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    }
}

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}

fn ctx_mac(dek: &[u8; 32]) -> Hmac<Sha256> {
    let mut key = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(None, dek)
        .expand(CTX_TAG_INFO, key.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    <Hmac<Sha256> as Mac>::new_from_slice(key.as_ref()).expect("HMAC accepts any key length")
}

fn context_tag(dek: &[u8; 32], aad: &[u8]) -> [u8; 32] {
    let mut mac = ctx_mac(dek);
    mac.update(aad);
    mac.finalize().into_bytes().into()
}

fn fill_random(buf: &mut [u8]) -> Result<(), CryptoError> {
    OsRng.try_fill_bytes(buf).map_err(|e| CryptoError::Rng(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(epoch: u32, byte: u8) -> Kek {
        Kek::new(epoch, Zeroizing::new([byte; 32]))
    }

    fn ctx(key: &[u8]) -> RecordContext<'_> {
        RecordContext { app: AppId([9; 32]), scope: ShardId(2).into(), key, version: 5 }
    }

    #[test]
    fn padding_buckets() {
        let p = Padding::Buckets;
        assert_eq!(p.padded_len(0), 256);
        assert_eq!(p.padded_len(256), 256);
        assert_eq!(p.padded_len(257), 512);
        assert_eq!(p.padded_len(PAD_LIMIT - 1), PAD_LIMIT);
        assert_eq!(p.padded_len(PAD_LIMIT), PAD_LIMIT);
        assert_eq!(p.padded_len(PAD_LIMIT + 1), PAD_LIMIT + 1);
        assert_eq!(Padding::None.padded_len(3), 3);
    }

    #[test]
    fn blob_sizes_reveal_only_the_bucket() {
        let k = kek(0, 1);
        let a = seal(&k, &ctx(b"k"), &[1; 10], Padding::Buckets).unwrap();
        let b = seal(&k, &ctx(b"k"), &[1; 200], Padding::Buckets).unwrap();
        assert_eq!(a.len(), b.len());
        assert_eq!(a.len(), OVERHEAD + MIN_BUCKET);
        let c = seal(&k, &ctx(b"k"), &[1; 10], Padding::None).unwrap();
        assert_eq!(c.len(), OVERHEAD + 10);
        assert_eq!(&*open(&k, &ctx(b"k"), &c).unwrap(), &[1; 10]);
    }

    #[test]
    fn header_layout() {
        let blob = seal(&kek(0x01020304, 1), &ctx(b"k"), b"v", Padding::None).unwrap();
        assert_eq!(&blob[..4], b"IREC");
        assert_eq!(blob[4], 1);
        assert_eq!(blob_epoch(&blob).unwrap(), 0x01020304);
        assert_eq!(&blob[6..10], &[4, 3, 2, 1]);
    }

    #[test]
    fn two_seals_differ() {
        let k = kek(0, 1);
        let a = seal(&k, &ctx(b"k"), b"same", Padding::Buckets).unwrap();
        let b = seal(&k, &ctx(b"k"), b"same", Padding::Buckets).unwrap();
        assert_ne!(a, b, "fresh data key and nonces per blob");
    }

    #[test]
    fn malformed_and_unsupported() {
        let k = kek(0, 1);
        assert!(matches!(open(&k, &ctx(b"k"), b""), Err(CryptoError::Malformed(_))));
        assert!(matches!(open(&k, &ctx(b"k"), b"IREC\x01\x00"), Err(CryptoError::Malformed(_))));
        let mut blob = seal(&k, &ctx(b"k"), b"v", Padding::None).unwrap();
        blob[4] = 2;
        assert!(matches!(open(&k, &ctx(b"k"), &blob), Err(CryptoError::UnsupportedVersion(2))));
        blob[4] = 1;
        blob[5] = 1;
        assert!(matches!(open(&k, &ctx(b"k"), &blob), Err(CryptoError::Malformed(_))));
    }

    #[test]
    fn wrapped_key_tamper_is_an_unwrap_error() {
        let k = kek(4, 1);
        let mut blob = seal(&k, &ctx(b"k"), b"v", Padding::None).unwrap();
        blob[OFF_WRAPPED] ^= 1;
        assert!(matches!(open(&k, &ctx(b"k"), &blob), Err(CryptoError::KeyUnwrap { epoch: 4 })));
    }

    /// On an x86-64 machine whose kernel reports AES-NI and CLMUL, the crypto crates' run-time
    /// detection finds them too, so sealing takes the hardware path.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn aes_gcm_detects_the_hardware_the_kernel_reports() {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let flags: std::collections::HashSet<&str> = cpuinfo
            .lines()
            .find(|l| l.starts_with("flags"))
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_default();
        let a = acceleration();
        assert_eq!(a.aes, flags.contains("aes"), "{a:?}");
        assert_eq!(a.clmul, flags.contains("pclmulqdq"), "{a:?}");
        assert_eq!(a.sha, flags.contains("sha_ni"), "{a:?}");
    }

    #[test]
    fn too_large() {
        let big = vec![0u8; MAX_VALUE_LEN + 1];
        assert!(matches!(
            seal(&kek(0, 1), &ctx(b"k"), &big, Padding::None),
            Err(CryptoError::TooLarge { .. })
        ));
    }
}
