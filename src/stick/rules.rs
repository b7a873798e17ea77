//! `stick on|match|store-request|store-response EXPR [table T] [if|unless COND]` of a
//! backend: compiled once, then applied by the stream before balancing (match, and the
//! keys to store) and once the server is known (request stores) or answered (responses).
//! The legacy `appsession` compiles into the same rules on an implicit table.

use std::sync::Arc;

use halo_config::Diags;
use halo_config::model::{AppSession, Proxy};

use super::{DataType, Key, Table};
use crate::acl::{AclCtx, AclSet, Cond};
use crate::sample::{Ctx, Expr, Resolver, Sample};
use crate::server::{Backend, Server};
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    On,
    Match,
    StoreRequest,
    StoreResponse,
}

impl Kind {
    fn matches(self) -> bool {
        matches!(self, Kind::On | Kind::Match)
    }
    fn stores_request(self) -> bool {
        matches!(self, Kind::On | Kind::StoreRequest)
    }
}

/// Where a rule finds its key.
enum Source {
    Expr(Expr),
    /// `appsession`'s id in the URL: `;NAME=value` in the path, or `NAME=value` in the
    /// query string (`query`); with `prefix`, NAME begins the parameter's name and the key
    /// is the rest, `SUFFIX=value`.
    UrlParam {
        name: String,
        query: bool,
        prefix: bool,
    },
    /// `appsession … prefix`: the first cookie (of `Set-Cookie` with `res`) whose name
    /// begins with NAME; the key is `SUFFIX=value`.
    CookiePrefix {
        name: String,
        res: bool,
    },
}

struct Rule {
    kind: Kind,
    expr: Source,
    table: Arc<Table>,
    cond: Option<Cond>,
}

/// The stick rules of one backend, in their order.
#[derive(Default)]
pub struct StickRules {
    rules: Vec<Rule>,
}

/// Keys to store once the server is chosen (HAProxy keeps at most 8 per stream).
pub type Pending = Vec<(Arc<Table>, Key)>;

