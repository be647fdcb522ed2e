//! A per-core (or alien) array of free objects, SLAB's `array_cache`: a LIFO stack of at most
//! `limit` objects, refilled from and flushed to the node `batchcount` at a time. Owned by one
//! core and only touched under that core's lock, so it needs no lock or atomic of its own.
//!
//! Its vector is allocated once with capacity `limit` (exact, as `Vec::with_capacity`
//! guarantees) and never grows: a push tests the length against the capacity only.
use alloc::vec::Vec;

use super::page_map::StateRef;

/// A free object: its address and its state byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Obj {
    pub addr: usize,
    pub state: StateRef,
}

#[derive(Debug)]
pub struct ArrayCache {
    objs: Vec<Obj>,
    batch: usize,
}

impl ArrayCache {
    /// An empty array of at most `limit` objects.
    #[cfg(test)]
    pub fn new(limit: usize, batch: usize) -> ArrayCache {
        Self::try_new(limit, batch).expect("heap exhausted")
    }

    /// `new`, or the heap's refusal (the vector is allocated at its full capacity here).
    pub fn try_new(limit: usize, batch: usize) -> Result<ArrayCache, crate::meta::MetaError> {
        Ok(ArrayCache {
            objs: crate::meta::try_vec(limit)?,
            batch: batch.clamp(1, limit.max(1)),
        })
    }

    #[inline(always)]
    pub fn pop(&mut self) -> Option<Obj> {
        self.objs.pop()
    }

    /// Pushes `obj` unless the array is full; returns whether it did.
    #[inline(always)]
    pub fn push(&mut self, obj: Obj) -> bool {
        if self.objs.len() < self.objs.capacity() {
            self.objs.push(obj);
            true
        } else {
            false
        }
    }

    pub fn limit(&self) -> usize {
        self.objs.capacity()
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The backing vector, for refills (which push at most up to `limit` objects).
    pub fn objs_mut(&mut self) -> &mut Vec<Obj> {
        &mut self.objs
    }

    pub fn objs(&self) -> &[Obj] {
        &self.objs
    }

    /// Removes the `n` oldest objects (the bottom of the stack), as SLAB's flush does, so the
    /// most recently freed (cache-hot) objects stay.
    pub fn drain_oldest(&mut self, n: usize) -> alloc::vec::Drain<'_, Obj> {
        let n = n.min(self.objs.len());
        self.objs.drain(..n)
    }

    pub fn clear(&mut self) {
        self.objs.clear();
    }

    /// Removes everything.
    pub fn drain_all(&mut self) -> alloc::vec::Drain<'_, Obj> {
        self.objs.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::MemRange;
    use crate::slab::page_map::PageMap;
    use crate::topology::NodeId;

    #[test]
    fn push_stops_at_the_limit_and_flush_takes_the_oldest() {
        let map = PageMap::new(&[MemRange {
            node: NodeId(0),
            base: 0x10_0000,
            len: 4096,
        }])
        .unwrap();
        let states = crate::slab::page_map::StateTable::new(8);
        map.publish_slab(0, 1, 0, NodeId(0), &states, 0);
        let mut a = ArrayCache::new(4, 2);
        for i in 0..4 {
            assert!(a.push(Obj {
                addr: i,
                // SAFETY: the slab at frame 0 is published with 8 objects for the whole test.
                state: unsafe { map.state(0, i) }
            }));
        }
        assert!(!a.push(Obj {
            addr: 9,
            // SAFETY: as above.
            state: unsafe { map.state(0, 5) }
        }));
        let old: Vec<usize> = a.drain_oldest(a.batch()).map(|o| o.addr).collect();
        assert_eq!(old, [0, 1]);
        assert_eq!(a.pop().map(|o| o.addr), Some(3));
    }
}
