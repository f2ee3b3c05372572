//! tickwatch feed stage: capture sources and zero-copy decoders.
#![deny(missing_docs)]

pub mod analyze;
pub mod capture;
pub mod encode;
pub mod iex;
pub mod itch;
pub mod moldudp64;
pub mod stats;
pub mod testdata;
