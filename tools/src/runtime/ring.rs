//! SPSC rings between pipeline threads: [`rtrb`] plus an optional wake-up path for parked consumers.
//!
//! Contract:
//! - A ring is created once, at start-up, with a fixed capacity ([`ring`]); pushing and popping never allocate.
//! - Exactly one thread owns the [`Tx`] and one the [`Rx`] (they are `Send`, not `Sync`).
//! - A failed [`Tx::try_push`] hands the value back; nothing is dropped by the ring itself. What to do when a ring
//!   is full is the caller's policy: replay and internal hops wait ([`Tx::push_wait`], lossless), the live receive
//!   stage may count and drop (see [`crate::runtime::receive`]).
//! - If the consumer may park ([`WaitStrategy::may_park`](super::wait::WaitStrategy::may_park)), the ring is
//!   created with notification on, and the producer calls [`Tx::notify`] after each batch of pushes (a `SeqCst`
//!   fence and one load; nothing when notification is off). Dropping the [`Tx`] wakes the consumer, which then
//!   sees [`Rx::is_finished`] once it has drained the ring.

use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;

use crossbeam_utils::CachePadded;

use super::wait::{Backoff, Snooze};

/// Shared wake-up state of one ring: whether its consumer is (about to be) parked, and which thread it is.
#[derive(Debug)]
pub struct Notifier {
    enabled: bool,
    sleeping: CachePadded<AtomicBool>,
    thread: OnceLock<Thread>,
}

impl Notifier {
    fn new(enabled: bool) -> Self {
        Notifier {
            enabled,
            sleeping: CachePadded::new(AtomicBool::new(false)),
            thread: OnceLock::new(),
        }
    }

    #[inline]
    fn wake(&self) {
        if !self.enabled {
            return;
        }
        // Pairs with the fence in `park_on`: either the consumer sees our push, or we see its `sleeping` flag.
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) && self.sleeping.swap(false, Ordering::AcqRel) {
            if let Some(t) = self.thread.get() {
                t.unpark();
            }
        }
    }
}

/// Producer half of a ring.
#[derive(Debug)]
pub struct Tx<T> {
    inner: rtrb::Producer<T>,
    notifier: Arc<Notifier>,
    full_waits: u64,
}

/// Consumer half of a ring.
#[derive(Debug)]
pub struct Rx<T> {
    inner: rtrb::Consumer<T>,
    notifier: Arc<Notifier>,
    max_depth: usize,
}

/// The consumer is gone (its thread ended or panicked); the value that could not be delivered is handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnected<T>(pub T);

/// Creates a ring of `capacity` slots (allocated now, never again). `notify` must be true when the consumer's wait
/// strategy may park.
pub fn ring<T>(capacity: usize, notify: bool) -> (Tx<T>, Rx<T>) {
    let (p, c) = rtrb::RingBuffer::new(capacity.max(1));
    let notifier = Arc::new(Notifier::new(notify));
    (
        Tx {
            inner: p,
            notifier: Arc::clone(&notifier),
            full_waits: 0,
        },
        Rx {
            inner: c,
            notifier,
            max_depth: 0,
        },
    )
}

impl<T> Tx<T> {
    /// Pushes without waiting; a full ring hands the value back.
    #[inline]
    pub fn try_push(&mut self, value: T) -> Result<(), T> {
        self.inner.push(value).map_err(|rtrb::PushError::Full(v)| v)
    }

    /// Pushes, waiting with `backoff` while the ring is full (lossless backpressure). Returns the value if the
    /// consumer has gone away. Wakes a parked consumer before waiting so a full ring always drains.
    #[inline]
    pub fn push_wait(&mut self, value: T, backoff: &mut Backoff) -> Result<(), Disconnected<T>> {
        let mut v = match self.inner.push(value) {
            Ok(()) => return Ok(()),
            Err(rtrb::PushError::Full(v)) => v,
        };
        self.full_waits += 1;
        self.notifier.wake();
        backoff.reset();
        loop {
            if self.inner.is_abandoned() {
                return Err(Disconnected(v));
            }
            backoff.snooze_producer();
            match self.inner.push(v) {
                Ok(()) => return Ok(()),
                Err(rtrb::PushError::Full(back)) => v = back,
            }
        }
    }

    /// Wakes the consumer if it parked. Call after a batch of pushes (cheap no-op when notification is off).
    #[inline]
    pub fn notify(&self) {
        self.notifier.wake();
    }

    /// Free slots right now.
    #[inline]
    pub fn free(&self) -> usize {
        self.inner.slots()
    }

    /// Capacity in slots.
    pub fn capacity(&self) -> usize {
        self.inner.buffer().capacity()
    }

