//! One client connection in TCP mode, stage by stage: monitor-net, PROXY header
//! (`accept-proxy`), backend choice, server assignment (balance, queue with `timeout
//! queue`), connection with `retries` and `redispatch`, `send-proxy`, then forwarding.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use halo_config::model::{Balance, Mode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::compile::Runtime;
use crate::log::record::Origin;
use crate::proxy::connect::{ServerStream, open};
use crate::proxy::forward::{Timeouts, forward};
use crate::proxy::proxy_protocol::{self, Header, ParseResult};
use crate::server::{Assign, Backend, Server};
use crate::stats::now_sec;
use crate::tcp::{Inspect, Stage, Verdict, inspect};

/// Addresses of the connection as the proxy sees them (after a PROXY header).
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// The address `source … usesrc hdr_ip(H)` found in the request being served.
    pub hdr_src: Option<std::net::IpAddr>,
    /// What `set-retries` / `set-timeout` rules changed for the stream being served.
    pub ov: Overrides,
    /// What the TLS handshake negotiated, on a `bind … ssl` connection.
    pub tls: Option<std::sync::Arc<crate::tls::TlsInfo>>,
    /// When the connection was accepted (logs: `%t`, timers).
    pub accept: (std::time::Instant, std::time::SystemTime),
    /// How long the handshakes took (PROXY header, TLS): `%Th`.
    pub handshake_ms: u64,
    /// The frontend's `bind` line the connection came in by (its index).
    pub bind: usize,
}

/// Per-stream values set by `set-retries` and `set-timeout` rules, replacing the
/// backend's `retries` and `timeout …` (and the frontend's `timeout client`) for the
/// current stream only. Timeouts are in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overrides {
    pub retries: Option<u32>,
    pub client: Option<u64>,
    pub connect: Option<u64>,
    pub queue: Option<u64>,
    pub server: Option<u64>,
    pub tarpit: Option<u64>,
    pub tunnel: Option<u64>,
    /// `set-priority-class` / `set-priority-offset` of `tcp-request content` rules: the
    /// stream's place in the queues.
    pub prio: (i32, i32),
    /// `set-log-level`: the level of the stream's log lines (`LEVEL_SILENT`: none).
    pub log_level: Option<u8>,
}

impl Overrides {
    /// The stream moves to a backend other than the proxy whose rules ran so far. The
    /// manual says that backend's own values apply again; HAProxy 2.6 (the reference)
    /// keeps the `server` and `tunnel` timeouts set before, so those stay, while
    /// `retries`, `connect` and `queue` (newer than 2.6) follow the manual.
    pub fn enter_backend(&mut self) {
        self.retries = None;
        self.connect = None;
        self.queue = None;
    }
}

/// Holds a server slot and gives it back when dropped; once the server took the session
/// (`counted`), dropping it also ends the session in the server's counters.
/// While it lives, the session is registered with the server, which may kill it
/// (`shutdown sessions server`, `on-marked-down shutdown-sessions`…).
pub struct Slot {
    be: Arc<Backend>,
    srv: Arc<Server>,
    counted: bool,
    session: Option<u64>,
}

impl Slot {
    fn new(be: &Arc<Backend>, srv: &Arc<Server>) -> Slot {
        let session = crate::server::sessions::current().map(|h| {
            // A kill aimed at a slot the session has since given back is stale.
            h.take_kill();
            srv.sessions.add(&h);
            h.set_server(srv);
            h.id
        });
        Slot {
            be: be.clone(),
            srv: srv.clone(),
            counted: false,
            session,
        }
    }

    fn count(&mut self) {
        self.srv.counters.session_start(now_sec());
        self.srv
            .idle
            .note_used(u64::from(self.srv.cur.load(Relaxed)));
        self.counted = true;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.counted {
            self.srv.counters.session_end();
        }
        if let Some(id) = self.session {
            self.srv.sessions.remove(id);
        }
        self.be.release(&self.srv);
    }
}

/// Counts the session (a request, in HTTP) in its backend while it lives.
pub struct BackendSession(Arc<Backend>);

impl BackendSession {
    pub fn start(be: &Arc<Backend>) -> BackendSession {
        be.beconn.fetch_add(1, Relaxed);
        be.counters.session_start(now_sec());
        BackendSession(be.clone())
    }
}

impl Drop for BackendSession {
    fn drop(&mut self) {
        let _ = self
            .0
            .beconn
            .fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(1)));
        self.0.counters.session_end();
    }
}

/// Runs one session to its end.
pub async fn run_tcp<C>(
    rt: Arc<Runtime>,
    px_idx: usize,
    mut client: C,
    mut info: ConnInfo,
    accept_proxy: bool,
    tls: Option<Arc<crate::tls::bind::BindTls>>,
) where
    C: crate::tls::conn::TlsSock,
{
    let Some(fe) = rt.proxies[px_idx].frontend.as_ref() else {
        return;
    };
    // 1. Connection rules: monitor-net answers by closing, without forwarding or logging.
    if fe.monitor_net.iter().any(|n| n.contains(info.src.ip())) {
        return;
    }
    let px = &rt.proxies[px_idx];
    let vars = crate::sample::vars::Vars::new();
    // Stick counters the session tracks (`track-sc*`); dropping it releases them.
    let mut tracked = crate::stick::track::Tracked::default();
    // tcp-request connection rules, on the socket's addresses (before any PROXY header
    // unless a rule asks for one with `expect-proxy layer4`).
    let mut accept_proxy = accept_proxy;
    if px.tcp.has(Stage::Connection) {
        let v = l4_rules(
            &rt,
            px_idx,
            Stage::Connection,
            &mut info,
            &vars,
            Some(&mut tracked),
            &mut accept_proxy,
        );
        if v != Verdict::Accept {
            client.reset_on_close(v == Verdict::SilentDrop);
            return;
        }
    }
    // 2. PROXY header sent by a previous proxy.
    let mut pending: Vec<u8> = Vec::new();
    if accept_proxy {
        let limit = fe.client_timeout.unwrap_or(10_000);
        match read_proxy_header(&mut client, &mut info, limit).await {
            Ok(rest) => pending = rest,
            Err(e) => {
                fe.count_err_req(info.bind);
                log_conn_error(&rt, px_idx, &info, e);
                return;
            }
        }
    }
    match tls {
        None => serve_tcp(rt, px_idx, client, info, vars, tracked, pending).await,
        Some(bind) => {
            // Boxed: the TLS states do not enlarge every plain connection's task.
            let conn =
                match Box::pin(crate::tls::conn::handshake(client, &bind, &pending, fe)).await {
                    Ok(c) => c,
                    Err(e) => {
                        log_conn_error(&rt, px_idx, &info, e);
                        return;
                    }
                };
            info.tls = Some(conn.info().clone());
            Box::pin(serve_tcp(rt, px_idx, conn, info, vars, tracked, Vec::new())).await
        }
    }
}

