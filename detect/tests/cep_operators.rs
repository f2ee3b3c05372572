//! Unit tests of the CEP operators, quantifiers and skip strategies, mostly on the examples of the Flink CEP
//! documentation (expected matches written by hand from the documented semantics).
//!
//! | operator | tests |
//! |---|---|
//! | strict `next` | `strict_next`, `partitions_are_independent`, `partition_by_mpid_order_ref_and_combined` |
//! | relaxed `followed_by` | `relaxed_followed_by`, `relaxed_uses_the_condition_with_earlier_bindings` |
//! | `followed_by_any` | `non_deterministic_followed_by_any`, `skip_strategies` |
//! | `not_next` | `not_next`, `not_next_at_the_end` |
//! | `not_followed_by` | `not_followed_by_between_steps` |
//! | absence at the end, fired by the event-time timer | `not_followed_by_at_the_end_fires_on_the_timer`, `advance_to_fires_timers_without_events`, `skip_applies_to_timer_completed_matches` |
//! | `times n` / `times n..m` / `times n..` | `times_exact_and_range`, `greedy_loop` |
//! | `one_or_more` (relaxed, `consecutive`, `allow_combinations`) | `loop_with_relaxed_inner_contiguity`, `loop_with_consecutive`, `loop_with_allow_combinations` |
//! | `optional` | `optional_step` |
//! | `greedy` | `greedy_loop`, `greedy_loop_at_the_end_waits_for_the_next_event_or_the_window` |
//! | `within` | `within_bounds_the_whole_match`, `not_followed_by_at_the_end_fires_on_the_timer` |
//! | `partition by` symbol / none | `partitions_are_independent` |
//! | `partition by` mpid / order_ref / (symbol, mpid) | `partition_by_mpid_order_ref_and_combined` |
//! | `not_preceded_by … within` | `not_preceded_by_anchors_the_start` |
//! | skip `no_skip` / `past_last_event` / `to_next` | `skip_strategies`, `skip_applies_to_timer_completed_matches` |
//!
//! `cep_prop.rs` checks all of them (except the mpid / order_ref keys) against a naive reference matcher on
//! random patterns and streams.

use std::sync::Arc;

use detect::cep::{
    CepEvent, CompileContext, Engine, EngineConfig, FieldId, KindId, RuleSet, Schema,
};

fn schema() -> Arc<Schema> {
    Arc::new(
        Schema::builder()
            .field("x")
            .side_field("side")
            .kind("A", &["x", "side"])
            .kind("B", &["x", "side"])
            .kind("C", &["x", "side"])
            .kind("D", &["x", "side"])
            .build(),
    )
}

fn engine(src: &str) -> Engine {
    let mut rules = RuleSet::new(CompileContext::new(schema()));
    rules
        .add_str("test.cep", src)
        .unwrap_or_else(|e| panic!("{e}"));
    Engine::new(rules, EngineConfig::small())
}

/// An event named like `A1`: kind `A`, `seq` = its index in the stream (set by `feed`), `x` = the digit suffix.
fn ev(name: &str, ts_s: f64) -> CepEvent {
    let k = &name[..1];
    let kind = KindId(["A", "B", "C", "D"].iter().position(|&n| n == k).unwrap() as u8);
    let x: f64 = name[1..].parse().unwrap_or(0.0);
    CepEvent::new(kind, (ts_s * 1e9) as u64).with(FieldId(0), x)
}

#[derive(Debug, Clone, PartialEq)]
struct Got {
    rule: String,
    events: Vec<String>,
    by_timer: bool,
    event_ts_ns: u64,
    score: f64,
    side: i8,
}

/// Feeds `(name, ts)` pairs (key 0), then finishes; returns matches as lists of `step=name`.
fn feed(engine: &mut Engine, evs: &[(&str, f64)]) -> Vec<Got> {
    feed_keyed(
        engine,
        &evs.iter().map(|&(n, t)| (n, t, 0u16)).collect::<Vec<_>>(),
    )
}

