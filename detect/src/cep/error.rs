//! Errors of rule loading and compilation (cold path).

use std::fmt;
use std::path::PathBuf;

/// Where in a rule file something is: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// 1-based line.
    pub line: u32,
    /// 1-based column (in characters).
    pub col: u32,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A rule file could not be loaded or compiled.
///
/// The `Display` form is `FILE:LINE:COL: rule `NAME`: PROBLEM` (the rule part is absent for errors outside a rule),
/// which editors and CI logs understand.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The file could not be read.
    #[error("cannot read rule file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The rule text is invalid (syntax, unknown names, unsupported operator combinations, …).
    #[error("{file}:{span}: {}{message}", rule.as_ref().map(|r| format!("rule `{r}`: ")).unwrap_or_default())]
    Invalid {
        /// File name (or `<string>` for rules compiled from a string).
        file: String,
        /// Position of the offending token.
        span: Span,
        /// The rule the problem is in, when known.
        rule: Option<String>,
        /// What is wrong.
        message: String,
    },
}

impl RuleError {
    /// The rule named in the error, if any.
    pub fn rule(&self) -> Option<&str> {
        match self {
            RuleError::Invalid { rule, .. } => rule.as_deref(),
            RuleError::Io { .. } => None,
        }
    }

    /// The position of the error, if it is in the text.
    pub fn span(&self) -> Option<Span> {
        match self {
            RuleError::Invalid { span, .. } => Some(*span),
            RuleError::Io { .. } => None,
        }
    }
}

/// An error before the file and rule are attached.
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    pub span: Span,
    pub message: String,
}

impl Raw {
    pub fn new(span: Span, message: impl Into<String>) -> Raw {
        Raw {
            span,
            message: message.into(),
        }
    }

    pub fn into_error(self, file: &str, rule: Option<&str>) -> RuleError {
        RuleError::Invalid {
            file: file.to_owned(),
            span: self.span,
            rule: rule.map(str::to_owned),
            message: self.message,
        }
    }
}
