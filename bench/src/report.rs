//! `BENCHMARKS.md`: the issue-6 target table computed from one run's criterion medians and memory
//! replays, the throughput plot, every criterion figure of the run (the memserver crate's own
//! benches included) and the notes on what limits missed targets. Pure: figures in, text out.
use std::collections::BTreeMap;
use std::fmt::Write;

use memserver::kmalloc::KMALLOC_SIZES;

use crate::criterion_results::{find, Measurement};
use crate::memory::MemoryReport;
use crate::svg::Series;
use crate::transport::MessageCount;

/// Facts about the run that produced the figures.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    pub command: String,
    pub quick: bool,
    pub date: String,
    pub machine: String,
    pub load: String,
    /// Load average when the run started (`cargo xtask bench` passes it), if known.
    pub load_start: String,
    /// Path of the plot relative to the repository root.
    pub plot: Option<String>,
    /// Instructions per operation from callgrind, when valgrind was available.
    pub instructions: Vec<crate::callgrind::Count>,
    /// How the benchmark processes were scheduled (e.g. `nice -n -20`).
    pub priority: String,
    /// Hand-written analysis (no figures), included verbatim.
    pub notes: Option<String>,
    /// Real programs under each allocator (`programs`), when run.
    pub programs: Vec<crate::programs::ProgramRun>,
    /// Path of the programs' plot relative to the repository root.
    pub programs_plot: Option<String>,
    /// Points of the cost curves (`curves`), when valgrind was available.
    pub curves: Vec<crate::curves::Point>,
    /// The curves' plots: (title, path relative to the repository root).
    pub curves_plots: Vec<(String, String)>,
    /// Boot cost per RAM size on target (`cargo xtask boot-cost`), when it ran.
    pub boot_cost: Vec<crate::boot_cost::BootCost>,
    /// Path of the boot-cost plot relative to the repository root.
    pub boot_plot: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Met,
    Missed,
    NotMeasured,
}

impl Verdict {
    fn text(self) -> &'static str {
        match self {
            Verdict::Met => "**met**",
            Verdict::Missed => "**missed**",
            Verdict::NotMeasured => "not measured yet",
        }
    }
}

/// One row of the target table.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub id: &'static str,
    pub what: String,
    pub goal: String,
    pub measured: String,
    pub verdict: Verdict,
    pub command: String,
}

const TARGETS_BENCH: &str = "cargo bench -p memserver-bench --bench targets --";
const REPLAY: &str = "cargo run --release -p memserver-bench --bin slabinfo_replay --";

fn at_most(ratio: f64, goal: f64) -> Verdict {
    if ratio <= goal {
        Verdict::Met
    } else {
        Verdict::Missed
    }
}

fn at_least(ratio: f64, goal: f64) -> Verdict {
    if ratio >= goal {
        Verdict::Met
    } else {
        Verdict::Missed
    }
}

fn missing(id: &'static str, what: &str, goal: &str, command: String, why: &str) -> Target {
    Target {
        id,
        what: what.into(),
        goal: goal.into(),
        measured: why.into(),
        verdict: Verdict::NotMeasured,
        command,
    }
}

fn per_elem(all: &[Measurement], g: &str, f: &str) -> Option<f64> {
    find(all, g, f, None).map(Measurement::ns_per_element)
}

/// Ratio target "ours ÷ peer ≤ goal" within one group.
fn time_ratio(
    all: &[Measurement],
    id: &'static str,
    what: &str,
    group: &str,
    peer: &str,
    goal: f64,
) -> Target {
    let command = format!("{TARGETS_BENCH} {group}");
    let goal_text = format!("≤ {goal}× {peer}'s time");
    match (
        per_elem(all, group, "memserver"),
        per_elem(all, group, peer),
    ) {
        (Some(ours), Some(theirs)) => {
            let r = ours / theirs;
            Target {
                id,
                what: what.into(),
                goal: goal_text,
                measured: format!("{r:.2}× ({ours:.2} ns vs {theirs:.2} ns per element)"),
                verdict: at_most(r, goal),
                command,
            }
        }
        _ => missing(id, what, &goal_text, command, "bench did not run"),
    }
}

