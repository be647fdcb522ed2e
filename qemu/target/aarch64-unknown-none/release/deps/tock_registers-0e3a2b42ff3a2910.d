/work/main/qemu/target/aarch64-unknown-none/release/deps/tock_registers-0e3a2b42ff3a2910.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tock-registers-0.10.1/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tock-registers-0.10.1/src/fields.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tock-registers-0.10.1/src/interfaces.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tock-registers-0.10.1/src/macros.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tock-registers-0.10.1/src/debug.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tock-registers-0.10.1/src/local_register.rs

/work/main/qemu/target/aarch64-unknown-none/release/deps/libtock_registers-0e3a2b42ff3a2910.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tock-registers-0.10.1/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tock-registers-0.10.1/src/fields.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tock-registers-0.10.1/src/interfaces.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tock-registers-0.10.1/src/macros.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tock-registers-0.10.1/src/debug.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tock-registers-0.10.1/src/local_register.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tock-registers-0.10.1/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tock-registers-0.10.1/src/fields.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tock-registers-0.10.1/src/interfaces.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tock-registers-0.10.1/src/macros.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tock-registers-0.10.1/src/debug.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tock-registers-0.10.1/src/local_register.rs:
