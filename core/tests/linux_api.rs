//! The rest of Linux's slab API on the core: node-bound allocation with and without fallback,
//! bulk allocation and free all-or-nothing, krealloc (in place, moved, red zone kept), kcalloc
//! and kmalloc_array overflow, kmem_cache_size, `ZERO_SIZE_PTR` for size 0.
mod common;

use common::{arena, fixture, params, peek, poke};
use memserver_core::kmalloc::ZERO_SIZE_PTR;
use memserver_core::slab::debug::SLUB_RED_ACTIVE;
use memserver_core::topology::{CoreId, NodeId};
use memserver_core::{
    AllocError, CacheFlags, FreeError, KmallocError, NodePolicy, OwnerId, ViolationKind,
};

const MIB: usize = 1 << 20;

/// The node whose memory holds `addr`.
fn node_of(a: &common::Fixture, addr: usize, _nodes: usize) -> usize {
    a.buddy().node_of(addr).expect("in the arena").0 as usize
}

#[test]
fn alloc_node_takes_objects_from_the_asked_node_and_falls_back_unless_forbidden() {
    // Under Miri 32 KiB a node: 128 objects to exhaust node 1 with.
    let a = fixture(arena(8 * MIB, MIB / 16), 2, 1);
    let id = a
        .cache_create(params("node", 256, CacheFlags::empty()))
        .unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    let far = g.alloc_node(id, NodeId(1), NodePolicy::Only).unwrap();
    assert_eq!(node_of(&a, far, 2), 1);
    let near = g.alloc_node(id, NodeId(0), NodePolicy::Only).unwrap();
    assert_eq!(node_of(&a, near, 2), 0);
    assert_eq!(
        g.alloc_node(id, NodeId(2), NodePolicy::Prefer),
        Err(AllocError::BadNode)
    );
    g.free(id, far).unwrap();
    g.free(id, near).unwrap();
    // Exhaust node 1: `Only` fails there, `Prefer` falls back to node 0.
    let mut held = Vec::new();
    while let Ok(o) = g.alloc_node(id, NodeId(1), NodePolicy::Only) {
        held.push(o);
    }
    assert!(held.len() > 100);
    let fallback = g.alloc_node(id, NodeId(1), NodePolicy::Prefer).unwrap();
    assert_eq!(node_of(&a, fallback, 2), 0);
    g.free(id, fallback).unwrap();
    for o in held {
        g.free(id, o).unwrap();
    }
    drop(g);
    a.validate().unwrap();
}

#[test]
fn kmalloc_node_serves_classes_and_large_blocks_from_the_node() {
    let a = fixture(arena(16 * MIB, 2 * MIB), 2, 1);
    let set = a.kmalloc_set_create(OwnerId(1)).unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    for size in [8, 100, 8192, 20_000] {
        let p = g
            .kmalloc_node(&set, size, NodeId(1), NodePolicy::Only)
            .unwrap();
        assert_eq!(node_of(&a, p, 2), 1, "size {size}");
        g.kfree(&set, p).unwrap();
    }
    assert_eq!(
        g.kmalloc_node(&set, 0, NodeId(1), NodePolicy::Prefer),
        Ok(ZERO_SIZE_PTR)
    );
    drop(g);
    a.validate().unwrap();
}

#[test]
fn bulk_alloc_is_all_or_nothing_and_bulk_free_checks_every_address_first() {
    // Under Miri 256 objects: the 64 fit, the 4096 do not.
    let a = fixture(arena(2 * MIB, MIB / 4), 1, 1);
    let id = a
        .cache_create(params("bulk", 1024, CacheFlags::empty()))
        .unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    let mut objs = vec![0usize; 64];
    g.alloc_bulk(id, &mut objs).unwrap();
    assert!(objs.iter().all(|&o| o != 0));
    // More than memory holds: nothing is kept.
    let before = a.buddy().free_frames();
    let mut huge = vec![0usize; 4096];
    assert_eq!(g.alloc_bulk(id, &mut huge), Err(AllocError::OutOfMemory));
    drop(g);
    a.cache_shrink(id).unwrap();
    assert!(a.buddy().free_frames() >= before);
    assert_eq!(a.stats().objects_in_use, 64);
    let mut g = a.core(CoreId(0)).unwrap();
    // A bad address anywhere refuses the whole free.
    let mut bad = objs.clone();
    bad[40] += 8;
    let e = g.free_bulk(id, &bad).unwrap_err();
    assert_eq!(e.freed, 0);
    assert!(matches!(e.error, FreeError::Interior { .. }));
    g.free_bulk(id, &objs).unwrap();
    drop(g);
    a.validate().unwrap();
}

