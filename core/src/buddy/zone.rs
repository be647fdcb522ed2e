//! One memory node's zone: its frames (one or more address ranges, "spans", numbered densely by a
//! zone-local frame index), a state byte per frame and the free lists. Blocks are naturally aligned
//! in the address space (a block of order k starts at a multiple of `PAGE_SIZE << k`) and never
//! cross a span; the buddy of a block is found by flipping the size bit of its address.
//!
//! Invariants (checked by `validate`): each span is tiled by blocks; a block's first frame holds
//! `FREE | order` or `USED | order`, its other frames hold `TAIL`; every `FREE` head is on the list
//! of its order, and two free buddies of the same order never coexist (they are merged).
//!
//! The tiling starts as each span cut greedily into the largest aligned blocks, but those blocks
//! go on the lists only when an allocation first needs them ([`Fresh`]): until then their frames
//! are free, counted, and their state bytes and list links are untouched zeros, so where the
//! tables are fresh zero pages (a host process's `mmap`) a large zone costs memory only as it is
//! used, and building a zone costs no write per block.
//!
//! Locking: the immutable part (spans) is read freely; `ZoneState` lives behind the zone's own
//! `spin::Mutex`, taken once per alloc or free. No metadata is ever written into the frames.
use alloc::vec;
use alloc::vec::Vec;

use super::error::{BuddyError, BuddyInvariant};
use super::free_list::{FreeLists, NIL};
use super::{MAX_ORDER, ORDERS, PAGE_SHIFT, PAGE_SIZE};
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

    /// The order of the block the initial tiling cuts at `addr`: the largest aligned there that
    /// fits before the span's end.
    fn tiling_order(&self, addr: usize) -> u8 {
        let align_order = (addr >> PAGE_SHIFT).trailing_zeros().min(MAX_ORDER as u32);
        let fit_order = ((self.end - addr) >> PAGE_SHIFT).ilog2();
        align_order.min(fit_order) as u8
    }
}

/// The part of the initial tiling no allocation has reached: every block from `addr` in span
/// `span` on (spans in order) is free and on no list, its frames' state bytes all `TAIL`.
#[derive(Debug)]
struct Fresh {
    span: usize,
    addr: usize,
    /// Fresh blocks of each order.
    blocks: [usize; ORDERS],
}

impl Fresh {
    fn new(spans: &[Span]) -> Fresh {
        let mut blocks = [0; ORDERS];
        for span in spans {
            let mut addr = span.base;
            while addr < span.end {
                let order = span.tiling_order(addr);
                blocks[order as usize] += 1;
                addr += PAGE_SIZE << order;
            }
        }
        Fresh {
            span: 0,
            addr: spans.first().map_or(0, |s| s.base),
            blocks,
        }
    }

    /// Where the fresh part starts: (span index, address), past exhausted spans.
    fn start(&self, spans: &[Span]) -> Option<(usize, usize)> {
        let span = spans.get(self.span)?;
        if self.addr < span.end {
            return Some((self.span, self.addr));
        }
        let next = spans.get(self.span + 1)?;
        Some((self.span + 1, next.base))
    }
}

/// The lock-protected, mutable part of a zone.
#[derive(Debug)]
pub(super) struct ZoneState {
    state: Vec<u8>,
    lists: FreeLists,
    /// Free frames, the fresh part's included.
    free_frames: usize,
    fresh: Fresh,
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
    /// every frame free, each span cut greedily into the largest aligned blocks (all of them
    /// fresh).
    pub(super) fn new(node: NodeId, spans: Vec<Span>) -> Self {
        let frames = spans.iter().map(Span::frames).sum();
        let st = ZoneState {
            state: vec![TAIL; frames],
            lists: FreeLists::new(frames),
            free_frames: frames,
            fresh: Fresh::new(&spans),
        };
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
        let local = self.state.lock().alloc(order, &self.spans)?;
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
        let st = self.state.lock();
        st.lists.count(order) + st.fresh.blocks.get(order as usize).copied().unwrap_or(0)
    }

    pub(super) fn validate(&self) -> Result<(), BuddyInvariant> {
        self.state.lock().validate(self.node, &self.spans)
    }
}

