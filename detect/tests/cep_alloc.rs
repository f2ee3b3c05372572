//! The CEP hot path allocates nothing per event in steady state — not even when matches are emitted, as long as
//! the sink does not allocate — shown with a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use book::{BookEvent, EventKind, Side, Symbol};
use detect::cep::{pipeline, CompileContext, Engine, EngineConfig, RuleSet};
use detect::enrich::RefData;
use detect::score::{Model, ModelSet, ModelSpec};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts (in a thread-local `Cell`, which does not allocate).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(|c| c.get())
}

const RULES: &str = r#"
rule big_add_then_cancel {
  partition by order_ref
  within 100ms
  skip past_last_event
  pattern {
    a: add where a.qty >= 0.00001 * coalesce(ref.adv, 1e7) and ref.sector == "Technology"
    followed_by c: cancel | delete where c.order_ref == a.order_ref
  }
  score a.qty / 100
  side a.side
}
rule layered_then_trade {
  partition by symbol, mpid
  within 20ms
  skip past_last_event
  pattern {
    a: add where a.price not in a.price and (count(a) == 0 or a.side == first(a.side)) times 3.. greedy
    followed_by e: execute where e.side != a.side
    followed_by c: delete where c.order_ref in a.order_ref one_or_more
  }
  having sum(c.qty) >= 0.5 * sum(a.qty)
}
rule quiet_after_trade {
  partition by symbol
  within 5ms
  pattern {
    e: execute where feat.rate > 0 and score("m") > 0.1
    not_followed_by x: add | execute
  }
}
rule anything_any {
  partition by none
  within 1ms
  skip to_next
  pattern {
    a: add where a.qty > 100
    followed_by_any b: execute where b.qty >= 100
    not_next x: cancel
  }
}
"#;

fn book_event(i: u64, rng: &mut u64) -> BookEvent {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let r = *rng;
    let mut e = BookEvent::EMPTY;
    e.ts_ns = 34_200_000_000_000 + i * 100_000;
    e.seq = i;
    e.kind = match r % 10 {
        0..=4 => EventKind::Add,
        5..=6 => EventKind::Delete,
        7 => EventKind::Cancel,
        _ => EventKind::Execute,
    };
    e.book = 1 + (r >> 8) as u16 % 20;
    e.symbol = Symbol::new(["AAPL", "MSFT", "XYZ"][e.book as usize % 3]);
    e.side = if (r >> 16) & 1 == 0 {
        Side::Buy
    } else {
        Side::Sell
    };
    e.price = 1_000_000 + ((r >> 20) % 10) as i64 * 100;
    e.qty = 100 * (1 + ((r >> 30) % 10) as u32);
    e.order_ref = if e.kind == EventKind::Add {
        i
    } else {
        i.saturating_sub((r >> 40) % 50)
    };
    e.mpid = if (r >> 50) & 3 == 0 { *b"GSCO" } else { [0; 4] };
    e.bid_price = 999_900;
    e.bid_qty = 100;
    e.ask_price = 1_000_100;
    e.ask_qty = 100;
    e
}

fn engine(cfg: EngineConfig) -> (Engine, Vec<Vec<f64>>) {
    let features: Vec<String> = vec!["rate".into(), "spread".into()];
    let refdata = RefData::parse(
        "ref.csv",
        "symbol,adv,sector\nAAPL,50000000,Technology\nMSFT,30000000,Technology\n",
    )
    .unwrap();
    let spec: ModelSpec = serde_json::from_str(
        r#"{"format":"tickwatch-model-v1","name":"m","type":"logistic","features":["rate","spread"],"weights":[0.5,-1],"bias":0}"#,
    )
    .unwrap();
    let mut models = ModelSet::new();
    models
        .add(Model::new(spec, "m.json", &features).unwrap())
        .unwrap();
    let mut ctx = CompileContext::new(Arc::new(pipeline::schema()));
    ctx.features = features;
    ctx.refdata = Some(Arc::new(refdata));
    ctx.models = Arc::new(models);
    let mut rules = RuleSet::new(ctx);
    rules.add_str("alloc.cep", RULES).unwrap();
    let feats: Vec<Vec<f64>> = (0..32).map(|i| vec![i as f64, 0.01]).collect();
    (Engine::new(rules, cfg), feats)
}

/// Runs 20 000 warm-up events, then 100 000 measured ones; returns (allocations, matches) of the measured part.
fn measure(engine: &mut Engine, feats: &[Vec<f64>]) -> (u64, u64) {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut matches = 0u64;
    // Warm-up: pools reach their working size.
    for i in 0..20_000 {
        let ev = pipeline::from_book(&book_event(i, &mut rng));
        engine.on_event(&ev, feats, |_| matches += 1);
    }
    let warm_matches = matches;
    let before = allocs();
    for i in 20_000..120_000 {
        let ev = pipeline::from_book(&book_event(i, &mut rng));
        engine.on_event(&ev, feats, |m| {
            matches += 1;
            std::hint::black_box(pipeline::to_alert(m));
        });
    }
    (allocs() - before, matches - warm_matches)
}

#[test]
fn steady_state_processing_does_not_allocate() {
    let (mut engine, feats) = engine(EngineConfig::small());
    let (allocations, matches) = measure(&mut engine, &feats);
    let s = engine.stats();
    assert!(
        matches > 1000,
        "the stream must exercise emission: {matches} matches"
    );
    assert!(
        s.runs_peak > 10,
        "the stream must keep partial matches alive"
    );
    assert!(s.matches_by_timer > 100, "and timer-completed matches");
    let drops = s.dropped_key_cap + s.dropped_total_cap + s.dropped_pool + s.dropped_partition_cap;
    assert_eq!(drops, 0, "no cap hit with the default small config: {s:?}");
    assert_eq!(
        allocations, 0,
        "allocations while processing 100 000 events; stats {s:?}"
    );
}

#[test]
fn hitting_every_cap_does_not_allocate_either() {
    let cfg = EngineConfig {
        max_runs: 40,
        max_runs_per_key: 8,
        max_partitions: 48,
        max_keys: 48,
        max_nodes: 60,
        max_events: 200,
        max_lookback_keys: 4,
    };
    let (mut engine, feats) = engine(cfg);
    let (allocations, _) = measure(&mut engine, &feats);
    let s = engine.stats();
    for (cap, n) in [
        ("total", s.dropped_total_cap),
        ("per key", s.dropped_key_cap),
        ("partitions", s.dropped_partition_cap),
        ("pool", s.dropped_pool),
    ] {
        assert!(n > 0, "the {cap} cap must be hit: {s:?}");
    }
    assert_eq!(
        allocations, 0,
        "allocations while processing 100 000 events; stats {s:?}"
    );
}