impl StickRules {
    /// Compiles the `stick` rules of `p`. `table` finds a proxy's table by name (the
    /// proxy's own when `None`).
    pub fn compile(
        p: &Proxy,
        acls: &AclSet,
        registry: &crate::pattern::Registry,
        resolver: &dyn Resolver,
        table: &dyn Fn(Option<&str>) -> Option<Arc<Table>>,
        appsession: Option<(&AppSession, Arc<Table>)>,
        diags: &mut Diags,
    ) -> StickRules {
        let mut rules = Vec::new();
        for r in &p.rules {
            let kind = match r.keyword.as_str() {
                "stick on" => Kind::On,
                "stick match" => Kind::Match,
                "stick store-request" => Kind::StoreRequest,
                "stick store-response" => Kind::StoreResponse,
                _ => continue,
            };
            let fail = |diags: &mut Diags, e: String| {
                diags.alert(
                    &r.loc,
                    format!("'{}' : {e} in {} '{}'.", r.keyword, p.kind.name(), p.name),
                )
            };
            let (text, rest) = match r.args.split_first() {
                Some((t, rest)) => (t, rest),
                None => {
                    fail(diags, "missing fetch method".into());
                    continue;
                }
            };
            let name = match rest {
                [] => None,
                [t, n] if t == "table" => Some(n.as_str()),
                _ => {
                    fail(diags, format!("unexpected argument '{}'", rest.join(" ")));
                    continue;
                }
            };
            let located = crate::sample::Located::new(resolver, &r.loc.file, r.loc.line);
            let expr = match Expr::parse(text, &located) {
                Ok(e) => e,
                Err(e) => {
                    fail(diags, format!("fetch method '{text}' : {e}"));
                    continue;
                }
            };
            let Some(table) = table(name) else {
                fail(
                    diags,
                    match name {
                        Some(n) => format!("unable to find table '{n}'"),
                        None => "no table declared in this proxy and no 'table' given".into(),
                    },
                );
                continue;
            };
            let cond = match &r.cond {
                None => None,
                Some(c) => {
                    let acx = AclCtx {
                        file: &r.loc.file,
                        line: r.loc.line,
                        registry,
                        resolver,
                    };
                    match Cond::compile(c, acls, &acx) {
                        Ok(c) => Some(c),
                        Err(e) => {
                            fail(diags, format!("error in condition : {e}"));
                            continue;
                        }
                    }
                }
            };
            rules.push(Rule {
                kind,
                expr: Source::Expr(expr),
                table,
                cond,
            });
        }
        if let Some((app, table)) = appsession {
            let located = crate::sample::Located::new(resolver, &app.loc.file, app.loc.line);
            let name = &app.cookie;
            let mut cookie = |res: bool| {
                if app.prefix {
                    return Some(Source::CookiePrefix {
                        name: name.clone(),
                        res,
                    });
                }
                let text = format!("{}({name})", if res { "res.cook" } else { "req.cook" });
                match Expr::parse(&text, &located) {
                    Ok(e) => Some(Source::Expr(e)),
                    Err(e) => {
                        diags.alert(&app.loc, format!("'appsession' : cookie '{name}' : {e}."));
                        None
                    }
                }
            };
            // The client's cookie, then the id in its URL, find the server (request-learn:
            // the cookie is also stored for the server chosen when unknown); the server's
            // Set-Cookie teaches the session.
            let first = if app.request_learn {
                Kind::On
            } else {
                Kind::Match
            };
            let url = Source::UrlParam {
                name: name.clone(),
                query: app.query_string,
                prefix: app.prefix,
            };
            for (kind, src) in [
                (first, cookie(false)),
                (Kind::Match, Some(url)),
                (Kind::StoreResponse, cookie(true)),
            ] {
                if let Some(expr) = src {
                    rules.push(Rule {
                        kind,
                        expr,
                        table: table.clone(),
                        cond: None,
                    });
                }
            }
        }
        StickRules { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn has_request_rules(&self) -> bool {
        self.rules.iter().any(|r| r.kind != Kind::StoreResponse)
    }

    pub fn has_response_rules(&self) -> bool {
        self.rules.iter().any(|r| r.kind == Kind::StoreResponse)
    }

    fn key(r: &Rule, acls: &AclSet, ctx: &Ctx<'_>) -> Option<Key> {
        if let Some(c) = &r.cond
            && !c.eval(acls, ctx)
        {
            return None;
        }
        match &r.expr {
            Source::Expr(e) => r.table.key_of(&e.eval(ctx)?),
            Source::UrlParam {
                name,
                query,
                prefix,
            } => {
                let v = url_id(ctx.req?.uri(), name.as_bytes(), *query, *prefix)?;
                r.table.key_of(&Sample::Str(Cow::Borrowed(v)))
            }
            Source::CookiePrefix { name, res } => {
                let head = if *res { ctx.res? } else { ctx.req? };
                let v = cookie_prefix(head, name.as_bytes(), *res)?;
                r.table.key_of(&Sample::Str(Cow::Owned(v)))
            }
        }
    }

    /// Request side, before balancing: the server a `stick on|match` rule finds (still up),
    /// and the keys `stick on|store-request` will store once the server is known.
    pub fn on_request(
        &self,
        be: &Backend,
        acls: &AclSet,
        ctx: &Ctx<'_>,
    ) -> (Option<Arc<Server>>, Pending) {
        let mut found: Option<Arc<Server>> = None;
        let mut pending: Pending = Vec::new();
        for r in &self.rules {
            if r.kind == Kind::StoreResponse {
                continue;
            }
            let already = pending.iter().any(|(t, _)| Arc::ptr_eq(t, &r.table));
            if r.kind.stores_request() && already && (found.is_some() || !r.kind.matches()) {
                continue;
            }
            if found.is_some() && !r.kind.stores_request() {
                continue;
            }
            let Some(key) = Self::key(r, acls, ctx) else {
                continue;
            };
            if r.kind.matches() && found.is_none() {
                // As HAProxy 2.x: the stored `server_key` (the server's name, or address with
                // `srvkey addr`) names the server when there is one, else `server_id`.
                let srvkey_addr = r.table.conf.srvkey_addr;
                let who = r.table.with(&key, |e| {
                    let by_key = e.server_key().and_then(|k| {
                        be.servers.iter().find(|s| {
                            if srvkey_addr {
                                s.addr.target(0).to_string() == k
                            } else {
                                s.name == k
                            }
                        })
                    });
                    by_key.cloned().or_else(|| {
                        let id = e.get(DataType::ServerId).filter(|&i| i > 0)?;
                        be.servers.iter().find(|s| u64::from(s.id) == id).cloned()
                    })
                });
                if let Some(Some(s)) = who
                    && (s.is_up() || be.settings.persist)
                {
                    found = Some(s);
                }
            }
            if r.kind.stores_request() && !already && pending.len() < 8 {
                pending.push((r.table.clone(), key));
            }
        }
        (found, pending)
    }

    /// Response side: the keys of `stick store-response` rules, stored for `srv`.
    pub fn on_response(&self, acls: &AclSet, ctx: &Ctx<'_>, srv: &Server) {
        let mut pending: Pending = Vec::new();
        for r in &self.rules {
            if r.kind != Kind::StoreResponse
                || pending.iter().any(|(t, _)| Arc::ptr_eq(t, &r.table))
            {
                continue;
            }
            if let Some(key) = Self::key(r, acls, ctx) {
                pending.push((r.table.clone(), key));
            }
        }
        store(&pending, srv);
    }
}

/// Stores the chosen server for every pending key (not for a `non-stick` server).
pub fn store(pending: &Pending, srv: &Server) {
    if srv.cfg.non_stick {
        return;
    }
    for (table, key) in pending {
        let addr_key = table.conf.srvkey_addr;
        table.update(key, |e| {
            e.set(DataType::ServerId, u64::from(srv.id));
            if addr_key {
                e.set_server_key(&srv.addr.target(0).to_string());
            } else {
                e.set_server_key(&srv.name);
            }
        });
    }
}

/// `appsession`'s id in a request target: the parameter NAME (name without case, as
/// HAProxy 1.x) among the `;` path parameters, or in the query string with `query`;
/// parameters end at `;` or `&`. With `prefix`, the parameter's name only begins with NAME
/// and the id is what follows NAME.
fn url_id<'a>(uri: &'a [u8], name: &[u8], query: bool, prefix: bool) -> Option<&'a [u8]> {
    let uri = &uri[..uri.iter().position(|&c| c == b'#').unwrap_or(uri.len())];
    let q = uri.iter().position(|&c| c == b'?');
    let params = if query {
        &uri[q? + 1..]
    } else {
        let path = &uri[..q.unwrap_or(uri.len())];
        &path[path.iter().position(|&c| c == b';')? + 1..]
    };
    params
        .split(|&c| c == b';' || c == b'&')
        .filter(|p| p.len() > name.len() && p[..name.len()].eq_ignore_ascii_case(name))
        .find_map(|p| {
            let rest = &p[name.len()..];
            match rest.strip_prefix(b"=") {
                _ if prefix => Some(rest),
                Some(v) if !v.is_empty() => Some(v),
                _ => None,
            }
        })
}