/// The session past its connection rules, PROXY header and TLS handshake: `tcp-request
/// session` and content rules, the backend and server, then the forwarding.
async fn serve_tcp<C: crate::proxy::conn::Conn>(
    rt: Arc<Runtime>,
    px_idx: usize,
    mut client: C,
    mut info: ConnInfo,
    mut vars: crate::sample::vars::Vars,
    mut tracked: crate::stick::track::Tracked,
    mut pending: Vec<u8>,
) {
    let Some(fe) = rt.proxies[px_idx].frontend.as_ref() else {
        return;
    };
    let px = &rt.proxies[px_idx];
    // Request capture slots of the stream (`tcp-request content capture`).
    let mut caps = crate::sample::CaptureSlots::default();
    // tcp-request session rules, then the frontend's content rules (inspect-delay).
    if px.tcp.has(Stage::Session) {
        let v = l4_rules(
            &rt,
            px_idx,
            Stage::Session,
            &mut info,
            &vars,
            Some(&mut tracked),
            &mut false,
        );
        if v != Verdict::Accept {
            client.reset_on_close(v == Verdict::SilentDrop);
            return;
        }
    }
    // The session is accepted: entries tracked so far count it.
    tracked.session_accepted();
    if let Some(pl) = px.log.as_deref() {
        pl.connect_line(info.src, info.dst, &px.name, false);
    }
    // `do-log` rules that ran and whose line is not sent yet.
    let mut do_logs = Vec::new();
    // Declared first, dropped last: the line is sent once the stream released its server.
    let mut log = TcpLog {
        rt: rt.clone(),
        px_idx,
        src: info.src,
        dst: info.dst,
        tls: info.tls.clone(),
        accept: info.accept,
        handshake_ms: info.handshake_ms,
        backend: None,
        report: ConnectReport {
            noting: px.log.is_some(),
            ..ConnectReport::default()
        },
        bytes_in: pending.len() as u64,
        bytes_out: 0,
        term: None,
        sent: false,
        level: None,
    };
    log.send_step(Origin::Accept);
    let limit = rt
        .global
        .tune_bufsize
        .saturating_sub(rt.global.tune_maxrewrite)
        .max(1);
    if px.tcp.has(Stage::Content) {
        let at = Inspect {
            rt: &rt,
            proxy: px_idx,
            frontend: px_idx,
            backend: None,
            tls: info.tls.as_deref(),
            bc_tls: None,
        };
        let (mut src, mut dst) = (info.src, info.dst);
        let v = inspect(
            &at,
            Stage::Content,
            &mut client,
            &mut pending,
            &[],
            limit,
            &mut src,
            &mut dst,
            &mut info.ov,
            &mut vars,
            &mut tracked,
            &mut caps,
            &mut do_logs,
        )
        .await;
        (info.src, info.dst) = (src, dst);
        log.level = info.ov.log_level;
        log.send_do_logs(&mut do_logs);
        if !matches!(v, Verdict::Accept) {
            fe.count_denied_req(info.bind);
            client.reset_on_close(v == Verdict::SilentDrop);
            return;
        }
    }
    // 3. Backend: the first `use_backend` rule whose condition holds, else the default.
    let be_idx = {
        let ctx = crate::sample::Ctx {
            rt: Some(&rt),
            src: Some(info.src),
            dst: Some(info.dst),
            frontend: Some(px_idx),
            backend: None,
            server: None,
            listener_id: 0,
            req_payload: &pending,
            res_payload: &[],
            req_final: true,
            res_dir: false,
            req: None,
            res: None,
            first_req: true,
            vars: Some(&vars),
            req_caps: Some(&caps),
            res_caps: None,
            received: None,
            tracked: None,
            tls: info.tls.as_deref(),
            bc_tls: None,
            unique_id: None,
            log: None,
        };
        let px = &rt.proxies[px_idx];
        fe.choose_backend(&rt, &px.acls, &ctx)
    };
    let Some(be_idx) = be_idx else {
        return;
    };
    let Some(be) = rt.proxies[be_idx].backend.clone() else {
        return;
    };
    // A stream routed elsewhere than the proxy whose rules ran takes that backend's own
    // `retries` and timeouts again.
    if be_idx != px_idx {
        info.ov.enter_backend();
    }
    // The backend's own content rules (a listen runs its rules once).
    if be_idx != px_idx && rt.proxies[be_idx].tcp.has(Stage::Content) {
        let at = Inspect {
            rt: &rt,
            proxy: be_idx,
            frontend: px_idx,
            backend: Some(be_idx),
            tls: info.tls.as_deref(),
            bc_tls: None,
        };
        let (mut src, mut dst) = (info.src, info.dst);
        let v = inspect(
            &at,
            Stage::Content,
            &mut client,
            &mut pending,
            &[],
            limit,
            &mut src,
            &mut dst,
            &mut info.ov,
            &mut vars,
            &mut tracked,
            &mut caps,
            &mut do_logs,
        )
        .await;
        (info.src, info.dst) = (src, dst);
        log.level = info.ov.log_level;
        log.send_do_logs(&mut do_logs);
        if !matches!(v, Verdict::Accept) {
            be.counters.denied_req.fetch_add(1, Relaxed);
            client.reset_on_close(v == Verdict::SilentDrop);
            return;
        }
    }
    let _be_session = BackendSession::start(&be);
    // `log-steps request`: the request is in (the content rules ran).
    (log.src, log.dst) = (info.src, info.dst);
    log.backend = Some(be_idx);
    log.send_step(Origin::Request);
    let key = match &be.settings.balance {
        Balance::Source => Some(crate::lb::hash::source_key(
            &be.settings.hash_type,
            info.src.ip(),
        )),
        // `balance rdp-cookie(NAME)`: the cookie of what the client sent so far (round
        // robin without one, as HAProxy).
        Balance::RdpCookie(name) => crate::sample::fetch::rdp_cookie(&pending, name.as_bytes())
            .map(|v| crate::lb::hash::hash_key(&be.settings.hash_type, v)),
        _ => None,
    };
    // 4. Persistence: the server an RDP cookie names (`persist rdp-cookie`), else the one
    // `stick match|on` finds for a stored key.
    let rdp = be
        .settings
        .persist_rdp_cookie
        .as_deref()
        .and_then(|name| rdp_server(&be, &pending, name));
    let stick = &rt.proxies[be_idx].stick;
    let use_server = &rt.proxies[be_idx].use_server;
    // The stream as the backend's rules and server expressions see it: `use-server`,
    // stick rules, then each server's `sni EXPR`.
    let (used, stuck, pending_keys, snis) = {
        let ctx = crate::sample::Ctx {
            rt: Some(&rt),
            src: Some(info.src),
            dst: Some(info.dst),
            frontend: Some(px_idx),
            backend: Some(be_idx),
            req_payload: &pending,
            vars: Some(&vars),
            req_caps: Some(&caps),
            tls: info.tls.as_deref(),
            bc_tls: None,
            ..crate::sample::Ctx::empty()
        };
        let (used, stuck, keys) = if stick.has_request_rules() || !use_server.is_empty() {
            // `use-server` first: it wins over RDP cookies and stick rules.
            let acls = &rt.proxies[be_idx].acls;
            let used = use_server.choose(&be, acls, &ctx, be.settings.persist);
            let (found, keys) = stick.on_request(&be, acls, &ctx);
            (used, found.filter(|_| rdp.is_none()), keys)
        } else {
            (None, None, Vec::new())
        };
        (
            used,
            stuck,
            keys,
            crate::proxy::connect::sni_values(&be, &ctx),
        )
    };
    // 5. Server, queue, connection with retries.
    let sni_of = |s: &Server| -> Option<String> { snis.get(s.index).cloned().flatten() };
    log.backend = Some(be_idx);
    (log.src, log.dst) = (info.src, info.dst);
    let Some(Connected {
        srv: server,
        slot: _slot,
        stream: sock,
        ..
    }) = crate::server::QUEUE_PRIORITY
        .scope(
            info.ov.prio,
            connect_server(
                &be,
                key,
                &info,
                match (used.or(rdp), &stuck) {
                    (Some(idx), _) => Choice::Direct { idx, force: false },
                    (None, Some(s)) => Choice::Stick(s),
                    (None, None) => Choice::Balance,
                },
                &mut |_| None,
                None,
                &sni_of,
                &mut log.report,
            ),
        )
        .await
    else {
        return;
    };
    if let Some(s) = &server {
        crate::stick::rules::store(&pending_keys, s);
    }
    // `option logasap`: the line leaves now that the server is connected.
    if px.log.as_ref().is_some_and(|l| l.logs_asap()) {
        log.send(true);
    }
    log.send_step(Origin::Connect);
    // 6. PROXY header towards the server.
    let mut first = Vec::new();
    // (Over TLS it went in clear before the handshake.)
    if let Some(srv) = server.as_ref().filter(|s| !s.uses_tls()) {
        proxy_protocol::write_for(srv, &info, &mut first);
    }
    first.extend_from_slice(&pending);
    let (mut client, mut sock) = (client, sock);
    // tcp-response content rules of the backend: the server's first bytes are inspected
    // (tcp-response inspect-delay) before any reaches the client.
    let stick_res = rt.proxies[be_idx].stick.has_response_rules() && server.is_some();
    if rt.proxies[be_idx].tcp.has(Stage::Response) || stick_res {
        if sock.write_all(&first).await.is_err() {
            return;
        }
        first.clear();
        let bc_tls = sock.tls_info();
        let at = Inspect {
            rt: &rt,
            proxy: be_idx,
            frontend: px_idx,
            backend: Some(be_idx),
            tls: info.tls.as_deref(),
            bc_tls: bc_tls.as_deref(),
        };
        let mut res = Vec::new();
        let (mut src, mut dst) = (info.src, info.dst);
        let v = inspect(
            &at,
            Stage::Response,
            &mut sock,
            &mut res,
            &pending,
            limit,
            &mut src,
            &mut dst,
            &mut info.ov,
            &mut vars,
            &mut tracked,
            &mut caps,
            &mut do_logs,
        )
        .await;
        log.level = info.ov.log_level;
        log.send_do_logs(&mut do_logs);
        match v {
            Verdict::Accept => {
                // `stick store-response` looks at the response buffer as the inspection
                // left it: as in HAProxy, without `tcp-response inspect-delay` the rules
                // run as soon as the server is connected, on what has arrived (often
                // nothing).
                if stick_res && let Some(srv) = &server {
                    let ctx = crate::sample::Ctx {
                        rt: Some(&rt),
                        src: Some(info.src),
                        dst: Some(info.dst),
                        frontend: Some(px_idx),
                        backend: Some(be_idx),
                        server: Some(srv),
                        listener_id: 0,
                        req_payload: &pending,
                        res_payload: &res,
                        req_final: true,
                        res_dir: true,
                        req: None,
                        res: None,
                        first_req: true,
                        vars: None,
                        req_caps: Some(&caps),
                        res_caps: None,
                        received: None,
                        tracked: None,
                        tls: info.tls.as_deref(),
                        bc_tls: bc_tls.as_deref(),
                        unique_id: None,
                        log: None,
                    };
                    rt.proxies[be_idx]
                        .stick
                        .on_response(&rt.proxies[be_idx].acls, &ctx, srv);
                }
                if client.write_all(&res).await.is_err() {
                    return;
                }
                fe.counters.bytes_out.fetch_add(res.len() as u64, Relaxed);
                if let Some(l) = fe.listener(info.bind) {
                    l.bytes_out.fetch_add(res.len() as u64, Relaxed);
                }
                be.counters.bytes_out.fetch_add(res.len() as u64, Relaxed);
            }
            Verdict::Close => {
                // The server side is closed; what it sent so far still reaches the client.
                drop(sock);
                let _ = client.write_all(&res).await;
                return;
            }
            _ => {
                be.counters.denied_resp.fetch_add(1, Relaxed);
                client.reset_on_close(v == Verdict::SilentDrop);
                return;
            }
        }
    }
    // 7. Forward.
    let tunnel = be.settings.tunnel_timeout.or(fe.tunnel_timeout);
    let timeouts = Timeouts {
        client: tunnel.or(fe.client_timeout),
        server: tunnel.or(be.settings.server_timeout),
        client_fin: fe.client_fin_timeout,
        server_fin: be.settings.server_fin_timeout,
    };
    let mut live = crate::stats::LiveBytes::new([
        Some(&fe.counters),
        fe.listener(info.bind),
        Some(&be.counters),
        server.as_ref().map(|s| &s.counters),
    ]);
    let contstats = fe.contstats;
    let out = forward(
        &mut client,
        &mut sock,
        &first,
        timeouts,
        contstats.then_some(&mut live),
    )
    .await;
    log.bytes_in += out.bytes_in;
    log.bytes_out = out.bytes_out;
    log.term = if out.client_timeout {
        Some(*b"cD")
    } else if out.server_timeout {
        Some(*b"sD")
    } else if out.client_error {
        Some(*b"CD")
    } else if out.server_error {
        Some(*b"SD")
    } else {
        None
    };
    live.reach(out.bytes_in, out.bytes_out);
    if let Some(s) = &server {
        if out.client_timeout || out.client_error {
            s.counters.cli_abort.fetch_add(1, Relaxed);
        }
        if out.server_timeout || out.server_error {
            s.counters.srv_abort.fetch_add(1, Relaxed);
        }
    }
}

