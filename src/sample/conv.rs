//! Converters (manual 7.3.1): compiled with their arguments at load time, applied to a
//! sample. Converters HAProxy has and halo does not yet are refused at load time by name,
//! never passed through silently.

use std::borrow::Cow;
use std::net::IpAddr;

use regex::bytes::Regex;

use super::{Ctx, Sample};
use crate::lb::hash;

#[derive(Debug, Clone)]
pub enum Conv {
    Lower,
    Upper,
    Base64,
    B64Dec,
    Hex,
    Hex2i,
    /// `x509_v_err_str`: an OpenSSL verification error ID by name.
    X509VErrStr,
    UrlDec {
        in_form: bool,
    },
    Json,
    Regsub {
        re: Regex,
        subst: Vec<SubstPart>,
        global: bool,
    },
    Field {
        index: i64,
        delims: Vec<u8>,
        count: i64,
    },
    Word {
        index: i64,
        delims: Vec<u8>,
        count: i64,
    },
    Bytes {
        offset: usize,
        length: Option<usize>,
    },
    Length,
    Ipmask {
        v4: u8,
        v6: u8,
    },
    Add(IntArg),
    Sub(IntArg),
    Mul(IntArg),
    Div(IntArg),
    Mod(IntArg),
    And(IntArg),
    Or(IntArg),
    Xor(IntArg),
    Neg,
    Not,
    Bool,
    Cpl,
    Odd,
    Even,
    Concat {
        start: Vec<u8>,
        /// A variable whose value goes between `start` and `end`.
        var: Option<super::vars::VarName>,
        end: Vec<u8>,
    },
    HostOnly,
    PortOnly,
    Sdbm(bool),
    Djb2(bool),
    Wt6(bool),
    Crc32(bool),
    Ltrim(Vec<u8>),
    Rtrim(Vec<u8>),
    Reverse,
    /// `map`, `map_<match>`, `map_<match>_<output>` (sample/map.rs).
    Map(Box<super::map::MapConv>),
    /// Digests, dates, `json_query`… (sample/conv_ext.rs).
    Ext(Box<super::conv_ext::ExtConv>),
    /// The stick table converters (`table_http_req_rate(T)`, `in_table(T)`…).
    Stick(Box<super::fetch_stick::StickFetch>),
    /// `set-var(name[,cond…])`: stores the sample when the conditions hold (and the
    /// `tune.vars` limits leave room), passing it on; fails otherwise, as HAProxy 2.6.
    SetVar(super::vars::VarName, Vec<super::vars::SetCond>),
    /// `unset-var(name)`: removes the variable, passes the sample on.
    UnsetVar(super::vars::VarName),
    /// `capture-req(id)` / `capture-res(id)`: stores the sample in the frontend's capture
    /// slot (truncated to its length), passes it on; fails when the slot does not exist.
    Capture {
        res: bool,
        slot: usize,
    },
}

fn int(args: &[String], i: usize, name: &str) -> Result<i64, String> {
    let a = args
        .get(i)
        .ok_or_else(|| format!("converter '{name}' expects an integer argument"))?;
    a.trim()
        .parse::<i64>()
        .map_err(|_| format!("converter '{name}': invalid integer '{a}'"))
}

/// The argument of the arithmetic converters: an integer, or a variable read when the
/// converter runs ("a numeric value or a variable name").
#[derive(Debug, Clone)]
pub enum IntArg {
    Const(i64),
    Var(super::vars::VarName),
}

impl IntArg {
    /// The value; None when the variable is not set or not a number (the converter fails).
    fn value(&self, ctx: &Ctx<'_>) -> Option<i64> {
        match self {
            IntArg::Const(n) => Some(*n),
            IntArg::Var(v) => {
                let s = match v.scope {
                    super::vars::Scope::Proc => super::vars::proc_get(&v.name),
                    _ => ctx.vars.and_then(|vars| vars.get(v)),
                }?;
                s.to_int()
            }
        }
    }
}

fn int_arg(args: &[String], name: &str) -> Result<IntArg, String> {
    let a = args
        .first()
        .ok_or_else(|| format!("converter '{name}' expects an integer argument"))?;
    if let Ok(n) = a.trim().parse::<i64>() {
        return Ok(IntArg::Const(n));
    }
    super::vars::VarName::parse(a.trim())
        .map(IntArg::Var)
        .map_err(|_| format!("converter '{name}': invalid integer or variable name '{a}'"))
}

