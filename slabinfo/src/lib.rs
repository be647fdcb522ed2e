//! The `/proc/slabinfo` "version: 2.1" text format, defined once: the two header lines and one
//! row's columns exactly as Linux's `cache_show` prints them. The allocator core fills rows with
//! its numbers and the wire protocol carries them unchanged, so a server's text and a client's
//! are byte for byte the same, and procps `slabtop` reads either.
#![no_std]
#![forbid(unsafe_code)]

use core::fmt;

/// The two header lines of `/proc/slabinfo`.
pub const HEADER: &str = "slabinfo - version: 2.1\n# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n";

/// One row, with SLAB's meanings: `active_objs` counts every object not on a slab's free list
/// (objects in per-core arrays count as active), `active_slabs` the partial and full slabs,
/// `sharedavail` the objects in the nodes' shared arrays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Row<'a> {
    pub name: &'a str,
    pub active_objs: u64,
    pub num_objs: u64,
    pub objsize: u64,
    pub objperslab: u64,
    pub pagesperslab: u64,
    pub limit: u64,
    pub batchcount: u64,
    pub sharedfactor: u64,
    pub active_slabs: u64,
    pub num_slabs: u64,
    pub sharedavail: u64,
}

impl Row<'_> {
    /// Writes the row, newline-terminated.
    pub fn write_line(&self, w: &mut impl fmt::Write) -> fmt::Result {
        writeln!(
            w,
            "{:<17} {:>6} {:>6} {:>6} {:>4} {:>4} : tunables {:>4} {:>4} {:>4} : slabdata {:>6} {:>6} {:>6}",
            self.name,
            self.active_objs,
            self.num_objs,
            self.objsize,
            self.objperslab,
            self.pagesperslab,
            self.limit,
            self.batchcount,
            self.sharedfactor,
            self.active_slabs,
            self.num_slabs,
            self.sharedavail
        )
    }
}
