//! Buddy layer speed against the `buddy_system_allocator` crate's frame allocator (the same
//! out-of-line design: frame numbers, orders 0..=10, behind a spin lock), in the same run.
//! `pair`: one alloc + free on an unfragmented zone (split and merge over the full height).
//! `batch256`: 256 allocations of one order, then 256 frees (slab-refill pattern).
use std::hint::black_box;

use buddy_system_allocator::LockedFrameAllocator;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use memserver_core::buddy::{Buddy, MAX_ORDER, PAGE_SHIFT, PAGE_SIZE};
use memserver_core::platform::MemRange;
use memserver_core::topology::{NodeId, Topology};

/// The buddy layer never touches the frames, so the zone can use made-up addresses.
const BASE: usize = 0x1_0000_0000;
const FRAMES: usize = 16 << MAX_ORDER;
const BATCH: usize = 256;

fn ours() -> Buddy {
    let topo = Topology::uniform(1, 1).unwrap();
    let mem = [MemRange {
        node: NodeId(0),
        base: BASE,
        len: FRAMES * PAGE_SIZE,
    }];
    Buddy::new(&topo, &mem).unwrap()
}

fn theirs() -> LockedFrameAllocator<{ MAX_ORDER as usize + 1 }> {
    let fa = LockedFrameAllocator::<{ MAX_ORDER as usize + 1 }>::new();
    let first = BASE >> PAGE_SHIFT;
    fa.lock().add_frame(first, first + FRAMES);
    fa
}

fn pair(c: &mut Criterion) {
    let mut g = c.benchmark_group("buddy_pair");
    for order in 0u8..=3 {
        let b = ours();
        g.bench_with_input(BenchmarkId::new("memserver", order), &order, |bn, &o| {
            bn.iter(|| {
                let blk = b.alloc(black_box(o), NodeId(0)).unwrap();
                b.free(black_box(blk.addr), o).unwrap();
            })
        });
        let fa = theirs();
        g.bench_with_input(
            BenchmarkId::new("buddy_system_allocator", order),
            &order,
            |bn, &o| {
                bn.iter(|| {
                    let f = fa.lock().alloc(black_box(1 << o)).unwrap();
                    fa.lock().dealloc(black_box(f), 1 << o);
                })
            },
        );
    }
    g.finish();
}

fn batch(c: &mut Criterion) {
    let mut g = c.benchmark_group("buddy_batch256");
    g.throughput(Throughput::Elements(2 * BATCH as u64));
    for order in 0u8..=3 {
        let b = ours();
        let mut held = Vec::with_capacity(BATCH);
        g.bench_with_input(BenchmarkId::new("memserver", order), &order, |bn, &o| {
            bn.iter(|| {
                for _ in 0..BATCH {
                    held.push(b.alloc(o, NodeId(0)).unwrap().addr);
                }
                for a in held.drain(..) {
                    b.free(a, o).unwrap();
                }
            })
        });
        let fa = theirs();
        g.bench_with_input(
            BenchmarkId::new("buddy_system_allocator", order),
            &order,
            |bn, &o| {
                bn.iter(|| {
                    for _ in 0..BATCH {
                        held.push(fa.lock().alloc(1 << o).unwrap());
                    }
                    for f in held.drain(..) {
                        fa.lock().dealloc(f, 1 << o);
                    }
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, pair, batch);
criterion_main!(benches);