fn opt_flag(args: &[String], name: &str) -> Result<bool, String> {
    match args.first() {
        None => Ok(false),
        Some(_) => Ok(int(args, 0, name)? != 0),
    }
}

/// Converters valid in HAProxy that halo will bring with later features.
const LATER: &[&str] = &[
    "in_table",
    "table_http_req_rate",
    "table_gpc0",
    "table_conn_cur",
    "jwt_header_query",
    "jwt_payload_query",
    "jwt_verify",
    "when",
    "debug",
    "protobuf",
    "ungrpc",
    "fix_tag_value",
    "mqtt_field_value",
    "aes_gcm_dec",
    "aes_gcm_enc",
    "aes_cbc_dec",
    "aes_cbc_enc",
    "rfc7239_field",
    "ip.fp",
];

impl Conv {
    /// Compiles a converter in a configuration context: the `map*` converters need the
    /// resolver's pattern registry and origin; every other converter is [`Conv::compile`].
    pub fn compile_in(
        name: &str,
        args: Vec<String>,
        res: &dyn super::Resolver,
    ) -> Result<Conv, String> {
        if let Some(t) = super::fetch_stick::compile_conv(name, &args, res) {
            return Ok(Conv::Stick(Box::new(t?)));
        }
        match super::map::MapConv::compile(name, &args, res) {
            Some(m) => Ok(Conv::Map(Box::new(m?))),
            None => Conv::compile(name, args),
        }
    }