#[test]
fn krealloc_keeps_the_red_zone_right_and_zeroes_what_it_grows() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let set = a
        .kmalloc_set_create_with(OwnerId(1), |_| CacheFlags::RED_ZONE)
        .unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    let p = g.kmalloc(&set, 48).unwrap();
    for i in 0..48 {
        poke(p + i, 0xff);
    }
    // Shrink in place: the red zone starts at 40.
    assert_eq!(g.krealloc(&set, p, 40, false), Ok(p));
    assert!((40..64).all(|i| peek(p + i) == SLUB_RED_ACTIVE));
    // Grow within the object: 40..56 zeroed, 56..64 red zone.
    assert_eq!(g.krealloc(&set, p, 56, false), Ok(p));
    assert!((40..56).all(|i| peek(p + i) == 0));
    assert!((56..64).all(|i| peek(p + i) == SLUB_RED_ACTIVE));
    assert!((0..40).all(|i| peek(p + i) == 0xff), "contents kept");
    // Grow beyond the class: moved, contents copied, the old block freed.
    let q = g.krealloc(&set, p, 100, true).unwrap();
    assert_ne!(q, p);
    assert!((0..40).all(|i| peek(q + i) == 0xff));
    assert!((56..100).all(|i| peek(q + i) == 0));
    assert!((100..128).all(|i| peek(q + i) == SLUB_RED_ACTIVE));
    assert!(g.usable_size(&set, p).is_err(), "old block freed");
    // A damaged red zone refuses the krealloc and changes nothing.
    poke(q + 101, 0);
    match g.krealloc(&set, q, 110, false) {
        Err(KmallocError::Corrupted(v)) => {
            assert_eq!((v.kind, v.offset), (ViolationKind::RedZoneRight, 101))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(g.requested_size(q), Some(100));
    poke(q + 101, SLUB_RED_ACTIVE);
    assert_eq!(g.krealloc(&set, q, 0, false), Ok(ZERO_SIZE_PTR));
    assert!(g.usable_size(&set, q).is_err(), "krealloc to 0 frees");
    assert!(matches!(
        g.krealloc(&set, q, 8, false),
        Err(KmallocError::BadPointer(_))
    ));
    drop(g);
    a.validate().unwrap();
}

#[test]
fn kmalloc_array_refuses_an_overflowing_product_and_kcalloc_zeroes() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let set = a.kmalloc_set_create(OwnerId(1)).unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    assert_eq!(
        g.kmalloc_array(&set, usize::MAX / 2, 3, false),
        Err(KmallocError::Overflow {
            n: usize::MAX / 2,
            size: 3
        })
    );
    let p = g.kmalloc(&set, 96).unwrap();
    for i in 0..96 {
        poke(p + i, 0x77);
    }
    g.kfree(&set, p).unwrap();
    let q = g.kcalloc(&set, 12, 8).unwrap();
    assert!((0..96).all(|i| peek(q + i) == 0));
    g.kfree(&set, q).unwrap();
}

#[test]
fn kmem_cache_size_is_the_size_asked_for() {
    let a = fixture(arena(4 * MIB, MIB), 1, 1);
    let id = a
        .cache_create(params("sized", 20, CacheFlags::HWCACHE_ALIGN))
        .unwrap();
    assert_eq!(a.kmem_cache_size(id), Ok(20));
}

