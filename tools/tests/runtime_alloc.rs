//! The hot threads of the runtime allocate nothing per packet: a counting global allocator (per-thread counters)
//! shows zero allocations on the receive, book and detect threads between the 1,000th packet and the end of a
//! 200,000-packet run, for every thread layout (fused, ringed, sharded), replay and live (pool) sources.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use tools::runtime::clock::Clock;
use tools::runtime::latency::{Metric, Recorder};
use tools::runtime::pipeline::{
    run, Deliver, Delivery, PacketItem, PipelineConfig, Shared, SliceSource, Source,
};
use tools::runtime::pool::PacketPool;
use tools::runtime::receive::{LiveSource, MemBackend};
use tools::runtime::stage::{AlertMsg, AlertOut, BookStage, DetectStage, Emit, Input, PacketMeta};
use tools::runtime::topology::Config;
use tools::runtime::wait::WaitStrategy;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counter is a const-initialised thread-local Cell (no allocation,
// no re-entrancy).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(|c| c.get())
}

const N: u64 = 200_000;
const WARM: u64 = 1_000;

/// Book stage that checks its own thread's allocations after warm-up.
struct Book {
    at_warm: Option<u64>,
    after: u64,
}

impl BookStage for Book {
    type Event = [u64; 16];
    fn on_packet(
        &mut self,
        input: Input<'_>,
        meta: &PacketMeta,
        rec: &mut Recorder,
        out: &mut impl Emit<[u64; 16]>,
    ) {
        let Input::Datagram(b) = input else { return };
        if meta.index == WARM {
            self.at_warm = Some(allocs());
        }
        rec.counters.packets += 1;
        rec.counters.messages += 1;
        let t = rec.clock().now();
        rec.record_span(Metric::RxDecoded, meta.rx, t);
        let mut ev = [0u64; 16];
        ev[0] = u64::from(b[0]);
        ev[1] = meta.index;
        out.emit(ev, 0, t);
    }
    fn finish(&mut self, _rec: &mut Recorder, _out: &mut impl Emit<[u64; 16]>) {
        self.after = allocs() - self.at_warm.unwrap_or(0);
    }
}

struct Detect {
    at_warm: Option<u64>,
    after: u64,
    seen: u64,
}

impl DetectStage for Detect {
    type Event = [u64; 16];
    type Alert = [u64; 8];
    fn on_event(&mut self, ev: &[u64; 16], emit: &mut dyn FnMut(&[u64; 8])) {
        if ev[1] == WARM {
            self.at_warm = Some(allocs());
        }
        self.seen += 1;
        if ev[1] % 97 == 0 {
            emit(&[ev[1]; 8]);
        }
    }
    fn finish(&mut self, _emit: &mut dyn FnMut(&[u64; 8])) {
        self.after = allocs() - self.at_warm.unwrap_or(0);
    }
}

struct Sink(u64);
impl AlertOut<[u64; 8]> for Sink {
    fn try_send(&mut self, _m: AlertMsg<[u64; 8]>) -> Result<(), AlertMsg<[u64; 8]>> {
        self.0 += 1;
        Ok(())
    }
}

/// Wraps a source to measure the receive thread's allocations between the WARM-th packet and the end.
struct Checked<S> {
    inner: S,
    after: Option<u64>,
}

struct CountingDeliver<'d, D> {
    inner: &'d mut D,
    n: u64,
    at_warm: Option<u64>,
}

impl<P: PacketItem, D: Deliver<P>> Deliver<P> for CountingDeliver<'_, D> {
    fn deliver(&mut self, p: P, drop_after: Option<Duration>) -> Delivery {
        if self.n == WARM {
            self.at_warm = Some(allocs());
        }
        self.n += 1;
        self.inner.deliver(p, drop_after)
    }
    fn flush(&mut self) {
        self.inner.flush()
    }
    fn released(&mut self, f: &mut dyn FnMut(u32)) {
        self.inner.released(f)
    }
    fn pool(&self) -> Option<&PacketPool> {
        self.inner.pool()
    }
}

impl<S: Source> Source for Checked<S> {
    type Packet = S::Packet;
    fn run<D: Deliver<S::Packet>>(
        &mut self,
        out: &mut D,
        shared: &Shared,
        rec: &mut Recorder,
    ) -> anyhow::Result<()> {
        let mut d = CountingDeliver {
            inner: out,
            n: 0,
            at_warm: None,
        };
        let r = self.inner.run(&mut d, shared, rec);
        // In fused layouts the book and detect stages run inside `deliver`: their own checks cover them too.
        self.after = d.at_warm.map(|w| allocs() - w);
        r
    }
}

