//! The memserver wire contract: operation labels, request and reply layouts, error codes, the
//! shared magazine page and the postcard-encoded variable data. Nothing else lives here.
//!
//! A message is a label plus up to [`MSG_MAX_WORDS`] words; the first [`MSG_REGISTERS`] travel in
//! registers (on seL4 the IPC fastpath), the rest in the IPC buffer. Requests carry the operation in
//! the label; replies carry the status ([`Error`] code, 0 for success) in the label. Every hot
//! operation's request and reply fit in the registers. Everything is decoded from untrusted words
//! into a `Result` with a precise [`Error`].
#![no_std]

pub mod error;
pub mod handshake;
pub mod label;
pub mod magazine;
pub mod message;
pub mod ops;
pub mod request;
pub mod slabinfo;
pub mod varlen;

pub use error::{Error, Failure};
pub use handshake::PROTOCOL_VERSION;
pub use label::Label;
pub use magazine::{FreshSlab, MagazinePage, FRESH_MAX, MAGAZINE_SLOTS, MAX_BATCH};
pub use message::{Message, Word, MSG_MAX_WORDS, MSG_REGISTERS};
pub use request::Request;
pub use slabinfo::SlabinfoRow;
