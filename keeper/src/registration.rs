//! Registering the keeper's TEE key through the attestation verifier: the statement (dated by the
//! cluster's clock, bound to a dstack quote), k attester signatures in one Ed25519 precompile
//! instruction, then `register_tee` signed by the fee payer and the TEE key.
//!
//! The statement is signed either by attester services that verify the quote
//! ([`register_with_attesters`]; [`keep_registered`] renews it while the daemon runs) or, for the
//! demo only, by development attester keys that check nothing ([`register_with_attester_keys`]).
use std::str::FromStr;
use std::time::Duration;

use ironroot_sdk::attestation::{decode_statement, report_data, sign_statement, statement, StatementFields};
use ironroot_sdk::attestation_verifier::{AttestationStatement, STATEMENT_VERSION_WHOLE_QUOTE_HASH};
use ironroot_sdk::pda;
use ironroot_sdk::quote::QuoteParts;
use ironroot_sdk::registry::{decode_tee_entry, decode_verifier_config, TeeKeyStatus};
use serde::{Deserialize, Serialize};
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::commitment_config::CommitmentConfig;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use tracing::{info, warn};

use crate::keys::DstackClient;
use crate::node::{read_keypair, Node, NodeError};

/// Registration lifetime asked for (governance caps it at its maximum key lifetime).
pub const REGISTRATION_LIFETIME_SECS: i64 = 30 * 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("RPC: {0}")]
    Rpc(Box<solana_rpc_client_api::client_error::Error>),
    #[error("the clock sysvar is malformed")]
    Clock,
    #[error(transparent)]
    Sdk(#[from] ironroot_sdk::error::SdkError),
    #[error("dstack quote: {0}")]
    Quote(#[from] crate::keys::KeyError),
    #[error(transparent)]
    Chain(#[from] crate::chain::ChainError),
    #[error("no attester URLs: pass --attester-url (k of them) or set attester_urls")]
    NoAttesters,
    #[error("registering through attesters needs a TEE quote: set key_source = \"dstack\"")]
    NoQuote,
    #[error("the dstack guest agent's identity is malformed: {0}")]
    AgentIdentity(&'static str),
    #[error("the attestation verifier has no governance config on this cluster")]
    NoVerifierConfig,
    #[error("the operating system's random number generator failed")]
    Random,
    #[error("governance needs {needed} attesters to vouch; only {given} attester URL(s) given")]
    TooFewAttesterUrls { needed: usize, given: usize },
    #[error("the TEE key's nonce cannot grow any more")]
    NonceExhausted,
    #[error("registration lifetime {0} s is not positive (after governance's cap)")]
    Lifetime(i64),
    #[error("HTTP client: {0}")]
    Http(String),
    #[error(
        "governance requires the quote's signatures on-chain, but recording them needs a {size}-byte \
         transaction (limit {limit}): this quote layout cannot be checked on-chain"
    )]
    QuotePartTooLarge { size: usize, limit: usize },
    #[error(
        "governance needs {needed} attester signatures over one statement, got {got}; failures: {failures}"
    )]
    TooFewAttesters { needed: usize, got: usize, failures: String },
}

impl From<solana_rpc_client_api::client_error::Error> for RegistrationError {
    fn from(e: solana_rpc_client_api::client_error::Error) -> Self {
        RegistrationError::Rpc(Box::new(e))
    }
}

/// What the attesters vouch for.
pub struct Evidence {
    pub measurement: [u8; 32],
    pub dstack_app_id: [u8; 32],
    pub compose_hash: [u8; 32],
    /// Must exceed the key's last registered nonce.
    pub nonce: u64,
}

pub struct Registered {
    pub signature: Signature,
    pub status: TeeKeyStatus,
}

