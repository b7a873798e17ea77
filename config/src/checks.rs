//! Health-check rule model of a proxy: `option httpchk`, `http-check …`, `option tcp-check`,
//! `tcp-check …` and the built-in checks (`option redis-check`, `smtpchk`, …), parsed into
//! the ordered rules HAProxy runs for each check. The runtime is in `src/server/check/`.

use crate::diag::{Diags, Loc};
use crate::reader::Line;

/// Which check a proxy runs (the last `option` naming one wins).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CheckKind {
    /// A plain connection (layer 4), unless `tcp-check` rules exist.
    #[default]
    Default,
    HttpChk,
    TcpCheck,
    Redis,
    /// `option smtpchk [HELO|EHLO domain]`: the command line to send.
    Smtp(String),
    /// `option mysql-check [user U [post-41|pre-41]]`.
    Mysql {
        user: Option<String>,
        pre41: bool,
    },
    Pgsql(String),
    Ldap,
    SslHello,
}

/// The request of `option httpchk`, with what the legacy form hides after the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpChkRequest {
    pub meth: String,
    pub uri: String,
    pub ver: String,
    pub hdrs: Vec<(String, String)>,
    pub body: Option<String>,
}

impl Default for HttpChkRequest {
    fn default() -> Self {
        HttpChkRequest {
            meth: "OPTIONS".into(),
            uri: "/".into(),
            ver: "HTTP/1.0".into(),
            hdrs: Vec::new(),
            body: None,
        }
    }
}

/// Everything a proxy says about its health checks (inherited from `defaults`).
#[derive(Debug, Clone, Default)]
pub struct CheckConf {
    pub kind: CheckKind,
    pub httpchk: HttpChkRequest,
    /// `http-check …` / `tcp-check …` rules, in order.
    pub rules: Vec<CheckRule>,
    /// True while `rules` are those of the `defaults` section: the first rule of the
    /// proxy itself replaces them.
    pub inherited: bool,
    /// Whether `rules` are `http-check` (true) or `tcp-check` (false) rules.
    pub http_rules: bool,
    pub disable_on_404: bool,
    pub send_state: bool,
    /// A pending `http-check comment`/`tcp-check comment`, for the next rule.
    pub pending_comment: Option<String>,
    /// `option httpchk` came from `defaults`: when the proxy declares its own rules, the
    /// request of that option is not part of them (HAProxy 2.6 then sends nothing).
    pub httpchk_inherited: bool,
    pub httpchk_dropped: bool,
    /// Rule lines seen so far (comments included): HAProxy numbers steps by them.
    pub next_index: usize,
}

/// One rule of a check.
#[derive(Debug, Clone)]
pub struct CheckRule {
    pub loc: Loc,
    /// Position among the rule lines of the proxy (comment lines count), from 0.
    pub index: usize,
    pub comment: Option<String>,
    pub action: CheckAction,
}