/// "; `label`: R× (T ns)" for the diagnostic `function` of `group` against mimalloc in the same
/// group, or nothing when either did not run.
fn variant(all: &[Measurement], group: &str, function: &str, label: &str) -> String {
    match (
        per_elem(all, group, function),
        per_elem(all, group, "mimalloc"),
    ) {
        (Some(v), Some(m)) => format!("; {label}: {:.2}× ({v:.2} ns)", v / m),
        _ => String::new(),
    }
}

/// Evaluates every target of issue 6 from one run's figures.
pub fn targets(all: &[Measurement], mem: &[MemoryReport], msgs: &[MessageCount]) -> Vec<Target> {
    let mut fast = time_ratio(
        all,
        "1",
        "local fast path: alloc+free of a 64-byte object through a held CoreGuard and a resolved \
         cache (`CoreGuard::cache`, as a Linux caller holds a `struct kmem_cache *`)",
        "fast_path_64",
        "mimalloc",
        0.8,
    );
    fast.measured += &variant(
        all,
        "fast_path_64",
        "memserver_by_handle",
        "by handle on every call (each call resolves the handle)",
    );
    let mut mixed = time_ratio(
        all,
        "2",
        "kmalloc mixed workload, 8..8K (slabinfo-weighted sizes, 4096 live objects), through a \
         set resolved once (`CoreGuard::kmalloc_set`)",
        "kmalloc_mixed",
        "mimalloc",
        1.0,
    );
    mixed.measured += &variant(
        all,
        "kmalloc_mixed",
        "memserver_by_set",
        "with the set on every call",
    );
    let mut t = vec![
        fast,
        mixed,
        time_ratio(
            all,
            "2",
            "kmalloc mixed workload, 8..8K (same trace)",
            "kmalloc_mixed",
            "glibc",
            0.5,
        ),
    ];
    let cmd = format!("{TARGETS_BENCH} two_cores");
    t.push(
        match (
            per_elem(all, "two_cores", "one_thread"),
            per_elem(all, "two_cores", "two_threads"),
        ) {
            (Some(one), Some(two)) => {
                let speedup = 2.0 * one / two;
                let control = match (
                    per_elem(all, "two_cores", "mimalloc_one_thread"),
                    per_elem(all, "two_cores", "mimalloc_two_threads"),
                ) {
                    (Some(a), Some(b)) => format!(
                        "; control, mimalloc on the same two CPUs: {:.2}×",
                        2.0 * a / b
                    ),
                    _ => String::new(),
                };
                let own = per_elem(all, "two_cores", "two_threads_own_caches")
                    .map(|o| format!("; one cache per thread: {:.2}×", 2.0 * one / o))
                    .unwrap_or_default();
                let own_alloc = per_elem(all, "two_cores", "two_threads_own_allocators")
                    .map(|o| format!("; one allocator per thread: {:.2}×", 2.0 * one / o))
                    .unwrap_or_default();
                Target {
                    id: "3",
                    what: "two threads on two cores vs one thread (alloc+free pairs, 64 B)".into(),
                    goal: "≥ 1.8×".into(),
                    measured: format!("{speedup:.2}× (one thread {one:.2} ns/pair; two threads {two:.2} ns per pair each{own}{own_alloc}{control})"),
                    verdict: at_least(speedup, 1.8),
                    command: cmd,
                }
            }
            _ => missing("3", "two threads on two cores", "≥ 1.8×", cmd, "bench did not run"),
        },
    );
    for (f, what) in [
        (
            "remote_1node",
            "producer/consumer, remote frees on one node (two cores), 1024 objects per hand-over between the threads",
        ),
        (
            "remote_2nodes",
            "producer/consumer, remote frees across two nodes (one core each), 1024 objects per hand-over",
        ),
    ] {
        let cmd = format!("{TARGETS_BENCH} producer_consumer");
        t.push(
            match (
                per_elem(all, "producer_consumer", "local"),
                per_elem(all, "producer_consumer", f),
            ) {
                (Some(local), Some(remote)) => {
                    let r = local / remote;
                    Target {
                        id: "3",
                        what: what.into(),
                        goal: "≥ 0.5× local throughput".into(),
                        measured: format!(
                            "{r:.2}× ({remote:.2} ns vs local {local:.2} ns per object; the \
                             hand-over alone {})",
                            per_elem(all, "producer_consumer", "handover_only")
                                .map_or("not measured".into(), |h| format!("{h:.2} ns"))
                        ),
                        verdict: at_least(r, 0.5),
                        command: cmd,
                    }
                }
                _ => missing("3", what, "≥ 0.5× local", cmd, "bench did not run"),
            },
        );
    }
    t.push(transport_target(all, msgs));
    t.push(missing(
        "5",
        "on target under QEMU -icount: alloc+free via magazines; one IPC per operation",
        "≤ 100 guest instructions; ≤ 1.3× a bare round trip",
        "cargo xtask bench (needs the seL4 image)".into(),
        "not measured yet: the on-target benchmark needs the seL4 root-task image",
    ));
    for m in mem {
        let rows = m.rows.len();
        let ok = m.rows_at_most_linux();
        let share = ok as f64 / rows.max(1) as f64;
        let cmd = format!(
            "{REPLAY} --input {} --label {1} --out {1}.json",
            m.input, m.source
        );
        t.push(Target {
            id: "6a",
            what: format!("layout per row, bytes per object vs Linux ({})", m.input),
            goal: "ours ≤ Linux's on ≥ 95% of rows".into(),
            measured: format!("{ok} of {rows} rows ({:.1}%)", 100.0 * share),
            verdict: at_least(share, 0.95),
            command: cmd.clone(),
        });
        t.push(Target {
            id: "6a",
            what: format!("layout total over active objects ({})", m.input),
            goal: "≤ 1.0×".into(),
            measured: format!("{:.4}×", m.total_ratio()),
            verdict: at_most(m.total_ratio(), 1.0 + 1e-9),
            command: cmd.clone(),
        });
        t.push(Target {
            id: "6b",
            what: format!(
                "churn: alloc all, free random half, alloc again ({}; metadata {:.1} B/object)",
                m.input,
                m.metadata_per_object()
            ),
            goal: "pages ≤ 1.2× ideal".into(),
            measured: format!(
                "{:.3}× ({} pages, ideal {})",
                m.churn_ratio(),
                m.churn.pages_after_realloc,
                m.churn.ideal_pages
            ),
            verdict: at_most(m.churn_ratio(), 1.2),
            command: cmd.clone(),
        });
        let total = m.total_per_object() / m.linux_total_per_object();
        t.push(Target {
            id: "6c",
            what: format!(
                "total memory per live object after the churn: slab pages plus every byte of \
                 out-of-line metadata, vs Linux's pages plus its 64-byte struct page/slab per \
                 slab page ({})",
                m.input
            ),
            goal: "≤ 1.03×".into(),
            measured: format!(
                "{total:.3}× ({:.1} vs {:.1} bytes per object; metadata {:.1} vs {:.1})",
                m.total_per_object(),
                m.linux_total_per_object(),
                m.metadata_per_object(),
                64.0 * m.churn.pages_after_realloc as f64 / m.churn.live_objects.max(1) as f64
            ),
            verdict: at_most(total, 1.03),
            command: cmd,
        });
    }
    if mem.is_empty() {
        t.push(missing(
            "6",
            "memory replay",
            "see issue 6",
            REPLAY.into(),
            "replay did not run",
        ));
    }
    t.push(buddy_target(all));
    t.push(refusal_target(all));
    t
}

