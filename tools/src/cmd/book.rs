//! `tickwatch book CAPTURE [--symbol S] [--depth N] [--json] [--bbo-csv FILE] [--levels-csv FILE] [--stats]`:
//! replays a capture into the order books and prints the final books with their integrity figures.
//!
//! - Books: L3 (order by order) for NASDAQ ITCH 5.0 and IEX DEEP+; L2 (price levels) for IEX DEEP and TOPS. Every
//!   message is applied faithfully; crossed/locked books are reported, never repaired.
//! - Text output: per book, the top `--depth` levels (default 5) of each side as a ladder (offers above bids) with
//!   shares and order counts, then the integrity counters. `--symbol` restricts the printed books to one symbol.
//! - `--json`: one JSON object: `file`, `feed`, `messages`, `events`, `books` (snapshots: `book`, `symbol`, `bids`,
//!   `asks` as `{price, price_raw, shares, orders}` best first, `crossed`, `locked`, `trading_state`, ...),
//!   `integrity`, and with `--stats` a `stats` object.
//! - `--bbo-csv FILE`: `stock_locate,symbol,bid_price,bid_shares,ask_price,ask_shares` for every book (all symbols,
//!   whatever `--symbol` says), ordered by book index; prices with 4 decimals; an empty side has an empty price and
//!   0 shares. For IEX the `stock_locate` column is the book index assigned in order of first appearance.
//! - `--levels-csv FILE`: `symbol,side,price,shares,orders` for every level of every book, sorted by symbol, side
//!   (`B` before `S`) and price (ascending); `orders` is empty for L2 books.
//! - `--stats`: decode+apply time (ns/msg over the replay loop, wall clock and this thread's CPU time; opening and
//!   inflating the file excluded), msgs/s, book memory, and the transport figures.
//!
//! Exit status: 0 on success; 1 when `--symbol` names no book; 2 when the capture cannot be read.

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use ::book::replay::{replay, ReplaySummary};
use ::book::{BookSnapshot, Books, FmtPrice, StoreConfig, Symbol};
use anyhow::Context;
use feed::capture::UdpFilter;

use super::stats::CaptureArgs;
use crate::runtime::books_csv;

/// Arguments of `tickwatch book`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The capture and input options.
    #[command(flatten)]
    pub input: CaptureArgs,
    /// Print only this symbol's book.
    #[arg(long, value_name = "S")]
    pub symbol: Option<String>,
    /// Levels per side to print (and to put in the JSON snapshots).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub depth: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write the final BBO of every book to FILE (CSV).
    #[arg(long, value_name = "FILE")]
    pub bbo_csv: Option<PathBuf>,
    /// Write every price level of every book to FILE (CSV).
    #[arg(long, value_name = "FILE")]
    pub levels_csv: Option<PathBuf>,
    /// Report decode+apply speed (ns/msg), memory and transport figures.
    #[arg(long)]
    pub stats: bool,
}

