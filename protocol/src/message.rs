//! The message shape shared by every transport: a label and up to [`MSG_MAX_WORDS`] words, the first
//! [`MSG_REGISTERS`] of which travel in registers (seL4's fastpath on aarch64 carries four).
pub type Word = u64;

/// Words carried in registers; a message no longer than this takes the kernel's IPC fastpath.
pub const MSG_REGISTERS: usize = 4;
/// seL4's `seL4_MsgMaxLength`: words a message can carry at all (registers plus IPC buffer).
pub const MSG_MAX_WORDS: usize = 120;

/// One message in either direction. `words[..len]` is the body; the rest is scratch.
#[derive(Clone, Debug)]
pub struct Message {
    /// Request: the operation ([`crate::Label`]). Reply: 0 or an [`crate::Error`] code.
    pub label: Word,
    pub len: usize,
    pub words: [Word; MSG_MAX_WORDS],
}

impl Default for Message {
    fn default() -> Self {
        Message {
            label: 0,
            len: 0,
            words: [0; MSG_MAX_WORDS],
        }
    }
}

impl Message {
    /// The body, or `None` if `len` is out of range (a transport must never deliver that).
    pub fn body(&self) -> Option<&[Word]> {
        self.words.get(..self.len)
    }

    /// Whether the message fits in registers alone.
    pub fn is_fastpath(&self) -> bool {
        self.len <= MSG_REGISTERS
    }
}
