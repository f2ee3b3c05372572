//! The detect stage allocates nothing per event in steady state — not even when it emits alerts.
//!
//! A counting global allocator wraps the system one. A recorded event stream (books built by `book::Books`) is fed
//! to a fresh `DetectorSet`: first a warm-up part (every symbol appears, so its state is allocated), then the
//! measured part, which contains one episode of every detector and thousands of ordinary messages.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use book::Side;
use common::*;
use detect::{Alert, DetectorSet};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: delegates to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn hms(h: u64, m: u64, s: u64) -> u64 {
    ((h * 60 + m) * 60 + s) * S
}

/// Ordinary flow: adds and deletes behind the touch in every symbol, a trade now and then.
fn filler(s: &mut Sim, from: u64, to: u64, locs: &[u16]) {
    let mut t = from;
    let mut i = 0u64;
    while t < to {
        for &loc in locs {
            let r = s.add(
                t,
                loc,
                if i % 2 == 0 { Side::Buy } else { Side::Sell },
                10 * D - 20 * C,
                100,
            );
            s.delete(t + MS, loc, r);
        }
        if i % 7 == 0 {
            s.add(t, locs[0], Side::Buy, 10 * D, 100);
            s.aggress(t + 2 * MS, locs[0], Side::Sell, 50, 9 * D);
        }
        i += 1;
        t += 50 * MS;
    }
}

#[test]
fn no_allocation_per_event_including_alerts() {
    let mut s = Sim::new();
    s.keep_events = true;
    // Warm-up: five symbols with books and order-size history.
    let mut t = T10;
    for loc in 1..=4u16 {
        t = s.standard_book(loc, &format!("AL{loc}"), t);
    }
    t = s.standard_book_at(5, "ALMO", t, 50 * D);
    filler(&mut s, t, t + 5 * S, &[1, 2, 3, 4, 5]);
    let warm = s.events.len();

    // Measured part.
    let mut t = hms(10, 5, 0);
    filler(&mut s, t - 60 * S, t, &[1, 2, 3, 4, 5]);
    // Spoofing in 1.
    let big = s.add(t, 1, Side::Buy, 10 * D - C, 1_000);
    s.aggress(t + 100 * MS, 1, Side::Buy, 100, 11 * D);
    s.delete(t + 300 * MS, 1, big);
    // Layering in 2.
    t += 5 * S;
    let refs: Vec<u64> = (0..3)
        .map(|i| s.add(t, 2, Side::Sell, 10 * D + (3 + i) * C, 400))
        .collect();
    s.aggress(t + 500 * MS, 2, Side::Sell, 100, 9 * D);
    for r in refs {
        s.delete(t + 700 * MS, 2, r);
    }
    // Quote stuffing in 3.
    t += 5 * S;
    for k in 0..400u64 {
        let r = s.add(t + k * 50_000, 3, Side::Sell, 12 * D, 100);
        s.delete(t + k * 50_000 + 10_000, 3, r);
    }
    // Momentum in 5 ($50).
    t += 5 * S;
    s.clear_side(t, 5, Side::Sell);
    s.aggress(t + S, 5, Side::Sell, 100, 49 * D);
    for i in 1..=12i64 {
        let p = 50 * D + 2 * i * C;
        let ts = t + 2 * S + i as u64 * 100 * MS;
        s.add(ts, 5, Side::Sell, p, 100);
        s.aggress(ts, 5, Side::Buy, 100, p);
    }
    s.add(t + 6 * S, 5, Side::Buy, 50 * D + 10 * C, 100);
    s.aggress(t + 6 * S, 5, Side::Sell, 100, 50 * D + 10 * C);
    // Coordinated buying by MPID in 1, 2, 4.
    t += 20 * S;
    for (k, loc) in [1u16, 2, 4].into_iter().enumerate() {
        s.add_mpid(
            t + k as u64 * 500 * MS,
            loc,
            Side::Buy,
            10 * D + C,
            100,
            b"ALLO",
        );
    }
    // Order-to-trade in 4.
    t += 10 * S;
    for i in 0..1_100u64 {
        let r = s.add(t + i * 20 * MS, 4, Side::Buy, 9 * D, 100);
        s.delete(t + i * 20 * MS + MS, 4, r);
    }
    // Marking the close in 3.
    let t = hms(15, 57, 0);
    filler(&mut s, t - 10 * S, t, &[1, 2, 3, 4, 5]);
    let r = s.add(t, 3, Side::Sell, 10 * D + 3 * C, 2_000);
    filler(&mut s, t, t + 10 * S, &[1, 2, 3, 4, 5]);
    s.delete(hms(15, 59, 55), 3, r);
    s.finish();
    let events = std::mem::take(&mut s.events);
    assert!(events.len() - warm > 10_000, "{}", events.len() - warm);

    let mut set = DetectorSet::default();
    let mut alerts: Vec<Alert> = Vec::with_capacity(1_000);
    for ev in &events[..warm] {
        set.on_event(ev, &mut |a: &Alert| alerts.push(*a));
    }
    COUNTING.store(true, Ordering::SeqCst);
    for ev in &events[warm..] {
        set.on_event(ev, &mut |a: &Alert| alerts.push(*a));
    }
    set.finish(&mut |a: &Alert| alerts.push(*a));
    COUNTING.store(false, Ordering::SeqCst);
    let n = ALLOCS.load(Ordering::SeqCst);
    let mut names: Vec<&str> = alerts.iter().map(|a| a.detector.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(
        names,
        [
            "coordinated_buying",
            "layering",
            "marking_the_close",
            "momentum_ignition",
            "order_to_trade",
            "quote_stuffing",
            "spoofing"
        ],
        "every detector fired in the measured part"
    );
    assert_eq!(n, 0, "{n} allocations over {} events", events.len() - warm);
}
