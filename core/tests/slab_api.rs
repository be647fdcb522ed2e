//! Behaviour of caches, kmalloc and slabinfo through the public API: the kernel-module example,
//! bad input (each its own error, nothing changed), debug checks, destroy/shrink, merging.
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::{arena, fixture, params, peek, poke};
use memserver_core::kmalloc::ZERO_SIZE_PTR;
use memserver_core::slab::debug::{POISON_END, POISON_FREE, SLUB_RED_ACTIVE};
use memserver_core::topology::{CoreId, NodeId};
use memserver_core::{
    AllocError, CacheFlags, CacheParams, CheckedOp, CreateError, Ctor, DestroyError, FreeError,
    KmallocError, NodePolicy, OwnerId, ViolationKind,
};

const MIB: usize = 1 << 20;

static CTOR_RUNS: AtomicUsize = AtomicUsize::new(0);

fn fill_aa(p: *mut u8) {
    CTOR_RUNS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the allocator passes the start of a 40-byte object of the test cache.
    unsafe { std::ptr::write_bytes(p, 0xAA, 40) }
}

#[test]
fn slab_test_cache_runs_the_constructor_objperslab_times() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let id = a
        .cache_create(CacheParams {
            name: "slab_test_cache",
            size: 40,
            align: 8,
            flags: CacheFlags::HWCACHE_ALIGN,
            ctor: Ctor::Local(fill_aa),
            owner: OwnerId(1),
        })
        .unwrap();
    let info = a.cache_info(id).unwrap();
    assert_eq!(info.layout.objects, 64);
    assert_eq!(info.layout.order, 0);
    let before = CTOR_RUNS.load(Ordering::Relaxed);
    let mut g = a.core(CoreId(0)).unwrap();
    let obj = g.alloc(id).unwrap();
    assert_eq!(CTOR_RUNS.load(Ordering::Relaxed) - before, 64);
    assert!((0..40).all(|i| peek(obj + i) == 0xAA));
    g.free(id, obj).unwrap();
    drop(g);
    a.validate().unwrap();
    a.cache_destroy(id).unwrap();
    a.validate().unwrap();
    assert_eq!(a.stats().free_frames, a.stats().total_frames);
}

#[test]
fn bad_create_parameters_each_have_their_own_error() {
    let a = fixture(arena(4 * MIB, MIB), 1, 1);
    let f = CacheFlags::empty();
    let cases: Vec<(CacheParams, CreateError)> = vec![
        (params("", 8, f), CreateError::EmptyName),
        (
            params("a-name-that-is-far-too-long-for-slabinfo", 8, f),
            CreateError::NameTooLong { len: 40, max: 32 },
        ),
        (
            params("has space", 8, f),
            CreateError::BadNameByte { at: 3 },
        ),
        (params("zero", 0, f), CreateError::ZeroSize),
        (
            params("huge", 5 * MIB, f),
            CreateError::TooLarge {
                size: 5 * MIB,
                max: 4 * MIB,
            },
        ),
        (
            CacheParams {
                align: 12,
                ..params("al", 8, f)
            },
            CreateError::BadAlign { align: 12 },
        ),
        (
            CacheParams {
                align: 8192,
                ..params("al", 8, f)
            },
            CreateError::AlignTooLarge { align: 8192 },
        ),
        (
            params("flags", 8, CacheFlags::from_bits_retain(1 << 20)),
            CreateError::UnknownFlags { bits: 1 << 20 },
        ),
    ];
    for (p, want) in cases {
        assert_eq!(a.cache_create(p), Err(want));
    }
    assert_eq!(a.stats().handles, 0);
    a.validate().unwrap();
}

