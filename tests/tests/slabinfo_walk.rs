//! A slabinfo walk over several pages while other requests create and destroy caches between
//! the pages: every cache (own scope) or name (server-wide) that exists during the whole walk
//! is shown exactly once, and whatever is created or destroyed meanwhile at most once. The walk
//! is the client stub's `slabinfo_rows`; the changes are sent straight to the server from its
//! row callback, so they land between the walk's requests.
use std::collections::BTreeMap;

use memserver::server::{Quota, Server};
use memserver_client::{Client, Config};
use memserver_protocol::ops::*;
use memserver_protocol::Request;
use memserver_tests::raw::send;
use memserver_tests::World;

/// Arena size: small under Miri.
const ARENA_MIB: usize = if cfg!(miri) { 8 } else { 64 };

/// A cache of its own (a red-zoned cache never merges into another, so each is one row).
fn create(s: &Server, badge: u64, name: &str, size: u64) -> u64 {
    let req = CacheCreateReq {
        size,
        align: 8,
        flags: cache_flags::RED_ZONE,
        ctor: 0,
    };
    send(s, 0, badge, Request::CacheCreate(req, name)).unwrap()[0]
}

fn destroy(s: &Server, badge: u64, handle: u64) {
    send(s, 0, badge, Request::CacheDestroy(DestroyReq { handle })).unwrap();
}

/// A client of `w` with its badge (magazines off: every call is one message).
fn attach(w: &World) -> (Client<memserver_client::host::HostTransport>, u64) {
    let (badge, pages) = w.attach(Quota::UNLIMITED);
    let c = Client::connect(w.transport(0, badge, &pages), Config { batch: 0 }).unwrap();
    (c, badge)
}

fn counts(names: &[String]) -> BTreeMap<&str, usize> {
    let mut m = BTreeMap::new();
    for n in names {
        *m.entry(n.as_str()).or_insert(0) += 1;
    }
    m
}

/// Own scope: caches created between pages are newer than the cursor and never shown; caches
/// destroyed between pages shift nothing; every cache that lives through the walk is shown once.
#[test]
fn own_walk_shows_each_lasting_cache_once_while_caches_come_and_go() {
    let w = World::new(1, 2, ARENA_MIB);
    let s = &*w.server;
    let (mut c, badge) = attach(&w);
    let keep: Vec<String> = (0..60).map(|i| format!("keep-{i:03}")).collect();
    for (i, n) in keep.iter().enumerate() {
        create(s, badge, n, 8 + 8 * i as u64);
    }
    let mut gone: Vec<u64> = (0..30)
        .map(|i| create(s, badge, &format!("gone-{i:03}"), 1000 + 8 * i))
        .collect();
    let mut seen = Vec::new();
    let mut made = 0;
    c.slabinfo_rows(false, |row| {
        seen.push(row.name.to_string());
        // Between rows (so between pages): a new cache, and one cache fewer.
        if made < 100 {
            create(s, badge, &format!("new-{made:03}"), 2000 + 8 * made);
        }
        made += 1;
        if let Some(h) = gone.pop() {
            destroy(s, badge, h);
        }
    })
    .unwrap();
    assert!(made > 90, "the walk took several pages ({made} rows)");
    let seen = counts(&seen);
    for n in &keep {
        assert_eq!(seen.get(n.as_str()), Some(&1), "{n}: {seen:?}");
    }
    for n in memserver::kmalloc::KMALLOC_NAMES {
        assert_eq!(seen.get(n), Some(&1), "{n}");
    }
    assert!(seen.values().all(|&k| k == 1), "nothing twice: {seen:?}");
    assert!(
        !seen.keys().any(|n| n.starts_with("new-")),
        "caches newer than the walk's cursor are not shown"
    );
    w.validate();
}

/// Server-wide: one row per name, in name order; names held through the walk (by some cache,
/// even if another cache of that name is destroyed meanwhile) are shown once; names created
/// or dropped meanwhile at most once.
#[test]
fn server_wide_walk_shows_each_lasting_name_once_while_caches_come_and_go() {
    let w = World::new(1, 2, ARENA_MIB);
    let s = &*w.server;
    let (mut a, a_badge) = attach(&w);
    let (_b, b_badge) = attach(&w);
    let shared: Vec<String> = (0..30).map(|i| format!("shared-{i:03}")).collect();
    let mut b_shared = Vec::new();
    for (i, n) in shared.iter().enumerate() {
        create(s, a_badge, n, 8 + 8 * i as u64);
        b_shared.push(create(s, b_badge, n, 8 + 8 * i as u64));
    }
    let a_only: Vec<String> = (0..30).map(|i| format!("a-only-{i:03}")).collect();
    for (i, n) in a_only.iter().enumerate() {
        create(s, a_badge, n, 1000 + 8 * i as u64);
    }
    let mut b_only: Vec<u64> = (0..30)
        .map(|i| create(s, b_badge, &format!("b-only-{i:03}"), 1000 + 8 * i))
        .collect();
    let mut seen = Vec::new();
    let mut k = 0;
    a.slabinfo_rows(true, |row| {
        seen.push(row.name.to_string());
        // Between rows: b drops one of its caches of a shared name (a still holds the name) and
        // one name only it held; a makes names before and after every other in byte order.
        if let Some(h) = b_shared.pop() {
            destroy(s, b_badge, h);
        }
        if let Some(h) = b_only.pop() {
            destroy(s, b_badge, h);
        }
        if k < 60 {
            let name = match k % 2 {
                0 => format!("0-new-{k:03}"),
                _ => format!("z-new-{k:03}"),
            };
            create(s, a_badge, &name, 3000 + 8 * k);
        }
        k += 1;
    })
    .unwrap();
    assert!(k > 90, "the walk took several pages ({k} rows)");
    let mut sorted = seen.clone();
    sorted.sort();
    let in_order = seen == sorted;
    let seen = counts(&seen);
    for n in shared.iter().chain(&a_only) {
        assert_eq!(seen.get(n.as_str()), Some(&1), "{n}");
    }
    for n in memserver::kmalloc::KMALLOC_NAMES {
        assert_eq!(seen.get(n), Some(&1), "{n}");
    }
    assert!(seen.values().all(|&n| n == 1), "no name twice: {seen:?}");
    assert!(in_order, "name order");
    w.validate();
}
