//! Kernel bring-up root task (the memory server's root task is `roottask/`): sets its own stack
//! (seL4 starts the root task with sp = 0), then checks what the kernel port and the loader
//! promise, printing (through the debug kernel, or the UART itself on a release kernel) one line
//! per check and a closing `N passed, M failed`:
//! it got a bootinfo address; the PMU cycle counter is readable at EL0 and advancing (the
//! loader's grant); and, on a kernel with two cores: a thread pinned on core 1 runs while this
//! task (higher priority, never blocking) keeps core 0 busy, which takes the loader's PSCI start of
//! core 1, the kernel's SMP boot and its reschedule IPI; that thread reads a page this task mapped
//! on core 0; this task then blocks in `Recv` on the thread's fault endpoint and is woken by what
//! core 1 sends; and once this task unmaps the page on core 0, the thread's next read faults
//! instead of going through a stale TLB entry on core 1 (the kernel's broadcast TLB invalidation).
//! Then it halts the kernel.
#![no_std]
#![no_main]

mod bootinfo;
mod console;
mod kernel;

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicU64, Ordering};

const STACK_BYTES: usize = 16384;
pub(crate) const CNODE: u64 = 2;
pub(crate) const VSPACE: u64 = 3;
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

/// A page mapped (then unmapped) in this address space, inside the page table the kernel made
/// for the root task's image (0x400000..0x600000).
const PROBE_VADDR: u64 = 0x5f_f000;
const PROBE_VALUE: u64 = 0x0dd_ba11;
const RIGHTS_READ_WRITE: u64 = 3;
const ATTR_CACHEABLE_NX: u64 = 1 | 4;
/// Guest time the pinned thread waits before its read of the unmapped page (2 ms), so that this
/// task is already blocked in `Recv` on the fault endpoint when the fault happens.
const FAULT_DELAY_TICKS: u64 = 125_000;
/// Label of the message the pinned thread sends if its read of the unmapped page succeeds.
const NO_FAULT_LABEL: u64 = 0x7357;

const PHASE_READ: u64 = 1;
const PHASE_READ_AGAIN: u64 = 2;

/// What this task and the pinned thread share (both run in this address space).
struct Shared {
    ran: AtomicU64,
    phase: AtomicU64,
    /// 1: first read done; 2: second read started; 3: second read returned.
    progress: AtomicU64,
    seen: AtomicU64,
}

static SHARED: Shared = Shared {
    ran: AtomicU64::new(0),
    phase: AtomicU64::new(0),
    progress: AtomicU64::new(0),
    seen: AtomicU64::new(0),
};

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
    s.bytes().for_each(console::put_char);
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
    buf[i..].iter().copied().for_each(console::put_char);
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
        console::put_char(b'\n');
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
    }
}

fn read_probe() -> u64 {
    // SAFETY: PROBE_VADDR is mapped by the root task before it asks for a read; after the unmap
    // the read faults, and the kernel sends a fault message to the root task and stops this thread.
    unsafe { (PROBE_VADDR as *const u64).read_volatile() }
}

#[no_mangle]
extern "C" fn pinned_main(shared: *const Shared, fault_ep: u64) -> ! {
    // SAFETY: `shared` is the address of SHARED, passed in x0 by smoke_main.
    let s = unsafe { &*shared };
    s.ran.store(PINNED_MAGIC, Ordering::Release);
    loop {
        match (
            s.phase.load(Ordering::Acquire),
            s.progress.load(Ordering::Relaxed),
        ) {
            (PHASE_READ, 0) => {
                s.seen.store(read_probe(), Ordering::Relaxed);
                s.progress.store(1, Ordering::Release);
            }
            (PHASE_READ_AGAIN, 1) => {
                s.progress.store(2, Ordering::Release);
                let start = ticks();
                while ticks() - start < FAULT_DELAY_TICKS {
                    core::hint::spin_loop();
                }
                s.seen.store(read_probe(), Ordering::Relaxed);
                s.progress.store(3, Ordering::Release);
                kernel::send(fault_ep, NO_FAULT_LABEL);
            }
            _ => core::hint::spin_loop(),
        }
    }
}

