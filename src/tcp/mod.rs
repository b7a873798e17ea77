//! `tcp-request connection|session|content` and `tcp-response content` rules with their
//! `inspect-delay`: compiled once per proxy, then run by the stream at each stage, the
//! content stages again as data arrives until a rule decides or the buffer is final.

use std::net::{IpAddr, SocketAddr};

use halo_config::Diags;
use halo_config::model::Proxy;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::acl::{AclCtx, AclSet, Cond};
use crate::sample::logfmt::LogFormat;
use crate::sample::vars::{self, SetCond, VarName, Vars};
use crate::sample::{Ctx, Expr, Resolver, Sample};

/// What a rule does when its condition holds.
enum Act {
    Accept,
    Reject,
    /// `tcp-response content close`: the server side is closed.
    Close,
    SilentDrop,
    /// `tcp-request connection expect-proxy layer4`.
    ExpectProxy,
    SetVar(VarName, Vec<SetCond>, Box<Expr>),
    SetVarFmt(VarName, Vec<SetCond>, LogFormat),
    UnsetVar(VarName),
    SetSrc(Box<Expr>),
    SetSrcPort(Box<Expr>),
    SetDst(Box<Expr>),
    SetDstPort(Box<Expr>),
    /// `track-scN <key> [table <table>]`: the session (connection and session rules) or
    /// the stream (content rules) tracks that entry in counter N.
    Track {
        slot: usize,
        key: Box<Expr>,
        table: crate::stick::track::TableRef,
    },
    /// `sc-inc-gpc0(N)` / `sc-inc-gpc1(N)` / `sc-inc-gpc(I,N)`: the counter (element
    /// `idx` of an array) and its rate.
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
    /// `sc-set-gpt0(N)` / `sc-set-gpt(I,N)` `<int>|<expr>`.
    ScSetGpt {
        slot: usize,
        idx: usize,
        gpt: crate::stick::DataType,
        value: Result<i64, Box<Expr>>,
    },
    /// `tcp-request content capture <sample> len <length>`: request capture `slot`.
    Capture {
        expr: Box<Expr>,
        len: usize,
        slot: usize,
    },
    /// `tcp-request content set-retries <int>|<expr>`: the stream's connection retries.
    SetRetries(Result<u32, Box<Expr>>),
    /// `tcp-request content set-priority-class|offset <expr>` (true: the class).
    SetPriority(bool, Box<Expr>),
    /// `set-log-level <level>|silent` (content rules).
    SetLogLevel(u8),
    /// `do-log [profile <name>]`.
    DoLog(Option<std::sync::Arc<str>>),
    /// An action still planned (the start refuses the configuration; see keywords.rs).
    Planned,
}

struct Rule {
    act: Act,
    cond: Option<Cond>,
}

/// The TCP rules of one proxy.
#[derive(Default)]
pub struct TcpRules {
    pub req_inspect_delay: Option<u64>,
    pub res_inspect_delay: Option<u64>,
    connection: Vec<Rule>,
    session: Vec<Rule>,
    content: Vec<Rule>,
    response: Vec<Rule>,
}

/// Which rule set to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Connection,
    Session,
    Content,
    Response,
}

/// The end of a rule set's evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// An `accept` rule, or no rule decided: go on.
    Accept,
    Reject,
    Close,
    SilentDrop,
    /// A condition could not be decided with the data so far: evaluate again from rule
    /// `resume` when more data arrived (or the buffer became final).
    Wait {
        resume: usize,
    },
}

