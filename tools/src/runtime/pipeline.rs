//! The thread layout: spawns the receive, book (per shard) and detect threads of a [`Plan`], wires them with SPSC
//! rings (or fuses adjacent stages on one thread), and runs them to the end of input or shutdown.
//!
//! | layout | threads | rings |
//! |---|---|---|
//! | `[receive+book+detect]` | 1 | none |
//! | `[receive+book] [detect]` | 2 | events |
//! | `[receive] [book+detect]` | 2 | packets (+ slot releases live) |
//! | `[receive] [book]×N [detect]` | N+2 | packets and events per shard (+ releases live) |
//!
//! With several book shards every shard sees every packet (it decodes all and applies the messages of its symbols),
//! emits a *barrier* after each packet, and the detect thread merges the shards' events by `(packet index, message
//! index)`, waiting for a barrier or event from every shard before passing anything on. The event order seen by
//! the detectors is therefore the feed order whatever the shard count or timing: replay output stays deterministic.
//!
//! Shutdown: the source returns at end of input or when [`Shared::stop`] is set; dropping its ring ends wake the
//! downstream threads, which drain their rings, call the stages' `finish` and exit. Nothing accepted is discarded.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use super::affinity;
use super::clock::Clock;
use super::latency::{recorder, Metric, Recorder, RecorderLink};
use super::pool::PacketPool;
use super::ring::{idle_all, ring, Rx, Tx};
use super::stage::{AlertMsg, AlertOut, BookStage, DetectStage, Emit, Input, PacketMeta};
use super::topology::{Plan, RingSizes, Stage, ThreadPlan};
use super::wait::{Backoff, WaitStrategy};

/// State shared by every thread of a run: the stop request and progress figures (relaxed single-writer stores).
#[derive(Debug, Default)]
pub struct Shared {
    /// Set by the signal handler (or a test) to stop the source; downstream threads then drain and finish.
    pub stop: Arc<AtomicBool>,
    /// Packets read by the source so far.
    pub packets: CachePadded<AtomicU64>,
    /// Bytes read by the source so far.
    pub bytes: CachePadded<AtomicU64>,
    /// Messages decoded by the primary book shard so far.
    pub messages: CachePadded<AtomicU64>,
    /// Alerts emitted so far.
    pub alerts: CachePadded<AtomicU64>,
}

impl Shared {
    /// Whether a stop was requested.
    #[inline]
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// A packet handle travelling from the receive thread to the book threads.
pub trait PacketItem: Copy + Send {
    /// The bytes, borrowed from the capture or the pool.
    fn input<'s>(&'s self, pool: Option<&'s PacketPool>) -> Input<'s>;
    /// Its metadata.
    fn meta(&self) -> &PacketMeta;
    /// The pool slot to release after use (live), if any.
    fn slot(&self) -> Option<u32>;
}

/// A replayed packet: a slice of the mapped capture.
#[derive(Debug, Clone, Copy)]
pub struct ReplayPacket<'a> {
    /// The bytes.
    pub input: Input<'a>,
    /// Metadata.
    pub meta: PacketMeta,
}

impl PacketItem for ReplayPacket<'_> {
    #[inline]
    fn input<'s>(&'s self, _pool: Option<&'s PacketPool>) -> Input<'s> {
        self.input
    }
    #[inline]
    fn meta(&self) -> &PacketMeta {
        &self.meta
    }
    #[inline]
    fn slot(&self) -> Option<u32> {
        None
    }
}

/// A live packet: a filled pool slot.
#[derive(Debug, Clone, Copy)]
pub struct LivePacket {
    /// Pool slot.
    pub slot: u32,
    /// Datagram length.
    pub len: u32,
    /// Metadata.
    pub meta: PacketMeta,
}

impl PacketItem for LivePacket {
    #[inline]
    fn input<'s>(&'s self, pool: Option<&'s PacketPool>) -> Input<'s> {
        let pool = pool.expect("live packets are resolved against the pool");
        // SAFETY: the slot was filled by the receive thread and published to this thread through the packet ring
        // (Release push / Acquire pop); it is released only after this slice is dropped (see `book_loop`).
        Input::Datagram(unsafe { pool.packet(self.slot, self.len as usize) })
    }
    #[inline]
    fn meta(&self) -> &PacketMeta {
        &self.meta
    }
    #[inline]
    fn slot(&self) -> Option<u32> {
        Some(self.slot)
    }
}

/// What happened to a packet handed to [`Deliver::deliver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Processed on the spot (fused book stage): the slot is free again.
    Consumed,
    /// Queued to this many book shards: the slot is free once each has released it.
    Queued(u8),
    /// Not delivered: every ring stayed full for the backpressure timeout (live only). Count it.
    Dropped,
    /// Downstream is gone (a thread ended early). Stop.
    Closed,
}

/// How the receive stage hands packets on. Implemented by the runtime for fused and ring layouts.
pub trait Deliver<P: PacketItem> {
    /// Replay: wait for room as long as needed (lossless). Live: wait at most `drop_after`, then drop.
    fn deliver(&mut self, p: P, drop_after: Option<Duration>) -> Delivery;
    /// End of a batch: wake parked consumers.
    fn flush(&mut self);
    /// Slots released by every reader since the last call (live, ring layouts).
    fn released(&mut self, f: &mut dyn FnMut(u32));
    /// Pool to resolve packets against (live).
    fn pool(&self) -> Option<&PacketPool>;
}

