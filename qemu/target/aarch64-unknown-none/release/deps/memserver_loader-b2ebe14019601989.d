/work/main/qemu/target/aarch64-unknown-none/release/deps/memserver_loader-b2ebe14019601989.d: loader/src/main.rs loader/src/console.rs loader/src/counters.rs loader/src/entry.rs loader/src/handoff.rs loader/src/image.rs loader/src/images.rs loader/src/mmu.rs loader/src/phys.rs loader/src/smp.rs /work/main/target-h3/sel4-kernel/build-debug-2core/kernel.elf /work/main/target-h3/xtask/images/debug-2core/root-task.elf Cargo.toml

/work/main/qemu/target/aarch64-unknown-none/release/deps/libmemserver_loader-b2ebe14019601989.rmeta: loader/src/main.rs loader/src/console.rs loader/src/counters.rs loader/src/entry.rs loader/src/handoff.rs loader/src/image.rs loader/src/images.rs loader/src/mmu.rs loader/src/phys.rs loader/src/smp.rs /work/main/target-h3/sel4-kernel/build-debug-2core/kernel.elf /work/main/target-h3/xtask/images/debug-2core/root-task.elf Cargo.toml

loader/src/main.rs:
loader/src/console.rs:
loader/src/counters.rs:
loader/src/entry.rs:
loader/src/handoff.rs:
loader/src/image.rs:
loader/src/images.rs:
loader/src/mmu.rs:
loader/src/phys.rs:
loader/src/smp.rs:
/work/main/target-h3/sel4-kernel/build-debug-2core/kernel.elf:
/work/main/target-h3/xtask/images/debug-2core/root-task.elf:
Cargo.toml:

# env-dep:CLIPPY_ARGS=
# env-dep:CLIPPY_CONF_DIR
# env-dep:MEMSERVER_KERNEL_ELF=/work/main/target-h3/sel4-kernel/build-debug-2core/kernel.elf
# env-dep:MEMSERVER_KERNEL_NODES
# env-dep:MEMSERVER_ROOT_TASK_ELF=/work/main/target-h3/xtask/images/debug-2core/root-task.elf
