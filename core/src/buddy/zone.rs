//! One memory node's zone: its frames (one or more address ranges, "spans", numbered densely by a
//! zone-local frame index), a state byte per frame and the free lists. Blocks are naturally aligned
//! in the address space (a block of order k starts at a multiple of `PAGE_SIZE << k`) and never
//! cross a span; the buddy of a block is found by flipping the size bit of its address.
//!
//! Invariants (checked by `validate`): each span is tiled by blocks; a block's first frame holds
//! `FREE | order` or `USED | order`, its other frames hold `TAIL`; every `FREE` head is on the list
//! of its order, and two free buddies of the same order never coexist (they are merged).
//!
//! Locking: the immutable part (spans) is read freely; `ZoneState` lives behind the zone's own
//! `spin::Mutex`, taken once per alloc or free. No metadata is ever written into the frames.
use alloc::vec;
use alloc::vec::Vec;

use super::error::{BuddyError, BuddyInvariant};
use super::free_list::{FreeLists, NIL};
use super::{MAX_ORDER, PAGE_SHIFT, PAGE_SIZE};
use crate::topology::NodeId;

const TAIL: u8 = 0;
const FREE: u8 = 0x80;
const USED: u8 = 0x40;
const ORDER_MASK: u8 = 0x0f;

/// A contiguous range of frames inside a zone.
#[derive(Clone, Copy, Debug)]
pub(super) struct Span {
    pub(super) base: usize,
    /// One past the last byte.
    pub(super) end: usize,
    pub(super) node: NodeId,
    /// Zone-local index of the frame at `base`.
    pub(super) local_first: u32,
    /// Global (all zones) index of the frame at `base`.
    pub(super) global_first: usize,
}

impl Span {
    pub(super) fn frames(&self) -> usize {
        (self.end - self.base) >> PAGE_SHIFT
    }

    fn local_of(&self, addr: usize) -> u32 {
        self.local_first + ((addr - self.base) >> PAGE_SHIFT) as u32
    }

    fn addr_of(&self, local: u32) -> usize {
        self.base + (((local - self.local_first) as usize) << PAGE_SHIFT)
    }

    fn contains_block(&self, addr: usize, order: u8) -> bool {
        addr >= self.base && addr < self.end && (self.end - addr) >> PAGE_SHIFT >= 1 << order
    }
}

/// The lock-protected, mutable part of a zone.
#[derive(Debug)]
pub(super) struct ZoneState {
    state: Vec<u8>,
    lists: FreeLists,
    free_frames: usize,
}

/// A node's zone.
#[derive(Debug)]
pub(super) struct Zone {
    pub(super) node: NodeId,
    /// Sorted by base (and so by `local_first`).
    pub(super) spans: Vec<Span>,
    pub(super) frames: usize,
    pub(super) state: spin::Mutex<ZoneState>,
}

impl Zone {
    /// Builds the zone over `spans` (sorted, non-overlapping, numbered densely from local 0) with
    /// every frame free, each span cut greedily into the largest aligned blocks.
    pub(super) fn new(node: NodeId, spans: Vec<Span>) -> Self {
        let frames = spans.iter().map(Span::frames).sum();
        let mut st = ZoneState {
            state: vec![TAIL; frames],
            lists: FreeLists::new(frames),
            free_frames: frames,
        };
        for span in &spans {
            let mut addr = span.base;
            while addr < span.end {
                let align_order = (addr >> PAGE_SHIFT).trailing_zeros().min(MAX_ORDER as u32);
                let fit_order = ((span.end - addr) >> PAGE_SHIFT).ilog2();
                let order = align_order.min(fit_order) as u8;
                let local = span.local_of(addr);
                st.state[local as usize] = FREE | order;
                st.lists.push(order, local);
                addr += PAGE_SIZE << order;
            }
        }
        Zone {
            node,
            spans,
            frames,
            state: spin::Mutex::new(st),
        }
    }

    fn span_of_local(&self, local: u32) -> &Span {
        let i = self.spans.partition_point(|s| s.local_first <= local);
        &self.spans[i - 1]
    }

    /// Takes a block of `order` from this zone; returns its address.
    #[inline]
    pub(super) fn alloc(&self, order: u8) -> Option<usize> {
        let local = self.state.lock().alloc(order)?;
        let span = match self.spans.len() {
            1 => &self.spans[0],
            _ => self.span_of_local(local),
        };
        Some(span.addr_of(local))
    }

