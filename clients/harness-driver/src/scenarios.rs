//! The memory server's on-target tests: each starts its scenario clients (the system description
//! names them; `-last-core` entries run on the last core, which is core 0 on a one-core image),
//! serves them until they end, checks their reports and the server's statistics, and reaps them.

use crate::children::Children;
use crate::failure::{expect, MsFailure};
use crate::harness::Harness;
use memserver_client_sel4::abi::supervisor::{fault, stats::client as cs, stats::server as ss};
use memserver_client_sel4::supervisor::ChildState;
use ms_harness::{figure, mode, ADVERSARIAL_ROWS, VICTIM_OBJECTS};
use sel4::Word;

/// Runs every memory-server test.
pub fn run_all(k: &mut Children, h: &mut Harness) {
    let start = match k.server() {
        Ok(s) => s,
        Err(e) => {
            h.record("memserver_platform_built", Err(e));
            return;
        }
    };
    let cores = start[ss::CORES] as usize;
    h.record("memserver_platform_built", platform(&start));
    if cores > 1 {
        h.record("one_server_thread_per_core", serving(k, cores));
    }
    let r = demo(k, h);
    h.record("demo_three_clients", r);
    h.record(
        "cache_lifecycle_with_constructor_counts",
        one(k, "alpha", mode::alpha::LIFECYCLE, 0),
    );
    h.record(
        "kmalloc_every_class_and_a_large_block",
        one(k, "beta", mode::beta::KMALLOC, 0),
    );
    let r = batches(k, h);
    h.record("batches_through_magazines", r);
    if cores == 1 {
        crate::bench::run_all(k, h);
    }
    h.record(
        "linux_api_node_bulk_krealloc_and_the_violation_log",
        one(k, "beta-debug", mode::beta::LINUX_API, 0),
    );
    h.record(
        "global_alloc_in_a_client",
        one(k, "beta", mode::beta::GLOBAL, 0),
    );
    h.record(
        "slabinfo_over_ipc",
        one(k, "gamma", mode::gamma::SLABINFO, 0),
    );
    h.record(
        "quota_exhaustion",
        one(k, "gamma-quota-64", mode::gamma::QUOTA, 64),
    );
    adversarial(k, h);
    let r = metadata_hog(k, h);
    h.record(
        "client_exhausting_its_metadata_quota_is_refused_while_another_is_served",
        r,
    );
    let r = fault_reclaimed(k, h, mode::rogue::FAULT);
    h.record("faulting_client_reclaimed", r);
    let r = fault_reclaimed(k, h, mode::rogue::EXIT);
    h.record("exiting_client_with_live_objects_reclaimed", r);
    h.record("use_after_free_of_a_large_block_faults", use_after_free(k));
    let r = stale_owner(k, h);
    h.record(
        "slabs_released_by_another_clients_shrink_are_unmapped_from_their_owner",
        r,
    );
    let r = node_placement(k, h, "alpha", 0);
    h.record("allocations_land_on_the_requested_node", r);
    if cores > 1 {
        let r = node_placement(k, h, "alpha-last-core", cores - 1);
        h.record("allocations_land_on_the_requested_node_core_1", r);
        let r = both_cores(k, h);
        h.record("clients_on_both_cores_at_once", r);
    }
    if cores > 1 {
        h.record("client_on_two_cores", two_cores(k));
        let r = second_thread_faults(k, h);
        h.record("fault_of_any_thread_reclaims_the_whole_client", r);
        let r = scribbled(k, h);
        h.record(
            "second_thread_scribbling_the_magazine_page_gets_nothing_it_does_not_own",
            r,
        );
    }
    h.record("clients_started_and_reclaimed_64_in_turn", in_turn(k));
    h.record("clients_32_at_once", at_once(k));
    h.record(
        "supervisor_refuses_what_it_may_not_do",
        supervisor_refusals(k),
    );
    h.record("client_memory_reused", memory_reused(k));
    h.record(
        "all_clients_gone_accounting_restored",
        accounting(k, &start),
    );
}

/// The root task's boot self-check of the frame capabilities passed, with a zone per node.
fn platform(s: &[Word]) -> Result<(), MsFailure> {
    expect(
        "frame capabilities checked at boot",
        1,
        s[ss::FRAMES_CHECKED],
    )?;
    if s[ss::ZONES] == 0 {
        return Err(MsFailure::Setup("no buddy zone"));
    }
    Ok(())
}

