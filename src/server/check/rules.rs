//! The compiled rule list of a backend's health check: the `http-check`/`tcp-check` rules
//! of the configuration, or those of a built-in check (`redis-check`, `smtpchk`, …), with
//! HAProxy's implicit rules (first connect, `option httpchk` request, 2xx/3xx expect).

use halo_config::checks::{
    CheckAction, CheckConf, CheckKind, ConnectRule, Expect, HdrMeth, Pattern,
};
use regex::bytes::Regex;

use crate::sample::Resolver;
use crate::sample::logfmt::LogFormat;

/// A message reported on success or error.
#[derive(Debug, Clone)]
pub enum Msg {
    Text(String),
    Fmt(LogFormat),
    /// The response from this offset up to the first CR, LF or NUL, leading spaces removed
    /// (`%[res.payload(N,0),ltrim(' '),cut_crlf]` of the built-in checks).
    Line(usize),
}

#[derive(Debug)]
pub struct ExpectRt {
    pub e: Expect,
    pub regex: Option<Regex>,
    pub fmt: Option<LogFormat>,
    pub hdr_name: Option<Regex>,
    pub hdr_value: Option<Regex>,
    pub on_success: Option<Msg>,
    pub on_error: Option<Msg>,
    /// Built-ins: the status code is the first 3 bytes of the response.
    pub code_from_payload: bool,
}

/// The HTTP request of a send rule, with unset parts taken from `option httpchk`.
#[derive(Debug)]
pub struct HttpReq {
    pub meth: String,
    pub uri: LogFormat,
    pub ver: String,
    pub hdrs: Vec<(String, LogFormat)>,
    pub body: Option<LogFormat>,
}

#[derive(Debug)]
pub enum StepKind {
    Connect(ConnectRule),
    Send(Vec<u8>),
    SendFmt(LogFormat, bool),
    SendSslHello,
    HttpSend(HttpReq),
    Expect(Box<ExpectRt>),
    /// `set-var(NAME) EXPR` / `set-var-fmt(NAME) FMT`, `unset-var(NAME)`.
    SetVar(crate::sample::vars::VarName, SetValue),
    UnsetVar(crate::sample::vars::VarName),
}

/// What a check's `set-var` stores.
#[derive(Debug)]
pub enum SetValue {
    Expr(Box<crate::sample::Expr>),
    Fmt(LogFormat),
}

/// A `set-var`/`unset-var` rule as a step (None: not one).
fn var_step(a: &CheckAction, res: &dyn Resolver) -> Option<Result<StepKind, String>> {
    let name = |v: &str| {
        crate::sample::vars::parse_set_target(v)
            .map(|(n, _)| n)
            .map_err(|e| format!("variable '{v}': {e}"))
    };
    Some(match a {
        CheckAction::SetVar(v, text, fmt) => name(v).and_then(|n| {
            let value = if *fmt {
                SetValue::Fmt(lf(text, res)?)
            } else {
                SetValue::Expr(Box::new(
                    crate::sample::Expr::parse(text, res).map_err(|e| e.to_string())?,
                ))
            };
            Ok(StepKind::SetVar(n, value))
        }),
        CheckAction::UnsetVar(v) => name(v).map(StepKind::UnsetVar),
        _ => return None,
    })
}

#[derive(Debug)]
pub struct Step {
    /// HAProxy's step number in messages (`at step N`).
    pub id: usize,
    pub comment: Option<String>,
    pub implicit: bool,
    pub kind: StepKind,
}

/// Everything a check task needs.
#[derive(Debug, Default)]
pub struct Plan {
    /// HTTP ruleset: expects look at an HTTP response.
    pub http: bool,
    /// `option tcp-check`: messages name the step.
    pub tcp_check: bool,
    pub steps: Vec<Step>,
    pub disable_on_404: bool,
    pub send_state: bool,
    pub bufsize: usize,
    pub node: String,
}

/// Built-in rules name nothing.
struct NoNames;
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

fn lf(text: &str, res: &dyn Resolver) -> Result<LogFormat, String> {
    LogFormat::parse(text, res)
}

fn regex(p: &str) -> Result<Regex, String> {
    Regex::new(p).map_err(|e| format!("regex '{p}' failed to compile: {e}"))
}

fn hdr_regex(p: &halo_config::checks::HdrPat) -> Result<Option<Regex>, String> {
    if p.lf {
        return Ok(None);
    }
    let esc = regex::escape(&p.text);
    let src = match p.meth {
        HdrMeth::Str => format!("^{esc}$"),
        HdrMeth::Beg => format!("^{esc}"),
        HdrMeth::End => format!("{esc}$"),
        HdrMeth::Sub => esc,
        HdrMeth::Reg => p.text.clone(),
    };
    regex(&src).map(Some)
}