/// The log line of a TCP stream, sent when the stream ends (dropped), whatever way it
/// ends, from what the stream noted on it.
struct TcpLog {
    rt: Arc<Runtime>,
    px_idx: usize,
    src: SocketAddr,
    dst: SocketAddr,
    tls: Option<Arc<crate::tls::TlsInfo>>,
    accept: (std::time::Instant, std::time::SystemTime),
    handshake_ms: u64,
    backend: Option<usize>,
    report: ConnectReport,
    bytes_in: u64,
    bytes_out: u64,
    term: Option<[u8; 2]>,
    /// The line went out already (`option logasap`).
    sent: bool,
    /// `set-log-level`.
    level: Option<u8>,
}

impl Drop for TcpLog {
    fn drop(&mut self) {
        if !self.sent {
            self.send(false);
        }
    }
}

impl TcpLog {
    /// Sends the line: at the end of the stream, or once connected with `option logasap`
    /// (`partial`: the total time and bytes so far, prefixed with `+`).
    fn send(&mut self, partial: bool) {
        self.sent = true;
        let Some(pl) = self.rt.proxies[self.px_idx].log.as_deref() else {
            return;
        };
        if !partial && (!pl.logs_close() || pl.dontlognull && self.bytes_in == 0) {
            return;
        }
        let origin = if partial {
            Origin::Connect
        } else {
            Origin::Close
        };
        let error = self.is_error();
        self.with_record(pl, partial, |ctx, rec| {
            rec.origin = origin;
            pl.emit(ctx, rec, error)
        });
    }

