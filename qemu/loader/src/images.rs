//! Owns the two images embedded at build time: the seL4 kernel ELF and the root-task ELF, whose paths
//! `cargo xtask` passes in `MEMSERVER_KERNEL_ELF` and `MEMSERVER_ROOT_TASK_ELF`. Both are kept
//! 4 KiB aligned so the ELF parser can read their headers in place.

#[repr(C, align(4096))]
struct Aligned<B: ?Sized>(B);

static KERNEL: &Aligned<[u8]> = &Aligned(*include_bytes!(env!("MEMSERVER_KERNEL_ELF")));
static ROOT_TASK: &Aligned<[u8]> = &Aligned(*include_bytes!(env!("MEMSERVER_ROOT_TASK_ELF")));

pub fn kernel() -> &'static [u8] {
    &KERNEL.0
}

pub fn root_task() -> &'static [u8] {
    &ROOT_TASK.0
}

/// Cores the kernel was configured for (its CONFIG_MAX_NUM_NODES); `cargo xtask` passes it in
/// `MEMSERVER_KERNEL_NODES` (default 1). The loader starts exactly this many cores.
const KERNEL_NODES: u64 = parse_count(match option_env!("MEMSERVER_KERNEL_NODES") {
    Some(s) => s.as_bytes(),
    None => b"1",
});

const fn parse_count(digits: &[u8]) -> u64 {
    assert!(!digits.is_empty(), "MEMSERVER_KERNEL_NODES is empty");
    let mut n = 0u64;
    let mut i = 0;
    while i < digits.len() {
        assert!(
            digits[i].is_ascii_digit(),
            "MEMSERVER_KERNEL_NODES is not a number"
        );
        n = n * 10 + (digits[i] - b'0') as u64;
        i += 1;
    }
    assert!(n >= 1 && n <= 4, "MEMSERVER_KERNEL_NODES must be 1..=4");
    n
}

pub fn kernel_nodes() -> u64 {
    KERNEL_NODES
}
