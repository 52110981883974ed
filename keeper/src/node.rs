//! From configuration to a running keeper: the key source, blob store and chain the config names,
//! the TEE signing key, and the daemon's HTTP server.
use std::path::PathBuf;
use std::sync::Arc;

use solana_sdk::signature::read_keypair_file;

use crate::api::{self, ApiMetrics, ApiState};
use crate::app::{store_path, AppKeeper, AppServices, AppSettings};
use crate::backup::{self, BackupError, ShardSummary};
use crate::blobs::{BlobError, BlobStore, IpfsBlobStore, LocalBlobStore};
use crate::chain::{Chain, ChainError, QuorumChain, RpcChain};
use crate::config::{Config, ConfigError};
use crate::group_log;
use crate::keys::{AppId, DstackClient, DstackKeySource, KeyError, KeySource, SealedKeyFile, ShardId};
use crate::provider::{ProviderSettings, ProviderWatcher, StakeChain};
use crate::recovery::{self, FailedClosed, Startup};
use crate::shard::{finalized_view, KeeperError};
use crate::tree::{ShardStore, StoreOptions, StoreSeal};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Keeper(Box<KeeperError>),
    #[error("keypair file {path}: {reason}")]
    Keypair { path: PathBuf, reason: String },
    #[error("app {0} has no account on-chain (create it first)")]
    AppNotOnChain(AppId),
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error("data directory: {0}")]
    DataDir(#[source] std::io::Error),
    #[error("HTTP server: {0}")]
    Serve(#[source] std::io::Error),
}

impl From<KeeperError> for NodeError {
    fn from(e: KeeperError) -> Self {
        NodeError::Keeper(Box::new(e))
    }
}

/// The configured app and the seams a keeper of it uses.
pub struct Node {
    pub config: Config,
    pub app: AppId,
    pub services: AppServices,
}

impl Node {
    pub async fn from_config(config: Config) -> Result<Self, NodeError> {
        let app = AppId(config.app_id_bytes()?);
        let keys: Arc<dyn KeySource> = match config.key_source.as_str() {
            "sealed" => Arc::new(SealedKeyFile::open_or_create(
                config
                    .sealed_key_file
                    .clone()
                    .unwrap_or_else(|| config.data_dir.join("keys").join("root.key")),
            )?),
            "dstack" => Arc::new(DstackKeySource::new(DstackClient::new(
                crate::registration::dstack_endpoint(&config),
            )?)),
            other => {
                return Err(
                    ConfigError::Invalid(format!("unknown key_source {other:?} (sealed or dstack)")).into()
                )
            }
        };
        let signer = Arc::new(keys.signing_keypair(&app).await?);
        let blobs: Arc<dyn BlobStore> = match &config.ipfs_api {
            Some(api) => Arc::new(IpfsBlobStore::new(api.clone())?),
            None => Arc::new(LocalBlobStore::open(config.data_dir.join("blobs"))?),
        };
        let chain = chain_from_config(&config)?;
        Ok(Node { config, app, services: AppServices { blobs, keys, chain, signer } })
    }

    pub fn settings(&self) -> AppSettings {
        AppSettings {
            commit_every_writes: self.config.commit_every_writes,
            commit_interval: self.config.commit_interval(),
            max_group: self.config.max_group,
            group_linger: std::time::Duration::from_millis(self.config.group_linger_ms),
            max_queued_bytes: self.config.max_queued_bytes,
            store: StoreOptions {
                cache_bytes: (self.config.store_cache_mib as usize).saturating_mul(1024 * 1024),
                ..StoreOptions::default()
            },
            durability: self.config.durability,
            max_unanchored_writes: self.config.max_unanchored_writes,
            max_unanchored_age: std::time::Duration::from_millis(self.config.max_unanchored_age_ms),
            read_cache_bytes: self.config.read_cache_bytes,
            tree_key_mode: self.config.tree_key_mode,
            finality_wait: std::time::Duration::from_millis(self.config.startup_finality_wait_ms),
        }
    }

    /// The shards this keeper serves (the configured ones, else all the app has on-chain) and
    /// where their local stores live.
    pub async fn stores(&self) -> Result<Vec<(ShardId, PathBuf)>, NodeError> {
        let app =
            self.services.chain.app(self.app.as_bytes()).await?.ok_or(NodeError::AppNotOnChain(self.app))?;
        let ids = self.config.shards.clone().unwrap_or_else(|| (0..app.shard_count).map(ShardId).collect());
        Ok(ids.into_iter().map(|id| (id, store_path(&self.config.data_dir, self.app, id))).collect())
    }

    /// Opens the app's shards (reconciling each with the chain).
    pub async fn open_keeper(&self) -> Result<Arc<AppKeeper>, NodeError> {
        Ok(AppKeeper::open(
            self.app,
            self.config.shards.clone(),
            &self.config.data_dir,
            self.settings(),
            self.services.clone(),
        )
        .await?)
    }

    /// Serves the HTTP API on `listener` until `shutdown` resolves, then closes the shards cleanly.
    pub async fn serve(
        &self,
        keeper: Arc<AppKeeper>,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), NodeError> {
        let provider = self.provider_watcher(&keeper).await?;
        let watcher = provider.clone().map(|w| tokio::spawn(w.run()));
        let state = ApiState {
            keeper: keeper.clone(),
            admin_token: self.config.admin_token.clone().map(Arc::new),
            api_token: self.config.api_token.clone().map(Arc::new),
            metrics: Arc::new(ApiMetrics::default()),
            max_body_bytes: self.config.max_body_bytes,
            provider,
        };
        let server = axum::serve(listener, api::router(state)).with_graceful_shutdown(shutdown);
        // With attester URLs the TEE key is re-registered before it expires, while serving.
        let served = match crate::registration::Reregistration::from_config(&self.config) {
            Some(plan) => tokio::select! {
                served = server => served,
                never = crate::registration::keep_registered(self, &plan) => match never {},
            },
            None => server.await,
        }
        .map_err(NodeError::Serve);
        if let Some(task) = watcher {
            task.abort();
            let _ = task.await;
        }
        keeper.shutdown().await;
        served
    }

    /// Binds this keeper's TEE key to `provider`'s stake for the app (both sign `bind_tee`).
    pub async fn bind_stake(
        &self,
        provider: &solana_sdk::signature::Keypair,
    ) -> Result<solana_sdk::signature::Signature, NodeError> {
        use solana_sdk::signature::Signer;
        let chain = self.stake_chain()?;
        let app = ironroot_sdk::pda::app(&self.config.publisher_pubkey()?, self.app.as_bytes());
        let ix =
            ironroot_sdk::storage_stake::bind_tee(&provider.pubkey(), &self.services.signer.pubkey(), &app);
        Ok(chain.send(&[ix], &[provider, self.services.signer.as_ref()]).await?.signature)
    }

    /// The provider's chain view: the primary RPC endpoint (`rpc_url`).
    fn stake_chain(&self) -> Result<Arc<RpcChain>, NodeError> {
        let fee_payer = read_keypair(self.config.fee_payer_keypair.as_ref().ok_or_else(|| {
            ConfigError::Invalid("fee_payer_keypair (or IRONROOT_FEE_PAYER) is required".into())
        })?)?;
        Ok(Arc::new(RpcChain::new(self.config.rpc_url.clone(), fee_payer, self.config.publisher_pubkey()?)))
    }

    /// The provider watcher `[provider]` asks for, reading stakes through the primary RPC
    /// endpoint (`rpc_url`).
    pub async fn provider_watcher(
        &self,
        keeper: &Arc<AppKeeper>,
    ) -> Result<Option<Arc<ProviderWatcher>>, NodeError> {
        let Some(cfg) = &self.config.provider else { return Ok(None) };
        let publisher = self.config.publisher_pubkey()?;
        let chain = self.stake_chain()?;
        let settings = ProviderSettings {
            provider: cfg.provider_pubkey()?,
            app: ironroot_sdk::pda::app(&publisher, self.app.as_bytes()),
            poll_interval: std::time::Duration::from_millis(cfg.poll_interval_ms),
            recovery_retry: std::time::Duration::from_millis(cfg.recovery_retry_ms),
        };
        Ok(Some(ProviderWatcher::new(settings, keeper.clone(), chain, self.services.signer.clone()).await))
    }
}

/// Offline maintenance (the daemon stopped): recovery, export, import.
impl Node {
    /// Reconciles every local store with the chain, rebuilding from the manifests where needed,
    /// all shards side by side. `progress(shard, manifests, entries)` hears how far each rebuild
    /// got.
    pub async fn recover(
        &self,
        progress: impl Fn(ShardId, u64, u64),
    ) -> Result<Vec<(ShardId, Result<Startup, FailedClosed>)>, NodeError> {
        let progress = &progress;
        let shards = self.stores().await?.into_iter().map(|(id, path)| async move {
            let seal =
                StoreSeal::derive(self.services.keys.as_ref(), self.app, id, self.config.tree_key_mode)
                    .await
                    .map_err(KeeperError::from)?;
            let (store, quarantined) = recovery::open_or_quarantine(&path, seal, self.settings().store)
                .map_err(KeeperError::from)?;
            // After a crash, the groups only the group log holds are the store's too.
            group_log::replay_from(&store, self.services.blobs.as_ref()).map_err(KeeperError::from)?;
            let onchain = finalized_view(
                self.services.chain.as_ref(),
                self.app,
                id,
                self.settings().finality_wait,
                &store,
            )
            .await?;
            let outcome = recovery::reconcile(
                store,
                &onchain,
                self.services.blobs.as_ref(),
                self.services.keys.as_ref(),
                quarantined,
                |manifests, entries| progress(id, manifests, entries),
            )
            .await
            .map(|(_, startup)| startup);
            Ok::<_, NodeError>((id, outcome))
        });
        futures::future::try_join_all(shards).await
    }

    /// Streams an encrypted backup of the committed state of every served shard to `out`.
    pub async fn export(
        &self,
        out: impl tokio::io::AsyncWrite + Unpin,
    ) -> Result<Vec<ShardSummary>, NodeError> {
        let mut opened = Vec::new();
        for (id, path) in self.stores().await? {
            let seal =
                StoreSeal::derive(self.services.keys.as_ref(), self.app, id, self.config.tree_key_mode)
                    .await
                    .map_err(KeeperError::from)?;
            let store = ShardStore::open(&path, seal).map_err(KeeperError::from)?;
            group_log::replay_from(&store, self.services.blobs.as_ref()).map_err(KeeperError::from)?;
            opened.push((id, store));
        }
        let refs: Vec<(ShardId, &ShardStore)> = opened.iter().map(|(id, s)| (*id, s)).collect();
        Ok(backup::export(self.app, &refs, self.services.blobs.as_ref(), self.services.keys.as_ref(), out)
            .await?)
    }

    /// Restores a backup into the data directory; every shard must reproduce the chain's root.
    pub async fn import(&self, input: impl std::io::Read) -> Result<Vec<ShardSummary>, NodeError> {
        let data_dir = self.config.data_dir.clone();
        std::fs::create_dir_all(data_dir.join(self.app.to_string())).map_err(NodeError::DataDir)?;
        let app = self.app;
        Ok(backup::import(
            app,
            self.config.tree_key_mode,
            input,
            self.services.blobs.as_ref(),
            self.services.keys.as_ref(),
            self.services.chain.as_ref(),
            |id| store_path(&data_dir, app, id),
        )
        .await?)
    }
}

/// The chain view the config names (one RPC endpoint, or a quorum of several): all a command that
/// only reads the chain needs, without opening the local stores a running daemon holds locked.
pub fn chain_from_config(config: &Config) -> Result<Arc<dyn Chain>, NodeError> {
    let fee_payer = read_keypair(config.fee_payer_keypair.as_ref().ok_or_else(|| {
        ConfigError::Invalid("fee_payer_keypair (or IRONROOT_FEE_PAYER) is required".into())
    })?)?;
    let publisher = config.publisher_pubkey()?;
    let acknowledge = config.ack_commitment()?;
    let chain: Arc<dyn Chain> = if config.rpc_urls.is_empty() {
        Arc::new(RpcChain::with_commitment(config.rpc_url.clone(), fee_payer, publisher, acknowledge))
    } else {
        let endpoints: Vec<Arc<dyn Chain>> = std::iter::once(&config.rpc_url)
            .chain(&config.rpc_urls)
            .map(|url| {
                let payer = fee_payer.insecure_clone();
                Arc::new(RpcChain::with_commitment(url.clone(), payer, publisher, acknowledge))
                    as Arc<dyn Chain>
            })
            .collect();
        let quorum = config.rpc_quorum.unwrap_or(endpoints.len());
        Arc::new(QuorumChain::new(endpoints, quorum).map_err(KeeperError::from)?)
    };
    Ok(chain)
}

pub fn read_keypair(path: &PathBuf) -> Result<solana_sdk::signature::Keypair, NodeError> {
    read_keypair_file(path).map_err(|e| NodeError::Keypair { path: path.clone(), reason: e.to_string() })
}
