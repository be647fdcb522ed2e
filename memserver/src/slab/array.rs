//! A per-core (or alien) array of free objects, SLAB's `array_cache`: a LIFO stack of at most
//! `limit` objects, refilled from and flushed to the node `batchcount` at a time. Owned by one
//! core and only touched under that core's lock, so it needs no lock or atomic of its own.
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
    limit: usize,
    batch: usize,
}

impl ArrayCache {
    pub fn new(limit: usize, batch: usize) -> ArrayCache {
        ArrayCache {
            objs: Vec::new(),
            limit,
            batch: batch.clamp(1, limit.max(1)),
        }
    }

    #[inline(always)]
    pub fn pop(&mut self) -> Option<Obj> {
        self.objs.pop()
    }

    /// Pushes `obj` unless the array is full; returns whether it did.
    #[inline(always)]
    pub fn push(&mut self, obj: Obj) -> bool {
        if self.objs.len() < self.limit {
            self.objs.push(obj);
            true
        } else {
            false
        }
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The backing vector, for refills (which push up to `batch` objects).
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

    /// Removes everything.
    pub fn drain_all(&mut self) -> alloc::vec::Drain<'_, Obj> {
        self.objs.drain(..)
    }
}
