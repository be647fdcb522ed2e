//! The on-target bench: runs the `ms-bench` client with magazines of 32, of 64, and with magazines
//! off, checks that its checks passed, and prints its figures as `measure <name> <value>` lines
//! (guest instructions under QEMU `-icount shift=0`; meaningful on the release kernel, which
//! `cargo xtask bench` boots). With magazines off, the root task also times the server's own
//! work on the client's cache (the supervisor's `PROFILE`). Runs on one-core images only (with
//! two cores under `-icount`, guest time is shared and the figures mean less).

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
