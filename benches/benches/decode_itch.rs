//! ITCH 5.0 decode benchmark on the third-party synthetic stress file `synthetic/itchbook-syn-1m-s11.itch.gz`
//! (1,000,507 length-prefixed records: 985,574 known messages, 14,932 unknown-type frames, one zero-length end
//! marker).
//!
//! The file is decompressed to a temporary file first and memory-mapped through `feed::capture::Capture` (as
//! `tickwatch stats` reads it). A sanity check runs before timing. Timed, per record (`Throughput::Elements` =
//! 1,000,507):
//! * `itch/decode_touch_all`: walk the length prefixes, `itch::decode`, and fold **every field** of every known
//!   message through the generic visitor `Message::for_each_field` (alpha fields trimmed) into a checksum;
//! * `itch/decode_touch_direct`: the same, but every field read through the typed views in one `match` (what a
//!   book or detector does; alpha fields as their raw padded bytes);
//! * `itch/decode_header_only`: walk + decode + read type, locate and timestamp (the minimum a consumer reads);
//! * `itch/analyzer_raw`: the `tickwatch stats` path — `Analyzer::on_raw_itch` (per-type counts, time range, damage
//!   counters) with a callback folding every field;
//! * `itch/pcap_replay`: the same messages packed 20 per MoldUDP64 packet into an in-memory ns pcap
//!   (Ethernet/IPv4/UDP, built with `feed::encode` before timing), replayed through `Analyzer::run` (record walk,
//!   link/IP/UDP extraction, sequencing, decode) with the every-field callback.
//!
//! The group `itch_cpu_time` repeats the timings with the thread CPU clock (criterion `iter_custom`), which is less
//! disturbed by other processes on a shared machine.
//!
//! Run: `cargo bench -p benches --bench decode_itch`. Needs the shared data (`TICKWATCH_DATA`, default
//! `../shared/data`); prints SKIPPED without it.

use benches::thread_cpu;
use std::hint::black_box;
use std::io::{Read, Write};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use feed::analyze::{Analyzer, AnalyzerConfig, FeedMessage};
use feed::capture::{Capture, RawMessages};
use feed::encode::{MoldPacketizer, PcapWriter, UdpFraming};
use feed::itch::{self, FieldValue, Message};

const RECORDS: u64 = 1_000_507;
const KNOWN: u64 = 985_574;
const UNKNOWN: u64 = 14_932;

/// Folds one field value into a checksum.
#[inline(always)]
fn fold(acc: u64, v: FieldValue<'_>) -> u64 {
    let x = match v {
        FieldValue::Char(c) => c as u64,
        FieldValue::UInt(n) => n,
        FieldValue::Price4(p) => p as u64,
        FieldValue::Price8(p) => p,
        // Trimming already read every byte of the field; fold the trimmed length and its end bytes (a
        // variable-length copy here would measure `memcpy`, not the decoder).
        FieldValue::Alpha(a) => {
            a.len() as u64
                ^ (a.first().copied().unwrap_or(0) as u64) << 8
                ^ (a.last().copied().unwrap_or(0) as u64) << 16
        }
    };
    // A sum: it depends on every field, and additions can be reassociated, so the checksum itself does not
    // serialise the loads (a rotate-xor chain cost ~0.8 ns/msg of pure benchmark overhead here).
    acc.wrapping_add(x)
}

/// Every field of a message folded into a checksum.
#[inline(always)]
fn touch_all(m: &Message<'_>) -> u64 {
    let mut acc = m.msg_type() as u64;
    m.for_each_field(|_, v| acc = fold(acc, v));
    acc
}

fn decode_touch_all(bytes: &[u8]) -> (u64, u64) {
    let mut acc = 0u64;
    let mut known = 0u64;
    for (_, m) in RawMessages::new(bytes) {
        if let Ok(msg) = itch::decode(m) {
            known += 1;
            acc = acc.wrapping_add(touch_all(&msg));
        }
    }
    (known, acc)
}

