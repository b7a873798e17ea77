//! The PROXY protocol, versions 1 (text) and 2 (binary): reading the header a previous
//! proxy put in front of a connection (`bind … accept-proxy`) and writing one towards a
//! server (`send-proxy`, `send-proxy-v2`). Hand-written: the format is small, sits on the
//! accept path, and must be byte-exact with HAProxy's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The v2 signature: `\r\n\r\n\0\r\nQUIT\n`.
pub const V2_SIG: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];

/// What a received header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    /// The real source and destination of the proxied connection.
    Proxied { src: SocketAddr, dst: SocketAddr },
    /// `PROXY UNKNOWN` / v2 `LOCAL`: keep the connection's own addresses.
    Local,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseResult {
    /// More bytes are needed.
    Incomplete,
    /// A complete header of this many bytes.
    Done(Header, usize),
    /// Not a valid PROXY header.
    Invalid(&'static str),
}

/// Parses a PROXY header (v1 or v2) at the start of `buf`.
pub fn parse(buf: &[u8]) -> ParseResult {
    if buf.is_empty() {
        return ParseResult::Incomplete;
    }
    if buf[0] == V2_SIG[0] {
        let n = buf.len().min(12);
        if buf[..n] != V2_SIG[..n] {
            return ParseResult::Invalid("bad PROXY v2 signature");
        }
        if buf.len() < 16 {
            return ParseResult::Incomplete;
        }
        return parse_v2(buf);
    }
    let prefix = b"PROXY ";
    let n = buf.len().min(prefix.len());
    if buf[..n] != prefix[..n] {
        return ParseResult::Invalid("no PROXY header");
    }
    parse_v1(buf)
}

fn parse_v1(buf: &[u8]) -> ParseResult {
    // The whole line is at most 107 bytes including CRLF.
    let limit = buf.len().min(107);
    let Some(end) = buf[..limit].windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= 107 {
            ParseResult::Invalid("PROXY v1 line too long")
        } else {
            ParseResult::Incomplete
        };
    };
    let Ok(line) = std::str::from_utf8(&buf[..end]) else {
        return ParseResult::Invalid("PROXY v1 line is not text");
    };
    let parts: Vec<&str> = line.split(' ').collect();
    if parts.len() >= 2 && parts[1] == "UNKNOWN" {
        return ParseResult::Done(Header::Local, end + 2);
    }
    if parts.len() != 6 {
        return ParseResult::Invalid("PROXY v1 line has the wrong number of fields");
    }
    let (src_ip, dst_ip): (IpAddr, IpAddr) = match parts[1] {
        "TCP4" => match (parts[2].parse::<Ipv4Addr>(), parts[3].parse::<Ipv4Addr>()) {
            (Ok(a), Ok(b)) => (a.into(), b.into()),
            _ => return ParseResult::Invalid("bad IPv4 address in PROXY v1 line"),
        },
        "TCP6" => match (parts[2].parse::<Ipv6Addr>(), parts[3].parse::<Ipv6Addr>()) {
            (Ok(a), Ok(b)) => (a.into(), b.into()),
            _ => return ParseResult::Invalid("bad IPv6 address in PROXY v1 line"),
        },
        _ => return ParseResult::Invalid("unknown protocol in PROXY v1 line"),
    };
    let port = |s: &str| -> Option<u16> {
        if s.is_empty() || s.len() > 5 || (s.len() > 1 && s.starts_with('0')) {
            return None;
        }
        s.parse::<u16>().ok()
    };
    match (port(parts[4]), port(parts[5])) {
        (Some(sp), Some(dp)) => ParseResult::Done(
            Header::Proxied {
                src: SocketAddr::new(src_ip, sp),
                dst: SocketAddr::new(dst_ip, dp),
            },
            end + 2,
        ),
        _ => ParseResult::Invalid("bad port in PROXY v1 line"),
    }
}

