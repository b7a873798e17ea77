//! Stick tables: `stick-table` declarations, keys, stored data (server id, counters and
//! rates over a sliding period as HAProxy's freq counters), expiry and eviction of the
//! oldest entry when full. Entries live in shards of packed arrays found through a hash
//! index (hashbrown's raw table: slot numbers hashed by the stored key): a lookup locks
//! one shard only.

pub mod peers;
pub mod rules;
pub mod track;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Instant;

pub use halo_config::stick::{Column, DataType, KeyType, NAMES, TableConf};

use hashbrown::HashTable;

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

const NIL: u32 = u32::MAX;
/// `prev` of a slot on the free list.
const FREE: u32 = u32::MAX - 1;

/// Entries per chunk of a shard's arrays: they grow a chunk at a time, never by copying,
/// so memory follows the number of entries.
const CHUNK: usize = 512;

/// `width` values per slot, in chunks of `CHUNK` slots.
struct Slab<T> {
    chunks: Vec<Box<[T]>>,
    width: usize,
}

impl<T: Copy + Default> Slab<T> {
    fn new(width: usize) -> Slab<T> {
        Slab {
            chunks: Vec::new(),
            width,
        }
    }

    fn at(&self, s: u32) -> &[T] {
        let s = s as usize;
        let o = (s % CHUNK) * self.width;
        &self.chunks[s / CHUNK][o..o + self.width]
    }

    fn at_mut(&mut self, s: u32) -> &mut [T] {
        let s = s as usize;
        let o = (s % CHUNK) * self.width;
        &mut self.chunks[s / CHUNK][o..o + self.width]
    }

    /// Makes room for slot `s`.
    fn reserve(&mut self, s: u32) {
        while self.chunks.len() * CHUNK <= s as usize {
            self.chunks
                .push(vec![T::default(); CHUNK * self.width].into_boxed_slice());
        }
    }
}

/// What a shard knows of one entry besides its key and values.
#[derive(Clone, Copy, Default)]
struct Meta {
    /// Last update, on `now_ms()`: the entry expires `expire` after it.
    touched: u64,
    /// Neighbours in the shard's list by last update (`FREE` in `prev`: a free slot,
    /// chained to the next free one through `next`).
    prev: u32,
    next: u32,
    /// Streams and sessions tracking the entry (`use=`): it is neither purged nor evicted.
    refs: u32,
}

/// One shard of a table. Entries are slots of three chunked arrays (keys at the table's
/// fixed key size, values at its fixed width, metadata), found through a hash index of
/// slot numbers and linked in the order of their last update: about 60 bytes for an IPv4
/// entry storing `gpc0,http_req_rate`, against ~300 for a map of boxed entries.
struct Shard {
    index: HashTable<u32>,
    keys: Slab<u8>,
    vals: Slab<u64>,
    meta: Slab<Meta>,
    /// Slots ever used (live or free).
    slots: u32,
    /// First free slot (NIL: none).
    free: u32,
    oldest: u32,
    newest: u32,
    len: usize,
    /// `server_key` values, only for the tables storing it.
    server_keys: HashMap<u32, Box<str>>,
}

impl Shard {
    fn new(key_size: usize, stride: usize) -> Shard {
        Shard {
            index: HashTable::new(),
            keys: Slab::new(key_size),
            vals: Slab::new(stride),
            meta: Slab::new(1),
            slots: 0,
            free: NIL,
            oldest: NIL,
            newest: NIL,
            len: 0,
            server_keys: HashMap::new(),
        }
    }

    fn m(&self, s: u32) -> &Meta {
        &self.meta.at(s)[0]
    }

    fn m_mut(&mut self, s: u32) -> &mut Meta {
        &mut self.meta.at_mut(s)[0]
    }

    fn unlink(&mut self, s: u32) {
        let Meta { prev, next, .. } = *self.m(s);
        match prev {
            NIL => self.oldest = next,
            p => self.m_mut(p).next = next,
        }
        match next {
            NIL => self.newest = prev,
            n => self.m_mut(n).prev = prev,
        }
    }

    fn push_newest(&mut self, s: u32) {
        let newest = self.newest;
        let m = self.m_mut(s);
        m.prev = newest;
        m.next = NIL;
        match newest {
            NIL => self.oldest = s,
            n => self.m_mut(n).next = s,
        }
        self.newest = s;
    }