/// What the rules may read and change while they run.
pub struct Env<'a> {
    pub rt: &'a crate::compile::Runtime,
    pub frontend: usize,
    pub backend: Option<usize>,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub req: &'a [u8],
    pub res: &'a [u8],
    /// The inspected buffer will not grow any more.
    pub final_: bool,
    pub vars: Option<&'a Vars>,
    pub head: Option<&'a crate::http::h1::Head>,
    pub first_req: bool,
    /// The stick counters of the session (`track-sc*`, `sc_*` fetches).
    pub tracked: Option<&'a mut crate::stick::track::Tracked>,
    /// The request capture slots of the stream (`capture`, `capture.req.hdr`).
    pub req_caps: Option<&'a crate::sample::CaptureSlots>,
    /// The stream's connection retries, as `set-retries` left them (None: the backend's).
    pub retries: Option<u32>,
    /// The stream's queue priority (class, offset in ms), as `set-priority-*` left it.
    pub prio: (i32, i32),
    /// What the client connection's TLS handshake negotiated.
    pub tls: Option<&'a crate::tls::TlsInfo>,
    /// What the connection to the server negotiated (`ssl_bc_*`, `ssl_s_*`).
    pub bc_tls: Option<&'a crate::tls::TlsInfo>,
    /// The stream's log level, as `set-log-level` left it.
    pub log_level: Option<u8>,
    /// `do-log` rules that ran: the caller sends their lines.
    pub do_logs: Vec<crate::log::DoLog>,
}

impl Env<'_> {
    fn ctx(&self, res_dir: bool) -> Ctx<'_> {
        Ctx {
            rt: Some(self.rt),
            src: Some(self.src),
            dst: Some(self.dst),
            frontend: Some(self.frontend),
            backend: self.backend,
            server: None,
            listener_id: 0,
            req_payload: self.req,
            res_payload: self.res,
            req_final: self.final_,
            res_dir,
            req: self.head,
            res: None,
            first_req: self.first_req,
            vars: self.vars,
            req_caps: self.req_caps,
            res_caps: None,
            received: None,
            tracked: self.tracked.as_deref(),
            tls: self.tls,
            bc_tls: self.bc_tls,
            unique_id: None,
            log: None,
        }
    }
}

