//! Property tests: the book against a naive reference book (BTreeMap of levels + Vec FIFO queues + HashMap of
//! orders) on random message streams, with every structural invariant checked after every message.

use std::collections::{BTreeMap, HashMap};

use book::event::flags;
use book::{BookEvent, Books, EventKind, Integrity, Side, Stamp, StoreConfig};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
struct MOrder {
    book: u16,
    side: Side,
    price: i64,
    qty: u32,
    ts: u64,
    mpid: [u8; 4],
}

/// The naive reference: levels as BTreeMap<(book, side, price), Vec<ref>> (FIFO), orders in a HashMap.
#[derive(Default)]
struct Model {
    orders: HashMap<u64, MOrder>,
    levels: BTreeMap<(u16, u8, i64), Vec<u64>>,
    l2: BTreeMap<(u16, u8, i64), u64>,
    pending: HashMap<u16, Vec<(Side, i64, u64)>>,
    integ: Integrity,
    crossed_state: HashMap<u16, bool>,
}

fn sk(s: Side) -> u8 {
    s as u8
}

impl Model {
    fn level(&self, book: u16, side: Side, price: i64) -> (u64, u32) {
        match self.levels.get(&(book, sk(side), price)) {
            Some(q) => (
                q.iter().map(|r| u64::from(self.orders[r].qty)).sum(),
                q.len() as u32,
            ),
            None => (0, 0),
        }
    }

    fn remove(&mut self, r: u64) -> MOrder {
        let o = self.orders.remove(&r).unwrap();
        let key = (o.book, sk(o.side), o.price);
        let q = self.levels.get_mut(&key).unwrap();
        q.retain(|&x| x != r);
        if q.is_empty() {
            self.levels.remove(&key);
        }
        o
    }

    fn insert(&mut self, r: u64, o: MOrder) {
        self.orders.insert(r, o);
        self.levels
            .entry((o.book, sk(o.side), o.price))
            .or_default()
            .push(r);
    }

    /// Best (price, qty, orders) of one side of `book`, L3 and L2 combined (a test book uses only one).
    fn best(&self, book: u16, side: Side) -> Option<(i64, u64, u32)> {
        let prices3 = self
            .levels
            .range((book, sk(side), i64::MIN)..=(book, sk(side), i64::MAX))
            .map(|(k, _)| k.2);
        let prices2 = self
            .l2
            .range((book, sk(side), i64::MIN)..=(book, sk(side), i64::MAX))
            .map(|(k, _)| k.2);
        let all: Vec<i64> = prices3.chain(prices2).collect();
        let p = if side == Side::Buy {
            all.iter().max()
        } else {
            all.iter().min()
        }
        .copied()?;
        if let Some(q) = self.l2.get(&(book, sk(side), p)) {
            return Some((p, *q, 0));
        }
        let (q, n) = self.level(book, side, p);
        Some((p, q, n))
    }

    fn touch_state(&mut self, book: u16, changed: bool) {
        let b = self.best(book, Side::Buy);
        let a = self.best(book, Side::Sell);
        if let (Some(b), Some(a)) = (b, a) {
            if changed {
                if b.0 > a.0 {
                    self.integ.crossed += 1;
                    if !self.crossed_state.get(&book).copied().unwrap_or(false) {
                        self.integ.crossed_episodes += 1;
                    }
                }
                if b.0 == a.0 {
                    self.integ.locked += 1;
                }
                self.crossed_state.insert(book, b.0 > a.0);
            }
        } else if changed {
            self.crossed_state.insert(book, false);
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Add {
        book: u16,
        r: u64,
        side: Side,
        price: i64,
        qty: u32,
        mpid: bool,
    },
    Exec {
        book: u16,
        r: u64,
        qty: u32,
        with_price: Option<i64>,
    },
    Cancel {
        book: u16,
        r: u64,
        qty: u32,
    },
    Delete {
        book: u16,
        r: u64,
    },
    Replace {
        book: u16,
        r: u64,
        nr: u64,
        qty: u32,
        price: i64,
    },
    Modify {
        book: u16,
        r: u64,
        qty: u32,
        price: i64,
        keep: bool,
    },
}

fn refs() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 1u64..40,
        2 => 4090u64..4110,        // page boundary of the tiny test configuration
        1 => (1u64 << 40)..((1u64 << 40) + 8), // above the dense limit: overflow map
        1 => (u64::MAX - 4)..=u64::MAX,
    ]
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![10 => Just(Side::Buy), 10 => Just(Side::Sell), 1 => Just(Side::None)]
}