    /// Compiles a converter that needs no configuration context (`map*` are refused).
    pub fn compile(name: &str, args: Vec<String>) -> Result<Conv, String> {
        use Conv::*;
        if let Some(ext) = super::conv_ext::compile(name, &args) {
            return Ok(Ext(Box::new(ext?)));
        }
        Ok(match name {
            "lower" => Lower,
            "upper" => Upper,
            "base64" => Base64,
            "b64dec" => B64Dec,
            "hex" => Hex,
            "hex2i" => Hex2i,
            "x509_v_err_str" => X509VErrStr,
            "url_dec" => UrlDec {
                in_form: opt_flag(&args, name)?,
            },
            "json" => Json,
            "regsub" => {
                let re = args
                    .first()
                    .ok_or("converter 'regsub' expects a regular expression")?;
                let re = Regex::new(re)
                    .map_err(|e| format!("converter 'regsub': invalid regex '{re}': {e}"))?;
                let subst = parse_subst(args.get(1).map(|s| s.as_bytes()).unwrap_or_default());
                let flags = args.get(2).cloned().unwrap_or_default();
                if flags.contains('i') {
                    let src = format!("(?i){}", re.as_str());
                    let re = Regex::new(&src).map_err(|e| e.to_string())?;
                    return Ok(Regsub {
                        re,
                        subst,
                        global: flags.contains('g'),
                    });
                }
                Regsub {
                    re,
                    subst,
                    global: flags.contains('g'),
                }
            }
            "field" | "word" => {
                let index = int(&args, 0, name)?;
                let delims = args
                    .get(1)
                    .cloned()
                    .ok_or_else(|| format!("converter '{name}' expects delimiters"))?
                    .into_bytes();
                let count = if args.len() > 2 {
                    int(&args, 2, name)?
                } else {
                    1
                };
                if name == "field" {
                    Field {
                        index,
                        delims,
                        count,
                    }
                } else {
                    Word {
                        index,
                        delims,
                        count,
                    }
                }
            }
            "bytes" => Bytes {
                offset: int(&args, 0, name)?.max(0) as usize,
                length: if args.len() > 1 {
                    Some(int(&args, 1, name)?.max(0) as usize)
                } else {
                    None
                },
            },
            "length" => Length,
            "ipmask" => {
                let m4 = args.first().ok_or("converter 'ipmask' expects a mask")?;
                let v4 = parse_mask(m4, 32).ok_or_else(|| format!("invalid IPv4 mask '{m4}'"))?;
                let v6 = match args.get(1) {
                    Some(m) => {
                        parse_mask(m, 128).ok_or_else(|| format!("invalid IPv6 mask '{m}'"))?
                    }
                    None => 128,
                };
                Ipmask { v4, v6 }
            }
            "add" => Add(int_arg(&args, name)?),
            "sub" => Sub(int_arg(&args, name)?),
            "mul" => Mul(int_arg(&args, name)?),
            "div" => Div(int_arg(&args, name)?),
            "mod" => Mod(int_arg(&args, name)?),
            "and" => And(int_arg(&args, name)?),
            "or" => Or(int_arg(&args, name)?),
            "xor" => Xor(int_arg(&args, name)?),
            "neg" => Neg,
            "not" => Not,
            "bool" => Bool,
            "cpl" => Cpl,
            "odd" => Odd,
            "even" => Even,
            "concat" => Concat {
                start: args.first().cloned().unwrap_or_default().into_bytes(),
                var: match args.get(1).filter(|v| !v.is_empty()) {
                    Some(v) => Some(
                        super::vars::VarName::parse(v)
                            .map_err(|e| format!("converter 'concat': {e}"))?,
                    ),
                    None => None,
                },
                end: args.get(2).cloned().unwrap_or_default().into_bytes(),
            },
            "host_only" => HostOnly,
            "port_only" => PortOnly,
            "sdbm" => Sdbm(opt_flag(&args, name)?),
            "djb2" => Djb2(opt_flag(&args, name)?),
            "wt6" => Wt6(opt_flag(&args, name)?),
            "crc32" => Crc32(opt_flag(&args, name)?),
            "ltrim" => Ltrim(args.first().cloned().unwrap_or_default().into_bytes()),
            "rtrim" => Rtrim(args.first().cloned().unwrap_or_default().into_bytes()),
            "reverse" => Reverse,
            "set-var" => {
                let (v, conds) = super::vars::parse_set_target(&args.join(","))
                    .map_err(|e| format!("converter 'set-var': {e}"))?;
                if !v.settable() {
                    return Err(format!(
                        "converter 'set-var': variable '{}' cannot be set here",
                        v.full
                    ));
                }
                SetVar(v, conds)
            }
            "unset-var" => {
                let [name] = args.as_slice() else {
                    return Err("converter 'unset-var' expects one variable name".into());
                };
                let v = super::vars::VarName::parse(name)
                    .map_err(|e| format!("converter 'unset-var': {e}"))?;
                UnsetVar(v)
            }
            "capture-req" | "capture-res" => {
                let [id] = args.as_slice() else {
                    return Err(format!("converter '{name}' expects a capture slot number"));
                };
                let slot = id.trim().parse::<usize>().map_err(|_| {
                    format!("converter '{name}': invalid capture slot number '{id}'")
                })?;
                Capture {
                    res: name == "capture-res",
                    slot,
                }
            }
            n if super::map::is_map_converter(n) => {
                return Err(format!(
                    "converter '{n}' needs the configuration's map files, which are not available here"
                ));
            }
            n if LATER.contains(&n) => {
                return Err(format!("converter '{n}' {}", halo_config::NOT_BUILT));
            }
            n => return Err(format!("unknown converter '{n}'")),
        })
    }

    /// The type the converter produces (`None`: the type of its input).
    pub fn output_kind(&self) -> Option<super::OutputKind> {
        use super::OutputKind as O;
        use Conv::*;
        Some(match self {
            Hex2i | Length | Add(_) | Sub(_) | Mul(_) | Div(_) | Mod(_) | And(_) | Or(_)
            | Xor(_) | Neg | Cpl | PortOnly | Sdbm(_) | Djb2(_) | Wt6(_) | Crc32(_) => O::Int,
            Not | Bool | Odd | Even => O::Bool,
            Ipmask { .. } => O::Ip,
            B64Dec | Bytes { .. } => O::Bin,
            Map(m) => m.output_kind(),
            Ext(e) => e.output_kind(),
            Stick(t) => t.output_kind(),
            _ => O::Str,
        })
    }

