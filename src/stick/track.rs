//! Tracked stick counters (`track-sc0..2`): the entries a session or a stream tracks, and
//! the counters the stream updates on them (connections, sessions, requests, errors,
//! bytes) as HAProxy does. The `tcp-request` and `http-request` stages call this API.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use halo_config::model::StatusSet;

use super::{DataType, Key, Table};

/// `http-err-codes` (words 0..10) and `http-fail-codes` (10..20), one bit per status, set
/// when the configuration is compiled; HAProxy's defaults until then.
static CODES: [AtomicU64; 20] = [const { AtomicU64::new(0) }; 20];
static CODES_SET: AtomicBool = AtomicBool::new(false);

/// Takes the global `http-err-codes` and `http-fail-codes`.
pub fn set_status_codes(err: &StatusSet, fail: &StatusSet) {
    for (i, w) in err.0.iter().chain(fail.0.iter()).enumerate() {
        CODES[i].store(*w, Relaxed);
    }
    CODES_SET.store(true, Relaxed);
}

/// Whether `status` is in the error set (`fail`: the failure set).
fn status_in(status: u16, fail: bool) -> bool {
    if !CODES_SET.load(Relaxed) {
        return if fail {
            (500..=599).contains(&status) && status != 501 && status != 505
        } else {
            (400..=499).contains(&status)
        };
    }
    let (w, b) = (usize::from(status / 64), status % 64);
    w < 10 && CODES[w + if fail { 10 } else { 0 }].load(Relaxed) & (1 << b) != 0
}

/// The default number of stick counters (`tune.stick-counters`, MAX_SESS_STKCTR).
pub const DEFAULT_SLOTS: usize = 3;

/// Where a tracking rule ran: `tcp-request connection|session` rules track for the whole
/// session, `tcp-request content` and `http-request|response` rules for one stream (one
/// HTTP transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Session,
    Stream,
}

/// A table named by a rule (its `Debug` shows the name only).
#[derive(Clone)]
pub struct TableRef(pub Arc<Table>);

impl std::fmt::Debug for TableRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "table {}", self.0.name)
    }
}

/// One tracked entry.
#[derive(Clone)]
pub struct Slot {
    pub table: Arc<Table>,
    pub key: Key,
    pub level: Level,
}

/// The stick counters of one client connection, sc0 to scN.
#[derive(Default)]
pub struct Tracked {
    slots: Vec<Option<Slot>>,
}

impl std::fmt::Debug for Tracked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracked")
            .field("slots", &self.slots.iter().filter(|s| s.is_some()).count())
            .finish()
    }
}

impl Tracked {
    /// The entry tracked by counter `slot`, if any.
    pub fn get(&self, slot: usize) -> Option<&Slot> {
        self.slots.get(slot)?.as_ref()
    }

    /// Whether any counter is tracked.
    pub fn any(&self) -> bool {
        self.slots.iter().any(Option::is_some)
    }

    pub fn is_tracking(&self, slot: usize) -> bool {
        self.get(slot).is_some()
    }

    /// Starts tracking `key` of `table` in counter `slot`, unless that counter tracks
    /// something already (the first rule wins, as in HAProxy). The entry is created when
    /// missing; its `conn_cnt`, `conn_rate` and `conn_cur` count this connection (stream),
    /// and its expiry is refreshed. Returns whether tracking started. `slot` must be below
    /// `tune.stick-counters`, which the rule's parser checks.
    pub fn track(&mut self, slot: usize, table: &Arc<Table>, key: Key, level: Level) -> bool {
        if self.is_tracking(slot) {
            return false;
        }
        let created = table
            .update(&key, |e| {
                e.add(DataType::ConnCnt, 1);
                e.add(DataType::ConnRate, 1);
                e.add(DataType::ConnCur, 1);
                e.refs(1);
            })
            .is_some();
        if !created {
            return false;
        }
        if self.slots.len() <= slot {
            self.slots.resize(slot + 1, None);
        }
        self.slots[slot] = Some(Slot {
            table: table.clone(),
            key,
            level,
        });
        true
    }

