//! Custom log-format strings used as rule arguments (manual 8.2.6): literal text mixed
//! with `%[expr]` sample expressions (optionally `%{+Q}[expr]`) and `%%`; compiled once,
//! rendered per request. Log formats (`log-format`, the built-in ones) also take the `%X`
//! log variables of `crate::log::record`, which rule arguments refuse.

use super::{Ctx, Expr, Resolver};
use crate::log::record::{Flags, LogRecord, LogVar};

/// One piece of a format.
#[derive(Debug, Clone)]
enum Item {
    Lit(Vec<u8>),
    Expr {
        expr: Box<Expr>,
        /// `+Q`: the value between double quotes.
        quote: bool,
        /// `+E`: `"`, `\` and `]` escaped with a backslash.
        escape: bool,
    },
    /// A log variable (log formats only).
    Var(LogVar, Flags),
    /// Spaces of a log format: one space, written only after something that is not one
    /// (runs collapse, an item that prints nothing does not double it), as HAProxy does.
    Sep,
}

/// A compiled log-format string.
#[derive(Debug, Clone, Default)]
pub struct LogFormat {
    items: Vec<Item>,
}

/// The log-format aliases of manual 8.2.6, which need the logging machinery.
const ALIASES: &[&str] = &[
    "o", "T", "Tl", "Ts", "t", "tr", "trg", "trl", "HM", "HP", "HPO", "HQ", "HU", "HV", "ID", "ST",
    "Ta", "Tc", "Td", "Th", "Ti", "Tq", "TR", "Tr", "Tt", "Tu", "Tw", "U", "ac", "b", "bc", "bi",
    "bp", "bq", "ci", "cp", "f", "fc", "fi", "fp", "ft", "hr", "hrl", "hs", "hsl", "lc", "ms",
    "pid", "r", "rc", "rt", "s", "sc", "si", "sp", "sq", "ts", "tsc", "B", "CC", "CS", "H", "OG",
    "sslc", "sslv", "ST",
];

impl LogFormat {
    /// Parses a format. `%[expr]` expressions are compiled with `Expr::parse`; any other
    /// `%` item is refused with a message naming it.
    pub fn parse(text: &str, res: &dyn Resolver) -> Result<LogFormat, String> {
        Self::parse_with(text, res, false)
    }

    /// Parses a log format: `%X` log variables are accepted.
    pub fn parse_log(text: &str, res: &dyn Resolver) -> Result<LogFormat, String> {
        Self::parse_with(text, res, true)
    }

