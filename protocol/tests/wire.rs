//! The wire contract: round trips, exact lengths, precise errors, no panic on arbitrary words.
use memserver_protocol::ops::*;
use memserver_protocol::slabinfo::{RowReader, RowWriter, END, HEADER};
use memserver_protocol::*;
use proptest::prelude::*;

#[test]
fn labels_and_errors_round_trip() {
    for l in Label::ALL {
        assert_eq!(Label::try_from(l.word()), Ok(l));
    }
    assert_eq!(Label::try_from(0), Err(Error::UnknownLabel));
    let unused = Label::ALL.iter().map(|l| l.word()).max().unwrap() + 1;
    assert_eq!(Label::try_from(unused), Err(Error::UnknownLabel));
    for (i, &e) in Error::ALL.iter().enumerate() {
        assert_eq!(Error::from_code(e.code()), Some(e));
        assert_eq!(e.code(), i as u64 + 1, "codes are dense and in order");
        let text = e.message().to_str().unwrap();
        assert!(
            !text.is_empty() && text == text.to_lowercase(),
            "{e:?}: {text:?}"
        );
        assert!(
            Error::ALL[..i].iter().all(|o| o.message() != e.message()),
            "{e:?} shares its message"
        );
    }
    assert_eq!(Error::from_code(0), None);
    let f = Failure::from_reply(999, &[1, 2]);
    assert_eq!(f, Failure::with(Error::Internal, [999, 0, 0]));
}

#[test]
fn the_table_declares_each_label_once_with_its_register_fit() {
    let mut words: Vec<u64> = Label::ALL.iter().map(|l| l.word()).collect();
    words.sort_unstable();
    words.dedup();
    assert_eq!(
        words.len(),
        Label::COUNT,
        "a label number is declared twice"
    );
    assert!(Label::Alloc.fits_registers() && Label::KfreeDrain.fits_registers());
    assert!(!Label::CacheCreate.fits_registers() && !Label::Slabinfo.fits_registers());
    assert!(Label::Free.may_answer(Error::DoubleFree));
    assert!(!Label::Stats.may_answer(Error::DoubleFree));
}

#[test]
fn hot_ops_fit_in_registers() {
    let mut words = [0u64; MSG_MAX_WORDS];
    let reqs = [
        Request::Alloc(AllocReq {
            handle: 1,
            flags: 0,
        }),
        Request::Free(FreeReq { handle: 1, addr: 8 }),
        Request::Refill(RefillReq {
            handle: 1,
            slot: 0,
            count: 32,
            flags: 0,
        }),
        Request::Drain(DrainReq {
            handle: 1,
            slot: 0,
            count: 32,
        }),
        Request::Kmalloc(KmallocReq { size: 8, flags: 0 }),
        Request::Kfree(KfreeReq { addr: 8 }),
        Request::KmallocRefill(KmallocRefillReq {
            size: 8,
            slot: 1,
            count: 2,
            flags: 1,
        }),
        Request::KfreeDrain(KfreeDrainReq { slot: 3, count: 64 }),
    ];
    for r in reqs {
        let (label, len) = r.encode(&mut words);
        assert!(len <= MSG_REGISTERS);
        assert_eq!(Request::decode(label, &words[..len]), Ok(r));
    }
}

#[test]
fn wrong_lengths_are_reported_with_expected_and_got() {
    let words = [1u64; 8];
    let e = Request::decode(Label::Alloc.word(), &words[..1]).unwrap_err();
    assert_eq!(e, Failure::with(Error::BadLength, [2, 1, 0]));
    let e = Request::decode(Label::Alloc.word(), &words[..3]).unwrap_err();
    assert_eq!(e, Failure::with(Error::BadLength, [2, 3, 0]));
    let e = Request::decode(Label::Detach.word(), &words[..1]).unwrap_err();
    assert_eq!(e.error, Error::BadLength);
}

