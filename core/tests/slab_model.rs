//! Model-based test of one cache: random sequences of alloc, zalloc, free, batch operations,
//! bad frees and shrinks on random cores of two nodes, checked against a model of the live
//! objects (address, contents) with `validate()` after every step.
mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{arena, fixture, peek, poke};
use memserver_core::topology::CoreId;
use memserver_core::{CacheFlags, CacheParams, Ctor, FreeError, OwnerId};
use proptest::prelude::*;

const CORES: u8 = 4;

#[derive(Clone, Debug)]
enum Op {
    Alloc(u8),
    Zalloc(u8),
    Free(u8, usize),
    AllocBatch(u8, usize),
    FreeBatch(u8, usize),
    DoubleFree(u8, usize),
    Interior(u8, usize, usize),
    Garbage(u8, usize, i32),
    Shrink,
}

fn op() -> impl Strategy<Value = Op> {
    let core = 0..CORES;
    prop_oneof![
        4 => core.clone().prop_map(Op::Alloc),
        1 => core.clone().prop_map(Op::Zalloc),
        4 => (core.clone(), any::<usize>()).prop_map(|(c, i)| Op::Free(c, i)),
        1 => (core.clone(), 1..80usize).prop_map(|(c, n)| Op::AllocBatch(c, n)),
        1 => (core.clone(), 1..80usize).prop_map(|(c, n)| Op::FreeBatch(c, n)),
        1 => (core.clone(), any::<usize>()).prop_map(|(c, i)| Op::DoubleFree(c, i)),
        1 => (core.clone(), any::<usize>(), 1..64usize).prop_map(|(c, i, o)| Op::Interior(c, i, o)),
        1 => (core.clone(), any::<usize>(), any::<i32>()).prop_map(|(c, i, d)| Op::Garbage(c, i, d)),
        1 => Just(Op::Shrink),
    ]
}

fn flags() -> impl Strategy<Value = CacheFlags> {
    (0u32..64).prop_map(|b| {
        let all = [
            CacheFlags::HWCACHE_ALIGN,
            CacheFlags::RED_ZONE,
            CacheFlags::POISON,
            CacheFlags::STORE_USER,
            CacheFlags::CONSISTENCY_CHECKS,
            CacheFlags::RANDOM_FREELIST,
        ];
        let mut f = CacheFlags::empty();
        for (i, x) in all.iter().enumerate() {
            if b & (1 << i) != 0 {
                f |= *x;
            }
        }
        f
    })
}

struct Model {
    live: BTreeMap<usize, u8>,
    freed: BTreeSet<usize>,
    tag: u8,
}

impl Model {
    fn nth_live(&self, i: usize) -> Option<usize> {
        (!self.live.is_empty()).then(|| *self.live.keys().nth(i % self.live.len()).unwrap())
    }
}

/// The slabinfo text agrees with the real state: one row for the cache, slabs × pages per slab
/// = slab frames, every live object counted active, the columns as laid out.
fn check_slabinfo(
    a: &memserver_core::Allocator,
    info: &memserver_core::CacheInfo,
    slab_frames: usize,
    live: usize,
) -> Result<(), TestCaseError> {
    let mut text = String::new();
    a.slabinfo(None, &mut text).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    prop_assert_eq!(lines.len(), 3);
    prop_assert_eq!(lines[0], "slabinfo - version: 2.1");
    let f: Vec<&str> = lines[2].split_whitespace().collect();
    prop_assert_eq!(f.len(), 16);
    prop_assert_eq!(f[0], "model");
    let n = |i: usize| f[i].parse::<usize>().unwrap();
    let (active, num, objsize, perslab, pages) = (n(1), n(2), n(3), n(4), n(5));
    let (active_slabs, num_slabs) = (n(13), n(14));
    prop_assert_eq!(
        (f[6], f[7], f[11], f[12]),
        (":", "tunables", ":", "slabdata")
    );
    prop_assert_eq!(objsize, info.layout.stride as usize);
    prop_assert_eq!(perslab, info.layout.objects as usize);
    prop_assert_eq!(pages, 1 << info.layout.order);
    prop_assert_eq!(num, num_slabs * perslab);
    prop_assert_eq!(num_slabs * pages, slab_frames);
    prop_assert!(active >= live && active <= num);
    prop_assert!(active_slabs <= num_slabs);
    prop_assert!(active_slabs * perslab >= active);
    Ok(())
}

/// Operations per case (fewer under Miri, which runs every check after every operation slowly).
const MAX_OPS: usize = if cfg!(miri) { 16 } else { 60 };

/// Whether `validate()` and the slabinfo check follow every step. Under Miri, which looks for
/// undefined behaviour in the operations themselves, they follow the last step of each case
/// (the accounting is still checked after every step).
const FULL_CHECK_EVERY_STEP: bool = !cfg!(miri);

