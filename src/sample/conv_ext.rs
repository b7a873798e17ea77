//! The converters beyond the basic string and arithmetic ones (manual 7.3.1): digests,
//! HMAC and xxHash, date formatting (`ltime`, `utime`, their `ms_`/`us_` forms,
//! `http_date`), `url_enc`, `param`, variable comparisons, `add_item`, `language`, `json_query`;
//! and, through it, the binary ones of `conv_bin`.

use std::borrow::Cow;
use std::ffi::CString;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Digest;

use super::vars::{Scope, VarName};
use super::{Ctx, OutputKind, Sample};

/// A compiled converter of this module.
#[derive(Debug, Clone)]
pub enum ExtConv {
    Digest(Alg),
    Hmac {
        alg: Alg,
        key: HmacKey,
    },
    Xxh32(u32),
    Xxh64(u64),
    Xxh3(u64),
    /// `ltime`/`utime` and their `ms_`/`us_` forms.
    Time(Box<TimeConv>),
    HttpDate {
        offset: i64,
        unit: Unit,
    },
    UrlEnc,
    Param {
        name: Vec<u8>,
        delim: u8,
    },
    Strcmp(VarName),
    SecureMemcmp(VarName),
    AddItem {
        delim: Vec<u8>,
        var: Option<VarName>,
        suffix: Vec<u8>,
    },
    Language {
        list: Vec<Vec<u8>>,
        default: Option<Vec<u8>>,
    },
    JsonQuery {
        path: Option<Vec<Step>>,
        int: bool,
    },
    /// `be2dec`, `be2hex`, `crc32c`, `iif`… (sample/conv_bin.rs).
    Bin(super::conv_bin::BinConv),
}

/// The message digests of `digest`, `sha1`, `sha2` and `hmac`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Sha512_224,
    Sha512_256,
    Sha3_224,
    Sha3_256,
    Sha3_384,
    Sha3_512,
}

impl Alg {
    /// An OpenSSL digest name, as HAProxy accepts it (case-insensitive, with OpenSSL's
    /// usual aliases).
    fn parse(name: &str) -> Result<Alg, String> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "md5" => Alg::Md5,
            "sha1" | "sha-1" => Alg::Sha1,
            "sha224" | "sha-224" | "sha2-224" => Alg::Sha224,
            "sha256" | "sha-256" | "sha2-256" => Alg::Sha256,
            "sha384" | "sha-384" | "sha2-384" => Alg::Sha384,
            "sha512" | "sha-512" | "sha2-512" => Alg::Sha512,
            "sha512-224" | "sha-512/224" | "sha2-512/224" => Alg::Sha512_224,
            "sha512-256" | "sha-512/256" | "sha2-512/256" => Alg::Sha512_256,
            "sha3-224" => Alg::Sha3_224,
            "sha3-256" => Alg::Sha3_256,
            "sha3-384" => Alg::Sha3_384,
            "sha3-512" => Alg::Sha3_512,
            _ => {
                return Err(format!(
                    "digest algorithm '{name}' is not supported by halo (supported: md5, sha1, sha224, sha256, sha384, sha512, sha512-224, sha512-256, sha3-224, sha3-256, sha3-384, sha3-512)"
                ));
            }
        })
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Alg::Md5 => md5::Md5::digest(data).to_vec(),
            Alg::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Alg::Sha224 => sha2::Sha224::digest(data).to_vec(),
            Alg::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Alg::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Alg::Sha512 => sha2::Sha512::digest(data).to_vec(),
            Alg::Sha512_224 => sha2::Sha512_224::digest(data).to_vec(),
            Alg::Sha512_256 => sha2::Sha512_256::digest(data).to_vec(),
            Alg::Sha3_224 => sha3::Sha3_224::digest(data).to_vec(),
            Alg::Sha3_256 => sha3::Sha3_256::digest(data).to_vec(),
            Alg::Sha3_384 => sha3::Sha3_384::digest(data).to_vec(),
            Alg::Sha3_512 => sha3::Sha3_512::digest(data).to_vec(),
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
        fn mac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
            let mut m = <M as KeyInit>::new_from_slice(key).ok()?;
            m.update(data);
            Some(m.finalize().into_bytes().to_vec())
        }
        match self {
            Alg::Md5 => mac::<Hmac<md5::Md5>>(key, data),
            Alg::Sha1 => mac::<Hmac<sha1::Sha1>>(key, data),
            Alg::Sha224 => mac::<Hmac<sha2::Sha224>>(key, data),
            Alg::Sha256 => mac::<Hmac<sha2::Sha256>>(key, data),
            Alg::Sha384 => mac::<Hmac<sha2::Sha384>>(key, data),
            Alg::Sha512 => mac::<Hmac<sha2::Sha512>>(key, data),
            Alg::Sha512_224 => mac::<Hmac<sha2::Sha512_224>>(key, data),
            Alg::Sha512_256 => mac::<Hmac<sha2::Sha512_256>>(key, data),
            Alg::Sha3_224 => mac::<Hmac<sha3::Sha3_224>>(key, data),
            Alg::Sha3_256 => mac::<Hmac<sha3::Sha3_256>>(key, data),
            Alg::Sha3_384 => mac::<Hmac<sha3::Sha3_384>>(key, data),
            Alg::Sha3_512 => mac::<Hmac<sha3::Sha3_512>>(key, data),
        }
    }
}

/// The key of `hmac`: base64 in the configuration, or a variable holding base64.
#[derive(Debug, Clone)]
pub enum HmacKey {
    Literal(Vec<u8>),
    Var(VarName),
}

/// The unit of a date given to a converter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    S,
    Ms,
    Us,
}

impl Unit {
    fn per_second(self) -> i64 {
        match self {
            Unit::S => 1,
            Unit::Ms => 1_000,
            Unit::Us => 1_000_000,
        }
    }
}

/// A compiled `ltime`/`utime` format: strftime pieces and the `%N` fields of the
/// `ms_`/`us_` forms (their width: how many leading digits of the nanoseconds).
#[derive(Debug, Clone)]
pub struct TimeConv {
    parts: Vec<TimePart>,
    offset: i64,
    unit: Unit,
    utc: bool,
}

#[derive(Debug, Clone)]
enum TimePart {
    Strftime(CString),
    Nanos(usize),
}

/// One step of a `json_query` path: `.key` or `[index]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(Vec<u8>),
    Index(usize),
}

fn arg(args: &[String], i: usize) -> Option<&str> {
    args.get(i).map(|s| s.as_str()).filter(|s| !s.is_empty())
}

fn int_arg(args: &[String], i: usize, name: &str) -> Result<Option<i64>, String> {
    match arg(args, i) {
        None => Ok(None),
        Some(a) => a
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("converter '{name}': invalid integer '{a}'")),
    }
}

fn var_arg(args: &[String], i: usize, name: &str) -> Result<VarName, String> {
    let v = arg(args, i).ok_or_else(|| format!("converter '{name}' expects a variable name"))?;
    VarName::parse(v).map_err(|e| format!("converter '{name}': {e}"))
}

fn too_many(args: &[String], max: usize, name: &str) -> Result<(), String> {
    if args.len() > max {
        return Err(format!(
            "converter '{name}' takes at most {max} argument(s), {} given",
            args.len()
        ));
    }
    Ok(())
}

