//! The attestation pipeline: every check in order, then the signed statement.
use std::collections::HashSet;
use std::sync::Arc;

use attestation_verifier::{AppIdentity, AttestationStatement, TcbStatus, VerifierConfig};
use ironroot_sdk::attestation::{self, StatementFields};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::chain::ChainView;
use crate::collateral::CollateralSource;
use crate::error::{AttestError, AttesterError, Check, Refusal};
use crate::eventlog::replay_rtmr3;
use crate::quote::{parse_quote, verify_quote, TeeKind, VerifiedQuote};
use crate::Clock;

/// Default collateral freshness window: 7 days.
pub const DEFAULT_FRESHNESS_SECS: u64 = 7 * 24 * 3600;
/// Default lifetime of a statement (and so of a registration made from it): 24 hours.
pub const DEFAULT_STATEMENT_LIFETIME_SECS: i64 = 24 * 3600;

/// What a TEE asks the attester to vouch for.
#[derive(Clone, Debug)]
pub struct AttestRequest {
    pub quote: Vec<u8>,
    /// The dstack event log (JSON) for TDX; empty for SGX.
    pub event_log: String,
    pub tee_pubkey: Pubkey,
    pub app_id: [u8; 32],
    pub compose_hash: [u8; 32],
    pub cluster_genesis_hash: [u8; 32],
    pub nonce: u64,
    /// The statement's validity as the TEE proposes it, so k independent attesters sign identical
    /// bytes: each accepts `verified_at` within [`MAX_CLOCK_SKEW_SECS`] of its own clock and
    /// `expires_at` within its lifetime cap. `None`: the attester's clock and full lifetime.
    pub window: Option<StatementWindow>,
}

/// `verified_at` and `expires_at` of a statement, unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatementWindow {
    pub verified_at: i64,
    pub expires_at: i64,
}

/// How far a proposed `verified_at` may be from this attester's clock (the verifier allows the same
/// skew between an attester's clock and the cluster's).
pub const MAX_CLOCK_SKEW_SECS: i64 = attestation_verifier::MAX_CLOCK_SKEW_SECS;

/// A statement and this attester's signature over its bytes.
#[derive(Clone, Debug)]
pub struct Attestation {
    pub statement: AttestationStatement,
    pub attester: Pubkey,
    pub signature: Signature,
    pub kind: TeeKind,
    pub dcap_status: String,
    pub advisory_ids: Vec<String>,
}

pub struct AttesterSettings {
    /// Trust anchor of the quote's certificate chain (Intel's SGX root CA in production).
    pub root_ca_der: Vec<u8>,
    pub freshness_secs: u64,
    pub statement_lifetime_secs: i64,
}

impl Default for AttesterSettings {
    fn default() -> Self {
        Self {
            root_ca_der: crate::quote::INTEL_ROOT_CA_DER.to_vec(),
            freshness_secs: DEFAULT_FRESHNESS_SECS,
            statement_lifetime_secs: DEFAULT_STATEMENT_LIFETIME_SECS,
        }
    }
}

pub struct Attester {
    key: Keypair,
    settings: AttesterSettings,
    collateral: Arc<dyn CollateralSource>,
    chain: Arc<dyn ChainView>,
    now: Clock,
    /// (TEE key, nonce) pairs this process has signed: a nonce is vouched for once.
    issued: Mutex<HashSet<(Pubkey, u64)>>,
}

impl Attester {
    pub fn new(
        key: Keypair,
        settings: AttesterSettings,
        collateral: Arc<dyn CollateralSource>,
        chain: Arc<dyn ChainView>,
        now: Clock,
    ) -> Self {
        Self { key, settings, collateral, chain, now, issued: Mutex::new(HashSet::new()) }
    }

    pub fn pubkey(&self) -> Pubkey {
        self.key.pubkey()
    }

    /// Runs every check in order; the first failure is the refusal.
    pub async fn attest(&self, request: &AttestRequest) -> Result<Attestation, AttestError> {
        let result = self.run_checks(request).await;
        match &result {
            Ok(a) => {
                info!(tee = %request.tee_pubkey, nonce = request.nonce, status = %a.dcap_status, "statement signed")
            }
            Err(AttestError::Refused(r)) => {
                warn!(tee = %request.tee_pubkey, check = ?r.check, reason = %r.reason, "attestation refused")
            }
            Err(AttestError::Unavailable(e)) => {
                warn!(tee = %request.tee_pubkey, error = %e, "attestation unavailable")
            }
        }
        result
    }

