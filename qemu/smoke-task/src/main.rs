//! Temporary root task for bringing up the kernel and the loader (the real root task is
//! `roottask/`): sets its own stack (seL4 starts the root task with sp = 0), prints through the debug
//! kernel's seL4_DebugPutChar, checks that it got a bootinfo address and that the PMU cycle counter
//! is readable at EL0 and advancing (the loader's grant), prints `N passed, M failed`, and stops
//! the kernel with seL4_DebugHalt.
#![no_std]
#![no_main]

use core::arch::{asm, global_asm};

const SYS_DEBUG_PUT_CHAR: i64 = -9;
const SYS_DEBUG_HALT: i64 = -10;

#[repr(C, align(16))]
struct Stack([u8; 16384]);
#[no_mangle]
static mut SMOKE_STACK: Stack = Stack([0; 16384]);

global_asm!(
    r#"
    .section .text.entry, "ax"
    .global _start
_start:
    ldr x9, =SMOKE_STACK + 16384
    mov sp, x9
    bl smoke_main
1:  b 1b
"#
);

fn put_char(c: u8) {
    // SAFETY: the seL4_DebugPutChar system call only prints one byte.
    unsafe { asm!("svc #0", in("x0") u64::from(c), in("x7") SYS_DEBUG_PUT_CHAR, options(nostack)) };
}

fn put_str(s: &str) {
    s.bytes().for_each(put_char);
}

fn put_dec(mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf[i..].iter().copied().for_each(put_char);
}

fn cycles() -> u64 {
    let c: u64;
    // SAFETY: reading the PMU cycle counter; the loader granted EL0 read access (without the
    // grant this traps and the kernel reports a fault instead of the closing line).
    unsafe { asm!("mrs {}, pmccntr_el0", out(reg) c, options(nomem, nostack)) };
    c
}

fn report(passed: &mut u64, failed: &mut u64, ok: bool, name: &str) {
    put_str(if ok { "ok " } else { "FAILED " });
    put_str(name);
    put_char(b'\n');
    if ok {
        *passed += 1;
    } else {
        *failed += 1;
    }
}

#[no_mangle]
extern "C" fn smoke_main(bootinfo: u64) -> ! {
    let (mut passed, mut failed) = (0, 0);
    put_str("smoke: bootinfo at ");
    put_dec(bootinfo);
    put_char(b'\n');
    report(
        &mut passed,
        &mut failed,
        bootinfo != 0,
        "root task boots with a bootinfo address",
    );
    let first = cycles();
    let second = cycles();
    report(
        &mut passed,
        &mut failed,
        second > first,
        "cycle counter readable at EL0 and advancing",
    );
    put_dec(passed);
    put_str(" passed, ");
    put_dec(failed);
    put_str(" failed\n");
    // SAFETY: seL4_DebugHalt stops the kernel; it does not return.
    unsafe { asm!("svc #0", in("x7") SYS_DEBUG_HALT, options(nostack)) };
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    put_str("smoke: panic\n");
    loop {
        core::hint::spin_loop();
    }
}
