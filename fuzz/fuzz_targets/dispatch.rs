//! Fuzzes the server's dispatch with arbitrary messages from three clients on two cores, with
//! hostile magazine pages. Messages are built from the input with a dictionary of values that
//! matter (the clients' cache handles and object addresses, their neighbours, other clients'
//! addresses, slots, counts, sizes) so that deep paths are reached, plus raw garbage.
//! After every message: the reply is well-formed; every few messages and at the end: the server's
//! invariants hold; at the end all clients detach and the accounting equals its starting value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memserver::platform::host::HostArena;
use memserver::platform::Platform;
use memserver::server::{AttachParams, Quota, Server, ServerConfig};
use memserver::topology::{Topology, MAX_CORES};
use memserver::{Allocator, Stats};
use memserver_protocol::ops::*;
use memserver_protocol::{Error, Label, MagazinePage, Message, Request, MSG_MAX_WORDS};
use std::sync::{Mutex, OnceLock};

const CLIENTS: usize = 3;
const CORES: usize = 2;

struct World {
    server: Server,
    pages: Vec<Box<MagazinePage>>,
    initial: Stats,
    _arena: HostArena,
}

fn world() -> &'static Mutex<World> {
    static W: OnceLock<Mutex<World>> = OnceLock::new();
    W.get_or_init(|| {
        let arena = HostArena::new(16 << 20, 2).unwrap();
        let topo = Topology::uniform(2, 1).unwrap();
        let alloc = Allocator::new(topo, arena.memory()).unwrap();
        let server = Server::new(alloc, ServerConfig::default());
        let pages = (0..CLIENTS * CORES)
            .map(|_| Box::new(MagazinePage::new()))
            .collect();
        let initial = server.allocator().stats();
        Mutex::new(World {
            server,
            pages,
            initial,
            _arena: arena,
        })
    })
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn word(&mut self) -> u64 {
        let mut w = [0u8; 8];
        for b in &mut w {
            *b = self.byte().unwrap_or(0);
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
    match inp.byte().unwrap_or(0) % 12 {
        0 => pick(&known[me].handles, inp.byte().unwrap_or(0)),
        1 | 2 => pick(&known[me].addrs, inp.byte().unwrap_or(0)),
        3 => pick(&known[me].addrs, inp.byte().unwrap_or(0)).wrapping_add(8),
        4 => {
            let other = (me + 1 + inp.byte().unwrap_or(0) as usize % (CLIENTS - 1)) % CLIENTS;
            pick(&known[other].addrs, inp.byte().unwrap_or(0))
        }
        5 => (inp.byte().unwrap_or(0) % 6) as u64,
        6 => inp.byte().unwrap_or(0) as u64,
        7 => KMALLOC_CLASSES[inp.byte().unwrap_or(0) as usize % KMALLOC_CLASSES.len()],
        8 => 1 << (inp.byte().unwrap_or(0) % 64),
        _ => inp.word(),
    }
}

fn run(data: &[u8]) {
    let w = world().lock().unwrap_or_else(|e| e.into_inner());
    let mut inp = Input(data);
    let mut badges = [0u64; CLIENTS];
    for (c, b) in badges.iter_mut().enumerate() {
        let mut pages = [0usize; MAX_CORES];
        for (core, p) in pages.iter_mut().take(CORES).enumerate() {
            *p = &*w.pages[c * CORES + core] as *const MagazinePage as usize;
        }
        let quota = if c == 2 {
            Quota {
                bytes: 1 << 16,
                objects: 64,
            }
        } else {
            Quota::UNLIMITED
        };
        // SAFETY: the pages live in the static world for the whole process.
        *b = unsafe {
            w.server.attach(&AttachParams {
                pages,
                offset: 0,
                quota,
            })
        }
        .unwrap();
    }
    let mut known: [Known; CLIENTS] = Default::default();
    let mut msg = Message::default();
    for (c, &b) in badges.iter().enumerate() {
        if c == 1 && data.first().is_some_and(|&x| x & 0x80 != 0) {
            continue; // sometimes leave one client un-greeted
        }
        msg.label = Label::Hello.word();
        msg.len = HelloReq {
            version: memserver_protocol::PROTOCOL_VERSION,
        }
        .encode(&mut msg.words);
        w.server.dispatch(c % CORES, b, &mut msg);
        assert_eq!(msg.label, 0);
    }
    let mut steps = 0;
    while let Some(head) = inp.byte() {
        let me = head as usize % CLIENTS;
        let core = (head as usize / CLIENTS) % CORES;
        let page = &w.pages[me * CORES + core];
        let kind = inp.byte().unwrap_or(0);
        match kind % 24 {
            k @ 0..=15 => {
                let label = Label::ALL[k as usize];
                let n = match inp.byte().unwrap_or(0) % 8 {
                    0 => inp.byte().unwrap_or(0) as usize % (MSG_MAX_WORDS + 1),
                    _ => expected_len(label),
                };
                msg.label = label.word();
                msg.len = n;
                for i in 0..n {
                    msg.words[i] = value(&mut inp, me, &known);
                }
                if label == Label::Hello && inp.byte().unwrap_or(0) % 4 != 0 {
                    msg.words[0] = memserver_protocol::PROTOCOL_VERSION;
                }
            }
            16 | 17 => {
                let size = value(&mut inp, me, &known) % 5000;
                let mut name = [0u8; 12];
                for b in &mut name {
                    *b = b'a' + inp.byte().unwrap_or(0) % 26;
                }
                let name = std::str::from_utf8(&name[..1 + inp.byte().unwrap_or(0) as usize % 12])
                    .unwrap();
                let req = CacheCreateReq {
                    size,
                    align: 8,
                    flags: value(&mut inp, me, &known) & cache_flags::ALL,
                    ctor: (inp.byte().unwrap_or(0) % 2) as u64,
                };
                let (l, n) = Request::CacheCreate(req, name).encode(&mut msg.words);
                msg.label = l;
                msg.len = n;
            }
            18 | 19 => {
                let slot = inp.byte().unwrap_or(0) as usize % 4;
                let n = 1 + inp.byte().unwrap_or(0) as usize % 64;
                let addrs: Vec<u64> = (0..n).map(|_| value(&mut inp, me, &known)).collect();
                page.write_slot(slot, &addrs);
                continue;
            }
            _ => {
                msg.label = inp.word() % 40;
                msg.len = inp.byte().unwrap_or(0) as usize;
                for i in 0..msg.len.min(MSG_MAX_WORDS) {
                    msg.words[i] = inp.word();
                }
            }
        }
        let label = Label::try_from(msg.label).ok();
        w.server.dispatch(core, badges[me], &mut msg);
        assert!(msg.len <= MSG_MAX_WORDS);
        assert!(
            msg.label == 0 || Error::from_code(msg.label).is_some(),
            "reply label {}",
            msg.label
        );
        if msg.label == 0 {
            match label {
                Some(Label::CacheCreate) => known[me].handles.push(msg.words[0]),
                Some(Label::Alloc) | Some(Label::Kmalloc) => known[me].addrs.push(msg.words[0]),
                Some(Label::Refill) | Some(Label::KmallocRefill) => {
                    let mut a = vec![0u64; msg.words[0] as usize];
                    page.read_slot(0, &mut a);
                    known[me].addrs.extend(a);
                }
                Some(Label::Detach) => {
                    known[me] = Known::default();
                }
                _ => {}
            }
            if known[me].addrs.len() > 512 {
                known[me].addrs.drain(..256);
            }
        }
        steps += 1;
        if steps % 16 == 0 {
            w.server.validate().expect("invariants");
        }
    }
    w.server.validate().expect("invariants");
    for b in badges {
        let _ = w.server.detach(b);
    }
    w.server.validate().expect("invariants after detach");
    assert_eq!(
        w.server.allocator().stats(),
        w.initial,
        "accounting restored"
    );
}

fn expected_len(label: Label) -> usize {
    match label {
        Label::Detach | Label::Stats => 0,
        Label::Hello | Label::CacheDestroy | Label::CacheShrink | Label::Kfree | Label::Ksize => 1,
        Label::Alloc | Label::Free | Label::Kmalloc | Label::KfreeDrain | Label::Slabinfo => 2,
        Label::Drain => 3,
        Label::CacheCreate | Label::Refill | Label::KmallocRefill => 4,
    }
}

fuzz_target!(|data: &[u8]| run(data));
