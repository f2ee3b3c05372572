//! Compilation of parsed rules into per-pattern NFAs (stages with transition tables) and predicate bytecode.

use std::path::Path;
use std::sync::Arc;

use super::error::{Raw, RuleError, Span};
use super::event::{mpid_code, symbol_bytes, Schema, MAX_KINDS};
use super::expr::{max_depth, Agg, Fld, Op, Program, Src, MAX_STACK};
use super::lang::{lex, Contiguity, Expr, Parser, RuleAst, StepHow};
use crate::enrich::{ColumnKind, RefData};
use crate::score::ModelSet;

/// Maximum number of steps (positive and negated) in one pattern.
pub const MAX_STAGES: usize = 16;

/// "No upper bound" for a step's repetitions.
pub(crate) const UNBOUNDED: u16 = u16::MAX;

/// What happens to other partial matches of the same rule and key after a match is emitted
/// (Flink CEP `AfterMatchSkipStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipStrategy {
    /// `no_skip`: every match is emitted; nothing is discarded.
    NoSkip,
    /// `past_last_event`: discard every partial match that started at or before the last event of the match.
    PastLastEvent,
    /// `to_next`: discard every partial match that started at or before the first event of the match.
    ToNext,
}

/// A negated step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Negation {
    /// `not_next`: the event right after the previous bound event must not satisfy the step.
    Next,
    /// `not_followed_by`: no event between the previous bound event and the next bound one (or the end of the
    /// window, at the end of the pattern) may satisfy the step.
    FollowedBy,
}

/// Partition key components (bit set).
pub(crate) const KEY_SYMBOL: u8 = 1;
pub(crate) const KEY_MPID: u8 = 2;
pub(crate) const KEY_ORDER: u8 = 4;

/// One step of a compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct Stage {
    pub name: String,
    /// Leaked once at compile time, for alert evidence roles.
    pub role: &'static str,
    pub neg: Option<Negation>,
    pub kinds: u64,
    pub cond: Option<Program>,
    pub min: u16,
    pub max: u16,
    pub greedy: bool,
    /// Contiguity with the event bound before this step.
    pub contig: Contiguity,
    /// Contiguity between repetitions of this step.
    pub inner: Contiguity,
    /// For positive steps: the positive steps a partial match may wait for once this step has `min` events.
    pub succ: Vec<u8>,
    /// For positive steps: whether the pattern can end once this step has `min` events.
    pub can_end: bool,
}

/// A leading `not_preceded_by` step: the first bound event must not be preceded, in the partition stream and less
/// than `within_ns` earlier, by an event satisfying it.
#[derive(Debug, Clone)]
pub(crate) struct Lookback {
    pub kinds: u64,
    pub cond: Option<Program>,
    pub within_ns: u64,
}

/// A constraint on an event's symbol that a step's condition implies, found at compile time in the condition's
/// top-level `and` chain (`x.locate % M == C`, `x.locate == C`, `x.symbol == "ABC"`, on the step's own event). The
/// engine dispatches events to starts and lookbacks through it; the condition itself is still evaluated in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFilter {
    /// No constraint found.
    Any,
    /// `locate % m == c` (`1 <= m <= MAX_LOCATE_MOD`, `c < m`).
    LocateMod(u16, u16),
    /// `locate == c`.
    Locate(u16),
    /// `symbol == s`.
    Symbol([u8; 8]),
}

/// Largest `M` of an indexed `locate % M == C` constraint.
pub(crate) const MAX_LOCATE_MOD: u16 = 4096;

/// Maximum number of `not_preceded_by` steps of a rule.
pub const MAX_LOOKBACKS: usize = 4;

/// A compiled rule: one pattern, its partitioning, window and skip strategy.
#[derive(Debug, Clone)]
pub struct Rule {
    pub(crate) name: String,
    pub(crate) alert_name: &'static str,
    pub(crate) file: String,
    pub(crate) line: u32,
    pub(crate) key: u8,
    pub(crate) within_ns: u64,
    pub(crate) skip: SkipStrategy,
    pub(crate) input: u64,
    pub(crate) stages: Vec<Stage>,
    /// Positive steps a new match may start with.
    pub(crate) start: Vec<u8>,
    /// Leading `not_preceded_by` steps.
    pub(crate) lookbacks: Vec<Lookback>,
    /// Constraint on the symbol that every event starting a match satisfies (engine's start-step index).
    pub(crate) start_filter: KeyFilter,
    /// Constraint on the symbol that every event satisfying a `not_preceded_by` step satisfies.
    pub(crate) lookback_filter: KeyFilter,
    pub(crate) score: Option<Program>,
    pub(crate) side: Option<Program>,
    pub(crate) having: Option<Program>,
}

