//! Random message sequences from three clients on two cores (proptest), against a model of what
//! each client holds: good operations must succeed and keep every held object intact; hostile
//! ones (other clients' addresses, wrong lengths, unknown labels, forged handles, garbage in the
//! magazine page) must fail and change nothing. After every step the server's invariants hold and
//! each client's live count equals the model's; at the end every client detaches and the
//! accounting equals its starting value.
use memserver::server::Quota;
use memserver_client::host::HostTransport;
use memserver_client::{cache_flags, Client, KmemCache, Transport};
use memserver_protocol::{Label, MSG_MAX_WORDS};
use memserver_tests::{intact, stamp, World};
use proptest::prelude::*;

const CLIENTS: usize = 3;

/// The smallest label number above every operation's (labels are never reused).
fn first_unused_label() -> u64 {
    Label::ALL.iter().map(|l| l.word()).max().unwrap_or(0) + 1
}

#[derive(Clone, Debug)]
enum Op {
    Create {
        c: usize,
        size: usize,
        debug: bool,
    },
    Alloc {
        c: usize,
        cache: usize,
        n: usize,
    },
    Free {
        c: usize,
        pick: usize,
    },
    Kmalloc {
        c: usize,
        size: usize,
    },
    Kfree {
        c: usize,
        pick: usize,
        sized: bool,
    },
    Destroy {
        c: usize,
        cache: usize,
    },
    Shrink {
        c: usize,
        cache: usize,
    },
    ForeignFree {
        c: usize,
        victim: usize,
        pick: usize,
    },
    ForeignDrain {
        c: usize,
        victim: usize,
        pick: usize,
    },
    BadLabel {
        c: usize,
        label: u64,
        len: usize,
    },
    BadLength {
        c: usize,
        label: usize,
        len: usize,
    },
    ForgedHandle {
        c: usize,
        handle: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0..CLIENTS;
    prop_oneof![
        1 => (c.clone(), 1usize..700, any::<bool>()).prop_map(|(c, size, d)| Op::Create {
            c,
            size,
            debug: d && size % 3 == 0
        }),
        4 => (c.clone(), 0usize..4, 1usize..80).prop_map(|(c, cache, n)| Op::Alloc { c, cache, n }),
        4 => (c.clone(), any::<usize>()).prop_map(|(c, pick)| Op::Free { c, pick }),
        3 => (c.clone(), prop_oneof![1usize..300, 1usize..9000, 8000usize..70000])
            .prop_map(|(c, size)| Op::Kmalloc { c, size }),
        3 => (c.clone(), any::<usize>(), any::<bool>()).prop_map(|(c, pick, sized)| Op::Kfree { c, pick, sized }),
        1 => (c.clone(), 0usize..4).prop_map(|(c, cache)| Op::Destroy { c, cache }),
        1 => (c.clone(), 0usize..4).prop_map(|(c, cache)| Op::Shrink { c, cache }),
        1 => (c.clone(), 1usize..CLIENTS, any::<usize>()).prop_map(|(c, v, pick)| Op::ForeignFree { c, victim: v, pick }),
        1 => (c.clone(), 1usize..CLIENTS, any::<usize>()).prop_map(|(c, v, pick)| Op::ForeignDrain { c, victim: v, pick }),
        1 => (c.clone(), first_unused_label()..5000, 0usize..8).prop_map(|(c, label, len)| Op::BadLabel { c, label, len }),
        1 => (c.clone(), 0usize..Label::COUNT, 7usize..MSG_MAX_WORDS).prop_map(|(c, label, len)| Op::BadLength { c, label, len }),
        1 => (c, any::<u64>()).prop_map(|(c, handle)| Op::ForgedHandle { c, handle }),
    ]
}

struct Held {
    caches: Vec<(KmemCache, usize)>,
    /// (cache index, address, size, tag)
    objs: Vec<(usize, usize, usize, u64)>,
    /// (address, size, tag)
    blocks: Vec<(usize, usize, u64)>,
}

struct Model {
    clients: Vec<Client<HostTransport>>,
    held: Vec<Held>,
    tag: u64,
}

impl Model {
    fn check(&mut self, world: &World) {
        for (c, h) in self.held.iter().enumerate() {
            for &(_, a, s, t) in &h.objs {
                assert!(intact(a, s, t), "client {c}: object {a:#x} damaged");
            }
            for &(a, s, t) in &h.blocks {
                assert!(intact(a, s, t), "client {c}: block {a:#x} damaged");
            }
        }
        world.validate();
        for (c, client) in self.clients.iter_mut().enumerate() {
            let h = &self.held[c];
            let cached: usize = h.caches.iter().map(|(k, _)| k.magazine_len()).sum();
            let want = h.objs.len() + h.blocks.len() + cached + client.kmalloc_cached();
            assert_eq!(
                client.stats().unwrap().live_objects,
                want as u64,
                "client {c} live count"
            );
        }
    }

