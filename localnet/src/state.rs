//! The state directory: development keypairs (kept across restarts, so clients can keep using
//! them) and the JSON config a client needs to talk to the running localnet.
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use solana_sdk::signature::{read_keypair_file, write_keypair_file, Keypair, Signer};

use crate::LocalnetError;

/// Name of the config file inside the state directory.
pub const CONFIG_FILE: &str = "localnet.json";
const KEYS_DIR: &str = "keys";

/// A development keypair and where it is stored (Solana CLI format).
#[derive(Debug)]
pub struct DevKey {
    pub keypair: Keypair,
    pub path: PathBuf,
}

impl DevKey {
    /// Reads `dir/name.json`, or creates it (mode 0600) if it does not exist.
    fn load_or_create(dir: &Path, name: &str) -> Result<Self, LocalnetError> {
        let path = dir.join(format!("{name}.json"));
        let keypair = if path.exists() {
            read_keypair_file(&path)
                .map_err(|err| LocalnetError::Keypair { path: path.clone(), message: err.to_string() })?
        } else {
            let keypair = Keypair::new();
            write_keypair_file(&keypair, &path)
                .map_err(|err| LocalnetError::Keypair { path: path.clone(), message: err.to_string() })?;
            keypair
        };
        Ok(DevKey { keypair, path })
    }
}

/// The state directory with its development keys.
#[derive(Debug)]
pub struct StateDir {
    pub path: PathBuf,
    /// Upgrade authority of the attestation verifier (so the one key allowed to initialise its
    /// config) and the natural governance authority; funded at start.
    pub governance: DevKey,
    /// A development attester whose signature statements can carry.
    pub attester: DevKey,
}

impl StateDir {
    /// Creates `path` (and its key directory) if needed and loads or creates the keys.
    pub fn open(path: &Path) -> Result<Self, LocalnetError> {
        let io = |source| LocalnetError::StateDir { path: path.to_path_buf(), source };
        let keys = path.join(KEYS_DIR);
        fs::create_dir_all(&keys).map_err(io)?;
        // Absolute paths make the written config usable from any working directory.
        let path = path.canonicalize().map_err(io)?;
        let keys = path.join(KEYS_DIR);
        Ok(StateDir {
            governance: DevKey::load_or_create(&keys, "governance")?,
            attester: DevKey::load_or_create(&keys, "attester")?,
            path,
        })
    }

    pub fn config_path(&self) -> PathBuf {
        self.path.join(CONFIG_FILE)
    }

    /// Writes `config` as pretty JSON, replacing the file atomically (a client polling for it
    /// never reads half a file).
    pub fn write_config(&self, config: &LocalnetConfig) -> Result<PathBuf, LocalnetError> {
        let path = self.config_path();
        let partial = self.path.join(format!("{CONFIG_FILE}.partial"));
        let io = |source| LocalnetError::Config { path: path.clone(), source };
        fs::write(&partial, serde_json::to_vec_pretty(config)?).map_err(io)?;
        fs::rename(&partial, &path).map_err(io)?;
        Ok(path)
    }
}

/// A public key with the file holding its keypair.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct KeyRef {
    pub pubkey: String,
    pub keypair_path: PathBuf,
}

impl From<&DevKey> for KeyRef {
    fn from(key: &DevKey) -> Self {
        KeyRef { pubkey: key.keypair.pubkey().to_string(), keypair_path: key.path.clone() }
    }
}

/// What a client needs to use the running localnet (written to `localnet.json`).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct LocalnetConfig {
    pub rpc_url: String,
    pub ws_url: String,
    /// The cluster's genesis hash: attestation statements and the verifier config name it.
    pub genesis_hash: String,
    pub programs: BTreeMap<String, String>,
    /// The verifier's program-data account, whose upgrade authority is `governance`.
    pub verifier_program_data: String,
    pub governance: KeyRef,
    pub attester: KeyRef,
}
