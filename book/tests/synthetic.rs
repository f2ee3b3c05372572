//! Differential test: final BBO of every stock locate after replaying the third-party synthetic ITCH file equals
//! the BBO printed by an independent C++ L3 book (groovg/itch-book) for the same file.

use book::replay::{replay, FeedKind};
use book::{Books, FmtPrice, StoreConfig};
use feed::capture::Capture;

const FILE: &str = "synthetic/itchbook-syn-1m-s11.itch.gz";
const ORACLE: &str = "synthetic/itchbook-syn-1m-s11.bbo.csv";

fn side(p: Option<book::LevelInfo>) -> (String, u64) {
    match p {
        Some(l) => (FmtPrice(l.price).to_string(), l.qty),
        None => (String::new(), 0),
    }
}

#[test]
fn final_bbo_equals_independent_book_for_every_symbol() {
    let (Some(file), Some(oracle)) = (
        feed::testdata::require(FILE),
        feed::testdata::require(ORACLE),
    ) else {
        return;
    };
    let cap = Capture::open(&file).expect("open synthetic capture");
    let mut books = Books::new(StoreConfig::default());
    let mut events = 0u64;
    let sum = replay(&cap, Default::default(), &mut books, |_| events += 1);
    assert_eq!(sum.feed, FeedKind::Itch);
    // Known messages / unknown frames as documented in ../shared/data/README.md.
    assert_eq!(sum.messages, 985_574);
    assert_eq!(sum.stats.unknown, 14_932);
    assert_eq!(sum.events, events);
    books
        .check_invariants()
        .expect("book invariants after the whole file");

    let text = std::fs::read_to_string(&oracle).expect("read oracle csv");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("stock_locate,symbol,bid_price,bid_shares,ask_price,ask_shares")
    );
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 6, "oracle row {line:?}");
        let locate: u16 = f[0].parse().expect("locate");
        let t = books.bbo(locate);
        let (bp, bq) = side(t.bid);
        let (ap, aq) = side(t.ask);
        let got = format!("{locate},{},{bp},{bq},{ap},{aq}", books.symbol(locate));
        if got != line {
            mismatches.push(format!("want {line}\n got {got}"));
        }
        compared += 1;
    }
    assert_eq!(compared, 500, "the oracle lists 500 symbols");
    assert!(
        mismatches.is_empty(),
        "{} of {compared} symbols differ:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(10)].join("\n")
    );
    // Every book we built is in the oracle (no stray locates).
    assert_eq!(books.book_indices().filter(|&i| i != 0).count(), 500);

    // The C++ book counted 14,881 references to unknown orders. We count the same messages (7,545 E + 7,336 D on
    // references that had already left the book); book/README.md explains them.
    let integ = books.integrity();
    assert_eq!(integ.unknown_order, 14_881, "{integ:?}");
    assert_eq!(integ.duplicate_add, 0);
    // Executions larger than the order's remaining shares (8,655 E + 2,159 C, counted by an independent script).
    assert_eq!(integ.over_execution, 10_814, "{integ:?}");
    eprintln!(
        "compared {compared} symbols; events {events}; integrity {integ:?}; memory {:?}",
        books.memory()
    );
}