    /// How many pushes found the ring full and had to wait.
    pub fn full_waits(&self) -> u64 {
        self.full_waits
    }

    /// Whether the consumer has been dropped.
    pub fn is_abandoned(&self) -> bool {
        self.inner.is_abandoned()
    }
}

impl<T> Drop for Tx<T> {
    fn drop(&mut self) {
        // The consumer must notice the end of the stream even if it is parked.
        if self.notifier.enabled {
            fence(Ordering::SeqCst);
            if let Some(t) = self.notifier.thread.get() {
                t.unpark();
            }
        }
    }
}

impl<T> Rx<T> {
    /// Pops one value if any.
    #[inline]
    pub fn try_pop(&mut self) -> Option<T> {
        self.inner.pop().ok()
    }

    /// The next value without removing it.
    #[inline]
    pub fn peek(&self) -> Option<&T> {
        self.inner.peek().ok()
    }

    /// Values waiting right now; also updates the high-water mark.
    #[inline]
    pub fn depth(&mut self) -> usize {
        let d = self.inner.slots();
        if d > self.max_depth {
            self.max_depth = d;
        }
        d
    }

    /// Highest depth seen by [`depth`](Self::depth) since the last call (then reset).
    pub fn take_max_depth(&mut self) -> usize {
        std::mem::take(&mut self.max_depth)
    }

    /// Capacity in slots.
    pub fn capacity(&self) -> usize {
        self.inner.buffer().capacity()
    }

    /// True once the producer is gone and every value has been popped.
    #[inline]
    pub fn is_finished(&self) -> bool {
        self.inner.is_abandoned() && self.inner.is_empty()
    }

    /// Whether nothing is waiting.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// One idle step after finding the ring empty: spin/yield per `backoff`, or park until the producer pushes
    /// (bounded by the strategy's `park_us`).
    #[inline]
    pub fn idle(&self, backoff: &mut Backoff) {
        idle_all(std::slice::from_ref(self), backoff);
    }
}

/// One idle step of a consumer that found all of `inputs` empty: spin/yield per `backoff`, or announce the park to
/// every producer, re-check, and park (bounded by the strategy's `park_us`).
pub fn idle_all<T>(inputs: &[Rx<T>], backoff: &mut Backoff) {
    let Snooze::Park(max) = backoff.snooze() else {
        return;
    };
    for r in inputs {
        let _ = r.notifier.thread.get_or_init(std::thread::current);
        r.notifier.sleeping.store(true, Ordering::Relaxed);
    }
    // Pairs with the fence in `Notifier::wake`: either we see the producer's push here, or it sees `sleeping`.
    fence(Ordering::SeqCst);
    let all_empty = inputs
        .iter()
        .all(|r| r.inner.is_empty() && !r.inner.is_abandoned());
    if all_empty {
        std::thread::park_timeout(max);
    }
    for r in inputs {
        r.notifier.sleeping.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::wait::WaitStrategy;

    #[test]
    fn full_ring_hands_value_back() {
        let (mut tx, mut rx) = ring::<u32>(2, false);
        tx.try_push(1).unwrap();
        tx.try_push(2).unwrap();
        assert_eq!(tx.try_push(3), Err(3));
        assert_eq!(rx.depth(), 2);
        assert_eq!(rx.try_pop(), Some(1));
        assert_eq!(rx.take_max_depth(), 2);
    }

    #[test]
    fn push_wait_reports_disconnect() {
        let (mut tx, rx) = ring::<u32>(1, false);
        tx.try_push(1).unwrap();
        drop(rx);
        let mut b = Backoff::new(WaitStrategy::BusySpin);
        assert_eq!(tx.push_wait(2, &mut b), Err(Disconnected(2)));
    }

    #[test]
    fn parked_consumer_is_woken_and_sees_everything_in_order() {
        const N: u64 = if cfg!(miri) { 200 } else { 200_000 };
        let (mut tx, mut rx) = ring::<u64>(64, true);
        let consumer = std::thread::spawn(move || {
            let mut b = Backoff::new(WaitStrategy::Park {
                spins: 1,
                yields: 0,
                park_us: 100_000,
            });
            let mut expected = 0;
            loop {
                match rx.try_pop() {
                    Some(v) => {
                        assert_eq!(v, expected);
                        expected += 1;
                        b.reset();
                    }
                    None if rx.is_finished() => break,
                    None => rx.idle(&mut b),
                }
            }
            expected
        });
        let mut b = Backoff::new(WaitStrategy::spin_then_yield());
        for i in 0..N {
            tx.push_wait(i, &mut b).unwrap();
            if i % 7 == 0 {
                tx.notify();
            }
        }
        drop(tx);
        assert_eq!(consumer.join().unwrap(), N);
    }
}
