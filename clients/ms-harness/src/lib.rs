//! The memory-server harness's vocabulary, shared by its test driver (`harness-driver`) and its
//! scenario clients (`ms-alpha`, `ms-beta`, `ms-gamma`, `ms-rogue`, `ms-bench`): what a scenario
//! client is asked to do (its start arguments), what it reports to the driver (checks and figures,
//! over the send capability to the driver's inbox that the root task gives every client a
//! supervisor starts), and the adversarial list. Nothing here is part of the product's ABI.
#![no_std]
#![forbid(unsafe_code)]

/// Start argument indexes (the product's `[core, a0, a1, a2]`: a0 the mode, a1 the client's
/// number in its test, a2 a mode-specific value).
pub mod arg {
    pub const CORE: usize = memserver_client_sel4::abi::arg::CORE;
    pub const MODE: usize = memserver_client_sel4::abi::arg::USER;
    pub const ID: usize = memserver_client_sel4::abi::arg::USER + 1;
    pub const PARAM: usize = memserver_client_sel4::abi::arg::USER + 2;
}

/// Labels of the messages a scenario client sends the driver.
pub mod label {
    /// One check: words `[check id, passed (0/1), value, expected]`.
    pub const CHECK: u64 = 1;
    /// A figure: words `[figure id, value]`.
    pub const FIGURE: u64 = 2;
    /// Whether the driver lets the client go on: reply word 0 is 1 or 0.
    pub const POLL: u64 = 3;
}

/// Figure ids.
pub mod figure {
    /// Messages the client sent to the server.
    pub const MESSAGES: u64 = 1;
    /// Objects the client allocated (each counted once).
    pub const OBJECTS: u64 = 2;
    /// Memory node the client's allocation landed on.
    pub const NODE: u64 = 3;
    /// Constructor runs the client counted.
    pub const CTOR_RUNS: u64 = 4;
    /// A client address the root task should look at (e.g. a victim's object).
    pub const ADDRESS: u64 = 5;
    /// The server core the handshake named.
    pub const CORE: u64 = 6;
    /// Guest instructions (PMU cycle counter under `-icount shift=0`) of 1000 allocations
    /// through magazines, refills included.
    pub const ALLOC_1000_INSTRUCTIONS: u64 = 7;
    /// The same for 1000 frees, drains included.
    pub const FREE_1000_INSTRUCTIONS: u64 = 8;
    /// `ms-bench`: objects (or alloc+free pairs) in the measured window.
    pub const BENCH_OBJECTS: u64 = 9;
    /// `ms-bench`: guest instructions of the window's alloc+free pairs through magazines.
    pub const BENCH_PAIR_INSTRUCTIONS: u64 = 10;
    /// `ms-bench`: messages sent in the measured window.
    pub const BENCH_MESSAGES: u64 = 11;
    /// `ms-bench`: guest instructions of the window's allocations, magazines off.
    pub const BENCH_ALLOC_INSTRUCTIONS: u64 = 12;
    /// `ms-bench`: guest instructions of the window's frees, magazines off.
    pub const BENCH_FREE_INSTRUCTIONS: u64 = 13;
    /// `ms-bench`: guest instructions of alloc-then-free pairs that never leave the magazine.
    pub const BENCH_LOCAL_PAIR_INSTRUCTIONS: u64 = 14;
    /// `ms-bench`: the wire handle of its cache (the root task times the server's own work on it).
    pub const BENCH_CACHE_HANDLE: u64 = 15;
    /// `ms-bench`: guest instructions of `mode::bench::PINGS` register-only `PING`
    /// round trips through the memory server's serve loop.
    pub const BENCH_PING_INSTRUCTIONS: u64 = 16;
}

/// The adversarial list (the protocol issue's bad inputs), one check id per row, in this order;
/// the rogue client sends each row and reports the error code it got against the expected one.
pub const ADVERSARIAL_ROWS: [&str; 29] = [
    "unknown_label",
    "message_shorter_than_its_operation",
    "message_longer_than_its_operation",
    "batch_count_above_the_limit",
    "magazine_slot_outside_the_page",
    "garbage_address_in_a_drained_magazine",
    "foreign_address_in_a_drained_magazine",
    "duplicated_address_in_a_drained_magazine",
    "forged_cache_handle",
    "stale_cache_handle",
    "destroyed_cache_handle",
    "another_clients_object_freed",
    "double_free",
    "interior_pointer",
    "pointer_never_allocated",
    "kmalloc_refill_of_size_zero",
    "kmalloc_too_large",
    "cache_object_too_large",
    "quota_exhausted",
    "red_zone_overwritten",
    "write_after_free_in_a_poisoned_cache",
    "unknown_flag",
    "good_then_bad_address_in_a_drained_magazine",
    "cache_of_size_zero",
    "cache_name_with_a_space",
    "cache_name_frame_with_trailing_bytes",
    "slabinfo_cursor_past_the_end",
    "wrong_protocol_version",
    "detach_with_live_objects",
];

