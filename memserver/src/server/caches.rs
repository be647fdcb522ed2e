//! Cache lifecycle over the wire: create (flags mapped from the wire, a client constructor becomes
//! `Ctor::Remote`), destroy (refused with the live count while objects are out) and shrink.
use super::dispatch::Ctx;
use super::errors;
use super::handles::CacheEntry;
use super::Server;
use crate::slab::{CacheFlags, CacheParams, Ctor};
use memserver_protocol::ops::*;
use memserver_protocol::{Error, Failure};

/// Each wire cache flag and the core's.
const WIRE_TO_CORE: [(u64, CacheFlags); 6] = [
    (cache_flags::HWCACHE_ALIGN, CacheFlags::HWCACHE_ALIGN),
    (cache_flags::RED_ZONE, CacheFlags::RED_ZONE),
    (cache_flags::POISON, CacheFlags::POISON),
    (cache_flags::STORE_USER, CacheFlags::STORE_USER),
    (
        cache_flags::CONSISTENCY_CHECKS,
        CacheFlags::CONSISTENCY_CHECKS,
    ),
    (cache_flags::RANDOM_ORDER, CacheFlags::RANDOM_FREELIST),
];

fn core_flags(wire: u64) -> CacheFlags {
    WIRE_TO_CORE
        .iter()
        .filter(|(w, _)| wire & w != 0)
        .fold(CacheFlags::empty(), |acc, (_, f)| acc | *f)
}

/// The wire flags of a cache as created (the creator's and its client's debug options).
fn wire_flags(core: CacheFlags) -> u64 {
    WIRE_TO_CORE
        .iter()
        .filter(|(_, f)| core.contains(*f))
        .fold(0, |acc, (w, _)| acc | w)
}

/// `slab_bytes` if the client sees every slab (a buddy block, aligned to its size in the server's
/// addresses) at a multiple of it too, that is if the window's offset is one; else 0.
fn aligned_slab_bytes(slab_bytes: usize, window_offset: usize) -> u64 {
    if window_offset.is_multiple_of(slab_bytes) {
        slab_bytes as u64
    } else {
        0
    }
}

impl Server {
    pub(super) fn cache_create(
        &self,
        c: &mut Ctx<'_>,
        r: CacheCreateReq,
        name: &str,
        out: &mut [u64],
    ) -> Result<usize, Failure> {
        let too_large = Failure::with(Error::SizeTooLarge, [r.size, 0, 0]);
        let size = usize::try_from(r.size).map_err(|_| too_large)?;
        let align = usize::try_from(r.align).map_err(|_| Failure::new(Error::BadAlign))?;
        let params = CacheParams {
            name,
            size,
            align,
            flags: core_flags(r.flags) | c.rec.debug.flags_for(name),
            ctor: if r.ctor == 1 {
                Ctor::Remote
            } else {
                Ctor::None
            },
            owner: c.rec.owner,
        };
        let id = self
            .alloc
            .cache_create(params)
            .map_err(|e| errors::create(&e))?;
        let info = match self.alloc.cache_info(id) {
            Ok(info) => info,
            Err(_) => {
                let _ = self.alloc.cache_destroy(id);
                return Err(Failure::new(Error::Internal));
            }
        };
        let l = info.layout;
        let entry = CacheEntry {
            id,
            usable: l.usable as usize,
            stride: l.stride as usize,
            remote_ctor: r.ctor == 1,
        };
        let handle = c
            .rec
            .handles
            .insert(entry, &c.rec.metadata.account)
            .inspect_err(|_| {
                let _ = self.alloc.cache_destroy(id);
            })?;
        Ok(CacheCreateReply {
            handle,
            stride: l.stride as u64,
            objects_per_slab: l.objects as u64,
            object_size: l.usable as u64,
            flags: wire_flags(info.flags),
            slab_bytes: aligned_slab_bytes(l.slab_bytes(), c.rec.window.offset),
            first_offset: l.obj_offset as u64,
        }
        .encode(out))
    }

    pub(super) fn cache_destroy(
        &self,
        c: &mut Ctx<'_>,
        r: DestroyReq,
        out: &mut [u64],
    ) -> Result<usize, Failure> {
        let e = c.rec.handles.get(r.handle)?;
        self.alloc
            .cache_destroy(e.id)
            .map_err(|e| errors::destroy(&e))?;
        c.rec.handles.remove(r.handle)?;
        Ok(Empty {}.encode(out))
    }

    pub(super) fn cache_shrink(
        &self,
        c: &mut Ctx<'_>,
        r: ShrinkReq,
        out: &mut [u64],
    ) -> Result<usize, Failure> {
        let e = c.rec.handles.get(r.handle)?;
        let frames = self
            .alloc
            .cache_shrink(e.id)
            .map_err(|_| Failure::new(Error::StaleHandle))?;
        Ok(ShrinkReply {
            pages_freed: frames as u64,
        }
        .encode(out))
    }
}
