//! Cost as work grows: per-operation cost of the allocator with 1 thousand to 10 million live
//! objects and with 10 to 10 thousand caches, and the cost of a remote free against a local one.
//! Each point is a run of `profile_curve` (its set-up outside the counted function): under
//! callgrind for the instructions per operation (exact and repeatable) and the last-level cache
//! misses callgrind's cache model gives them, then natively for the nanoseconds per operation
//! (the wall-time confirmation, noisy on a shared machine). `report` turns the points into the
//! "Cost as work grows" section of `BENCHMARKS.md` and its plots.
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

use memserver::kmalloc::KMALLOC_SIZES;

use crate::workload::Mix;

/// Live objects each cache (or kmalloc set) holds in the cache-count curves.
pub const LIVE_PER_CACHE: usize = 16;
/// Objects per round of the local and remote rows (allocated, then freed).
pub const REMOTE_BATCH: usize = 64;
/// Operations counted per point under callgrind.
pub const OPS: usize = 100_000;
/// Operations timed per point natively (more, so that a timer tick and the set-up's last
/// page faults weigh less).
pub const TIMED_OPS: usize = 1_000_000;
/// Timed passes per point; the fastest is reported.
pub const TIMED_PASSES: usize = 3;
/// The cache model callgrind simulates, fixed so that the miss counts do not depend on the
/// machine the run is on: 32 KiB 8-way first-level caches and an 8 MiB 16-way last level, 64-byte
/// lines (a server core's share of a current x86 or Arm last-level cache).
pub const CACHE_MODEL: [&str; 3] = ["--I1=32768,8,64", "--D1=32768,8,64", "--LL=8388608,16,64"];
/// The growth each curve may show across its range.
pub const GROWTH_GOAL: f64 = 1.3;

/// The workloads of `profile_curve` (see its documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Workload {
    LivePairs,
    LiveKmalloc,
    MimallocPairs,
    MimallocKmalloc,
    CachesPairs,
    CachesKmalloc,
    Local,
    Remote,
}

impl Workload {
    pub const ALL: [Workload; 8] = [
        Workload::LivePairs,
        Workload::LiveKmalloc,
        Workload::MimallocPairs,
        Workload::MimallocKmalloc,
        Workload::CachesPairs,
        Workload::CachesKmalloc,
        Workload::Local,
        Workload::Remote,
    ];

    /// The name `profile_curve` takes.
    pub fn name(self) -> &'static str {
        match self {
            Workload::LivePairs => "live-pairs",
            Workload::LiveKmalloc => "live-kmalloc",
            Workload::MimallocPairs => "mimalloc-pairs",
            Workload::MimallocKmalloc => "mimalloc-kmalloc",
            Workload::CachesPairs => "caches-pairs",
            Workload::CachesKmalloc => "caches-kmalloc",
            Workload::Local => "local",
            Workload::Remote => "remote",
        }
    }

    pub fn parse(s: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == s)
    }

    /// A peer's curve, measured for comparison (no goal of its own).
    pub fn is_control(self) -> bool {
        matches!(self, Workload::MimallocPairs | Workload::MimallocKmalloc)
    }

    /// The sizes measured: live objects, caches, or nodes.
    pub fn sizes(self) -> &'static [usize] {
        match self {
            Workload::LivePairs
            | Workload::LiveKmalloc
            | Workload::MimallocPairs
            | Workload::MimallocKmalloc => &[1_000, 10_000, 100_000, 1_000_000, 10_000_000],
            Workload::CachesPairs => &[10, 100, 1_000, 10_000],
            // As kmalloc sets of 13 caches: 1, 8, 77 and 770 sets.
            Workload::CachesKmalloc => &[13, 104, 1_001, 10_010],
            Workload::Local | Workload::Remote => &[1, 2],
        }
    }

    /// Arena for a point of `size`: what its live objects take with slack for partial slabs
    /// and the per-core arrays' refills, plus a fixed margin. The host arena is reserved, not
    /// touched, so the slack costs address space only.
    pub fn arena_bytes(self, size: usize) -> usize {
        const MARGIN: usize = 64 << 20;
        match self {
            Workload::LivePairs => size * 64 * 5 / 4 + MARGIN,
            Workload::LiveKmalloc => (size as f64 * mean_class_bytes() * 1.5) as usize + MARGIN,
            Workload::CachesPairs => size * (128 << 10) + MARGIN,
            Workload::CachesKmalloc => size.div_ceil(13) * (2 << 20) + MARGIN,
            Workload::Local | Workload::Remote => MARGIN,
            Workload::MimallocPairs | Workload::MimallocKmalloc => 0,
        }
    }
}

