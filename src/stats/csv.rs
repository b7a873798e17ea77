//! `show stat` CSV: HAProxy's exact header (2.6 layout, 123 columns before the module
//! fields) and one row per frontend, server and backend. Columns halo does not measure yet
//! are written the way HAProxy writes them for a proxy that never saw that traffic.

use std::sync::atomic::Ordering::Relaxed;

use crate::compile::Runtime;
use crate::stats::now_sec;

pub const HEADER: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,";

// Rows as HAProxy 2.6 writes them for idle proxies: the shape (which columns are empty)
// of each row type. Known fields are then overwritten by name.
const FRONTEND_ROW: &str = "fe,FRONTEND,,,0,0,0,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,0,0,,,,0,0,0,0,,,,,,,,,,,0,0,0,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,tcp,,0,0,0,,0,0,0,,,,,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,";
const SERVER_ROW: &str = "bk,s,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,1,1,0,,,0,,,1,0,0,,0,,2,0,,0,,,,,,,,,,,,,,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,";
const LISTENER_ROW: &str = "fe,sock,,,0,0,0,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,0,0,,,,3,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,tcp,,,,,,0,0,0,,,,,,,,,,,0,,,,,,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,";
const BACKEND_ROW: &str = "bk,BACKEND,0,0,0,0,0,0,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,0,0,,1,0,0,,0,,1,0,,0,,,,,,,,,,,,,,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,tcp,roundrobin,,,,,,,0,0,0,,,,,0,0,0,0,0,,,,,1,0,0,0,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,";

/// One line of `show stat`: a frontend, server or backend, its columns as written.
pub struct Row {
    pub obj: Obj,
    /// The proxy's and server's ids (0 for frontends and backends).
    pub iid: u32,
    pub sid: u32,
    pub cols: Vec<String>,
}

/// What a row describes (`type` column: 0, 1, 2, 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Obj {
    Frontend,
    Backend,
    Server,
    /// A listener of a frontend with `option socket-stats`.
    Listener,
}

/// Which rows `show stat` and the stats page list.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Only this proxy (by id).
    pub iid: Option<u32>,
    /// Bits: 1 frontends, 2 backends, 4 servers, 8 listeners.
    pub kinds: u8,
    /// Only this server (by id).
    pub sid: Option<u32>,
    /// `up` / `;up`: servers that are not UP are left out.
    pub up_only: bool,
    /// `no-maint` / `;no-maint`: servers in maintenance are left out.
    pub no_maint: bool,
}

impl Default for Filter {
    fn default() -> Filter {
        Filter {
            iid: None,
            kinds: 15,
            sid: None,
            up_only: false,
            no_maint: false,
        }
    }
}

impl Filter {
    pub fn keeps(&self, r: &Row) -> bool {
        let bit = match r.obj {
            Obj::Frontend => 1,
            Obj::Backend => 2,
            Obj::Server => 4,
            Obj::Listener => 8,
        };
        if self.kinds & bit == 0 || self.iid.is_some_and(|i| i != r.iid) {
            return false;
        }
        if r.obj != Obj::Server {
            return true;
        }
        let status = r.get("status");
        !(self.sid.is_some_and(|s| s != r.sid)
            || self.up_only && !(status.starts_with("UP") || status == "no check")
            || self.no_maint && status.starts_with("MAINT"))
    }
}

/// The index of a column of `HEADER`.
pub fn col(name: &str) -> Option<usize> {
    HEADER
        .trim_start_matches("# ")
        .split(',')
        .position(|c| c == name)
}

impl Row {
    fn from(template: &str, obj: Obj, iid: u32, sid: u32) -> Row {
        Row {
            obj,
            iid,
            sid,
            cols: template.split(',').map(str::to_string).collect(),
        }
    }