fn feed_keyed(engine: &mut Engine, evs: &[(&str, f64, u16)]) -> Vec<Got> {
    let names: Vec<String> = evs.iter().map(|e| e.0.to_owned()).collect();
    let mut out = Vec::new();
    let mut sink = |m: &detect::cep::Match<'_>| {
        out.push(Got {
            rule: m.rule().name().to_owned(),
            events: m
                .named_events()
                .map(|(s, e)| format!("{s}={}", names[e.seq as usize]))
                .collect(),
            by_timer: m.by_timer,
            event_ts_ns: m.event_ts_ns,
            score: m.score,
            side: m.side,
        })
    };
    for (i, &(n, t, key)) in evs.iter().enumerate() {
        let mut e = ev(n, t);
        e.seq = i as u64;
        e.locate = key;
        engine.on_event(&e, &(), &mut sink);
    }
    engine.finish(&(), &mut sink);
    out
}

/// Matches completing on the same event come out ordered by first position, then by their bound positions
/// (so `a=A1 a=A2 b=B1` before `a=A1 b=B1`); tests that only care about the set sort them by length and text.
fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)));
    v
}

fn names(got: &[Got]) -> Vec<String> {
    got.iter().map(|g| g.events.join(" ")).collect()
}

fn seq(names: &[&str]) -> Vec<(&'static str, f64)> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                Box::leak(n.to_string().into_boxed_str()) as &str,
                i as f64 * 0.001,
            )
        })
        .collect()
}

fn rule(body: &str) -> String {
    format!("rule r {{\n  within 1h\n  {body}\n}}\n")
}

#[test]
fn strict_next() {
    let src = rule("pattern { a: A\n next b: B }");
    assert_eq!(
        names(&feed(&mut engine(&src), &seq(&["A1", "A2", "B1"]))),
        ["a=A2 b=B1"]
    );
    assert_eq!(
        names(&feed(&mut engine(&src), &seq(&["A1", "B1", "B2"]))),
        ["a=A1 b=B1"]
    );
    // Events outside the rule's input (D) do not break strict contiguity…
    assert_eq!(
        names(&feed(&mut engine(&src), &seq(&["A1", "D1", "B1"]))),
        ["a=A1 b=B1"]
    );
    // …unless the rule takes every event.
    let all = rule("events all\n pattern { a: A\n next b: B }");
    assert!(names(&feed(&mut engine(&all), &seq(&["A1", "D1", "B1"]))).is_empty());
}

#[test]
fn relaxed_followed_by() {
    let src = rule("pattern { a: A\n followed_by b: B }");
    // Flink docs: "a b" on a, c, b1, b2 → {a b1}.
    assert_eq!(
        names(&feed(&mut engine(&src), &seq(&["A1", "C1", "B1", "B2"]))),
        ["a=A1 b=B1"]
    );
}

#[test]
fn non_deterministic_followed_by_any() {
    let src = rule("pattern { a: A\n followed_by_any b: B }");
    assert_eq!(
        names(&feed(&mut engine(&src), &seq(&["A1", "C1", "B1", "B2"]))),
        ["a=A1 b=B1", "a=A1 b=B2"]
    );
}

#[test]
fn relaxed_uses_the_condition_with_earlier_bindings() {
    // b must be the first B after a whose x exceeds a's.
    let src = rule("pattern { a: A\n followed_by b: B where b.x > a.x }");
    assert_eq!(
        names(&feed(&mut engine(&src), &seq(&["A5", "B1", "B7", "B9"]))),
        ["a=A5 b=B7"]
    );
}

const LOOP_STREAM: [&str; 8] = ["C0", "D1", "A1", "A2", "A3", "D2", "A4", "B0"];

fn loop_rule(inner: &str) -> String {
    rule(&format!(
        "events all\n pattern {{ c: C\n followed_by a: A one_or_more {inner}\n followed_by b: B }}"
    ))
}

#[test]
fn loop_with_relaxed_inner_contiguity() {
    // Flink docs "Contiguity within looping patterns", relaxed (default).
    let got = sorted(names(&feed(
        &mut engine(&loop_rule("")),
        &seq(&LOOP_STREAM),
    )));
    assert_eq!(
        got,
        [
            "c=C0 a=A1 b=B0",
            "c=C0 a=A1 a=A2 b=B0",
            "c=C0 a=A1 a=A2 a=A3 b=B0",
            "c=C0 a=A1 a=A2 a=A3 a=A4 b=B0"
        ]
    );
}

#[test]
fn loop_with_consecutive() {
    let got = sorted(names(&feed(
        &mut engine(&loop_rule("consecutive")),
        &seq(&LOOP_STREAM),
    )));
    assert_eq!(
        got,
        [
            "c=C0 a=A1 b=B0",
            "c=C0 a=A1 a=A2 b=B0",
            "c=C0 a=A1 a=A2 a=A3 b=B0"
        ]
    );
}

