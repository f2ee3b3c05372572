//! ITCH books are named by Stock Directory (`R`) messages; a capture that starts after the directory (or a feed
//! that sends none) names them from its adds' stock field instead.

use book::{Books, StoreConfig, Symbol};
use feed::encode::itch::{AddOrder, AddOrderMpid, Message, OrderDelete, StockDirectory};
use feed::itch::Alpha;

fn apply(books: &mut Books, m: &Message) -> Option<book::BookEvent> {
    let mut buf = [0u8; 64];
    let n = m.encode(&mut buf).expect("encode");
    let msg = feed::itch::decode(&buf[..n]).expect("decode");
    books.apply_itch(&msg, 1)
}

fn add(loc: u16, r: u64, stock: &[u8; 8]) -> Message {
    Message::AddOrder(AddOrder {
        stock_locate: loc,
        timestamp: 1_000 + r,
        order_ref: r,
        side: b'B',
        shares: 100,
        stock: Alpha(*stock),
        price: 1_000_000,
        ..Default::default()
    })
}

#[test]
fn adds_name_an_unnamed_book_and_a_directory_renames_it() {
    let mut books = Books::new(StoreConfig::default());
    // No directory: the first add names book 7, its event carries the name.
    let ev = apply(&mut books, &add(7, 1, b"ABCD    ")).expect("event");
    assert_eq!(ev.symbol, Symbol::new("ABCD"));
    assert_eq!(books.symbol(7), Symbol::new("ABCD"));
    // A later add with another stock field does not rename it (only an unnamed book is named).
    let ev = apply(&mut books, &add(7, 2, b"ZZZZ    ")).expect("event");
    assert_eq!(ev.symbol, Symbol::new("ABCD"));
    // Attributed adds name too; events about the order carry the name.
    let m = Message::AddOrderMpid(AddOrderMpid {
        stock_locate: 8,
        timestamp: 2_000,
        order_ref: 3,
        side: b'S',
        shares: 100,
        stock: Alpha(*b"EFG     "),
        price: 1_000_000,
        attribution: Alpha(*b"MPID"),
        ..Default::default()
    });
    assert_eq!(
        apply(&mut books, &m).expect("event").symbol,
        Symbol::new("EFG")
    );
    let del = Message::OrderDelete(OrderDelete {
        stock_locate: 8,
        timestamp: 2_001,
        order_ref: 3,
        ..Default::default()
    });
    assert_eq!(
        apply(&mut books, &del).expect("event").symbol,
        Symbol::new("EFG")
    );
    // A blank stock field names nothing.
    let ev = apply(&mut books, &add(9, 4, b"        ")).expect("event");
    assert_eq!(ev.symbol, Symbol::EMPTY);
    // The directory is the authority: it renames.
    let dir = Message::StockDirectory(StockDirectory {
        stock_locate: 7,
        timestamp: 3_000,
        stock: Alpha(*b"REAL    "),
        ..Default::default()
    });
    apply(&mut books, &dir);
    assert_eq!(books.symbol(7), Symbol::new("REAL"));
    assert_eq!(
        apply(&mut books, &add(7, 5, b"ABCD    "))
            .expect("event")
            .symbol,
        Symbol::new("REAL")
    );
}
