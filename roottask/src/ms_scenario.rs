//! The memory server's on-target tests (issue 5): the root task serves client tasks that allocate
//! over seL4 IPC, each in its own address space. Every test starts its clients, serves them (core
//! 0's endpoint in this thread, the other cores' in their server threads) until each has said DONE
//! or faulted, checks what the clients reported and what the server holds, and reclaims the
//! clients. The demo runs first; the last test checks that all clients are gone and the accounting
//! is back at its starting value.

use crate::failure::{ms_expect, MsFailure};
use crate::frames::Sel4Platform;
use crate::harness::Harness;
use crate::images;
use crate::scenario::Env;
use crate::service::{Ending, MemServer, StartError};
use alloc::format;
use alloc::vec::Vec;
use memserver::server::Quota;
use memserver::Stats;
use memserver_client_sel4::abi::{self, figure, mode};
use sel4::{init_thread, Cap, CapRights, Fault, Word};
use sel4_root_task::{debug_println, spawn_local_thread, LocalThreadSpec};

/// The core most tests serve on (the root task's main thread serves it).
const CORE: usize = 0;
/// Priority of the server threads: the root task's and the clients' (the IPC fastpath needs it).
const PRIORITY: u8 = 255;

/// The memory server, shared by the serve loops of all cores.
static MEMSERVER: spin::Once<MemServer> = spin::Once::new();

/// Runs every memory-server test.
pub fn run_all(env: &mut Env, cores: usize, h: &mut Harness) {
    let platform = match Sel4Platform::build(&mut env.alloc) {
        Ok(p) => p,
        Err(e) => {
            debug_println!("memserver: platform: {e}");
            h.record_ms(
                "memserver_platform_built",
                Err(MsFailure::Setup("untyped to frames")),
            );
            return;
        }
    };
    let ms = match MemServer::new(platform, cores, &mut env.alloc) {
        Ok(ms) => ms,
        Err(e) => {
            debug_println!("memserver: server: {e}");
            h.record_ms("memserver_platform_built", Err(MsFailure::Setup("server")));
            return;
        }
    };
    h.record_ms("memserver_platform_built", check_platform(&ms));
    let ms: &MemServer = MEMSERVER.call_once(|| ms);
    let start = ms.server.allocator().stats();
    if cores > 1 {
        h.record_ms(
            "one_server_thread_per_core",
            start_server_threads(env, cores),
        );
    }

    h.record_ms("demo_three_clients", demo(env, ms));
    h.record_ms(
        "cache_lifecycle_with_constructor_counts",
        one(
            env,
            ms,
            images::MS_ALPHA,
            mode::alpha::LIFECYCLE,
            0,
            Quota::UNLIMITED,
        ),
    );
    h.record_ms(
        "kmalloc_every_class_and_a_large_block",
        one(
            env,
            ms,
            images::MS_BETA,
            mode::beta::KMALLOC,
            0,
            Quota::UNLIMITED,
        ),
    );
    h.record_ms("batches_through_magazines", batches(env, ms, h));
    if cores == 1 {
        crate::ms_bench::run_all(env, ms, h);
    }
    h.record_ms(
        "global_alloc_in_a_client",
        one(
            env,
            ms,
            images::MS_BETA,
            mode::beta::GLOBAL,
            0,
            Quota::UNLIMITED,
        ),
    );
    h.record_ms(
        "slabinfo_over_ipc",
        one(
            env,
            ms,
            images::MS_GAMMA,
            mode::gamma::SLABINFO,
            0,
            Quota::UNLIMITED,
        ),
    );
    let quota = Quota {
        objects: 64,
        bytes: u64::MAX,
    };
    h.record_ms(
        "quota_exhaustion",
        one(env, ms, images::MS_GAMMA, mode::gamma::QUOTA, 64, quota),
    );
    adversarial(env, ms, h);
    h.record_ms(
        "faulting_client_reclaimed",
        fault_reclaimed(env, ms, mode::rogue::FAULT),
    );
    h.record_ms(
        "exiting_client_with_live_objects_reclaimed",
        fault_reclaimed(env, ms, mode::rogue::EXIT),
    );
    h.record_ms(
        "use_after_free_of_a_large_block_faults",
        use_after_free(env, ms),
    );
    h.record_ms(
        "slabs_released_by_another_clients_shrink_are_unmapped_from_their_owner",
        stale_owner(env, ms),
    );
    h.record_ms(
        "allocations_land_on_the_requested_node",
        node_placement(env, ms, CORE),
    );
    if cores > 1 {
        h.record_ms(
            "allocations_land_on_the_requested_node_core_1",
            node_placement(env, ms, 1),
        );
        h.record_ms("clients_on_both_cores_at_once", both_cores(env, ms));
    }
    h.record_ms("client_memory_reused", memory_reused(env, ms));
    h.record_ms(
        "all_clients_gone_accounting_restored",
        accounting(ms, &start),
    );
}

