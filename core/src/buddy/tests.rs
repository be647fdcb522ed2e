//! Unit tests of the buddy layer: carving, split and merge, fallback order, frame numbering, and
//! refused requests that must leave every free count unchanged.
use alloc::vec;
use alloc::vec::Vec;

use super::*;

/// Buddy never touches the frames, so tests use made-up addresses.
const BASE: usize = 0x4000_0000;
const MIB4: usize = PAGE_SIZE << MAX_ORDER;

fn one_node(frames: usize) -> Buddy {
    let t = Topology::uniform(1, 1).unwrap();
    let m = [MemRange {
        node: NodeId(0),
        base: BASE,
        len: frames * PAGE_SIZE,
    }];
    Buddy::new(&t, &m).unwrap()
}

fn two_nodes(frames_each: usize) -> Buddy {
    let t = Topology::uniform(2, 1).unwrap();
    let m = [
        MemRange {
            node: NodeId(0),
            base: BASE,
            len: frames_each * PAGE_SIZE,
        },
        MemRange {
            node: NodeId(1),
            base: BASE + 64 * MIB4,
            len: frames_each * PAGE_SIZE,
        },
    ];
    Buddy::new(&t, &m).unwrap()
}

/// Every free count of every zone, to compare before and after a refused request.
fn snapshot(b: &Buddy) -> Vec<usize> {
    let mut v = vec![b.free_frames()];
    for n in 0..b.nodes() {
        let node = NodeId(n as u8);
        v.push(b.free_frames_on(node));
        v.extend((0..=MAX_ORDER).map(|o| b.free_blocks(node, o)));
    }
    v
}

fn counts(b: &Buddy, node: NodeId) -> Vec<usize> {
    (0..=MAX_ORDER).map(|o| b.free_blocks(node, o)).collect()
}

#[test]
fn a_fresh_zone_is_cut_into_the_largest_aligned_blocks() {
    let b = one_node(2048);
    assert_eq!(b.total_frames(), 2048);
    assert_eq!(b.free_blocks(NodeId(0), MAX_ORDER), 2);
    b.validate().unwrap();

    // Starts one page past a 4 MiB boundary: 1 + 2 + 4 pages.
    let t = Topology::uniform(1, 1).unwrap();
    let m = [MemRange {
        node: NodeId(0),
        base: BASE + PAGE_SIZE,
        len: 7 * PAGE_SIZE,
    }];
    let b = Buddy::new(&t, &m).unwrap();
    b.validate().unwrap();
    assert_eq!(&counts(&b, NodeId(0))[..4], &[1, 1, 1, 0]);
    assert_eq!(b.alloc(2, NodeId(0)).unwrap().addr, BASE + 4 * PAGE_SIZE);
}

#[test]
fn alloc_splits_and_free_merges_back() {
    let b = one_node(1024);
    let blk = b.alloc(0, NodeId(0)).unwrap();
    assert_eq!(blk.order, 0);
    assert_eq!(blk.node, NodeId(0));
    assert_eq!(b.free_frames(), 1023);
    let mut expect = vec![1; MAX_ORDER as usize];
    expect.push(0);
    assert_eq!(counts(&b, NodeId(0)), expect);
    b.validate().unwrap();

    let buddy = b.alloc(0, NodeId(0)).unwrap();
    assert_eq!(buddy.addr, blk.addr ^ PAGE_SIZE);
    let big = b.alloc(3, NodeId(0)).unwrap();
    assert_eq!(big.addr % (PAGE_SIZE << 3), 0);
    b.validate().unwrap();

    b.free(blk.addr, 0).unwrap();
    b.validate().unwrap();
    assert_eq!(b.free_blocks(NodeId(0), 0), 1);
    b.free(buddy.addr, 0).unwrap();
    b.free_block(big).unwrap();
    b.validate().unwrap();
    assert_eq!(b.free_frames(), 1024);
    assert_eq!(b.free_blocks(NodeId(0), MAX_ORDER), 1);
    assert_eq!(b.free_blocks(NodeId(0), 0), 0);
}

