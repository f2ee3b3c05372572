//! The NFA runtime: partial matches ("runs") per rule and key, event-time timers, skip strategies, bounded state.
//!
//! # Data layout
//! Everything lives in preallocated pools indexed by `u32`:
//! - **runs** (partial matches): the step they wait for, the positions of their first/last event, the last node
//!   bound per step and the count per step, and guard bits for pending negations;
//! - **nodes**: one per bound event, linked to the previous bound event of the same match, reference-counted so
//!   runs that fork share their common prefix (Flink's shared buffer);
//! - **event slots**: a copy of each event that some run bound, reference-counted by nodes;
//! - **partitions**: the runs of one rule for one key, with the key's event counter (for strict contiguity) and
//!   one event-time timer;
//! - **key slots**: one per (partition scheme, key value), listing the partitions of every rule for that key, found
//!   through a fixed-capacity hash index.
//!
//! Pools are `Vec`s reserved at construction and never grown: when one is exhausted the new partial match is
//! dropped and counted ([`EngineStats`]). So after construction the engine allocates only when a match is emitted
//! and the pending-match buffer has to grow beyond its initial capacity.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::compile::{
    KeyFilter, Rule, RuleSet, SkipStrategy, KEY_MPID, KEY_ORDER, KEY_SYMBOL, MAX_LOOKBACKS,
    MAX_STAGES,
};
use super::event::{CepEvent, FieldId, Schema};
use super::expr::{truthy, Env, Program};
use super::lang::Contiguity;
use super::map::SlotMap;
use super::FeatureSource;
use crate::enrich::RefJoin;

/// "No index".
pub(crate) const NIL: u32 = u32::MAX;
/// `Run::wait` of a run whose pattern is complete and that waits for its trailing negations / greedy guard.
const WAIT_END: u8 = 0xFF;
/// `Run::last_stage` before anything is bound.
const NO_STAGE: u8 = 0xFF;

/// Maximum number of events one match binds. A take that would exceed it is dropped and counted.
pub const MAX_MATCH_LEN: usize = 256;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    pub ev: u32,
    pub prev: u32,
    pub refs: u32,
    pub stage: u8,
    pub pos: u64,
}

#[derive(Debug, Clone, Copy)]
struct EvSlot {
    ev: CepEvent,
    refs: u32,
}

/// Bound events and their chains.
#[derive(Debug)]
pub(crate) struct Store {
    nodes: Vec<Node>,
    node_free: Vec<u32>,
    node_cap: usize,
    events: Vec<EvSlot>,
    ev_free: Vec<u32>,
    ev_cap: usize,
}

impl Store {
    fn new(node_cap: usize, ev_cap: usize) -> Store {
        Store {
            nodes: Vec::with_capacity(node_cap),
            node_free: Vec::with_capacity(node_cap),
            node_cap,
            events: Vec::with_capacity(ev_cap),
            ev_free: Vec::with_capacity(ev_cap),
            ev_cap,
        }
    }

    #[inline]
    pub(crate) fn node(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }

    #[inline]
    pub(crate) fn event(&self, i: u32) -> &CepEvent {
        &self.events[i as usize].ev
    }

    #[inline]
    pub(crate) fn node_event(&self, n: u32) -> &CepEvent {
        self.event(self.node(n).ev)
    }

    /// A slot holding `ev` with one reference.
    fn alloc_event(&mut self, ev: &CepEvent) -> Option<u32> {
        let slot = EvSlot { ev: *ev, refs: 1 };
        if let Some(i) = self.ev_free.pop() {
            self.events[i as usize] = slot;
            Some(i)
        } else if self.events.len() < self.ev_cap {
            self.events.push(slot);
            Some(self.events.len() as u32 - 1)
        } else {
            None
        }
    }

    fn release_event(&mut self, i: u32) {
        let s = &mut self.events[i as usize];
        s.refs -= 1;
        if s.refs == 0 {
            self.ev_free.push(i);
        }
    }

    /// A node binding event slot `ev` after `prev`, with one reference (the caller's).
    fn alloc_node(&mut self, ev: u32, prev: u32, stage: u8, pos: u64) -> Option<u32> {
        let node = Node {
            ev,
            prev,
            refs: 1,
            stage,
            pos,
        };
        let i = if let Some(i) = self.node_free.pop() {
            self.nodes[i as usize] = node;
            i
        } else if self.nodes.len() < self.node_cap {
            self.nodes.push(node);
            self.nodes.len() as u32 - 1
        } else {
            return None;
        };
        self.events[ev as usize].refs += 1;
        if prev != NIL {
            self.nodes[prev as usize].refs += 1;
        }
        Some(i)
    }

    #[inline]
    fn retain(&mut self, n: u32) {
        if n != NIL {
            self.nodes[n as usize].refs += 1;
        }
    }

    fn release(&mut self, mut n: u32) {
        while n != NIL {
            let node = &mut self.nodes[n as usize];
            node.refs -= 1;
            if node.refs > 0 {
                return;
            }
            let (prev, ev) = (node.prev, node.ev);
            self.node_free.push(n);
            self.release_event(ev);
            n = prev;
        }
    }

    fn nodes_live(&self) -> usize {
        self.nodes.len() - self.node_free.len()
    }

    fn events_live(&self) -> usize {
        self.events.len() - self.ev_free.len()
    }

    /// `(pos, stage)` of the chain ending at `tail`, oldest first, into `out`; returns the length.
    fn chain(&self, tail: u32, out: &mut [(u64, u8); MAX_MATCH_LEN]) -> usize {
        let mut n = tail;
        let mut len = 0;
        while n != NIL && len < MAX_MATCH_LEN {
            let node = self.node(n);
            out[len] = (node.pos, node.stage);
            len += 1;
            n = node.prev;
        }
        out[..len].reverse();
        len
    }
}

/// A partial match.
#[derive(Debug, Clone, Copy)]
struct Run {
    next: u32,
    tail: u32,
    start_pos: u64,
    last_pos: u64,
    start_ts: u64,
    wait: u8,
    last_stage: u8,
    greedy_guard: bool,
    guards: u16,
    total: u16,
    stage_last: [u32; MAX_STAGES],
    stage_count: [u16; MAX_STAGES],
}

impl Run {
    const EMPTY: Run = Run {
        next: NIL,
        tail: NIL,
        start_pos: 0,
        last_pos: 0,
        start_ts: 0,
        wait: 0,
        last_stage: NO_STAGE,
        greedy_guard: false,
        guards: 0,
        total: 0,
        stage_last: [NIL; MAX_STAGES],
        stage_count: [0; MAX_STAGES],
    };
}

#[derive(Debug, Clone, Copy)]
struct Partition {
    rule: u32,
    keyslot: u32,
    prev_in_key: u32,
    next_in_key: u32,
    head: u32,
    tail: u32,
    n_runs: u32,
    /// Events of this rule's input seen for this key since the partition was created (the current one included).
    pos: u64,
    /// Deadline of this partition's entry in the timer heap.
    timer_at: u64,
    /// Emission group of the current step (valid when `gstamp` equals the engine's step stamp).
    group: u32,
    gstamp: u64,
    live: bool,
    /// The rule's input kinds (copied, so a visit need not read the rule).
    input: u64,
    /// Kinds of events that may affect some run of the partition (a superset: [`react_mask`] of every run added
    /// since the last full pass over the runs). A partition's runs are not visited for other kinds.
    react: u64,
}

/// The kinds of events that can affect `run`: for a run waiting, not strictly, for a step, with no guard to test,
/// the step's kinds (`step_partition`'s fast path skips it for the others); else every kind.
#[inline]
fn react_mask(rule: &Rule, run: &Run) -> u64 {
    if run.wait != WAIT_END && run.guards == 0 && !run.greedy_guard {
        let st = &rule.stages[run.wait as usize];
        let contig = if run.stage_count[run.wait as usize] > 0 {
            st.inner
        } else {
            st.contig
        };
        if contig != Contiguity::Strict {
            return st.kinds;
        }
    }
    u64::MAX
}

