//! The client tasks: what the system description lists ([`ClientSpec`]), the table of running
//! clients (each a task with one thread per listed core, its CSpace, VSpace, badged endpoints,
//! magazine pages and heap window), starting one, stopping all its threads when it ends, and
//! reclaiming it.
//!
//! Table: one entry per client, `capacity` entries fixed at boot from the memory the root task
//! has for client objects (each client is made from an untyped of `2^CLIENT_MEMORY_BITS` bytes),
//! so the number of clients is bounded by memory, not by a constant. An entry's generation
//! grows at every reclaim; handles given to a supervisor carry it.
//!
//! Ending: a client ends at the first `EXIT` or fault of any of its threads. Its threads are
//! stopped each by its own core (seL4 5.0.0's SMP port cannot stop a thread running on another
//! core): the core that saw the end suspends its own thread and signals every other core with a
//! thread of that client through the notification bound to that core's serve loop, whose loop
//! then suspends its thread ([`MemServer::stop_pending`]). When the last thread is stopped, a
//! client started at boot is reclaimed at once; a client started by a supervisor waits for the
//! supervisor's reap (its accounting stays readable until then) and the supervisor's
//! notification is signalled.
//!
//! Locks: an entry's mutex (held while one of its requests is served, while it is started,
//! stopped or reclaimed); nothing takes two entries. The spawn resources (the root task's object
//! allocator, scratch window, local window, spare client untypeds) are one mutex, taken after an
//! entry's.

use crate::client_window::{map_cnode_bits, ClientMaps};
use crate::frames::SERVER_WINDOW;
use crate::service::{MemServer, FAULT_BIT};
use crate::staging::Magazine;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use memserver::server::{AttachParams, Quota};
use memserver::topology::MAX_CORES;
use memserver::PurgeReport;
use memserver_client_sel4::abi;
use sel4::cap_type::{CNode, Endpoint, Notification, Tcb};
use sel4::{init_thread, Cap, CapRights, Fault, ObjectBlueprint, Word};
use sel4_root_task::{
    spawn, AllocError, LocalWindow, ObjectAllocator, Process, ProcessSpec, Scratch, SharedPage,
    SpawnError, MAX_THREADS,
};

/// Priority of clients: the root task's, as the IPC fastpath requires.
const PRIORITY: u8 = 255;
/// Each client's untyped (image, stacks, IPC buffers, CSpace, paging structures, mapping CNode,
/// magazine pages).
pub const CLIENT_MEMORY_BITS: u8 = 22;
const CLIENT_STACK_PAGES: usize = 16;
/// Root CNode slots of a client besides its image frames and threads: its CNode, mapping CNode,
/// paging structures (including those its heap window grows), a supervisor's objects.
const CLIENT_FIXED_SLOTS: usize = 24;
/// Root CNode slots per thread: TCB, stack, IPC buffer, magazine page (and its root copy),
/// staging page.
const THREAD_SLOTS: usize = 1 + CLIENT_STACK_PAGES + 1 + 2 + 1;
/// Most table entries: kernel badges are 28 bits (client endpoint badges are `index + 1`, below
/// the flag bits of `service`) and the frame records name a client in 16 bits.
pub const MAX_TABLE: usize = u16::MAX as usize;

/// One client of the system description.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub name: String,
    pub elf: &'static [u8],
    /// One thread per core, in this order (the first is the main thread).
    pub cores: Vec<usize>,
    pub quota: Quota,
    /// Started at boot (else only by a supervisor).
    pub at_boot: bool,
    /// Granted the supervisor interface.
    pub supervisor: bool,
    /// Cache debug options in Linux's `slab_debug=` syntax (checked by the description's
    /// parser; the server checks them again at attach).
    pub debug: String,
}

