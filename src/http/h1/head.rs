//! The message head as an arena: the bytes received, then the bytes added by edits, with the
//! start line and the header fields as spans into it. Names keep their case and order; an
//! unedited head is written back byte for byte, an edited one line by line.

use super::Version;

/// A byte range of the arena.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
    pub(crate) fn len(self) -> usize {
        self.end.saturating_sub(self.start)
    }
}

/// One header field.
#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub(crate) name: Span,
    /// The value without the whitespace around it.
    pub(crate) value: Span,
    /// The whole line as received (without its line ending) while it can be written as is.
    pub(crate) line: Option<Span>,
}

/// Whether a head is a request or a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Request,
    Response,
}

/// Where an incomplete parse stopped, so the next call with the same (grown) buffer goes on
/// from there instead of starting over (a client sending one byte at a time costs O(n)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Nothing parsed, or a complete head: the next parse starts over.
    #[default]
    Idle,
    /// Skipping empty lines, then the start line.
    Start,
    /// Start line done, reading header lines.
    Headers,
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Progress {
    pub(crate) phase: Phase,
    /// Offset in the input of the first byte not yet examined (a line start).
    pub(crate) next: usize,
    /// Size the head takes in HAProxy's internal representation so far (see `parse.rs`).
    pub(crate) cost: usize,
    /// A line ended with a bare LF, or the start line was not in canonical form.
    pub(crate) irregular: bool,
    /// The version must be rewritten as `HTTP/1.0` or `HTTP/1.1` once the head is complete.
    pub(crate) fix_version: bool,
    /// Header lines seen (dropped ones included), for `tune.http.maxhdr`.
    pub(crate) count: usize,
    /// The last field line was dropped (an accepted invalid name): its folds go with it.
    pub(crate) last_dropped: bool,
    /// How far the incomplete line at `next` has been checked.
    pub(crate) partial: Partial,
}

/// Where the check of an incomplete line stands (HAProxy refuses bad bytes before the line
/// ends, so halo does too, without rescanning what it already saw).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Partial {
    /// Bytes of the line already checked (none of them is a LF).
    pub(crate) checked: usize,
    pub(crate) at: LinePos,
    /// Start of the current word, relative to the line.
    pub(crate) word_start: usize,
    /// The last byte checked was a CR: anything but LF after it is an error.
    pub(crate) cr: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum LinePos {
    #[default]
    Fresh,
    Method,
    AfterMethod,
    Uri,
    AfterUri,
    Version,
    StatusVersion,
    AfterStatusVersion,
    Status,
    Reason,
    Name,
    Value,
    Fold,
}

/// One HTTP message head (request or response) kept as an arena: the original bytes, then any
/// bytes added by edits; fields are (name, value) spans into the arena, in order. Header names
/// keep their original case. An unedited head is written byte-identical to the input, except
/// for the normalizations HAProxy also does: line endings become CRLF, obs-folds become spaces,
/// `HTTP/x.y` versions other than 1.0/1.1 are written as the one they stand for, duplicate
/// `Host`/`Content-Length` are merged, `Content-Length` is dropped beside `Transfer-Encoding`.
#[derive(Clone, Debug)]
pub struct Head {
    pub(crate) buf: Vec<u8>,
    pub(crate) kind: Kind,
    /// Method, URI, version for a request; version, status, reason for a response.
    pub(crate) start: [Span; 3],
    pub(crate) version: Version,
    pub(crate) status: u16,
    pub(crate) fields: Vec<Field>,
    /// The whole head as received while it can still be written byte for byte.
    pub(crate) verbatim: Option<Span>,
    /// The start line as received while it can be written as is.
    pub(crate) start_line: Option<Span>,
    /// Offset in the parsed input of the arena's first byte (leading empty lines skipped).
    pub(crate) base: usize,
    /// The connection must close after this message (it had both Content-Length and
    /// Transfer-Encoding: HAProxy drops the length and closes).
    pub(crate) close: bool,
    pub(crate) progress: Progress,
}

impl Default for Head {
    fn default() -> Head {
        Head::new()
    }
}

impl Head {
    /// An empty head, to be filled by `parse_request`/`parse_response`; reusable with `clear`.
    pub fn new() -> Head {
        Head {
            buf: Vec::new(),
            kind: Kind::Request,
            start: [Span::default(); 3],
            version: Version::Http11,
            status: 0,
            fields: Vec::new(),
            verbatim: None,
            start_line: None,
            base: 0,
            close: false,
            progress: Progress::default(),
        }
    }