/// Compiles `name(args)` if it is one of this module's converters (`None`: it is not).
pub fn compile(name: &str, args: &[String]) -> Option<Result<ExtConv, String>> {
    if let Some(b) = super::conv_bin::compile(name, args) {
        return Some(b.map(ExtConv::Bin));
    }
    let r = match name {
        "digest" => compile_digest(args),
        "sha1" => too_many(args, 0, name).map(|_| ExtConv::Digest(Alg::Sha1)),
        "sha2" => compile_sha2(args),
        "hmac" => compile_hmac(args),
        "xxh32" => too_many(args, 1, name)
            .and_then(|_| int_arg(args, 0, name))
            .map(|s| ExtConv::Xxh32(s.unwrap_or(0) as u32)),
        "xxh64" => too_many(args, 1, name)
            .and_then(|_| int_arg(args, 0, name))
            .map(|s| ExtConv::Xxh64(s.unwrap_or(0) as u64)),
        "xxh3" => too_many(args, 1, name)
            .and_then(|_| int_arg(args, 0, name))
            .map(|s| ExtConv::Xxh3(s.unwrap_or(0) as u64)),
        "ltime" | "utime" | "ms_ltime" | "ms_utime" | "us_ltime" | "us_utime" => {
            compile_time(name, args)
        }
        "http_date" => compile_http_date(args),
        "url_enc" => compile_url_enc(args),
        "param" => compile_param(args),
        "strcmp" => too_many(args, 1, name)
            .and_then(|_| var_arg(args, 0, name))
            .map(ExtConv::Strcmp),
        "secure_memcmp" => too_many(args, 1, name)
            .and_then(|_| var_arg(args, 0, name))
            .map(ExtConv::SecureMemcmp),
        "add_item" => compile_add_item(args),
        "language" => compile_language(args),
        "json_query" => compile_json_query(args),
        _ => return None,
    };
    Some(r)
}

fn compile_digest(args: &[String]) -> Result<ExtConv, String> {
    too_many(args, 1, "digest")?;
    let a = arg(args, 0).ok_or("converter 'digest' expects an algorithm name")?;
    Ok(ExtConv::Digest(Alg::parse(a)?))
}

fn compile_sha2(args: &[String]) -> Result<ExtConv, String> {
    too_many(args, 1, "sha2")?;
    Ok(ExtConv::Digest(match int_arg(args, 0, "sha2")? {
        None | Some(256) => Alg::Sha256,
        Some(224) => Alg::Sha224,
        Some(384) => Alg::Sha384,
        Some(512) => Alg::Sha512,
        Some(n) => {
            return Err(format!(
                "converter 'sha2': unsupported number of bits {n} (expected 224, 256, 384 or 512)"
            ));
        }
    }))
}

fn compile_hmac(args: &[String]) -> Result<ExtConv, String> {
    too_many(args, 2, "hmac")?;
    let alg = arg(args, 0).ok_or("converter 'hmac' expects an algorithm name and a key")?;
    let alg = Alg::parse(alg)?;
    let key = args
        .get(1)
        .ok_or("converter 'hmac' expects a key (base64) or a variable holding one")?;
    // As HAProxy: a valid variable name is a variable, anything else is base64.
    let key = match VarName::parse(key) {
        Ok(v) => HmacKey::Var(v),
        Err(_) => HmacKey::Literal(
            super::conv::base64_decode(key.as_bytes())
                .ok_or_else(|| format!("converter 'hmac': key '{key}' is not valid base64"))?,
        ),
    };
    Ok(ExtConv::Hmac { alg, key })
}

fn compile_time(name: &str, args: &[String]) -> Result<ExtConv, String> {
    too_many(args, 2, name)?;
    // No format (`utime()`) formats nothing, as in HAProxy.
    let fmt = args.first().map(String::as_str).unwrap_or("");
    let unit = if name.starts_with("ms_") {
        Unit::Ms
    } else if name.starts_with("us_") {
        Unit::Us
    } else {
        Unit::S
    };
    let cstr = |s: &str| {
        CString::new(s).map_err(|_| format!("converter '{name}': NUL character in the format"))
    };
    let mut parts = Vec::new();
    if unit == Unit::S {
        parts.push(TimePart::Strftime(cstr(fmt)?));
    } else {
        // `%N`, `%3N`…: the nanoseconds, cut to the width (default and maximum 9).
        let b = fmt.as_bytes();
        let mut cur = String::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                if b.get(i + 1) == Some(&b'%') {
                    cur.push_str("%%");
                    i += 2;
                    continue;
                }
                let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
                if b.get(i + 1 + digits) == Some(&b'N') {
                    let width = fmt[i + 1..i + 1 + digits].parse::<usize>().unwrap_or(9);
                    if !cur.is_empty() {
                        parts.push(TimePart::Strftime(cstr(&std::mem::take(&mut cur))?));
                    }
                    parts.push(TimePart::Nanos(if width == 0 { 9 } else { width.min(9) }));
                    i += digits + 2;
                    continue;
                }
            }
            // Copy one whole character (the format is UTF-8).
            let len = fmt[i..].chars().next().map(char::len_utf8).unwrap_or(1);
            cur.push_str(&fmt[i..i + len]);
            i += len;
        }
        if !cur.is_empty() || parts.is_empty() {
            parts.push(TimePart::Strftime(cstr(&cur)?));
        }
    }
    Ok(ExtConv::Time(Box::new(TimeConv {
        parts,
        offset: int_arg(args, 1, name)?.unwrap_or(0),
        unit,
        utc: name.ends_with("utime"),
    })))
}

fn compile_http_date(args: &[String]) -> Result<ExtConv, String> {
    too_many(args, 2, "http_date")?;
    let unit = match arg(args, 1) {
        None | Some("s") => Unit::S,
        Some("ms") => Unit::Ms,
        Some("us") => Unit::Us,
        Some(u) => {
            return Err(format!(
                "converter 'http_date': invalid unit '{u}' (expected s, ms or us)"
            ));
        }
    };
    Ok(ExtConv::HttpDate {
        offset: int_arg(args, 0, "http_date")?.unwrap_or(0),
        unit,
    })
}

fn compile_url_enc(args: &[String]) -> Result<ExtConv, String> {
    too_many(args, 1, "url_enc")?;
    match arg(args, 0) {
        None | Some("query") => Ok(ExtConv::UrlEnc),
        Some(t) => Err(format!(
            "converter 'url_enc': unexpected encode type '{t}'; the allowed value is 'query'"
        )),
    }
}

fn compile_param(args: &[String]) -> Result<ExtConv, String> {
    too_many(args, 2, "param")?;
    let name = arg(args, 0).ok_or("converter 'param' expects a parameter name")?;
    let delim = match args.get(1).map(|s| s.as_str()) {
        None => b'&',
        Some(d) if d.len() == 1 => d.as_bytes()[0],
        Some(d)
            if d.len() == 4
                && (d.starts_with("0x") || d.starts_with("0X"))
                && d[2..].bytes().all(|c| c.is_ascii_hexdigit()) =>
        {
            u8::from_str_radix(&d[2..], 16).map_err(|e| e.to_string())?
        }
        Some(d) => {
            return Err(format!(
                "converter 'param': invalid delimiter '{d}' (one character, or 0xHH)"
            ));
        }
    };
    Ok(ExtConv::Param {
        name: name.as_bytes().to_vec(),
        delim,
    })
}

fn compile_add_item(args: &[String]) -> Result<ExtConv, String> {
    too_many(args, 3, "add_item")?;
    let delim = args
        .first()
        .ok_or("converter 'add_item' expects a delimiter and a variable or a suffix")?;
    let var = match arg(args, 1) {
        Some(v) => Some(VarName::parse(v).map_err(|e| format!("converter 'add_item': {e}"))?),
        None => None,
    };
    let suffix = args.get(2).cloned().unwrap_or_default().into_bytes();
    if var.is_none() && suffix.is_empty() {
        return Err(
            "converter 'add_item' expects a variable or a suffix after the delimiter".into(),
        );
    }
    Ok(ExtConv::AddItem {
        delim: delim.as_bytes().to_vec(),
        var,
        suffix,
    })
}

fn compile_language(args: &[String]) -> Result<ExtConv, String> {
    too_many(args, 2, "language")?;
    let list = args
        .first()
        .ok_or("converter 'language' expects a list of languages ('en;fr;es')")?;
    Ok(ExtConv::Language {
        list: list.split(';').map(|l| l.as_bytes().to_vec()).collect(),
        default: args.get(1).map(|d| d.as_bytes().to_vec()),
    })
}

fn compile_json_query(args: &[String]) -> Result<ExtConv, String> {
    too_many(args, 2, "json_query")?;
    let path = arg(args, 0).ok_or("converter 'json_query' expects a JSON path ('$.key')")?;
    let int = match arg(args, 1) {
        None => false,
        Some("int") => true,
        Some(t) => {
            return Err(format!(
                "converter 'json_query': output type '{t}' is not supported (only 'int')"
            ));
        }
    };
    Ok(ExtConv::JsonQuery {
        path: parse_json_path(path.as_bytes()),
        int,
    })
}

