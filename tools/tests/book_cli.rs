//! `tickwatch book`: the CLI contract (flags, CSV formats, JSON, exit codes).
//!
//! - A hand-written ITCH stream, written both as a raw file and as a MoldUDP64 pcap, gives the hand-computed final
//!   books in both forms.
//! - On the third-party synthetic file, `--bbo-csv` is byte-identical to the independent C++ book's CSV, and
//!   `--levels-csv` is consistent with it (sorted, best levels equal the BBO).
//! - On the IEX DEEP capture the levels CSV leaves `orders` empty (L2 books).

use std::path::Path;
use std::process::Command;

use feed::encode::itch::{
    AddOrder, AddOrderMpid, Message, OrderCancel, OrderDelete, OrderExecuted, OrderReplace,
    StockDirectory,
};
use feed::encode::{MoldPacketizer, PcapWriter, RawItchWriter, UdpFraming};
use feed::itch::Alpha;

fn tickwatch(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwatch"))
        .args(args)
        .output()
        .expect("run tickwatch");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn dir(name: &str, loc: u16) -> Message {
    Message::StockDirectory(StockDirectory {
        stock_locate: loc,
        stock: Alpha::new(name.as_bytes()).unwrap(),
        market_category: b'Q',
        ..Default::default()
    })
}

fn add(loc: u16, r: u64, side: u8, shares: u32, price: u32, t: u64) -> Message {
    Message::AddOrder(AddOrder {
        stock_locate: loc,
        timestamp: t,
        order_ref: r,
        side,
        shares,
        price,
        ..Default::default()
    })
}

/// The scenario; expected books computed by hand in the test below.
fn scenario() -> Vec<Message> {
    vec![
        dir("AAA", 1),
        dir("BBB", 2),
        add(1, 1, b'B', 100, 100_000, 10),
        add(1, 2, b'B', 50, 100_000, 11),
        Message::AddOrderMpid(AddOrderMpid {
            stock_locate: 1,
            timestamp: 12,
            order_ref: 3,
            side: b'S',
            shares: 70,
            price: 100_500,
            attribution: Alpha::new(b"GSCO").unwrap(),
            ..Default::default()
        }),
        add(1, 4, b'S', 30, 101_000, 13),
        Message::OrderExecuted(OrderExecuted {
            stock_locate: 1,
            timestamp: 14,
            order_ref: 1,
            executed_shares: 40,
            match_number: 1,
            ..Default::default()
        }),
        Message::OrderCancel(OrderCancel {
            stock_locate: 1,
            timestamp: 15,
            order_ref: 4,
            cancelled_shares: 10,
            ..Default::default()
        }),
        Message::OrderReplace(OrderReplace {
            stock_locate: 1,
            timestamp: 16,
            original_order_ref: 2,
            new_order_ref: 5,
            shares: 60,
            price: 100_100,
            ..Default::default()
        }),
        Message::OrderDelete(OrderDelete {
            stock_locate: 1,
            timestamp: 17,
            order_ref: 3,
            ..Default::default()
        }),
        add(2, 6, b'S', 5, 10_000, 18),
        add(2, 7, b'B', 5, 10_100, 19),
        // Unknown reference: counted, nothing changes.
        Message::OrderExecuted(OrderExecuted {
            stock_locate: 2,
            timestamp: 20,
            order_ref: 99,
            executed_shares: 1,
            match_number: 2,
            ..Default::default()
        }),
    ]
}

const WANT_BBO: &str = "stock_locate,symbol,bid_price,bid_shares,ask_price,ask_shares\n\
1,AAA,10.0100,60,10.1000,20\n\
2,BBB,1.0100,5,1.0000,5\n";

const WANT_LEVELS: &str = "symbol,side,price,shares,orders\n\
AAA,B,10.0000,60,1\n\
AAA,B,10.0100,60,1\n\
AAA,S,10.1000,20,1\n\
BBB,B,1.0100,5,1\n\
BBB,S,1.0000,5,1\n";

fn write_raw(path: &Path) {
    let mut w = RawItchWriter::new(std::fs::File::create(path).unwrap());
    for m in scenario() {
        w.write(&m).unwrap();
    }
    w.into_inner().unwrap();
}

fn write_pcap(path: &Path) {
    let mut pcap =
        PcapWriter::new(std::fs::File::create(path).unwrap(), UdpFraming::default()).unwrap();
    let mut pk = MoldPacketizer::new(*b"TESTSESS01", 1, 200, 3);
    let mut datagrams: Vec<Vec<u8>> = Vec::new();
    let mut buf = [0u8; 64];
    for m in scenario() {
        let n = m.encode(&mut buf).unwrap();
        pk.push(&buf[..n], &mut |d: &[u8]| datagrams.push(d.to_vec()))
            .unwrap();
    }
    pk.flush(&mut |d: &[u8]| datagrams.push(d.to_vec()));
    // Send the second packet twice (a retransmission): it must be applied once.
    let dup = datagrams[1].clone();
    datagrams.insert(2, dup);
    for (i, d) in datagrams.iter().enumerate() {
        pcap.write_udp(1_000 + i as u64, d).unwrap();
    }
}

#[test]
fn hand_written_stream_raw_and_pcap_give_the_hand_computed_books() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("s.itch");
    let pcap = tmp.path().join("s.pcap");
    write_raw(&raw);
    write_pcap(&pcap);
    for cap in [&raw, &pcap] {
        let bbo = tmp.path().join("bbo.csv");
        let lv = tmp.path().join("levels.csv");
        let (code, out, err) = tickwatch(&[
            "book",
            cap.to_str().unwrap(),
            "--bbo-csv",
            bbo.to_str().unwrap(),
            "--levels-csv",
            lv.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            std::fs::read_to_string(&bbo).unwrap(),
            WANT_BBO,
            "{}",
            cap.display()
        );
        assert_eq!(
            std::fs::read_to_string(&lv).unwrap(),
            WANT_LEVELS,
            "{}",
            cap.display()
        );
        assert!(out.contains("AAA (book 1) L3"), "{out}");
        assert!(
            out.contains("BBB (book 2) L3 bid levels 1 ask levels 1 CROSSED"),
            "{out}"
        );
        assert!(
            out.contains("integrity: unknown_order 1 duplicate_add 0"),
            "{out}"
        );

        let (code, out, err) = tickwatch(&[
            "book",
            cap.to_str().unwrap(),
            "--json",
            "--symbol",
            "AAA",
            "--depth",
            "1",
            "--stats",
        ]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
        assert_eq!(v["feed"], "itch");
        assert_eq!(v["messages"], 13);
        assert_eq!(v["integrity"]["unknown_order"], 1);
        let books = v["books"].as_array().unwrap();
        assert_eq!(books.len(), 1);
        let b = &books[0];
        assert_eq!(b["symbol"], "AAA");
        assert_eq!(
            b["bids"],
            serde_json::json!([{"price": "10.0100", "price_raw": 100100, "shares": 60, "orders": 1}])
        );
        assert_eq!(
            b["asks"],
            serde_json::json!([{"price": "10.1000", "price_raw": 101000, "shares": 20, "orders": 1}])
        );
        assert_eq!(b["bid_levels"], 2);
        assert_eq!(b["crossed"], false);
        assert!(v["stats"]["ns_per_msg"].as_f64().unwrap() > 0.0);
        assert_eq!(v["stats"]["memory"]["live_orders"], 5);
    }
}

#[test]
fn exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("s.itch");
    write_raw(&raw);
    let (code, _, err) = tickwatch(&["book", raw.to_str().unwrap(), "--symbol", "ZZZZ"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("ZZZZ"), "{err}");
    let (code, _, err) = tickwatch(&["book", tmp.path().join("missing.pcap").to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    let junk = tmp.path().join("junk.bin");
    std::fs::write(&junk, b"not a capture at all, just words").unwrap();
    let (code, _, err) = tickwatch(&["book", junk.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn synthetic_bbo_csv_is_byte_identical_to_the_independent_book() {
    let (Some(file), Some(oracle)) = (
        feed::testdata::require("synthetic/itchbook-syn-1m-s11.itch.gz"),
        feed::testdata::require("synthetic/itchbook-syn-1m-s11.bbo.csv"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let bbo = tmp.path().join("bbo.csv");
    let lv = tmp.path().join("levels.csv");
    let (code, out, err) = tickwatch(&[
        "book",
        file.to_str().unwrap(),
        "--bbo-csv",
        bbo.to_str().unwrap(),
        "--levels-csv",
        lv.to_str().unwrap(),
        "--symbol",
        "SYM1",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("unknown_order 14881"), "{out}");
    let got = std::fs::read_to_string(&bbo).unwrap();
    let want = std::fs::read_to_string(&oracle).unwrap();
    assert!(got == want, "BBO CSV differs from {}", oracle.display());

    // Levels CSV: sorted by symbol, side, price; each book's best levels equal the BBO row.
    let text = std::fs::read_to_string(&lv).unwrap();
    let mut rows: Vec<(String, String, f64, u64, u32)> = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        rows.push((
            f[0].into(),
            f[1].into(),
            f[2].parse().unwrap(),
            f[3].parse().unwrap(),
            f[4].parse().unwrap(),
        ));
    }
    let mut sorted = rows.clone();
    sorted.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)).then(a.2.total_cmp(&b.2)));
    assert_eq!(
        rows, sorted,
        "levels CSV must be sorted by symbol, side, price"
    );
    for line in want.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let best = |side: &str, max: bool| {
            let it = rows.iter().filter(|r| r.0 == f[1] && r.1 == side);
            let r = if max {
                it.max_by(|a, b| a.2.total_cmp(&b.2))
            } else {
                it.min_by(|a, b| a.2.total_cmp(&b.2))
            };
            r.map(|r| (format!("{:.4}", r.2), r.3))
                .unwrap_or((String::new(), 0))
        };
        assert_eq!(
            best("B", true),
            (f[2].to_string(), f[3].parse().unwrap()),
            "{line}"
        );
        assert_eq!(
            best("S", false),
            (f[4].to_string(), f[5].parse().unwrap()),
            "{line}"
        );
    }
}

#[test]
fn iex_deep_levels_csv_has_no_order_counts() {
    let Some(file) = feed::testdata::require("iex/iex_cppparser-test.pcap.gz") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let lv = tmp.path().join("levels.csv");
    let (code, out, err) = tickwatch(&[
        "book",
        file.to_str().unwrap(),
        "--levels-csv",
        lv.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(" L2 "), "{out}");
    let text = std::fs::read_to_string(&lv).unwrap();
    let mut n = 0;
    for line in text.lines().skip(1) {
        assert!(
            line.ends_with(','),
            "L2 level rows leave orders empty: {line}"
        );
        n += 1;
    }
    assert_eq!(
        n, 838,
        "levels of the oracle-rebuilt DEEP book (book/tests/iex.rs)"
    );
}
