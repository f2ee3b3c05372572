//! Replays a capture into the books and prints decode+apply ns/msg, the integrity counters and memory: a quick
//! stand-alone speed check without the `tickwatch` binary.
//!
//! `cargo run --release -p book --example replay_file -- CAPTURE [ROUNDS]`

use std::time::Instant;

use book::{Books, StoreConfig};
use feed::capture::{Capture, RawMessages};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: replay_file CAPTURE [ROUNDS]");
        std::process::exit(2);
    };
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let cap = match Capture::open(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut best = f64::MAX;
    for round in 0..rounds {
        let mut books = Books::new(StoreConfig::default());
        let mut acc = 0u64;
        let mut n = 0u64;
        let mut ev = book::BookEvent::EMPTY;
        let t0 = Instant::now();
        if cap.frames().is_none() {
            for (i, (_, m)) in RawMessages::new(cap.bytes()).enumerate() {
                if let Ok(msg) = feed::itch::decode(m) {
                    n += 1;
                    if books.apply_itch_into(&msg, i as u64 + 1, &mut ev) {
                        acc = acc.rotate_left(7) ^ u64::from(ev.level_qty) ^ ev.bid_price as u64;
                    }
                }
            }
        } else {
            let s = book::replay::replay(&cap, Default::default(), &mut books, |ev| {
                acc = acc.rotate_left(7) ^ u64::from(ev.level_qty) ^ ev.bid_price as u64
            });
            n = s.messages;
        }
        let ns = t0.elapsed().as_nanos() as f64 / n.max(1) as f64;
        best = best.min(ns);
        println!(
            "round {round}: {n} messages, {ns:.1} ns/msg (checksum {acc:x}); {:?}",
            books.integrity()
        );
        if round + 1 == rounds {
            println!("memory {:?}", books.memory());
        }
    }
    println!("best {best:.1} ns/msg");
}
