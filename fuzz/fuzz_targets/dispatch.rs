//! Fuzzes the server's dispatch with arbitrary messages from three clients on two cores, with
//! hostile magazine pages and clients that scribble over memory. Messages are built from the input
//! with a dictionary of values that matter (the clients' cache handles and object addresses, their
//! neighbours, other clients' addresses, slots, counts, sizes) so that deep paths are reached, plus
//! raw garbage.
//!
//! One world (server, arena, magazine pages) serves every input; an input attaches its clients
//! when it first uses them and the world is reset after it by detaching everyone. Each node of the
//! arena is exactly one largest buddy block, so a reset world has the same free memory as a fresh
//! one and every input starts from the same state.
//!
//! Checks, after every message: the reply is well-formed, every address handed out is in the
//! client's window onto the arena, and a refused request left the client's usage unchanged. Every
//! few messages and at the end: the server's invariants hold. After the reset: the invariants
//! hold, every client that had not left was detached, and the world equals a fresh one (the
//! allocator's accounting, its free blocks of every order on every node, no slabinfo row); every
//! [`PROBE_EVERY`] inputs, a fixed session run on the reset world answers exactly as it did on
//! the fresh world.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memserver::buddy::{MAX_ORDER, PAGE_SIZE};
use memserver::platform::host::HostArena;
use memserver::platform::Platform;
use memserver::server::{AttachParams, Quota, Server, ServerConfig};
use memserver::topology::{NodeId, Topology, MAX_CORES};
use memserver::{Allocator, Stats};
use memserver_protocol::ops::*;
use memserver_protocol::{
    Error, Label, MagazinePage, Message, Request, MAX_BATCH, MSG_MAX_WORDS, PROTOCOL_VERSION,
};
use std::sync::{Mutex, OnceLock};

const CLIENTS: usize = 3;
const CORES: usize = 2;
const NODES: usize = 2;
/// Each node is one buddy block of this order (1 MiB): small, so that memory runs out often and
/// the invariant checks (linear in the arena's frames) stay cheap.
const NODE_ORDER: u8 = 8;
const NODE_BYTES: usize = PAGE_SIZE << NODE_ORDER;
/// Client addresses are server addresses plus this, so every address crosses the translation.
const OFFSET: u64 = 0x10_0000_0000;
/// Messages between two full invariant checks within an input.
const VALIDATE_EVERY: usize = 32;
/// Inputs between two runs of the equivalence probe.
const PROBE_EVERY: u64 = 256;

/// What must be equal between a fresh world and a reset one.
#[derive(Debug, PartialEq, Eq)]
struct Fingerprint {
    stats: Stats,
    /// Free blocks of each order on each node.
    free_blocks: Vec<usize>,
    slabinfo_rows: usize,
}

fn fingerprint(server: &Server) -> Fingerprint {
    let a = server.allocator();
    let free_blocks = (0..NODES)
        .flat_map(|n| (0..=MAX_ORDER).map(move |o| (n, o)))
        .map(|(n, o)| a.buddy().free_blocks(NodeId(n as u8), o))
        .collect();
    Fingerprint {
        stats: a.stats(),
        free_blocks,
        slabinfo_rows: a.slabinfo_rows(None).len(),
    }
}

struct World {
    server: Server,
    pages: Vec<Box<MagazinePage>>,
    fresh: Fingerprint,
    /// The probe's replies on the fresh world.
    probe: Vec<(u64, Vec<u64>)>,
    inputs: u64,
    /// Server addresses of the arena.
    arena: std::ops::Range<usize>,
    _arena: HostArena,
}

impl World {
    fn new() -> World {
        let arena = HostArena::new(NODES * NODE_BYTES, NODES).unwrap();
        let topo = Topology::uniform(NODES, CORES / NODES).unwrap();
        let alloc = Allocator::new(topo, arena.memory()).unwrap();
        let server = Server::new(alloc, ServerConfig::default());
        let pages = (0..CLIENTS * CORES)
            .map(|_| Box::new(MagazinePage::new()))
            .collect();
        let fresh = fingerprint(&server);
        assert_eq!(fresh.free_blocks.iter().sum::<usize>(), NODES);
        let mut w = World {
            server,
            pages,
            fresh,
            probe: Vec::new(),
            inputs: 0,
            arena: arena.base()..arena.base() + arena.len(),
            _arena: arena,
        };
        w.probe = w.run_probe();
        w
    }

