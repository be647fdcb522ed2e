//! [`Sel4Transport`]: one `seL4_Call` per message on the client's badged endpoint. Words 0..4
//! travel in message registers (a message of at most four words takes the kernel's fastpath), words
//! 4.. in the IPC buffer; the reply comes back the same way. Exactly the words of the host
//! transport. The registers are moved as one fixed block (no length-dependent copy on the fast
//! path). The magazine page is the one the root task mapped at `abi::magazine_vaddr(core)`.
use crate::abi;
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
    /// `abi::magazine_vaddr(core)` for the whole life of the task (the spawn contract of [`abi`]),
    /// and the calling thread must be the task's thread on `core`.
    pub unsafe fn from_abi(core: usize) -> Self {
        // SAFETY: the caller's contract: a mapped, page-aligned page reserved as the magazine page;
        // every access to it goes through atomics, so the server writing it concurrently is fine.
        let magazine = unsafe { &*(abi::magazine_vaddr(core) as *const MagazinePage) };
        Self {
            ep: Cap::from_bits(abi::server_ep_slot(core)),
            magazine,
            messages: 0,
        }
    }

    /// The endpoint of this thread's server core (root-task operations go there too).
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
