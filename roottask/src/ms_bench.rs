//! The on-target bench (issue 6, target 5): runs the `ms-bench` client once with magazines of 32
//! and once with magazines off, checks that its checks passed, and prints its figures as
//! `measure <name> <value>` lines (guest instructions under QEMU `-icount shift=0`; meaningful on
//! the release kernel, which `cargo xtask bench` boots). The bare register-only round trip of the
//! same image is the echo test's `ipc_round_trip_4_registers_instructions`; the client also times
//! register-only round trips through the memory server's own serve loop (`PING`). Besides the
//! client's figures, the root task times the server's dispatch alone and its whole per-message
//! work without the system call (`serve_one`) on the finished client's cache. Runs on one-core
//! images only (with two cores under `-icount`, guest time is shared and the figures mean less).

use crate::failure::MsFailure;
use crate::harness::Harness;
use crate::images;
use crate::ms_scenario::{figures, outcome, reclaim_all, serve_all, start};
use crate::scenario::Env;
use crate::service::MemServer;
use memserver::server::Quota;
use memserver_client_sel4::abi::{figure, mode};
use memserver_protocol::ops::{AllocReq, DrainReq, FreeReq, RefillReq};
use memserver_protocol::{MagazinePage, Message, Request};
use sel4::pmu::cycle_counter;
use sel4::{MessageInfo, Word};

/// Objects of the dispatch-only measurement.
const DISPATCH_OBJECTS: usize = 256;

/// Runs both modes (magazines of 32 and of 64, which the magazine page's slots hold), one harness
/// test each.
pub fn run_all(env: &mut Env, ms: &MemServer, h: &mut Harness) {
    h.record_ms(
        "bench_alloc_free_through_magazines",
        bench(env, ms, h, mode::bench::MAGAZINES, 32),
    );
    h.record_ms(
        "bench_alloc_free_through_magazines_of_64",
        bench(env, ms, h, mode::bench::MAGAZINES, 64),
    );
    h.record_ms(
        "bench_one_message_per_operation",
        bench(env, ms, h, mode::bench::DIRECT, 0),
    );
}

fn bench(
    env: &mut Env,
    ms: &MemServer,
    h: &Harness,
    m: Word,
    batch: Word,
) -> Result<(), MsFailure> {
    let result = (|| {
        let i = start(env, ms, images::MS_BENCH, 1, m, batch, Quota::UNLIMITED)?;
        serve_all(ms)?;
        outcome(ms, i)?;
        let one = |id| figures(ms, i, id).first().copied();
        let objects = one(figure::BENCH_OBJECTS)
            .filter(|&n| n > 0)
            .ok_or(MsFailure::Setup("bench figures missing"))?;
        let messages = one(figure::BENCH_MESSAGES).unwrap_or(0);
        let print = |name: &str, total: Option<Word>, per: Word| {
            if let Some(t) = total {
                h.measure(&alloc::format!("{name}_total"), t);
                h.measure(name, t / per);
            }
        };
        if m == mode::bench::MAGAZINES {
            // Magazines of 32 keep the names the report has always read.
            let name = |what: &str| match batch {
                32 => alloc::format!("bench_magazine_{what}"),
                b => alloc::format!("bench_magazine{b}_{what}"),
            };
            print(
                &name("pair_instructions"),
                one(figure::BENCH_PAIR_INSTRUCTIONS),
                objects,
            );
            print(
                &name("local_pair_instructions"),
                one(figure::BENCH_LOCAL_PAIR_INSTRUCTIONS),
                mode::bench::LOCAL_PAIRS,
            );
            h.measure(&name("objects"), objects);
            h.measure(&name("messages"), messages);
        } else {
            print(
                "bench_direct_alloc_instructions",
                one(figure::BENCH_ALLOC_INSTRUCTIONS),
                objects,
            );
            print(
                "bench_direct_free_instructions",
                one(figure::BENCH_FREE_INSTRUCTIONS),
                objects,
            );
            print(
                "bench_serve_loop_ping_instructions",
                one(figure::BENCH_PING_INSTRUCTIONS),
                mode::bench::PINGS,
            );
            h.measure("bench_direct_objects", objects);
            h.measure("bench_direct_messages", messages);
            if let Some(handle) = one(figure::BENCH_CACHE_HANDLE) {
                let badge = ms
                    .with_client(i, |c| c.badge)
                    .ok_or(MsFailure::Setup("bench client vanished"))?;
                let (alloc, free) = dispatch_only(ms, badge, handle)?;
                h.measure("bench_server_dispatch_alloc_instructions", alloc);
                h.measure("bench_server_dispatch_free_instructions", free);
                let (refill, drain) = batches(ms, Through::Dispatch(badge), handle)?;
                h.measure("bench_server_dispatch_refill_32_instructions", refill);
                h.measure("bench_server_dispatch_drain_32_instructions", drain);
                let (refill, drain) = batches(ms, Through::ServeOne(i), handle)?;
                h.measure("bench_serve_one_refill_32_instructions", refill);
                h.measure("bench_serve_one_drain_32_instructions", drain);
                let page = ms
                    .with_client(i, |c| c.magazine.local_vaddr)
                    .ok_or(MsFailure::Setup("bench client vanished"))?;
                // SAFETY: the finished client's magazine page stays mapped read-write in the
                // root task until `reclaim_all` below; every access is atomic.
                let page = unsafe { &*(page as *const MagazinePage) };
                let (refill, drain) = burst_batches(ms, badge, page, handle)?;
                h.measure("bench_server_dispatch_refill_32_burst_instructions", refill);
                h.measure("bench_server_dispatch_drain_32_burst_instructions", drain);
                let (alloc, free) = serve_one_only(ms, i, handle)?;
                h.measure("bench_serve_one_alloc_instructions", alloc);
                h.measure("bench_serve_one_free_instructions", free);
            }
        }
        Ok(())
    })();
    reclaim_all(ms);
    result
}

