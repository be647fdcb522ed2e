//! Build contract of the runtime-tests root task (xtask drives it):
//!
//! 1. xtask first builds the client tasks `clients/echo` and `clients/faulter` for
//!    `aarch64-unknown-none-softfloat`, then builds this package with `MEMSERVER_CLIENT_ECHO_ELF`
//!    and `MEMSERVER_CLIENT_FAULTER_ELF` holding the absolute paths of their ELF files; the images
//!    are embedded 16-byte aligned with `include_bytes!`.
//! 2. The root task is linked at 0x400000 with `sel4/runtime/task.ld`.
//! 3. The kernel configuration the `sel4` crate generates for comes from `SEL4_CONFIG`; the
//!    source from `SEL4_SOURCE`.
//!
//! Console contract with the runner: one line `test <name> ... ok` or
//! `test <name> ... FAILED: <why>` per test, lines `measure <name> <value>` that must be
//! identical between two boots under `-icount shift=0,sleep=off`, and the closing line
//! `<N> passed, <M> failed`, after which the root task calls seL4_DebugHalt.

const CLIENTS: [&str; 2] = ["MEMSERVER_CLIENT_ECHO_ELF", "MEMSERVER_CLIENT_FAULTER_ELF"];

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo::rustc-link-arg-bins=-T{dir}/../../sel4/runtime/task.ld");
    println!("cargo::rerun-if-changed=../../sel4/runtime/task.ld");
    for var in CLIENTS {
        println!("cargo::rerun-if-env-changed={var}");
        match std::env::var(var) {
            Ok(path) if std::path::Path::new(&path).is_file() => {
                println!("cargo::rerun-if-changed={path}");
            }
            Ok(path) => fail(&format!("{var}={path} is not a file (build the client first)")),
            Err(_) => fail(&format!(
                "{var} is not set: build the runtime tests through `cargo xtask`, which builds the client tasks first"
            )),
        }
    }
}

fn fail(message: &str) -> ! {
    eprintln!("memserver-runtime-tests build: {message}");
    std::process::exit(1);
}
