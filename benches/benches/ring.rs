//! Ring hop between two threads: the runtime's SPSC ring (`tools::runtime::ring`, rtrb underneath).
//!
//! - `ring/round_trip/*` (criterion, `iter_custom`): a value goes to an echo thread and back; the reported time is
//!   one round trip (two hops), per wait strategy of the echo thread.
//! - `ring/one_way` (printed, not a criterion figure): 1,000,000 one-way hops, each stamped with the TSC before the
//!   push and read after the pop on the other core, as an HdrHistogram: p50 / p99 / p99.9 / max.
//! - `ring/stream`: throughput of a one-way stream of 16-byte items (criterion `Throughput::Elements`).
//!
//! Both threads busy-spin unless the group says otherwise; on a 2-core machine they occupy both cores.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tools::runtime::clock::{Clock, ClockChoice};
use tools::runtime::latency::new_histogram;
use tools::runtime::ring::{ring, Rx, Tx};
use tools::runtime::wait::{Backoff, WaitStrategy};

fn pop_spin<T>(rx: &mut Rx<T>, b: &mut Backoff) -> Option<T> {
    loop {
        if let Some(v) = rx.try_pop() {
            b.reset();
            return Some(v);
        }
        if rx.is_finished() {
            return None;
        }
        rx.idle(b);
    }
}

fn round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring/round_trip");
    for (name, echo_wait) in [
        ("busy-spin", WaitStrategy::BusySpin),
        ("spin-then-yield", WaitStrategy::spin_then_yield()),
        ("park", WaitStrategy::park()),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (mut ping_tx, mut ping_rx) = ring::<u64>(1024, echo_wait.may_park());
                let (mut pong_tx, mut pong_rx) = ring::<u64>(1024, false);
                let echo = std::thread::spawn(move || {
                    let mut bo = Backoff::new(echo_wait);
                    while let Some(v) = pop_spin(&mut ping_rx, &mut bo) {
                        while pong_tx.try_push(v).is_err() {}
                    }
                });
                let mut bo = Backoff::new(WaitStrategy::BusySpin);
                // Warm the path (thread start, first park) outside the timed loop.
                for i in 0..100 {
                    ping_tx.try_push(i).unwrap();
                    ping_tx.notify();
                    black_box(pop_spin(&mut pong_rx, &mut bo));
                }
                let t0 = Instant::now();
                for i in 0..iters {
                    ping_tx.try_push(i).unwrap();
                    ping_tx.notify();
                    let v = pop_spin(&mut pong_rx, &mut bo).unwrap();
                    debug_assert_eq!(v, i);
                    black_box(v);
                }
                let dt = t0.elapsed();
                drop(ping_tx);
                echo.join().unwrap();
                dt
            })
        });
    }
    g.finish();
}

fn stream(c: &mut Criterion) {
    const N: u64 = 1 << 20;
    let mut g = c.benchmark_group("ring/stream");
    g.throughput(Throughput::Elements(N));
    g.bench_function("16B items, capacity 4096, busy-spin", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (mut tx, mut rx) = ring::<(u64, u64)>(4096, false);
                let consumer = std::thread::spawn(move || {
                    let mut bo = Backoff::new(WaitStrategy::BusySpin);
                    let mut sum = 0u64;
                    while let Some((a, _)) = pop_spin(&mut rx, &mut bo) {
                        sum = sum.wrapping_add(a);
                    }
                    sum
                });
                let mut bo = Backoff::new(WaitStrategy::BusySpin);
                let t0 = Instant::now();
                for i in 0..N {
                    tx.push_wait((i, i), &mut bo).unwrap();
                }
                drop(tx);
                let sum = consumer.join().unwrap();
                total += t0.elapsed();
                assert_eq!(sum, N * (N - 1) / 2, "sanity: every item arrived once");
            }
            total
        })
    });
    g.finish();
}

/// One-way hop latency distribution, printed (criterion reports means; this gives the tail).
fn one_way_histogram(_c: &mut Criterion) {
    const N: usize = 1_000_000;
    let (clock, _) = Clock::new(ClockChoice::Auto);
    let (mut tx, mut rx): (Tx<u64>, Rx<u64>) = ring(1024, false);
    let consumer = std::thread::spawn(move || {
        let mut h = new_histogram(10_000_000_000);
        let mut bo = Backoff::new(WaitStrategy::BusySpin);
        while let Some(stamp) = pop_spin(&mut rx, &mut bo) {
            h.saturating_record(clock.elapsed_ns(stamp).max(1));
        }
        h
    });
    let mut bo = Backoff::new(WaitStrategy::BusySpin);
    for _ in 0..N {
        // Wait for the consumer to drain, so each hop is measured on an empty ring (pure hop latency, no queueing).
        while tx.free() < tx.capacity() {
            std::hint::spin_loop();
        }
        tx.push_wait(clock.now(), &mut bo).unwrap();
    }
    drop(tx);
    let h = consumer.join().unwrap();
    assert_eq!(h.len(), N as u64, "sanity: every hop recorded");
    println!(
        "ring/one_way ({} clock): {} hops: p50 {} ns, p90 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
        clock.name(),
        h.len(),
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.9),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    );
}

criterion_group!(benches, one_way_histogram, round_trip, stream);
criterion_main!(benches);
