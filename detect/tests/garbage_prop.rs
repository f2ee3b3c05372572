//! Property test: the detector set never panics on any event stream — references reused, unknown or 0, sizes and
//! prices at their extremes, time going backwards or jumping by hours or to the end of `u64`, order entry times
//! unknown or later than the event, events of every kind in any order, books never announced — with the default
//! configuration, with one whose thresholds are so low that the alert paths run (with and without coordinated
//! buying's trailing-peak test), and with features on. The same stream gives the same alerts and feature records,
//! byte for byte, twice, and each is valid JSON with its record's fields (the alert schema's `required` list).
//! [`random_streams_reach_every_alert_path`] checks on a fixed sample that such streams make all seven detectors
//! (both variants of marking the close) fire under the low thresholds.
//!
//! The CEP stage with every shipped rule file takes the same streams (with the detect stage's feature snapshots,
//! as the runtime feeds it); random streams complete only some of its rules, so for CEP this shows the matching
//! and bookkeeping never panic, not that every rule's completion does.
//!
//! Runs with overflow checks on (the test profile keeps them), so an arithmetic overflow is a failure too.

use book::event::flags;
use book::{BookEvent, EventKind, Side, Symbol};
use detect::{Alert, DetectConfig, DetectorSet, FeatureSnapshot};
use proptest::prelude::*;

mod common;
use common::{alert_json, alert_required_fields, shipped_cep_stage};

/// Every threshold at its lowest, windows short, tables tiny (evictions and full tables happen).
const HAIR_TRIGGER: &str = r#"
[general]
median_window_orders = 4
median_min_orders = 1
median_refresh_orders = 1
[spoofing]
size_multiple = 0.5
max_distance_ticks = 1000000
max_lifetime_ms = 100000
max_tracked_per_symbol = 3
[layering]
min_orders = 1
min_levels = 1
size_multiple = 0.5
cancel_fraction = 0.1
max_tracked_per_symbol = 3
anon_max_chance = 1.0
[quote_stuffing]
window_ms = 5
min_messages = 2
baseline_multiple = 0.01
min_order_to_trade = 0.01
[momentum_ignition]
min_executions = 2
min_move_bps = 0.01
retrace_fraction = 0.01
max_tracked_executions = 3
[marking_the_close]
close_time = "00:00:02"
entry_from = "00:00:00"
size_multiple = 0.5
cancel_window_ms = 2000
min_deviation_bps = 0.01
max_tracked_per_symbol = 2
[coordinated_buying]
max_shares = 4294967295
min_symbols = 2
anon_rate_multiple = 0.01
anon_min_orders_per_symbol = 1
anon_min_history_ms = 0
anon_exceed_trailing_peak = false
anon_max_chance = 1.0
max_mpids = 2
[order_to_trade]
max_ratio = 0.01
min_order_messages = 1
mpid_min_order_messages = 1
max_mpid_keys = 8
"#;

/// [`HAIR_TRIGGER`] with anonymous coordinated buying's trailing-peak test on (its own bookkeeping).
fn hair_trigger_with_peak() -> DetectConfig {
    DetectConfig::from_toml_str(&HAIR_TRIGGER.replace(
        "anon_exceed_trailing_peak = false",
        "anon_exceed_trailing_peak = true",
    ))
    .expect("hair-trigger config with the trailing peak")
}

/// Tumbling feature records every millisecond and a short sliding feature window.
const FEATURES: &str = "[features]\nwindow_ms = 5\ntumbling_ms = 1\n";

/// A value from a small pool (so references, books and prices collide) or an extreme.
fn pick_u64(small: u64) -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 0..small,
        1 => Just(0u64),
        1 => Just(u64::MAX),
        1 => any::<u64>(),
    ]
}

fn pick_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        6 => 0u32..1000,
        1 => Just(0u32),
        1 => Just(u32::MAX),
        1 => any::<u32>(),
    ]
}

