//! The group log against the machine's operator: groups only the log holds come back in order,
//! an edited record (even with its checksum fixed up) ends the replay before it, of two records
//! after the same group the later is followed, a failed group stays out once a checkpoint
//! followed it, and compaction leaves the segments a shard's log still needs. (Replay after a real SIGKILL is in `keeper.rs`.)

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;
use ironroot_keeper::blobs::{raw_cid, LocalBlobStore, PlannedBlobs, RecordLog};
use ironroot_keeper::group_log::{replay, GroupLog, Logged};
use ironroot_keeper::keys::{AppId, SealedKeyFile, ShardId};
use ironroot_keeper::tree::{RecordLeaf, ShardStore, StoreSeal, TreeKeyMode};
use sha2::{Digest, Sha256};

struct Opened {
    store: ShardStore,
    blobs: LocalBlobStore,
    log: GroupLog,
}

async fn open(dir: &std::path::Path) -> Opened {
    let keys = SealedKeyFile::open_or_create(dir.join("root.key")).unwrap();
    let seal = StoreSeal::derive(&keys, AppId([7; 32]), ShardId(0), TreeKeyMode::Keyed).await.unwrap();
    let store = ShardStore::open(dir.join("shard.redb"), seal).unwrap();
    let blobs = LocalBlobStore::open(dir.join("blobs")).unwrap();
    let log = GroupLog::new(Arc::new(blobs.clone()), store.state().unwrap().log);
    Opened { store, blobs, log }
}

/// Group `i`: two records, `g{i}-a` and `g{i}-b`, with their blobs.
fn group(i: u8) -> (Vec<Bytes>, Vec<(Vec<u8>, RecordLeaf)>) {
    let blobs: Vec<Bytes> =
        (0..2u8).map(|j| Bytes::from(vec![i.wrapping_mul(2).wrapping_add(j); 900])).collect();
    let changes = blobs
        .iter()
        .zip(["a", "b"])
        .map(|(blob, name)| {
            let leaf = RecordLeaf {
                version: 1,
                cid: raw_cid(blob).to_bytes(),
                ciphertext_hash: Sha256::digest(blob).into(),
                key_epoch: 0,
                tombstone: false,
            };
            (format!("g{i}-{name}").into_bytes(), leaf)
        })
        .collect();
    (blobs, changes)
}

/// Logs group `i` with its blobs, durably: what a crash between the log's sync and the store's
/// commit leaves.
fn log_only(o: &Opened, i: u8) -> Logged {
    let (blobs, changes) = group(i);
    let (staged, logged) = o.log.stage(&o.store, PlannedBlobs::new(blobs).unwrap(), &changes).unwrap();
    staged.durable().unwrap();
    logged
}

/// Logs and commits group `i` as the shard's committer does.
fn commit(o: &Opened, i: u8) -> bool {
    let logged = log_only(o, i);
    let changes = group(i).1;
    let (cursor, durable) = o.log.plan_commit(&logged, changes.len());
    let mut computed = o.store.compute_group(changes, None).unwrap();
    o.store.write_group_logged(&mut computed, cursor, durable).unwrap();
    o.log.committed(&logged, 2, durable);
    durable
}

fn holds(store: &ShardStore, i: u8) -> bool {
    let state = store.state().unwrap();
    store.prove(format!("g{i}-a").as_bytes(), state.tree_version).unwrap().0.is_some()
}

#[tokio::test]
async fn groups_only_the_log_holds_are_replayed_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let o = open(dir.path()).await;
    assert!(commit(&o, 0), "the first commit after an open waits for the disk");
    assert!(!commit(&o, 1), "later ones leave it to the log");
    let before = o.store.state().unwrap();
    log_only(&o, 2);
    log_only(&o, 3);
    drop(o);

    let o = open(dir.path()).await;
    let durable = o.store.state().unwrap().tree_version;
    // A clean close may have made the second commit durable too.
    assert_eq!(replay(&o.store, &o.blobs).unwrap(), before.tree_version - durable + 2);
    let state = o.store.state().unwrap();
    assert_eq!(state.tree_version, before.tree_version + 2);
    assert!((0..4).all(|i| holds(&o.store, i)));
    // Replayed groups are checkpointed: nothing is replayed twice.
    assert_eq!(replay(&o.store, &o.blobs).unwrap(), 0);
    assert_eq!(o.store.state().unwrap(), state);
}

