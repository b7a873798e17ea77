//! The sample engine: typed samples, sample expressions (`fetch(args),conv(args),…`)
//! compiled once at load time, and their evaluation against a stream's context. One engine
//! used by ACLs, rules, `balance hdr()`, `use_backend %[…]`, header values and logs.

pub mod args;
pub mod conv;
pub mod conv_bin;
pub mod conv_ext;
pub mod fetch;
pub mod fetch_ssl;
pub mod fetch_stick;
pub mod logfmt;
pub mod map;
pub mod pending;
pub mod vars;

use std::borrow::Cow;
use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};

pub use args::split_call;
pub use conv::Conv;
pub use fetch::{Fetch, FetchKind};

/// A value produced by a fetch or a converter.
#[derive(Debug, Clone, PartialEq)]
pub enum Sample<'a> {
    Bool(bool),
    Int(i64),
    Ip(IpAddr),
    Str(Cow<'a, [u8]>),
    Bin(Cow<'a, [u8]>),
}

impl<'a> Sample<'a> {
    /// The sample as bytes (string form), as HAProxy casts it.
    pub fn to_bytes(&self) -> Cow<'_, [u8]> {
        match self {
            Sample::Str(s) | Sample::Bin(s) => Cow::Borrowed(s.as_ref()),
            Sample::Int(i) => Cow::Owned(i.to_string().into_bytes()),
            Sample::Bool(b) => Cow::Owned(if *b { b"1".to_vec() } else { b"0".to_vec() }),
            Sample::Ip(ip) => Cow::Owned(ip.to_string().into_bytes()),
        }
    }

    /// The sample as binary, as HAProxy casts it for the converters taking binary input
    /// (`hex`, `base64`, the hashes and digests): integers and booleans as 8 bytes
    /// big-endian, addresses as their 4 or 16 bytes.
    pub fn to_bin(&self) -> Cow<'_, [u8]> {
        match self {
            Sample::Str(s) | Sample::Bin(s) => Cow::Borrowed(s.as_ref()),
            Sample::Int(i) => Cow::Owned(i.to_be_bytes().to_vec()),
            Sample::Bool(b) => Cow::Owned((*b as i64).to_be_bytes().to_vec()),
            Sample::Ip(IpAddr::V4(a)) => Cow::Owned(a.octets().to_vec()),
            Sample::Ip(IpAddr::V6(a)) => Cow::Owned(a.octets().to_vec()),
        }
    }

    /// The sample as an integer (strings are parsed as a leading decimal number).
    pub fn to_int(&self) -> Option<i64> {
        match self {
            Sample::Int(i) => Some(*i),
            Sample::Bool(b) => Some(*b as i64),
            Sample::Str(s) | Sample::Bin(s) => parse_leading_int(s),
            Sample::Ip(IpAddr::V4(v4)) => Some(u32::from(*v4) as i64),
            Sample::Ip(_) => None,
        }
    }

    pub fn to_bool(&self) -> bool {
        match self {
            Sample::Bool(b) => *b,
            Sample::Int(i) => *i != 0,
            Sample::Str(s) | Sample::Bin(s) => !s.is_empty(),
            Sample::Ip(_) => true,
        }
    }

    pub fn to_ip(&self) -> Option<IpAddr> {
        match self {
            Sample::Ip(ip) => Some(*ip),
            Sample::Str(s) | Sample::Bin(s) => std::str::from_utf8(s).ok()?.trim().parse().ok(),
            Sample::Int(i) => u32::try_from(*i).ok().map(|v| IpAddr::V4(v.into())),
            Sample::Bool(_) => None,
        }
    }

    /// Detaches the sample from the data it borrows.
    pub fn into_owned(self) -> Sample<'static> {
        match self {
            Sample::Bool(b) => Sample::Bool(b),
            Sample::Int(i) => Sample::Int(i),
            Sample::Ip(ip) => Sample::Ip(ip),
            Sample::Str(s) => Sample::Str(Cow::Owned(s.into_owned())),
            Sample::Bin(s) => Sample::Bin(Cow::Owned(s.into_owned())),
        }
    }

    pub fn str(s: &'a [u8]) -> Sample<'a> {
        Sample::Str(Cow::Borrowed(s))
    }
}

/// Parses an optional sign and leading digits, as HAProxy's string-to-integer cast.
pub fn parse_leading_int(s: &[u8]) -> Option<i64> {
    let mut i = 0;
    let neg = match s.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let start = i;
    let mut v: i64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        v = v.checked_mul(10)?.checked_add((s[i] - b'0') as i64)?;
        i += 1;
    }
    if i == start {
        return None;
    }
    Some(if neg { -v } else { v })
}

