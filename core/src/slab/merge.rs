//! Cache merging (SLUB's `find_mergeable`): a new cache may become an alias of an existing real
//! cache of the same owner when neither has a constructor or a debug flag, neither forbids
//! merging, their `RANDOM_FREELIST` flags agree, the existing slot is large enough and at most a
//! word larger, and it satisfies the new alignment. Pure functions.
use super::layout::Layout;
use super::params::{CacheFlags, CacheParams};

const WORD: u32 = 8;

/// Whether caches created with `flags`/`ctor` may take part in merging at all.
pub fn mergeable(flags: CacheFlags, has_ctor: bool) -> bool {
    !has_ctor && !flags.intersects(CacheFlags::DEBUG | CacheFlags::NO_MERGE)
}

/// Whether a new cache (`p`, laid out as `new`) may alias an existing real cache.
pub fn compatible(
    p: &CacheParams<'_>,
    new: &Layout,
    existing_flags: CacheFlags,
    existing_has_ctor: bool,
    existing: &Layout,
) -> bool {
    mergeable(p.flags, !p.ctor.is_none())
        && mergeable(existing_flags, existing_has_ctor)
        && p.flags.contains(CacheFlags::RANDOM_FREELIST)
            == existing_flags.contains(CacheFlags::RANDOM_FREELIST)
        && existing.stride >= new.object_size.div_ceil(WORD) * WORD
        && existing.stride - new.object_size.div_ceil(WORD) * WORD < WORD
        && existing.stride & (new.align - 1) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slab::params::{Ctor, OwnerId};

    fn params(size: usize, flags: CacheFlags) -> CacheParams<'static> {
        CacheParams {
            name: "t",
            size,
            align: 8,
            flags,
            ctor: Ctor::None,
            owner: OwnerId(1),
        }
    }

    fn layout(size: usize, flags: CacheFlags) -> Layout {
        Layout::compute(size, 8, flags, 1).unwrap()
    }

    #[test]
    fn same_slot_size_merges() {
        let e = layout(64, CacheFlags::empty());
        let p = params(60, CacheFlags::empty());
        assert!(compatible(
            &p,
            &layout(60, p.flags),
            CacheFlags::empty(),
            false,
            &e
        ));
        let p = params(40, CacheFlags::empty());
        assert!(!compatible(
            &p,
            &layout(40, p.flags),
            CacheFlags::empty(),
            false,
            &e
        ));
    }

    #[test]
    fn debug_ctor_and_no_merge_never_merge() {
        let e = layout(64, CacheFlags::empty());
        for f in [
            CacheFlags::POISON,
            CacheFlags::RED_ZONE,
            CacheFlags::NO_MERGE,
        ] {
            let p = params(64, f);
            assert!(!compatible(
                &p,
                &layout(64, f),
                CacheFlags::empty(),
                false,
                &e
            ));
        }
        let p = params(64, CacheFlags::empty());
        assert!(!compatible(
            &p,
            &layout(64, p.flags),
            CacheFlags::empty(),
            true,
            &e
        ));
        let mut p = params(64, CacheFlags::empty());
        p.ctor = Ctor::Remote;
        assert!(!compatible(
            &p,
            &layout(64, p.flags),
            CacheFlags::empty(),
            false,
            &e
        ));
    }

    #[test]
    fn alignment_must_be_met() {
        let e = layout(96, CacheFlags::empty());
        let p = params(96, CacheFlags::HWCACHE_ALIGN);
        let l = layout(96, p.flags);
        assert_eq!(l.align, 64);
        assert!(!compatible(&p, &l, CacheFlags::empty(), false, &e));
    }
}
