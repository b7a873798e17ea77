//! Sample fetches (manual 7.3.2 to 7.3.6): their names, arguments checked at load time,
//! and evaluation. Internal states and layer 4 here, buffer contents (layer 6) with the
//! TLS hello parsers, and the HTTP fetches once the HTTP stream provides its messages.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;

use super::{Ctx, Resolver, Sample};
use crate::log::record::LogVar;

/// A configured value of the stream's backend (or frontend) that a fetch returns.
#[derive(Debug, Clone, Copy)]
pub enum ProxySetting {
    ConnectTimeout,
    QueueTimeout,
    ServerTimeout,
    TunnelTimeout,
    MaxRetries,
    ClientTimeout,
}

/// The integer a `srv_*` fetch reads from a server.
#[derive(Debug, Clone, Copy)]
pub enum SrvInt {
    ConnFree,
    SessRate,
    Weight,
    IWeight,
    UWeight,
}

#[derive(Debug, Clone)]
pub enum FetchKind {
    /// What the log line knows, under HAProxy 3.x's fetch names (`txn.timer.total` is
    /// `%Ta`, `bytes_in` is `%U`…): read from the record of the line being written, so
    /// only inside log formats.
    Log(crate::log::record::LogVar),
    /// `accept_date([unit])` / `request_date([unit])`: the date of `%t` / `%tr` in
    /// seconds, milliseconds or microseconds.
    LogDate {
        request: bool,
        unit: u32,
    },
    /// `txn.redispatched`.
    LogRedispatched,
    /// `bc_err`, `bc_err_str`: no error (0, "Success") once the server connection was
    /// established (inside a log format: it was; in response rules: a response came).
    BcErr {
        text: bool,
    },
    // Constants and internal states (7.3.2).
    AlwaysTrue,
    AlwaysFalse,
    Str(Vec<u8>),
    Int(i64),
    Bool(bool),
    Ip(IpAddr),
    Bin(Vec<u8>),
    Env(String),
    Date(i64),
    Rand(u64),
    Nbsrv(Option<usize>),
    BeConn(Option<usize>),
    Queue(Option<usize>),
    AvgQueue(Option<usize>),
    Connslots(Option<usize>),
    FeConn(Option<usize>),
    SrvConn(usize, String),
    SrvIsUp(usize, String),
    SrvQueue(usize, String),
    /// `be_sess_rate`, `fe_sess_rate`, `be_conn_free`.
    BeSessRate(Option<usize>),
    FeSessRate(Option<usize>),
    BeConnFree(Option<usize>),
    /// `srv_conn_free`, `srv_sess_rate`, `srv_weight`, `srv_iweight`, `srv_uweight`.
    SrvStat(SrvInt, usize, String),
    Stopping,
    Pid,
    Hostname,
    /// `uptime`, `date_us`, `proc`, `uuid([4|7])`.
    Uptime,
    DateUs,
    Proc,
    Uuid(u8),
    /// `be_connect/queue/server/tunnel_timeout`, `be_max_retries`, `fe_client_timeout`:
    /// the configured values.
    ProxySetting(ProxySetting),
    /// `fe_defbe`: the frontend's default backend.
    FeDefbe,
    // Layer 4 (7.3.3).
    Src,
    SrcPort,
    Dst,
    DstPort,
    SoId,
    /// `unique-id`: the transaction's id from `unique-id-format`.
    UniqueId,
    FeName,
    FeId,
    BeName,
    BeId,
    SrvName,
    SrvId,
    // Layer 6 (7.3.5).
    Payload(usize, usize, Chan),
    PayloadLv(usize, usize, Option<i64>, Chan),
    Len(Chan),
    ReqSslHelloType,
    RepSslHelloType,
    ReqSslSni,
    ReqSslVer,
    ReqRdpCookie(String),
    // HTTP (7.3.6).
    Method,
    Path,
    Pathq,
    Query,
    Url,
    Base,
    UrlParam(String, u8),
    UrlIp,
    UrlPort,
    /// `hdr(name[,occ])`: values split on commas; `full` = `fhdr` (whole lines).
    Hdr {
        res: bool,
        name: Vec<u8>,
        occ: i64,
        full: bool,
    },
    HdrCnt {
        res: bool,
        name: Option<Vec<u8>>,
        full: bool,
    },
    HdrIp {
        res: bool,
        name: Vec<u8>,
        occ: i64,
    },
    Hdrs,
    Cook {
        res: bool,
        name: Vec<u8>,
    },
    CookCnt(Vec<u8>),
    ReqVer,
    ResVer,
    Status,
    HttpFirstReq,
    /// `req.body`, `req.body_len`, `req.body_size`, `req.body_param([name[,i]])`: the body
    /// received so far (`option http-buffer-request`, `wait-for-body`).
    ReqBody,
    ReqBodyLen,
    ReqBodySize,
    ReqBodyParam(Option<Vec<u8>>, bool),
    /// `capture.req.hdr(N)` / `capture.res.hdr(N)`: a frontend capture slot.
    CaptureHdr {
        res: bool,
        idx: usize,
    },
    /// `capture.req.method`, `capture.req.uri`, `capture.req.ver`, `capture.res.ver`: the
    /// messages as received, before any rule rewrote them, usable in both directions.
    CaptureReqMethod,
    CaptureReqUri,
    CaptureReqVer,
    CaptureResVer,
    /// `http_auth(<userlist>)`: whether the request's Basic credentials are valid.
    HttpAuth(std::sync::Arc<crate::auth::Userlist>),
    /// `http_auth_group(<userlist>)`: the user name when the credentials are valid (its
    /// ACL form matches the user's groups, see `acl`).
    HttpAuthGroup(std::sync::Arc<crate::auth::Userlist>),
    HttpAuthUser,
    HttpAuthPass,
    HttpAuthType,
    /// `http_auth_bearer([<header>])`.
    HttpAuthBearer(Option<Vec<u8>>),
    /// `var(scope.name[,default])`: the default is returned as a string when unset.
    Var(super::vars::VarName, Option<Vec<u8>>),
    /// The stick counter fetches (`sc0_get_gpc0`, `src_http_req_rate(T)`, `table_cnt`…).
    Stick(Box<super::fetch_stick::StickFetch>),
    Ssl(super::fetch_ssl::SslFetch),
}

/// The channel a buffer fetch reads: `req.*`, `res.*`, or, for `payload` and
/// `payload_lv`, the one of the rule evaluating it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chan {
    Req,
    Res,
    Auto,
}

impl Chan {
    fn of(name: &str) -> Chan {
        if name.starts_with("req.") {
            Chan::Req
        } else if name.starts_with("res.") {
            Chan::Res
        } else {
            Chan::Auto
        }
    }

    fn bytes<'c>(self, ctx: &Ctx<'c>) -> &'c [u8] {
        match self {
            Chan::Req => ctx.req_payload,
            Chan::Res => ctx.res_payload,
            Chan::Auto if ctx.res_dir => ctx.res_payload,
            Chan::Auto => ctx.req_payload,
        }
    }
}

/// Whether a TLS record is still being received: too short to be judged, or shorter than
/// its announced length (a buffer that is not TLS at all is judged at once).
fn tls_incomplete(p: &[u8]) -> bool {
    match p {
        [] => true,
        [0x16] | [0x16, 3] => true,
        [0x16, 3, ..] if p.len() < 9 => true,
        [0x16, 3, _, a, b, _, h0, h1, h2, ..] => {
            let hs_len = ((*h0 as usize) << 16) | ((*h1 as usize) << 8) | *h2 as usize;
            p.len() < 5 + u16::from_be_bytes([*a, *b]) as usize || p.len() < hs_len
        }
        _ => false,
    }
}

#[derive(Debug, Clone)]
pub struct Fetch {
    pub kind: FetchKind,
    /// The name as written (for messages).
    pub name: String,
}

