//! Fuzzes the system description parser (TOML text to a checked description) and what xtask
//! derives from a description, and the `slab_debug` option parser on arbitrary text.
//!
//! Checks: nothing panics, whatever the text; every error names a reason and, for a value, its
//! field; a description that parses derives its QEMU arguments, kernel settings and image
//! configuration, the configuration is consistent, and its blob (with one stand-in image per
//! image source) decodes back to the same configuration and images; each client's debug text
//! parses again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memserver_system::slab_debug::SlabDebug;
use memserver_system::{decode, encode, parse_str};

/// `bytes` copied to a 16-byte aligned place in `buf`, as the root task embeds its blob.
fn aligned<'a>(buf: &'a mut Vec<u8>, bytes: &[u8]) -> &'a [u8] {
    buf.clear();
    buf.resize(bytes.len() + 16, 0);
    let at = buf.as_ptr().align_offset(16);
    buf[at..at + bytes.len()].copy_from_slice(bytes);
    &buf[at..at + bytes.len()]
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(debug) = SlabDebug::parse(text) {
        let _ = debug.flags_for("kmalloc-64");
        let _ = debug.flags_for(text);
    }
    let system = match parse_str(text, "fuzz.toml") {
        Ok(s) => s,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = system.qemu_args();
    let _ = system.kernel_settings().name();
    let config = system.image_config();
    let sources = system.image_sources();
    config
        .check(sources.len())
        .expect("a parsed description is consistent");
    for c in &config.clients {
        SlabDebug::parse(&c.debug).expect("a parsed description's debug text");
    }
    let images: Vec<Vec<u8>> = (0..sources.len())
        .map(|i| vec![i as u8; 1 + i * 7])
        .collect();
    let refs: Vec<&[u8]> = images.iter().map(Vec::as_slice).collect();
    let blob = encode(&config, &refs);
    let mut buf = Vec::new();
    let (back, table) = decode(aligned(&mut buf, &blob)).expect("an encoded blob decodes");
    assert_eq!(back, config);
    assert_eq!(table.len(), images.len());
    for (i, image) in images.iter().enumerate() {
        assert_eq!(table.get(i as u32), Some(image.as_slice()));
    }
});