/// `$`, then `.key` (a `\` escapes the next character, for keys holding dots) or
/// `[index]`. A path outside this syntax is accepted, as by HAProxy, and never matches.
fn parse_json_path(p: &[u8]) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let mut i = 1;
    if p.first() != Some(&b'$') {
        return None;
    }
    while i < p.len() {
        match p[i] {
            b'.' => {
                i += 1;
                let mut key = Vec::new();
                while i < p.len() && p[i] != b'.' && p[i] != b'[' {
                    if p[i] == b'\\' && i + 1 < p.len() {
                        i += 1;
                    }
                    key.push(p[i]);
                    i += 1;
                }
                if key.is_empty() {
                    return None;
                }
                steps.push(Step::Key(key));
            }
            b'[' => {
                let end = i + p[i..].iter().position(|&c| c == b']')?;
                let idx = std::str::from_utf8(&p[i + 1..end]).ok()?;
                if idx.is_empty() || !idx.bytes().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                steps.push(Step::Index(idx.parse().ok()?));
                i = end + 1;
            }
            _ => return None,
        }
    }
    Some(steps)
}

/// The value of a variable, for the converters that name one.
fn read_var<'v>(var: &VarName, ctx: &'v Ctx<'_>) -> Option<Sample<'v>> {
    match var.scope {
        Scope::Proc => super::vars::proc_get(&var.name),
        _ => ctx.vars?.get(var),
    }
}

impl ExtConv {
    /// The type the converter produces.
    pub fn output_kind(&self) -> OutputKind {
        match self {
            ExtConv::Digest(_) | ExtConv::Hmac { .. } => OutputKind::Bin,
            ExtConv::Xxh32(_) | ExtConv::Xxh64(_) | ExtConv::Xxh3(_) | ExtConv::Strcmp(_) => {
                OutputKind::Int
            }
            ExtConv::SecureMemcmp(_) => OutputKind::Bool,
            ExtConv::JsonQuery { int: true, .. } => OutputKind::Int,
            ExtConv::Bin(b) => b.output_kind(),
            _ => OutputKind::Str,
        }
    }

    pub fn apply<'c>(&self, s: Sample<'c>, ctx: &Ctx<'_>) -> Option<Sample<'c>> {
        let owned = |v: Vec<u8>| Sample::Str(Cow::Owned(v));
        Some(match self {
            ExtConv::Digest(alg) => Sample::Bin(Cow::Owned(alg.digest(&s.to_bin()))),
            ExtConv::Hmac { alg, key } => {
                let mac = match key {
                    HmacKey::Literal(k) => alg.hmac(k, &s.to_bin())?,
                    HmacKey::Var(v) => {
                        let k = read_var(v, ctx)?;
                        let k = super::conv::base64_decode(&k.to_bytes())?;
                        alg.hmac(&k, &s.to_bin())?
                    }
                };
                Sample::Bin(Cow::Owned(mac))
            }
            ExtConv::Xxh32(seed) => {
                Sample::Int(xxhash_rust::xxh32::xxh32(&s.to_bin(), *seed) as i64)
            }
            ExtConv::Xxh64(seed) => {
                Sample::Int(xxhash_rust::xxh64::xxh64(&s.to_bin(), *seed) as i64)
            }
            ExtConv::Xxh3(seed) => {
                Sample::Int(xxhash_rust::xxh3::xxh3_64_with_seed(&s.to_bin(), *seed) as i64)
            }
            ExtConv::Time(t) => owned(t.format(s.to_int()?)?),
            ExtConv::HttpDate { offset, unit } => owned(http_date(s.to_int()?, *offset, *unit)?),
            ExtConv::UrlEnc => owned(url_encode(&s.to_bytes())),
            ExtConv::Param { name, delim } => owned(param(&s.to_bytes(), name, *delim)?.to_vec()),
            ExtConv::Strcmp(var) => {
                let other = read_var(var, ctx)?;
                Sample::Int(strcmp(&s.to_bytes(), &other.to_bytes()))
            }
            ExtConv::SecureMemcmp(var) => {
                let other = read_var(var, ctx)?;
                Sample::Bool(secure_eq(&s.to_bin(), &other.to_bin()))
            }
            ExtConv::AddItem { delim, var, suffix } => {
                let value = var.as_ref().and_then(|v| read_var(v, ctx));
                let value = value.as_ref().map(|v| v.to_bytes());
                let value: &[u8] = value.as_deref().unwrap_or(&[]);
                let mut out = s.to_bytes().into_owned();
                // The delimiter only between a sample and something added to it.
                let adds = !value.is_empty() || !suffix.is_empty();
                if !out.is_empty() && adds {
                    out.extend_from_slice(delim);
                }
                out.extend_from_slice(value);
                out.extend_from_slice(suffix);
                owned(out)
            }
            ExtConv::Language { list, default } => {
                let b = s.to_bytes();
                match preferred_language(&b, list) {
                    Some(l) => owned(l.to_vec()),
                    None => owned(default.clone()?),
                }
            }
            ExtConv::JsonQuery { path, int } => json_query(&s.to_bytes(), path.as_deref()?, *int)?,
            ExtConv::Bin(b) => b.apply(s)?,
        })
    }
}

impl TimeConv {
    /// Formats `date` (in the converter's unit) plus the offset.
    fn format(&self, date: i64) -> Option<Vec<u8>> {
        let per = self.unit.per_second();
        let date = date.checked_add(self.offset)?;
        let secs = date.div_euclid(per);
        let nanos = date.rem_euclid(per) * (1_000_000_000 / per);
        let tm = broken_down(secs, self.utc)?;
        let mut out = Vec::new();
        for p in &self.parts {
            match p {
                TimePart::Strftime(f) => strftime(f, &tm, &mut out),
                TimePart::Nanos(width) => {
                    let mut digits = [b'0'; 9];
                    let mut v = nanos;
                    for d in digits.iter_mut().rev() {
                        *d = b'0' + (v % 10) as u8;
                        v /= 10;
                    }
                    out.extend_from_slice(&digits[..*width]);
                }
            }
        }
        Some(out)
    }
}

/// Seconds since the epoch as a broken-down UTC or local time.
fn broken_down(secs: i64, utc: bool) -> Option<libc::tm> {
    // time_t is narrower than i64 on some platforms.
    #[allow(clippy::useless_conversion)]
    let t: libc::time_t = secs.try_into().ok()?;
    // SAFETY: `tm` is plain data that the C library fills; a null return is checked.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let r = if utc {
            libc::gmtime_r(&t, &mut tm)
        } else {
            libc::localtime_r(&t, &mut tm)
        };
        (!r.is_null()).then_some(tm)
    }
}

