//! Lexer, syntax tree and parser of the rule language (see the module docs of [`super`] and `detect/README.md`).
//!
//! Cold path only: runs once at start-up.

use super::error::{Raw, Span};

// ---------------------------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------------------------

/// A token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Num(f64),
    /// A duration literal, in ns (`5s`, `250ms`, `2us`, `100ns`, `1m`, `1h`).
    Dur(f64),
    /// A time-of-day literal in ns since midnight (`15:55:00`, `15:59:50.5`).
    Tod(u64),
    Str(String),
    Punct(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Span,
}

const PUNCTS: [&str; 24] = [
    "..", "==", "!=", "<=", ">=", "&&", "||", "{", "}", "(", ")", ",", ":", ".", "|", "<", ">",
    "+", "-", "*", "/", "%", "!", "=",
];

pub(crate) fn lex(src: &str) -> Result<Vec<Token>, Raw> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1u32, 1u32);
    macro_rules! bump {
        () => {{
            if chars[i] == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
            i += 1;
        }};
    }
    while i < chars.len() {
        let c = chars[i];
        let span = Span { line, col };
        if c.is_whitespace() {
            bump!();
            continue;
        }
        if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                bump!();
            }
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                bump!();
            }
            out.push(Token {
                tok: Tok::Ident(chars[start..i].iter().collect()),
                span,
            });
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                bump!();
            }
            // Time of day: HH:MM[:SS[.frac]]
            if i + 1 < chars.len() && chars[i] == ':' && chars[i + 1].is_ascii_digit() {
                let mut parts: Vec<String> = vec![chars[start..i].iter().collect()];
                while i + 1 < chars.len() && chars[i] == ':' && chars[i + 1].is_ascii_digit() {
                    bump!();
                    let s = i;
                    while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                        bump!();
                    }
                    parts.push(chars[s..i].iter().collect());
                }
                let tod = parse_tod(&parts).ok_or_else(|| {
                    Raw::new(
                        span,
                        format!(
                            "invalid time of day `{}` (expected HH:MM[:SS[.fff]])",
                            parts.join(":")
                        ),
                    )
                })?;
                out.push(Token {
                    tok: Tok::Tod(tod),
                    span,
                });
                continue;
            }
            if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
                bump!();
                while i < chars.len() && chars[i].is_ascii_digit() {
                    bump!();
                }
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let save = (i, line, col);
                bump!();
                if i < chars.len() && (chars[i] == '+' || chars[i] == '-') {
                    bump!();
                }
                if i < chars.len() && chars[i].is_ascii_digit() {
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        bump!();
                    }
                } else {
                    (i, line, col) = save;
                }
            }
            let text: String = chars[start..i].iter().collect();
            let v: f64 = text
                .parse()
                .map_err(|_| Raw::new(span, format!("invalid number `{text}`")))?;
            // Unit suffix.
            let us = i;
            while i < chars.len() && chars[i].is_ascii_alphabetic() {
                bump!();
            }
            if us == i {
                out.push(Token {
                    tok: Tok::Num(v),
                    span,
                });
            } else {
                let unit: String = chars[us..i].iter().collect();
                let mult = match unit.as_str() {
                    "ns" => 1.0,
                    "us" => 1e3,
                    "ms" => 1e6,
                    "s" => 1e9,
                    "m" | "min" => 60e9,
                    "h" => 3600e9,
                    _ => {
                        return Err(Raw::new(
                            span,
                            format!(
                                "unknown unit `{unit}` after `{text}` (use ns, us, ms, s, m or h)"
                            ),
                        ))
                    }
                };
                out.push(Token {
                    tok: Tok::Dur((v * mult).round()),
                    span,
                });
            }
            continue;
        }
        if c == '"' {
            bump!();
            let mut s = String::new();
            loop {
                if i >= chars.len() || chars[i] == '\n' {
                    return Err(Raw::new(span, "unterminated string"));
                }
                if chars[i] == '"' {
                    bump!();
                    break;
                }
                if chars[i] == '\\' && i + 1 < chars.len() {
                    bump!();
                }
                s.push(chars[i]);
                bump!();
            }
            out.push(Token {
                tok: Tok::Str(s),
                span,
            });
            continue;
        }
        let mut matched = None;
        for p in PUNCTS {
            let pc: Vec<char> = p.chars().collect();
            if chars[i..].starts_with(&pc) {
                matched = Some(p);
                break;
            }
        }
        match matched {
            Some(p) => {
                for _ in 0..p.len() {
                    bump!();
                }
                out.push(Token {
                    tok: Tok::Punct(p),
                    span,
                });
            }
            None => return Err(Raw::new(span, format!("unexpected character `{c}`"))),
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        span: Span { line, col },
    });
    Ok(out)
}

