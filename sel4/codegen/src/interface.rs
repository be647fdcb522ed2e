//! The invocation methods of the interface XML files: their kernel ids, labels (numbered in file
//! order, skipping methods whose condition is false), parameters and parameter types.

use crate::{condition, Config, GenError};

/// How a parameter travels (aarch64, 64-bit words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// A capability: an extra cap of the message (a cptr in the caller's CSpace).
    Cap,
    /// An unsigned integer of the given width in bits (packed into message words).
    Uint(u32),
    /// A C `int` (32 bits).
    Int,
    /// A boolean, packed as one bit.
    Bool,
    /// The aarch64 `seL4_UserContext`: 34 words.
    UserContext,
}

impl ParamType {
    /// The width in bits when packed into the message.
    pub fn size_bits(self) -> u32 {
        match self {
            Self::Cap => 64,
            Self::Uint(bits) => bits,
            Self::Int => 32,
            Self::Bool => 1,
            Self::UserContext => 64 * USER_CONTEXT_WORDS,
        }
    }

    fn from_c(name: &str) -> Option<Self> {
        Some(match name {
            "seL4_Word" | "long" | "seL4_ARM_VMAttributes" | "seL4_Uint64" => Self::Uint(64),
            "seL4_CapData_t" | "seL4_PrioProps_t" | "seL4_CapRights_t" => Self::Uint(64),
            "seL4_Uint32" => Self::Uint(32),
            "seL4_Uint16" => Self::Uint(16),
            "seL4_Uint8" => Self::Uint(8),
            "int" => Self::Int,
            "seL4_Bool" => Self::Bool,
            "seL4_UserContext" => Self::UserContext,
            "seL4_CPtr"
            | "seL4_CNode"
            | "seL4_IRQHandler"
            | "seL4_IRQControl"
            | "seL4_TCB"
            | "seL4_Untyped"
            | "seL4_DomainSet"
            | "seL4_ARM_Page"
            | "seL4_ARM_PageTable"
            | "seL4_ARM_PageDirectory"
            | "seL4_ARM_PageUpperDirectory"
            | "seL4_ARM_PageGlobalDirectory"
            | "seL4_ARM_ASIDControl"
            | "seL4_ARM_ASIDPool"
            | "seL4_ARM_IOSpace"
            | "seL4_ARM_IOPageTable"
            | "seL4_ARM_VCPU" => Self::Cap,
            _ => return None,
        })
    }
}

/// Words of the aarch64 `seL4_UserContext`.
pub const USER_CONTEXT_WORDS: u32 = 34;

/// One parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub ty: ParamType,
}

/// One invocation method available in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method {
    /// Interface name without `seL4_`, e.g. `Untyped`, `ARM_Page`.
    pub interface: String,
    /// Method name, e.g. `Retype`.
    pub name: String,
    /// Kernel id (the invocation label's name), e.g. `UntypedRetype`.
    pub id: String,
    /// The label number.
    pub label: u64,
    pub inputs: Vec<Param>,
    pub outputs: Vec<Param>,
}

/// Parses one interface file; labels start at `first_label`.
pub fn parse(
    text: &str,
    file: &str,
    config: &Config,
    first_label: u64,
) -> Result<Vec<Method>, GenError> {
    let doc = roxmltree::Document::parse(text).map_err(|e| GenError::Xml {
        file: file.into(),
        message: e.to_string(),
    })?;
    let malformed = |what: &str| GenError::Malformed {
        file: file.into(),
        what: what.into(),
    };
    let mut out = Vec::new();
    for interface in doc.descendants().filter(|n| n.has_tag_name("interface")) {
        let iname = interface
            .attribute("name")
            .ok_or_else(|| malformed("<interface> without name"))?;
        for method in interface.children().filter(|n| n.has_tag_name("method")) {
            if !condition::holds(method.attribute("condition").unwrap_or(""), config)? {
                continue;
            }
            let id = method
                .attribute("id")
                .ok_or_else(|| malformed("<method> without id"))?;
            let name = method
                .attribute("name")
                .ok_or_else(|| malformed("<method> without name"))?;
            let mut inputs = Vec::new();
            let mut outputs = Vec::new();
            for p in method.children().filter(|n| n.has_tag_name("param")) {
                let pname = p
                    .attribute("name")
                    .ok_or_else(|| malformed("<param> without name"))?;
                let ctype = p
                    .attribute("type")
                    .ok_or_else(|| malformed("<param> without type"))?;
                let ty = ParamType::from_c(ctype).ok_or_else(|| GenError::UnknownType {
                    method: id.into(),
                    ty: ctype.into(),
                })?;
                let param = Param {
                    name: pname.into(),
                    ty,
                };
                match p.attribute("dir") {
                    Some("in") => inputs.push(param),
                    Some("out") => outputs.push(param),
                    _ => return Err(malformed("<param> dir is neither in nor out")),
                }
            }
            out.push(Method {
                interface: iname.trim_start_matches("seL4_").into(),
                name: name.into(),
                id: id.into(),
                label: first_label + out.len() as u64,
                inputs,
                outputs,
            });
        }
    }
    Ok(out)
}