#[test]
fn bad_frees_each_have_their_own_error_and_change_nothing() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let c = a
        .cache_create(params("c", 64, CacheFlags::NO_MERGE))
        .unwrap();
    let d = a
        .cache_create(params("d", 64, CacheFlags::NO_MERGE))
        .unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    let x = g.alloc(c).unwrap();
    let y = g.alloc(c).unwrap();
    let other = g.alloc(d).unwrap();
    g.free(c, y).unwrap();
    let never = x + 64 * 10;
    assert_eq!(y - x, 64, "handed out in address order");
    let stale = memserver_core::CacheId {
        index: c.index,
        generation: c.generation + 1,
    };
    assert_eq!(g.free(c, 0), Err(FreeError::Null));
    assert_eq!(g.free(c, 8), Err(FreeError::NotOurs { addr: 8 }));
    assert_eq!(g.free(c, other), Err(FreeError::WrongCache { addr: other }));
    assert_eq!(
        g.free(c, x + 8),
        Err(FreeError::Interior {
            addr: x + 8,
            object: x
        })
    );
    assert_eq!(
        g.free(c, never),
        Err(FreeError::NeverAllocated { addr: never })
    );
    assert_eq!(
        g.free(c, y),
        Err(FreeError::DoubleFree {
            addr: y,
            last_free: None
        })
    );
    assert_eq!(g.free(stale, x), Err(FreeError::BadCache(stale)));
    drop(g);
    a.validate().unwrap();
    let s = a.stats();
    assert_eq!(s.objects_in_use, 2);
    let mut g = a.core(CoreId(0)).unwrap();
    g.free(c, x).unwrap();
    g.free(d, other).unwrap();
    drop(g);
    assert_eq!(a.stats().objects_in_use, 0);
    a.validate().unwrap();
}

#[test]
fn a_batch_free_with_one_bad_address_frees_nothing() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let c = a
        .cache_create(params("c", 64, CacheFlags::NO_MERGE))
        .unwrap();
    let d = a
        .cache_create(params("d", 64, CacheFlags::NO_MERGE))
        .unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    let mut objs = [0usize; 80];
    assert_eq!(g.alloc_batch(c, &mut objs).unwrap(), 80);
    let other = g.alloc(d).unwrap();
    // Longer batches find repeats through a sorted copy (on the stack up to 64, else on the
    // heap); the error still names the first repeat in batch order.
    let repeat = |n: usize, dups: &[usize]| {
        let mut b = objs[..n].to_vec();
        b.extend(dups.iter().map(|&i| objs[i]));
        b
    };
    let double = |i: usize| FreeError::DoubleFree {
        addr: objs[i],
        last_free: None,
    };
    let bad_batches: [(Vec<usize>, FreeError); 6] = [
        (repeat(20, &[7, 5]), double(7)),
        (repeat(64, &[63]), double(63)),
        (repeat(75, &[2, 74]), double(2)),
        (
            vec![objs[0], objs[1], other, objs[2]],
            FreeError::WrongCache { addr: other },
        ),
        (
            vec![objs[0], objs[1] + 8, objs[2]],
            FreeError::Interior {
                addr: objs[1] + 8,
                object: objs[1],
            },
        ),
        (
            vec![objs[3], objs[4], objs[3]],
            FreeError::DoubleFree {
                addr: objs[3],
                last_free: None,
            },
        ),
    ];
    for (batch, error) in bad_batches {
        assert_eq!(
            g.free_batch(c, &batch),
            Err(memserver_core::BatchFreeError { freed: 0, error })
        );
        assert_eq!(g.check_free(c, batch[0]), Ok(()), "still allocated");
    }
    drop(g);
    assert_eq!(a.stats().objects_in_use, 81);
    a.validate().unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    g.free_batch(c, &objs).unwrap();
    g.free(d, other).unwrap();
    drop(g);
    assert_eq!(a.stats().objects_in_use, 0);
    a.validate().unwrap();
}

#[test]
fn red_zone_overwrite_is_reported_at_free_with_its_offset() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let c = a
        .cache_create(params(
            "rz",
            40,
            CacheFlags::RED_ZONE | CacheFlags::STORE_USER,
        ))
        .unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    g.set_call_site(0x1234);
    let x = g.alloc(c).unwrap();
    assert_eq!(peek(x + 40), SLUB_RED_ACTIVE);
    poke(x + 40, 0x00);
    let Err(FreeError::Corrupted(v)) = g.free(c, x) else {
        panic!("overwrite not reported");
    };
    assert_eq!(v.kind, ViolationKind::RedZoneRight);
    assert_eq!(
        (v.object, v.offset, v.expected, v.found),
        (x, 40, 0xcc, 0x00)
    );
    let t = v.last.alloc.expect("STORE_USER record");
    assert_eq!(
        (t.owner, t.core, t.call_site),
        (OwnerId(1), CoreId(0), 0x1234)
    );
    // Nothing changed: the object is still allocated; repairing lets it go.
    poke(x + 40, SLUB_RED_ACTIVE);
    poke(x - 1, 0x11);
    let Err(FreeError::Corrupted(v)) = g.free(c, x) else {
        panic!("left overwrite not reported");
    };
    assert_eq!(
        (v.kind, v.offset, v.found),
        (ViolationKind::RedZoneLeft, -1, 0x11)
    );
    poke(x - 1, SLUB_RED_ACTIVE);
    g.free(c, x).unwrap();
    let Err(FreeError::DoubleFree { last_free, .. }) = g.free(c, x) else {
        panic!("double free not reported");
    };
    assert_eq!(last_free.unwrap().call_site, 0x1234);
    drop(g);
    assert_eq!(a.violations(c).unwrap(), 2);
    a.validate().unwrap();
}

