//! `detect/detectors.toml`, the documented default configuration, is exactly `DetectConfig::default()`, and a
//! partial file overrides only what it names.

use detect::{DetectConfig, DetectorKind, DetectorSet};

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

#[test]
fn a_set_is_idle_only_with_every_detector_off_and_no_feature_window() {
    let names = DetectorKind::ALL.map(|k| k.name());
    let all_off: String = names
        .iter()
        .map(|n| format!("[{n}]\nenabled = false\n"))
        .collect();
    assert!(DetectorSet::from_config(&all_off).unwrap().is_idle());
    assert!(!DetectorSet::default().is_idle());
    // Any one detector left on keeps the set busy.
    for keep in names {
        let t: String = names
            .iter()
            .filter(|n| **n != keep)
            .map(|n| format!("[{n}]\nenabled = false\n"))
            .collect();
        assert!(!DetectorSet::from_config(&t).unwrap().is_idle(), "{keep}");
    }
    // Tumbling feature records, or sliding features kept for a reader, are work too.
    let tumbling = format!("{all_off}[features]\ntumbling_ms = 1000\n");
    assert!(!DetectorSet::from_config(&tumbling).unwrap().is_idle());
    let mut sliding = DetectorSet::from_config(&all_off).unwrap();
    sliding.keep_sliding_features();
    assert!(!sliding.is_idle());
}
