//! The syscall list of `syscall.xml`: numbered -1, -2, ... in file order over the `api` and then
//! the `debug` sections, whether or not a group's condition holds (the kernel's generator numbers
//! them that way); only those whose condition holds are available.

use crate::{condition, Config, GenError};

/// One available syscall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syscall {
    /// Name without prefix, e.g. `Call`, `DebugPutChar`.
    pub name: String,
    /// The number passed in x7.
    pub number: i64,
}

/// Parses `syscall.xml` and keeps the syscalls available in `config`.
pub fn parse(text: &str, config: &Config) -> Result<Vec<Syscall>, GenError> {
    let file = "syscall.xml";
    let doc = roxmltree::Document::parse(text).map_err(|e| GenError::Xml {
        file: file.into(),
        message: e.to_string(),
    })?;
    let root = doc.root_element();
    let mut out = Vec::new();
    let mut number = -1;
    for section in ["api", "debug"] {
        let element = root
            .children()
            .find(|n| n.has_tag_name(section))
            .ok_or_else(|| GenError::Malformed {
                file: file.into(),
                what: format!("no <{section}> element"),
            })?;
        for group in element.children().filter(|n| n.has_tag_name("config")) {
            let available = condition::holds(group.attribute("condition").unwrap_or(""), config)?;
            for syscall in group.children().filter(|n| n.has_tag_name("syscall")) {
                let name = syscall
                    .attribute("name")
                    .ok_or_else(|| GenError::Malformed {
                        file: file.into(),
                        what: "<syscall> without name".into(),
                    })?;
                if available {
                    out.push(Syscall {
                        name: name.to_owned(),
                        number,
                    });
                }
                number -= 1;
            }
        }
    }
    Ok(out)
}
