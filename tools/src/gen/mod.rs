//! `tickwatch gen`: a synthetic, labelled NASDAQ TotalView-ITCH 5.0 day.
//!
//! # What is generated
//! - A stock directory (`R`) and trading actions (`H`) at the start, system events `O`, `S`, `Q`, `M`, `E`, `C`.
//! - `symbols` stocks with Zipf-skewed activity (weight ∝ 1/rank), prices log-uniform in $25–$400, each with a
//!   fair value following a geometric random walk (1–3 % daily volatility).
//! - Uncrossed L3 books seeded at 09:29 and kept alive by limit orders placed around the touch (joining, improving
//!   while the spread is wider than the symbol's usual one, or a few ticks behind), most of them cancelled
//!   (deletes, some partial cancels and replaces) after short lives; marketable orders that execute resting orders
//!   (`E`, some `C`), trades against hidden orders (`P`), a few orders attributed to market makers (`F`, each MPID
//!   active in at most two symbols).
//! - A 09:30–16:00 session with an opening cross (`Q`, type `O`) and a closing cross (type `C`) per symbol.
//! - Injected episodes of every detector with parameters drawn above the default thresholds, and near-miss decoys
//!   just below one of them (see [`episodes`]). Episodes other than marking-the-close run one at a time, separated
//!   by at least 15 s, between 09:32 and 15:45; marking-the-close episodes run in distinct symbols in 15:53–16:00.
//!
//! Output: MoldUDP64 in a nanosecond pcap (Ethernet/IPv4/UDP to 233.54.12.111:26477, session `TWGEN00001`,
//! packets of up to 1 472 bytes, a packet closed when the next message is more than 100 µs later), or a raw
//! NASDAQ BinaryFILE (2-byte length prefix); labels as JSON lines. Everything is a function of the seed
//! (ChaCha8): same flags, same bytes.

pub mod check;
pub mod episodes;
pub mod market;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use feed::encode::itch::{Message, StockDirectory, StockTradingAction, SystemEvent};
use feed::encode::{MoldPacketizer, PcapWriter, RawItchWriter, UdpFraming};
use feed::itch::Alpha;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use episodes::{Close, Coord, Episode, Label, Layer, Momo, Otr, Spoof, Stuff, MS, S};
use market::{Market, Sink, SymBook, CENT};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// MoldUDP64 packets in a nanosecond pcap.
    Pcap,
    /// Raw length-prefixed ITCH (NASDAQ BinaryFILE).
    Raw,
}

/// Parameters of one generated day.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// RNG seed: the output is a function of the whole configuration, seed included.
    pub seed: u64,
    /// Number of symbols (stock locates 1..=symbols).
    pub symbols: u16,
    /// Approximate number of background messages over the session.
    pub messages: u64,
    /// Labelled episodes per detector.
    pub episodes: usize,
    /// Decoys per detector.
    pub decoys: usize,
    /// Trading date (pcap timestamps = that date's US/Eastern midnight + feed time).
    pub date_midnight_utc_ns: u64,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 1,
            symbols: 100,
            messages: 5_000_000,
            episodes: 8,
            decoys: 8,
            // 2024-03-15 00:00 US/Eastern (EDT, UTC-4) = 04:00 UTC.
            date_midnight_utc_ns: 1_710_475_200 * S,
        }
    }
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct GenSummary {
    /// Messages written.
    pub messages: u64,
    /// Labelled episodes.
    pub labels: Vec<Label>,
    /// Decoys.
    pub decoys: Vec<Label>,
    /// MoldUDP64 packets (pcap) or 0 (raw).
    pub packets: u64,
}

/// Writes messages as MoldUDP64 packets into a pcap.
#[derive(Debug)]
pub struct PcapSink<W: Write> {
    mold: MoldPacketizer,
    pcap: PcapWriter<W>,
    midnight: u64,
    pkt_ts: Option<u64>,
    last_ts: u64,
    buf: [u8; 64],
    /// First I/O error (writing stops).
    pub error: Option<io::Error>,
    /// Packets written.
    pub packets: u64,
}

impl<W: Write> PcapSink<W> {
    /// A sink writing to `w`.
    pub fn new(w: W, midnight_utc_ns: u64) -> io::Result<Self> {
        Ok(PcapSink {
            mold: MoldPacketizer::new(*b"TWGEN00001", 1, MoldPacketizer::MTU_PAYLOAD, 1_000),
            pcap: PcapWriter::new(w, UdpFraming::default())?,
            midnight: midnight_utc_ns,
            pkt_ts: None,
            last_ts: 0,
            buf: [0; 64],
            error: None,
            packets: 0,
        })
    }