    fn parse_with(text: &str, res: &dyn Resolver, log: bool) -> Result<LogFormat, String> {
        let b = text.as_bytes();
        // `%{…}o`: flags applied to every item that follows.
        let mut all = Flags::default();
        let mut items = Vec::new();
        let mut lit: Vec<u8> = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if log && b[i] == b' ' {
                if !lit.is_empty() {
                    items.push(Item::Lit(std::mem::take(&mut lit)));
                }
                if !matches!(items.last(), Some(Item::Sep)) {
                    items.push(Item::Sep);
                }
                i += 1;
                continue;
            }
            if b[i] != b'%' {
                lit.push(b[i]);
                i += 1;
                continue;
            }
            if b.get(i + 1) == Some(&b'%') {
                lit.push(b'%');
                i += 2;
                continue;
            }
            let start = i;
            i += 1;
            // Optional item name `(name[:type])`, then optional `{flags}`.
            if b.get(i) == Some(&b'(') {
                let end = find(b, i, b')').ok_or_else(|| {
                    format!("missing ')' after the item name at position {start} in '{text}'")
                })?;
                i = end + 1;
            }
            let mut quote = all.quote;
            let mut escape = all.escape;
            let mut hex = all.hex;
            if b.get(i) == Some(&b'{') {
                let end = find(b, i, b'}').ok_or_else(|| {
                    format!("missing '}}' after the item flags at position {start} in '{text}'")
                })?;
                for flag in text[i + 1..end].split(',') {
                    let (on, name) = match flag.as_bytes().first() {
                        Some(b'+') => (true, &flag[1..]),
                        Some(b'-') => (false, &flag[1..]),
                        _ => (true, flag),
                    };
                    match name {
                        "Q" => quote = on,
                        "E" => escape = on,
                        "X" => hex = on,
                        "" => {}
                        other => {
                            return Err(format!(
                                "log-format flag '{other}' in '{text}' is not supported by halo yet (only Q, X and E are)"
                            ));
                        }
                    }
                }
                i = end + 1;
            }
            match b.get(i) {
                Some(b'[') => {
                    let end = expr_end(b, i + 1).ok_or_else(|| {
                        format!(
                            "missing ']' after the sample expression at position {start} in '{text}'"
                        )
                    })?;
                    let src = &text[i + 1..end];
                    let expr = Expr::parse(src, res)
                        .map_err(|e| format!("in sample expression '{src}': {e}"))?;
                    if !lit.is_empty() {
                        items.push(Item::Lit(std::mem::take(&mut lit)));
                    }
                    items.push(Item::Expr {
                        expr: Box::new(expr),
                        quote,
                        escape,
                    });
                    i = end + 1;
                }
                Some(c) if c.is_ascii_alphabetic() => {
                    let mut j = i;
                    while j < b.len() && b[j].is_ascii_alphanumeric() {
                        j += 1;
                    }
                    let name = &text[i..j];
                    if log && let Some(v) = LogVar::parse(name) {
                        let flags = Flags { quote, hex, escape };
                        if v == LogVar::AllFlags {
                            all = flags;
                        } else {
                            if !lit.is_empty() {
                                items.push(Item::Lit(std::mem::take(&mut lit)));
                            }
                            items.push(Item::Var(v, flags));
                        }
                        i = j;
                        continue;
                    }
                    return Err(if ALIASES.contains(&name) {
                        format!(
                            "log-format variable '%{name}' in '{text}' is not available in halo yet (log variables arrive with logging); use a sample expression '%[...]' or write '%%' for a literal '%'"
                        )
                    } else {
                        format!(
                            "unknown log-format variable '%{name}' in '{text}'; write '%%' for a literal '%'"
                        )
                    });
                }
                _ => {
                    return Err(format!(
                        "unexpected character after '%' at position {start} in '{text}'; write '%%' for a literal '%'"
                    ));
                }
            }
        }
        if !lit.is_empty() {
            items.push(Item::Lit(lit));
        }
        Ok(LogFormat { items })
    }

    /// A format made of a literal string only (for arguments that are not log-formats).
    pub fn literal(text: &[u8]) -> LogFormat {
        let items = if text.is_empty() {
            Vec::new()
        } else {
            vec![Item::Lit(text.to_vec())]
        };
        LogFormat { items }
    }

    /// Appends the rendered format to `out`. A sample that cannot be fetched renders as
    /// nothing (HAProxy 2.6 does the same in header values); bytes forbidden in header
    /// fields coming from samples are written `%XX`.
    pub fn render(&self, ctx: &Ctx<'_>, out: &mut Vec<u8>) {
        for item in &self.items {
            match item {
                Item::Lit(l) => out.extend_from_slice(l),
                Item::Expr {
                    expr,
                    quote,
                    escape,
                } => {
                    if *quote {
                        out.push(b'"');
                    }
                    if let Some(s) = expr.eval(ctx) {
                        for &c in s.to_bytes().iter() {
                            if (c < 0x20 && c != b'\t') || c == 0x7f {
                                out.extend_from_slice(format!("%{c:02X}").as_bytes());
                            } else {
                                if *escape && matches!(c, b'"' | b'\\' | b']') {
                                    out.push(b'\\');
                                }
                                out.push(c);
                            }
                        }
                    }
                    if *quote {
                        out.push(b'"');
                    }
                }
                // Parsed only in log formats, rendered by `render_log`.
                Item::Var(..) | Item::Sep => {}
            }
        }
    }

    /// Appends the log line of `rec`: a sample that cannot be fetched is `-`.
    pub fn render_log(&self, ctx: &Ctx<'_>, rec: &LogRecord<'_>, out: &mut Vec<u8>) {
        // `%[…]` expressions see the line's record (`txn.timer.total`, `bytes_in`…).
        let ctx = &Ctx {
            log: Some(rec),
            ..ctx.clone()
        };
        // Whether the last byte written is a separator (none is written at the start).
        let mut sep = true;
        for item in &self.items {
            let before = out.len();
            match item {
                Item::Sep => {
                    if !sep {
                        out.push(b' ');
                        sep = true;
                    }
                    continue;
                }
                Item::Lit(l) => out.extend_from_slice(l),
                Item::Var(v, f) => rec.render(*v, *f, out),
                Item::Expr {
                    expr,
                    quote,
                    escape,
                } => match expr.eval(ctx) {
                    Some(s) => {
                        let b = s.to_bytes();
                        if *quote {
                            out.push(b'"');
                        }
                        for &c in b.iter() {
                            if *escape && matches!(c, b'"' | b'\\' | b']') {
                                out.push(b'\\');
                            }
                            out.push(c);
                        }
                        if *quote {
                            out.push(b'"');
                        }
                    }
                    None if *quote => out.extend_from_slice(b"\"\""),
                    None => out.push(b'-'),
                },
            }
            // Any item ends a run of separators, even printing nothing (an empty `%HQ`),
            // except the header captures when there is none.
            let captures = matches!(
                item,
                Item::Var(
                    LogVar::ReqHeaders
                        | LogVar::ResHeaders
                        | LogVar::ReqHeadersClf
                        | LogVar::ResHeadersClf,
                    _
                )
            );
            if out.len() > before || !captures {
                sep = false;
            }
        }
    }

    /// Whether the format prints one of these variables.
    pub fn uses(&self, vars: &[LogVar]) -> bool {
        self.items
            .iter()
            .any(|i| matches!(i, Item::Var(v, _) if vars.contains(v)))
    }

    /// The rendered format in a new vector.
    pub fn render_vec(&self, ctx: &Ctx<'_>) -> Vec<u8> {
        let mut v = Vec::new();
        self.render(ctx, &mut v);
        v
    }

    /// Whether the format has no sample expression (it renders the same every time).
    pub fn is_constant(&self) -> bool {
        self.items.iter().all(|i| matches!(i, Item::Lit(_)))
    }

    /// The text of a constant format.
    pub fn constant(&self) -> Option<Vec<u8>> {
        if !self.is_constant() {
            return None;
        }
        let mut v = Vec::new();
        for i in &self.items {
            if let Item::Lit(l) = i {
                v.extend_from_slice(l);
            }
        }
        Some(v)
    }

    /// Whether the format renders nothing at all.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