#[derive(Debug, Clone)]
pub enum CheckAction {
    Connect(ConnectRule),
    /// `tcp-check send` (raw bytes), `send-binary` (decoded hex).
    Send(Vec<u8>),
    /// `tcp-check send-lf FMT`, `send-binary-lf HEXFMT` (true: hex).
    SendLf(String, bool),
    HttpSend(HttpSend),
    Expect(Expect),
    /// `set-var(NAME) EXPR` / `set-var-fmt(NAME) FMT` (true: fmt).
    SetVar(String, String, bool),
    UnsetVar(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectRule {
    pub default: bool,
    pub port: Option<u16>,
    pub addr: Option<String>,
    pub send_proxy: bool,
    pub via_socks4: bool,
    pub ssl: bool,
    pub sni: Option<String>,
    pub alpn: Option<String>,
    pub linger: bool,
    pub proto: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpSend {
    pub meth: Option<String>,
    /// The URI, and whether it is a log-format string (`uri-lf`).
    pub uri: Option<(String, bool)>,
    pub ver: Option<String>,
    /// Header names and log-format values.
    pub hdrs: Vec<(String, String)>,
    /// The body, and whether it is a log-format string (`body-lf`).
    pub body: Option<(String, bool)>,
}

/// `-m` method of `hdr`/`fhdr` patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HdrMeth {
    #[default]
    Str,
    Beg,
    End,
    Sub,
    Reg,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HdrPat {
    pub text: String,
    pub meth: HdrMeth,
    /// `name-lf` / `value-lf`.
    pub lf: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// `status 200,300-310`: ranges.
    Status(Vec<(u16, u16)>),
    RStatus(String),
    String(String),
    RString(String),
    StringLf(String),
    Binary(Vec<u8>),
    RBinary(String),
    BinaryLf(String),
    Hdr {
        full: bool,
        name: HdrPat,
        value: Option<HdrPat>,
    },
    /// Built-in checks with their own protocol parsing (mysql, ldap).
    Custom(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// -1: not set.
    pub min_recv: i64,
    pub ok_status: Option<String>,
    pub error_status: Option<String>,
    pub tout_status: Option<String>,
    pub on_success: Option<String>,
    pub on_error: Option<String>,
    pub status_code: Option<String>,
    pub inverse: bool,
    pub pattern: Pattern,
}

impl Expect {
    pub fn new(pattern: Pattern) -> Expect {
        Expect {
            min_recv: -1,
            ok_status: None,
            error_status: None,
            tout_status: None,
            on_success: None,
            on_error: None,
            status_code: None,
            inverse: false,
            pattern,
        }
    }
}

/// Whether this module parses the keyword `name` (as found in the keyword table).
pub fn handles(name: &str) -> bool {
    name.starts_with("http-check ")
        || name.starts_with("tcp-check ")
        || matches!(
            name,
            "option httpchk"
                | "option tcp-check"
                | "option redis-check"
                | "option smtpchk"
                | "option mysql-check"
                | "option pgsql-check"
                | "option ldap-check"
                | "option ssl-hello-chk"
        )
}

/// Parses one health-check line. `n` is the index of the first word after the keyword;
/// `disable` is true for `no option X` / `default option X`.
pub fn parse_line(
    name: &str,
    line: &Line,
    n: usize,
    disable: bool,
    conf: &mut CheckConf,
    diags: &mut Diags,
) {
    let args = &line.words[n.min(line.words.len())..];
    if let Some(opt) = name.strip_prefix("option ") {
        if disable {
            conf.kind = CheckKind::Default;
            return;
        }
        conf.kind = match opt {
            "httpchk" => {
                match parse_httpchk(args, line, diags) {
                    Some(r) => conf.httpchk = r,
                    None => return,
                }
                conf.httpchk_inherited = false;
                conf.httpchk_dropped = false;
                CheckKind::HttpChk
            }
            "tcp-check" => CheckKind::TcpCheck,
            "redis-check" => CheckKind::Redis,
            "ldap-check" => CheckKind::Ldap,
            "ssl-hello-chk" => CheckKind::SslHello,
            "smtpchk" => {
                let cmd = match args {
                    [] => "HELO localhost".to_string(),
                    [hello, domain, ..] => {
                        let h = if hello == "EHLO" { "EHLO" } else { "HELO" };
                        format!("{h} {domain}")
                    }
                    [_] => {
                        diags.alert(
                            &line.loc,
                            "'option smtpchk' : missing domain after the hello command.",
                        );
                        return;
                    }
                };
                CheckKind::Smtp(cmd)
            }
            "mysql-check" => match args {
                [] => CheckKind::Mysql {
                    user: None,
                    pre41: false,
                },
                [u, user] if u == "user" => CheckKind::Mysql {
                    user: Some(user.clone()),
                    pre41: false,
                },
                [u, user, v] if u == "user" && (v == "post-41" || v == "pre-41") => {
                    CheckKind::Mysql {
                        user: Some(user.clone()),
                        pre41: v == "pre-41",
                    }
                }
                _ => {
                    diags.alert(
                        &line.loc,
                        "'option mysql-check' only supports optional values: 'user' followed by a username and optionally 'post-41' or 'pre-41'.",
                    );
                    return;
                }
            },
            "pgsql-check" => match args {
                [u, user] if u == "user" => CheckKind::Pgsql(user.clone()),
                _ => {
                    diags.alert(
                        &line.loc,
                        "'option pgsql-check' expects 'user <username>' as argument.",
                    );
                    return;
                }
            },
            _ => return,
        };
        return;
    }
    let http = name.starts_with("http-check");
    let family = if http { "http-check" } else { "tcp-check" };
    let sub = name.split_once(' ').map(|(_, s)| s).unwrap_or("");
    match sub {
        "disable-on-404" => {
            conf.disable_on_404 = true;
            return;
        }
        "send-state" => {
            conf.send_state = true;
            return;
        }
        "comment" => {
            if conf.inherited {
                conf.rules.clear();
                conf.inherited = false;
                conf.next_index = 0;
                conf.httpchk_dropped = conf.httpchk_inherited && http;
            }
            conf.next_index += 1;
            match args.first() {
                Some(c) if args.len() == 1 => conf.pending_comment = Some(c.clone()),
                _ => diags.alert(
                    &line.loc,
                    format!("'{family} comment' expects a comment as argument."),
                ),
            }
            return;
        }
        _ => {}
    }
    // A proxy's own rules replace those of `defaults`.
    if conf.inherited {
        conf.rules.clear();
        conf.inherited = false;
        conf.next_index = 0;
        conf.httpchk_dropped = conf.httpchk_inherited && http;
    }
    if !conf.rules.is_empty() && conf.http_rules != http {
        diags.alert(
            &line.loc,
            format!(
                "'{family}' : rules of 'http-check' and 'tcp-check' cannot be mixed in the same proxy."
            ),
        );
        return;
    }
    let kwname = line
        .words
        .get(n.saturating_sub(1))
        .cloned()
        .unwrap_or_default();
    let mut comment = conf.pending_comment.take();
    let index = conf.next_index;
    conf.next_index += 1;
    let res = match sub {
        "connect" => parse_connect(args, &mut comment).map(CheckAction::Connect),
        "send" if http => parse_http_send(args, &mut comment).map(CheckAction::HttpSend),
        "send" | "send-lf" | "send-binary" | "send-binary-lf" => {
            parse_tcp_send(sub, args, &mut comment)
        }
        "expect" => parse_expect(http, args, &mut comment).map(CheckAction::Expect),
        "set-var" | "set-var-fmt" => {
            let fmt = kwname.starts_with("set-var-fmt(");
            match (var_name(&kwname), args) {
                (Some(v), [e]) => Ok(CheckAction::SetVar(v, e.clone(), fmt)),
                (Some(_), _) => Err(format!("'{family} {kwname}' expects exactly one argument.")),
                (None, _) => Err(format!(
                    "'{family} set-var' expects a variable name between parenthesis."
                )),
            }
        }
        "unset-var" => match var_name(&kwname) {
            Some(v) => Ok(CheckAction::UnsetVar(v)),
            None => Err(format!(
                "'{family} unset-var' expects a variable name between parenthesis."
            )),
        },
        other => Err(format!(
            "'{family}' only supports 'comment', 'connect', 'send', 'expect', 'set-var' and 'unset-var' but got '{other}' as argument."
        )),
    };
    match res {
        Ok(action) => {
            if let CheckAction::SetVar(v, _, _) | CheckAction::UnsetVar(v) = &action
                && !(v.starts_with("proc.") || v.starts_with("sess.") || v.starts_with("check."))
            {
                diags.alert(
                    &line.loc,
                    format!(
                        "'{family} {sub}' : only 'proc', 'sess' and 'check' scopes can be used, not '{v}'."
                    ),
                );
                return;
            }
            conf.http_rules = http;
            conf.rules.push(CheckRule {
                loc: line.loc.clone(),
                index,
                comment,
                action,
            });
        }
        Err(e) => diags.alert(&line.loc, e.replace("%F", family)),
    }
}

fn var_name(word: &str) -> Option<String> {
    let inner = word.split_once('(')?.1.strip_suffix(')')?;
    let name = inner.split(',').next()?.trim();
    (!name.is_empty()).then(|| name.to_string())
}

fn parse_httpchk(args: &[String], line: &Line, diags: &mut Diags) -> Option<HttpChkRequest> {
    let mut r = HttpChkRequest::default();
    match args {
        [] => {}
        [uri] => r.uri = uri.clone(),
        [meth, uri] => {
            r.meth = meth.clone();
            r.uri = uri.clone();
        }
        [meth, uri, ver] => {
            r.meth = meth.clone();
            r.uri = uri.clone();
            // The legacy form hides header lines (and a body) after the version.
            match ver.split_once("\r\n") {
                None => r.ver = ver.clone(),
                Some((v, rest)) => {
                    diags.warning(
                        &line.loc,
                        "'option httpchk' : hiding headers or body at the end of the version string is deprecated. Please, consider to use 'http-check send' directive instead.",
                    );
                    r.ver = v.to_string();
                    let (head, body) = match rest.split_once("\r\n\r\n") {
                        Some((h, b)) => (h, Some(b)),
                        None => (rest, None),
                    };
                    for l in head.split("\r\n") {
                        if l.is_empty() {
                            continue;
                        }
                        match l.split_once(':') {
                            Some((k, v)) if !k.trim().is_empty() => {
                                r.hdrs.push((k.trim().to_string(), v.trim().to_string()))
                            }
                            _ => {
                                diags.alert(
                                    &line.loc,
                                    format!("'option httpchk' : invalid header line '{l}'."),
                                );
                                return None;
                            }
                        }
                    }
                    r.body = body.filter(|b| !b.is_empty()).map(str::to_string);
                }
            }
        }
        _ => {
            diags.alert(
                &line.loc,
                "'option httpchk' : expects at most 3 arguments (method, uri and version).",
            );
            return None;
        }
    }
    Some(r)
}

fn take_value<'a>(args: &'a [String], i: usize, what: &str) -> Result<&'a String, String> {
    args.get(i + 1)
        .ok_or_else(|| format!("'%F {what}' : '{}' expects a value.", args[i]))
}

fn parse_connect(args: &[String], comment: &mut Option<String>) -> Result<ConnectRule, String> {
    let mut c = ConnectRule::default();
    let mut i = 0;
    while i < args.len() {
        let w = args[i].as_str();
        match w {
            "default" => c.default = true,
            "send-proxy" => c.send_proxy = true,
            "via-socks4" => c.via_socks4 = true,
            "ssl" => c.ssl = true,
            "linger" => c.linger = true,
            "port" => {
                let v = take_value(args, i, "connect")?;
                match v.parse::<u16>() {
                    Ok(p) if p > 0 => c.port = Some(p),
                    _ => {
                        return Err(format!(
                            "'%F connect' : expects a valid TCP port (from range 1 to 65535) or a sample-fetch expression, got '{v}'."
                        ));
                    }
                }
                i += 1;
            }
            "addr" | "sni" | "alpn" | "proto" | "comment" => {
                let v = take_value(args, i, "connect")?.clone();
                match w {
                    "addr" => {
                        if v.parse::<std::net::IpAddr>().is_err() {
                            return Err(format!(
                                "'%F connect' : '{v}' is not a valid IP address for 'addr'."
                            ));
                        }
                        c.addr = Some(v)
                    }
                    "sni" => c.sni = Some(v),
                    "alpn" => c.alpn = Some(v),
                    "proto" => c.proto = Some(v),
                    _ => *comment = Some(v),
                }
                i += 1;
            }
            _ => {
                return Err(format!(
                    "'%F connect' expects 'comment', 'port', 'addr', 'send-proxy', 'via-socks4', 'ssl', 'sni', 'alpn', 'proto', 'linger' or 'default' but got '{w}' as argument."
                ));
            }
        }
        i += 1;
    }
    Ok(c)
}

fn parse_http_send(args: &[String], comment: &mut Option<String>) -> Result<HttpSend, String> {
    let mut s = HttpSend::default();
    let mut i = 0;
    while i < args.len() {
        let w = args[i].as_str();
        match w {
            "meth" | "uri" | "uri-lf" | "ver" | "body" | "body-lf" | "comment" => {
                let v = take_value(args, i, "send")?.clone();
                match w {
                    "meth" => s.meth = Some(v),
                    "uri" | "uri-lf" => s.uri = Some((v, w == "uri-lf")),
                    "ver" => s.ver = Some(v),
                    "body" | "body-lf" => s.body = Some((v, w == "body-lf")),
                    _ => *comment = Some(v),
                }
                i += 2;
            }
            "hdr" => {
                let (Some(name), Some(value)) = (args.get(i + 1), args.get(i + 2)) else {
                    return Err("'%F send' : 'hdr' expects <name> and <value> as arguments.".into());
                };
                let lname = name.to_ascii_lowercase();
                // HAProxy computes these itself.
                if lname != "content-length" && lname != "transfer-encoding" {
                    s.hdrs.push((name.clone(), value.clone()));
                }
                i += 3;
            }
            _ => {
                return Err(format!(
                    "'%F send' expects 'comment', 'meth', 'uri', 'uri-lf', 'ver', 'hdr', 'body' or 'body-lf' but got '{w}' as argument."
                ));
            }
        }
    }
    Ok(s)
}

fn parse_tcp_send(
    sub: &str,
    args: &[String],
    comment: &mut Option<String>,
) -> Result<CheckAction, String> {
    let Some(data) = args.first() else {
        return Err(format!(
            "'%F {sub}' expects a {} as argument.",
            match sub {
                "send" => "string",
                "send-binary" => "binary string",
                _ => "log-format string",
            }
        ));
    };
    match &args[1..] {
        [] => {}
        [c, v] if c == "comment" => *comment = Some(v.clone()),
        [c] if c == "comment" => {
            return Err(format!(
                "'%F {sub}' : 'comment' expects a string as argument."
            ));
        }
        [other, ..] => {
            return Err(format!(
                "'%F {sub}' only supports 'comment' but got '{other}' as argument."
            ));
        }
    }
    Ok(match sub {
        "send" => CheckAction::Send(data.as_bytes().to_vec()),
        "send-binary" => {
            CheckAction::Send(parse_hex(data).ok_or_else(|| {
                format!("'%F {sub}' : '{data}' is not a valid hexadecimal string.")
            })?)
        }
        "send-lf" => CheckAction::SendLf(data.clone(), false),
        _ => CheckAction::SendLf(data.clone(), true),
    })
}

/// Decodes an even-length string of hexadecimal digits.
pub fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2)
        .map(|p| {
            let h = (p[0] as char).to_digit(16)?;
            let l = (p[1] as char).to_digit(16)?;
            Some((h * 16 + l) as u8)
        })
        .collect()
}

