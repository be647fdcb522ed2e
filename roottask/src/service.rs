//! The memory server on seL4: the allocator core over the frames of [`Sel4Platform`], its
//! clients ([`crate::clients`]) and the serve loop of one core's endpoint.
//!
//! Owns: the [`Server`], the frame mappings, the client table, the per-core endpoints and the
//! per-core stop notifications. The kernel delivers a request's first four words straight into
//! the serve loop's [`Message`] (the rest, if the tag says there are more, is copied from the IPC
//! buffer); the server decodes and answers in place, and the reply leaves from the same words.
//! After a successful operation that handed out objects, [`handout`] makes each object's block
//! reachable in the client's heap window before the reply. Blocks going back to the buddy layer
//! are unmapped from their client inside the allocator, by its release hook ([`WindowRelease`]),
//! whichever client's request (or reclaim) returned them.
//!
//! Badges on a core's endpoint (28 bits): `index + 1` for a client thread's requests,
//! [`FAULT_BIT`]` | index` for its faults, [`SUPERVISOR_BIT`]` | index` for a supervisor's
//! operations, [`SERVER_FAULT_BIT`]` | core` (on core 0's endpoint) for a fault of the root
//! task's own server thread of that core; the serve loop's bound notification arrives with [`STOP_BIT`] (threads of ended
//! clients to stop on this core). Root-task operations ([`abi::label`]) come on the client
//! endpoint with labels no protocol operation uses.
//!
//! Concurrency: one serve loop per core (core 0's in the root task's main thread, the others in
//! local threads pinned to their cores), each on its own endpoint. Locks: a client's entry (held
//! once per request, from its dispatch to its reply), then the spawn resources or the frame
//! mappings; nothing takes two client entries (another client's mapping CNode and a supervisor's
//! notification are read from atomics). The per-core counters are atomics written only by their
//! core's serve loop. The server core has its own locking (per core, per node).

use crate::client_window::{FrameMappings, FrameOwners, WindowRelease};
use crate::clients::{ClientSpec, Ending, Entry, Spawner, MAX_TABLE};
use crate::frames::Sel4Platform;
use crate::{handout, staging};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use memserver::server::{Server, ServerConfig};
use memserver::Allocator;
use memserver_client_sel4::abi;
use memserver_protocol::{Message, MSG_MAX_WORDS, MSG_REGISTERS};
use sel4::cap_type::{Endpoint, Notification};
use sel4::{
    init_thread, with_ipc_buffer, with_ipc_buffer_mut, Cap, Fault, MessageInfo, ObjectBlueprint,
    Word,
};
use sel4_root_task::{debug_print, AllocError};
use spin::Mutex;

/// Badge bit of a client thread's faults (its fault endpoint capability).
pub const FAULT_BIT: Word = 1 << 27;
/// Badge bit of the serve loop's bound notification: threads to stop on this core.
pub const STOP_BIT: Word = 1 << 26;
/// Badge bit of a supervisor's operations.
pub const SUPERVISOR_BIT: Word = 1 << 25;
/// Badge bit of a fault of one of the root task's own server threads (on core 0's endpoint; the
/// low bits name its core).
pub const SERVER_FAULT_BIT: Word = 1 << 24;
/// Low badge bits naming the client table entry.
const INDEX_MASK: Word = (1 << 24) - 1;

/// Why the server could not be built.
#[derive(Debug, Clone, Copy)]
pub enum SetupError {
    Alloc(AllocError),
    /// The topology or the allocator core refused the memory description.
    Allocator,
    Kernel(&'static str, sel4::Error),
}

impl core::fmt::Display for SetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Alloc(e) => write!(f, "allocation: {e:?}"),
            Self::Allocator => write!(f, "the allocator core refused the topology or memory"),
            Self::Kernel(step, e) => write!(f, "{step}: {e:?}"),
        }
    }
}

impl From<AllocError> for SetupError {
    fn from(e: AllocError) -> Self {
        Self::Alloc(e)
    }
}

/// Counters since boot, summed over the cores.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    /// Protocol messages served (root-task operations not counted).
    pub messages: u64,
    /// Messages that fit in registers (the fastpath shape).
    pub register_only: u64,
    /// Objects handed out (one per Alloc/Kmalloc, the count of a Refill/KmallocRefill).
    pub objects: u64,
    /// Frames newly mapped into heap windows.
    pub frames_mapped: u64,
    /// Frames unmapped from a client because their block went back to the buddy layer (counted
    /// by the release hook, on every core).
    pub frames_unmapped: u64,
    /// Blocks that could not be mapped (the client would fault on them).
    pub map_failures: u64,
    /// Handed-out addresses whose block the allocator does not assign to that client (not
    /// mapped).
    pub foreign_refused: u64,
}

/// One core's counters: written only by that core's serve loop (so an add is a load and a
/// store), summed by [`MemServer::counters`].
#[derive(Default)]
#[repr(align(64))]
pub(crate) struct CoreCounters {
    messages: AtomicU64,
    register_only: AtomicU64,
    objects: AtomicU64,
    frames_mapped: AtomicU64,
    map_failures: AtomicU64,
    foreign_refused: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    let v = counter.load(Ordering::Relaxed);
    counter.store(v.wrapping_add(n), Ordering::Relaxed);
}

/// The memory server.
pub struct MemServer {
    pub server: Server,
    pub platform: &'static Sel4Platform,
    pub mappings: &'static Mutex<FrameMappings>,
    /// The frame records of `mappings`, read without its lock.
    pub(crate) owners: FrameOwners,
    /// The allocator's release hook; also holds each entry's mapping CNode (readable without the
    /// entry's lock).
    pub release: &'static WindowRelease,
    pub(crate) clients: Vec<Mutex<Entry>>,
    /// Each supervisor entry's bound notification (cap bits | generation << 32; 0: none).
    pub(crate) notify: Vec<AtomicU64>,
    /// The clients of the system description.
    pub specs: Vec<ClientSpec>,
    pub endpoints: Vec<Cap<Endpoint>>,
    /// Each core's serve-loop notification (signalled with [`STOP_BIT`]), and the object itself
    /// (bound to that core's serve loop).
    pub(crate) stops: Vec<Cap<Notification>>,
    pub(crate) stop_objects: Vec<Cap<Notification>>,
    pub(crate) spawner: Mutex<Spawner>,
    counters: Vec<CoreCounters>,
    /// Serve loops running.
    pub(crate) serving: AtomicUsize,
    /// Whether the boot self-check of the frame capabilities passed.
    pub frames_checked: bool,
}

impl MemServer {
    /// The server over `platform` with one endpoint per core and a table for `capacity`
    /// clients (the server attaches as many); clients are made from `spawner`; a Refill or Drain
    /// moves at most `max_batch` objects.
    pub fn new(
        platform: Sel4Platform,
        topology: memserver::topology::Topology,
        specs: Vec<ClientSpec>,
        mut spawner: Spawner,
        capacity: usize,
        max_batch: usize,
    ) -> Result<Self, SetupError> {
        let cores = topology.cores();
        let capacity = capacity.clamp(1, MAX_TABLE);
        // Built once per boot and used for the life of the root task.
        let platform: &'static Sel4Platform = Box::leak(Box::new(platform));
        let frames = platform.total_frames();
        let mappings: &'static Mutex<FrameMappings> =
            Box::leak(Box::new(Mutex::new(FrameMappings::new(frames, capacity))));
        let cnodes: &'static [AtomicU64] =
            Box::leak((0..capacity).map(|_| AtomicU64::new(0)).collect());
        let release: &'static WindowRelease = Box::leak(Box::new(WindowRelease {
            platform,
            mappings,
            cnodes,
            unmapped: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }));
        let core = Allocator::with_release(
            topology,
            memserver::platform::Platform::memory(platform),
            Some(release),
        )
        .map_err(|_| SetupError::Allocator)?;
        // What is left of the heap once the server's own tables (page map, frame mappings)
        // are made bounds the metadata of all clients together.
        let metadata_budget = crate::heap::metadata_budget(crate::heap::free_bytes());
        let alloc = &mut spawner.alloc;
        let mut endpoints = Vec::new();
        let mut stops = Vec::new();
        let mut stop_objects = Vec::new();
        for _ in 0..cores {
            endpoints.push(alloc.allocate::<Endpoint>(ObjectBlueprint::Endpoint)?);
            let n = alloc.allocate::<Notification>(ObjectBlueprint::Notification)?;
            let slot = alloc.slot()?;
            init_thread::CNODE
                .relative_bits_with_depth(slot, sel4::WORD_BITS)
                .mint(
                    &init_thread::CNODE.relative(n),
                    sel4::CapRights::read_write(),
                    STOP_BIT,
                )
                .map_err(|e| SetupError::Kernel("CNode_Mint (stop notification)", e))?;
            stops.push(Cap::from_bits(slot));
            stop_objects.push(n);
            if stops.len() == 1 {
                init_thread::TCB
                    .tcb_bind_notification(n)
                    .map_err(|e| SetupError::Kernel("TCB_BindNotification (core 0)", e))?;
            }
        }
        let owners = mappings.lock().owners();
        Ok(Self {
            server: Server::new(
                core,
                ServerConfig {
                    max_clients: capacity,
                    max_batch: max_batch.clamp(1, memserver_protocol::MAX_BATCH),
                    metadata_budget,
                },
            ),
            platform,
            mappings,
            owners,
            release,
            clients: (0..capacity)
                .map(|_| Mutex::new(Entry::default()))
                .collect(),
            notify: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            specs,
            endpoints,
            stops,
            stop_objects,
            spawner: Mutex::new(spawner),
            counters: (0..cores).map(|_| CoreCounters::default()).collect(),
            serving: AtomicUsize::new(0),
            frames_checked: false,
        })
    }

    /// The notification of supervisor `index` if it is still in `generation`.
    pub(crate) fn notify_of(&self, index: usize, generation: u32) -> Option<Cap<Notification>> {
        let w = self.notify.get(index)?.load(Ordering::Acquire);
        (w != 0 && (w >> 32) as u32 == generation).then(|| Cap::from_bits(w & 0xffff_ffff))
    }

    /// Table entries (clients served at once, at most).
    pub fn capacity(&self) -> usize {
        self.clients.len()
    }

    /// Clients in the table.
    pub fn client_count(&self) -> usize {
        self.clients
            .iter()
            .filter(|c| c.lock().client.is_some())
            .count()
    }

    /// Whether any client is in the table.
    pub fn any_client(&self) -> bool {
        self.clients.iter().any(|c| c.lock().client.is_some())
    }

    /// The counters of all cores, summed.
    pub fn counters(&self) -> Counters {
        let mut t = Counters::default();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        for c in &self.counters {
            t.messages += get(&c.messages);
            t.register_only += get(&c.register_only);
            t.objects += get(&c.objects);
            t.frames_mapped += get(&c.frames_mapped);
            t.map_failures += get(&c.map_failures);
            t.foreign_refused += get(&c.foreign_refused);
        }
        t.frames_unmapped = self.release.unmapped.load(Ordering::Relaxed);
        t
    }

    /// Frames mapped in client `index`'s heap window now.
    pub fn mapped_frames_of(&self, index: usize) -> usize {
        self.mappings.lock().mapped_in(index as u16)
    }

    /// Starts every client the system description lists to start at boot; the names of those
    /// that could not be started, with why.
    pub fn start_boot_clients(&self) {
        for (i, spec) in self.specs.iter().enumerate().filter(|(_, s)| s.at_boot) {
            if let Err(e) = self.start_client(i, [0; 3], None) {
                sel4_root_task::debug_println!("memserver: client {} not started: {e}", spec.name);
            }
        }
    }

    /// Serves core `core`'s endpoint forever.
    pub fn serve(&self, core: usize) -> ! {
        self.serving.fetch_add(1, Ordering::AcqRel);
        let ep = self.endpoints[core];
        let mut msg = Message::default();
        let mut reply: Option<MessageInfo> = None;
        loop {
            let regs = registers(&mut msg);
            let (info, badge) = match reply.take() {
                Some(r) => ep.reply_recv_with_mrs(r, regs),
                None => {
                    let (info, badge, m) = ep.recv_with_mrs();
                    *regs = m;
                    (info, badge)
                }
            };
            let index = (badge & INDEX_MASK) as usize;
            if badge & (FAULT_BIT | STOP_BIT | SUPERVISOR_BIT | SERVER_FAULT_BIT) != 0 {
                if badge & SERVER_FAULT_BIT != 0 {
                    let fault = Fault::decode(info.label(), |i| word(&msg, i));
                    server_thread_faulted(index, fault);
                }
                let reclaimed = if badge & FAULT_BIT != 0 {
                    let fault = Fault::decode(info.label(), |i| word(&msg, i));
                    self.end_client(core, index, Ending::Faulted(fault))
                } else if badge & STOP_BIT != 0 {
                    self.stop_pending(core)
                } else {
                    load_message(info, &mut msg);
                    reply = Some(self.supervise(core, index, &mut msg));
                    false
                };
                self.after_reclaim(reclaimed);
                continue;
            }
            let index = index.wrapping_sub(1);
            if abi::is_root_label(info.label()) {
                if info.label() == abi::label::EXIT {
                    let reclaimed = self.end_client(core, index, Ending::Exited(msg.words[0]));
                    self.after_reclaim(reclaimed);
                    continue;
                }
                reply = self.root_operation(info, &mut msg);
                continue;
            }
            reply = Some(self.serve_one(core, index, info, &mut msg));
        }
    }

    /// Once a client started at boot was reclaimed: reclaims the ended children of a supervisor
    /// that is gone; if no client is left, says so and halts.
    fn after_reclaim(&self, reclaimed: bool) {
        if !reclaimed {
            return;
        }
        self.reap_orphans();
        if !self.any_client() {
            sel4_root_task::debug_println!("memserver: all clients ended");
            sel4::debug_halt();
        }
    }

    /// A root-task operation other than `EXIT`; the reply.
    fn root_operation(&self, info: MessageInfo, msg: &mut Message) -> Option<MessageInfo> {
        match info.label() {
            abi::label::PING => Some(MessageInfo::new(0, 0, 0, info.length().min(MSG_REGISTERS))),
            abi::label::CONSOLE => {
                load_message(info, msg);
                console(&msg.words[..msg.len]);
                Some(MessageInfo::new(0, 0, 0, 0))
            }
            _ => {
                let code = memserver_protocol::Error::UnknownLabel.code();
                Some(MessageInfo::new(code, 0, 0, 0))
            }
        }
    }

    /// One protocol request of client `index` whose tag is `info` and whose first words are in
    /// `msg` (the rest in the IPC buffer): dispatch, map the blocks of what was handed out, reply.
    /// Returns the reply's tag; its words are in `msg` and, past the registers, in the IPC buffer.
    pub(crate) fn serve_one(
        &self,
        core: usize,
        index: usize,
        info: MessageInfo,
        msg: &mut Message,
    ) -> MessageInfo {
        let unknown = || {
            let code = memserver_protocol::Error::UnknownClient.code();
            MessageInfo::new(code, 0, 0, 0)
        };
        // No such entry cannot happen (reclaim revokes every capability with its badge).
        let Some(mut entry) = self.clients.get(index).map(|e| e.lock()) else {
            return unknown();
        };
        let Some(c) = entry.client.as_mut() else {
            return unknown();
        };
        load_message(info, msg);
        let label = msg.label;
        let slot = msg.words[1];
        if let Some(k) = self.counters.get(core) {
            add(&k.messages, 1);
            add(&k.register_only, (msg.len <= MSG_REGISTERS) as u64);
        }
        if staging::reads_page(label) {
            if let Some(m) = c.magazine_of(core) {
                m.stage_request(label, &msg.words);
            }
        }
        self.server.dispatch(core, c.badge, msg);
        if msg.label == 0 {
            let handed = handout::after_success(self, core, index, c, label, slot, msg);
            if staging::writes_page(label, &msg.words) {
                if let Some(m) = c.magazine_of(core) {
                    m.publish_reply(label, slot, &msg.words);
                }
            }
            if let Some(k) = self.counters.get(core).filter(|_| handed.objects != 0) {
                add(&k.objects, handed.objects);
                add(&k.frames_mapped, handed.frames_mapped);
                add(&k.map_failures, handed.map_failures);
                add(&k.foreign_refused, handed.foreign_refused);
            }
        }
        drop(entry);
        store_message(msg)
    }
}

/// A server thread of the root task faulted (a bug of the root task): the clients of its core
/// can no longer be served, so the memory server says so and stops the system.
#[cold]
fn server_thread_faulted(core: usize, fault: Fault) -> ! {
    sel4_root_task::debug_println!(
        "memserver: the server thread of core {core} faulted: {fault:?}; halting"
    );
    sel4::debug_halt()
}

/// Prints console bytes: word 0 the count, the bytes packed from word 1.
fn console(words: &[Word]) {
    let Some((&n, rest)) = words.split_first() else {
        return;
    };
    let n = (n as usize).min(rest.len() * 8).min(abi::CONSOLE_BYTES);
    let mut buf = [0u8; abi::CONSOLE_BYTES];
    for (i, w) in rest.iter().enumerate().take(n.div_ceil(8)) {
        buf[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    match core::str::from_utf8(&buf[..n]) {
        Ok(s) => debug_print!("{s}"),
        Err(_) => debug_print!("{}", alloc::string::String::from_utf8_lossy(&buf[..n])),
    }
}

/// The message's first words: where the kernel's message registers go and come from.
fn registers(msg: &mut Message) -> &mut [Word; MSG_REGISTERS] {
    const { assert!(MSG_REGISTERS <= MSG_MAX_WORDS) };
    msg.words
        .first_chunk_mut()
        .expect("a message holds its registers (asserted above)")
}

fn word(msg: &Message, i: usize) -> Word {
    if i < MSG_REGISTERS {
        msg.words[i]
    } else {
        with_ipc_buffer(|ipc| ipc.msg.get(i).copied().unwrap_or(0))
    }
}

/// The request's tag into `msg`, and its words past the registers from the IPC buffer (the
/// registers are in `msg` already).
fn load_message(info: MessageInfo, msg: &mut Message) {
    let len = info.length().min(MSG_MAX_WORDS);
    msg.label = info.label();
    msg.len = len;
    if len > MSG_REGISTERS {
        with_ipc_buffer(|ipc| {
            msg.words[MSG_REGISTERS..len].copy_from_slice(&ipc.msg[MSG_REGISTERS..len])
        });
    }
}

/// The reply's words past the registers into the IPC buffer (the registers leave from `msg`);
/// returns its tag.
fn store_message(msg: &Message) -> MessageInfo {
    let len = msg.len.min(MSG_MAX_WORDS);
    if len > MSG_REGISTERS {
        with_ipc_buffer_mut(|ipc| {
            ipc.msg[MSG_REGISTERS..len].copy_from_slice(&msg.words[MSG_REGISTERS..len])
        });
    }
    MessageInfo::new(msg.label, 0, 0, len)
}
