//! Debug checks of one cache's objects: red zones (`SLUB_RED_ACTIVE` while allocated,
//! `SLUB_RED_INACTIVE` while free), poison of free objects (`POISON_FREE` ending in `POISON_END`),
//! `POISON_INUSE` in the unused tail of a slab, and the owner records of `STORE_USER`.
//! Stateless: the records live in the slab records (`node`), the bytes in object memory.
use super::layout::Layout;
use super::object_mem;
use super::params::{CacheFlags, OwnerId};
use crate::topology::CoreId;

pub const POISON_INUSE: u8 = 0x5a;
pub const POISON_FREE: u8 = 0x6b;
pub const POISON_END: u8 = 0xa5;
pub const SLUB_RED_ACTIVE: u8 = 0xcc;
pub const SLUB_RED_INACTIVE: u8 = 0xbb;

/// One alloc or free of an object, recorded with `STORE_USER`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Track {
    pub owner: OwnerId,
    pub core: CoreId,
    /// Call site given by the caller (`CoreGuard::set_call_site`), e.g. the client's return address.
    pub call_site: u64,
    /// Global sequence number of the operation (orders alloc and free events).
    pub seq: u64,
}

/// The last alloc and free of one object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrackPair {
    pub alloc: Option<Track>,
    pub free: Option<Track>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViolationKind {
    /// A byte before the object (left red zone) was changed.
    RedZoneLeft,
    /// A byte after the object (right red zone) was changed.
    RedZoneRight,
    /// A free object was written (poison damaged).
    Poison,
    /// The unused tail of a slab was written.
    Padding,
    /// The object was still allocated when its cache was destroyed (Linux's "Objects remaining
    /// on kmem_cache_shutdown"); `offset`, `expected` and `found` are 0.
    Leak,
}

/// What a debug check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Violation {
    pub kind: ViolationKind,
    /// Address of the object (for `Padding`: of the slab).
    pub object: usize,
    /// Offset of the bad byte from `object` (negative: in the left red zone).
    pub offset: isize,
    pub expected: u8,
    pub found: u8,
    /// The object's last alloc and free, with `STORE_USER`.
    pub last: TrackPair,
}

/// Which checks a cache's objects get.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Checks {
    red_zone: bool,
    /// Object bodies are poisoned (POISON without a constructor, as SLUB does).
    poison: bool,
    pub(crate) store_user: bool,
    /// Each object's requested size is recorded (a red-zoned kmalloc class), and the bytes from
    /// it to the object size are red zone while the object is allocated.
    pub(crate) orig_size: bool,
}

impl Checks {
    pub(crate) fn new(flags: CacheFlags, has_ctor: bool) -> Checks {
        Checks {
            red_zone: flags.contains(CacheFlags::RED_ZONE),
            poison: flags.contains(CacheFlags::POISON) && !has_ctor,
            store_user: flags.contains(CacheFlags::STORE_USER),
            orig_size: flags.contains(CacheFlags::RED_ZONE | CacheFlags::KMALLOC),
        }
    }

    pub(crate) fn pad_poison(&self) -> bool {
        self.red_zone || self.poison
    }

    /// Puts a free object (at `obj`) in its free state: inactive red zones, poison.
    pub(crate) fn init_free(&self, l: &Layout, obj: usize) {
        if self.red_zone {
            self.fill_red(l, obj, SLUB_RED_INACTIVE);
        }
        if self.poison {
            poison(l, obj);
        }
    }

    /// Marks an object allocated: active red zones.
    pub(crate) fn mark_allocated(&self, l: &Layout, obj: usize) {
        if self.red_zone {
            self.fill_red(l, obj, SLUB_RED_ACTIVE);
        }
    }

    fn fill_red(&self, l: &Layout, obj: usize, byte: u8) {
        object_mem::fill(obj - l.obj_offset as usize, l.obj_offset as usize, byte);
        object_mem::fill(obj + l.object_size as usize, l.right_redzone as usize, byte);
    }

    /// Checks a free object about to be handed out: inactive red zones and intact poison.
    pub(crate) fn check_free(&self, l: &Layout, obj: usize) -> Option<Violation> {
        if self.red_zone {
            if let Some(v) = check_red(l, obj, SLUB_RED_INACTIVE) {
                return Some(v);
            }
        }
        if self.poison {
            let n = l.object_size as usize;
            if let Some((off, found)) = object_mem::first_mismatch(obj, n - 1, POISON_FREE) {
                return Some(violation(
                    ViolationKind::Poison,
                    obj,
                    off as isize,
                    POISON_FREE,
                    found,
                ));
            }
            let found = object_mem::read(obj + n - 1);
            if found != POISON_END {
                return Some(violation(
                    ViolationKind::Poison,
                    obj,
                    n as isize - 1,
                    POISON_END,
                    found,
                ));
            }
        }
        None
    }