    /// Returns the block at `addr` (aligned to `order`, inside `span` of this zone).
    #[inline]
    pub(super) fn free(&self, span: &Span, addr: usize, order: u8) -> Result<(), BuddyError> {
        self.state.lock().free(span, addr, order)
    }

    /// The order of the allocated block starting at `addr` inside `span`, if any.
    pub(super) fn allocated_order(&self, span: &Span, addr: usize) -> Option<u8> {
        let s = self.state.lock().state[span.local_of(addr) as usize];
        (s & USED != 0).then_some(s & ORDER_MASK)
    }

    pub(super) fn free_frames(&self) -> usize {
        self.state.lock().free_frames
    }

    pub(super) fn free_blocks(&self, order: u8) -> usize {
        self.state.lock().lists.count(order)
    }

    pub(super) fn validate(&self) -> Result<(), BuddyInvariant> {
        self.state.lock().validate(self.node, &self.spans)
    }
}

impl ZoneState {
    fn alloc(&mut self, order: u8) -> Option<u32> {
        let mut o = self.lists.smallest_nonempty_from(order)?;
        let local = self.lists.pop(o)?;
        while o > order {
            o -= 1;
            let upper = local + (1 << o);
            self.state[upper as usize] = FREE | o;
            self.lists.push(o, upper);
        }
        self.state[local as usize] = USED | order;
        self.free_frames -= 1 << order;
        Some(local)
    }

    fn free(&mut self, span: &Span, addr: usize, order: u8) -> Result<(), BuddyError> {
        let local = span.local_of(addr);
        let s = self.state[local as usize];
        if s != USED | order {
            return Err(if s & USED != 0 {
                BuddyError::OrderMismatch {
                    addr,
                    allocated: s & ORDER_MASK,
                    given: order,
                }
            } else {
                BuddyError::NotAllocated { addr }
            });
        }
        self.state[local as usize] = TAIL;
        let (mut head, mut head_addr, mut o) = (local, addr, order);
        while o < MAX_ORDER {
            let buddy_addr = head_addr ^ (PAGE_SIZE << o);
            if !span.contains_block(buddy_addr, o) {
                break;
            }
            let buddy = span.local_of(buddy_addr);
            if self.state[buddy as usize] != FREE | o {
                break;
            }
            self.lists.remove(o, buddy);
            self.state[buddy as usize] = TAIL;
            if buddy_addr < head_addr {
                head = buddy;
                head_addr = buddy_addr;
            }
            o += 1;
        }
        self.state[head as usize] = FREE | o;
        self.lists.push(o, head);
        self.free_frames += 1 << order;
        Ok(())
    }

    fn validate(&self, node: NodeId, spans: &[Span]) -> Result<(), BuddyInvariant> {
        let mut found = [0usize; MAX_ORDER as usize + 1];
        let mut free_total = 0;
        for span in spans {
            let mut addr = span.base;
            while addr < span.end {
                let local = span.local_of(addr);
                let frame = span.global_first + (local - span.local_first) as usize;
                let s = self.state[local as usize];
                let order = s & ORDER_MASK;
                let is_head = (s & (FREE | USED)).count_ones() == 1;
                if !is_head || order > MAX_ORDER || s & !(FREE | USED | ORDER_MASK) != 0 {
                    return Err(BuddyInvariant::BadBlockStart {
                        node,
                        frame,
                        state: s,
                    });
                }
                if !addr.is_multiple_of(PAGE_SIZE << order) || !span.contains_block(addr, order) {
                    return Err(BuddyInvariant::BadBlockPlacement { node, frame, order });
                }
                for t in 1..(1u32 << order) {
                    let ts = self.state[(local + t) as usize];
                    if ts != TAIL {
                        return Err(BuddyInvariant::BadTail {
                            node,
                            frame: frame + t as usize,
                            state: ts,
                        });
                    }
                }
                if s & FREE != 0 {
                    found[order as usize] += 1;
                    free_total += 1 << order;
                    let buddy_addr = addr ^ (PAGE_SIZE << order);
                    if order < MAX_ORDER
                        && span.contains_block(buddy_addr, order)
                        && self.state[span.local_of(buddy_addr) as usize] == FREE | order
                    {
                        return Err(BuddyInvariant::Unmerged { node, frame, order });
                    }
                }
                addr += PAGE_SIZE << order;
            }
        }
        for order in 0..=MAX_ORDER {
            let listed = self.check_list(node, order, spans)?;
            let recorded = self.lists.count(order);
            if listed != recorded || listed != found[order as usize] {
                return Err(BuddyInvariant::CountMismatch {
                    node,
                    order,
                    listed,
                    recorded,
                    found: found[order as usize],
                });
            }
            if self.lists.marked_nonempty(order) != (listed != 0) {
                return Err(BuddyInvariant::BitmapMismatch { node, order });
            }
        }
        if free_total != self.free_frames {
            return Err(BuddyInvariant::FreeTotalMismatch {
                node,
                recorded: self.free_frames,
                found: free_total,
            });
        }
        Ok(())
    }

