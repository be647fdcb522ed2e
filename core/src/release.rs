//! The page-release hook: how the platform learns that a block an owner held goes back to the
//! buddy layer.
//!
//! Owns nothing but the [`PageRelease`] trait. Invariant: the [`crate::Allocator`] calls
//! [`PageRelease::released`] exactly once for every block that leaves an owner (a slab of one of
//! its caches, or a large kmalloc block) and **before** the block is given to the buddy layer, so
//! that no other core can allocate it while the hook runs. A platform that maps blocks into
//! client address spaces (the seL4 root task) unmaps them from that owner there, so a frame is
//! never reachable by two clients. On the host the allocator has no hook.
//!
//! Locking: the hook runs with allocator locks held (the registry and every core lock for
//! shrink, destroy and purge; one core lock and the large-block table lock for a large kfree) and
//! no buddy zone lock. It must not call back into the allocator.
use crate::slab::OwnerId;

/// Told about every block an owner gives back, before the buddy layer can hand it out again.
pub trait PageRelease: Sync {
    /// The block of `2^order` frames at server address `addr`, held by `owner` until now.
    fn released(&self, owner: OwnerId, addr: usize, order: u8);
}