impl ZoneState {
    fn alloc(&mut self, order: u8, spans: &[Span]) -> Option<u32> {
        let mut o = match self.lists.smallest_nonempty_from(order) {
            Some(o) => o,
            None => self.cut_fresh(order, spans)?,
        };
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

    /// Lists fresh blocks in tiling order until one of at least `order` is listed; returns its
    /// order. Lists nothing when no fresh block is that large.
    #[cold]
    fn cut_fresh(&mut self, order: u8, spans: &[Span]) -> Option<u8> {
        if self
            .fresh
            .blocks
            .get(order as usize..)?
            .iter()
            .all(|&n| n == 0)
        {
            return None;
        }
        loop {
            let (i, addr) = self.fresh.start(spans)?;
            let span = &spans[i];
            let o = span.tiling_order(addr);
            let local = span.local_of(addr);
            self.state[local as usize] = FREE | o;
            self.lists.push(o, local);
            self.fresh.blocks[o as usize] -= 1;
            self.fresh.span = i;
            self.fresh.addr = addr + (PAGE_SIZE << o);
            if o >= order {
                return Some(o);
            }
        }
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
        let (fresh_span, fresh_addr) = self.fresh.start(spans).unwrap_or((spans.len(), 0));
        for (i, span) in spans.iter().enumerate().take(fresh_span + 1) {
            let cut_end = if i == fresh_span {
                fresh_addr
            } else {
                span.end
            };
            let mut addr = span.base;
            while addr < cut_end {
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
        free_total += self.validate_fresh(node, spans, fresh_span, fresh_addr)?;
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

    /// Checks the fresh part (from `addr` in span `first` on): its state bytes all `TAIL`, its
    /// blocks of each order as counted. Returns its frames.
    fn validate_fresh(
        &self,
        node: NodeId,
        spans: &[Span],
        first: usize,
        addr: usize,
    ) -> Result<usize, BuddyInvariant> {
        let mut blocks = [0usize; ORDERS];
        let mut frames = 0;
        for (i, span) in spans.iter().enumerate().skip(first) {
            let mut at = if i == first { addr } else { span.base };
            if at < span.end {
                let local = span.local_of(at) as usize;
                let end = local + ((span.end - at) >> PAGE_SHIFT);
                if let Some(f) = (local..end).find(|&f| self.state[f] != TAIL) {
                    return Err(BuddyInvariant::BadTail {
                        node,
                        frame: span.global_first + f - span.local_first as usize,
                        state: self.state[f],
                    });
                }
            }
            while at < span.end {
                let order = span.tiling_order(at);
                blocks[order as usize] += 1;
                frames += 1 << order;
                at += PAGE_SIZE << order;
            }
        }
        if blocks != self.fresh.blocks {
            return Err(BuddyInvariant::FreshMismatch { node });
        }
        Ok(frames)
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
    fn blocks_are_listed_only_when_first_needed() {
        // Frames 1..=2051: the tiling is 1 (o0), 2 (o1), 4 (o2) ... 1024 (o10), 2048 (o2).
        let z = Zone::new(
            NodeId(0),
            vec![Span {
                base: BASE + PAGE_SIZE,
                end: BASE + 2052 * PAGE_SIZE,
                node: NodeId(0),
                local_first: 0,
                global_first: 1,
            }],
        );
        let untouched = |z: &Zone| z.state.lock().state.iter().all(|&s| s == TAIL);
        assert!(untouched(&z));
        assert_eq!(z.free_frames(), 2051);
        assert_eq!(z.free_blocks(MAX_ORDER), 1);
        assert_eq!(z.free_blocks(2), 2);
        z.validate().unwrap();
        // Nothing is that large: refused, and nothing was listed.
        assert_eq!(z.alloc(MAX_ORDER + 1), None);
        assert!(untouched(&z));
        // An order-1 block lists the first two blocks only, and takes the second.
        assert_eq!(z.alloc(1), Some(BASE + 2 * PAGE_SIZE));
        assert_eq!(z.state.lock().lists.count(0), 1);
        assert_eq!(z.free_blocks(0), 1);
        assert_eq!(z.free_blocks(2), 2);
        z.validate().unwrap();
        // The largest block is cut only when asked for, after every smaller one before it.
        let big = z.alloc(MAX_ORDER).unwrap();
        assert_eq!(big, BASE + 1024 * PAGE_SIZE);
        assert_eq!(z.free_blocks(MAX_ORDER), 0);
        z.validate().unwrap();
        z.free(&z.spans[0], big, MAX_ORDER).unwrap();
        assert_eq!(z.free_blocks(MAX_ORDER), 1);
        assert_eq!(z.free_frames(), 2049);
        z.validate().unwrap();
        // A fresh frame that is not TAIL is damage.
        z.state.lock().state[2048] = FREE | 2;
        assert!(matches!(
            z.validate(),
            Err(BuddyInvariant::BadTail { frame: 2049, .. })
        ));
        z.state.lock().state[2048] = TAIL;
        z.state.lock().fresh.blocks[2] += 1;
        assert_eq!(
            z.validate(),
            Err(BuddyInvariant::FreshMismatch { node: NodeId(0) })
        );
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