/// Registers `node`'s TEE key with statements signed by `attesters` (development key files; the
/// attester service takes their place in production).
pub async fn register_with_attester_keys(
    node: &Node,
    attesters: &[Keypair],
    evidence: &Evidence,
) -> Result<Registered, RegistrationError> {
    let cfg = &node.config;
    let signer = node.services.signer.as_ref();
    let rpc = RpcClient::new(cfg.rpc_url.clone());
    let genesis = rpc.get_genesis_hash().await?;
    // The verifier judges freshness by the cluster's clock, so the statement is dated by it too.
    let clock: solana_sdk::clock::Clock =
        bincode::deserialize(&rpc.get_account(&solana_sdk::sysvar::clock::ID).await?.data)
            .map_err(|_| RegistrationError::Clock)?;
    let now = clock.unix_timestamp;
    // Evidence: with dstack, a quote whose report data binds the TEE key as attesters check it
    // (`ironroot_sdk::attestation::report_data`); the dev key source has none.
    let quote_hash = match &cfg.key_source[..] {
        "dstack" => {
            let report_data = ironroot_sdk::attestation::report_data(
                &genesis.to_bytes(),
                &signer.pubkey(),
                &evidence.dstack_app_id,
                evidence.nonce,
            );
            let quote = DstackClient::new(dstack_endpoint(cfg))?.get_quote(&report_data).await?;
            solana_sdk::hash::hash(&quote.quote).to_bytes()
        }
        _ => solana_sdk::hash::hash(b"development key source: no quote").to_bytes(),
    };
    let mut statement = statement(StatementFields {
        cluster_genesis_hash: genesis.to_bytes(),
        tee_pubkey: signer.pubkey(),
        app_id: evidence.dstack_app_id,
        compose_hash: evidence.compose_hash,
        measurement: evidence.measurement,
        tcb_status: 0,
        quote_hash,
        nonce: evidence.nonce,
        verified_at: now,
        expires_at: now + REGISTRATION_LIFETIME_SECS,
    });
    // Nothing here checks or records the quote: a version 1 statement (hash of the whole quote),
    // which governance accepts only while it does not require the quote's signatures on-chain.
    statement.version = STATEMENT_VERSION_WHOLE_QUOTE_HASH;
    let signers: Vec<&dyn Signer> = attesters.iter().map(|k| k as &dyn Signer).collect();
    let signatures = sign_statement(&statement, &signers);
    let fee_payer = read_keypair(cfg.fee_payer_keypair.as_ref().ok_or_else(|| {
        NodeError::Config(crate::config::ConfigError::Invalid("fee_payer_keypair is required".into()))
    })?)?;
    let ixs = ironroot_sdk::verifier::register_tee_transaction_instructions(
        &fee_payer.pubkey(),
        &statement,
        &signatures,
    )?;
    let tx = solana_sdk::transaction::Transaction::new_signed_with_payer(
        &ixs,
        Some(&fee_payer.pubkey()),
        &[&fee_payer, signer],
        rpc.get_latest_blockhash().await?,
    );
    let signature = rpc.send_and_confirm_transaction(&tx).await?;
    let status = node.services.chain.tee_status(&signer.pubkey()).await?;
    Ok(Registered { signature, status })
}

/// A statement proposal sent to an attester service (`POST /v1/attest`; the attester's
/// `AttestRequestJson`).
#[derive(Clone, Debug, Serialize)]
struct AttestRequest {
    quote: String,
    event_log: String,
    tee_pubkey: String,
    app_id: String,
    compose_hash: String,
    cluster: String,
    nonce: u64,
    verified_at: i64,
    expires_at: i64,
}

/// The parts of an attester's answer the keeper uses.
#[derive(Deserialize)]
struct AttestResponse {
    statement: String,
    attester: String,
    signature: String,
}

#[derive(Deserialize)]
struct AttestErrorResponse {
    error: AttestErrorBody,
}

#[derive(Deserialize)]
struct AttestErrorBody {
    code: String,
    #[serde(default)]
    check: Option<String>,
    message: String,
}

