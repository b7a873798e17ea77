//! HTTP/1.1 codec built for a proxy: heads parsed with HAProxy 2.6's strictness and status
//! codes, kept editable with names and order as sent (`Head`), body framing and a streaming
//! body validator. `HAPROXY_BEHAVIOUR.md` lists each malformed input, HAProxy's answer, halo's.

mod body;
mod framing;
mod head;
mod parse;
#[cfg(test)]
mod tests;

pub use body::{BodyState, check_received};
pub use framing::{
    Framing, expects_continue, request_framing, response_framing, upgrade, wants_close,
};
pub use head::{CaseAdjust, Head, Kind, reason_phrase};
pub use parse::{authority, parse_request, parse_response, truncated_head};

/// The HTTP/1 version of a message. `HTTP/x.y` with other single digits are accepted as
/// HAProxy does: 1.1 and above count as 1.1, below as 1.0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    Http10,
    Http11,
}

/// Parsing limits, from the `global` tunables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `tune.bufsize - tune.maxrewrite` (15360 by default): the room a head may take once
    /// stored. HAProxy measures it on its internal form (see `parse.rs`), halo does the same.
    pub max_head: usize,
    /// Raw bytes a head may span on the wire, leading empty lines included: the input buffer,
    /// `tune.bufsize - 64` (16320 by default).
    pub max_raw: usize,
    /// `tune.http.maxhdr` (101): the start line counts as one, so 100 fields by default.
    pub max_headers: usize,
    /// `option accept-invalid-http-request` (for requests) or `-response` (for responses).
    pub accept_invalid: bool,
    /// Global `h1-accept-payload-with-any-method`: an HTTP/1.0 GET, HEAD or DELETE may carry
    /// a body instead of getting 413.
    pub payload_any_method: bool,
    /// Global `h1-do-not-close-on-insecure-transfer-encoding`: a message with both
    /// `Transfer-Encoding` and `Content-Length` loses the length but keeps the connection.
    pub keep_on_te_with_cl: bool,
    /// `tune.h1.fe.glitches-threshold` / `tune.h1.be.glitches-threshold` (0: none): used by
    /// the proxy, not by the codec.
    pub glitches_threshold: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::from_tune(16384, 1024, 101, false)
    }
}

impl Limits {
    /// Limits from `tune.bufsize`, `tune.maxrewrite`, `tune.http.maxhdr`; like HAProxy,
    /// a `maxrewrite` larger than half the buffer is reduced to half.
    pub fn from_tune(
        bufsize: usize,
        maxrewrite: usize,
        maxhdr: usize,
        accept_invalid: bool,
    ) -> Limits {
        let maxrewrite = maxrewrite.min(bufsize / 2);
        Limits {
            max_head: bufsize - maxrewrite,
            max_raw: bufsize.saturating_sub(64),
            max_headers: maxhdr,
            accept_invalid,
            payload_any_method: false,
            keep_on_te_with_cl: false,
            glitches_threshold: 0,
        }
    }
}

/// A message HAProxy would refuse: the status it answers and where the problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// What HAProxy answers: 400, 413 or 422 for requests, 502 for responses.
    pub status: u16,
    /// A short description, for logs.
    pub reason: &'static str,
    /// Offset of the problem in the input (for `show errors`); for bodies, from the body start.
    pub offset: usize,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at offset {} ({})",
            self.reason, self.offset, self.status
        )
    }
}

impl std::error::Error for ParseError {}
