//! Compiles the C test programs in `c/` with the host C compiler against the generated
//! `memserver.h` (from memserver-client-c's build script) and links them into this crate, so the
//! tests call the C API exactly as a C program does: through the header's declarations.
fn main() {
    let include = std::env::var("DEP_MEMSERVER_CLIENT_C_INCLUDE")
        .expect("memserver-client-c's build script exports its include folder");
    println!("cargo::rerun-if-changed=c");
    cc::Build::new()
        .file("c/api_test.c")
        .include(&include)
        .flag("-std=c11")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("capi_test");
}
