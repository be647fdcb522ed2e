//! Entry of a child task. The parent sets pc = `_start`, sp = the top of a mapped stack (16-byte
//! aligned), x0..x3 = four start arguments, and tpidr_el0 = the IPC buffer (the kernel does that
//! from `TCB_Configure`). `_start` calls `__sel4_runtime_child_main(x0, x1, x2, x3)`, which
//! [`declare_child_task!`] defines; if main returns, the task faults so the parent learns of it.

core::arch::global_asm!(
    ".section .text._start",
    ".global _start",
    "_start:",
    "    mov x29, xzr",
    "    mov x30, xzr",
    "    bl __sel4_runtime_child_main",
    "    udf #1",
);

/// Defines a child task's entry: `fn main(args: [sel4::Word; 4])` receives x0..x3 from the
/// parent. Returning from it raises a fault reported to the parent.
#[macro_export]
macro_rules! declare_child_task {
    ($main:path) => {
        #[no_mangle]
        extern "C" fn __sel4_runtime_child_main(
            a0: $crate::_sel4::Word,
            a1: $crate::_sel4::Word,
            a2: $crate::_sel4::Word,
            a3: $crate::_sel4::Word,
        ) {
            $crate::set_panic_behaviour($crate::PanicBehaviour::Fault);
            $main([a0, a1, a2, a3]);
        }
    };
}
