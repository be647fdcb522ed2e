//! `curves --out JSON`: every point of the cost curves (see `memserver_bench::curves`), from
//! `profile_curve` (built next to this binary) under callgrind and natively timed. Run by
//! `cargo xtask bench` when valgrind is installed.
use memserver_bench::curves;

fn main() {
    let mut args = std::env::args().skip(1);
    let out = match (args.next().as_deref(), args.next()) {
        (Some("--out"), Some(p)) => p,
        _ => {
            eprintln!("usage: curves --out JSON");
            std::process::exit(2)
        }
    };
    let profile = std::env::current_exe()
        .expect("own path")
        .with_file_name("profile_curve");
    let points = curves::measure(&profile, |p| {
        println!(
            "{} {}: {:.1} instructions, {:.2} LL misses, {} ns per operation",
            p.workload.name(),
            p.size,
            p.per_op(),
            p.misses_per_op(),
            p.ns_per_op.map_or("–".into(), |t| format!("{t:.1}"))
        )
    });
    match points {
        Ok(points) => {
            let json = serde_json::to_string_pretty(&points).expect("points serialise");
            if let Err(e) = std::fs::write(&out, json) {
                eprintln!("curves: {out}: {e}");
                std::process::exit(1)
            }
        }
        Err(e) => {
            eprintln!("curves: {e}");
            std::process::exit(1)
        }
    }
}
