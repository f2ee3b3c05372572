//! IEX decode benchmark on the real IEX DEEP 1.0 sample capture (`iex/DEEP10.pcap.gz`, 392k messages in 121k
//! UDP datagrams).
//!
//! The capture is decompressed to a temporary file first and memory-mapped (as `tickwatch` replays it), then the
//! UDP payloads are located once. Timed (per message, `Throughput::Elements`):
//! * `iex/decode_touch_all`: IEX-TP parse + block walk + `decode` + read every field of every message;
//! * `iex/handler`: `IexHandler::on_datagram` (adds sequence tracking, per-type counts and the time range) with a
//!   callback that reads every field;
//! * `iex/pcap_to_handler`: the whole replay path from the mapped pcap bytes (record walk, Ethernet/IPv4/UDP
//!   extraction, handler, every field read).
//!
//! Each is measured twice: `iex/*` in wall time (criterion's default) and `iex_cpu/*` in the benchmark thread's own
//! CPU time (`CLOCK_THREAD_CPUTIME_ID`, ns), which stays meaningful when the 2-core machine is shared with
//! other jobs (wall time then includes time the thread waited for a core).
//!
//! Run: `cargo bench -p benches --bench decode_iex`. Needs the shared data (`TICKWATCH_DATA`, default
//! `../shared/data`); prints SKIPPED without it.

use benches::thread_cpu_ns;
use std::hint::black_box;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use feed::capture::{net, Capture};
use feed::iex::{decode, IexHandler, Message, Packet};

/// Reads every field of a message and folds it into a checksum (so the compiler cannot skip the loads).
#[inline]
fn touch(m: &Message<'_>) -> u64 {
    let mut h = m.timestamp() as u64 ^ u64::from(m.message_type());
    if let Some(s) = m.symbol_raw() {
        h ^= u64::from_le_bytes(*s);
    }
    h ^= match *m {
        Message::SystemEvent(v) => u64::from(v.system_event()),
        Message::SecurityDirectory(v) => {
            u64::from(v.flags())
                ^ u64::from(v.round_lot_size())
                ^ v.adjusted_poc_price() as u64
                ^ u64::from(v.luld_tier())
        }
        Message::TradingStatus(v) => {
            u64::from(v.trading_status()) ^ u64::from(u32::from_le_bytes(*v.reason()))
        }
        Message::RetailLiquidityIndicator(v) => u64::from(v.retail_liquidity_indicator()),
        Message::OperationalHaltStatus(v) => u64::from(v.operational_halt_status()),
        Message::ShortSalePriceTestStatus(v) => {
            u64::from(v.short_sale_price_test_status()) ^ u64::from(v.detail())
        }
        Message::SecurityEvent(v) => u64::from(v.security_event()),
        Message::QuoteUpdate(v) => {
            u64::from(v.flags())
                ^ u64::from(v.bid_size())
                ^ v.bid_price() as u64
                ^ v.ask_price() as u64
                ^ u64::from(v.ask_size())
        }
        Message::PriceLevelUpdate(v) => {
            u64::from(v.ends_batch()) ^ (v.side() as u64) ^ u64::from(v.size()) ^ v.price() as u64
        }
        Message::TradeReport(v) => {
            u64::from(v.sale_condition_flags())
                ^ u64::from(v.size())
                ^ v.price() as u64
                ^ v.trade_id()
        }
        Message::OfficialPrice(v) => u64::from(v.price_type()) ^ v.official_price() as u64,
        Message::TradeBreak(v) => {
            u64::from(v.sale_condition_flags())
                ^ u64::from(v.size())
                ^ v.price() as u64
                ^ v.trade_id()
        }
        Message::AuctionInformation(v) => {
            u64::from(v.auction_type())
                ^ u64::from(v.paired_shares())
                ^ v.reference_price() as u64
                ^ v.indicative_clearing_price() as u64
                ^ u64::from(v.imbalance_shares())
                ^ u64::from(v.imbalance_side())
                ^ u64::from(v.extension_number())
                ^ u64::from(v.scheduled_auction_time())
                ^ v.auction_book_clearing_price() as u64
                ^ v.collar_reference_price() as u64
                ^ v.lower_auction_collar() as u64
                ^ v.upper_auction_collar() as u64
        }
        Message::AddOrder(v) => {
            u64::from(v.side()) ^ v.order_id() ^ u64::from(v.size()) ^ v.price() as u64
        }
        Message::OrderModify(v) => {
            u64::from(v.modify_flags()) ^ v.order_id() ^ u64::from(v.size()) ^ v.price() as u64
        }
        Message::OrderDelete(v) => u64::from(v.reserved()) ^ v.order_id(),
        Message::OrderExecuted(v) => {
            u64::from(v.sale_condition_flags())
                ^ v.order_id()
                ^ u64::from(v.size())
                ^ v.price() as u64
                ^ v.trade_id()
        }
        Message::ClearBook(v) => u64::from(v.reserved()),
    };
    h
}

