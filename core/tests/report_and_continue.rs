//! Report and continue: damage found on alloc is logged (as Linux's `BUG <cache>: ...` report),
//! the damaged object quarantined (never handed out again, released by a reclaim or with its
//! cache) and the allocation served from another object; damage found on free refuses the free
//! and is logged too.
mod common;

use common::{arena, fixture, params, peek, poke, read_log};
use memserver_core::slab::debug::{POISON_FREE, SLUB_RED_ACTIVE, SLUB_RED_INACTIVE};
use memserver_core::topology::CoreId;
use memserver_core::{CacheFlags, CheckedOp, FreeError, OwnerId, ViolationKind, LOG_ENTRIES};

const MIB: usize = 1 << 20;

#[test]
fn a_damaged_free_object_is_quarantined_until_a_shrink_repairs_it() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let log = common::log_for(&a, OwnerId(1));
    let flags = CacheFlags::POISON | CacheFlags::RED_ZONE | CacheFlags::STORE_USER;
    let c = a.cache_create(params("q", 64, flags)).unwrap();
    let per_slab = a.cache_info(c).unwrap().layout.objects as usize;
    let mut g = a.core(CoreId(0)).unwrap();
    g.set_call_site(0xabc);
    let x = g.alloc(c).unwrap();
    g.free(c, x).unwrap();
    // A write after free and a write before the object (left red zone).
    poke(x + 3, 0x11);
    let y = g.alloc(c).unwrap();
    assert_ne!(y, x);
    // The damaged object is never handed out again, however many allocations follow.
    let mut held = vec![y];
    for _ in 0..3 * per_slab {
        let o = g.alloc(c).unwrap();
        assert_ne!(o, x, "a quarantined object was handed out");
        held.push(o);
    }
    // Freeing the quarantined object is refused (it is not allocated).
    assert!(matches!(g.free(c, x), Err(FreeError::DoubleFree { .. })));
    drop(g);
    let r = read_log(&log);
    assert_eq!(r.len(), 1);
    let v = r[0].violation;
    assert_eq!(
        (
            r[0].op,
            r[0].cache(),
            v.kind,
            v.object,
            v.offset,
            v.expected,
            v.found
        ),
        (
            CheckedOp::Alloc,
            "q",
            ViolationKind::Poison,
            x,
            3,
            POISON_FREE,
            0x11
        )
    );
    // Last owner, as Linux prints "Allocated in ... / Freed in ...".
    assert_eq!(v.last.alloc.unwrap().call_site, 0xabc);
    assert_eq!(v.last.free.unwrap().call_site, 0xabc);
    assert_eq!(a.quarantined(c).unwrap(), 1);
    a.validate().unwrap();
    // Destroy sees no live object once the others are freed; a shrink repairs and releases the
    // quarantined one, and every slab goes back.
    let mut g = a.core(CoreId(0)).unwrap();
    for o in held {
        g.free(c, o).unwrap();
    }
    drop(g);
    assert!(a.cache_shrink(c).unwrap() > 0);
    assert_eq!(a.quarantined(c).unwrap(), 0);
    assert_eq!(a.owner_stats(OwnerId(1)).slab_frames, 0);
    a.validate().unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    let z = g.alloc(c).unwrap();
    g.free(c, z).unwrap();
    drop(g);
    a.cache_destroy(c).unwrap();
    a.validate().unwrap();
}

#[test]
fn destroy_releases_a_quarantined_object_with_its_slab() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let c = a
        .cache_create(params("qd", 128, CacheFlags::RED_ZONE))
        .unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    let x = g.alloc(c).unwrap();
    g.free(c, x).unwrap();
    // The inactive right red zone overwritten while the object is free.
    poke(x + 128, 0);
    let y = g.alloc(c).unwrap();
    assert_ne!(y, x);
    g.free(c, y).unwrap();
    drop(g);
    assert_eq!(a.quarantined(c).unwrap(), 1);
    let before = a.buddy().free_frames();
    a.cache_destroy(c).unwrap();
    assert!(a.buddy().free_frames() > before);
    a.validate().unwrap();
}

