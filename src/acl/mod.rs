//! ACLs (manual 7.1, 7.2, 7.4): an ACL line compiled into a sample expression, a match
//! method and pattern sets; named ACLs (several lines with one name are OR-ed), anonymous
//! `{ … }` ACLs, HAProxy's predefined ACLs, and conditions (`if`/`unless`, `!`, implicit
//! AND, `or`/`||`) evaluated against a sample context.

use std::sync::Arc;

use halo_config::model::{AclRef, Condition};

use crate::pattern::{
    MatchMethod, Origin, PatternFlags, Registry, SharedPatterns, apply_int_operator,
};
use crate::sample::{Ctx, Expr, Located, Resolver, Sample};

/// One ACL line: how to fetch, how to match, what to match against.
#[derive(Debug)]
pub struct AclTerm {
    pub expr: Expr,
    pub method: MatchMethod,
    /// Inline patterns first, then each `-f` file, as HAProxy orders them.
    pub sets: Vec<Arc<SharedPatterns>>,
    /// `http_auth_group(<userlist>)` alone with no `-m`: the patterns are group names,
    /// matched against the groups of the authenticated user (HAProxy's `pat_match_auth`).
    pub auth_groups: Option<Arc<crate::auth::Userlist>>,
}

/// ACL suffixes that select a match method on top of a fetch (`path_beg` = `path -m beg`).
const SUFFIXES: &[(&str, MatchMethod)] = &[
    ("_beg", MatchMethod::Beg),
    ("_end", MatchMethod::End),
    ("_sub", MatchMethod::Sub),
    ("_dir", MatchMethod::Dir),
    ("_dom", MatchMethod::Dom),
    ("_reg", MatchMethod::Reg),
    ("_len", MatchMethod::Len),
    ("_found", MatchMethod::Found),
    ("_val", MatchMethod::Int),
    ("_ip", MatchMethod::Ip),
];

/// The match method a fetch's output implies when no `-m` is given.
fn default_method(sample_kind: OutputKind) -> MatchMethod {
    match sample_kind {
        OutputKind::Bool => MatchMethod::Bool,
        OutputKind::Int => MatchMethod::Int,
        OutputKind::Ip => MatchMethod::Ip,
        OutputKind::Bin => MatchMethod::Bin,
        OutputKind::Str => MatchMethod::Str,
    }
}

pub use crate::sample::OutputKind;

/// Where an ACL line comes from and what it can resolve.
pub struct AclCtx<'a> {
    pub file: &'a str,
    pub line: usize,
    pub registry: &'a Registry,
    pub resolver: &'a dyn Resolver,
}

impl AclTerm {
    /// Compiles the words after the ACL name: `criterion [flags] [operator] [values]`.
    pub fn compile(words: &[String], cx: &AclCtx<'_>) -> Result<AclTerm, String> {
        let Some(criterion) = words.first() else {
            return Err("missing fetch method in ACL expression".into());
        };
        // The fetch, or a fetch with an ACL suffix. Map converters in it are used "at" the
        // ACL's line.
        let located = Located {
            inner: cx.resolver,
            registry: Some(cx.registry),
            file: cx.file,
            line: cx.line,
        };
        let (expr, mut method) = match Expr::parse(criterion, &located) {
            Ok(e) => {
                let m = default_method(e.output_kind());
                (e, m)
            }
            Err(first_err) => {
                let (head, tail) = match criterion.find(['(', ',']) {
                    Some(i) => criterion.split_at(i),
                    None => (criterion.as_str(), ""),
                };
                let mut found = None;
                for (suf, m) in SUFFIXES {
                    if let Some(base) = head.strip_suffix(suf)
                        && let Ok(e) = Expr::parse(&format!("{base}{tail}"), &located)
                    {
                        found = Some((e, *m));
                        break;
                    }
                }
                found.ok_or(first_err)?
            }
        };
        let mut flags = PatternFlags::default();
        let mut explicit_method = false;
        let mut files: Vec<String> = Vec::new();
        let mut i = 1;
        while i < words.len() {
            let w = words[i].as_str();
            match w {
                "-i" => flags.ignore_case = true,
                "-n" => flags.no_dns = true,
                "-M" => flags.map = true,
                "-f" | "-m" | "-u" => {
                    let v = words
                        .get(i + 1)
                        .ok_or_else(|| format!("'{w}' expects an argument"))?;
                    match w {
                        "-f" => files.push(v.clone()),
                        "-m" => {
                            explicit_method = true;
                            method = MatchMethod::from_name(v)
                                .ok_or_else(|| format!("unknown match method '{v}' after '-m'"))?
                        }
                        _ => flags.unique_id = Some(v.clone()),
                    }
                    i += 1;
                }
                "--" => {
                    i += 1;
                    break;
                }
                _ => break,
            }
            i += 1;
        }
        let mut values: Vec<String> = words[i..].to_vec();
        // `req.ssl_ver` patterns are dotted versions (`3.1`, `3.0:3.3`): major << 16 | minor.
        if matches!(expr.fetch.kind, crate::sample::FetchKind::ReqSslVer) && !explicit_method {
            values = values.iter().map(|v| dotted_versions(v)).collect();
        }
        // Integer operators apply to the values that follow (7.1.3).
        if matches!(method, MatchMethod::Int | MatchMethod::Len)
            && let Some(op) = values
                .first()
                .and_then(|v| crate::pattern::IntOperator::from_word(v))
        {
            values.remove(0);
            values = values
                .into_iter()
                .map(|v| apply_int_operator(op, &v))
                .collect();
        }
        let origin = Origin {
            file: cx.file,
            line: cx.line,
        };
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        // HAProxy loads the `-f` files while reading the flags, before it creates the
        // line's own list: their ids come first in `show acl`.
        let mut files_sets = Vec::with_capacity(files.len());
        for f in &files {
            files_sets.push(cx.registry.acl_file(f, method, &flags, origin)?);
        }
        // `show acl` names the fetch keyword alone: `acl 'req.hdr' file …`.
        let keyword = criterion.split(['(', ',']).next().unwrap_or(criterion);
        let mut sets = vec![
            cx.registry
                .acl_inline(keyword, origin, method, &flags, &refs)?,
        ];
        sets.extend(files_sets);
        let auth_groups = match &expr.fetch.kind {
            crate::sample::FetchKind::HttpAuthGroup(ul)
                if expr.convs.is_empty() && !explicit_method =>
            {
                Some(ul.clone())
            }
            _ => None,
        };
        Ok(AclTerm {
            expr,
            method,
            sets,
            auth_groups,
        })
    }