    fn flush_packet(&mut self) {
        let ts = self.midnight + self.last_ts + 20_000;
        let (pcap, err, packets) = (&mut self.pcap, &mut self.error, &mut self.packets);
        self.mold.flush(&mut |p: &[u8]| {
            if err.is_none() {
                if let Err(e) = pcap.write_udp(ts, p) {
                    *err = Some(e);
                }
            }
            *packets += 1;
        });
        self.pkt_ts = None;
    }

    /// Flushes the last packet, writes an end-of-session packet and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_packet();
        let ts = self.midnight + self.last_ts + 20_000;
        let (pcap, err) = (&mut self.pcap, &mut self.error);
        self.mold.end_of_session(&mut |p: &[u8]| {
            if err.is_none() {
                if let Err(e) = pcap.write_udp(ts, p) {
                    *err = Some(e);
                }
            }
        });
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.pcap.into_inner()
    }
}

impl<W: Write> Sink for PcapSink<W> {
    fn push(&mut self, m: &Message) {
        let ts = m.timestamp();
        if self.pkt_ts.is_some_and(|t0| ts > t0 + 100_000) {
            self.flush_packet();
        }
        let n = m
            .encode(&mut self.buf)
            .expect("64 bytes hold any ITCH message");
        self.last_ts = ts;
        if self.pkt_ts.is_none() {
            self.pkt_ts = Some(ts);
        }
        let (pcap, err, packets, midnight) = (
            &mut self.pcap,
            &mut self.error,
            &mut self.packets,
            self.midnight,
        );
        let r = self.mold.push(&self.buf[..n], &mut |p: &[u8]| {
            if err.is_none() {
                if let Err(e) = pcap.write_udp(midnight + ts + 20_000, p) {
                    *err = Some(e);
                }
            }
            *packets += 1;
        });
        debug_assert!(r.is_ok());
    }
}

/// Writes messages as a raw BinaryFILE.
#[derive(Debug)]
pub struct RawSink<W: Write> {
    w: RawItchWriter<W>,
    /// First I/O error.
    pub error: Option<io::Error>,
}

impl<W: Write> RawSink<W> {
    /// A sink writing to `w`.
    pub fn new(w: W) -> Self {
        RawSink {
            w: RawItchWriter::new(w),
            error: None,
        }
    }
    /// Flushes and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.w.into_inner()
    }
}

impl<W: Write> Sink for RawSink<W> {
    fn push(&mut self, m: &Message) {
        if self.error.is_none() {
            if let Err(e) = self.w.write(m) {
                self.error = Some(e);
            }
        }
    }
}

fn hms(h: u64, m: u64, s: u64) -> u64 {
    ((h * 60 + m) * 60 + s) * S
}

fn ticker(rng: &mut ChaCha8Rng, taken: &mut std::collections::HashSet<[u8; 8]>) -> [u8; 8] {
    loop {
        let len = rng.gen_range(3..=4);
        let mut t = [b' '; 8];
        for b in t.iter_mut().take(len) {
            *b = b'A' + rng.gen_range(0..26u8);
        }
        if taken.insert(t) {
            return t;
        }
    }
}

fn mpid(
    rng: &mut ChaCha8Rng,
    taken: &mut std::collections::HashSet<[u8; 4]>,
    prefix: u8,
) -> [u8; 4] {
    loop {
        let mut t = [prefix, 0, 0, 0];
        for b in t.iter_mut().skip(1) {
            *b = b'A' + rng.gen_range(0..26u8);
        }
        if taken.insert(t) {
            return t;
        }
    }
}