fn compile_act(args: &[String], res: &dyn Resolver) -> Result<Act, String> {
    let word = args.first().map(String::as_str).unwrap_or_default();
    let base = word.split('(').next().unwrap_or(word);
    let rest = args.get(1..).unwrap_or_default();
    let one_expr = |what: &str| -> Result<Box<Expr>, String> {
        match rest {
            [e] => Ok(Box::new(Expr::parse(e, res)?)),
            _ => Err(format!("'{what}' expects exactly one sample expression")),
        }
    };
    let none = |a: Act| -> Result<Act, String> {
        if rest.is_empty() || base == "expect-proxy" {
            Ok(a)
        } else {
            Err(format!("'{base}' takes no argument, found '{}'", rest[0]))
        }
    };
    Ok(match base {
        "accept" => none(Act::Accept)?,
        "reject" => none(Act::Reject)?,
        "close" => none(Act::Close)?,
        "silent-drop" => none(Act::SilentDrop)?,
        "expect-proxy" => none(Act::ExpectProxy)?,
        "set-src" => Act::SetSrc(one_expr(base)?),
        "set-src-port" => Act::SetSrcPort(one_expr(base)?),
        "set-dst" => Act::SetDst(one_expr(base)?),
        "set-dst-port" => Act::SetDstPort(one_expr(base)?),
        "set-retries" => Act::SetRetries(crate::http::rules::parse_set_retries(rest, res)?),
        "set-priority-class" => Act::SetPriority(true, one_expr(base)?),
        "set-priority-offset" => Act::SetPriority(false, one_expr(base)?),
        "set-log-level" => Act::SetLogLevel(crate::http::rules::parse_log_level(rest)?),
        "do-log" => Act::DoLog(crate::http::rules::parse_do_log(rest)?),
        "set-var" | "set-var-fmt" | "unset-var" => {
            let inner = word
                .strip_prefix(base)
                .and_then(|w| w.strip_prefix('('))
                .and_then(|w| w.strip_suffix(')'))
                .ok_or_else(|| format!("'{base}' expects a variable name between parentheses"))?;
            let (var, conds) = vars::parse_set_target(inner)?;
            if !var.settable() {
                return Err(format!("variable '{}' cannot be set or unset", var.full));
            }
            match base {
                "unset-var" => none(Act::UnsetVar(var))?,
                "set-var" => Act::SetVar(var, conds, one_expr(base)?),
                _ => match rest {
                    [f] => Act::SetVarFmt(var, conds, LogFormat::parse(f, res)?),
                    _ => return Err("'set-var-fmt' expects exactly one format".into()),
                },
            }
        }
        b if halo_config::keywords::track_sc_number(b).is_some() => {
            let slot = halo_config::keywords::track_sc_number(b).unwrap_or_default();
            let max = res.stick_counters();
            if slot >= max {
                return Err(format!(
                    "{slot} track-sc number exceeding {} (tune.stick-counters-1) value",
                    max as i64 - 1
                ));
            }
            let (key, table) = match rest {
                [k] => (k, None),
                [k, t, n] if t == "table" => (k, Some(n.as_str())),
                _ => return Err(format!("'{base}' expects <key> [table <table>]")),
            };
            let key = Box::new(Expr::parse(key, res)?);
            let table = res.table(table).ok_or_else(|| match table {
                Some(t) => format!("unable to find table '{t}'"),
                None => "no table in this proxy; use 'table <table>'".to_string(),
            })?;
            Act::Track {
                slot,
                key,
                table: crate::stick::track::TableRef(table),
            }
        }
        "sc-inc-gpc0" | "sc-inc-gpc1" => {
            let slot = match word.strip_prefix(base) {
                Some("") => 0,
                Some(w) => w
                    .strip_prefix('(')
                    .and_then(|w| w.strip_suffix(')'))
                    .and_then(|n| n.trim().parse::<usize>().ok())
                    .filter(|&n| n < res.stick_counters())
                    .ok_or_else(|| format!("invalid stick counter in '{word}'"))?,
                None => 0,
            };
            use crate::stick::DataType::*;
            let (gpc, rate) = if base == "sc-inc-gpc0" {
                (Gpc0, Gpc0Rate)
            } else {
                (Gpc1, Gpc1Rate)
            };
            none(Act::ScIncGpc {
                slot,
                idx: 0,
                gpc,
                rate,
            })?
        }
        "sc-inc-gpc" => {
            let (idx, slot) =
                crate::http::rules::sc_idx_id(word, base, "gpc", res.stick_counters())?;
            use crate::stick::DataType::*;
            none(Act::ScIncGpc {
                slot,
                idx,
                gpc: Gpc,
                rate: GpcRate,
            })?
        }
        "sc-set-gpt0" | "sc-set-gpt" | "sc-add-gpc" => {
            let (idx, slot) = if base == "sc-set-gpt0" {
                let slot = match word.strip_prefix(base) {
                    Some("") | None => 0,
                    Some(w) => w
                        .strip_prefix('(')
                        .and_then(|w| w.strip_suffix(')'))
                        .and_then(|n| n.trim().parse::<usize>().ok())
                        .filter(|&n| n < res.stick_counters())
                        .ok_or_else(|| format!("invalid stick counter in '{word}'"))?,
                };
                (0, slot)
            } else {
                crate::http::rules::sc_idx_id(word, base, &base[7..10], res.stick_counters())?
            };
            let value = match rest {
                [v] => match v.parse::<i64>() {
                    Ok(n) => Ok(n),
                    Err(_) => Err(Box::new(Expr::parse(v, res)?)),
                },
                _ => return Err(format!("'{base}' expects exactly one <int>|<expr>")),
            };
            match base {
                "sc-add-gpc" => Act::ScAddGpc { slot, idx, value },
                _ => Act::ScSetGpt {
                    slot,
                    idx,
                    gpt: if base == "sc-set-gpt" {
                        crate::stick::DataType::Gpt
                    } else {
                        crate::stick::DataType::Gpt0
                    },
                    value,
                },
            }
        }
        _ => Act::Planned,
    })
}

