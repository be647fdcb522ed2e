//! Performing an invocation: message registers 0..3 in x2..x5, the rest and the extra caps in
//! the IPC buffer, a `Call` on the object's cap; a non-zero reply label is the error code.

use crate::syscalls::{self, Mrs};
use crate::{
    with_ipc_buffer, with_ipc_buffer_mut, Error, InvocationLabel, MessageInfo, Syscall, Word,
};

/// The reply of a successful invocation.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    regs: Mrs,
    length: usize,
}

impl Reply {
    /// Reply message register `i`, read whatever the reply's length says (as libsel4's stubs
    /// do): seL4 5.0.0 answers `Page_GetAddress` with the address in register 0 but a length of 0
    /// (its generic "success" reply overwrites the tag after the invocation set it).
    pub fn mr(&self, i: usize) -> Word {
        if i < self.regs.len() {
            self.regs[i]
        } else {
            with_ipc_buffer(|ipc| ipc.msg.get(i).copied().unwrap_or(0))
        }
    }

    /// The length the reply's tag states.
    pub fn length(&self) -> usize {
        self.length
    }
}

/// Invokes the object at `service` with `label`, message words `mrs` and extra caps `caps`.
pub fn invoke(
    service: Word,
    label: InvocationLabel,
    mrs: &[Word],
    caps: &[Word],
) -> Result<Reply, Error> {
    debug_assert!(mrs.len() <= crate::MSG_MAX_LENGTH && caps.len() <= crate::MSG_MAX_EXTRA_CAPS);
    let mut regs: Mrs = [0; 4];
    let fast = mrs.len().min(regs.len());
    regs[..fast].copy_from_slice(&mrs[..fast]);
    with_ipc_buffer_mut(|ipc| {
        ipc.msg[fast..mrs.len()].copy_from_slice(&mrs[fast..]);
        ipc.caps_or_badges[..caps.len()].copy_from_slice(caps);
    });
    let info = MessageInfo::new(label as Word, 0, caps.len(), mrs.len());
    let (_, reply) = syscalls::send_recv(Syscall::Call, service, info, &mut regs);
    match reply.label() {
        0 => Ok(Reply {
            regs,
            length: reply.length(),
        }),
        code => Err(Error::from_code(code)),
    }
}