/// Appends `strftime(fmt, tm)` to `out` (bounded as HAProxy's buffers: 16 KB).
fn strftime(fmt: &std::ffi::CStr, tm: &libc::tm, out: &mut Vec<u8>) {
    if fmt.is_empty() {
        return;
    }
    let mut size = 256;
    loop {
        let start = out.len();
        out.resize(start + size, 0);
        // SAFETY: the buffer holds `size` writable bytes; the format is NUL-terminated.
        let n = unsafe {
            libc::strftime(
                out[start..].as_mut_ptr() as *mut libc::c_char,
                size,
                fmt.as_ptr(),
                tm,
            )
        };
        out.truncate(start + n);
        // 0 is either an empty result or a buffer too small: grow a few times.
        if n > 0 || size >= 16384 {
            return;
        }
        size *= 4;
    }
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Tue, 14 Nov 2023 22:13:20 GMT`, with `.mmm` or `.uuuuuu` for dates in ms or us.
fn http_date(date: i64, offset: i64, unit: Unit) -> Option<Vec<u8>> {
    use std::io::Write;
    let per = unit.per_second();
    let date = date.checked_add(offset)?;
    let tm = broken_down(date.div_euclid(per), true)?;
    let frac = date.rem_euclid(per);
    let mut out = Vec::with_capacity(40);
    write!(
        out,
        "{}, {:02} {} {} {:02}:{:02}:{:02}",
        DAYS.get(tm.tm_wday as usize)?,
        tm.tm_mday,
        MONTHS.get(tm.tm_mon as usize)?,
        tm.tm_year as i64 + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
    .ok()?;
    match unit {
        Unit::S => {}
        Unit::Ms => write!(out, ".{frac:03}").ok()?,
        Unit::Us => write!(out, ".{frac:06}").ok()?,
    }
    out.extend_from_slice(b" GMT");
    Some(out)
}

/// Percent-encoding of everything but the unreserved characters (RFC 3986), as HAProxy's
/// `query` encoding.
fn url_encode(b: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(b.len() + b.len() / 2);
    for &c in b {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            out.push(c);
        } else {
            out.extend_from_slice(&[b'%', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
        }
    }
    out
}

/// The value of the first parameter `name` among `delim`-separated `name=value` parts
/// (`name` alone: an empty value).
fn param<'b>(b: &'b [u8], name: &[u8], delim: u8) -> Option<&'b [u8]> {
    b.split(|&c| c == delim).find_map(|part| {
        let rest = part.strip_prefix(name)?;
        match rest.first() {
            None => Some(&rest[..0]),
            Some(b'=') => Some(&rest[1..]),
            Some(_) => None,
        }
    })
}

/// HAProxy's `strcmp`: C's `strncmp` over the shorter length (the difference of the first
/// differing bytes, stopping at a NUL), then -1/1 when one string is a prefix of the other.
fn strcmp(a: &[u8], b: &[u8]) -> i64 {
    for (&x, &y) in a.iter().zip(b) {
        if x != y {
            return x as i64 - y as i64;
        }
        if x == 0 {
            break;
        }
    }
    match a.len().cmp(&b.len()) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }
}

/// Equality in time independent of the contents when the lengths are equal.
fn secure_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The entry of `list` preferred by an `Accept-Language` value: the highest q-value (the
/// first among equals; q=0 is refused). A language matches an entry equal to it or to its
/// base (`fr-CH` matches `fr`); the match is case-sensitive.
fn preferred_language<'l>(al: &[u8], list: &'l [Vec<u8>]) -> Option<&'l [u8]> {
    let ws = |c: u8| c.is_ascii_whitespace() || c == 0x0b;
    let mut best: Option<&[u8]> = None;
    let mut best_q = 0;
    let mut i = 0;
    let n = al.len();
    'items: loop {
        while i < n && ws(al[i]) {
            i += 1;
        }
        if i >= n {
            break;
        }
        let start = i;
        while i < n && al[i] != b';' && al[i] != b',' && !ws(al[i]) {
            i += 1;
        }
        let lang = &al[start..i];
        let entry = if lang.is_empty() {
            None
        } else {
            list.iter().find(|e| language_matches(lang, e))
        };
        if let Some(entry) = entry {
            match item_q(al, &mut i, ws) {
                Some(q) if q > best_q => {
                    best = Some(entry);
                    if q >= 1000 {
                        break 'items;
                    }
                    best_q = q;
                }
                _ => {}
            }
        }
        // Go to the next item.
        while i < n && al[i] != b',' {
            i += 1;
        }
        if i >= n {
            break;
        }
        i += 1;
    }
    best
}

/// The q-value (0 to 1000) of the item whose language ends at `*i`; `None` when what
/// follows the language is not a parameter (the item is then ignored).
fn item_q(al: &[u8], i: &mut usize, ws: impl Fn(u8) -> bool) -> Option<u32> {
    let n = al.len();
    let skip = |i: &mut usize| {
        while *i < n && ws(al[*i]) {
            *i += 1;
        }
    };
    skip(i);
    if *i >= n || al[*i] == b',' {
        return Some(1000);
    }
    if al[*i] != b';' {
        return None;
    }
    *i += 1;
    skip(i);
    if *i >= n || al[*i] != b'q' {
        return Some(1000);
    }
    *i += 1;
    skip(i);
    if *i >= n || al[*i] != b'=' {
        return Some(1000);
    }
    *i += 1;
    skip(i);
    Some(parse_qvalue(&al[(*i).min(n)..]))
}

/// `d[.ddd]` in thousandths, at most 1000; 1000 when it does not start with a digit.
fn parse_qvalue(b: &[u8]) -> u32 {
    let digit = |k: usize| {
        b.get(k)
            .filter(|c| c.is_ascii_digit())
            .map(|c| (c - b'0') as u32)
    };
    let Some(units) = digit(0) else {
        return 1000;
    };
    let mut q = units * 1000;
    if b.get(1) == Some(&b'.') {
        for (k, scale) in [(2, 100), (3, 10), (4, 1)] {
            match digit(k) {
                Some(d) => q += d * scale,
                None => break,
            }
        }
    }
    q.min(1000)
}

/// Whether the request's language `lang` matches the list entry `tag`: equal, or `tag`
/// is the part of `lang` before a `-`.
fn language_matches(lang: &[u8], tag: &[u8]) -> bool {
    match lang.strip_prefix(tag) {
        Some(rest) => rest.is_empty() || (!tag.is_empty() && rest[0] == b'-'),
        None => false,
    }
}

/// What `json_query` found.
enum Found<'a> {
    /// A string's contents, still escaped.
    Str(&'a [u8]),
    Num(&'a [u8]),
    Bool(bool),
    /// An array, as written in the input.
    Array(&'a [u8]),
    /// `null` or an object: `json_query` gives nothing for them.
    Other,
}

/// `json_query`: the value at `path`, or None when there is none, the input is not JSON
/// up to it, or the value is `null`, an object or a string it cannot decode.
fn json_query(doc: &[u8], path: &[Step], int: bool) -> Option<Sample<'static>> {
    let mut sc = JsonScanner { b: doc, i: 0 };
    match sc.find(path, 0)? {
        Found::Str(raw) => Some(Sample::Str(Cow::Owned(json_unescape(raw)?))),
        Found::Bool(v) => Some(Sample::Bool(v)),
        Found::Array(raw) => Some(Sample::Str(Cow::Owned(raw.to_vec()))),
        Found::Num(tok) if int => {
            // HAProxy reads the number as C's strtoll and refuses the saturated values.
            let v = super::parse_leading_int(tok)?;
            (v != i64::MAX && v != i64::MIN).then_some(Sample::Int(v))
        }
        Found::Num(tok) => Some(Sample::Str(Cow::Owned(format_g(number_prefix(tok))))),
        Found::Other => None,
    }
}

/// Most containers open at once that `json_query` reads (HAProxy's JSON reader: 20);
/// deeper input fails.
const JSON_MAX_DEPTH: usize = 20;

/// A forward-only JSON reader that stops as soon as the value searched for is complete
/// (what comes after it is not looked at, as in HAProxy).
struct JsonScanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> JsonScanner<'a> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// Finds the value at `path` in the value starting here.
    fn find(&mut self, path: &[Step], depth: usize) -> Option<Found<'a>> {
        let Some((step, rest)) = path.split_first() else {
            return self.value(depth);
        };
        if depth >= JSON_MAX_DEPTH {
            return None;
        }
        match (self.peek()?, step) {
            (b'{', Step::Key(key)) => {
                self.i += 1;
                if self.peek()? == b'}' {
                    return None;
                }
                loop {
                    let k = self.string()?;
                    self.eat(b':')?;
                    if k == key.as_slice() {
                        return self.find(rest, depth + 1);
                    }
                    self.skip(depth + 1)?;
                    match self.peek()? {
                        b',' => self.i += 1,
                        _ => return None,
                    }
                }
            }
            (b'[', Step::Index(idx)) => {
                self.i += 1;
                if self.peek()? == b']' {
                    return None;
                }
                let mut n = 0;
                loop {
                    if n == *idx {
                        return self.find(rest, depth + 1);
                    }
                    self.skip(depth + 1)?;
                    match self.peek()? {
                        b',' => self.i += 1,
                        _ => return None,
                    }
                    n += 1;
                }
            }
            _ => None,
        }
    }

    /// The value starting here (the target of the path).
    fn value(&mut self, depth: usize) -> Option<Found<'a>> {
        let c = self.peek()?;
        let start = self.i;
        Some(match c {
            b'"' => Found::Str(self.string()?),
            b'[' => {
                self.skip(depth)?;
                Found::Array(&self.b[start..self.i])
            }
            b'{' | b'n' => Found::Other,
            b't' | b'f' => {
                self.skip(depth)?;
                Found::Bool(c == b't')
            }
            _ => Found::Num(self.number()?),
        })
    }

    /// A string's raw contents (escapes not resolved), the reader past its closing quote.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            match *self.b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(&self.b[start..self.i - 1]);
                }
                b'\\' => self.i += 2,
                _ => self.i += 1,
            }
        }
    }

    /// A number token: `-` or a digit, then digits, `.`, `e`, `E`, `+`, `-` (read
    /// leniently, as HAProxy's JSON reader).
    fn number(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        match self.b.get(self.i)? {
            b'-' | b'0'..=b'9' => self.i += 1,
            _ => return None,
        }
        while self.i < self.b.len()
            && matches!(
                self.b[self.i],
                b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'
            )
        {
            self.i += 1;
        }
        Some(&self.b[start..self.i])
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.b[self.i..]
            .starts_with(word)
            .then(|| self.i += word.len())
    }

    /// Passes over one value, checking its syntax.
    fn skip(&mut self, depth: usize) -> Option<()> {
        let c = self.peek()?;
        if matches!(c, b'{' | b'[') && depth >= JSON_MAX_DEPTH {
            return None;
        }
        match c {
            b'"' => self.string().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'{' => {
                self.i += 1;
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    // A trailing comma is accepted, as by HAProxy.
                    if self.peek()? == b'}' {
                        self.i += 1;
                        return Some(());
                    }
                    self.string()?;
                    self.eat(b':')?;
                    self.skip(depth + 1)?;
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.i += 1;
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    if self.peek()? == b']' {
                        self.i += 1;
                        return Some(());
                    }
                    self.skip(depth + 1)?;
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            _ => self.number().map(drop),
        }
    }
}

/// Resolves a JSON string's escapes as HAProxy does: `\"`, `\\`, `\/`, `\b`, `\f`, `\n`,
/// `\r`, `\t`, and `\u00XX` as the byte XX; any other `\u` escape is refused.
fn json_unescape(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = *raw.get(i + 1)?;
        i += 2;
        out.push(match e {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let hex = std::str::from_utf8(raw.get(i..i + 4)?).ok()?;
                let v = u16::from_str_radix(hex, 16).ok()?;
                i += 4;
                u8::try_from(v).ok()?
            }
            _ => return None,
        });
    }
    Some(out)
}