/// A packet source run on the receive thread: the capture reader or a socket backend.
pub trait Source: Send {
    /// The handle it produces.
    type Packet: PacketItem;
    /// Produces packets until end of input or until `shared.stop` is set. `rec` is the receive stage's recorder
    /// (counters; call `rec.tick` regularly).
    fn run<D: Deliver<Self::Packet>>(
        &mut self,
        out: &mut D,
        shared: &Shared,
        rec: &mut Recorder,
    ) -> anyhow::Result<()>;
}

/// An item on a book → detect ring.
#[derive(Debug, Clone, Copy)]
pub enum EvItem<E> {
    /// A book event with its merge key `(packet index << 16) | message index` and stamps.
    Event {
        /// The event.
        ev: E,
        /// Merge key.
        key: u64,
        /// Receive stamp of its packet.
        rx: u64,
        /// Stamp when the book stage had applied it.
        applied: u64,
    },
    /// Shard is done with packet `key >> 16` (key = `(index << 16) | 0xFFFF`); only with several shards.
    Barrier(u64),
}

impl<E> EvItem<E> {
    #[inline]
    fn key(&self) -> u64 {
        match self {
            EvItem::Event { key, .. } => *key,
            EvItem::Barrier(k) => *k,
        }
    }
}

/// Pipeline-wide settings.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Thread layout.
    pub plan: Plan,
    /// Ring capacities.
    pub rings: RingSizes,
    /// Latency clock.
    pub clock: Clock,
    /// Histogram interval.
    pub interval: Duration,
    /// Histogram upper bound (ns).
    pub max_ns: u64,
    /// Live mode (alerts carry `latency_ns`; receive may drop after `drop_after`).
    pub live: bool,
    /// Live backpressure timeout.
    pub drop_after: Duration,
}

/// Names and links of every recorder of a run, for the reporter.
#[derive(Debug)]
pub struct RecorderSet {
    /// One name per recorder (`thread/stage`).
    pub names: Vec<String>,
    /// The stage of each recorder.
    pub stages: Vec<Stage>,
    /// The reporter's ends.
    pub links: Vec<RecorderLink>,
}

/// Figures of the pipeline threads at the end of a run.
#[derive(Debug, Default, Clone)]
pub struct RunEnd {
    /// Errors raised by threads (a stage gone early, a source error, a panic).
    pub errors: Vec<String>,
}

/// Recorders for every stage instance of the plan, in a fixed order: receive, book shards, detect.
fn make_recorders(cfg: &PipelineConfig) -> (Recorder, Vec<Recorder>, Recorder, RecorderSet) {
    let mut set = RecorderSet {
        names: Vec::new(),
        stages: Vec::new(),
        links: Vec::new(),
    };
    let mut add = |name: String, stage: Stage, metrics: &[Metric]| {
        let (r, l) = recorder(
            set.names.len(),
            metrics,
            cfg.clock,
            cfg.interval,
            cfg.max_ns,
        );
        set.names.push(name);
        set.stages.push(stage);
        set.links.push(l);
        r
    };
    let rx_name = cfg.plan.thread_of(Stage::Receive).name.clone();
    let rx = add(format!("{rx_name}/receive"), Stage::Receive, &[]);
    let books = cfg
        .plan
        .threads
        .iter()
        .filter(|t| t.runs(Stage::Book))
        .map(|t| {
            add(
                format!("{}/book", t.name),
                Stage::Book,
                &[Metric::RxDecoded, Metric::DecodedBook],
            )
        })
        .collect();
    let d_name = cfg.plan.thread_of(Stage::Detect).name.clone();
    let det = add(
        format!("{d_name}/detect"),
        Stage::Detect,
        &[Metric::BookDetected, Metric::RxDetected, Metric::RxAlert],
    );
    (rx, books, det, set)
}

fn pin(t: &ThreadPlan) {
    if let Some(core) = t.core {
        if let Err(w) = affinity::pin_current(core, &t.name) {
            eprintln!("tickwatch: warning: {w}");
        }
    }
}

type ThreadResult = Result<(), String>;

fn spawn_in<'scope, 'env, F>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    name: &str,
    f: F,
) -> std::thread::ScopedJoinHandle<'scope, ThreadResult>
where
    F: FnOnce() -> ThreadResult + Send + 'scope,
{
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn_scoped(scope, f)
        .expect("spawning a pipeline thread")
}

