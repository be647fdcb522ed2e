//! `slabinfo-replay --input FILE --label TEXT --out JSON`: the memory targets (issue 6, target 6)
//! replayed from a `/proc/slabinfo` text; writes a `memory::MemoryReport` as JSON. The process's
//! global allocator counts live heap bytes, which is how the allocator's out-of-line metadata is
//! measured.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use memserver_bench::{memory, slabinfo_text};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`, which upholds the `GlobalAlloc`
// contract; the counter is only arithmetic on the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            LIVE.fetch_add(l.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            LIVE.fetch_add(l.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: `p` was allocated by `System` with `l` (we forward every allocation).
        unsafe { System.dealloc(p, l) }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's arguments.
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            LIVE.fetch_sub(l.size(), Ordering::Relaxed);
            LIVE.fetch_add(new, Ordering::Relaxed);
        }
        q
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn usage() -> ! {
    eprintln!("usage: slabinfo-replay --input FILE --label TEXT --out JSON");
    std::process::exit(2)
}

fn main() {
    let mut input = None;
    let mut label = None;
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--input" => input = Some(PathBuf::from(v)),
            "--label" => label = Some(v),
            "--out" => out = Some(PathBuf::from(v)),
            _ => usage(),
        }
    }
    let (Some(input), Some(out)) = (input, out) else {
        usage()
    };
    let label = label.unwrap_or_else(|| input.display().to_string());
    let rows = match slabinfo_text::read(&input) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("slabinfo-replay: {}: {e}", input.display());
            std::process::exit(1);
        }
    };
    let report = match memory::replay(&label, &input.display().to_string(), &rows, &|| {
        LIVE.load(Ordering::Relaxed)
    }) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("slabinfo-replay: {e}");
            std::process::exit(1);
        }
    };
    let json = serde_json::to_string_pretty(&report).expect("report serialises");
    if let Err(e) = std::fs::write(&out, json) {
        eprintln!("slabinfo-replay: {}: {e}", out.display());
        std::process::exit(1);
    }
    println!(
        "{label}: {} rows, {} at most Linux's bytes/object, total {:.4}x; churn {:.3}x ideal; {:.1} metadata bytes/object",
        report.rows.len(),
        report.rows_at_most_linux(),
        report.total_ratio(),
        report.churn_ratio(),
        report.metadata_per_object()
    );
}