/// The value of the longest prefix of `tok` that is a number (C's `strtod`: 0 when none).
fn number_prefix(tok: &[u8]) -> f64 {
    let digits = |b: &[u8], mut k: usize| {
        let s = k;
        while k < b.len() && b[k].is_ascii_digit() {
            k += 1;
        }
        (k, k - s)
    };
    let mut k = usize::from(tok.first() == Some(&b'-'));
    let (e, int_digits) = digits(tok, k);
    k = e;
    let mut frac_digits = 0;
    if tok.get(k) == Some(&b'.') {
        let (e, n) = digits(tok, k + 1);
        if int_digits + n > 0 {
            k = e;
            frac_digits = n;
        }
    }
    if int_digits + frac_digits == 0 {
        return 0.0;
    }
    if matches!(tok.get(k), Some(b'e' | b'E')) {
        let mut j = k + 1;
        if matches!(tok.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let (e, n) = digits(tok, j);
        if n > 0 {
            k = e;
        }
    }
    std::str::from_utf8(&tok[..k])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0)
}

/// C's `printf("%g")`: six significant digits, trailing zeros removed, exponent form
/// below 1e-4 and from 1e6.
fn format_g(v: f64) -> Vec<u8> {
    let mut buf = [0u8; 64];
    // SAFETY: the buffer's size is passed; the format takes exactly one double.
    let n = unsafe {
        libc::snprintf(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            c"%g".as_ptr(),
            v,
        )
    };
    let n = usize::try_from(n).unwrap_or(0).min(buf.len() - 1);
    buf[..n].to_vec()
}

#[cfg(test)]
mod tests {
    use super::super::vars::Vars;
    use super::*;

    fn conv(name: &str, args: &[&str]) -> ExtConv {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match compile(name, &args) {
            Some(Ok(c)) => c,
            Some(Err(e)) => panic!("{name}: {e}"),
            None => panic!("{name}: not an ExtConv"),
        }
    }

    fn run(name: &str, args: &[&str], input: Sample<'static>) -> Option<Sample<'static>> {
        conv(name, args)
            .apply(input, &Ctx::empty())
            .map(Sample::into_owned)
    }

    fn run_vars(
        name: &str,
        args: &[&str],
        input: Sample<'static>,
        vars: &Vars,
    ) -> Option<Sample<'static>> {
        let mut ctx = Ctx::empty();
        ctx.vars = Some(vars);
        conv(name, args).apply(input, &ctx).map(Sample::into_owned)
    }

