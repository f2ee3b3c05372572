//! Command-line options of the publish stage, for `#[command(flatten)]` into `replay`, `run` and `drain`.

use std::path::PathBuf;
use std::time::Duration;

use crate::jsonl::JsonLinesSink;
use crate::kafka::{KafkaConfig, KafkaSink, DEFAULT_PENDING_CAPACITY};
use crate::record::RecordKind;
use crate::sink::{Sink, SinkError, TeeSink};
use crate::spool::{FsyncPolicy, SpoolOptions, DEFAULT_SEGMENT_BYTES};

/// Where records go: Kafka when `--brokers` is given, JSON lines otherwise.
#[derive(Debug, Clone, clap::Args)]
pub struct PublishArgs {
    /// Kafka bootstrap servers (host:port[,host:port...]). Without it records are written as JSON lines.
    #[arg(long, value_name = "HOST:PORT,...")]
    pub brokers: Option<String>,

    /// Prefix of the topic names: PREFIX + alerts, snapshots, features (e.g. tw. gives tw.alerts).
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub topic_prefix: String,

    /// librdkafka property passed to the producer, e.g. security.protocol=SSL (repeatable; applied after
    /// tickwatch's defaults: enable.idempotence=true, acks=all, message.timeout.ms=0, ...).
    #[arg(long = "kafka-config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub kafka_config: Vec<(String, String)>,

    /// Spool directory: records the broker has not confirmed are kept here and sent first by the next run or
    /// by `tickwatch drain`.
    #[arg(long, value_name = "DIR", default_value = "tickwatch-spool")]
    pub spool_dir: PathBuf,

    /// At exit, wait up to SECS for delivery reports; what is still unconfirmed stays in the spool.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_seconds)]
    pub flush_timeout: Duration,

    /// When spooled records are fsynced: never, always (every record), or N (every N records).
    #[arg(long, value_name = "POLICY", default_value = "1000")]
    pub spool_fsync: FsyncPolicy,
}

impl PublishArgs {
    /// The Kafka configuration, if `--brokers` was given.
    pub fn kafka_config(&self) -> Option<KafkaConfig> {
        let brokers = self.brokers.as_ref()?;
        Some(KafkaConfig {
            brokers: brokers.clone(),
            topic_prefix: self.topic_prefix.clone(),
            overrides: self.kafka_config.clone(),
            spool_dir: self.spool_dir.clone(),
            spool: SpoolOptions {
                fsync: self.spool_fsync,
                segment_bytes: DEFAULT_SEGMENT_BYTES,
            },
            pending_capacity: DEFAULT_PENDING_CAPACITY,
        })
    }

    /// Builds the sink the flags ask for:
    /// - `--brokers` given: the Kafka sink (opening and locking `--spool-dir`; spooled records are sent first),
    ///   teed with `jsonl` when the caller also wants JSON lines (e.g. `--alerts-out FILE`);
    /// - no broker: `jsonl`, or — the embedded default — alerts as JSON lines on stdout.
    pub fn build_sink(&self, jsonl: Option<JsonLinesSink>) -> Result<Box<dyn Sink>, SinkError> {
        match (self.kafka_config(), jsonl) {
            (Some(cfg), None) => Ok(Box::new(KafkaSink::open(cfg)?)),
            (Some(cfg), Some(jsonl)) => Ok(Box::new(TeeSink::new(vec![
                Box::new(KafkaSink::open(cfg)?),
                Box::new(jsonl),
            ]))),
            (None, Some(jsonl)) => Ok(Box::new(jsonl)),
            (None, None) => Ok(Box::new(
                JsonLinesSink::new().with_stdout(&[RecordKind::Alert]),
            )),
        }
    }
}

/// Parses `KEY=VALUE` (the value may contain `=`).
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// Parses a non-negative number of seconds (fractions allowed).
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("expected seconds, got {s:?}"))?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("expected a non-negative number of seconds, got {s:?}"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        publish: PublishArgs,
    }

    #[test]
    fn defaults_and_flags() {
        let cli = Cli::try_parse_from(["t"]).unwrap();
        assert!(cli.publish.kafka_config().is_none());
        assert_eq!(cli.publish.flush_timeout, Duration::from_secs(30));
        assert_eq!(cli.publish.spool_fsync, FsyncPolicy::EveryRecords(1000));

        let cli = Cli::try_parse_from([
            "t",
            "--brokers",
            "127.0.0.1:9092",
            "--topic-prefix",
            "tw.",
            "--kafka-config",
            "security.protocol=SSL",
            "--kafka-config",
            "sasl.jaas=a=b",
            "--spool-dir",
            "/tmp/x",
            "--flush-timeout",
            "2.5",
            "--spool-fsync",
            "always",
        ])
        .unwrap();
        let cfg = cli.publish.kafka_config().unwrap();
        assert_eq!(cfg.brokers, "127.0.0.1:9092");
        assert_eq!(cfg.topic(crate::RecordKind::Snapshot), "tw.snapshots");
        assert_eq!(cfg.overrides[1], ("sasl.jaas".to_owned(), "a=b".to_owned()));
        assert_eq!(cli.publish.flush_timeout, Duration::from_millis(2500));
        assert_eq!(cfg.spool.fsync, FsyncPolicy::Always);
        assert!(Cli::try_parse_from(["t", "--kafka-config", "novalue"]).is_err());
        assert!(Cli::try_parse_from(["t", "--flush-timeout", "-1"]).is_err());
        assert!(Cli::try_parse_from(["t", "--spool-fsync", "0"]).is_err());
    }
}
