//! Run-time DNS resolution of servers (`resolvers` sections): each server naming a section
//! is resolved again every `timeout resolve` through its name servers (UDP, A and AAAA,
//! falling back on the other type, `resolve_retries` rounds `timeout retry` apart); a new
//! address replaces the old one, and an invalid status held longer than its `hold` period
//! puts the server in maintenance until the name resolves again, with HAProxy's messages.
//! The DNS messages are written by hand: one question out, A/AAAA answers in, a few
//! dozen lines against a full DNS library.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use halo_config::resolvers::ResolversSection;
use tokio::net::UdpSocket;

use super::{Backend, ServerAddr};
use crate::runtime::log;

const A: u16 = 1;
const AAAA: u16 = 28;
const SRV: u16 = 33;

/// One SRV answer: where a service instance is, and the addresses the additional
/// section gave for its target.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SrvRecord {
    weight: u16,
    port: u16,
    target: String,
}

/// Why a resolution gave no address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    Nx,
    Refused,
    Timeout,
    Other,
}

impl Failure {
    fn text(self) -> &'static str {
        match self {
            Failure::Nx => "DNS NX status",
            Failure::Refused => "DNS refused status",
            Failure::Timeout => "DNS timeout status",
            Failure::Other => "unspecified DNS error",
        }
    }

    fn hold(self, r: &ResolversSection) -> u64 {
        match self {
            Failure::Nx => r.hold_nx,
            Failure::Refused => r.hold_refused,
            Failure::Timeout => r.hold_timeout,
            Failure::Other => r.hold_other,
        }
    }
}

/// A query for `name` of type `qtype`.
fn query(id: u16, name: &str, qtype: u16, payload: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&0x0100u16.to_be_bytes()); // recursion desired
    q.extend_from_slice(&1u16.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 0]);
    q.extend_from_slice(&u16::from(payload > 512).to_be_bytes());
    for label in name.trim_end_matches('.').split('.') {
        let l = &label.as_bytes()[..label.len().min(63)];
        q.push(l.len() as u8);
        q.extend_from_slice(l);
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    if payload > 512 {
        // EDNS0: the payload size we accept.
        q.extend_from_slice(&[0, 0, 41]);
        q.extend_from_slice(&payload.to_be_bytes());
        q.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    q
}

/// Reads a (possibly compressed) name at `i`: the name and the position after it.
fn read_name(b: &[u8], mut i: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut end = None;
    for _ in 0..64 {
        let l = *b.get(i)?;
        if l & 0xc0 == 0xc0 {
            end.get_or_insert(i + 2);
            i = (usize::from(l & 0x3f) << 8) | usize::from(*b.get(i + 1)?);
            continue;
        }
        if l == 0 {
            return Some((out, end.unwrap_or(i + 1)));
        }
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&String::from_utf8_lossy(b.get(i + 1..i + 1 + l as usize)?));
        i += 1 + l as usize;
    }
    None
}

/// The SRV records of an answer, and the A/AAAA addresses of its additional section by
/// owner name.
type SrvAnswer = (Vec<SrvRecord>, Vec<(String, IpAddr)>);

/// The SRV records of an answer and the A/AAAA addresses of its additional section.
fn parse_srv(b: &[u8], id: u16) -> Option<Result<SrvAnswer, Failure>> {
    if b.len() < 12 || u16::from_be_bytes([b[0], b[1]]) != id || b[2] & 0x80 == 0 {
        return None;
    }
    match b[3] & 0x0f {
        0 => {}
        3 => return Some(Err(Failure::Nx)),
        5 => return Some(Err(Failure::Refused)),
        _ => return Some(Err(Failure::Other)),
    }
    let count = |o: usize| u16::from_be_bytes([b[o], b[o + 1]]);
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(b, i)? + 4;
    }
    let mut recs = Vec::new();
    let mut addrs = Vec::new();
    for n in 0..u32::from(an) + u32::from(ns) + u32::from(ar) {
        let (owner, j) = read_name(b, i)?;
        let h = b.get(j..j + 10)?;
        let ty = u16::from_be_bytes([h[0], h[1]]);
        let len = u16::from_be_bytes([h[8], h[9]]) as usize;
        let data = b.get(j + 10..j + 10 + len)?;
        if n < u32::from(an) && ty == SRV && len >= 7 {
            let (target, _) = read_name(b, j + 16)?;
            recs.push(SrvRecord {
                weight: u16::from_be_bytes([data[2], data[3]]),
                port: u16::from_be_bytes([data[4], data[5]]),
                target,
            });
        } else if n >= u32::from(an) + u32::from(ns) {
            match (ty, len) {
                (A, 4) => addrs.push((
                    owner,
                    IpAddr::V4(Ipv4Addr::new(data[0], data[1], data[2], data[3])),
                )),
                (AAAA, 16) => {
                    let mut o = [0u8; 16];
                    o.copy_from_slice(data);
                    addrs.push((owner, IpAddr::V6(Ipv6Addr::from(o))));
                }
                _ => {}
            }
        }
        i = j + 10 + len;
    }
    Some(if recs.is_empty() {
        Err(Failure::Other)
    } else {
        Ok((recs, addrs))
    })
}

