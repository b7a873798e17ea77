//! The runtime API on the stats socket: HAProxy's text protocol (one command per line,
//! several separated by `;`, each answer ended by an empty line; `prompt` for interactive
//! mode; `quit`) and the dispatcher where every family of commands registers.

pub mod commands;

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use crate::compile::Runtime;
use halo_config::model::CliLevel;

/// Serves one client of the stats socket.
pub async fn serve<S>(rt: Arc<Runtime>, stream: S, level: CliLevel, timeout_ms: u64)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (r, mut w) = tokio::io::split(stream);
    let mut lines = BufReader::new(r).lines();
    let mut interactive = false;
    loop {
        if interactive && w.write_all(b"> ").await.is_err() {
            return;
        }
        let next = tokio::time::timeout(
            std::time::Duration::from_millis(timeout_ms.max(1)),
            lines.next_line(),
        )
        .await;
        let line = match next {
            Ok(Ok(Some(l))) => l,
            _ => return,
        };
        let mut out = String::new();
        let mut quit = false;
        for cmd in split_commands(&line) {
            let words: Vec<&str> = cmd.split_whitespace().collect();
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
            let resp = commands::execute(&rt, level, &words);
            out.push_str(&resp);
            if !resp.is_empty() && !resp.ends_with('\n') {
                out.push('\n');
            }
            out.push('\n');
        }
        if !out.is_empty() && w.write_all(out.as_bytes()).await.is_err() {
            return;
        }
        if quit || !interactive {
            let _ = w.flush().await;
            let _ = w.shutdown().await;
            return;
        }
    }
}

/// Splits a line on unescaped `;`.
fn split_commands(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
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