    fn attach(&self, client: usize, greet: bool) -> u64 {
        let mut pages = [0usize; MAX_CORES];
        for (core, p) in pages.iter_mut().take(CORES).enumerate() {
            *p = &*self.pages[client * CORES + core] as *const MagazinePage as usize;
        }
        let quota = if client == 2 {
            Quota {
                bytes: 1 << 16,
                objects: 64,
                metadata: u64::MAX,
            }
        } else {
            Quota::UNLIMITED
        };
        // SAFETY: the pages are boxed in the world, which lives in a static for the whole process.
        let badge = unsafe {
            self.server.attach(&AttachParams {
                pages,
                offset: OFFSET as usize,
                quota,
                slab_debug: "",
            })
        }
        .expect("attach");
        if greet {
            let mut msg = Message::default();
            let (label, len) = Request::Hello(HelloReq {
                version: PROTOCOL_VERSION,
            })
            .encode(&mut msg.words);
            msg.label = label;
            msg.len = len;
            self.server.dispatch(client % CORES, badge, &mut msg);
            assert_eq!(msg.label, 0, "hello");
        }
        badge
    }

    /// A fixed session of one client touching slabs, debug checks, kmalloc classes, a large block
    /// and slabinfo; returns its replies and the addresses it was handed. Leaves the world as it
    /// found it.
    fn run_probe(&self) -> Vec<(u64, Vec<u64>)> {
        let badge = self.attach(0, true);
        let mut out = Vec::new();
        let mut send = |req: Request<'_>| {
            let mut msg = Message::default();
            let (label, len) = req.encode(&mut msg.words);
            msg.label = label;
            msg.len = len;
            self.server.dispatch(0, badge, &mut msg);
            out.push((msg.label, msg.words[..msg.len].to_vec()));
            msg.words
        };
        let flags = cache_flags::RED_ZONE | cache_flags::POISON | cache_flags::STORE_USER;
        let create = CacheCreateReq {
            size: 200,
            align: 8,
            flags,
            ctor: 1,
        };
        let handle = send(Request::CacheCreate(create, "probe"))[0];
        let alloc = AllocReq { handle, flags: 0 };
        let first = send(Request::Alloc(alloc))[0];
        send(Request::Alloc(alloc));
        let refill = RefillReq {
            handle,
            slot: 1,
            count: 16,
            flags: 0,
        };
        send(Request::Refill(refill));
        send(Request::Free(FreeReq {
            handle,
            addr: first,
        }));
        send(Request::Free(FreeReq {
            handle,
            addr: first,
        }));
        for size in [8, 100, 3000, 20_000] {
            send(Request::Kmalloc(KmallocReq { size, flags: 0 }));
        }
        send(Request::Slabinfo(SlabinfoReq::default()));
        send(Request::Stats(StatsReq {}));
        let mut refilled = [0u64; 16];
        self.pages[0].read_slot(1, &mut refilled).expect("slot");
        out.push((0, refilled.to_vec()));
        assert_eq!(self.server.detach_all(), 1, "probe client detached");
        out
    }
}

fn world() -> &'static Mutex<World> {
    static W: OnceLock<Mutex<World>> = OnceLock::new();
    W.get_or_init(|| Mutex::new(World::new()))
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn word(&mut self) -> u64 {
        let mut w = [0u8; 8];
        for b in &mut w {
            *b = self.byte();
        }
        u64::from_le_bytes(w)
    }
}

#[derive(Default)]
struct Known {
    handles: Vec<u64>,
    addrs: Vec<u64>,
}

fn value(inp: &mut Input, me: usize, known: &[Known; CLIENTS]) -> u64 {
    let pick = |v: &Vec<u64>, i: u8| v.get(i as usize % v.len().max(1)).copied().unwrap_or(0);
    match inp.byte() % 12 {
        0 => pick(&known[me].handles, inp.byte()),
        1 | 2 => pick(&known[me].addrs, inp.byte()),
        3 => pick(&known[me].addrs, inp.byte()).wrapping_add(8),
        4 => {
            let other = (me + 1 + inp.byte() as usize % (CLIENTS - 1)) % CLIENTS;
            pick(&known[other].addrs, inp.byte())
        }
        5 => (inp.byte() % 6) as u64,
        6 => inp.byte() as u64,
        7 => KMALLOC_CLASSES[inp.byte() as usize % KMALLOC_CLASSES.len()],
        8 => 1 << (inp.byte() % 64),
        _ => inp.word(),
    }
}

