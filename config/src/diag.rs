//! Diagnostics about a configuration: alerts (fatal), warnings and notices, each with the
//! file and line it is about, printed in HAProxy's style `[ALERT] parsing [file:line] : …`.
//! Cross-reference errors also carry the line of the thing referred to.

use std::fmt;
use std::sync::Arc;

/// Where a line came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Loc {
    pub file: Arc<str>,
    pub line: usize,
}

impl Loc {
    pub fn new(file: &Arc<str>, line: usize) -> Loc {
        Loc {
            file: file.clone(),
            line,
        }
    }
    /// A location for things that do not come from a file (command line, built-ins).
    pub fn none() -> Loc {
        Loc {
            file: Arc::from(""),
            line: 0,
        }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Alert,
    Warning,
    Notice,
    Diag,
}

#[derive(Debug, Clone)]
pub struct Diag {
    pub severity: Severity,
    pub loc: Option<Loc>,
    pub message: String,
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.severity {
            Severity::Alert => "[ALERT]",
            Severity::Warning => "[WARNING]",
            Severity::Notice => "[NOTICE]",
            Severity::Diag => "[DIAG]",
        };
        match &self.loc {
            Some(loc) if loc.line > 0 => write!(f, "{tag} parsing [{loc}] : {}", self.message),
            Some(loc) if !loc.file.is_empty() => {
                write!(f, "{tag} parsing [{}] : {}", loc.file, self.message)
            }
            _ => write!(f, "{tag} config : {}", self.message),
        }
    }
}

/// The list of everything said about a configuration while loading it.
#[derive(Debug, Default, Clone)]
pub struct Diags {
    pub items: Vec<Diag>,
}

impl Diags {
    pub fn alert(&mut self, loc: &Loc, message: impl Into<String>) {
        self.push(Severity::Alert, Some(loc.clone()), message.into());
    }
    pub fn warning(&mut self, loc: &Loc, message: impl Into<String>) {
        self.push(Severity::Warning, Some(loc.clone()), message.into());
    }
    pub fn notice(&mut self, loc: &Loc, message: impl Into<String>) {
        self.push(Severity::Notice, Some(loc.clone()), message.into());
    }
    pub fn global_alert(&mut self, message: impl Into<String>) {
        self.push(Severity::Alert, None, message.into());
    }
    pub fn global_warning(&mut self, message: impl Into<String>) {
        self.push(Severity::Warning, None, message.into());
    }
    pub fn push(&mut self, severity: Severity, loc: Option<Loc>, message: String) {
        self.items.push(Diag {
            severity,
            loc,
            message,
        });
    }
    pub fn alerts(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Alert)
            .count()
    }
    pub fn has_alerts(&self) -> bool {
        self.alerts() > 0
    }
    pub fn warnings(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_style() {
        let mut d = Diags::default();
        d.alert(
            &Loc::new(&Arc::from("haproxy.cfg"), 12),
            "unknown keyword 'x' in 'frontend' section",
        );
        assert_eq!(
            d.items[0].to_string(),
            "[ALERT] parsing [haproxy.cfg:12] : unknown keyword 'x' in 'frontend' section"
        );
        d.global_warning("no frontend");
        assert_eq!(d.items[1].to_string(), "[WARNING] config : no frontend");
        assert!(d.has_alerts());
        assert_eq!(d.warnings(), 1);
    }
}
