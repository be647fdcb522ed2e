//! Links the loader at its fixed physical address with `link.ld` and names the images it embeds.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-T{dir}/link.ld");
    println!("cargo:rerun-if-changed=link.ld");
    for var in [
        "MEMSERVER_KERNEL_ELF",
        "MEMSERVER_ROOT_TASK_ELF",
        "MEMSERVER_KERNEL_NODES",
        "MEMSERVER_RAM_END",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
}
