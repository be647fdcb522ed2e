//! The one table of operations. Each entry declares an operation completely: its label number,
//! its request and reply bodies (structs of [`crate::ops`]), whether both fit in the message
//! registers (`fits: registers`, checked at compile time) or need the IPC buffer, the stateless
//! checks of its request, the errors it may answer with besides [`COMMON_ERRORS`], the name of
//! the server's handler, and, for a request followed by variable data, the kind of that data
//! (`tail: name`, a cache name). Entries are grouped by how the server routes them:
//!
//! - `hot`: served inline by the dispatcher's first match (one object, a batch, the kmalloc
//!   family); every one fits the registers, so it stays on the kernel's IPC fastpath.
//! - `cold`: served by the dispatcher's out-of-line second match, for a greeted client.
//! - `session`: served before the greeting check (the handshake and leaving).
//!
//! [`for_each_operation!`](crate::for_each_operation) hands the table to a callback macro; this
//! crate derives [`Label`], [`Request`] (decode, encode) and every
//! [`Op`] impl from it; the client stub's `call::<O>` reads the label and reply
//! type from `Op`; the server derives its dispatch (both matches) from the same table.
//!
//! **Adding an operation** is one entry here (with its bodies in [`crate::ops`] if new) and a
//! server method named as its `handler`, with the signature its group requires
//! (`hot`/`cold`: `(&self, &mut Ctx, Req, &mut [u64]) -> Result<usize, Failure>`, plus `&str`
//! after the request for `tail: name`; `session`: `(&self, CoreId, ClientGuard, Req, &mut [u64])`).
//! A label number is never reused; [`crate::PROTOCOL_VERSION`] is bumped with the table.
use crate::Error;

/// Errors any operation may answer with: the message shape, the sender's identity, and the
/// server's own invariants.
pub const COMMON_ERRORS: [Error; 5] = [
    Error::UnknownLabel,
    Error::BadLength,
    Error::UnknownClient,
    Error::NotGreeted,
    Error::Internal,
];

