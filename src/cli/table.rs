//! Runtime API commands for stick tables (management guide 9.3): `show table [NAME [key K |
//! data.TYPE OP VALUE]]`, `clear table NAME [key K | data.TYPE OP VALUE]` and `set table
//! NAME key K [data.TYPE V]*`, with HAProxy 2.6's output and error texts.

use std::sync::Arc;

use halo_config::model::CliLevel;

use crate::compile::Runtime;
use crate::stick::{DataType, Filter, KeyType, NAMES, Table};

/// Help lines of these commands, as HAProxy words them.
pub const HELP: &str = "  clear table <table> [<filter>]*         : remove an entry from a table (filter: data/key)
  set table <table> key <k> [data.* <v>]* : update or create a table entry's data
  show table <table> [<filter>]*          : report table usage stats or dump this table's contents (filter: data/key)
";

fn find(rt: &Runtime, name: &str) -> Option<Arc<Table>> {
    rt.proxies
        .iter()
        .filter(|p| p.name == name)
        .find_map(|p| p.table.clone())
}

/// Runs `w` if it is a table command (`None` otherwise).
pub fn execute(rt: &Runtime, level: CliLevel, w: &[&str]) -> Option<String> {
    match w {
        ["show", "table"] => Some(list(rt)),
        ["show", "table", name, rest @ ..] => Some(show(rt, name, rest)),
        ["clear", "table", rest @ ..] => Some(clear(rt, level, rest)),
        ["set", "table", rest @ ..] => Some(set(rt, level, rest)),
        _ => None,
    }
}

/// Every table, the last declared first (as HAProxy lists them).
fn list(rt: &Runtime) -> String {
    let mut out = String::new();
    for p in rt.proxies.iter().rev() {
        if let Some(t) = &p.table {
            t.purge_expired();
            out.push_str(&t.header());
        }
    }
    out
}

enum Sel {
    All,
    Key(String),
    Data(Filter),
}

/// Parses `[key K | data.TYPE OP VALUE]`; `verb` names the action in HAProxy's texts.
fn selection(t: &Table, rest: &[&str], showing: bool) -> Result<Sel, String> {
    match rest {
        [] => Ok(Sel::All),
        ["key"] => Err("Key value expected\n".into()),
        ["key", k, ..] => {
            if matches!(t.conf.key, KeyType::Binary(_)) {
                return Err(if showing {
                    "Showing keys from tables of type other than ip, ipv6, string and integer is not supported\n"
                } else {
                    "Removing keys from tables of type other than ip, ipv6, string and integer is not supported\n"
                }
                .into());
            }
            Ok(Sel::Key(k.to_string()))
        }
        [d, op, v, ..] if d.starts_with("data.") => Filter::parse(t, d, op, v).map(Sel::Data),
        _ if showing => Err(
            "Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>\n"
                .into(),
        ),
        _ => Err(required()),
    }
}

fn required() -> String {
    "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>\n"
        .into()
}

fn show(rt: &Runtime, name: &str, rest: &[&str]) -> String {
    let Some(t) = find(rt, name) else {
        return "No such table\n".into();
    };
    match selection(&t, rest, true) {
        Err(e) => e,
        Ok(Sel::All) => t.show(None, None),
        Ok(Sel::Data(f)) => t.show(None, Some(&f)),
        Ok(Sel::Key(k)) => {
            // A key that is not there (or not valid for the table) shows nothing at all.
            let Some(key) = t.key_from_text(&k) else {
                return String::new();
            };
            let out = t.show(Some(&key), None);
            if out == t.header() {
                String::new()
            } else {
                out
            }
        }
    }
}

fn clear(rt: &Runtime, level: CliLevel, rest: &[&str]) -> String {
    let Some((name, rest)) = rest.split_first() else {
        return required();
    };
    if level == CliLevel::User {
        return "Permission denied\n".into();
    }
    let Some(t) = find(rt, name) else {
        return "No such table\n".into();
    };
    match selection(&t, rest, false) {
        Err(e) => e,
        Ok(Sel::All) => {
            t.clear(None);
            String::new()
        }
        Ok(Sel::Data(f)) => {
            t.clear_matching(&f);
            String::new()
        }
        Ok(Sel::Key(k)) => match t.key_from_text(&k) {
            Some(key) => {
                t.clear(Some(&key));
                String::new()
            }
            None => "Invalid key\n".into(),
        },
    }
}

/// `set table NAME key K [data.TYPE V]*`: the entry is created (or refreshed) first, then
/// each value is set in turn; the first bad one stops there, as in HAProxy.
fn set(rt: &Runtime, level: CliLevel, rest: &[&str]) -> String {
    const USAGE: &str = "Required arguments: <table> key <key> [data.<store_data_type> <value>]*\n";
    let Some((name, rest)) = rest.split_first() else {
        return USAGE.into();
    };
    if level == CliLevel::User {
        return "Permission denied\n".into();
    }
    let Some(t) = find(rt, name) else {
        return "No such table\n".into();
    };
    let (k, data) = match rest {
        [] => return String::new(),
        ["key"] => return "Key value expected\n".into(),
        ["key", k, data @ ..] => (*k, data),
        _ => return USAGE.into(),
    };
    if matches!(t.conf.key, KeyType::Binary(_)) {
        return "Inserting keys into tables of type other than ip, ipv6, string and integer is not supported\n".into();
    }
    let Some(key) = t.key_from_text(k) else {
        return "Invalid key\n".into();
    };
    let table = &t;
    let res = t.update(&key, |e| {
        let mut it = data.iter();
        while let Some(d) = it.next() {
            let Some(ty_name) = d.strip_prefix("data.") else {
                return "\"data.<type>\" followed by a value expected\n".to_string();
            };
            let Some(&(_, ty)) = NAMES.iter().find(|(n, _)| *n == ty_name) else {
                return "Unknown data type\n".into();
            };
            let Some(v) = it.next().and_then(|v| v.parse::<u64>().ok()) else {
                return "Require a valid integer value to store\n".into();
            };
            if ty == DataType::ServerKey || !table.stores(ty) {
                return "Data type not stored in this table\n".into();
            }
            e.set(ty, v);
        }
        String::new()
    });
    res.unwrap_or_else(|| "Unable to allocate a new key\n".into())
}
