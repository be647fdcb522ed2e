//! Owns `cargo xtask bench-target`: issue 6's target 5, on target. Builds the memory-server image
//! on the release kernel (one core), boots it under QEMU with `-icount shift=0,sleep=off` (guest
//! instruction counts exact and repeatable), takes the root task's `measure` lines, and turns
//! them into the target-5 rows: instructions per alloc+free pair through magazines of 32 and of
//! 64 (goal at most 100) with messages per object, and per alloc and per free with magazines off
//! against the bare register-only round trip of the same image (goal at most 1.3x), with what the
//! server's dispatch and the root task's whole per-message work cost alone. Writes the rows to
//! `<target>/bench-report/on-target.md` and the raw figures to `on-target.txt`.
use crate::error::{Error, Result};
use crate::kernel::Flavor;
use crate::paths::Paths;
use crate::step::Logs;
use crate::Options;
use std::collections::BTreeMap;
use std::time::Duration;

/// The command that reproduces the rows.
pub const COMMAND: &str = "cargo xtask bench-target";
const PAIR_GOAL: f64 = 100.0;
const DIRECT_GOAL: f64 = 1.3;

/// The figures of one boot, by measure name.
pub type Measures = BTreeMap<String, u64>;

/// Builds and boots the release bench images; returns their measure lines.
pub fn measure(paths: &Paths, logs: &Logs) -> Result<Measures> {
    let opts = Options {
        flavor: Flavor::Release,
        system: crate::harness_system(paths),
        cores: Some(1),
        timeout: Duration::from_secs(300),
        ..Options::new(paths)
    };
    let mut measures = Measures::new();
    // The memory server's figures from the harness; the bare round trip from the root-task
    // runtime's checks (same kernel, same core).
    let mut roots = vec![crate::RootTask::Memserver];
    if crate::RootTask::RuntimeTests.exists(paths) {
        roots.push(crate::RootTask::RuntimeTests);
    }
    for root in roots {
        let opts = Options {
            root,
            ..opts.clone()
        };
        let built = crate::build_all(paths, logs, &opts)?;
        measures.extend(crate::boot(&built, &opts, false)?.measures);
    }
    Ok(measures)
}

/// One row of the target table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub what: String,
    pub goal: String,
    pub measured: String,
    pub met: bool,
}

fn get(m: &Measures, name: &str) -> Result<u64> {
    m.get(name)
        .copied()
        .ok_or_else(|| Error::MissingMeasure(name.to_owned()))
}

/// Per-object figure from a `<name>_total` over `objects`.
fn per(m: &Measures, name: &str, objects: &str) -> Result<f64> {
    Ok(get(m, &format!("{name}_total"))? as f64 / get(m, objects)?.max(1) as f64)
}

/// The magazine row for magazines of `batch` (`prefix` names its measures), if they were measured.
fn magazine_row(m: &Measures, batch: u64, prefix: &str, extra: String) -> Result<Option<Row>> {
    let objects = format!("{prefix}_objects");
    if !m.contains_key(&objects) {
        return Ok(None);
    }
    let pair = per(m, &format!("{prefix}_pair_instructions"), &objects)?;
    let local = get(m, &format!("{prefix}_local_pair_instructions"))?;
    let msgs = get(m, &format!("{prefix}_messages"))? as f64 / get(m, &objects)?.max(1) as f64;
    Ok(Some(Row {
        what: format!(
            "on target (release kernel, QEMU -icount): alloc+free pair of a 64 B object \
             through magazines of {batch}, bursts of 256, steady state"
        ),
        goal: format!("≤ {PAIR_GOAL} guest instructions per pair"),
        measured: format!(
            "{pair:.0} instructions per pair, {msgs:.4} messages per object (1/{:.0}); \
             {local} per pair that stays in the magazine{extra}",
            1.0 / msgs.max(f64::MIN_POSITIVE),
        ),
        met: pair <= PAIR_GOAL,
    }))
}

