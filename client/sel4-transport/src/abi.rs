//! The contract between the memserver root task and a client task: where a client finds its
//! capabilities and memory, what its start arguments mean, and the root task's own operations
//! (labels from [`ROOT_LABEL_BASE`] up, which no memory-server operation uses).
//!
//! A client task has one thread per core its system description lists; the thread on core `c`
//! holds the badged endpoint of server core `c` in slot [`server_ep_slot`]`(c)`, uses the magazine
//! page at [`magazine_vaddr`]`(c)`, and starts with the arguments `[c, a0, a1, a2]`
//! ([`arg`]). Every thread runs the task's `main`; object addresses the server returns lie in
//! the heap window at [`HEAP_WINDOW`]. A client ends with [`label::EXIT`] (returning from `main`
//! or any other fault also ends it: a fault of any thread ends the whole client).
//!
//! A client whose system description grants it the supervisor interface also holds
//! [`SUPERVISOR_SLOT`] (root task operations in [`supervisor`]), its inbox endpoint
//! [`INBOX_SLOT`] (the clients it starts hold a badged send capability to it in [`PARENT_SLOT`],
//! badge = the child's table index + 1) and a notification bound to its first thread, signalled
//! with [`CHILD_ENDED_BADGE`] when one of its children ends.

/// Most cores a client thread can be on (the server's per-core limit).
pub const MAX_CORES: usize = 8;

/// Slot of the badged endpoint of server core `core` (held by the client's thread on that core).
pub const fn server_ep_slot(core: usize) -> u64 {
    FIRST_SERVER_EP_SLOT + core as u64
}
/// Slot of the endpoint of the first core the client runs on.
const FIRST_SERVER_EP_SLOT: u64 = 2;
/// Slot of a supervisor's endpoint to the root task's supervisor interface.
pub const SUPERVISOR_SLOT: u64 = FIRST_SERVER_EP_SLOT + MAX_CORES as u64;
/// Slot of a supervisor's inbox (receive right).
pub const INBOX_SLOT: u64 = SUPERVISOR_SLOT + 1;
/// Slot of a client's send capability to the inbox of the supervisor that started it (empty for
/// a client started at boot).
pub const PARENT_SLOT: u64 = SUPERVISOR_SLOT + 2;
/// Slot of the fault endpoint of the client's thread on `core` (the root task fills it).
pub const fn fault_ep_slot(core: usize) -> u64 {
    PARENT_SLOT + 1 + core as u64
}
/// The client's CNode holds `2^CNODE_BITS` slots.
pub const CNODE_BITS: usize = 5;
const _: () = assert!(fault_ep_slot(MAX_CORES - 1) < 1 << CNODE_BITS);

/// The badge a supervisor receives (on its inbox, through its bound notification) when one of
/// its children ended; inbox badges of children stay below it.
pub const CHILD_ENDED_BADGE: u64 = 1 << 27;

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
    /// The core this thread runs on (its endpoint and magazine page are that core's).
    pub const CORE: usize = 0;
    /// The first of three words the supervisor gave at the start (0 for a client started at
    /// boot); `USER + 1` and `USER + 2` are the others.
    pub const USER: usize = 1;
}

/// First root-task label (above every memory-server protocol label).
pub const ROOT_LABEL_BASE: u64 = 0x100;

/// Whether `label` is a root-task operation rather than a memory-server one.
pub const fn is_root_label(label: u64) -> bool {
    label >= ROOT_LABEL_BASE && label < ROOT_LABEL_BASE + 0x100
}

/// Root-task operations any client may send on its server endpoint.
pub mod label {
    /// The client ends: word 0 is its exit status. Not answered.
    pub const EXIT: u64 = super::ROOT_LABEL_BASE;
    /// Answered at once with the same words (a liveness check; the bare cost of the serve loop).
    pub const PING: u64 = super::ROOT_LABEL_BASE + 1;
    /// Console output: word 0 is the byte count (at most [`super::CONSOLE_BYTES`]), the bytes
    /// follow packed little-endian from word 1. Answered with an empty message.
    pub const CONSOLE: u64 = super::ROOT_LABEL_BASE + 2;
}

/// Bytes of one console message.
pub const CONSOLE_BYTES: usize = 8 * 100;

/// The supervisor interface, on [`SUPERVISOR_SLOT`]. Handles name a child: `index | generation
/// << 32`; a stale handle is refused with `BadHandle`. A refused operation replies with the
/// memory-server error code as its label.
pub mod supervisor {
    /// Starts the client listed at `[index in the system description's clients]` with the
    /// arguments `[a0, a1, a2]`; reply `[handle]`.
    pub const START: u64 = super::ROOT_LABEL_BASE + 0x10;
    /// `[handle]`; reply `[state, value, address]` (see [`state`]).
    pub const STATUS: u64 = super::ROOT_LABEL_BASE + 0x11;
    /// `[handle]` of a child that ended; reclaims it. Reply: what the server purged
    /// `[live objects, slab frames, large blocks]`.
    pub const REAP: u64 = super::ROOT_LABEL_BASE + 0x12;
    /// `[handle]`; reply [`ClientStats`](stats::client) words.
    pub const CLIENT_STATS: u64 = super::ROOT_LABEL_BASE + 0x13;
    /// No words; reply [`stats::server`] words (in the IPC buffer past the registers).
    pub const SERVER_STATS: u64 = super::ROOT_LABEL_BASE + 0x14;
    /// `[handle, client address]`; reply `[memory node]` of the frame at that address of the
    /// child's heap window.
    pub const NODE_OF: u64 = super::ROOT_LABEL_BASE + 0x15;
    /// `[byte count, name packed little-endian in up to three words]`: reply `[index]` of the
    /// client of that name in the system description.
    pub const LOOKUP: u64 = super::ROOT_LABEL_BASE + 0x17;
    /// `[handle, wire cache handle]`: the server times its own work on that cache of the child
    /// (which must have ended by an exit and be waiting for its reap); reply [`profile`] words.
    pub const PROFILE: u64 = super::ROOT_LABEL_BASE + 0x16;

