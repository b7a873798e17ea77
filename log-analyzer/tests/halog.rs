//! End-to-end tests of the `halo-log` binary on generated logs (httplog and tcplog lines,
//! errors, aborted timers, queues, captures, query strings, malformed lines): byte for byte
//! against HAProxy's `halog` when it is installed, against values computed here always.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const HALOG: &str = "/usr/bin/halog";

// ---------------------------------------------------------------------------------------
// plumbing

/// A directory removed when dropped, so that nothing is left behind even on failure.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "halo-log-test-{}-{}-{}",
            std::process::id(),
            nanos,
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        fs::write(&p, content).expect("write log file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn run(bin: &str, args: &[&str], input: &Path) -> Output {
    Command::new(bin)
        .args(args)
        .env("TZ", "UTC")
        .stdin(fs::File::open(input).expect("open log"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run analyzer")
}

fn halo_log(args: &[&str], input: &Path) -> Output {
    run(env!("CARGO_BIN_EXE_halo-log"), args, input)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn halog_installed() -> bool {
    if Path::new(HALOG).exists() {
        return true;
    }
    eprintln!("{HALOG} not installed: comparisons with halog skipped");
    false
}

/// Runs both tools on `input` for every argument list and reports every difference.
fn compare_with_halog(input: &Path, cases: &[&str]) {
    let mut diffs = Vec::new();
    for case in cases {
        let args: Vec<&str> = case.split_whitespace().collect();
        let theirs = run(HALOG, &args, input);
        let ours = halo_log(&args, input);
        // the usage text names the program
        let our_err = stderr(&ours).replace("halo-log", "halog");
        if theirs.stdout != ours.stdout
            || stderr(&theirs) != our_err
            || theirs.status.code() != ours.status.code()
        {
            let first = |a: &str, b: &str| {
                a.lines()
                    .zip(b.lines())
                    .find(|(x, y)| x != y)
                    .map(|(x, y)| format!("halog: {x:?}\n  ours:  {y:?}"))
                    .unwrap_or_else(|| format!("lengths {} / {}", a.len(), b.len()))
            };
            diffs.push(format!(
                "[{case}] on {}: exit {:?}/{:?}\n  stdout {}\n  stderr {}",
                input.display(),
                theirs.status.code(),
                ours.status.code(),
                first(&stdout(&theirs), &stdout(&ours)),
                first(&stderr(&theirs), &our_err),
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// log generation

/// xorshift64*: deterministic, good enough to vary log lines.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    fn pick<'a, T: ?Sized>(&mut self, v: &[&'a T]) -> &'a T {
        v[self.below(v.len() as u64) as usize]
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// One well-formed HTTP request line, with what halog should read from it.
struct Http {
    src: String,
    server: String,
    timers: [i32; 5],
    status: i32,
    bytes: i32,
    term: String,
    path: String,
}

/// What a generated line is, for the computed expectations.
enum Entry {
    Http(Http),
    /// tcplog line: server, bytes (read where HTTP lines have their status).
    Tcp(String, i32),
    /// no accept date where expected: a parsing error
    Bad,
}

fn syslog_prefix(r: &mut Rng, sec: u32) -> String {
    format!(
        "{} {:2} {:02}:{:02}:{:02} lb haproxy[{}]: ",
        MONTHS[r.below(12) as usize],
        1 + r.below(28),
        sec / 3600 % 24,
        sec / 60 % 60,
        sec % 60,
        1 + r.below(99999)
    )
}

fn accept_date(r: &mut Rng, sec: u32) -> String {
    format!(
        "[04/Dec/2026:{:02}:{:02}:{:02}.{:03}]",
        sec / 3600 % 24,
        sec / 60 % 60,
        sec % 60,
        r.below(1000)
    )
}

fn timer(r: &mut Rng, aborted_pct: u64) -> i32 {
    if r.chance(aborted_pct) {
        -1
    } else {
        [0, 0, 1, 2, 3, 5, 8, 20, 50, 100, 250, 1000, 3000][r.below(13) as usize]
            + r.below(4) as i32
    }
}

/// Well-formed lines (HTTP with and without syslog prefix is not mixed here: all have
/// it), tcplog lines, and plainly malformed lines, with what each one is.
fn clean_log(seed: u64, n: usize) -> (Vec<u8>, Vec<Entry>) {
    let mut r = Rng(seed);
    let servers = [
        "www/web1",
        "www/web2",
        "www/<NOSRV>",
        "api/a1",
        "api/a2",
        "stats/<STATS>",
    ];
    let statuses = [
        200, 200, 200, 200, 200, 200, 204, 301, 302, 304, 400, 403, 404, 404, 500, 502, 503, 504,
        -1,
    ];
    let terms = [
        "----", "----", "----", "----", "CD--", "cD--", "SC--", "sH--", "PR--", "--NI", "--VN",
        "LR--",
    ];
    let paths = [
        "/",
        "/index.html",
        "/api/v1/items",
        "/api/v1/items/42",
        "/static/app.js",
        "/login;jsessionid=12",
        "/search",
    ];
    let mut out = Vec::new();
    let mut entries = Vec::new();
    for i in 0..n {
        let sec = 72_000 + (i / 7) as u32;
        let kind = r.below(100);
        let line = if kind < 80 {
            let src = format!("10.0.{}.{}", r.below(3), 1 + r.below(9));
            let server = r.pick(&servers).to_string();
            let (tq, tw, tc, tr) = (
                timer(&mut r, 2),
                timer(&mut r, 3),
                timer(&mut r, 5),
                timer(&mut r, 8),
            );
            let tt = [tq, tw, tc, tr].iter().map(|&t| t.max(0)).sum::<i32>() + r.below(30) as i32;
            let status = statuses[r.below(statuses.len() as u64) as usize];
            let bytes = r.below(60_000) as i32;
            let term = r.pick(&terms).to_string();
            let path = r.pick(&paths).to_string();
            let query = if r.chance(30) {
                format!("?id={}&x=1", r.below(50))
            } else {
                String::new()
            };
            let queue = if r.chance(5) {
                format!("{}/{}", r.below(3), r.below(3))
            } else {
                "0/0".to_string()
            };
            let captures = match r.below(10) {
                0 | 1 => " {example.com|Mozilla/5.0 (X11; Linux)}",
                2 => " {a|b|c} {d|}",
                _ => "",
            };
            let method = r.pick(&["GET", "GET", "GET", "POST", "HEAD"]);
            let line = format!(
                "{}{}:{} {} fe~ {} {}/{}/{}/{}/{} {} {} - - {} {}/{}/{}/{}/0 {}{} \"{} {}{} HTTP/1.1\"",
                syslog_prefix(&mut r, sec),
                src,
                1024 + r.below(60000),
                accept_date(&mut r, sec),
                server,
                tq,
                tw,
                tc,
                tr,
                tt,
                status,
                bytes,
                term,
                1 + r.below(9),
                1 + r.below(5),
                1,
                r.below(3),
                queue,
                captures,
                method,
                path,
                query
            );
            entries.push(Entry::Http(Http {
                src,
                server,
                timers: [tq, tw, tc, tr, tt],
                status,
                bytes,
                term,
                path: path.split([';', '?']).next().unwrap_or("").to_string(),
            }));
            line
        } else if kind < 92 {
            let server = format!("tcp/{}", r.pick(&["s1", "s2", "<NOSRV>"]));
            let bytes = r.below(9999) as i32;
            let line = format!(
                "{}10.1.0.{}:{} {} ftcp {} {}/{}/{} {} {} {}/1/1/1/0 0/0",
                syslog_prefix(&mut r, sec),
                1 + r.below(9),
                1024 + r.below(60000),
                accept_date(&mut r, sec),
                server,
                timer(&mut r, 3),
                timer(&mut r, 3),
                timer(&mut r, 0),
                bytes,
                r.pick(&["--", "CD", "SD"]),
                1 + r.below(5)
            );
            entries.push(Entry::Tcp(server, bytes));
            line
        } else {
            entries.push(Entry::Bad);
            r.pick(&[
                "",
                "garbage",
                "Dec  4 20:00:06 lb haproxy[1]: Proxy fe started.",
                "Dec  4 20:00:06 lb haproxy[1]: [WARNING] 338/200006 (1) : Server www/web1 is DOWN.",
                "Dec  4 20:00:06 lb haproxy[1]: 10.0.0.1:1 [44/Dec/2026:20:00:06.000] fe be/s 0/0/0/0/0 200 1",
            ])
            .to_string()
        };
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    (out, entries)
}

/// Everything `clean_log` has plus what real logs and broken pipes produce: lines without
/// syslog prefix, truncated lines, NUL bytes, tabs, CR, escaped quotes, `<BADREQ>`,
/// IPv6 and unix sources, 8-bit bytes, signed timers and byte counts, odd queues.
fn varied_log(seed: u64, n: usize) -> Vec<u8> {
    let (clean, _) = clean_log(seed, n / 2);
    let mut r = Rng(seed ^ 0x5eed);
    let mut out = clean;
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Jux",
        "Xyz",
    ];
    for i in 0..n / 2 {
        let sec = 72_000 + (i / 5) as u32;
        let prefix = if r.chance(85) {
            syslog_prefix(&mut r, sec)
        } else {
            String::new()
        };
        let date = {
            let day = r.pick(&["04", "04", "04", "15", "31", "4", "40"]);
            let mon = r.pick(&months);
            let year = r.pick(&["2026", "2026", "1999", "2100"]);
            let frac = match r.below(10) {
                0 => "]".to_string(),
                1 => String::new(),
                _ => format!(".{:03}]", r.below(1000)),
            };
            format!(
                "[{day}/{mon}/{year}:{:02}:{:02}:{:02}{frac}",
                sec / 3600 % 24,
                sec / 60 % 60,
                sec % 60
            )
        };
        let src = match r.below(10) {
            0 => "::ffff:1.2.3.4:8080".to_string(),
            1 => "unix".to_string(),
            2 => "[::1]:80".to_string(),
            _ => format!("10.0.{}.{}:{}", r.below(3), r.below(9), r.below(65536)),
        };
        let t = |r: &mut Rng| match r.below(20) {
            0 => "-1".to_string(),
            1 => format!("+{}", r.below(500)),
            2 => r.below(200_000).to_string(),
            _ => r.below(300).to_string(),
        };
        let line = if r.chance(85) {
            let status = r.pick(&[
                "200", "200", "200", "302", "404", "500", "503", "-1", "0", "999", "abc", "1",
            ]);
            let bytes = r.pick(&["1234", "0", "+123", "-", "5", "-7", "99999999999"]);
            let term = r.pick(&[
                "----", "----", "CD--", "sH--", "--NI", "PDVN", "cR", "-", "\u{e9}--", "SC",
            ]);
            let queue = r.pick(&["0/0", "0/0", "0/3", "2/0", "-/0", "0/-", "0", "0/x", "10/1"]);
            let caps = r.pick(&[
                " ",
                " ",
                " {h.com|Mozilla/5.0 (X11; Linux)} ",
                " {a|b|c} {d|} ",
                " {} {x y|z} ",
                " {unterminated ",
            ]);
            let url = r.pick(&[
                "/",
                "/a;jsessionid=1",
                "/search?q=x&y=2",
                "/x?",
                "?only",
                "/caf\u{e9}",
                "/api/v1/items",
            ]);
            let req = match r.below(12) {
                0 => "\"<BADREQ>\"".to_string(),
                1 => format!("\\\"GET {url} HTTP/1.0\\\""),
                2 => format!("\"GET {url}\""),
                3 => "\"GET\"".to_string(),
                _ => format!("\"{} {url} HTTP/1.1\"", r.pick(&["GET", "POST", "HEAD"])),
            };
            format!(
                "{prefix}{src} {date} fe {} {}/{}/{}/{}/{} {status} {bytes} - - {term} 1/1/1/1/0 {queue}{caps}{req}",
                r.pick(&["be/srv1", "be/srv2", "be/<NOSRV>", "z/\u{e9}t\u{e9}"]),
                t(&mut r),
                t(&mut r),
                t(&mut r),
                t(&mut r),
                t(&mut r),
            )
        } else {
            format!(
                "{prefix}{src} {date} ftcp tcp/s1 {}/{}/{} {} -- 1/1/1/1/0 0/0",
                t(&mut r),
                t(&mut r),
                t(&mut r),
                r.below(5000)
            )
        };
        let mut bytes = line.into_bytes();
        // damage some lines
        match r.below(25) {
            0 => {
                let at = r.below(bytes.len() as u64 + 1) as usize;
                bytes.truncate(at);
            }
            1 => {
                let at = r.below(bytes.len() as u64 + 1) as usize;
                bytes.insert(at, 0);
            }
            2 => bytes.push(b'\r'),
            3 => {
                if let Some(p) = bytes.iter().position(|&c| c == b' ') {
                    bytes[p] = b'\t';
                }
            }
            4 => bytes.push(0xff),
            _ => {}
        }
        out.extend_from_slice(&bytes);
        out.push(b'\n');
    }
    out
}

/// `clean_log` with bytes deleted, inserted or repeated at random places.
fn mutated_log(seed: u64, n: usize) -> Vec<u8> {
    let mut r = Rng(seed);
    let (clean, _) = clean_log(seed, n);
    let alphabet = b" /[]{}|\"\\-0123456789:\0\t?;+\xff\r";
    let mut out = Vec::new();
    for line in clean.split(|&c| c == b'\n') {
        let mut l = line.to_vec();
        for _ in 0..[0, 1, 1, 2, 3, 6][r.below(6) as usize] {
            if l.is_empty() {
                break;
            }
            let p = r.below(l.len() as u64) as usize;
            match r.below(5) {
                0 | 1 => {
                    l.remove(p);
                }
                2 | 3 => l.insert(p, alphabet[r.below(alphabet.len() as u64) as usize]),
                _ => {
                    let end = (p + 1 + r.below(20) as usize).min(l.len());
                    let piece = l[p..end].to_vec();
                    l.splice(p..p, piece);
                }
            }
        }
        out.extend_from_slice(&l);
        out.push(b'\n');
    }
    out.pop(); // and no final newline
    out
}

// ---------------------------------------------------------------------------------------
// the modes

/// Every output format and filter of halog 2.6, alone and combined.
const CASES: &[&str] = &[
    // outputs
    "-c",
    "-st",
    "-srv",
    "-u",
    "-uc",
    "-ue",
    "-ua",
    "-ut",
    "-uao",
    "-uto",
    "-uba",
    "-ubt",
    "-u -query",
    "-uc -query",
    "-ubt -query",
    "-pct",
    "-gt",
    "-tc",
    "-cc",
    "-ic",
    "-ic -u",
    "-ic -ue",
    "-hdr 1:1",
    "-hdr 1:2",
    "-hdr 2:1",
    "-hdr 2:2",
    "-hdr 3:1",
    "-ac 1",
    "-ad 100",
    "-ad 100 -ac 2",
    "-ad 10 -ac 3 -m 4",
    // input filters (matching lines printed)
    "-q",
    "-query",
    "-e",
    "-E",
    "-H",
    "-Q",
    "-QS",
    "-tcn SC",
    "-tcn -",
    "-TCN ----",
    "-hs 500",
    "-hs 200:399",
    "-HS 500:",
    "-hs :299",
    "-rt 10",
    "-RT 10",
    "-time 0",
    "-time 1796414400:1796414500",
    "-time 1796414450",
    "-time :1796414450",
    "-time 4294967295",
    // combinations
    "-v -H",
    "-e -v",
    "-v -v -e -c",
    "-c -e",
    "-c -v",
    "-c -H",
    "-c -H -v",
    "-e -u",
    "-E -srv",
    "-H -rt 100 -st",
    "-H -RT 100 -u",
    "-rt 1000 -pct",
    "-pct -e",
    "-gt -E",
    "-Q -e -st",
    "-tcn CD -u",
    "-TCN ---- -tc",
    "-HS 200:299 -st",
    "-time 1796414400:1796414410 -ic",
    "-hdr 1:2 -e",
    "-ic -H",
    "-ic -rt 10",
    // limits
    "-m 2 -H",
    "-m 0 -H",
    "-m 0 -c",
    "-m 5 -c",
    "-m 5 -c -H",
    "-m 1 -st",
    "-m 0 -st",
    "-m 3 -u",
    "-m 2 -srv",
    "-m 1 -tc",
    "-m 2 -ic",
    "-m 10 -pct",
    "-m 3 -gt",
    "-m 3 -hdr 1:1",
    "-m -5 -st",
    // field shifts (lines without syslog prefix need -s -4)
    "-s 0 -st",
    "-s -4 -st",
    "-s -4 -u",
    "-s -4 -srv",
    "-s -4 -ic",
    "-s -4 -hdr 1:1",
    "-s 2 -c -H",
    "-s x -c -H",
    // quiet
    "-q -st",
    "-q -pct",
    "-q -tc",
    "-q -ad 10",
    "-c -q -H",
    // several outputs: halog's precedence
    "-st -c",
    "-u -c",
    "-c -pct",
    "-c -gt -q",
    "-ic -c",
    "-hdr 1:1 -c",
    "-pct -st",
    "-gt -pct",
    "-cc -tc",
    "-st -tc",
    "-u -srv",
    "-st -u",
    "-uc -ue",
    "-hdr 1:1 -st",
    "-hdr 1:1 -u",
    "-ic -pct",
    // command line
    "-foo -st",
    "-st extra -u",
    "- -st",
    "-st -o file",
    "-o -st",
    "-o file -st",
    "-o",
    "-o -o",
    "",
    "-v",
    "-m 2",
    "-s 1",
    "-hs",
    "-hdr",
    "-hdr 1",
    "-hdr 0:1",
    "-hdr :",
    "-hdr x:1",
    "-tcn",
    "-time",
    "-rt",
    "-ad",
];

#[test]
fn same_as_halog_on_varied_logs() {
    if !halog_installed() {
        return;
    }
    let dir = TempDir::new();
    let clean = dir.file("clean.log", &clean_log(1, 3000).0);
    let varied = dir.file("varied.log", &varied_log(2, 4000));
    compare_with_halog(&clean, CASES);
    compare_with_halog(&varied, CASES);
}

#[test]
fn same_as_halog_on_mutated_logs() {
    if !halog_installed() {
        return;
    }
    let dir = TempDir::new();
    for seed in [3, 4] {
        let log = dir.file(&format!("mutated{seed}.log"), &mutated_log(seed, 3000));
        compare_with_halog(&log, CASES);
    }
}

#[test]
fn same_as_halog_in_a_time_zone_with_summer_time() {
    if !halog_installed() || !Path::new("/usr/share/zoneinfo/Europe/Paris").exists() {
        return;
    }
    let dir = TempDir::new();
    let log = dir.file("varied.log", &varied_log(5, 3000));
    for args in [
        &["-time", "1796410800:1796414450", "-c"][..],
        &["-time", "0", "-st"],
    ] {
        let with_tz = |bin: &str| {
            Command::new(bin)
                .args(args)
                .env("TZ", "Europe/Paris")
                .stdin(fs::File::open(&log).expect("open log"))
                .output()
                .expect("run")
        };
        let (theirs, ours) = (with_tz(HALOG), with_tz(env!("CARGO_BIN_EXE_halo-log")));
        assert_eq!(stdout(&theirs), stdout(&ours), "{args:?}");
        assert_eq!(stderr(&theirs), stderr(&ours), "{args:?}");
    }
}

// ---------------------------------------------------------------------------------------
// values computed here (run whether halog is installed or not)

fn summary(o: &Output) -> String {
    stderr(o).lines().last().unwrap_or("").to_string()
}

#[test]
fn computed_counts_and_filters() {
    let dir = TempDir::new();
    let (content, entries) = clean_log(11, 4000);
    let log = dir.file("clean.log", &content);
    let n = entries.len();
    let bad = entries.iter().filter(|e| matches!(e, Entry::Bad)).count();
    let http: Vec<&Http> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Http(h) => Some(h),
            _ => None,
        })
        .collect();
    // "status" as halog reads it: tcplog lines have their byte count there
    let statuses: Vec<i32> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Http(h) => Some(h.status),
            Entry::Tcp(_, bytes) => Some(*bytes),
            Entry::Bad => None,
        })
        .collect();

    assert_eq!(stdout(&halo_log(&["-c"], &log)), format!("{n}\n"));
    assert_eq!(
        stdout(&halo_log(&["-c", "-H"], &log)),
        format!("{}\n", http.len())
    );
    let errors = statuses
        .iter()
        .filter(|&&s| s < 0 || (500..600).contains(&s))
        .count();
    assert_eq!(
        stdout(&halo_log(&["-c", "-e"], &log)),
        format!("{errors}\n")
    );
    assert_eq!(
        stdout(&halo_log(&["-c", "-E"], &log)),
        format!("{}\n", statuses.len() - errors)
    );
    // -v inverts the filters, not the parsing errors
    assert_eq!(
        stdout(&halo_log(&["-c", "-e", "-v"], &log)),
        format!("{}\n", statuses.len() - errors)
    );
    let s4xx = statuses
        .iter()
        .filter(|&&s| (400..=499).contains(&s))
        .count();
    assert_eq!(
        stdout(&halo_log(&["-c", "-hs", "400:499"], &log)),
        format!("{s4xx}\n")
    );
    let slow = http.iter().filter(|h| h.timers[3] >= 100).count();
    assert_eq!(
        stdout(&halo_log(&["-c", "-rt", "100"], &log)),
        format!("{slow}\n")
    );
    let cd = http.iter().filter(|h| h.term.starts_with("CD")).count();
    assert_eq!(
        stdout(&halo_log(&["-c", "-tcn", "CD"], &log)),
        format!("{cd}\n")
    );
    assert_eq!(stdout(&halo_log(&["-c", "-m", "7"], &log)), "7\n");

    // printed lines are the input lines
    let printed = halo_log(&["-e"], &log);
    assert_eq!(
        printed
            .stdout
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
        errors
    );
    assert_eq!(
        summary(&printed),
        format!("{n} lines in, {errors} lines out, {bad} parsing errors")
    );

    // -st
    let mut by_status: BTreeMap<i32, u32> = BTreeMap::new();
    for &s in &statuses {
        *by_status.entry(s).or_default() += 1;
    }
    let expected: String = by_status
        .iter()
        .map(|(s, c)| format!("{s} {c}\n"))
        .collect();
    let o = halo_log(&["-st"], &log);
    assert_eq!(stdout(&o), expected);
    assert_eq!(
        summary(&o),
        format!(
            "{n} lines in, {} lines out, {bad} parsing errors",
            by_status.len()
        )
    );

    // -tc: tcplog lines have no termination state where httplog lines have it
    let mut by_term: BTreeMap<String, u32> = BTreeMap::new();
    for h in &http {
        *by_term.entry(h.term[..2].to_string()).or_default() += 1;
    }
    let mut expected: Vec<(i32, String)> = by_term
        .iter()
        .map(|(t, c)| {
            let b = t.as_bytes();
            (256 * b[0] as i32 + b[1] as i32, format!("{t} {c}\n"))
        })
        .collect();
    expected.sort();
    let expected: String = expected.into_iter().map(|(_, l)| l).collect();
    let o = halo_log(&["-tc"], &log);
    assert_eq!(stdout(&o), expected);
    let tcp = entries
        .iter()
        .filter(|e| matches!(e, Entry::Tcp(..)))
        .count();
    assert_eq!(stderr(&o).matches("Truncated line ").count(), tcp);
    assert_eq!(stderr(&halo_log(&["-tc", "-q"], &log)), "");
}

#[test]
fn computed_servers_and_urls() {
    let dir = TempDir::new();
    let (content, entries) = clean_log(12, 4000);
    let log = dir.file("clean.log", &content);

    // -srv
    #[derive(Default)]
    struct Srv {
        st: [u32; 6],
        ok: u32,
        ct: (u64, u64),
        rt: (u64, u64),
    }
    let mut srv: BTreeMap<String, Srv> = BTreeMap::new();
    for e in &entries {
        match e {
            Entry::Http(h) => {
                let s = srv.entry(h.server.clone()).or_default();
                let t = h.timers;
                if t.iter().all(|&v| v >= 0) {
                    s.ok += 1;
                }
                if t[2] >= 0 {
                    s.ct = (s.ct.0 + t[2] as u64, s.ct.1 + 1);
                }
                if t[3] >= 0 {
                    s.rt = (s.rt.0 + t[3] as u64, s.rt.1 + 1);
                }
                let class = match h.status {
                    100..=599 => (h.status / 100) as usize,
                    _ => 0,
                };
                s.st[class] += 1;
            }
            // listed, but its 3 timers are a parsing error
            Entry::Tcp(name, _) => {
                srv.entry(name.clone()).or_default();
            }
            Entry::Bad => {}
        }
    }
    let mut expected =
        "#srv_name 1xx 2xx 3xx 4xx 5xx other tot_req req_ok pct_ok avg_ct avg_rt\n".to_string();
    for (name, s) in &srv {
        let tot: u32 = s.st.iter().sum();
        expected += &format!(
            "{name} {} {} {} {} {} {} {tot} {} {:.1} {} {}\n",
            s.st[1],
            s.st[2],
            s.st[3],
            s.st[4],
            s.st[5],
            s.st[0],
            s.ok,
            s.ok as f64 * 100.0 / tot.max(1) as f64,
            s.ct.0 / s.ct.1.max(1),
            s.rt.0 / s.rt.1.max(1)
        );
    }
    assert_eq!(stdout(&halo_log(&["-srv"], &log)), expected);

    // -u and its sort orders
    #[derive(Default, Clone, Copy)]
    struct Url {
        req: u64,
        err: u64,
        time: u64,
        time_ok: u64,
        bytes: u64,
    }
    let mut urls: BTreeMap<String, Url> = BTreeMap::new();
    let mut ips: BTreeMap<String, Url> = BTreeMap::new();
    for e in &entries {
        if let Entry::Http(h) = e {
            let t = h.timers;
            let u = urls.entry(h.path.clone()).or_default();
            u.req += 1;
            u.err += t.iter().any(|&v| v < 0) as u64;
            u.time += if t[3] >= 0 { t[3] } else { t[4] } as u64;
            u.time_ok += t[3].max(0) as u64;
            u.bytes += h.bytes as u64;
            // -ic: the request time instead of the response time, errors on it or the total
            let i = ips.entry(h.src.clone()).or_default();
            i.req += 1;
            i.err += (t[0] < 0 || t[4] < 0) as u64;
            i.time += if t[0] >= 0 { t[0] } else { t[4] } as u64;
            i.time_ok += t[0].max(0) as u64;
            i.bytes += h.bytes as u64;
        }
    }
    let row = |name: &str, u: &Url| {
        let ok = u.req - u.err;
        format!(
            "{} {} {} {} {} {} {} {} {name}\n",
            u.req,
            u.err,
            u.time,
            u.time / u.req,
            u.time_ok,
            u.time_ok.checked_div(ok).unwrap_or(0),
            u.bytes / u.req,
            u.bytes
        )
    };
    let table = |map: &BTreeMap<String, Url>, key: &dyn Fn(&Url) -> u64| {
        let mut rows: Vec<(u64, &String, &Url)> = map.iter().map(|(k, u)| (key(u), k, u)).collect();
        rows.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let mut s = "#req err ttot tavg oktot okavg bavg btot src\n".to_string();
        for (_, k, u) in rows.iter().rev() {
            s += &row(k, u);
        }
        s
    };
    type SortKey<'a> = (&'a str, &'a dyn Fn(&Url) -> u64);
    let sorts: [SortKey; 9] = [
        ("-u", &|_| 0),
        ("-uc", &|u| u.req),
        ("-ue", &|u| u.err),
        ("-ut", &|u| u.time),
        ("-ua", &|u| u.time / u.req),
        ("-uto", &|u| u.time_ok),
        ("-uao", &|u| {
            if u.req > u.err {
                u.time_ok / (u.req - u.err)
            } else {
                0
            }
        }),
        ("-ubt", &|u| u.bytes),
        ("-uba", &|u| u.bytes / u.req),
    ];
    for (flag, key) in sorts {
        assert_eq!(
            stdout(&halo_log(&[flag], &log)),
            table(&urls, key),
            "{flag}"
        );
    }
    assert_eq!(
        stdout(&halo_log(&["-ic"], &log)),
        table(&ips, &|u| u.req),
        "-ic"
    );
}

#[test]
fn computed_percentiles() {
    let dir = TempDir::new();
    let (content, entries) = clean_log(13, 3000);
    let log = dir.file("clean.log", &content);
    let ok: Vec<[i32; 5]> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Http(h) if h.timers.iter().all(|&t| t >= 0) => Some(h.timers),
            _ => None,
        })
        .collect();
    let o = halo_log(&["-pct"], &log);
    let out = stdout(&o);
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(rows.len(), 72, "{out}");
    // the last row: 100%, all requests, the largest of each time
    let max = |f: &dyn Fn(&[i32; 5]) -> i32| ok.iter().map(f).max().unwrap_or(0).to_string();
    let last = &rows[71];
    assert_eq!(last[0], "100.0");
    assert_eq!(last[1], ok.len().to_string());
    assert_eq!(last[2], max(&|t| t[0]));
    assert_eq!(last[3], max(&|t| t[2]));
    assert_eq!(last[4], max(&|t| t[3]));
    assert_eq!(last[5], max(&|t| t[4] - t[0] - t[1] - t[2] - t[3]));
    // the median response time
    let mut rt: Vec<i32> = ok.iter().map(|t| t[3]).collect();
    rt.sort();
    let half = rows.iter().find(|r| r[0] == "50.0").map(|r| r[4]);
    let thres = (ok.len() as f64 * 0.5) as usize;
    assert_eq!(half, Some(rt[thres.max(1) - 1].to_string().as_str()));
    assert_eq!(
        summary(&o),
        format!(
            "{} lines in, {} lines out, {} parsing errors",
            entries.len(),
            ok.len(),
            entries
                .iter()
                .filter(|e| !matches!(e, Entry::Http(_)))
                .count()
        )
    );
}

#[test]
fn command_line_errors() {
    let dir = TempDir::new();
    let log = dir.file("empty.log", b"");
    for (args, msg) in [
        (&[][..], "No action specified.\n"),
        (&["-v"], "No action specified.\n"),
        (&["-o", "out", "-st"], "No action specified.\n"),
        (&["-m"], "missing option for -m\n"),
        (&["-hs"], "missing option for -hs/-HS ([min]:[max])\n"),
        (&["-hdr", "2"], "missing colon in -hdr (<block>:<field>)\n"),
        (
            &["-hdr", "0:1"],
            "block and field must be at least 1 for -hdr (<block>:<field>)\n",
        ),
    ] {
        let o = halo_log(args, &log);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&o).starts_with(&format!("{msg}Usage:\n")),
            "{args:?}: {}",
            stderr(&o)
        );
        assert!(o.stdout.is_empty());
    }
    let help = halo_log(&["-h"], &log);
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains(" -uba, -ubt: average bytes returned, total bytes returned\n"));
    // an empty input
    let o = halo_log(&["-st"], &log);
    assert_eq!(
        (stdout(&o).as_str(), stderr(&o).as_str()),
        ("", "0 lines in, 0 lines out, 0 parsing errors\n")
    );
    assert_eq!(stdout(&halo_log(&["-c"], &log)), "0\n");
}