/// The target-5 rows from one boot's measures.
pub fn rows(m: &Measures) -> Result<Vec<Row>> {
    let rt = get(m, "ipc_round_trip_4_registers_instructions")? as f64;
    let alloc = per(m, "bench_direct_alloc_instructions", "bench_direct_objects")?;
    let free = per(m, "bench_direct_free_instructions", "bench_direct_objects")?;
    let figure = |text: &str, name: &str| {
        m.get(name)
            .map(|v| format!("; {text} {v}"))
            .unwrap_or_default()
    };
    let batches = figure(
        "the server's dispatch of a refill of 32",
        "bench_server_dispatch_refill_32_instructions",
    ) + &figure(
        "of a drain of 32",
        "bench_server_dispatch_drain_32_instructions",
    ) + &figure(
        "with 256 objects in flight, of a refill of 32",
        "bench_server_dispatch_refill_32_burst_instructions",
    ) + &figure(
        "of a drain of 32",
        "bench_server_dispatch_drain_32_burst_instructions",
    );
    let serve_loop = figure(
        "a register-only round trip through the memory server's serve loop",
        "bench_serve_loop_ping_instructions",
    );
    let mut rows = Vec::new();
    rows.extend(magazine_row(m, 32, "bench_magazine", batches)?);
    rows.extend(magazine_row(m, 64, "bench_magazine64", String::new())?);
    if rows.is_empty() {
        return Err(Error::MissingMeasure("bench_magazine_objects".to_owned()));
    }
    rows.extend(clients_row(m));
    for (what, per_op, dispatch, serve_one) in [
        ("alloc", alloc, "alloc", "alloc"),
        ("free", free, "free", "free"),
    ] {
        rows.push(Row {
            what: format!("on target: one {what}, magazines off (one register-only IPC)"),
            goal: format!("≤ {DIRECT_GOAL}× a bare round trip ({rt:.0} instructions)"),
            measured: format!(
                "{:.2}× ({per_op:.0} instructions{}{}{serve_loop})",
                per_op / rt,
                figure(
                    "the server's dispatch alone",
                    &format!("bench_server_dispatch_{dispatch}_instructions"),
                ),
                figure(
                    "the root task's whole work per message",
                    &format!("bench_serve_one_{serve_one}_instructions"),
                ),
            ),
            met: per_op / rt <= DIRECT_GOAL,
        });
    }
    Ok(rows)
}

/// Bench clients at once in the clients curve (the driver's `CLIENTS`).
const CLIENTS: [u64; 4] = [1, 4, 16, 32];
/// Growth the clients curve may show.
const CLIENTS_GOAL: f64 = 1.3;

