//! The local pack store against the machine's operator and crashes: flipped bytes, torn tails, a
//! writer killed with SIGKILL mid-stream (one writer, and several sharing syncs), failed syncs,
//! stray segment files, and compaction's space bound.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::process::{Command, Stdio};

use bytes::Bytes;
use ironroot_keeper::blobs::{
    raw_cid, BlobError, BlobStore, Cid, LocalBlobStore, MAX_BLOCK_LEN, PREALLOCATE_LEN,
};
use sha2::{Digest, Sha256};

const CHILD_DIR_ENV: &str = "IRONROOT_PACK_CHILD_DIR";
/// Concurrent writers in the shared-sync SIGKILL test, as a keeper's shards are.
const CHILD_WRITERS: u64 = 4;

/// Deterministic blob `i` of a run: lengths vary from a few bytes to above one block.
fn blob(i: u64) -> Bytes {
    let len = match i % 5 {
        0 => 3,
        1 => 1024,
        2 => 2100,
        3 => 70_000,
        _ => MAX_BLOCK_LEN + 17,
    };
    let mut out = Vec::with_capacity(len + 32);
    let mut counter = 0u64;
    while out.len() < len {
        out.extend_from_slice(
            &Sha256::new().chain_update(i.to_le_bytes()).chain_update(counter.to_le_bytes()).finalize(),
        );
        counter += 1;
    }
    out.truncate(len);
    Bytes::from(out)
}

/// Asserts that the segment file holds `records` bytes and only zeros (written ahead) after them.
fn assert_records_then_zeros(path: &std::path::Path, records: u64) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.len() as u64 >= records,
        "{} holds {} bytes, fewer than {records}",
        path.display(),
        bytes.len()
    );
    let at = records as usize;
    assert!(bytes[at..].iter().all(|b| *b == 0), "{} holds more than zeros after {records}", path.display());
}

/// What a crash mid-append leaves: a record's header and half of its block.
fn torn_record(block: &[u8]) -> Vec<u8> {
    let digest: [u8; 32] = Sha256::digest(block).into();
    let mut partial = b"IRBK".to_vec();
    partial.extend_from_slice(&(block.len() as u32).to_le_bytes());
    partial.extend_from_slice(&digest);
    partial.extend_from_slice(&block[..block.len() / 2]);
    partial
}

fn segment_files(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> =
        std::fs::read_dir(root.join("segments")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

#[tokio::test]
async fn a_flipped_byte_on_disk_is_a_cid_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).unwrap();
    let data = blob(1);
    let cid = store.put(data.clone()).await.unwrap();
    let at = store.block_location(&cid).unwrap().unwrap();
    assert_eq!(at.len, data.len() as u64);
    let segment = std::fs::OpenOptions::new().read(true).write(true).open(&at.path).unwrap();
    let mut byte = [0u8];
    segment.read_exact_at(&mut byte, at.offset + 500).unwrap();
    segment.write_all_at(&[byte[0] ^ 0x04], at.offset + 500).unwrap();
    match store.get(&cid).await {
        Err(BlobError::CidMismatch { expected, actual }) => {
            assert_eq!(*expected, cid);
            assert_eq!(
                *actual,
                raw_cid(&{
                    let mut bad = data.to_vec();
                    bad[500] ^= 0x04;
                    bad
                })
            );
        }
        other => panic!("want CidMismatch, got {other:?}"),
    }
    // Still a mismatch after a reopen: verification is on every read, not at open.
    drop(store);
    let store = LocalBlobStore::open(dir.path()).unwrap();
    assert!(matches!(store.get(&cid).await, Err(BlobError::CidMismatch { .. })));
}