    /// The value of column `name` ("" when empty or unknown).
    pub fn get(&self, name: &str) -> &str {
        col(name)
            .and_then(|i| self.cols.get(i))
            .map_or("", String::as_str)
    }
    pub fn set(&mut self, name: &str, v: impl ToString) {
        if let Some(i) = col(name)
            && i < self.cols.len()
        {
            self.cols[i] = v.to_string();
        }
    }
    pub fn write(&self, out: &mut String) {
        for (i, c) in self.cols.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // As HAProxy: a field holding a comma, quote or line break goes quoted.
            if c.contains([',', '"', '\r', '\n']) {
                out.push('"');
                out.push_str(&c.replace('"', "\"\""));
                out.push('"');
            } else {
                out.push_str(c);
            }
        }
        out.push('\n');
    }
}

fn algo_name(b: &halo_config::model::Balance) -> &'static str {
    use halo_config::model::Balance::*;
    match b {
        RoundRobin => "roundrobin",
        StaticRr => "static-rr",
        LeastConn => "leastconn",
        First => "first",
        Source => "source",
        Random(_) => "random",
        Uri { .. } => "uri",
        UrlParam { .. } => "url_param",
        Hdr { .. } => "hdr",
        RdpCookie(_) => "rdp-cookie",
        Hash(_) => "hash",
    }
}

/// Renders `show stat` for the whole process.
pub fn render(rt: &Runtime) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str(HEADER);
    out.push('\n');
    for r in rows(rt, &|_| true) {
        r.write(&mut out);
    }
    out
}

