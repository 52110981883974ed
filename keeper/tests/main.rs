//! The keeper's integration tests, in one binary (each test binary links the Solana runtime
//! through the dev harness).
mod api;
mod cli;
mod keeper;
mod pack_store;
mod provider;
mod provider_e2e;
mod storage;
