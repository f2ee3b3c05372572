//! tickwatch publish stage: alerts, book snapshots and features to Kafka — off the hot path, with a local
//! spool so nothing is lost while the broker is unreachable — or to JSON lines when no broker is configured.
//!
//! # Shape
//! ```text
//! hot thread(s) ── RecordSender::try_send(T) ──► rtrb SPSC ring ──► publish thread ──► Sink
//!  (detect, book)     wait-free, no alloc,          (one per           (unpinned):      ├─ JsonLinesSink
//!                     no syscall; full ring →        producer)          encode T →       ├─ KafkaSink (+ Spool)
//!                     Backpressure(T), counted                          Record           └─ TeeSink
//! ```
//!
//! # Threading contract
//! - **Hot threads** only call [`RecordSender::try_send`]: one SPSC push, no allocation, no lock, no syscall,
//!   never a call into librdkafka or the file system, never a wait. A `T` is whatever the runtime sends
//!   (ideally a fixed-size `Copy` struct); it is formatted later.
//! - **The publish thread** (spawned by [`StageBuilder::spawn`], not pinned) pops the rings, turns each item
//!   into a [`Record`] through [`Publishable`] (JSON serialisation happens here), and drives one [`Sink`]. It
//!   allocates (payload buffers, librdkafka copies), does file I/O (spool, JSON lines) and calls librdkafka
//!   (`produce`, `poll`). When every ring is empty it blocks in [`Sink::poll`] for the idle wait (1 ms).
//! - **librdkafka's own threads** talk to the brokers; delivery reports are served on the publish thread by
//!   `poll`.
//! - Counters ([`SinkCounters`], [`PublishHandle::stage_counters`]) are atomics readable from any thread.
//!
//! # Backpressure policy
//! A full ring means the publish thread is not keeping up (the sink is *never* waiting for the broker: records
//! it cannot hand to librdkafka go to its bounded pending queue and then to the spool on disk). `try_send`
//! then returns [`Backpressure`] with the item and counts it per input; the hot thread chooses: replay
//! (lossless) retries with its wait strategy, live mode drops and reports the count. Size the rings for the
//! alert/snapshot burst rate (they are cheap: one slot per item).
//!
//! # No loss (Kafka)
//! See [`kafka`] for the queues and ordering argument and [`spool`] for the on-disk format. In short: records
//! enter librdkafka in acceptance order from retry → spool → pending; librdkafka's idempotent producer keeps
//! each partition (key = symbol) in order without duplicates; what cannot be handed over or confirmed goes to
//! an append-only, CRC-checked spool and is re-sent first (also by the next run with the same `--spool-dir`,
//! or by `tickwatch drain`); only a successful delivery report counts as delivered; at shutdown
//! ([`Sink::shutdown`]) everything unconfirmed is written to the spool and reported.
//!
//! # Records and schemas
//! Topics `<prefix>alerts`, `<prefix>snapshots`, `<prefix>features`; key = symbol; headers `record_type`,
//! `feed_ts_ns` and `record_id`. Payload schemas: `detect/schema/alert.schema.json` (owned by detect),
//! `publish/schema/snapshot.schema.json`, `publish/schema/feature.schema.json`. JSON-lines output writes the
//! identical payload bytes, one record per line.
//!
//! # Example
//! ```
//! use std::time::Duration;
//! use publish::{JsonLinesSink, Record, RecordKind, StageBuilder};
//!
//! let mut stage = StageBuilder::<Record>::new().flush_timeout(Duration::from_secs(5));
//! let mut alerts = stage.input("detect", 1024);
//! let out = tempfile::NamedTempFile::new().unwrap();
//! let sink = JsonLinesSink::new().with_file(&[RecordKind::Alert], out.path()).unwrap();
//! let handle = stage.spawn(Box::new(sink)).unwrap();
//! // On the hot thread:
//! let rec = Record::new(RecordKind::Alert, "AAPL", 34_200_000_000_000, r#"{"detector":"spoofing"}"#);
//! assert!(alerts.try_send(rec).is_ok());
//! drop(alerts);
//! let report = handle.join().unwrap();
//! assert!(report.is_complete());
//! assert_eq!(std::fs::read_to_string(out.path()).unwrap(), "{\"detector\":\"spoofing\"}\n");
//! ```
#![deny(missing_docs)]

pub mod args;
pub mod consume;
pub mod counters;
pub mod jsonl;
pub mod kafka;
pub mod record;
pub mod records;
pub mod sink;
pub mod spool;
pub mod stage;
pub mod testing;

pub use args::PublishArgs;
pub use counters::{CountersSnapshot, SinkCounters};
pub use jsonl::JsonLinesSink;
pub use kafka::{KafkaConfig, KafkaSink};
pub use record::{EncodeError, Envelope, Publishable, Record, RecordId, RecordKind};
pub use records::{FeatureRecord, Level, SnapshotReason, SnapshotRecord, WindowKind};
pub use sink::{ShutdownReport, Sink, SinkError, TeeSink};
pub use spool::{FsyncPolicy, SpoolError, SpoolOptions};
pub use stage::{Backpressure, PublishHandle, RecordSender, StageBuilder, StageReport};