fn int_arg(args: &[String], i: usize, name: &str) -> Result<i64, String> {
    let a = args.get(i).ok_or_else(|| {
        format!(
            "fetch method '{name}' expects an integer argument #{}",
            i + 1
        )
    })?;
    a.trim()
        .parse::<i64>()
        .map_err(|_| format!("fetch method '{name}': invalid integer '{a}'"))
}

fn proxy_arg(
    args: &[String],
    name: &str,
    res: &dyn Resolver,
    backend: bool,
) -> Result<Option<usize>, String> {
    match args.first() {
        None => Ok(res.current()),
        Some(p) => {
            let found = if backend {
                res.backend(p)
            } else {
                res.frontend(p)
            };
            found.map(Some).ok_or_else(|| {
                format!(
                    "fetch method '{name}': no such {} '{p}'",
                    if backend { "backend" } else { "frontend" }
                )
            })
        }
    }
}

/// Resolves `[backend/]server` for the `srv_*` fetches: the backend now, the server by
/// name at evaluation time (servers may be added at runtime).
fn server_arg(args: &[String], name: &str, res: &dyn Resolver) -> Result<(usize, String), String> {
    let a = args
        .first()
        .ok_or_else(|| format!("fetch method '{name}' expects [<backend>/]<server>"))?;
    let (b, s) = match a.split_once('/') {
        Some((b, s)) => (
            res.backend(b)
                .ok_or_else(|| format!("fetch method '{name}': no such backend '{b}'"))?,
            s,
        ),
        None => (
            res.current()
                .ok_or_else(|| format!("fetch method '{name}': no backend here"))?,
            a.as_str(),
        ),
    };
    Ok((b, s.to_string()))
}

impl FetchKind {
    /// `payload_lv`: the announced length reaches beyond the bytes received.
    fn eval_lv_short(&self, p: &[u8]) -> bool {
        let FetchKind::PayloadLv(off, len, off2, _) = self else {
            return false;
        };
        let Some(lenbytes) = p.get(*off..off.saturating_add(*len)) else {
            return true;
        };
        let n = lenbytes.iter().fold(0usize, |n, b| {
            n.saturating_mul(256).saturating_add(*b as usize)
        });
        let start = match off2 {
            Some(o) if *o < 0 => (off + len).saturating_sub(o.unsigned_abs() as usize),
            Some(o) => *o as usize,
            None => off + len,
        };
        p.len() < start.saturating_add(n)
    }
}

impl Fetch {
    /// Whether the fetch reads a buffer that is still being filled and may give another
    /// answer with more data (HAProxy's `SMP_F_MAY_CHANGE`), after it failed to give a
    /// sample (`found` false) or gave one that did not match. Content rules wait on it.
    pub fn may_change(&self, ctx: &Ctx<'_>, found: bool) -> bool {
        use FetchKind::*;
        match &self.kind {
            Payload(off, len, c) => !found && c.bytes(ctx).len() < off.saturating_add(*len).max(1),
            PayloadLv(off, len, _, c) => {
                let p = c.bytes(ctx);
                !found && (p.len() < off.saturating_add(*len) || self.kind.eval_lv_short(p))
            }
            Len(_) => true,
            ReqSslHelloType | ReqSslSni | ReqSslVer => !found && tls_incomplete(ctx.req_payload),
            RepSslHelloType => !found && tls_incomplete(ctx.res_payload),
            ReqRdpCookie(name) => {
                !found && rdp_cookie_ex(ctx.req_payload, name.as_bytes()) == Err(true)
            }
            _ => false,
        }
    }

