//! Errors of the root-task building blocks: each names what ran out or which kernel call failed.

use sel4::Word;

/// Why an object or slot could not be allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocError {
    /// No free slot left in the root CNode.
    SlotsExhausted,
    /// No RAM untyped has room for an object of `2^size_bits` bytes.
    OutOfMemory { size_bits: usize },
    /// The kernel refused the retype.
    Retype(sel4::Error),
    /// The kernel refused to revoke a child allocator's untyped.
    Revoke(sel4::Error),
    /// Only a child allocator can be reclaimed.
    NotAChild,
    /// The kernel refused to copy a capability.
    Copy(sel4::Error),
}

/// Why a task could not be created or started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
    /// An object or slot could not be allocated.
    Alloc(AllocError),
    /// The image is not a 64-bit little-endian aarch64 executable ELF.
    NotAnElf(&'static str),
    /// Two loadable segments share a page, or a segment lies outside user space.
    BadSegment { vaddr: Word },
    /// Too many pages or paging structures for the fixed-size records.
    TooManyMappings,
    /// More capabilities requested for the child than its CNode holds.
    TooManyCaps,
    /// The kernel refused an invocation: which step, and its error.
    Kernel {
        step: &'static str,
        error: sel4::Error,
    },
}

impl From<AllocError> for SpawnError {
    fn from(e: AllocError) -> Self {
        Self::Alloc(e)
    }
}

/// Adds the step name to a kernel error.
#[cfg(target_arch = "aarch64")]
pub(crate) trait Step<T> {
    fn step(self, step: &'static str) -> Result<T, SpawnError>;
}

#[cfg(target_arch = "aarch64")]
impl<T> Step<T> for Result<T, sel4::Error> {
    fn step(self, step: &'static str) -> Result<T, SpawnError> {
        self.map_err(|error| SpawnError::Kernel { step, error })
    }
}