    /// Walks list `order` (bounded by the zone size, so a cycle is reported, not followed
    /// forever) and returns its length.
    fn check_list(&self, node: NodeId, order: u8, spans: &[Span]) -> Result<usize, BuddyInvariant> {
        let corrupt = |local: u32| {
            let frame = spans
                .iter()
                .rev()
                .find(|s| s.local_first <= local)
                .map_or(local as usize, |s| {
                    s.global_first + (local - s.local_first) as usize
                });
            BuddyInvariant::ListCorrupt { node, order, frame }
        };
        let mut len = 0;
        let mut prev = NIL;
        let mut cur = self.lists.head(order);
        while cur != NIL {
            if cur as usize >= self.state.len()
                || len >= self.state.len()
                || self.state[cur as usize] != FREE | order
                || self.lists.prev(cur) != prev
            {
                return Err(corrupt(cur));
            }
            len += 1;
            prev = cur;
            cur = self.lists.next(cur);
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: usize = 0x4000_0000;

    fn zone(frames: usize) -> Zone {
        Zone::new(
            NodeId(0),
            vec![Span {
                base: BASE,
                end: BASE + frames * PAGE_SIZE,
                node: NodeId(0),
                local_first: 0,
                global_first: 0,
            }],
        )
    }

    #[test]
    fn validate_finds_each_kind_of_damage() {
        let z = zone(16);
        let a = z.alloc(1).unwrap();
        z.validate().unwrap();

        let mut st = z.state.lock();
        st.state[1] = FREE;
        assert_eq!(
            st.validate(z.node, &z.spans),
            Err(BuddyInvariant::BadTail {
                node: NodeId(0),
                frame: 1,
                state: FREE
            })
        );
        st.state[1] = TAIL;
        st.free_frames += 1;
        assert!(matches!(
            st.validate(z.node, &z.spans),
            Err(BuddyInvariant::FreeTotalMismatch { .. })
        ));
        st.free_frames -= 1;
        st.state[0] = TAIL;
        assert!(matches!(
            st.validate(z.node, &z.spans),
            Err(BuddyInvariant::BadBlockStart { frame: 0, .. })
        ));
        st.state[0] = USED | 3;
        assert!(matches!(
            st.validate(z.node, &z.spans),
            Err(BuddyInvariant::BadTail { .. })
        ));
        st.state[0] = USED | 1;
        // Mark the allocated block free without listing it: missed merge with its free buddy.
        st.state[0] = FREE | 1;
        assert!(matches!(
            st.validate(z.node, &z.spans),
            Err(BuddyInvariant::Unmerged {
                frame: 0,
                order: 1,
                ..
            })
        ));
        st.state[0] = USED | 1;
        let listed = st.lists.head(1);
        st.lists.remove(1, listed);
        assert!(matches!(
            st.validate(z.node, &z.spans),
            Err(BuddyInvariant::CountMismatch { order: 1, .. })
        ));
        st.lists.push(1, listed);
        st.lists.push(0, 5);
        assert!(matches!(
            st.validate(z.node, &z.spans),
            Err(BuddyInvariant::ListCorrupt {
                order: 0,
                frame: 5,
                ..
            })
        ));
        st.lists.remove(0, 5);
        st.validate(z.node, &z.spans).unwrap();
        drop(st);
        assert_eq!(a, BASE);
        z.free(&z.spans[0], a, 1).unwrap();
        z.validate().unwrap();
        assert_eq!(z.free_blocks(4), 1);
        assert_eq!(z.free_frames(), 16);
    }
}
