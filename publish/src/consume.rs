//! Reading topics back (for `tickwatch tail` and tests): an rdkafka consumer with a manual assignment of
//! every partition, no consumer group membership and no offset commits.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

/// What to read and when to stop.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Topics to read (every partition of each).
    pub topics: Vec<String>,
    /// Start at the beginning of each partition (otherwise at its end: only new records).
    pub from_beginning: bool,
    /// Stop after this many records.
    pub max_records: Option<u64>,
    /// Stop after this long without a new record (`None`: follow until another condition stops it).
    pub idle_timeout: Option<Duration>,
    /// Stop once every partition has been read up to the high watermark it had when reading started.
    pub exit_at_end: bool,
    /// How long to wait for the topics' metadata (the broker may still be starting).
    pub metadata_timeout: Duration,
    /// Extra librdkafka consumer properties.
    pub overrides: Vec<(String, String)>,
}

impl ReadOptions {
    /// Read `topics` from the beginning up to their current end.
    pub fn all_of(brokers: impl Into<String>, topics: Vec<String>) -> ReadOptions {
        ReadOptions {
            brokers: brokers.into(),
            topics,
            from_beginning: true,
            max_records: None,
            idle_timeout: Some(Duration::from_secs(10)),
            exit_at_end: true,
            metadata_timeout: Duration::from_secs(20),
            overrides: Vec::new(),
        }
    }
}

/// One record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// Message key.
    pub key: Option<Vec<u8>>,
    /// Message value.
    pub payload: Option<Vec<u8>>,
    /// Headers in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// The JSON envelope `tickwatch tail --format envelope` prints (the Python consumer prints the same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct EnvelopeJson {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key as UTF-8 (lossy), null if absent.
    pub key: Option<String>,
    /// Headers as UTF-8 (lossy) strings.
    pub headers: BTreeMap<String, Option<String>>,
    /// Value as UTF-8 (lossy), null if absent.
    pub value: Option<String>,
}

impl ConsumedRecord {
    /// The first header named `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// The envelope form.
    pub fn envelope(&self) -> EnvelopeJson {
        let text =
            |b: &Option<Vec<u8>>| b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
        EnvelopeJson {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
            key: text(&self.key),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), text(v)))
                .collect(),
            value: text(&self.payload),
        }
    }
}

/// Errors reading topics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// librdkafka error.
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// A topic has no partitions (does not exist) within the metadata timeout.
    #[error("topic {0:?} not found on {1} (no partitions)")]
    UnknownTopic(String, String),
}

/// Why reading stopped, and how much was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadSummary {
    /// Records delivered to the callback.
    pub records: u64,
    /// Stop reason.
    pub stop: StopReason,
}

/// Why [`read_topics`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `max_records` reached.
    Max,
    /// Every partition reached its starting high watermark.
    End,
    /// `idle_timeout` elapsed without a record.
    Idle,
    /// The callback asked to stop.
    Callback,
}

fn partitions(
    consumer: &BaseConsumer,
    topic: &str,
    opts: &ReadOptions,
) -> Result<Vec<i32>, ConsumeError> {
    let deadline = Instant::now() + opts.metadata_timeout;
    loop {
        let remaining = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(100));
        match consumer.fetch_metadata(Some(topic), remaining.min(Duration::from_secs(5))) {
            Ok(md) => {
                let parts: Vec<i32> = md
                    .topics()
                    .iter()
                    .filter(|t| t.name() == topic && t.error().is_none())
                    .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                    .collect();
                if !parts.is_empty() {
                    return Ok(parts);
                }
                if Instant::now() >= deadline {
                    return Err(ConsumeError::UnknownTopic(
                        topic.to_owned(),
                        opts.brokers.clone(),
                    ));
                }
            }
            Err(e) if Instant::now() >= deadline => return Err(e.into()),
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Reads the topics, calling `on_record` for each record (return `false` to stop). Within a partition records
/// arrive in offset order; partitions interleave arbitrarily.
pub fn read_topics(
    opts: &ReadOptions,
    mut on_record: impl FnMut(ConsumedRecord) -> bool,
) -> Result<ReadSummary, ConsumeError> {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &opts.brokers)
        .set(
            "group.id",
            format!("tickwatch-tail-{:016x}", crate::spool::random_u64()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set(
            "auto.offset.reset",
            if opts.from_beginning {
                "earliest"
            } else {
                "latest"
            },
        )
        .set("reconnect.backoff.max.ms", "1000")
        // Some Kafka-protocol brokers (Tansu 0.6) answer a fetch only after this wait even when data is there.
        .set("fetch.wait.max.ms", "50");
    for (k, v) in &opts.overrides {
        cfg.set(k, v);
    }
    let consumer: BaseConsumer = cfg.create()?;
    let mut tpl = TopicPartitionList::new();
    // (topic, partition) -> offset to reach for `exit_at_end`.
    let mut targets: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for topic in &opts.topics {
        for p in partitions(&consumer, topic, opts)? {
            let start = if opts.from_beginning {
                Offset::Beginning
            } else {
                Offset::End
            };
            tpl.add_partition_offset(topic, p, start)?;
            if opts.exit_at_end {
                let (low, high) = consumer.fetch_watermarks(topic, p, opts.metadata_timeout)?;
                if opts.from_beginning && high > low {
                    targets.insert((topic.clone(), p), high);
                }
            }
        }
    }
    consumer.assign(&tpl)?;
    let mut records = 0u64;
    let mut last = Instant::now();
    loop {
        if opts.max_records.is_some_and(|m| records >= m) {
            return Ok(ReadSummary {
                records,
                stop: StopReason::Max,
            });
        }
        if opts.exit_at_end && targets.is_empty() {
            return Ok(ReadSummary {
                records,
                stop: StopReason::End,
            });
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(msg)) => {
                last = Instant::now();
                let mut headers = Vec::new();
                if let Some(h) = msg.headers() {
                    for header in h.iter() {
                        headers.push((header.key.to_owned(), header.value.map(<[u8]>::to_vec)));
                    }
                }
                let rec = ConsumedRecord {
                    topic: msg.topic().to_owned(),
                    partition: msg.partition(),
                    offset: msg.offset(),
                    key: msg.key().map(<[u8]>::to_vec),
                    payload: msg.payload().map(<[u8]>::to_vec),
                    headers,
                };
                let key = (rec.topic.clone(), rec.partition);
                if targets
                    .get(&key)
                    .is_some_and(|&high| rec.offset + 1 >= high)
                {
                    targets.remove(&key);
                }
                records += 1;
                if !on_record(rec) {
                    return Ok(ReadSummary {
                        records,
                        stop: StopReason::Callback,
                    });
                }
            }
            // Transient consumer errors (broker restarts) are retried by librdkafka.
            Some(Err(e)) if last.elapsed() >= Duration::from_secs(1) => {
                eprintln!("tickwatch tail: kafka: {e}");
            }
            Some(Err(_)) | None => {}
        }
        if opts.idle_timeout.is_some_and(|t| last.elapsed() >= t) {
            return Ok(ReadSummary {
                records,
                stop: StopReason::Idle,
            });
        }
    }
}
