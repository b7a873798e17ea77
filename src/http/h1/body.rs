//! Streaming body delimiter and validator: tells how much of the input belongs to the body,
//! where the message ends (chunked trailers included), and refuses what HAProxy 2.6 refuses in
//! chunked bodies; it can also re-encode chunked bodies in canonical form, as HAProxy does.

use super::head::{Kind, is_tchar};
use super::{Framing, Limits, ParseError};

/// Chunk sizes from 2^52 up are refused (HAProxy 2.6 answers 400 to `10000000000000`).
const MAX_CHUNK: u64 = 1 << 52;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SizeAt {
    /// Hex digits (none yet when `digits` is false).
    Digits,
    /// Spaces or tabs after the digits.
    Space,
    /// A chunk extension, up to the line end.
    Ext,
    /// A CR: only LF may follow.
    Cr,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Length(u64),
    Close,
    Tunnel,
    Size {
        value: u64,
        digits: bool,
        at: SizeAt,
    },
    Data(u64),
    /// After chunk data: CRLF or LF expected (`true` once the CR is seen).
    DataEnd(bool),
    /// Trailer section: the current line so far.
    Trailers,
    Done,
}

/// Checks the body bytes that arrived with a head (`received` starts where the head ends) the
/// way HAProxy does before anything else happens to the message: it parses its whole input
/// buffer at once, so a request whose chunked body is already malformed there is refused (400)
/// before a server is even connected to, and such a response becomes a 502 before any of it
/// reaches the client. Bytes after the end of the message (a pipelined request) are not
/// looked at; an incomplete body is fine.
pub fn check_received(
    kind: Kind,
    framing: Framing,
    limits: &Limits,
    received: &[u8],
) -> Result<(), ParseError> {
    if framing != Framing::Chunked {
        // Only chunked framing can be malformed; other bodies are plain bytes.
        return Ok(());
    }
    let body = match kind {
        Kind::Request => BodyState::new(framing),
        Kind::Response => BodyState::new_response(framing),
    };
    body.with_limits(limits).advance(received).map(|_| ())
}

/// Streaming body decoder/validator, for forwarding a body without buffering it.
#[derive(Clone, Debug)]
pub struct BodyState {
    state: State,
    /// Body bytes consumed so far (error offsets are counted from the body start).
    consumed: u64,
    /// Longest chunk-size line, and largest trailer section (HAProxy's buffer).
    max_line: usize,
    line_len: usize,
    /// Current trailer line (validated when complete), and its offset from the body start.
    line: Vec<u8>,
    line_start: u64,
    /// Current trailer field being re-encoded (folds joined), for `advance_into`.
    pending: Vec<u8>,
    trailer_fields: usize,
    accept_invalid: bool,
    /// `option http-drop-request-trailers` / `http-drop-response-trailers`: `advance_into`
    /// writes no trailer field, only the end of the message.
    drop_trailers: bool,
    status: u16,
    /// Payload bytes so far (chunk data without its framing), and whether the body is
    /// chunked: what HAProxy's HTX message holds, counted by `%U`/`%B` and the stats.
    payload: u64,
    chunked: bool,
}

impl BodyState {
    /// A request body delimiter (errors are 400).
    pub fn new(framing: Framing) -> BodyState {
        let state = match framing {
            Framing::None | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Size {
                value: 0,
                digits: false,
                at: SizeAt::Digits,
            },
            Framing::UntilClose => State::Close,
            Framing::Tunnel => State::Tunnel,
        };
        BodyState {
            state,
            consumed: 0,
            max_line: Limits::default().max_raw,
            line_len: 0,
            line: Vec::new(),
            line_start: 0,
            pending: Vec::new(),
            trailer_fields: 0,
            accept_invalid: false,
            drop_trailers: false,
            status: 400,
            payload: 0,
            chunked: framing == Framing::Chunked,
        }
    }

    /// A response body delimiter (errors are 502).
    pub fn new_response(framing: Framing) -> BodyState {
        let mut b = BodyState::new(framing);
        b.status = 502;
        b
    }

    /// Uses `limits` for the longest chunk line / trailer section and `accept_invalid`.
    pub fn with_limits(mut self, limits: &Limits) -> BodyState {
        self.max_line = limits.max_raw;
        self.accept_invalid = limits.accept_invalid;
        self
    }

