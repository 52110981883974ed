//! One app served by this keeper: its shards (all or a subset), each serving or failed closed.
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use solana_sdk::signature::Keypair;
use tokio::sync::RwLock;

use crate::blobs::BlobStore;
use crate::chain::Chain;
use crate::keys::{AppId, KeySource, ShardId};
use crate::recovery::FailedClosed;
use crate::shard::{Durability, KeeperError, ShardConfig, ShardKeeper};
use crate::tree::{StoreOptions, TreeKeyMode};

/// A shard's serving state.
pub enum ShardSlot {
    Serving(Arc<ShardKeeper>),
    FailedClosed(Arc<FailedClosed>),
}

/// The seams every shard of the app uses.
#[derive(Clone)]
pub struct AppServices {
    pub blobs: Arc<dyn BlobStore>,
    pub keys: Arc<dyn KeySource>,
    pub chain: Arc<dyn Chain>,
    /// The TEE key that signs shard updates.
    pub signer: Arc<Keypair>,
}

/// Tunables shared by every shard of the app.
#[derive(Clone, Debug)]
pub struct AppSettings {
    pub commit_every_writes: u64,
    pub commit_interval: std::time::Duration,
    pub max_group: usize,
    /// See [`ShardConfig::group_linger`].
    pub group_linger: std::time::Duration,
    /// Most bytes of writes queued per shard (see [`ShardConfig`]).
    pub max_queued_bytes: u64,
    /// Memory settings of every shard's local store.
    pub store: StoreOptions,
    /// Durability of writes that do not ask for one.
    pub durability: Durability,
    /// The rollback window's bounds (see [`ShardConfig`]).
    pub max_unanchored_writes: u64,
    pub max_unanchored_age: std::time::Duration,
    /// Value bytes of hot records kept decrypted per shard (see [`ShardConfig`]).
    pub read_cache_bytes: usize,
    /// How record keys map to tree positions (the app's choice, pinned in every store).
    pub tree_key_mode: TreeKeyMode,
    /// How long start-up waits for the finalized view to reach the sealed seq (see [`ShardConfig`]).
    pub finality_wait: std::time::Duration,
}

impl Default for AppSettings {
    fn default() -> Self {
        AppSettings {
            commit_every_writes: 1024,
            commit_interval: std::time::Duration::from_millis(500),
            max_group: 1024,
            group_linger: std::time::Duration::ZERO,
            max_queued_bytes: 256 * 1024 * 1024,
            store: StoreOptions::default(),
            durability: Durability::Local,
            max_unanchored_writes: 100_000,
            max_unanchored_age: std::time::Duration::from_secs(60),
            read_cache_bytes: 8 * 1024 * 1024,
            tree_key_mode: TreeKeyMode::Keyed,
            finality_wait: std::time::Duration::from_secs(60),
        }
    }
}

pub struct AppKeeper {
    pub app: AppId,
    pub shard_count: u16,
    shards: RwLock<BTreeMap<ShardId, ShardSlot>>,
    blobs: Arc<dyn BlobStore>,
    keys: Arc<dyn KeySource>,
    chain: Arc<dyn Chain>,
    signer: Arc<Keypair>,
    data_dir: std::path::PathBuf,
    settings: AppSettings,
}

/// Where shard `shard` of `app` keeps its local store under the keeper's data directory.
pub fn store_path(data_dir: &Path, app: AppId, shard: ShardId) -> std::path::PathBuf {
    data_dir.join(app.to_string()).join(format!("shard-{shard}.redb"))
}

/// Shard of a record key: the first two bytes of SHA-256(key), modulo the app's shard count.
pub fn shard_of(key: &[u8], shard_count: u16) -> ShardId {
    let digest = Sha256::digest(key);
    ShardId(u16::from_le_bytes([digest[0], digest[1]]) % shard_count.max(1))
}

