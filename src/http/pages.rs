//! A proxy's custom error pages (`errorfile`, `errorloc*`, `errorfiles`, `http-error`):
//! compiled from the model in line order, looked up as HAProxy 2.6 does (the backend's
//! page, then the frontend's, then HAProxy's own), and turned into the bytes to send.

use std::borrow::Cow;

use halo_config::Diags;
use halo_config::errorfile::page_code;
use halo_config::model::{Config, ErrorPageKind, Page, Proxy};

use crate::compile::Runtime;
use crate::http::errors::{default_page, early_default};
use crate::http::h1::{Head, Version};
use crate::http::rules::{Answer, CompileCx, Env, Reply, Txn, build_reply, compile_http_error};

/// One custom answer of a proxy.
#[derive(Debug)]
pub enum Custom {
    /// A whole response (`errorfile`, `errorloc`, an `http-errors` page): the answer, and
    /// its bytes as sent on a connection that ends after it. An empty file gives an empty
    /// answer: nothing is sent.
    Page { answer: Answer, wire: Vec<u8> },
    /// An `http-error` with a payload or fields, built for each request.
    Reply(Reply),
}

impl Custom {
    fn page(code: u16, p: &Page) -> Custom {
        let answer = Answer {
            status: if p.head.is_empty() { code } else { p.status },
            head: p.head.clone(),
            body: p.body.clone(),
        };
        let mut wire = Vec::new();
        answer.write(&mut wire, None, true);
        Custom::Page { answer, wire }
    }

    /// Whether this is an empty page (the connection closes without an answer).
    fn is_empty(&self) -> bool {
        matches!(self, Custom::Page { answer, .. } if answer.head.is_empty())
    }
}

/// The custom pages of one proxy, by status code (a code of
/// `halo_config::errorfile::ERROR_CODES`).
#[derive(Debug, Default)]
pub struct Pages {
    slots: Vec<(u16, Custom)>,
}

impl Pages {
    /// Applies the proxy's `errorfile`/`errorloc`/`errorfiles`/`http-error` lines in order
    /// (those inherited from `defaults` first). Unknown `http-errors` names were reported
    /// by the checker.
    pub fn compile(p: &Proxy, cfg: &Config, cx: &CompileCx<'_>, diags: &mut Diags) -> Pages {
        let mut pages = Pages::default();
        for d in &p.settings.error_pages {
            match &d.what {
                ErrorPageKind::Page(code, page) => {
                    pages.set(*code, Some(Custom::page(*code, page)))
                }
                ErrorPageKind::Default(code) => pages.set(*code, None),
                ErrorPageKind::Import { section, codes } => {
                    let Some(h) = cfg.http_errors(section) else {
                        continue;
                    };
                    let mut seen: Vec<u16> = Vec::new();
                    for (code, page) in h.pages.iter().rev() {
                        if seen.contains(code) || (!codes.is_empty() && !codes.contains(code)) {
                            continue;
                        }
                        seen.push(*code);
                        pages.set(*code, Some(Custom::page(*code, page)));
                    }
                }
                ErrorPageKind::Reply(code, args) => {
                    let located = crate::sample::Located::new(cx.resolver, &d.loc.file, d.loc.line);
                    let cx = CompileCx {
                        registry: cx.registry,
                        resolver: &located,
                        http_errors: cx.http_errors,
                        bufsize: cx.bufsize,
                        cookielen: cx.cookielen,
                    };
                    match compile_http_error(args, &cx) {
                        Ok(r) => pages.set(*code, Some(Custom::Reply(r))),
                        Err(e) => diags.alert(
                            &d.loc,
                            format!(
                                "error detected in {} '{}' while parsing 'http-error' : {e}.",
                                p.kind.name(),
                                p.name
                            ),
                        ),
                    }
                }
            }
        }
        pages
    }

    fn set(&mut self, code: u16, c: Option<Custom>) {
        self.slots.retain(|(s, _)| *s != code);
        if let Some(c) = c {
            self.slots.push((code, c));
        }
    }