    /// Marks an entry updated now: it moves to the newest end.
    fn refresh(&mut self, s: u32, now: u64) {
        self.m_mut(s).touched = now;
        if self.newest != s {
            self.unlink(s);
            self.push_newest(s);
        }
    }

    fn live(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.slots).filter(|&s| self.m(s).prev != FREE)
    }
}

/// A stick table.
pub struct Table {
    pub name: String,
    pub conf: TableConf,
    shards: Box<[Mutex<Shard>]>,
    used: AtomicUsize,
    /// Bytes of a stored key: fixed for addresses and integers, a 2-byte length and room
    /// for `len` bytes for strings and binary keys.
    key_size: usize,
    /// Values per entry.
    stride: usize,
    seed: u64,
    /// Set when a `peers` section synchronises the table: where local changes are queued.
    peers: OnceLock<peers::Hook>,
}

/// Read and write access to one entry's data, its shard locked.
pub struct EntryView<'a> {
    table: &'a Table,
    sh: &'a mut Shard,
    slot: u32,
}

impl EntryView<'_> {
    fn vals(&self) -> &[u64] {
        self.sh.vals.at(self.slot)
    }

    fn vals_mut(&mut self) -> &mut [u64] {
        self.sh.vals.at_mut(self.slot)
    }

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
        let v = self.vals();
        if ty.is_rate() {
            Some(rate_read(&v[o..o + 3], period, now_ms()))
        } else {
            Some(v[o])
        }
    }

    /// Sets a counter; a rate restarts now with `v` events (as `set table` does).
    pub fn set(&mut self, ty: DataType, v: u64) {
        self.set_at(ty, 0, v)
    }

    pub fn set_at(&mut self, ty: DataType, idx: usize, v: u64) {
        if let Some((o, _)) = self.slot(ty, idx) {
            let vals = self.vals_mut();
            if ty.is_rate() {
                let r = &mut vals[o..o + 3];
                r[0] = v;
                r[1] = 0;
                r[2] = now_ms();
            } else {
                vals[o] = v;
            }
        }
    }

    /// Adds `inc` to a counter, or to the current period of a rate.
    pub fn add(&mut self, ty: DataType, inc: u64) {
        self.add_at(ty, 0, inc)
    }

    pub fn add_at(&mut self, ty: DataType, idx: usize, inc: u64) {
        if let Some((o, period)) = self.slot(ty, idx) {
            let vals = self.vals_mut();
            if ty.is_rate() {
                rate_update(&mut vals[o..o + 3], period, now_ms(), inc);
            } else {
                let v = &mut vals[o];
                *v = v.saturating_add(inc);
            }
        }
    }

    /// Counts one more (`1`) or one less (`-1`) tracker of the entry.
    pub fn refs(&mut self, delta: i32) {
        let m = self.sh.m_mut(self.slot);
        m.refs = m.refs.saturating_add_signed(delta);
    }

    /// The number of trackers of the entry (`sc_trackers`).
    pub fn trackers(&self) -> u32 {
        self.sh.m(self.slot).refs
    }

    pub fn set_server_key(&mut self, k: &str) {
        if self.table.stores(DataType::ServerKey) {
            self.sh.server_keys.insert(self.slot, k.into());
        }
    }

    /// The `server_key` stored, if any.
    pub fn server_key(&self) -> Option<&str> {
        self.sh.server_keys.get(&self.slot).map(|k| &**k)
    }

    /// Element `idx` of a rate as stored: events of the current period, of the previous
    /// one, and the start of the current period on `now_ms()` (0: never started).
    pub fn rate_raw(&self, ty: DataType, idx: usize) -> Option<(u64, u64, u64)> {
        let (o, _) = self.slot(ty, idx)?;
        let r = &self.vals()[o..o + 3];
        Some((r[0], r[1], r[2]))
    }

    pub fn set_rate_raw(&mut self, ty: DataType, idx: usize, v: (u64, u64, u64)) {
        if let Some((o, _)) = self.slot(ty, idx) {
            self.vals_mut()[o..o + 3].copy_from_slice(&[v.0, v.1, v.2]);
        }
    }

    /// Milliseconds since the entry's last update.
    pub fn idle_ms(&self) -> u64 {
        now_ms().saturating_sub(self.sh.m(self.slot).touched)
    }

    /// Milliseconds before the entry expires (0: never).
    pub fn expires_in(&self) -> u64 {
        match self.table.exp_of(self.sh.m(self.slot).touched) {
            0 => 0,
            exp => exp.saturating_sub(now_ms()).max(1),
        }
    }

    /// Makes an entry of a table with `expire` expire in `ms` (as a peer's timed update says).
    pub fn set_expires_in(&mut self, ms: u64) {
        // The expiry is the last update plus `expire`: the update time moves so that the
        // entry expires `ms` from now.
        if let Some(e) = self.table.conf.expire {
            let touched = (now_ms() + ms.max(1)).saturating_sub(e.max(1));
            self.sh.m_mut(self.slot).touched = touched;
        }
    }
}