/// The rows of `show stat` for the proxies `shown` accepts (by name), in HAProxy's order:
/// each proxy's frontend, its servers, its backend.
pub fn rows(rt: &Runtime, shown: &dyn Fn(&str) -> bool) -> Vec<Row> {
    let now = now_sec();
    let pid = 1;
    let mut out = Vec::new();
    for (pi, px) in rt
        .proxies
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.peers_table && shown(&p.name))
    {
        let http = |mode: halo_config::model::Mode| mode == halo_config::model::Mode::Http;
        if let Some(fe) = &px.frontend {
            let c = &fe.counters;
            let mut r = Row::from(FRONTEND_ROW, Obj::Frontend, px.id, 0);
            r.set("pxname", &px.name);
            r.set("scur", c.scur.load(Relaxed));
            r.set("smax", c.smax.load(Relaxed));
            r.set(
                "slim",
                // `set maxconn frontend` changes it at run time.
                crate::runtime::control::frontend_maxconn(pi).unwrap_or(fe.maxconn),
            );
            r.set("stot", c.stot.load(Relaxed));
            r.set("bin", c.bytes_in.load(Relaxed));
            r.set("bout", c.bytes_out.load(Relaxed));
            r.set("dreq", c.denied_req.load(Relaxed));
            r.set("ereq", c.err_req.load(Relaxed));
            r.set("status", if fe.is_paused() { "STOP" } else { "OPEN" });
            r.set("pid", pid);
            r.set("iid", px.id);
            r.set("rate", c.rate(now));
            r.set("rate_max", c.rate_max());
            r.set("mode", fe.mode.name());
            r.set("conn_rate", c.rate(now));
            r.set("conn_rate_max", c.rate_max());
            r.set("conn_tot", c.stot.load(Relaxed));
            r.set("req_rate", c.req_rate.get(now));
            r.set("req_rate_max", c.req_rate.max.load(Relaxed));
            r.set("req_tot", c.req_tot.load(Relaxed));
            if http(fe.mode) {
                set_hrsp(&mut r, c);
                r.set("intercepted", c.intercepted.load(Relaxed));
                r.set("cache_lookups", 0);
                r.set("cache_hits", 0);
            }
            out.push(r);
            // `option socket-stats`: a row per listener.
            for (i, (lc, b)) in fe.listeners.iter().zip(&fe.binds).enumerate() {
                let sid = i as u32 + 1;
                let mut r = Row::from(LISTENER_ROW, Obj::Listener, px.id, sid);
                r.set("pxname", &px.name);
                match &b.name {
                    Some(n) => r.set("svname", n),
                    None => r.set("svname", format!("sock-{sid}")),
                }
                r.set("scur", lc.scur.load(Relaxed));
                r.set("smax", lc.smax.load(Relaxed));
                r.set("slim", b.maxconn.unwrap_or(0));
                r.set("stot", lc.stot.load(Relaxed));
                r.set("bin", lc.bytes_in.load(Relaxed));
                r.set("bout", lc.bytes_out.load(Relaxed));
                r.set("dreq", lc.denied_req.load(Relaxed));
                r.set("ereq", lc.err_req.load(Relaxed));
                r.set("status", if fe.is_paused() { "STOP" } else { "OPEN" });
                r.set("pid", pid);
                r.set("iid", px.id);
                r.set("sid", sid);
                if let Some(a) = listener_addr(b) {
                    r.set("addr", a);
                }
                r.set("mode", fe.mode.name());
                out.push(r);
            }
        }
        if let Some(be) = &px.backend {
            let (bq, sq) = be.queue_lengths();
            // As HAProxy: the active servers' weight while one is up, else the backups'.
            let (mut total_weight, mut bck_weight) = (0u64, 0u64);
            let (mut act, mut bck) = (0, 0);
            let (mut be_connects, mut be_reuses, mut be_lbtot) = (0u64, 0u64, 0u64);
            for (i, s) in be.servers.iter().map(|s| (s.index, s)) {
                let c = &s.counters;
                let mut r = Row::from(SERVER_ROW, Obj::Server, px.id, s.id);
                r.set("pxname", &px.name);
                r.set("svname", &s.name);
                r.set("qcur", sq.get(i).copied().unwrap_or(0));
                r.set("qmax", c.qmax.load(Relaxed));
                r.set("qtime", c.qtime());
                r.set("qtime_max", c.qtime_max.load(Relaxed));
                let cur = s.cur.load(Relaxed);
                r.set("scur", cur);
                r.set("smax", c.smax.load(Relaxed).max(cur as u64));
                let max = s.maxconn.load(Relaxed);
                r.set(
                    "slim",
                    if max > 0 {
                        max.to_string()
                    } else {
                        String::new()
                    },
                );
                r.set("stot", c.stot.load(Relaxed));
                r.set("bin", c.bytes_in.load(Relaxed));
                r.set("bout", c.bytes_out.load(Relaxed));
                r.set("econ", c.err_conn.load(Relaxed));
                r.set("eresp", c.err_resp.load(Relaxed));
                r.set("wretr", c.retries.load(Relaxed));
                r.set("wredis", c.redispatches.load(Relaxed));
                r.set("status", s.status_word());
                if let Some(t) = s.tracked_name() {
                    r.set("tracked", t);
                }
                if let Some(t) = s.throttle() {
                    r.set("throttle", t);
                }
                let w = s.uweight.load(Relaxed);
                let eff = if s.usable() { w } else { 0 };
                r.set("weight", w);
                r.set("act", u8::from(!s.backup));
                r.set("bck", u8::from(s.backup));
                if s.usable() {
                    if s.backup {
                        bck += 1;
                        bck_weight += eff as u64;
                    } else {
                        act += 1;
                        total_weight += eff as u64;
                    }
                }
                let last = s.last_change.load(Relaxed);
                r.set("lastchg", now.saturating_sub(last));
                if s.checked() {
                    r.set("chkfail", s.chkfail.load(Relaxed));
                    r.set("chkdown", s.chkdown.load(Relaxed));
                    let mut dt = s.downtime.load(Relaxed);
                    let since = s.down_since.load(Relaxed);
                    if since > 0 {
                        dt += now.saturating_sub(since);
                    }
                    r.set("downtime", dt);
                    // As HAProxy: checks are paused in maintenance, their result hidden.
                    if let Ok(ck) = s.check.lock()
                        && !ck.status.is_empty()
                        && s.admin() != crate::server::Admin::Maint
                    {
                        if ck.in_progress {
                            r.set("check_status", format!("* {}", ck.status));
                        } else {
                            r.set("check_status", ck.status);
                        }
                        r.set("check_duration", ck.duration_ms.unwrap_or(0));
                        r.set("check_desc", &ck.desc);
                        if let Some(code) = ck.code {
                            r.set("check_code", code);
                        }
                        if !ck.info.is_empty() {
                            r.set("last_chk", &ck.info);
                        }
                    }
                    r.set("check_rise", s.cfg.rise);
                    r.set("check_fall", s.cfg.fall);
                    r.set("check_health", s.health.load(Relaxed));
                }
                if s.agent.active() {
                    if let Ok(ag) = s.agent.result.lock()
                        && !ag.status.is_empty()
                    {
                        if ag.in_progress {
                            r.set("agent_status", format!("* {}", ag.status));
                        } else {
                            r.set("agent_status", ag.status);
                        }
                        if let Some(code) = ag.code {
                            r.set("agent_code", code);
                        }
                        r.set("agent_duration", ag.duration_ms.unwrap_or(0));
                        r.set("agent_desc", &ag.desc);
                        if !ag.info.is_empty() {
                            r.set("last_agt", &ag.info);
                        }
                    }
                    r.set("agent_rise", crate::server::check::agent::RISE);
                    r.set("agent_fall", crate::server::check::agent::FALL);
                    r.set("agent_health", s.agent.health.load(Relaxed));
                }
                r.set(
                    "qlimit",
                    if s.maxqueue > 0 {
                        s.maxqueue.to_string()
                    } else {
                        String::new()
                    },
                );
                r.set("pid", pid);
                r.set("iid", px.id);
                r.set("sid", s.id);
                r.set("lbtot", c.lbtot.load(Relaxed));
                r.set("rate", c.rate(now));
                r.set("rate_max", c.rate_max());
                r.set("cli_abrt", c.cli_abort.load(Relaxed));
                r.set("srv_abrt", c.srv_abort.load(Relaxed));
                if !s.addr_none.load(Relaxed) {
                    r.set("addr", s.addr.target(0).to_string());
                }
                if let Some(ck) = &s.cfg.cookie {
                    r.set("cookie", ck);
                }
                r.set("mode", be.settings.mode.name());
                r.set("uweight", w);
                set_times(&mut r, c);
                let connects = s.idle.connects.load(Relaxed);
                let reuses = s.idle.reuses.load(Relaxed);
                be_connects += connects;
                be_reuses += reuses;
                be_lbtot += c.lbtot.load(Relaxed);
                r.set("connect", connects);
                r.set("reuse", reuses);
                if http(be.settings.mode) {
                    set_hrsp(&mut r, c);
                    r.set("req_tot", c.req_tot.load(Relaxed));
                    let (fresh, safe) = s.idle.counts();
                    r.set("srv_icur", fresh + safe);
                    if s.idle.settings.max_conn >= 0 {
                        r.set("src_ilim", s.idle.settings.max_conn);
                    }
                    r.set("idle_conn_cur", fresh);
                    r.set("safe_conn_cur", safe);
                    r.set("used_conn_cur", cur);
                }
                r.set("need_conn_est", s.idle.need());
                out.push(r);
            }
            if act == 0 {
                total_weight = bck_weight;
            }
            let c = &be.counters;
            let mut r = Row::from(BACKEND_ROW, Obj::Backend, px.id, 0);
            r.set("pxname", &px.name);
            r.set("connect", be_connects);
            r.set("reuse", be_reuses);
            r.set("qcur", bq);
            r.set("qmax", c.qmax.load(Relaxed));
            r.set("qtime", c.qtime());
            r.set("qtime_max", c.qtime_max.load(Relaxed));
            r.set("scur", c.scur.load(Relaxed));
            r.set("smax", c.smax.load(Relaxed));
            r.set("slim", px.backend_slim);
            r.set("stot", c.stot.load(Relaxed));
            r.set("bin", c.bytes_in.load(Relaxed));
            r.set("bout", c.bytes_out.load(Relaxed));
            r.set("econ", c.err_conn.load(Relaxed));
            r.set("eresp", c.err_resp.load(Relaxed));
            r.set("wretr", c.retries.load(Relaxed));
            r.set("wredis", c.redispatches.load(Relaxed));
            // As HAProxy: a backend without servers (a stats page, `dispatch`) is UP.
            let up = act + bck > 0 || be.servers.is_empty();
            r.set("status", if up { "UP" } else { "DOWN" });
            r.set("weight", total_weight);
            r.set("act", act);
            r.set("bck", bck);
            r.set("lastchg", now.saturating_sub(be.last_change.load(Relaxed)));
            r.set("pid", pid);
            r.set("iid", px.id);
            r.set("lbtot", c.lbtot.load(Relaxed) + be_lbtot);
            if be.servers.is_empty() {
                r.set("downtime", "");
            }
            r.set("rate", c.rate(now));
            r.set("rate_max", c.rate_max());
            r.set("cli_abrt", c.cli_abort.load(Relaxed));
            r.set("srv_abrt", c.srv_abort.load(Relaxed));
            r.set("mode", be.settings.mode.name());
            r.set("algo", algo_name(&be.settings.balance));
            if let Some(ck) = &px.http.cookie {
                r.set("cookie", &ck.name);
            }
            r.set("uweight", total_weight);
            set_times(&mut r, c);
            if http(be.settings.mode) {
                set_hrsp(&mut r, c);
                r.set("req_tot", c.req_tot.load(Relaxed));
                r.set("cache_lookups", 0);
                r.set("cache_hits", 0);
            }
            out.push(r);
        }
    }
    out
}

