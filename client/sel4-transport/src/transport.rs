//! [`Sel4Transport`]: one `seL4_Call` per message on the client's badged endpoint. Words 0..4
//! travel in message registers (a message of at most four words takes the kernel's fastpath), words
//! 4.. in the IPC buffer; the reply comes back the same way. Exactly the words of the host
//! transport. The registers are moved as one fixed block (no length-dependent copy on the fast
//! path). The magazine page is the one the root task mapped at `abi::magazine_vaddr(core)`.
use crate::abi::{self, label};
use memserver_client::Transport;
use memserver_protocol::{MagazinePage, Message, MSG_MAX_WORDS, MSG_REGISTERS};
use sel4::cap_type::Endpoint;
use sel4::{with_ipc_buffer, with_ipc_buffer_mut, Cap, MessageInfo, Word};

/// The client's connection to its server core.
pub struct Sel4Transport {
    ep: Cap<Endpoint>,
    magazine: &'static MagazinePage,
    messages: u64,
}

impl Sel4Transport {
    /// The transport of a client task started by the memserver root task for server core `core`.
    ///
    /// # Safety
    /// The root task must have mapped this client's magazine page for `core` at
    /// `abi::magazine_vaddr(core)` for the whole life of the task (the spawn contract of [`abi`]).
    pub unsafe fn from_abi(core: usize) -> Self {
        // SAFETY: the caller's contract: a mapped, page-aligned page reserved as the magazine page;
        // every access to it goes through atomics, so the server writing it concurrently is fine.
        let magazine = unsafe { &*(abi::magazine_vaddr(core) as *const MagazinePage) };
        Self {
            ep: Cap::from_bits(abi::SERVER_EP_SLOT),
            magazine,
            messages: 0,
        }
    }

    /// The endpoint (for harness messages).
    pub fn endpoint(&self) -> Cap<Endpoint> {
        self.ep
    }
}

impl Transport for Sel4Transport {
    fn call(&mut self, msg: &mut Message) {
        let len = msg.len.min(MSG_MAX_WORDS);
        if len > MSG_REGISTERS {
            with_ipc_buffer_mut(|ipc| {
                ipc.msg[MSG_REGISTERS..len].copy_from_slice(&msg.words[MSG_REGISTERS..len])
            });
        }
        let info = MessageInfo::new(msg.label, 0, 0, len);
        // All four registers go and come back whatever the lengths: the kernel moves only the
        // words the tags count, the others are this task's own, and `len` bounds what is read.
        let reply = self.ep.call_with_mrs(info, registers(msg));
        self.messages += 1;
        let rlen = reply.length().min(MSG_MAX_WORDS);
        msg.label = reply.label();
        msg.len = rlen;
        if rlen > MSG_REGISTERS {
            with_ipc_buffer(|ipc| {
                msg.words[MSG_REGISTERS..rlen].copy_from_slice(&ipc.msg[MSG_REGISTERS..rlen])
            });
        }
    }

    fn magazine(&self) -> &MagazinePage {
        self.magazine
    }

    fn messages(&self) -> u64 {
        self.messages
    }
}

/// The message's first words: where the message registers go and come from.
fn registers(msg: &mut Message) -> &mut [Word; MSG_REGISTERS] {
    const { assert!(MSG_REGISTERS <= MSG_MAX_WORDS) };
    msg.words
        .first_chunk_mut()
        .expect("a message holds its registers (asserted above)")
}

/// Harness messages from a client task to the root task.
pub mod report {
    use super::*;

    fn send(label: Word, mut mrs: [Word; 4], len: usize) {
        let ep: Cap<Endpoint> = Cap::from_bits(abi::SERVER_EP_SLOT);
        ep.call_with_mrs(MessageInfo::new(label, 0, 0, len), &mut mrs);
    }

    /// Reports check `id`: passed when `value == expected`. Returns whether it passed.
    pub fn check(id: Word, value: Word, expected: Word) -> bool {
        let ok = value == expected;
        send(label::CHECK, [id, ok as Word, value, expected], 4);
        ok
    }

    /// A register-only round trip to the serve loop with no work; returns whether the words
    /// came back.
    pub fn ping(words: [Word; 4]) -> bool {
        let ep: Cap<Endpoint> = Cap::from_bits(abi::SERVER_EP_SLOT);
        let mut mrs = words;
        let reply = ep.call_with_mrs(MessageInfo::new(label::PING, 0, 0, 4), &mut mrs);
        let differ = mrs.iter().zip(&words).fold(0, |d, (a, b)| d | (a ^ b));
        reply.label() == 0 && reply.length() == 4 && differ == 0
    }

    /// Reports figure `id`.
    pub fn figure(id: Word, value: Word) {
        send(label::FIGURE, [id, value, 0, 0], 2);
    }

    /// Says the mode is finished; the root task never replies, so this does not return.
    pub fn done(mode: Word, failed: Word) -> ! {
        loop {
            send(label::DONE, [mode, failed, 0, 0], 2);
        }
    }
}

/// Counts a client's failed checks while reporting each one.
#[derive(Debug, Default)]
pub struct Checks {
    pub failed: Word,
}

impl Checks {
    /// Reports check `id` (`value` against `expected`); counts it if it failed.
    pub fn check(&mut self, id: Word, value: Word, expected: Word) -> bool {
        let ok = report::check(id, value, expected);
        if !ok {
            self.failed += 1;
        }
        ok
    }

    /// Reports check `id` of a condition.
    pub fn ok(&mut self, id: Word, cond: bool) -> bool {
        self.check(id, cond as Word, 1)
    }

    /// Says done with the failure count; never returns.
    pub fn done(&self, mode: Word) -> ! {
        report::done(mode, self.failed)
    }
}
