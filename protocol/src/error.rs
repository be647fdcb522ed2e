//! The stable numeric error enum of the wire. A reply's label is 0 on success or one of these codes;
//! on failure the reply's first words carry the [`Failure`] detail (what was found, where).
//! Codes never change meaning; new ones are appended.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Error {
    // --- message shape ---
    /// The label names no operation.
    UnknownLabel = 1,
    /// The message is shorter or longer than its operation needs. Detail: `[expected, got]`.
    BadLength = 2,
    /// A field holds a value the operation does not accept (reserved bits, unknown enum value).
    BadField = 3,
    /// The client's protocol version differs. Detail: `[server version]`.
    VersionMismatch = 4,
    /// Variable data (postcard in the IPC buffer) is malformed or has trailing bytes.
    BadPayload = 5,
    // --- identity ---
    /// The badge names no attached client (never attached, detached, or stale generation).
    UnknownClient = 6,
    /// The client has not sent `Hello` yet.
    NotGreeted = 7,
    /// A cache handle that was never issued to this client (forged).
    BadHandle = 8,
    /// A cache handle whose cache was destroyed (stale generation).
    StaleHandle = 9,
    // --- batches ---
    /// A batch count of 0 or above [`crate::MAX_BATCH`]. Detail: `[count, limit]`.
    BadBatch = 10,
    /// A magazine slot outside the page. Detail: `[slot]`.
    BadSlot = 11,
    /// The same address twice in one drained magazine. Detail: `[address]`.
    DuplicateAddress = 12,
    // --- sizes and cache parameters ---
    SizeZero = 13,
    /// Detail: `[size, limit]`.
    SizeTooLarge = 14,
    BadAlign = 15,
    /// Empty, over-long or not UTF-8.
    BadName = 16,
    UnknownFlag = 17,
    // --- pointers ---
    NullPointer = 18,
    /// Not inside any object this client holds from that cache or from kmalloc. Detail: `[address]`.
    NotAllocated = 19,
    /// Already free. Detail: `[address]`.
    DoubleFree = 20,
    /// Inside an object but not at its start. Detail: `[address, offset]`.
    InteriorPointer = 21,
    /// An object of another cache of this client. Detail: `[address]`.
    WrongCache = 22,
    /// An object (or page) owned by another client. Detail: `[address]`.
    ForeignPointer = 23,
    // --- resources ---
    OutOfMemory = 24,
    /// Detail: `[kind (0 bytes, 1 objects), limit, would-be use]`.
    QuotaExceeded = 25,
    /// Destroy with live objects; the cache stays usable. Detail: `[live objects]`.
    CacheBusy = 26,
    /// Too many caches or clients.
    TooMany = 27,
    // --- debug checks ---
    /// A red zone byte was overwritten. Detail: `[object, offset from object start (may be negative, two's complement), found byte]`.
    RedZone = 28,
    /// A freed object of a poisoned cache was written. Detail: `[object, offset, found byte]`.
    Poison = 29,
    /// A slabinfo cursor that names no row.
    BadCursor = 30,
    /// The server broke one of its own invariants (a bug; the request changed nothing).
    Internal = 31,
}

impl Error {
    pub const ALL: [Error; 31] = [
        Error::UnknownLabel,
        Error::BadLength,
        Error::BadField,
        Error::VersionMismatch,
        Error::BadPayload,
        Error::UnknownClient,
        Error::NotGreeted,
        Error::BadHandle,
        Error::StaleHandle,
        Error::BadBatch,
        Error::BadSlot,
        Error::DuplicateAddress,
        Error::SizeZero,
        Error::SizeTooLarge,
        Error::BadAlign,
        Error::BadName,
        Error::UnknownFlag,
        Error::NullPointer,
        Error::NotAllocated,
        Error::DoubleFree,
        Error::InteriorPointer,
        Error::WrongCache,
        Error::ForeignPointer,
        Error::OutOfMemory,
        Error::QuotaExceeded,
        Error::CacheBusy,
        Error::TooMany,
        Error::RedZone,
        Error::Poison,
        Error::BadCursor,
        Error::Internal,
    ];

    pub const fn code(self) -> u64 {
        self as u16 as u64
    }

    /// The error for a reply label; `None` for 0 (success) and for codes this version does not know.
    pub fn from_code(code: u64) -> Option<Error> {
        Error::ALL.iter().copied().find(|e| e.code() == code)
    }
}

/// Words of detail a failure carries in its reply.
pub const DETAIL_WORDS: usize = 3;

/// An error with its detail words, as carried in a failed reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    pub error: Error,
    pub detail: [u64; DETAIL_WORDS],
}

impl Failure {
    pub const fn new(error: Error) -> Self {
        Failure {
            error,
            detail: [0; DETAIL_WORDS],
        }
    }

    pub const fn with(error: Error, detail: [u64; DETAIL_WORDS]) -> Self {
        Failure { error, detail }
    }

    /// Decodes a failed reply. A label no code matches becomes `Internal` with the label as detail.
    pub fn from_reply(label: u64, body: &[u64]) -> Failure {
        let mut detail = [0; DETAIL_WORDS];
        for (d, w) in detail.iter_mut().zip(body) {
            *d = *w;
        }
        match Error::from_code(label) {
            Some(error) => Failure { error, detail },
            None => Failure::with(Error::Internal, [label, 0, 0]),
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::new(error)
    }
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let [a, b, c] = self.detail;
        write!(f, "{:?} [{a:#x}, {b:#x}, {c:#x}]", self.error)
    }
}