/// The server's own work per alloc and per free (request decode, validation, allocator, reply
/// encode), without IPC and without the serve loop: `DISPATCH_OBJECTS` allocations then as many
/// frees of the finished bench client's cache, dispatched from here on core 0 (whose serve loop
/// is idle now). Every object goes back, so the client's accounting ends where it was.
fn dispatch_only(ms: &MemServer, badge: Word, handle: Word) -> Result<(Word, Word), MsFailure> {
    let mut msg = Message::default();
    let mut objs = [0 as Word; DISPATCH_OBJECTS];
    let send = |msg: &mut Message, req: Request| {
        let (label, len) = req.encode(&mut msg.words);
        msg.label = label;
        msg.len = len;
        ms.server.dispatch(0, badge, msg);
        (msg.label == 0).then_some(msg.words[0])
    };
    let t0 = cycle_counter();
    for o in objs.iter_mut() {
        *o = send(&mut msg, Request::Alloc(AllocReq { handle, flags: 0 }))
            .ok_or(MsFailure::Setup("dispatched alloc refused"))?;
    }
    let t1 = cycle_counter();
    for &addr in &objs {
        send(&mut msg, Request::Free(FreeReq { handle, addr }))
            .ok_or(MsFailure::Setup("dispatched free refused"))?;
    }
    let t2 = cycle_counter();
    let n = DISPATCH_OBJECTS as Word;
    Ok((t1.wrapping_sub(t0) / n, t2.wrapping_sub(t1) / n))
}

/// The root task's whole work per alloc and per free without the system call: what the serve
/// loop runs between `seL4_ReplyRecv` returning and the next one (client entry, request words,
/// dispatch, the mapping check of the handed-out object, counters, reply words), as
/// `dispatch_only` times them (`DISPATCH_OBJECTS` allocations, then as many frees).
fn serve_one_only(ms: &MemServer, index: usize, handle: Word) -> Result<(Word, Word), MsFailure> {
    let mut msg = Message::default();
    let mut objs = [0 as Word; DISPATCH_OBJECTS];
    let mut send = |req: Request| {
        let (label, len) = req.encode(&mut msg.words);
        let reply = ms.serve_one(0, index, MessageInfo::new(label, 0, 0, len), &mut msg);
        (reply.label() == 0).then_some(msg.words[0])
    };
    let t0 = cycle_counter();
    for o in objs.iter_mut() {
        *o = send(Request::Alloc(AllocReq { handle, flags: 0 }))
            .ok_or(MsFailure::Setup("served alloc refused"))?;
    }
    let t1 = cycle_counter();
    for &addr in &objs {
        send(Request::Free(FreeReq { handle, addr }))
            .ok_or(MsFailure::Setup("served free refused"))?;
    }
    let t2 = cycle_counter();
    let n = DISPATCH_OBJECTS as Word;
    Ok((t1.wrapping_sub(t0) / n, t2.wrapping_sub(t1) / n))
}

