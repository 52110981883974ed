//! What the TEE computes for an answer: the leaf a challenge's point selects (the target rule
//! walked over the shard's own tree at its confirmed version), proven against the on-chain root,
//! and the possession tag over the leaf's blob fetched and checked here; and, for a retrieval,
//! an encrypted export of the shard's committed state.
use bytes::Bytes;
use cid::Cid;
use ironroot_sdk::storage_stake::{compact_proof, next_probe, possession_tag, JmtProof, Probe};
use sha2::{Digest, Sha256};
use storage_stake::{AnswerChallengeArgs, AnswerRetrievalArgs, Challenge};

use crate::backup;
use crate::blobs::{BlobError, BlobStore};
use crate::chain::ShardOnChain;
use crate::keys::{KeySource, ShardId};
use crate::shard::ShardKeeper;
use crate::tree::RecordLeaf;

/// Why an answer could not be built. [`AnswerError::DataLost`] means the shard's data is gone or
/// wrong here (recover it); the others pass (the next poll tries again).
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("shard {shard}: local committed seq {local_seq} is not the chain's seq {chain_seq} yet")]
    NotInSync { shard: ShardId, local_seq: u64, chain_seq: u64 },
    #[error("shard {shard}: data lost: {reason}")]
    DataLost { shard: ShardId, reason: String },
    #[error("shard {shard}: the blob store is unreachable: {reason}")]
    BlobsUnavailable { shard: ShardId, reason: String },
    #[error("shard {shard}: export: {reason}")]
    Export { shard: ShardId, reason: String },
}

/// Key hashes are 256 bits: a walk takes at most one probe per bit, plus the first.
const MAX_PROBES: usize = 257;

/// The answer to `challenge` from `shard`'s committed state, which must be the chain's `onchain`
/// state. The proof is checked with the program's own rule before it is returned, so an edited
/// tree yields [`AnswerError::DataLost`], never a rejected transaction.
pub async fn answer_challenge(
    shard: &ShardKeeper,
    blobs: &dyn BlobStore,
    onchain: &ShardOnChain,
    challenge: &Challenge,
) -> Result<AnswerChallengeArgs, AnswerError> {
    let id = ShardId(challenge.shard_id);
    let lost = |reason: String| AnswerError::DataLost { shard: id, reason };
    let store = shard.store();
    let state = store.state().map_err(|e| lost(e.to_string()))?;
    if state.confirmed_seq != onchain.seq || state.confirmed_root != onchain.root {
        return Err(AnswerError::NotInSync {
            shard: id,
            local_seq: state.confirmed_seq,
            chain_seq: onchain.seq,
        });
    }
    let version = state.confirmed_tree_version;
    let mut probe = challenge.point;
    let mut selected = None;
    for _ in 0..MAX_PROBES {
        let (_, proof) = store.prove_key_hash(probe, version).map_err(|e| lost(e.to_string()))?;
        let bytes = borsh::to_vec(&proof).map_err(|e| lost(e.to_string()))?;
        let proof = JmtProof::from_borsh(&bytes).map_err(|e| lost(e.to_string()))?;
        match next_probe(&probe, &proof).map_err(|e| lost(e.to_string()))? {
            Probe::Leaf => {
                selected = Some(proof);
                break;
            }
            Probe::Next(next) => probe = next,
        }
    }
    let proof = selected.ok_or_else(|| lost("the target walk did not end at a leaf".into()))?;
    let compact = compact_proof(&proof).map_err(|e| lost(e.to_string()))?;
    compact
        .verify_target(&onchain.root, &challenge.point)
        .map_err(|e| lost(format!("the tree's proof does not verify against the on-chain root: {e}")))?;
    // The record behind the leaf, bound to the proven value hash.
    let (leaf, _) = store.prove_key_hash(compact.key_hash, version).map_err(|e| lost(e.to_string()))?;
    let leaf: RecordLeaf = leaf.ok_or_else(|| lost("the selected leaf has no record value".into()))?;
    if <[u8; 32]>::from(Sha256::digest(leaf.to_bytes())) != compact.value_hash {
        return Err(lost("the record value does not hash to the proven leaf".into()));
    }
    let ciphertext = if leaf.tombstone {
        Bytes::new()
    } else {
        let cid = Cid::try_from(leaf.cid.as_slice()).map_err(|e| lost(format!("leaf CID: {e}")))?;
        match blobs.get(&cid).await {
            Ok(blob) => blob,
            Err(
                e @ (BlobError::NotFound(_)
                | BlobError::CidMismatch { .. }
                | BlobError::MalformedChunkList { .. }),
            ) => return Err(lost(format!("blob {cid}: {e}"))),
            Err(e) => return Err(AnswerError::BlobsUnavailable { shard: id, reason: e.to_string() }),
        }
    };
    // A tombstone has no blob (and no ciphertext hash): the tag is over empty ciphertext.
    if !leaf.tombstone && <[u8; 32]>::from(Sha256::digest(&ciphertext)) != leaf.ciphertext_hash {
        return Err(lost("the blob does not match the leaf's ciphertext hash".into()));
    }
    Ok(AnswerChallengeArgs { possession_tag: possession_tag(&challenge.nonce, &ciphertext), proof: compact })
}

/// An encrypted export ([`backup`] format, sealed with the app's key) of `shard`'s state, which
/// must be exactly the chain's `onchain` state (commit first), published to the blob store.
/// Returns the answer and the export's size.
pub async fn export_for_retrieval(
    shard: &ShardKeeper,
    blobs: &dyn BlobStore,
    keys: &dyn KeySource,
    onchain: &ShardOnChain,
) -> Result<(AnswerRetrievalArgs, Cid, usize), AnswerError> {
    let id = shard.config().shard;
    let failed = |reason: String| AnswerError::Export { shard: id, reason };
    let mut bytes = Vec::new();
    let summaries = backup::export(shard.config().app, &[(id, shard.store())], blobs, keys, &mut bytes)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let summary = summaries.first().ok_or_else(|| failed("the export holds no shard".into()))?;
    if summary.seq != onchain.seq || summary.root != onchain.root {
        return Err(AnswerError::NotInSync { shard: id, local_seq: summary.seq, chain_seq: onchain.seq });
    }
    let len = bytes.len();
    let cid = blobs.put(Bytes::from(bytes)).await.map_err(|e| failed(e.to_string()))?;
    blobs.pin(&cid).await.map_err(|e| failed(e.to_string()))?;
    Ok((AnswerRetrievalArgs { export_cid: cid.to_bytes(), root: onchain.root }, cid, len))
}
