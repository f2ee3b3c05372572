//! Final-book CSVs of a run over one or more book shards, in the formats of `tickwatch book`:
//! `--levels-csv` (`symbol,side,price,shares,orders`, sorted by symbol, side, price) and `--bbo-csv`
//! (`stock_locate,symbol,bid_price,bid_shares,ask_price,ask_shares`, by locate). Shards hold disjoint books.

use std::fmt::Write;

use book::{Books, FmtPrice, LevelInfo, Side};

/// Every price level of every book: `symbol,side,price,shares,orders` (`orders` empty for L2 books).
pub fn levels_csv(shards: &[&Books]) -> String {
    // Sorted by symbol, then book index (= stock locate for ITCH, which is global, so the order does not depend on
    // the shard count), then shard.
    let mut idx: Vec<(String, u16, usize)> = Vec::new();
    for (si, b) in shards.iter().enumerate() {
        for i in b.book_indices().filter(|&i| i != 0) {
            idx.push((b.symbol(i).as_str().to_owned(), i, si));
        }
    }
    idx.sort();
    let mut s = String::from("symbol,side,price,shares,orders\n");
    for (sym, i, si) in idx {
        let books = shards[si];
        let l3 = books.snapshot(i, 0).l3;
        for side in [Side::Buy, Side::Sell] {
            let mut levels: Vec<LevelInfo> = books.depth(i, side).collect();
            levels.sort_by_key(|l| l.price);
            for l in levels {
                let orders = if l3 {
                    l.orders.to_string()
                } else {
                    String::new()
                };
                let _ = writeln!(
                    s,
                    "{sym},{},{},{},{orders}",
                    side.letter(),
                    FmtPrice(l.price),
                    l.qty
                );
            }
        }
    }
    s
}

/// The final BBO of every book.
pub fn bbo_csv(shards: &[&Books]) -> String {
    let mut idx: Vec<(u16, usize)> = Vec::new();
    for (si, b) in shards.iter().enumerate() {
        for i in b.book_indices().filter(|&i| i != 0) {
            idx.push((i, si));
        }
    }
    idx.sort();
    let mut s = String::from("stock_locate,symbol,bid_price,bid_shares,ask_price,ask_shares\n");
    for (i, si) in idx {
        let books = shards[si];
        let t = books.bbo(i);
        let side = |l: Option<LevelInfo>| match l {
            Some(l) => (FmtPrice(l.price).to_string(), l.qty),
            None => (String::new(), 0),
        };
        let (bp, bq) = side(t.bid);
        let (ap, aq) = side(t.ask);
        let _ = writeln!(s, "{i},{},{bp},{bq},{ap},{aq}", books.symbol(i));
    }
    s
}
