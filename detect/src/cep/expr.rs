//! Compiled predicate programs: a small postfix bytecode over `f64` values, evaluated with a fixed-size stack.
//!
//! Booleans are `0.0` / `1.0`; a value is *true* when it is neither `0` nor `NaN`. Missing values (an optional step
//! that bound nothing, a field a kind does not carry, a symbol absent from the reference data) are `NaN`, so every
//! comparison with them is false. Evaluation never allocates.

use super::engine::{Store, NIL};
use super::event::{CepEvent, FieldId};
use super::FeatureSource;
use crate::enrich::RefData;
use crate::score::ModelSet;

/// Maximum evaluation stack depth of a program (checked at compile time).
pub(crate) const MAX_STACK: usize = 32;

/// Which event a field is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Src {
    /// The event being tested (a step's candidate; for rule-level clauses, the completing event).
    Cand,
    /// The last event bound to a step.
    Last(u8),
}

/// A field of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fld {
    Ts,
    Seq,
    Locate,
    Mpid,
    OrderRef,
    Kind,
    Val(u8),
}

impl Fld {
    #[inline]
    pub fn read(self, e: &CepEvent) -> f64 {
        match self {
            Fld::Ts => e.ts_ns as f64,
            Fld::Seq => e.seq as f64,
            Fld::Locate => e.locate as f64,
            Fld::Mpid => e.mpid as f64,
            Fld::OrderRef => e.order_ref as f64,
            Fld::Kind => e.kind.0 as f64,
            Fld::Val(i) => e.get(FieldId(i)),
        }
    }
}

/// Aggregates over the events bound to one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Agg {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    First,
    Last,
    Distinct,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    Const(f64),
    Load(Src, Fld),
    Agg(Agg, u8, Fld),
    /// Pops v; pushes whether any event bound to the step has field == v.
    In(u8, Fld),
    SymEq(Src, [u8; 8]),
    Ref(u16),
    RefText(u16),
    RefTextEq(u16, u32),
    Feat(u16),
    Score(u16),
    Neg,
    Not,
    Abs,
    IsNan,
    Truth,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Min,
    Max,
    Coalesce,
    Bps,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    /// If the top is false, replace it by 0 and jump to the index; else pop it.
    JumpIfFalse(u16),
    /// If the top is true, replace it by 1 and jump to the index; else pop it.
    JumpIfTrue(u16),
}

/// A compiled expression.
#[derive(Debug, Clone, Default)]
pub(crate) struct Program {
    pub ops: Vec<Op>,
}

#[inline]
pub(crate) fn truthy(v: f64) -> bool {
    v != 0.0 && !v.is_nan()
}

#[inline]
fn b(x: bool) -> f64 {
    if x {
        1.0
    } else {
        0.0
    }
}

/// Everything a program can read.
pub(crate) struct Env<'a> {
    /// The candidate (step conditions) or completing event (rule clauses).
    pub cand: &'a CepEvent,
    /// Last node bound per step (`NIL` if none).
    pub stage_last: &'a [u32],
    /// Events bound per step.
    pub stage_count: &'a [u16],
    pub store: &'a Store,
    pub feats: &'a dyn FeatureSource,
    pub refdata: Option<&'a RefData>,
    /// Reference-data row of `cand`'s symbol (`u32::MAX` = missing).
    pub ref_row: u32,
    pub models: &'a ModelSet,
}

