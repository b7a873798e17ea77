//! HTTP rules of a proxy, compiled from the model and evaluated in HAProxy's order:
//! `monitor-uri`/`monitor fail`, `http-request` (with 1.x `block` first), the 1.x `req*`
//! header rules, `reqadd`, the `redirect` keyword; on responses `http-response`, `rsp*`,
//! `rspadd`. Actions are those of manual 4.4 that halo has (see `keywords::HTTP_ACTIONS`).

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use halo_config::Diags;
use halo_config::model::{Proxy, Rule};
use regex::bytes::{Captures, Regex};

use crate::acl::{AclCtx, AclSet, Cond};
use crate::http::errors::default_page;
use crate::http::h1::{Head, Version};
use crate::pattern::{EntryRef, PatternRef, Registry};
use crate::sample::logfmt::LogFormat;
use crate::sample::vars::{self, SetCond, VarName, Vars};
use crate::sample::{CaptureSlots, Ctx, Expr, Received, Resolver, Sample};

// ------------------------------------------------------------------ answers

/// A response produced by the proxy itself (deny, return, redirect, monitor...): the
/// status line and header lines (each ending with CRLF, without the empty line), and the
/// body. The stream adds `connection:` as the client connection requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub head: Vec<u8>,
    pub body: Vec<u8>,
}

impl Answer {
    /// HAProxy's default page for `status` (the 500 one for codes without a page).
    pub fn page(status: u16) -> Answer {
        let raw = default_page(status);
        let (head, body) = match raw.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(i) => (&raw[..i + 2], &raw[i + 4..]),
            None => (raw, &b""[..]),
        };
        let st = raw
            .get(9..12)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| d.parse().ok())
            .unwrap_or(status);
        Answer {
            status: st,
            head: head.to_vec(),
            body: body.to_vec(),
        }
    }

    /// Whether the answer ends the connection: it says `connection: close` (HAProxy's 400
    /// and 408 pages), its body has no length (an `errorfile` without `Content-Length`),
    /// or it is empty (an empty `errorfile`: nothing is sent).
    pub fn closes(&self) -> bool {
        if self.head.is_empty() {
            return true;
        }
        let mut lines = self.head.split(|&c| c == b'\n');
        lines.next();
        let mut length = false;
        for l in lines {
            if l.eq_ignore_ascii_case(b"connection: close\r") {
                return true;
            }
            length |= l.len() > 15 && l[..15].eq_ignore_ascii_case(b"content-length:");
        }
        !length && !matches!(self.status, 100..=199 | 204 | 304)
    }

    /// The bytes to send: head, `connection: close` or `connection: keep-alive` when asked,
    /// the empty line, and the body unless the request was a HEAD. As HAProxy's HTTP/1
    /// sender, an HTTP/1.0 answer (an `errorfile` may be one) says `keep-alive` when the
    /// connection stays and nothing when it closes. An empty answer writes nothing.
    pub fn write(&self, out: &mut Vec<u8>, connection: Option<&str>, with_body: bool) {
        if self.head.is_empty() {
            return;
        }
        out.extend_from_slice(&self.head);
        let closes = self.closes();
        let field = if !self.head.starts_with(b"HTTP/1.0 ") {
            connection.filter(|_| !closes)
        } else if connection != Some("close") && !closes {
            Some("keep-alive")
        } else {
            None
        };
        if let Some(c) = field {
            out.extend_from_slice(b"connection: ");
            out.extend_from_slice(c.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if with_body {
            out.extend_from_slice(&self.body);
        }
    }
}

/// The codes HAProxy has a page for (`default-errorfiles`, `errorfiles`, `errorfile`).
fn has_page(code: u16) -> bool {
    halo_config::errorfile::is_error_code(code)
}

// ------------------------------------------------------------------ compiled rules

/// Where the body of a `return`/`deny` answer comes from.
#[derive(Debug, Clone)]
enum Body {
    Static(Vec<u8>),
    Fmt(LogFormat),
}

#[derive(Debug, Clone)]
enum ReplyKind {
    /// The proxies' page for the status, or HAProxy's (`default-errorfiles`, `deny`).
    Page,
    /// A whole response read from a file (`errorfile`, `errorfiles`): head lines and body.
    Raw { head: Vec<u8>, body: Vec<u8> },
    /// Status line, `hdr` fields, `content-length: 0`.
    Empty,
    /// Status line, `hdr` fields, the payload with its length and type.
    Payload {
        content_type: Option<Vec<u8>>,
        body: Body,
    },
}

/// A compiled `deny`/`tarpit`/`return` answer, or an `http-error` page.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    kind: ReplyKind,
    hdrs: Vec<(Vec<u8>, LogFormat)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RedirKind {
    Location,
    Prefix,
    Scheme,
}

#[derive(Debug, Clone)]
enum CookieOp {
    Set(LogFormat),
    Clear(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Redirect {
    kind: RedirKind,
    target: LogFormat,
    code: u16,
    drop_query: bool,
    append_slash: bool,
    ignore_empty: bool,
    keep_query: bool,
    cookie: Option<CookieOp>,
}

/// How `del-header -m` compares names.
#[derive(Debug, Clone)]
enum NameMatch {
    Str(Vec<u8>),
    Beg(Vec<u8>),
    End(Vec<u8>),
    Sub(Vec<u8>),
    Reg(Regex),
}

impl NameMatch {
    fn matches(&self, name: &[u8]) -> bool {
        let lower = name.to_ascii_lowercase();
        match self {
            NameMatch::Str(n) => lower == *n,
            NameMatch::Beg(n) => lower.starts_with(n),
            NameMatch::End(n) => lower.ends_with(n),
            NameMatch::Sub(n) => n.is_empty() || lower.windows(n.len()).any(|w| w == n),
            // HAProxy sees header names in lower case.
            NameMatch::Reg(r) => r.is_match(&lower),
        }
    }
}

/// The part of the URI a `set-*`/`replace-*` action rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UriPart {
    Path,
    Pathq,
    Uri,
    Query,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Normalizer {
    FragmentEncode,
    FragmentStrip,
    PathMergeSlashes,
    PathStripDot,
    PathStripDotdot { full: bool },
    PercentDecodeUnreserved { strict: bool },
    PercentToUppercase { strict: bool },
    QuerySortByName,
}

/// What a `set-map`/`del-map`/`add-acl`/`del-acl` action does to its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListOp {
    SetMap,
    DelMap,
    AddAcl,
    DelAcl,
}

/// A `set-map(FILE)`-style action: edits the same list the runtime API's `add map`, `del
/// map`, `add acl`, `del acl` edit. The list is found by name on first use (a name no map
/// or ACL loaded makes the action do nothing, as in HAProxy).
#[derive(Debug, Clone)]
struct ListEdit {
    op: ListOp,
    file: String,
    key: LogFormat,
    value: Option<LogFormat>,
    target: OnceLock<Option<Arc<PatternRef>>>,
}

#[derive(Debug, Clone)]
enum Action {
    Allow,
    /// `use-service prometheus-exporter`: the metrics page answers the request.
    Prometheus,
    EditList(Box<ListEdit>),
    /// `early-hint NAME FMT`: a field of the `103 Early Hints` response sent before the
    /// final one.
    EarlyHint {
        name: Vec<u8>,
        value: LogFormat,
    },
    /// `wait-for-body time T [at-least N]` (ms, bytes; 0: the whole body).
    WaitForBody {
        ms: u64,
        at_least: u64,
    },
    Deny(Reply),
    Tarpit(Reply),
    Return(Reply),
    Reject,
    Redirect(Box<Redirect>),
    SetHeader {
        name: Vec<u8>,
        value: LogFormat,
        add: bool,
    },
    DelHeader(NameMatch),
    ReplaceHeader {
        name: Vec<u8>,
        re: Regex,
        repl: LogFormat,
        per_value: bool,
    },
    SetUri(UriPart, LogFormat),
    ReplaceUri(UriPart, Regex, LogFormat),
    SetMethod(LogFormat),
    SetStatus(u16, Option<Vec<u8>>),
    SetVar(VarName, Vec<SetCond>, Box<Expr>),
    SetVarFmt(VarName, Vec<SetCond>, LogFormat),
    UnsetVar(VarName),
    /// `capture ... len N` declares a slot of the proxy; `capture ... id N` uses a slot of
    /// the stream's frontend (`len: None`), and does nothing when it has no such slot.
    Capture {
        expr: Box<Expr>,
        len: Option<usize>,
        slot: usize,
    },
    Normalize(Normalizer),
    /// `strict-mode on|off`: halo's rewrites cannot fail, so it changes nothing.
    StrictMode,
    /// `wait-for-handshake`: halo accepts no TLS early data, so a request is only read
    /// once the handshake is complete; there is nothing to wait for.
    WaitForHandshake,
    /// `disable-l7-retry`: only a connection failure sends the request again.
    DisableL7Retry,
    /// `set-priority-class` (true) / `set-priority-offset` (false): the request's place in
    /// server queues.
    SetPriority(bool, Box<Expr>),
    /// `set-retries <int>|<expr>`: the stream's connection retries (0..=100).
    SetRetries(Result<u32, Box<Expr>>),
    /// `set-timeout <which> <timeout>|<expr>` (milliseconds).
    SetTimeout(TimeoutKind, Result<u64, Box<Expr>>),
    /// `set-log-level <level>|silent`: the level of the transaction's log lines.
    SetLogLevel(u8),
    /// `do-log [profile <name>]`: a log line now (sent once the rule set has run).
    DoLog(crate::log::record::Origin, Option<Arc<str>>),
    /// `auth [realm <realm>]`: the 401 (407 in proxy form) challenge; no realm given
    /// means the proxy's name.
    Auth(Option<Vec<u8>>),
    /// `track-scN <key> [table <table>]`.
    Track {
        slot: usize,
        key: Box<Expr>,
        table: crate::stick::track::TableRef,
    },
    /// `sc-inc-gpc0(N)` / `sc-inc-gpc1(N)` / `sc-inc-gpc(I,N)`: the counter (element `idx`
    /// of an array) and its rate.
    ScIncGpc {
        slot: usize,
        idx: usize,
        gpc: crate::stick::DataType,
        rate: crate::stick::DataType,
    },
    /// `sc-add-gpc(I,N) <int>|<expr>`: adds to `gpc[I]` and its rate.
    ScAddGpc {
        slot: usize,
        idx: usize,
        value: Result<i64, Box<Expr>>,
    },
    /// `sc-set-gpt0(N) <int>|<expr>` (`gpt` `Gpt0`) / `sc-set-gpt(I,N) …` (`Gpt`, element `idx`).
    ScSetGpt {
        slot: usize,
        idx: usize,
        gpt: crate::stick::DataType,
        value: Result<i64, Box<Expr>>,
    },
}

/// `sc-inc-gpc(<idx>,<sc-id>)` and friends: the element's index and the stick counter,
/// with HAProxy's messages (`what` is `gpc` or `gpt`).
pub(crate) fn sc_idx_id(
    word: &str,
    name: &str,
    what: &str,
    max: usize,
) -> Result<(usize, usize), String> {
    let usage = format!("Expects {name}(<{} ID>,<Track ID>)", what.to_uppercase());
    let Some(inner) = paren_arg(word) else {
        return Err(format!("invalid {what} ID '{word}'. {usage}"));
    };
    let Some((i, n)) = inner.split_once(',') else {
        return Err(format!("Missing {what} ID '{word}'. {usage}"));
    };
    let idx = i
        .trim()
        .parse::<usize>()
        .map_err(|_| format!("Missing {what} ID '{word}'. {usage}"))?;
    let slot = n
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|&n| n < max)
        .ok_or_else(|| {
            format!(
                "invalid stick table track ID '{word}'. The max allowed ID is {}",
                max as i64 - 1
            )
        })?;
    Ok((idx, slot))
}

#[derive(Debug)]
struct HttpRule {
    action: Action,
    cond: Option<Cond>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegacyKind {
    Replace,
    Delete,
    Deny,
    Allow,
    Tarpit,
    Pass,
}

/// A 1.x `req*`/`rsp*` rule: a regex applied to the start line and to each whole header
/// line `Name: value`.
#[derive(Debug)]
struct LegacyRule {
    kind: LegacyKind,
    re: Regex,
    repl: Vec<u8>,
    cond: Option<Cond>,
}

/// A 1.x `reqadd`/`rspadd` line.
#[derive(Debug)]
struct AddRule {
    name: Vec<u8>,
    value: Vec<u8>,
    cond: Option<Cond>,
}

/// Every HTTP rule of one proxy.
#[derive(Debug, Default)]
pub struct ProxyRules {
    req: Vec<HttpRule>,
    req_legacy: Vec<LegacyRule>,
    req_add: Vec<AddRule>,
    redirects: Vec<HttpRule>,
    res: Vec<HttpRule>,
    res_legacy: Vec<LegacyRule>,
    res_add: Vec<AddRule>,
    /// `http-after-response` rules.
    after: Vec<HttpRule>,
    monitor_uri: Option<Vec<u8>>,
    monitor_fail: Vec<Cond>,
    /// `stats http-request` rules, and the conditions of `stats admin`.
    stats_req: Vec<HttpRule>,
    stats_admin: Vec<Cond>,
    /// `timeout tarpit`, or `timeout connect` for proxies with a backend side (ms).
    tarpit_ms: u64,
    /// The realm of `auth` rules that name none: the proxy's name.
    auth_realm: Vec<u8>,
    /// Capture slots of the frontend, in the order of their declaration (`capture request
    /// header`, `declare capture`, `http-request capture ... len N`): their lengths.
    pub req_capture_lens: Vec<usize>,
    pub res_capture_lens: Vec<usize>,
    /// `capture request|response header NAME len N`: (lower-case name, slot).
    req_header_captures: Vec<(Vec<u8>, usize)>,
    res_header_captures: Vec<(Vec<u8>, usize)>,
    /// `capture cookie NAME len N`.
    cookie_capture: Option<(Vec<u8>, usize)>,
    /// Whether a rule tracks stick counters (`track-scN`).
    pub tracks: bool,
}

/// What compiling a proxy's rules needs from the compiler.
pub struct CompileCx<'a> {
    pub registry: &'a Registry,
    pub resolver: &'a dyn Resolver,
    /// `http-errors` sections (`errorfiles NAME`).
    pub http_errors: &'a [halo_config::model::HttpErrors],
    /// `tune.bufsize`: the largest `errorfile`.
    pub bufsize: usize,
    /// `tune.http.cookielen`: the longest `capture cookie`.
    pub cookielen: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Req,
    Res,
}

fn words_after(args: &[String], from: usize) -> &[String] {
    args.get(from..).unwrap_or_default()
}

fn lf(text: &str, cx: &CompileCx<'_>) -> Result<LogFormat, String> {
    LogFormat::parse(text, cx.resolver)
}

fn regex(pattern: &str, icase: bool) -> Result<Regex, String> {
    crate::pattern::compile_regex(pattern, icase)
}

fn status_arg(v: Option<&String>, what: &str) -> Result<u16, String> {
    let v = v.ok_or_else(|| format!("'{what}' expects a status code"))?;
    v.parse::<u16>()
        .map_err(|_| format!("'{what}' expects a status code, not '{v}'"))
}

fn read_file(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read file '{path}': {e}"))
}

/// Parses the arguments of `deny`, `tarpit` and `return` (manual 4.4, "return").
fn parse_reply(
    action: &str,
    args: &[String],
    dir: Dir,
    cx: &CompileCx<'_>,
) -> Result<Reply, String> {
    let default_status = match (action, dir) {
        ("deny", Dir::Req) => 403,
        ("deny", Dir::Res) => 502,
        ("tarpit", _) => 500,
        _ => 200,
    };
    let mut status = None;
    let mut only_deny_status = true;
    let mut content_type: Option<Vec<u8>> = None;
    let mut source: Option<(&str, &str)> = None;
    let mut default_errorfiles = false;
    let mut hdrs = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let w = args[i].as_str();
        match w {
            "status" | "deny_status" => {
                if w == "deny_status" && action == "return" {
                    return Err("'deny_status' is not an argument of 'return'; use 'status'".into());
                }
                status = Some(status_arg(args.get(i + 1), w)?);
                if w == "status" {
                    only_deny_status = false;
                }
                i += 2;
                continue;
            }
            _ => only_deny_status = false,
        }
        match w {
            "content-type" => {
                let v = args.get(i + 1).ok_or("'content-type' expects a type")?;
                content_type = Some(v.as_bytes().to_vec());
                i += 2;
            }
            "default-errorfiles" => {
                default_errorfiles = true;
                i += 1;
            }
            "errorfile" | "file" | "lf-file" | "string" | "lf-string" | "errorfiles" => {
                if source.is_some() || default_errorfiles {
                    return Err(format!(
                        "'{w}' : only one of 'default-errorfiles', 'errorfile', 'errorfiles', 'file', 'lf-file', 'string' and 'lf-string' may be used"
                    ));
                }
                let v = args.get(i + 1).filter(|v| !v.is_empty()).ok_or_else(|| {
                    format!(
                        "'{w}' expects <{}> as argument",
                        if w.contains("file") { "file" } else { "str" }
                    )
                })?;
                source = Some((w, v.as_str()));
                i += 2;
            }
            "hdr" => {
                let (Some(n), Some(v)) = (args.get(i + 1), args.get(i + 2)) else {
                    return Err("'hdr' expects <name> and <fmt> as arguments".into());
                };
                // HAProxy sets these itself and ignores them here.
                let own = ["content-length", "transfer-encoding", "content-type"]
                    .iter()
                    .any(|h| n.eq_ignore_ascii_case(h));
                if !own {
                    hdrs.push((n.as_bytes().to_vec(), lf(v, cx)?));
                }
                i += 3;
            }
            other => {
                return Err(format!(
                    "unexpected argument '{other}'; expected 'status', 'content-type', 'default-errorfiles', 'errorfile', 'file', 'lf-file', 'string', 'lf-string' or 'hdr'"
                ));
            }
        }
    }
    let implied_page = action != "return" && (args.is_empty() || only_deny_status);
    let status = status.unwrap_or(default_status);
    if !(200..=599).contains(&status) {
        return Err(format!(
            "status code '{status}' is out of range (200 to 599)"
        ));
    }
    let kind = if default_errorfiles || implied_page {
        if !has_page(status) {
            return Err(format!(
                "status code '{status}' not handled by default with 'default-errorfiles' argument"
            ));
        }
        ReplyKind::Page
    } else {
        match source {
            None => ReplyKind::Empty,
            Some(("errorfiles", name)) => {
                if !has_page(status) {
                    return Err(format!(
                        "status code '{status}' not handled by default with 'errorfiles' argument"
                    ));
                }
                // An unknown section was reported by the checker; a code the section has
                // no page for gets an empty answer, as in HAProxy.
                match cx
                    .http_errors
                    .iter()
                    .find(|h| h.name == name)
                    .and_then(|h| h.page(status))
                {
                    Some(p) => ReplyKind::Raw {
                        head: p.head.clone(),
                        body: p.body.clone(),
                    },
                    None => ReplyKind::Empty,
                }
            }
            Some(("errorfile", path)) => {
                let p = halo_config::errorfile::load(path, cx.bufsize)?;
                ReplyKind::Raw {
                    head: p.head.clone(),
                    body: p.body.clone(),
                }
            }
            Some((kind, v)) => {
                let body = match kind {
                    "file" => Body::Static(read_file(v)?),
                    "lf-file" => {
                        let text = read_file(v)?;
                        Body::Fmt(lf(&String::from_utf8_lossy(&text), cx)?)
                    }
                    "string" => Body::Static(v.as_bytes().to_vec()),
                    _ => Body::Fmt(lf(v, cx)?),
                };
                let empty_file =
                    matches!(&body, Body::Static(b) if b.is_empty()) && kind.ends_with("file");
                if content_type.is_none() && !empty_file {
                    return Err(format!("a 'content-type' must be given with '{kind}'"));
                }
                ReplyKind::Payload {
                    content_type: if empty_file { None } else { content_type },
                    body,
                }
            }
        }
    };
    Ok(Reply { status, kind, hdrs })
}

