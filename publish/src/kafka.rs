//! Kafka sink: rdkafka `BaseProducer` polled by the publish thread, with a local spool so nothing is lost while
//! the broker is unreachable.
//!
//! # Queues, in delivery order
//! Every accepted record gets the next sequence number and then lives in exactly one place:
//!
//! 1. **retry** — records taken back from librdkafka (purged, timed out, producer reset) or just read from the
//!    spool, ordered by sequence: always the oldest not-yet-handed records;
//! 2. **spool** — the on-disk queue (unread part), older than everything below;
//! 3. **pending** — this sink's own bounded in-memory queue of new records ([`KafkaConfig::pending_capacity`]);
//!    when it is full it is appended to the spool as a batch;
//! 4. **in flight** — handed to librdkafka (`produce` accepted), waiting for the delivery report.
//!
//! Records are handed to librdkafka strictly from the head of retry → spool → pending, so they enter the
//! producer in sequence order. librdkafka's idempotent producer (`enable.idempotence=true`, `acks=all`, infinite
//! `message.timeout.ms`) then keeps each partition in that order without duplicates or gaps; the key is the
//! symbol, so per-symbol order holds across spooling and re-sending, including records accepted while older
//! ones are still spooled (they queue behind them).
//!
//! # Backpressure
//! `QueueFull` from librdkafka (its local queue is bounded by `queue.buffering.max.messages/kbytes`) stops
//! handing over until the next poll; new records then wait in *pending* and, when that is full, go to the
//! spool. [`Sink::submit`] never blocks. Only if the spool itself cannot be written does the sink report
//! `ready() == false`, and the backpressure reaches the hand-off ring.
//!
//! # Delivery reports decide
//! A record counts as delivered only on a successful report. Reports with transient errors put the record
//! back into retry; permanent errors (e.g. message too large, unknown topic) count as `failed` and the record
//! is appended to the spool's dead-letter file. When the producer hits a fatal (idempotence) error it is
//! replaced and every unconfirmed record is re-sent in order — including the records whose report carries the
//! broker error that made it fatal (seen with Tansu 0.6 after a restart: UNKNOWN_SERVER_ERROR for the
//! producer's next sequence number), whatever that error's class.
//!
//! # Shutdown
//! [`Sink::shutdown`] keeps delivering (including the spool) until nothing is outstanding or the timeout
//! expires, then purges librdkafka and writes everything unconfirmed — in order — to the spool, which the next
//! run (or `tickwatch drain`) sends first. A record purged while in flight may already have reached the broker;
//! it is re-sent later with the same `record_id` header (at-least-once in that one case).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig,
};
use rdkafka::ClientContext;

use crate::counters::SinkCounters;
use crate::record::{
    Envelope, Record, RecordId, RecordKind, HEADER_FEED_TS_NS, HEADER_RECORD_ID, HEADER_RECORD_TYPE,
};
use crate::sink::{ShutdownReport, Sink, SinkError};
use crate::spool::{random_u64, SegmentId, Spool, SpoolError, SpoolOptions};

// Delivery opaques carry the 64-bit sequence number in a usize.
const _: () = assert!(usize::BITS == 64, "the Kafka sink needs 64-bit pointers");

/// Most librdkafka events served per [`Sink::poll`] (each delivery-report event carries a batch of reports).
const MAX_EVENT_POLLS: usize = 256;

/// Default capacity of the sink's own in-memory queue in front of librdkafka.
pub const DEFAULT_PENDING_CAPACITY: usize = 4096;

/// Producer settings applied before the user's `--kafka-config` overrides.
pub const PRODUCER_DEFAULTS: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    // Any error that would leave a gap in a partition stops the producer instead of letting later records
    // overtake the failed one; the sink then re-creates it and re-sends everything unconfirmed in order.
    ("enable.gapless.guarantee", "true"),
    ("acks", "all"),
    // Never fail a record locally for taking too long: the sink decides at shutdown (purge + spool).
    ("message.timeout.ms", "0"),
    ("queue.buffering.max.messages", "50000"),
    ("queue.buffering.max.kbytes", "65536"),
    ("linger.ms", "5"),
    // Java-compatible key hashing: a symbol maps to the same partition as with other clients.
    ("partitioner", "murmur2_random"),
    ("reconnect.backoff.ms", "100"),
    ("reconnect.backoff.max.ms", "2000"),
    ("client.id", "tickwatch-publish"),
];