#[test]
fn the_free_path_returns_empty_slabs_beyond_min_partial() {
    let a = fixture(arena(32 * MIB, MIB), 1, 1);
    let id = a
        .cache_create(params("burst", 64, CacheFlags::empty()))
        .unwrap();
    let info = a.cache_info(id).unwrap();
    let per_slab = info.layout.objects as usize;
    // Slabs filled; under Miri fewer, still well beyond what the free path may keep.
    const SLABS: usize = if cfg!(miri) { 10 } else { 40 };
    let n = SLABS * per_slab;
    let mut g = a.core(CoreId(0)).unwrap();
    let xs: Vec<usize> = (0..n).map(|_| g.alloc(id).unwrap()).collect();
    drop(g);
    let peak = a.stats().slab_frames;
    assert!(peak >= SLABS);
    let mut g = a.core(CoreId(0)).unwrap();
    for &x in &xs {
        g.free(id, x).unwrap();
    }
    drop(g);
    // Held now: at most min_partial (5 for 64-byte objects) empty slabs, plus the slabs of
    // the objects the core's array still caches.
    let cached_slabs = (info.tunables.limit as usize).div_ceil(per_slab) + 1;
    let held = a.stats().slab_frames;
    assert!(held <= 5 + cached_slabs, "held {held} of peak {peak}");
    a.validate().unwrap();
    // Shrink drains the array and discards the rest.
    a.cache_shrink(id).unwrap();
    assert_eq!(a.stats().slab_frames, 0);
}

/// Size 0 is Linux's `ZERO_SIZE_PTR` on every kmalloc path (plain, zeroed, node-bound whatever
/// the node, array, the resolved set): not null, and no block: `kfree` of it does nothing,
/// `ksize` of it is 0, `krealloc` of it allocates anew, `krealloc` to 0 frees and returns it.
/// Nothing is allocated for it.
#[test]
fn kmalloc_of_zero_bytes_is_the_zero_size_pointer() {
    let a = fixture(arena(4 * MIB, 2 * MIB), 2, 1);
    let set = a.kmalloc_set_create(OwnerId(1)).unwrap();
    let before = a.buddy().free_frames();
    let mut g = a.core(CoreId(0)).unwrap();
    assert_eq!(g.kmalloc(&set, 0), Ok(ZERO_SIZE_PTR));
    assert_eq!(g.kzalloc(&set, 0), Ok(ZERO_SIZE_PTR));
    assert_eq!(g.kmalloc_array(&set, 0, 64, false), Ok(ZERO_SIZE_PTR));
    assert_eq!(g.kcalloc(&set, 64, 0), Ok(ZERO_SIZE_PTR));
    for node in [0, 1, 7] {
        for policy in [NodePolicy::Prefer, NodePolicy::Only] {
            assert_eq!(
                g.kmalloc_node(&set, 0, NodeId(node), policy),
                Ok(ZERO_SIZE_PTR)
            );
            assert_eq!(
                g.kzalloc_node(&set, 0, NodeId(node), policy),
                Ok(ZERO_SIZE_PTR)
            );
        }
    }
    assert_eq!(g.kfree(&set, ZERO_SIZE_PTR), Ok(()));
    assert_eq!(
        g.kfree(&set, ZERO_SIZE_PTR),
        Ok(()),
        "no double free either"
    );
    assert_eq!(g.ksize(&set, ZERO_SIZE_PTR), Ok(0));
    assert_eq!(g.krealloc(&set, ZERO_SIZE_PTR, 0, false), Ok(ZERO_SIZE_PTR));
    drop(g);
    assert_eq!(a.buddy().free_frames(), before, "nothing allocated");
    let mut g = a.core(CoreId(0)).unwrap();
    let p = g.krealloc(&set, ZERO_SIZE_PTR, 40, false).unwrap();
    assert_ne!(p, ZERO_SIZE_PTR);
    assert_eq!(g.ksize(&set, p), Ok(64));
    assert_eq!(g.krealloc(&set, p, 0, false), Ok(ZERO_SIZE_PTR));
    assert!(
        g.usable_size(&set, p).is_err(),
        "krealloc to 0 freed the block"
    );
    let mut k = g.kmalloc_set(&set).unwrap();
    assert_eq!(k.kmalloc(0), Ok(ZERO_SIZE_PTR));
    assert_eq!(k.kfree(ZERO_SIZE_PTR), Ok(()));
    drop(g);
    a.validate().unwrap();
}
