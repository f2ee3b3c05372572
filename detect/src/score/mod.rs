//! In-stream scoring: a model file (logistic regression or a small tree ensemble, JSON) applied to a symbol's
//! feature vector, giving a score that CEP rules (`score`, `score("NAME")`) and detectors can test.
//!
//! # Model file (`tickwatch-model-v1`)
//! ```json
//! {"format": "tickwatch-model-v1", "name": "layering", "type": "logistic",
//!  "features": ["msg_rate", "cancel_rate"],
//!  "mean": [120.0, 0.8], "scale": [40.0, 0.1],
//!  "weights": [0.9, 2.1], "bias": -4.0}
//! ```
//! Logistic regression: `p = 1 / (1 + exp(-(bias + Σ wᵢ·(xᵢ − meanᵢ)/scaleᵢ)))`; `mean`/`scale` are optional (0 / 1);
//! a missing feature (`NaN`) contributes 0 (it is imputed with its mean).
//! ```json
//! {"format": "tickwatch-model-v1", "name": "spoof", "type": "tree_ensemble",
//!  "features": ["msg_rate", "cancel_rate"], "base_score": -1.0, "link": "logistic",
//!  "trees": [{"nodes": [{"feature": 1, "threshold": 0.9, "left": 1, "right": 2, "missing": "left"},
//!                       {"value": -0.4}, {"value": 0.7}]}]}
//! ```
//! Tree ensemble: each tree starts at node 0; an internal node sends `x[feature] < threshold` left, otherwise right,
//! and `NaN` to its `missing` side (default left); child indices must be larger than the node's own (so trees are
//! acyclic). The margin `base_score + Σ leaf values` goes through `link` (`logistic`, the default, or
//! `identity`).
//!
//! Feature names are resolved once, when the model is added to a [`ModelSet`], against the names of the feature
//! vector the pipeline provides (see [`crate::cep::FeatureSource`]).
//!
//! # Contract
//! Loading and binding allocate. [`ModelSet::score`] / [`Model::score`] never allocate: a logistic model costs one
//! multiply-add per feature, a tree ensemble one comparison per level per tree. `tickwatch train` fits models
//! offline ([`train`]).

pub mod train;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The format tag of model files.
pub const FORMAT: &str = "tickwatch-model-v1";

/// A model could not be loaded or bound.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The file could not be read.
    #[error("cannot read model {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid model.
    #[error("{file}: {message}")]
    Invalid {
        /// File name.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// One node of a tree in a model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeNodeSpec {
    /// Feature index (into the model's `features`) of an internal node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<usize>,
    /// Split threshold: `x < threshold` goes left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Left child index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<usize>,
    /// Right child index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub right: Option<usize>,
    /// Where `NaN` goes: `"left"` (default) or `"right"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
    /// Leaf value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// One tree in a model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeSpec {
    /// Nodes; node 0 is the root.
    pub nodes: Vec<TreeNodeSpec>,
}

/// A model file, as serialised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Must be [`FORMAT`].
    pub format: String,
    /// Model name (`score("NAME")` in rules).
    pub name: String,
    /// `logistic` or `tree_ensemble`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Feature names, in the order the weights / tree feature indices use.
    pub features: Vec<String>,
    /// Logistic: per-feature mean subtracted before scaling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<Vec<f64>>,
    /// Logistic: per-feature scale divided by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<Vec<f64>>,
    /// Logistic: weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
    /// Logistic: intercept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias: Option<f64>,
    /// Trees: initial margin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_score: Option<f64>,
    /// Trees: `logistic` (default) or `identity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Trees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trees: Option<Vec<TreeSpec>>,
    /// Free-form training metadata (ignored when scoring).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<serde_json::Value>,
}

const LEAF: u16 = u16::MAX;

#[derive(Debug, Clone, Copy)]
struct FlatNode {
    /// Model feature index, or `LEAF`.
    feat: u16,
    missing_left: bool,
    /// Threshold, or the leaf value.
    t: f64,
    left: u32,
    right: u32,
}

#[derive(Debug, Clone)]
enum Body {
    Logistic {
        mean: Vec<f64>,
        inv_scale: Vec<f64>,
        weights: Vec<f64>,
        bias: f64,
    },
    Trees {
        nodes: Vec<FlatNode>,
        roots: Vec<u32>,
        base: f64,
        logistic: bool,
    },
}