#[test]
fn write_after_free_is_reported_at_the_next_alloc_which_is_served_from_another_object() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let log = common::log_for(&a, OwnerId(1));
    let c = a
        .cache_create(params("po", 64, CacheFlags::POISON))
        .unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    let x = g.alloc(c).unwrap();
    assert!((0..63).all(|i| peek(x + i) == POISON_FREE) && peek(x + 63) == POISON_END);
    g.free(c, x).unwrap();
    poke(x + 17, 0x42);
    // Reported and taken out of use: the allocation gets another object.
    let y = g.alloc(c).unwrap();
    assert_ne!(y, x);
    let reports = common::read_log(&log);
    assert_eq!(reports.len(), 1);
    let v = reports[0].violation;
    assert_eq!(
        (v.kind, v.object, v.offset, v.expected, v.found),
        (ViolationKind::Poison, x, 17, POISON_FREE, 0x42)
    );
    assert_eq!(
        (reports[0].cache(), reports[0].op),
        ("po", CheckedOp::Alloc)
    );
    g.free(c, y).unwrap();
    drop(g);
    assert_eq!(a.violations(c).unwrap(), 1);
    assert_eq!(a.quarantined(c).unwrap(), 1);
    assert!(a.check_cache(c).unwrap().is_empty());
    a.validate().unwrap();
}

#[test]
fn consistency_checked_caches_bypass_arrays() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let c = a
        .cache_create(params(
            "cc",
            100,
            CacheFlags::CONSISTENCY_CHECKS | CacheFlags::POISON | CacheFlags::RED_ZONE,
        ))
        .unwrap();
    // Objects allocated and freed (several slabs); fewer under Miri.
    const OBJECTS: usize = if cfg!(miri) { 40 } else { 100 };
    let mut g = a.core(CoreId(0)).unwrap();
    let xs: Vec<usize> = (0..OBJECTS).map(|_| g.alloc(c).unwrap()).collect();
    for &x in &xs {
        g.free(c, x).unwrap();
    }
    drop(g);
    let row = &a.slabinfo_rows(None)[0];
    assert_eq!(
        row.active_objs, 0,
        "every object went straight back to its slab"
    );
    assert!(a.check_cache(c).unwrap().is_empty());
    a.validate().unwrap();
}

#[test]
fn destroy_refuses_while_objects_live_and_leaves_the_cache_usable() {
    let a = fixture(arena(16 * MIB, MIB), 1, 2);
    let c = a
        .cache_create(params("busy", 128, CacheFlags::empty()))
        .unwrap();
    // Objects (several slabs of 32); fewer under Miri.
    const LIVE: usize = if cfg!(miri) { 40 } else { 300 };
    let mut g = a.core(CoreId(0)).unwrap();
    let xs: Vec<usize> = (0..LIVE).map(|_| g.alloc(c).unwrap()).collect();
    drop(g);
    assert_eq!(a.cache_destroy(c), Err(DestroyError::Busy { live: LIVE }));
    let mut g = a.core(CoreId(1)).unwrap();
    for &x in &xs[..LIVE - 1] {
        g.free(c, x).unwrap();
    }
    drop(g);
    assert_eq!(a.cache_destroy(c), Err(DestroyError::Busy { live: 1 }));
    a.validate().unwrap();
    a.core(CoreId(0)).unwrap().free(c, xs[LIVE - 1]).unwrap();
    a.cache_destroy(c).unwrap();
    assert_eq!(a.cache_destroy(c), Err(DestroyError::BadCache(c)));
    a.validate().unwrap();
    assert_eq!(a.stats().free_frames, a.stats().total_frames);
}