/// Why a client could not be started.
#[derive(Debug, Clone, Copy)]
pub enum StartError {
    Alloc(AllocError),
    Spawn(SpawnError),
    Attach(memserver_protocol::Error),
    Kernel(&'static str, sel4::Error),
    /// Every table entry is in use.
    TableFull,
    /// A listed core the kernel does not run, a repeated core, or more threads than a process
    /// can have.
    BadCores,
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Alloc(e) => write!(f, "allocation: {e:?}"),
            Self::Spawn(e) => write!(f, "spawn: {e:?}"),
            Self::Attach(e) => write!(f, "attach refused: {e:?}"),
            Self::Kernel(step, e) => write!(f, "{step}: {e:?}"),
            Self::TableFull => write!(f, "client table full"),
            Self::BadCores => write!(f, "cores not served by this kernel"),
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
    Exited(Word),
    Faulted(Fault),
}

/// The supervisor interface's objects of a supervisor client (made from its own untyped).
#[derive(Debug, Clone, Copy)]
pub struct Supervision {
    pub inbox: Cap<Endpoint>,
    /// Badged [`abi::CHILD_ENDED_BADGE`]; the object is bound to the supervisor's first thread.
    pub notify: Cap<Notification>,
}

/// One client task.
pub struct Client {
    /// Its entry in the system description.
    pub spec: usize,
    /// Thread `t` runs on `cores[t]`.
    pub cores: Vec<usize>,
    pub threads: Vec<Cap<Tcb>>,
    /// The server's badge (slot and generation).
    pub badge: Word,
    pub mem: ObjectAllocator,
    pub process: Process,
    pub maps: ClientMaps,
    /// Its magazine page of each of its cores and the staging page the server uses instead, by
    /// core.
    pub magazines: [Option<Magazine>; MAX_CORES],
    pub ending: Ending,
    /// Cores whose thread of this client may still run (bit per core) after it ended.
    pub to_stop: u32,
    /// The supervisor that started it: (table index, generation).
    pub parent: Option<(usize, u32)>,
    pub supervision: Option<Supervision>,
}

impl Client {
    /// Whether it ended and every thread is stopped.
    pub fn stopped(&self) -> bool {
        self.ending != Ending::Running && self.to_stop == 0
    }

    /// Its magazine pages for `core`, if it has a thread there.
    #[inline(always)]
    pub fn magazine_of(&self, core: usize) -> Option<&Magazine> {
        self.magazines.get(core)?.as_ref()
    }
}

/// A table entry (small: the table has an entry for every client the memory allows).
#[derive(Default)]
pub struct Entry {
    pub generation: u32,
    pub client: Option<Box<Client>>,
}

/// What the root task makes clients from.
pub struct Spawner {
    pub alloc: ObjectAllocator,
    pub scratch: Scratch,
    pub window: LocalWindow,
    /// Reclaimed client allocators (untyped and slots), reused by the next clients.
    pub spare: Vec<ObjectAllocator>,
}

impl Spawner {
    /// A client allocator with at least `slots` root slots: a spare one, else a new child of the
    /// root allocator.
    fn client_memory(&mut self, slots: usize) -> Result<ObjectAllocator, AllocError> {
        match self.spare.iter().position(|m| m.slot_capacity() >= slots) {
            Some(i) => Ok(self.spare.swap_remove(i)),
            None => self.alloc.child(CLIENT_MEMORY_BITS, slots),
        }
    }

    /// Gives the root task's window slots of a client's magazine and staging pages back, once
    /// the client's memory was recycled (the revoke deleted those frames, which unmapped them).
    fn release_pages(&mut self, magazines: &[Option<Magazine>]) {
        for m in magazines.iter().flatten() {
            self.window.release(m.shared.local_vaddr);
            self.window.release(m.staging);
        }
    }