#[tokio::test]
async fn a_torn_tail_is_detected_and_truncated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).unwrap();
    let kept: Vec<_> = (0..4).map(blob).collect();
    let cids = store.put_many(kept.clone()).await.unwrap();
    drop(store);
    let segment = segment_files(dir.path()).pop().unwrap();
    let whole = std::fs::metadata(&segment).unwrap().len();

    // A crash mid-append: a record header and part of its block, then nothing.
    let torn = blob(7);
    let partial = torn_record(&torn);
    std::fs::OpenOptions::new().append(true).open(&segment).unwrap().write_all(&partial).unwrap();

    let store = LocalBlobStore::open(dir.path()).unwrap();
    assert_eq!(store.recovery().truncated_bytes, partial.len() as u64);
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), whole);
    for (cid, data) in cids.iter().zip(&kept) {
        assert_eq!(store.get(cid).await.unwrap(), *data);
    }
    assert!(matches!(store.get(&raw_cid(&torn)).await, Err(BlobError::NotFound(_))));
    // New writes go after the last whole record and survive the next open untouched.
    let later = store.put(blob(8)).await.unwrap();
    drop(store);
    let store = LocalBlobStore::open(dir.path()).unwrap();
    assert_eq!(store.recovery().truncated_bytes, 0);
    assert_eq!(store.get(&later).await.unwrap(), blob(8));

    // Cut into the last record: that record is gone (never acknowledged, after a real crash),
    // the ones before it stay, and the index forgets what the file no longer holds.
    let at = store.block_location(&later).unwrap().unwrap();
    drop(store);
    std::fs::OpenOptions::new().write(true).open(&at.path).unwrap().set_len(at.offset + at.len / 2).unwrap();
    let store = LocalBlobStore::open(dir.path()).unwrap();
    assert!(matches!(store.get(&later).await, Err(BlobError::NotFound(_))));
    assert_eq!(store.get(&cids[3]).await.unwrap(), kept[3]);
    let again = store.put(blob(9)).await.unwrap();
    assert_eq!(store.get(&again).await.unwrap(), blob(9));
}

#[tokio::test]
async fn appends_overwrite_zeros_written_ahead_which_close_and_reopen_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).unwrap();
    let first = store.put_many((0..4).map(blob).collect()).await.unwrap();
    let segment = segment_files(dir.path()).pop().unwrap();
    let records = store.space_usage().unwrap().file_bytes;
    // The file was extended once, ahead of the records; the next groups write into it.
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), PREALLOCATE_LEN);
    assert_records_then_zeros(&segment, records);
    let second = store.put_many((5..9).map(blob).collect()).await.unwrap();
    let records = store.space_usage().unwrap().file_bytes;
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), PREALLOCATE_LEN);
    assert_records_then_zeros(&segment, records);

    // A clean close cuts the zeros off.
    drop(store);
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), records);

    // After a crash they are still there: the open cuts them off, and they are no torn bytes.
    let mut file = std::fs::OpenOptions::new().append(true).open(&segment).unwrap();
    file.write_all(&vec![0u8; 300_000]).unwrap();
    drop(file);
    let store = LocalBlobStore::open(dir.path()).unwrap();
    assert_eq!(store.recovery().truncated_bytes, 0);
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), records);
    for (cid, i) in first.iter().chain(&second).zip((0..4).chain(5..9)) {
        assert_eq!(store.get(cid).await.unwrap(), blob(i));
    }

    // A torn record in front of them is counted, the zeros still are not.
    let partial = torn_record(&blob(9));
    drop(store);
    let mut file = std::fs::OpenOptions::new().append(true).open(&segment).unwrap();
    file.write_all(&partial).unwrap();
    file.write_all(&vec![0u8; 100_000]).unwrap();
    drop(file);
    let store = LocalBlobStore::open(dir.path()).unwrap();
    assert_eq!(store.recovery().truncated_bytes, partial.len() as u64);
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), records);
    let later = store.put(blob(10)).await.unwrap();
    assert_eq!(store.get(&later).await.unwrap(), blob(10));

    // A group reaching more than a step past the zeros extends the file itself (its bytes are not
    // written twice); the zeros go after it.
    let values: Vec<Bytes> = (1..=8u8).map(|i| Bytes::from(vec![i; 300_000])).collect();
    let large = store.put_many(values.clone()).await.unwrap();
    let records = store.space_usage().unwrap().file_bytes;
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), records + PREALLOCATE_LEN);
    assert_records_then_zeros(&segment, records);
    for (cid, value) in large.iter().zip(values) {
        assert_eq!(store.get(cid).await.unwrap(), value);
    }
}

