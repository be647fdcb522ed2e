//! The memserver wire contract: operation labels, request and reply layouts, error codes, the
//! shared magazine page and the postcard-encoded variable data. Nothing else lives here.
//!
//! A message is a label plus up to [`MSG_MAX_WORDS`] words; the first [`MSG_REGISTERS`] travel in
//! registers (on seL4 the IPC fastpath), the rest in the IPC buffer. Requests carry the operation in
//! the label; replies carry the status ([`Error`] code, 0 for success) in the label. Every hot
//! operation's request and reply fit in the registers. Everything is decoded from untrusted words
//! into a `Result` with a precise [`Error`].
//!
//! **Operations are declared once**, in the table of [`operations`]: label number, request and
//! reply bodies, whether they fit the registers, stateless checks, errors, and the name of the
//! server's handler. [`Label`], [`Request`] and every [`ops::Op`] impl are derived from it here;
//! the client stub's `call` reads label and reply type from `Op`; the server derives its
//! dispatch from the same table with [`for_each_operation!`]. Adding an operation is one table
//! entry plus a server method of that name (see [`operations`] for the signatures).
#![no_std]
#![forbid(unsafe_code)]

pub mod error;
pub mod handshake;
pub mod magazine;
pub mod message;
pub mod operations;
pub mod ops;
pub mod slabinfo;
pub mod varlen;
pub mod violations;

pub use error::{Error, Failure};
pub use handshake::PROTOCOL_VERSION;
pub use magazine::{FreshSlab, MagazinePage, FRESH_MAX, MAGAZINE_SLOTS, MAX_BATCH};
pub use message::{Message, Word, MSG_MAX_WORDS, MSG_REGISTERS};
pub use operations::{Label, Request};
pub use slabinfo::SlabinfoRow;
