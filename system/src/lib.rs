//! The system description of a memserver image, in two layers.
//!
//! - Always (`no_std` + `alloc`, for the root task): [`ImageConfig`], the configuration embedded
//!   in the image (cores, memory nodes, clients, server options), and [`decode`], which reads it
//!   with the client ELF images out of the one embedded blob (a header, the postcard-encoded
//!   configuration, then the images 16-byte aligned). [`slab_debug`] parses a client's cache
//!   debug options (Linux `slab_debug=` syntax); [`limits`] holds the facts of the machine and
//!   the kernel build that a description is checked against.
//! - With the `std` feature (for xtask and the fuzzers): the TOML description ([`description`]),
//!   its parser with errors naming the file, the field and the reason, [`encode`], and what is
//!   derived from a description ([`derive`](mod@derive): QEMU arguments, kernel configuration, physical
//!   memory regions).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod blob;
pub mod config;
pub mod limits;
pub mod size;
pub mod slab_debug;

#[cfg(feature = "std")]
pub mod derive;
#[cfg(feature = "std")]
pub mod description;

#[cfg(feature = "std")]
pub use blob::encode;
pub use blob::{decode, DecodeError, Images};
pub use config::{ClientConfig, ImageConfig, Node, Quota, ServerOptions, Start};
#[cfg(feature = "std")]
pub use description::{parse_file, parse_str, DescriptionError, System};