/// Target 4: times from the memserver crate's `transport` bench (group `transport`: `direct`
/// "guard per round" is the local path, `client` "batch 32" the client through the transport with
/// magazines of 32, both per object operation), messages from `transport_messages`.
fn transport_target(all: &[Measurement], msgs: &[MessageCount]) -> Target {
    let cmd = "cargo bench -p memserver --bench transport; cargo run --release -p memserver-bench --bin transport_messages".to_string();
    let direct = find(all, "transport", "direct", Some("guard per round"));
    let mag = find(all, "transport", "client", Some("batch 32"));
    let m32 = msgs.iter().find(|m| m.batch == 32);
    match (direct, mag, m32) {
        (Some(d), Some(m), Some(c)) => {
            let r = d.ns_per_element() / m.ns_per_element();
            let per = c.per_object();
            let threaded = find(all, "transport", "threaded", Some("batch 32"))
                .map(|l| {
                    format!(
                        "; diagnostic, a server thread per core handing over to the client's: {:.2}×",
                        d.ns_per_element() / l.ns_per_element()
                    )
                })
                .unwrap_or_default();
            let verdict = if r >= 0.5 && per <= 1.0 / 16.0 + 1e-12 {
                Verdict::Met
            } else {
                Verdict::Missed
            };
            Target {
                id: "4",
                what: "through the in-process transport (the caller's thread runs the server, as \
                       seL4's fastpath switches into it), magazines of 32"
                    .into(),
                goal: "≥ 0.5× local throughput; ≤ 1/16 message per object".into(),
                measured: format!(
                    "{r:.2}× ({:.2} ns vs direct {:.2} ns per operation{threaded}); {per:.4} messages per object ({} for {} objects)",
                    m.ns_per_element(),
                    d.ns_per_element(),
                    c.messages,
                    c.objects
                ),
                verdict,
                command: cmd,
            }
        }
        _ => missing(
            "4",
            "through the in-process transport, magazines of 32",
            "≥ 0.5× local; ≤ 1/16 message per object",
            cmd,
            "not measured: the transport bench or the message count did not run",
        ),
    }
}

