//! tickwatch tools: the command-line front end (`tickwatch`) and the runtime that wires the stages
//! (threads, cores, rings).
//!
//! Each subcommand is a module of [`cmd`] with an `Args` struct (clap) and a `run` function; the binary only
//! parses and dispatches.

pub mod cmd;
pub mod gen;
pub mod runtime;
