//! Subcommands of the `tickwatch` binary. One module per subcommand, each exposing `Args` and
//! `run(Args) -> anyhow::Result<ExitCode>`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod drain;
pub mod report;
pub mod tail;

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
    /// Percentile table, .hgrm files and a latency plot from HdrHistogram interval logs (`--hist-out`).
    Report(report::Args),
    /// Deliver the records left in a spool directory to Kafka, in order, without replaying anything.
    Drain(drain::Args),
    /// Print the records of Kafka topics (message values, or envelopes with key, headers and offsets).
    Tail(tail::Args),
}

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Report(args) => report::run(args),
        Command::Drain(args) => drain::run(args),
        Command::Tail(args) => tail::run(args),
    }
}