#[test]
fn shrink_discards_every_empty_slab() {
    let a = fixture(arena(32 * MIB, MIB), 1, 1);
    let c = a
        .cache_create(params("shr", 64, CacheFlags::empty()))
        .unwrap();
    // Slabs of 64 objects filled; fewer under Miri.
    const SLABS: usize = if cfg!(miri) { 3 } else { 20 };
    let mut g = a.core(CoreId(0)).unwrap();
    let xs: Vec<usize> = (0..64 * SLABS).map(|_| g.alloc(c).unwrap()).collect();
    let kept = xs[0];
    for &x in &xs[1..] {
        g.free(c, x).unwrap();
    }
    drop(g);
    let before = a.stats().slab_frames;
    assert!(before > 1);
    // As Linux's kmem_cache_shrink: no empty slab stays (min_partial is not kept); the slab
    // holding a live object does.
    let released = a.cache_shrink(c).unwrap();
    assert_eq!(released, before - 1);
    assert_eq!(a.stats().slab_frames, 1);
    assert_eq!(a.shrink_all(), 0);
    let mut g = a.core(CoreId(0)).unwrap();
    g.free(c, kept).unwrap();
    drop(g);
    assert_eq!(a.cache_shrink(c), Ok(1));
    a.validate().unwrap();
}

#[test]
fn compatible_caches_merge_and_slabinfo_shows_the_real_one() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let first = a
        .cache_create(params("first", 64, CacheFlags::empty()))
        .unwrap();
    let alias = a
        .cache_create(params("second", 60, CacheFlags::empty()))
        .unwrap();
    let other_owner = a
        .cache_create(CacheParams {
            owner: OwnerId(2),
            ..params("third", 64, CacheFlags::empty())
        })
        .unwrap();
    let debug = a
        .cache_create(params("dbg", 64, CacheFlags::POISON))
        .unwrap();
    assert!(a.cache_info(alias).unwrap().is_alias);
    assert!(!a.cache_info(other_owner).unwrap().is_alias);
    assert!(!a.cache_info(debug).unwrap().is_alias);
    assert_eq!(a.stats().real_caches, 3);
    let mut g = a.core(CoreId(0)).unwrap();
    let x = g.alloc(alias).unwrap();
    let y = g.alloc(first).unwrap();
    // One cache: objects of either handle free through either.
    g.free(first, x).unwrap();
    g.free(alias, y).unwrap();
    let z = g.alloc(alias).unwrap();
    drop(g);
    let mut text = String::new();
    a.slabinfo(Some(OwnerId(1)), &mut text).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "slabinfo - version: 2.1");
    assert_eq!(lines.len(), 4, "header, dbg, first:\n{text}");
    assert!(lines[2].starts_with("dbg "));
    assert_eq!(
        lines[3],
        "first                 64     64     64   64    1 : tunables  120   60    0 : slabdata      1      1      0"
    );
    // Destroying the first handle leaves the alias working.
    a.cache_destroy(first).unwrap();
    a.core(CoreId(0)).unwrap().free(alias, z).unwrap();
    a.cache_destroy(alias).unwrap();
    a.validate().unwrap();
}

#[test]
fn kmalloc_serves_every_class_and_large_sizes() {
    let a = fixture(arena(64 * MIB, 2 * MIB), 2, 1);
    let set = a.kmalloc_set_create(OwnerId(7)).unwrap();
    let other = a.kmalloc_set_create(OwnerId(8)).unwrap();
    let mut g = a.core(CoreId(1)).unwrap();
    // Every class's edges natively; under Miri a few classes (the second small, then each
    // kind of slab and a large block).
    let sizes: &[usize] = if cfg!(miri) {
        &[1, 24, 300, 4000, 8193, 100_000]
    } else {
        &[
            1, 8, 9, 24, 33, 64, 65, 96, 100, 128, 129, 192, 200, 256, 300, 512, 1000, 2048, 4000,
            8192, 8193, 100_000,
        ]
    };
    let mut got = Vec::new();
    for &s in sizes {
        let p = g.kmalloc(&set, s).unwrap();
        let k = g.ksize(&set, p).unwrap();
        assert!(k >= s, "ksize {k} < {s}");
        if s <= 8192 {
            assert!(k < 2 * s.max(8), "class too big for {s}: {k}");
        }
        got.push(p);
    }
    assert_eq!(g.kmalloc(&set, 0), Ok(ZERO_SIZE_PTR));
    assert_eq!(
        g.kmalloc(&set, 5 * MIB),
        Err(KmallocError::TooLarge {
            size: 5 * MIB,
            max: 4 * MIB
        })
    );
    let z = g.kzalloc(&set, 500).unwrap();
    assert!((0..500).all(|i| peek(z + i) == 0));
    assert_eq!(
        g.kfree(&other, got[0]),
        Err(FreeError::ForeignOwner { addr: got[0] })
    );
    let big = *got.last().unwrap();
    assert_eq!(
        g.kfree(&other, big),
        Err(FreeError::ForeignOwner { addr: big })
    );
    assert_eq!(
        g.kfree(&set, big + 4096),
        Err(FreeError::Interior {
            addr: big + 4096,
            object: big
        })
    );
    for &p in &got {
        g.kfree(&set, p).unwrap();
    }
    g.kfree(&set, z).unwrap();
    assert!(matches!(g.kfree(&set, big), Err(FreeError::NotOurs { .. })));
    assert!(matches!(
        g.kfree(&set, got[3]),
        Err(FreeError::DoubleFree { .. })
    ));
    drop(g);
    a.validate().unwrap();
    let report = a.purge_owner(OwnerId(7));
    assert_eq!(report.caches, 13);
    assert_eq!(report.live_objects, 0);
    assert_eq!(
        a.core(CoreId(0)).unwrap().kmalloc(&set, 8),
        Err(KmallocError::BadSet)
    );
    a.purge_owner(OwnerId(8));
    a.validate().unwrap();
    assert_eq!(a.stats().free_frames, a.stats().total_frames);
}