impl TcpRules {
    /// Compiles the TCP rules of `p` (the parser checked the actions against 4.3).
    pub fn compile(
        p: &Proxy,
        acls: &AclSet,
        registry: &crate::pattern::Registry,
        resolver: &dyn Resolver,
        diags: &mut Diags,
    ) -> TcpRules {
        let mut out = TcpRules {
            req_inspect_delay: p.settings.tcp_req_inspect_delay,
            res_inspect_delay: p.settings.tcp_res_inspect_delay,
            ..TcpRules::default()
        };
        for (i, r) in p.rules.iter().enumerate() {
            let list = match r.keyword.as_str() {
                "tcp-request connection" => &mut out.connection,
                "tcp-request session" => &mut out.session,
                "tcp-request content" => &mut out.content,
                "tcp-response content" => &mut out.response,
                _ => continue,
            };
            let fail = |diags: &mut Diags, e: String| {
                diags.alert(
                    &r.loc,
                    format!(
                        "error detected in {} '{}' while parsing '{}' rule : {e}.",
                        p.kind.name(),
                        p.name,
                        r.keyword
                    ),
                )
            };
            let located = crate::sample::Located::new(resolver, &r.loc.file, r.loc.line);
            let cond = match &r.cond {
                None => None,
                Some(c) => {
                    let acx = AclCtx {
                        file: &r.loc.file,
                        line: r.loc.line,
                        registry,
                        resolver: &located,
                    };
                    match Cond::compile(c, acls, &acx) {
                        Ok(c) => Some(c),
                        Err(e) => {
                            fail(diags, e);
                            continue;
                        }
                    }
                }
            };
            if let Some(e) = crate::http::rules::needs_backend(r, p) {
                fail(diags, e);
                continue;
            }
            let act = if r.args.first().map(String::as_str) == Some("capture") {
                // Checked by the parser: `capture <sample> len <length>`.
                let len = r.args.get(3).and_then(|l| l.parse::<usize>().ok());
                match (r.args.get(1), len) {
                    (Some(e), Some(len)) => Expr::parse(e, &located).map(|expr| Act::Capture {
                        expr: Box::new(expr),
                        len,
                        slot: crate::http::rules::req_capture_slot(&p.rules, i),
                    }),
                    _ => Err("expects <sample> len <length>".into()),
                }
            } else {
                compile_act(&r.args, &located)
            };
            match act {
                Ok(act) => list.push(Rule { act, cond }),
                Err(e) => fail(diags, e),
            }
        }
        out
    }

    pub fn has(&self, stage: Stage) -> bool {
        !self.rules(stage).is_empty()
    }

    fn rules(&self, stage: Stage) -> &[Rule] {
        match stage {
            Stage::Connection => &self.connection,
            Stage::Session => &self.session,
            Stage::Content => &self.content,
            Stage::Response => &self.response,
        }
    }

