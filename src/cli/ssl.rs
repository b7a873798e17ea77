//! The runtime API's certificate commands (management guide 9.3): `show ssl cert [NAME]`,
//! `new ssl cert`, and the `set` / `commit` / `abort ssl cert` transaction that replaces a
//! certificate without a reload (`crate::tls::store` does the work). Answers are HAProxy
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
    let admin = || level == CliLevel::Admin;
    const DENIED: &str = "Permission denied\n";
    Some(match w {
        ["show", "ssl", "cert"] => store.list(),
        ["show", "ssl", "cert", name, ..] => store.show(name),
        ["set", "ssl", "cert", rest @ ..] => {
            if !admin() {
                return Some(DENIED.into());
            }
            match (rest.first(), payload) {
                (Some(name), Some(lines)) if !lines.is_empty() => {
                    store.set(name, &(lines.join("\n") + "\n"))
                }
                _ => "'set ssl cert expects a filename and a certificate as a payload\n".into(),
            }
        }
        ["commit", "ssl", "cert", rest @ ..] => {
            if !admin() {
                return Some(DENIED.into());
            }
            match rest.first() {
                Some(name) => store.commit(name),
                None => "'commit ssl cert expects a filename\n".into(),
            }
        }
        ["abort", "ssl", "cert", rest @ ..] => {
            if !admin() {
                return Some(DENIED.into());
            }
            match rest.first() {
                Some(name) => store.abort(name),
                None => "'abort ssl cert' expects a filename\n".into(),
            }
        }
        ["new", "ssl", "cert", rest @ ..] => {
            if !admin() {
                return Some(DENIED.into());
            }
            match rest.first() {
                Some(name) => store.new_cert(name),
                None => "'new ssl cert' expects a filename\n".into(),
            }
        }
        _ => return None,
    })
}