impl Rule {
    /// The rule's name (the `detector` of its alerts).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rule's name with `'static` lifetime (leaked once at compile time), for alert records.
    pub fn alert_name(&self) -> &'static str {
        self.alert_name
    }

    /// File the rule was read from and the line of its `rule` keyword.
    pub fn origin(&self) -> (&str, u32) {
        (&self.file, self.line)
    }

    /// The `within` bound in ns.
    pub fn within_ns(&self) -> u64 {
        self.within_ns
    }

    /// The after-match skip strategy.
    pub fn skip(&self) -> SkipStrategy {
        self.skip
    }

    /// Names of the pattern's steps, in order (negated steps included).
    pub fn step_names(&self) -> impl Iterator<Item = &str> {
        self.stages.iter().map(|s| s.name.as_str())
    }

    /// Name of step `i` (`"?"` when out of range).
    pub fn step_name(&self, i: usize) -> &str {
        self.stages.get(i).map_or("?", |s| s.name.as_str())
    }

    /// Step name with `'static` lifetime, for alert evidence roles.
    pub(crate) fn step_role(&self, i: usize) -> &'static str {
        self.stages.get(i).map_or("?", |s| s.role)
    }

    /// Partition key description (`symbol`, `mpid`, `order_ref`, combinations, or `none`).
    pub fn partition(&self) -> String {
        let mut v = Vec::new();
        if self.key & KEY_SYMBOL != 0 {
            v.push("symbol");
        }
        if self.key & KEY_MPID != 0 {
            v.push("mpid");
        }
        if self.key & KEY_ORDER != 0 {
            v.push("order_ref");
        }
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join(",")
        }
    }

    /// Negated steps strictly between positive step `last` (or the start) and `wait` (or the end), as a bit set.
    #[inline]
    pub(crate) fn guards_between(&self, last: Option<u8>, wait: Option<u8>) -> u16 {
        let lo = last.map_or(0, |l| l as usize + 1);
        let hi = wait.map_or(self.stages.len(), |w| w as usize);
        let mut m = 0u16;
        for i in lo..hi.min(self.stages.len()) {
            if self.stages[i].neg.is_some() {
                m |= 1 << i;
            }
        }
        m
    }
}

/// Compile-time inputs besides the rule text: the event schema, the names of the per-symbol feature vector
/// (`feat.NAME`), the reference data (`ref.COLUMN`) and the scoring models (`score`, `score("NAME")`).
#[derive(Debug, Clone)]
pub struct CompileContext {
    /// Event kinds and fields.
    pub schema: Arc<Schema>,
    /// Names of the feature vector that [`super::FeatureSource::features`] returns, by index.
    pub features: Vec<String>,
    /// Reference data, if loaded.
    pub refdata: Option<Arc<RefData>>,
    /// Scoring models (bound to `features`).
    pub models: Arc<ModelSet>,
}

impl CompileContext {
    /// A context with `schema` and no features, reference data or models.
    pub fn new(schema: Arc<Schema>) -> CompileContext {
        CompileContext {
            schema,
            features: Vec::new(),
            refdata: None,
            models: Arc::new(ModelSet::default()),
        }
    }
}

/// A set of compiled rules, ready to build a [`super::Engine`].
#[derive(Debug, Clone)]
pub struct RuleSet {
    pub(crate) ctx: CompileContext,
    pub(crate) rules: Vec<Rule>,
}

impl RuleSet {
    /// An empty set compiled against `ctx`.
    pub fn new(ctx: CompileContext) -> RuleSet {
        RuleSet {
            ctx,
            rules: Vec::new(),
        }
    }