/// The clients curve's row, if it was measured: the server's whole work per object through
/// magazines of 32 (a refill and a drain of 32 on one client's cache, over 32) with 1 to 32
/// bench clients in the server, judged on its growth; and each client's own instructions per pair
/// (the median client's and the smallest), which beyond a few clients include the others' turns.
fn clients_row(m: &Measures) -> Option<Row> {
    let server: Vec<(u64, f64)> = CLIENTS
        .iter()
        .filter_map(|&n| {
            let r = m.get(&format!("bench_clients{n}_serve_refill_32_instructions"))?;
            let d = m.get(&format!("bench_clients{n}_serve_drain_32_instructions"))?;
            Some((n, (r + d) as f64 / 32.0))
        })
        .collect();
    let first = server.first()?.1.max(1.0);
    let growth = server.iter().map(|p| p.1).fold(0.0f64, f64::max) / first;
    let list = |suffix: &str| {
        server
            .iter()
            .map(|&(n, _)| {
                m.get(&format!("bench_clients{n}_pair_instructions{suffix}"))
                    .map_or(format!("{n}: –"), |x| format!("{n}: {x}"))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(Row {
        what: format!(
            "on target, cost as clients grow: {} bench clients at once, each with its own 64 B \
             cache through magazines of 32 (bursts of 256); the server's whole work per object \
             for a refill and a drain of 32 with that many clients in it",
            server
                .iter()
                .map(|p| p.0.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        goal: format!("≤ {CLIENTS_GOAL}× growth from one client"),
        measured: format!(
            "{growth:.2}× (server instructions per object by clients, {}; each client's own \
             instructions per pair, which include the other clients' turns once they interleave: \
             median {}, smallest {})",
            server
                .iter()
                .map(|&(n, v)| format!("{n}: {v:.0}"))
                .collect::<Vec<_>>()
                .join(", "),
            list(""),
            list("_min")
        ),
        met: growth <= CLIENTS_GOAL,
    })
}

/// The rows as Markdown table lines (`| 5 | what | goal | measured | met | command |`).
pub fn markdown(rows: &[Row]) -> String {
    rows.iter()
        .map(|r| {
            format!(
                "| 5 | {} | {} | {} | {} | `{COMMAND}` |\n",
                r.what,
                r.goal,
                r.measured,
                if r.met { "met" } else { "**missed**" }
            )
        })
        .collect()
}

/// `report` with its target-5 lines (`| 5 | ...`) replaced by `rows`, or `None` if it has none.
pub fn splice(report: &str, rows: &str) -> Option<String> {
    let is_five = |l: &str| l.starts_with("| 5 |");
    let first = report.lines().position(is_five)?;
    let mut out = String::new();
    for (i, line) in report.lines().enumerate() {
        if i == first {
            out.push_str(rows);
        } else if !is_five(line) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Some(out)
}

/// For `cargo xtask bench`: measures on target and puts the rows into the written `report`
/// (`BENCHMARKS.md`) in place of its target-5 lines.
pub fn into_report(paths: &Paths, report: &std::path::Path) -> Result<()> {
    let logs = Logs::new(paths.logs())?;
    let rows = run(paths, &logs)?;
    let text = std::fs::read_to_string(report).map_err(|e| Error::io("cannot read", report, e))?;
    match splice(&text, &rows) {
        Some(new) => std::fs::write(report, new).map_err(|e| Error::io("cannot write", report, e)),
        None => {
            crate::step::announce("the report has no target-5 row: on-target rows not inserted");
            Ok(())
        }
    }
}

/// `cargo xtask bench-target`; returns the rows as Markdown.
pub fn run(paths: &Paths, logs: &Logs) -> Result<String> {
    let m = measure(paths, logs)?;
    let dir = paths.target.join("bench-report");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
    let raw: String = m
        .iter()
        .map(|(k, v)| format!("measure {k} {v}\n"))
        .collect();
    let raw_path = dir.join("on-target.txt");
    std::fs::write(&raw_path, raw).map_err(|e| Error::io("cannot write", &raw_path, e))?;
    let table = markdown(&rows(&m)?);
    let md = dir.join("on-target.md");
    std::fs::write(&md, &table).map_err(|e| Error::io("cannot write", &md, e))?;
    print!("{table}");
    println!("[xtask] wrote {} and {}", md.display(), raw_path.display());
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Measures {
        [
            ("ipc_round_trip_4_registers_instructions", 400),
            ("bench_magazine_pair_instructions_total", 2048 * 90),
            ("bench_magazine_local_pair_instructions", 40),
            ("bench_magazine_objects", 2048),
            ("bench_magazine_messages", 128),
            ("bench_direct_alloc_instructions_total", 2048 * 500),
            ("bench_direct_free_instructions_total", 2048 * 540),
            ("bench_direct_objects", 2048),
            ("bench_magazine64_pair_instructions_total", 2048 * 120),
            ("bench_magazine64_local_pair_instructions", 40),
            ("bench_magazine64_objects", 2048),
            ("bench_magazine64_messages", 32),
            ("bench_serve_one_free_instructions", 480),
            ("bench_server_dispatch_refill_32_burst_instructions", 2000),
            ("bench_server_dispatch_drain_32_burst_instructions", 9000),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    #[test]
    fn rows_compare_with_the_goals() {
        let r = rows(&sample()).unwrap();
        assert_eq!(r.len(), 4, "magazines of 32 and 64, alloc, free");
        assert!(r[0].met, "90 per pair is within 100");
        assert!(r[0].measured.contains("0.0625 messages per object (1/16)"));
        assert!(r[0]
            .measured
            .contains("in flight, of a refill of 32 2000; of a drain of 32 9000"));
        assert!(!r[1].met, "120 per pair is not");
        assert!(r[1].what.contains("magazines of 64"));
        assert!(r[1].measured.contains("(1/64)"));
        assert!(r[2].met, "500 / 400 = 1.25");
        assert!(!r[3].met, "540 / 400 = 1.35");
        assert!(r[3]
            .measured
            .contains("the root task's whole work per message 480"));
        assert!(markdown(&r).contains("**missed**"));
    }

    #[test]
    fn the_clients_row_shows_growth_from_one_client() {
        let mut m = sample();
        for (n, median, min, serve) in [
            (1, 300, 290, 3200),
            (4, 310, 295, 3200),
            (16, 4000, 300, 3520),
            (32, 9000, 305, 4480),
        ] {
            m.insert(format!("bench_clients{n}_pair_instructions"), median);
            m.insert(format!("bench_clients{n}_pair_instructions_min"), min);
            m.insert(
                format!("bench_clients{n}_serve_refill_32_instructions"),
                serve,
            );
            m.insert(
                format!("bench_clients{n}_serve_drain_32_instructions"),
                serve,
            );
        }
        let r = rows(&m).unwrap();
        assert_eq!(r.len(), 5);
        let c = &r[2];
        assert!(c.what.contains("1, 4, 16, 32 bench clients"), "{}", c.what);
        assert!(c.measured.starts_with("1.40× ("), "{}", c.measured);
        assert!(
            c.measured.contains("1: 200, 4: 200, 16: 220, 32: 280"),
            "{}",
            c.measured
        );
        assert!(c
            .measured
            .contains("median 1: 300, 4: 310, 16: 4000, 32: 9000"));
        assert!(c
            .measured
            .contains("smallest 1: 290, 4: 295, 16: 300, 32: 305"));
        assert!(!c.met);
        m.insert("bench_clients32_serve_drain_32_instructions".into(), 3840);
        m.insert("bench_clients32_serve_refill_32_instructions".into(), 3200);
        assert!(rows(&m).unwrap()[2].met, "220 / 200 = 1.1");
    }

    #[test]
    fn rows_replace_the_target_five_lines() {
        let report = "| # | t |\n| 4 | a |\n| 5 | old |\n| 5 | old2 |\n| 6a | b |\n";
        let new = splice(report, "| 5 | new |\n").unwrap();
        assert_eq!(new, "| # | t |\n| 4 | a |\n| 5 | new |\n| 6a | b |\n");
        assert_eq!(splice("| 4 | a |\n", "| 5 | new |\n"), None);
    }

    #[test]
    fn a_missing_figure_is_an_error() {
        let mut m = sample();
        m.remove("bench_direct_objects");
        assert!(matches!(rows(&m), Err(Error::MissingMeasure(n)) if n == "bench_direct_objects"));
        let mut m = sample();
        m.remove("bench_magazine_objects");
        m.remove("bench_magazine64_objects");
        assert!(matches!(rows(&m), Err(Error::MissingMeasure(n)) if n == "bench_magazine_objects"));
    }
}
