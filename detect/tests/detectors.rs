//! Each detector on hand-written order flow through a real `book::Books`: the pattern as defined fires once, and
//! each near miss (one condition just outside its threshold) does not.

mod common;

use book::Side;
use common::*;
use detect::Value;

const L: u16 = 7;

// ---------------------------------------------------------------------------------------------------------------
// Spoofing
// ---------------------------------------------------------------------------------------------------------------

/// Book 10.00 / 10.01, median 100. A large buy near the bid, a sell-side execution, then the large order cancelled.
fn spoof(size: u32, price: Price, exec_opposite: bool, cancel_after: u64, exec_self: bool) -> Sim {
    let mut s = Sim::with(only("spoofing"));
    let t = s.standard_book(L, "SPOF", T10);
    let big = s.add(t, L, Side::Buy, price, size);
    if exec_opposite {
        // A buyer lifts the offer: execution against a resting sell order.
        s.aggress(t + 300 * MS, L, Side::Buy, 100, 11 * D);
    }
    if exec_self {
        s.exec(t + 400 * MS, L, big, 100);
    }
    s.delete(t + cancel_after, L, big);
    s.finish();
    s
}

use book::Price;

#[test]
fn spoofing_fires_on_the_definition() {
    let s = spoof(1_000, 10 * D - C, true, 900 * MS, false);
    let a = s.of("spoofing");
    assert_eq!(a.len(), 1, "{:#?}", s.alerts);
    let a = a[0];
    assert_eq!(a.side, Side::Buy);
    assert_eq!(a.symbol.as_str(), "SPOF");
    assert_eq!(a.evidence.get("median_order_size"), Some(Value::U(100)));
    assert_eq!(a.evidence.get("order_size"), Some(Value::U(1000)));
    assert_eq!(a.evidence.get("ticks_from_best"), Some(Value::I(1)));
    assert_eq!(a.evidence.get("opposite_executions"), Some(Value::U(1)));
    assert_eq!(a.evidence.get("lifetime_ns"), Some(Value::U(900 * MS)));
    assert_eq!(a.window_end_ns - a.window_start_ns, 900 * MS);
    assert!(a.score >= 1.0);
    let roles: Vec<_> = a.evidence.orders().iter().map(|o| o.role).collect();
    assert_eq!(roles, ["spoof_order", "opposite_execution", "cancel"]);
}

/// The buy spoof of `spoof`, with a `P` (a trade against a hidden order, sent with `sent`) at `price` as the only
/// trade during its life.
fn spoof_hidden(price: Price, sent: Side, mode: detect::config::HiddenTradeSide) -> usize {
    let mut cfg = only("spoofing");
    cfg.general.hidden_trade_side = mode;
    let mut s = Sim::with(cfg);
    let t = s.standard_book(L, "SPOF", T10); // bid 10.00, offer 10.01
    let big = s.add(t, L, Side::Buy, 10 * D - C, 1_000);
    s.hidden(t + 300 * MS, L, sent, 100, price);
    s.delete(t + 900 * MS, L, big);
    s.finish();
    s.of("spoofing").len()
}

/// NASDAQ sends `B` in every `P`: by default its side comes from the touch (at the offer: a buyer lifted a hidden
/// sell, the opposite side of a buy spoof; at the bid: a seller hit a hidden buy; inside: unknown).
#[test]
fn spoofing_hidden_trade_side() {
    use detect::config::HiddenTradeSide::{Quote, Sent};
    assert_eq!(spoof_hidden(10 * D + C, Side::Buy, Quote), 1);
    assert_eq!(spoof_hidden(10 * D, Side::Buy, Quote), 0);
    assert_eq!(spoof_hidden(10 * D + C / 2, Side::Buy, Quote), 0);
    assert_eq!(spoof_hidden(10 * D + C / 2, Side::Sell, Quote), 0);
    // As sent: the side is the resting hidden order's.
    assert_eq!(spoof_hidden(10 * D + C, Side::Buy, Sent), 0);
    assert_eq!(spoof_hidden(10 * D + C / 2, Side::Sell, Sent), 1);
}

/// A short scenario: six 100-share orders, then the spoof. The median is known from 5 orders on
/// (`general.median_min_orders`).
#[test]
fn spoofing_after_a_few_orders() {
    let run = |min: usize| {
        let mut cfg = only("spoofing");
        cfg.general.median_min_orders = min;
        let mut s = Sim::with(cfg);
        s.directory(L, "SHRT");
        let t = T10;
        for i in 0..3u64 {
            s.add(t + i * MS, L, Side::Buy, 10 * D - i as i64 * C, 100);
            s.add(t + i * MS, L, Side::Sell, 10 * D + C + i as i64 * C, 100);
        }
        let big = s.add(t + 10 * MS, L, Side::Buy, 10 * D - C, 1_000);
        s.aggress(t + 300 * MS, L, Side::Buy, 100, 11 * D);
        s.delete(t + 900 * MS, L, big);
        s.finish();
        s.of("spoofing").len()
    };
    assert_eq!(
        run(detect::DetectConfig::default().general.median_min_orders),
        1
    );
    assert_eq!(run(7), 0);
}

#[test]
fn spoofing_boundaries() {
    // Exactly 5x the median and exactly 2 ticks behind, cancelled at exactly 2 s: all inclusive.
    assert_eq!(
        spoof(500, 10 * D - 2 * C, true, 2_000 * MS, false)
            .of("spoofing")
            .len(),
        1
    );
    // Just below 5x.
    assert!(spoof(499, 10 * D - C, true, 900 * MS, false)
        .of("spoofing")
        .is_empty());
    // Three ticks behind the bid.
    assert!(spoof(1_000, 10 * D - 3 * C, true, 900 * MS, false)
        .of("spoofing")
        .is_empty());
    // Cancelled after 2 s.
    assert!(spoof(1_000, 10 * D - C, true, 2_001 * MS, false)
        .of("spoofing")
        .is_empty());
    // No execution on the opposite side.
    assert!(spoof(1_000, 10 * D - C, false, 900 * MS, false)
        .of("spoofing")
        .is_empty());
    // Partly executed before the cancel: not spoofing.
    assert!(spoof(1_000, 10 * D - C, true, 900 * MS, true)
        .of("spoofing")
        .is_empty());
    // Improving the bid counts as within 2 ticks.
    assert_eq!(
        spoof(1_000, 10 * D + C / 2, true, 900 * MS, false)
            .of("spoofing")
            .len(),
        1
    );
}

