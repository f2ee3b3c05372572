//! Reference-data enrichment: a CSV of per-symbol static data (average daily volume, sector, lot size, …) loaded at
//! start-up and joined to events by symbol.
//!
//! # File format
//! A CSV file with a header row. One column must be `symbol` (case-insensitive header; values up to 8 characters,
//! matched against the feed's space-padded symbols). Every other column is usable by name:
//! - in CEP rules as `ref.NAME` (e.g. `a.qty >= 0.001 * ref.adv`, `ref.sector == "Technology"`);
//! - in detectors through [`RefJoin::lookup`] / [`RefRow`].
//!
//! A column whose non-empty values all parse as numbers is numeric (an empty cell is missing: `NaN`); any other
//! column is text. Conventional columns: `adv` (average daily volume, shares), `sector`, `lot_size` (round lot,
//! shares), `avg_price`, `shares_outstanding`, `exchange`. Lines starting with `#` and blank lines are ignored.
//! Quoted cells (`"a, b"`, `""` for a quote) are supported.
//!
//! ```text
//! symbol,adv,sector,lot_size
//! AAPL,55000000,Technology,100
//! BRK A,3000,Financials,1
//! ```
//!
//! # Missing symbols
//! A symbol absent from the file has no row: every numeric column reads as `NaN` (so rule comparisons with it are
//! false — use `coalesce(ref.adv, 1e6)` for a default) and text columns compare unequal to everything.
//! [`RefJoin`] counts such lookups ([`RefJoin::missing_lookups`], [`RefJoin::missing_symbols`]).
//!
//! # Contract
//! Loading allocates (cold path). [`RefData::row`] (a hash lookup of an 8-byte key) and [`RefJoin::row`] (an array
//! index by stock locate, validated against the symbol) never allocate; `RefJoin` reserves its 64 Ki-entry cache
//! when built.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Type of a reference-data column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Numeric (`f64`; empty = `NaN`).
    Number,
    /// Text (interned).
    Text,
}

/// Reference data could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RefDataError {
    /// The file could not be read.
    #[error("cannot read reference data {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The content is invalid.
    #[error("{file}:{line}: {message}")]
    Invalid {
        /// File name.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Per-symbol reference data.
#[derive(Debug, Clone)]
pub struct RefData {
    source: String,
    columns: Vec<(String, ColumnKind)>,
    nums: Vec<f64>,
    texts: Vec<u32>,
    symbols: Vec<[u8; 8]>,
    by_symbol: HashMap<[u8; 8], u32>,
    text_values: Vec<String>,
    text_index: HashMap<String, u32>,
}

/// Splits one CSV line into cells (RFC 4180 quoting within a line).
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && cur.trim().is_empty() && !was_quoted {
            cur.clear();
            quoted = true;
            was_quoted = true;
        } else if c == ',' {
            out.push(if was_quoted {
                std::mem::take(&mut cur)
            } else {
                cur.trim().to_owned()
            });
            cur.clear();
            was_quoted = false;
        } else if was_quoted && !c.is_whitespace() {
            return Err("text after a closing quote".into());
        } else if !was_quoted {
            cur.push(c);
        }
    }
    if quoted {
        return Err("unterminated quoted cell".into());
    }
    out.push(if was_quoted {
        cur
    } else {
        cur.trim().to_owned()
    });
    Ok(out)
}

fn sym_key(s: &str) -> Option<[u8; 8]> {
    if s.is_empty() || s.len() > 8 || !s.is_ascii() {
        return None;
    }
    let mut b = [b' '; 8];
    b[..s.len()].copy_from_slice(s.as_bytes());
    Some(b)
}