#[test]
fn loop_with_allow_combinations() {
    let got = names(&feed(
        &mut engine(&loop_rule("allow_combinations")),
        &seq(&LOOP_STREAM),
    ));
    let mut want = vec![
        "c=C0 a=A1 b=B0",
        "c=C0 a=A1 a=A2 b=B0",
        "c=C0 a=A1 a=A3 b=B0",
        "c=C0 a=A1 a=A4 b=B0",
        "c=C0 a=A1 a=A2 a=A3 b=B0",
        "c=C0 a=A1 a=A2 a=A4 b=B0",
        "c=C0 a=A1 a=A3 a=A4 b=B0",
        "c=C0 a=A1 a=A2 a=A3 a=A4 b=B0",
    ];
    let mut got = got;
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn times_exact_and_range() {
    let exact = rule("pattern { a: A times 2 }");
    assert_eq!(
        names(&feed(&mut engine(&exact), &seq(&["A1", "A2", "A3"]))),
        ["a=A1 a=A2", "a=A2 a=A3"]
    );
    let range = rule("pattern { a: A times 2..3 }");
    assert_eq!(
        sorted(names(&feed(&mut engine(&range), &seq(&["A1", "A2", "A3"])))),
        ["a=A1 a=A2", "a=A2 a=A3", "a=A1 a=A2 a=A3"]
    );
    let at_least = rule("pattern { a: A times 2.. }");
    assert_eq!(
        sorted(names(&feed(
            &mut engine(&at_least),
            &seq(&["A1", "A2", "A3"])
        ))),
        ["a=A1 a=A2", "a=A2 a=A3", "a=A1 a=A2 a=A3"]
    );
}

#[test]
fn optional_step() {
    let src = rule("pattern { a: A\n followed_by b: B optional\n followed_by c: C }");
    let mut got = names(&feed(&mut engine(&src), &seq(&["A1", "B1", "C1"])));
    got.sort();
    assert_eq!(got, ["a=A1 b=B1 c=C1", "a=A1 c=C1"]);
    // Optional first step.
    let src = rule("pattern { a: A optional\n next b: B }");
    assert_eq!(
        names(&feed(&mut engine(&src), &seq(&["A1", "B1"]))),
        ["a=A1 b=B1", "b=B1"]
    );
}

#[test]
fn greedy_loop() {
    let plain = rule("pattern { a: A times 1..3\n followed_by b: B }");
    // Same completion event: ordered by first position, then positions (A2 at 2 sorts before B1 at 3).
    assert_eq!(
        names(&feed(&mut engine(&plain), &seq(&["A1", "A2", "B1"]))),
        ["a=A1 a=A2 b=B1", "a=A1 b=B1", "a=A2 b=B1"]
    );
    let greedy = rule("pattern { a: A times 1..3 greedy\n followed_by b: B }");
    assert_eq!(
        names(&feed(&mut engine(&greedy), &seq(&["A1", "A2", "B1"]))),
        ["a=A1 a=A2 b=B1", "a=A2 b=B1"]
    );
    // At its maximum a greedy loop may leave even if the next event would fit.
    let max2 = rule("pattern { a: A times 1..2 greedy\n followed_by b: B }");
    assert_eq!(
        names(&feed(&mut engine(&max2), &seq(&["A1", "A2", "A3", "B1"]))),
        ["a=A1 a=A2 b=B1", "a=A2 a=A3 b=B1", "a=A3 b=B1"]
    );
}

#[test]
fn greedy_loop_at_the_end_waits_for_the_next_event_or_the_window() {
    let src =
        "rule r { within 10s skip past_last_event events all pattern { a: A one_or_more greedy } }";
    let mut e = engine(src);
    let got = feed(
        &mut e,
        &[
            ("A1", 0.0),
            ("A2", 1.0),
            ("A3", 2.0),
            ("B1", 3.0),
            ("A4", 20.0),
        ],
    );
    // {A1 A2 A3} completes when B1 shows the loop cannot continue; A4 completes at the end of its window.
    assert_eq!(names(&got), ["a=A1 a=A2 a=A3", "a=A4"]);
    assert!(!got[0].by_timer);
    assert_eq!(got[0].event_ts_ns, 3_000_000_000);
    assert!(got[1].by_timer);
    assert_eq!(got[1].event_ts_ns, 30_000_000_000);
}

#[test]
fn not_next() {
    let src = rule("pattern { a: A\n not_next x: B\n followed_by c: C }");
    assert!(names(&feed(&mut engine(&src), &seq(&["A1", "B1", "C1"]))).is_empty());
    assert_eq!(
        names(&feed(&mut engine(&src), &seq(&["A1", "C1"]))),
        ["a=A1 c=C1"]
    );
    // Only the very next event is tested.
    assert_eq!(
        names(&feed(&mut engine(&src), &seq(&["A1", "A2", "B1", "C1"]))),
        ["a=A1 c=C1"]
    );
    // The guard's condition can use earlier bindings.
    let src = rule("pattern { a: A\n not_next x: B where x.x == a.x\n followed_by c: C }");
    assert_eq!(
        names(&feed(&mut engine(&src), &seq(&["A1", "B2", "C1"]))),
        ["a=A1 c=C1"]
    );
    assert!(names(&feed(&mut engine(&src), &seq(&["A1", "B1", "C1"]))).is_empty());
}

#[test]
fn not_followed_by_between_steps() {
    let src = rule("pattern { a: A\n not_followed_by x: B\n followed_by c: C }");
    assert!(names(&feed(&mut engine(&src), &seq(&["A1", "D1", "B1", "C1"]))).is_empty());
    assert_eq!(
        names(&feed(&mut engine(&src), &seq(&["A1", "D1", "C1"]))),
        ["a=A1 c=C1"]
    );
    // An A after the B starts a fresh, clean match.
    assert_eq!(
        names(&feed(&mut engine(&src), &seq(&["A1", "B1", "A2", "C1"]))),
        ["a=A2 c=C1"]
    );
}

#[test]
fn not_followed_by_at_the_end_fires_on_the_timer() {
    let src = "rule r { within 5s pattern { a: A\n not_followed_by x: B } }";
    // No B within 5 s of A1: the match fires when event time passes 5 s (D1 at 6 s, another key even).
    let mut e = engine(src);
    let got = feed_keyed(&mut e, &[("A1", 0.0, 1), ("C1", 1.0, 1), ("D1", 6.0, 2)]);
    assert_eq!(names(&got), ["a=A1"]);
    assert!(got[0].by_timer);
    assert_eq!(got[0].event_ts_ns, 5_000_000_000);
    // A B within the window cancels it.
    let got = feed(&mut engine(src), &[("A1", 0.0), ("B1", 4.9), ("D1", 6.0)]);
    assert!(got.is_empty());
    // A B exactly at the window end is outside the window ([start, start + 5 s)).
    let got = feed(&mut engine(src), &[("A1", 0.0), ("B1", 5.0)]);
    assert_eq!(names(&got), ["a=A1"]);
    // At end of stream, finish() fires pending timers.
    let got = feed(&mut engine(src), &[("A1", 0.0), ("C1", 1.0)]);
    assert_eq!(names(&got), ["a=A1"]);
    assert_eq!(got[0].event_ts_ns, 5_000_000_000);
}

#[test]
fn advance_to_fires_timers_without_events() {
    let mut e = engine("rule r { within 5s pattern { a: A\n not_followed_by x: B } }");
    let mut n = 0;
    e.on_event(&ev("A1", 0.0), &(), |_| n += 1);
    e.advance_to(4_999_999_999, 0, &(), |_| n += 1);
    assert_eq!(n, 0);
    e.advance_to(5_000_000_000, 0, &(), |_| n += 1);
    assert_eq!(n, 1);
    assert_eq!(
        e.stats().partitions_live,
        0,
        "state purged after the window"
    );
}

#[test]
fn not_next_at_the_end() {
    let src = "rule r { within 5s events all pattern { a: A\n not_next x: B } }";
    let got = feed(&mut engine(src), &[("A1", 0.0), ("C1", 1.0)]);
    assert_eq!(names(&got), ["a=A1"]);
    assert!(!got[0].by_timer, "completed by the next event");
    assert_eq!(got[0].event_ts_ns, 1_000_000_000);
    assert!(feed(&mut engine(src), &[("A1", 0.0), ("B1", 1.0)]).is_empty());
    let got = feed(&mut engine(src), &[("A1", 0.0)]);
    assert!(
        got[0].by_timer,
        "no next event: the window end completes it"
    );
}

#[test]
fn within_bounds_the_whole_match() {
    let src = "rule r { within 5s pattern { a: A\n followed_by b: B\n followed_by c: C } }";
    assert_eq!(
        names(&feed(
            &mut engine(src),
            &[("A1", 0.0), ("B1", 2.0), ("C1", 4.999)]
        )),
        ["a=A1 b=B1 c=C1"]
    );
    assert!(feed(&mut engine(src), &[("A1", 0.0), ("B1", 2.0), ("C1", 5.0)]).is_empty());
}

#[test]
fn partitions_are_independent() {
    let src = "rule r { partition by symbol within 5s pattern { a: A\n next b: B } }";
    let got = feed_keyed(
        &mut engine(src),
        &[
            ("A1", 0.0, 1),
            ("A2", 0.1, 2),
            ("B1", 0.2, 1),
            ("B2", 0.3, 2),
        ],
    );
    assert_eq!(names(&got), ["a=A1 b=B1", "a=A2 b=B2"]);
    let none = "rule r { partition by none within 5s pattern { a: A\n next b: B } }";
    let got = feed_keyed(
        &mut engine(none),
        &[
            ("A1", 0.0, 1),
            ("A2", 0.1, 2),
            ("B1", 0.2, 1),
            ("B2", 0.3, 2),
        ],
    );
    assert_eq!(names(&got), ["a=A2 b=B1"]);
}

#[test]
fn skip_strategies() {
    // Flink docs, AfterMatchSkipStrategy: pattern b+ c on b1 b2 b3 c.
    let pat = "pattern { b: B one_or_more\n next c: C }";
    let stream = seq(&["B1", "B2", "B3", "C1"]);
    let no_skip = names(&feed(&mut engine(&rule(pat)), &stream));
    assert_eq!(
        no_skip,
        ["b=B1 b=B2 b=B3 c=C1", "b=B2 b=B3 c=C1", "b=B3 c=C1"]
    );
    // `no_skip` is the default.
    let explicit = names(&feed(
        &mut engine(&rule(&format!("skip no_skip\n {pat}"))),
        &stream,
    ));
    assert_eq!(explicit, no_skip);
    let to_next = names(&feed(
        &mut engine(&rule(&format!("skip to_next\n {pat}"))),
        &stream,
    ));
    assert_eq!(
        to_next,
        ["b=B1 b=B2 b=B3 c=C1", "b=B2 b=B3 c=C1", "b=B3 c=C1"]
    );
    let past = names(&feed(
        &mut engine(&rule(&format!("skip past_last_event\n {pat}"))),
        &stream,
    ));
    assert_eq!(past, ["b=B1 b=B2 b=B3 c=C1"]);

    // Two starts, one end: to_next keeps the later start, past_last_event does not.
    let pat = "pattern { a: A\n followed_by b: B }";
    let stream = seq(&["A1", "A2", "B1"]);
    assert_eq!(
        names(&feed(&mut engine(&rule(pat)), &stream)),
        ["a=A1 b=B1", "a=A2 b=B1"]
    );
    let to_next = names(&feed(
        &mut engine(&rule(&format!("skip to_next\n {pat}"))),
        &stream,
    ));
    assert_eq!(to_next, ["a=A1 b=B1", "a=A2 b=B1"]);
    let past = names(&feed(
        &mut engine(&rule(&format!("skip past_last_event\n {pat}"))),
        &stream,
    ));
    assert_eq!(past, ["a=A1 b=B1"]);

    // One start, two ends (followed_by_any): to_next discards the other continuation of the same start.
    let pat = "pattern { a: A\n followed_by_any b: B }";
    let stream = seq(&["A1", "B1", "B2"]);
    assert_eq!(
        names(&feed(&mut engine(&rule(pat)), &stream)),
        ["a=A1 b=B1", "a=A1 b=B2"]
    );
    let to_next = names(&feed(
        &mut engine(&rule(&format!("skip to_next\n {pat}"))),
        &stream,
    ));
    assert_eq!(to_next, ["a=A1 b=B1"]);

    // past_last_event: the next match starts after the last event of the previous one.
    let pat = "pattern { a: A times 2 }";
    let stream = seq(&["A1", "A2", "A3", "A4", "A5"]);
    let past = names(&feed(
        &mut engine(&rule(&format!("skip past_last_event\n {pat}"))),
        &stream,
    ));
    assert_eq!(past, ["a=A1 a=A2", "a=A3 a=A4"]);
    let to_next = names(&feed(
        &mut engine(&rule(&format!("skip to_next\n {pat}"))),
        &stream,
    ));
    assert_eq!(
        to_next,
        ["a=A1 a=A2", "a=A2 a=A3", "a=A3 a=A4", "a=A4 a=A5"]
    );
}

#[test]
fn skip_applies_to_timer_completed_matches() {
    let src =
        "rule r { within 5s skip past_last_event pattern { a: A times 2\n not_followed_by x: B } }";
    let got = feed(
        &mut engine(src),
        &[("A1", 0.0), ("A2", 1.0), ("A3", 2.0), ("D1", 10.0)],
    );
    // {A1 A2} fires at 5 s and discards {A2 A3} (started at A2, not after the match's last event).
    assert_eq!(names(&got), ["a=A1 a=A2"]);
}

#[test]
fn having_score_and_side() {
    let src = "rule r { within 1h skip past_last_event
      pattern { a: A where a.x >= 1 one_or_more\n followed_by b: B }
      having sum(a.x) >= 5
      score sum(a.x) / 5
      side last(a.side) }";
    let mut e = engine(src);
    let mut out = Vec::new();
    for (i, (n, side)) in [
        ("A2", 1.0),
        ("A2", 1.0),
        ("B0", 0.0),
        ("A4", -1.0),
        ("A3", -1.0),
        ("B0", 0.0),
    ]
    .iter()
    .enumerate()
    {
        let mut x = ev(n, i as f64);
        x.seq = i as u64;
        x.vals[1] = *side;
        e.on_event(&x, &(), |m| out.push((m.len(), m.score, m.side)));
    }
    // First B: a sums are 2+2 (= 4 < 5, no) and 2 (no) → nothing. Second B: {A2 A2 A4 A3} = 11 first.
    assert_eq!(out, [(5, 11.0 / 5.0, -1)]);
}

