//! `struct kmem_cache` and the `kmem_cache_*` calls. A cache handle lives in server memory: it is
//! a kmalloc block of this client holding the stub's [`KmemCache`] (handle, geometry, private
//! magazine) behind a magic word. The magic is cleared when the cache is destroyed, so a use after
//! destroy is caught as `MEMSERVER_E_BAD_HANDLE` while the block has not been reused; the contract
//! still asks for a live handle.
use crate::connection::with;
use crate::ctor::{self, kmem_ctor_t};
use crate::error::{code, fail, fail_null};
use crate::flags::{gfp_t, slab_flags_t, wants_zero};
use core::ffi::{c_char, c_int, c_uint, c_void};
use memserver_client::{Failure, KmemCache};
use memserver_protocol::varlen::MAX_NAME_LEN;
use memserver_protocol::Error;

/// A cache (opaque to C).
pub struct kmem_cache {
    magic: u64,
    cache: KmemCache,
}

const MAGIC: u64 = 0x6b6d_656d_6361_6368; // "kmemcach"

fn protocol(f: Failure) -> c_int {
    code(f.error)
}

/// The cache behind `s`, if `s` is non-null and carries the magic.
///
/// # Safety
/// `s` is null or points to a `kmem_cache` from [`kmem_cache_create`] (possibly destroyed since:
/// its block stays mapped and readable for the life of the client).
unsafe fn cache_mut<'a>(s: *mut kmem_cache) -> Result<&'a mut kmem_cache, c_int> {
    if s.is_null() {
        return Err(code(Error::NullPointer));
    }
    // SAFETY: the caller's contract: `s` points to a (possibly destroyed) handle block of ours;
    // reading its magic word is a read of our own mapped memory.
    let magic = unsafe { core::ptr::addr_of!((*s).magic).read() };
    if magic != MAGIC {
        return Err(code(Error::BadHandle));
    }
    // SAFETY: the magic says the block holds a live `kmem_cache` written by `kmem_cache_create`;
    // the API serves one call at a time, so no other reference to it is live.
    Ok(unsafe { &mut *s })
}

/// The bytes of a C name: up to `MAX_NAME_LEN` bytes before a NUL; never reads past the first
/// `MAX_NAME_LEN + 1` bytes.
///
/// # Safety
/// `name` is non-null and readable up to its NUL or `MAX_NAME_LEN + 1` bytes, whichever is first.
unsafe fn name_str<'a>(name: *const c_char) -> Result<&'a str, c_int> {
    let mut len = 0;
    loop {
        if len > MAX_NAME_LEN {
            return Err(code(Error::BadName));
        }
        // SAFETY: the caller's contract: bytes up to the NUL (or MAX_NAME_LEN + 1) are readable.
        if unsafe { name.add(len).read() } == 0 {
            break;
        }
        len += 1;
    }
    // SAFETY: the `len` bytes before the NUL were just read.
    let bytes = unsafe { core::slice::from_raw_parts(name.cast::<u8>(), len) };
    core::str::from_utf8(bytes).map_err(|_| code(Error::BadName))
}

/// Creates a cache of objects of `size` bytes aligned to `align` (0: 8 bytes), with
/// `SLAB_*` `flags`, and `ctor` run once over every object of each new slab (NULL: none).
/// Returns NULL on failure (see `memserver_last_error()`).
///
/// # Safety
/// `name` is NULL or a NUL-terminated string (only its first 33 bytes are ever read; longer names
/// are refused). `ctor`, if not NULL, may be called with any object of the cache while a call of
/// this API runs; it must not call this API (such a call fails with `MEMSERVER_E_IN_USE`).
#[no_mangle]
pub unsafe extern "C" fn kmem_cache_create(
    name: *const c_char,
    size: usize,
    align: usize,
    flags: slab_flags_t,
    ctor: kmem_ctor_t,
) -> *mut kmem_cache {
    match create(name, size, align, flags, ctor) {
        Ok(p) => p,
        Err(c) => fail_null(c),
    }
}

fn create(
    name: *const c_char,
    size: usize,
    align: usize,
    flags: slab_flags_t,
    ctor: kmem_ctor_t,
) -> Result<*mut kmem_cache, c_int> {
    if name.is_null() {
        return Err(code(Error::NullPointer));
    }
    // SAFETY: `kmem_cache_create`'s contract on `name`.
    let name = unsafe { name_str(name) }?;
    let ctor = ctor.map(ctor::slot_for).transpose()?;
    let align = if align == 0 { 8 } else { align };
    with(|c| {
        let size_of = core::mem::size_of::<kmem_cache>();
        let block = c.kmalloc(size_of).map_err(protocol)?;
        if block % core::mem::align_of::<kmem_cache>() != 0 {
            let _ = c.kfree_sized(block, size_of);
            return Err(code(Error::Internal));
        }
        let cache = match c.kmem_cache_create(name, size, align, flags, ctor) {
            Ok(cache) => cache,
            Err(f) => {
                let _ = c.kfree_sized(block, size_of);
                return Err(protocol(f));
            }
        };
        let p = block as *mut kmem_cache;
        // SAFETY: `block` is a kmalloc block of at least `size_of` bytes, aligned (checked), that
        // the server handed to this client alone and nothing else references.
        unsafe {
            p.write(kmem_cache {
                magic: MAGIC,
                cache,
            })
        };
        Ok(p)
    })
}