    /// Reads and compiles a rule file, adding its rules. Rule names must be unique across the set.
    pub fn add_file(&mut self, path: impl AsRef<Path>) -> Result<&mut RuleSet, RuleError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| RuleError::Io {
            path: path.to_owned(),
            source,
        })?;
        self.add_str(&path.display().to_string(), &text)
    }

    /// Compiles rules from `text` (`file` names it in errors), adding them to the set.
    pub fn add_str(&mut self, file: &str, text: &str) -> Result<&mut RuleSet, RuleError> {
        let toks = lex(text).map_err(|e| e.into_error(file, None))?;
        let asts = Parser::new(toks)
            .file()
            .map_err(|(e, r)| e.into_error(file, r.as_deref()))?;
        let mut new = Vec::new();
        for ast in &asts {
            let dup = self
                .rules
                .iter()
                .chain(new.iter())
                .find(|r: &&Rule| r.name == ast.name);
            if let Some(d) = dup {
                return Err(Raw::new(
                    ast.span,
                    format!(
                        "duplicate rule name (first defined at {}:{})",
                        d.file, d.line
                    ),
                )
                .into_error(file, Some(&ast.name)));
            }
            let r = compile_rule(ast, file, &self.ctx)
                .map_err(|e| e.into_error(file, Some(&ast.name)))?;
            new.push(r);
        }
        self.rules.extend(new);
        Ok(self)
    }

    /// The compiled rules, in load order (their index is the rule id).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The compile context.
    pub fn context(&self) -> &CompileContext {
        &self.ctx
    }

    /// Whether some rule reads the feature vector (`feat.NAME`, `score`).
    pub fn uses_features(&self) -> bool {
        self.rules.iter().any(|r| {
            let progs = r
                .stages
                .iter()
                .filter_map(|s| s.cond.as_ref())
                .chain(r.lookbacks.iter().filter_map(|l| l.cond.as_ref()))
                .chain([&r.score, &r.side, &r.having].into_iter().flatten());
            progs
                .flat_map(|p| p.ops.iter())
                .any(|op| matches!(op, Op::Feat(_) | Op::Score(_)))
        })
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

fn compile_rule(ast: &RuleAst, file: &str, cx: &CompileContext) -> Result<Rule, Raw> {
    let schema = &cx.schema;
    let Some(pspan) = ast.pattern_span else {
        return Err(Raw::new(ast.span, "missing `pattern { … }`"));
    };
    if ast.steps.is_empty() {
        return Err(Raw::new(pspan, "the pattern has no steps"));
    }
    if ast.steps.len() > MAX_STAGES {
        return Err(Raw::new(
            ast.steps[MAX_STAGES].span,
            format!("a pattern has at most {MAX_STAGES} steps"),
        ));
    }
    let Some((within, _)) = ast.within else {
        return Err(Raw::new(
            ast.span,
            "missing `within DURATION`: every rule needs a time bound so that its partial matches expire",
        ));
    };
    if within < 1.0 {
        return Err(Raw::new(ast.span, "`within` must be positive"));
    }
    let within_ns = within as u64;

    // Partition key.
    let mut key = KEY_SYMBOL;
    if let Some((keys, _)) = &ast.partition {
        key = 0;
        for (k, sp) in keys {
            let bit = match k.as_str() {
                "symbol" | "locate" => KEY_SYMBOL,
                "mpid" => KEY_MPID,
                "order_ref" | "order" => KEY_ORDER,
                "none" if keys.len() == 1 => 0,
                "none" => return Err(Raw::new(*sp, "`none` cannot be combined with other keys")),
                _ => {
                    return Err(Raw::new(
                        *sp,
                        format!(
                        "unknown partition key `{k}` (expected symbol, mpid, order_ref or none)"
                    ),
                    ))
                }
            };
            if key & bit != 0 {
                return Err(Raw::new(*sp, format!("partition key `{k}` given twice")));
            }
            key |= bit;
        }
    }

    let skip = match &ast.skip {
        None => SkipStrategy::NoSkip,
        Some((s, sp)) => match s.as_str() {
            "no_skip" => SkipStrategy::NoSkip,
            "past_last_event" | "skip_past_last_event" => SkipStrategy::PastLastEvent,
            "to_next" | "skip_to_next" => SkipStrategy::ToNext,
            _ => {
                return Err(Raw::new(
                    *sp,
                    format!(
                    "unknown skip strategy `{s}` (expected no_skip, past_last_event or to_next)"
                ),
                ))
            }
        },
    };

    let all_kinds: u64 = if schema.n_kinds() >= MAX_KINDS {
        u64::MAX
    } else {
        (1u64 << schema.n_kinds()) - 1
    };
    let resolve_kind = |name: &str, sp: Span| -> Result<u64, Raw> {
        schema.kind(name).map(|k| 1u64 << k.0).ok_or_else(|| {
            let known: Vec<&str> = schema.kind_names().collect();
            Raw::new(
                sp,
                format!(
                    "unknown event kind `{name}` (known: {}, or `any`)",
                    known.join(", ")
                ),
            )
        })
    };

    // Leading `not_preceded_by` steps become lookbacks; the rest are the NFA's stages.
    let n_lead = ast
        .steps
        .iter()
        .take_while(|s| s.how == StepHow::NotPrecededBy)
        .count();
    let (lead, steps) = ast.steps.split_at(n_lead);
    if steps.is_empty() {
        return Err(Raw::new(pspan, "the pattern has no positive step"));
    }
    if let Some(st) = steps.iter().find(|s| s.how == StepHow::NotPrecededBy) {
        return Err(Raw::new(
            st.span,
            "`not_preceded_by` steps must come before the first positive step",
        ));
    }
    if lead.len() > MAX_LOOKBACKS {
        return Err(Raw::new(
            lead[MAX_LOOKBACKS].span,
            format!("at most {MAX_LOOKBACKS} `not_preceded_by` steps"),
        ));
    }

    // Steps: names, kinds, quantifiers (conditions later, once all names are known).
    let mut names: Vec<&str> = Vec::new();
    for st in lead {
        if names.contains(&st.name.as_str()) {
            return Err(Raw::new(
                st.span,
                format!("duplicate step name `{}`", st.name),
            ));
        }
        names.push(&st.name);
    }
    let mut stages: Vec<Stage> = Vec::new();
    for (i, st) in steps.iter().enumerate() {
        if names.contains(&st.name.as_str()) {
            return Err(Raw::new(
                st.span,
                format!("duplicate step name `{}`", st.name),
            ));
        }
        names.push(&st.name);
        let (neg, contig) = match (i, st.how) {
            (0, StepHow::Begin) => (None, Contiguity::Any),
            (0, _) => {
                return Err(Raw::new(
                    st.span,
                    "the first step starts the pattern: write it as `NAME: KIND …` or `begin NAME: KIND …`",
                ))
            }
            (_, StepHow::Begin) => return Err(Raw::new(st.span, "`begin` can only introduce the first step")),
            (_, StepHow::Next) => (None, Contiguity::Strict),
            (_, StepHow::FollowedBy) => (None, Contiguity::Relaxed),
            (_, StepHow::FollowedByAny) => (None, Contiguity::Any),
            (_, StepHow::NotNext) => (Some(Negation::Next), Contiguity::Strict),
                        (_, StepHow::NotFollowedBy) => (Some(Negation::FollowedBy), Contiguity::Relaxed),
            (_, StepHow::NotPrecededBy) => unreachable!("checked above"),
        };
        let mut kinds = 0u64;
        for (k, sp) in &st.kinds {
            kinds |= resolve_kind(k, *sp)?;
        }
        if st.kinds.is_empty() {
            kinds = all_kinds;
        }
        let q = &st.quant;
        if let Some((_, sp)) = q.within {
            return Err(Raw::new(
                sp,
                "only a `not_preceded_by` step takes its own `within`",
            ));
        }
        let (mut min, mut max) = (1u16, 1u16);
        if let (Some(_), Some(sp)) = (q.times, q.one_or_more) {
            return Err(Raw::new(sp, "`times` and `one_or_more` cannot be combined"));
        }
        if let Some((lo, hi, sp)) = q.times {
            if lo == 0 {
                return Err(Raw::new(
                    sp,
                    "`times` needs at least 1 repetition (add `optional` for zero)",
                ));
            }
            if let Some(h) = hi {
                if h < lo {
                    return Err(Raw::new(
                        sp,
                        format!("`times {lo}..{h}`: the upper bound is below the lower"),
                    ));
                }
                if h >= UNBOUNDED as u32 {
                    return Err(Raw::new(sp, "`times`: at most 65534 repetitions"));
                }
            }
            min = lo as u16;
            max = hi.map_or(UNBOUNDED, |h| h as u16);
        }
        if q.one_or_more.is_some() {
            min = 1;
            max = UNBOUNDED;
        }
        let is_loop = max > 1;
        let variable = max > min;
        if let Some(neg) = neg {
            let what = if neg == Negation::Next {
                "not_next"
            } else {
                "not_followed_by"
            };
            if let Some(sp) = [
                q.times.map(|t| t.2),
                q.one_or_more,
                q.optional,
                q.greedy,
                q.inner.map(|x| x.1),
            ]
            .into_iter()
            .flatten()
            .next()
            {
                return Err(Raw::new(sp, format!("a `{what}` step takes no quantifier")));
            }
            // Flink: a NOT pattern cannot be preceded by an optional one.
            if let Some(prev) = stages.iter().rev().find(|s| s.neg.is_none()) {
                if prev.min == 0 {
                    return Err(Raw::new(
                        st.span,
                        format!(
                            "a `{what}` step cannot follow the optional step `{}`",
                            prev.name
                        ),
                    ));
                }
            }
        }
        if q.optional.is_some() {
            min = 0;
        }
        if let Some(sp) = q.greedy {
            if !variable || !is_loop {
                return Err(Raw::new(
                    sp,
                    "`greedy` needs a repeated step with a variable count (`times N..M`, `times N..`, \
                     `one_or_more`)",
                ));
            }
        }
        let inner = match q.inner {
            Some((c, sp)) => {
                if !is_loop {
                    return Err(Raw::new(
                        sp,
                        "`consecutive` / `allow_combinations` need a repeated step",
                    ));
                }
                c
            }
            None => Contiguity::Relaxed,
        };
        stages.push(Stage {
            name: st.name.clone(),
            role: Box::leak(st.name.clone().into_boxed_str()),
            neg,
            kinds,
            cond: None,
            min,
            max,
            greedy: q.greedy.is_some(),
            contig,
            inner,
            succ: Vec::new(),
            can_end: false,
        });
    }
    if stages.iter().all(|s| s.neg.is_some() || s.min == 0) {
        return Err(Raw::new(
            pspan,
            "every step is optional: a match could be empty",
        ));
    }

    // Input kinds.
    let used: u64 = stages.iter().fold(0, |m, s| m | s.kinds);
    let input = match &ast.events {
        None => used,
        Some((ks, _)) if ks.len() == 1 && ks[0].0 == "all" => all_kinds,
        Some((ks, _)) => {
            let mut m = 0;
            for (k, sp) in ks {
                m |= resolve_kind(k, *sp)?;
            }
            for (s, st) in stages.iter().zip(steps) {
                if s.kinds & !m != 0 {
                    return Err(Raw::new(
                        st.span,
                        format!(
                            "step `{}` uses event kinds that are not in the rule's `events` list",
                            s.name
                        ),
                    ));
                }
            }
            m
        }
    };

    // Transition tables.
    let positive: Vec<usize> = (0..stages.len())
        .filter(|&i| stages[i].neg.is_none())
        .collect();
    let reach = |from: usize| -> (Vec<u8>, bool) {
        let mut v = Vec::new();
        for &j in positive.iter().filter(|&&j| j >= from) {
            v.push(j as u8);
            if stages[j].min > 0 {
                return (v, false);
            }
        }
        (v, true)
    };
    let (start, _) = reach(0);
    let succs: Vec<(Vec<u8>, bool)> = positive.iter().map(|&i| reach(i + 1)).collect();
    for (&i, (succ, can_end)) in positive.iter().zip(succs) {
        stages[i].succ = succ;
        stages[i].can_end = can_end;
    }
    // A trailing negation needs the window to fire; `within` is mandatory so this always holds.

    // Conditions.
    for (i, st) in steps.iter().enumerate() {
        if let Some(c) = &st.cond {
            let p = compile_bool(
                c,
                &ExprCx {
                    cx,
                    stages: &stages,
                    cur: Some(i),
                    lookback: None,
                },
            )
            .map_err(|mut e| {
                e.message = format!("step `{}`: {}", st.name, e.message);
                e
            })?;
            stages[i].cond = Some(p);
        }
    }
    let rcx = ExprCx {
        cx,
        stages: &stages,
        cur: None,
        lookback: None,
    };
    let mut lookbacks = Vec::new();
    for st in lead {
        let q = &st.quant;
        if let Some(sp) = [
            q.times.map(|t| t.2),
            q.one_or_more,
            q.optional,
            q.greedy,
            q.inner.map(|x| x.1),
        ]
        .into_iter()
        .flatten()
        .next()
        {
            return Err(Raw::new(sp, "a `not_preceded_by` step takes no quantifier"));
        }
        let Some((d, _)) = q.within else {
            return Err(Raw::new(
                st.span,
                "a `not_preceded_by` step needs `within DURATION` (how far back it looks)",
            ));
        };
        if d < 1.0 {
            return Err(Raw::new(st.span, "`within` must be positive"));
        }
        let mut kinds = 0u64;
        for (k, sp) in &st.kinds {
            kinds |= resolve_kind(k, *sp)?;
        }
        if st.kinds.is_empty() {
            kinds = all_kinds;
        }
        let cond = st
            .cond
            .as_ref()
            .map(|c| {
                compile_bool(
                    c,
                    &ExprCx {
                        cx,
                        stages: &stages,
                        cur: None,
                        lookback: Some(&st.name),
                    },
                )
            })
            .transpose()
            .map_err(|mut e| {
                e.message = format!("step `{}`: {}", st.name, e.message);
                e
            })?;
        lookbacks.push(Lookback {
            kinds,
            cond,
            within_ns: d as u64,
        });
    }
    let input = input | lookbacks.iter().fold(0, |m, l| m | l.kinds);
    // Symbol constraints of the start steps and of the lookbacks (a union: one constraint only if all agree).
    let union = |fs: &mut dyn Iterator<Item = KeyFilter>| {
        let mut out: Option<KeyFilter> = None;
        for f in fs {
            out = match out {
                None => Some(f),
                Some(g) if g == f => Some(g),
                Some(_) => Some(KeyFilter::Any),
            };
        }
        out.unwrap_or(KeyFilter::Any)
    };
    let start_filter = union(&mut start.iter().map(|&s| {
        let x = ExprCx {
            cx,
            stages: &stages,
            cur: Some(s as usize),
            lookback: None,
        };
        key_filter(steps[s as usize].cond.as_ref(), &x)
    }));
    let lookback_filter = union(&mut lead.iter().map(|st| {
        let x = ExprCx {
            cx,
            stages: &stages,
            cur: None,
            lookback: Some(&st.name),
        };
        key_filter(st.cond.as_ref(), &x)
    }));
    let having = ast
        .having
        .as_ref()
        .map(|e| compile_bool(e, &rcx))
        .transpose()?;
    let score = ast
        .score
        .as_ref()
        .map(|e| compile_num(e, &rcx))
        .transpose()?;
    let side = ast
        .side
        .as_ref()
        .map(|e| compile_num(e, &rcx))
        .transpose()?;

    Ok(Rule {
        name: ast.name.clone(),
        alert_name: Box::leak(ast.name.clone().into_boxed_str()),
        file: file.to_owned(),
        line: ast.span.line,
        key,
        within_ns,
        skip,
        input,
        stages,
        start,
        lookbacks,
        start_filter,
        lookback_filter,
        score,
        side,
        having,
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Num,
    Bool,
    Sym,
    Mpid,
    Kind,
    Text(u16),
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Num => "a number",
            Ty::Bool => "a condition",
            Ty::Sym => "a symbol",
            Ty::Mpid => "an MPID",
            Ty::Kind => "an event kind",
            Ty::Text(_) => "a text column",
        }
    }
}

struct ExprCx<'a> {
    cx: &'a CompileContext,
    stages: &'a [Stage],
    /// The step whose condition is compiled (`None` for rule-level clauses and lookbacks).
    cur: Option<usize>,
    /// The `not_preceded_by` step whose condition is compiled: only its own event can be tested.
    lookback: Option<&'a str>,
}