/// A server thread: serves its core's endpoint forever.
extern "C" fn server_thread(core: Word) -> ! {
    debug_println!("memserver: server thread on core {core} serving");
    loop {
        if let Some(ms) = MEMSERVER.get() {
            ms.serve(core as usize, false);
        }
        sel4::yield_now();
    }
}

/// One server thread pinned to each core but 0, in the root task's address space.
fn start_server_threads(env: &mut Env, cores: usize) -> Result<(), MsFailure> {
    for core in 1..cores {
        let spec = LocalThreadSpec {
            entry: server_thread,
            arg: core as Word,
            stack_pages: 64,
            priority: PRIORITY,
            affinity: core,
            fault_endpoint: None,
            root_cnode_bits: env.root_cnode_bits,
        };
        spawn_local_thread(&mut env.alloc, &mut env.window, &spec).map_err(|e| {
            debug_println!("memserver: server thread for core {core}: {e:?}");
            MsFailure::Setup("server thread")
        })?;
    }
    Ok(())
}

/// Serves core 0 here until its clients are done, then waits for the other cores' threads.
pub(crate) fn serve_all(ms: &MemServer) -> Result<(), MsFailure> {
    ms.serve(CORE, true);
    for core in 1..ms.endpoints.len() {
        if !ms.wait_idle(core) {
            return Err(MsFailure::Setup("clients of another core still running"));
        }
    }
    Ok(())
}

pub(crate) fn start(
    env: &mut Env,
    ms: &MemServer,
    elf: &[u8],
    id: Word,
    m: Word,
    param: Word,
    quota: Quota,
) -> Result<usize, MsFailure> {
    start_on(env, ms, CORE, elf, [id, m, param], quota)
}

/// Starts `elf` on `core` with `[id, mode, param]`.
fn start_on(
    env: &mut Env,
    ms: &MemServer,
    core: usize,
    elf: &[u8],
    [id, m, param]: [Word; 3],
    quota: Quota,
) -> Result<usize, MsFailure> {
    ms.start_client(
        &mut env.alloc,
        &mut env.scratch,
        &mut env.window,
        elf,
        core,
        id,
        m,
        param,
        quota,
    )
    .map_err(|e: StartError| {
        debug_println!("memserver: client {id} not started: {e}");
        MsFailure::Setup("client start")
    })
}

/// The outcome of client `index`: done with no failed check.
pub(crate) fn outcome(ms: &MemServer, index: usize) -> Result<(), MsFailure> {
    let state = ms.with_client(index, |c| (c.id, c.ending, c.checks_failed));
    let Some((id, ending, failed_here)) = state else {
        return Err(MsFailure::Setup("client vanished"));
    };
    match ending {
        Ending::Done { failed: 0 } if failed_here == 0 => Ok(()),
        Ending::Done { failed } => Err(MsFailure::ClientChecks {
            client: id,
            failed: failed.max(failed_here as Word),
            first: ms
                .checks
                .lock()
                .iter()
                .find(|k| k.client == index && !k.passed)
                .map(|k| (k.id, k.value, k.expected)),
        }),
        Ending::Faulted(fault) => Err(MsFailure::Faulted { client: id, fault }),
        Ending::Running => Err(MsFailure::Setup("client still running")),
    }
}

