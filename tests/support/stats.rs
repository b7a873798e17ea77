//! Helpers for the stats page tests: a one-shot HTTP/1.1 client that reads the whole answer
//! (Content-Length, chunked or until close) with Basic credentials and POST bodies, a
//! form-urlencoded body builder, the CSV of `show stat` and `;csv` parsed by column name, the
//! version the binary under test prints with `-v`, and a look at the tags of an HTML page.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{IO_TIMEOUT, connect_from, halo_bin, run_bin};

/// A whole HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked; bytes that are not UTF-8 are replaced.
    pub body: String,
}

impl Answer {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The media type of Content-Type, without parameters, lowercased.
    pub fn content_type(&self) -> String {
        self.header("content-type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }
}

/// One request on a new connection, answered in full.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub target: String,
    pub host: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Option<(String, Vec<u8>)>,
}

impl Req {
    pub fn get(target: &str) -> Req {
        Req {
            method: "GET".into(),
            target: target.into(),
            host: None,
            headers: Vec::new(),
            body: None,
        }
    }

    /// A POST of an `application/x-www-form-urlencoded` body.
    pub fn post_form(target: &str, form: &str) -> Req {
        Req {
            method: "POST".into(),
            target: target.into(),
            host: None,
            headers: Vec::new(),
            body: Some((
                "application/x-www-form-urlencoded".into(),
                form.as_bytes().to_vec(),
            )),
        }
    }