    /// HAProxy's "not normal": an error state other than a local one, or a retry.
    fn is_error(&self) -> bool {
        let term = self.term.or(self.report.fail).unwrap_or(*b"--");
        !matches!(term[0], b'-' | b'L') || self.report.retries > 0
    }

    /// The line of a `log-steps` step other than the end, when the frontend asks for it.
    fn send_step(&self, step: Origin) {
        let Some(pl) = self.rt.proxies[self.px_idx].log.as_deref() else {
            return;
        };
        if pl.logs_step(step) {
            let error = self.is_error();
            self.with_record(pl, false, |ctx, rec| {
                rec.origin = step;
                pl.emit(ctx, rec, error)
            });
        }
    }

    /// The lines of the `do-log` rules that just ran (emptying `list`).
    fn send_do_logs(&self, list: &mut Vec<crate::log::DoLog>) {
        if list.is_empty() {
            return;
        }
        if let Some(pl) = self.rt.proxies[self.px_idx].log.as_deref() {
            let error = self.is_error();
            for d in list.iter() {
                self.with_record(pl, false, |ctx, rec| pl.emit_do_log(ctx, rec, error, d));
            }
        }
        list.clear();
    }

    /// Runs `f` with the line's record and sample context.
    fn with_record(
        &self,
        pl: &crate::log::ProxyLog,
        partial: bool,
        f: impl FnOnce(&crate::sample::Ctx<'_>, &mut crate::log::record::LogRecord<'_>),
    ) {
        let rt = &self.rt;
        let term = self.term.or(self.report.fail).unwrap_or(*b"--");
        let server = self.report.server.as_ref();
        let ms = |v: Option<u64>| v.map_or(-1, |v| v as i64);
        let total = self.accept.0.elapsed().as_millis() as i64;
        let mut rec = crate::log::record::LogRecord {
            origin: Origin::Close,
            level: self.level,
            accept: crate::log::time::of(self.accept.1),
            request_date: crate::log::time::of(self.accept.1),
            timers: crate::log::record::Timers {
                handshake: self.handshake_ms as i64,
                idle: -1,
                request: -1,
                queue: ms(self.report.queue_ms),
                connect: ms(self.report.connect_ms),
                response: -1,
                active: total,
                total,
            },
            partial,
            http: false,
            status: None,
            bytes_out: self.bytes_out,
            bytes_in: self.bytes_in,
            term,
            cookie: *b"--",
            frontend: &rt.proxies[self.px_idx].name,
            backend: Some(&rt.proxies[self.backend.unwrap_or(self.px_idx)].name),
            server: server.map(|s| s.name.as_str()),
            src: self.src,
            dst: self.dst,
            backend_src: None,
            server_addr: server.map(|s| s.addr.target(self.dst.port())),
            actconn: u64::from(rt.cur_conns.load(Relaxed)),
            feconn: rt.proxies[self.px_idx]
                .frontend
                .as_ref()
                .map_or(0, |f| f.counters.scur.load(Relaxed)),
            beconn: self
                .backend
                .and_then(|b| rt.proxies[b].backend.as_ref())
                .map_or(0, |b| u64::from(b.beconn.load(Relaxed))),
            srvconn: server.map_or(0, |s| u64::from(s.cur.load(Relaxed))),
            retries: self.report.retries,
            redispatched: self.report.redispatched,
            srv_queue: self.report.srv_queue.into(),
            be_queue: self.report.be_queue.into(),
            req_caps: None,
            res_caps: None,
            cookie_req: None,
            cookie_res: None,
            received: None,
            bad_request: false,
            unique_id: None,
            tls: self.tls.as_deref(),
            req_counter: crate::log::next_request_id(),
            log_counter: 0,
            hostname: Some(&pl.host),
        };
        let mut ctx = crate::sample::Ctx::empty();
        ctx.rt = Some(rt);
        ctx.src = Some(self.src);
        ctx.dst = Some(self.dst);
        ctx.frontend = Some(self.px_idx);
        ctx.backend = self.backend;
        ctx.tls = self.tls.as_deref();
        f(&ctx, &mut rec);
    }