fn finish(code: Vec<Op>, sp: Span) -> Result<Program, Raw> {
    if max_depth(&code) > MAX_STACK {
        return Err(Raw::new(sp, "expression too deeply nested"));
    }
    Ok(Program { ops: code })
}

fn compile_bool(e: &Expr, x: &ExprCx<'_>) -> Result<Program, Raw> {
    let mut code = Vec::new();
    let t = gen(e, x, &mut code)?;
    if t != Ty::Bool {
        return Err(Raw::new(
            e.span(),
            format!(
                "expected a condition, found {} (compare it with ==, <, …)",
                t.name()
            ),
        ));
    }
    finish(code, e.span())
}

fn compile_num(e: &Expr, x: &ExprCx<'_>) -> Result<Program, Raw> {
    let mut code = Vec::new();
    let t = gen(e, x, &mut code)?;
    if t != Ty::Num {
        return Err(Raw::new(
            e.span(),
            format!("expected a number, found {}", t.name()),
        ));
    }
    finish(code, e.span())
}

/// What a `step.field` path refers to.
enum FieldTarget {
    Event(Src, Fld, Ty, u8),
}

fn step_ref(x: &ExprCx<'_>, name: &str, sp: Span, for_agg: bool) -> Result<u8, Raw> {
    let Some(i) = x.stages.iter().position(|s| s.name == name) else {
        let known: Vec<&str> = x.stages.iter().map(|s| s.name.as_str()).collect();
        return Err(Raw::new(
            sp,
            format!("unknown step `{name}` (steps: {})", known.join(", ")),
        ));
    };
    let s = &x.stages[i];
    if let Some(cur) = x.cur {
        if i > cur {
            return Err(Raw::new(
                sp,
                format!("step `{name}` comes later in the pattern and is not bound yet here"),
            ));
        }
        if s.neg.is_some() && (i != cur || for_agg) {
            return Err(Raw::new(
                sp,
                format!("`{name}` is a negated step: it binds no event"),
            ));
        }
    } else if s.neg.is_some() {
        return Err(Raw::new(
            sp,
            format!("`{name}` is a negated step: it binds no event"),
        ));
    }
    Ok(i as u8)
}

