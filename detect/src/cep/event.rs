//! The typed event view the CEP engine matches on, and the [`Schema`] that names its kinds and fields.
//!
//! The engine does not know the pipeline's record types. Every input is first turned into a [`CepEvent`]: a
//! fixed-size `Copy` struct with an event kind ([`KindId`]), the event time, the key fields used for partitioning
//! (stock locate / symbol, MPID, order reference) and up to [`MAX_FIELDS`] numeric fields addressed by a
//! [`FieldId`]. A [`Schema`] gives names to kinds and fields; rules are compiled against a schema, so a field name in
//! a rule becomes an array index once, at start-up. [`super::pipeline`] holds the schema and adapter for the
//! pipeline's book events; tests and other users build their own schemas with [`SchemaBuilder`].

use std::fmt;

/// Number of numeric field slots in a [`CepEvent`].
pub const MAX_FIELDS: usize = 24;

/// Maximum number of event kinds in a [`Schema`] (kinds are kept in a 64-bit set).
pub const MAX_KINDS: usize = 64;

/// An event kind, an index into the [`Schema`]'s kinds (`0..MAX_KINDS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct KindId(pub u8);

/// A numeric field slot of [`CepEvent::vals`] (`0..MAX_FIELDS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FieldId(pub u8);

/// One input event of the CEP engine. Fixed size, `Copy`, no heap.
///
/// Numeric fields that a kind does not carry should be left `NaN` (the [`CepEvent::new`] default): every comparison
/// with `NaN` is false, so a rule testing a missing field never matches by accident.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CepEvent {
    /// Event time in nanoseconds (feed time). Must be non-decreasing across calls for exact window semantics; a late
    /// event is still processed and counted in [`super::EngineStats::late_events`].
    pub ts_ns: u64,
    /// Transport sequence number (copied to alerts; not interpreted).
    pub seq: u64,
    /// Order reference (partition key `order_ref`); 0 when none.
    pub order_ref: u64,
    /// Symbol, ASCII padded with spaces (used for reference-data joins, `symbol == "..."` tests and alerts).
    pub symbol: [u8; 8],
    /// MPID as 4 ASCII bytes read big-endian (partition key `mpid`); 0 when anonymous.
    pub mpid: u32,
    /// Stock locate / book index (partition key `symbol`).
    pub locate: u16,
    /// What kind of event this is.
    pub kind: KindId,
    /// Numeric fields by [`FieldId`].
    pub vals: [f64; MAX_FIELDS],
}

impl CepEvent {
    /// An event of `kind` at `ts_ns`, every other field zero and every numeric field `NaN`.
    pub const fn new(kind: KindId, ts_ns: u64) -> CepEvent {
        CepEvent {
            ts_ns,
            seq: 0,
            order_ref: 0,
            symbol: *b"        ",
            mpid: 0,
            locate: 0,
            kind,
            vals: [f64::NAN; MAX_FIELDS],
        }
    }

    /// Numeric field `f` (`NaN` when out of range).
    #[inline]
    pub fn get(&self, f: FieldId) -> f64 {
        self.vals.get(f.0 as usize).copied().unwrap_or(f64::NAN)
    }

    /// Sets numeric field `f` (builder style; an out-of-range id is ignored).
    #[inline]
    pub fn with(mut self, f: FieldId, v: f64) -> CepEvent {
        if let Some(x) = self.vals.get_mut(f.0 as usize) {
            *x = v;
        }
        self
    }

    /// Symbol without padding (`"?"` if not UTF-8).
    pub fn symbol_str(&self) -> &str {
        text(&self.symbol)
    }

    /// MPID text, if any.
    pub fn mpid_str(&self) -> Option<String> {
        if self.mpid == 0 {
            return None;
        }
        let b = self.mpid.to_be_bytes();
        let s = text(&b);
        (!s.is_empty()).then(|| s.to_owned())
    }
}

/// Packs up to 4 ASCII bytes of an MPID into the big-endian `u32` used by [`CepEvent::mpid`]; all-blank → 0.
pub fn mpid_code(b: &[u8]) -> u32 {
    let mut x = [b' '; 4];
    for (d, s) in x.iter_mut().zip(b) {
        *d = *s;
    }
    if x.iter().all(|&c| c == b' ' || c == 0) {
        0
    } else {
        u32::from_be_bytes(x)
    }
}

/// Pads `s` to the 8-byte symbol layout of [`CepEvent::symbol`].
pub fn symbol_bytes(s: &str) -> [u8; 8] {
    let mut b = [b' '; 8];
    for (d, s) in b.iter_mut().zip(s.as_bytes()) {
        *d = *s;
    }
    b
}

pub(crate) fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b)
        .map(|s| s.trim_end_matches([' ', '\0']))
        .unwrap_or("?")
}

/// How a numeric field is rendered in evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldFormat {
    /// A plain number.
    Number,
    /// A side: `1` → `"buy"`, `-1` → `"sell"`, else `null`.
    Side,
}

