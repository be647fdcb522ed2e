/work/main/qemu/target/aarch64-unknown-none/release/deps/zero-ec89b35e504181ec.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/zero-0.1.3/src/lib.rs

/work/main/qemu/target/aarch64-unknown-none/release/deps/libzero-ec89b35e504181ec.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/zero-0.1.3/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/zero-0.1.3/src/lib.rs:
