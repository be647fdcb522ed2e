//! Owns xtask's error type: every failure names the step that failed and carries what the user
//! needs to see (the tail of the step's output, the console lines before a boot failure).
use std::fmt;
use std::path::PathBuf;

#[derive(Debug)]
pub enum Error {
    /// Bad command line.
    Usage(String),
    /// A system description is refused (before anything is built).
    Description(memserver_system::DescriptionError),
    /// A client image of a description cannot be used.
    ClientImage {
        /// Where the description names it (`client[0].crate = ...`).
        what: String,
        file: PathBuf,
        reason: String,
    },
    /// A file operation of xtask itself failed.
    Io {
        what: String,
        path: PathBuf,
        source: std::io::Error,
    },
    /// An external program could not be started.
    Spawn {
        step: String,
        program: String,
        source: std::io::Error,
    },
    /// An external program ran and failed.
    StepFailed {
        step: String,
        status: String,
        log: Option<PathBuf>,
        tail: Vec<String>,
    },
    /// A required tool is missing and could not be installed.
    Install { step: String, detail: String },
    /// The kernel source package or one of our patches could not be used.
    KernelSource(String),
    /// A cargo build did not produce the expected executable.
    MissingArtifact { step: String, name: String },
    /// The on-target run did not end with a clean closing line.
    Boot(crate::qemu::BootFailure),
    /// Parts of `cargo xtask test` failed (each already reported).
    PartsFailed(Vec<String>),
    /// The on-target bench did not print this `measure` line.
    MissingMeasure(String),
    /// The buddy zones manage less of RAM than expected.
    ZonesTooSmall {
        frames: u64,
        ram_frames: u64,
        min_percent: u64,
    },
}

impl Error {
    pub fn io(what: impl Into<String>, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => write!(f, "{msg}\n{}", crate::USAGE),
            Error::Description(e) => write!(f, "system description {e}"),
            Error::ClientImage { what, file, reason } => {
                write!(f, "{}: `{what}`: {reason}", file.display())
            }
            Error::Io { what, path, source } => {
                write!(f, "{what} {}: {source}", path.display())
            }
            Error::Spawn {
                step,
                program,
                source,
            } => write!(f, "step `{step}`: cannot start `{program}`: {source}"),
            Error::StepFailed {
                step,
                status,
                log,
                tail,
            } => {
                write!(f, "step `{step}` failed ({status})")?;
                if let Some(log) = log {
                    write!(f, "; full output in {}", log.display())?;
                }
                if !tail.is_empty() {
                    write!(f, "\nlast lines of its output:")?;
                    for line in tail {
                        write!(f, "\n  | {line}")?;
                    }
                }
                Ok(())
            }
            Error::Install { step, detail } => {
                write!(f, "step `{step}`: could not install: {detail}")
            }
            Error::KernelSource(msg) => write!(f, "kernel source: {msg}"),
            Error::MissingArtifact { step, name } => {
                write!(f, "step `{step}`: cargo produced no executable `{name}`")
            }
            Error::Boot(failure) => write!(f, "{failure}"),
            Error::PartsFailed(parts) => write!(f, "failed parts: {}", parts.join(", ")),
            Error::MissingMeasure(name) => {
                write!(f, "the on-target run printed no `measure {name}`")
            }
            Error::ZonesTooSmall {
                frames,
                ram_frames,
                min_percent,
            } => write!(
                f,
                "the zones manage {frames} of {ram_frames} RAM frames, less than {min_percent} %"
            ),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