/// Everything a fetch may look at: the connection, the HTTP messages, the proxies.
/// Built by the stream for each evaluation point; fields not available at that point
/// are `None` (a fetch then finds nothing, as HAProxy's "not available here").
#[derive(Clone)]
pub struct Ctx<'a> {
    pub rt: Option<&'a crate::compile::Runtime>,
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    /// Index in `rt.proxies` of the frontend and the backend (once chosen).
    pub frontend: Option<usize>,
    pub backend: Option<usize>,
    pub server: Option<&'a crate::server::Server>,
    /// Id of the listener (`so_id`).
    pub listener_id: u32,
    /// Bytes received from the client not yet forwarded (content inspection).
    pub req_payload: &'a [u8],
    /// Bytes received from the server not yet forwarded.
    pub res_payload: &'a [u8],
    /// Whether the request buffer will not grow any more (inspect-delay expired, full).
    pub req_final: bool,
    /// The rule evaluating runs on the response (`payload` then reads `res_payload`, and
    /// `req_final` tells whether that buffer will grow).
    pub res_dir: bool,
    /// The HTTP request and response heads, once parsed.
    pub req: Option<&'a crate::http::h1::Head>,
    pub res: Option<&'a crate::http::h1::Head>,
    /// Whether this is the first request of the client connection.
    pub first_req: bool,
    /// The stream's variables (`var()`, written by the `set-var` converter); `proc.`
    /// variables are reachable without them.
    pub vars: Option<&'a vars::Vars>,
    /// The frontend's capture slots (`capture.req.hdr`, `capture.res.hdr`, written by the
    /// `capture-req` and `capture-res` converters).
    pub req_caps: Option<&'a CaptureSlots>,
    pub res_caps: Option<&'a CaptureSlots>,
    /// The request line as received and the response version (`capture.req.method`…).
    pub received: Option<&'a Received>,
    /// The stick counters the session and the stream track (`sc0_*`…).
    pub tracked: Option<&'a crate::stick::track::Tracked>,
    /// What the client connection's TLS handshake negotiated (`ssl_fc_*`, `ssl_c_*`).
    pub tls: Option<&'a crate::tls::TlsInfo>,
    /// What the connection to the server negotiated (`ssl_bc_*`, `ssl_s_*`).
    pub bc_tls: Option<&'a crate::tls::TlsInfo>,
    /// The transaction's unique id (`unique-id-format`, the `unique-id` fetch).
    pub unique_id: Option<&'a [u8]>,
    /// The log line being written (`txn.timer.*`, `bytes_in`, `txn.status`… are read
    /// from it): set while a log format renders, None elsewhere.
    pub log: Option<&'a crate::log::record::LogRecord<'a>>,
}

/// The capture slots of one direction for one transaction: `capture request header`,
/// `declare capture` and `http-request capture` fill them, so do the `capture-req` and
/// `capture-res` converters while an expression is evaluated. They belong to one stream,
/// so they are written through a shared reference with a `RefCell`, never a lock.
#[derive(Debug, Default)]
pub struct CaptureSlots(RefCell<Vec<Option<Vec<u8>>>>);

impl CaptureSlots {
    /// A copy of slot `i`, if it holds something.
    pub fn get(&self, i: usize) -> Option<Vec<u8>> {
        self.0.borrow().get(i)?.clone()
    }

    /// Stores at most `len` bytes of `v` in slot `i`.
    pub fn put(&self, i: usize, v: &[u8], len: usize) {
        let mut slots = self.0.borrow_mut();
        if slots.len() <= i {
            slots.resize(i + 1, None);
        }
        slots[i] = Some(v[..v.len().min(len)].to_vec());
    }

    /// Empties every slot (a new transaction).
    pub fn clear(&self) {
        self.0.borrow_mut().clear();
    }

    /// Every slot, in order.
    pub fn to_vec(&self) -> Vec<Option<Vec<u8>>> {
        self.0.borrow().clone()
    }
}

/// What a transaction keeps of its messages as they were received, before any rule
/// rewrote them: the request's method, target and version, the response's version.
#[derive(Debug, Default)]
pub struct Received {
    /// The method followed by the request target.
    line: Vec<u8>,
    method_len: usize,
    req_ver: Option<crate::http::h1::Version>,
    res_ver: Option<crate::http::h1::Version>,
}

