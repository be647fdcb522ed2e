//! Generates the seL4 5.0.0 user-level interface constants and invocation stubs for the `sel4`
//! crate from the kernel's own interface files (for one kernel configuration):
//! syscall numbers from `include/api/syscall.xml`, invocation labels and message layouts from
//! `libsel4/include/interfaces/sel4.xml` plus the arm and aarch64 interface files, object types
//! and error codes from libsel4's C enums. It runs on the host, from the `sel4` crate's build.rs.
//!
//! Numbering follows the kernel's own generators (`tools/*_gen.py`): labels are numbered in file
//! order, generic first, then the sel4_arch (aarch64) file, then the arch (arm) file, skipping the
//! methods whose `condition` is false for the configuration; syscall numbers count down from -1 in
//! file order whether or not their condition holds.

#![forbid(unsafe_code)]

pub mod cenum;
pub mod condition;
pub mod config;
pub mod emit;
pub mod error;
pub mod interface;
pub mod layout;
pub mod source;
pub mod syscalls;

pub use config::Config;
pub use error::GenError;
pub use source::SourceTree;

/// Everything the `sel4` crate needs, read from one source tree for one configuration.
#[derive(Debug, Clone)]
pub struct Api {
    /// Syscalls available in this configuration, with their numbers.
    pub syscalls: Vec<syscalls::Syscall>,
    /// Invocation methods available in this configuration, with their labels.
    pub methods: Vec<interface::Method>,
    /// Object types available in this configuration, with their numbers.
    pub object_types: Vec<cenum::Variant>,
    /// Kernel error codes.
    pub errors: Vec<cenum::Variant>,
    /// The configuration everything was numbered for.
    pub config: Config,
}

impl Api {
    /// Reads and numbers everything for `config`.
    pub fn load(source: &SourceTree, config: &Config) -> Result<Self, GenError> {
        let syscalls = syscalls::parse(&source.read(source::SYSCALL_XML)?, config)?;
        let mut methods = Vec::new();
        let mut next_label = 1;
        for file in source::INTERFACE_XMLS {
            let found = interface::parse(&source.read(file)?, file, config, next_label)?;
            next_label += found.len() as u64;
            methods.extend(found);
        }
        let object_types = cenum::parse_chain(
            &source::OBJECT_TYPE_HEADERS
                .iter()
                .map(|file| source.read(file))
                .collect::<Result<Vec<_>, _>>()?,
            config,
        )?;
        let errors = cenum::parse_chain(&[source.read(source::ERRORS_HEADER)?], config)?;
        Ok(Self {
            syscalls,
            methods,
            object_types,
            errors,
            config: config.clone(),
        })
    }

    /// The label of the method with kernel id `id` (e.g. `UntypedRetype`), if available.
    pub fn label(&self, id: &str) -> Option<u64> {
        self.methods.iter().find(|m| m.id == id).map(|m| m.label)
    }

    /// The number of the syscall named `name` (e.g. `Call`), if available.
    pub fn syscall(&self, name: &str) -> Option<i64> {
        self.syscalls
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.number)
    }

    /// The Rust source of the generated module.
    pub fn to_rust(&self) -> String {
        emit::emit(self)
    }
}