    /// Compiles a fetch by name with its arguments.
    pub fn compile(name: &str, args: Vec<String>, res: &dyn Resolver) -> Result<Fetch, String> {
        use FetchKind::*;
        let kind = match name {
            "always_true" => AlwaysTrue,
            "always_false" => AlwaysFalse,
            "str" => Str(args.first().cloned().unwrap_or_default().into_bytes()),
            "int" => Int(int_arg(&args, 0, name)?),
            "bool" => Bool(int_arg(&args, 0, name)? != 0),
            "ipv4" | "ipv6" => Ip(args
                .first()
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| format!("fetch method '{name}' expects an address"))?),
            "bin" => Bin(decode_hex(args.first().map(String::as_str).unwrap_or(""))
                .ok_or_else(|| format!("fetch method '{name}' expects hexadecimal digits"))?),
            "env" => Env(args
                .first()
                .cloned()
                .ok_or_else(|| "fetch method 'env' expects a variable name".to_string())?),
            "date" => Date(if args.is_empty() {
                0
            } else {
                int_arg(&args, 0, name)?
            }),
            "rand" => Rand(if args.is_empty() {
                1 << 32
            } else {
                int_arg(&args, 0, name)?.max(1) as u64
            }),
            "nbsrv" => Nbsrv(proxy_arg(&args, name, res, true)?),
            "be_conn" => BeConn(proxy_arg(&args, name, res, true)?),
            "queue" => Queue(proxy_arg(&args, name, res, true)?),
            "avg_queue" => AvgQueue(proxy_arg(&args, name, res, true)?),
            "connslots" => Connslots(proxy_arg(&args, name, res, true)?),
            "fe_conn" => FeConn(proxy_arg(&args, name, res, false)?),
            "srv_conn" => {
                let (b, s) = server_arg(&args, name, res)?;
                SrvConn(b, s)
            }
            "srv_is_up" => {
                let (b, s) = server_arg(&args, name, res)?;
                SrvIsUp(b, s)
            }
            "srv_queue" => {
                let (b, s) = server_arg(&args, name, res)?;
                SrvQueue(b, s)
            }
            "be_sess_rate" => BeSessRate(proxy_arg(&args, name, res, true)?),
            "fe_sess_rate" => FeSessRate(proxy_arg(&args, name, res, false)?),
            "be_conn_free" => BeConnFree(proxy_arg(&args, name, res, true)?),
            "srv_conn_free" | "srv_sess_rate" | "srv_weight" | "srv_iweight" | "srv_uweight" => {
                let (b, s) = server_arg(&args, name, res)?;
                let op = match name {
                    "srv_conn_free" => SrvInt::ConnFree,
                    "srv_sess_rate" => SrvInt::SessRate,
                    "srv_weight" => SrvInt::Weight,
                    "srv_iweight" => SrvInt::IWeight,
                    _ => SrvInt::UWeight,
                };
                SrvStat(op, b, s)
            }
            "stopping" => Stopping,
            "uptime" => Uptime,
            "bytes_in" | "req.bytes_in" => Log(LogVar::BytesIn),
            "bytes_out" | "res.bytes_out" => Log(LogVar::BytesOut),
            // halo forwards what it received: the request's bytes sent to the server are
            // those received from the client, the response's sent to the client those
            // received from the server (both counted as HAProxy counts them, HTX size).
            "req.bytes_out" => Log(LogVar::BytesIn),
            "res.bytes_in" => Log(LogVar::BytesOut),
            "fc.timer.handshake" => Log(LogVar::Th),
            "fc.timer.total" => Log(LogVar::Tt),
            "bc.timer.connect" => Log(LogVar::Tc),
            "req.timer.hdr" => Log(LogVar::TR),
            "req.timer.idle" => Log(LogVar::Ti),
            "req.timer.queue" => Log(LogVar::Tw),
            "req.timer.tq" => Log(LogVar::Tq),
            "res.timer.hdr" => Log(LogVar::Tr),
            "res.timer.data" => Log(LogVar::Td),
            "txn.timer.total" => Log(LogVar::Ta),
            "txn.timer.user" => Log(LogVar::Tu),
            "txn.status" => Log(LogVar::Status),
            "txn.sess_term_state" => Log(LogVar::TermState),
            "txn.conn_retries" => Log(LogVar::Retries),
            "txn.id32" => Log(LogVar::ReqCounter),
            "txn.redispatched" => LogRedispatched,
            "bc_err" => BcErr { text: false },
            "bc_err_str" => BcErr { text: true },
            "accept_date" | "request_date" => LogDate {
                request: name == "request_date",
                unit: match args.first().map(String::as_str) {
                    None | Some("s") => 1,
                    Some("ms") => 1_000,
                    Some("us") => 1_000_000,
                    Some(u) => {
                        return Err(format!(
                            "fetch method '{name}' : unknown unit '{u}', expects 's', 'ms' or 'us'"
                        ));
                    }
                },
            },
            "date_us" => DateUs,
            "proc" => Proc,
            "uuid" => Uuid(match args.first().map(|a| a.trim()) {
                None | Some("" | "4") => 4,
                Some("7") => 7,
                Some(v) => return Err(format!("Unsupported UUID version: '{v}'")),
            }),
            "be_connect_timeout" => ProxySetting(self::ProxySetting::ConnectTimeout),
            "be_queue_timeout" => ProxySetting(self::ProxySetting::QueueTimeout),
            "be_server_timeout" => ProxySetting(self::ProxySetting::ServerTimeout),
            "be_tunnel_timeout" => ProxySetting(self::ProxySetting::TunnelTimeout),
            "be_max_retries" => ProxySetting(self::ProxySetting::MaxRetries),
            "fe_client_timeout" => ProxySetting(self::ProxySetting::ClientTimeout),
            "fe_defbe" => FeDefbe,
            "pid" => Pid,
            "hostname" => Hostname,
            "src" => Src,
            "src_port" => SrcPort,
            "dst" => Dst,
            "dst_port" => DstPort,
            "so_id" => SoId,
            "unique-id" => UniqueId,
            "fe_name" => FeName,
            "fe_id" => FeId,
            "be_name" => BeName,
            "be_id" => BeId,
            "srv_name" => SrvName,
            "srv_id" => SrvId,
            "payload" | "req.payload" | "res.payload" => Payload(
                int_arg(&args, 0, name)? as usize,
                int_arg(&args, 1, name)? as usize,
                Chan::of(name),
            ),
            "payload_lv" | "req.payload_lv" | "res.payload_lv" => PayloadLv(
                int_arg(&args, 0, name)? as usize,
                int_arg(&args, 1, name)? as usize,
                if args.len() > 2 {
                    Some(int_arg(&args, 2, name)?)
                } else {
                    None
                },
                Chan::of(name),
            ),
            "req.len" | "req_len" => Len(Chan::Req),
            "res.len" => Len(Chan::Res),
            "req.ssl_hello_type" | "req_ssl_hello_type" => ReqSslHelloType,
            "res.ssl_hello_type" | "rep_ssl_hello_type" => RepSslHelloType,
            "req.ssl_sni" | "req_ssl_sni" => ReqSslSni,
            "req.ssl_ver" | "req_ssl_ver" => ReqSslVer,
            "method" => Method,
            "path" => Path,
            "pathq" => Pathq,
            "query" => Query,
            "url" | "req.uri" => Url,
            "base" => Base,
            "url_param" | "urlp" => UrlParam(
                args.first().cloned().unwrap_or_default(),
                args.get(1).and_then(|d| d.bytes().next()).unwrap_or(b'&'),
            ),
            "url_ip" => UrlIp,
            "url_port" => UrlPort,
            "req.hdr" | "hdr" | "res.hdr" | "shdr" | "req.fhdr" | "fhdr" | "res.fhdr" => {
                let res = name.starts_with("res.") || name == "shdr";
                let full = name.ends_with("fhdr");
                match args.first() {
                    Some(h) => Hdr {
                        res,
                        name: h.as_bytes().to_vec(),
                        occ: if args.len() > 1 {
                            int_arg(&args, 1, name)?
                        } else {
                            -1
                        },
                        full,
                    },
                    // Without a name: every header (ACL use only, as HAProxy).
                    None => Hdr {
                        res,
                        name: Vec::new(),
                        occ: -1,
                        full,
                    },
                }
            }
            "req.hdr_cnt" | "hdr_cnt" | "res.hdr_cnt" | "shdr_cnt" | "req.fhdr_cnt"
            | "fhdr_cnt" | "res.fhdr_cnt" => HdrCnt {
                res: name.starts_with("res.") || name.starts_with("shdr"),
                name: args.first().map(|h| h.as_bytes().to_vec()),
                full: name.contains("fhdr"),
            },
            "req.hdr_ip" | "hdr_ip" | "res.hdr_ip" | "shdr_ip" => HdrIp {
                res: name.starts_with("res.") || name.starts_with("shdr"),
                name: args
                    .first()
                    .ok_or_else(|| format!("fetch method '{name}' expects a header name"))?
                    .as_bytes()
                    .to_vec(),
                occ: if args.len() > 1 {
                    int_arg(&args, 1, name)?
                } else {
                    -1
                },
            },
            "req.hdrs" => Hdrs,
            "req.cook" | "cook" | "res.cook" | "scook" => Cook {
                res: name.starts_with("res.") || name == "scook",
                name: args.first().cloned().unwrap_or_default().into_bytes(),
            },
            "req.cook_cnt" | "cook_cnt" => {
                CookCnt(args.first().cloned().unwrap_or_default().into_bytes())
            }
            "req.ver" | "req_ver" => ReqVer,
            "res.ver" | "resp_ver" => ResVer,
            "status" => Status,
            "http_first_req" => HttpFirstReq,
            "req.body" => ReqBody,
            "req.body_len" => ReqBodyLen,
            "req.body_size" => ReqBodySize,
            "req.body_param" => ReqBodyParam(
                args.first()
                    .filter(|n| !n.is_empty())
                    .map(|n| n.as_bytes().to_vec()),
                match args.get(1).map(String::as_str) {
                    None | Some("") => false,
                    Some("i") => true,
                    Some(o) => {
                        return Err(format!(
                            "fetch method '{name}' : second argument must be 'i', not '{o}'"
                        ));
                    }
                },
            ),
            "capture.req.hdr" | "capture.res.hdr" => CaptureHdr {
                res: name == "capture.res.hdr",
                idx: usize::try_from(int_arg(&args, 0, name)?)
                    .map_err(|_| format!("'{name}' expects a slot number"))?,
            },
            "capture.req.method" => CaptureReqMethod,
            "capture.req.uri" => CaptureReqUri,
            "capture.req.ver" => CaptureReqVer,
            "capture.res.ver" => CaptureResVer,
            "http_auth" | "http_auth_group" => {
                let [list] = args.as_slice() else {
                    return Err(format!(
                        "fetch method '{name}' expects exactly one argument: a userlist name"
                    ));
                };
                let ul = res.userlist(list).ok_or_else(|| {
                    format!("fetch method '{name}': unable to find userlist '{list}'")
                })?;
                if name == "http_auth" {
                    HttpAuth(ul)
                } else {
                    HttpAuthGroup(ul)
                }
            }
            "http_auth_user" | "http_auth_pass" | "http_auth_type" => {
                if !args.is_empty() {
                    return Err(format!("fetch method '{name}' takes no argument"));
                }
                match name {
                    "http_auth_user" => HttpAuthUser,
                    "http_auth_pass" => HttpAuthPass,
                    _ => HttpAuthType,
                }
            }
            "http_auth_bearer" => {
                if args.len() > 1 {
                    return Err(format!("fetch method '{name}' takes at most one argument"));
                }
                HttpAuthBearer(
                    args.first()
                        .filter(|h| !h.is_empty())
                        .map(|h| h.as_bytes().to_vec()),
                )
            }
            "var" => {
                let name = args
                    .first()
                    .ok_or_else(|| "fetch method 'var' expects a variable name".to_string())?;
                let v = super::vars::VarName::parse(name)
                    .map_err(|e| format!("fetch method 'var': {e}"))?;
                Var(v, args.get(1).map(|d| d.clone().into_bytes()))
            }
            "req.rdp_cookie" | "rdp_cookie" => {
                ReqRdpCookie(args.first().cloned().unwrap_or_default())
            }
            _ => match super::fetch_stick::compile(name, &args, res) {
                Some(f) => Stick(Box::new(f?)),
                None if let Some(f) = super::fetch_ssl::compile(name, &args) => Ssl(f?),
                None => {
                    return Err(match super::pending::pending_fetch(name) {
                        Some(issue) => format!(
                            "fetch method '{name}' {}{}",
                            halo_config::NOT_BUILT,
                            crate::sample::pending::issue_suffix(issue)
                        ),
                        None => format!("unknown fetch method '{name}'"),
                    });
                }
            },
        };
        Ok(Fetch {
            kind,
            name: name.to_string(),
        })
    }

    /// What the fetch produces.
    pub fn output_kind(&self) -> super::OutputKind {
        use super::OutputKind as O;
        use FetchKind::*;
        match &self.kind {
            Log(v) if v.numeric() => O::Int,
            Log(_) | BcErr { text: true } => O::Str,
            LogDate { .. } | BcErr { text: false } => O::Int,
            LogRedispatched => O::Bool,
            AlwaysTrue | AlwaysFalse | Bool(_) | SrvIsUp(..) | Stopping => O::Bool,
            Int(_) | Date(_) | Rand(_) | Nbsrv(_) | BeConn(_) | Queue(_) | AvgQueue(_)
            | Connslots(_) | FeConn(_) | SrvConn(..) | SrvQueue(..) | BeSessRate(_)
            | FeSessRate(_) | BeConnFree(_) | SrvStat(..) | Uptime | DateUs | Proc
            | ProxySetting(_) | Pid | SrcPort | DstPort | SoId | FeId | BeId | SrvId | Len(_)
            | ReqSslHelloType | RepSslHelloType | ReqSslVer => O::Int,
            Ip(_) | Src | Dst => O::Ip,
            Bin(_) | Payload(..) | PayloadLv(..) => O::Bin,
            Str(_) | Env(_) | Hostname | Uuid(_) | FeDefbe | FeName | BeName | SrvName
            | ReqSslSni | ReqRdpCookie(_) | UniqueId => O::Str,
            Method
            | Path
            | Pathq
            | Query
            | Url
            | Base
            | UrlParam(..)
            | Hdr { .. }
            | Hdrs
            | Cook { .. }
            | ReqVer
            | ResVer
            | CaptureHdr { .. }
            | CaptureReqMethod
            | CaptureReqUri
            | CaptureReqVer
            | CaptureResVer
            | ReqBodyParam(..) => O::Str,
            ReqBody => O::Bin,
            ReqBodyLen | ReqBodySize => O::Int,
            HdrCnt { .. } | CookCnt(_) | Status | UrlPort => O::Int,
            HdrIp { .. } | UrlIp => O::Ip,
            HttpFirstReq | HttpAuth(_) => O::Bool,
            HttpAuthGroup(_) | HttpAuthUser | HttpAuthPass | HttpAuthType | HttpAuthBearer(_) => {
                O::Str
            }
            // The stored type is only known at run time; strings match like HAProxy's.
            Var(..) => O::Str,
            Stick(f) => f.output_kind(),
            Ssl(f) => f.output_kind(),
        }
    }

    /// Evaluates to one sample.
    pub fn eval<'c>(&'c self, ctx: &'c Ctx<'c>) -> Option<Sample<'c>> {
        use FetchKind::*;
        let rt = ctx.rt;
        let be = |i: &Option<usize>| -> Option<&crate::server::Backend> {
            rt?.proxies.get((*i)?)?.backend.as_deref()
        };
        Some(match &self.kind {
            Log(v) => {
                let rec = ctx.log?;
                let mut out = Vec::new();
                rec.render(*v, Default::default(), &mut out);
                if v.numeric() {
                    Sample::Int(std::str::from_utf8(&out).ok()?.parse().ok()?)
                } else {
                    Sample::Str(Cow::Owned(out))
                }
            }
            LogDate { request, unit } => {
                let rec = ctx.log?;
                let (secs, us) = if *request {
                    rec.request_date
                } else {
                    rec.accept
                };
                let u = i64::from(*unit);
                Sample::Int(secs * u + i64::from(us) * u / 1_000_000)
            }
            LogRedispatched => Sample::Bool(ctx.log?.redispatched),
            BcErr { text } => {
                let connected = match ctx.log {
                    Some(rec) => rec.timers.connect >= 0,
                    None => ctx.res.is_some(),
                };
                if !connected {
                    return None;
                }
                if *text {
                    Sample::Str(Cow::Borrowed(b"Success"))
                } else {
                    Sample::Int(0)
                }
            }
            AlwaysTrue => Sample::Bool(true),
            AlwaysFalse => Sample::Bool(false),
            Str(s) => Sample::Str(Cow::Borrowed(s)),
            Int(i) => Sample::Int(*i),
            Bool(b) => Sample::Bool(*b),
            Ip(ip) => Sample::Ip(*ip),
            Bin(b) => Sample::Bin(Cow::Borrowed(b)),
            Env(n) => Sample::Str(Cow::Owned(std::env::var(n).ok()?.into_bytes())),
            Date(off) => Sample::Int(crate::stats::now_sec() as i64 + off),
            Rand(range) => Sample::Int((fastrand::u64(..) % range) as i64),
            Nbsrv(i) => Sample::Int(be(i)?.nbsrv() as i64),
            BeConn(i) => Sample::Int(be(i)?.counters.scur.load(Relaxed) as i64),
            Queue(i) => {
                let (q, sq) = be(i)?.queue_lengths();
                Sample::Int((q + sq.iter().sum::<usize>()) as i64)
            }
            AvgQueue(i) => {
                let b = be(i)?;
                let (q, sq) = b.queue_lengths();
                let n = b.nbsrv().max(1);
                Sample::Int(((q + sq.iter().sum::<usize>()) / n) as i64)
            }
            Connslots(i) => {
                let b = be(i)?;
                let mut total: i64 = 0;
                for s in b.servers.iter().filter(|s| s.usable()) {
                    let max = s.maxconn.load(Relaxed);
                    if max == 0 {
                        return Some(Sample::Int(-1));
                    }
                    total += max as i64 - s.cur.load(Relaxed) as i64;
                }
                Sample::Int(total)
            }
            FeConn(i) => {
                let fe = rt?.proxies.get((*i).or(ctx.frontend)?)?.frontend.as_ref()?;
                Sample::Int(fe.counters.scur.load(Relaxed) as i64)
            }
            SrvConn(b, name) | SrvIsUp(b, name) | SrvQueue(b, name) => {
                let backend = be(&Some(*b))?;
                let (idx, srv) = backend.find_server(name)?;
                match &self.kind {
                    SrvConn(..) => Sample::Int(srv.cur.load(Relaxed) as i64),
                    SrvIsUp(..) => Sample::Bool(srv.is_up()),
                    _ => {
                        Sample::Int(backend.queue_lengths().1.get(idx).copied().unwrap_or(0) as i64)
                    }
                }
            }
            BeSessRate(i) => Sample::Int(be(i)?.counters.rate(crate::stats::now_sec()) as i64),
            FeSessRate(i) => {
                let fe = rt?.proxies.get((*i).or(ctx.frontend)?)?.frontend.as_ref()?;
                Sample::Int(fe.counters.rate(crate::stats::now_sec()) as i64)
            }
            BeConnFree(i) => Sample::Int(be(i)?.conn_free()),
            SrvStat(op, b, name) => {
                let backend = be(&Some(*b))?;
                let (_, srv) = backend.find_server(name)?;
                Sample::Int(match op {
                    SrvInt::ConnFree => match backend.effective_maxconn(srv) {
                        0 => -1,
                        max => (max as i64 - srv.cur.load(Relaxed) as i64).max(0),
                    },
                    SrvInt::SessRate => srv.counters.rate(crate::stats::now_sec()) as i64,
                    SrvInt::Weight => srv.effective_weight(false, true) as i64,
                    SrvInt::IWeight => srv.cfg.weight as i64,
                    SrvInt::UWeight => srv.uweight.load(Relaxed) as i64,
                })
            }
            Stopping => Sample::Bool(rt?.stopping.load(Relaxed)),
            Pid => Sample::Int(std::process::id() as i64),
            Hostname => Sample::Str(Cow::Owned(crate::runtime::hostname().into_bytes())),
            Uptime => Sample::Int(crate::stats::now_sec().saturating_sub(rt?.start_sec) as i64),
            DateUs => Sample::Int(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()?
                    .subsec_micros() as i64,
            ),
            Proc => Sample::Int(1),
            Uuid(v) => Sample::Str(Cow::Owned(uuid(*v).into_bytes())),
            ProxySetting(which) => {
                use self::ProxySetting as P;
                let ms = |v: Option<u64>| v.unwrap_or(0) as i64;
                if let P::ClientTimeout = which {
                    let fe = rt?.proxies.get(ctx.frontend?)?.frontend.as_ref()?;
                    return Some(Sample::Int(ms(fe.client_timeout)));
                }
                let st = &rt?.proxies.get(ctx.backend?)?.backend.as_ref()?.settings;
                Sample::Int(match which {
                    P::ConnectTimeout => ms(st.connect_timeout),
                    P::QueueTimeout => ms(st.queue_timeout),
                    P::ServerTimeout => ms(st.server_timeout),
                    P::TunnelTimeout => ms(st.tunnel_timeout),
                    P::MaxRetries => st.retries as i64,
                    P::ClientTimeout => 0,
                })
            }
            FeDefbe => {
                let px = rt?.proxies.get(ctx.frontend?)?;
                let b = px.frontend.as_ref()?.default_backend?;
                Sample::Str(Cow::Borrowed(rt?.proxies.get(b)?.name.as_bytes()))
            }
            Src => Sample::Ip(ctx.src?.ip()),
            SrcPort => Sample::Int(ctx.src?.port() as i64),
            Dst => Sample::Ip(ctx.dst?.ip()),
            DstPort => Sample::Int(ctx.dst?.port() as i64),
            SoId => Sample::Int(ctx.listener_id as i64),
            UniqueId => Sample::Str(std::borrow::Cow::Owned(ctx.unique_id?.to_vec())),
            FeName => Sample::Str(Cow::Borrowed(
                rt?.proxies.get(ctx.frontend?)?.name.as_bytes(),
            )),
            FeId => Sample::Int(rt?.proxies.get(ctx.frontend?)?.id as i64),
            BeName => Sample::Str(Cow::Borrowed(
                rt?.proxies.get(ctx.backend?)?.name.as_bytes(),
            )),
            BeId => Sample::Int(rt?.proxies.get(ctx.backend?)?.id as i64),
            SrvName => Sample::Str(Cow::Borrowed(ctx.server?.name.as_bytes())),
            SrvId => Sample::Int(ctx.server?.id as i64),
            Payload(off, len, c) => {
                let p = c.bytes(ctx);
                let end = if *len == 0 {
                    p.len()
                } else {
                    off.checked_add(*len)?
                };
                Sample::Bin(Cow::Borrowed(p.get(*off..end)?))
            }
            PayloadLv(off, len, off2, c) => {
                let p = c.bytes(ctx);
                let lenbytes = p.get(*off..off.checked_add(*len)?)?;
                let mut n: usize = 0;
                for b in lenbytes {
                    n = n.checked_mul(256)?.checked_add(*b as usize)?;
                }
                // A zero length never matches (as HAProxy: an empty TLS session id is
                // no key).
                if n == 0 {
                    return None;
                }
                let start = match off2 {
                    Some(o) if *o < 0 => (off + len).checked_sub(o.unsigned_abs() as usize)?,
                    Some(o) => *o as usize,
                    None => off + len,
                };
                Sample::Bin(Cow::Borrowed(p.get(start..start.checked_add(n)?)?))
            }
            Len(c) => Sample::Int(c.bytes(ctx).len() as i64),
            ReqSslHelloType => Sample::Int(tls_hello_type(ctx.req_payload)? as i64),
            RepSslHelloType => Sample::Int(tls_hello_type(ctx.res_payload)? as i64),
            ReqSslSni => Sample::Str(Cow::Borrowed(tls_sni(ctx.req_payload)?)),
            ReqSslVer => Sample::Int(tls_version(ctx.req_payload)? as i64),
            ReqRdpCookie(name) => {
                Sample::Str(Cow::Borrowed(rdp_cookie(ctx.req_payload, name.as_bytes())?))
            }
            Method => Sample::Str(Cow::Borrowed(ctx.req?.method())),
            Path => Sample::Str(Cow::Borrowed(http::path(ctx.req?.uri()))),
            Pathq => Sample::Str(Cow::Borrowed(http::pathq(ctx.req?.uri()))),
            Query => Sample::Str(Cow::Borrowed(http::query(ctx.req?.uri())?)),
            Url => Sample::Str(Cow::Borrowed(ctx.req?.uri())),
            Base => {
                let req = ctx.req?;
                let mut v = req.get(b"host").unwrap_or_default().to_vec();
                v.extend_from_slice(http::path(req.uri()));
                Sample::Str(Cow::Owned(v))
            }
            UrlParam(name, delim) => {
                let q = http::query(ctx.req?.uri())?;
                Sample::Str(Cow::Borrowed(http::param(q, name.as_bytes(), *delim)?))
            }
            UrlIp => {
                let a = crate::http::h1::authority(ctx.req?.uri())?;
                let host = http::host_of(a);
                Sample::Ip(std::str::from_utf8(host).ok()?.parse().ok()?)
            }
            UrlPort => {
                let a = crate::http::h1::authority(ctx.req?.uri())?;
                Sample::Int(http::port_of(a)?)
            }
            Hdr {
                res,
                name,
                occ,
                full,
            } => {
                let head = if *res { ctx.res? } else { ctx.req? };
                let vals = http::values(head, name, *full);
                Sample::Str(Cow::Borrowed(http::occurrence(&vals, *occ)?))
            }
            HdrCnt { res, name, full } => {
                let head = if *res { ctx.res? } else { ctx.req? };
                let n = match name {
                    Some(n) => http::values(head, n, *full).len(),
                    None => head.len(),
                };
                Sample::Int(n as i64)
            }
            HdrIp { res, name, occ } => {
                let head = if *res { ctx.res? } else { ctx.req? };
                let vals = http::values(head, name, false);
                let v = http::occurrence(&vals, *occ)?;
                Sample::Ip(http::parse_ip_value(v)?)
            }
            Hdrs => {
                let req = ctx.req?;
                let mut v = Vec::new();
                for (n, val) in req.headers() {
                    v.extend_from_slice(n);
                    v.extend_from_slice(b": ");
                    v.extend_from_slice(val);
                    v.extend_from_slice(b"\r\n");
                }
                v.extend_from_slice(b"\r\n");
                Sample::Str(Cow::Owned(v))
            }
            Cook { res, name } => {
                let head = if *res { ctx.res? } else { ctx.req? };
                let hname: &[u8] = if *res { b"set-cookie" } else { b"cookie" };
                Sample::Str(Cow::Borrowed(http::cookie(head, hname, name, *res)?))
            }
            CookCnt(name) => Sample::Int(http::cookie_count(ctx.req?, name) as i64),
            ReqVer => Sample::Str(Cow::Borrowed(http::version_str(ctx.req?))),
            ResVer => Sample::Str(Cow::Borrowed(http::version_str(ctx.res?))),
            Status => Sample::Int(ctx.res?.status() as i64),
            HttpFirstReq => Sample::Bool(ctx.first_req),
            ReqBody => Sample::Bin(request_body(ctx)?),
            ReqBodyLen => Sample::Int(request_body(ctx)?.len() as i64),
            ReqBodySize => {
                let req = ctx.req?;
                match crate::http::h1::request_framing(req).ok()? {
                    crate::http::h1::Framing::Length(n) => Sample::Int(n as i64),
                    _ => Sample::Int(request_body(ctx)?.len() as i64),
                }
            }
            ReqBodyParam(name, nocase) => {
                let body = request_body(ctx)?;
                let v = form_param(&body, name.as_deref(), *nocase)?;
                Sample::Str(match body {
                    Cow::Borrowed(b) => Cow::Borrowed(&b[v]),
                    Cow::Owned(b) => Cow::Owned(b[v].to_vec()),
                })
            }
            CaptureHdr { res, idx } => {
                let slots = if *res { ctx.res_caps } else { ctx.req_caps };
                Sample::Str(Cow::Owned(slots?.get(*idx)?))
            }
            CaptureReqMethod => Sample::Str(Cow::Borrowed(ctx.received?.method()?)),
            CaptureReqUri => {
                // From the first slash (no scheme nor authority); `*` and an absolute URI
                // without a path have none, the fetch fails as in HAProxy.
                let p = http::pathq(ctx.received?.uri()?);
                if !p.starts_with(b"/") {
                    return None;
                }
                Sample::Str(Cow::Borrowed(p))
            }
            CaptureReqVer => Sample::Str(Cow::Borrowed(ctx.received?.req_version()?.as_bytes())),
            CaptureResVer => Sample::Str(Cow::Borrowed(ctx.received?.res_version()?.as_bytes())),
            HttpAuth(_) | HttpAuthGroup(_) | HttpAuthUser | HttpAuthPass | HttpAuthType
            | HttpAuthBearer(None) => {
                use crate::auth::Credentials;
                let req = ctx.req?;
                let proxy_form = ctx
                    .rt
                    .zip(ctx.frontend)
                    .and_then(|(rt, f)| rt.proxies.get(f))
                    .is_some_and(|p| crate::auth::proxy_form(p.http.use_proxy_header, req));
                let creds = crate::auth::credentials(req, proxy_form)?;
                match (&self.kind, creds) {
                    (HttpAuthType, c) => Sample::Str(Cow::Borrowed(c.scheme())),
                    (HttpAuthBearer(_), Credentials::Bearer(t)) => Sample::Str(Cow::Borrowed(t)),
                    (HttpAuth(ul), Credentials::Basic { user, pass }) => {
                        Sample::Bool(ul.check(&user, &pass))
                    }
                    (HttpAuthGroup(ul), Credentials::Basic { user, pass }) => {
                        if !ul.check(&user, &pass) {
                            return None;
                        }
                        Sample::Str(Cow::Owned(user))
                    }
                    (HttpAuthUser, Credentials::Basic { user, .. }) => {
                        Sample::Str(Cow::Owned(user))
                    }
                    (HttpAuthPass, Credentials::Basic { pass, .. }) => {
                        Sample::Str(Cow::Owned(pass))
                    }
                    _ => return None,
                }
            }
            HttpAuthBearer(Some(h)) => {
                Sample::Str(Cow::Borrowed(crate::auth::bearer_in(ctx.req?, h)?))
            }
            Var(v, default) => {
                let found = match v.scope {
                    super::vars::Scope::Proc => super::vars::proc_get(&v.name),
                    _ => ctx.vars.and_then(|vars| vars.get(v)),
                };
                match (found, default) {
                    (Some(s), _) => s,
                    (None, Some(d)) => Sample::Str(Cow::Borrowed(d)),
                    (None, None) => return None,
                }
            }
            Stick(f) => f.eval(ctx)?,
            Ssl(f) => f.eval(ctx)?,
        })
    }

    /// Calls `f` on each value of the fetch until it returns true (every occurrence of a
    /// header for `hdr()` and friends, as ACLs match them).
    pub fn each<'c>(&'c self, ctx: &'c Ctx<'c>, f: &mut dyn FnMut(Sample<'c>) -> bool) {
        match &self.kind {
            FetchKind::Hdr {
                res, name, full, ..
            } => {
                let Some(head) = (if *res { ctx.res } else { ctx.req }) else {
                    return;
                };
                if name.is_empty() {
                    for (_, v) in head.headers() {
                        if f(Sample::Str(Cow::Borrowed(v))) {
                            return;
                        }
                    }
                    return;
                }
                for v in http::values(head, name, *full) {
                    if f(Sample::Str(Cow::Borrowed(v))) {
                        return;
                    }
                }
            }
            FetchKind::HdrIp { res, name, .. } => {
                let Some(head) = (if *res { ctx.res } else { ctx.req }) else {
                    return;
                };
                for v in http::values(head, name, false) {
                    if let Some(ip) = http::parse_ip_value(v)
                        && f(Sample::Ip(ip))
                    {
                        return;
                    }
                }
            }
            _ => {
                if let Some(s) = self.eval(ctx) {
                    f(s);
                }
            }
        }
    }
}

