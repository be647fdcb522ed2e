//! Reclaim before out of memory: what the server does when an allocation finds no block in the
//! buddy layer, before it reports `OutOfMemory`. Free objects cached in arrays and empty slabs
//! go back to the buddy layer, and the allocation is tried once more.
//!
//! Two bounds keep one client's refused requests from costing everyone else (a client may loop
//! on a request that cannot be met):
//! - **Scope, one cache at a time.** Every core's lock is taken for one cache's drain and
//!   release and dropped before the next, so another core waits at most one cache's reclaim,
//!   never a walk over all caches; the walk stops as soon as the buddy layer holds a block of
//!   the order the request needs.
//! - **Rate, deferred after failure** (as Linux defers compaction, `defer_compaction`): when
//!   the retry after a reclaim still fails, the reclaims of requests of that order or larger
//!   are deferred (each such request is refused at once, with no reclaim and no retry) for 2,
//!   4, … 64 attempts, doubling with each failure in a row, and for at least as many attempts
//!   as the failed reclaim walked caches, times half that factor: the walk's cost is spread
//!   over the refusals it covers, so a client looping on a request that cannot be met makes
//!   the server walk at most one cache per refusal, and after repeated failures 1/32 of one.
//!   A retry that succeeds ends the deferral; smaller orders, which have not failed, are never
//!   deferred; a block back in the buddy layer is seen at once (checked before the deferral).
//!
//! A genuine shortage keeps "reclaim, then retry": the first request that meets it reclaims
//! everything there is (the walk only stops early once the buddy layer can serve the request)
//! and retries; a deferral starts only after a reclaim whose retry still failed (the walk went
//! through every cache unless the buddy layer could serve the order), and lasts a bounded number
//! of attempts.
//!
//! Locking: the registry lock for the walk (create and destroy wait; allocation and free do
//! not), every core lock in ascending order per cache, node locks inside (as `shrink_all`);
//! the deferral state behind its own leaf lock, never held with another.
use super::*;

/// Most doublings of a deferral: 2^6 = 64 attempts, or 32 per cache walked.
const MAX_DEFER_SHIFT: u8 = 6;

/// The deferral of reclaims after failure (see the module docs).
#[derive(Debug, Default)]
pub(super) struct Deferral {
    /// Requests of this order or larger are deferred; `None` when no reclaim has failed.
    order_failed: Option<u8>,
    /// Doublings of the deferral since the last success.
    shift: u8,
    /// Attempts to skip after the last failed reclaim.
    span: u64,
    /// Attempts skipped since the last failed reclaim.
    considered: u64,
    /// Caches the last reclaim walked.
    walked: u64,
}

impl Deferral {
    /// Whether a request of `order` skips reclaim now (counts the attempt).
    fn deferred(&mut self, order: u8) -> bool {
        match self.order_failed {
            Some(f) if order >= f => {
                self.considered += 1;
                self.considered < self.span
            }
            _ => false,
        }
    }

    /// The retry after a reclaim for `order` failed.
    fn failed(&mut self, order: u8) {
        self.shift = (self.shift + 1).min(MAX_DEFER_SHIFT);
        self.span = (1u64 << self.shift).max(self.walked << (self.shift - 1));
        self.considered = 0;
        self.order_failed = Some(self.order_failed.map_or(order, |f| f.min(order)));
    }

    /// The retry after a reclaim for `order` succeeded: requests up to `order` are no longer
    /// deferred, and the next failure starts a fresh deferral.
    fn succeeded(&mut self, order: u8) {
        self.considered = 0;
        self.shift = 0;
        self.span = 0;
        if self.order_failed.is_some_and(|f| f <= order) {
            self.order_failed = order.checked_add(1);
        }
    }
}

/// What [`Allocator::reclaim`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reclaim {
    /// Memory was taken back, or a block of the order is free: try the allocation again, then
    /// report the outcome with [`Allocator::reclaim_outcome`].
    Retry,
    /// A recent reclaim for this order or a smaller one did not let its request succeed: the
    /// request is refused at once (see the module docs).
    Deferred,
}

