//! The error of an invocation: a kernel error code, or a reply label no 5.0.0 kernel sends.

use crate::{KernelError, Word};

/// Why an invocation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The kernel rejected the invocation with this code.
    Kernel(KernelError),
    /// The reply label was neither 0 nor a known error code.
    UnknownCode(Word),
    /// The request needs a kernel configuration this one lacks (e.g. another core on a
    /// single-core kernel); nothing was sent.
    NotInThisConfiguration,
}

impl Error {
    /// The error for a non-zero reply label.
    pub fn from_code(code: Word) -> Self {
        KernelError::from_word(code).map_or(Self::UnknownCode(code), Self::Kernel)
    }
}

/// Result of an invocation.
pub type Result<T> = core::result::Result<T, Error>;