    /// Empties a client allocator and keeps it for the next client (dropped if the revoke fails).
    pub fn recycle(&mut self, mut mem: ObjectAllocator) -> Result<(), AllocError> {
        mem.reclaim()?;
        self.spare.push(mem);
        Ok(())
    }
}

impl MemServer {
    /// Starts client `spec` of the system description with user arguments `args`; `parent` is
    /// the supervisor starting it. Returns its table index and generation.
    pub fn start_client(
        &self,
        spec_index: usize,
        args: [Word; 3],
        parent: Option<(usize, u32, Cap<Endpoint>)>,
    ) -> Result<(usize, u32), StartError> {
        let spec = self.specs.get(spec_index).ok_or(StartError::BadCores)?;
        let cores = &spec.cores;
        let bad_core = |c: &usize| *c >= MAX_CORES || *c >= self.endpoints.len();
        let repeated = cores
            .iter()
            .enumerate()
            .any(|(i, c)| cores[..i].contains(c));
        if cores.is_empty() || cores.len() > MAX_THREADS || cores.iter().any(bad_core) || repeated {
            return Err(StartError::BadCores);
        }
        let (index, mut entry) = self
            .clients
            .iter()
            .enumerate()
            .find_map(|(i, c)| {
                let g = c.lock();
                g.client.is_none().then_some((i, g))
            })
            .ok_or(StartError::TableFull)?;
        let mut sp = self.spawner.lock();
        let mut mem = sp.client_memory(slots_for(spec))?;
        let sp = &mut *sp;
        let map_bits = map_cnode_bits(spec.quota.bytes, self.platform.total_frames());
        let made = self.make_client(sp, &mut mem, spec, index, map_bits, parent.map(|p| p.2));
        let (process, threads, magazines, cnode, supervision) = match made {
            Ok(v) => v,
            Err(e) => {
                let _ = sp.recycle(mem);
                return Err(e);
            }
        };
        self.mappings.lock().open_client(index as u16, map_bits);
        let offset = abi::HEAP_WINDOW.wrapping_sub(SERVER_WINDOW);
        let mut pages = [0; MAX_CORES];
        for &c in cores {
            pages[c] = magazines[c].map_or(0, |m| m.staging);
        }
        let params = AttachParams {
            pages,
            offset,
            quota: spec.quota,
            slab_debug: &spec.debug,
        };
        // SAFETY: each staging page is mapped read-write at its address in the root task, page
        // aligned, used for nothing else, and stays mapped until `reclaim` (which detaches
        // first).
        let badge = match unsafe { self.server.attach(&params) } {
            Ok(b) => b,
            Err(f) => {
                if sp.recycle(mem).is_ok() {
                    sp.release_pages(&magazines);
                }
                return Err(StartError::Attach(f.error));
            }
        };
        let started = (|| {
            for (t, &c) in cores.iter().enumerate() {
                let args = [c as Word, args[0], args[1], args[2]];
                process.start_thread(threads[t], t, args)?;
            }
            Ok::<_, StartError>(())
        })();
        if let Err(e) = started {
            for &t in &threads {
                let _ = t.tcb_suspend();
            }
            let _ = self.server.detach(badge);
            if sp.recycle(mem).is_ok() {
                sp.release_pages(&magazines);
            }
            return Err(e);
        }
        if let Some(s) = supervision {
            let word = s.notify.bits() | (entry.generation as u64) << 32;
            self.notify[index].store(word, Ordering::Release);
        }
        self.release.cnodes[index].store(cnode.bits(), Ordering::Release);
        let generation = entry.generation;
        entry.client = Some(Box::new(Client {
            spec: spec_index,
            cores: cores.clone(),
            threads,
            badge,
            mem,
            process,
            maps: ClientMaps::new(cnode, offset),
            magazines,
            ending: Ending::Running,
            to_stop: 0,
            parent: parent.map(|p| (p.0, p.1)),
            supervision,
        }));
        Ok((index, generation))
    }

