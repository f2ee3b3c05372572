//! Complex event processing: named patterns from rule files, compiled at start-up into one NFA per pattern and run
//! over the event stream with Flink CEP semantics, in event time.
//!
//! # Using it
//! ```
//! use std::sync::Arc;
//! use detect::cep::{pipeline, CompileContext, Engine, EngineConfig, RuleSet};
//!
//! let ctx = CompileContext::new(Arc::new(pipeline::schema()));
//! let mut rules = RuleSet::new(ctx);
//! rules
//!     .add_str(
//!         "example.cep",
//!         r#"
//! rule add_then_delete {
//!   partition by order_ref
//!   within 1s
//!   pattern {
//!     a: add where a.qty >= 1000
//!     followed_by d: delete
//!   }
//! }"#,
//!     )
//!     .expect("valid rules");
//! let mut engine = Engine::new(rules, EngineConfig::small());
//!
//! // Book events from the book stage, adapted to the engine's event view.
//! let mut add = book::BookEvent::EMPTY;
//! add.kind = book::EventKind::Add;
//! add.ts_ns = 1_000;
//! add.order_ref = 7;
//! add.qty = 5_000;
//! let mut del = add;
//! del.kind = book::EventKind::Delete;
//! del.ts_ns = 2_000;
//! let mut names = Vec::new();
//! for ev in [add, del] {
//!     engine.on_event(&pipeline::from_book(&ev), &(), |m| names.push(m.rule().name().to_owned()));
//! }
//! assert_eq!(names, ["add_then_delete"]);
//! ```
//! [`pipeline::from_book`] turns each `book::BookEvent` into a [`CepEvent`].
//!
//! # The rule language
//! A rule file holds `rule NAME { … }` blocks (full reference with examples: `detect/docs/cep.md`):
//! ```text
//! rule layering_like {
//!   partition by symbol, mpid          # symbol | mpid | order_ref (combinable) | none
//!   within 5s                          # mandatory: the whole match lies in [first event, first + 5 s)
//!   skip past_last_event               # no_skip (default) | past_last_event | to_next
//!   pattern {
//!     a: add where a.qty >= 2 * feat.median_size and a.price not in a.price times 3.. greedy
//!     followed_by e: execute where e.side != a.side
//!     not_followed_by x: add where x.side == a.side
//!     followed_by c: cancel | delete where c.order_ref in a.order_ref one_or_more
//!   }
//!   having sum(c.qty) >= 0.8 * sum(a.qty)
//!   score sum(c.qty) / sum(a.qty)
//!   side first(a.side)
//! }
//! ```
//! Steps: `next` (strict), `followed_by` (relaxed), `followed_by_any` (non-deterministic relaxed), `not_next`,
//! `not_followed_by`; quantifiers `times N`, `times N..M`, `times N..`, `one_or_more`, `optional`, `greedy`,
//! and for loops `consecutive` / `allow_combinations`.
//!
//! # Semantics (what the engine guarantees, and what the reference matcher in the tests checks)
//! A match binds each positive step to a run of events (between its minimum and maximum count) at strictly
//! increasing positions of the rule's **partition stream** — the events of the rule's input kinds (the kinds its
//! steps use, or its `events` list) with the same key — such that every bound event satisfies its step's condition
//! evaluated with the events bound before it, and:
//! - *contiguity* of a bound event with the event bound just before it (the previous repetition for loops, else the
//!   last event of the match so far): **strict** = the very next event of the partition stream; **relaxed** = no
//!   event in between satisfies the step; **any** = no constraint;
//! - `not_next x`: the event right after the last event bound before `x` does not satisfy `x`;
//!   `not_followed_by x`: no event strictly between that event and the next bound event satisfies `x` — at the end
//!   of a pattern, no such event before the window ends, and the match is emitted when the window ends (event-time
//!   timer);
//! - `greedy` loop left with fewer than its maximum: the event right after its last event does not satisfy the loop
//!   (at the end of a pattern this defers the match to the next event or the window end, like `not_next`);
//! - `within W`: every bound event is earlier than the first one + W; a timer ends the window when a later event
//!   (or [`Engine::advance_to`]) moves event time to or past it;
//! - `having` holds on the complete match.
//!
//! Matches that complete on the same event are ordered by first position, then by their bound positions. With a
//! skip strategy, each emitted match discards the partial (and completed-but-not-yet-emitted) matches of the same
//! rule and key whose first event is at or before the match's last event (`past_last_event`) or first event
//! (`to_next`).
//!
//! In step conditions, `s.f` is the candidate event's field when `s` is the step being tested, otherwise the last
//! event bound to `s`; aggregates (`count`, `sum`, `avg`, `min`, `max`, `first`, `last`, `distinct`, `in`) range
//! over the events already bound to a step (not the candidate). Missing values are `NaN`: every comparison with them
//! is false.
//!
//! # Contract
//! - **Threads**: an [`Engine`] is `Send`, used by one thread (the detect stage). Nothing blocks or locks.
//! - **Allocation**: compiling rules and building the engine allocate. [`Engine::on_event`] does not allocate in
//!   steady state: partial matches, bound events and partitions live in pools reserved at construction
//!   ([`EngineConfig`]); when a pool or cap is exhausted the new partial match is dropped and counted in
//!   [`EngineStats`], never a panic. Emitting a match hands a borrowed [`Match`] to the sink; what the sink does
//!   (e.g. building JSON) is its business.
//! - **Time**: event time only (`CepEvent::ts_ns`, the feed's timestamps), so replays are deterministic.
//! - **State**: bounded by the caps; a partition (rule × key) is purged at the first timer after its last partial
//!   match expired. [`Engine::stats`] reports live and reserved bytes.

mod compile;
mod engine;
mod error;
pub mod event;
mod expr;
pub mod features;
mod lang;
mod map;
pub mod pipeline;
mod stage;

pub use compile::{CompileContext, Rule, RuleSet, SkipStrategy, MAX_STAGES};
pub use engine::{Engine, EngineConfig, EngineStats, Match, PartitionKey, MAX_MATCH_LEN};
pub use error::{RuleError, Span};
pub use event::{CepEvent, FieldId, KindId, Schema, SchemaBuilder, MAX_FIELDS, MAX_KINDS};
pub use lang::Contiguity;
pub use stage::{CepConfig, CepLoadError, CepStage};

/// Per-symbol feature vectors (the windowed features of the detect stage), read by `feat.NAME` and `score`.
///
/// The vector's layout is given by the names in [`CompileContext::features`].
pub trait FeatureSource {
    /// The current feature vector of the symbol with this locate, or `None` when the symbol has none yet.
    fn features(&self, locate: u16) -> Option<&[f64]>;
}

/// No features: every `feat.NAME` is missing.
impl FeatureSource for () {
    fn features(&self, _locate: u16) -> Option<&[f64]> {
        None
    }
}

/// A fixed table of feature vectors indexed by locate (tests, offline tools).
impl FeatureSource for [Vec<f64>] {
    fn features(&self, locate: u16) -> Option<&[f64]> {
        self.get(locate as usize)
            .map(|v| v.as_slice())
            .filter(|v| !v.is_empty())
    }
}

impl FeatureSource for Vec<Vec<f64>> {
    fn features(&self, locate: u16) -> Option<&[f64]> {
        self.as_slice().features(locate)
    }
}
