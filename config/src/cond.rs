//! Conditional blocks (manual 2.4): the `.if`/`.elif`/`.else`/`.endif` nesting state of one
//! file, the condition language (integers, predicates, `!`, `&&`, `||`, parentheses) with
//! its predicates, and the `.notice`/`.warning`/`.alert`/`.diag` report directives.

use std::cmp::Ordering;

/// HAProxy refuses to nest more `.if` levels than this (127 open levels at most).
pub const MAX_NESTED_CONDS: usize = 128;

/// Guard against pathological expressions such as thousands of opening parentheses.
const MAX_EXPR_DEPTH: usize = 256;

/// The level of a report directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Alert,
    Warning,
    Notice,
    Diag,
}

/// What to do with a line after the conditional blocks have seen it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineFate {
    /// A normal line in an active block: parse it.
    Active,
    /// A normal line in a block that is disabled by its condition: ignore it.
    Skipped,
    /// One of the eight directives, consumed. `Some` carries the message of an active
    /// `.notice`/`.warning`/`.alert`/`.diag`; it is `None` for the block directives and for
    /// report directives inside a disabled block. An `.alert` must stop the loading.
    Directive(Option<(Level, String)>),
}

/// What predicates can see of the running program.
#[derive(Clone, Copy)]
pub struct CondCtx<'a> {
    /// The HAProxy version halo answers for, e.g. "2.6.12" or "3.1-dev4".
    pub version: &'a str,
    /// Names found by `feature(X)` (the `+X` of `haproxy -vv`), e.g. "LINUX_SPLICE",
    /// "THREAD", "OPENSSL". `enabled(X)` also answers from this list (halo has no
    /// run-time switches such as `noepoll`): true when X is listed, `SPLICE` also
    /// matching `LINUX_SPLICE`.
    pub features: &'a [&'a str],
    /// The TLS library name, for `ssllib_name_startswith` (case-sensitive).
    pub ssl_lib: &'a str,
    /// The OpenSSL (or pseudo-OpenSSL) version, e.g. "3.0.19" or "1.1.1w"; empty when
    /// there is none, in which case `openssl_version_atleast/before` are both false.
    pub openssl_version: &'a str,
    /// Resolves environment variables for `defined()`.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Branch {
    /// The current branch is the one being used.
    Taking,
    /// No branch taken yet; a later `.elif` or `.else` may be.
    Pending,
    /// A branch was already taken, or the enclosing block is disabled.
    Done,
}

#[derive(Debug, Clone)]
struct Frame {
    branch: Branch,
    seen_else: bool,
    line: usize,
}

/// The stack of open conditional blocks of one file (HAProxy does not let a block span
/// files: use one `CondStack` per file).
#[derive(Debug, Clone, Default)]
pub struct CondStack {
    frames: Vec<Frame>,
}

impl CondStack {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether normal lines are currently used.
    pub fn is_active(&self) -> bool {
        self.frames
            .last()
            .is_none_or(|f| f.branch == Branch::Taking)
    }

    /// How many `.if` blocks are open.
    pub fn depth(&self) -> usize {
        self.frames.len()
    }

    /// Decides the fate of a line given its words (already split by the lexer) and its
    /// line number (remembered for `.if`, see [`CondStack::finish`]). Conditions are only
    /// evaluated where they matter: not inside a disabled block, nor after a branch was
    /// taken. Errors are HAProxy's fatal ones: misplaced `.elif`/`.else`/`.endif`, extra
    /// arguments, bad conditions, unknown `.xxx` directives in an active block.
    pub fn feed(
        &mut self,
        words: &[String],
        ctx: &CondCtx,
        line: usize,
    ) -> Result<LineFate, String> {
        let Some(first) = words.first() else {
            return Ok(self.plain_fate());
        };
        let directive = first.as_str();
        match directive {
            ".if" => {
                if self.frames.len() + 1 >= MAX_NESTED_CONDS {
                    return Err(format!("too many nested '.if', max is {MAX_NESTED_CONDS}"));
                }
                let branch = if self.is_active() {
                    if eval_in(&words[1..], ctx, directive)? {
                        Branch::Taking
                    } else {
                        Branch::Pending
                    }
                } else {
                    Branch::Done
                };
                self.frames.push(Frame {
                    branch,
                    seen_else: false,
                    line,
                });
                Ok(LineFate::Directive(None))
            }
            ".elif" => {
                let Some(frame) = self.frames.last_mut() else {
                    return Err(String::from("lone '.elif' with no matching '.if'"));
                };
                if frame.seen_else {
                    return Err(String::from("'.elif' after '.else' is not permitted"));
                }
                frame.branch = match frame.branch {
                    Branch::Taking | Branch::Done => Branch::Done,
                    Branch::Pending => {
                        if eval_in(&words[1..], ctx, directive)? {
                            Branch::Taking
                        } else {
                            Branch::Pending
                        }
                    }
                };
                Ok(LineFate::Directive(None))
            }
            ".else" | ".endif" => {
                if self.frames.is_empty() {
                    return Err(format!("lone '{directive}' with no matching '.if'"));
                }
                if let Some(extra) = words.get(1).filter(|w| !w.is_empty()) {
                    return Err(format!("Unexpected argument '{extra}' for '{directive}'"));
                }
                if directive == ".endif" {
                    self.frames.pop();
                } else if let Some(frame) = self.frames.last_mut() {
                    if frame.seen_else {
                        return Err(String::from("'.else' after '.else' is not permitted"));
                    }
                    frame.seen_else = true;
                    frame.branch = match frame.branch {
                        Branch::Pending => Branch::Taking,
                        Branch::Taking | Branch::Done => Branch::Done,
                    };
                }
                Ok(LineFate::Directive(None))
            }
            ".alert" | ".warning" | ".notice" | ".diag" => {
                if !self.is_active() {
                    return Ok(LineFate::Directive(None));
                }
                if let Some(extra) = words.get(2).filter(|w| !w.is_empty()) {
                    return Err(format!(
                        "Unexpected argument '{extra}' for '{directive}'. Use quotes if the \
                         message should contain spaces."
                    ));
                }
                let level = match directive {
                    ".alert" => Level::Alert,
                    ".warning" => Level::Warning,
                    ".notice" => Level::Notice,
                    _ => Level::Diag,
                };
                let message = words.get(1).cloned().unwrap_or_default();
                Ok(LineFate::Directive(Some((level, message))))
            }
            _ if !self.is_active() => Ok(LineFate::Skipped),
            _ if directive.starts_with('.') => Err(format!("unknown directive '{directive}'")),
            _ => Ok(LineFate::Active),
        }
    }