    /// Basic credentials `user:password`.
    pub fn auth(mut self, user_pass: &str) -> Req {
        self.headers.push((
            "Authorization".into(),
            format!("Basic {}", base64(user_pass.as_bytes())),
        ));
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The Host header (default: the address connected to).
    pub fn host(mut self, host: &str) -> Req {
        self.host = Some(host.into());
        self
    }

    /// Sends the request in one write on a new connection to `addr` (`Connection: close`)
    /// and reads the answer until its end, all within a few seconds.
    pub fn send(&self, addr: SocketAddr) -> Answer {
        self.try_send(addr)
            .unwrap_or_else(|e| panic!("{} {} to {addr}: {e}", self.method, self.target))
    }

    pub fn try_send(&self, addr: SocketAddr) -> std::io::Result<Answer> {
        let mut s = connect_from(None, addr)?;
        let host = self.host.clone().unwrap_or_else(|| addr.to_string());
        let mut raw = format!(
            "{} {} HTTP/1.1\r\nHost: {host}\r\n",
            self.method, self.target
        );
        for (k, v) in &self.headers {
            raw.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some((ct, b)) = &self.body {
            raw.push_str(&format!(
                "Content-Type: {ct}\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        raw.push_str("Connection: close\r\n\r\n");
        let mut bytes = raw.into_bytes();
        if let Some((_, b)) = &self.body {
            bytes.extend_from_slice(b);
        }
        s.write_all(&bytes)?;
        read_answer(&mut s, IO_TIMEOUT * 2)
    }
}

/// GET `target` on `addr` (no credentials).
pub fn get(addr: SocketAddr, target: &str) -> Answer {
    Req::get(target).send(addr)
}

/// Reads one HTTP/1.1 answer: head, then the body by Content-Length, chunked, or until close.
fn read_answer(s: &mut std::net::TcpStream, timeout: Duration) -> std::io::Result<Answer> {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    // Reads more into buf; false at the end of the stream.
    let mut more = |buf: &mut Vec<u8>| -> std::io::Result<bool> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "answer not complete in time",
            ));
        }
        s.set_read_timeout(Some(left))?;
        match s.read(&mut chunk) {
            Ok(0) => Ok(false),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !buf.is_empty() => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    };
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if !more(&mut buf)? {
            return Err(bad("closed before the end of the head"));
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let hdr = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let mut rest = buf[head_end..].to_vec();
    let body = if hdr("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            // Size line.
            let nl = loop {
                if let Some(i) = rest[pos..].windows(2).position(|w| w == b"\r\n") {
                    break pos + i;
                }
                if !more(&mut rest)? {
                    return Err(bad("closed inside a chunk size"));
                }
            };
            let line = String::from_utf8_lossy(&rest[pos..nl]).into_owned();
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad("bad chunk size"))?;
            pos = nl + 2;
            if size == 0 {
                break;
            }
            while rest.len() < pos + size + 2 {
                if !more(&mut rest)? {
                    return Err(bad("closed inside a chunk"));
                }
            }
            out.extend_from_slice(&rest[pos..pos + size]);
            pos += size + 2;
        }
        out
    } else if let Some(cl) = hdr("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while rest.len() < cl {
            if !more(&mut rest)? {
                return Err(bad("closed before Content-Length bytes"));
            }
        }
        rest.truncate(cl);
        rest
    } else {
        while more(&mut rest)? {}
        rest
    };
    Ok(Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `k=v&k=v`, each part percent-encoded as a browser encodes a form.
pub fn form(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The CSV of `show stat` or of the page's `;csv`: the header line and the rows.
#[derive(Debug, Clone)]
pub struct StatCsv {
    /// The first line as sent (`# pxname,svname,...`).
    pub header_line: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl StatCsv {
    /// `show stat` on the runtime API socket `sock`, parsed.
    pub fn show_stat(sock: &std::path::Path) -> StatCsv {
        StatCsv::parse(&super::cli(sock, "show stat").unwrap_or_default())
    }

    pub fn parse(text: &str) -> StatCsv {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header_line = lines.next().unwrap_or("").to_string();
        assert!(
            header_line.starts_with("# pxname,svname,"),
            "not a stats CSV: {text:.300}"
        );
        let columns: Vec<String> = header_line
            .trim_start_matches("# ")
            .trim_end_matches(',')
            .split(',')
            .map(str::to_string)
            .collect();
        let rows = lines
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect();
        StatCsv {
            header_line,
            columns,
            rows,
        }
    }

    pub fn col(&self, name: &str) -> usize {
        self.columns
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", self.columns))
    }

    /// The field `name` of row `px,sv`.
    pub fn get(&self, px: &str, sv: &str, name: &str) -> Option<String> {
        let c = self.col(name);
        self.rows
            .iter()
            .find(|r| {
                r.first().map(String::as_str) == Some(px)
                    && r.get(1).map(String::as_str) == Some(sv)
            })
            .map(|r| r.get(c).cloned().unwrap_or_default())
    }

    /// `(pxname, svname)` of every row, in order.
    pub fn keys(&self) -> Vec<(String, String)> {
        self.rows
            .iter()
            .map(|r| (r[0].clone(), r.get(1).cloned().unwrap_or_default()))
            .collect()
    }
}

/// The version the binary under test prints with `-v`: the word after `version` on the
/// first line (`2.6.12-1+deb12u4` for Debian's haproxy, `0.1.0` for halo).
pub fn binary_version() -> String {
    let out = run_bin(&["-v".into()], &[], Duration::from_secs(10));
    let first = out.stdout.lines().next().unwrap_or("").to_string();
    let words: Vec<&str> = first.split_whitespace().collect();
    let i = words
        .iter()
        .position(|w| *w == "version")
        .unwrap_or_else(|| panic!("{} -v printed {first:?}", halo_bin().display()));
    let v = words
        .get(i + 1)
        .unwrap_or_else(|| panic!("no version in {first:?}"))
        .to_string();
    assert!(
        v.chars().next().is_some_and(|c| c.is_ascii_digit()) && v.contains('.'),
        "odd version {v:?} in {first:?}"
    );
    v
}

/// The attributes of every start tag of `html` named `tag` (any tag if empty), as
/// lowercased names and unquoted values.
pub fn tags(html: &str, tag: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').unwrap_or(rest.len());
        let inner = &rest[..end];
        rest = &rest[end..];
        let name_end = inner
            .find(|c: char| c.is_whitespace() || c == '/')
            .unwrap_or(inner.len());
        let name = &inner[..name_end];
        if name.is_empty() || name.starts_with('!') || name.starts_with('/') {
            continue;
        }
        if !tag.is_empty() && !name.eq_ignore_ascii_case(tag) {
            continue;
        }
        out.push(attributes(&inner[name_end..]));
    }
    out
}

fn attributes(mut s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        if s.is_empty() {
            return out;
        }
        let n = s
            .find(|c: char| c.is_whitespace() || c == '=' || c == '/')
            .unwrap_or(s.len());
        let name = s[..n].to_ascii_lowercase();
        s = s[n..].trim_start();
        let mut value = String::new();
        if let Some(r) = s.strip_prefix('=') {
            let r = r.trim_start();
            if let Some(q) = r.chars().next().filter(|c| *c == '"' || *c == '\'') {
                let body = &r[1..];
                let e = body.find(q).unwrap_or(body.len());
                value = body[..e].to_string();
                s = &body[(e + 1).min(body.len())..];
            } else {
                let e = r.find(char::is_whitespace).unwrap_or(r.len());
                value = r[..e].to_string();
                s = &r[e..];
            }
        }
        out.push((name, value));
    }
}

/// The value of attribute `name` in a tag's attributes.
pub fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// True if some `<tag>` of `html` has every attribute of `want` with that value (quoted or
/// not in the page).
pub fn has_tag(html: &str, tag: &str, want: &[(&str, &str)]) -> bool {
    tags(html, tag)
        .iter()
        .any(|a| want.iter().all(|(k, v)| attr(a, k) == Some(*v)))
}

/// The proxies of a configuration in order, each with the names of its `server` lines.
pub fn proxies_of(cfg: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_proxy = false;
    for l in cfg.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.is_empty() || w[0].starts_with('#') {
            continue;
        }
        if !l.starts_with(char::is_whitespace) {
            in_proxy = matches!(w[0], "listen" | "frontend" | "backend") && w.len() > 1;
            if in_proxy {
                out.push((w[1].to_string(), Vec::new()));
            }
        } else if in_proxy && w[0] == "server" && w.len() > 1 {
            out.last_mut().unwrap().1.push(w[1].to_string());
        }
    }
    out
}