    /// A request head built from parts (edits are sanitized, see `add`).
    pub fn request(method: &[u8], uri: &[u8], version: Version) -> Head {
        let mut h = Head::new();
        h.set_method(method);
        h.set_uri(uri);
        h.set_version(version);
        h
    }

    /// A response head built from parts; `reason: None` uses the usual phrase for the code.
    pub fn response(version: Version, status: u16, reason: Option<&[u8]>) -> Head {
        let mut h = Head::new();
        h.kind = Kind::Response;
        h.set_version(version);
        h.set_status(status, reason);
        h
    }

    /// Empties the head, keeping the allocated capacity.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.kind = Kind::Request;
        self.start = [Span::default(); 3];
        self.version = Version::Http11;
        self.status = 0;
        self.fields.clear();
        self.verbatim = None;
        self.start_line = None;
        self.base = 0;
        self.close = false;
        self.progress = Progress::default();
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn is_request(&self) -> bool {
        self.kind == Kind::Request
    }

    pub(crate) fn slice(&self, s: Span) -> &[u8] {
        self.buf.get(s.start..s.end).unwrap_or_default()
    }

    /// Appends bytes to the arena and returns their span.
    fn push(&mut self, bytes: &[u8]) -> Span {
        let start = self.buf.len();
        self.buf.extend_from_slice(bytes);
        Span::new(start, self.buf.len())
    }

    /// Appends bytes, replacing each byte `bad` refuses with what `fix` gives.
    fn push_clean(&mut self, bytes: &[u8], bad: fn(u8) -> bool, fix: &[u8]) -> Span {
        let start = self.buf.len();
        for &b in bytes {
            if bad(b) {
                self.buf.extend_from_slice(fix);
            } else {
                self.buf.push(b);
            }
        }
        Span::new(start, self.buf.len())
    }

    fn edited_start(&mut self) {
        self.verbatim = None;
        self.start_line = None;
    }

    // ---- request line ----

    /// The method of a request (empty for a response).
    pub fn method(&self) -> &[u8] {
        match self.kind {
            Kind::Request => self.slice(self.start[0]),
            Kind::Response => b"",
        }
    }

    /// The request target as sent (origin-form, absolute-form, `*` or authority-form).
    pub fn uri(&self) -> &[u8] {
        match self.kind {
            Kind::Request => self.slice(self.start[1]),
            Kind::Response => b"",
        }
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// The version as it will be written (`HTTP/1.1`, or what an accepted invalid head had).
    pub fn version_bytes(&self) -> &[u8] {
        let i = if self.kind == Kind::Request { 2 } else { 0 };
        self.slice(self.start[i])
    }

    /// Sets the method; bytes that are not token characters become `-`.
    pub fn set_method(&mut self, m: &[u8]) {
        if self.kind != Kind::Request {
            return;
        }
        self.start[0] = self.push_clean(m, |b| !is_tchar(b), b"-");
        self.edited_start();
    }

    /// Sets the request target; controls, spaces, DEL and `#` are percent-encoded.
    pub fn set_uri(&mut self, u: &[u8]) {
        if self.kind != Kind::Request {
            return;
        }
        let start = self.buf.len();
        for &b in u {
            if b <= b' ' || b == 0x7f || b == b'#' {
                let hex = b"0123456789ABCDEF";
                self.buf.push(b'%');
                self.buf.push(hex[usize::from(b >> 4)]);
                self.buf.push(hex[usize::from(b & 15)]);
            } else {
                self.buf.push(b);
            }
        }
        self.start[1] = Span::new(start, self.buf.len());
        self.edited_start();
    }

    pub fn set_version(&mut self, v: Version) {
        let i = if self.kind == Kind::Request { 2 } else { 0 };
        self.start[i] = self.push(v.as_bytes());
        self.version = v;
        self.edited_start();
    }

    // ---- status line ----

    /// The status code of a response (0 for a request).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase of a response as sent (may be empty).
    pub fn reason(&self) -> &[u8] {
        match self.kind {
            Kind::Response => self.slice(self.start[2]),
            Kind::Request => b"",
        }
    }

    /// Sets the status; `reason: None` uses the usual phrase for the code. CR, LF and NUL in
    /// the reason become spaces.
    pub fn set_status(&mut self, code: u16, reason: Option<&[u8]>) {
        if self.kind != Kind::Response {
            return;
        }
        self.status = code;
        let digits = format!("{code:03}");
        self.start[1] = self.push(digits.as_bytes());
        let reason = reason.unwrap_or_else(|| reason_phrase(code).as_bytes());
        self.start[2] = self.push_clean(reason, is_line_breaker, b" ");
        self.edited_start();
    }

    // ---- headers ----

    /// The header fields in order, names as sent, values without surrounding whitespace.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields
            .iter()
            .map(|f| (self.slice(f.name), self.slice(f.value)))
    }