/// Builds the symbol universe.
fn symbols(cfg: &GenConfig, rng: &mut ChaCha8Rng) -> Vec<SymBook> {
    let n = cfg.symbols.max(1) as usize;
    let mut taken = std::collections::HashSet::new();
    let weights: Vec<f64> = (0..n).map(|i| 1.0 / (i + 1) as f64).collect();
    let wsum: f64 = weights.iter().sum();
    let mut ranks: Vec<usize> = (0..n).collect();
    ranks.shuffle(rng);
    // Background events per second over the session; ~1.15 messages per event.
    let total_rate = cfg.messages as f64 / 1.15 / 23_400.0;
    (0..n)
        .map(|i| {
            let rate = total_rate * weights[ranks[i]] / wsum;
            let price = (25f64.ln() + rng.gen::<f64>() * (400f64 / 25.0).ln()).exp();
            let price = (price * 100.0).round() * CENT as f64;
            let vol = rng.gen_range(0.01..0.03);
            let spread = if rate >= 5.0 {
                1
            } else if rate >= 1.0 {
                2
            } else {
                3
            };
            Market::sym_book(
                (i + 1) as u16,
                ticker(rng, &mut taken),
                price,
                rate,
                vol,
                spread,
            )
        })
        .collect()
}

/// Kinds of non-close episodes, for scheduling.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Spoof,
    Layer,
    Stuff,
    Momo,
    Coord,
    Otr,
}

impl Kind {
    /// Slot length (the episode and its margins).
    fn slot(self) -> u64 {
        match self {
            Kind::Spoof => 8 * S,
            Kind::Layer => 18 * S,
            Kind::Stuff => 4 * S,
            Kind::Momo => 32 * S,
            Kind::Coord => 8 * S,
            Kind::Otr => 52 * S,
        }
    }
    fn decoys(self) -> &'static [&'static str] {
        match self {
            Kind::Spoof => &[
                "size_below",
                "cancel_after_limit",
                "too_far",
                "executed",
                "no_opposite_execution",
            ],
            Kind::Layer => &[
                "two_levels",
                "small_orders",
                "late_execution",
                "low_cancel_fraction",
                "late_cancels",
            ],
            Kind::Stuff => &["too_few_messages", "spread_out", "low_order_to_trade"],
            Kind::Momo => &["slow_move", "small_move", "shallow_retrace", "late_retrace"],
            Kind::Coord => &[
                "two_symbols",
                "orders_too_large",
                "too_slow",
                "joins_bid",
                "two_symbols",
                "too_few_per_symbol",
            ],
            Kind::Otr => &["ratio_below", "too_few_messages", "ratio_below"],
        }
    }
}

