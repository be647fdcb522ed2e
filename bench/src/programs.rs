//! Real programs on the allocator: host programs nobody here wrote (Debian's `python3`, `gcc`,
//! `sort`, `sqlite3`) and workloads of our own in the style the field's malloc benchmarks use
//! (`bench/workloads/*.c`: larson-like churn, cross-thread producer/consumer, many small
//! objects), each run under every allocator by `LD_PRELOAD` (none for glibc) in the same run:
//! wall time and peak RSS (`wait4`'s `ru_maxrss`), medians of interleaved repeats. Each run's
//! standard output must equal glibc's (the program ran correctly on that allocator).
use std::hash::Hasher;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// An allocator under test: its name and the library to preload (`None`: glibc's own).
#[derive(Clone, Debug)]
pub struct Allocator {
    pub name: &'static str,
    pub lib: Option<PathBuf>,
}

/// Where Debian's packages put the peers (`libmimalloc2.0`, `libjemalloc2`,
/// `libtcmalloc-minimal4`).
pub const PEERS: [(&str, &str); 3] = [
    ("mimalloc", "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"),
    ("jemalloc", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"),
    (
        "tcmalloc",
        "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
    ),
];

/// One program: a name, what it does, and its command line.
#[derive(Clone, Debug)]
pub struct Program {
    pub name: &'static str,
    pub what: String,
    pub argv: Vec<String>,
}

/// Figures of one program under one allocator.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProgramRun {
    pub program: String,
    pub what: String,
    pub allocator: String,
    /// Seconds, one per repeat.
    pub wall_s: Vec<f64>,
    /// Peak resident set in KiB, one per repeat.
    pub max_rss_kib: Vec<u64>,
    /// Exited 0 with glibc's output every time.
    pub correct: bool,
    /// The runner's own peak RSS in KiB when it started the runs: a child's `ru_maxrss` may read
    /// that much whatever the child used, since Linux carries the parent's high-water mark (as
    /// last updated) into a process that is spawned (vfork) or forked and then execs.
    #[serde(default)]
    pub rss_floor_kib: u64,
}

/// The median of a non-empty list.
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

impl ProgramRun {
    pub fn wall(&self) -> f64 {
        median(&self.wall_s)
    }

    pub fn rss_kib(&self) -> f64 {
        median(
            &self
                .max_rss_kib
                .iter()
                .map(|&k| k as f64)
                .collect::<Vec<_>>(),
        )
    }
}

fn s(v: &str) -> String {
    v.to_owned()
}

/// The python3 workload: its own standard library (json, re, collections, heapq, textwrap).
const PYTHON: &str = "import json, re, collections, heapq, textwrap\n\
d = [{'id': i, 'name': 'item%d' % i, 'tags': [str(i % 7), str(i % 11)], 'w': i * 0.5} for i in range(300000)]\n\
s = json.dumps(d)\n\
back = json.loads(s)\n\
words = re.findall(r'item[0-9]+', s)\n\
c = collections.Counter(w[-2:] for w in words)\n\
top = heapq.nlargest(5, back, key=lambda e: (e['w'] % 97, e['id']))\n\
t = textwrap.fill(' '.join(words[:20000]), 60)\n\
print(len(s), len(back), c.most_common(3), [e['id'] for e in top], len(t))\n";

