//! Runtime and building blocks of an seL4 root task (shaped like rust-sel4's `sel4-root-task`):
//!
//! - [`declare_root_task!`]: the entry (the kernel starts the root task with sp = 0: `_start`
//!   switches to a stack in .bss, validates the bootinfo and calls `main(&BootInfo) -> !`).
//! - [`SlotAllocator`], [`ObjectAllocator`]: free slots of the root CNode, and kernel objects
//!   retyped from the RAM untyped memory listed in bootinfo.
//! - [`AddressSpace`]: a VSpace with its paging structures created on demand.
//! - [`Scratch`]: a window of the root task's own address space for filling frames.
//! - [`spawn`] with [`ProcessSpec`]: a task in its own CSpace and VSpace from an ELF image.
//! - [`spawn_local_thread`]: a thread in the root task's own address space (server threads).
//! - [`init_uart_console`]: the console on QEMU `virt`'s UART on a kernel without a debug console.
//!
//! Console macros and the panic handler come from `sel4-runtime` (re-exported).

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![no_std]

#[cfg(target_arch = "aarch64")]
mod elf_loader;
#[cfg(target_arch = "aarch64")]
mod entry;
mod error;
#[cfg(target_arch = "aarch64")]
mod local_thread;
#[cfg(target_arch = "aarch64")]
mod object_allocator;
mod object_run;
#[cfg(target_arch = "aarch64")]
mod process;
#[cfg(target_arch = "aarch64")]
mod scratch;
#[cfg(target_arch = "aarch64")]
mod shared_page;
mod slots;
#[cfg(target_arch = "aarch64")]
mod uart;
mod untyped_pool;
#[cfg(target_arch = "aarch64")]
mod vspace;

pub use error::{AllocError, SpawnError};
pub use object_run::ObjectRun;
pub use slots::SlotAllocator;
pub use untyped_pool::{UntypedPool, UntypedRecord, MAX_UNTYPED};

#[cfg(target_arch = "aarch64")]
pub use elf_loader::{load_elf, LoadedImage};
#[cfg(target_arch = "aarch64")]
pub use local_thread::{
    spawn_local_thread, LocalThread, LocalThreadSpec, LocalWindow, DEFAULT_LOCAL_WINDOW_VADDR,
};
#[cfg(target_arch = "aarch64")]
pub use object_allocator::ObjectAllocator;
#[cfg(target_arch = "aarch64")]
pub use process::{
    child_slots, spawn, GrantedCap, Process, ProcessSpec, IPC_BUFFER_VADDR, MAX_THREADS, STACK_TOP,
    THREAD_IPC_STRIDE, THREAD_STACK_STRIDE,
};
#[cfg(target_arch = "aarch64")]
pub use scratch::{Scratch, DEFAULT_SCRATCH_VADDR};
#[cfg(target_arch = "aarch64")]
pub use shared_page::SharedPage;
#[cfg(target_arch = "aarch64")]
pub use uart::{init_uart_console, UartError};
#[cfg(target_arch = "aarch64")]
pub use vspace::AddressSpace;

pub use sel4_runtime::{debug_print, debug_println};

#[doc(hidden)]
pub use sel4 as _sel4;

/// Bytes of the root task's stack.
pub const ROOT_STACK_BYTES: usize = 256 * 1024;