    /// Runs the rule set `stage` from rule `from`. Actions that change the addresses
    /// update `env.src`/`env.dst`; `expect_proxy` is set by `expect-proxy layer4`.
    pub fn run(
        &self,
        stage: Stage,
        from: usize,
        acls: &AclSet,
        env: &mut Env<'_>,
        expect_proxy: &mut bool,
    ) -> Verdict {
        let res_dir = stage == Stage::Response;
        for (i, rule) in self.rules(stage).iter().enumerate().skip(from) {
            let ok = match &rule.cond {
                None => true,
                Some(c) => {
                    let ctx = env.ctx(res_dir);
                    match c.test(acls, &ctx) {
                        Some(v) => v,
                        None => return Verdict::Wait { resume: i },
                    }
                }
            };
            if !ok {
                continue;
            }
            match &rule.act {
                Act::Accept => return Verdict::Accept,
                Act::Reject => return Verdict::Reject,
                Act::Close => return Verdict::Close,
                Act::SilentDrop => return Verdict::SilentDrop,
                Act::ExpectProxy => {
                    *expect_proxy = true;
                    return Verdict::Accept;
                }
                Act::SetVar(v, conds, expr) => {
                    let ctx = env.ctx(res_dir);
                    if let (Some(vars), Some(s)) =
                        (env.vars, expr.eval(&ctx).map(Sample::into_owned))
                        && vars::conditions_hold(vars, v, conds, &s)
                    {
                        vars.set(v, s);
                    }
                }
                Act::SetVarFmt(v, conds, fmt) => {
                    let ctx = env.ctx(res_dir);
                    let s = Sample::Str(std::borrow::Cow::Owned(fmt.render_vec(&ctx)));
                    if let Some(vars) = env.vars
                        && vars::conditions_hold(vars, v, conds, &s)
                    {
                        vars.set(v, s);
                    }
                }
                Act::UnsetVar(v) => {
                    if let Some(vars) = env.vars {
                        vars.unset(v);
                    }
                }
                Act::SetSrc(e) | Act::SetDst(e) => {
                    let ctx = env.ctx(res_dir);
                    let ip: Option<IpAddr> = e.eval(&ctx).and_then(|s| s.to_ip());
                    if let Some(ip) = ip {
                        match &rule.act {
                            Act::SetSrc(_) => env.src = SocketAddr::new(ip, env.src.port()),
                            _ => env.dst = SocketAddr::new(ip, env.dst.port()),
                        }
                    }
                }
                Act::SetSrcPort(e) | Act::SetDstPort(e) => {
                    let ctx = env.ctx(res_dir);
                    let port = e
                        .eval(&ctx)
                        .and_then(|s| s.to_int())
                        .and_then(|p| u16::try_from(p).ok());
                    if let Some(port) = port {
                        match &rule.act {
                            Act::SetSrcPort(_) => env.src.set_port(port),
                            _ => env.dst.set_port(port),
                        }
                    }
                }
                Act::Track { slot, key, table } => {
                    let tracking = env.tracked.as_ref().is_some_and(|t| t.is_tracking(*slot));
                    if !tracking {
                        let key = {
                            let ctx = env.ctx(res_dir);
                            key.eval(&ctx).and_then(|s| table.0.key_of(&s))
                        };
                        let level = match stage {
                            Stage::Connection | Stage::Session => {
                                crate::stick::track::Level::Session
                            }
                            _ => crate::stick::track::Level::Stream,
                        };
                        if let (Some(key), Some(t)) = (key, env.tracked.as_deref_mut()) {
                            t.track(*slot, &table.0, key, level);
                        }
                    }
                }
                Act::ScIncGpc {
                    slot,
                    idx,
                    gpc,
                    rate,
                } => {
                    if let Some(t) = env.tracked.as_deref() {
                        t.update(*slot, |e| {
                            e.add_at(*rate, *idx, 1);
                            e.add_at(*gpc, *idx, 1);
                        });
                    }
                }
                Act::ScAddGpc { slot, idx, value } => {
                    let v = match value {
                        Ok(v) => Some(*v),
                        Err(e) => e.eval(&env.ctx(res_dir)).and_then(|s| s.to_int()),
                    };
                    if let (Some(v), Some(t)) = (v.filter(|&v| v != 0), env.tracked.as_deref()) {
                        let v = v as u32 as u64;
                        t.update(*slot, |e| {
                            e.add_at(crate::stick::DataType::GpcRate, *idx, v);
                            e.add_at(crate::stick::DataType::Gpc, *idx, v);
                        });
                    }
                }
                Act::ScSetGpt {
                    slot,
                    idx,
                    gpt,
                    value,
                } => {
                    let v = match value {
                        Ok(v) => Some(*v),
                        Err(e) => e.eval(&env.ctx(res_dir)).and_then(|s| s.to_int()),
                    };
                    if let (Some(v), Some(t)) = (v, env.tracked.as_deref()) {
                        t.update(*slot, |e| e.set_at(*gpt, *idx, v as u32 as u64));
                    }
                }
                Act::Capture { expr, len, slot } => {
                    let ctx = env.ctx(res_dir);
                    if let (Some(caps), Some(v)) = (env.req_caps, expr.eval(&ctx)) {
                        caps.put(*slot, &v.to_bytes(), *len);
                    }
                }
                Act::SetRetries(v) => {
                    let n = match v {
                        Ok(n) => Some(*n),
                        // Out of range or no value: nothing changes (as HAProxy).
                        Err(e) => e
                            .eval(&env.ctx(res_dir))
                            .and_then(|s| s.to_int())
                            .filter(|n| (0..=100).contains(n))
                            .map(|n| n as u32),
                    };
                    if n.is_some() {
                        env.retries = n;
                    }
                }
                Act::SetPriority(class, e) => {
                    // Out of range values are clamped, as HAProxy does.
                    if let Some(v) = e.eval(&env.ctx(res_dir)).and_then(|s| s.to_int()) {
                        if *class {
                            env.prio.0 = v.clamp(-2047, 2047) as i32;
                        } else {
                            env.prio.1 = v.clamp(-524_287, 524_287) as i32;
                        }
                    }
                }
                Act::SetLogLevel(l) => env.log_level = Some(*l),
                Act::DoLog(profile) => {
                    use crate::log::record::Origin;
                    env.do_logs.push(crate::log::DoLog {
                        origin: match stage {
                            Stage::Connection => Origin::TcpReqConn,
                            Stage::Session => Origin::TcpReqSess,
                            Stage::Content => Origin::TcpReqCont,
                            Stage::Response => Origin::TcpResCont,
                        },
                        profile: profile.clone(),
                    });
                }
                Act::Planned => {}
            }
        }
        Verdict::Accept
    }
}

