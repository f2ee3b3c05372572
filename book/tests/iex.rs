//! IEX golden tests: the books built from real IEX captures equal books rebuilt here from the independent oracle
//! CSV rows alone (tshark + Open-Markets-Initiative dissectors; ../shared/data/oracle/iex).
//!
//! - DEEP 1.0 (`iex_cppparser-test.pcap.gz` and the two OMI price level fixtures): the final L2 book of every
//!   symbol equals the book rebuilt from the oracle's price level update rows (`8` buy / `5` sell: symbol, size,
//!   price_raw; event flags in `fields_json`), applying staged updates when the event flag marks the end of a batch.
//! - TOPS 1.6 (`tops16.pcap.gz`): after every quote the symbol's book touch equals that oracle `Q` row (27,217
//!   quotes), and the final books equal the last quotes (all empty: the capture ends after the close).
//! - DEEP+ 1.0.2 single-message fixtures: an add then a delete of the same order, executions and a modify of orders
//!   the fixture never added (counted as unknown references).
//! - DEEP 1.0 sample `DEEP10.pcap.gz` (no per-message oracle): replays without panic, book invariants hold, and the
//!   message count equals MANIFEST.md's minus the truncated final packet.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use book::replay::{replay, FeedKind};
use book::{Books, Side, StoreConfig};
use feed::capture::Capture;

/// Splits one CSV line (RFC 4180 quoting).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Oracle rows as maps column → value.
fn oracle_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut text = String::new();
    let f = std::fs::File::open(path).expect("open oracle");
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(f)
            .read_to_string(&mut text)
            .expect("gunzip oracle");
    } else {
        std::io::BufReader::new(f)
            .read_to_string(&mut text)
            .expect("read oracle");
    }
    let mut lines = text.lines();
    let header = split_csv(lines.next().expect("header"));
    lines
        .filter(|l| !l.is_empty())
        .map(|l| header.iter().cloned().zip(split_csv(l)).collect())
        .collect()
}

fn replay_file(rel: &str, books: &mut Books) -> Option<book::replay::ReplaySummary> {
    let path = feed::testdata::require(rel)?;
    let cap = Capture::open(&path).expect("open capture");
    Some(replay(&cap, Default::default(), books, |_| {}))
}

type L2 = BTreeMap<(String, u8), BTreeMap<i64, u64>>;

fn our_levels(books: &Books) -> L2 {
    let mut out = L2::new();
    for i in books.book_indices() {
        let sym = books.symbol(i).as_str().to_owned();
        for (k, side) in [(b'B', Side::Buy), (b'S', Side::Sell)] {
            let lv: BTreeMap<i64, u64> = books.depth(i, side).map(|l| (l.price, l.qty)).collect();
            if !lv.is_empty() {
                out.insert((sym.clone(), k), lv);
            }
        }
    }
    out
}