/// The value of a partition key: the components the rule partitions by, the others zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PartitionKey {
    /// Stock locate (when partitioned by symbol).
    pub locate: u16,
    /// MPID code (when partitioned by MPID), see [`super::event::mpid_code`].
    pub mpid: u32,
    /// Order reference (when partitioned by order).
    pub order_ref: u64,
}

#[derive(Debug, Clone, Copy)]
struct KeySlot {
    scheme: u8,
    key: PartitionKey,
    hash: u64,
    head: u32,
    tail: u32,
    live: bool,
}

/// Last time an event satisfied each `not_preceded_by` step of a rule, for one key. Free entries have
/// `expires == u64::MAX`.
#[derive(Debug, Clone, Copy)]
struct LbEntry {
    rule: u32,
    key: PartitionKey,
    hash: u64,
    /// Per lookback step: feed time of the last event satisfying it (`u64::MAX` = none).
    last: [u64; MAX_LOOKBACKS],
    /// Time after which the entry can be forgotten (latest `last + within`).
    expires: u64,
}

fn key_of(scheme: u8, ev: &CepEvent) -> PartitionKey {
    PartitionKey {
        locate: if scheme & KEY_SYMBOL != 0 {
            ev.locate
        } else {
            0
        },
        mpid: if scheme & KEY_MPID != 0 { ev.mpid } else { 0 },
        order_ref: if scheme & KEY_ORDER != 0 {
            ev.order_ref
        } else {
            0
        },
    }
}

#[inline]
fn hash_key(scheme: u8, k: &PartitionKey) -> u64 {
    let mut h =
        k.order_ref ^ ((k.mpid as u64) << 17) ^ ((k.locate as u64) << 49) ^ ((scheme as u64) << 61);
    h = h.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^= h >> 29;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^ (h >> 32)
}

/// Rule dispatch by event kind and symbol, built once at construction: the rules whose start steps (or
/// `not_preceded_by` steps) can accept an event are those of the event kind's unconstrained list, plus those whose
/// compiled [`KeyFilter`] the event's locate / symbol satisfies. Every list is in rule order.
#[derive(Debug, Default)]
struct RuleIndex {
    n_kinds: usize,
    /// Per kind: rules without a symbol constraint.
    any: Vec<Vec<u32>>,
    /// Per distinct modulus `m`: lists indexed by `residue * n_kinds + kind`.
    mods: Vec<(u16, Vec<Vec<u32>>)>,
    /// Per kind: `(locate, rule)` sorted.
    by_locate: Vec<Vec<(u16, u32)>>,
    /// Per kind: `(symbol, rule)` sorted.
    by_symbol: Vec<Vec<([u8; 8], u32)>>,
}

impl RuleIndex {
    /// Index of the rules for which `f` gives `(kinds, filter)` (`kinds == 0`: not indexed).
    fn build(rules: &[Rule], n_kinds: usize, f: impl Fn(&Rule) -> (u64, KeyFilter)) -> RuleIndex {
        let mut ix = RuleIndex {
            n_kinds,
            any: vec![Vec::new(); n_kinds],
            mods: Vec::new(),
            by_locate: vec![Vec::new(); n_kinds],
            by_symbol: vec![Vec::new(); n_kinds],
        };
        for (i, r) in rules.iter().enumerate() {
            let (kinds, filter) = f(r);
            for k in (0..n_kinds).filter(|&k| kinds & (1u64 << k) != 0) {
                let i = i as u32;
                match filter {
                    KeyFilter::Any => ix.any[k].push(i),
                    KeyFilter::Locate(l) => ix.by_locate[k].push((l, i)),
                    KeyFilter::Symbol(s) => ix.by_symbol[k].push((s, i)),
                    KeyFilter::LocateMod(m, c) => {
                        let t = match ix.mods.iter().position(|x| x.0 == m) {
                            Some(t) => t,
                            None => {
                                ix.mods.push((m, vec![Vec::new(); m as usize * n_kinds]));
                                ix.mods.len() - 1
                            }
                        };
                        ix.mods[t].1[c as usize * n_kinds + k].push(i);
                    }
                }
            }
        }
        for v in ix.by_locate.iter_mut() {
            v.sort_unstable();
        }
        for v in ix.by_symbol.iter_mut() {
            v.sort_unstable();
        }
        ix
    }

    /// The rules `ev` may concern, in rule order, into `out` (reserved for every rule: never grows).
    fn collect(&self, ev: &CepEvent, out: &mut Vec<u32>) {
        out.clear();
        let k = ev.kind.0 as usize;
        if k >= self.n_kinds {
            return;
        }
        let mut sources = 0;
        let mut add = |out: &mut Vec<u32>, l: &mut dyn Iterator<Item = u32>| {
            let n = out.len();
            out.extend(l);
            sources += (out.len() > n) as u32;
        };
        add(out, &mut self.any[k].iter().copied());
        for (m, lists) in &self.mods {
            let res = (ev.locate % *m) as usize;
            add(out, &mut lists[res * self.n_kinds + k].iter().copied());
        }
        let v = &self.by_locate[k];
        if !v.is_empty() {
            let a = v.partition_point(|x| x.0 < ev.locate);
            let b = a + v[a..].partition_point(|x| x.0 == ev.locate);
            add(out, &mut v[a..b].iter().map(|x| x.1));
        }
        let v = &self.by_symbol[k];
        if !v.is_empty() {
            let a = v.partition_point(|x| x.0 < ev.symbol);
            let b = a + v[a..].partition_point(|x| x.0 == ev.symbol);
            add(out, &mut v[a..b].iter().map(|x| x.1));
        }
        if sources > 1 {
            out.sort_unstable();
        }
    }
}

/// How a completed match was triggered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Event,
    Timer,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    group: u32,
    part: u32,
    tail: u32,
    start_pos: u64,
    last_pos: u64,
    start_ts: u64,
    event_ts: u64,
    seq: u64,
    trigger: Trigger,
    stage_last: [u32; MAX_STAGES],
    stage_count: [u16; MAX_STAGES],
}

/// Capacities of the engine's state. Every pool is reserved once, at construction; a limit that is hit drops the
/// new partial match and counts it in [`EngineStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Partial matches, all rules and keys together.
    pub max_runs: usize,
    /// Partial matches of one rule for one key.
    pub max_runs_per_key: usize,
    /// (rule, key) partitions with live state.
    pub max_partitions: usize,
    /// Distinct key values with live state (per partition scheme).
    pub max_keys: usize,
    /// Bound-event nodes (a partial match of n events uses up to n, shared with the runs it forked from).
    pub max_nodes: usize,
    /// Copies of bound events.
    pub max_events: usize,
    /// (rule, key) pairs remembered for `not_preceded_by` steps.
    pub max_lookback_keys: usize,
}

impl Default for EngineConfig {
    /// About 60 MB when full: 128 Ki runs, 512 Ki nodes, 128 Ki events, 64 Ki partitions and keys.
    fn default() -> Self {
        EngineConfig {
            max_runs: 1 << 17,
            max_runs_per_key: 4096,
            max_partitions: 1 << 16,
            max_keys: 1 << 16,
            max_nodes: 1 << 19,
            max_events: 1 << 17,
            max_lookback_keys: 1 << 16,
        }
    }
}

impl EngineConfig {
    /// A small configuration for tests and examples (a few MB).
    pub fn small() -> Self {
        EngineConfig {
            max_runs: 1 << 14,
            max_runs_per_key: 4096,
            max_partitions: 1 << 12,
            max_keys: 1 << 12,
            max_nodes: 1 << 16,
            max_events: 1 << 14,
            max_lookback_keys: 1 << 12,
        }
    }
}