/// A set resolved on a core (`KmallocRef`) serves and refuses exactly as the guard's own kmalloc
/// and kfree, whether its classes' real caches are consecutive or not.
#[test]
fn a_resolved_kmalloc_set_behaves_as_the_guard() {
    let a = fixture(arena(32 * MIB, MIB), 1, 1);
    // Another owner's set takes the lowest real cache indexes.
    let other = a.kmalloc_set_create(OwnerId(4)).unwrap();
    // Real caches freed before the second set is made are reused out of order.
    let spare: Vec<_> = (0..13)
        .map(|i| {
            let name = format!("spare-{i}");
            a.cache_create(params(&name, 16 + 8 * i, CacheFlags::NO_MERGE))
                .unwrap()
        })
        .collect();
    let first = a.kmalloc_set_create(OwnerId(3)).unwrap();
    for c in spare.iter().step_by(2) {
        a.cache_destroy(*c).unwrap();
    }
    let second = a.kmalloc_set_create(OwnerId(3)).unwrap();
    let foreign = a.core(CoreId(0)).unwrap().kmalloc(&other, 64).unwrap();
    // Under Miri only the set whose real caches are out of order (the same unsafe path).
    let sets = if cfg!(miri) {
        vec![second]
    } else {
        vec![first, second]
    };
    for set in sets {
        let mut g = a.core(CoreId(0)).unwrap();
        let mut k = g.kmalloc_set(&set).unwrap();
        let sizes = [1, 8, 96, 100, 192, 200, 4000, 8192, 8193, 100_000];
        let got: Vec<usize> = sizes.iter().map(|&s| k.kmalloc(s).unwrap()).collect();
        assert_eq!(k.kmalloc(0), Ok(ZERO_SIZE_PTR));
        assert_eq!(k.kfree(ZERO_SIZE_PTR), Ok(()));
        assert_eq!(
            k.kfree(foreign),
            Err(FreeError::ForeignOwner { addr: foreign })
        );
        assert_eq!(
            k.kfree(got[4] + 8),
            Err(FreeError::Interior {
                addr: got[4] + 8,
                object: got[4]
            })
        );
        assert_eq!(k.kfree(0), Err(FreeError::Null));
        for &p in &got {
            k.kfree(p).unwrap();
        }
        assert!(matches!(k.kfree(got[2]), Err(FreeError::DoubleFree { .. })));
        assert!(matches!(k.kfree(got[9]), Err(FreeError::NotOurs { .. })));
        drop(g);
        a.validate().unwrap();
        assert_eq!(a.owner_stats(OwnerId(3)).objects_in_use, 0);
    }
    a.core(CoreId(0)).unwrap().kfree(&other, foreign).unwrap();
    // A hand-made set with a debug-checked class is not resolved; the guard still serves it.
    let mut checked = first;
    checked.caches[4] = a
        .cache_create(CacheParams {
            owner: OwnerId(3),
            ..params("checked-64", 64, CacheFlags::RED_ZONE)
        })
        .unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    assert_eq!(g.kmalloc_set(&checked).err(), Some(KmallocError::BadSet));
    let p = g.kmalloc(&checked, 64).unwrap();
    g.kfree(&checked, p).unwrap();
    drop(g);
    a.purge_owner(OwnerId(3));
    let mut g = a.core(CoreId(0)).unwrap();
    assert_eq!(g.kmalloc_set(&first).err(), Some(KmallocError::BadSet));
}