/// An object of cache `s`, or NULL (see `memserver_last_error()`). `flags`: `GFP_KERNEL`, or with
/// `__GFP_ZERO` for a zeroed object.
///
/// # Safety
/// `s` is NULL or a cache returned by `kmem_cache_create` (a destroyed one is detected while its
/// handle block is not reused).
#[no_mangle]
pub unsafe extern "C" fn kmem_cache_alloc(s: *mut kmem_cache, flags: gfp_t) -> *mut c_void {
    // SAFETY: forwarded contract.
    match unsafe { alloc(s, flags) } {
        Ok(p) => p,
        Err(c) => fail_null(c),
    }
}

/// As `kmem_cache_alloc`, zeroed.
///
/// # Safety
/// As `kmem_cache_alloc`.
#[no_mangle]
pub unsafe extern "C" fn kmem_cache_zalloc(s: *mut kmem_cache, flags: gfp_t) -> *mut c_void {
    // SAFETY: forwarded contract.
    match unsafe { alloc(s, flags | crate::flags::__GFP_ZERO) } {
        Ok(p) => p,
        Err(c) => fail_null(c),
    }
}

/// # Safety
/// As `kmem_cache_alloc`.
unsafe fn alloc(s: *mut kmem_cache, flags: gfp_t) -> Result<*mut c_void, c_int> {
    let zero = wants_zero(flags)?;
    // SAFETY: forwarded contract.
    let s = unsafe { cache_mut(s) }?;
    with(|c| {
        let r = if zero {
            c.kmem_cache_zalloc(&mut s.cache)
        } else {
            c.kmem_cache_alloc(&mut s.cache)
        };
        r.map(|a| a as *mut c_void).map_err(protocol)
    })
}

/// Returns `obj` to cache `s`. 0, or minus the code (NULL `obj`, an address that is not a live
/// object of `s`, a double free: the server's verdict, see below). Objects go back through the
/// cache's private magazine, so on a plain cache most frees are checked when the magazine is
/// returned; caches with debug flags check every free at once.
///
/// # Safety
/// `s` as for `kmem_cache_alloc`. `obj` is not used after a successful free.
#[no_mangle]
pub unsafe extern "C" fn kmem_cache_free(s: *mut kmem_cache, obj: *mut c_void) -> c_int {
    // SAFETY: forwarded contract.
    let r = unsafe { cache_mut(s) }.and_then(|s| {
        with(|c| {
            c.kmem_cache_free(&mut s.cache, obj as usize)
                .map_err(protocol)
        })
    });
    r.map_or_else(fail, |()| 0)
}

/// Destroys cache `s`. 0; or `-MEMSERVER_E_CACHE_BUSY` if objects are still allocated (the cache
/// stays usable); NULL is accepted and does nothing, as in the kernel.
///
/// # Safety
/// `s` as for `kmem_cache_alloc`; after success it must not be used again.
#[no_mangle]
pub unsafe extern "C" fn kmem_cache_destroy(s: *mut kmem_cache) -> c_int {
    if s.is_null() {
        return 0;
    }
    // SAFETY: forwarded contract.
    let r = unsafe { cache_mut(s) }.and_then(|h| {
        with(|c| {
            c.kmem_cache_destroy(&mut h.cache).map_err(protocol)?;
            h.magic = 0;
            // The handle block goes back into the kmalloc magazine; `KmemCache` owns nothing else.
            c.kfree_sized(s as usize, core::mem::size_of::<kmem_cache>())
                .map_err(protocol)
        })
    });
    r.map_or_else(fail, |()| 0)
}

/// Returns the cache's magazine to the server and frees its empty slabs beyond the cache's
/// minimum. The number of pages freed (at most `INT_MAX`), or minus the code.
///
/// # Safety
/// As `kmem_cache_alloc`.
#[no_mangle]
pub unsafe extern "C" fn kmem_cache_shrink(s: *mut kmem_cache) -> c_int {
    // SAFETY: forwarded contract.
    let r = unsafe { cache_mut(s) }
        .and_then(|s| with(|c| c.kmem_cache_shrink(&mut s.cache).map_err(protocol)));
    r.map_or_else(fail, |pages| c_int::try_from(pages).unwrap_or(c_int::MAX))
}

/// The usable bytes of one object of `s` (0 for a bad handle).
///
/// # Safety
/// As `kmem_cache_alloc`.
#[no_mangle]
pub unsafe extern "C" fn kmem_cache_size(s: *mut kmem_cache) -> c_uint {
    // SAFETY: forwarded contract.
    match unsafe { cache_mut(s) } {
        Ok(s) => c_uint::try_from(s.cache.object_size()).unwrap_or(c_uint::MAX),
        Err(c) => {
            fail(c);
            0
        }
    }
}