impl Received {
    /// Forgets the previous transaction (the buffer is kept for the next one).
    pub fn clear(&mut self) {
        self.line.clear();
        self.method_len = 0;
        self.req_ver = None;
        self.res_ver = None;
    }

    /// Keeps the request line of `head`, as parsed.
    pub fn request(&mut self, head: &crate::http::h1::Head) {
        self.line.clear();
        self.line.extend_from_slice(head.method());
        self.method_len = self.line.len();
        self.line.extend_from_slice(head.uri());
        self.req_ver = Some(head.version());
    }

    /// Keeps the version of the response head.
    pub fn response(&mut self, head: &crate::http::h1::Head) {
        self.res_ver = Some(head.version());
    }

    pub fn method(&self) -> Option<&[u8]> {
        self.req_ver?;
        Some(&self.line[..self.method_len])
    }

    pub fn uri(&self) -> Option<&[u8]> {
        self.req_ver?;
        Some(&self.line[self.method_len..])
    }

    pub fn req_version(&self) -> Option<crate::http::h1::Version> {
        self.req_ver
    }

    pub fn res_version(&self) -> Option<crate::http::h1::Version> {
        self.res_ver
    }
}

impl<'a> Ctx<'a> {
    /// A context with nothing in it (for tests and constant expressions).
    pub fn empty() -> Ctx<'static> {
        Ctx {
            rt: None,
            src: None,
            dst: None,
            frontend: None,
            backend: None,
            server: None,
            listener_id: 0,
            req_payload: &[],
            res_payload: &[],
            req_final: true,
            res_dir: false,
            req: None,
            res: None,
            first_req: true,
            vars: None,
            req_caps: None,
            res_caps: None,
            received: None,
            tracked: None,
            tls: None,
            bc_tls: None,
            unique_id: None,
            log: None,
        }
    }
}

/// The type of what an expression produces, which decides an ACL's default match method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Bool,
    Int,
    Ip,
    Str,
    Bin,
}

/// A compiled sample expression: one fetch followed by converters.
#[derive(Debug, Clone)]
pub struct Expr {
    pub fetch: Fetch,
    pub convs: Vec<Conv>,
}

/// What the compiler needs to resolve names in expressions (proxies, maps, variables).
pub trait Resolver {
    /// Index of a backend-capable proxy by name.
    fn backend(&self, name: &str) -> Option<usize>;
    /// Index of a frontend-capable proxy by name.
    fn frontend(&self, name: &str) -> Option<usize>;
    /// Index of the proxy being compiled (default for `be_conn` and friends).
    fn current(&self) -> Option<usize>;
    /// The configuration's pattern files and map files, for the `map*` converters (none:
    /// they are refused).
    fn registry(&self) -> Option<&crate::pattern::Registry> {
        None
    }
    /// The configuration file and line being compiled, for `show map` descriptions
    /// ("used by map at file 'haproxy.cfg' line 12").
    fn origin(&self) -> (String, usize) {
        (String::new(), 0)
    }
    /// The `userlist` called `name`, for `http_auth()` and `http_auth_group()`.
    fn userlist(&self, _name: &str) -> Option<std::sync::Arc<crate::auth::Userlist>> {
        None
    }
    /// The stick table of the proxy called `name`, or of the current proxy (`None`).
    fn table(&self, _name: Option<&str>) -> Option<std::sync::Arc<crate::stick::Table>> {
        None
    }
    /// `tune.stick-counters`: how many `track-sc` counters a stream has.
    fn stick_counters(&self) -> usize {
        crate::stick::track::DEFAULT_SLOTS
    }
}

/// A resolver with a more precise origin: an ACL line or a rule inside a proxy whose
/// resolver only knows the proxy.
pub struct Located<'a> {
    pub inner: &'a dyn Resolver,
    pub registry: Option<&'a crate::pattern::Registry>,
    pub file: &'a str,
    pub line: usize,
}

impl<'a> Located<'a> {
    /// `inner` (and its registry) at `file:line`.
    pub fn new(inner: &'a dyn Resolver, file: &'a str, line: usize) -> Located<'a> {
        Located {
            inner,
            registry: inner.registry(),
            file,
            line,
        }
    }
}

