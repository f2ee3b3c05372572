//! `detect/detectors.toml`, the documented default configuration, is exactly `DetectConfig::default()`, and a
//! partial file overrides only what it names.

use detect::{DetectConfig, DetectorSet};

#[test]
fn shipped_file_is_the_default() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("detectors.toml");
    let cfg = DetectConfig::from_file(&path).expect("detectors.toml parses");
    assert_eq!(cfg, DetectConfig::default());
}

#[test]
fn from_config_overrides_and_reports_errors() {
    let set = DetectorSet::from_config("[order_to_trade]\nenabled = false\n").unwrap();
    assert!(!set.config().order_to_trade.enabled);
    assert!(set.config().spoofing.enabled);
    let err = DetectorSet::from_config("[spoofing]\nmax_lifetime_ms = 0\n").unwrap_err();
    assert!(
        err.to_string().contains("spoofing.max_lifetime_ms"),
        "{err}"
    );
    let err = DetectorSet::from_config("[nonsense]\n").unwrap_err();
    assert!(err.to_string().contains("nonsense"), "{err}");
}