#[test]
fn blocks_are_aligned_disjoint_and_exhaust_the_zone() {
    let b = one_node(64);
    let mut got = Vec::new();
    for order in [0u8, 3, 1, 2, 0, 4] {
        let blk = b.alloc(order, NodeId(0)).unwrap();
        assert_eq!(blk.addr % blk.bytes(), 0);
        got.push(blk);
    }
    while let Ok(blk) = b.alloc(0, NodeId(0)) {
        got.push(blk);
    }
    assert_eq!(b.free_frames(), 0);
    assert_eq!(
        b.alloc(0, NodeId(0)),
        Err(BuddyError::OutOfMemory { order: 0 })
    );
    got.sort_by_key(|b| b.addr);
    for w in got.windows(2) {
        assert!(w[0].addr + w[0].bytes() <= w[1].addr);
    }
    assert_eq!(got.iter().map(|b| 1usize << b.order).sum::<usize>(), 64);
    b.validate().unwrap();
    for blk in got.iter().rev() {
        b.free_block(*blk).unwrap();
    }
    assert_eq!(b.free_blocks(NodeId(0), 6), 1);
    b.validate().unwrap();
}

#[test]
fn alloc_falls_back_in_distance_order() {
    let t = Topology::new(
        vec![NodeId(0), NodeId(1), NodeId(2)],
        vec![vec![10, 30, 20], vec![30, 10, 20], vec![20, 20, 10]],
    )
    .unwrap();
    let m: Vec<MemRange> = (0..3)
        .map(|n| MemRange {
            node: NodeId(n),
            base: BASE + n as usize * MIB4,
            len: 4 * PAGE_SIZE,
        })
        .collect();
    let b = Buddy::new(&t, &m).unwrap();
    let first = b.alloc(2, NodeId(0)).unwrap();
    assert_eq!(first.node, NodeId(0));
    // Node 0 is full: the nearest other node is 2, then 1.
    assert_eq!(b.alloc(2, NodeId(0)).unwrap().node, NodeId(2));
    assert_eq!(b.alloc(2, NodeId(0)).unwrap().node, NodeId(1));
    assert_eq!(
        b.alloc(0, NodeId(0)),
        Err(BuddyError::OutOfMemory { order: 0 })
    );
    b.free_block(first).unwrap();
    assert_eq!(b.alloc(1, NodeId(1)).unwrap().node, NodeId(0));
    b.validate().unwrap();
}

#[test]
fn alloc_on_never_falls_back() {
    let b = two_nodes(4);
    let blk = b.alloc_on(2, NodeId(1)).unwrap();
    assert_eq!(blk.node, NodeId(1));
    assert_eq!(b.node_of(blk.addr), Some(NodeId(1)));
    let snap = snapshot(&b);
    assert_eq!(
        b.alloc_on(0, NodeId(1)),
        Err(BuddyError::OutOfMemory { order: 0 })
    );
    assert_eq!(snapshot(&b), snap);
    assert_eq!(b.free_frames_on(NodeId(0)), 4);
}

#[test]
fn a_node_without_memory_falls_back_and_alloc_on_it_fails() {
    let t = Topology::uniform(2, 1).unwrap();
    let m = [MemRange {
        node: NodeId(1),
        base: BASE,
        len: 8 * PAGE_SIZE,
    }];
    let b = Buddy::new(&t, &m).unwrap();
    assert_eq!(b.frames_on(NodeId(0)), 0);
    assert_eq!(b.alloc(0, NodeId(0)).unwrap().node, NodeId(1));
    assert_eq!(
        b.alloc_on(0, NodeId(0)),
        Err(BuddyError::OutOfMemory { order: 0 })
    );
    b.validate().unwrap();
}

