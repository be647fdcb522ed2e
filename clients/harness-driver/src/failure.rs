//! Why a memory-server test failed, printed after `FAILED:`.

use sel4::Word;

/// Failures of the memory-server tests.
#[derive(Debug, Clone, Copy)]
pub enum MsFailure {
    /// A client could not be started or the root task refused a supervisor operation.
    Setup(&'static str),
    /// A client reported failed checks: how many, and the first (check id, value, expected).
    ClientChecks {
        client: Word,
        failed: Word,
        first: Option<(Word, Word, Word)>,
    },
    /// A client faulted where it should have finished (fault kind and address).
    Faulted {
        client: Word,
        kind: Word,
        addr: Word,
    },
    /// A client finished where it should have faulted.
    NotFaulted { client: Word },
    /// A value the driver checked differed.
    Mismatch {
        what: &'static str,
        expected: Word,
        got: Word,
    },
}

impl core::fmt::Display for MsFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Setup(what) => write!(f, "setup: {what}"),
            Self::ClientChecks {
                client,
                failed,
                first,
            } => {
                write!(f, "client {client}: {failed} checks failed")?;
                if let Some((id, value, expected)) = first {
                    write!(
                        f,
                        " (first: check {id} got {value:#x}, expected {expected:#x})"
                    )?;
                }
                Ok(())
            }
            Self::Faulted { client, kind, addr } => {
                write!(f, "client {client} faulted: kind {kind} at {addr:#x}")
            }
            Self::NotFaulted { client } => write!(f, "client {client} did not fault"),
            Self::Mismatch {
                what,
                expected,
                got,
            } => write!(f, "{what}: expected {expected:#x}, got {got:#x}"),
        }
    }
}

/// `Ok` if equal, else a mismatch naming `what`.
pub fn expect(what: &'static str, expected: Word, got: Word) -> Result<(), MsFailure> {
    if expected == got {
        Ok(())
    } else {
        Err(MsFailure::Mismatch {
            what,
            expected,
            got,
        })
    }
}
