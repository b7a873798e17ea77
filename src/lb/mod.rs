//! Balance algorithms: smooth weighted round robin (`roundrobin`, `static-rr`),
//! `leastconn`, `first`, `random` (power of N choices) and hashed selection (`source`,
//! and later `uri`, `url_param`, `hdr`...) either map-based or on a consistent-hash ring.
//! Pure selection logic over a list of candidates; server state lives in `server/`.

pub mod hash;

use halo_config::model::{Balance, HashMethod};

/// What the algorithm needs to know about one server at pick time.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    /// Index in the backend's server list.
    pub index: usize,
    /// Effective weight (0 = not eligible).
    pub weight: u32,
    /// Connections being served.
    pub cur: u32,
    /// Whether the server can take one more connection now.
    pub has_room: bool,
    /// Whether it may be chosen at all (UP, not in maintenance or drain).
    pub usable: bool,
}

/// Per-backend mutable balancing state (protected by the backend's lock).
#[derive(Debug, Default)]
pub struct LbState {
    /// Smooth weighted round-robin current weights, by server index.
    current: Vec<i64>,
    /// Rotating start for ties (leastconn, first).
    cursor: usize,
    /// The consistent-hash rings (active servers, backup servers) and the weights they
    /// were built for.
    ring: Option<hash::Ring>,
    ring_backup: Option<hash::Ring>,
}

impl LbState {
    pub fn new(nservers: usize) -> LbState {
        LbState {
            current: vec![0; nservers],
            cursor: 0,
            ring: None,
            ring_backup: None,
        }
    }

    /// Forgets the rings so they are rebuilt with the current weights.
    pub fn invalidate(&mut self) {
        self.ring = None;
        self.ring_backup = None;
    }
}

/// The outcome of a selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// This server (index) takes the connection now.
    Server(usize),
    /// The hash designates this server, which is full: wait in its queue.
    QueueOn(usize),
    /// Servers are usable but all full: wait in the backend queue.
    QueueBackend,
    /// No usable server at all.
    None,
}

/// Picks among `cands` (all of one tier: active or backup) for a non-hashed algorithm.
pub fn pick(balance: &Balance, st: &mut LbState, cands: &[Candidate]) -> Pick {
    let usable = cands.iter().any(|c| c.usable && c.weight > 0);
    if !usable {
        return Pick::None;
    }
    let choice = match balance {
        Balance::LeastConn => pick_leastconn(st, cands),
        Balance::First => cands
            .iter()
            .find(|c| c.usable && c.weight > 0 && c.has_room)
            .map(|c| c.index),
        Balance::Random(draws) => pick_random(cands, (*draws).max(1)),
        _ => pick_swrr(st, cands),
    };
    match choice {
        Some(i) => Pick::Server(i),
        None => Pick::QueueBackend,
    }
}

/// Smooth weighted round robin among servers with room.
fn pick_swrr(st: &mut LbState, cands: &[Candidate]) -> Option<usize> {
    let mut total: i64 = 0;
    let mut best: Option<usize> = None;
    let mut best_w = i64::MIN;
    for c in cands {
        if !(c.usable && c.weight > 0 && c.has_room) {
            continue;
        }
        if c.index >= st.current.len() {
            st.current.resize(c.index + 1, 0);
        }
        let w = c.weight as i64;
        st.current[c.index] += w;
        total += w;
        if st.current[c.index] > best_w {
            best_w = st.current[c.index];
            best = Some(c.index);
        }
    }
    if let Some(b) = best {
        st.current[b] -= total;
    }
    best
}

/// Fewest connections per unit of weight; ties broken in rotation.
fn pick_leastconn(st: &mut LbState, cands: &[Candidate]) -> Option<usize> {
    let n = cands.len();
    if n == 0 {
        return None;
    }
    let start = st.cursor % n;
    let mut best: Option<(u64, u64, usize)> = None;
    for k in 0..n {
        let c = &cands[(start + k) % n];
        if !(c.usable && c.weight > 0 && c.has_room) {
            continue;
        }
        // Compare (cur+1)/weight without division: a/b < c/d <=> a*d < c*b.
        let num = c.cur as u64 + 1;
        let den = c.weight as u64;
        let better = match best {
            None => true,
            Some((bn, bd, _)) => num * bd < bn * den,
        };
        if better {
            best = Some((num, den, c.index));
        }
    }
    st.cursor = st.cursor.wrapping_add(1);
    best.map(|b| b.2)
}

/// `random(draws)`: draw servers by weight, keep the least loaded of the draws.
fn pick_random(cands: &[Candidate], draws: u32) -> Option<usize> {
    let elig: Vec<&Candidate> = cands
        .iter()
        .filter(|c| c.usable && c.weight > 0 && c.has_room)
        .collect();
    let total: u64 = elig.iter().map(|c| c.weight as u64).sum();
    if total == 0 {
        return None;
    }
    let mut best: Option<&Candidate> = None;
    for _ in 0..draws {
        let mut r = fastrand::u64(0..total);
        for c in &elig {
            if r < c.weight as u64 {
                if best.map(|b| c.cur < b.cur).unwrap_or(true) {
                    best = Some(c);
                }
                break;
            }
            r -= c.weight as u64;
        }
    }
    best.map(|c| c.index)
}