/// A validated model, with its features bound to positions of the pipeline's feature vector.
#[derive(Debug, Clone)]
pub struct Model {
    spec: ModelSpec,
    /// For each model feature, its index in the feature vector given to [`Model::score`].
    idx: Vec<usize>,
    body: Body,
}

#[inline]
fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl Model {
    /// Validates `spec` (`file` names it in errors) and binds its features to `vector_names`, the names of the
    /// feature vector the model will be applied to.
    pub fn new(spec: ModelSpec, file: &str, vector_names: &[String]) -> Result<Model, ModelError> {
        let bad = |m: String| ModelError::Invalid {
            file: file.to_owned(),
            message: m,
        };
        if spec.format != FORMAT {
            return Err(bad(format!(
                "format is `{}`, expected `{FORMAT}`",
                spec.format
            )));
        }
        if spec.name.is_empty() {
            return Err(bad("empty model name".into()));
        }
        let n = spec.features.len();
        let mut idx = Vec::with_capacity(n);
        for f in &spec.features {
            let i = vector_names.iter().position(|v| v == f).ok_or_else(|| {
                bad(format!(
                    "feature `{f}` is not provided by the pipeline (available: {})",
                    vector_names.join(", ")
                ))
            })?;
            idx.push(i);
        }
        let finite = |v: &[f64], what: &str| -> Result<(), ModelError> {
            if v.iter().all(|x| x.is_finite()) {
                Ok(())
            } else {
                Err(bad(format!("`{what}` has a non-finite value")))
            }
        };
        let body = match spec.kind.as_str() {
            "logistic" => {
                let weights = spec
                    .weights
                    .clone()
                    .ok_or_else(|| bad("logistic model without `weights`".into()))?;
                if weights.len() != n {
                    return Err(bad(format!("{} weights for {n} features", weights.len())));
                }
                let mean = spec.mean.clone().unwrap_or_else(|| vec![0.0; n]);
                let scale = spec.scale.clone().unwrap_or_else(|| vec![1.0; n]);
                if mean.len() != n || scale.len() != n {
                    return Err(bad(format!("`mean`/`scale` must have {n} values")));
                }
                finite(&weights, "weights")?;
                finite(&mean, "mean")?;
                finite(&scale, "scale")?;
                if scale.contains(&0.0) {
                    return Err(bad("`scale` has a zero".into()));
                }
                let bias = spec.bias.unwrap_or(0.0);
                if !bias.is_finite() {
                    return Err(bad("`bias` is not finite".into()));
                }
                Body::Logistic {
                    inv_scale: scale.iter().map(|s| 1.0 / s).collect(),
                    mean,
                    weights,
                    bias,
                }
            }
            "tree_ensemble" => {
                let trees = spec
                    .trees
                    .as_ref()
                    .ok_or_else(|| bad("tree_ensemble without `trees`".into()))?;
                let logistic = match spec.link.as_deref() {
                    None | Some("logistic") => true,
                    Some("identity") => false,
                    Some(l) => {
                        return Err(bad(format!("unknown link `{l}` (logistic or identity)")))
                    }
                };
                let base = spec.base_score.unwrap_or(0.0);
                let mut nodes = Vec::new();
                let mut roots = Vec::with_capacity(trees.len());
                for (t, tree) in trees.iter().enumerate() {
                    if tree.nodes.is_empty() {
                        return Err(bad(format!("tree {t} has no nodes")));
                    }
                    let off = nodes.len();
                    roots.push(off as u32);
                    let len = tree.nodes.len();
                    for (i, nd) in tree.nodes.iter().enumerate() {
                        let here = |m: &str| bad(format!("tree {t} node {i}: {m}"));
                        if let Some(v) = nd.value {
                            if nd.feature.is_some() || nd.left.is_some() || nd.right.is_some() {
                                return Err(here("a leaf (`value`) cannot have a split"));
                            }
                            if !v.is_finite() {
                                return Err(here("non-finite leaf value"));
                            }
                            nodes.push(FlatNode {
                                feat: LEAF,
                                missing_left: true,
                                t: v,
                                left: 0,
                                right: 0,
                            });
                            continue;
                        }
                        let (Some(f), Some(th), Some(l), Some(r)) =
                            (nd.feature, nd.threshold, nd.left, nd.right)
                        else {
                            return Err(here(
                                "needs `value`, or `feature`, `threshold`, `left` and `right`",
                            ));
                        };
                        if f >= n {
                            return Err(here(&format!(
                                "feature index {f} out of range ({n} features)"
                            )));
                        }
                        if l <= i || r <= i || l >= len || r >= len {
                            return Err(here("children must be later nodes of the same tree"));
                        }
                        if th.is_nan() {
                            return Err(here("NaN threshold"));
                        }
                        let missing_left = match nd.missing.as_deref() {
                            None | Some("left") => true,
                            Some("right") => false,
                            Some(m) => {
                                return Err(here(&format!("`missing` is `{m}` (left or right)")))
                            }
                        };
                        nodes.push(FlatNode {
                            feat: f as u16,
                            missing_left,
                            t: th,
                            left: (off + l) as u32,
                            right: (off + r) as u32,
                        });
                    }
                }
                Body::Trees {
                    nodes,
                    roots,
                    base,
                    logistic,
                }
            }
            k => {
                return Err(bad(format!(
                    "unknown model type `{k}` (logistic or tree_ensemble)"
                )))
            }
        };
        Ok(Model { spec, idx, body })
    }

    /// Reads a model file and binds it to `vector_names`.
    pub fn load(path: impl AsRef<Path>, vector_names: &[String]) -> Result<Model, ModelError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_owned(),
            source,
        })?;
        let file = path.display().to_string();
        let spec: ModelSpec = serde_json::from_str(&text).map_err(|e| ModelError::Invalid {
            file: file.clone(),
            message: e.to_string(),
        })?;
        Model::new(spec, &file, vector_names)
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The model as serialised.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Score of the feature vector `x` (laid out as the `vector_names` the model was bound to): a probability in
    /// `[0, 1]` for logistic models and trees with the logistic link. Missing entries (`NaN` or beyond `x`) are
    /// handled as documented in the module docs. Never allocates.
    #[inline]
    pub fn score(&self, x: &[f64]) -> f64 {
        let get = |i: usize| x.get(self.idx[i]).copied().unwrap_or(f64::NAN);
        match &self.body {
            Body::Logistic {
                mean,
                inv_scale,
                weights,
                bias,
            } => {
                let mut z = *bias;
                for i in 0..weights.len() {
                    let v = get(i);
                    if !v.is_nan() {
                        z += weights[i] * (v - mean[i]) * inv_scale[i];
                    }
                }
                sigmoid(z)
            }
            Body::Trees {
                nodes,
                roots,
                base,
                logistic,
            } => {
                let mut m = *base;
                for &r in roots {
                    let mut n = &nodes[r as usize];
                    while n.feat != LEAF {
                        let v = get(n.feat as usize);
                        let left = if v.is_nan() { n.missing_left } else { v < n.t };
                        n = &nodes[if left { n.left } else { n.right } as usize];
                    }
                    m += n.t;
                }
                if *logistic {
                    sigmoid(m)
                } else {
                    m
                }
            }
        }
    }
}

