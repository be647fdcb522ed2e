//! `programs --preload SO --out JSON [--repeats N] [--quick]`: real programs and our malloc
//! workloads under glibc, memserver (`SO`, the `memserver-preload` library) and every peer
//! library Debian installed (see `memserver_bench::programs`); writes the runs as JSON. Run by
//! `cargo xtask bench`.
use std::path::PathBuf;

use memserver_bench::programs::{self, Allocator, PEERS};

fn fail(msg: String) -> ! {
    eprintln!("programs: {msg}");
    std::process::exit(1)
}

fn main() {
    let mut preload = None;
    let mut out = None;
    let mut repeats = 3;
    let mut quick = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--preload" => preload = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from),
            "--repeats" => {
                repeats = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| fail("--repeats N".into()))
            }
            "--quick" => quick = true,
            other => fail(format!("unknown argument `{other}`")),
        }
    }
    let (Some(preload), Some(out)) = (preload, out) else {
        fail("usage: programs --preload SO --out JSON [--repeats N] [--quick]".into())
    };
    if !preload.is_file() {
        fail(format!("{} is not built", preload.display()));
    }
    let mut allocs = vec![
        Allocator {
            name: "glibc",
            lib: None,
        },
        Allocator {
            name: "memserver",
            lib: Some(preload),
        },
    ];
    for (name, lib) in PEERS {
        if std::path::Path::new(lib).is_file() {
            allocs.push(Allocator {
                name,
                lib: Some(lib.into()),
            });
        } else {
            eprintln!("programs: {lib} is not installed: no {name} figures");
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("memserver-programs-{}", std::process::id()));
    let mut progs =
        programs::prepare(&dir, &root.join("workloads"), quick).unwrap_or_else(|e| fail(e));
    progs.retain(|p| {
        let found = programs::on_path(&p.argv[0]);
        if !found {
            eprintln!(
                "programs: `{}` is not installed: no {} figures",
                p.argv[0], p.name
            );
        }
        found
    });
    let runs = programs::run(&progs, &allocs, repeats, &dir).unwrap_or_else(|e| fail(e));
    std::fs::remove_dir_all(&dir).ok();
    let json = serde_json::to_string_pretty(&runs).expect("runs serialise");
    std::fs::write(&out, json).unwrap_or_else(|e| fail(format!("{}: {e}", out.display())));
}
