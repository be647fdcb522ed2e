//! The flag words of the C API: `slab_flags_t` for `kmem_cache_create` and `gfp_t` for the
//! allocation calls, with the kernel's names. The cache flags are the protocol's bits (checked at
//! compile time); of the allocation flags only `__GFP_ZERO` has a meaning here, the kernel's
//! context flags (`GFP_KERNEL`, `GFP_ATOMIC`, `GFP_NOWAIT`) are 0 so that kernel-shaped code
//! compiles unchanged. Any other bit is refused with `MEMSERVER_E_UNKNOWN_FLAG`.
use core::ffi::c_uint;
use memserver_protocol::ops::cache_flags;
use memserver_protocol::Error;

/// Flags of `kmem_cache_create`.
pub type slab_flags_t = u64;
/// Flags of the allocation calls.
pub type gfp_t = c_uint;

/// Align objects to the cache line.
pub const SLAB_HWCACHE_ALIGN: slab_flags_t = 0x01;
/// Red zones around each object, checked by the server.
pub const SLAB_RED_ZONE: slab_flags_t = 0x02;
/// Poison freed objects; a write after free is reported.
pub const SLAB_POISON: slab_flags_t = 0x04;
/// Record the owner and sequence of each object's last alloc and free.
pub const SLAB_STORE_USER: slab_flags_t = 0x08;
/// Check every free (double free, foreign or interior pointer).
pub const SLAB_CONSISTENCY_CHECKS: slab_flags_t = 0x10;
/// Randomised free order in each new slab.
pub const SLAB_RANDOM_ORDER: slab_flags_t = 0x20;

const _: () = {
    assert!(SLAB_HWCACHE_ALIGN == cache_flags::HWCACHE_ALIGN);
    assert!(SLAB_RED_ZONE == cache_flags::RED_ZONE);
    assert!(SLAB_POISON == cache_flags::POISON);
    assert!(SLAB_STORE_USER == cache_flags::STORE_USER);
    assert!(SLAB_CONSISTENCY_CHECKS == cache_flags::CONSISTENCY_CHECKS);
    assert!(SLAB_RANDOM_ORDER == cache_flags::RANDOM_ORDER);
    assert!(
        (SLAB_HWCACHE_ALIGN
            | SLAB_RED_ZONE
            | SLAB_POISON
            | SLAB_STORE_USER
            | SLAB_CONSISTENCY_CHECKS
            | SLAB_RANDOM_ORDER)
            == cache_flags::ALL
    );
};

/// The kernel's context flags: no meaning for a client task.
pub const GFP_KERNEL: gfp_t = 0;
pub const GFP_ATOMIC: gfp_t = 0;
pub const GFP_NOWAIT: gfp_t = 0;
/// Zero the memory before returning it.
pub const __GFP_ZERO: gfp_t = 0x100;

/// Whether `flags` asks for zeroed memory; `Err` for a bit this API does not know.
pub(crate) fn wants_zero(flags: gfp_t) -> Result<bool, core::ffi::c_int> {
    if flags & !__GFP_ZERO != 0 {
        return Err(crate::error::code(Error::UnknownFlag));
    }
    Ok(flags & __GFP_ZERO != 0)
}
