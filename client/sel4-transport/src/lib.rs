//! The seL4 side of the memserver client stub: `Sel4Transport` (a `memserver_client::Transport`
//! over an endpoint call: words 0..4 in registers, the rest in the IPC buffer, the magazine page
//! mapped by the root task), [`abi`], the fixed contract between the root task and its client
//! tasks (slots, addresses, start arguments, the root task's own operations), the task-side
//! operations (`exit`, console output, ping) and the client side of the supervisor interface.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod abi;
#[cfg(target_arch = "aarch64")]
pub mod supervisor;
#[cfg(target_arch = "aarch64")]
mod task;
#[cfg(target_arch = "aarch64")]
mod transport;

#[cfg(target_arch = "aarch64")]
pub use task::{console_write, exit, ping, Console};
#[cfg(target_arch = "aarch64")]
pub use transport::Sel4Transport;
