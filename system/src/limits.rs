//! Facts of the machine (`qemu-system-aarch64 -machine virt`), of the loader and of the kernel
//! build that bound a system description. One place for each: xtask checks descriptions against
//! them, the root task and the loader rely on them.

/// Physical address where RAM starts on `virt` (and the kernel's `physBase`).
pub const RAM_BASE: u64 = 0x4000_0000;

/// Largest RAM `virt` maps (its RAM region ends at 256 GiB physical; QEMU's legacy 255 GiB
/// limit). The kernel's physical window (510 GiB from `physBase`) and the root task's server
/// window (512 GiB) are both larger.
pub const MAX_RAM_BYTES: u64 = 255 << 30;

/// Cores a kernel build can run: the loader has one 64 KiB boot stack per core for four cores,
/// and seL4 5.0.0's SMP support is made to work (`docs/SMP.md`) for at most this many.
pub const MAX_CORES: u32 = 4;

/// Memory nodes the memory server's topology holds.
pub const MAX_NODES: usize = 4;

/// Granule of a node's size: the largest buddy block (4 MiB), so every node's RAM splits into
/// whole blocks and node boundaries fall on 2 MiB blocks of the loader and the kernel.
pub const NODE_GRANULE: u64 = 4 << 20;

/// Smallest first node: it holds the kernel, the root task (with every client image), the
/// loader (linked 128 MiB above `RAM_BASE`) and the root task's own objects.
pub const MIN_FIRST_NODE_BYTES: u64 = 256 << 20;

/// Clients listed in one description.
pub const MAX_CLIENTS: usize = 256;

/// Longest client name (bytes).
pub const MAX_NAME_BYTES: usize = 32;

/// A client's image must be linked inside `[CLIENT_IMAGE_START, CLIENT_IMAGE_END)` of its
/// address space (its stack, IPC buffers, magazine pages and heap window lie above).
pub const CLIENT_IMAGE_START: u64 = 0x40_0000;
/// See [`CLIENT_IMAGE_START`].
pub const CLIENT_IMAGE_END: u64 = 0x0800_0000;
/// Pages a client image may occupy (its loadable segments, each rounded to pages): the spawner
/// records at most 512 frames per process, and keeps the rest for stacks and IPC buffers of up
/// to [`MAX_CORES`] threads.
pub const CLIENT_IMAGE_MAX_PAGES: u64 = 448;

/// Distance between a node and itself, and between two different nodes (ACPI SLIT style).
pub const LOCAL_DISTANCE: u8 = 10;
/// See [`LOCAL_DISTANCE`].
pub const REMOTE_DISTANCE: u8 = 20;

/// Largest batch one Refill or Drain may move: the magazine page's slot size
/// (`memserver_protocol::MAX_BATCH`; a test of the root task's build checks they agree).
pub const MAX_BATCH: u32 = 64;

/// Root CNode slots the root task needs whatever the RAM size (its image's pages, untypeds, and
/// about 50 per client at once: image frames, stack, IPC buffer, TCB, paging structures,
/// magazine pages); see `derive::root_cnode_bits`.
pub const ROOT_CNODE_BASE_SLOTS: u64 = 32768;
