//! End-to-end tests of seed 14 (WebSocket: routing of the handshake, 101, frames both ways
//! under `timeout tunnel`, close handshakes) and seed 20 (site chosen by a substring of Host),
//! and its SERVERID insert cookie pinning a client to its server, with a real WebSocket
//! client and server (tokio-tungstenite) around the binary under test.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{
    ErrorResponse, Request as HsRequest, Response as HsResponse,
};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use support::http::{Client, HttpBackend, Response};
use support::*;

// ---------------------------------------------------------------------------
// Seed texts
// ---------------------------------------------------------------------------

/// Seed 14 as the tests run it: unchanged (health checks, cookies and logging included).
fn seed14() -> String {
    seed_text("14-websocket.cfg")
}

/// The requests the proxy forwarded to `be`: the seeds' health checks (`HEAD`) left out.
fn proxied(be: &HttpBackend) -> Vec<support::http::Seen> {
    be.seen()
        .into_iter()
        .filter(|x| x.method != "HEAD")
        .collect()
}

/// `cfg` with `timeout NAME VALUE` set for each pair (each must be in `cfg` already).
fn with_timeouts(cfg: &str, set: &[(&str, &str)]) -> String {
    let mut done = vec![false; set.len()];
    let text = cfg
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w.len() == 3 && w[0] == "timeout" {
                for (i, (name, value)) in set.iter().enumerate() {
                    if w[1] == *name {
                        done[i] = true;
                        return format!("    timeout {name} {value}");
                    }
                }
            }
            l.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(done.iter().all(|d| *d), "not all of {set:?} found");
    text + "\n"
}

// ---------------------------------------------------------------------------
// A WebSocket server that records what reached it
// ---------------------------------------------------------------------------

/// One connection as a [`WsServer`] saw it.
#[derive(Clone, Debug, Default)]
struct WsConn {
    /// The request line and header fields, as received.
    request_line: String,
    headers: Vec<(String, String)>,
    /// The WebSocket handshake succeeded (else it was answered as plain HTTP, or failed).
    upgraded: bool,
    /// Data frames received (text and binary), in order.
    received: Vec<Message>,
    /// The close frame the peer sent (code, reason), if any.
    close: Option<(u16, String)>,
    /// The connection is over.
    ended: bool,
}