/// Writes the inputs into `dir` and compiles our own workloads (from `src`, the repository's
/// `bench/workloads`); returns the programs.
pub fn prepare(dir: &Path, src: &Path, quick: bool) -> Result<Vec<Program>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let scale = if quick { 1 } else { 3 };
    // sort: lines of pseudo-random words.
    // (Written as it is made: the runner's own peak RSS is the floor of every figure, see
    // `ProgramRun::rss_floor_kib`.)
    let sort_in = dir.join("sort-input.txt");
    let werr = |e: std::io::Error| format!("{}: {e}", sort_in.display());
    let mut text = std::io::BufWriter::new(std::fs::File::create(&sort_in).map_err(werr)?);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..300_000 * scale {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        writeln!(text, "{:x} {} {}", x >> 20, x % 1000, x >> 50).map_err(werr)?;
    }
    text.flush().map_err(werr)?;
    drop(text);
    // gcc: a large C file of many functions over structs and loops.
    let c_in = dir.join("large.c");
    let gcc_functions = if quick { 400 } else { 1000 };
    let mut c =
        String::from("#include <string.h>\nstruct s { int a[16]; double d; char n[32]; };\n");
    for i in 0..gcc_functions / 2 {
        c.push_str(&format!(
            "static int f{i}(struct s *p, int k) {{ int r = {i}; for (int j = 0; j < 16; j++) \
             {{ r += p->a[j] * (k ^ j) + {i} % (j + 1); if (r > 1000) r -= p->a[(j + k) & 15]; }} \
             if (k > 3) memcpy(p->n, \"f{i}\", sizeof \"f{i}\"); return r + (int)p->d; }}\n\
             int g{i}(struct s *p) {{ return f{i}(p, {}) + f{i}(p, {}); }}\n",
            i % 13,
            i % 5
        ));
    }
    std::fs::write(&c_in, c).map_err(|e| format!("{}: {e}", c_in.display()))?;
    let sql = format!(
        "create table t(a integer primary key, b text, c integer);\n\
         with recursive n(x) as (select 1 union all select x + 1 from n where x < {})\n\
         insert into t select x, printf('%08x-%d', (x * 2654435761) % 4294967296, x % 1000), x % 977 from n;\n\
         create index tb on t(b);\n\
         select count(*), sum(c), min(b), max(b) from t where b like '1%';\n\
         select c, count(*) from t group by c order by count(*) desc, c limit 3;\n",
        200_000 * scale
    );
    let mut progs = vec![
        Program {
            name: "python3",
            what: s("python3 running json, re, collections, heapq and textwrap over 300k records"),
            argv: vec![s("/usr/bin/python3"), s("-c"), s(PYTHON)],
        },
        Program {
            name: "gcc",
            what: format!(
                "gcc -O1 -c of a generated C file of {} functions",
                gcc_functions
            ),
            argv: vec![
                s("gcc"),
                s("-O1"),
                s("-c"),
                c_in.display().to_string(),
                s("-o"),
                dir.join("large.o").display().to_string(),
            ],
        },
        Program {
            name: "sort",
            what: format!("sort of {} lines", 300_000 * scale),
            argv: vec![s("sort"), sort_in.display().to_string()],
        },
        Program {
            name: "sqlite3",
            what: format!(
                "sqlite3 in memory: {} rows loaded, indexed, queried",
                200_000 * scale
            ),
            argv: vec![s("sqlite3"), s(":memory:"), sql],
        },
    ];
    for (name, args, what) in [
        (
            "larson",
            vec![s("4"), (20 * scale).to_string()],
            format!("larson-like churn: 4 threads, 2000 blocks each, 16..1024 B, {} rounds of 20000 steps, tables passed between threads", 20 * scale),
        ),
        (
            "prodcons",
            vec![s("2"), (1_000_000 * scale).to_string()],
            format!("producer/consumer: 2 pairs of threads, {} 64-byte messages per pair, each freed by the other thread", 1_000_000 * scale),
        ),
        (
            "small",
            vec![(1_000_000 * scale).to_string(), s("2")],
            format!("many small objects: a tree of {} nodes of 24..69 bytes, built, walked and freed twice", 1_000_000 * scale),
        ),
    ] {
        let exe = dir.join(name);
        let st = Command::new("gcc")
            .args(["-O2", "-pthread", "-o"])
            .arg(&exe)
            .arg(src.join(format!("{name}.c")))
            .status()
            .map_err(|e| format!("gcc: {e}"))?;
        if !st.success() {
            return Err(format!("gcc failed on {name}.c"));
        }
        let mut argv = vec![exe.display().to_string()];
        argv.extend(args);
        progs.push(Program { name, what, argv });
    }
    Ok(progs)
}

/// Whether `cmd` names a file that exists, directly or in a directory of `PATH`.
pub fn on_path(cmd: &str) -> bool {
    if cmd.contains('/') {
        return Path::new(cmd).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(cmd).is_file()))
}

/// A digest of a file's bytes (its length and a SipHash of them), read in chunks so that a large
/// output does not raise the runner's own peak RSS.
fn digest(path: &Path) -> Result<(u64, u64), String> {
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut f = std::fs::File::open(path).map_err(err)?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(err)?;
        if n == 0 {
            return Ok((len, h.finish()));
        }
        h.write(&buf[..n]);
        len += n as u64;
    }
}

/// The runner's own peak RSS in KiB.
fn own_peak_kib() -> u64 {
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out-pointer for our own usage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0;
    }
    ru.ru_maxrss as u64
}

/// Runs `p` once under `a`: wall seconds, peak RSS in KiB, exit status and a digest of the
/// standard output.
fn run_once(
    p: &Program,
    a: &Allocator,
    dir: &Path,
) -> Result<(f64, u64, bool, (u64, u64)), String> {
    let out_path = dir.join(format!("{}-{}.out", p.name, a.name));
    let out =
        std::fs::File::create(&out_path).map_err(|e| format!("{}: {e}", out_path.display()))?;
    let mut cmd = Command::new(&p.argv[0]);
    cmd.args(&p.argv[1..])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .env("LC_ALL", "C");
    match &a.lib {
        Some(lib) => cmd.env("LD_PRELOAD", lib),
        None => cmd.env_remove("LD_PRELOAD"),
    };
    let t0 = Instant::now();
    let child = cmd.spawn().map_err(|e| format!("{}: {e}", p.argv[0]))?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, with valid out-pointers.
    let r = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    let wall = t0.elapsed().as_secs_f64();
    if r < 0 {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()));
    }
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let text = digest(&out_path)?;
    std::fs::remove_file(&out_path).ok();
    Ok((wall, ru.ru_maxrss as u64, ok, text))
}