#[tokio::test]
async fn an_edited_record_ends_the_replay_before_it() {
    // The operator flips a byte of the second logged group's record; then also rewrites the
    // record's checksum in its header, so only the seal can tell.
    for fix_checksum in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let o = open(dir.path()).await;
        commit(&o, 0);
        log_only(&o, 1);
        let edited = log_only(&o, 2);
        log_only(&o, 3);
        let (segment, offset) = edited.at();
        drop(o);
        let path = dir.path().join("blobs/segments").join(format!("{segment:016x}.seg"));
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
        let mut header = [0u8; 40];
        file.read_exact_at(&mut header, offset).unwrap();
        assert_eq!(&header[..4], b"IRLG");
        let len = u32::from_le_bytes(header[4..8].try_into().unwrap()) as usize;
        let mut record = vec![0u8; len];
        file.read_exact_at(&mut record, offset + 40).unwrap();
        record[len / 2] ^= 1;
        file.write_all_at(&record, offset + 40).unwrap();
        if fix_checksum {
            file.write_all_at(&Sha256::digest(&record), offset + 8).unwrap();
        }
        drop(file);

        let o = open(dir.path()).await;
        replay(&o.store, &o.blobs).unwrap();
        assert!(holds(&o.store, 0) && holds(&o.store, 1), "fix_checksum {fix_checksum}");
        assert!(
            !holds(&o.store, 2) && !holds(&o.store, 3),
            "fix_checksum {fix_checksum}: replayed past the edit"
        );
    }
}

#[tokio::test]
async fn of_two_records_after_the_same_group_the_later_is_followed() {
    // A group logged and then failed (its commit did not happen), then the group written after
    // it: both name the same committed group before them.
    let dir = tempfile::tempdir().unwrap();
    let o = open(dir.path()).await;
    commit(&o, 0);
    let failed = log_only(&o, 1);
    o.log.failed(Some(&failed));
    log_only(&o, 2);
    drop(o);

    let o = open(dir.path()).await;
    assert_eq!(replay(&o.store, &o.blobs).unwrap(), 1);
    assert!(holds(&o.store, 0) && holds(&o.store, 2));
    assert!(!holds(&o.store, 1));
}

#[tokio::test]
async fn a_failed_group_is_not_replayed_once_a_checkpoint_followed_it() {
    // A group logged durably whose commit then failed (its writes were answered with the
    // error), with nothing after it: the committer's idle checkpoint moves past its record.
    let dir = tempfile::tempdir().unwrap();
    let o = open(dir.path()).await;
    assert!(commit(&o, 0));
    let failed = log_only(&o, 1);
    o.log.failed(Some(&failed));
    assert!(o.log.checkpoint(&o.store).unwrap(), "a failed group needs a checkpoint");
    assert!(!o.log.checkpoint(&o.store).unwrap(), "and only one");
    drop(o);

    let o = open(dir.path()).await;
    assert_eq!(replay(&o.store, &o.blobs).unwrap(), 0);
    assert!(holds(&o.store, 0));
    assert!(!holds(&o.store, 1), "a write answered as failed came back");
    // The log goes on from the committed group.
    commit(&o, 2);
    assert!(holds(&o.store, 0) && holds(&o.store, 2) && !holds(&o.store, 1));
}

#[tokio::test]
async fn compaction_leaves_the_segments_a_log_still_needs() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open_with_segment_len(dir.path(), 64 * 1024).unwrap();
    let blobs: Vec<Bytes> = (0..120u64).map(|i| Bytes::from(vec![i as u8; 2000 + i as usize])).collect();
    let mut cids = Vec::new();
    for group in blobs.chunks(8) {
        let planned = PlannedBlobs::new(group.to_vec()).unwrap();
        cids.extend_from_slice(planned.cids());
        let record = format!("record after {} blobs", cids.len());
        let (_, digest, durable) = store.stage_with_record(planned_blocks(group), record.as_bytes()).unwrap();
        assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(record.as_bytes())));
        durable().unwrap();
    }
    let segments = store.space_usage().unwrap().segments;
    assert!(segments > 3);
    let records = store.records_from((0, 0)).unwrap();
    assert_eq!(records.len(), 15);
    assert_eq!(records[14].1, b"record after 120 blobs");

    // Every blob dead: every sealed segment is due for compaction, but a log holds the first.
    store.hold(1, Some(records[0].0));
    store.remove_blocks(cids).await.unwrap();
    assert_eq!(store.space_usage().unwrap().segments, segments, "compacted a held segment");
    assert_eq!(store.records_from((0, 0)).unwrap(), records);
    // Released, they go at the next compaction.
    store.hold(1, None);
    store.compact().await.unwrap();
    assert_eq!(store.space_usage().unwrap().segments, 1);
    assert!(store.records_from((0, 0)).unwrap().len() < records.len());
}

fn planned_blocks(group: &[Bytes]) -> Vec<(ironroot_keeper::blobs::Cid, Bytes)> {
    group.iter().map(|b| (raw_cid(b), b.clone())).collect()
}