fn find(b: &[u8], from: usize, c: u8) -> Option<usize> {
    b.iter().skip(from).position(|&x| x == c).map(|p| p + from)
}

/// The `]` ending a sample expression that starts at `from`: the first one outside
/// parentheses and quotes (arguments may contain `]`).
fn expr_end(b: &[u8], from: usize) -> Option<usize> {
    let mut depth = 0i32;
    let mut quote: Option<u8> = None;
    let mut i = from;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'\\' => i += 1,
                b'"' | b'\'' if depth > 0 => quote = Some(c),
                b'(' => depth += 1,
                b')' => depth -= 1,
                b']' if depth <= 0 => return Some(i),
                _ => {}
            },
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::h1::{Head, Limits, parse_request};
    use crate::sample::Sample;
    use crate::sample::vars::{VarName, Vars};

    use crate::sample::tests::NoNames as R;

    fn render(fmt: &str, ctx: &Ctx<'_>) -> String {
        let f = LogFormat::parse(fmt, &R).unwrap();
        String::from_utf8(f.render_vec(ctx)).unwrap()
    }

    #[test]
    fn literals_expressions_and_percent() {
        let ctx = Ctx::empty();
        assert_eq!(render("plain text", &ctx), "plain text");
        assert_eq!(render("100%%", &ctx), "100%");
        assert_eq!(render("a%[str(b)]c", &ctx), "abc");
        assert_eq!(render("%[int(40),add(2)]", &ctx), "42");
        assert_eq!(render("%{+Q}[str(x)]", &ctx), "\"x\"");
        assert_eq!(render("%{+E}[str(a\\\"b)]", &ctx), "a\\\"b");
        assert!(LogFormat::parse("x", &R).unwrap().is_constant());
        assert!(!LogFormat::parse("%[str(x)]", &R).unwrap().is_constant());
        assert_eq!(
            LogFormat::parse("a%%b", &R).unwrap().constant(),
            Some(b"a%b".to_vec())
        );
    }

    #[test]
    fn missing_samples_render_as_nothing() {
        let raw = b"GET /A/b?x=1 HTTP/1.1\r\nHost: Example.COM\r\n\r\n";
        let mut h = Head::new();
        parse_request(raw, &Limits::default(), &mut h)
            .unwrap()
            .unwrap();
        let mut ctx = Ctx::empty();
        ctx.req = Some(&h);
        assert_eq!(render("[%[req.hdr(nope)]]", &ctx), "[]");
        assert_eq!(
            render("%[req.hdr(Host),lower]%[req.uri,lower]", &ctx),
            "example.com/a/b?x=1"
        );
        // A bracket inside the arguments does not end the expression.
        assert_eq!(render("%[str(a]b)]", &ctx), "a]b");
    }

    #[test]
    fn variables() {
        let vars = Vars::new();
        vars.set(&VarName::parse("txn.v").unwrap(), Sample::Int(5));
        let mut ctx = Ctx::empty();
        ctx.vars = Some(&vars);
        assert_eq!(render("v=%[var(txn.v)]", &ctx), "v=5");
        assert_eq!(render("w=%[var(txn.w)]", &ctx), "w=");
        assert_eq!(render("w=%[var(txn.w,dflt)]", &ctx), "w=dflt");
        // concat appends after the sample (HAProxy 2.6: "S<V>", "S<>").
        assert_eq!(render("%[str(S),concat(<,txn.v,>)]", &ctx), "S<5>");
        assert_eq!(render("%[str(S),concat(<,txn.nope,>)]", &ctx), "S<>");
    }

    #[test]
    fn control_bytes_are_encoded() {
        let ctx = Ctx::empty();
        assert_eq!(render("%[bin(610d0a)]", &ctx), "a%0D%0A");
    }

    #[test]
    fn errors_name_the_item() {
        let e = LogFormat::parse("%ci:%cp", &R).unwrap_err();
        assert!(e.contains("'%ci'") && e.contains("logging"), "{e}");
        assert!(LogFormat::parse("%zz", &R).unwrap_err().contains("'%zz'"));
        assert!(LogFormat::parse("50% off", &R).is_err());
        assert!(LogFormat::parse("%[str(a)", &R).is_err());
        assert!(LogFormat::parse("%[nosuchfetch]", &R).is_err());
        assert!(LogFormat::parse("%{+Q}[src", &R).is_err());
    }
}
