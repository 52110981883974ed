//! Ironroot keeper: the daemon inside the TEE that encrypts records, stores them as content-addressed
//! blobs and (later) anchors their Merkle roots on Solana.
//!
//! Modules so far:
//! * [`keys`]: where keys come from ([`keys::KeySource`]: dstack guest agent, or a sealed dev file).
//! * [`crypto`]: envelope encryption of records and its versioned blob format.
//! * [`blobs`]: content-addressed blob stores (local directory, IPFS) with CIDs checked on read.
//! * [`dstack_mock`]: a mock dstack guest agent for tests and the local demo.

pub mod api;
pub mod app;
pub mod backup;
pub mod blobs;
pub mod chain;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod dstack_mock;
pub mod keys;
pub mod manifest;
pub mod recovery;
pub mod shard;
pub mod tree;
#[cfg(test)]
mod ts_vectors;