    /// The `error-log-format` line of a connection that failed before its stream.
    fn send_error(&mut self) {
        let Some(pl) = self.rt.proxies[self.px_idx].log.as_deref() else {
            return;
        };
        self.with_record(pl, false, |ctx, rec| pl.emit_error(ctx, rec));
    }
}

/// `persist rdp-cookie(NAME)`: the server whose address the client's RDP cookie encodes
/// (`Cookie: NAME=IP.PORT.…`, the IPv4 address as a little-endian number and the port
/// byte-swapped, as Windows writes them), when it is up or `option persist` is set.
fn rdp_server(be: &Backend, payload: &[u8], name: &str) -> Option<usize> {
    let v = crate::sample::fetch::rdp_cookie(payload, name.as_bytes())?;
    let mut it = std::str::from_utf8(v).ok()?.splitn(3, '.');
    let addr: u32 = it.next()?.parse().ok()?;
    let port = (it.next()?.parse::<u64>().ok()? as u16).swap_bytes();
    it.next()?;
    let want = SocketAddr::new(std::net::Ipv4Addr::from(addr.to_le_bytes()).into(), port);
    be.servers
        .iter()
        .find(|s| s.addr.target(0) == want && (s.is_up() || be.settings.persist))
        .map(|s| s.index)
}

/// Runs the `tcp-request connection` or `session` rules of the frontend: anything but
/// `Accept` drops the connection. `expect_proxy` is set by `expect-proxy layer4`.
/// (`track-sc*` actions will plug in here and in `crate::tcp::TcpRules::run`.)
pub fn l4_rules(
    rt: &Arc<Runtime>,
    px_idx: usize,
    stage: Stage,
    info: &mut ConnInfo,
    vars: &crate::sample::vars::Vars,
    tracked: Option<&mut crate::stick::track::Tracked>,
    expect_proxy: &mut bool,
) -> Verdict {
    let px = &rt.proxies[px_idx];
    let mut env = crate::tcp::Env {
        rt,
        frontend: px_idx,
        backend: None,
        src: info.src,
        dst: info.dst,
        req: &[],
        res: &[],
        final_: true,
        vars: Some(vars),
        head: None,
        first_req: true,
        tracked,
        req_caps: None,
        retries: None,
        prio: (0, 0),
        tls: info.tls.as_deref(),
        bc_tls: None,
        log_level: None,
        do_logs: Vec::new(),
    };
    let v = px.tcp.run(stage, 0, &px.acls, &mut env, expect_proxy);
    info.src = env.src;
    info.dst = env.dst;
    if !env.do_logs.is_empty() {
        // `do-log` before the stream: the session's line (addresses as the rules left them).
        let mut do_logs = env.do_logs;
        session_log(rt, px_idx, info).send_do_logs(&mut do_logs);
    }
    v
}

/// A log line's source for a session without its stream yet (connection errors, `do-log`
/// in `tcp-request connection|session` rules).
fn session_log(rt: &Arc<Runtime>, px_idx: usize, info: &ConnInfo) -> TcpLog {
    TcpLog {
        rt: rt.clone(),
        px_idx,
        src: info.src,
        dst: info.dst,
        tls: info.tls.clone(),
        accept: info.accept,
        handshake_ms: info.accept.0.elapsed().as_millis() as u64,
        backend: None,
        report: ConnectReport::default(),
        bytes_in: 0,
        bytes_out: 0,
        term: None,
        sent: true,
        level: None,
    }
}

/// Reads the PROXY header (v1 or v2) a previous proxy put in front of the connection and
/// applies its addresses to `info`. Returns the bytes read after it, or why the header is
/// missing, invalid or late, in HAProxy's words (the connection must then be closed).
pub async fn read_proxy_header<C: AsyncRead + Unpin>(
    client: &mut C,
    info: &mut ConnInfo,
    limit_ms: u64,
) -> Result<Vec<u8>, ConnError> {
    let mut pending = Vec::new();
    let read = async {
        let mut buf = vec![0u8; 512];
        loop {
            let n = match client.read(&mut buf).await {
                Ok(n) => n,
                Err(_) => return Err(ConnError::new(PRX_ABORT, pending.is_empty())),
            };
            if n == 0 && pending.is_empty() {
                return Err(ConnError::new(PRX_EMPTY, true));
            }
            if n == 0 {
                return Err(ConnError::new(PRX_TRUNCATED, false));
            }
            pending.extend_from_slice(&buf[..n]);
            match proxy_protocol::parse(&pending) {
                ParseResult::Incomplete if pending.len() < 4096 => continue,
                ParseResult::Done(h, used) => return Ok((h, used)),
                // HAProxy needs 16 bytes to tell a v2 signature from something else.
                ParseResult::Invalid(_)
                    if pending.len() < 16 && !pending.starts_with(b"PROXY ") =>
                {
                    return Err(ConnError::new(PRX_TRUNCATED, false));
                }
                ParseResult::Invalid(_)
                    if !pending.starts_with(b"PROXY ")
                        && !pending.starts_with(&proxy_protocol::V2_SIG) =>
                {
                    return Err(ConnError::new(PRX_NOT_HDR, false));
                }
                _ => return Err(ConnError::new(PRX_BAD_HDR, false)),
            }
        }
    };
    let (h, used) = match tokio::time::timeout(Duration::from_millis(limit_ms.max(1)), read).await {
        Ok(r) => r?,
        Err(_) => return Err(ConnError::new(PRX_TIMEOUT, pending.is_empty())),
    };
    if let Header::Proxied { src, dst } = h {
        info.src = src;
        info.dst = dst;
    }
    pending.drain(..used);
    Ok(pending)
}