#[test]
fn aggregates_and_membership() {
    // Three A with distinct x (a.x not in a.x), then a B whose x is one of them.
    let src = "rule r { within 1h skip past_last_event
      pattern { a: A where a.x not in a.x times 3\n followed_by b: B where b.x in a.x and count(a) == 3
                and distinct(a.x) == 3 and min(a.x) == 1 and max(a.x) == 3 and first(a.x) == 1 and last(a.x) == 3
                and avg(a.x) == 2 } }";
    let got = feed(
        &mut engine(src),
        &seq(&["A1", "A2", "A2", "A3", "B4", "B2"]),
    );
    // A1 A2 A2: the second A2 repeats x, so the relaxed loop skips it; A1 A2 A3 then B4 (not in) then B2.
    assert_eq!(names(&got), ["a=A1 a=A2 a=A3 b=B2"]);
}

#[test]
fn caps_drop_and_count() {
    let src = "rule r { within 1h pattern { a: A\n followed_by_any b: B\n followed_by_any c: C } }";
    let mut rules = RuleSet::new(CompileContext::new(schema()));
    rules.add_str("t", src).unwrap();
    let cfg = EngineConfig {
        max_runs_per_key: 8,
        ..EngineConfig::small()
    };
    let mut e = Engine::new(rules, cfg);
    for i in 0..100 {
        let mut x = ev(if i % 2 == 0 { "A1" } else { "B1" }, i as f64 * 1e-3);
        x.seq = i;
        e.on_event(&x, &(), |_| {});
    }
    let s = e.stats();
    assert_eq!(s.runs_live, 8);
    assert!(s.dropped_key_cap > 0);
    assert!(s.state_bytes > 0 && s.reserved_bytes > s.state_bytes);
}