fn event_field(
    x: &ExprCx<'_>,
    step: &str,
    field: &str,
    sp: Span,
    for_agg: bool,
) -> Result<FieldTarget, Raw> {
    let (i, src) = match x.lookback {
        Some(own) if own == step && !for_agg => (0, Src::Cand),
        Some(_) => {
            return Err(Raw::new(
                sp,
                "a `not_preceded_by` step can only test its own event's fields (nothing is bound before it)",
            ))
        }
        None => {
            let i = step_ref(x, step, sp, for_agg)?;
            let src = if x.cur == Some(i as usize) && !for_agg { Src::Cand } else { Src::Last(i) };
            (i, src)
        }
    };
    let (fld, ty) = match field {
        "ts" | "ts_ns" => (Fld::Ts, Ty::Num),
        "seq" => (Fld::Seq, Ty::Num),
        "locate" | "stock_locate" => (Fld::Locate, Ty::Num),
        "order_ref" => (Fld::OrderRef, Ty::Num),
        "kind" => (Fld::Kind, Ty::Kind),
        "mpid" => (Fld::Mpid, Ty::Mpid),
        "symbol" => (Fld::Locate, Ty::Sym),
        _ => match x.cx.schema.field(field) {
            Some(f) => (Fld::Val(f.0), Ty::Num),
            None => {
                let mut known: Vec<&str> =
                    vec!["ts", "seq", "locate", "order_ref", "kind", "mpid", "symbol"];
                known.extend(x.cx.schema.field_names());
                return Err(Raw::new(
                    sp,
                    format!("unknown field `{field}` (fields: {})", known.join(", ")),
                ));
            }
        },
    };
    Ok(FieldTarget::Event(src, fld, ty, i))
}