/// Configuration of the Kafka sink.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Prefix of the topic names (`<prefix>alerts`, `<prefix>snapshots`, `<prefix>features`).
    pub topic_prefix: String,
    /// librdkafka properties applied after [`PRODUCER_DEFAULTS`] (e.g. security settings).
    pub overrides: Vec<(String, String)>,
    /// The spool directory.
    pub spool_dir: PathBuf,
    /// Spool durability and segment size.
    pub spool: SpoolOptions,
    /// Capacity of the in-memory queue in front of librdkafka before records go to the spool.
    pub pending_capacity: usize,
}

impl KafkaConfig {
    /// A configuration with defaults for everything but the brokers and the spool directory.
    pub fn new(brokers: impl Into<String>, spool_dir: impl Into<PathBuf>) -> KafkaConfig {
        KafkaConfig {
            brokers: brokers.into(),
            topic_prefix: String::new(),
            overrides: Vec::new(),
            spool_dir: spool_dir.into(),
            spool: SpoolOptions::default(),
            pending_capacity: DEFAULT_PENDING_CAPACITY,
        }
    }

    /// The topic a kind is published to.
    pub fn topic(&self, kind: RecordKind) -> String {
        format!("{}{}", self.topic_prefix, kind.topic_suffix())
    }

    /// The librdkafka configuration: defaults, then `bootstrap.servers`, then the overrides.
    pub fn client_config(&self) -> ClientConfig {
        let mut cfg = ClientConfig::new();
        for (k, v) in PRODUCER_DEFAULTS {
            cfg.set(*k, *v);
        }
        cfg.set("bootstrap.servers", &self.brokers);
        for (k, v) in &self.overrides {
            cfg.set(k, v);
        }
        cfg
    }
}

#[derive(Debug, Clone, Copy)]
struct Report {
    seq: u64,
    result: Result<(), RDKafkaErrorCode>,
}

/// rdkafka context: collects delivery reports for the publish thread and rate-limits broker error messages.
struct DeliveryContext {
    reports: Mutex<Vec<Report>>,
    last_error_print: Mutex<Option<Instant>>,
}

impl ClientContext for DeliveryContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let Ok(mut last) = self.last_error_print.lock() else {
            return;
        };
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
            *last = Some(Instant::now());
            eprintln!("tickwatch publish: kafka: {error}: {reason} (records are kept and re-sent)");
        }
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: usize) {
        let result = match result {
            Ok(_) => Ok(()),
            Err((err, _)) => Err(err.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail)),
        };
        if let Ok(mut reports) = self.reports.lock() {
            reports.push(Report {
                seq: seq as u64,
                result,
            });
        }
    }
}

/// What to do with a record whose delivery failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Send it again (in order).
    Retry,
    /// Give up: dead-letter it.
    Permanent,
}

fn classify(code: RDKafkaErrorCode) -> Failure {
    use RDKafkaErrorCode as E;
    match code {
        E::PurgeQueue
        | E::PurgeInflight
        | E::MessageTimedOut
        | E::Fatal
        | E::Fenced
        | E::BrokerTransportFailure
        | E::AllBrokersDown
        | E::Retry
        | E::OperationTimedOut
        | E::RequestTimedOut
        | E::NetworkException
        | E::LeaderNotAvailable
        | E::NotLeaderForPartition
        | E::BrokerNotAvailable
        | E::ReplicaNotAvailable
        | E::NotEnoughReplicas
        | E::NotEnoughReplicasAfterAppend
        | E::OutOfOrderSequenceNumber
        | E::InvalidProducerEpoch
        | E::UnknownProducerId
        | E::Inconsistent
        | E::GaplessGuarantee
        | E::KafkaStorageError
        | E::ConcurrentTransactions => Failure::Retry,
        _ => Failure::Permanent,
    }
}

/// Delivery failures (other than purges and producer resets) after which a record is dead-lettered.
pub const MAX_DELIVERY_ATTEMPTS: u32 = 10;

