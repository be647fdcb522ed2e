//! The on-target bench: runs the `ms-bench` client with magazines of 32, of 64, and with magazines
//! off, checks that its checks passed, and prints its figures as `measure <name> <value>` lines
//! (guest instructions under QEMU `-icount shift=0`; meaningful on the release kernel, which
//! `cargo xtask bench` boots). With magazines off, the root task also times the server's own
//! work on the client's cache (the supervisor's `PROFILE`). Then 1 to 32 bench clients at once
//! with magazines of 32 (the clients curve). Runs on one-core images only (with two cores under
//! `-icount`, guest time is shared and the figures mean less).

use crate::children::Children;
use crate::failure::MsFailure;
use crate::harness::Harness;
use core::fmt::Write;
use memserver_client_sel4::abi::supervisor::profile as p;
use ms_harness::{figure, mode};
use sel4::Word;

/// Runs the three modes, one harness test each.
pub fn run_all(k: &mut Children, h: &mut Harness) {
    let r = bench(k, h, mode::bench::MAGAZINES, 32);
    h.record("bench_alloc_free_through_magazines", r);
    let r = bench(k, h, mode::bench::MAGAZINES, 64);
    h.record("bench_alloc_free_through_magazines_of_64", r);
    let r = bench(k, h, mode::bench::DIRECT, 0);
    h.record("bench_one_message_per_operation", r);
    for n in CLIENTS {
        let r = clients(k, h, n);
        h.record(&name(format_args!("bench_{n}_clients_at_once")), r);
    }
}

/// Bench clients started at once for the clients curve.
const CLIENTS: [Word; 4] = [1, 4, 16, 32];

/// `n` bench clients at once, each with its own cache through magazines of 32 (so the server
/// holds `n` clients' records, caches and magazines). Prints the median and the smallest of the
/// clients' per-pair figures as `measure bench_clients<n>_pair_instructions[_min]`: the clients
/// share the core, and a batch message's reply may let another client run, so beyond a few
/// clients a window includes the others' turns. Then, with all `n` clients still in the server
/// (exited, not yet reaped), the server's whole work for a refill and a drain of 32 on the last
/// client's cache (the supervisor's `PROFILE`), which no other client's turn can enter:
/// `measure bench_clients<n>_serve_refill_32_instructions` and `..._serve_drain_32_...`.
fn clients(k: &mut Children, h: &mut Harness, n: Word) -> Result<(), MsFailure> {
    let result = (|| {
        let first = k.list.len();
        for id in 1..=n {
            k.start("bench", mode::bench::MAGAZINES, id, 32)?;
        }
        k.serve_all()?;
        let mut per: heapless::Vec<Word, { CLIENTS[CLIENTS.len() - 1] as usize }> =
            heapless::Vec::new();
        for i in first..k.list.len() {
            k.outcome(i)?;
            let objects = k
                .figure(i, figure::BENCH_OBJECTS)
                .filter(|&o| o > 0)
                .ok_or(MsFailure::Setup("bench figures missing"))?;
            let total = k
                .figure(i, figure::BENCH_PAIR_INSTRUCTIONS)
                .ok_or(MsFailure::Setup("bench figures missing"))?;
            per.push(total / objects)
                .map_err(|_| MsFailure::Setup("more bench clients than kept figures"))?;
        }
        per.sort_unstable();
        let (Some(&min), Some(&median)) = (per.first(), per.get(per.len() / 2)) else {
            return Err(MsFailure::Setup("no bench client"));
        };
        h.measure(
            &name(format_args!("bench_clients{n}_pair_instructions")),
            median,
        );
        h.measure(
            &name(format_args!("bench_clients{n}_pair_instructions_min")),
            min,
        );
        let last = k.list.len() - 1;
        let cache = k
            .figure(last, figure::BENCH_CACHE_HANDLE)
            .ok_or(MsFailure::Setup("bench figures missing"))?;
        let handle = k.get(last)?.handle;
        let f = k
            .sup
            .profile(handle, cache)
            .map_err(|_| MsFailure::Setup("profile refused"))?;
        h.measure(
            &name(format_args!(
                "bench_clients{n}_serve_refill_32_instructions"
            )),
            f[p::SERVE_ONE_REFILL_32],
        );
        h.measure(
            &name(format_args!("bench_clients{n}_serve_drain_32_instructions")),
            f[p::SERVE_ONE_DRAIN_32],
        );
        Ok(())
    })();
    k.reclaim_all();
    result
}