/// A resolved set's `kfree` frees by itself only objects of its classes' slabs on its core's
/// node that its core allocated; an object of another node (even one its core allocated there),
/// of another core of the same node, or of another set goes the guard's way. Each is freed
/// exactly once.
#[test]
fn a_resolved_set_frees_other_cores_and_nodes_objects_exactly_once() {
    let a = fixture(arena(32 * MIB, 4 * MIB), 2, 2);
    let set = a.kmalloc_set_create(OwnerId(3)).unwrap();
    let other = a.kmalloc_set_create(OwnerId(4)).unwrap();
    // Slab classes, then a large block (under Miri one class of few objects to a slab and to a
    // batch, where each object costs time in every check).
    let sizes: &[usize] = if cfg!(miri) {
        &[2048, 9000]
    } else {
        &[1, 64, 100, 1000, 8192, 9000]
    };
    let slab_sizes = &sizes[..sizes.len() - 1];
    // Cores 0 and 1 are on node 0, cores 2 and 3 on node 1.
    // Each core's objects: from its own node, then from the other node.
    let by_core: Vec<Vec<usize>> = [0, 1, 2, 3]
        .iter()
        .map(|&c| {
            let mut g = a.core(CoreId(c)).unwrap();
            let far = NodeId(1 - c / 2);
            let mut objs: Vec<usize> = sizes.iter().map(|&s| g.kmalloc(&set, s).unwrap()).collect();
            for &s in sizes {
                objs.push(g.kmalloc_node(&set, s, far, NodePolicy::Only).unwrap());
            }
            objs
        })
        .collect();
    let foreign = a.core(CoreId(0)).unwrap().kmalloc(&other, 64).unwrap();
    // Core 0 frees its own objects, core 1's (same node) and core 2's (the other node); core 3
    // frees its own. Then every object is refused as freed, on either node.
    for (freeing, owners) in [(0, &[0, 1, 2][..]), (3, &[3][..])] {
        let mut g = a.core(CoreId(freeing)).unwrap();
        let mut k = g.kmalloc_set(&set).unwrap();
        assert_eq!(
            k.kfree(foreign),
            Err(FreeError::ForeignOwner { addr: foreign })
        );
        for &c in owners {
            for &p in &by_core[c] {
                k.kfree(p).unwrap();
            }
        }
        // The core's own allocations still come from its node: no object of the other node
        // went into its arrays.
        let home = Some(NodeId(freeing / 2));
        for &s in slab_sizes {
            let y = k.kmalloc(s).unwrap();
            assert_eq!(a.buddy().node_of(y), home, "{s} bytes on core {freeing}");
            k.kfree(y).unwrap();
        }
    }
    for freeing in [0, 3] {
        let mut g = a.core(CoreId(freeing)).unwrap();
        let mut k = g.kmalloc_set(&set).unwrap();
        for &p in by_core.iter().flatten() {
            assert!(k.kfree(p).is_err(), "{p:#x} freed twice on core {freeing}");
        }
    }
    a.core(CoreId(3)).unwrap().kfree(&other, foreign).unwrap();
    a.validate().unwrap();
    for c in 0..4 {
        a.core(CoreId(c)).unwrap();
    }
    a.validate().unwrap();
    assert_eq!(a.owner_stats(OwnerId(3)).objects_in_use, 0);
}

#[test]
fn purge_returns_live_objects_and_large_blocks() {
    let a = fixture(arena(32 * MIB, 2 * MIB), 2, 2);
    let base = a.stats();
    let set = a.kmalloc_set_create(OwnerId(3)).unwrap();
    let c = a
        .cache_create(CacheParams {
            owner: OwnerId(3),
            ..params("mine", 300, CacheFlags::RED_ZONE)
        })
        .unwrap();
    // Objects per core, and the step of their kmalloc sizes (which wrap at 12000, so some are
    // large blocks); fewer under Miri, spread over the same sizes.
    const PER_CORE: usize = if cfg!(miri) { 3 } else { 200 };
    const STEP: usize = if cfg!(miri) { 4500 } else { 61 };
    for core in 0..4 {
        let mut g = a.core(CoreId(core)).unwrap();
        for i in 0..PER_CORE {
            g.kmalloc(&set, 1 + i * STEP % 12000).unwrap();
            g.alloc(c).unwrap();
        }
    }
    let s = a.owner_stats(OwnerId(3));
    assert_eq!(s.objects_in_use + s.large_blocks, 2 * 4 * PER_CORE);
    assert!(s.large_blocks > 0);
    let r = a.purge_owner(OwnerId(3));
    assert_eq!(r.live_objects + r.large_blocks, 2 * 4 * PER_CORE);
    a.validate().unwrap();
    assert_eq!(a.stats(), base);
}

