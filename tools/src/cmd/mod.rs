//! Subcommands of the `tickwatch` binary. One module per subcommand, each exposing `Args` and
//! `run(Args) -> anyhow::Result<ExitCode>`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod book;
pub mod demo;
pub mod drain;
pub mod dump;
pub mod eval;
pub mod gen;
pub mod replay;
pub mod report;
pub mod run;
pub mod send;
pub mod stats;
pub mod tail;
pub mod train;

/// tickwatch: low-latency market-data pipeline (NASDAQ ITCH 5.0 / IEX-TP), books, manipulation detection.
#[derive(Debug, Parser)]
#[command(name = "tickwatch", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Every subcommand of `tickwatch`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Message counts by type and transport figures (packets, gaps, duplicates, damage, time span) of a capture.
    Stats(stats::Args),
    /// One JSON object per decoded message of a capture (oracle CSV column names).
    Dump(dump::Args),
    /// Replay a capture into the order books; print final books, integrity figures, BBO / level CSVs, ns/msg.
    Book(book::Args),
    /// The main job on an embedded default: generate a labelled synthetic day, replay it through the full
    /// pipeline, alerts to stdout, latency summary and detector precision/recall to stderr.
    Demo(demo::Args),
    /// Replay captures through the full pipeline (books, detectors, alerts), at full speed or paced.
    Replay(replay::Args),
    /// The live daemon: receive a UDP feed (mio or io_uring), run the pipeline, publish alerts, serve metrics.
    Run(run::Args),
    /// Send a capture's UDP payloads to an address (test driver for `run`); `--skip N` injects a gap.
    Send(send::Args),
    /// Write a synthetic labelled ITCH 5.0 day (MoldUDP64 pcap or raw) with LABELS.jsonl / DECOYS.jsonl.
    Gen(gen::Args),
    /// Precision and recall of alerts (JSON lines) against gen's labels, per detector.
    Eval(eval::Args),
    /// Percentile table, .hgrm files and a latency plot from HdrHistogram interval logs (`--hist-out`).
    Report(report::Args),
    /// Deliver the records left in a spool directory to Kafka, in order, without replaying anything.
    Drain(drain::Args),
    /// Print the records of Kafka topics (message values, or envelopes with key, headers and offsets).
    Tail(tail::Args),
    /// Fit a scoring model (logistic regression or tree ensemble, JSON) from labelled feature rows.
    Train(train::Args),
}

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Stats(args) => stats::run(args),
        Command::Dump(args) => dump::run(args),
        Command::Book(args) => book::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Gen(args) => gen::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Report(args) => report::run(args),
        Command::Run(args) => run::run(args),
        Command::Send(args) => send::run(args),
        Command::Drain(args) => drain::run(args),
        Command::Tail(args) => tail::run(args),
        Command::Train(args) => train::run(args),
    }
}
