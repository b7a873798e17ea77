//! Stick tables: `stick-table` declarations, keys, stored data (server id, counters and
//! rates over a sliding period as HAProxy's freq counters), expiry and eviction of the
//! oldest entry when full. Entries live in sharded maps: a lookup locks one shard only.

pub mod peers;
pub mod rules;
pub mod track;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hash};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Instant;

pub use halo_config::stick::{Column, DataType, KeyType, NAMES, TableConf};

use crate::sample::Sample;

const SHARDS: usize = 32;

/// Milliseconds on a process-wide monotonic clock (never 0, so 0 can mean "unset").
pub fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// A key, already converted to the table's type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    V4([u8; 4]),
    V6([u8; 16]),
    Int(u32),
    Bytes(Box<[u8]>),
}

/// An IPv4 address as HAProxy's runtime API reads a table key: up to four dotted numbers,
/// missing ones are zero, each counts its last three digits and carries over 255 into the
/// byte before it, and anything else ends the address (`nope` is 0.0.0.0).
fn lenient_ipv4(t: &str) -> u32 {
    let mut v: u32 = 0;
    let mut shift = 24i32;
    for part in t.split('.') {
        let digits: Vec<u32> = part
            .bytes()
            .take_while(|b| b.is_ascii_digit())
            .map(|b| u32::from(b - b'0'))
            .collect();
        let n = digits
            .iter()
            .rev()
            .take(3)
            .rev()
            .fold(0u32, |a, d| a * 10 + d);
        v = v.wrapping_add(n.wrapping_shl(shift as u32));
        if shift == 0 || digits.len() != part.len() {
            break;
        }
        shift -= 8;
    }
    v
}

/// A rate over a sliding period, as HAProxy's freq counters: the events of the current
/// period plus those of the previous one weighted by the part of it still in the window.
fn rate_update(v: &mut [u64], period: u64, now: u64, inc: u64) {
    let (curr, prev, tick) = (v[0], v[1], v[2]);
    if tick == 0 {
        v[0] = inc;
        v[1] = 0;
        v[2] = now;
        return;
    }
    let elapsed = now.saturating_sub(tick);
    if elapsed >= 2 * period {
        // Both periods are over: a new window starts now.
        v[1] = 0;
        v[0] = 0;
        v[2] = now;
    } else if elapsed >= period {
        v[1] = curr;
        v[0] = 0;
        v[2] = tick + period;
    } else {
        v[1] = prev;
    }
    v[0] += inc;
}

fn rate_read(v: &[u64], period: u64, now: u64) -> u64 {
    let (mut curr, mut prev, tick) = (v[0], v[1], v[2]);
    if tick == 0 {
        return 0;
    }
    let mut elapsed = now.saturating_sub(tick);
    if elapsed >= period {
        prev = if elapsed < 2 * period { curr } else { 0 };
        curr = 0;
        elapsed %= period;
    }
    (prev * (period - elapsed) + curr * period) / period
}

struct Entry {
    id: u64,
    seq: u64,
    /// Absolute expiry in ms on `now_ms()` (0: never).
    exp: u64,
    vals: Box<[u64]>,
    server_key: Option<Box<str>>,
    /// Streams and sessions tracking the entry (`use=`): it is neither purged nor evicted.
    refs: u32,
}

#[derive(Default)]
struct Shard {
    map: HashMap<Key, Entry>,
    /// Entries by last update, oldest first.
    lru: BTreeMap<u64, Key>,
}

impl Shard {
    fn remove(&mut self, key: &Key) -> bool {
        match self.map.remove(key) {
            Some(e) => {
                self.lru.remove(&e.seq);
                true
            }
            None => false,
        }
    }
}

/// A stick table.
pub struct Table {
    pub name: String,
    pub conf: TableConf,
    shards: Box<[Mutex<Shard>]>,
    used: AtomicUsize,
    seq: AtomicU64,
    hasher: std::collections::hash_map::RandomState,
    /// Set when a `peers` section synchronises the table: where local changes are queued.
    peers: OnceLock<peers::Hook>,
}

