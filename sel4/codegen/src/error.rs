//! The one error type of the generator: which file or expression was bad and why.

use std::fmt;
use std::path::PathBuf;

/// Why generation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GenError {
    /// No seL4 source tree was found (neither `SEL4_SOURCE` nor the cargo registry copy).
    SourceNotFound { searched: Vec<PathBuf> },
    /// A file of the source tree could not be read.
    Io {
        path: PathBuf,
        kind: std::io::ErrorKind,
    },
    /// An interface file is not well-formed XML.
    Xml { file: String, message: String },
    /// An interface file lacks an element or attribute the generator needs.
    Malformed { file: String, what: String },
    /// A parameter type the generator does not know how to marshal.
    UnknownType { method: String, ty: String },
    /// A `condition` or `#if` expression could not be parsed.
    Condition { expr: String, at: usize },
    /// A C enum entry refers to a name not defined before it.
    UnknownEnumName { name: String },
    /// The configuration header has a `#define CONFIG_*` line whose value is not an integer.
    ConfigValue { line: String },
}

impl fmt::Display for GenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SourceNotFound { searched } => write!(
                f,
                "seL4 5.0.0 source not found (set SEL4_SOURCE to the seL4 folder of sel4-sys 0.0.28, or run `cargo fetch`); searched: {searched:?}"
            ),
            Self::Io { path, kind } => write!(f, "cannot read {}: {kind}", path.display()),
            Self::Xml { file, message } => write!(f, "{file}: invalid XML: {message}"),
            Self::Malformed { file, what } => write!(f, "{file}: malformed: {what}"),
            Self::UnknownType { method, ty } => {
                write!(f, "method {method}: unknown parameter type {ty}")
            }
            Self::Condition { expr, at } => {
                write!(f, "cannot parse condition {expr:?} at byte {at}")
            }
            Self::UnknownEnumName { name } => write!(f, "enum refers to unknown name {name}"),
            Self::ConfigValue { line } => write!(f, "config line is not an integer define: {line}"),
        }
    }
}

impl std::error::Error for GenError {}