/// The refusal storm (`refusal_storm` bench): another client's alloc+free pairs on core 1 while
/// one client's 4 MiB requests are refused on core 0, out of memory against over quota.
fn refusal_target(all: &[Measurement]) -> Target {
    let cmd = "cargo bench -p memserver-bench --bench refusal_storm".to_string();
    let what = "another client's alloc+free pairs on core 1 during a storm of refused 4 MiB \
                kmallocs on core 0 (a few thousand caches, no free 4 MiB block): refused out of \
                memory vs refused over quota";
    let goal = "≥ 0.5× the throughput beside cheap refusals";
    match (
        per_elem(all, "refusal_storm", "cheap_refusals"),
        per_elem(all, "refusal_storm", "oom_refusals"),
    ) {
        (Some(cheap), Some(oom)) => {
            let r = cheap / oom;
            Target {
                id: "refusal",
                what: what.into(),
                goal: goal.into(),
                measured: format!(
                    "{r:.2}× ({oom:.0} ns per pair beside out-of-memory refusals, {cheap:.0} ns \
                     beside quota refusals)"
                ),
                verdict: at_least(r, 0.5),
                command: cmd,
            }
        }
        _ => missing("refusal", what, goal, cmd, "bench did not run"),
    }
}

fn buddy_target(all: &[Measurement]) -> Target {
    let cmd = "cargo bench -p memserver --bench buddy".to_string();
    let mut worst: Option<(f64, String)> = None;
    let mut parts = Vec::new();
    for group in ["buddy_pair", "buddy_batch256"] {
        for order in 0..=3 {
            let v = order.to_string();
            let ours = find(all, group, "memserver", Some(&v));
            let theirs = find(all, group, "buddy_system_allocator", Some(&v));
            if let (Some(o), Some(b)) = (ours, theirs) {
                let r = o.median_ns / b.median_ns;
                parts.push(format!("{group} order {order}: {r:.2}×"));
                if worst.as_ref().is_none_or(|w| r > w.0) {
                    worst = Some((r, format!("{group} order {order}")));
                }
            }
        }
    }
    match worst {
        Some((r, at)) => Target {
            id: "7",
            what: "buddy alloc/free, orders 0..3".into(),
            goal: "≤ 1.0× buddy_system_allocator".into(),
            measured: format!("worst {r:.2}× ({at}); {}", parts.join("; ")),
            verdict: at_most(r, 1.0),
            command: cmd,
        },
        None => missing(
            "7",
            "buddy alloc/free, orders 0..3",
            "≤ 1.0× buddy_system_allocator",
            cmd,
            "bench did not run",
        ),
    }
}

