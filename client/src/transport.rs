//! How a message reaches the server. Shaped after seL4's `seL4_Call`: a label, up to four words in
//! registers and the rest in the IPC buffer, answered by a reply in the same buffer; plus the shared
//! magazine page of this client on the server core it talks to.
use memserver_protocol::{MagazinePage, Message};

pub trait Transport {
    /// Sends `msg.label` with `msg.words[..msg.len]` and blocks for the reply, which overwrites
    /// `msg` (label = status, `words[..len]` = body). Words beyond [`memserver_protocol::MSG_REGISTERS`]
    /// travel in the IPC buffer.
    fn call(&mut self, msg: &mut Message);

    /// The magazine page shared with the server, in this client's address space.
    fn magazine(&self) -> &MagazinePage;

    /// Messages sent so far (for messages-per-object figures).
    fn messages(&self) -> u64;
}
