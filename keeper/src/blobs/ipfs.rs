//! A small Kubo RPC (`/api/v0`) client: blocks go in with `add`, come out with `block/get`.
//!
//! Tested against js-ipfs 0.66 (the test node, `scripts/ipfs-node.sh`); production points at Kubo.
//! What it tolerates from either:
//! * `add` is sent one ≤ 1 MiB block with `cid-version=1&raw-leaves=true&chunker=size-1048576`, so the
//!   node's CID is the block's raw CID; a node answering with another CID is a [`BlobError::CidMismatch`].
//!   The answer's `Size` (a number for js-ipfs, a string for Kubo) is ignored.
//! * Every read sends `timeout=`: js-ipfs waits forever for a block it does not have. A timed-out
//!   read is told apart from a missing block by asking `pin/ls`, which answers at once: the keeper
//!   pins everything it adds, so an unpinned block counts as missing.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;
use tracing::debug;

use super::{check_cid, BlobError, BlockStore, Cid, DEFAULT_READ_TIMEOUT, MAX_BLOCK_LEN};

/// Largest answer read from the IPFS node: one block plus room for a JSON envelope.
const MAX_RESPONSE_LEN: usize = MAX_BLOCK_LEN + 64 * 1024;

/// Kubo's default RPC address.
pub const DEFAULT_IPFS_API: &str = "http://127.0.0.1:5001";
/// Time allowed for a write (an `add` of up to 1 MiB).
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Blocks on an IPFS node, through its Kubo RPC API.
#[derive(Clone, Debug)]
pub struct IpfsBlobStore {
    api: String,
    http: reqwest::Client,
    read_timeout: Duration,
    max_in_flight: usize,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(rename = "Message")]
    message: String,
}

#[derive(Deserialize)]
struct AddEntry {
    #[serde(rename = "Hash")]
    hash: String,
}

#[derive(Deserialize)]
struct Version {
    #[serde(rename = "Version")]
    version: String,
}

/// How a failed RPC call ended.
enum CallError {
    /// The node answered with an error message.
    Api(String),
    /// Any other failure (connection, HTTP, body), already a [`BlobError`].
    Other(BlobError),
}

fn is_timeout(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("timed out") || m.contains("timeout") || m.contains("deadline exceeded")
}

fn is_not_found(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("not found") || m.contains("could not find") || m.contains("not pinned")
}

impl IpfsBlobStore {
    /// A client of the node whose RPC API is at `api` (e.g. `http://127.0.0.1:5001`).
    pub fn new(api: impl Into<String>) -> Result<Self, BlobError> {
        let api = api.into().trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .timeout(WRITE_TIMEOUT)
            // Below Node's 5 s keep-alive timeout, so js-ipfs rarely closes a connection we reuse.
            .pool_idle_timeout(Duration::from_secs(4))
            .build()
            .map_err(|e| BlobError::Ipfs { endpoint: api.clone(), message: e.to_string() })?;
        Ok(Self { api, http, read_timeout: DEFAULT_READ_TIMEOUT, max_in_flight: 16 })
    }

    pub fn with_read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Block operations kept in flight by `put_many` and chunked reads (js-ipfs peaks around 16).
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    pub fn api(&self) -> &str {
        &self.api
    }

    /// The node's version string (`/api/v0/version`); a cheap liveness check.
    pub async fn version(&self) -> Result<String, BlobError> {
        let body = self.call_plain("version", &[]).await?;
        let v: Version = serde_json::from_slice(&body).map_err(|_| self.err("malformed version answer"))?;
        Ok(v.version)
    }

    fn err(&self, message: impl Into<String>) -> BlobError {
        BlobError::Ipfs { endpoint: self.api.clone(), message: message.into() }
    }

    /// HTTP deadline of one read call: past the node's own `timeout=`, so the node reports first.
    fn read_budget(&self) -> Duration {
        self.read_timeout + Duration::from_secs(1)
    }

    fn timeout_param(&self) -> String {
        format!("{}ms", self.read_timeout.as_millis().max(1))
    }

