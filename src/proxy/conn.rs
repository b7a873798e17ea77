//! What a client connection can be (TCP or UNIX stream) with what the forwarding needs from
//! it: lock-free split into read and write halves, and waiting for readability without a
//! buffer (so idle connections hold no buffer), plus a per-thread pool of I/O buffers.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use std::os::fd::AsRawFd;

use tokio::io::{AsyncRead, AsyncWrite, Interest};

/// Reads into a vector's spare capacity the way HAProxy's socket layer does: a read that
/// fills less than the room offered means the socket is drained, so its readiness is
/// cleared at once instead of by one more `recv` failing with `EAGAIN` (the next edge
/// of the edge-triggered poller sets it again). Saves a system call per message in
/// keep-alive traffic.
fn recv_draining<S: AsRawFd>(
    s: &S,
    try_io: impl FnOnce(&mut dyn FnMut() -> io::Result<usize>) -> io::Result<usize>,
    buf: &mut Vec<u8>,
) -> io::Result<usize> {
    if buf.capacity() == buf.len() {
        buf.reserve(4096);
    }
    let fd = s.as_raw_fd();
    let mut got = 0usize;
    let r = try_io(&mut || {
        let spare = buf.spare_capacity_mut();
        let room = spare.len();
        // SAFETY: recv writes at most `room` bytes into the vector's spare capacity, on a
        // socket this process owns; the length is only extended by what it wrote.
        let n = unsafe { libc::recv(fd, spare.as_mut_ptr().cast(), room, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        // SAFETY: the first `n` bytes of the spare capacity were just written.
        unsafe { buf.set_len(buf.len() + n) };
        got = n;
        if n > 0 && n < room {
            // Drained: report "would block" so that the readiness is cleared.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match r {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
        r => r,
    }
}

/// Waits for data and reads it into `buf` (see `recv_draining`); 0 at end of stream.
pub trait ReadInto: AsyncRead + Unpin + Send {
    fn read_into<'a>(
        &'a mut self,
        buf: &'a mut Vec<u8>,
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a;
}

macro_rules! read_into_for {
    ($t:ty) => {
        impl ReadInto for $t {
            async fn read_into<'a>(&'a mut self, buf: &'a mut Vec<u8>) -> io::Result<usize> {
                loop {
                    self.readable().await?;
                    match self.try_read_into(buf) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        r => return r,
                    }
                }
            }
        }
    };
}
read_into_for!(tokio::net::TcpStream);
read_into_for!(tokio::net::UnixStream);

/// A readable half that can be waited on before any buffer is committed to it.
/// Readiness may be reported before data is there (a new socket is first assumed ready):
/// `try_read_buf` tells, returning `WouldBlock` without consuming the readiness wrongly.
pub trait Readable: AsyncRead + Unpin {
    fn wait_readable(&self) -> impl Future<Output = io::Result<()>> + Send;
    fn try_read_into(&self, buf: &mut Vec<u8>) -> io::Result<usize>;
}

impl Readable for tokio::net::tcp::ReadHalf<'_> {
    fn wait_readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.readable()
    }
    fn try_read_into(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.try_read_buf(buf)
    }
}

impl Readable for tokio::net::unix::ReadHalf<'_> {
    fn wait_readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.readable()
    }
    fn try_read_into(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.try_read_buf(buf)
    }
}

/// A stream socket as the proxy uses it.
pub trait Conn: ReadInto + AsyncWrite + Unpin + Send {
    type R<'a>: Readable + Send
    where
        Self: 'a;
    type W<'a>: AsyncWrite + Unpin + Send
    where
        Self: 'a;
    /// Borrowed halves (no lock between them).
    fn halves(&mut self) -> (Self::R<'_>, Self::W<'_>);
    /// Waits until data (or EOF) can be read (possibly spuriously: see `try_read_into`).
    fn wait_readable(&self) -> impl Future<Output = io::Result<()>> + Send;
    /// Reads what is there without waiting.
    fn try_read_into(&self, buf: &mut Vec<u8>) -> io::Result<usize>;
    /// Bytes received and written on the connection so far, as the kernel counts them (`bytes_in`/`bytes_out` of tracked counters); None when unknown.
    fn io_bytes(&self) -> Option<(u64, u64)> {
        None
    }
    /// Makes the close that follows a reset (no lingering), as HAProxy kills a rejected
    /// connection; `silent` (`silent-drop`): the reset leaves with a TTL of 1 so that it
    /// dies on the way unless the client is on the same host.
    fn reset_on_close(&self, _silent: bool) {}
    /// What the TLS handshake negotiated, on a TLS connection.
    fn tls_info(&self) -> Option<&std::sync::Arc<crate::tls::TlsInfo>> {
        None
    }
}