fn parse_redirect(
    args: &[String],
    log_format: bool,
    dir: Dir,
    cx: &CompileCx<'_>,
) -> Result<Redirect, String> {
    let mut r = Redirect {
        kind: RedirKind::Location,
        target: LogFormat::default(),
        code: 302,
        drop_query: false,
        append_slash: false,
        ignore_empty: false,
        keep_query: false,
        cookie: None,
    };
    let mut have_target = false;
    let fmt = |s: &str| -> Result<LogFormat, String> {
        if log_format {
            lf(s, cx)
        } else {
            Ok(LogFormat::literal(s.as_bytes()))
        }
    };
    let mut i = 0;
    while i < args.len() {
        let w = args[i].as_str();
        let val = args.get(i + 1);
        match w {
            "location" | "prefix" | "scheme" => {
                let v = val.ok_or_else(|| format!("'redirect {w}' expects an argument"))?;
                r.kind = match w {
                    "location" => RedirKind::Location,
                    "prefix" => RedirKind::Prefix,
                    _ => RedirKind::Scheme,
                };
                r.target = fmt(v)?;
                have_target = true;
                i += 2;
            }
            "code" => {
                let c = status_arg(val, "code")?;
                if !matches!(c, 301 | 302 | 303 | 307 | 308) {
                    return Err(format!(
                        "'code' : unsupported HTTP code '{c}' (only 301, 302, 303, 307 and 308 are)"
                    ));
                }
                r.code = c;
                i += 2;
            }
            "drop-query" => {
                r.drop_query = true;
                i += 1;
            }
            "append-slash" => {
                r.append_slash = true;
                i += 1;
            }
            "ignore-empty" => {
                r.ignore_empty = true;
                i += 1;
            }
            "keep-query" => {
                r.keep_query = true;
                i += 1;
            }
            "set-cookie" | "set-cookie-fmt" => {
                let v = val.ok_or_else(|| format!("'{w}' expects an argument"))?;
                r.cookie = Some(CookieOp::Set(if w == "set-cookie" {
                    LogFormat::literal(v.as_bytes())
                } else {
                    lf(v, cx)?
                }));
                i += 2;
            }
            "clear-cookie" => {
                let v = val.ok_or("'clear-cookie' expects a cookie name")?;
                r.cookie = Some(CookieOp::Clear(v.as_bytes().to_vec()));
                i += 2;
            }
            other => {
                return Err(format!(
                    "unexpected argument '{other}'; expected 'location', 'prefix', 'scheme', 'code', 'drop-query', 'append-slash', 'ignore-empty', 'keep-query', 'set-cookie', 'set-cookie-fmt' or 'clear-cookie'"
                ));
            }
        }
    }
    if !have_target {
        return Err("expects 'location', 'prefix' or 'scheme' followed by an argument".into());
    }
    if dir == Dir::Res && r.kind != RedirKind::Location {
        return Err("only 'location' redirects are possible on responses".into());
    }
    Ok(r)
}

fn exact(args: &[String], n: usize, usage: &str) -> Result<(), String> {
    if args.len() != n {
        return Err(format!("expects exactly {n} argument(s): {usage}"));
    }
    Ok(())
}

/// The stick counter of `sc-inc-gpc0(N)` and friends (0 when not given).
pub(crate) fn sc_id(word: &str, name: &str, max: usize) -> Result<usize, String> {
    let Some(inner) = paren_arg(word) else {
        return if word == name {
            Ok(0)
        } else {
            Err(format!("invalid stick counter in '{word}'"))
        };
    };
    inner
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|&n| n < max)
        .ok_or_else(|| {
            format!(
                "invalid stick table track ID '{inner}'. The max allowed ID is {}",
                max as i64 - 1
            )
        })
}

/// The argument between the parentheses of `set-var(...)`.
fn paren_arg(word: &str) -> Option<&str> {
    let open = word.find('(')?;
    word[open + 1..].strip_suffix(')')
}

/// The timeout a `set-timeout` rule changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    Client,
    Connect,
    Queue,
    Server,
    Tarpit,
    Tunnel,
}

impl TimeoutKind {
    fn parse(word: &str) -> Option<TimeoutKind> {
        Some(match word {
            "client" => TimeoutKind::Client,
            "connect" => TimeoutKind::Connect,
            "queue" => TimeoutKind::Queue,
            "server" => TimeoutKind::Server,
            "tarpit" => TimeoutKind::Tarpit,
            "tunnel" => TimeoutKind::Tunnel,
            _ => return None,
        })
    }

    /// Only meaningful for a proxy with a backend side (the manual's rule).
    pub fn backend_side(self) -> bool {
        !matches!(self, TimeoutKind::Client | TimeoutKind::Tarpit)
    }

    pub fn set(self, ov: &mut crate::proxy::stream::Overrides, ms: u64) {
        let slot = match self {
            TimeoutKind::Client => &mut ov.client,
            TimeoutKind::Connect => &mut ov.connect,
            TimeoutKind::Queue => &mut ov.queue,
            TimeoutKind::Server => &mut ov.server,
            TimeoutKind::Tarpit => &mut ov.tarpit,
            TimeoutKind::Tunnel => &mut ov.tunnel,
        };
        *slot = Some(ms);
    }
}

/// Why a rule acting on the backend side (`set-retries`, `set-timeout connect|queue|
/// server|tunnel`) cannot be in `p`, a proxy without one.
pub(crate) fn needs_backend(rule: &Rule, p: &Proxy) -> Option<String> {
    if p.kind.is_backend() {
        return None;
    }
    match rule.args.first().map(String::as_str) {
        Some("set-retries") => {
            Some("'set-retries' only available in backend or listen section".into())
        }
        Some("set-timeout")
            if rule
                .args
                .get(1)
                .and_then(|w| TimeoutKind::parse(w))
                .is_some_and(TimeoutKind::backend_side) =>
        {
            Some(format!("proxy '{}' has no backend capability", p.name))
        }
        _ => None,
    }
}

/// `set-retries <int>|<expr>` (HTTP and TCP rules), with HAProxy's messages.
pub(crate) fn parse_set_retries(
    args: &[String],
    res: &dyn Resolver,
) -> Result<Result<u32, Box<Expr>>, String> {
    let [v] = args else {
        return Err(
            "expects exactly 1 argument (an expression or an integer between 1 and 100)".into(),
        );
    };
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return match v.parse::<i64>() {
            Ok(n) if (0..=100).contains(&n) => Ok(Ok(n as u32)),
            _ => Err("expects an expression or an integer between 1 and 100".into()),
        };
    }
    Ok(Err(Box::new(Expr::parse(v, res)?)))
}

/// `set-timeout <which> <timeout>|<expr>`, with HAProxy's messages.
fn parse_set_timeout(
    args: &[String],
    res: &dyn Resolver,
) -> Result<(TimeoutKind, Result<u64, Box<Expr>>), String> {
    let [which, v] = args else {
        return Err("expects exactly 2 arguments".into());
    };
    let kind = TimeoutKind::parse(which).ok_or_else(|| {
        format!(
            "'set-timeout' rule supports 'client'/'connect'/'queue'/'server'/'tarpit'/'tunnel' (got '{which}')"
        )
    })?;
    if v.starts_with(|c: char| c.is_ascii_digit()) {
        return match halo_config::units::parse_time_ms(v) {
            Ok(0) => Err(format!(
                "null value is not valid for a 'set-timeout {which}' rule"
            )),
            Ok(ms) => Ok((kind, Ok(ms))),
            Err(_) if v.bytes().all(|b| b.is_ascii_digit()) => Err(format!(
                "timer overflow in argument '{v}' to rule 'set-timeout {which}' (maximum value is 2147483647 ms or ~24.8 days)"
            )),
            Err(e) => {
                // Not a time: a sample expression, if it is one.
                match Expr::parse(v, res) {
                    Ok(e) => Ok((kind, Err(Box::new(e)))),
                    Err(_) => {
                        let bad = v.chars().find(|c| !c.is_ascii_digit()).unwrap_or(' ');
                        if e.contains("overflow") {
                            Err(format!(
                                "timer overflow in argument '{v}' to rule 'set-timeout {which}' (maximum value is 2147483647 ms or ~24.8 days)"
                            ))
                        } else {
                            Err(format!(
                                "unexpected character '{bad}' in rule 'set-timeout {which}'"
                            ))
                        }
                    }
                }
            }
        };
    }
    Ok((kind, Err(Box::new(Expr::parse(v, res)?))))
}

/// The argument of `set-log-level` (HTTP and TCP rules): a syslog level, or `silent`
/// (`LEVEL_SILENT`).
pub(crate) fn parse_log_level(args: &[String]) -> Result<u8, String> {
    // (HAProxy's one message for a missing, extra or unknown level.)
    let level = match args {
        [l] if l == "silent" => Some(crate::log::record::LEVEL_SILENT),
        [l] => halo_config::logs::LEVELS
            .iter()
            .position(|x| x == l)
            .map(|i| i as u8),
        _ => None,
    };
    level.ok_or_else(|| "expects exactly 1 argument (log level name or 'silent')".into())
}

/// The arguments of `do-log` (HTTP and TCP rules): `[profile <name>]`.
pub(crate) fn parse_do_log(args: &[String]) -> Result<Option<Arc<str>>, String> {
    match args {
        [] => Ok(None),
        [p, name] if p == "profile" && !name.is_empty() => Ok(Some(name.as_str().into())),
        [p] if p == "profile" => Err("'profile' expects a log-profile name".into()),
        [extra, ..] => Err(format!("unexpected argument '{extra}'")),
    }
}