const CHECK_STATUSES_OK: &[&str] = &["L7OK", "L7OKC", "L6OK", "L4OK"];
const CHECK_STATUSES_ERR: &[&str] = &["L7OKC", "L7RSP", "L7STS", "L6RSP", "L4CON"];
const CHECK_STATUSES_TOUT: &[&str] = &["L7TOUT", "L6TOUT", "L4TOUT"];

fn parse_expect(
    http: bool,
    args: &[String],
    comment: &mut Option<String>,
) -> Result<Expect, String> {
    let mut e = Expect::new(Pattern::Custom(""));
    let mut i = 0;
    let mut pattern = None;
    while i < args.len() {
        let w = args[i].as_str();
        match w {
            "!" => {
                e.inverse = true;
                i += 1;
                continue;
            }
            "min-recv" => {
                let v = take_value(args, i, "expect")?;
                e.min_recv = v.parse::<i64>().ok().filter(|m| *m >= -1).ok_or_else(|| {
                    format!("'%F expect' : 'min-recv' expects an integer, got '{v}'.")
                })?;
                i += 2;
                continue;
            }
            "comment" | "on-success" | "on-error" | "status-code" => {
                let v = take_value(args, i, "expect")?.clone();
                match w {
                    "comment" => *comment = Some(v),
                    "on-success" => e.on_success = Some(v),
                    "on-error" => e.on_error = Some(v),
                    _ => e.status_code = Some(v),
                }
                i += 2;
                continue;
            }
            "ok-status" | "error-status" | "tout-status" => {
                let v = take_value(args, i, "expect")?.clone();
                let allowed = match w {
                    "ok-status" => CHECK_STATUSES_OK,
                    "error-status" => CHECK_STATUSES_ERR,
                    _ => CHECK_STATUSES_TOUT,
                };
                if !allowed.contains(&v.as_str()) {
                    return Err(format!(
                        "'%F expect' : '{w}' only supports {} but got '{v}'.",
                        allowed
                            .iter()
                            .map(|s| format!("'{s}'"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                match w {
                    "ok-status" => e.ok_status = Some(v),
                    "error-status" => e.error_status = Some(v),
                    _ => e.tout_status = Some(v),
                }
                i += 2;
                continue;
            }
            _ => {}
        }
        if pattern.is_some() {
            return Err(format!(
                "'%F expect' : only one pattern expected, but got '{w}' as argument."
            ));
        }
        let (neg, m) = match w.strip_prefix('!') {
            Some(rest) if !rest.is_empty() => (true, rest),
            _ => (false, w),
        };
        if neg {
            e.inverse = true;
        }
        if http && (m == "hdr" || m == "fhdr") {
            let (p, used) = parse_hdr_pattern(m == "fhdr", &args[i + 1..])?;
            pattern = Some(p);
            i += 1 + used;
            continue;
        }
        let known = if http {
            matches!(m, "status" | "rstatus" | "string" | "rstring" | "string-lf")
        } else {
            matches!(
                m,
                "string" | "rstring" | "string-lf" | "binary" | "rbinary" | "binary-lf"
            )
        };
        if !known {
            return Err(if http {
                format!(
                    "'%F expect' only supports min-recv, [!]status, [!]rstatus, [!]hdr, [!]fhdr, [!]string, [!]rstring, [!]string-lf, comment, ok-status, error-status, tout-status, on-success, on-error and status-code but got '{w}' as argument."
                )
            } else {
                format!(
                    "'%F expect' only supports min-recv, [!]binary, [!]binary-lf, [!]string, [!]string-lf, [!]rstring, [!]rbinary, comment, ok-status, error-status, tout-status, on-success, on-error and status-code but got '{w}' as argument."
                )
            });
        }
        let Some(v) = args.get(i + 1) else {
            return Err(format!("'%F expect {m}' expects <pattern> as an argument."));
        };
        pattern = Some(match m {
            "status" => Pattern::Status(parse_status_list(v)?),
            "rstatus" => Pattern::RStatus(check_regex(v)?),
            "string" => Pattern::String(v.clone()),
            "rstring" => Pattern::RString(check_regex(v)?),
            "string-lf" => Pattern::StringLf(v.clone()),
            "binary" => Pattern::Binary(parse_hex(v).ok_or_else(|| {
                format!("'%F expect binary' : '{v}' is not a valid hexadecimal string.")
            })?),
            "rbinary" => Pattern::RBinary(check_regex(v)?),
            _ => Pattern::BinaryLf(v.clone()),
        });
        i += 2;
    }
    match pattern {
        Some(p) => e.pattern = p,
        None => return Err("'%F expect' : expects a pattern to match.".into()),
    }
    Ok(e)
}

fn check_regex(v: &str) -> Result<String, String> {
    regex_syntax_ok(v)
        .map(|_| v.to_string())
        .map_err(|err| format!("'%F expect' : regex '{v}' failed to compile: {err}."))
}

/// A light syntax check (balanced brackets); the runtime compiles the regex for real.
fn regex_syntax_ok(v: &str) -> Result<(), String> {
    let mut depth = 0i32;
    let mut esc = false;
    let mut in_class = false;
    for c in v.chars() {
        if esc {
            esc = false;
            continue;
        }
        match c {
            '\\' => esc = true,
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class => depth += 1,
            ')' if !in_class => {
                depth -= 1;
                if depth < 0 {
                    return Err("unmatched ')'".into());
                }
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("missing ')'".into());
    }
    if in_class {
        return Err("missing ']'".into());
    }
    Ok(())
}

fn parse_status_list(v: &str) -> Result<Vec<(u16, u16)>, String> {
    let mut out = Vec::new();
    for part in v.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        match (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
            (Ok(a), Ok(b)) if a <= b => out.push((a, b)),
            _ => {
                return Err(format!(
                    "'%F expect status' : invalid status code or range '{part}'."
                ));
            }
        }
    }
    Ok(out)
}

fn parse_hdr_pattern(full: bool, args: &[String]) -> Result<(Pattern, usize), String> {
    let kw = if full { "fhdr" } else { "hdr" };
    let mut i = 0;
    let one = |what: &str, lfname: &str, i: &mut usize| -> Result<Option<HdrPat>, String> {
        let Some(w) = args.get(*i) else {
            return Ok(None);
        };
        if w != what && w != lfname {
            return Ok(None);
        }
        let lf = w == lfname;
        *i += 1;
        let mut meth = HdrMeth::Str;
        if args.get(*i).map(String::as_str) == Some("-m") {
            meth = match args.get(*i + 1).map(String::as_str) {
                Some("str") => HdrMeth::Str,
                Some("beg") => HdrMeth::Beg,
                Some("end") => HdrMeth::End,
                Some("sub") => HdrMeth::Sub,
                Some("reg") => HdrMeth::Reg,
                other => {
                    return Err(format!(
                        "'%F expect {kw}' : unsupported matching method '{}'; expects 'str', 'beg', 'end', 'sub' or 'reg'.",
                        other.unwrap_or("")
                    ));
                }
            };
            if lf && meth == HdrMeth::Reg {
                return Err(format!(
                    "'%F expect {kw}' : '{lfname}' cannot be used with the regex matching method."
                ));
            }
            *i += 2;
        }
        let Some(text) = args.get(*i) else {
            return Err(format!("'%F expect {kw}' : '{what}' expects a pattern."));
        };
        *i += 1;
        Ok(Some(HdrPat {
            text: text.clone(),
            meth,
            lf,
        }))
    };
    let Some(name) = one("name", "name-lf", &mut i)? else {
        return Err(format!(
            "'%F expect {kw}' : expects 'name' or 'name-lf' followed by the header name."
        ));
    };
    let value = one("value", "value-lf", &mut i)?;
    Ok((Pattern::Hdr { full, name, value }, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(words: &[&str]) -> Line {
        Line {
            loc: Loc::none(),
            words: words.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn legacy_httpchk_headers() {
        let mut c = CheckConf::default();
        let mut d = Diags::default();
        let l = line(&[
            "option",
            "httpchk",
            "GET",
            "/ping",
            "HTTP/1.0\r\nHost: www.site1.com",
        ]);
        parse_line("option httpchk", &l, 2, false, &mut c, &mut d);
        assert_eq!(c.kind, CheckKind::HttpChk);
        assert_eq!(c.httpchk.ver, "HTTP/1.0");
        assert_eq!(
            c.httpchk.hdrs,
            vec![("Host".into(), "www.site1.com".into())]
        );
        assert_eq!(d.warnings(), 1);
    }

    #[test]
    fn expect_forms() {
        let mut c = CheckConf::default();
        let mut d = Diags::default();
        let l = line(&["http-check", "expect", "!", "rstatus", "^5"]);
        parse_line("http-check expect", &l, 2, false, &mut c, &mut d);
        let l = line(&[
            "http-check",
            "expect",
            "hdr",
            "name",
            "set-cookie",
            "value",
            "-m",
            "beg",
            "sessid=",
        ]);
        parse_line("http-check expect", &l, 2, false, &mut c, &mut d);
        assert_eq!(d.alerts(), 0, "{:?}", d.items);
        assert_eq!(c.rules.len(), 2);
        let l = line(&["http-check", "expect", "binary", "00"]);
        parse_line("http-check expect", &l, 2, false, &mut c, &mut d);
        assert_eq!(d.alerts(), 1);
        let l = line(&[
            "tcp-check",
            "expect",
            "binary",
            "2b504F4e47",
            "min-recv",
            "5",
        ]);
        let mut c = CheckConf::default();
        parse_line("tcp-check expect", &l, 2, false, &mut c, &mut d);
        let CheckAction::Expect(e) = &c.rules[0].action else {
            panic!()
        };
        assert_eq!(e.pattern, Pattern::Binary(b"+PONG".to_vec()));
        assert_eq!(e.min_recv, 5);
    }
}