/// Skips a (possibly compressed) name; the position after it.
fn skip_name(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let l = *b.get(i)?;
        if l & 0xc0 == 0xc0 {
            return Some(i + 2);
        }
        if l == 0 {
            return Some(i + 1);
        }
        i += 1 + l as usize;
    }
}

/// The addresses of type `qtype` in the answer to query `id`, or why there are none.
fn parse(b: &[u8], id: u16, qtype: u16) -> Option<Result<Vec<IpAddr>, Failure>> {
    if b.len() < 12 || u16::from_be_bytes([b[0], b[1]]) != id || b[2] & 0x80 == 0 {
        return None;
    }
    match b[3] & 0x0f {
        0 => {}
        3 => return Some(Err(Failure::Nx)),
        5 => return Some(Err(Failure::Refused)),
        _ => return Some(Err(Failure::Other)),
    }
    let qd = u16::from_be_bytes([b[4], b[5]]);
    let an = u16::from_be_bytes([b[6], b[7]]);
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(b, i)? + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        i = skip_name(b, i)?;
        let h = b.get(i..i + 10)?;
        let ty = u16::from_be_bytes([h[0], h[1]]);
        let len = u16::from_be_bytes([h[8], h[9]]) as usize;
        let data = b.get(i + 10..i + 10 + len)?;
        match (ty, len) {
            (A, 4) if qtype == A => out.push(IpAddr::V4(Ipv4Addr::new(
                data[0], data[1], data[2], data[3],
            ))),
            (AAAA, 16) if qtype == AAAA => {
                let mut o = [0u8; 16];
                o.copy_from_slice(data);
                out.push(IpAddr::V6(Ipv6Addr::from(o)));
            }
            _ => {}
        }
        i += 10 + len;
    }
    Some(if out.is_empty() {
        Err(Failure::Other)
    } else {
        Ok(out)
    })
}

