//! The seL4 side of the memserver client stub: `Sel4Transport` (a `memserver_client::Transport`
//! over an endpoint call: words 0..4 in registers, the rest in the IPC buffer, the magazine page
//! mapped by the root task) and [`abi`], the fixed contract between the root task and its client
//! tasks (slots, addresses, start arguments, harness messages).
#![no_std]

pub mod abi;
#[cfg(target_arch = "aarch64")]
mod transport;

#[cfg(target_arch = "aarch64")]
pub use transport::{report, Checks, Sel4Transport};
