//! The shipped CEP rule files for layering and marking the close (`detect/rules/`) find the same `tickwatch gen`
//! episodes as the built-in detectors: on generated days, every labelled episode and every decoy is hit by the CEP
//! version exactly when it is hit by the built-in detector (a hit = an alert of that detector, same symbol,
//! `event_ts_ns` in [`start_ns`, `end_ns` + 1 s], as `tickwatch eval` matches).
//!
//! Seeds: `TW_CEP_SEEDS` (comma-separated, default `3,11,29`).

use std::path::PathBuf;

use book::replay::replay;
use book::{Books, StoreConfig};
use detect::cep::{CepConfig, CepStage};
use detect::{Alert, DetectConfig, DetectorSet};
use feed::capture::{Capture, UdpFilter};
use tools::gen::episodes::Label;
use tools::gen::{generate_to_file, Format, GenConfig};

const S: u64 = 1_000_000_000;

fn rules() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../detect/rules");
    vec![dir.join("layering.cep"), dir.join("marking_the_close.cep")]
}

fn hit(alerts: &[Alert], detector: &str, l: &Label, cep: bool) -> bool {
    alerts.iter().any(|a| {
        let name = a.detector.name();
        let same = if cep {
            name.starts_with(detector)
        } else {
            name == detector
        };
        same && a.symbol.as_str() == l.symbol
            && a.event_ts_ns >= l.start_ns
            && a.event_ts_ns <= l.end_ns + S
    })
}

#[test]
fn cep_rules_find_the_same_gen_episodes_as_the_builtin_detectors() {
    let seeds: Vec<u64> = std::env::var("TW_CEP_SEEDS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![3, 11, 29]);
    let dir = tempfile::tempdir().unwrap();
    let mut table = Vec::new();
    for seed in seeds {
        let cfg = GenConfig {
            seed,
            symbols: 60,
            messages: 600_000,
            episodes: 8,
            decoys: 8,
            ..GenConfig::default()
        };
        let path = dir.path().join(format!("day{seed}.itch"));
        let summary = generate_to_file(&cfg, &path, Format::Raw).unwrap();
        let capture = Capture::open(&path).unwrap();
        let mut books = Books::new(StoreConfig::default());
        let mut set = DetectorSet::new(&DetectConfig::default());
        let mut cep = CepStage::load(&CepConfig {
            rules: rules(),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let (mut builtin, mut ceps) = (Vec::new(), Vec::new());
        replay(&capture, UdpFilter::default(), &mut books, |ev| {
            set.on_event(ev, &mut |a: &Alert| builtin.push(*a));
            let snap = if cep.needs_features() {
                set.features(ev.book)
            } else {
                None
            };
            cep.on_event(ev, snap.as_ref(), &mut |a: &Alert| ceps.push(*a));
        });
        set.finish(&mut |a: &Alert| builtin.push(*a));
        cep.finish(&mut |a: &Alert| ceps.push(*a));
        let stats = cep.stats();
        assert_eq!(
            stats.dropped_key_cap
                + stats.dropped_total_cap
                + stats.dropped_pool
                + stats.dropped_partition_cap,
            0,
            "{stats:?}"
        );
        for detector in ["layering", "marking_the_close"] {
            let (mut eps, mut eps_hit, mut decoys, mut decoy_hits) = (0, 0, 0, 0);
            for (l, is_decoy) in summary
                .labels
                .iter()
                .map(|l| (l, false))
                .chain(summary.decoys.iter().map(|l| (l, true)))
                .filter(|(l, _)| l.detector == detector)
            {
                let (b, c) = (
                    hit(&builtin, detector, l, false),
                    hit(&ceps, detector, l, true),
                );
                assert_eq!(
                    b, c,
                    "seed {seed}: {detector} {} {} [{}, {}] decoy {:?}: built-in {b}, CEP {c}",
                    l.symbol, l.stock_locate, l.start_ns, l.end_ns, l.decoy
                );
                if is_decoy {
                    decoys += 1;
                    decoy_hits += c as usize;
                } else {
                    eps += 1;
                    eps_hit += c as usize;
                }
            }
            let nb = builtin
                .iter()
                .filter(|a| a.detector.name() == detector)
                .count();
            let nc = ceps
                .iter()
                .filter(|a| a.detector.name().starts_with(detector))
                .count();
            table.push(format!(
                "seed {seed:>3} {detector:<18} episodes {eps_hit}/{eps} decoys hit {decoy_hits}/{decoys} \
                 alerts built-in {nb} CEP {nc}"
            ));
            assert!(eps > 0 && decoys > 0, "gen produced no {detector} records");
            assert!(
                eps_hit * 100 >= eps * 95,
                "CEP {detector} recall {eps_hit}/{eps}"
            );
            assert_eq!(decoy_hits, 0, "CEP {detector} fired on a decoy");
        }
    }
    for l in &table {
        eprintln!("{l}");
    }
}
