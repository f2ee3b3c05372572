//! [`CepStage`]: the CEP engine as the runtime's detect thread uses it — rule files, reference data and models
//! loaded from a [`CepConfig`], book events in, [`Alert`]s out.

use std::path::PathBuf;
use std::sync::Arc;

use book::BookEvent;
use serde::Deserialize;

use super::features::{feature_names, FeatureTable};
use super::pipeline::{from_book, schema, to_alert};
use super::{CompileContext, Engine, EngineConfig, EngineStats, RuleError, RuleSet};
use crate::alert::Alert;
use crate::enrich::{RefData, RefDataError};
use crate::features::FeatureSnapshot;
use crate::score::{ModelError, ModelSet};

/// What to load: the `[cep]` section of a runtime configuration (TOML), or `--rules`/`--ref-data`/`--model` flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CepConfig {
    /// Rule files (`.cep`), compiled in order; rule names must be unique across them.
    pub rules: Vec<PathBuf>,
    /// Reference-data CSV (`ref.COLUMN` in rules), if any.
    pub ref_data: Option<PathBuf>,
    /// Model files (`score`, `score("NAME")` in rules); the first is the default model.
    pub models: Vec<PathBuf>,
    /// Total partial matches (default [`EngineConfig::default`]).
    pub max_runs: Option<usize>,
    /// Partial matches per rule and key.
    pub max_runs_per_key: Option<usize>,
}

/// The CEP stage could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CepLoadError {
    /// A rule file is unreadable or invalid.
    #[error(transparent)]
    Rules(#[from] RuleError),
    /// The reference data is unreadable or invalid.
    #[error(transparent)]
    RefData(#[from] RefDataError),
    /// A model file is unreadable or invalid.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// The CEP engine over book events: adapts each `BookEvent`, keeps the per-symbol feature vector rules read, and
/// turns matches into alert records.
///
/// Typical use on the detect thread, after the built-in detectors have seen the event (when
/// `cep.needs_features()`, call `detectors.keep_sliding_features()` once before the first event):
/// ```ignore
/// let snap = if cep.needs_features() { detectors.features(ev.book) } else { None };
/// cep.on_event(&ev, snap.as_ref(), &mut |a: &Alert| ring.push(*a));
/// ```
/// Allocation: none per event in steady state (see [`super`]); a symbol's feature state is allocated when the
/// symbol is first seen.
#[derive(Debug)]
pub struct CepStage {
    engine: Engine,
    table: FeatureTable,
    needs_features: bool,
}

impl CepStage {
    /// Loads reference data, models and rule files as `cfg` says and builds the engine.
    pub fn load(cfg: &CepConfig) -> Result<CepStage, CepLoadError> {
        let names = feature_names();
        let mut ctx = CompileContext::new(Arc::new(schema()));
        if let Some(p) = &cfg.ref_data {
            ctx.refdata = Some(Arc::new(RefData::load(p)?));
        }
        ctx.models = Arc::new(ModelSet::load(&cfg.models, &names)?);
        ctx.features = names;
        let mut rules = RuleSet::new(ctx);
        for f in &cfg.rules {
            rules.add_file(f)?;
        }
        let d = EngineConfig::default();
        let ecfg = EngineConfig {
            max_runs: cfg.max_runs.unwrap_or(d.max_runs),
            max_runs_per_key: cfg.max_runs_per_key.unwrap_or(d.max_runs_per_key),
            ..d
        };
        Ok(CepStage::new(rules, ecfg))
    }

    /// A stage over already compiled rules (compiled against [`schema`] and [`feature_names`]).
    pub fn new(rules: RuleSet, cfg: EngineConfig) -> CepStage {
        let needs_features = rules.uses_features();
        CepStage {
            engine: Engine::new(rules, cfg),
            table: FeatureTable::new(),
            needs_features,
        }
    }

    /// Whether some rule reads `feat.*` or `score`: only then does [`on_event`](Self::on_event) need the detect
    /// stage's feature snapshot.
    pub fn needs_features(&self) -> bool {
        self.needs_features
    }

    /// Processes one book event. `snapshot` is the detect stage's feature snapshot of the event's symbol taken
    /// after the event (ignored when `None`). Each completed match is handed to `out` as an [`Alert`].
    #[inline]
    pub fn on_event(
        &mut self,
        ev: &BookEvent,
        snapshot: Option<&FeatureSnapshot>,
        out: &mut (impl FnMut(&Alert) + ?Sized),
    ) {
        if self.needs_features {
            self.table.update(ev, snapshot);
        }
        let cev = from_book(ev);
        self.engine
            .on_event(&cev, &self.table, |m| out(&to_alert(m)));
    }

    /// Moves event time forward without an event (idle feed): fires due timers.
    pub fn advance_to(&mut self, ts_ns: u64, out: &mut (impl FnMut(&Alert) + ?Sized)) {
        let seq = 0;
        self.engine
            .advance_to(ts_ns, seq, &self.table, |m| out(&to_alert(m)));
    }

    /// End of input: fires every pending timer.
    pub fn finish(&mut self, out: &mut (impl FnMut(&Alert) + ?Sized)) {
        self.engine.finish(&self.table, |m| out(&to_alert(m)));
    }

    /// Pre-allocates the feature state of a symbol (call at its directory message).
    pub fn reserve_symbol(&mut self, locate: u16) {
        if self.needs_features {
            self.table.reserve(locate);
        }
    }

    /// Engine counters and state size.
    pub fn stats(&self) -> EngineStats {
        self.engine.stats()
    }

    /// The engine (rules, watermark).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}
