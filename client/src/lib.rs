//! The client stub: a [`Transport`] trait, the kernel-shaped API on top of it ([`Client`]), magazines,
//! a typed wrapper ([`TypedCache`]) and a `GlobalAlloc` adapter ([`GlobalClient`]).
//!
//! Hot operations pop from and push to a private magazine per cache (and per kmalloc class); only an
//! empty or full magazine costs a message, which moves a whole batch through the shared magazine page.
//! Caches with debug flags bypass magazines so the server checks every operation.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod cache;
mod client;
mod ctor;
mod global;
#[cfg(feature = "std")]
pub mod host;
mod magazine;
mod slab_table;
mod transport;
mod typed;

pub use cache::{Ctor, KmemCache};
pub use client::{Client, Config, Stats};
pub use global::GlobalClient;
pub use memserver_protocol::violations::{self, ViolationRecord, ViolationsHead};
pub use memserver_protocol::{ops::alloc_flags, ops::cache_flags, Error, Failure};
pub use transport::Transport;
pub use typed::{Obj, TypedCache};