/// Sends `q` to every name server; the first valid answer (as `parse` reads it) and the
/// name server that gave it, else the last error.
async fn ask_with<T>(
    r: &ResolversSection,
    sock: &UdpSocket,
    q: &[u8],
    parse: impl Fn(&[u8]) -> Option<Result<T, Failure>>,
) -> Result<(T, String), Failure> {
    for (_, ns) in &r.nameservers {
        let _ = sock.send_to(q, ns).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_millis(r.timeout_retry);
    let mut last = Failure::Timeout;
    let mut answered = 0;
    let mut buf = vec![0u8; usize::from(r.accepted_payload_size).max(512)];
    while answered < r.nameservers.len() {
        let Ok(Ok((n, from))) = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await
        else {
            break;
        };
        let Some(res) = parse(&buf[..n]) else {
            continue;
        };
        answered += 1;
        match res {
            Ok(v) => {
                let ns = r
                    .nameservers
                    .iter()
                    .find(|(_, a)| *a == from)
                    .map_or_else(|| from.to_string(), |(n, _)| n.clone());
                return Ok((v, ns));
            }
            Err(f) => last = f,
        }
    }
    Err(last)
}

/// Asks every name server for `name` (type `qtype`).
async fn ask(
    r: &ResolversSection,
    sock: &UdpSocket,
    name: &str,
    qtype: u16,
) -> Result<(Vec<IpAddr>, String), Failure> {
    let id = fastrand::u16(..);
    let q = query(id, name, qtype, r.accepted_payload_size);
    ask_with(r, sock, &q, |b| parse(b, id, qtype)).await
}

/// One resolution as HAProxy runs it: the preferred type, then the other one after an
/// error (not a timeout), `resolve_retries` times.
async fn resolve(
    r: &ResolversSection,
    sock: &UdpSocket,
    name: &str,
    prefer_v4: bool,
    families: (bool, bool),
) -> Result<(Vec<IpAddr>, String), Failure> {
    let (first, second) = match families {
        (true, false) => (A, None),
        (false, true) => (AAAA, None),
        _ if prefer_v4 => (A, Some(AAAA)),
        _ => (AAAA, Some(A)),
    };
    let mut last = Failure::Timeout;
    for _ in 0..r.resolve_retries.max(1) {
        match ask(r, sock, name, first).await {
            Ok(x) => return Ok(x),
            Err(Failure::Timeout) => last = Failure::Timeout,
            Err(f) => {
                last = f;
                if let Some(second) = second {
                    match ask(r, sock, name, second).await {
                        Ok(x) => return Ok(x),
                        Err(f2) => last = f2,
                    }
                }
            }
        }
    }
    Err(last)
}

/// Whether `ip` is in one of the `resolve-net` networks (`a.b.c.d/len`).
fn in_nets(ip: &IpAddr, nets: &[String]) -> bool {
    nets.iter().any(|n| {
        let (a, len) = n
            .split_once('/')
            .unwrap_or((n, if n.contains(':') { "128" } else { "32" }));
        let (Ok(net), Ok(len)) = (a.parse::<IpAddr>(), len.parse::<u32>()) else {
            return false;
        };
        match (ip, net) {
            (IpAddr::V4(x), IpAddr::V4(y)) => {
                let m = if len == 0 {
                    0
                } else {
                    u32::MAX << (32 - len.min(32))
                };
                u32::from(*x) & m == u32::from(y) & m
            }
            (IpAddr::V6(x), IpAddr::V6(y)) => {
                let m = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len.min(128))
                };
                u128::from(*x) & m == u128::from(y) & m
            }
            _ => false,
        }
    })
}

/// Starts the resolution task of every server of `be` that names a `resolvers` section.
pub fn spawn_resolvers(
    be: &Arc<Backend>,
    sections: &[ResolversSection],
    accept: (bool, bool, bool),
    quiet: bool,
) {
    // `dns-accept-family`: IPv6 with `auto` only when the host routes it by default.
    let families = (accept.0, accept.1 || (accept.2 && has_ipv6_default_route()));
    // Servers sharing an SRV label (`server-template … _svc._proto.name`): one task each.
    let mut groups: Vec<(String, String, Vec<usize>)> = Vec::new();
    for (idx, srv) in be.servers.iter().map(|s| (s.index, s)) {
        if let (Some(name), Some(halo_config::addr::Address::Inet { host, ip: None, .. })) =
            (&srv.cfg.resolvers, &srv.cfg.address)
            && host.starts_with('_')
        {
            match groups.iter_mut().find(|g| g.0 == *name && g.1 == *host) {
                Some(g) => g.2.push(idx),
                None => groups.push((name.clone(), host.clone(), vec![idx])),
            }
        }
    }
    for (name, label, group) in groups {
        let Some(r) = sections.iter().find(|s| s.name == name).cloned() else {
            continue;
        };
        if r.nameservers.is_empty() {
            continue;
        }
        let be = be.clone();
        tokio::spawn(async move {
            let Ok(sock) = UdpSocket::bind(if r.nameservers[0].1.is_ipv6() {
                SocketAddr::from(([0u16; 8], 0))
            } else {
                SocketAddr::from(([0, 0, 0, 0], 0))
            })
            .await
            else {
                return;
            };
            run_srv(&be, &group, &r, &sock, &label, families, quiet).await;
        });
    }
    for (idx, srv) in be.servers.iter().map(|s| (s.index, s)) {
        let Some(name) = &srv.cfg.resolvers else {
            continue;
        };
        let Some(r) = sections.iter().find(|s| &s.name == name).cloned() else {
            continue;
        };
        let Some(halo_config::addr::Address::Inet { host, ip: None, .. }) = &srv.cfg.address else {
            // An IP address: nothing to resolve.
            continue;
        };
        if host.starts_with('_') {
            continue;
        }
        if r.nameservers.is_empty() {
            continue;
        }
        let host = host.clone();
        let be = be.clone();
        tokio::spawn(async move {
            let Ok(sock) = UdpSocket::bind(if r.nameservers[0].1.is_ipv6() {
                SocketAddr::from(([0u16; 8], 0))
            } else {
                SocketAddr::from(([0, 0, 0, 0], 0))
            })
            .await
            else {
                return;
            };
            run(&be, idx, &r, &sock, &host, families, quiet).await;
        });
    }
}