/// Not a test on its own: the writer the SIGKILL test runs in a child process. It writes groups
/// of blobs forever and prints the index of each group once `put_many` has acknowledged it.
#[tokio::test]
async fn child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else { return };
    let store = LocalBlobStore::open_with_segment_len(&dir, 256 * 1024).unwrap();
    let mut stdout = std::io::stdout();
    for group in 0u64.. {
        let blobs = (group * 4..group * 4 + 4).map(blob).collect();
        store.put_many(blobs).await.unwrap();
        writeln!(stdout, "acked {group}").unwrap();
        stdout.flush().unwrap();
    }
}

/// Runs the test `name` of this binary as a child process writing into `dir`, its stdout piped.
fn spawn_child(name: &str, dir: &std::path::Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([&format!("pack_store::{name}"), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn acknowledged_blobs_survive_sigkill_mid_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child("child_writer", dir.path());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    while acked.len() < 40 {
        let line = lines.next().expect("the child writes until killed").unwrap();
        if let Some(group) = line.strip_prefix("acked ") {
            acked.push(group.parse::<u64>().unwrap());
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no flush, wherever the child was
    child.wait().unwrap();
    for line in lines {
        if let Some(group) = line.unwrap().strip_prefix("acked ") {
            acked.push(group.parse().unwrap());
        }
    }

    let store = LocalBlobStore::open_with_segment_len(dir.path(), 256 * 1024).unwrap();
    eprintln!("{} groups acknowledged; recovery {:?}", acked.len(), store.recovery());
    assert!(segment_files(dir.path()).len() > 1, "the run rolled segments");
    for group in &acked {
        for i in group * 4..group * 4 + 4 {
            let data = blob(i);
            assert_eq!(store.get(&raw_cid_of_blob(&store, &data).await).await.unwrap(), data, "blob {i}");
        }
    }
    // The repaired store takes writes and keeps them across another open.
    let next = acked.last().unwrap() + 1_000;
    let cid = store.put(blob(next)).await.unwrap();
    drop(store);
    let store = LocalBlobStore::open_with_segment_len(dir.path(), 256 * 1024).unwrap();
    assert_eq!(store.recovery().truncated_bytes, 0);
    assert_eq!(store.get(&cid).await.unwrap(), blob(next));
}

/// The CID a blob is stored under (chunked blobs are named by their chunk list); storing it again
/// is idempotent, so this only computes and checks.
async fn raw_cid_of_blob(store: &LocalBlobStore, data: &Bytes) -> ironroot_keeper::blobs::Cid {
    let before = store.space_usage().unwrap().file_bytes;
    let cid = store.put(data.clone()).await.unwrap();
    assert_eq!(store.space_usage().unwrap().file_bytes, before, "already held: nothing written");
    cid
}

#[tokio::test]
async fn removal_compacts_segments_within_twice_the_live_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let segment_len = 64 * 1024;
    let store = LocalBlobStore::open_with_segment_len(dir.path(), segment_len).unwrap();
    let blobs: Vec<Bytes> = (0..240u64).map(|i| Bytes::from(vec![i as u8; 2000 + i as usize])).collect();
    let mut cids = Vec::new();
    for group in blobs.chunks(8) {
        cids.extend(store.put_many(group.to_vec()).await.unwrap());
    }
    let full = store.space_usage().unwrap();
    assert!(full.segments > 5, "{full:?}");
    assert_eq!(full.dead_bytes, 0);

    // Remove three of every four blobs: most segments drop below half live and are compacted.
    let (dead, live): (Vec<_>, Vec<_>) = cids.iter().zip(&blobs).enumerate().partition(|(i, _)| i % 4 != 0);
    let dead_cids: Vec<_> = dead.iter().map(|(_, (c, _))| **c).collect();
    assert_eq!(store.remove_blocks(dead_cids.clone()).await.unwrap(), dead_cids.len() as u64);
    assert_eq!(store.remove_blocks(dead_cids[..3].to_vec()).await.unwrap(), 0, "already gone");
    let live_bytes: u64 = live.iter().map(|(_, (_, b))| b.len() as u64 + 40).sum();
    let after = store.space_usage().unwrap();
    // Sealed segments hold their records only; the active one its records, then zeros written
    // ahead.
    let files = segment_files(dir.path());
    let (active, sealed) = files.split_last().unwrap();
    let sealed_bytes: u64 = sealed.iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
    assert_records_then_zeros(active, after.file_bytes - sealed_bytes);
    assert!(after.file_bytes < full.file_bytes / 2, "{after:?} vs {full:?}");
    assert!(
        after.file_bytes <= 2 * live_bytes + segment_len + MAX_BLOCK_LEN as u64,
        "space amplification: {after:?} for {live_bytes} live bytes"
    );
    for (_, (cid, data)) in &live {
        assert_eq!(store.get(cid).await.unwrap(), **data);
    }
    for cid in &dead_cids[..10] {
        assert!(matches!(store.get(cid).await, Err(BlobError::NotFound(_))));
    }

    // A crash after compaction's index switch but before the file's deletion leaves a segment
    // the index does not list: open deletes it, and removed blocks stay removed.
    let stray = dir.path().join("segments").join(format!("{:016x}.seg", 0xfffu64));
    std::fs::write(&stray, b"IRBK leftovers").unwrap();
    drop(store);
    let store = LocalBlobStore::open_with_segment_len(dir.path(), segment_len).unwrap();
    assert_eq!(store.recovery().stray_segments, 1);
    assert!(!stray.exists());
    for (_, (cid, data)) in &live {
        assert_eq!(store.get(cid).await.unwrap(), **data);
    }
    assert!(matches!(store.get(&dead_cids[0]).await, Err(BlobError::NotFound(_))));
    // Removed content can be stored again.
    let again = store.put(blobs[1].clone()).await.unwrap();
    assert_eq!(store.get(&again).await.unwrap(), blobs[1]);
}

/// Compaction reads a segment a few megabytes at a time: in segments several times that size,
/// blocks of up to a megabyte that cross the reads' boundaries are copied whole, and every live
/// block reads back afterwards.
#[tokio::test]
async fn compaction_of_segments_larger_than_its_reads_copies_every_live_block_whole() {
    let dir = tempfile::tempdir().unwrap();
    let segment_len = 12 * 1024 * 1024;
    let store = LocalBlobStore::open_with_segment_len(dir.path(), segment_len).unwrap();
    let blobs: Vec<Bytes> = (0..48u64)
        .map(|i| {
            let len = 700_000 + (i as usize * 7_919) % (MAX_BLOCK_LEN - 700_000);
            Bytes::from((0..len).map(|j| (i as usize * 31 + j / 4096) as u8).collect::<Vec<u8>>())
        })
        .collect();
    let mut cids = Vec::new();
    for group in blobs.chunks(4) {
        cids.extend(store.put_many(group.to_vec()).await.unwrap());
    }
    let full = store.space_usage().unwrap();
    assert!(full.segments >= 3, "{full:?}");
    let (dead, live): (Vec<_>, Vec<_>) = cids.iter().zip(&blobs).enumerate().partition(|(i, _)| i % 4 != 0);
    let dead_cids: Vec<_> = dead.iter().map(|(_, (c, _))| **c).collect();
    store.remove_blocks(dead_cids.clone()).await.unwrap();
    let after = store.space_usage().unwrap();
    assert!(after.file_bytes < full.file_bytes / 2, "compacted: {after:?} vs {full:?}");
    for (_, (cid, data)) in &live {
        assert_eq!(store.get(cid).await.unwrap(), **data);
    }
    for cid in &dead_cids {
        assert!(matches!(store.get(cid).await, Err(BlobError::NotFound(_))));
    }
    drop(store);
    let store = LocalBlobStore::open_with_segment_len(dir.path(), segment_len).unwrap();
    for (_, (cid, data)) in &live {
        assert_eq!(store.get(cid).await.unwrap(), **data, "after a reopen");
    }
}

#[tokio::test]
async fn buffered_index_entries_are_served_and_written_out_at_a_clean_close() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).unwrap();
    // Fewer syncs than a buffer flush takes: every entry is in the in-memory buffer only.
    let mut stored = Vec::new();
    for group in 0..4u64 {
        let blobs: Vec<Bytes> = (0..6).map(|i| blob(group * 6 + i)).collect();
        let cids = store.put_many(blobs.clone()).await.unwrap();
        stored.extend(cids.into_iter().zip(blobs));
    }
    for (cid, data) in &stored {
        assert_eq!(store.get(cid).await.unwrap(), *data);
        assert!(store.has(cid).await.unwrap());
    }
    let usage = store.space_usage().unwrap();
    assert!(usage.file_bytes > 0, "buffered groups count in the segments' lengths: {usage:?}");
    drop(store);

    let store = LocalBlobStore::open(dir.path()).unwrap();
    assert_eq!(store.recovery(), &Default::default(), "the close wrote the buffer: nothing to rescan");
    assert_eq!(store.space_usage().unwrap(), usage);
    for (cid, data) in &stored {
        assert_eq!(store.get(cid).await.unwrap(), *data);
    }
}

#[tokio::test]
async fn a_block_removed_while_its_index_entry_is_buffered_stays_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).unwrap();
    let kept = store.put(blob(1)).await.unwrap();
    let removed = store.put(blob(6)).await.unwrap();
    assert_eq!(store.remove_blocks(vec![removed]).await.unwrap(), 1, "found through the buffer");
    assert!(matches!(store.get(&removed).await, Err(BlobError::NotFound(_))));
    assert!(store.space_usage().unwrap().dead_bytes > 0);
    drop(store);

    // The removal's transaction also recorded how far the segment is indexed: a reopen does not
    // scan the removed block back in.
    let store = LocalBlobStore::open(dir.path()).unwrap();
    assert_eq!(store.recovery().reindexed, 0);
    assert!(matches!(store.get(&removed).await, Err(BlobError::NotFound(_))));
    assert_eq!(store.get(&kept).await.unwrap(), blob(1));
}

