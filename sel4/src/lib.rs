//! Small seL4 5.0.0 bindings for aarch64, shaped like rust-sel4's `sel4` crate so that a later
//! move to it stays mechanical.
//!
//! - [`MessageInfo`], [`IpcBuffer`], [`UserContext`]: the kernel's message formats.
//! - [`Cap`] with the types of [`cap_type`]: typed capability pointers; invocations are methods on
//!   them (`Cap<Endpoint>::call`, `Cap<Untyped>::untyped_retype`, ...).
//! - [`BootInfo`]: the packed bootinfo frame, read with unaligned loads.
//! - Generated from the kernel's interface files at build time: [`Syscall`], [`InvocationLabel`],
//!   [`ObjectType`], [`KernelError`], [`config`], and the raw [`invocations`].
//!
//! Syscalls exist only on aarch64; the data types also build on the host for unit tests.

#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod bootinfo;
mod cap;
mod cap_data;
mod error;
mod fault;
mod message_info;
mod object;
mod user_context;

#[cfg(target_arch = "aarch64")]
mod cap_methods;
#[cfg(target_arch = "aarch64")]
mod debug;
#[cfg(target_arch = "aarch64")]
mod endpoint;
#[cfg(target_arch = "aarch64")]
pub mod invocation;
#[cfg(target_arch = "aarch64")]
mod ipc_buffer;
#[cfg(target_arch = "aarch64")]
pub mod pmu;
#[cfg(target_arch = "aarch64")]
mod syscalls;

pub use bootinfo::{BootInfo, BootInfoError, SlotRegion, UntypedDesc};
pub use cap::{cap_type, init_thread, AbsoluteCPtr, CPtr, Cap, CapType};
pub use cap_data::{CNodeCapData, CapRights, VmAttributes};
pub use error::{Error, Result};
pub use fault::Fault;
pub use generated::*;
pub use message_info::MessageInfo;
pub use object::ObjectBlueprint;
pub use user_context::UserContext;

#[cfg(target_arch = "aarch64")]
pub use debug::{debug_cap_identify, debug_halt, debug_put_char, DebugWriter};
#[cfg(target_arch = "aarch64")]
pub use endpoint::{reply, reply_with_mrs};
#[cfg(target_arch = "aarch64")]
pub use ipc_buffer::{with_ipc_buffer, with_ipc_buffer_mut, IpcBuffer};
#[cfg(target_arch = "aarch64")]
pub use syscalls::yield_now;

/// A machine word.
pub type Word = u64;

/// Message registers in the IPC buffer (`seL4_MsgMaxLength`).
pub const MSG_MAX_LENGTH: usize = 120;
/// Message registers passed in CPU registers (x2..x5).
pub const FAST_MESSAGE_REGISTERS: usize = 4;
/// Extra capabilities per message (`seL4_MsgMaxExtraCaps`).
pub const MSG_MAX_EXTRA_CAPS: usize = 3;
/// Bits of a small page.
pub const PAGE_BITS: usize = 12;
/// Bytes of a small page.
pub const PAGE_SIZE: usize = 1 << PAGE_BITS;
/// Bits in a CPtr.
pub const WORD_BITS: usize = 64;

mod generated {
    include!(concat!(env!("OUT_DIR"), "/types.rs"));
}

/// The raw invocations generated from the interface files (one per method, marshalled like
/// libsel4's stubs). Prefer the typed methods on [`Cap`].
#[cfg(target_arch = "aarch64")]
#[allow(clippy::too_many_arguments, clippy::unnecessary_cast, missing_docs)]
pub mod invocations {
    use crate::invocation::invoke;
    use crate::{Error, InvocationLabel, UserContext, Word};
    include!(concat!(env!("OUT_DIR"), "/invocations.rs"));
}
