//! The set-up every keeper test, benchmark and the demo share: an in-process bank with the real
//! programs and a development attester set, an app with its shards and history tree, a sealed key
//! file, the keeper's TEE key derived from it and registered through the verifier.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ironroot_bank::dev::{DevApp, DevTrust};
use ironroot_keeper::keys::{AppId, KeySource, SealedKeyFile};
use solana_sdk::signature::{Keypair, Signer};
use tokio::sync::Mutex;

use crate::bank_chain::BankChain;

/// What to set up.
#[derive(Clone, Debug)]
pub struct HarnessOptions {
    pub app_id: [u8; 32],
    pub shards: u16,
    /// History tree shape: (max depth, max buffer size).
    pub tree: (u32, u32),
    /// Attesters in the development set, and how many must sign.
    pub attesters: usize,
    pub threshold: u8,
    /// Where the key file (and whatever the caller adds) lives; a temporary directory otherwise.
    pub data_dir: Option<PathBuf>,
}

impl HarnessOptions {
    pub fn new(app_id: [u8; 32], shards: u16) -> Self {
        HarnessOptions { app_id, shards, tree: (14, 64), attesters: 1, threshold: 1, data_dir: None }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("harness set-up failed at `{step}`: {message}")]
pub struct HarnessError {
    pub step: &'static str,
    pub message: String,
}

fn at<E: std::fmt::Display>(step: &'static str) -> impl FnOnce(E) -> HarnessError {
    move |e| HarnessError { step, message: e.to_string() }
}

/// A bank with a registered keeper key and a created app.
pub struct Harness {
    pub trust: DevTrust,
    pub app: DevApp,
    pub app_id: AppId,
    pub chain: BankChain,
    pub keys: Arc<SealedKeyFile>,
    pub signer: Arc<Keypair>,
    data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Harness {
    pub async fn start(opts: HarnessOptions) -> Result<Self, HarnessError> {
        let (temp, data_dir) = match opts.data_dir {
            Some(dir) => (None, dir),
            None => {
                let temp = tempfile::tempdir().map_err(at("data directory"))?;
                let path = temp.path().to_path_buf();
                (Some(temp), path)
            }
        };
        let trust = DevTrust::new(opts.attesters, opts.threshold);
        let mut bank = trust.start_bank().await.map_err(at("start the bank"))?;
        let app = trust
            .create_app(&mut bank, opts.app_id, opts.shards, opts.tree)
            .await
            .map_err(at("create the app"))?;
        let key_file = data_dir.join("keys").join("root.key");
        let keys = Arc::new(SealedKeyFile::open_or_create(key_file).map_err(at("sealed key file"))?);
        let app_id = AppId(opts.app_id);
        let signer = Arc::new(keys.signing_keypair(&app_id).await.map_err(at("signing key"))?);
        trust.register(&mut bank, &signer, 1).await.map_err(at("register the TEE key"))?;
        let chain = BankChain::new(Arc::new(Mutex::new(bank)), app.publisher.pubkey());
        Ok(Harness { trust, app, app_id, chain, keys, signer, data_dir, _temp: temp })
    }

    /// The directory the harness's files live in (temporary unless the options named one).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn key_source(&self) -> Arc<dyn KeySource> {
        self.keys.clone()
    }
}
