//! Subcommands of the `tickwatch` binary. One module per subcommand, each exposing `Args` and
//! `run(Args) -> anyhow::Result<ExitCode>`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
pub enum Command {}

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {}
}
