//! memserver-loader's host-testable part: planning where the kernel and the root task go (pure
//! computation over the ELF bytes; the binary does the writes). See `layout`.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod layout;