/// The plot's series: `class_batch` throughput per class for each allocator.
pub fn class_series(all: &[Measurement]) -> Vec<Series> {
    let mut by_fn: BTreeMap<&str, Vec<(String, f64)>> = BTreeMap::new();
    for &size in KMALLOC_SIZES.iter() {
        let v = size.to_string();
        for m in all
            .iter()
            .filter(|m| m.group == "class_batch" && m.value.as_deref() == Some(&v))
        {
            let label = if size >= 1024 {
                format!("{}k", size / 1024)
            } else {
                v.clone()
            };
            by_fn
                .entry(m.function.as_str())
                .or_default()
                .push((label, 1e9 / m.ns_per_element()));
        }
    }
    let mut out: Vec<Series> = by_fn
        .into_iter()
        .map(|(name, points)| Series {
            name: name.to_owned(),
            points,
        })
        .collect();
    out.sort_by_key(|s| s.name != "memserver");
    out
}

/// The remote-free targets by instructions, from the curves' local and remote rows (callgrind,
/// one thread: the allocator's own work, with no thread hand-over and no cache-line transfer).
fn remote_targets(points: &[crate::curves::Point]) -> Vec<Target> {
    use crate::curves::Workload;
    let find =
        |w: Workload, nodes: usize| points.iter().find(|p| p.workload == w && p.size == nodes);
    [
        (1, "one node (two cores)"),
        (2, "two nodes (one core each)"),
    ]
    .into_iter()
    .filter_map(|(nodes, what)| {
        let (l, r) = (
            find(Workload::Local, nodes)?,
            find(Workload::Remote, nodes)?,
        );
        let ratio = l.per_op() / r.per_op().max(1e-9);
        Some(Target {
            id: "3",
            what: format!(
                "remote frees by instructions, {what}: rounds of 64 objects allocated on \
                     core 0 and freed on core 1, against freed on core 0 (callgrind, one thread)"
            ),
            goal: "≥ 0.5× local throughput".into(),
            measured: format!(
                "{ratio:.2}× ({:.1} vs local {:.1} instructions per object, allocation and \
                     free)",
                r.per_op(),
                l.per_op()
            ),
            verdict: at_least(ratio, 0.5),
            command: format!(
                "valgrind --tool=callgrind --toggle-collect='*profile_curve::measured*' \
                     target/release/profile_curve remote {nodes} 100000"
            ),
        })
    })
    .collect()
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.2} ns")
    }
}

