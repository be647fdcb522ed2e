//! One owner's violation log, the counterpart of the `BUG <cache>: ...` reports Linux writes to
//! its kernel log: every damage a debug check found in the owner's objects, on alloc (the object
//! was then quarantined and the allocation served from another) or on free (the free was
//! refused). A ring of [`LOG_ENTRIES`] fixed-size reports, so its memory is bounded and allocated
//! once, when the log is created: the oldest report is overwritten, and a reader whose cursor
//! fell behind learns how many it lost (like `dmesg` after the ring wrapped).
//!
//! Locking: one `spin::Mutex`, a leaf lock (nothing is taken while it is held); it may be taken
//! under core and node locks.
use super::debug::Violation;
use super::params::MAX_NAME;

/// Reports a log keeps; older ones are overwritten.
pub const LOG_ENTRIES: usize = 32;

/// Which operation's check found the damage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckedOp {
    /// An allocation: the damaged free object was quarantined and another handed out.
    Alloc,
    /// A free (or `krealloc`, `ksize`): the request was refused.
    Free,
    /// A cache destroy that found objects still allocated: it was refused (the cache stays).
    Destroy,
}

/// One report: where the damage was found and what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    /// Position in the owner's log, from 0.
    pub seq: u64,
    pub op: CheckedOp,
    name: [u8; MAX_NAME],
    name_len: u8,
    pub violation: Violation,
}

impl Report {
    /// A placeholder to fill read buffers with.
    pub const EMPTY: Report = Report {
        seq: 0,
        op: CheckedOp::Free,
        name: [0; MAX_NAME],
        name_len: 0,
        violation: Violation {
            kind: super::debug::ViolationKind::Poison,
            object: 0,
            offset: 0,
            expected: 0,
            found: 0,
            last: super::debug::TrackPair {
                alloc: None,
                free: None,
            },
        },
    };

    /// The name of the cache the object belongs to.
    pub fn cache(&self) -> &str {
        // Cache names are printable ASCII (checked at creation), cut at a byte boundary.
        core::str::from_utf8(&self.name[..self.name_len as usize]).unwrap_or("")
    }

    /// The cache name as stored (at most [`MAX_NAME`] bytes).
    pub fn cache_bytes(&self) -> &[u8] {
        &self.name[..self.name_len as usize]
    }
}

/// What a [`ViolationLog::read`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogRead {
    /// Reports written to the output, from the front.
    pub count: usize,
    /// The cursor of the next read.
    pub next: u64,
    /// Reports between the given cursor and the oldest one kept: overwritten before they were read.
    pub lost: u64,
    /// Reports ever logged.
    pub total: u64,
}

/// A read cursor beyond the newest report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadCursor {
    pub cursor: u64,
    pub total: u64,
}

#[derive(Debug)]
struct Ring {
    entries: [Option<Report>; LOG_ENTRIES],
    total: u64,
}

/// See the module docs.
#[derive(Debug)]
pub struct ViolationLog {
    ring: spin::Mutex<Ring>,
}

impl Default for ViolationLog {
    fn default() -> Self {
        Self::new()
    }
}

impl ViolationLog {
    pub const fn new() -> ViolationLog {
        ViolationLog {
            ring: spin::Mutex::new(Ring {
                entries: [None; LOG_ENTRIES],
                total: 0,
            }),
        }
    }

    /// Appends a report of `v`, found by `op` in an object of the cache `cache`.
    pub fn push(&self, op: CheckedOp, cache: &str, violation: Violation) {
        let mut name = [0u8; MAX_NAME];
        let len = cache.len().min(MAX_NAME);
        name[..len].copy_from_slice(&cache.as_bytes()[..len]);
        let mut r = self.ring.lock();
        let seq = r.total;
        r.entries[(seq % LOG_ENTRIES as u64) as usize] = Some(Report {
            seq,
            op,
            name,
            name_len: len as u8,
            violation,
        });
        r.total += 1;
    }

    /// Reports ever logged.
    pub fn total(&self) -> u64 {
        self.ring.lock().total
    }

    /// Copies the reports from `cursor` (0 at first, then the previous read's `next`) into
    /// `out`, oldest first, as many as fit. A cursor older than the oldest report kept starts at
    /// that report, and `lost` counts the skipped ones.
    pub fn read(&self, cursor: u64, out: &mut [Report]) -> Result<LogRead, BadCursor> {
        let r = self.ring.lock();
        if cursor > r.total {
            return Err(BadCursor {
                cursor,
                total: r.total,
            });
        }
        let oldest = r.total.saturating_sub(LOG_ENTRIES as u64);
        let start = cursor.max(oldest);
        let count = ((r.total - start) as usize).min(out.len());
        for (i, o) in out[..count].iter_mut().enumerate() {
            let seq = start + i as u64;
            // Every report in [oldest, total) is present (written before `total` moved past it).
            match r.entries[(seq % LOG_ENTRIES as u64) as usize] {
                Some(rep) if rep.seq == seq => *o = rep,
                _ => unreachable!("report {seq} missing from the ring"),
            }
        }
        Ok(LogRead {
            count,
            next: start + count as u64,
            lost: start - cursor,
            total: r.total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slab::debug::{TrackPair, ViolationKind};

    fn v(object: usize) -> Violation {
        Violation {
            kind: ViolationKind::Poison,
            object,
            offset: 3,
            expected: 0x6b,
            found: 0,
            last: TrackPair::default(),
        }
    }

    #[test]
    fn reads_in_order_and_counts_what_the_ring_overwrote() {
        let log = ViolationLog::new();
        let mut out = [Report::EMPTY; 8];
        let r = log.read(0, &mut out).unwrap();
        assert_eq!((r.count, r.next, r.lost, r.total), (0, 0, 0, 0));
        log.push(CheckedOp::Alloc, "kmalloc-32", v(1));
        let r = log.read(0, &mut out).unwrap();
        assert_eq!((r.count, r.next, r.lost), (1, 1, 0));
        assert_eq!(out[0].cache(), "kmalloc-32");
        assert_eq!((out[0].op, out[0].violation.object), (CheckedOp::Alloc, 1));
        assert_eq!(
            log.read(2, &mut out),
            Err(BadCursor {
                cursor: 2,
                total: 1
            })
        );
        for i in 2..=LOG_ENTRIES + 5 {
            log.push(
                CheckedOp::Free,
                "a-cache-name-longer-than-the-limit-of-32",
                v(i),
            );
        }
        // Reports 0..5 were overwritten; a reader at 1 lost 4 of them.
        let r = log.read(1, &mut out).unwrap();
        assert_eq!((r.count, r.next, r.lost), (8, 13, 4));
        assert_eq!(out[0].seq, 5);
        assert_eq!(out[0].violation.object, 6);
        assert_eq!(out[0].cache().len(), MAX_NAME);
        let r = log.read(r.next, &mut out[..0]).unwrap();
        assert_eq!((r.count, r.next, r.lost), (0, 13, 0));
        assert_eq!(log.total(), LOG_ENTRIES as u64 + 5);
    }
}