fn op() -> impl Strategy<Value = Op> {
    let book = 0u16..3;
    let price = 95i64..106;
    let qty = prop_oneof![1 => Just(0u32), 20 => 1u32..60, 1 => Just(u32::MAX)];
    prop_oneof![
        8 => (book.clone(), refs(), side(), price.clone(), qty.clone(), any::<bool>())
            .prop_map(|(book, r, side, price, qty, mpid)| Op::Add { book, r, side, price, qty, mpid }),
        3 => (book.clone(), refs(), qty.clone(), proptest::option::of(price.clone()))
            .prop_map(|(book, r, qty, with_price)| Op::Exec { book, r, qty, with_price }),
        2 => (book.clone(), refs(), qty.clone()).prop_map(|(book, r, qty)| Op::Cancel { book, r, qty }),
        3 => (book.clone(), refs()).prop_map(|(book, r)| Op::Delete { book, r }),
        2 => (book.clone(), refs(), refs(), qty.clone(), price.clone())
            .prop_map(|(book, r, nr, qty, price)| Op::Replace { book, r, nr, qty, price }),
        1 => (book, refs(), qty, price, any::<bool>())
            .prop_map(|(book, r, qty, price, keep)| Op::Modify { book, r, qty, price, keep }),
    ]
}

fn tiny() -> StoreConfig {
    StoreConfig {
        dense_limit: 1 << 13,
        max_pages: 2,
        initial_orders: 4,
        level_capacity: 0,
    }
}

/// Applies `op` to the model, returning the expected (kind, side, price, qty, remaining, level_qty, level_orders,
/// unknown, anomaly, event book).
fn apply_model(
    m: &mut Model,
    op: &Op,
    ts: u64,
) -> (EventKind, Side, i64, u32, u32, u64, u32, bool, bool, u16) {
    match *op {
        Op::Add {
            book,
            r,
            side,
            price,
            qty,
            mpid,
        } => {
            if side == Side::None || qty == 0 {
                m.integ.rejected += 1;
                m.integ.unknown_symbol += 1;
                m.touch_state(book, false);
                return (EventKind::Add, side, price, qty, 0, 0, 0, false, true, book);
            }
            let mut anomaly = false;
            if m.orders.contains_key(&r) {
                m.integ.duplicate_add += 1;
                anomaly = true;
                let old = m.remove(r);
                if old.book != book {
                    m.touch_state(old.book, true);
                }
            }
            m.insert(
                r,
                MOrder {
                    book,
                    side,
                    price,
                    qty,
                    ts,
                    mpid: if mpid { *b"MPID" } else { [0; 4] },
                },
            );
            m.integ.unknown_symbol += 1;
            m.touch_state(book, true);
            let (lq, lo) = m.level(book, side, price);
            (
                EventKind::Add,
                side,
                price,
                qty,
                qty,
                lq,
                lo,
                false,
                anomaly,
                book,
            )
        }
        Op::Exec {
            book,
            r,
            qty,
            with_price,
        } => {
            let kind = if with_price.is_some() {
                EventKind::ExecuteWithPrice
            } else {
                EventKind::Execute
            };
            reduce(m, book, r, qty, kind, with_price)
        }
        Op::Cancel { book, r, qty } => reduce(m, book, r, qty, EventKind::Cancel, None),
        Op::Delete { book, r } => reduce(m, book, r, u32::MAX, EventKind::Delete, None),
        Op::Replace {
            book,
            r,
            nr,
            qty,
            price,
        } => replace(m, book, r, nr, qty, price, ts),
        Op::Modify {
            book,
            r,
            qty,
            price,
            keep,
        } => {
            let Some(o) = m.orders.get(&r).copied() else {
                m.integ.unknown_order += 1;
                m.integ.unknown_symbol += 1;
                m.touch_state(book, false);
                return (
                    EventKind::Replace,
                    Side::None,
                    price,
                    qty,
                    0,
                    0,
                    0,
                    true,
                    false,
                    book,
                );
            };
            if keep && price == o.price && qty <= o.qty && qty > 0 {
                m.orders.get_mut(&r).unwrap().qty = qty;
                m.integ.unknown_symbol += 1;
                m.touch_state(o.book, true);
                let (lq, lo) = m.level(o.book, o.side, price);
                return (
                    EventKind::Replace,
                    o.side,
                    price,
                    qty,
                    qty,
                    lq,
                    lo,
                    false,
                    false,
                    o.book,
                );
            }
            replace(m, book, r, r, qty, price, ts)
        }
    }
}

