//! Kernel bring-up root task (the memory server's root task is `roottask/`): sets its own stack
//! (seL4 starts the root task with sp = 0), then checks what the kernel port and the loader
//! promise, printing one line per check and a closing `N passed, M failed`:
//! it got a bootinfo address; the PMU cycle counter is readable at EL0 and advancing (the
//! loader's grant); and, on a kernel with two cores, a thread pinned on core 1 runs while this
//! task (higher priority, never blocking) keeps core 0 busy, which takes the loader's PSCI start of
//! core 1, the kernel's SMP boot and its reschedule IPI. Then it halts the kernel.
#![no_std]
#![no_main]

mod bootinfo;
mod kernel;

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicU64, Ordering};

const STACK_BYTES: usize = 16384;
const CNODE: u64 = 2;
const VSPACE: u64 = 3;
const ROOT_PRIORITY_ABOVE: u64 = 100;
/// Guest time the pinned thread gets to show up (generic timer at 62.5 MHz): 0.5 s.
const PINNED_WAIT_TICKS: u64 = 31_250_000;
const PINNED_MAGIC: u64 = 0x5e14_c0de;

#[repr(C, align(16))]
struct Stack([u8; STACK_BYTES]);
#[no_mangle]
static mut SMOKE_STACK: Stack = Stack([0; STACK_BYTES]);
#[no_mangle]
static mut PINNED_STACK: Stack = Stack([0; STACK_BYTES]);

static PINNED_RAN: AtomicU64 = AtomicU64::new(0);

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

fn put_str(s: &str) {
    s.bytes().for_each(kernel::put_char);
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
    buf[i..].iter().copied().for_each(kernel::put_char);
}

fn cycles() -> u64 {
    let c: u64;
    // SAFETY: reading the PMU cycle counter; the loader granted EL0 read access (without the
    // grant this traps and the kernel reports a fault instead of the closing line).
    unsafe { asm!("mrs {}, pmccntr_el0", out(reg) c, options(nomem, nostack)) };
    c
}

fn ticks() -> u64 {
    let t: u64;
    // SAFETY: reading the virtual counter; the loader granted EL0 access.
    unsafe { asm!("isb", "mrs {}, cntvct_el0", out(reg) t, options(nomem, nostack)) };
    t
}

struct Report {
    passed: u64,
    failed: u64,
}

impl Report {
    fn check(&mut self, ok: bool, name: &str) {
        put_str(if ok { "ok " } else { "FAILED " });
        put_str(name);
        kernel::put_char(b'\n');
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
    }
}

#[no_mangle]
extern "C" fn pinned_main(flag: *const AtomicU64) -> ! {
    // SAFETY: `flag` is the address of PINNED_RAN, passed in x0 by smoke_main.
    unsafe { (*flag).store(PINNED_MAGIC, Ordering::Release) };
    loop {
        core::hint::spin_loop();
    }
}

/// Why starting the pinned thread failed: the step and the kernel's error code.
struct StartError(&'static str, u64);

fn start_pinned_thread(bi: &bootinfo::BootInfo, affinity_label: u64) -> Result<(), StartError> {
    let (slot, slots_end) = bi.empty();
    if slot >= slots_end {
        return Err(StartError("no free slot", 0));
    }
    let untyped = bi
        .untyped()
        .find(|u| !u.is_device && u.size_bits >= 11)
        .ok_or(StartError("no RAM untyped of 2 KiB", 0))?;
    let check = |what, err| {
        if err == 0 {
            Ok(())
        } else {
            Err(StartError(what, err))
        }
    };
    let tcb = slot;
    check(
        "Untyped_Retype",
        kernel::invoke(
            untyped.cap,
            kernel::UNTYPED_RETYPE,
            &[kernel::TCB_OBJECT, 0, 0, 0, tcb, 1],
            &[CNODE],
        ),
    )?;
    let prio = ROOT_PRIORITY_ABOVE;
    check(
        "TCB_Configure",
        kernel::invoke(
            tcb,
            kernel::TCB_CONFIGURE,
            &[0, (prio << 8) | prio, 0, 0, 0],
            &[CNODE, VSPACE, 0],
        ),
    )?;
    check(
        "TCB_SetAffinity",
        kernel::invoke(tcb, affinity_label, &[1], &[]),
    )?;
    let stack_top = core::ptr::addr_of!(PINNED_STACK) as u64 + STACK_BYTES as u64;
    let entry = pinned_main as *const () as u64;
    let flag = &PINNED_RAN as *const AtomicU64 as u64;
    // resume = 1; registers pc, sp, spsr (EL0t), x0
    check(
        "TCB_WriteRegisters",
        kernel::invoke(
            tcb,
            kernel::TCB_WRITE_REGISTERS,
            &[1, 4, entry, stack_top, 0, flag],
            &[],
        ),
    )
}

#[no_mangle]
extern "C" fn smoke_main(bootinfo: u64) -> ! {
    let mut report = Report {
        passed: 0,
        failed: 0,
    };
    report.check(bootinfo != 0, "root task boots with a bootinfo address");
    let first = cycles();
    let second = cycles();
    report.check(
        second > first,
        "cycle counter readable at EL0 and advancing",
    );

    if let (true, Some(label)) = (kernel::MAX_NUM_NODES > 1, kernel::TCB_SET_AFFINITY) {
        let bi = bootinfo::BootInfo(bootinfo);
        match start_pinned_thread(&bi, label) {
            Ok(()) => {
                let start = ticks();
                while PINNED_RAN.load(Ordering::Acquire) != PINNED_MAGIC
                    && ticks() - start < PINNED_WAIT_TICKS
                {
                    core::hint::spin_loop();
                }
                report.check(
                    PINNED_RAN.load(Ordering::Acquire) == PINNED_MAGIC,
                    "thread pinned on core 1 runs while core 0 stays busy",
                );
            }
            Err(StartError(step, err)) => {
                put_str(step);
                put_str(" failed with error ");
                put_dec(err);
                kernel::put_char(b'\n');
                report.check(
                    false,
                    "thread pinned on core 1 runs while core 0 stays busy",
                );
            }
        }
    }
    put_dec(report.passed);
    put_str(" passed, ");
    put_dec(report.failed);
    put_str(" failed\n");
    kernel::halt()
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    put_str("smoke: panicked at an unknown place\n");
    kernel::halt()
}
