//! `stick on|match|store-request|store-response EXPR [table T] [if|unless COND]` of a
//! backend: compiled once, then applied by the stream before balancing (match, and the
//! keys to store) and once the server is known (request stores) or answered (responses).
//! The legacy `appsession` compiles into the same rules on an implicit table.

use std::sync::Arc;

use halo_config::Diags;
use halo_config::model::{AppSession, Proxy};

use super::{DataType, Key, Table};
use crate::acl::{AclCtx, AclSet, Cond};
use crate::sample::{Ctx, Expr, Resolver};
use crate::server::{Backend, Server};

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
    /// `appsession`'s `;NAME=value` path parameter (HAProxy 1.x `mode path-parameters`).
    PathParam(String),
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
            let mut expr = |kind: Kind, text: String| match Expr::parse(&text, &located) {
                Ok(e) => rules.push(Rule {
                    kind,
                    expr: Source::Expr(e),
                    table: table.clone(),
                    cond: None,
                }),
                Err(e) => diags.alert(&app.loc, format!("'appsession' : cookie '{name}' : {e}.")),
            };
            // The client's cookie finds the server (and, with request-learn, is stored
            // for the server chosen when unknown).
            let kind = if app.request_learn {
                Kind::On
            } else {
                Kind::Match
            };
            expr(kind, format!("req.cook({name})"));
            if app.query_string {
                expr(Kind::Match, format!("url_param({name})"));
            }
            // The server's Set-Cookie teaches the session.
            expr(Kind::StoreResponse, format!("res.cook({name})"));
            if !app.query_string {
                let at = rules.len() - 1;
                rules.insert(
                    at,
                    Rule {
                        kind: Kind::Match,
                        expr: Source::PathParam(name.clone()),
                        table,
                        cond: None,
                    },
                );
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
            Source::PathParam(name) => {
                let v = path_param(ctx.req?.uri(), name.as_bytes())?;
                r.table
                    .key_of(&crate::sample::Sample::Str(std::borrow::Cow::Borrowed(v)))
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
                let id = r.table.with(&key, |e| e.get(DataType::ServerId)).flatten();
                if let Some(id) = id.filter(|&i| i > 0)
                    && let Some(s) = be.servers.iter().find(|s| u64::from(s.id) == id)
                    && (s.is_up() || be.settings.persist)
                {
                    found = Some(s.clone());
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

/// The value of the path parameter `;NAME=value` (name without case, as HAProxy 1.x),
/// ending at the next `;`, `&`, `?` or `#`.
fn path_param<'a>(uri: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let path_end = uri
        .iter()
        .position(|&c| c == b'?' || c == b'#')
        .unwrap_or(uri.len());
    let path = &uri[..path_end];
    let mut i = 0;
    while let Some(p) = path[i..].iter().position(|&c| c == b';') {
        let start = i + p + 1;
        let rest = &path[start..];
        if rest.len() > name.len()
            && rest[..name.len()].eq_ignore_ascii_case(name)
            && rest[name.len()] == b'='
        {
            let v = &rest[name.len() + 1..];
            let end = v
                .iter()
                .position(|&c| c == b';' || c == b'&')
                .unwrap_or(v.len());
            return Some(&v[..end]).filter(|v| !v.is_empty());
        }
        i = start;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::path_param;

    #[test]
    fn path_parameters() {
        let f = |u: &str| path_param(u.as_bytes(), b"PHPSESSID").map(|v| v.to_vec());
        assert_eq!(f("/fun/a;PHPSESSID=abc"), Some(b"abc".to_vec()));
        assert_eq!(f("/fun/a;x=1;phpsessid=abc;y=2?q=1"), Some(b"abc".to_vec()));
        assert_eq!(f("/fun/a?x;PHPSESSID=abc"), None);
        assert_eq!(f("/fun/a;PHPSESSIDX=abc"), None);
        assert_eq!(f("/fun/a;PHPSESSID="), None);
    }
}