impl Allocator {
    /// Before reporting that a request for a block of `order` (a slab of its cache, or a large
    /// kmalloc block) found no memory: takes back what it can, cache by cache, until the buddy
    /// layer holds a block of `order` or every cache is done; or defers (see the module docs).
    pub fn reclaim(&self, order: u8) -> Reclaim {
        if self.buddy_holds(order) {
            return Reclaim::Retry;
        }
        if self.deferral.lock().deferred(order) {
            return Reclaim::Deferred;
        }
        let walked = self.shrink_until(Some(order)).1;
        self.deferral.lock().walked = walked as u64;
        Reclaim::Retry
    }

    /// Whether the retry after a [`reclaim`](Self::reclaim) for `order` succeeded: a failure
    /// defers the next reclaims of that order and larger ones, a success ends the deferral.
    pub fn reclaim_outcome(&self, order: u8, succeeded: bool) {
        let mut d = self.deferral.lock();
        if succeeded {
            d.succeeded(order);
        } else {
            d.failed(order);
        }
    }

    /// The buddy order a new slab of the cache `id` takes (what its allocation needs when its
    /// arrays and slabs are empty); 0 for a stale handle.
    pub fn slab_order(&self, id: CacheId) -> u8 {
        let reg = self.registry.lock();
        reg.resolve(id)
            .map_or(0, |real| reg.real(real).cache.layout.order)
    }

    /// The buddy order a `kmalloc(size)` of `set` may need: its class's slab order, or the large
    /// block's order.
    pub fn kmalloc_order(&self, set: &KmallocSet, size: usize) -> u8 {
        match class_of(size) {
            Some(class) => self.slab_order(set.caches[class]),
            None => large_order(size),
        }
    }

    /// Whether some node's buddy zone has a free block of `order` or larger.
    fn buddy_holds(&self, order: u8) -> bool {
        (0..self.topology.nodes()).any(|n| {
            let node = NodeId(n as u8);
            (order..=crate::buddy::MAX_ORDER).any(|o| self.buddy.free_blocks(node, o) > 0)
        })
    }

    /// Drains and shrinks caches one at a time (every core locked for one cache, then released),
    /// stopping once a block of `until` is free (never, for `None`). Returns the frames released
    /// and the caches walked.
    pub(super) fn shrink_until(&self, until: Option<u8>) -> (usize, usize) {
        let reg = self.registry.lock();
        let mut frames = 0;
        let mut walked = 0;
        for (_, r) in reg.live_reals() {
            walked += 1;
            let mut cores = self.lock_cores();
            self.drain(&r.cache, &mut cores);
            frames += self.release_free(&r.cache, 0, &mut cores);
            drop(cores);
            if until.is_some_and(|o| self.buddy_holds(o)) {
                break;
            }
        }
        (frames, walked)
    }
}

#[cfg(test)]
mod tests {
    use super::Deferral;

    /// How many reclaims of order 10 are deferred after each of eight failures in a row.
    fn skipped_after_eight_failures(d: &mut Deferral) -> Vec<u32> {
        (0..8)
            .map(|_| {
                d.failed(10);
                let mut n = 0;
                while d.deferred(10) {
                    n += 1;
                }
                n
            })
            .collect()
    }

    #[test]
    fn deferral_doubles_up_to_64_and_resets_on_success() {
        let mut d = Deferral::default();
        assert!(!d.deferred(10), "nothing failed yet");
        let skipped = skipped_after_eight_failures(&mut d);
        assert_eq!(skipped, [1, 3, 7, 15, 31, 63, 63, 63]);
        d.failed(10);
        assert!(!d.deferred(9), "smaller orders have not failed");
        assert!(d.deferred(10) && d.deferred(11));
        d.succeeded(10);
        assert!(
            !d.deferred(10) && !d.deferred(11),
            "a success ends the deferral"
        );
        d.failed(8);
        assert!(
            !d.deferred(7) && d.deferred(12),
            "orders from the smallest failed one"
        );
    }

    #[test]
    fn deferral_spreads_a_long_walk_over_the_refusals() {
        // Caches walked; under Miri (slow at counting the skips one by one, and there is no
        // unsafe code here) a shorter walk.
        const WALKED: u64 = if cfg!(miri) { 100 } else { 3000 };
        let mut d = Deferral {
            walked: WALKED,
            ..Deferral::default()
        };
        let skipped = skipped_after_eight_failures(&mut d);
        let spans = [1, 2, 4, 8, 16, 32, 32, 32].map(|m| (WALKED * m) as u32);
        assert_eq!(skipped, spans.map(|s| s - 1));
    }
}