impl Conn for tokio::net::TcpStream {
    type R<'a> = tokio::net::tcp::ReadHalf<'a>;
    type W<'a> = tokio::net::tcp::WriteHalf<'a>;
    fn halves(&mut self) -> (Self::R<'_>, Self::W<'_>) {
        self.split()
    }
    fn wait_readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.readable()
    }
    fn try_read_into(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        recv_draining(self, |f| self.try_io(Interest::READABLE, f), buf)
    }
    fn io_bytes(&self) -> Option<(u64, u64)> {
        // SAFETY: tcp_info is plain data, zeroed then filled by getsockopt on a socket
        // this process owns, with its size passed in and out.
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let r = unsafe {
            libc::getsockopt(
                self.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&mut info as *mut libc::tcp_info).cast(),
                &mut len,
            )
        };
        // Sent: what left the socket, plus what is queued in it not sent yet.
        let out = info.tcpi_bytes_sent + u64::from(info.tcpi_notsent_bytes);
        (r == 0).then_some((info.tcpi_bytes_received, out))
    }
    fn reset_on_close(&self, silent: bool) {
        let sock = socket2::SockRef::from(self);
        if silent {
            let v6 = self.local_addr().is_ok_and(|a| a.is_ipv6());
            let _ = if v6 {
                sock.set_unicast_hops_v6(1)
            } else {
                sock.set_ttl_v4(1)
            };
        }
        let _ = sock.set_linger(Some(std::time::Duration::ZERO));
    }
}

impl Conn for tokio::net::UnixStream {
    type R<'a> = tokio::net::unix::ReadHalf<'a>;
    type W<'a> = tokio::net::unix::WriteHalf<'a>;
    fn halves(&mut self) -> (Self::R<'_>, Self::W<'_>) {
        self.split()
    }
    fn wait_readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.readable()
    }
    fn try_read_into(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        recv_draining(self, |f| self.try_io(Interest::READABLE, f), buf)
    }
}

/// Size of the I/O buffers (`tune.bufsize`), set once at start.
static BUFSIZE: AtomicUsize = AtomicUsize::new(16384);
/// Buffers kept per thread for reuse.
const POOL_MAX: usize = 256;

/// Size of the buffers used while a transfer keeps filling whole buffers (bulk data):
/// fewer, larger reads and writes; only held while data flows.
pub const BULK_BUFSIZE: usize = 128 * 1024;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static BULK_POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer for a bulk transfer, from this thread's pool when possible.
pub fn take_bulk_buf() -> Vec<u8> {
    BULK_POOL
        .with(|p| p.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(BULK_BUFSIZE))
}

pub fn set_bufsize(n: usize) {
    BUFSIZE.store(n.max(1024), Relaxed);
}

pub fn bufsize() -> usize {
    BUFSIZE.load(Relaxed)
}

/// An empty buffer of `tune.bufsize` capacity, from this thread's pool when possible.
pub fn take_buf() -> Vec<u8> {
    let size = bufsize();
    POOL.with(|p| p.borrow_mut().pop())
        .filter(|b| b.capacity() >= size)
        .unwrap_or_else(|| Vec::with_capacity(size))
}

/// Gives a buffer back to the pool (its content is dropped).
pub fn give_buf(mut b: Vec<u8>) {
    if b.capacity() >= BULK_BUFSIZE {
        b.clear();
        BULK_POOL.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < POOL_MAX / 8 {
                p.push(b);
            }
        });
        return;
    }
    if b.capacity() < bufsize() {
        return;
    }
    b.clear();
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOL_MAX {
            p.push(b);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_reuses() {
        let b = take_buf();
        let ptr = b.as_ptr();
        give_buf(b);
        let c = take_buf();
        assert_eq!(c.as_ptr(), ptr);
        assert!(c.is_empty());
    }
}
