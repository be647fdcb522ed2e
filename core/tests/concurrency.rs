//! Real threads bound to simulated cores on two nodes: allocation and free, objects freed on the
//! other node (alien arrays), kmalloc, shrinks racing with the hot path, and double frees racing
//! from two cores. Afterwards `validate()` holds and the accounting is exact.
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Barrier;

use common::{arena, fixture, peek, poke};
use memserver_core::topology::CoreId;
use memserver_core::{CacheFlags, CacheParams, Ctor, FreeError, OwnerId};

/// Rounds per thread; under Miri (which checks every access for data races and explores
/// interleavings by preempting threads at random) a few.
const ROUNDS: usize = if cfg!(miri) { 1 } else { 300 };

#[derive(Clone, Copy, Debug)]
enum Kind {
    Kmalloc,
    Checked,
    Plain,
}
/// Objects a thread allocates per round (a third of each kind); fewer under Miri.
const BATCH: usize = if cfg!(miri) { 24 } else { 40 };

/// Size of the plain cache's objects; larger under Miri (fewer to a slab and to a batch, the
/// same paths). The checked cache's stay small: its checks read every byte.
const PLAIN_SIZE: usize = if cfg!(miri) { 1500 } else { 72 };

#[test]
fn threads_on_two_nodes_allocate_and_free_across_nodes() {
    let a = fixture(arena(64 << 20, 2 << 20), 2, 2);
    let base = a.stats();
    let c = a
        .cache_create(CacheParams {
            name: "shared",
            size: PLAIN_SIZE,
            align: 8,
            flags: CacheFlags::empty(),
            ctor: Ctor::None,
            owner: OwnerId(1),
        })
        .unwrap();
    let dbg = a
        .cache_create(CacheParams {
            name: "checked",
            size: 200,
            align: 8,
            flags: CacheFlags::RED_ZONE | CacheFlags::POISON | CacheFlags::STORE_USER,
            ctor: Ctor::None,
            owner: OwnerId(1),
        })
        .unwrap();
    let set = a.kmalloc_set_create(OwnerId(1)).unwrap();
    let allocs = AtomicUsize::new(0);
    let frees = AtomicUsize::new(0);
    // Core t sends to core (t + 2) % 4: always the other node.
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..4)
        .map(|_| mpsc::channel::<Vec<(usize, u8, Kind)>>())
        .unzip();
    let barrier = Barrier::new(4);
    std::thread::scope(|s| {
        for (t, rx) in rxs.into_iter().enumerate() {
            let tx = txs[(t + 2) % 4].clone();
            let (a, allocs, frees, barrier) = (&a, &allocs, &frees, &barrier);
            s.spawn(move || {
                let core = CoreId(t as u8);
                let free = |g: &mut memserver_core::CoreGuard<'_>, kind: Kind, addr: usize| {
                    match kind {
                        Kind::Kmalloc => g.kfree(&set, addr),
                        Kind::Checked => g.free(dbg, addr),
                        Kind::Plain => g.free(c, addr),
                    }
                    .unwrap()
                };
                for round in 0..ROUNDS {
                    let mut mine = Vec::with_capacity(BATCH);
                    {
                        let mut g = a.core(core).unwrap();
                        for i in 0..BATCH {
                            let tag = (t * 31 + round + i) as u8;
                            let (addr, kind) = match i % 3 {
                                0 => (
                                    g.kmalloc(&set, 1 + (i * 97 + round) % 3000).unwrap(),
                                    Kind::Kmalloc,
                                ),
                                1 => (g.alloc(dbg).unwrap(), Kind::Checked),
                                _ => (g.alloc(c).unwrap(), Kind::Plain),
                            };
                            poke(addr, tag);
                            mine.push((addr, tag, kind));
                        }
                        allocs.fetch_add(BATCH, Ordering::Relaxed);
                        // Free half locally.
                        for (addr, tag, kind) in mine.drain(..BATCH / 2) {
                            assert_eq!(peek(addr), tag, "object changed under its owner");
                            free(&mut g, kind, addr);
                            frees.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    tx.send(mine).unwrap();
                    let theirs = rx.recv().unwrap();
                    let mut g = a.core(core).unwrap();
                    for (addr, tag, kind) in theirs {
                        assert_eq!(peek(addr), tag, "object changed in flight");
                        free(&mut g, kind, addr);
                        frees.fetch_add(1, Ordering::Relaxed);
                    }
                    drop(g);
                    if t == 0 && round % 50 == 0 {
                        a.cache_shrink(c).unwrap();
                    }
                }
                barrier.wait();
            });
        }
    });
    a.validate().unwrap();
    assert_eq!(allocs.load(Ordering::Relaxed), 4 * ROUNDS * BATCH);
    assert_eq!(
        frees.load(Ordering::Relaxed),
        allocs.load(Ordering::Relaxed)
    );
    let s = a.stats();
    assert_eq!(s.objects_in_use, 0);
    assert_eq!(a.owner_stats(OwnerId(1)).objects_in_use, 0);
    assert!(a.check_cache(dbg).unwrap().is_empty());
    assert_eq!(a.violations(dbg).unwrap(), 0);
    a.cache_destroy(c).unwrap();
    a.cache_destroy(dbg).unwrap();
    a.purge_owner(OwnerId(1));
    a.validate().unwrap();
    assert_eq!(a.stats(), base);
}