/// Runs `tickwatch book`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cap = match args.input.open() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tickwatch book: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let filter = UdpFilter {
        dst_port: args.input.port,
        dst_addr: args.input.group,
    };
    let mut books = Books::new(StoreConfig::default());
    let mut sink = 0u64;
    let cpu0 = thread_cpu_ns();
    let t0 = Instant::now();
    let sum = replay(&cap, filter, &mut books, |ev| {
        sink = sink.wrapping_add(u64::from(ev.level_qty))
    });
    let elapsed_ns = t0.elapsed().as_nanos() as u64;
    let cpu_ns = match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    std::hint::black_box(sink);

    let selected: Vec<u16> = match &args.symbol {
        Some(s) => {
            let want = Symbol::new(s);
            let v: Vec<u16> = books
                .book_indices()
                .filter(|&i| books.symbol(i) == want)
                .collect();
            if v.is_empty() {
                eprintln!(
                    "tickwatch book: no book for symbol {s:?} in {}",
                    cap.path().display()
                );
                return Ok(ExitCode::from(1));
            }
            v
        }
        None => books.book_indices().filter(|&i| i != 0).collect(),
    };

    if let Some(path) = &args.bbo_csv {
        write_file(path, &books_csv::bbo_csv(&[&books]))?;
    }
    if let Some(path) = &args.levels_csv {
        write_file(path, &books_csv::levels_csv(&[&books]))?;
    }

    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    if args.json {
        let snaps: Vec<BookSnapshot> = selected
            .iter()
            .map(|&i| books.snapshot(i, args.depth))
            .collect();
        let mut doc = serde_json::json!({
            "file": cap.path().display().to_string(),
            "feed": sum.feed,
            "messages": sum.messages,
            "events": sum.events,
            "books": snaps,
            "integrity": books.integrity(),
        });
        if args.stats {
            doc["stats"] = stats_json(&books, &sum, elapsed_ns, cpu_ns);
        }
        serde_json::to_writer(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        for &i in &selected {
            out.write_all(ladder(&books.snapshot(i, args.depth)).as_bytes())?;
        }
        writeln!(
            out,
            "{} books, {} messages, {} events, {} orders resting",
            selected.len(),
            sum.messages,
            sum.events,
            books.live_orders()
        )?;
        let g = books.integrity();
        writeln!(
            out,
            "integrity: unknown_order {} duplicate_add {} over_execution {} over_cancel {} crossed {} \
             (episodes {}) locked {} unknown_symbol {} rejected {}",
            g.unknown_order,
            g.duplicate_add,
            g.over_execution,
            g.over_cancel,
            g.crossed,
            g.crossed_episodes,
            g.locked,
            g.unknown_symbol,
            g.rejected
        )?;
        if books.pending_updates() != 0 {
            writeln!(
                out,
                "note: {} IEX DEEP updates of an unfinished batch were not applied",
                books.pending_updates()
            )?;
        }
        if args.stats {
            out.write_all(stats_text(&books, &sum, elapsed_ns, cpu_ns).as_bytes())?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn write_file(path: &PathBuf, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// One book as a text ladder: offers (worst at the top) above bids (best at the top).
fn ladder(snap: &BookSnapshot) -> String {
    let mut s = String::new();
    let mut flags = String::new();
    if snap.crossed {
        flags.push_str(" CROSSED");
    }
    if snap.locked {
        flags.push_str(" LOCKED");
    }
    if snap.halted {
        let _ = write!(
            flags,
            " HALTED({})",
            char::from(snap.trading_state.max(b'?'))
        );
    }
    let _ = writeln!(
        s,
        "{} (book {}) {} bid levels {} ask levels {}{flags}",
        snap.symbol,
        snap.book,
        if snap.l3 { "L3" } else { "L2" },
        snap.bid_levels,
        snap.ask_levels
    );
    let orders = |l: &::book::LevelInfo| {
        if snap.l3 {
            l.orders.to_string()
        } else {
            "-".into()
        }
    };
    for l in snap.asks.iter().rev() {
        let _ = writeln!(
            s,
            "  ask {:>14} {:>10} {:>6}",
            FmtPrice(l.price).to_string(),
            l.qty,
            orders(l)
        );
    }
    for l in &snap.bids {
        let _ = writeln!(
            s,
            "  bid {:>14} {:>10} {:>6}",
            FmtPrice(l.price).to_string(),
            l.qty,
            orders(l)
        );
    }
    s
}

/// CPU time consumed by the calling thread so far, in ns (`/proc/thread-self/schedstat`, first field), if readable.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn ns_per_msg(sum: &ReplaySummary, elapsed_ns: u64) -> f64 {
    if sum.messages == 0 {
        0.0
    } else {
        elapsed_ns as f64 / sum.messages as f64
    }
}

fn stats_json(
    books: &Books,
    sum: &ReplaySummary,
    elapsed_ns: u64,
    cpu_ns: Option<u64>,
) -> serde_json::Value {
    serde_json::json!({
        "elapsed_ns": elapsed_ns,
        "ns_per_msg": ns_per_msg(sum, elapsed_ns),
        "cpu_ns": cpu_ns,
        "cpu_ns_per_msg": cpu_ns.map(|c| ns_per_msg(sum, c)),
        "msgs_per_sec": if elapsed_ns == 0 { 0.0 } else { sum.messages as f64 * 1e9 / elapsed_ns as f64 },
        "memory": books.memory(),
        "pending_l2_updates": books.pending_updates(),
        "transport": sum.stats,
    })
}

fn stats_text(books: &Books, sum: &ReplaySummary, elapsed_ns: u64, cpu_ns: Option<u64>) -> String {
    let m = books.memory();
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "decode+apply: {} messages in {:.3} ms = {:.1} ns/msg ({:.2} M msgs/s)",
        sum.messages,
        elapsed_ns as f64 / 1e6,
        ns_per_msg(sum, elapsed_ns),
        if elapsed_ns == 0 {
            0.0
        } else {
            sum.messages as f64 * 1e3 / elapsed_ns as f64
        }
    );
    if let Some(c) = cpu_ns {
        let _ = writeln!(
            s,
            "decode+apply CPU time (this thread): {:.3} ms = {:.1} ns/msg",
            c as f64 / 1e6,
            ns_per_msg(sum, c)
        );
    }
    let _ = writeln!(
        s,
        "memory: {:.1} MiB touched (orders {:.1} MiB: {} live, peak {}; reference index {:.1} MiB: {} pages in use, \
         peak {}, {} overflow refs; levels {:.1} MiB: {} levels in {} books); {:.0} MiB address space reserved",
        mib(m.total_bytes),
        mib(m.order_pool_bytes),
        m.live_orders,
        m.peak_orders,
        mib(m.ref_index_bytes),
        m.pages_in_use,
        m.peak_pages,
        m.overflow_refs,
        mib(m.level_bytes),
        m.levels,
        m.books,
        mib(m.reserved_bytes)
    );
    let t = &sum.stats;
    let _ = writeln!(
        s,
        "transport: {} frames, {} packets, {} messages, {} unknown, {} malformed, {} truncated, {} gaps ({} messages), \
         {} duplicate messages skipped",
        t.frames,
        t.packets,
        t.messages,
        t.unknown,
        t.malformed,
        t.truncated,
        t.gaps,
        t.gap_messages,
        t.duplicate_messages
    );
    s
}
