//! Model-based test of kmalloc: two owners allocate sizes over every class and above (large
//! blocks) on random cores of two nodes, free through `kfree`, check `ksize`, try foreign and
//! double frees; the model holds each live block's size and contents. `validate()` after every
//! step; purging both owners returns the allocator to its initial accounting.
mod common;

use std::collections::BTreeMap;

use common::{arena, fixture, peek, poke};
use memserver_core::kmalloc::KMALLOC_MAX_CACHE_SIZE;
use memserver_core::topology::CoreId;
use memserver_core::{FreeError, KmallocSet, OwnerId};
use proptest::prelude::*;

const CORES: u8 = 4;

#[derive(Clone, Debug)]
enum Op {
    Kmalloc(u8, u8, usize),
    Kzalloc(u8, u8, usize),
    Kfree(u8, usize),
    ForeignFree(u8, usize),
    DoubleFree(u8, usize),
    Garbage(u8, u8, usize, i32),
    Shrink,
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        6 => 1usize..=256,
        3 => 257usize..=KMALLOC_MAX_CACHE_SIZE,
        1 => KMALLOC_MAX_CACHE_SIZE + 1..=64 * 1024,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let core = 0..CORES;
    prop_oneof![
        5 => (core.clone(), 0..2u8, size()).prop_map(|(c, o, s)| Op::Kmalloc(c, o, s)),
        1 => (core.clone(), 0..2u8, size()).prop_map(|(c, o, s)| Op::Kzalloc(c, o, s)),
        5 => (core.clone(), any::<usize>()).prop_map(|(c, i)| Op::Kfree(c, i)),
        1 => (core.clone(), any::<usize>()).prop_map(|(c, i)| Op::ForeignFree(c, i)),
        1 => (core.clone(), any::<usize>()).prop_map(|(c, i)| Op::DoubleFree(c, i)),
        1 => (core.clone(), 0..2u8, any::<usize>(), any::<i32>())
            .prop_map(|(c, o, i, d)| Op::Garbage(c, o, i, d)),
        1 => Just(Op::Shrink),
    ]
}

#[derive(Clone, Copy)]
struct Live {
    owner: usize,
    size: usize,
    tag: u8,
}

/// Operations per case (fewer under Miri, which runs every check after every operation slowly).
const MAX_OPS: usize = if cfg!(miri) { 16 } else { 60 };

/// Whether `validate()` follows every step. Under Miri, which looks for undefined behaviour in
/// the operations themselves, it follows the last step of each case (the accounting is still
/// checked after every step).
const VALIDATE_EVERY_STEP: bool = !cfg!(miri);

proptest! {
    // Under Miri two cases (each makes two sets of 13 caches on four cores before its first step).
    #![proptest_config(common::proptest_config(1000, 2))]

    #[test]
    fn kmalloc_matches_model(ops in proptest::collection::vec(op(), 1..MAX_OPS)) {
        let a = fixture(arena(16 << 20, 2 << 20), 2, 2);
        let base = a.stats();
        let sets: [KmallocSet; 2] = [
            a.kmalloc_set_create(OwnerId(10)).unwrap(),
            a.kmalloc_set_create(OwnerId(11)).unwrap(),
        ];
        let mut live: BTreeMap<usize, Live> = BTreeMap::new();
        let mut freed: Vec<usize> = Vec::new();
        let mut tag = 0u8;
        let nth = |live: &BTreeMap<usize, Live>, i: usize| {
            (!live.is_empty()).then(|| *live.keys().nth(i % live.len()).unwrap())
        };
        let steps = ops.len();
        for (step, op) in ops.into_iter().enumerate() {
            match op {
                Op::Kmalloc(c, o, s) | Op::Kzalloc(c, o, s) => {
                    let zero = matches!(op, Op::Kzalloc(..));
                    let mut g = a.core(CoreId(c)).unwrap();
                    let set = &sets[o as usize];
                    let addr = if zero { g.kzalloc(set, s) } else { g.kmalloc(set, s) }.unwrap();
                    let k = g.ksize(set, addr).unwrap();
                    prop_assert!(k >= s);
                    if zero {
                        prop_assert!((0..s).all(|i| peek(addr + i) == 0));
                    }
                    // No overlap with any live block.
                    if let Some((&prev, l)) = live.range(..=addr).next_back() {
                        prop_assert!(prev + l.size <= addr, "overlap {prev:#x}+{} / {addr:#x}", l.size);
                    }
                    if let Some((&next, _)) = live.range(addr..).next() {
                        prop_assert!(addr + s <= next);
                    }
                    tag = tag.wrapping_add(1);
                    poke(addr, tag);
                    poke(addr + s - 1, tag);
                    live.insert(addr, Live { owner: o as usize, size: s, tag });
                    freed.retain(|&f| f != addr);
                }
                Op::Kfree(c, i) => {
                    if let Some(addr) = nth(&live, i) {
                        let l = live[&addr];
                        prop_assert_eq!(peek(addr), l.tag);
                        prop_assert_eq!(peek(addr + l.size - 1), l.tag);
                        a.core(CoreId(c)).unwrap().kfree(&sets[l.owner], addr).unwrap();
                        live.remove(&addr);
                        freed.push(addr);
                    }
                }
                Op::ForeignFree(c, i) => {
                    if let Some(addr) = nth(&live, i) {
                        let other = &sets[1 - live[&addr].owner];
                        prop_assert_eq!(
                            a.core(CoreId(c)).unwrap().kfree(other, addr),
                            Err(FreeError::ForeignOwner { addr })
                        );
                    }
                }
                Op::DoubleFree(c, i) => {
                    if !freed.is_empty() {
                        let addr = freed[i % freed.len()];
                        let mut g = a.core(CoreId(c)).unwrap();
                        let r0 = g.kfree(&sets[0], addr);
                        let r1 = g.kfree(&sets[1], addr);
                        // Freed slab objects report a double free (or another owner's slab);
                        // freed large blocks are gone (or now belong to a slab of either owner).
                        for r in [r0, r1] {
                            prop_assert!(
                                matches!(
                                    r,
                                    Err(FreeError::DoubleFree { .. }
                                        | FreeError::NeverAllocated { .. }
                                        | FreeError::ForeignOwner { .. }
                                        | FreeError::NotOurs { .. }
                                        | FreeError::Interior { .. })
                                ),
                                "second free of {addr:#x}: {r:?}"
                            );
                        }
                    }
                }
                Op::Garbage(c, o, i, delta) => {
                    let addr = match nth(&live, i) {
                        Some(x) => x.wrapping_add_signed(delta as isize),
                        None => i,
                    };
                    if live.get(&addr).is_none_or(|l| l.owner != o as usize) {
                        let before = a.stats();
                        let r = a.core(CoreId(c)).unwrap().kfree(&sets[o as usize], addr);
                        prop_assert!(r.is_err(), "garbage {addr:#x} accepted");
                        prop_assert_eq!(a.stats(), before);
                    }
                }
                Op::Shrink => {
                    a.shrink_all();
                }
            }
            if VALIDATE_EVERY_STEP || step + 1 == steps {
                a.validate().map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            }
            let s = a.stats();
            let large = live.values().filter(|l| l.size > KMALLOC_MAX_CACHE_SIZE).count();
            prop_assert_eq!(s.objects_in_use, live.len() - large);
        }
        for o in [10, 11] {
            a.purge_owner(OwnerId(o));
        }
        a.validate().map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(a.stats(), base);
    }
}
