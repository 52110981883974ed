//! The attester's tests in one binary: dcap-qvl's real Intel-signed samples, our own test PKI on
//! the full path to `register_tee`, the HTTP API, and the quote signatures for secp256r1.
mod common;
mod full_path;
mod http;
mod keeper_register;
mod samples;
mod secp256r1;
