//! memserver client `ms-beta`: kmalloc over seL4 IPC and the `GlobalAlloc` adapter as this task's
//! `#[global_allocator]`, so `Vec`, `Box`, `String` and `BTreeMap` live in server memory. Modes (see
//! `harness::mode::beta`): every kmalloc class and a large block; collections through the adapter;
//! the rest of Linux's slab API (node-bound, bulk, krealloc, the violation log); and the demo part. Every check is reported to the test driver; nothing here panics.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use memserver_client::{alloc_flags, violations, Client, Config, Error, GlobalClient};
use memserver_client_sel4::abi;
use memserver_client_sel4::Sel4Transport;
use memserver_protocol::ops::{KMALLOC_CLASSES, ZERO_SIZE_PTR};
use ms_harness::{self as harness, figure, mode};
use ms_harness::{report, Checks};
use sel4::Word;

sel4_runtime::declare_child_task!(main);

#[global_allocator]
static GLOBAL: GlobalClient<Sel4Transport> = GlobalClient::new();

fn in_window(addr: usize) -> bool {
    (abi::HEAP_WINDOW..abi::HEAP_WINDOW + (4usize << 30)).contains(&addr)
}

fn main(args: [Word; 4]) {
    let mut checks = Checks::new(args);
    let m = args[harness::arg::MODE];
    // SAFETY: the root task maps this client's magazine page for its core (spawn contract).
    let transport = unsafe { Sel4Transport::from_abi(args[harness::arg::CORE] as usize) };
    match Client::connect(transport, Config::default()) {
        Ok(c) => GLOBAL.install(c),
        Err(f) => {
            checks.check(0, f.error.code(), 0);
            checks.done()
        }
    }
    match m {
        mode::DEMO => {
            kmalloc_classes(&mut checks, false);
            collections(&mut checks, true);
        }
        mode::beta::KMALLOC => kmalloc_classes(&mut checks, true),
        mode::beta::GLOBAL => collections(&mut checks, false),
        mode::beta::LINUX_API => linux_api(&mut checks),
        _ => {
            checks.check(0, m, mode::DEMO);
        }
    }
    let messages = GLOBAL.with(|c| c.messages()).unwrap_or(0);
    report::figure(figure::CORE, GLOBAL.with(|c| c.core()).unwrap_or(99));
    report::figure(figure::MESSAGES, messages);
    checks.done()
}

/// Every class: kmalloc, ksize equals the class, the whole block writable, kfree; then a large
/// block beyond the classes.
fn kmalloc_classes(checks: &mut Checks, report_each: bool) {
    let r = GLOBAL.with(|c| {
        let mut ok_classes = 0u64;
        for (i, &class) in KMALLOC_CLASSES.iter().enumerate() {
            let size = class as usize;
            let a = match c.kmalloc(size) {
                Ok(a) => a,
                Err(e) => {
                    checks.check(10 + i as Word, e.error.code(), 0);
                    continue;
                }
            };
            // SAFETY: a live block of at least `size` bytes that the server handed to us.
            unsafe { core::ptr::write_bytes(a as *mut u8, 0xa5, size) };
            // SAFETY: as above.
            let last = unsafe { ((a + size - 1) as *const u8).read() };
            let usable = c.ksize(a).unwrap_or(0);
            let good = usable == size && last == 0xa5 && in_window(a) && a % 8 == 0;
            if report_each {
                checks.check(10 + i as Word, usable as Word, class);
            }
            ok_classes += good as u64;
            let _ = c.kfree_sized(a, size);
        }
        checks.check(1, ok_classes, KMALLOC_CLASSES.len() as Word);
        // A large block straight from the page allocator.
        let big = 256 << 10;
        match c.kmalloc(big) {
            Ok(a) => {
                // SAFETY: a live block of at least `big` bytes of ours.
                unsafe { core::ptr::write_bytes(a as *mut u8, 0x3c, big) };
                // SAFETY: as above.
                let last = unsafe { ((a + big - 1) as *const u8).read() };
                checks.check(2, last as Word, 0x3c);
                checks.ok(3, c.ksize(a).is_ok_and(|u| u >= big));
                checks.ok(4, c.kfree(a).is_ok());
            }
            Err(e) => {
                checks.check(2, e.error.code(), 0);
            }
        }
        let _ = c.flush_kmalloc();
        checks.check(5, c.stats().map_or(u64::MAX, |s| s.live_objects), 0);
    });
    checks.ok(6, r.is_some());
}