fn parse_tod(parts: &[String]) -> Option<u64> {
    if parts.len() < 2 || parts.len() > 3 {
        return None;
    }
    let h: u64 = parts[0].parse().ok()?;
    let m: u64 = parts[1].parse().ok()?;
    let (s, frac_ns) = if parts.len() == 3 {
        let (si, fr) = match parts[2].split_once('.') {
            Some((a, b)) => (a, b),
            None => (parts[2].as_str(), ""),
        };
        let s: u64 = si.parse().ok()?;
        let mut f = 0u64;
        if !fr.is_empty() {
            if fr.len() > 9 || !fr.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            f = fr.parse::<u64>().ok()? * 10u64.pow(9 - fr.len() as u32);
        }
        (s, f)
    } else {
        (0, 0)
    };
    if h > 24 || m > 59 || s > 59 {
        return None;
    }
    Some(((h * 60 + m) * 60 + s) * 1_000_000_000 + frac_ns)
}

// ---------------------------------------------------------------------------------------------------------------
// Syntax tree
// ---------------------------------------------------------------------------------------------------------------

/// Contiguity between a step and the event bound before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contiguity {
    /// `next` / `consecutive`: the very next event of the partition.
    Strict,
    /// `followed_by` (default inside loops): the first later event that satisfies the step.
    Relaxed,
    /// `followed_by_any` / `allow_combinations`: any later event that satisfies the step.
    Any,
}

/// How a step relates to the step before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepHow {
    Begin,
    Next,
    FollowedBy,
    FollowedByAny,
    NotNext,
    NotFollowedBy,
    NotPrecededBy,
}