    /// Drops the trailer fields of a chunked body re-encoded by `advance_into`.
    pub fn dropping_trailers(mut self, drop: bool) -> BodyState {
        self.drop_trailers = drop;
        self
    }

    /// Whether the end of the message has been reached.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes consumed so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// The body's size as HAProxy counts it in `%U`/`%B` and `bin`/`bout`: the payload,
    /// plus 1 for the end-of-trailers block of a complete chunked body.
    pub fn htx_size(&self) -> u64 {
        self.payload + u64::from(self.chunked && self.state == State::Done)
    }

    /// Whether the body runs until the connection closes (or is a tunnel).
    pub fn until_close(&self) -> bool {
        matches!(self.state, State::Close | State::Tunnel)
    }

    /// The peer closed: fine for a close-delimited body or a finished one, otherwise the
    /// body was truncated.
    pub fn eof(&mut self) -> Result<(), ParseError> {
        match self.state {
            State::Close | State::Tunnel | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(self.err("truncated body", 0)),
        }
    }

    /// Consumes `input`: returns how many bytes belong to this body (to be forwarded as they
    /// are) and whether the message ended with them. Bytes after the end are not consumed.
    pub fn advance(&mut self, input: &[u8]) -> Result<(usize, bool), ParseError> {
        self.run(input, None)
    }

    /// Like `advance`, but appends to `out` the consumed bytes re-encoded the way HAProxy sends
    /// chunked bodies on: sizes in lowercase hex without extensions, CRLF line endings,
    /// trailers with folds joined. Other framings are copied as they are.
    pub fn advance_into(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(usize, bool), ParseError> {
        self.run(input, Some(out))
    }

    /// An error at `at` in the current input.
    fn err(&self, reason: &'static str, at: usize) -> ParseError {
        self.err_abs(reason, self.consumed.saturating_add(at as u64))
    }

    /// An error at `offset` from the body start.
    fn err_abs(&self, reason: &'static str, offset: u64) -> ParseError {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        ParseError {
            status: self.status,
            reason,
            offset,
        }
    }

