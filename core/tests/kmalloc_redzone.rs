//! kmalloc red zones at the requested size, as Linux's SLUB with red zoning: a red-zoned class
//! records what each kmalloc asked for, and a write between that and the class size is reported
//! on free and by `check_cache`; `ksize` hands the whole class to the caller; `kzalloc` zeroes
//! the requested bytes and leaves the rest red zone.
mod common;

use common::{arena, fixture, peek, poke};
use memserver_core::slab::debug::SLUB_RED_ACTIVE;
use memserver_core::topology::CoreId;
use memserver_core::{CacheFlags, FreeError, KmallocSet, OwnerId, ViolationKind};

const MIB: usize = 1 << 20;

fn red_zoned(a: &memserver_core::Allocator) -> KmallocSet {
    a.kmalloc_set_create_with(OwnerId(1), |_| CacheFlags::RED_ZONE)
        .unwrap()
}

#[test]
fn a_write_past_the_requested_size_is_reported_on_kfree() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let set = red_zoned(&a);
    let mut g = a.core(CoreId(0)).unwrap();
    let p = g.kmalloc(&set, 18).unwrap();
    assert_eq!(g.requested_size(p), Some(18));
    assert!((18..32).all(|i| peek(p + i) == SLUB_RED_ACTIVE));
    poke(p + 18, 0xab);
    match g.kfree(&set, p) {
        Err(FreeError::Corrupted(v)) => {
            assert_eq!(v.kind, ViolationKind::RedZoneRight);
            assert_eq!((v.object, v.offset), (p, 18));
            assert_eq!((v.expected, v.found), (SLUB_RED_ACTIVE, 0xab));
        }
        other => panic!("kfree of a damaged kmalloc red zone: {other:?}"),
    }
    // Repaired, it frees.
    poke(p + 18, SLUB_RED_ACTIVE);
    g.kfree(&set, p).unwrap();
    drop(g);
    a.validate().unwrap();
}

#[test]
fn check_cache_reports_each_damaged_byte_class_by_class() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let set = red_zoned(&a);
    let mut g = a.core(CoreId(0)).unwrap();
    let p = g.kmalloc(&set, 18).unwrap();
    let q = g.kmalloc(&set, 100).unwrap();
    poke(p + 19, 0xab);
    poke(q + 127, 0);
    drop(g);
    let v = a.check_cache(set.caches[2]).unwrap();
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!((v[0].object, v[0].offset), (p, 19));
    let v = a.check_cache(set.caches[5]).unwrap();
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!((v[0].object, v[0].offset), (q, 127));
}

#[test]
fn ksize_gives_the_whole_class_to_the_caller() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let set = red_zoned(&a);
    let mut g = a.core(CoreId(0)).unwrap();
    let p = g.kmalloc(&set, 18).unwrap();
    assert_eq!(g.usable_size(&set, p), Ok(32));
    assert_eq!(g.requested_size(p), Some(18), "usable_size changes nothing");
    assert_eq!(g.ksize(&set, p), Ok(32));
    assert_eq!(g.requested_size(p), Some(32));
    for i in 0..32 {
        poke(p + i, 1);
    }
    g.kfree(&set, p).unwrap();
}

#[test]
fn kzalloc_zeroes_the_request_and_red_zones_the_rest() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let set = red_zoned(&a);
    let mut g = a.core(CoreId(0)).unwrap();
    let p = g.kzalloc(&set, 40).unwrap();
    assert!((0..40).all(|i| peek(p + i) == 0));
    assert!((40..64).all(|i| peek(p + i) == SLUB_RED_ACTIVE));
    g.kfree(&set, p).unwrap();
}

#[test]
fn only_the_named_classes_are_red_zoned() {
    let a = fixture(arena(16 * MIB, MIB), 1, 1);
    let set = a
        .kmalloc_set_create_with(OwnerId(1), |name| {
            if name == "kmalloc-32" {
                CacheFlags::RED_ZONE
            } else {
                CacheFlags::empty()
            }
        })
        .unwrap();
    let mut g = a.core(CoreId(0)).unwrap();
    let plain = g.kmalloc(&set, 50).unwrap();
    assert_eq!(g.requested_size(plain), None);
    poke(plain + 60, 1);
    g.kfree(&set, plain).unwrap();
    let zoned = g.kmalloc(&set, 20).unwrap();
    assert_eq!(g.requested_size(zoned), Some(20));
    g.kfree(&set, zoned).unwrap();
}
