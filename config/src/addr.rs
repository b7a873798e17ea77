//! Addresses as HAProxy writes them (manual 2.9): `ip:port`, `[v6]:port`, `::1:80`,
//! `*:80`, `:80`, port ranges, `ipv4@`/`ipv6@`/`unix@`/`fd@`/`sockpair@`/`abns@` prefixes,
//! unix paths, and the port offsets (`+N`/`-N`) of server lines. Parsing only; no socket here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The family an address was declared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Family {
    /// An IP address (or a host name still to resolve, for servers).
    Inet,
    /// Forced IPv4 (`ipv4@`, `tcp4@`).
    Ipv4,
    /// Forced IPv6 (`ipv6@`, `tcp6@`).
    Ipv6,
}

/// The port part of an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortSpec {
    /// No port written (servers: use the port the client connected to).
    None,
    /// A fixed port.
    Fixed(u16),
    /// A range `a-b` (bind: one listener per port; source: ports to choose from).
    Range(u16, u16),
    /// `+N`: the client's destination port plus N (servers only).
    Plus(u16),
    /// `-N`: the client's destination port minus N (servers only).
    Minus(u16),
}

/// A parsed address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// IP address or host name with a port specification.
    Inet {
        family: Family,
        /// The host as written: an IP literal, `*`, empty (any), or a name to resolve.
        host: String,
        /// The IP when `host` is a literal (or the wildcard for `*`/empty).
        ip: Option<IpAddr>,
        port: PortSpec,
    },
    /// A UNIX stream socket path.
    Unix(String),
    /// An abstract UNIX socket (Linux).
    Abns(String),
    /// An inherited file descriptor, already bound.
    Fd(i32),
    /// A UNIX socket pair over which connections are passed as fds.
    Sockpair(i32),
}

impl Address {
    /// The fixed port, if the address has one.
    pub fn port(&self) -> Option<u16> {
        match self {
            Address::Inet {
                port: PortSpec::Fixed(p),
                ..
            } => Some(*p),
            _ => None,
        }
    }
}

/// What the address is for: the rules differ for ports and wildcards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// `bind`: port mandatory (ranges allowed), wildcard allowed, no names.
    Bind,
    /// `server`, `dispatch`: port optional, offsets allowed, names allowed.
    Server,
    /// `source`: port optional, range allowed.
    Source,
    /// `log`, `stats socket`: port optional.
    Other,
}

fn parse_port(s: &str) -> Result<u16, String> {
    match s.parse::<u32>() {
        Ok(p) if p <= 65535 => Ok(p as u16),
        _ => Err(format!("invalid port '{s}'")),
    }
}

fn parse_port_spec(s: &str, usage: Usage) -> Result<PortSpec, String> {
    if s.is_empty() {
        return Ok(PortSpec::None);
    }
    if let Some(rest) = s.strip_prefix('+') {
        if usage != Usage::Server {
            return Err(format!(
                "port offset '{s}' is only valid on server addresses"
            ));
        }
        return Ok(PortSpec::Plus(parse_port(rest)?));
    }
    if let Some(rest) = s.strip_prefix('-') {
        if usage != Usage::Server {
            return Err(format!(
                "port offset '{s}' is only valid on server addresses"
            ));
        }
        return Ok(PortSpec::Minus(parse_port(rest)?));
    }
    if let Some((a, b)) = s.split_once('-') {
        let (a, b) = (parse_port(a)?, parse_port(b)?);
        if a == 0 || b < a {
            return Err(format!("invalid port range '{s}'"));
        }
        if usage == Usage::Server {
            return Err(format!(
                "port range '{s}' is not allowed on a server address"
            ));
        }
        return Ok(if a == b {
            PortSpec::Fixed(a)
        } else {
            PortSpec::Range(a, b)
        });
    }
    Ok(PortSpec::Fixed(parse_port(s)?))
}

/// Splits `host:port` as HAProxy does: the port follows the LAST colon, so `::1:80` is
/// `::1` port 80 and `:::80` is `::` port 80; `[v6]:port` brackets are accepted too.
fn split_host_port(s: &str) -> (String, String) {
    if let Some(rest) = s.strip_prefix('[')
        && let Some((h, p)) = rest.split_once(']')
    {
        let p = p.strip_prefix(':').unwrap_or(p);
        return (h.to_string(), p.to_string());
    }
    match s.rfind(':') {
        Some(i) => (s[..i].to_string(), s[i + 1..].to_string()),
        None => (s.to_string(), String::new()),
    }
}