    /// Whether any value of the fetch matches any pattern.
    pub fn matches(&self, ctx: &Ctx<'_>) -> bool {
        if let Some(ul) = &self.auth_groups {
            // The fetch gives the user name once the password is checked.
            let Some(name) = self.expr.eval(ctx) else {
                return false;
            };
            let Some(user) = ul.user(&name.to_bytes()) else {
                return false;
            };
            let sets: Vec<_> = self.sets.iter().map(|s| s.load()).collect();
            return user.groups.iter().any(|&g| {
                let group = ul.group_name(g).as_bytes();
                sets.iter().any(|set| set.match_str(group).is_some())
            });
        }
        match self.method {
            MatchMethod::Found => self.expr.eval(ctx).is_some(),
            MatchMethod::Bool => self.expr.eval(ctx).map(|s| s.to_bool()).unwrap_or(false),
            _ => {
                let sets: Vec<_> = self.sets.iter().map(|s| s.load()).collect();
                self.expr.any(ctx, &mut |s: &Sample<'_>| {
                    sets.iter().any(|set| match self.method {
                        MatchMethod::Int => s
                            .to_int()
                            .map(|v| set.match_int(v).is_some())
                            .unwrap_or(false),
                        MatchMethod::Len => set.match_int(s.to_bytes().len() as i64).is_some(),
                        MatchMethod::Ip => s
                            .to_ip()
                            .map(|ip| set.match_ip(ip).is_some())
                            .unwrap_or(false),
                        _ => set.match_str(&s.to_bytes()).is_some(),
                    })
                })
            }
        }
    }
}