/// The models a pipeline scores with, by name. The first model is the default (`score` without a name).
#[derive(Debug, Clone, Default)]
pub struct ModelSet {
    models: Vec<Model>,
}

impl ModelSet {
    /// An empty set.
    pub fn new() -> ModelSet {
        ModelSet::default()
    }

    /// Adds a model (names must be unique).
    pub fn add(&mut self, m: Model) -> Result<&mut ModelSet, ModelError> {
        if self.index(m.name()).is_some() {
            return Err(ModelError::Invalid {
                file: m.name().to_owned(),
                message: format!("duplicate model name `{}`", m.name()),
            });
        }
        self.models.push(m);
        Ok(self)
    }

    /// Loads model files, binding them to `vector_names`.
    pub fn load<P: AsRef<Path>>(
        paths: &[P],
        vector_names: &[String],
    ) -> Result<ModelSet, ModelError> {
        let mut s = ModelSet::new();
        for p in paths {
            s.add(Model::load(p, vector_names)?)?;
        }
        Ok(s)
    }

    /// Whether no model is loaded.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// Number of models.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// Index of the model named `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.models.iter().position(|m| m.name() == name)
    }

    /// Model names, by index.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.models.iter().map(|m| m.name())
    }

    /// Model `i`.
    pub fn get(&self, i: usize) -> Option<&Model> {
        self.models.get(i)
    }

    /// Score of model `i` on `x` (`NaN` when there is no such model). Never allocates.
    #[inline]
    pub fn score(&self, i: usize, x: &[f64]) -> f64 {
        self.models.get(i).map_or(f64::NAN, |m| m.score(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["a", "b", "c"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn logistic_scores_and_binds_by_name() {
        let spec: ModelSpec = serde_json::from_str(
            r#"{"format":"tickwatch-model-v1","name":"m","type":"logistic","features":["c","a"],
                "mean":[1.0,0.0],"scale":[2.0,1.0],"weights":[1.0,-1.0],"bias":0.5}"#,
        )
        .unwrap();
        let m = Model::new(spec, "m.json", &names()).unwrap();
        // z = 0.5 + 1*(5-1)/2 - 1*(3-0)/1 = -0.5
        let x = [3.0, 100.0, 5.0];
        assert!((m.score(&x) - sigmoid(-0.5)).abs() < 1e-12);
        // Missing c: contributes 0.
        assert!((m.score(&[3.0, 0.0, f64::NAN]) - sigmoid(-2.5)).abs() < 1e-12);
        assert!((m.score(&[3.0]) - sigmoid(-2.5)).abs() < 1e-12);
    }

    #[test]
    fn trees_score_with_missing_directions() {
        let spec: ModelSpec = serde_json::from_str(
            r#"{"format":"tickwatch-model-v1","name":"t","type":"tree_ensemble","features":["b"],
                "base_score":1.0,"link":"identity","trees":[
                  {"nodes":[{"feature":0,"threshold":2.0,"left":1,"right":2,"missing":"right"},
                            {"value":-1.0},{"value":3.0}]},
                  {"nodes":[{"value":0.5}]}]}"#,
        )
        .unwrap();
        let m = Model::new(spec, "t.json", &names()).unwrap();
        assert_eq!(m.score(&[0.0, 1.0, 0.0]), 0.5);
        assert_eq!(m.score(&[0.0, 2.0, 0.0]), 4.5);
        assert_eq!(m.score(&[0.0, f64::NAN, 0.0]), 4.5);
    }

    #[test]
    fn invalid_models_are_rejected_with_reasons() {
        let cases = [
            (
                r#"{"format":"x","name":"m","type":"logistic","features":[],"weights":[]}"#,
                "format",
            ),
            (
                r#"{"format":"tickwatch-model-v1","name":"m","type":"logistic","features":["zz"],"weights":[1]}"#,
                "not provided",
            ),
            (
                r#"{"format":"tickwatch-model-v1","name":"m","type":"logistic","features":["a"],"weights":[1,2]}"#,
                "2 weights",
            ),
            (
                r#"{"format":"tickwatch-model-v1","name":"m","type":"tree_ensemble","features":["a"],"trees":[{"nodes":[{"feature":0,"threshold":1,"left":0,"right":1},{"value":1}]}]}"#,
                "later nodes",
            ),
            (
                r#"{"format":"tickwatch-model-v1","name":"m","type":"forest","features":[]}"#,
                "unknown model type",
            ),
        ];
        for (json, want) in cases {
            let spec: ModelSpec = serde_json::from_str(json).unwrap();
            let e = Model::new(spec, "f.json", &names())
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{e} should mention {want}");
        }
        let mut s = ModelSet::new();
        let spec: ModelSpec = serde_json::from_str(
            r#"{"format":"tickwatch-model-v1","name":"m","type":"logistic","features":["a"],"weights":[1]}"#,
        )
        .unwrap();
        s.add(Model::new(spec.clone(), "f", &names()).unwrap())
            .unwrap();
        assert!(s.add(Model::new(spec, "f", &names()).unwrap()).is_err());
        assert_eq!(s.index("m"), Some(0));
        assert!(s.score(3, &[1.0]).is_nan());
    }
}
