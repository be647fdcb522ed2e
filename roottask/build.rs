//! Build contract of the root task (xtask drives it; see `xtask`):
//!
//! 1. xtask reads the system description, builds its client images for
//!    `aarch64-unknown-none-softfloat`, and writes one blob (the `memserver-system` crate's
//!    layout: the postcard-encoded `ImageConfig` and the client ELF images, each 16-byte
//!    aligned); `MEMSERVER_SYSTEM_IMAGE` holds its absolute path. It is embedded 16-byte
//!    aligned with `include_bytes!` (`src/system.rs`) and parsed at run time.
//! 2. The root task is linked at 0x400000 with `sel4/runtime/task.ld` (page-separated
//!    segments; .bss inside the last segment: the loader must map/zero up to its memsz).
//! 3. The kernel configuration the `sel4` crate generates for comes from `SEL4_CONFIG`
//!    (default `qemu/kernel/config/autoconf-debug.h`); the source from `SEL4_SOURCE`.
//!
//! Console: the root task prints `memserver: ...` lines (its zones, each client started at boot
//! that exits or faults) and `memserver: all clients ended` once no client is left, then calls
//! seL4_DebugHalt. Clients print through it (`abi::label::CONSOLE`); the harness's test lines
//! come from its test driver client.

/// The files the root task embeds, by the variable naming them.
const EMBEDDED: [&str; 1] = ["MEMSERVER_SYSTEM_IMAGE"];

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo::rustc-link-arg-bins=-T{dir}/../sel4/runtime/task.ld");
    println!("cargo::rerun-if-changed=../sel4/runtime/task.ld");
    for var in EMBEDDED {
        println!("cargo::rerun-if-env-changed={var}");
        match std::env::var(var) {
            Ok(path) if std::path::Path::new(&path).is_file() => {
                println!("cargo::rerun-if-changed={path}");
            }
            Ok(path) => fail(&format!("{var}={path} is not a file (build the client first)")),
            Err(_) => fail(&format!(
                "{var} is not set: build the root task through `cargo xtask`, which builds the client tasks first"
            )),
        }
    }
}

fn fail(message: &str) -> ! {
    eprintln!("memserver-root-task build: {message}");
    std::process::exit(1);
}