fn expect_rt(e: Expect, res: &dyn Resolver) -> Result<ExpectRt, String> {
    let mut r = ExpectRt {
        regex: None,
        fmt: None,
        hdr_name: None,
        hdr_value: None,
        on_success: e
            .on_success
            .as_deref()
            .map(|t| lf(t, res))
            .transpose()?
            .map(Msg::Fmt),
        on_error: e
            .on_error
            .as_deref()
            .map(|t| lf(t, res))
            .transpose()?
            .map(Msg::Fmt),
        code_from_payload: false,
        e,
    };
    match &r.e.pattern {
        Pattern::RStatus(p) | Pattern::RString(p) => r.regex = Some(regex(p)?),
        Pattern::RBinary(p) => r.regex = Some(regex(&format!("(?i){p}"))?),
        Pattern::StringLf(t) | Pattern::BinaryLf(t) => r.fmt = Some(lf(t, res)?),
        Pattern::Hdr { name, value, .. } => {
            // Header names match without regard to case.
            let mut n = name.clone();
            if n.meth != HdrMeth::Reg {
                n.text = n.text.to_ascii_lowercase();
            }
            r.hdr_name =
                hdr_regex(&n)?.map(|re| Regex::new(&format!("(?i){}", re.as_str())).unwrap_or(re));
            if let Some(v) = value {
                r.hdr_value = hdr_regex(v)?;
            }
        }
        _ => {}
    }
    Ok(r)
}

fn builtin_expect(
    pattern: Pattern,
    min_recv: i64,
    inverse: bool,
    err: &str,
    on_error: Option<Msg>,
    on_success: Option<Msg>,
) -> StepKind {
    let mut e = Expect::new(pattern);
    e.min_recv = min_recv;
    e.inverse = inverse;
    e.error_status = Some(err.to_string());
    let mut r = expect_rt(e, &NoNames).unwrap_or_else(|_| ExpectRt {
        e: Expect::new(Pattern::Custom("")),
        regex: None,
        fmt: None,
        hdr_name: None,
        hdr_value: None,
        on_success: None,
        on_error: None,
        code_from_payload: false,
    });
    r.on_error = on_error;
    r.on_success = on_success;
    StepKind::Expect(Box::new(r))
}

fn step(kind: StepKind) -> Step {
    Step {
        id: 0,
        comment: None,
        implicit: false,
        kind,
    }
}