#[inline(always)]
fn a8(a: &itch::Alpha<8>) -> u64 {
    u64::from_le_bytes(a.0)
}

#[inline(always)]
fn a4(a: &itch::Alpha<4>) -> u64 {
    u32::from_le_bytes(a.0) as u64
}

/// Every field of a message read through the typed views (what a book or detector does; alpha fields as their raw
/// padded bytes), folded into a checksum.
#[inline(always)]
fn touch_direct(m: &Message<'_>) -> u64 {
    use Message as M;
    let h = m.header();
    let head = h.msg_type as u64
        ^ (h.stock_locate.get() as u64) << 8
        ^ (h.tracking_number.get() as u64) << 24
        ^ h.timestamp.get().rotate_left(17);
    head ^ match *m {
        M::SystemEvent(v) => v.event_code as u64,
        M::StockDirectory(v) => {
            a8(&v.stock)
                ^ v.market_category as u64
                ^ (v.financial_status_indicator as u64) << 8
                ^ (v.round_lot_size() as u64) << 16
                ^ v.round_lots_only as u64
                ^ (v.issue_classification as u64) << 3
                ^ (u16::from_le_bytes(v.issue_sub_type.0) as u64) << 5
                ^ v.authenticity as u64
                ^ (v.short_sale_threshold_indicator as u64) << 7
                ^ (v.ipo_flag as u64) << 9
                ^ (v.luld_reference_price_tier as u64) << 11
                ^ (v.etp_flag as u64) << 13
                ^ (v.etp_leverage_factor() as u64) << 15
                ^ v.inverse_indicator as u64
        }
        M::StockTradingAction(v) => {
            a8(&v.stock) ^ v.trading_state as u64 ^ (v.reserved as u64) << 8 ^ a4(&v.reason) << 16
        }
        M::RegShoRestriction(v) => a8(&v.stock) ^ v.reg_sho_action as u64,
        M::MarketParticipantPosition(v) => {
            a4(&v.mpid)
                ^ a8(&v.stock)
                ^ v.primary_market_maker as u64
                ^ (v.market_maker_mode as u64) << 8
                ^ (v.market_participant_state as u64) << 16
        }
        M::MwcbDeclineLevel(v) => {
            v.level1() ^ v.level2().rotate_left(1) ^ v.level3().rotate_left(2)
        }
        M::MwcbStatus(v) => v.breached_level as u64,
        M::IpoQuotingPeriodUpdate(v) => {
            a8(&v.stock)
                ^ v.ipo_quotation_release_time() as u64
                ^ (v.ipo_quotation_release_qualifier as u64) << 32
                ^ (v.ipo_price() as u64) << 8
        }
        M::LuldAuctionCollar(v) => {
            a8(&v.stock)
                ^ v.auction_collar_reference_price() as u64
                ^ (v.upper_auction_collar_price() as u64) << 8
                ^ (v.lower_auction_collar_price() as u64) << 16
                ^ (v.auction_collar_extension() as u64) << 24
        }
        M::OperationalHalt(v) => {
            a8(&v.stock) ^ v.market_code as u64 ^ (v.operational_halt_action as u64) << 8
        }
        M::AddOrder(v) => {
            v.order_ref()
                ^ v.side as u64
                ^ (v.shares() as u64) << 8
                ^ a8(&v.stock)
                ^ (v.price() as u64) << 32
        }
        M::AddOrderMpid(v) => {
            v.order_ref()
                ^ v.side as u64
                ^ (v.shares() as u64) << 8
                ^ a8(&v.stock)
                ^ (v.price() as u64) << 32
                ^ a4(&v.attribution)
        }
        M::OrderExecuted(v) => v.order_ref() ^ (v.executed_shares() as u64) << 8 ^ v.match_number(),
        M::OrderExecutedWithPrice(v) => {
            v.order_ref()
                ^ (v.executed_shares() as u64) << 8
                ^ v.match_number()
                ^ v.printable as u64
                ^ (v.execution_price() as u64) << 32
        }
        M::OrderCancel(v) => v.order_ref() ^ (v.cancelled_shares() as u64) << 8,
        M::OrderDelete(v) => v.order_ref(),
        M::OrderReplace(v) => {
            v.original_order_ref()
                ^ v.new_order_ref().rotate_left(7)
                ^ (v.shares() as u64) << 8
                ^ (v.price() as u64) << 32
        }
        M::Trade(v) => {
            v.order_ref()
                ^ v.side as u64
                ^ (v.shares() as u64) << 8
                ^ a8(&v.stock)
                ^ (v.price() as u64) << 32
                ^ v.match_number()
        }
        M::CrossTrade(v) => {
            v.shares()
                ^ a8(&v.stock)
                ^ (v.cross_price() as u64) << 32
                ^ v.match_number()
                ^ v.cross_type as u64
        }
        M::BrokenTrade(v) => v.match_number(),
        M::Noii(v) => {
            v.paired_shares()
                ^ v.imbalance_shares().rotate_left(3)
                ^ v.imbalance_direction as u64
                ^ a8(&v.stock)
                ^ v.far_price() as u64
                ^ (v.near_price() as u64) << 16
                ^ (v.current_reference_price() as u64) << 32
                ^ v.cross_type as u64
                ^ v.price_variation_indicator as u64
        }
        M::RetailInterest(v) => a8(&v.stock) ^ v.interest_flag as u64,
        M::DirectListingCapitalRaise(v) => {
            a8(&v.stock)
                ^ v.open_eligibility_status as u64
                ^ v.minimum_allowable_price() as u64
                ^ (v.maximum_allowable_price() as u64) << 8
                ^ (v.near_execution_price() as u64) << 16
                ^ v.near_execution_time()
                ^ (v.lower_price_range_collar() as u64) << 24
                ^ (v.upper_price_range_collar() as u64) << 32
        }
    }
}

