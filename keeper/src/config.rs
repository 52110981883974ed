//! Keeper configuration: a TOML file, then environment variables on top.
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::keys::ShardId;
use crate::shard::Durability;
use crate::tree::TreeKeyMode;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("invalid config: {0}")]
    Invalid(String),
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP listen address.
    pub listen: String,
    pub data_dir: PathBuf,
    /// The app this keeper serves is (publisher, app_id): the publisher that created it (base58;
    /// app addresses are derived from it, so nobody else can claim the id)...
    pub publisher: String,
    /// ...and its app id: 32 bytes, hex.
    pub app_id: String,
    /// Shards to serve (default: all).
    pub shards: Option<Vec<ShardId>>,
    pub rpc_url: String,
    /// More RPC endpoints (other providers): with any, chain reads go to `rpc_url` and all of
    /// these, and only an answer they all agree on is trusted.
    pub rpc_urls: Vec<String>,
    /// How many endpoints must answer (default: all of them).
    pub rpc_quorum: Option<usize>,
    /// Commitment at which shard updates (and with them `chain` writes) are acknowledged:
    /// `confirmed` (default) or `finalized`. Start-up decisions always read `finalized`.
    pub ack_commitment: String,
    /// How long start-up waits for the finalized chain view to reach the seq the store saw
    /// confirmed before failing closed.
    pub startup_finality_wait_ms: u64,
    /// Keypair file (JSON byte array, as solana-keygen writes) of the fee payer.
    pub fee_payer_keypair: Option<PathBuf>,
    /// Kubo RPC API; without it blobs go to a local content-addressed directory.
    pub ipfs_api: Option<String>,
    /// `sealed` (development: a key file) or `dstack` (the dstack guest agent).
    pub key_source: String,
    pub sealed_key_file: Option<PathBuf>,
    /// The dstack guest agent: an `http://` URL (the simulator) or a unix socket path; default
    /// `/var/run/dstack.sock`, where the agent listens in a dstack CVM.
    pub dstack_endpoint: Option<String>,
    /// Attester services (`ironroot-attester`) that vouch for this keeper's quote; governance's
    /// threshold of them must agree. With any, the daemon re-registers its TEE key before expiry.
    pub attester_urls: Vec<String>,
    /// Registration lifetime asked of the attesters (they and governance may cap it).
    pub registration_lifetime_secs: i64,
    /// The daemon re-registers once the registration has at most this long left.
    pub reregister_margin_secs: i64,
    pub commit_every_writes: u64,
    pub commit_interval_ms: u64,
    pub max_group: usize,
    /// After a group commit, how long the next group waits for the writers it answered (ms).
    pub group_linger_ms: u64,
    /// Most bytes of writes queued per shard; past it writes get 503 QUEUE_FULL.
    pub max_queued_bytes: u64,
    /// Page cache of each shard's local store (MiB): what the store keeps in the keeper's
    /// memory; the rest is read through the OS page cache.
    pub store_cache_mib: u64,
    pub max_body_bytes: usize,
    /// `local` (acknowledge after the durable local commit) or `chain` (after the on-chain
    /// anchor): the default of writes that do not ask for one.
    pub durability: Durability,
    /// Bounds of the rollback window: past either, writes are refused (503 ANCHOR_LAGGING).
    pub max_unanchored_writes: u64,
    pub max_unanchored_age_ms: u64,
    /// Most value bytes per shard of recently read records kept decrypted in memory, so hot
    /// reads skip the blob store and decryption (never the proof); 0 turns it off.
    pub read_cache_bytes: usize,
    /// Admin bearer token; better given as IRONROOT_ADMIN_TOKEN than written in the file.
    pub admin_token: Option<String>,
    /// Bearer token the data API (`/v1/apps/...`) requires; without one it is open. Separate from
    /// the admin token; better given as IRONROOT_API_TOKEN.
    pub api_token: Option<String>,
    /// `keyed` (record positions are a keyed hash under a TEE key) or `public` (SHA-256 of the
    /// key, so clients check positions and non-inclusion themselves). The app's choice for its
    /// whole life: pinned in every store, a change fails the shards closed.
    pub tree_key_mode: TreeKeyMode,
    /// The provider role (`[provider]`): answer this provider's challenges and retrieval requests.
    pub provider: Option<ProviderConfig>,
}

/// `[provider]`: the keeper answers for the stake `[stake, app, provider]`. Only the provider's
/// public key is needed: the TEE key (bound to the stake with `bind_tee`) signs the answers.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The provider's wallet (base58) that opened the stake.
    pub provider: String,
    /// How often the stake is polled for challenges and retrieval requests.
    #[serde(default = "default_provider_poll_ms")]
    pub poll_interval_ms: u64,
    /// Least time between two attempts to rebuild a failed shard.
    #[serde(default = "default_recovery_retry_ms")]
    pub recovery_retry_ms: u64,
}