/// Runs the pipeline to completion.
///
/// - `pool`: the live packet pool (the source fills it, the book threads read it), `None` in replay.
/// - `books`: one book stage per shard (`plan.shards`).
/// - `reporter`: runs on its own thread with the recorder links until every recorder has finished.
///
/// Returns when every thread has ended: the source reached the end of input (or `shared.stop` was set) and every
/// ring was drained.
#[allow(clippy::too_many_arguments)]
pub fn run<S, B, D, O, R, T>(
    cfg: &PipelineConfig,
    pool: Option<&PacketPool>,
    source: &mut S,
    books: &mut [B],
    detect: &mut D,
    out: &mut O,
    shared: &Shared,
    reporter: R,
) -> (RunEnd, Option<T>)
where
    S: Source,
    B: BookStage,
    D: DetectStage<Event = B::Event>,
    O: AlertOut<D::Alert>,
    R: FnOnce(RecorderSet) -> T + Send,
    T: Send,
{
    let plan = &cfg.plan;
    assert_eq!(
        books.len(),
        usize::from(plan.shards),
        "one book stage per shard"
    );
    let (rx_rec, book_recs, det_rec, set) = make_recorders(cfg);
    let rx_plan = plan.thread_of(Stage::Receive).clone();
    let det_plan = plan.thread_of(Stage::Detect).clone();
    let ring_rb = plan.ring_after(Stage::Receive);
    let ring_bd = plan.ring_after(Stage::Book);
    let shards = usize::from(plan.shards);
    assert!(
        shards == 1 || (ring_rb && ring_bd),
        "a validated plan runs sharded books on their own threads"
    );
    let barriers = shards > 1;
    let live = cfg.live;
    let mut end = RunEnd::default();
    let mut rep_out = None;

    std::thread::scope(|scope| {
        let rep = std::thread::Builder::new()
            .name("tw-report".into())
            .spawn_scoped(scope, move || reporter(set))
            .expect("spawning the reporter thread");
        let mut handles = Vec::new();

        // book → detect rings, one per shard.
        let mut ev_txs: Vec<Option<Tx<EvItem<B::Event>>>> = Vec::new();
        let mut ev_rxs: Vec<Rx<EvItem<B::Event>>> = Vec::new();
        let mut fused_detect = None;
        if ring_bd {
            for _ in 0..shards {
                let (t, r) = ring(cfg.rings.events, det_plan.wait.may_park());
                ev_txs.push(Some(t));
                ev_rxs.push(r);
            }
            let tp = det_plan.clone();
            handles.push(spawn_in(scope, &tp.name.clone(), move || {
                pin(&tp);
                let mut runner = DetectRunner::new(detect, out, det_rec, live, tp.wait);
                detect_loop(&mut ev_rxs, &mut runner, tp.wait);
                runner.finish()
            }));
        } else {
            fused_detect = Some(DetectRunner::new(detect, out, det_rec, live, det_plan.wait));
        }

        if ring_rb {
            let mut pk_txs = Vec::new();
            let mut rel_rxs = Vec::new();
            for (shard, (book, rec)) in books.iter_mut().zip(book_recs).enumerate() {
                let tp = plan
                    .threads
                    .iter()
                    .find(|t| {
                        t.runs(Stage::Book) && t.shard.is_none_or(|s| usize::from(s) == shard)
                    })
                    .expect("a book thread per shard")
                    .clone();
                let (t, mut pk_rx) = ring::<S::Packet>(cfg.rings.packets, tp.wait.may_park());
                pk_txs.push(t);
                let release = pool.map(|p| {
                    // Holds every slot of the pool, so a release never finds it full.
                    let (t, r) = ring::<u32>(p.slots() as usize + 1, false);
                    rel_rxs.push(r);
                    t
                });
                let primary = shard == 0;
                if ring_bd {
                    let tx = ev_txs[shard].take().expect("an event ring per shard");
                    handles.push(spawn_in(scope, &tp.name.clone(), move || {
                        pin(&tp);
                        let sink = RingEmit::new(tx, barriers, tp.wait);
                        book_thread(
                            &mut pk_rx, pool, release, book, rec, sink, tp.wait, primary, shared,
                        )
                    }));
                } else {
                    let sink = fused_detect.take().expect("one fused detect stage");
                    handles.push(spawn_in(scope, &tp.name.clone(), move || {
                        pin(&tp);
                        book_thread(
                            &mut pk_rx, pool, release, book, rec, sink, tp.wait, primary, shared,
                        )
                    }));
                }
            }
            let tp = rx_plan.clone();
            let drop_after = live.then_some(cfg.drop_after);
            handles.push(spawn_in(scope, &tp.name.clone(), move || {
                pin(&tp);
                let mut d = RingDeliver {
                    txs: pk_txs,
                    releases: rel_rxs,
                    pool,
                    backoff: Backoff::new(tp.wait),
                    drop_after,
                };
                let mut rec = rx_rec;
                let r = source.run(&mut d, shared, &mut rec);
                drop(d); // ends the packet rings: the book threads drain and finish
                rec.finish();
                r.map_err(|e| format!("{e:#}"))
            }));
        } else {
            let book = &mut books[0];
            let brec = book_recs.into_iter().next().expect("one book recorder");
            let tp = rx_plan.clone();
            if ring_bd {
                let tx = ev_txs[0].take().expect("one event ring");
                handles.push(spawn_in(scope, &tp.name.clone(), move || {
                    pin(&tp);
                    let sink = RingEmit::new(tx, false, tp.wait);
                    fused_receive(source, pool, book, brec, rx_rec, sink, shared)
                }));
            } else {
                let sink = fused_detect.take().expect("one fused detect stage");
                handles.push(spawn_in(scope, &tp.name.clone(), move || {
                    pin(&tp);
                    fused_receive(source, pool, book, brec, rx_rec, sink, shared)
                }));
            }
        }

        for h in handles {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => end.errors.push(e),
                Err(_) => end.errors.push("a pipeline thread panicked".into()),
            }
        }
        match rep.join() {
            Ok(t) => rep_out = Some(t),
            Err(_) => end.errors.push("the reporter thread panicked".into()),
        }
    });
    (end, rep_out)
}

