//! Slabinfo rows on the wire and their `/proc/slabinfo` "version: 2.1" text form.
//!
//! A Slabinfo reply body is `[next, rows, frame...]`: `next` is the cursor of the following page
//! ([`END`] when none is left), `rows` the number of rows in the frame, and the frame
//! ([`crate::varlen`]) holds that many postcard-encoded [`SlabinfoRow`]s back to back. The row and
//! its text form are `memserver-slabinfo`'s, unchanged.
//!
//! **The walk.** A client asks for pages until `next` is [`END`]; every cache (own scope) or
//! name (server-wide) that exists during the whole walk appears exactly once, whatever other
//! clients create or destroy meanwhile; what is created or destroyed during the walk appears at
//! most once.
//! - Own scope: one row per cache, newest first. The cursor names a cache by its creation
//!   serial (unique for the server's lifetime, never reused): `next` is the serial of the
//!   page's last row, and the next page starts with the newest cache created before it. A
//!   cursor the server has not issued yet is refused with `BadCursor`.
//! - Server-wide scope: one row per name (the caches of one name merged), in byte order of the
//!   names. A row's place depends on its name only: `next` is 1 while rows remain, and the
//!   next request carries the name of the last row received in its `after` words; the page
//!   starts with the first name after it. A cursor other than 0 or 1, or an `after` that is no
//!   cache name (or is not zero with cursor 0), is refused with `BadCursor`.
use crate::{varlen, Error, Failure, MSG_MAX_WORDS};
/// Cursor value meaning "no more rows".
pub const END: u64 = u64::MAX;
/// The server-wide scope's `next` while rows remain (the position is the `after` name).
pub const MORE: u64 = 1;

const _: () = assert!(
    crate::varlen::MAX_NAME_LEN == 32,
    "a name fills the four `after` words"
);

/// A cache name as the four `after` words of a Slabinfo request: its bytes in memory order,
/// zero-padded (names hold no zero byte). `None` for a name longer than
/// [`crate::varlen::MAX_NAME_LEN`].
pub fn name_words(name: &str) -> Option<[u64; 4]> {
    use zerocopy::IntoBytes;
    let mut words = [0u64; 4];
    words
        .as_mut_bytes()
        .get_mut(..name.len())?
        .copy_from_slice(name.as_bytes());
    Some(words)
}

/// The name in four `after` words, written into `buf`: the bytes before the first zero, which
/// must be a valid cache name and followed by zeros only. `None` otherwise (the empty name
/// included).
pub fn words_name<'b>(words: &[u64; 4], buf: &'b mut [u8; 32]) -> Option<&'b str> {
    use zerocopy::IntoBytes;
    buf.copy_from_slice(words.as_bytes());
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    if buf[len..].iter().any(|&b| b != 0) {
        return None;
    }
    let name = core::str::from_utf8(&buf[..len]).ok()?;
    varlen::check_name(name).ok()?;
    Some(name)
}

pub use memserver_slabinfo::{Row as SlabinfoRow, HEADER};

/// Fills a Slabinfo reply body row by row.
pub struct RowWriter<'w> {
    words: &'w mut [u64; MSG_MAX_WORDS],
    bytes: usize,
    rows: u64,
}

const HEAD: usize = 2;

impl<'w> RowWriter<'w> {
    pub fn new(words: &'w mut [u64; MSG_MAX_WORDS]) -> Self {
        words[HEAD..].fill(0);
        RowWriter {
            words,
            bytes: 0,
            rows: 0,
        }
    }

    /// Appends `row`; `false` (and nothing written) if it does not fit.
    pub fn push(&mut self, row: &SlabinfoRow<'_>) -> bool {
        use zerocopy::IntoBytes;
        let area = &mut self.words[HEAD + 1..].as_mut_bytes()[self.bytes..];
        match postcard::to_slice(row, area) {
            Ok(used) => {
                self.bytes += used.len();
                self.rows += 1;
                true
            }
            Err(_) => {
                area.fill(0);
                false
            }
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Finishes the body with cursor `next`; returns its length in words.
    pub fn finish(self, next: u64) -> usize {
        self.words[0] = next;
        self.words[1] = self.rows;
        self.words[HEAD] = self.bytes as u64;
        HEAD + varlen::words_for(self.bytes)
    }
}

/// A decoded Slabinfo reply body.
pub struct RowReader<'a> {
    pub next: u64,
    rows: u64,
    bytes: &'a [u8],
}

impl<'a> RowReader<'a> {
    pub fn new(body: &'a [u64]) -> Result<Self, Failure> {
        if body.len() < HEAD + 1 {
            return Err(Failure::with(
                Error::BadLength,
                [HEAD as u64 + 1, body.len() as u64, 0],
            ));
        }
        Ok(RowReader {
            next: body[0],
            rows: body[1],
            bytes: varlen::read_bytes(&body[HEAD..])?,
        })
    }

    /// The next row; `Some(Err)` on a malformed body; checks the row count at the end.
    pub fn next_row(&mut self) -> Option<Result<SlabinfoRow<'a>, Failure>> {
        if self.rows == 0 {
            return if self.bytes.is_empty() {
                None
            } else {
                Some(Err(Failure::new(Error::BadPayload)))
            };
        }
        match postcard::take_from_bytes::<SlabinfoRow<'a>>(self.bytes) {
            Ok((row, rest)) => {
                self.bytes = rest;
                self.rows -= 1;
                Some(Ok(row))
            }
            Err(_) => {
                self.rows = 0;
                self.bytes = &[];
                Some(Err(Failure::new(Error::BadPayload)))
            }
        }
    }
}
