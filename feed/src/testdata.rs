//! Locating the shared real-data directory for tests, benches and examples.
//!
//! Real exchange captures are never committed to this repository. Tests find them through the environment variable
//! `TICKWATCH_DATA` (default: `../shared/data` next to the workspace root). When the data is missing:
//! - under CI (`CI` set to `true` or `1`) the test **panics** with the reason, so CI fails loudly;
//! - elsewhere it prints a clear `SKIPPED (...)` line on stderr and the caller returns early.
//!
//! ```no_run
//! # fn t() {
//! let Some(dir) = feed::testdata::require("nasdaq/itch50-moldudp64") else { return };
//! # let _ = dir; }
//! ```

use std::path::{Path, PathBuf};

/// Root of the shared data: `$TICKWATCH_DATA`, or `<workspace>/../shared/data`.
pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TICKWATCH_DATA") {
        return PathBuf::from(dir);
    }
    // feed/ is one level below the workspace root; the shared folder sits beside the workspace.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
}

/// True when running under CI (`CI=true` or `CI=1`).
pub fn in_ci() -> bool {
    matches!(
        std::env::var("CI").as_deref(),
        Ok("true") | Ok("1") | Ok("TRUE")
    )
}

/// Returns the path of `rel` inside the data directory if it exists.
///
/// If it does not exist: panics under CI (a real-data test must not silently pass there), otherwise prints a
/// `SKIPPED` line naming the missing path and returns `None`.
pub fn require(rel: &str) -> Option<PathBuf> {
    let path = data_dir().join(rel);
    if path.exists() {
        return Some(path);
    }
    let msg = format!(
        "real-data test needs {} (set TICKWATCH_DATA to the shared data directory; default ../shared/data beside the \
         workspace)",
        path.display()
    );
    if in_ci() {
        panic!("CI=true and test data is missing: {msg}");
    }
    eprintln!("SKIPPED (data missing): {msg}");
    None
}
