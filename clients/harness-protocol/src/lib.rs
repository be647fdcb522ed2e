//! The messages between the on-target harness in the root task and the test client tasks:
//! labels, the patterns each side sends and expects, and the client's report. Both sides check
//! what they receive against these functions, so a corrupted word in either direction fails.

#![forbid(unsafe_code)]
#![no_std]

/// A machine word.
pub type Word = u64;

/// Message labels (the seL4 message label of each call).
pub mod label {
    use super::Word;
    /// `[id, HELLO_MAGIC, word 0 of the shared page]`: the client runs.
    pub const HELLO: Word = 1;
    /// Four words `echo4_request(id)`, reply `echo4_reply(..)`; or 120 words `full_request`.
    pub const ECHO: Word = 2;
    /// Register-only round trip to measure (4 words, reply 4 words).
    pub const PING: Word = 3;
    /// Five-word round trip to measure (slowpath).
    pub const PING5: Word = 4;
    /// `[checks, fastpath instructions, 5-word instructions, id]`.
    pub const REPORT: Word = 5;
    /// The client is finished; the harness does not reply.
    pub const DONE: Word = 6;
}

/// Second word of HELLO.
pub const HELLO_MAGIC: Word = 0x6d65_6d73_6572_7665;
/// Words of the full-buffer echo.
pub const FULL_WORDS: usize = 120;
/// Measured round trips of each kind (the minimum is reported).
pub const MEASURE_ROUNDS: usize = 16;
/// Where the harness maps a page shared with the echo client.
pub const SHARED_PAGE_VADDR: Word = 0x2000_0000;

/// What the harness writes to word 0 of client `id`'s shared page before starting it.
pub const fn shared_pattern(id: Word) -> Word {
    0x5a5a_0000_0000 | id
}

/// What client `id` writes to word 1 of its shared page.
pub const fn shared_reply(id: Word) -> Word {
    id.wrapping_mul(0x1_0001) ^ 0xc0de
}

/// Address the faulting client reads (never mapped).
pub const FAULT_ADDRESS: Word = 0xdead_0000;

/// Bits of the client's own checks in REPORT word 0.
pub mod check {
    use super::Word;
    /// The 4-word reply matched.
    pub const ECHO4: Word = 1;
    /// The 120-word reply matched.
    pub const FULL: Word = 2;
    /// All measured replies matched.
    pub const PING: Word = 4;
}

/// Faulting client modes (its first start argument).
pub mod fault_mode {
    use super::Word;
    /// Read [`super::FAULT_ADDRESS`].
    pub const VM_FAULT: Word = 0;
    /// Execute an undefined instruction (a user exception).
    pub const UNDEFINED_INSTRUCTION: Word = 1;
}

/// The 4-word request of client `id`.
pub const fn echo4_request(id: Word) -> [Word; 4] {
    [id, 0x1111_0000 | id, 0x2222_0000 | id, 0x3333_0000 | id]
}

/// The harness's reply to a 4-word request: reversed and complemented.
pub const fn echo4_reply(req: [Word; 4]) -> [Word; 4] {
    [!req[3], !req[2], !req[1], !req[0]]
}

/// Word `i` of the 120-word request of client `id`.
pub const fn full_request(id: Word, i: usize) -> Word {
    (id << 48) | ((i as Word) << 16) | 0xbeef
}

/// The harness's reply word for request word `w`.
pub const fn full_reply(w: Word) -> Word {
    w.rotate_left(17) ^ 0xa5a5_a5a5_a5a5_a5a5
}

/// The harness's reply to a PING: each word plus one.
pub const fn ping_reply(req: [Word; 4]) -> [Word; 4] {
    [
        req[0].wrapping_add(1),
        req[1].wrapping_add(1),
        req[2].wrapping_add(1),
        req[3].wrapping_add(1),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_differ_per_client_and_direction() {
        assert_ne!(echo4_request(1), echo4_request(2));
        assert_ne!(echo4_reply(echo4_request(1)), echo4_request(1));
        assert_ne!(full_request(1, 5), full_request(2, 5));
        assert_ne!(full_request(1, 5), full_request(1, 6));
        assert_ne!(full_reply(full_request(1, 5)), full_request(1, 5));
        assert_eq!(ping_reply([1, 2, 3, Word::MAX]), [2, 3, 4, 0]);
    }
}
