//! Host programs under `LD_PRELOAD` of this crate's library: a C program exercising the whole
//! ABI (sizes, alignment, calloc, realloc, aligned allocation, threads freeing each other's
//! objects, fork while another thread allocates), and python3 running a workload of its own
//! standard library, whose output must equal the output without the library.
use std::path::PathBuf;
use std::process::Command;

/// The library cargo built with this test (`target/<profile>/deps/libmemserver_preload.so`).
fn library() -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let so = exe.with_file_name("libmemserver_preload.so");
    assert!(so.is_file(), "{} not built", so.display());
    so
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("memserver-preload-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_c_program_gets_what_the_c_abi_promises() {
    let dir = scratch("abi");
    let exe = dir.join("abi");
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/abi.c");
    let st = Command::new("gcc")
        .args(["-O1", "-pthread", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .expect("gcc");
    assert!(st.success());
    let out = Command::new(&exe)
        .env("LD_PRELOAD", library())
        .output()
        .expect("run");
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"ok\n");
}

#[test]
fn python_runs_its_standard_library_on_the_allocator() {
    let script = "import json, re, collections, hashlib\n\
        d = [{'k': i, 'v': str(i) * (i % 17)} for i in range(60000)]\n\
        s = json.dumps(d)\n\
        c = collections.Counter(re.findall(r'[0-9]{3}', s))\n\
        print(len(s), len(json.loads(s)), c.most_common(3), hashlib.sha256(s.encode()).hexdigest())\n";
    let run = |preload: bool| {
        let mut c = Command::new("python3");
        c.args(["-c", script]);
        if preload {
            c.env("LD_PRELOAD", library());
        }
        let out = c.output().expect("python3");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    assert_eq!(run(true), run(false));
}
