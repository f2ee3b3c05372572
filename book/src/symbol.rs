//! Symbols and the symbol directory (book index ↔ ticker).
//!
//! ITCH assigns every stock a *locate* code (`u16`) in its stock directory message (`R`); every later message names
//! the stock by locate only. IEX names the symbol in every message; the book manager interns each IEX symbol to a
//! dense `u16` index of its own (from 1, in order of first appearance) so both feeds index books the same way.
//!
//! Allocation: [`SymbolDirectory`] grows when a symbol is first seen (directory messages, cold) and never on a lookup.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

/// An exchange symbol: 8 ASCII bytes, right-padded with spaces (ITCH) or as received (IEX). `Copy`, no heap.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Symbol(pub [u8; 8]);

impl Symbol {
    /// The empty symbol (eight spaces).
    pub const EMPTY: Symbol = Symbol(*b"        ");

    /// Builds a symbol from text: takes at most 8 bytes, pads with spaces.
    pub fn new(s: &str) -> Symbol {
        let mut b = *b"        ";
        for (d, s) in b.iter_mut().zip(s.as_bytes()) {
            *d = *s;
        }
        Symbol(b)
    }

    /// Builds a symbol from wire bytes (ITCH space-padded, IEX space-padded); NUL bytes are turned into spaces so
    /// both spellings compare equal.
    #[inline]
    pub fn from_bytes(b: [u8; 8]) -> Symbol {
        let mut b = b;
        for x in &mut b {
            if *x == 0 {
                *x = b' ';
            }
        }
        Symbol(b)
    }

    /// The symbol without trailing padding. Non-UTF-8 bytes yield `"?"`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0)
            .map(|s| s.trim_end_matches([' ', '\0']))
            .unwrap_or("?")
    }

    /// Whether the symbol is blank.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&b| b == b' ' || b == 0)
    }

    /// The 8 bytes as a big-endian integer (a cheap hash / sort key that orders like the text).
    #[inline]
    pub const fn key(&self) -> u64 {
        u64::from_be_bytes(self.0)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Symbol({:?})", self.as_str())
    }
}

/// Multiplicative hasher for `u64` keys (symbols as integers): one multiply per lookup. Not DoS-resistant, which is
/// fine for exchange-assigned tickers.
#[derive(Default, Clone, Copy, Debug)]
struct U64Hasher(u64);

impl Hasher for U64Hasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.0 = (x ^ (x >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Bidirectional map between book indices (ITCH stock locate or IEX interned index) and symbols.
#[derive(Debug, Clone, Default)]
pub struct SymbolDirectory {
    by_index: Vec<Symbol>,
    by_symbol: HashMap<u64, u16, BuildHasherDefault<U64Hasher>>,
    next_intern: u16,
}

impl SymbolDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        SymbolDirectory {
            by_index: Vec::new(),
            by_symbol: HashMap::default(),
            next_intern: 1,
        }
    }

    /// Records that `index` is `symbol` (ITCH stock directory `R`). A later entry for the same index replaces the
    /// earlier one (the symbol's old reverse mapping is dropped). Returns whether anything changed.
    pub fn insert(&mut self, index: u16, symbol: Symbol) -> bool {
        let i = index as usize;
        if self.by_index.len() <= i {
            self.by_index.resize(i + 1, Symbol::EMPTY);
        }
        let old = self.by_index[i];
        if old == symbol {
            return false;
        }
        if !old.is_empty() && self.by_symbol.get(&old.key()) == Some(&index) {
            self.by_symbol.remove(&old.key());
        }
        self.by_index[i] = symbol;
        self.by_symbol.insert(symbol.key(), index);
        if index >= self.next_intern {
            self.next_intern = index.saturating_add(1);
        }
        true
    }

    /// The index of `symbol`, assigning the next free index (from 1) if it is new (IEX). `None` only when all
    /// 65 535 indices are taken.
    pub fn intern(&mut self, symbol: Symbol) -> Option<u16> {
        if let Some(&i) = self.by_symbol.get(&symbol.key()) {
            return Some(i);
        }
        if self.next_intern == u16::MAX {
            return None;
        }
        let i = self.next_intern;
        self.insert(i, symbol);
        Some(i)
    }

    /// The symbol of `index`, if known. Never allocates.
    #[inline]
    pub fn get(&self, index: u16) -> Option<Symbol> {
        self.by_index
            .get(index as usize)
            .copied()
            .filter(|s| !s.is_empty())
    }

    /// The symbol of `index`, or [`Symbol::EMPTY`] when unknown.
    #[inline]
    pub fn symbol(&self, index: u16) -> Symbol {
        self.get(index).unwrap_or(Symbol::EMPTY)
    }

    /// The index of `symbol`, if known. Never allocates.
    #[inline]
    pub fn lookup(&self, symbol: Symbol) -> Option<u16> {
        self.by_symbol.get(&symbol.key()).copied()
    }

    /// The index of the symbol spelled `text` (trailing padding ignored).
    pub fn lookup_str(&self, text: &str) -> Option<u16> {
        self.lookup(Symbol::new(text))
    }

    /// Number of known symbols.
    pub fn len(&self) -> usize {
        self.by_symbol.len()
    }

    /// Whether no symbol is known.
    pub fn is_empty(&self) -> bool {
        self.by_symbol.is_empty()
    }

    /// All `(index, symbol)` pairs in index order.
    pub fn iter(&self) -> impl Iterator<Item = (u16, Symbol)> + '_ {
        self.by_index
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.is_empty())
            .map(|(i, s)| (i as u16, *s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_text() {
        let s = Symbol::new("AAPL");
        assert_eq!(s.0, *b"AAPL    ");
        assert_eq!(s.as_str(), "AAPL");
        assert_eq!(Symbol::from_bytes(*b"AAPL\0\0\0\0"), s);
        assert!(Symbol::EMPTY.is_empty());
        assert_eq!(format!("{s}"), "AAPL");
        assert!(Symbol::new("AA") < Symbol::new("AAPL"));
    }

    #[test]
    fn directory_insert_lookup_intern() {
        let mut d = SymbolDirectory::new();
        assert!(d.insert(7, Symbol::new("MSFT")));
        assert!(!d.insert(7, Symbol::new("MSFT")));
        assert_eq!(d.get(7), Some(Symbol::new("MSFT")));
        assert_eq!(d.get(6), None);
        assert_eq!(d.get(60000), None);
        assert_eq!(d.lookup_str("MSFT"), Some(7));
        assert_eq!(d.intern(Symbol::new("IBM")), Some(8));
        assert_eq!(d.intern(Symbol::new("IBM")), Some(8));
        d.insert(7, Symbol::new("ORCL"));
        assert_eq!(d.lookup_str("MSFT"), None);
        assert_eq!(d.lookup_str("ORCL"), Some(7));
        assert_eq!(d.len(), 2);
        let all: Vec<_> = d.iter().collect();
        assert_eq!(all, vec![(7, Symbol::new("ORCL")), (8, Symbol::new("IBM"))]);
    }
}