#[test]
fn spoofing_same_side_execution_is_not_enough() {
    let mut s = Sim::with(only("spoofing"));
    let t = s.standard_book(L, "SPOF", T10);
    let big = s.add(t, L, Side::Sell, 10 * D + 2 * C, 2_000);
    // A buyer lifts the offer: an execution against a resting SELL order, the big order's own side.
    s.aggress(t + 100 * MS, L, Side::Buy, 100, 11 * D);
    s.delete(t + 500 * MS, L, big);
    assert!(s.of("spoofing").is_empty());
    // Whereas a seller hitting the bid executes a resting order on the opposite (buy) side.
    let big = s.add(t + 3 * S, L, Side::Sell, 10 * D + 2 * C, 2_000);
    s.aggress(t + 3 * S + 100 * MS, L, Side::Sell, 100, 9 * D);
    s.delete(t + 3 * S + 500 * MS, L, big);
    assert_eq!(s.of("spoofing").len(), 1);
    assert_eq!(s.of("spoofing")[0].side, Side::Sell);
}

#[test]
fn spoofing_replace_counts_as_cancel_and_partial_cancel_waits() {
    let mut s = Sim::with(only("spoofing"));
    let t = s.standard_book(L, "SPOF", T10);
    let big = s.add(t, L, Side::Buy, 10 * D, 1_000);
    s.aggress(t + 100 * MS, L, Side::Buy, 100, 11 * D);
    s.cancel(t + 200 * MS, L, big, 400); // partial: not yet
    assert!(s.of("spoofing").is_empty());
    s.replace(t + 300 * MS, L, big, 100, 9 * D); // withdraws the remaining 600
    assert_eq!(s.of("spoofing").len(), 1);
}

/// An IEX DEEP+ modify that keeps priority (same price, fewer shares) is the same order resized — a partial
/// cancel, not a full one; a modify that loses priority is a cancel and a new order, like an ITCH replace.
#[test]
fn spoofing_deep_plus_modify_keeping_priority_is_a_partial_cancel() {
    let run = |keep: bool| {
        let mut s = Sim::with(only("spoofing"));
        let t = s.standard_book(L, "MODF", T10);
        let big = s.add(t, L, Side::Buy, 10 * D, 1_000);
        s.aggress(t + 100 * MS, L, Side::Buy, 100, 11 * D);
        s.modify(t + 300 * MS, L, big, 600, 10 * D, keep);
        let after_modify = s.of("spoofing").len();
        s.delete(t + 500 * MS, L, big);
        (after_modify, s.of("spoofing").len())
    };
    // Kept priority: still resting (600 shares) until the delete cancels it fully, within 2 s.
    assert_eq!(run(true), (0, 1));
    // Lost priority: the modify withdrew the order (the spoof) and entered a new 600-share one.
    assert_eq!(run(false).0, 1);
}

// ---------------------------------------------------------------------------------------------------------------
// Layering
// ---------------------------------------------------------------------------------------------------------------

struct LayerCase {
    sizes: [u32; 3],
    prices: [Price; 3],
    exec_after: u64,
    cancel_after: u64,
    cancel_n: usize,
    mpids: [[u8; 4]; 3],
    opposite: bool,
}

impl Default for LayerCase {
    fn default() -> Self {
        LayerCase {
            sizes: [300, 300, 300],
            prices: [10 * D + 2 * C, 10 * D + 3 * C, 10 * D + 4 * C],
            exec_after: 1_000 * MS,
            cancel_after: 200 * MS,
            cancel_n: 3,
            mpids: [[0; 4]; 3],
            opposite: true,
        }
    }
}

fn layer(c: LayerCase) -> Sim {
    let mut s = Sim::with(only("layering"));
    let t = s.standard_book(L, "LAYR", T10);
    place_layer(&mut s, t, &c);
    s.finish();
    s
}

/// From `t`: three sell orders 200 ms apart, an execution `exec_after` the last (against a resting buy order when
/// `opposite`), then the first `cancel_n` orders deleted 100 ms apart from `cancel_after` past the execution.
fn place_layer(s: &mut Sim, t: u64, c: &LayerCase) {
    let mut refs = Vec::new();
    for i in 0..3 {
        refs.push(s.add_mpid(
            t + i as u64 * 200 * MS,
            L,
            Side::Sell,
            c.prices[i],
            c.sizes[i],
            &c.mpids[i],
        ));
    }
    let last = t + 400 * MS;
    let te = last + c.exec_after;
    if c.opposite {
        // Sell-side layers; a seller hits a resting BUY order (the opposite side).
        s.aggress(te, L, Side::Sell, 100, 9 * D);
    } else {
        s.aggress(te, L, Side::Buy, 100, 11 * D);
    }
    for (i, r) in refs.iter().take(c.cancel_n).enumerate() {
        s.delete(te + c.cancel_after + i as u64 * 100 * MS, L, *r);
    }
}

#[test]
fn layering_fires_on_the_definition() {
    let s = layer(LayerCase::default());
    let a = s.of("layering");
    assert_eq!(a.len(), 1, "{:#?}", s.alerts);
    let a = a[0];
    assert_eq!(a.side, Side::Sell);
    assert_eq!(a.evidence.get("layer_orders"), Some(Value::U(3)));
    assert_eq!(a.evidence.get("layer_levels"), Some(Value::U(3)));
    assert_eq!(a.evidence.get("layered_shares"), Some(Value::U(900)));
    assert_eq!(a.evidence.get("cancelled_shares"), Some(Value::U(900)));
    // Completed by the third cancel (two of three = 67 % < 80 %).
    assert_eq!(a.evidence.orders().last().unwrap().role, "cancel");
    assert_eq!(
        a.evidence
            .orders()
            .iter()
            .filter(|o| o.role == "layer_order")
            .count(),
        3
    );
    assert_eq!(
        a.evidence
            .orders()
            .iter()
            .filter(|o| o.role == "opposite_execution")
            .count(),
        1
    );
}

