//! `PatternSet`: one compiled list of patterns (with optional map values) for one match
//! method and case mode, its per-method index, and HAProxy's choice between "tree" (longest
//! match: `str`, `beg` without `-i`, `ip`) and "list" (first match in loading order) rules.

use super::int::{IntPattern, cast_str_to_int, parse_int_text};
use super::ip::{IpIndex, IpPattern};
use super::text::{
    DIR_DELIMS, DOM_DELIMS, SubIndex, Trie, first, fold, min_slot, parse_hex, strip_delims,
    word_lookup,
};
use super::{Entry, EntryRef, MatchMethod, reg};
use regex::bytes::Regex;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};

/// Source of entry ids: unique in the process, shown as `0x…` by `show map` like the
/// addresses HAProxy prints.
static NEXT_ID: AtomicU64 = AtomicU64::new(0x5600_0000_1000);

/// A fresh entry id.
pub fn next_entry_id() -> u64 {
    NEXT_ID.fetch_add(0x10, Ordering::Relaxed)
}

/// A pattern compiled for its method.
#[derive(Clone, Debug)]
pub(crate) enum Pat {
    /// `found` and `bool` take no pattern; the text is kept but never compared.
    Nothing,
    Int(IntPattern),
    Ip(IpPattern),
    /// The key as indexed: lowercased with `-i`, decoded for `bin`, stripped of delimiters
    /// for `dir`/`dom`.
    Bytes(Box<[u8]>),
    Reg(Regex),
}

#[derive(Clone, Debug)]
struct Slot {
    entry: Entry,
    pat: Pat,
}

#[derive(Clone, Debug)]
enum Index {
    None,
    Int {
        exact: HashMap<i64, Vec<u32>>,
        ranges: Vec<u32>,
    },
    Ip(Box<IpIndex>),
    Exact(HashMap<Box<[u8]>, Vec<u32>>),
    Prefix(Trie),
    Suffix(Trie),
    Sub(Box<SubIndex>),
    Word(Trie),
    /// Regexes in loading order, tried one by one, and the version of the list for the
    /// lookup cache (`tune.pattern.cache-size`, see cache.rs).
    Reg(Vec<u32>, u64),
}

/// One compiled set of patterns with an optional value per pattern (maps), indexed so that
/// the number of patterns does not drive the cost of a lookup for `str`, `bin`, `beg`,
/// `end`, `sub`, `dir`, `dom`, `ip` and exact `int` values. Cloning is cheap enough for
/// copy-on-write updates (regexes and automata are shared).
#[derive(Clone, Debug)]
pub struct PatternSet {
    method: MatchMethod,
    ignore_case: bool,
    /// Entries by loading order; removed ones leave a hole until the next compaction.
    slots: Vec<Option<Slot>>,
    live: usize,
    by_id: HashMap<u64, u32>,
    index: Index,
}

impl PatternSet {
    /// An empty set. `ignore_case` is `-i`; it only affects string and regex methods.
    pub fn new(method: MatchMethod, ignore_case: bool) -> PatternSet {
        let index = match method {
            MatchMethod::Found | MatchMethod::Bool => Index::None,
            MatchMethod::Int | MatchMethod::Len => Index::Int {
                exact: HashMap::new(),
                ranges: Vec::new(),
            },
            MatchMethod::Ip => Index::Ip(Box::default()),
            MatchMethod::Str | MatchMethod::Bin => Index::Exact(HashMap::new()),
            MatchMethod::Beg => Index::Prefix(Trie::default()),
            MatchMethod::End => Index::Suffix(Trie::default()),
            MatchMethod::Sub => Index::Sub(Box::new(SubIndex::new(ignore_case))),
            MatchMethod::Dir | MatchMethod::Dom => Index::Word(Trie::default()),
            MatchMethod::Reg => Index::Reg(Vec::new(), super::cache::fresh_version()),
        };
        PatternSet {
            method,
            ignore_case,
            slots: Vec::new(),
            live: 0,
            by_id: HashMap::new(),
            index,
        }
    }

