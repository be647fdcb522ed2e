//! IPC on endpoints and notifications. The plain forms move message registers 0..3 between
//! x2..x5 and the IPC buffer's `msg[0..4]` (as libsel4 does), so a message of any length is
//! written and read in the IPC buffer; the `_with_mrs` forms keep registers 0..3 in the caller's
//! array and never touch the buffer (the register-only fast path).

use crate::cap_type::{Endpoint, Notification};
use crate::syscalls::{self, Mrs};
use crate::{with_ipc_buffer, with_ipc_buffer_mut, Cap, MessageInfo, Syscall, Word};

fn load() -> Mrs {
    with_ipc_buffer(|ipc| [ipc.msg[0], ipc.msg[1], ipc.msg[2], ipc.msg[3]])
}

fn store(mrs: &Mrs) {
    with_ipc_buffer_mut(|ipc| ipc.msg[..4].copy_from_slice(mrs));
}

impl Cap<Endpoint> {
    /// Sends and waits for the reply (message in the IPC buffer).
    pub fn call(self, info: MessageInfo) -> MessageInfo {
        let mut mrs = load();
        let (_, reply) = syscalls::send_recv(Syscall::Call, self.bits(), info, &mut mrs);
        store(&mrs);
        reply
    }

    /// Sends and waits for the reply, registers only.
    pub fn call_with_mrs(self, info: MessageInfo, mrs: &mut [Word; 4]) -> MessageInfo {
        syscalls::send_recv(Syscall::Call, self.bits(), info, mrs).1
    }

    /// Sends, blocking until received (message in the IPC buffer).
    pub fn send(self, info: MessageInfo) {
        syscalls::send(Syscall::Send, self.bits(), info, &load());
    }

    /// Sends if a receiver waits, else drops the message.
    pub fn nb_send(self, info: MessageInfo) {
        syscalls::send(Syscall::NBSend, self.bits(), info, &load());
    }

    /// Waits for a message; returns its tag and the sender's badge.
    pub fn recv(self) -> (MessageInfo, Word) {
        let (badge, info, mrs) = syscalls::recv(Syscall::Recv, self.bits());
        store(&mrs);
        (info, badge)
    }

    /// Waits for a message, registers only.
    pub fn recv_with_mrs(self) -> (MessageInfo, Word, [Word; 4]) {
        let (badge, info, mrs) = syscalls::recv(Syscall::Recv, self.bits());
        (info, badge, mrs)
    }

    /// Takes a waiting message if there is one, registers only. If none waits, the badge is 0
    /// (so on an endpoint whose senders all hold non-zero badges, badge 0 means "nothing").
    pub fn nb_recv_with_mrs(self) -> (MessageInfo, Word, [Word; 4]) {
        let (badge, info, mrs) = syscalls::recv(Syscall::NBRecv, self.bits());
        (info, badge, mrs)
    }

    /// Replies to the last caller and waits for the next message.
    pub fn reply_recv(self, info: MessageInfo) -> (MessageInfo, Word) {
        let mut mrs = load();
        let (badge, msg) = syscalls::send_recv(Syscall::ReplyRecv, self.bits(), info, &mut mrs);
        store(&mrs);
        (msg, badge)
    }

    /// Replies and waits, registers only.
    pub fn reply_recv_with_mrs(
        self,
        info: MessageInfo,
        mrs: &mut [Word; 4],
    ) -> (MessageInfo, Word) {
        let (badge, msg) = syscalls::send_recv(Syscall::ReplyRecv, self.bits(), info, mrs);
        (msg, badge)
    }
}

impl Cap<Notification> {
    /// Signals the notification.
    pub fn signal(self) {
        syscalls::send(Syscall::Send, self.bits(), MessageInfo::default(), &[0; 4]);
    }

    /// Waits for a signal; returns the accumulated badge bits.
    pub fn wait(self) -> Word {
        syscalls::recv(Syscall::Recv, self.bits()).0
    }
}

/// Replies to the last caller (message in the IPC buffer).
pub fn reply(info: MessageInfo) {
    syscalls::reply(info, &load());
}

/// Replies to the last caller, registers only.
pub fn reply_with_mrs(info: MessageInfo, mrs: &[Word; 4]) {
    syscalls::reply(info, mrs);
}
