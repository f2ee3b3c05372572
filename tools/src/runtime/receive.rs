//! The live receive stage: a socket backend fills pool slots, the stage stamps and hands them to the book shards,
//! recycles slots the shards released, and applies the backpressure policy.
//!
//! # Backpressure policy (live)
//! The receive thread never blocks the socket for long: when the packet ring of a book shard is full it waits up to
//! `drop_after_us` (spinning/yielding per its wait strategy); if the ring is still full it **drops the datagram**,
//! counts it (`dropped_packets`, and `dropped_messages` from the datagram's transport header) and records its
//! sequence range in the drop log, printed at exit. The book stage's sequencer then sees the missing range as a gap,
//! so a drop always shows up in the gap figures of `--stats-out` and the metrics too. The same applies when no pool
//! slot is free (the backend cannot receive; the kernel queues, then drops — those drops appear as sequence gaps).
//! Replay never drops: it waits.
//!
//! # Stamps
//! All datagrams returned by one receive call (`recvmmsg` batch, or one batch of io_uring completions) get the stamp
//! taken right after that call returned: the time user space got them.

use std::time::Duration;

use super::latency::Recorder;
use super::pipeline::{Deliver, Delivery, LivePacket, Shared, Source};
use super::pool::{PacketPool, SlotLedger};
use super::stage::PacketMeta;
use super::wait::{Backoff, Snooze, WaitStrategy};

/// One received datagram (filled by a backend).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RxDgram {
    /// Pool slot holding it.
    pub slot: u32,
    /// Bytes in the slot.
    pub len: u32,
    /// Longer than the slot: the tail was cut.
    pub truncated: bool,
}

/// A receive backend: owns the socket and the free slots it receives into.
pub trait RxBackend: Send {
    /// Receives what is available into free slots, appending to `out` (at most `out.capacity() - out.len()`
    /// datagrams). With `wait = Some(d)` it may block up to `d` when nothing is available; `None` never blocks.
    /// Returns the number received.
    fn recv_batch(
        &mut self,
        out: &mut Vec<RxDgram>,
        wait: Option<Duration>,
    ) -> std::io::Result<usize>;
    /// Makes `slot` available for receiving again.
    fn recycle(&mut self, slot: u32);
    /// Short name (`mio`, `io-uring`).
    fn name(&self) -> &'static str;
    /// True when the backend will never deliver anything again (in-memory backends); sockets never finish.
    fn finished(&self) -> bool {
        false
    }
}

/// Which transport header to read for the drop log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// MoldUDP64.
    Mold,
    /// IEX-TP.
    IexTp,
}

/// Detects the transport of a datagram: an IEX-TP header (version 1, message protocol id 0x80xx, consistent payload
/// length) or MoldUDP64.
pub fn detect_transport(d: &[u8]) -> Transport {
    if d.len() >= 40 && d[0] == 1 && d[3] == 0x80 {
        let payload_len = u16::from_le_bytes([d[12], d[13]]) as usize;
        if 40 + payload_len == d.len() || (40 + payload_len > d.len() && d.len() >= 40) {
            return Transport::IexTp;
        }
    }
    Transport::Mold
}

/// First sequence number and message count of a datagram, from its transport header.
pub fn seq_range(d: &[u8], t: Transport) -> Option<(u64, u16)> {
    match t {
        Transport::Mold => {
            let h = d.get(..20)?;
            let seq = u64::from_be_bytes(h[10..18].try_into().ok()?);
            let count = u16::from_be_bytes([h[18], h[19]]);
            Some((seq, if count == 0xFFFF { 0 } else { count }))
        }
        Transport::IexTp => {
            let h = d.get(..40)?;
            let count = u16::from_le_bytes([h[14], h[15]]);
            let seq = u64::from_le_bytes(h[24..32].try_into().ok()?);
            Some((seq, count))
        }
    }
}

