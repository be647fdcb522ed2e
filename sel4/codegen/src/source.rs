//! Finding the seL4 5.0.0 source tree and reading its interface files. The tree is the `seL4/`
//! folder of the crates.io package `sel4-sys =0.0.28`: `SEL4_SOURCE` names it explicitly (xtask
//! sets it to its private unpacked copy), otherwise cargo's registry copy is used.

use crate::GenError;
use std::path::{Path, PathBuf};

/// The syscall list.
pub const SYSCALL_XML: &str = "libsel4/include/api/syscall.xml";
/// Interface files in label order: generic, sel4_arch (aarch64), arch (arm).
pub const INTERFACE_XMLS: [&str; 3] = [
    "libsel4/include/interfaces/sel4.xml",
    "libsel4/sel4_arch_include/aarch64/interfaces/sel4arch.xml",
    "libsel4/arch_include/arm/interfaces/sel4arch.xml",
];
/// Object type enums in numbering order: generic, sel4_arch, arch.
pub const OBJECT_TYPE_HEADERS: [&str; 3] = [
    "libsel4/include/sel4/objecttype.h",
    "libsel4/sel4_arch_include/aarch64/sel4/sel4_arch/objecttype.h",
    "libsel4/arch_include/arm/sel4/arch/objecttype.h",
];
/// The error code enum.
pub const ERRORS_HEADER: &str = "libsel4/include/sel4/errors.h";

/// The package whose source carries the kernel.
pub const PACKAGE_DIR: &str = "sel4-sys-0.0.28";

/// A seL4 source tree (the folder holding `libsel4/`, `src/`, `Makefile`).
#[derive(Debug, Clone)]
pub struct SourceTree {
    root: PathBuf,
}

impl SourceTree {
    /// Uses `root` if it holds the interface files.
    pub fn at(root: impl Into<PathBuf>) -> Result<Self, GenError> {
        let root = root.into();
        if root.join(SYSCALL_XML).is_file() {
            Ok(Self { root })
        } else {
            Err(GenError::SourceNotFound {
                searched: vec![root],
            })
        }
    }

    /// `SEL4_SOURCE` if set, else `$CARGO_HOME/registry/src/*/sel4-sys-0.0.28/seL4`.
    pub fn locate(
        sel4_source: Option<PathBuf>,
        cargo_home: Option<PathBuf>,
    ) -> Result<Self, GenError> {
        if let Some(explicit) = sel4_source {
            return Self::at(explicit);
        }
        let mut searched = Vec::new();
        if let Some(home) = cargo_home {
            let registry = home.join("registry").join("src");
            searched.push(registry.clone());
            if let Ok(entries) = std::fs::read_dir(&registry) {
                let mut candidates: Vec<PathBuf> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.path().join(PACKAGE_DIR).join("seL4"))
                    .filter(|p| p.join(SYSCALL_XML).is_file())
                    .collect();
                candidates.sort();
                if let Some(found) = candidates.into_iter().next() {
                    return Ok(Self { root: found });
                }
            }
        }
        Err(GenError::SourceNotFound { searched })
    }

    /// As [`locate`](Self::locate); if nothing is found, runs `cargo fetch` on `fetch_manifest`
    /// (a package depending on sel4-sys 0.0.28, e.g. `qemu/kernel-src/Cargo.toml`), which unpacks
    /// the package into the registry, and looks again.
    pub fn locate_or_fetch(
        sel4_source: Option<PathBuf>,
        cargo_home: Option<PathBuf>,
        fetch_manifest: &Path,
    ) -> Result<Self, GenError> {
        match Self::locate(sel4_source.clone(), cargo_home.clone()) {
            Ok(tree) => Ok(tree),
            Err(e) if sel4_source.is_some() => Err(e),
            Err(e) => {
                let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
                let status = std::process::Command::new(cargo)
                    .arg("fetch")
                    .arg("--manifest-path")
                    .arg(fetch_manifest)
                    .status();
                match status {
                    Ok(s) if s.success() => Self::locate(None, cargo_home),
                    _ => Err(e),
                }
            }
        }
    }

    /// Cargo's home: `CARGO_HOME`, else `$HOME/.cargo`.
    pub fn default_cargo_home() -> Option<PathBuf> {
        std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
    }

    /// The tree's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The full path of a file of the tree.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Reads a file of the tree.
    pub fn read(&self, relative: &str) -> Result<String, GenError> {
        let path = self.path(relative);
        std::fs::read_to_string(&path).map_err(|e| GenError::Io {
            path,
            kind: e.kind(),
        })
    }
}