/// Mean bytes of the kmalloc class an object of the trace's mix lands in.
pub fn mean_class_bytes() -> f64 {
    let m = Mix::sample();
    let total: u64 = m.weights.iter().sum();
    m.weights
        .iter()
        .zip(KMALLOC_SIZES.iter())
        .map(|(&w, &s)| w as f64 * s as f64)
        .sum::<f64>()
        / total.max(1) as f64
}

/// One measured point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub workload: Workload,
    pub size: usize,
    pub ops: u64,
    /// Instructions executed by the counted operations.
    pub instructions: u64,
    /// Last-level cache misses (data reads and writes) of callgrind's cache model.
    pub ll_misses: u64,
    /// Instructions of the freeing half only (the local and remote rows).
    pub free_instructions: Option<u64>,
    /// Nanoseconds per operation, natively (`TIMED_OPS` operations).
    pub ns_per_op: Option<f64>,
}

impl Point {
    pub fn per_op(&self) -> f64 {
        self.instructions as f64 / self.ops.max(1) as f64
    }
    pub fn misses_per_op(&self) -> f64 {
        self.ll_misses as f64 / self.ops.max(1) as f64
    }
}

/// The events and totals of callgrind's summary (`Events : Ir ...`, `Collected : n ...`).
pub fn collected_events(stderr: &str) -> Vec<(String, u64)> {
    let field = |key: &str| {
        stderr.lines().find_map(|l| {
            let (_, rest) = l.split_once(key)?;
            Some(
                rest.split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
            )
        })
    };
    let (Some(events), Some(values)) = (field("Events    :"), field("Collected :")) else {
        return Vec::new();
    };
    events
        .into_iter()
        .zip(values)
        .filter_map(|(e, v)| Some((e, v.replace(',', "").parse().ok()?)))
        .collect()
}

/// Runs one point under callgrind (with its cache model) counting `function`; returns
/// (instructions, last-level data misses).
fn callgrind(
    profile: &Path,
    w: Workload,
    size: usize,
    function: &str,
) -> Result<(u64, u64), String> {
    let res = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--callgrind-out-file=/dev/null")
        .arg("--cache-sim=yes")
        .args(CACHE_MODEL)
        .arg(format!("--toggle-collect=*profile_curve::{function}*"))
        .arg(profile)
        .args([w.name(), &size.to_string(), &OPS.to_string()])
        .output()
        .map_err(|e| format!("valgrind: {e}"))?;
    let stderr = String::from_utf8_lossy(&res.stderr);
    if !res.status.success() {
        return Err(format!(
            "valgrind on {} {size}: {}\n{stderr}",
            w.name(),
            res.status
        ));
    }
    let ev = collected_events(&stderr);
    let get = |n: &str| ev.iter().find(|(e, _)| e == n).map(|(_, v)| *v);
    let ir = get("Ir").ok_or_else(|| format!("{} {size}: no `Collected` line", w.name()))?;
    Ok((ir, get("DLmr").unwrap_or(0) + get("DLmw").unwrap_or(0)))
}

