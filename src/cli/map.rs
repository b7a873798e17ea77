//! Runtime API commands for maps and ACLs (management guide 9.3): `show`, `get`, `add`
//! (with the `<<` payload for maps), `del`, `set map`, `clear`, `prepare` and `commit`, each
//! for `map` and `acl`, with HAProxy 2.6's answers and error texts.

use halo_config::model::CliLevel;

use crate::compile::Runtime;
use crate::pattern::{EntryRef, PatternRef, RefError};
use std::sync::Arc;

/// Help lines of these commands, as HAProxy words them.
pub const HELP: &str = "  add acl [@<ver>] <acl> <pattern>        : add an acl entry
  add map [@<ver>] <map> <key> <val>      : add a map entry (payload supported instead of key/val)
  clear acl [@<ver>] <acl>                : clear the contents of this acl
  clear map [@<ver>] <map>                : clear the contents of this map
  commit acl @<ver> <acl>                 : commit the ACL at this version
  commit map @<ver> <map>                 : commit the map at this version
  del acl <acl> [<key>|#<ref>]            : delete acl entries matching <key>
  del map <map> [<key>|#<ref>]            : delete map entries matching <key>
  get acl <acl> <value>                   : report the patterns matching a sample for an ACL
  get map <acl> <value>                   : report the keys and values matching a sample for a map
  prepare acl <acl>                       : prepare a new version for atomic ACL replacement
  prepare map <acl>                       : prepare a new version for atomic map replacement
  set map <map> [<key>|#<ref>] <value>    : modify a map entry
  show acl [@<ver>] <acl>]                : report available acls or dump an acl's contents
  show map [@ver] [map]                   : report available maps or dump a map's contents
";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Map,
    Acl,
}

impl Kind {
    fn unknown(self) -> String {
        match self {
            Kind::Map => "Unknown map identifier. Please use #<id> or <file>.\n",
            Kind::Acl => "Unknown ACL identifier. Please use #<id> or <file>.\n",
        }
        .to_string()
    }

    /// "map" or "ACL", as the error texts name them.
    fn noun(self) -> &'static str {
        match self {
            Kind::Map => "map",
            Kind::Acl => "ACL",
        }
    }

    fn lookup(self, rt: &Runtime, ident: Option<&&str>) -> Result<Arc<PatternRef>, String> {
        ident
            .and_then(|i| rt.registry.lookup(i))
            .ok_or_else(|| self.unknown())
    }
}

/// Runs `w` if it is a map or ACL command (`None` otherwise). `payload` holds the lines
/// sent after a command line ending with `<<`, up to the empty line.
///
/// Changes need the `admin` level. HAProxy 2.6 checks no level at all for these commands,
/// although its manual says `user` sockets change nothing; halo follows the manual and
/// keeps reading (`show`, `get`) open to every level, as HAProxy does.
pub fn execute(
    rt: &Runtime,
    level: CliLevel,
    w: &[&str],
    payload: Option<&[String]>,
) -> Option<String> {
    let (verb, noun, args) = match w {
        [verb, noun, args @ ..] => (*verb, *noun, args),
        _ => return None,
    };
    let kind = match noun {
        "map" => Kind::Map,
        "acl" => Kind::Acl,
        _ => return None,
    };
    let changes = matches!(verb, "add" | "del" | "set" | "clear" | "prepare" | "commit");
    if !matches!(verb, "show" | "get") && !changes {
        return None;
    }
    if verb == "set" && kind == Kind::Acl {
        return None;
    }
    if changes && level != CliLevel::Admin {
        return Some("Permission denied\n".into());
    }
    Some(match verb {
        "show" => show(rt, kind, args),
        "get" => get(rt, kind, args),
        "add" if kind == Kind::Map => add_map(rt, args, payload),
        "add" => add_acl(rt, args),
        "del" => del(rt, kind, args),
        "set" => set_map(rt, args),
        "clear" => clear(rt, kind, args),
        "prepare" => prepare(rt, kind, args),
        _ => commit(rt, kind, args),
    })
}

/// A version number after `@`, read like HAProxy: the leading decimal digits (none is 0).
fn version(s: &str) -> u32 {
    s.bytes().take_while(u8::is_ascii_digit).fold(0u32, |v, c| {
        v.wrapping_mul(10).wrapping_add(u32::from(c - b'0'))
    })
}

/// Splits an optional leading `@<ver>` off the arguments.
fn with_version<'a, 'b>(args: &'a [&'b str]) -> (Option<u32>, &'a [&'b str]) {
    match args.split_first() {
        Some((v, rest)) if v.starts_with('@') => (Some(version(&v[1..])), rest),
        _ => (None, args),
    }
}