/// A dropped datagram's sequence range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DropRecord {
    /// Packet ordinal in this run.
    pub index: u64,
    /// First sequence number (0 if the header was unreadable).
    pub seq: u64,
    /// Messages it held.
    pub count: u16,
}

/// Bounded log of dropped ranges (the first [`DropLog::CAPACITY`]; later ones are only counted).
#[derive(Debug)]
pub struct DropLog {
    records: Vec<DropRecord>,
    /// Total drops (including those not logged).
    pub total: u64,
}

impl DropLog {
    /// Records kept.
    pub const CAPACITY: usize = 4096;

    fn new() -> Self {
        DropLog {
            records: Vec::with_capacity(Self::CAPACITY),
            total: 0,
        }
    }

    #[cold]
    fn push(&mut self, r: DropRecord) {
        self.total += 1;
        if self.records.len() < Self::CAPACITY {
            self.records.push(r);
        }
    }

    /// The logged ranges.
    pub fn records(&self) -> &[DropRecord] {
        &self.records
    }
}

/// The live source: a backend plus the slot book-keeping and backpressure policy.
#[derive(Debug)]
pub struct LiveSource<'p, B> {
    backend: B,
    pool: &'p PacketPool,
    ledger: SlotLedger,
    batch: Vec<RxDgram>,
    wait: WaitStrategy,
    drop_after: Duration,
    forced: Option<Transport>,
    /// Dropped datagrams.
    pub drops: DropLog,
}

impl<'p, B: RxBackend> LiveSource<'p, B> {
    /// A source receiving with `backend` into `pool`, `batch` datagrams per call. `forced` fixes the transport
    /// (else detected per datagram) for the drop log.
    pub fn new(
        backend: B,
        pool: &'p PacketPool,
        batch: usize,
        wait: WaitStrategy,
        drop_after: Duration,
        forced: Option<Transport>,
    ) -> Self {
        LiveSource {
            backend,
            pool,
            ledger: SlotLedger::new(pool.slots(), false),
            batch: Vec::with_capacity(batch.clamp(1, 1024)),
            wait,
            drop_after,
            forced,
            drops: DropLog::new(),
        }
    }

    /// The backend (e.g. to read its counters after the run).
    pub fn backend(&self) -> &B {
        &self.backend
    }

    fn recycle_released<D: Deliver<LivePacket>>(&mut self, out: &mut D) {
        let ledger = &mut self.ledger;
        let backend = &mut self.backend;
        out.released(&mut |s| {
            if ledger.release(s) {
                backend.recycle(s);
            }
        });
    }
}