/// Pieces of HTTP messages the fetches look at.
mod http {
    use crate::http::h1::{Head, Version};
    use std::net::IpAddr;

    /// The part of the request target without scheme and authority.
    fn origin(uri: &[u8]) -> &[u8] {
        if uri.first() == Some(&b'/') || uri == b"*" {
            return uri;
        }
        if let Some(p) = uri.windows(3).position(|w| w == b"://") {
            let rest = &uri[p + 3..];
            return match rest.iter().position(|&c| c == b'/' || c == b'?') {
                Some(i) => &rest[i..],
                None => b"",
            };
        }
        uri
    }

    pub fn path(uri: &[u8]) -> &[u8] {
        let o = origin(uri);
        match o.iter().position(|&c| c == b'?') {
            Some(i) => &o[..i],
            None => o,
        }
    }

    pub fn pathq(uri: &[u8]) -> &[u8] {
        origin(uri)
    }

    pub fn query(uri: &[u8]) -> Option<&[u8]> {
        let i = uri.iter().position(|&c| c == b'?')?;
        Some(&uri[i + 1..])
    }

    /// The value of `name=` in a query string (the first occurrence).
    pub fn param<'a>(q: &'a [u8], name: &[u8], delim: u8) -> Option<&'a [u8]> {
        for part in q.split(|&c| c == delim) {
            if let Some(rest) = part.strip_prefix(name)
                && let Some(v) = rest.strip_prefix(b"=")
            {
                return Some(v);
            }
        }
        None
    }

    pub fn host_of(authority: &[u8]) -> &[u8] {
        if authority.first() == Some(&b'[')
            && let Some(e) = authority.iter().position(|&c| c == b']')
        {
            return &authority[1..e];
        }
        match authority.iter().rposition(|&c| c == b':') {
            Some(i) => &authority[..i],
            None => authority,
        }
    }

    pub fn port_of(authority: &[u8]) -> Option<i64> {
        let i = authority.iter().rposition(|&c| c == b':')?;
        std::str::from_utf8(&authority[i + 1..]).ok()?.parse().ok()
    }

    /// Values of a header: every line (`full`) or every comma-separated value, trimmed.
    pub fn values<'a>(head: &'a Head, name: &[u8], full: bool) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        for v in head.get_all(name) {
            if full {
                out.push(v.trim_ascii());
            } else {
                for part in v.split(|&c| c == b',') {
                    out.push(part.trim_ascii());
                }
            }
        }
        out
    }

    /// Occurrence `occ` (1 = first, -1 = last, 0 = last as HAProxy does in expressions).
    pub fn occurrence<'a>(vals: &[&'a [u8]], occ: i64) -> Option<&'a [u8]> {
        if occ > 0 {
            vals.get(occ as usize - 1).copied()
        } else {
            let back = if occ == 0 {
                1
            } else {
                occ.unsigned_abs() as usize
            };
            vals.len()
                .checked_sub(back)
                .and_then(|i| vals.get(i).copied())
        }
    }

    pub fn parse_ip_value(v: &[u8]) -> Option<IpAddr> {
        let s = std::str::from_utf8(v).ok()?.trim();
        s.parse().ok().or_else(|| {
            // "ip:port" and "[v6]:port" forms.
            let h = host_of(s.as_bytes());
            std::str::from_utf8(h).ok()?.parse().ok()
        })
    }

    /// A cookie's value: `Cookie: a=1; b=2` (request) or the first `Set-Cookie: name=…`.
    pub fn cookie<'a>(head: &'a Head, hname: &[u8], name: &[u8], set: bool) -> Option<&'a [u8]> {
        for line in head.get_all(hname) {
            if set {
                let first = line.split(|&c| c == b';').next().unwrap_or_default();
                if let Some((k, v)) = split_eq(first)
                    && k == name
                {
                    return Some(v);
                }
                continue;
            }
            for part in line.split(|&c| c == b';') {
                if let Some((k, v)) = split_eq(part)
                    && k == name
                {
                    return Some(v);
                }
            }
        }
        None
    }

    pub fn cookie_count(head: &Head, name: &[u8]) -> usize {
        let mut n = 0;
        for line in head.get_all(b"cookie") {
            for part in line.split(|&c| c == b';') {
                if let Some((k, _)) = split_eq(part)
                    && (name.is_empty() || k == name)
                {
                    n += 1;
                }
            }
        }
        n
    }

    fn split_eq(part: &[u8]) -> Option<(&[u8], &[u8])> {
        let part = part.trim_ascii();
        let i = part.iter().position(|&c| c == b'=')?;
        Some((part[..i].trim_ascii(), part[i + 1..].trim_ascii()))
    }

    pub fn version_str(head: &Head) -> &'static [u8] {
        match head.version() {
            Version::Http10 => b"1.0",
            Version::Http11 => b"1.1",
        }
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok())
        .collect()
}

