//! Generates the kernel interface (syscall numbers, invocation labels and stubs, object types,
//! error codes) from the seL4 5.0.0 source for the kernel configuration in use.
//!
//! Inputs (both optional):
//! - `SEL4_SOURCE`: the `seL4/` folder of sel4-sys 0.0.28 (xtask's private copy); otherwise the
//!   cargo registry copy (fetched with `cargo fetch` on `qemu/kernel-src` if missing).
//! - `SEL4_CONFIG`: the kernel's `autoconf.h`; otherwise `qemu/kernel/config/autoconf-debug.h`
//!   of this repository.
//!
//! Sets `cfg(sel4_debug_build)` when the configuration defines `CONFIG_DEBUG_BUILD`, and
//! `cfg(sel4_smp)` when `CONFIG_MAX_NUM_NODES > 1`.

use sel4_codegen::{Api, Config, SourceTree};
use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-env-changed=SEL4_SOURCE");
    println!("cargo::rerun-if-env-changed=SEL4_CONFIG");
    println!("cargo::rustc-check-cfg=cfg(sel4_debug_build)");
    println!("cargo::rustc-check-cfg=cfg(sel4_smp)");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let config_path = std::env::var_os("SEL4_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../qemu/kernel/config/autoconf-debug.h"));
    println!("cargo::rerun-if-changed={}", config_path.display());
    let config_text = std::fs::read_to_string(&config_path).unwrap_or_else(|e| {
        fail(&format!(
            "cannot read kernel config {}: {e}",
            config_path.display()
        ))
    });
    let config = Config::from_autoconf(&config_text).unwrap_or_else(|e| fail(&e.to_string()));
    let source = SourceTree::locate_or_fetch(
        std::env::var_os("SEL4_SOURCE").map(PathBuf::from),
        SourceTree::default_cargo_home(),
        &manifest.join("../qemu/kernel-src/Cargo.toml"),
    )
    .unwrap_or_else(|e| fail(&e.to_string()));
    let api = Api::load(&source, &config).unwrap_or_else(|e| fail(&e.to_string()));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    write(&out.join("types.rs"), &sel4_codegen::emit::emit_types(&api));
    write(
        &out.join("invocations.rs"),
        &sel4_codegen::emit::emit_invocations(&api),
    );
    if config.is_defined("CONFIG_DEBUG_BUILD") {
        println!("cargo::rustc-cfg=sel4_debug_build");
    }
    if config.get("CONFIG_MAX_NUM_NODES").unwrap_or(1) > 1 {
        println!("cargo::rustc-cfg=sel4_smp");
    }
}

fn write(path: &std::path::Path, text: &str) {
    std::fs::write(path, text)
        .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", path.display())));
}

fn fail(message: &str) -> ! {
    eprintln!("sel4 build: {message}");
    std::process::exit(1);
}