/// Every core has its serve loop running (they start while the first clients run).
fn serving(k: &mut Children, cores: usize) -> Result<(), MsFailure> {
    for _ in 0..10_000 {
        if k.server()?[ss::SERVING_CORES] == cores as Word {
            return Ok(());
        }
        sel4::yield_now();
    }
    expect("serve loops", cores as Word, k.server()?[ss::SERVING_CORES])
}

/// One client `name` in `mode` with `param`: it must exit with status 0.
pub fn one(k: &mut Children, name: &'static str, m: Word, param: Word) -> Result<(), MsFailure> {
    let r = k
        .start(name, m, 1, param)
        .and_then(|i| k.serve_all().and_then(|()| k.outcome(i)));
    k.reclaim_all();
    r
}

/// The server counters between two statistics.
fn delta(before: &[Word], after: &[Word], i: usize) -> Word {
    after[i].wrapping_sub(before[i])
}

/// Three clients: alpha and beta work at the same time, then gamma prints the final slabinfo
/// while their caches still exist. The driver prints the server's messages per object.
fn demo(k: &mut Children, h: &mut Harness) -> Result<(), MsFailure> {
    let r = (|| {
        let before = k.server()?;
        let a = k.start("alpha", mode::DEMO, 1, 0)?;
        let b = k.start("beta", mode::DEMO, 2, 0)?;
        k.serve_all()?;
        let g = k.start("gamma", mode::DEMO, 3, 0)?;
        k.serve_all()?;
        let after = k.server()?;
        let d = |i| delta(&before, &after, i);
        let (messages, objects) = (d(ss::MESSAGES), d(ss::OBJECTS_HANDED_OUT));
        let per_object_milli = (messages * 1000).checked_div(objects).unwrap_or(0);
        h.note(format_args!(
            "memserver demo: {} messages ({} register-only) for {} objects handed out: {}.{:03} messages per object; {} frames mapped into heap windows, {} unmapped after frees",
            messages,
            d(ss::REGISTER_ONLY),
            objects,
            per_object_milli / 1000,
            per_object_milli % 1000,
            d(ss::FRAMES_MAPPED),
            d(ss::FRAMES_UNMAPPED)
        ));
        k.outcome(a).and(k.outcome(b)).and(k.outcome(g))?;
        expect("blocks that could not be mapped", 0, d(ss::MAP_FAILURES))
    })();
    k.reclaim_all();
    r
}

/// 1000 objects through magazines of 16, then one by one through a debug cache; prints the guest
/// instructions per object of the magazine path (refills and their mappings included).
fn batches(k: &mut Children, h: &mut Harness) -> Result<(), MsFailure> {
    let r = (|| {
        let i = k.start("alpha", mode::alpha::BATCHES, 1, 0)?;
        k.serve_all()?;
        k.outcome(i)?;
        let alloc = k.figure(i, figure::ALLOC_1000_INSTRUCTIONS);
        let free = k.figure(i, figure::FREE_1000_INSTRUCTIONS);
        if let (Some(a), Some(f)) = (alloc, free) {
            h.measure("memserver_alloc_instructions_per_object_batch_16", a / 1000);
            h.measure("memserver_free_instructions_per_object_batch_16", f / 1000);
        }
        Ok(())
    })();
    k.reclaim_all();
    r
}

