//! A client's violation log on the wire: what the `Violations` operation returns, like a page
//! of `dmesg` holding Linux's `BUG <cache>: ...` reports.
//!
//! The reply body is a [`ViolationsHead`] followed by `count` [`ViolationRecord`]s, oldest
//! first. The request's `cursor` is 0 at first and then the previous reply's `next`; `lost`
//! counts the reports between the cursor and the oldest one the server still keeps (its ring
//! is bounded), `total` every report ever logged for the client.
use crate::ops::Body;
use crate::{Error, Failure, MSG_MAX_WORDS};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Which operation's check found the damage ([`ViolationRecord::op`]).
pub mod op {
    /// An allocation: the damaged free object was taken out of use (quarantined) and the
    /// allocation served from another object.
    pub const ALLOC: u8 = 0;
    /// A free (or `krealloc`): the request was refused.
    pub const FREE: u8 = 1;
    /// A cache destroy that found objects still allocated: refused, the cache stays.
    pub const DESTROY: u8 = 2;
}

/// What was damaged ([`ViolationRecord::kind`]).
pub mod kind {
    /// A byte before the object (left red zone).
    pub const RED_ZONE_LEFT: u8 = 0;
    /// A byte after the object, or after the size a kmalloc asked for (right red zone).
    pub const RED_ZONE_RIGHT: u8 = 1;
    /// A byte of a free object (poison).
    pub const POISON: u8 = 2;
    /// A byte of a slab's unused tail.
    pub const PADDING: u8 = 3;
    /// An object still allocated when its cache was destroyed (offset and bytes are 0).
    pub const LEAK: u8 = 4;
}

/// Bytes of a cache name in a record (names longer are cut).
pub const NAME_BYTES: usize = 32;

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct ViolationsHead {
    /// Records following this head.
    pub count: u64,
    /// The cursor of the next request.
    pub next: u64,
    /// Reports overwritten before this client read them.
    pub lost: u64,
    /// Reports ever logged for this client.
    pub total: u64,
}
impl Body for ViolationsHead {}

/// One report.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct ViolationRecord {
    /// Position in the client's log, from 0.
    pub seq: u64,
    /// `op | kind << 8 | expected << 16 | found << 24` (see [`op`], [`kind`]).
    pub what: u64,
    /// The object's address in the client's address space (for padding: the slab's).
    pub object: u64,
    /// Offset of the first bad byte from `object` (two's complement: negative is before it).
    pub offset: u64,
    /// Call site of the object's last allocation, with owner tracking (0: unknown).
    pub alloc_site: u64,
    /// Call site of its last free, with owner tracking (0: unknown).
    pub free_site: u64,
    /// `(alloc core + 1) | (free core + 1) << 8`, each 0 when unknown.
    pub cores: u64,
    /// The cache's name, NUL-padded.
    pub name: [u64; NAME_BYTES / 8],
}
impl Body for ViolationRecord {}

impl ViolationRecord {
    pub fn op(&self) -> u8 {
        self.what as u8
    }
    pub fn kind(&self) -> u8 {
        (self.what >> 8) as u8
    }
    pub fn expected(&self) -> u8 {
        (self.what >> 16) as u8
    }
    pub fn found(&self) -> u8 {
        (self.what >> 24) as u8
    }
    pub fn offset(&self) -> i64 {
        self.offset as i64
    }
    /// The core of the last allocation and free, if tracked.
    pub fn alloc_core(&self) -> Option<u8> {
        (self.cores as u8).checked_sub(1)
    }
    pub fn free_core(&self) -> Option<u8> {
        ((self.cores >> 8) as u8).checked_sub(1)
    }

    /// The cache name's bytes (without the padding).
    pub fn name_bytes(&self) -> &[u8] {
        let b = self.name.as_bytes();
        let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        &b[..n]
    }

    /// The cache name; `"?"` if the bytes are not UTF-8 (the server sends ASCII names).
    pub fn cache(&self) -> &str {
        core::str::from_utf8(self.name_bytes()).unwrap_or("?")
    }

    /// Sets the cache name (cut at [`NAME_BYTES`]).
    pub fn set_cache(&mut self, name: &[u8]) {
        let n = name.len().min(NAME_BYTES);
        let b = self.name.as_mut_bytes();
        b.fill(0);
        b[..n].copy_from_slice(&name[..n]);
    }
}

/// Records that fit in one reply.
pub const RECORDS_PER_REPLY: usize =
    (MSG_MAX_WORDS - ViolationsHead::WORDS) / ViolationRecord::WORDS;

/// Writes a reply body: `head` (its `count` is set to `records.len()`) and `records`; returns
/// the length in words. `records` holds at most [`RECORDS_PER_REPLY`].
pub fn encode(mut head: ViolationsHead, records: &[ViolationRecord], out: &mut [u64]) -> usize {
    let records = &records[..records.len().min(RECORDS_PER_REPLY)];
    head.count = records.len() as u64;
    let mut at = head.encode(out);
    for r in records {
        at += r.encode(&mut out[at..]);
    }
    at
}

/// Reads a reply body: its head and its records.
pub fn decode(
    body: &[u64],
) -> Result<(ViolationsHead, impl Iterator<Item = ViolationRecord> + '_), Failure> {
    let bad = || Failure::with(Error::BadLength, [0, body.len() as u64, 0]);
    let h = body.get(..ViolationsHead::WORDS).ok_or_else(bad)?;
    let head = ViolationsHead::decode(h)?;
    let rest = &body[ViolationsHead::WORDS..];
    let count = usize::try_from(head.count).map_err(|_| bad())?;
    if count > RECORDS_PER_REPLY || rest.len() != count * ViolationRecord::WORDS {
        return Err(bad());
    }
    Ok((
        head,
        rest.chunks_exact(ViolationRecord::WORDS)
            .filter_map(|w| ViolationRecord::decode(w).ok()),
    ))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    #[test]
    fn records_round_trip_through_a_reply() {
        let mut r = ViolationRecord {
            seq: 4,
            what: op::FREE as u64 | (kind::RED_ZONE_RIGHT as u64) << 8 | 0xcc << 16 | 0x77 << 24,
            object: 0x1000,
            offset: (-2i64) as u64,
            alloc_site: 0xabc,
            free_site: 0,
            cores: 2,
            ..Default::default()
        };
        r.set_cache(b"kmalloc-32");
        let mut out = [0u64; MSG_MAX_WORDS];
        let n = encode(
            ViolationsHead {
                count: 0,
                next: 5,
                lost: 1,
                total: 5,
            },
            &[r; RECORDS_PER_REPLY + 3],
            &mut out,
        );
        assert!(n <= MSG_MAX_WORDS);
        let (head, records) = decode(&out[..n]).unwrap();
        assert_eq!(head.count as usize, RECORDS_PER_REPLY);
        let all: Vec<_> = records.collect();
        assert_eq!(all.len(), RECORDS_PER_REPLY);
        let g = all[0];
        assert_eq!(g.cache(), "kmalloc-32");
        assert_eq!(
            (g.op(), g.kind(), g.expected(), g.found(), g.offset()),
            (op::FREE, kind::RED_ZONE_RIGHT, 0xcc, 0x77, -2)
        );
        assert_eq!((g.alloc_core(), g.free_core()), (Some(1), None));
        assert!(decode(&out[..n - 1]).is_err());
        assert!(decode(&out[..2]).is_err());
    }
}