    /// The value of the first field called `name` (compared case-insensitively).
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.get_all(name).next()
    }

    /// The values of every field called `name`, in order.
    pub fn get_all(&self, name: &[u8]) -> impl Iterator<Item = &[u8]> {
        self.fields.iter().filter_map(move |f| {
            if self.slice(f.name).eq_ignore_ascii_case(name) {
                Some(self.slice(f.value))
            } else {
                None
            }
        })
    }

    /// How many fields are called `name`.
    pub fn count(&self, name: &[u8]) -> usize {
        self.get_all(name).count()
    }

    /// Number of header fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Appends a field at the end. Bytes of `name` that are not token characters become `-`
    /// and CR, LF, NUL in `value` become spaces, so an edit can never inject a line.
    pub fn add(&mut self, name: &[u8], value: &[u8]) {
        if name.is_empty() {
            return;
        }
        let name = self.push_clean(name, |b| !is_tchar(b), b"-");
        let value = self.push_clean(value, is_line_breaker, b" ");
        self.fields.push(Field {
            name,
            value,
            line: None,
        });
        self.verbatim = None;
    }

    /// Removes every field called `name`, then adds one.
    pub fn set(&mut self, name: &[u8], value: &[u8]) {
        self.remove(name);
        self.add(name, value);
    }

    /// Removes every field called `name`; returns how many were removed.
    pub fn remove(&mut self, name: &[u8]) -> usize {
        let before = self.fields.len();
        let buf = &self.buf;
        self.fields.retain(|f| {
            !buf.get(f.name.start..f.name.end)
                .unwrap_or_default()
                .eq_ignore_ascii_case(name)
        });
        let removed = before - self.fields.len();
        if removed > 0 {
            self.verbatim = None;
        }
        removed
    }

    /// Keeps the fields for which `f(name, value)` is true.
    pub fn retain(&mut self, mut f: impl FnMut(&[u8], &[u8]) -> bool) {
        let before = self.fields.len();
        let buf = &self.buf;
        self.fields.retain(|fl| {
            f(
                buf.get(fl.name.start..fl.name.end).unwrap_or_default(),
                buf.get(fl.value.start..fl.value.end).unwrap_or_default(),
            )
        });
        if self.fields.len() != before {
            self.verbatim = None;
        }
    }

    /// Replaces the value of the field at `index` among all fields (no-op when out of range).
    pub fn replace_value(&mut self, index: usize, value: &[u8]) {
        if index >= self.fields.len() {
            return;
        }
        let span = self.push_clean(value, is_line_breaker, b" ");
        if let Some(f) = self.fields.get_mut(index) {
            f.value = span;
            f.line = None;
            self.verbatim = None;
        }
    }

    /// Replaces the name and the value of the field at `index` among all fields, sanitized
    /// as `add` does (no-op when out of range or when `name` is empty).
    pub fn set_field(&mut self, index: usize, name: &[u8], value: &[u8]) {
        if index >= self.fields.len() || name.is_empty() {
            return;
        }
        let name = self.push_clean(name, |b| !is_tchar(b), b"-");
        let value = self.push_clean(value, is_line_breaker, b" ");
        if let Some(f) = self.fields.get_mut(index) {
            f.name = name;
            f.value = value;
            f.line = None;
            self.verbatim = None;
        }
    }

    /// The field at `index` as one line without its line ending: as received while it is
    /// unedited, else `Name: value` (what the 1.x `reqrep` family matches).
    pub fn field_line(&self, index: usize) -> Option<Vec<u8>> {
        let f = self.fields.get(index)?;
        Some(match f.line {
            Some(l) => self.slice(l).to_vec(),
            None => {
                let mut v = self.slice(f.name).to_vec();
                v.extend_from_slice(b": ");
                v.extend_from_slice(self.slice(f.value));
                v
            }
        })
    }

    /// Removes the field at `index` among all fields (no-op when out of range).
    pub fn remove_at(&mut self, index: usize) {
        if index < self.fields.len() {
            self.fields.remove(index);
            self.verbatim = None;
        }
    }

    /// Whether the head is written exactly as it was received.
    pub fn is_verbatim(&self) -> bool {
        self.verbatim.is_some()
    }

    /// Writes the head (start line + headers + CRLF CRLF) as it must go on the wire.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        if let Some(v) = self.verbatim {
            out.extend_from_slice(self.slice(v));
            return;
        }
        match self.start_line {
            Some(l) => out.extend_from_slice(self.slice(l)),
            None => {
                let [a, b, c] = self.start;
                out.extend_from_slice(self.slice(a));
                out.push(b' ');
                out.extend_from_slice(self.slice(b));
                out.push(b' ');
                out.extend_from_slice(self.slice(c));
            }
        }
        out.extend_from_slice(b"\r\n");
        for f in &self.fields {
            match f.line {
                Some(l) => out.extend_from_slice(self.slice(l)),
                None => {
                    out.extend_from_slice(self.slice(f.name));
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(self.slice(f.value));
                }
            }
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }

    /// Writes the head like `write_to`, with the header names found in `adjust` (global
    /// `h1-case-adjust`) written in the case it gives, for a bogus peer that relies on case.
    pub fn write_adjusted(&self, out: &mut Vec<u8>, adjust: &CaseAdjust) {
        if adjust.is_empty()
            || !self
                .fields
                .iter()
                .any(|f| adjust.get(self.slice(f.name)).is_some())
        {
            self.write_to(out);
            return;
        }
        let start = out.len();
        self.write_to(out);
        // Field names are rewritten in place: the adjusted name has the same length.
        let mut pos = start;
        let mut lines = out[start..].split(|&b| b == b'\n');
        // The start line is not a field.
        if let Some(first) = lines.next() {
            pos += first.len() + 1;
        }
        let mut spans = Vec::new();
        for line in lines {
            if let Some(colon) = line.iter().position(|&b| b == b':')
                && let Some(to) = adjust.get(&line[..colon])
            {
                spans.push((pos, to));
            }
            pos += line.len() + 1;
        }
        for (at, to) in spans {
            if let Some(dst) = out.get_mut(at..at + to.len()) {
                dst.copy_from_slice(to);
            }
        }
    }

    /// The head as it must go on the wire, in a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.buf.len() + 4);
        self.write_to(&mut v);
        v
    }

    /// Offset in the parsed input of a position in the arena (for error reports).
    pub(crate) fn input_offset(&self, arena_pos: usize) -> usize {
        self.base + arena_pos
    }
}