impl Env<'_> {
    #[inline]
    fn src(&self, s: Src) -> Option<&CepEvent> {
        match s {
            Src::Cand => Some(self.cand),
            Src::Last(st) => {
                let n = self.stage_last[st as usize];
                if n == NIL {
                    None
                } else {
                    Some(self.store.node_event(n))
                }
            }
        }
    }

    /// Calls `f` on every event bound to `stage`, newest first, until it returns false.
    #[inline]
    fn each(&self, stage: u8, mut f: impl FnMut(&CepEvent) -> bool) {
        let mut n = self.stage_last[stage as usize];
        while n != NIL {
            let node = self.store.node(n);
            if node.stage != stage {
                break;
            }
            if !f(self.store.event(node.ev)) {
                break;
            }
            n = node.prev;
        }
    }

    fn agg(&self, a: Agg, stage: u8, f: Fld) -> f64 {
        let cnt = self.stage_count[stage as usize];
        match a {
            Agg::Count => cnt as f64,
            Agg::Sum => {
                let mut s = 0.0;
                self.each(stage, |e| {
                    s += f.read(e);
                    true
                });
                s
            }
            Agg::Avg => {
                if cnt == 0 {
                    return f64::NAN;
                }
                let mut s = 0.0;
                self.each(stage, |e| {
                    s += f.read(e);
                    true
                });
                s / cnt as f64
            }
            Agg::Min | Agg::Max => {
                let mut m = f64::NAN;
                self.each(stage, |e| {
                    let v = f.read(e);
                    if m.is_nan() || (a == Agg::Min && v < m) || (a == Agg::Max && v > m) {
                        m = v;
                    }
                    true
                });
                m
            }
            Agg::First => {
                let mut v = f64::NAN;
                self.each(stage, |e| {
                    v = f.read(e);
                    true
                });
                v
            }
            Agg::Last => self.src(Src::Last(stage)).map_or(f64::NAN, |e| f.read(e)),
            Agg::Distinct => {
                // O(n²) over the bound events, no allocation: count values not seen among newer events.
                let mut distinct = 0u32;
                let mut n = self.stage_last[stage as usize];
                while n != NIL {
                    let node = self.store.node(n);
                    if node.stage != stage {
                        break;
                    }
                    let v = f.read(self.store.event(node.ev));
                    let mut seen = false;
                    let mut m = self.stage_last[stage as usize];
                    while m != n {
                        let nm = self.store.node(m);
                        if f.read(self.store.event(nm.ev)) == v {
                            seen = true;
                            break;
                        }
                        m = nm.prev;
                    }
                    if !seen && !v.is_nan() {
                        distinct += 1;
                    }
                    n = node.prev;
                }
                distinct as f64
            }
        }
    }

    /// Runs `p`; returns the value on top of the stack.
    pub fn eval(&self, p: &Program) -> f64 {
        let mut st = [0.0f64; MAX_STACK];
        let mut sp = 0usize;
        let ops = &p.ops;
        let mut pc = 0usize;
        macro_rules! push {
            ($v:expr) => {{
                st[sp] = $v;
                sp += 1;
            }};
        }
        macro_rules! bin {
            ($f:expr) => {{
                let r = st[sp - 1];
                let l = st[sp - 2];
                sp -= 1;
                st[sp - 1] = $f(l, r);
            }};
        }
        while pc < ops.len() {
            match ops[pc] {
                Op::Const(v) => push!(v),
                Op::Load(s, f) => push!(self.src(s).map_or(f64::NAN, |e| f.read(e))),
                Op::Agg(a, s, f) => push!(self.agg(a, s, f)),
                Op::In(s, f) => {
                    let v = st[sp - 1];
                    let mut found = false;
                    self.each(s, |e| {
                        found = f.read(e) == v;
                        !found
                    });
                    st[sp - 1] = b(found);
                }
                Op::SymEq(s, lit) => push!(b(self.src(s).is_some_and(|e| e.symbol == lit))),
                Op::Ref(col) => push!(match self.refdata {
                    Some(r) if self.ref_row != u32::MAX => r.num(self.ref_row, col as usize),
                    _ => f64::NAN,
                }),
                Op::RefText(col) => push!(match self.refdata {
                    Some(r) if self.ref_row != u32::MAX => {
                        let id = r.text_id(self.ref_row, col as usize);
                        if id == u32::MAX {
                            f64::NAN
                        } else {
                            id as f64
                        }
                    }
                    _ => f64::NAN,
                }),
                Op::RefTextEq(col, id) => push!(b(match self.refdata {
                    Some(r) if self.ref_row != u32::MAX && id != u32::MAX =>
                        r.text_id(self.ref_row, col as usize) == id,
                    _ => false,
                })),
                Op::Feat(i) => push!(self
                    .feats
                    .features(self.cand.locate)
                    .and_then(|v| v.get(i as usize).copied())
                    .unwrap_or(f64::NAN)),
                Op::Score(m) => push!(match self.feats.features(self.cand.locate) {
                    Some(v) => self.models.score(m as usize, v),
                    None => f64::NAN,
                }),
                Op::Neg => st[sp - 1] = -st[sp - 1],
                Op::Not => st[sp - 1] = b(!truthy(st[sp - 1])),
                Op::Abs => st[sp - 1] = st[sp - 1].abs(),
                Op::IsNan => st[sp - 1] = b(st[sp - 1].is_nan()),
                Op::Truth => st[sp - 1] = b(truthy(st[sp - 1])),
                Op::Add => bin!(|l: f64, r: f64| l + r),
                Op::Sub => bin!(|l: f64, r: f64| l - r),
                Op::Mul => bin!(|l: f64, r: f64| l * r),
                Op::Div => bin!(|l: f64, r: f64| l / r),
                Op::Rem => bin!(|l: f64, r: f64| l % r),
                Op::Min => bin!(|l: f64, r: f64| if l.is_nan() || r.is_nan() {
                    f64::NAN
                } else {
                    l.min(r)
                }),
                Op::Max => bin!(|l: f64, r: f64| if l.is_nan() || r.is_nan() {
                    f64::NAN
                } else {
                    l.max(r)
                }),
                Op::Coalesce => bin!(|l: f64, r: f64| if l.is_nan() { r } else { l }),
                Op::Bps => bin!(|l: f64, r: f64| (l - r) / r * 1e4),
                Op::Lt => bin!(|l: f64, r: f64| b(l < r)),
                Op::Le => bin!(|l: f64, r: f64| b(l <= r)),
                Op::Gt => bin!(|l: f64, r: f64| b(l > r)),
                Op::Ge => bin!(|l: f64, r: f64| b(l >= r)),
                Op::Eq => bin!(|l: f64, r: f64| b(l == r)),
                Op::Ne => bin!(|l: f64, r: f64| b(l != r && !l.is_nan() && !r.is_nan())),
                Op::JumpIfFalse(t) => {
                    if truthy(st[sp - 1]) {
                        sp -= 1;
                    } else {
                        st[sp - 1] = 0.0;
                        pc = t as usize;
                        continue;
                    }
                }
                Op::JumpIfTrue(t) => {
                    if truthy(st[sp - 1]) {
                        st[sp - 1] = 1.0;
                        pc = t as usize;
                        continue;
                    } else {
                        sp -= 1;
                    }
                }
            }
            pc += 1;
        }
        if sp == 0 {
            f64::NAN
        } else {
            st[sp - 1]
        }
    }
}