    /// At the end of a file: an error naming the innermost `.if` still open.
    pub fn finish(&self) -> Result<(), String> {
        match self.frames.last() {
            None => Ok(()),
            Some(f) => Err(format!(
                "missing '.endif' for '.if' at line {} (non-terminated '.if' block)",
                f.line
            )),
        }
    }

    fn plain_fate(&self) -> LineFate {
        if self.is_active() {
            LineFate::Active
        } else {
            LineFate::Skipped
        }
    }
}

fn eval_in(words: &[String], ctx: &CondCtx, directive: &str) -> Result<bool, String> {
    eval_condition(words, ctx).map_err(|e| format!("{e} in '{directive}'"))
}

/// Evaluates a condition given as the words after `.if` (or the text of `-cc`). The words
/// are joined with single spaces, then parsed as one expression: spaces inside predicate
/// arguments are part of the values. An empty condition is false. The whole expression
/// is checked for syntax first; evaluation then stops as soon as the result is known
/// (`1 || version_atleast(junk)` is true).
pub fn eval_condition(words: &[String], ctx: &CondCtx) -> Result<bool, String> {
    let text = words.join(" ");
    let mut p = Parser {
        text: &text,
        b: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    p.skip_blanks();
    if p.pos >= p.b.len() || p.b[p.pos..].iter().all(|c| c.is_ascii_whitespace()) {
        return Ok(false);
    }
    let expr = p.parse_or()?;
    while p.peek().is_some_and(|c| c.is_ascii_whitespace()) {
        p.pos += 1;
    }
    if let Some(c) = p.rest().chars().next() {
        return Err(format!(
            "unexpected character '{c}' at the end of conditional expression '{text}'"
        ));
    }
    expr.eval(ctx)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pred {
    Defined,
    Feature,
    Streq,
    Strneq,
    Strstr,
    VersionAtleast,
    VersionBefore,
    Enabled,
    FipsMode,
    OpensslVersionAtleast,
    OpensslVersionBefore,
    SsllibNameStartswith,
    AwslcApiAtleast,
    AwslcApiBefore,
}

impl Pred {
    /// The predicate and its (minimum, maximum) number of arguments. Single-argument
    /// predicates accept `name` or `name()` as HAProxy does, with an empty argument.
    fn lookup(name: &str) -> Option<(Pred, usize, usize)> {
        Some(match name {
            "defined" => (Pred::Defined, 0, 1),
            "feature" => (Pred::Feature, 0, 1),
            "streq" => (Pred::Streq, 2, 2),
            "strneq" => (Pred::Strneq, 2, 2),
            "strstr" => (Pred::Strstr, 2, 2),
            "version_atleast" => (Pred::VersionAtleast, 0, 1),
            "version_before" => (Pred::VersionBefore, 0, 1),
            "enabled" => (Pred::Enabled, 0, 1),
            "fips_mode" => (Pred::FipsMode, 0, 0),
            "openssl_version_atleast" => (Pred::OpensslVersionAtleast, 0, 1),
            "openssl_version_before" => (Pred::OpensslVersionBefore, 0, 1),
            "ssllib_name_startswith" => (Pred::SsllibNameStartswith, 0, 1),
            "awslc_api_atleast" => (Pred::AwslcApiAtleast, 0, 1),
            "awslc_api_before" => (Pred::AwslcApiBefore, 0, 1),
            _ => return None,
        })
    }

    fn eval(self, name: &str, args: &[String], ctx: &CondCtx) -> Result<bool, String> {
        let a0 = args.first().map(String::as_str).unwrap_or("");
        let a1 = args.get(1).map(String::as_str).unwrap_or("");
        Ok(match self {
            Pred::Defined => !a0.is_empty() && (ctx.env)(a0).is_some(),
            Pred::Feature => !a0.is_empty() && ctx.features.contains(&a0),
            Pred::Enabled => {
                !a0.is_empty()
                    && (ctx.features.contains(&a0)
                        || (a0 == "SPLICE" && ctx.features.contains(&"LINUX_SPLICE")))
            }
            Pred::Streq => a0 == a1,
            Pred::Strneq => a0 != a1,
            Pred::Strstr => a0.contains(a1),
            Pred::VersionAtleast | Pred::VersionBefore => {
                let want = Version::parse(a0, false)
                    .ok_or_else(|| format!("invalid version '{a0}' in argument to '{name}'"))?;
                let have = Version::parse(ctx.version, false).ok_or_else(|| {
                    format!("cannot compare with the current version '{}'", ctx.version)
                })?;
                let ord = have.cmp(&want);
                if self == Pred::VersionAtleast {
                    ord != Ordering::Less
                } else {
                    ord == Ordering::Less
                }
            }
            Pred::OpensslVersionAtleast | Pred::OpensslVersionBefore => {
                let want = Version::parse(a0, true)
                    .ok_or_else(|| format!("invalid version '{a0}' in argument to '{name}'"))?;
                match openssl_version(ctx.openssl_version) {
                    None => false,
                    Some(have) => {
                        let ord = have.cmp(&want);
                        if self == Pred::OpensslVersionAtleast {
                            ord != Ordering::Less
                        } else {
                            ord == Ordering::Less
                        }
                    }
                }
            }
            Pred::SsllibNameStartswith => ctx.ssl_lib.starts_with(a0),
            // halo does not run on a FIPS-validated library nor on AWS-LC.
            Pred::FipsMode => false,
            Pred::AwslcApiAtleast | Pred::AwslcApiBefore => {
                if a0.parse::<u64>().is_err() {
                    return Err(format!("invalid API number '{a0}' in argument to '{name}'"));
                }
                false
            }
        })
    }
}

/// The current OpenSSL version: empty means no library; a full banner such as
/// "OpenSSL 3.0.2 15 Mar 2022" is accepted too (its first word starting with a digit).
fn openssl_version(s: &str) -> Option<Version> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    Version::parse(s, true).or_else(|| {
        s.split_whitespace()
            .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
            .and_then(|w| Version::parse(w, true))
    })
}

/// A version such as `2.6.12`, `2.4-dev19`, `3.1-rc2`, `2.6.12-1+deb12u4` or, for
/// OpenSSL, `1.1.1k` and `3.2.0-alpha1`. Missing numeric components count as zero;
/// pre-releases (`-devN`, `-alphaN`, `-betaN`, `-preN`, `-rcN`) are older than the
/// release, and a numeric suffix (`-1`) is newer (commits after the release).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    nums: Vec<u64>,
    /// OpenSSL patch letters (`k` in 1.1.1k), a=1.
    letters: Vec<u8>,
    /// 0 dev, 1 alpha, 2 beta, 3 pre, 4 rc, 5 release.
    stage: u8,
    stage_num: u64,
}