/// Refills and drains of 32 objects.
const BATCHES: Word = 16;

/// How [`batches`] hands a request over.
#[derive(Clone, Copy)]
enum Through {
    /// The server's dispatch alone, with the client's server badge.
    Dispatch(Word),
    /// The root task's whole per-message work, for client table entry `index`.
    ServeOne(usize),
}

/// The work per refill of 32 objects and per drain of 32 (the client's magazine page on core 0,
/// slot 0, carries the addresses both ways), without IPC: `BATCHES` refills, each drained right
/// after, timed separately.
fn batches(ms: &MemServer, through: Through, handle: Word) -> Result<(Word, Word), MsFailure> {
    let mut msg = Message::default();
    let mut send = |req: Request| {
        let (label, len) = req.encode(&mut msg.words);
        msg.label = label;
        msg.len = len;
        let refused = match through {
            Through::Dispatch(badge) => {
                ms.server.dispatch(0, badge, &mut msg);
                msg.label
            }
            Through::ServeOne(index) => {
                let info = MessageInfo::new(label, 0, 0, len);
                ms.serve_one(0, index, info, &mut msg).label()
            }
        };
        (refused == 0).then_some(msg.words[0])
    };
    let (mut refills, mut drains) = (0, 0);
    for _ in 0..BATCHES {
        let t0 = cycle_counter();
        let refill = RefillReq {
            handle,
            slot: 0,
            count: 32,
            flags: 0,
        };
        let n =
            send(Request::Refill(refill)).ok_or(MsFailure::Setup("dispatched refill refused"))?;
        let t1 = cycle_counter();
        let drain = DrainReq {
            handle,
            slot: 0,
            count: n,
        };
        send(Request::Drain(drain)).ok_or(MsFailure::Setup("dispatched drain refused"))?;
        let t2 = cycle_counter();
        refills += t1.wrapping_sub(t0);
        drains += t2.wrapping_sub(t1);
    }
    Ok((refills / BATCHES, drains / BATCHES))
}

/// Batches of 32 in flight at once in [`burst_batches`]: the `ms-bench` client's burst of 256.
const BURST_BATCHES: usize = 8;

/// The server's dispatch per refill of 32 and per drain of 32 with 256 objects in flight, as in
/// the `ms-bench` client's bursts (which [`batches`], draining each refill right away, does not
/// show): `BURST_BATCHES` refills whose addresses are kept, then as many drains of them, oldest
/// first, twice. `page` is the client's magazine page on core 0 (slot 0 carries the addresses).
fn burst_batches(
    ms: &MemServer,
    badge: Word,
    page: &MagazinePage,
    handle: Word,
) -> Result<(Word, Word), MsFailure> {
    const ROUNDS: usize = 2;
    let mut msg = Message::default();
    let mut send = |req: Request| {
        let (label, len) = req.encode(&mut msg.words);
        msg.label = label;
        msg.len = len;
        ms.server.dispatch(0, badge, &mut msg);
        (msg.label == 0).then_some(msg.words[0])
    };
    let mut held = [[0 as Word; 32]; BURST_BATCHES];
    let (mut refills, mut drains) = (0, 0);
    for _ in 0..ROUNDS {
        for batch in held.iter_mut() {
            let refill = RefillReq {
                handle,
                slot: 0,
                count: 32,
                flags: 0,
            };
            let t0 = cycle_counter();
            let n = send(Request::Refill(refill));
            refills += cycle_counter().wrapping_sub(t0);
            if n != Some(32) || page.read_slot(0, batch).is_none() {
                return Err(MsFailure::Setup("dispatched refill refused"));
            }
        }
        for batch in held.iter() {
            page.write_slot(0, batch)
                .ok_or(MsFailure::Setup("magazine slot"))?;
            let drain = DrainReq {
                handle,
                slot: 0,
                count: 32,
            };
            let t0 = cycle_counter();
            let n = send(Request::Drain(drain));
            drains += cycle_counter().wrapping_sub(t0);
            n.ok_or(MsFailure::Setup("dispatched drain refused"))?;
        }
    }
    let n = (ROUNDS * BURST_BATCHES) as Word;
    Ok((refills / n, drains / n))
}
