//! Operation labels: the seL4 message label of a request names the operation. Numbers are stable.
use crate::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Label {
    /// Version handshake; the first message of a client.
    Hello = 1,
    /// The client leaves; everything it owns returns to the server.
    Detach = 2,
    /// The client's accounting and quota.
    Stats = 3,
    CacheCreate = 4,
    CacheDestroy = 5,
    CacheShrink = 6,
    /// One object from a cache.
    Alloc = 7,
    /// One object back to its cache.
    Free = 8,
    /// A batch of objects into a magazine slot.
    Refill = 9,
    /// A batch of objects from a magazine slot back to their cache.
    Drain = 10,
    Kmalloc = 11,
    Kfree = 12,
    Ksize = 13,
    /// A batch of kmalloc objects of one size into a magazine slot.
    KmallocRefill = 14,
    /// A batch of kmalloc objects from a magazine slot back.
    KfreeDrain = 15,
    /// `/proc/slabinfo` rows, postcard-encoded in the IPC buffer, with a continuation cursor.
    Slabinfo = 16,
}

impl Label {
    pub const ALL: [Label; 16] = [
        Label::Hello,
        Label::Detach,
        Label::Stats,
        Label::CacheCreate,
        Label::CacheDestroy,
        Label::CacheShrink,
        Label::Alloc,
        Label::Free,
        Label::Refill,
        Label::Drain,
        Label::Kmalloc,
        Label::Kfree,
        Label::Ksize,
        Label::KmallocRefill,
        Label::KfreeDrain,
        Label::Slabinfo,
    ];

    pub const fn word(self) -> u64 {
        self as u16 as u64
    }
}

impl TryFrom<u64> for Label {
    type Error = Error;
    fn try_from(word: u64) -> Result<Self, Error> {
        match word {
            1..=16 => Ok(Label::ALL[word as usize - 1]),
            _ => Err(Error::UnknownLabel),
        }
    }
}