/// Runs one point natively, timed.
fn timed(profile: &Path, w: Workload, size: usize) -> Result<f64, String> {
    let res = Command::new(profile)
        .args([
            w.name(),
            &size.to_string(),
            &TIMED_OPS.to_string(),
            "--time",
        ])
        .output()
        .map_err(|e| format!("{}: {e}", profile.display()))?;
    if !res.status.success() {
        return Err(format!("{} {size} timed: {}", w.name(), res.status));
    }
    String::from_utf8_lossy(&res.stdout)
        .trim()
        .parse()
        .map_err(|_| format!("{} {size}: no time printed", w.name()))
}

/// Every point of every curve, `profile` being the `profile_curve` binary; `progress` is told
/// each point as it is measured.
pub fn measure(profile: &Path, mut progress: impl FnMut(&Point)) -> Result<Vec<Point>, String> {
    let mut out = Vec::new();
    for w in Workload::ALL {
        for &size in w.sizes() {
            let (instructions, ll_misses) = callgrind(profile, w, size, "measured")?;
            let free_instructions = match w {
                Workload::Local | Workload::Remote => {
                    Some(callgrind(profile, w, size, "free_phase")?.0)
                }
                _ => None,
            };
            // The native run is the confirmation only: a failure there leaves the count.
            let ns_per_op = timed(profile, w, size).ok();
            let p = Point {
                workload: w,
                size,
                ops: OPS as u64,
                instructions,
                ll_misses,
                free_instructions,
                ns_per_op,
            };
            progress(&p);
            out.push(p);
        }
    }
    Ok(out)
}

/// `1k`, `10M`, ...
pub fn short(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// The points of one curve, in size order.
fn curve(points: &[Point], w: Workload) -> Vec<&Point> {
    let mut v: Vec<&Point> = points.iter().filter(|p| p.workload == w).collect();
    v.sort_by_key(|p| p.size);
    v
}

/// Largest over smallest-size figure of a curve (the growth across its range).
fn growth(c: &[&Point], f: impl Fn(&Point) -> Option<f64>) -> Option<f64> {
    let first = f(c.first()?)?;
    let last = c.iter().filter_map(|p| f(p)).fold(0.0f64, f64::max);
    (first > 0.0).then(|| last / first)
}

/// What each curve's rows measure, for the tables.
fn describe(w: Workload) -> (&'static str, &'static str) {
    match w {
        Workload::LivePairs => (
            "live objects",
            "a pair: free of a random live 64-byte object and one allocation, through a resolved cache",
        ),
        Workload::LiveKmalloc => (
            "live objects",
            "a kmalloc step: kfree of a random live object of the kmalloc trace and one kmalloc of the trace's next size, through a resolved set",
        ),
        Workload::MimallocPairs => (
            "live objects",
            "control: the same pair through mimalloc",
        ),
        Workload::MimallocKmalloc => (
            "live objects",
            "control: the same kmalloc step through mimalloc",
        ),
        Workload::CachesPairs => (
            "caches",
            "a pair in a random cache (16 live objects each, 32..256 B): free of a random live object and one allocation, by handle",
        ),
        Workload::CachesKmalloc => (
            "caches",
            "a kmalloc step in a random kmalloc set (13 caches, 16 live objects each, one set per owner as per client): kfree and kmalloc by set",
        ),
        Workload::Local | Workload::Remote => ("nodes", ""),
    }
}

/// Short name of a curve in the plots' legends (`mi` = mimalloc).
fn tag(w: Workload) -> &'static str {
    match w {
        Workload::LivePairs | Workload::CachesPairs => "pair",
        Workload::LiveKmalloc | Workload::CachesKmalloc => "kmalloc",
        Workload::MimallocPairs => "mi pair",
        Workload::MimallocKmalloc => "mi kmalloc",
        Workload::Local => "local",
        Workload::Remote => "remote",
    }
}