/// The symbol constraint implied by condition `e` (see [`KeyFilter`]): the first one found in its top-level `and`
/// chain. Sound because `A and B` is true only if both are.
fn key_filter(e: Option<&Expr>, x: &ExprCx<'_>) -> KeyFilter {
    match e {
        Some(Expr::Binary("and", l, r, _)) => match key_filter(Some(l), x) {
            KeyFilter::Any => key_filter(Some(r), x),
            f => f,
        },
        Some(Expr::Binary("==", l, r, _)) => eq_filter(l, r, x)
            .or_else(|| eq_filter(r, l, x))
            .unwrap_or(KeyFilter::Any),
        _ => KeyFilter::Any,
    }
}

/// `(field, type)` of `e` if it is a field of the event under test.
fn cand_field(e: &Expr, x: &ExprCx<'_>) -> Option<(Fld, Ty)> {
    let (a, f, sp) = path2(e)?;
    match event_field(x, a, f, sp, false) {
        Ok(FieldTarget::Event(Src::Cand, fld, ty, _)) => Some((fld, ty)),
        _ => None,
    }
}

fn eq_filter(l: &Expr, r: &Expr, x: &ExprCx<'_>) -> Option<KeyFilter> {
    let small_int =
        |v: f64, below: f64| (v >= 0.0 && v < below && v.fract() == 0.0).then_some(v as u16);
    match r {
        Expr::Num(c, _) => {
            if cand_field(l, x) == Some((Fld::Locate, Ty::Num)) {
                return small_int(*c, 65536.0).map(KeyFilter::Locate);
            }
            if let Expr::Binary("%", a, m, _) = l {
                if let (Some((Fld::Locate, Ty::Num)), Expr::Num(m, _)) = (cand_field(a, x), &**m) {
                    let m = small_int(*m, MAX_LOCATE_MOD as f64 + 1.0).filter(|&m| m >= 1)?;
                    let c = small_int(*c, m as f64)?;
                    return Some(KeyFilter::LocateMod(m, c));
                }
            }
            None
        }
        Expr::Str(s, _) if s.len() <= 8 => {
            (cand_field(l, x)?.1 == Ty::Sym).then(|| KeyFilter::Symbol(symbol_bytes(s)))
        }
        _ => None,
    }
}

fn path2(e: &Expr) -> Option<(&str, &str, Span)> {
    match e {
        Expr::Path(p, sp) if p.len() == 2 => Some((&p[0], &p[1], *sp)),
        _ => None,
    }
}

fn gen(e: &Expr, x: &ExprCx<'_>, code: &mut Vec<Op>) -> Result<Ty, Raw> {
    match e {
        Expr::Num(v, _) => {
            code.push(Op::Const(*v));
            Ok(Ty::Num)
        }
        Expr::Str(s, sp) => Err(Raw::new(
            *sp,
            format!("a string (\"{s}\") can only be compared with ==/!= to a symbol, MPID or text column"),
        )),
        Expr::Path(p, sp) => gen_path(p, *sp, x, code),
        Expr::Unary(op, inner, sp) => {
            let t = gen(inner, x, code)?;
            match *op {
                "not" => {
                    if t != Ty::Bool {
                        return Err(Raw::new(*sp, format!("`not` needs a condition, found {}", t.name())));
                    }
                    code.push(Op::Not);
                    Ok(Ty::Bool)
                }
                _ => {
                    if t != Ty::Num {
                        return Err(Raw::new(*sp, format!("`-` needs a number, found {}", t.name())));
                    }
                    code.push(Op::Neg);
                    Ok(Ty::Num)
                }
            }
        }
        Expr::Binary(op, l, r, sp) => gen_binary(op, l, r, *sp, x, code),
        Expr::Call(name, args, sp) => gen_call(name, args, *sp, x, code),
    }
}

fn gen_path(p: &[String], sp: Span, x: &ExprCx<'_>, code: &mut Vec<Op>) -> Result<Ty, Raw> {
    if p.len() == 1 {
        let w = p[0].as_str();
        return match w {
            "buy" => {
                code.push(Op::Const(1.0));
                Ok(Ty::Num)
            }
            "sell" => {
                code.push(Op::Const(-1.0));
                Ok(Ty::Num)
            }
            "true" | "false" => {
                code.push(Op::Const(if w == "true" { 1.0 } else { 0.0 }));
                Ok(Ty::Bool)
            }
            "score" => gen_score(None, sp, x, code),
            _ if x.stages.iter().any(|s| s.name == w) => Err(Raw::new(
                sp,
                format!(
                    "`{w}` is a step: use a field (`{w}.price`) or an aggregate (`count({w})`)"
                ),
            )),
            _ => Err(Raw::new(sp, format!("unknown name `{w}`"))),
        };
    }
    if p.len() != 2 {
        return Err(Raw::new(
            sp,
            format!(
                "`{}`: expected STEP.FIELD, ref.COLUMN or feat.NAME",
                p.join(".")
            ),
        ));
    }
    let (a, f) = (p[0].as_str(), p[1].as_str());
    match a {
        "ref" => {
            let Some(rd) = &x.cx.refdata else {
                return Err(Raw::new(
                    sp,
                    format!("`ref.{f}` used but no reference data is loaded"),
                ));
            };
            match rd.column(f) {
                Some((col, ColumnKind::Number)) => {
                    code.push(Op::Ref(col as u16));
                    Ok(Ty::Num)
                }
                Some((col, ColumnKind::Text)) => {
                    code.push(Op::RefText(col as u16));
                    Ok(Ty::Text(col as u16))
                }
                None => Err(Raw::new(
                    sp,
                    format!(
                        "unknown reference-data column `{f}` (columns: {})",
                        rd.column_names().collect::<Vec<_>>().join(", ")
                    ),
                )),
            }
        }
        "feat" => match x.cx.features.iter().position(|n| n == f) {
            Some(i) => {
                code.push(Op::Feat(i as u16));
                Ok(Ty::Num)
            }
            None => Err(Raw::new(
                sp,
                format!(
                    "unknown feature `{f}` (features: {})",
                    if x.cx.features.is_empty() {
                        "none available".to_owned()
                    } else {
                        x.cx.features.join(", ")
                    }
                ),
            )),
        },
        _ => {
            let FieldTarget::Event(src, fld, ty, _) = event_field(x, a, f, sp, false)?;
            code.push(Op::Load(src, fld));
            Ok(ty)
        }
    }
}

