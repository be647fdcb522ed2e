//! The C test programs of `c/`, compiled against `memserver.h` by build.rs, as Rust functions.
//! Each returns the number of failed checks and prints each failure on stderr; the tests in
//! `tests/` run them over an in-process server with the client installed.

#![forbid(unsafe_code)]
use core::ffi::c_int;

extern "C" {
    /// A cache with a constructor: alloc beyond a batch, constructed objects, zalloc, destroy
    /// refused while objects are live, a destroyed handle refused.
    pub fn capi_test_cache_lifecycle() -> c_int;
    /// Bad arguments of `kmem_cache_create` and the allocation calls, each with its code.
    pub fn capi_test_bad_arguments() -> c_int;
    /// Every kmalloc class, a large block, kzalloc, kcalloc, kfree's verdicts, ksize.
    pub fn capi_test_kmalloc() -> c_int;
    /// `memserver_slabinfo` as `snprintf`: size query, truncation, the cache's row.
    pub fn capi_test_slabinfo() -> c_int;
    /// A write after free reported by the next allocation (served from another object) and
    /// read back with `memserver_violations`; counted in `memserver_stats`.
    pub fn capi_test_violations() -> c_int;
    /// A constructor that calls back into the API gets `MEMSERVER_E_IN_USE`, not a deadlock.
    pub fn capi_test_reentrant_ctor() -> c_int;
    /// More distinct constructors than `MEMSERVER_MAX_CTORS` are refused; one seen before is not.
    pub fn capi_test_ctor_slots() -> c_int;
    /// Every call without an installed client fails with `MEMSERVER_E_NOT_CONNECTED`.
    pub fn capi_test_not_connected() -> c_int;
    /// `memserver_strerror` and `memserver_last_error`.
    pub fn capi_test_errors() -> c_int;
    /// Frees everything a test left in the stub's magazines; the live count the server reports.
    pub fn capi_live_objects_after_flush() -> i64;
}