/// Growth per curve for the plots: groups are sizes, bars the figures relative to the
/// smallest size (1 = no growth): instructions and time of the memserver's curves, time of the
/// controls.
pub fn growth_groups(points: &[Point], ws: &[Workload]) -> Vec<(String, Vec<(String, f64)>)> {
    let curves: Vec<(Workload, Vec<&Point>)> = ws.iter().map(|&w| (w, curve(points, w))).collect();
    let n = curves.iter().map(|c| c.1.len()).min().unwrap_or(0);
    let rel = |c: &[&Point], i: usize, f: &dyn Fn(&Point) -> Option<f64>| match (
        c.first().and_then(|p| f(p)),
        f(c[i]),
    ) {
        (Some(a), Some(b)) if a > 0.0 => b / a,
        _ => f64::NAN,
    };
    (0..n)
        .map(|i| {
            let mut bars = Vec::new();
            for (w, c) in &curves {
                if !w.is_control() {
                    bars.push((
                        format!("{} instr", tag(*w)),
                        rel(c, i, &|p| Some(p.per_op())),
                    ));
                }
                bars.push((format!("{} ns", tag(*w)), rel(c, i, &|p| p.ns_per_op)));
            }
            (short(curves[0].1[i].size), bars)
        })
        .collect()
}