fn parse_v2(buf: &[u8]) -> ParseResult {
    let ver_cmd = buf[12];
    if ver_cmd >> 4 != 2 {
        return ParseResult::Invalid("unsupported PROXY protocol version");
    }
    let fam = buf[13];
    let len = u16::from_be_bytes([buf[14], buf[15]]) as usize;
    let total = 16 + len;
    if buf.len() < total {
        return ParseResult::Incomplete;
    }
    let body = &buf[16..total];
    match ver_cmd & 0x0F {
        0x0 => return ParseResult::Done(Header::Local, total),
        0x1 => {}
        _ => return ParseResult::Invalid("unknown PROXY v2 command"),
    }
    match fam {
        0x11 | 0x12 => {
            if body.len() < 12 {
                return ParseResult::Invalid("PROXY v2 address block too short");
            }
            let src = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            let dst = Ipv4Addr::new(body[4], body[5], body[6], body[7]);
            let sp = u16::from_be_bytes([body[8], body[9]]);
            let dp = u16::from_be_bytes([body[10], body[11]]);
            ParseResult::Done(
                Header::Proxied {
                    src: SocketAddr::new(src.into(), sp),
                    dst: SocketAddr::new(dst.into(), dp),
                },
                total,
            )
        }
        0x21 | 0x22 => {
            if body.len() < 36 {
                return ParseResult::Invalid("PROXY v2 address block too short");
            }
            let mut a = [0u8; 16];
            let mut b = [0u8; 16];
            a.copy_from_slice(&body[0..16]);
            b.copy_from_slice(&body[16..32]);
            let sp = u16::from_be_bytes([body[32], body[33]]);
            let dp = u16::from_be_bytes([body[34], body[35]]);
            ParseResult::Done(
                Header::Proxied {
                    src: SocketAddr::new(Ipv6Addr::from(a).into(), sp),
                    dst: SocketAddr::new(Ipv6Addr::from(b).into(), dp),
                },
                total,
            )
        }
        // UNSPEC or UNIX families: keep the connection's addresses.
        _ => ParseResult::Done(Header::Local, total),
    }
}

/// Writes a v1 header for a connection from `src` to `dst` into `out`.
pub fn write_v1(src: SocketAddr, dst: SocketAddr, out: &mut Vec<u8>) {
    use std::io::Write;
    let (src_ip, dst_ip) = (canonical(src.ip()), canonical(dst.ip()));
    let _ = match (src_ip, dst_ip) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            write!(out, "PROXY TCP4 {s} {d} {} {}\r\n", src.port(), dst.port())
        }
        (s, d) => {
            let s6 = to_v6(s);
            let d6 = to_v6(d);
            write!(
                out,
                "PROXY TCP6 {s6} {d6} {} {}\r\n",
                src.port(),
                dst.port()
            )
        }
    };
}

/// Writes a v2 header (PROXY command, TCP over IPv4 or IPv6) into `out`.
pub fn write_v2(src: SocketAddr, dst: SocketAddr, out: &mut Vec<u8>) {
    out.extend_from_slice(&V2_SIG);
    out.push(0x21);
    match (canonical(src.ip()), canonical(dst.ip())) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.push(0x11);
            out.extend_from_slice(&12u16.to_be_bytes());
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        (s, d) => {
            out.push(0x21);
            out.extend_from_slice(&36u16.to_be_bytes());
            out.extend_from_slice(&to_v6(s).octets());
            out.extend_from_slice(&to_v6(d).octets());
        }
    }
    out.extend_from_slice(&src.port().to_be_bytes());
    out.extend_from_slice(&dst.port().to_be_bytes());
}

/// The PROXY header a server line asks for (`send-proxy`, `send-proxy-v2`, and with
/// `send-proxy-v2-ssl[-cn]` the TLS details of the client connection in a `PP2_TYPE_SSL`
/// TLV, laid out as HAProxy lays it out).
pub fn write_for(
    srv: &crate::server::Server,
    info: &crate::proxy::stream::ConnInfo,
    out: &mut Vec<u8>,
) {
    use halo_config::model::ProxyProtocol;
    match srv.send_proxy {
        Some(ProxyProtocol::V1) => write_v1(info.src, info.dst, out),
        Some(ProxyProtocol::V2) => {
            let start = out.len();
            write_v2(info.src, info.dst, out);
            if srv.cfg.send_proxy_ssl > 0 {
                write_ssl_tlv(info.tls.as_deref(), srv.cfg.send_proxy_ssl > 1, out);
                // The length field counts the addresses and the TLVs.
                let len = (out.len() - start - 16) as u16;
                out[start + 14..start + 16].copy_from_slice(&len.to_be_bytes());
            }
        }
        None => {}
    }
}

