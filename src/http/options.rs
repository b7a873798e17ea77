//! Per-proxy HTTP options the stream applies beside the rules: the RFC 7239 `Forwarded`
//! header of `option forwarded`, `option http-restrict-req-hdr-names` and the cacheability
//! check of `option checkcache`.

use std::net::{IpAddr, SocketAddr};

use halo_config::model;

use crate::http::h1::Head;
use crate::sample::{Ctx, Expr, Resolver, Sample};

/// Where one parameter of the `Forwarded` header comes from.
#[derive(Debug)]
enum Source {
    /// The connection (`by`, `for`, `by_port`, `for_port`) or the `Host` field (`host`).
    Conn,
    Expr(Box<Expr>),
}

/// A compiled `option forwarded`.
#[derive(Debug)]
pub struct Forwarded {
    proto: bool,
    host: Option<Source>,
    by: Option<Source>,
    by_port: Option<Source>,
    for_: Option<Source>,
    for_port: Option<Source>,
}

fn source(p: &Option<Option<String>>, r: &dyn Resolver) -> Result<Option<Source>, String> {
    Ok(match p {
        None => None,
        Some(None) => Some(Source::Conn),
        Some(Some(e)) => Some(Source::Expr(Box::new(Expr::parse(e, r)?))),
    })
}

/// RFC 7239 obfuscated identifiers: `_` followed by ALPHA / DIGIT / "." / "_" / "-".
fn obfuscated(s: &[u8]) -> Option<Vec<u8>> {
    if s.is_empty()
        || !s
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
    {
        return None;
    }
    if s[0] == b'_' {
        Some(s.to_vec())
    } else {
        let mut v = b"_".to_vec();
        v.extend_from_slice(s);
        Some(v)
    }
}

impl Forwarded {
    pub fn compile(f: &model::Forwarded, r: &dyn Resolver) -> Result<Forwarded, String> {
        Ok(Forwarded {
            proto: f.proto,
            host: source(&f.host, r)?,
            by: source(&f.by, r)?,
            by_port: source(&f.by_port, r)?,
            for_: source(&f.for_, r)?,
            for_port: source(&f.for_port, r)?,
        })
    }

    /// The header value for a request from `src` to `dst`, e.g. `proto=http;for=127.0.0.1`.
    pub fn value(&self, ctx: &Ctx<'_>, head: &Head, src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
        let mut parts: Vec<Vec<u8>> = Vec::new();
        if self.proto {
            parts.push(b"proto=http".to_vec());
        }
        if let Some(h) = &self.host {
            let v = match h {
                Source::Conn => head.get(b"host").map(<[u8]>::to_vec).unwrap_or_default(),
                Source::Expr(e) => e
                    .eval(ctx)
                    .map(|s| s.to_bytes().to_vec())
                    .unwrap_or_default(),
            };
            let mut p = b"host=\"".to_vec();
            for c in v {
                if c == b'"' || c == b'\\' {
                    p.push(b'\\');
                }
                p.push(c);
            }
            p.push(b'"');
            parts.push(p);
        }
        if let Some(n) = &self.by {
            parts.push(node(b"by=", n, self.by_port.as_ref(), dst, ctx));
        }
        if let Some(n) = &self.for_ {
            parts.push(node(b"for=", n, self.for_port.as_ref(), src, ctx));
        }
        parts.join(&b";"[..])
    }
}

