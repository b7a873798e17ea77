//! The runtime API on the stats socket: HAProxy's text protocol (`;`, `prompt`, `quit`,
//! `<<` payloads, answers ended by an empty line), the state of one CLI session (level,
//! `user`/`operator`, `expert-mode`, `set timeout cli`) and the families of commands.

pub mod commands;
pub mod events;
pub mod info;
pub mod map;
pub mod process;
pub mod servers;
pub mod sessions;
pub mod ssl;
pub mod table;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use crate::compile::Runtime;
use halo_config::model::CliLevel;

/// The end of a command line announcing a payload.
const PAYLOAD_PATTERN: &str = "<<";

/// The next line without its `\n` or `\r\n`; `None` at the end of the input, on a
/// timeout, for a last line without its line feed (HAProxy ignores it too), or when the
/// line would not fit in `room` bytes (HAProxy's buffer: it drops the connection).
async fn next_line<R>(reader: &mut BufReader<R>, timeout_ms: u64, room: usize) -> Option<String>
where
    R: AsyncRead + Unpin,
{
    let mut line = String::new();
    let next = tokio::time::timeout(
        std::time::Duration::from_millis(timeout_ms.max(1)),
        (&mut *reader).take(room as u64).read_line(&mut line),
    )
    .await;
    match next {
        Ok(Ok(n)) if n > 0 && line.ends_with('\n') => {
            line.pop();
            if line.ends_with('\r') {
                line.pop();
            }
            Some(line)
        }
        _ => None,
    }
}

/// Ends an answer that HAProxy sends without the blank line after it (several `add
/// server`/`del server` answers of 2.x); `serve` removes it.
pub const NO_BLANK: char = '\0';

/// The answer to a command refused at this level, as HAProxy words it.
pub const PERMISSION_DENIED: &str = "Permission denied\n";

/// CLI connections open and since the start (`show info`'s `Jobs`, `CumConns`).
pub static CLI_CONNS: AtomicU32 = AtomicU32::new(0);
pub static CLI_CONNS_TOTAL: AtomicU64 = AtomicU64::new(0);

/// One open CLI connection, counted while it lives.
struct CliConn;

impl CliConn {
    fn new() -> CliConn {
        CLI_CONNS.fetch_add(1, Relaxed);
        CLI_CONNS_TOTAL.fetch_add(1, Relaxed);
        CliConn
    }
}

impl Drop for CliConn {
    fn drop(&mut self) {
        CLI_CONNS.fetch_sub(1, Relaxed);
    }
}

/// What one CLI connection remembers between its commands.
struct Session {
    /// The socket's level, or lower after `user` / `operator`.
    level: CliLevel,
    expert: bool,
    experimental: bool,
    /// How long to wait for the next line (`stats timeout`, `set timeout cli`).
    timeout_ms: u64,
}

impl Session {
    /// Runs the commands about the session itself (None: not one of them).
    fn execute(&mut self, w: &[&str]) -> Option<String> {
        Some(match w {
            ["show", "cli", "level", ..] => format!("{}\n", level_name(self.level)),
            ["user", ..] | ["operator", ..] => {
                let to = if w[0] == "user" {
                    CliLevel::User
                } else {
                    CliLevel::Operator
                };
                // A session may only lower its level.
                if self.level < to {
                    return Some(PERMISSION_DENIED.into());
                }
                self.level = to;
                self.expert = false;
                self.experimental = false;
                String::new()
            }
            ["expert-mode" | "experimental-mode", rest @ ..] => {
                if self.level < CliLevel::Admin {
                    return Some(PERMISSION_DENIED.into());
                }
                let flag = if w[0] == "expert-mode" {
                    &mut self.expert
                } else {
                    &mut self.experimental
                };
                match rest.first() {
                    None => format!("{} is {}\n", w[0], if *flag { "ON" } else { "OFF" }),
                    // As HAProxy: anything but `on` turns the mode off.
                    Some(v) => {
                        *flag = *v == "on";
                        String::new()
                    }
                }
            }
            ["set", "timeout", rest @ ..] => match rest {
                ["cli", v, ..] => match parse_timeout_secs(v) {
                    Some(secs) => {
                        self.timeout_ms = secs.saturating_mul(1000);
                        String::new()
                    }
                    None => "Invalid timeout value.\n".into(),
                },
                ["cli"] => "Expects an integer value.\n".into(),
                _ => "'set timeout' only supports 'cli'.\n".into(),
            },
            _ => return None,
        })
    }
}

