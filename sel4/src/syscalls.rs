//! The raw syscalls (`svc #0`, number in x7, x0 capability/badge, x1 message tag, x2..x5 message
//! registers 0..3). The kernel restores every other register, so only those are declared. All
//! asm lives here; the IPC buffer may be read and written by the kernel, so none is `nomem`.

use crate::{MessageInfo, Syscall, Word};
use core::arch::asm;

/// Message registers 0..3 as passed in x2..x5.
pub(crate) type Mrs = [Word; 4];

/// Call / ReplyRecv: send `info` and `mrs` to `cap`, wait, return (badge, tag) with the reply's
/// registers in `mrs`.
pub(crate) fn send_recv(
    sys: Syscall,
    cap: Word,
    info: MessageInfo,
    mrs: &mut Mrs,
) -> (Word, MessageInfo) {
    let mut x0 = cap;
    let mut x1 = info.into_word();
    // SAFETY: a seL4 syscall only touches the declared registers and this thread's IPC buffer
    // (memory is not declared untouched); it uses no stack of ours.
    unsafe {
        asm!(
            "svc #0",
            inout("x0") x0,
            inout("x1") x1,
            inout("x2") mrs[0],
            inout("x3") mrs[1],
            inout("x4") mrs[2],
            inout("x5") mrs[3],
            in("x7") sys as isize,
            options(nostack),
        );
    }
    (x0, MessageInfo::from_word(x1))
}

/// Send / NBSend: send `info` and `mrs` to `cap`.
pub(crate) fn send(sys: Syscall, cap: Word, info: MessageInfo, mrs: &Mrs) {
    // SAFETY: as in `send_recv`; the kernel may change x0..x5 on return, declared clobbered.
    unsafe {
        asm!(
            "svc #0",
            inout("x0") cap => _,
            inout("x1") info.into_word() => _,
            inout("x2") mrs[0] => _,
            inout("x3") mrs[1] => _,
            inout("x4") mrs[2] => _,
            inout("x5") mrs[3] => _,
            in("x7") sys as isize,
            options(nostack),
        );
    }
}

/// Recv / NBRecv on `cap`: returns (badge, tag, registers).
pub(crate) fn recv(sys: Syscall, cap: Word) -> (Word, MessageInfo, Mrs) {
    let mut x0 = cap;
    // x1 goes in as 0: a non-blocking receive that finds nothing leaves it unchanged.
    let mut x1: Word = 0;
    let mut mrs: Mrs = [0; 4];
    // SAFETY: as in `send_recv`.
    unsafe {
        asm!(
            "svc #0",
            inout("x0") x0,
            inout("x1") x1,
            out("x2") mrs[0],
            out("x3") mrs[1],
            out("x4") mrs[2],
            out("x5") mrs[3],
            in("x7") sys as isize,
            options(nostack),
        );
    }
    (x0, MessageInfo::from_word(x1), mrs)
}

/// Reply to the last caller.
pub(crate) fn reply(info: MessageInfo, mrs: &Mrs) {
    // SAFETY: as in `send`.
    unsafe {
        asm!(
            "svc #0",
            out("x0") _,
            inout("x1") info.into_word() => _,
            inout("x2") mrs[0] => _,
            inout("x3") mrs[1] => _,
            inout("x4") mrs[2] => _,
            inout("x5") mrs[3] => _,
            in("x7") Syscall::Reply as isize,
            options(nostack),
        );
    }
}

/// A syscall with one argument in x0 and no result (Yield, debug calls).
pub(crate) fn one_arg(sys: Syscall, arg: Word) {
    // SAFETY: as in `send`.
    unsafe {
        asm!(
            "svc #0",
            inout("x0") arg => _,
            out("x1") _,
            out("x2") _,
            out("x3") _,
            out("x4") _,
            out("x5") _,
            in("x7") sys as isize,
            options(nostack),
        );
    }
}

/// A syscall with one argument in x0 and a result in x0 (DebugCapIdentify).
#[cfg_attr(not(sel4_debug_build), allow(dead_code))]
pub(crate) fn one_arg_result(sys: Syscall, arg: Word) -> Word {
    let mut x0 = arg;
    // SAFETY: as in `send`.
    unsafe {
        asm!(
            "svc #0",
            inout("x0") x0,
            out("x1") _,
            out("x2") _,
            out("x3") _,
            out("x4") _,
            out("x5") _,
            in("x7") sys as isize,
            options(nostack),
        );
    }
    x0
}

/// Gives up the rest of this thread's time slice.
pub fn yield_now() {
    one_arg(Syscall::Yield, 0);
}