impl RefData {
    /// Reads a reference-data CSV file.
    pub fn load(path: impl AsRef<Path>) -> Result<RefData, RefDataError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| RefDataError::Io {
            path: path.to_owned(),
            source,
        })?;
        RefData::parse(&path.display().to_string(), &text)
    }

    /// Parses reference-data CSV text (`file` names it in errors).
    pub fn parse(file: &str, text: &str) -> Result<RefData, RefDataError> {
        let err = |line: usize, message: String| RefDataError::Invalid {
            file: file.to_owned(),
            line,
            message,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
            .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        let Some((hline, header)) = lines.next() else {
            return Err(err(
                1,
                "empty file: expected a header row with a `symbol` column".into(),
            ));
        };
        let header = split_csv(header).map_err(|m| err(hline, m))?;
        let names: Vec<String> = header
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        let Some(sym_col) = names.iter().position(|n| n == "symbol") else {
            return Err(err(
                hline,
                format!("no `symbol` column in the header ({})", names.join(",")),
            ));
        };
        for (i, n) in names.iter().enumerate() {
            if n.is_empty() {
                return Err(err(hline, format!("column {} has an empty name", i + 1)));
            }
            if names[..i].contains(n) {
                return Err(err(hline, format!("duplicate column `{n}`")));
            }
        }
        let mut rows: Vec<(usize, Vec<String>)> = Vec::new();
        for (ln, line) in lines {
            let cells = split_csv(line).map_err(|m| err(ln, m))?;
            if cells.len() != names.len() {
                return Err(err(
                    ln,
                    format!(
                        "{} cells, expected {} (as in the header)",
                        cells.len(),
                        names.len()
                    ),
                ));
            }
            rows.push((ln, cells));
        }
        let data_cols: Vec<usize> = (0..names.len()).filter(|&c| c != sym_col).collect();
        let columns: Vec<(String, ColumnKind)> = data_cols
            .iter()
            .map(|&c| {
                let numeric = rows
                    .iter()
                    .all(|(_, r)| r[c].is_empty() || r[c].parse::<f64>().is_ok());
                (
                    names[c].clone(),
                    if numeric {
                        ColumnKind::Number
                    } else {
                        ColumnKind::Text
                    },
                )
            })
            .collect();
        let ncols = columns.len();
        let mut d = RefData {
            source: file.to_owned(),
            columns,
            nums: Vec::with_capacity(rows.len() * ncols),
            texts: Vec::with_capacity(rows.len() * ncols),
            symbols: Vec::with_capacity(rows.len()),
            by_symbol: HashMap::with_capacity(rows.len()),
            text_values: Vec::new(),
            text_index: HashMap::new(),
        };
        for (ln, r) in &rows {
            let sym = sym_key(&r[sym_col]).ok_or_else(|| {
                err(
                    *ln,
                    format!("invalid symbol `{}` (1 to 8 ASCII characters)", r[sym_col]),
                )
            })?;
            if d.by_symbol.contains_key(&sym) {
                return Err(err(*ln, format!("duplicate symbol `{}`", r[sym_col])));
            }
            let row = d.symbols.len() as u32;
            d.symbols.push(sym);
            d.by_symbol.insert(sym, row);
            for (j, &c) in data_cols.iter().enumerate() {
                let cell = &r[c];
                match d.columns[j].1 {
                    ColumnKind::Number => {
                        d.nums.push(if cell.is_empty() {
                            f64::NAN
                        } else {
                            cell.parse().unwrap_or(f64::NAN)
                        });
                        d.texts.push(u32::MAX);
                    }
                    ColumnKind::Text => {
                        d.nums.push(f64::NAN);
                        let id = if cell.is_empty() {
                            u32::MAX
                        } else if let Some(&id) = d.text_index.get(cell) {
                            id
                        } else {
                            let id = d.text_values.len() as u32;
                            d.text_values.push(cell.clone());
                            d.text_index.insert(cell.clone(), id);
                            id
                        };
                        d.texts.push(id);
                    }
                }
            }
        }
        Ok(d)
    }

    /// Where the data came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// Whether there are no symbols.
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// Index and kind of column `name` (lower case; `symbol` is not a data column).
    pub fn column(&self, name: &str) -> Option<(usize, ColumnKind)> {
        self.columns
            .iter()
            .position(|c| c.0 == name)
            .map(|i| (i, self.columns[i].1))
    }

    /// Names of the data columns, by index.
    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.0.as_str())
    }

    /// The row of a symbol in the 8-byte space-padded layout. Never allocates.
    #[inline]
    pub fn row(&self, symbol: &[u8; 8]) -> Option<u32> {
        let mut s = *symbol;
        for b in &mut s {
            if *b == 0 {
                *b = b' ';
            }
        }
        self.by_symbol.get(&s).copied()
    }

    /// The row of a symbol given as text.
    pub fn row_of(&self, symbol: &str) -> Option<u32> {
        sym_key(symbol).and_then(|k| self.row(&k))
    }

    /// Numeric cell (`NaN` when empty, out of range or a text column).
    #[inline]
    pub fn num(&self, row: u32, col: usize) -> f64 {
        let n = self.columns.len();
        if col >= n {
            return f64::NAN;
        }
        self.nums
            .get(row as usize * n + col)
            .copied()
            .unwrap_or(f64::NAN)
    }

    /// Interned id of a text cell (`u32::MAX` when empty, out of range or numeric).
    #[inline]
    pub fn text_id(&self, row: u32, col: usize) -> u32 {
        let n = self.columns.len();
        if col >= n {
            return u32::MAX;
        }
        self.texts
            .get(row as usize * n + col)
            .copied()
            .unwrap_or(u32::MAX)
    }

    /// Text cell.
    pub fn text(&self, row: u32, col: usize) -> Option<&str> {
        self.text_values
            .get(self.text_id(row, col) as usize)
            .map(|s| s.as_str())
    }

    /// Interned id of a text value, if any cell holds it.
    pub fn text_lookup(&self, s: &str) -> Option<u32> {
        self.text_index.get(s).copied()
    }

    /// Numeric value of `column` for `symbol` (cold-path convenience).
    pub fn get_num(&self, symbol: &str, column: &str) -> Option<f64> {
        let row = self.row_of(symbol)?;
        let (c, k) = self.column(column)?;
        (k == ColumnKind::Number)
            .then(|| self.num(row, c))
            .filter(|v| !v.is_nan())
    }

    /// Text value of `column` for `symbol` (cold-path convenience).
    pub fn get_text(&self, symbol: &str, column: &str) -> Option<&str> {
        let row = self.row_of(symbol)?;
        let (c, _) = self.column(column)?;
        self.text(row, c)
    }
}