fn pick_price() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => 9_990i64..10_010,
        1 => Just(0i64),
        1 => Just(i64::MAX),
        1 => Just(i64::MIN),
        1 => any::<i64>(),
    ]
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::None), Just(Side::Buy), Just(Side::Sell)]
}

/// One event: its time is a step from the previous one (forwards, backwards or a jump).
fn event() -> impl Strategy<Value = (i64, BookEvent)> {
    (
        (
            prop_oneof![
                16 => 0i64..3_000_000,
                2 => -5_000_000_000i64..0,
                2 => Just(3_600_000_000_000i64),
                1 => Just(i64::MAX),
            ],
            0..EventKind::ALL.len(),
            prop_oneof![4 => 0u16..4, 1 => Just(u16::MAX)],
            side(),
            pick_u64(12),
            pick_u64(12),
            pick_u64(4),
            0u64..3,
        ),
        (
            pick_price(),
            pick_price(),
            pick_price(),
            pick_price(),
            pick_u32(),
            pick_u32(),
            pick_u32(),
            pick_u32(),
            prop_oneof![
                3 => Just([0u8; 4]),
                1 => Just(*b"ABCD"),
                1 => Just(*b"WXYZ"),
                1 => any::<[u8; 4]>(),
            ],
            any::<u8>(),
            any::<u8>(),
            pick_u64(1 << 20),
        ),
    )
        .prop_map(
            |(
                (dt, k, book, side, order_ref, new_ref, mn, order_ts),
                (
                    price,
                    order_price,
                    bid,
                    ask,
                    qty,
                    remaining,
                    bid_qty,
                    ask_qty,
                    mpid,
                    fl,
                    code,
                    seq,
                ),
            )| {
                let ev = BookEvent {
                    ts_ns: 0,
                    seq,
                    order_ref,
                    new_order_ref: new_ref,
                    match_number: mn,
                    // 0 unknown, 1 before the event, 2 after it (garbage): see `timed`.
                    order_ts_ns: order_ts,
                    price,
                    order_price,
                    bid_price: bid,
                    ask_price: ask,
                    qty,
                    remaining,
                    level_qty: qty,
                    level_orders: remaining,
                    bid_qty,
                    ask_qty,
                    mpid,
                    symbol: Symbol::from_bytes(*b"GARB    "),
                    book,
                    kind: EventKind::ALL[k],
                    side,
                    flags: fl,
                    code,
                };
                (dt, ev)
            },
        )
}

/// Lays the events out in time, starting at 09:30 or just after midnight. A step of an hour jumps by an hour, a
/// step of `i64::MAX` to the last microsecond before `u64::MAX` (no feed stamps that late — ITCH times are 48-bit,
/// IEX times are taken up to `i64::MAX` — but the detectors accept any `u64`); `calm` turns both into 1 ms steps,
/// so that a stream stays inside the windows it starts in (09:30, or marking the close's window just after
/// midnight in the hair-trigger configuration). Times saturate at both ends. The order's entry time becomes
/// unknown (0), half the event's time, or later than the event (garbage).
fn timed(steps: &[(i64, BookEvent)], start: u64, calm: bool) -> Vec<BookEvent> {
    let mut t = start;
    steps
        .iter()
        .map(|&(dt, mut ev)| {
            t = match dt {
                i64::MAX | 3_600_000_000_000 if calm => t.saturating_add(1_000_000),
                i64::MAX => u64::MAX - 1_000,
                d if d >= 0 => t.saturating_add(d as u64),
                d => t.saturating_sub(d.unsigned_abs()),
            };
            ev.ts_ns = t;
            ev.order_ts_ns = match ev.order_ts_ns {
                0 => 0,
                1 => t / 2,
                _ => t.saturating_add(1_000),
            };
            ev
        })
        .collect()
}

/// What a JSON line should be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Record {
    /// An alert of a built-in detector.
    Alert,
    /// An alert of a CEP rule (`detector` = the rule's name).
    CepAlert,
    /// A feature record.
    Feature,
}

