//! Links the task with the project's task layout (0x400000, page-separated segments).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo::rustc-link-arg-bins=-T{dir}/../../sel4/runtime/task.ld");
    println!("cargo::rerun-if-changed=../../sel4/runtime/task.ld");
}
