//! memserver client `ms-gamma`: slabinfo over IPC (rows postcard-encoded in the IPC buffer, with a
//! continuation cursor) printed in the `/proc/slabinfo` format, and quota exhaustion. Modes (see
//! `harness::mode::gamma`). Every check is reported to the test driver; nothing here panics.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![no_std]
#![no_main]

use core::fmt::Write;
use memserver_client::{Client, Config, Error};
use memserver_client_sel4::Sel4Transport;
use ms_harness::{self as harness, figure, mode};
use ms_harness::{report, Checks};
use sel4::Word;

sel4_runtime::declare_child_task!(main);

/// Console text through the root task.
type Console = memserver_client_sel4::Console;

/// Counts lines and checks the header while passing text on.
struct Lines<'a> {
    out: &'a mut Console,
    lines: u64,
    header_ok: bool,
    first: bool,
}

impl Write for Lines<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        if self.first {
            self.header_ok = s.starts_with("slabinfo - version: 2.1\n");
            self.first = false;
        }
        self.lines += s.matches('\n').count() as u64;
        self.out.write_str(s)
    }
}

type C = Client<Sel4Transport>;

fn main(args: [Word; 4]) {
    let mut checks = Checks::new(args);
    let m = args[harness::arg::MODE];
    let batch = if m == mode::gamma::QUOTA { 0 } else { 32 };
    // SAFETY: the root task maps this client's magazine page for its core (spawn contract).
    let transport = unsafe { Sel4Transport::from_abi(args[harness::arg::CORE] as usize) };
    let mut c = match Client::connect(transport, Config { batch }) {
        Ok(c) => c,
        Err(f) => {
            checks.check(0, f.error.code(), 0);
            checks.done()
        }
    };
    match m {
        mode::DEMO => demo(&mut c, &mut checks),
        mode::gamma::SLABINFO => slabinfo(&mut c, &mut checks),
        mode::gamma::QUOTA => quota(&mut c, &mut checks, args[harness::arg::PARAM]),
        _ => {
            checks.check(0, m, mode::DEMO);
        }
    }
    report::figure(figure::MESSAGES, c.messages());
    checks.done()
}

fn print_slabinfo(c: &mut C, checks: &mut Checks, all: bool) -> u64 {
    let mut console = ms_harness::console();
    let mut lines = Lines {
        out: &mut console,
        lines: 0,
        header_ok: false,
        first: true,
    };
    let r = c.slabinfo(all, &mut lines);
    checks.ok(1, r.is_ok());
    checks.ok(2, lines.header_ok);
    lines.lines
}

fn demo(c: &mut C, checks: &mut Checks) {
    if let Ok(mut k) = c.kmem_cache_create("gamma_items", 200, 8, 0, None) {
        let mut objs = [0usize; 40];
        for o in objs.iter_mut() {
            *o = c.kmem_cache_alloc(&mut k).unwrap_or(0);
        }
        for &o in objs.iter().skip(20) {
            let _ = c.kmem_cache_free(&mut k, o);
        }
        report::figure(figure::OBJECTS, 40);
    }
    // Its own caches: other clients run at the same time, and the walk over all clients' rows
    // is not stable against caches destroyed meanwhile.
    ms_harness::println!("gamma: its /proc/slabinfo, read over IPC:");
    let lines = print_slabinfo(c, checks, false);
    checks.ok(3, lines > 2);
}

fn slabinfo(c: &mut C, checks: &mut Checks) {
    let Ok(mut k) = c.kmem_cache_create("gamma_cache", 100, 8, 0, None) else {
        checks.check(4, 1, 0);
        return;
    };
    let mut objs = [0usize; 100];
    for o in objs.iter_mut() {
        *o = c.kmem_cache_alloc(&mut k).unwrap_or(0);
    }
    let in_magazine = k.magazine_len() as u64;
    let lines = print_slabinfo(c, checks, false);
    // Header lines, our kmalloc caches and gamma_cache.
    checks.ok(5, lines >= 3);
    let mut active = None;
    let r = c.slabinfo_rows(false, |row| {
        if row.name == "gamma_cache" {
            active = Some((row.active_objs, row.objsize, row.num_objs));
        }
    });
    checks.ok(6, r.is_ok());
    let (act, objsize, num) = active.unwrap_or((0, 0, 0));
    // Objects handed out: ours plus what our magazine holds.
    checks.ok(7, act >= 100 + in_magazine);
    checks.ok(8, objsize >= 100 && num >= act);
    for &o in &objs {
        let _ = c.kmem_cache_free(&mut k, o);
    }
    let _ = c.kmem_cache_flush(&mut k);
    let _ = c.kmem_cache_destroy(&mut k);
}

fn quota(c: &mut C, checks: &mut Checks, limit: Word) {
    let Ok(mut k) = c.kmem_cache_create("gamma_quota", 64, 8, 0, None) else {
        checks.check(10, 1, 0);
        return;
    };
    let mut objs = [0usize; 256];
    let mut n = 0;
    let mut error = 0;
    while n < objs.len() {
        match c.kmem_cache_alloc(&mut k) {
            Ok(a) => {
                objs[n] = a;
                n += 1;
            }
            Err(e) => {
                error = e.error.code();
                break;
            }
        }
    }
    checks.check(11, error, Error::QuotaExceeded.code());
    checks.check(12, n as Word, limit);
    // The server goes on serving: a free makes room for exactly one more.
    let freed = n > 0 && c.kmem_cache_free(&mut k, objs[n - 1]).is_ok();
    checks.ok(13, freed);
    checks.ok(14, c.kmem_cache_alloc(&mut k).is_ok());
    checks.check(
        15,
        c.kmem_cache_alloc(&mut k)
            .err()
            .map_or(0, |e| e.error.code()),
        Error::QuotaExceeded.code(),
    );
    checks.check(16, c.stats().map_or(0, |s| s.live_objects), limit);
}