/// One symbol's reference data.
#[derive(Debug, Clone, Copy)]
pub struct RefRow<'a> {
    data: &'a RefData,
    row: u32,
}

impl<'a> RefRow<'a> {
    /// Numeric column by index (`NaN` when empty).
    #[inline]
    pub fn num(&self, col: usize) -> f64 {
        self.data.num(self.row, col)
    }

    /// Numeric column by name (`None` when absent or empty). Looks the column up: resolve indexes once with
    /// [`RefData::column`] on hot paths.
    pub fn get(&self, name: &str) -> Option<f64> {
        let (c, k) = self.data.column(name)?;
        let v = self.data.num(self.row, c);
        (k == ColumnKind::Number && !v.is_nan()).then_some(v)
    }

    /// Text column by name.
    pub fn text(&self, name: &str) -> Option<&'a str> {
        let (c, _) = self.data.column(name)?;
        self.data.text(self.row, c)
    }

    /// Average daily volume (`adv` column), shares.
    pub fn adv(&self) -> Option<f64> {
        self.get("adv")
    }

    /// Round lot size (`lot_size` column), shares.
    pub fn lot_size(&self) -> Option<f64> {
        self.get("lot_size")
    }

    /// Sector (`sector` column).
    pub fn sector(&self) -> Option<&'a str> {
        self.text("sector")
    }
}

/// Joins events to reference data by stock locate, caching the symbol → row resolution per locate.
#[derive(Debug, Clone)]
pub struct RefJoin {
    data: Arc<RefData>,
    /// Per locate: (symbol as u64, row or `u32::MAX` = missing); symbol 0 = not resolved yet.
    cache: Vec<(u64, u32)>,
    missing_lookups: u64,
    missing_symbols: u64,
}

impl RefJoin {
    /// A join over `data` (reserves 64 Ki cache entries, 1 MB).
    pub fn new(data: Arc<RefData>) -> RefJoin {
        RefJoin {
            data,
            cache: vec![(0, u32::MAX); 1 << 16],
            missing_lookups: 0,
            missing_symbols: 0,
        }
    }

    /// The data.
    pub fn data(&self) -> &Arc<RefData> {
        &self.data
    }

