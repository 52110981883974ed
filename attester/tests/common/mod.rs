//! Shared test fixtures: the sample quotes, a collateral directory, a chain view held in memory.
#![allow(dead_code)]

pub mod pki;

use std::collections::HashMap;
use std::path::PathBuf;

use async_trait::async_trait;
use attestation_verifier::{Policy, TcbStatus, VerifierConfig};
use dcap_qvl::QuoteCollateralV3;
use ironroot_attester::chain::ChainView;
use ironroot_attester::collateral::CollateralKey;
use ironroot_attester::quote::{issue_window, parse_quote};
use ironroot_attester::AttesterError;
use solana_sdk::pubkey::Pubkey;
use tee_registry::TeeEntry;

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// A sample quote and its collateral.
pub fn sample(name: &str) -> (Vec<u8>, QuoteCollateralV3) {
    let quote = std::fs::read(data_dir().join(name)).unwrap();
    let collateral =
        serde_json::from_slice(&std::fs::read(data_dir().join(format!("{name}_collateral.json"))).unwrap())
            .unwrap();
    (quote, collateral)
}

/// One hour after the later of the TCB info's and QE identity's issue dates: inside the window.
pub fn sample_now(name: &str) -> u64 {
    let (_, collateral) = sample(name);
    let (tcb, _) = issue_window(&collateral.tcb_info).unwrap();
    let (qe, _) = issue_window(&collateral.qe_identity).unwrap();
    tcb.max(qe) as u64 + 3600
}

/// A collateral directory holding the samples' collateral under the names the directory source uses.
pub fn collateral_dir(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in names {
        let (quote, collateral) = sample(name);
        let key = CollateralKey::of(&parse_quote(&quote).unwrap()).unwrap();
        std::fs::write(dir.path().join(key.file_name()), serde_json::to_vec(&collateral).unwrap()).unwrap();
    }
    dir
}

/// Governance state in memory: an initialised config accepting UpToDate and SWHardeningNeeded.
pub struct StaticChain {
    pub genesis: [u8; 32],
    pub config: VerifierConfig,
    pub entries: HashMap<Pubkey, TeeEntry>,
}

impl StaticChain {
    pub fn new() -> Self {
        let genesis = [0x47; 32];
        StaticChain {
            genesis,
            config: VerifierConfig {
                authority: Pubkey::new_unique(),
                pending_authority: None,
                cluster_genesis_hash: genesis,
                threshold: 1,
                attesters: vec![Pubkey::new_unique()],
                allowed: Vec::new(),
                policy: Policy {
                    accepted_tcb: TcbStatus::UpToDate.bit() | TcbStatus::SwHardeningNeeded.bit(),
                    max_key_lifetime_secs: 30 * 24 * 3600,
                    max_statement_age_secs: 600,
                    nonce_floor: 0,
                    require_quote_signatures: false,
                },
                bump: 255,
                verifier_authority_bump: 255,
            },
            entries: HashMap::new(),
        }
    }
}

#[async_trait]
impl ChainView for StaticChain {
    async fn genesis_hash(&self) -> Result<[u8; 32], AttesterError> {
        Ok(self.genesis)
    }

    async fn verifier_config(&self) -> Result<VerifierConfig, AttesterError> {
        Ok(self.config.clone())
    }

    async fn tee_entry(&self, tee: &Pubkey) -> Result<Option<TeeEntry>, AttesterError> {
        Ok(self.entries.get(tee).cloned())
    }
}
