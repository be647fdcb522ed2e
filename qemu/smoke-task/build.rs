//! Links the smoke task at the user address 0x400000 and generates the few kernel numbers it uses
//! (syscalls, invocation labels, the TCB object type) from the kernel's interface files for the
//! configuration being built (`SEL4_SOURCE`, `SEL4_CONFIG` from xtask; defaults: cargo's registry
//! copy and the debug configuration).
use sel4_codegen::{Api, Config, SourceTree};
use std::fmt::Write;
use std::path::PathBuf;

fn fail(msg: &str) -> ! {
    eprintln!("smoke-task build: {msg}");
    std::process::exit(1);
}

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo::rustc-link-arg-bins=-T{dir}/link.ld");
    println!("cargo::rerun-if-changed=link.ld");
    println!("cargo::rerun-if-env-changed=SEL4_SOURCE");
    println!("cargo::rerun-if-env-changed=SEL4_CONFIG");
    let config_path = std::env::var_os("SEL4_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(&dir).join("../kernel/config/autoconf-debug.h"));
    println!("cargo::rerun-if-changed={}", config_path.display());
    let text = std::fs::read_to_string(&config_path)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", config_path.display())));
    let config = Config::from_autoconf(&text).unwrap_or_else(|e| fail(&e.to_string()));
    let source = SourceTree::locate(
        std::env::var_os("SEL4_SOURCE").map(PathBuf::from),
        SourceTree::default_cargo_home(),
    )
    .unwrap_or_else(|e| fail(&e.to_string()));
    let api = Api::load(&source, &config).unwrap_or_else(|e| fail(&e.to_string()));

    let mut out = String::new();
    for (name, id) in [
        ("UNTYPED_RETYPE", "UntypedRetype"),
        ("TCB_CONFIGURE", "TCBConfigure"),
        ("TCB_WRITE_REGISTERS", "TCBWriteRegisters"),
        ("PAGE_MAP", "ARMPageMap"),
        ("PAGE_UNMAP", "ARMPageUnmap"),
    ] {
        let label = api
            .label(id)
            .unwrap_or_else(|| fail(&format!("no invocation {id}")));
        let _ = writeln!(out, "pub const {name}: u64 = {label};");
    }
    let affinity = api.label("TCBSetAffinity");
    let _ = writeln!(
        out,
        "pub const TCB_SET_AFFINITY: Option<u64> = {affinity:?};"
    );
    let call = api
        .syscall("Call")
        .unwrap_or_else(|| fail("no syscall Call"));
    let _ = writeln!(out, "pub const SYS_CALL: i64 = {call};");
    for (name, sys) in [("SYS_SEND", "Send"), ("SYS_RECV", "Recv")] {
        let n = api
            .syscall(sys)
            .unwrap_or_else(|| fail(&format!("no syscall {sys}")));
        let _ = writeln!(out, "pub const {name}: i64 = {n};");
    }
    // Debug kernels only; a release kernel's root task prints through the UART itself.
    for (name, sys) in [
        ("SYS_DEBUG_PUT_CHAR", "DebugPutChar"),
        ("SYS_DEBUG_HALT", "DebugHalt"),
    ] {
        let n = api
            .syscall(sys)
            .filter(|_| config.is_defined("CONFIG_DEBUG_BUILD"));
        let _ = writeln!(out, "pub const {name}: Option<i64> = {n:?};");
    }
    for (name, c_name) in [
        ("TCB_OBJECT", "seL4_TCBObject"),
        ("SMALL_PAGE_OBJECT", "seL4_ARM_SmallPageObject"),
        ("ENDPOINT_OBJECT", "seL4_EndpointObject"),
    ] {
        let v = api
            .object_types
            .iter()
            .find(|v| v.c_name == c_name)
            .unwrap_or_else(|| fail(&format!("no {c_name}")));
        let _ = writeln!(out, "pub const {name}: u64 = {};", v.value);
    }
    // The fault message label of a VM fault: the `tag VMFault` of the arm fault bitfields.
    let faults = "libsel4/arch_include/arm/sel4/arch/shared_types.bf";
    let text = source.read(faults).unwrap_or_else(|e| fail(&e.to_string()));
    let vm_fault = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("tag VMFault "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or_else(|| fail(&format!("no `tag VMFault` in {faults}")));
    let _ = writeln!(out, "pub const FAULT_VM: u64 = {vm_fault};");
    let nodes = config.get("CONFIG_MAX_NUM_NODES").unwrap_or(1);
    let _ = writeln!(out, "pub const MAX_NUM_NODES: u64 = {nodes};");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out_dir.join("kernel.rs"), out).unwrap_or_else(|e| fail(&e.to_string()));
}
