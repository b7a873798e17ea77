//! Reading pattern files (`acl … -f FILE`, one pattern per line) and map files (`KEY VALUE`)
//! the way HAProxy does: `#` in the first column starts a comment, blank lines are skipped,
//! leading blanks are stripped, and for maps the value is the rest of the line, right-trimmed.

use super::{MatchMethod, PatternSet};

/// One line worth keeping: its number, the key and (for maps) the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) line: usize,
    pub(crate) key: String,
    pub(crate) value: Option<String>,
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Splits file contents into entries. With `two_columns`, each line is `KEY VALUE`: the
/// key is the first run of non-blank characters and the value what follows the blanks after
/// it, without trailing blanks (empty when absent). Otherwise the whole line after its
/// leading blanks is the pattern, trailing blanks included (HAProxy keeps them). Line ends
/// may be `\n` or `\r\n`. A `#` counts as a comment only in the very first column, so a
/// pattern starting with `#` can be written with a space before it.
pub(crate) fn parse_lines(text: &str, two_columns: bool) -> Vec<Line> {
    let mut out = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let raw = raw.trim_end_matches(['\r', '\n']);
        if raw.starts_with('#') {
            continue;
        }
        let l = raw.trim_start_matches(is_blank);
        if l.is_empty() {
            continue;
        }
        let (key, value) = if two_columns {
            let (k, rest) = l.split_at(l.find(is_blank).unwrap_or(l.len()));
            let v = rest.trim_start_matches(is_blank).trim_end_matches(is_blank);
            (k, Some(v.to_string()))
        } else {
            (l, None)
        };
        out.push(Line {
            line: i + 1,
            key: key.to_string(),
            value,
        });
    }
    out
}

/// Reads a file, with HAProxy's error text when it cannot be opened.
pub(crate) fn read(path: &str, shown: &str) -> Result<String, String> {
    let bytes =
        std::fs::read(path).map_err(|_| format!("failed to open pattern file <{shown}>."))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Appends "at line N of file 'F'." to a parse error, as HAProxy does.
pub(crate) fn at_line(err: &str, line: usize, file: &str) -> String {
    format!(
        "{} at line {line} of file '{file}'.",
        err.trim_end_matches('.')
    )
}

fn build(
    path: &str,
    method: MatchMethod,
    ignore_case: bool,
    two: bool,
) -> Result<PatternSet, String> {
    let text = read(path, path)?;
    let mut set = PatternSet::new(method, ignore_case);
    set.set_bulk(true);
    for l in parse_lines(&text, two) {
        set.add(&l.key, l.value.as_deref())
            .map_err(|e| at_line(&e, l.line, path))?;
    }
    set.set_bulk(false);
    Ok(set)
}

/// Loads a pattern file (`-f FILE`): one pattern per line. Errors name the file and line.
pub fn load_pattern_file(
    path: &str,
    method: MatchMethod,
    ignore_case: bool,
) -> Result<PatternSet, String> {
    build(path, method, ignore_case, false)
}

/// Loads a map file: `KEY VALUE…` per line. Errors name the file and line.
pub fn load_map_file(
    path: &str,
    method: MatchMethod,
    ignore_case: bool,
) -> Result<PatternSet, String> {
    build(path, method, ignore_case, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(lines: &[Line]) -> Vec<(String, Option<String>)> {
        lines
            .iter()
            .map(|l| (l.key.clone(), l.value.clone()))
            .collect()
    }

    #[test]
    fn map_lines_like_haproxy() {
        // The same file HAProxy 2.6 showed as: foo "bar baz", Foo "tabbed\tvalue",
        // foo "dup", "#sharp" "z", a "".
        let text = "# comment\n  foo    bar baz   \n   \nFoo\ttabbed\tvalue\nfoo dup\n#x y\n #sharp z\na\n";
        let got = kv(&parse_lines(text, true));
        let want: Vec<(String, Option<String>)> = [
            ("foo", "bar baz"),
            ("Foo", "tabbed\tvalue"),
            ("foo", "dup"),
            ("#sharp", "z"),
            ("a", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), Some(v.to_string())))
        .collect();
        assert_eq!(got, want);
        let lines = parse_lines(text, true);
        assert_eq!(lines[0].line, 2);
        assert_eq!(lines[4].line, 8);
    }

    #[test]
    fn acl_lines_keep_inner_and_trailing_blanks() {
        let text = "www.example.com\r\nfoo bar\r\n  tab\tin  \n\n# c\n";
        let got: Vec<String> = parse_lines(text, false)
            .into_iter()
            .map(|l| l.key)
            .collect();
        assert_eq!(got, vec!["www.example.com", "foo bar", "tab\tin  "]);
        let m = kv(&parse_lines("k1 v1\r\nk2 v2  \r\n", true));
        assert_eq!(m[1], ("k2".to_string(), Some("v2".to_string())));
    }

    #[test]
    fn errors_name_file_and_line() {
        let dir = tempfile::tempdir().ok();
        let Some(dir) = dir else { return };
        let p = dir.path().join("ip.map");
        let _ = std::fs::write(&p, "10.0.0.0/8 ten\n# c\n192.168.1 abbrev\n");
        let ps = p.to_string_lossy().to_string();
        let e = load_map_file(&ps, MatchMethod::Ip, false).err();
        assert_eq!(
            e,
            Some(format!(
                "'192.168.1' is not a valid IPv4 or IPv6 address at line 3 of file '{ps}'."
            ))
        );
        let e = load_pattern_file("/nonexistent/x.lst", MatchMethod::Str, false).err();
        assert_eq!(
            e.as_deref(),
            Some("failed to open pattern file </nonexistent/x.lst>.")
        );
    }
}
