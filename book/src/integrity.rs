//! Integrity counters: every way a feed can disagree with the book, counted, never fatal.

use serde::Serialize;

/// Counters of messages that were inconsistent with the book. The book always stays internally consistent: the
/// offending message is applied as far as it makes sense (clamped) or ignored, and counted here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Integrity {
    /// Executions, cancels, deletes or replaces naming an order reference the book does not hold.
    pub unknown_order: u64,
    /// Adds (or replace targets) reusing a reference that is still live; the new order replaces the old one.
    pub duplicate_add: u64,
    /// Executions of more shares than the order had left; the order is removed (clamped to what it had).
    pub over_execution: u64,
    /// Cancels of more shares than the order had left; the order is removed.
    pub over_cancel: u64,
    /// Messages after which the book was crossed (best bid > best offer). Not repaired.
    pub crossed: u64,
    /// Messages after which the book was locked (best bid == best offer). Not repaired.
    pub locked: u64,
    /// Transitions of a book into the crossed state (how many times it became crossed).
    pub crossed_episodes: u64,
    /// Messages naming a book index (locate) with no directory entry; they are still applied.
    pub unknown_symbol: u64,
    /// Messages that could not be applied at all (zero-size adds, invalid sides, order references that do not fit
    /// the order store, an exhausted order pool).
    pub rejected: u64,
}

impl Integrity {
    /// Sum of all anomaly counters except the crossed/locked state counters (which are market states, not errors).
    pub fn anomalies(&self) -> u64 {
        self.unknown_order
            + self.duplicate_add
            + self.over_execution
            + self.over_cancel
            + self.unknown_symbol
            + self.rejected
    }

    /// Adds another set of counters to this one (merging shards).
    pub fn merge(&mut self, o: &Integrity) {
        self.unknown_order += o.unknown_order;
        self.duplicate_add += o.duplicate_add;
        self.over_execution += o.over_execution;
        self.over_cancel += o.over_cancel;
        self.crossed += o.crossed;
        self.locked += o.locked;
        self.crossed_episodes += o.crossed_episodes;
        self.unknown_symbol += o.unknown_symbol;
        self.rejected += o.rejected;
    }
}