/// Client `me`'s view of one input: its badge once attached, and whether it has left.
#[derive(Clone, Copy, Default)]
struct Seat {
    badge: Option<u64>,
    left: bool,
}

fn run(data: &[u8]) {
    let mut w = world().lock().unwrap_or_else(|e| e.into_inner());
    let mut inp = Input(data);
    // Sometimes client 1 never says hello.
    let greet_1 = data.first().is_none_or(|&x| x & 0x80 == 0);
    let mut seats = [Seat::default(); CLIENTS];
    let mut known: [Known; CLIENTS] = Default::default();
    let mut msg = Message::default();
    let mut batch = [0u64; MAX_BATCH];
    let mut steps = 0usize;
    while !inp.0.is_empty() {
        let head = inp.byte();
        let me = head as usize % CLIENTS;
        let core = (head as usize / CLIENTS) % CORES;
        let badge = *seats[me]
            .badge
            .get_or_insert_with(|| w.attach(me, me != 1 || greet_1));
        let page = &w.pages[me * CORES + core];
        let kind = inp.byte();
        match kind % 29 {
            k @ 0..=18 => {
                let label = Label::ALL[k as usize % Label::ALL.len()];
                let n = match inp.byte() % 8 {
                    0 => inp.byte() as usize % (MSG_MAX_WORDS + 1),
                    _ => label.request_words(),
                };
                msg.label = label.word();
                msg.len = n;
                for i in 0..n {
                    msg.words[i] = value(&mut inp, me, &known);
                }
                if label == Label::Hello && inp.byte() % 4 != 0 {
                    msg.words[0] = PROTOCOL_VERSION;
                }
            }
            19 | 20 => {
                let size = value(&mut inp, me, &known) % 5000;
                let mut name = [0u8; 12];
                for b in &mut name {
                    *b = b'a' + inp.byte() % 26;
                }
                let name = std::str::from_utf8(&name[..1 + inp.byte() as usize % 12]).unwrap();
                let req = CacheCreateReq {
                    size,
                    align: 8,
                    flags: value(&mut inp, me, &known) & cache_flags::ALL,
                    ctor: (inp.byte() % 2) as u64,
                };
                let (l, n) = Request::CacheCreate(req, name).encode(&mut msg.words);
                msg.label = l;
                msg.len = n;
            }
            21 | 22 => {
                let slot = inp.byte() as usize % 4;
                let n = 1 + inp.byte() as usize % MAX_BATCH;
                for a in &mut batch[..n] {
                    *a = value(&mut inp, me, &known);
                }
                page.write_slot(slot, &batch[..n]);
                continue;
            }
            23 | 24 => {
                scribble(&mut inp, me, &known, &w.arena);
                continue;
            }
            _ => {
                msg.label = inp.word() % 40;
                msg.len = inp.byte() as usize;
                for i in 0..msg.len.min(MSG_MAX_WORDS) {
                    msg.words[i] = inp.word();
                }
            }
        }
        let req = Request::decode(msg.label, &msg.words[..msg.len.min(MSG_MAX_WORDS)])
            .ok()
            .map(|r| r.split_name().0);
        let before = w.server.usage(badge).ok();
        w.server.dispatch(core, badge, &mut msg);
        check_reply(&msg);
        if msg.label == 0 {
            let label = req.as_ref().map(Request::label);
            let handed_out = |addrs: &[u64]| {
                for &a in addrs {
                    let server = a.wrapping_sub(OFFSET) as usize;
                    assert!(w.arena.contains(&server), "{label:?} handed out {a:#x}");
                }
            };
            match req {
                Some(Request::CacheCreate(..)) => known[me].handles.push(msg.words[0]),
                Some(Request::Kmalloc(KmallocReq { size: 0, .. }))
                | Some(Request::KmallocNode(KmallocNodeReq { size: 0, .. }))
                | Some(Request::Krealloc(KreallocReq { size: 0, .. })) => {
                    let a = msg.words[0];
                    assert!(a == ZERO_SIZE_PTR, "{label:?} of size 0 answered {a:#x}");
                }
                Some(Request::Alloc(_))
                | Some(Request::Kmalloc(_))
                | Some(Request::AllocNode(_))
                | Some(Request::KmallocNode(_))
                | Some(Request::Krealloc(_)) => {
                    handed_out(&msg.words[..1]);
                    known[me].addrs.push(msg.words[0]);
                }
                Some(Request::Refill(RefillReq { slot, count, .. }))
                | Some(Request::KmallocRefill(KmallocRefillReq { slot, count, .. })) => {
                    let n = msg.words[0] as usize;
                    assert!(
                        n as u64 <= count && n <= MAX_BATCH,
                        "refilled {n} of {count}"
                    );
                    page.read_slot(slot as usize, &mut batch[..n])
                        .expect("slot");
                    handed_out(&batch[..n]);
                    known[me].addrs.extend_from_slice(&batch[..n]);
                }
                Some(Request::Detach(_)) => {
                    known[me] = Known::default();
                    seats[me].left = true;
                }
                _ => {}
            }
            if known[me].addrs.len() > 512 {
                known[me].addrs.drain(..256);
            }
        } else if let Some(before) = before {
            let after = w.server.usage(badge).ok();
            assert_eq!(
                after,
                Some(before),
                "refused {req:?} ({:?}) changed the client's usage",
                Error::from_code(msg.label)
            );
        }
        steps += 1;
        if steps.is_multiple_of(VALIDATE_EVERY) {
            w.server.validate().expect("invariants");
        }
    }
    w.server.validate().expect("invariants");
    reset(&mut w, &seats);
}