    pub fn apply<'c>(&self, s: Sample<'c>, ctx: &Ctx<'_>) -> Option<Sample<'c>> {
        use Conv::*;
        let owned = |v: Vec<u8>| Sample::Str(Cow::Owned(v));
        Some(match self {
            Lower => match s {
                Sample::Str(Cow::Owned(mut v)) => {
                    v.make_ascii_lowercase();
                    owned(v)
                }
                other => owned(other.to_bytes().to_ascii_lowercase()),
            },
            Upper => owned(s.to_bytes().to_ascii_uppercase()),
            Base64 => owned(base64_encode(&s.to_bin()).into_bytes()),
            B64Dec => Sample::Bin(Cow::Owned(base64_decode(&s.to_bytes())?)),
            Hex => {
                let b = s.to_bin();
                owned(hex_upper(&b).into_bytes())
            }
            Hex2i => {
                let b = s.to_bytes();
                let t = std::str::from_utf8(&b).ok()?;
                Sample::Int(i64::from_str_radix(t.trim(), 16).ok()?)
            }
            X509VErrStr => {
                let id = s.to_int()?;
                match crate::tls::verify::error_name(id) {
                    Some(n) => Sample::Str(Cow::Borrowed(n.as_bytes())),
                    None => owned(id.to_string().into_bytes()),
                }
            }
            UrlDec { in_form } => owned(url_decode(&s.to_bytes(), *in_form)?),
            Json => owned(json_escape(&s.to_bytes())),
            Regsub { re, subst, global } => {
                let b = s.to_bytes();
                let mut out = Vec::with_capacity(b.len());
                let mut last = 0;
                for caps in re.captures_iter(&b) {
                    let Some(m) = caps.get(0) else { break };
                    out.extend_from_slice(&b[last..m.start()]);
                    for part in subst {
                        match part {
                            SubstPart::Lit(l) => out.extend_from_slice(l),
                            SubstPart::Group(g) => {
                                if let Some(g) = caps.get(*g) {
                                    out.extend_from_slice(g.as_bytes());
                                }
                            }
                        }
                    }
                    last = m.end();
                    if !*global {
                        break;
                    }
                }
                out.extend_from_slice(&b[last..]);
                owned(out)
            }
            Field {
                index,
                delims,
                count,
            } => owned(field(&s.to_bytes(), *index, delims, *count, false)?),
            Word {
                index,
                delims,
                count,
            } => owned(field(&s.to_bytes(), *index, delims, *count, true)?),
            Bytes { offset, length } => {
                let b = s.to_bin();
                let start = (*offset).min(b.len());
                let end = match length {
                    Some(l) => start.saturating_add(*l).min(b.len()),
                    None => b.len(),
                };
                Sample::Bin(Cow::Owned(b[start..end].to_vec()))
            }
            Length => Sample::Int(s.to_bytes().len() as i64),
            Ipmask { v4, v6 } => match s.to_ip()? {
                IpAddr::V4(a) => {
                    let m = if *v4 == 0 { 0 } else { u32::MAX << (32 - v4) };
                    Sample::Ip(IpAddr::V4((u32::from(a) & m).into()))
                }
                IpAddr::V6(a) => {
                    let m = if *v6 == 0 { 0 } else { u128::MAX << (128 - v6) };
                    Sample::Ip(IpAddr::V6((u128::from(a) & m).into()))
                }
            },
            Add(v) => Sample::Int(s.to_int()?.wrapping_add(v.value(ctx)?)),
            Sub(v) => Sample::Int(s.to_int()?.wrapping_sub(v.value(ctx)?)),
            Mul(v) => Sample::Int(s.to_int()?.wrapping_mul(v.value(ctx)?)),
            // HAProxy: division by zero gives the largest value (or 0 for mod).
            Div(v) => {
                let d = v.value(ctx)?;
                Sample::Int(if d == 0 {
                    i64::MAX
                } else {
                    s.to_int()?.wrapping_div(d)
                })
            }
            Mod(v) => {
                let d = v.value(ctx)?;
                Sample::Int(if d == 0 {
                    0
                } else {
                    s.to_int()?.wrapping_rem(d)
                })
            }
            And(v) => Sample::Int(s.to_int()? & v.value(ctx)?),
            Or(v) => Sample::Int(s.to_int()? | v.value(ctx)?),
            Xor(v) => Sample::Int(s.to_int()? ^ v.value(ctx)?),
            Neg => Sample::Int(s.to_int()?.wrapping_neg()),
            Not => Sample::Bool(s.to_int()? == 0),
            Bool => Sample::Bool(s.to_int()? != 0),
            Cpl => Sample::Int(!s.to_int()?),
            Odd => Sample::Bool(s.to_int()? & 1 == 1),
            Even => Sample::Bool(s.to_int()? & 1 == 0),
            Concat { start, var, end } => {
                let b = s.to_bytes();
                let mut v = Vec::with_capacity(start.len() + b.len() + end.len());
                v.extend_from_slice(&b);
                v.extend_from_slice(start);
                if let Some(var) = var {
                    // An unset variable adds nothing, as in HAProxy.
                    let value = match var.scope {
                        super::vars::Scope::Proc => super::vars::proc_get(&var.name),
                        _ => ctx.vars.and_then(|vars| vars.get(var)),
                    };
                    if let Some(val) = value {
                        v.extend_from_slice(&val.to_bytes());
                    }
                }
                v.extend_from_slice(end);
                owned(v)
            }
            HostOnly => {
                let b = s.to_bytes();
                owned(split_host_port(&b).0.to_vec())
            }
            PortOnly => {
                let b = s.to_bytes();
                let p = split_host_port(&b).1;
                Sample::Int(std::str::from_utf8(p).ok()?.parse::<i64>().ok()?)
            }
            Sdbm(a) => hashed(hash::sdbm(&s.to_bin()), *a),
            Djb2(a) => hashed(hash::djb2(&s.to_bin()), *a),
            Wt6(a) => hashed(hash::wt6(&s.to_bin()), *a),
            Crc32(a) => hashed(hash::crc32(&s.to_bin()), *a),
            Ltrim(chars) => {
                let b = s.to_bytes();
                let i = b.iter().position(|c| !chars.contains(c)).unwrap_or(b.len());
                owned(b[i..].to_vec())
            }
            Rtrim(chars) => {
                let b = s.to_bytes();
                let i = b
                    .iter()
                    .rposition(|c| !chars.contains(c))
                    .map(|i| i + 1)
                    .unwrap_or(0);
                owned(b[..i].to_vec())
            }
            Reverse => {
                let mut v = s.to_bytes().into_owned();
                v.reverse();
                owned(v)
            }
            Map(m) => m.apply(s)?,
            Stick(t) => t.convert(&s)?,
            Ext(e) => e.apply(s, ctx)?,
            SetVar(v, conds) => {
                let none;
                let vars = match ctx.vars {
                    Some(vars) => vars,
                    // Without a stream only `proc.` variables can be set.
                    None if v.scope == super::vars::Scope::Proc => {
                        none = super::vars::Vars::new();
                        &none
                    }
                    None => return None,
                };
                if !super::vars::conditions_hold(vars, v, conds, &s)
                    || !vars.set(v, s.clone().into_owned())
                {
                    return None;
                }
                s
            }
            UnsetVar(v) => {
                match ctx.vars {
                    Some(vars) => vars.unset(v),
                    None if v.scope == super::vars::Scope::Proc => {
                        super::vars::proc_set(&v.name, None);
                    }
                    None => {}
                }
                s
            }
            Capture { res, slot } => {
                let rules = &ctx.rt?.proxies.get(ctx.frontend?)?.http.rules;
                let (lens, caps) = if *res {
                    (&rules.res_capture_lens, ctx.res_caps?)
                } else {
                    (&rules.req_capture_lens, ctx.req_caps?)
                };
                caps.put(*slot, &s.to_bytes(), *lens.get(*slot)?);
                s
            }
        })
    }
}

