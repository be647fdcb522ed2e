//! `transport_messages --out JSON`: messages per object through the in-process transport with
//! magazines off and of 1, 8 and 32 objects (see `memserver_bench::transport`).
use memserver_bench::transport;

fn main() {
    let mut args = std::env::args().skip(1);
    let out = match (args.next().as_deref(), args.next()) {
        (Some("--out"), Some(p)) => p,
        _ => {
            eprintln!("usage: transport_messages --out JSON");
            std::process::exit(2)
        }
    };
    let mut counts = Vec::new();
    for batch in [0, 1, 8, 32] {
        match transport::count(batch) {
            Ok(c) => {
                println!(
                    "magazines of {batch}: {} messages for {} objects = {:.4} per object",
                    c.messages,
                    c.objects,
                    c.per_object()
                );
                counts.push(c);
            }
            Err(e) => {
                eprintln!("transport_messages: batch {batch}: {e}");
                std::process::exit(1)
            }
        }
    }
    let json = serde_json::to_string_pretty(&counts).expect("counts serialise");
    if let Err(e) = std::fs::write(&out, json) {
        eprintln!("transport_messages: {out}: {e}");
        std::process::exit(1)
    }
}
