//! `tickwatch`: the command-line front end. Each subcommand lives in its own module under `tools::cmd`.

use std::process::ExitCode;

use clap::Parser;
use tools::cmd::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match tools::cmd::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("tickwatch: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