/// A victim holds patterned objects while a rogue client sends the adversarial list (each row
/// with the error code expected); then the victim checks its objects.
fn adversarial(k: &mut Children, h: &mut Harness) {
    let result = (|| {
        let victim = k.start("alpha", mode::alpha::VICTIM, 1, 0)?;
        let ready = |k: &Children| {
            k.list.get(victim).is_none_or(|c| {
                c.state != ChildState::Running
                    || c.figures.iter().filter(|f| f.0 == figure::ADDRESS).count() >= VICTIM_OBJECTS
            })
        };
        k.serve_until(ready)?;
        let first = k
            .figure(victim, figure::ADDRESS)
            .ok_or(MsFailure::Setup("victim addresses"))?;
        let rogue = k.start("rogue-1mib", mode::rogue::ADVERSARIAL, 2, first)?;
        k.serve_until(|k| {
            k.list
                .get(rogue)
                .is_none_or(|c| c.state != ChildState::Running)
        })?;
        Ok((victim, rogue))
    })();
    let (victim, rogue) = match result {
        Ok(v) => v,
        Err(e) => {
            h.record("adversarial_rows", Err(e));
            k.reclaim_all();
            return;
        }
    };
    for (row, name) in ADVERSARIAL_ROWS.iter().enumerate() {
        let check = k.kept(rogue, row as Word);
        let r = match check {
            Some(c) if c.passed => Ok(()),
            Some(c) => Err(MsFailure::Mismatch {
                what: "error code",
                expected: c.expected,
                got: c.value,
            }),
            None => Err(MsFailure::Setup("row not reported")),
        };
        let mut test: heapless::String<96> = heapless::String::new();
        let _ = core::fmt::Write::write_fmt(&mut test, format_args!("adversarial_{name}"));
        h.record(&test, r);
    }
    h.record(
        "adversarial_server_answers_after_each_row",
        k.outcome(rogue),
    );
    let mapped = k.stats(rogue).map(|s| s[cs::FRAMES_MAPPED]);
    h.record(
        "adversarial_detached_client_maps_no_frame",
        mapped.and_then(|m| expect("frames still mapped in the client after its detach", 0, m)),
    );
    k.go(victim);
    let intact = k.serve_all().and_then(|()| {
        let addrs = k.figures(victim, figure::ADDRESS).count();
        expect("victim objects", VICTIM_OBJECTS as Word, addrs as Word)?;
        k.outcome(victim)
    });
    h.record("adversarial_victim_intact", intact);
    let inv = k.server().map(|s| s[ss::INVARIANTS_HOLD]);
    h.record(
        "adversarial_server_invariants_hold",
        inv.and_then(|v| expect("server invariants hold", 1, v)),
    );
    k.reclaim_all();
}

/// A client holding objects dies (a VM fault, or a return from main) while another works: its
/// fault ends it, everything it owned is reclaimed at its reap, the other finishes.
fn fault_reclaimed(k: &mut Children, h: &mut Harness, m: Word) -> Result<(), MsFailure> {
    let before = k.server()?[ss::FREE_FRAMES];
    let result = (|| {
        let rogue = k.start("rogue", m, 1, 0)?;
        let other = k.start("alpha", mode::alpha::BATCHES, 2, 0)?;
        k.serve_all()?;
        let state = k.get(rogue)?.state;
        match (m, state) {
            (
                mode::rogue::FAULT,
                ChildState::Faulted {
                    kind: fault::VM_FAULT,
                    addr,
                },
            ) => expect("fault address", 0xdead_0000, addr)?,
            (
                mode::rogue::EXIT,
                ChildState::Faulted {
                    kind: fault::USER_EXCEPTION,
                    ..
                },
            ) => {}
            (_, ChildState::Faulted { kind, addr }) => {
                return Err(MsFailure::Faulted {
                    client: 1,
                    kind,
                    addr,
                })
            }
            _ => return Err(MsFailure::NotFaulted { client: 1 }),
        }
        let mapped = k.stats(rogue)?[cs::FRAMES_MAPPED];
        if mapped == 0 {
            return Err(MsFailure::Setup("the rogue had no frames mapped"));
        }
        let report = k.reap(rogue)?;
        h.note(format_args!(
            "memserver: client 1 ended with {state:?}; reclaimed {} live objects, {} slab frames, {} large blocks; {} frames unmapped from it",
            report.live_objects, report.slab_frames, report.large_blocks, mapped
        ));
        if report.live_objects == 0 || report.large_blocks == 0 {
            return Err(MsFailure::Mismatch {
                what: "live objects purged",
                expected: 1,
                got: report.live_objects,
            });
        }
        k.outcome(other)
    })();
    k.reclaim_all();
    result?;
    expect(
        "free frames after reclaim",
        before,
        k.server()?[ss::FREE_FRAMES],
    )
}