/// Why an incoming connection failed before it became a stream (section 8.2.5), in
/// HAProxy's words, and whether the client sent nothing (`option dontlognull` skips it).
#[derive(Debug, Clone, Copy)]
pub struct ConnError {
    pub message: &'static str,
    pub empty: bool,
}

impl ConnError {
    pub fn new(message: &'static str, empty: bool) -> ConnError {
        ConnError { message, empty }
    }
}

const PRX_EMPTY: &str = "Connection closed while waiting for PROXY protocol header";
const PRX_ABORT: &str = "Connection error while waiting for PROXY protocol header";
const PRX_TIMEOUT: &str = "Timeout while waiting for PROXY protocol header";
const PRX_TRUNCATED: &str = "Truncated PROXY protocol header received";
const PRX_NOT_HDR: &str = "Received something which does not look like a PROXY protocol header";
const PRX_BAD_HDR: &str = "Received an invalid PROXY protocol header";

/// Logs a connection that failed in its PROXY header or TLS handshake: HAProxy's short line
/// `CLIENT:PORT [ACCEPT_DATE] FRONTEND/BIND: MESSAGE`, or the frontend's `error-log-format`.
pub fn log_conn_error(rt: &Arc<Runtime>, px_idx: usize, info: &ConnInfo, e: ConnError) {
    let Some(pl) = rt.proxies[px_idx].log.as_deref() else {
        return;
    };
    if pl.dontlognull && e.empty {
        return;
    }
    let fe = &rt.proxies[px_idx];
    if pl.error_format.is_none() {
        let bind = fe.frontend.as_ref().and_then(|f| f.binds.get(info.bind));
        let bind_name = match bind.and_then(|b| b.name.as_deref()) {
            Some(n) => n.to_string(),
            None => (info.bind + 1).to_string(),
        };
        pl.conn_error_line(info.src, info.accept.1, &fe.name, &bind_name, e.message);
        return;
    }
    let mut log = session_log(rt, px_idx, info);
    log.term = Some(*b"CR");
    log.send_error();
}

/// Waits for a server slot: immediately, or from the queue within `timeout queue`.
/// `q`: the request's place in the server's and the backend's queue when it waited
/// (`%sq`, `%bq`).
async fn obtain(
    be: &Arc<Backend>,
    key: Option<u32>,
    avoid: Option<usize>,
    limit: u64,
    q: &mut (u32, u32),
) -> Option<Arc<Server>> {
    match be.assign(key, avoid) {
        Assign::Server(s) => {
            note_queue_time(be, &s, 0);
            Some(s)
        }
        Assign::NoServer => None,
        Assign::Queued(rx) => wait_slot(be, rx, limit, q).await,
    }
}

/// Waits up to `limit` ms for the slot of a queued request. On timeout, a slot handed over
/// meanwhile goes back and the queue is pruned.
async fn wait_slot(
    be: &Arc<Backend>,
    mut rx: tokio::sync::oneshot::Receiver<crate::server::Granted>,
    limit: u64,
    q: &mut (u32, u32),
) -> Option<Arc<Server>> {
    let since = std::time::Instant::now();
    match tokio::time::timeout(Duration::from_millis(limit), &mut rx).await {
        Ok(Ok(g)) => {
            note_queue_time(be, &g.srv, since.elapsed().as_millis() as u64);
            *q = (g.srv_queue, g.be_queue);
            Some(g.srv)
        }
        _ => {
            rx.close();
            if let Ok(g) = rx.try_recv() {
                be.release(&g.srv);
            }
            be.prune_queue();
            None
        }
    }
}

/// `qtime`: how long a request waited for its server slot, for the backend and the server.
fn note_queue_time(be: &Backend, srv: &Server, ms: u64) {
    be.counters.note_queue_time(ms);
    srv.counters.note_queue_time(ms);
}

/// What connecting a stream to a server did, for its log line: time in queue and in
/// connecting (ms, -1 when not reached), retries, and why it failed (`SC`, `sC`, `sQ`).
#[derive(Default, Clone)]
pub struct ConnectReport {
    /// Whether to note anything (a log line or a unique id will use it).
    pub noting: bool,
    pub queue_ms: Option<u64>,
    pub connect_ms: Option<u64>,
    pub retries: u32,
    pub redispatched: bool,
    pub server: Option<Arc<Server>>,
    pub fail: Option<[u8; 2]>,
    /// Requests served before this one while it waited in the server's and the backend's
    /// queue (`%sq`, `%bq`).
    pub srv_queue: u32,
    pub be_queue: u32,
}

fn ms_since(t: Option<std::time::Instant>) -> u64 {
    t.map_or(0, |t| t.elapsed().as_millis() as u64)
}

/// A server connection ready for a session or a request.
pub struct Connected {
    pub srv: Option<Arc<Server>>,
    pub slot: Option<Slot>,
    pub stream: ServerStream,
    /// Requests it carried before (0: a new connection).
    pub uses: u32,
    /// The server is the one persistence designated (HAProxy's `SF_DIRECT`): false after a
    /// redispatch.
    pub direct: bool,
}