#[derive(Debug)]
struct Inflight {
    env: Envelope,
    /// The spool segment the record was read from, if any.
    segment: Option<SegmentId>,
    /// Whether handing it to librdkafka again counts as a re-send.
    resend: bool,
    /// Failed delivery reports so far (purges and producer resets not counted).
    failures: u32,
}

type Producer_ = BaseProducer<DeliveryContext>;

fn create_producer(config: &KafkaConfig) -> Result<Producer_, KafkaError> {
    let ctx = DeliveryContext {
        reports: Mutex::new(Vec::with_capacity(1024)),
        last_error_print: Mutex::new(None),
    };
    config.client_config().create_with_context(ctx)
}

/// The Kafka sink. See the module docs for the queues, ordering and shutdown contract.
pub struct KafkaSink {
    producer: Producer_,
    config: KafkaConfig,
    topics: [String; 3],
    spool: Option<Spool>,
    run_id: u64,
    next_seq: u64,
    pending: VecDeque<Envelope>,
    retry: BTreeMap<u64, Inflight>,
    inflight: BTreeMap<u64, Inflight>,
    counters: Arc<SinkCounters>,
    reports: Vec<Report>,
    /// librdkafka answered `QueueFull`: do not try again before the next poll.
    blocked: bool,
    /// Set after a spool write failure; spooling is retried after this instant.
    spool_retry_at: Option<Instant>,
    closed: bool,
}

impl fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSink")
            .field("brokers", &self.config.brokers)
            .field("topics", &self.topics)
            .field("spool_dir", &self.config.spool_dir)
            .field("pending", &self.pending.len())
            .field("retry", &self.retry.len())
            .field("inflight", &self.inflight.len())
            .finish()
    }
}