/// A DEEP+ modify keeping priority cancels only the shares it removes from a layer order (a replace, or a modify
/// losing priority, cancels all of them).
#[test]
fn layering_deep_plus_modify_keeping_priority_cancels_what_it_removes() {
    let mut s = Sim::with(only("layering"));
    let t = s.standard_book(L, "LAYM", T10);
    let prices = [10 * D + 2 * C, 10 * D + 3 * C, 10 * D + 4 * C];
    let refs: Vec<u64> = (0..3)
        .map(|i| s.add(t + i as u64 * 200 * MS, L, Side::Sell, prices[i], 300))
        .collect();
    let te = t + 1_400 * MS;
    s.aggress(te, L, Side::Sell, 100, 9 * D);
    // Each layer order cut from 300 to 100 shares in place: 600 of 900 cancelled (67 %).
    for (i, r) in refs.iter().enumerate() {
        s.modify(te + (100 + 50 * i as u64) * MS, L, *r, 100, prices[i], true);
    }
    assert!(s.of("layering").is_empty(), "{:#?}", s.alerts);
    // One remainder deleted: 700 (78 %); a second: 800 (89 %) completes the layer.
    s.delete(te + 400 * MS, L, refs[0]);
    assert!(s.of("layering").is_empty(), "{:#?}", s.alerts);
    s.delete(te + 450 * MS, L, refs[1]);
    let a = s.of("layering");
    assert_eq!(a.len(), 1, "{:#?}", s.alerts);
    assert_eq!(a[0].evidence.get("layered_shares"), Some(Value::U(900)));
    assert_eq!(a[0].evidence.get("cancelled_shares"), Some(Value::U(800)));

    // The same cuts losing priority withdraw the orders: the third completes the layer (900 of 900).
    let mut s = Sim::with(only("layering"));
    let t = s.standard_book(L, "LAYM", T10);
    let refs: Vec<u64> = (0..3)
        .map(|i| s.add(t + i as u64 * 200 * MS, L, Side::Sell, prices[i], 300))
        .collect();
    s.aggress(te, L, Side::Sell, 100, 9 * D);
    for (i, r) in refs.iter().enumerate() {
        s.modify(
            te + (100 + 50 * i as u64) * MS,
            L,
            *r,
            100,
            prices[i],
            false,
        );
    }
    assert_eq!(s.of("layering").len(), 1, "{:#?}", s.alerts);
}

#[test]
fn layering_near_misses() {
    // Two distinct levels only.
    let c = LayerCase {
        prices: [10 * D + 2 * C, 10 * D + 3 * C, 10 * D + 3 * C],
        ..Default::default()
    };
    assert!(layer(c).of("layering").is_empty());
    // One order below 2x the median.
    let c = LayerCase {
        sizes: [300, 199, 300],
        ..Default::default()
    };
    assert!(layer(c).of("layering").is_empty());
    // Execution more than 5 s after the last placement.
    let c = LayerCase {
        exec_after: 5_100 * MS,
        ..Default::default()
    };
    assert!(layer(c).of("layering").is_empty());
    // Cancels end more than 1 s after the execution (third at 1.1 s).
    let c = LayerCase {
        cancel_after: 900 * MS,
        ..Default::default()
    };
    assert!(layer(c).of("layering").is_empty());
    // Only 2 of 3 cancelled (67 % < 80 %).
    let c = LayerCase {
        cancel_n: 2,
        ..Default::default()
    };
    assert!(layer(c).of("layering").is_empty());
    // The execution is on the layered side, not the opposite one.
    let c = LayerCase {
        opposite: false,
        ..Default::default()
    };
    assert!(layer(c).of("layering").is_empty());
}

#[test]
fn layering_groups_by_mpid() {
    let c = LayerCase {
        mpids: [*b"AAAA", *b"AAAA", *b"BBBB"],
        ..Default::default()
    };
    assert!(
        layer(c).of("layering").is_empty(),
        "two MPIDs: neither group has 3 levels"
    );
    let c = LayerCase {
        mpids: [*b"AAAA"; 3],
        ..Default::default()
    };
    let s = layer(c);
    let a = s.of("layering");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].evidence.get("mpid"), Some(Value::text(b"AAAA")));
}

#[test]
fn layering_fraction_counts_whole_layer() {
    // Four large orders at four levels; three are cancelled (3 x 300 = 900 of 1300 = 69 %): no alert, although a
    // subset of three would be 100 % cancelled.
    let mut s = Sim::with(only("layering"));
    let t = s.standard_book(L, "LAYR", T10);
    let mut refs = Vec::new();
    for (i, q) in [300u32, 300, 300, 400].into_iter().enumerate() {
        refs.push(s.add(
            t + i as u64 * 100 * MS,
            L,
            Side::Sell,
            10 * D + (2 + i as i64) * C,
            q,
        ));
    }
    s.aggress(t + 1_000 * MS, L, Side::Sell, 100, 9 * D);
    for r in &refs[..3] {
        s.delete(t + 1_200 * MS, L, *r);
    }
    assert!(s.of("layering").is_empty());
    s.delete(t + 1_300 * MS, L, refs[3]);
    assert_eq!(s.of("layering").len(), 1);
}

#[test]
fn layering_rearms_on_a_later_execution_before_cancels() {
    // Layer, an opposite execution, another opposite execution 1.5 s later, then the cancels 0.3 s after the second:
    // "within 1 s of that execution" holds for the second one.
    let mut s = Sim::with(only("layering"));
    let t = s.standard_book(L, "LAYR", T10);
    let refs: Vec<u64> = (0..3)
        .map(|i| {
            s.add(
                t + i * 100 * MS,
                L,
                Side::Sell,
                10 * D + (2 + i as i64) * C,
                300,
            )
        })
        .collect();
    s.aggress(t + 500 * MS, L, Side::Sell, 100, 9 * D);
    s.aggress(t + 2_000 * MS, L, Side::Sell, 100, 9 * D);
    for (i, r) in refs.iter().enumerate() {
        s.delete(t + 2_300 * MS + i as u64 * 50 * MS, L, *r);
    }
    let a = s.of("layering");
    assert_eq!(a.len(), 1, "{:#?}", s.alerts);
    assert_eq!(
        a[0].evidence.get("execution_ts_ns"),
        Some(Value::U(t + 2_000 * MS))
    );
}