/// `#0x…` designates one entry (the id `show map` prints); anything else is a key.
fn entry_ref(arg: &str) -> EntryRef<'_> {
    match arg.strip_prefix("#0x").or_else(|| arg.strip_prefix("#0X")) {
        Some(hex) => u64::from_str_radix(hex, 16)
            .map(EntryRef::Id)
            .unwrap_or(EntryRef::Id(0)),
        None => EntryRef::Key(arg),
    }
}

fn error(e: &RefError, kind: Kind) -> String {
    format!("{}\n", e.message(kind == Kind::Map))
}

fn show(rt: &Runtime, kind: Kind, args: &[&str]) -> String {
    if args.is_empty() {
        let refs = match kind {
            Kind::Map => rt.registry.maps(),
            Kind::Acl => rt.registry.acls(),
        };
        let mut out = String::from("# id (file) description\n");
        for r in refs {
            out.push_str(&r.show_line());
            out.push('\n');
        }
        return out;
    }
    let (ver, rest) = with_version(args);
    let r = match kind.lookup(rt, rest.first()) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let listed = match kind {
        Kind::Map => r.is_map(),
        Kind::Acl => r.is_acl(),
    };
    if !listed {
        return kind.unknown();
    }
    r.dump(ver)
}

fn get(rt: &Runtime, kind: Kind, args: &[&str]) -> String {
    if args.len() < 2 {
        return format!("Missing {} identifier and/or key.\n", kind.noun());
    }
    match kind.lookup(rt, args.first()) {
        Ok(r) => r.get_lines(args[1], kind == Kind::Map),
        Err(e) => e,
    }
}

/// The key/value pairs of an `add map` payload, read as HAProxy 2.6 does: the key runs to
/// the first blank (a line without one takes the next line into its key), one blank is
/// skipped, then any further blanks, and the value runs to the end of the line. A key
/// reaching the end of the payload is an error, returned after the pairs before it.
fn payload_pairs(lines: &[String]) -> (Vec<(String, String)>, Option<String>) {
    // An empty payload reaches HAProxy's parser as a lone line feed.
    let text = if lines.is_empty() {
        "\n".to_string()
    } else {
        lines.join("\n")
    };
    let blank = |c: char| c == ' ' || c == '\t';
    let mut pairs = Vec::new();
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let end = rest.find(blank).unwrap_or(rest.len());
        let key = &rest[..end];
        if end == rest.len() {
            return (pairs, Some(format!("Missing value for key '{key}'.")));
        }
        rest = rest[end + 1..].trim_start_matches(blank);
        let vend = rest.find('\n').unwrap_or(rest.len());
        pairs.push((key.to_string(), rest[..vend].to_string()));
        rest = rest.get(vend + 1..).unwrap_or("");
    }
    (pairs, None)
}

fn add_map(rt: &Runtime, args: &[&str], payload: Option<&[String]>) -> String {
    const USAGE: &str = "'add map' expects three parameters (map identifier, key and value) or one parameter (map identifier) and a payload\n";
    let (ver, rest) = with_version(args);
    let Some(lines) = payload else {
        if rest.len() < 3 {
            return USAGE.into();
        }
        let r = match Kind::Map.lookup(rt, rest.first()) {
            Ok(r) => r,
            Err(e) => return e,
        };
        return match r.add(ver, rest[1], Some(rest[2])) {
            Ok(_) => String::new(),
            Err(e) => error(&e, Kind::Map),
        };
    };
    if rest.is_empty() {
        return USAGE.into();
    }
    let r = match Kind::Map.lookup(rt, rest.first()) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let (pairs, parse_error) = payload_pairs(lines);
    let items: Vec<(&str, Option<&str>)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), Some(v.as_str())))
        .collect();
    // The version is checked even for an empty payload.
    let (_, add_error) = r.add_prefix(ver, &items);
    match (add_error, parse_error) {
        (Some(e), _) => error(&e, Kind::Map),
        (None, Some(e)) => format!("{e}\n"),
        (None, None) => String::new(),
    }
}

fn add_acl(rt: &Runtime, args: &[&str]) -> String {
    let (ver, rest) = with_version(args);
    if rest.len() < 2 {
        return "'add acl' expects two parameters: ACL identifier and pattern.\n".into();
    }
    let r = match Kind::Acl.lookup(rt, rest.first()) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if r.two_columns() {
        return "This ACL is shared with a map containing samples. You must use the command 'add map' to add values.\n".into();
    }
    match r.add(ver, rest[1], None) {
        Ok(_) => String::new(),
        Err(e) => error(&e, Kind::Acl),
    }
}

