//! The speed targets of issue 6 that run on the host, each against its peers in the same run.
//! `report` (run by `cargo xtask bench`) turns the medians into ratios.
//!
//! - `fast_path_64`: one alloc + free of a 64-byte object; memserver through a held `CoreGuard`
//!   and a cache resolved once (`CoreGuard::cache`, Linux's `struct kmem_cache *`), and as a
//!   diagnostic by handle on every call (`memserver_by_handle`, each call resolving the handle).
//! - `kmalloc_mixed`: the fixed-seed trace of `workload` (one element = free + alloc of one slot);
//!   memserver through a set resolved once (`CoreGuard::kmalloc_set`), and as a diagnostic with
//!   the set passed on every call (`memserver_by_set`).
//! - `class_batch`: per kmalloc class, 32 allocations then 32 frees (the plot's throughput).
//! - `two_cores`: alloc + free pairs on one pinned thread, and on two threads on two cores (one
//!   shared cache; as diagnostics one cache per thread, and one allocator per thread; and
//!   mimalloc's same pattern as the machine's control).
//! - `producer_consumer`: a pinned producer allocates batches of 1024, a pinned consumer on the
//!   other core frees them (remote frees), against one thread doing both in the same batches
//!   (`local`); with one node and with two nodes. A batch is one hand-over between the threads,
//!   so that the row measures the allocator's remote frees rather than the threads'
//!   synchronisation (`handover_only` is the hand-over alone).
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use memserver::kmalloc::KMALLOC_SIZES;
use memserver::CacheId;
use memserver_bench::fixture::{Fixture, CORE0, CORE1, OWNER};
use memserver_bench::peers::{Block, Glibc, Mimalloc, Peer};
use memserver_bench::pin;
use memserver_bench::workload::Trace;

const ARENA: usize = 256 << 20;
const BATCH: usize = 32;
/// Objects per hand-over between the producer and consumer threads.
const PC_BATCH: usize = 1024;

fn fast_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("fast_path_64");
    g.throughput(Throughput::Elements(1));
    let f = Fixture::new(1, 1, ARENA).unwrap();
    let id = f.cache("bench-64", 64).unwrap();
    let mut guard = f.alloc.core(CORE0).unwrap();
    {
        let mut cache = guard.cache(id).unwrap();
        g.bench_function("memserver", |b| {
            b.iter(|| {
                let a = cache.alloc().unwrap();
                cache.free(black_box(a)).unwrap();
            })
        });
    }
    g.bench_function("memserver_by_handle", |b| {
        b.iter(|| {
            let a = guard.alloc(black_box(id)).unwrap();
            guard.free(id, black_box(a)).unwrap();
        })
    });
    drop(guard);
    peer_pair::<Mimalloc>(&mut g, 64);
    peer_pair::<Glibc>(&mut g, 64);
    g.finish();
}

fn peer_pair<P: Peer>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    size: usize,
) {
    g.bench_function(P::NAME, |b| {
        b.iter(|| {
            let blk = P::alloc(black_box(size)).unwrap();
            P::free(black_box(blk));
        })
    });
}

fn kmalloc_mixed(c: &mut Criterion) {
    let trace = Trace::standard();
    let mut g = c.benchmark_group("kmalloc_mixed");
    g.throughput(Throughput::Elements(trace.steps.len() as u64));
    let f = Fixture::new(1, 1, ARENA).unwrap();
    let set = f.alloc.kmalloc_set_create(OWNER).unwrap();
    {
        let mut guard = f.alloc.core(CORE0).unwrap();
        let mut live: Vec<usize> = trace
            .initial
            .iter()
            .map(|&s| guard.kmalloc(&set, s).unwrap())
            .collect();
        {
            let mut k = guard.kmalloc_set(&set).unwrap();
            g.bench_function("memserver", |b| {
                b.iter(|| {
                    for s in &trace.steps {
                        let slot = &mut live[s.slot as usize];
                        k.kfree(*slot).unwrap();
                        *slot = k.kmalloc(black_box(s.size as usize)).unwrap();
                    }
                })
            });
        }
        g.bench_function("memserver_by_set", |b| {
            b.iter(|| {
                for s in &trace.steps {
                    let slot = &mut live[s.slot as usize];
                    guard.kfree(&set, *slot).unwrap();
                    *slot = guard.kmalloc(&set, black_box(s.size as usize)).unwrap();
                }
            })
        });
        for a in live {
            guard.kfree(&set, a).unwrap();
        }
    }
    peer_mixed::<Mimalloc>(&mut g, &trace);
    peer_mixed::<Glibc>(&mut g, &trace);
    g.finish();
}

fn peer_mixed<P: Peer>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    trace: &Trace,
) {
    let mut live: Vec<Option<Block<P>>> = trace.initial.iter().map(|&s| P::alloc(s)).collect();
    g.bench_function(P::NAME, |b| {
        b.iter(|| {
            for s in &trace.steps {
                let slot = &mut live[s.slot as usize];
                if let Some(old) = slot.take() {
                    P::free(old);
                }
                *slot = P::alloc(black_box(s.size as usize));
            }
        })
    });
    for b in live.into_iter().flatten() {
        P::free(b);
    }
}

