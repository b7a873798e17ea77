//! Hash functions of `hash-type` (sdbm, djb2, wt6, crc32, none, with the optional
//! avalanche), and the consistent-hash ring: each server owns points on a 32-bit circle in
//! proportion to its weight; a key goes to the first usable server after its hash.

use halo_config::model::{HashFunction, HashType};

use super::Candidate;

pub fn sdbm(key: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &c in key {
        h = (c as u32)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h);
    }
    h
}

pub fn djb2(key: &[u8]) -> u32 {
    let mut h: u32 = 5381;
    for &c in key {
        h = (h << 5).wrapping_add(h).wrapping_add(c as u32);
    }
    h
}

/// HAProxy's "wt6": two words mixed per byte with rotations whose amounts depend on the
/// previous byte (values checked against HAProxy 2.6's `wt6` converter).
pub fn wt6(key: &[u8]) -> u32 {
    let mut h0: u32 = 0xa53c965a;
    let mut h1: u32 = 0x5ca6953a;
    let (mut step0, mut step1) = (6u32, 18u32);
    for &c in key {
        let c = c as u32;
        h0 = !(h0 ^ c);
        h1 = !h1.wrapping_add(c);
        let t = h1.rotate_left(step0);
        h1 = h0.rotate_left(step1);
        h0 = t;
        // The rotations of the next byte depend on this one.
        let t = ((h0 >> 16) ^ h1) & 0xffff;
        step0 = t & 0x1f;
        step1 = t >> 11;
    }
    h0 ^ h1
}

pub fn crc32(key: &[u8]) -> u32 {
    let mut crc: u32 = 0xFFFF_FFFF;
    for &b in key {
        crc ^= b as u32;
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Thomas Wang's 32-bit integer mix, used to spread keys and ring points.
pub fn avalanche(mut a: u32) -> u32 {
    a = (a ^ 61) ^ (a >> 16);
    a = a.wrapping_add(a << 3);
    a ^= a >> 4;
    a = a.wrapping_mul(0x27d4_eb2d);
    a ^= a >> 15;
    a
}

/// Hashes a key with the backend's `hash-type`.
pub fn hash_key(ht: &HashType, key: &[u8]) -> u32 {
    let h = match ht.function {
        HashFunction::Sdbm => sdbm(key),
        HashFunction::Djb2 => djb2(key),
        HashFunction::Wt6 => wt6(key),
        HashFunction::Crc32 => crc32(key),
        HashFunction::None => {
            let mut v: u32 = 0;
            for &b in key.iter().take(4) {
                v = (v << 8) | b as u32;
            }
            v
        }
    };
    if ht.avalanche || ht.method == halo_config::model::HashMethod::Consistent {
        avalanche(h)
    } else {
        h
    }
}

/// The key of `balance source`: the client address (IPv4-mapped IPv6 as IPv4), hashed
/// without allocating.
pub fn source_key(ht: &HashType, ip: std::net::IpAddr) -> u32 {
    match ip {
        std::net::IpAddr::V4(v4) => hash_key(ht, &v4.octets()),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => hash_key(ht, &v4.octets()),
            None => hash_key(ht, &v6.octets()),
        },
    }
}

/// Points per unit of weight on the ring.
const POINTS_PER_WEIGHT: u32 = 16;

#[derive(Debug, Clone)]
pub struct Ring {
    /// (point, server index), sorted by point.
    points: Vec<(u32, usize)>,
    /// (server index, weight) the ring was built for.
    built_for: Vec<(usize, u32)>,
}

impl Ring {
    /// Builds the ring from the configured weights of all candidates of the tier (usable or
    /// not: a server that goes down keeps its points and is skipped at lookup, so that only
    /// its keys move).
    pub fn build(cands: &[Candidate]) -> Ring {
        let mut points = Vec::new();
        let mut built_for = Vec::new();
        for c in cands {
            built_for.push((c.index, c.weight));
            if c.weight == 0 {
                continue;
            }
            let n = c.weight * POINTS_PER_WEIGHT;
            for k in 0..n {
                let seed = ((c.index as u32).wrapping_add(1)).wrapping_mul(0x1_0001) ^ (k << 11);
                points.push((avalanche(seed ^ avalanche(k)), c.index));
            }
        }
        points.sort_unstable();
        Ring { points, built_for }
    }

    /// Whether the ring was built for these candidates with these weights.
    pub fn matches(&self, cands: &[Candidate]) -> bool {
        self.built_for.len() == cands.len()
            && self
                .built_for
                .iter()
                .zip(cands)
                .all(|(&(i, w), c)| i == c.index && w == c.weight)
    }

    /// The first usable server at or after `key` on the circle.
    pub fn lookup(&self, key: u32, usable: impl Fn(usize) -> bool) -> Option<usize> {
        if self.points.is_empty() {
            return None;
        }
        let start = self.points.partition_point(|&(p, _)| p < key);
        let n = self.points.len();
        for k in 0..n {
            let (_, idx) = self.points[(start + k) % n];
            if usable(idx) {
                return Some(idx);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(djb2(b""), 5381);
        assert_eq!(sdbm(b""), 0);
        assert_ne!(wt6(b"a"), wt6(b"b"));
        // HAProxy 2.6's `str(…),wt6` converter.
        assert_eq!(wt6(b""), 4187620192);
        assert_eq!(wt6(b"a"), 1900802597);
        assert_eq!(wt6(b"123456789"), 2225171485);
    }
}
