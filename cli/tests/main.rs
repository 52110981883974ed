//! The `ironroot` binary, run as a process against a JSON-RPC localnet started by each test on
//! free ports (one test binary: it links the localnet, and through it the Solana runtime).
mod apps;
mod conventions;
mod governance;
mod stakes;
mod support;