/// A piece of `regsub`'s replacement: text, or `\N` (group N, 0 the whole match).
#[derive(Debug, Clone)]
pub enum SubstPart {
    Lit(Vec<u8>),
    Group(usize),
}

/// HAProxy's replacement syntax: `\0`-`\9` groups, `\xHH` a byte, `\` followed by any
/// other character that character; `$` is an ordinary character.
fn parse_subst(s: &[u8]) -> Vec<SubstPart> {
    let mut parts = Vec::new();
    let mut lit = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'\\' || i + 1 >= s.len() {
            lit.push(s[i]);
            i += 1;
            continue;
        }
        let e = s[i + 1];
        i += 2;
        if e.is_ascii_digit() {
            if !lit.is_empty() {
                parts.push(SubstPart::Lit(std::mem::take(&mut lit)));
            }
            parts.push(SubstPart::Group((e - b'0') as usize));
        } else if e == b'x'
            && let Some(v) = s
                .get(i..i + 2)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            lit.push(v);
            i += 2;
        } else {
            lit.push(e);
        }
    }
    if !lit.is_empty() {
        parts.push(SubstPart::Lit(lit));
    }
    parts
}

fn hashed(h: u32, avalanche: bool) -> Sample<'static> {
    Sample::Int(if avalanche { full_hash(h) } else { h } as i64)
}

