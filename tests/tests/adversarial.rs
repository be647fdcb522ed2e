//! The adversarial list, table-driven: each row sends one bad request (raw words, or a hostile
//! magazine page) and expects its own error. After every row: the attacker's next good request is
//! served, the victim's objects are intact, and the server's invariants hold. At the end every
//! client detaches (the attacker and a quota-limited client with live objects) and the accounting
//! equals the value before they attached.
use memserver::server::Quota;
use memserver_client::host::HostTransport;
use memserver_client::{cache_flags, Client, Transport};
use memserver_protocol::ops::*;
use memserver_protocol::{Error, Failure, Label, Message, Request, MAX_BATCH, PROTOCOL_VERSION};
use memserver_tests::{intact, stamp, World};

struct Env<'w> {
    world: &'w World,
    atk: Client<HostTransport>,
    /// The attacker's plain cache (batch 0: every call is one message).
    h: u64,
    victim_objs: Vec<usize>,
    victim_blocks: Vec<usize>,
}

impl Env<'_> {
    fn raw(&mut self, label: Label, words: &[u64]) -> Result<Failure, String> {
        self.raw_label(label.word(), words)
    }

    fn raw_label(&mut self, label: u64, words: &[u64]) -> Result<Failure, String> {
        let (status, body) = self.atk.raw_call(label, words);
        if status == 0 {
            return Err(format!("request succeeded: {body:x?}"));
        }
        Ok(Failure::from_reply(status, body))
    }

    fn alloc(&mut self) -> usize {
        let (status, body) = self.atk.raw_call(Label::Alloc.word(), &[self.h, 0]);
        assert_eq!(status, 0);
        body[0] as usize
    }

    fn free(&mut self, a: usize) {
        let (status, _) = self.atk.raw_call(Label::Free.word(), &[self.h, a as u64]);
        assert_eq!(status, 0, "free of {a:#x}");
    }

    fn drain(&mut self, addrs: &[u64]) -> Result<Failure, String> {
        self.atk.transport().magazine().write_slot(0, addrs);
        self.raw(Label::Drain, &[self.h, 0, addrs.len() as u64])
    }

    fn live(&mut self) -> u64 {
        self.atk.stats().unwrap().live_objects
    }
}