    /// One RPC call. `upload` is sent as the multipart file part (for `add`). Every call the keeper
    /// makes is idempotent, so a request that failed before any answer arrived is sent once more: a
    /// pooled connection the node closed while idle fails that way.
    async fn call(
        &self,
        path: &str,
        query: &[(&str, &str)],
        upload: Option<&Bytes>,
        timeout: Duration,
    ) -> Result<Bytes, CallError> {
        let url = format!("{}/api/v0/{path}", self.api);
        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            let mut request = self.http.post(&url).query(query).timeout(timeout);
            if let Some(block) = upload {
                // Each part needs a Content-Type (js-ipfs rejects parts without one).
                let part = Part::stream_with_length(reqwest::Body::from(block.clone()), block.len() as u64)
                    .file_name("block")
                    .mime_str("application/octet-stream")
                    .map_err(|e| CallError::Other(self.err(e.to_string())))?;
                request = request.multipart(Form::new().part("file", part));
            }
            match request.send().await {
                Ok(response) => break response,
                Err(e) if attempt == 1 && !e.is_timeout() => {
                    debug!(path, error = %e, "IPFS request failed before an answer; retrying once");
                }
                Err(e) => return Err(CallError::Other(self.err(format!("{path}: {e}")))),
            }
        };
        let status = response.status();
        // The node is the operator's: its answers are read up to a bound, never whole.
        let mut response = response;
        let mut body = Vec::new();
        while let Some(chunk) =
            response.chunk().await.map_err(|e| CallError::Other(self.err(format!("{path}: {e}"))))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_LEN {
                return Err(CallError::Other(
                    self.err(format!("{path}: response exceeds {MAX_RESPONSE_LEN} bytes")),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let body = Bytes::from(body);
        if status.is_success() {
            return Ok(body);
        }
        match serde_json::from_slice::<ApiError>(&body) {
            Ok(e) => Err(CallError::Api(e.message)),
            Err(_) => Err(CallError::Other(self.err(format!("{path}: HTTP {status}")))),
        }
    }

    async fn call_plain(&self, path: &str, query: &[(&str, &str)]) -> Result<Bytes, BlobError> {
        self.call(path, query, None, self.read_budget()).await.map_err(|e| match e {
            CallError::Api(message) => self.err(format!("{path}: {message}")),
            CallError::Other(e) => e,
        })
    }

    /// Whether `cid` is pinned. Asks for recursive pins only: every block the keeper adds or pins is
    /// its own recursive pin, and `type=all` makes js-ipfs walk every pinned DAG looking for
    /// indirect pins (seconds on a busy repo). Never waits for the network.
    async fn is_pinned(&self, cid: &Cid) -> Result<bool, BlobError> {
        let arg = cid.to_string();
        let timeout = self.timeout_param();
        let query = [("arg", arg.as_str()), ("type", "recursive"), ("timeout", timeout.as_str())];
        match self.call("pin/ls", &query, None, self.read_budget()).await {
            Ok(_) => Ok(true),
            Err(CallError::Api(message)) if is_not_found(&message) => Ok(false),
            Err(CallError::Api(message)) => Err(self.err(format!("pin/ls: {message}"))),
            Err(CallError::Other(e)) => Err(e),
        }
    }

    /// Turns an error message from a read into `NotFound` or `Timeout` when it is one of those.
    async fn read_error(&self, op: &str, cid: &Cid, message: String) -> BlobError {
        if is_not_found(&message) {
            return BlobError::NotFound(*cid);
        }
        if is_timeout(&message) {
            return match self.is_pinned(cid).await {
                Ok(false) => BlobError::NotFound(*cid),
                Ok(true) => BlobError::Timeout { cid: *cid, after: self.read_timeout },
                Err(e) => e,
            };
        }
        self.err(format!("{op} {cid}: {message}"))
    }
}

#[async_trait]
impl BlockStore for IpfsBlobStore {
    async fn put_block(&self, cid: &Cid, block: Bytes) -> Result<(), BlobError> {
        check_cid(cid)?;
        if block.len() > MAX_BLOCK_LEN {
            return Err(BlobError::TooLarge { len: block.len(), max: MAX_BLOCK_LEN });
        }
        let query = [
            ("cid-version", "1"),
            ("raw-leaves", "true"),
            ("pin", "true"),
            ("hash", "sha2-256"),
            ("chunker", "size-1048576"),
            ("cid-base", "base32"),
            ("progress", "false"),
        ];
        let body = self.call("add", &query, Some(&block), WRITE_TIMEOUT).await.map_err(|e| match e {
            CallError::Api(message) => self.err(format!("add: {message}")),
            CallError::Other(e) => e,
        })?;
        // The answer is one JSON object per line; the last one names the added file.
        let entry = body
            .split(|&b| b == b'\n')
            .rev()
            .find_map(|line| serde_json::from_slice::<AddEntry>(line).ok())
            .ok_or_else(|| self.err("add: no Hash in the answer"))?;
        let actual = Cid::try_from(entry.hash.as_str())
            .map_err(|e| self.err(format!("add: unparsable CID {}: {e}", entry.hash)))?;
        if actual != *cid {
            return Err(BlobError::CidMismatch { expected: Box::new(*cid), actual: Box::new(actual) });
        }
        debug!(%cid, len = block.len(), "added block to IPFS");
        Ok(())
    }

    async fn get_block(&self, cid: &Cid) -> Result<Bytes, BlobError> {
        check_cid(cid)?;
        let arg = cid.to_string();
        let timeout = self.timeout_param();
        let query = [("arg", arg.as_str()), ("timeout", timeout.as_str())];
        match self.call("block/get", &query, None, self.read_budget()).await {
            Ok(bytes) => Ok(bytes),
            Err(CallError::Api(message)) => Err(self.read_error("block/get", cid, message).await),
            Err(CallError::Other(e)) => Err(e),
        }
    }

    async fn has_block(&self, cid: &Cid) -> Result<bool, BlobError> {
        check_cid(cid)?;
        self.is_pinned(cid).await
    }

    async fn pin_block(&self, cid: &Cid) -> Result<(), BlobError> {
        check_cid(cid)?;
        let arg = cid.to_string();
        let timeout = self.timeout_param();
        let query = [("arg", arg.as_str()), ("recursive", "true"), ("timeout", timeout.as_str())];
        match self.call("pin/add", &query, None, self.read_budget()).await {
            Ok(_) => Ok(()),
            Err(CallError::Api(message)) => Err(self.read_error("pin/add", cid, message).await),
            Err(CallError::Other(e)) => Err(e),
        }
    }

    fn read_timeout(&self) -> Duration {
        self.read_timeout
    }

    fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }
}