#[test]
fn bad_requests_are_refused_and_change_nothing() {
    let b = two_nodes(16);
    let a = b.alloc(2, NodeId(0)).unwrap();
    let c = b.alloc(0, NodeId(0)).unwrap();
    assert_eq!((a.addr, c.addr), (BASE, BASE + 4 * PAGE_SIZE));
    let freed = b.alloc(0, NodeId(0)).unwrap();
    b.free_block(freed).unwrap();
    let snap = snapshot(&b);
    let cases = [
        (b.alloc(MAX_ORDER + 1, NodeId(0)), BuddyError::BadOrder(11)),
        (b.alloc(0, NodeId(2)), BuddyError::UnknownNode(NodeId(2))),
        (b.alloc_on(0, NodeId(9)), BuddyError::UnknownNode(NodeId(9))),
        (
            b.alloc_on(MAX_ORDER + 1, NodeId(0)),
            BuddyError::BadOrder(11),
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, Err(want));
        assert_eq!(snapshot(&b), snap);
    }
    let frees = [
        ((a.addr, MAX_ORDER + 1), BuddyError::BadOrder(11)),
        (
            (a.addr + 1, 0),
            BuddyError::Misaligned {
                addr: a.addr + 1,
                order: 0,
            },
        ),
        (
            (a.addr + PAGE_SIZE, 2),
            BuddyError::Misaligned {
                addr: a.addr + PAGE_SIZE,
                order: 2,
            },
        ),
        (
            (BASE - MIB4, 0),
            BuddyError::NotManaged { addr: BASE - MIB4 },
        ),
        ((0, 0), BuddyError::NotManaged { addr: 0 }),
        (
            (BASE + MIB4, 0),
            BuddyError::NotManaged { addr: BASE + MIB4 },
        ),
        // Interior frame of an allocated block.
        (
            (a.addr + PAGE_SIZE, 0),
            BuddyError::NotAllocated {
                addr: a.addr + PAGE_SIZE,
            },
        ),
        // Double free.
        (
            (freed.addr, 0),
            BuddyError::NotAllocated { addr: freed.addr },
        ),
        // Never allocated (inside a free block of the other node).
        (
            (BASE + 64 * MIB4 + 8 * PAGE_SIZE, 0),
            BuddyError::NotAllocated {
                addr: BASE + 64 * MIB4 + 8 * PAGE_SIZE,
            },
        ),
        (
            (a.addr, 1),
            BuddyError::OrderMismatch {
                addr: a.addr,
                allocated: 2,
                given: 1,
            },
        ),
        (
            (c.addr, 1),
            BuddyError::OrderMismatch {
                addr: c.addr,
                allocated: 0,
                given: 1,
            },
        ),
    ];
    for ((addr, order), want) in frees {
        assert_eq!(b.free(addr, order), Err(want), "free({addr:#x}, {order})");
        assert_eq!(snapshot(&b), snap);
        b.validate().unwrap();
    }
    b.free_block(a).unwrap();
    b.free_block(c).unwrap();
    assert_eq!(b.free_frames(), 32);
    b.validate().unwrap();
}

#[test]
fn bad_memory_ranges_are_refused() {
    let t = Topology::uniform(2, 1).unwrap();
    let r = |node: u8, base: usize, len: usize| MemRange {
        node: NodeId(node),
        base,
        len,
    };
    let err = |m: &[MemRange]| Buddy::new(&t, m).unwrap_err();
    assert_eq!(
        err(&[r(2, BASE, PAGE_SIZE)]),
        BuddyError::RangeUnknownNode(NodeId(2))
    );
    assert_eq!(
        err(&[r(0, BASE + 8, PAGE_SIZE)]),
        BuddyError::RangeMisaligned {
            base: BASE + 8,
            len: PAGE_SIZE
        }
    );
    assert_eq!(
        err(&[r(0, BASE, 100)]),
        BuddyError::RangeMisaligned {
            base: BASE,
            len: 100
        }
    );
    assert_eq!(err(&[r(0, BASE, 0)]), BuddyError::RangeEmpty { base: BASE });
    let top = usize::MAX - PAGE_SIZE + 1;
    assert_eq!(
        err(&[r(0, top, 2 * PAGE_SIZE)]),
        BuddyError::RangeOverflow {
            base: top,
            len: 2 * PAGE_SIZE
        }
    );
    assert_eq!(
        err(&[r(1, BASE + PAGE_SIZE, PAGE_SIZE), r(0, BASE, 2 * PAGE_SIZE)]),
        BuddyError::RangeOverlap {
            a: BASE,
            b: BASE + PAGE_SIZE
        }
    );
}