type Row = (&'static str, Error, fn(&mut Env) -> Result<Failure, String>);

fn rows() -> Vec<Row> {
    vec![
        ("unknown label", Error::UnknownLabel, |e| {
            e.raw_label(999, &[])
        }),
        (
            "message shorter than its operation",
            Error::BadLength,
            |e| {
                let h = e.h;
                e.raw(Label::Alloc, &[h])
            },
        ),
        ("message longer than its operation", Error::BadLength, |e| {
            let h = e.h;
            e.raw(Label::Free, &[h, 4096, 0])
        }),
        ("batch count above the limit", Error::BadBatch, |e| {
            let h = e.h;
            e.raw(Label::Refill, &[h, 0, MAX_BATCH as u64 + 1, 0])
        }),
        ("magazine slot outside the page", Error::BadSlot, |e| {
            let h = e.h;
            e.raw(Label::Drain, &[h, 9, 1])
        }),
        ("unknown flag", Error::UnknownFlag, |e| {
            let h = e.h;
            e.raw(Label::Alloc, &[h, 1 << 7])
        }),
        (
            "garbage address in a drained magazine",
            Error::NotAllocated,
            |e| e.drain(&[0x1234_5678_9ab0]),
        ),
        (
            "another client's object in a drained magazine",
            Error::ForeignPointer,
            |e| {
                let v = e.victim_objs[3] as u64;
                e.drain(&[v])
            },
        ),
        (
            "duplicated address in a drained magazine",
            Error::DuplicateAddress,
            |e| {
                let (a, b) = (e.alloc(), e.alloc());
                let live = e.live();
                let r = e.drain(&[a as u64, b as u64, a as u64]);
                assert_eq!(e.live(), live, "nothing was freed");
                e.free(a);
                e.free(b);
                r
            },
        ),
        (
            "good then bad address in a drained magazine",
            Error::NotAllocated,
            |e| {
                let a = e.alloc();
                let live = e.live();
                let r = e.drain(&[a as u64, 8]);
                assert_eq!(e.live(), live, "nothing was freed");
                e.free(a);
                r
            },
        ),
        ("forged cache handle", Error::BadHandle, |e| {
            e.raw(Label::Alloc, &[0x0000_0777_0000_0001, 0])
        }),
        ("destroyed cache handle", Error::StaleHandle, |e| {
            let mut c = e.atk.kmem_cache_create("doomed", 200, 8, 0, None).unwrap();
            e.atk.kmem_cache_destroy(&mut c).unwrap();
            e.raw(Label::Alloc, &[c.handle(), 0])
        }),
        (
            "another client's object freed",
            Error::ForeignPointer,
            |e| {
                let (h, v) = (e.h, e.victim_objs[0] as u64);
                e.raw(Label::Free, &[h, v])
            },
        ),
        (
            "another client's kmalloc block freed",
            Error::ForeignPointer,
            |e| {
                let v = e.victim_blocks[1] as u64;
                e.raw(Label::Kfree, &[v])
            },
        ),
        ("double free", Error::DoubleFree, |e| {
            let a = e.alloc();
            e.free(a);
            let h = e.h;
            e.raw(Label::Free, &[h, a as u64])
        }),
        ("interior pointer", Error::InteriorPointer, |e| {
            let a = e.alloc();
            let h = e.h;
            let r = e.raw(Label::Free, &[h, a as u64 + 8]);
            if let Ok(f) = &r {
                assert_eq!(f.detail[1], 8, "offset into the object");
            }
            e.free(a);
            r
        }),
        (
            "pointer never allocated (next object of a fresh slab)",
            Error::NotAllocated,
            |e| {
                let mut c = e.atk.kmem_cache_create("fresh", 300, 8, 0, None).unwrap();
                let a = e.atk.kmem_cache_alloc(&mut c).unwrap();
                let r = e.raw(Label::Free, &[c.handle(), (a + 3 * 304) as u64]);
                e.atk.kmem_cache_free(&mut c, a).unwrap();
                e.atk.kmem_cache_destroy(&mut c).unwrap();
                r
            },
        ),
        ("pointer outside every slab", Error::NotAllocated, |e| {
            let x = 0u64;
            let h = e.h;
            e.raw(Label::Free, &[h, &x as *const u64 as u64])
        }),
        ("kmalloc refill of size 0", Error::SizeZero, |e| {
            e.raw(Label::KmallocRefill, &[0, 0, 1, 0])
        }),
        ("kmalloc too large", Error::SizeTooLarge, |e| {
            e.raw(Label::Kmalloc, &[64 << 20, 0])
        }),
        ("cache of size 0", Error::SizeZero, |e| {
            Ok(e.atk
                .kmem_cache_create("zero", 0, 8, 0, None)
                .err()
                .unwrap())
        }),
        ("cache object too large", Error::SizeTooLarge, |e| {
            Ok(e.atk
                .kmem_cache_create("huge", 1 << 40, 8, 0, None)
                .err()
                .unwrap())
        }),
        ("cache name with a space", Error::BadName, |e| {
            let mut w = [0u64; 120];
            let req = CacheCreateReq {
                size: 8,
                align: 8,
                flags: 0,
                ctor: 0,
            };
            let (l, n) = Request::CacheCreate(req, "bad name").encode(&mut w);
            e.raw_label(l, &w[..n])
        }),
        (
            "cache name frame with trailing bytes",
            Error::BadPayload,
            |e| {
                let mut w = [0u64; 120];
                let req = CacheCreateReq {
                    size: 8,
                    align: 8,
                    flags: 0,
                    ctor: 0,
                };
                let (l, n) = Request::CacheCreate(req, "name").encode(&mut w);
                w[4] += 1;
                e.raw_label(l, &w[..n])
            },
        ),
        ("slabinfo cursor never issued", Error::BadCursor, |e| {
            e.raw(Label::Slabinfo, &[0, 100_000, 0, 0, 0, 0])
        }),
        (
            "server-wide slabinfo cursor that is no position",
            Error::BadCursor,
            |e| e.raw(Label::Slabinfo, &[1, 7, 0, 0, 0, 0]),
        ),
        (
            "server-wide slabinfo after no name",
            Error::BadCursor,
            |e| e.raw(Label::Slabinfo, &[1, 1, 0, 0, 0, 0]),
        ),
        (
            "server-wide slabinfo after a name with bytes past its end",
            Error::BadCursor,
            |e| e.raw(Label::Slabinfo, &[1, 1, u64::from(b'a'), 0, 0, 1]),
        ),
        ("violation log cursor past the end", Error::BadCursor, |e| {
            e.raw(Label::Violations, &[100_000])
        }),
        ("memory node beyond the topology", Error::BadField, |e| {
            let h = e.h;
            e.raw(Label::AllocNode, &[h, 99, 0])
        }),
        ("wrong protocol version", Error::VersionMismatch, |e| {
            let r = e.raw(Label::Hello, &[PROTOCOL_VERSION + 1]);
            if let Ok(f) = &r {
                assert_eq!(f.detail[0], PROTOCOL_VERSION);
            }
            r
        }),
        ("red zone overwritten", Error::RedZone, |e| {
            let mut c = e
                .atk
                .kmem_cache_create("rz", 24, 8, cache_flags::RED_ZONE, None)
                .unwrap();
            let a = e.atk.kmem_cache_alloc(&mut c).unwrap();
            // SAFETY: one byte past our own 24-byte object: its right red zone, in our slab.
            unsafe { *((a + 24) as *mut u8) = 0 };
            let r = e
                .atk
                .kmem_cache_free(&mut c, a)
                .err()
                .ok_or("free accepted");
            if let Ok(f) = &r {
                assert_eq!(
                    (f.detail[0], f.detail[1]),
                    (a as u64, 24),
                    "object and offset"
                );
            }
            r.map_err(String::from)
        }),
    ]
}

fn victim_intact(env: &Env) {
    for (i, &a) in env.victim_objs.iter().enumerate() {
        assert!(intact(a, 48, i as u64), "victim object {i} damaged");
    }
    for (i, &a) in env.victim_blocks.iter().enumerate() {
        assert!(intact(a, 128, 1000 + i as u64), "victim block {i} damaged");
    }
}

#[test]
fn every_bad_request_gets_its_own_error_and_changes_nothing() {
    let world = World::new(2, 1, 32);
    let initial = world.stats();
    let mut victim = world.client(1, Quota::UNLIMITED, 16);
    let mut vc = victim.kmem_cache_create("victim", 48, 8, 0, None).unwrap();
    let victim_objs: Vec<usize> = (0..20)
        .map(|_| victim.kmem_cache_alloc(&mut vc).unwrap())
        .collect();
    for (i, &a) in victim_objs.iter().enumerate() {
        stamp(a, 48, i as u64);
    }
    let victim_blocks: Vec<usize> = (0..4).map(|_| victim.kmalloc(128).unwrap()).collect();
    for (i, &a) in victim_blocks.iter().enumerate() {
        stamp(a, 128, 1000 + i as u64);
    }
    let mut atk = world.client(0, Quota::UNLIMITED, 0);
    let c = atk.kmem_cache_create("attacker", 40, 8, 0, None).unwrap();
    let mut env = Env {
        world: &world,
        h: c.handle(),
        atk,
        victim_objs,
        victim_blocks,
    };
    let mut seen = Vec::new();
    for (name, want, row) in rows() {
        let got = row(&mut env).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got.error, want, "{name}: got {got}");
        println!("{name:<55} -> {got}");
        seen.push(want);
        // The server answers the attacker's next good request ...
        let k = env
            .atk
            .kmalloc(32)
            .unwrap_or_else(|f| panic!("{name}: next request: {f}"));
        env.atk.kfree(k).unwrap();
        // ... the victim's objects are intact, and the invariants hold.
        victim_intact(&env);
        env.world.validate();
    }
    // Quota: a client limited to 10 objects.
    let mut small = world.client(
        0,
        Quota {
            bytes: 1 << 20,
            objects: 10,
            metadata: u64::MAX,
        },
        0,
    );
    let held: Vec<usize> = (0..10).map(|_| small.kmalloc(16).unwrap()).collect();
    let f = small.kmalloc(16).unwrap_err();
    assert_eq!(f.error, Error::QuotaExceeded);
    assert_eq!(f.detail, [1, 10, 11]);
    let mut bytes = world.client(
        0,
        Quota {
            bytes: 1000,
            objects: 100,
            metadata: u64::MAX,
        },
        0,
    );
    assert_eq!(bytes.kmalloc(2000).unwrap_err().error, Error::QuotaExceeded);
    bytes.detach().unwrap();
    // A forged badge, and a client that has not greeted.
    let (badge, pages) = world.attach(Quota::UNLIMITED);
    let mut t = world.transport(0, badge, &pages);
    let mut msg = Message {
        label: Label::Stats.word(),
        ..Default::default()
    };
    t.call(&mut msg);
    assert_eq!(Error::from_code(msg.label), Some(Error::NotGreeted));
    let mut forged = world.transport(0, badge ^ (1 << 40), &pages);
    msg.label = Label::Stats.word();
    msg.len = 0;
    forged.call(&mut msg);
    assert_eq!(Error::from_code(msg.label), Some(Error::UnknownClient));
    world.server.detach(badge).unwrap();
    t.call(&mut msg);
    assert_eq!(
        Error::from_code(msg.label),
        Some(Error::UnknownClient),
        "detached badge is dead"
    );
    // Clients leave with live objects: everything returns.
    assert_eq!(small.stats().unwrap().live_objects, 10);
    drop(held);
    small.detach().unwrap();
    victim_intact(&env);
    env.atk.detach().unwrap();
    for a in &env.victim_objs {
        victim.kmem_cache_free(&mut vc, *a).unwrap();
    }
    victim.detach().unwrap();
    world.validate();
    assert_eq!(
        world.stats(),
        initial,
        "accounting back to its value before the clients"
    );
    seen.sort_by_key(|e| e.code());
    seen.dedup();
    assert!(
        seen.len() >= 20,
        "distinct errors exercised: {}",
        seen.len()
    );
}
