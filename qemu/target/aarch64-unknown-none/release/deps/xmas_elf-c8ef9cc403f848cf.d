/work/main/qemu/target/aarch64-unknown-none/release/deps/xmas_elf-c8ef9cc403f848cf.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/xmas-elf-0.10.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/xmas-elf-0.10.0/src/header.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/xmas-elf-0.10.0/src/sections.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/xmas-elf-0.10.0/src/program.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/xmas-elf-0.10.0/src/symbol_table.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/xmas-elf-0.10.0/src/dynamic.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/xmas-elf-0.10.0/src/hash.rs

/work/main/qemu/target/aarch64-unknown-none/release/deps/libxmas_elf-c8ef9cc403f848cf.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/xmas-elf-0.10.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/xmas-elf-0.10.0/src/header.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/xmas-elf-0.10.0/src/sections.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/xmas-elf-0.10.0/src/program.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/xmas-elf-0.10.0/src/symbol_table.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/xmas-elf-0.10.0/src/dynamic.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/xmas-elf-0.10.0/src/hash.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/xmas-elf-0.10.0/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/xmas-elf-0.10.0/src/header.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/xmas-elf-0.10.0/src/sections.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/xmas-elf-0.10.0/src/program.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/xmas-elf-0.10.0/src/symbol_table.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/xmas-elf-0.10.0/src/dynamic.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/xmas-elf-0.10.0/src/hash.rs:
