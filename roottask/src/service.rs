//! The memory server on seL4: the allocator core over the frames of [`Sel4Platform`], its
//! clients (each a task with its own CSpace, VSpace, IPC buffer, badged endpoint, magazine page
//! and heap window), and the serve loop of one core's endpoint.
//!
//! Owns: the [`Server`], the frame mappings, the client table and the per-core endpoints. The
//! kernel delivers a request's first four words straight into the serve loop's [`Message`] (the
//! rest, if the tag says there are more, is copied from the IPC buffer); the server decodes and
//! answers in place, and the reply leaves from the same words. After a successful operation that
//! handed out objects, [`handout`] makes each object's block (and each fresh slab reported in the
//! magazine page) reachable in the client's heap window before the reply: one read of the frame
//! records per object, `map_block` only for a block new to the client. Blocks going back to the
//! buddy layer are unmapped from their client inside the allocator, by its release hook
//! ([`WindowRelease`]), whichever client's request (or reclaim) returned them. A fault (the
//! client's fault badge) or a client's `DONE` ends its service; [`MemServer::reclaim`] then
//! detaches it and revokes its untyped. Whether a core still has running clients is recomputed
//! only then, not per message.
//!
//! Concurrency: one serve loop per core (core 0's in the root task's main thread, the others in
//! local threads pinned to their cores), each on its own endpoint, serving only the clients of its
//! core; the main thread starts and reclaims clients. Locks: a client's entry (held once per
//! request, from its dispatch to its reply, and while it is started or reclaimed, so a reclaim
//! never unmaps a magazine page the serve loop reads), then the frame mappings (taken only to map
//! a block new to the client); nothing takes two client entries (another client's mapping CNode
//! is read from an atomic). The per-core counters are atomics written only by their core's serve
//! loop. The server core has its own locking (per core, per node).

use crate::client_window::{ClientMaps, FrameMappings, FrameOwners, WindowRelease, MAP_CNODE_BITS};
use crate::frames::{Sel4Platform, SERVER_WINDOW};
use crate::handout;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use memserver::server::{AttachParams, Quota, Server, ServerConfig};
use memserver::topology::MAX_CORES;
use memserver::{Allocator, PurgeReport};
use memserver_client_sel4::abi;
use memserver_protocol::{Message, MSG_MAX_WORDS, MSG_REGISTERS};
use sel4::cap_type::{CNode, Endpoint, Notification};
use sel4::{
    init_thread, with_ipc_buffer, with_ipc_buffer_mut, Cap, CapRights, Fault, MessageInfo,
    ObjectBlueprint, Word,
};
use sel4_root_task::{
    spawn, AllocError, LocalWindow, ObjectAllocator, Process, ProcessSpec, Scratch, SharedPage,
    SpawnError,
};
use spin::Mutex;

/// Kernel badges (28 bits on aarch64 in 5.0.0) name the client table entry: index + 1 on the
/// client's endpoint capability, this bit plus the index on its fault endpoint. The server's own
/// badge (slot and generation, 64 bits) is kept in the entry and used for dispatch.
pub const FAULT_BIT: Word = 1 << 27;
/// Priority of clients: the root task's, as the IPC fastpath requires.
const PRIORITY: u8 = 255;
/// Each client's untyped (image, stack, IPC buffer, CSpace, paging structures, mapping CNode).
const CLIENT_MEMORY_BITS: u8 = 22;
/// Root CNode slots per client.
const CLIENT_SLOTS: usize = 64;
const CLIENT_STACK_PAGES: usize = 16;
/// Clients served at once.
pub const MAX_CLIENTS: usize = 16;
/// Wake-ups the main thread waits for while another core's clients finish.
const WAIT_WAKEUPS: usize = 10_000;

/// Why a client could not be started.
#[derive(Debug, Clone, Copy)]
pub enum StartError {
    Alloc(AllocError),
    Spawn(SpawnError),
    Attach(memserver_protocol::Error),
    Mint(sel4::Error),
    TableFull,
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Alloc(e) => write!(f, "allocation: {e:?}"),
            Self::Spawn(e) => write!(f, "spawn: {e:?}"),
            Self::Attach(e) => write!(f, "attach refused: {e:?}"),
            Self::Mint(e) => write!(f, "CNode_Mint of the endpoint: {e:?}"),
            Self::TableFull => write!(f, "client table full"),
        }
    }
}

impl From<AllocError> for StartError {
    fn from(e: AllocError) -> Self {
        Self::Alloc(e)
    }
}

impl From<SpawnError> for StartError {
    fn from(e: SpawnError) -> Self {
        Self::Spawn(e)
    }
}

/// How a client's service ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Running,
    /// Sent `DONE` with this many failed checks.
    Done {
        failed: Word,
    },
    Faulted(Fault),
}

/// A check a client reported.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    pub client: usize,
    pub id: Word,
    pub passed: bool,
    pub value: Word,
    pub expected: Word,
}

/// Counters of one run of the serve loop.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    /// Protocol messages served (harness messages not counted).
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
}

/// One core's counters: written only by that core's serve loop (so an add is a load and a store),
/// summed by [`MemServer::counters`], zeroed by [`MemServer::reset_counters`] while the loops are
/// idle.
#[derive(Default)]
#[repr(align(64))]
struct CoreCounters {
    messages: AtomicU64,
    register_only: AtomicU64,
    objects: AtomicU64,
    frames_mapped: AtomicU64,
    map_failures: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    let v = counter.load(Ordering::Relaxed);
    counter.store(v.wrapping_add(n), Ordering::Relaxed);
}

/// One client task.
pub struct MsClient {
    pub id: Word,
    pub core: usize,
    pub badge: Word,
    pub mem: ObjectAllocator,
    pub process: Process,
    pub maps: ClientMaps,
    pub magazine: SharedPage,
    pub ending: Ending,
    pub figures: Vec<(Word, Word)>,
    pub checks_failed: usize,
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
    clients: Vec<Mutex<Option<MsClient>>>,
    pub endpoints: Vec<Cap<Endpoint>>,
    /// Signalled by a serve loop when one of its clients finishes or faults.
    finished: Cap<Notification>,
    /// Reclaimed client allocators (untyped and slots), reused by the next clients.
    spare: Mutex<Vec<ObjectAllocator>>,
    pub checks: Mutex<Vec<Check>>,
    counters: Vec<CoreCounters>,
}