/// Calls `f` with the bytes a key is hashed and compared by.
fn with_key_bytes<R>(key: &Key, f: impl FnOnce(&[u8]) -> R) -> R {
    match key {
        Key::V4(o) => f(o),
        Key::V6(o) => f(o),
        Key::Int(i) => f(&i.to_le_bytes()),
        Key::Bytes(b) => f(b),
    }
}

impl Table {
    pub fn new(name: &str, conf: TableConf) -> Table {
        let key_size = match conf.key {
            KeyType::Ip | KeyType::Integer => 4,
            KeyType::Ipv6 => 16,
            KeyType::String(len) | KeyType::Binary(len) => 2 + len.min(u16::MAX as usize),
        };
        let stride = conf.slots();
        Table {
            name: name.to_string(),
            conf,
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Shard::new(key_size, stride)))
                .collect(),
            used: AtomicUsize::new(0),
            key_size,
            stride,
            seed: fastrand::u64(..),
            peers: OnceLock::new(),
        }
    }

    fn varlen(&self) -> bool {
        matches!(self.conf.key, KeyType::String(_) | KeyType::Binary(_))
    }

    fn hash(&self, kb: &[u8]) -> u64 {
        xxhash_rust::xxh3::xxh3_64_with_seed(kb, self.seed)
    }

    /// The shard of a hash: bits the shard's own index does not use (it takes the low
    /// bits for the bucket and the top 7 for its control byte).
    fn shard_of(h: u64) -> usize {
        (h >> 40) as usize % SHARDS
    }

    fn lock(&self, i: usize) -> MutexGuard<'_, Shard> {
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The key bytes stored in slot `s` of a shard.
    fn stored<'s>(&self, sh: &'s Shard, s: u32) -> &'s [u8] {
        let k = sh.keys.at(s);
        if self.varlen() {
            let n = usize::from(u16::from_le_bytes([k[0], k[1]]));
            &k[2..2 + n.min(self.key_size - 2)]
        } else {
            k
        }
    }

    fn find(&self, sh: &Shard, h: u64, kb: &[u8]) -> Option<u32> {
        sh.index.find(h, |&s| self.stored(sh, s) == kb).copied()
    }

    /// Stores a new entry for `kb` in the shard, updated `now`.
    fn insert(&self, sh: &mut Shard, h: u64, kb: &[u8], now: u64) -> u32 {
        let ks = self.key_size;
        let s = if sh.free != NIL {
            let s = sh.free;
            sh.free = sh.m(s).next;
            sh.vals.at_mut(s).fill(0);
            s
        } else {
            let s = sh.slots;
            sh.slots += 1;
            sh.meta.reserve(s);
            sh.keys.reserve(s);
            sh.vals.reserve(s);
            s
        };
        let dst = sh.keys.at_mut(s);
        dst.fill(0);
        if self.varlen() {
            let n = kb.len().min(ks - 2);
            dst[..2].copy_from_slice(&(n as u16).to_le_bytes());
            dst[2..2 + n].copy_from_slice(&kb[..n]);
        } else {
            let n = kb.len().min(ks);
            dst[..n].copy_from_slice(&kb[..n]);
        }
        *sh.m_mut(s) = Meta {
            touched: now,
            prev: NIL,
            next: NIL,
            refs: 0,
        };
        sh.push_newest(s);
        sh.len += 1;
        let Shard { index, keys, .. } = sh;
        index.insert_unique(h, s, |&x| {
            let k = keys.at(x);
            if self.varlen() {
                let n = usize::from(u16::from_le_bytes([k[0], k[1]]));
                self.hash(&k[2..2 + n.min(ks - 2)])
            } else {
                self.hash(k)
            }
        });
        s
    }

    /// Frees slot `s` of a shard.
    fn remove_slot(&self, sh: &mut Shard, s: u32) {
        let h = self.hash(self.stored(sh, s));
        if let Ok(e) = sh.index.find_entry(h, |&x| x == s) {
            e.remove();
        }
        sh.unlink(s);
        let free = sh.free;
        let m = sh.m_mut(s);
        m.prev = FREE;
        m.next = free;
        m.refs = 0;
        sh.free = s;
        sh.len -= 1;
        if !sh.server_keys.is_empty() {
            sh.server_keys.remove(&s);
        }
        self.used.fetch_sub(1, Relaxed);
    }

    /// The key stored in slot `s`.
    fn key_at(&self, sh: &Shard, s: u32) -> Key {
        let b = self.stored(sh, s);
        match self.conf.key {
            KeyType::Ip => Key::V4([b[0], b[1], b[2], b[3]]),
            KeyType::Ipv6 => {
                let mut o = [0u8; 16];
                o.copy_from_slice(b);
                Key::V6(o)
            }
            KeyType::Integer => Key::Int(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            KeyType::String(_) | KeyType::Binary(_) => Key::Bytes(b.into()),
        }
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

    /// When an entry updated at `touched` expires (0: never).
    fn exp_of(&self, touched: u64) -> u64 {
        self.conf.expire.map_or(0, |e| touched + e.max(1))
    }

    fn expired(&self, m: &Meta, now: u64) -> bool {
        let exp = self.exp_of(m.touched);
        exp != 0 && exp <= now && m.refs == 0
    }

    /// Runs `f` on the live entry for `key`, if any.
    pub fn with<R>(&self, key: &Key, f: impl FnOnce(&mut EntryView<'_>) -> R) -> Option<R> {
        with_key_bytes(key, |kb| {
            let h = self.hash(kb);
            let mut sh = self.lock(Self::shard_of(h));
            let sh = &mut *sh;
            let s = self.find(sh, h, kb)?;
            if self.expired(sh.m(s), now_ms()) {
                self.remove_slot(sh, s);
                return None;
            }
            Some(f(&mut EntryView {
                table: self,
                sh,
                slot: s,
            }))
        })
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
        with_key_bytes(key, |kb| self.update_bytes(kb, f))
    }

    fn update_bytes<R>(&self, kb: &[u8], f: impl FnOnce(&mut EntryView<'_>) -> R) -> Option<R> {
        let h = self.hash(kb);
        let si = Self::shard_of(h);
        let now = now_ms();
        {
            let mut sh = self.lock(si);
            let sh = &mut *sh;
            if self.conf.expire.is_some() {
                self.purge_shard(sh, now);
            }
            if let Some(s) = self.find(sh, h, kb) {
                sh.refresh(s, now);
                return Some(f(&mut EntryView {
                    table: self,
                    sh,
                    slot: s,
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
        let s = match self.find(sh, h, kb) {
            Some(s) => {
                // Created meanwhile by another thread.
                self.used.fetch_sub(1, Relaxed);
                sh.refresh(s, now);
                s
            }
            None => self.insert(sh, h, kb, now),
        };
        Some(f(&mut EntryView {
            table: self,
            sh,
            slot: s,
        }))
    }

    /// Removes the least recently updated entries of the table: a batch of size/256 + 1 at
    /// once, as HAProxy does when a table is full, so that the next insertions find room
    /// without scanning the shards again.
    fn evict_oldest(&self) -> bool {
        let batch = self.conf.size / 256 + 1;
        // The update times of the oldest untracked entries of each shard, then how many of
        // the table's `batch` oldest each shard holds.
        let mut oldest: Vec<(u64, usize)> = Vec::new();
        for i in 0..SHARDS {
            let sh = self.lock(i);
            let mut s = sh.oldest;
            let mut n = 0;
            while s != NIL && n < batch {
                let m = *sh.m(s);
                if m.refs == 0 {
                    oldest.push((m.touched, i));
                    n += 1;
                }
                s = m.next;
            }
        }
        oldest.sort_unstable();
        oldest.truncate(batch);
        let mut per_shard = [0usize; SHARDS];
        for (_, i) in oldest {
            per_shard[i] += 1;
        }
        let mut removed = false;
        for (i, mut n) in per_shard.into_iter().enumerate() {
            if n == 0 {
                continue;
            }
            let mut sh = self.lock(i);
            let sh = &mut *sh;
            let mut s = sh.oldest;
            while s != NIL && n > 0 {
                let next = sh.m(s).next;
                if sh.m(s).refs == 0 {
                    self.remove_slot(sh, s);
                    removed = true;
                    n -= 1;
                }
                s = next;
            }
        }
        removed
    }

    /// Drops the expired entries of a shard: the least recently updated ones come first
    /// (every update sets the same `expire`), so this stops at the first live one.
    fn purge_shard(&self, sh: &mut Shard, now: u64) {
        while sh.oldest != NIL {
            let s = sh.oldest;
            let m = *sh.m(s);
            let exp = self.exp_of(m.touched);
            if exp == 0 || exp > now {
                break;
            }
            if m.refs > 0 {
                // Tracked: kept alive as long as a stream uses it.
                sh.refresh(s, now);
                continue;
            }
            self.remove_slot(sh, s);
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
            Some(k) => with_key_bytes(k, |kb| {
                let h = self.hash(kb);
                let mut sh = self.lock(Self::shard_of(h));
                let sh = &mut *sh;
                if let Some(s) = self.find(sh, h, kb) {
                    self.remove_slot(sh, s);
                }
            }),
            None => {
                for i in 0..SHARDS {
                    let mut sh = self.lock(i);
                    let n = sh.len;
                    *sh = Shard::new(self.key_size, self.stride);
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

    fn key_text(&self, k: &[u8], out: &mut String) {
        match self.conf.key {
            KeyType::Ip => {
                let _ = write!(out, "{}", Ipv4Addr::new(k[0], k[1], k[2], k[3]));
            }
            KeyType::Ipv6 => {
                let mut o = [0u8; 16];
                o.copy_from_slice(k);
                let _ = write!(out, "{}", Ipv6Addr::from(o));
            }
            KeyType::Integer => {
                let _ = write!(out, "{}", u32::from_le_bytes([k[0], k[1], k[2], k[3]]));
            }
            KeyType::Binary(_) => k.iter().for_each(|x| {
                let _ = write!(out, "{x:02x}");
            }),
            KeyType::String(_) => {
                let end = k.iter().position(|&c| c == 0).unwrap_or(k.len());
                out.push_str(&String::from_utf8_lossy(&k[..end]));
            }
        }
    }

    fn entry_line(&self, si: usize, sh: &Shard, s: u32, now: u64, out: &mut String) {
        // An address-like identifier, stable while the entry lives (HAProxy prints the
        // entry's address).
        let id = (s as u64 * SHARDS as u64 + si as u64 + 1) * 0x40;
        let _ = write!(out, "0x{:x}: key=", 0x5600_0000_0000u64 + id);
        self.key_text(self.stored(sh, s), out);
        let m = sh.m(s);
        let exp = match self.exp_of(m.touched) {
            0 => 0,
            e => e.saturating_sub(now),
        };
        let _ = write!(out, " use={} exp={exp}", m.refs);
        let vals = sh.vals.at(s);
        for c in &self.conf.columns {
            if c.ty.is_array() {
                // `gpt0=0 gpt1=0 gpc0_rate(10000)=0 …`, one field per element.
                let base = c.ty.name();
                let (stem, suffix) = base.split_at(3);
                for i in 0..c.count {
                    let o = c.offset + i * c.ty.width();
                    let _ = write!(out, " {stem}{i}{suffix}");
                    if c.ty.is_rate() {
                        let v = rate_read(&vals[o..o + 3], c.period, now);
                        let _ = write!(out, "({})={v}", c.period);
                    } else {
                        let _ = write!(out, "={}", vals[o]);
                    }
                }
                continue;
            }
            out.push(' ');
            out.push_str(c.ty.name());
            if c.ty.is_rate() {
                let v = rate_read(&vals[c.offset..c.offset + 3], c.period, now);
                let _ = write!(out, "({})={v}", c.period);
            } else if c.ty == DataType::ServerKey {
                out.push('=');
                out.push_str(sh.server_keys.get(&s).map_or("-", |k| &**k));
            } else {
                let _ = write!(out, "={}", vals[c.offset]);
            }
        }
        out.push('\n');
    }

    /// The value of a stored data type in an entry, for `data.TYPE OP VALUE` filters.
    fn value(&self, sh: &Shard, s: u32, ty: DataType, now: u64) -> Option<u64> {
        let c = self.conf.columns.iter().find(|c| c.ty == ty)?;
        let vals = sh.vals.at(s);
        if ty.is_rate() {
            Some(rate_read(&vals[c.offset..c.offset + 3], c.period, now))
        } else if ty == DataType::ServerKey {
            None
        } else {
            Some(vals[c.offset])
        }
    }

    /// `show table NAME [key K | data.TYPE OP VALUE]`: the header and the live entries.
    pub fn show(&self, key: Option<&Key>, filter: Option<&Filter>) -> String {
        self.purge_expired();
        let now = now_ms();
        // In the order of HAProxy's key tree: the key's bytes compared as memory (an
        // integer key is stored in the host's little-endian order).
        let mut lines: Vec<(Vec<u8>, String)> = Vec::new();
        // One key: only its shard, through the index.
        let want = key.map(|k| {
            with_key_bytes(k, |kb| {
                let h = self.hash(kb);
                (Self::shard_of(h), h)
            })
        });
        for i in 0..SHARDS {
            if want.is_some_and(|(si, _)| si != i) {
                continue;
            }
            let sh = self.lock(i);
            let one = match (key, want) {
                (Some(k), Some((_, h))) => match with_key_bytes(k, |kb| self.find(&sh, h, kb)) {
                    Some(s) => Some(s),
                    None => break,
                },
                _ => None,
            };
            let slots: Box<dyn Iterator<Item = u32>> = match one {
                Some(s) => Box::new(std::iter::once(s)),
                None => Box::new(sh.live()),
            };
            for s in slots {
                let kb = self.stored(&sh, s);
                if self.expired(sh.m(s), now) {
                    continue;
                }
                if let Some(f) = filter
                    && !self.value(&sh, s, f.ty, now).is_some_and(|v| f.holds(v))
                {
                    continue;
                }
                let mut l = String::new();
                self.entry_line(i, &sh, s, now, &mut l);
                lines.push((kb.to_vec(), l));
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
            let sh = &mut *sh;
            let dead: Vec<u32> = sh
                .live()
                .filter(|&s| self.value(sh, s, f.ty, now).is_some_and(|v| f.holds(v)))
                .collect();
            for s in dead {
                self.remove_slot(sh, s);
            }
        }
    }

    /// Every live key of the table.
    pub fn keys(&self) -> Vec<Key> {
        let mut out = Vec::with_capacity(self.used());
        self.for_each_key(|k| out.push(k.clone()));
        out
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
                sh.live()
                    .filter(|&s| !self.expired(sh.m(s), now))
                    .map(|s| self.key_at(&sh, s))
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
            // Eviction compares update times (milliseconds) across shards.
            std::thread::sleep(std::time::Duration::from_millis(2));
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
    fn slots_are_reused_and_keys_kept() {
        let c = TableConf::parse(&words("type string len 8 size 100 store gpc0")).unwrap();
        let t = Table::new("s", c);
        let k = |s: &str| Key::Bytes(s.as_bytes().into());
        for i in 0..50 {
            t.update(&k(&format!("key{i}")), |e| e.add(DataType::Gpc0, i));
        }
        assert_eq!(t.used(), 50);
        for i in (0..50).step_by(2) {
            t.clear(Some(&k(&format!("key{i}"))));
        }
        assert_eq!(t.used(), 25);
        // Freed slots take new keys; the old ones stay readable with their values.
        for i in 100..125 {
            t.update(&k(&format!("longer-than-8-{i}")), |e| {
                e.add(DataType::Gpc0, 1)
            });
        }
        assert_eq!(t.used(), 50);
        assert_eq!(t.with(&k("key7"), |e| e.get(DataType::Gpc0)), Some(Some(7)));
        assert!(t.with(&k("key8"), |_| ()).is_none());
        let show = t.show(Some(&k("key7")), None);
        assert!(show.ends_with(" key=key7 use=0 exp=0 gpc0=7\n"), "{show}");
        assert_eq!(t.keys().len(), 50);
        t.clear(None);
        assert_eq!(t.used(), 0);
        assert!(t.with(&k("key7"), |_| ()).is_none());
    }

    #[test]
    fn tracked_entries_outlive_expiry() {
        let c = TableConf::parse(&words("type integer size 10 expire 1ms store gpc0")).unwrap();
        let t = Table::new("e", c);
        t.update(&Key::Int(1), |e| e.refs(1));
        t.update(&Key::Int(2), |_| ());
        std::thread::sleep(std::time::Duration::from_millis(5));
        t.purge_expired();
        assert_eq!(t.used(), 1);
        assert!(t.with(&Key::Int(1), |e| e.trackers()).is_some());
        t.with(&Key::Int(1), |e| e.refs(-1));
        std::thread::sleep(std::time::Duration::from_millis(5));
        t.purge_expired();
        assert_eq!(t.used(), 0);
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
