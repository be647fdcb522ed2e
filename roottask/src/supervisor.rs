//! The supervisor interface ([`memserver_client_sel4::abi::supervisor`]): what a client the
//! system description grants it may ask of the root task. It starts clients listed to start on request (they get a send
//! capability to the supervisor's inbox), learns how each ended, reaps them (reading their
//! accounting first, if it likes), and reads the server's statistics. A supervisor acts only on
//! its own children: a handle names a table entry and its generation, and the entry must record
//! this supervisor (and its generation) as the parent.
//!
//! Every operation is decoded from untrusted words; a refusal is a [`SupervisorError`] code as
//! the reply label and changes nothing. Runs in the serve loop of the supervisor's core, holding
//! at most one client entry at a time.

use crate::clients::{Client, Ending};
use crate::service::MemServer;
use memserver_client_sel4::abi::supervisor::{self as op, fault, state, stats};
use memserver_protocol::{Message, MSG_REGISTERS};
use sel4::{with_ipc_buffer_mut, Fault, MessageInfo, Word};

/// Why a supervisor operation was refused (its code is the reply label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum SupervisorError {
    /// The caller is not a supervisor (cannot happen: only supervisors hold the badge).
    NotSupervisor = 1,
    /// Unknown operation or wrong length.
    BadRequest = 2,
    /// No client of the system description at that index, or it is not started on request.
    NotStartable = 3,
    /// The client could not be started (memory, table, kernel); the root task prints why.
    StartFailed = 4,
    /// The handle names no child of this supervisor (never was, or reaped).
    UnknownChild = 5,
    /// The child is still running.
    StillRunning = 6,
    /// The child did not end by an exit (`PROFILE` needs its server state intact), or the
    /// server refused a timed operation.
    NotProfilable = 7,
    /// The address is not in the child's heap window.
    NotMapped = 8,
}

type Reply = Result<usize, SupervisorError>;

impl MemServer {
    /// Serves supervisor operation `msg` of client `index` on `core`; returns the reply tag
    /// (words in `msg`, past the registers in the IPC buffer).
    pub(crate) fn supervise(&self, core: usize, index: usize, msg: &mut Message) -> MessageInfo {
        match self.supervise_inner(core, index, msg) {
            Ok(len) => {
                if len > MSG_REGISTERS {
                    let words = &msg.words[MSG_REGISTERS..len];
                    with_ipc_buffer_mut(|ipc| ipc.msg[MSG_REGISTERS..len].copy_from_slice(words));
                }
                MessageInfo::new(0, 0, 0, len)
            }
            Err(e) => MessageInfo::new(e as u64, 0, 0, 0),
        }
    }