    /// Checks an allocated object being freed: active red zones.
    pub(crate) fn check_allocated(&self, l: &Layout, obj: usize) -> Option<Violation> {
        if self.red_zone {
            return check_red(l, obj, SLUB_RED_ACTIVE);
        }
        None
    }

    /// Red-zones the bytes of an allocated object from its requested size `req` to the object
    /// size (a kmalloc class with `orig_size`).
    pub(crate) fn mark_requested(&self, l: &Layout, obj: usize, req: usize) {
        let n = l.object_size as usize;
        if self.orig_size && req < n {
            object_mem::fill(obj + req, n - req, SLUB_RED_ACTIVE);
        }
    }

    /// Checks the bytes of an allocated object from its requested size `req` to the object size.
    pub(crate) fn check_requested(&self, l: &Layout, obj: usize, req: usize) -> Option<Violation> {
        let n = l.object_size as usize;
        if !self.orig_size || req >= n {
            return None;
        }
        object_mem::first_mismatch(obj + req, n - req, SLUB_RED_ACTIVE).map(|(off, found)| {
            violation(
                ViolationKind::RedZoneRight,
                obj,
                (req + off) as isize,
                SLUB_RED_ACTIVE,
                found,
            )
        })
    }

    /// Fills the unused tail of a new slab with `POISON_INUSE`.
    pub(crate) fn init_padding(&self, l: &Layout, slab: usize) {
        if self.pad_poison() {
            object_mem::fill(slab + l.span as usize, l.leftover(), POISON_INUSE);
        }
    }

    /// Checks the unused tail of a slab.
    pub(crate) fn check_padding(&self, l: &Layout, slab: usize) -> Option<Violation> {
        if !self.pad_poison() {
            return None;
        }
        let tail = slab + l.span as usize;
        object_mem::first_mismatch(tail, l.leftover(), POISON_INUSE).map(|(off, found)| {
            violation(
                ViolationKind::Padding,
                slab,
                (l.span as usize + off) as isize,
                POISON_INUSE,
                found,
            )
        })
    }
}

fn poison(l: &Layout, obj: usize) {
    let n = l.object_size as usize;
    object_mem::fill(obj, n - 1, POISON_FREE);
    object_mem::write(obj + n - 1, POISON_END);
}

fn check_red(l: &Layout, obj: usize, byte: u8) -> Option<Violation> {
    let left = l.obj_offset as usize;
    if let Some((off, found)) = object_mem::first_mismatch(obj - left, left, byte) {
        return Some(violation(
            ViolationKind::RedZoneLeft,
            obj,
            off as isize - left as isize,
            byte,
            found,
        ));
    }
    let n = l.object_size as usize;
    object_mem::first_mismatch(obj + n, l.right_redzone as usize, byte).map(|(off, found)| {
        violation(
            ViolationKind::RedZoneRight,
            obj,
            (n + off) as isize,
            byte,
            found,
        )
    })
}

fn violation(
    kind: ViolationKind,
    object: usize,
    offset: isize,
    expected: u8,
    found: u8,
) -> Violation {
    Violation {
        kind,
        object,
        offset,
        expected,
        found,
        last: TrackPair::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn red_zones_and_poison_are_filled_and_checked() {
        let flags = CacheFlags::RED_ZONE | CacheFlags::POISON;
        let l = Layout::compute(20, 8, flags, 1).unwrap();
        let c = Checks::new(flags, false);
        let mut buf = vec![0u8; l.stride as usize * 2];
        let obj = buf.as_mut_ptr() as usize + l.obj_offset as usize;
        c.init_free(&l, obj);
        assert_eq!(c.check_free(&l, obj), None);
        assert_eq!(buf[l.obj_offset as usize + 19], POISON_END);
        assert_eq!(buf[0], SLUB_RED_INACTIVE);
        buf[l.obj_offset as usize + 3] = 0;
        let v = c.check_free(&l, obj).unwrap();
        assert_eq!(
            (v.kind, v.offset, v.expected, v.found),
            (ViolationKind::Poison, 3, POISON_FREE, 0)
        );
        c.init_free(&l, obj);
        c.mark_allocated(&l, obj);
        assert_eq!(c.check_allocated(&l, obj), None);
        buf[l.obj_offset as usize + 20] = 1;
        let v = c.check_allocated(&l, obj).unwrap();
        assert_eq!(
            (v.kind, v.offset, v.found),
            (ViolationKind::RedZoneRight, 20, 1)
        );
    }

    #[test]
    fn poison_is_skipped_with_a_constructor() {
        let c = Checks::new(CacheFlags::POISON, true);
        let l = Layout::compute(16, 8, CacheFlags::POISON, 1).unwrap();
        let buf = vec![7u8; 16];
        let obj = buf.as_ptr() as usize;
        c.init_free(&l, obj);
        assert_eq!(buf, vec![7u8; 16]);
        assert_eq!(c.check_free(&l, obj), None);
    }
}