/// The TLS handshake message type in a buffer starting with a TLS record (1 = ClientHello,
/// 2 = ServerHello), as `req.ssl_hello_type` reports it.
/// As HAProxy, the answer needs the handshake header (9 bytes) and at least as many bytes
/// as the handshake message announces.
pub fn tls_hello_type(p: &[u8]) -> Option<u8> {
    if p.len() < 9 || p[0] != 0x16 || p[1] != 3 || u16::from_be_bytes([p[3], p[4]]) < 4 {
        return None;
    }
    let hs_len = ((p[6] as usize) << 16) | ((p[7] as usize) << 8) | p[8] as usize;
    if p.len() < hs_len {
        return None;
    }
    Some(p[5])
}

/// The client version of a ClientHello as HAProxy's `req.ssl_ver` gives it: major << 16 |
/// minor (0x30003 for TLS 1.2, which ACLs write `3.3`).
fn tls_version(p: &[u8]) -> Option<u32> {
    if p.len() < 11 || p[0] != 0x16 || p[1] != 3 || p[5] != 1 {
        return None;
    }
    let msg_len = u16::from_be_bytes([p[3], p[4]]) as usize;
    if !(6..=(1 << 14) + 2048).contains(&msg_len) || p.len() < 5 + msg_len {
        return None;
    }
    Some(((p[9] as u32) << 16) | p[10] as u32)
}

