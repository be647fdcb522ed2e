//! The free lists of one zone: for each order a doubly linked list of free block heads, linked
//! through an out-of-line array indexed by zone-local frame number (never through the frames,
//! which belong to clients). Push, pop and removal of any member are O(1); a bitmap of non-empty
//! orders finds the smallest usable order in O(1). Owned by its zone, under the zone's lock.
//! A frame's links mean something only while it heads a block on a list; the table is made
//! zeroed (fresh zero pages where the allocator maps them), so a large zone's table costs
//! memory only as its blocks are listed.
use alloc::vec;
use alloc::vec::Vec;

use super::ORDERS;

/// End of a list.
pub(super) const NIL: u32 = u32::MAX;

/// A listed frame's `[PREV, NEXT]`.
type Link = [u32; 2];
const PREV: usize = 0;
const NEXT: usize = 1;

#[derive(Debug)]
pub(super) struct FreeLists {
    links: Vec<Link>,
    head: [u32; ORDERS],
    count: [usize; ORDERS],
    /// Bit `o` set iff list `o` is non-empty.
    nonempty: u16,
}

impl FreeLists {
    pub(super) fn new(frames: usize) -> Self {
        FreeLists {
            links: vec![[0; 2]; frames],
            head: [NIL; ORDERS],
            count: [0; ORDERS],
            nonempty: 0,
        }
    }

    pub(super) fn push(&mut self, order: u8, frame: u32) {
        let o = order as usize;
        let old = self.head[o];
        self.links[frame as usize] = [NIL, old];
        if old != NIL {
            self.links[old as usize][PREV] = frame;
        }
        self.head[o] = frame;
        self.count[o] += 1;
        self.nonempty |= 1 << o;
    }

    pub(super) fn pop(&mut self, order: u8) -> Option<u32> {
        let frame = self.head[order as usize];
        if frame == NIL {
            return None;
        }
        self.remove(order, frame);
        Some(frame)
    }

    /// Unlinks `frame`, which must be on list `order`.
    pub(super) fn remove(&mut self, order: u8, frame: u32) {
        let o = order as usize;
        let [prev, next] = self.links[frame as usize];
        if prev == NIL {
            debug_assert_eq!(self.head[o], frame);
            self.head[o] = next;
        } else {
            self.links[prev as usize][NEXT] = next;
        }
        if next != NIL {
            self.links[next as usize][PREV] = prev;
        }
        self.count[o] -= 1;
        if self.count[o] == 0 {
            self.nonempty &= !(1 << o);
        }
    }

    /// The smallest order `>= order` whose list is non-empty.
    pub(super) fn smallest_nonempty_from(&self, order: u8) -> Option<u8> {
        let candidates = self.nonempty >> order;
        (candidates != 0).then(|| order + candidates.trailing_zeros() as u8)
    }

    pub(super) fn count(&self, order: u8) -> usize {
        self.count[order as usize]
    }

    pub(super) fn marked_nonempty(&self, order: u8) -> bool {
        self.nonempty & (1 << order) != 0
    }

    pub(super) fn head(&self, order: u8) -> u32 {
        self.head[order as usize]
    }

    pub(super) fn next(&self, frame: u32) -> u32 {
        self.links[frame as usize][NEXT]
    }

    pub(super) fn prev(&self, frame: u32) -> u32 {
        self.links[frame as usize][PREV]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(l: &FreeLists, order: u8) -> Vec<u32> {
        let mut v = Vec::new();
        let mut f = l.head(order);
        while f != NIL {
            v.push(f);
            f = l.next(f);
        }
        v
    }

    #[test]
    fn push_pop_remove_keep_links_and_counts() {
        let mut l = FreeLists::new(16);
        assert_eq!(l.smallest_nonempty_from(0), None);
        for f in [1, 2, 3, 4] {
            l.push(2, f);
        }
        assert_eq!(collect(&l, 2), [4, 3, 2, 1]);
        l.remove(2, 3);
        assert_eq!(collect(&l, 2), [4, 2, 1]);
        l.remove(2, 4);
        l.remove(2, 1);
        assert_eq!(collect(&l, 2), [2]);
        assert_eq!(l.prev(2), NIL);
        assert_eq!(l.count(2), 1);
        assert_eq!(l.smallest_nonempty_from(0), Some(2));
        assert_eq!(l.smallest_nonempty_from(3), None);
        l.push(7, 8);
        assert_eq!(l.smallest_nonempty_from(3), Some(7));
        assert_eq!(l.pop(2), Some(2));
        assert_eq!(l.pop(2), None);
        assert!(!l.marked_nonempty(2));
        assert_eq!(l.smallest_nonempty_from(0), Some(7));
    }
}