/// Runs `work` `iters` times and returns the thread CPU time it took (wall time if CPU time is unavailable).
fn cpu_time(iters: u64, mut work: impl FnMut()) -> Duration {
    let (t0, w0) = (thread_cpu_ns(), Instant::now());
    for _ in 0..iters {
        work();
    }
    match (t0, thread_cpu_ns()) {
        (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
        _ => w0.elapsed(),
    }
}

fn bench(c: &mut Criterion) {
    let Some(gz) = feed::testdata::require("iex/DEEP10.pcap.gz") else {
        return;
    };
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&gz).expect("open DEEP10"))
        .read_to_end(&mut raw)
        .expect("gunzip DEEP10");
    let mut tmp = tempfile::NamedTempFile::new().expect("temp file");
    tmp.write_all(&raw).expect("write temp pcap");
    tmp.flush().expect("flush");
    drop(raw);
    let capture = Capture::open(tmp.path()).expect("open decompressed DEEP10");

    // Locate the UDP payloads once (the replay path is measured separately below).
    let payloads: Vec<(&[u8], bool)> = capture
        .frames()
        .expect("pcap")
        .filter_map(|f| net::udp_payload(f.link_type, f.data).ok())
        .map(|u| (u.payload, u.truncated))
        .collect();

    // Sanity before timing: the accepted messages of DEEP10 (MANIFEST: 391,999; the cut final record excluded).
    let mut handler = IexHandler::new();
    let mut check = 0u64;
    for &(p, t) in &payloads {
        handler.on_datagram(p, t, |_, m| check ^= touch(&m));
    }
    let messages = handler.stats().messages;
    assert_eq!(messages, 391_999, "DEEP10 message count");
    black_box(check);

    let decode_touch_all = || {
        let mut acc = 0u64;
        for &(p, _) in &payloads {
            let Ok(packet) = Packet::parse(black_box(p)) else {
                continue;
            };
            let Some(protocol) = packet.header().protocol() else {
                continue;
            };
            if packet.is_truncated() {
                continue;
            }
            for block in packet.messages() {
                let Ok(block) = block else { break };
                if let Ok(m) = decode(protocol, block.bytes) {
                    acc = acc.wrapping_add(touch(&m));
                }
            }
        }
        black_box(acc);
    };
    let handler = || {
        let mut h = IexHandler::new();
        let mut acc = 0u64;
        for &(p, t) in &payloads {
            h.on_datagram(black_box(p), t, |meta, m| {
                acc = acc.wrapping_add(touch(&m) ^ meta.seq)
            });
        }
        black_box((acc, h.stats().messages));
    };
    let pcap_to_handler = || {
        let mut h = IexHandler::new();
        let mut acc = 0u64;
        for f in capture.frames().expect("pcap") {
            let Ok(u) = net::udp_payload(f.link_type, f.data) else {
                continue;
            };
            h.on_datagram(u.payload, u.truncated, |meta, m| {
                acc = acc.wrapping_add(touch(&m) ^ meta.seq)
            });
        }
        black_box((acc, h.stats().messages));
    };

    let mut g = c.benchmark_group("iex");
    g.throughput(Throughput::Elements(messages));
    g.sample_size(30);
    g.bench_function("decode_touch_all", |b| b.iter(decode_touch_all));
    g.bench_function("handler", |b| b.iter(handler));
    g.bench_function("pcap_to_handler", |b| b.iter(pcap_to_handler));
    g.finish();

    let mut g = c.benchmark_group("iex_cpu");
    g.throughput(Throughput::Elements(messages));
    g.sample_size(30);
    g.bench_function("decode_touch_all", |b| {
        b.iter_custom(|n| cpu_time(n, decode_touch_all))
    });
    g.bench_function("handler", |b| b.iter_custom(|n| cpu_time(n, handler)));
    g.bench_function("pcap_to_handler", |b| {
        b.iter_custom(|n| cpu_time(n, pcap_to_handler))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