/// A client reads a large block after freeing it: the block's frames were unmapped from it at the
/// free, so the read faults at the block's address.
fn use_after_free(k: &mut Children) -> Result<(), MsFailure> {
    let result = (|| {
        let i = k.start("rogue", mode::rogue::USE_AFTER_FREE, 1, 0)?;
        k.serve_all()?;
        let block = k
            .figure(i, figure::ADDRESS)
            .ok_or(MsFailure::Setup("block address"))?;
        match k.get(i)?.state {
            ChildState::Faulted {
                kind: fault::VM_FAULT,
                addr,
            } => expect("fault address: the freed block", block, addr),
            ChildState::Faulted { kind, addr } => Err(MsFailure::Faulted {
                client: 1,
                kind,
                addr,
            }),
            _ => Err(MsFailure::NotFaulted { client: 1 }),
        }
    })();
    k.reclaim_all();
    result
}

/// Client A frees every object of a cache; client B (on the last core, so on another core when
/// there are two) then runs the server out of memory, and the server shrinks every cache while
/// serving B, releasing A's free slabs to the buddy layer. The release unmaps them from A right
/// then: A, writing to its old object, faults at its address; B's data is intact; no frame the
/// buddy layer could hand out stays mapped in any client.
fn stale_owner(k: &mut Children, h: &mut Harness) -> Result<(), MsFailure> {
    let before = k.server()?;
    let result = (|| {
        let a = k.start("rogue", mode::rogue::STALE_OWNER, 1, 0)?;
        let b = k.start("rogue-last-core", mode::rogue::SHRINKER, 2, 0)?;
        k.serve_all()?;
        k.outcome(b)?;
        let stale = k
            .figure(a, figure::ADDRESS)
            .ok_or(MsFailure::Setup("stale object address"))?;
        match k.get(a)?.state {
            ChildState::Faulted {
                kind: fault::VM_FAULT,
                addr,
            } => expect("fault address: the released object", stale, addr)?,
            ChildState::Faulted { kind, addr } => {
                return Err(MsFailure::Faulted {
                    client: 1,
                    kind,
                    addr,
                })
            }
            _ => return Err(MsFailure::NotFaulted { client: 1 }),
        }
        expect("stale owner's failed checks", 0, k.get(a)?.failed as Word)?;
        let after = k.server()?;
        let unmapped = delta(&before, &after, ss::FRAMES_UNMAPPED);
        let blocks = k.figure(b, figure::OBJECTS).unwrap_or(0);
        h.note(format_args!(
            "memserver: stale owner faulted at {stale:#x}; the shrinker got {blocks} blocks of 4 MiB before out of memory; {unmapped} frames unmapped by the release hook"
        ));
        if unmapped == 0 {
            return Err(MsFailure::Mismatch {
                what: "frames unmapped by the release hook",
                expected: 1,
                got: 0,
            });
        }
        expect(
            "kernel-refused unmappings",
            0,
            delta(&before, &after, ss::UNMAP_FAILURES),
        )?;
        expect(
            "no free frame mapped in a client, server invariants hold",
            1,
            after[ss::INVARIANTS_HOLD],
        )
    })();
    k.reclaim_all();
    result
}

/// Large blocks of a client on `core` land on that core's node first, then fall back to the other
/// node once the local zone is full.
fn node_placement(
    k: &mut Children,
    h: &mut Harness,
    name: &'static str,
    core: usize,
) -> Result<(), MsFailure> {
    let result = (|| {
        let i = k.start(name, mode::alpha::NODE, 1, 0)?;
        k.serve_all()?;
        k.outcome(i)?;
        let local = k.stats(i)?[cs::NODE];
        let handle = k.get(i)?.handle;
        let mut nodes: heapless::Vec<Word, 8> = heapless::Vec::new();
        for a in k.figures(i, figure::ADDRESS) {
            let _ = nodes.push(k.sup.node_of(handle, a).unwrap_or(99));
        }
        h.note(format_args!(
            "memserver: 4 MiB blocks of a client on core {core} landed on nodes {nodes:?}"
        ));
        expect("blocks", 3, nodes.len() as Word)?;
        expect("first block on the core's node", local, nodes[0])?;
        expect(
            "a block on the other node once the local zone is full",
            1,
            nodes.iter().any(|&n| n != local && n != 99) as Word,
        )
    })();
    k.reclaim_all();
    result
}

