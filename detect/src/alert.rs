//! The alert record: a fixed-size `Copy` [`Alert`] (so it can travel on an SPSC ring from the detect thread to the
//! publish thread) and its JSON-lines serialisation ([`Alert::write_json`]), documented by
//! `detect/schema/alert.schema.json`.
//!
//! # JSON record
//! One object per line, keys in this order (an interface others script against; names are stable):
//!
//! | key | type | meaning |
//! |---|---|---|
//! | `detector` | string | `spoofing`, `layering`, `quote_stuffing`, `momentum_ignition`, `marking_the_close`, `coordinated_buying`, `order_to_trade`, or a CEP rule name |
//! | `symbol` | string | ticker of `stock_locate` |
//! | `stock_locate` | integer | ITCH stock locate (or the IEX symbol index of the book manager) |
//! | `side` | `"buy"`, `"sell"` or `null` | side of the suspicious orders (aggressor side for momentum ignition) |
//! | `event_ts_ns` | integer | feed time of the event that completed the pattern (ITCH: ns since midnight) |
//! | `window_start_ns`, `window_end_ns` | integer | feed-time span of the evidence |
//! | `score` | number | strength: 1.0 = exactly at the thresholds, larger = further above them |
//! | `seq` | integer | transport sequence number of the completing event |
//! | `evidence` | object | detector-specific figures, plus `orders` (the order events that triggered) and `orders_total` |
//! | `latency_ns` | integer | live mode only: receive → alert emitted, ns |
//!
//! Each element of `evidence.orders` is `{"role", "action", "ts_ns", "seq", "symbol", "stock_locate", "side",
//! "order_ref", "price", "shares"}` plus `match_number` (executions) and `mpid` (attributed orders) when set.
//! Prices are JSON numbers with 4 decimals (dollars), times are feed nanoseconds.

use book::{BookEvent, EventKind, Price, Side, Symbol};

use crate::json;

/// The built-in detectors. `repr(u8)`, stable discriminants.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DetectorKind {
    /// Spoofing (MAR Annex I A(e), EU 2016/522 Annex II; FINRA 5210 .03; CME Rule 575.A).
    Spoofing = 0,
    /// Layering (MAR Annex I A(e), EU 2016/522 Annex II; FINRA 5210 .03(a); CME Rule 575.A–B).
    Layering = 1,
    /// Quote stuffing (MAR Annex I A(e), EU 2016/522 Annex II; CME Rule 575.C–D).
    QuoteStuffing = 2,
    /// Momentum ignition (MAR Annex I A(d), EU 2016/522 Annex II; CME Rule 575.D).
    MomentumIgnition = 3,
    /// Marking the close (MAR Annex I A(f), EU 2016/522 Annex II; CME Rule 575.B).
    MarkingTheClose = 4,
    /// Coordinated cross-symbol buying (MAR Annex I A(a), EU 2016/522 Annex II Section 1 para 1(a)(i)).
    CoordinatedBuying = 5,
    /// Excessive order-to-trade ratio (EU 2016/522 Annex II; MiFID II Art. 48(6) / RTS 9; CME Rule 575.D).
    OrderToTrade = 6,
}

impl DetectorKind {
    /// Every built-in detector, in discriminant order.
    pub const ALL: [DetectorKind; 7] = [
        DetectorKind::Spoofing,
        DetectorKind::Layering,
        DetectorKind::QuoteStuffing,
        DetectorKind::MomentumIgnition,
        DetectorKind::MarkingTheClose,
        DetectorKind::CoordinatedBuying,
        DetectorKind::OrderToTrade,
    ];

