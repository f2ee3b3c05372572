//! Offline training (`detect::score::train`, behind `tickwatch train`) on synthetic data with known structure, and
//! its input formats.

use detect::score::train::{
    evaluate, fit_logistic, fit_trees, read_labels, Dataset, LogisticParams, TreeParams,
};
use detect::score::{Model, ModelSpec};

struct Rng(u64);

impl Rng {
    fn u(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (a, b) = (self.u().max(1e-300), self.u());
        (-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// `n` rows over 40 symbols with features (x1, x2, noise) and labels from `f`.
fn synth(n: usize, seed: u64, f: impl Fn(f64, f64, &mut Rng) -> bool) -> Dataset {
    let mut r = Rng(seed);
    let mut d = Dataset {
        names: vec!["x1".into(), "x2".into(), "noise".into()],
        ..Default::default()
    };
    for i in 0..n {
        let (x1, x2, z) = (r.normal(), r.normal(), r.normal());
        let y = f(x1, x2, &mut r);
        // Some missing values.
        let x2v = if i % 37 == 0 { f64::NAN } else { x2 };
        d.x.push(vec![x1, x2v, z]);
        d.y.push(if y { 1.0 } else { 0.0 });
        d.symbols.push(format!("S{}", i % 40));
        d.spans.push((i as u64, i as u64));
    }
    d
}

fn bind(spec: &ModelSpec, names: &[String]) -> Model {
    // Round trip through JSON, as `tickwatch train` writes and the pipeline reads.
    let text = serde_json::to_string_pretty(spec).unwrap();
    let back: ModelSpec = serde_json::from_str(&text).unwrap();
    let direct = Model::new(spec.clone(), "model.json", names).unwrap();
    let read = Model::new(back, "model.json", names).unwrap();
    // serde_json's float parsing may differ in the last bit; scores must agree to far below any threshold.
    let mut r = Rng(3);
    for _ in 0..200 {
        let x = [r.normal(), r.normal(), r.normal()];
        assert!((direct.score(&x) - read.score(&x)).abs() < 1e-12);
    }
    read
}

#[test]
fn logistic_recovers_a_linear_signal() {
    let d = synth(6000, 7, |x1, x2, r| {
        r.u() < sigmoid(2.5 * x1 - 1.5 * x2 - 1.0)
    });
    let (train, test) = d.split(0.25, 1);
    assert!(
        test.len() > 800 && train.len() > 3500,
        "{} / {}",
        train.len(),
        test.len()
    );
    let spec = fit_logistic(&train, &LogisticParams::default(), "lin").unwrap();
    let w = spec.weights.clone().unwrap();
    assert!(w[0] > 1.0 && w[1] < -0.5 && w[2].abs() < 0.2, "{w:?}");
    let m = bind(&spec, &d.names);
    let mt = evaluate(&m, &test);
    assert!(mt.auc > 0.85, "{mt:?}");
    // A permuted-label baseline is at chance: the AUC above is signal, not an artefact of the metric.
    let mut shuffled = test.clone();
    let third = shuffled.len() / 3;
    shuffled.y.rotate_left(third);
    assert!((evaluate(&m, &shuffled).auc - 0.5).abs() < 0.08);
    assert!(m.score(&[f64::NAN, f64::NAN, f64::NAN]).is_finite());
}

#[test]
fn trees_learn_an_interaction_logistic_cannot() {
    let d = synth(6000, 11, |x1, x2, r| {
        ((x1 > 0.3) ^ (x2 > -0.2)) ^ (r.u() < 0.05)
    });
    let (train, test) = d.split(0.25, 2);
    let lin = bind(
        &fit_logistic(&train, &LogisticParams::default(), "lin").unwrap(),
        &d.names,
    );
    let trees_spec = fit_trees(&train, &TreeParams::default(), "gbt").unwrap();
    assert_eq!(
        trees_spec.trees.as_ref().unwrap().len(),
        TreeParams::default().trees
    );
    let gbt = bind(&trees_spec, &d.names);
    let (ml, mg) = (evaluate(&lin, &test), evaluate(&gbt, &test));
    assert!(ml.auc < 0.65, "logistic cannot separate XOR: {ml:?}");
    assert!(mg.auc > 0.9, "trees can: {mg:?}");
    assert!(mg.precision > 0.8 && mg.recall > 0.8, "{mg:?}");
}

#[test]
fn csv_rows_labelled_from_gen_labels() {
    let csv = "ts_ns,symbol,stock_locate,rate,spread\n\
               100,AAA,1,5,0.01\n\
               200,AAA,1,50,\n\
               300,BBB,2,7,0.02\n\
               2500,AAA,1,8,0.01\n";
    let mut d = Dataset::parse("f.csv", csv).unwrap();
    assert_eq!(d.names, ["rate", "spread"]);
    assert!(d.x[1][1].is_nan());
    let labels = "{\"detector\":\"spoofing\",\"symbol\":\"AAA\",\"stock_locate\":1,\"start_ns\":150,\"end_ns\":250,\"parameters\":{}}\n\
                  {\"detector\":\"spoofing\",\"symbol\":\"BBB\",\"stock_locate\":2,\"start_ns\":250,\"end_ns\":350,\"decoy\":\"size_below\",\"parameters\":{}}\n\
                  {\"detector\":\"layering\",\"symbol\":\"AAA\",\"stock_locate\":1,\"start_ns\":2400,\"end_ns\":2450,\"parameters\":{}}\n";
    let eps = read_labels("L.jsonl", labels).unwrap();
    assert_eq!(eps.len(), 3);
    assert!(eps[1].decoy);
    d.label_from(&eps, None, 0);
    assert_eq!(d.y, [0.0, 1.0, 0.0, 0.0]);
    d.label_from(&eps, None, 100);
    assert_eq!(
        d.y,
        [0.0, 1.0, 0.0, 1.0],
        "slack extends episodes past their end"
    );
    d.label_from(&eps, Some("spoofing"), 100);
    assert_eq!(d.y, [0.0, 1.0, 0.0, 0.0], "only one detector's episodes");
    // Errors name file and line.
    let e = Dataset::parse("f.csv", "ts_ns,symbol,a\n1,X,2\n2,X,oops\n").unwrap_err();
    assert_eq!(e.to_string(), "f.csv:3: column `a`: `oops` is not a number");
    let e = Dataset::parse("f.csv", "symbol,a\nX,1\n").unwrap_err();
    assert!(e.to_string().contains("`ts_ns` and `symbol`"));
    let e = Dataset::parse("f.csv", "ts_ns,symbol,label\n1,X,2\n").unwrap_err();
    assert!(e.to_string().contains("label `2`"));
    let e = read_labels("L.jsonl", "{\"symbol\":\"X\"}\n").unwrap_err();
    assert!(e.to_string().starts_with("L.jsonl:1:"));
}

#[test]
fn detect_feature_records_map_to_pipeline_feature_names() {
    let rec = r#"{"record":"features","kind":"tumbling","symbol":"AAA","stock_locate":1,"window_start_ns":1000,"window_end_ns":2000,"messages":10,"adds":4,"cancels":1,"deletes":2,"replaces":0,"executions":3,"volume":300,"median_order_size":0,"notional":3000.5,"message_rate_per_s":10,"order_to_trade":2.3333,"cancel_rate":0.75,"move_bps":-5.5,"vwap":10.0017,"last_price":10.01,"bid_price":10,"ask_price":10.02,"bid_qty":100,"ask_qty":200}
{"record":"alert","detector":"x"}
"#;
    let d = Dataset::parse("feat.jsonl", rec).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d.spans[0], (1000, 2000));
    let get = |n: &str| d.x[0][d.names.iter().position(|x| x == n).unwrap()];
    assert_eq!(get("message_rate"), 10.0);
    assert_eq!(get("bid"), 10.0);
    assert!(get("median_order_size").is_nan());
    assert!((get("spread") - 0.02).abs() < 1e-9);
    assert!((get("mid") - 10.01).abs() < 1e-9);
    // Every name is a feature of the pipeline vector, so a model trained on records scores in the pipeline.
    for n in &d.names {
        assert!(
            detect::cep::features::FEATURE_NAMES.contains(&n.as_str()),
            "{n}"
        );
    }
}