/// Clients on both cores at once, each calling its own core's endpoint (served by that core's
/// server thread): each reports the core the server's handshake named.
fn both_cores(k: &mut Children, h: &mut Harness) -> Result<(), MsFailure> {
    let before = k.server()?;
    let result = (|| {
        let last = before[ss::CORES] - 1;
        let mut started: heapless::Vec<(usize, Word), 4> = heapless::Vec::new();
        for (name, core, m) in [
            ("alpha", 0, mode::alpha::BATCHES),
            ("alpha-last-core", last, mode::alpha::BATCHES),
            ("beta-last-core", last, mode::beta::GLOBAL),
            ("beta", 0, mode::beta::KMALLOC),
        ] {
            let id = started.len() as Word + 1;
            let _ = started.push((k.start(name, m, id, 0)?, core));
        }
        k.serve_all()?;
        for &(i, core) in &started {
            k.outcome(i)?;
            expect(
                "core named by the server's handshake",
                core,
                k.figure(i, figure::CORE).unwrap_or(99),
            )?;
        }
        let after = k.server()?;
        h.note(format_args!(
            "memserver: clients on 2 cores: {} messages for {} objects",
            delta(&before, &after, ss::MESSAGES),
            delta(&before, &after, ss::OBJECTS_HANDED_OUT)
        ));
        expect("server invariants hold", 1, after[ss::INVARIANTS_HOLD])
    })();
    k.reclaim_all();
    result
}

/// A client with a small metadata quota tries to exhaust the server's memory (owner-tracked
/// slabs, then caches) while another client runs its batches on the same core: every one of the
/// hog's refusals names its metadata quota, the other client passes all its checks, the
/// server's invariants hold, and once both are reclaimed the server is as before.
fn metadata_hog(k: &mut Children, h: &mut Harness) -> Result<(), MsFailure> {
    let before = k.server()?;
    let result = (|| {
        let hog = k.start("rogue-metadata", mode::rogue::METADATA_HOG, 1, 0)?;
        let other = k.start("alpha", mode::alpha::BATCHES, 2, 0)?;
        k.serve_all()?;
        k.outcome(hog)?;
        k.outcome(other)?;
        h.note(format_args!(
            "memserver: metadata-quota client refused after {} owner-tracked objects and {} more caches",
            k.figure(hog, figure::ADDRESS).unwrap_or(0),
            k.figure(hog, figure::OBJECTS).unwrap_or(0)
        ));
        expect(
            "server invariants hold",
            1,
            k.server()?[ss::INVARIANTS_HOLD],
        )
    })();
    k.reclaim_all();
    let after = k.server()?;
    result.and(expect(
        "free frames after the hog is reclaimed",
        before[ss::FREE_FRAMES],
        after[ss::FREE_FRAMES],
    ))
}

/// A client started after others were reclaimed is made from their emptied untyped and slots: the
/// root task's free slots and untyped memory do not change.
fn memory_reused(k: &mut Children) -> Result<(), MsFailure> {
    let before = k.server()?;
    one(k, "alpha", mode::alpha::LIFECYCLE, 0)?;
    let after = k.server()?;
    expect(
        "free root slots",
        before[ss::FREE_SLOTS],
        after[ss::FREE_SLOTS],
    )?;
    expect(
        "free untyped bytes",
        before[ss::FREE_UNTYPED_BYTES],
        after[ss::FREE_UNTYPED_BYTES],
    )
}

/// Only the driver is left, no frame is mapped in a client, and the allocator's accounting equals
/// that before the first scenario client.
fn accounting(k: &mut Children, start: &[Word]) -> Result<(), MsFailure> {
    let now = k.server()?;
    expect("clients left (the driver)", 1, now[ss::CLIENTS])?;
    expect(
        "frames mapped in clients",
        0,
        now[ss::FRAMES_MAPPED_IN_CLIENTS],
    )?;
    for (what, i) in [
        ("free frames", ss::FREE_FRAMES),
        ("slab frames", ss::SLAB_FRAMES),
        ("large frames", ss::LARGE_FRAMES),
        ("caches", ss::CACHES),
        ("objects in use", ss::OBJECTS_IN_USE),
    ] {
        expect(what, start[i], now[i])?;
    }
    expect("server invariants hold", 1, now[ss::INVARIANTS_HOLD])
}

/// A client with a thread on each of two cores, each calling its own core's endpoint: each
/// thread's blocks are freed by the other thread, through the other core.
fn two_cores(k: &mut Children) -> Result<(), MsFailure> {
    let r = (|| {
        let i = k.start("alpha-all-cores", mode::alpha::TWO_CORES, 1, 0)?;
        k.serve_all()?;
        k.outcome(i)?;
        let report = k.reap(i)?;
        expect("objects left at the reap", 0, report.live_objects)
    })();
    k.reclaim_all();
    r
}

