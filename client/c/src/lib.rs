//! The C API of the memserver client stub, and on seL4 the runtime of a C client task.
//!
//! A C program includes `memserver.h` (generated from this crate by cbindgen, see `build.rs`) and
//! links `libmemserver_client_c.a`. The calls keep the Linux kernel's names and shapes
//! (`kmem_cache_create/alloc/zalloc/free/destroy/shrink`, `kmalloc`, `kzalloc`, `kcalloc`,
//! `kfree`, `ksize`) over one [`memserver_client::Client`] per program.
//!
//! Error convention: a call returning a pointer returns NULL on failure; a call returning `int`
//! returns 0 (or a count) on success and minus a `MEMSERVER_E_*` code on failure. Either way the
//! code of the last failure is kept for `memserver_last_error()` until the next failure. The codes
//! below 64 are the protocol's error codes (the server's verdict); the codes from 64 up are this
//! layer's own.
//!
//! Threads: the API serves one thread. The client is held under a lock that is only ever *tried*:
//! a call made while another is running (a constructor calling back into the API, or a second
//! thread) fails with `MEMSERVER_E_IN_USE` instead of deadlocking.
//!
//! Panics: no path reachable from C panics (every fallible step is a `Result`); should one ever
//! happen, it cannot unwind into C: on seL4 panics abort (the task faults), and on the host an
//! unwind out of an `extern "C"` function aborts the process.
//!
//! On seL4 (`target_os = "none"`) the library also carries the task runtime: `_start`, then
//! the `runtime` module connects to the server core the root task named and calls the C `int main(void)`;
//! its return value becomes the task's exit status. On the host the tests install a client of the
//! in-process server with [`install`].
#![cfg_attr(target_os = "none", no_std)]
// The C-facing names are the kernel's (`kmem_cache`, `gfp_t`, `__GFP_ZERO`).
#![allow(non_camel_case_types)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod cache;
mod connection;
mod console;
mod ctor;
mod error;
mod exit;
mod flags;
mod kmalloc;
#[cfg(target_os = "none")]
mod runtime;
mod violations;

pub use cache::{
    kmem_cache, kmem_cache_alloc, kmem_cache_create, kmem_cache_destroy, kmem_cache_free,
    kmem_cache_shrink, kmem_cache_size, kmem_cache_zalloc,
};
pub use connection::{install, take, Transport};
pub use console::{memserver_print, memserver_print_hex, memserver_print_u64};
pub use ctor::{kmem_ctor_t, MEMSERVER_MAX_CTORS};
pub use error::*;
pub use exit::memserver_exit;
pub use flags::*;
pub use kmalloc::{
    kcalloc, kfree, kmalloc, ksize, kzalloc, memserver_flush, memserver_slabinfo, memserver_stats,
};
pub use violations::*;
