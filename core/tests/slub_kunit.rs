//! Linux's own slab tests (`lib/tests/slub_kunit.c`), case by case, in this allocator's terms:
//! `validate_slab_cache` is [`Allocator::check_cache`], which returns each damaged object once
//! (Linux counts a report and its repair as two `slab_errors`; here the damage is not
//! repaired, so the count is of violations found). The RCU cases (`test_kfree_rcu`,
//! `test_kfree_rcu_wq_destroy`) and the `kmalloc_nolock` cases have no counterpart: there is
//! no `kfree_rcu` and no allocation from NMI or probe context.
mod common;

use common::{arena, fixture, params, peek, poke};
use memserver_core::slab::debug::{POISON_FREE, SLUB_RED_ACTIVE, SLUB_RED_INACTIVE};
use memserver_core::topology::CoreId;
use memserver_core::{CacheFlags, DestroyError, OwnerId, ViolationKind};

const MIB: usize = 1 << 20;

#[test]
fn test_clobber_zone() {
    let a = fixture(arena(4 * MIB, MIB), 1, 1);
    let s = a
        .cache_create(params("TestSlub_RZ_alloc", 64, CacheFlags::RED_ZONE))
        .unwrap();
    let p = a.core(CoreId(0)).unwrap().alloc(s).unwrap();
    poke(p + 64, 0x12);
    let v = a.check_cache(s).unwrap();
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(
        (v[0].kind, v[0].object, v[0].offset),
        (ViolationKind::RedZoneRight, p, 64)
    );
    assert_eq!((v[0].expected, v[0].found), (SLUB_RED_ACTIVE, 0x12));
    poke(p + 64, SLUB_RED_ACTIVE);
    a.core(CoreId(0)).unwrap().free(s, p).unwrap();
    a.cache_destroy(s).unwrap();
}

/// SLUB keeps a free object's next pointer inside the object (at `s->offset`, mid-object in a
/// poisoned cache); flipping it corrupts the free chain. Here the free index stack lives in
/// server memory: the same write is poison damage, found and named, and the free stack is
/// intact (the allocator's own invariants hold before and after the repair).
#[test]
fn test_next_pointer() {
    let a = fixture(arena(4 * MIB, MIB), 1, 1);
    let s = a
        .cache_create(params("TestSlub_next_ptr_free", 64, CacheFlags::POISON))
        .unwrap();
    let p = a.core(CoreId(0)).unwrap().alloc(s).unwrap();
    a.core(CoreId(0)).unwrap().free(s, p).unwrap();
    let offset = 32;
    let old = peek(p + offset);
    poke(p + offset, !old);
    let v = a.check_cache(s).unwrap();
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(
        (v[0].kind, v[0].offset),
        (ViolationKind::Poison, offset as isize)
    );
    a.validate().unwrap();
    poke(p + offset, old);
    assert!(a.check_cache(s).unwrap().is_empty());
    assert!(a.check_cache(s).unwrap().is_empty());
    a.validate().unwrap();
    a.cache_destroy(s).unwrap();
}

fn poison_clobbered_at(offset: usize, byte: u8) {
    let a = fixture(arena(4 * MIB, MIB), 1, 1);
    let s = a
        .cache_create(params("TestSlub_poison", 64, CacheFlags::POISON))
        .unwrap();
    let p = a.core(CoreId(0)).unwrap().alloc(s).unwrap();
    a.core(CoreId(0)).unwrap().free(s, p).unwrap();
    poke(p + offset, byte);
    let v = a.check_cache(s).unwrap();
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(
        (
            v[0].kind,
            v[0].object,
            v[0].offset,
            v[0].expected,
            v[0].found
        ),
        (ViolationKind::Poison, p, offset as isize, POISON_FREE, byte)
    );
    a.cache_destroy(s).unwrap();
}

#[test]
fn test_first_word() {
    poison_clobbered_at(0, 0x78);
}

