//! Model-based test of the buddy layer: random operation sequences over two nodes, checked against
//! a reference model (the set of allocated blocks), with `validate()` after every step.
mod common;

use std::collections::BTreeMap;

use memserver_core::buddy::{Block, Buddy, BuddyError, MAX_ORDER, PAGE_SIZE};
use memserver_core::platform::host::HostArena;
use memserver_core::platform::{MemRange, Platform};
use memserver_core::topology::{NodeId, Topology};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Layout {
    /// A real arena from the OS: `pages` frames per node.
    Arena { pages: usize },
    /// Made-up addresses (the buddy never touches frames): node 0 one range, node 1 two ranges,
    /// each at an odd page offset so blocks are cut at unaligned edges.
    Synthetic { ranges: [(usize, usize); 3] },
}

#[derive(Clone, Debug)]
enum Op {
    Alloc { order: u8, node: u8 },
    AllocOn { order: u8, node: u8 },
    Free { pick: usize },
    WrongOrder { pick: usize, order: u8 },
    Interior { pick: usize, page: usize },
    DoubleFree { pick: usize },
    Misaligned { pick: usize, offset: usize },
    Outside { which: u8 },
    BadOrderFree { pick: usize },
}

fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![
        (1usize..=48).prop_map(|pages| Layout::Arena { pages }),
        [
            (0usize..16, 1usize..40),
            (0usize..16, 1usize..24),
            (0usize..16, 1usize..24)
        ]
        .prop_map(|ranges| Layout::Synthetic { ranges }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let order = prop_oneof![8 => 0u8..=4, 1 => 5u8..=MAX_ORDER + 2];
    prop_oneof![
        6 => (order.clone(), 0u8..3).prop_map(|(order, node)| Op::Alloc { order, node }),
        2 => (order, 0u8..3).prop_map(|(order, node)| Op::AllocOn { order, node }),
        6 => any::<usize>().prop_map(|pick| Op::Free { pick }),
        1 => (any::<usize>(), 0u8..=MAX_ORDER).prop_map(|(pick, order)| Op::WrongOrder { pick, order }),
        1 => (any::<usize>(), 1usize..16).prop_map(|(pick, page)| Op::Interior { pick, page }),
        1 => any::<usize>().prop_map(|pick| Op::DoubleFree { pick }),
        1 => (any::<usize>(), 1usize..PAGE_SIZE).prop_map(|(pick, offset)| Op::Misaligned { pick, offset }),
        1 => (0u8..3).prop_map(|which| Op::Outside { which }),
        1 => any::<usize>().prop_map(|pick| Op::BadOrderFree { pick }),
    ]
}

struct Model {
    ranges: Vec<MemRange>,
    /// Allocated blocks by address.
    live: BTreeMap<usize, Block>,
    /// Addresses freed earlier (candidates for double frees).
    freed: Vec<(usize, u8)>,
}

impl Model {
    fn frames_on(&self, node: NodeId) -> usize {
        self.ranges
            .iter()
            .filter(|r| r.node == node)
            .map(|r| r.len / PAGE_SIZE)
            .sum()
    }

    fn used_on(&self, node: NodeId) -> usize {
        self.live
            .values()
            .filter(|b| b.node == node)
            .map(|b| 1usize << b.order)
            .sum()
    }

    fn overlaps(&self, addr: usize, bytes: usize) -> bool {
        // Blocks are at most 4 MiB: only blocks starting within that distance below can overlap.
        let from = addr.saturating_sub(PAGE_SIZE << MAX_ORDER);
        self.live
            .range(from..addr + bytes)
            .any(|(&a, b)| a < addr + bytes && addr < a + b.bytes())
    }

    /// Whether `node` has an aligned, entirely free region of `2^order` frames inside one range.
    /// A buddy allocator that always merges free buddies can then serve that order.
    fn has_free_aligned(&self, node: NodeId, order: u8) -> bool {
        let size = PAGE_SIZE << order;
        self.ranges.iter().filter(|r| r.node == node).any(|r| {
            let mut a = r.base.next_multiple_of(size);
            while a + size <= r.base + r.len {
                if !self.overlaps(a, size) {
                    return true;
                }
                a += size;
            }
            false
        })
    }

    fn pick(&self, pick: usize) -> Option<Block> {
        (!self.live.is_empty()).then(|| *self.live.values().nth(pick % self.live.len()).unwrap())
    }
}

fn build(layout: &Layout) -> (Option<HostArena>, Vec<MemRange>) {
    match layout {
        Layout::Arena { pages } => {
            let arena = HostArena::new(2 * pages * PAGE_SIZE, 2).unwrap();
            let ranges = arena.memory().to_vec();
            (Some(arena), ranges)
        }
        Layout::Synthetic { ranges } => {
            let bases = [0x1000_0000, 0x2000_0000, 0x2080_0000];
            let nodes = [0, 1, 1];
            let ranges = (0..3)
                .map(|i| MemRange {
                    node: NodeId(nodes[i]),
                    base: bases[i] + ranges[i].0 * PAGE_SIZE,
                    len: ranges[i].1 * PAGE_SIZE,
                })
                .collect();
            (None, ranges)
        }
    }
}

fn check_counts(b: &Buddy, m: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(b.validate(), Ok(()));
    for n in 0..2 {
        let node = NodeId(n);
        prop_assert_eq!(b.frames_on(node), m.frames_on(node));
        prop_assert_eq!(b.free_frames_on(node), m.frames_on(node) - m.used_on(node));
        let by_order: usize = (0..=MAX_ORDER).map(|o| b.free_blocks(node, o) << o).sum();
        prop_assert_eq!(by_order, b.free_frames_on(node));
    }
    Ok(())
}

fn expect_refused(
    b: &Buddy,
    m: &Model,
    addr: usize,
    order: u8,
    want: BuddyError,
) -> Result<(), TestCaseError> {
    let before: Vec<usize> = (0..2).map(|n| b.free_frames_on(NodeId(n))).collect();
    prop_assert_eq!(b.free(addr, order), Err(want));
    let after: Vec<usize> = (0..2).map(|n| b.free_frames_on(NodeId(n))).collect();
    prop_assert_eq!(before, after);
    check_counts(b, m)
}

fn check_alloc(
    b: &Buddy,
    m: &mut Model,
    order: u8,
    node: u8,
    fallback: bool,
) -> Result<(), TestCaseError> {
    let res = if fallback {
        b.alloc(order, NodeId(node))
    } else {
        b.alloc_on(order, NodeId(node))
    };
    if order > MAX_ORDER {
        prop_assert_eq!(res, Err(BuddyError::BadOrder(order)));
        return Ok(());
    }
    if node >= 2 {
        prop_assert_eq!(res, Err(BuddyError::UnknownNode(NodeId(node))));
        return Ok(());
    }
    let candidates: Vec<NodeId> = if fallback {
        vec![NodeId(node), NodeId(1 - node)]
    } else {
        vec![NodeId(node)]
    };
    match res {
        Ok(blk) => {
            prop_assert_eq!(blk.order, order);
            prop_assert_eq!(blk.addr % blk.bytes(), 0);
            prop_assert!(candidates.contains(&blk.node));
            // Nodes before the one used had nothing of that order.
            for &n in candidates.iter().take_while(|&&n| n != blk.node) {
                prop_assert!(!m.has_free_aligned(n, order));
            }
            let inside = m.ranges.iter().any(|r| {
                r.node == blk.node && blk.addr >= r.base && blk.addr + blk.bytes() <= r.base + r.len
            });
            prop_assert!(inside, "block {:x?} outside its node's ranges", blk);
            prop_assert!(!m.overlaps(blk.addr, blk.bytes()), "overlap {:x?}", blk);
            prop_assert_eq!(b.node_of(blk.addr), Some(blk.node));
            prop_assert_eq!(b.allocated_order(blk.addr), Some(order));
            let first = b.frame_index(blk.addr).unwrap();
            prop_assert_eq!(b.frame_addr(first), Some(blk.addr));
            prop_assert_eq!(
                b.frame_index(blk.addr + blk.bytes() - 1),
                Some(first + (1 << order) - 1)
            );
            m.live.insert(blk.addr, blk);
        }
        Err(e) => {
            prop_assert_eq!(e, BuddyError::OutOfMemory { order });
            for &n in &candidates {
                prop_assert!(
                    !m.has_free_aligned(n, order),
                    "refused order {} on {:?}",
                    order,
                    n
                );
            }
        }
    }
    Ok(())
}

fn run(layout: Layout, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let (_arena, ranges) = build(&layout);
    let topo = Topology::uniform(2, 1).unwrap();
    let b = Buddy::new(&topo, &ranges).unwrap();
    let total: usize = ranges.iter().map(|r| r.len / PAGE_SIZE).sum();
    prop_assert_eq!(b.total_frames(), total);
    let mut m = Model {
        ranges,
        live: BTreeMap::new(),
        freed: Vec::new(),
    };
    check_counts(&b, &m)?;
    let lowest = m.ranges.iter().map(|r| r.base).min().unwrap();
    let highest = m.ranges.iter().map(|r| r.base + r.len).max().unwrap();
    for op in ops {
        match op {
            Op::Alloc { order, node } => check_alloc(&b, &mut m, order, node, true)?,
            Op::AllocOn { order, node } => check_alloc(&b, &mut m, order, node, false)?,
            Op::Free { pick } => {
                if let Some(blk) = m.pick(pick) {
                    prop_assert_eq!(b.free(blk.addr, blk.order), Ok(()));
                    m.live.remove(&blk.addr);
                    m.freed.push((blk.addr, blk.order));
                    prop_assert_eq!(b.allocated_order(blk.addr), None);
                }
            }
            Op::WrongOrder { pick, order } => {
                if let Some(blk) = m.pick(pick).filter(|blk| blk.order != order) {
                    let want = if blk.addr % (PAGE_SIZE << order) != 0 {
                        BuddyError::Misaligned {
                            addr: blk.addr,
                            order,
                        }
                    } else {
                        BuddyError::OrderMismatch {
                            addr: blk.addr,
                            allocated: blk.order,
                            given: order,
                        }
                    };
                    expect_refused(&b, &m, blk.addr, order, want)?;
                }
            }
            Op::Interior { pick, page } => {
                if let Some(blk) = m.pick(pick).filter(|blk| page < 1 << blk.order) {
                    let addr = blk.addr + page * PAGE_SIZE;
                    expect_refused(&b, &m, addr, 0, BuddyError::NotAllocated { addr })?;
                }
            }
            Op::DoubleFree { pick } => {
                if !m.freed.is_empty() {
                    let (addr, order) = m.freed[pick % m.freed.len()];
                    if !m.live.contains_key(&addr) {
                        expect_refused(&b, &m, addr, order, BuddyError::NotAllocated { addr })?;
                    }
                }
            }
            Op::Misaligned { pick, offset } => {
                if let Some(blk) = m.pick(pick) {
                    let addr = blk.addr + offset;
                    let want = BuddyError::Misaligned { addr, order: 0 };
                    expect_refused(&b, &m, addr, 0, want)?;
                }
            }
            Op::Outside { which } => {
                let addr = match which {
                    0 => 0,
                    1 => lowest - PAGE_SIZE,
                    _ => highest,
                };
                expect_refused(&b, &m, addr, 0, BuddyError::NotManaged { addr })?;
            }
            Op::BadOrderFree { pick } => {
                let addr = m.pick(pick).map_or(lowest, |blk| blk.addr);
                expect_refused(
                    &b,
                    &m,
                    addr,
                    MAX_ORDER + 1,
                    BuddyError::BadOrder(MAX_ORDER + 1),
                )?;
            }
        }
        check_counts(&b, &m)?;
    }
    // Freeing everything merges back to the initial state.
    for blk in m.live.values() {
        prop_assert_eq!(b.free(blk.addr, blk.order), Ok(()));
    }
    m.live.clear();
    check_counts(&b, &m)?;
    let fresh = Buddy::new(&topo, &m.ranges).unwrap();
    for n in 0..2 {
        for o in 0..=MAX_ORDER {
            prop_assert_eq!(b.free_blocks(NodeId(n), o), fresh.free_blocks(NodeId(n), o));
        }
    }
    Ok(())
}

/// Operations per case (fewer under Miri, which runs every check after every operation slowly).
const MAX_OPS: usize = if cfg!(miri) { 16 } else { 120 };

proptest! {
    // Under Miri two cases (the buddy layer has no unsafe code; its arena is set up through
    // the host platform's).
    #![proptest_config(common::proptest_config(1000, 2))]

    #[test]
    fn buddy_matches_the_model(layout in layout(), ops in prop::collection::vec(op(), 1..MAX_OPS)) {
        run(layout, ops)?;
    }
}
