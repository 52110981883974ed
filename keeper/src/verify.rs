//! Checking a keeper's answer from outside the keeper (the Rust twin of the TS SDK's
//! `verifyAgainstChain`): the record proof against the root it names, and that root against the
//! shard account on-chain. Never takes the keeper's word for either.
use crate::api::ProofResponse;
use crate::chain::ShardOnChain;
use crate::tree::{verify_record_proof, RecordProof};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the proof response is malformed: {0}")]
    Malformed(&'static str),
    #[error("the keeper claims root {claimed} is committed but the chain holds {onchain}")]
    NotOnChain { claimed: String, onchain: String },
    #[error("the proof of {key:?} does not verify against root {root}")]
    ProofInvalid { key: String, root: String },
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
}

/// Verifies `proof` for `key` against `onchain`, the shard's state read from the chain.
pub fn verify_against_chain(
    key: &[u8],
    proof: &ProofResponse,
    onchain: &ShardOnChain,
) -> Result<Verified, VerifyError> {
    let decoded: RecordProof = hex::decode(&proof.proof)
        .ok()
        .and_then(|b| borsh::from_slice(&b).ok())
        .ok_or(VerifyError::Malformed("proof"))?;
    let leaf = proof.leaf.as_ref().map(|l| l.to_leaf().ok_or(VerifyError::Malformed("leaf"))).transpose()?;
    let claimed: [u8; 32] = hex::decode(&proof.root)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(VerifyError::Malformed("root"))?;
    if proof.committed && claimed != onchain.root {
        return Err(VerifyError::NotOnChain {
            claimed: proof.root.clone(),
            onchain: hex::encode(onchain.root),
        });
    }
    let against = if proof.committed { onchain.root } else { claimed };
    if !verify_record_proof(&against, key, leaf.as_ref(), &decoded) {
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
    Ok(Verified { state, on_chain: proof.committed, root: against, onchain_seq: onchain.seq })
}