/// Calls `$callback! { hot { .. } cold { .. } session { .. } }` with the table of operations.
/// Types are given as full paths, so a callback expands the same in any crate.
#[macro_export]
macro_rules! for_each_operation {
    ($callback:ident) => {
        $callback! {
            hot {
                /// One object from a cache.
                Alloc = 7 {
                    handler: alloc_one,
                    request: $crate::ops::AllocReq,
                    reply: $crate::ops::AllocReply,
                    fits: registers,
                    check: (|s| check_flags(s.flags, alloc_flags::ALL)),
                    errors: [UnknownFlag, BadHandle, StaleHandle, QuotaExceeded, OutOfMemory,
                             BadSlot],
                }
                /// One object back to its cache.
                Free = 8 {
                    handler: free_one,
                    request: $crate::ops::FreeReq,
                    reply: $crate::ops::Empty,
                    fits: registers,
                    check: (|s| check_addr(s.addr)),
                    errors: [NullPointer, BadHandle, StaleHandle, NotAllocated, DoubleFree,
                             InteriorPointer, WrongCache, ForeignPointer, RedZone],
                }
                /// A batch of objects into a magazine slot.
                Refill = 9 {
                    handler: refill,
                    request: $crate::ops::RefillReq,
                    reply: $crate::ops::RefillReply,
                    fits: registers,
                    check: (|s| {
                        check_slot(s.slot)?;
                        check_count(s.count)?;
                        check_flags(s.flags, alloc_flags::ALL)
                    }),
                    errors: [BadSlot, BadBatch, UnknownFlag, BadHandle, StaleHandle,
                             QuotaExceeded, OutOfMemory],
                }
                /// A batch of objects from a magazine slot back to their cache.
                Drain = 10 {
                    handler: drain,
                    request: $crate::ops::DrainReq,
                    reply: $crate::ops::CountReply,
                    fits: registers,
                    check: (|s| {
                        check_slot(s.slot)?;
                        check_count(s.count)
                    }),
                    errors: [BadSlot, BadBatch, BadHandle, StaleHandle, NullPointer,
                             DuplicateAddress, NotAllocated, DoubleFree, InteriorPointer,
                             WrongCache, ForeignPointer, RedZone],
                }
                /// One kmalloc block ([`crate::ops::ZERO_SIZE_PTR`] for size 0).
                Kmalloc = 11 {
                    handler: kmalloc,
                    request: $crate::ops::KmallocReq,
                    reply: $crate::ops::KmallocReply,
                    fits: registers,
                    check: (|s| check_flags(s.flags, alloc_flags::ALL)),
                    errors: [SizeTooLarge, UnknownFlag, QuotaExceeded, OutOfMemory],
                }
                /// A kmalloc block back (any size).
                Kfree = 12 {
                    handler: kfree,
                    request: $crate::ops::KfreeReq,
                    reply: $crate::ops::Empty,
                    fits: registers,
                    check: (|s| check_addr(s.addr)),
                    errors: [NullPointer, NotAllocated, DoubleFree, InteriorPointer, WrongCache,
                             ForeignPointer, RedZone],
                }
                /// A batch of kmalloc blocks of one size into a magazine slot.
                KmallocRefill = 14 {
                    handler: kmalloc_refill,
                    request: $crate::ops::KmallocRefillReq,
                    reply: $crate::ops::KmallocRefillReply,
                    fits: registers,
                    check: (|s| {
                        check_size(s.size)?;
                        check_slot(s.slot)?;
                        check_count(s.count)?;
                        check_flags(s.flags, alloc_flags::ALL)
                    }),
                    errors: [SizeZero, SizeTooLarge, BadSlot, BadBatch, UnknownFlag,
                             QuotaExceeded, OutOfMemory],
                }
                /// A batch of kmalloc blocks from a magazine slot back.
                KfreeDrain = 15 {
                    handler: kfree_drain,
                    request: $crate::ops::KfreeDrainReq,
                    reply: $crate::ops::CountReply,
                    fits: registers,
                    check: (|s| {
                        check_slot(s.slot)?;
                        check_count(s.count)
                    }),
                    errors: [BadSlot, BadBatch, NullPointer, DuplicateAddress, NotAllocated,
                             DoubleFree, InteriorPointer, WrongCache, ForeignPointer, RedZone],
                }
            }
            cold {
                /// The client's accounting and quota.
                Stats = 3 {
                    handler: stats,
                    request: $crate::ops::StatsReq,
                    reply: $crate::ops::StatsReply,
                    fits: ipc_buffer,
                    check: (|_s| Ok(())),
                    errors: [],
                }
                /// A new cache; the request is followed by its name.
                CacheCreate = 4 {
                    handler: cache_create,
                    request: $crate::ops::CacheCreateReq,
                    reply: $crate::ops::CacheCreateReply,
                    fits: ipc_buffer,
                    tail: name,
                    check: (|s| {
                        check_size(s.size)?;
                        if s.align != 0 && !s.align.is_power_of_two() {
                            return Err(Failure::with(Error::BadAlign, [s.align, 0, 0]));
                        }
                        check_flags(s.flags, cache_flags::ALL)?;
                        if s.ctor > 1 {
                            return Err(Failure::with(Error::BadField, [s.ctor, 0, 0]));
                        }
                        Ok(())
                    }),
                    errors: [BadPayload, BadName, SizeZero, SizeTooLarge, BadAlign, UnknownFlag,
                             BadField, TooMany, QuotaExceeded, OutOfMemory],
                }
                CacheDestroy = 5 {
                    handler: cache_destroy,
                    request: $crate::ops::DestroyReq,
                    reply: $crate::ops::Empty,
                    fits: registers,
                    check: (|_s| Ok(())),
                    errors: [BadHandle, StaleHandle, CacheBusy],
                }
                CacheShrink = 6 {
                    handler: cache_shrink,
                    request: $crate::ops::ShrinkReq,
                    reply: $crate::ops::ShrinkReply,
                    fits: registers,
                    check: (|_s| Ok(())),
                    errors: [BadHandle, StaleHandle],
                }
                /// The usable size of a kmalloc block.
                Ksize = 13 {
                    handler: ksize,
                    request: $crate::ops::KsizeReq,
                    reply: $crate::ops::KsizeReply,
                    fits: registers,
                    check: (|s| check_addr(s.addr)),
                    errors: [NullPointer, NotAllocated, DoubleFree, InteriorPointer, WrongCache,
                             ForeignPointer],
                }
                /// One object of a cache from a chosen memory node (`kmem_cache_alloc_node`).
                AllocNode = 17 {
                    handler: alloc_node,
                    request: $crate::ops::AllocNodeReq,
                    reply: $crate::ops::AllocReply,
                    fits: registers,
                    check: (|s| check_flags(s.flags, alloc_flags::NODE)),
                    errors: [UnknownFlag, BadField, BadHandle, StaleHandle, QuotaExceeded,
                             OutOfMemory],
                }
                /// One kmalloc block from a chosen memory node (`kmalloc_node`;
                /// [`crate::ops::ZERO_SIZE_PTR`] for size 0, whatever the node).
                KmallocNode = 18 {
                    handler: kmalloc_node,
                    request: $crate::ops::KmallocNodeReq,
                    reply: $crate::ops::KmallocReply,
                    fits: registers,
                    check: (|s| check_flags(s.flags, alloc_flags::NODE)),
                    errors: [SizeTooLarge, UnknownFlag, BadField, QuotaExceeded, OutOfMemory],
                }
                /// A kmalloc block resized (`krealloc`; size 0 frees it and answers
                /// [`crate::ops::ZERO_SIZE_PTR`]).
                Krealloc = 19 {
                    handler: krealloc,
                    request: $crate::ops::KreallocReq,
                    reply: $crate::ops::KmallocReply,
                    fits: registers,
                    check: (|s| check_flags(s.flags, alloc_flags::ALL)),
                    errors: [UnknownFlag, SizeTooLarge, NotAllocated, DoubleFree,
                             InteriorPointer, WrongCache, ForeignPointer, QuotaExceeded,
                             OutOfMemory, RedZone],
                }
                /// A page of the client's violation log: a head and records
                /// ([`crate::violations`]) after the (empty) reply body, like a page of `dmesg`.
                Violations = 20 {
                    handler: violations,
                    request: $crate::ops::ViolationsReq,
                    reply: $crate::ops::Empty,
                    fits: ipc_buffer,
                    check: (|_s| Ok(())),
                    errors: [BadCursor],
                }
                /// `/proc/slabinfo` rows, postcard-encoded after the (empty) reply body, with a
                /// continuation cursor.
                Slabinfo = 16 {
                    handler: slabinfo,
                    request: $crate::ops::SlabinfoReq,
                    reply: $crate::ops::Empty,
                    fits: ipc_buffer,
                    check: (|s| if s.scope > 1 {
                        Err(Failure::with(Error::BadField, [s.scope, 0, 0]))
                    } else {
                        Ok(())
                    }),
                    errors: [BadField, BadCursor],
                }
            }
            session {
                /// Version handshake; the first message of a client.
                Hello = 1 {
                    handler: greet,
                    request: $crate::ops::HelloReq,
                    reply: $crate::ops::HelloReply,
                    fits: registers,
                    check: (|_s| Ok(())),
                    errors: [VersionMismatch],
                }
                /// The client leaves; everything it owns returns to the server.
                Detach = 2 {
                    handler: leave,
                    request: $crate::ops::DetachReq,
                    reply: $crate::ops::Empty,
                    fits: registers,
                    check: (|_s| Ok(())),
                    errors: [],
                }
            }
        }
    };
}