    /// Child states (`STATUS` word 0); word 1 and 2 depend on it.
    pub mod state {
        /// Running.
        pub const RUNNING: u64 = 0;
        /// Exited: word 1 is the status.
        pub const EXITED: u64 = 1;
        /// A thread faulted: word 1 is the fault kind ([`super::fault`]), word 2 its address
        /// (the data address of a VM fault, else the instruction address).
        pub const FAULTED: u64 = 2;
    }

    /// Fault kinds.
    pub mod fault {
        pub const VM_FAULT: u64 = 1;
        pub const USER_EXCEPTION: u64 = 2;
        pub const OTHER: u64 = 3;
    }

    /// Word indexes of the stats replies.
    pub mod stats {
        /// `CLIENT_STATS`: live objects, object bytes, frames mapped in its heap window, its
        /// state ([`super::state`]) and the memory node of its first core.
        pub mod client {
            pub const OBJECTS: usize = 0;
            pub const BYTES: usize = 1;
            pub const FRAMES_MAPPED: usize = 2;
            pub const STATE: usize = 3;
            pub const NODE: usize = 4;
            pub const WORDS: usize = 5;
        }
        /// `SERVER_STATS`.
        pub mod server {
            pub const FREE_FRAMES: usize = 0;
            pub const SLAB_FRAMES: usize = 1;
            pub const LARGE_FRAMES: usize = 2;
            pub const CACHES: usize = 3;
            pub const OBJECTS_IN_USE: usize = 4;
            /// Clients in the table (running, or ended and not yet reaped).
            pub const CLIENTS: usize = 5;
            /// Frames mapped in any client's heap window.
            pub const FRAMES_MAPPED_IN_CLIENTS: usize = 6;
            /// 1 if the server's invariants hold and no frame the buddy layer holds free is
            /// mapped in a client.
            pub const INVARIANTS_HOLD: usize = 7;
            /// Memory nodes (buddy zones).
            pub const ZONES: usize = 8;
            /// Cores with a serve loop running.
            pub const SERVING_CORES: usize = 9;
            /// 1 if the boot self-check of the frame capabilities passed.
            pub const FRAMES_CHECKED: usize = 10;
            /// Counters since boot: protocol messages, those that fit in registers, objects
            /// handed out, frames mapped into heap windows, frames unmapped by the release hook,
            /// blocks that could not be mapped, unmappings the kernel refused.
            pub const MESSAGES: usize = 11;
            pub const REGISTER_ONLY: usize = 12;
            pub const OBJECTS_HANDED_OUT: usize = 13;
            pub const FRAMES_MAPPED: usize = 14;
            pub const FRAMES_UNMAPPED: usize = 15;
            pub const MAP_FAILURES: usize = 16;
            pub const UNMAP_FAILURES: usize = 17;
            /// The root task's free CNode slots and free untyped bytes (for client objects).
            pub const FREE_SLOTS: usize = 18;
            pub const FREE_UNTYPED_BYTES: usize = 19;
            /// Blocks a reply named that the allocator does not assign to that client (refused).
            pub const FOREIGN_BLOCKS_REFUSED: usize = 20;
            /// Cores the server runs on.
            pub const CORES: usize = 21;
            pub const WORDS: usize = 22;
        }
    }

    /// `PROFILE` reply words: guest instructions per operation of the server's dispatch alone
    /// (alloc, free, refill of 32, drain of 32, refill and drain of 32 with 256 in flight) and of
    /// the serve loop's whole per-message work without the system call (refill of 32, drain of
    /// 32, alloc, free).
    pub mod profile {
        pub const DISPATCH_ALLOC: usize = 0;
        pub const DISPATCH_FREE: usize = 1;
        pub const DISPATCH_REFILL_32: usize = 2;
        pub const DISPATCH_DRAIN_32: usize = 3;
        pub const DISPATCH_REFILL_32_BURST: usize = 4;
        pub const DISPATCH_DRAIN_32_BURST: usize = 5;
        pub const SERVE_ONE_REFILL_32: usize = 6;
        pub const SERVE_ONE_DRAIN_32: usize = 7;
        pub const SERVE_ONE_ALLOC: usize = 8;
        pub const SERVE_ONE_FREE: usize = 9;
        pub const WORDS: usize = 10;
    }

    /// Longest name [`LOOKUP`] takes.
    pub const LOOKUP_NAME_BYTES: usize = 24;

    /// The handle of table entry `index` in its `generation`.
    pub const fn handle(index: usize, generation: u32) -> u64 {
        index as u64 | (generation as u64) << 32
    }
}