/// The whole `BENCHMARKS.md`.
pub fn markdown(
    run: &RunInfo,
    all: &[Measurement],
    mem: &[MemoryReport],
    msgs: &[MessageCount],
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Benchmarks\n");
    let _ = writeln!(
        s,
        "Generated by `{}` on {} ({} mode); do not edit by hand, rerun the command. \
         Every ratio compares figures of this one run: criterion medians of the per-iteration \
         times (repeated samples), peers measured in the same process.\n",
        run.command,
        run.date,
        if run.quick { "quick" } else { "full" }
    );
    let _ = writeln!(
        s,
        "Machine: {}. Load average (1, 5, 15 minutes) {}at the end of the run: {}. Benchmark \
         processes ran {}; \
         threads of the multi-core benches are pinned one per CPU, the measuring thread to CPU 0. \
         The machine is shared (other builds, tests and fuzzers run on its two CPUs), so the \
         figures carry noise, the two-thread ones most.\n",
        run.machine,
        if run.load_start.is_empty() {
            String::new()
        } else {
            format!("at the start of the run: {}; ", run.load_start)
        },
        run.load,
        if run.priority.is_empty() {
            "at normal priority"
        } else {
            &run.priority
        }
    );
    let _ = writeln!(s, "## Targets (issue 6)\n");
    let _ = writeln!(s, "| # | target | goal | measured | verdict | command |");
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for t in targets(all, mem, msgs)
        .into_iter()
        .chain(remote_targets(&run.curves))
    {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | `{}` |",
            t.id,
            t.what,
            t.goal,
            t.measured,
            t.verdict.text(),
            t.command
        );
    }
    if let Some(p) = &run.plot {
        let _ = writeln!(s, "\n## Throughput per size class\n");
        let _ = writeln!(
            s,
            "Each point: 32 `kmalloc` (or `malloc`) calls of one class's size, then 32 frees, on one \
             core (`{TARGETS_BENCH} class_batch`).\n\n![throughput per size class]({p})\n"
        );
    }
    if let Some(m) = mem.first() {
        let _ = writeln!(s, "## Memory replay ({})\n", m.input);
        let _ = writeln!(
            s,
            "{} caches with active objects, {} live objects. Slab pages: {} after allocating every \
             row's active count, {} after freeing a random half (kept as partial slabs), {} after \
             allocating the half again; ideal (perfect packing with our layouts) {}; {} after \
             freeing every object (the burst's peak: {}). Allocator \
             metadata, all out of line in server memory: {} bytes per arena ({} bytes of arena) \
             plus {} bytes for caches, slab records and arrays = {:.2} bytes per live object \
             (Linux keeps a 64-byte `struct slab` per slab page plus an in-object free pointer: \
             {:.2} bytes per object for the same pages).\n",
            m.rows.len(),
            m.churn.live_objects,
            m.churn.pages_after_alloc,
            m.churn.pages_after_free_half,
            m.churn.pages_after_realloc,
            m.churn.ideal_pages,
            m.churn.pages_after_free_all,
            m.churn.pages_after_alloc.max(m.churn.pages_after_realloc),
            m.metadata.fixed_bytes,
            m.metadata.arena_bytes,
            m.metadata.per_cache_and_slab_bytes,
            m.metadata_per_object(),
            64.0 * m.churn.pages_after_realloc as f64 / m.churn.live_objects.max(1) as f64
        );
        let worse: Vec<String> = m
            .rows
            .iter()
            .filter(|r| r.ours_bpo() > r.linux_bpo() + 1e-9)
            .map(|r| {
                format!(
                    "`{}` ({} B: ours {}/{} vs Linux {}/{} objects/pages)",
                    r.name,
                    r.objsize,
                    r.ours_objperslab,
                    r.ours_pagesperslab,
                    r.linux_objperslab,
                    r.linux_pagesperslab
                )
            })
            .collect();
        let better = m
            .rows
            .iter()
            .filter(|r| r.ours_bpo() < r.linux_bpo() - 1e-9)
            .count();
        let _ = writeln!(
            s,
            "Rows where our bytes per object are larger than Linux's: {}. Rows where they are \
             smaller: {better}.\n",
            if worse.is_empty() {
                "none".to_string()
            } else {
                worse.join(", ")
            }
        );
    }
    if !run.instructions.is_empty() {
        let _ = writeln!(s, "## Instructions per operation (callgrind)\n");
        let _ = writeln!(
            s,
            "`profile_pair` under `valgrind --tool=callgrind --toggle-collect=<function>` \
             (`cargo build --release -p memserver-bench --bins && \
             target/release/callgrind_counts --out counts.json`): pairs are one alloc + free of a \
             64-byte object through a held guard, mixed steps one free + one allocation of the \
             kmalloc trace, remote one object allocated on core 0 and freed on core 1 (from one \
             thread, in batches of 64).\n"
        );
        let _ = writeln!(
            s,
            "| workload | operations | instructions | per operation |"
        );
        let _ = writeln!(s, "|---|---|---|---|");
        for c in &run.instructions {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.1} |",
                c.function,
                c.operations,
                c.instructions,
                c.per_op()
            );
        }
        let _ = writeln!(s);
    }
    if !run.curves.is_empty() {
        s.push_str(&crate::curves::markdown(&run.curves, &run.curves_plots));
    }
    if !run.boot_cost.is_empty() {
        if run.curves.is_empty() {
            let _ = writeln!(s, "## Cost as work grows\n");
        }
        s.push_str(&crate::boot_cost::markdown(
            &run.boot_cost,
            run.boot_plot.as_deref(),
        ));
    }
    if !run.programs.is_empty() {
        s.push_str(&crate::programs::markdown(
            &run.programs,
            run.programs_plot.as_deref(),
        ));
    }
    if !msgs.is_empty() {
        let _ = writeln!(
            s,
            "## Messages per object through the in-process transport\n"
        );
        let _ = writeln!(
            s,
            "{} rounds of {} allocations then {} frees of a 64-byte cache, after one warm round \
             (`cargo run --release -p memserver-bench --bin transport_messages`).\n",
            crate::transport::ROUNDS,
            crate::transport::ROUND,
            crate::transport::ROUND
        );
        let _ = writeln!(s, "| magazine | messages | objects | per object |");
        let _ = writeln!(s, "|---|---|---|---|");
        for m in msgs {
            let mag = if m.batch == 0 {
                "off".to_string()
            } else {
                m.batch.to_string()
            };
            let _ = writeln!(
                s,
                "| {mag} | {} | {} | {:.4} |",
                m.messages,
                m.objects,
                m.per_object()
            );
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "## Every criterion figure of this run\n");
    let _ = writeln!(
        s,
        "Medians per iteration; \"per element\" divides by the group's declared throughput; \
         \"memserver ÷ this\" compares with the `memserver` entry of the same group and parameter.\n"
    );
    let _ = writeln!(
        s,
        "| group | benchmark | parameter | median | per element | memserver ÷ this |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for m in all {
        let ours = find(all, &m.group, "memserver", m.value.as_deref());
        let ratio = match ours {
            Some(o) if m.function != "memserver" => format!("{:.2}×", o.median_ns / m.median_ns),
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            m.group,
            m.function,
            m.value.as_deref().unwrap_or(""),
            fmt_ns(m.median_ns),
            fmt_ns(m.ns_per_element()),
            ratio
        );
    }
    if let Some(n) = &run.notes {
        let _ = writeln!(s, "\n{}", n.trim_end());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(
        group: &str,
        function: &str,
        value: Option<&str>,
        ns: f64,
        el: Option<u64>,
    ) -> Measurement {
        Measurement {
            group: group.into(),
            function: function.into(),
            value: value.map(Into::into),
            median_ns: ns,
            elements: el,
        }
    }

    #[test]
    fn remote_targets_compare_instructions_per_object() {
        use crate::curves::{Point, Workload};
        let p = |workload, size, instructions| Point {
            workload,
            size,
            ops: 100,
            instructions,
            ll_misses: 0,
            free_instructions: None,
            ns_per_op: None,
        };
        let t = remote_targets(&[
            p(Workload::Local, 1, 8000),
            p(Workload::Remote, 1, 15000),
            p(Workload::Local, 2, 8000),
            p(Workload::Remote, 2, 20000),
        ]);
        assert_eq!(t.len(), 2);
        assert!(
            t[0].measured.starts_with("0.53× (150.0 vs local 80.0"),
            "{}",
            t[0].measured
        );
        assert_eq!(t[0].verdict, Verdict::Met);
        assert_eq!(t[1].verdict, Verdict::Missed);
        assert!(remote_targets(&[]).is_empty());
    }

    #[test]
    fn ratios_and_verdicts_follow_the_figures() {
        let all = vec![
            m("fast_path_64", "memserver", None, 4.0, Some(1)),
            m("fast_path_64", "mimalloc", None, 6.0, Some(1)),
            m("kmalloc_mixed", "memserver", None, 100.0, Some(10)),
            m("kmalloc_mixed", "mimalloc", None, 80.0, Some(10)),
            m("two_cores", "one_thread", None, 10.0, Some(1)),
            m("two_cores", "two_threads", None, 10.5, Some(1)),
            m("buddy_pair", "memserver", Some("0"), 10.0, None),
            m(
                "buddy_pair",
                "buddy_system_allocator",
                Some("0"),
                20.0,
                None,
            ),
        ];
        let t = targets(&all, &[], &[]);
        assert_eq!(t[0].verdict, Verdict::Met);
        assert!(t[0].measured.starts_with("0.67×"));
        assert_eq!(t[1].verdict, Verdict::Missed);
        assert_eq!(t[2].verdict, Verdict::NotMeasured);
        assert_eq!(t[3].verdict, Verdict::Met);
        assert!(t[3].measured.starts_with("1.90×"));
        let buddy = t.iter().find(|x| x.id == "7").unwrap();
        assert_eq!(buddy.verdict, Verdict::Met);
        let five = t.iter().find(|x| x.id == "5").unwrap();
        assert_eq!(five.verdict, Verdict::NotMeasured);
        let run = RunInfo {
            instructions: vec![crate::callgrind::Count {
                function: "memserver_pairs".into(),
                operations: 4,
                instructions: 10,
            }],
            ..RunInfo::default()
        };
        let md = markdown(&run, &all, &[], &[]);
        assert!(md.contains("| memserver_pairs | 4 | 10 | 2.5 |"));
        assert!(md
            .contains("| buddy_pair | buddy_system_allocator | 0 | 20.00 ns | 20.00 ns | 0.50× |"));
    }
}