pub(crate) fn reclaim_all(ms: &MemServer) {
    for i in 0..crate::service::MAX_CLIENTS {
        if let Err(e) = ms.reclaim(i) {
            debug_println!("memserver: reclaim of client {i} failed: {e:?}");
        }
    }
    ms.checks.lock().clear();
}

fn one(
    env: &mut Env,
    ms: &MemServer,
    elf: &[u8],
    m: Word,
    param: Word,
    quota: Quota,
) -> Result<(), MsFailure> {
    let r = start(env, ms, elf, 1, m, param, quota)
        .and_then(|i| serve_all(ms).and_then(|()| outcome(ms, i)));
    reclaim_all(ms);
    r
}

pub(crate) fn figures(ms: &MemServer, index: usize, id: Word) -> Vec<Word> {
    ms.with_client(index, |c| {
        c.figures
            .iter()
            .filter(|f| f.0 == id)
            .map(|f| f.1)
            .collect()
    })
    .unwrap_or_default()
}

/// 1000 objects through magazines of 16, then one by one through a debug cache; prints the guest
/// instructions per object of the magazine path (refills and their mappings included).
fn batches(env: &mut Env, ms: &MemServer, h: &Harness) -> Result<(), MsFailure> {
    let result = (|| {
        let i = start(
            env,
            ms,
            images::MS_ALPHA,
            1,
            mode::alpha::BATCHES,
            0,
            Quota::UNLIMITED,
        )?;
        serve_all(ms)?;
        outcome(ms, i)?;
        let alloc = figures(ms, i, figure::ALLOC_1000_INSTRUCTIONS);
        let free = figures(ms, i, figure::FREE_1000_INSTRUCTIONS);
        if let (Some(a), Some(f)) = (alloc.first(), free.first()) {
            h.measure("memserver_alloc_instructions_per_object_batch_16", a / 1000);
            h.measure("memserver_free_instructions_per_object_batch_16", f / 1000);
        }
        Ok(())
    })();
    reclaim_all(ms);
    result
}