/// The name of a level, as `show cli level` prints it.
pub fn level_name(l: CliLevel) -> &'static str {
    match l {
        CliLevel::User => "user",
        CliLevel::Operator => "operator",
        CliLevel::Admin => "admin",
    }
}

/// A delay of `set timeout cli` in whole seconds, rounded up as HAProxy does (`500ms` is
/// one second): a number and an optional unit (`us`, `ms`, `s`, `m`, `h`, `d`; seconds by
/// default). None for garbage, 0 or more than HAProxy holds.
fn parse_timeout_secs(v: &str) -> Option<u64> {
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    let n: u64 = v.get(..digits)?.parse().ok()?;
    let secs = match v.get(digits..)? {
        "us" => n.div_ceil(1_000_000),
        "ms" => n.div_ceil(1000),
        "" | "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86400)?,
        _ => return None,
    };
    (1..=u64::from(u32::MAX)).contains(&secs).then_some(secs)
}

/// Serves one client of the stats socket. Without `prompt`, the connection is closed
/// once the lines already received are answered (HAProxy answers a pipelined batch).
pub async fn serve<S>(rt: Arc<Runtime>, stream: S, level: CliLevel, timeout_ms: u64)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let _conn = CliConn::new();
    let mut sess = Session {
        level,
        expert: false,
        experimental: false,
        timeout_ms,
    };
    let (r, mut w) = tokio::io::split(stream);
    let mut lines = BufReader::new(r);
    let mut interactive = false;
    // A command line and its payload must fit in one buffer, as in HAProxy.
    let bufsize = rt.global.tune_bufsize.max(1024);
    loop {
        if interactive && w.write_all(b"> ").await.is_err() {
            return;
        }
        let Some(line) = next_line(&mut lines, sess.timeout_ms, bufsize).await else {
            return;
        };
        // A payload follows the first command ending with `<<`: the rest of the line after
        // its `;` (if any) then every line up to an empty one (`+ ` prompts each in
        // interactive mode). A connection closed before the empty line runs nothing.
        let mut commands = split_commands(&line);
        let payload = match commands.iter().position(|c| c.ends_with(PAYLOAD_PATTERN)) {
            None => None,
            Some(i) => {
                let mut p = Vec::new();
                let mut room = bufsize.saturating_sub(line.len() + 1);
                let mut done = false;
                if i + 1 < commands.len() {
                    let first = commands[i + 1..].join(";");
                    done = first.is_empty();
                    if !done {
                        p.push(first);
                    }
                    commands.truncate(i + 1);
                }
                while !done {
                    if interactive && w.write_all(b"+ ").await.is_err() {
                        return;
                    }
                    let Some(l) = next_line(&mut lines, sess.timeout_ms, room).await else {
                        return;
                    };
                    room = room.saturating_sub(l.len() + 1);
                    done = l.is_empty();
                    if !done {
                        p.push(l);
                    }
                }
                Some(p)
            }
        };
        let mut out = String::new();
        let mut quit = false;
        let last = commands.len().saturating_sub(1);
        for (i, cmd) in commands.iter().enumerate() {
            let mut words = split_words(cmd);
            // The payload belongs to the last command, whose `<<` is not an argument.
            let pl = match &payload {
                Some(p) if i == last => {
                    if let Some(lw) = words.last_mut() {
                        if let Some(stripped) = lw.strip_suffix(PAYLOAD_PATTERN) {
                            *lw = stripped.to_string();
                        }
                        if lw.is_empty() {
                            words.pop();
                        }
                    }
                    Some(p.as_slice())
                }
                _ => None,
            };
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            if words.is_empty() {
                continue;
            }
            match words[0] {
                "prompt" => {
                    interactive = !interactive;
                    out.push('\n');
                    continue;
                }
                "quit" => {
                    quit = true;
                    break;
                }
                _ => {}
            }
            // `show events RING -w`: what is there, then each new message until the client
            // sends anything (discarded) or closes.
            if let ["show", "events", rest @ ..] = words.as_slice()
                && let events::Show::Wait { ring, from, sep } = events::show(&rt, sess.level, rest)
            {
                let mut buf = std::mem::take(&mut out).into_bytes();
                let mut from = from;
                loop {
                    from = events::dump(&ring, from, sep, &mut buf);
                    if !buf.is_empty() {
                        if w.write_all(&buf).await.is_err() || w.flush().await.is_err() {
                            return;
                        }
                        buf.clear();
                    }
                    tokio::select! {
                        _ = ring.wait(from) => {}
                        got = lines.fill_buf() => {
                            let n = match got {
                                Ok(b) if !b.is_empty() => b.len(),
                                _ => return,
                            };
                            lines.consume(n);
                            break;
                        }
                    }
                }
                out.push('\n');
                continue;
            }
            let resp = match sess.execute(&words) {
                Some(r) => r,
                None => commands::execute(&rt, sess.level, &words, pl),
            };
            // As HAProxy: the answer as it is, then the blank line ending it (a message
            // without a newline of its own, like `set maxconn`'s errors, ends on one);
            // a few answers of haproxy 2.x come without it (marked `NO_BLANK`).
            match resp.strip_suffix(NO_BLANK) {
                Some(r) => out.push_str(r),
                None => {
                    out.push_str(&resp);
                    out.push('\n');
                }
            }
            // Interactive: a prompt after each answer of a `;` line, as HAProxy (the last
            // one's comes with the next line).
            if interactive && i < last {
                out.push_str("> ");
            }
        }
        if !out.is_empty() && w.write_all(out.as_bytes()).await.is_err() {
            return;
        }
        if quit || (!interactive && lines.buffer().is_empty()) {
            let _ = w.flush().await;
            let _ = w.shutdown().await;
            return;
        }
    }
}