/// Read access to one entry's data.
pub struct EntryView<'a> {
    table: &'a Table,
    entry: &'a mut Entry,
}

impl EntryView<'_> {
    /// The first value of `ty` (element `idx` of an array) in the entry, and its period;
    /// a legacy `gpc0`… not stored falls back on the array element it stands for.
    fn slot(&self, ty: DataType, idx: usize) -> Option<(usize, u64)> {
        self.table.slot_of(ty, idx)
    }

    /// A counter or `gpt0`/`server_id` (None when the table does not store it).
    pub fn get(&self, ty: DataType) -> Option<u64> {
        self.get_at(ty, 0)
    }

    /// Element `idx` of an array type (or the value of any other type with `idx` 0).
    pub fn get_at(&self, ty: DataType, idx: usize) -> Option<u64> {
        let (o, period) = self.slot(ty, idx)?;
        if ty.is_rate() {
            Some(rate_read(&self.entry.vals[o..o + 3], period, now_ms()))
        } else {
            Some(self.entry.vals[o])
        }
    }

    /// Sets a counter; a rate restarts now with `v` events (as `set table` does).
    pub fn set(&mut self, ty: DataType, v: u64) {
        self.set_at(ty, 0, v)
    }

    pub fn set_at(&mut self, ty: DataType, idx: usize, v: u64) {
        if let Some((o, _)) = self.slot(ty, idx) {
            if ty.is_rate() {
                let r = &mut self.entry.vals[o..o + 3];
                r[0] = v;
                r[1] = 0;
                r[2] = now_ms();
            } else {
                self.entry.vals[o] = v;
            }
        }
    }

    /// Adds `inc` to a counter, or to the current period of a rate.
    pub fn add(&mut self, ty: DataType, inc: u64) {
        self.add_at(ty, 0, inc)
    }

    pub fn add_at(&mut self, ty: DataType, idx: usize, inc: u64) {
        if let Some((o, period)) = self.slot(ty, idx) {
            if ty.is_rate() {
                rate_update(&mut self.entry.vals[o..o + 3], period, now_ms(), inc);
            } else {
                let v = &mut self.entry.vals[o];
                *v = v.saturating_add(inc);
            }
        }
    }

    /// Counts one more (`1`) or one less (`-1`) tracker of the entry.
    pub fn refs(&mut self, delta: i32) {
        self.entry.refs = self.entry.refs.saturating_add_signed(delta);
    }

    /// The number of trackers of the entry (`sc_trackers`).
    pub fn trackers(&self) -> u32 {
        self.entry.refs
    }

    pub fn set_server_key(&mut self, k: &str) {
        if self.table.stores(DataType::ServerKey) {
            self.entry.server_key = Some(k.into());
        }
    }

    /// The `server_key` stored, if any.
    pub fn server_key(&self) -> Option<&str> {
        self.entry.server_key.as_deref()
    }

    /// Element `idx` of a rate as stored: events of the current period, of the previous
    /// one, and the start of the current period on `now_ms()` (0: never started).
    pub fn rate_raw(&self, ty: DataType, idx: usize) -> Option<(u64, u64, u64)> {
        let (o, _) = self.slot(ty, idx)?;
        let r = &self.entry.vals[o..o + 3];
        Some((r[0], r[1], r[2]))
    }

    pub fn set_rate_raw(&mut self, ty: DataType, idx: usize, v: (u64, u64, u64)) {
        if let Some((o, _)) = self.slot(ty, idx) {
            self.entry.vals[o..o + 3].copy_from_slice(&[v.0, v.1, v.2]);
        }
    }

    /// Milliseconds before the entry expires (0: never).
    pub fn expires_in(&self) -> u64 {
        if self.entry.exp == 0 {
            0
        } else {
            self.entry.exp.saturating_sub(now_ms()).max(1)
        }
    }

    /// Makes an entry of a table with `expire` expire in `ms` (as a peer's timed update says).
    pub fn set_expires_in(&mut self, ms: u64) {
        if self.entry.exp != 0 {
            self.entry.exp = now_ms() + ms.max(1);
        }
    }
}