impl Version {
    fn parse(s: &str, letters_allowed: bool) -> Option<Version> {
        let b = s.as_bytes();
        let mut pos = 0;
        let mut nums = Vec::new();
        loop {
            let start = pos;
            let mut n: u64 = 0;
            while let Some(d) = b.get(pos).filter(|c| c.is_ascii_digit()) {
                n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
                pos += 1;
            }
            if pos == start {
                return None;
            }
            nums.push(n);
            if b.get(pos) == Some(&b'.') {
                pos += 1;
            } else {
                break;
            }
        }
        let mut letters = Vec::new();
        if letters_allowed {
            while let Some(c) = b.get(pos).filter(|c| c.is_ascii_lowercase()) {
                letters.push(c - b'a' + 1);
                pos += 1;
            }
        }
        let (mut stage, mut stage_num): (u8, u64) = (5, 0);
        match b.get(pos) {
            None | Some(b'+') | Some(b' ') => {}
            Some(b'-') => {
                pos += 1;
                let tag_start = pos;
                while b.get(pos).is_some_and(|c| c.is_ascii_alphabetic()) {
                    pos += 1;
                }
                let tag = s
                    .get(tag_start..pos)
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                stage = match tag.as_str() {
                    "dev" => 0,
                    "alpha" => 1,
                    "beta" => 2,
                    "pre" => 3,
                    "rc" => 4,
                    _ => 5,
                };
                if stage < 5 || tag.is_empty() {
                    while let Some(d) = b.get(pos).filter(|c| c.is_ascii_digit()) {
                        stage_num = stage_num
                            .saturating_mul(10)
                            .saturating_add(u64::from(d - b'0'));
                        pos += 1;
                    }
                }
                // Anything after (build tags, dates, distribution suffixes) is ignored.
            }
            Some(_) => return None,
        }
        Some(Version {
            nums,
            letters,
            stage,
            stage_num,
        })
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.nums.len().max(other.nums.len());
        for i in 0..len {
            let a = self.nums.get(i).copied().unwrap_or(0);
            let b = other.nums.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        self.letters
            .cmp(&other.letters)
            .then(self.stage.cmp(&other.stage))
            .then(self.stage_num.cmp(&other.stage_num))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug)]
enum Expr {
    Const(bool),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Pred {
        pred: Pred,
        name: String,
        args: Vec<String>,
    },
}

impl Expr {
    fn eval(&self, ctx: &CondCtx) -> Result<bool, String> {
        match self {
            Expr::Const(v) => Ok(*v),
            Expr::Not(e) => Ok(!e.eval(ctx)?),
            Expr::And(list) => {
                for e in list {
                    if !e.eval(ctx)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Expr::Or(list) => {
                for e in list {
                    if e.eval(ctx)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Expr::Pred { pred, name, args } => pred.eval(name, args, ctx),
        }
    }
}

struct Parser<'t> {
    text: &'t str,
    b: &'t [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn rest(&self) -> &str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn unparsable(&self) -> String {
        format!("unparsable conditional expression '{}'", self.rest())
    }

    /// expr := and ( '||' and )*
    fn parse_or(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > MAX_EXPR_DEPTH {
            return Err(String::from("conditional expression nested too deeply"));
        }
        let mut list = vec![self.parse_and()?];
        loop {
            self.skip_blanks();
            if self.rest().starts_with("||") {
                self.pos += 2;
                list.push(self.parse_and()?);
            } else {
                break;
            }
        }
        self.depth -= 1;
        Ok(if list.len() == 1 {
            list.pop().unwrap_or(Expr::Const(false))
        } else {
            Expr::Or(list)
        })
    }

    /// and := term ( '&&' term )*
    fn parse_and(&mut self) -> Result<Expr, String> {
        let mut list = vec![self.parse_term()?];
        loop {
            self.skip_blanks();
            if self.rest().starts_with("&&") {
                self.pos += 2;
                list.push(self.parse_term()?);
            } else {
                break;
            }
        }
        Ok(if list.len() == 1 {
            list.pop().unwrap_or(Expr::Const(false))
        } else {
            Expr::And(list)
        })
    }

    /// term := '!'* ( integer | '(' expr ')' | predicate [ '(' args ')' ] )
    fn parse_term(&mut self) -> Result<Expr, String> {
        self.skip_blanks();
        let mut negate = false;
        while self.peek() == Some(b'!') {
            negate = !negate;
            self.pos += 1;
            self.skip_blanks();
        }
        let start = self.pos;
        let term = if let Some(v) = self.integer() {
            Expr::Const(v)
        } else if self.peek() == Some(b'(') {
            self.pos += 1;
            self.skip_blanks();
            let inner = self.parse_or()?;
            self.skip_blanks();
            if self.peek() != Some(b')') {
                return Err(format!(
                    "expected ')' after conditional expression '{}'",
                    self.text.get(start..).unwrap_or_default()
                ));
            }
            self.pos += 1;
            inner
        } else if self
            .peek()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        {
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
            {
                self.pos += 1;
            }
            let name = self.text.get(start..self.pos).unwrap_or_default();
            let Some((pred, min, max)) = Pred::lookup(name) else {
                return Err(format!(
                    "unknown predicate '{name}' in conditional expression '{}'",
                    self.text.get(start..).unwrap_or_default()
                ));
            };
            let args = if self.peek() == Some(b'(') {
                self.pos += 1;
                self.arguments(name)?
            } else {
                Vec::new()
            };
            if args.len() < min {
                return Err(format!(
                    "missing arguments (got {}/{min}) to predicate '{name}'",
                    args.len()
                ));
            }
            if args.len() > max {
                return Err(format!(
                    "too many arguments (got {}, at most {max}) to predicate '{name}'",
                    args.len()
                ));
            }
            Expr::Pred {
                pred,
                name: name.to_string(),
                args,
            }
        } else {
            return Err(self.unparsable());
        };
        Ok(if negate {
            Expr::Not(Box::new(term))
        } else {
            term
        })
    }

    /// An integer as C's `strtol(…, 0)` reads it (sign, `0x` hex, leading-zero octal);
    /// `Some(true)` when non-zero. `None` when no digit is there.
    fn integer(&mut self) -> Option<bool> {
        let b = self.b;
        let mut i = self.pos;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let digits_start;
        let valid: fn(&u8) -> bool;
        if b.get(i) == Some(&b'0')
            && matches!(b.get(i + 1), Some(b'x' | b'X'))
            && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        {
            digits_start = i + 2;
            valid = u8::is_ascii_hexdigit;
        } else if b.get(i) == Some(&b'0') {
            digits_start = i;
            valid = |c| (b'0'..=b'7').contains(c);
        } else {
            digits_start = i;
            valid = u8::is_ascii_digit;
        }
        let mut end = digits_start;
        while b.get(end).is_some_and(valid) {
            end += 1;
        }
        if end == digits_start {
            return None;
        }
        self.pos = end;
        Some(b[digits_start..end].iter().any(|&c| c != b'0'))
    }

    /// Predicate arguments after the opening parenthesis, up to and including the closing
    /// one: split on commas; single and double quotes protect commas and parentheses;
    /// `\\`, `\'`, `\"`, `\ `, `\n`, `\r` and `\t` are escapes outside single quotes (not
    /// `\#`, `\$` nor `\xNN`); spaces are part of the values. `()` means no argument.
    fn arguments(&mut self, name: &str) -> Result<Vec<String>, String> {
        let mut args = Vec::new();
        if self.peek() == Some(b')') {
            self.pos += 1;
            return Ok(args);
        }
        let mut cur: Vec<u8> = Vec::new();
        let mut quote: Option<u8> = None;
        loop {
            let Some(c) = self.peek() else {
                return Err(match quote {
                    Some(q) => format!(
                        "unmatched quote ({}) in argument {} to predicate '{name}'",
                        q as char,
                        args.len() + 1
                    ),
                    None => format!("expected ')' after the arguments to predicate '{name}'"),
                });
            };
            self.pos += 1;
            match quote {
                Some(b'\'') => {
                    if c == b'\'' {
                        quote = None;
                    } else {
                        cur.push(c);
                    }
                    continue;
                }
                Some(q) if c == q => {
                    quote = None;
                    continue;
                }
                _ => {}
            }
            match c {
                b'\\' => {
                    let esc = match self.peek() {
                        Some(n @ (b'\\' | b'\'' | b'"' | b' ')) => Some(n),
                        Some(b'n') => Some(b'\n'),
                        Some(b'r') => Some(b'\r'),
                        Some(b't') => Some(b'\t'),
                        _ => None,
                    };
                    match esc {
                        Some(e) => {
                            cur.push(e);
                            self.pos += 1;
                        }
                        None => cur.push(b'\\'),
                    }
                }
                b'\'' | b'"' if quote.is_none() => quote = Some(c),
                b',' if quote.is_none() => {
                    args.push(String::from_utf8_lossy(&cur).into_owned());
                    cur.clear();
                }
                b')' if quote.is_none() => {
                    args.push(String::from_utf8_lossy(&cur).into_owned());
                    return Ok(args);
                }
                _ => cur.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("1".into()),
            "B" => Some("0".into()),
            "E" => Some(String::new()),
            "WITH_SSL" => Some("yes".into()),
            "HAPROXY_BRANCH" => Some("3.1".into()),
            _ => None,
        }
    }

    const FEATURES: &[&str] = &["LINUX_SPLICE", "THREAD", "OPENSSL", "EPOLL", "POLL"];

    fn ctx() -> CondCtx<'static> {
        CondCtx {
            version: "2.6.12",
            features: FEATURES,
            ssl_lib: "OpenSSL",
            openssl_version: "3.0.19",
            env: &env,
        }
    }

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn eval(s: &str) -> Result<bool, String> {
        eval_condition(&words(s), &ctx())
    }

    fn is_true(s: &str) -> bool {
        match eval(s) {
            Ok(v) => v,
            Err(e) => panic!("{s:?} failed: {e}"),
        }
    }

    fn fails(s: &str) -> String {
        match eval(s) {
            Ok(v) => panic!("{s:?} should fail, gave {v}"),
            Err(e) => e,
        }
    }

    /// Feeds lines (split on whitespace) and returns, per line, the fate or the error.
    fn run(lines: &[&str]) -> (Vec<Result<LineFate, String>>, Result<(), String>) {
        let c = ctx();
        let mut st = CondStack::new();
        let fates = lines
            .iter()
            .enumerate()
            .map(|(i, l)| st.feed(&split(l), &c, i + 1))
            .collect();
        (fates, st.finish())
    }

    /// Like `words` but keeps a quoted message (`.notice "a b"`) as one word.
    fn split(line: &str) -> Vec<String> {
        match line.find('"') {
            Some(q) => {
                let mut w = words(&line[..q]);
                w.push(line[q..].trim_matches('"').to_string());
                w
            }
            None => words(line),
        }
    }

    /// Which normal lines are used.
    fn active_lines(lines: &[&str]) -> Vec<String> {
        let (fates, fin) = run(lines);
        assert_eq!(fin, Ok(()));
        lines
            .iter()
            .zip(fates)
            .filter_map(|(l, f)| match f {
                Ok(LineFate::Active) => Some(l.trim().to_string()),
                Ok(LineFate::Directive(Some((_, m)))) => Some(format!("msg:{m}")),
                Ok(_) => None,
                Err(e) => panic!("{l}: {e}"),
            })
            .collect()
    }

    #[test]
    fn empty_condition_is_false() {
        assert!(!is_true(""));
        assert!(!is_true("   "));
        assert!(!eval_condition(&[], &ctx()).unwrap_or(true));
        assert!(!eval_condition(&[String::new()], &ctx()).unwrap_or(true));
    }

    #[test]
    fn integers() {
        assert!(!is_true("0"));
        assert!(is_true("1"));
        assert!(is_true("42"));
        assert!(is_true("-1"));
        assert!(!is_true("+0"));
        assert!(!is_true("-0"));
        assert!(!is_true("00"));
        assert!(is_true("010"));
        assert!(is_true("0x10"));
        assert!(!is_true("0x0"));
        assert!(is_true("99999999999999999999999"));
        assert!(fails("0x").contains("unexpected character 'x'"));
        assert!(fails("09").contains("unexpected character '9'"));
        assert!(fails("1 1").contains("unexpected character '1'"));
    }

    #[test]
    fn negation() {
        assert!(is_true("!0"));
        assert!(is_true("! 0"));
        assert!(!is_true("!1"));
        assert!(is_true("!!1"));
        assert!(!is_true("! !0"));
        assert!(is_true("!(0)"));
        assert!(!is_true("! (1)"));
        assert!(!is_true("!(!(0))"));
        assert!(!is_true("!defined(A)"));
        assert!(fails("!").contains("unparsable"));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert!(is_true("1 && 0 || 1"));
        assert!(!is_true("0 || 1 && 0"));
        assert!(is_true("1 || 1 && 0"));
        assert!(is_true("0 && 0 || 1 && 1"));
        assert!(!is_true("1&&1&&0"));
        assert!(is_true("0||0||1"));
        assert!(!is_true("0||0||0"));
        assert!(is_true("1||0"));
        assert!(is_true("1|| 0"));
    }

    #[test]
    fn parentheses() {
        assert!(is_true("( 1 )"));
        assert!(is_true("(((1)))"));
        assert!(is_true("(0)||(1)"));
        assert!(!is_true("(1 || 0) && 0"));
        assert!(is_true("1 && (0 || !0)"));
        assert!(fails("(1").contains("expected ')'"));
        assert!(fails("()").contains("unparsable"));
        let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(fails(&deep).contains("too deeply"));
    }

    #[test]
    fn syntax_errors() {
        assert!(fails("1 &&").contains("unparsable"));
        assert!(fails("&& 1").contains("unparsable conditional expression '&& 1'"));
        assert!(fails("1 & 1").contains("unexpected character '&'"));
        assert!(fails("1 &&& 1").contains("unparsable conditional expression '& 1'"));
        assert!(fails("1 ||").contains("unparsable"));
        assert!(fails("streq(a,a)x").contains("unexpected character 'x'"));
        assert!(fails("streq(a,a)streq(a,a)").contains("unexpected character 's'"));
        assert!(fails("#").contains("unparsable"));
    }

    #[test]
    fn syntax_is_checked_even_where_not_evaluated() {
        assert!(fails("1 || foo").contains("unknown predicate 'foo'"));
        assert!(fails("0 && foo(").contains("unknown predicate 'foo'"));
        assert!(fails("1 || streq(a)").contains("missing arguments"));
    }

    #[test]
    fn evaluation_short_circuits() {
        assert!(is_true("1 || version_atleast(junk)"));
        assert!(!is_true("0 && version_atleast(junk)"));
        assert!(fails("0 || version_atleast(junk)").contains("invalid version 'junk'"));
    }

    #[test]
    fn unknown_predicates_are_named() {
        let e = fails("foo(1)");
        assert!(e.contains("unknown predicate 'foo'"), "{e}");
        assert!(fails("bar").contains("'bar'"));
        assert!(fails("defined(A) || foo(").contains("'foo'"));
    }

    #[test]
    fn defined() {
        assert!(is_true("defined(A)"));
        assert!(is_true("defined(E)"));
        assert!(!is_true("defined(ZZ)"));
        assert!(!is_true("defined()"));
        assert!(!is_true("defined"));
        assert!(!is_true("defined( A )"));
        assert!(fails("defined(A,B)").contains("too many arguments"));
        assert!(fails("defined(A").contains("expected ')'"));
    }

    #[test]
    fn manual_spaces_are_part_of_values() {
        // `.if defined( HAPROXY_MWORKER )` tests " HAPROXY_MWORKER ".
        let c = ctx();
        let probe = |n: &str| (n == " A ").then(String::new);
        let c2 = CondCtx { env: &probe, ..c };
        assert!(eval_condition(&words("defined( A )"), &c2).unwrap_or(false));
        // `.if streq("$ENABLE_SSL",     1)` compares with " 1".
        assert!(!is_true("streq(1, 1)"));
        assert!(is_true("streq(1,1)"));
        assert!(eval_condition(&["streq(0,".into(), "1)".into()], &c).is_ok_and(|v| !v));
        assert!(
            eval_condition(&["streq(a".into(), "b,a".into(), "b)".into()], &c).unwrap_or(false)
        );
    }

    #[test]
    fn feature() {
        assert!(is_true("feature(OPENSSL)"));
        assert!(is_true("feature(THREAD)"));
        assert!(!is_true("feature(OPENSS)"));
        assert!(!is_true("feature(openssl)"));
        assert!(!is_true("feature(LUA)"));
        assert!(!is_true("feature()"));
        assert!(is_true("!feature(QUIC)"));
    }

    #[test]
    fn string_predicates() {
        assert!(is_true("streq(a,a)"));
        assert!(!is_true("streq(a,b)"));
        assert!(is_true("streq(,)"));
        assert!(!is_true("streq(a,)"));
        assert!(is_true("strneq(a,b)"));
        assert!(!is_true("strneq(a,a)"));
        assert!(is_true("strstr(abc,b)"));
        assert!(is_true("strstr(abc,)"));
        assert!(!is_true("strstr(abc,d)"));
        assert!(!is_true("strstr(b,abc)"));
        assert!(fails("streq(a)").contains("missing arguments (got 1/2)"));
        assert!(fails("streq()").contains("missing arguments (got 0/2)"));
        assert!(fails("streq").contains("missing arguments"));
        assert!(fails("streq (a,a)").contains("missing arguments"));
        assert!(fails("streq(a,b,c)").contains("too many arguments"));
        assert!(fails("streq(a,a").contains("expected ')'"));
    }

    #[test]
    fn argument_quoting() {
        assert!(is_true(r#"streq("a,b","a,b")"#));
        assert!(is_true("streq('a)','a)')"));
        assert!(!is_true(r#"streq('"a"',"'a'")"#));
        assert!(is_true(r#"streq("a"b,ab)"#));
        assert!(is_true(r"streq(a\\b,'a\b')"));
        assert!(is_true(r#"streq(a\"b,'a"b')"#));
        assert!(is_true(r#"streq(a\'b,"a'b")"#));
        assert!(is_true(r"streq(a\zb,'a\zb')"));
        assert!(is_true(r"streq('a\n','a\n')"));
        assert!(!is_true(r"streq(a\n,'a\n')"));
        // Control characters produced by the lexer inside one word.
        let one = |s: &str| eval_condition(&[s.to_string()], &ctx());
        assert_eq!(one("streq(a\\nb,\"a\nb\")"), Ok(true));
        assert_eq!(one("streq(a\\tb,\"a\tb\")"), Ok(true));
        assert_eq!(one("streq(a\\ b,'a b')"), Ok(true));
        assert!(is_true(r"streq(a\x41,'a\x41')"));
        assert!(is_true(r"streq(a\#,'a\#')"));
        assert!(is_true(r"streq(a\$,'a\$')"));
        assert!(is_true("streq(a(b,a(b)"));
        assert!(fails("streq((a),(a))").contains("missing arguments"));
        assert!(fails("defined(a(b))").contains("unexpected character ')'"));
        assert!(fails(r#"streq("a,a)"#).contains("unmatched quote"));
        assert!(fails("streq('a,a)").contains("unmatched quote"));
    }

    #[test]
    fn manual_env_examples() {
        assert!(is_true("streq(3.1,3.1)"));
        let c = ctx();
        // After the lexer resolved "$HAPROXY_BRANCH" and "$WITH_SSL":
        assert!(eval_condition(&words("streq(3.1,3.1)"), &c).unwrap_or(false));
        assert!(is_true("strneq(,yes)"));
        assert!(is_true(
            "feature(OPENSSL) && (streq(yes,yes) || streq(,yes))"
        ));
        assert!(is_true("version_atleast(2.4-dev19)"));
        assert!(!is_true("!feature(OPENSSL)"));
    }

    #[test]
    fn haproxy_versions() {
        assert!(is_true("version_atleast(2.6)"));
        assert!(is_true("version_atleast(2.6.0)"));
        assert!(is_true("version_atleast(2.6.12)"));
        assert!(!is_true("version_atleast(2.6.13)"));
        assert!(is_true("version_before(2.6.13)"));
        assert!(!is_true("version_before(2.6.12)"));
        assert!(is_true("version_atleast(2)"));
        assert!(is_true("version_before(3)"));
        assert!(is_true("version_before(2.10)"));
        assert!(is_true("version_atleast(2.6-dev19)"));
        assert!(is_true("version_atleast(2.6.12-dev1)"));
        assert!(!is_true("version_before(2.6.12-dev1)"));
        assert!(is_true("version_atleast(2.6.12-rc1)"));
        assert!(!is_true("version_atleast(2.6.12-1)"));
        assert!(!is_true("version_atleast(2.6.12.1)"));
        assert!(is_true("version_atleast(2.6.12.0)"));
        assert!(is_true("version_atleast(2.6.12+deb12u4)"));
    }

    #[test]
    fn dev_versions_are_older_than_releases() {
        let dev = CondCtx {
            version: "3.1-dev4",
            ..ctx()
        };
        let t = |s: &str| eval_condition(&words(s), &dev);
        assert_eq!(t("version_atleast(3.1)"), Ok(false));
        assert_eq!(t("version_before(3.1)"), Ok(true));
        assert_eq!(t("version_atleast(3.1-dev4)"), Ok(true));
        assert_eq!(t("version_atleast(3.1-dev5)"), Ok(false));
        assert_eq!(t("version_atleast(3.1-dev)"), Ok(true));
        assert_eq!(t("version_atleast(3.0)"), Ok(true));
        assert_eq!(t("version_before(3.1-rc1)"), Ok(true));
        let rc = CondCtx {
            version: "3.1-rc2",
            ..ctx()
        };
        let t = |s: &str| eval_condition(&words(s), &rc);
        assert_eq!(t("version_atleast(3.1-dev19)"), Ok(true));
        assert_eq!(t("version_atleast(3.1-pre1)"), Ok(true));
        assert_eq!(t("version_atleast(3.1-rc3)"), Ok(false));
        assert_eq!(t("version_before(3.1.0)"), Ok(true));
    }

    #[test]
    fn invalid_versions_are_errors() {
        for v in ["abc", "", "2.x", "2..6", "2.6.", "v2", " 2.6", "-1", "2.6a"] {
            let e = fails(&format!("version_atleast({v})"));
            assert!(e.contains("invalid version"), "{v}: {e}");
        }
        let bad = CondCtx {
            version: "unknown",
            ..ctx()
        };
        assert!(eval_condition(&words("version_atleast(1)"), &bad).is_err());
    }

    #[test]
    fn openssl_versions() {
        assert!(is_true("openssl_version_atleast(1.1.1)"));
        assert!(is_true("openssl_version_atleast(3.0)"));
        assert!(is_true("openssl_version_atleast(3.0.19)"));
        assert!(!is_true("openssl_version_atleast(3.0.20)"));
        assert!(is_true("openssl_version_before(3.1)"));
        assert!(is_true("openssl_version_before(3.5.0)"));
        assert!(!is_true("openssl_version_before(1.1.1k)"));
        assert!(fails("openssl_version_atleast(abc)").contains("invalid version"));
        let old = CondCtx {
            openssl_version: "1.1.1k",
            ..ctx()
        };
        let t = |s: &str| eval_condition(&words(s), &old);
        assert_eq!(t("openssl_version_atleast(1.1.1)"), Ok(true));
        assert_eq!(t("openssl_version_atleast(1.1.1k)"), Ok(true));
        assert_eq!(t("openssl_version_atleast(1.1.1l)"), Ok(false));
        assert_eq!(t("openssl_version_before(1.1.1w)"), Ok(true));
        assert_eq!(t("openssl_version_before(3.0)"), Ok(true));
        let alpha = CondCtx {
            openssl_version: "3.2.0-alpha1",
            ..ctx()
        };
        let t = |s: &str| eval_condition(&words(s), &alpha);
        assert_eq!(t("openssl_version_atleast(3.2.0)"), Ok(false));
        assert_eq!(t("openssl_version_atleast(3.1.9)"), Ok(true));
        let banner = CondCtx {
            openssl_version: "OpenSSL 3.0.2 15 Mar 2022",
            ..ctx()
        };
        let t = |s: &str| eval_condition(&words(s), &banner);
        assert_eq!(t("openssl_version_atleast(3.0.2)"), Ok(true));
        assert_eq!(t("openssl_version_before(3.0.3)"), Ok(true));
    }

    #[test]
    fn no_ssl_library() {
        let none = CondCtx {
            openssl_version: "",
            ssl_lib: "",
            ..ctx()
        };
        let t = |s: &str| eval_condition(&words(s), &none);
        assert_eq!(t("openssl_version_atleast(1.0)"), Ok(false));
        assert_eq!(t("openssl_version_before(9.0)"), Ok(false));
        assert_eq!(t("ssllib_name_startswith(Open)"), Ok(false));
    }

    #[test]
    fn ssl_library_name() {
        assert!(is_true("ssllib_name_startswith(Open)"));
        assert!(is_true("ssllib_name_startswith(OpenSSL)"));
        assert!(!is_true("ssllib_name_startswith(open)"));
        assert!(!is_true("ssllib_name_startswith(wolfSSL)"));
        assert!(is_true("ssllib_name_startswith()"));
        assert!(is_true(
            "ssllib_name_startswith(OpenSSL) && openssl_version_atleast(1.1.1)"
        ));
    }

    #[test]
    fn enabled_fips_and_awslc() {
        assert!(is_true("enabled(EPOLL)"));
        assert!(is_true("enabled(POLL)"));
        assert!(is_true("enabled(SPLICE)"));
        assert!(!is_true("enabled(KQUEUE)"));
        assert!(!is_true("enabled(splice)"));
        assert!(!is_true("enabled()"));
        assert!(!is_true("fips_mode()"));
        assert!(!is_true("fips_mode"));
        assert!(is_true("!fips_mode"));
        assert!(fails("fips_mode(1)").contains("too many arguments"));
        assert!(!is_true("awslc_api_atleast(35)"));
        assert!(!is_true("awslc_api_before(26)"));
        assert!(fails("awslc_api_atleast(x)").contains("invalid API number"));
    }

    #[test]
    fn simple_blocks() {
        let lines = [
            "global", ".if 1", "  a", ".endif", ".if 0", "  b", ".endif", "c",
        ];
        assert_eq!(active_lines(&lines), ["global", "a", "c"]);
    }

    #[test]
    fn elif_else_chains() {
        let lines = [
            ".if 0", "a", ".elif 1", "b", ".elif 1", "c", ".else", "d", ".endif",
        ];
        assert_eq!(active_lines(&lines), ["b"]);
        let lines = [".if 0", "a", ".elif 0", "b", ".else", "c", ".endif"];
        assert_eq!(active_lines(&lines), ["c"]);
        let lines = [".if 1", "a", ".elif 1", "b", ".else", "c", ".endif"];
        assert_eq!(active_lines(&lines), ["a"]);
        let lines = [".if", "a", ".elif", "b", ".else", "c", ".endif"];
        assert_eq!(active_lines(&lines), ["c"]);
    }

    #[test]
    fn nesting() {
        let lines = [
            "x", ".if 1", "b", ".if 0", "c", ".else", "d", ".endif", "e", ".endif", ".if 0",
            ".if 1", "f", ".else", "g", ".endif", "h", ".else", "i", ".endif",
        ];
        assert_eq!(active_lines(&lines), ["x", "b", "d", "e", "i"]);
    }

    #[test]
    fn manual_report_example() {
        let lines = |a: &str, b: &str, c: &str, d: &str| {
            vec![
                format!(".if {a}"),
                format!("  .if {b}"),
                "     .notice \"A=1, B=1\"".to_string(),
                format!("  .elif {c}"),
                "     .notice \"A=1, B=0, C=1\"".to_string(),
                format!("  .elif {d}"),
                "     .warning \"A=1, B=0, C=0, D=1\"".to_string(),
                "  .else".to_string(),
                "     .alert \"A=1, B=0, C=0, D=0\"".to_string(),
                "  .endif".to_string(),
                ".else".to_string(),
                "     .notice \"A=0\"".to_string(),
                ".endif".to_string(),
            ]
        };
        let msgs = |a, b, c, d| {
            let l = lines(a, b, c, d);
            let refs: Vec<&str> = l.iter().map(String::as_str).collect();
            let (fates, fin) = run(&refs);
            assert_eq!(fin, Ok(()));
            fates
                .into_iter()
                .filter_map(|f| match f {
                    Ok(LineFate::Directive(Some(m))) => Some(m),
                    Ok(_) => None,
                    Err(e) => panic!("{e}"),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            msgs("1", "1", "1", "1"),
            [(Level::Notice, "A=1, B=1".into())]
        );
        assert_eq!(
            msgs("1", "0", "1", "1"),
            [(Level::Notice, "A=1, B=0, C=1".into())]
        );
        assert_eq!(
            msgs("1", "0", "0", "1"),
            [(Level::Warning, "A=1, B=0, C=0, D=1".into())]
        );
        assert_eq!(
            msgs("1", "0", "0", "0"),
            [(Level::Alert, "A=1, B=0, C=0, D=0".into())]
        );
        assert_eq!(msgs("0", "1", "1", "1"), [(Level::Notice, "A=0".into())]);
    }

    #[test]
    fn report_directives() {
        let (f, _) = run(&[
            ".notice \"hello world\"",
            ".warning w",
            ".alert a",
            ".diag \"WTA/2021-05-07: replace 'redirect'\"",
            ".notice",
        ]);
        assert_eq!(
            f,
            [
                Ok(LineFate::Directive(Some((
                    Level::Notice,
                    "hello world".into()
                )))),
                Ok(LineFate::Directive(Some((Level::Warning, "w".into())))),
                Ok(LineFate::Directive(Some((Level::Alert, "a".into())))),
                Ok(LineFate::Directive(Some((
                    Level::Diag,
                    "WTA/2021-05-07: replace 'redirect'".into()
                )))),
                Ok(LineFate::Directive(Some((Level::Notice, String::new())))),
            ]
        );
        let (f, _) = run(&[".notice a b"]);
        let e = f[0].clone().unwrap_err();
        assert!(e.contains("Unexpected argument 'b' for '.notice'"), "{e}");
        // An empty third word ends the argument list, as in HAProxy.
        let c = ctx();
        let mut st = CondStack::new();
        let w: Vec<String> = vec![".notice".into(), "a".into(), String::new(), "b".into()];
        assert_eq!(
            st.feed(&w, &c, 1),
            Ok(LineFate::Directive(Some((Level::Notice, "a".into()))))
        );
    }

    #[test]
    fn disabled_blocks_are_silent() {
        let (f, fin) = run(&[
            ".if 0",
            ".alert \"x\"",
            ".notice a b",
            ".foo",
            "server s1 1.2.3.4:80",
            ".if garbage(",
            ".elif garbage(",
            ".endif",
            ".elif 0",
            ".endif",
        ]);
        assert_eq!(fin, Ok(()));
        assert_eq!(f[1], Ok(LineFate::Directive(None)));
        assert_eq!(f[2], Ok(LineFate::Directive(None)));
        assert_eq!(f[3], Ok(LineFate::Skipped));
        assert_eq!(f[4], Ok(LineFate::Skipped));
        assert!(f.iter().all(Result::is_ok), "{f:?}");
    }

    #[test]
    fn conditions_after_a_taken_branch_are_not_evaluated() {
        let (f, fin) = run(&[".if 1", ".elif garbage(", "a", ".endif"]);
        assert_eq!(fin, Ok(()));
        assert!(f.iter().all(Result::is_ok), "{f:?}");
        assert_eq!(f[2], Ok(LineFate::Skipped));
        let (f, _) = run(&[".if 0", ".elif garbage(", ".endif"]);
        let e = f[1].clone().unwrap_err();
        assert!(
            e.contains("unknown predicate 'garbage'") && e.ends_with("in '.elif'"),
            "{e}"
        );
    }

    #[test]
    fn condition_errors_name_the_directive() {
        let (f, _) = run(&[".if foo"]);
        let e = f[0].clone().unwrap_err();
        assert!(e.ends_with(" in '.if'"), "{e}");
    }

    #[test]
    fn misplaced_directives() {
        let err_at = |lines: &[&str], idx: usize| -> String {
            let (f, _) = run(lines);
            match &f[idx] {
                Err(e) => e.clone(),
                other => panic!("line {idx} of {lines:?}: {other:?}"),
            }
        };
        assert_eq!(
            err_at(&[".elif 1"], 0),
            "lone '.elif' with no matching '.if'"
        );
        assert_eq!(err_at(&[".else"], 0), "lone '.else' with no matching '.if'");
        assert_eq!(
            err_at(&[".endif"], 0),
            "lone '.endif' with no matching '.if'"
        );
        assert_eq!(
            err_at(&[".if 0", ".endif", ".endif"], 2),
            "lone '.endif' with no matching '.if'"
        );
        assert_eq!(
            err_at(&[".if 1", ".else", ".elif 1"], 2),
            "'.elif' after '.else' is not permitted"
        );
        assert_eq!(
            err_at(&[".if 0", ".else", ".else"], 2),
            "'.else' after '.else' is not permitted"
        );
        // Checked inside disabled blocks too.
        assert_eq!(
            err_at(&[".if 0", ".if 1", ".else", ".else"], 3),
            "'.else' after '.else' is not permitted"
        );
        assert_eq!(
            err_at(&[".if 1", ".endif junk"], 1),
            "Unexpected argument 'junk' for '.endif'"
        );
        assert_eq!(
            err_at(&[".if 0", ".if 1", ".else junk"], 2),
            "Unexpected argument 'junk' for '.else'"
        );
        assert_eq!(err_at(&[".foo"], 0), "unknown directive '.foo'");
    }

    #[test]
    fn unterminated_blocks() {
        let (_, fin) = run(&["global", ".if 1", "a", ".if 0", ".endif"]);
        assert_eq!(
            fin,
            Err("missing '.endif' for '.if' at line 2 (non-terminated '.if' block)".into())
        );
        let (_, fin) = run(&[".if 1", ".if 0", ".else"]);
        assert!(fin.is_err_and(|e| e.contains("line 2")));
    }

    #[test]
    fn nesting_limit() {
        let c = ctx();
        let mut st = CondStack::new();
        let w = words(".if 1");
        for i in 1..MAX_NESTED_CONDS {
            assert_eq!(st.feed(&w, &c, i), Ok(LineFate::Directive(None)), "{i}");
        }
        assert_eq!(st.depth(), MAX_NESTED_CONDS - 1);
        let e = st.feed(&w, &c, 999).unwrap_err();
        assert!(e.contains("too many nested '.if'"), "{e}");
    }

    #[test]
    fn plain_lines_and_state() {
        let c = ctx();
        let mut st = CondStack::new();
        assert!(st.is_active());
        assert_eq!(st.feed(&[], &c, 1), Ok(LineFate::Active));
        assert_eq!(st.feed(&words("mode http"), &c, 2), Ok(LineFate::Active));
        assert_eq!(
            st.feed(&words(".if 0"), &c, 3),
            Ok(LineFate::Directive(None))
        );
        assert!(!st.is_active());
        assert_eq!(st.feed(&[], &c, 4), Ok(LineFate::Skipped));
        assert_eq!(st.feed(&words("mode http"), &c, 5), Ok(LineFate::Skipped));
        assert_eq!(
            st.feed(&words(".endif"), &c, 6),
            Ok(LineFate::Directive(None))
        );
        assert_eq!(st.depth(), 0);
        assert_eq!(st.finish(), Ok(()));
    }

    #[test]
    fn environment_in_conditions() {
        let c = ctx();
        let mut st = CondStack::new();
        // What the lexer gives for `.if "${A}"` with A=1, then B=0.
        let fate = st.feed(&[".if".into(), "1".into()], &c, 1);
        assert_eq!(fate, Ok(LineFate::Directive(None)));
        assert!(st.is_active());
        // `.if "${UNDEFINED}"` gives an empty word: false.
        let mut st = CondStack::new();
        let _ = st.feed(&[".if".into(), String::new()], &c, 1);
        assert!(!st.is_active());
    }
}
