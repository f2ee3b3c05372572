//! `tickwatch tail --brokers B --topic T`: prints the records of Kafka topics, one per line — the message value
//! (the same JSON line the JSON-lines sink writes) or, with `--format envelope`, a JSON object with topic,
//! partition, offset, key, headers and value.
//!
//! Without `--max`, `--timeout` or `--exit-at-end` it follows the topics until interrupted. Exit status: 0 on a
//! normal stop, 2 on errors (unknown topic, broker unreachable while fetching metadata).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use publish::args::{parse_key_value, parse_seconds};
use publish::consume::{read_topics, ReadOptions, StopReason};

/// Output format of `tail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The message value as is (one JSON record per line).
    Value,
    /// `{"topic","partition","offset","key","headers","value"}` per line (value as a string).
    Envelope,
}

/// Arguments of `tickwatch tail`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Kafka bootstrap servers (host:port[,host:port...]).
    #[arg(long, value_name = "HOST:PORT,...")]
    pub brokers: String,
    /// Topic to read (repeatable), e.g. alerts or <prefix>alerts.
    #[arg(long = "topic", value_name = "TOPIC", required = true)]
    pub topics: Vec<String>,
    /// Start at the beginning of every partition (default: only records produced from now on).
    #[arg(long)]
    pub from_beginning: bool,
    /// Stop after N records.
    #[arg(long, value_name = "N")]
    pub max: Option<u64>,
    /// Stop after SECS without a new record.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
    /// Stop once every partition has been read up to the end it had at start (with --from-beginning).
    #[arg(long)]
    pub exit_at_end: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "value")]
    pub format: Format,
    /// librdkafka consumer property (repeatable).
    #[arg(long = "kafka-config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub kafka_config: Vec<(String, String)>,
}

/// Runs `tickwatch tail`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = ReadOptions {
        brokers: args.brokers,
        topics: args.topics,
        from_beginning: args.from_beginning,
        max_records: args.max,
        idle_timeout: args.timeout,
        exit_at_end: args.exit_at_end,
        metadata_timeout: Duration::from_secs(20),
        overrides: args.kafka_config,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut write_error = None;
    let summary = read_topics(&opts, |rec| {
        let written = match args.format {
            Format::Value => out
                .write_all(rec.payload.as_deref().unwrap_or_default())
                .and_then(|()| out.write_all(b"\n")),
            Format::Envelope => serde_json::to_writer(&mut out, &rec.envelope())
                .map_err(std::io::Error::other)
                .and_then(|()| out.write_all(b"\n")),
        };
        match written {
            Ok(()) => true,
            Err(e) => {
                write_error = Some(e);
                false
            }
        }
    })
    .context("reading topics")?;
    if let Some(e) = write_error {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e).context("writing stdout");
        }
    }
    out.flush().ok();
    let why = match summary.stop {
        StopReason::Max => "max records reached",
        StopReason::End => "end of topics",
        StopReason::Idle => "idle timeout",
        StopReason::Callback => "output closed",
    };
    eprintln!("tickwatch tail: {} record(s) ({why})", summary.records);
    Ok(ExitCode::SUCCESS)
}
