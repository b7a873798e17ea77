//! The line lexer: cuts one configuration line into words exactly as HAProxy's line
//! parser does (manual 2.2 and 2.3): separators, comments, backslash escapes, weak and
//! strong quoting, and environment variables (`$NAME`, `${NAME}`, `${NAME-def}`, `${NAME[*]}`).
//!
//! Where the manual and the real parser disagree, the parser (checked against HAProxy
//! 2.6.12) wins:
//! - `\<TAB>` is not an escape: the backslash is kept and the tab separates words, even
//!   inside double quotes (`"a\<TAB>b"` is `a\<TAB>b`); the manual's table says otherwise.
//! - `\$` is only an escape inside double quotes; unquoted, `\$` stays `\$`.
//! - A backslash before any other character is kept (`\d`, `\1`, `\,` stay as written),
//!   and a lone backslash at the end of the line is a literal backslash.
//! - A raw CR, LF or NUL ends the line, even inside quotes (so `"a<CR>b"` is an unmatched
//!   quote); a `\r\n` line ending is therefore harmless.
//! - A word made only of quotes is an empty word: `""`, and also `"${UNDEFINED}"`.
//!   HAProxy 2.6 keeps such a word (later releases drop a word made only of an undefined
//!   variable); halo follows 2.6 and adds a warning naming the variable. Note that
//!   HAProxy treats the first empty word as the end of the argument list, and ignores a
//!   line whose first word is empty: that is left to the callers.
//! - `${NAME[*]}` splits the value on every run of white space, so leading or trailing
//!   spaces in the value produce empty words (`" a b "` gives `""`, `a`, `b`, `""`).
//! - `$` inside double quotes must start a variable name (a letter, `_` or `.`):
//!   `"$"`, `"$1"` or `"a$ b"` are errors, as in HAProxy.
//! - `\x00` ends the word it appears in (HAProxy works on C strings).
//! - `\xHH` sequences that do not form valid UTF-8 are refused (HAProxy accepts any
//!   byte; halo's words are Rust strings).
//! - More than [`MAX_LINE_ARGS`] words is an error ("too many words").

use std::fmt;

/// HAProxy refuses lines with more words than this.
pub const MAX_LINE_ARGS: usize = 64;

/// The words of one line, and the warnings raised while cutting it (undefined variables).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    pub words: Vec<String>,
    pub warnings: Vec<String>,
}

/// A line that cannot be cut into words (unmatched quote, bad `\x` sequence, bad variable
/// reference, too many words). Positions in messages are 1-based byte columns.
#[derive(Debug, Clone, PartialEq)]
pub struct LexError {
    pub message: String,
}

impl fmt::Display for LexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LexError {}

/// Cuts one line into words. `env` resolves variable names, including the
/// pseudo-variables starting with a dot (`.FILE`, `.LINE`, `.SECTION`); `None` means
/// "not defined". An undefined ordinary variable expands to nothing with a warning; an
/// unknown pseudo-variable is an error, as in HAProxy. A blank or comment-only line gives
/// no words.
pub fn split_line(line: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Split, LexError> {
    let bytes = line.as_bytes();
    // A raw CR, LF or NUL ends the line wherever it is.
    let end = bytes
        .iter()
        .position(|&b| matches!(b, b'\n' | b'\r' | 0))
        .unwrap_or(bytes.len());
    let mut lx = Lexer {
        line,
        bytes: &bytes[..end],
        pos: 0,
        words: Vec::new(),
        cur: Vec::new(),
        started: false,
        warnings: Vec::new(),
        env,
    };
    lx.run()?;
    if lx.words.len() > MAX_LINE_ARGS {
        return Err(err(format!(
            "too many words on the line ({}), at most {MAX_LINE_ARGS} are supported",
            lx.words.len()
        )));
    }
    let mut words = Vec::with_capacity(lx.words.len());
    for (i, mut w) in lx.words.into_iter().enumerate() {
        if let Some(nul) = w.iter().position(|&b| b == 0) {
            w.truncate(nul);
        }
        match String::from_utf8(w) {
            Ok(s) => words.push(s),
            Err(_) => {
                return Err(err(format!(
                    "word {} is not valid UTF-8 once its \\x sequences are decoded",
                    i + 1
                )));
            }
        }
    }
    Ok(Split {
        words,
        warnings: lx.warnings,
    })
}

fn err(message: String) -> LexError {
    LexError { message }
}

/// White space as C's `isspace()` sees it (CR and LF never reach the lexer's loop).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single(usize),
    Double(usize),
}

