//! Local content-addressed directory: `<root>/blocks/<first digest byte, hex>/<CID>`.
//!
//! Writes go to a temporary file in `<root>/tmp`, are fsynced, renamed into place and the directory
//! is fsynced: a block is either absent or complete under its final name, even after a crash or a
//! full disk. Leftover temporary files are removed when the store is opened.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tracing::{debug, warn};

use super::{check_cid, BlobError, BlockStore, Cid, DEFAULT_READ_TIMEOUT};

/// Blocks in a local directory (the embedded default).
#[derive(Clone, Debug)]
pub struct LocalBlobStore {
    root: PathBuf,
    read_timeout: Duration,
}

fn io_error(op: &'static str, path: &Path, source: std::io::Error) -> BlobError {
    match source.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => BlobError::DiskFull { path: path.to_path_buf() },
        _ => BlobError::Io { op, path: path.to_path_buf(), source },
    }
}

impl LocalBlobStore {
    /// Opens (creating if needed) the store rooted at `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, BlobError> {
        let root = root.as_ref().to_path_buf();
        let tmp = root.join("tmp");
        for dir in [root.join("blocks"), tmp.clone()] {
            fs::create_dir_all(&dir).map_err(|e| io_error("create directory", &dir, e))?;
        }
        for entry in fs::read_dir(&tmp).map_err(|e| io_error("list", &tmp, e))? {
            let path = entry.map_err(|e| io_error("list", &tmp, e))?.path();
            if let Err(e) = fs::remove_file(&path) {
                warn!(path = %path.display(), error = %e, "could not remove a leftover temporary file");
            }
        }
        Ok(Self { root, read_timeout: DEFAULT_READ_TIMEOUT })
    }

    pub fn with_read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the block `cid` is stored.
    pub fn block_path(&self, cid: &Cid) -> PathBuf {
        let fan_out = hex::encode(&cid.hash().digest()[..1]);
        self.root.join("blocks").join(fan_out).join(cid.to_string())
    }

    fn write_block(&self, cid: &Cid, block: &[u8]) -> Result<(), BlobError> {
        let path = self.block_path(cid);
        let dir = path.parent().expect("block paths have a parent").to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| io_error("create directory", &dir, e))?;
        let tmp_dir = self.root.join("tmp");
        let mut tmp =
            tempfile::NamedTempFile::new_in(&tmp_dir).map_err(|e| io_error("create", &tmp_dir, e))?;
        tmp.write_all(block).map_err(|e| io_error("write", tmp.path(), e))?;
        tmp.as_file().sync_all().map_err(|e| io_error("fsync", tmp.path(), e))?;
        // On failure the temporary file is deleted when `tmp` drops.
        tmp.persist(&path).map_err(|e| io_error("rename into", &path, e.error))?;
        fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| io_error("fsync", &dir, e))?;
        debug!(%cid, len = block.len(), "stored block");
        Ok(())
    }

    /// Writes a batch with two file-system syncs instead of two fsyncs per block: every block goes
    /// to a temporary file, one `syncfs` makes them durable, the renames publish them, and a second
    /// `syncfs` makes the renames durable before the batch is acknowledged. A crash in between
    /// leaves only unpublished temporaries or unacknowledged blocks.
    fn write_blocks(&self, blocks: &[(Cid, Bytes)]) -> Result<(), BlobError> {
        let tmp_dir = self.root.join("tmp");
        let mut staged = Vec::with_capacity(blocks.len());
        for (cid, block) in blocks {
            let path = self.block_path(cid);
            if path.is_file() {
                continue; // content-addressed: the same bytes are already there
            }
            let dir = path.parent().expect("block paths have a parent");
            fs::create_dir_all(dir).map_err(|e| io_error("create directory", dir, e))?;
            let mut tmp =
                tempfile::NamedTempFile::new_in(&tmp_dir).map_err(|e| io_error("create", &tmp_dir, e))?;
            tmp.write_all(block).map_err(|e| io_error("write", tmp.path(), e))?;
            staged.push((tmp, path));
        }
        if staged.is_empty() {
            return Ok(());
        }
        self.sync_filesystem()?;
        for (tmp, path) in staged {
            tmp.persist(&path).map_err(|e| io_error("rename into", &path, e.error))?;
        }
        self.sync_filesystem()
    }

    fn sync_filesystem(&self) -> Result<(), BlobError> {
        let root = fs::File::open(&self.root).map_err(|e| io_error("open", &self.root, e))?;
        // SAFETY: `syncfs` only reads the descriptor, which `root` keeps open for the call.
        if unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&root)) } != 0 {
            return Err(io_error("syncfs", &self.root, std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Runs blocking file system work off the async runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(Self) -> Result<T, BlobError> + Send + 'static,
    ) -> Result<T, BlobError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || work(this)).await.map_err(|e| BlobError::Io {
            op: "run blocking task",
            path: self.root.clone(),
            source: std::io::Error::other(e),
        })?
    }
}

#[async_trait]
impl BlockStore for LocalBlobStore {
    async fn put_block(&self, cid: &Cid, block: Bytes) -> Result<(), BlobError> {
        check_cid(cid)?;
        let cid = *cid;
        self.blocking(move |store| store.write_block(&cid, &block)).await
    }

    async fn put_blocks(&self, blocks: Vec<(Cid, Bytes)>) -> Result<(), BlobError> {
        for (cid, _) in &blocks {
            check_cid(cid)?;
        }
        self.blocking(move |store| store.write_blocks(&blocks)).await
    }

    async fn get_block(&self, cid: &Cid) -> Result<Bytes, BlobError> {
        check_cid(cid)?;
        let cid = *cid;
        self.blocking(move |store| {
            let path = store.block_path(&cid);
            match fs::read(&path) {
                Ok(bytes) => Ok(Bytes::from(bytes)),
                Err(e) if e.kind() == ErrorKind::NotFound => Err(BlobError::NotFound(cid)),
                Err(e) => Err(io_error("read", &path, e)),
            }
        })
        .await
    }

    async fn has_block(&self, cid: &Cid) -> Result<bool, BlobError> {
        check_cid(cid)?;
        let cid = *cid;
        self.blocking(move |store| {
            let path = store.block_path(&cid);
            match fs::metadata(&path) {
                Ok(meta) => Ok(meta.is_file()),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
                Err(e) => Err(io_error("stat", &path, e)),
            }
        })
        .await
    }

    /// The local store never deletes blocks, so pinning only checks the block is there.
    async fn pin_block(&self, cid: &Cid) -> Result<(), BlobError> {
        if self.has_block(cid).await? {
            Ok(())
        } else {
            Err(BlobError::NotFound(*cid))
        }
    }

    fn read_timeout(&self) -> Duration {
        self.read_timeout
    }
}