    fn foreign_addr(&self, victim: usize, pick: usize) -> Option<u64> {
        let h = &self.held[victim];
        let all: Vec<usize> = h
            .objs
            .iter()
            .map(|o| o.1)
            .chain(h.blocks.iter().map(|b| b.0))
            .collect();
        (!all.is_empty()).then(|| all[pick % all.len()] as u64)
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Create { c, size, debug } => {
                if self.held[c].caches.len() >= 4 {
                    return;
                }
                let flags = if debug {
                    cache_flags::RED_ZONE | cache_flags::POISON
                } else {
                    0
                };
                let name = format!("c{}-{}", c, self.tag);
                self.tag += 1;
                let k = self.clients[c]
                    .kmem_cache_create(&name, size, 8, flags, None)
                    .unwrap();
                self.held[c].caches.push((k, size));
            }
            Op::Alloc { c, cache, n } => {
                let Some(i) =
                    (!self.held[c].caches.is_empty()).then(|| cache % self.held[c].caches.len())
                else {
                    return;
                };
                for _ in 0..n {
                    let (k, size) = &mut self.held[c].caches[i];
                    let a = self.clients[c].kmem_cache_alloc(k).unwrap();
                    let size = *size;
                    self.tag += 1;
                    stamp(a, size, self.tag);
                    self.held[c].objs.push((i, a, size, self.tag));
                }
            }
            Op::Free { c, pick } => {
                let h = &mut self.held[c];
                if h.objs.is_empty() {
                    return;
                }
                let (i, a, _, _) = h.objs.swap_remove(pick % h.objs.len());
                self.clients[c]
                    .kmem_cache_free(&mut h.caches[i].0, a)
                    .unwrap();
            }
            Op::Kmalloc { c, size } => {
                let a = self.clients[c].kmalloc(size).unwrap();
                assert!(self.clients[c].ksize(a).unwrap() >= size);
                self.tag += 1;
                stamp(a, size, self.tag);
                self.held[c].blocks.push((a, size, self.tag));
            }
            Op::Kfree { c, pick, sized } => {
                let h = &mut self.held[c];
                if h.blocks.is_empty() {
                    return;
                }
                let (a, s, _) = h.blocks.swap_remove(pick % h.blocks.len());
                if sized {
                    self.clients[c].kfree_sized(a, s).unwrap();
                } else {
                    self.clients[c].kfree(a).unwrap();
                }
            }
            Op::Destroy { c, cache } => {
                let h = &mut self.held[c];
                if h.caches.is_empty() {
                    return;
                }
                let i = cache % h.caches.len();
                let live = h.objs.iter().filter(|o| o.0 == i).count();
                let r = self.clients[c].kmem_cache_destroy(&mut h.caches[i].0);
                if live > 0 {
                    // Merged caches (aliases) drop their reference even with live objects, as
                    // in SLUB; a real cache refuses with the live count.
                    if let Err(f) = r {
                        assert_eq!(f.error, memserver_protocol::Error::CacheBusy);
                        assert_eq!(f.detail[0] as usize, live);
                        return;
                    }
                    // The objects now belong to the merged cache: give them back by address.
                    let objs: Vec<_> = h.objs.iter().filter(|o| o.0 == i).map(|o| o.1).collect();
                    for a in objs {
                        self.clients[c].kfree(a).unwrap();
                    }
                } else {
                    r.unwrap();
                }
                h.objs.retain(|o| o.0 != i);
                h.caches.remove(i);
                for o in &mut h.objs {
                    if o.0 > i {
                        o.0 -= 1;
                    }
                }
            }
            Op::Shrink { c, cache } => {
                let h = &mut self.held[c];
                if h.caches.is_empty() {
                    return;
                }
                let n = h.caches.len();
                self.clients[c]
                    .kmem_cache_shrink(&mut h.caches[cache % n].0)
                    .unwrap();
            }
            Op::ForeignFree { c, victim, pick } => {
                let v = (c + victim) % CLIENTS;
                let Some(a) = self.foreign_addr(v, pick) else {
                    return;
                };
                let f = self.clients[c].kfree(a as usize).unwrap_err();
                assert_eq!(f.error, memserver_protocol::Error::ForeignPointer);
            }
            Op::ForeignDrain { c, victim, pick } => {
                let v = (c + victim) % CLIENTS;
                let Some(a) = self.foreign_addr(v, pick) else {
                    return;
                };
                self.clients[c].transport().magazine().write_slot(1, &[a]);
                let (status, _) = self.clients[c].raw_call(Label::KfreeDrain.word(), &[1, 1]);
                assert_eq!(
                    memserver_protocol::Error::from_code(status),
                    Some(memserver_protocol::Error::ForeignPointer)
                );
            }
            Op::BadLabel { c, label, len } => {
                let words = vec![7u64; len];
                let (status, _) = self.clients[c].raw_call(label, &words);
                assert_eq!(
                    memserver_protocol::Error::from_code(status),
                    Some(memserver_protocol::Error::UnknownLabel)
                );
            }
            Op::BadLength { c, label, len } => {
                let label = Label::ALL[label];
                if label == Label::CacheCreate {
                    return;
                }
                let words = vec![1u64; len];
                let (status, _) = self.clients[c].raw_call(label.word(), &words);
                assert_eq!(
                    memserver_protocol::Error::from_code(status),
                    Some(memserver_protocol::Error::BadLength),
                    "{label:?} with {len} words"
                );
            }
            Op::ForgedHandle { c, handle } => {
                let known: Vec<u64> = self.held[c].caches.iter().map(|k| k.0.handle()).collect();
                if known.contains(&handle) {
                    return;
                }
                let (status, _) = self.clients[c].raw_call(Label::Alloc.word(), &[handle, 0]);
                let e = memserver_protocol::Error::from_code(status);
                assert!(
                    matches!(
                        e,
                        Some(
                            memserver_protocol::Error::BadHandle
                                | memserver_protocol::Error::StaleHandle
                        )
                    ),
                    "{e:?}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_message_sequences(ops in proptest::collection::vec(op(), 1..60), batches in proptest::collection::vec(prop_oneof![Just(0usize), Just(1), Just(8), Just(32)], CLIENTS)) {
        let world = World::new(2, 1, 32);
        let initial = world.stats();
        let mut m = Model {
            clients: (0..CLIENTS).map(|c| world.client(c % 2, Quota::UNLIMITED, batches[c])).collect(),
            held: (0..CLIENTS).map(|_| Held { caches: Vec::new(), objs: Vec::new(), blocks: Vec::new() }).collect(),
            tag: 0,
        };
        for op in &ops {
            m.apply(op);
            m.check(&world);
        }
        for c in m.clients.drain(..) {
            c.detach().unwrap();
        }
        world.validate();
        prop_assert_eq!(world.stats(), initial);
    }
}
