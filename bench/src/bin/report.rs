//! `report`: writes `BENCHMARKS.md` and the throughput plot from one run's criterion results and
//! memory replays (see `memserver_bench::report`). Run by `cargo xtask bench`.
//!
//! Options: `--criterion DIR` (criterion's output of the run), `--memory JSON` (repeatable),
//! `--transport JSON` (message counts), `--callgrind JSON` (instruction counts), `--programs JSON` with `--programs-plot FILE` and `--programs-plot-link PATH` (real programs under each allocator), `--out FILE`, `--plot FILE` and `--plot-link PATH` (where the SVG goes, and how the markdown
//! links it), `--curves JSON` with `--curves-plot-dir DIR` and `--curves-plot-link PREFIX` (the
//! cost curves and where their two plots go), `--boot-cost JSON` (on-target boot cost per RAM
//! size; its plot goes to the same folder), `--load-start TEXT` (the load average when the run
//! started), `--notes FILE`, `--command TEXT`, `--priority TEXT` (how the benches were scheduled), `--quick`.
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use memserver_bench::boot_cost::BootCost;
use memserver_bench::callgrind::Count;
use memserver_bench::criterion_results;
use memserver_bench::curves::{self, Point, Workload};
use memserver_bench::memory::MemoryReport;
use memserver_bench::programs::ProgramRun;
use memserver_bench::report::{self, RunInfo};
use memserver_bench::svg;
use memserver_bench::transport::MessageCount;

fn fail(msg: String) -> ! {
    eprintln!("report: {msg}");
    std::process::exit(1)
}

/// The JSON value in file `p`; exits naming the file if it cannot be read or parsed.
fn read_file<T: serde::de::DeserializeOwned>(p: &Path) -> T {
    let t = std::fs::read_to_string(p).unwrap_or_else(|e| fail(format!("{}: {e}", p.display())));
    serde_json::from_str(&t).unwrap_or_else(|e| fail(format!("{}: {e}", p.display())))
}

/// The list in file `p`, or an empty one when no file was given.
fn read_json<T: serde::de::DeserializeOwned>(p: Option<&Path>) -> Vec<T> {
    p.map_or_else(Vec::new, read_file)
}

/// `YYYY-MM-DD HH:MM UTC` from the system clock (days to civil date, proleptic Gregorian).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    format!(
        "{cpu}, {} CPUs online, Linux {kernel}, {}",
        memserver_bench::pin::online_cpus(),
        std::env::consts::ARCH
    )
}

