//! The contract between the memserver root task and a client task. The root task spawns a client
//! with its badged endpoint capability (server core `c`) in slot [`SERVER_EP_SLOT`], its magazine
//! page for that core at [`magazine_vaddr`], and its heap window at [`HEAP_WINDOW`] (object
//! addresses the server returns lie there); start arguments are `[mode, core, id, param]`.
//! Harness messages use labels from [`HARNESS_LABEL_BASE`] up, which no protocol operation uses.

/// Slot of the badged endpoint of the client's server core (the first granted capability).
pub const SERVER_EP_SLOT: u64 = 2;
/// Client address of the magazine page for core 0; core `c`'s is [`magazine_vaddr`]`(c)`.
pub const MAGAZINE_BASE: usize = 0x3000_0000;
/// Client address of the heap window: server address of the first buddy frame plus the window
/// offset (the root task sets the offset so that this holds).
pub const HEAP_WINDOW: usize = 0x40_0000_0000;

/// Client address of the magazine page for `core` (a guard page between pages).
pub const fn magazine_vaddr(core: usize) -> usize {
    MAGAZINE_BASE + core * 0x2000
}

/// Start argument indexes.
pub mod arg {
    /// What to do (client specific).
    pub const MODE: usize = 0;
    /// The server core whose endpoint the client holds.
    pub const CORE: usize = 1;
    /// The client's number in the run.
    pub const ID: usize = 2;
    /// A mode-specific value.
    pub const PARAM: usize = 3;
}

/// First harness label (above every protocol label).
pub const HARNESS_LABEL_BASE: u64 = 0x100;

/// Harness labels.
pub mod label {
    /// One check: words `[check id, passed (0/1), value, expected]`.
    pub const CHECK: u64 = super::HARNESS_LABEL_BASE;
    /// A figure: words `[figure id, value]`.
    pub const FIGURE: u64 = super::HARNESS_LABEL_BASE + 1;
    /// The client finished its mode: words `[mode, checks failed]`; the root task does not reply.
    pub const DONE: u64 = super::HARNESS_LABEL_BASE + 2;
    /// Answered at once with the same words (the serve loop's own round trip, for the bench).
    pub const PING: u64 = super::HARNESS_LABEL_BASE + 3;
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
    /// `ms-bench`: guest instructions of `mode::bench::PINGS` register-only [`super::label::PING`]
    /// round trips through the memory server's serve loop.
    pub const BENCH_PING_INSTRUCTIONS: u64 = 16;
}

/// Whether `label` is a harness message.
pub const fn is_harness(label: u64) -> bool {
    label >= HARNESS_LABEL_BASE && label < HARNESS_LABEL_BASE + 0x100
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
    "kmalloc_size_zero",
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
        /// Allocates patterned objects, reports their addresses, and waits.
        pub const VICTIM: u64 = 3;
        /// Large blocks filling the local node and more; reports their addresses.
        pub const NODE: u64 = 4;
    }
    /// `ms-beta`.
    pub mod beta {
        pub const KMALLOC: u64 = 1;
        pub const GLOBAL: u64 = 2;
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
