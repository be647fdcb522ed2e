//! `callgrind_counts --out JSON [N]`: instructions per operation of the fast paths, from
//! `profile_pair` (built next to this binary) under callgrind (see `memserver_bench::callgrind`).
use memserver_bench::callgrind;

fn main() {
    let mut args = std::env::args().skip(1);
    let out = match (args.next().as_deref(), args.next()) {
        (Some("--out"), Some(p)) => p,
        _ => {
            eprintln!("usage: callgrind_counts --out JSON [N]");
            std::process::exit(2)
        }
    };
    let n = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let exe = std::env::current_exe().expect("own path");
    let profile = exe.with_file_name("profile_pair");
    match callgrind::measure(&profile, n) {
        Ok(counts) => {
            for c in &counts {
                println!(
                    "{}: {:.1} instructions per operation",
                    c.function,
                    c.per_op()
                );
            }
            let json = serde_json::to_string_pretty(&counts).expect("counts serialise");
            if let Err(e) = std::fs::write(&out, json) {
                eprintln!("callgrind_counts: {out}: {e}");
                std::process::exit(1)
            }
        }
        Err(e) => {
            eprintln!("callgrind_counts: {e}");
            std::process::exit(1)
        }
    }
}