fn main() {
    let mut crit = None;
    let mut mems = Vec::new();
    let mut out = None;
    let mut plot = None;
    let mut plot_link = None;
    let mut notes = None;
    let mut command = "cargo xtask bench".to_string();
    let mut quick = false;
    let mut transport = None;
    let mut callgrind = None;
    let mut programs = None;
    let mut programs_plot = None;
    let mut programs_plot_link: Option<String> = None;
    let mut priority = String::new();
    let mut curves = None;
    let mut curves_dir: Option<PathBuf> = None;
    let mut curves_link: Option<String> = None;
    let mut boot = None;
    let mut load_start = String::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--quick" {
            quick = true;
            continue;
        }
        let v = args
            .next()
            .unwrap_or_else(|| fail(format!("{a} needs a value")));
        match a.as_str() {
            "--criterion" => crit = Some(PathBuf::from(v)),
            "--memory" => mems.push(PathBuf::from(v)),
            "--transport" => transport = Some(PathBuf::from(v)),
            "--callgrind" => callgrind = Some(PathBuf::from(v)),
            "--curves" => curves = Some(PathBuf::from(v)),
            "--curves-plot-dir" => curves_dir = Some(PathBuf::from(v)),
            "--curves-plot-link" => curves_link = Some(v),
            "--boot-cost" => boot = Some(PathBuf::from(v)),
            "--load-start" => load_start = v,
            "--programs" => programs = Some(PathBuf::from(v)),
            "--programs-plot" => programs_plot = Some(PathBuf::from(v)),
            "--programs-plot-link" => programs_plot_link = Some(v),
            "--out" => out = Some(PathBuf::from(v)),
            "--plot" => plot = Some(PathBuf::from(v)),
            "--plot-link" => plot_link = Some(v),
            "--notes" => notes = Some(PathBuf::from(v)),
            "--command" => command = v,
            "--priority" => priority = v,
            _ => fail(format!("unknown option {a}")),
        }
    }
    let crit = crit.unwrap_or_else(|| fail("--criterion is required".into()));
    let out = out.unwrap_or_else(|| fail("--out is required".into()));
    let all = criterion_results::collect(&crit).unwrap_or_else(|e| fail(e.to_string()));
    let mem: Vec<MemoryReport> = mems.iter().map(|p| read_file(p)).collect();
    let msgs: Vec<MessageCount> = read_json(transport.as_deref());
    let instructions: Vec<Count> = read_json(callgrind.as_deref());
    let mut plotted = None;
    if let Some(path) = &plot {
        let series = report::class_series(&all);
        if let Some(svg) = svg::throughput_plot(
            "kmalloc throughput per size class (32 allocs then 32 frees)",
            &series,
        ) {
            std::fs::write(path, svg).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
            plotted = Some(
                plot_link
                    .clone()
                    .unwrap_or_else(|| path.display().to_string()),
            );
        }
    }
    let program_runs: Vec<ProgramRun> = read_json(programs.as_deref());
    let mut programs_plotted = None;
    if let Some(path) = &programs_plot {
        let groups = memserver_bench::programs::time_ratios(&program_runs);
        if let Some(svg) = svg::ratio_bars(
            "wall time over glibc's, per program (lower is faster)",
            &groups,
        ) {
            std::fs::write(path, svg).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
            programs_plotted = Some(
                programs_plot_link
                    .clone()
                    .unwrap_or_else(|| path.display().to_string()),
            );
        }
    }
    let points: Vec<Point> = read_json(curves.as_deref());
    let mut curves_plots = Vec::new();
    if let Some(dir) = &curves_dir {
        for (file, title, ws) in [
            (
                "live-objects.svg",
                "cost per operation relative to 1k live objects",
                &[
                    Workload::LivePairs,
                    Workload::MimallocPairs,
                    Workload::LiveKmalloc,
                    Workload::MimallocKmalloc,
                ][..],
            ),
            (
                "caches.svg",
                "cost per operation relative to the fewest caches",
                &[Workload::CachesPairs, Workload::CachesKmalloc][..],
            ),
        ] {
            let groups = curves::growth_groups(&points, ws);
            if let Some(svg) = svg::growth_bars(title, &groups) {
                let path = dir.join(file);
                std::fs::write(&path, svg)
                    .unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
                let link = match &curves_link {
                    Some(prefix) => format!("{prefix}/{file}"),
                    None => path.display().to_string(),
                };
                curves_plots.push((title.to_string(), link));
            }
        }
    }
    let boot_cost: Vec<BootCost> = read_json(boot.as_deref());
    let mut boot_plot = None;
    if let Some(dir) = &curves_dir {
        let file = "boot-cost.svg";
        if let Some(svg) = svg::growth_bars(
            "boot cost relative to the smallest system",
            &memserver_bench::boot_cost::groups(&boot_cost),
        ) {
            let path = dir.join(file);
            std::fs::write(&path, svg).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
            boot_plot = Some(match &curves_link {
                Some(prefix) => format!("{prefix}/{file}"),
                None => path.display().to_string(),
            });
        }
    }
    let notes = notes.map(|p| {
        std::fs::read_to_string(&p).unwrap_or_else(|e| fail(format!("{}: {e}", p.display())))
    });
    let run = RunInfo {
        command,
        quick,
        date: utc_now(),
        machine: machine(),
        load: std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "unknown".into()),
        load_start,
        plot: plotted,
        instructions,
        priority,
        notes,
        programs: program_runs,
        programs_plot: programs_plotted,
        curves: points,
        curves_plots,
        boot_cost,
        boot_plot,
    };
    let md = report::markdown(&run, &all, &mem, &msgs);
    std::fs::write(&out, &md).unwrap_or_else(|e| fail(format!("{}: {e}", out.display())));
    for t in report::targets(&all, &mem, &msgs) {
        println!(
            "target {:<3} {:<10} {}  ({})",
            t.id,
            format!("{:?}", t.verdict),
            t.measured,
            t.what
        );
    }
}