fn decode_touch_direct(bytes: &[u8]) -> (u64, u64) {
    let mut acc = 0u64;
    let mut known = 0u64;
    for (_, m) in RawMessages::new(bytes) {
        if let Ok(msg) = itch::decode(m) {
            known += 1;
            acc = acc.wrapping_add(touch_direct(&msg));
        }
    }
    (known, acc)
}

fn decode_header_only(bytes: &[u8]) -> (u64, u64) {
    let mut acc = 0u64;
    let mut known = 0u64;
    for (_, m) in RawMessages::new(bytes) {
        if let Ok(msg) = itch::decode(m) {
            known += 1;
            acc = acc.rotate_left(3)
                ^ msg.timestamp()
                ^ ((msg.stock_locate() as u64) << 48)
                ^ msg.msg_type() as u64;
        }
    }
    (known, acc)
}

fn analyzer_walk(cap: &Capture) -> (u64, u64) {
    let mut an = Analyzer::new(AnalyzerConfig::default());
    let mut acc = 0u64;
    an.run(cap, &mut |_, m| {
        if let FeedMessage::Itch(m) = m {
            acc = acc.wrapping_add(touch_all(&m));
        }
    });
    (an.stats().messages, acc)
}

/// Decompresses the synthetic file into a temporary file (kept alive by the returned handle).
fn temp_copy() -> Option<tempfile::NamedTempFile> {
    let path = feed::testdata::require("synthetic/itchbook-syn-1m-s11.itch.gz")?;
    let mut gz = flate2::read::GzDecoder::new(std::fs::File::open(path).ok()?);
    let mut raw = Vec::new();
    gz.read_to_end(&mut raw)
        .expect("inflating the synthetic file");
    let mut tmp = tempfile::NamedTempFile::new().expect("temp file");
    tmp.write_all(&raw).expect("writing the temp file");
    tmp.flush().expect("flush");
    Some(tmp)
}