/// Splits a command into words on blanks; a backslash makes the next character part of
/// the word (`\ ` a space, `\\` a backslash, `\;` a semicolon), as HAProxy does.
fn split_words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            _ => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// Splits a line on unescaped `;`, keeping the escapes for [`split_words`].
fn split_commands(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ';' => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<Vec<String>> {
        split_commands(line)
            .iter()
            .map(|c| split_words(c))
            .collect()
    }

    #[test]
    fn words_and_escapes() {
        assert_eq!(
            words("show map;get map #0 x"),
            vec![vec!["show", "map"], vec!["get", "map", "#0", "x"]]
        );
        assert_eq!(
            words("add map m 80\\ 81 800"),
            vec![vec!["add", "map", "m", "80 81", "800"]]
        );
        assert_eq!(
            words("add map m k\\;y v;show map m"),
            vec![
                vec!["add", "map", "m", "k;y", "v"],
                vec!["show", "map", "m"]
            ]
        );
        assert_eq!(
            words("add map m k\\\\x v"),
            vec![vec!["add", "map", "m", "k\\x", "v"]]
        );
        assert_eq!(words("  a \t b  "), vec![vec!["a", "b"]]);
        assert_eq!(words("a \\ "), vec![vec!["a", " "]]);
        assert_eq!(words(""), vec![Vec::<String>::new()]);
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout_secs("3"), Some(3));
        assert_eq!(parse_timeout_secs("500ms"), Some(1));
        assert_eq!(parse_timeout_secs("1500ms"), Some(2));
        assert_eq!(parse_timeout_secs("100us"), Some(1));
        assert_eq!(parse_timeout_secs("2m"), Some(120));
        assert_eq!(parse_timeout_secs("1d"), Some(86400));
        for bad in ["0", "0s", "2x", "", "s", "-1", "99999999999999999999"] {
            assert_eq!(parse_timeout_secs(bad), None, "{bad}");
        }
    }

    #[test]
    fn session_levels() {
        let mut s = Session {
            level: CliLevel::Admin,
            expert: false,
            experimental: false,
            timeout_ms: 1,
        };
        let run = |s: &mut Session, line: &str| {
            let w: Vec<&str> = line.split(' ').collect();
            s.execute(&w).unwrap_or_default()
        };
        assert_eq!(run(&mut s, "expert-mode"), "expert-mode is OFF\n");
        assert_eq!(run(&mut s, "expert-mode on"), "");
        assert_eq!(run(&mut s, "expert-mode"), "expert-mode is ON\n");
        assert_eq!(run(&mut s, "operator"), "");
        assert!(!s.expert);
        assert_eq!(run(&mut s, "show cli level"), "operator\n");
        assert_eq!(run(&mut s, "expert-mode"), PERMISSION_DENIED);
        assert_eq!(run(&mut s, "user"), "");
        assert_eq!(run(&mut s, "operator"), PERMISSION_DENIED);
        assert_eq!(run(&mut s, "show cli level"), "user\n");
        assert_eq!(run(&mut s, "set timeout cli 2"), "");
        assert_eq!(s.timeout_ms, 2000);
        assert_eq!(
            run(&mut s, "set timeout cli"),
            "Expects an integer value.\n"
        );
        assert_eq!(
            run(&mut s, "set timeout client 2"),
            "'set timeout' only supports 'cli'.\n"
        );
    }
}