/// A symbol whose qualifying (300-share) sell orders live about 1 s each, for 2 minutes after trading starts, then
/// the standard three-order sell layer (`LayerCase::default()`, anonymous or under one MPID).
fn layer_after_churn(mpid: [u8; 4], cfg: detect::DetectConfig) -> Sim {
    let mut s = Sim::with(cfg);
    let t0 = s.standard_book(L, "LAYR", T10);
    s.aggress(t0, L, Side::Buy, 100, 11 * D); // trading starts
    let mut live: std::collections::VecDeque<(u64, u64)> = Default::default();
    let mut t = t0 + MS;
    for k in 0..1_200u64 {
        while live.front().is_some_and(|&(until, _)| until <= t) {
            let (_, r) = live.pop_front().unwrap();
            s.delete(t, L, r);
        }
        // Three 100-share orders for each 300-share one keep the median at 100.
        let size = if k % 4 == 0 { 300 } else { 100 };
        let r = s.add(t, L, Side::Sell, 10 * D + (6 + (k % 4) as Price) * C, size);
        live.push_back((t + 1_000 * MS, r));
        t += 100 * MS;
    }
    while let Some((until, r)) = live.pop_front() {
        s.delete(until.max(t), L, r);
    }
    let t = t + S;
    let c = LayerCase {
        mpids: [mpid; 3],
        ..LayerCase::default()
    };
    place_layer(&mut s, t, &c);
    s.finish();
    s
}