#[test]
fn remote_constructor_slabs_are_reported() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let c = a
        .cache_create(CacheParams {
            ctor: Ctor::Remote,
            ..params("remote", 256, CacheFlags::empty())
        })
        .unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    let x = g.alloc(c).unwrap();
    let slabs = g.new_slabs().to_vec();
    assert_eq!(slabs.len(), 1);
    let s = slabs[0];
    assert_eq!(
        (s.cache, s.objects, s.stride, s.object_size),
        (c, 16, 256, 256)
    );
    assert!(x >= s.first && x < s.first + 16 * 256);
    g.clear_new_slabs();
    for _ in 0..15 {
        g.alloc(c).unwrap();
    }
    assert!(g.new_slabs().is_empty());
    g.alloc(c).unwrap();
    assert_eq!(g.new_slabs().len(), 1);
    drop(g);
    assert!(a.core(CoreId(0)).unwrap().new_slabs().is_empty());
}

#[test]
fn random_freelist_shuffles_new_slabs() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let c = a
        .cache_create(params("rnd", 64, CacheFlags::RANDOM_FREELIST))
        .unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    // One refill: a batch of 60 from the first slab.
    let xs: Vec<usize> = (0..60).map(|_| g.alloc(c).unwrap()).collect();
    let mut sorted = xs.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 60);
    assert!(sorted[59] - sorted[0] < 4096, "one slab");
    assert_ne!(xs, sorted, "address order would mean no shuffle");
    drop(g);
    a.validate().unwrap();
}

#[test]
fn stale_handles_and_unknown_cores_are_refused() {
    let a = fixture(arena(4 * MIB, MIB), 1, 2);
    assert!(a.core(CoreId(2)).is_err());
    let c = a
        .cache_create(params("s", 32, CacheFlags::empty()))
        .unwrap();
    a.cache_destroy(c).unwrap();
    let c2 = a
        .cache_create(params("s", 32, CacheFlags::empty()))
        .unwrap();
    assert_eq!(c2.index, c.index);
    assert_ne!(c2.generation, c.generation);
    let mut g = a.core(CoreId(1)).unwrap();
    assert_eq!(g.alloc(c), Err(AllocError::BadCache(c)));
    let forged = memserver_core::CacheId {
        index: 999,
        generation: 1,
    };
    assert_eq!(g.alloc(forged), Err(AllocError::BadCache(forged)));
    assert!(g.alloc(c2).is_ok());
}

/// The per-core table of recently used handles never outlives the handles it holds, and no
/// forged handle (generation 0 included, which the table's vacant slots use) reaches a cache.
#[test]
fn hot_handles_go_stale_with_their_cache() {
    let a = fixture(arena(4 * MIB, MIB), 1, 1);
    let c = a
        .cache_create(params("hot", 32, CacheFlags::empty()))
        .unwrap();
    {
        let mut g = a.core(CoreId(0)).unwrap();
        let o = g.alloc(c).unwrap();
        g.free(c, o).unwrap();
    }
    a.cache_destroy(c).unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    assert_eq!(g.alloc(c), Err(AllocError::BadCache(c)));
    assert_eq!(g.free(c, 0x1000), Err(FreeError::BadCache(c)));
    for index in 0..70 {
        for generation in [0, 2, u32::MAX] {
            let forged = memserver_core::CacheId { index, generation };
            assert_eq!(g.alloc(forged), Err(AllocError::BadCache(forged)));
            assert_eq!(g.free(forged, 0x1000), Err(FreeError::BadCache(forged)));
        }
    }
    drop(g);
    a.validate().unwrap();
}