    /// The match method.
    pub fn method(&self) -> MatchMethod {
        self.method
    }

    /// Whether `-i` was given.
    pub fn ignore_case(&self) -> bool {
        self.ignore_case
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Compiles `key` for this set's method without adding it: ints and ranges, IP networks,
    /// hex blocks and regexes are parsed here, with HAProxy's error texts. `resolve` allows
    /// host names in IP patterns (configuration time only).
    pub(crate) fn compile(&self, key: &str, resolve: bool) -> Result<Pat, String> {
        let icase = self.ignore_case;
        let folded = |k: &[u8]| -> Box<[u8]> { k.iter().map(|&b| fold(b, icase)).collect() };
        Ok(match self.method {
            MatchMethod::Found | MatchMethod::Bool => Pat::Nothing,
            MatchMethod::Int | MatchMethod::Len => Pat::Int(parse_int_text(key)?),
            MatchMethod::Ip => Pat::Ip(IpPattern::parse(key, resolve)?),
            MatchMethod::Bin => Pat::Bytes(parse_hex(key)?.into()),
            MatchMethod::Str | MatchMethod::Beg | MatchMethod::End | MatchMethod::Sub => {
                Pat::Bytes(folded(key.as_bytes()))
            }
            MatchMethod::Dir => Pat::Bytes(folded(strip_delims(key.as_bytes(), DIR_DELIMS))),
            MatchMethod::Dom => Pat::Bytes(folded(strip_delims(key.as_bytes(), DOM_DELIMS))),
            MatchMethod::Reg => Pat::Reg(reg::compile(key, icase)?),
        })
    }

    /// Adds a pattern (and its value, for maps) at the end of the set and returns its new
    /// entry id. The error text is HAProxy's, e.g. `'x1' is not a number.`
    pub fn add(&mut self, key: &str, value: Option<&str>) -> Result<u64, String> {
        let pat = self.compile(key, false)?;
        let id = next_entry_id();
        self.insert(
            Entry {
                id,
                key: key.to_string(),
                value: value.map(str::to_string),
            },
            pat,
        );
        Ok(id)
    }

    /// Adds an already compiled entry (the id is the caller's).
    pub(crate) fn insert(&mut self, entry: Entry, pat: Pat) {
        let Ok(slot) = u32::try_from(self.slots.len()) else {
            // More than four billion loads without compaction cannot happen: compaction
            // runs whenever holes outnumber entries.
            return;
        };
        self.index_add(&pat, slot);
        self.by_id.insert(entry.id, slot);
        self.slots.push(Some(Slot { entry, pat }));
        self.live += 1;
    }

    /// Brackets a bulk load: indexes that are costly to update one key at a time (the
    /// `sub` automaton) are built once when `on` goes back to false.
    pub(crate) fn set_bulk(&mut self, on: bool) {
        if let Index::Sub(s) = &mut self.index {
            s.set_bulk(on);
        }
    }

    fn index_add(&mut self, pat: &Pat, slot: u32) {
        match (&mut self.index, pat) {
            (Index::Int { exact, ranges }, Pat::Int(p)) => match p.single() {
                Some(v) => exact.entry(v).or_default().push(slot),
                None => ranges.push(slot),
            },
            (Index::Ip(ix), Pat::Ip(p)) => ix.insert(p, slot),
            (Index::Exact(m), Pat::Bytes(k)) => m.entry(k.clone()).or_default().push(slot),
            (Index::Prefix(t) | Index::Word(t), Pat::Bytes(k)) => t.insert(k.iter().copied(), slot),
            (Index::Suffix(t), Pat::Bytes(k)) => t.insert(k.iter().rev().copied(), slot),
            (Index::Sub(s), Pat::Bytes(k)) => s.insert(k, slot),
            (Index::Reg(l, v), Pat::Reg(_)) => {
                l.push(slot);
                *v = super::cache::fresh_version();
            }
            _ => {}
        }
    }

    fn index_remove(&mut self, pat: &Pat, slot: u32) {
        match (&mut self.index, pat) {
            (Index::Int { exact, ranges }, Pat::Int(p)) => match p.single() {
                Some(v) => {
                    if let Some(l) = exact.get_mut(&v) {
                        l.retain(|&s| s != slot);
                        if l.is_empty() {
                            exact.remove(&v);
                        }
                    }
                }
                None => ranges.retain(|&s| s != slot),
            },
            (Index::Ip(ix), Pat::Ip(p)) => ix.remove(p, slot),
            (Index::Exact(m), Pat::Bytes(k)) => {
                if let Some(l) = m.get_mut(k) {
                    l.retain(|&s| s != slot);
                    if l.is_empty() {
                        m.remove(k);
                    }
                }
            }
            (Index::Prefix(t) | Index::Word(t), Pat::Bytes(k)) => t.remove(k.iter().copied(), slot),
            (Index::Suffix(t), Pat::Bytes(k)) => t.remove(k.iter().rev().copied(), slot),
            (Index::Sub(s), Pat::Bytes(k)) => s.remove(k, slot),
            (Index::Reg(l, v), Pat::Reg(_)) => {
                l.retain(|&s| s != slot);
                *v = super::cache::fresh_version();
            }
            _ => {}
        }
    }

    fn remove_slot(&mut self, slot: u32) -> bool {
        let Some(s) = self.slots.get_mut(slot as usize).and_then(Option::take) else {
            return false;
        };
        self.index_remove(&s.pat, slot);
        self.by_id.remove(&s.entry.id);
        self.live -= 1;
        true
    }

    /// Renumbers the slots when holes dominate, keeping the order.
    fn maybe_compact(&mut self) {
        if self.slots.len() > 64 && self.slots.len() > 2 * self.live {
            let old = std::mem::take(&mut self.slots);
            let mut fresh = PatternSet::new(self.method, self.ignore_case);
            fresh.set_bulk(true);
            for s in old.into_iter().flatten() {
                fresh.insert(s.entry, s.pat);
            }
            fresh.set_bulk(false);
            *self = fresh;
        }
    }

    /// Removes every entry whose key is exactly `key` (the text as loaded). Returns how many.
    pub fn remove_key(&mut self, key: &str) -> usize {
        let slots: Vec<u32> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.as_ref().is_some_and(|s| s.entry.key == key))
            .map(|(i, _)| i as u32)
            .collect();
        for &s in &slots {
            self.remove_slot(s);
        }
        self.maybe_compact();
        slots.len()
    }