/// Not a test on its own: [`CHILD_WRITERS`] concurrent writers, as a keeper's shards, each storing
/// groups forever and printing `acked <writer> <group>` once `put_many` acknowledged the group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_concurrent_writers() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else { return };
    let store = LocalBlobStore::open_with_segment_len(&dir, 256 * 1024).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..CHILD_WRITERS {
        let store = store.clone();
        tasks.spawn(async move {
            for group in 0u64.. {
                store.put_many(concurrent_group(writer, group)).await.unwrap();
                println!("acked {writer} {group}");
            }
        });
    }
    tasks.join_next().await;
}

/// Group `group` of writer `writer`: three blobs, none stored by another writer or group.
fn concurrent_group(writer: u64, group: u64) -> Vec<Bytes> {
    (0..3).map(|i| blob(1_000_000 + (group * CHILD_WRITERS + writer) * 3 + i)).collect()
}

#[tokio::test]
async fn groups_of_concurrent_writers_sharing_syncs_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child("child_concurrent_writers", dir.path());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    let parse = |line: &str| -> Option<(u64, u64)> {
        let (writer, group) = line.strip_prefix("acked ")?.split_once(' ')?;
        Some((writer.parse().ok()?, group.parse().ok()?))
    };
    while acked.len() < 60 {
        let line = lines.next().expect("the child writes until killed").unwrap();
        acked.extend(parse(&line));
    }
    child.kill().unwrap(); // SIGKILL, with groups of every writer appended and waiting for syncs
    child.wait().unwrap();
    acked.extend(lines.map_while(Result::ok).filter_map(|l| parse(&l)));

    let store = LocalBlobStore::open_with_segment_len(dir.path(), 256 * 1024).unwrap();
    eprintln!("{} groups acknowledged; recovery {:?}", acked.len(), store.recovery());
    assert!(segment_files(dir.path()).len() > 1, "the run rolled segments");
    for writer in 0..CHILD_WRITERS {
        assert!(acked.iter().any(|(w, _)| *w == writer), "writer {writer} was acknowledged");
    }
    for (writer, group) in &acked {
        for data in concurrent_group(*writer, *group) {
            let cid = raw_cid_of_blob(&store, &data).await;
            assert_eq!(store.get(&cid).await.unwrap(), data, "writer {writer} group {group}");
        }
    }
}