    /// The task, its threads (not started), magazine pages, mapping CNode (of `map_bits` bits)
    /// and, for a supervisor, its inbox and notification; everything from `mem`.
    #[allow(clippy::type_complexity)]
    fn make_client(
        &self,
        sp: &mut Spawner,
        mem: &mut ObjectAllocator,
        spec: &ClientSpec,
        index: usize,
        map_bits: usize,
        parent_inbox: Option<Cap<Endpoint>>,
    ) -> Result<
        (
            Process,
            Vec<Cap<Tcb>>,
            [Option<Magazine>; MAX_CORES],
            Cap<CNode>,
            Option<Supervision>,
        ),
        StartError,
    > {
        let first = spec.cores[0];
        let pspec = ProcessSpec {
            elf: spec.elf,
            priority: PRIORITY,
            cnode_size_bits: abi::CNODE_BITS,
            stack_pages: CLIENT_STACK_PAGES,
            fault_endpoint: self.endpoints[first],
            fault_badge: FAULT_BIT | index as Word,
            caps: &[],
            affinity: first,
        };
        let mut process = spawn(mem, &mut sp.scratch, init_thread::ASID_POOL, &pspec)?;
        let send = CapRights {
            write: true,
            read: false,
            grant: true,
        };
        let root = init_thread::CNODE;
        let kernel = |step| move |e| StartError::Kernel(step, e);
        let mut threads = Vec::new();
        let mut magazines = [None; MAX_CORES];
        for (t, &c) in spec.cores.iter().enumerate() {
            let ep = root.relative(self.endpoints[c]);
            process
                .slot(abi::server_ep_slot(c))
                .mint(&ep, send, index as Word + 1)
                .map_err(kernel("CNode_Mint (server endpoint)"))?;
            if t == 0 {
                threads.push(process.tcb);
            } else {
                let fault = abi::fault_ep_slot(c);
                process
                    .slot(fault)
                    .mint(&ep, send, FAULT_BIT | index as Word)
                    .map_err(kernel("CNode_Mint (fault endpoint)"))?;
                threads.push(process.add_thread(mem, t, fault, c)?);
            }
            let shared = SharedPage::create(
                mem,
                &mut process,
                abi::magazine_vaddr(c),
                &mut sp.window,
                &mut sp.alloc,
            )?;
            let frame = mem.allocate(ObjectBlueprint::SmallPage)?;
            let staging = sp.window.map_existing(&mut sp.alloc, frame)?;
            magazines[c] = Some(Magazine { shared, staging });
        }
        let cnode: Cap<CNode> = mem.allocate(ObjectBlueprint::CNode {
            size_bits: map_bits,
        })?;
        if let Some(inbox) = parent_inbox {
            process
                .slot(abi::PARENT_SLOT)
                .mint(&root.relative(inbox), send, index as Word + 1)
                .map_err(kernel("CNode_Mint (parent inbox)"))?;
        }
        let supervision = if spec.supervisor {
            let inbox: Cap<Endpoint> = mem.allocate(ObjectBlueprint::Endpoint)?;
            let object: Cap<Notification> = mem.allocate(ObjectBlueprint::Notification)?;
            let slot = mem.slot()?;
            root.relative_bits_with_depth(slot, sel4::WORD_BITS)
                .mint(
                    &root.relative(object),
                    CapRights::read_write(),
                    abi::CHILD_ENDED_BADGE,
                )
                .map_err(kernel("CNode_Mint (child-ended notification)"))?;
            let notify: Cap<Notification> = Cap::from_bits(slot);
            let sup_ep = root.relative(self.endpoints[first]);
            process
                .slot(abi::SUPERVISOR_SLOT)
                .mint(
                    &sup_ep,
                    send,
                    crate::service::SUPERVISOR_BIT | index as Word,
                )
                .map_err(kernel("CNode_Mint (supervisor)"))?;
            process
                .slot(abi::INBOX_SLOT)
                .copy(&root.relative(inbox), CapRights::read_write())
                .map_err(kernel("CNode_Copy (inbox)"))?;
            process
                .tcb
                .tcb_bind_notification(object)
                .map_err(kernel("TCB_BindNotification (supervisor)"))?;
            Some(Supervision { inbox, notify })
        } else {
            None
        };
        Ok((process, threads, magazines, cnode, supervision))
    }

    /// Client `index` ended (`ending`), seen by the serve loop of `core`: suspends its thread on
    /// `core` and asks the other cores with a thread of it to stop theirs. Nothing if it had
    /// ended already. Whether a client started at boot was reclaimed.
    pub fn end_client(&self, core: usize, index: usize, ending: Ending) -> bool {
        let Some(slot) = self.clients.get(index) else {
            return false;
        };
        let mut entry = slot.lock();
        let Some(c) = entry.client.as_mut() else {
            return false;
        };
        if c.ending != Ending::Running {
            return false;
        }
        c.ending = ending;
        for (t, &tc) in c.cores.iter().enumerate() {
            if tc == core {
                // This core runs its serve loop now, so its thread of the client is not running.
                let _ = c.threads[t].tcb_suspend();
            } else {
                c.to_stop |= 1 << tc;
            }
        }
        let pending = c.to_stop;
        for other in 0..self.endpoints.len() {
            if pending & (1 << other) != 0 {
                self.stops[other].signal();
            }
        }
        pending == 0 && self.after_stop(&mut entry, index)
    }

    /// Suspends the threads on `core` of clients that ended (this core's serve loop runs, so
    /// none of them runs). Whether a client started at boot was reclaimed.
    pub fn stop_pending(&self, core: usize) -> bool {
        let mut reclaimed = false;
        for (index, slot) in self.clients.iter().enumerate() {
            let mut entry = slot.lock();
            let Some(c) = entry.client.as_mut() else {
                continue;
            };
            if c.to_stop & (1 << core) == 0 {
                continue;
            }
            if let Some(t) = c.cores.iter().position(|&tc| tc == core) {
                let _ = c.threads[t].tcb_suspend();
            }
            c.to_stop &= !(1 << core);
            if c.to_stop == 0 {
                reclaimed |= self.after_stop(&mut entry, index);
            }
        }
        reclaimed
    }