/// Net stack effect and whether an op is a jump, for the compile-time depth check.
pub(crate) fn stack_effect(op: &Op) -> i32 {
    match op {
        Op::Const(_)
        | Op::Load(..)
        | Op::Agg(..)
        | Op::SymEq(..)
        | Op::Ref(_)
        | Op::RefText(_)
        | Op::RefTextEq(..)
        | Op::Feat(_)
        | Op::Score(_) => 1,
        Op::In(..) | Op::Neg | Op::Not | Op::Abs | Op::IsNan | Op::Truth => 0,
        Op::Add
        | Op::Sub
        | Op::Mul
        | Op::Div
        | Op::Rem
        | Op::Min
        | Op::Max
        | Op::Coalesce
        | Op::Bps
        | Op::Lt
        | Op::Le
        | Op::Gt
        | Op::Ge
        | Op::Eq
        | Op::Ne => -1,
        // Taken: 0; not taken: -1. The depth check uses the not-taken path plus the peak before the jump, which is
        // an upper bound for both.
        Op::JumpIfFalse(_) | Op::JumpIfTrue(_) => -1,
    }
}

/// Upper bound of the stack depth `ops` reaches.
pub(crate) fn max_depth(ops: &[Op]) -> usize {
    let (mut d, mut m) = (0i32, 0i32);
    for op in ops {
        d += stack_effect(op);
        // A taken jump leaves one more value than the fall-through path; account for it.
        m = m.max(d + 1);
    }
    m.max(0) as usize
}