impl WsConn {
    fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .count()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A tokio-tungstenite WebSocket server on 127.0.0.1: greets each client with
/// `hello from NAME`, echoes text and binary frames, answers `later MS` with
/// `later from NAME` after MS milliseconds, answers `close please` with a close frame
/// (1000, "server bye"). A request that is not a WebSocket handshake gets a plain
/// `200` with `NAME TARGET`.
struct WsServer {
    name: String,
    addr: SocketAddr,
    conns: Arc<Mutex<Vec<WsConn>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WsServer {
    async fn start(name: &str) -> WsServer {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (c2, n2) = (conns.clone(), name.to_string());
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                tokio::spawn(serve_ws(s, n2.clone(), c2.clone()));
            }
        });
        WsServer {
            name: name.to_string(),
            addr,
            conns,
            task,
        }
    }
    fn cfg_addr(&self) -> String {
        haproxy_addr(self.addr)
    }
    fn conns(&self) -> Vec<WsConn> {
        self.conns.lock().unwrap().clone()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// (request line, header fields) of a complete request head.
fn parse_head(head: &str) -> (String, Vec<(String, String)>) {
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or("").to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    (first, headers)
}

async fn serve_ws(mut s: TcpStream, name: String, conns: Arc<Mutex<Vec<WsConn>>>) {
    // Look at the request head without taking it: a WebSocket handshake is left whole
    // to tungstenite. A connection is recorded once its head is in.
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut buf = vec![0u8; 16384];
    let head = loop {
        let n = match tokio::time::timeout(IO_TIMEOUT, s.peek(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return,
        };
        if let Some(end) = find(&buf[..n], b"\r\n\r\n") {
            break String::from_utf8_lossy(&buf[..end + 4]).into_owned();
        }
        if n == buf.len() || Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let (line, headers) = parse_head(&head);
    // Seed 14's health check (`Host: ws.domain.com`, expecting 101) is answered, not
    // recorded: it is not traffic the proxy forwarded.
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("host") && v == "ws.domain.com")
    {
        let mut taken = vec![0u8; head.len()];
        let _ = s.read_exact(&mut taken).await;
        let _ = s
            .write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
            )
            .await;
        // A tunnel now: it stays open until the checker closes it (a 101 followed by a
        // close is an invalid response to HAProxy's checks too).
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(IO_TIMEOUT, s.read_to_end(&mut sink)).await;
        return;
    }
    let idx = {
        let mut c = conns.lock().unwrap();
        c.push(WsConn::default());
        c.len() - 1
    };
    let update = |f: &dyn Fn(&mut WsConn)| f(&mut conns.lock().unwrap()[idx]);
    let is_ws = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("upgrade") && v.eq_ignore_ascii_case("websocket"));
    update(&|c| {
        c.request_line = line.clone();
        c.headers = headers.clone();
    });
    if !is_ws {
        let mut taken = vec![0u8; head.len()];
        let _ = s.read_exact(&mut taken).await;
        let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let body = format!("{name} {target}\n");
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = s.write_all(resp.as_bytes()).await;
        let _ = s.shutdown().await;
        update(&|c| c.ended = true);
        return;
    }
    // The signature is tungstenite's (its error type is an HTTP response).
    #[allow(clippy::result_large_err)]
    let callback = |req: &HsRequest, mut resp: HsResponse| -> Result<HsResponse, ErrorResponse> {
        let asked = req
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim() == "echo-protocol");
        if asked {
            resp.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_static("echo-protocol"),
            );
        }
        Ok(resp)
    };
    let mut ws =
        match tokio::time::timeout(IO_TIMEOUT, tokio_tungstenite::accept_hdr_async(s, callback))
            .await
        {
            Ok(Ok(ws)) => ws,
            _ => {
                update(&|c| c.ended = true);
                return;
            }
        };
    update(&|c| c.upgraded = true);
    // A frame of the server's own, before the client says anything.
    let _ = ws.send(Message::text(format!("hello from {name}"))).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Message>();
    loop {
        tokio::select! {
            m = ws.next() => {
                let Some(Ok(m)) = m else { break };
                match m {
                    Message::Text(t) => {
                        update(&|c| c.received.push(Message::Text(t.clone())));
                        if let Some(ms) = t.as_str().strip_prefix("later ") {
                            let ms: u64 = ms.parse().unwrap_or(0);
                            let (tx, name) = (tx.clone(), name.clone());
                            tokio::spawn(async move {
                                tokio::time::sleep(Duration::from_millis(ms)).await;
                                let _ = tx.send(Message::text(format!("later from {name}")));
                            });
                        } else if t.as_str() == "close please" {
                            let _ = ws
                                .close(Some(CloseFrame {
                                    code: CloseCode::Normal,
                                    reason: "server bye".into(),
                                }))
                                .await;
                        } else {
                            let _ = ws.send(Message::Text(t)).await;
                        }
                    }
                    Message::Binary(b) => {
                        update(&|c| c.received.push(Message::Binary(b.clone())));
                        let _ = ws.send(Message::Binary(b)).await;
                    }
                    Message::Close(f) => {
                        let f = f.map(|f| (u16::from(f.code), f.reason.as_str().to_string()));
                        update(&|c| c.close = f.clone());
                        // tungstenite answers with the same close frame; the stream ends then.
                    }
                    _ => {}
                }
            }
            Some(m) = rx.recv() => {
                let _ = ws.send(m).await;
            }
        }
    }
    update(&|c| c.ended = true);
}

// ---------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------

type Ws = WebSocketStream<TcpStream>;

/// A WebSocket handshake through `fe` for `ws://HOST/chat`, offering `protocol`.
async fn ws_connect(
    fe: SocketAddr,
    host: &str,
    protocol: Option<&str>,
) -> Result<(Ws, tungstenite::handshake::client::Response), tungstenite::Error> {
    let mut req = format!("ws://{host}/chat").into_client_request()?;
    if let Some(p) = protocol {
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(p).expect("protocol"),
        );
    }
    let s = TcpStream::connect(fe).await?;
    match tokio::time::timeout(IO_TIMEOUT, tokio_tungstenite::client_async(req, s)).await {
        Ok(r) => r,
        Err(_) => Err(tungstenite::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "handshake timed out",
        ))),
    }
}

/// The next text, binary or close message (pings and pongs skipped), within IO_TIMEOUT.
async fn next_msg(ws: &mut Ws) -> Message {
    loop {
        match tokio::time::timeout(IO_TIMEOUT, ws.next()).await {
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(m))) => return m,
            other => panic!("no message from the server: {other:?}"),
        }
    }
}