fn default_provider_poll_ms() -> u64 {
    1_000
}

fn default_recovery_retry_ms() -> u64 {
    2_000
}

impl ProviderConfig {
    pub fn provider_pubkey(&self) -> Result<solana_sdk::pubkey::Pubkey, ConfigError> {
        self.provider
            .parse()
            .map_err(|_| ConfigError::Invalid("provider.provider must be a base58 public key".into()))
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8787".into(),
            data_dir: PathBuf::from(".ironroot/keeper"),
            publisher: String::new(),
            app_id: String::new(),
            shards: None,
            rpc_url: "http://127.0.0.1:8899".into(),
            rpc_urls: Vec::new(),
            rpc_quorum: None,
            ack_commitment: "confirmed".into(),
            startup_finality_wait_ms: 60_000,
            fee_payer_keypair: None,
            ipfs_api: None,
            key_source: "sealed".into(),
            sealed_key_file: None,
            dstack_endpoint: None,
            attester_urls: Vec::new(),
            registration_lifetime_secs: 24 * 3600,
            reregister_margin_secs: 3600,
            commit_every_writes: 1024,
            commit_interval_ms: 500,
            max_group: 1024,
            group_linger_ms: 0,
            max_queued_bytes: 256 * 1024 * 1024,
            store_cache_mib: (crate::tree::DEFAULT_STORE_CACHE_BYTES / (1024 * 1024)) as u64,
            max_body_bytes: 9 * 1024 * 1024,
            durability: Durability::Local,
            max_unanchored_writes: 100_000,
            max_unanchored_age_ms: 60_000,
            read_cache_bytes: 8 * 1024 * 1024,
            admin_token: None,
            api_token: None,
            tree_key_mode: TreeKeyMode::Keyed,
            provider: None,
        }
    }
}