/// `3.1` → `196609`, keeping range colons (`3.0:` → `196608:`); other text unchanged.
fn dotted_versions(v: &str) -> String {
    v.split(':')
        .map(|part| match part.split_once('.') {
            Some((maj, min)) => match (maj.parse::<i64>(), min.parse::<i64>()) {
                (Ok(a), Ok(b)) => ((a << 16) + b).to_string(),
                _ => part.to_string(),
            },
            None => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(":")
}

impl AclTerm {
    /// Like `matches`, for rules that may wait for more data: None (HAProxy's
    /// `ACL_TEST_MISS`) when the answer is no but the fetch reads a buffer still being
    /// filled and may answer otherwise later.
    pub fn test(&self, ctx: &Ctx<'_>) -> Option<bool> {
        if self.matches(ctx) {
            return Some(true);
        }
        if ctx.req_final {
            return Some(false);
        }
        let found = self.expr.eval(ctx).is_some();
        if self.expr.fetch.may_change(ctx, found) {
            None
        } else {
            Some(false)
        }
    }
}

/// Three-valued OR (`None`: not decided yet).
fn or3(it: impl Iterator<Item = Option<bool>>) -> Option<bool> {
    let mut miss = false;
    for r in it {
        match r {
            Some(true) => return Some(true),
            None => miss = true,
            Some(false) => {}
        }
    }
    if miss { None } else { Some(false) }
}

/// The predefined ACLs that depend on the request buffer, three-valued.
fn predefined3(name: &str, ctx: &Ctx<'_>) -> Option<bool> {
    let v = predefined(name, ctx).unwrap_or(false);
    if v || ctx.req_final {
        return Some(v);
    }
    match name {
        "WAIT_END" | "REQ_CONTENT" | "RDP_COOKIE" => None,
        _ => Some(v),
    }
}

/// The ACLs HAProxy predefines (7.4).
fn predefined(name: &str, ctx: &Ctx<'_>) -> Option<bool> {
    Some(match name {
        "TRUE" => true,
        "FALSE" => false,
        "LOCALHOST" => ctx
            .src
            .map(|a| match a.ip() {
                std::net::IpAddr::V4(v4) => v4.octets()[0] == 127,
                std::net::IpAddr::V6(v6) => v6.is_loopback(),
            })
            .unwrap_or(false),
        "WAIT_END" => ctx.req_final,
        "REQ_CONTENT" => !ctx.req_payload.is_empty(),
        "RDP_COOKIE" => crate::sample::fetch::rdp_cookie(ctx.req_payload, b"").is_some(),
        "HTTP" => ctx.req.is_some(),
        "HTTP_2.0" | "HTTP_3.0" => false,
        "HTTP_1.0" | "HTTP_1.1" | "HTTP_CONTENT" | "HTTP_URL_ABS" | "HTTP_URL_SLASH"
        | "HTTP_URL_STAR" | "METH_CONNECT" | "METH_DELETE" | "METH_GET" | "METH_HEAD"
        | "METH_OPTIONS" | "METH_POST" | "METH_PUT" | "METH_TRACE" => {
            let Some(req) = ctx.req else {
                return Some(false);
            };
            let uri = req.uri();
            let method = req.method();
            match name {
                "HTTP_1.0" => req.version() == crate::http::h1::Version::Http10,
                "HTTP_1.1" => req.version() == crate::http::h1::Version::Http11,
                "HTTP_CONTENT" => req
                    .get(b"content-length")
                    .and_then(crate::sample::parse_leading_int)
                    .is_some_and(|n| n > 0),
                "HTTP_URL_ABS" => uri
                    .iter()
                    .position(|&c| c == b'/' || c == b':')
                    .is_some_and(|i| uri[i..].starts_with(b"://")),
                "HTTP_URL_SLASH" => uri.first() == Some(&b'/'),
                "HTTP_URL_STAR" => uri == b"*",
                "METH_GET" => method == b"GET" || method == b"HEAD",
                m => m
                    .strip_prefix("METH_")
                    .is_some_and(|x| method == x.as_bytes()),
            }
        }
        _ => return None,
    })
}

/// A compiled condition.
#[derive(Debug)]
pub struct Cond {
    pub unless: bool,
    pub alternatives: Vec<Vec<(bool, Term)>>,
}

#[derive(Debug)]
pub enum Term {
    /// Index of a named ACL in the proxy's list.
    Named(usize),
    Predefined(String),
    Anonymous(Box<AclTerm>),
}

/// A proxy's named ACLs: name → lines (OR-ed).
#[derive(Debug, Default)]
pub struct AclSet {
    pub names: Vec<String>,
    pub terms: Vec<Vec<AclTerm>>,
}

impl AclSet {
    pub fn add(&mut self, name: &str, term: AclTerm) {
        match self.names.iter().position(|n| n == name) {
            Some(i) => self.terms[i].push(term),
            None => {
                self.names.push(name.to_string());
                self.terms.push(vec![term]);
            }
        }
    }
    pub fn find(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
    /// Three-valued evaluation of a named ACL (see `AclTerm::test`).
    pub fn test(&self, i: usize, ctx: &Ctx<'_>) -> Option<bool> {
        or3(self.terms.get(i)?.iter().map(|a| a.test(ctx)))
    }

    pub fn eval(&self, i: usize, ctx: &Ctx<'_>) -> bool {
        self.terms
            .get(i)
            .map(|t| t.iter().any(|a| a.matches(ctx)))
            .unwrap_or(false)
    }
}

impl Cond {
    /// Compiles a parsed condition against the proxy's ACLs.
    pub fn compile(c: &Condition, acls: &AclSet, cx: &AclCtx<'_>) -> Result<Cond, String> {
        let mut alternatives = Vec::new();
        for alt in &c.alternatives {
            let mut terms = Vec::new();
            for t in alt {
                let term = match &t.acl {
                    AclRef::Named(n) => match acls.find(n) {
                        Some(i) => Term::Named(i),
                        None if predefined(n, &Ctx::empty()).is_some() => {
                            Term::Predefined(n.clone())
                        }
                        None => {
                            return Err(format!("ACL '{n}' is not declared"));
                        }
                    },
                    AclRef::Anonymous(words) => {
                        Term::Anonymous(Box::new(AclTerm::compile(words, cx)?))
                    }
                };
                terms.push((t.negated, term));
            }
            alternatives.push(terms);
        }
        Ok(Cond {
            unless: c.unless,
            alternatives,
        })
    }

    /// Evaluates the condition for a rule that may wait for more data: None while a term
    /// reading a buffer still being filled keeps it undecided (`ctx.req_final` false).
    pub fn test(&self, acls: &AclSet, ctx: &Ctx<'_>) -> Option<bool> {
        if ctx.req_final {
            return Some(self.eval(acls, ctx));
        }
        let v = or3(self.alternatives.iter().map(|alt| {
            let mut miss = false;
            for (neg, t) in alt {
                let r = match t {
                    Term::Named(i) => acls.test(*i, ctx),
                    Term::Predefined(n) => predefined3(n, ctx),
                    Term::Anonymous(a) => a.test(ctx),
                };
                match r {
                    Some(r) if r == *neg => return Some(false),
                    Some(_) => {}
                    None => miss = true,
                }
            }
            if miss { None } else { Some(true) }
        }))?;
        Some(v != self.unless)
    }

    pub fn eval(&self, acls: &AclSet, ctx: &Ctx<'_>) -> bool {
        let v = self.alternatives.iter().any(|alt| {
            alt.iter().all(|(neg, t)| {
                let r = match t {
                    Term::Named(i) => acls.eval(*i, ctx),
                    Term::Predefined(n) => predefined(n, ctx).unwrap_or(false),
                    Term::Anonymous(a) => a.matches(ctx),
                };
                r != *neg
            })
        });
        v != self.unless
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    use crate::sample::tests::NoNames as R;

    fn term(words: &[&str], reg: &Registry) -> AclTerm {
        let cx = AclCtx {
            file: "t.cfg",
            line: 1,
            registry: reg,
            resolver: &R,
        };
        AclTerm::compile(
            &words.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            &cx,
        )
        .unwrap()
    }

    #[test]
    fn ip_int_and_suffix_acls() {
        let reg = Registry::new();
        let mut ctx = Ctx::empty();
        let src: SocketAddr = "10.1.2.3:4567".parse().unwrap();
        ctx.src = Some(src);
        assert!(term(&["src", "10.0.0.0/8"], &reg).matches(&ctx));
        assert!(!term(&["src", "192.168.0.0/16", "127.0.0.1"], &reg).matches(&ctx));
        assert!(term(&["src_port", "gt", "4000"], &reg).matches(&ctx));
        assert!(term(&["src_port", "4000:5000"], &reg).matches(&ctx));
        assert!(!term(&["src_port", "lt", "4000"], &reg).matches(&ctx));
        assert!(term(&["always_true"], &reg).matches(&ctx));
        assert!(!term(&["always_false"], &reg).matches(&ctx));
        assert!(term(&["str(hello),lower", "-m", "beg", "he"], &reg).matches(&ctx));
        assert!(term(&["str(HELLO)", "-i", "hello"], &reg).matches(&ctx));
        assert!(term(&["str(abc)", "-m", "len", "3"], &reg).matches(&ctx));
        assert!(term(&["str(abc)", "-m", "found"], &reg).matches(&ctx));
    }

    #[test]
    fn conditions() {
        let reg = Registry::new();
        let cx = AclCtx {
            file: "t.cfg",
            line: 1,
            registry: &reg,
            resolver: &R,
        };
        let mut acls = AclSet::default();
        acls.add("lan", term(&["src", "10.0.0.0/8"], &reg));
        acls.add("lan", term(&["src", "192.168.0.0/16"], &reg));
        let parsed = Condition {
            unless: false,
            alternatives: vec![vec![halo_config::model::CondTerm {
                negated: false,
                acl: AclRef::Named("lan".into()),
            }]],
        };
        let c = Cond::compile(&parsed, &acls, &cx).unwrap();
        let mut ctx = Ctx::empty();
        ctx.src = Some("192.168.1.1:1".parse().unwrap());
        assert!(c.eval(&acls, &ctx));
        ctx.src = Some("8.8.8.8:1".parse().unwrap());
        assert!(!c.eval(&acls, &ctx));
        let unless = Condition {
            unless: true,
            ..parsed
        };
        let c = Cond::compile(&unless, &acls, &cx).unwrap();
        assert!(c.eval(&acls, &ctx));
    }
}