/// Expands `$NAME`, `${NAME}` and `${NAME-default}` in an address written without
/// quotes: HAProxy's address parser does it (so `bind ${FE}` works unquoted), although
/// other words only see variables inside double quotes. Unknown variables expand to
/// nothing, as there.
fn expand_env(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('$') {
        return std::borrow::Cow::Borrowed(text);
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            let start = i;
            while i < b.len() && b[i] != b'$' {
                i += 1;
            }
            out.push_str(&text[start..i]);
            continue;
        }
        let brace = b.get(i + 1) == Some(&b'{');
        let name_start = if brace { i + 2 } else { i + 1 };
        let mut j = name_start;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
            j += 1;
        }
        if j == name_start {
            out.push('$');
            i += 1;
            continue;
        }
        let name = &text[name_start..j];
        let mut default = None;
        let mut end = j;
        if brace {
            let Some(close) = text[j..].find('}').map(|k| j + k) else {
                out.push_str(&text[i..]);
                break;
            };
            if b.get(j) == Some(&b'-') {
                default = Some(&text[j + 1..close]);
            }
            end = close + 1;
        }
        match std::env::var(name) {
            Ok(v) => out.push_str(&v),
            Err(_) => out.push_str(default.unwrap_or("")),
        }
        i = end;
    }
    std::borrow::Cow::Owned(out)
}

/// Parses one address (one element of a comma-separated `bind` list).
pub fn parse_address(text: &str, usage: Usage) -> Result<Address, String> {
    let expanded = expand_env(text);
    let s = expanded.trim();
    if s.is_empty() {
        return Err("missing address".into());
    }
    let (prefix, rest) = match s.find('@') {
        Some(i) if !s[..i].contains(':') && !s[..i].contains('/') => (&s[..i], &s[i + 1..]),
        _ => ("", s),
    };
    let (prefix, forced) = match prefix.split_once('+') {
        Some((kind, fam)) => (fam, Some(kind)),
        None => (prefix, None),
    };
    if let Some(kind) = forced
        && kind != "stream"
    {
        return Err(format!(
            "'{kind}+' addresses (datagram/QUIC) are not usable for a stream '{}'",
            usage_name(usage)
        ));
    }
    let family = match prefix {
        "" | "ip" | "tcp" => Family::Inet,
        "ipv4" | "tcp4" => Family::Ipv4,
        "ipv6" | "tcp6" => Family::Ipv6,
        "unix" | "uxst" => return Ok(Address::Unix(rest.to_string())),
        "abns" | "abnsz" => return Ok(Address::Abns(rest.to_string())),
        "fd" => {
            return rest
                .parse::<i32>()
                .map(Address::Fd)
                .map_err(|_| format!("invalid file descriptor in '{s}'"));
        }
        "sockpair" => {
            return rest
                .parse::<i32>()
                .map(Address::Sockpair)
                .map_err(|_| format!("invalid file descriptor in '{s}'"));
        }
        "udp" | "udp4" | "udp6" | "quic4" | "quic6" | "uxdg" => {
            return Err(format!(
                "'{prefix}@' is a datagram address, not usable for '{}'",
                usage_name(usage)
            ));
        }
        "mptcp" | "mptcp4" | "mptcp6" => {
            return Err(format!("'{prefix}@' (MPTCP) is not supported by halo"));
        }
        other => return Err(format!("unknown address family '{other}@' in '{s}'")),
    };
    if family == Family::Inet && rest.starts_with('/') {
        return Ok(Address::Unix(rest.to_string()));
    }
    let (host, port_text) = if rest.contains(':') || rest.starts_with('[') {
        split_host_port(rest)
    } else {
        (rest.to_string(), String::new())
    };
    let port = parse_port_spec(&port_text, usage)?;
    if usage == Usage::Bind {
        match port {
            PortSpec::None => return Err(format!("missing port number: '{s}'")),
            PortSpec::Fixed(0) => return Err(format!("invalid port '0' in '{s}'")),
            _ => {}
        }
    }
    let ip: Option<IpAddr> = if host.is_empty() || host == "*" {
        Some(match family {
            Family::Ipv6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        })
    } else {
        host.parse::<IpAddr>().ok()
    };
    if let Some(ip) = ip {
        match (&family, ip) {
            (Family::Ipv4, IpAddr::V6(_)) => {
                return Err(format!("'{host}' is not an IPv4 address"));
            }
            (Family::Ipv6, IpAddr::V4(_)) => {
                return Err(format!("'{host}' is not an IPv6 address"));
            }
            _ => {}
        }
    } else if usage == Usage::Bind || usage == Usage::Source {
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return Err(format!("invalid address '{host}' in '{s}'"));
        }
    } else if host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(format!("invalid address '{host}' in '{s}'"));
    }
    Ok(Address::Inet {
        family,
        host,
        ip,
        port,
    })
}

/// Parses a comma-separated list of addresses (as on a `bind` line).
pub fn parse_address_list(text: &str, usage: Usage) -> Result<Vec<Address>, String> {
    text.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| parse_address(p, usage))
        .collect()
}