/// The calls Linux users expect beyond kmalloc and kmem_cache_alloc, each over IPC, with red
/// zones on `kmalloc-32` (from this client's `slab_debug` in the system description). Nothing
/// here allocates from the global heap (the client is borrowed for the whole run).
fn linux_api(checks: &mut Checks) {
    let r = GLOBAL.with(|c| {
        // kmalloc_node on node 0, which every system has; THISNODE forbids the fallback.
        match c.kmalloc_node(100, alloc_flags::THISNODE | alloc_flags::ZERO, 0) {
            Ok(a) => {
                // SAFETY: a live zeroed block of at least 100 bytes of ours.
                let last = unsafe { ((a + 99) as *const u8).read() };
                checks.ok(400, in_window(a) && last == 0);
                checks.ok(401, c.kfree(a).is_ok());
            }
            Err(e) => {
                checks.check(400, e.error.code(), 0);
            }
        }
        let mut k = match c.kmem_cache_create("beta_linux", 64, 8, 0, None) {
            Ok(k) => k,
            Err(e) => {
                checks.check(402, e.error.code(), 0);
                return;
            }
        };
        // kmem_cache_alloc_node.
        match c.kmem_cache_alloc_node(&mut k, alloc_flags::THISNODE, 0) {
            Ok(a) => {
                checks.ok(403, in_window(a));
                checks.ok(404, c.kmem_cache_free(&mut k, a).is_ok());
            }
            Err(e) => {
                checks.check(403, e.error.code(), 0);
            }
        }
        // Bulk alloc and free: 16 distinct objects, then all back at once.
        let mut objs = [0usize; 16];
        match c.kmem_cache_alloc_bulk(&mut k, &mut objs) {
            Ok(()) => {
                let distinct = objs
                    .iter()
                    .enumerate()
                    .all(|(i, a)| in_window(*a) && !objs[..i].contains(a));
                checks.ok(405, distinct);
                checks.ok(406, c.kmem_cache_free_bulk(&mut k, &objs).is_ok());
            }
            Err(e) => {
                checks.check(405, e.error.code(), 0);
            }
        }
        // The checked magazine: a free of an interior address and a second free of an object
        // (not only of the one freed last) are refused by the stub itself, with no message.
        match (c.kmem_cache_alloc(&mut k), c.kmem_cache_alloc(&mut k)) {
            (Ok(a), Ok(b)) => {
                let sent = c.messages();
                let code = |r: Result<(), memserver_client::Failure>| {
                    r.err().map_or(0, |f| f.error.code())
                };
                let interior = code(c.kmem_cache_free(&mut k, a + 8));
                checks.check(420, interior, Error::InteriorPointer.code());
                let freed =
                    c.kmem_cache_free(&mut k, a).is_ok() && c.kmem_cache_free(&mut k, b).is_ok();
                checks.ok(421, freed);
                let twice = code(c.kmem_cache_free(&mut k, a));
                checks.check(422, twice, Error::DoubleFree.code());
                checks.check(423, c.messages() - sent, 0);
            }
            _ => {
                checks.ok(420, false);
            }
        }
        checks.ok(407, c.kmem_cache_destroy(&mut k).is_ok());
        // kmalloc(0) is ZERO_SIZE_PTR, as in Linux: kfree of it does nothing, ksize of it is 0,
        // kmalloc_node(0) gives it too, krealloc to 0 frees the block and answers it.
        let z = ZERO_SIZE_PTR as usize;
        checks.ok(
            424,
            c.kmalloc(0) == Ok(z) && c.kfree(z).is_ok() && c.ksize(z) == Ok(0),
        );
        checks.ok(425, c.kmalloc_node(0, 0, 0) == Ok(z));
        let p = c.kmalloc(40).unwrap_or(0);
        checks.ok(
            426,
            p != 0 && c.krealloc(p, 0, 0) == Ok(z) && c.ksize(p).is_err(),
        );
        // krealloc: grown in place within the red-zoned class (the bytes it grows over are
        // zeroed), then moved to a larger class with the contents kept.
        let p = c.kmalloc(20).unwrap_or(0);
        checks.ok(408, p != 0);
        if p != 0 {
            // SAFETY: a live block of at least 20 bytes of ours.
            unsafe { core::ptr::write_bytes(p as *mut u8, 0x5c, 20) };
            let q = c.krealloc(p, 28, 0).unwrap_or(0);
            // SAFETY: `q` is the same block, now of 28 requested bytes.
            let grown = unsafe { ((q + 27) as *const u8).read() };
            checks.ok(409, q == p && grown == 0);
            let r = c.krealloc(q, 200, 0).unwrap_or(0);
            // SAFETY: a live block of at least 200 bytes of ours (the moved block).
            let kept = unsafe { ((r + 19) as *const u8).read() };
            checks.ok(410, r != 0 && r != q && kept == 0x5c);
            checks.ok(411, r != 0 && c.kfree(r).is_ok());
        }
        // A red-zoned kmalloc(18), written at byte 18: the free is refused with RedZone and the
        // violation is read back from the log over IPC.
        let cursor = c.stats().map_or(0, |s| s.violations);
        let p = c.kmalloc(18).unwrap_or(0);
        checks.ok(412, p != 0);
        if p != 0 {
            // SAFETY: byte 18 of our own 32-byte object (its red zone, beyond what we asked).
            unsafe { ((p + 18) as *mut u8).write_volatile(0xab) };
            let refused = c.kfree(p).err().map_or(0, |f| f.error.code());
            checks.check(413, refused, Error::RedZone.code());
            let mut found = 0;
            let head = c.violations(cursor, |r| {
                let ours = r.object == p as u64
                    && r.offset() == 18
                    && r.op() == violations::op::FREE
                    && r.kind() == violations::kind::RED_ZONE_RIGHT
                    && r.expected() == 0xcc
                    && r.found() == 0xab
                    && r.cache() == "kmalloc-32";
                found += ours as Word;
            });
            checks.check(414, found, 1);
            checks.ok(415, head.is_ok_and(|h| h.lost == 0 && h.next == h.total));
            checks.check(416, c.stats().map_or(0, |s| s.violations), cursor + 1);
            // SAFETY: as above; the red zone byte restored.
            unsafe { ((p + 18) as *mut u8).write_volatile(0xcc) };
            checks.ok(417, c.kfree(p).is_ok());
        }
        let _ = c.flush_kmalloc();
        checks.check(418, c.stats().map_or(u64::MAX, |s| s.live_objects), 0);
    });
    checks.ok(419, r.is_some());
}

