//! Indexes for the string match methods: a byte trie (prefixes for `beg`, reversed keys for
//! `end`, delimiter-bounded words for `dir` and `dom`) and an Aho-Corasick automaton with a
//! small pending list for `sub`. Case-insensitive sets store keys lowercased (ASCII only).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use std::collections::HashMap;

/// ASCII lowercase when `fold`.
#[inline]
pub(crate) fn fold(b: u8, fold: bool) -> u8 {
    if fold { b.to_ascii_lowercase() } else { b }
}

/// Delimiters of the `dir` match: slash and question mark.
pub(crate) const DIR_DELIMS: &[u8] = b"/?";
/// Delimiters of the `dom` match: dot, colon, slash and question mark.
pub(crate) const DOM_DELIMS: &[u8] = b"./:?";

/// Strips leading and trailing delimiters from a `dir`/`dom` pattern, as HAProxy does.
pub(crate) fn strip_delims<'a>(mut k: &'a [u8], delims: &[u8]) -> &'a [u8] {
    while let [first, rest @ ..] = k
        && delims.contains(first)
    {
        k = rest;
    }
    while let [rest @ .., last] = k
        && delims.contains(last)
    {
        k = rest;
    }
    k
}

/// Decodes a `bin` pattern (an even number of hex digits), with HAProxy's error texts.
pub(crate) fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err("an even number of hex digit is expected.".to_string());
    }
    let digit = |c: u8| -> Result<u8, String> {
        (c as char)
            .to_digit(16)
            .map(|d| d as u8)
            .ok_or_else(|| format!("an hex digit is expected (found '{}').", c as char))
    };
    b.chunks(2)
        .map(|p| Ok(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

#[derive(Clone, Debug, Default)]
struct Node {
    /// Children sorted by byte.
    children: Vec<(u8, u32)>,
    /// Slots whose key ends here, in insertion order.
    here: Vec<u32>,
}

/// A byte trie mapping keys to the slots that hold them. Lookups walk the input once, so
/// their cost depends on the input length, never on the number of keys.
#[derive(Clone, Debug)]
pub(crate) struct Trie {
    nodes: Vec<Node>,
}

impl Default for Trie {
    fn default() -> Self {
        Trie {
            nodes: vec![Node::default()],
        }
    }
}

impl Trie {
    #[inline]
    fn child(&self, n: u32, b: u8) -> Option<u32> {
        let c = &self.nodes[n as usize].children;
        c.binary_search_by_key(&b, |&(k, _)| k).ok().map(|i| c[i].1)
    }

    pub(crate) fn insert(&mut self, key: impl Iterator<Item = u8>, slot: u32) {
        let mut n = 0u32;
        for b in key {
            n = match self.nodes[n as usize]
                .children
                .binary_search_by_key(&b, |&(k, _)| k)
            {
                Ok(i) => self.nodes[n as usize].children[i].1,
                Err(i) => {
                    let new = self.nodes.len() as u32;
                    self.nodes.push(Node::default());
                    self.nodes[n as usize].children.insert(i, (b, new));
                    new
                }
            };
        }
        self.nodes[n as usize].here.push(slot);
    }

    pub(crate) fn remove(&mut self, key: impl Iterator<Item = u8>, slot: u32) {
        let mut n = 0u32;
        for b in key {
            match self.child(n, b) {
                Some(c) => n = c,
                None => return,
            }
        }
        self.nodes[n as usize].here.retain(|&s| s != slot);
    }

    /// Walks the trie along `input` and calls `f(consumed, slots)` at every node holding
    /// keys, the root (empty key) included. `f` returns false to stop the walk.
    #[inline]
    pub(crate) fn walk(
        &self,
        mut input: impl Iterator<Item = u8>,
        mut f: impl FnMut(usize, &[u32]) -> bool,
    ) {
        let mut n = 0u32;
        let mut depth = 0;
        loop {
            let here = &self.nodes[n as usize].here;
            if !here.is_empty() && !f(depth, here) {
                return;
            }
            let Some(b) = input.next() else { return };
            let Some(c) = self.child(n, b) else { return };
            n = c;
            depth += 1;
        }
    }
}

/// Lowest (earliest loaded) slot of a slice kept in insertion order.
#[inline]
pub(crate) fn first(slots: &[u32]) -> Option<u32> {
    slots.first().copied()
}

/// Keeps the smaller of two optional slots.
#[inline]
pub(crate) fn min_slot(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Finds the earliest slot whose word (a pattern already stripped of delimiters) appears in
/// `input` bounded by delimiters or the ends of the input: HAProxy's `dir`/`dom` semantics.
/// Words start after a delimiter (or at the start) on a non-delimiter byte, and must be
/// followed by a delimiter or the end.
pub(crate) fn word_lookup(trie: &Trie, input: &[u8], delims: &[u8], icase: bool) -> Option<u32> {
    let is_delim = |b: u8| delims.contains(&b);
    let mut best: Option<u32> = None;
    let mut prev_delim = true;
    for p in 0..=input.len() {
        let at_start = prev_delim && (p == input.len() || !is_delim(input[p]));
        if p < input.len() {
            prev_delim = is_delim(input[p]);
        }
        if !at_start {
            continue;
        }
        trie.walk(input[p..].iter().map(|&b| fold(b, icase)), |n, slots| {
            let end = p + n;
            if end == input.len() || is_delim(input[end]) {
                best = min_slot(best, first(slots));
            }
            true
        });
    }
    best
}

/// A group of slots sharing one (folded) `sub` key.
#[derive(Clone, Debug)]
struct Group {
    key: Box<[u8]>,
    slots: Vec<u32>,
}

/// Substring index: an Aho-Corasick automaton over the distinct keys present when it was
/// last built, plus the keys added since (searched one by one). The automaton is rebuilt
/// when the pending keys or the emptied groups grow past a fraction of the total, so
/// runtime additions stay cheap and lookups stay independent of the number of keys.
#[derive(Clone, Debug, Default)]
pub(crate) struct SubIndex {
    groups: Vec<Group>,
    by_key: HashMap<Box<[u8]>, u32>,
    ac: Option<AhoCorasick>,
    /// Groups `0..built` are in the automaton; the rest are pending.
    built: usize,
    dead: usize,
    icase: bool,
    /// While loading in bulk, the automaton is built once at the end.
    bulk: bool,
}

impl SubIndex {
    pub(crate) fn new(icase: bool) -> SubIndex {
        SubIndex {
            icase,
            ..SubIndex::default()
        }
    }

    pub(crate) fn insert(&mut self, key: &[u8], slot: u32) {
        match self.by_key.get(key) {
            Some(&g) => {
                let g = &mut self.groups[g as usize];
                if g.slots.is_empty() {
                    self.dead = self.dead.saturating_sub(1);
                }
                g.slots.push(slot);
            }
            None => {
                self.by_key.insert(key.into(), self.groups.len() as u32);
                self.groups.push(Group {
                    key: key.into(),
                    slots: vec![slot],
                });
                self.maybe_rebuild();
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &[u8], slot: u32) {
        if let Some(&g) = self.by_key.get(key) {
            let g = &mut self.groups[g as usize];
            g.slots.retain(|&s| s != slot);
            if g.slots.is_empty() {
                self.dead += 1;
                self.maybe_rebuild();
            }
        }
    }

    /// Defers (`true`) or resumes (`false`) automaton builds; resuming builds it if needed.
    pub(crate) fn set_bulk(&mut self, on: bool) {
        self.bulk = on;
        if !on && (self.built < self.groups.len() || self.dead > 0) {
            self.rebuild();
        }
    }

    /// Rebuilds once the work outside the automaton exceeds a share of the keys.
    fn maybe_rebuild(&mut self) {
        if self.bulk {
            return;
        }
        let pending = self.groups.len() - self.built;
        let limit = 8 + self.groups.len() / 8;
        if pending > limit || self.dead > limit {
            self.rebuild();
        }
    }

    pub(crate) fn rebuild(&mut self) {
        self.groups.retain(|g| !g.slots.is_empty());
        self.by_key = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.key.clone(), i as u32))
            .collect();
        self.dead = 0;
        self.built = self.groups.len();
        self.ac = if self.groups.is_empty() {
            None
        } else {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .ascii_case_insensitive(self.icase)
                .build(self.groups.iter().map(|g| &g.key[..]))
                .ok()
        };
        if self.ac.is_none() {
            // Building cannot fail for byte patterns below the size limits; should it,
            // every group stays pending and is searched directly.
            self.built = 0;
        }
    }

    /// The earliest slot whose key occurs anywhere in `input`.
    pub(crate) fn lookup(&self, input: &[u8]) -> Option<u32> {
        let mut best = None;
        if let Some(ac) = &self.ac {
            for m in ac.find_overlapping_iter(input) {
                best = min_slot(best, first(&self.groups[m.pattern().as_usize()].slots));
            }
        }
        for g in &self.groups[self.built..] {
            if g.slots.is_empty() || best.is_some_and(|b| b < g.slots[0]) {
                continue;
            }
            if contains(input, &g.key, self.icase) {
                best = min_slot(best, first(&g.slots));
            }
        }
        best
    }
}

/// Naive substring test used for the few pending keys.
fn contains(hay: &[u8], needle: &[u8], icase: bool) -> bool {
    if needle.is_empty() {
        return true;
    }
    hay.windows(needle.len())
        .any(|w| w.iter().zip(needle).all(|(&a, &b)| fold(a, icase) == b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex() {
        assert_eq!(parse_hex("48656C6c"), Ok(b"Hell".to_vec()));
        assert_eq!(
            parse_hex("123"),
            Err("an even number of hex digit is expected.".into())
        );
        assert_eq!(
            parse_hex("zz"),
            Err("an hex digit is expected (found 'z').".into())
        );
    }

    #[test]
    fn strip() {
        assert_eq!(strip_delims(b":www1:", DOM_DELIMS), b"www1");
        assert_eq!(strip_delims(b"/x/y/", DIR_DELIMS), b"x/y");
        assert_eq!(strip_delims(b"...", DOM_DELIMS), b"");
    }

    #[test]
    fn trie_walk() {
        let mut t = Trie::default();
        t.insert(b"/api".iter().copied(), 0);
        t.insert(b"/api/v2".iter().copied(), 1);
        t.insert(b"".iter().copied(), 2);
        let mut seen = vec![];
        t.walk(b"/api/v2/x".iter().copied(), |d, s| {
            seen.push((d, s.to_vec()));
            true
        });
        assert_eq!(seen, vec![(0, vec![2]), (4, vec![0]), (7, vec![1])]);
        t.remove(b"/api".iter().copied(), 0);
        let mut n = 0;
        t.walk(b"/api/v2/x".iter().copied(), |_, _| {
            n += 1;
            true
        });
        assert_eq!(n, 2);
    }

    #[test]
    fn sub_index_pending_and_rebuild() {
        let mut s = SubIndex::new(false);
        for i in 0..100u32 {
            s.insert(format!("k{i:03}").as_bytes(), i);
        }
        assert!(s.built > 0, "rebuilt along the way");
        assert_eq!(s.lookup(b"xxk050k007yy"), Some(7));
        s.remove(b"k007", 7);
        assert_eq!(s.lookup(b"xxk050k007yy"), Some(50));
        s.insert(b"k050", 200);
        assert_eq!(s.lookup(b"k050"), Some(50));
        assert_eq!(s.lookup(b"nothing"), None);
    }
}