impl Version {
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            Version::Http10 => b"HTTP/1.0",
            Version::Http11 => b"HTTP/1.1",
        }
    }
}

/// RFC 9110 token characters.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_line_breaker(b: u8) -> bool {
    b == b'\r' || b == b'\n' || b == 0
}

/// The reason phrase for a status code, in HAProxy 2.6's wording (what it writes for the
/// answers it makes: `return`, `set-status`, redirects).
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        210 => "Content Different",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        310 => "Too many Redirects",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Requested range unsatisfiable",
        417 => "Expectation failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Method failure",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        449 => "Retry With",
        450 => "Blocked by Windows Parental Controls",
        451 => "Unavailable For Legal Reasons",
        456 => "Unrecoverable Error",
        499 => "client has closed connection",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway or Proxy Error",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version not supported",
        506 => "Variant also negotiate",
        507 => "Insufficient storage",
        508 => "Loop detected",
        509 => "Bandwidth Limit Exceeded",
        510 => "Not extended",
        511 => "Network authentication required",
        520 => "Web server is returning an unknown error",
        _ => match code / 100 {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Other",
        },
    }
}

/// Global `h1-case-adjust` / `h1-case-adjust-file`: header names (keyed in lower case) and the
/// case to give them on the wire towards peers that rely on it.
#[derive(Clone, Debug, Default)]
pub struct CaseAdjust {
    names: std::collections::HashMap<Vec<u8>, Vec<u8>>,
}

impl CaseAdjust {
    /// From (lower-case name, wanted spelling) pairs, checked by the configuration parser.
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> CaseAdjust {
        let names = pairs
            .into_iter()
            .filter(|(from, to)| from.eq_ignore_ascii_case(to))
            .map(|(from, to)| {
                (
                    from.to_ascii_lowercase().into_bytes(),
                    to.as_bytes().to_vec(),
                )
            })
            .collect();
        CaseAdjust { names }
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The spelling for `name` (any case), when it has one.
    fn get(&self, name: &[u8]) -> Option<&[u8]> {
        if name.iter().any(|b| b.is_ascii_uppercase()) {
            self.names
                .get(&name.to_ascii_lowercase())
                .map(Vec::as_slice)
        } else {
            self.names.get(name).map(Vec::as_slice)
        }
    }
}