/// The SNI of a ClientHello.
pub fn tls_sni(p: &[u8]) -> Option<&[u8]> {
    if tls_hello_type(p)? != 1 {
        return None;
    }
    let rec_len = u16::from_be_bytes([p[3], p[4]]) as usize;
    let body = p.get(5..5 + rec_len)?;
    // Handshake header (4) + version (2) + random (32).
    let mut i = 4 + 2 + 32;
    let sid_len = *body.get(i)? as usize;
    i += 1 + sid_len;
    let cs_len = u16::from_be_bytes([*body.get(i)?, *body.get(i + 1)?]) as usize;
    i += 2 + cs_len;
    let comp_len = *body.get(i)? as usize;
    i += 1 + comp_len;
    let ext_len = u16::from_be_bytes([*body.get(i)?, *body.get(i + 1)?]) as usize;
    i += 2;
    let exts = body.get(i..i + ext_len)?;
    let mut j = 0;
    while j + 4 <= exts.len() {
        let ty = u16::from_be_bytes([exts[j], exts[j + 1]]);
        let len = u16::from_be_bytes([exts[j + 2], exts[j + 3]]) as usize;
        let data = exts.get(j + 4..j + 4 + len)?;
        if ty == 0 {
            // server_name_list: list length (2), type (1), name length (2), name.
            let name_len = u16::from_be_bytes([*data.get(3)?, *data.get(4)?]) as usize;
            return data.get(5..5 + name_len);
        }
        j += 4 + len;
    }
    None
}