/// Counters and state size of an [`Engine`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Events processed.
    pub events: u64,
    /// Events whose time was before the latest time already seen (processed anyway, with their own time).
    pub late_events: u64,
    /// Matches emitted.
    pub matches: u64,
    /// Of which completed by a timer (absence at the end of a pattern, greedy loop at the end).
    pub matches_by_timer: u64,
    /// Completed matches discarded by a skip strategy.
    pub matches_skipped: u64,
    /// Partial matches discarded by a skip strategy.
    pub runs_pruned: u64,
    /// Partial matches that expired (their `within` window passed).
    pub runs_expired: u64,
    /// New partial matches dropped because their (rule, key) already had `max_runs_per_key`.
    pub dropped_key_cap: u64,
    /// New partial matches dropped because `max_runs` were live.
    pub dropped_total_cap: u64,
    /// New partial matches dropped because the node or event pool was exhausted.
    pub dropped_pool: u64,
    /// New matches not started because `max_partitions` or `max_keys` was reached.
    pub dropped_partition_cap: u64,
    /// Events not bound because a match already held [`MAX_MATCH_LEN`] events.
    pub dropped_len_cap: u64,
    /// `not_preceded_by` events not remembered because `max_lookback_keys` live keys were remembered (a match that
    /// such an event should have prevented may then be emitted).
    pub dropped_lookback: u64,
    /// Live (rule, key) pairs remembered for `not_preceded_by` steps.
    pub lookback_keys_live: u64,
    /// Partitions whose state was purged when their windows expired.
    pub partitions_purged: u64,
    /// Live partial matches.
    pub runs_live: u64,
    /// Highest number of live partial matches seen.
    pub runs_peak: u64,
    /// Live (rule, key) partitions.
    pub partitions_live: u64,
    /// Live key values.
    pub keys_live: u64,
    /// Live bound-event nodes.
    pub nodes_live: u64,
    /// Live event copies.
    pub events_live: u64,
    /// Bytes of live state (runs, nodes, events, partitions, keys).
    pub state_bytes: u64,
    /// Bytes reserved for state at construction.
    pub reserved_bytes: u64,
}

/// One match, as handed to the sink. Borrows the engine; copy out what you need.
pub struct Match<'a> {
    rule: &'a Rule,
    rule_id: usize,
    schema: &'a Schema,
    store: &'a Store,
    nodes: &'a [u32],
    /// Partition key of the match.
    pub key: PartitionKey,
    /// Time of the completion: the completing event's time, or the window end for timer-completed matches.
    pub event_ts_ns: u64,
    /// Time of the first bound event.
    pub window_start_ns: u64,
    /// End of the match's span (equal to `event_ts_ns`).
    pub window_end_ns: u64,
    /// Sequence number of the event that completed the match (or that advanced time past a timer).
    pub seq: u64,
    /// The rule's `score` clause (1.0 when absent).
    pub score: f64,
    /// The rule's `side` clause: `1` buy, `-1` sell, `0` none.
    pub side: i8,
    /// Whether a timer completed the match (absence at the end of the pattern, or a greedy loop at the end).
    pub by_timer: bool,
}

impl std::fmt::Debug for Match<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Match")
            .field("rule", &self.rule.name())
            .field("key", &self.key)
            .field("event_ts_ns", &self.event_ts_ns)
            .field("events", &self.len())
            .finish()
    }
}

impl<'a> Match<'a> {
    /// The rule that matched.
    pub fn rule(&self) -> &'a Rule {
        self.rule
    }

    /// Index of the rule in its [`RuleSet`].
    pub fn rule_id(&self) -> usize {
        self.rule_id
    }

    /// The schema of the events.
    pub fn schema(&self) -> &'a Schema {
        self.schema
    }

    /// Number of bound events.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no event is bound (never true for an emitted match).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The bound events in order: `(step index, event)`.
    pub fn events(&self) -> impl Iterator<Item = (usize, &'a CepEvent)> + '_ {
        self.nodes.iter().map(|&n| {
            let node = self.store.node(n);
            (node.stage as usize, self.store.event(node.ev))
        })
    }

    /// The bound events as `(step name, event)`.
    pub fn named_events(&self) -> impl Iterator<Item = (&'a str, &'a CepEvent)> + '_ {
        let rule = self.rule;
        self.events().map(move |(s, e)| (rule.step_name(s), e))
    }

    /// Partition positions of the bound events (1-based within the partition's lifetime) with their steps.
    pub fn positions(&self) -> impl Iterator<Item = (u64, usize)> + '_ {
        self.nodes.iter().map(|&n| {
            let node = self.store.node(n);
            (node.pos, node.stage as usize)
        })
    }

    /// The last bound event (the completing one unless a timer completed the match).
    pub fn last_event(&self) -> &'a CepEvent {
        self.store
            .node_event(*self.nodes.last().expect("a match binds at least one event"))
    }

    /// The match as a JSON evidence object: `rule`, `partition`, `by_timer` and `events` (each with `step`,
    /// `kind`, time, keys and the numeric fields its kind carries). Allocates (cold path).
    pub fn evidence_json(&self) -> serde_json::Value {
        use serde_json::{json, Map, Value};
        let mut evs = Vec::with_capacity(self.len());
        for (step, e) in self.named_events() {
            let mut o = Map::new();
            o.insert("step".into(), json!(step));
            o.insert("kind".into(), json!(self.schema.kind_name(e.kind)));
            o.insert("ts_ns".into(), json!(e.ts_ns));
            o.insert("seq".into(), json!(e.seq));
            o.insert("symbol".into(), json!(e.symbol_str()));
            o.insert("stock_locate".into(), json!(e.locate));
            if e.order_ref != 0 {
                o.insert("order_ref".into(), json!(e.order_ref));
            }
            if let Some(m) = e.mpid_str() {
                o.insert("mpid".into(), json!(m));
            }
            for f in self.schema.fields_of(e.kind) {
                let v = e.get(f);
                let val = match self.schema.field_format(f) {
                    super::event::FieldFormat::Side if v > 0.0 => json!("buy"),
                    super::event::FieldFormat::Side if v < 0.0 => json!("sell"),
                    super::event::FieldFormat::Side => Value::Null,
                    _ if v.is_finite() => json!(v),
                    _ => continue,
                };
                o.insert(self.schema.field_name(FieldId(f.0)).into(), val);
            }
            evs.push(Value::Object(o));
        }
        json!({
            "rule": self.rule.name(),
            "partition": self.rule.partition(),
            "by_timer": self.by_timer,
            "events": evs,
        })
    }
}

/// The CEP engine: all compiled rules of a [`RuleSet`] running over one event stream.
///
/// Single-threaded: one detect thread owns it. See the module docs of [`super`] for the contract.
pub struct Engine {
    set: RuleSet,
    st: State,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("rules", &self.set.rules.len())
            .field("stats", &self.st.stats())
            .finish()
    }
}

struct State {
    cfg: EngineConfig,
    store: Store,
    runs: Vec<Run>,
    run_free: Vec<u32>,
    parts: Vec<Partition>,
    part_free: Vec<u32>,
    keys: Vec<KeySlot>,
    key_free: Vec<u32>,
    keymap: SlotMap,
    timers: BinaryHeap<Reverse<(u64, u32)>>,
    /// Rules whose first step(s) may accept an event (by kind and symbol).
    start_index: RuleIndex,
    /// Partition schemes in use.
    schemes: Vec<u8>,
    /// Rules with a `not_preceded_by` step that may accept an event (by kind and symbol).
    lb_index: RuleIndex,
    /// Scratch list of candidate rules for the current event (capacity: every rule).
    cand: Vec<u32>,
    lb: Vec<LbEntry>,
    lb_free: Vec<u32>,
    lbmap: SlotMap,
    /// Watermark before which a full lookback table is not swept again.
    lb_next_sweep: u64,
    /// Per rule: (stamp, partition) of the partition visited for the current event.
    rule_cur: Vec<(u64, u32)>,
    stamp: u64,
    watermark: u64,
    last_seq: u64,
    cur_slot: u32,
    cur_ref_row: u32,
    group: u32,
    pending: Vec<Pending>,
    match_nodes: Vec<u32>,
    refjoin: Option<RefJoin>,
    stats: EngineStats,
}

impl Engine {
    /// Builds an engine for `rules`, reserving every pool of `cfg` now.
    pub fn new(rules: RuleSet, cfg: EngineConfig) -> Engine {
        Engine::build(rules, cfg, true)
    }

