//! alloc+free pairs per kmalloc size class on one core: memserver's cache path (guard held for
//! the batch, as a server thread holds it for one message), glibc `malloc`/`free` and the
//! `mimalloc` crate, measured in the same run. `cargo bench -p memserver-core --bench slab`.
use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use memserver_core::kmalloc::KMALLOC_SIZES;
use memserver_core::platform::host::HostArena;
use memserver_core::platform::Platform;
use memserver_core::topology::{CoreId, Topology};
use memserver_core::{Allocator, OwnerId};
use mimalloc::MiMalloc;

fn pairs(c: &mut Criterion) {
    let arena = HostArena::new(64 << 20, 1).unwrap();
    let a = Allocator::new(Topology::uniform(1, 1).unwrap(), arena.memory()).unwrap();
    let set = a.kmalloc_set_create(OwnerId(1)).unwrap();
    let mut group = c.benchmark_group("pair");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30);
    for (class, &size) in KMALLOC_SIZES.iter().enumerate() {
        let id = set.caches[class];
        group.bench_with_input(BenchmarkId::new("memserver", size), &size, |b, _| {
            let mut g = a.core(CoreId(0)).unwrap();
            b.iter(|| {
                let p = g.alloc(id).unwrap();
                g.free(id, black_box(p)).unwrap();
            })
        });
        group.bench_with_input(BenchmarkId::new("glibc", size), &size, |b, &size| {
            b.iter(|| {
                // SAFETY: plain malloc/free of a non-zero size; the pointer is freed once.
                unsafe {
                    let p = libc::malloc(black_box(size));
                    libc::free(black_box(p));
                }
            })
        });
        group.bench_with_input(BenchmarkId::new("mimalloc", size), &size, |b, &size| {
            let layout = Layout::from_size_align(size, 8).unwrap();
            b.iter(|| {
                // SAFETY: non-zero-size layout; the pointer is freed once with the same layout.
                unsafe {
                    let p = MiMalloc.alloc(black_box(layout));
                    MiMalloc.dealloc(black_box(p), layout);
                }
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("pair_64_guard_per_pair");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30);
    let id = set.caches[3];
    group.bench_function("memserver", |b| {
        b.iter(|| {
            let mut g = a.core(CoreId(0)).unwrap();
            let p = g.alloc(id).unwrap();
            g.free(id, black_box(p)).unwrap();
        })
    });
    group.bench_function("memserver_kmalloc", |b| {
        let mut g = a.core(CoreId(0)).unwrap();
        b.iter(|| {
            let p = g.kmalloc(&set, black_box(64)).unwrap();
            g.kfree(&set, black_box(p)).unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, pairs);
criterion_main!(benches);
