//! Native tests of Ironroot's programs: real entrypoints, real CPIs, real precompiles, in one
//! solana-program-test bank per test.
mod app_roots;
mod common;
mod governance;
mod hardening;
mod register_tee;
mod registry;