/// What the book stage's events flow into: a ring to the detect thread, or the fused detect stage.
trait StageSink<E>: Emit<E> {
    /// Before a packet.
    fn begin(&mut self, meta: &PacketMeta);
    /// After a packet.
    fn end(&mut self, meta: &PacketMeta);
    /// After the last packet (and the book stage's `finish`).
    fn finish(self) -> ThreadResult;
}

/// Emits book events onto a ring (lossless: waits while full).
struct RingEmit<E> {
    tx: Tx<EvItem<E>>,
    barriers: bool,
    backoff: Backoff,
    index: u64,
    rx: u64,
    closed: bool,
}

impl<E> RingEmit<E> {
    fn new(tx: Tx<EvItem<E>>, barriers: bool, wait: WaitStrategy) -> Self {
        RingEmit {
            tx,
            barriers,
            backoff: Backoff::new(wait),
            index: 0,
            rx: 0,
            closed: false,
        }
    }
}

impl<E> Emit<E> for RingEmit<E> {
    #[inline]
    fn emit(&mut self, ev: E, msg_index: u16, applied: u64) {
        if self.closed {
            return;
        }
        let item = EvItem::Event {
            ev,
            key: (self.index << 16) | u64::from(msg_index.min(0xFFFE)),
            rx: self.rx,
            applied,
        };
        if self.tx.push_wait(item, &mut self.backoff).is_err() {
            self.closed = true;
        }
    }
}

impl<E> StageSink<E> for RingEmit<E> {
    #[inline]
    fn begin(&mut self, meta: &PacketMeta) {
        self.index = meta.index;
        self.rx = meta.rx;
    }

    #[inline]
    fn end(&mut self, meta: &PacketMeta) {
        if self.barriers && !self.closed {
            let b = EvItem::Barrier((meta.index << 16) | 0xFFFF);
            if self.tx.push_wait(b, &mut self.backoff).is_err() {
                self.closed = true;
            }
        }
        self.tx.notify();
    }

    fn finish(self) -> ThreadResult {
        if self.closed {
            Err("the detect thread ended early; book events were not delivered".into())
        } else {
            Ok(())
        }
    }
}

/// Runs the detect stage on events (fused or from rings), measures it and hands alerts to the publish thread.
struct DetectRunner<'x, D: DetectStage, O> {
    detect: &'x mut D,
    out: &'x mut O,
    rec: Recorder,
    live: bool,
    backoff: Backoff,
    lost: u64,
    rx: u64,
}

impl<'x, D: DetectStage, O: AlertOut<D::Alert>> DetectRunner<'x, D, O> {
    fn new(
        detect: &'x mut D,
        out: &'x mut O,
        rec: Recorder,
        live: bool,
        wait: WaitStrategy,
    ) -> Self {
        DetectRunner {
            detect,
            out,
            rec,
            live,
            backoff: Backoff::new(wait),
            lost: 0,
            rx: 0,
        }
    }

    #[inline]
    fn on_event(&mut self, ev: &D::Event, rx: u64, applied: u64) {
        let clock = *self.rec.clock();
        let DetectRunner {
            detect,
            out,
            rec,
            live,
            backoff,
            lost,
            ..
        } = self;
        let live = *live;
        detect.on_event(ev, &mut |a: &D::Alert| {
            let t = clock.now();
            let lat = clock.delta_ns(rx, t);
            rec.record(Metric::RxAlert, lat);
            rec.counters.alerts += 1;
            let msg = AlertMsg {
                alert: *a,
                rx,
                latency_ns: live.then_some(lat),
            };
            send_alert(&mut **out, msg, backoff, lost);
        });
        let t = clock.now();
        self.rec.record_span(Metric::BookDetected, applied, t);
        self.rec.record_span(Metric::RxDetected, rx, t);
        self.rec.counters.events += 1;
        self.rec.tick(t);
    }

    fn finish_inner(mut self) -> ThreadResult {
        let clock = *self.rec.clock();
        let rx = self.rx;
        let live = self.live;
        let DetectRunner {
            detect,
            out,
            rec,
            backoff,
            lost,
            ..
        } = &mut self;
        detect.finish(&mut |a: &D::Alert| {
            let lat = clock.elapsed_ns(rx);
            rec.record(Metric::RxAlert, lat);
            rec.counters.alerts += 1;
            let msg = AlertMsg {
                alert: *a,
                rx,
                latency_ns: live.then_some(lat),
            };
            send_alert(&mut **out, msg, backoff, lost);
        });
        let lost = self.lost;
        self.rec.finish();
        if lost > 0 {
            Err(format!(
                "{lost} alerts could not be handed to the publish thread (it ended early)"
            ))
        } else {
            Ok(())
        }
    }
}

#[inline]
fn send_alert<A, O: AlertOut<A>>(
    out: &mut O,
    msg: AlertMsg<A>,
    backoff: &mut Backoff,
    lost: &mut u64,
) {
    let mut m = msg;
    backoff.reset();
    loop {
        match out.try_send(m) {
            Ok(()) => return,
            Err(back) => {
                if out.is_closed() {
                    *lost += 1;
                    return;
                }
                m = back;
                backoff.snooze_producer();
            }
        }
    }
}

impl<D: DetectStage, O: AlertOut<D::Alert>> Emit<D::Event> for DetectRunner<'_, D, O> {
    #[inline]
    fn emit(&mut self, ev: D::Event, _msg_index: u16, applied: u64) {
        let rx = self.rx;
        self.on_event(&ev, rx, applied);
    }

    #[inline]
    fn upcoming(&mut self, book: u16, order_ref: u64) {
        self.detect.prefetch_key(book, order_ref);
    }
}