    fn run(
        &mut self,
        input: &[u8],
        mut out: Option<&mut Vec<u8>>,
    ) -> Result<(usize, bool), ParseError> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Done => break,
                State::Close | State::Tunnel => {
                    if let Some(o) = out.as_deref_mut() {
                        o.extend_from_slice(input.get(i..).unwrap_or_default());
                    }
                    self.payload += (input.len() - i) as u64;
                    i = input.len();
                }
                State::Length(rem) | State::Data(rem) => {
                    let avail = input.len() - i;
                    let take = usize::try_from(rem).map_or(avail, |r| r.min(avail));
                    if let Some(o) = out.as_deref_mut() {
                        o.extend_from_slice(input.get(i..i + take).unwrap_or_default());
                    }
                    i += take;
                    self.payload += take as u64;
                    let left = rem - take as u64;
                    self.state = match (&self.state, left) {
                        (State::Length(_), 0) => State::Done,
                        (State::Length(_), n) => State::Length(n),
                        (_, 0) => State::DataEnd(false),
                        (_, n) => State::Data(n),
                    };
                }
                State::DataEnd(cr) => {
                    let b = input.get(i).copied().unwrap_or(0);
                    match (cr, b) {
                        (false, b'\r') => self.state = State::DataEnd(true),
                        (_, b'\n') => {
                            if let Some(o) = out.as_deref_mut() {
                                o.extend_from_slice(b"\r\n");
                            }
                            self.new_size_line();
                        }
                        _ => return Err(self.err("missing CRLF after chunk data", i)),
                    }
                    i += 1;
                }
                State::Size { value, digits, at } => {
                    let b = input.get(i).copied().unwrap_or(0);
                    self.line_len += 1;
                    if self.line_len > self.max_line {
                        return Err(self.err("chunk size line too long", i));
                    }
                    let next = match (at, b) {
                        (SizeAt::Digits, _) if b.is_ascii_hexdigit() => {
                            let d = u64::from((b as char).to_digit(16).unwrap_or(0));
                            let v = value.saturating_mul(16).saturating_add(d);
                            if v >= MAX_CHUNK {
                                return Err(self.err("chunk size too large", i));
                            }
                            Some((v, SizeAt::Digits))
                        }
                        _ if !digits => return Err(self.err("invalid chunk size", i)),
                        (SizeAt::Digits | SizeAt::Space, b' ' | b'\t') => {
                            Some((value, SizeAt::Space))
                        }
                        (SizeAt::Digits | SizeAt::Space, b';') => Some((value, SizeAt::Ext)),
                        (SizeAt::Digits | SizeAt::Space | SizeAt::Ext, b'\r') => {
                            Some((value, SizeAt::Cr))
                        }
                        (SizeAt::Ext, b) if b != b'\n' => Some((value, SizeAt::Ext)),
                        (_, b'\n') => None,
                        (SizeAt::Cr, _) => {
                            return Err(self.err("bare CR in chunk size line", i));
                        }
                        _ => return Err(self.err("invalid chunk size", i)),
                    };
                    match next {
                        Some((v, a)) => {
                            self.state = State::Size {
                                value: v,
                                digits: true,
                                at: a,
                            };
                        }
                        None => {
                            if let Some(o) = out.as_deref_mut() {
                                o.extend_from_slice(format!("{value:x}\r\n").as_bytes());
                            }
                            self.line_len = 0;
                            self.state = if value == 0 {
                                self.line.clear();
                                self.pending.clear();
                                self.trailer_fields = 0;
                                State::Trailers
                            } else {
                                State::Data(value)
                            };
                        }
                    }
                    i += 1;
                }
                State::Trailers => {
                    let rest = input.get(i..).unwrap_or_default();
                    let lf = rest.iter().position(|&b| b == b'\n');
                    let take = lf.map_or(rest.len(), |p| p + 1);
                    self.line_len += take;
                    if self.line_len > self.max_line {
                        return Err(self.err("trailers too large", i));
                    }
                    if self.line.is_empty() {
                        self.line_start = self.consumed.saturating_add(i as u64);
                    }
                    self.line
                        .extend_from_slice(rest.get(..take).unwrap_or_default());
                    i += take;
                    if lf.is_some() {
                        self.trailer_line(out.as_deref_mut())?;
                    }
                }
            }
        }
        self.consumed = self.consumed.saturating_add(i as u64);
        Ok((i, self.state == State::Done))
    }

    fn new_size_line(&mut self) {
        self.line_len = 0;
        self.state = State::Size {
            value: 0,
            digits: false,
            at: SizeAt::Digits,
        };
    }

    /// A complete trailer line is in `self.line` (with its LF).
    fn trailer_line(&mut self, out: Option<&mut Vec<u8>>) -> Result<(), ParseError> {
        let mut line = std::mem::take(&mut self.line);
        line.pop(); // the LF
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let result = self.check_trailer(&line);
        let is_end = line.is_empty();
        if result.is_ok()
            && let Some(o) = out
        {
            let fold = line.first().is_some_and(|&b| b == b' ' || b == b'\t');
            if fold {
                self.pending.push(b' ');
                self.pending.extend_from_slice(super::parse::trim(&line));
            } else {
                if !self.pending.is_empty() {
                    if !self.drop_trailers {
                        o.extend_from_slice(&self.pending);
                        o.extend_from_slice(b"\r\n");
                    }
                    self.pending.clear();
                }
                if is_end {
                    o.extend_from_slice(b"\r\n");
                } else {
                    self.pending.extend_from_slice(&line);
                }
            }
        }
        line.clear();
        self.line = line;
        result?;
        if is_end {
            self.state = State::Done;
        }
        Ok(())
    }

    fn check_trailer(&mut self, line: &[u8]) -> Result<(), ParseError> {
        let at = self.line_start;
        if line.is_empty() {
            return Ok(());
        }
        if let Some(p) = line.iter().position(|&b| b == b'\r') {
            return Err(self.err_abs("bare CR in trailer", at + p as u64));
        }
        if !self.accept_invalid
            && let Some(p) = line.iter().position(|&b| b == 0)
        {
            return Err(self.err_abs("NUL in trailer", at + p as u64));
        }
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            if self.trailer_fields == 0 {
                return Err(self.err_abs("folded trailer without field", at));
            }
            return Ok(());
        }
        let colon = line.iter().position(|&b| b == b':');
        match colon {
            Some(c)
                if c > 0
                    && line
                        .get(..c)
                        .is_some_and(|n| n.iter().all(|&b| is_tchar(b))) =>
            {
                self.trailer_fields += 1;
                Ok(())
            }
            _ => Err(self.err_abs("invalid trailer", at)),
        }
    }
}
