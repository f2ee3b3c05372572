//! Property test: for random patterns and random event streams, the NFA engine emits exactly the matches of a naive
//! reference matcher, in the same order per (rule, key).
//!
//! The reference matcher is written from the declarative semantics in `detect::cep`'s docs, independently of the
//! engine: it enumerates every candidate binding of events to steps by depth-first search, checks each constraint
//! directly on the stream (contiguity, negations, greedy, within, conditions evaluated by plain Rust closures, not by
//! the engine's bytecode), computes when each match completes, sorts, and applies the skip strategy.

use std::collections::BTreeMap;
use std::sync::Arc;

use detect::cep::{
    CepEvent, CompileContext, Engine, EngineConfig, FieldId, KindId, RuleSet, Schema,
};
use proptest::prelude::*;

const KINDS: [&str; 4] = ["A", "B", "C", "D"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contig {
    Strict,
    Relaxed,
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Neg {
    Next,
    FollowedBy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cond {
    True,
    /// `s.x >= c`
    XGe(i32),
    /// `s.x > t.x` (t an earlier positive step)
    XGt(usize),
    /// `s.x == t.x`
    XEq(usize),
    /// `count(s) < c` (own step)
    CountLt(u32),
    /// `s.x not in s.x` (own step)
    NotInOwn,
}

#[derive(Debug, Clone)]
struct Step {
    neg: Option<Neg>,
    contig: Contig,
    kinds: u8,
    cond: Cond,
    min: u16,
    max: u16,
    greedy: bool,
    inner: Contig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    No,
    PastLast,
    ToNext,
}

#[derive(Debug, Clone)]
struct Pat {
    steps: Vec<Step>,
    within: u64,
    skip: Skip,
    by_key: bool,
    /// `having sum(s.x) >= c`
    having: Option<(usize, i32)>,
    /// `not_preceded_by p: KINDS where p.x >= c within W ms` before the first step: (kinds, c, W).
    lookback: Option<(u8, i32, u64)>,
}

const UNB: u16 = u16::MAX;

impl Pat {
    fn input(&self) -> u8 {
        self.steps.iter().fold(0, |m, s| m | s.kinds) | self.lookback.map_or(0, |l| l.0)
    }

    fn render(&self) -> String {
        let name = |i: usize| format!("s{i}");
        let mut out = String::from("rule r {\n");
        out += &format!(
            "  partition by {}\n",
            if self.by_key { "symbol" } else { "none" }
        );
        out += &format!("  within {}ms\n", self.within);
        out += match self.skip {
            Skip::No => "  skip no_skip\n",
            Skip::PastLast => "  skip past_last_event\n",
            Skip::ToNext => "  skip to_next\n",
        };
        out += "  pattern {\n";
        if let Some((k, c, w)) = self.lookback {
            let kinds: Vec<&str> = (0..4)
                .filter(|i| k & (1 << i) != 0)
                .map(|i| KINDS[i])
                .collect();
            out += &format!(
                "    not_preceded_by p: {} where p.x >= {c} within {w}ms\n",
                kinds.join(" | ")
            );
        }
        for (i, s) in self.steps.iter().enumerate() {
            let how = match (i, s.neg, s.contig) {
                (0, _, _) => "begin",
                (_, Some(Neg::Next), _) => "not_next",
                (_, Some(Neg::FollowedBy), _) => "not_followed_by",
                (_, None, Contig::Strict) => "next",
                (_, None, Contig::Relaxed) => "followed_by",
                (_, None, Contig::Any) => "followed_by_any",
            };
            let kinds: Vec<&str> = (0..4)
                .filter(|k| s.kinds & (1 << k) != 0)
                .map(|k| KINDS[k])
                .collect();
            let me = name(i);
            let cond = match s.cond {
                Cond::True => String::new(),
                Cond::XGe(c) => format!(" where {me}.x >= {c}"),
                Cond::XGt(t) => format!(" where {me}.x > {}.x", name(t)),
                Cond::XEq(t) => format!(" where {me}.x == {}.x", name(t)),
                Cond::CountLt(c) => format!(" where count({me}) < {c}"),
                Cond::NotInOwn => format!(" where {me}.x not in {me}.x"),
            };
            let mut q = String::new();
            if s.neg.is_none() {
                let (lo, hi) = (s.min.max(1), s.max);
                if hi == UNB {
                    q += &format!(" times {lo}..");
                } else if hi != 1 || lo != 1 {
                    q += &format!(" times {lo}..{hi}");
                }
                if s.min == 0 {
                    q += " optional";
                }
                if s.greedy {
                    q += " greedy";
                }
                if s.max > 1 {
                    q += match s.inner {
                        Contig::Strict => " consecutive",
                        Contig::Relaxed => "",
                        Contig::Any => " allow_combinations",
                    };
                }
            }
            out += &format!("    {how} {me}: {}{cond}{q}\n", kinds.join(" | "));
        }
        out += "  }\n";
        if let Some((s, c)) = self.having {
            out += &format!("  having sum({}.x) >= {c}\n", name(s));
        }
        out += "}\n";
        out
    }
}

#[derive(Debug, Clone, Copy)]
struct Ev {
    kind: u8,
    x: i32,
    ts: u64,
    key: u16,
}

// ---------------------------------------------------------------------------------------------------------------
// Reference matcher
// ---------------------------------------------------------------------------------------------------------------

/// One event of a partition stream: its global index and the event.
type PEv = (usize, Ev);

struct Ref<'a> {
    p: &'a Pat,
    s: &'a [PEv],
    out: Vec<Cand>,
    /// DFS nodes visited (the search gives up on exponential cases).
    visited: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Cand {
    /// (time, phase, global index): timers (phase 0) fire before events of the same time (phase 1).
    done: (u64, u8, usize),
    start: usize,
    /// (partition position, step) in order.
    binds: Vec<(usize, usize)>,
}

impl Ref<'_> {
    fn last(&self, b: &[(usize, usize)], t: usize) -> Option<i32> {
        b.iter()
            .rev()
            .find(|&&(_, s)| s == t)
            .map(|&(q, _)| self.s[q].1.x)
    }

    /// Whether event at partition position `q` satisfies step `j` given the binding so far `b`.
    fn sat(&self, j: usize, q: usize, b: &[(usize, usize)]) -> bool {
        let st = &self.p.steps[j];
        let e = self.s[q].1;
        if st.kinds & (1 << e.kind) == 0 {
            return false;
        }
        match st.cond {
            Cond::True => true,
            Cond::XGe(c) => e.x >= c,
            Cond::XGt(t) => self.last(b, t).is_some_and(|v| e.x > v),
            Cond::XEq(t) => self.last(b, t).is_some_and(|v| e.x == v),
            Cond::CountLt(c) => (b.iter().filter(|&&(_, s)| s == j).count() as u32) < c,
            Cond::NotInOwn => !b.iter().any(|&(p, s)| s == j && self.s[p].1.x == e.x),
        }
    }

    fn negs(&self, lo: Option<usize>, hi: Option<usize>) -> Vec<usize> {
        let a = lo.map_or(0, |l| l + 1);
        let z = hi.unwrap_or(self.p.steps.len());
        (a..z).filter(|&i| self.p.steps[i].neg.is_some()).collect()
    }

    fn positives_after(&self, l: Option<usize>) -> (Vec<usize>, bool) {
        let from = l.map_or(0, |l| l + 1);
        let mut v = Vec::new();
        for j in from..self.p.steps.len() {
            if self.p.steps[j].neg.is_some() {
                continue;
            }
            v.push(j);
            if self.p.steps[j].min > 0 {
                return (v, false);
            }
        }
        (v, true)
    }

    fn run(&mut self) {
        let (starts, _) = self.positives_after(None);
        for &j in &starts {
            for q in 0..self.s.len() {
                if self.sat(j, q, &[]) && !self.preceded(q) {
                    self.dfs(vec![(q, j)], j, 1);
                }
            }
        }
    }

    /// Whether a `not_preceded_by` event lies less than its window before position `q`.
    fn preceded(&self, q: usize) -> bool {
        let Some((k, c, w)) = self.p.lookback else {
            return false;
        };
        let t = self.s[q].1.ts;
        (0..q).any(|r| {
            let e = self.s[r].1;
            k & (1 << e.kind) != 0 && e.x >= c && t - e.ts < w
        })
    }

    fn t0(&self, b: &[(usize, usize)]) -> u64 {
        self.s[b[0].0].1.ts
    }

    /// Checks binding `q` to step `j` with contiguity `c`, negation guards `guards` and the greedy guard of step `g`.
    fn can_take(
        &self,
        b: &[(usize, usize)],
        j: usize,
        q: usize,
        c: Contig,
        guards: &[usize],
        g: Option<usize>,
    ) -> bool {
        let p = b.last().unwrap().0;
        if q <= p || self.s[q].1.ts >= self.t0(b) + self.p.within {
            return false;
        }
        if !self.sat(j, q, b) {
            return false;
        }
        match c {
            Contig::Strict if q != p + 1 => return false,
            Contig::Relaxed if (p + 1..q).any(|r| self.sat(j, r, b)) => return false,
            _ => {}
        }
        for &x in guards {
            match self.p.steps[x].neg.unwrap() {
                Neg::Next => {
                    if self.sat(x, p + 1, b) {
                        return false;
                    }
                }
                Neg::FollowedBy => {
                    if (p + 1..q).any(|r| self.sat(x, r, b)) {
                        return false;
                    }
                }
            }
        }
        if let Some(l) = g {
            if self.sat(l, p + 1, b) {
                return false;
            }
        }
        true
    }

    fn dfs(&mut self, b: Vec<(usize, usize)>, l: usize, k: u16) {
        self.visited += 1;
        if self.visited > 200_000 {
            return;
        }
        let st = self.p.steps[l].clone();
        let n = self.s.len();
        if k < st.max {
            for q in 0..n {
                if self.can_take(&b, l, q, st.inner, &[], None) {
                    let mut b2 = b.clone();
                    b2.push((q, l));
                    self.dfs(b2, l, k + 1);
                }
            }
        }
        if k < st.min {
            return;
        }
        let greedy = (st.greedy && k < st.max).then_some(l);
        let (succ, can_end) = self.positives_after(Some(l));
        for &j in &succ {
            let guards = self.negs(Some(l), Some(j));
            let c = self.p.steps[j].contig;
            for q in 0..n {
                if self.can_take(&b, j, q, c, &guards, greedy) {
                    let mut b2 = b.clone();
                    b2.push((q, j));
                    self.dfs(b2, j, 1);
                }
            }
        }
        if can_end {
            self.end(&b, l, greedy);
        }
    }

    fn end(&mut self, b: &[(usize, usize)], l: usize, greedy: Option<usize>) {
        let guards = self.negs(Some(l), None);
        let p = b.last().unwrap().0;
        let deadline = self.t0(b) + self.p.within;
        let in_window = |r: usize| r < self.s.len() && self.s[r].1.ts < deadline;
        let mut has_nn = greedy.is_some();
        let mut has_nf = false;
        if let Some(g) = greedy {
            if in_window(p + 1) && self.sat(g, p + 1, b) {
                return;
            }
        }
        for &x in &guards {
            match self.p.steps[x].neg.unwrap() {
                Neg::Next => {
                    has_nn = true;
                    if in_window(p + 1) && self.sat(x, p + 1, b) {
                        return;
                    }
                }
                Neg::FollowedBy => {
                    has_nf = true;
                    if (p + 1..self.s.len()).any(|r| in_window(r) && self.sat(x, r, b)) {
                        return;
                    }
                }
            }
        }
        if let Some((hs, c)) = self.p.having {
            let sum: i32 = b
                .iter()
                .filter(|&&(_, s)| s == hs)
                .map(|&(q, _)| self.s[q].1.x)
                .sum();
            if sum < c {
                return;
            }
        }
        let done = if !has_nn && !has_nf {
            let (g, e) = self.s[p];
            (e.ts, 1, g)
        } else if !has_nf && in_window(p + 1) {
            let (g, e) = self.s[p + 1];
            (e.ts, 1, g)
        } else {
            (deadline, 0, 0)
        };
        self.out.push(Cand {
            done,
            start: b[0].0,
            binds: b.to_vec(),
        });
    }
}

/// Matches per partition key as lists of (global index, step) bindings, in emission order.
type Matches = BTreeMap<u16, Vec<Vec<(usize, usize)>>>;

fn reference(p: &Pat, evs: &[Ev]) -> Option<Matches> {
    let input = p.input();
    let mut parts: BTreeMap<u16, Vec<PEv>> = BTreeMap::new();
    for (g, e) in evs.iter().enumerate() {
        if input & (1 << e.kind) != 0 {
            parts
                .entry(if p.by_key { e.key } else { 0 })
                .or_default()
                .push((g, *e));
        }
    }
    let mut out = Matches::new();
    for (key, s) in parts {
        let mut r = Ref {
            p,
            s: &s,
            out: Vec::new(),
            visited: 0,
        };
        r.run();
        if r.out.len() > 20_000 || r.visited > 200_000 {
            return None;
        }
        let mut c = r.out;
        c.sort();
        let mut pid: Option<usize> = None;
        let mut emitted = Vec::new();
        for m in c {
            if p.skip != Skip::No && pid.is_some_and(|x| m.start <= x) {
                continue;
            }
            let this = match p.skip {
                Skip::No => None,
                Skip::PastLast => Some(m.binds.last().unwrap().0),
                Skip::ToNext => Some(m.start),
            };
            pid = match (pid, this) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            emitted.push(m.binds.iter().map(|&(q, st)| (s[q].0, st)).collect());
        }
        if !emitted.is_empty() {
            out.insert(key, emitted);
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------------------------
// Engine side
// ---------------------------------------------------------------------------------------------------------------

fn schema() -> Arc<Schema> {
    Arc::new(
        Schema::builder()
            .field("x")
            .kind("A", &["x"])
            .kind("B", &["x"])
            .kind("C", &["x"])
            .kind("D", &["x"])
            .build(),
    )
}

fn engine_matches(p: &Pat, evs: &[Ev]) -> Option<Matches> {
    engine_run(p, evs).map(|(m, _)| m)
}

/// The engine's matches and how many of them a timer completed; `None` when a cap dropped a partial match.
fn engine_run(p: &Pat, evs: &[Ev]) -> Option<(Matches, u64)> {
    let mut rules = RuleSet::new(CompileContext::new(schema()));
    let src = p.render();
    rules
        .add_str("prop.cep", &src)
        .unwrap_or_else(|e| panic!("{e}\n{src}"));
    let cfg = EngineConfig {
        max_runs: 1 << 17,
        max_runs_per_key: 1 << 17,
        max_partitions: 64,
        max_keys: 64,
        max_nodes: 1 << 19,
        max_events: 1 << 10,
        max_lookback_keys: 64,
    };
    let mut e = Engine::new(rules, cfg);
    let mut out = Matches::new();
    let mut sink = |m: &detect::cep::Match<'_>| {
        out.entry(m.key.locate)
            .or_default()
            .push(m.events().map(|(s, e)| (e.seq as usize, s)).collect());
    };
    for (i, x) in evs.iter().enumerate() {
        let mut c = CepEvent::new(KindId(x.kind), x.ts * 1_000_000).with(FieldId(0), x.x as f64);
        c.seq = i as u64;
        c.locate = x.key;
        e.on_event(&c, &(), &mut sink);
    }
    e.finish(&(), &mut sink);
    let s = e.stats();
    if s.dropped_key_cap
        + s.dropped_total_cap
        + s.dropped_pool
        + s.dropped_len_cap
        + s.dropped_partition_cap
        + s.dropped_lookback
        > 0
    {
        // An exponential pattern (e.g. allow_combinations) exceeded the caps: not comparable with the unbounded
        // reference. Rare; the generator keeps streams short.
        return None;
    }
    assert_eq!(
        (s.runs_live, s.nodes_live, s.events_live, s.partitions_live),
        (0, 0, 0, 0),
        "state leaked"
    );
    Some((out, s.matches_by_timer))
}

// ---------------------------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------------------------

fn contig() -> impl Strategy<Value = Contig> {
    prop_oneof![
        Just(Contig::Strict),
        Just(Contig::Relaxed),
        Just(Contig::Any)
    ]
}

#[derive(Debug, Clone)]
struct RawStep {
    neg: Option<Neg>,
    contig: Contig,
    kinds: u8,
    cond: (u8, i32, usize),
    quant: u8,
    greedy: bool,
    inner: Contig,
}

fn raw_step() -> impl Strategy<Value = RawStep> {
    (
        prop_oneof![6 => Just(None), 1 => Just(Some(Neg::Next)), 1 => Just(Some(Neg::FollowedBy))],
        contig(),
        1u8..16,
        (0u8..6, 0i32..4, 0usize..8),
        0u8..8,
        any::<bool>(),
        contig(),
    )
        .prop_map(|(neg, contig, kinds, cond, quant, greedy, inner)| RawStep {
            neg,
            contig,
            kinds,
            cond,
            quant,
            greedy,
            inner,
        })
}

/// Turns raw choices into a valid pattern (the compiler's rules: first step positive, negations not after an
/// optional step, at least one mandatory step, greedy / inner contiguity only on loops).
fn build(
    raw: Vec<RawStep>,
    within: u64,
    skip: Skip,
    by_key: bool,
    having: Option<(usize, i32)>,
    lookback: Option<(u8, i32, u64)>,
) -> Pat {
    let mut steps: Vec<Step> = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let prev_pos = steps.iter().rposition(|s| s.neg.is_none());
        let neg = if i == 0 || prev_pos.is_some_and(|p| steps[p].min == 0) {
            None
        } else {
            r.neg
        };
        let earlier: Vec<usize> = (0..i).filter(|&j| steps[j].neg.is_none()).collect();
        let (min, max) = if neg.is_some() {
            (1, 1)
        } else {
            match r.quant {
                0..=2 => (1, 1),
                3 => (0, 1),
                4 => (2, 2),
                5 => (1, 3),
                6 => (1, UNB),
                _ => (0, 2),
            }
        };
        let is_loop = max > 1;
        let cond = match r.cond.0 {
            0 => Cond::True,
            1 => Cond::XGe(r.cond.1),
            2 | 3 if !earlier.is_empty() => {
                let t = earlier[r.cond.2 % earlier.len()];
                if r.cond.0 == 2 {
                    Cond::XGt(t)
                } else {
                    Cond::XEq(t)
                }
            }
            4 if is_loop => Cond::CountLt(r.cond.1 as u32 + 1),
            5 if is_loop => Cond::NotInOwn,
            _ => Cond::XGe(r.cond.1.min(2)),
        };
        steps.push(Step {
            neg,
            contig: if i == 0 { Contig::Any } else { r.contig },
            kinds: r.kinds,
            cond,
            min,
            max,
            greedy: r.greedy && is_loop && max > min.max(1),
            inner: if is_loop { r.inner } else { Contig::Relaxed },
        });
    }
    if steps.iter().all(|s| s.neg.is_some() || s.min == 0) {
        steps[0].min = 1;
    }
    // (Making step 0 mandatory cannot put a negation after an optional step.)
    let having = having.map(|(s, c)| {
        let pos: Vec<usize> = (0..steps.len())
            .filter(|&j| steps[j].neg.is_none())
            .collect();
        (pos[s % pos.len()], c)
    });
    Pat {
        steps,
        within,
        skip,
        by_key,
        having,
        lookback,
    }
}

fn pattern() -> impl Strategy<Value = Pat> {
    (
        prop::collection::vec(raw_step(), 1..5),
        prop_oneof![Just(3u64), Just(10), Just(40)],
        prop_oneof![Just(Skip::No), Just(Skip::PastLast), Just(Skip::ToNext)],
        any::<bool>(),
        prop::option::weighted(0.25, (0usize..4, 0i32..8)),
        prop::option::weighted(
            0.25,
            (1u8..16, 0i32..4, prop_oneof![Just(1u64), Just(3), Just(8)]),
        ),
    )
        .prop_map(|(raw, within, skip, by_key, having, lookback)| {
            build(raw, within, skip, by_key, having, lookback)
        })
}

fn stream() -> impl Strategy<Value = Vec<Ev>> {
    prop::collection::vec(
        (
            0u8..4,
            0i32..4,
            prop_oneof![Just(0u64), Just(1), Just(2), Just(5)],
            0u16..2,
        ),
        0..18,
    )
    .prop_map(|v| {
        let mut ts = 0;
        v.into_iter()
            .map(|(kind, x, dt, key)| {
                ts += dt;
                Ev { kind, x, ts, key }
            })
            .collect()
    })
}

/// What the property test saw: every case is counted, including those it could not compare.
#[derive(Debug, Default)]
struct Tally {
    cases: u64,
    /// The reference's enumeration exceeded its budget (exponential pattern): not compared.
    skipped_reference: u64,
    /// The engine hit one of its caps (dropped a partial match): not compared.
    skipped_engine_cap: u64,
    compared: u64,
    with_matches: u64,
    matches: u64,
    timer_matches: u64,
    /// Compared cases with at least one match, per feature of the pattern.
    matched_with: BTreeMap<&'static str, u64>,
}

fn features(p: &Pat) -> Vec<&'static str> {
    let mut f = Vec::new();
    for (i, s) in p.steps.iter().enumerate() {
        f.push(match (i, s.neg, s.contig) {
            (0, _, _) => "begin",
            (_, Some(Neg::Next), _) => "not_next",
            (_, Some(Neg::FollowedBy), _) if i + 1 == p.steps.len() => "not_followed_by at the end",
            (_, Some(Neg::FollowedBy), _) => "not_followed_by",
            (_, None, Contig::Strict) => "next",
            (_, None, Contig::Relaxed) => "followed_by",
            (_, None, Contig::Any) => "followed_by_any",
        });
        if s.neg.is_none() {
            f.push(match (s.min, s.max) {
                (1, 1) => "once",
                (0, 1) => "optional",
                (2, 2) => "times n",
                (_, UNB) => "one_or_more",
                (0, _) => "times n..m optional",
                _ => "times n..m",
            });
            if s.greedy {
                f.push("greedy");
            }
            if s.max > 1 {
                f.push(match s.inner {
                    Contig::Strict => "loop consecutive",
                    Contig::Relaxed => "loop relaxed",
                    Contig::Any => "loop allow_combinations",
                });
            }
        }
    }
    f.push(match p.skip {
        Skip::No => "skip no_skip",
        Skip::PastLast => "skip past_last_event",
        Skip::ToNext => "skip to_next",
    });
    f.push(if p.by_key {
        "partition by symbol"
    } else {
        "partition by none"
    });
    if p.having.is_some() {
        f.push("having");
    }
    if p.lookback.is_some() {
        f.push("not_preceded_by");
    }
    f.sort_unstable();
    f.dedup();
    f
}

/// Random patterns and streams: the engine's matches must equal the reference's. `PROPTEST_CASES` overrides the
/// number of cases (default 5 000). Cases that cannot be compared (the reference's search budget or an engine cap
/// exceeded) are counted and must stay under 1 %; every operator and skip strategy must have produced matches in
/// compared cases, so a generator drifting into trivial patterns fails the test instead of passing vacuously.
#[test]
fn engine_equals_reference() {
    use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
    use std::cell::RefCell;

    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let mut runner = TestRunner::new(Config {
        cases,
        max_shrink_iters: 4000,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    });
    let tally = RefCell::new(Tally::default());
    let result = runner.run(&(pattern(), stream()), |(p, evs)| {
        let mut t = tally.borrow_mut();
        t.cases += 1;
        let Some(want) = reference(&p, &evs) else {
            t.skipped_reference += 1;
            return Ok(());
        };
        let Some((got, by_timer)) = engine_run(&p, &evs) else {
            t.skipped_engine_cap += 1;
            return Ok(());
        };
        t.compared += 1;
        let n: u64 = got.values().map(|v| v.len() as u64).sum();
        if n > 0 {
            t.with_matches += 1;
            t.matches += n;
            t.timer_matches += by_timer;
            for f in features(&p) {
                *t.matched_with.entry(f).or_default() += 1;
            }
        }
        drop(t);
        prop_assert_eq!(got, want, "rule:\n{}", p.render());
        Ok(())
    });
    let t = tally.into_inner();
    eprintln!("cep_prop: {t:#?}");
    if let Err(e) = result {
        panic!("{e}");
    }
    // (On success the runner ran `cases` new cases plus the persisted regression seeds, without shrinking.)
    assert!(t.cases >= u64::from(cases));
    let skipped = t.skipped_reference + t.skipped_engine_cap;
    assert!(
        skipped * 100 <= t.cases,
        "{skipped} of {} cases not compared (> 1 %)",
        t.cases
    );
    assert!(
        t.with_matches * 3 >= t.compared,
        "only {} of {} compared cases had matches",
        t.with_matches,
        t.compared
    );
    if cases >= 1000 {
        assert!(t.timer_matches > 0, "no timer-completed match compared");
        for f in [
            "next",
            "followed_by",
            "followed_by_any",
            "not_next",
            "not_followed_by",
            "not_followed_by at the end",
            "optional",
            "times n",
            "times n..m",
            "one_or_more",
            "greedy",
            "loop consecutive",
            "loop relaxed",
            "loop allow_combinations",
            "skip no_skip",
            "skip past_last_event",
            "skip to_next",
            "partition by symbol",
            "partition by none",
            "having",
            "not_preceded_by",
        ] {
            let n = t.matched_with.get(f).copied().unwrap_or(0);
            assert!(n >= 20, "only {n} compared cases with matches use `{f}`");
        }
    }
}

#[test]
fn reference_agrees_with_hand_examples() {
    // Sanity of the reference itself on the Flink loop example (relaxed): 4 matches.
    let p = Pat {
        steps: vec![
            Step {
                neg: None,
                contig: Contig::Any,
                kinds: 0b0100,
                cond: Cond::True,
                min: 1,
                max: 1,
                greedy: false,
                inner: Contig::Relaxed,
            },
            Step {
                neg: None,
                contig: Contig::Relaxed,
                kinds: 0b0001,
                cond: Cond::True,
                min: 1,
                max: UNB,
                greedy: false,
                inner: Contig::Relaxed,
            },
            Step {
                neg: None,
                contig: Contig::Relaxed,
                kinds: 0b0010,
                cond: Cond::True,
                min: 1,
                max: 1,
                greedy: false,
                inner: Contig::Relaxed,
            },
        ],
        within: 1000,
        skip: Skip::No,
        by_key: false,
        having: None,
        lookback: None,
    };
    // C D A1 A2 A3 D A4 B; D is outside the rule's input here, so all 4 relaxed matches exist.
    let evs: Vec<Ev> = [2u8, 3, 0, 0, 0, 3, 0, 1]
        .iter()
        .enumerate()
        .map(|(i, &k)| Ev {
            kind: k,
            x: 0,
            ts: i as u64,
            key: 0,
        })
        .collect();
    let want = reference(&p, &evs).unwrap();
    assert_eq!(want[&0].len(), 4);
    assert_eq!(engine_matches(&p, &evs), Some(want));
}
