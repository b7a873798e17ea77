//! Custom error pages in the configuration: `errorfile`, `errorloc*`, `errorfiles`,
//! `http-error` and `http-errors` sections: what is read, what is inherited, and each
//! error and warning with its file:line and HAProxy 2.6's wording.

use std::sync::Arc;

use halo_config::model::{Config, ErrorPageKind, Page};
use halo_config::{ReadOptions, Severity, load_text};

fn opts() -> ReadOptions<'static> {
    ReadOptions {
        version: "3.5.0",
        features: &["THREAD"],
        diag_mode: false,
    }
}

fn load(text: &str) -> (Config, Vec<String>, Vec<String>) {
    let (cfg, d) = load_text("t.cfg", text, &opts());
    let of = |s: Severity| {
        d.items
            .iter()
            .filter(|i| i.severity == s)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
    };
    let (a, w) = (of(Severity::Alert), of(Severity::Warning));
    (cfg, a, w)
}

const HEAD: &str = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n";

/// A scratch folder of error files, removed at the end of the test.
struct Files(std::path::PathBuf);

impl Files {
    fn new() -> Files {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("halo-error-pages-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Files(dir)
    }
    fn add(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn page_of(cfg: &Config, proxy: usize, code: u16) -> Option<Arc<Page>> {
    cfg.proxies[proxy]
        .settings
        .error_pages
        .iter()
        .rev()
        .find_map(|d| match &d.what {
            ErrorPageKind::Page(c, p) if *c == code => Some(p.clone()),
            _ => None,
        })
}

#[test]
fn pages_are_read_with_the_configuration_and_inherited() {
    let f = Files::new();
    let p503 = f.add(
        "503.http",
        "HTTP/1.1 503 Busy\r\nContent-Length: 2\r\n\r\nno",
    );
    let t = format!(
        "{HEAD}    errorfile 503 {p503}\n    errorloc 404 /nf\nfrontend f\n    bind 127.0.0.1:1\n    errorloc303 404 /other\n    default_backend b\nbackend b\n    http-error status 503 default-errorfiles\n"
    );
    let (cfg, a, w) = load(&t);
    assert!(a.is_empty() && w.is_empty(), "{a:?} {w:?}");
    assert!(cfg.pending.is_empty(), "{:?}", cfg.pending);
    // The frontend has the two pages of `defaults`, then its own 404.
    let fe = &cfg.proxies[0].settings.error_pages;
    assert_eq!(fe.len(), 3);
    assert_eq!(
        page_of(&cfg, 0, 503).map(|p| p.head.clone()),
        Some(b"HTTP/1.1 503 Busy\r\ncontent-length: 2\r\n".to_vec())
    );
    assert_eq!(page_of(&cfg, 0, 404).map(|p| p.status), Some(303));
    assert_eq!(fe[0].loc.line, 6);
    // The backend: the defaults' lines, then its reset of 503.
    let be = &cfg.proxies[1].settings.error_pages;
    assert!(matches!(
        be.last().map(|d| &d.what),
        Some(ErrorPageKind::Default(503))
    ));
}

#[test]
fn http_errors_sections_and_references() {
    let f = Files::new();
    let p404 = f.add("404.http", "HTTP/1.1 404 S\r\nContent-Length: 0\r\n\r\n");
    let t = format!(
        "{HEAD}frontend f\n    bind 127.0.0.1:1\n    errorfiles site1 404 503\n    errorfiles nosuch\n    http-error status 503 errorfiles nosuch2\n    http-request return status 500 errorfiles site1 if {{ path /x }}\n    http-request deny errorfiles nosuch3\n    default_backend b\nbackend b\n    errorfiles later\nhttp-errors site1\n    errorfile 404 {p404}\nhttp-errors later\n    errorfile 404 {p404}\n"
    );
    let (cfg, a, w) = load(&t);
    assert_eq!(
        a,
        [
            "[ALERT] parsing [t.cfg:9] : proxy 'f': unknown http-errors section 'nosuch'.",
            "[ALERT] parsing [t.cfg:10] : proxy 'f': unknown http-errors section 'nosuch2'.",
            "[ALERT] parsing [t.cfg:12] : proxy 'f': unknown http-errors section 'nosuch3' referenced by an http reply.",
        ]
    );
    assert_eq!(
        w,
        [
            "[WARNING] parsing [t.cfg:8] : proxy 'f' : status '503' not declared in http-errors section 'site1'.",
            "[WARNING] parsing [t.cfg:11] : proxy 'f': status '500' referenced by an http reply not declared in http-errors section 'site1'.",
        ]
    );
    assert_eq!(cfg.http_errors.len(), 2);
    assert_eq!(
        cfg.http_errors("site1")
            .and_then(|h| h.page(404))
            .map(|p| p.status),
        Some(404)
    );
    assert!(cfg.pending.is_empty(), "{:?}", cfg.pending);
}

#[test]
fn errors_with_file_and_line() {
    let f = Files::new();
    let bad = f.add(
        "bad.http",
        "HTTP/1.1 503 X\r\nContent-Length: 10\r\n\r\nshort",
    );
    let chunked = f.add(
        "c.http",
        "HTTP/1.1 503 X\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    let big = f.add("big.http", &"x".repeat(20000));
    let good = f.add("ok.http", "HTTP/1.1 503 X\r\nContent-Length: 0\r\n\r\n");
    let t = format!(
        "{HEAD}listen l\n    bind 127.0.0.1:1\n    errorfile 503 /nonexistent/x.http\n    errorfile 503 {bad}\n    errorfile 503 {chunked}\n    errorfile 503 {big}\n    errorfile 418 {good}\n    errorfile 414 {good}\n    errorfile 503\n    errorloc 503\n    errorloc302 418 /x\n    errorfiles\n    errorfiles site 404 418\n    http-error status 418\n    http-error content-type text/plain\n    http-error status 503 string hi\n    http-error status 503 foo bar\n    http-error status 503 string a lf-string b\n    http-error status 600\n"
    );
    let (_, a, w) = load(&t);
    let want = [
        "[t.cfg:8] : errorfile : error opening file '/nonexistent/x.http'.".to_string(),
        format!(
            "[t.cfg:9] : errorfile : '{bad}': payload size does not match the announced content-length (5 != 10)"
        ),
        format!("[t.cfg:10] : errorfile : '{chunked}': chunk-encoded payload not supported"),
        format!(
            "[t.cfg:11] : errorfile : '{big}': the file is larger than the buffer size (20000 > 16384 bytes, see 'tune.bufsize')"
        ),
        "[t.cfg:12] : errorfile : status code '418' not handled.".to_string(),
        "[t.cfg:14] : errorfile : expects <status_code> and <file> as arguments.".to_string(),
        "[t.cfg:15] : errorloc : expects <status_code> and <url> as arguments.".to_string(),
        "[t.cfg:16] : errorloc302 : status code '418' not handled.".to_string(),
        "[t.cfg:17] : errorfiles : expects <name> as argument.".to_string(),
        "[t.cfg:18] : errorfiles : status code '418' not handled.".to_string(),
        "[t.cfg:19] : http-error: status code '418' not handled.".to_string(),
        "[t.cfg:20] : http-error : expects at least a <status> as arguments.".to_string(),
        "[t.cfg:21] : http-error : a content type must be defined when non-empty payload is configured".to_string(),
        "[t.cfg:22] : http-error : unknown keyword 'foo'.".to_string(),
        "[t.cfg:23] : http-error : unexpected 'lf-string' argument, 'string' already defined".to_string(),
        "[t.cfg:24] : http-error : Unexpected status code '600'".to_string(),
    ];
    let got: Vec<String> = a
        .iter()
        .map(|s| s.trim_start_matches("[ALERT] parsing ").to_string())
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        w,
        [
            "[WARNING] parsing [t.cfg:20] : content-type 'text/plain' ignored by the http reply because neither errorfile nor payload defined."
        ]
    );
}

#[test]
fn http_errors_section_errors() {
    let f = Files::new();
    let good = f.add("ok.http", "HTTP/1.1 404 X\r\nContent-Length: 0\r\n\r\n");
    let t = format!(
        "{HEAD}http-errors site1\n    errorfile 404 {good}\n    errorfile 418 {good}\n    errorfile 503 /nonexistent/y\n    errorfile 503\n    errorloc 503 /x\nhttp-errors site1\nhttp-errors bad!name\nhttp-errors\n"
    );
    let (cfg, a, _) = load(&t);
    let got: Vec<String> = a
        .iter()
        .map(|s| s.trim_start_matches("[ALERT] parsing ").to_string())
        .collect();
    assert_eq!(
        got,
        [
            "[t.cfg:8] : errorfile : status code '418' not handled.",
            "[t.cfg:9] : errorfile : error opening file '/nonexistent/y'.",
            "[t.cfg:10] : errorfile : expects <status_code> and <file> as arguments.",
            "[t.cfg:11] : unknown keyword 'errorloc' in 'http-errors' section",
            "[t.cfg:12] : http-errors section 'site1' already exists (declared at t.cfg:6).",
            "[t.cfg:13] : character '!' is not permitted in 'http-errors' name 'bad!name'.",
            "[t.cfg:14] : missing name for http-errors section.",
        ]
    );
    assert_eq!(cfg.http_errors("site1").map(|h| h.pages.len()), Some(1));
}

#[test]
fn http_error_warnings() {
    let f = Files::new();
    let good = f.add("ok.http", "HTTP/1.1 503 X\r\nContent-Length: 0\r\n\r\n");
    let t = format!(
        "{HEAD}listen l\n    bind 127.0.0.1:1\n    http-error status 503 errorfile {good} content-type text/plain hdr a b\n    http-error status 503 content-type text/plain string x hdr Content-Length 9\n"
    );
    let (cfg, a, w) = load(&t);
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(
        w,
        [
            "[WARNING] parsing [t.cfg:8] : content-type 'text/plain' ignored by the http reply when used with an errorfile.",
            "[WARNING] parsing [t.cfg:8] : hdr parameters ignored by the http reply when used with an errorfile.",
            "[WARNING] parsing [t.cfg:9] : header 'Content-Length' always ignored by the http reply.",
        ]
    );
    let d = &cfg.proxies[0].settings.error_pages;
    assert!(matches!(&d[0].what, ErrorPageKind::Page(503, _)));
    assert!(matches!(&d[1].what, ErrorPageKind::Reply(503, args) if args.len() == 9));
}