/// The value of the RDP cookie `name` (any name when empty) of a connection request, as
/// HAProxy reads it: `Cookie:` right after the 11 bytes of TPKT and X.224 headers, then
/// `NAME=VALUE\r\n`.
pub fn rdp_cookie<'a>(p: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    rdp_cookie_ex(p, name).ok()
}

/// Err(true): too short to tell yet; Err(false): no such cookie.
pub fn rdp_cookie_ex<'a>(p: &'a [u8], name: &[u8]) -> Result<&'a [u8], bool> {
    if p.len() <= 11 + 7 {
        return Err(true);
    }
    let mut d = &p[11..];
    if !d[..7].eq_ignore_ascii_case(b"Cookie:") {
        return Err(false);
    }
    d = &d[7..];
    while let [b' ', rest @ ..] = d {
        d = rest;
    }
    if !name.is_empty() {
        if d.len() <= name.len() {
            return Err(true);
        }
        if d[name.len()] != b'=' || !d[..name.len()].eq_ignore_ascii_case(name) {
            return Err(false);
        }
        d = &d[name.len() + 1..];
    } else {
        let eq = d
            .iter()
            .position(|&c| c == b'=' || c == b'\r' || c == b'\n');
        match eq {
            None => return Err(true),
            Some(i) if d[i] != b'=' => return Err(false),
            Some(i) => d = &d[i + 1..],
        }
    }
    let end = d.iter().position(|&c| c == b'\r').unwrap_or(d.len());
    match d.get(end..end + 2) {
        None => Err(true),
        Some(b"\r\n") => Ok(&d[..end]),
        Some(_) => Err(false),
    }
}

/// The request body received so far, without its chunked framing.
fn request_body<'c>(ctx: &Ctx<'c>) -> Option<Cow<'c, [u8]>> {
    use crate::http::h1::{Framing, request_framing};
    let req = ctx.req?;
    let raw = ctx.req_payload;
    match request_framing(req).ok()? {
        Framing::Length(n) => {
            let n = usize::try_from(n).unwrap_or(usize::MAX).min(raw.len());
            Some(Cow::Borrowed(&raw[..n]))
        }
        Framing::Chunked => Some(Cow::Owned(dechunk(raw))),
        _ => Some(Cow::Borrowed(&[])),
    }
}