/// Replays a DEEP 1.0 capture and compares its final L2 books with the books rebuilt from the oracle CSV rows alone.
/// Returns (updates, book sides, levels) compared, or None when the data is missing.
fn deep_equals_oracle(capture: &str, oracle: &str, messages: u64) -> Option<(usize, usize, usize)> {
    let oracle = feed::testdata::require(oracle)?;
    let mut books = Books::new(StoreConfig::small());
    let sum = replay_file(capture, &mut books)?;
    assert_eq!(sum.feed, FeedKind::Iex, "{capture}");
    assert_eq!(sum.messages, messages, "{capture}");

    // Rebuild from the oracle rows alone.
    let mut want = L2::new();
    let mut staged: HashMap<String, Vec<(u8, i64, u64)>> = HashMap::new();
    let mut updates = 0;
    for r in oracle_rows(&oracle) {
        let side = match r["msg_type"].as_str() {
            "8" => b'B',
            "5" => b'S',
            _ => continue,
        };
        updates += 1;
        let sym = r["symbol"].clone();
        let price: i64 = r["price_raw"].parse().unwrap();
        let size: u64 = r["shares"].parse().unwrap();
        let fields: serde_json::Value = serde_json::from_str(&r["fields_json"]).unwrap();
        let flags: u8 = fields["eventflags"].as_str().unwrap().parse().unwrap();
        staged
            .entry(sym.clone())
            .or_default()
            .push((side, price, size));
        if flags & 1 == 1 {
            for (s, p, q) in staged.remove(&sym).unwrap() {
                let lv = want.entry((sym.clone(), s)).or_default();
                if q == 0 {
                    lv.remove(&p);
                } else {
                    lv.insert(p, q);
                }
            }
        }
    }
    want.retain(|_, lv| !lv.is_empty());
    assert!(staged.values().all(|v| v.is_empty()), "{capture}");
    let got = our_levels(&books);
    assert!(!want.is_empty(), "{capture}");
    assert_eq!(got, want, "{capture}");
    assert_eq!(books.pending_updates(), 0, "{capture}");
    books.check_invariants().unwrap();
    let levels: usize = want.values().map(|l| l.len()).sum();
    eprintln!(
        "{capture}: {} book sides, {levels} levels equal the oracle rebuild ({updates} updates)",
        want.len()
    );
    Some((updates, want.len(), levels))
}

#[test]
fn deep_l2_books_equal_books_rebuilt_from_the_oracle() {
    // Every IEX DEEP 1.0 capture with a per-message oracle (DEEP10's is not published; see
    // deep10_sample_replays_cleanly).
    let Some((updates, _, _)) = deep_equals_oracle(
        "iex/iex_cppparser-test.pcap.gz",
        "oracle/iex/iex_cppparser-test.csv.gz",
        48_325,
    ) else {
        return;
    };
    assert_eq!(updates, 1526 + 1226);
    for (fixture, side) in [
        ("PriceLevelBuyUpdateMessage", "buy"),
        ("PriceLevelSellUpdateMessage", "sell"),
    ] {
        let got = deep_equals_oracle(
            &format!("iex/omi/iex-deep1.0-{fixture}.pcap"),
            &format!("oracle/iex/omi/iex-deep1.0-{fixture}.csv"),
            1,
        );
        assert_eq!(got, Some((1, 1, 1)), "{side} fixture");
    }
}

#[test]
fn tops_quote_books_equal_oracle_quotes() {
    let Some(oracle) = feed::testdata::require("oracle/iex/tops16.csv.gz") else {
        return;
    };
    let Some(path) = feed::testdata::require("iex/tops16.pcap.gz") else {
        return;
    };
    // After every quote, the touch of that symbol's book (as the event reports it, read back from the book's
    // levels) equals the oracle's `Q` row: (symbol, bid price, bid size, ask price, ask size), an empty side as
    // (0, 0). The capture ends after the close, when every quote is empty, so the final books are checked too.
    let mut books = Books::new(StoreConfig::small());
    let cap = Capture::open(&path).expect("open capture");
    let mut got = Vec::new();
    let sum = replay(&cap, Default::default(), &mut books, |e| {
        if e.kind == book::EventKind::Quote {
            got.push((
                e.symbol.as_str().to_owned(),
                e.bid_price,
                u64::from(e.bid_qty),
                e.ask_price,
                u64::from(e.ask_qty),
            ));
        }
    });
    assert_eq!(sum.messages, 57_674);
    let mut want = Vec::new();
    let mut last = L2::new();
    for r in oracle_rows(&oracle) {
        if r["msg_type"] != "Q" {
            continue;
        }
        let sym = r["symbol"].clone();
        let f: serde_json::Value = serde_json::from_str(&r["fields_json"]).unwrap();
        let num = |k: &str| -> i64 {
            f[k].as_str()
                .map_or_else(|| f[k].as_i64().unwrap(), |s| s.parse().unwrap())
        };
        let side = |px: &str, sz: &str| {
            if num(sz) == 0 {
                (0, 0)
            } else {
                (num(px), num(sz) as u64)
            }
        };
        let (bp, bq) = side("bidprice_raw", "bidsize");
        let (ap, aq) = side("askprice_raw", "asksize");
        want.push((sym.clone(), bp, bq, ap, aq));
        for (k, p, q) in [(b'B', bp, bq), (b'S', ap, aq)] {
            let lv = last.entry((sym.clone(), k)).or_default();
            lv.clear();
            if q != 0 {
                lv.insert(p, q);
            }
        }
    }
    assert_eq!(want.len(), 27_217);
    let nonempty = want.iter().filter(|q| q.2 != 0 || q.4 != 0).count();
    assert!(nonempty > 3_000, "only {nonempty} non-empty quotes");
    assert_eq!(got.len(), want.len());
    if let Some(i) = (0..want.len()).find(|&i| got[i] != want[i]) {
        panic!("quote {i}: book touch {:?}, oracle {:?}", got[i], want[i]);
    }
    last.retain(|_, lv| !lv.is_empty());
    assert_eq!(our_levels(&books), last);
    books.check_invariants().unwrap();
    eprintln!(
        "tops16: {} quotes ({nonempty} non-empty) equal the oracle",
        want.len()
    );
}

