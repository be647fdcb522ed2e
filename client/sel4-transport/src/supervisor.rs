//! The client side of the root task's supervisor interface ([`crate::abi::supervisor`]), for a
//! client whose system description grants it: start clients listed to start on request, learn
//! how they ended, reap them, and read per-client and server statistics.

use crate::abi::{self, supervisor as op};
use sel4::cap_type::Endpoint;
use sel4::{with_ipc_buffer, Cap, MessageInfo, Word};

/// A refused supervisor operation: the memory-server error code the root task replied with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub Word);

/// How a child stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildState {
    Running,
    Exited {
        status: Word,
    },
    /// A thread faulted: the fault kind (`abi::supervisor::fault`) and its address.
    Faulted {
        kind: Word,
        addr: Word,
    },
}

/// What the server purged at a reap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reaped {
    pub live_objects: Word,
    pub slab_frames: Word,
    pub large_blocks: Word,
}

/// The supervisor interface of this task (its first thread calls it).
#[derive(Debug, Clone, Copy)]
pub struct Supervisor {
    ep: Cap<Endpoint>,
}

impl Supervisor {
    /// The interface in [`abi::SUPERVISOR_SLOT`].
    ///
    /// # Safety
    /// The system description must grant this task the supervisor interface (otherwise the slot
    /// is empty and a call faults the task).
    pub unsafe fn from_abi() -> Self {
        Self {
            ep: Cap::from_bits(abi::SUPERVISOR_SLOT),
        }
    }

    fn call(&self, label: Word, words: [Word; 4], len: usize) -> Result<[Word; 4], Refused> {
        let mut mrs = words;
        let reply = self
            .ep
            .call_with_mrs(MessageInfo::new(label, 0, 0, len), &mut mrs);
        match reply.label() {
            0 => Ok(mrs),
            code => Err(Refused(code)),
        }
    }

    /// The index of the client called `name` in the system description.
    pub fn lookup(&self, name: &str) -> Result<usize, Refused> {
        let bytes = name.as_bytes();
        if bytes.len() > op::LOOKUP_NAME_BYTES {
            return Err(Refused(0));
        }
        let mut words = [bytes.len() as Word, 0, 0, 0];
        for (i, chunk) in bytes.chunks(8).enumerate() {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            words[1 + i] = Word::from_le_bytes(b);
        }
        Ok(self.call(op::LOOKUP, words, 4)?[0] as usize)
    }

    /// Starts client `index` of the system description with arguments `args`; its handle.
    pub fn start(&self, index: usize, args: [Word; 3]) -> Result<Word, Refused> {
        let [a, b, c] = args;
        Ok(self.call(op::START, [index as Word, a, b, c], 4)?[0])
    }

    /// How child `handle` stands.
    pub fn status(&self, handle: Word) -> Result<ChildState, Refused> {
        let r = self.call(op::STATUS, [handle, 0, 0, 0], 1)?;
        Ok(match r[0] {
            op::state::EXITED => ChildState::Exited { status: r[1] },
            op::state::FAULTED => ChildState::Faulted {
                kind: r[1],
                addr: r[2],
            },
            _ => ChildState::Running,
        })
    }

    /// Reclaims child `handle`, which has ended.
    pub fn reap(&self, handle: Word) -> Result<Reaped, Refused> {
        let r = self.call(op::REAP, [handle, 0, 0, 0], 1)?;
        Ok(Reaped {
            live_objects: r[0],
            slab_frames: r[1],
            large_blocks: r[2],
        })
    }

    /// Child `handle`'s statistics (`abi::supervisor::stats::client` indexes).
    pub fn client_stats(&self, handle: Word) -> Result<[Word; op::stats::client::WORDS], Refused> {
        self.long(op::CLIENT_STATS, [handle, 0, 0, 0], 1)
    }

    /// The memory node of the frame at `addr` in child `handle`'s heap window.
    pub fn node_of(&self, handle: Word, addr: Word) -> Result<Word, Refused> {
        Ok(self.call(op::NODE_OF, [handle, addr, 0, 0], 2)?[0])
    }

    /// The server's statistics (`abi::supervisor::stats::server` indexes).
    pub fn server_stats(&self) -> Result<[Word; op::stats::server::WORDS], Refused> {
        self.long(op::SERVER_STATS, [0; 4], 0)
    }

    /// The server's own work on cache `cache` of child `handle` (`abi::supervisor::profile`).
    pub fn profile(
        &self,
        handle: Word,
        cache: Word,
    ) -> Result<[Word; op::profile::WORDS], Refused> {
        self.long(op::PROFILE, [handle, cache, 0, 0], 2)
    }

    /// A call whose reply has `N` words (past the registers in the IPC buffer).
    fn long<const N: usize>(
        &self,
        label: Word,
        words: [Word; 4],
        len: usize,
    ) -> Result<[Word; N], Refused> {
        let mut mrs = words;
        let reply = self
            .ep
            .call_with_mrs(MessageInfo::new(label, 0, 0, len), &mut mrs);
        if reply.label() != 0 {
            return Err(Refused(reply.label()));
        }
        let mut out = [0; N];
        for (i, w) in out.iter_mut().enumerate() {
            *w = if i < 4 {
                mrs[i]
            } else {
                with_ipc_buffer(|ipc| ipc.msg[i])
            };
        }
        Ok(out)
    }
}