/// Frees of another core's objects go back to the allocating core in batches (its inbox), which
/// takes them when its array runs empty; a shrink takes the rest.
#[test]
fn frees_on_another_core_go_back_to_the_allocating_core_in_batches() {
    use memserver_core::topology::NodeId;
    let a = fixture(arena(16 * MIB, 2 * MIB), 2, 1);
    // Under Miri objects over 1 KiB, whose batches are 12 objects, not 60.
    const SIZE: usize = if cfg!(miri) { 2000 } else { 64 };
    let c = a
        .cache_create(params("remote", SIZE, CacheFlags::empty()))
        .unwrap();
    let batch = a.cache_info(c).unwrap().tunables.batchcount as usize;
    let objs: Vec<usize> = {
        let mut g = a.core(CoreId(0)).unwrap();
        (0..3 * batch + 5).map(|_| g.alloc(c).unwrap()).collect()
    };
    assert!(objs
        .iter()
        .all(|&x| a.buddy().node_of(x) == Some(NodeId(0))));
    {
        let mut g = a.core(CoreId(1)).unwrap();
        for &x in &objs {
            g.free(c, x).unwrap();
        }
        // Freed twice, even while on its way back: refused.
        assert!(matches!(
            g.free(c, objs[0]),
            Err(FreeError::DoubleFree { .. })
        ));
        // Core 1's own allocations come from node 1: none of node 0's objects stayed here.
        let y = g.alloc(c).unwrap();
        assert_eq!(a.buddy().node_of(y), Some(NodeId(1)));
        g.free(c, y).unwrap();
    }
    a.validate().unwrap();
    assert_eq!(a.stats().objects_in_use, 0);
    let mut g = a.core(CoreId(0)).unwrap();
    assert!(matches!(
        g.free(c, objs[1]),
        Err(FreeError::DoubleFree { .. })
    ));
    // Core 0 gets back every full batch once its array runs empty.
    let again: Vec<usize> = (0..objs.len() + 2 * batch)
        .map(|_| g.alloc(c).unwrap())
        .collect();
    let back = again.iter().filter(|x| objs.contains(x)).count();
    assert!(back >= 3 * batch, "{back} of {} came back", objs.len());
    drop(g);
    a.validate().unwrap();
    // The last part-batch waits in core 1's outbox until a shrink drains it.
    a.cache_shrink(c).unwrap();
    a.validate().unwrap();
    assert_eq!(a.stats().objects_in_use, again.len());
    let mut g = a.core(CoreId(0)).unwrap();
    for &x in &again {
        g.free(c, x).unwrap();
    }
    drop(g);
    a.cache_destroy(c).unwrap();
    a.validate().unwrap();
    assert_eq!(a.stats().free_frames, a.stats().total_frames);
}

/// The mark a remote free leaves is seen by every later free on any core (a third core's free
/// of an object on its way back is a double free), and cleared when the allocating core hands
/// the object out again (then any core may free it once more).
#[test]
fn a_remote_free_is_seen_by_every_core_and_forgotten_by_the_next_allocation() {
    let a = fixture(arena(16 * MIB, 3 * MIB), 3, 1);
    let c = a
        .cache_create(params("marks", 64, CacheFlags::empty()))
        .unwrap();
    let x = a.core(CoreId(0)).unwrap().alloc(c).unwrap();
    a.core(CoreId(1)).unwrap().free(c, x).unwrap();
    for core in [2u8, 1, 0] {
        assert!(
            matches!(
                a.core(CoreId(core)).unwrap().free(c, x),
                Err(FreeError::DoubleFree { .. })
            ),
            "core {core} freed an object on its way back"
        );
        assert!(a.core(CoreId(core)).unwrap().check_free(c, x).is_err());
    }
    a.validate().unwrap();
    assert_eq!(a.stats().objects_in_use, 0);
    // A shrink sends the object home; allocate until core 0 hands it out again.
    a.cache_shrink(c).unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    let mut got = Vec::new();
    while !got.contains(&x) {
        got.push(g.alloc(c).unwrap());
        assert!(got.len() < 100_000, "the object never came back");
    }
    drop(g);
    a.core(CoreId(2)).unwrap().check_free(c, x).unwrap();
    a.core(CoreId(2)).unwrap().free(c, x).unwrap();
    assert!(matches!(
        a.core(CoreId(1)).unwrap().free(c, x),
        Err(FreeError::DoubleFree { .. })
    ));
    got.retain(|&y| y != x);
    let mut g = a.core(CoreId(0)).unwrap();
    for y in got {
        g.free(c, y).unwrap();
    }
    drop(g);
    a.cache_shrink(c).unwrap();
    a.validate().unwrap();
    assert_eq!(a.stats().objects_in_use, 0);
}