fn gen_score(name: Option<&str>, sp: Span, x: &ExprCx<'_>, code: &mut Vec<Op>) -> Result<Ty, Raw> {
    let m = &x.cx.models;
    let idx = match name {
        None if m.is_empty() => return Err(Raw::new(sp, "`score` used but no model is loaded")),
        None => 0,
        Some(n) => m.index(n).ok_or_else(|| {
            Raw::new(
                sp,
                format!(
                    "unknown model `{n}` (models: {})",
                    m.names().collect::<Vec<_>>().join(", ")
                ),
            )
        })?,
    };
    code.push(Op::Score(idx as u16));
    Ok(Ty::Num)
}

fn gen_str_cmp(
    other: &Expr,
    lit: &str,
    eq: bool,
    sp: Span,
    x: &ExprCx<'_>,
    code: &mut Vec<Op>,
) -> Result<Ty, Raw> {
    let Some((a, f, psp)) = path2(other) else {
        return Err(Raw::new(
            sp,
            "a string can only be compared with STEP.symbol, STEP.mpid or ref.COLUMN",
        ));
    };
    if a == "ref" {
        let Some(rd) = &x.cx.refdata else {
            return Err(Raw::new(
                psp,
                format!("`ref.{f}` used but no reference data is loaded"),
            ));
        };
        match rd.column(f) {
            Some((col, ColumnKind::Text)) => {
                code.push(Op::RefTextEq(
                    col as u16,
                    rd.text_lookup(lit).unwrap_or(u32::MAX),
                ));
            }
            Some((_, ColumnKind::Number)) => {
                return Err(Raw::new(
                    psp,
                    format!("`ref.{f}` is numeric; compare it with a number"),
                ))
            }
            None => {
                return Err(Raw::new(
                    psp,
                    format!("unknown reference-data column `{f}`"),
                ))
            }
        }
    } else {
        let FieldTarget::Event(src, fld, ty, _) = event_field(x, a, f, psp, false)?;
        match ty {
            Ty::Sym => {
                if lit.len() > 8 {
                    return Err(Raw::new(
                        sp,
                        format!("symbol \"{lit}\" is longer than 8 characters"),
                    ));
                }
                code.push(Op::SymEq(src, symbol_bytes(lit)));
            }
            Ty::Kind => {
                let Some(k) = x.cx.schema.kind(lit) else {
                    let known: Vec<&str> = x.cx.schema.kind_names().collect();
                    return Err(Raw::new(
                        sp,
                        format!("unknown event kind \"{lit}\" (known: {})", known.join(", ")),
                    ));
                };
                code.push(Op::Load(src, fld));
                code.push(Op::Const(k.0 as f64));
                code.push(Op::Eq);
            }
            Ty::Mpid => {
                if lit.len() > 4 {
                    return Err(Raw::new(
                        sp,
                        format!("MPID \"{lit}\" is longer than 4 characters"),
                    ));
                }
                code.push(Op::Load(src, fld));
                code.push(Op::Const(mpid_code(lit.as_bytes()) as f64));
                code.push(Op::Eq);
            }
            _ => {
                return Err(Raw::new(
                    sp,
                    format!(
                        "`{a}.{f}` is {}; it cannot be compared with a string",
                        ty.name()
                    ),
                ))
            }
        }
    }
    if !eq {
        code.push(Op::Not);
    }
    Ok(Ty::Bool)
}