/// The avalanche of the hash converters' `(1)` argument: HAProxy's `full_hash`, Bob
/// Jenkins' 32-bit integer mix followed by a multiplication by a large prime.
pub fn full_hash(mut a: u32) -> u32 {
    a = a.wrapping_add(0x7ed5_5d16).wrapping_add(a << 12);
    a = (a ^ 0xc761_c23c) ^ (a >> 19);
    a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
    a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a_4f09) ^ (a >> 16);
    a.wrapping_mul(3_221_225_473)
}

fn parse_mask(s: &str, max: u8) -> Option<u8> {
    if let Ok(n) = s.parse::<u8>() {
        return (n <= max).then_some(n);
    }
    let m: std::net::Ipv4Addr = s.parse().ok()?;
    Some(u32::from(m).count_ones() as u8)
}

/// `host:port` (with `[v6]:port`) split for `host_only`/`port_only`.
fn split_host_port(b: &[u8]) -> (&[u8], &[u8]) {
    if b.first() == Some(&b'[')
        && let Some(end) = b.iter().position(|&c| c == b']')
    {
        let rest = &b[end + 1..];
        return (&b[..=end], rest.strip_prefix(b":").unwrap_or(&[]));
    }
    match b.iter().rposition(|&c| c == b':') {
        Some(i) if b.iter().filter(|&&c| c == b':').count() == 1 => (&b[..i], &b[i + 1..]),
        _ => (b, &[]),
    }
}