#[test]
fn deep_plus_fixtures_add_delete_and_unknown_orders() {
    let mut books = Books::new(StoreConfig::small());
    let Some(_) = replay_file("iex/omi/iex-deepplus1.0.2-a_AddOrder.pcap", &mut books) else {
        return;
    };
    // Oracle row: a, order 27866022694354954, side 5 (sell), 100 shares at 136.5 (1365000), IBKR.
    let ibkr = books.symbols().lookup_str("IBKR").expect("IBKR interned");
    let ask = books.bbo(ibkr).ask.expect("the added sell order");
    assert_eq!((ask.price, ask.qty, ask.orders), (1_365_000, 100, 1));
    let o = books.order(27_866_022_694_354_954).expect("order resting");
    assert_eq!((o.side, o.qty, o.price), (Side::Sell, 100, 1_365_000));
    let mut events = Vec::new();
    let cap = Capture::open(
        feed::testdata::require("iex/omi/iex-deepplus1.0.2-R_OrderDelete.pcap").unwrap(),
    )
    .unwrap();
    replay(&cap, Default::default(), &mut books, |e| events.push(*e));
    let del = events
        .iter()
        .find(|e| e.kind == book::EventKind::Delete)
        .expect("delete event");
    assert_eq!(
        (del.order_ref, del.qty, del.order_price, del.side),
        (27_866_022_694_354_954, 100, 1_365_000, Side::Sell)
    );
    assert_eq!(
        del.order_ts_ns, 1_727_787_282_503_661_342,
        "entry time of the add"
    );
    assert!(books.bbo(ibkr).ask.is_none());
    assert_eq!(books.integrity().unknown_order, 0);
    // Executions (3) and a modify (1) of orders these fixtures never added.
    replay_file("iex/omi/iex-deepplus1.0.2-L_OrderExecuted.pcap", &mut books).unwrap();
    replay_file("iex/omi/iex-deepplus1.0.2-M_OrderModify.pcap", &mut books).unwrap();
    assert_eq!(books.integrity().unknown_order, 4);
    books.check_invariants().unwrap();
}

#[test]
fn deep10_sample_replays_cleanly() {
    let mut books = Books::new(StoreConfig::small());
    let Some(sum) = replay_file("iex/DEEP10.pcap.gz", &mut books) else {
        return;
    };
    // MANIFEST.md: 392,011 messages in the file, 12 of them in the truncated final packet (never applied).
    assert_eq!(sum.feed, FeedKind::Iex);
    assert_eq!(sum.messages, 391_999);
    books.check_invariants().unwrap();
    assert!(books.book_indices().count() > 100);
    eprintln!(
        "DEEP10: {} messages, {} events, {} books, pending {}, integrity {:?}",
        sum.messages,
        sum.events,
        books.book_indices().count(),
        books.pending_updates(),
        books.integrity()
    );
}