#[test]
fn idle_partitions_are_purged() {
    let src = "rule r { partition by symbol within 1s pattern { a: A\n followed_by b: B } }";
    let mut e = engine(src);
    for k in 0..50u16 {
        let mut x = ev("A1", k as f64 * 1e-3);
        x.locate = k;
        e.on_event(&x, &(), |_| {});
    }
    assert_eq!(e.stats().partitions_live, 50);
    assert_eq!(e.stats().keys_live, 50);
    let mut x = ev("D1", 2.0);
    x.locate = 999;
    e.on_event(&x, &(), |_| {});
    let s = e.stats();
    assert_eq!(
        (
            s.partitions_live,
            s.keys_live,
            s.runs_live,
            s.nodes_live,
            s.events_live
        ),
        (0, 0, 0, 0, 0)
    );
    assert_eq!(s.runs_expired, 50);
    assert_eq!(s.partitions_purged, 50);
}

#[test]
fn late_events_are_counted() {
    let mut e = engine("rule r { within 1s pattern { a: A } }");
    e.on_event(&ev("A1", 2.0), &(), |_| {});
    e.on_event(&ev("A1", 1.0), &(), |_| {});
    assert_eq!(e.stats().late_events, 1);
    assert_eq!(e.stats().matches, 2);
}