/// `field`/`word`: 1-based index from the start, negative from the end; `count` fields
/// joined with the first delimiter. `word` skips empty fields.
fn field(b: &[u8], index: i64, delims: &[u8], count: i64, words: bool) -> Option<Vec<u8>> {
    let mut parts: Vec<&[u8]> = b.split(|c| delims.contains(c)).collect();
    if words {
        parts.retain(|p| !p.is_empty());
    }
    if index == 0 {
        return None;
    }
    let n = parts.len() as i64;
    let start = if index > 0 { index - 1 } else { n + index };
    if start < 0 || start >= n {
        return Some(Vec::new());
    }
    let end = if count <= 0 {
        n
    } else {
        (start + count).min(n)
    };
    let sep = [*delims.first().unwrap_or(&b' ')];
    Some(parts[start as usize..end as usize].join(&sep[..]))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let v = match chunk.len() {
            3 => (chunk[0] as u32) << 16 | (chunk[1] as u32) << 8 | chunk[2] as u32,
            2 => (chunk[0] as u32) << 16 | (chunk[1] as u32) << 8,
            _ => (chunk[0] as u32) << 16,
        };
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(B64[((v >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(b: &[u8]) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let trimmed: Vec<u8> = b.iter().copied().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    for chunk in trimmed.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut v: u32 = 0;
        for (k, &c) in chunk.iter().enumerate() {
            v |= val(c)? << (18 - 6 * k);
        }
        out.push((v >> 16) as u8);
        if chunk.len() > 2 {
            out.push((v >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(v as u8);
        }
    }
    Some(out)
}

fn url_decode(b: &[u8], in_form: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 3;
            }
            b'+' if in_form => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

fn json_escape(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + 8);
    for &c in b {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c if c < 0x20 => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out
}

/// Bytes as upper-case hexadecimal (the `hex` converter; serials and fingerprints in the
/// runtime API and check messages).
pub fn hex_upper(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(out, "{x:02X}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, args: &[&str], input: Sample<'static>) -> Option<Sample<'static>> {
        let c = Conv::compile(name, args.iter().map(|s| s.to_string()).collect()).unwrap();
        c.apply(input, &Ctx::empty()).map(|s| s.into_owned())
    }

    fn s(v: &str) -> Sample<'static> {
        Sample::Str(Cow::Owned(v.as_bytes().to_vec()))
    }

    #[test]
    fn arithmetic_takes_a_variable_argument() {
        use super::super::vars::Vars;
        let vars = Vars::new();
        let mut ctx = Ctx::empty();
        ctx.vars = Some(&vars);
        let conv = |name: &str, args: &[&str]| {
            Conv::compile(name, args.iter().map(|a| a.to_string()).collect()).unwrap()
        };
        conv("set-var", &["txn.d"]).apply(Sample::Int(4), &ctx);
        assert_eq!(
            conv("sub", &["txn.d"]).apply(Sample::Int(10), &ctx),
            Some(Sample::Int(6))
        );
        assert_eq!(
            conv("mul", &["txn.d"]).apply(Sample::Int(10), &ctx),
            Some(Sample::Int(40))
        );
        assert_eq!(
            conv("div", &["txn.d"]).apply(Sample::Int(10), &ctx),
            Some(Sample::Int(2))
        );
        // An unset variable fails the converter.
        assert_eq!(conv("add", &["txn.nope"]).apply(Sample::Int(1), &ctx), None);
        assert!(Conv::compile("add", vec!["x.y".into()]).is_err());
    }

    #[test]
    fn set_var_and_unset_var() {
        use super::super::vars::{VarName, Vars};
        let vars = Vars::new();
        let mut ctx = Ctx::empty();
        ctx.vars = Some(&vars);
        let conv = |name: &str, args: &[&str]| {
            Conv::compile(name, args.iter().map(|a| a.to_string()).collect()).unwrap()
        };
        let a = VarName::parse("txn.a").unwrap();
        // The sample passes through and is stored with its type.
        let set = conv("set-var", &["txn.a"]);
        assert_eq!(set.apply(Sample::Int(3), &ctx), Some(Sample::Int(3)));
        assert_eq!(vars.get(&a), Some(Sample::Int(3)));
        // A condition that does not hold fails the converter and stores nothing.
        let gt = conv("set-var", &["txn.a", "ifgt"]);
        assert_eq!(gt.apply(Sample::Int(9), &ctx), None);
        assert_eq!(vars.get(&a), Some(Sample::Int(3)));
        assert_eq!(gt.apply(Sample::Int(1), &ctx), Some(Sample::Int(1)));
        assert_eq!(vars.get(&a), Some(Sample::Int(1)));
        let unset = conv("unset-var", &["txn.a"]);
        assert_eq!(unset.apply(s("x"), &ctx), Some(s("x")));
        assert!(!vars.exists(&a));
        // Without a stream only proc variables can be set.
        assert_eq!(set.apply(Sample::Int(1), &Ctx::empty()), None);
        assert!(Conv::compile("set-var", vec!["txn.a".into(), "ifbogus".into()]).is_err());
        assert!(Conv::compile("set-var", vec!["ptxn.a".into()]).is_err());
        assert!(Conv::compile("unset-var", vec![]).is_err());
        assert!(Conv::compile("capture-req", vec!["x".into()]).is_err());
        // capture-req needs the frontend's slots: none here, the converter fails.
        assert_eq!(run("capture-req", &["0"], s("abc")), None);
    }

    #[test]
    fn strings() {
        assert_eq!(run("lower", &[], s("AbC")), Some(s("abc")));
        assert_eq!(run("upper", &[], s("AbC")), Some(s("ABC")));
        assert_eq!(run("base64", &[], s("hello")), Some(s("aGVsbG8=")));
        assert_eq!(
            run("b64dec", &[], s("aGVsbG8=")),
            Some(Sample::Bin(Cow::Owned(b"hello".to_vec())))
        );
        assert_eq!(run("hex", &[], s("AZ")), Some(s("415A")));
        assert_eq!(run("url_dec", &[], s("a%20b+c")), Some(s("a b+c")));
        assert_eq!(run("url_dec", &["1"], s("a%20b+c")), Some(s("a b c")));
        assert_eq!(run("json", &[], s("a\"b\n")), Some(s("a\\\"b\\n")));
        assert_eq!(run("regsub", &["o", "0", "g"], s("foo")), Some(s("f00")));
        assert_eq!(run("regsub", &["o", "0"], s("foo")), Some(s("f0o")));
        // HAProxy 2.6's replacement syntax.
        let sub = |subst: &str| run("regsub", &["(b)", subst], s("abc"));
        assert_eq!(
            run("regsub", &["^/(here)(/|$)", "my/\\1", "g"], s("/here/x")),
            Some(s("my/herex"))
        );
        assert_eq!(sub("[\\1\\1]"), Some(s("a[bb]c")));
        assert_eq!(sub("$1"), Some(s("a$1c")));
        assert_eq!(sub("${1}"), Some(s("a${1}c")));
        assert_eq!(sub("\\0"), Some(s("abc")));
        assert_eq!(sub("\\\\"), Some(s("a\\c")));
        assert_eq!(sub("\\x41"), Some(s("aAc")));
        assert_eq!(sub("\\n"), Some(s("anc")));
        assert_eq!(sub("\\9"), Some(s("ac")));
        assert_eq!(sub("\\q"), Some(s("aqc")));
        assert_eq!(run("field", &["2", ","], s("a,b,c")), Some(s("b")));
        assert_eq!(run("field", &["-1", ","], s("a,b,c")), Some(s("c")));
        assert_eq!(run("field", &["2", ",", "0"], s("a,b,c")), Some(s("b,c")));
        assert_eq!(run("word", &["2", "/"], s("//a//b")), Some(s("b")));
        assert_eq!(
            run("host_only", &[], s("www.x.com:8080")),
            Some(s("www.x.com"))
        );
        assert_eq!(
            run("port_only", &[], s("www.x.com:8080")),
            Some(Sample::Int(8080))
        );
        assert_eq!(run("length", &[], s("abcd")), Some(Sample::Int(4)));
        // Binary-input converters see an integer as 8 bytes big-endian (HAProxy 2.6),
        // string-input ones as its decimal form.
        assert_eq!(
            run("hex", &[], Sample::Int(12)),
            Some(s("000000000000000C"))
        );
        assert_eq!(
            run("hex", &[], Sample::Ip("1.2.3.4".parse().unwrap())),
            Some(s("01020304"))
        );
        assert_eq!(run("base64", &[], Sample::Int(12)), Some(s("AAAAAAAAAAw=")));
        assert_eq!(
            run("bytes", &["0", "2"], Sample::Int(12)),
            Some(Sample::Bin(Cow::Owned(vec![0, 0])))
        );
        assert_eq!(
            run("crc32", &[], Sample::Int(12)),
            Some(Sample::Int(1821676354))
        );
        assert_eq!(run("length", &[], Sample::Int(12)), Some(Sample::Int(2)));
        // The manual and HAProxy 2.6: appended after the sample.
        assert_eq!(run("concat", &["<", "", ">"], s("x")), Some(s("x<>")));
    }

    #[test]
    fn numbers_and_ips() {
        assert_eq!(run("add", &["3"], Sample::Int(4)), Some(Sample::Int(7)));
        assert_eq!(
            run("div", &["0"], Sample::Int(4)),
            Some(Sample::Int(i64::MAX))
        );
        assert_eq!(run("not", &[], Sample::Int(0)), Some(Sample::Bool(true)));
        assert_eq!(
            run("ipmask", &["24"], Sample::Ip("10.1.2.3".parse().unwrap())),
            Some(Sample::Ip("10.1.2.0".parse().unwrap()))
        );
        assert_eq!(
            run("crc32", &[], s("123456789")),
            Some(Sample::Int(0xCBF4_3926))
        );
        // The avalanche argument, as HAProxy 2.6.
        let nine = || s("123456789");
        assert_eq!(run("crc32", &["1"], nine()), Some(Sample::Int(1130417534)));
        assert_eq!(run("djb2", &[], nine()), Some(Sample::Int(902675330)));
        assert_eq!(run("djb2", &["1"], nine()), Some(Sample::Int(2717138294)));
        assert_eq!(run("sdbm", &["1"], nine()), Some(Sample::Int(3400502718)));
        assert_eq!(run("wt6", &["1"], nine()), Some(Sample::Int(4053691039)));
    }

    #[test]
    fn refusals() {
        assert!(
            Conv::compile("map_dom", vec!["/x".into()])
                .unwrap_err()
                .contains("needs the configuration's map files")
        );
        assert!(
            Conv::compile("in_table", vec![])
                .unwrap_err()
                .contains("not implemented")
        );
        assert!(
            Conv::compile("nosuch", vec![])
                .unwrap_err()
                .contains("unknown converter")
        );
        assert!(Conv::compile("regsub", vec!["(".into()]).is_err());
    }
}
