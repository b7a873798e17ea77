//! The second level of HAProxy's argument syntax (manual 2.2): splitting an expression
//! into `name(args)` parts on top-level commas, and splitting arguments on commas with
//! their own quotes and backslash escapes (`regsub("(a|b)",x,g)`).

/// Splits on `sep` outside parentheses and quotes.
pub fn split_top_level(text: &str, sep: char) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            // Inside single quotes a backslash is an ordinary character.
            (Some('\''), '\\') => cur.push(c),
            (_, '\\') => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (Some(q), _) if c == q => {
                quote = None;
                cur.push(c);
            }
            (Some(_), _) => cur.push(c),
            (None, '"') | (None, '\'') if depth > 0 => {
                quote = Some(c);
                cur.push(c);
            }
            (None, '(') => {
                depth += 1;
                cur.push(c);
            }
            (None, ')') => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("unbalanced ')' in '{text}'"));
                }
                cur.push(c);
            }
            (None, _) if c == sep && depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    if depth != 0 {
        return Err(format!("missing closing ')' in '{text}'"));
    }
    if quote.is_some() {
        return Err(format!("unterminated quote in '{text}'"));
    }
    out.push(cur);
    Ok(out)
}

/// Splits `name(a,b)` into the name and its arguments (quotes removed, escapes resolved).
/// `name` alone gives no arguments; text after the closing parenthesis is an error.
pub fn split_call(text: &str) -> Result<(String, Vec<String>), String> {
    let Some(open) = text.find('(') else {
        return Ok((text.to_string(), Vec::new()));
    };
    let name = text[..open].to_string();
    let inner = &text[open + 1..];
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut depth = 0;
    let mut chars = inner.char_indices();
    let mut closed_at = None;
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            // Inside single quotes a backslash is an ordinary character (manual 2.2).
            (Some('\''), '\\') => cur.push(c),
            (_, '\\') => match chars.next() {
                Some((_, 'n')) => cur.push('\n'),
                Some((_, 'r')) => cur.push('\r'),
                Some((_, 't')) => cur.push('\t'),
                Some((_, n)) if matches!(n, '\\' | '\'' | '"' | ' ' | ',' | '(' | ')') => {
                    cur.push(n)
                }
                // Not an escape: the backslash stays (`\d` in a regex, `\.` in a JSON path).
                Some((_, n)) => {
                    cur.push(c);
                    cur.push(n);
                }
                None => cur.push(c),
            },
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => cur.push(c),
            (None, '"') | (None, '\'') => quote = Some(c),
            (None, '(') => {
                depth += 1;
                cur.push(c);
            }
            (None, ')') if depth > 0 => {
                depth -= 1;
                cur.push(c);
            }
            (None, ')') => {
                closed_at = Some(i);
                break;
            }
            (None, ',') if depth == 0 => args.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    let Some(end) = closed_at else {
        return Err(format!("missing closing ')' after arguments of '{name}'"));
    };
    let rest = &inner[end + 1..];
    if !rest.is_empty() {
        return Err(format!(
            "unexpected text '{rest}' after the arguments of '{name}'"
        ));
    }
    if !(args.is_empty() && cur.is_empty()) {
        args.push(cur);
    }
    Ok((name, args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits() {
        assert_eq!(
            split_top_level("req.hdr(host),lower,map_dom(/a,b)", ',').unwrap(),
            vec!["req.hdr(host)", "lower", "map_dom(/a,b)"]
        );
        assert_eq!(
            split_call("regsub(\"(foo|bar)\",blah,g)").unwrap(),
            (
                "regsub".to_string(),
                vec!["(foo|bar)".into(), "blah".into(), "g".into()]
            )
        );
        assert_eq!(split_call("lower").unwrap(), ("lower".to_string(), vec![]));
        assert_eq!(split_call("hdr()").unwrap(), ("hdr".to_string(), vec![]));
        assert_eq!(
            split_call("field(2,\\,)").unwrap(),
            ("field".to_string(), vec!["2".into(), ",".into()])
        );
        assert!(
            split_call("regsub((foo|bar),blah,g)").is_err() || {
                // (foo|bar) is nested: accepted as one argument.
                split_call("regsub((foo|bar),blah,g)").unwrap().1.len() == 3
            }
        );
        // Backslashes as HAProxy 2.6's argument parser: escapes outside single quotes,
        // kept when they escape nothing, ordinary characters inside single quotes.
        assert_eq!(
            split_call(r#"str(a\.b,'a\.b',"a\.b",a\\b,'a\\b',"a\\b",a\nb,'a\nb')"#)
                .unwrap()
                .1,
            vec![
                "a\\.b", "a\\.b", "a\\.b", "a\\b", "a\\\\b", "a\\b", "a\nb", "a\\nb"
            ]
        );
        assert_eq!(
            split_call(r"json_query('$.my\.key')").unwrap().1,
            vec![r"$.my\.key"]
        );
        assert_eq!(
            split_call(r"regsub(\d+,x\,y)").unwrap().1,
            vec![r"\d+", "x,y"]
        );
        assert!(split_call("x(a").is_err());
        assert!(split_call("x(a)b").is_err());
        assert!(split_top_level("a(b", ',').is_err());
    }
}