impl<B: RxBackend> Source for LiveSource<'_, B> {
    type Packet = LivePacket;

    fn run<D: Deliver<LivePacket>>(
        &mut self,
        out: &mut D,
        shared: &Shared,
        rec: &mut Recorder,
    ) -> anyhow::Result<()> {
        let clock = *rec.clock();
        let mut backoff = Backoff::new(self.wait);
        let mut index = 0u64;
        // When the wait strategy decides to park, the next receive call blocks in the kernel (bounded).
        let mut block_next: Option<Duration> = None;
        let mut stopping = false;
        loop {
            if !stopping && shared.stopping() {
                // Drain what the kernel already queued for us, then stop.
                stopping = true;
            }
            self.recycle_released(out);
            self.batch.clear();
            let wait = if stopping { None } else { block_next.take() };
            let n = match self.backend.recv_batch(&mut self.batch, wait) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
                Err(e) => return Err(anyhow::anyhow!("{} receive: {e}", self.backend.name())),
            };
            let now = clock.now();
            if n == 0 {
                if stopping || self.backend.finished() {
                    // Slots still held by the shards are released as they finish; nothing else is pending.
                    return Ok(());
                }
                rec.tick(now);
                if let Snooze::Park(d) = backoff.snooze() {
                    block_next = Some(d);
                }
                continue;
            }
            backoff.reset();
            for i in 0..self.batch.len() {
                let d = self.batch[i];
                rec.counters.packets += 1;
                rec.counters.bytes += u64::from(d.len);
                if d.truncated {
                    rec.counters.truncated += 1;
                }
                let p = LivePacket {
                    slot: d.slot,
                    len: d.len,
                    meta: PacketMeta {
                        rx: now,
                        index,
                        source: 0,
                        truncated: d.truncated,
                    },
                };
                index += 1;
                match out.deliver(p, Some(self.drop_after)) {
                    Delivery::Consumed => self.backend.recycle(d.slot),
                    Delivery::Queued(n) => self.ledger.lend(d.slot, n),
                    Delivery::Dropped => {
                        // SAFETY: the slot was filled by the backend for this thread and was not handed to anyone.
                        let bytes = unsafe { self.pool.packet(d.slot, d.len as usize) };
                        let t = self.forced.unwrap_or_else(|| detect_transport(bytes));
                        let (seq, count) = seq_range(bytes, t).unwrap_or((0, 0));
                        rec.counters.dropped_packets += 1;
                        rec.counters.dropped_messages += u64::from(count);
                        self.drops.push(DropRecord {
                            index: p.meta.index,
                            seq,
                            count,
                        });
                        self.backend.recycle(d.slot);
                        // Make room: released slots may be waiting.
                        self.recycle_released(out);
                    }
                    Delivery::Closed => {
                        self.backend.recycle(d.slot);
                        anyhow::bail!("the book stage ended early; stopping the receive stage");
                    }
                }
            }
            out.flush();
            shared
                .packets
                .store(rec.counters.packets, std::sync::atomic::Ordering::Relaxed);
            shared
                .bytes
                .store(rec.counters.bytes, std::sync::atomic::Ordering::Relaxed);
            rec.tick(now);
        }
    }
}

/// A backend over datagrams held in memory (tests, benches): "receives" them in order into pool slots, then reports
/// nothing more. Slots follow the same protocol as a socket backend.
#[derive(Debug)]
pub struct MemBackend<'p> {
    pool: &'p PacketPool,
    free: SlotLedger,
    data: Vec<Vec<u8>>,
    next: usize,
    /// Datagrams not received yet because no slot was free (retried on the next call).
    pub slot_waits: u64,
}

impl<'p> MemBackend<'p> {
    /// A backend that will deliver `data`, one datagram per element.
    pub fn new(pool: &'p PacketPool, data: Vec<Vec<u8>>) -> Self {
        MemBackend {
            pool,
            free: SlotLedger::new(pool.slots(), true),
            data,
            next: 0,
            slot_waits: 0,
        }
    }

    /// Whether every datagram was handed out.
    pub fn exhausted(&self) -> bool {
        self.next >= self.data.len()
    }
}

impl RxBackend for MemBackend<'_> {
    fn recv_batch(
        &mut self,
        out: &mut Vec<RxDgram>,
        _wait: Option<Duration>,
    ) -> std::io::Result<usize> {
        let mut n = 0;
        while out.len() < out.capacity() && self.next < self.data.len() {
            let Some(slot) = self.free.take() else {
                self.slot_waits += 1;
                break;
            };
            let d = &self.data[self.next];
            // SAFETY: `slot` came off this backend's free list: no reader holds it.
            let buf = unsafe { self.pool.slot_mut(slot) };
            let len = d.len().min(buf.len());
            buf[..len].copy_from_slice(&d[..len]);
            out.push(RxDgram {
                slot,
                len: len as u32,
                truncated: len < d.len(),
            });
            self.next += 1;
            n += 1;
        }
        Ok(n)
    }

    fn recycle(&mut self, slot: u32) {
        self.free.put(slot);
    }

    fn name(&self) -> &'static str {
        "memory"
    }

    fn finished(&self) -> bool {
        self.exhausted()
    }
}