fn usage_name(u: Usage) -> &'static str {
    match u {
        Usage::Bind => "bind",
        Usage::Server => "server",
        Usage::Source => "source",
        Usage::Other => "address",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inet(a: &Address) -> (String, Option<IpAddr>, PortSpec) {
        match a {
            Address::Inet { host, ip, port, .. } => (host.clone(), *ip, *port),
            other => panic!("not inet: {other:?}"),
        }
    }

    #[test]
    fn ipv4_and_wildcards() {
        let a = parse_address("127.0.0.1:8080", Usage::Bind).unwrap();
        assert_eq!(inet(&a).2, PortSpec::Fixed(8080));
        let a = parse_address("*:80", Usage::Bind).unwrap();
        assert_eq!(inet(&a).1, Some("0.0.0.0".parse().unwrap()));
        let a = parse_address(":80", Usage::Bind).unwrap();
        assert_eq!(inet(&a).1, Some("0.0.0.0".parse().unwrap()));
    }

    #[test]
    fn ipv6_forms() {
        let a = parse_address(":::80", Usage::Bind).unwrap();
        assert_eq!(inet(&a).1, Some("::".parse().unwrap()));
        assert_eq!(inet(&a).2, PortSpec::Fixed(80));
        let a = parse_address("::1:8080", Usage::Bind).unwrap();
        assert_eq!(inet(&a).1, Some("::1".parse().unwrap()));
        assert_eq!(inet(&a).2, PortSpec::Fixed(8080));
        let a = parse_address("[::1]:80", Usage::Bind).unwrap();
        assert_eq!(inet(&a).1, Some("::1".parse().unwrap()));
        let a = parse_address("ipv6@:80", Usage::Bind).unwrap();
        assert_eq!(inet(&a).1, Some("::".parse().unwrap()));
    }

    #[test]
    fn ranges_and_offsets() {
        let a = parse_address("127.0.0.2:20000-20999", Usage::Source).unwrap();
        assert_eq!(inet(&a).2, PortSpec::Range(20000, 20999));
        let a = parse_address("10.0.0.1:+1000", Usage::Server).unwrap();
        assert_eq!(inet(&a).2, PortSpec::Plus(1000));
        let a = parse_address("10.0.0.1", Usage::Server).unwrap();
        assert_eq!(inet(&a).2, PortSpec::None);
        assert!(parse_address("10.0.0.1:+1", Usage::Bind).is_err());
        assert!(parse_address("10.0.0.1", Usage::Bind).is_err());
        assert!(parse_address("10.0.0.1:0", Usage::Bind).is_err());
        assert!(parse_address("10.0.0.1:70000", Usage::Server).is_err());
    }

    #[test]
    fn prefixes_and_paths() {
        assert_eq!(
            parse_address("/var/run/a.sock", Usage::Bind).unwrap(),
            Address::Unix("/var/run/a.sock".into())
        );
        assert_eq!(
            parse_address("unix@rel.sock", Usage::Other).unwrap(),
            Address::Unix("rel.sock".into())
        );
        assert_eq!(parse_address("fd@3", Usage::Bind).unwrap(), Address::Fd(3));
        assert_eq!(
            parse_address("sockpair@7", Usage::Bind).unwrap(),
            Address::Sockpair(7)
        );
        assert!(parse_address("fd@x", Usage::Bind).is_err());
        assert!(parse_address("udp@1.2.3.4:5", Usage::Bind).is_err());
        assert!(parse_address("ipv4@::1:80", Usage::Bind).is_err());
    }

    #[test]
    fn unquoted_variables_in_addresses() {
        // SAFETY: test-only variable with a name no other test uses.
        unsafe { std::env::set_var("HALO_ADDR_TEST_PORT", "8181") };
        let a = parse_address("127.0.0.1:${HALO_ADDR_TEST_PORT}", Usage::Bind).unwrap();
        assert_eq!(a.port(), Some(8181));
        let a = parse_address("127.0.0.1:$HALO_ADDR_TEST_PORT", Usage::Bind).unwrap();
        assert_eq!(a.port(), Some(8181));
        let a = parse_address("127.0.0.1:${HALO_NOPE_X-9}", Usage::Bind).unwrap();
        assert_eq!(a.port(), Some(9));
    }

    #[test]
    fn names_and_lists() {
        let a = parse_address("backend.example.com:80", Usage::Server).unwrap();
        assert_eq!(inet(&a).0, "backend.example.com");
        assert_eq!(inet(&a).1, None);
        let l = parse_address_list("127.0.0.1:1,127.0.0.1:2,127.0.0.1:3", Usage::Bind).unwrap();
        assert_eq!(l.len(), 3);
    }
}