fn compile_action(
    rule: &Rule,
    dir: Dir,
    cx: &CompileCx<'_>,
    captures: &mut Vec<usize>,
) -> Result<Action, String> {
    let word = rule.args.first().map(String::as_str).unwrap_or_default();
    let name = word.split('(').next().unwrap_or(word);
    let args = words_after(&rule.args, 1);
    let none = |a: Action| -> Result<Action, String> {
        if let Some(extra) = args.first() {
            return Err(format!("unexpected argument '{extra}'"));
        }
        Ok(a)
    };
    Ok(match name {
        "allow" => none(Action::Allow)?,
        "use-service" if args.first().map(String::as_str) == Some("prometheus-exporter") => {
            if let Some(extra) = args.get(1) {
                return Err(format!("unexpected argument '{extra}'"));
            }
            Action::Prometheus
        }
        "reject" => none(Action::Reject)?,
        "deny" => Action::Deny(parse_reply("deny", args, dir, cx)?),
        "tarpit" => Action::Tarpit(parse_reply("tarpit", args, dir, cx)?),
        "wait-for-body" => {
            if dir == Dir::Res {
                return Err(
                    "'http-response wait-for-body' is valid HAProxy but not implemented by halo yet"
                        .into(),
                );
            }
            let mut ms = None;
            let mut at_least = 0;
            let mut i = 0;
            while i < args.len() {
                let v = args.get(i + 1);
                match (args[i].as_str(), v) {
                    ("time", Some(v)) => {
                        ms = Some(
                            halo_config::units::parse_time_ms(v)
                                .map_err(|e| format!("invalid time '{v}': {e}"))?,
                        )
                    }
                    ("at-least", Some(v)) => {
                        at_least = halo_config::units::parse_size(v)
                            .map_err(|e| format!("invalid size '{v}': {e}"))?
                    }
                    ("use-large-buffer", _) => {
                        return Err("'use-large-buffer' needs 'tune.bufsize.large', which halo does not implement yet".into());
                    }
                    (other, _) => {
                        return Err(format!(
                            "unexpected '{other}'; expected 'time <time> [at-least <bytes>]'"
                        ));
                    }
                }
                i += 2;
            }
            Action::WaitForBody {
                ms: ms.ok_or("expects 'time <time>'")?,
                at_least,
            }
        }
        "return" => Action::Return(parse_reply("return", args, dir, cx)?),
        "redirect" => Action::Redirect(Box::new(parse_redirect(args, true, dir, cx)?)),
        "set-header" | "add-header" => {
            exact(args, 2, "<name> <fmt>")?;
            Action::SetHeader {
                name: args[0].as_bytes().to_vec(),
                value: lf(&args[1], cx)?,
                add: name == "add-header",
            }
        }
        "del-header" => {
            let n = args.first().ok_or("expects a header name")?;
            let lower = n.to_ascii_lowercase().into_bytes();
            let m = match (args.get(1).map(String::as_str), args.get(2)) {
                (None, _) => NameMatch::Str(lower),
                (Some("-m"), Some(meth)) if args.len() == 3 => match meth.as_str() {
                    "str" => NameMatch::Str(lower),
                    "beg" => NameMatch::Beg(lower),
                    "end" => NameMatch::End(lower),
                    "sub" => NameMatch::Sub(lower),
                    "reg" => NameMatch::Reg(regex(n, false)?),
                    other => {
                        return Err(format!(
                            "'-m {other}' : unsupported matching method (str, beg, end, sub or reg)"
                        ));
                    }
                },
                _ => return Err("expects <name> [ -m <meth> ]".into()),
            };
            Action::DelHeader(m)
        }
        "replace-header" | "replace-value" => {
            exact(args, 3, "<name> <match-regex> <replace-fmt>")?;
            Action::ReplaceHeader {
                name: args[0].as_bytes().to_vec(),
                re: regex(&args[1], false)?,
                repl: lf(&args[2], cx)?,
                per_value: name == "replace-value",
            }
        }
        "set-path" | "set-pathq" | "set-uri" | "set-query" => {
            exact(args, 1, "<fmt>")?;
            let part = match name {
                "set-path" => UriPart::Path,
                "set-pathq" => UriPart::Pathq,
                "set-uri" => UriPart::Uri,
                _ => UriPart::Query,
            };
            Action::SetUri(part, lf(&args[0], cx)?)
        }
        "replace-path" | "replace-pathq" | "replace-uri" => {
            exact(args, 2, "<match-regex> <replace-fmt>")?;
            let part = match name {
                "replace-path" => UriPart::Path,
                "replace-pathq" => UriPart::Pathq,
                _ => UriPart::Uri,
            };
            Action::ReplaceUri(part, regex(&args[0], false)?, lf(&args[1], cx)?)
        }
        "set-method" => {
            exact(args, 1, "<fmt>")?;
            Action::SetMethod(lf(&args[0], cx)?)
        }
        "set-status" => {
            let code = status_arg(args.first(), "set-status")?;
            if !(100..=999).contains(&code) {
                return Err(format!("status code '{code}' must be between 100 and 999"));
            }
            let reason = match (args.get(1).map(String::as_str), args.get(2)) {
                (None, _) => None,
                (Some("reason"), Some(r)) if args.len() == 3 => Some(r.as_bytes().to_vec()),
                _ => return Err("expects <status> [reason <str>]".into()),
            };
            Action::SetStatus(code, reason)
        }
        "set-var" | "set-var-fmt" | "unset-var" => {
            let inner = paren_arg(word)
                .ok_or_else(|| format!("'{name}' expects a variable name between parentheses"))?;
            let (var, conds) = vars::parse_set_target(inner)?;
            if !var.settable() {
                return Err(format!(
                    "variable '{}' cannot be set or unset from HTTP rules",
                    var.full
                ));
            }
            match name {
                "unset-var" => {
                    if !conds.is_empty() {
                        return Err("'unset-var' takes no condition".into());
                    }
                    none(Action::UnsetVar(var))?
                }
                "set-var" => {
                    exact(args, 1, "<expr>")?;
                    Action::SetVar(var, conds, Box::new(Expr::parse(&args[0], cx.resolver)?))
                }
                _ => {
                    exact(args, 1, "<fmt>")?;
                    Action::SetVarFmt(var, conds, lf(&args[0], cx)?)
                }
            }
        }
        "capture" => {
            let (Some(e), Some(kw), Some(n)) = (args.first(), args.get(1), args.get(2)) else {
                return Err("expects <sample> [ len <length> | id <id> ]".into());
            };
            if args.len() != 3 {
                return Err("expects <sample> [ len <length> | id <id> ]".into());
            }
            let n: usize = n
                .parse()
                .map_err(|_| format!("'{kw}' expects a positive integer, not '{n}'"))?;
            let expr = Box::new(Expr::parse(e, cx.resolver)?);
            match kw.as_str() {
                "len" => {
                    if dir == Dir::Res {
                        return Err(
                            "'len' is only usable with 'http-request' rules; use 'id'".into()
                        );
                    }
                    captures.push(n);
                    Action::Capture {
                        expr,
                        len: Some(n),
                        slot: captures.len() - 1,
                    }
                }
                "id" => Action::Capture {
                    expr,
                    len: None,
                    slot: n,
                },
                other => {
                    return Err(format!("unexpected '{other}'; expected 'len' or 'id'"));
                }
            }
        }
        "normalize-uri" => {
            let n = args.first().ok_or("expects a normalizer")?;
            let opt = args.get(1).map(String::as_str);
            if args.len() > 2 {
                return Err(format!("unexpected argument '{}'", args[2]));
            }
            let flag = |want: &str| -> Result<bool, String> {
                match opt {
                    None => Ok(false),
                    Some(o) if o == want => Ok(true),
                    Some(o) => Err(format!("'{n}' : unexpected option '{o}'")),
                }
            };
            let none_opt = || -> Result<(), String> {
                match opt {
                    None => Ok(()),
                    Some(o) => Err(format!("'{n}' : unexpected option '{o}'")),
                }
            };
            Action::Normalize(match n.as_str() {
                "fragment-encode" => {
                    none_opt()?;
                    Normalizer::FragmentEncode
                }
                "fragment-strip" => {
                    none_opt()?;
                    Normalizer::FragmentStrip
                }
                "path-merge-slashes" => {
                    none_opt()?;
                    Normalizer::PathMergeSlashes
                }
                "path-strip-dot" => {
                    none_opt()?;
                    Normalizer::PathStripDot
                }
                "path-strip-dotdot" => Normalizer::PathStripDotdot {
                    full: flag("full")?,
                },
                "percent-decode-unreserved" => Normalizer::PercentDecodeUnreserved {
                    strict: flag("strict")?,
                },
                "percent-to-uppercase" => Normalizer::PercentToUppercase {
                    strict: flag("strict")?,
                },
                "query-sort-by-name" => {
                    none_opt()?;
                    Normalizer::QuerySortByName
                }
                other => return Err(format!("unknown normalizer '{other}'")),
            })
        }
        "set-map" | "del-map" | "add-acl" | "del-acl" => {
            let file = paren_arg(word)
                .filter(|f| !f.is_empty())
                .ok_or_else(|| format!("'{name}' expects a file name between parentheses"))?;
            let op = match name {
                "set-map" => ListOp::SetMap,
                "del-map" => ListOp::DelMap,
                "add-acl" => ListOp::AddAcl,
                _ => ListOp::DelAcl,
            };
            let value = if op == ListOp::SetMap {
                exact(args, 2, "<key fmt> <value fmt>")?;
                Some(lf(&args[1], cx)?)
            } else {
                exact(args, 1, "<key fmt>")?;
                None
            };
            Action::EditList(Box::new(ListEdit {
                op,
                file: file.to_string(),
                key: lf(&args[0], cx)?,
                value,
                target: OnceLock::new(),
            }))
        }
        "early-hint" => {
            exact(args, 2, "<name> <fmt>")?;
            Action::EarlyHint {
                name: args[0].as_bytes().to_vec(),
                value: lf(&args[1], cx)?,
            }
        }
        "disable-l7-retry" => none(Action::DisableL7Retry)?,
        "wait-for-handshake" => none(Action::WaitForHandshake)?,
        "set-priority-class" | "set-priority-offset" => match args {
            [e] => Action::SetPriority(
                name == "set-priority-class",
                Box::new(Expr::parse(e, cx.resolver)?),
            ),
            _ => return Err("expects a sample expression".into()),
        },
        "set-retries" => Action::SetRetries(parse_set_retries(args, cx.resolver)?),
        "set-log-level" => Action::SetLogLevel(parse_log_level(args)?),
        "do-log" => {
            use crate::log::record::Origin;
            let origin = match rule.keyword.as_str() {
                "http-request" => Origin::HttpReq,
                "http-response" => Origin::HttpRes,
                _ => Origin::HttpAfterRes,
            };
            Action::DoLog(origin, parse_do_log(args)?)
        }
        "set-timeout" => {
            let (kind, value) = parse_set_timeout(args, cx.resolver)?;
            Action::SetTimeout(kind, value)
        }
        "strict-mode" => match args {
            [v] if v == "on" || v == "off" => Action::StrictMode,
            _ => return Err("expects 'on' or 'off'".into()),
        },
        n if halo_config::keywords::track_sc_number(n).is_some() => {
            let slot = halo_config::keywords::track_sc_number(n).unwrap_or_default();
            let max = cx.resolver.stick_counters();
            if slot >= max {
                return Err(format!(
                    "{slot} track-sc number exceeding {} (tune.stick-counters-1) value",
                    max as i64 - 1
                ));
            }
            let (key, table) = match args {
                [k] => (k, None),
                [k, t, n] if t == "table" => (k, Some(n.as_str())),
                _ => return Err("expects <key> [table <table>]".into()),
            };
            let key = Box::new(Expr::parse(key, cx.resolver)?);
            let table = cx.resolver.table(table).ok_or_else(|| match table {
                Some(t) => format!("unable to find table '{t}'"),
                None => "no table in this proxy; use 'table <table>'".to_string(),
            })?;
            Action::Track {
                slot,
                key,
                table: crate::stick::track::TableRef(table),
            }
        }
        "sc-inc-gpc0" | "sc-inc-gpc1" => {
            let slot = sc_id(word, name, cx.resolver.stick_counters())?;
            use crate::stick::DataType::*;
            let (gpc, rate) = if name == "sc-inc-gpc0" {
                (Gpc0, Gpc0Rate)
            } else {
                (Gpc1, Gpc1Rate)
            };
            none(Action::ScIncGpc {
                slot,
                idx: 0,
                gpc,
                rate,
            })?
        }
        "sc-inc-gpc" => {
            let (idx, slot) = sc_idx_id(word, name, "gpc", cx.resolver.stick_counters())?;
            use crate::stick::DataType::*;
            none(Action::ScIncGpc {
                slot,
                idx,
                gpc: Gpc,
                rate: GpcRate,
            })?
        }
        "sc-set-gpt0" | "sc-set-gpt" | "sc-add-gpc" => {
            let (idx, slot) = if name == "sc-set-gpt0" {
                (0, sc_id(word, name, cx.resolver.stick_counters())?)
            } else {
                sc_idx_id(word, name, &name[7..10], cx.resolver.stick_counters())?
            };
            exact(args, 1, "<int>|<expr>")?;
            let value = match args[0].parse::<i64>() {
                Ok(v) => Ok(v),
                Err(_) => Err(Box::new(Expr::parse(&args[0], cx.resolver)?)),
            };
            match name {
                "sc-add-gpc" => Action::ScAddGpc { slot, idx, value },
                _ => Action::ScSetGpt {
                    slot,
                    idx,
                    gpt: if name == "sc-set-gpt" {
                        crate::stick::DataType::Gpt
                    } else {
                        crate::stick::DataType::Gpt0
                    },
                    value,
                },
            }
        }
        "auth" => match args {
            [] => Action::Auth(None),
            [r, v] if r == "realm" && !v.is_empty() => Action::Auth(Some(v.as_bytes().to_vec())),
            [r] | [r, _] if r == "realm" => return Err("missing realm value".into()),
            [other, ..] => {
                return Err(format!(
                    "unexpected argument '{other}'; expected 'realm <realm>'"
                ));
            }
        },
        _ => {
            let kw = if dir == Dir::Req {
                "http-request"
            } else {
                "http-response"
            };
            return Err(format!("'{kw} {name}' {}", halo_config::NOT_BUILT));
        }
    })
}

fn legacy_kind(keyword: &str) -> Option<(LegacyKind, bool, Dir)> {
    let (dir, rest) = if let Some(r) = keyword.strip_prefix("req") {
        (Dir::Req, r)
    } else {
        (Dir::Res, keyword.strip_prefix("rsp")?)
    };
    let (icase, rest) = match rest.strip_prefix('i') {
        // `reqirep` but not `reqdel`... ("i" followed by a known verb).
        Some(r) if matches!(r, "rep" | "del" | "deny" | "allow" | "tarpit" | "pass") => (true, r),
        _ => (false, rest),
    };
    let kind = match rest {
        "rep" => LegacyKind::Replace,
        "del" => LegacyKind::Delete,
        "deny" => LegacyKind::Deny,
        "allow" => LegacyKind::Allow,
        "tarpit" => LegacyKind::Tarpit,
        "pass" => LegacyKind::Pass,
        _ => return None,
    };
    Some((kind, icase, dir))
}

/// Splits a header line `Name: value` (1.x `reqadd`, `reqrep` replacements).
fn split_header_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|&c| c == b':')?;
    let name = &line[..colon];
    if name.is_empty() || !name.iter().all(|&c| is_tchar(c)) {
        return None;
    }
    let value = line[colon + 1..].trim_ascii();
    Some((name, value))
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