fn class_batch(c: &mut Criterion) {
    let mut g = c.benchmark_group("class_batch");
    g.throughput(Throughput::Elements(BATCH as u64));
    let f = Fixture::new(1, 1, ARENA).unwrap();
    let set = f.alloc.kmalloc_set_create(OWNER).unwrap();
    let mut held = [0usize; BATCH];
    for &size in KMALLOC_SIZES.iter() {
        let mut guard = f.alloc.core(CORE0).unwrap();
        g.bench_with_input(BenchmarkId::new("memserver", size), &size, |b, &size| {
            b.iter(|| {
                for h in held.iter_mut() {
                    *h = guard.kmalloc(&set, black_box(size)).unwrap();
                }
                for &h in held.iter() {
                    guard.kfree(&set, h).unwrap();
                }
            })
        });
        drop(guard);
        peer_batch::<Mimalloc>(&mut g, size);
        peer_batch::<Glibc>(&mut g, size);
    }
    g.finish();
}

fn peer_batch<P: Peer>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    size: usize,
) {
    let mut held: Vec<Block<P>> = Vec::with_capacity(BATCH);
    g.bench_with_input(BenchmarkId::new(P::NAME, size), &size, |b, &size| {
        b.iter(|| {
            for _ in 0..BATCH {
                held.push(P::alloc(black_box(size)).unwrap());
            }
            for blk in held.drain(..) {
                P::free(blk);
            }
        })
    });
}