impl Table {
    pub fn new(name: &str, conf: TableConf) -> Table {
        Table {
            name: name.to_string(),
            conf,
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            used: AtomicUsize::new(0),
            seq: AtomicU64::new(1),
            hasher: Default::default(),
            peers: OnceLock::new(),
        }
    }

    fn shard_of(&self, key: &Key) -> usize {
        (self.hasher.hash_one(key) as usize) % SHARDS
    }

    fn lock(&self, i: usize) -> MutexGuard<'_, Shard> {
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn used(&self) -> usize {
        self.used.load(Relaxed)
    }

    /// Whether the table declares `ty` itself (as the runtime API sees it).
    pub fn stores(&self, ty: DataType) -> bool {
        self.conf.columns.iter().any(|c| c.ty == ty)
    }

    /// Whether the table stores element `idx` of `ty`, a legacy `gpc0`… standing for the
    /// first elements of the array replacing it (as fetches and actions see it).
    pub fn stores_at(&self, ty: DataType, idx: usize) -> bool {
        self.slot_of(ty, idx).is_some()
    }

    /// Where element `idx` of `ty` sits in an entry, and its period (a legacy `gpc0`… not
    /// stored stands for the first elements of the array that replaces it).
    fn slot_of(&self, ty: DataType, idx: usize) -> Option<(usize, u64)> {
        let find = |t: DataType, i: usize| {
            self.conf
                .columns
                .iter()
                .find(|c| c.ty == t && i < c.count)
                .map(|c| (c.offset + i * t.width(), c.period))
        };
        find(ty, idx).or_else(|| {
            let (arr, i) = ty.array_alias()?;
            if idx != 0 {
                return None;
            }
            find(arr, i)
        })
    }

    /// Converts a sample to a key of this table's type (None when it cannot).
    pub fn key_of(&self, s: &Sample<'_>) -> Option<Key> {
        match self.conf.key {
            KeyType::Ip => match s.to_ip()? {
                IpAddr::V4(v4) => Some(Key::V4(v4.octets())),
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map(|v4| Key::V4(v4.octets())),
            },
            KeyType::Ipv6 => Some(Key::V6(match s.to_ip()? {
                IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
                IpAddr::V6(v6) => v6.octets(),
            })),
            KeyType::Integer => Some(Key::Int(s.to_int()? as u32)),
            KeyType::String(len) => {
                let b = s.to_bytes();
                Some(Key::Bytes(b[..b.len().min(len)].into()))
            }
            KeyType::Binary(len) => {
                let b = s.to_bin();
                let mut v = b[..b.len().min(len)].to_vec();
                v.resize(len, 0);
                Some(Key::Bytes(v.into()))
            }
        }
    }

    /// Parses a key typed on the runtime API.
    pub fn key_from_text(&self, t: &str) -> Option<Key> {
        match self.conf.key {
            KeyType::Ip => Some(Key::V4(lenient_ipv4(t).to_be_bytes())),
            KeyType::Ipv6 => t.parse::<Ipv6Addr>().ok().map(|a| Key::V6(a.octets())),
            KeyType::Integer => t.parse::<u32>().ok().map(Key::Int),
            KeyType::String(len) => Some(Key::Bytes(t.as_bytes()[..t.len().min(len)].into())),
            KeyType::Binary(_) => None,
        }
    }

    fn expired(e: &Entry, now: u64) -> bool {
        e.exp != 0 && e.exp <= now && e.refs == 0
    }

