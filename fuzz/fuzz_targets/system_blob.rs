//! Fuzzes the reader of the blob the root task embeds (header, image table, postcard-encoded
//! configuration, images) and the check of a client ELF image.
//!
//! An input starting with the blob's magic is the blob; any other input is a list of edits
//! (`offset: u16`, `count: u8`, then `count` bytes) applied to the blob of the seed description
//! `seeds/system/two-nodes.toml`, an edit with its count's top bit set also cutting the blob
//! there: most inputs are then near-valid blobs, which reach past the header.
//!
//! Checks: nothing panics; a blob that decodes has a consistent configuration and images inside
//! it, and written again from what was decoded it decodes to the same configuration and images.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memserver_system::blob::MAGIC;
use memserver_system::derive::check_client_elf;
use memserver_system::{decode, encode, parse_str};
use std::sync::OnceLock;

/// The seed description's blob, with one stand-in image per image source.
fn base() -> &'static [u8] {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(|| {
        let text = include_str!("../seeds/system/two-nodes.toml");
        let system = parse_str(text, "two-nodes.toml").expect("the seed description parses");
        let images: Vec<Vec<u8>> = (0..system.image_sources().len())
            .map(|i| vec![0x7f ^ i as u8; 40 + i])
            .collect();
        let refs: Vec<&[u8]> = images.iter().map(Vec::as_slice).collect();
        encode(&system.image_config(), &refs)
    })
}

/// The blob an input stands for.
fn blob_of(data: &[u8]) -> Vec<u8> {
    if data.starts_with(&MAGIC) {
        return data.to_vec();
    }
    let mut blob = base().to_vec();
    let mut rest = data;
    while let [lo, hi, count, tail @ ..] = rest {
        let at = u16::from_le_bytes([*lo, *hi]) as usize % (blob.len() + 1);
        let n = (*count & 0x7f) as usize;
        let (bytes, next) = tail.split_at(n.min(tail.len()));
        let end = (at + bytes.len()).min(blob.len());
        blob[at..end].copy_from_slice(&bytes[..end - at]);
        if *count & 0x80 != 0 {
            blob.truncate(end);
        }
        rest = next;
    }
    blob
}

/// `bytes` copied to a 16-byte aligned place in `buf`, as the root task embeds its blob.
fn aligned<'a>(buf: &'a mut Vec<u8>, bytes: &[u8]) -> &'a [u8] {
    buf.clear();
    buf.resize(bytes.len() + 16, 0);
    let at = buf.as_ptr().align_offset(16);
    buf[at..at + bytes.len()].copy_from_slice(bytes);
    &buf[at..at + bytes.len()]
}

fuzz_target!(|data: &[u8]| {
    let _ = check_client_elf(data);
    let data = blob_of(data);
    let mut buf = Vec::new();
    let Ok((config, table)) = decode(aligned(&mut buf, &data)) else {
        return;
    };
    config
        .check(table.len())
        .expect("a decoded configuration is consistent");
    let images: Vec<&[u8]> = (0..table.len() as u32)
        .map(|i| table.get(i).expect("every image of the table"))
        .collect();
    let blob = encode(&config, &images);
    let mut buf2 = Vec::new();
    let (back, table2) = decode(aligned(&mut buf2, &blob)).expect("a written blob decodes");
    assert_eq!(back, config);
    assert_eq!(table2.len(), images.len());
    for (i, image) in images.iter().enumerate() {
        assert_eq!(table2.get(i as u32), Some(*image));
    }
});