/// How one attester service failed to vouch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttesterFailure {
    pub url: String,
    pub reason: String,
}

impl std::fmt::Display for AttesterFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.url, self.reason)
    }
}

fn list(failures: &[AttesterFailure]) -> String {
    if failures.is_empty() {
        return "none failed".into();
    }
    failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

const ATTESTER_TIMEOUT: Duration = Duration::from_secs(30);

/// Registers `node`'s TEE key through attester services: a quote from the dstack guest agent
/// binding the key (report data as `ironroot_sdk::attestation::report_data`), sent with the
/// agent's event log and app identity to every URL; once governance's threshold k of governance's
/// attesters signed the identical statement, `register_tee` with k of those signatures.
///
/// The nonce is the largest of the key's last registered nonce + 1, governance's nonce floor, the
/// cluster's time in milliseconds and `*next_nonce`, plus a random 0..1000 ([`random_offset`]);
/// `*next_nonce` is then set past the nonce used, whether or not the registration succeeds (an
/// attester never vouches for one nonce twice). The statement is dated by the cluster's clock and lives `lifetime_secs`, capped by
/// governance's maximum key lifetime.
pub async fn register_with_attesters(
    node: &Node,
    attester_urls: &[String],
    lifetime_secs: i64,
    next_nonce: &mut u64,
) -> Result<AttestedRegistration, RegistrationError> {
    let cfg = &node.config;
    let signer = node.services.signer.as_ref();
    let tee = signer.pubkey();
    if attester_urls.is_empty() {
        return Err(RegistrationError::NoAttesters);
    }
    if cfg.key_source != "dstack" {
        return Err(RegistrationError::NoQuote);
    }
    let rpc = RpcClient::new_with_commitment(cfg.rpc_url.clone(), CommitmentConfig::confirmed());
    let genesis = rpc.get_genesis_hash().await?;
    let now = cluster_now(&rpc).await?;
    let config_address = pda::verifier_config();
    let config = match rpc.get_account_with_commitment(&config_address, rpc.commitment()).await?.value {
        Some(account) => decode_verifier_config(&config_address, &account)?,
        None => return Err(RegistrationError::NoVerifierConfig),
    };
    let entry_address = pda::tee_entry(&tee);
    let last_nonce = match rpc.get_account_with_commitment(&entry_address, rpc.commitment()).await?.value {
        Some(account) => decode_tee_entry(&entry_address, &account)?.last_nonce,
        None => 0,
    };
    let needed = usize::from(config.threshold);
    if attester_urls.len() < needed {
        return Err(RegistrationError::TooFewAttesterUrls { needed, given: attester_urls.len() });
    }
    let nonce = last_nonce
        .checked_add(1)
        .ok_or(RegistrationError::NonceExhausted)?
        .max(config.policy.nonce_floor)
        .max(u64::try_from(now).unwrap_or(0).saturating_mul(1000))
        .max(*next_nonce)
        .checked_add(random_offset()?)
        .ok_or(RegistrationError::NonceExhausted)?;
    *next_nonce = nonce.saturating_add(1);
    let lifetime = lifetime_secs.min(config.policy.max_key_lifetime_secs);
    if lifetime <= 0 {
        return Err(RegistrationError::Lifetime(lifetime));
    }
    let expires_at = now.checked_add(lifetime).ok_or(RegistrationError::Lifetime(lifetime))?;

    // Evidence from the guest agent: the app identity it reports and a quote binding this key.
    let agent = DstackClient::new(dstack_endpoint(cfg))?;
    let info = agent.info().await?;
    let app_id = dstack_app_id(&info.app_id)?;
    let compose_hash: [u8; 32] = hex::decode(&info.compose_hash)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(RegistrationError::AgentIdentity("compose_hash is not 32 bytes of hex"))?;
    let report_data = report_data(&genesis.to_bytes(), &tee, &app_id, nonce);
    let quote = agent.get_quote(&report_data).await?;
    // What the attesters' version 2 statement must name, and what the chain re-checks.
    let parts = QuoteParts::parse(&quote.quote)?;
    let quote_digest = parts.digest();
    let request = AttestRequest {
        quote: hex::encode(&quote.quote),
        event_log: quote.event_log,
        tee_pubkey: tee.to_string(),
        app_id: hex::encode(app_id),
        compose_hash: hex::encode(compose_hash),
        cluster: genesis.to_string(),
        nonce,
        verified_at: now,
        expires_at,
    };
    let http = reqwest::Client::builder()
        .timeout(ATTESTER_TIMEOUT)
        .build()
        .map_err(|e| RegistrationError::Http(e.to_string()))?;
    let answers =
        futures::future::join_all(attester_urls.iter().map(|url| ask_attester(&http, url, &request))).await;

    // Keep what checks out: a governance attester's valid signature over exactly what was asked.
    let mut failures = Vec::new();
    let mut vouched: Vec<(AttestationStatement, Pubkey, Signature)> = Vec::new();
    for (url, answer) in attester_urls.iter().zip(answers) {
        let checked = answer.and_then(|a| {
            let statement =
                decode_statement(&hex::decode(&a.statement).map_err(|_| "statement is not hex".to_string())?)
                    .map_err(|_| "statement is not an AttestationStatement".to_string())?;
            let attester =
                Pubkey::from_str(&a.attester).map_err(|_| "attester key is not base58".to_string())?;
            let signature =
                Signature::from_str(&a.signature).map_err(|_| "signature is not base58".to_string())?;
            if !config.attesters.contains(&attester) {
                return Err(format!("attester {attester} is not in governance's attester set"));
            }
            if !signature.verify(attester.as_ref(), &statement.to_bytes()) {
                return Err("the signature does not verify over the statement".into());
            }
            let asked = statement.tee_pubkey == tee
                && statement.cluster_genesis_hash == genesis.to_bytes()
                && statement.app_id == app_id
                && statement.compose_hash == compose_hash
                && statement.nonce == nonce
                && statement.verified_at == now
                && statement.expires_at == expires_at
                && statement.quote_hash == quote_digest;
            if !asked {
                return Err(
                    "the statement is not the one asked for (key, cluster, app, nonce, window or quote)"
                        .into(),
                );
            }
            Ok((statement, attester, signature))
        });
        match checked {
            Ok(v) if vouched.iter().any(|(_, a, _)| *a == v.1) => failures.push(AttesterFailure {
                url: url.clone(),
                reason: format!("attester {} answered twice", v.1),
            }),
            Ok(v) => vouched.push(v),
            Err(reason) => failures.push(AttesterFailure { url: url.clone(), reason }),
        }
    }
    // k signatures must be over identical bytes: take the statement most attesters signed.
    let best = vouched
        .iter()
        .map(|(s, _, _)| s)
        .max_by_key(|s| vouched.iter().filter(|(o, _, _)| o == *s).count())
        .cloned();
    let Some(statement) = best else {
        return Err(RegistrationError::TooFewAttesters { needed, got: 0, failures: list(&failures) });
    };
    let signatures: Vec<(Pubkey, Signature)> = vouched
        .iter()
        .filter(|(s, _, _)| *s == statement)
        .map(|(_, a, sig)| (*a, *sig))
        .take(needed)
        .collect();
    if signatures.len() < needed {
        return Err(RegistrationError::TooFewAttesters {
            needed,
            got: signatures.len(),
            failures: list(&failures),
        });
    }

    let fee_payer = read_keypair(cfg.fee_payer_keypair.as_ref().ok_or_else(|| {
        NodeError::Config(crate::config::ConfigError::Invalid("fee_payer_keypair is required".into()))
    })?)?;
    let ixs = if config.policy.require_quote_signatures {
        record_quote(&rpc, &fee_payer, &tee, &parts, nonce).await?;
        ironroot_sdk::verifier::register_tee_with_quote_transaction_instructions(
            &fee_payer.pubkey(),
            &statement,
            &signatures,
        )?
    } else {
        ironroot_sdk::verifier::register_tee_transaction_instructions(
            &fee_payer.pubkey(),
            &statement,
            &signatures,
        )?
    };
    let tx = solana_sdk::transaction::Transaction::new_signed_with_payer(
        &ixs,
        Some(&fee_payer.pubkey()),
        &[&fee_payer, signer],
        rpc.get_latest_blockhash().await?,
    );
    let signature = rpc.send_and_confirm_transaction(&tx).await?;
    let status = node.services.chain.tee_status(&tee).await?;
    info!(tee = %tee, nonce, expires_at, attesters = signatures.len(), "TEE key registered through attesters");
    Ok(AttestedRegistration {
        registered: Registered { signature, status },
        nonce,
        expires_at,
        attesters: signatures.into_iter().map(|(a, _)| a).collect(),
        failures,
    })
}

/// Records the quote's own signatures (secp256r1 precompile + record instruction, two
/// transactions) into the fee payer's quote buffer of `(tee, nonce)`, which `register_tee` then
/// consumes. Both transactions are built and size-checked before either is sent, so a quote layout
/// the chain cannot check costs nothing.
/// A buffer left behind by a failure later on is reclaimable by the fee payer once it expires.
async fn record_quote(
    rpc: &RpcClient,
    fee_payer: &Keypair,
    tee: &Pubkey,
    parts: &QuoteParts,
    nonce: u64,
) -> Result<(), RegistrationError> {
    let blockhash = rpc.get_latest_blockhash().await?;
    for tx in quote_transactions(fee_payer, tee, parts, nonce, blockhash)? {
        rpc.send_and_confirm_transaction(&tx).await?;
    }
    info!(tee = %tee, nonce, "quote signatures recorded on-chain");
    Ok(())
}

/// The signed transactions of [`record_quote`], each within a packet.
fn quote_transactions(
    fee_payer: &Keypair,
    tee: &Pubkey,
    parts: &QuoteParts,
    nonce: u64,
    blockhash: solana_sdk::hash::Hash,
) -> Result<Vec<solana_sdk::transaction::Transaction>, RegistrationError> {
    parts
        .record_instructions(&fee_payer.pubkey(), tee, nonce)
        .iter()
        .map(|ixs| {
            let tx = solana_sdk::transaction::Transaction::new_signed_with_payer(
                ixs,
                Some(&fee_payer.pubkey()),
                &[fee_payer],
                blockhash,
            );
            let size = ironroot_sdk::transaction_size(&tx);
            if size > ironroot_sdk::PACKET_DATA_SIZE {
                return Err(RegistrationError::QuotePartTooLarge {
                    size,
                    limit: ironroot_sdk::PACKET_DATA_SIZE,
                });
            }
            Ok(tx)
        })
        .collect()
}

/// A registration made through attester services.
pub struct AttestedRegistration {
    pub registered: Registered,
    pub nonce: u64,
    pub expires_at: i64,
    /// The attesters whose signatures went on-chain.
    pub attesters: Vec<Pubkey>,
    /// Attesters that did not vouch (the threshold was met without them).
    pub failures: Vec<AttesterFailure>,
}

async fn ask_attester(
    http: &reqwest::Client,
    url: &str,
    request: &AttestRequest,
) -> Result<AttestResponse, String> {
    let endpoint = format!("{}/v1/attest", url.trim_end_matches('/'));
    let response =
        http.post(&endpoint).json(request).send().await.map_err(|e| format!("unreachable: {e}"))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| format!("reading the answer: {e}"))?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|_| "malformed answer".to_string());
    }
    Err(match serde_json::from_slice::<AttestErrorResponse>(&body) {
        Ok(AttestErrorResponse { error }) => match error.check {
            Some(check) => format!("{} ({check}): {}", error.code, error.message),
            None => format!("{}: {}", error.code, error.message),
        },
        Err(_) => format!("HTTP {status}"),
    })
}

