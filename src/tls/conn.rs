//! A client connection of a `bind … ssl` line: the TLS handshake (certificate chosen from
//! the ClientHello's SNI, HAProxy's `strict-sni`), then a `Conn` that decrypts what the
//! socket receives and encrypts what the proxy writes, so the HTTP and TCP engines serve
//! it unchanged. Written by hand over rustls because tokio-rustls sends records only on
//! `flush()` and splits through a shared lock, while the forwarding never flushes and
//! waits for readability with `&self`.

use std::future::{Future, poll_fn};
use std::io::{self, BufRead, Read, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use rustls::Connection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::proxy::conn::{Conn, ReadInto, Readable};
use crate::tls::TlsInfo;
use crate::tls::bind::BindTls;

/// What TLS needs of a socket beyond `Conn`: reads and writes of raw records without
/// waiting, and readiness to poll.
pub trait TlsSock: Conn + Sync {
    fn try_read_raw(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn try_write_raw(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize>;
    fn poll_read_ready_raw(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    fn poll_write_ready_raw(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    fn shutdown_write(&self);
}

macro_rules! tls_sock_for {
    ($t:ty) => {
        impl TlsSock for $t {
            /// A read that fills less than offered drained the socket: its readiness is
            /// cleared at once (as `conn::recv_draining` does), saving the `recv` that
            /// would fail with `EAGAIN` before the next wait.
            fn try_read_raw(&self, buf: &mut [u8]) -> io::Result<usize> {
                use std::os::fd::AsRawFd;
                let fd = self.as_raw_fd();
                let mut got = 0usize;
                let r = self.try_io(tokio::io::Interest::READABLE, || {
                    // SAFETY: recv into a slice this function borrows mutably, at most its
                    // length, on a socket this process owns.
                    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
                    if n < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    got = n as usize;
                    if got > 0 && got < buf.len() {
                        return Err(io::ErrorKind::WouldBlock.into());
                    }
                    Ok(got)
                });
                match r {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
                    r => r,
                }
            }
            fn try_write_raw(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
                self.try_write_vectored(bufs)
            }
            fn poll_read_ready_raw(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.poll_read_ready(cx)
            }
            fn poll_write_ready_raw(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.poll_write_ready(cx)
            }
            fn shutdown_write(&self) {
                let _ = socket2::SockRef::from(self).shutdown(std::net::Shutdown::Write);
            }
        }
    };
}
tls_sock_for!(tokio::net::TcpStream);
tls_sock_for!(tokio::net::UnixStream);

/// A reader keeping a copy of what it reads (the ClientHello, at most 16 kB).
struct Tee<'a, R>(&'a mut R, &'a mut Vec<u8>);

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        if self.1.len() < 16384 {
            self.1.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }
}

/// `io::Read`/`io::Write` over a socket without waiting (WouldBlock when not ready).
struct Raw<'a, S>(&'a S);

impl<S: TlsSock> Read for Raw<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read_raw(buf)
    }
}

impl<S: TlsSock> Write for Raw<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write_raw(&[io::IoSlice::new(buf)])
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_raw(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct State {
    tls: Connection,
    /// Plaintext of a write that rustls took but whose records are not all sent: that
    /// write reports this count once they are (a write returns only when its records
    /// left, since nothing flushes afterwards).
    taken: Option<usize>,
    /// close_notify queued.
    closing: bool,
}

/// A TLS connection over a socket, past its handshake.
pub struct TlsConn<S> {
    sock: S,
    st: Mutex<State>,
    info: Arc<TlsInfo>,
}

/// Where decrypted bytes go: a vector's spare capacity or a `ReadBuf`.
enum Dest<'a, 'b> {
    Vec(&'a mut Vec<u8>),
    Buf(&'a mut ReadBuf<'b>),
}

impl Dest<'_, '_> {
    fn room(&self) -> usize {
        match self {
            Dest::Vec(v) => v.capacity() - v.len(),
            Dest::Buf(b) => b.remaining(),
        }
    }
    fn put(&mut self, data: &[u8]) {
        match self {
            Dest::Vec(v) => v.extend_from_slice(data),
            Dest::Buf(b) => b.put_slice(data),
        }
    }
}

/// Why a handshake did not complete.
#[derive(Debug)]
pub enum HandshakeError {
    Io(io::Error),
    Tls(rustls::Error),
    /// `strict-sni`: no certificate for the name the client asked for.
    NoCertificate,
    /// The client closed before the handshake completed (true: after sending something).
    Closed(bool),
}

impl From<io::Error> for HandshakeError {
    fn from(e: io::Error) -> Self {
        HandshakeError::Io(e)
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends what rustls holds; `WouldBlock` when the socket is full.
fn send_records<S: TlsSock>(sock: &S, tls: &mut Connection) -> io::Result<()> {
    while tls.wants_write() {
        if tls.write_tls(&mut Raw(sock))? == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
    }
    Ok(())
}

fn poll_send_records<S: TlsSock>(
    sock: &S,
    tls: &mut Connection,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    loop {
        match send_records(sock, tls) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                match sock.poll_write_ready_raw(cx) {
                    Poll::Ready(Ok(())) => continue,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
            r => return Poll::Ready(r),
        }
    }
}

/// Moves decrypted bytes rustls holds into `dest`: None when it holds none (more records
/// are needed), Some(Ok(0)) at the end of the stream (close_notify, or the socket closed
/// without it: HAProxy treats both as the client's close).
fn take_plain(tls: &mut Connection, dest: &mut Dest<'_, '_>) -> Option<io::Result<usize>> {
    let mut reader = tls.reader();
    let mut n = 0;
    while dest.room() > 0 {
        match reader.fill_buf() {
            Ok([]) => break,
            Ok(chunk) => {
                let k = chunk.len().min(dest.room());
                dest.put(&chunk[..k]);
                reader.consume(k);
                n += k;
            }
            Err(e) if n > 0 => {
                let _ = e;
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Some(Ok(0)),
            Err(e) => return Some(Err(e)),
        }
    }
    Some(Ok(n))
}

/// A TLS error as an I/O error (the connection is then closed).
fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The handshake of a client connection on a `bind … ssl` line, bounded by `timeout
/// client-hs` (else `timeout client`); None when it failed (the connection is closed).
pub async fn handshake<S: TlsSock>(
    sock: S,
    bind: &BindTls,
    early: &[u8],
    fe: &crate::compile::Frontend,
) -> Result<TlsConn<S>, crate::proxy::stream::ConnError> {
    use crate::proxy::stream::ConnError;
    let limit = std::time::Duration::from_millis(fe.handshake_timeout.unwrap_or(10_000).max(1));
    // HAProxy's messages (section 8.2.5); "empty": the client sent nothing at all.
    match tokio::time::timeout(limit, TlsConn::accept(sock, bind, early)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(HandshakeError::Closed(got))) => Err(ConnError::new(
            "Connection closed during SSL handshake",
            early.is_empty() && !got,
        )),
        Ok(Err(HandshakeError::Io(_))) => Err(ConnError::new(
            "Connection error during SSL handshake",
            false,
        )),
        Ok(Err(_)) => Err(ConnError::new("SSL handshake failure", false)),
        Err(_) => Err(ConnError::new("Timeout during SSL handshake", false)),
    }
}

impl<S: TlsSock> TlsConn<S> {
    /// Runs the server side of the handshake on `sock`, starting with `early` (bytes
    /// already read from it, after a PROXY header). The caller bounds it in time.
    pub async fn accept(sock: S, bind: &BindTls, early: &[u8]) -> Result<Self, HandshakeError> {
        let mut acceptor = rustls::server::Acceptor::default();
        // The ClientHello as received: its SNI as the client wrote it (`ssl_fc_sni`;
        // rustls hands out a normalised name).
        let mut hello: Vec<u8> = Vec::new();
        let mut early = early;
        let accepted = loop {
            match acceptor.accept() {
                Ok(Some(a)) => break a,
                Ok(None) => {}
                Err((e, mut alert)) => {
                    let _ = alert.write_all(&mut Raw(&sock));
                    return Err(HandshakeError::Tls(e));
                }
            }
            if !early.is_empty() {
                acceptor.read_tls(&mut Tee(&mut early, &mut hello))?;
                continue;
            }
            sock.wait_readable().await?;
            match acceptor.read_tls(&mut Tee(&mut Raw(&sock), &mut hello)) {
                Ok(0) => return Err(HandshakeError::Closed(!hello.is_empty())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        };
        let sni =
            crate::sample::fetch::tls_sni(&hello).map(|s| String::from_utf8_lossy(s).into_owned());
        drop(hello);
        let Some(chosen) = bind.config_for(&accepted.client_hello(), sni.as_deref()) else {
            return Err(HandshakeError::NoCertificate);
        };
        let mut tls = match accepted.into_connection(chosen.config) {
            Ok(t) => t,
            Err((e, mut alert)) => {
                let _ = alert.write_all(&mut Raw(&sock));
                return Err(HandshakeError::Tls(e));
            }
        };
        // What followed the ClientHello in the bytes already read.
        while !early.is_empty() {
            tls.read_tls(&mut early)?;
            if let Err(e) = tls.process_new_packets() {
                let _ = tls.write_tls(&mut Raw(&sock));
                return Err(HandshakeError::Tls(e));
            }
        }
        let mut conn = Self::finish_handshake(sock, Connection::Server(tls)).await?;
        if let Connection::Server(s) = &lock(&conn.st).tls {
            let mut info = TlsInfo::of(s, &chosen.key);
            info.sni = sni;
            if let (Some(v), Some(certs)) = (&chosen.verifier, s.peer_certificates()) {
                info.cert_errors = v.errors_of(certs);
            }
            conn.info = Arc::new(info);
        }
        Ok(conn)
    }

    /// The client side of a handshake (towards a server), over a connected socket.
    pub async fn connect(
        sock: S,
        tls: rustls::ClientConnection,
        sni: Option<&str>,
    ) -> io::Result<Self> {
        let mut conn = Self::finish_handshake(sock, Connection::Client(tls))
            .await
            .map_err(|e| match e {
                HandshakeError::Io(e) => e,
                HandshakeError::Tls(e) => tls_error(e),
                _ => io::ErrorKind::ConnectionAborted.into(),
            })?;
        if let Connection::Client(c) = &lock(&conn.st).tls {
            conn.info = Arc::new(TlsInfo::of_client(c, sni));
        }
        Ok(conn)
    }

    /// Exchanges records until the handshake is done.
    async fn finish_handshake(sock: S, tls: Connection) -> Result<Self, HandshakeError> {
        let st = Mutex::new(State {
            tls,
            taken: None,
            closing: false,
        });
        loop {
            poll_fn(|cx| poll_send_records(&sock, &mut lock(&st).tls, cx)).await?;
            if !lock(&st).tls.is_handshaking() {
                break;
            }
            sock.wait_readable().await?;
            let mut g = lock(&st);
            match g.tls.read_tls(&mut Raw(&sock)) {
                Ok(0) => return Err(HandshakeError::Closed(true)),
                Ok(_) => {
                    if let Err(e) = g.tls.process_new_packets() {
                        let _ = send_records(&sock, &mut g.tls);
                        return Err(HandshakeError::Tls(e));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(TlsConn {
            sock,
            st,
            info: Arc::new(TlsInfo::default()),
        })
    }

    /// The socket under the TLS layer.
    pub fn sock(&self) -> &S {
        &self.sock
    }

    /// Whether an idle connection can still carry a request: records that came meanwhile
    /// (session tickets, key updates) are taken in; any data, an alert or the end of the
    /// stream means it cannot.
    pub fn still_idle(&self) -> bool {
        let mut g = lock(&self.st);
        loop {
            match g.tls.reader().fill_buf() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                _ => return false,
            }
            match g.tls.read_tls(&mut Raw(&self.sock)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Ok(0) | Err(_) => return false,
                Ok(_) => {
                    if g.tls.process_new_packets().is_err() {
                        return false;
                    }
                }
            }
        }
    }

    /// What was negotiated (`ssl_fc_*` fetches).
    pub fn info(&self) -> &Arc<TlsInfo> {
        &self.info
    }

    /// Decrypts what can be without waiting; `WouldBlock` when a record is incomplete.
    fn read_plain(&self, dest: &mut Dest<'_, '_>) -> io::Result<usize> {
        let mut g = lock(&self.st);
        let st = &mut *g;
        loop {
            if let Some(r) = take_plain(&mut st.tls, dest) {
                return r;
            }
            match st.tls.read_tls(&mut Raw(&self.sock)) {
                // End of the socket: rustls now reports it (or a close_notify) above.
                Ok(0) => {}
                Ok(_) => {
                    if let Err(e) = st.tls.process_new_packets() {
                        let _ = send_records(&self.sock, &mut st.tls);
                        return Err(tls_error(e));
                    }
                    // Records to answer with (key update): best effort, the next write
                    // sends what is left first.
                    let _ = send_records(&self.sock, &mut st.tls);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn has_plain(&self) -> bool {
        let mut g = lock(&self.st);
        !matches!(g.tls.reader().fill_buf(), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    fn poll_read_plain(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            match self.read_plain(&mut Dest::Buf(buf)) {
                Ok(_) => return Poll::Ready(Ok(())),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match self.sock.poll_read_ready_raw(cx) {
                        Poll::Ready(Ok(())) => continue,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => return Poll::Pending,
                    }
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn poll_write_plain(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let mut g = lock(&self.st);
        let st = &mut *g;
        if let Err(e) = std::task::ready!(poll_send_records(&self.sock, &mut st.tls, cx)) {
            return Poll::Ready(Err(e));
        }
        if let Some(n) = st.taken.take() {
            return Poll::Ready(Ok(n));
        }
        if data.is_empty() || st.closing {
            return Poll::Ready(Ok(0));
        }
        let n = st.tls.writer().write(data)?;
        match poll_send_records(&self.sock, &mut st.tls, cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(n)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                st.taken = Some(n);
                Poll::Pending
            }
        }
    }

    fn poll_flush_records(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_send_records(&self.sock, &mut lock(&self.st).tls, cx)
    }

    /// close_notify, then the socket's write side.
    fn poll_close(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut g = lock(&self.st);
        let st = &mut *g;
        st.taken = None;
        if !st.closing {
            st.closing = true;
            st.tls.send_close_notify();
        }
        if let Err(e) = std::task::ready!(poll_send_records(&self.sock, &mut st.tls, cx)) {
            return Poll::Ready(Err(e));
        }
        self.sock.shutdown_write();
        Poll::Ready(Ok(()))
    }
}

impl<S: TlsSock> AsyncRead for TlsConn<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.poll_read_plain(cx, buf)
    }
}

impl<S: TlsSock> AsyncWrite for TlsConn<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_plain(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush_records(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_close(cx)
    }
}

impl<S: TlsSock> ReadInto for TlsConn<S> {
    async fn read_into<'a>(&'a mut self, buf: &'a mut Vec<u8>) -> io::Result<usize> {
        loop {
            Conn::wait_readable(self).await?;
            match Conn::try_read_into(self, buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return r,
            }
        }
    }
}

/// The reading half of a TLS connection.
pub struct TlsRead<'a, S>(&'a TlsConn<S>);
/// The writing half of a TLS connection.
pub struct TlsWrite<'a, S>(&'a TlsConn<S>);

impl<S: TlsSock> AsyncRead for TlsRead<'_, S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.0.poll_read_plain(cx, buf)
    }
}

impl<S: TlsSock> Readable for TlsRead<'_, S> {
    fn wait_readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        Conn::wait_readable(self.0)
    }
    fn try_read_into(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        Conn::try_read_into(self.0, buf)
    }
}

impl<S: TlsSock> AsyncWrite for TlsWrite<'_, S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_write_plain(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_flush_records(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_close(cx)
    }
}

impl<S: TlsSock> Conn for TlsConn<S> {
    type R<'a>
        = TlsRead<'a, S>
    where
        Self: 'a;
    type W<'a>
        = TlsWrite<'a, S>
    where
        Self: 'a;
    fn halves(&mut self) -> (Self::R<'_>, Self::W<'_>) {
        (TlsRead(self), TlsWrite(self))
    }
    fn wait_readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        let buffered = self.has_plain();
        async move {
            if buffered {
                return Ok(());
            }
            self.sock.wait_readable().await
        }
    }
    fn try_read_into(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        if buf.capacity() == buf.len() {
            buf.reserve(4096);
        }
        self.read_plain(&mut Dest::Vec(buf))
    }
    fn reset_on_close(&self, silent: bool) {
        self.sock.reset_on_close(silent)
    }
    fn tls_info(&self) -> Option<&Arc<TlsInfo>> {
        Some(&self.info)
    }
}