/// Panics unless `line` is one JSON object with the fields of `kind`.
fn check_json(line: &str, kind: Record) {
    let alert = kind != Record::Feature;
    let v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("invalid JSON ({e}): {line}"));
    let o = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {line}"));
    let keys: Vec<String> = if alert {
        alert_required_fields()
    } else {
        [
            "record",
            "kind",
            "symbol",
            "stock_locate",
            "window_start_ns",
            "window_end_ns",
            "messages",
        ]
        .map(String::from)
        .to_vec()
    };
    for k in &keys {
        assert!(o.contains_key(k), "no {k}: {line}");
    }
    if kind == Record::Alert {
        let d = o["detector"]
            .as_str()
            .unwrap_or_else(|| panic!("detector: {line}"));
        assert!(
            detect::DetectorKind::ALL.iter().any(|k| k.name() == d),
            "unknown detector {d}: {line}"
        );
    }
}

/// Runs the set over `events` (and `finish`), returning every alert as its JSON line, then every feature record
/// (tumbling records when configured; with `sliding`, the sliding windows are kept too and a snapshot of the
/// event's symbol is taken after each event).
fn alerts(cfg: &DetectConfig, events: &[BookEvent], sliding: bool) -> Vec<String> {
    let mut set = DetectorSet::new(cfg);
    if sliding {
        set.keep_sliding_features();
    }
    let mut out = Vec::new();
    let mut features = Vec::new();
    let mut push = |a: &Alert| {
        let line = alert_json(a);
        check_json(&line, Record::Alert);
        out.push(line);
    };
    let mut record = |f: &FeatureSnapshot| {
        let mut buf = Vec::new();
        f.write_json(&mut buf);
        let line = String::from_utf8(buf).expect("utf-8");
        check_json(&line, Record::Feature);
        features.push(line);
    };
    for ev in events {
        set.on_event_with_features(ev, &mut push, &mut record);
        if sliding {
            if let Some(f) = set.features(ev.book) {
                record(&f);
            }
        }
    }
    set.finish(&mut push);
    out.extend(features);
    out
}

/// The CEP stage with every rule file of `detect/rules` over `events` (the detect stage, with its sliding features
/// kept, supplies each event's snapshot), then its timers; every match as its alert's JSON line.
fn cep_alerts(events: &[BookEvent]) -> Vec<String> {
    let mut cep = shipped_cep_stage();
    let mut set = DetectorSet::new(&DetectConfig::default());
    set.keep_sliding_features();
    let mut out = Vec::new();
    let mut push = |a: &Alert| {
        let line = alert_json(a);
        check_json(&line, Record::CepAlert);
        out.push(line);
    };
    for ev in events {
        set.on_event(ev, &mut |_: &Alert| {});
        let snap = set.features(ev.book);
        cep.on_event(ev, snap.as_ref(), &mut push);
    }
    cep.advance_to(events.last().map_or(0, |e| e.ts_ns), &mut push);
    cep.finish(&mut push);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_event_stream_is_taken_without_panic(
        steps in prop::collection::vec(event(), 1..400),
        early in any::<bool>(),
        calm in any::<bool>(),
    ) {
        let start = if early { 0 } else { 34_200_000_000_000 };
        let events = timed(&steps, start, calm);
        for (cfg, sliding) in [
            (DetectConfig::default(), false),
            (DetectConfig::from_toml_str(HAIR_TRIGGER).expect("hair-trigger config"), false),
            (hair_trigger_with_peak(), false),
            (DetectConfig::from_toml_str(FEATURES).expect("features config"), true),
        ] {
            let a = alerts(&cfg, &events, sliding);
            let b = alerts(&cfg, &events, sliding);
            prop_assert_eq!(a, b);
        }
        prop_assert_eq!(cep_alerts(&events), cep_alerts(&events));
    }
}