/// Detaches everyone and checks that the world is as fresh as it started.
fn reset(w: &mut World, seats: &[Seat; CLIENTS]) {
    let attached = seats
        .iter()
        .filter(|s| s.badge.is_some() && !s.left)
        .count();
    assert_eq!(w.server.detach_all(), attached, "clients detached");
    w.server.validate().expect("invariants after detach");
    let now = fingerprint(&w.server);
    assert_eq!(now, w.fresh, "a reset world equals a fresh one");
    w.inputs += 1;
    if w.inputs.is_multiple_of(PROBE_EVERY) {
        let probe = w.run_probe();
        assert_eq!(probe, w.probe, "a reset world answers as a fresh one");
        assert_eq!(fingerprint(&w.server), w.fresh, "the probe left nothing");
    }
}

/// Writes bytes from the input over the arena near an address a client knows, as a client
/// writing its own (or, through a stale or foreign address, any) memory does: red zones, poison
/// and freed objects. The server keeps all metadata out of line, so nothing written here may make
/// it misbehave.
fn scribble(inp: &mut Input, me: usize, known: &[Known; CLIENTS], arena: &std::ops::Range<usize>) {
    let at = value(inp, me, known);
    let delta = inp.byte() as i8 as i64;
    let len = 1 + inp.byte() as usize % 16;
    let start = (at.wrapping_sub(OFFSET) as i64).wrapping_add(delta) as usize;
    let fill = inp.byte();
    let pattern = [fill, 0xa5, 0x6b, 0x5a, 0xcc, 0xbb, 0];
    if start < arena.start || start.saturating_add(len) > arena.end {
        return;
    }
    for i in 0..len {
        let b = pattern[(inp.byte() as usize + i) % pattern.len()];
        // SAFETY: `start..start + len` lies in the arena, a live allocation of the static world
        // that only the allocator addresses; it keeps no Rust reference into client memory, which
        // it reads (red zones, poison) as untrusted data.
        unsafe { ((start + i) as *mut u8).write_volatile(b) };
    }
}

/// A reply's label is 0 or a known error, and its length fits a message.
fn check_reply(msg: &Message) {
    assert!(msg.len <= MSG_MAX_WORDS, "reply length {}", msg.len);
    assert!(
        msg.label == 0 || Error::from_code(msg.label).is_some(),
        "reply label {}",
        msg.label
    );
}

fuzz_target!(|data: &[u8]| run(data));
