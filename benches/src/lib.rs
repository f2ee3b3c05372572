//! Shared helpers for the tickwatch benchmarks (locating data files).