/// The hair-trigger configuration really reaches the alert paths (otherwise the property above would prove less
/// than it claims): a plain stream of adds, executions and cancels in a few books makes every detector fire.
#[test]
fn hair_trigger_config_fires_every_detector() {
    let cfg = DetectConfig::from_toml_str(HAIR_TRIGGER).expect("hair-trigger config");
    let mut events = Vec::new();
    let mut t = 1_000_000u64;
    let mut r = 1u64;
    for round in 0..60u64 {
        for book in 1..=3u16 {
            for (k, kind) in [
                EventKind::Add,
                EventKind::Add,
                EventKind::Add,
                EventKind::Execute,
                EventKind::Cancel,
                EventKind::Delete,
            ]
            .into_iter()
            .enumerate()
            {
                t += 300_000;
                // Executions: two rounds lifting offers up, two hitting bids down (momentum and its retrace).
                let side = match (kind, k) {
                    (EventKind::Execute, _) if round % 4 < 2 => Side::Sell,
                    (EventKind::Execute, _) => Side::Buy,
                    (_, 1) if round % 2 == 0 => Side::Sell,
                    _ => Side::Buy,
                };
                let order_ref = match kind {
                    EventKind::Add => {
                        r += 1;
                        r
                    }
                    EventKind::Execute => r.saturating_sub(1),
                    _ => r.saturating_sub(2 + k as u64 % 2),
                };
                let price = if kind == EventKind::Execute {
                    10_000 + [0, 300, 100, -200][round as usize % 4]
                } else {
                    10_000 + ((round * 7 + k as u64 * 3) % 11) as i64 * 100 - 500
                };
                events.push(BookEvent {
                    ts_ns: t,
                    seq: events.len() as u64 + 1,
                    order_ref,
                    price,
                    order_price: price,
                    bid_price: 9_900,
                    ask_price: 10_100,
                    bid_qty: 100,
                    ask_qty: 100,
                    qty: 100 + (k as u32) * 150 + (round as u32 % 5) * 40,
                    remaining: 0,
                    mpid: if round % 3 == 0 { *b"ABCD" } else { [0; 4] },
                    symbol: Symbol::from_bytes(*b"HAIR    "),
                    book,
                    kind,
                    side,
                    flags: flags::PRINTABLE,
                    ..BookEvent::default()
                });
            }
        }
    }
    let lines = alerts(&cfg, &events, false);
    let fired: std::collections::BTreeSet<String> = lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("alert JSON");
            v["detector"].as_str().expect("detector").to_owned()
        })
        .collect();
    for d in detect::DetectorKind::ALL.map(|k| k.name()) {
        assert!(
            fired.contains(d),
            "{d} never fired under the hair-trigger config ({} alerts: {fired:?})",
            lines.len()
        );
    }
}

/// What the property above exercises, measured on a fixed sample of its streams (300 calm streams starting just
/// after midnight, generated from a fixed seed): under the hair-trigger configuration every detector's alert path
/// runs, both variants of marking the close among them — so the property's "no panic" covers the alert code, not
/// only the bookkeeping.
#[test]
fn random_streams_reach_every_alert_path() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let streams = prop::collection::vec(event(), 100..400);
    let cfg = DetectConfig::from_toml_str(HAIR_TRIGGER).expect("hair-trigger config");
    let mut fired = std::collections::BTreeSet::new();
    for _ in 0..300 {
        let steps = streams.new_tree(&mut runner).expect("stream").current();
        for line in alerts(&cfg, &timed(&steps, 0, true), false) {
            let v: serde_json::Value = serde_json::from_str(&line).expect("alert JSON");
            let d = v["detector"].as_str().unwrap_or_default().to_owned();
            match v["evidence"]["variant"].as_str() {
                Some(var) if d == "marking_the_close" => fired.insert(format!("{d}/{var}")),
                _ => fired.insert(d),
            };
        }
    }
    for d in detect::DetectorKind::ALL.map(|k| k.name()) {
        assert!(
            fired.iter().any(|f| f.split('/').next() == Some(d)),
            "{d} never fired: {fired:?}"
        );
    }
    assert!(
        fired
            .iter()
            .filter(|f| f.starts_with("marking_the_close/"))
            .count()
            >= 2,
        "marking the close fired in fewer than two variants: {fired:?}"
    );
}
