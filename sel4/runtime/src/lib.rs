//! What every seL4 task of this project needs besides the bindings: console macros over the
//! debug kernel's putchar, a panic handler, and the entry of a child task (one whose registers,
//! stack included, its parent set with `TCB_WriteRegisters`). The root task's entry, which must
//! make its own stack, is in `sel4-root-task`.
//!
//! A panic prints `panicked at <file>:<line>:<col>: <message>`; in the root task it then halts
//! the kernel, in a child it executes an undefined instruction so that the kernel reports a user
//! exception to the child's fault endpoint and the parent can tell (a child cannot halt others).

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![no_std]

mod console;
mod panic;

#[cfg(all(target_arch = "aarch64", feature = "child"))]
mod child_entry;

pub use console::{print, set_uart, Console};
pub use panic::{set_panic_behaviour, PanicBehaviour};

#[doc(hidden)]
pub use sel4 as _sel4;
