//! Generates `memserver.h` from this crate's C API with cbindgen (a library here, so nothing needs
//! `cargo install`). The header goes to `$OUT_DIR/memserver.h` and, for C builds, next to the
//! static library: `<target dir>/<triple>/<profile>/include/memserver.h`, the profile folder being
//! the third parent of `OUT_DIR` (cargo's layout `<profile>/build/<package>-<hash>/out`).
//! Dependents' build scripts get `$OUT_DIR` as `DEP_MEMSERVER_CLIENT_C_INCLUDE`.
//!
//! The protocol's error codes enter the header as `MEMSERVER_E_*` macros written from
//! `memserver_protocol::Error` itself, so the enum stays their one source; `ZERO_SIZE_PTR` comes
//! from the protocol's constant the same way.
use memserver_protocol::Error;
use std::fmt::Write;
use std::path::{Path, PathBuf};

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    println!("cargo::rerun-if-changed=src");
    println!("cargo::rerun-if-changed=cbindgen.toml");
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml"))
        .unwrap_or_else(|e| fail(&format!("cbindgen.toml: {e}")));
    let header = cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .with_after_include(protocol_errors() + &zero_size_ptr())
        .generate()
        .unwrap_or_else(|e| fail(&format!("generating memserver.h: {e}")));
    let mut text = Vec::new();
    header.write(&mut text);
    write_if_changed(&out.join("memserver.h"), &text);
    println!("cargo::metadata=include={}", out.display());
    if let Some(profile) = out.ancestors().nth(3) {
        let include = profile.join("include");
        std::fs::create_dir_all(&include)
            .unwrap_or_else(|e| fail(&format!("creating {}: {e}", include.display())));
        write_if_changed(&include.join("memserver.h"), &text);
    }
}

/// One `#define MEMSERVER_E_<NAME> <code>` per protocol error, with its text as the comment.
fn protocol_errors() -> String {
    let mut text = String::from("\n/* The server's verdicts: memserver_protocol::Error. */\n");
    for &e in Error::ALL {
        let message = e.message().to_str().expect("ASCII text");
        let name = screaming_snake(&format!("{e:?}"));
        writeln!(
            text,
            "/* {message} */\n#define MEMSERVER_E_{name} {}",
            e.code()
        )
        .unwrap();
    }
    text
}

/// Linux's `ZERO_SIZE_PTR` and `ZERO_OR_NULL_PTR`, from the protocol's value.
fn zero_size_ptr() -> String {
    format!(
        "\n/* What kmalloc(0) returns, as in Linux: not NULL, but no block (kfree of it does \
         nothing, ksize of it is 0). */\n#define ZERO_SIZE_PTR ((void *){})\n\
         #define ZERO_OR_NULL_PTR(x) ((unsigned long)(x) <= (unsigned long)ZERO_SIZE_PTR)\n",
        memserver_protocol::ops::ZERO_SIZE_PTR
    )
}

/// `QuotaExceeded` → `QUOTA_EXCEEDED`.
fn screaming_snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Writes `text` to `path` unless it already holds exactly that (keeps C builds from rebuilding).
fn write_if_changed(path: &Path, text: &[u8]) {
    if std::fs::read(path).is_ok_and(|old| old == text) {
        return;
    }
    std::fs::write(path, text)
        .unwrap_or_else(|e| fail(&format!("writing {}: {e}", path.display())));
}

fn fail(message: &str) -> ! {
    eprintln!("memserver-client-c build: {message}");
    std::process::exit(1);
}
