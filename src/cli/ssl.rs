//! The runtime API's certificate commands (management guide 9.3): `show ssl cert [NAME]`,
//! `new ssl cert`, `del ssl cert`, the `set` / `commit` / `abort ssl cert` transaction that
//! replaces a certificate without a reload, and `show/add/del ssl crt-list`
//! (`crate::tls::store` does the work). Answers are HAProxy
//! 2.6's, byte for byte.

use halo_config::model::CliLevel;

use crate::compile::Runtime;

/// Runs a certificate command (None: not one).
pub fn execute(
    rt: &Runtime,
    level: CliLevel,
    w: &[&str],
    payload: Option<&[String]>,
) -> Option<String> {
    let store = &rt.tls_store;
    // As HAProxy 2.6: everything but `show ssl cert` changes or reveals the certificate
    // lists, admin level only; `show ssl cert` needs operator (2.6 refuses a user-level
    // socket with a misleading "Can't allocate memory!", halo with the usual line).
    let needed = match w {
        ["show", "ssl", "cert", ..] => CliLevel::Operator,
        [_, "ssl", "cert" | "crt-list", ..] => CliLevel::Admin,
        _ => CliLevel::User,
    };
    if level < needed {
        return Some(super::PERMISSION_DENIED.into());
    }
    Some(match w {
        ["show", "ssl", "cert"] => store.list(),
        ["show", "ssl", "cert", name, ..] => store.show(name),
        ["set", "ssl", "cert", rest @ ..] => match (rest.first(), payload) {
            (Some(name), Some(lines)) if !lines.is_empty() => {
                store.set(name, &(lines.join("\n") + "\n"))
            }
            _ => "'set ssl cert expects a filename and a certificate as a payload\n".into(),
        },
        ["commit", "ssl", "cert", rest @ ..] => match rest.first() {
            Some(name) => store.commit(name),
            None => "'commit ssl cert expects a filename\n".into(),
        },
        ["abort", "ssl", "cert", rest @ ..] => match rest.first() {
            Some(name) => store.abort(name),
            None => "'abort ssl cert' expects a filename\n".into(),
        },
        ["new", "ssl", "cert", rest @ ..] => match rest.first() {
            Some(name) => store.new_cert(name),
            None => "'new ssl cert' expects a filename\n".into(),
        },
        ["show", "ssl", "crt-list"] => store.show_list(false, None),
        ["show", "ssl", "crt-list", "-n"] => store.show_list(true, None),
        ["show", "ssl", "crt-list", "-n", name, ..] => store.show_list(true, Some(name)),
        ["show", "ssl", "crt-list", name, ..] => store.show_list(false, Some(name)),
        ["add", "ssl", "crt-list", rest @ ..] => match (rest, payload) {
            ([list], Some(lines)) => match lines.iter().find(|l| !l.trim().is_empty()) {
                Some(l) => store.add_to_list(list, l),
                None => "'add ssl crtlist' expects a filename and a certificate name\n".into(),
            },
            ([list, line @ ..], _) if !line.is_empty() => store.add_to_list(list, &line.join(" ")),
            _ => "'add ssl crtlist' expects a filename and a certificate name\n".into(),
        },
        ["del", "ssl", "crt-list", list, cert] => store.del_from_list(list, cert),
        ["del", "ssl", "crt-list", ..] => {
            "'del ssl crtlist' expects a filename and a certificate name\n".into()
        }
        ["del", "ssl", "cert", rest @ ..] => match rest.first() {
            Some(name) => store.del_cert(name),
            None => "'del ssl cert' expects a certificate name\n".into(),
        },
        _ => return None,
    })
}
