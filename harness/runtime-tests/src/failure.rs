//! Why a harness test failed, printed after `FAILED:`.

use sel4::{Fault, Word};
use sel4_root_task::{AllocError, SpawnError};

/// Reasons a test fails.
#[derive(Debug, Clone, Copy)]
pub enum Failure {
    /// A task could not be created or started.
    Spawn(SpawnError),
    /// An object could not be allocated.
    Alloc(AllocError),
    /// No message arrived within the polling bound.
    NoMessage { waiting_for: &'static str },
    /// A value differed from the expected one.
    Mismatch {
        what: &'static str,
        expected: Word,
        got: Word,
    },
    /// A client's own check of the replies failed.
    ClientCheck { what: &'static str },
    /// A fault of the wrong kind arrived.
    WrongFault(Fault),
    /// A client faulted while it was being served.
    Faulted(Fault),
    /// A message with an unexpected label or length.
    UnexpectedMessage { label: Word, length: usize },
    /// An earlier step this test depends on failed.
    Prerequisite { what: &'static str },
}

impl From<SpawnError> for Failure {
    fn from(e: SpawnError) -> Self {
        Self::Spawn(e)
    }
}

impl From<AllocError> for Failure {
    fn from(e: AllocError) -> Self {
        Self::Alloc(e)
    }
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Spawn(e) => write!(f, "spawn: {e:?}"),
            Self::Alloc(e) => write!(f, "allocation: {e:?}"),
            Self::NoMessage { waiting_for } => write!(f, "no message: {waiting_for}"),
            Self::Mismatch {
                what,
                expected,
                got,
            } => {
                write!(f, "{what}: expected {expected:#x}, got {got:#x}")
            }
            Self::ClientCheck { what } => write!(f, "client reports wrong reply: {what}"),
            Self::WrongFault(fault) => write!(f, "unexpected fault {fault:?}"),
            Self::Faulted(fault) => write!(f, "client faulted: {fault:?}"),
            Self::UnexpectedMessage { label, length } => {
                write!(f, "unexpected message label {label} length {length}")
            }
            Self::Prerequisite { what } => write!(f, "prerequisite failed: {what}"),
        }
    }
}

/// `Ok` if equal, else a mismatch naming `what`.
pub fn expect_eq(what: &'static str, expected: Word, got: Word) -> Result<(), Failure> {
    if expected == got {
        Ok(())
    } else {
        Err(Failure::Mismatch {
            what,
            expected,
            got,
        })
    }
}