/// `Vec`, `Box`, `String` and `BTreeMap` through the global allocator.
fn collections(checks: &mut Checks, print: bool) {
    let mut v: Vec<u64> = Vec::new();
    for i in 0..5000u64 {
        v.push(i * 3);
    }
    let sum: u64 = v.iter().sum();
    checks.check(20, sum, 3 * 4999 * 5000 / 2);
    checks.ok(21, in_window(v.as_ptr() as usize));
    let b = Box::new([7u8; 1000]);
    checks.check(22, b.iter().map(|&x| x as u64).sum(), 7000);
    checks.ok(23, in_window(&*b as *const _ as usize));
    let mut s = String::new();
    for i in 0..50 {
        let _ = write!(s, "{i},");
    }
    checks.check(24, s.len() as Word, 140);
    let mut map = BTreeMap::new();
    for i in 0..300u64 {
        map.insert(i * 7 % 307, i);
    }
    checks.check(25, map.len() as Word, 300);
    checks.check(26, map.get(&35).copied().unwrap_or(0), 5);
    if print {
        ms_harness::println!(
            "beta: Vec of {} words at {:#x}, Box at {:#x}, String of {} bytes, BTreeMap of {} entries, all in server memory",
            v.len(),
            v.as_ptr() as usize,
            &*b as *const _ as usize,
            s.len(),
            map.len()
        );
    }
    drop((v, b, s, map));
    let _ = GLOBAL.with(|c| c.flush_kmalloc());
    report::figure(figure::OBJECTS, 5000 / 8 + 300 + 3);
}
