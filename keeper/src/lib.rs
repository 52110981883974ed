//! Ironroot keeper: the daemon inside the TEE that encrypts records, stores them as
//! content-addressed blobs, keeps a Merkle tree per shard and anchors its roots on Solana.
//!
//! * [`allocator`]: the allocator the keeper's binaries use (jemalloc, tuned for the memory budget).
//! * [`keys`]: where keys come from ([`keys::KeySource`]: dstack guest agent, or a sealed dev file).
//! * [`crypto`]: envelope encryption of records and its versioned blob format.
//! * [`blobs`]: content-addressed blob stores (local directory, IPFS) with CIDs checked on read.
//! * [`tree`]: the shard's Jellyfish Merkle tree, record index and commit state in one redb file.
//! * [`group_log`]: the shards' group commits made durable by the blob store's shared sync.
//! * [`manifest`]: sealed checkpoint/delta manifests that rebuild a shard from chain + blobs.
//! * [`chain`]: the [`chain::Chain`] seam and its JSON-RPC implementation.
//! * [`shard`]: one served shard: group-commit write path, reads with proofs, batcher, rotation.
//! * [`recovery`]: start-up reconciliation with the chain; rebuild or fail closed.
//! * [`app`]: an app's shards; [`api`]: the HTTP API; [`backup`]: encrypted export/import.
//! * [`config`]: file + environment configuration; [`node`]: from configuration to a running
//!   keeper (and offline recover/export/import).
//! * [`provider`]: the provider role: answering challenges and retrieval requests, reporting
//!   corruption.
//! * [`failpoint`]: crash points for the kill -9 tests (compiled in only under `failpoints`).
//! * [`registration`]: registering the TEE key through the verifier; [`verify`]: checking a
//!   keeper's proof against the chain from outside.
//!
//! What only tests, benchmarks and the demo need (the in-process bank, the demo, a mock dstack
//! agent) lives in the `ironroot-devkit` crate, so the TEE image carries none of it.

pub mod allocator;
pub mod api;
pub mod app;
pub mod backup;
pub mod blobs;
pub mod chain;
pub mod config;
pub mod crypto;
pub mod failpoint;
pub mod group_log;
pub mod keys;
pub mod manifest;
pub mod node;
pub mod provider;
pub mod recovery;
pub mod registration;
pub mod shard;
pub mod tree;
pub mod verify;
