//! memserver client `ms-rogue`: the adversarial list of the protocol issue sent by a real task over
//! seL4 IPC (raw words in registers and the IPC buffer, a hostile magazine page, writes into its own
//! red zones and freed objects), one check per row (`harness::ADVERSARIAL_ROWS`, the error code got
//! against the one expected) followed each time by a good request that must still be served; and
//! the two ways of dying with live objects: a fault on an unmapped address and a return from main.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![no_std]
#![no_main]

use memserver_client::{cache_flags, violations, Client, Config, Error, Transport};
use memserver_client_sel4::Sel4Transport;
use memserver_protocol::ops::{CacheCreateReq, KMALLOC_MAX};
use memserver_protocol::{Label, Request, MAX_BATCH, MSG_MAX_WORDS, PROTOCOL_VERSION};
use ms_harness::{self as harness, mode};
use ms_harness::{report, Checks};
use sel4::Word;

sel4_runtime::declare_child_task!(main);

type C = Client<Sel4Transport>;

/// Where the fault mode reads (never mapped in a client).
const UNMAPPED: usize = 0xdead_0000;

fn main(args: [Word; 4]) {
    let mut checks = Checks::new(args);
    let m = args[harness::arg::MODE];
    // SAFETY: the root task maps this client's magazine page for its core (spawn contract).
    let transport = unsafe { Sel4Transport::from_abi(args[harness::arg::CORE] as usize) };
    let mut c = match Client::connect(transport, Config { batch: 0 }) {
        Ok(c) => c,
        Err(f) => {
            checks.check(100, f.error.code(), 0);
            checks.done()
        }
    };
    match m {
        mode::rogue::ADVERSARIAL => {
            adversarial(&mut c, &mut checks, args[harness::arg::PARAM] as usize)
        }
        mode::rogue::FAULT | mode::rogue::EXIT => {
            hold_objects(&mut c, &mut checks);
            if m == mode::rogue::FAULT {
                // SAFETY: deliberately touches an unmapped address: the kernel stops this task
                // with a VM fault and the root task reclaims it. Nothing runs after the read.
                let v = unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
                report::figure(0, v);
            }
            // Returning from main with live objects: the runtime raises a user exception.
            return;
        }
        mode::rogue::USE_AFTER_FREE => use_after_free(&mut c, &mut checks),
        mode::rogue::STALE_OWNER => stale_owner(&mut c, &mut checks),
        mode::rogue::SHRINKER => shrinker(&mut c, &mut checks),
        mode::rogue::METADATA_HOG => metadata_hog(&mut c, &mut checks),
        _ => {
            checks.check(100, m, mode::rogue::ADVERSARIAL);
        }
    }
    checks.done()
}

/// Reads a large block after freeing it: the root task unmapped it at the free, so this faults.
fn use_after_free(c: &mut C, checks: &mut Checks) {
    let size = 256 << 10;
    let Ok(a) = c.kmalloc(size) else {
        checks.check(103, 1, 0);
        return;
    };
    // SAFETY: a live block of `size` bytes of ours.
    unsafe { core::ptr::write_bytes(a as *mut u8, 0x77, size) };
    report::figure(harness::figure::ADDRESS, a as Word);
    checks.ok(104, c.kfree(a).is_ok());
    // SAFETY: deliberately reads the freed block: it is unmapped, so the kernel stops this task
    // with a VM fault here. If it were still mapped, the read would see our old bytes.
    let v = unsafe { core::ptr::read_volatile(a as *const u8) };
    checks.check(105, v as Word, 0x1_0000);
}

/// Keeps a cache out of SLUB merging (a debug flag), so it has a slabinfo row of its own.
const NO_ALIAS: u64 = cache_flags::RED_ZONE;

/// Polls before giving up on the other client (each poll yields the core).
const POLLS: usize = 20_000;

/// Slabs of this client's cache `name` (slabinfo over IPC), if it has such a cache.
fn slabs_of(c: &mut C, name: &str, all: bool) -> Option<u64> {
    let mut slabs = None;
    let _ = c.slabinfo_rows(all, |r| {
        if r.name == name {
            slabs = Some(r.num_slabs);
        }
    });
    slabs
}