/// Where content inspection runs: the proxy whose rules apply and the stream's state.
pub struct Inspect<'a> {
    pub rt: &'a crate::compile::Runtime,
    /// The proxy whose rules run (the frontend, or the backend for its own rules).
    pub proxy: usize,
    pub frontend: usize,
    pub backend: Option<usize>,
    /// What the client connection's TLS handshake negotiated.
    pub tls: Option<&'a crate::tls::TlsInfo>,
    /// What the connection to the server negotiated (`ssl_bc_*`, `ssl_s_*`).
    pub bc_tls: Option<&'a crate::tls::TlsInfo>,
}

/// Content inspection (`tcp-request content` with `stage` Content, `tcp-response
/// content` with Response): the rules run on what `buf` holds, then again each time
/// `conn` brings more, until a rule decides, the inspect delay expires, the buffer is full
/// (`limit`) or the peer closed; a condition that cannot be decided yet waits (HAProxy's
/// `ACL_TEST_MISS`). `other` is the buffer of the other direction, read only.
#[allow(clippy::too_many_arguments)]
pub async fn inspect<R: AsyncRead + Unpin>(
    at: &Inspect<'_>,
    stage: Stage,
    conn: &mut R,
    buf: &mut Vec<u8>,
    other: &[u8],
    limit: usize,
    src: &mut SocketAddr,
    dst: &mut SocketAddr,
    ov: &mut crate::proxy::stream::Overrides,
    vars: &mut Vars,
    tracked: &mut crate::stick::track::Tracked,
    caps: &mut crate::sample::CaptureSlots,
    do_logs: &mut Vec<crate::log::DoLog>,
) -> Verdict {
    let px = &at.rt.proxies[at.proxy];
    let rules = &px.tcp;
    let delay = match stage {
        Stage::Response => rules.res_inspect_delay,
        _ => rules.req_inspect_delay,
    };
    let deadline =
        delay.map(|ms| tokio::time::Instant::now() + std::time::Duration::from_millis(ms));
    let mut closed = false;
    let mut resume = 0;
    loop {
        let expired = deadline.is_none_or(|d| tokio::time::Instant::now() >= d);
        let final_ = expired || closed || buf.len() >= limit;
        let v = {
            let (req, res) = if stage == Stage::Response {
                (other, buf.as_slice())
            } else {
                (buf.as_slice(), other)
            };
            let mut env = Env {
                rt: at.rt,
                frontend: at.frontend,
                backend: at.backend,
                src: *src,
                dst: *dst,
                req,
                res,
                final_,
                vars: Some(&*vars),
                head: None,
                first_req: true,
                tracked: Some(&mut *tracked),
                req_caps: Some(&*caps),
                retries: ov.retries,
                prio: ov.prio,
                tls: at.tls,
                bc_tls: at.bc_tls,
                log_level: ov.log_level,
                do_logs: std::mem::take(do_logs),
            };
            let mut ignored = false;
            let v = rules.run(stage, resume, &px.acls, &mut env, &mut ignored);
            *src = env.src;
            *dst = env.dst;
            ov.retries = env.retries;
            ov.prio = env.prio;
            ov.log_level = env.log_level;
            *do_logs = env.do_logs;
            v
        };
        let Verdict::Wait { resume: r } = v else {
            return v;
        };
        resume = r;
        let Some(deadline) = deadline else {
            return Verdict::Accept;
        };
        let mut chunk = vec![0u8; limit.saturating_sub(buf.len()).clamp(1, 16384)];
        match tokio::time::timeout_at(deadline, conn.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => closed = true,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
    }
}