/// This crate's reading of the table: the labels, the request enum and every `Op` impl.
macro_rules! define_operations {
    (
        hot { $($hot:tt)* }
        cold { $($cold:tt)* }
        session { $($session:tt)* }
    ) => {
        define_operations!(@hot_fits_registers $($hot)*);
        define_operations!(@all $($hot)* $($cold)* $($session)*);
    };
    // Matches only if every hot operation is declared `fits: registers`.
    (@hot_fits_registers $(
        $(#[$doc:meta])*
        $name:ident = $num:literal {
            handler: $handler:ident,
            request: $req:ty,
            reply: $reply:ty,
            fits: registers,
            check: $check:tt,
            errors: [$($err:ident),* $(,)?],
        }
    )*) => {};
    (@all $(
        $(#[$doc:meta])*
        $name:ident = $num:literal {
            handler: $handler:ident,
            request: $req:ty,
            reply: $reply:ty,
            fits: $fits:ident,
            $(tail: $tail:ident,)?
            check: $check:tt,
            errors: [$($err:ident),* $(,)?],
        }
    )*) => {
        /// The operation a request's label names. Numbers are stable.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum Label {
            $($(#[$doc])* $name = $num,)*
        }

        impl Label {
            /// Operations in this version.
            pub const COUNT: usize = [$(Label::$name),*].len();
            /// Every label, in table order.
            pub const ALL: [Label; Self::COUNT] = [$(Label::$name),*];

            pub const fn word(self) -> u64 {
                self as u16 as u64
            }

            /// The operation-specific errors a reply to this label may carry (besides
            /// [`COMMON_ERRORS`]).
            pub const fn errors(self) -> &'static [Error] {
                match self {
                    $(Label::$name => <$req as Op>::ERRORS,)*
                }
            }

            /// Whether a reply to this label may carry `error`.
            pub fn may_answer(self, error: Error) -> bool {
                COMMON_ERRORS.contains(&error) || self.errors().contains(&error)
            }

            /// Words of the request's fixed part (a `tail` follows it).
            pub const fn request_words(self) -> usize {
                match self {
                    $(Label::$name => <$req as Body>::WORDS,)*
                }
            }

            /// Whether request and reply both fit in the message registers.
            pub const fn fits_registers(self) -> bool {
                match self {
                    $(Label::$name => <$req as Op>::FITS_REGISTERS,)*
                }
            }
        }

        impl TryFrom<u64> for Label {
            type Error = Error;
            fn try_from(word: u64) -> Result<Self, Error> {
                match word {
                    $($num => Ok(Label::$name),)*
                    _ => Err(Error::UnknownLabel),
                }
            }
        }

        /// A whole request decoded from untrusted words: the label picks the operation, the body
        /// must have exactly its length, and the stateless field checks run. The server then only
        /// checks state.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Request<'a> {
            $($name($req $(, &'a define_operations!(@tail_type $tail))?),)*
        }

        impl<'a> Request<'a> {
            pub fn decode(label: u64, words: &'a [u64]) -> Result<Self, Failure> {
                Ok(match Label::try_from(label)? {
                    $(Label::$name => define_operations!(@decode $name, $req, words $(, $tail)?),)*
                })
            }

            /// Splits off the borrowed cache name, so that the rest of the request no longer
            /// borrows the message (the server reuses the message buffer for the reply).
            pub fn split_name(self) -> (Request<'static>, Option<&'a str>) {
                match self {
                    $(Request::$name(r $(, $tail)?) => (
                        Request::$name(r $(, define_operations!(@empty $tail))?),
                        define_operations!(@some $($tail)?),
                    ),)*
                }
            }

            pub fn label(&self) -> Label {
                match self {
                    $(Request::$name(..) => Label::$name,)*
                }
            }

            /// Encodes the request into `words`; returns (label, length). `words` must hold
            /// [`crate::MSG_MAX_WORDS`]; a name that does not fit yields length 0 (never for
            /// valid names).
            pub fn encode(&self, words: &mut [u64]) -> (u64, usize) {
                let len = match self {
                    $(Request::$name(r $(, $tail)?) => {
                        define_operations!(@encode r, words $(, $tail)?)
                    })*
                };
                (self.label().word(), len)
            }
        }

        $(
            impl Op for $req {
                const LABEL: Label = Label::$name;
                type Reply = $reply;
                const FITS_REGISTERS: bool = define_operations!(@fits $fits);
                const ERRORS: &'static [Error] = &[$(Error::$err),*];
                #[inline]
                fn check(&self) -> Result<(), Failure> {
                    run_check(self, $check)
                }
            }
            const _: () = assert!(
                !<$req as Op>::FITS_REGISTERS
                    || (<$req as Body>::WORDS <= MSG_REGISTERS
                        && <$reply as Body>::WORDS <= MSG_REGISTERS),
                "an operation declared `fits: registers` does not fit"
            );
        )*
    };
    (@fits registers) => { true };
    (@fits ipc_buffer) => { false };
    (@tail_type name) => { str };
    (@empty name) => { "" };
    (@some $t:ident) => { Some($t) };
    (@some) => { None };
    (@decode $name:ident, $req:ty, $words:ident) => {
        Request::$name(decode_body::<$req>($words)?)
    };
    (@decode $name:ident, $req:ty, $words:ident, name) => {{
        let (req, name) = decode_named::<$req>($words)?;
        Request::$name(req, name)
    }};
    (@encode $r:ident, $words:ident) => { $r.encode($words) };
    (@encode $r:ident, $words:ident, $tail:ident) => {{
        let fixed = $r.encode($words);
        varlen::write_value(&mut $words[fixed..], $tail).map_or(0, |n| fixed + n)
    }};
}

use crate::ops::*;
use crate::{varlen, Failure, MSG_REGISTERS};

/// Runs a table entry's stateless check (a closure, so that its argument's type is inferred).
#[inline(always)]
fn run_check<T>(s: &T, check: impl FnOnce(&T) -> Result<(), Failure>) -> Result<(), Failure> {
    check(s)
}

/// Decodes a fixed body of exactly its length and runs its stateless checks.
#[inline(always)]
pub fn decode_body<T: Op>(words: &[u64]) -> Result<T, Failure> {
    let value = T::decode(words)?;
    value.check()?;
    Ok(value)
}

/// Decodes a fixed body followed by a cache name (variable data), and checks both.
pub fn decode_named<T: Op>(words: &[u64]) -> Result<(T, &str), Failure> {
    let fixed = T::WORDS;
    if words.len() <= fixed {
        return Err(Failure::with(
            Error::BadLength,
            [fixed as u64 + 1, words.len() as u64, 0],
        ));
    }
    let req = decode_body::<T>(&words[..fixed])?;
    let name: &str = varlen::read_value(&words[fixed..])?;
    varlen::check_name(name)?;
    Ok((req, name))
}

for_each_operation!(define_operations);