    /// The name used in the alert record's `detector` field and in config sections.
    pub const fn name(self) -> &'static str {
        match self {
            DetectorKind::Spoofing => "spoofing",
            DetectorKind::Layering => "layering",
            DetectorKind::QuoteStuffing => "quote_stuffing",
            DetectorKind::MomentumIgnition => "momentum_ignition",
            DetectorKind::MarkingTheClose => "marking_the_close",
            DetectorKind::CoordinatedBuying => "coordinated_buying",
            DetectorKind::OrderToTrade => "order_to_trade",
        }
    }

    /// Parses a [`name`](Self::name).
    pub fn from_name(s: &str) -> Option<DetectorKind> {
        DetectorKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Who produced an alert: a built-in detector or a named CEP rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Detector {
    /// A built-in detector.
    Builtin(DetectorKind),
    /// A CEP rule, by name. Rule names live for the whole process (see [`Detector::rule`]).
    Rule(&'static str),
}

impl Detector {
    /// The `detector` field value.
    pub const fn name(&self) -> &'static str {
        match self {
            Detector::Builtin(k) => k.name(),
            Detector::Rule(n) => n,
        }
    }

    /// A rule detector for `name`. Cold path: the name is copied once into memory that lives for the rest of the
    /// process (call this once per rule when rules are compiled, not per alert).
    pub fn rule(name: &str) -> Detector {
        Detector::Rule(Box::leak(name.to_owned().into_boxed_str()))
    }
}

impl From<DetectorKind> for Detector {
    fn from(k: DetectorKind) -> Self {
        Detector::Builtin(k)
    }
}

/// A figure value in [`Evidence`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// Unsigned integer (counts, shares, ns).
    U(u64),
    /// Signed integer.
    I(i64),
    /// Float (ratios, bps, multiples).
    F(f64),
    /// Price in ticks of 1/10 000; written as a 4-decimal number.
    Price(Price),
    /// Short ASCII text (MPID, symbol, variant name), space/NUL padded.
    Text([u8; 16]),
    /// Boolean.
    Bool(bool),
}

impl Value {
    /// A text value from up to 16 bytes of `s`.
    pub fn text(s: &[u8]) -> Value {
        let mut b = [b' '; 16];
        for (d, s) in b.iter_mut().zip(s) {
            *d = *s;
        }
        Value::Text(b)
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::U(v)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::U(v as u64)
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::U(v as u64)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::I(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::F(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

/// A named figure of the evidence (`"median_order_size": 100`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figure {
    /// JSON key.
    pub name: &'static str,
    /// Value.
    pub value: Value,
}

/// One order event kept as evidence (an add, execution, cancel, …) with the role it played in the pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvidenceOrder {
    /// What this event was in the pattern (`spoof_order`, `opposite_execution`, `layer_order`, …).
    pub role: &'static str,
    /// What happened to the order (add, execute, cancel, delete, replace, …).
    pub action: EventKind,
    /// Feed time.
    pub ts_ns: u64,
    /// Transport sequence number.
    pub seq: u64,
    /// Order reference.
    pub order_ref: u64,
    /// Match number (executions), else 0.
    pub match_number: u64,
    /// Price in ticks.
    pub price: Price,
    /// Shares of this event (added, executed, cancelled).
    pub shares: u32,
    /// Stock locate.
    pub book: u16,
    /// Symbol.
    pub symbol: Symbol,
    /// Side of the order.
    pub side: Side,
    /// MPID (all zero when anonymous).
    pub mpid: [u8; 4],
}

impl EvidenceOrder {
    /// Evidence record of `ev` in `role`.
    #[inline]
    pub fn from_event(role: &'static str, ev: &BookEvent) -> EvidenceOrder {
        EvidenceOrder {
            role,
            action: ev.kind,
            ts_ns: ev.ts_ns,
            seq: ev.seq,
            order_ref: ev.order_ref,
            match_number: ev.match_number,
            price: ev.price,
            shares: ev.qty,
            book: ev.book,
            symbol: ev.symbol,
            side: ev.side,
            mpid: ev.mpid,
        }
    }

    pub(crate) const EMPTY: EvidenceOrder = EvidenceOrder {
        role: "",
        action: EventKind::None,
        ts_ns: 0,
        seq: 0,
        order_ref: 0,
        match_number: 0,
        price: 0,
        shares: 0,
        book: 0,
        symbol: Symbol::EMPTY,
        side: Side::None,
        mpid: [0; 4],
    };
}

/// Maximum number of figures an alert carries.
pub const MAX_FIGURES: usize = 16;
/// Maximum number of order events an alert carries (`orders_total` says how many were involved).
pub const MAX_ORDERS: usize = 16;

const EMPTY_FIGURE: Figure = Figure {
    name: "",
    value: Value::U(0),
};

/// The evidence of an alert, in fixed arrays (no heap): named figures and the order events that triggered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    figures: [Figure; MAX_FIGURES],
    n_figures: u8,
    orders: [EvidenceOrder; MAX_ORDERS],
    n_orders: u8,
    /// Number of order events involved in the pattern (may exceed the [`MAX_ORDERS`] kept).
    pub orders_total: u32,
}

impl Default for Evidence {
    fn default() -> Self {
        Evidence::EMPTY
    }
}

impl Evidence {
    /// No figures, no orders.
    pub const EMPTY: Evidence = Evidence {
        figures: [EMPTY_FIGURE; MAX_FIGURES],
        n_figures: 0,
        orders: [EvidenceOrder::EMPTY; MAX_ORDERS],
        n_orders: 0,
        orders_total: 0,
    };