impl<D: DetectStage, O: AlertOut<D::Alert>> StageSink<D::Event> for DetectRunner<'_, D, O> {
    #[inline]
    fn begin(&mut self, meta: &PacketMeta) {
        self.rx = meta.rx;
    }

    #[inline]
    fn end(&mut self, _meta: &PacketMeta) {}

    fn finish(self) -> ThreadResult {
        self.finish_inner()
    }
}

/// A book thread fed by a packet ring: pops packets, runs the book stage, releases pool slots.
#[allow(clippy::too_many_arguments)]
fn book_thread<P, B, S>(
    rx: &mut Rx<P>,
    pool: Option<&PacketPool>,
    mut release: Option<Tx<u32>>,
    book: &mut B,
    mut rec: Recorder,
    mut sink: S,
    wait: WaitStrategy,
    primary: bool,
    shared: &Shared,
) -> ThreadResult
where
    P: PacketItem,
    B: BookStage,
    S: StageSink<B::Event>,
{
    let mut backoff = Backoff::new(wait);
    rec.counters.input_capacity = rx.capacity() as u64;
    let mut n = 0u64;
    loop {
        match rx.try_pop() {
            Some(p) => {
                let depth = rx.depth() as u64 + 1;
                rec.counters.input_depth_max = rec.counters.input_depth_max.max(depth);
                let meta = *p.meta();
                sink.begin(&meta);
                book.on_packet(p.input(pool), &meta, &mut rec, &mut sink);
                sink.end(&meta);
                if let (Some(slot), Some(rel)) = (p.slot(), release.as_mut()) {
                    // The bytes are no longer borrowed. The release ring holds every slot: it cannot be full.
                    let pushed = rel.try_push(slot);
                    debug_assert!(pushed.is_ok());
                }
                n += 1;
                if primary && n % 64 == 0 {
                    shared
                        .messages
                        .store(rec.counters.messages, Ordering::Relaxed);
                }
                if rec.due(meta.rx) {
                    book.report(&mut rec.counters);
                    rec.tick(meta.rx);
                }
                backoff.reset();
            }
            None if rx.is_finished() => break,
            None => {
                if primary {
                    shared
                        .messages
                        .store(rec.counters.messages, Ordering::Relaxed);
                }
                let now = rec.clock().now();
                if rec.due(now) {
                    book.report(&mut rec.counters);
                    rec.tick(now);
                }
                rx.idle(&mut backoff);
            }
        }
    }
    book.finish(&mut rec, &mut sink);
    book.report(&mut rec.counters);
    if primary {
        shared
            .messages
            .store(rec.counters.messages, Ordering::Relaxed);
    }
    rec.finish();
    // Releasing the sink ends the downstream's input (or, fused, finishes the detect stage) before the book stage's
    // late work, so a book stage waiting on the detect stage cannot deadlock.
    let r = sink.finish();
    book.after_downstream();
    r
}

/// The receive thread of a layout where the book stage is fused with it.
fn fused_receive<S, B, K>(
    source: &mut S,
    pool: Option<&PacketPool>,
    book: &mut B,
    brec: Recorder,
    mut rx_rec: Recorder,
    sink: K,
    shared: &Shared,
) -> ThreadResult
where
    S: Source,
    B: BookStage,
    K: StageSink<B::Event>,
{
    let mut d = FusedDeliver {
        book,
        rec: brec,
        sink,
        pool,
        shared,
        n: 0,
    };
    let r = source.run(&mut d, shared, &mut rx_rec);
    let FusedDeliver {
        book,
        mut rec,
        mut sink,
        ..
    } = d;
    book.finish(&mut rec, &mut sink);
    book.report(&mut rec.counters);
    shared
        .messages
        .store(rec.counters.messages, Ordering::Relaxed);
    rec.finish();
    rx_rec.finish();
    let fin = sink.finish();
    book.after_downstream();
    r.map_err(|e| format!("{e:#}"))?;
    fin
}

/// Receive → book by direct call.
struct FusedDeliver<'b, 's, B, K> {
    book: &'b mut B,
    rec: Recorder,
    sink: K,
    pool: Option<&'b PacketPool>,
    shared: &'s Shared,
    n: u64,
}

impl<P, B, K> Deliver<P> for FusedDeliver<'_, '_, B, K>
where
    P: PacketItem,
    B: BookStage,
    K: StageSink<B::Event>,
{
    #[inline]
    fn deliver(&mut self, p: P, _drop_after: Option<Duration>) -> Delivery {
        let meta = *p.meta();
        self.sink.begin(&meta);
        self.book
            .on_packet(p.input(self.pool), &meta, &mut self.rec, &mut self.sink);
        self.sink.end(&meta);
        self.n += 1;
        if self.n % 64 == 0 {
            self.shared
                .messages
                .store(self.rec.counters.messages, Ordering::Relaxed);
        }
        if self.rec.due(meta.rx) {
            self.book.report(&mut self.rec.counters);
            self.rec.tick(meta.rx);
        }
        Delivery::Consumed
    }

    #[inline]
    fn flush(&mut self) {}

    fn released(&mut self, _f: &mut dyn FnMut(u32)) {}

    fn pool(&self) -> Option<&PacketPool> {
        self.pool
    }
}

