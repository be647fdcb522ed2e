//! The `/proc/slabinfo` "version: 2.1" text: both header lines and one row per real cache, in
//! Linux's exact column format, so existing tools can read it. Formatting only; the numbers are
//! gathered by `Allocator::slabinfo`.
use core::fmt::{self, Write};

pub const HEADER: &str = "slabinfo - version: 2.1\n\
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n";

/// One row's numbers, with SLAB's meanings: `active_objs` counts every object not on a slab's
/// free list (objects in per-core arrays count as active), `active_slabs` the partial and full
/// slabs, `sharedavail` the objects in the nodes' shared arrays.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlabinfoRow {
    pub name: alloc::string::String,
    pub active_objs: usize,
    pub num_objs: usize,
    pub objsize: u32,
    pub objperslab: u32,
    pub pagesperslab: u32,
    pub limit: u32,
    pub batchcount: u32,
    pub sharedfactor: u32,
    pub active_slabs: usize,
    pub num_slabs: usize,
    pub sharedavail: usize,
}

impl SlabinfoRow {
    /// Writes the row, newline-terminated.
    pub fn write(&self, out: &mut impl Write) -> fmt::Result {
        writeln!(
            out,
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

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    #[test]
    fn row_matches_linux_columns() {
        let row = SlabinfoRow {
            name: "kmalloc-64".into(),
            active_objs: 3712,
            num_objs: 3712,
            objsize: 64,
            objperslab: 64,
            pagesperslab: 1,
            limit: 120,
            batchcount: 60,
            sharedfactor: 8,
            active_slabs: 58,
            num_slabs: 58,
            sharedavail: 0,
        };
        let mut s = String::new();
        row.write(&mut s).unwrap();
        assert_eq!(
            s,
            "kmalloc-64          3712   3712     64   64    1 : tunables  120   60    8 : slabdata     58     58      0\n"
        );
        assert!(HEADER.starts_with("slabinfo - version: 2.1\n# name            <active_objs>"));
        assert_eq!(HEADER.lines().count(), 2);
    }
}