impl Config {
    /// Reads `path` (if given), then applies `IRONROOT_*` environment variables.
    pub fn load(path: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let mut cfg = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError::Read { path: path.into(), reason: e.to_string() })?;
                toml::from_str(&text).map_err(|e| ConfigError::Invalid(e.to_string()))?
            }
            None => Config::default(),
        };
        cfg.apply_env(|name| std::env::var(name).ok())?;
        Ok(cfg)
    }

    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let num = |name: &str, v: String| {
            v.parse::<u64>().map_err(|_| ConfigError::Invalid(format!("{name} must be a number")))
        };
        if let Some(v) = var("IRONROOT_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = var("IRONROOT_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = var("IRONROOT_PUBLISHER") {
            self.publisher = v;
        }
        if let Some(v) = var("IRONROOT_APP_ID") {
            self.app_id = v;
        }
        if let Some(v) = var("IRONROOT_RPC_URL") {
            self.rpc_url = v;
        }
        if let Some(v) = var("IRONROOT_FEE_PAYER") {
            self.fee_payer_keypair = Some(v.into());
        }
        if let Some(v) = var("IRONROOT_IPFS_API") {
            self.ipfs_api = Some(v);
        }
        if let Some(v) = var("IRONROOT_KEY_SOURCE") {
            self.key_source = v;
        }
        if let Some(v) = var("DSTACK_SIMULATOR_ENDPOINT") {
            self.dstack_endpoint = Some(v);
        }
        if let Some(v) = var("IRONROOT_ATTESTER_URLS") {
            self.attester_urls =
                v.split(',').map(str::trim).filter(|u| !u.is_empty()).map(String::from).collect();
        }
        if let Some(v) = var("IRONROOT_BATCH_SIZE") {
            self.commit_every_writes = num("IRONROOT_BATCH_SIZE", v)?;
        }
        if let Some(v) = var("IRONROOT_BATCH_INTERVAL_MS") {
            self.commit_interval_ms = num("IRONROOT_BATCH_INTERVAL_MS", v)?;
        }
        if let Some(v) = var("IRONROOT_STORE_CACHE_MIB") {
            self.store_cache_mib = num("IRONROOT_STORE_CACHE_MIB", v)?;
        }
        if let Some(v) = var("IRONROOT_ADMIN_TOKEN") {
            self.admin_token = Some(v);
        }
        if let Some(v) = var("IRONROOT_API_TOKEN") {
            self.api_token = Some(v);
        }
        if let Some(v) = var("IRONROOT_TREE_KEY_MODE") {
            self.tree_key_mode = v.parse().map_err(ConfigError::Invalid)?;
        }
        if let Some(v) = var("IRONROOT_PROVIDER") {
            match &mut self.provider {
                Some(p) => p.provider = v,
                None => {
                    self.provider = Some(ProviderConfig {
                        provider: v,
                        poll_interval_ms: default_provider_poll_ms(),
                        recovery_retry_ms: default_recovery_retry_ms(),
                    })
                }
            }
        }
        if let Some(v) = var("IRONROOT_DURABILITY") {
            self.durability = v.parse().map_err(ConfigError::Invalid)?;
        }
        if let Some(v) = var("IRONROOT_ACK_COMMITMENT") {
            self.ack_commitment = v;
        }
        self.validate()
    }

    /// Settings that would weaken the keeper silently are errors, not defaults.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.admin_token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(ConfigError::Invalid("admin_token is empty: set a token or leave it out".into()));
        }
        if self.api_token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(ConfigError::Invalid("api_token is empty: set a token or leave it out".into()));
        }
        let endpoints = 1 + self.rpc_urls.len();
        if self.rpc_quorum.is_some_and(|q| q == 0 || q > endpoints) {
            return Err(ConfigError::Invalid(format!("rpc_quorum must be 1..={endpoints}")));
        }
        self.ack_commitment()?;
        if self.max_queued_bytes == 0 {
            return Err(ConfigError::Invalid("max_queued_bytes must be > 0".into()));
        }
        if self.store_cache_mib == 0 || self.store_cache_mib > 1 << 20 {
            return Err(ConfigError::Invalid("store_cache_mib must be 1..=1048576".into()));
        }
        if self.max_unanchored_writes == 0 || self.max_unanchored_age_ms == 0 {
            return Err(ConfigError::Invalid(
                "max_unanchored_writes and max_unanchored_age_ms must be > 0".into(),
            ));
        }
        if self.reregister_margin_secs <= 0 || self.reregister_margin_secs >= self.registration_lifetime_secs
        {
            return Err(ConfigError::Invalid(
                "need 0 < reregister_margin_secs < registration_lifetime_secs".into(),
            ));
        }
        if let Some(p) = &self.provider {
            p.provider_pubkey()?;
            if p.poll_interval_ms == 0 {
                return Err(ConfigError::Invalid("provider.poll_interval_ms must be > 0".into()));
            }
        }
        Ok(())
    }

    pub fn app_id_bytes(&self) -> Result<[u8; 32], ConfigError> {
        hex::decode(&self.app_id)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| ConfigError::Invalid("app_id must be 64 hex characters".into()))
    }

    /// The publisher whose namespace holds the app.
    pub fn publisher_pubkey(&self) -> Result<solana_sdk::pubkey::Pubkey, ConfigError> {
        self.publisher
            .parse()
            .map_err(|_| ConfigError::Invalid("publisher must be the base58 key of the app's creator".into()))
    }

    /// The commitment updates are acknowledged at. `processed` is refused: a processed update can
    /// still be dropped with its fork, and a write acknowledged on it would be lost.
    pub fn ack_commitment(&self) -> Result<solana_sdk::commitment_config::CommitmentConfig, ConfigError> {
        use solana_sdk::commitment_config::CommitmentConfig;
        match self.ack_commitment.as_str() {
            "confirmed" => Ok(CommitmentConfig::confirmed()),
            "finalized" => Ok(CommitmentConfig::finalized()),
            other => Err(ConfigError::Invalid(format!(
                "ack_commitment must be \"confirmed\" or \"finalized\", not {other:?}"
            ))),
        }
    }

    pub fn commit_interval(&self) -> Duration {
        Duration::from_millis(self.commit_interval_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment() {
        let mut cfg: Config = toml::from_str(
            "listen = \"0.0.0.0:1\"\napp_id = \"ab\"\ncommit_every_writes = 7\ngroup_linger_ms = 3",
        )
        .unwrap();
        assert_eq!((cfg.listen.as_str(), cfg.commit_every_writes, cfg.max_group), ("0.0.0.0:1", 7, 1024));
        assert_eq!(cfg.group_linger_ms, 3);
        cfg.apply_env(|name| match name {
            "IRONROOT_BATCH_SIZE" => Some("99".into()),
            "IRONROOT_IPFS_API" => Some("http://127.0.0.1:5101".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!((cfg.commit_every_writes, cfg.ipfs_api.as_deref()), (99, Some("http://127.0.0.1:5101")));
        assert!(cfg.app_id_bytes().is_err());
        assert!(toml::from_str::<Config>("unknown_field = 1").is_err());
        assert!(cfg.apply_env(|n| (n == "IRONROOT_BATCH_SIZE").then(|| "many".into())).is_err());
        assert_eq!(cfg.durability, Durability::Local);
        cfg.apply_env(|n| (n == "IRONROOT_DURABILITY").then(|| "chain".into())).unwrap();
        assert_eq!(cfg.durability, Durability::Chain);
        assert!(cfg.apply_env(|n| (n == "IRONROOT_DURABILITY").then(|| "maybe".into())).is_err());
        let chain: Config = toml::from_str("durability = \"chain\"\nmax_unanchored_writes = 10").unwrap();
        assert_eq!((chain.durability, chain.max_unanchored_writes), (Durability::Chain, 10));
        assert_eq!(
            cfg.ack_commitment().unwrap(),
            solana_sdk::commitment_config::CommitmentConfig::confirmed()
        );
        cfg.apply_env(|n| (n == "IRONROOT_ACK_COMMITMENT").then(|| "finalized".into())).unwrap();
        assert_eq!(
            cfg.ack_commitment().unwrap(),
            solana_sdk::commitment_config::CommitmentConfig::finalized()
        );
        assert!(cfg.apply_env(|n| (n == "IRONROOT_ACK_COMMITMENT").then(|| "processed".into())).is_err());
        cfg.ack_commitment = "confirmed".into();
        // An empty admin token would guard the admin API with nothing.
        assert!(cfg.apply_env(|n| (n == "IRONROOT_ADMIN_TOKEN").then(|| "".into())).is_err());
        cfg.admin_token = None;
        // Nor may the data API's.
        assert!(cfg.apply_env(|n| (n == "IRONROOT_API_TOKEN").then(|| " ".into())).is_err());
        cfg.api_token = None;
        cfg.apply_env(|n| (n == "IRONROOT_API_TOKEN").then(|| "data-secret".into())).unwrap();
        assert_eq!(cfg.api_token.as_deref(), Some("data-secret"));
        // Keyed record positions unless the app chose public ones.
        assert_eq!(cfg.tree_key_mode, TreeKeyMode::Keyed);
        cfg.apply_env(|n| (n == "IRONROOT_TREE_KEY_MODE").then(|| "public".into())).unwrap();
        assert_eq!(cfg.tree_key_mode, TreeKeyMode::Public);
        assert!(cfg.apply_env(|n| (n == "IRONROOT_TREE_KEY_MODE").then(|| "sha256".into())).is_err());
        let public: Config = toml::from_str("tree_key_mode = \"public\"").unwrap();
        assert_eq!(public.tree_key_mode, TreeKeyMode::Public);
    }

    #[test]
    fn attester_urls_and_reregistration_margin() {
        let mut cfg = Config::default();
        cfg.apply_env(|n| (n == "IRONROOT_ATTESTER_URLS").then(|| "http://a:1, http://b:2,".into())).unwrap();
        assert_eq!(cfg.attester_urls, ["http://a:1", "http://b:2"]);
        // A margin as long as the lifetime would re-register without pause.
        let bad: Config =
            toml::from_str("registration_lifetime_secs = 60\nreregister_margin_secs = 60").unwrap();
        assert!(bad.validate().is_err());
        let ok: Config =
            toml::from_str("registration_lifetime_secs = 60\nreregister_margin_secs = 20").unwrap();
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn provider_section() {
        let key = solana_sdk::pubkey::Pubkey::new_unique().to_string();
        let cfg: Config =
            toml::from_str(&format!("[provider]\nprovider = \"{key}\"\npoll_interval_ms = 250")).unwrap();
        let p = cfg.provider.as_ref().unwrap();
        assert_eq!((p.poll_interval_ms, p.recovery_retry_ms), (250, 2_000));
        assert_eq!(p.provider_pubkey().unwrap().to_string(), key);
        let mut bad = cfg.clone();
        assert!(bad.apply_env(|n| (n == "IRONROOT_PROVIDER").then(|| "not-a-key".into())).is_err());
        let mut from_env = Config::default();
        from_env.apply_env(|n| (n == "IRONROOT_PROVIDER").then(|| key.clone())).unwrap();
        assert_eq!(from_env.provider.unwrap().poll_interval_ms, 1_000);
        assert!(toml::from_str::<Config>("[provider]\nprovider = \"x\"\nunknown = 1").is_err());
        let zero: Config =
            toml::from_str(&format!("[provider]\nprovider = \"{key}\"\npoll_interval_ms = 0")).unwrap();
        assert!(zero.validate().is_err());
    }
}
