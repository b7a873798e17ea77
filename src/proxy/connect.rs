//! Opening the connection to a server: `source ADDR[:PORT-RANGE]` (halo picks the port in
//! the range, trying the next one when a port is busy), `source … usesrc` (full transparent
//! proxying: the socket is bound to an address of the client's, with `IP_TRANSPARENT`),
//! `timeout connect`, and the PROXY header written before anything else.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use halo_config::addr::Address;
use halo_config::model::{Source, UseSrc};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpStream;

use crate::proxy::stream::ConnInfo;
use crate::server::Server;

fn source_ip(src: &Source) -> Option<IpAddr> {
    match &src.address {
        Address::Inet { ip, .. } => *ip,
        _ => None,
    }
}

fn new_socket(target: &SocketAddr) -> io::Result<Socket> {
    let domain = if target.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    // Created non-blocking (one syscall less than setting it afterwards).
    let s = Socket::new(domain, Type::STREAM.nonblocking(), Some(Protocol::TCP))?;
    s.set_tcp_nodelay(true)?;
    Ok(s)
}

/// Binds the socket to the `source` address; with a port range, the server's cursor picks
/// the next free port so that consecutive connections spread over the range.
fn bind_source(sock: &Socket, src: &Source, srv: Option<&Server>) -> io::Result<()> {
    if let Some(dev) = &src.interface {
        sock.bind_device(Some(dev.as_bytes()))?;
    }
    let ip = source_ip(src).unwrap_or(IpAddr::from([0, 0, 0, 0]));
    match src.port_range() {
        Some((lo, hi)) => {
            sock.set_reuse_address(true)?;
            let span = (hi - lo) as u32 + 1;
            let start = srv
                .map(|s| s.next_source_port.fetch_add(1, Relaxed))
                .unwrap_or_else(|| fastrand::u32(..));
            let mut last_err = io::Error::new(io::ErrorKind::AddrInUse, "no free source port");
            for k in 0..span {
                let port = lo + ((start.wrapping_add(k)) % span) as u16;
                match sock.bind(&SocketAddr::new(ip, port).into()) {
                    Ok(()) => return Ok(()),
                    Err(e) => last_err = e,
                }
            }
            Err(last_err)
        }
        None => {
            #[cfg(target_os = "linux")]
            {
                // Let the kernel choose the port at connect time (IP_BIND_ADDRESS_NO_PORT),
                // so many connections can share the source address.
                let one: libc::c_int = 1;
                use std::os::fd::AsRawFd;
                // SAFETY: valid fd, option value is a c_int of the right size.
                unsafe {
                    libc::setsockopt(
                        sock.as_raw_fd(),
                        libc::IPPROTO_IP,
                        libc::IP_BIND_ADDRESS_NO_PORT,
                        &one as *const libc::c_int as *const libc::c_void,
                        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    );
                }
            }
            sock.bind(&SocketAddr::new(ip, 0).into())
        }
    }
}

/// The address `usesrc` presents to the server for this client, if any (None also when
/// its family is not the server's: the connection then leaves from `source`'s address).
fn transparent_addr(u: &UseSrc, client: &ConnInfo, target: &SocketAddr) -> Option<SocketAddr> {
    let a = match u {
        UseSrc::Client => client.src,
        UseSrc::ClientIp => SocketAddr::new(client.src.ip(), 0),
        UseSrc::HdrIp { .. } => SocketAddr::new(client.hdr_src?, 0),
        UseSrc::Addr(a) => *a,
    };
    let a = match (a.ip(), target.is_ipv4()) {
        (IpAddr::V6(v6), true) => SocketAddr::new(IpAddr::V4(v6.to_ipv4_mapped()?), a.port()),
        (IpAddr::V4(_), false) => return None,
        _ => a,
    };
    (!a.ip().is_unspecified()).then_some(a)
}

/// Sets `IP_TRANSPARENT` (`IPV6_TRANSPARENT`): the socket may bind an address this host
/// does not own. Needs CAP_NET_ADMIN.
pub fn set_transparent(sock: &Socket, v6: bool) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    let (level, opt) = if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_TRANSPARENT)
    } else {
        (libc::IPPROTO_IP, libc::IP_TRANSPARENT)
    };
    // SAFETY: valid fd, option value is a c_int of the right size.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            opt,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether this process may use `usesrc` (checked at start-up).
pub fn transparent_allowed() -> io::Result<()> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    set_transparent(&s, false)
}

/// Connects to `target`, bound to `source` if any (to the client's address with `usesrc`),
/// within `timeout_ms`. The connection is
/// often established by the time `connect()` returns (always on loopback, where the
/// handshake runs inside the call): then it is used at once, without a trip through the
/// event loop to learn that the socket is writable.
pub async fn connect(
    target: SocketAddr,
    source: Option<&Source>,
    srv: Option<&Server>,
    timeout_ms: Option<u64>,
    client: Option<&ConnInfo>,
) -> io::Result<TcpStream> {
    let sock = new_socket(&target)?;
    let transparent = match (source.and_then(|s| s.usesrc.as_ref()), client) {
        (Some(u), Some(c)) => transparent_addr(u, c, &target),
        _ => None,
    };
    if let Some(a) = transparent {
        if let Some(dev) = source.and_then(|s| s.interface.as_ref()) {
            sock.bind_device(Some(dev.as_bytes()))?;
        }
        set_transparent(&sock, a.is_ipv6())?;
        sock.set_reuse_address(true)?;
        sock.bind(&a.into())?;
    } else if let Some(src) = source {
        bind_source(&sock, src, srv)?;
    }
    let done = match sock.connect(&target.into()) {
        Ok(()) => true,
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => false,
        Err(e) => return Err(e),
    };
    let std_stream: std::net::TcpStream = sock.into();
    let stream = TcpStream::from_std(std_stream)?;
    if done || stream.peer_addr().is_ok() {
        return Ok(stream);
    }
    let fut = async {
        stream.writable().await?;
        match stream.take_error()? {
            Some(e) => Err(e),
            None => Ok(()),
        }
    };
    match timeout_ms {
        Some(ms) => match tokio::time::timeout(Duration::from_millis(ms.max(1)), fut).await {
            Ok(r) => r?,
            Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timeout")),
        },
        None => fut.await?,
    }
    Ok(stream)
}