impl Resolver for Located<'_> {
    fn backend(&self, name: &str) -> Option<usize> {
        self.inner.backend(name)
    }
    fn frontend(&self, name: &str) -> Option<usize> {
        self.inner.frontend(name)
    }
    fn current(&self) -> Option<usize> {
        self.inner.current()
    }
    fn registry(&self) -> Option<&crate::pattern::Registry> {
        self.registry.or_else(|| self.inner.registry())
    }
    fn origin(&self) -> (String, usize) {
        (self.file.to_string(), self.line)
    }
    fn userlist(&self, name: &str) -> Option<std::sync::Arc<crate::auth::Userlist>> {
        self.inner.userlist(name)
    }
    fn table(&self, name: Option<&str>) -> Option<std::sync::Arc<crate::stick::Table>> {
        self.inner.table(name)
    }
    fn stick_counters(&self) -> usize {
        self.inner.stick_counters()
    }
}

impl Expr {
    /// Parses `fetch[(args)][,conv[(args)]]…`.
    pub fn parse(text: &str, res: &dyn Resolver) -> Result<Expr, String> {
        let parts = args::split_top_level(text, ',')?;
        let mut it = parts.into_iter();
        let first = it
            .next()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| "missing fetch method".to_string())?;
        let (name, fargs) = split_call(&first)?;
        let fetch = Fetch::compile(&name, fargs, res)?;
        let mut convs = Vec::new();
        for c in it {
            let (cname, cargs) = split_call(&c)?;
            convs.push(Conv::compile_in(&cname, cargs, res)?);
        }
        Ok(Expr { fetch, convs })
    }

    /// What the expression produces.
    pub fn output_kind(&self) -> OutputKind {
        let mut k = self.fetch.output_kind();
        for c in &self.convs {
            if let Some(o) = c.output_kind() {
                k = o;
            }
        }
        k
    }

    /// Evaluates to one sample (the last occurrence for multi-valued fetches), or None
    /// when the fetch found nothing or a converter failed.
    pub fn eval<'c>(&'c self, ctx: &'c Ctx<'c>) -> Option<Sample<'c>> {
        let s = self.fetch.eval(ctx)?;
        self.apply(s, ctx)
    }

    /// Applies the converters to one sample.
    pub fn apply<'c>(&'c self, mut s: Sample<'c>, ctx: &Ctx<'_>) -> Option<Sample<'c>> {
        for c in &self.convs {
            s = c.apply(s, ctx)?;
        }
        Some(s)
    }

    /// Calls `f` on every value of the fetch (each occurrence of a header…), after the
    /// converters, until `f` returns true; returns whether one did. This is how ACLs match
    /// multi-valued fetches.
    pub fn any<'c>(&'c self, ctx: &'c Ctx<'c>, f: &mut dyn FnMut(&Sample<'_>) -> bool) -> bool {
        let mut hit = false;
        self.fetch.each(ctx, &mut |s| {
            if let Some(v) = self.apply(s, ctx)
                && f(&v)
            {
                hit = true;
                return true;
            }
            false
        });
        hit
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub struct NoNames;
    impl Resolver for NoNames {
        fn backend(&self, _: &str) -> Option<usize> {
            None
        }
        fn frontend(&self, _: &str) -> Option<usize> {
            None
        }
        fn current(&self) -> Option<usize> {
            None
        }
    }

    #[test]
    fn constants_and_converters() {
        let ctx = Ctx::empty();
        let e = Expr::parse("str(Hello),lower", &NoNames).unwrap();
        assert_eq!(
            e.eval(&ctx),
            Some(Sample::Str(Cow::Owned(b"hello".to_vec())))
        );
        let e = Expr::parse("int(40),add(2)", &NoNames).unwrap();
        assert_eq!(e.eval(&ctx), Some(Sample::Int(42)));
        assert!(Expr::parse("nosuchfetch", &NoNames).is_err());
        assert!(Expr::parse("str(a),nosuchconv", &NoNames).is_err());
    }

    #[test]
    fn casts() {
        assert_eq!(parse_leading_int(b"-12abc"), Some(-12));
        assert_eq!(parse_leading_int(b"x"), None);
        assert_eq!(Sample::Int(7).to_bytes().as_ref(), b"7");
        // HAProxy 2.6: int(12),hex gives 000000000000000C, ipv4(1.2.3.4),hex 01020304.
        assert_eq!(
            Sample::Int(12).to_bin().as_ref(),
            &[0, 0, 0, 0, 0, 0, 0, 12]
        );
        assert_eq!(
            Sample::Bool(true).to_bin().as_ref(),
            &[0, 0, 0, 0, 0, 0, 0, 1]
        );
        assert_eq!(
            Sample::Ip("1.2.3.4".parse().unwrap()).to_bin().as_ref(),
            &[1, 2, 3, 4]
        );
        assert_eq!(
            Sample::str(b"10.0.0.1").to_ip(),
            Some("10.0.0.1".parse().unwrap())
        );
    }
}
