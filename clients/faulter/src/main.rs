//! Harness client that faults on purpose: with start argument `fault_mode::VM_FAULT` it reads an
//! unmapped address, with `fault_mode::UNDEFINED_INSTRUCTION` it executes `udf`. Either way the
//! kernel must report the fault to the root task through this task's fault endpoint.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![no_std]
#![no_main]

use harness_protocol::{fault_mode, FAULT_ADDRESS};
use sel4::Word;

sel4_runtime::declare_child_task!(main);

fn main(args: [Word; 4]) {
    match args[0] {
        fault_mode::VM_FAULT => {
            // SAFETY: deliberately invalid: the address is unmapped, the read faults and the
            // kernel stops this thread before it completes.
            let v = unsafe { core::ptr::read_volatile(FAULT_ADDRESS as *const u64) };
            sel4_runtime::debug_println!("faulter: read {v:#x} from an unmapped address");
        }
        fault_mode::UNDEFINED_INSTRUCTION => {
            // SAFETY: deliberately invalid: `udf` raises an exception the kernel reports to the
            // fault endpoint; this thread never continues.
            unsafe { core::arch::asm!("udf #7", options(noreturn)) }
        }
        other => sel4_runtime::debug_println!("faulter: unknown mode {other}"),
    }
}