    fn s(v: &str) -> Sample<'static> {
        Sample::Str(Cow::Owned(v.as_bytes().to_vec()))
    }

    fn hex_of(x: Option<Sample<'_>>) -> String {
        match x {
            Some(Sample::Bin(b)) => b.iter().map(|c| format!("{c:02X}")).collect(),
            other => panic!("not binary: {other:?}"),
        }
    }

    fn err(name: &str, args: &[&str]) -> String {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match compile(name, &args) {
            Some(Err(e)) => e,
            other => panic!("{name}{args:?} compiled: {other:?}"),
        }
    }

    // Expected values: HAProxy 2.6 (`http-request return lf-string "%[str(abc),…,hex]"`).
    #[test]
    fn digests() {
        let abc = || s("abc");
        assert_eq!(
            hex_of(run("sha1", &[], abc())),
            "A9993E364706816ABA3E25717850C26C9CD0D89D"
        );
        assert_eq!(
            hex_of(run("sha2", &[], abc())),
            "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"
        );
        assert_eq!(
            hex_of(run("sha2", &["224"], abc())),
            "23097D223405D8228642A477BDA255B32AADBCE4BDA0B3F7E36C9DA7"
        );
        assert_eq!(
            hex_of(run("sha2", &["384"], abc())),
            "CB00753F45A35E8BB5A03D699AC65007272C32AB0EDED1631A8B605A43FF5BED8086072BA1E7CC2358BAECA134C825A7"
        );
        assert_eq!(
            hex_of(run("sha2", &["512"], abc())),
            "DDAF35A193617ABACC417349AE20413112E6FA4E89A97EA20A9EEEE64B55D39A2192992A274FC1A836BA3C23A3FEEBBD454D4423643CE80E2A9AC94FA54CA49F"
        );
        assert_eq!(
            hex_of(run("digest", &["MD5"], abc())),
            "900150983CD24FB0D6963F7D28E17F72"
        );
        assert_eq!(
            hex_of(run("digest", &["sha512-256"], abc())),
            "53048E2681941EF99B2E29B76B4C7DABE4C2D0C634FC6D46E0E2F13107E7AF23"
        );
        assert_eq!(
            hex_of(run("digest", &["SHA2-256"], abc())),
            hex_of(run("sha2", &["256"], abc()))
        );
        // An integer is hashed as 8 bytes big-endian, as HAProxy casts it to binary.
        assert_eq!(
            hex_of(run("sha1", &[], Sample::Int(12))),
            "4B59A1A3CF0216CDAF6F11113885F0AE67453B75"
        );
        assert_eq!(
            hex_of(run("sha1", &[], Sample::Bool(true))),
            "CB473678976F425D6EC1339838F11011007AD27D"
        );
        assert_eq!(
            hex_of(run("digest", &["md5"], Sample::Int(12))),
            "859219F0F88E9C6539376AD71202B753"
        );
        assert_eq!(
            hex_of(run("hmac", &["sha256", "a2V5"], Sample::Int(12))),
            "2CFABF68ACBD169F91DAA8ED6EDB21691B7C0196634DB252A61D740371652C38"
        );
        assert_eq!(
            hex_of(run("digest", &["sha3-256"], abc())),
            "3A985DA74FE225B2045C172D6BD390BD855F086E3E9D525B46BFE24511431532"
        );
        assert!(err("digest", &["ripemd160"]).contains("not supported"));
        assert!(err("sha2", &["255"]).contains("unsupported number of bits"));
        assert!(err("digest", &[]).contains("expects an algorithm"));
    }

    #[test]
    fn hmacs() {
        // a2V5 is base64 for "key".
        assert_eq!(
            hex_of(run("hmac", &["sha256", "a2V5"], s("abc"))),
            "9C196E32DC0175F86F4B1CB89289D6619DE6BEE699E4C378E68309ED97A1A6AB"
        );
        let vars = Vars::new();
        let k = VarName::parse("txn.k").unwrap();
        // No variable: nothing.
        assert_eq!(run_vars("hmac", &["sha1", "txn.k"], s("abc"), &vars), None);
        vars.set(&k, s("a2V5"));
        assert_eq!(
            hex_of(run_vars("hmac", &["sha256", "txn.k"], s("abc"), &vars)),
            "9C196E32DC0175F86F4B1CB89289D6619DE6BEE699E4C378E68309ED97A1A6AB"
        );
        assert_eq!(
            hex_of(run_vars("hmac", &["sha1", "txn.k"], s("abc"), &vars)),
            "4FD0B215276EF12F2B3E4C8ECAC2811498B656FC"
        );
        let long_key = "cXVpdGUgYSBsb25nIGtleSB0aGF0IGlzIGxvbmdlciB0aGFuIHRoZSBibG9jayBzaXplIG9mIHNoYTI1NiAtIHdlbGwsIGFsbW9zdCAxMjggYnl0ZXMgbG9uZywgc28gbGV0cyBhZGQgbW9yZSB0ZXh0IGhlcmUgdG8gbWFrZSBpdCBsb25nIGVub3VnaC4uLi4uLg==";
        for (alg, key, want) in [
            (
                "sha3-256",
                "a2V5",
                "09B6DBAB8D11795CA7C8D82F1CF91682013C7CB980ABBB25473BE4AE7F7B5683",
            ),
            (
                "sha512-224",
                "a2V5",
                "28BC0433EF684EA9877C2F2437AA0CCFC2E8EB3A9B4C731606877B4F",
            ),
            ("md5", "a2V5", "D2FE98063F876B03193AFB49B4979591"),
            (
                "sha384",
                "",
                "948F7C5CAA500C31D7D4A0F52F3E3DA7E33C8A9FE6EF528B8A9AC3E4ADC4E24D908E6F40B737510E82354759DC5E9F06",
            ),
            (
                "sha512",
                long_key,
                "9EBA3F9D8EF5D36CCEBECA252E98BFAC9CD83785B8C647FA34AB8C72B642BBB278B03966D2039135E35E5DAEFA9E8D5DBA0C8247AA0FC7EAEBA9CD836BAC2B05",
            ),
        ] {
            assert_eq!(hex_of(run("hmac", &[alg, key], s("abc"))), want, "{alg}");
        }
        assert!(err("hmac", &["sha256", "not*base64"]).contains("not valid base64"));
        assert!(err("hmac", &["sha256"]).contains("expects a key"));
    }

    #[test]
    fn xxhashes() {
        assert_eq!(run("xxh32", &[], s("abc")), Some(Sample::Int(852579327)));
        assert_eq!(
            run("xxh32", &["1"], s("abc")),
            Some(Sample::Int(2856167679))
        );
        assert_eq!(
            run("xxh64", &[], s("abc")),
            Some(Sample::Int(4952883123889572249))
        );
        assert_eq!(
            run("xxh64", &["1"], s("abc")),
            Some(Sample::Int(-4708009277469325048))
        );
        assert_eq!(
            run("xxh64", &[], s("")),
            Some(Sample::Int(-1205034819632174695))
        );
        assert_eq!(
            run("xxh3", &[], s("abc")),
            Some(Sample::Int(8696274497037089104))
        );
        assert_eq!(
            run("xxh3", &["1"], s("abc")),
            Some(Sample::Int(7729416884403528232))
        );
        assert_eq!(
            run("xxh3", &[], s("")),
            Some(Sample::Int(3244421341483603138))
        );
        assert_eq!(
            run("xxh32", &[], Sample::Int(12)),
            Some(Sample::Int(3139994012))
        );
        assert_eq!(
            run("xxh64", &[], Sample::Int(12)),
            Some(Sample::Int(2974698167162019867))
        );
        assert_eq!(
            run("xxh3", &[], Sample::Int(12)),
            Some(Sample::Int(-6248565649915620112))
        );
        assert!(err("xxh32", &["x"]).contains("invalid integer"));
    }

    #[test]
    fn dates() {
        let t = || Sample::Int(1_700_000_000);
        assert_eq!(
            run("utime", &["%Y-%m-%d %H:%M:%S %z %Z %a %b %j"], t()),
            Some(s("2023-11-14 22:13:20 +0000 GMT Tue Nov 318"))
        );
        assert_eq!(
            run("utime", &["%Y%m%d%H%M%S", "3600"], t()),
            Some(s("20231114231320"))
        );
        assert_eq!(
            run("utime", &["%Y%m%d%H%M%S", "-3600"], t()),
            Some(s("20231114211320"))
        );
        // %N is only for the ms_/us_ forms: strftime leaves it as is.
        assert_eq!(
            run("utime", &["%N %3N %%N %s"], t()),
            Some(s("%N %3N %N 1700000000"))
        );
        assert_eq!(run("utime", &[""], t()), Some(s("")));
        assert_eq!(run("utime", &[], t()), Some(s("")));
        assert_eq!(
            run("utime", &["%Y"], Sample::Int(99_999_999_999_999)),
            Some(s("3170843"))
        );
        // The manual's examples for the ms_ and us_ forms.
        assert_eq!(
            run(
                "ms_utime",
                &["%Y/%m/%d/%H:%M:%S.%3N %z"],
                Sample::Int(1_690_192_382_196)
            ),
            Some(s("2023/07/24/09:53:02.196 +0000"))
        );
        assert_eq!(
            run(
                "us_utime",
                &["%Y/%m/%d/%H:%M:%S.%6N %z"],
                Sample::Int(1_690_192_382_196_234)
            ),
            Some(s("2023/07/24/09:53:02.196234 +0000"))
        );
        assert_eq!(
            run("ms_utime", &["%N|%1N|%%N|%S", "1000"], Sample::Int(5)),
            Some(s("005000000|0|%N|01"))
        );
    }

    #[test]
    fn local_time_is_localtime_r() {
        // Whatever the machine's zone, ltime agrees with the C library's localtime.
        let tm = broken_down(1_700_000_000, false).unwrap();
        let mut want = Vec::new();
        strftime(c"%Y%m%d%H%M%S", &tm, &mut want);
        assert_eq!(
            run("ltime", &["%Y%m%d%H%M%S"], Sample::Int(1_700_000_000)),
            Some(Sample::Str(Cow::Owned(want)))
        );
    }

    #[test]
    fn http_dates() {
        let t = |v: i64| Sample::Int(v);
        assert_eq!(
            run("http_date", &[], t(1_700_000_000)),
            Some(s("Tue, 14 Nov 2023 22:13:20 GMT"))
        );
        assert_eq!(
            run("http_date", &["3600"], t(1_700_000_000)),
            Some(s("Tue, 14 Nov 2023 23:13:20 GMT"))
        );
        assert_eq!(
            run("http_date", &["0", "ms"], t(1_700_000_000_123)),
            Some(s("Tue, 14 Nov 2023 22:13:20.123 GMT"))
        );
        assert_eq!(
            run("http_date", &["0", "us"], t(1_700_000_000_123_456)),
            Some(s("Tue, 14 Nov 2023 22:13:20.123456 GMT"))
        );
        assert_eq!(
            run("http_date", &["1000", "ms"], t(1_700_000_000_123)),
            Some(s("Tue, 14 Nov 2023 22:13:21.123 GMT"))
        );
        assert!(err("http_date", &["0", "h"]).contains("invalid unit"));
    }

    #[test]
    fn url_enc_and_param() {
        let all: Vec<u8> = (1..=255u8).collect();
        let enc = run("url_enc", &[], Sample::Bin(Cow::Owned(all))).unwrap();
        // HAProxy 2.6 on the bytes 1 to 255: only A-Z a-z 0-9 - . _ ~ stay.
        let enc = enc.to_bytes().into_owned();
        assert_eq!(enc.len(), 633);
        assert!(enc.starts_with(b"%01%02"));
        assert!(
            String::from_utf8(enc)
                .unwrap()
                .contains("%2A%2B%2C-.%2F0123456789%3A")
        );
        assert_eq!(run("url_enc", &["query"], s("a b")), Some(s("a%20b")));
        assert!(err("url_enc", &["path"]).contains("'query'"));

        // The manual's examples.
        assert_eq!(run("param", &["a"], s("a=b&c=d&a=r")), Some(s("b")));
        assert_eq!(run("param", &["a"], s("a&b=c")), Some(s("")));
        assert_eq!(run("param", &["b"], s("a=&b&c=a")), Some(s("")));
        assert_eq!(run("param", &["b", ";"], s("a=1;b=2;c=4")), Some(s("2")));
        assert_eq!(run("param", &["b", "0x3B"], s("a=1;b=2;c=4")), Some(s("2")));
        assert_eq!(run("param", &["ab"], s("a=1&abc=2")), None);
        assert!(err("param", &["a", ";;"]).contains("invalid delimiter"));
    }

    #[test]
    fn variable_comparisons() {
        // HAProxy 2.6 with txn.s = "abc", txn.e = "" and txn.i = 42.
        let vars = Vars::new();
        vars.set(&VarName::parse("txn.s").unwrap(), s("abc"));
        vars.set(&VarName::parse("txn.e").unwrap(), s(""));
        vars.set(&VarName::parse("txn.i").unwrap(), Sample::Int(42));
        vars.set(&VarName::parse("txn.s42").unwrap(), s("42"));
        let cmp = |input: Sample<'static>, var: &str| run_vars("strcmp", &[var], input, &vars);
        assert_eq!(cmp(s("abc"), "txn.s"), Some(Sample::Int(0)));
        assert_eq!(cmp(s("abd"), "txn.s"), Some(Sample::Int(1)));
        assert_eq!(cmp(s("abz"), "txn.s"), Some(Sample::Int(23)));
        assert_eq!(cmp(s("ab"), "txn.s"), Some(Sample::Int(-1)));
        assert_eq!(cmp(s("abcde"), "txn.s"), Some(Sample::Int(1)));
        assert_eq!(cmp(s("a"), "txn.s"), Some(Sample::Int(-1)));
        assert_eq!(cmp(s("abc"), "txn.nope"), None);
        assert_eq!(cmp(Sample::Int(42), "txn.i"), Some(Sample::Int(0)));
        let eq =
            |input: Sample<'static>, var: &str| run_vars("secure_memcmp", &[var], input, &vars);
        assert_eq!(eq(s("abc"), "txn.s"), Some(Sample::Bool(true)));
        assert_eq!(eq(s("abd"), "txn.s"), Some(Sample::Bool(false)));
        assert_eq!(eq(s("ab"), "txn.s"), Some(Sample::Bool(false)));
        assert_eq!(eq(s("abc"), "txn.nope"), None);
        assert_eq!(eq(s(""), "txn.e"), Some(Sample::Bool(true)));
        assert_eq!(eq(Sample::Int(42), "txn.i"), Some(Sample::Bool(true)));
        // Both sides are cast to binary: an integer is not its decimal string here.
        assert_eq!(eq(Sample::Int(42), "txn.s42"), Some(Sample::Bool(false)));
        assert_eq!(eq(s("42"), "txn.i"), Some(Sample::Bool(false)));
        assert_eq!(cmp(Sample::Int(42), "txn.s42"), Some(Sample::Int(0)));
        assert_eq!(cmp(s("42"), "txn.i"), Some(Sample::Int(0)));
        assert!(err("strcmp", &[]).contains("expects a variable"));
        assert!(err("secure_memcmp", &["nope"]).contains("invalid variable name"));
    }

    #[test]
    fn add_items() {
        let vars = Vars::new();
        vars.set(&VarName::parse("txn.s").unwrap(), s("abc"));
        vars.set(&VarName::parse("txn.e").unwrap(), s(""));
        vars.set(&VarName::parse("txn.i").unwrap(), Sample::Int(42));
        let add = |input: Sample<'static>, args: &[&str]| run_vars("add_item", args, input, &vars);
        // HAProxy 2.6.
        assert_eq!(add(s("x"), &[",", "txn.s", "(y)"]), Some(s("x,abc(y)")));
        assert_eq!(add(s(""), &[",", "txn.s", "(y)"]), Some(s("abc(y)")));
        assert_eq!(add(s("x"), &[",", "txn.nope"]), Some(s("x")));
        assert_eq!(add(s("x"), &[",", "txn.e"]), Some(s("x")));
        assert_eq!(add(s("x"), &[",", "", "(y)"]), Some(s("x,(y)")));
        assert_eq!(add(s("x"), &[",", "txn.nope", "(y)"]), Some(s("x,(y)")));
        assert_eq!(add(s(""), &[",", "txn.nope"]), Some(s("")));
        assert_eq!(add(Sample::Int(7), &[",", "txn.i"]), Some(s("7,42")));
        assert!(err("add_item", &[","]).contains("expects a variable or a suffix"));
    }

    #[test]
    fn languages() {
        // HAProxy 2.6 with these Accept-Language values.
        let lang = |al: &str, args: &[&str]| run("language", args, s(al));
        let al = "fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5";
        assert_eq!(lang(al, &["es;fr;en"]), Some(s("fr")));
        assert_eq!(lang(al, &["en-US;fr"]), Some(s("fr")));
        assert_eq!(lang(al, &["en;fr-CA"]), Some(s("en")));
        assert_eq!(lang(al, &["de", "zz"]), Some(s("de")));
        assert_eq!(lang(al, &["*;fr"]), Some(s("fr")));
        let al = "en-US,en;q=0.9";
        assert_eq!(lang(al, &["es;fr;en"]), Some(s("en")));
        assert_eq!(lang(al, &["en-US;fr"]), Some(s("en-US")));
        assert_eq!(lang(al, &["EN;fr"]), None);
        assert_eq!(lang(al, &["de", "zz"]), Some(s("zz")));
        assert_eq!(lang(al, &["*;fr"]), None);
        let al = "de;q=0, fr;q=0.5, en;q=0.5";
        assert_eq!(lang(al, &["es;fr;en"]), Some(s("fr")));
        assert_eq!(lang(al, &["en;fr-CA"]), Some(s("en")));
        assert_eq!(lang(al, &["de", "zz"]), Some(s("zz")));
        assert_eq!(lang("en;q=0.3,fr;q=0.30", &["es;fr;en"]), Some(s("en")));
        assert_eq!(lang("fr-CA;q=0.8, en-GB", &["en-US;fr"]), Some(s("fr")));
        assert_eq!(
            lang("  en ; q = 0.5 , fr ; q=0.6", &["es;fr;en"]),
            Some(s("fr"))
        );
        assert_eq!(lang("EN", &["EN;fr"]), Some(s("EN")));
        assert_eq!(lang("EN", &["es;fr;en", "zz"]), Some(s("zz")));
        assert_eq!(lang("en;q=1.5,fr", &["es;fr;en"]), Some(s("en")));
        assert_eq!(lang("en;q=0.001,fr;q=0.0001", &["es;fr;en"]), Some(s("en")));
        assert_eq!(lang("en;q=0.001,fr;q=0.0001", &["en-US;fr"]), None);
        assert_eq!(lang("en;q=abc,fr;q=0.1", &["en-US;fr"]), Some(s("fr")));
        assert_eq!(
            lang("fr;level=1;q=0.2,en;q=0.1", &["es;fr;en"]),
            Some(s("fr"))
        );
        assert!(err("language", &[]).contains("expects a list"));
    }

    #[test]
    fn json_queries() {
        // Expected values: HAProxy 2.6 `req.body,json_query(…)` on these documents.
        let doc = r#"{"a":"str","b":4,"c":1.5,"d":true,"e":false,"f":null,"g":{"x":1},"h":[],"i":[1, "two",{"x":"y"}],"j":"","my.key":"myvalue","k":1000000,"l":12345678901234567890,"m":-0.0,"n":-7,"o":1e3,"p":0.1,"q":"12","u":1e20,"w":[[1,2],[3]],"x":2.9}"#;
        let q = |path: &str| run("json_query", &[path], s(doc));
        let qi = |path: &str| run("json_query", &[path, "int"], s(doc));
        assert_eq!(q("$.a"), Some(s("str")));
        assert_eq!(q("$.b"), Some(s("4")));
        assert_eq!(qi("$.b"), Some(Sample::Int(4)));
        assert_eq!(q("$.c"), Some(s("1.5")));
        assert_eq!(qi("$.c"), Some(Sample::Int(1)));
        assert_eq!(q("$.d"), Some(Sample::Bool(true)));
        assert_eq!(q("$.e"), Some(Sample::Bool(false)));
        assert_eq!(q("$.f"), None);
        assert_eq!(q("$.g"), None);
        assert_eq!(q("$.i[1]"), Some(s("two")));
        assert_eq!(q("$.i[2].x"), Some(s("y")));
        assert_eq!(q("$.j"), Some(s("")));
        assert_eq!(q("$.my\\.key"), Some(s("myvalue")));
        assert_eq!(q("$.k"), Some(s("1e+06")));
        assert_eq!(qi("$.k"), Some(Sample::Int(1000000)));
        assert_eq!(q("$.l"), Some(s("1.23457e+19")));
        assert_eq!(qi("$.l"), None);
        assert_eq!(q("$.m"), Some(s("-0")));
        assert_eq!(qi("$.n"), Some(Sample::Int(-7)));
        assert_eq!(q("$.o"), Some(s("1000")));
        assert_eq!(q("$.p"), Some(s("0.1")));
        assert_eq!(q("$.q"), Some(s("12")));
        assert_eq!(q("$.u"), Some(s("1e+20")));
        assert_eq!(qi("$.u"), Some(Sample::Int(1)));
        assert_eq!(q("$.w[0][1]"), Some(s("2")));
        assert_eq!(q("$.x"), Some(s("2.9")));
        assert_eq!(qi("$.x"), Some(Sample::Int(2)));
        for none in [
            "$", "$.i[9]", "$.zz", "$.a.b", "$[\"a\"]", "$.i[-1]", "a", "$..a",
        ] {
            assert_eq!(q(none), None, "{none}");
        }
        // Arrays as written (the manual; HAProxy 2.6 did not return them yet).
        assert_eq!(q("$.i"), Some(s(r#"[1, "two",{"x":"y"}]"#)));
        assert_eq!(q("$.h"), Some(s("[]")));

        let one = |doc: &str, path: &str| run("json_query", &[path], s(doc));
        let hex = |doc: &str| match one(doc, "$.a") {
            Some(Sample::Str(b)) => b.iter().map(|c| format!("{c:02X}")).collect::<String>(),
            other => format!("{other:?}"),
        };
        // Escapes, as HAProxy 2.6: \u00XX is the byte XX; wider \u escapes fail.
        assert_eq!(hex(r#"{"a":"\u00e9"}"#), "E9");
        assert_eq!(hex(r#"{"a":"\u00E9x"}"#), "E978");
        assert_eq!(hex(r#"{"a":"x\ny\tz"}"#), "780A79097A");
        assert_eq!(hex(r#"{"a":"a\u0000b"}"#), "610062");
        assert_eq!(hex(r#"{"a":"ab\""}"#), "616222");
        assert_eq!(hex(r#"{"a":"\b\f\r\\"}"#), "080C0D5C");
        assert_eq!(hex("{\"a\":\"é\"}"), "C3A9");
        assert_eq!(one(r#"{"a":"\u20ac"}"#, "$.a"), None);
        assert_eq!(one(r#"{"a":"\a"}"#, "$.a"), None);
        // The first key wins; the search stops at the value found.
        assert_eq!(one(r#"{"a":1,"a":2}"#, "$.a"), Some(s("1")));
        assert_eq!(one(r#"{"a": {"x":1}, "a": 2}"#, "$.a"), None);
        assert_eq!(one(r#"{"b":{"a":5},"a":6}"#, "$.a"), Some(s("6")));
        assert_eq!(one(r#"{"a":1,"b":.5}"#, "$.a"), Some(s("1")));
        assert_eq!(one(r#"{"a":1,"b":.5}"#, "$.b"), None);
        assert_eq!(one(r#"{"a":1,"b":tru}"#, "$.b"), None);
        assert_eq!(one(r#"{"c":{"d":1,"e":[1,2}}"#, "$.c.d"), Some(s("1")));
        assert_eq!(one(r#"{"a":1"#, "$.a"), Some(s("1")));
        assert_eq!(one(r#"{"b":[1,2,],"a":1}"#, "$.a"), Some(s("1")));
        assert_eq!(one(r#"{"b":{"x":1,},"a":1}"#, "$.a"), Some(s("1")));
        assert_eq!(one(r#"{"b":[1 2],"a":1}"#, "$.a"), None);
        assert_eq!(one(r#"{"b":nul,"a":1}"#, "$.a"), None);
        assert_eq!(one(r#"{"b":{"x"},"a":1}"#, "$.a"), None);
        assert_eq!(one(r#"{"b":"x" "c":1,"a":1}"#, "$.b"), Some(s("x")));
        assert_eq!(one(r#"{"b":"x" "c":1,"a":1}"#, "$.a"), None);
        assert_eq!(one("{'a':1}", "$.a"), None);
        assert_eq!(one(r#"{"a":"x""#, "$.a"), Some(s("x")));
        // Numbers: read leniently, printed as C's %g.
        assert_eq!(one(r#"{"a":-}"#, "$.a"), Some(s("0")));
        assert_eq!(one(r#"{"a":1e}"#, "$.a"), Some(s("1")));
        assert_eq!(one(r#"{"a":1E2}"#, "$.a"), Some(s("100")));
        assert_eq!(one(r#"{"a":-1.5e-3}"#, "$.a"), Some(s("-0.0015")));
        assert_eq!(
            one(r#"{"a":123456789012345678}"#, "$.a"),
            Some(s("1.23457e+17"))
        );
        assert_eq!(one(r#"{"a":1.0}"#, "$.a"), Some(s("1")));
        assert_eq!(one(r#"{"a":100000}"#, "$.a"), Some(s("100000")));
        assert_eq!(one(r#"{"a":1234567}"#, "$.a"), Some(s("1.23457e+06")));
        assert_eq!(one(r#"{"a":0.0001}"#, "$.a"), Some(s("0.0001")));
        assert_eq!(one(r#"{"a":0.00001}"#, "$.a"), Some(s("1e-05")));
        assert_eq!(one(r#"{"a":-1e308}"#, "$.a"), Some(s("-1e+308")));
        assert_eq!(one(r#"{"a":1e400}"#, "$.a"), Some(s("inf")));
        let int = |doc: &str| run("json_query", &["$.a", "int"], s(doc));
        assert_eq!(int(r#"{"a":2147483648}"#), Some(Sample::Int(2147483648)));
        assert_eq!(int(r#"{"a":9223372036854775807}"#), None);
        assert_eq!(int(r#"{"a":-9223372036854775808}"#), None);
        assert_eq!(int(r#"{"a":true}"#), Some(Sample::Bool(true)));
        assert_eq!(int(r#"{"a":"0x10"}"#), Some(s("0x10")));
        // Nesting: 20 containers at most, as HAProxy 2.6.
        let nested = |n: usize| format!(r#"{{"b":{}{},"a":1}}"#, "[".repeat(n), "]".repeat(n));
        assert_eq!(one(&nested(19), "$.a"), Some(s("1")));
        assert_eq!(one(&nested(20), "$.a"), None);
        assert_eq!(one(&nested(100_000), "$.a"), None);
        assert!(err("json_query", &["$.a", "bool"]).contains("only 'int'"));
        assert!(err("json_query", &[]).contains("expects a JSON path"));
    }
}