impl ProxyRules {
    /// Compiles the HTTP rules of proxy `p` against its ACLs. Problems go to `diags`.
    pub fn compile(p: &Proxy, acls: &AclSet, cx: &CompileCx<'_>, diags: &mut Diags) -> ProxyRules {
        let s = &p.settings;
        let mut out = ProxyRules {
            monitor_uri: s.monitor_uri.as_ref().map(|u| u.as_bytes().to_vec()),
            tarpit_ms: s
                .timeouts
                .tarpit
                .or(if p.kind.is_backend() {
                    s.timeouts.connect
                } else {
                    None
                })
                .unwrap_or(0),
            auth_realm: p.name.as_bytes().to_vec(),
            ..ProxyRules::default()
        };
        if !p.kind.is_frontend() {
            out.monitor_uri = None;
        }
        let mut blocks = Vec::new();
        for rule in &p.rules {
            let kw = rule.keyword.as_str();
            // Capture declarations (checked by the parser): slots in declaration order.
            let len = || {
                rule.args
                    .get(2)
                    .and_then(|l| l.parse::<usize>().ok())
                    .unwrap_or(0)
            };
            let name = || rule.args.first().map(|n| n.as_bytes().to_ascii_lowercase());
            match kw {
                "capture request header" => {
                    out.req_capture_lens.push(len());
                    let slot = out.req_capture_lens.len() - 1;
                    out.req_header_captures
                        .push((name().unwrap_or_default(), slot));
                    continue;
                }
                "capture response header" => {
                    out.res_capture_lens.push(len());
                    let slot = out.res_capture_lens.len() - 1;
                    out.res_header_captures
                        .push((name().unwrap_or_default(), slot));
                    continue;
                }
                "declare capture" => {
                    if rule.args.first().map(String::as_str) == Some("request") {
                        out.req_capture_lens.push(len());
                    } else {
                        out.res_capture_lens.push(len());
                    }
                    continue;
                }
                "tcp-request content"
                    if rule.args.first().map(String::as_str) == Some("capture") =>
                {
                    // `tcp-request content capture <sample> len <length>` (frontend):
                    // filled by the TCP rules (see `req_capture_slot`).
                    let l = rule.args.get(3).and_then(|l| l.parse::<usize>().ok());
                    out.req_capture_lens.push(l.unwrap_or(0));
                    continue;
                }
                "capture cookie" => {
                    let n = rule.args.first().map(|n| n.as_bytes().to_vec());
                    // At most `tune.http.cookielen` (the check step warns about it).
                    out.cookie_capture = n.map(|n| (n, len().min(cx.cookielen)));
                    continue;
                }
                _ => {}
            }
            let http = matches!(
                kw,
                "http-request"
                    | "http-response"
                    | "http-after-response"
                    | "redirect"
                    | "monitor fail"
                    | "block"
                    | "stats http-request"
                    | "stats admin"
            ) || kw == "reqadd"
                || kw == "rspadd"
                || legacy_kind(kw).is_some();
            if !http {
                // tcp-request, stick...: compiled by their own modules.
                continue;
            }
            // Expressions of this rule are used "at" its line (`show map` descriptions).
            let located = crate::sample::Located::new(cx.resolver, &rule.loc.file, rule.loc.line);
            let cx = &CompileCx {
                registry: cx.registry,
                resolver: &located,
                http_errors: cx.http_errors,
                bufsize: cx.bufsize,
                cookielen: cx.cookielen,
            };
            let cond = match &rule.cond {
                None => None,
                Some(c) => {
                    let acx = AclCtx {
                        file: &rule.loc.file,
                        line: rule.loc.line,
                        registry: cx.registry,
                        resolver: cx.resolver,
                    };
                    match Cond::compile(c, acls, &acx) {
                        Ok(c) => Some(c),
                        Err(e) => {
                            diags.alert(
                                &rule.loc,
                                format!(
                                    "error detected in {} '{}' while parsing the condition of '{}' : {e}.",
                                    p.kind.name(),
                                    p.name,
                                    rule.keyword
                                ),
                            );
                            continue;
                        }
                    }
                }
            };
            let fail = |diags: &mut Diags, what: &str, e: String| {
                diags.alert(
                    &rule.loc,
                    format!(
                        "error detected in {} '{}' while parsing '{what}' rule : {e}.",
                        p.kind.name(),
                        p.name
                    ),
                );
            };
            match rule.keyword.as_str() {
                "http-after-response" => {
                    let what = format!(
                        "http-after-response {}",
                        rule.args
                            .first()
                            .map(|a| a.split('(').next().unwrap_or(a))
                            .unwrap_or_default()
                    );
                    match compile_action(rule, Dir::Res, cx, &mut out.res_capture_lens) {
                        Ok(action) => out.after.push(HttpRule { action, cond }),
                        Err(e) => fail(diags, &what, e),
                    }
                }
                "http-request" | "http-response" => {
                    let dir = if rule.keyword == "http-request" {
                        Dir::Req
                    } else {
                        Dir::Res
                    };
                    let what = format!(
                        "{} {}",
                        rule.keyword,
                        rule.args
                            .first()
                            .map(|a| a.split('(').next().unwrap_or(a))
                            .unwrap_or_default()
                    );
                    let caps = if dir == Dir::Req {
                        &mut out.req_capture_lens
                    } else {
                        &mut out.res_capture_lens
                    };
                    if let Some(e) = needs_backend(rule, p) {
                        fail(diags, &what, e);
                        continue;
                    }
                    match compile_action(rule, dir, cx, caps) {
                        Ok(action) => {
                            let r = HttpRule { action, cond };
                            if dir == Dir::Req {
                                out.req.push(r);
                            } else {
                                out.res.push(r);
                            }
                        }
                        Err(e) => fail(diags, &what, e),
                    }
                }
                "redirect" => match parse_redirect(&rule.args, false, Dir::Req, cx) {
                    Ok(r) => out.redirects.push(HttpRule {
                        action: Action::Redirect(Box::new(r)),
                        cond,
                    }),
                    Err(e) => fail(diags, "redirect", e),
                },
                "monitor fail" => {
                    if let Some(c) = cond {
                        out.monitor_fail.push(c);
                    }
                }
                "stats admin" => {
                    if let Some(c) = cond {
                        out.stats_admin.push(c);
                    }
                }
                "stats http-request" => {
                    match compile_action(rule, Dir::Req, cx, &mut out.req_capture_lens) {
                        Ok(action) => out.stats_req.push(HttpRule { action, cond }),
                        Err(e) => fail(diags, "stats http-request", e),
                    }
                }
                "block" => blocks.push(HttpRule {
                    action: Action::Deny(Reply {
                        status: 403,
                        kind: ReplyKind::Page,
                        hdrs: Vec::new(),
                    }),
                    cond,
                }),
                "reqadd" | "rspadd" => {
                    let line = rule.args.first().map(String::as_bytes).unwrap_or_default();
                    match split_header_line(line) {
                        Some((n, v)) => {
                            let a = AddRule {
                                name: n.to_vec(),
                                value: v.to_vec(),
                                cond,
                            };
                            if rule.keyword == "reqadd" {
                                out.req_add.push(a);
                            } else {
                                out.res_add.push(a);
                            }
                        }
                        None => fail(
                            diags,
                            &rule.keyword,
                            format!(
                                "'{}' is not a header line 'Name: value'",
                                String::from_utf8_lossy(line)
                            ),
                        ),
                    }
                }
                kw => {
                    let Some((kind, icase, dir)) = legacy_kind(kw) else {
                        continue;
                    };
                    let pattern = rule.args.first().map(String::as_str).unwrap_or_default();
                    match regex(pattern, icase) {
                        Ok(re) => {
                            let r = LegacyRule {
                                kind,
                                re,
                                repl: rule
                                    .args
                                    .get(1)
                                    .map(|r| r.as_bytes().to_vec())
                                    .unwrap_or_default(),
                                cond,
                            };
                            if dir == Dir::Req {
                                out.req_legacy.push(r);
                            } else {
                                out.res_legacy.push(r);
                            }
                        }
                        Err(e) => fail(diags, kw, e),
                    }
                }
            }
        }
        // 1.x `block` rules run before every `http-request` rule.
        if !blocks.is_empty() {
            blocks.append(&mut out.req);
            out.req = blocks;
        }
        out.tracks = out
            .req
            .iter()
            .chain(&out.res)
            .any(|r| matches!(r.action, Action::Track { .. }));
        out
    }

    /// Whether the proxy has rules on requests (monitor included).
    pub fn has_request_rules(&self) -> bool {
        self.monitor_uri.is_some()
            || !self.req.is_empty()
            || !self.req_legacy.is_empty()
            || !self.req_add.is_empty()
            || !self.redirects.is_empty()
    }

    /// Whether the proxy has `http-after-response` rules.
    pub fn has_after_rules(&self) -> bool {
        !self.after.is_empty()
    }

    /// Whether the proxy has rules on responses.
    pub fn has_response_rules(&self) -> bool {
        !self.res.is_empty() || !self.res_legacy.is_empty() || !self.res_add.is_empty()
    }
}

// ------------------------------------------------------------------ evaluation

/// What the rules may look at beside the messages: the connection and the proxies.
pub struct Env<'a> {
    pub rt: &'a crate::compile::Runtime,
    /// The request body received so far (as sent, chunked or not), for `req.body`.
    pub body: &'a [u8],
    /// Whether the body was waited for already (`wait-for-body` passes).
    pub body_ready: bool,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub frontend: usize,
    pub backend: Option<usize>,
    pub server: Option<&'a crate::server::Server>,
    pub listener_id: u32,
    pub first_req: bool,
    /// What the client connection's TLS handshake negotiated.
    pub tls: Option<&'a crate::tls::TlsInfo>,
    /// What the connection to the server negotiated (`ssl_bc_*`, `ssl_s_*`).
    pub bc_tls: Option<&'a crate::tls::TlsInfo>,
}

impl<'a> Env<'a> {
    /// The sample context for one evaluation.
    pub fn ctx<'b>(&'b self, req: Option<&'b Head>, res: Option<&'b Head>, txn: &'b Txn) -> Ctx<'b>
    where
        'a: 'b,
    {
        Ctx {
            rt: Some(self.rt),
            src: Some(self.src),
            dst: Some(self.dst),
            frontend: Some(self.frontend),
            backend: self.backend,
            server: self.server,
            listener_id: self.listener_id,
            req,
            res,
            first_req: self.first_req,
            req_payload: if req.is_some() { self.body } else { &[] },
            vars: Some(&txn.vars),
            req_caps: Some(&txn.req_captures),
            res_caps: Some(&txn.res_captures),
            received: Some(&txn.received),
            tracked: Some(&txn.tracked),
            tls: self.tls,
            bc_tls: self.bc_tls,
            unique_id: txn.unique_id.as_deref(),
            log: None,
            ..Ctx::empty()
        }
    }
}

impl Env<'_> {
    /// The answer for `status` where HAProxy answers with an error page: the backend's
    /// page, else the frontend's, else HAProxy's (see `http::pages`).
    pub fn page(&self, status: u16, ctx: &Ctx<'_>) -> Answer {
        crate::http::pages::answer(self, status, ctx)
    }
}

/// An `http-error` line's words after the keyword (status, payload, fields), compiled as
/// the answer of a `return` rule would be.
pub(crate) fn compile_http_error(args: &[String], cx: &CompileCx<'_>) -> Result<Reply, String> {
    parse_reply("http-error", args, Dir::Req, cx)
}

/// The request capture slot that rule `i` of `rules` declares, counting as the HTTP
/// rules compile them: `capture request header`, `declare capture request`,
/// `http-request capture ... len N`, `tcp-request content capture ... len N`.
pub fn req_capture_slot(rules: &[halo_config::model::Rule], i: usize) -> usize {
    rules
        .get(..i)
        .unwrap_or_default()
        .iter()
        .filter(|r| {
            let a = |k: usize| r.args.get(k).map(String::as_str);
            match r.keyword.as_str() {
                "capture request header" => true,
                "declare capture" => a(0) == Some("request"),
                "http-request" => a(0) == Some("capture") && a(2) == Some("len"),
                "tcp-request content" => a(0) == Some("capture"),
                _ => false,
            }
        })
        .count()
}

/// The state of one stream the rules read and write: variables and captures.
#[derive(Debug, Default)]
pub struct Txn {
    pub vars: Vars,
    /// The frontend's request capture slots (`capture request header`, `http-request
    /// capture`, the `capture-req` converter), for logs and `capture.req.hdr`.
    pub req_captures: CaptureSlots,
    /// The response capture slots.
    pub res_captures: CaptureSlots,
    /// The request line and the response version as received (`capture.req.method`…).
    pub received: Received,
    /// `capture cookie`: the first matching cookie of the request and of the response,
    /// as `name=value`.
    pub cookie_req: Option<Vec<u8>>,
    pub cookie_res: Option<Vec<u8>>,
    /// `103 Early Hints` responses built by `early-hint` rules and not sent yet. As in
    /// HAProxy, consecutive unconditional `early-hint` rules fill one response; any other
    /// rule (a conditional `early-hint` too) ends it.
    pub early_hints: Vec<u8>,
    early_open: bool,
    /// The stick counters tracked by the session and by the current stream (`track-sc`).
    pub tracked: crate::stick::track::Tracked,
    /// `disable-l7-retry` ran on this request.
    pub no_l7_retry: bool,
    /// `set-priority-class` / `set-priority-offset`.
    pub prio_class: i32,
    pub prio_offset: i32,
    /// `set-retries` / `set-timeout`.
    pub ov: crate::proxy::stream::Overrides,
    /// What the transaction notes for its log line.
    pub marks: crate::log::record::Marks,
    /// The transaction's id (`unique-id-format`).
    pub unique_id: Option<Vec<u8>>,
    /// `do-log` rules that ran and whose line is not sent yet.
    pub do_logs: Vec<crate::log::DoLog>,
}

impl Txn {
    /// A new HTTP transaction on the same connection: `sess.` variables stay.
    pub fn new_transaction(&mut self) {
        self.vars.new_transaction();
        self.req_captures.clear();
        self.res_captures.clear();
        self.received.clear();
        self.cookie_req = None;
        self.cookie_res = None;
        self.early_hints.clear();
        self.early_open = false;
        self.no_l7_retry = false;
        self.prio_class = 0;
        self.prio_offset = 0;
        self.ov = Default::default();
        self.unique_id = None;
        self.do_logs.clear();
    }
}

/// The first cookie whose name starts with `prefix` (`NAME=` for an exact name) among
/// `name=value` pairs separated by `sep`, as `name=value`.
fn find_cookie<'h>(list: &'h [u8], prefix: &[u8], sep: u8) -> Option<&'h [u8]> {
    list.split(|&c| c == sep)
        .map(|c| c.trim_ascii())
        .find(|c| c.len() >= prefix.len() && c[..prefix.len()].eq_ignore_ascii_case(prefix))
}

impl ProxyRules {
    /// The frontend's `capture request header` and `capture cookie` (request side), done
    /// when the request head arrives, before any rule.
    pub fn capture_request(&self, head: &Head, txn: &mut Txn) {
        for (name, slot) in &self.req_header_captures {
            if let Some(v) = head.get_all(name).last() {
                let len = self.req_capture_lens.get(*slot).copied().unwrap_or(0);
                txn.req_captures.put(*slot, v, len);
            }
        }
        if let Some((name, len)) = &self.cookie_capture {
            txn.cookie_req = head
                .get_all(b"cookie")
                .find_map(|v| find_cookie(v, name, b';'))
                .map(|c| c[..c.len().min(*len)].to_vec());
        }
    }

    /// The frontend's `capture response header` and `capture cookie` (response side).
    pub fn capture_response(&self, head: &Head, txn: &mut Txn) {
        for (name, slot) in &self.res_header_captures {
            if let Some(v) = head.get_all(name).last() {
                let len = self.res_capture_lens.get(*slot).copied().unwrap_or(0);
                txn.res_captures.put(*slot, v, len);
            }
        }
        if let Some((name, len)) = &self.cookie_capture {
            txn.cookie_res = head
                .get_all(b"set-cookie")
                .find_map(|v| {
                    let first = v.split(|&c| c == b';').next().unwrap_or(v).trim_ascii();
                    (first.len() >= name.len() && first[..name.len()].eq_ignore_ascii_case(name))
                        .then_some(first)
                })
                .map(|c| c[..c.len().min(*len)].to_vec());
        }
    }

    /// Whether the frontend captures anything from requests or responses.
    pub fn has_captures(&self) -> bool {
        !self.req_header_captures.is_empty()
            || !self.res_header_captures.is_empty()
            || self.cookie_capture.is_some()
    }
}

/// What the stream must do after a set of rules.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Continue,
    /// Answer and end the transaction.
    Answer(Answer),
    /// The same, counted as a denied request or response (`deny`, `reqdeny`...).
    Deny(Answer),
    /// Wait (ms), then answer.
    Tarpit(Answer, u64),
    /// Close the client connection without answering.
    Reject,
    /// `wait-for-body`: wait for the request body (at most `ms`, until `at_least` bytes
    /// or all of it), then run the rules again from rule `resume`.
    WaitBody {
        resume: usize,
        ms: u64,
        at_least: u64,
    },
}

enum Flow {
    Next,
    Stop,
    Done(Verdict),
}

fn cond_ok(cond: &Option<Cond>, acls: &AclSet, ctx: &Ctx<'_>) -> bool {
    cond.as_ref().map(|c| c.eval(acls, ctx)).unwrap_or(true)
}

