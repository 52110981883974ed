//! Development key source: a 32-byte root secret in a local file.
//!
//! File format: the 8-byte magic `IRROOTK1` followed by the 32-byte secret. The file is created with
//! mode 0600 from the OS random number generator on first use and loaded on later starts; a file that
//! group or others can read is refused. Outside a TEE this protects nothing from the host's root user:
//! it exists so the keeper runs without dstack. The secret is zeroized on drop.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aes_gcm::aead::rand_core::{OsRng, RngCore};
use async_trait::async_trait;
use tracing::info;
use zeroize::Zeroizing;

use super::{
    derive_kek, derive_signing_seed, derive_store_seal_key, derive_tree_key, AppId, Kek, KeyError, KeySource,
};

const MAGIC: &[u8; 8] = b"IRROOTK1";
const FILE_LEN: usize = MAGIC.len() + 32;

/// A root secret kept in a 0600 file (development only).
pub struct SealedKeyFile {
    path: PathBuf,
    root: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for SealedKeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedKeyFile").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SealedKeyFile {
    /// Loads the root secret at `path`, creating it (mode 0600, fresh random secret) if absent.
    pub fn open_or_create(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref().to_path_buf();
        match Self::load(&path) {
            Err(KeyError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                Self::create(&path)?;
                // Load what is on disk: if another process won the race to create it, use its secret.
                Self::load(&path)
            }
            other => other,
        }
    }

    /// Where the secret is stored.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn load(path: &Path) -> Result<Self, KeyError> {
        let io_err = |source| KeyError::Io { path: path.to_path_buf(), source };
        let file = fs::File::open(path).map_err(io_err)?;
        let mode = file.metadata().map_err(io_err)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::InsecureKeyFile { path: path.to_path_buf(), mode });
        }
        let mut buf = Zeroizing::new(Vec::with_capacity(FILE_LEN + 1));
        // Read one byte past the expected length to detect trailing garbage.
        file.take(FILE_LEN as u64 + 1).read_to_end(&mut buf).map_err(io_err)?;
        if buf.len() != FILE_LEN {
            return Err(KeyError::MalformedKeyFile { path: path.to_path_buf(), reason: "wrong length" });
        }
        if &buf[..MAGIC.len()] != MAGIC {
            return Err(KeyError::MalformedKeyFile { path: path.to_path_buf(), reason: "bad magic" });
        }
        let mut root = Zeroizing::new([0u8; 32]);
        root.copy_from_slice(&buf[MAGIC.len()..]);
        Ok(Self { path: path.to_path_buf(), root })
    }

    /// Writes a fresh secret to a temporary 0600 file, fsyncs it, then hard-links it into place:
    /// the link fails if the file already exists, so a concurrent creator's secret is never replaced
    /// and a crash never leaves a half-written key file under the final name.
    fn create(path: &Path) -> Result<(), KeyError> {
        let io_err = |p: &Path| {
            let p = p.to_path_buf();
            move |source| KeyError::Io { path: p, source }
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;

        let mut contents = Zeroizing::new([0u8; FILE_LEN]);
        contents[..MAGIC.len()].copy_from_slice(MAGIC);
        OsRng.try_fill_bytes(&mut contents[MAGIC.len()..]).map_err(|e| KeyError::Rng(e.to_string()))?;

        let mut suffix = [0u8; 8];
        OsRng.try_fill_bytes(&mut suffix).map_err(|e| KeyError::Rng(e.to_string()))?;
        let tmp = dir.join(format!(".ironroot-key-{}.tmp", hex::encode(suffix)));
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io_err(&tmp))?;
            file.write_all(contents.as_ref()).map_err(io_err(&tmp))?;
            file.sync_all().map_err(io_err(&tmp))?;
            match fs::hard_link(&tmp, path) {
                Ok(()) => {
                    info!(path = %path.display(), "created a new root key file");
                    Ok(())
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(io_err(path)(e)),
            }
        })();
        // Best effort: the temporary name holds nothing the final file does not.
        let _ = fs::remove_file(&tmp);
        result?;
        fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(io_err(&dir))
    }
}

#[async_trait]
impl KeySource for SealedKeyFile {
    async fn app_kek(&self, app: &AppId, epoch: u32) -> Result<Kek, KeyError> {
        Ok(derive_kek(self.root.as_ref(), app, epoch))
    }

    async fn signing_seed(&self, app: &AppId) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        Ok(derive_signing_seed(self.root.as_ref(), app))
    }

    async fn store_seal_key(&self, app: &AppId) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        Ok(derive_store_seal_key(self.root.as_ref(), app))
    }

    async fn tree_key(&self, app: &AppId) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        Ok(derive_tree_key(self.root.as_ref(), app))
    }
}
