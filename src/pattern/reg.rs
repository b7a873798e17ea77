//! Regular expressions of the `reg` match method and `map_regm` (manual 7.1.4): compiling
//! with the `regex` crate in byte mode (ASCII classes, like PCRE without UTF), clear errors
//! for PCRE-only syntax, and the `\1`..`\9` substitution of `map_regm` values.

use regex::bytes::{Captures, Regex, RegexBuilder};

/// Compiles a pattern. Errors name the pattern like HAProxy's
/// (`regex '(' is invalid (error=...).`) and say when the syntax is PCRE-only.
pub(crate) fn compile(pattern: &str, icase: bool) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .case_insensitive(icase)
        .unicode(false)
        .build()
        .map_err(|e| {
            let full = e.to_string();
            let msg = full
                .lines()
                .rev()
                .find_map(|l| l.trim().strip_prefix("error: "))
                .unwrap_or(full.trim())
                .to_string();
            let hint = if pcre_only(pattern) {
                " (halo uses the Rust regex syntax: look-around, back-references, atomic groups and possessive quantifiers of PCRE are not available)"
            } else {
                ""
            };
            format!("regex '{pattern}' is invalid (error={msg}){hint}.")
        })
}

/// Whether a pattern uses constructs PCRE has and the `regex` crate lacks.
fn pcre_only(p: &str) -> bool {
    [
        "(?=", "(?!", "(?<=", "(?<!", "(?>", "*+", "++", "?+", "\\1", "\\2", "\\k<", "\\Z", "\\G",
    ]
    .iter()
    .any(|t| p.contains(t))
}

/// Builds a `map_regm` result: `\0`..`\9` insert capture groups (empty when the group did
/// not take part), `\xHH` a byte, `\\` a backslash and `\c` any other character `c`. A
/// trailing backslash or a bad `\x` escape makes the substitution fail, as in HAProxy,
/// where the converter then fails.
pub(crate) fn substitute(template: &str, caps: &Captures<'_>) -> Option<String> {
    let t = template.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        if t[i] != b'\\' {
            out.push(t[i]);
            i += 1;
            continue;
        }
        let c = *t.get(i + 1)?;
        i += 2;
        match c {
            b'0'..=b'9' => {
                if let Some(m) = caps.get(usize::from(c - b'0')) {
                    out.extend_from_slice(m.as_bytes());
                }
            }
            b'x' => {
                let h = |j: usize| t.get(j).and_then(|&d| (d as char).to_digit(16));
                let (a, b) = (h(i)?, h(i + 1)?);
                out.push((a * 16 + b) as u8);
                i += 2;
            }
            _ => out.push(c),
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subst(re: &str, input: &str, tpl: &str) -> Option<String> {
        let r = compile(re, false).ok()?;
        let c = r.captures(input.as_bytes())?;
        substitute(tpl, &c)
    }

    #[test]
    fn substitution_like_haproxy() {
        // Outputs observed with HAProxy 2.6 map_regm on the input "xzw" and "^(x)(y)?".
        let r = "^(x)(y)?";
        assert_eq!(subst(r, "xzw", r"a\x41b").as_deref(), Some("aAb"));
        assert_eq!(subst(r, "xzw", r"b\\c").as_deref(), Some(r"b\c"));
        assert_eq!(subst(r, "xzw", r"c\nd").as_deref(), Some("cnd"));
        assert_eq!(subst(r, "xzw", r"d\9e").as_deref(), Some("de"));
        assert_eq!(subst(r, "xzw", r"e\1\2\0").as_deref(), Some("exx"));
        assert_eq!(subst(r, "xzw", r"f\"), None);
        assert_eq!(subst(r, "xzw", r"g\xg"), None);
        assert_eq!(subst(r, "xzw", r"h\x4"), None);
        assert_eq!(
            subst("^/foo/(.*)$", "/foo/abc", r"/bar/\1").as_deref(),
            Some("/bar/abc")
        );
    }

    #[test]
    fn errors_name_the_pattern() {
        let e = compile("(", false).err().unwrap_or_default();
        assert!(e.starts_with("regex '(' is invalid (error="), "{e}");
        let e = compile("foo(?=bar)", false).err().unwrap_or_default();
        assert!(
            e.starts_with("regex 'foo(?=bar)' is invalid (error=look-around"),
            "{e}"
        );
        assert!(e.contains("PCRE"), "{e}");
        let e = compile(r"(a)\1", false).err().unwrap_or_default();
        assert!(e.contains("back"), "{e}");
    }

    #[test]
    fn bytes_and_case() {
        let r = compile("^ab+c$", true).ok();
        assert!(r.is_some_and(|r| r.is_match(b"ABBC")));
        // `.` matches any byte, `\d` is ASCII only, non-ASCII literals match their UTF-8.
        let r = compile("^a.c$", false).ok();
        assert!(r.is_some_and(|r| r.is_match(b"a\xffc")));
        let r = compile("caf\u{e9}", false).ok();
        assert!(r.is_some_and(|r| r.is_match("un café".as_bytes())));
    }
}
