//! Request and response bodies of the HTTP API.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::keys::ShardId;
use crate::shard::Durability;
use crate::tree::{RecordLeaf, TreeKeyMode};

#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct LeafJson {
    pub version: u64,
    /// CID of the encrypted blob (empty for a tombstone).
    pub cid: String,
    pub ciphertext_hash: String,
    pub key_epoch: u32,
    pub tombstone: bool,
}

impl From<&RecordLeaf> for LeafJson {
    fn from(l: &RecordLeaf) -> Self {
        LeafJson {
            version: l.version,
            cid: cid::Cid::try_from(l.cid.as_slice()).map(|c| c.to_string()).unwrap_or_default(),
            ciphertext_hash: hex::encode(l.ciphertext_hash),
            key_epoch: l.key_epoch,
            tombstone: l.tombstone,
        }
    }
}

impl LeafJson {
    /// Back to the leaf the tree commits to (for client-side proof checks).
    pub fn to_leaf(&self) -> Option<RecordLeaf> {
        let cid = if self.cid.is_empty() {
            Vec::new()
        } else {
            cid::Cid::try_from(self.cid.as_str()).ok()?.to_bytes()
        };
        Some(RecordLeaf {
            version: self.version,
            cid,
            ciphertext_hash: hex::decode(&self.ciphertext_hash).ok()?.try_into().ok()?,
            key_epoch: self.key_epoch,
            tombstone: self.tombstone,
        })
    }
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct WriteResponse {
    pub key: String,
    pub shard: ShardId,
    pub version: u64,
    /// Shard root after the write (hex), pending until committed on-chain.
    pub root: String,
    /// What this acknowledgement means: `local` (durable on the keeper's disk, anchored later;
    /// lost if the operator restores an older store before then) or `chain` (anchored).
    pub durability: Durability,
    /// The on-chain seq whose root contains the write, when anchored before the reply.
    pub anchored_seq: Option<u64>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct RecordResponse {
    pub key: String,
    pub shard: ShardId,
    /// The value, base64.
    pub value: String,
    pub leaf: LeafJson,
    pub root: String,
    pub committed: bool,
    pub seq: u64,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ProofResponse {
    pub key: String,
    pub shard: ShardId,
    /// The record's tree position (hex) the proof is about: SHA-256 of the key in `public` mode
    /// (check it yourself), a keyed hash only the keeper can compute in `keyed` mode.
    pub key_hash: String,
    /// How the app maps record keys to tree positions.
    pub tree_key_mode: TreeKeyMode,
    /// The leaf, or null when the key was never written (a non-inclusion proof).
    pub leaf: Option<LeafJson>,
    /// Shard root the proof is against (hex).
    pub root: String,
    /// Whether `root` is the shard's on-chain root.
    pub committed: bool,
    pub seq: u64,
    /// Borsh-encoded `jmt::proof::SparseMerkleProof<Sha256>`, hex.
    pub proof: String,
}

#[derive(Deserialize, ToSchema)]
pub struct WriteQuery {
    /// Hex shard root the write expects; a different current root fails with ROOT_CHANGED.
    pub expected_root: Option<String>,
    /// `local` or `chain`; the keeper's default when absent.
    pub durability: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct BatchWriteItem {
    pub key: String,
    /// Base64 value; omit together with `delete: true` to delete.
    #[schema(value_type = Option<String>)]
    pub value: Option<Base64Value>,
    #[serde(default)]
    pub delete: bool,
}

/// A base64 JSON string, decoded while the request body is parsed: straight from the body's
/// bytes into the value's buffer, without an intermediate string. Text that is not base64 is kept
/// as `Err`, for the handler to report with the field's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base64Value(pub Result<bytes::Bytes, ()>);

impl<'de> Deserialize<'de> for Base64Value {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Base64Value;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a base64 string")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Base64Value, E> {
                use base64::Engine;
                let decoded = base64::engine::general_purpose::STANDARD.decode(text);
                Ok(Base64Value(decoded.map(bytes::Bytes::from).map_err(|_| ())))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[derive(Deserialize, ToSchema)]
pub struct BatchWriteRequest {
    pub writes: Vec<BatchWriteItem>,
    /// `local` or `chain` for every write of the batch; the keeper's default when absent.
    #[serde(default)]
    pub durability: Option<Durability>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct BatchWriteResponse {
    pub results: Vec<WriteResponse>,
}

#[derive(Deserialize, ToSchema)]
pub struct BatchReadRequest {
    pub keys: Vec<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct BatchReadResponse {
    /// One entry per requested key, in order; null when absent.
    pub records: Vec<Option<RecordResponse>>,
}

#[derive(Deserialize, ToSchema)]
pub struct ListQuery {
    /// Return keys after this one.
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ListResponse {
    pub keys: Vec<String>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct HealthResponse {
    pub status: String,
    pub ipfs_reachable: bool,
    pub chain_reachable: bool,
    pub shards_serving: usize,
    pub shards_failed_closed: usize,
}

#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct ShardStatusJson {
    pub shard: ShardId,
    pub serving: bool,
    /// Why the shard refuses to serve, when it does.
    pub failed_closed: Option<String>,
    pub local_seq: Option<u64>,
    pub local_root: Option<String>,
    pub onchain_seq: Option<u64>,
    pub onchain_root: Option<String>,
    pub pending_writes: Option<u64>,
    /// The rollback window: acknowledged writes not yet anchored on-chain, and the oldest's age.
    pub unanchored_writes: Option<u64>,
    pub oldest_unanchored_ms: Option<u64>,
    /// Durability of writes that do not ask for one.
    pub durability: Option<Durability>,
    /// Why the shard stopped accepting writes (the chain rejected its update), if it did.
    pub halted: Option<String>,
    pub pending_seq: Option<u64>,
    pub last_commit_slot: Option<u64>,
    pub key_epoch: Option<u32>,
    pub records: Option<u64>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct StatusResponse {
    pub app: String,
    pub shard_count: u16,
    pub tee_pubkey: String,
    pub shards: Vec<ShardStatusJson>,
    /// The provider role (stake, open challenge and retrieval, answers), when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<crate::provider::ProviderStatus>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct CommitResponse {
    pub commits: Vec<CommitJson>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct CommitJson {
    pub shard: ShardId,
    pub committed: bool,
    pub seq: Option<u64>,
    pub root: Option<String>,
    pub tx_bytes: Option<usize>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct RotateResponse {
    pub shards: Vec<(ShardId, u32)>,
    pub rewrapped: u64,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct RebuildResponse {
    pub shards: Vec<ShardStatusJson>,
}

impl std::fmt::Display for StatusResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "app {} ({} shards), TEE key {}", self.app, self.shard_count, self.tee_pubkey)?;
        for s in &self.shards {
            match &s.failed_closed {
                Some(reason) => writeln!(f, "shard {:>3}: FAILED CLOSED: {reason}", s.shard)?,
                None => writeln!(
                    f,
                    "shard {:>3}: local seq {} root {}, on-chain seq {} root {}, {} pending writes, key epoch {}, {} records",
                    s.shard,
                    s.local_seq.unwrap_or(0),
                    s.local_root.as_deref().unwrap_or_default(),
                    s.onchain_seq.unwrap_or(0),
                    s.onchain_root.as_deref().unwrap_or_default(),
                    s.pending_writes.unwrap_or(0),
                    s.key_epoch.unwrap_or(0),
                    s.records.unwrap_or(0),
                )?,
            }
        }
        if let Some(p) = &self.provider {
            writeln!(
                f,
                "provider {}: stake {} {} ({}), TEE key {}bound",
                p.provider,
                p.stake,
                p.stake_amount.map_or("-".into(), |a| a.to_string()),
                p.stake_status.as_deref().unwrap_or("unknown"),
                if p.tee_bound { "" } else { "NOT " },
            )?;
            if let Some(c) = &p.open_challenge {
                writeln!(f, "  open {} challenge on shard {}, deadline {}", c.kind, c.shard, c.deadline)?;
            }
            if let Some(r) = &p.open_retrieval {
                writeln!(f, "  open retrieval of shard {}, deadline {}", r.shard, r.deadline)?;
            }
            writeln!(
                f,
                "  {} answers, {} failed attempts, {} missed, {} corruption reports, {} retrievals",
                p.answers_total,
                p.answer_failures_total,
                p.challenges_missed_total,
                p.corruption_reports_total,
                p.retrievals_answered_total
            )?;
            if let Some(a) = p.answers.last() {
                writeln!(
                    f,
                    "  last answer: shard {} in {} ms, {} slots, {} s before the deadline",
                    a.shard, a.latency_ms, a.slots_taken, a.margin_secs
                )?;
            }
        }
        Ok(())
    }
}