/// Waits (bounded by guest time) until `done` holds; returns whether it did.
fn wait_for(limit_ticks: u64, done: impl Fn() -> bool) -> bool {
    let start = ticks();
    while !done() {
        if ticks() - start >= limit_ticks {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

/// Why starting the pinned thread failed: the step and the kernel's error code.
struct StartError(&'static str, u64);

/// Caps of what `start_pinned_thread` made.
struct Pinned {
    page: u64,
    fault_ep: u64,
}

/// Creates the thread pinned on core 1 (its faults go to a new endpoint) and maps the probe page.
fn start_pinned_thread(bi: &bootinfo::BootInfo, affinity_label: u64) -> Result<Pinned, StartError> {
    let (slot, slots_end) = bi.empty();
    if slot + 3 > slots_end {
        return Err(StartError("no free slot", 0));
    }
    let untyped = bi
        .untyped()
        .find(|u| !u.is_device && u.size_bits >= 13)
        .ok_or(StartError("no RAM untyped of 8 KiB", 0))?;
    let check = |what, err| {
        if err == 0 {
            Ok(())
        } else {
            Err(StartError(what, err))
        }
    };
    let (tcb, page, fault_ep) = (slot, slot + 1, slot + 2);
    check(
        "Untyped_Retype (endpoint)",
        kernel::invoke(
            untyped.cap,
            kernel::UNTYPED_RETYPE,
            &[kernel::ENDPOINT_OBJECT, 0, 0, 0, fault_ep, 1],
            &[CNODE],
        ),
    )?;
    check(
        "Untyped_Retype (page)",
        kernel::invoke(
            untyped.cap,
            kernel::UNTYPED_RETYPE,
            &[kernel::SMALL_PAGE_OBJECT, 0, 0, 0, page, 1],
            &[CNODE],
        ),
    )?;
    check(
        "ARM_Page_Map",
        kernel::invoke(
            page,
            kernel::PAGE_MAP,
            &[PROBE_VADDR, RIGHTS_READ_WRITE, ATTR_CACHEABLE_NX],
            &[VSPACE],
        ),
    )?;
    // SAFETY: the page was just mapped read-write at PROBE_VADDR in this address space.
    unsafe { (PROBE_VADDR as *mut u64).write_volatile(PROBE_VALUE) };
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
            &[fault_ep, (prio << 8) | prio, 0, 0, 0],
            &[CNODE, VSPACE, 0],
        ),
    )?;
    check(
        "TCB_SetAffinity",
        kernel::invoke(tcb, affinity_label, &[1], &[]),
    )?;
    let stack_top = core::ptr::addr_of!(PINNED_STACK) as u64 + STACK_BYTES as u64;
    let entry = pinned_main as *const () as u64;
    let shared = &SHARED as *const Shared as u64;
    // resume = 1; registers pc, sp, spsr (EL0t), x0, x1
    check(
        "TCB_WriteRegisters",
        kernel::invoke(
            tcb,
            kernel::TCB_WRITE_REGISTERS,
            &[1, 5, entry, stack_top, 0, shared, fault_ep],
            &[],
        ),
    )?;
    Ok(Pinned { page, fault_ep })
}

/// The checks that need the thread on core 1.
fn smp_checks(report: &mut Report, pinned: &Pinned) {
    let s = &SHARED;
    let ran = wait_for(PINNED_WAIT_TICKS, || {
        s.ran.load(Ordering::Acquire) == PINNED_MAGIC
    });
    report.check(ran, "thread pinned on core 1 runs while core 0 stays busy");
    if !ran {
        return;
    }
    s.phase.store(PHASE_READ, Ordering::Release);
    let read = wait_for(PINNED_WAIT_TICKS, || {
        s.progress.load(Ordering::Acquire) == 1
    }) && s.seen.load(Ordering::Relaxed) == PROBE_VALUE;
    report.check(read, "thread on core 1 reads a page mapped on core 0");
    if !read {
        return;
    }
    let unmapped = kernel::invoke(pinned.page, kernel::PAGE_UNMAP, &[], &[]);
    s.phase.store(PHASE_READ_AGAIN, Ordering::Release);
    // Blocks this core until core 1 reports: its fault (sent by the kernel) or a successful read
    // (sent by the thread). If nothing wakes this task, the runner's time limit ends the run.
    put_str("waiting on core 0 (blocked in Recv) for core 1's report\n");
    let msg = kernel::recv(pinned.fault_ep);
    report.check(
        msg.label == kernel::FAULT_VM || msg.label == NO_FAULT_LABEL,
        "a message from core 1 wakes this task blocked on core 0",
    );
    report.check(
        unmapped == 0
            && msg.label == kernel::FAULT_VM
            && msg.mrs[1] == PROBE_VADDR
            && s.progress.load(Ordering::Acquire) == 2,
        "page unmapped on core 0 faults on core 1 (no stale TLB entry)",
    );
}

#[no_mangle]
extern "C" fn smoke_main(bootinfo: u64) -> ! {
    let bi = bootinfo::BootInfo(bootinfo);
    let (_, slots_end) = bi.empty();
    // A release kernel cannot print for us; if the UART cannot be mapped either, nothing can be
    // reported and the runner's time limit ends the run.
    let console = console::init(&bi, slots_end - 1);
    let mut report = Report {
        passed: 0,
        failed: 0,
    };
    if let Err((step, err)) = console {
        put_str(step);
        put_str(" failed with error ");
        put_dec(err);
        console::put_char(b'\n');
    }
    report.check(bootinfo != 0, "root task boots with a bootinfo address");
    let first = cycles();
    let second = cycles();
    report.check(
        second > first,
        "cycle counter readable at EL0 and advancing",
    );

    if let (true, Some(label)) = (kernel::MAX_NUM_NODES > 1, kernel::TCB_SET_AFFINITY) {
        match start_pinned_thread(&bi, label) {
            Ok(pinned) => smp_checks(&mut report, &pinned),
            Err(StartError(step, err)) => {
                put_str(step);
                put_str(" failed with error ");
                put_dec(err);
                console::put_char(b'\n');
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
