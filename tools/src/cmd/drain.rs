//! `tickwatch drain --brokers B --spool-dir DIR`: delivers the records left in a spool directory (by a run that
//! could not reach its broker) to Kafka, in their original order, without replaying anything.
//!
//! Exit status: 0 when the spool is empty afterwards and nothing failed; 1 when records remain (the broker did
//! not confirm them within `--flush-timeout`; run `drain` again) or failed permanently (kept in the spool's
//! dead-letter file); 2 on errors (spool locked by a running tickwatch, unreadable directory, bad config).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use publish::args::{parse_key_value, parse_seconds};
use publish::spool::{self, FsyncPolicy, SpoolOptions, DEFAULT_SEGMENT_BYTES};
use publish::{KafkaConfig, KafkaSink, Sink};

/// Arguments of `tickwatch drain`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Kafka bootstrap servers (host:port[,host:port...]).
    #[arg(long, value_name = "HOST:PORT,...")]
    pub brokers: String,
    /// The spool directory to deliver.
    #[arg(long, value_name = "DIR")]
    pub spool_dir: PathBuf,
    /// Prefix of the topic names (must match the run that spooled the records).
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub topic_prefix: String,
    /// librdkafka producer property (repeatable).
    #[arg(long = "kafka-config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub kafka_config: Vec<(String, String)>,
    /// Give up after SECS; what is unconfirmed by then stays in the spool.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_seconds)]
    pub flush_timeout: Duration,
    /// fsync policy for the spool rewrite at the end: never, always, or N records.
    #[arg(long, value_name = "POLICY", default_value = "1000")]
    pub spool_fsync: FsyncPolicy,
}

/// Runs `tickwatch drain`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.spool_dir.is_dir() {
        anyhow::bail!(
            "spool directory {} does not exist",
            args.spool_dir.display()
        );
    }
    let before = spool::summarize(&args.spool_dir)
        .with_context(|| format!("reading spool {}", args.spool_dir.display()))?;
    eprintln!(
        "tickwatch drain: {} record(s) in {} segment(s) in {} ({} in dead-letter, not re-sent)",
        before.records,
        before.segments,
        args.spool_dir.display(),
        before.dead_letter
    );
    let config = KafkaConfig {
        topic_prefix: args.topic_prefix,
        overrides: args.kafka_config,
        spool: SpoolOptions {
            fsync: args.spool_fsync,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
        },
        ..KafkaConfig::new(args.brokers, args.spool_dir)
    };
    let started = Instant::now();
    let mut sink = KafkaSink::open(config).context("opening the Kafka sink")?;
    let report = sink
        .shutdown(args.flush_timeout)
        .context("draining the spool")?;
    let elapsed = started.elapsed();
    eprintln!("tickwatch drain: {report} ({:.1} s)", elapsed.as_secs_f64());
    if report.is_complete() {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}