/// Frees every object of a cache, then, once another client's out-of-memory shrink released
/// those slabs, writes to one of them: the release unmapped it from us, so this faults.
fn stale_owner(c: &mut C, checks: &mut Checks) {
    let (Ok(mut keep), Ok(mut stale)) = (
        c.kmem_cache_create("iso_keep", 64, 8, NO_ALIAS, None),
        c.kmem_cache_create("iso_stale", 256, 8, NO_ALIAS, None),
    ) else {
        checks.check(110, 1, 0);
        return;
    };
    // One live object: its slab keeps the buddy block holding our slabs from merging whole.
    checks.ok(111, c.kmem_cache_alloc(&mut keep).is_ok());
    let mut objs = [0usize; 64];
    for o in objs.iter_mut() {
        *o = c.kmem_cache_alloc(&mut stale).unwrap_or(0);
        if *o != 0 {
            // SAFETY: a live 256-byte object of ours.
            unsafe { core::ptr::write_bytes(*o as *mut u8, 0x77, 256) };
        }
    }
    checks.ok(112, objs.iter().all(|&o| o != 0));
    for &o in &objs {
        checks.ok(113, c.kmem_cache_free(&mut stale, o).is_ok());
    }
    checks.ok(114, slabs_of(c, "iso_stale", false).is_some_and(|n| n > 0));
    checks.ok(
        115,
        c.kmem_cache_create(harness::SIGNAL_CACHE, 8, 8, NO_ALIAS, None)
            .is_ok(),
    );
    let released = (0..POLLS).any(|_| {
        sel4::yield_now();
        slabs_of(c, "iso_stale", false) == Some(0)
    });
    checks.ok(116, released);
    report::figure(harness::figure::ADDRESS, objs[0] as Word);
    // SAFETY: deliberately writes a freed object whose slab went back to the buddy layer while the
    // server served another client: it was unmapped from us then, so the kernel stops this task
    // with a VM fault here. If it were still mapped, the write would land in a free page.
    unsafe { core::ptr::write_volatile(objs[0] as *mut u64, 0xbad) };
    checks.check(117, 1, 0);
}

/// Waits for the stale owner's signal, then takes 4 MiB blocks until the server, after shrinking
/// every cache, still reports out of memory; checks its own blocks, frees them.
fn shrinker(c: &mut C, checks: &mut Checks) {
    let signalled = (0..POLLS).any(|_| {
        sel4::yield_now();
        slabs_of(c, harness::SIGNAL_CACHE, true).is_some()
    });
    checks.ok(120, signalled);
    let size = KMALLOC_MAX as usize;
    let mut blocks = [0usize; 8];
    let mut n = 0;
    let code = loop {
        if n == blocks.len() {
            break 0;
        }
        match c.kmalloc(size) {
            Ok(a) => {
                for page in (0..size).step_by(4096) {
                    // SAFETY: inside our live block of `size` bytes.
                    unsafe { ((a + page) as *mut u64).write_volatile(pattern(n, page)) };
                }
                blocks[n] = a;
                n += 1;
            }
            Err(f) => break f.error.code(),
        }
    };
    checks.check(121, code, Error::OutOfMemory.code());
    report::figure(harness::figure::OBJECTS, n as Word);
    for (k, &a) in blocks[..n].iter().enumerate() {
        let intact = (0..size).step_by(4096).all(|page| {
            // SAFETY: inside our live block of `size` bytes.
            unsafe { ((a + page) as *const u64).read_volatile() == pattern(k, page) }
        });
        checks.ok(122, intact);
        checks.ok(123, c.kfree(a).is_ok());
    }
}

/// A refusal of the metadata quota: `QuotaExceeded` naming the metadata limit (detail word 0 is
/// 2), the limit being the quota the client's statistics give.
fn metadata_refused(checks: &mut Checks, id: Word, f: memserver_client::Failure, quota: u64) {
    checks.check(id, f.error.code(), Error::QuotaExceeded.code());
    checks.check(id + 1, f.detail[0], 2);
    checks.check(id + 2, f.detail[1], quota);
}

