//! Crash points for the kill -9 tests: with the `failpoints` feature (enabled only by the keeper's
//! own test build), `IRONROOT_FAILPOINT=<step>[@<n>]` makes the process send itself SIGKILL the
//! `n`-th time (default: the first) it reaches `<step>`: no destructor, flush or reply runs, as
//! when the operator kills it there. Without the feature [`hit`] is an empty inline function, so
//! the production binary carries neither the check nor the variable.

/// The environment variable that arms a crash point.
pub const ENV: &str = "IRONROOT_FAILPOINT";

/// The steps of the write path, the batcher and start-up at which the process can be killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A group's blobs are stored; its tree commit has not run.
    WriterAfterBlobs,
    /// A group is durably committed to the local tree; none of its writes is acknowledged.
    WriterAfterTreeCommit,
    /// The batcher published the manifest of the next update; the update is not recorded.
    BatcherAfterManifest,
    /// The prepared update is recorded durably; it is not signed or sent.
    BatcherAfterPrepare,
    /// The update transaction is signed; it is not sent.
    ChainAfterSign,
    /// The update transaction is sent; its confirmation has not been seen.
    ChainAfterSend,
    /// The update is confirmed on-chain; the confirmation is not recorded locally.
    BatcherAfterConfirm,
    /// The confirmation is recorded but not synced, and the writes waiting for it are answered.
    BatcherAfterAnswer,
    /// Start-up rebuilt the store from the chain beside the old one (which, if it held unanchored
    /// writes, is already set aside); the rebuilt store is not installed.
    RebuildBeforeInstall,
}

impl Step {
    pub const ALL: [Step; 9] = [
        Step::WriterAfterBlobs,
        Step::WriterAfterTreeCommit,
        Step::BatcherAfterManifest,
        Step::BatcherAfterPrepare,
        Step::ChainAfterSign,
        Step::ChainAfterSend,
        Step::BatcherAfterConfirm,
        Step::BatcherAfterAnswer,
        Step::RebuildBeforeInstall,
    ];

    /// The name `IRONROOT_FAILPOINT` takes.
    pub fn name(self) -> &'static str {
        match self {
            Step::WriterAfterBlobs => "writer.after-blobs",
            Step::WriterAfterTreeCommit => "writer.after-tree-commit",
            Step::BatcherAfterManifest => "batcher.after-manifest",
            Step::BatcherAfterPrepare => "batcher.after-prepare",
            Step::ChainAfterSign => "chain.after-sign",
            Step::ChainAfterSend => "chain.after-send",
            Step::BatcherAfterConfirm => "batcher.after-confirm",
            Step::BatcherAfterAnswer => "batcher.after-answer",
            Step::RebuildBeforeInstall => "rebuild.before-install",
        }
    }
}

/// Kills the process here if `IRONROOT_FAILPOINT` names `step` and this is its `n`-th hit.
#[cfg(feature = "failpoints")]
pub fn hit(step: Step) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static ARMED: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    let armed = ARMED.get_or_init(|| {
        let spec = std::env::var(ENV).ok()?;
        let (name, nth) = match spec.split_once('@') {
            Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
            None => (spec, 1),
        };
        Some((name, nth))
    });
    let Some((name, nth)) = armed else { return };
    if name != step.name() {
        return;
    }
    if HITS.fetch_add(1, Ordering::SeqCst) + 1 >= *nth {
        eprintln!("failpoint {}: killing the process", step.name());
        // SAFETY: signalling our own pid has no memory-safety preconditions.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        std::process::abort();
    }
}

/// Compiled out: the production build has no crash points.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_step: Step) {}