/// Runs `work(core, iters)` on one pinned thread per core in `cores`. The threads meet at a
/// spinning barrier once each runs on its own CPU, so that thread start-up and wake-up latency
/// stay outside the measurement; returns the time from the last thread's start to the last
/// thread's end, as the threads saw it.
fn on_cores(cores: &[usize], iters: u64, work: impl Fn(usize, u64) + Sync) -> Duration {
    let arrived = AtomicUsize::new(0);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = cores
            .iter()
            .map(|&c| {
                let (arrived, work) = (&arrived, &work);
                s.spawn(move || {
                    pin::to_cpu(c % pin::online_cpus()).expect("pin thread");
                    arrived.fetch_add(1, Ordering::AcqRel);
                    while arrived.load(Ordering::Acquire) < cores.len() {
                        std::hint::spin_loop();
                    }
                    let start = Instant::now();
                    work(c, iters);
                    (start, Instant::now())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let start = spans
        .iter()
        .map(|s| s.0)
        .max()
        .expect("one thread at least");
    let end = spans
        .iter()
        .map(|s| s.1)
        .max()
        .expect("one thread at least");
    end - start
}

fn pairs(f: &Fixture, id: CacheId, core: usize, iters: u64) {
    let mut guard = f
        .alloc
        .core(memserver::topology::CoreId(core as u8))
        .unwrap();
    for _ in 0..iters {
        let a = guard.alloc(black_box(id)).unwrap();
        guard.free(id, black_box(a)).unwrap();
    }
}

fn two_cores(c: &mut Criterion) {
    let mut g = c.benchmark_group("two_cores");
    g.throughput(Throughput::Elements(1));
    let f = Fixture::new(1, 2, ARENA).unwrap();
    let id = f.cache("bench-64", 64).unwrap();
    g.bench_function("one_thread", |b| {
        b.iter_custom(|iters| on_cores(&[0], iters, |c, n| pairs(&f, id, c, n)))
    });
    // Each of the two threads does `iters` pairs: throughput is twice the elements per time.
    g.bench_function("two_threads", |b| {
        b.iter_custom(|iters| on_cores(&[0, 1], iters, |c, n| pairs(&f, id, c, n)))
    });
    // Diagnostic: the same with one cache per thread, so that no slab (and none of its per-object
    // state bytes) is shared between the two cores.
    let own = [id, f.cache("bench-64-b", 64).unwrap()];
    g.bench_function("two_threads_own_caches", |b| {
        b.iter_custom(|iters| on_cores(&[0, 1], iters, |c, n| pairs(&f, own[c], c, n)))
    });
    // Diagnostic: two allocators sharing nothing at all, one per thread.
    let (fa, fb) = (
        Fixture::new(1, 1, ARENA / 4).unwrap(),
        Fixture::new(1, 1, ARENA / 4).unwrap(),
    );
    let (ida, idb) = (
        fa.cache("bench-64", 64).unwrap(),
        fb.cache("bench-64", 64).unwrap(),
    );
    g.bench_function("two_threads_own_allocators", |b| {
        b.iter_custom(|iters| {
            on_cores(&[0, 1], iters, |c, n| {
                if c == 0 {
                    pairs(&fa, ida, 0, n)
                } else {
                    pairs(&fb, idb, 0, n)
                }
            })
        })
    });
    // Control: the same pattern through mimalloc, whose thread-local heaps share nothing; its
    // two-thread speedup is what this machine's two CPUs allow.
    let mi = |_: usize, n: u64| {
        for _ in 0..n {
            let blk = Mimalloc::alloc(black_box(64)).unwrap();
            Mimalloc::free(black_box(blk));
        }
    };
    g.bench_function("mimalloc_one_thread", |b| {
        b.iter_custom(|iters| on_cores(&[0], iters, mi))
    });
    g.bench_function("mimalloc_two_threads", |b| {
        b.iter_custom(|iters| on_cores(&[0, 1], iters, mi))
    });
    g.finish();
}

/// One thread allocating and freeing batches of `PC_BATCH` (the local reference).
fn local_batches(f: &Fixture, id: CacheId, objects: u64) -> Duration {
    on_cores(&[0], objects, |_, n| {
        let mut guard = f.alloc.core(CORE0).unwrap();
        let mut held = [0usize; PC_BATCH];
        for _ in 0..n.div_ceil(PC_BATCH as u64) {
            for h in held.iter_mut() {
                *h = guard.alloc(id).unwrap();
            }
            for &h in held.iter() {
                guard.free(id, black_box(h)).unwrap();
            }
        }
    })
}

/// A producer on core 0 allocating batches, a consumer on core 1 freeing them. Batches travel
/// through a channel polled without sleeping (both threads spin on their own core); at most four
/// batch buffers circulate.
fn remote_batches(f: &Fixture, id: CacheId, objects: u64, work: bool) -> Duration {
    let batches = objects.div_ceil(PC_BATCH as u64);
    let (full_tx, full_rx) = mpsc::channel::<Box<[usize; PC_BATCH]>>();
    let (empty_tx, empty_rx) = mpsc::channel::<Box<[usize; PC_BATCH]>>();
    for _ in 0..4 {
        empty_tx.send(Box::new([0; PC_BATCH])).unwrap();
    }
    let full_rx = Arc::new(std::sync::Mutex::new(full_rx));
    let empty_rx = std::sync::Mutex::new(empty_rx);
    let full_tx = std::sync::Mutex::new(full_tx);
    let empty_tx = std::sync::Mutex::new(empty_tx);
    on_cores(&[0, 1], batches, |core, n| {
        if core == 0 {
            let mut guard = f.alloc.core(CORE0).unwrap();
            let rx = empty_rx.lock().unwrap();
            let tx = full_tx.lock().unwrap().clone();
            for _ in 0..n {
                let mut buf = loop {
                    match rx.try_recv() {
                        Ok(b) => break b,
                        Err(_) => std::hint::spin_loop(),
                    }
                };
                if work {
                    for h in buf.iter_mut() {
                        *h = guard.alloc(id).unwrap();
                    }
                }
                tx.send(buf).unwrap();
            }
        } else {
            let mut guard = f.alloc.core(CORE1).unwrap();
            let rx = full_rx.lock().unwrap();
            let tx = empty_tx.lock().unwrap().clone();
            for _ in 0..n {
                let buf = loop {
                    match rx.try_recv() {
                        Ok(b) => break b,
                        Err(_) => std::hint::spin_loop(),
                    }
                };
                if work {
                    for &h in buf.iter() {
                        guard.free(id, h).unwrap();
                    }
                }
                // The producer may have finished and dropped its receiver.
                let _ = tx.send(buf);
            }
        }
    })
}

fn producer_consumer(c: &mut Criterion) {
    let mut g = c.benchmark_group("producer_consumer");
    g.throughput(Throughput::Elements(PC_BATCH as u64));
    let one = Fixture::new(1, 2, ARENA).unwrap();
    let id1 = one.cache("bench-64", 64).unwrap();
    g.bench_function("local", |b| {
        b.iter_custom(|iters| local_batches(&one, id1, iters * PC_BATCH as u64))
    });
    g.bench_function("remote_1node", |b| {
        b.iter_custom(|iters| remote_batches(&one, id1, iters * PC_BATCH as u64, true))
    });
    // Diagnostic: the same hand-over of batches with no allocation or free at all, the floor the
    // harness itself sets on this machine.
    g.bench_function("handover_only", |b| {
        b.iter_custom(|iters| remote_batches(&one, id1, iters * PC_BATCH as u64, false))
    });
    let two = Fixture::new(2, 1, ARENA).unwrap();
    let id2 = two.cache("bench-64", 64).unwrap();
    g.bench_function("remote_2nodes", |b| {
        b.iter_custom(|iters| remote_batches(&two, id2, iters * PC_BATCH as u64, true))
    });
    g.finish();
}

criterion_group!(
    benches,
    fast_path,
    kmalloc_mixed,
    class_batch,
    two_cores,
    producer_consumer
);

fn main() {
    // Single-thread benches run on the measuring thread: keep it on one CPU. (`cargo xtask bench`
    // also starts this process with a real-time policy when it may, which every thread inherits,
    // so that the shared machine's other processes do not preempt a measurement.)
    pin::to_cpu(0).expect("pin the measuring thread");
    benches();
    Criterion::default().configure_from_args().final_summary();
}