/// A random 0..1000 added to every nonce: a new process (a retry after a failure, or a second
/// keeper) starts from the same chain state and clock as the one before it, and would otherwise
/// pick the nonce an attester already vouched for, which the attester refuses.
fn random_offset() -> Result<u64, RegistrationError> {
    use ring::rand::SecureRandom;
    let mut random = [0u8; 2];
    ring::rand::SystemRandom::new().fill(&mut random).map_err(|_| RegistrationError::Random)?;
    Ok(u64::from(u16::from_le_bytes(random)) % 1000)
}

/// The dstack guest agent the config names (the deployed unix socket by default).
pub fn dstack_endpoint(cfg: &crate::config::Config) -> String {
    cfg.dstack_endpoint.clone().unwrap_or_else(|| crate::keys::DSTACK_SOCKET_DEFAULT.to_string())
}

/// A dstack app id (20 bytes, hex) as the statement carries it: zero-padded on the right to 32.
fn dstack_app_id(hex_id: &str) -> Result<[u8; 32], RegistrationError> {
    let bytes = hex::decode(hex_id.trim_start_matches("0x"))
        .map_err(|_| RegistrationError::AgentIdentity("app_id is not hex"))?;
    if bytes.is_empty() || bytes.len() > 32 {
        return Err(RegistrationError::AgentIdentity("app_id must be 1 to 32 bytes"));
    }
    let mut id = [0u8; 32];
    id[..bytes.len()].copy_from_slice(&bytes);
    Ok(id)
}