fn reduce(
    m: &mut Model,
    book: u16,
    r: u64,
    qty: u32,
    kind: EventKind,
    px: Option<i64>,
) -> (EventKind, Side, i64, u32, u32, u64, u32, bool, bool, u16) {
    m.integ.unknown_symbol += 1;
    let Some(o) = m.orders.get(&r).copied() else {
        m.integ.unknown_order += 1;
        m.touch_state(book, false);
        let q = if kind == EventKind::Delete { 0 } else { qty };
        return (
            kind,
            Side::None,
            px.unwrap_or(0),
            q,
            0,
            0,
            0,
            true,
            false,
            book,
        );
    };
    let ev_qty = if kind == EventKind::Delete {
        o.qty
    } else {
        qty
    };
    let anomaly = kind != EventKind::Delete && qty > o.qty;
    if anomaly {
        if kind == EventKind::Cancel {
            m.integ.over_cancel += 1;
        } else {
            m.integ.over_execution += 1;
        }
    }
    let remaining = if qty >= o.qty {
        m.remove(r);
        0
    } else {
        m.orders.get_mut(&r).unwrap().qty -= qty;
        o.qty - qty
    };
    m.touch_state(o.book, true);
    let (lq, lo) = m.level(o.book, o.side, o.price);
    (
        kind,
        o.side,
        px.unwrap_or(o.price),
        ev_qty,
        remaining,
        lq,
        lo,
        false,
        anomaly,
        o.book,
    )
}

fn replace(
    m: &mut Model,
    book: u16,
    r: u64,
    nr: u64,
    qty: u32,
    price: i64,
    ts: u64,
) -> (EventKind, Side, i64, u32, u32, u64, u32, bool, bool, u16) {
    m.integ.unknown_symbol += 1;
    let Some(o) = m.orders.get(&r).copied() else {
        m.integ.unknown_order += 1;
        m.touch_state(book, false);
        return (
            EventKind::Replace,
            Side::None,
            price,
            qty,
            0,
            0,
            0,
            true,
            false,
            book,
        );
    };
    m.remove(r);
    let mut anomaly = false;
    if let Some(c) = m.orders.get(&nr).copied() {
        m.integ.duplicate_add += 1;
        anomaly = true;
        m.remove(nr);
        if c.book != o.book {
            m.touch_state(c.book, true);
        }
    }
    if qty == 0 {
        m.integ.rejected += 1;
        m.touch_state(o.book, true);
        return (
            EventKind::Replace,
            o.side,
            price,
            0,
            0,
            0,
            0,
            false,
            true,
            o.book,
        );
    }
    m.insert(
        nr,
        MOrder {
            price,
            qty,
            ts,
            ..o
        },
    );
    m.touch_state(o.book, true);
    let (lq, lo) = m.level(o.book, o.side, price);
    (
        EventKind::Replace,
        o.side,
        price,
        qty,
        qty,
        lq,
        lo,
        false,
        anomaly,
        o.book,
    )
}

