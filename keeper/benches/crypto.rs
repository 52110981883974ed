//! Seal/open throughput of the record envelope (AES-256-GCM data key wrapped by the app KEK).
//! Run: `cargo bench -p ironroot-keeper --bench crypto`; results land under target/criterion.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ironroot_keeper::crypto::{open, seal, Padding, RecordContext};
use ironroot_keeper::keys::{AppId, Kek, ShardId};
use zeroize::Zeroizing;

fn envelope(c: &mut Criterion) {
    let kek = Kek::new(1, Zeroizing::new([0x42; 32]));
    let ctx =
        RecordContext { app: AppId([7; 32]), scope: ShardId(0).into(), key: b"bench/record", version: 1 };
    let mut group = c.benchmark_group("envelope");
    for (name, len) in [("1KiB", 1024usize), ("64KiB", 64 * 1024)] {
        let value = vec![0x5Au8; len];
        let blob = seal(&kek, &ctx, &value, Padding::Buckets).expect("seal");
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::new("seal", name), &value, |b, v| {
            b.iter(|| seal(&kek, &ctx, v, Padding::Buckets).expect("seal"))
        });
        group.bench_with_input(BenchmarkId::new("open", name), &blob, |b, blob| {
            b.iter(|| open(&kek, &ctx, blob).expect("open"))
        });
    }
    group.finish();
}

criterion_group!(benches, envelope);
criterion_main!(benches);