/// Receive → book shards through rings.
struct RingDeliver<'p, P> {
    txs: Vec<Tx<P>>,
    releases: Vec<Rx<u32>>,
    pool: Option<&'p PacketPool>,
    backoff: Backoff,
    drop_after: Option<Duration>,
}

impl<P: PacketItem> Deliver<P> for RingDeliver<'_, P> {
    #[inline]
    fn deliver(&mut self, p: P, drop_after: Option<Duration>) -> Delivery {
        let drop_after = drop_after.or(self.drop_after);
        // Every shard takes the packet, or none: wait until each ring has a free slot (as the only producer, free
        // space can only grow meanwhile), then push to all.
        if !self.txs.iter().all(|t| t.free() > 0) {
            let mut deadline: Option<std::time::Instant> = None;
            self.backoff.reset();
            loop {
                if self.txs.iter().any(|t| t.is_abandoned()) {
                    return Delivery::Closed;
                }
                for t in &self.txs {
                    t.notify();
                }
                if let Some(limit) = drop_after {
                    let now = std::time::Instant::now();
                    match deadline {
                        None => deadline = Some(now + limit),
                        Some(d) if now >= d => return Delivery::Dropped,
                        Some(_) => {}
                    }
                }
                self.backoff.snooze_producer();
                if self.txs.iter().all(|t| t.free() > 0) {
                    break;
                }
            }
        }
        for t in &mut self.txs {
            if t.try_push(p).is_err() {
                // Impossible after the free-space check; report rather than lose it silently.
                return Delivery::Closed;
            }
        }
        Delivery::Queued(self.txs.len() as u8)
    }

    #[inline]
    fn flush(&mut self) {
        for t in &self.txs {
            t.notify();
        }
    }

    fn released(&mut self, f: &mut dyn FnMut(u32)) {
        for r in &mut self.releases {
            while let Some(s) = r.try_pop() {
                f(s);
            }
        }
    }

    fn pool(&self) -> Option<&PacketPool> {
        self.pool
    }
}

/// The detect thread: pops (with several shards, merges in feed order) events and runs the detect stage.
fn detect_loop<E, D, O>(
    rxs: &mut [Rx<EvItem<E>>],
    runner: &mut DetectRunner<'_, D, O>,
    wait: WaitStrategy,
) where
    E: Copy + Send + 'static,
    D: DetectStage<Event = E>,
    O: AlertOut<D::Alert>,
{
    let mut backoff = Backoff::new(wait);
    runner.rec.counters.input_capacity = rxs.iter().map(|r| r.capacity() as u64).sum();
    if let [rx] = rxs {
        loop {
            match rx.try_pop() {
                Some(EvItem::Event {
                    ev,
                    rx: stamp,
                    applied,
                    ..
                }) => {
                    let depth = rx.depth() as u64 + 1;
                    let c = &mut runner.rec.counters;
                    c.input_depth_max = c.input_depth_max.max(depth);
                    // The event behind this one, if it is already there: its state loads while this one runs.
                    if let Some(EvItem::Event { ev: next, .. }) = rx.peek() {
                        runner.detect.prefetch(next);
                    }
                    runner.rx = stamp;
                    runner.on_event(&ev, stamp, applied);
                    backoff.reset();
                }
                Some(EvItem::Barrier(_)) => {}
                None if rx.is_finished() => break,
                None => {
                    let now = runner.rec.clock().now();
                    runner.rec.tick(now);
                    rx.idle(&mut backoff);
                }
            }
        }
        return;
    }
    // k-way merge by key. A shard whose producer is gone and whose ring is empty no longer holds anything back.
    let mut last_key = 0u64;
    loop {
        let mut best: Option<(usize, u64)> = None;
        let mut blocked = false;
        let mut depth = 0u64;
        for (i, rx) in rxs.iter_mut().enumerate() {
            match rx.peek().map(|it| it.key()) {
                Some(k) => {
                    if best.is_none_or(|(_, bk)| k < bk) {
                        best = Some((i, k));
                    }
                    depth += rx.depth() as u64;
                }
                None if rx.is_finished() => {}
                None => {
                    blocked = true;
                    break;
                }
            }
        }
        if blocked {
            let now = runner.rec.clock().now();
            runner.rec.tick(now);
            idle_all(rxs, &mut backoff);
            continue;
        }
        let Some((i, key)) = best else { break };
        debug_assert!(
            key >= last_key,
            "shard merge out of order: {key:#x} after {last_key:#x}"
        );
        last_key = key;
        let c = &mut runner.rec.counters;
        c.input_depth_max = c.input_depth_max.max(depth);
        if let Some(EvItem::Event {
            ev,
            rx: stamp,
            applied,
            ..
        }) = rxs[i].try_pop()
        {
            runner.rx = stamp;
            runner.on_event(&ev, stamp, applied);
            backoff.reset();
        }
    }
}

/// A replay-style source over datagrams in memory (tests and benches): each element is one packet, read in order,
/// lossless.
#[derive(Debug)]
pub struct SliceSource<'a> {
    data: &'a [Vec<u8>],
}

impl<'a> SliceSource<'a> {
    /// A source yielding `data` in order.
    pub fn new(data: &'a [Vec<u8>]) -> Self {
        SliceSource { data }
    }
}

impl<'a> Source for SliceSource<'a> {
    type Packet = ReplayPacket<'a>;

