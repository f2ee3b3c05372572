//! Scenario harness: drives a real `book::Books` and a `DetectorSet` with hand-written order flow.
#![allow(dead_code)]

use book::books::Stamp;
use book::{BookEvent, Books, Price, Side, Symbol};
use detect::{Alert, DetectConfig, DetectorSet};

/// Every rule file shipped in `detect/rules`, sorted.
pub fn shipped_rules() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "cep"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no rule file in {}", dir.display());
    files
}

/// The CEP stage with every shipped rule file and the default engine configuration.
pub fn shipped_cep_stage() -> detect::cep::CepStage {
    detect::cep::CepStage::load(&detect::cep::CepConfig {
        rules: shipped_rules(),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The alert's JSON record (no latency field, no newline).
pub fn alert_json(a: &Alert) -> String {
    let mut buf = Vec::new();
    a.write_json(&mut buf, None);
    String::from_utf8(buf).expect("alert JSON is UTF-8")
}

/// The `required` fields of the alert record's JSON Schema (`detect/schema/alert.schema.json`).
pub fn alert_required_fields() -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/alert.schema.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema: serde_json::Value = serde_json::from_str(&text).expect("alert schema JSON");
    let req: Vec<String> = schema["required"]
        .as_array()
        .expect("schema `required`")
        .iter()
        .map(|v| v.as_str().expect("field name").to_owned())
        .collect();
    assert!(req.len() >= 10, "{req:?}");
    req
}

/// $1.00 in price ticks.
pub const D: Price = 10_000;
/// One cent.
pub const C: Price = 100;
/// 10:00:00 in ns since midnight.
pub const T10: u64 = 36_000 * S;
/// One second in ns.
pub const S: u64 = 1_000_000_000;
/// One millisecond in ns.
pub const MS: u64 = 1_000_000;

pub struct Sim {
    pub books: Books,
    pub set: DetectorSet,
    pub seq: u64,
    pub next_ref: u64,
    pub next_match: u64,
    pub alerts: Vec<Alert>,
    pub events: Vec<BookEvent>,
    pub keep_events: bool,
}

impl Sim {
    pub fn new() -> Sim {
        Sim::with(DetectConfig::default())
    }

    pub fn with(cfg: DetectConfig) -> Sim {
        Sim {
            books: Books::default(),
            set: DetectorSet::new(&cfg),
            seq: 0,
            next_ref: 1,
            next_match: 1,
            alerts: Vec::new(),
            events: Vec::new(),
            keep_events: false,
        }
    }

    fn st(&mut self, ts: u64) -> Stamp {
        self.seq += 1;
        Stamp::new(ts, self.seq)
    }

    pub fn feed(&mut self, ev: BookEvent) {
        if self.keep_events {
            self.events.push(ev);
        }
        let alerts = &mut self.alerts;
        self.set.on_event(&ev, &mut |a: &Alert| alerts.push(*a));
    }

    pub fn finish(&mut self) {
        let alerts = &mut self.alerts;
        self.set.finish(&mut |a: &Alert| alerts.push(*a));
    }

    pub fn directory(&mut self, loc: u16, sym: &str) {
        let st = self.st(0);
        let ev = self.books.directory(st, loc, Symbol::new(sym), b'Q');
        self.feed(ev);
    }

    pub fn add_mpid(
        &mut self,
        ts: u64,
        loc: u16,
        side: Side,
        price: Price,
        qty: u32,
        mpid: &[u8; 4],
    ) -> u64 {
        let r = self.next_ref;
        self.next_ref += 1;
        let st = self.st(ts);
        let ev = self.books.add(st, loc, r, side, price, qty, *mpid);
        self.feed(ev);
        r
    }

    pub fn add(&mut self, ts: u64, loc: u16, side: Side, price: Price, qty: u32) -> u64 {
        self.add_mpid(ts, loc, side, price, qty, &[0; 4])
    }

    pub fn exec(&mut self, ts: u64, loc: u16, r: u64, qty: u32) {
        let m = self.next_match;
        self.next_match += 1;
        let st = self.st(ts);
        let ev = self.books.execute(st, loc, r, qty, m);
        self.feed(ev);
    }

    pub fn cancel(&mut self, ts: u64, loc: u16, r: u64, qty: u32) {
        let st = self.st(ts);
        let ev = self.books.cancel(st, loc, r, qty);
        self.feed(ev);
    }

    pub fn delete(&mut self, ts: u64, loc: u16, r: u64) {
        let st = self.st(ts);
        let ev = self.books.delete(st, loc, r);
        self.feed(ev);
    }

    pub fn replace(&mut self, ts: u64, loc: u16, old: u64, qty: u32, price: Price) -> u64 {
        let r = self.next_ref;
        self.next_ref += 1;
        let st = self.st(ts);
        let ev = self.books.replace(st, loc, old, r, qty, price);
        self.feed(ev);
        r
    }

    /// An IEX DEEP+ style modify of order `r` (same reference): new size and price, keeping priority if asked
    /// (the book keeps it only at the same price with no more shares).
    pub fn modify(&mut self, ts: u64, loc: u16, r: u64, qty: u32, price: Price, keep: bool) {
        let st = self.st(ts);
        let ev = self.books.modify(st, loc, r, qty, price, keep);
        self.feed(ev);
    }

    pub fn hidden(&mut self, ts: u64, loc: u16, side: Side, qty: u32, price: Price) {
        let m = self.next_match;
        self.next_match += 1;
        let st = self.st(ts);
        let ev = self.books.hidden_trade(st, loc, 0, side, qty, price, m);
        self.feed(ev);
    }

    /// An aggressive order of `side`: executes resting orders of the other side, best first, at one timestamp,
    /// until `qty` is filled or `limit` is passed. Returns the shares filled.
    pub fn aggress(&mut self, ts: u64, loc: u16, side: Side, qty: u32, limit: Price) -> u32 {
        let mut left = qty;
        while left > 0 {
            let touch = self.books.bbo(loc);
            let level = match side {
                Side::Buy => touch.ask.filter(|l| l.price <= limit),
                _ => touch.bid.filter(|l| l.price >= limit),
            };
            let Some(level) = level else { break };
            let price = level.price;
            let first = self
                .books
                .queue(loc, side.opposite(), price)
                .next()
                .expect("level has an order");
            let q = left.min(first.qty);
            self.exec(ts, loc, first.reference, q);
            left -= q;
        }
        qty - left
    }

    /// Deletes every resting order on `side` of `loc` at `ts`.
    pub fn clear_side(&mut self, ts: u64, loc: u16, side: Side) {
        loop {
            let touch = self.books.bbo(loc);
            let level = if side == Side::Buy {
                touch.bid
            } else {
                touch.ask
            };
            let Some(level) = level else { break };
            let r = self
                .books
                .queue(loc, side, level.price)
                .next()
                .expect("order")
                .reference;
            self.delete(ts, loc, r);
        }
    }

    /// A two-sided book around $10.00/$10.01 (5 levels each side, two 100-share orders per level) and 40 more
    /// 100-share orders added and deleted far from the touch, so the median order size is 100. Starts at `t`.
    /// Returns the time after the set-up.
    pub fn standard_book(&mut self, loc: u16, sym: &str, t: u64) -> u64 {
        self.standard_book_at(loc, sym, t, 10 * D)
    }

    pub fn standard_book_at(&mut self, loc: u16, sym: &str, t: u64, bid: Price) -> u64 {
        self.directory(loc, sym);
        let mut ts = t;
        for lvl in 0..5 {
            for _ in 0..2 {
                self.add(ts, loc, Side::Buy, bid - lvl * C, 100);
                self.add(ts, loc, Side::Sell, bid + C + lvl * C, 100);
                ts += MS;
            }
        }
        for _ in 0..40 {
            let r = self.add(ts, loc, Side::Buy, bid - 50 * C, 100);
            self.delete(ts + MS / 2, loc, r);
            ts += MS;
        }
        ts
    }

    pub fn of(&self, detector: &str) -> Vec<&Alert> {
        self.alerts
            .iter()
            .filter(|a| a.detector.name() == detector)
            .collect()
    }

    pub fn json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for a in &self.alerts {
            a.write_json_line(&mut out, None);
        }
        out
    }
}

impl Default for Sim {
    fn default() -> Self {
        Sim::new()
    }
}

/// Only the named detector enabled.
pub fn only(name: &str) -> DetectConfig {
    let mut c = DetectConfig::default();
    c.spoofing.enabled = name == "spoofing";
    c.layering.enabled = name == "layering";
    c.quote_stuffing.enabled = name == "quote_stuffing";
    c.momentum_ignition.enabled = name == "momentum_ignition";
    c.marking_the_close.enabled = name == "marking_the_close";
    c.coordinated_buying.enabled = name == "coordinated_buying";
    c.order_to_trade.enabled = name == "order_to_trade";
    c
}
