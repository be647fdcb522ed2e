//! A client task's root-task operations on its core's server endpoint: ending with an exit
//! status, console output through the root task (which owns the UART), and the liveness ping.

use crate::abi::{self, label};
use sel4::cap_type::Endpoint;
use sel4::{with_ipc_buffer_mut, Cap, MessageInfo, Word};

/// The server endpoint of the thread on `core`.
fn endpoint(core: usize) -> Cap<Endpoint> {
    Cap::from_bits(abi::server_ep_slot(core))
}

/// Ends the whole client (every thread) with `status`; called from the thread on `core`.
pub fn exit(core: usize, status: Word) -> ! {
    let mut mrs = [status, 0, 0, 0];
    loop {
        // Not answered: the root task stops this task.
        endpoint(core).call_with_mrs(MessageInfo::new(label::EXIT, 0, 0, 1), &mut mrs);
    }
}

/// A register-only round trip to the serve loop with no work; whether the words came back.
pub fn ping(core: usize, words: [Word; 4]) -> bool {
    let mut mrs = words;
    let reply = endpoint(core).call_with_mrs(MessageInfo::new(label::PING, 0, 0, 4), &mut mrs);
    let differ = mrs.iter().zip(&words).fold(0, |d, (a, b)| d | (a ^ b));
    reply.label() == 0 && reply.length() == 4 && differ == 0
}

/// Writes `bytes` to the console, through the root task, in messages of at most
/// [`abi::CONSOLE_BYTES`].
pub fn console_write(core: usize, bytes: &[u8]) {
    for chunk in bytes.chunks(abi::CONSOLE_BYTES) {
        let words = chunk.len().div_ceil(8);
        with_ipc_buffer_mut(|ipc| {
            ipc.msg[0] = chunk.len() as Word;
            for (i, w) in chunk.chunks(8).enumerate() {
                let mut b = [0u8; 8];
                b[..w.len()].copy_from_slice(w);
                ipc.msg[1 + i] = Word::from_le_bytes(b);
            }
        });
        endpoint(core).call(MessageInfo::new(label::CONSOLE, 0, 0, 1 + words));
    }
}

/// `core::fmt::Write` to the console through the root task, for the thread on `core`; a line is
/// sent whole when it fits in one message.
pub struct Console {
    core: usize,
    buf: [u8; abi::CONSOLE_BYTES],
    len: usize,
}

impl Console {
    /// A console for the thread on `core`.
    pub const fn new(core: usize) -> Self {
        Self {
            core,
            buf: [0; abi::CONSOLE_BYTES],
            len: 0,
        }
    }

    /// Sends what is buffered.
    pub fn flush(&mut self) {
        if self.len > 0 {
            console_write(self.core, &self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl core::fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
            if b == b'\n' {
                self.flush();
            }
        }
        Ok(())
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.flush();
    }
}