/// Slabs with owner tracks until refused, then (with those objects still held) caches until
/// refused; everything is left to the reclaim.
fn metadata_hog(c: &mut C, checks: &mut Checks) {
    let Ok(start) = c.stats() else {
        checks.check(130, 1, 0);
        return;
    };
    let quota = start.quota_metadata;
    checks.ok(130, quota != u64::MAX && start.metadata_bytes <= quota);
    let Ok(mut tracked) = c.kmem_cache_create("hog-tracked", 64, 8, cache_flags::STORE_USER, None)
    else {
        checks.check(131, 1, 0);
        return;
    };
    let mut held: Word = 0;
    let refusal = loop {
        match c.kmem_cache_alloc(&mut tracked) {
            Ok(_) => held += 1,
            Err(f) => break f,
        }
        if held > 1 << 20 {
            checks.check(132, held, 0);
            return;
        }
    };
    report::figure(harness::figure::ADDRESS, held);
    checks.ok(133, held > 0);
    metadata_refused(checks, 134, refusal, quota);
    checks.ok(137, c.stats().is_ok_and(|s| s.metadata_bytes <= quota));
    // Caches until refused: the quota, not the limit of 256 caches, stops them.
    let mut caches: Word = 0;
    let refusal = loop {
        let mut name = *b"hog-000";
        name[4] = b'0' + (caches / 100 % 10) as u8;
        name[5] = b'0' + (caches / 10 % 10) as u8;
        name[6] = b'0' + (caches % 10) as u8;
        let name = core::str::from_utf8(&name).unwrap_or("hog");
        match c.kmem_cache_create(name, 64, 8, 0, None) {
            Ok(_) => caches += 1,
            Err(f) => break f,
        }
        if caches > 255 {
            checks.check(138, caches, 0);
            return;
        }
    };
    report::figure(harness::figure::OBJECTS, caches);
    metadata_refused(checks, 139, refusal, quota);
    checks.ok(142, c.stats().is_ok_and(|s| s.metadata_bytes <= quota));
    // Still served after its refusals.
    checks.ok(143, c.stats().is_ok());
}

fn pattern(block: usize, page: usize) -> u64 {
    0x1550_0000_0000_0000 | (block as u64) << 32 | page as u64
}

/// Live objects in a cache and in kmalloc, held at the fault or exit.
fn hold_objects(c: &mut C, checks: &mut Checks) {
    if let Ok(mut k) = c.kmem_cache_create("rogue_held", 128, 8, 0, None) {
        for _ in 0..50 {
            checks.ok(101, c.kmem_cache_alloc(&mut k).is_ok());
        }
    }
    for size in [100usize, 2000, 100_000] {
        checks.ok(102, c.kmalloc(size).is_ok());
    }
}

/// The error code of a raw request (0 if it was accepted).
fn raw(c: &mut C, label: u64, words: &[u64]) -> Word {
    c.raw_call(label, words).0
}

fn alloc(c: &mut C, h: u64) -> u64 {
    let (status, body) = c.raw_call(Label::Alloc.word(), &[h, 0]);
    if status == 0 {
        body.first().copied().unwrap_or(0)
    } else {
        0
    }
}

fn free(c: &mut C, h: u64, a: u64) -> bool {
    raw(c, Label::Free.word(), &[h, a]) == 0
}

fn drain(c: &mut C, h: u64, addrs: &[u64]) -> Word {
    c.transport().magazine().write_slot(0, addrs);
    raw(c, Label::Drain.word(), &[h, 0, addrs.len() as u64])
}

fn create_raw(c: &mut C, name: &str, size: u64) -> (Word, u64) {
    let mut w = [0u64; MSG_MAX_WORDS];
    let req = CacheCreateReq {
        size,
        align: 8,
        flags: 0,
        ctor: 0,
    };
    let (l, n) = Request::CacheCreate(req, name).encode(&mut w);
    let (status, body) = c.raw_call(l, &w[..n]);
    (status, body.first().copied().unwrap_or(0))
}

fn adversarial(c: &mut C, checks: &mut Checks, victim: usize) {
    let (status, h) = create_raw(c, "rogue_plain", 48);
    checks.check(200, status, 0);
    let code = |e: Error| e.code();
    for (row, _) in harness::ADVERSARIAL_ROWS.iter().enumerate() {
        let (got, expected) = run_row(c, row, h, victim as u64);
        checks.check(row as Word, got, code(expected));
        if row + 1 < harness::ADVERSARIAL_ROWS.len() {
            // The server still serves this client after every bad request.
            checks.ok(300 + row as Word, c.stats().is_ok());
        }
    }
}

