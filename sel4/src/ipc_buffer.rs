//! This thread's IPC buffer. With `IPC_BUF_TPIDRURW` the kernel keeps its address in `tpidr_el0`
//! for every thread (the root task's and any configured with `TCB_Configure`), so no global
//! state is needed. Invariant: one thread uses one buffer, and the closures passed to
//! [`with_ipc_buffer_mut`] do not nest (they make at most one syscall and call no user code that
//! could take the buffer again).

use crate::{Word, MSG_MAX_EXTRA_CAPS, MSG_MAX_LENGTH};
use core::arch::asm;

/// `seL4_IPCBuffer` (128 words; the kernel requires 512-byte alignment).
#[derive(Debug)]
#[repr(C, align(512))]
pub struct IpcBuffer {
    pub tag: Word,
    pub msg: [Word; MSG_MAX_LENGTH],
    pub user_data: Word,
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

/// Runs `f` on this thread's IPC buffer.
pub fn with_ipc_buffer<R>(f: impl FnOnce(&IpcBuffer) -> R) -> R {
    // SAFETY: the kernel keeps tpidr_el0 pointing at this thread's mapped, aligned IPC buffer;
    // per the module invariant no mutable reference to it is live.
    f(unsafe { &*buffer_ptr() })
}

/// Runs `f` on this thread's IPC buffer, mutably.
pub fn with_ipc_buffer_mut<R>(f: impl FnOnce(&mut IpcBuffer) -> R) -> R {
    // SAFETY: as in `with_ipc_buffer`; closures do not nest, so this is the only reference.
    f(unsafe { &mut *buffer_ptr() })
}