/// How the server of a request is chosen.
#[derive(Clone, Copy)]
pub enum Choice<'a> {
    /// The balancing algorithm.
    Balance,
    /// The preferred server when it can take the request (`option prefer-last-server`, a
    /// server that asked for authentication), else balancing.
    Prefer(&'a Arc<Server>),
    /// The server a persistence cookie designated (index in the backend); `force`:
    /// `force-persist` matched (no redispatch).
    Direct { idx: usize, force: bool },
    /// The server a stick table designated (`stick match|on`).
    Stick(&'a Arc<Server>),
}

/// An existing connection to the chosen server, if the caller has one to offer.
pub type ReuseFn<'a> = dyn FnMut(&Arc<Server>) -> Option<(ServerStream, u32)> + Send + 'a;

/// The SNI to send to a server for the stream at hand (`sni EXPR`), if any.
pub type SniOf<'a> = dyn Fn(&Server) -> Option<String> + Send + Sync + 'a;

/// No SNI for any server.
pub fn no_sni(_: &Server) -> Option<String> {
    None
}

/// Connects to a server, retrying `retries` times after a failure (with a turn-around
/// delay of min(1s, timeout connect)), moving to another server as `option redispatch`
/// says (by default on the last retry).
pub async fn connect_with_retries(
    be: &Arc<Backend>,
    key: Option<u32>,
    info: &ConnInfo,
    sni: &SniOf<'_>,
) -> Option<Connected> {
    connect_server(
        be,
        key,
        info,
        Choice::Balance,
        &mut |_| None,
        None,
        sni,
        &mut ConnectReport::default(),
    )
    .await
}

/// Waits (at most `limit` ms in a queue) for a slot on the preferred server (`option prefer-last-server`, a server that
/// asked for authentication) while it is usable and its queue is short enough
/// (`max-keep-alive-queue`), else balances as usual.
async fn obtain_preferred(
    be: &Arc<Backend>,
    prefer: &Arc<Server>,
    key: Option<u32>,
    limit: u64,
    q: &mut (u32, u32),
) -> Option<Arc<Server>> {
    match be.assign_preferred(prefer, be.settings.max_keep_alive_queue) {
        Some(Assign::Server(s)) => {
            note_queue_time(be, &s, 0);
            Some(s)
        }
        Some(Assign::Queued(rx)) => wait_slot(be, rx, limit, q).await,
        _ => obtain(be, key, None, limit, q).await,
    }
}

/// A slot on the server persistence designated, waiting in its queue if needed. Err(true)
/// when its queue is full (`maxqueue`), Err(false) when the wait timed out.
async fn obtain_direct(
    be: &Arc<Backend>,
    idx: usize,
    limit: u64,
    q: &mut (u32, u32),
) -> Result<Arc<Server>, bool> {
    let srv = be.servers.get(idx).ok_or(false)?;
    let qlen = be.queue_lengths().1.get(idx).copied().unwrap_or(0);
    if srv.maxqueue > 0 && be.effective_maxconn(srv) > 0 && qlen >= srv.maxqueue as usize {
        // Its queue is full: the caller may redispatch.
        return Err(true);
    }
    match be.assign_to(idx) {
        Assign::Server(s) => {
            note_queue_time(be, &s, 0);
            Ok(s)
        }
        Assign::NoServer => Err(false),
        Assign::Queued(rx) => wait_slot(be, rx, limit, q).await.ok_or(false),
    }
}

/// Waits for a slot on the server persistence chose (`stick match|on`): its queue however
/// long, even while it drains; a stopped server (unless `option persist`) is balanced away.
async fn obtain_persistent(
    be: &Arc<Backend>,
    srv: &Arc<Server>,
    key: Option<u32>,
    limit: u64,
    q: &mut (u32, u32),
) -> Option<Arc<Server>> {
    let idx = be.index_of(srv);
    let Some(idx) = idx.filter(|_| srv.is_up() || be.settings.persist) else {
        return obtain(be, key, None, limit, q).await;
    };
    match be.assign_to(idx) {
        Assign::Server(s) => Some(s),
        Assign::NoServer => None,
        Assign::Queued(rx) => wait_slot(be, rx, limit, q).await,
    }
}

/// Chooses the server (`choice`), then carries the request over an existing connection
/// `reuse` offers for it, or connects with retries.
#[allow(clippy::too_many_arguments)]
pub async fn connect_server(
    be: &Arc<Backend>,
    key: Option<u32>,
    info: &ConnInfo,
    choice: Choice<'_>,
    reuse: &mut ReuseFn<'_>,
    redirect: Option<&mut Option<Arc<Server>>>,
    sni: &SniOf<'_>,
    report: &mut ConnectReport,
) -> Option<Connected> {
    let st = &be.settings;
    // Timed always: the queue and connect times feed the backend's and server's
    // `qtime`/`ctime` as well as log lines.
    let now = || Some(std::time::Instant::now());
    let started = now();
    if be.servers.is_empty() {
        // `dispatch`: a fixed address, no balancing.
        let Some(target) = st.dispatch else {
            report.fail = Some(*b"SC");
            return None;
        };
        report.queue_ms = Some(0);
        let r = open(
            target,
            st.source.as_ref(),
            None,
            info.ov.connect.or(st.connect_timeout),
            Some(info),
            None,
        )
        .await;
        return match r {
            Ok(s) => {
                report.connect_ms = Some(ms_since(started));
                Some(s)
            }
            Err(e) => {
                report.fail = Some(fail_code(&e));
                None
            }
        }
        .map(|stream| Connected {
            srv: None,
            slot: None,
            stream,
            uses: 0,
            direct: false,
        });
    }
    // In HTTP mode, `retry-on` without `conn-failure` gives up at the first failed
    // connection.
    let retries = if st.mode == Mode::Http && !st.retry_on.conn_failure {
        0
    } else {
        info.ov.retries.unwrap_or(st.retries)
    };
    // `timeout queue` (or `set-timeout queue`); none means no limit.
    let limit = info.ov.queue.or(st.queue_timeout).unwrap_or(u64::MAX / 4);
    let connect_timeout = info.ov.connect.or(st.connect_timeout);
    let mut avoid: Option<usize> = None;
    let mut q = (0, 0);
    let mut direct = false;
    let mut persistent = false;
    let mut force = false;
    let obtained = match choice {
        Choice::Prefer(p) => obtain_preferred(be, p, key, limit, &mut q).await,
        Choice::Balance => obtain(be, key, None, limit, &mut q).await,
        Choice::Stick(p) => {
            let s = obtain_persistent(be, p, key, limit, &mut q).await;
            persistent = s.as_ref().is_some_and(|s| Arc::ptr_eq(s, p));
            s
        }
        Choice::Direct { idx, force: f } => match obtain_direct(be, idx, limit, &mut q).await {
            Ok(s) => {
                direct = true;
                force = f;
                Some(s)
            }
            // A full queue on the designated server: elsewhere with `option redispatch`
            // (not under `force-persist`), else no server.
            Err(true) if st.redispatch.is_some_and(|n| n != 0) && !f => {
                obtain(be, key, None, limit, &mut q).await
            }
            Err(_) => None,
        },
    };
    (report.srv_queue, report.be_queue) = q;
    let queued = ms_since(started);
    let Some(mut srv) = obtained else {
        // No server, or none before `timeout queue`.
        report.fail = Some(if queued >= limit { *b"sQ" } else { *b"SC" });
        report.queue_ms = (queued >= limit).then_some(queued);
        return None;
    };
    report.queue_ms = Some(queued);
    report.server = Some(srv.clone());
    // Server option `redir` (for requests that may be redirected: GET and HEAD): the
    // server is chosen and counted, the client gets a 302 instead of a connection.
    if let Some(out) = redirect
        && srv.cfg.redir.is_some()
    {
        let mut slot = Slot::new(be, &srv);
        slot.count();
        *out = Some(srv);
        return None;
    }
    if let Some((stream, uses)) = reuse(&srv) {
        let mut slot = Slot::new(be, &srv);
        slot.count();
        srv.idle.reuses.fetch_add(1, Relaxed);
        report.connect_ms = Some(0);
        return Some(Connected {
            srv: Some(srv),
            slot: Some(slot),
            stream,
            uses,
            direct,
        });
    }
    let mut slot = Slot::new(be, &srv);
    for attempt in 0..=retries {
        let target = srv.addr.target(info.dst.port());
        let connecting = now();
        match open(
            target,
            srv.source.as_ref(),
            Some(&srv),
            connect_timeout,
            Some(info),
            sni(&srv).as_deref(),
        )
        .await
        {
            Ok(stream) => {
                slot.count();
                srv.idle.connects.fetch_add(1, Relaxed);
                report.connect_ms = Some(ms_since(connecting));
                crate::server::check::observe(
                    be,
                    &srv,
                    crate::server::check::Observed::L4Ok,
                    crate::runtime::log::quiet(),
                );
                return Some(Connected {
                    srv: Some(srv),
                    slot: Some(slot),
                    stream,
                    uses: 0,
                    direct,
                });
            }
            Err(e) => {
                srv.counters.err_conn.fetch_add(1, Relaxed);
                be.counters.err_conn.fetch_add(1, Relaxed);
                crate::server::check::observe(
                    be,
                    &srv,
                    crate::server::check::Observed::L4Error,
                    crate::runtime::log::quiet(),
                );
                if attempt == retries {
                    report.fail = Some(fail_code(&e));
                    return None;
                }
                report.retries += 1;
                srv.counters.retries.fetch_add(1, Relaxed);
                be.counters.retries.fetch_add(1, Relaxed);
                // HAProxy's rule: with `option redispatch`, move to another server when
                // this one is down, on the retries the interval designates, and on every
                // retry when the server was chosen by the balancer (not by persistence or a
                // hash) among several active servers. Retrying the same server waits a
                // turn-around of min(timeout connect, 1s); moving elsewhere does not.
                let done = attempt as i64 + 1;
                let redispatch = match st.redispatch {
                    None | Some(0) => false,
                    // `force-persist`: never away from the designated server.
                    Some(_) if force => false,
                    Some(n) => {
                        let by_interval = if n > 0 {
                            done % n as i64 == 0
                        } else {
                            let period = retries as i64 + 1 + n as i64;
                            period > 0 && done % period == 0
                        };
                        let balanced = !direct
                            && !persistent
                            && key.is_none()
                            && !st.balance.is_hashed()
                            && be.usable_counts().0 > 1;
                        !srv.is_up() || by_interval || balanced
                    }
                };
                if !redispatch {
                    let turn_around = connect_timeout.unwrap_or(1000).min(1000);
                    tokio::time::sleep(Duration::from_millis(turn_around)).await;
                }
                if redispatch {
                    avoid = be.index_of(&srv);
                    drop(slot);
                    srv.counters.redispatches.fetch_add(1, Relaxed);
                    be.counters.redispatches.fetch_add(1, Relaxed);
                    report.redispatched = true;
                    srv = match obtain(be, None, avoid, limit, &mut q).await {
                        Some(s) => s,
                        None => {
                            report.fail = Some(*b"SC");
                            return None;
                        }
                    };
                    report.server = Some(srv.clone());
                    slot = Slot::new(be, &srv);
                    // Persistence is broken: the client gets a new cookie.
                    direct = false;
                    persistent = false;
                }
                // Otherwise the same server keeps its slot for the next attempt.
            }
        }
    }
    let _ = avoid;
    None
}

/// The termination state of a failed connection: `sC` after `timeout connect`, `SC` when
/// refused or unreachable.
fn fail_code(e: &std::io::Error) -> [u8; 2] {
    if e.kind() == std::io::ErrorKind::TimedOut {
        *b"sC"
    } else {
        *b"SC"
    }
}

/// A new connection to a server the request already holds a slot on (a retry after an
/// idle connection turned out closed).
pub async fn connect_again(
    be: &Backend,
    srv: &Arc<Server>,
    info: &ConnInfo,
    sni: Option<&str>,
) -> Option<ServerStream> {
    let target = srv.addr.target(info.dst.port());
    let r = open(
        target,
        srv.source.as_ref(),
        Some(srv),
        info.ov.connect.or(be.settings.connect_timeout),
        Some(info),
        sni,
    )
    .await;
    match r {
        Ok(s) => {
            srv.idle.connects.fetch_add(1, Relaxed);
            Some(s)
        }
        Err(_) => {
            srv.counters.err_conn.fetch_add(1, Relaxed);
            be.counters.err_conn.fetch_add(1, Relaxed);
            None
        }
    }
}