    async fn run_checks(&self, request: &AttestRequest) -> Result<Attestation, AttestError> {
        let now = (self.now)();
        let now_secs = i64::try_from(now).map_err(|_| AttesterError::Clock("time past i64".into()))?;
        let genesis = self.chain.genesis_hash().await?;
        if request.cluster_genesis_hash != genesis {
            return Err(Refusal::new(
                Check::Request,
                "the request names another cluster than this attester's",
            )
            .into());
        }
        let config = self.chain.verifier_config().await?;
        if config.cluster_genesis_hash != genesis {
            return Err(AttesterError::Chain("the verifier config names another cluster".into()).into());
        }

        // 1–2. Signature chain, collateral freshness, TCB (dcap-qvl).
        let quote = parse_quote(&request.quote)?;
        let collateral = self.collateral.collateral(&quote).await?;
        let verified = verify_quote(
            &self.settings.root_ca_der,
            &request.quote,
            &collateral,
            now,
            self.settings.freshness_secs,
        )?;
        check_tcb(&verified, &config)?;

        // 3. Report data binds this key, cluster, registry, app and nonce.
        let expected = attestation::report_data(
            &request.cluster_genesis_hash,
            &request.tee_pubkey,
            &request.app_id,
            request.nonce,
        );
        if verified.report_data != expected {
            let reason = if verified.report_data[..32] != request.tee_pubkey.to_bytes() {
                "the quote binds another TEE key"
            } else {
                "the quote binds another cluster, registry program, app or nonce"
            };
            return Err(Refusal::new(Check::ReportDataBinding, reason).into());
        }
        self.check_nonce(request, &config).await?;

        // 4. Measurement allow-list.
        if !config.allowed.iter().any(|pair| pair.measurement == verified.measurement) {
            return Err(Refusal::new(
                Check::Measurement,
                format!("measurement {} is not on the allow-list", hex::encode(verified.measurement)),
            )
            .into());
        }

        // 5. Event log → app id and compose hash.
        check_app_identity(&verified, request)?;
        let app = AppIdentity { app_id: request.app_id, compose_hash: request.compose_hash };
        // Governance allows (measurement, app identity) pairs, not each list's cross product.
        if !config.allowed.iter().any(|pair| pair.same_pair(&verified.measurement, &app)) {
            return Err(Refusal::new(
                Check::AppIdentity,
                "app id and compose hash are not allowed with this measurement",
            )
            .into());
        }

        let window = self.window(request, now_secs, &config)?;
        // Last, so a request refused for any other reason does not use up its nonce.
        if !self.issued.lock().await.insert((request.tee_pubkey, request.nonce)) {
            return Err(
                Refusal::new(Check::Nonce, "this attester already vouched for this key and nonce").into()
            );
        }
        let statement = attestation::statement(StatementFields {
            cluster_genesis_hash: genesis,
            tee_pubkey: request.tee_pubkey,
            app_id: request.app_id,
            compose_hash: request.compose_hash,
            measurement: verified.measurement,
            tcb_status: verified.tcb_status as u8,
            quote_hash: verified.quote_hash,
            nonce: request.nonce,
            verified_at: window.verified_at,
            expires_at: window.expires_at,
        });
        let signature = self.key.sign_message(&statement.to_bytes());
        Ok(Attestation {
            statement,
            attester: self.key.pubkey(),
            signature,
            kind: verified.kind,
            dcap_status: verified.dcap_status,
            advisory_ids: verified.advisory_ids,
        })
    }

    fn window(
        &self,
        request: &AttestRequest,
        now: i64,
        config: &VerifierConfig,
    ) -> Result<StatementWindow, Refusal> {
        let lifetime = self.settings.statement_lifetime_secs.min(config.policy.max_key_lifetime_secs);
        let Some(window) = request.window else {
            return Ok(StatementWindow { verified_at: now, expires_at: now.saturating_add(lifetime) });
        };
        if window.verified_at.abs_diff(now) > MAX_CLOCK_SKEW_SECS as u64 {
            return Err(Refusal::new(
                Check::Request,
                format!(
                    "proposed verified_at {} is more than {MAX_CLOCK_SKEW_SECS} s from now ({now})",
                    window.verified_at
                ),
            ));
        }
        if window.expires_at <= window.verified_at || window.expires_at - window.verified_at > lifetime {
            return Err(Refusal::new(Check::Request, format!("proposed lifetime must be 1..={lifetime} s")));
        }
        Ok(window)
    }

    async fn check_nonce(&self, request: &AttestRequest, config: &VerifierConfig) -> Result<(), AttestError> {
        if request.nonce < config.policy.nonce_floor {
            return Err(Refusal::new(
                Check::Nonce,
                format!(
                    "nonce {} is below the governance floor {}",
                    request.nonce, config.policy.nonce_floor
                ),
            )
            .into());
        }
        if let Some(entry) = self.chain.tee_entry(&request.tee_pubkey).await? {
            if request.nonce <= entry.last_nonce {
                return Err(Refusal::new(
                    Check::Nonce,
                    format!(
                        "nonce {} is not above the key's last registered nonce {}",
                        request.nonce, entry.last_nonce
                    ),
                )
                .into());
            }
        }
        Ok(())
    }
}

fn check_tcb(verified: &VerifiedQuote, config: &VerifierConfig) -> Result<(), Refusal> {
    let status = verified.tcb_status;
    if status == TcbStatus::Revoked || config.policy.accepted_tcb & status.bit() == 0 {
        return Err(Refusal::new(
            Check::TcbStatus,
            format!("TCB status {} is not accepted by governance", verified.dcap_status),
        ));
    }
    Ok(())
}

/// TDX: the event log must replay to RTMR3 and name exactly the claimed app id and compose hash.
/// SGX has no dstack event log: only the all-zero identity ("no dstack app") can be claimed.
fn check_app_identity(verified: &VerifiedQuote, request: &AttestRequest) -> Result<(), Refusal> {
    match verified.rtmr3 {
        Some(rtmr3) => {
            let replayed = replay_rtmr3(&request.event_log, &rtmr3)?;
            if replayed.app_id != request.app_id {
                return Err(Refusal::new(Check::EventLog, "the event log names another app id"));
            }
            if replayed.compose_hash != request.compose_hash {
                return Err(Refusal::new(Check::EventLog, "the event log names another compose hash"));
            }
            Ok(())
        }
        None if request.app_id == [0; 32] && request.compose_hash == [0; 32] => Ok(()),
        None => Err(Refusal::new(
            Check::EventLog,
            "an SGX quote has no dstack event log to prove an app identity",
        )),
    }
}