    fn run<D: Deliver<ReplayPacket<'a>>>(
        &mut self,
        out: &mut D,
        shared: &Shared,
        rec: &mut Recorder,
    ) -> anyhow::Result<()> {
        let clock = *rec.clock();
        for (i, d) in self.data.iter().enumerate() {
            if shared.stopping() {
                break;
            }
            let rx = clock.now();
            let p = ReplayPacket {
                input: Input::Datagram(d),
                meta: PacketMeta {
                    rx,
                    index: i as u64,
                    ..PacketMeta::default()
                },
            };
            match out.deliver(p, None) {
                Delivery::Consumed | Delivery::Queued(_) => {}
                Delivery::Dropped => unreachable!("replay never drops"),
                Delivery::Closed => anyhow::bail!("downstream ended early"),
            }
            rec.counters.packets += 1;
            rec.counters.bytes += d.len() as u64;
            rec.tick(rx);
        }
        out.flush();
        shared
            .packets
            .store(rec.counters.packets, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::receive::{LiveSource, MemBackend};
    use crate::runtime::reporter::{run_reporter, ReporterOptions};
    use crate::runtime::topology::Config;

    /// Emits `(packet index, shard)` for the packets of its shard (index % shards).
    struct ShardBook {
        shard: u64,
        shards: u64,
    }

    impl BookStage for ShardBook {
        type Event = (u64, u64);
        fn on_packet(
            &mut self,
            input: Input<'_>,
            meta: &PacketMeta,
            rec: &mut Recorder,
            out: &mut impl Emit<(u64, u64)>,
        ) {
            let Input::Datagram(b) = input else {
                panic!("datagrams only")
            };
            // The payload is the packet index, little-endian: proves the bytes arrived intact.
            let v = u64::from_le_bytes(b[..8].try_into().unwrap());
            assert_eq!(v, meta.index);
            rec.counters.packets += 1;
            if meta.index % self.shards == self.shard {
                rec.counters.messages += 1;
                let t = rec.clock().now();
                rec.record_span(Metric::RxDecoded, meta.rx, t);
                out.emit((meta.index, self.shard), 0, t);
            }
        }
    }

    /// Checks events arrive in feed order; alerts every 100th.
    struct OrderCheck {
        next: u64,
    }

    impl DetectStage for OrderCheck {
        type Event = (u64, u64);
        type Alert = u64;
        fn on_event(&mut self, ev: &(u64, u64), emit: &mut dyn FnMut(&u64)) {
            assert_eq!(ev.0, self.next, "events out of order");
            self.next += 1;
            if ev.0 % 100 == 99 {
                emit(&ev.0);
            }
        }
    }

    struct Collect(Vec<u64>);
    impl AlertOut<u64> for Collect {
        fn try_send(&mut self, m: AlertMsg<u64>) -> Result<(), AlertMsg<u64>> {
            self.0.push(m.alert);
            Ok(())
        }
    }

    const LAYOUTS: [&str; 5] = [
        "[[threads]]\nname='a'\nstages=['receive','book','detect']",
        "[[threads]]\nname='a'\nstages=['receive','book']\n[[threads]]\nname='d'\nstages=['detect']\nwait='park'",
        "[[threads]]\nname='r'\nstages=['receive']\n[[threads]]\nname='b'\nstages=['book','detect']\nwait='park'",
        "[[threads]]\nname='r'\nstages=['receive']\n[[threads]]\nname='b'\nstages=['book']\n[[threads]]\nname='d'\nstages=['detect']",
        "book_shards=3\n[[threads]]\nname='r'\nstages=['receive']\n[[threads]]\nname='b'\nstages=['book']\nwait='park'\n[[threads]]\nname='d'\nstages=['detect']\nwait='park'",
    ];

    fn pipeline_cfg(text: &str, live: bool) -> PipelineConfig {
        let mut cfg = Config::parse(text, "test").unwrap();
        cfg.rings.packets = 8; // tiny rings: exercise backpressure
        cfg.rings.events = 16;
        PipelineConfig {
            plan: cfg.plan(2).unwrap(),
            rings: cfg.rings,
            clock: Clock::monotonic(),
            interval: Duration::from_millis(5),
            max_ns: 10_000_000_000,
            live,
            drop_after: Duration::from_secs(30),
        }
    }

    fn opts(clock: Clock) -> ReporterOptions {
        ReporterOptions {
            hist_out: None,
            progress: false,
            total_bytes: None,
            metrics: None,
            clock,
            t0: clock.now(),
            start: std::time::SystemTime::now(),
            max_ns: 10_000_000_000,
        }
    }

    fn packets(n: u64) -> Vec<Vec<u8>> {
        (0..n).map(|i| i.to_le_bytes().to_vec()).collect()
    }

    #[test]
    fn every_layout_delivers_everything_in_order_replay() {
        const N: u64 = 5_000;
        let data = packets(N);
        for text in LAYOUTS {
            let cfg = pipeline_cfg(text, false);
            let shards = u64::from(cfg.plan.shards);
            let mut books: Vec<ShardBook> = (0..shards)
                .map(|s| ShardBook { shard: s, shards })
                .collect();
            let mut det = OrderCheck { next: 0 };
            let mut out = Collect(Vec::new());
            let shared = Shared::default();
            let mut src = SliceSource::new(&data);
            let o = opts(cfg.clock);
            let (end, rep) = run(
                &cfg,
                None,
                &mut src,
                &mut books,
                &mut det,
                &mut out,
                &shared,
                |set| run_reporter(set, o, &shared),
            );
            assert!(end.errors.is_empty(), "{text}: {:?}", end.errors);
            assert_eq!(det.next, N, "{text}");
            assert_eq!(out.0.len() as u64, N / 100, "{text}");
            let rep = rep.unwrap();
            assert_eq!(rep.total(Metric::RxDecoded).unwrap().len(), N, "{text}");
            assert_eq!(rep.total(Metric::RxDetected).unwrap().len(), N, "{text}");
            assert_eq!(rep.total(Metric::RxAlert).unwrap().len(), N / 100, "{text}");
            assert_eq!(rep.sum(Stage::Receive, |c| c.packets), N, "{text}");
            assert_eq!(rep.sum(Stage::Book, |c| c.packets), N * shards, "{text}");
            assert_eq!(
                shared.messages.load(Ordering::Relaxed),
                N.div_ceil(shards),
                "{text}"
            );
        }
    }

    #[test]
    fn every_layout_delivers_everything_in_order_live_pool() {
        const N: u64 = 5_000;
        for text in LAYOUTS {
            let cfg = pipeline_cfg(text, true);
            let shards = u64::from(cfg.plan.shards);
            // Fewer slots than the rings hold: exercises slot recycling under pressure.
            let pool = PacketPool::new(6, 64).unwrap();
            let mut src = LiveSource::new(
                MemBackend::new(&pool, packets(N)),
                &pool,
                4,
                WaitStrategy::spin_then_yield(),
                Duration::from_secs(30),
                None,
            );
            let mut books: Vec<ShardBook> = (0..shards)
                .map(|s| ShardBook { shard: s, shards })
                .collect();
            let mut det = OrderCheck { next: 0 };
            let mut out = Collect(Vec::new());
            let shared = Shared::default();
            let o = opts(cfg.clock);
            let (end, rep) = run(
                &cfg,
                Some(&pool),
                &mut src,
                &mut books,
                &mut det,
                &mut out,
                &shared,
                |set| run_reporter(set, o, &shared),
            );
            assert!(end.errors.is_empty(), "{text}: {:?}", end.errors);
            assert_eq!(det.next, N, "{text}");
            assert_eq!(src.drops.total, 0);
            let rep = rep.unwrap();
            assert_eq!(rep.sum(Stage::Receive, |c| c.packets), N, "{text}");
            assert_eq!(rep.sum(Stage::Book, |c| c.packets), N * shards, "{text}");
            assert_eq!(out.0.len() as u64, N / 100, "{text}");
        }
    }

    #[test]
    fn live_drops_are_counted_with_their_sequence_numbers() {
        // A book stage slower than the source, a tiny ring and a 0 µs drop timeout: drops must happen, and each
        // must be counted and logged with the MoldUDP64 sequence of the datagram.
        struct Slow;
        impl BookStage for Slow {
            type Event = u64;
            fn on_packet(
                &mut self,
                _i: Input<'_>,
                meta: &PacketMeta,
                rec: &mut Recorder,
                out: &mut impl Emit<u64>,
            ) {
                std::thread::sleep(Duration::from_micros(200));
                rec.counters.packets += 1;
                out.emit(meta.index, 0, meta.rx);
            }
        }
        struct Count(u64);
        impl DetectStage for Count {
            type Event = u64;
            type Alert = u64;
            fn on_event(&mut self, _e: &u64, _emit: &mut dyn FnMut(&u64)) {
                self.0 += 1;
            }
        }
        let mut cfg = pipeline_cfg(LAYOUTS[3], true);
        cfg.drop_after = Duration::ZERO;
        let mold = |seq: u64| {
            let mut d = b"SESSION001".to_vec();
            d.extend_from_slice(&seq.to_be_bytes());
            d.extend_from_slice(&3u16.to_be_bytes());
            d.extend_from_slice(&[0u8; 12]);
            d
        };
        let data: Vec<Vec<u8>> = (0..300).map(|i| mold(1 + 3 * i)).collect();
        let pool = PacketPool::new(64, 64).unwrap();
        let mut src = LiveSource::new(
            MemBackend::new(&pool, data),
            &pool,
            16,
            WaitStrategy::BusySpin,
            Duration::ZERO,
            None,
        );
        let mut books = vec![Slow];
        let mut det = Count(0);
        let mut out = Collect(Vec::new());
        let shared = Shared::default();
        let o = opts(cfg.clock);
        let (end, rep) = run(
            &cfg,
            Some(&pool),
            &mut src,
            &mut books,
            &mut det,
            &mut out,
            &shared,
            |set| run_reporter(set, o, &shared),
        );
        assert!(end.errors.is_empty(), "{:?}", end.errors);
        let rep = rep.unwrap();
        let dropped = rep.sum(Stage::Receive, |c| c.dropped_packets);
        assert!(dropped > 0, "expected drops");
        assert_eq!(dropped, src.drops.total);
        assert_eq!(
            det.0 + dropped,
            300,
            "every datagram is either processed or counted as dropped"
        );
        assert_eq!(rep.sum(Stage::Receive, |c| c.dropped_messages), 3 * dropped);
        for r in src.drops.records() {
            assert_eq!(
                r.seq,
                1 + 3 * r.index,
                "logged sequence of packet {}",
                r.index
            );
            assert_eq!(r.count, 3);
        }
    }
}
