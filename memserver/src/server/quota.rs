//! Per-client quota and usage: live objects and their usable bytes, counted at the server when
//! objects are handed out (into a magazine or directly) and when they come back; and the server
//! metadata kept for the client (its record, caches, arrays, slab records, debug tracks, large
//! block records), charged to the client's [`MetaAccount`] before it is allocated. A charge that
//! would exceed the quota is refused whole with `QuotaExceeded` and changes nothing; the first
//! detail word says which limit (see [`limit`]).
//!
//! Metadata quotas are reserved from the server's metadata budget (a [`MetaPool`]) when the
//! client attaches and returned when it detaches; an unlimited client draws on what is left
//! of the budget as it goes, so it too is bounded by the budget, never by the heap.
use crate::{MetaAccount, MetaError, MetaPool};
use alloc::sync::Arc;
use core::mem::size_of;
use memserver_protocol::{Error, Failure};

/// Which limit a `QuotaExceeded` refusal met: detail `[limit, its value, would-be use]`.
pub mod limit {
    /// Usable bytes of live objects.
    pub const OBJECT_BYTES: u64 = 0;
    /// Live objects.
    pub const OBJECTS: u64 = 1;
    /// The client's server metadata.
    pub const METADATA: u64 = 2;
    /// The server's metadata budget (at attach: the quota does not fit in what is left of it;
    /// for an unlimited client: what is left of it).
    pub const SERVER_METADATA: u64 = 3;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub bytes: u64,
    pub objects: u64,
    /// Server metadata bytes; `u64::MAX`: bounded by the server's metadata budget only.
    pub metadata: u64,
}

impl Quota {
    pub const UNLIMITED: Quota = Quota {
        bytes: u64::MAX,
        objects: u64::MAX,
        metadata: u64::MAX,
    };
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub objects: u64,
}

impl Usage {
    /// Checks that `objects` more objects of `bytes` bytes in total fit in `quota`.
    pub fn check(&self, quota: &Quota, objects: u64, bytes: u64) -> Result<(), Failure> {
        let o = self.objects.saturating_add(objects);
        if o > quota.objects {
            return Err(Failure::with(
                Error::QuotaExceeded,
                [limit::OBJECTS, quota.objects, o],
            ));
        }
        let b = self.bytes.saturating_add(bytes);
        if b > quota.bytes {
            return Err(Failure::with(
                Error::QuotaExceeded,
                [limit::OBJECT_BYTES, quota.bytes, b],
            ));
        }
        Ok(())
    }

    pub fn charge(&mut self, objects: u64, bytes: u64) {
        self.objects += objects;
        self.bytes += bytes;
    }

    pub fn release(&mut self, objects: u64, bytes: u64) {
        debug_assert!(self.objects >= objects && self.bytes >= bytes);
        self.objects = self.objects.saturating_sub(objects);
        self.bytes = self.bytes.saturating_sub(bytes);
    }
}

/// The refusal of a metadata charge, in the wire's words.
pub fn metadata_refused(e: &MetaError) -> Failure {
    match *e {
        MetaError::Quota { limit, wanted } => {
            Failure::with(Error::QuotaExceeded, [limit::METADATA, limit, wanted])
        }
        MetaError::Pool { free, wanted } => {
            Failure::with(Error::QuotaExceeded, [limit::SERVER_METADATA, free, wanted])
        }
        MetaError::Heap { bytes } => Failure::with(Error::OutOfMemory, [0, bytes, 0]),
    }
}

/// A client's metadata account, with the quota it reserved from the budget.
#[derive(Debug)]
pub struct Metadata {
    pub account: Arc<MetaAccount>,
    pool: Arc<MetaPool>,
    reserved: u64,
}

impl Metadata {
    /// Reserves `quota` bytes from `pool` (an unlimited quota reserves nothing and draws on
    /// the pool as it goes); refused with the server-budget limit when they do not fit.
    pub fn reserve(pool: &Arc<MetaPool>, quota: u64) -> Result<Metadata, Failure> {
        let (account, reserved) = if quota == u64::MAX {
            (MetaAccount::pooled(pool.clone()), 0)
        } else {
            pool.take(quota).map_err(|e| metadata_refused(&e))?;
            (MetaAccount::limited(quota), quota)
        };
        // A small fixed allocation (`Arc::try_new` is not stable), counted in `record_bytes`.
        let account = Arc::new(account);
        Ok(Metadata {
            account,
            pool: pool.clone(),
            reserved,
        })
    }

    /// Bytes charged now.
    pub fn used(&self) -> u64 {
        self.account.used()
    }
}

impl Drop for Metadata {
    /// Returns the reserved quota to the budget (the core released every charge it made when
    /// the owner was purged; the record's charge goes with the record).
    fn drop(&mut self) {
        self.pool.give_back(self.reserved);
    }
}

/// Heap bytes of one client's record beyond its slot in the client table: its staging arrays,
/// its metadata account and its violation log (each shared with the allocator's table of them,
/// whose entry is counted twice for the table's doubling), its `slab_debug` text; plus the
/// table slot itself.
pub fn record_bytes(slab_debug_len: usize) -> u64 {
    (size_of::<super::clients::ClientRecord>()
        + size_of::<super::scratch::Scratch>()
        + 2 * size_of::<usize>()
        + size_of::<MetaAccount>()
        + 2 * size_of::<(crate::slab::OwnerId, Arc<MetaAccount>)>()
        + 2 * size_of::<usize>()
        + size_of::<crate::slab::ViolationLog>()
        + 2 * size_of::<(crate::slab::OwnerId, Arc<crate::slab::ViolationLog>)>()
        + slab_debug_len) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_refuses_whole_charges() {
        let q = Quota {
            bytes: 100,
            objects: 3,
            metadata: u64::MAX,
        };
        let mut u = Usage::default();
        u.check(&q, 3, 24).unwrap();
        u.charge(3, 24);
        assert_eq!(
            u.check(&q, 1, 8).unwrap_err(),
            Failure::with(Error::QuotaExceeded, [1, 3, 4])
        );
        u.release(2, 16);
        assert_eq!(
            u.check(&q, 1, 100).unwrap_err(),
            Failure::with(Error::QuotaExceeded, [0, 100, 108])
        );
        assert!(u.check(&q, 1, 92).is_ok());
    }

    #[test]
    fn metadata_quotas_are_reserved_from_the_budget() {
        let pool = Arc::new(MetaPool::new(1000));
        let a = Metadata::reserve(&pool, 600).unwrap();
        assert_eq!(
            Metadata::reserve(&pool, 500).unwrap_err(),
            Failure::with(Error::QuotaExceeded, [3, 400, 500])
        );
        let b = Metadata::reserve(&pool, u64::MAX).unwrap();
        b.account.charge(400).unwrap();
        assert_eq!(
            metadata_refused(&b.account.charge(1).unwrap_err()),
            Failure::with(Error::QuotaExceeded, [3, 0, 1])
        );
        assert_eq!(
            metadata_refused(&a.account.charge(601).unwrap_err()),
            Failure::with(Error::QuotaExceeded, [2, 600, 601])
        );
        drop(a);
        assert_eq!(pool.free(), 600);
        b.account.release(400);
        drop(b);
        assert_eq!(pool.free(), 1000);
    }
}