    /// [`new`](Self::new), with the symbol part of the rule index on or off (off: by kind only, as a reference).
    fn build(rules: RuleSet, cfg: EngineConfig, by_symbol: bool) -> Engine {
        let n_kinds = rules.ctx.schema.n_kinds().clamp(1, 64);
        let filter = |f: KeyFilter| if by_symbol { f } else { KeyFilter::Any };
        let start_index = RuleIndex::build(&rules.rules, n_kinds, |r| {
            let kinds = r
                .start
                .iter()
                .fold(0u64, |m, &s| m | r.stages[s as usize].kinds);
            (kinds, filter(r.start_filter))
        });
        let lb_index = RuleIndex::build(&rules.rules, n_kinds, |r| {
            let kinds = r.lookbacks.iter().fold(0u64, |m, l| m | l.kinds);
            (kinds, filter(r.lookback_filter))
        });
        let mut schemes = Vec::new();
        for r in &rules.rules {
            if !schemes.contains(&r.key) {
                schemes.push(r.key);
            }
        }
        schemes.sort_unstable();
        let refjoin = rules.ctx.refdata.as_ref().map(|r| RefJoin::new(r.clone()));
        let max_runs_per_key = cfg.max_runs_per_key.max(1);
        let st = State {
            store: Store::new(cfg.max_nodes, cfg.max_events),
            runs: Vec::with_capacity(cfg.max_runs),
            run_free: Vec::with_capacity(cfg.max_runs),
            parts: Vec::with_capacity(cfg.max_partitions),
            part_free: Vec::with_capacity(cfg.max_partitions),
            keys: Vec::with_capacity(cfg.max_keys),
            key_free: Vec::with_capacity(cfg.max_keys),
            keymap: SlotMap::with_capacity(cfg.max_keys),
            timers: BinaryHeap::with_capacity(cfg.max_partitions + 1),
            start_index,
            schemes,
            lb_index,
            cand: Vec::with_capacity(rules.rules.len()),
            lb: Vec::with_capacity(cfg.max_lookback_keys),
            lb_free: Vec::with_capacity(cfg.max_lookback_keys),
            lbmap: SlotMap::with_capacity(cfg.max_lookback_keys),
            lb_next_sweep: 0,
            rule_cur: vec![(0, NIL); rules.rules.len()],
            stamp: 0,
            watermark: 0,
            last_seq: 0,
            cur_slot: NIL,
            cur_ref_row: u32::MAX,
            group: 0,
            pending: Vec::with_capacity(max_runs_per_key.min(1 << 12) + 64),
            match_nodes: Vec::with_capacity(MAX_MATCH_LEN),
            refjoin,
            stats: EngineStats::default(),
            cfg: EngineConfig {
                max_runs_per_key,
                ..cfg
            },
        };
        Engine { set: rules, st }
    }

    /// The rules.
    pub fn rules(&self) -> &RuleSet {
        &self.set
    }

    /// Counters and state size.
    pub fn stats(&self) -> EngineStats {
        self.st.stats()
    }

    /// The latest event time seen (or passed to [`advance_to`](Self::advance_to)).
    pub fn watermark(&self) -> u64 {
        self.st.watermark
    }

    /// Processes one event: first fires the timers due at `ev.ts_ns` (windows that ended before this event), then
    /// advances every partial match of every rule for the event's keys, starts new ones, and hands each completed
    /// match to `sink` (in a deterministic order). Never allocates except to grow the pending-match buffer when a
    /// single event completes more matches than it holds.
    pub fn on_event<F, S>(&mut self, ev: &CepEvent, feats: &F, mut sink: S)
    where
        F: FeatureSource + ?Sized,
        S: FnMut(&Match<'_>),
    {
        let feats = &Feats(feats);
        self.st.on_event(&self.set, ev, feats, &mut sink);
    }

    /// Advances event time to `ts_ns` without an event (a heartbeat when the feed is idle): fires due timers,
    /// completing absence patterns and purging expired state. `seq` is reported on timer-completed matches.
    pub fn advance_to<F, S>(&mut self, ts_ns: u64, seq: u64, feats: &F, mut sink: S)
    where
        F: FeatureSource + ?Sized,
        S: FnMut(&Match<'_>),
    {
        let feats = &Feats(feats);
        self.st.advance(&self.set, ts_ns, seq, feats, &mut sink);
    }

    /// End of stream: fires every timer (as if time jumped to infinity), so patterns waiting for the end of their
    /// window complete, then frees all state.
    pub fn finish<F, S>(&mut self, feats: &F, mut sink: S)
    where
        F: FeatureSource + ?Sized,
        S: FnMut(&Match<'_>),
    {
        let feats = &Feats(feats);
        let seq = self.st.last_seq;
        self.st.advance(&self.set, u64::MAX, seq, feats, &mut sink);
    }
}

/// Wrapper so an unsized `FeatureSource` can be passed as `&dyn`.
struct Feats<'a, F: ?Sized>(&'a F);

impl<F: FeatureSource + ?Sized> FeatureSource for Feats<'_, F> {
    #[inline]
    fn features(&self, locate: u16) -> Option<&[f64]> {
        self.0.features(locate)
    }
}

type Sink<'s> = dyn FnMut(&Match<'_>) + 's;

impl State {
    fn stats(&self) -> EngineStats {
        let mut s = self.stats;
        s.runs_live = (self.runs.len() - self.run_free.len()) as u64;
        s.partitions_live = (self.parts.len() - self.part_free.len()) as u64;
        s.keys_live = (self.keys.len() - self.key_free.len()) as u64;
        s.nodes_live = self.store.nodes_live() as u64;
        s.events_live = self.store.events_live() as u64;
        s.lookback_keys_live = (self.lb.len() - self.lb_free.len()) as u64;
        s.state_bytes = s.runs_live * std::mem::size_of::<Run>() as u64
            + s.partitions_live * std::mem::size_of::<Partition>() as u64
            + s.keys_live * std::mem::size_of::<KeySlot>() as u64
            + s.nodes_live * std::mem::size_of::<Node>() as u64
            + s.events_live * std::mem::size_of::<EvSlot>() as u64
            + s.lookback_keys_live * std::mem::size_of::<LbEntry>() as u64;
        let c = &self.cfg;
        s.reserved_bytes = (c.max_runs * (std::mem::size_of::<Run>() + 4)
            + c.max_partitions * (std::mem::size_of::<Partition>() + 4 + 16)
            + c.max_keys * (std::mem::size_of::<KeySlot>() + 4)
            + self.keymap.bytes()
            + c.max_nodes * (std::mem::size_of::<Node>() + 4)
            + c.max_events * (std::mem::size_of::<EvSlot>() + 4)
            + c.max_lookback_keys * (std::mem::size_of::<LbEntry>() + 4)
            + self.lbmap.bytes()) as u64;
        s
    }