fn del(rt: &Runtime, kind: Kind, args: &[&str]) -> String {
    if args.len() < 2 {
        return format!(
            "This command expects two parameters: {} identifier and key.\n",
            kind.noun()
        );
    }
    let r = match kind.lookup(rt, args.first()) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match r.delete(entry_ref(args[1])) {
        Ok(_) => String::new(),
        Err(e) => error(&e, kind),
    }
}

fn set_map(rt: &Runtime, args: &[&str]) -> String {
    if args.len() < 3 {
        return "'set map' expects three parameters: map identifier, key and value.\n".into();
    }
    let r = match Kind::Map.lookup(rt, args.first()) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let target = entry_ref(args[1]);
    match r.set_value(target, args[2]) {
        Ok(_) => String::new(),
        Err(RefError::EntryNotFound) if matches!(target, EntryRef::Id(_)) => {
            "key or pattern not found.\n".into()
        }
        Err(e) => error(&e, Kind::Map),
    }
}

fn clear(rt: &Runtime, kind: Kind, args: &[&str]) -> String {
    let (ver, rest) = with_version(args);
    if rest.is_empty() {
        return format!("Missing {} identifier.\n", kind.noun());
    }
    match kind.lookup(rt, rest.first()) {
        Ok(r) => {
            r.clear(ver);
            String::new()
        }
        Err(e) => e,
    }
}

fn prepare(rt: &Runtime, kind: Kind, args: &[&str]) -> String {
    match kind.lookup(rt, args.first()) {
        Ok(r) => format!("New version created: {}\n", r.prepare()),
        Err(e) => e,
    }
}

fn commit(rt: &Runtime, kind: Kind, args: &[&str]) -> String {
    let Some(ver) = args.first().and_then(|v| v.strip_prefix('@')) else {
        return "Missing version number.\n".into();
    };
    if args.len() < 2 {
        return format!("Missing {} identifier.\n", kind.noun());
    }
    match kind.lookup(rt, args.get(1)) {
        Ok(r) => match r.commit(version(ver)) {
            Ok(()) => String::new(),
            Err(e) => error(&e, kind),
        },
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn pairs(v: &[&str]) -> (Vec<(String, String)>, Option<String>) {
        payload_pairs(&lines(v))
    }

    fn kv(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn payload_like_haproxy_2_6() {
        assert_eq!(
            pairs(&["k1 v1", "k2 value with  spaces  ", "k3\t\tv3"]),
            (
                kv(&[("k1", "v1"), ("k2", "value with  spaces  "), ("k3", "v3")]),
                None
            )
        );
        // Observed with HAProxy 2.6: a leading blank makes an empty key, a key alone at
        // the end is refused, a key alone elsewhere swallows the next line.
        assert_eq!(
            pairs(&["  a1   v1  ", "\tb1\tv\t1\t", "c1 ", "#d1 v"]),
            (
                kv(&[
                    ("", "a1   v1  "),
                    ("", "b1\tv\t1\t"),
                    ("c1", ""),
                    ("#d1", "v")
                ]),
                None
            )
        );
        assert_eq!(
            pairs(&["44 440", "46"]),
            (
                kv(&[("44", "440")]),
                Some("Missing value for key '46'.".into())
            )
        );
        assert_eq!(pairs(&["x", "y z"]), (kv(&[("x\ny", "z")]), None));
        assert_eq!(
            pairs(&[]),
            (Vec::new(), Some("Missing value for key '\n'.".into()))
        );
        assert_eq!(pairs(&["   "]), (kv(&[("", "")]), None));
    }

    #[test]
    fn versions_and_refs() {
        assert_eq!(version("12"), 12);
        assert_eq!(version("1x"), 1);
        assert_eq!(version("x"), 0);
        assert_eq!(version(""), 0);
        assert_eq!(entry_ref("#0x10"), EntryRef::Id(16));
        assert_eq!(entry_ref("#0Xff"), EntryRef::Id(255));
        assert_eq!(entry_ref("#0xzz"), EntryRef::Id(0));
        assert_eq!(entry_ref("#12"), EntryRef::Key("#12"));
        assert_eq!(entry_ref("key"), EntryRef::Key("key"));
        assert_eq!(with_version(&["@3", "m"]), (Some(3), &["m"][..]));
        assert_eq!(with_version(&["m", "k"]), (None, &["m", "k"][..]));
    }
}