    /// Removes the entry with this id.
    pub fn remove_id(&mut self, id: u64) -> bool {
        let done = match self.by_id.get(&id) {
            Some(&slot) => self.remove_slot(slot),
            None => false,
        };
        self.maybe_compact();
        done
    }

    /// Removes the entries a key or `#id` designates. Returns how many.
    pub fn remove(&mut self, target: EntryRef<'_>) -> usize {
        match target {
            EntryRef::Key(k) => self.remove_key(k),
            EntryRef::Id(id) => usize::from(self.remove_id(id)),
        }
    }

    /// Sets the value of every entry with this key, or of the entry with this id. Returns
    /// how many entries changed.
    pub fn set_value(&mut self, target: EntryRef<'_>, value: &str) -> usize {
        let mut n = 0;
        match target {
            EntryRef::Id(id) => {
                if let Some(&slot) = self.by_id.get(&id)
                    && let Some(Some(s)) = self.slots.get_mut(slot as usize)
                {
                    s.entry.value = Some(value.to_string());
                    n = 1;
                }
            }
            EntryRef::Key(k) => {
                for s in self.slots.iter_mut().flatten() {
                    if s.entry.key == k {
                        s.entry.value = Some(value.to_string());
                        n += 1;
                    }
                }
            }
        }
        n
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        *self = PatternSet::new(self.method, self.ignore_case);
    }