/// Names of the kinds and numeric fields of a [`CepEvent`] stream, and which fields each kind carries.
#[derive(Clone)]
pub struct Schema {
    kinds: Vec<String>,
    kind_fields: Vec<u32>,
    fields: Vec<(String, FieldFormat)>,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schema")
            .field("kinds", &self.kinds)
            .field(
                "fields",
                &self.fields.iter().map(|f| &f.0).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Schema {
    /// Starts a schema.
    pub fn builder() -> SchemaBuilder {
        SchemaBuilder {
            schema: Schema {
                kinds: Vec::new(),
                kind_fields: Vec::new(),
                fields: Vec::new(),
            },
        }
    }

    /// The kind named `name`.
    pub fn kind(&self, name: &str) -> Option<KindId> {
        self.kinds
            .iter()
            .position(|k| k == name)
            .map(|i| KindId(i as u8))
    }

    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<FieldId> {
        self.fields
            .iter()
            .position(|f| f.0 == name)
            .map(|i| FieldId(i as u8))
    }

    /// Name of kind `k` (`"?"` when out of range).
    pub fn kind_name(&self, k: KindId) -> &str {
        self.kinds.get(k.0 as usize).map_or("?", |s| s.as_str())
    }

    /// Name of field `f` (`"?"` when out of range).
    pub fn field_name(&self, f: FieldId) -> &str {
        self.fields.get(f.0 as usize).map_or("?", |s| s.0.as_str())
    }

    /// Rendering of field `f`.
    pub fn field_format(&self, f: FieldId) -> FieldFormat {
        self.fields
            .get(f.0 as usize)
            .map_or(FieldFormat::Number, |s| s.1)
    }

    /// Every kind name, by id.
    pub fn kind_names(&self) -> impl Iterator<Item = &str> {
        self.kinds.iter().map(|s| s.as_str())
    }

    /// Every field name, by id.
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|s| s.0.as_str())
    }

    /// Number of kinds.
    pub fn n_kinds(&self) -> usize {
        self.kinds.len()
    }

    /// The fields kind `k` carries (for evidence output).
    pub fn fields_of(&self, k: KindId) -> impl Iterator<Item = FieldId> + '_ {
        let mask = self.kind_fields.get(k.0 as usize).copied().unwrap_or(0);
        (0..self.fields.len() as u8)
            .filter(move |i| mask & (1 << i) != 0)
            .map(FieldId)
    }
}

/// Builds a [`Schema`].
#[derive(Debug)]
pub struct SchemaBuilder {
    schema: Schema,
}

impl SchemaBuilder {
    /// Declares a numeric field (ids are given in declaration order). Panics on more than [`MAX_FIELDS`] fields or a
    /// duplicate name: schemas are written in code, so this is a programming error.
    pub fn field(mut self, name: &str) -> SchemaBuilder {
        self.push_field(name, FieldFormat::Number);
        self
    }

    /// Declares a side field (`+1` buy, `-1` sell), rendered as `"buy"`/`"sell"` in evidence.
    pub fn side_field(mut self, name: &str) -> SchemaBuilder {
        self.push_field(name, FieldFormat::Side);
        self
    }

    fn push_field(&mut self, name: &str, fmt: FieldFormat) {
        assert!(self.schema.fields.len() < MAX_FIELDS, "too many fields");
        assert!(self.schema.field(name).is_none(), "duplicate field {name}");
        self.schema.fields.push((name.to_owned(), fmt));
    }

    /// Declares a kind carrying `fields` (names of fields declared earlier). Kind ids are given in declaration
    /// order. Panics on unknown fields, duplicates or more than [`MAX_KINDS`] kinds.
    pub fn kind(mut self, name: &str, fields: &[&str]) -> SchemaBuilder {
        assert!(self.schema.kinds.len() < MAX_KINDS, "too many kinds");
        assert!(self.schema.kind(name).is_none(), "duplicate kind {name}");
        let mut mask = 0u32;
        for f in fields {
            let id = self
                .schema
                .field(f)
                .unwrap_or_else(|| panic!("kind {name}: unknown field {f}"));
            mask |= 1 << id.0;
        }
        self.schema.kinds.push(name.to_owned());
        self.schema.kind_fields.push(mask);
        self
    }

    /// The schema.
    pub fn build(self) -> Schema {
        self.schema
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_lookup() {
        let s = Schema::builder()
            .field("x")
            .side_field("side")
            .kind("A", &["x"])
            .kind("B", &["x", "side"])
            .build();
        assert_eq!(s.kind("B"), Some(KindId(1)));
        assert_eq!(s.field("side"), Some(FieldId(1)));
        assert_eq!(s.fields_of(KindId(1)).count(), 2);
        assert_eq!(s.kind_name(KindId(9)), "?");
        let e = CepEvent::new(KindId(0), 5).with(FieldId(0), 2.0);
        assert_eq!(e.get(FieldId(0)), 2.0);
        assert!(e.get(FieldId(1)).is_nan());
        assert_eq!(mpid_code(b"GSCO"), u32::from_be_bytes(*b"GSCO"));
        assert_eq!(mpid_code(b"    "), 0);
        assert_eq!(text(&symbol_bytes("AAPL")), "AAPL");
    }
}