/// Whether the host has a default IPv6 route (`/proc/net/ipv6_route`).
fn has_ipv6_default_route() -> bool {
    std::fs::read_to_string("/proc/net/ipv6_route").is_ok_and(|t| {
        t.lines()
            .any(|l| l.starts_with("00000000000000000000000000000000 00 ") && !l.ends_with(" lo"))
    })
}

async fn run(
    be: &Backend,
    idx: usize,
    r: &ResolversSection,
    sock: &UdpSocket,
    host: &str,
    families: (bool, bool),
    quiet: bool,
) {
    let srv = &be.servers[idx];
    let mut last_valid: Option<Instant> = None;
    loop {
        match resolve(r, sock, host, srv.cfg.resolve_prefer_v4, families).await {
            Ok((ips, ns)) => {
                last_valid = Some(Instant::now());
                apply(be, idx, r, &ips, &ns, host, quiet);
            }
            Err(f) => {
                let held =
                    last_valid.is_some_and(|t| t.elapsed() < Duration::from_millis(f.hold(r)));
                if !held && !srv.rmaint.load(Relaxed) {
                    enter_maint(be, idx, f.text(), quiet);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(r.timeout_resolve)).await;
    }
}

/// A valid answer: keep the current address if it is among `ips`, else take the first one
/// (in `resolve-net` first, not used by another server with `prevent-dup-ip`).
fn apply(
    be: &Backend,
    idx: usize,
    r: &ResolversSection,
    ips: &[IpAddr],
    ns: &str,
    host: &str,
    quiet: bool,
) {
    let srv = &be.servers[idx];
    let cur = srv.addr.get();
    let none = srv.rmaint.load(Relaxed) && srv.addr_none.load(Relaxed);
    if !none && ips.contains(&cur.ip) {
        if srv.rmaint.load(Relaxed) {
            leave_maint(be, idx, host, quiet);
        }
        return;
    }
    let taken = |ip: &IpAddr| {
        srv.cfg.prevent_dup_ip
            && be
                .servers
                .iter()
                .enumerate()
                .any(|(j, s)| j != idx && s.addr.get().ip == *ip)
    };
    let mut candidates: Vec<&IpAddr> = ips.iter().filter(|ip| !taken(ip)).collect();
    candidates.sort_by_key(|ip| !in_nets(ip, &srv.cfg.resolve_net));
    let Some(&new) = candidates.first().copied() else {
        return;
    };
    let from = if none {
        "(none)".to_string()
    } else {
        cur.ip.to_string()
    };
    srv.addr.set(ServerAddr { ip: new, ..cur });
    srv.addr_none.store(false, Relaxed);
    srv.idle.purge(true, u64::from(srv.cur.load(Relaxed)));
    log::warning(
        &format!(
            "{}/{} changed its IP from {from} to {new} by {}/{ns}.",
            be.name, srv.name, r.name
        ),
        quiet,
    );
    if srv.rmaint.load(Relaxed) {
        leave_maint(be, idx, host, quiet);
    }
}

fn leave_maint(be: &Backend, idx: usize, host: &str, quiet: bool) {
    leave_maint_as(be, idx, host, true, quiet)
}

/// Out of maintenance; `admin_line`: also the "administratively READY" line (not for an
/// SRV target).
fn leave_maint_as(be: &Backend, idx: usize, host: &str, admin_line: bool, quiet: bool) {
    let srv = &be.servers[idx];
    srv.rmaint.store(false, Relaxed);
    be.weights_changed();
    let (a, b) = be.usable_counts();
    be.was_available.store(a + b > 0, Relaxed);
    log::warning(
        &format!(
            "Server {}/{} ('{host}') is UP/READY (resolves again).",
            be.name, srv.name
        ),
        quiet,
    );
    if admin_line {
        log::warning(
            &format!(
                "Server {}/{} administratively READY thanks to valid DNS answer.",
                be.name, srv.name
            ),
            quiet,
        );
    }
}

/// The servers of a backend sharing one SRV label: one SRV query per `timeout resolve`,
/// each record given to a server (its target and port; its address from the additional
/// section, else asked for), records gone for `hold obsolete` taking their server to
/// maintenance, and free servers waiting in maintenance.
async fn run_srv(
    be: &Backend,
    group: &[usize],
    r: &ResolversSection,
    sock: &UdpSocket,
    label: &str,
    families: (bool, bool),
    quiet: bool,
) {
    let mut last_valid: Option<Instant> = None;
    let mut missing: std::collections::HashMap<usize, Instant> = Default::default();
    loop {
        let id = fastrand::u16(..);
        let q = query(id, label, SRV, r.accepted_payload_size);
        match ask_with(r, sock, &q, |b| parse_srv(b, id)).await {
            Ok(((recs, addrs), _)) => {
                last_valid = Some(Instant::now());
                apply_srv(
                    be,
                    group,
                    r,
                    sock,
                    &recs,
                    &addrs,
                    &mut missing,
                    families,
                    quiet,
                )
                .await;
            }
            Err(f) => {
                let held =
                    last_valid.is_some_and(|t| t.elapsed() < Duration::from_millis(f.hold(r)));
                if !held {
                    for &idx in group {
                        let srv = &be.servers[idx];
                        if !srv.rmaint.load(Relaxed) {
                            enter_maint(be, idx, f.text(), quiet);
                        }
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(r.timeout_resolve)).await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn apply_srv(
    be: &Backend,
    group: &[usize],
    r: &ResolversSection,
    sock: &UdpSocket,
    recs: &[SrvRecord],
    addrs: &[(String, IpAddr)],
    missing: &mut std::collections::HashMap<usize, Instant>,
    families: (bool, bool),
    quiet: bool,
) {
    let target_of = |idx: usize| -> Option<String> {
        be.servers[idx]
            .srv_target
            .lock()
            .ok()
            .and_then(|t| t.clone())
    };
    let port_of = |idx: usize| match be.servers[idx].addr.get().port {
        halo_config::addr::PortSpec::Fixed(p) => p,
        _ => 0,
    };
    let addr_for = |target: &str| {
        addrs
            .iter()
            .filter(|(o, ip)| {
                o.eq_ignore_ascii_case(target) && if ip.is_ipv4() { families.0 } else { families.1 }
            })
            .map(|(_, ip)| *ip)
            .next()
    };
    // Servers whose record is gone (for `hold obsolete`) go to maintenance.
    let mut taken: Vec<(String, u16)> = Vec::new();
    for &idx in group {
        let Some(t) = target_of(idx) else { continue };
        let port = port_of(idx);
        let Some(rec) = recs.iter().find(|x| x.target == t && x.port == port) else {
            let since = *missing.entry(idx).or_insert_with(Instant::now);
            if since.elapsed() >= Duration::from_millis(r.hold_obsolete) {
                missing.remove(&idx);
                if let Ok(mut g) = be.servers[idx].srv_target.lock() {
                    *g = None;
                }
                enter_maint(be, idx, "entry removed from SRV record", quiet);
            } else {
                taken.push((t, port));
            }
            continue;
        };
        missing.remove(&idx);
        taken.push((t.clone(), port));
        set_srv_weight(be, idx, rec.weight, r);
        if let Some(ip) = addr_for(&t) {
            let cur = be.servers[idx].addr.get();
            if cur.ip != ip || be.servers[idx].addr_none.load(Relaxed) {
                move_to(be, idx, ip, Some(port), "DNS additional record", quiet);
                if be.servers[idx].rmaint.load(Relaxed) {
                    leave_maint_as(be, idx, &t, false, quiet);
                }
            }
        }
    }
    // New records go to free servers, in order.
    for rec in recs {
        if taken
            .iter()
            .any(|(t, p)| *t == rec.target && *p == rec.port)
        {
            continue;
        }
        let Some(&idx) = group.iter().find(|&&i| target_of(i).is_none()) else {
            break;
        };
        let ip = match addr_for(&rec.target) {
            Some(ip) => Some((ip, "DNS additional record".to_string())),
            None => resolve(
                r,
                sock,
                &rec.target,
                be.servers[idx].cfg.resolve_prefer_v4,
                families,
            )
            .await
            .ok()
            .and_then(|(ips, ns)| Some((*ips.first()?, format!("{}/{ns}", r.name)))),
        };
        let Some((ip, by)) = ip else { continue };
        if let Ok(mut g) = be.servers[idx].srv_target.lock() {
            *g = Some(rec.target.clone());
        }
        taken.push((rec.target.clone(), rec.port));
        set_srv_weight(be, idx, rec.weight, r);
        move_to(be, idx, ip, Some(rec.port), &by, quiet);
        leave_maint_as(be, idx, &rec.target, false, quiet);
    }
}

/// HAProxy's mapping of an SRV weight (0-65535) onto a server weight (1-256), unless
/// `resolve-opts ignore-weight`.
fn set_srv_weight(be: &Backend, idx: usize, weight: u16, _r: &ResolversSection) {
    let srv = &be.servers[idx];
    if srv.cfg.ignore_srv_weight {
        return;
    }
    let w = u32::from(weight) / 256 + 1;
    if srv.uweight.swap(w, Relaxed) != w {
        be.weights_changed();
    }
}

/// Sets a server's address (and port), with HAProxy's message.
fn move_to(be: &Backend, idx: usize, ip: IpAddr, port: Option<u16>, by: &str, quiet: bool) {
    let srv = &be.servers[idx];
    let cur = srv.addr.get();
    let from = if srv.addr_none.load(Relaxed) {
        "(none)".to_string()
    } else {
        cur.ip.to_string()
    };
    let port = port.map_or(cur.port, halo_config::addr::PortSpec::Fixed);
    srv.addr.set(ServerAddr { ip, port });
    srv.addr_none.store(false, Relaxed);
    srv.idle.purge(true, u64::from(srv.cur.load(Relaxed)));
    if from != ip.to_string() {
        log::warning(
            &format!(
                "{}/{} changed its IP from {from} to {ip} by {by}.",
                be.name, srv.name
            ),
            quiet,
        );
    }
}

fn enter_maint(be: &Backend, idx: usize, why: &str, quiet: bool) {
    let srv = &be.servers[idx];
    srv.rmaint.store(true, Relaxed);
    srv.addr_none.store(true, Relaxed);
    srv.idle.purge(true, u64::from(srv.cur.load(Relaxed)));
    be.requeue_from(idx);
    let (a, b) = be.usable_counts();
    let (qlen, squeues) = be.queue_lengths();
    log::warning(
        &format!(
            "Server {}/{} is going DOWN for maintenance ({why}). {a} active and {b} backup servers left. {} sessions active, 0 requeued, {} remaining in queue.",
            be.name,
            srv.name,
            srv.cur.load(Relaxed),
            qlen + squeues.iter().sum::<usize>()
        ),
        quiet,
    );
    if a + b == 0 && be.was_available.swap(false, Relaxed) {
        log::alert(
            &format!("{} '{}' has no server available!", be.type_word(), be.name),
            quiet,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read() {
        let q = query(7, "app.example", A, 512);
        // An answer echoing the question with one A record (compressed name).
        let mut r = q.clone();
        r[2] = 0x81;
        r[3] = 0x80;
        r[7] = 1;
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 9]);
        assert_eq!(
            parse(&r, 7, A),
            Some(Ok(vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9))]))
        );
        assert_eq!(parse(&r, 8, A), None);
        r[3] = 0x83;
        assert_eq!(parse(&r, 7, A), Some(Err(Failure::Nx)));
        assert!(in_nets(
            &"10.1.2.3".parse().unwrap(),
            &["10.0.0.0/8".into()]
        ));
        assert!(!in_nets(
            &"11.1.2.3".parse().unwrap(),
            &["10.0.0.0/8".into()]
        ));
    }
}