/// Start modes of the client images (argument [`arg::MODE`]).
pub mod mode {
    /// Every image: its part of the `cargo xtask run` demo.
    pub const DEMO: u64 = 0;
    /// `ms-alpha`.
    pub mod alpha {
        /// Cache lifecycle with constructor counts.
        pub const LIFECYCLE: u64 = 1;
        /// Batches through magazines, then one by one.
        pub const BATCHES: u64 = 2;
        /// Allocates patterned objects, reports their addresses, waits until the driver lets it
        /// go on (`report::poll`, while another client attacks), then checks them.
        pub const VICTIM: u64 = 3;
        /// Large blocks filling the local node and more; reports their addresses.
        pub const NODE: u64 = 4;
        /// A thread on each of two cores: each kmallocs blocks through its own core, then frees
        /// the other's (allocated on the other core); the first thread checks nothing is left.
        pub const TWO_CORES: u64 = 5;
        /// A thread on each of two cores: the first holds blocks and waits, the second faults.
        pub const SECOND_THREAD_FAULTS: u64 = 6;
        /// A thread on each of two cores: the second writes the start parameter (another
        /// client's object) over the first one's magazine page while the first refills; then the
        /// first reads that address (must fault: it was never mapped into this client).
        pub const SCRIBBLED: u64 = 7;
        /// A cache and a few objects, held until the driver lets it go on; then everything goes
        /// back.
        pub const BRIEF: u64 = 8;
    }
    /// `ms-beta`.
    pub mod beta {
        pub const KMALLOC: u64 = 1;
        pub const GLOBAL: u64 = 2;
        /// The rest of Linux's slab API over IPC: `kmalloc_node`, `kmem_cache_alloc_node`, the
        /// bulk calls, `krealloc`, and a write past a red-zoned kmalloc's requested size read
        /// back from the violation log (the client is started with `slab_debug` red zones on
        /// `kmalloc-32`).
        pub const LINUX_API: u64 = 3;
    }
    /// `ms-gamma`.
    pub mod gamma {
        pub const SLABINFO: u64 = 1;
        /// Allocates one by one until the quota (its object limit is the start parameter) stops it.
        pub const QUOTA: u64 = 2;
    }
    /// `ms-rogue`.
    pub mod rogue {
        /// The adversarial rows; the start parameter is a victim's object address.
        pub const ADVERSARIAL: u64 = 1;
        /// Allocates, then touches an unmapped address.
        pub const FAULT: u64 = 2;
        /// Allocates, then returns from main with live objects.
        pub const EXIT: u64 = 3;
        /// Frees a large block, then reads it (must fault: the block is unmapped at its free).
        pub const USE_AFTER_FREE: u64 = 4;
        /// Fills slabs of a cache, frees every object (keeping one live object of another cache
        /// in the same buddy block), creates the cache [`super::super::SIGNAL_CACHE`], waits
        /// until another client's out-of-memory shrink has released the freed slabs, then writes
        /// to one of them (must fault: the release unmapped it).
        pub const STALE_OWNER: u64 = 5;
        /// Waits for [`super::super::SIGNAL_CACHE`] to exist, then takes 4 MiB blocks until the
        /// server reports out of memory (after shrinking every cache), checks its blocks, frees them.
        pub const SHRINKER: u64 = 6;
        /// With a small metadata quota, tries to exhaust the server's memory: creates caches
        /// until refused, then fills a `STORE_USER` cache until refused (each refusal must be
        /// `QuotaExceeded` naming the metadata limit, with its usage within the quota), frees
        /// everything and waits for the driver's signal cache to exist before it exits, so
        /// another client is served while it holds its metadata.
        pub const METADATA_HOG: u64 = 7;
    }
    /// `ms-bench`.
    pub mod bench {
        /// Bursts of alloc then free through magazines of 32 (refills and drains amortised).
        pub const MAGAZINES: u64 = 1;
        /// Magazines off: one message per alloc and per free.
        pub const DIRECT: u64 = 2;
        /// Alloc-then-free pairs of the `MAGAZINES` mode that stay inside the magazine.
        pub const LOCAL_PAIRS: u64 = 4096;
        /// Register-only round trips to the serve loop with no work, timed together.
        pub const PINGS: u64 = 256;
    }
}

/// The cache `rogue::STALE_OWNER` creates once its objects are freed (the shrinker waits for it).
pub const SIGNAL_CACHE: &str = "iso_freed";

/// The victim's pattern: word `i` of object `k` (48-byte objects, six words each).
pub const fn victim_word(k: usize, i: usize) -> u64 {
    0x5a5a_0000_0000_0000 | ((k as u64) << 16) | i as u64
}

/// Victim objects and their size.
pub const VICTIM_OBJECTS: usize = 8;
pub const VICTIM_SIZE: usize = 48;

#[cfg(target_arch = "aarch64")]
mod reporting;
#[cfg(target_arch = "aarch64")]
pub use reporting::{console, report, Checks, Reporter};

/// Prints a line through the root task's console (`console()`, on aarch64).
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let mut c = $crate::console();
        let _ = writeln!(c, $($arg)*);
    }};
}
