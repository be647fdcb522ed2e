//! Fuzzes the wire's decoders of untrusted words: a request (its label, its exact length, its
//! stateless checks, and a cache name's variable-length postcard frame), a failed reply, and a
//! Slabinfo reply body (a frame of postcard-encoded rows). The first input byte picks the decoder;
//! the rest are the message words, little-endian.
//!
//! Checks: nothing panics; a decoded request encodes back to exactly the words it came from (so
//! every request has one encoding, and a name's frame is canonical: exact length, zero padding,
//! no trailing bytes); a failed reply names its error and detail words, or `Internal` for an
//! unknown code; every decoded slabinfo row is written and read back unchanged, and prints as a
//! `/proc/slabinfo` line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memserver_protocol::slabinfo::{RowReader, RowWriter};
use memserver_protocol::{Error, Failure, Request, SlabinfoRow, MSG_MAX_WORDS};

fn words_of(bytes: &[u8]) -> ([u64; MSG_MAX_WORDS], usize) {
    let mut words = [0u64; MSG_MAX_WORDS];
    let n = bytes.len().div_ceil(8).min(MSG_MAX_WORDS);
    for (w, chunk) in words.iter_mut().zip(bytes.chunks(8)) {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        *w = u64::from_le_bytes(b);
    }
    (words, n)
}

fn request(label: u64, words: &[u64]) {
    let Ok(req) = Request::decode(label, words) else {
        return;
    };
    let mut again = [0u64; MSG_MAX_WORDS];
    let (l, n) = req.encode(&mut again);
    assert_eq!(l, label, "{req:?} encodes under another label");
    assert_eq!(&again[..n], words, "{req:?} has another encoding");
    assert_eq!(Request::decode(l, &again[..n]), Ok(req));
}

fn slabinfo(body: &[u64]) {
    let Ok(mut reader) = RowReader::new(body) else {
        return;
    };
    let mut rows: Vec<SlabinfoRow<'_>> = Vec::new();
    while let Some(row) = reader.next_row() {
        match row {
            Ok(row) => rows.push(row),
            Err(f) => {
                assert_eq!(f.error, Error::BadPayload);
                return;
            }
        }
    }
    let mut text = String::new();
    let mut words = [0u64; MSG_MAX_WORDS];
    let mut writer = RowWriter::new(&mut words);
    for row in &rows {
        assert!(writer.push(row), "a row that was read fits again");
        text.clear();
        row.write_line(&mut text).unwrap();
        assert!(text.ends_with('\n'));
    }
    let n = writer.finish(reader.next);
    let mut back = RowReader::new(&words[..n]).expect("a written body reads back");
    assert_eq!(back.next, reader.next);
    for row in &rows {
        assert_eq!(back.next_row(), Some(Ok(*row)));
    }
    assert_eq!(back.next_row(), None);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (words, n) = words_of(rest);
    match mode % 3 {
        0 => {
            // The label is a small number most of the time (every label and some unknown ones).
            let (label, body) = match words[..n].split_first() {
                Some((&l, body)) if mode & 0x80 != 0 => (l, body),
                _ => ((mode >> 2) as u64 % 24, &words[..n]),
            };
            request(label, body);
        }
        1 => {
            let code = (mode >> 2) as u64;
            let f = Failure::from_reply(code, &words[..n]);
            match Error::from_code(code) {
                Some(e) => {
                    let mut detail = [0; 3];
                    let k = n.min(3);
                    detail[..k].copy_from_slice(&words[..k]);
                    assert_eq!(f, Failure::with(e, detail));
                }
                None => assert_eq!(f, Failure::with(Error::Internal, [code, 0, 0])),
            }
        }
        _ => slabinfo(&words[..n]),
    }
});
