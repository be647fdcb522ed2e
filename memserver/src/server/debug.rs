//! A client's debug options, given at attach in Linux's `slab_debug=` syntax (parsed by
//! `memserver_system::slab_debug`, the one parser the system description also uses): the debug
//! flags each of its caches gets by name, kmalloc caches included, on top of the flags its
//! creator asked for. Linux's F, Z, P, U map to consistency checks, red zones, poisoning and
//! owner tracking. And what those checks found: the client's violation log, read a page at a
//! time with `Violations` (addresses in the client's address space).
use super::dispatch::Ctx;
use super::errors::Window;
use super::Server;
use crate::slab::{CacheFlags, CheckedOp, Report, ViolationKind};
use alloc::string::String;
use memserver_protocol::ops::ViolationsReq;
use memserver_protocol::violations::{self, ViolationRecord, ViolationsHead, RECORDS_PER_REPLY};
use memserver_protocol::{Error, Failure, MSG_MAX_WORDS};

impl Server {
    pub(super) fn violations(
        &self,
        c: &mut Ctx<'_>,
        r: ViolationsReq,
        out: &mut [u64; MSG_MAX_WORDS],
    ) -> Result<usize, Failure> {
        let mut reports = [Report::EMPTY; RECORDS_PER_REPLY];
        let got = c
            .rec
            .log
            .read(r.cursor, &mut reports)
            .map_err(|e| Failure::with(Error::BadCursor, [e.cursor, e.total, 0]))?;
        let mut records = [ViolationRecord::default(); RECORDS_PER_REPLY];
        for (rec, rep) in records.iter_mut().zip(&reports[..got.count]) {
            *rec = record(rep, c.rec.window);
        }
        let head = ViolationsHead {
            count: got.count as u64,
            next: got.next,
            lost: got.lost,
            total: got.total,
        };
        Ok(violations::encode(head, &records[..got.count], out))
    }
}

/// A report as the client reads it.
fn record(r: &Report, w: Window) -> ViolationRecord {
    let v = &r.violation;
    let op = match r.op {
        CheckedOp::Alloc => violations::op::ALLOC,
        CheckedOp::Free => violations::op::FREE,
        CheckedOp::Destroy => violations::op::DESTROY,
    };
    let kind = match v.kind {
        ViolationKind::RedZoneLeft => violations::kind::RED_ZONE_LEFT,
        ViolationKind::RedZoneRight => violations::kind::RED_ZONE_RIGHT,
        ViolationKind::Poison => violations::kind::POISON,
        ViolationKind::Padding => violations::kind::PADDING,
        ViolationKind::Leak => violations::kind::LEAK,
    };
    let core = |t: Option<crate::slab::Track>| t.map_or(0, |t| t.core.0 as u64 + 1);
    let mut rec = ViolationRecord {
        seq: r.seq,
        what: op as u64 | (kind as u64) << 8 | (v.expected as u64) << 16 | (v.found as u64) << 24,
        object: w.to_client(v.object),
        offset: v.offset as i64 as u64,
        alloc_site: v.last.alloc.map_or(0, |t| t.call_site),
        free_site: v.last.free.map_or(0, |t| t.call_site),
        cores: core(v.last.alloc) | core(v.last.free) << 8,
        ..Default::default()
    };
    rec.set_cache(r.cache_bytes());
    rec
}
use memserver_system::slab_debug::{DebugFlags, SlabDebug};

/// The checked `slab_debug` text of one client.
#[derive(Clone, Debug, Default)]
pub struct DebugOptions {
    text: String,
}

impl DebugOptions {
    /// Checks `text`; refused with `BadField` and the byte offset of the fault.
    pub fn check(text: &str) -> Result<(), Failure> {
        SlabDebug::parse(text).map_err(|e| Failure::with(Error::BadField, [e.at as u64, 0, 0]))?;
        Ok(())
    }

    /// Checks `text` and keeps a copy (allocated fallibly; its bytes are part of the client
    /// record's metadata charge).
    pub fn parse(text: &str) -> Result<Self, Failure> {
        Self::check(text)?;
        let mut copy = String::new();
        copy.try_reserve_exact(text.len())
            .map_err(|_| Failure::with(Error::OutOfMemory, [0, text.len() as u64, 0]))?;
        copy.push_str(text);
        Ok(DebugOptions { text: copy })
    }

    /// The debug flags of the cache named `name`.
    pub fn flags_for(&self, name: &str) -> CacheFlags {
        // Checked in `parse`.
        let Ok(parsed) = SlabDebug::parse(&self.text) else {
            return CacheFlags::empty();
        };
        core_flags(parsed.flags_for(name))
    }
}

fn core_flags(d: DebugFlags) -> CacheFlags {
    let mut f = CacheFlags::empty();
    f.set(CacheFlags::CONSISTENCY_CHECKS, d.consistency);
    f.set(CacheFlags::RED_ZONE, d.red_zone);
    f.set(CacheFlags::POISON, d.poison);
    f.set(CacheFlags::STORE_USER, d.store_user);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_letters_map_to_the_core_flags_by_cache_name() {
        let d = DebugOptions::parse("ZU,kmalloc-32,dentry;P").unwrap();
        assert_eq!(
            d.flags_for("kmalloc-32"),
            CacheFlags::RED_ZONE | CacheFlags::STORE_USER
        );
        assert_eq!(
            d.flags_for("dentry"),
            CacheFlags::RED_ZONE | CacheFlags::STORE_USER
        );
        assert_eq!(d.flags_for("kmalloc-64"), CacheFlags::POISON);
        assert_eq!(
            DebugOptions::parse("F").unwrap().flags_for("x"),
            CacheFlags::CONSISTENCY_CHECKS
        );
        assert_eq!(DebugOptions::default().flags_for("x"), CacheFlags::empty());
        assert_eq!(
            DebugOptions::parse("FX").unwrap_err(),
            Failure::with(Error::BadField, [1, 0, 0])
        );
    }
}