/// Every program under every allocator, `repeats` times, interleaved (each repeat runs every
/// allocator once, so the machine's load falls on all of them alike).
pub fn run(
    progs: &[Program],
    allocs: &[Allocator],
    repeats: usize,
    dir: &Path,
) -> Result<Vec<ProgramRun>, String> {
    let mut out = Vec::new();
    for p in progs {
        let mut runs: Vec<ProgramRun> = allocs
            .iter()
            .map(|a| ProgramRun {
                program: p.name.to_owned(),
                what: p.what.clone(),
                allocator: a.name.to_owned(),
                wall_s: Vec::new(),
                max_rss_kib: Vec::new(),
                correct: true,
                rss_floor_kib: own_peak_kib(),
            })
            .collect();
        let mut reference: Option<(u64, u64)> = None;
        for _ in 0..repeats {
            for (a, r) in allocs.iter().zip(runs.iter_mut()) {
                let (wall, rss, ok, text) = run_once(p, a, dir)?;
                let same = match &reference {
                    Some(t) => *t == text,
                    None => {
                        reference = Some(text);
                        true
                    }
                };
                r.correct &= ok && same;
                r.wall_s.push(wall);
                r.max_rss_kib.push(rss);
                eprintln!(
                    "programs: {} under {}: {wall:.3} s, {rss} KiB{}",
                    p.name,
                    a.name,
                    if ok && same {
                        ""
                    } else {
                        ", WRONG OUTPUT OR EXIT"
                    }
                );
            }
        }
        out.extend(runs);
    }
    Ok(out)
}

/// The allocators of `runs`, glibc and memserver first, in run order.
fn allocators(runs: &[ProgramRun]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in runs {
        if !out.contains(&r.allocator) {
            out.push(r.allocator.clone());
        }
    }
    out
}

fn find<'a>(runs: &'a [ProgramRun], program: &str, allocator: &str) -> Option<&'a ProgramRun> {
    runs.iter()
        .find(|r| r.program == program && r.allocator == allocator)
}

/// Programs of `runs` in run order.
pub fn program_names(runs: &[ProgramRun]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in runs {
        if !out.contains(&r.program) {
            out.push(r.program.clone());
        }
    }
    out
}

/// For the plot: per program, each allocator's median time over glibc's.
pub fn time_ratios(runs: &[ProgramRun]) -> Vec<(String, Vec<(String, f64)>)> {
    let allocs = allocators(runs);
    program_names(runs)
        .into_iter()
        .map(|p| {
            let base = find(runs, &p, "glibc").map_or(f64::NAN, ProgramRun::wall);
            let bars = allocs
                .iter()
                .map(|a| {
                    let v = find(runs, &p, a).map_or(f64::NAN, |r| r.wall() / base);
                    (a.clone(), v)
                })
                .collect();
            (p, bars)
        })
        .collect()
}

