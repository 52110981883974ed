//! Native tests of Ironroot's programs: real entrypoints, real CPIs, real precompiles, in one
//! solana-program-test bank per test.
mod app_roots;
mod common;
mod governance;
mod hardening;
mod quote_signatures;
mod register_tee;
mod registry;
mod shard_tree;
mod storage_stake;
