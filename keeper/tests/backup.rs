//! Streaming export/import: frames stay within the sealed-frame limit (a value at the record
//! limit travels in parts), a backup restores onto the chain's roots, and a truncated backup, a
//! frame length past the limit or a backup of another state is refused before anything is
//! replaced.
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ironroot_devkit::{Harness, HarnessOptions};
use ironroot_keeper::backup::{self, BackupError, MAX_FRAME_BYTES};
use ironroot_keeper::blobs::LocalBlobStore;
use ironroot_keeper::chain::Chain;
use ironroot_keeper::crypto::MAX_VALUE_LEN;
use ironroot_keeper::keys::{AppId, ShardId};
use ironroot_keeper::recovery::Startup;
use ironroot_keeper::shard::{ShardConfig, ShardKeeper};

const APP_ID: [u8; 32] = [0x6b; 32];

/// The sealed frames of a backup file (after its 5-byte header), as (offset, length).
fn frames(backup: &[u8]) -> Vec<(usize, usize)> {
    let mut at = 5;
    let mut out = Vec::new();
    while at < backup.len() {
        let len = u32::from_le_bytes(backup[at..at + 4].try_into().unwrap()) as usize;
        out.push((at, len));
        at += 4 + len;
    }
    assert_eq!(at, backup.len(), "frames end where the file ends");
    out
}

#[tokio::test]
async fn export_streams_bounded_frames_and_import_refuses_partial_backups() {
    let dev = Harness::start(HarnessOptions::new(APP_ID, 2)).await.unwrap();
    let blobs = Arc::new(LocalBlobStore::open(dev.data_dir().join("blobs")).unwrap());
    let chain: Arc<dyn Chain> = Arc::new(dev.chain.clone());
    let open = |path: std::path::PathBuf| {
        let mut cfg = ShardConfig::new(AppId(APP_ID), ShardId(0), path);
        cfg.commit_interval = Duration::from_secs(3600);
        cfg.commit_every_writes = u64::MAX;
        ShardKeeper::open(cfg, blobs.clone(), dev.keys.clone(), chain.clone(), dev.signer.clone())
    };
    // Shard 0 holds many small records, one at the record limit and a tombstone; shard 1 is empty.
    let keeper = open(dev.data_dir().join("shard-0.redb")).await.unwrap();
    for i in 0..300 {
        keeper.put(format!("key-{i}").as_bytes(), Bytes::from(format!("value-{i}")), None).await.unwrap();
    }
    let big: Bytes = (0..MAX_VALUE_LEN).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into();
    keeper.put(b"big", big.clone(), None).await.unwrap();
    keeper.delete(b"key-7", None).await.unwrap();
    keeper.commit().await.unwrap();
    let shard1 = {
        let mut cfg = ShardConfig::new(AppId(APP_ID), ShardId(1), dev.data_dir().join("shard-1.redb"));
        cfg.commit_interval = Duration::from_secs(3600);
        ShardKeeper::open(cfg, blobs.clone(), dev.keys.clone(), chain.clone(), dev.signer.clone())
            .await
            .unwrap()
    };

    let mut out: Vec<u8> = Vec::new();
    let summaries = backup::export(
        AppId(APP_ID),
        &[(ShardId(0), keeper.store()), (ShardId(1), shard1.store())],
        blobs.as_ref(),
        dev.keys.as_ref(),
        &mut out,
    )
    .await
    .unwrap();
    assert_eq!(summaries.len(), 2);
    let sealed = frames(&out);
    assert!(sealed.iter().all(|(_, len)| *len <= MAX_FRAME_BYTES), "{sealed:?}");
    // Head, the small records, the large record's header and its three parts, end.
    assert!(sealed.len() >= 7, "{} frames", sealed.len());
    assert!(
        sealed.iter().filter(|(_, len)| *len > 4 * 1024 * 1024 - 1024).count() >= 2,
        "the large value is split"
    );

    let restore_dir = tempfile::tempdir().unwrap();
    let target = |id: ShardId| restore_dir.path().join(format!("shard-{id}.redb"));
    let import = |bytes: Vec<u8>| {
        let chain = chain.clone();
        let blobs = blobs.clone();
        let keys = dev.keys.clone();
        async move {
            backup::import(
                AppId(APP_ID),
                bytes.as_slice(),
                blobs.as_ref(),
                keys.as_ref(),
                chain.as_ref(),
                target,
            )
            .await
        }
    };

    // Cut before the end frame, cut inside a frame, a frame length past the limit, trailing bytes:
    // each refused, and no store appears at the target.
    let (end_at, _) = *sealed.last().unwrap();
    let mut too_long = out[..5].to_vec();
    too_long.extend_from_slice(&((MAX_FRAME_BYTES + 1) as u32).to_le_bytes());
    for (what, bytes) in [
        ("no end frame", out[..end_at].to_vec()),
        ("cut in a frame", out[..end_at - 100].to_vec()),
        ("frame too long", too_long),
        ("trailing bytes", [out.as_slice(), b"x"].concat()),
    ] {
        match import(bytes).await {
            Err(BackupError::Format(why)) => {
                if what == "frame too long" {
                    assert!(why.contains("exceeds"), "{what}: {why}");
                }
            }
            other => panic!("{what}: {:?}", other.map(|s| s.len())),
        }
        assert!(!target(ShardId(0)).exists() && !target(ShardId(1)).exists(), "{what}: a store was replaced");
    }
    // A frame swapped for another is refused (each frame's index is bound into its seal).
    let (a, alen) = sealed[1];
    let (b, blen) = sealed[2];
    let swapped = [&out[..a], &out[b..b + 4 + blen], &out[a..a + 4 + alen], &out[b + 4 + blen..]].concat();
    assert!(import(swapped).await.is_err());
    assert!(!target(ShardId(0)).exists());

    // The whole backup restores both shards onto the chain's roots.
    let restored = import(out.clone()).await.unwrap();
    assert_eq!(restored, summaries);
    keeper.shutdown().await;
    drop(keeper);
    let keeper = open(target(ShardId(0))).await.unwrap();
    assert!(matches!(keeper.startup(), Startup::InSync { .. }), "{:?}", keeper.startup());
    assert_eq!(keeper.get(b"big").await.unwrap().value, big.to_vec());
    assert_eq!(keeper.get(b"key-299").await.unwrap().value, b"value-299");
    assert!(keeper.get(b"key-7").await.is_err());
    assert!(target(ShardId(1)).exists());
}