/// The frame capability found by arithmetic from a server address is the frame at that address.
fn check_platform(ms: &MemServer) -> Result<(), MsFailure> {
    let p = &ms.platform;
    ms_expect(
        "zones (memory nodes)",
        crate::numa::NODES.len() as Word,
        p.zones().len() as Word,
    )?;
    let temp = p.temp_slot(CORE);
    for z in p.zones() {
        ms_expect(
            "node of the zone's memory",
            z.node.0 as Word,
            p.node_of(z.vaddr).map_or(99, |n| n.0 as Word),
        )?;
        for i in [0, z.frames / 3, z.frames - 1] {
            let vaddr = z.vaddr + i * sel4::PAGE_SIZE;
            let frame = p
                .frame_of(vaddr)
                .ok_or(MsFailure::Setup("frame of a zone address"))?;
            let slot = init_thread::CNODE.relative_bits_with_depth(temp, sel4::WORD_BITS);
            slot.copy(&p.frame_cap(frame), CapRights::read_write())
                .map_err(|_| MsFailure::Setup("copy of a frame cap"))?;
            let got = Cap::<sel4::cap_type::Granule>::from_bits(temp).frame_get_address();
            let _ = slot.delete();
            let got = got.map_err(|_| MsFailure::Setup("Page_GetAddress"))?;
            ms_expect(
                "physical address of the frame found by arithmetic",
                p.paddr_of(vaddr).unwrap_or(0),
                got,
            )?;
        }
    }
    debug_println!(
        "memserver: {} frames in {} zones: {}",
        p.total_frames(),
        p.zones().len(),
        p.zones()
            .iter()
            .map(|z| format!(
                "node {} phys {:#x} at server {:#x}",
                z.node.0, z.paddr, z.vaddr
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// Three clients: alpha and beta work at the same time, then gamma prints the final slabinfo
/// while their caches still exist. The server prints its messages per object.
fn demo(env: &mut Env, ms: &MemServer) -> Result<(), MsFailure> {
    ms.reset_counters();
    let r = (|| {
        let a = start(
            env,
            ms,
            images::MS_ALPHA,
            1,
            mode::DEMO,
            0,
            Quota::UNLIMITED,
        )?;
        let b = start(env, ms, images::MS_BETA, 2, mode::DEMO, 0, Quota::UNLIMITED)?;
        serve_all(ms)?;
        let g = start(
            env,
            ms,
            images::MS_GAMMA,
            3,
            mode::DEMO,
            0,
            Quota::UNLIMITED,
        )?;
        serve_all(ms)?;
        let c = ms.counters();
        let per_object_milli = (c.messages * 1000).checked_div(c.objects).unwrap_or(0);
        debug_println!(
            "memserver demo: {} messages ({} register-only) for {} objects handed out: {}.{:03} messages per object; {} frames mapped into heap windows, {} unmapped after frees",
            c.messages,
            c.register_only,
            c.objects,
            per_object_milli / 1000,
            per_object_milli % 1000,
            c.frames_mapped,
            c.frames_unmapped
        );
        outcome(ms, a).and(outcome(ms, b)).and(outcome(ms, g))?;
        ms_expect("blocks that could not be mapped", 0, c.map_failures)
    })();
    reclaim_all(ms);
    r
}

fn adversarial(env: &mut Env, ms: &MemServer, h: &mut Harness) {
    let result = (|| {
        let victim = start(
            env,
            ms,
            images::MS_ALPHA,
            1,
            mode::alpha::VICTIM,
            0,
            Quota::UNLIMITED,
        )?;
        serve_all(ms)?;
        outcome(ms, victim)?;
        let objs = figures(ms, victim, figure::ADDRESS);
        let first = *objs.first().ok_or(MsFailure::Setup("victim addresses"))?;
        let quota = Quota {
            objects: u64::MAX,
            bytes: 1 << 20,
        };
        let rogue = start(
            env,
            ms,
            images::MS_ROGUE,
            2,
            mode::rogue::ADVERSARIAL,
            first,
            quota,
        )?;
        serve_all(ms)?;
        Ok((victim, rogue, objs))
    })();
    let (victim, rogue, objs) = match result {
        Ok(v) => v,
        Err(e) => {
            h.record_ms("adversarial_rows", Err(e));
            reclaim_all(ms);
            return;
        }
    };
    for (row, name) in abi::ADVERSARIAL_ROWS.iter().enumerate() {
        let check = ms
            .checks
            .lock()
            .iter()
            .find(|k| k.client == rogue && k.id == row as Word)
            .copied();
        let r = match check {
            Some(k) if k.passed => Ok(()),
            Some(k) => Err(MsFailure::Mismatch {
                what: "error code",
                expected: k.expected,
                got: k.value,
            }),
            None => Err(MsFailure::Setup("row not reported")),
        };
        h.record_ms(&format!("adversarial_{name}"), r);
    }
    h.record_ms(
        "adversarial_server_answers_after_each_row",
        outcome(ms, rogue),
    );
    h.record_ms(
        "adversarial_detached_client_maps_no_frame",
        ms_expect(
            "frames still mapped in the client after its detach",
            0,
            ms.with_client(rogue, |_| ms.mapped_frames_of(rogue) as Word)
                .unwrap_or(Word::MAX),
        ),
    );
    h.record_ms(
        "adversarial_victim_intact",
        victim_intact(ms, victim, &objs),
    );
    h.record_ms(
        "adversarial_server_invariants_hold",
        ms.server.validate().map_err(|e| {
            debug_println!("memserver: invariant: {e:?}");
            MsFailure::Setup("server invariants")
        }),
    );
    reclaim_all(ms);
}

/// The victim's objects, read through the server's own mapping of its frames.
fn victim_intact(ms: &MemServer, victim: usize, objs: &[Word]) -> Result<(), MsFailure> {
    let offset = ms
        .with_client(victim, |c| c.maps.offset)
        .ok_or(MsFailure::Setup("victim"))?;
    ms_expect(
        "victim objects",
        abi::VICTIM_OBJECTS as Word,
        objs.len() as Word,
    )?;
    for (k, &a) in objs.iter().enumerate() {
        let server = (a as usize).wrapping_sub(offset);
        if ms.platform.frame_of(server).is_none() {
            return Err(MsFailure::Setup("victim object outside the zones"));
        }
        for i in 0..abi::VICTIM_SIZE / 8 {
            // SAFETY: `server` is inside a buddy zone (checked above), which the root task maps
            // read-write for its whole life; the victim is blocked, so nothing writes concurrently.
            let w = unsafe { core::ptr::read_volatile((server as *const u64).add(i)) };
            ms_expect("victim word", abi::victim_word(k, i), w)?;
        }
    }
    Ok(())
}

/// A client holding objects dies (a VM fault, or a return from main) while another works: its
/// fault arrives on its fault endpoint, everything it owned is reclaimed, the other finishes.
fn fault_reclaimed(env: &mut Env, ms: &MemServer, m: Word) -> Result<(), MsFailure> {
    let before = ms.server.allocator().stats();
    let result = (|| {
        let rogue = start(env, ms, images::MS_ROGUE, 1, m, 0, Quota::UNLIMITED)?;
        let other = start(
            env,
            ms,
            images::MS_ALPHA,
            2,
            mode::alpha::BATCHES,
            0,
            Quota::UNLIMITED,
        )?;
        serve_all(ms)?;
        let (id, ending, mapped) = ms
            .with_client(rogue, |c| {
                (c.id, c.ending, ms.mapped_frames_of(rogue) as Word)
            })
            .ok_or(MsFailure::Setup("rogue"))?;
        match (m, ending) {
            (mode::rogue::FAULT, Ending::Faulted(Fault::VmFault { addr, .. })) => {
                ms_expect("fault address", 0xdead_0000, addr)?
            }
            (mode::rogue::EXIT, Ending::Faulted(Fault::UserException { .. })) => {}
            (_, Ending::Faulted(fault)) => return Err(MsFailure::Faulted { client: id, fault }),
            _ => return Err(MsFailure::NotFaulted { client: id }),
        }
        if mapped == 0 {
            return Err(MsFailure::Setup("the rogue had no frames mapped"));
        }
        let report = ms
            .reclaim(rogue)
            .map_err(|_| MsFailure::Setup("reclaim"))?
            .ok_or(MsFailure::Setup("rogue was not attached"))?;
        debug_println!(
            "memserver: client {id} ended with {:?}; reclaimed {} live objects, {} slab frames, {} large blocks; {} frames unmapped from it",
            ending,
            report.live_objects,
            report.slab_frames,
            report.large_blocks,
            mapped
        );
        if report.live_objects == 0 || report.large_blocks == 0 {
            return Err(MsFailure::Mismatch {
                what: "live objects purged",
                expected: 1,
                got: report.live_objects as Word,
            });
        }
        outcome(ms, other)
    })();
    reclaim_all(ms);
    result?;
    let after = ms.server.allocator().stats();
    ms_expect(
        "free frames after reclaim",
        before.free_frames as Word,
        after.free_frames as Word,
    )
}

/// A client reads a large block after freeing it: the block's frames were unmapped from it at the
/// free, so the read faults at the block's address and the client is reclaimed.
fn use_after_free(env: &mut Env, ms: &MemServer) -> Result<(), MsFailure> {
    let result = (|| {
        let i = start(
            env,
            ms,
            images::MS_ROGUE,
            1,
            mode::rogue::USE_AFTER_FREE,
            0,
            Quota::UNLIMITED,
        )?;
        serve_all(ms)?;
        let block = figures(ms, i, figure::ADDRESS)
            .first()
            .copied()
            .ok_or(MsFailure::Setup("block address"))?;
        let (id, ending) = ms
            .with_client(i, |c| (c.id, c.ending))
            .ok_or(MsFailure::Setup("client"))?;
        match ending {
            Ending::Faulted(Fault::VmFault { addr, .. }) => {
                ms_expect("fault address: the freed block", block, addr)
            }
            Ending::Faulted(fault) => Err(MsFailure::Faulted { client: id, fault }),
            _ => Err(MsFailure::NotFaulted { client: id }),
        }
    })();
    reclaim_all(ms);
    result
}

/// Client A frees every object of a cache; client B (on the last core, so on another core when
/// there are two) then runs the server out of memory, and the server shrinks every cache while
/// serving B, releasing A's free slabs to the buddy layer. The release unmaps them from A right
/// then: A, writing to its old object, faults at its address; B's data is intact; no frame the
/// buddy layer could hand out stays mapped in any client.
fn stale_owner(env: &mut Env, ms: &MemServer) -> Result<(), MsFailure> {
    ms.reset_counters();
    let result = (|| {
        let a = start(
            env,
            ms,
            images::MS_ROGUE,
            1,
            mode::rogue::STALE_OWNER,
            0,
            Quota::UNLIMITED,
        )?;
        let last = ms.endpoints.len() - 1;
        let b = start_on(
            env,
            ms,
            last,
            images::MS_ROGUE,
            [2, mode::rogue::SHRINKER, 0],
            Quota::UNLIMITED,
        )?;
        serve_all(ms)?;
        outcome(ms, b)?;
        let stale = figures(ms, a, figure::ADDRESS)
            .first()
            .copied()
            .ok_or(MsFailure::Setup("stale object address"))?;
        let (id, ending, failed) = ms
            .with_client(a, |c| (c.id, c.ending, c.checks_failed))
            .ok_or(MsFailure::Setup("client"))?;
        match ending {
            Ending::Faulted(Fault::VmFault { addr, .. }) => {
                ms_expect("fault address: the released object", stale, addr)?
            }
            Ending::Faulted(fault) => return Err(MsFailure::Faulted { client: id, fault }),
            _ => return Err(MsFailure::NotFaulted { client: id }),
        }
        ms_expect("stale owner's failed checks", 0, failed as Word)?;
        let unmapped = ms.counters().frames_unmapped;
        let blocks = figures(ms, b, figure::OBJECTS)
            .first()
            .copied()
            .unwrap_or(0);
        debug_println!(
            "memserver: stale owner faulted at {stale:#x}; the shrinker got {blocks} blocks of 4 MiB before out of memory; {unmapped} frames unmapped by the release hook"
        );
        if unmapped == 0 {
            return Err(MsFailure::Mismatch {
                what: "frames unmapped by the release hook",
                expected: 1,
                got: 0,
            });
        }
        ms_expect(
            "kernel-refused unmappings",
            0,
            ms.release
                .failures
                .load(core::sync::atomic::Ordering::Relaxed),
        )?;
        let buddy = ms.server.allocator().buddy();
        ms.mappings
            .lock()
            .check_none_free(ms.platform, buddy)
            .map_err(|f| MsFailure::Mismatch {
                what: "a free frame mapped in a client",
                expected: 0,
                got: f as Word,
            })
    })();
    reclaim_all(ms);
    result
}

/// Large blocks of a client on `core` land on that core's node first, then fall back to the other
/// node once the local zone is full.
fn node_placement(env: &mut Env, ms: &MemServer, core: usize) -> Result<(), MsFailure> {
    let result = (|| {
        let i = start_on(
            env,
            ms,
            core,
            images::MS_ALPHA,
            [1, mode::alpha::NODE, 0],
            Quota::UNLIMITED,
        )?;
        serve_all(ms)?;
        outcome(ms, i)?;
        let offset = ms
            .with_client(i, |c| c.maps.offset)
            .ok_or(MsFailure::Setup("client"))?;
        let nodes: Vec<Word> = figures(ms, i, figure::ADDRESS)
            .into_iter()
            .map(|a| {
                ms.platform
                    .node_of((a as usize).wrapping_sub(offset))
                    .map_or(99, |n| n.0 as Word)
            })
            .collect();
        debug_println!(
            "memserver: 4 MiB blocks of a client on core {core} landed on nodes {nodes:?}"
        );
        ms_expect("blocks", 3, nodes.len() as Word)?;
        let local = crate::numa::node_of_core(core).0 as Word;
        ms_expect("first block on the core's node", local, nodes[0])?;
        ms_expect(
            "a block on the other node once the local zone is full",
            1,
            nodes.iter().any(|&n| n != local && n != 99) as Word,
        )
    })();
    reclaim_all(ms);
    result
}

/// Clients on both cores at once, each calling its own core's endpoint (served by that core's
/// server thread): each reports the core the server's handshake named.
fn both_cores(env: &mut Env, ms: &MemServer) -> Result<(), MsFailure> {
    ms.reset_counters();
    let result = (|| {
        let mut started = Vec::new();
        for (core, elf, m) in [
            (0, images::MS_ALPHA, mode::alpha::BATCHES),
            (1, images::MS_ALPHA, mode::alpha::BATCHES),
            (1, images::MS_BETA, mode::beta::GLOBAL),
            (0, images::MS_BETA, mode::beta::KMALLOC),
        ] {
            let id = started.len() as Word + 1;
            started.push((
                start_on(env, ms, core, elf, [id, m, 0], Quota::UNLIMITED)?,
                core,
            ));
        }
        serve_all(ms)?;
        for &(i, core) in &started {
            outcome(ms, i)?;
            ms_expect(
                "core named by the server's handshake",
                core as Word,
                figures(ms, i, figure::CORE).first().copied().unwrap_or(99),
            )?;
        }
        let c = ms.counters();
        debug_println!(
            "memserver: clients on 2 cores: {} messages for {} objects",
            c.messages,
            c.objects
        );
        ms.server
            .validate()
            .map_err(|_| MsFailure::Setup("server invariants"))
    })();
    reclaim_all(ms);
    result
}

/// A client started after others were reclaimed is made from their emptied untyped and slots: the
/// root task's free slots and untyped memory do not change.
fn memory_reused(env: &mut Env, ms: &MemServer) -> Result<(), MsFailure> {
    let slots = env.alloc.free_slots() as Word;
    let bytes = env.alloc.untyped_pool().free_bytes();
    one(
        env,
        ms,
        images::MS_ALPHA,
        mode::alpha::LIFECYCLE,
        0,
        Quota::UNLIMITED,
    )?;
    ms_expect("free root slots", slots, env.alloc.free_slots() as Word)?;
    ms_expect(
        "free untyped bytes",
        bytes,
        env.alloc.untyped_pool().free_bytes(),
    )
}

fn accounting(ms: &MemServer, start: &Stats) -> Result<(), MsFailure> {
    ms_expect("clients left", 0, ms.client_count() as Word)?;
    ms_expect(
        "frames mapped in clients",
        0,
        ms.mappings.lock().mapped_frames() as Word,
    )?;
    let now = ms.server.allocator().stats();
    ms_expect(
        "free frames",
        start.free_frames as Word,
        now.free_frames as Word,
    )?;
    ms_expect(
        "slab frames",
        start.slab_frames as Word,
        now.slab_frames as Word,
    )?;
    ms_expect(
        "large frames",
        start.large_frames as Word,
        now.large_frames as Word,
    )?;
    ms_expect("caches", start.real_caches as Word, now.real_caches as Word)?;
    ms_expect(
        "objects in use",
        start.objects_in_use as Word,
        now.objects_in_use as Word,
    )?;
    ms.server
        .validate()
        .map_err(|_| MsFailure::Setup("server invariants"))
}