/// `by=`/`for=` with its node name and optional port, quoted when it must be.
fn node(
    prefix: &[u8],
    name: &Source,
    port: Option<&Source>,
    addr: SocketAddr,
    ctx: &Ctx<'_>,
) -> Vec<u8> {
    let ip_name = |ip: IpAddr| -> (Vec<u8>, bool) {
        match ip {
            IpAddr::V4(v4) => (v4.to_string().into_bytes(), false),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => (v4.to_string().into_bytes(), false),
                None => (format!("[{v6}]").into_bytes(), true),
            },
        }
    };
    let (nodename, v6) = match name {
        Source::Conn => ip_name(addr.ip()),
        Source::Expr(e) => match e.eval(ctx) {
            Some(Sample::Ip(a)) => ip_name(a),
            Some(s) => (
                obfuscated(&s.to_bytes()).unwrap_or_else(|| b"unknown".to_vec()),
                false,
            ),
            None => (b"unknown".to_vec(), false),
        },
    };
    let nodeport = port.and_then(|p| match p {
        Source::Conn => Some(addr.port().to_string().into_bytes()),
        Source::Expr(e) => match e.eval(ctx) {
            Some(Sample::Int(i)) if (0..=65535).contains(&i) => Some(i.to_string().into_bytes()),
            Some(s) => {
                let b = s.to_bytes();
                if b.first() == Some(&b'_') {
                    obfuscated(&b)
                } else {
                    std::str::from_utf8(&b)
                        .ok()
                        .and_then(|t| t.parse::<u16>().ok())
                        .map(|n| n.to_string().into_bytes())
                }
            }
            None => None,
        },
    });
    let quoted = v6 || nodeport.is_some();
    let mut out = prefix.to_vec();
    if quoted {
        out.push(b'"');
    }
    out.extend_from_slice(&nodename);
    if let Some(p) = nodeport {
        out.push(b':');
        out.extend_from_slice(&p);
    }
    if quoted {
        out.push(b'"');
    }
    out
}

/// `option http-restrict-req-hdr-names`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestrictNames {
    #[default]
    Preserve,
    Delete,
    Reject,
}

impl RestrictNames {
    pub fn from_name(s: Option<&str>) -> RestrictNames {
        match s {
            Some("delete") => RestrictNames::Delete,
            Some("reject") => RestrictNames::Reject,
            _ => RestrictNames::Preserve,
        }
    }

    /// Applies the policy to a request head; false when the request must be refused (403).
    pub fn apply(self, head: &mut Head) -> bool {
        let bad = |n: &[u8]| !n.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-');
        match self {
            RestrictNames::Preserve => true,
            RestrictNames::Delete => {
                head.retain(|n, _| !bad(n));
                true
            }
            RestrictNames::Reject => !head.headers().any(|(n, _)| bad(n)),
        }
    }
}

/// `option checkcache`: whether a response must be blocked because a cacheable response
/// carries `Set-Cookie` (manual, "option checkcache"). As HAProxy 2.6 decides it: only
/// for GET and HEAD, a status cacheable by default (any with `Cache-Control: public`), no
/// directive making it uncacheable, and freshness information or a validator (`Expires`,
/// `Last-Modified`, `ETag`, a non-zero `max-age`/`s-maxage`), without which no cache
/// keeps it. `method` is the request's.
pub fn cacheable_cookie(method: &[u8], res: &Head) -> bool {
    res.get(b"set-cookie").is_some() && cacheable(method, res)
}

/// Whether a cache may store the response (HAProxy's `TX_CACHEABLE`), see
/// [`cacheable_cookie`]; `cookie ... nocache` marks such a response private.
pub fn cacheable(method: &[u8], res: &Head) -> bool {
    if !matches!(method, b"GET" | b"HEAD") {
        return false;
    }
    let mut public = false;
    let mut uncacheable = false;
    let mut fresh = res.get(b"expires").is_some()
        || res.get(b"last-modified").is_some()
        || res.get(b"etag").is_some();
    for v in res.get_all(b"cache-control") {
        let text = String::from_utf8_lossy(v).to_ascii_lowercase();
        // `no-cache="set-cookie,..."` holds commas: look at the whole value first.
        if text.contains("no-cache=\"set-cookie\"") || text.contains("no-cache=\"set-cookie,") {
            uncacheable = true;
        }
        for d in text.split(',') {
            let d = d.trim();
            let (name, val) = match d.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (d, None),
            };
            match (name, val) {
                ("public", _) => public = true,
                ("private" | "no-store", _) | ("no-cache", None) => uncacheable = true,
                ("max-age" | "s-maxage", Some("0")) => uncacheable = true,
                ("max-age" | "s-maxage", Some(_)) => fresh = true,
                _ => {}
            }
        }
    }
    if res
        .get_all(b"pragma")
        .any(|v| v.trim_ascii().eq_ignore_ascii_case(b"no-cache"))
    {
        uncacheable = true;
    }
    let cacheable_status = matches!(
        res.status(),
        200 | 203 | 204 | 206 | 300 | 301 | 404 | 405 | 410 | 414 | 501
    );
    !uncacheable && fresh && (public || cacheable_status)
}
