//! The stable numeric error enum of the wire. A reply's label is 0 on success or one of these codes;
//! on failure the reply's first words carry the [`Failure`] detail (what was found, where).
//! Codes never change meaning; new ones are appended.

/// Declares the error enum once: each variant with its code and the short text a client prints
/// for it (`strerror`-style). [`Error::ALL`] and [`Error::message`] are derived.
macro_rules! errors {
    ($($(#[$doc:meta])* $name:ident = $code:literal => $message:literal,)*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum Error {
            $($(#[$doc])* $name = $code,)*
        }

        impl Error {
            /// Every error, in code order.
            pub const ALL: &'static [Error] = &[$(Error::$name),*];

            /// A short lower-case description, NUL-terminated for C callers.
            pub const fn message(self) -> &'static core::ffi::CStr {
                match self {
                    $(Error::$name => const { cstr(concat!($message, "\0")) },)*
                }
            }
        }
    };
}

const fn cstr(text: &'static str) -> &'static core::ffi::CStr {
    match core::ffi::CStr::from_bytes_with_nul(text.as_bytes()) {
        Ok(c) => c,
        Err(_) => panic!("an error message holds a NUL byte"),
    }
}

errors! {
    // --- message shape ---
    /// The label names no operation.
    UnknownLabel = 1 => "unknown label",
    /// The message is shorter or longer than its operation needs. Detail: `[expected, got]`.
    BadLength = 2 => "bad message length",
    /// A field holds a value the operation does not accept (reserved bits, unknown enum value).
    BadField = 3 => "bad field",
    /// The client's protocol version differs. Detail: `[server version]`.
    VersionMismatch = 4 => "protocol version mismatch",
    /// Variable data (postcard in the IPC buffer) is malformed or has trailing bytes.
    BadPayload = 5 => "bad payload",
    // --- identity ---
    /// The badge names no attached client (never attached, detached, or stale generation).
    UnknownClient = 6 => "unknown client",
    /// The client has not sent `Hello` yet.
    NotGreeted = 7 => "client not greeted",
    /// A cache handle that was never issued to this client (forged).
    BadHandle = 8 => "bad cache handle",
    /// A cache handle whose cache was destroyed (stale generation).
    StaleHandle = 9 => "stale cache handle",
    // --- batches ---
    /// A batch count of 0 or above [`crate::MAX_BATCH`]. Detail: `[count, limit]`.
    BadBatch = 10 => "bad batch count",
    /// A magazine slot outside the page. Detail: `[slot]`.
    BadSlot = 11 => "bad magazine slot",
    /// The same address twice in one drained magazine. Detail: `[address]`.
    DuplicateAddress = 12 => "duplicate address in a batch",
    // --- sizes and cache parameters ---
    SizeZero = 13 => "size zero",
    /// Detail: `[size, limit]`.
    SizeTooLarge = 14 => "size too large",
    BadAlign = 15 => "bad alignment",
    /// Empty, over-long or not UTF-8.
    BadName = 16 => "bad cache name",
    UnknownFlag = 17 => "unknown flag",
    // --- pointers ---
    NullPointer = 18 => "null pointer",
    /// Not inside any object this client holds from that cache or from kmalloc. Detail: `[address]`.
    NotAllocated = 19 => "not an allocated object",
    /// Already free. Detail: `[address]`.
    DoubleFree = 20 => "double free",
    /// Inside an object but not at its start. Detail: `[address, offset]`.
    InteriorPointer = 21 => "interior pointer",
    /// An object of another cache of this client. Detail: `[address]`.
    WrongCache = 22 => "object of another cache",
    /// An object (or page) owned by another client. Detail: `[address]`.
    ForeignPointer = 23 => "object of another client",
    // --- resources ---
    OutOfMemory = 24 => "out of memory",
    /// Detail: `[kind (0 bytes, 1 objects), limit, would-be use]`.
    QuotaExceeded = 25 => "quota exceeded",
    /// Destroy with live objects; the cache stays usable. Detail: `[live objects]`.
    CacheBusy = 26 => "cache has live objects",
    /// Too many caches or clients.
    TooMany = 27 => "too many caches or clients",
    // --- debug checks ---
    /// A red zone byte was overwritten. Detail: `[object, offset from object start (may be negative, two's complement), found byte]`.
    RedZone = 28 => "red zone overwritten",
    /// A freed object of a poisoned cache was written. Detail: `[object, offset, found byte]`.
    Poison = 29 => "freed object written",
    /// A slabinfo cursor that names no row.
    BadCursor = 30 => "bad slabinfo cursor",
    /// The server broke one of its own invariants (a bug; the request changed nothing).
    Internal = 31 => "internal server error",
}

impl Error {
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
        let text = self.error.message().to_str().unwrap_or("?");
        write!(f, "{:?} ({text}) [{a:#x}, {b:#x}, {c:#x}]", self.error)
    }
}
