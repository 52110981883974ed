//! What only tests, benchmarks and the demo need, kept out of the keeper that runs in the TEE:
//!
//! * [`bank_chain`]: the keeper's `Chain` seam over an in-process bank with the real programs.
//! * [`harness`]: the shared set-up (bank → app → keys → registered TEE key → chain).
//! * [`stake`]: a provider's stake with real SPL tokens, as instructions for the bank or RPC.
//! * [`demo`]: the one-command demo (`ironroot-demo`).
//! * [`dstack_mock`]: a mock dstack guest agent.
//! * the TS SDK's shared test vectors and the demo's own test live in `tests/` (one binary).

pub mod bank_chain;
pub mod demo;
pub mod dstack_mock;
pub mod harness;
pub mod stake;

pub use bank_chain::BankChain;
pub use harness::{Harness, HarnessOptions};
pub use ironroot_bank as bank;
