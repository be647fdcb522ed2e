//! The `/proc/slabinfo` "version: 2.1" rows of the allocator's caches. The text form (both header
//! lines, Linux's exact columns) is defined once, by `memserver-slabinfo`, which a wire protocol
//! can carry unchanged; this module holds the numbers, gathered by `Allocator::slabinfo_rows`.
use core::fmt;

pub use memserver_slabinfo::HEADER;

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
    /// The row in the text format's terms (borrowing the name).
    pub fn as_row(&self) -> memserver_slabinfo::Row<'_> {
        memserver_slabinfo::Row {
            name: &self.name,
            active_objs: self.active_objs as u64,
            num_objs: self.num_objs as u64,
            objsize: self.objsize.into(),
            objperslab: self.objperslab.into(),
            pagesperslab: self.pagesperslab.into(),
            limit: self.limit.into(),
            batchcount: self.batchcount.into(),
            sharedfactor: self.sharedfactor.into(),
            active_slabs: self.active_slabs as u64,
            num_slabs: self.num_slabs as u64,
            sharedavail: self.sharedavail as u64,
        }
    }

    /// Writes the row, newline-terminated.
    pub fn write(&self, out: &mut impl fmt::Write) -> fmt::Result {
        self.as_row().write_line(out)
    }
}

/// Adds `other`'s counts (objects, slabs, shared-array objects) to `into`, as slabinfo merges
/// caches of one name; sizes and tunables stay `into`'s.
pub fn absorb(into: &mut SlabinfoRow, other: &SlabinfoRow) {
    into.active_objs += other.active_objs;
    into.num_objs += other.num_objs;
    into.active_slabs += other.active_slabs;
    into.num_slabs += other.num_slabs;
    into.sharedavail += other.sharedavail;
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
