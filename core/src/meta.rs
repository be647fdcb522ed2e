//! Metadata accounting: the bytes of server-private memory (the `alloc` heap) the allocator
//! spends for an owner, charged to that owner's [`MetaAccount`] *before* the memory is
//! allocated and released when it is freed, so an owner can never make the allocator spend
//! more than its account allows.
//!
//! What is charged, each by one function of this module (the one source of its size):
//! - a real cache: its record and name, its per-node state, its per-core inboxes, and on every
//!   core its array, alien arrays and outboxes ([`cache_bytes`]); its shared arrays as they grow
//!   (a node's shared array is optional: when its growth is refused, objects go to their slabs);
//! - a cache handle, its own or an alias's: its entries in the registry and in every core's
//!   handle table ([`handle_bytes`]);
//! - a slab: its record (and its slot in the node's record table), free index stack, state
//!   table, `STORE_USER` tracks and requested sizes ([`slab_bytes`]);
//! - a large kmalloc block: its record ([`large_block_bytes`]).
//!
//! A node's table of slab records and its shared array are charged as their capacity grows
//! (and released with the cache); the registry's and the cores' handle tables at twice their entry size, which covers a
//! vector's capacity doubling. Objects in transit between cores (inboxes,
//! scratch) are bounded by the objects of charged slabs and not charged again.
//!
//! An account either has its own limit (reserved ahead by its user, e.g. from a
//! [`MetaPool`] at a client's attach) or draws on a shared [`MetaPool`] as it goes; either
//! way a charge is all or nothing, lock-free, and refused with a [`MetaError`] that says which
//! limit it met. A heap allocation that fails although its charge passed is
//! [`MetaError::Heap`]; allocator code makes its allocations for an owner with `try_reserve`.
//! The few fixed-size ones stable Rust cannot make fallible (the `Arc` of a cache, of an
//! account, of a violation log; a B-tree entry of a large block) are charged first like the
//! rest; the server's metadata budget is at most half of the heap it comes from, which covers
//! the heap's rounding of every allocation to a power of two, so once charged they fit.
use alloc::collections::TryReserveError;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::mem::size_of;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::kmalloc::LargeRec;
use crate::slab::array::{ArrayCache, Obj};
use crate::slab::cache::Cache;
use crate::slab::node::{NodeCache, SlabRec};
use crate::slab::page_map::StateTable;
use crate::slab::percore::{CoreCache, Handle};
use crate::slab::{Layout, Padded, Tunables};
use crate::topology::Topology;

/// A metadata charge was refused (nothing was allocated or changed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaError {
    /// The owner's own limit: `used + wanted` would exceed `limit`.
    Quota { limit: u64, wanted: u64 },
    /// The shared pool an unlimited owner draws on has only `free` bytes left.
    Pool { free: u64, wanted: u64 },
    /// The heap could not supply `bytes` although the charge passed.
    Heap { bytes: u64 },
}

/// A budget of metadata bytes shared by several accounts (the server's whole metadata memory).
#[derive(Debug)]
pub struct MetaPool {
    free: AtomicU64,
    total: u64,
}

impl MetaPool {
    pub fn new(bytes: u64) -> MetaPool {
        MetaPool {
            free: AtomicU64::new(bytes),
            total: bytes,
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn free(&self) -> u64 {
        self.free.load(Ordering::Relaxed)
    }

    /// Takes `bytes` from the pool, all or nothing.
    pub fn take(&self, bytes: u64) -> Result<(), MetaError> {
        self.free
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |f| {
                f.checked_sub(bytes)
            })
            .map(|_| ())
            .map_err(|free| MetaError::Pool {
                free,
                wanted: bytes,
            })
    }

    /// Returns `bytes` taken earlier.
    pub fn give_back(&self, bytes: u64) {
        self.free.fetch_add(bytes, Ordering::AcqRel);
    }
}

/// One owner's metadata: what it uses, and what bounds it.
#[derive(Debug)]
pub struct MetaAccount {
    used: AtomicU64,
    bound: Bound,
}

#[derive(Debug)]
enum Bound {
    /// A fixed limit (its bytes were set aside for this account by its creator).
    Limit(u64),
    /// Every charge is taken from the pool as it is made and given back when released.
    Pool(Arc<MetaPool>),
}

impl MetaAccount {
    /// An account bounded by `limit` bytes of its own.
    pub fn limited(limit: u64) -> MetaAccount {
        MetaAccount {
            used: AtomicU64::new(0),
            bound: Bound::Limit(limit),
        }
    }

    /// An account with no limit of its own, drawing on `pool`.
    pub fn pooled(pool: Arc<MetaPool>) -> MetaAccount {
        MetaAccount {
            used: AtomicU64::new(0),
            bound: Bound::Pool(pool),
        }
    }

    /// Bytes charged now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// The account's own limit (`None`: bounded by its pool).
    pub fn limit(&self) -> Option<u64> {
        match self.bound {
            Bound::Limit(l) => Some(l),
            Bound::Pool(_) => None,
        }
    }