    /// The custom answer for `status` (codes without a page of their own use the 500 one).
    pub fn get(&self, status: u16) -> Option<&Custom> {
        if self.slots.is_empty() {
            return None;
        }
        let code = page_code(status);
        self.slots.iter().find(|(s, _)| *s == code).map(|(_, c)| c)
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// The custom page for `status` in a stream of frontend `fe` and backend `be`: the
/// backend's, else the frontend's (before `use_backend`, the frontend is the backend).
fn custom(rt: &Runtime, fe: usize, be: Option<usize>, status: u16) -> Option<&Custom> {
    let of = |i: usize| rt.proxies.get(i).and_then(|p| p.http.pages.get(status));
    be.and_then(of).or_else(|| of(fe))
}

/// The answer for `status` where the rules answer (deny, tarpit, monitor-uri, a failed
/// rewrite): the proxies' page, or HAProxy's.
pub fn answer(env: &Env<'_>, status: u16, ctx: &crate::sample::Ctx<'_>) -> Answer {
    match custom(env.rt, env.frontend, env.backend, status) {
        Some(Custom::Page { answer, .. }) => answer.clone(),
        Some(Custom::Reply(r)) => build_reply(r, env, ctx),
        None => Answer::page(status),
    }
}

/// The bytes halo sends for an error it finds once the request head is read (no server,
/// a bad response, a broken body), before closing: the proxies' page, or HAProxy's, as
/// HAProxy sends it to an HTTP/1.1 client (no allocation then), with `connection: close`
/// to an HTTP/1.0 one, without the body for a HEAD. Empty: close without an answer (an
/// empty `errorfile`).
pub fn stream_page<'a>(env: &Env<'a>, status: u16, req: Option<&Head>, txn: &Txn) -> Cow<'a, [u8]> {
    let rt: &'a Runtime = env.rt;
    let v10 = req.is_some_and(|h| h.version() == Version::Http10);
    let with_body = req.is_none_or(|h| h.method() != b"HEAD");
    let bytes = |a: &Answer| {
        let mut out = Vec::with_capacity(a.head.len() + a.body.len() + 24);
        a.write(&mut out, v10.then_some("close"), with_body);
        Cow::Owned(out)
    };
    match custom(rt, env.frontend, env.backend, status) {
        Some(Custom::Page { answer, .. }) if v10 => bytes(answer),
        Some(Custom::Page { answer, wire }) => {
            let end = if with_body {
                wire.len()
            } else {
                wire.len() - answer.body.len()
            };
            Cow::Borrowed(&wire[..end])
        }
        Some(Custom::Reply(r)) => {
            let ctx = env.ctx(req, None, txn);
            bytes(&build_reply(r, env, &ctx))
        }
        None if v10 => bytes(&Answer::page(status)),
        None => {
            let page = default_page(status);
            let end = match page.windows(4).position(|w| w == b"\r\n\r\n") {
                Some(i) if !with_body => i + 4,
                _ => page.len(),
            };
            Cow::Borrowed(&page[..end])
        }
    }
}