async fn cluster_now(rpc: &RpcClient) -> Result<i64, RegistrationError> {
    let clock: solana_sdk::clock::Clock =
        bincode::deserialize(&rpc.get_account(&solana_sdk::sysvar::clock::ID).await?.data)
            .map_err(|_| RegistrationError::Clock)?;
    Ok(clock.unix_timestamp)
}

/// When to re-register: `margin_secs` before expiry, never busier than `retry` after a failure.
#[derive(Clone, Debug)]
pub struct Reregistration {
    pub attester_urls: Vec<String>,
    pub lifetime_secs: i64,
    pub margin_secs: i64,
    pub retry: Duration,
}

impl Reregistration {
    /// What the config asks for; `None` without attester URLs.
    pub fn from_config(cfg: &crate::config::Config) -> Option<Self> {
        (!cfg.attester_urls.is_empty()).then(|| Reregistration {
            attester_urls: cfg.attester_urls.clone(),
            lifetime_secs: cfg.registration_lifetime_secs,
            margin_secs: cfg.reregister_margin_secs,
            retry: REREGISTER_RETRY,
        })
    }
}

const REREGISTER_RETRY: Duration = Duration::from_secs(5);
/// Longest sleep between looks at the registry (it may be revoked or replaced meanwhile).
const REREGISTER_MAX_SLEEP: Duration = Duration::from_secs(300);