impl KafkaSink {
    /// Opens the spool (locking it; records already in it are sent before anything new) and creates the
    /// producer. Does not wait for the broker: an unreachable broker only means records are spooled.
    pub fn open(config: KafkaConfig) -> Result<KafkaSink, SinkError> {
        if config.pending_capacity == 0 {
            return Err(SinkError::Config(
                "pending capacity must be positive".into(),
            ));
        }
        let counters = Arc::new(SinkCounters::default());
        let spool = Spool::open(&config.spool_dir, config.spool, Arc::clone(&counters))?;
        let producer = create_producer(&config)?;
        let topics = RecordKind::ALL.map(|k| config.topic(k));
        Ok(KafkaSink {
            producer,
            topics,
            run_id: random_u64(),
            next_seq: spool.next_seq(),
            spool: Some(spool),
            pending: VecDeque::with_capacity(config.pending_capacity),
            retry: BTreeMap::new(),
            inflight: BTreeMap::new(),
            counters,
            reports: Vec::with_capacity(1024),
            blocked: false,
            spool_retry_at: None,
            closed: false,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// Random id of this run (first half of every `record_id` header this run assigns).
    pub fn run_id(&self) -> u64 {
        self.run_id
    }

    /// Records accepted or spooled and not yet confirmed (pending + retry + in flight; spooled records not yet
    /// read back are not included).
    pub fn outstanding(&self) -> usize {
        self.pending.len() + self.retry.len() + self.inflight.len()
    }

    /// Whether the spool still holds records that have not been read back.
    pub fn spool_has_unread(&self) -> bool {
        self.spool.as_ref().is_some_and(Spool::has_unread)
    }

    fn spool_usable(&self) -> bool {
        self.spool.is_some() && self.spool_retry_at.is_none_or(|t| Instant::now() >= t)
    }

    fn spool_failed(&mut self, err: &SpoolError) {
        if self.spool_retry_at.is_none() {
            eprintln!("tickwatch publish: error: {err}; records are held in memory and spooling is retried every 5 s");
        }
        self.spool_retry_at = Some(Instant::now() + Duration::from_secs(5));
    }

    /// Moves every pending record to the spool tail (in order).
    fn spill_pending(&mut self) {
        if !self.spool_usable() {
            return;
        }
        let Some(spool) = self.spool.as_mut() else {
            return;
        };
        let mut result = Ok(());
        let mut spilled = 0;
        while let Some(env) = self.pending.front() {
            if let Err(e) = spool.append(env) {
                result = Err(e);
                break;
            }
            self.pending.pop_front();
            spilled += 1;
        }
        if let Err(e) = spool.flush() {
            result = result.and(Err(e));
        }
        self.counters.add_spooled(spilled);
        match result {
            Ok(()) => self.spool_retry_at = None,
            Err(e) => self.spool_failed(&e),
        }
    }

    fn headers(rec: &Record, id: RecordId) -> OwnedHeaders {
        let ts = rec.feed_ts_ns.to_string();
        let rid = id.header_value();
        OwnedHeaders::new_with_capacity(3)
            .insert(Header {
                key: HEADER_RECORD_TYPE,
                value: Some(rec.kind.as_str()),
            })
            .insert(Header {
                key: HEADER_FEED_TS_NS,
                value: Some(&ts),
            })
            .insert(Header {
                key: HEADER_RECORD_ID,
                value: Some(&rid),
            })
    }

    /// Hands one record to librdkafka. `Err` gives it back (queue full or producer in a fatal state).
    fn send(&mut self, inf: Inflight) -> Result<(), Inflight> {
        let seq = inf.env.id.seq;
        let rec = &inf.env.record;
        let topic = &self.topics[rec.kind.index()];
        let mut base = BaseRecord::<[u8], [u8], usize>::with_opaque_to(topic, seq as usize)
            .payload(&rec.payload[..])
            .headers(Self::headers(rec, inf.env.id));
        if !rec.key.is_empty() {
            base = base.key(&rec.key[..]);
        }
        match self.producer.send(base) {
            Ok(()) => {
                if inf.resend {
                    self.counters.add_resent(1);
                }
                self.inflight.insert(seq, inf);
                Ok(())
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                self.counters.add_queue_full(1);
                Err(inf)
            }
            Err((err, _)) => {
                let code = err.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail);
                if classify(code) == Failure::Retry {
                    Err(inf)
                } else {
                    eprintln!(
                        "tickwatch publish: record {} rejected by librdkafka: {err}",
                        inf.env.id
                    );
                    self.fail_permanently(inf);
                    Ok(())
                }
            }
        }
    }

    fn fail_permanently(&mut self, inf: Inflight) {
        self.counters.add_failed(1);
        let Some(spool) = self.spool.as_mut() else {
            self.counters.add_lost(1);
            return;
        };
        if let Err(e) = spool.dead_letter(&inf.env) {
            eprintln!(
                "tickwatch publish: error: record {} failed and could not be dead-lettered: {e}",
                inf.env.id
            );
            self.counters.add_lost(1);
        }
        if let Some(seg) = inf.segment {
            if let Err(e) = spool.mark_done(seg) {
                eprintln!("tickwatch publish: warning: {e}");
            }
        }
    }

    /// Hands records to librdkafka from the head of retry → spool → pending until it pushes back.
    fn pump(&mut self) {
        if self.blocked {
            return;
        }
        let mut spool_exhausted = false;
        loop {
            if let Some(entry) = self.retry.first_entry() {
                let inf = entry.remove();
                if let Err(back) = self.send(inf) {
                    self.retry.insert(back.env.id.seq, back);
                    self.blocked = true;
                    return;
                }
                continue;
            }
            if !spool_exhausted && self.spool_usable() && self.spool_has_unread() {
                let Some(spool) = self.spool.as_mut() else {
                    return;
                };
                match spool.next_unread() {
                    Ok(Some((env, seg))) => {
                        self.retry.insert(
                            env.id.seq,
                            Inflight {
                                env,
                                segment: Some(seg),
                                resend: true,
                                failures: 0,
                            },
                        );
                    }
                    Ok(None) => spool_exhausted = true,
                    Err(e) => {
                        self.spool_failed(&e);
                        return;
                    }
                }
                continue;
            }
            if self.spool_has_unread() {
                // Unread spool (unusable for now): newer pending records must wait behind it.
                return;
            }
            let Some(env) = self.pending.pop_front() else {
                return;
            };
            if let Err(back) = self.send(Inflight {
                env,
                segment: None,
                resend: false,
                failures: 0,
            }) {
                self.pending.push_front(back.env);
                self.blocked = true;
                return;
            }
        }
    }

    fn process_reports(&mut self) {
        {
            let ctx = self.producer.context();
            let Ok(mut shared) = ctx.reports.lock() else {
                return;
            };
            std::mem::swap(&mut *shared, &mut self.reports);
        }
        let mut reports = std::mem::take(&mut self.reports);
        // A producer in a fatal state fails what it still holds with whatever error the broker gave the request
        // that broke idempotence (e.g. an UNKNOWN_SERVER_ERROR from a restarted broker that lost the producer's
        // sequence state): the broker did not append those records, and `recover_if_fatal` replaces the
        // producer, so they are re-sent in order like every other unconfirmed record, never dead-lettered.
        let fatal = self.producer.client().fatal_error().is_some();
        for report in reports.drain(..) {
            let Some(inf) = self.inflight.remove(&report.seq) else {
                continue;
            };
            match report.result {
                Ok(()) => {
                    self.counters.add_delivered(1);
                    if let (Some(seg), Some(spool)) = (inf.segment, self.spool.as_mut()) {
                        if let Err(e) = spool.mark_done(seg) {
                            eprintln!("tickwatch publish: warning: {e}");
                        }
                    }
                }
                Err(code) => {
                    let counts = !fatal
                        && !matches!(
                            code,
                            RDKafkaErrorCode::PurgeQueue
                                | RDKafkaErrorCode::PurgeInflight
                                | RDKafkaErrorCode::Fatal
                                | RDKafkaErrorCode::GaplessGuarantee
                        );
                    let failures = inf.failures + u32::from(counts);
                    if (fatal || classify(code) == Failure::Retry)
                        && failures < MAX_DELIVERY_ATTEMPTS
                    {
                        self.retry.insert(
                            report.seq,
                            Inflight {
                                resend: true,
                                failures,
                                ..inf
                            },
                        );
                    } else {
                        eprintln!(
                            "tickwatch publish: record {} failed permanently: {code}",
                            inf.env.id
                        );
                        self.fail_permanently(inf);
                    }
                }
            }
        }
        self.reports = reports;
    }

    /// Replaces a producer that hit a fatal error; every unconfirmed record goes back to retry.
    fn recover_if_fatal(&mut self) -> Result<(), SinkError> {
        let Some((code, reason)) = self.producer.client().fatal_error() else {
            return Ok(());
        };
        eprintln!("tickwatch publish: kafka producer fatal error {code}: {reason}; re-creating it and re-sending");
        // Let librdkafka finish what is in flight (successes are delivered, the rest fail with the fatal error)
        // before purging, so nothing possibly written is sent again by the new producer.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.inflight.is_empty() && Instant::now() < deadline {
            self.wait_events(Duration::from_millis(10));
            self.process_reports();
        }
        if !self.inflight.is_empty() {
            self.producer
                .purge(PurgeConfig::default().queue().inflight());
            let deadline = Instant::now() + Duration::from_secs(1);
            while !self.inflight.is_empty() && Instant::now() < deadline {
                self.wait_events(Duration::from_millis(10));
                self.process_reports();
            }
        }
        for (seq, inf) in std::mem::take(&mut self.inflight) {
            self.retry.insert(
                seq,
                Inflight {
                    resend: true,
                    ..inf
                },
            );
        }
        self.producer = create_producer(&self.config)?;
        self.blocked = false;
        Ok(())
    }

    /// Serves the librdkafka events already queued (delivery reports, errors) without blocking; returns whether
    /// any delivery report arrived.
    ///
    /// `BaseProducer::poll(timeout)` is not used with a timeout: it keeps polling until the deadline and, once
    /// less than a millisecond remains, does so in a busy loop (measured: 40% of a core in an idle replay).
    fn serve_events(&self) -> bool {
        let pending_reports = || {
            self.producer
                .context()
                .reports
                .lock()
                .map_or(0, |r| r.len())
        };
        let start = pending_reports();
        let mut last = start;
        for _ in 0..MAX_EVENT_POLLS {
            self.producer.poll(Duration::ZERO);
            let now = pending_reports();
            if now == last {
                break;
            }
            last = now;
        }
        last != start
    }

    /// Serves events; if none arrived, sleeps `wait` and serves them again.
    fn wait_events(&self, wait: Duration) {
        if !self.serve_events() && !wait.is_zero() {
            std::thread::sleep(wait);
            self.serve_events();
        }
    }

    fn service(&mut self, wait: Duration) -> Result<(), SinkError> {
        self.pump();
        self.wait_events(wait);
        self.blocked = false;
        self.process_reports();
        self.recover_if_fatal()?;
        self.pump();
        Ok(())
    }

    fn all_done(&self) -> bool {
        self.pending.is_empty()
            && self.retry.is_empty()
            && self.inflight.is_empty()
            && !self.spool_has_unread()
    }
}

impl Sink for KafkaSink {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn ready(&self) -> bool {
        !self.closed && (self.pending.len() < self.config.pending_capacity || self.spool_usable())
    }