    /// Row of the symbol with this locate (`symbol` validates the cached entry, so reused locates stay correct).
    /// Never allocates.
    #[inline]
    pub fn row(&mut self, locate: u16, symbol: &[u8; 8]) -> Option<u32> {
        let k = u64::from_be_bytes(*symbol);
        let e = &mut self.cache[locate as usize];
        if e.0 != k || k == 0 {
            let row = self.data.row(symbol).unwrap_or(u32::MAX);
            *e = (k, row);
            if row == u32::MAX {
                self.missing_symbols += 1;
            }
        }
        if e.1 == u32::MAX {
            self.missing_lookups += 1;
            None
        } else {
            Some(e.1)
        }
    }

    /// The reference data of the symbol with this locate.
    #[inline]
    pub fn lookup(&mut self, locate: u16, symbol: &[u8; 8]) -> Option<RefRow<'_>> {
        let row = self.row(locate, symbol)?;
        Some(RefRow {
            data: &self.data,
            row,
        })
    }

    /// Lookups of symbols absent from the data.
    pub fn missing_lookups(&self) -> u64 {
        self.missing_lookups
    }

    /// Distinct (locate, symbol) pairs found absent from the data.
    pub fn missing_symbols(&self) -> u64 {
        self.missing_symbols
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "# reference data\nSymbol,ADV,sector,lot_size,note\nAAPL,55000000,Technology,100,\"a, b\"\nBRK A,3000,Financials,1,\nXYZ,,Technology,100,\"say \"\"hi\"\"\"\n";

    #[test]
    fn parses_columns_and_types() {
        let d = RefData::parse("ref.csv", CSV).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d.column("adv"), Some((0, ColumnKind::Number)));
        assert_eq!(d.column("sector"), Some((1, ColumnKind::Text)));
        assert_eq!(d.column("note"), Some((3, ColumnKind::Text)));
        assert_eq!(d.get_num("AAPL", "adv"), Some(55e6));
        assert_eq!(d.get_num("XYZ", "adv"), None);
        assert_eq!(d.get_text("BRK A", "sector"), Some("Financials"));
        assert_eq!(d.get_text("AAPL", "note"), Some("a, b"));
        assert_eq!(d.get_text("XYZ", "note"), Some("say \"hi\""));
        assert_eq!(
            d.text_lookup("Technology"),
            d.row_of("AAPL").map(|r| d.text_id(r, 1))
        );
        assert!(d.row_of("NOPE").is_none());
        let mut padded = *b"AAPL\0\0\0\0";
        assert!(d.row(&padded).is_some());
        padded[0] = b'Z';
        assert!(d.row(&padded).is_none());
    }

    #[test]
    fn join_caches_and_counts_missing() {
        let d = Arc::new(RefData::parse("ref.csv", CSV).unwrap());
        let mut j = RefJoin::new(d);
        let aapl = *b"AAPL    ";
        let zzz = *b"ZZZ     ";
        assert_eq!(j.lookup(5, &aapl).and_then(|r| r.adv()), Some(55e6));
        assert_eq!(
            j.lookup(5, &aapl).and_then(|r| r.sector()),
            Some("Technology")
        );
        assert!(j.lookup(6, &zzz).is_none());
        assert!(j.lookup(6, &zzz).is_none());
        assert_eq!(j.missing_lookups(), 2);
        assert_eq!(j.missing_symbols(), 1);
        // Locate 5 reused for another symbol: the cache follows the symbol.
        assert!(j.lookup(5, &zzz).is_none());
        assert_eq!(j.lookup(5, &aapl).and_then(|r| r.lot_size()), Some(100.0));
    }

    #[test]
    fn errors_name_the_line() {
        let e = RefData::parse("r.csv", "symbol,adv\nAAPL,1\nAAPL,2\n").unwrap_err();
        assert_eq!(e.to_string(), "r.csv:3: duplicate symbol `AAPL`");
        let e = RefData::parse("r.csv", "ticker,adv\n").unwrap_err();
        assert!(e.to_string().contains("no `symbol` column"));
        let e = RefData::parse("r.csv", "symbol,adv\nAAPL\n").unwrap_err();
        assert!(e.to_string().starts_with("r.csv:2: 1 cells, expected 2"));
        let e = RefData::parse("r.csv", "symbol,adv\nTOOLONGSYM,1\n").unwrap_err();
        assert!(e.to_string().contains("invalid symbol"));
        let e = RefData::parse("r.csv", "symbol,adv\n\"AAPL,1\n").unwrap_err();
        assert!(e.to_string().contains("unterminated"));
    }
}
