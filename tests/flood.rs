//! Flood test of seed 17 as written (issue 4): 50 abusive clients from a few source
//! addresses hammer dynamic URLs while a polite client keeps under the limit; only the
//! abusers are refused. Runs against halo and Debian's haproxy 2.6.

mod support;

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use support::http::{Client, HttpBackend};
use support::*;

const ABUSERS: [&str; 4] = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];
const THREADS: usize = 50;
const POLITE: &str = "127.0.0.9";
/// Seed 17 flags an address at its tenth dynamic request within 10 s; the polite client
/// sends one every 1.5 s (under 7 per 10 s), 8 in all.
const POLITE_EVERY: Duration = Duration::from_millis(1500);
const POLITE_COUNT: usize = 8;

/// Seed 17 as written (its `listen stats` page listens on `FE_STATS`).
fn seed17() -> String {
    seed_text("17-request-flood-mitigation.cfg")
}

fn client_from(src: &str, fe: SocketAddr) -> Option<Client> {
    let ip: IpAddr = src.parse().ok()?;
    let s = connect_from(Some(ip), fe).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    Some(Client {
        r: BufReader::new(s.try_clone().ok()?),
        w: s,
    })
}

/// One request on `c`: its status, or None when the connection was closed or reset.
fn try_get(c: &mut Client, path: &str) -> Option<u16> {
    c.w.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
        .ok()?;
    c.read().map(|r| r.status)
}

/// What one abusive thread saw.
#[derive(Default)]
struct Seen {
    ok: usize,
    denied: usize,
    closed: usize,
    /// A 200 after this thread had been refused (403 or closed).
    ok_after_refusal: usize,
}

/// Hammers dynamic URLs from `src` until `stop`, reconnecting when closed (after a short
/// pause, to keep the connection churn bounded).
fn abuser(src: &'static str, id: usize, fe: SocketAddr, stop: Arc<AtomicBool>) -> Seen {
    let mut seen = Seen::default();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let Some(mut c) = client_from(src, fe) else {
            seen.closed += 1;
            thread::sleep(Duration::from_millis(50));
            continue;
        };
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            match try_get(&mut c, &format!("/app/{src}/{id}/{n}")) {
                Some(200) => {
                    seen.ok += 1;
                    if seen.denied + seen.closed > 0 {
                        seen.ok_after_refusal += 1;
                    }
                }
                Some(403) => seen.denied += 1,
                Some(s) => panic!("abuser {src}: unexpected status {s}"),
                None => {
                    seen.closed += 1;
                    break;
                }
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
    seen
}

#[test]
fn seed17_flood_refuses_only_the_abusers() {
    let (s1, s2) = (
        HttpBackend::start("srv1", Duration::ZERO),
        HttpBackend::start("srv2", Duration::ZERO),
    );
    let fe = free_addr();
    let _h = Halo::start(
        &seed17(),
        &[
            ("FE", haproxy_addr(fe)),
            ("FE_STATS", haproxy_addr(free_addr())),
            ("S1", s1.cfg_addr()),
            ("S2", s2.cfg_addr()),
        ],
    );
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let results = Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    for id in 0..THREADS {
        let src = ABUSERS[id % ABUSERS.len()];
        let (stop, results) = (stop.clone(), results.clone());
        threads.push(thread::spawn(move || {
            let seen = abuser(src, id, fe, stop);
            if let Ok(mut r) = results.lock() {
                r.push((src, seen));
            }
        }));
    }
    // The polite client: one keep-alive connection, one dynamic request every 1.5 s, each
    // answered 200 on that same connection.
    let mut polite = client_from(POLITE, fe).expect("polite client connects");
    let mut polite_failures = Vec::new();
    for i in 0..POLITE_COUNT {
        let due = started + POLITE_EVERY * i as u32;
        thread::sleep(due.saturating_duration_since(Instant::now()));
        let status = try_get(&mut polite, &format!("/app/polite/{i}"));
        if status != Some(200) {
            polite_failures.push((i, status));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        assert!(t.join().is_ok(), "an abuser thread panicked");
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "bounded in time"
    );
    assert!(
        polite_failures.is_empty(),
        "the polite client was refused: {polite_failures:?} (None = closed)"
    );

    // What reached the servers: every polite request, at most 9 per abusive address.
    let targets: Vec<String> = s1
        .seen()
        .into_iter()
        .chain(s2.seen())
        .map(|s| s.target)
        .collect();
    let polite_seen = targets
        .iter()
        .filter(|t| t.starts_with("/app/polite/"))
        .count();
    assert_eq!(polite_seen, POLITE_COUNT, "every polite request served");
    let mut per_src: HashMap<&str, usize> = HashMap::new();
    for src in ABUSERS {
        let prefix = format!("/app/{src}/");
        per_src.insert(
            src,
            targets.iter().filter(|t| t.starts_with(&prefix)).count(),
        );
    }
    for (src, n) in &per_src {
        assert!(
            *n <= 9,
            "{src}: {n} requests reached a server, the tenth in 10 s must be denied"
        );
    }

    // Every abusive address was refused (403 or closed) once flagged, and no thread got a
    // 200 after it had been refused.
    let results = std::mem::take(&mut *results.lock().expect("results"));
    assert_eq!(results.len(), THREADS, "every abuser reported");
    for src in ABUSERS {
        let mine: Vec<&Seen> = results
            .iter()
            .filter(|(s, _)| *s == src)
            .map(|(_, r)| r)
            .collect();
        let refused: usize = mine.iter().map(|r| r.denied + r.closed).sum();
        let ok: usize = mine.iter().map(|r| r.ok).sum();
        let late: usize = mine.iter().map(|r| r.ok_after_refusal).sum();
        eprintln!("{src}: {ok} served, {refused} refused (403 or closed)");
        assert!(refused > 0, "{src} was never refused");
        assert!(ok <= 9, "{src}: {ok} answers 200");
        assert_eq!(late, 0, "{src}: served after being refused");
    }
}
