//! `tune.pattern.cache-size`: a per-thread LRU cache of the results of regex lookups (the
//! one kind of pattern set halo scans entry by entry; the others are indexed). Keys are a
//! set version and a 64-bit hash of the sample, as in HAProxy.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Entries per thread (`tune.pattern.cache-size`, 10000 by default, 0 disables).
static CAPACITY: AtomicUsize = AtomicUsize::new(10_000);
/// Source of set versions: a set gets a new one whenever its entries change, so results
/// cached for an older version are never found again.
static NEXT_VERSION: AtomicU64 = AtomicU64::new(1);

/// Sets the number of entries each thread's cache keeps (0: no cache).
pub fn set_capacity(n: usize) {
    CAPACITY.store(n, Relaxed);
}

/// A version no set had before.
pub(crate) fn fresh_version() -> u64 {
    NEXT_VERSION.fetch_add(1, Relaxed)
}

const NIL: u32 = u32::MAX;

/// One cached result, linked in recency order.
struct Node {
    key: (u64, u64),
    found: Option<u32>,
    prev: u32,
    next: u32,
}

/// A least-recently-used map from (set version, sample hash) to the matching slot.
#[derive(Default)]
struct Lru {
    map: HashMap<(u64, u64), u32>,
    nodes: Vec<Node>,
    /// Most and least recently used.
    head: u32,
    tail: u32,
}

impl Lru {
    fn new() -> Lru {
        Lru {
            head: NIL,
            tail: NIL,
            ..Lru::default()
        }
    }

    fn unlink(&mut self, i: u32) {
        let (p, n) = {
            let node = &self.nodes[i as usize];
            (node.prev, node.next)
        };
        match p {
            NIL => self.head = n,
            p => self.nodes[p as usize].next = n,
        }
        match n {
            NIL => self.tail = p,
            n => self.nodes[n as usize].prev = p,
        }
    }

    fn push_front(&mut self, i: u32) {
        let old = self.head;
        {
            let node = &mut self.nodes[i as usize];
            node.prev = NIL;
            node.next = old;
        }
        match old {
            NIL => self.tail = i,
            o => self.nodes[o as usize].prev = i,
        }
        self.head = i;
    }

    fn get(&mut self, key: (u64, u64)) -> Option<Option<u32>> {
        let i = *self.map.get(&key)?;
        if self.head != i {
            self.unlink(i);
            self.push_front(i);
        }
        Some(self.nodes[i as usize].found)
    }

    fn put(&mut self, key: (u64, u64), found: Option<u32>, cap: usize) {
        if let Some(&i) = self.map.get(&key) {
            self.nodes[i as usize].found = found;
            return;
        }
        if self.nodes.len() > cap {
            // The capacity went down: start again.
            *self = Lru::new();
        }
        let i = if self.nodes.len() < cap {
            self.nodes.push(Node {
                key,
                found,
                prev: NIL,
                next: NIL,
            });
            (self.nodes.len() - 1) as u32
        } else {
            // Full: reuse the least recently used node.
            let i = self.tail;
            self.unlink(i);
            let old = std::mem::replace(&mut self.nodes[i as usize].key, key);
            self.map.remove(&old);
            self.nodes[i as usize].found = found;
            i
        };
        self.map.insert(key, i);
        self.push_front(i);
    }
}

thread_local! {
    static CACHE: RefCell<Lru> = RefCell::new(Lru::new());
}

/// The result of `lookup(sample)` for the set at `version`, from this thread's cache when
/// it was computed before.
pub(crate) fn cached(
    version: u64,
    sample: &[u8],
    lookup: impl FnOnce() -> Option<u32>,
) -> Option<u32> {
    let cap = CAPACITY.load(Relaxed).min(NIL as usize - 1);
    if cap == 0 {
        return lookup();
    }
    let key = (version, xxhash_rust::xxh3::xxh3_64(sample));
    let hit = CACHE.with(|c| c.try_borrow_mut().ok().and_then(|mut c| c.get(key)));
    if let Some(found) = hit {
        return found;
    }
    let found = lookup();
    CACHE.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            c.put(key, found, cap);
        }
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_recently_used_goes_first() {
        let mut l = Lru::new();
        l.put((1, 1), Some(1), 2);
        l.put((1, 2), None, 2);
        assert_eq!(l.get((1, 1)), Some(Some(1)));
        // (1, 2) is now the oldest: it makes room for (1, 3).
        l.put((1, 3), Some(3), 2);
        assert_eq!(l.get((1, 2)), None);
        assert_eq!(l.get((1, 1)), Some(Some(1)));
        assert_eq!(l.get((1, 3)), Some(Some(3)));
        assert_eq!(l.map.len(), 2);
        // A smaller capacity empties the cache.
        l.put((2, 1), Some(0), 1);
        assert_eq!(l.map.len(), 1);
        assert_eq!(l.get((2, 1)), Some(Some(0)));
    }

    #[test]
    fn each_version_has_its_own_results() {
        let mut calls = 0;
        let v = fresh_version();
        for _ in 0..3 {
            assert_eq!(
                cached(v, b"abc", || {
                    calls += 1;
                    Some(4)
                }),
                Some(4)
            );
        }
        assert_eq!(calls, 1);
        assert_eq!(cached(fresh_version(), b"abc", || None), None);
    }
}