fn compile_err(src: &str) -> String {
    let mut rules = RuleSet::new(CompileContext::new(schema()));
    rules
        .add_str("bad.cep", src)
        .map(|_| ())
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_rules_name_rule_line_and_problem() {
    let cases: [(&str, &str); 14] = [
        ("rule ok { within 1s pattern { a: A } }\nrule r {\n within 1s\n pattern { a: Q } }", "bad.cep:4:15: rule `r`: unknown event kind `Q`"),
        ("rule r {\n pattern { a: A } }", "bad.cep:1:1: rule `r`: missing `within"),
        ("rule r { within 1s\n pattern { a: A\n followed_by b: B where b.y > 1 } }", "bad.cep:3:25: rule `r`: step `b`: unknown field `y`"),
        ("rule r { within 1s\n pattern { a: A where a.x > b.x\n followed_by b: B } }", "bad.cep:2:29: rule `r`: step `a`: step `b` comes later"),
        ("rule r { within 1s\n pattern { not_next a: A } }", "bad.cep:2:12: rule `r`: the first step starts the pattern"),
        ("rule r { within 1s\n pattern { a: A optional\n not_next x: B\n next c: C } }", "bad.cep:3:2: rule `r`: a `not_next` step cannot follow the optional step `a`"),
        ("rule r { within 1s\n pattern { a: A greedy } }", "bad.cep:2:17: rule `r`: `greedy` needs a repeated step"),
        ("rule r { within 1s\n pattern { a: A times 3..2 } }", "bad.cep:2:17: rule `r`: `times 3..2`"),
        ("rule r { within 1s\n pattern { a: A optional } }", "bad.cep:2:2: rule `r`: every step is optional"),
        ("rule r { within 1s\n pattern { a: A\n followed_by a: B } }", "bad.cep:3:2: rule `r`: duplicate step name `a`"),
        ("rule r { within 1s\n pattern { a: A where a.x } }", "bad.cep:2:23: rule `r`: step `a`: expected a condition"),
        ("rule r { within 1s\n pattern { a: A\n not_followed_by x: B where count(x) > 1\n next c: C } }", "bad.cep:3:35: rule `r`: step `x`: `x` is a negated step"),
        ("rule r { within 1s pattern { a: A } }\nrule r { within 1s pattern { a: A } }", "bad.cep:2:1: rule `r`: duplicate rule name"),
        ("rule r { within 1s\n pattern { a: A where a.x > ref.adv } }", "bad.cep:2:29: rule `r`: step `a`: `ref.adv` used but no reference data"),
    ];
    for (src, want) in cases {
        let got = compile_err(src);
        assert!(got.starts_with(want), "\n got: {got}\nwant: {want}…");
    }
}

#[test]
fn not_preceded_by_anchors_the_start() {
    // A run of A's: only the first A after a quiet second starts a match.
    let src = "rule r { within 10s skip past_last_event pattern {
      not_preceded_by p: A where p.x >= 1 within 1s
      a: A where a.x >= 1 times 2 } }";
    let got = feed(
        &mut engine(src),
        &[
            ("A1", 0.0),
            ("A1", 0.5),
            ("A1", 0.9),
            ("A1", 2.0),
            ("A1", 2.2),
            ("A0", 4.0),
            ("A1", 4.5),
        ],
    );
    // Starts allowed at 0.0 (nothing before) and 2.0 (last A≥1 at 0.9, 1.1 s earlier); 0.5/0.9/2.2 are preceded;
    // 4.5 is preceded by nothing qualifying (A0 has x = 0, the A at 2.2 is 2.3 s earlier) but has no second A.
    assert_eq!(names(&got), ["a=A1 a=A1", "a=A1 a=A1"]);
    // Exactly `within` earlier does not count (the window is [t - 1 s, t) open at its old end).
    let got = feed(&mut engine(src), &[("A1", 0.0), ("A1", 1.0), ("A1", 1.5)]);
    assert_eq!(names(&got), ["a=A1 a=A1"]);
}