#[test]
fn frame_numbers_are_dense_over_all_ranges() {
    let t = Topology::uniform(2, 1).unwrap();
    // Node 1's range lies below node 0's; node 0 has two ranges.
    let m = [
        MemRange {
            node: NodeId(0),
            base: BASE + 2 * MIB4,
            len: 3 * PAGE_SIZE,
        },
        MemRange {
            node: NodeId(1),
            base: BASE,
            len: 5 * PAGE_SIZE,
        },
        MemRange {
            node: NodeId(0),
            base: BASE + MIB4,
            len: 2 * PAGE_SIZE,
        },
    ];
    let b = Buddy::new(&t, &m).unwrap();
    assert_eq!(b.total_frames(), 10);
    assert_eq!(b.frames_on(NodeId(0)), 5);
    let mut seen = [false; 10];
    for r in &m {
        for p in 0..r.len / PAGE_SIZE {
            let addr = r.base + p * PAGE_SIZE;
            let i = b.frame_index(addr + 17).unwrap();
            assert_eq!(b.frame_index(addr), Some(i));
            assert!(!seen[i]);
            seen[i] = true;
            assert_eq!(b.frame_addr(i), Some(addr));
            assert_eq!(b.node_of(addr + 5), Some(r.node));
        }
    }
    assert!(seen.iter().all(|&s| s));
    assert_eq!(b.frame_addr(10), None);
    assert_eq!(b.frame_index(BASE + 5 * PAGE_SIZE), None);
    assert_eq!(b.node_of(BASE - 1), None);

    // Allocation serves both ranges of node 0 and never merges across them.
    let mut got: Vec<Block> = (0..5).map(|_| b.alloc_on(0, NodeId(0)).unwrap()).collect();
    assert!(got.iter().all(|g| g.node == NodeId(0)));
    got.sort_by_key(|g| g.addr);
    got.dedup();
    assert_eq!(got.len(), 5);
    for g in &got {
        b.free_block(*g).unwrap();
        b.validate().unwrap();
    }
    assert_eq!(b.free_frames_on(NodeId(0)), 5);
}

#[test]
fn allocated_order_reports_only_block_starts() {
    let b = one_node(16);
    let blk = b.alloc(2, NodeId(0)).unwrap();
    assert_eq!(b.allocated_order(blk.addr), Some(2));
    assert_eq!(b.allocated_order(blk.addr + PAGE_SIZE), None);
    assert_eq!(b.allocated_order(blk.addr + 1), None);
    b.free_block(blk).unwrap();
    assert_eq!(b.allocated_order(blk.addr), None);
}

#[cfg(feature = "std")]
#[test]
fn concurrent_alloc_and_free_keep_the_accounting_exact() {
    // Operations per thread; Miri explores interleavings (and checks for data races) on fewer.
    const ROUNDS: usize = if cfg!(miri) { 150 } else { 2000 };
    let b = two_nodes(256);
    std::thread::scope(|s| {
        for t in 0..4u8 {
            let b = &b;
            s.spawn(move || {
                let mut held = Vec::new();
                for i in 0..ROUNDS {
                    if i % 3 != 2 {
                        if let Ok(blk) = b.alloc((i % 4) as u8, NodeId(t % 2)) {
                            held.push(blk);
                        }
                    } else if let Some(blk) = held.pop() {
                        b.free_block(blk).unwrap();
                    }
                }
                for blk in held {
                    b.free_block(blk).unwrap();
                }
            });
        }
    });
    b.validate().unwrap();
    assert_eq!(b.free_frames(), 512);
    assert_eq!(b.free_blocks(NodeId(0), 8), 1);
    assert_eq!(b.free_blocks(NodeId(1), 8), 1);
}

#[test]
fn buddy_is_shareable_between_threads() {
    fn sync<T: Sync + Send>() {}
    sync::<Buddy>();
}