#[test]
fn test_clobber_50th_byte() {
    poison_clobbered_at(50, 0x9a);
}

#[test]
fn test_clobber_redzone_free() {
    let a = fixture(arena(4 * MIB, MIB), 1, 1);
    let s = a
        .cache_create(params("TestSlub_RZ_free", 64, CacheFlags::RED_ZONE))
        .unwrap();
    let p = a.core(CoreId(0)).unwrap().alloc(s).unwrap();
    a.core(CoreId(0)).unwrap().free(s, p).unwrap();
    poke(p + 64, 0xab);
    let v = a.check_cache(s).unwrap();
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(
        (v[0].kind, v[0].offset, v[0].expected, v[0].found),
        (ViolationKind::RedZoneRight, 64, SLUB_RED_INACTIVE, 0xab)
    );
    a.cache_destroy(s).unwrap();
}

#[test]
fn test_kmalloc_redzone_access() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let set = a
        .kmalloc_set_create_with(OwnerId(1), |name| {
            if name == "kmalloc-32" {
                CacheFlags::STORE_USER | CacheFlags::RED_ZONE
            } else {
                CacheFlags::empty()
            }
        })
        .unwrap();
    let p = a.core(CoreId(0)).unwrap().kmalloc(&set, 18).unwrap();
    poke(p + 18, 0xab);
    poke(p + 19, 0xab);
    let v = a.check_cache(set.caches[2]).unwrap();
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(
        (v[0].kind, v[0].object, v[0].offset),
        (ViolationKind::RedZoneRight, p, 18)
    );
    assert!(v[0].last.alloc.is_some(), "STORE_USER names the allocation");
    poke(p + 18, SLUB_RED_ACTIVE);
    poke(p + 19, SLUB_RED_ACTIVE);
    a.core(CoreId(0)).unwrap().kfree(&set, p).unwrap();
}

/// Linux reports the leaked object and destroys the cache anyway; here the destroy is refused
/// with the number of live objects and the cache stays usable, so nothing leaks.
#[test]
fn test_leak_destroy() {
    let a = fixture(arena(4 * MIB, MIB), 1, 1);
    let s = a
        .cache_create(params("TestSlub_leak_destroy", 64, CacheFlags::NO_MERGE))
        .unwrap();
    let p = a.core(CoreId(0)).unwrap().alloc(s).unwrap();
    assert_eq!(a.cache_destroy(s), Err(DestroyError::Busy { live: 1 }));
    a.core(CoreId(0)).unwrap().free(s, p).unwrap();
    a.cache_destroy(s).unwrap();
    a.validate().unwrap();
}

#[test]
fn test_krealloc_redzone_zeroing() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let set = a
        .kmalloc_set_create_with(OwnerId(1), |_| {
            CacheFlags::STORE_USER | CacheFlags::RED_ZONE
        })
        .unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    let p = g.kmalloc(&set, 48).unwrap();
    for i in 0..48 {
        poke(p + i, 0xff);
    }
    // Shrink.
    let p = g.krealloc(&set, p, 40, true).unwrap();
    assert!((40..64).all(|i| peek(p + i) == SLUB_RED_ACTIVE));
    // Grow within the same 64-byte object.
    let p = g.krealloc(&set, p, 56, true).unwrap();
    assert!((40..56).all(|i| peek(p + i) == 0));
    assert!((56..64).all(|i| peek(p + i) == SLUB_RED_ACTIVE));
    drop(g);
    assert!(a.check_cache(set.caches[3]).unwrap().is_empty());
    let mut g = a.core(CoreId(0)).unwrap();
    for i in 0..56 {
        poke(p + i, 0xff);
    }
    // Grow into a bigger, 128-byte object.
    let p = g.krealloc(&set, p, 112, true).unwrap();
    assert!((0..56).all(|i| peek(p + i) == 0xff));
    assert!((56..112).all(|i| peek(p + i) == 0));
    g.kfree(&set, p).unwrap();
    drop(g);
    a.validate().unwrap();
}