    fn env<'a>(
        &'a self,
        set: &'a RuleSet,
        cand: &'a CepEvent,
        ref_row: u32,
        stage_last: &'a [u32],
        stage_count: &'a [u16],
        feats: &'a dyn FeatureSource,
    ) -> Env<'a> {
        Env {
            cand,
            stage_last,
            stage_count,
            store: &self.store,
            feats,
            refdata: set.ctx.refdata.as_deref(),
            ref_row,
            models: &set.ctx.models,
        }
    }

    /// Whether `ev` (the current event) satisfies step `s` of `rule` given the binding of `run`.
    #[inline]
    fn accepts(
        &self,
        set: &RuleSet,
        rule: &Rule,
        s: u8,
        ev: &CepEvent,
        run: &Run,
        feats: &dyn FeatureSource,
    ) -> bool {
        let st = &rule.stages[s as usize];
        if st.kinds & (1u64 << ev.kind.0) == 0 {
            return false;
        }
        match &st.cond {
            None => true,
            Some(p) => truthy(
                self.env(
                    set,
                    ev,
                    self.cur_ref_row,
                    &run.stage_last,
                    &run.stage_count,
                    feats,
                )
                .eval(p),
            ),
        }
    }

    fn eval_clause(
        &self,
        set: &RuleSet,
        p: &Program,
        pm_last: &[u32],
        pm_count: &[u16],
        tail: u32,
        feats: &dyn FeatureSource,
    ) -> f64 {
        let ev = self.store.node_event(tail);
        let row = self.ref_row_of(set, ev);
        self.env(set, ev, row, pm_last, pm_count, feats).eval(p)
    }

    fn ref_row_of(&self, set: &RuleSet, ev: &CepEvent) -> u32 {
        match &set.ctx.refdata {
            Some(r) => r.row(&ev.symbol).unwrap_or(u32::MAX),
            None => u32::MAX,
        }
    }

    fn on_event(
        &mut self,
        set: &RuleSet,
        ev: &CepEvent,
        feats: &dyn FeatureSource,
        sink: &mut Sink<'_>,
    ) {
        self.stats.events += 1;
        if ev.ts_ns < self.watermark {
            self.stats.late_events += 1;
        } else {
            self.advance(set, ev.ts_ns, ev.seq, feats, sink);
        }
        self.last_seq = ev.seq;
        self.stamp += 1;
        self.cur_slot = NIL;
        self.group = 0;
        self.cur_ref_row = match &mut self.refjoin {
            Some(j) => j.row(ev.locate, &ev.symbol).unwrap_or(u32::MAX),
            None => u32::MAX,
        };
        let kind_bit = 1u64 << (ev.kind.0 & 63);

        // 1. Existing partial matches for this event's keys.
        for si in 0..self.schemes.len() {
            let scheme = self.schemes[si];
            let key = key_of(scheme, ev);
            let h = hash_key(scheme, &key);
            let keys = &self.keys;
            let Some(ks) = self.keymap.get(h, |s| {
                let k = &keys[s as usize];
                k.scheme == scheme && k.key == key
            }) else {
                continue;
            };
            let mut p = self.keys[ks as usize].head;
            while p != NIL {
                let part = &mut self.parts[p as usize];
                let next = part.next_in_key;
                if part.input & kind_bit != 0 {
                    part.pos += 1;
                    let (r, react) = (part.rule as usize, part.react);
                    self.rule_cur[r] = (self.stamp, p);
                    if react & kind_bit != 0 {
                        self.step_partition(set, &set.rules[r], p, ev, feats);
                    }
                }
                p = next;
            }
        }

        // 2. New partial matches: the rules whose start steps may accept this event's kind and symbol.
        let mut cand = std::mem::take(&mut self.cand);
        self.start_index.collect(ev, &mut cand);
        for &r in &cand {
            let r = r as usize;
            let rule = &set.rules[r];
            // Whether a `not_preceded_by` step blocks the start (looked up once a start step accepts).
            let mut blocked = None;
            for &s in &rule.start {
                if !self.accepts(set, rule, s, ev, &Run::EMPTY, feats) {
                    continue;
                }
                if !rule.lookbacks.is_empty()
                    && *blocked.get_or_insert_with(|| self.preceded(r, rule, ev))
                {
                    break;
                }
                let p = match self.partition_for(r, rule, ev) {
                    Some(p) => p,
                    None => break,
                };
                let pos = self.parts[p as usize].pos;
                let base = Run {
                    start_pos: pos,
                    start_ts: ev.ts_ns,
                    ..Run::EMPTY
                };
                self.take(set, rule, p, &base, s, ev, pos, feats);
            }
        }

        // 3. Remember events that `not_preceded_by` steps look back for (after the starts: an event does not
        //    precede itself).
        self.lb_index.collect(ev, &mut cand);
        for &r in &cand {
            self.remember(set, r as usize, ev, feats);
        }
        self.cand = cand;

        // 4. Emit.
        self.flush_pending(set, feats, sink);
        if self.cur_slot != NIL {
            self.store.release_event(self.cur_slot);
            self.cur_slot = NIL;
        }
    }

    /// Whether a `not_preceded_by` step of rule `r` saw a satisfying event of `ev`'s key less than its `within`
    /// before `ev`.
    fn preceded(&self, r: usize, rule: &Rule, ev: &CepEvent) -> bool {
        let key = key_of(rule.key, ev);
        let h = hash_key(rule.key, &key) ^ (r as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        let lb = &self.lb;
        let Some(i) = self.lbmap.get(h, |s| {
            let e = &lb[s as usize];
            e.rule == r as u32 && e.key == key
        }) else {
            return false;
        };
        let e = &self.lb[i as usize];
        rule.lookbacks
            .iter()
            .zip(e.last)
            .any(|(l, last)| last != u64::MAX && ev.ts_ns.saturating_sub(last) < l.within_ns)
    }

    /// Records `ev` for the `not_preceded_by` steps of rule `r` it satisfies.
    fn remember(&mut self, set: &RuleSet, r: usize, ev: &CepEvent, feats: &dyn FeatureSource) {
        let rule = &set.rules[r];
        if rule.input & (1u64 << (ev.kind.0 & 63)) == 0 {
            return;
        }
        let mut hits = [false; MAX_LOOKBACKS];
        let mut any = false;
        for (i, l) in rule.lookbacks.iter().enumerate() {
            if l.kinds & (1u64 << (ev.kind.0 & 63)) == 0 {
                continue;
            }
            let ok = match &l.cond {
                None => true,
                Some(p) => truthy(
                    self.env(
                        set,
                        ev,
                        self.cur_ref_row,
                        &Run::EMPTY.stage_last,
                        &Run::EMPTY.stage_count,
                        feats,
                    )
                    .eval(p),
                ),
            };
            hits[i] = ok;
            any |= ok;
        }
        if !any {
            return;
        }
        let key = key_of(rule.key, ev);
        let h = hash_key(rule.key, &key) ^ (r as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        let lb = &self.lb;
        let slot = match self.lbmap.get(h, |s| {
            let e = &lb[s as usize];
            e.rule == r as u32 && e.key == key
        }) {
            Some(s) => s,
            None => {
                if self.lb_free.is_empty() && self.lb.len() >= self.cfg.max_lookback_keys {
                    self.sweep_lookbacks(set);
                }
                let entry = LbEntry {
                    rule: r as u32,
                    key,
                    hash: h,
                    last: [u64::MAX; MAX_LOOKBACKS],
                    expires: 0,
                };
                let s = if let Some(s) = self.lb_free.pop() {
                    self.lb[s as usize] = entry;
                    s
                } else if self.lb.len() < self.cfg.max_lookback_keys {
                    self.lb.push(entry);
                    self.lb.len() as u32 - 1
                } else {
                    self.stats.dropped_lookback += 1;
                    return;
                };
                if !self.lbmap.insert(h, s) {
                    self.lb_free.push(s);
                    self.stats.dropped_lookback += 1;
                    return;
                }
                s
            }
        };
        let e = &mut self.lb[slot as usize];
        for (i, l) in rule.lookbacks.iter().enumerate() {
            if hits[i] {
                e.last[i] = ev.ts_ns;
                e.expires = e.expires.max(ev.ts_ns.saturating_add(l.within_ns));
            }
        }
    }

    /// Forgets lookback entries whose every step looks back past its `within` (at most once per shortest
    /// lookback window, so a table full of live entries is not scanned on every event).
    fn sweep_lookbacks(&mut self, set: &RuleSet) {
        if self.watermark < self.lb_next_sweep {
            return;
        }
        let mut shortest = u64::MAX;
        for r in &set.rules {
            for l in &r.lookbacks {
                shortest = shortest.min(l.within_ns);
            }
        }
        self.lb_next_sweep = self.watermark.saturating_add(shortest.min(1_000_000_000));
        for i in 0..self.lb.len() {
            let e = self.lb[i];
            if e.expires != u64::MAX && e.expires <= self.watermark {
                self.lbmap.remove(e.hash, i as u32);
                self.lb[i].expires = u64::MAX;
                self.lb_free.push(i as u32);
            }
        }
    }

    /// The emission group of partition `p` in the current step: partitions are numbered in the order of their
    /// first completion, so emission order is deterministic and a partition's matches are contiguous.
    fn group_of(&mut self, p: u32) -> u32 {
        let part = &mut self.parts[p as usize];
        if part.gstamp != self.stamp {
            self.group += 1;
            part.gstamp = self.stamp;
            part.group = self.group;
        }
        part.group
    }

    fn step_partition(
        &mut self,
        set: &RuleSet,
        rule: &Rule,
        p: u32,
        ev: &CepEvent,
        feats: &dyn FeatureSource,
    ) {
        let pos = self.parts[p as usize].pos;
        let n = self.parts[p as usize].n_runs;
        let mut prev = NIL;
        let mut ri = self.parts[p as usize].head;
        let kind_bit = 1u64 << (ev.kind.0 & 63);
        // Recomputed exactly over this pass: the runs kept below, plus those `spawn` adds.
        self.parts[p as usize].react = 0;
        for _ in 0..n {
            // Fast path: a run waiting (not strictly) for a step this event's kind cannot satisfy, with no guard to
            // test, is unaffected by the event.
            let mask = {
                let r = &self.runs[ri as usize];
                let mask = react_mask(rule, r);
                if mask & kind_bit == 0 {
                    self.parts[p as usize].react |= mask;
                    prev = ri;
                    ri = r.next;
                    continue;
                }
                mask
            };
            let run = self.runs[ri as usize];
            let keep = self.step_run(set, rule, p, &run, ev, pos, feats);
            let next = self.runs[ri as usize].next;
            if keep {
                self.parts[p as usize].react |= mask;
                prev = ri;
            } else {
                self.unlink_run(p, prev, ri);
            }
            ri = next;
        }
    }

    /// Advances one run over the current event; spawns its successors. Returns whether the run itself survives.
    #[allow(clippy::too_many_arguments)]
    fn step_run(
        &mut self,
        set: &RuleSet,
        rule: &Rule,
        p: u32,
        run: &Run,
        ev: &CepEvent,
        pos: u64,
        feats: &dyn FeatureSource,
    ) -> bool {
        let adjacent = pos == run.last_pos + 1;
        // not_next guards (explicit, and the implicit one of a greedy loop just left).
        if adjacent {
            if run.greedy_guard && self.accepts(set, rule, run.last_stage, ev, run, feats) {
                return false;
            }
            let mut g = run.guards;
            while g != 0 {
                let s = g.trailing_zeros() as u8;
                g &= g - 1;
                if rule.stages[s as usize].neg == Some(super::compile::Negation::Next)
                    && self.accepts(set, rule, s, ev, run, feats)
                {
                    return false;
                }
            }
        }
        let has_nf = {
            let mut g = run.guards;
            let mut any = false;
            while g != 0 {
                let s = g.trailing_zeros() as usize;
                g &= g - 1;
                any |= rule.stages[s].neg == Some(super::compile::Negation::FollowedBy);
            }
            any
        };
        if run.wait == WAIT_END {
            if !has_nf {
                // Only not_next-type guards, and this event passed them: complete now.
                self.complete(set, rule, p, run, ev.ts_ns, ev.seq, Trigger::Event, feats);
                return false;
            }
            return !self.violates_nf(set, rule, run, ev, feats);
        }
        let w = run.wait;
        let st = &rule.stages[w as usize];
        let contig = if run.stage_count[w as usize] > 0 {
            st.inner
        } else {
            st.contig
        };
        let mut took = false;
        if (contig != Contiguity::Strict || adjacent) && self.accepts(set, rule, w, ev, run, feats)
        {
            took = true;
            self.take(set, rule, p, run, w, ev, pos, feats);
        }
        let survive = match contig {
            Contiguity::Strict => false,
            Contiguity::Relaxed => !took,
            Contiguity::Any => true,
        };
        survive && !(has_nf && self.violates_nf(set, rule, run, ev, feats))
    }

    fn violates_nf(
        &self,
        set: &RuleSet,
        rule: &Rule,
        run: &Run,
        ev: &CepEvent,
        feats: &dyn FeatureSource,
    ) -> bool {
        let mut g = run.guards;
        while g != 0 {
            let s = g.trailing_zeros() as u8;
            g &= g - 1;
            if rule.stages[s as usize].neg == Some(super::compile::Negation::FollowedBy)
                && self.accepts(set, rule, s, ev, run, feats)
            {
                return true;
            }
        }
        false
    }

    /// Binds the current event to step `w` of `base` and spawns the continuations.
    #[allow(clippy::too_many_arguments)]
    fn take(
        &mut self,
        set: &RuleSet,
        rule: &Rule,
        p: u32,
        base: &Run,
        w: u8,
        ev: &CepEvent,
        pos: u64,
        feats: &dyn FeatureSource,
    ) {
        if base.total as usize >= MAX_MATCH_LEN {
            self.stats.dropped_len_cap += 1;
            return;
        }
        if self.cur_slot == NIL {
            match self.store.alloc_event(ev) {
                Some(s) => self.cur_slot = s,
                None => {
                    self.stats.dropped_pool += 1;
                    return;
                }
            }
        }
        let Some(node) = self.store.alloc_node(self.cur_slot, base.tail, w, pos) else {
            self.stats.dropped_pool += 1;
            return;
        };
        let mut nr = *base;
        nr.tail = node;
        nr.stage_last[w as usize] = node;
        nr.stage_count[w as usize] += 1;
        nr.total += 1;
        nr.last_pos = pos;
        nr.last_stage = w;
        nr.next = NIL;
        let st = &rule.stages[w as usize];
        let k = nr.stage_count[w as usize];
        if k < st.max {
            self.spawn(
                rule,
                p,
                Run {
                    wait: w,
                    guards: 0,
                    greedy_guard: false,
                    ..nr
                },
            );
        }
        if k >= st.min {
            let greedy = st.greedy && k < st.max;
            for &j in &st.succ {
                self.spawn(
                    rule,
                    p,
                    Run {
                        wait: j,
                        guards: rule.guards_between(Some(w), Some(j)),
                        greedy_guard: greedy,
                        ..nr
                    },
                );
            }
            if st.can_end {
                let guards = rule.guards_between(Some(w), None);
                if guards == 0 && !greedy {
                    self.complete(set, rule, p, &nr, ev.ts_ns, ev.seq, Trigger::Event, feats);
                } else {
                    self.spawn(
                        rule,
                        p,
                        Run {
                            wait: WAIT_END,
                            guards,
                            greedy_guard: greedy,
                            ..nr
                        },
                    );
                }
            }
        }
        self.store.release(node);
    }

    fn spawn(&mut self, rule: &Rule, p: u32, run: Run) {
        let part = &self.parts[p as usize];
        if part.n_runs as usize >= self.cfg.max_runs_per_key {
            self.stats.dropped_key_cap += 1;
            return;
        }
        let ri = if let Some(i) = self.run_free.pop() {
            i
        } else if self.runs.len() < self.cfg.max_runs {
            self.runs.push(Run::EMPTY);
            self.runs.len() as u32 - 1
        } else {
            self.stats.dropped_total_cap += 1;
            return;
        };
        self.store.retain(run.tail);
        self.runs[ri as usize] = Run { next: NIL, ..run };
        let part = &mut self.parts[p as usize];
        if part.tail == NIL {
            part.head = ri;
        } else {
            self.runs[part.tail as usize].next = ri;
        }
        part.tail = ri;
        part.n_runs += 1;
        part.react |= react_mask(rule, &run);
        let live = (self.runs.len() - self.run_free.len()) as u64;
        if live > self.stats.runs_peak {
            self.stats.runs_peak = live;
        }
    }

    /// Removes run `ri` (whose predecessor in partition `p` is `prev`).
    fn unlink_run(&mut self, p: u32, prev: u32, ri: u32) {
        let next = self.runs[ri as usize].next;
        let part = &mut self.parts[p as usize];
        if prev == NIL {
            part.head = next;
        } else {
            self.runs[prev as usize].next = next;
        }
        if part.tail == ri {
            part.tail = prev;
        }
        part.n_runs -= 1;
        let tail = self.runs[ri as usize].tail;
        self.store.release(tail);
        self.run_free.push(ri);
    }

    /// Records a completed match (if the rule's `having` holds).
    #[allow(clippy::too_many_arguments)]
    fn complete(
        &mut self,
        set: &RuleSet,
        rule: &Rule,
        p: u32,
        run: &Run,
        event_ts: u64,
        seq: u64,
        trigger: Trigger,
        feats: &dyn FeatureSource,
    ) {
        if let Some(h) = &rule.having {
            if !truthy(self.eval_clause(set, h, &run.stage_last, &run.stage_count, run.tail, feats))
            {
                return;
            }
        }
        let group = self.group_of(p);
        self.store.retain(run.tail);
        self.pending.push(Pending {
            group,
            part: p,
            tail: run.tail,
            start_pos: run.start_pos,
            last_pos: run.last_pos,
            start_ts: run.start_ts,
            event_ts,
            seq,
            trigger,
            stage_last: run.stage_last,
            stage_count: run.stage_count,
        });
    }

    /// Sorts the pending matches, applies skip strategies per partition and emits the survivors.
    fn flush_pending(&mut self, set: &RuleSet, feats: &dyn FeatureSource, sink: &mut Sink<'_>) {
        if self.pending.is_empty() {
            return;
        }
        {
            let store = &self.store;
            self.pending.sort_unstable_by(|a, b| {
                a.group
                    .cmp(&b.group)
                    .then(a.start_pos.cmp(&b.start_pos))
                    .then_with(|| cmp_chains(store, a.tail, b.tail))
            });
        }
        let mut i = 0;
        while i < self.pending.len() {
            let pm = self.pending[i];
            let rule = &set.rules[self.parts[pm.part as usize].rule as usize];
            // Skip strategy: prune id of the matches emitted so far in this partition during this step.
            let mut prune: Option<u64> = None;
            let mut j = i;
            while j < self.pending.len() && self.pending[j].group == pm.group {
                let m = self.pending[j];
                j += 1;
                if rule.skip != SkipStrategy::NoSkip && prune.is_some_and(|pid| m.start_pos <= pid)
                {
                    self.stats.matches_skipped += 1;
                    continue;
                }
                self.emit(set, rule, &m, feats, sink);
                let pid = match rule.skip {
                    SkipStrategy::NoSkip => continue,
                    SkipStrategy::PastLastEvent => m.last_pos,
                    SkipStrategy::ToNext => m.start_pos,
                };
                let pid = prune.map_or(pid, |x| x.max(pid));
                prune = Some(pid);
                self.prune_runs(m.part, pid);
            }
            i = j;
        }
        for k in 0..self.pending.len() {
            let t = self.pending[k].tail;
            self.store.release(t);
        }
        self.pending.clear();
    }

    fn prune_runs(&mut self, p: u32, pid: u64) {
        let mut prev = NIL;
        let mut ri = self.parts[p as usize].head;
        while ri != NIL {
            let next = self.runs[ri as usize].next;
            if self.runs[ri as usize].start_pos <= pid {
                self.unlink_run(p, prev, ri);
                self.stats.runs_pruned += 1;
            } else {
                prev = ri;
            }
            ri = next;
        }
    }

    fn emit(
        &mut self,
        set: &RuleSet,
        rule: &Rule,
        m: &Pending,
        feats: &dyn FeatureSource,
        sink: &mut Sink<'_>,
    ) {
        self.match_nodes.clear();
        let mut n = m.tail;
        while n != NIL {
            self.match_nodes.push(n);
            n = self.store.node(n).prev;
        }
        self.match_nodes.reverse();
        let score = rule.score.as_ref().map_or(1.0, |p| {
            self.eval_clause(set, p, &m.stage_last, &m.stage_count, m.tail, feats)
        });
        let side = rule.side.as_ref().map_or(0, |p| {
            let v = self.eval_clause(set, p, &m.stage_last, &m.stage_count, m.tail, feats);
            if v > 0.0 {
                1
            } else if v < 0.0 {
                -1
            } else {
                0
            }
        });
        self.stats.matches += 1;
        if m.trigger == Trigger::Timer {
            self.stats.matches_by_timer += 1;
        }
        let part = &self.parts[m.part as usize];
        let key = self.keys[part.keyslot as usize].key;
        let mv = Match {
            rule,
            rule_id: part.rule as usize,
            schema: &set.ctx.schema,
            store: &self.store,
            nodes: &self.match_nodes,
            key,
            event_ts_ns: m.event_ts,
            window_start_ns: m.start_ts,
            window_end_ns: m.event_ts,
            seq: m.seq,
            score,
            side,
            by_timer: m.trigger == Trigger::Timer,
        };
        sink(&mv);
    }

    /// The partition of rule `r` for the current event's key, created if needed.
    fn partition_for(&mut self, r: usize, rule: &Rule, ev: &CepEvent) -> Option<u32> {
        if self.rule_cur[r].0 == self.stamp {
            return Some(self.rule_cur[r].1);
        }
        let scheme = rule.key;
        let key = key_of(scheme, ev);
        let h = hash_key(scheme, &key);
        let keys = &self.keys;
        let ks = match self.keymap.get(h, |s| {
            let k = &keys[s as usize];
            k.scheme == scheme && k.key == key
        }) {
            Some(ks) => ks,
            None => {
                let slot = KeySlot {
                    scheme,
                    key,
                    hash: h,
                    head: NIL,
                    tail: NIL,
                    live: true,
                };
                let ks = if let Some(i) = self.key_free.pop() {
                    self.keys[i as usize] = slot;
                    i
                } else if self.keys.len() < self.cfg.max_keys {
                    self.keys.push(slot);
                    self.keys.len() as u32 - 1
                } else {
                    self.stats.dropped_partition_cap += 1;
                    return None;
                };
                if !self.keymap.insert(h, ks) {
                    self.keys[ks as usize].live = false;
                    self.key_free.push(ks);
                    self.stats.dropped_partition_cap += 1;
                    return None;
                }
                ks
            }
        };
        let part = Partition {
            rule: r as u32,
            keyslot: ks,
            prev_in_key: self.keys[ks as usize].tail,
            next_in_key: NIL,
            head: NIL,
            tail: NIL,
            n_runs: 0,
            pos: 1,
            timer_at: ev.ts_ns.saturating_add(rule.within_ns),
            group: 0,
            gstamp: 0,
            live: true,
            input: rule.input,
            react: 0,
        };
        let p = if let Some(i) = self.part_free.pop() {
            self.parts[i as usize] = part;
            i
        } else if self.parts.len() < self.cfg.max_partitions {
            self.parts.push(part);
            self.parts.len() as u32 - 1
        } else {
            self.stats.dropped_partition_cap += 1;
            if self.keys[ks as usize].head == NIL {
                self.free_key(ks);
            }
            return None;
        };
        let kslot = &mut self.keys[ks as usize];
        if kslot.tail == NIL {
            kslot.head = p;
        } else {
            self.parts[kslot.tail as usize].next_in_key = p;
        }
        kslot.tail = p;
        self.timers.push(Reverse((part.timer_at, p)));
        self.rule_cur[r] = (self.stamp, p);
        Some(p)
    }

    fn free_key(&mut self, ks: u32) {
        let k = self.keys[ks as usize];
        self.keymap.remove(k.hash, ks);
        self.keys[ks as usize].live = false;
        self.key_free.push(ks);
    }

    fn free_partition(&mut self, p: u32) {
        let part = self.parts[p as usize];
        debug_assert_eq!(part.n_runs, 0);
        if part.prev_in_key == NIL {
            self.keys[part.keyslot as usize].head = part.next_in_key;
        } else {
            self.parts[part.prev_in_key as usize].next_in_key = part.next_in_key;
        }
        if part.next_in_key == NIL {
            self.keys[part.keyslot as usize].tail = part.prev_in_key;
        } else {
            self.parts[part.next_in_key as usize].prev_in_key = part.prev_in_key;
        }
        self.parts[p as usize].live = false;
        self.part_free.push(p);
        self.stats.partitions_purged += 1;
        if self.keys[part.keyslot as usize].head == NIL {
            self.free_key(part.keyslot);
        }
    }

    /// Fires every timer due at `now`.
    fn advance(
        &mut self,
        set: &RuleSet,
        now: u64,
        seq: u64,
        feats: &dyn FeatureSource,
        sink: &mut Sink<'_>,
    ) {
        if now > self.watermark {
            self.watermark = now;
        }
        while let Some(&Reverse((at, p))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let part = self.parts[p as usize];
            if !part.live || part.timer_at != at {
                continue;
            }
            self.fire(set, p, now, seq, feats, sink);
        }
    }

    fn fire(
        &mut self,
        set: &RuleSet,
        p: u32,
        now: u64,
        seq: u64,
        feats: &dyn FeatureSource,
        sink: &mut Sink<'_>,
    ) {
        let rule = &set.rules[self.parts[p as usize].rule as usize];
        let w = rule.within_ns;
        // A timer batch is its own emission step.
        self.stamp += 1;
        let mut prev = NIL;
        let mut ri = self.parts[p as usize].head;
        while ri != NIL {
            let run = self.runs[ri as usize];
            let deadline = run.start_ts.saturating_add(w);
            if deadline <= now {
                if run.wait == WAIT_END {
                    self.complete(set, rule, p, &run, deadline, seq, Trigger::Timer, feats);
                } else {
                    self.stats.runs_expired += 1;
                }
                self.unlink_run(p, prev, ri);
            } else {
                prev = ri;
            }
            ri = run.next;
        }
        self.flush_pending(set, feats, sink);
        // Reschedule at the earliest remaining deadline, or purge the idle partition.
        let mut next_at = u64::MAX;
        let mut ri = self.parts[p as usize].head;
        while ri != NIL {
            let run = &self.runs[ri as usize];
            next_at = next_at.min(run.start_ts.saturating_add(w));
            ri = run.next;
        }
        if self.parts[p as usize].n_runs == 0 {
            self.free_partition(p);
        } else {
            self.parts[p as usize].timer_at = next_at;
            self.timers.push(Reverse((next_at, p)));
        }
    }
}

/// Lexicographic order of two bindings by `(position, step)`.
fn cmp_chains(store: &Store, a: u32, b: u32) -> Ordering {
    let mut x = [(0u64, 0u8); MAX_MATCH_LEN];
    let mut y = [(0u64, 0u8); MAX_MATCH_LEN];
    let la = store.chain(a, &mut x);
    let lb = store.chain(b, &mut y);
    x[..la].cmp(&y[..lb])
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cep::event::{symbol_bytes, FieldId, KindId};
    use crate::cep::CompileContext;

    fn rules(src: &str) -> RuleSet {
        let schema = Schema::builder()
            .field("x")
            .kind("A", &["x"])
            .kind("B", &["x"])
            .kind("C", &["x"])
            .build();
        let mut rs = RuleSet::new(CompileContext::new(Arc::new(schema)));
        rs.add_str("test.cep", src)
            .unwrap_or_else(|e| panic!("{e}"));
        rs
    }

    const SRC: &str = r#"
        rule mod3 { partition by symbol within 40ms pattern {
            a: A where a.x >= 2 and a.locate % 3 == 1
            followed_by b: B where b.x > a.x } }
        rule mod3b { partition by symbol within 40ms skip past_last_event pattern {
            a: A | B where a.locate % 3 == 2 and a.x < 7 times 2..3
            followed_by c: C } }
        rule mod4 { partition by order_ref within 30ms pattern {
            a: A where (a.locate % 4 == 0) and a.x > 1
            not_followed_by n: C
            next b: B } }
        rule loc5 { partition by symbol within 50ms pattern {
            a: A where a.locate == 5
            followed_by_any b: B | C } }
        rule sym { partition by symbol within 50ms skip to_next pattern {
            a: B where "S007" == a.symbol and a.x >= 0
            followed_by b: A } }
        rule sym2 { partition by none within 20ms pattern {
            a: C where a.symbol == "S011"
            followed_by b: C where b.symbol != a.symbol } }
        rule either { partition by symbol within 40ms pattern {
            a: A where a.locate % 3 == 1 or a.x > 8
            followed_by b: B } }
        rule opt { partition by symbol within 40ms pattern {
            a: A where a.locate % 2 == 0 optional
            followed_by b: B where b.locate % 5 == 1
            followed_by c: C } }
        rule lb { partition by symbol within 60ms skip past_last_event pattern {
            not_preceded_by p: B where p.locate % 3 == 0 and p.x > 5 within 10ms
            a: A where a.locate % 3 == 0
            followed_by b: C } }
        rule never { partition by symbol within 60ms pattern {
            a: A where a.locate % 3 == 7
            followed_by b: C } }
        rule plain { partition by symbol within 30ms pattern {
            a: C where a.x > 4
            next b: A } }
    "#;

    #[test]
    fn filters_are_extracted_from_the_first_steps() {
        let rs = rules(SRC);
        let f: Vec<(KeyFilter, KeyFilter)> = rs
            .rules
            .iter()
            .map(|r| (r.start_filter, r.lookback_filter))
            .collect();
        use KeyFilter::*;
        assert_eq!(f[0].0, LocateMod(3, 1));
        assert_eq!(f[1].0, LocateMod(3, 2));
        assert_eq!(f[2].0, LocateMod(4, 0));
        assert_eq!(f[3].0, Locate(5));
        assert_eq!(f[4].0, Symbol(symbol_bytes("S007")));
        assert_eq!(f[5].0, Symbol(symbol_bytes("S011")));
        assert_eq!(f[6].0, Any, "`or` gives no constraint");
        assert_eq!(
            f[7].0, Any,
            "optional first step: starts at a or b, constraints differ"
        );
        assert_eq!(f[8], (LocateMod(3, 0), LocateMod(3, 0)));
        assert_eq!(f[9].0, Any, "a residue out of range is not indexed");
        assert_eq!(f[10].0, Any);
    }

    type Got = Vec<(usize, PartitionKey, u64, u64, bool, Vec<(u64, usize)>)>;

    fn run(by_symbol: bool, events: &[CepEvent]) -> (Got, EngineStats) {
        let mut e = Engine::build(rules(SRC), EngineConfig::small(), by_symbol);
        let mut got = Got::new();
        let mut sink = |m: &Match<'_>| {
            got.push((
                m.rule_id(),
                m.key,
                m.event_ts_ns,
                m.seq,
                m.by_timer,
                m.events().map(|(s, e)| (e.seq, s)).collect(),
            ))
        };
        for ev in events {
            e.on_event(ev, &(), &mut sink);
        }
        e.finish(&(), &mut sink);
        (got, e.stats())
    }

    /// The symbol index changes which rules an event is offered to, never the matches or their order.
    #[test]
    fn symbol_index_gives_the_same_matches_as_kind_only_dispatch() {
        for seed in 1..=20u64 {
            let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ seed.wrapping_mul(0xA24B_AED4_963E_E407);
            let mut next = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let mut ts = 1_000_000_000u64;
            let events: Vec<CepEvent> = (0..3000u64)
                .map(|i| {
                    let r = next();
                    ts += r % 3_000_000;
                    let locate = 1 + (r >> 8) as u16 % 13;
                    let mut e = CepEvent::new(KindId((r >> 20) as u8 % 3), ts)
                        .with(FieldId(0), ((r >> 24) % 10) as f64);
                    e.seq = i + 1;
                    e.locate = locate;
                    e.order_ref = 1 + (r >> 32) % 6;
                    e.symbol = symbol_bytes(&format!("S{locate:03}"));
                    e
                })
                .collect();
            let (a, sa) = run(true, &events);
            let (b, sb) = run(false, &events);
            assert!(a.len() > 100, "seed {seed}: {} matches", a.len());
            assert_eq!(a, b, "seed {seed}");
            assert_eq!(sa, sb, "seed {seed}");
            for r in 0..11 {
                assert!(
                    a.iter().any(|m| m.0 == r) || r == 9,
                    "seed {seed}: rule {r} never matched"
                );
            }
        }
    }
}
