//! The shipped rule files (`detect/rules/*.cep`): they compile against the pipeline schema; the generic sequence
//! rule on synthetic events; and the layering / marking-the-close rules against the built-in detectors on the same
//! order flow (a real `book::Books` driven by hand-written scenarios): the CEP version must alert exactly when the
//! built-in does, on the same side, completed by an event inside the built-in alert's window.

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;

use book::{BookEvent, EventKind, Side, Symbol};
use common::{shipped_rules, Sim, C, D, MS, S, T10};
use detect::cep::{CepConfig, CepStage};
use detect::{Alert, DetectConfig, DetectorSet};

fn rules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules")
}

fn stage(file: &str) -> CepStage {
    CepStage::load(&CepConfig {
        rules: vec![rules_dir().join(file)],
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_shipped_rule_file_compiles() {
    let files = shipped_rules();
    assert!(files.len() >= 3, "{files:?}");
    let st = CepStage::load(&CepConfig {
        rules: files,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = st
        .engine()
        .rules()
        .rules()
        .iter()
        .map(|r| r.name())
        .collect();
    for want in [
        "layering_buy",
        "layering_sell",
        "marking_the_close_cancel",
        "marking_the_close_push",
        "add_execute_cancel",
    ] {
        assert!(names.contains(&want), "{names:?}");
    }
    assert!(st.needs_features());
}

// ---------------------------------------------------------------------------------------------------------------
// Generic sequence: A then B then C within 5 s, per key
// ---------------------------------------------------------------------------------------------------------------

fn ev(kind: EventKind, ts: u64, order_ref: u64, seq: u64) -> BookEvent {
    let mut e = BookEvent::EMPTY;
    e.kind = kind;
    e.ts_ns = ts;
    e.order_ref = order_ref;
    e.seq = seq;
    e.book = 7;
    e.symbol = Symbol::new("SEQ");
    e.side = Side::Buy;
    e.price = 100_000;
    e.qty = 100;
    e
}

fn run_seq(events: &[(EventKind, f64, u64)]) -> Vec<Alert> {
    let mut st = CepStage::load(&CepConfig {
        rules: vec![rules_dir().join("sequence.cep")],
        ..Default::default()
    })
    .unwrap();
    let mut out = Vec::new();
    for (i, &(k, t, r)) in events.iter().enumerate() {
        st.on_event(
            &ev(k, (t * 1e9) as u64, r, i as u64 + 1),
            None,
            &mut |a: &Alert| out.push(*a),
        );
    }
    st.finish(&mut |a: &Alert| out.push(*a));
    out.retain(|a| a.detector.name() == "add_execute_cancel");
    out
}

#[test]
fn generic_sequence_a_b_c_within_5s_per_key() {
    use EventKind::*;
    // Order 1: add, execute, delete within 5 s → one alert, completed by the delete.
    let a = run_seq(&[(Add, 0.0, 1), (Execute, 1.0, 1), (Delete, 4.9, 1)]);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].event_ts_ns, 4_900_000_000);
    assert_eq!(a[0].window_start_ns, 0);
    assert_eq!(a[0].seq, 3);
    assert_eq!(a[0].side, Side::Buy);
    let roles: Vec<&str> = a[0].evidence.orders().iter().map(|o| o.role).collect();
    assert_eq!(roles, ["a", "b", "c"]);
    // Too slow: the cancel comes 5 s after the add.
    assert!(run_seq(&[(Add, 0.0, 1), (Execute, 1.0, 1), (Cancel, 5.0, 1)]).is_empty());
    // Wrong order: cancel before the execution.
    assert!(run_seq(&[(Add, 0.0, 1), (Cancel, 1.0, 1), (Execute, 2.0, 1)]).is_empty());
    // Per key: events of another order do not combine.
    assert!(run_seq(&[(Add, 0.0, 1), (Execute, 1.0, 2), (Delete, 2.0, 1)]).is_empty());
    // Two keys interleaved: two alerts.
    let a = run_seq(&[
        (Add, 0.0, 1),
        (Add, 0.1, 2),
        (Execute, 0.2, 2),
        (Execute, 0.3, 1),
        (Cancel, 0.4, 1),
        (Delete, 0.5, 2),
    ]);
    let refs: Vec<u64> = a.iter().map(|x| x.evidence.orders()[0].order_ref).collect();
    assert_eq!(refs, [1, 2]);
}

// ---------------------------------------------------------------------------------------------------------------
// Built-in vs CEP on the same order flow
// ---------------------------------------------------------------------------------------------------------------

/// Replays `events` through a fresh default `DetectorSet` (whose feature snapshots the CEP reads) and the CEP
/// stage; returns (built-in alerts of `detector`, CEP alerts whose rule name starts with `detector`).
fn both(events: &[BookEvent], detector: &str, file: &str) -> (Vec<Alert>, Vec<Alert>) {
    let mut set = DetectorSet::new(&DetectConfig::default());
    let mut cep = stage(file);
    if cep.needs_features() {
        set.keep_sliding_features();
    }
    let (mut builtin, mut rules) = (Vec::new(), Vec::new());
    for e in events {
        set.on_event(e, &mut |a: &Alert| builtin.push(*a));
        let snap = if cep.needs_features() {
            set.features(e.book)
        } else {
            None
        };
        cep.on_event(e, snap.as_ref(), &mut |a: &Alert| rules.push(*a));
    }
    set.finish(&mut |a: &Alert| builtin.push(*a));
    cep.finish(&mut |a: &Alert| rules.push(*a));
    builtin.retain(|a| a.detector.name() == detector);
    rules.retain(|a| a.detector.name().starts_with(detector));
    (builtin, rules)
}

/// The CEP alerts equal the built-in ones: same count, symbol, side, and each completed inside the built-in
/// alert's window.
fn assert_same(what: &str, builtin: &[Alert], rules: &[Alert]) {
    assert_eq!(
        builtin.len(),
        rules.len(),
        "{what}: built-in {:#?}\nCEP {:#?}",
        builtin,
        rules
    );
    for (b, r) in builtin.iter().zip(rules) {
        assert_eq!((b.symbol, b.side), (r.symbol, r.side), "{what}");
        assert!(
            r.event_ts_ns >= b.window_start_ns && r.event_ts_ns <= b.event_ts_ns,
            "{what}: CEP completed at {} outside the built-in window [{}, {}]",
            r.event_ts_ns,
            b.window_start_ns,
            b.event_ts_ns
        );
    }
}

const L: u16 = 3;

struct Layer {
    side: Side,
    prices: Vec<i64>,
    sizes: Vec<u32>,
    mpids: Vec<[u8; 4]>,
    gap: u64,
    exec_after: u64,
    cancel_after: u64,
    cancel: Vec<usize>,
    opposite: bool,
}

impl Default for Layer {
    fn default() -> Self {
        Layer {
            side: Side::Sell,
            prices: vec![10 * D + 2 * C, 10 * D + 3 * C, 10 * D + 4 * C],
            sizes: vec![300, 300, 300],
            mpids: vec![[0; 4]; 3],
            gap: 200 * MS,
            exec_after: 1_000 * MS,
            cancel_after: 200 * MS,
            cancel: vec![0, 1, 2],
            opposite: true,
        }
    }
}

fn layer_events(c: &Layer) -> Vec<BookEvent> {
    let mut s = Sim::new();
    s.keep_events = true;
    let t = s.standard_book(L, "LAYR", T10);
    let mut refs = Vec::new();
    let mirror = |p: i64| {
        if c.side == Side::Sell {
            p
        } else {
            20 * D + C - p
        }
    };
    for i in 0..c.prices.len() {
        refs.push(s.add_mpid(
            t + i as u64 * c.gap,
            L,
            c.side,
            mirror(c.prices[i]),
            c.sizes[i],
            &c.mpids[i],
        ));
    }
    let last = t + (c.prices.len() as u64 - 1) * c.gap;
    let te = last + c.exec_after;
    // An execution against a resting order of the opposite side (or of the layered side).
    let resting = if c.opposite {
        c.side.opposite()
    } else {
        c.side
    };
    let (agg, limit) = if resting == Side::Buy {
        (Side::Sell, 9 * D)
    } else {
        (Side::Buy, 11 * D)
    };
    s.aggress(te, L, agg, 100, limit);
    for (k, &i) in c.cancel.iter().enumerate() {
        s.delete(te + c.cancel_after + k as u64 * 100 * MS, L, refs[i]);
    }
    s.events
}

#[test]
fn layering_rule_matches_the_builtin() {
    let cases: Vec<(&str, Layer)> = vec![
        ("definition, sell", Layer::default()),
        (
            "definition, buy",
            Layer {
                side: Side::Buy,
                ..Layer::default()
            },
        ),
        (
            "two levels",
            Layer {
                prices: vec![10 * D + 2 * C, 10 * D + 3 * C, 10 * D + 3 * C],
                ..Layer::default()
            },
        ),
        (
            "one order below 2x median",
            Layer {
                sizes: vec![300, 199, 300],
                ..Layer::default()
            },
        ),
        (
            "late execution",
            Layer {
                exec_after: 5_100 * MS,
                ..Layer::default()
            },
        ),
        (
            "late cancels",
            Layer {
                cancel_after: 900 * MS,
                ..Layer::default()
            },
        ),
        (
            "two of three cancelled",
            Layer {
                cancel: vec![0, 1],
                ..Layer::default()
            },
        ),
        (
            "execution on the layered side",
            Layer {
                opposite: false,
                ..Layer::default()
            },
        ),
        (
            "two MPIDs",
            Layer {
                mpids: vec![*b"AAAA", *b"AAAA", *b"BBBB"],
                ..Layer::default()
            },
        ),
        (
            "one MPID",
            Layer {
                mpids: vec![*b"AAAA"; 3],
                ..Layer::default()
            },
        ),
        (
            "five orders, all cancelled",
            Layer {
                prices: (2..7).map(|k| 10 * D + k * C).collect(),
                sizes: vec![500, 800, 300, 1000, 600],
                mpids: vec![[0; 4]; 5],
                gap: 150 * MS,
                cancel: vec![0, 1, 2, 3, 4],
                ..Layer::default()
            },
        ),
        (
            // The three smallest (cancelled) orders would be a 100 %-cancelled layer of their own: the whole layer
            // counts, 1 500 of 3 500 shares = 43 %.
            "whole layer, subset cancelled",
            Layer {
                prices: (2..7).map(|k| 10 * D + k * C).collect(),
                sizes: vec![1000, 1000, 500, 500, 500],
                mpids: vec![[0; 4]; 5],
                gap: 150 * MS,
                cancel: vec![2, 3, 4],
                ..Layer::default()
            },
        ),
        (
            "whole layer, prefix cancelled",
            Layer {
                prices: (2..7).map(|k| 10 * D + k * C).collect(),
                sizes: vec![500, 500, 500, 1000, 1000],
                mpids: vec![[0; 4]; 5],
                gap: 150 * MS,
                cancel: vec![0, 1, 2],
                ..Layer::default()
            },
        ),
        (
            "placements spread over more than 1 s",
            Layer {
                gap: 600 * MS,
                ..Layer::default()
            },
        ),
    ];
    let mut fired = 0;
    for (what, c) in &cases {
        let (b, r) = both(&layer_events(c), "layering", "layering.cep");
        assert_same(what, &b, &r);
        fired += b.len();
    }
    assert!(fired >= 4, "the positive cases must fire ({fired})");
}

fn hms(h: u64, m: u64, s: u64) -> u64 {
    ((h * 60 + m) * 60 + s) * S
}

fn close_cancel(entry: u64, cancel: u64, size: u32, replace: bool) -> Vec<BookEvent> {
    let mut s = Sim::new();
    s.keep_events = true;
    s.standard_book(L, "MARK", hms(15, 50, 0));
    let r = s.add(entry, L, Side::Buy, 10 * D - C, size);
    if replace {
        s.replace(cancel, L, r, 100, 10 * D - 2 * C);
    } else {
        s.delete(cancel, L, r);
    }
    s.events
}

fn close_push(at: u64, qty: u32, levels: i64) -> Vec<BookEvent> {
    let mut s = Sim::new();
    s.keep_events = true;
    let mut t = s.standard_book(L, "MARK", hms(15, 50, 0));
    while t < at - 10 * S {
        s.add(t, L, Side::Buy, 10 * D, 100);
        s.aggress(t, L, Side::Sell, 100, 9 * D);
        s.add(t + S, L, Side::Sell, 10 * D + C, 100);
        s.aggress(t + S, L, Side::Buy, 100, 11 * D);
        t += 5 * S;
    }
    s.clear_side(at - 2 * S, L, Side::Sell);
    for k in 0..=levels {
        s.add(
            at - S,
            L,
            Side::Sell,
            10 * D + C + k * C,
            qty / (levels as u32 + 1) + 1,
        );
    }
    s.aggress(at, L, Side::Buy, qty, 20 * D);
    s.add(at + S, L, Side::Buy, 9 * D, 100);
    s.events
}

#[test]
fn marking_the_close_rules_match_the_builtin() {
    let cancel_cases = [
        (
            "cancel in the last 10 s",
            hms(15, 57, 0),
            hms(15, 59, 55),
            1_000,
            false,
        ),
        (
            "boundaries 15:55:00 / 15:59:50",
            hms(15, 55, 0),
            hms(15, 59, 50),
            500,
            false,
        ),
        (
            "replace in the last 10 s",
            hms(15, 57, 0),
            hms(15, 59, 55),
            1_000,
            true,
        ),
        (
            "entered before 15:55",
            hms(15, 54, 59),
            hms(15, 59, 55),
            1_000,
            false,
        ),
        (
            "cancelled before the last 10 s",
            hms(15, 57, 0),
            hms(15, 59, 49),
            1_000,
            false,
        ),
        (
            "cancelled at the close",
            hms(15, 57, 0),
            hms(16, 0, 0),
            1_000,
            false,
        ),
        ("too small", hms(15, 57, 0), hms(15, 59, 55), 499, false),
    ];
    let mut fired = 0;
    for (what, entry, cancel, size, replace) in cancel_cases {
        let (b, r) = both(
            &close_cancel(entry, cancel, size, replace),
            "marking_the_close",
            "marking_the_close.cep",
        );
        assert_same(what, &b, &r);
        fired += b.len();
    }
    let push_cases = [
        ("push 55 bps", hms(15, 59, 30), 1_000, 5),
        ("push 2 cents (~25 bps)", hms(15, 59, 30), 1_000, 1),
        ("push too small", hms(15, 59, 30), 450, 5),
        ("push before 15:55", hms(15, 54, 30), 1_000, 5),
        ("push at 15:56", hms(15, 56, 0), 800, 4),
    ];
    for (what, at, qty, levels) in push_cases {
        let (b, r) = both(
            &close_push(at, qty, levels),
            "marking_the_close",
            "marking_the_close.cep",
        );
        assert_same(what, &b, &r);
        fired += b.len();
    }
    assert!(fired >= 5, "the positive cases must fire ({fired})");
}

#[test]
fn documentation_examples_compile() {
    let doc =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/cep.md"))
            .unwrap();
    let mut blocks = 0;
    for (i, block) in doc.split("```text").skip(1).enumerate() {
        let body = block.split("```").next().unwrap();
        if !body.lines().any(|l| l.starts_with("rule ")) {
            continue;
        }
        let mut rules = detect::cep::RuleSet::new({
            let mut ctx = detect::cep::CompileContext::new(std::sync::Arc::new(
                detect::cep::pipeline::schema(),
            ));
            ctx.features = detect::cep::features::feature_names();
            ctx
        });
        rules
            .add_str(&format!("docs/cep.md block {i}"), body)
            .unwrap_or_else(|e| panic!("{e}\n{body}"));
        blocks += 1;
    }
    assert!(blocks >= 2);
}