/// Two cores free the same objects at the same time (core 0 allocated them, so it frees with
/// plain stores and core 1 with a compare-exchange). Nearly always exactly one free of each pair
/// succeeds and the other reports a double free; when the two overlap exactly, both may succeed,
/// but the object is still handed out only once afterwards and the accounting stays exact.
#[test]
fn racing_double_frees_never_corrupt_the_allocator() {
    let a = fixture(arena(32 << 20, 2 << 20), 2, 1);
    // Under Miri larger objects: fewer to a slab and to a batch, the same paths.
    const SIZE: usize = if cfg!(miri) { 2048 } else { 32 };
    let c = a
        .cache_create(CacheParams {
            name: "race",
            size: SIZE,
            align: 8,
            flags: CacheFlags::empty(),
            ctor: Ctor::None,
            owner: OwnerId(1),
        })
        .unwrap();
    // Rounds, and objects freed twice per round (several slabs' worth); fewer under Miri.
    const RACES: usize = if cfg!(miri) { 1 } else { 20 };
    const OBJECTS: usize = if cfg!(miri) { 40 } else { 2000 };
    let mut both = 0;
    for _ in 0..RACES {
        let objs: Vec<usize> = {
            let mut g = a.core(CoreId(0)).unwrap();
            (0..OBJECTS).map(|_| g.alloc(c).unwrap()).collect()
        };
        let ok = AtomicUsize::new(0);
        let barrier = Barrier::new(2);
        std::thread::scope(|s| {
            for core in 0..2u8 {
                let (a, objs, ok, barrier) = (&a, &objs, &ok, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    for &x in objs {
                        let mut g = a.core(CoreId(core)).unwrap();
                        match g.free(c, x) {
                            Ok(()) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(FreeError::DoubleFree { .. }) => {}
                            // The other free emptied the slab and it went back to the buddy
                            // layer (Linux's discard on free): no slab holds the address now.
                            Err(FreeError::NotOurs { .. }) => {}
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    }
                });
            }
        });
        let ok = ok.load(Ordering::Relaxed);
        assert!(ok >= objs.len() && ok <= 2 * objs.len());
        both += ok - objs.len();
        a.validate().unwrap();
        assert_eq!(a.stats().objects_in_use, 0);
        // Every object comes back exactly once, whichever core allocates it.
        let mut again: Vec<usize> = Vec::new();
        for core in [0u8, 1, 0, 1] {
            let mut g = a.core(CoreId(core)).unwrap();
            again.extend((0..OBJECTS / 2).map(|_| g.alloc(c).unwrap()));
        }
        let n = again.len();
        again.sort_unstable();
        again.dedup();
        assert_eq!(again.len(), n, "an object was handed out twice");
        assert_eq!(a.stats().objects_in_use, n);
        a.validate().unwrap();
        for (i, &x) in again.iter().enumerate() {
            a.core(CoreId((i % 2) as u8)).unwrap().free(c, x).unwrap();
        }
        a.validate().unwrap();
    }
    println!(
        "frees accepted twice in an exact overlap: {both} of {}",
        RACES * OBJECTS
    );
    a.cache_destroy(c).unwrap();
    assert_eq!(a.stats().free_frames, a.stats().total_frames);
}