/// `PP2_TYPE_SSL`: client flags (SSL, certificate on this connection, certificate in the
/// session), the verify result, the protocol version and, with `cn`, the client
/// certificate's common name.
fn write_ssl_tlv(tls: Option<&crate::tls::TlsInfo>, cn: bool, out: &mut Vec<u8>) {
    const PP2_TYPE_SSL: u8 = 0x20;
    const PP2_SUBTYPE_SSL_VERSION: u8 = 0x21;
    const PP2_SUBTYPE_SSL_CN: u8 = 0x22;
    let mut v = Vec::with_capacity(32);
    let mut client = 0u8;
    if let Some(t) = tls {
        client |= 0x01;
        if t.client_cert.is_some() {
            client |= 0x04;
            if !t.resumed {
                client |= 0x02;
            }
        }
    }
    v.push(client);
    v.extend_from_slice(&0u32.to_be_bytes());
    if let Some(t) = tls {
        sub_tlv(PP2_SUBTYPE_SSL_VERSION, t.protocol.as_bytes(), &mut v);
        if cn && let Some(name) = t.client_cert.as_deref().and_then(common_name) {
            sub_tlv(PP2_SUBTYPE_SSL_CN, name.as_bytes(), &mut v);
        }
    }
    sub_tlv(PP2_TYPE_SSL, &v, out);
}

fn sub_tlv(kind: u8, value: &[u8], out: &mut Vec<u8>) {
    out.push(kind);
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
}

/// The first CN of a certificate's subject.
fn common_name(der: &[u8]) -> Option<String> {
    let (_, x) = x509_parser::parse_x509_certificate(der).ok()?;
    crate::tls::dn_attrs(x.subject())
        .into_iter()
        .find_map(|(k, v)| (k == "CN").then_some(v))
}

/// IPv4-mapped IPv6 addresses are written as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v1_roundtrip() {
        let mut out = Vec::new();
        write_v1(sa("192.168.0.1:56324"), sa("192.168.0.11:443"), &mut out);
        assert_eq!(out, b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
        out.extend_from_slice(b"GET /");
        match parse(&out) {
            ParseResult::Done(Header::Proxied { src, dst }, n) => {
                assert_eq!(src, sa("192.168.0.1:56324"));
                assert_eq!(dst, sa("192.168.0.11:443"));
                assert_eq!(&out[n..], b"GET /");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn v1_ipv6_and_unknown() {
        let mut out = Vec::new();
        write_v1(sa("[::1]:1000"), sa("[::1]:80"), &mut out);
        assert_eq!(out, b"PROXY TCP6 ::1 ::1 1000 80\r\n");
        assert!(matches!(
            parse(&out),
            ParseResult::Done(Header::Proxied { .. }, _)
        ));
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n"),
            ParseResult::Done(Header::Local, 15)
        );
    }

    #[test]
    fn v1_bad_and_partial() {
        assert_eq!(parse(b"PROX"), ParseResult::Incomplete);
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4"), ParseResult::Incomplete);
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\n"),
            ParseResult::Invalid(_)
        ));
        assert!(matches!(
            parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 70000\r\n"),
            ParseResult::Invalid(_)
        ));
        assert!(matches!(
            parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 01 80\r\n"),
            ParseResult::Invalid(_)
        ));
        assert!(matches!(
            parse(b"PROXY TCP9 1.2.3.4 5.6.7.8 1 80\r\n"),
            ParseResult::Invalid(_)
        ));
        let long = [b'P'; 200];
        assert!(matches!(parse(&long), ParseResult::Invalid(_)));
    }

    #[test]
    fn v2_roundtrip() {
        let mut out = Vec::new();
        write_v2(sa("10.0.0.1:1234"), sa("10.0.0.2:80"), &mut out);
        assert_eq!(out.len(), 28);
        assert_eq!(out[12], 0x21);
        assert_eq!(out[13], 0x11);
        match parse(&out) {
            ParseResult::Done(Header::Proxied { src, dst }, 28) => {
                assert_eq!(src, sa("10.0.0.1:1234"));
                assert_eq!(dst, sa("10.0.0.2:80"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse(&out[..20]), ParseResult::Incomplete);
        let mut v6 = Vec::new();
        write_v2(sa("[2001:db8::1]:1"), sa("[2001:db8::2]:2"), &mut v6);
        assert_eq!(v6.len(), 52);
        assert!(matches!(
            parse(&v6),
            ParseResult::Done(Header::Proxied { .. }, 52)
        ));
    }

    #[test]
    fn v2_local_and_bad() {
        let mut h = V2_SIG.to_vec();
        h.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(parse(&h), ParseResult::Done(Header::Local, 16));
        let mut bad = V2_SIG.to_vec();
        bad.extend_from_slice(&[0x31, 0x11, 0, 0]);
        assert!(matches!(parse(&bad), ParseResult::Invalid(_)));
        let mut sig = V2_SIG.to_vec();
        sig[5] = 0xFF;
        assert!(matches!(parse(&sig), ParseResult::Invalid(_)));
    }
}