fn run_row(c: &mut C, row: usize, h: u64, victim: u64) -> (Word, Error) {
    match harness::ADVERSARIAL_ROWS[row] {
        "unknown_label" => (raw(c, 999, &[]), Error::UnknownLabel),
        "message_shorter_than_its_operation" => {
            (raw(c, Label::Alloc.word(), &[h]), Error::BadLength)
        }
        "message_longer_than_its_operation" => {
            // Six words: two of them in the IPC buffer.
            (
                raw(c, Label::Free.word(), &[h, 4096, 0, 0, 0, 0]),
                Error::BadLength,
            )
        }
        "batch_count_above_the_limit" => (
            raw(c, Label::Refill.word(), &[h, 0, MAX_BATCH as u64 + 1, 0]),
            Error::BadBatch,
        ),
        "magazine_slot_outside_the_page" => {
            (raw(c, Label::Drain.word(), &[h, 9, 1]), Error::BadSlot)
        }
        "garbage_address_in_a_drained_magazine" => {
            (drain(c, h, &[0x1234_5678_9ab0]), Error::NotAllocated)
        }
        "foreign_address_in_a_drained_magazine" => (drain(c, h, &[victim]), Error::ForeignPointer),
        "duplicated_address_in_a_drained_magazine" => {
            let (a, b) = (alloc(c, h), alloc(c, h));
            let r = drain(c, h, &[a, b, a]);
            free(c, h, a);
            free(c, h, b);
            (r, Error::DuplicateAddress)
        }
        "forged_cache_handle" => (
            raw(c, Label::Alloc.word(), &[0x0000_0777_0000_0001, 0]),
            Error::BadHandle,
        ),
        "stale_cache_handle" => {
            let (_, old) = create_raw(c, "rogue_old", 200);
            raw(c, Label::CacheDestroy.word(), &[old]);
            let (_, new) = create_raw(c, "rogue_new", 200);
            let r = raw(c, Label::Alloc.word(), &[old, 0]);
            raw(c, Label::CacheDestroy.word(), &[new]);
            (r, Error::StaleHandle)
        }
        "destroyed_cache_handle" => {
            let (_, d) = create_raw(c, "rogue_doomed", 200);
            raw(c, Label::CacheDestroy.word(), &[d]);
            (raw(c, Label::Alloc.word(), &[d, 0]), Error::StaleHandle)
        }
        "another_clients_object_freed" => (
            raw(c, Label::Free.word(), &[h, victim]),
            Error::ForeignPointer,
        ),
        "double_free" => {
            let a = alloc(c, h);
            free(c, h, a);
            (raw(c, Label::Free.word(), &[h, a]), Error::DoubleFree)
        }
        "interior_pointer" => {
            let a = alloc(c, h);
            let r = raw(c, Label::Free.word(), &[h, a + 8]);
            free(c, h, a);
            (r, Error::InteriorPointer)
        }
        "pointer_never_allocated" => {
            let (_, f) = create_raw(c, "rogue_fresh", 300);
            let a = alloc(c, f);
            let r = raw(c, Label::Free.word(), &[f, a + 3 * 304]);
            free(c, f, a);
            raw(c, Label::CacheDestroy.word(), &[f]);
            (r, Error::NotAllocated)
        }
        // kmalloc(0) is ZERO_SIZE_PTR, as in Linux; a batch of zero-byte blocks is refused.
        "kmalloc_refill_of_size_zero" => (
            raw(c, Label::KmallocRefill.word(), &[0, 0, 1, 0]),
            Error::SizeZero,
        ),
        "kmalloc_too_large" => (
            raw(c, Label::Kmalloc.word(), &[KMALLOC_MAX + 1, 0]),
            Error::SizeTooLarge,
        ),
        "cache_object_too_large" => (create_raw(c, "rogue_huge", 1 << 40).0, Error::SizeTooLarge),
        "quota_exhausted" => {
            // The system description gives this client a byte quota of 1 MiB.
            let (s1, body) = c.raw_call(Label::Kmalloc.word(), &[600 << 10, 0]);
            let first = if s1 == 0 { body.first().copied() } else { None };
            let r = raw(c, Label::Kmalloc.word(), &[600 << 10, 0]);
            if let Some(a) = first {
                raw(c, Label::Kfree.word(), &[a]);
            }
            (r, Error::QuotaExceeded)
        }
        "red_zone_overwritten" => {
            let Ok(mut k) = c.kmem_cache_create("rogue_rz", 24, 8, cache_flags::RED_ZONE, None)
            else {
                return (0, Error::RedZone);
            };
            let Ok(a) = c.kmem_cache_alloc(&mut k) else {
                return (0, Error::RedZone);
            };
            // SAFETY: one byte past our own 24-byte object: its right red zone, in our own slab,
            // mapped in our heap window.
            unsafe { ((a + 24) as *mut u8).write_volatile(0) };
            let r = c
                .kmem_cache_free(&mut k, a)
                .err()
                .map_or(0, |f| f.error.code());
            (r, Error::RedZone)
        }
        "write_after_free_in_a_poisoned_cache" => {
            // The allocation that finds the damage no longer fails: it reports it in the
            // client's violation log, takes the object out of use and hands out another. The
            // row's verdict is the report read back over IPC: `Poison` if it names the object
            // and the byte, and no allocation handed the damaged object out again.
            let Ok(mut k) = c.kmem_cache_create("rogue_poison", 64, 8, cache_flags::POISON, None)
            else {
                return (0, Error::Poison);
            };
            let Ok(a) = c.kmem_cache_alloc(&mut k) else {
                return (0, Error::Poison);
            };
            let cursor = c.stats().map_or(0, |s| s.violations);
            let _ = c.kmem_cache_free(&mut k, a);
            // SAFETY: a byte of our own freed object, in our own slab page.
            unsafe { ((a + 5) as *mut u8).write_volatile(1) };
            let mut got = [0usize; 200];
            let mut n = 0;
            let mut served_again = false;
            while n < got.len() {
                match c.kmem_cache_alloc(&mut k) {
                    Ok(b) => {
                        served_again |= b == a;
                        got[n] = b;
                        n += 1;
                    }
                    Err(_) => break,
                }
            }
            for &b in &got[..n] {
                let _ = c.kmem_cache_free(&mut k, b);
            }
            let mut reported = false;
            let read = c.violations(cursor, |r| {
                reported |= r.object == a as u64
                    && r.offset() == 5
                    && r.kind() == violations::kind::POISON
                    && r.op() == violations::op::ALLOC
                    && r.found() == 1
                    && r.cache() == "rogue_poison";
            });
            let _ = c.kmem_cache_destroy(&mut k);
            let ok = read.is_ok() && reported && !served_again && n == got.len();
            (if ok { Error::Poison.code() } else { 0 }, Error::Poison)
        }
        "detach_with_live_objects" => {
            let held = alloc(c, h);
            let detached = raw(c, Label::Detach.word(), &[]) == 0 && held != 0;
            // After the detach the badge names no client.
            let r = raw(c, Label::Stats.word(), &[]);
            (if detached { r } else { 0 }, Error::UnknownClient)
        }
        "good_then_bad_address_in_a_drained_magazine" => {
            let a = alloc(c, h);
            let before = c.stats().map_or(0, |s| s.live_objects);
            let r = drain(c, h, &[a, 8]);
            let after = c.stats().map_or(u64::MAX, |s| s.live_objects);
            free(c, h, a);
            // Nothing was freed: the whole batch is refused.
            (if before == after { r } else { 0 }, Error::NotAllocated)
        }
        "cache_of_size_zero" => (create_raw(c, "rogue_zero", 0).0, Error::SizeZero),
        "cache_name_with_a_space" => (create_raw(c, "bad name", 8).0, Error::BadName),
        "cache_name_frame_with_trailing_bytes" => {
            let mut w = [0u64; MSG_MAX_WORDS];
            let req = CacheCreateReq {
                size: 8,
                align: 8,
                flags: 0,
                ctor: 0,
            };
            let (l, n) = Request::CacheCreate(req, "name").encode(&mut w);
            w[4] += 1;
            (raw(c, l, &w[..n]), Error::BadPayload)
        }
        "slabinfo_cursor_past_the_end" => (
            // Own scope, a creation serial not issued yet.
            raw(c, Label::Slabinfo.word(), &[0, 100_000, 0, 0, 0, 0]),
            Error::BadCursor,
        ),
        "wrong_protocol_version" => (
            raw(c, Label::Hello.word(), &[PROTOCOL_VERSION + 1]),
            Error::VersionMismatch,
        ),
        "unknown_flag" => (
            raw(c, Label::Alloc.word(), &[h, 1 << 7]),
            Error::UnknownFlag,
        ),
        _ => (0, Error::Internal),
    }
}
