//! Session resumption state of a bind line with HAProxy's `tune.ssl.lifetime`: the session
//! cache and the ticket keys of rustls, each wrapped so that a session older than the
//! lifetime is not resumed (OpenSSL's session timeout, which HAProxy sets from it).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::server::{ProducesTickets, StoresServerSessions};

/// Milliseconds since the epoch (a lifetime of 1 s is not cut short at the next second).
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The value with its birth time in front (8 bytes, big endian).
fn stamped(value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + value.len());
    v.extend_from_slice(&now().to_be_bytes());
    v.extend_from_slice(value);
    v
}

/// The value if it is younger than `lifetime` seconds.
fn fresh(stamped: Vec<u8>, lifetime: u64) -> Option<Vec<u8>> {
    let born = u64::from_be_bytes(stamped.get(..8)?.try_into().ok()?);
    (now().saturating_sub(born) < lifetime.saturating_mul(1000)).then(|| stamped[8..].to_vec())
}

/// The session cache (`tune.ssl.cachesize` entries) with a lifetime.
#[derive(Debug)]
pub struct SessionCache {
    inner: Arc<rustls::server::ServerSessionMemoryCache>,
    lifetime: u64,
}

impl SessionCache {
    pub fn new(size: usize, lifetime: u64) -> SessionCache {
        SessionCache {
            inner: rustls::server::ServerSessionMemoryCache::new(size.max(1)),
            lifetime,
        }
    }
}

impl StoresServerSessions for SessionCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.inner.put(key, stamped(&value))
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        fresh(self.inner.get(key)?, self.lifetime)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        fresh(self.inner.take(key)?, self.lifetime)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// Session tickets whose content carries their birth time; the client is told the
/// lifetime as the ticket's lifetime hint.
#[derive(Debug)]
pub struct Tickets {
    inner: Arc<dyn ProducesTickets>,
    lifetime: u64,
}

impl Tickets {
    pub fn new(lifetime: u64) -> Option<Tickets> {
        Some(Tickets {
            inner: rustls::crypto::aws_lc_rs::Ticketer::new().ok()?,
            lifetime,
        })
    }
}

impl ProducesTickets for Tickets {
    fn enabled(&self) -> bool {
        self.inner.enabled()
    }

    fn lifetime(&self) -> u32 {
        u32::try_from(self.lifetime)
            .unwrap_or(u32::MAX)
            .min(self.inner.lifetime())
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.inner.encrypt(&stamped(plain))
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        fresh(self.inner.decrypt(cipher)?, self.lifetime)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_after_the_lifetime() {
        let c = SessionCache::new(4, 300);
        assert!(c.put(b"k".to_vec(), b"v".to_vec()));
        assert_eq!(c.get(b"k").as_deref(), Some(&b"v"[..]));
        let old = SessionCache::new(4, 0);
        old.put(b"k".to_vec(), b"v".to_vec());
        assert_eq!(old.get(b"k"), None);
        let t = Tickets::new(300).expect("ticketer");
        let sealed = t.encrypt(b"state").expect("encrypt");
        assert_eq!(t.decrypt(&sealed).as_deref(), Some(&b"state"[..]));
        assert_eq!(t.lifetime(), 300);
        let t0 = Tickets::new(0).expect("ticketer");
        let sealed = t0.encrypt(b"state").expect("encrypt");
        assert_eq!(t0.decrypt(&sealed), None);
    }
}