    /// Charges `bytes`, all or nothing.
    pub fn charge(&self, bytes: u64) -> Result<(), MetaError> {
        match &self.bound {
            Bound::Limit(limit) => self
                .used
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                    u.checked_add(bytes).filter(|n| n <= limit)
                })
                .map(|_| ())
                .map_err(|u| MetaError::Quota {
                    limit: *limit,
                    wanted: u.saturating_add(bytes),
                }),
            Bound::Pool(pool) => {
                pool.take(bytes)?;
                self.used.fetch_add(bytes, Ordering::AcqRel);
                Ok(())
            }
        }
    }

    /// Releases `bytes` charged earlier.
    pub fn release(&self, bytes: u64) {
        let before = self.used.fetch_sub(bytes, Ordering::AcqRel);
        debug_assert!(before >= bytes, "metadata released twice");
        if let Bound::Pool(pool) = &self.bound {
            pool.give_back(bytes);
        }
    }
}

/// Charges `bytes` to `account` (if any); `None`: nothing to charge.
pub(crate) fn charge(account: Option<&MetaAccount>, bytes: u64) -> Result<(), MetaError> {
    account.map_or(Ok(()), |a| a.charge(bytes))
}

pub(crate) fn release(account: Option<&MetaAccount>, bytes: u64) {
    if let Some(a) = account {
        a.release(bytes);
    }
}

/// A vector of exactly `n` elements' capacity, or the heap's refusal.
pub(crate) fn try_vec<T>(n: usize) -> Result<Vec<T>, MetaError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|e| heap_error(e, n * size_of::<T>()))?;
    Ok(v)
}

pub(crate) fn heap_error(_: TryReserveError, bytes: usize) -> MetaError {
    MetaError::Heap {
        bytes: bytes as u64,
    }
}

fn array_bytes(limit: usize) -> usize {
    size_of::<ArrayCache>() + limit * size_of::<Obj>()
}

/// Bytes of a real cache named `name_len` bytes with `layout` and `tunables` (direct caches,
/// `CONSISTENCY_CHECKS`, have no per-core array), over `topology`.
pub fn cache_bytes(name_len: usize, tunables: &Tunables, direct: bool, topology: &Topology) -> u64 {
    let (cores, nodes) = (topology.cores(), topology.nodes());
    let (limit, batch) = if direct {
        (0, 1)
    } else {
        (tunables.limit as usize, tunables.batchcount as usize)
    };
    let record = 2 * size_of::<usize>() + size_of::<Cache>() + name_len;
    let per_node = size_of::<Padded<spin::Mutex<NodeCache>>>();
    let inbox = size_of::<Padded<spin::Mutex<Vec<Obj>>>>();
    let per_core = size_of::<Padded<CoreCache>>()
        + array_bytes(limit)
        + nodes * array_bytes(tunables.alien_limit as usize)
        + cores * array_bytes(limit.min(batch))
        // The core's slot for this real cache (a boxed pointer, table grown by doubling).
        + 2 * size_of::<usize>();
    // The registry's entry for the real cache.
    let registry = 2 * 4 * size_of::<usize>();
    (record + nodes * per_node + cores * (inbox + per_core) + registry) as u64
}

/// Bytes of one cache handle: its registry entry, its slot on the free list once dropped, and
/// its entry in every core's handle table (tables grown by doubling).
pub fn handle_bytes(topology: &Topology) -> u64 {
    (2 * (size_of::<Handle>() + 4) + topology.cores() * 2 * size_of::<Handle>()) as u64
}

/// Bytes of one slab's record of a cache with `layout` (with `store_user`: per-object tracks;
/// with `requested`: per-object requested sizes); its slot in the node's record tables is
/// charged as those grow ([`slot_table_bytes`]).
pub fn slab_bytes(layout: &Layout, store_user: bool, requested: bool) -> u64 {
    let n = layout.objects as usize;
    let mut b = n * size_of::<u16>() // free index stack
        + StateTable::bytes(n);
    if store_user || requested {
        b += n * crate::slab::node::DEBUG_SLOT_BYTES;
    }
    b as u64
}

/// Bytes of a node's record tables with room for `slots` slab records (each slot, and its
/// entry on the vacant list).
pub fn slot_table_bytes(slots: usize) -> usize {
    slots * (size_of::<Option<SlabRec>>() + size_of::<u32>())
}

/// Bytes of one large kmalloc block's record (a B-tree entry: key, value and its share of a
/// node, nodes at least half full).
pub fn large_block_bytes() -> u64 {
    (4 * (size_of::<usize>() + size_of::<LargeRec>()) + 2 * size_of::<usize>()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limited_accounts_refuse_whole_charges() {
        let a = MetaAccount::limited(100);
        a.charge(60).unwrap();
        assert_eq!(
            a.charge(41),
            Err(MetaError::Quota {
                limit: 100,
                wanted: 101
            })
        );
        assert_eq!(a.used(), 60);
        a.charge(40).unwrap();
        a.release(100);
        assert_eq!(a.used(), 0);
    }

    #[test]
    fn pooled_accounts_share_the_pool() {
        let pool = Arc::new(MetaPool::new(100));
        let (a, b) = (
            MetaAccount::pooled(pool.clone()),
            MetaAccount::pooled(pool.clone()),
        );
        a.charge(70).unwrap();
        assert_eq!(
            b.charge(31),
            Err(MetaError::Pool {
                free: 30,
                wanted: 31
            })
        );
        b.charge(30).unwrap();
        assert_eq!(pool.free(), 0);
        a.release(70);
        assert_eq!(pool.free(), 70);
        assert_eq!((a.used(), b.used()), (0, 30));
    }
}
