//! This thread's IPC buffer. With `IPC_BUF_TPIDRURW` the kernel keeps its address in `tpidr_el0`
//! for every thread (the root task's and any configured with `TCB_Configure`), so no global
//! state is needed. Invariant: one thread uses one buffer.
//!
//! Borrows: [`with_ipc_buffer`] and [`with_ipc_buffer_mut`] lend the buffer to one closure at a
//! time. The buffer's `userData` word (which the kernel never touches) records that a closure
//! holds it; it is private, so no closure can reset it. A nested call would make a second
//! reference beside a live `&mut` (undefined behaviour), so it panics instead: a bug of the
//! caller's code, never reachable from a message's contents.

use crate::{Word, MSG_MAX_EXTRA_CAPS, MSG_MAX_LENGTH};
use core::arch::asm;

/// `seL4_IPCBuffer` (128 words; the kernel requires 512-byte alignment).
#[derive(Debug)]
#[repr(C, align(512))]
pub struct IpcBuffer {
    pub tag: Word,
    pub msg: [Word; MSG_MAX_LENGTH],
    /// The borrow flag of this module (nonzero while a closure holds the buffer); the kernel
    /// never reads or writes this word.
    user_data: Word,
    pub caps_or_badges: [Word; MSG_MAX_EXTRA_CAPS],
    pub receive_cnode: Word,
    pub receive_index: Word,
    pub receive_depth: Word,
}

const _: () = assert!(core::mem::size_of::<IpcBuffer>() == 1024);

fn buffer_ptr() -> *mut IpcBuffer {
    let addr: usize;
    // SAFETY: reading tpidr_el0 has no side effects.
    unsafe { asm!("mrs {}, tpidr_el0", out(reg) addr, options(nomem, nostack, preserves_flags)) };
    addr as *mut IpcBuffer
}

/// Marks the buffer at `p` as lent for as long as it lives.
struct Lent(*mut IpcBuffer);

impl Lent {
    fn take() -> Lent {
        let p = buffer_ptr();
        // SAFETY: the kernel keeps tpidr_el0 pointing at this thread's mapped, aligned IPC
        // buffer; no reference to it is live when the flag is clear, and when it is set we only
        // read the word (through the raw pointer) and panic before making any reference.
        let flag = unsafe { core::ptr::addr_of_mut!((*p).user_data) };
        // SAFETY: as above.
        if unsafe { flag.read_volatile() } != 0 {
            panic!("the IPC buffer is already lent (nested with_ipc_buffer)");
        }
        // SAFETY: as above; no reference to the buffer is live.
        unsafe { flag.write_volatile(1) };
        Lent(p)
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        // SAFETY: the closure's reference is dead once `Lent` drops (it was passed by value to a
        // closure that has returned or unwound), so this raw write aliases nothing live.
        unsafe { core::ptr::addr_of_mut!((*self.0).user_data).write_volatile(0) };
    }
}

/// Runs `f` on this thread's IPC buffer. Panics if called inside another `with_ipc_buffer*`
/// closure.
pub fn with_ipc_buffer<R>(f: impl FnOnce(&IpcBuffer) -> R) -> R {
    let lent = Lent::take();
    // SAFETY: the buffer is mapped and aligned (see `Lent::take`), and the flag `take` set
    // guarantees no other reference to it exists until `lent` drops, after `f` returns.
    f(unsafe { &*lent.0 })
}

/// Runs `f` on this thread's IPC buffer, mutably. Panics if called inside another
/// `with_ipc_buffer*` closure.
pub fn with_ipc_buffer_mut<R>(f: impl FnOnce(&mut IpcBuffer) -> R) -> R {
    let lent = Lent::take();
    // SAFETY: as in `with_ipc_buffer`: this is the only reference until `lent` drops.
    f(unsafe { &mut *lent.0 })
}