/// The same messages as MoldUDP64 (20 per packet) in an in-memory pcap.
fn as_pcap(raw: &[u8]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::with_capacity(raw.len() * 2), UdpFraming::default()).unwrap();
    let mut p = MoldPacketizer::new(*b"BENCH00001", 1, MoldPacketizer::MTU_PAYLOAD, 20);
    let mut ts = 1_700_000_000_000_000_000u64;
    let mut emit = |d: &[u8]| {
        ts += 1_000;
        w.write_udp(ts, d).unwrap();
    };
    for (_, m) in RawMessages::new(raw) {
        if !m.is_empty() {
            p.push(m, &mut emit).unwrap();
        }
    }
    p.flush(&mut emit);
    w.into_inner().unwrap()
}

fn bench(c: &mut Criterion) {
    let Some(tmp) = temp_copy() else { return };
    let cap = Capture::open(tmp.path()).expect("opening the decompressed file");
    let bytes = cap.bytes();

    // Sanity before timing: the generator's own figures.
    assert_eq!(RawMessages::new(bytes).count() as u64, RECORDS);
    assert_eq!(decode_touch_all(bytes).0, KNOWN);
    assert_eq!(decode_touch_direct(bytes).0, KNOWN);
    let s = {
        let mut an = Analyzer::new(AnalyzerConfig::default());
        an.run(&cap, &mut |_, _| {});
        an.stats()
    };
    assert_eq!((s.messages, s.unknown), (KNOWN, UNKNOWN));
    let pcap = Capture::from_vec("bench.pcap", as_pcap(bytes), None).unwrap();
    assert_eq!(analyzer_walk(&pcap).0, KNOWN);

    let mut g = c.benchmark_group("itch");
    g.throughput(Throughput::Elements(RECORDS));
    g.sample_size(30);
    g.bench_function("decode_touch_all", |b| {
        b.iter(|| black_box(decode_touch_all(black_box(bytes))))
    });
    g.bench_function("decode_touch_direct", |b| {
        b.iter(|| black_box(decode_touch_direct(black_box(bytes))))
    });
    g.bench_function("decode_header_only", |b| {
        b.iter(|| black_box(decode_header_only(black_box(bytes))))
    });
    g.bench_function("analyzer_raw", |b| {
        b.iter(|| black_box(analyzer_walk(black_box(&cap))))
    });
    g.bench_function("pcap_replay", |b| {
        b.iter(|| black_box(analyzer_walk(black_box(&pcap))))
    });
    g.finish();

    // The same work timed by the thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`) instead of the wall clock: on a
    // shared 2-core machine this leaves out the time the benchmark thread was not scheduled.
    let mut g = c.benchmark_group("itch_cpu_time");
    g.throughput(Throughput::Elements(RECORDS));
    g.sample_size(30);
    g.bench_function("decode_touch_all", |b| {
        b.iter_custom(|n| cpu_time(n, || decode_touch_all(bytes)))
    });
    g.bench_function("decode_touch_direct", |b| {
        b.iter_custom(|n| cpu_time(n, || decode_touch_direct(bytes)))
    });
    g.bench_function("decode_header_only", |b| {
        b.iter_custom(|n| cpu_time(n, || decode_header_only(bytes)))
    });
    g.bench_function("analyzer_raw", |b| {
        b.iter_custom(|n| cpu_time(n, || analyzer_walk(&cap)))
    });
    g.bench_function("pcap_replay", |b| {
        b.iter_custom(|n| cpu_time(n, || analyzer_walk(&pcap)))
    });
    g.finish();
}

/// Runs `f` `iters` times and returns the thread CPU time spent.
fn cpu_time(iters: u64, mut f: impl FnMut() -> (u64, u64)) -> Duration {
    let t0 = thread_cpu();
    for _ in 0..iters {
        black_box(f());
    }
    thread_cpu() - t0
}

criterion_group!(benches, bench);
criterion_main!(benches);