proptest! {
    // Under Miri two cases.
    #![proptest_config(common::proptest_config(1000, 2))]

    #[test]
    fn cache_matches_model(
        size in 1usize..1500,
        align_shift in 0u32..7,
        flags in flags(),
        ops in proptest::collection::vec(op(), 1..MAX_OPS),
    ) {
        let a = fixture(arena(8 << 20, 2 << 20), 2, 2);
        let base = a.stats();
        let align = 1usize << align_shift;
        let id = a.cache_create(CacheParams {
            name: "model",
            size,
            align,
            flags,
            ctor: Ctor::None,
            owner: OwnerId(1),
        }).unwrap();
        let info = a.cache_info(id).unwrap();
        let stride = info.layout.stride as usize;
        let mut m = Model { live: BTreeMap::new(), freed: BTreeSet::new(), tag: 0 };
        let mut got = vec![0usize; 80];

        let on_alloc = |m: &mut Model, addr: usize, zeroed: bool| {
            prop_assert!(!m.live.contains_key(&addr), "{addr:#x} handed out twice");
            prop_assert_eq!(addr % align.max(8), 0);
            if zeroed {
                prop_assert!((0..size).all(|i| peek(addr + i) == 0));
            }
            m.tag = m.tag.wrapping_add(1);
            poke(addr, m.tag);
            poke(addr + size - 1, m.tag);
            m.live.insert(addr, m.tag);
            m.freed.remove(&addr);
            Ok(())
        };
        let check_tag = |addr: usize, tag: u8| -> Result<(), TestCaseError> {
            prop_assert_eq!(peek(addr), tag);
            prop_assert_eq!(peek(addr + size - 1), tag);
            Ok(())
        };
        // Restores the poison a debug cache expects before the object is freed.
        let unpoke = |addr: usize| {
            if flags.contains(CacheFlags::POISON) {
                for i in 0..size - 1 { poke(addr + i, 0x6b); }
                poke(addr + size - 1, 0xa5);
            }
        };

        let steps = ops.len();
        for (step, op) in ops.into_iter().enumerate() {
            match op {
                Op::Alloc(c) => {
                    let addr = a.core(CoreId(c)).unwrap().alloc(id).unwrap();
                    on_alloc(&mut m, addr, false)?;
                }
                Op::Zalloc(c) => {
                    let addr = a.core(CoreId(c)).unwrap().zalloc(id).unwrap();
                    on_alloc(&mut m, addr, true)?;
                }
                Op::Free(c, i) => {
                    if let Some(addr) = m.nth_live(i) {
                        check_tag(addr, m.live[&addr])?;
                        unpoke(addr);
                        a.core(CoreId(c)).unwrap().free(id, addr).unwrap();
                        m.live.remove(&addr);
                        m.freed.insert(addr);
                    }
                }
                Op::AllocBatch(c, n) => {
                    let k = a.core(CoreId(c)).unwrap().alloc_batch(id, &mut got[..n]).unwrap();
                    prop_assert_eq!(k, n);
                    for &addr in &got[..n] {
                        on_alloc(&mut m, addr, false)?;
                    }
                }
                Op::FreeBatch(c, n) => {
                    let addrs: Vec<usize> = m.live.keys().copied().take(n).collect();
                    for &addr in &addrs {
                        check_tag(addr, m.live[&addr])?;
                        unpoke(addr);
                    }
                    a.core(CoreId(c)).unwrap().free_batch(id, &addrs).unwrap();
                    for addr in addrs {
                        m.live.remove(&addr);
                        m.freed.insert(addr);
                    }
                }
                Op::DoubleFree(c, i) => {
                    if !m.freed.is_empty() {
                        let addr = *m.freed.iter().nth(i % m.freed.len()).unwrap();
                        let r = a.core(CoreId(c)).unwrap().free(id, addr);
                        // A shrink or the free path may have returned the object's slab to the
                        // buddy layer (and a new slab may sit there now).
                        prop_assert!(
                            matches!(r, Err(FreeError::DoubleFree { .. } | FreeError::NotOurs { .. } | FreeError::NeverAllocated { .. })),
                            "double free of {addr:#x}: {r:?}"
                        );
                    }
                }
                Op::Interior(c, i, off) => {
                    if let Some(addr) = m.nth_live(i) {
                        let off = off % stride;
                        if off != 0 {
                            let r = a.core(CoreId(c)).unwrap().free(id, addr + off);
                            prop_assert!(
                                matches!(r, Err(FreeError::Interior { .. } | FreeError::NotOurs { .. })),
                                "interior free: {r:?}"
                            );
                        }
                    }
                }
                Op::Garbage(c, i, delta) => {
                    // Any address that is not a live object start is refused and changes nothing.
                    let addr = match m.nth_live(i) {
                        Some(x) => x.wrapping_add_signed(delta as isize),
                        None => i,
                    };
                    if !m.live.contains_key(&addr) {
                        let before = a.stats();
                        let r = a.core(CoreId(c)).unwrap().free(id, addr);
                        prop_assert!(r.is_err(), "garbage {addr:#x} accepted");
                        prop_assert_eq!(a.stats(), before);
                    }
                }
                Op::Shrink => {
                    a.cache_shrink(id).unwrap();
                }
            }
            let stats = a.stats();
            prop_assert_eq!(stats.objects_in_use, m.live.len());
            if FULL_CHECK_EVERY_STEP || step + 1 == steps {
                a.validate().map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                check_slabinfo(&a, &info, stats.slab_frames, m.live.len())?;
            }
        }
        for (&addr, &tag) in &m.live {
            check_tag(addr, tag)?;
        }
        prop_assert!(a.check_cache(id).unwrap().is_empty());
        let live = m.live.len();
        if live > 0 {
            prop_assert_eq!(a.cache_destroy(id), Err(memserver_core::DestroyError::Busy { live }));
        }
        let mut g = a.core(CoreId(0)).unwrap();
        for &addr in m.live.keys() {
            unpoke(addr);
            g.free(id, addr).unwrap();
        }
        drop(g);
        a.cache_destroy(id).unwrap();
        a.validate().map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(a.stats(), base);
    }
}