    /// Runs `f` on every tracked entry (each refreshed: a touch).
    fn each(&self, f: impl Fn(&mut super::EntryView<'_>)) {
        for s in self.slots.iter().flatten() {
            s.table.update(&s.key, &f);
        }
    }

    /// Runs `f` on the entry of counter `slot`, refreshing it.
    pub fn update<R>(
        &self,
        slot: usize,
        f: impl FnOnce(&mut super::EntryView<'_>) -> R,
    ) -> Option<R> {
        let s = self.get(slot)?;
        s.table.update(&s.key, f)
    }

    /// A session was accepted (after the `tcp-request connection` rules): `sess_cnt` and
    /// `sess_rate` of the entries tracked so far.
    pub fn session_accepted(&self) {
        self.each(|e| {
            e.add(DataType::SessCnt, 1);
            e.add(DataType::SessRate, 1);
        });
    }

    /// A new HTTP request: `http_req_cnt` and `http_req_rate` of the entries tracked.
    pub fn http_request(&self) {
        self.each(|e| {
            e.add(DataType::HttpReqCnt, 1);
            e.add(DataType::HttpReqRate, 1);
        });
    }

    /// The request just tracked in `slot` by an `http-request` rule counts as one of its
    /// requests (HAProxy counts it as soon as tracking starts).
    pub fn http_request_on(&self, slot: usize) {
        self.update(slot, |e| {
            e.add(DataType::HttpReqCnt, 1);
            e.add(DataType::HttpReqRate, 1);
        });
    }

    /// A request error (denied, tarpitted, invalid; a 4xx from the server).
    pub fn http_error(&self) {
        self.each(|e| {
            e.add(DataType::HttpErrCnt, 1);
            e.add(DataType::HttpErrRate, 1);
        });
    }

    /// A failure of the server (5xx except 501 and 505).
    pub fn http_failure(&self) {
        self.each(|e| {
            e.add(DataType::HttpFailCnt, 1);
            e.add(DataType::HttpFailRate, 1);
        });
    }

    /// Counts the status of a response from a server: request errors are `http-err-codes`
    /// (4xx by default), server failures `http-fail-codes` (5xx but 501 and 505).
    pub fn server_status(&self, status: u16) {
        if status_in(status, false) {
            self.http_error();
        }
        if status_in(status, true) {
            self.http_failure();
        }
    }

    /// Bytes received from the client and sent to it.
    pub fn bytes(&self, bytes_in: u64, bytes_out: u64) {
        if bytes_in == 0 && bytes_out == 0 {
            return;
        }
        self.each(|e| {
            e.add(DataType::BytesInCnt, bytes_in);
            e.add(DataType::BytesInRate, bytes_in);
            e.add(DataType::BytesOutCnt, bytes_out);
            e.add(DataType::BytesOutRate, bytes_out);
        });
    }

    /// The stream ends: the counters tracked for it are released (`conn_cur` goes down),
    /// those of the session stay.
    pub fn end_stream(&mut self) {
        for s in self.slots.iter_mut() {
            if s.as_ref().is_some_and(|s| s.level == Level::Stream)
                && let Some(s) = s.take()
            {
                release(&s);
            }
        }
    }

    /// The session ends: everything is released.
    pub fn end_session(&mut self) {
        for s in self.slots.iter_mut() {
            if let Some(s) = s.take() {
                release(&s);
            }
        }
    }
}

fn release(s: &Slot) {
    s.table.with(&s.key, |e| {
        let cur = e.get(DataType::ConnCur).unwrap_or(0);
        e.set(DataType::ConnCur, cur.saturating_sub(1));
        e.refs(-1);
    });
    s.table.changed(&s.key);
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.end_session();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stick::TableConf;

    fn table() -> Arc<Table> {
        let words: Vec<String> =
            "type ip size 10 expire 30s store conn_cur,conn_cnt,http_req_cnt,gpc0"
                .split_whitespace()
                .map(String::from)
                .collect();
        Arc::new(Table::new("t", TableConf::parse(&words).unwrap()))
    }

    #[test]
    fn tracking_counts_and_releases() {
        let t = table();
        let k = Key::V4([10, 0, 0, 1]);
        let mut tr = Tracked::default();
        assert!(tr.track(0, &t, k.clone(), Level::Session));
        assert!(tr.track(1, &t, k.clone(), Level::Stream));
        // The first rule of a counter wins.
        assert!(!tr.track(1, &t, k.clone(), Level::Stream));
        tr.http_request();
        let read = |ty| t.with(&k, |e| e.get(ty)).flatten();
        assert_eq!(read(DataType::ConnCur), Some(2));
        assert_eq!(read(DataType::ConnCnt), Some(2));
        assert_eq!(read(DataType::HttpReqCnt), Some(2));
        assert_eq!(t.with(&k, |e| e.trackers()), Some(2));
        tr.end_stream();
        assert!(tr.is_tracking(0) && !tr.is_tracking(1));
        assert_eq!(read(DataType::ConnCur), Some(1));
        drop(tr);
        assert_eq!(read(DataType::ConnCur), Some(0));
        assert_eq!(t.with(&k, |e| e.trackers()), Some(0));
    }
}