fn sat(x: u64) -> u32 {
    x.min(u64::from(u32::MAX)) as u32
}

fn apply_book(b: &mut Books, op: &Op, st: Stamp) -> BookEvent {
    match *op {
        Op::Add {
            book,
            r,
            side,
            price,
            qty,
            mpid,
        } => b.add(
            st,
            book,
            r,
            side,
            price,
            qty,
            if mpid { *b"MPID" } else { [0; 4] },
        ),
        Op::Exec {
            book,
            r,
            qty,
            with_price: None,
        } => b.execute(st, book, r, qty, 7),
        Op::Exec {
            book,
            r,
            qty,
            with_price: Some(p),
        } => b.execute_with_price(st, book, r, qty, 7, p, true),
        Op::Cancel { book, r, qty } => b.cancel(st, book, r, qty),
        Op::Delete { book, r } => b.delete(st, book, r),
        Op::Replace {
            book,
            r,
            nr,
            qty,
            price,
        } => b.replace(st, book, r, nr, qty, price),
        Op::Modify {
            book,
            r,
            qty,
            price,
            keep,
        } => b.modify(st, book, r, qty, price, keep),
    }
}

/// Compares the whole visible state of every book with the model.
fn compare_books(b: &Books, m: &Model) -> Result<(), TestCaseError> {
    for book in 0u16..3 {
        for side in [Side::Buy, Side::Sell] {
            let got: Vec<(i64, u64, u32)> = b
                .depth(book, side)
                .map(|l| (l.price, l.qty, l.orders))
                .collect();
            let mut want: Vec<(i64, u64, u32)> = m
                .levels
                .range((book, sk(side), i64::MIN)..=(book, sk(side), i64::MAX))
                .map(|(k, q)| {
                    (
                        k.2,
                        q.iter().map(|r| u64::from(m.orders[r].qty)).sum(),
                        q.len() as u32,
                    )
                })
                .collect();
            if side == Side::Buy {
                want.reverse();
            }
            prop_assert_eq!(&got, &want, "book {} side {:?}", book, side);
            for &(price, _, _) in &want {
                let q: Vec<(u64, u32)> = b
                    .queue(book, side, price)
                    .map(|o| (o.reference, o.qty))
                    .collect();
                let wq: Vec<(u64, u32)> = m.levels[&(book, sk(side), price)]
                    .iter()
                    .map(|r| (*r, m.orders[r].qty))
                    .collect();
                prop_assert_eq!(q, wq, "queue book {} side {:?} price {}", book, side, price);
            }
        }
    }
    prop_assert_eq!(b.live_orders(), m.orders.len() as u64);
    for (r, o) in &m.orders {
        let got = b.order(*r).expect("order known to the model");
        prop_assert_eq!(
            (got.book, got.side, got.price, got.qty, got.ts_ns, got.mpid),
            (o.book, o.side, o.price, o.qty, o.ts, o.mpid)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn l3_book_matches_naive_model(ops in proptest::collection::vec(op(), 1..120)) {
        let mut b = Books::new(tiny());
        let mut m = Model::default();
        for (i, op) in ops.iter().enumerate() {
            let ts = 1000 + i as u64;
            let st = Stamp::new(ts, i as u64 + 1);
            let ev = apply_book(&mut b, op, st);
            let (kind, side, price, qty, remaining, lq, lo, unknown, anomaly, ebook) = apply_model(&mut m, op, ts);
            prop_assert_eq!(ev.kind, kind);
            prop_assert_eq!(ev.book, ebook, "{:?}", op);
            prop_assert_eq!(ev.side, side, "{:?}", op);
            prop_assert_eq!(ev.price, price, "{:?}", op);
            prop_assert_eq!(ev.qty, qty, "{:?}", op);
            prop_assert_eq!(ev.remaining, remaining, "{:?}", op);
            prop_assert_eq!(ev.level_qty, sat(lq), "{:?}", op);
            prop_assert_eq!(ev.level_orders, lo, "{:?}", op);
            prop_assert_eq!(ev.has(flags::UNKNOWN_ORDER), unknown, "{:?}", op);
            prop_assert_eq!(ev.has(flags::ANOMALY), anomaly, "{:?}", op);
            prop_assert_eq!((ev.ts_ns, ev.seq), (ts, i as u64 + 1));
            // Touch after the message.
            let bb = m.best(ebook, Side::Buy);
            let ba = m.best(ebook, Side::Sell);
            prop_assert_eq!((ev.bid_price, ev.bid_qty), bb.map_or((0, 0), |x| (x.0, sat(x.1))), "{:?}", op);
            prop_assert_eq!((ev.ask_price, ev.ask_qty), ba.map_or((0, 0), |x| (x.0, sat(x.1))), "{:?}", op);
            let crossed = matches!((bb, ba), (Some(b), Some(a)) if b.0 > a.0);
            let locked = matches!((bb, ba), (Some(b), Some(a)) if b.0 == a.0);
            prop_assert_eq!(ev.crossed(), crossed);
            prop_assert_eq!(ev.locked(), locked);
            prop_assert_eq!(b.integrity(), &m.integ, "{:?}", op);
            if let Err(e) = b.check_invariants() {
                return Err(TestCaseError::fail(format!("after {op:?}: {e}")));
            }
        }
        compare_books(&b, &m)?;
    }

    #[test]
    fn l2_batches_match_naive_model(
        ups in proptest::collection::vec((0u16..2, prop_oneof![Just(Side::Buy), Just(Side::Sell)], 95i64..106,
                                          prop_oneof![1 => Just(0u32), 4 => 1u32..500], proptest::bool::weighted(0.6)),
                                         1..150)
    ) {
        let mut b = Books::new(StoreConfig::small());
        let mut m = Model::default();
        for (i, &(book, side, price, qty, end)) in ups.iter().enumerate() {
            let before_b = b.bbo(book);
            let ev = b.level_update(Stamp::new(i as u64, i as u64), book, side, price, qty, end, u8::from(end));
            m.pending.entry(book).or_default().push((side, price, u64::from(qty)));
            if end {
                for (s, p, q) in m.pending.remove(&book).unwrap() {
                    if q == 0 { m.l2.remove(&(book, sk(s), p)); } else { m.l2.insert((book, sk(s), p), q); }
                }
                prop_assert!(!ev.has(flags::IN_BATCH));
            } else {
                prop_assert!(ev.has(flags::IN_BATCH));
                prop_assert_eq!(b.bbo(book), before_b, "mid-batch update must not be visible");
            }
            for bk in 0u16..2 {
                for s in [Side::Buy, Side::Sell] {
                    let got: Vec<(i64, u64)> = b.depth(bk, s).map(|l| (l.price, l.qty)).collect();
                    let mut want: Vec<(i64, u64)> = m.l2.range((bk, sk(s), i64::MIN)..=(bk, sk(s), i64::MAX))
                        .map(|(k, q)| (k.2, *q)).collect();
                    if s == Side::Buy { want.reverse(); }
                    prop_assert_eq!(got, want);
                }
            }
            let bb = m.best(book, Side::Buy);
            prop_assert_eq!((ev.bid_price, ev.bid_qty), bb.map_or((0, 0), |x| (x.0, sat(x.1))));
            if let Err(e) = b.check_invariants() {
                return Err(TestCaseError::fail(e));
            }
        }
        let pend: u64 = m.pending.values().map(|v| v.len() as u64).sum();
        prop_assert_eq!(b.pending_updates(), pend);
    }
}

#[test]
fn fifo_priority_and_replace_moves_to_back() {
    let mut b = Books::new(StoreConfig::small());
    let st = |t| Stamp::new(t, t);
    b.add(st(1), 1, 10, Side::Buy, 100, 5, [0; 4]);
    b.add(st(2), 1, 11, Side::Buy, 100, 6, *b"ABCD");
    b.add(st(3), 1, 12, Side::Buy, 100, 7, [0; 4]);
    let q: Vec<u64> = b.queue(1, Side::Buy, 100).map(|o| o.reference).collect();
    assert_eq!(q, [10, 11, 12]);
    let ev = b.replace(st(4), 1, 10, 20, 5, 100);
    assert_eq!(
        (
            ev.order_price,
            ev.order_ts_ns,
            ev.level_qty,
            ev.level_orders
        ),
        (100, 1, 18, 3)
    );
    let q: Vec<u64> = b.queue(1, Side::Buy, 100).map(|o| o.reference).collect();
    assert_eq!(q, [11, 12, 20]);
    // MPID kept on the order and reported by later messages about it.
    let ev = b.execute(st(5), 1, 11, 2, 99);
    assert_eq!(ev.mpid_str(), Some("ABCD"));
    assert_eq!((ev.remaining, ev.order_ts_ns, ev.match_number), (4, 2, 99));
    assert!(ev.has(flags::PRINTABLE));
    // Modify keeping priority (size down) stays in place; a size-up loses priority.
    let ev = b.modify(st(6), 1, 11, 3, 100, true);
    assert_eq!(
        b.queue(1, Side::Buy, 100)
            .map(|o| o.reference)
            .collect::<Vec<_>>(),
        [11, 12, 20]
    );
    // Reported as a replace onto the same reference, marked as keeping priority (the order resized in place).
    assert_eq!(
        (ev.kind, ev.order_ref, ev.new_order_ref),
        (EventKind::Replace, 11, 11)
    );
    assert_eq!((ev.qty, ev.remaining, ev.order_ts_ns), (3, 3, 2));
    assert_eq!(ev.code, book::event::REPLACE_KEPT_PRIORITY);
    let ev = b.modify(st(7), 1, 11, 9, 100, true);
    assert_eq!(
        (ev.kind, ev.new_order_ref, ev.code),
        (EventKind::Replace, 11, 0)
    );
    assert_eq!(
        b.queue(1, Side::Buy, 100)
            .map(|o| o.reference)
            .collect::<Vec<_>>(),
        [12, 20, 11]
    );
}

#[test]
fn crossed_book_is_reported_not_repaired() {
    let mut b = Books::new(StoreConfig::small());
    let st = |t| Stamp::new(t, t);
    b.directory(st(0), 1, book::Symbol::new("X"), b'Q');
    b.add(st(1), 1, 1, Side::Sell, 100, 5, [0; 4]);
    let ev = b.add(st(2), 1, 2, Side::Buy, 101, 5, [0; 4]);
    assert!(ev.crossed() && ev.bbo_changed());
    let ev = b.add(st(3), 1, 3, Side::Buy, 99, 5, [0; 4]);
    assert!(ev.crossed() && !ev.bbo_changed());
    assert_eq!(b.integrity().crossed, 2);
    assert_eq!(b.integrity().crossed_episodes, 1);
    assert_eq!(b.bbo(1).bid.unwrap().price, 101);
    assert_eq!(b.bbo(1).ask.unwrap().price, 100);
    let ev = b.delete(st(4), 1, 2);
    assert!(!ev.crossed() && ev.bbo_changed());
    let ev = b.add(st(5), 1, 4, Side::Buy, 100, 1, [0; 4]);
    assert!(ev.locked());
    assert_eq!(b.integrity().locked, 1);
    assert_eq!(b.integrity().unknown_symbol, 0);
}