    /// The entries in loading order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.slots.iter().flatten().map(|s| &s.entry)
    }

    /// The entry with this id.
    pub fn get(&self, id: u64) -> Option<&Entry> {
        let slot = *self.by_id.get(&id)?;
        self.entry_at(slot)
    }

    fn entry_at(&self, slot: u32) -> Option<&Entry> {
        self.slots.get(slot as usize)?.as_ref().map(|s| &s.entry)
    }

    fn pat_at(&self, slot: u32) -> Option<&Pat> {
        self.slots.get(slot as usize)?.as_ref().map(|s| &s.pat)
    }

    /// Whether HAProxy would have found this entry in a tree (`idx=tree` in `get map`):
    /// `str` and `beg` without `-i`, and IP networks with a contiguous mask.
    pub fn is_tree(&self, entry: &Entry) -> bool {
        match self.method {
            MatchMethod::Str | MatchMethod::Beg => !self.ignore_case,
            MatchMethod::Ip => self
                .by_id
                .get(&entry.id)
                .and_then(|&s| self.pat_at(s))
                .is_some_and(|p| matches!(p, Pat::Ip(ip) if ip.prefix_len().is_some())),
            _ => false,
        }
    }

    /// Matches a string or binary sample. `str`/`beg` without `-i` return the longest match
    /// (for `str`, the first loaded of equal keys); every other method returns the first
    /// matching entry in loading order. For `len` the sample's length is matched; for `int`
    /// and `ip` the text is converted first (leading integer; IP literal). `found` and
    /// `bool` never match here: they test the sample itself, which is the caller's.
    pub fn match_str(&self, s: &[u8]) -> Option<&Entry> {
        self.find_str(s).and_then(|slot| self.entry_at(slot))
    }

    fn find_str(&self, s: &[u8]) -> Option<u32> {
        let icase = self.ignore_case;
        match &self.index {
            Index::None => None,
            Index::Int { .. } => match self.method {
                MatchMethod::Len => self.find_int(i64::try_from(s.len()).unwrap_or(i64::MAX)),
                _ => self.find_int(cast_str_to_int(s)),
            },
            Index::Ip(_) => {
                let ip: IpAddr = std::str::from_utf8(s).ok()?.parse().ok()?;
                self.find_ip(ip)
            }
            Index::Exact(m) => {
                if icase && self.method == MatchMethod::Str {
                    let mut buf = [0u8; 256];
                    if s.len() <= buf.len() {
                        for (d, &c) in buf.iter_mut().zip(s) {
                            *d = c.to_ascii_lowercase();
                        }
                        m.get(&buf[..s.len()]).and_then(|l| first(l))
                    } else {
                        m.get(&s.to_ascii_lowercase()[..]).and_then(|l| first(l))
                    }
                } else {
                    m.get(s).and_then(|l| first(l))
                }
            }
            Index::Prefix(t) => {
                let mut best = None;
                let input = s.iter().map(|&b| fold(b, icase));
                if icase {
                    // List semantics: the first loaded among all matching prefixes.
                    t.walk(input, |_, slots| {
                        best = min_slot(best, first(slots));
                        true
                    });
                } else {
                    // Tree semantics: the longest matching prefix.
                    t.walk(input, |_, slots| {
                        best = first(slots);
                        true
                    });
                }
                best
            }
            Index::Suffix(t) => {
                let mut best = None;
                t.walk(s.iter().rev().map(|&b| fold(b, icase)), |_, slots| {
                    best = min_slot(best, first(slots));
                    true
                });
                best
            }
            Index::Sub(ix) => ix.lookup(s),
            Index::Word(t) => {
                let delims = if self.method == MatchMethod::Dir {
                    DIR_DELIMS
                } else {
                    DOM_DELIMS
                };
                word_lookup(t, s, delims, icase)
            }
            Index::Reg(list, version) => {
                let scan = || {
                    list.iter().copied().find(
                        |&slot| matches!(self.pat_at(slot), Some(Pat::Reg(r)) if r.is_match(s)),
                    )
                };
                // One regex is cheaper to run than the cache to consult.
                if list.len() < 2 {
                    scan()
                } else {
                    super::cache::cached(*version, s, scan)
                }
            }
        }
    }

    fn find_int(&self, v: i64) -> Option<u32> {
        let Index::Int { exact, ranges } = &self.index else {
            return None;
        };
        let hit = exact.get(&v).and_then(|l| first(l));
        let range = ranges.iter().copied().find(|&slot| {
            hit.is_none_or(|h| slot < h)
                && matches!(self.pat_at(slot), Some(Pat::Int(p)) if p.matches(v))
        });
        min_slot(hit, range)
    }

    fn find_ip(&self, ip: IpAddr) -> Option<u32> {
        let Index::Ip(ix) = &self.index else {
            return None;
        };
        ix.lookup(ip).or_else(|| {
            ix.list
                .iter()
                .copied()
                .find(|&slot| matches!(self.pat_at(slot), Some(Pat::Ip(p)) if p.matches(ip)))
        })
    }

    /// Matches an integer sample: ranges and values for `int`/`len` (first in loading
    /// order), the decimal text for string methods, the IPv4 address it encodes for `ip`.
    pub fn match_int(&self, v: i64) -> Option<&Entry> {
        let slot = match self.method {
            MatchMethod::Int | MatchMethod::Len => self.find_int(v),
            MatchMethod::Ip => self.find_ip(IpAddr::V4(Ipv4Addr::from(u32::try_from(v).ok()?))),
            MatchMethod::Found | MatchMethod::Bool => None,
            _ => self.find_str(v.to_string().as_bytes()),
        };
        slot.and_then(|s| self.entry_at(s))
    }

    /// Matches an address: longest prefix of the address's family, then of the other family
    /// through `::ffff:`/`::`/`2002:` conversions, then non-contiguous IPv4 masks in loading
    /// order. String methods match the address's text.
    pub fn match_ip(&self, ip: IpAddr) -> Option<&Entry> {
        let slot = match self.method {
            MatchMethod::Ip => self.find_ip(ip),
            MatchMethod::Int | MatchMethod::Len => match ip {
                IpAddr::V4(a) => self.find_int(i64::from(u32::from(a))),
                IpAddr::V6(_) => None,
            },
            MatchMethod::Found | MatchMethod::Bool => None,
            _ => self.find_str(ip.to_string().as_bytes()),
        };
        slot.and_then(|s| self.entry_at(s))
    }

    /// `map_regm`: the first entry whose regex matches, with its value's `\0`..`\9`
    /// replaced by the capture groups. `None` when nothing matches, when the set is not a
    /// `reg` set, or when the value's escapes are invalid (HAProxy's converter fails then).
    pub fn match_regm(&self, s: &[u8]) -> Option<(&Entry, String)> {
        let Index::Reg(list, _) = &self.index else {
            return None;
        };
        for &slot in list {
            let Some(Some(Slot {
                entry,
                pat: Pat::Reg(r),
            })) = self.slots.get(slot as usize)
            else {
                continue;
            };
            if let Some(caps) = r.captures(s) {
                let v = reg::substitute(entry.value.as_deref().unwrap_or(""), &caps)?;
                return Some((entry, v));
            }
        }
        None
    }

    /// Matches the text of a `get map`/`get acl` command, converted to the set's input type.
    pub fn match_text(&self, text: &str) -> Option<&Entry> {
        self.match_str(text.as_bytes())
    }
}