    /// Adds a figure (ignored when [`MAX_FIGURES`] are already present).
    #[inline]
    pub fn figure(&mut self, name: &'static str, value: impl Into<Value>) -> &mut Self {
        if (self.n_figures as usize) < MAX_FIGURES {
            self.figures[self.n_figures as usize] = Figure {
                name,
                value: value.into(),
            };
            self.n_figures += 1;
        }
        self
    }

    /// Adds a price figure (ticks).
    #[inline]
    pub fn price(&mut self, name: &'static str, ticks: Price) -> &mut Self {
        self.figure(name, Value::Price(ticks))
    }

    /// Adds an order event (counted in `orders_total`; kept when fewer than [`MAX_ORDERS`] are present).
    #[inline]
    pub fn order(&mut self, o: EvidenceOrder) -> &mut Self {
        self.orders_total = self.orders_total.saturating_add(1);
        if (self.n_orders as usize) < MAX_ORDERS {
            self.orders[self.n_orders as usize] = o;
            self.n_orders += 1;
        }
        self
    }

    /// The figures, in insertion order.
    pub fn figures(&self) -> &[Figure] {
        &self.figures[..self.n_figures as usize]
    }

    /// The kept order events, in insertion order.
    pub fn orders(&self) -> &[EvidenceOrder] {
        &self.orders[..self.n_orders as usize]
    }

    /// The value of figure `name`, if present.
    pub fn get(&self, name: &str) -> Option<Value> {
        self.figures()
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value)
    }
}

/// One alert. Fixed size, `Copy`, no heap: safe to move through a preallocated ring.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alert {
    /// Which detector (or CEP rule) fired.
    pub detector: Detector,
    /// Symbol of the alert.
    pub symbol: Symbol,
    /// Stock locate (book index) of the alert.
    pub stock_locate: u16,
    /// Side of the suspicious activity; [`Side::None`] is written as `null`.
    pub side: Side,
    /// Feed time of the event that completed the pattern.
    pub event_ts_ns: u64,
    /// Start of the evidence span (feed time).
    pub window_start_ns: u64,
    /// End of the evidence span (feed time).
    pub window_end_ns: u64,
    /// Strength: 1.0 at the thresholds, larger above them.
    pub score: f64,
    /// Transport sequence of the completing event.
    pub seq: u64,
    /// What triggered it.
    pub evidence: Evidence,
}

impl Alert {
    /// An alert of `detector` completed by `ev` (symbol, locate, time and sequence taken from it), with the window
    /// ending at the event and no evidence yet.
    #[inline]
    pub fn at_event(detector: impl Into<Detector>, ev: &BookEvent, side: Side) -> Alert {
        Alert {
            detector: detector.into(),
            symbol: ev.symbol,
            stock_locate: ev.book,
            side,
            event_ts_ns: ev.ts_ns,
            window_start_ns: ev.ts_ns,
            window_end_ns: ev.ts_ns,
            score: 1.0,
            seq: ev.seq,
            evidence: Evidence::EMPTY,
        }
    }