/// Builds the plan of a backend; `Err` carries a message for the configuration's author.
pub fn compile(
    conf: &CheckConf,
    bufsize: usize,
    node: String,
    res: &dyn Resolver,
) -> Result<Plan, String> {
    let mut plan = Plan {
        bufsize: bufsize.max(1024),
        node,
        disable_on_404: conf.disable_on_404,
        send_state: conf.send_state,
        ..Plan::default()
    };
    let mut steps = Vec::new();
    match &conf.kind {
        CheckKind::Default => {}
        CheckKind::HttpChk => {
            plan.http = true;
            let rules: &[halo_config::checks::CheckRule] =
                if conf.http_rules { &conf.rules } else { &[] };
            let base = &conf.httpchk;
            let mut saw_send = false;
            for r in rules {
                let kind = match &r.action {
                    CheckAction::Connect(c) => StepKind::Connect(c.clone()),
                    CheckAction::HttpSend(s) => {
                        saw_send = true;
                        let mut hdrs = Vec::new();
                        for (k, v) in base.hdrs.iter() {
                            hdrs.push((k.clone(), LogFormat::literal(v.as_bytes())));
                        }
                        for (k, v) in &s.hdrs {
                            hdrs.push((k.clone(), lf(v, res)?));
                        }
                        let uri = match &s.uri {
                            Some((u, true)) => lf(u, res)?,
                            Some((u, false)) => LogFormat::literal(u.as_bytes()),
                            None => LogFormat::literal(base.uri.as_bytes()),
                        };
                        let body = match &s.body {
                            Some((b, true)) => Some(lf(b, res)?),
                            Some((b, false)) => Some(LogFormat::literal(b.as_bytes())),
                            None => base.body.as_ref().map(|b| LogFormat::literal(b.as_bytes())),
                        };
                        StepKind::HttpSend(HttpReq {
                            meth: s.meth.clone().unwrap_or_else(|| base.meth.clone()),
                            uri,
                            ver: s.ver.clone().unwrap_or_else(|| base.ver.clone()),
                            hdrs,
                            body,
                        })
                    }
                    CheckAction::Expect(e) => {
                        StepKind::Expect(Box::new(expect_rt(e.clone(), res)?))
                    }
                    a => match var_step(a, res) {
                        Some(k) => k?,
                        None => continue,
                    },
                };
                steps.push(Step {
                    id: r.index + 1,
                    comment: r.comment.clone(),
                    implicit: false,
                    kind,
                });
            }
            if !saw_send && !conf.httpchk_dropped {
                let req = HttpReq {
                    meth: base.meth.clone(),
                    uri: LogFormat::literal(base.uri.as_bytes()),
                    ver: base.ver.clone(),
                    hdrs: base
                        .hdrs
                        .iter()
                        .map(|(k, v)| (k.clone(), LogFormat::literal(v.as_bytes())))
                        .collect(),
                    body: base.body.as_ref().map(|b| LogFormat::literal(b.as_bytes())),
                };
                // The request goes right after the first connect (or first).
                let at = steps
                    .iter()
                    .position(|s| matches!(s.kind, StepKind::Connect(_)))
                    .map(|i| i + 1)
                    .unwrap_or(0);
                steps.insert(at, step(StepKind::HttpSend(req)));
            }
            // An implicit 2xx/3xx expect after the last send.
            let last_send = steps
                .iter()
                .rposition(|s| matches!(s.kind, StepKind::HttpSend(_)));
            let has_expect_after = last_send
                .map(|i| {
                    steps[i..]
                        .iter()
                        .any(|s| matches!(s.kind, StepKind::Expect(_)))
                })
                .unwrap_or(true);
            if !has_expect_after {
                let mut e = Expect::new(Pattern::Status(vec![(200, 399)]));
                e.error_status = Some("L7STS".into());
                let mut s = step(StepKind::Expect(Box::new(expect_rt(e, res)?)));
                s.implicit = true;
                steps.push(s);
            }
        }
        CheckKind::TcpCheck => {
            plan.tcp_check = true;
            if !conf.http_rules {
                for r in &conf.rules {
                    let kind = match &r.action {
                        CheckAction::Connect(c) => StepKind::Connect(c.clone()),
                        CheckAction::Send(b) => StepKind::Send(b.clone()),
                        CheckAction::SendLf(t, hex) => StepKind::SendFmt(lf(t, res)?, *hex),
                        CheckAction::Expect(e) => {
                            StepKind::Expect(Box::new(expect_rt(e.clone(), res)?))
                        }
                        a => match var_step(a, res) {
                            Some(k) => k?,
                            None => continue,
                        },
                    };
                    steps.push(Step {
                        id: r.index + 1,
                        comment: r.comment.clone(),
                        implicit: false,
                        kind,
                    });
                }
            }
        }
        CheckKind::Redis => {
            steps.push(step(StepKind::Send(b"*1\r\n$4\r\nPING\r\n".to_vec())));
            steps.push(step(builtin_expect(
                Pattern::String("+PONG\r\n".into()),
                -1,
                false,
                "L7STS",
                Some(Msg::Line(0)),
                Some(Msg::Text("Redis server is ok".into())),
            )));
        }
        CheckKind::SslHello => {
            steps.push(step(StepKind::SendSslHello));
            // Built-in checks report no message of their own on a mismatch.
            if let StepKind::Expect(mut e) = builtin_expect(
                Pattern::RBinary("^1[56]".into()),
                5,
                false,
                "L6RSP",
                Some(Msg::Text(String::new())),
                None,
            ) {
                e.e.ok_status = Some("L6OK".into());
                e.e.tout_status = Some("L6TOUT".into());
                steps.push(step(StepKind::Expect(e)));
            }
        }
        CheckKind::Smtp(cmd) => {
            let code = |re: &str, err: &str, on_err: Msg, ok: Option<Msg>| {
                let mut k =
                    builtin_expect(Pattern::RString(re.into()), 4, false, err, Some(on_err), ok);
                if let StepKind::Expect(e) = &mut k {
                    e.code_from_payload = err == "L7STS";
                }
                step(k)
            };
            steps.push(code("^[0-9]{3}[ \r]", "L7RSP", Msg::Line(0), None));
            steps.push(code("^2[0-9]{2}[ \r]", "L7STS", Msg::Line(4), None));
            steps.push(step(StepKind::Send(format!("{cmd}\r\n").into_bytes())));
            // A (possibly multi-line) 2xx answer; anything else is waited on until the
            // connection closes or the check times out (L7TOUT), as HAProxy 2.6 does.
            let mut k = builtin_expect(
                Pattern::RString("^(2[0-9]{2}-[^\r]*\r\n)*2[0-9]{2}[ \r]".into()),
                -1,
                false,
                "L7STS",
                Some(Msg::Line(4)),
                None,
            );
            if let StepKind::Expect(e) = &mut k {
                e.code_from_payload = true;
            }
            steps.push(step(k));
            // HAProxy 2.6 then says goodbye and wants a 2xx (221) for it.
            steps.push(step(StepKind::Send(b"QUIT\r\n".to_vec())));
            steps.push(code(
                "^2[0-9]{2}[- \r]",
                "L7STS",
                Msg::Line(4),
                Some(Msg::Line(4)),
            ));
        }
        CheckKind::Pgsql(user) => {
            let mut pkt = Vec::new();
            let len = (4 + 4 + 5 + user.len() + 1 + 1) as u32;
            pkt.extend_from_slice(&len.to_be_bytes());
            pkt.extend_from_slice(&[0, 3, 0, 0]);
            pkt.extend_from_slice(b"user\0");
            pkt.extend_from_slice(user.as_bytes());
            pkt.extend_from_slice(&[0, 0]);
            steps.push(step(StepKind::Send(pkt)));
            steps.push(step(builtin_expect(
                Pattern::RString("^E".into()),
                5,
                true,
                "L7RSP",
                Some(Msg::Line(6)),
                None,
            )));
            steps.push(step(builtin_expect(
                // An authentication request ('R') of a known type; its length is not checked.
                Pattern::RBinary("^52000000[A-Z0-9]{2}000000(00|02|03|04|05|06|07|09|0A)".into()),
                9,
                false,
                "L7STS",
                Some(Msg::Text("PostgreSQL unknown error".into())),
                Some(Msg::Text("PostgreSQL server is ok".into())),
            )));
        }
        CheckKind::Mysql { user, pre41 } => {
            // HAProxy 2.6 sends the login (and COM_QUIT) right after connecting, then reads
            // the server's greeting and the answer to the login that follows it.
            if let Some(u) = user {
                let mut body = Vec::new();
                if *pre41 {
                    body.extend_from_slice(&[0x00, 0x80, 0x00, 0x00, 0x01]);
                } else {
                    body.extend_from_slice(&[0x00, 0x82, 0x00, 0x00, 0x00, 0x80, 0x00, 0x01, 0x21]);
                    body.extend_from_slice(&[0u8; 23]);
                }
                body.extend_from_slice(u.as_bytes());
                body.extend_from_slice(&[0, 0]);
                let mut pkt = (body.len() as u32).to_le_bytes()[..3].to_vec();
                pkt.push(1);
                pkt.extend_from_slice(&body);
                // COM_QUIT.
                pkt.extend_from_slice(&[1, 0, 0, 0, 1]);
                steps.push(step(StepKind::Send(pkt)));
            }
            steps.push(step(builtin_expect(
                Pattern::Custom("mysql-init"),
                -1,
                false,
                "L7STS",
                None,
                None,
            )));
            if user.is_some() {
                steps.push(step(builtin_expect(
                    Pattern::Custom("mysql-ok"),
                    -1,
                    false,
                    "L7STS",
                    None,
                    None,
                )));
            }
        }
        CheckKind::Ldap => {
            steps.push(step(StepKind::Send(vec![
                0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00,
            ])));
            steps.push(step(builtin_expect(
                Pattern::Custom("ldap"),
                -1,
                false,
                "L7RSP",
                None,
                None,
            )));
        }
    }
    // Every ruleset starts with a connect (after comments and variables).
    if !matches!(steps.first().map(|s| &s.kind), Some(StepKind::Connect(_))) {
        steps.insert(
            0,
            Step {
                id: 1,
                comment: None,
                implicit: true,
                kind: StepKind::Connect(ConnectRule {
                    default: true,
                    ..ConnectRule::default()
                }),
            },
        );
    }
    // Built-in and implicit rules are numbered by position.
    let mut n = 0;
    for s in steps.iter_mut() {
        if s.implicit && matches!(s.kind, StepKind::Connect(_)) {
            continue;
        }
        n += 1;
        if s.id == 0 {
            s.id = n;
        }
    }
    plan.steps = steps;
    Ok(plan)
}