    fn supervise_inner(&self, core: usize, index: usize, msg: &mut Message) -> Reply {
        let (me, inbox) = {
            let entry = self
                .clients
                .get(index)
                .ok_or(SupervisorError::NotSupervisor)?;
            let e = entry.lock();
            let c = e.client.as_ref().ok_or(SupervisorError::NotSupervisor)?;
            let s = c.supervision.ok_or(SupervisorError::NotSupervisor)?;
            ((index, e.generation), s.inbox)
        };
        let w = msg.words;
        let need = |n: usize| {
            if msg.len == n {
                Ok(())
            } else {
                Err(SupervisorError::BadRequest)
            }
        };
        match msg.label {
            op::START => {
                need(4)?;
                let spec = w[0] as usize;
                if self.specs.get(spec).is_none_or(|s| s.at_boot) {
                    return Err(SupervisorError::NotStartable);
                }
                let (i, generation) = self
                    .start_client(spec, [w[1], w[2], w[3]], Some((me.0, me.1, inbox)))
                    .map_err(|e| {
                        sel4_root_task::debug_println!(
                            "memserver: client {} not started: {e}",
                            self.specs[spec].name
                        );
                        SupervisorError::StartFailed
                    })?;
                msg.words[0] = op::handle(i, generation);
                Ok(1)
            }
            op::STATUS => {
                need(1)?;
                let s = self.with_child(me, w[0], |c, _| status(c))?;
                msg.words[..3].copy_from_slice(&s);
                Ok(3)
            }
            op::REAP => {
                need(1)?;
                let (i, _) = split(w[0]);
                let slot = self.clients.get(i).ok_or(SupervisorError::UnknownChild)?;
                let mut entry = slot.lock();
                let c = entry.client.as_ref().ok_or(SupervisorError::UnknownChild)?;
                if !is_child(me, w[0], entry.generation, c) {
                    return Err(SupervisorError::UnknownChild);
                }
                if !c.stopped() {
                    return Err(SupervisorError::StillRunning);
                }
                let report = self.reclaim_entry(&mut entry, i).map_err(|e| {
                    sel4_root_task::debug_println!("memserver: reap of entry {i}: {e:?}");
                    SupervisorError::StartFailed
                })?;
                let r = report.unwrap_or_default();
                msg.words[..3].copy_from_slice(&[
                    r.live_objects as Word,
                    r.slab_frames as Word,
                    r.large_blocks as Word,
                ]);
                Ok(3)
            }
            op::CLIENT_STATS => {
                need(1)?;
                let (i, _) = split(w[0]);
                let (usage, st, node) = self.with_child(me, w[0], |c, s| {
                    let topology = s.server.allocator().topology();
                    let node = topology.node_of(memserver::topology::CoreId(c.cores[0] as u8));
                    (s.server.usage(c.badge).ok(), status(c)[0], node)
                })?;
                let u = usage.unwrap_or_default();
                let out = &mut msg.words[..stats::client::WORDS];
                out[stats::client::OBJECTS] = u.objects;
                out[stats::client::BYTES] = u.bytes;
                out[stats::client::FRAMES_MAPPED] = self.mapped_frames_of(i) as Word;
                out[stats::client::STATE] = st;
                out[stats::client::NODE] = node.map_or(Word::MAX, |n| n.0 as Word);
                Ok(stats::client::WORDS)
            }
            op::NODE_OF => {
                need(2)?;
                let offset = self.with_child(me, w[0], |c, _| c.maps.offset)?;
                let server = (w[1] as usize).wrapping_sub(offset);
                let node = self
                    .platform
                    .node_of(server)
                    .ok_or(SupervisorError::NotMapped)?;
                msg.words[0] = node.0 as Word;
                Ok(1)
            }
            op::SERVER_STATS => {
                need(0)?;
                self.server_stats(&mut msg.words[..stats::server::WORDS]);
                Ok(stats::server::WORDS)
            }
            op::LOOKUP => {
                need(4)?;
                let n = w[0] as usize;
                if n > op::LOOKUP_NAME_BYTES {
                    return Err(SupervisorError::BadRequest);
                }
                let mut name = [0u8; op::LOOKUP_NAME_BYTES];
                for (i, word) in w[1..4].iter().enumerate() {
                    name[i * 8..i * 8 + 8].copy_from_slice(&word.to_le_bytes());
                }
                let name = &name[..n];
                let i = self
                    .specs
                    .iter()
                    .position(|s| s.name.as_bytes() == name)
                    .ok_or(SupervisorError::NotStartable)?;
                msg.words[0] = i as Word;
                Ok(1)
            }
            op::PROFILE => {
                need(2)?;
                let (i, _) = split(w[0]);
                let (badge, page) = self.with_child(me, w[0], |c, _| {
                    let exited = matches!(c.ending, Ending::Exited(_)) && c.stopped();
                    let page = c.magazine_of(0).map(|m| m.staging);
                    (exited.then_some(c.badge), page)
                })?;
                let (Some(badge), Some(page)) = (badge, page) else {
                    return Err(SupervisorError::NotProfilable);
                };
                let figures = crate::profile::run(self, core, i, badge, page, w[1])
                    .ok_or(SupervisorError::NotProfilable)?;
                msg.words[..figures.len()].copy_from_slice(&figures);
                Ok(figures.len())
            }
            _ => Err(SupervisorError::BadRequest),
        }
    }

