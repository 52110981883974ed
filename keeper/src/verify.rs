//! Checking a keeper's answer from outside the keeper (the Rust twin of the TS SDK's
//! `verifyAgainstChain`): the record proof against the root it names, and that root against the
//! shard account on-chain. Never takes the keeper's word for either.
//!
//! What the proof shows depends on the app's [`TreeKeyMode`]:
//! * `public`: the verifier derives the record's tree position (SHA-256 of the key) itself, so an
//!   inclusion proof shows that value under that key and a non-inclusion proof that the key was
//!   never written.
//! * `keyed`: the position is a keyed hash only the keeper's TEE can compute; the proof carries it.
//!   The verifier checks that the value is included (or nothing is) at that position under the
//!   on-chain root, but cannot check that the position belongs to the key it asked for
//!   ([`Verified::key_position_checked`] is false). A non-inclusion proof then says nothing about
//!   the key.
use crate::api::ProofResponse;
use crate::chain::ShardOnChain;
use crate::tree::{public_key_hash, verify_record_proof, RecordProof, TreeKeyMode};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the proof response is malformed: {0}")]
    Malformed(&'static str),
    #[error("the keeper claims root {claimed} is committed but the chain holds {onchain}")]
    NotOnChain { claimed: String, onchain: String },
    #[error("the proof of {key:?} does not verify against root {root}")]
    ProofInvalid { key: String, root: String },
    #[error("the proof is in tree key mode {given}, the app uses {expected}")]
    WrongMode { expected: TreeKeyMode, given: TreeKeyMode },
    #[error("the proof's tree position {given} is not SHA-256 of the key ({expected}) in public mode")]
    WrongPosition { expected: String, given: String },
}

/// What the record is, as proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordState {
    Exists { version: u64 },
    Deleted { version: u64 },
    NeverWritten,
}

/// A verified answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub state: RecordState,
    /// The root the proof is against is the shard's root on-chain (else: the keeper's pending root,
    /// which only the next commit anchors).
    pub on_chain: bool,
    pub root: [u8; 32],
    pub onchain_seq: u64,
    /// The verifier derived the record's tree position from the key (public mode). In keyed mode
    /// it is false: the proof holds for the position the keeper named.
    pub key_position_checked: bool,
}

/// Verifies `proof` for `key` against `onchain`, the shard's state read from the chain, in the
/// tree key mode the proof names. A client that knows its app's mode should use
/// [`verify_against_chain_in`], so a keeper cannot downgrade a public app's proof to keyed.
pub fn verify_against_chain(
    key: &[u8],
    proof: &ProofResponse,
    onchain: &ShardOnChain,
) -> Result<Verified, VerifyError> {
    verify_against_chain_in(proof.tree_key_mode, key, proof, onchain)
}

/// [`verify_against_chain`] for an app whose tree key mode is `expected`.
pub fn verify_against_chain_in(
    expected: TreeKeyMode,
    key: &[u8],
    proof: &ProofResponse,
    onchain: &ShardOnChain,
) -> Result<Verified, VerifyError> {
    if proof.tree_key_mode != expected {
        return Err(VerifyError::WrongMode { expected, given: proof.tree_key_mode });
    }
    let decoded: RecordProof = hex::decode(&proof.proof)
        .ok()
        .and_then(|b| borsh::from_slice(&b).ok())
        .ok_or(VerifyError::Malformed("proof"))?;
    let leaf = proof.leaf.as_ref().map(|l| l.to_leaf().ok_or(VerifyError::Malformed("leaf"))).transpose()?;
    let claimed: [u8; 32] = hex::decode(&proof.root)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(VerifyError::Malformed("root"))?;
    let position: [u8; 32] = hex::decode(&proof.key_hash)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(VerifyError::Malformed("key_hash"))?;
    let key_position_checked = expected == TreeKeyMode::Public;
    if key_position_checked && public_key_hash(key).0 != position {
        return Err(VerifyError::WrongPosition {
            expected: hex::encode(public_key_hash(key).0),
            given: proof.key_hash.clone(),
        });
    }
    if proof.committed && claimed != onchain.root {
        return Err(VerifyError::NotOnChain {
            claimed: proof.root.clone(),
            onchain: hex::encode(onchain.root),
        });
    }
    let against = if proof.committed { onchain.root } else { claimed };
    if !verify_record_proof(&against, jmt::KeyHash(position), leaf.as_ref(), &decoded) {
        return Err(VerifyError::ProofInvalid {
            key: String::from_utf8_lossy(key).into_owned(),
            root: hex::encode(against),
        });
    }
    let state = match &leaf {
        Some(l) if !l.tombstone => RecordState::Exists { version: l.version },
        Some(l) => RecordState::Deleted { version: l.version },
        None => RecordState::NeverWritten,
    };
    Ok(Verified {
        state,
        on_chain: proof.committed,
        root: against,
        onchain_seq: onchain.seq,
        key_position_checked,
    })
}
