//! Opening the connection to a server: `source ADDR[:PORT-RANGE]` (halo picks the port in
//! the range, trying the next one when a port is busy), `source … usesrc` (full transparent
//! proxying: the socket is bound to an address of the client's, with `IP_TRANSPARENT`),
//! `timeout connect`, and the PROXY header written before anything else; over TLS with
//! `ssl` (`ServerStream`: what a server connection is, plain or TLS).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use std::pin::Pin;
use std::task::{Context, Poll};

use halo_config::addr::Address;
use halo_config::model::{Source, UseSrc};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::proxy::conn::{Conn, ReadInto, Readable};
use crate::proxy::stream::ConnInfo;
use crate::server::Server;
use crate::tls::conn::TlsConn;

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

/// A connection to a server: plain TCP, or TLS over it (`server … ssl`).
pub enum ServerStream {
    Plain(TcpStream),
    Tls(Box<TlsConn<TcpStream>>),
}

/// The reading half of a server connection.
pub enum ServerRead<'a> {
    Plain(tokio::net::tcp::ReadHalf<'a>),
    Tls(crate::tls::conn::TlsRead<'a, TcpStream>),
}

/// The writing half of a server connection.
pub enum ServerWrite<'a> {
    Plain(tokio::net::tcp::WriteHalf<'a>),
    Tls(crate::tls::conn::TlsWrite<'a, TcpStream>),
}

impl ServerStream {
    /// The TCP socket under it.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            ServerStream::Plain(s) => s,
            ServerStream::Tls(t) => t.sock(),
        }
    }

    /// Whether an idle connection can still carry a request: open, nothing unread (TLS
    /// records the server sent meanwhile, such as session tickets, are taken in).
    /// The local address of the connection (`%bi:%bp`).
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            ServerStream::Plain(s) => s.local_addr().ok(),
            ServerStream::Tls(t) => t.sock().local_addr().ok(),
        }
    }

    /// What the TLS handshake with the server negotiated (`ssl_bc_*`).
    pub fn tls_info(&self) -> Option<std::sync::Arc<crate::tls::TlsInfo>> {
        match self {
            ServerStream::Plain(_) => None,
            ServerStream::Tls(t) => Some(t.info().clone()),
        }
    }

    pub fn alive(&self) -> bool {
        match self {
            ServerStream::Plain(s) => crate::server::idle::alive(s),
            ServerStream::Tls(t) => t.still_idle(),
        }
    }
}

impl AsyncRead for ServerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ServerStream::Tls(t) => Pin::new(t.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ServerStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_write(cx, b),
            ServerStream::Tls(t) => Pin::new(t.as_mut()).poll_write(cx, b),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ServerStream::Tls(t) => Pin::new(t.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ServerStream::Tls(t) => Pin::new(t.as_mut()).poll_shutdown(cx),
        }
    }
}

impl ReadInto for ServerStream {
    async fn read_into<'a>(&'a mut self, buf: &'a mut Vec<u8>) -> io::Result<usize> {
        match self {
            ServerStream::Plain(s) => s.read_into(buf).await,
            ServerStream::Tls(t) => t.read_into(buf).await,
        }
    }
}

impl AsyncRead for ServerRead<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerRead::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ServerRead::Tls(t) => Pin::new(t).poll_read(cx, buf),
        }
    }
}

impl Readable for ServerRead<'_> {
    async fn wait_readable(&self) -> io::Result<()> {
        match self {
            ServerRead::Plain(s) => Readable::wait_readable(s).await,
            ServerRead::Tls(t) => Readable::wait_readable(t).await,
        }
    }
    fn try_read_into(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            ServerRead::Plain(s) => Readable::try_read_into(s, buf),
            ServerRead::Tls(t) => Readable::try_read_into(t, buf),
        }
    }
}

impl AsyncWrite for ServerWrite<'_> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerWrite::Plain(s) => Pin::new(s).poll_write(cx, b),
            ServerWrite::Tls(t) => Pin::new(t).poll_write(cx, b),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerWrite::Plain(s) => Pin::new(s).poll_flush(cx),
            ServerWrite::Tls(t) => Pin::new(t).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerWrite::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ServerWrite::Tls(t) => Pin::new(t).poll_shutdown(cx),
        }
    }
}

impl Conn for ServerStream {
    type R<'a> = ServerRead<'a>;
    type W<'a> = ServerWrite<'a>;
    fn halves(&mut self) -> (Self::R<'_>, Self::W<'_>) {
        match self {
            ServerStream::Plain(s) => {
                let (r, w) = s.split();
                (ServerRead::Plain(r), ServerWrite::Plain(w))
            }
            ServerStream::Tls(t) => {
                let (r, w) = t.halves();
                (ServerRead::Tls(r), ServerWrite::Tls(w))
            }
        }
    }
    async fn wait_readable(&self) -> io::Result<()> {
        match self {
            ServerStream::Plain(s) => Conn::wait_readable(s).await,
            ServerStream::Tls(t) => Conn::wait_readable(t.as_ref()).await,
        }
    }
    fn try_read_into(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            ServerStream::Plain(s) => Conn::try_read_into(s, buf),
            ServerStream::Tls(t) => Conn::try_read_into(t.as_ref(), buf),
        }
    }
    fn io_bytes(&self) -> Option<(u64, u64)> {
        match self {
            ServerStream::Plain(s) => s.io_bytes(),
            ServerStream::Tls(_) => None,
        }
    }
    fn reset_on_close(&self, silent: bool) {
        self.tcp().reset_on_close(silent)
    }
}

/// The SNI each server of a backend sends for the stream at hand (`sni EXPR`, evaluated
/// once per distinct expression): indexed by server slot, empty when no server has one.
pub fn sni_values(
    be: &crate::server::Backend,
    ctx: &crate::sample::Ctx<'_>,
) -> Vec<Option<String>> {
    if !be.servers.iter().any(|s| s.sni.is_some()) {
        return Vec::new();
    }
    (0..be.servers.slots())
        .map(|i| {
            let expr = be.servers[i].sni.as_ref()?;
            let v = expr.eval(ctx)?;
            Some(String::from_utf8_lossy(&v.to_bytes()).into_owned())
        })
        .collect()
}

/// Connects to a server and, when its line says `ssl`, makes the TLS handshake (after
/// the PROXY header, which travels in clear), with `sni` as the name sent. The handshake
/// is bounded by `timeout connect` too (10 s without one).
pub async fn open(
    target: SocketAddr,
    source: Option<&Source>,
    srv: Option<&Server>,
    timeout_ms: Option<u64>,
    client: Option<&ConnInfo>,
    sni: Option<&str>,
) -> io::Result<ServerStream> {
    let mut s = connect(target, source, srv, timeout_ms, client).await?;
    let Some((srv, tls)) = srv.and_then(|s| Some((s, s.tls.as_ref().filter(|t| t.ssl)?))) else {
        return Ok(ServerStream::Plain(s));
    };
    if let (Some(_), Some(c)) = (srv.send_proxy, client) {
        let mut hdr = Vec::new();
        crate::proxy::proxy_protocol::write_for(srv, c, &mut hdr);
        s.write_all(&hdr).await?;
    }
    let limit = Duration::from_millis(timeout_ms.unwrap_or(10_000).max(1));
    match tokio::time::timeout(limit, tls.connect(s, sni, target.ip(), false)).await {
        Ok(r) => Ok(ServerStream::Tls(Box::new(r?))),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS handshake timeout",
        )),
    }
}