/// `n` distinct small blobs, one per concurrent group.
fn small_blobs(seed: u64, n: u64) -> Vec<Bytes> {
    (0..n).map(|i| blob((seed + i) * 5 + 2)).collect()
}

/// Stores each blob as its own group, all at once, as concurrent shards do.
async fn put_concurrently(store: &LocalBlobStore, blobs: &[Bytes]) -> Vec<Result<Cid, BlobError>> {
    let tasks: Vec<_> = blobs
        .iter()
        .map(|b| {
            let (store, b) = (store.clone(), b.clone());
            tokio::spawn(async move { store.put(b).await })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sync_makes_every_group_appended_before_it_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).unwrap();
    let before = store.sync_counts();
    // The leader's sync waits until all eight groups are appended (the failpoints hook).
    store.hold_next_sync(8, false);
    let blobs = small_blobs(100, 8);
    let cids: Vec<Cid> = put_concurrently(&store, &blobs).await.into_iter().map(Result::unwrap).collect();
    let after = store.sync_counts();
    assert_eq!((after.syncs - before.syncs, after.groups - before.groups), (1, 8), "{after:?}");
    drop(store);
    let store = LocalBlobStore::open(dir.path()).unwrap();
    assert_eq!(store.recovery().truncated_bytes, 0);
    for (cid, data) in cids.iter().zip(&blobs) {
        assert_eq!(store.get(cid).await.unwrap(), *data);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_fails_every_group_it_covered_and_the_next_write_works() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).unwrap();
    let kept = small_blobs(0, 3);
    let kept_cids = store.put_many(kept.clone()).await.unwrap();
    let usage = store.space_usage().unwrap();
    let segment = segment_files(dir.path()).pop().unwrap();
    assert_records_then_zeros(&segment, usage.file_bytes);

    // Eight groups appended, then the one sync covering them fails with EIO (the failpoints hook:
    // a real fdatasync error needs a failing device).
    store.hold_next_sync(8, true);
    let failed = small_blobs(200, 8);
    for result in put_concurrently(&store, &failed).await {
        match result {
            Err(BlobError::Io { op: "fdatasync", source, .. }) => {
                assert_eq!(source.raw_os_error(), Some(libc::EIO), "{source}");
            }
            other => panic!("every group of the failed sync fails, got {other:?}"),
        }
    }
    // Nothing of them is indexed or left in the segment: it is cut back to its last synced byte
    // (the zeros written ahead go too).
    for data in &failed {
        assert!(!store.has(&raw_cid(data)).await.unwrap());
        assert!(matches!(store.get(&raw_cid(data)).await, Err(BlobError::NotFound(_))));
    }
    assert_eq!(store.space_usage().unwrap(), usage);
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), usage.file_bytes);

    // The store takes the next writes, the failed blobs included, and keeps them across a reopen.
    let again = store.put_many(failed.clone()).await.unwrap();
    drop(store);
    let store = LocalBlobStore::open(dir.path()).unwrap();
    assert_eq!(store.recovery().truncated_bytes, 0);
    for (cid, data) in kept_cids.iter().chain(&again).zip(kept.iter().chain(&failed)) {
        assert_eq!(store.get(cid).await.unwrap(), *data);
    }
}