fn cfg(text: &str, live: bool) -> PipelineConfig {
    let c = Config::parse(text, "t").unwrap();
    PipelineConfig {
        plan: c.plan(2).unwrap(),
        rings: c.rings,
        clock: Clock::monotonic(),
        // Short intervals: the histogram hand-over to the reporter happens many times during the run.
        interval: Duration::from_millis(2),
        max_ns: 10_000_000_000,
        live,
        drop_after: Duration::from_secs(60),
    }
}

const LAYOUTS: [&str; 4] = [
    "[[threads]]\nname='a'\nstages=['receive','book','detect']",
    "[[threads]]\nname='a'\nstages=['receive','book']\n[[threads]]\nname='d'\nstages=['detect']\nwait='park'",
    "[[threads]]\nname='r'\nstages=['receive']\n[[threads]]\nname='b'\nstages=['book','detect']\nwait='park'",
    "book_shards=2\n[rings]\npackets=256\nevents=256\n[[threads]]\nname='r'\nstages=['receive']\n[[threads]]\nname='b'\nstages=['book']\n[[threads]]\nname='d'\nstages=['detect']\nwait='park'",
];

fn check(layout: &str, live: bool) {
    let c = cfg(layout, live);
    let shards = usize::from(c.plan.shards);
    let data: Vec<Vec<u8>> = (0..N).map(|i| vec![(i % 251) as u8; 64]).collect();
    let mut books: Vec<Book> = (0..shards)
        .map(|_| Book {
            at_warm: None,
            after: 0,
        })
        .collect();
    let mut det = Detect {
        at_warm: None,
        after: 0,
        seen: 0,
    };
    let mut out = Sink(0);
    let shared = Shared::default();
    // The reporter drains and hands the histograms back like the real one, without its own allocations mattering.
    let reporter = |mut set: tools::runtime::pipeline::RecorderSet| {
        let mut done = vec![false; set.links.len()];
        while !done.iter().all(|d| *d) {
            for (i, l) in set.links.iter_mut().enumerate() {
                while let Some(mut r) = l.reports.try_pop() {
                    done[i] |= r.last;
                    r.hists.reset();
                    let _ = l.spares.try_push(r.hists);
                }
                done[i] |= l.reports.is_finished();
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    let (end, _) = if live {
        let pool = PacketPool::new(512, 128).unwrap();
        let mut src = Checked {
            inner: LiveSource::new(
                MemBackend::new(&pool, data),
                &pool,
                32,
                WaitStrategy::spin_then_yield(),
                Duration::from_secs(60),
                None,
            ),
            after: None,
        };
        let r = run(
            &c,
            Some(&pool),
            &mut src,
            &mut books,
            &mut det,
            &mut out,
            &shared,
            reporter,
        );
        assert_eq!(
            src.after,
            Some(0),
            "{layout} live: the receive thread allocated after warm-up"
        );
        r
    } else {
        let mut src = Checked {
            inner: SliceSource::new(&data),
            after: None,
        };
        let r = run(
            &c, None, &mut src, &mut books, &mut det, &mut out, &shared, reporter,
        );
        assert_eq!(
            src.after,
            Some(0),
            "{layout} replay: the receive thread allocated after warm-up"
        );
        r
    };
    assert!(end.errors.is_empty(), "{:?}", end.errors);
    // Every shard emits every packet here; detect sees them all.
    assert_eq!(det.seen, N * shards as u64, "{layout}");
    for (i, b) in books.iter().enumerate() {
        assert!(b.at_warm.is_some());
        assert_eq!(
            b.after, 0,
            "{layout} live={live}: book shard {i} allocated {} times after warm-up",
            b.after
        );
    }
    assert_eq!(
        det.after, 0,
        "{layout} live={live}: detect allocated {} times after warm-up",
        det.after
    );
}

#[test]
fn hot_threads_do_not_allocate_replay() {
    for l in LAYOUTS {
        check(l, false);
    }
}

#[test]
fn hot_threads_do_not_allocate_live_pool() {
    for l in LAYOUTS {
        check(l, true);
    }
}