    fn submit(&mut self, record: Record) -> Result<(), SinkError> {
        if self.closed {
            return Err(SinkError::Closed);
        }
        self.counters.add_produced(1);
        let env = Envelope {
            id: RecordId {
                run_id: self.run_id,
                seq: self.next_seq,
            },
            record,
        };
        self.next_seq += 1;
        if self.pending.len() >= self.config.pending_capacity {
            self.pump();
            if self.pending.len() >= self.config.pending_capacity {
                self.spill_pending();
            }
        }
        self.pending.push_back(env);
        self.pump();
        Ok(())
    }

    fn poll(&mut self, timeout: Duration) -> Result<(), SinkError> {
        if self.closed {
            return Err(SinkError::Closed);
        }
        self.service(timeout)
    }

    fn counters(&self) -> Arc<SinkCounters> {
        Arc::clone(&self.counters)
    }

    fn shutdown(&mut self, timeout: Duration) -> Result<ShutdownReport, SinkError> {
        if self.closed {
            return Err(SinkError::Closed);
        }
        self.closed = true;
        let deadline = Instant::now() + timeout;
        let mut timed_out = false;
        loop {
            let now = Instant::now();
            if self.all_done() {
                break;
            }
            if now >= deadline {
                timed_out = true;
                break;
            }
            self.service((deadline - now).min(Duration::from_millis(10)))?;
        }
        if !self.inflight.is_empty() {
            self.producer
                .purge(PurgeConfig::default().queue().inflight());
            let purge_deadline = Instant::now() + Duration::from_secs(5);
            while !self.inflight.is_empty() && Instant::now() < purge_deadline {
                self.wait_events(Duration::from_millis(10));
                self.process_reports();
            }
        }
        let mut handed: Vec<Envelope> = Vec::with_capacity(self.retry.len() + self.inflight.len());
        let mut newly_spooled = 0;
        for inf in std::mem::take(&mut self.retry)
            .into_values()
            .chain(std::mem::take(&mut self.inflight).into_values())
        {
            if inf.segment.is_none() {
                newly_spooled += 1;
            }
            handed.push(inf.env);
        }
        let tail: Vec<Envelope> = self.pending.drain(..).collect();
        let unconfirmed = (handed.len() + tail.len()) as u64;
        newly_spooled += tail.len() as u64;
        let spool_dir = self.config.spool_dir.clone();
        let undelivered = match self.spool.take() {
            Some(spool) => match spool.close(handed, tail) {
                Ok(close) => {
                    self.counters.add_spooled(newly_spooled);
                    close.records
                }
                Err(e) => {
                    eprintln!("tickwatch publish: error: could not write {unconfirmed} unconfirmed record(s) to the spool: {e}");
                    self.counters.add_lost(unconfirmed);
                    crate::spool::summarize(&spool_dir).map_or(0, |s| s.records)
                }
            },
            None => {
                self.counters.add_lost(unconfirmed);
                0
            }
        };
        Ok(ShutdownReport {
            sink: "kafka",
            counters: self.counters.snapshot(),
            undelivered,
            spool_dir: Some(spool_dir),
            timed_out: timed_out && undelivered > 0,
            parts: Vec::new(),
        })
    }
}

impl Drop for KafkaSink {
    fn drop(&mut self) {
        if !self.closed {
            // Best effort for a sink dropped without shutdown (e.g. on an error path): spool everything.
            if let Err(e) = self.shutdown(Duration::ZERO) {
                eprintln!("tickwatch publish: error: dropping the Kafka sink: {e}");
            }
        }
    }
}