#[test]
fn field_checks() {
    let dec = |r: Request| {
        let mut w = [0u64; MSG_MAX_WORDS];
        let (l, n) = r.encode(&mut w);
        Request::decode(l, &w[..n]).map(|_| ()).map_err(|f| f.error)
    };
    let refill = |slot, count, flags| {
        Request::Refill(RefillReq {
            handle: 1,
            slot,
            count,
            flags,
        })
    };
    assert_eq!(dec(refill(4, 1, 0)), Err(Error::BadSlot));
    assert_eq!(dec(refill(0, 0, 0)), Err(Error::BadBatch));
    assert_eq!(dec(refill(0, 65, 0)), Err(Error::BadBatch));
    assert_eq!(dec(refill(0, 64, 2)), Err(Error::UnknownFlag));
    assert!(dec(refill(3, 64, 1)).is_ok());
    // kmalloc(0) is ZERO_SIZE_PTR (the server's answer), a batch of zero-byte blocks refused.
    assert!(dec(Request::Kmalloc(KmallocReq { size: 0, flags: 0 })).is_ok());
    assert_eq!(
        dec(Request::KmallocRefill(KmallocRefillReq {
            size: 0,
            slot: 0,
            count: 1,
            flags: 0
        })),
        Err(Error::SizeZero)
    );
    assert_eq!(
        dec(Request::Kfree(KfreeReq { addr: 0 })),
        Err(Error::NullPointer)
    );
    let create = |size, align, flags, ctor, name| {
        Request::CacheCreate(
            CacheCreateReq {
                size,
                align,
                flags,
                ctor,
            },
            name,
        )
    };
    assert_eq!(dec(create(0, 8, 0, 0, "a")), Err(Error::SizeZero));
    assert_eq!(dec(create(8, 12, 0, 0, "a")), Err(Error::BadAlign));
    assert_eq!(dec(create(8, 8, 1 << 40, 0, "a")), Err(Error::UnknownFlag));
    assert_eq!(dec(create(8, 8, 0, 2, "a")), Err(Error::BadField));
    assert_eq!(dec(create(8, 8, 0, 0, "")), Err(Error::BadName));
    assert_eq!(dec(create(8, 8, 0, 0, "has space")), Err(Error::BadName));
    let long = "x".repeat(33);
    assert_eq!(dec(create(8, 8, 0, 0, &long)), Err(Error::BadName));
    assert!(dec(create(8, 8, 0, 1, "slab_test_cache")).is_ok());
}

#[test]
fn varlen_rejects_padding_and_trailing_bytes() {
    let mut w = [0u64; MSG_MAX_WORDS];
    let (l, n) = Request::CacheCreate(
        CacheCreateReq {
            size: 8,
            align: 8,
            flags: 0,
            ctor: 0,
        },
        "abc",
    )
    .encode(&mut w);
    assert!(Request::decode(l, &w[..n]).is_ok());
    let mut bad = w;
    bad[n - 1] |= 1 << 63;
    assert_eq!(
        Request::decode(l, &bad[..n]).unwrap_err().error,
        Error::BadPayload
    );
    assert_eq!(
        Request::decode(l, &w[..n + 1]).unwrap_err().error,
        Error::BadLength
    );
    let mut trailing = w;
    trailing[4] += 1; // one more byte than the postcard string covers
    assert_eq!(
        Request::decode(l, &trailing[..n]).unwrap_err().error,
        Error::BadPayload
    );
    let mut huge = w;
    huge[4] = u64::MAX;
    assert_eq!(
        Request::decode(l, &huge[..n]).unwrap_err().error,
        Error::BadPayload
    );
}

