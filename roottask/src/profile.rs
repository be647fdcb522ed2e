//! The server's own work, timed in guest instructions (the PMU cycle counter, which under QEMU
//! `-icount shift=0` counts instructions): the dispatch alone and the serve loop's whole
//! per-message work without the system call, on a cache of a client that exited and waits for
//! its reap. For the supervisor's `PROFILE` operation (benchmarks): the client's objects all go
//! back, so its accounting ends where it was. Runs in the supervisor's serve loop; dispatches as
//! core 0, on the client's staging page of core 0.

use crate::service::MemServer;
use memserver_client_sel4::abi::supervisor::profile as fig;
use memserver_protocol::ops::{AllocReq, DrainReq, FreeReq, RefillReq};
use memserver_protocol::{MagazinePage, Message, Request};
use sel4::pmu::cycle_counter;
use sel4::{MessageInfo, Word};

/// Objects of the dispatch-only measurement.
const DISPATCH_OBJECTS: usize = 256;

/// Why a timed operation could not run.
#[derive(Debug, Clone, Copy)]
struct Refused;

/// Every figure of [`fig`] for cache `handle` of client `index` (server badge `badge`, magazine
/// page of core 0 at `page` in the root task); `None` if the server refused an operation.
pub fn run(
    ms: &MemServer,
    _core: usize,
    index: usize,
    badge: Word,
    page: usize,
    handle: Word,
) -> Option<[Word; fig::WORDS]> {
    let mut out = [0; fig::WORDS];
    let (alloc, free) = dispatch_only(ms, badge, handle).ok()?;
    out[fig::DISPATCH_ALLOC] = alloc;
    out[fig::DISPATCH_FREE] = free;
    let (refill, drain) = batches(ms, Through::Dispatch(badge), handle).ok()?;
    out[fig::DISPATCH_REFILL_32] = refill;
    out[fig::DISPATCH_DRAIN_32] = drain;
    let (refill, drain) = batches(ms, Through::ServeOne(index), handle).ok()?;
    out[fig::SERVE_ONE_REFILL_32] = refill;
    out[fig::SERVE_ONE_DRAIN_32] = drain;
    // SAFETY: the exited client's staging page stays mapped read-write in the root task until
    // its reap, which needs the supervisor whose request runs this; every access is atomic.
    let page = unsafe { &*(page as *const MagazinePage) };
    let (refill, drain) = burst_batches(ms, badge, page, handle).ok()?;
    out[fig::DISPATCH_REFILL_32_BURST] = refill;
    out[fig::DISPATCH_DRAIN_32_BURST] = drain;
    let (alloc, free) = serve_one_only(ms, index, handle).ok()?;
    out[fig::SERVE_ONE_ALLOC] = alloc;
    out[fig::SERVE_ONE_FREE] = free;
    Some(out)
}

/// The server's own work per alloc and per free (request decode, validation, allocator, reply
/// encode), without IPC and without the serve loop: `DISPATCH_OBJECTS` allocations then as many
/// frees of the exited client's cache, dispatched from here as core 0 (whose serve loop
/// is idle now). Every object goes back, so the client's accounting ends where it was.
fn dispatch_only(ms: &MemServer, badge: Word, handle: Word) -> Result<(Word, Word), Refused> {
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
        *o = send(&mut msg, Request::Alloc(AllocReq { handle, flags: 0 })).ok_or(Refused)?;
    }
    let t1 = cycle_counter();
    for &addr in &objs {
        send(&mut msg, Request::Free(FreeReq { handle, addr })).ok_or(Refused)?;
    }
    let t2 = cycle_counter();
    let n = DISPATCH_OBJECTS as Word;
    Ok((t1.wrapping_sub(t0) / n, t2.wrapping_sub(t1) / n))
}

/// The root task's whole work per alloc and per free without the system call: what the serve
/// loop runs between `seL4_ReplyRecv` returning and the next one (client entry, request words,
/// dispatch, the mapping check of the handed-out object, counters, reply words), as
/// `dispatch_only` times them (`DISPATCH_OBJECTS` allocations, then as many frees).
fn serve_one_only(ms: &MemServer, index: usize, handle: Word) -> Result<(Word, Word), Refused> {
    let mut msg = Message::default();
    let mut objs = [0 as Word; DISPATCH_OBJECTS];
    let mut send = |req: Request| {
        let (label, len) = req.encode(&mut msg.words);
        let reply = ms.serve_one(0, index, MessageInfo::new(label, 0, 0, len), &mut msg);
        (reply.label() == 0).then_some(msg.words[0])
    };
    let t0 = cycle_counter();
    for o in objs.iter_mut() {
        *o = send(Request::Alloc(AllocReq { handle, flags: 0 })).ok_or(Refused)?;
    }
    let t1 = cycle_counter();
    for &addr in &objs {
        send(Request::Free(FreeReq { handle, addr })).ok_or(Refused)?;
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

/// The work per refill of 32 objects and per drain of 32 (the client's staging page of core 0,
/// slot 0, carries the addresses both ways), without IPC: `BATCHES` refills, each drained right
/// after, timed separately.
fn batches(ms: &MemServer, through: Through, handle: Word) -> Result<(Word, Word), Refused> {
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
        let n = send(Request::Refill(refill)).ok_or(Refused)?;
        let t1 = cycle_counter();
        let drain = DrainReq {
            handle,
            slot: 0,
            count: n,
        };
        send(Request::Drain(drain)).ok_or(Refused)?;
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
/// first, twice. `page` is the client's staging page of core 0 (slot 0 carries the addresses).
fn burst_batches(
    ms: &MemServer,
    badge: Word,
    page: &MagazinePage,
    handle: Word,
) -> Result<(Word, Word), Refused> {
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
                return Err(Refused);
            }
        }
        for batch in held.iter() {
            page.write_slot(0, batch).ok_or(Refused)?;
            let drain = DrainReq {
                handle,
                slot: 0,
                count: 32,
            };
            let t0 = cycle_counter();
            let n = send(Request::Drain(drain));
            drains += cycle_counter().wrapping_sub(t0);
            n.ok_or(Refused)?;
        }
    }
    let n = (ROUNDS * BURST_BATCHES) as Word;
    Ok((refills / n, drains / n))
}