fn set_hrsp(r: &mut Row, c: &crate::stats::Counters) {
    for (i, name) in [
        "hrsp_1xx",
        "hrsp_2xx",
        "hrsp_3xx",
        "hrsp_4xx",
        "hrsp_5xx",
        "hrsp_other",
    ]
    .into_iter()
    .enumerate()
    {
        r.set(name, c.hrsp[i].load(Relaxed));
    }
}

/// `lastsess` and the averages and maxima of the queue, connect, response and total times.
fn set_times(r: &mut Row, c: &crate::stats::Counters) {
    let last = c.last_sess.load(Relaxed);
    r.set(
        "lastsess",
        if last == 0 {
            -1
        } else {
            now_sec().saturating_sub(last) as i64
        },
    );
    let (ct, rt, tt) = c.times();
    r.set("ctime", ct);
    r.set("rtime", rt);
    r.set("ttime", tt);
    r.set("ctime_max", c.ctime_max.load(Relaxed));
    r.set("rtime_max", c.rtime_max.load(Relaxed));
    r.set("ttime_max", c.ttime_max.load(Relaxed));
}

/// The address of a listener row (`addr`): its first address, `IP:PORT` as HAProxy shows it
/// (`unix@PATH` for a UNIX socket).
fn listener_addr(b: &halo_config::model::Bind) -> Option<String> {
    use halo_config::addr::{Address, PortSpec};
    match b.addresses.first()? {
        Address::Inet { ip, port, .. } => {
            let port = match port {
                PortSpec::Fixed(p) | PortSpec::Range(p, _) => *p,
                _ => 0,
            };
            Some(std::net::SocketAddr::new((*ip)?, port).to_string())
        }
        Address::Unix(p) => Some(format!("unix@{p}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_header_width() {
        let n = HEADER.split(',').count();
        assert_eq!(FRONTEND_ROW.split(',').count(), n);
        assert_eq!(SERVER_ROW.split(',').count(), n);
        assert_eq!(BACKEND_ROW.split(',').count(), n);
        assert_eq!(col("pxname"), Some(0));
        assert_eq!(col("status"), Some(17));
    }
}
