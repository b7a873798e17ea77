//! `show events`: the event sinks (stdout, stderr and the rings, HAProxy's `buf0`
//! included) and the messages of a ring, optionally waiting for new ones (`-w`, streamed by
//! `serve` in cli/mod.rs until the client sends anything or closes).

use std::sync::Arc;

use halo_config::model::CliLevel;

use crate::compile::Runtime;
use crate::log::ring::Ring;

use super::NO_BLANK;

pub const HELP: &str = "  show events [<sink>] [-w] [-n] [-0]     : show event sink state\n";

/// What `show events` answers (its errors come without the blank line, as in HAProxy 2.6).
pub enum Show {
    /// A complete answer.
    Done(String),
    /// The messages of a ring so far, then those to come until the client speaks.
    Wait { ring: Arc<Ring>, from: u64, sep: u8 },
}

/// Runs `show events` with its arguments after the two words.
pub fn show(rt: &Runtime, level: CliLevel, args: &[&str]) -> Show {
    let Some(name) = args.first() else {
        let mut o = String::from(
            "Supported events sinks are listed below. Add -w(wait), -n(new). Any key to stop\n",
        );
        o.push_str(&format!(
            "    {:<10} : type=fd, 0 dropped, standard output (fd#1)\n",
            "stdout"
        ));
        o.push_str(&format!(
            "    {:<10} : type=fd, 0 dropped, standard output (fd#2)\n",
            "stderr"
        ));
        for r in &rt.rings {
            o.push_str(&format!(
                "    {:<10} : type=buffer, {} dropped, {}\n",
                r.name,
                r.dropped.load(std::sync::atomic::Ordering::Relaxed),
                r.description
            ));
        }
        return Show::Done(o);
    };
    if level < CliLevel::Operator {
        return Show::Done(super::PERMISSION_DENIED.into());
    }
    if matches!(*name, "stdout" | "stderr") {
        return Show::Done(format!("Nothing to report for this sink\n{NO_BLANK}"));
    }
    let Some(ring) = rt.rings.iter().find(|r| r.name == *name) else {
        return Show::Done(format!("No such event sink\n{NO_BLANK}"));
    };
    let (mut wait, mut new, mut sep) = (false, false, b'\n');
    for a in &args[1..] {
        match *a {
            "-w" => wait = true,
            "-n" => new = true,
            "-nw" | "-wn" => (wait, new) = (true, true),
            "-0" => sep = 0,
            _ => return Show::Done(format!("unknown option\n{NO_BLANK}")),
        }
    }
    let from = if new { ring.end() } else { ring.first() };
    if wait {
        return Show::Wait {
            ring: ring.clone(),
            from,
            sep,
        };
    }
    let mut out = Vec::new();
    dump(ring, from, sep, &mut out);
    let mut text = String::from_utf8_lossy(&out).into_owned();
    if sep == 0 {
        // The blank line written here: a final NUL would read as `NO_BLANK`.
        text.push('\n');
        text.push(NO_BLANK);
    }
    Show::Done(text)
}

/// Appends the messages of `ring` from `from` on, each followed by `sep`; returns where the
/// next dump starts.
pub fn dump(ring: &Ring, from: u64, sep: u8, out: &mut Vec<u8>) -> u64 {
    let r = ring.read(from);
    for m in &r.msgs {
        out.extend_from_slice(m);
        out.push(sep);
    }
    r.next
}