/// `appsession … prefix`: `SUFFIX=value` of the first cookie named NAME`SUFFIX` (the
/// first field of each `Set-Cookie` with `res`).
fn cookie_prefix(head: &crate::http::h1::Head, name: &[u8], res: bool) -> Option<Vec<u8>> {
    let hname: &[u8] = if res { b"set-cookie" } else { b"cookie" };
    head.get_all(hname).find_map(|line| {
        line.split(|&c| c == b';')
            .take(if res { 1 } else { usize::MAX })
            .find_map(|part| {
                let part = part.trim_ascii();
                let eq = part.iter().position(|&c| c == b'=')?;
                let (k, v) = (part[..eq].trim_ascii(), part[eq + 1..].trim_ascii());
                let suffix = k.strip_prefix(name)?;
                Some([suffix, b"=", v].concat())
            })
    })
}

#[cfg(test)]
mod tests {
    use super::url_id;

    #[test]
    fn url_ids() {
        let f = |u: &str| url_id(u.as_bytes(), b"PHPSESSID", false, false).map(|v| v.to_vec());
        assert_eq!(f("/fun/a;PHPSESSID=abc"), Some(b"abc".to_vec()));
        assert_eq!(f("/fun/a;x=1;phpsessid=abc;y=2?q=1"), Some(b"abc".to_vec()));
        assert_eq!(f("/fun/a?x;PHPSESSID=abc"), None);
        assert_eq!(f("/fun/a;PHPSESSIDX=abc"), None);
        assert_eq!(f("/fun/a;PHPSESSID="), None);
        let q = |u: &str| url_id(u.as_bytes(), b"SID", true, false).map(|v| v.to_vec());
        assert_eq!(q("/a;SID=x?b=1&sid=y"), Some(b"y".to_vec()));
        assert_eq!(q("/a;SID=x"), None);
        let p = |u: &str| url_id(u.as_bytes(), b"ASPSESSIONID", false, true).map(|v| v.to_vec());
        assert_eq!(p("/a;ASPSESSIONIDQQ=abc;z"), Some(b"QQ=abc".to_vec()));
    }
}