/// Generates a day into `sink`. Labels and decoys come back in the summary (sorted by start time).
pub fn generate(cfg: &GenConfig, sink: &mut dyn Sink) -> GenSummary {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let books = symbols(cfg, &mut rng);
    let n = books.len();
    let mut mpids_taken = std::collections::HashSet::new();
    // Market makers: each active in at most two symbols.
    let mut bg_mpids = Vec::new();
    for pair in (0..n).collect::<Vec<_>>().chunks(2) {
        if rng.gen::<f64>() < 0.6 {
            let mp = mpid(&mut rng, &mut mpids_taken, b'M');
            bg_mpids.push((pair.to_vec(), mp));
        }
    }
    let mut m = Market::new(books, sink);
    for (locs, mp) in &bg_mpids {
        for &i in locs {
            m.syms[i].mpids.push(*mp);
        }
    }
    // Activity classes (by background rate).
    let mut by_rate: Vec<u16> = (1..=n as u16).collect();
    by_rate.sort_by(|a, b| m.sym(*b).rate.total_cmp(&m.sym(*a).rate).then(a.cmp(b)));
    let hot_n = (n / 10).max(1);
    let quiet_from = n / 2;

    // ---- Episode plan -------------------------------------------------------------------------------------
    let mut slots: Vec<(Kind, Option<&'static str>, usize)> = Vec::new();
    for kind in [
        Kind::Spoof,
        Kind::Layer,
        Kind::Stuff,
        Kind::Momo,
        Kind::Coord,
        Kind::Otr,
    ] {
        for i in 0..cfg.episodes {
            slots.push((kind, None, i));
        }
        let vs = kind.decoys();
        for i in 0..cfg.decoys {
            slots.push((kind, Some(vs[i % vs.len()]), i));
        }
    }
    slots.shuffle(&mut rng);
    let day_from = hms(9, 32, 0);
    let day_to = hms(15, 45, 0);
    let min_gap = 15 * S;
    let need: u64 = slots.iter().map(|s| s.0.slot() + min_gap).sum();
    let free = (day_to - day_from).saturating_sub(need);
    let weights: Vec<f64> = (0..=slots.len())
        .map(|_| -(rng.gen_range(f64::MIN_POSITIVE..1.0)).ln())
        .collect();
    let wsum: f64 = weights.iter().sum();
    let mut t = day_from;
    let mut planned: Vec<Box<dyn Episode>> = Vec::new();
    let pick = |rng: &mut ChaCha8Rng, pool: &[u16]| pool[rng.gen_range(0..pool.len())];
    let quiet: Vec<u16> = by_rate[quiet_from.min(n - 1)..].to_vec();
    let not_hot: Vec<u16> = by_rate[hot_n.min(n - 1)..].to_vec();
    let pricey: Vec<u16> = by_rate
        .iter()
        .copied()
        .filter(|&l| m.sym(l).fv >= 40.0 * 10_000.0)
        .collect();
    let pricey = if pricey.is_empty() {
        by_rate.clone()
    } else {
        pricey
    };
    let busy: Vec<u16> = by_rate[..(n / 2).max(1)].to_vec();
    for (k, (kind, decoy, i)) in slots.iter().enumerate() {
        t += min_gap + (free as f64 * weights[k] / wsum) as u64;
        let t0 = t + 2 * S;
        let ep: Box<dyn Episode> = match kind {
            Kind::Spoof => Box::new({
                let l = pick(&mut rng, &not_hot);
                Spoof::plan(&mut m, &mut rng, l, t0, *decoy)
            }),
            Kind::Layer => {
                let mp = (i % 2 == 1).then(|| mpid(&mut rng, &mut mpids_taken, b'L'));
                Box::new({
                    let l = pick(&mut rng, &not_hot);
                    Layer::plan(&mut m, &mut rng, l, t0, *decoy, mp)
                })
            }
            Kind::Stuff => {
                let pool: Vec<u16> = not_hot
                    .iter()
                    .copied()
                    .filter(|&l| m.sym(l).rate <= 5.0)
                    .collect();
                let pool = if pool.is_empty() { quiet.clone() } else { pool };
                Box::new({
                    let l = pick(&mut rng, &pool);
                    Stuff::plan(&mut m, &mut rng, l, t0, *decoy)
                })
            }
            Kind::Momo => Box::new({
                let l = pick(&mut rng, &pricey);
                Momo::plan(&mut m, &mut rng, l, t0, *decoy)
            }),
            Kind::Coord => {
                let by_mpid = match decoy {
                    Some("too_few_per_symbol") => false,
                    Some("orders_too_large") | Some("too_slow") | Some("joins_bid") => true,
                    _ => i % 2 == 0,
                };
                let k = rng.gen_range(3..=if by_mpid { 5 } else { 4 });
                // The definition needs three symbols: a day with fewer gets no labelled coordinated episode (its
                // label could not meet the definition; decoys stay), and anonymous episodes take the three
                // quietest symbols when fewer than three are in the quiet half (days of 3 or 4 symbols).
                if n < 3 && decoy.is_none() {
                    continue;
                }
                let mut locs = if by_mpid {
                    by_rate.clone()
                } else if quiet.len() >= 3 {
                    quiet.clone()
                } else {
                    by_rate[n.saturating_sub(3)..].to_vec()
                };
                locs.shuffle(&mut rng);
                locs.truncate(k.min(locs.len()));
                let mp = by_mpid.then(|| mpid(&mut rng, &mut mpids_taken, b'C'));
                Box::new(Coord::plan(&mut m, &mut rng, locs, t0, *decoy, mp))
            }
            Kind::Otr => {
                let by_mpid = *decoy != Some("too_few_messages") && i % 2 == 1;
                if by_mpid {
                    let mp = mpid(&mut rng, &mut mpids_taken, b'Q');
                    Box::new({
                        let l = pick(&mut rng, &busy);
                        Otr::plan(&mut m, &mut rng, l, t0, *decoy, Some(mp))
                    })
                } else {
                    let pool: Vec<u16> = quiet
                        .iter()
                        .copied()
                        .filter(|&l| m.sym(l).rate <= 3.0)
                        .collect();
                    let pool = if pool.is_empty() { quiet.clone() } else { pool };
                    Box::new({
                        let l = pick(&mut rng, &pool);
                        Otr::plan(&mut m, &mut rng, l, t0, *decoy, None)
                    })
                }
            }
        };
        planned.push(ep);
        t += kind.slot();
    }
    // Marking the close: distinct symbols.
    let mut close_syms: Vec<u16> = (1..=n as u16).collect();
    close_syms.shuffle(&mut rng);
    let mut ci = 0;
    for i in 0..cfg.episodes {
        if ci >= close_syms.len() {
            break;
        }
        let push = i % 2 == 1;
        planned.push(Box::new(Close::plan(
            &mut m,
            &mut rng,
            close_syms[ci],
            push,
            None,
        )));
        ci += 1;
    }
    let close_decoys = [
        (false, "entered_before_window"),
        (true, "deviation_below"),
        (false, "cancelled_too_early"),
        (true, "push_size_below"),
        (false, "size_below"),
        (true, "push_before_window"),
    ];
    for i in 0..cfg.decoys {
        if ci >= close_syms.len() {
            break;
        }
        let (push, v) = close_decoys[i % close_decoys.len()];
        planned.push(Box::new(Close::plan(
            &mut m,
            &mut rng,
            close_syms[ci],
            push,
            Some(v),
        )));
        ci += 1;
    }
    planned.sort_by_key(|e| e.next_ts());

    // ---- Session --------------------------------------------------------------------------------------------
    let open = hms(9, 30, 0);
    let close = episodes::CLOSE;
    m.now = hms(3, 0, 0);
    m.emit_raw(sys_event(b'O', m.now));
    for i in 0..n {
        let loc = (i + 1) as u16;
        m.now = hms(3, 0, 0) + 1_000 + i as u64 * 1_000;
        let sym = m.sym(loc).symbol;
        m.emit_raw(Message::StockDirectory(StockDirectory {
            stock_locate: loc,
            timestamp: m.now,
            stock: Alpha(sym),
            market_category: b'Q',
            financial_status_indicator: b'N',
            round_lot_size: 100,
            round_lots_only: b'N',
            issue_classification: b'C',
            issue_sub_type: Alpha(*b"Z "),
            authenticity: b'P',
            short_sale_threshold_indicator: b'N',
            ipo_flag: b'N',
            luld_reference_price_tier: b'1',
            etp_flag: b'N',
            etp_leverage_factor: 0,
            inverse_indicator: b'N',
            ..Default::default()
        }));
    }
    m.now = hms(4, 0, 0);
    m.emit_raw(sys_event(b'S', m.now));
    for i in 0..n {
        let loc = (i + 1) as u16;
        m.now = hms(4, 0, 0) + 1_000 + i as u64 * 1_000;
        let sym = m.sym(loc).symbol;
        m.emit_raw(Message::StockTradingAction(StockTradingAction {
            stock_locate: loc,
            timestamp: m.now,
            stock: Alpha(sym),
            trading_state: b'T',
            reserved: b' ',
            reason: Alpha(*b"    "),
            ..Default::default()
        }));
    }
    for i in 0..n {
        let loc = (i + 1) as u16;
        m.now = hms(9, 29, 0) + i as u64 * 10 * MS;
        let depth = (m.sym(loc).target_live / 2).clamp(10, 60);
        m.seed_book(loc, depth, &mut rng);
    }
    m.now = open;
    m.emit_raw(sys_event(b'Q', m.now));
    for i in 0..n {
        let loc = (i + 1) as u16;
        m.now = open + 1_000 + i as u64 * 10_000;
        let p = m.sym(loc).mid();
        let q = 100 * rng.gen_range(10..=500u64);
        m.cross(loc, p, q, b'O');
    }
    m.trading = true;

    // Background arrivals: one Poisson stream over all symbols.
    let cum: Vec<f64> = m
        .syms
        .iter()
        .scan(0.0, |acc, s| {
            *acc += s.rate;
            Some(*acc)
        })
        .collect();
    let total_rate = *cum.last().unwrap_or(&0.0);
    let mut next_bg = m.now + 1;
    let draw_gap = |rng: &mut ChaCha8Rng| -> u64 {
        if total_rate <= 0.0 {
            return u64::MAX / 4;
        }
        let u: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
        ((-u.ln() / total_rate) * 1e9) as u64 + 1
    };
    next_bg += draw_gap(&mut rng);
    let mut active: Vec<Box<dyn Episode>> = Vec::new();
    let mut pending = planned.into_iter().peekable();
    let mut labels = Vec::new();
    let mut decoys = Vec::new();
    loop {
        while pending
            .peek()
            .is_some_and(|e| e.next_ts() <= next_bg.min(close))
        {
            active.push(pending.next().expect("peeked"));
        }
        let (ei, ets) = active
            .iter()
            .enumerate()
            .map(|(i, e)| (i, e.next_ts()))
            .min_by_key(|&(i, t)| (t, i))
            .unwrap_or((usize::MAX, u64::MAX));
        if ets <= next_bg && ets < close {
            m.now = ets.max(m.now);
            active[ei].step(&mut m, &mut rng);
            if active[ei].next_ts() == u64::MAX {
                let e = active.swap_remove(ei);
                if let Some(l) = e.label() {
                    if l.decoy.is_some() {
                        decoys.push(l);
                    } else {
                        labels.push(l);
                    }
                }
            }
            continue;
        }
        if next_bg >= close {
            break;
        }
        m.now = next_bg;
        let u = rng.gen::<f64>() * total_rate;
        let i = cum.partition_point(|&c| c < u).min(n - 1);
        m.background((i + 1) as u16, &mut rng);
        next_bg += draw_gap(&mut rng);
    }
    // Close.
    m.trading = false;
    m.now = close;
    m.emit_raw(sys_event(b'M', m.now));
    for i in 0..n {
        let loc = (i + 1) as u16;
        m.now = close + 1_000 + i as u64 * 10_000;
        let sb = m.sym(loc);
        let p = if sb.last_trade > 0 {
            sb.last_trade
        } else {
            sb.mid()
        };
        let q = 100 * rng.gen_range(10..=800u64);
        m.cross(loc, p, q, b'C');
    }
    m.now = hms(20, 0, 0);
    m.emit_raw(sys_event(b'E', m.now));
    m.now = hms(20, 5, 0);
    m.emit_raw(sys_event(b'C', m.now));
    labels.sort_by_key(|l: &Label| (l.start_ns, l.stock_locate));
    decoys.sort_by_key(|l: &Label| (l.start_ns, l.stock_locate));
    GenSummary {
        messages: m.messages,
        labels,
        decoys,
        packets: 0,
    }
}

fn sys_event(code: u8, ts: u64) -> Message {
    Message::SystemEvent(SystemEvent {
        stock_locate: 0,
        timestamp: ts,
        event_code: code,
        ..Default::default()
    })
}

/// Writes records as JSON lines.
pub fn write_labels(path: &Path, labels: &[Label]) -> io::Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    for l in labels {
        serde_json::to_writer(&mut w, &l.to_json())?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

/// Generates a day into `out` in `format`; returns the summary (labels not yet written).
pub fn generate_to_file(cfg: &GenConfig, out: &Path, format: Format) -> io::Result<GenSummary> {
    let file = BufWriter::with_capacity(1 << 20, File::create(out)?);
    match format {
        Format::Pcap => {
            let mut sink = PcapSink::new(file, cfg.date_midnight_utc_ns)?;
            let mut summary = generate(cfg, &mut sink);
            summary.packets = sink.packets;
            let mut w = sink.finish()?;
            w.flush()?;
            Ok(summary)
        }
        Format::Raw => {
            let mut sink = RawSink::new(file);
            let summary = generate(cfg, &mut sink);
            let mut w = sink.finish()?;
            w.flush()?;
            Ok(summary)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A day of `symbols` symbols (few background messages) generated in memory.
    fn day(seed: u64, symbols: u16) -> GenSummary {
        let cfg = GenConfig {
            seed,
            symbols,
            messages: 2_000,
            ..GenConfig::default()
        };
        generate(&cfg, &mut RawSink::new(Vec::new()))
    }

    #[test]
    fn coordinated_labels_span_three_symbols_on_small_days() {
        for symbols in [2, 3, 4, 5] {
            for seed in 1..=3 {
                let s = day(seed, symbols);
                let coord: Vec<_> = s
                    .labels
                    .iter()
                    .filter(|l| l.detector == "coordinated_buying")
                    .collect();
                if symbols < 3 {
                    assert!(
                        coord.is_empty(),
                        "{symbols} symbols, seed {seed}: {}",
                        coord.len()
                    );
                    continue;
                }
                assert!(
                    !coord.is_empty(),
                    "{symbols} symbols, seed {seed}: no coordinated label"
                );
                for l in coord {
                    let n = l.parameters["symbols"].as_array().expect("symbols").len();
                    assert!(
                        n >= 3,
                        "{symbols} symbols, seed {seed}: a label in {n} symbols"
                    );
                }
            }
        }
    }
}