/// Keeps `node`'s TEE key registered while the daemon runs: whenever the remaining lifetime is
/// at most the margin plus the app policy's minimum key validity (below which `update_shard`
/// refuses the key), or the key is unregistered or expired, registers again through the
/// attesters. Never returns; the caller drops it when the daemon stops.
pub async fn keep_registered(node: &Node, plan: &Reregistration) -> std::convert::Infallible {
    let tee = node.services.signer.pubkey();
    let rpc = RpcClient::new_with_commitment(node.config.rpc_url.clone(), CommitmentConfig::confirmed());
    let mut next_nonce = 0u64;
    loop {
        // The app refuses updates signed by a key with less than its policy's minimum validity
        // left: the margin counts from there, or the shards would halt before re-registration.
        let app_minimum = match node.services.chain.app(node.app.as_bytes()).await {
            Ok(Some(app)) => app.policy.min_key_validity_secs.max(0),
            _ => 0,
        };
        let margin = plan.margin_secs.saturating_add(app_minimum);
        let status = node.services.chain.tee_status(&tee).await;
        let now = cluster_now(&rpc).await;
        let wait = match (status, now) {
            (Ok(TeeKeyStatus::Valid { expires_at }), Ok(now)) if expires_at - now > margin => {
                Duration::from_secs((expires_at - now - margin) as u64).min(REREGISTER_MAX_SLEEP)
            }
            (Ok(TeeKeyStatus::Revoked { revoked_at }), _) => {
                warn!(tee = %tee, revoked_at, "TEE key revoked by governance; not re-registering");
                REREGISTER_MAX_SLEEP
            }
            (Ok(status), Ok(now)) => {
                info!(tee = %tee, ?status, margin, "registration ends within the margin: re-registering");
                match register_with_attesters(node, &plan.attester_urls, plan.lifetime_secs, &mut next_nonce)
                    .await
                {
                    Ok(done) => {
                        for failure in &done.failures {
                            warn!(%failure, "attester did not vouch");
                        }
                        let granted = done.expires_at - now;
                        if granted > margin {
                            continue;
                        }
                        // Capped (by governance or the attesters) below the margin: re-registering
                        // at once would never stop, so wait half of what was granted.
                        warn!(granted, margin, "registration lifetime granted is within the margin");
                        Duration::from_secs((granted / 2).max(0) as u64).max(plan.retry)
                    }
                    Err(e) => {
                        warn!(error = %e, "re-registration failed; retrying");
                        plan.retry
                    }
                }
            }
            (Err(e), _) => {
                warn!(error = %e, "cannot read the TEE key's registration; retrying");
                plan.retry
            }
            (_, Err(e)) => {
                warn!(error = %e, "cannot read the cluster clock; retrying");
                plan.retry
            }
        };
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use ironroot_sdk::quote::P256Signature;

    use super::*;

    fn parts(isv_message: usize, qe_auth_data: usize) -> QuoteParts {
        let signature =
            |len| P256Signature { public_key: [2; 33], signature: [7; 64], message: vec![1; len] };
        QuoteParts {
            isv: signature(isv_message),
            qe_report: signature(384),
            attestation_key: [3; 64],
            qe_auth_data: vec![4; qe_auth_data],
        }
    }

    #[test]
    fn a_tdx_sized_quote_records_in_two_packets() {
        let (payer, tee) = (Keypair::new(), Pubkey::new_unique());
        // TDX v4: 48-byte header + 584-byte body signed by the attestation key; 32 bytes of QE auth.
        let txs = quote_transactions(&payer, &tee, &parts(632, 32), 9, solana_sdk::hash::Hash::default())
            .expect("fits");
        assert_eq!(txs.len(), 2);
        for tx in &txs {
            assert!(ironroot_sdk::transaction_size(tx) <= ironroot_sdk::PACKET_DATA_SIZE);
            tx.verify().expect("signed by the fee payer");
        }
    }

    #[test]
    fn a_quote_part_over_a_packet_is_refused_before_either_transaction_is_sent() {
        let (payer, tee) = (Keypair::new(), Pubkey::new_unique());
        // The first transaction fits; the second (QE report + 1,000 bytes of auth data) does not:
        // neither is returned, so nothing is sent.
        let err = quote_transactions(&payer, &tee, &parts(632, 1000), 9, solana_sdk::hash::Hash::default())
            .expect_err("too large");
        match err {
            RegistrationError::QuotePartTooLarge { size, limit } => {
                assert_eq!(limit, ironroot_sdk::PACKET_DATA_SIZE);
                assert!(size > limit, "{size} > {limit}");
            }
            other => panic!("expected QuotePartTooLarge, got {other}"),
        }
    }
}