    /// Runs `f` on the live entry for `key`, if any.
    pub fn with<R>(&self, key: &Key, f: impl FnOnce(&mut EntryView<'_>) -> R) -> Option<R> {
        let si = self.shard_of(key);
        let mut sh = self.lock(si);
        let now = now_ms();
        if sh.map.get(key).is_some_and(|e| Self::expired(e, now)) {
            sh.remove(key);
            self.used.fetch_sub(1, Relaxed);
            return None;
        }
        let entry = sh.map.get_mut(key)?;
        Some(f(&mut EntryView { table: self, entry }))
    }

    /// Runs `f` on the live entry for `key`, if any, and refreshes its expiry.
    pub fn touch<R>(&self, key: &Key, f: impl FnOnce(&mut EntryView<'_>) -> R) -> Option<R> {
        self.with(key, |_| ())?;
        self.update(key, f)
    }

    /// Runs `f` on the entry for `key`, created when missing (evicting the oldest entry of
    /// the table when it is full, unless `nopurge`), and refreshes its expiry. None when the
    /// table is full and nothing can be evicted. The change is pushed to the table's peers.
    pub fn update<R>(&self, key: &Key, f: impl FnOnce(&mut EntryView<'_>) -> R) -> Option<R> {
        let r = self.upsert(key, f);
        if r.is_some() {
            self.changed(key);
        }
        r
    }

    /// `update` without telling the peers (for what the peers taught).
    pub(crate) fn upsert<R>(
        &self,
        key: &Key,
        f: impl FnOnce(&mut EntryView<'_>) -> R,
    ) -> Option<R> {
        let si = self.shard_of(key);
        let now = now_ms();
        let seq = self.seq.fetch_add(1, Relaxed);
        let exp = self.conf.expire.map_or(0, |e| now + e.max(1));
        {
            let mut sh = self.lock(si);
            let sh = &mut *sh;
            if self.conf.expire.is_some() {
                self.purge_shard(sh, now);
            }
            if let Some(e) = sh.map.get_mut(key) {
                if Self::expired(e, now) {
                    e.vals.iter_mut().for_each(|v| *v = 0);
                    e.server_key = None;
                }
                sh.lru.remove(&e.seq);
                e.seq = seq;
                e.exp = exp;
                sh.lru.insert(seq, key.clone());
                return Some(f(&mut EntryView {
                    table: self,
                    entry: e,
                }));
            }
        }
        // A new entry: make room first (locks one shard at a time).
        if self.used.fetch_add(1, Relaxed) >= self.conf.size {
            self.purge_expired();
            if self.used.load(Relaxed) > self.conf.size
                && (self.conf.nopurge || !self.evict_oldest())
            {
                self.used.fetch_sub(1, Relaxed);
                return None;
            }
        }
        let mut sh = self.lock(si);
        let sh = &mut *sh;
        let entry = Entry {
            id: seq,
            seq,
            exp,
            vals: vec![0u64; self.conf.slots()].into_boxed_slice(),
            server_key: None,
            refs: 0,
        };
        sh.lru.insert(seq, key.clone());
        let e = match sh.map.entry(key.clone()) {
            std::collections::hash_map::Entry::Occupied(mut o) => {
                // Created meanwhile by another thread.
                self.used.fetch_sub(1, Relaxed);
                let old = o.get().seq;
                sh.lru.remove(&old);
                o.get_mut().seq = seq;
                o.get_mut().exp = exp;
                o.into_mut()
            }
            std::collections::hash_map::Entry::Vacant(v) => v.insert(entry),
        };
        Some(f(&mut EntryView {
            table: self,
            entry: e,
        }))
    }

    /// Removes the least recently updated entries of the table: a batch of size/256 + 1 at
    /// once, as HAProxy does when a table is full, so that the next insertions find room
    /// without scanning the shards again.
    fn evict_oldest(&self) -> bool {
        let batch = self.conf.size / 256 + 1;
        let mut oldest: Vec<(u64, usize)> = Vec::new();
        for i in 0..SHARDS {
            let sh = self.lock(i);
            oldest.extend(sh.lru.keys().take(batch).map(|&seq| (seq, i)));
        }
        oldest.sort_unstable();
        oldest.truncate(batch);
        let mut removed = false;
        for (seq, i) in oldest {
            let mut sh = self.lock(i);
            if let Some(key) = sh.lru.get(&seq).cloned()
                && sh.map.get(&key).is_some_and(|e| e.refs == 0)
                && sh.remove(&key)
            {
                self.used.fetch_sub(1, Relaxed);
                removed = true;
            }
        }
        removed
    }

    /// Drops the expired entries of a shard: the least recently updated ones come first
    /// (every update sets the same `expire`), so this stops at the first live one.
    fn purge_shard(&self, sh: &mut Shard, now: u64) {
        while let Some((_, key)) = sh.lru.first_key_value() {
            let key = key.clone();
            let Some(e) = sh.map.get_mut(&key) else {
                break;
            };
            if e.refs > 0 && e.exp != 0 && e.exp <= now {
                // Tracked: kept alive as long as a stream uses it.
                let seq = self.seq.fetch_add(1, Relaxed);
                let old = e.seq;
                e.seq = seq;
                e.exp = self.conf.expire.map_or(0, |x| now + x.max(1));
                sh.lru.remove(&old);
                sh.lru.insert(seq, key);
                continue;
            }
            if !Self::expired(e, now) {
                break;
            }
            sh.remove(&key);
            self.used.fetch_sub(1, Relaxed);
        }
    }

    /// Drops expired entries.
    pub fn purge_expired(&self) {
        if self.conf.expire.is_none() {
            return;
        }
        let now = now_ms();
        for i in 0..SHARDS {
            let mut sh = self.lock(i);
            self.purge_shard(&mut sh, now);
        }
    }

    /// `clear table NAME [key K]`.
    pub fn clear(&self, key: Option<&Key>) {
        match key {
            Some(k) => {
                let mut sh = self.lock(self.shard_of(k));
                if sh.remove(k) {
                    self.used.fetch_sub(1, Relaxed);
                }
            }
            None => {
                for i in 0..SHARDS {
                    let mut sh = self.lock(i);
                    let n = sh.map.len();
                    sh.map.clear();
                    sh.lru.clear();
                    self.used.fetch_sub(n, Relaxed);
                }
            }
        }
    }

    /// The `# table:` line of `show table`.
    pub fn header(&self) -> String {
        format!(
            "# table: {}, type: {}, size:{}, used:{}\n",
            self.name,
            self.conf.key.name(),
            self.conf.size,
            self.used()
        )
    }

    fn key_text(&self, k: &Key, out: &mut String) {
        match k {
            Key::V4(o) => {
                let _ = write!(out, "{}", Ipv4Addr::from(*o));
            }
            Key::V6(o) => {
                let _ = write!(out, "{}", Ipv6Addr::from(*o));
            }
            Key::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Key::Bytes(b) => match self.conf.key {
                KeyType::Binary(_) => b.iter().for_each(|x| {
                    let _ = write!(out, "{x:02x}");
                }),
                _ => {
                    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                    out.push_str(&String::from_utf8_lossy(&b[..end]));
                }
            },
        }
    }

    fn entry_line(&self, k: &Key, e: &Entry, now: u64, out: &mut String) {
        let _ = write!(out, "0x{:x}: key=", 0x5600_0000_0000u64 + e.id * 0x40);
        self.key_text(k, out);
        let exp = if e.exp == 0 {
            0
        } else {
            e.exp.saturating_sub(now)
        };
        let _ = write!(out, " use={} exp={exp}", e.refs);
        for c in &self.conf.columns {
            if c.ty.is_array() {
                // `gpt0=0 gpt1=0 gpc0_rate(10000)=0 …`, one field per element.
                let base = c.ty.name();
                let (stem, suffix) = base.split_at(3);
                for i in 0..c.count {
                    let o = c.offset + i * c.ty.width();
                    let _ = write!(out, " {stem}{i}{suffix}");
                    if c.ty.is_rate() {
                        let v = rate_read(&e.vals[o..o + 3], c.period, now);
                        let _ = write!(out, "({})={v}", c.period);
                    } else {
                        let _ = write!(out, "={}", e.vals[o]);
                    }
                }
                continue;
            }
            out.push(' ');
            out.push_str(c.ty.name());
            if c.ty.is_rate() {
                let v = rate_read(&e.vals[c.offset..c.offset + 3], c.period, now);
                let _ = write!(out, "({})={v}", c.period);
            } else if c.ty == DataType::ServerKey {
                out.push('=');
                out.push_str(e.server_key.as_deref().unwrap_or("-"));
            } else {
                let _ = write!(out, "={}", e.vals[c.offset]);
            }
        }
        out.push('\n');
    }

    /// The value of a stored data type in an entry, for `data.TYPE OP VALUE` filters.
    fn value(&self, e: &Entry, ty: DataType, now: u64) -> Option<u64> {
        let c = self.conf.columns.iter().find(|c| c.ty == ty)?;
        if ty.is_rate() {
            Some(rate_read(&e.vals[c.offset..c.offset + 3], c.period, now))
        } else if ty == DataType::ServerKey {
            None
        } else {
            Some(e.vals[c.offset])
        }
    }

    /// `show table NAME [key K | data.TYPE OP VALUE]`: the header and the live entries.
    pub fn show(&self, key: Option<&Key>, filter: Option<&Filter>) -> String {
        self.purge_expired();
        let now = now_ms();
        // In the order of HAProxy's key tree: the key's bytes compared as memory (an
        // integer key is stored in the host's little-endian order).
        let mut lines: Vec<(Vec<u8>, String)> = Vec::new();
        for i in 0..SHARDS {
            let sh = self.lock(i);
            for (k, e) in &sh.map {
                if key.is_some_and(|want| want != k) || Self::expired(e, now) {
                    continue;
                }
                if let Some(f) = filter
                    && !self.value(e, f.ty, now).is_some_and(|v| f.holds(v))
                {
                    continue;
                }
                let mut l = String::new();
                self.entry_line(k, e, now, &mut l);
                let order = match k {
                    Key::V4(o) => o.to_vec(),
                    Key::V6(o) => o.to_vec(),
                    Key::Int(i) => i.to_le_bytes().to_vec(),
                    Key::Bytes(b) => b.to_vec(),
                };
                lines.push((order, l));
            }
        }
        lines.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut out = self.header();
        for (_, l) in lines {
            out.push_str(&l);
        }
        out
    }

    /// `clear table NAME data.TYPE OP VALUE`: removes the entries matching the filter.
    pub fn clear_matching(&self, f: &Filter) {
        let now = now_ms();
        for i in 0..SHARDS {
            let mut sh = self.lock(i);
            let dead: Vec<Key> = sh
                .map
                .iter()
                .filter(|(_, e)| self.value(e, f.ty, now).is_some_and(|v| f.holds(v)))
                .map(|(k, _)| k.clone())
                .collect();
            for k in dead {
                sh.remove(&k);
                self.used.fetch_sub(1, Relaxed);
            }
        }
    }
}

impl Table {
    /// Attaches the table to a `peers` section (once, after construction).
    pub fn set_peers(&self, hook: peers::Hook) {
        let _ = self.peers.set(hook);
    }

    /// Tells the peers that the entry for `key` changed (one branch when there are none).
    #[inline]
    pub fn changed(&self, key: &Key) {
        if let Some(h) = self.peers.get() {
            h.notify(key);
        }
    }

    /// Runs `f` on the key of every live entry.
    pub fn for_each_key(&self, mut f: impl FnMut(&Key)) {
        let now = now_ms();
        for i in 0..SHARDS {
            let keys: Vec<Key> = {
                let sh = self.lock(i);
                sh.map
                    .iter()
                    .filter(|(_, e)| !Self::expired(e, now))
                    .map(|(k, _)| k.clone())
                    .collect()
            };
            keys.iter().for_each(&mut f);
        }
    }
}

/// A `data.TYPE OP VALUE` filter of `show table` and `clear table`.
pub struct Filter {
    pub ty: DataType,
    op: std::cmp::Ordering,
    negate: bool,
    or_equal: bool,
    value: u64,
}

impl Filter {
    /// Parses `data.TYPE`, `eq|ne|le|lt|ge|gt` and the value; the error is HAProxy's text.
    pub fn parse(table: &Table, data: &str, op: &str, value: &str) -> Result<Filter, String> {
        use std::cmp::Ordering::*;
        let name = data.strip_prefix("data.").unwrap_or(data);
        let ty = NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
            .filter(|t| *t != DataType::ServerKey)
            .ok_or("Unknown data type\n")?;
        if !table.stores(ty) {
            return Err("Data type not stored in this table\n".into());
        }
        let (op, negate, or_equal) =
            match op {
                "eq" => (Equal, false, false),
                "ne" => (Equal, true, false),
                "lt" => (Less, false, false),
                "le" => (Less, false, true),
                "gt" => (Greater, false, false),
                "ge" => (Greater, false, true),
                _ => return Err(
                    "Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"\n"
                        .into(),
                ),
            };
        let value = value
            .parse::<u64>()
            .map_err(|_| "Require a valid integer value to compare against\n".to_string())?;
        Ok(Filter {
            ty,
            op,
            negate,
            or_equal,
            value,
        })
    }

    fn holds(&self, v: u64) -> bool {
        let c = v.cmp(&self.value);
        let r = c == self.op || (self.or_equal && c == std::cmp::Ordering::Equal);
        r != self.negate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parse_and_evict() {
        let c = TableConf::parse(&words(
            "type ip size 2 expire 30s store conn_rate(10s),server_id,gpc0",
        ))
        .unwrap();
        assert_eq!(c.columns[0].ty, DataType::ServerId);
        assert_eq!(c.columns[2].period, 10_000);
        let t = Table::new("t", c);
        for i in 1..=3u8 {
            t.update(&Key::V4([10, 0, 0, i]), |e| {
                e.set(DataType::ServerId, i as u64)
            });
        }
        assert_eq!(t.used(), 2);
        assert!(t.with(&Key::V4([10, 0, 0, 1]), |_| ()).is_none());
        assert_eq!(
            t.with(&Key::V4([10, 0, 0, 3]), |e| e.get(DataType::ServerId)),
            Some(Some(3))
        );
        let c = TableConf::parse(&words("type integer size 1 nopurge")).unwrap();
        let t = Table::new("n", c);
        assert!(t.update(&Key::Int(1), |_| ()).is_some());
        assert!(t.update(&Key::Int(2), |_| ()).is_none());
        assert!(TableConf::parse(&words("type foo size 1")).is_err());
    }

    #[test]
    fn lenient_keys() {
        let ip = |t| Ipv4Addr::from(lenient_ipv4(t)).to_string();
        assert_eq!(ip("10.1.2.3"), "10.1.2.3");
        assert_eq!(ip("12"), "12.0.0.0");
        assert_eq!(ip("1.2.3"), "1.2.3.0");
        assert_eq!(ip("300.1.1.1"), "44.1.1.1");
        assert_eq!(ip("nope"), "0.0.0.0");
    }

    #[test]
    fn rates_slide() {
        let mut v = [0u64; 3];
        rate_update(&mut v, 1000, 1, 10);
        assert_eq!(rate_read(&v, 1000, 500), 10);
        // Half of the previous period is still in the window.
        assert_eq!(rate_read(&v, 1000, 1501), 5);
        rate_update(&mut v, 1000, 1501, 2);
        assert_eq!(rate_read(&v, 1000, 1501), 7);
        assert_eq!(rate_read(&v, 1000, 5000), 0);
    }
}