#[test]
fn a_free_that_finds_damage_is_refused_and_logged() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let log = common::log_for(&a, OwnerId(1));
    let c = a
        .cache_create(params("rz", 40, CacheFlags::RED_ZONE))
        .unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    let x = g.alloc(c).unwrap();
    poke(x + 40, 7);
    assert!(matches!(g.free(c, x), Err(FreeError::Corrupted(_))));
    poke(x + 40, SLUB_RED_ACTIVE);
    g.free(c, x).unwrap();
    drop(g);
    let r = read_log(&log);
    assert_eq!(r.len(), 1);
    let v = r[0].violation;
    assert_eq!(
        (r[0].op, v.kind, v.object, v.offset, v.expected, v.found),
        (
            CheckedOp::Free,
            ViolationKind::RedZoneRight,
            x,
            40,
            SLUB_RED_ACTIVE,
            7
        )
    );
    a.validate().unwrap();
}

#[test]
fn kmalloc_past_the_requested_size_and_write_after_free_are_logged() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let log = common::log_for(&a, OwnerId(1));
    let set = a
        .kmalloc_set_create_with(OwnerId(1), |_| CacheFlags::RED_ZONE | CacheFlags::POISON)
        .unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    // kmalloc(18), a write to byte 18 of the 32-byte object.
    let p = g.kmalloc(&set, 18).unwrap();
    poke(p + 18, 0x77);
    assert!(matches!(g.kfree(&set, p), Err(FreeError::Corrupted(_))));
    poke(p + 18, SLUB_RED_ACTIVE);
    g.kfree(&set, p).unwrap();
    // A write after free found by the next kmalloc of the class: served from another object.
    let q = g.kmalloc(&set, 100).unwrap();
    g.kfree(&set, q).unwrap();
    poke(q, 0);
    let r2 = g.kmalloc(&set, 100).unwrap();
    assert_ne!(r2, q);
    g.kfree(&set, r2).unwrap();
    drop(g);
    let r = read_log(&log);
    assert_eq!(r.len(), 2);
    assert_eq!(
        (
            r[0].cache(),
            r[0].op,
            r[0].violation.offset,
            r[0].violation.found
        ),
        ("kmalloc-32", CheckedOp::Free, 18, 0x77)
    );
    assert_eq!(
        (
            r[1].cache(),
            r[1].op,
            r[1].violation.object,
            r[1].violation.kind
        ),
        ("kmalloc-128", CheckedOp::Alloc, q, ViolationKind::Poison)
    );
    a.validate().unwrap();
}

#[test]
fn the_log_is_bounded_and_a_late_reader_learns_what_it_lost() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let log = common::log_for(&a, OwnerId(1));
    let c = a
        .cache_create(params("many", 64, CacheFlags::RED_ZONE))
        .unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    let x = g.alloc(c).unwrap();
    poke(x - 1, 0);
    for _ in 0..LOG_ENTRIES + 3 {
        assert!(matches!(g.free(c, x), Err(FreeError::Corrupted(_))));
    }
    poke(x - 1, SLUB_RED_ACTIVE);
    g.free(c, x).unwrap();
    drop(g);
    let mut out = [memserver_core::Report::EMPTY; LOG_ENTRIES];
    let r = log.read(0, &mut out).unwrap();
    assert_eq!(
        (r.count, r.lost, r.total),
        (LOG_ENTRIES, 3, LOG_ENTRIES as u64 + 3)
    );
    assert_eq!(out[0].seq, 3);
    assert_eq!(out[0].violation.offset, -1);
    assert_eq!(a.violations(c).unwrap(), LOG_ENTRIES as u64 + 3);
    let _ = (peek, SLUB_RED_INACTIVE);
}

#[test]
fn destroy_with_live_objects_lists_each_one_in_the_log_and_keeps_the_cache() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let log = common::log_for(&a, OwnerId(1));
    let c = a
        .cache_create(params("leaky", 64, CacheFlags::STORE_USER))
        .unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    g.set_call_site(0x77);
    let x = g.alloc(c).unwrap();
    let y = g.alloc(c).unwrap();
    g.free(c, y).unwrap();
    drop(g);
    assert!(matches!(
        a.cache_destroy(c),
        Err(memserver_core::DestroyError::Busy { live: 1 })
    ));
    let r = read_log(&log);
    assert_eq!(r.len(), 1);
    let v = r[0].violation;
    assert_eq!(
        (r[0].op, r[0].cache(), v.kind, v.object, v.offset),
        (CheckedOp::Destroy, "leaky", ViolationKind::Leak, x, 0)
    );
    assert_eq!(v.last.alloc.unwrap().call_site, 0x77);
    // The cache stays usable (as Linux leaves a cache with objects in place).
    let mut g = a.core(CoreId(0)).unwrap();
    g.free(c, x).unwrap();
    drop(g);
    a.cache_destroy(c).unwrap();
    assert_eq!(read_log(&log).len(), 1);
    a.validate().unwrap();
}
