//! IP patterns of the `ip` match method (configuration manual 7.1.6): IPv4 with a CIDR or
//! dotted netmask, IPv6 with a prefix length, the IPv4/IPv6 cross-matching rules, and the
//! longest-prefix index ("tree") with its list for non-contiguous IPv4 masks.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};

/// One IP pattern: a network, stored already masked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpPattern {
    /// IPv4 network with any netmask (dotted masks may be non-contiguous).
    V4 {
        /// Network address, masked.
        addr: u32,
        /// Netmask.
        mask: u32,
    },
    /// IPv6 network.
    V6 {
        /// Network address, masked.
        addr: u128,
        /// Prefix length, 0 to 128.
        prefix: u8,
    },
}

fn mask4(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

fn mask6(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

/// The IPv4 address carried by an IPv6 one, when HAProxy lets an IPv4 pattern match it:
/// `::ffff:a.b.c.d` (mapped), `::a.b.c.d` (compatible) and `2002:AABB:CCDD::` (6to4, only
/// the first 16 bits are checked).
pub fn v6_to_v4(a: &Ipv6Addr) -> Option<u32> {
    let o = a.octets();
    let last = u32::from_be_bytes([o[12], o[13], o[14], o[15]]);
    if o[..10].iter().all(|&b| b == 0)
        && ((o[10] == 0xff && o[11] == 0xff) || (o[10] == 0 && o[11] == 0))
    {
        return Some(last);
    }
    if o[0] == 0x20 && o[1] == 0x02 {
        return Some(u32::from_be_bytes([o[2], o[3], o[4], o[5]]));
    }
    None
}

/// `::ffff:a.b.c.d` for an IPv4 address.
pub fn v4_to_v6(a: u32) -> u128 {
    0xffff_0000_0000u128 | u128::from(a)
}

/// Converts a string sample to an address the way HAProxy's cast does (observed with
/// HAProxy 2.6): a dotted IPv4 address at the start of the text, where the first byte that
/// is neither a digit nor a dot ends it (`10.0.0.1:80` is `10.0.0.1`, `0010.1.1.1` is
/// `10.1.1.1`; `10.1.1`, `10.1.1.1.5` and `10.256.1.1` are refused); otherwise the whole
/// text as an IPv6 address. Used for `map_ip` inputs and `_ip` map values.
pub fn cast_str_to_ip(s: &[u8]) -> Option<IpAddr> {
    leading_ipv4(s).map(IpAddr::V4).or_else(|| {
        if s.len() >= 40 {
            return None;
        }
        std::str::from_utf8(s)
            .ok()?
            .parse::<Ipv6Addr>()
            .ok()
            .map(IpAddr::V6)
    })
}

fn leading_ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut done = 0;
    let mut cur: u32 = 0;
    let mut digits = false;
    for &c in s {
        match c {
            b'0'..=b'9' => {
                cur = cur * 10 + u32::from(c - b'0');
                if cur > 255 {
                    return None;
                }
                digits = true;
            }
            b'.' => {
                if !digits || done == 3 {
                    return None;
                }
                octets[done] = cur as u8;
                done += 1;
                cur = 0;
                digits = false;
            }
            _ => break,
        }
    }
    if !digits || done != 3 {
        return None;
    }
    octets[3] = cur as u8;
    Some(Ipv4Addr::from(octets))
}

impl IpPattern {
    /// Parses `ADDR[/MASK]`. IPv4 masks are a bit count (0-32) or a dotted netmask, IPv6
    /// masks a bit count (0-128). With `resolve`, an address that is not a literal is looked
    /// up with the system resolver (the configuration-time behaviour of ACLs without `-n`,
    /// which is also what accepts abbreviated forms such as `127.1`). The error reads
    /// `'x' is not a valid IPv4 or IPv6 address.` as in HAProxy.
    pub fn parse(s: &str, resolve: bool) -> Result<IpPattern, String> {
        let err = || format!("'{s}' is not a valid IPv4 or IPv6 address.");
        let (host, mask) = match s.split_once('/') {
            Some((h, m)) => (h, Some(m)),
            None => (s, None),
        };
        let addr: IpAddr = if let Ok(a) = host.parse::<Ipv4Addr>() {
            IpAddr::V4(a)
        } else if let Ok(a) = host.parse::<Ipv6Addr>() {
            IpAddr::V6(a)
        } else if resolve && !host.is_empty() && !host.contains(':') {
            resolve_host(host).ok_or_else(err)?
        } else {
            return Err(err());
        };
        match addr {
            IpAddr::V4(a) => {
                let m = match mask {
                    None => u32::MAX,
                    Some(m) if !m.is_empty() && m.bytes().all(|c| c.is_ascii_digit()) => {
                        match m.parse::<u8>() {
                            Ok(n) if n <= 32 => mask4(n),
                            _ => return Err(err()),
                        }
                    }
                    Some(m) => u32::from(m.parse::<Ipv4Addr>().map_err(|_| err())?),
                };
                Ok(IpPattern::V4 {
                    addr: u32::from(a) & m,
                    mask: m,
                })
            }
            IpAddr::V6(a) => {
                let prefix = match mask {
                    None => 128,
                    Some(m) if !m.is_empty() && m.bytes().all(|c| c.is_ascii_digit()) => {
                        match m.parse::<u8>() {
                            Ok(n) if n <= 128 => n,
                            _ => return Err(err()),
                        }
                    }
                    Some(_) => return Err(err()),
                };
                Ok(IpPattern::V6 {
                    addr: u128::from(a) & mask6(prefix),
                    prefix,
                })
            }
        }
    }

    /// The prefix length when the pattern can live in the longest-prefix index (always for
    /// IPv6, for IPv4 when the netmask is contiguous).
    pub fn prefix_len(&self) -> Option<u8> {
        match *self {
            IpPattern::V4 { mask, .. } => {
                let n = mask.leading_ones();
                (mask4(n as u8) == mask).then_some(n as u8)
            }
            IpPattern::V6 { prefix, .. } => Some(prefix),
        }
    }

    /// Whether `ip` is within this network, with the cross-family rules of 7.1.6.
    pub fn matches(&self, ip: IpAddr) -> bool {
        match (*self, ip) {
            (IpPattern::V4 { addr, mask }, IpAddr::V4(a)) => u32::from(a) & mask == addr,
            (IpPattern::V4 { addr, mask }, IpAddr::V6(a)) => {
                v6_to_v4(&a).is_some_and(|v| v & mask == addr)
            }
            (IpPattern::V6 { addr, prefix }, IpAddr::V6(a)) => {
                u128::from(a) & mask6(prefix) == addr
            }
            (IpPattern::V6 { addr, prefix }, IpAddr::V4(a)) => {
                v4_to_v6(u32::from(a)) & mask6(prefix) == addr
            }
        }
    }
}

/// Resolves a host name at configuration time, preferring an IPv4 address.
fn resolve_host(host: &str) -> Option<IpAddr> {
    let addrs: Vec<IpAddr> = (host, 0).to_socket_addrs().ok()?.map(|a| a.ip()).collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
}

/// Longest-prefix index: one hash table per prefix length and family, probed from the
/// longest length present down, so a lookup costs at most 33 (IPv4) or 129 (IPv6) probes
/// whatever the number of patterns. Each key keeps its slots in insertion order, so equal
/// networks resolve to the first one loaded, like HAProxy's trees.
#[derive(Clone, Debug, Default)]
pub(crate) struct IpIndex {
    v4: HashMap<(u8, u32), Vec<u32>>,
    v4_lens: Vec<u32>,
    v6: HashMap<(u8, u128), Vec<u32>>,
    v6_lens: Vec<u32>,
    /// Slots whose IPv4 netmask is not contiguous, in insertion order.
    pub(crate) list: Vec<u32>,
}

impl IpIndex {
    pub(crate) fn insert(&mut self, p: &IpPattern, slot: u32) {
        match (*p, p.prefix_len()) {
            (IpPattern::V4 { addr, .. }, Some(n)) => {
                if self.v4_lens.is_empty() {
                    self.v4_lens = vec![0; 33];
                }
                self.v4.entry((n, addr)).or_default().push(slot);
                self.v4_lens[usize::from(n)] += 1;
            }
            (IpPattern::V6 { addr, prefix }, _) => {
                if self.v6_lens.is_empty() {
                    self.v6_lens = vec![0; 129];
                }
                self.v6.entry((prefix, addr)).or_default().push(slot);
                self.v6_lens[usize::from(prefix)] += 1;
            }
            (IpPattern::V4 { .. }, None) => self.list.push(slot),
        }
    }

    pub(crate) fn remove(&mut self, p: &IpPattern, slot: u32) {
        match (*p, p.prefix_len()) {
            (IpPattern::V4 { addr, .. }, Some(n)) => {
                if let Some(v) = self.v4.get_mut(&(n, addr))
                    && let Some(i) = v.iter().position(|&s| s == slot)
                {
                    v.remove(i);
                    self.v4_lens[usize::from(n)] -= 1;
                    if v.is_empty() {
                        self.v4.remove(&(n, addr));
                    }
                }
            }
            (IpPattern::V6 { addr, prefix }, _) => {
                if let Some(v) = self.v6.get_mut(&(prefix, addr))
                    && let Some(i) = v.iter().position(|&s| s == slot)
                {
                    v.remove(i);
                    self.v6_lens[usize::from(prefix)] -= 1;
                    if v.is_empty() {
                        self.v6.remove(&(prefix, addr));
                    }
                }
            }
            (IpPattern::V4 { .. }, None) => self.list.retain(|&s| s != slot),
        }
    }

    pub(crate) fn longest_v4(&self, a: u32) -> Option<u32> {
        if self.v4_lens.is_empty() {
            return None;
        }
        (0..=32u8).rev().find_map(|n| {
            if self.v4_lens[usize::from(n)] == 0 {
                return None;
            }
            self.v4
                .get(&(n, a & mask4(n)))
                .and_then(|v| v.first().copied())
        })
    }

    pub(crate) fn longest_v6(&self, a: u128) -> Option<u32> {
        if self.v6_lens.is_empty() {
            return None;
        }
        (0..=128u8).rev().find_map(|n| {
            if self.v6_lens[usize::from(n)] == 0 {
                return None;
            }
            self.v6
                .get(&(n, a & mask6(n)))
                .and_then(|v| v.first().copied())
        })
    }

    /// The indexed ("tree") match, in HAProxy's order: the input's own family first, then
    /// the other family through the conversions of 7.1.6.
    pub(crate) fn lookup(&self, ip: IpAddr) -> Option<u32> {
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.longest_v4(a).or_else(|| self.longest_v6(v4_to_v6(a)))
            }
            IpAddr::V6(a) => self
                .longest_v6(u128::from(a))
                .or_else(|| v6_to_v4(&a).and_then(|v| self.longest_v4(v))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> IpPattern {
        match IpPattern::parse(s, false) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    fn ip(s: &str) -> IpAddr {
        match s.parse() {
            Ok(a) => a,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn parses_cidr_and_dotted_masks() {
        assert_eq!(
            p("10.0.0.0/8"),
            IpPattern::V4 {
                addr: 0x0a00_0000,
                mask: 0xff00_0000
            }
        );
        assert_eq!(p("10.1.2.3/8"), p("10.0.0.0/8"));
        assert_eq!(p("172.16.0.0/255.240.0.0").prefix_len(), Some(12));
        assert_eq!(p("10.0.0.0/255.0.255.0").prefix_len(), None);
        assert_eq!(p("1.2.3.4").prefix_len(), Some(32));
        assert_eq!(p("::1").prefix_len(), Some(128));
        assert_eq!(p("2001:db8::/32").prefix_len(), Some(32));
        assert_eq!(p("5.6.7.8/0").prefix_len(), Some(0));
        for bad in [
            "1.2.3.4/33",
            "1.2.3.4/",
            "::1/129",
            "::1/ffff::",
            "notip",
            "192.168.1",
            "127.1",
        ] {
            assert_eq!(
                IpPattern::parse(bad, false),
                Err(format!("'{bad}' is not a valid IPv4 or IPv6 address.")),
            );
        }
    }

    #[test]
    fn resolution_accepts_abbreviated_and_names() {
        // glibc's resolver reads "127.1" as 127.0.0.1; "localhost" is in /etc/hosts.
        assert!(IpPattern::parse("127.1", true).is_ok_and(|p| p.matches(ip("127.0.0.1"))));
        assert!(IpPattern::parse("localhost/8", true).is_ok_and(|p| p.matches(ip("127.9.9.9"))));
        assert!(IpPattern::parse("nosuchhost.invalid", true).is_err());
    }

    #[test]
    fn cross_family_rules() {
        let v4 = p("10.5.0.5");
        for yes in [
            "10.5.0.5",
            "::ffff:10.5.0.5",
            "::10.5.0.5",
            "2002:0a05:0005::1",
            "2002:a05:5:1::",
        ] {
            assert!(v4.matches(ip(yes)), "{yes}");
        }
        assert!(!v4.matches(ip("::ffff:0:10.5.0.5")));
        let v6 = p("::ffff:11.0.0.0/104");
        assert!(v6.matches(ip("11.0.0.1")) && v6.matches(ip("::ffff:11.0.0.1")));
        assert!(!p("2001:db8::/32").matches(ip("1.2.3.4")));
        assert!(p("10.0.0.0/255.0.255.0").matches(ip("10.6.0.9")));
    }

    #[test]
    fn index_is_longest_prefix_and_first_of_equals() {
        let mut ix = IpIndex::default();
        ix.insert(&p("1.0.0.0/8"), 0);
        ix.insert(&p("1.2.0.0/16"), 1);
        ix.insert(&p("1.2.3.0/24"), 2);
        ix.insert(&p("1.2.3.0/24"), 3);
        ix.insert(&p("::ffff:9.0.0.0/104"), 4);
        assert_eq!(ix.lookup(ip("1.2.3.4")), Some(2));
        assert_eq!(ix.lookup(ip("1.2.4.4")), Some(1));
        assert_eq!(ix.lookup(ip("1.3.3.3")), Some(0));
        assert_eq!(ix.lookup(ip("::ffff:1.2.3.4")), Some(2));
        assert_eq!(ix.lookup(ip("9.1.1.1")), Some(4));
        assert_eq!(ix.lookup(ip("2.0.0.0")), None);
        ix.remove(&p("1.2.3.0/24"), 2);
        assert_eq!(ix.lookup(ip("1.2.3.4")), Some(3));
        ix.remove(&p("1.2.3.0/24"), 3);
        assert_eq!(ix.lookup(ip("1.2.3.4")), Some(1));
    }
}