/// The "Cost as work grows" section (without plots, which `report` links after it).
pub fn markdown(points: &[Point], plots: &[(String, String)]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## Cost as work grows\n");
    let _ = writeln!(
        s,
        "Each point is one run of `profile_curve WORKLOAD SIZE OPS` (`cargo build --release -p \
         memserver-bench --bins && target/release/curves --out curves.json`): the set-up (the \
         live objects, the caches) and one warm-up pass of the operations run first, then {OPS} \
         operations are counted under \
         `valgrind --tool=callgrind --cache-sim=yes --toggle-collect=*profile_curve::measured*` \
         (instructions, and last-level data misses of callgrind's cache model with an 8 MiB \
         16-way last level; both exact and repeatable; the model has no TLB), and {TIMED_OPS} are timed natively in a separate run, \
         the fastest of {TIMED_PASSES} passes (the confirmation; it moves with the machine's \
         load). Goal: per-operation cost grows by at most \
         {GROWTH_GOAL}× across each range. Growth is the largest figure over the smallest \
         size's.\n"
    );
    let _ = writeln!(
        s,
        "| curve | range | instructions per op | growth | LL misses per op | ns per op | growth | verdict (instructions / time) |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for w in [
        Workload::LivePairs,
        Workload::MimallocPairs,
        Workload::LiveKmalloc,
        Workload::MimallocKmalloc,
        Workload::CachesPairs,
        Workload::CachesKmalloc,
    ] {
        let c = curve(points, w);
        let (Some(first), Some(last)) = (c.first(), c.last()) else {
            continue;
        };
        let (unit, what) = describe(w);
        let gi = growth(&c, |p| Some(p.per_op()));
        let gt = growth(&c, |p| p.ns_per_op);
        let verdict = |g: Option<f64>| match g {
            _ if w.is_control() => "control",
            Some(g) if g <= GROWTH_GOAL => "met",
            Some(_) => "**missed**",
            None => "not measured",
        };
        let list =
            |f: &dyn Fn(&Point) -> String| c.iter().map(|p| f(p)).collect::<Vec<_>>().join(" / ");
        let _ = writeln!(
            s,
            "| {what} | {} to {} {unit} | {} | {} | {} | {} | {} | {} / {} |",
            short(first.size),
            short(last.size),
            list(&|p| format!("{:.1}", p.per_op())),
            gi.map_or("–".into(), |g| format!("{g:.2}×")),
            list(&|p| format!("{:.2}", p.misses_per_op())),
            list(&|p| p.ns_per_op.map_or("–".into(), |t| format!("{t:.1}"))),
            gt.map_or("–".into(), |g| format!("{g:.2}×")),
            verdict(gi),
            verdict(gt)
        );
    }
    let _ = writeln!(
        s,
        "\nSizes per curve, in the order of the figures: {}.\n",
        [
            Workload::LivePairs,
            Workload::CachesPairs,
            Workload::CachesKmalloc
        ]
        .iter()
        .map(|&w| format!(
            "{}: {}",
            w.name(),
            w.sizes()
                .iter()
                .map(|&n| short(n))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .collect::<Vec<_>>()
        .join("; ")
    );
    for (title, link) in plots {
        let _ = writeln!(s, "![{title}]({link})\n");
    }
    let local = curve(points, Workload::Local);
    let remote = curve(points, Workload::Remote);
    if !local.is_empty() && !remote.is_empty() {
        let _ = writeln!(s, "### Remote frees against local frees (callgrind)\n");
        let _ = writeln!(
            s,
            "`profile_curve local|remote NODES`: rounds of {REMOTE_BATCH} 64-byte objects allocated \
             on core 0, then freed on core 0 (local) or on core 1 (remote; from the same thread, so \
             no thread hand-over is counted), one node of two cores or two nodes of one core. An \
             operation is one object's allocation and free; core 0 takes remotely freed objects \
             back when its array runs empty, which the allocation half counts. Throughput ratio = \
             local instructions over remote (goal ≥ 0.5×).\n"
        );
        let _ = writeln!(
            s,
            "| nodes | local: instructions per object (free half) | remote: instructions per object (free half) | LL misses per object local / remote | remote vs local throughput (instructions) | ns per object local / remote (one thread) |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|");
        for (l, r) in local.iter().zip(&remote) {
            let free = |p: &Point| {
                p.free_instructions.map_or("–".into(), |f| {
                    format!("{:.1}", f as f64 / p.ops.max(1) as f64)
                })
            };
            let _ = writeln!(
                s,
                "| {} | {:.1} ({}) | {:.1} ({}) | {:.2} / {:.2} | {:.2}× | {} / {} |",
                l.size,
                l.per_op(),
                free(l),
                r.per_op(),
                free(r),
                l.misses_per_op(),
                r.misses_per_op(),
                l.per_op() / r.per_op().max(1e-9),
                l.ns_per_op.map_or("–".into(), |t| format!("{t:.1}")),
                r.ns_per_op.map_or("–".into(), |t| format!("{t:.1}")),
            );
        }
        let _ = writeln!(s);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_from_the_summary() {
        let text = "==1== Events    : Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\n\
                    ==1== Collected : 1,000 400 300 1 20 10 1 5 2\n";
        let ev = collected_events(text);
        assert_eq!(ev[0], ("Ir".to_string(), 1000));
        assert_eq!(ev.iter().find(|e| e.0 == "DLmw").unwrap().1, 2);
        assert!(collected_events("nothing").is_empty());
    }

    fn p(w: Workload, size: usize, instructions: u64, ns: f64) -> Point {
        Point {
            workload: w,
            size,
            ops: 100,
            instructions,
            ll_misses: 0,
            free_instructions: None,
            ns_per_op: Some(ns),
        }
    }

    #[test]
    fn growth_is_the_largest_over_the_first_and_judged_against_the_goal() {
        let pts = vec![
            p(Workload::LivePairs, 10_000, 6000, 20.0),
            p(Workload::LivePairs, 1_000, 5000, 10.0),
            p(Workload::LivePairs, 100_000, 5500, 15.0),
        ];
        let md = markdown(&pts, &[]);
        assert!(md.contains("| 50.0 / 60.0 / 55.0 | 1.20× |"), "{md}");
        assert!(md.contains("| 2.00× | met / **missed** |"), "{md}");
        let g = growth_groups(&pts, &[Workload::LivePairs]);
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].0, "1k");
        assert!((g[1].1[0].1 - 1.2).abs() < 1e-9 && (g[1].1[1].1 - 2.0).abs() < 1e-9);
    }

    #[test]
    fn sizes_are_written_short() {
        assert_eq!(short(10_000_000), "10M");
        assert_eq!(short(1_001), "1001");
        assert_eq!(short(10_000), "10k");
    }

    #[test]
    fn every_workload_has_a_name_that_parses_back() {
        for w in Workload::ALL {
            assert_eq!(Workload::parse(w.name()), Some(w));
        }
    }
}