/// The value range of parameter `name` (the first parameter when None) in an
/// `application/x-www-form-urlencoded` body.
fn form_param(body: &[u8], name: Option<&[u8]>, nocase: bool) -> Option<std::ops::Range<usize>> {
    let mut pos = 0;
    for part in body.split(|&c| c == b'&') {
        let start = pos;
        pos += part.len() + 1;
        let (k, vstart) = match part.iter().position(|&c| c == b'=') {
            Some(i) => (&part[..i], start + i + 1),
            None => (part, start + part.len()),
        };
        let hit = match name {
            None => true,
            Some(n) if nocase => k.eq_ignore_ascii_case(n),
            Some(n) => k == n,
        };
        if hit {
            return Some(vstart..start + part.len());
        }
    }
    None
}

/// The data of the complete chunks at the start of a chunked body (what HAProxy's
/// `req.body` shows: the payload without sizes, extensions and trailers).
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = raw.iter().position(|&c| c == b'\n') else {
            return out;
        };
        let line = &raw[..eol];
        let hex_end = line
            .iter()
            .position(|c| !c.is_ascii_hexdigit())
            .unwrap_or(line.len());
        let Some(size) = std::str::from_utf8(&line[..hex_end])
            .ok()
            .and_then(|h| usize::from_str_radix(h, 16).ok())
        else {
            return out;
        };
        if size == 0 {
            return out;
        }
        let data = &raw[eol + 1..];
        let take = size.min(data.len());
        out.extend_from_slice(&data[..take]);
        if take < size {
            return out;
        }
        // Skip the data and its CRLF.
        let rest = &data[size..];
        raw = match rest {
            [b'\r', b'\n', r @ ..] | [b'\n', r @ ..] => r,
            _ => return out,
        };
    }
}

/// A UUID (RFC 9562) of version 4 (random) or 7 (Unix time in ms, then random), in its
/// text form.
fn uuid(version: u8) -> String {
    let mut b: [u8; 16] = fastrand::u128(..).to_be_bytes();
    if version == 7 {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    }
    b[6] = (b[6] & 0x0f) | (version << 4);
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sample::tests::NoNames as R;

    #[test]
    fn payload_lv() {
        let f = Fetch::compile("payload_lv", vec!["2".into(), "1".into()], &R).unwrap();
        let data = [9u8, 9, 3, b'a', b'b', b'c', b'd'];
        let mut ctx = Ctx::empty();
        ctx.req_payload = &data;
        assert_eq!(f.eval(&ctx), Some(Sample::Bin(Cow::Borrowed(b"abc"))));
        let short = [9u8, 9, 5, b'a'];
        ctx.req_payload = &short;
        assert_eq!(f.eval(&ctx), None);
        let empty = [9u8, 9, 0, b'a'];
        ctx.req_payload = &empty;
        assert_eq!(f.eval(&ctx), None, "a zero length gives no sample");
    }

    #[test]
    fn http_fetches() {
        use crate::http::h1::{Head, Limits, parse_request};
        let raw = b"GET http://static.x/a/b.jpg?x=1&id=42 HTTP/1.1\r\nHost: Static.X\r\nX-F: 1.2.3.4, 5.6.7.8\r\nCookie: a=1; PHPSESSID=abc\r\n\r\n";
        let mut h = Head::new();
        parse_request(raw, &Limits::default(), &mut h)
            .unwrap()
            .unwrap();
        let mut ctx = Ctx::empty();
        ctx.req = Some(&h);
        let ev = |name: &str, args: &[&str]| {
            let f = Fetch::compile(name, args.iter().map(|s| s.to_string()).collect(), &R).unwrap();
            f.eval(&ctx).map(|s| s.into_owned())
        };
        let s = |v: &str| Some(Sample::Str(Cow::Owned(v.as_bytes().to_vec())));
        assert_eq!(ev("path", &[]), s("/a/b.jpg"));
        assert_eq!(ev("query", &[]), s("x=1&id=42"));
        assert_eq!(ev("url_param", &["id"]), s("42"));
        assert_eq!(ev("method", &[]), s("GET"));
        assert_eq!(ev("req.hdr", &["host"]), s("Static.X"));
        assert_eq!(ev("hdr", &["x-f"]), s("5.6.7.8"));
        assert_eq!(ev("hdr", &["x-f", "1"]), s("1.2.3.4"));
        assert_eq!(ev("hdr_cnt", &["x-f"]), Some(Sample::Int(2)));
        assert_eq!(
            ev("hdr_ip", &["x-f"]),
            Some(Sample::Ip("5.6.7.8".parse().unwrap()))
        );
        assert_eq!(ev("cook", &["PHPSESSID"]), s("abc"));
        assert_eq!(ev("base", &[]), s("Static.X/a/b.jpg"));
        assert_eq!(ev("req.ver", &[]), s("1.1"));
        let all = Fetch::compile("hdr", vec!["x-f".into()], &R).unwrap();
        let mut seen = Vec::new();
        all.each(&ctx, &mut |v| {
            seen.push(v.to_bytes().into_owned());
            false
        });
        assert_eq!(seen, vec![b"1.2.3.4".to_vec(), b"5.6.7.8".to_vec()]);
    }

    #[test]
    fn capture_fetches_read_what_was_received() {
        use crate::http::h1::{Head, Limits, parse_request};
        use crate::sample::Received;
        let mut h = Head::new();
        parse_request(
            b"GET http://a.example/p/q?x=1 HTTP/1.0\r\nHost: a.example\r\n\r\n",
            &Limits::default(),
            &mut h,
        )
        .unwrap()
        .unwrap();
        let mut rec = Received::default();
        rec.request(&h);
        // Rewriting the message afterwards changes nothing for these fetches.
        h.set_method(b"POST");
        h.set_uri(b"/other");
        let mut ctx = Ctx::empty();
        ctx.received = Some(&rec);
        let ev = |name: &str, ctx: &Ctx<'_>| {
            let f = Fetch::compile(name, vec![], &R).unwrap();
            f.eval(ctx).map(|s| s.to_bytes().into_owned())
        };
        assert_eq!(ev("capture.req.method", &ctx).as_deref(), Some(&b"GET"[..]));
        assert_eq!(
            ev("capture.req.uri", &ctx).as_deref(),
            Some(&b"/p/q?x=1"[..])
        );
        assert_eq!(
            ev("capture.req.ver", &ctx).as_deref(),
            Some(&b"HTTP/1.0"[..])
        );
        assert_eq!(ev("capture.res.ver", &ctx), None);
        assert_eq!(ev("capture.req.method", &Ctx::empty()), None);
    }

    #[test]
    fn unknown_fetch() {
        assert!(Fetch::compile("nope", vec![], &R).is_err());
        assert!(Fetch::compile("int", vec!["x".into()], &R).is_err());
    }

    #[test]
    fn client_hello_sni() {
        // A minimal ClientHello with SNI "example.com".
        let name = b"example.com";
        let mut sni = vec![0u8, 0];
        let list_len = (3 + name.len()) as u16;
        let mut ext = Vec::new();
        ext.extend_from_slice(&list_len.to_be_bytes());
        ext.push(0);
        ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
        ext.extend_from_slice(name);
        sni.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        sni.extend_from_slice(&ext);
        let mut hello = vec![3, 3];
        hello.extend_from_slice(&[0u8; 32]);
        hello.push(0); // session id
        hello.extend_from_slice(&[0, 2, 0x13, 0x01]); // cipher suites
        hello.extend_from_slice(&[1, 0]); // compression
        hello.extend_from_slice(&(sni.len() as u16).to_be_bytes());
        hello.extend_from_slice(&sni);
        let mut hs = vec![1u8, 0];
        hs.extend_from_slice(&(hello.len() as u16).to_be_bytes());
        hs.extend_from_slice(&hello);
        let mut rec = vec![0x16u8, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        assert_eq!(tls_hello_type(&rec), Some(1));
        assert_eq!(tls_sni(&rec), Some(name.as_slice()));
        assert_eq!(tls_sni(&rec[..20]), None);
    }
}