#[test]
fn kind_comparisons() {
    let src = rule("pattern { a: A\n followed_by b: B | C where b.kind == \"C\" }");
    assert_eq!(
        names(&feed(&mut engine(&src), &seq(&["A1", "B1", "C1"]))),
        ["a=A1 b=C1"]
    );
    let err = compile_err("rule r { within 1s pattern { a: A where a.kind == \"Z\" } }");
    assert!(err.contains("unknown event kind \"Z\""), "{err}");
}

#[test]
fn bad_lookbacks() {
    let cases = [
        ("rule r { within 1s pattern { a: A\n not_preceded_by p: B within 1s } }", "must come before the first positive step"),
        ("rule r { within 1s pattern { not_preceded_by p: B\n a: A } }", "needs `within DURATION`"),
        ("rule r { within 1s pattern { a: A\n followed_by b: B within 1s } }", "only a `not_preceded_by` step takes its own `within`"),
        ("rule r { within 1s pattern { not_preceded_by p: B where p.x > a.x within 1s\n a: A } }", "can only test its own event"),
        ("rule r { within 1s pattern { not_preceded_by p: B within 1s } }", "no positive step"),
    ];
    for (src, want) in cases {
        let e = compile_err(src);
        assert!(e.contains(want), "{e}\nshould contain: {want}");
    }
}

