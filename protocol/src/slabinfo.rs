//! Slabinfo rows on the wire and their `/proc/slabinfo` "version: 2.1" text form.
//!
//! A Slabinfo reply body is `[next, rows, frame...]`: `next` is the cursor of the following row
//! ([`END`] when none is left), `rows` the number of rows in the frame, and the frame
//! ([`crate::varlen`]) holds that many postcard-encoded [`SlabinfoRow`]s back to back. The row and
//! its text form are `memserver-slabinfo`'s, unchanged.
use crate::{varlen, Error, Failure, MSG_MAX_WORDS};
/// Cursor value meaning "no more rows".
pub const END: u64 = u64::MAX;

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