type Name = heapless::String<64>;

fn name(args: core::fmt::Arguments<'_>) -> Name {
    let mut s = Name::new();
    let _ = s.write_fmt(args);
    s
}

fn bench(k: &mut Children, h: &mut Harness, m: Word, batch: Word) -> Result<(), MsFailure> {
    let result = (|| {
        let i = k.start("bench", m, 1, batch)?;
        k.serve_all()?;
        k.outcome(i)?;
        let one = |id| k.figure(i, id);
        let objects = one(figure::BENCH_OBJECTS)
            .filter(|&n| n > 0)
            .ok_or(MsFailure::Setup("bench figures missing"))?;
        let messages = one(figure::BENCH_MESSAGES).unwrap_or(0);
        let print = |h: &mut Harness, n: &str, total: Option<Word>, per: Word| {
            if let Some(t) = total {
                h.measure(&name(format_args!("{n}_total")), t);
                h.measure(n, t / per);
            }
        };
        if m == mode::bench::MAGAZINES {
            // Magazines of 32 keep the names the report has always read.
            let prefix = match batch {
                32 => name(format_args!("bench_magazine")),
                b => name(format_args!("bench_magazine{b}")),
            };
            print(
                h,
                &name(format_args!("{prefix}_pair_instructions")),
                one(figure::BENCH_PAIR_INSTRUCTIONS),
                objects,
            );
            print(
                h,
                &name(format_args!("{prefix}_local_pair_instructions")),
                one(figure::BENCH_LOCAL_PAIR_INSTRUCTIONS),
                mode::bench::LOCAL_PAIRS,
            );
            h.measure(&name(format_args!("{prefix}_objects")), objects);
            h.measure(&name(format_args!("{prefix}_messages")), messages);
        } else {
            print(
                h,
                "bench_direct_alloc_instructions",
                one(figure::BENCH_ALLOC_INSTRUCTIONS),
                objects,
            );
            print(
                h,
                "bench_direct_free_instructions",
                one(figure::BENCH_FREE_INSTRUCTIONS),
                objects,
            );
            print(
                h,
                "bench_serve_loop_ping_instructions",
                one(figure::BENCH_PING_INSTRUCTIONS),
                mode::bench::PINGS,
            );
            h.measure("bench_direct_objects", objects);
            h.measure("bench_direct_messages", messages);
            if let Some(cache) = one(figure::BENCH_CACHE_HANDLE) {
                let handle = k.get(i)?.handle;
                let f = k
                    .sup
                    .profile(handle, cache)
                    .map_err(|_| MsFailure::Setup("profile refused"))?;
                for (n, idx) in [
                    (
                        "bench_server_dispatch_alloc_instructions",
                        p::DISPATCH_ALLOC,
                    ),
                    ("bench_server_dispatch_free_instructions", p::DISPATCH_FREE),
                    (
                        "bench_server_dispatch_refill_32_instructions",
                        p::DISPATCH_REFILL_32,
                    ),
                    (
                        "bench_server_dispatch_drain_32_instructions",
                        p::DISPATCH_DRAIN_32,
                    ),
                    (
                        "bench_serve_one_refill_32_instructions",
                        p::SERVE_ONE_REFILL_32,
                    ),
                    (
                        "bench_serve_one_drain_32_instructions",
                        p::SERVE_ONE_DRAIN_32,
                    ),
                    (
                        "bench_server_dispatch_refill_32_burst_instructions",
                        p::DISPATCH_REFILL_32_BURST,
                    ),
                    (
                        "bench_server_dispatch_drain_32_burst_instructions",
                        p::DISPATCH_DRAIN_32_BURST,
                    ),
                    ("bench_serve_one_alloc_instructions", p::SERVE_ONE_ALLOC),
                    ("bench_serve_one_free_instructions", p::SERVE_ONE_FREE),
                ] {
                    h.measure(n, f[idx]);
                }
            }
        }
        Ok(())
    })();
    k.reclaim_all();
    result
}