/// The markdown section: what ran, times and peak RSS per allocator, memserver's ratios, and
/// how many programs met each goal.
pub fn markdown(runs: &[ProgramRun], plot: Option<&str>) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let allocs = allocators(runs);
    let progs = program_names(runs);
    let repeats = runs.first().map_or(0, |r| r.wall_s.len());
    let _ = writeln!(s, "## Real programs on the allocator (LD_PRELOAD)\n");
    let _ = writeln!(
        s,
        "`target/release/programs --preload target/release/libmemserver_preload.so --out \
         programs.json`: each program under glibc (no preload), memserver \
         (`libmemserver_preload.so`, built from the same core) and the Debian peers installed, \
         {repeats} interleaved repeats, medians; peak RSS from `wait4`. \"correct\": exit 0 and \
         the same standard output as under glibc, every repeat. Goal: every program correct, \
         at or below glibc's time, within 1.2× of mimalloc's, peak RSS at most 1.1× glibc's.\n"
    );
    let floor = runs.iter().map(|r| r.rss_floor_kib).max().unwrap_or(0);
    if floor > 0 {
        let _ = writeln!(
            s,
            "A peak RSS may read as much as the runner's own peak when it started the program \
             ({:.1} MiB here: Linux carries the parent's high-water mark, as last updated, into \
             a child that execs), so a figure at most 2% above it is marked ≤ and says only that \
             the program stayed below that.\n",
            floor as f64 / 1024.0
        );
    }
    for p in &progs {
        if let Some(r) = runs.iter().find(|r| &r.program == p) {
            let _ = writeln!(s, "- **{p}**: {}", r.what);
        }
    }
    let _ = writeln!(s);
    let head: Vec<String> = allocs.iter().map(|a| format!("{a} s")).collect();
    let _ = writeln!(
        s,
        "| program | {} | memserver ÷ glibc | memserver ÷ mimalloc | correct |",
        head.join(" | ")
    );
    let _ = writeln!(s, "|---|{}---|---|---|", "---|".repeat(allocs.len()));
    let (mut fast, mut near, mut small, mut ok, mut n) = (0, 0, 0, 0, 0);
    for p in &progs {
        let cells: Vec<String> = allocs
            .iter()
            .map(|a| find(runs, p, a).map_or("–".into(), |r| format!("{:.3}", r.wall())))
            .collect();
        let ms = find(runs, p, "memserver");
        let ratio = |peer: &str, rss: bool| -> Option<f64> {
            let m = ms?;
            let o = find(runs, p, peer)?;
            Some(if rss {
                m.rss_kib() / o.rss_kib()
            } else {
                m.wall() / o.wall()
            })
        };
        let g = ratio("glibc", false);
        let mi = ratio("mimalloc", false);
        let rss = ratio("glibc", true);
        let correct = runs.iter().filter(|r| &r.program == p).all(|r| r.correct);
        n += 1;
        fast += usize::from(g.is_some_and(|v| v <= 1.0));
        near += usize::from(mi.is_some_and(|v| v <= 1.2));
        small += usize::from(rss.is_some_and(|v| v <= 1.1));
        ok += usize::from(ms.is_some_and(|m| m.correct));
        let f = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.2}×"));
        let _ = writeln!(
            s,
            "| {p} | {} | {} | {} | {} |",
            cells.join(" | "),
            f(g),
            f(mi),
            if correct { "yes" } else { "**no**" }
        );
    }
    let _ = writeln!(s);
    let head: Vec<String> = allocs.iter().map(|a| format!("{a} MiB")).collect();
    let _ = writeln!(s, "| program | {} | memserver ÷ glibc |", head.join(" | "));
    let _ = writeln!(s, "|---|{}---|", "---|".repeat(allocs.len()));
    for p in &progs {
        let cells: Vec<String> = allocs
            .iter()
            .map(|a| {
                find(runs, p, a).map_or("–".into(), |r| {
                    let at_floor = r.rss_kib() <= r.rss_floor_kib as f64 * 1.02;
                    format!(
                        "{}{:.1}",
                        if at_floor { "≤ " } else { "" },
                        r.rss_kib() / 1024.0
                    )
                })
            })
            .collect();
        let rss = match (find(runs, p, "memserver"), find(runs, p, "glibc")) {
            (Some(m), Some(g)) => format!("{:.2}×", m.rss_kib() / g.rss_kib()),
            _ => "–".into(),
        };
        let _ = writeln!(s, "| {p} | {} | {rss} |", cells.join(" | "));
    }
    let _ = writeln!(
        s,
        "\nmemserver: correct on {ok} of {n} programs; at or below glibc's time on {fast}; within \
         1.2× of mimalloc's on {near}; peak RSS within 1.1× of glibc's on {small}.\n"
    );
    if let Some(p) = plot {
        let _ = writeln!(s, "![time over glibc's per program]({p})\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(p: &str, a: &str, wall: f64, rss: u64) -> ProgramRun {
        ProgramRun {
            program: p.into(),
            what: format!("{p} workload"),
            allocator: a.into(),
            wall_s: vec![wall, wall * 3.0, wall],
            max_rss_kib: vec![rss, rss, rss * 2],
            correct: true,
            rss_floor_kib: 1010,
        }
    }

    #[test]
    fn the_section_shows_medians_ratios_and_goals() {
        let runs = vec![
            run("sort", "glibc", 2.0, 1024),
            run("sort", "memserver", 1.0, 2048),
            run("sort", "mimalloc", 1.0, 1024),
        ];
        let md = markdown(&runs, Some("x.svg"));
        assert!(
            md.contains("| sort | 2.000 | 1.000 | 1.000 | 0.50× | 1.00× | yes |"),
            "{md}"
        );
        assert!(
            md.contains("| sort | ≤ 1.0 | 2.0 | ≤ 1.0 | 2.00× |"),
            "{md}"
        );
        assert!(md.contains("(1.0 MiB here"), "{md}");
        assert!(md.contains("correct on 1 of 1 programs; at or below glibc's time on 1; within 1.2× of mimalloc's on 1; peak RSS within 1.1× of glibc's on 0"));
        let r = time_ratios(&runs);
        assert_eq!(r[0].1[1], ("memserver".to_string(), 0.5));
        assert!(crate::svg::ratio_bars("t", &r).is_some());
    }
}
