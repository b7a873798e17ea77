//! What a client connection can be (TCP or UNIX stream) with what the forwarding needs from
//! it: lock-free split into read and write halves, and waiting for readability without a
//! buffer (so idle connections hold no buffer), plus a per-thread pool of I/O buffers.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use tokio::io::{AsyncRead, AsyncWrite};

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
pub trait Conn: AsyncRead + AsyncWrite + Unpin + Send {
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
        self.try_read_buf(buf)
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
        self.try_read_buf(buf)
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