#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Num(f64, Span),
    Str(String, Span),
    /// `a`, `a.b`, `a.b.c`.
    Path(Vec<String>, Span),
    Call(String, Vec<Expr>, Span),
    Unary(&'static str, Box<Expr>, Span),
    Binary(&'static str, Box<Expr>, Box<Expr>, Span),
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::Num(_, s)
            | Expr::Str(_, s)
            | Expr::Path(_, s)
            | Expr::Call(_, _, s)
            | Expr::Unary(_, _, s)
            | Expr::Binary(_, _, _, s) => *s,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Quant {
    pub times: Option<(u32, Option<u32>, Span)>,
    pub one_or_more: Option<Span>,
    pub optional: Option<Span>,
    pub greedy: Option<Span>,
    pub inner: Option<(Contiguity, Span)>,
    /// `within DURATION` of a `not_preceded_by` step.
    pub within: Option<(f64, Span)>,
}

#[derive(Debug, Clone)]
pub(crate) struct StepAst {
    pub span: Span,
    pub how: StepHow,
    pub name: String,
    /// Empty = `any`.
    pub kinds: Vec<(String, Span)>,
    pub cond: Option<Expr>,
    pub quant: Quant,
}

#[derive(Debug, Clone)]
pub(crate) struct RuleAst {
    pub name: String,
    pub span: Span,
    pub partition: Option<(Vec<(String, Span)>, Span)>,
    pub within: Option<(f64, Span)>,
    pub skip: Option<(String, Span)>,
    pub events: Option<(Vec<(String, Span)>, Span)>,
    pub score: Option<Expr>,
    pub side: Option<Expr>,
    pub having: Option<Expr>,
    pub steps: Vec<StepAst>,
    pub pattern_span: Option<Span>,
}

/// Words that cannot name a step.
pub(crate) const RESERVED: [&str; 30] = [
    "rule",
    "partition",
    "by",
    "within",
    "skip",
    "events",
    "score",
    "side",
    "having",
    "pattern",
    "begin",
    "next",
    "followed_by",
    "followed_by_any",
    "not_next",
    "not_followed_by",
    "where",
    "times",
    "one_or_more",
    "optional",
    "greedy",
    "consecutive",
    "allow_combinations",
    "and",
    "or",
    "not",
    "in",
    "ref",
    "feat",
    "any",
];

// ---------------------------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------------------------

pub(crate) struct Parser {
    toks: Vec<Token>,
    pos: usize,
}

/// A parse failure: the error and the rule it happened in (if the rule name was read).
pub(crate) type ParseFail = (Raw, Option<String>);

impl Parser {
    pub fn new(toks: Vec<Token>) -> Parser {
        Parser { toks, pos: 0 }
    }

    fn peek(&self) -> &Token {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn peek2(&self) -> &Token {
        &self.toks[(self.pos + 1).min(self.toks.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(&self.peek().tok, Tok::Punct(q) if *q == p)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(q) if q == w)
    }

    fn expect_punct(&mut self, p: &str) -> Result<Span, Raw> {
        if self.is_punct(p) {
            Ok(self.next().span)
        } else {
            Err(self.unexpected(&format!("`{p}`")))
        }
    }

    fn expect_word(&mut self, w: &str) -> Result<Span, Raw> {
        if self.is_word(w) {
            Ok(self.next().span)
        } else {
            Err(self.unexpected(&format!("`{w}`")))
        }
    }

    fn ident(&mut self, what: &str) -> Result<(String, Span), Raw> {
        match self.peek().tok.clone() {
            Tok::Ident(s) => {
                let sp = self.next().span;
                Ok((s, sp))
            }
            _ => Err(self.unexpected(what)),
        }
    }

    fn unexpected(&self, wanted: &str) -> Raw {
        let t = self.peek();
        let got = match &t.tok {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Num(v) => format!("number `{v}`"),
            Tok::Dur(_) => "a duration".to_owned(),
            Tok::Tod(_) => "a time of day".to_owned(),
            Tok::Str(s) => format!("string \"{s}\""),
            Tok::Punct(p) => format!("`{p}`"),
            Tok::Eof => "end of file".to_owned(),
        };
        Raw::new(t.span, format!("expected {wanted}, found {got}"))
    }

    /// Parses a whole file: a sequence of `rule NAME { … }` blocks.
    pub fn file(&mut self) -> Result<Vec<RuleAst>, ParseFail> {
        let mut rules = Vec::new();
        while self.peek().tok != Tok::Eof {
            let kw = self.expect_word("rule").map_err(|e| {
                let mut e = e;
                e.message = format!(
                    "{} (a rule file is a list of `rule NAME {{ … }}` blocks)",
                    e.message
                );
                (e, None)
            })?;
            let (name, _) = self.ident("a rule name").map_err(|e| (e, None))?;
            let r = self
                .rule_body(name.clone(), kw)
                .map_err(|e| (e, Some(name)))?;
            rules.push(r);
        }
        Ok(rules)
    }

    fn rule_body(&mut self, name: String, span: Span) -> Result<RuleAst, Raw> {
        let mut r = RuleAst {
            name,
            span,
            partition: None,
            within: None,
            skip: None,
            events: None,
            score: None,
            side: None,
            having: None,
            steps: Vec::new(),
            pattern_span: None,
        };
        self.expect_punct("{")?;
        loop {
            if self.is_punct("}") {
                self.next();
                break;
            }
            let (kw, ksp) = self.ident("a rule clause (partition, within, skip, events, score, side, having, pattern) or `}`")?;
            let dup = |sp: Span| Raw::new(sp, format!("`{kw}` given twice"));
            match kw.as_str() {
                "partition" => {
                    if r.partition.is_some() {
                        return Err(dup(ksp));
                    }
                    self.expect_word("by")?;
                    // `symbol, mpid` or `(symbol, mpid)`.
                    let paren = self.is_punct("(");
                    if paren {
                        self.next();
                    }
                    let mut keys = vec![self.ident("a partition key (symbol, mpid, order_ref or none)")?];
                    while self.is_punct(",") {
                        self.next();
                        keys.push(self.ident("a partition key")?);
                    }
                    if paren {
                        self.expect_punct(")")?;
                    }
                    r.partition = Some((keys, ksp));
                }
                "within" => {
                    if r.within.is_some() {
                        return Err(dup(ksp));
                    }
                    match self.peek().tok {
                        Tok::Dur(d) => {
                            let sp = self.next().span;
                            r.within = Some((d, sp));
                        }
                        _ => return Err(self.unexpected("a duration such as `5s` or `250ms`")),
                    }
                }
                "skip" => {
                    if r.skip.is_some() {
                        return Err(dup(ksp));
                    }
                    r.skip = Some(self.ident("a skip strategy (no_skip, past_last_event, to_next)")?);
                }
                "events" => {
                    if r.events.is_some() {
                        return Err(dup(ksp));
                    }
                    let mut ks = vec![self.ident("an event kind or `all`")?];
                    while self.is_punct(",") || self.is_punct("|") {
                        self.next();
                        ks.push(self.ident("an event kind")?);
                    }
                    r.events = Some((ks, ksp));
                }
                "score" => {
                    if r.score.is_some() {
                        return Err(dup(ksp));
                    }
                    r.score = Some(self.expr()?);
                }
                "side" => {
                    if r.side.is_some() {
                        return Err(dup(ksp));
                    }
                    r.side = Some(self.expr()?);
                }
                "having" => {
                    if r.having.is_some() {
                        return Err(dup(ksp));
                    }
                    r.having = Some(self.expr()?);
                }
                "pattern" => {
                    if r.pattern_span.is_some() {
                        return Err(dup(ksp));
                    }
                    r.pattern_span = Some(ksp);
                    self.expect_punct("{")?;
                    while !self.is_punct("}") {
                        let first = r.steps.iter().all(|s| s.how == StepHow::NotPrecededBy);
                        r.steps.push(self.step(first)?);
                    }
                    self.next();
                }
                _ => {
                    return Err(Raw::new(
                        ksp,
                        format!(
                            "unknown clause `{kw}` (expected partition, within, skip, events, score, side, having \
                             or pattern)"
                        ),
                    ))
                }
            }
        }
        Ok(r)
    }

    fn step(&mut self, first: bool) -> Result<StepAst, Raw> {
        let span = self.peek().span;
        let how = match &self.peek().tok {
            Tok::Ident(w) => match w.as_str() {
                "begin" => Some(StepHow::Begin),
                "next" => Some(StepHow::Next),
                "followed_by" => Some(StepHow::FollowedBy),
                "followed_by_any" => Some(StepHow::FollowedByAny),
                "not_next" => Some(StepHow::NotNext),
                "not_followed_by" => Some(StepHow::NotFollowedBy),
                "not_preceded_by" => Some(StepHow::NotPrecededBy),
                _ => None,
            },
            _ => None,
        };
        let how = match how {
            Some(h) => {
                self.next();
                h
            }
            None if first && matches!(self.peek2().tok, Tok::Punct(":")) => StepHow::Begin,
            None => {
                return Err(self.unexpected(
                    "a step (`next`, `followed_by`, `followed_by_any`, `not_next`, `not_followed_by` or \
                     `not_preceded_by`, then `NAME: KIND …`)",
                ))
            }
        };
        let (name, nsp) = self.ident("a step name")?;
        if RESERVED.contains(&name.as_str()) {
            return Err(Raw::new(
                nsp,
                format!("`{name}` is a reserved word and cannot name a step"),
            ));
        }
        self.expect_punct(":")?;
        let mut kinds = Vec::new();
        let (k, ksp) = self.ident("an event kind (or `any`)")?;
        if k != "any" {
            kinds.push((k, ksp));
            while self.is_punct("|") {
                self.next();
                kinds.push(self.ident("an event kind")?);
            }
        }
        let cond = if self.is_word("where") {
            self.next();
            Some(self.expr()?)
        } else {
            None
        };
        let mut quant = Quant::default();
        while let Tok::Ident(w) = self.peek().tok.clone() {
            let sp = self.peek().span;
            let twice = || Raw::new(sp, format!("`{w}` given twice"));
            match w.as_str() {
                "times" => {
                    self.next();
                    if quant.times.is_some() {
                        return Err(twice());
                    }
                    let lo = self.count()?;
                    let hi = if self.is_punct("..") {
                        self.next();
                        if matches!(self.peek().tok, Tok::Num(_)) {
                            Some(self.count()?)
                        } else {
                            None
                        }
                    } else {
                        Some(lo)
                    };
                    quant.times = Some((lo, hi, sp));
                }
                "one_or_more" => {
                    self.next();
                    if quant.one_or_more.is_some() {
                        return Err(twice());
                    }
                    quant.one_or_more = Some(sp);
                }
                "optional" => {
                    self.next();
                    if quant.optional.is_some() {
                        return Err(twice());
                    }
                    quant.optional = Some(sp);
                }
                "greedy" => {
                    self.next();
                    if quant.greedy.is_some() {
                        return Err(twice());
                    }
                    quant.greedy = Some(sp);
                }
                "consecutive" | "allow_combinations" => {
                    self.next();
                    if quant.inner.is_some() {
                        return Err(Raw::new(
                            sp,
                            "`consecutive` / `allow_combinations` given twice",
                        ));
                    }
                    let c = if w == "consecutive" {
                        Contiguity::Strict
                    } else {
                        Contiguity::Any
                    };
                    quant.inner = Some((c, sp));
                }
                "within" => {
                    self.next();
                    if quant.within.is_some() {
                        return Err(twice());
                    }
                    match self.peek().tok {
                        Tok::Dur(d) => {
                            let dsp = self.next().span;
                            quant.within = Some((d, dsp));
                        }
                        _ => return Err(self.unexpected("a duration such as `1s`")),
                    }
                }
                "where" => return Err(Raw::new(sp, "`where` must come before the quantifiers")),
                _ => break,
            }
        }
        Ok(StepAst {
            span,
            how,
            name,
            kinds,
            cond,
            quant,
        })
    }

    fn count(&mut self) -> Result<u32, Raw> {
        match self.peek().tok {
            Tok::Num(v) if v.fract() == 0.0 && (0.0..=65_535.0).contains(&v) => {
                self.next();
                Ok(v as u32)
            }
            _ => Err(self.unexpected("a whole number of events (0..65535)")),
        }
    }

    // ----- expressions -----

    pub fn expr(&mut self) -> Result<Expr, Raw> {
        self.or()
    }

    fn or(&mut self) -> Result<Expr, Raw> {
        let mut l = self.and()?;
        while self.is_word("or") || self.is_punct("||") {
            let sp = self.next().span;
            let r = self.and()?;
            l = Expr::Binary("or", Box::new(l), Box::new(r), sp);
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Expr, Raw> {
        let mut l = self.not()?;
        while self.is_word("and") || self.is_punct("&&") {
            let sp = self.next().span;
            let r = self.not()?;
            l = Expr::Binary("and", Box::new(l), Box::new(r), sp);
        }
        Ok(l)
    }

    fn not(&mut self) -> Result<Expr, Raw> {
        if self.is_word("not") || self.is_punct("!") {
            let sp = self.next().span;
            let e = self.not()?;
            return Ok(Expr::Unary("not", Box::new(e), sp));
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Expr, Raw> {
        let l = self.add()?;
        let op = match &self.peek().tok {
            Tok::Punct("==") | Tok::Punct("=") => Some("=="),
            Tok::Punct("!=") => Some("!="),
            Tok::Punct("<") => Some("<"),
            Tok::Punct("<=") => Some("<="),
            Tok::Punct(">") => Some(">"),
            Tok::Punct(">=") => Some(">="),
            Tok::Ident(w) if w == "in" => Some("in"),
            Tok::Ident(w)
                if w == "not" && matches!(&self.peek2().tok, Tok::Ident(x) if x == "in") =>
            {
                Some("not in")
            }
            _ => None,
        };
        let Some(op) = op else { return Ok(l) };
        let sp = self.next().span;
        if op == "not in" {
            self.next();
        }
        let r = self.add()?;
        if op == "not in" {
            let inner = Expr::Binary("in", Box::new(l), Box::new(r), sp);
            return Ok(Expr::Unary("not", Box::new(inner), sp));
        }
        Ok(Expr::Binary(op, Box::new(l), Box::new(r), sp))
    }

    fn add(&mut self) -> Result<Expr, Raw> {
        let mut l = self.mul()?;
        loop {
            let op = if self.is_punct("+") {
                "+"
            } else if self.is_punct("-") {
                "-"
            } else {
                break;
            };
            let sp = self.next().span;
            let r = self.mul()?;
            l = Expr::Binary(op, Box::new(l), Box::new(r), sp);
        }
        Ok(l)
    }

    fn mul(&mut self) -> Result<Expr, Raw> {
        let mut l = self.unary()?;
        loop {
            let op = if self.is_punct("*") {
                "*"
            } else if self.is_punct("/") {
                "/"
            } else if self.is_punct("%") {
                "%"
            } else {
                break;
            };
            let sp = self.next().span;
            let r = self.unary()?;
            l = Expr::Binary(op, Box::new(l), Box::new(r), sp);
        }
        Ok(l)
    }

    fn unary(&mut self) -> Result<Expr, Raw> {
        if self.is_punct("-") {
            let sp = self.next().span;
            let e = self.unary()?;
            return Ok(Expr::Unary("-", Box::new(e), sp));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, Raw> {
        let t = self.peek().clone();
        match t.tok {
            Tok::Num(v) | Tok::Dur(v) => {
                self.next();
                Ok(Expr::Num(v, t.span))
            }
            Tok::Tod(v) => {
                self.next();
                Ok(Expr::Num(v as f64, t.span))
            }
            Tok::Str(s) => {
                self.next();
                Ok(Expr::Str(s, t.span))
            }
            Tok::Punct("(") => {
                self.next();
                let e = self.expr()?;
                self.expect_punct(")")?;
                Ok(e)
            }
            Tok::Ident(name) => {
                if ["and", "or", "in", "where"].contains(&name.as_str()) {
                    return Err(self.unexpected("a value"));
                }
                self.next();
                if self.is_punct("(") {
                    self.next();
                    let mut args = Vec::new();
                    if !self.is_punct(")") {
                        args.push(self.expr()?);
                        while self.is_punct(",") {
                            self.next();
                            args.push(self.expr()?);
                        }
                    }
                    self.expect_punct(")")?;
                    return Ok(Expr::Call(name, args, t.span));
                }
                let mut path = vec![name];
                while self.is_punct(".") {
                    self.next();
                    let (f, _) = self.ident("a field name")?;
                    path.push(f);
                }
                Ok(Expr::Path(path, t.span))
            }
            _ => Err(self.unexpected(
                "a value (number, duration, time, string, field, function call or `(`)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexes_literals() {
        let t =
            lex("5s 250ms 1.5us 10 15:55:00 15:59:50.25 \"x\" a.b .. 3..5 1e3 # c\n==").unwrap();
        let toks: Vec<Tok> = t.into_iter().map(|t| t.tok).collect();
        assert_eq!(toks[0], Tok::Dur(5e9));
        assert_eq!(toks[1], Tok::Dur(250e6));
        assert_eq!(toks[2], Tok::Dur(1500.0));
        assert_eq!(toks[3], Tok::Num(10.0));
        assert_eq!(toks[4], Tok::Tod((15 * 3600 + 55 * 60) * 1_000_000_000));
        assert_eq!(
            toks[5],
            Tok::Tod((15 * 3600 + 59 * 60 + 50) * 1_000_000_000 + 250_000_000)
        );
        assert_eq!(toks[6], Tok::Str("x".into()));
        assert_eq!(toks[10], Tok::Punct(".."));
        assert_eq!(toks[11], Tok::Num(3.0));
        assert_eq!(toks[12], Tok::Punct(".."));
        assert_eq!(toks[13], Tok::Num(5.0));
        assert_eq!(toks[14], Tok::Num(1000.0));
        assert_eq!(toks[15], Tok::Punct("=="));
    }

    #[test]
    fn lex_errors_have_positions() {
        let e = lex("a\n  5parsecs").unwrap_err();
        assert_eq!(e.span, Span { line: 2, col: 3 });
        assert!(e.message.contains("unknown unit"));
        let e = lex("x = \"abc").unwrap_err();
        assert!(e.message.contains("unterminated"));
        let e = lex("a ^ b").unwrap_err();
        assert_eq!(e.span.col, 3);
    }

    #[test]
    fn parses_rule() {
        let src = r#"
rule r1 {
  partition by symbol, mpid
  within 5s
  skip past_last_event
  pattern {
    a: add where a.qty >= 100 and not (a.price in a.price) times 3.. greedy
    followed_by b: execute | execute_with_price where b.side != a.side
    not_followed_by x: delete
    followed_by_any c: cancel optional
  }
  having count(a) >= 3
}
"#;
        let rules = Parser::new(lex(src).unwrap()).file().unwrap();
        assert_eq!(rules.len(), 1);
        let r = &rules[0];
        assert_eq!(r.name, "r1");
        assert_eq!(r.steps.len(), 4);
        assert_eq!(r.steps[0].how, StepHow::Begin);
        assert_eq!(r.steps[0].quant.times.map(|t| (t.0, t.1)), Some((3, None)));
        assert!(r.steps[0].quant.greedy.is_some());
        assert_eq!(r.steps[1].kinds.len(), 2);
        assert_eq!(r.steps[2].how, StepHow::NotFollowedBy);
        assert!(r.steps[3].quant.optional.is_some());
        assert!(r.having.is_some());
        assert_eq!(r.within.map(|w| w.0), Some(5e9));
    }

    #[test]
    fn parse_errors_name_the_rule_and_line() {
        let src = "rule ok { within 1s pattern { a: add } }\nrule bad {\n  within 5s\n  pattern {\n    a: add where a.qty >\n  }\n}\n";
        let (e, rule) = Parser::new(lex(src).unwrap()).file().unwrap_err();
        assert_eq!(rule.as_deref(), Some("bad"));
        assert_eq!(e.span.line, 6);
        assert!(e.message.contains("expected a value"), "{}", e.message);
    }
}
