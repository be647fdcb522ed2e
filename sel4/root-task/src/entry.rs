//! The root task's entry. The kernel starts it at EL0 with x0 = bootinfo address and sp = 0:
//! `_start` moves sp to the top of a .bss stack before any Rust code runs, then the Rust entry
//! validates the bootinfo and calls the `main` named in [`declare_root_task!`].

use crate::ROOT_STACK_BYTES;

#[repr(C, align(16))]
struct Stack([u8; ROOT_STACK_BYTES]);

#[no_mangle]
static mut __SEL4_ROOT_TASK_STACK: Stack = Stack([0; ROOT_STACK_BYTES]);

core::arch::global_asm!(
    ".section .text._start",
    ".global _start",
    "_start:",
    "    adrp x9, {stack}",
    "    add x9, x9, :lo12:{stack}",
    "    mov x10, {size}",
    "    add sp, x9, x10",
    "    mov x29, xzr",
    "    mov x30, xzr",
    "    bl {entry}",
    "    udf #2",
    stack = sym __SEL4_ROOT_TASK_STACK,
    size = const ROOT_STACK_BYTES,
    entry = sym root_task_entry,
);

extern "Rust" {
    fn __sel4_root_task_main(bootinfo: &sel4::BootInfo<'static>) -> !;
}

extern "C" fn root_task_entry(bootinfo_addr: usize) -> ! {
    sel4_runtime::set_panic_behaviour(sel4_runtime::PanicBehaviour::HaltKernel);
    // SAFETY: x0 at entry is the bootinfo frame the kernel mapped for the root task; it stays
    // mapped and unchanged for the task's life.
    match unsafe { sel4::BootInfo::from_addr(bootinfo_addr) } {
        // SAFETY: `declare_root_task!` defines the symbol with exactly this signature.
        Ok(bootinfo) => unsafe { __sel4_root_task_main(&bootinfo) },
        Err(e) => {
            crate::debug_println!("root task: bad bootinfo at {bootinfo_addr:#x}: {e:?}");
            sel4::debug_halt()
        }
    }
}

/// Declares the root task's `main(&BootInfo) -> !`.
#[macro_export]
macro_rules! declare_root_task {
    ($main:path) => {
        #[no_mangle]
        fn __sel4_root_task_main(bootinfo: &$crate::_sel4::BootInfo<'static>) -> ! {
            $main(bootinfo)
        }
    };
}