/// Builds the text of a `\1`-style replacement: `\N` inserts group N (empty when it did
/// not take part), `\xHH` a byte, `\c` the character c.
fn expand(template: &[u8], caps: &Captures<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(template.len());
    let mut i = 0;
    while i < template.len() {
        let c = template[i];
        if c != b'\\' || i + 1 >= template.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let n = template[i + 1];
        i += 2;
        match n {
            b'0'..=b'9' => {
                if let Some(m) = caps.get(usize::from(n - b'0')) {
                    out.extend_from_slice(m.as_bytes());
                }
            }
            b'x' => {
                let hex = |j: usize| template.get(j).and_then(|&d| (d as char).to_digit(16));
                match (hex(i), hex(i + 1)) {
                    (Some(a), Some(b)) => {
                        out.push((a * 16 + b) as u8);
                        i += 2;
                    }
                    _ => out.push(b'x'),
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Offsets in a request target: end of scheme+authority, end of the path.
fn uri_parts(uri: &[u8]) -> (usize, usize) {
    let start = if uri.first() == Some(&b'/') || uri == b"*" {
        0
    } else if let Some(p) = uri.windows(3).position(|w| w == b"://") {
        let after = p + 3;
        match uri[after..].iter().position(|&c| c == b'/' || c == b'?') {
            Some(i) => after + i,
            None => uri.len(),
        }
    } else {
        0
    };
    let end = uri[start..]
        .iter()
        .position(|&c| c == b'?')
        .map(|i| start + i)
        .unwrap_or(uri.len());
    (start, end)
}

/// The new URI when `part` becomes `new`.
fn rebuild_uri(uri: &[u8], part: UriPart, new: &[u8]) -> Vec<u8> {
    let (a, p) = uri_parts(uri);
    let mut v = Vec::with_capacity(uri.len() + new.len());
    match part {
        UriPart::Uri => v.extend_from_slice(new),
        UriPart::Path => {
            if uri == b"*" {
                v.extend_from_slice(new);
            } else {
                v.extend_from_slice(&uri[..a]);
                v.extend_from_slice(new);
                v.extend_from_slice(&uri[p..]);
            }
        }
        UriPart::Pathq => {
            if uri != b"*" {
                v.extend_from_slice(&uri[..a]);
            }
            v.extend_from_slice(new);
        }
        UriPart::Query => {
            v.extend_from_slice(&uri[..p]);
            // A '?' is added when there is a query to write, never removed.
            if p < uri.len() || !new.is_empty() {
                v.push(b'?');
                v.extend_from_slice(new);
            }
        }
    }
    v
}

/// The part of the URI a `replace-*` action matches.
fn uri_part(uri: &[u8], part: UriPart) -> &[u8] {
    let (a, p) = uri_parts(uri);
    match part {
        UriPart::Uri => uri,
        UriPart::Path => &uri[a..p],
        UriPart::Pathq => &uri[a..],
        UriPart::Query => uri.get(p + 1..).unwrap_or_default(),
    }
}

fn hexval(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Applies a `normalize-uri` normalizer; `Err(())` for an invalid URI in strict mode.
fn normalize(uri: &[u8], n: Normalizer) -> Result<Vec<u8>, ()> {
    let (a, p) = uri_parts(uri);
    let (prefix, path, query) = (&uri[..a], &uri[a..p], &uri[p..]);
    let join = |path: &[u8], query: &[u8]| {
        let mut v = prefix.to_vec();
        v.extend_from_slice(path);
        v.extend_from_slice(query);
        v
    };
    Ok(match n {
        Normalizer::FragmentStrip => match uri.iter().position(|&c| c == b'#') {
            Some(i) => uri[..i].to_vec(),
            None => uri.to_vec(),
        },
        Normalizer::FragmentEncode => {
            let mut v = Vec::with_capacity(uri.len());
            for &c in uri {
                if c == b'#' {
                    v.extend_from_slice(b"%23");
                } else {
                    v.push(c);
                }
            }
            v
        }
        Normalizer::PathMergeSlashes => {
            let mut v: Vec<u8> = Vec::with_capacity(path.len());
            for &c in path {
                if c == b'/' && v.last() == Some(&b'/') {
                    continue;
                }
                v.push(c);
            }
            join(&v, query)
        }
        Normalizer::PathStripDot | Normalizer::PathStripDotdot { .. } => {
            if path.first() != Some(&b'/') {
                return Ok(uri.to_vec());
            }
            let segs: Vec<&[u8]> = path[1..].split(|&c| c == b'/').collect();
            let mut out: Vec<&[u8]> = Vec::with_capacity(segs.len());
            let last = segs.len().saturating_sub(1);
            for (i, seg) in segs.iter().enumerate() {
                match (n, *seg) {
                    (Normalizer::PathStripDot, b".") => {
                        if i == last {
                            out.push(b"");
                        }
                    }
                    (Normalizer::PathStripDotdot { full }, b"..") => {
                        if out.last().is_some_and(|s| *s != b"..") {
                            out.pop();
                        } else if !full {
                            out.push(b"..");
                        }
                        if i == last {
                            out.push(b"");
                        }
                    }
                    _ => out.push(seg),
                }
            }
            let mut v = vec![b'/'];
            v.extend_from_slice(&out.join(&b'/'));
            join(&v, query)
        }
        Normalizer::PercentDecodeUnreserved { strict } => {
            let rest = &uri[a..];
            let mut v = prefix.to_vec();
            let mut i = 0;
            while i < rest.len() {
                if rest[i] == b'%' {
                    match (
                        rest.get(i + 1).and_then(|&c| hexval(c)),
                        rest.get(i + 2).and_then(|&c| hexval(c)),
                    ) {
                        (Some(h), Some(l)) => {
                            let c = h * 16 + l;
                            if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
                                v.push(c);
                            } else {
                                v.extend_from_slice(&rest[i..i + 3]);
                            }
                            i += 3;
                            continue;
                        }
                        _ if strict => return Err(()),
                        _ => {}
                    }
                }
                v.push(rest[i]);
                i += 1;
            }
            v
        }
        Normalizer::PercentToUppercase { strict } => {
            let rest = &uri[a..];
            let mut v = prefix.to_vec();
            let mut i = 0;
            while i < rest.len() {
                if rest[i] == b'%' {
                    let ok = rest.get(i + 1).is_some_and(|c| c.is_ascii_hexdigit())
                        && rest.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit());
                    if ok {
                        v.push(b'%');
                        v.push(rest[i + 1].to_ascii_uppercase());
                        v.push(rest[i + 2].to_ascii_uppercase());
                        i += 3;
                        continue;
                    }
                    if strict {
                        return Err(());
                    }
                }
                v.push(rest[i]);
                i += 1;
            }
            v
        }
        Normalizer::QuerySortByName => {
            let Some(q) = query.strip_prefix(b"?") else {
                return Ok(uri.to_vec());
            };
            let mut params: Vec<&[u8]> = q.split(|&c| c == b'&').collect();
            params.sort_by(|x, y| {
                let name = |p: &[u8]| -> Vec<u8> {
                    p.split(|&c| c == b'=').next().unwrap_or_default().to_vec()
                };
                name(x).cmp(&name(y))
            });
            let mut nq = b"?".to_vec();
            nq.extend_from_slice(&params.join(&b'&'));
            join(path, &nq)
        }
    })
}

/// Parses a request line rewritten by `reqrep` back into the head; false if it is not one.
fn set_request_line(head: &mut Head, line: &[u8]) -> bool {
    let parts: Vec<&[u8]> = line.split(|&c| c == b' ').collect();
    let [m, u, v] = parts.as_slice() else {
        return false;
    };
    let version = match *v {
        b"HTTP/1.0" => Version::Http10,
        b"HTTP/1.1" => Version::Http11,
        _ => return false,
    };
    if m.is_empty() || u.is_empty() || !m.iter().all(|&c| is_tchar(c)) {
        return false;
    }
    head.set_method(m);
    head.set_uri(u);
    head.set_version(version);
    true
}

/// Parses a status line rewritten by `rsprep` back into the head.
fn set_status_line(head: &mut Head, line: &[u8]) -> bool {
    let mut it = line.splitn(3, |&c| c == b' ');
    let (Some(v), Some(code)) = (it.next(), it.next()) else {
        return false;
    };
    let reason = it.next().unwrap_or_default();
    let version = match v {
        b"HTTP/1.0" => Version::Http10,
        b"HTTP/1.1" => Version::Http11,
        _ => return false,
    };
    let Some(code) = std::str::from_utf8(code)
        .ok()
        .filter(|c| c.len() == 3)
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|c| *c >= 100)
    else {
        return false;
    };
    head.set_version(version);
    head.set_status(code, Some(reason));
    true
}

fn start_line(head: &Head, dir: Dir) -> Vec<u8> {
    let mut v = Vec::new();
    match dir {
        Dir::Req => {
            v.extend_from_slice(head.method());
            v.push(b' ');
            v.extend_from_slice(head.uri());
            v.push(b' ');
            v.extend_from_slice(head.version_bytes());
        }
        Dir::Res => {
            v.extend_from_slice(head.version_bytes());
            v.push(b' ');
            v.extend_from_slice(format!("{:03}", head.status()).as_bytes());
            v.push(b' ');
            v.extend_from_slice(head.reason());
        }
    }
    v
}

impl ProxyRules {
    fn tarpit_or_deny(&self, tarpit: bool, a: Answer) -> Verdict {
        if tarpit {
            Verdict::Tarpit(a, self.tarpit_ms)
        } else {
            Verdict::Answer(a)
        }
    }

    /// `monitor-uri`: the answer for a monitor request (200, or 503 when a `monitor fail`
    /// condition says so), or None for other requests. Evaluated before any other rule.
    pub fn monitor(&self, acls: &AclSet, env: &Env<'_>, head: &Head, txn: &Txn) -> Option<Answer> {
        let m = self.monitor_uri.as_deref()?;
        let uri = head.uri();
        let hit = uri == m || (m.first() == Some(&b'/') && uri_part(uri, UriPart::Pathq) == m);
        if !hit {
            return None;
        }
        let ctx = env.ctx(Some(head), None, txn);
        let failed = self.monitor_fail.iter().any(|c| c.eval(acls, &ctx));
        Some(env.page(if failed { 503 } else { 200 }, &ctx))
    }

    /// Access to the stats page: the `stats http-request` rules, then with `stats auth`
    /// the challenge of a request without valid credentials (HAProxy appends that rule
    /// to the list, so an `allow` before it lets a request in without credentials); and
    /// whether a `stats admin` condition holds.
    pub fn stats_access(
        &self,
        page: &crate::stats::page::StatsPage,
        acls: &AclSet,
        env: &Env<'_>,
        head: &mut Head,
        txn: &mut Txn,
    ) -> (Verdict, bool) {
        let verdict = match self.run(&self.stats_req, Dir::Req, acls, env, head, txn) {
            Flow::Done(v) => v,
            Flow::Stop => Verdict::Continue,
            Flow::Next => match &page.users {
                Some(users) => {
                    let use_proxy_header = env
                        .rt
                        .proxies
                        .get(env.frontend)
                        .is_some_and(|p| p.http.use_proxy_header);
                    let proxy_form = crate::auth::proxy_form(use_proxy_header, head);
                    let ok = matches!(
                        crate::auth::credentials(head, proxy_form),
                        Some(crate::auth::Credentials::Basic { user, pass }) if users.check(&user, &pass)
                    );
                    if ok {
                        Verdict::Continue
                    } else {
                        Verdict::Answer(auth_challenge(&page.realm, proxy_form))
                    }
                }
                None => Verdict::Continue,
            },
        };
        let ctx = env.ctx(Some(head), None, txn);
        let admin = self.stats_admin.iter().any(|c| c.eval(acls, &ctx));
        (verdict, admin)
    }

    /// The request rules of this proxy, in HAProxy's order: `block` and `http-request`,
    /// the 1.x `req*` rules, `reqadd`, then the `redirect` keyword.
    pub fn request(&self, acls: &AclSet, env: &Env<'_>, head: &mut Head, txn: &mut Txn) -> Verdict {
        self.request_from(0, acls, env, head, txn)
    }

    /// The request rules from `http-request` rule number `start` on (after `wait-for-body`).
    pub fn request_from(
        &self,
        start: usize,
        acls: &AclSet,
        env: &Env<'_>,
        head: &mut Head,
        txn: &mut Txn,
    ) -> Verdict {
        let rules = self.req.get(start..).unwrap_or_default();
        if let Flow::Done(v) = self.run(rules, Dir::Req, acls, env, head, txn) {
            return match v {
                Verdict::WaitBody {
                    resume,
                    ms,
                    at_least,
                } => Verdict::WaitBody {
                    resume: start + resume,
                    ms,
                    at_least,
                },
                v => v,
            };
        }
        if !self.req_legacy.is_empty()
            && let Some(v) = self.legacy(&self.req_legacy, Dir::Req, acls, env, head, txn)
        {
            return v;
        }
        self.add_lines(&self.req_add, Dir::Req, acls, env, head, txn);
        if let Flow::Done(v) = self.run(&self.redirects, Dir::Req, acls, env, head, txn) {
            return v;
        }
        Verdict::Continue
    }

    /// The response rules of this proxy: `http-response`, the 1.x `rsp*` rules, `rspadd`.
    pub fn response(
        &self,
        acls: &AclSet,
        env: &Env<'_>,
        head: &mut Head,
        txn: &mut Txn,
    ) -> Verdict {
        if let Flow::Done(v) = self.run(&self.res, Dir::Res, acls, env, head, txn) {
            return v;
        }
        if !self.res_legacy.is_empty()
            && let Some(v) = self.legacy(&self.res_legacy, Dir::Res, acls, env, head, txn)
        {
            return v;
        }
        self.add_lines(&self.res_add, Dir::Res, acls, env, head, txn);
        Verdict::Continue
    }

    /// The `http-after-response` rules of this proxy, on any response (the server's or
    /// one made by the proxy). `allow` ends this proxy's list.
    pub fn after_response(&self, acls: &AclSet, env: &Env<'_>, head: &mut Head, txn: &mut Txn) {
        // Actions usable here cannot answer: the flow only says whether to stop.
        let _ = self.run(&self.after, Dir::Res, acls, env, head, txn);
    }

    fn add_lines(
        &self,
        rules: &[AddRule],
        dir: Dir,
        acls: &AclSet,
        env: &Env<'_>,
        head: &mut Head,
        txn: &Txn,
    ) {
        for r in rules {
            let ok = {
                let ctx = msg_ctx(env, dir, head, txn);
                cond_ok(&r.cond, acls, &ctx)
            };
            if ok {
                head.add(&r.name, &r.value);
            }
        }
    }

    /// Runs a list of `http-request`/`http-response` rules.
    fn run(
        &self,
        rules: &[HttpRule],
        dir: Dir,
        acls: &AclSet,
        env: &Env<'_>,
        head: &mut Head,
        txn: &mut Txn,
    ) -> Flow {
        for (i, rule) in rules.iter().enumerate() {
            let flow = self.apply(rule, dir, acls, env, head, txn);
            if txn.early_open {
                let more = rules.get(i + 1).is_some_and(|r| {
                    r.cond.is_none() && matches!(r.action, Action::EarlyHint { .. })
                });
                if !more || !matches!(flow, Flow::Next) {
                    txn.early_hints.extend_from_slice(b"\r\n");
                    txn.early_open = false;
                }
            }
            match flow {
                Flow::Next => {}
                Flow::Stop => return Flow::Stop,
                // The rules resume after this one once the body is there.
                Flow::Done(Verdict::WaitBody { ms, at_least, .. }) => {
                    return Flow::Done(Verdict::WaitBody {
                        resume: i + 1,
                        ms,
                        at_least,
                    });
                }
                done => return done,
            }
        }
        Flow::Next
    }

    fn apply(
        &self,
        rule: &HttpRule,
        dir: Dir,
        acls: &AclSet,
        env: &Env<'_>,
        head: &mut Head,
        txn: &mut Txn,
    ) -> Flow {
        let ctx = msg_ctx(env, dir, head, txn);
        if !cond_ok(&rule.cond, acls, &ctx) {
            return Flow::Next;
        }
        match &rule.action {
            Action::Allow => Flow::Stop,
            Action::EditList(e) => {
                let target = e
                    .target
                    .get_or_init(|| env.rt.registry.lookup(&e.file))
                    .clone();
                if let Some(r) = target {
                    edit_list(&r, e, &ctx);
                }
                Flow::Next
            }
            Action::EarlyHint { name, value } => {
                let v = value.render_vec(&ctx);
                if !txn.early_open {
                    txn.early_open = true;
                    txn.early_hints
                        .extend_from_slice(b"HTTP/1.1 103 Early Hints\r\n");
                }
                txn.early_hints.extend_from_slice(name);
                txn.early_hints.extend_from_slice(b": ");
                txn.early_hints.extend_from_slice(&v);
                txn.early_hints.extend_from_slice(b"\r\n");
                Flow::Next
            }
            Action::Deny(r) => Flow::Done(Verdict::Deny(build_reply(r, env, &ctx))),
            Action::Tarpit(r) => {
                let a = build_reply(r, env, &ctx);
                Flow::Done(match txn.ov.tarpit {
                    // `set-timeout tarpit` ran on this request.
                    Some(ms) => Verdict::Tarpit(a, ms),
                    None => self.tarpit_or_deny(true, a),
                })
            }
            Action::WaitForBody { ms, at_least } => {
                if env.body_ready {
                    Flow::Next
                } else {
                    Flow::Done(Verdict::WaitBody {
                        resume: 0,
                        ms: *ms,
                        at_least: *at_least,
                    })
                }
            }
            Action::Return(r) => Flow::Done(Verdict::Answer(build_reply(r, env, &ctx))),
            Action::Prometheus => Flow::Done(Verdict::Answer(crate::stats::prometheus::serve(
                env.rt, head,
            ))),
            Action::Reject => Flow::Done(Verdict::Reject),
            Action::Auth(realm) => {
                let use_proxy_header = env
                    .rt
                    .proxies
                    .get(env.frontend)
                    .is_some_and(|p| p.http.use_proxy_header);
                let proxy_form = crate::auth::proxy_form(use_proxy_header, head);
                let realm = realm.as_deref().unwrap_or(&self.auth_realm);
                Flow::Done(Verdict::Answer(auth_challenge(realm, proxy_form)))
            }
            Action::Redirect(r) => match build_redirect(r, &ctx, head) {
                Some(a) => Flow::Done(Verdict::Answer(a)),
                None => Flow::Next,
            },
            Action::SetHeader { name, value, add } => {
                let v = value.render_vec(&ctx);
                if !add {
                    head.remove(name);
                }
                head.add(name, &v);
                Flow::Next
            }
            Action::DelHeader(m) => {
                head.retain(|n, _| !m.matches(n));
                Flow::Next
            }
            Action::ReplaceHeader {
                name,
                re,
                repl,
                per_value,
            } => {
                let template = repl.render_vec(&ctx);
                let mut edits: Vec<(usize, Vec<u8>)> = Vec::new();
                for (i, (n, v)) in head.headers().enumerate() {
                    if !n.eq_ignore_ascii_case(name) {
                        continue;
                    }
                    if *per_value {
                        let mut changed = false;
                        let mut parts: Vec<Vec<u8>> = Vec::new();
                        for part in v.split(|&c| c == b',') {
                            let t = part.trim_ascii();
                            match re.captures(t) {
                                Some(c) => {
                                    changed = true;
                                    parts.push(expand(&template, &c));
                                }
                                None => parts.push(part.to_vec()),
                            }
                        }
                        if changed {
                            edits.push((i, parts.join(&b","[..])));
                        }
                    } else if let Some(c) = re.captures(v) {
                        edits.push((i, expand(&template, &c)));
                    }
                }
                for (i, v) in edits {
                    head.replace_value(i, &v);
                }
                Flow::Next
            }
            Action::SetUri(part, fmt) => {
                let new = fmt.render_vec(&ctx);
                let uri = rebuild_uri(head.uri(), *part, &new);
                head.set_uri(&uri);
                Flow::Next
            }
            Action::ReplaceUri(part, re, fmt) => {
                let template = fmt.render_vec(&ctx);
                let cur = uri_part(head.uri(), *part);
                if let Some(c) = re.captures(cur) {
                    let new = expand(&template, &c);
                    let uri = rebuild_uri(head.uri(), *part, &new);
                    head.set_uri(&uri);
                }
                Flow::Next
            }
            Action::SetMethod(fmt) => {
                let m = fmt.render_vec(&ctx);
                if !m.is_empty() {
                    head.set_method(&m);
                }
                Flow::Next
            }
            Action::SetStatus(code, reason) => {
                let reason = reason
                    .clone()
                    .unwrap_or_else(|| crate::http::h1::reason_phrase(*code).as_bytes().to_vec());
                head.set_status(*code, Some(&reason));
                Flow::Next
            }
            Action::SetVar(v, conds, expr) => {
                if let Some(s) = expr.eval(&ctx).map(Sample::into_owned)
                    && vars::conditions_hold(&txn.vars, v, conds, &s)
                {
                    txn.vars.set(v, s);
                }
                Flow::Next
            }
            Action::SetVarFmt(v, conds, fmt) => {
                let s = Sample::Str(std::borrow::Cow::Owned(fmt.render_vec(&ctx)));
                if vars::conditions_hold(&txn.vars, v, conds, &s) {
                    txn.vars.set(v, s);
                }
                Flow::Next
            }
            Action::UnsetVar(v) => {
                txn.vars.unset(v);
                Flow::Next
            }
            Action::Track { slot, key, table } => {
                if txn.tracked.is_tracking(*slot) {
                    return Flow::Next;
                }
                let key = key.eval(&ctx).and_then(|s| table.0.key_of(&s));
                if let Some(key) = key {
                    let level = crate::stick::track::Level::Stream;
                    if txn.tracked.track(*slot, &table.0, key, level) && dir == Dir::Req {
                        txn.tracked.http_request_on(*slot);
                    }
                }
                Flow::Next
            }
            Action::ScIncGpc {
                slot,
                idx,
                gpc,
                rate,
            } => {
                txn.tracked.update(*slot, |e| {
                    e.add_at(*rate, *idx, 1);
                    e.add_at(*gpc, *idx, 1);
                });
                Flow::Next
            }
            Action::ScAddGpc { slot, idx, value } => {
                let v = match value {
                    Ok(v) => Some(*v),
                    Err(e) => e.eval(&ctx).and_then(|s| s.to_int()),
                };
                if let Some(v) = v.filter(|&v| v != 0) {
                    let v = v as u32 as u64;
                    txn.tracked.update(*slot, |e| {
                        e.add_at(crate::stick::DataType::GpcRate, *idx, v);
                        e.add_at(crate::stick::DataType::Gpc, *idx, v);
                    });
                }
                Flow::Next
            }
            Action::ScSetGpt {
                slot,
                idx,
                gpt,
                value,
            } => {
                let v = match value {
                    Ok(v) => Some(*v),
                    Err(e) => e.eval(&ctx).and_then(|s| s.to_int()),
                };
                if let Some(v) = v {
                    txn.tracked
                        .update(*slot, |e| e.set_at(*gpt, *idx, v as u32 as u64));
                }
                Flow::Next
            }
            Action::Capture { expr, len, slot } => {
                let len = match len {
                    Some(l) => Some(*l),
                    None => env.rt.proxies.get(env.frontend).and_then(|p| {
                        let lens = if dir == Dir::Req {
                            &p.http.rules.req_capture_lens
                        } else {
                            &p.http.rules.res_capture_lens
                        };
                        lens.get(*slot).copied()
                    }),
                };
                let Some(len) = len else {
                    return Flow::Next;
                };
                let caps = if dir == Dir::Req {
                    &txn.req_captures
                } else {
                    &txn.res_captures
                };
                if let Some(s) = expr.eval(&ctx) {
                    caps.put(*slot, &s.to_bytes(), len);
                }
                Flow::Next
            }
            Action::Normalize(n) => match normalize(head.uri(), *n) {
                Ok(u) => {
                    if u != head.uri() {
                        head.set_uri(&u);
                    }
                    Flow::Next
                }
                Err(()) => Flow::Done(Verdict::Answer(env.page(400, &ctx))),
            },
            Action::StrictMode | Action::WaitForHandshake => Flow::Next,
            Action::DisableL7Retry => {
                txn.no_l7_retry = true;
                Flow::Next
            }
            Action::SetLogLevel(l) => {
                txn.ov.log_level = Some(*l);
                Flow::Next
            }
            Action::DoLog(origin, profile) => {
                txn.do_logs.push(crate::log::DoLog {
                    origin: *origin,
                    profile: profile.clone(),
                });
                Flow::Next
            }
            Action::SetRetries(v) => {
                let n = match v {
                    Ok(n) => Some(*n),
                    // Out of range or no value: the rule does nothing (as HAProxy).
                    Err(e) => e
                        .eval(&ctx)
                        .and_then(|s| s.to_int())
                        .filter(|n| (0..=100).contains(n))
                        .map(|n| n as u32),
                };
                if n.is_some() {
                    txn.ov.retries = n;
                }
                Flow::Next
            }
            Action::SetTimeout(kind, v) => {
                let ms = match v {
                    Ok(ms) => Some(*ms),
                    // A negative value is ignored; 0 means no timeout at all.
                    Err(e) => e
                        .eval(&ctx)
                        .and_then(|s| s.to_int())
                        .filter(|&n| n >= 0)
                        .map(|n| if n == 0 { u64::MAX / 4 } else { n as u64 }),
                };
                if let Some(ms) = ms {
                    kind.set(&mut txn.ov, ms);
                }
                Flow::Next
            }
            Action::SetPriority(class, expr) => {
                if let Some(v) = expr.eval(&ctx).and_then(|s| s.to_int()) {
                    if *class {
                        txn.prio_class = v.clamp(-2047, 2047) as i32;
                    } else {
                        txn.prio_offset = v.clamp(-524_287, 524_287) as i32;
                    }
                }
                Flow::Next
            }
        }
    }

    /// The 1.x `req*`/`rsp*` rules (1.x semantics: each regex tried on the start line, then
    /// on every header line; a match replaces or removes the whole line, or decides).
    fn legacy(
        &self,
        rules: &[LegacyRule],
        dir: Dir,
        acls: &AclSet,
        env: &Env<'_>,
        head: &mut Head,
        txn: &Txn,
    ) -> Option<Verdict> {
        let mut allowed = false;
        let mut decided: Option<LegacyKind> = None;
        for r in rules {
            if decided.is_some() {
                break;
            }
            let deciding = matches!(
                r.kind,
                LegacyKind::Allow | LegacyKind::Deny | LegacyKind::Tarpit
            );
            if allowed && deciding {
                continue;
            }
            let ok = {
                let ctx = msg_ctx(env, dir, head, txn);
                cond_ok(&r.cond, acls, &ctx)
            };
            if !ok {
                continue;
            }
            // The start line (never removed).
            if r.kind != LegacyKind::Delete {
                let line = start_line(head, dir);
                if let Some(c) = r.re.captures(&line) {
                    match r.kind {
                        LegacyKind::Allow => {
                            allowed = true;
                            continue;
                        }
                        LegacyKind::Deny | LegacyKind::Tarpit => {
                            decided = Some(r.kind);
                            continue;
                        }
                        LegacyKind::Replace => {
                            let new = expand(&r.repl, &c);
                            let ok = match dir {
                                Dir::Req => set_request_line(head, &new),
                                Dir::Res => set_status_line(head, &new),
                            };
                            if !ok {
                                let status = if dir == Dir::Req { 400 } else { 502 };
                                let ctx = msg_ctx(env, dir, head, txn);
                                return Some(Verdict::Answer(env.page(status, &ctx)));
                            }
                            continue;
                        }
                        LegacyKind::Pass | LegacyKind::Delete => {}
                    }
                }
            }
            // The header lines.
            let mut i = 0;
            while i < head.len() {
                let Some(line) = head.field_line(i) else {
                    break;
                };
                let Some(c) = r.re.captures(&line) else {
                    i += 1;
                    continue;
                };
                match r.kind {
                    LegacyKind::Allow => {
                        allowed = true;
                        break;
                    }
                    LegacyKind::Deny | LegacyKind::Tarpit => {
                        decided = Some(r.kind);
                        break;
                    }
                    LegacyKind::Delete => {
                        head.remove_at(i);
                        continue;
                    }
                    LegacyKind::Replace => {
                        let new = expand(&r.repl, &c);
                        match split_header_line(&new) {
                            Some((n, v)) => {
                                let (n, v) = (n.to_vec(), v.to_vec());
                                head.set_field(i, &n, &v);
                            }
                            None => {
                                // Not a header line any more: halo drops it rather than
                                // sending a malformed head.
                                head.remove_at(i);
                                continue;
                            }
                        }
                    }
                    LegacyKind::Pass => {}
                }
                i += 1;
            }
        }
        let page = |status: u16| env.page(status, &msg_ctx(env, dir, head, txn));
        match (decided, dir) {
            (Some(LegacyKind::Deny), Dir::Req) => Some(Verdict::Deny(page(403))),
            (Some(LegacyKind::Tarpit), Dir::Req) => Some(self.tarpit_or_deny(true, page(500))),
            (Some(_), Dir::Res) => Some(Verdict::Deny(page(502))),
            _ => None,
        }
    }
}

/// Carries out a `set-map`/`del-map`/`add-acl`/`del-acl` on its list: as HAProxy does,
/// `set-map` changes the value of an existing key or adds the entry, `add-acl` adds a key
/// not there yet; values that the list's users cannot parse change nothing.
fn edit_list(r: &PatternRef, e: &ListEdit, ctx: &Ctx<'_>) {
    let key = String::from_utf8_lossy(&e.key.render_vec(ctx)).into_owned();
    let key = key.as_str();
    match e.op {
        ListOp::SetMap => {
            let value = match &e.value {
                Some(v) => String::from_utf8_lossy(&v.render_vec(ctx)).into_owned(),
                None => String::new(),
            };
            if r.has_key(key) {
                let _ = r.set_value(EntryRef::Key(key), &value);
            } else {
                let _ = r.add(None, key, Some(&value));
            }
        }
        ListOp::AddAcl => {
            if !r.has_key(key) {
                let _ = r.add(None, key, None);
            }
        }
        ListOp::DelMap | ListOp::DelAcl => {
            let _ = r.delete(EntryRef::Key(key));
        }
    }
}

fn msg_ctx<'b>(env: &'b Env<'_>, dir: Dir, head: &'b Head, txn: &'b Txn) -> Ctx<'b> {
    // As in HAProxy, the request is gone when the response rules run.
    match dir {
        Dir::Req => env.ctx(Some(head), None, txn),
        Dir::Res => env.ctx(None, Some(head), txn),
    }
}

/// The answer of `http-request auth`: HAProxy's 401 page with `WWW-Authenticate`, or
/// its 407 page with `Proxy-Authenticate` for a request in proxy form.
pub fn auth_challenge(realm: &[u8], proxy_form: bool) -> Answer {
    let (status, header): (u16, &[u8]) = if proxy_form {
        (407, b"proxy-authenticate")
    } else {
        (401, b"www-authenticate")
    };
    let mut a = Answer::page(status);
    a.head.extend_from_slice(header);
    a.head.extend_from_slice(b": Basic realm=\"");
    a.head.extend_from_slice(realm);
    a.head.extend_from_slice(b"\"\r\n");
    a
}

/// The answer of a `deny`/`tarpit`/`return` rule or of an `http-error` page.
pub(crate) fn build_reply(r: &Reply, env: &Env<'_>, ctx: &Ctx<'_>) -> Answer {
    match &r.kind {
        ReplyKind::Page => env.page(r.status, ctx),
        ReplyKind::Raw { head, body } => Answer {
            // The file's own status line is what goes out.
            status: head
                .get(9..12)
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| d.parse().ok())
                .unwrap_or(r.status),
            head: head.clone(),
            body: body.clone(),
        },
        ReplyKind::Empty | ReplyKind::Payload { .. } => {
            let mut head = format!(
                "HTTP/1.1 {} {}\r\n",
                r.status,
                crate::http::h1::reason_phrase(r.status)
            )
            .into_bytes();
            for (n, v) in &r.hdrs {
                // HAProxy writes the names of the fields it generates in lower case.
                head.extend_from_slice(&n.to_ascii_lowercase());
                head.extend_from_slice(b": ");
                let val = v.render_vec(ctx);
                head.extend(val.iter().map(|&c| {
                    if c == b'\r' || c == b'\n' || c == 0 {
                        b' '
                    } else {
                        c
                    }
                }));
                head.extend_from_slice(b"\r\n");
            }
            let (body, ctype) = match &r.kind {
                ReplyKind::Payload { content_type, body } => (
                    match body {
                        Body::Static(b) => b.clone(),
                        Body::Fmt(f) => f.render_vec(ctx),
                    },
                    content_type.as_deref(),
                ),
                _ => (Vec::new(), None),
            };
            let bodiless = (100..200).contains(&r.status) || r.status == 204 || r.status == 304;
            if !bodiless {
                head.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
            }
            if let Some(t) = ctype {
                head.extend_from_slice(b"content-type: ");
                head.extend_from_slice(t);
                head.extend_from_slice(b"\r\n");
            }
            Answer {
                status: r.status,
                head,
                body: if bodiless { Vec::new() } else { body },
            }
        }
    }
}

/// The answer of a redirect rule, or None when `ignore-empty` skips it.
fn build_redirect(r: &Redirect, ctx: &Ctx<'_>, head: &Head) -> Option<Answer> {
    let target = r.target.render_vec(ctx);
    if r.ignore_empty && target.is_empty() {
        return None;
    }
    let uri = head.uri();
    let pathq = {
        let p = uri_part(uri, UriPart::Pathq);
        if p.first() == Some(&b'/') {
            p
        } else {
            &b"/"[..]
        }
    };
    let path_for = |drop: bool| -> &[u8] {
        if drop {
            match pathq.iter().position(|&c| c == b'?') {
                Some(i) => &pathq[..i],
                None => pathq,
            }
        } else {
            pathq
        }
    };
    let mut loc = Vec::new();
    match r.kind {
        RedirKind::Location => {
            loc.extend_from_slice(&target);
            if r.keep_query
                && let Some(q) = uri.iter().position(|&c| c == b'?').map(|i| &uri[i + 1..])
                && !q.is_empty()
            {
                loc.push(if loc.contains(&b'?') { b'&' } else { b'?' });
                loc.extend_from_slice(q);
            }
        }
        RedirKind::Prefix => {
            if target != b"/" {
                loc.extend_from_slice(&target);
            }
            loc.extend_from_slice(path_for(r.drop_query));
        }
        RedirKind::Scheme => {
            loc.extend_from_slice(&target);
            loc.extend_from_slice(b"://");
            loc.extend_from_slice(head.get(b"host").unwrap_or_default());
            loc.extend_from_slice(path_for(r.drop_query));
        }
    }
    if r.append_slash && r.kind != RedirKind::Location && loc.last() != Some(&b'/') {
        loc.push(b'/');
    }
    let reason = match r.code {
        301 => "Moved Permanently",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        _ => "Found",
    };
    let mut h = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-length: 0\r\nlocation: ",
        r.code
    )
    .into_bytes();
    h.extend(loc.iter().map(|&c| {
        if c == b'\r' || c == b'\n' || c == 0 {
            b' '
        } else {
            c
        }
    }));
    h.extend_from_slice(b"\r\n");
    if !matches!(r.code, 301 | 308) {
        h.extend_from_slice(b"cache-control: no-cache\r\n");
    }
    match &r.cookie {
        Some(CookieOp::Set(f)) => {
            h.extend_from_slice(b"set-cookie: ");
            h.extend_from_slice(&f.render_vec(ctx));
            h.extend_from_slice(b"; path=/;\r\n");
        }
        Some(CookieOp::Clear(name)) => {
            h.extend_from_slice(b"set-cookie: ");
            h.extend_from_slice(name);
            h.extend_from_slice(b"; path=/; Max-Age=0;\r\n");
        }
        None => {}
    }
    Some(Answer {
        status: r.code,
        head: h,
        body: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{Runtime, compile};
    use crate::http::h1::{Limits, parse_request, parse_response};

    const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 1500ms\n";

    fn runtime(body: &str) -> Result<Runtime, String> {
        let text = format!("{DEFAULTS}{body}");
        let opts = halo_config::ReadOptions {
            version: "3.5.0",
            features: &[],
            diag_mode: false,
        };
        let (cfg, mut diags) = halo_config::load_text("t.cfg", &text, &opts);
        if diags.has_alerts() {
            return Err(format!("{diags:?}"));
        }
        let rt = compile(&cfg, 1000, true, &mut diags);
        if diags.has_alerts() {
            return Err(format!("{diags:?}"));
        }
        Ok(rt)
    }

    fn rt(body: &str) -> Runtime {
        runtime(body).unwrap_or_else(|e| panic!("{e}"))
    }

    fn req(raw: &str) -> Head {
        let mut h = Head::new();
        parse_request(raw.as_bytes(), &Limits::default(), &mut h)
            .unwrap()
            .unwrap();
        h
    }

    fn env(rt: &Runtime, px: usize) -> Env<'_> {
        Env {
            rt,
            body: &[],
            body_ready: false,
            src: "127.0.0.1:5000".parse().unwrap(),
            dst: "127.0.0.1:80".parse().unwrap(),
            frontend: px,
            backend: None,
            server: None,
            listener_id: 0,
            first_req: true,
            tls: None,
            bc_tls: None,
        }
    }

    /// Runs the request rules of the first proxy on `raw`.
    fn on_req(rt: &Runtime, raw: &str) -> (Verdict, Head, Txn) {
        let mut h = req(raw);
        let mut txn = Txn::default();
        let px = &rt.proxies[0];
        let e = env(rt, 0);
        let v = match px.http.rules.monitor(&px.acls, &e, &h, &txn) {
            Some(a) => Verdict::Answer(a),
            None => px.http.rules.request(&px.acls, &e, &mut h, &mut txn),
        };
        (v, h, txn)
    }

    fn on_res(rt: &Runtime, raw: &str) -> (Verdict, Head) {
        let mut h = Head::new();
        parse_response(raw.as_bytes(), &Limits::default(), &mut h)
            .unwrap()
            .unwrap();
        let mut txn = Txn::default();
        let px = &rt.proxies[0];
        let v = px
            .http
            .rules
            .response(&px.acls, &env(rt, 0), &mut h, &mut txn);
        (v, h)
    }

    fn text(h: &Head) -> String {
        String::from_utf8(h.to_vec()).unwrap()
    }

    fn wire(v: &Verdict) -> String {
        let a = match v {
            Verdict::Answer(a) | Verdict::Deny(a) | Verdict::Tarpit(a, _) => a,
            other => panic!("no answer: {other:?}"),
        };
        let mut out = Vec::new();
        a.write(&mut out, None, true);
        String::from_utf8(out).unwrap()
    }

    const GET: &str = "GET /a/b?x=1 HTTP/1.1\r\nHost: Hx\r\nX-F: a1, a2,b3 ,  a4\r\nX-H: a1, a2\r\nX-F: az\r\n\r\n";

    #[test]
    fn header_actions_like_haproxy_2_6() {
        let rt = rt(
            "listen l\n    bind 127.0.0.1:1\n    http-request set-header X-Missing %[req.hdr(nope)]\n    http-request set-header X-Mixed a%[req.hdr(nope)]b\n    http-request add-header X-Int %[int(5)]\n    http-request replace-value X-F ^a(.*)$ b\\1\n    http-request replace-header X-H ^a(.*)$ b\\1\n    server s 127.0.0.1:1\n",
        );
        let (v, h, _) = on_req(&rt, GET);
        assert_eq!(v, Verdict::Continue);
        assert_eq!(
            text(&h),
            "GET /a/b?x=1 HTTP/1.1\r\nHost: Hx\r\nX-F: b1,b2,b3 ,b4\r\nX-H: b1, a2\r\nX-F: bz\r\nX-Missing: \r\nX-Mixed: ab\r\nX-Int: 5\r\n\r\n"
        );
        // Values the regex does not match keep their spaces.
        let (_, h, _) = on_req(
            &rt,
            "GET / HTTP/1.1\r\nHost: Hx\r\nX-F: c1,  c2 ,a3 ,  a4  , c5\r\n\r\n",
        );
        assert_eq!(h.get(b"x-f"), Some(&b"c1,  c2 ,b3,b4, c5"[..]));
    }

    #[test]
    fn del_header_methods() {
        let rt = rt(
            "listen l\n    bind 127.0.0.1:1\n    http-request del-header x-a -m beg\n    http-request del-header b$ -m reg\n    http-request del-header X-Exact\n    server s 127.0.0.1:1\n",
        );
        let (_, h, _) = on_req(
            &rt,
            "GET / HTTP/1.1\r\nHost: Hx\r\nX-Abc: 1\r\nx-a: 2\r\nbb: 3\r\nB: 4\r\nab: 5\r\nx-exact: 6\r\nkeep: 7\r\n\r\n",
        );
        assert_eq!(text(&h), "GET / HTTP/1.1\r\nHost: Hx\r\nkeep: 7\r\n\r\n");
    }

    #[test]
    fn uri_actions() {
        let rt = rt(
            "listen l\n    bind 127.0.0.1:1\n    http-request set-path /p%[path] if { path_beg /sp }\n    http-request set-query q=%[query] if { path_beg /sq }\n    http-request set-query %[str()] if { path_beg /empty }\n    http-request set-uri /u?x=1 if { path_beg /su }\n    http-request set-pathq /pq if { path_beg /xpq }\n    http-request set-method PUT if { path_beg /sm }\n    http-request replace-path /rp/(.*) /new/\\1 if { path_beg /rp }\n    http-request replace-uri ^http://([^/]*)(.*) https://\\1\\2\n    server s 127.0.0.1:1\n",
        );
        let line = |raw_uri: &str| {
            let (_, h, _) = on_req(&rt, &format!("GET {raw_uri} HTTP/1.1\r\nHost: Hx\r\n\r\n"));
            String::from_utf8(h.uri().to_vec()).unwrap()
                + " "
                + std::str::from_utf8(h.method()).unwrap()
        };
        // Outputs observed with HAProxy 2.6, except the empty query (see set-query).
        assert_eq!(line("/sp/a?q=1"), "/p/sp/a?q=1 GET");
        assert_eq!(line("/sq/a?z=2"), "/sq/a?q=z=2 GET");
        assert_eq!(line("/sq/b"), "/sq/b?q= GET");
        assert_eq!(line("/empty/a?z"), "/empty/a? GET");
        // The manual: no '?' is added for an empty query (HAProxy 2.6 adds one).
        assert_eq!(line("/empty/b"), "/empty/b GET");
        assert_eq!(line("/su/x"), "/u?x=1 GET");
        assert_eq!(line("/xpq/x?y"), "/pq GET");
        assert_eq!(line("/sm"), "/sm PUT");
        assert_eq!(line("/rp/a/b?c"), "/new/a/b?c GET");
        assert_eq!(line("http://Hx/sp/a?q=1"), "https://Hx/p/sp/a?q=1 GET");
        assert_eq!(line("*"), "* GET");
    }

    #[test]
    fn answers_like_haproxy_2_6() {
        let rt = rt(concat!(
            "listen l\n    bind 127.0.0.1:1\n",
            "    http-request deny if { path /deny }\n",
            "    http-request deny deny_status 404 if { path /deny404 }\n",
            "    http-request deny status 429 content-type text/plain string \"slow down\" hdr X-A b if { path /deny429 }\n",
            "    http-request deny status 429 if { path /s429 }\n",
            "    http-request return if { path /ret }\n",
            "    http-request return status 201 content-type text/plain lf-string \"hi %[req.hdr(host)]\" hdr X-R %[path] if { path /ret2 }\n",
            "    http-request return status 204 if { path /r204 }\n",
            "    http-request return status 302 hdr Location /x if { path /r302 }\n",
            "    http-request redirect location /new if { path /redir }\n",
            "    http-request redirect prefix https://x.com code 301 if { path_beg /pfx }\n",
            "    http-request redirect scheme https if { path_beg /sch }\n",
            "    http-request redirect prefix / drop-query append-slash set-cookie SEEN=1 if { path_beg /as }\n",
            "    http-request redirect location /clr clear-cookie USERID= if { path_beg /clr }\n",
            "    http-request redirect location /r308 code 308 if { path /c308 }\n",
            "    http-request tarpit if { path /tarpit }\n",
            "    server s 127.0.0.1:1\n"
        ));
        let get = |p: &str| wire(&on_req(&rt, &format!("GET {p} HTTP/1.1\r\nHost: Hx\r\n\r\n")).0);
        assert_eq!(
            get("/deny"),
            String::from_utf8(default_page(403).to_vec()).unwrap()
        );
        assert!(matches!(
            on_req(&rt, "GET /deny HTTP/1.1\r\n\r\n").0,
            Verdict::Deny(_)
        ));
        assert!(get("/deny404").starts_with("HTTP/1.1 404 Not Found\r\ncontent-length: 83\r\n"));
        assert_eq!(
            get("/deny429"),
            "HTTP/1.1 429 Too Many Requests\r\nx-a: b\r\ncontent-length: 9\r\ncontent-type: text/plain\r\n\r\nslow down"
        );
        assert_eq!(
            get("/s429"),
            "HTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\n\r\n"
        );
        assert_eq!(get("/ret"), "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(
            get("/ret2"),
            "HTTP/1.1 201 Created\r\nx-r: /ret2\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n\r\nhi Hx"
        );
        assert_eq!(get("/r204"), "HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(
            get("/r302"),
            "HTTP/1.1 302 Moved Temporarily\r\nlocation: /x\r\ncontent-length: 0\r\n\r\n"
        );
        assert_eq!(
            get("/redir"),
            "HTTP/1.1 302 Found\r\ncontent-length: 0\r\nlocation: /new\r\ncache-control: no-cache\r\n\r\n"
        );
        assert_eq!(
            get("/pfx/a?b=1"),
            "HTTP/1.1 301 Moved Permanently\r\ncontent-length: 0\r\nlocation: https://x.com/pfx/a?b=1\r\n\r\n"
        );
        assert_eq!(
            get("/sch/x?y"),
            "HTTP/1.1 302 Found\r\ncontent-length: 0\r\nlocation: https://Hx/sch/x?y\r\ncache-control: no-cache\r\n\r\n"
        );
        assert_eq!(
            get("/as/x?q=1"),
            "HTTP/1.1 302 Found\r\ncontent-length: 0\r\nlocation: /as/x/\r\ncache-control: no-cache\r\nset-cookie: SEEN=1; path=/;\r\n\r\n"
        );
        assert_eq!(
            get("/clr"),
            "HTTP/1.1 302 Found\r\ncontent-length: 0\r\nlocation: /clr\r\ncache-control: no-cache\r\nset-cookie: USERID=; path=/; Max-Age=0;\r\n\r\n"
        );
        assert_eq!(
            get("/c308"),
            "HTTP/1.1 308 Permanent Redirect\r\ncontent-length: 0\r\nlocation: /r308\r\n\r\n"
        );
        // A listen has a backend side: tarpit waits `timeout connect` without `timeout tarpit`.
        match on_req(&rt, "GET /tarpit HTTP/1.1\r\n\r\n").0 {
            Verdict::Tarpit(a, ms) => {
                assert_eq!((a.status, ms), (500, 1500));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            on_req(&rt, "GET /other HTTP/1.1\r\n\r\n").0,
            Verdict::Continue
        );
    }

    #[test]
    fn connection_header_and_head_requests() {
        let a = Answer::page(403);
        let mut out = Vec::new();
        a.write(&mut out, Some("close"), false);
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.ends_with("content-type: text/html\r\nconnection: close\r\n\r\n"),
            "{s}"
        );
        // HAProxy's 400 page says it already.
        let mut out = Vec::new();
        Answer::page(400).write(&mut out, Some("close"), true);
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s.matches("connection: close").count(), 1);
    }

    #[test]
    fn allow_stops_the_list_and_rules_see_earlier_edits() {
        let rt = rt(
            "listen l\n    bind 127.0.0.1:1\n    http-request set-header X-Step 1\n    http-request allow if { req.hdr(x-step) 1 } { path /ok }\n    http-request deny\n    server s 127.0.0.1:1\n",
        );
        assert_eq!(on_req(&rt, "GET /ok HTTP/1.1\r\n\r\n").0, Verdict::Continue);
        assert!(matches!(
            on_req(&rt, "GET /no HTTP/1.1\r\n\r\n").0,
            Verdict::Deny(_)
        ));
    }

    #[test]
    fn variables_and_captures() {
        let rt = rt(
            "listen l\n    bind 127.0.0.1:1\n    http-request set-var(txn.host) req.hdr(host),lower\n    http-request set-var(txn.host,ifnotexists) str(other)\n    http-request set-var-fmt(req.both) %[var(txn.host)]:%[path]\n    http-request set-var(sess.n) int(1)\n    http-request unset-var(sess.n) if { path /unset }\n    http-request set-header X-Both %[var(req.both)]\n    http-request set-header X-N %[var(sess.n)]\n    http-request capture req.hdr(host) len 3\n    http-request capture path id 0 if { path /cap }\n    http-request capture path id 7\n    http-request deny if { var(txn.host) -m str blocked.example }\n    server s 127.0.0.1:1\n",
        );
        let (v, h, txn) = on_req(&rt, "GET /a HTTP/1.1\r\nHost: WWW.Example\r\n\r\n");
        assert_eq!(v, Verdict::Continue);
        assert_eq!(h.get(b"x-both"), Some(&b"www.example:/a"[..]));
        assert_eq!(h.get(b"x-n"), Some(&b"1"[..]));
        assert_eq!(txn.req_captures.to_vec(), vec![Some(b"WWW".to_vec())]);
        let (_, h, txn) = on_req(&rt, "GET /unset HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(h.get(b"x-n"), Some(&b""[..]));
        assert!(txn.vars.get(&VarName::parse("sess.n").unwrap()).is_none());
        let (_, _, txn) = on_req(&rt, "GET /cap HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(txn.req_captures.to_vec(), vec![Some(b"/ca".to_vec())]);
        assert!(matches!(
            on_req(&rt, "GET / HTTP/1.1\r\nHost: Blocked.Example\r\n\r\n").0,
            Verdict::Deny(_)
        ));
    }

    #[test]
    fn response_rules() {
        let rt = rt(
            "listen l\n    bind 127.0.0.1:1\n    http-response set-status 299 reason Fine if { res.hdr(x-st) st }\n    http-response set-status 413 if { res.hdr(x-st) st413 }\n    http-response deny if { res.hdr(x-st) rdeny }\n    http-response return status 201 content-type text/plain string resp if { res.hdr(x-st) rret }\n    http-response redirect location /elsewhere if { res.hdr(x-st) rredir }\n    http-response set-header X-Resp %[res.hdr(x-srv)]-%[status]\n    http-response del-header set-cookie\n    http-response set-header X-Path %[path]\n    server s 127.0.0.1:1\n",
        );
        let res = |st: &str| {
            on_res(
                &rt,
                &format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Srv: 9\r\nSet-Cookie: a=1\r\nX-St: {st}\r\n\r\n"
                ),
            )
        };
        let (v, h) = res("st");
        assert_eq!(v, Verdict::Continue);
        // The request is gone when response rules run, as in HAProxy: `path` is empty.
        assert_eq!(
            text(&h),
            "HTTP/1.1 299 Fine\r\nContent-Length: 0\r\nX-Srv: 9\r\nX-St: st\r\nX-Resp: 9-299\r\nX-Path: \r\n\r\n"
        );
        assert!(text(&res("st413").1).starts_with("HTTP/1.1 413 Request Entity Too Large\r\n"));
        let (v, _) = res("rdeny");
        assert_eq!(
            wire(&v),
            String::from_utf8(default_page(502).to_vec()).unwrap()
        );
        assert_eq!(
            wire(&res("rret").0),
            "HTTP/1.1 201 Created\r\ncontent-length: 4\r\ncontent-type: text/plain\r\n\r\nresp"
        );
        assert!(wire(&res("rredir").0).contains("location: /elsewhere\r\n"));
    }

    #[test]
    fn monitor_uri_and_fail() {
        let rt = rt(
            "frontend f\n    bind 127.0.0.1:1\n    monitor-uri /mon\n    monitor fail if { req.hdr(x-fail) 1 }\n    http-request deny\n    default_backend b\nbackend b\n    server s 127.0.0.1:1\n",
        );
        assert_eq!(
            wire(&on_req(&rt, "GET /mon HTTP/1.1\r\n\r\n").0),
            String::from_utf8(default_page(200).to_vec()).unwrap()
        );
        assert!(
            wire(&on_req(&rt, "GET /mon HTTP/1.1\r\nX-Fail: 1\r\n\r\n").0)
                .starts_with("HTTP/1.1 503 ")
        );
        // Only the exact URI (HAProxy 2.6 forwards "/mon?x=1").
        assert!(matches!(
            on_req(&rt, "GET /mon?x=1 HTTP/1.1\r\n\r\n").0,
            Verdict::Deny(_)
        ));
        assert!(
            wire(&on_req(&rt, "GET http://h/mon HTTP/1.1\r\nHost: h\r\n\r\n").0)
                .starts_with("HTTP/1.1 200 ")
        );
    }

    #[test]
    fn legacy_seed_06_accept_encoding() {
        let rt = rt(
            "listen l\n    bind 127.0.0.1:1\n    reqidel ^Accept-Encoding unless { hdr_sub(Accept-Encoding) gzip }\n    reqirep ^Accept-Encoding:\\ .*gzip.* Accept-Encoding:\\ gzip\n    server s 127.0.0.1:1\n",
        );
        let (_, h, _) = on_req(
            &rt,
            "GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: deflate, gzip;q=1.0\r\n\r\n",
        );
        assert_eq!(
            text(&h),
            "GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n"
        );
        let (_, h, _) = on_req(
            &rt,
            "GET / HTTP/1.1\r\nHost: x\r\naccept-encoding: deflate\r\nAccept-Encoding: br\r\nX: y\r\n\r\n",
        );
        assert_eq!(text(&h), "GET / HTTP/1.1\r\nHost: x\r\nX: y\r\n\r\n");
    }

    #[test]
    fn legacy_request_line_and_decisions() {
        let rt = rt(concat!(
            "listen l\n    bind 127.0.0.1:1\n",
            "    reqallow ^X-Trusted:\n",
            "    reqrep ^([^\\ :]*)\\ /static/(.*) \\1\\ /\\2\n",
            "    reqdeny ^GET\\ /admin\n",
            "    reqitarpit ^x-bot:\n",
            "    reqadd X-Added:\\ yes if { path /add }\n",
            "    reqrep ^Host:\\ (.*) X-Old-Host:\\ \\1\n",
            "    reqrep ^Broken:(.*) not\\ a\\ header\n",
            "    server s 127.0.0.1:1\n"
        ));
        let (v, h, _) = on_req(&rt, "GET /static/a.css HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(v, Verdict::Continue);
        assert_eq!(text(&h), "GET /a.css HTTP/1.1\r\nX-Old-Host: h\r\n\r\n");
        assert!(matches!(
            on_req(&rt, "GET /admin HTTP/1.1\r\n\r\n").0,
            Verdict::Deny(_)
        ));
        // reqallow: later allow/deny/tarpit rules are skipped, rewrites still apply.
        let (v, h, _) = on_req(
            &rt,
            "GET /admin HTTP/1.1\r\nX-Trusted: 1\r\nHost: h\r\n\r\n",
        );
        assert_eq!(v, Verdict::Continue);
        assert_eq!(h.get(b"x-old-host"), Some(&b"h"[..]));
        match on_req(&rt, "GET / HTTP/1.1\r\nX-Bot: 1\r\n\r\n").0 {
            Verdict::Tarpit(a, _) => assert_eq!(a.status, 500),
            other => panic!("{other:?}"),
        }
        let (_, h, _) = on_req(&rt, "GET /add HTTP/1.1\r\n\r\n");
        assert_eq!(h.get(b"x-added"), Some(&b"yes"[..]));
        // A rewritten line that is not a header any more is dropped.
        let (_, h, _) = on_req(&rt, "GET / HTTP/1.1\r\nBroken: 1\r\n\r\n");
        assert_eq!(h.len(), 0);
        // A request line that no longer parses is a bad request.
        let rt2 = runtime("listen l\n    bind 127.0.0.1:1\n    reqrep ^GET(.*) nonsense\n    server s 127.0.0.1:1\n").unwrap();
        assert_eq!(
            on_req(&rt2, "GET / HTTP/1.1\r\n\r\n").0,
            Verdict::Answer(Answer::page(400))
        );
    }

    #[test]
    fn legacy_response_rules_and_block() {
        let rt = rt(concat!(
            "listen l\n    bind 127.0.0.1:1\n",
            "    block if { path /blocked }\n",
            "    http-request set-header X-Seen 1\n",
            "    rspirep ^HTTP/1.1\\ 200\\ OK HTTP/1.1\\ 200\\ Fine\n",
            "    rspidel ^Set-Cookie\n",
            "    rspadd X-Rsp:\\ 1\n",
            "    rspdeny ^X-Leak:\n",
            "    server s 127.0.0.1:1\n"
        ));
        assert!(matches!(
            on_req(&rt, "GET /blocked HTTP/1.1\r\n\r\n").0,
            Verdict::Deny(_)
        ));
        let (v, h) = on_res(&rt, "HTTP/1.1 200 OK\r\nSet-Cookie: a\r\nX: 1\r\n\r\n");
        assert_eq!(v, Verdict::Continue);
        assert_eq!(text(&h), "HTTP/1.1 200 Fine\r\nX: 1\r\nX-Rsp: 1\r\n\r\n");
        let (v, _) = on_res(&rt, "HTTP/1.1 200 OK\r\nX-Leak: 1\r\n\r\n");
        assert_eq!(
            wire(&v),
            String::from_utf8(default_page(502).to_vec()).unwrap()
        );
    }

    #[test]
    fn normalizers_from_the_manual() {
        let n = |u: &str, k: Normalizer| {
            normalize(u.as_bytes(), k).map(|v| String::from_utf8(v).unwrap())
        };
        let dd = Normalizer::PathStripDotdot { full: false };
        let full = Normalizer::PathStripDotdot { full: true };
        for (i, o) in [
            ("/foo/../", "/"),
            ("/foo/../bar/", "/bar/"),
            ("/foo/bar/../", "/foo/"),
            ("/../bar/", "/../bar/"),
            ("/bar/../../", "/../"),
            ("/foo//../", "/foo/"),
            ("/foo/%2E%2E/", "/foo/%2E%2E/"),
        ] {
            assert_eq!(n(i, dd).unwrap(), o, "{i}");
        }
        assert_eq!(n("/../bar/", full).unwrap(), "/bar/");
        assert_eq!(n("/bar/../../", full).unwrap(), "/");
        for (i, o) in [
            ("/.", "/"),
            ("/./bar/", "/bar/"),
            ("/a/./a", "/a/a"),
            ("/.well-known/", "/.well-known/"),
        ] {
            assert_eq!(n(i, Normalizer::PathStripDot).unwrap(), o, "{i}");
        }
        assert_eq!(n("//", Normalizer::PathMergeSlashes).unwrap(), "/");
        assert_eq!(
            n("/foo//bar?a//b", Normalizer::PathMergeSlashes).unwrap(),
            "/foo/bar?a//b"
        );
        let dec = Normalizer::PercentDecodeUnreserved { strict: false };
        let dec_strict = Normalizer::PercentDecodeUnreserved { strict: true };
        assert_eq!(n("/%61dmin", dec).unwrap(), "/admin");
        assert_eq!(n("/foo%3Fbar=baz", dec).unwrap(), "/foo%3Fbar=baz");
        assert_eq!(n("/%%36%36", dec).unwrap(), "/%66");
        assert_eq!(n("/%ZZ", dec).unwrap(), "/%ZZ");
        assert!(n("/%%36%36", dec_strict).is_err());
        assert!(n("/%ZZ", dec_strict).is_err());
        let up = Normalizer::PercentToUppercase { strict: false };
        assert_eq!(n("/%6f", up).unwrap(), "/%6F");
        assert_eq!(n("/%zz", up).unwrap(), "/%zz");
        assert!(n("/%zz", Normalizer::PercentToUppercase { strict: true }).is_err());
        let q = Normalizer::QuerySortByName;
        assert_eq!(n("/?c=3&a=1&b=2", q).unwrap(), "/?a=1&b=2&c=3");
        assert_eq!(n("/?aaa=3&a=1&aa=2", q).unwrap(), "/?a=1&aa=2&aaa=3");
        assert_eq!(
            n("/?a=3&b=4&a=1&b=5&a=2", q).unwrap(),
            "/?a=3&a=1&a=2&b=4&b=5"
        );
        assert_eq!(n("/#foo", Normalizer::FragmentStrip).unwrap(), "/");
        assert_eq!(n("/#foo", Normalizer::FragmentEncode).unwrap(), "/%23foo");
    }

    #[test]
    fn compile_errors() {
        let err = |rule: &str| {
            runtime(&format!(
                "listen l\n    bind 127.0.0.1:1\n    {rule}\n    server s 127.0.0.1:1\n"
            ))
            .err()
            .unwrap_or_else(|| panic!("{rule} was accepted"))
        };
        assert!(err("http-request deny deny_status 418").contains("not handled by default"));
        assert!(err("http-request return string x").contains("content-type"));
        assert!(err("http-request set-header X").contains("exactly 2"));
        assert!(err("http-request replace-header X ( y").contains("regex '('"));
        assert!(err("http-request set-var(nope.x) int(1)").contains("unknown scope"));
        assert!(err("http-request set-header X %ci").contains("'%ci'"));
        assert!(err("http-request redirect location /x code 305").contains("305"));
        assert!(err("http-response redirect prefix /x").contains("only 'location'"));
        assert!(err("http-request nonsense-action").contains("unknown action"));
        assert!(err("http-response set-path /x").contains("not usable in 'http-response'"));
        assert!(err("reqrep ^a").contains("exactly two arguments"));
        assert!(err("reqirep ( x").contains("regex '('"));
        assert!(err("block").contains("condition"));
        assert!(err("http-request auth realm").contains("missing realm value"));
        assert!(err("http-request auth bogus").contains("unexpected argument 'bogus'"));
        assert!(
            err("http-request normalize-uri path-strip-dotdot strict")
                .contains("unexpected option")
        );
    }

    #[test]
    fn auth_challenges_like_haproxy_2_6() {
        let rt = rt(
            "userlist L\n    user u insecure-password p\nlisten web\n    bind 127.0.0.1:1\n    option http-use-proxy-header\n    http-request auth if { path /default }\n    http-request auth realm \"Say friend\" unless { http_auth(L) }\n    server s 127.0.0.1:1\n",
        );
        let page = "content-length: 112\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n";
        let body = "\r\n<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n";
        let (v, _, _) = on_req(&rt, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            wire(&v),
            format!(
                "HTTP/1.1 401 Unauthorized\r\n{page}www-authenticate: Basic realm=\"Say friend\"\r\n{body}"
            )
        );
        // No realm: the proxy's name.
        let (v, _, _) = on_req(&rt, "GET /default HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(wire(&v).contains("www-authenticate: Basic realm=\"web\"\r\n"));
        // Valid credentials go on.
        let (v, _, _) = on_req(
            &rt,
            "GET /x HTTP/1.1\r\nHost: a\r\nAuthorization: Basic dTpw\r\n\r\n",
        );
        assert_eq!(v, Verdict::Continue);
        // A request in proxy form with `option http-use-proxy-header`: 407 and
        // Proxy-Authorization.
        let (v, _, _) = on_req(&rt, "GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n");
        let w = wire(&v);
        assert!(w.starts_with("HTTP/1.1 407 Unauthorized\r\n"), "{w}");
        assert!(w.contains("\r\nproxy-authenticate: Basic realm=\"Say friend\"\r\n"));
        assert!(!w.contains("www-authenticate"));
        let (v, _, _) = on_req(
            &rt,
            "GET http://a/x HTTP/1.1\r\nHost: a\r\nAuthorization: Basic dTpw\r\n\r\n",
        );
        assert!(wire(&v).starts_with("HTTP/1.1 407 "));
        let (v, _, _) = on_req(
            &rt,
            "GET http://a/x HTTP/1.1\r\nHost: a\r\nProxy-Authorization: Basic dTpw\r\n\r\n",
        );
        assert_eq!(v, Verdict::Continue);
    }

    #[test]
    fn answers_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let page = dir.path().join("503.http");
        std::fs::write(
            &page,
            "HTTP/1.1 503 Service Unavailable\nContent-Type: text/plain\nContent-Length: 5\n\nsorry",
        )
        .unwrap();
        let body = dir.path().join("favicon.ico");
        std::fs::write(&body, b"\x00\x01icon").unwrap();
        let lf = dir.path().join("hello.txt");
        std::fs::write(&lf, "hello %[req.hdr(host)]\n").unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "").unwrap();
        let rt = rt(&format!(
            "listen l\n    bind 127.0.0.1:1\n    http-request return status 503 errorfile {} if {{ path /e }}\n    http-request return content-type image/x-icon file {} if {{ path /f }}\n    http-request return content-type text/plain lf-file {} if {{ path /lf }}\n    http-request return file {} if {{ path /empty }}\n    server s 127.0.0.1:1\n",
            page.display(),
            body.display(),
            lf.display(),
            empty.display()
        ));
        let get = |p: &str| wire(&on_req(&rt, &format!("GET {p} HTTP/1.1\r\nHost: Hx\r\n\r\n")).0);
        assert_eq!(
            get("/e"),
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nsorry"
        );
        assert_eq!(
            get("/f").into_bytes(),
            b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\ncontent-type: image/x-icon\r\n\r\n\x00\x01icon".to_vec()
        );
        assert!(get("/lf").ends_with("content-type: text/plain\r\n\r\nhello Hx\n"));
        assert_eq!(
            get("/empty"),
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
        );
        let missing = runtime(
            "listen l\n    bind 127.0.0.1:1\n    http-request return content-type a/b file /nonexistent/x\n    server s 127.0.0.1:1\n",
        );
        assert!(
            missing
                .err()
                .unwrap_or_default()
                .contains("cannot read file '/nonexistent/x'")
        );
    }

    #[test]
    fn predefined_http_acls() {
        let rt = rt(concat!(
            "listen l\n    bind 127.0.0.1:1\n",
            "    http-request set-header X-Get 1 if METH_GET\n",
            "    http-request set-header X-Post 1 if METH_POST HTTP_CONTENT\n",
            "    http-request set-header X-10 1 if HTTP_1.0\n",
            "    http-request set-header X-Abs 1 if HTTP_URL_ABS\n",
            "    http-request set-header X-Slash 1 if HTTP_URL_SLASH HTTP\n",
            "    server s 127.0.0.1:1\n"
        ));
        let (_, h, _) = on_req(&rt, "HEAD / HTTP/1.1\r\n\r\n");
        assert_eq!(
            text(&h),
            "HEAD / HTTP/1.1\r\nX-Get: 1\r\nX-Slash: 1\r\n\r\n"
        );
        let (_, h, _) = on_req(
            &rt,
            "POST http://h/ HTTP/1.0\r\nHost: h\r\nContent-Length: 2\r\n\r\nab",
        );
        assert_eq!(h.get(b"x-post"), Some(&b"1"[..]));
        assert_eq!(h.get(b"x-10"), Some(&b"1"[..]));
        assert_eq!(h.get(b"x-abs"), Some(&b"1"[..]));
        assert_eq!(h.get(b"x-slash"), None);
    }

    #[test]
    fn expansion_of_back_references() {
        let re = regex("^(a)(b)?(c)", false).unwrap();
        let caps = re.captures(b"acd").unwrap();
        assert_eq!(expand(br"x\1\2\3\x41\\\q", &caps), b"xacA\\q".to_vec());
        assert_eq!(expand(br"tail\", &caps), b"tail\\".to_vec());
    }
}