impl AppKeeper {
    /// Opens the given shards of `app` (all when `serve` is `None`); a shard that cannot be
    /// reconciled with the chain is kept as failed closed, not fatal for the others.
    pub async fn open(
        app: AppId,
        serve: Option<Vec<ShardId>>,
        data_dir: &Path,
        settings: AppSettings,
        services: AppServices,
    ) -> Result<Arc<Self>, KeeperError> {
        let AppServices { blobs, keys, chain, signer } = services;
        let onchain = chain.app(app.as_bytes()).await?.ok_or(KeeperError::AppNotOnChain)?;
        let keeper = Arc::new(AppKeeper {
            app,
            shard_count: onchain.shard_count,
            shards: RwLock::new(BTreeMap::new()),
            blobs,
            keys,
            chain,
            signer,
            data_dir: data_dir.to_path_buf(),
            settings,
        });
        // Shards open side by side: each start waits on the chain (and may rebuild) on its own.
        let shards = serve.unwrap_or_else(|| (0..onchain.shard_count).map(ShardId).collect());
        futures::future::try_join_all(shards.into_iter().map(|shard| keeper.reopen(shard))).await?;
        Ok(keeper)
    }

    fn shard_config(&self, shard: ShardId) -> ShardConfig {
        let mut cfg = ShardConfig::new(self.app, shard, store_path(&self.data_dir, self.app, shard));
        cfg.commit_every_writes = self.settings.commit_every_writes;
        cfg.commit_interval = self.settings.commit_interval;
        cfg.max_group = self.settings.max_group;
        cfg.group_linger = self.settings.group_linger;
        cfg.max_queued_bytes = self.settings.max_queued_bytes;
        cfg.store = self.settings.store;
        cfg.durability = self.settings.durability;
        cfg.max_unanchored_writes = self.settings.max_unanchored_writes;
        cfg.max_unanchored_age = self.settings.max_unanchored_age;
        cfg.shard_count = Some(self.shard_count);
        cfg.tree_key_mode = self.settings.tree_key_mode;
        cfg.finality_wait = self.settings.finality_wait;
        cfg.read_cache_bytes = self.settings.read_cache_bytes;
        cfg
    }

    /// (Re)opens one shard: reconcile with the chain, rebuilding if needed.
    pub async fn reopen(&self, shard: ShardId) -> Result<(), KeeperError> {
        if let Some(ShardSlot::Serving(old)) = self.shards.write().await.remove(&shard) {
            old.shutdown().await;
        }
        let opened = ShardKeeper::open(
            self.shard_config(shard),
            self.blobs.clone(),
            self.keys.clone(),
            self.chain.clone(),
            self.signer.clone(),
        )
        .await;
        let slot = match opened {
            Ok(keeper) => ShardSlot::Serving(keeper),
            Err(KeeperError::FailedClosed(e)) => {
                tracing::error!(%shard, error = %e, "shard failed closed");
                ShardSlot::FailedClosed(Arc::new(e))
            }
            Err(e) => return Err(e),
        };
        self.shards.write().await.insert(shard, slot);
        Ok(())
    }

    /// The serving keeper of `key`'s shard.
    pub async fn shard_for(&self, key: &[u8]) -> Result<Arc<ShardKeeper>, KeeperError> {
        self.shard(shard_of(key, self.shard_count)).await
    }

    pub async fn shard(&self, shard: ShardId) -> Result<Arc<ShardKeeper>, KeeperError> {
        match self.shards.read().await.get(&shard) {
            Some(ShardSlot::Serving(k)) => Ok(k.clone()),
            Some(ShardSlot::FailedClosed(e)) => Err(KeeperError::FailedClosed(e.as_ref().clone())),
            None => Err(KeeperError::ShardNotServed(shard)),
        }
    }

    /// Shards this keeper holds, serving or not.
    pub async fn slots(&self) -> Vec<(ShardId, Result<Arc<ShardKeeper>, Arc<FailedClosed>>)> {
        self.shards
            .read()
            .await
            .iter()
            .map(|(id, slot)| {
                (
                    *id,
                    match slot {
                        ShardSlot::Serving(k) => Ok(k.clone()),
                        ShardSlot::FailedClosed(e) => Err(e.clone()),
                    },
                )
            })
            .collect()
    }

    pub fn chain(&self) -> &Arc<dyn Chain> {
        &self.chain
    }

    pub fn keys(&self) -> &Arc<dyn KeySource> {
        &self.keys
    }

    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }

    pub async fn shutdown(&self) {
        for (_, slot) in self.shards.write().await.iter() {
            if let ShardSlot::Serving(k) = slot {
                k.shutdown().await;
            }
        }
    }
}