fn text(m: &Message) -> &str {
    match m {
        Message::Text(t) => t.as_str(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// True once the stream ends (closed or reset) within `within`.
async fn ends_within(ws: &mut Ws, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return false,
            Ok(None | Some(Err(_))) => return true,
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// One HTTP/1.1 request on a new connection, `Connection: close`.
fn http_get(fe: SocketAddr, target: &str, host: &str, extra: &str) -> Response {
    let mut c = Client::connect(fe);
    c.send(
        format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n")
            .as_bytes(),
    );
    c.read().expect("a response")
}

/// The environment of seed 14: bk_web on two HTTP backends, bk_ws on two WebSocket servers.
fn env14(
    fe: SocketAddr,
    web: &[&HttpBackend; 2],
    ws: &[&WsServer; 2],
) -> Vec<(&'static str, String)> {
    vec![
        ("FE", haproxy_addr(fe)),
        ("S1", web[0].cfg_addr()),
        ("S2", web[1].cfg_addr()),
        ("S3", ws[0].cfg_addr()),
        ("S4", ws[1].cfg_addr()),
    ]
}

// ---------------------------------------------------------------------------
// Seed 14
// ---------------------------------------------------------------------------

#[test]
fn seed14_and_seed20_load_unchanged() {
    for name in ["14-websocket.cfg", "20-host-reverse-proxy.cfg"] {
        let env = [
            ("FE", haproxy_addr(free_addr())),
            ("S1", haproxy_addr(free_addr())),
            ("S2", haproxy_addr(free_addr())),
            ("S3", haproxy_addr(free_addr())),
            ("S4", haproxy_addr(free_addr())),
        ];
        let (code, out, err) = run_check(Cfg::Path(&seed(name)), &env);
        assert_eq!(code, 0, "{name}: {out}\n{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed14_websocket_reaches_bk_ws_and_frames_flow_both_ways() {
    let web1 = HttpBackend::start("web1", Duration::ZERO);
    let web2 = HttpBackend::start("web2", Duration::ZERO);
    let ws1 = WsServer::start("ws1").await;
    let ws2 = WsServer::start("ws2").await;
    let fe = free_addr();
    let _h = Halo::start(&seed14(), &env14(fe, &[&web1, &web2], &[&ws1, &ws2]));

    // A handshake for any host goes to bk_ws and gets 101 with the protocol.
    let (mut ws, resp) = ws_connect(fe, "app.example.com", Some("echo-protocol"))
        .await
        .expect("handshake through the proxy");
    assert_eq!(resp.status(), 101);
    assert_eq!(
        resp.headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("echo-protocol")
    );
    // Server-initiated frame first.
    let hello = next_msg(&mut ws).await;
    let first = text(&hello)
        .strip_prefix("hello from ")
        .unwrap()
        .to_string();
    let (srv, other) = if first == "ws1" {
        (&ws1, &ws2)
    } else {
        (&ws2, &ws1)
    };
    assert_eq!(srv.name, first);

    // Text and binary frames, echoed; a frame larger than any buffer; a server frame
    // the client did not ask for in the same round trip.
    ws.send(Message::text("héllo")).await.unwrap();
    assert_eq!(text(&next_msg(&mut ws).await), "héllo");
    let bin: Vec<u8> = vec![0, 1, 2, 254, 255];
    ws.send(Message::binary(bin.clone())).await.unwrap();
    assert_eq!(next_msg(&mut ws).await, Message::binary(bin.clone()));
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    ws.send(Message::binary(big.clone())).await.unwrap();
    assert_eq!(next_msg(&mut ws).await, Message::binary(big.clone()));
    ws.send(Message::text("later 100")).await.unwrap();
    assert_eq!(
        text(&next_msg(&mut ws).await),
        format!("later from {}", srv.name)
    );

    // Close handshake started by the client: the server gets the frame and answers it.
    ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "client bye".into(),
    }))
    .await
    .unwrap();
    match next_msg(&mut ws).await {
        Message::Close(Some(f)) => assert_eq!(f.code, CloseCode::Normal),
        m => panic!("expected the server's close frame, got {m:?}"),
    }
    assert!(
        ends_within(&mut ws, IO_TIMEOUT).await,
        "connection not closed"
    );
    assert!(wait_until(IO_TIMEOUT, || srv
        .conns()
        .first()
        .is_some_and(|c| c.ended)));
    let seen = srv.conns();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let c = &seen[0];
    assert!(c.upgraded, "{c:?}");
    assert_eq!(c.close, Some((1000, "client bye".to_string())));
    assert_eq!(
        c.received,
        vec![
            Message::text("héllo"),
            Message::binary(bin),
            Message::binary(big),
            Message::text("later 100"),
        ]
    );
    // The handshake as the server received it.
    assert!(c.request_line.starts_with("GET /chat HTTP/1.1"), "{c:?}");
    assert_eq!(c.header("Host"), Some("app.example.com"));
    // `Connection: Upgrade` as sent, although the mode (http-server-close) would have
    // `close` on any other request.
    assert_eq!(c.header_count("Connection"), 1, "{c:?}");
    assert!(
        c.header("Connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("upgrade")),
        "{c:?}"
    );
    assert!(
        c.header("Upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
    );
    assert_eq!(c.header_count("Sec-WebSocket-Key"), 1);
    assert_eq!(c.header("Sec-WebSocket-Version"), Some("13"));
    assert_eq!(c.header("Sec-WebSocket-Protocol"), Some("echo-protocol"));
    assert_eq!(c.header("X-Forwarded-For"), Some("127.0.0.1"));

    // The next handshake goes to the other bk_ws server (roundrobin); this time the
    // server closes and the client answers.
    let (mut ws, resp) = ws_connect(fe, "ws.example.com", Some("echo-protocol"))
        .await
        .expect("second handshake");
    assert_eq!(resp.status(), 101);
    assert_eq!(
        text(&next_msg(&mut ws).await),
        format!("hello from {}", other.name)
    );
    ws.send(Message::text("close please")).await.unwrap();
    match next_msg(&mut ws).await {
        Message::Close(Some(f)) => {
            assert_eq!(f.code, CloseCode::Normal);
            assert_eq!(f.reason.as_str(), "server bye");
        }
        m => panic!("expected the server's close frame, got {m:?}"),
    }
    // Polling sends the client's answer; then the connection ends.
    assert!(
        ends_within(&mut ws, IO_TIMEOUT).await,
        "connection not closed"
    );
    assert!(wait_until(IO_TIMEOUT, || other
        .conns()
        .first()
        .is_some_and(|c| c.ended)));
    let c = &other.conns()[0];
    assert!(c.upgraded);
    assert_eq!(c.header("Host"), Some("ws.example.com"));
    assert_eq!(
        c.close.as_ref().map(|(code, _)| *code),
        Some(1000),
        "the client's answer to the close did not reach the server: {c:?}"
    );
    // bk_web saw none of it.
    assert!(proxied(&web1).is_empty() && proxied(&web2).is_empty());
    assert_eq!(srv.conns().len(), 1);
    assert_eq!(other.conns().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed14_wrong_protocol_is_denied_and_host_prefix_routes_to_bk_ws() {
    let web1 = HttpBackend::start("web1", Duration::ZERO);
    let web2 = HttpBackend::start("web2", Duration::ZERO);
    let ws1 = WsServer::start("ws1").await;
    let ws2 = WsServer::start("ws2").await;
    let fe = free_addr();
    let _h = Halo::start(&seed14(), &env14(fe, &[&web1, &web2], &[&ws1, &ws2]));

    // Wrong protocol, or none: 403 from bk_ws, nothing reaches a server.
    for proto in [Some("chat"), None] {
        match ws_connect(fe, "app.example.com", proto).await {
            Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403, "{proto:?}"),
            Ok((_, resp)) => panic!("{proto:?}: handshake accepted: {resp:?}"),
            Err(e) => panic!("{proto:?}: {e}"),
        }
    }

    // Plain HTTP goes to bk_web, round robin.
    let mut names = Vec::new();
    for i in 0..2 {
        let r = http_get(fe, &format!("/page{i}"), "www.example.com", "");
        assert_eq!(r.status, 200);
        names.push(r.body.split_whitespace().next().unwrap_or("").to_string());
    }
    names.sort();
    assert_eq!(names, ["web1", "web2"]);
    for (be, n) in [(&web1, 1), (&web2, 1)] {
        let seen = proxied(be);
        assert_eq!(seen.len(), n, "{seen:?}");
        assert_eq!(seen[0].header("X-Forwarded-For"), Some("127.0.0.1"));
    }

    // `ws.` Host prefix (any case): bk_ws, whose rules deny a request with none of the
    // handshake fields...
    for host in ["ws.example.com", "WS.Example.com"] {
        let r = http_get(fe, "/plain", host, "");
        assert_eq!(r.status, 403, "{host}");
    }
    assert!(ws1.conns().is_empty() && ws2.conns().is_empty());
    // ... and let one through that has a version and the right protocol, although it
    // does not ask for an upgrade: it reaches a bk_ws server as plain HTTP.
    let mut names = Vec::new();
    for host in ["ws.example.com", "WS.Example.com"] {
        let r = http_get(
            fe,
            "/plain",
            host,
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: echo-protocol\r\n",
        );
        assert_eq!(r.status, 200, "{host}");
        names.push(r.body.trim().to_string());
    }
    names.sort();
    assert_eq!(names, ["ws1 /plain", "ws2 /plain"]);
    for ws in [&ws1, &ws2] {
        let seen = ws.conns();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(!seen[0].upgraded);
        assert!(seen[0].request_line.starts_with("GET /plain "));
        assert_eq!(seen[0].header("X-Forwarded-For"), Some("127.0.0.1"));
    }
    // The web servers saw only their own two requests.
    assert_eq!(proxied(&web1).len() + proxied(&web2).len(), 2);

    // A browser-style handshake (`Connection: keep-alive, Upgrade`) for a host without the
    // prefix is a WebSocket too: 101, and the server gets `Connection: Upgrade` alone.
    let mut c = Client::connect(fe);
    c.send(
        b"GET /chat HTTP/1.1\r\nHost: chat.example.com\r\nConnection: keep-alive, Upgrade\r\n\
          Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: echo-protocol\r\n\r\n",
    );
    let r = c.read().expect("101");
    assert_eq!(r.status, 101);
    assert_eq!(r.header("Sec-WebSocket-Protocol"), Some("echo-protocol"));
    let upgraded = || -> Vec<WsConn> {
        [&ws1, &ws2]
            .iter()
            .flat_map(|s| s.conns())
            .filter(|c| c.upgraded)
            .collect()
    };
    assert!(wait_until(IO_TIMEOUT, || !upgraded().is_empty()));
    let upgraded = upgraded();
    assert_eq!(upgraded.len(), 1, "{upgraded:?}");
    assert_eq!(upgraded[0].header("Host"), Some("chat.example.com"));
    assert_eq!(upgraded[0].header("Connection"), Some("Upgrade"));
    assert_eq!(proxied(&web1).len() + proxied(&web2).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed14_tunnel_timeout_governs_after_101() {
    // The server timeout is in force before the upgrade...
    let web1 = HttpBackend::start("web1", Duration::from_millis(1500));
    let web2 = HttpBackend::start("web2", Duration::from_millis(1500));
    let ws1 = WsServer::start("ws1").await;
    let ws2 = WsServer::start("ws2").await;
    let fe = free_addr();
    let cfg = with_timeouts(
        &seed14(),
        &[("client", "1s"), ("server", "1s"), ("tunnel", "30s")],
    );
    let _h = Halo::start(&cfg, &env14(fe, &[&web1, &web2], &[&ws1, &ws2]));
    let t0 = Instant::now();
    let r = http_get(fe, "/slow", "www.example.com", "");
    assert_eq!(r.status, 504);
    assert!(
        t0.elapsed() < Duration::from_millis(1400),
        "{:?}",
        t0.elapsed()
    );

    // ... but after 101, idle gaps longer than timeout client/server keep the tunnel.
    let (mut ws, resp) = ws_connect(fe, "app.example.com", Some("echo-protocol"))
        .await
        .expect("handshake");
    assert_eq!(resp.status(), 101);
    let hello = next_msg(&mut ws).await;
    let name = text(&hello)
        .strip_prefix("hello from ")
        .unwrap()
        .to_string();
    let t0 = Instant::now();
    for i in 0..2 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let m = format!("after idle {i}");
        ws.send(Message::text(m.clone())).await.unwrap();
        assert_eq!(text(&next_msg(&mut ws).await), m);
    }
    // A server frame after 1.5 s in which neither side sent anything.
    ws.send(Message::text("later 1500")).await.unwrap();
    assert_eq!(text(&next_msg(&mut ws).await), format!("later from {name}"));
    ws.send(Message::binary(vec![7u8; 10])).await.unwrap();
    assert_eq!(next_msg(&mut ws).await, Message::binary(vec![7u8; 10]));
    assert!(t0.elapsed() >= Duration::from_millis(4500));
    ws.close(None).await.unwrap();
    assert!(matches!(next_msg(&mut ws).await, Message::Close(_)));
    assert!(ends_within(&mut ws, IO_TIMEOUT).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed14_timeout_tunnel_closes_an_idle_tunnel() {
    let web1 = HttpBackend::start("web1", Duration::ZERO);
    let web2 = HttpBackend::start("web2", Duration::ZERO);
    let ws1 = WsServer::start("ws1").await;
    let ws2 = WsServer::start("ws2").await;
    let fe = free_addr();
    let cfg = with_timeouts(&seed14(), &[("tunnel", "1s")]);
    let _h = Halo::start(&cfg, &env14(fe, &[&web1, &web2], &[&ws1, &ws2]));
    let (mut ws, resp) = ws_connect(fe, "app.example.com", Some("echo-protocol"))
        .await
        .expect("handshake");
    assert_eq!(resp.status(), 101);
    let hello = next_msg(&mut ws).await;
    let name = text(&hello)
        .strip_prefix("hello from ")
        .unwrap()
        .to_string();
    let srv = if name == "ws1" { &ws1 } else { &ws2 };
    // Still open after a short idle time...
    ws.send(Message::text("a")).await.unwrap();
    assert_eq!(text(&next_msg(&mut ws).await), "a");
    // ... closed after 1 s of silence (not 25 s of timeout client/server).
    let t0 = Instant::now();
    assert!(
        ends_within(&mut ws, Duration::from_secs(5)).await,
        "idle tunnel still open"
    );
    let idle = t0.elapsed();
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(4),
        "{idle:?}"
    );
    // The server's side went too, without a close frame.
    assert!(wait_until(IO_TIMEOUT, || srv
        .conns()
        .first()
        .is_some_and(|c| c.ended)));
    assert_eq!(srv.conns()[0].close, None);
}

// ---------------------------------------------------------------------------
// Seed 20
// ---------------------------------------------------------------------------

#[test]
fn seed20_host_chooses_the_site() {
    let s: Vec<HttpBackend> = ["S1", "S2", "S3", "S4"]
        .iter()
        .map(|n| HttpBackend::start(n, Duration::ZERO))
        .collect();
    let fe = free_addr();
    let cfg = seed_text("20-host-reverse-proxy.cfg");
    let _h = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", s[0].cfg_addr()),
            ("S2", s[1].cfg_addr()),
            ("S3", s[2].cfg_addr()),
            ("S4", s[3].cfg_addr()),
        ],
    );
    // Which server answered (each request on its own connection).
    let ask = |target: &str, host: &str| -> String {
        let r = http_get(fe, target, host, "");
        assert_eq!(r.status, 200, "{target} {host}");
        let name = r.header("X-Server").unwrap_or("").to_string();
        assert_eq!(r.body, format!("{name} {target} 0\n"));
        name
    };
    let other = |n: &str| if n == "S1" { "S2" } else { "S1" }.to_string();
    // bk_site1 and bk_default share S1/S2 but each has its own round robin: each
    // backend alternates whatever the other one did meanwhile.
    let a = ask("/r1", "www.site1.com");
    assert!(a == "S1" || a == "S2", "{a}");
    let b = ask("/r2", "example.org");
    assert!(b == "S1" || b == "S2", "{b}");
    assert_eq!(ask("/r3", "site1.eu:8080"), other(&a));
    assert_eq!(ask("/r4", "other.net"), other(&b));
    // hdr_sub is case-sensitive: this one is not site1's.
    assert_eq!(ask("/r5", "WWW.SITE1.COM"), b);
    assert_eq!(ask("/r6", "shop.site1.com"), a);
    // bk_site2 is S3/S4.
    let c = ask("/r7", "www.site2.com");
    assert!(c == "S3" || c == "S4", "{c}");
    let d = ask("/r8", "shop.site2.ie");
    assert!(d == "S3" || d == "S4", "{d}");
    assert_ne!(c, d);
    // What each server saw: the Host asked for, and X-Forwarded-For from every backend.
    let expected = [
        ("/r1", "www.site1.com"),
        ("/r2", "example.org"),
        ("/r3", "site1.eu:8080"),
        ("/r4", "other.net"),
        ("/r5", "WWW.SITE1.COM"),
        ("/r6", "shop.site1.com"),
        ("/r7", "www.site2.com"),
        ("/r8", "shop.site2.ie"),
    ];
    let all: Vec<(String, support::http::Seen)> = s
        .iter()
        .flat_map(|be| proxied(be).into_iter().map(|x| (be.name.clone(), x)))
        .collect();
    assert_eq!(all.len(), expected.len(), "{all:?}");
    for (target, host) in expected {
        let (_, seen) = all
            .iter()
            .find(|(_, x)| x.target == target)
            .unwrap_or_else(|| panic!("{target} reached no server"));
        assert_eq!(seen.header("Host"), Some(host));
        assert_eq!(
            seen.header("X-Forwarded-For"),
            Some("127.0.0.1"),
            "{target}"
        );
    }
    for (name, x) in &all {
        let site2 = x.target == "/r7" || x.target == "/r8";
        assert_eq!(site2, name == "S3" || name == "S4", "{name} saw {x:?}");
    }
}

#[test]
fn seed20_serverid_cookie_pins_a_client_to_its_server() {
    let s: Vec<HttpBackend> = ["S1", "S2", "S3", "S4"]
        .iter()
        .map(|n| HttpBackend::start(n, Duration::ZERO))
        .collect();
    let fe = free_addr();
    let cfg = seed_text("20-host-reverse-proxy.cfg");
    let _h = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", s[0].cfg_addr()),
            ("S2", s[1].cfg_addr()),
            ("S3", s[2].cfg_addr()),
            ("S4", s[3].cfg_addr()),
        ],
    );
    let cookie_of = |srv: &str| match srv {
        "S1" | "S3" => "s1",
        _ => "s2",
    };
    // A new client of site1 gets the cookie of the server that answered.
    let r = http_get(fe, "/first", "www.site1.com", "");
    assert_eq!(r.status, 200);
    let first = r.header("X-Server").unwrap_or("").to_string();
    let ck = cookie_of(&first);
    assert_eq!(
        r.header("Set-Cookie"),
        Some(format!("SERVERID={ck}; path=/").as_str())
    );
    // `nocache` marks only cacheable responses private (these carry no freshness
    // information; see tests/cookies.rs for one that does).
    assert_eq!(r.header("Cache-Control"), None);
    // Each later request that carries it reaches the same server, on a new connection,
    // without a new cookie; the server never sees SERVERID, only the other cookies.
    for i in 0..6 {
        let path = format!("/again{i}");
        let r = http_get(
            fe,
            &path,
            "www.site1.com",
            &format!("Cookie: a=1; SERVERID={ck}; b=2\r\n"),
        );
        assert_eq!(r.header("X-Server"), Some(first.as_str()), "{path}");
        assert_eq!(r.header("Set-Cookie"), None, "{path}");
        let be = s.iter().find(|b| b.name == first).unwrap();
        let seen = proxied(be).into_iter().find(|x| x.target == path).unwrap();
        assert_eq!(seen.header("Cookie"), Some("a=1; b=2"), "{path}");
    }
    // Another new client is balanced to the other server and pinned there.
    let r = http_get(fe, "/second", "site1.eu", "");
    let second = r.header("X-Server").unwrap_or("").to_string();
    assert_ne!(second, first);
    let ck2 = cookie_of(&second);
    assert_eq!(
        r.header("Set-Cookie"),
        Some(format!("SERVERID={ck2}; path=/").as_str())
    );
    for i in 0..3 {
        let r = http_get(
            fe,
            &format!("/second{i}"),
            "site1.eu",
            &format!("Cookie: SERVERID={ck2}\r\n"),
        );
        assert_eq!(r.header("X-Server"), Some(second.as_str()));
    }
    // bk_site2 has its own servers behind the same cookie values.
    for _ in 0..3 {
        let r = http_get(fe, "/s2", "www.site2.com", "Cookie: SERVERID=s2\r\n");
        assert_eq!(r.header("X-Server"), Some("S4"));
        assert_eq!(r.header("Set-Cookie"), None);
    }
    // bk_default has no cookie persistence: the cookie reaches the server untouched.
    let r = http_get(fe, "/d", "other.net", "Cookie: SERVERID=s1\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Set-Cookie"), None);
    let seen = s
        .iter()
        .flat_map(proxied)
        .find(|x| x.target == "/d")
        .unwrap();
    assert_eq!(seen.header("Cookie"), Some("SERVERID=s1"));
}
