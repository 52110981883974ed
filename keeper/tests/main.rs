//! The keeper's integration tests, in one binary (each test binary links the Solana runtime
//! through the dev harness).
mod api;
mod backup;
mod cli;
mod crash;
mod group_log;
mod keeper;
mod lying_rpc;
mod pack_store;
mod provider;
mod provider_e2e;
mod storage;