    /// Appends the alert as one JSON object (no trailing newline) to `out`. `latency_ns` is written only when
    /// `Some` (live mode). Does not allocate beyond growing `out`.
    pub fn write_json(&self, out: &mut Vec<u8>, latency_ns: Option<u64>) {
        out.push(b'{');
        json::write_key(out, "detector");
        json::write_str(out, self.detector.name());
        out.push(b',');
        json::write_key(out, "symbol");
        json::write_str(out, self.symbol.as_str());
        out.push(b',');
        json::write_key(out, "stock_locate");
        json::write_u64(out, self.stock_locate as u64);
        out.push(b',');
        json::write_key(out, "side");
        write_side(out, self.side);
        out.push(b',');
        json::write_key(out, "event_ts_ns");
        json::write_u64(out, self.event_ts_ns);
        out.push(b',');
        json::write_key(out, "window_start_ns");
        json::write_u64(out, self.window_start_ns);
        out.push(b',');
        json::write_key(out, "window_end_ns");
        json::write_u64(out, self.window_end_ns);
        out.push(b',');
        json::write_key(out, "score");
        json::write_f64(out, self.score);
        out.push(b',');
        json::write_key(out, "seq");
        json::write_u64(out, self.seq);
        out.push(b',');
        json::write_key(out, "evidence");
        self.write_evidence(out);
        if let Some(l) = latency_ns {
            out.push(b',');
            json::write_key(out, "latency_ns");
            json::write_u64(out, l);
        }
        out.push(b'}');
    }

    /// [`write_json`](Self::write_json) followed by `\n`.
    pub fn write_json_line(&self, out: &mut Vec<u8>, latency_ns: Option<u64>) {
        self.write_json(out, latency_ns);
        out.push(b'\n');
    }

    fn write_evidence(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for f in self.evidence.figures() {
            json::write_key(out, f.name);
            write_value(out, f.value);
            out.push(b',');
        }
        json::write_key(out, "orders");
        out.push(b'[');
        for (i, o) in self.evidence.orders().iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_order(out, o);
        }
        out.push(b']');
        out.push(b',');
        json::write_key(out, "orders_total");
        json::write_u64(out, self.evidence.orders_total as u64);
        out.push(b'}');
    }
}

fn write_side(out: &mut Vec<u8>, side: Side) {
    match side {
        Side::Buy => json::write_str(out, "buy"),
        Side::Sell => json::write_str(out, "sell"),
        Side::None => out.extend_from_slice(b"null"),
    }
}

fn text_str(b: &[u8]) -> &str {
    std::str::from_utf8(b)
        .map(|s| s.trim_end_matches([' ', '\0']))
        .unwrap_or("?")
}

fn write_value(out: &mut Vec<u8>, v: Value) {
    match v {
        Value::U(x) => json::write_u64(out, x),
        Value::I(x) => json::write_i64(out, x),
        Value::F(x) => json::write_f64(out, x),
        Value::Price(p) => json::write_price(out, p),
        Value::Text(t) => json::write_str(out, text_str(&t)),
        Value::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
    }
}

