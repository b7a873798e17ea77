//! Messages of the process on stderr, in HAProxy's layout: `[WARNING]  (pid) : text`.
//! (Traffic logs to syslog arrive with the logging issue.)

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// `-q` / `quiet`, for messages sent far from the start-up code (traffic observation).
static QUIET: AtomicBool = AtomicBool::new(false);

pub fn set_quiet(q: bool) {
    QUIET.store(q, Relaxed);
}

pub fn quiet() -> bool {
    QUIET.load(Relaxed)
}

fn emit(tag: &str, msg: &str) {
    let line = format!("{tag:<10} ({}) : {msg}\n", std::process::id());
    let _ = std::io::stderr().write_all(line.as_bytes());
}

pub fn alert(msg: &str, _quiet: bool) {
    emit("[ALERT]", msg);
}

pub fn warning(msg: &str, quiet: bool) {
    if !quiet {
        emit("[WARNING]", msg);
    }
}

pub fn notice(msg: &str, quiet: bool) {
    if !quiet {
        emit("[NOTICE]", msg);
    }
}