    /// Runs `f` on child `handle` of supervisor `me`.
    fn with_child<R>(
        &self,
        me: (usize, u32),
        handle: Word,
        f: impl FnOnce(&Client, &Self) -> R,
    ) -> Result<R, SupervisorError> {
        let (i, _) = split(handle);
        let entry = self
            .clients
            .get(i)
            .ok_or(SupervisorError::UnknownChild)?
            .lock();
        let c = entry.client.as_ref().ok_or(SupervisorError::UnknownChild)?;
        if !is_child(me, handle, entry.generation, c) {
            return Err(SupervisorError::UnknownChild);
        }
        Ok(f(c, self))
    }

    /// The `SERVER_STATS` words.
    fn server_stats(&self, out: &mut [Word]) {
        use stats::server::*;
        let s = self.server.allocator().stats();
        let k = self.counters();
        let (mapped, none_free) = {
            let m = self.mappings.lock();
            let buddy = self.server.allocator().buddy();
            (
                m.mapped_frames(),
                m.check_none_free(self.platform, buddy).is_ok(),
            )
        };
        let (slots, untyped) = {
            let mut sp = self.spawner.lock();
            (sp.alloc.free_slots(), sp.alloc.untyped_pool().free_bytes())
        };
        out[FREE_FRAMES] = s.free_frames as Word;
        out[SLAB_FRAMES] = s.slab_frames as Word;
        out[LARGE_FRAMES] = s.large_frames as Word;
        out[CACHES] = s.real_caches as Word;
        out[OBJECTS_IN_USE] = s.objects_in_use as Word;
        out[CLIENTS] = self.client_count() as Word;
        out[FRAMES_MAPPED_IN_CLIENTS] = mapped as Word;
        out[INVARIANTS_HOLD] = (none_free && self.server.validate().is_ok()) as Word;
        out[ZONES] = self.platform.zones().len() as Word;
        out[SERVING_CORES] = self.serving.load(core::sync::atomic::Ordering::Acquire) as Word;
        out[FRAMES_CHECKED] = self.frames_checked as Word;
        out[MESSAGES] = k.messages;
        out[REGISTER_ONLY] = k.register_only;
        out[OBJECTS_HANDED_OUT] = k.objects;
        out[FRAMES_MAPPED] = k.frames_mapped;
        out[FRAMES_UNMAPPED] = k.frames_unmapped;
        out[MAP_FAILURES] = k.map_failures;
        out[UNMAP_FAILURES] = self
            .release
            .failures
            .load(core::sync::atomic::Ordering::Relaxed);
        out[FREE_SLOTS] = slots as Word;
        out[FREE_UNTYPED_BYTES] = untyped;
        out[FOREIGN_BLOCKS_REFUSED] = k.foreign_refused;
        out[CORES] = self.endpoints.len() as Word;
    }
}

/// The table index and generation a handle names.
fn split(handle: Word) -> (usize, u32) {
    ((handle & 0xffff_ffff) as usize, (handle >> 32) as u32)
}

/// Whether `handle` (whose entry is in `generation` and holds `c`) is a child of `me`.
fn is_child(me: (usize, u32), handle: Word, generation: u32, c: &Client) -> bool {
    split(handle).1 == generation && c.parent == Some(me)
}

/// The `STATUS` words of `c`.
fn status(c: &Client) -> [Word; 3] {
    match c.ending {
        Ending::Running => [state::RUNNING, 0, 0],
        // A child counts as ended once every thread is stopped (then it can be reaped).
        _ if !c.stopped() => [state::RUNNING, 0, 0],
        Ending::Exited(s) => [state::EXITED, s, 0],
        Ending::Faulted(f) => {
            let (kind, addr) = match f {
                Fault::VmFault { addr, .. } => (fault::VM_FAULT, addr),
                Fault::UserException { fault_ip, .. } => (fault::USER_EXCEPTION, fault_ip),
                _ => (fault::OTHER, 0),
            };
            [state::FAULTED, kind, addr]
        }
    }
}