#[test]
fn slabinfo_rows_round_trip_with_cursor() {
    let names: Vec<String> = (0..40)
        .map(|i| format!("cache-{i:03}-with-long-name"))
        .collect();
    let rows: Vec<SlabinfoRow> = names
        .iter()
        .enumerate()
        .map(|(i, n)| SlabinfoRow {
            name: n,
            active_objs: i as u64 * 1000,
            num_objs: i as u64 * 1001,
            objsize: 64,
            objperslab: 64,
            pagesperslab: 1,
            limit: 120,
            batchcount: 60,
            sharedfactor: 8,
            active_slabs: 3,
            num_slabs: 4,
            sharedavail: 0,
        })
        .collect();
    let mut got = Vec::new();
    let mut cursor = 0usize;
    let mut messages = 0;
    while cursor != END as usize {
        let mut words = [0u64; MSG_MAX_WORDS];
        let mut w = RowWriter::new(&mut words);
        let mut i = cursor;
        while i < rows.len() && w.push(&rows[i]) {
            i += 1;
        }
        let next = if i == rows.len() { END } else { i as u64 };
        let len = w.finish(next);
        assert!(len <= MSG_MAX_WORDS);
        let mut r = RowReader::new(&words[..len]).unwrap();
        while let Some(row) = r.next_row() {
            got.push(row.unwrap().name.to_string());
        }
        cursor = r.next as usize;
        messages += 1;
    }
    assert!(messages > 1, "40 rows must need a continuation");
    assert_eq!(got, names);
    let mut text = String::from(HEADER);
    rows[1].write_line(&mut text).unwrap();
    assert!(text.ends_with(
        "cache-001-with-long-name   1000   1001     64   64    1 : tunables  120   60    8 : slabdata      3      4      0\n"
    ));
}

#[test]
fn magazine_page_layout() {
    let page = Box::new(MagazinePage::new());
    assert_eq!(core::mem::size_of::<MagazinePage>(), 4096);
    assert_eq!(&*page as *const _ as usize % 4096, 0);
    page.write_slot(3, &[1, 2, 3]).unwrap();
    let mut out = [0; 3];
    page.read_slot(3, &mut out).unwrap();
    assert_eq!(out, [1, 2, 3]);
    assert!(page.read_slot(4, &mut out).is_none());
    assert!(page.write_slot(0, &[0; MAX_BATCH + 1]).is_none());
    let in_place: Vec<u64> = page.slot(3).unwrap()[..3]
        .iter()
        .map(|w| w.load(core::sync::atomic::Ordering::Relaxed))
        .collect();
    assert_eq!(
        in_place,
        [1, 2, 3],
        "a slot read in place holds what was written"
    );
    assert!(page.slot(4).is_none());
    let f = FreshSlab {
        first: 4096,
        objects: 64,
    };
    page.write_fresh(FRESH_MAX - 1, f).unwrap();
    assert_eq!(page.read_fresh(FRESH_MAX - 1), Some(f));
    assert!(page.read_fresh(FRESH_MAX).is_none());
}

/// Cases per property: 4000 natively, a sample under Miri (which interprets each case thousands of
/// times slower). Miri runs isolated from the file system, so no failure file is read or written.
fn config() -> ProptestConfig {
    if cfg!(miri) {
        ProptestConfig {
            cases: 24,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    } else {
        ProptestConfig::with_cases(4000)
    }
}

proptest! {
    #![proptest_config(config())]
    #[test]
    fn arbitrary_words_never_panic(label in 0u64..20, words in proptest::collection::vec(any::<u64>(), 0..MSG_MAX_WORDS)) {
        if let Err(f) = Request::decode(label, &words) {
            // A refusal is one the operation's table entry declares.
            match Label::try_from(label) {
                Ok(l) => prop_assert!(l.may_answer(f.error), "{:?} refused with {:?}", l, f.error),
                Err(_) => prop_assert_eq!(f.error, Error::UnknownLabel),
            }
        }
    }

    #[test]
    fn decoded_requests_re_encode_identically(label in 0u64..(Label::COUNT as u64 + 2), words in proptest::collection::vec(0u64..80, 0..6)) {
        if let Ok(r) = Request::decode(label, &words) {
            let mut out = [0u64; MSG_MAX_WORDS];
            let (l, n) = r.encode(&mut out);
            prop_assert_eq!(l, label);
            prop_assert_eq!(&out[..n], &words[..]);
        }
    }
}