/// The bytes for an error of the HTTP/1 layer (a malformed or incomplete request head,
/// `timeout http-request`). As in HAProxy 2.6, the proxy's pages are not used there: the
/// built-in text is sent, unless the frontend's page for the code is an empty file (the
/// documented `errorfile 408 /dev/null`), which closes without an answer.
pub fn early_page(rt: &Runtime, fe: usize, status: u16) -> &'static [u8] {
    let silent = rt
        .proxies
        .get(fe)
        .and_then(|p| p.http.pages.get(status))
        .is_some_and(Custom::is_empty);
    if silent { b"" } else { early_default(status) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile;
    use crate::http::h1::{Limits, parse_request};
    use crate::http::rules::{Txn, Verdict};

    struct Lab {
        dir: tempfile::TempDir,
    }

    impl Lab {
        fn new() -> Lab {
            Lab {
                dir: tempfile::tempdir().unwrap(),
            }
        }
        fn file(&self, name: &str, text: &str) -> String {
            let p = self.dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p.display().to_string()
        }
        fn rt(&self, body: &str) -> Runtime {
            let text = format!(
                "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n{body}"
            );
            let opts = halo_config::ReadOptions {
                version: "3.5.0",
                features: &[],
                diag_mode: false,
            };
            let (cfg, mut diags) = halo_config::load_text("t.cfg", &text, &opts);
            assert!(!diags.has_alerts(), "{diags:?}");
            let rt = compile(&cfg, 1000, true, &mut diags);
            assert!(!diags.has_alerts(), "{diags:?}");
            rt
        }
    }

    fn env(rt: &Runtime, fe: usize, be: Option<usize>) -> Env<'_> {
        Env {
            rt,
            body: &[],
            body_ready: true,
            src: "127.0.0.1:5000".parse().unwrap(),
            dst: "127.0.0.1:80".parse().unwrap(),
            frontend: fe,
            backend: be,
            server: None,
            listener_id: 0,
            first_req: true,
            tls: None,
            bc_tls: None,
        }
    }

    fn req(raw: &str) -> Head {
        let mut h = Head::new();
        parse_request(raw.as_bytes(), &Limits::default(), &mut h)
            .unwrap()
            .unwrap();
        h
    }

    fn page(rt: &Runtime, fe: usize, be: Option<usize>, status: u16) -> String {
        let h = req("GET /p HTTP/1.1\r\nHost: hx\r\n\r\n");
        let txn = crate::http::rules::Txn::default();
        String::from_utf8(stream_page(&env(rt, fe, be), status, Some(&h), &txn).to_vec()).unwrap()
    }

    fn on_req(rt: &Runtime, px: usize, raw: &str) -> String {
        let mut h = req(raw);
        let mut txn = Txn::default();
        let p = &rt.proxies[px];
        let e = env(rt, px, Some(px));
        let v = match p.http.rules.monitor(&p.acls, &e, &h, &txn) {
            Some(a) => Verdict::Answer(a),
            None => p.http.rules.request(&p.acls, &e, &mut h, &mut txn),
        };
        let a = match v {
            Verdict::Answer(a) | Verdict::Deny(a) | Verdict::Tarpit(a, _) => a,
            other => panic!("no answer: {other:?}"),
        };
        let mut out = Vec::new();
        a.write(&mut out, None, true);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn backend_page_then_frontend_page_then_haproxy_page() {
        let lab = Lab::new();
        let fe503 = lab.file("fe", "HTTP/1.1 503 FE\r\nContent-Length: 2\r\n\r\nfe");
        let be503 = lab.file("be", "HTTP/1.1 503 BE\r\nContent-Length: 2\r\n\r\nbe");
        let rt = lab.rt(&format!(
            "frontend f\n    bind 127.0.0.1:1\n    errorfile 503 {fe503}\n    default_backend b1\nbackend b1\n    errorfile 503 {be503}\nbackend b2\n    http-error status 503 default-errorfiles\nbackend b3\n"
        ));
        assert_eq!(
            page(&rt, 0, Some(1), 503),
            "HTTP/1.1 503 BE\r\ncontent-length: 2\r\n\r\nbe"
        );
        assert_eq!(
            page(&rt, 0, Some(2), 503),
            "HTTP/1.1 503 FE\r\ncontent-length: 2\r\n\r\nfe"
        );
        assert_eq!(
            page(&rt, 0, None, 503),
            "HTTP/1.1 503 FE\r\ncontent-length: 2\r\n\r\nfe"
        );
        // A code without a page of its own uses the 500 one; none here: HAProxy's 502.
        assert_eq!(page(&rt, 0, Some(1), 502).as_bytes(), default_page(502));
        // A backend alone (no frontend page): HAProxy's.
        assert_eq!(page(&rt, 3, Some(3), 503).as_bytes(), default_page(503));
        assert!(rt.proxies[3].http.pages.is_empty());
    }

    #[test]
    fn errorloc_http_errors_and_http_error() {
        let lab = Lab::new();
        let s404 = lab.file("404", "HTTP/1.1 404 S1\r\nContent-Length: 2\r\n\r\ns1");
        let s503 = lab.file("503", "HTTP/1.1 503 S1\r\nContent-Length: 2\r\n\r\ns1");
        let rt = lab.rt(&format!(
            "listen l\n    bind 127.0.0.1:1\n    errorloc302 403 /e?x=1\n    errorloc303 500 http://e.x/y\n    errorfiles site1 404\n    http-error status 503 content-type text/plain lf-string \"host=%[req.hdr(host)]\" hdr X-P \"%[path]\" hdr content-length 99\n    http-error status 502 errorfiles site1\n    http-request deny if {{ path /d }}\n    http-request deny deny_status 404 if {{ path /n }}\n    http-request return status 404 errorfiles site1 if {{ path /r }}\n    http-request return status 500 errorfiles site1 if {{ path /r5 }}\n    server s 127.0.0.1:1\nhttp-errors site1\n    errorfile 404 {s404}\n    errorfile 503 {s503}\n"
        ));
        assert_eq!(
            page(&rt, 0, Some(0), 503),
            "HTTP/1.1 503 Service Unavailable\r\nx-p: /p\r\ncontent-length: 7\r\ncontent-type: text/plain\r\n\r\nhost=hx"
        );
        assert_eq!(
            page(&rt, 0, Some(0), 500),
            "HTTP/1.1 303 See Other\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: http://e.x/y\r\n\r\n"
        );
        // 502 is not in site1: HAProxy's page. 418 has no page: the 500 one.
        assert_eq!(page(&rt, 0, Some(0), 502).as_bytes(), default_page(502));
        assert!(page(&rt, 0, Some(0), 418).starts_with("HTTP/1.1 303 "));
        assert_eq!(
            on_req(&rt, 0, "GET /d HTTP/1.1\r\n\r\n"),
            "HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: /e?x=1\r\n\r\n"
        );
        assert_eq!(
            on_req(&rt, 0, "GET /n HTTP/1.1\r\n\r\n"),
            "HTTP/1.1 404 S1\r\ncontent-length: 2\r\n\r\ns1"
        );
        assert_eq!(
            on_req(&rt, 0, "GET /r HTTP/1.1\r\n\r\n"),
            "HTTP/1.1 404 S1\r\ncontent-length: 2\r\n\r\ns1"
        );
        assert_eq!(
            on_req(&rt, 0, "GET /r5 HTTP/1.1\r\n\r\n"),
            "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n"
        );
    }

    #[test]
    fn monitor_and_empty_pages() {
        let lab = Lab::new();
        let ok = lab.file("200", "HTTP/1.1 200 Up\r\nContent-Length: 3\r\n\r\nup!");
        let empty = lab.file("empty", "");
        let rt = lab.rt(&format!(
            "frontend f\n    bind 127.0.0.1:1\n    monitor-uri /mon\n    errorfile 200 {ok}\n    errorfile 408 {empty}\n    errorfile 403 {empty}\n    http-request deny if {{ path /d }}\n    default_backend b\nbackend b\n"
        ));
        assert_eq!(
            on_req(&rt, 0, "GET /mon HTTP/1.1\r\n\r\n"),
            "HTTP/1.1 200 Up\r\ncontent-length: 3\r\n\r\nup!"
        );
        // An empty page: nothing is written, and the answer ends the connection.
        assert_eq!(on_req(&rt, 0, "GET /d HTTP/1.1\r\n\r\n"), "");
        assert_eq!(page(&rt, 0, None, 403), "");
        // The HTTP/1 layer's errors: the built-in text, or nothing for an empty page.
        assert_eq!(early_page(&rt, 0, 408), b"");
        assert_eq!(early_page(&rt, 0, 400), early_default(400));
        assert!(
            early_default(400).starts_with(b"HTTP/1.1 400 Bad request\r\nContent-length: 90\r\n")
        );
    }

    #[test]
    fn connection_field_of_pages() {
        let lab = Lab::new();
        let v10 = lab.file("v10", "HTTP/1.0 503 Old\r\nContent-Length: 2\r\n\r\nok");
        let nolen = lab.file("nolen", "HTTP/1.1 503 No Len\r\nX-A: 1\r\n\r\nbody");
        let rt = lab.rt(&format!(
            "frontend f\n    bind 127.0.0.1:1\n    errorfile 503 {v10}\n    errorfile 403 {nolen}\n    default_backend b\nbackend b\n"
        ));
        let Some(Custom::Page { answer, .. }) = rt.proxies[0].http.pages.get(503) else {
            panic!("no page");
        };
        let w = |c: Option<&str>| {
            let mut out = Vec::new();
            answer.write(&mut out, c, true);
            String::from_utf8(out).unwrap()
        };
        // As HAProxy 2.6: an HTTP/1.0 page says keep-alive when the connection stays.
        assert_eq!(
            w(None),
            "HTTP/1.0 503 Old\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok"
        );
        assert_eq!(
            w(Some("close")),
            "HTTP/1.0 503 Old\r\ncontent-length: 2\r\n\r\nok"
        );
        let Some(Custom::Page { answer, .. }) = rt.proxies[0].http.pages.get(403) else {
            panic!("no page");
        };
        assert!(answer.closes());
        let mut out = Vec::new();
        answer.write(&mut out, Some("keep-alive"), true);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 503 No Len\r\nx-a: 1\r\nconnection: close\r\n\r\nbody"
        );
    }
}