fn write_order(out: &mut Vec<u8>, o: &EvidenceOrder) {
    out.push(b'{');
    json::write_key(out, "role");
    json::write_str(out, o.role);
    out.push(b',');
    json::write_key(out, "action");
    json::write_str(out, o.action.name());
    out.push(b',');
    json::write_key(out, "ts_ns");
    json::write_u64(out, o.ts_ns);
    out.push(b',');
    json::write_key(out, "seq");
    json::write_u64(out, o.seq);
    out.push(b',');
    json::write_key(out, "symbol");
    json::write_str(out, o.symbol.as_str());
    out.push(b',');
    json::write_key(out, "stock_locate");
    json::write_u64(out, o.book as u64);
    out.push(b',');
    json::write_key(out, "side");
    write_side(out, o.side);
    out.push(b',');
    json::write_key(out, "order_ref");
    json::write_u64(out, o.order_ref);
    out.push(b',');
    json::write_key(out, "price");
    json::write_price(out, o.price);
    out.push(b',');
    json::write_key(out, "shares");
    json::write_u64(out, o.shares as u64);
    if o.match_number != 0 {
        out.push(b',');
        json::write_key(out, "match_number");
        json::write_u64(out, o.match_number);
    }
    if o.mpid.iter().any(|&b| b != 0 && b != b' ') {
        out.push(b',');
        json::write_key(out, "mpid");
        json::write_str(out, text_str(&o.mpid));
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Alert {
        let mut ev = BookEvent::EMPTY;
        ev.ts_ns = 34_200_000_000_123;
        ev.seq = 42;
        ev.book = 7;
        ev.symbol = Symbol::new("AAPL");
        ev.kind = EventKind::Delete;
        ev.order_ref = 99;
        ev.price = 1_234_500;
        ev.qty = 900;
        ev.side = Side::Buy;
        ev.mpid = *b"GSCO";
        let mut a = Alert::at_event(DetectorKind::Spoofing, &ev, Side::Buy);
        a.window_start_ns = 34_199_000_000_000;
        a.score = 2.25;
        a.evidence
            .figure("median_order_size", 100u32)
            .figure("size_multiple", 9.0)
            .price("best_bid", 1_234_400)
            .figure("mpid", Value::text(b"GSCO"))
            .figure("executed", false)
            .order(EvidenceOrder::from_event("spoof_order", &ev));
        a
    }

    #[test]
    fn json_record_is_valid_and_stable() {
        let a = sample();
        let mut out = Vec::new();
        a.write_json(&mut out, None);
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"detector":"spoofing","symbol":"AAPL","stock_locate":7,"side":"buy","#,
                r#""event_ts_ns":34200000000123,"window_start_ns":34199000000000,"window_end_ns":34200000000123,"#,
                r#""score":2.25,"seq":42,"evidence":{"median_order_size":100,"size_multiple":9,"#,
                r#""best_bid":123.4400,"mpid":"GSCO","executed":false,"orders":[{"role":"spoof_order","#,
                r#""action":"delete","ts_ns":34200000000123,"seq":42,"symbol":"AAPL","stock_locate":7,"#,
                r#""side":"buy","order_ref":99,"price":123.4500,"shares":900,"mpid":"GSCO"}],"orders_total":1}}"#
            )
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["evidence"]["orders"][0]["price"].as_f64(), Some(123.45));
        let mut live = Vec::new();
        a.write_json_line(&mut live, Some(1234));
        let v: serde_json::Value = serde_json::from_slice(&live[..live.len() - 1]).unwrap();
        assert_eq!(v["latency_ns"].as_u64(), Some(1234));
        assert_eq!(*live.last().unwrap(), b'\n');
    }

    #[test]
    fn side_null_and_caps() {
        let mut a = sample();
        a.side = Side::None;
        for _ in 0..40 {
            a.evidence.figure("x", 1u32);
            a.evidence.order(a.evidence.orders()[0]);
        }
        assert_eq!(a.evidence.figures().len(), MAX_FIGURES);
        assert_eq!(a.evidence.orders().len(), MAX_ORDERS);
        assert_eq!(a.evidence.orders_total, 41);
        let mut out = Vec::new();
        a.write_json(&mut out, None);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(v["side"].is_null());
        assert_eq!(v["evidence"]["orders_total"], 41);
    }

    #[test]
    fn names_round_trip() {
        for k in DetectorKind::ALL {
            assert_eq!(DetectorKind::from_name(k.name()), Some(k));
        }
        assert_eq!(Detector::rule("my_rule").name(), "my_rule");
        assert!(
            std::mem::size_of::<Alert>() <= 2560,
            "{}",
            std::mem::size_of::<Alert>()
        );
    }
}