/// The second thread of a two-core client faults while the first holds blocks and runs: the
/// whole client ends (both threads stopped, each by its own core) and everything it held returns.
fn second_thread_faults(k: &mut Children, h: &mut Harness) -> Result<(), MsFailure> {
    let before = k.server()?[ss::FREE_FRAMES];
    let r = (|| {
        let i = k.start("alpha-all-cores", mode::alpha::SECOND_THREAD_FAULTS, 1, 0)?;
        k.serve_all()?;
        match k.get(i)?.state {
            ChildState::Faulted {
                kind: fault::VM_FAULT,
                addr,
            } => expect("fault address", 0xdead_0000, addr)?,
            ChildState::Faulted { kind, addr } => {
                return Err(MsFailure::Faulted {
                    client: 1,
                    kind,
                    addr,
                })
            }
            _ => return Err(MsFailure::NotFaulted { client: 1 }),
        }
        let held = k.stats(i)?[cs::OBJECTS];
        let report = k.reap(i)?;
        h.note(format_args!(
            "memserver: a two-core client's second thread faulted; {held} objects held, {} purged at the reap",
            report.live_objects
        ));
        expect("objects of both threads purged", held, report.live_objects)?;
        if held < 21 {
            return Err(MsFailure::Mismatch {
                what: "objects the two threads held",
                expected: 21,
                got: held,
            });
        }
        Ok(())
    })();
    k.reclaim_all();
    r?;
    expect(
        "free frames after the reap",
        before,
        k.server()?[ss::FREE_FRAMES],
    )
}

/// A victim holds patterned objects; a two-core client's second thread writes a victim address
/// over every slot of its first thread's magazine page while the first thread refills through it.
/// What the root task maps comes from the server's own staging page, so the first thread is never
/// given the victim's block: its read of the victim's address faults, and the victim is intact.
fn scribbled(k: &mut Children, h: &mut Harness) -> Result<(), MsFailure> {
    let before = k.server()?;
    let r = (|| {
        let victim = k.start("alpha", mode::alpha::VICTIM, 1, 0)?;
        k.serve_until(|k| {
            k.list.get(victim).is_none_or(|c| {
                c.state != ChildState::Running
                    || c.figures.iter().filter(|f| f.0 == figure::ADDRESS).count() >= VICTIM_OBJECTS
            })
        })?;
        let target = k
            .figure(victim, figure::ADDRESS)
            .ok_or(MsFailure::Setup("victim addresses"))?;
        let s = k.start("alpha-all-cores", mode::alpha::SCRIBBLED, 2, target)?;
        k.serve_until(|k| k.list.get(s).is_none_or(|c| c.state != ChildState::Running))?;
        let seen = k.figure(s, figure::OBJECTS).unwrap_or(0);
        match k.get(s)?.state {
            ChildState::Faulted {
                kind: fault::VM_FAULT,
                addr,
            } => expect("fault address: the victim's object", target, addr)?,
            ChildState::Faulted { kind, addr } => {
                return Err(MsFailure::Faulted {
                    client: 2,
                    kind,
                    addr,
                })
            }
            _ => return Err(MsFailure::NotFaulted { client: 2 }),
        }
        expect("scribbler's failed checks", 0, k.get(s)?.failed as Word)?;
        k.go(victim);
        k.serve_all()?;
        k.outcome(victim)?;
        let after = k.server()?;
        h.note(format_args!(
            "memserver: a second thread scribbled the victim's address over the magazine page; the first thread read it back {seen} times from its page and faulted on it; {} blocks refused by the root task",
            delta(&before, &after, ss::FOREIGN_BLOCKS_REFUSED)
        ));
        expect("server invariants hold", 1, after[ss::INVARIANTS_HOLD])
    })();
    k.reclaim_all();
    r
}