/// Feeds events carrying explicit (locate, mpid, order_ref) keys; returns each match as `rule: step=name …`.
fn feed_full(engine: &mut Engine, evs: &[(&str, f64, u16, &str, u64)]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, &(n, t, locate, mpid, order_ref)) in evs.iter().enumerate() {
        let mut e = ev(n, t);
        e.seq = i as u64;
        e.locate = locate;
        e.mpid = detect::cep::event::mpid_code(mpid.as_bytes());
        e.order_ref = order_ref;
        engine.on_event(&e, &(), |m| {
            let evs: Vec<String> = m
                .named_events()
                .map(|(s, e)| format!("{s}={}", evs[e.seq as usize].0))
                .collect();
            out.push(format!("{}: {}", m.rule().name(), evs.join(" ")));
        });
    }
    engine.finish(&(), |_| {});
    out
}

#[test]
fn partition_by_mpid_order_ref_and_combined() {
    let src = "
      rule by_mpid { partition by mpid within 5s pattern { a: A\n next b: B } }
      rule by_order { partition by order_ref within 5s pattern { a: A\n next b: B } }
      rule by_symbol_mpid { partition by (symbol, mpid) within 5s pattern { a: A\n next b: B } }
      rule by_none { partition by none within 5s pattern { a: A\n next b: B } }";
    // (name, ts, locate, mpid, order_ref)
    let evs = [
        ("A1", 0.0, 1, "GSCO", 10),
        ("A2", 0.1, 2, "MSCO", 11),
        ("A3", 0.2, 2, "GSCO", 12),
        ("B1", 0.3, 1, "MSCO", 10),
        ("B2", 0.4, 2, "GSCO", 11),
    ];
    let mut got = feed_full(&mut engine(src), &evs);
    got.sort();
    let mut want = [
        // none: one stream A1 A2 A3 B1 B2 → only A3 is directly followed by a B.
        "by_none: a=A3 b=B1",
        // mpid: GSCO = A1 A3 B2, MSCO = A2 B1.
        "by_mpid: a=A2 b=B1",
        "by_mpid: a=A3 b=B2",
        // order_ref: 10 = A1 B1, 11 = A2 B2, 12 = A3.
        "by_order: a=A1 b=B1",
        "by_order: a=A2 b=B2",
        // (symbol, mpid): (1,GSCO) = A1, (2,MSCO) = A2, (2,GSCO) = A3 B2, (1,MSCO) = B1.
        "by_symbol_mpid: a=A3 b=B2",
    ];
    want.sort();
    assert_eq!(got, want);
}