fn gen_binary(
    op: &str,
    l: &Expr,
    r: &Expr,
    sp: Span,
    x: &ExprCx<'_>,
    code: &mut Vec<Op>,
) -> Result<Ty, Raw> {
    match op {
        "and" | "or" => {
            let lt = gen(l, x, code)?;
            if lt != Ty::Bool {
                return Err(Raw::new(
                    l.span(),
                    format!("`{op}` needs conditions, found {}", lt.name()),
                ));
            }
            let j = code.len();
            code.push(if op == "and" {
                Op::JumpIfFalse(0)
            } else {
                Op::JumpIfTrue(0)
            });
            let rt = gen(r, x, code)?;
            if rt != Ty::Bool {
                return Err(Raw::new(
                    r.span(),
                    format!("`{op}` needs conditions, found {}", rt.name()),
                ));
            }
            code.push(Op::Truth);
            let target = code.len() as u16;
            code[j] = if op == "and" {
                Op::JumpIfFalse(target)
            } else {
                Op::JumpIfTrue(target)
            };
            Ok(Ty::Bool)
        }
        "in" => {
            let lt = gen(l, x, code)?;
            let Some((a, f, psp)) = path2(r) else {
                return Err(Raw::new(
                    r.span(),
                    "`in` needs STEP.FIELD on its right (the events bound to a step)",
                ));
            };
            let FieldTarget::Event(_, fld, ty, st) = event_field(x, a, f, psp, true)?;
            if lt != ty {
                return Err(Raw::new(
                    sp,
                    format!("`in` compares {} with {}", lt.name(), ty.name()),
                ));
            }
            if ty == Ty::Bool || matches!(ty, Ty::Text(_)) {
                return Err(Raw::new(sp, "`in` needs numbers, symbols or MPIDs"));
            }
            code.push(Op::In(st, fld));
            Ok(Ty::Bool)
        }
        "==" | "!=" | "<" | "<=" | ">" | ">=" => {
            let eqop = op == "==" || op == "!=";
            if eqop {
                if let Expr::Str(s, _) = r {
                    return gen_str_cmp(l, s, op == "==", sp, x, code);
                }
                if let Expr::Str(s, _) = l {
                    return gen_str_cmp(r, s, op == "==", sp, x, code);
                }
            }
            let lt = gen(l, x, code)?;
            let rt = gen(r, x, code)?;
            let ok = if eqop {
                lt == rt || matches!((lt, rt), (Ty::Text(_), Ty::Text(_)))
            } else {
                lt == Ty::Num && rt == Ty::Num
            };
            if !ok {
                return Err(Raw::new(
                    sp,
                    format!("`{op}` cannot compare {} with {}", lt.name(), rt.name()),
                ));
            }
            code.push(match op {
                "==" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                _ => Op::Ge,
            });
            Ok(Ty::Bool)
        }
        _ => {
            let lt = gen(l, x, code)?;
            let rt = gen(r, x, code)?;
            if lt != Ty::Num || rt != Ty::Num {
                return Err(Raw::new(
                    sp,
                    format!(
                        "`{op}` needs numbers, found {} and {}",
                        lt.name(),
                        rt.name()
                    ),
                ));
            }
            code.push(match op {
                "+" => Op::Add,
                "-" => Op::Sub,
                "*" => Op::Mul,
                "/" => Op::Div,
                _ => Op::Rem,
            });
            Ok(Ty::Num)
        }
    }
}

fn gen_call(
    name: &str,
    args: &[Expr],
    sp: Span,
    x: &ExprCx<'_>,
    code: &mut Vec<Op>,
) -> Result<Ty, Raw> {
    let argc = |n: usize| -> Result<(), Raw> {
        if args.len() != n {
            Err(Raw::new(
                sp,
                format!("`{name}` takes {n} argument(s), got {}", args.len()),
            ))
        } else {
            Ok(())
        }
    };
    let agg = |a: Agg, code: &mut Vec<Op>| -> Result<Ty, Raw> {
        argc(1)?;
        let Some((s, f, psp)) = path2(&args[0]) else {
            return Err(Raw::new(
                args[0].span(),
                format!("`{name}` needs STEP.FIELD (e.g. `{name}(a.qty)`)"),
            ));
        };
        let FieldTarget::Event(_, fld, ty, st) = event_field(x, s, f, psp, true)?;
        // first/last keep the field's type (symbols compare as locates, MPIDs as codes); distinct counts any
        // comparable field; the others need numbers.
        let keeps_type = matches!(a, Agg::First | Agg::Last) && matches!(ty, Ty::Sym | Ty::Mpid);
        let counts = a == Agg::Distinct && matches!(ty, Ty::Sym | Ty::Mpid);
        if ty != Ty::Num && !keeps_type && !counts {
            return Err(Raw::new(
                psp,
                format!("`{name}` needs a numeric field, `{s}.{f}` is {}", ty.name()),
            ));
        }
        code.push(Op::Agg(a, st, fld));
        Ok(if keeps_type { ty } else { Ty::Num })
    };
    match name {
        "count" => {
            argc(1)?;
            let Expr::Path(p, psp) = &args[0] else {
                return Err(Raw::new(sp, "`count` needs a step name (e.g. `count(a)`)"));
            };
            if p.len() != 1 {
                return Err(Raw::new(*psp, "`count` needs a step name (e.g. `count(a)`)"));
            }
            let st = step_ref(x, &p[0], *psp, true)?;
            code.push(Op::Agg(Agg::Count, st, Fld::Ts));
            Ok(Ty::Num)
        }
        "sum" => agg(Agg::Sum, code),
        "avg" => agg(Agg::Avg, code),
        "first" => agg(Agg::First, code),
        "last" => agg(Agg::Last, code),
        "distinct" => agg(Agg::Distinct, code),
        "min" | "max" if args.len() == 1 => agg(if name == "min" { Agg::Min } else { Agg::Max }, code),
        "min" | "max" | "coalesce" | "bps" => {
            argc(2)?;
            for a in args {
                let t = gen(a, x, code)?;
                if t != Ty::Num {
                    return Err(Raw::new(a.span(), format!("`{name}` needs numbers, found {}", t.name())));
                }
            }
            code.push(match name {
                "min" => Op::Min,
                "max" => Op::Max,
                "coalesce" => Op::Coalesce,
                _ => Op::Bps,
            });
            Ok(Ty::Num)
        }
        "abs" | "missing" => {
            argc(1)?;
            let t = gen(&args[0], x, code)?;
            if t != Ty::Num {
                return Err(Raw::new(args[0].span(), format!("`{name}` needs a number, found {}", t.name())));
            }
            if name == "abs" {
                code.push(Op::Abs);
                Ok(Ty::Num)
            } else {
                code.push(Op::IsNan);
                Ok(Ty::Bool)
            }
        }
        "score" => {
            if args.is_empty() {
                return gen_score(None, sp, x, code);
            }
            argc(1)?;
            let Expr::Str(m, _) = &args[0] else {
                return Err(Raw::new(sp, "`score` takes a model name in quotes, e.g. `score(\"layering\")`"));
            };
            gen_score(Some(m), sp, x, code)
        }
        _ => Err(Raw::new(
            sp,
            format!(
                "unknown function `{name}` (functions: count, sum, avg, min, max, first, last, distinct, abs, \
                 coalesce, bps, missing, score)"
            ),
        )),
    }
}