#[test]
fn layering_anonymous_needs_cancels_improbable_as_chance() {
    // Quiet symbol: the anonymous layer fires, with its chance in the evidence (no qualifying withdrawals: 0).
    let s = layer(LayerCase::default());
    let a = s.of("layering");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].evidence.get("chance"), Some(Value::F(0.0)));
    // Qualifying orders withdrawn at ~1/s: three of three within 1 s happen by chance (p = 1 - e^-1 per order,
    // chance ~0.25 > 1e-4): not reported.
    let s = layer_after_churn([0; 4], only("layering"));
    assert!(s.of("layering").is_empty(), "{:#?}", s.of("layering"));
    // The same orders under one MPID are one participant's: the literal rule applies.
    let s = layer_after_churn(*b"AAAA", only("layering"));
    let a = s.of("layering");
    assert_eq!(a.len(), 1, "{:#?}", s.alerts);
    assert_eq!(a[0].evidence.get("mpid"), Some(Value::text(b"AAAA")));
    assert_eq!(a[0].evidence.get("chance"), None);
    // With the test switched off the anonymous layer fires too.
    let mut cfg = only("layering");
    cfg.layering.anon_max_chance = 1.0;
    let s = layer_after_churn([0; 4], cfg);
    let a = s.of("layering");
    assert_eq!(a.len(), 1, "{:#?}", s.alerts);
    let chance = a[0].evidence.get("chance");
    assert!(
        matches!(chance, Some(Value::F(x)) if x > 0.05 && x < 0.6),
        "{chance:?}"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Quote stuffing
// ---------------------------------------------------------------------------------------------------------------

/// 60 s of background at `bg_per_s` order messages per second, then `n` add/delete messages spread over `span`,
/// with `trades` executions among them.
fn stuff(bg_per_s: u64, n: u32, span: u64, trades: u32) -> Sim {
    let mut s = Sim::with(only("quote_stuffing"));
    let mut t = s.standard_book(L, "STUF", T10);
    let step = S / bg_per_s.max(1);
    let end = t + 60 * S;
    while t < end {
        let r = s.add(t, L, Side::Buy, 9 * D, 100);
        s.delete(t + step / 2, L, r);
        t += step;
    }
    let dt = span / n as u64;
    let mut k = 0;
    while k < n {
        let r = s.add(t, L, Side::Sell, 11 * D, 100);
        k += 1;
        if k < n {
            s.delete(t, L, r);
            k += 1;
        }
        t += 2 * dt;
    }
    for _ in 0..trades {
        // Replenish and trade at the bid.
        s.add(t, L, Side::Buy, 10 * D, 100);
        s.aggress(t, L, Side::Sell, 100, 9 * D);
    }
    s
}

#[test]
fn quote_stuffing_fires_once_per_burst() {
    let s = stuff(5, 1_200, 40 * MS, 0);
    let a = s.of("quote_stuffing");
    assert_eq!(a.len(), 1, "{:#?}", s.alerts);
    let Some(Value::U(n)) = a[0].evidence.get("order_messages") else {
        panic!()
    };
    assert!((500..=510).contains(&n), "{n}");
    assert!(a[0].window_end_ns - a[0].window_start_ns <= 50 * MS);
    assert!(a[0].side == Side::None);
}

#[test]
fn quote_stuffing_near_misses() {
    // 450 messages in 40 ms.
    assert!(stuff(5, 450, 40 * MS, 0).of("quote_stuffing").is_empty());
    // 1200 messages spread over 200 ms: at most ~300 in any 50 ms.
    assert!(stuff(5, 1_200, 200 * MS, 0).of("quote_stuffing").is_empty());
    // The symbol's own rate is 1 000/s (50 per 50 ms): 600 is only 12x.
    assert!(stuff(1_000, 600, 30 * MS, 0)
        .of("quote_stuffing")
        .is_empty());
}

#[test]
fn quote_stuffing_needs_high_order_to_trade() {
    // 520 order messages and 12 executions in the window: ratio 43 < 50.
    let mut s = Sim::with(only("quote_stuffing"));
    let t = s.standard_book(L, "STUF", T10) + 60 * S;
    for i in 0..12u64 {
        s.add(t + i * MS, L, Side::Buy, 10 * D, 100);
        s.aggress(t + i * MS, L, Side::Sell, 100, 9 * D);
    }
    let mut k = 12;
    let mut ts = t + 12 * MS;
    while k < 520 {
        let r = s.add(ts, L, Side::Sell, 11 * D, 100);
        s.delete(ts, L, r);
        k += 2;
        ts += 50_000;
    }
    assert!(s.of("quote_stuffing").is_empty());
}

// ---------------------------------------------------------------------------------------------------------------
// Momentum ignition
// ---------------------------------------------------------------------------------------------------------------

/// $50 book. `n` aggressive buys over ~1.5 s each lifting one new offer a step higher, to a total move of
/// `move_cents`; then after `delay` sells retrace to `retrace` of the move.
fn momentum(n: u32, move_cents: i64, retrace: f64, delay: u64) -> Sim {
    let mut s = Sim::with(only("momentum_ignition"));
    let t = s.standard_book_at(L, "MOMO", T10, 50 * D);
    // Clear the offers, then one trade at the bid sets the last price to 50.00.
    s.clear_side(t, L, Side::Sell);
    let t = t + 5 * S;
    let start = 50 * D;
    s.aggress(t, L, Side::Sell, 100, 49 * D);
    let mut ts = t + 100 * MS;
    let mut last = start;
    for i in 1..=n as i64 {
        let p = start + (move_cents * i / n as i64) * C;
        // A seller posts at p, a buyer lifts it.
        s.add(ts, L, Side::Sell, p, 100);
        s.aggress(ts, L, Side::Buy, 100, p);
        last = p;
        ts += 1_500 * MS / n as u64;
    }
    let target = last - ((last - start) as f64 * retrace).round() as i64;
    let t2 = ts + delay;
    // Buyers post at the target, a seller hits them.
    s.add(t2, L, Side::Buy, target, 100);
    s.aggress(t2, L, Side::Sell, 100, target);
    s.finish();
    s
}

#[test]
fn momentum_ignition_fires_on_the_definition() {
    // 12 buys moving 50.00 -> 50.20 (40 bps), retrace to 50.10 (50 %) 3 s later.
    let s = momentum(12, 20, 0.5, 3 * S);
    let a = s.of("momentum_ignition");
    assert_eq!(a.len(), 1, "{:#?}", s.alerts);
    let a = a[0];
    assert_eq!(a.side, Side::Buy);
    assert_eq!(a.evidence.get("start_price"), Some(Value::Price(50 * D)));
    assert_eq!(
        a.evidence.get("peak_price"),
        Some(Value::Price(50 * D + 20 * C))
    );
    let Some(Value::F(mv)) = a.evidence.get("move_bps") else {
        panic!()
    };
    assert!((mv - 40.0).abs() < 1e-6);
    let Some(Value::F(fr)) = a.evidence.get("retrace_fraction") else {
        panic!()
    };
    assert!((fr - 0.5).abs() < 1e-9);
}

/// A run of more executions than the ring keeps records of (64 by default): its start price still measures the move.
#[test]
fn momentum_ignition_long_runs() {
    for n in [64, 65, 100, 200, 1_000] {
        let s = momentum(n, 20, 0.5, 3 * S);
        let a = s.of("momentum_ignition");
        assert_eq!(a.len(), 1, "{n} executions: {:#?}", s.alerts);
        assert_eq!(a[0].evidence.get("start_price"), Some(Value::Price(50 * D)));
        assert_eq!(
            a[0].evidence.get("ignition_executions"),
            Some(Value::U(n as u64))
        );
    }
}

#[test]
fn momentum_ignition_near_misses() {
    // 9 executions only.
    assert!(momentum(9, 20, 0.6, 2 * S)
        .of("momentum_ignition")
        .is_empty());
    // 25 bps move.
    assert!(momentum(12, 12, 0.6, 2 * S)
        .of("momentum_ignition")
        .is_empty());
    // 40 % retracement.
    assert!(momentum(12, 20, 0.4, 2 * S)
        .of("momentum_ignition")
        .is_empty());
    // Retracement 11 s after the peak.
    assert!(momentum(12, 20, 0.6, 11 * S)
        .of("momentum_ignition")
        .is_empty());
    // Boundary: exactly 10 executions, 30 bps (50.00 -> 50.15), exactly 50 %.
    assert_eq!(
        momentum(10, 15, 0.5, 2 * S).of("momentum_ignition").len(),
        1
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Marking the close
// ---------------------------------------------------------------------------------------------------------------

fn hms(h: u64, m: u64, s: u64) -> u64 {
    ((h * 60 + m) * 60 + s) * S
}

fn close_cancel(entry: u64, cancel: u64, size: u32) -> Sim {
    let mut s = Sim::with(only("marking_the_close"));
    s.standard_book(L, "MARK", hms(15, 50, 0));
    let r = s.add(entry, L, Side::Buy, 10 * D - C, size);
    s.delete(cancel, L, r);
    s.finish();
    s
}

#[test]
fn marking_the_close_cancel_variant() {
    let s = close_cancel(hms(15, 57, 0), hms(15, 59, 55), 1_000);
    let a = s.of("marking_the_close");
    assert_eq!(a.len(), 1, "{:#?}", s.alerts);
    assert_eq!(a[0].evidence.get("variant"), Some(Value::text(b"cancel")));
    assert_eq!(a[0].side, Side::Buy);
    // Boundaries: entered at exactly 15:55:00, cancelled at exactly 15:59:50.
    assert_eq!(
        close_cancel(hms(15, 55, 0), hms(15, 59, 50), 500)
            .of("marking_the_close")
            .len(),
        1
    );
    // Near misses: entered before 15:55; cancelled before the last 10 s; at the close; too small.
    assert!(close_cancel(hms(15, 54, 59), hms(15, 59, 55), 1_000)
        .of("marking_the_close")
        .is_empty());
    assert!(close_cancel(hms(15, 57, 0), hms(15, 59, 49), 1_000)
        .of("marking_the_close")
        .is_empty());
    assert!(close_cancel(hms(15, 57, 0), hms(16, 0, 0), 1_000)
        .of("marking_the_close")
        .is_empty());
    assert!(close_cancel(hms(15, 57, 0), hms(15, 59, 55), 499)
        .of("marking_the_close")
        .is_empty());
}

/// Eight large buys entered from 15:55 fill the watch list (8 places here); `filled` of them are then filled by
/// executions, the rest rest. A ninth large buy entered at 15:58 and cancelled at 15:59:55 is watched only if a
/// filled order freed its place.
fn close_watch_list(filled: usize) -> Sim {
    let mut cfg = only("marking_the_close");
    cfg.marking_the_close.max_tracked_per_symbol = 8;
    let mut s = Sim::with(cfg);
    s.standard_book(L, "MARK", hms(15, 50, 0));
    let refs: Vec<u64> = (0..8u64)
        .map(|i| s.add(hms(15, 55, 1) + i * S, L, Side::Buy, 10 * D - 3 * C, 1_000))
        .collect();
    for (i, &r) in refs.iter().take(filled).enumerate() {
        s.exec(hms(15, 56, 0) + i as u64 * S, L, r, 1_000);
    }
    let r = s.add(hms(15, 58, 0), L, Side::Buy, 10 * D - C, 1_000);
    s.delete(hms(15, 59, 55), L, r);
    s.finish();
    s
}

#[test]
fn marking_the_close_filled_orders_leave_the_watch_list() {
    let s = close_watch_list(4);
    let a = s.of("marking_the_close");
    assert_eq!(a.len(), 1, "{:#?}", s.alerts);
    assert_eq!(a[0].evidence.get("variant"), Some(Value::text(b"cancel")));
    assert_eq!(s.set.stats().evicted_orders, 0);
    // All eight still resting: the ninth is not watched (counted), nothing fires.
    let s = close_watch_list(0);
    assert!(s.of("marking_the_close").is_empty(), "{:#?}", s.alerts);
    assert_eq!(s.set.stats().evicted_orders, 1);
}

/// Trades at 10.00/10.01 from 15:50 (VWAP ≈ 10.005), then at `at` an aggressive buy of `qty` sweeping offers that
/// were stacked at 10.01 .. 10.01 + `levels` cents.
fn close_push(at: u64, qty: u32, levels: i64) -> Sim {
    let mut s = Sim::with(only("marking_the_close"));
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
    s.add(at + S, L, Side::Buy, 9 * D, 100); // something after, which completes the sweep
    s.finish();
    s
}

#[test]
fn marking_the_close_push_variant() {
    // 1 000 shares sweeping 10.01 .. 10.06 at 15:59:30: last price 10.06 vs VWAP ~10.005 = ~55 bps.
    let s = close_push(hms(15, 59, 30), 1_000, 5);
    let a = s.of("marking_the_close");
    assert_eq!(a.len(), 1, "{:#?}", s.alerts);
    assert_eq!(a[0].evidence.get("variant"), Some(Value::text(b"push")));
    let Some(Value::F(dev)) = a[0].evidence.get("deviation_bps") else {
        panic!()
    };
    assert!(dev > 50.0 && dev < 60.0, "{dev}");
    // Near misses: 2 cents above VWAP (~25 bps); too small an order; before 15:55.
    assert!(close_push(hms(15, 59, 30), 1_000, 1)
        .of("marking_the_close")
        .is_empty());
    assert!(close_push(hms(15, 59, 30), 450, 5)
        .of("marking_the_close")
        .is_empty());
    assert!(close_push(hms(15, 54, 30), 1_000, 5)
        .of("marking_the_close")
        .is_empty());
}

#[test]
fn marking_the_close_push_without_recent_trades_uses_last_price() {
    // One trade at 10.00 at 15:40 (outside the 5-minute window), then a 1 000-share buy sweep to 10.06 at 15:59.
    let mut s = Sim::with(only("marking_the_close"));
    let t = s.standard_book(L, "MARK", hms(15, 40, 0));
    s.aggress(t, L, Side::Sell, 100, 9 * D);
    s.clear_side(hms(15, 58, 0), L, Side::Sell);
    for k in 0..=5 {
        s.add(hms(15, 58, 30), L, Side::Sell, 10 * D + C + k * C, 167);
    }
    s.aggress(hms(15, 59, 0), L, Side::Buy, 1_000, 20 * D);
    s.finish();
    let a = s.of("marking_the_close");
    assert_eq!(a.len(), 1, "{:#?}", s.alerts);
    assert_eq!(
        a[0].evidence.get("reference"),
        Some(Value::text(b"last_price"))
    );
    assert_eq!(
        a[0].evidence.get("reference_price"),
        Some(Value::Price(10 * D))
    );
    assert_eq!(a[0].evidence.get("vwap"), Some(Value::Price(0)));
}

// ---------------------------------------------------------------------------------------------------------------
// Coordinated buying
// ---------------------------------------------------------------------------------------------------------------

fn coord_setup(n: u16) -> (Sim, u64) {
    let mut s = Sim::with(only("coordinated_buying"));
    let mut t = T10;
    for i in 0..n {
        t = s.standard_book(10 + i, &format!("CO{i}"), t);
    }
    // Continuous trading has started (a sell, which does not qualify): the anonymous variant judges symbols once
    // there are `anon_min_history_ms` [60 s] of baseline (counted in whole 5-s buckets).
    s.aggress(t, 10 + n - 1, Side::Sell, 100, 9 * D);
    (s, t + 70 * S)
}

#[test]
fn coordinated_buying_by_mpid() {
    let (mut s, t) = coord_setup(4);
    // 100 shares improving the bid (10.00 -> 10.005 is sub-penny; use a full cent inside the 1-cent spread? the
    // spread is one cent, so improve by crossing to the offer = marketable) in three symbols within 2 s.
    for (k, loc) in [10u16, 11, 12].into_iter().enumerate() {
        s.add_mpid(
            t + k as u64 * 900 * MS,
            loc,
            Side::Buy,
            10 * D + C,
            100,
            b"COOR",
        );
    }
    let a = s.of("coordinated_buying");
    assert_eq!(per_symbol_episode(&a), ["CO2", "CO0", "CO1"]);
    assert_eq!(a[0].evidence.get("variant"), Some(Value::text(b"mpid")));
    assert_eq!(a[0].evidence.get("symbols"), Some(Value::U(3)));
    let syms: Vec<_> = a[0]
        .evidence
        .orders()
        .iter()
        .map(|o| o.symbol.as_str().to_string())
        .collect();
    assert_eq!(syms, ["CO0", "CO1", "CO2"]);
}

/// The alerts of one coordinated episode: one per symbol, the same record but for `symbol` / `stock_locate`
/// (`completing_symbol` names the first one's). Returns their symbols in order.
fn per_symbol_episode(a: &[&detect::Alert]) -> Vec<String> {
    assert!(!a.is_empty());
    let first = a[0];
    assert_eq!(
        first.evidence.get("completing_symbol"),
        Some(Value::text(first.symbol.as_str().as_bytes()))
    );
    for x in a {
        let mut y = **x;
        y.symbol = first.symbol;
        y.stock_locate = first.stock_locate;
        assert_eq!(alert_json(&y), alert_json(first));
    }
    let syms: Vec<String> = a.iter().map(|x| x.symbol.as_str().to_string()).collect();
    let mut distinct = syms.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), syms.len(), "{syms:?}");
    syms
}

#[test]
fn coordinated_buying_mpid_near_misses() {
    // Two symbols.
    let (mut s, t) = coord_setup(4);
    for (k, loc) in [10u16, 11].into_iter().enumerate() {
        s.add_mpid(
            t + k as u64 * 500 * MS,
            loc,
            Side::Buy,
            10 * D + C,
            100,
            b"COOR",
        );
    }
    assert!(s.of("coordinated_buying").is_empty());
    // 201 shares.
    let (mut s, t) = coord_setup(4);
    for (k, loc) in [10u16, 11, 12].into_iter().enumerate() {
        s.add_mpid(
            t + k as u64 * 500 * MS,
            loc,
            Side::Buy,
            10 * D + C,
            201,
            b"COOR",
        );
    }
    assert!(s.of("coordinated_buying").is_empty());
    // Spread over 3.2 s.
    let (mut s, t) = coord_setup(4);
    for (k, loc) in [10u16, 11, 12].into_iter().enumerate() {
        s.add_mpid(
            t + k as u64 * 1_600 * MS,
            loc,
            Side::Buy,
            10 * D + C,
            100,
            b"COOR",
        );
    }
    assert!(s.of("coordinated_buying").is_empty());
    // Joining the bid instead of improving it.
    let (mut s, t) = coord_setup(4);
    for (k, loc) in [10u16, 11, 12].into_iter().enumerate() {
        s.add_mpid(
            t + k as u64 * 500 * MS,
            loc,
            Side::Buy,
            10 * D,
            100,
            b"COOR",
        );
    }
    assert!(s.of("coordinated_buying").is_empty());
    // Different MPIDs.
    let (mut s, t) = coord_setup(4);
    for (k, (loc, m)) in [(10u16, b"AAAA"), (11, b"BBBB"), (12, b"AAAA")]
        .into_iter()
        .enumerate()
    {
        s.add_mpid(t + k as u64 * 500 * MS, loc, Side::Buy, 10 * D + C, 100, m);
    }
    assert!(s.of("coordinated_buying").is_empty());
}

#[test]
fn coordinated_buying_anonymous() {
    // Quiet symbols (no qualifying buys in their baseline), then 4 small marketable buys each in three of them.
    let (mut s, t) = coord_setup(4);
    for (k, loc) in [10u16, 11, 12].into_iter().enumerate() {
        for j in 0..4u64 {
            let ts = t + k as u64 * 600 * MS + j * 100 * MS;
            s.aggress(ts, loc, Side::Buy, 100, 11 * D);
        }
    }
    s.add(t + 5 * S, 13, Side::Buy, 9 * D, 100); // completes the last sweep
    let a = s.of("coordinated_buying");
    assert_eq!(per_symbol_episode(&a), ["CO2", "CO0", "CO1"]);
    assert_eq!(
        a[0].evidence.get("variant"),
        Some(Value::text(b"anonymous"))
    );
    assert_eq!(a[0].evidence.get("symbols"), Some(Value::U(3)));

    // Three buys per symbol only (below the per-symbol floor of 4).
    let (mut s, t) = coord_setup(4);
    for (k, loc) in [10u16, 11, 12].into_iter().enumerate() {
        for j in 0..3u64 {
            s.aggress(
                t + k as u64 * 600 * MS + j * 100 * MS,
                loc,
                Side::Buy,
                100,
                11 * D,
            );
        }
    }
    s.finish();
    assert!(s.of("coordinated_buying").is_empty());

    // A symbol whose baseline is busy: 10 qualifying buys per 3 s on average needs >= 100 in the window.
    let (mut s, mut t) = coord_setup(4);
    let end = t + 300 * S;
    while t < end {
        for loc in [10u16, 11, 12] {
            s.add(t, loc, Side::Sell, 10 * D + C, 100);
            s.aggress(t, loc, Side::Buy, 100, 11 * D);
        }
        t += 300 * MS;
    }
    // (The start of that synchronised activity was itself unusual; only the state after 5 minutes matters here.)
    let before = s.of("coordinated_buying").len();
    for (k, loc) in [10u16, 11, 12].into_iter().enumerate() {
        for j in 0..4u64 {
            s.aggress(
                t + k as u64 * 600 * MS + j * 100 * MS,
                loc,
                Side::Buy,
                100,
                11 * D,
            );
        }
    }
    s.finish();
    assert_eq!(
        s.of("coordinated_buying").len(),
        before,
        "{:#?}",
        s.alerts.last()
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Order-to-trade ratio
// ---------------------------------------------------------------------------------------------------------------

/// Four small marketable buys in each of symbols 10, 11, 12 starting at `t` (as in `coordinated_buying_anonymous`).
fn coord_anon_burst(s: &mut Sim, t: u64) {
    for (k, loc) in [10u16, 11, 12].into_iter().enumerate() {
        for j in 0..4u64 {
            s.aggress(
                t + k as u64 * 600 * MS + j * 100 * MS,
                loc,
                Side::Buy,
                100,
                11 * D,
            );
        }
    }
    s.add(t + 5 * S, 13, Side::Buy, 9 * D, 100); // completes the last sweep
    s.finish();
}

/// A symbol counts for the 3 s windows that hold its latest unusual buy, not only its first one.
#[test]
fn coordinated_buying_anonymous_symbol_unusual_again() {
    // Symbol 10 turns unusual at t + 150 ms (its 4th buy), symbol 11 at t + 2.5 s, symbol 12 at t + 3.2 s: 10's
    // first unusual buy is then 3.05 s old. With `again`, 10 buys once more at t + 2.9 s (5 in its window, still
    // unusual), so 10, 11 and 12 are unusual within 3 s.
    let run = |again: bool| {
        let (mut s, t) = coord_setup(4);
        let mut buys: Vec<(u64, u16)> = (0..4u64).map(|j| (t + j * 50 * MS, 10)).collect();
        buys.extend((0..4u64).map(|j| (t + 2_200 * MS + j * 100 * MS, 11)));
        if again {
            buys.push((t + 2_900 * MS, 10));
        }
        buys.extend((0..4u64).map(|j| (t + 2_950 * MS + j * 83 * MS, 12)));
        for (ts, loc) in buys {
            s.aggress(ts, loc, Side::Buy, 100, 11 * D);
        }
        s.add(t + 5 * S, 13, Side::Buy, 9 * D, 100); // completes the last sweep
        s.finish();
        s
    };
    let s = run(false);
    assert!(s.of("coordinated_buying").is_empty(), "{:#?}", s.alerts);
    let s = run(true);
    let a = s.of("coordinated_buying");
    assert_eq!(per_symbol_episode(&a), ["CO2", "CO0", "CO1"]);
    assert_eq!(a[0].evidence.get("symbols"), Some(Value::U(3)));
}

#[test]
fn coordinated_buying_anonymous_warm_up_and_trailing_peak() {
    // No trade before the burst: continuous trading starts with it, there is no baseline yet, nothing is judged.
    let mut s = Sim::with(only("coordinated_buying"));
    let mut t = T10;
    for i in 0..4u16 {
        t = s.standard_book(10 + i, &format!("CO{i}"), t);
    }
    coord_anon_burst(&mut s, t + 70 * S);
    assert!(s.of("coordinated_buying").is_empty(), "{:#?}", s.alerts);

    // Symbol 10 already had a burst of 5 such buys 4 minutes earlier: 4 now is not above its trailing peak.
    let burst_first = |cfg: detect::DetectConfig| {
        let mut s = Sim::with(cfg);
        let mut t = T10;
        for i in 0..4u16 {
            t = s.standard_book(10 + i, &format!("CO{i}"), t);
        }
        s.aggress(t, 13, Side::Sell, 100, 9 * D);
        let t = t + 70 * S;
        for j in 0..5u64 {
            s.aggress(t + j * 100 * MS, 10, Side::Buy, 100, 11 * D);
        }
        coord_anon_burst(&mut s, t + 240 * S);
        s
    };
    let s = burst_first(only("coordinated_buying"));
    assert!(s.of("coordinated_buying").is_empty(), "{:#?}", s.alerts);
    // Without the trailing-peak rule symbol 10 is unusual again (10x baseline, Poisson chance < 1e-5).
    let mut cfg = only("coordinated_buying");
    cfg.coordinated_buying.anon_exceed_trailing_peak = false;
    let s = burst_first(cfg);
    assert_eq!(s.of("coordinated_buying").len(), 3, "{:#?}", s.alerts);
}

#[test]
fn order_to_trade_per_symbol() {
    let mut s = Sim::with(only("order_to_trade"));
    let t0 = s.standard_book(L, "OTRX", T10) + 120 * S;
    // 2 400 order messages over 30 s, 5 executions: ratio 480.
    for i in 0..1_200u64 {
        let ts = t0 + i * 25 * MS;
        let r = s.add(ts, L, Side::Buy, 9 * D, 100);
        s.delete(ts + MS, L, r);
        if i % 240 == 0 {
            s.aggress(ts, L, Side::Sell, 10, 9 * D);
        }
    }
    let a = s.of("order_to_trade");
    assert_eq!(a.len(), 1, "{:#?}", s.alerts);
    assert_eq!(a[0].evidence.get("variant"), Some(Value::text(b"symbol")));
    let Some(Value::U(n)) = a[0].evidence.get("order_messages") else {
        panic!()
    };
    assert!(n >= 2_000);

    // Same flow with an execution every 10 adds: ratio ~20.
    let mut s = Sim::with(only("order_to_trade"));
    let t0 = s.standard_book(L, "OTRX", T10) + 120 * S;
    for i in 0..1_200u64 {
        let ts = t0 + i * 25 * MS;
        let r = s.add(ts, L, Side::Buy, 9 * D, 100);
        s.delete(ts + MS, L, r);
        if i % 10 == 0 {
            s.add(ts, L, Side::Buy, 10 * D, 10);
            s.aggress(ts, L, Side::Sell, 10, 9 * D);
        }
    }
    assert!(s.of("order_to_trade").is_empty(), "{:#?}", s.alerts);
}

#[test]
fn order_to_trade_per_mpid() {
    let mut s = Sim::with(only("order_to_trade"));
    let t0 = s.standard_book(L, "OTRM", T10) + 120 * S;
    // MPID QSTF: 1 100 order messages over 40 s, none executed; the symbol trades often, so the symbol-level ratio
    // stays low.
    for i in 0..550u64 {
        let ts = t0 + i * 70 * MS;
        let r = s.add_mpid(ts, L, Side::Sell, 11 * D, 100, b"QSTF");
        s.delete(ts + MS, L, r);
        if i % 5 == 0 {
            s.add(ts, L, Side::Buy, 10 * D, 10);
            s.aggress(ts, L, Side::Sell, 10, 9 * D);
        }
    }
    let a = s.of("order_to_trade");
    assert_eq!(a.len(), 1, "{:#?}", s.alerts);
    assert_eq!(a[0].evidence.get("variant"), Some(Value::text(b"mpid")));
    assert_eq!(a[0].evidence.get("mpid"), Some(Value::text(b"QSTF")));
}

// ---------------------------------------------------------------------------------------------------------------
// Determinism and the record
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn same_events_same_bytes() {
    let run = || {
        let mut s = Sim::new();
        s.keep_events = true;
        let t = s.standard_book(L, "DETR", T10);
        let big = s.add(t, L, Side::Buy, 10 * D, 1_000);
        s.aggress(t + 100 * MS, L, Side::Buy, 100, 11 * D);
        s.delete(t + 200 * MS, L, big);
        s.finish();
        s
    };
    let a = run();
    let b = run();
    assert!(!a.alerts.is_empty());
    assert_eq!(a.json(), b.json());
    // And replaying the recorded events into a fresh set gives the same bytes.
    let mut set = detect::DetectorSet::default();
    let mut out = Vec::new();
    for ev in &a.events {
        set.on_event(ev, &mut |al: &detect::Alert| {
            al.write_json_line(&mut out, None)
        });
    }
    set.finish(&mut |al: &detect::Alert| al.write_json_line(&mut out, None));
    assert_eq!(out, a.json());
}

#[test]
fn alert_json_matches_schema_shape() {
    let s = spoof(1_000, 10 * D - C, true, 900 * MS, false);
    let line = s.json();
    let v: serde_json::Value = serde_json::from_slice(&line[..line.len() - 1]).unwrap();
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    for k in alert_required_fields() {
        assert!(keys.contains(&k), "missing {k}");
    }
    assert_eq!(v["detector"], "spoofing");
    assert_eq!(v["side"], "buy");
    assert_eq!(v["stock_locate"], L);
    assert!(v["evidence"]["orders"].as_array().unwrap().len() == 3);
}

// ---------------------------------------------------------------------------------------------------------------
// Sliding features: kept only when asked for
// ---------------------------------------------------------------------------------------------------------------

/// Without `keep_sliding_features` the set keeps no sliding window and `features` is `None`; with it, the window
/// counts the symbol's events of the last `[features] window_ms` (1 s by default, 50 ms buckets).
#[test]
fn sliding_features_only_when_kept() {
    let run = |keep: bool| {
        let mut s = Sim::new();
        if keep {
            s.set.keep_sliding_features();
        }
        s.directory(L, "FEAT");
        let t = T10;
        let a = s.add(t, L, Side::Buy, 10 * D, 100);
        s.add(t + 100 * MS, L, Side::Sell, 10 * D + C, 200);
        s.add(t + 2 * S, L, Side::Buy, 10 * D - C, 300);
        s.cancel(t + 2 * S + 10 * MS, L, a, 50);
        s.set.features(L)
    };
    assert!(run(false).is_none());
    let f = run(true).expect("kept");
    // The first two adds (at t, t + 100 ms) left the 1 s window before t + 2 s.
    assert_eq!(
        (f.counts.messages, f.counts.adds, f.counts.cancels),
        (2, 1, 1)
    );
}
