//! The panic handler: print where and why, then stop this task in the way that fits its role
//! (set once by the entry code before any user code runs).

use core::sync::atomic::{AtomicU8, Ordering};

/// What a panic does after printing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PanicBehaviour {
    /// Halt the kernel (the root task: nothing can go on without it).
    HaltKernel = 0,
    /// Raise a user exception so that the fault endpoint's holder learns of it (child tasks).
    Fault = 1,
}

static BEHAVIOUR: AtomicU8 = AtomicU8::new(PanicBehaviour::HaltKernel as u8);

/// Sets what a panic does after printing.
pub fn set_panic_behaviour(behaviour: PanicBehaviour) {
    BEHAVIOUR.store(behaviour as u8, Ordering::Relaxed);
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    match info.location() {
        Some(l) => crate::debug_println!(
            "panicked at {}:{}:{}: {}",
            l.file(),
            l.line(),
            l.column(),
            info.message()
        ),
        None => crate::debug_println!("panicked: {}", info.message()),
    }
    #[cfg(target_arch = "aarch64")]
    if BEHAVIOUR.load(Ordering::Relaxed) == PanicBehaviour::Fault as u8 {
        // SAFETY: `udf` only raises an undefined-instruction exception; the kernel turns it into
        // a fault message and never resumes this thread unless its fault handler decides to.
        unsafe { core::arch::asm!("udf #0", options(noreturn)) }
    }
    #[cfg(target_arch = "aarch64")]
    sel4::debug_halt();
    #[cfg(not(target_arch = "aarch64"))]
    loop {}
}