    /// Every thread of the ended client in `entry` is stopped: tells its supervisor, or reclaims
    /// a client started at boot (or whose supervisor is gone); whether it reclaimed it.
    fn after_stop(&self, entry: &mut Entry, index: usize) -> bool {
        let Some(c) = entry.client.as_ref() else {
            return false;
        };
        match c
            .parent
            .and_then(|(p, generation)| self.notify_of(p, generation))
        {
            Some(n) => {
                n.signal();
                false
            }
            _ => {
                let name = self.specs.get(c.spec).map_or("?", |s| s.name.as_str());
                match c.ending {
                    Ending::Exited(s) => {
                        sel4_root_task::debug_println!(
                            "memserver: client {name} exited with status {s}"
                        )
                    }
                    Ending::Faulted(f) => {
                        sel4_root_task::debug_println!("memserver: client {name} faulted: {f:?}")
                    }
                    Ending::Running => {}
                }
                if let Err(e) = self.reclaim_entry(entry, index) {
                    sel4_root_task::debug_println!("memserver: reclaim of {name} failed: {e:?}");
                }
                true
            }
        }
    }

    /// Reclaims every ended client whose supervisor is gone (it cannot be reaped any more).
    /// Called by a serve loop holding no entry.
    pub fn reap_orphans(&self) {
        for (index, slot) in self.clients.iter().enumerate() {
            let mut entry = slot.lock();
            let orphan = entry.client.as_ref().is_some_and(|c| {
                c.stopped()
                    && c.parent
                        .is_some_and(|(p, g)| self.notify_of(p, g).is_none())
            });
            if orphan {
                if let Err(e) = self.reclaim_entry(&mut entry, index) {
                    sel4_root_task::debug_println!("memserver: reclaim of entry {index}: {e:?}");
                }
            }
        }
    }

    /// Reclaims the client of `entry` (index `index`), whose threads are all stopped: detaches
    /// it (everything it owned returns to the buddy layer), forgets its mappings, revokes its
    /// untyped (its task, CSpace, VSpace, mapping CNode, magazine pages and, for a supervisor,
    /// inbox and notification go away) and moves the entry to its next generation. Returns what
    /// the server purged (`None` if the client had detached itself).
    pub fn reclaim_entry(
        &self,
        entry: &mut Entry,
        index: usize,
    ) -> Result<Option<PurgeReport>, AllocError> {
        let Some(c) = entry.client.take() else {
            return Ok(None);
        };
        entry.generation = entry.generation.wrapping_add(1);
        let report = self.server.detach(c.badge).ok();
        {
            let mut m = self.mappings.lock();
            m.forget_client(index as u16);
            self.release.cnodes[index].store(0, Ordering::Release);
            self.notify[index].store(0, Ordering::Release);
        }
        let mut sp = self.spawner.lock();
        sp.recycle(c.mem)?;
        sp.release_pages(&c.magazines);
        Ok(report)
    }
}

/// Root CNode slots a client of `spec` needs: its image's frames, its threads and the fixed part.
fn slots_for(spec: &ClientSpec) -> usize {
    image_pages(spec.elf) + spec.cores.len() * THREAD_SLOTS + CLIENT_FIXED_SLOTS
}

/// Pages the loadable segments of the ELF64 image `elf` cover (0 for what is not one: spawning
/// it then fails with its own error).
fn image_pages(elf: &[u8]) -> usize {
    let u16_at = |o: usize| {
        elf.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(|b: [u8; 8]| u64::from_le_bytes(b) as usize)
    };
    let (Some(phoff), Some(size), Some(count)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return 0;
    };
    const PT_LOAD: usize = 1;
    let page = sel4::PAGE_SIZE;
    (0..count)
        .filter_map(|i| {
            let h = phoff.checked_add(i.checked_mul(size)?)?;
            let kind = elf
                .get(h..h + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))?;
            let (vaddr, memsz) = (u64_at(h + 0x10)?, u64_at(h + 0x28)?);
            (kind as usize == PT_LOAD).then(|| {
                let end = vaddr.saturating_add(memsz).div_ceil(page);
                end.saturating_sub(vaddr / page)
            })
        })
        .sum()
}