struct Lexer<'a> {
    line: &'a str,
    /// The line up to (excluding) its first CR, LF or NUL.
    bytes: &'a [u8],
    pos: usize,
    words: Vec<Vec<u8>>,
    /// The word being built, as bytes (`\xHH` may produce any byte).
    cur: Vec<u8>,
    /// Whether a word has begun (a quote alone begins an empty word).
    started: bool,
    warnings: Vec<String>,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Lexer<'_> {
    fn peek(&self, at: usize) -> Option<u8> {
        self.bytes.get(at).copied()
    }

    fn emit(&mut self, b: u8) {
        self.cur.push(b);
        self.started = true;
    }

    fn end_word(&mut self) {
        if self.started {
            self.words.push(std::mem::take(&mut self.cur));
            self.started = false;
        }
    }

    fn run(&mut self) -> Result<(), LexError> {
        while self.peek(self.pos).is_some_and(is_space) {
            self.pos += 1;
        }
        let mut quote = Quote::None;
        while let Some(c) = self.peek(self.pos) {
            match quote {
                Quote::Single(_) => {
                    if c == b'\'' {
                        quote = Quote::None;
                    } else {
                        self.emit(c);
                    }
                    self.pos += 1;
                }
                Quote::Double(_) => match c {
                    b'"' => {
                        quote = Quote::None;
                        self.pos += 1;
                    }
                    b'\\' => self.escape(true)?,
                    b'$' => self.variable()?,
                    _ => {
                        self.emit(c);
                        self.pos += 1;
                    }
                },
                Quote::None => match c {
                    b'\\' => self.escape(false)?,
                    b'#' => break,
                    b'"' => {
                        quote = Quote::Double(self.pos);
                        self.started = true;
                        self.pos += 1;
                    }
                    b'\'' => {
                        quote = Quote::Single(self.pos);
                        self.started = true;
                        self.pos += 1;
                    }
                    _ if is_space(c) => {
                        self.end_word();
                        while self.peek(self.pos).is_some_and(is_space) {
                            self.pos += 1;
                        }
                    }
                    _ => {
                        self.emit(c);
                        self.pos += 1;
                    }
                },
            }
        }
        match quote {
            Quote::None => {
                self.end_word();
                Ok(())
            }
            Quote::Single(at) => Err(err(format!(
                "unmatched single quote (') at position {}",
                at + 1
            ))),
            Quote::Double(at) => Err(err(format!(
                "unmatched double quote (\") at position {}",
                at + 1
            ))),
        }
    }

    /// Handles a backslash at `self.pos` outside single quotes.
    fn escape(&mut self, in_dquote: bool) -> Result<(), LexError> {
        let at = self.pos;
        let out = match self.peek(at + 1) {
            Some(c @ (b' ' | b'\\' | b'\'' | b'"' | b'#')) => Some(c),
            Some(b'$') if in_dquote => Some(b'$'),
            Some(b'n') => Some(b'\n'),
            Some(b'r') => Some(b'\r'),
            Some(b't') => Some(b'\t'),
            Some(b'x') => {
                let hi = self.peek(at + 2).and_then(hex_value);
                let lo = self.peek(at + 3).and_then(hex_value);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(err(format!(
                        "truncated or invalid hexadecimal sequence at position {}",
                        at + 1
                    )));
                };
                self.emit(hi * 16 + lo);
                self.pos = at + 4;
                return Ok(());
            }
            // Not an escape sequence: the backslash stays and the next character is
            // processed normally (it may be a separator).
            _ => None,
        };
        match out {
            Some(c) => {
                self.emit(c);
                self.pos = at + 2;
            }
            None => {
                self.emit(b'\\');
                self.pos = at + 1;
            }
        }
        Ok(())
    }

    /// Expands a variable reference starting at the `$` at `self.pos` (inside double quotes).
    fn variable(&mut self) -> Result<(), LexError> {
        let mut pos = self.pos + 1;
        let brace = if self.peek(pos) == Some(b'{') {
            pos += 1;
            Some(pos - 1)
        } else {
            None
        };
        let name_start = pos;
        match self.peek(pos) {
            Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b'.' => {}
            _ => {
                return Err(err(format!(
                    "forbidden first char in environment variable name at position {} \
                     (use \\$ for a literal dollar sign)",
                    pos + 1
                )));
            }
        }
        if self.peek(pos) == Some(b'.') {
            pos += 1;
        }
        while self
            .peek(pos)
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            pos += 1;
        }
        // All bytes of the name are ASCII, so these are character boundaries.
        let name = self.line.get(name_start..pos).unwrap_or_default();
        let pseudo = name.starts_with('.');
        let mut value = (self.env)(name);
        if pseudo && value.is_none() {
            return Err(err(format!(
                "unknown pseudo-variable '{name}' at position {} (only .FILE, .LINE and \
                 .SECTION exist)",
                name_start + 1
            )));
        }

        // `[*]` (only inside braces) asks for the value to be cut into several words.
        let mut expand = false;
        if brace.is_some() && self.peek(pos) == Some(b'[') {
            if self.peek(pos + 1) != Some(b'*') || self.peek(pos + 2) != Some(b']') {
                return Err(err(format!(
                    "truncated or invalid word expansion sequence at position {}",
                    pos + 1
                )));
            }
            expand = true;
            pos += 3;
        }

        if let Some(open) = brace {
            let unmatched = || {
                err(format!(
                    "unmatched brace in environment variable name at position {}",
                    open + 1
                ))
            };
            if self.peek(pos) == Some(b'-') {
                // The default value runs verbatim up to the next closing brace.
                let def_start = pos + 1;
                let close = self.bytes[def_start..]
                    .iter()
                    .position(|&b| b == b'}')
                    .map(|i| def_start + i)
                    .ok_or_else(unmatched)?;
                if value.is_none() {
                    value = Some(self.line.get(def_start..close).unwrap_or_default().into());
                }
                pos = close;
            }
            if self.peek(pos) != Some(b'}') {
                return Err(unmatched());
            }
            pos += 1;
        }
        self.pos = pos;

        match value {
            Some(v) => self.emit_value(v.as_bytes(), expand),
            None => {
                self.warnings.push(format!(
                    "environment variable '{name}' is not defined, it expands to an empty string"
                ));
            }
        }
        Ok(())
    }

    fn emit_value(&mut self, value: &[u8], expand: bool) {
        let mut i = 0;
        while i < value.len() {
            let c = value[i];
            if expand && is_space(c) {
                // Close the current word even if empty, and begin the next one.
                self.words.push(std::mem::take(&mut self.cur));
                self.started = true;
                while i < value.len() && is_space(value[i]) {
                    i += 1;
                }
            } else {
                self.emit(c);
                i += 1;
            }
        }
        self.started = true;
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        let v = match name {
            "A" => "a",
            "B" => "b",
            "HOME" => "/root",
            "EMPTY" => "",
            "LIST" => "one two  three",
            "SPACED" => "  x  y ",
            "TABBED" => "p\tq",
            "WITH_SPACE" => "a b",
            "QUOTES" => "\"'#\\",
            "UTF" => "é",
            "_U" => "underscore",
            "X_1" => "x1",
            ".LINE" => "42",
            ".FILE" => "/etc/haproxy.cfg",
            ".SECTION" => "fe",
            _ => return None,
        };
        Some(v.to_string())
    }

    fn words(line: &str) -> Vec<String> {
        match split_line(line, &env) {
            Ok(s) => s.words,
            Err(e) => panic!("unexpected error on {line:?}: {e}"),
        }
    }

    fn one(line: &str) -> String {
        let w = words(line);
        assert_eq!(w.len(), 1, "{line:?} gave {w:?}");
        w.into_iter().next().unwrap_or_default()
    }

    fn error(line: &str) -> String {
        match split_line(line, &env) {
            Ok(s) => panic!("expected an error on {line:?}, got {:?}", s.words),
            Err(e) => e.message,
        }
    }

    fn warnings(line: &str) -> Vec<String> {
        match split_line(line, &env) {
            Ok(s) => s.warnings,
            Err(e) => panic!("unexpected error on {line:?}: {e}"),
        }
    }

    #[test]
    fn spaces_and_tabs_separate_words() {
        assert_eq!(words("bind :80"), ["bind", ":80"]);
        assert_eq!(words("  \t mode   http\t\t "), ["mode", "http"]);
        assert_eq!(words("a\u{b}b\u{c}c"), ["a", "b", "c"]);
        assert_eq!(words("timeout connect 5s"), ["timeout", "connect", "5s"]);
    }

    #[test]
    fn blank_and_comment_lines_have_no_words() {
        for line in [
            "",
            "   ",
            "\t\t",
            "# comment",
            "   # indented comment",
            "#",
            "\r",
            "\r\n",
        ] {
            let s = split_line(line, &env).unwrap_or_default();
            assert!(s.words.is_empty(), "{line:?}");
            assert!(s.warnings.is_empty(), "{line:?}");
        }
    }

    #[test]
    fn comments_end_the_line() {
        assert_eq!(words("mode http # or tcp"), ["mode", "http"]);
        assert_eq!(words("global#this is the global section"), ["global"]);
        assert_eq!(words("daemon#daemonize"), ["daemon"]);
        assert_eq!(words("a#b c"), ["a"]);
        assert_eq!(words("\"a\"#b"), ["a"]);
        assert_eq!(words("'a'#\"unterminated"), ["a"]);
    }

    #[test]
    fn manual_2_1_equivalent_layouts() {
        let compact = [
            "    global#this is the global section",
            "daemon#daemonize",
            "    frontend         foo",
            "mode             http   # or tcp",
        ];
        let tidy = ["global", "    daemon", "frontend foo", "    mode http"];
        let a: Vec<Vec<String>> = compact.iter().map(|l| words(l)).collect();
        let b: Vec<Vec<String>> = tidy.iter().map(|l| words(l)).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn hash_can_be_protected() {
        assert_eq!(one(r"\#x"), "#x");
        assert_eq!(one(r#""\#x""#), "#x");
        assert_eq!(one(r"'\#x'"), r"\#x");
        assert_eq!(one("\"#\"x"), "#x");
        assert_eq!(one("'#'x"), "#x");
        assert_eq!(words(r"a\# b"), ["a#", "b"]);
    }

    #[test]
    fn crlf_line_endings() {
        assert_eq!(words("mode http\r\n"), ["mode", "http"]);
        assert_eq!(words("mode http\r"), ["mode", "http"]);
        assert_eq!(words("mode http\n"), ["mode", "http"]);
        assert_eq!(words("mode \"\"\r\n"), ["mode", ""]);
    }

    #[test]
    fn raw_cr_lf_or_nul_end_the_line() {
        assert_eq!(words("a\rb"), ["a"]);
        assert_eq!(words("a\nb"), ["a"]);
        assert_eq!(words("a\0b"), ["a"]);
        assert_eq!(words("a\\\rb"), ["a\\"]);
        assert!(error("\"a\rb\"").contains("unmatched double quote"));
        assert!(error("'a\rb'").contains("unmatched single quote"));
    }

    #[test]
    fn manual_table_tab() {
        assert_eq!(one(r"\x09"), "\t");
        assert_eq!(one("\"a\tb\""), "a\tb");
        assert_eq!(one(r#""\x09""#), "\t");
        assert_eq!(one("'a\tb'"), "a\tb");
        // HAProxy (2.6 and later) does not treat backslash-TAB as an escape, contrary to
        // the manual's table: the backslash is kept and the tab still separates words
        // when unquoted.
        assert_eq!(words("a\\\tb"), ["a\\", "b"]);
        assert_eq!(words("a\\\t"), ["a\\"]);
        assert_eq!(one("\"a\\\tb\""), "a\\\tb");
    }

    #[test]
    fn manual_table_lf_and_cr() {
        assert_eq!(one(r"\n"), "\n");
        assert_eq!(one(r"\x0a"), "\n");
        assert_eq!(one(r#""\n""#), "\n");
        assert_eq!(one(r#""\x0a""#), "\n");
        assert_eq!(one(r"\r"), "\r");
        assert_eq!(one(r"\x0d"), "\r");
        assert_eq!(one(r#""\r""#), "\r");
        assert_eq!(one(r#""\x0D""#), "\r");
        assert_eq!(one(r"\n\r\t|"), "\n\r\t|");
        assert_eq!(one(r#""\n\r\t|""#), "\n\r\t|");
        assert_eq!(one(r"'\n'"), r"\n");
    }

    #[test]
    fn manual_table_space() {
        assert_eq!(one(r"a\ b"), "a b");
        assert_eq!(one(r"a\x20b"), "a b");
        assert_eq!(one("\"a b\""), "a b");
        assert_eq!(one(r#""a\ b""#), "a b");
        assert_eq!(one(r#""a\x20b""#), "a b");
        assert_eq!(one("'a b'"), "a b");
        assert_eq!(one(r"a\ "), "a ");
    }

    #[test]
    fn manual_table_double_quote() {
        assert_eq!(one(r#"\"x"#), "\"x");
        assert_eq!(one(r"\x22"), "\"");
        assert_eq!(one(r#""\"x""#), "\"x");
        assert_eq!(one(r#""\x22""#), "\"");
        assert_eq!(one(r#"'"'"#), "\"");
        assert_eq!(one(r#"'a"b'"#), "a\"b");
    }

    #[test]
    fn manual_table_hash() {
        assert_eq!(one(r"\#"), "#");
        assert_eq!(one(r"\x23"), "#");
        assert_eq!(one("\"#\""), "#");
        assert_eq!(one(r#""\#""#), "#");
        assert_eq!(one(r#""\x23""#), "#");
        assert_eq!(one("'#'"), "#");
    }

    #[test]
    fn manual_table_dollar() {
        assert_eq!(one("a$b"), "a$b");
        assert_eq!(one("$HOME"), "$HOME");
        assert_eq!(one(r"\x24"), "$");
        assert_eq!(one(r#""\$x""#), "$x");
        assert_eq!(one(r#""\x24""#), "$");
        assert_eq!(one("'$HOME'"), "$HOME");
        // Unquoted, `\$` is not an escape in HAProxy (the manual's table says it is).
        assert_eq!(one(r"a\$b"), r"a\$b");
        assert_eq!(one(r"'\$'"), r"\$");
    }

    #[test]
    fn manual_table_single_quote() {
        assert_eq!(one(r"\'x"), "'x");
        assert_eq!(one(r"\x27"), "'");
        assert_eq!(one("\"a'b\""), "a'b");
        assert_eq!(one(r#""a\'b""#), "a'b");
        assert_eq!(one(r#""\x27""#), "'");
    }

    #[test]
    fn manual_table_backslash() {
        assert_eq!(one(r"a\\b"), r"a\b");
        assert_eq!(one(r"\x5c"), "\\");
        assert_eq!(one(r#""a\\b""#), r"a\b");
        assert_eq!(one(r#""\x5C""#), "\\");
        assert_eq!(one(r"'\'"), "\\");
        assert_eq!(one(r"'\\'"), r"\\");
    }

    #[test]
    fn log_format_equivalences_from_the_manual() {
        let expected = vec!["log-format".to_string(), "%{+Q}o %t %s %{-Q}r".to_string()];
        for line in [
            r"log-format %{+Q}o\ %t\ %s\ %{-Q}r",
            r#"log-format "%{+Q}o %t %s %{-Q}r""#,
            r"log-format '%{+Q}o %t %s %{-Q}r'",
            r#"log-format "%{+Q}o %t"' %s %{-Q}r'"#,
            r#"log-format "%{+Q}o %t"' %s'\ %{-Q}r"#,
        ] {
            assert_eq!(words(line), expected, "{line}");
        }
    }

    #[test]
    fn manual_2_2_regsub_examples() {
        assert_eq!(
            words(r"http-request set-path %[path,regsub(foo,blah,g)]"),
            ["http-request", "set-path", "%[path,regsub(foo,blah,g)]"]
        );
        assert_eq!(
            words(r#"http-request set-path %[path,regsub("(foo|bar)",blah,g)]"#)[2],
            "%[path,regsub((foo|bar),blah,g)]"
        );
        assert_eq!(
            words(r#"http-request set-path %[path,regsub(\"(foo|bar)\",blah,g)]"#)[2],
            r#"%[path,regsub("(foo|bar)",blah,g)]"#
        );
        assert_eq!(
            words(r#"http-request set-path '%[path,regsub("(foo|bar)",blah,g)]'"#)[2],
            r#"%[path,regsub("(foo|bar)",blah,g)]"#
        );
        assert_eq!(
            words(r#"http-request set-path '%[path,regsub("^/(here)(/|$)","my/\1",g)]'"#)[2],
            r#"%[path,regsub("^/(here)(/|$)","my/\1",g)]"#
        );
        assert_eq!(
            words(r#"http-request set-path '%[path, regsub("(foo|bar)", blah, g)]'"#)[2],
            r#"%[path, regsub("(foo|bar)", blah, g)]"#
        );
    }

    #[test]
    fn manual_2_2_single_quotes_twice() {
        assert_eq!(
            words(r#"http-request set-var(txn.foo) str("\\'foo\\'")"#)[2],
            r"str(\'foo\')"
        );
        assert_eq!(
            words(r#"http-request set-var(txn.foo) str(\"\'foo\'\")"#)[2],
            r#"str("'foo'")"#
        );
        assert_eq!(
            words(r"http-request set-var(txn.foo) str(\\\'foo\\\')")[2],
            r"str(\'foo\')"
        );
    }

    #[test]
    fn other_backslashes_are_kept() {
        assert_eq!(one(r"\d\1\z"), r"\d\1\z");
        assert_eq!(one(r#""\d\1\z""#), r"\d\1\z");
        assert_eq!(one(r"'\d'"), r"\d");
        assert_eq!(one(r"^/foo\.php$"), r"^/foo\.php$");
        assert_eq!(one(r"a\,b"), r"a\,b");
        assert_eq!(one(r"\é"), r"\é");
    }

    #[test]
    fn trailing_backslash_is_literal() {
        assert_eq!(one(r"a\"), r"a\");
        assert_eq!(one(r"\"), r"\");
        assert_eq!(words(r"a \"), ["a", r"\"]);
        assert_eq!(one("a\\\r\n"), r"a\");
        assert!(error(r#""a\"#).contains("unmatched double quote"));
    }

    #[test]
    fn hex_escapes() {
        assert_eq!(one(r"\x41\x4a"), "AJ");
        assert_eq!(one(r#""\x41\x4a""#), "AJ");
        assert_eq!(one(r"\x4a\x4A"), "JJ");
        assert_eq!(one(r"'\x41'"), r"\x41");
        assert_eq!(one(r#"\x41"\x42"'\x43'"#), r"AB\x43");
        assert_eq!(one(r"\xc3\xa9"), "é");
    }

    #[test]
    fn invalid_hex_escapes_are_errors() {
        for line in [
            r"\x",
            r"\x4",
            r"\xZZ",
            r"\x4g",
            r#""\x""#,
            r#""\x4g""#,
            r"a \x0",
        ] {
            let e = error(line);
            assert!(e.contains("hexadecimal sequence"), "{line}: {e}");
        }
        assert_eq!(
            error(r"        .notice \x4"),
            "truncated or invalid hexadecimal sequence at position 17"
        );
        assert!(error(r"\xff").contains("UTF-8"));
        assert!(error(r"a \xc3").contains("word 2"));
    }

    #[test]
    fn nul_from_hex_ends_the_word() {
        assert_eq!(one(r"a\x00b"), "a");
        assert_eq!(words(r"\x00 b"), ["", "b"]);
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(one(r#"'a $HOME "b" \ # ${A}'"#), r#"a $HOME "b" \ # ${A}"#);
        assert_eq!(one("'a''b'"), "ab");
        assert_eq!(one("'a'b'c'"), "abc");
    }

    #[test]
    fn quotes_protect_separators_and_join_adjacent_parts() {
        assert_eq!(one("\"a b\"c' d'\\ e"), "a bc d e");
        assert_eq!(one("\"a'b\"c"), "a'bc");
        assert_eq!(one("'a\"b'c"), "a\"bc");
        assert_eq!(words("x\"\"y z"), ["xy", "z"]);
        assert_eq!(words("ab\"c d\" e"), ["abc d", "e"]);
    }

    #[test]
    fn nested_quotes() {
        assert_eq!(one(r#""it's""#), "it's");
        assert_eq!(one(r#"'say "hi"'"#), "say \"hi\"");
        assert_eq!(one(r#""'${A}'""#), "'a'");
        assert_eq!(one(r#"'"${A}"'"#), "\"${A}\"");
    }

    #[test]
    fn empty_quoted_words_are_kept() {
        assert_eq!(words("foo \"\" bar"), ["foo", "", "bar"]);
        assert_eq!(words("foo ''"), ["foo", ""]);
        assert_eq!(words("\"\""), [""]);
        assert_eq!(words("foo \"\"\"\" ''"), ["foo", "", ""]);
    }

    #[test]
    fn unmatched_quotes_are_errors() {
        assert_eq!(
            error("    .notice 'abc"),
            "unmatched single quote (') at position 13"
        );
        assert_eq!(
            error("    .notice \"abc"),
            "unmatched double quote (\") at position 13"
        );
        assert_eq!(
            error("    .notice ab\"c"),
            "unmatched double quote (\") at position 15"
        );
        assert!(error("a 'b\"").contains("single quote"));
        assert!(error("a \"b'").contains("double quote"));
        assert!(error("\"#").contains("double quote"));
    }

    #[test]
    fn variables_expand_only_inside_double_quotes() {
        assert_eq!(one("\"$HOME\""), "/root");
        assert_eq!(one("\"${HOME}\""), "/root");
        assert_eq!(one("\"${HOME}x\""), "/rootx");
        assert_eq!(one("\"$HOME.x\""), "/root.x");
        assert_eq!(one("\"$A-b\""), "a-b");
        assert_eq!(one("\"${A}-b\""), "a-b");
        assert_eq!(one("\"$_U\""), "underscore");
        assert_eq!(one("\"$X_1\""), "x1");
        assert_eq!(one("\"$A[*]\""), "a[*]");
        assert_eq!(one("$HOME"), "$HOME");
        assert_eq!(one("${HOME}"), "${HOME}");
        assert_eq!(one("'${HOME}'"), "${HOME}");
        assert_eq!(one("fd@\"${A}\""), "fd@a");
        assert_eq!(
            words(r#"user "$HAPROXY_USER""#),
            ["user".to_string(), String::new()]
        );
    }

    #[test]
    fn adjacent_variables_join_into_one_word() {
        assert_eq!(one(r#""${A}","${B}""#), "a,b");
        assert_eq!(one(r#""${A}"'${B}'"#), "a${B}");
        assert_eq!(one(r#""$A$B""#), "ab");
        assert_eq!(one(r#"x"${A}"y"#), "xay");
    }

    #[test]
    fn variable_values_are_not_reinterpreted() {
        assert_eq!(one("\"${QUOTES}\""), "\"'#\\");
        assert_eq!(one("\"${WITH_SPACE}\""), "a b");
        assert_eq!(words("\"$WITH_SPACE\" c"), ["a b", "c"]);
        assert_eq!(one("\"${UTF}\""), "é");
    }

    #[test]
    fn defaults() {
        assert_eq!(one(r#""${LOCAL_SYSLOG-127.0.0.1}:514""#), "127.0.0.1:514");
        assert_eq!(one(r#""${A-zzz}""#), "a");
        assert_eq!(one(r#""${UNDEF-def ault}""#), "def ault");
        assert_eq!(one(r#""${UNDEF-}""#), "");
        assert_eq!(one(r#""${UNDEF-a}b""#), "ab");
        // The default is taken verbatim up to the first closing brace.
        assert_eq!(one(r#""${UNDEF-${A}}""#), "${A}");
        assert_eq!(one(r#""${UNDEF-a\nb}""#), r"a\nb");
        assert_eq!(one(r#""${UNDEF-'#'}""#), "'#'");
        assert!(warnings(r#""${UNDEF-x}""#).is_empty());
    }

    #[test]
    fn default_only_replaces_undefined_not_empty() {
        assert_eq!(one(r#""${EMPTY-def}""#), "");
        assert!(warnings(r#""${EMPTY-def}""#).is_empty());
        assert!(warnings(r#""${EMPTY}""#).is_empty());
    }

    #[test]
    fn undefined_variables_expand_to_nothing_with_a_warning() {
        let s = split_line(r#"log "${NOPE}:514" local0"#, &env).unwrap_or_default();
        assert_eq!(
            s.words,
            [String::from("log"), ":514".into(), "local0".into()]
        );
        assert_eq!(s.warnings.len(), 1);
        assert!(s.warnings[0].contains("'NOPE'"), "{:?}", s.warnings);
        assert_eq!(warnings(r#""$U1" "${U2}""#).len(), 2);
    }

    #[test]
    fn a_word_made_only_of_an_undefined_variable_stays_as_an_empty_word() {
        // HAProxy 2.6 keeps it (checked with haproxy -c); later versions drop it.
        assert_eq!(words(r#"foo "${NOPE}" bar"#), ["foo", "", "bar"]);
        assert_eq!(words(r#"foo "${NOPE}""#), ["foo", ""]);
        assert_eq!(words(r#""${NOPE}"x"#), ["x"]);
        assert_eq!(words(r#"foo x"${NOPE}" bar"#), ["foo", "x", "bar"]);
    }

    #[test]
    fn word_expansion() {
        assert_eq!(
            words(r#"server s1 "${LIST[*]}" end"#),
            ["server", "s1", "one", "two", "three", "end"]
        );
        assert_eq!(words(r#"x"${LIST[*]}"y"#), ["xone", "two", "threey"]);
        assert_eq!(words(r#""${WITH_SPACE[*]}""#), ["a", "b"]);
        assert_eq!(words(r#""${TABBED[*]}""#), ["p", "q"]);
        assert_eq!(words(r#""${A[*]}""#), ["a"]);
        assert_eq!(words(r#""${UNDEF[*]-d e}""#), ["d", "e"]);
        assert_eq!(words(r#""${EMPTY[*]}" z"#), ["", "z"]);
        assert_eq!(words(r#""${UNDEF[*]}" z"#), ["", "z"]);
        // Without braces, [*] is plain text.
        assert_eq!(words(r#""$LIST[*]""#), ["one two  three[*]"]);
    }

    #[test]
    fn word_expansion_keeps_haproxy_empty_words_around_spaces() {
        // Leading and trailing spaces of the value cut empty words, as in HAProxy 2.6.
        assert_eq!(words(r#""${SPACED[*]}""#), ["", "x", "y", ""]);
        assert_eq!(words(r#"a"${SPACED[*]}"b"#), ["a", "x", "y", "b"]);
    }

    #[test]
    fn word_expansion_errors() {
        let e = error(r#"    .notice "${A[x]}""#);
        assert_eq!(
            e,
            "truncated or invalid word expansion sequence at position 17"
        );
        assert!(error(r#""${A[*""#).contains("word expansion"));
        assert!(error(r#""${A["#).contains("word expansion"));
        assert!(error(r#""${A[*]""#).contains("unmatched brace"));
    }

    #[test]
    fn brace_errors() {
        assert_eq!(
            error(r#"    .notice "${X""#),
            "unmatched brace in environment variable name at position 15"
        );
        assert!(error(r#""${A.B}""#).contains("unmatched brace"));
        assert!(error(r#""${A-abc""#).contains("unmatched brace"));
        assert!(error(r#""${A x}""#).contains("unmatched brace"));
    }

    #[test]
    fn bad_variable_names_are_errors() {
        assert_eq!(
            error(r#"    .notice "$""#),
            "forbidden first char in environment variable name at position 15 \
             (use \\$ for a literal dollar sign)"
        );
        for line in [
            r#""$ x""#,
            r#""a$""#,
            r#""$1""#,
            r#""${}""#,
            r#""${1A}""#,
            r#""$-""#,
        ] {
            assert!(error(line).contains("forbidden first char"), "{line}");
        }
    }

    #[test]
    fn pseudo_variables() {
        assert_eq!(one(r#""${.LINE}""#), "42");
        assert_eq!(one(r#""$.LINE""#), "42");
        assert_eq!(
            one(r#""line ${.LINE} of ${.FILE} in $.SECTION""#),
            "line 42 of /etc/haproxy.cfg in fe"
        );
        assert!(error(r#""${.FOO}""#).contains("unknown pseudo-variable '.FOO'"));
        assert!(error(r#""$.""#).contains("pseudo-variable"));
        // A dot is only allowed first.
        assert_eq!(one(r#""$.LINE.x""#), "42.x");
    }

    #[test]
    fn escapes_inside_double_quotes_next_to_variables() {
        assert_eq!(one(r#""\${A}""#), "${A}");
        assert_eq!(one(r#""\"${A}\"""#), "\"a\"");
        assert_eq!(one(r#""${A}\$""#), "a$");
    }

    #[test]
    fn utf8_passes_through() {
        assert_eq!(
            words("description café «ok»"),
            ["description", "café", "«ok»"]
        );
        assert_eq!(one("'ü # ü'"), "ü # ü");
    }

    #[test]
    fn too_many_words() {
        let ok: Vec<String> = (0..MAX_LINE_ARGS).map(|i| i.to_string()).collect();
        assert_eq!(words(&ok.join(" ")).len(), MAX_LINE_ARGS);
        let bad: Vec<String> = (0..=MAX_LINE_ARGS).map(|i| i.to_string()).collect();
        assert!(error(&bad.join(" ")).contains("too many words"));
        let expanded = format!("a{}", " \"${LIST[*]}\"".repeat(22));
        assert!(error(&expanded).contains("too many words"));
    }

    #[test]
    fn error_display() {
        let e = LexError {
            message: "boom".into(),
        };
        assert_eq!(e.to_string(), "boom");
    }
}
