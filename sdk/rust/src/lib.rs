//! Ironroot Rust SDK: PDA helpers, instruction builders, account decoders and attestation helpers
//! for the on-chain programs.
pub mod app_roots;
pub mod attestation;
pub mod error;
pub mod history;
pub mod pda;
pub mod quote;
pub mod registry;
pub mod storage_stake;
pub mod verifier;

pub use app_roots as app_roots_program;
pub use attestation_verifier;
pub use error::SdkError;
pub use storage_stake as storage_stake_program;
pub use tee_registry;

/// Serialized size of a transaction: what the 1,232-byte packet limit applies to. Native test
/// runs do not enforce that limit, so tests assert it with this.
pub fn transaction_size(tx: &solana_sdk::transaction::Transaction) -> usize {
    // Serializing an in-memory transaction cannot fail.
    bincode::serialized_size(tx).expect("transaction serializes") as usize
}

/// Largest serialized transaction a cluster accepts.
pub const PACKET_DATA_SIZE: usize = 1232;