impl MemServer {
    /// The server over `platform` with one endpoint per core.
    pub fn new(
        platform: Sel4Platform,
        cores: usize,
        alloc: &mut ObjectAllocator,
    ) -> Result<Self, StartError> {
        let topology = crate::numa::topology(cores).map_err(|_| StartError::TableFull)?;
        // Built once per boot and used for the life of the root task.
        let platform: &'static Sel4Platform = Box::leak(Box::new(platform));
        let frames = platform.total_frames();
        let mappings: &'static Mutex<FrameMappings> = Box::leak(Box::new(Mutex::new(
            FrameMappings::new(frames, MAX_CLIENTS),
        )));
        let cnodes: &'static [AtomicU64] =
            Box::leak((0..MAX_CLIENTS).map(|_| AtomicU64::new(0)).collect());
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
        .map_err(|_| StartError::TableFull)?;
        let mut endpoints = Vec::new();
        for _ in 0..cores {
            endpoints.push(alloc.allocate::<Endpoint>(ObjectBlueprint::Endpoint)?);
        }
        let finished = alloc.allocate::<Notification>(ObjectBlueprint::Notification)?;
        let owners = mappings.lock().owners();
        Ok(Self {
            server: Server::new(core, ServerConfig::default()),
            platform,
            mappings,
            owners,
            release,
            clients: (0..MAX_CLIENTS).map(|_| Mutex::new(None)).collect(),
            endpoints,
            finished,
            spare: Mutex::new(Vec::new()),
            checks: Mutex::new(Vec::new()),
            counters: (0..cores).map(|_| CoreCounters::default()).collect(),
        })
    }

    /// Runs `f` on client `index`, if it exists.
    pub fn with_client<R>(&self, index: usize, f: impl FnOnce(&MsClient) -> R) -> Option<R> {
        self.clients.get(index)?.lock().as_ref().map(f)
    }

    /// Clients in the table.
    pub fn client_count(&self) -> usize {
        self.clients.iter().filter(|c| c.lock().is_some()).count()
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
        }
        t.frames_unmapped = self.release.unmapped.load(Ordering::Relaxed);
        t
    }

    /// Frames mapped in client `index`'s heap window now.
    pub fn mapped_frames_of(&self, index: usize) -> usize {
        self.mappings.lock().mapped_in(index as u16)
    }

    /// Zeroes the counters (while no serve loop runs).
    pub fn reset_counters(&self) {
        for c in &self.counters {
            for n in [
                &c.messages,
                &c.register_only,
                &c.objects,
                &c.frames_mapped,
                &c.map_failures,
            ] {
                n.store(0, Ordering::Relaxed);
            }
        }
        self.release.unmapped.store(0, Ordering::Relaxed);
    }

    /// Spawns a client task from `elf` on `core` with start arguments `[mode, core, id, param]`,
    /// attaches it to the server with `quota` and starts it. Returns its index.
    #[allow(clippy::too_many_arguments)]
    pub fn start_client(
        &self,
        alloc: &mut ObjectAllocator,
        scratch: &mut Scratch,
        window: &mut LocalWindow,
        elf: &[u8],
        core: usize,
        id: Word,
        mode: Word,
        param: Word,
        quota: Quota,
    ) -> Result<usize, StartError> {
        if core >= MAX_CORES || core >= self.endpoints.len() {
            return Err(StartError::TableFull);
        }
        let (index, mut entry) = self
            .clients
            .iter()
            .enumerate()
            .find_map(|(i, c)| {
                let g = c.lock();
                g.is_none().then_some((i, g))
            })
            .ok_or(StartError::TableFull)?;
        let ep = self.endpoints[core];
        let spare = self.spare.lock().pop();
        let mut mem = match spare {
            Some(m) => m,
            None => alloc.child(CLIENT_MEMORY_BITS, CLIENT_SLOTS)?,
        };
        let spec = ProcessSpec {
            elf,
            priority: PRIORITY,
            cnode_size_bits: 4,
            stack_pages: CLIENT_STACK_PAGES,
            fault_endpoint: ep,
            fault_badge: FAULT_BIT | index as Word,
            caps: &[],
            affinity: core,
        };
        let started = (|| {
            let mut process = spawn(&mut mem, scratch, init_thread::ASID_POOL, &spec)?;
            let magazine = SharedPage::create(
                &mut mem,
                &mut process,
                abi::magazine_vaddr(core),
                window,
                alloc,
            )?;
            let cnode: Cap<CNode> = mem.allocate(ObjectBlueprint::CNode {
                size_bits: MAP_CNODE_BITS,
            })?;
            Ok::<_, StartError>((process, magazine, cnode))
        })();
        let (process, magazine, cnode) = match started {
            Ok(v) => v,
            Err(e) => {
                self.recycle(mem);
                return Err(e);
            }
        };
        let offset = abi::HEAP_WINDOW.wrapping_sub(SERVER_WINDOW);
        let mut pages = [0; MAX_CORES];
        pages[core] = magazine.local_vaddr;
        let params = AttachParams {
            pages,
            offset,
            quota,
        };
        // SAFETY: the magazine page is mapped read-write at `local_vaddr` in the root task, page
        // aligned, used for nothing else, and stays mapped until `reclaim` (which detaches first).
        let badge = match unsafe { self.server.attach(&params) } {
            Ok(b) => b,
            Err(f) => {
                self.recycle(mem);
                return Err(StartError::Attach(f.error));
            }
        };
        let rights = CapRights {
            write: true,
            read: false,
            grant: true,
        };
        let minted = process
            .slot(abi::SERVER_EP_SLOT)
            .mint(&init_thread::CNODE.relative(ep), rights, index as Word + 1)
            .map_err(StartError::Mint)
            .and_then(|()| {
                process
                    .start([mode, core as Word, id, param])
                    .map_err(StartError::Spawn)
            });
        if let Err(e) = minted {
            let _ = self.server.detach(badge);
            self.recycle(mem);
            return Err(e);
        }
        self.release.cnodes[index].store(cnode.bits(), Ordering::Release);
        *entry = Some(MsClient {
            id,
            core,
            badge,
            mem,
            process,
            maps: ClientMaps::new(cnode, offset),
            magazine,
            ending: Ending::Running,
            figures: Vec::new(),
            checks_failed: 0,
        });
        Ok(index)
    }

    /// Whether any client of `core` is still being served.
    pub fn any_running(&self, core: usize) -> bool {
        self.clients.iter().any(|c| {
            c.lock()
                .as_ref()
                .is_some_and(|c| c.core == core && c.ending == Ending::Running)
        })
    }

    /// Blocks until no client of `core` runs (each finish or fault signals a notification);
    /// `false` after too many wake-ups.
    pub fn wait_idle(&self, core: usize) -> bool {
        for _ in 0..WAIT_WAKEUPS {
            if !self.any_running(core) {
                return true;
            }
            self.finished.wait();
        }
        false
    }

    /// Detaches client `index` from the server (everything it owned returns to the buddy layer),
    /// forgets its mappings and revokes its untyped (its task, CSpace, VSpace, mapping CNode and
    /// magazine page go away). Returns what the server purged (`None` if it had detached itself).
    pub fn reclaim(&self, index: usize) -> Result<Option<PurgeReport>, AllocError> {
        let Some(mut c) = self.clients.get(index).and_then(|c| c.lock().take()) else {
            return Ok(None);
        };
        let _ = c.process.suspend();
        let report = self.server.detach(c.badge).ok();
        {
            let mut m = self.mappings.lock();
            m.forget_client(index as u16);
            self.release.cnodes[index].store(0, Ordering::Release);
        }
        c.mem.reclaim()?;
        self.spare.lock().push(c.mem);
        Ok(report)
    }

    /// Empties a client allocator and keeps it for the next client (dropped if the revoke fails).
    fn recycle(&self, mut mem: ObjectAllocator) {
        if mem.reclaim().is_ok() {
            self.spare.lock().push(mem);
        }
    }

    /// Serves core `core`'s endpoint: until no client of the core runs (`until_idle`), or forever.
    /// A core's clients are started before its loop serves them or by the thread running it, and
    /// stop running only by a `DONE` or a fault, so that is when the client table is looked at.
    pub fn serve(&self, core: usize, until_idle: bool) {
        let ep = self.endpoints[core];
        let running = || !until_idle || self.any_running(core);
        let mut msg = Message::default();
        let mut reply: Option<MessageInfo> = None;
        let mut serving = running();
        while serving {
            let regs = registers(&mut msg);
            let (info, badge) = match reply.take() {
                Some(r) => ep.reply_recv_with_mrs(r, regs),
                None => {
                    let (info, badge, m) = ep.recv_with_mrs();
                    *regs = m;
                    (info, badge)
                }
            };
            if badge & FAULT_BIT != 0 {
                self.faulted((badge & !FAULT_BIT) as usize, info, &msg);
                serving = running();
                continue;
            }
            let index = (badge as usize).wrapping_sub(1);
            if abi::is_harness(info.label()) {
                if info.label() == abi::label::PING {
                    reply = Some(MessageInfo::new(0, 0, 0, info.length().min(MSG_REGISTERS)));
                    continue;
                }
                reply = self.harness(index, info, registers(&mut msg));
                if reply.is_none() {
                    serving = running();
                }
                continue;
            }
            reply = Some(self.serve_one(core, index, info, &mut msg));
        }
    }

    /// Records client `index`'s fault (its words in `msg` and the IPC buffer) and says so.
    fn faulted(&self, index: usize, info: MessageInfo, msg: &Message) {
        let fault = Fault::decode(info.label(), |i| word(msg, i));
        if let Some(c) = self.clients.get(index) {
            if let Some(c) = c.lock().as_mut() {
                c.ending = Ending::Faulted(fault);
            }
        }
        self.finished.signal();
    }

    fn harness(&self, index: usize, info: MessageInfo, mrs: &[Word; 4]) -> Option<MessageInfo> {
        let mut entry = self.clients.get(index)?.lock();
        let c = entry.as_mut()?;
        match info.label() {
            abi::label::CHECK => {
                let passed = mrs[1] == 1;
                if !passed {
                    c.checks_failed += 1;
                }
                self.checks.lock().push(Check {
                    client: index,
                    id: mrs[0],
                    passed,
                    value: mrs[2],
                    expected: mrs[3],
                });
            }
            abi::label::FIGURE => c.figures.push((mrs[0], mrs[1])),
            abi::label::DONE => {
                c.ending = Ending::Done { failed: mrs[1] };
                self.finished.signal();
                return None;
            }
            _ => {}
        }
        Some(MessageInfo::new(0, 0, 0, 0))
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
        let Some(c) = entry.as_mut() else {
            return unknown();
        };
        load_message(info, msg);
        let label = msg.label;
        let slot = msg.words[1];
        if let Some(k) = self.counters.get(core) {
            add(&k.messages, 1);
            add(&k.register_only, (msg.len <= MSG_REGISTERS) as u64);
        }
        self.server.dispatch(core, c.badge, msg);
        if msg.label == 0 {
            let handed = handout::after_success(self, core, index, c, label, slot, msg);
            if let Some(k) = self.counters.get(core).filter(|_| handed.objects != 0) {
                add(&k.objects, handed.objects);
                add(&k.frames_mapped, handed.frames_mapped);
                add(&k.map_failures, handed.map_failures);
            }
        }
        drop(entry);
        store_message(msg)
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
