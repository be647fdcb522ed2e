//! The modes of a client with a thread on each of two cores (the harness lists it on cores 0 and
//! 1; every thread runs `main`, the thread on core 0 leads and ends the client). The threads share
//! the address space and meet through the statics below.

use crate::C;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use memserver_client::Transport;
use memserver_client_sel4::abi;
use memserver_protocol::{Label, MagazinePage, MAX_BATCH};
use ms_harness::{figure, report, Checks};
use sel4::Word;

/// Objects each thread allocates.
const N: usize = 48;
/// Yields a thread waits for the other before giving up.
const PATIENCE: usize = 5_000_000;
/// Where the faulting thread reads (never mapped in a client).
const UNMAPPED: usize = 0xdead_0000;
/// Refills of the scribbled thread.
const REFILLS: usize = 300;

static PUBLISHED: [[AtomicU64; N]; 2] = [const { [const { AtomicU64::new(0) }; N] }; 2];
static READY: [AtomicBool; 2] = [const { AtomicBool::new(false) }; 2];
static FREED: [AtomicBool; 2] = [const { AtomicBool::new(false) }; 2];
static STOP: AtomicBool = AtomicBool::new(false);

fn wait(flag: &AtomicBool) -> bool {
    (0..PATIENCE).any(|_| {
        if flag.load(Ordering::Acquire) {
            return true;
        }
        sel4::yield_now();
        false
    })
}

/// Stays out of the way until the leader ends the client (the root task then stops this thread).
fn idle() -> ! {
    loop {
        sel4::yield_now();
    }
}

fn pattern(thread: usize, i: usize) -> u64 {
    0x7c0e_0000_0000_0000 | (thread as u64) << 32 | i as u64
}

/// Each thread kmallocs `N` blocks through its own core's endpoint and fills them; then frees the
/// other thread's blocks (allocated on the other core) through its own; the leader then checks
/// that the client holds nothing.
pub fn two_cores(c: &mut C, checks: &mut Checks, core: usize) {
    let t = core.min(1);
    checks.check(40 + t as Word, c.core(), core as Word);
    for (i, slot) in PUBLISHED[t].iter().enumerate() {
        match c.kmalloc(64) {
            Ok(a) => {
                // SAFETY: a live 64-byte block of this client.
                unsafe { (a as *mut u64).write_volatile(pattern(t, i)) };
                slot.store(a as u64, Ordering::Relaxed);
            }
            Err(f) => {
                checks.check(42, f.error.code(), 0);
            }
        }
    }
    READY[t].store(true, Ordering::Release);
    let other = 1 - t;
    checks.ok(43, wait(&READY[other]));
    for (i, slot) in PUBLISHED[other].iter().enumerate() {
        let a = slot.load(Ordering::Relaxed) as usize;
        if a == 0 {
            continue;
        }
        // SAFETY: a live block of this client (the other thread's), mapped in the shared window.
        let v = unsafe { (a as *const u64).read_volatile() };
        checks.check(44, v, pattern(other, i));
        checks.ok(45, c.kfree(a).is_ok());
    }
    FREED[t].store(true, Ordering::Release);
    if t != 0 {
        idle();
    }
    checks.ok(46, wait(&FREED[1]));
    checks.check(47, c.stats().map_or(Word::MAX, |s| s.live_objects), 0);
    report::figure(figure::OBJECTS, 2 * N as Word);
}

/// The leader holds blocks and waits; the other thread faults: the whole client ends.
pub fn second_thread_faults(c: &mut C, checks: &mut Checks, core: usize) {
    if core == 0 {
        for _ in 0..20 {
            checks.ok(50, c.kmalloc(100).is_ok());
        }
        READY[0].store(true, Ordering::Release);
        idle();
    }
    checks.ok(51, wait(&READY[0]));
    checks.ok(52, c.kmalloc(4096).is_ok());
    // SAFETY: deliberately reads an unmapped address: the kernel stops this thread with a VM
    // fault, and the root task ends the whole client. Nothing runs after the read.
    let v = unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
    checks.check(53, v, 0x1_0000);
    idle();
}

/// The second thread writes `victim` (another client's object) over every word of the leader's
/// magazine page while the leader refills through it; the leader must never be given the victim's
/// block, so its final read of the victim's address faults.
pub fn scribbled(c: &mut C, checks: &mut Checks, core: usize, victim: usize) {
    if core != 0 {
        checks.ok(60, wait(&READY[0]));
        // SAFETY: the leader's magazine page is mapped read-write in this address space (the
        // spawn contract); every access to it is atomic.
        let page = unsafe { &*(abi::magazine_vaddr(0) as *const MagazinePage) };
        let words = [victim as u64; MAX_BATCH];
        while !STOP.load(Ordering::Relaxed) {
            for slot in 0..4 {
                page.write_slot(slot, &words);
            }
        }
        idle();
    }
    let Ok(mut k) = c.kmem_cache_create("scribbled", ms_harness::VICTIM_SIZE, 8, 0, None) else {
        checks.check(61, 1, 0);
        return;
    };
    READY[0].store(true, Ordering::Release);
    let h = k.handle();
    let mut got = [0u64; MAX_BATCH];
    let mut seen = 0;
    for _ in 0..REFILLS {
        let (status, body) = c.raw_call(Label::Refill.word(), &[h, 0, 32, 0]);
        let n = if status == 0 {
            body.first().copied().unwrap_or(0)
        } else {
            0
        };
        checks.check(62, status, 0);
        let n = (n as usize).min(MAX_BATCH);
        c.transport().magazine().read_slot(0, &mut got[..n]);
        seen += got[..n].iter().filter(|&&a| a == victim as u64).count();
    }
    STOP.store(true, Ordering::Relaxed);
    let _ = c.kmem_cache_flush(&mut k);
    report::figure(figure::OBJECTS, seen as Word);
    report::figure(figure::ADDRESS, victim as Word);
    // SAFETY: deliberately reads the victim's object: it was never mapped into this client, so
    // the kernel stops this thread with a VM fault here and the root task ends the client.
    let v = unsafe { (victim as *const u64).read_volatile() };
    checks.check(63, v, 0x1_0000);
}