/// 64 clients, one after the other, each started, served and reaped: the table entry and the
/// client memory are reused, nothing is left.
fn in_turn(k: &mut Children) -> Result<(), MsFailure> {
    let before = k.server()?;
    for id in 1..=64 {
        let r = k.start("alpha", mode::alpha::BRIEF, id, 0).and_then(|i| {
            k.go(i);
            k.serve_all()?;
            k.outcome(i)
        });
        k.reclaim_all();
        r?;
    }
    let after = k.server()?;
    expect("clients left", before[ss::CLIENTS], after[ss::CLIENTS])?;
    expect(
        "free frames",
        before[ss::FREE_FRAMES],
        after[ss::FREE_FRAMES],
    )?;
    expect(
        "free untyped bytes (client memory reused)",
        before[ss::FREE_UNTYPED_BYTES],
        after[ss::FREE_UNTYPED_BYTES],
    )
}

/// 32 clients alive at once, each holding a cache and objects, then all let go and reaped.
fn at_once(k: &mut Children) -> Result<(), MsFailure> {
    const N: usize = 32;
    let before = k.server()?;
    let r = (|| {
        let mut started: heapless::Vec<usize, N> = heapless::Vec::new();
        for id in 1..=N as Word {
            let _ = started.push(k.start("alpha", mode::alpha::BRIEF, id, 0)?);
        }
        k.serve_until(|k| {
            k.list
                .iter()
                .all(|c| c.state != ChildState::Running || !c.figures.is_empty())
        })?;
        let during = k.server()?;
        expect(
            "clients at once",
            before[ss::CLIENTS] + N as Word,
            during[ss::CLIENTS],
        )?;
        for &i in &started {
            k.go(i);
        }
        k.serve_all()?;
        for &i in &started {
            k.outcome(i)?;
        }
        Ok(())
    })();
    k.reclaim_all();
    r?;
    let after = k.server()?;
    expect("clients left", before[ss::CLIENTS], after[ss::CLIENTS])?;
    expect(
        "free frames",
        before[ss::FREE_FRAMES],
        after[ss::FREE_FRAMES],
    )
}

/// The supervisor interface refuses, with its own code and changing nothing: starting a client
/// started at boot or one not in the description, an unknown name, a handle that names no child,
/// reaping a child still running, and a handle of a child already reaped.
fn supervisor_refusals(k: &mut Children) -> Result<(), MsFailure> {
    use memserver_client_sel4::supervisor::Refused;
    const NOT_STARTABLE: Word = 3;
    const UNKNOWN_CHILD: Word = 5;
    const STILL_RUNNING: Word = 6;
    let code = |r: Result<Word, Refused>| match r {
        Ok(_) => 0,
        Err(Refused(c)) => c,
    };
    let before = k.server()?;
    let driver = k
        .sup
        .lookup("driver")
        .map_err(|_| MsFailure::Setup("the driver's own entry"))?;
    expect(
        "start of a client started at boot",
        NOT_STARTABLE,
        code(k.sup.start(driver, [0; 3])),
    )?;
    expect(
        "start of a client not in the description",
        NOT_STARTABLE,
        code(k.sup.start(100_000, [0; 3])),
    )?;
    expect(
        "lookup of an unknown name",
        NOT_STARTABLE,
        code(k.sup.lookup("no-such-client").map(|i| i as Word)),
    )?;
    expect(
        "status of a handle naming no child",
        UNKNOWN_CHILD,
        code(k.sup.status(0xdead_0000_0007).map(|_| 0)),
    )?;
    let r = (|| {
        let i = k.start("alpha", mode::alpha::BRIEF, 1, 0)?;
        k.serve_until(|k| k.list.get(i).is_none_or(|c| !c.figures.is_empty()))?;
        let handle = k.get(i)?.handle;
        expect(
            "reap of a child still running",
            STILL_RUNNING,
            code(k.sup.reap(handle).map(|_| 0)),
        )?;
        k.go(i);
        k.serve_all()?;
        k.outcome(i)?;
        k.reap(i)?;
        expect(
            "status of a reaped child",
            UNKNOWN_CHILD,
            code(k.sup.status(handle).map(|_| 0)),
        )?;
        expect(
            "reap of a reaped child",
            UNKNOWN_CHILD,
            code(k.sup.reap(handle).map(|_| 0)),
        )
    })();
    k.reclaim_all();
    r?;
    let after = k.server()?;
    expect("clients", before[ss::CLIENTS], after[ss::CLIENTS])?;
    expect(
        "free frames",
        before[ss::FREE_FRAMES],
        after[ss::FREE_FRAMES],
    )
}