/// Hashed selection for a key hash: map-based (modulo over the weighted list of usable
/// servers) or consistent (ring; only the keys of a removed server move).
pub fn pick_hashed(
    method: HashMethod,
    st: &mut LbState,
    cands: &[Candidate],
    backup_tier: bool,
    key: u32,
) -> Pick {
    if !cands.iter().any(|c| c.usable && c.weight > 0) {
        return Pick::None;
    }
    let chosen = match method {
        HashMethod::MapBased => {
            let total: u64 = cands
                .iter()
                .filter(|c| c.usable)
                .map(|c| c.weight as u64)
                .sum();
            if total == 0 {
                return Pick::None;
            }
            let mut r = key as u64 % total;
            let mut out = None;
            for c in cands.iter().filter(|c| c.usable) {
                if r < c.weight as u64 {
                    out = Some(c);
                    break;
                }
                r -= c.weight as u64;
            }
            out
        }
        HashMethod::Consistent => {
            let ring = if backup_tier {
                &mut st.ring_backup
            } else {
                &mut st.ring
            };
            let r = ring.get_or_insert_with(|| hash::Ring::build(cands));
            if !r.matches(cands) {
                *r = hash::Ring::build(cands);
            }
            r.lookup(key, |idx| {
                cands
                    .iter()
                    .find(|c| c.index == idx)
                    .map(|c| c.usable && c.weight > 0)
                    .unwrap_or(false)
            })
            .and_then(|idx| cands.iter().find(|c| c.index == idx))
        }
    };
    match chosen {
        Some(c) if c.has_room => Pick::Server(c.index),
        Some(c) => Pick::QueueOn(c.index),
        None => Pick::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(index: usize, weight: u32) -> Candidate {
        Candidate {
            index,
            weight,
            cur: 0,
            has_room: true,
            usable: true,
        }
    }

    #[test]
    fn swrr_respects_weights_and_interleaves() {
        let cands = vec![cand(0, 5), cand(1, 1), cand(2, 1)];
        let mut st = LbState::new(3);
        let seq: Vec<usize> = (0..7)
            .map(|_| match pick(&Balance::RoundRobin, &mut st, &cands) {
                Pick::Server(i) => i,
                p => panic!("{p:?}"),
            })
            .collect();
        assert_eq!(seq.iter().filter(|&&i| i == 0).count(), 5);
        assert_eq!(seq, vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn full_servers_are_skipped_then_queue() {
        let mut cands = vec![cand(0, 1), cand(1, 1)];
        cands[0].has_room = false;
        let mut st = LbState::new(2);
        for _ in 0..3 {
            assert_eq!(pick(&Balance::RoundRobin, &mut st, &cands), Pick::Server(1));
        }
        cands[1].has_room = false;
        assert_eq!(
            pick(&Balance::RoundRobin, &mut st, &cands),
            Pick::QueueBackend
        );
        cands[0].usable = false;
        cands[1].usable = false;
        assert_eq!(pick(&Balance::RoundRobin, &mut st, &cands), Pick::None);
    }

    #[test]
    fn leastconn_prefers_idle() {
        let mut cands = vec![cand(0, 1), cand(1, 1)];
        cands[0].cur = 3;
        let mut st = LbState::new(2);
        assert_eq!(pick(&Balance::LeastConn, &mut st, &cands), Pick::Server(1));
    }

    #[test]
    fn first_fills_in_order() {
        let mut cands = vec![cand(0, 1), cand(1, 1)];
        let mut st = LbState::new(2);
        assert_eq!(pick(&Balance::First, &mut st, &cands), Pick::Server(0));
        cands[0].has_room = false;
        assert_eq!(pick(&Balance::First, &mut st, &cands), Pick::Server(1));
    }

    #[test]
    fn consistent_moves_only_removed_keys() {
        let mut cands = vec![cand(0, 1), cand(1, 1), cand(2, 1)];
        let mut st = LbState::new(3);
        let keys: Vec<u32> = (0..2000u32).map(hash::avalanche).collect();
        let before: Vec<Pick> = keys
            .iter()
            .map(|&k| pick_hashed(HashMethod::Consistent, &mut st, &cands, false, k))
            .collect();
        cands[1].usable = false;
        let mut moved_other = 0;
        let mut on_removed = 0;
        for (i, &k) in keys.iter().enumerate() {
            let after = pick_hashed(HashMethod::Consistent, &mut st, &cands, false, k);
            if before[i] == Pick::Server(1) {
                on_removed += 1;
                assert_ne!(after, Pick::Server(1));
            } else if after != before[i] {
                moved_other += 1;
            }
        }
        assert_eq!(moved_other, 0);
        assert!(on_removed > 400 && on_removed < 950, "{on_removed}");
    }

    #[test]
    fn map_based_is_stable() {
        let cands = vec![cand(0, 1), cand(1, 3)];
        let mut st = LbState::new(2);
        let a = pick_hashed(HashMethod::MapBased, &mut st, &cands, false, 12345);
        let b = pick_hashed(HashMethod::MapBased, &mut st, &cands, false, 12345);
        assert_eq!(a, b);
    }
}
