//! Turning the typed model into the runtime snapshot: proxies with their frontend and
//! backend halves, every backend name resolved to an index, server addresses resolved,
//! limits computed (global and frontend maxconn, fullconn defaults), monitor networks parsed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};

use halo_config::addr::{Address, PortSpec};
use halo_config::model::{self, Bind, Config, Mode, ProxyKind};
use halo_config::{Diags, Loc};

use crate::server::{Backend, BackendSettings, Server, ServerAddr};
use crate::stats::{Counters, now_sec};

/// An IP network for `monitor-net`.
#[derive(Debug, Clone, Copy)]
pub struct Net {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Net {
    pub fn parse(s: &str) -> Option<Net> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => {
                if let Ok(n) = p.parse::<u8>() {
                    n
                } else {
                    // Dotted netmask.
                    let m: std::net::Ipv4Addr = p.parse().ok()?;
                    u32::from(m).count_ones() as u8
                }
            }
        };
        if prefix > max {
            return None;
        }
        Some(Net { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                (u32::from(n) & mask) == (u32::from(i) & mask)
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                (u128::from(n) & mask) == (u128::from(i) & mask)
            }
            _ => false,
        }
    }
}

/// HTTP settings of a proxy (either half).
#[derive(Debug, Default)]
pub struct HttpSettings {
    pub forwardfor: Option<ForwardFor>,
    pub originalto: Option<ForwardFor>,
    /// `option http-ignore-probes`: connections that send nothing get no 400/408.
    pub ignore_probes: bool,
    /// `option http-use-proxy-header`: requests in proxy form authenticate with
    /// `Proxy-Authorization` and are challenged with a 407.
    pub use_proxy_header: bool,
    pub mode: halo_config::model::HttpConnMode,
    /// `option http-buffer-request`: wait for the request body before the rules.
    pub buffer_request: bool,
    /// `option accept-unsafe-violations-in-http-request|response` (1.x
    /// `accept-invalid-http-*`): the codec lets through what HAProxy then tolerates.
    pub accept_unsafe_req: bool,
    pub accept_unsafe_res: bool,
    /// `option h1-case-adjust-bogus-client` (responses to clients) and `-server` (requests
    /// to servers): header names spelled as the global `h1-case-adjust` says.
    pub case_adjust_client: bool,
    pub case_adjust_server: bool,
    /// `max-session-srv-conns` is not 0: a client session keeps its idle server connection
    /// for its next request.
    pub session_keeps_conn: bool,
    /// `option forwarded` (backends only).
    pub forwarded: Option<crate::http::options::Forwarded>,
    /// `option http-restrict-req-hdr-names`.
    pub restrict_names: crate::http::options::RestrictNames,
    /// `option checkcache`.
    pub checkcache: bool,
    /// `option http-no-delay`: `TCP_NODELAY` on both connections, nothing held back.
    pub no_delay: bool,
    /// `option idle-close-on-response`: an idle client connection is not closed at a soft
    /// stop; it gets `connection: close` on its next response.
    pub idle_close_on_response: bool,
    /// `option http-drop-request-trailers` / `http-drop-response-trailers`.
    pub drop_req_trailers: bool,
    pub drop_res_trailers: bool,
    /// `http-request`/`http-response`, `redirect`, `monitor-uri`, 1.x `req*`/`rsp*`.
    pub rules: crate::http::rules::ProxyRules,
    /// `errorfile`, `errorloc*`, `errorfiles`, `http-error`.
    pub pages: crate::http::pages::Pages,
    /// `cookie` (backends).
    pub cookie: Option<model::Cookie>,
    /// `force-persist` (true) / `ignore-persist` (false) rules, in order.
    pub persist_rules: Vec<(bool, crate::acl::Cond)>,
    /// The stats page (`stats enable`…), in HTTP proxies.
    pub stats: Option<Box<crate::stats::page::StatsPage>>,
}

#[derive(Debug, Clone)]
pub struct ForwardFor {
    pub except: Option<Net>,
    pub header: String,
    pub if_none: bool,
}

pub struct Frontend {
    pub mode: Mode,
    /// `use_backend` rules in order: backend index and condition.
    pub switching: Switching,
    /// `force-be-switch` conditions: when one holds, disabled and unpublished backends
    /// may be chosen too.
    pub force_switch: Vec<crate::acl::Cond>,
    pub http_request_timeout: Option<u64>,
    pub http_keep_alive_timeout: Option<u64>,
    pub maxconn: u32,
    pub binds: Vec<Bind>,
    /// The TLS side of each bind line (same order), for `ssl` ones.
    pub bind_tls: Vec<Option<Arc<crate::tls::bind::BindTls>>>,
    /// `timeout client-hs`, else `timeout client`: the longest TLS handshake.
    pub handshake_timeout: Option<u64>,
    /// Backend (index into `Runtime::proxies`) for connections no rule sent elsewhere.
    pub default_backend: Option<usize>,
    pub client_timeout: Option<u64>,
    pub client_fin_timeout: Option<u64>,
    pub tunnel_timeout: Option<u64>,
    /// `option contstats`: long streams add to the byte counters as they run.
    pub contstats: bool,
    /// `option socket-stats`: the counters of each bind line (empty without it).
    pub listeners: Vec<Counters>,
    pub monitor_net: Vec<Net>,
    /// Whether sessions need the real destination address of each connection (PROXY
    /// header towards servers, port-relative server addresses, wildcard binds); when not,
    /// the listener's address stands for it and no syscall is spent per connection.
    pub needs_dst: bool,
    pub counters: Counters,
    /// Current connections (for the frontend maxconn).
    pub cur: AtomicU32,
    pub paused: AtomicBool,
    /// `rate-limit sessions`.
    pub sess_rate: crate::runtime::rate::AcceptRate,
    /// Listeners' pause state (0 running, 1 paused by SIGTTOU, 2 stopped).
    pub state: AtomicU8,
}

impl Frontend {
    /// The counters of bind line `bind` (`option socket-stats`).
    pub fn listener(&self, bind: usize) -> Option<&Counters> {
        self.listeners.get(bind)
    }

    /// An invalid request (`ereq`), on the frontend and its listener.
    pub fn count_err_req(&self, bind: usize) {
        self.counters.err_req.fetch_add(1, Relaxed);
        if let Some(l) = self.listener(bind) {
            l.err_req.fetch_add(1, Relaxed);
        }
    }

    /// A denied request (`dreq`), on the frontend and its listener.
    pub fn count_denied_req(&self, bind: usize) {
        self.counters.denied_req.fetch_add(1, Relaxed);
        if let Some(l) = self.listener(bind) {
            l.denied_req.fetch_add(1, Relaxed);
        }
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Relaxed)
    }

    /// The backend of a stream: the first `use_backend` rule whose condition holds (a
    /// dynamic name that names no backend ends the search), else `default_backend`.
    pub fn choose_backend(
        &self,
        rt: &Runtime,
        acls: &crate::acl::AclSet,
        ctx: &crate::sample::Ctx<'_>,
    ) -> Option<usize> {
        // Evaluated once, when a rule names a backend that is disabled or unpublished.
        let mut forced: Option<bool> = None;
        let mut allowed = |b: usize| {
            let open = rt
                .proxies
                .get(b)
                .and_then(|p| p.backend.as_ref())
                .is_none_or(|be| be.switchable());
            open || *forced
                .get_or_insert_with(|| self.force_switch.iter().any(|c| c.eval(acls, ctx)))
        };
        for (target, cond) in &self.switching {
            if !cond.as_ref().map(|c| c.eval(acls, ctx)).unwrap_or(true) {
                continue;
            }
            let chosen = match target {
                BackendTarget::Index(b) => Some(*b),
                BackendTarget::Dynamic(f) => {
                    let name = f.render_vec(ctx);
                    match std::str::from_utf8(&name)
                        .ok()
                        .and_then(|n| rt.backend_index(n))
                    {
                        Some(b) => Some(b),
                        // A name that names no backend ends the search.
                        None => break,
                    }
                }
            };
            // A backend that may not be chosen passes the turn to the next rule.
            if let Some(b) = chosen
                && allowed(b)
            {
                return Some(b);
            }
        }
        self.default_backend.filter(|&b| allowed(b))
    }
}

/// `use_backend` rules in order: where each sends the stream and when.
type Switching = Vec<(BackendTarget, Option<crate::acl::Cond>)>;

/// Where a `use_backend` rule sends the stream.
#[derive(Debug)]
pub enum BackendTarget {
    Index(usize),
    /// `use_backend %[...]`: the name is rendered per stream.
    Dynamic(crate::sample::logfmt::LogFormat),
}

pub struct ProxyRt {
    pub name: String,
    pub id: u32,
    pub kind: ProxyKind,
    /// Named ACLs of the proxy.
    pub acls: crate::acl::AclSet,
    pub http: HttpSettings,
    pub frontend: Option<Frontend>,
    pub backend: Option<Arc<Backend>>,
    /// `slim` of the BACKEND stats row (fullconn).
    pub backend_slim: u32,
    /// `stick-table` declared in this proxy.
    pub table: Option<Arc<crate::stick::Table>>,
    /// `stick on|match|store-request|store-response` rules of the backend.
    pub stick: crate::stick::rules::StickRules,
    /// `tcp-request` / `tcp-response` rules and inspect delays.
    pub tcp: crate::tcp::TcpRules,
    /// Only carries a `table` of a `peers` section: no stats row, no servers.
    pub peers_table: bool,
    /// `use-server` rules of the backend.
    pub use_server: crate::proxy::use_server::UseServerRules,
    /// Where the frontend's log lines go and what they say (None: no line).
    pub log: Option<Box<crate::log::ProxyLog>>,
    /// `unique-id-format` / `unique-id-header` of the frontend.
    pub unique_id: Option<Box<crate::log::UniqueId>>,
    /// The last invalid request and response (`show errors`).
    pub errors: crate::stats::errors::Captures,
}

pub struct Runtime {
    pub global: model::Global,
    /// The certificates of `bind … ssl` lines, for the runtime API.
    pub tls_store: crate::tls::store::Store,
    /// The check scheduler's settings, set when checks start (servers added by the
    /// runtime API start theirs with them).
    pub check_settings: std::sync::OnceLock<crate::server::check::CheckSettings>,
    /// Pattern files, map files and inline ACL patterns (`show map`, `add acl`…).
    pub registry: crate::pattern::Registry,
    pub proxies: Vec<ProxyRt>,
    pub by_name: HashMap<String, usize>,
    /// Effective global maxconn.
    pub maxconn: u32,
    pub quiet: bool,
    pub start_sec: u64,
    pub cum_conns: AtomicU64,
    pub cur_conns: AtomicU32,
    /// `maxconnrate` / `maxsessrate` (changed by `set rate-limit`).
    pub conn_rate: crate::runtime::rate::AcceptRate,
    pub sess_rate: crate::runtime::rate::AcceptRate,
    /// `maxsslrate`: new connections per second on `ssl` bind lines.
    pub ssl_rate: crate::runtime::rate::AcceptRate,
    pub stopping: AtomicBool,
    /// Global `h1-case-adjust` and `h1-case-adjust-file`, used by proxies with
    /// `option h1-case-adjust-bogus-client|server`.
    pub case_adjust: crate::http::h1::CaseAdjust,
    /// The `peers` sections this process is a peer of.
    pub peers: Vec<Arc<crate::stick::peers::Section>>,
    /// The `ring` sections (`show events`, `log ring@NAME`).
    pub rings: Vec<Arc<crate::log::ring::Ring>>,
    /// The `log-forward` sections.
    pub forwards: Vec<Arc<crate::log::forward::Forward>>,
}

impl Runtime {
    /// Index of the backend-capable proxy called `name`.
    pub fn backend_index(&self, name: &str) -> Option<usize> {
        match self.by_name.get(name) {
            Some(&i) if self.proxies.get(i).is_some_and(|p| p.backend.is_some()) => Some(i),
            _ => self
                .proxies
                .iter()
                .position(|p| p.name == name && p.backend.is_some()),
        }
    }

    pub fn backend(&self, name: &str) -> Option<&Arc<Backend>> {
        self.by_name
            .get(name)
            .and_then(|&i| self.proxies[i].backend.as_ref())
    }
}

fn resolve(host: &str, ip: Option<IpAddr>) -> Result<IpAddr, String> {
    if let Some(ip) = ip {
        return Ok(ip);
    }
    (host, 0)
        .to_socket_addrs()
        .map_err(|e| format!("could not resolve address '{host}': {e}"))?
        .next()
        .map(|a| a.ip())
        .ok_or_else(|| format!("could not resolve address '{host}'"))
}

struct Names<'a> {
    cfg: &'a Config,
    current: usize,
    /// Map files for the `map*` converters.
    registry: &'a crate::pattern::Registry,
    /// The userlists, for `http_auth()` and `http_auth_group()`.
    userlists: &'a HashMap<String, Arc<crate::auth::Userlist>>,
    /// Origin of the expressions (`show map` descriptions): the proxy's line, unless a
    /// caller wraps the resolver in `sample::Located` with a rule's line.
    loc: &'a Loc,
    /// The proxies' stick tables, by proxy index (`src_*`, `table_cnt`, `track-sc`).
    tables: &'a [Option<Arc<crate::stick::Table>>],
}

impl crate::sample::Resolver for Names<'_> {
    fn backend(&self, name: &str) -> Option<usize> {
        self.cfg
            .proxies
            .iter()
            .position(|p| p.name == name && p.kind.is_backend())
    }
    fn frontend(&self, name: &str) -> Option<usize> {
        self.cfg
            .proxies
            .iter()
            .position(|p| p.name == name && p.kind.is_frontend())
    }
    fn current(&self) -> Option<usize> {
        Some(self.current)
    }
    fn registry(&self) -> Option<&crate::pattern::Registry> {
        Some(self.registry)
    }
    fn origin(&self) -> (String, usize) {
        (self.loc.file.to_string(), self.loc.line)
    }
    fn userlist(&self, name: &str) -> Option<Arc<crate::auth::Userlist>> {
        self.userlists.get(name).cloned()
    }
    fn stick_counters(&self) -> usize {
        self.cfg.global.tune_stick_counters
    }
    fn table(&self, name: Option<&str>) -> Option<Arc<crate::stick::Table>> {
        let i = match name {
            None => self.current,
            Some(n) => self.cfg.proxies.iter().position(|q| q.name == n)?,
        };
        self.tables.get(i).cloned().flatten()
    }
}

/// Compiles a proxy's ACLs and `use_backend` rules.
fn compile_rules(
    cfg: &Config,
    pi: usize,
    registry: &crate::pattern::Registry,
    userlists: &HashMap<String, Arc<crate::auth::Userlist>>,
    backend_index: &HashMap<&str, usize>,
    tables: &[Option<Arc<crate::stick::Table>>],
    diags: &mut Diags,
) -> (crate::acl::AclSet, Switching, Vec<crate::acl::Cond>) {
    let p = &cfg.proxies[pi];
    let names = Names {
        cfg,
        current: pi,
        registry,
        userlists,
        loc: &p.loc,
        tables,
    };
    let mut acls = crate::acl::AclSet::default();
    for a in &p.acls {
        let cx = crate::acl::AclCtx {
            file: &a.loc.file,
            line: a.loc.line,
            registry,
            resolver: &names,
        };
        match crate::acl::AclTerm::compile(&a.words, &cx) {
            Ok(t) => acls.add(&a.name, t),
            Err(e) => diags.alert(
                &a.loc,
                format!("error detected while parsing ACL '{}' : {e}.", a.name),
            ),
        }
    }
    let mut switching = Vec::new();
    for ub in &p.use_backends {
        let target = if ub.backend.contains("%[") {
            let r = crate::sample::Located::new(&names, &ub.loc.file, ub.loc.line);
            match crate::sample::logfmt::LogFormat::parse(&ub.backend, &r) {
                Ok(f) => BackendTarget::Dynamic(f),
                Err(e) => {
                    diags.alert(
                        &ub.loc,
                        format!(
                            "error detected while parsing 'use_backend {}' : {e}.",
                            ub.backend
                        ),
                    );
                    continue;
                }
            }
        } else {
            let Some(&bi) = backend_index.get(ub.backend.as_str()) else {
                continue;
            };
            BackendTarget::Index(bi)
        };
        let cond = match &ub.cond {
            None => None,
            Some(c) => {
                let cx = crate::acl::AclCtx {
                    file: &ub.loc.file,
                    line: ub.loc.line,
                    registry,
                    resolver: &names,
                };
                match crate::acl::Cond::compile(c, &acls, &cx) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        diags.alert(
                            &ub.loc,
                            format!(
                                "error detected while parsing a 'use_backend' condition : {e}."
                            ),
                        );
                        continue;
                    }
                }
            }
        };
        switching.push((target, cond));
    }
    let mut force = Vec::new();
    for (c, loc) in &p.force_be_switch {
        let cx = crate::acl::AclCtx {
            file: &loc.file,
            line: loc.line,
            registry,
            resolver: &names,
        };
        match crate::acl::Cond::compile(c, &acls, &cx) {
            Ok(c) => force.push(c),
            Err(e) => diags.alert(
                loc,
                format!("error detected while parsing a 'force-be-switch' condition : {e}."),
            ),
        }
    }
    (acls, switching, force)
}

fn http_settings(s: &model::ProxySettings, diags: &mut Diags, loc: &Loc) -> HttpSettings {
    let mut header_option = |f: &model::ForwardFor, what: &str| ForwardFor {
        except: f.except.as_ref().and_then(|n| {
            let net = Net::parse(n);
            if net.is_none() {
                diags.alert(
                    loc,
                    format!("'option {what} except' : invalid network '{n}'."),
                );
            }
            net
        }),
        header: f.header.clone(),
        if_none: f.if_none,
    };
    let forwardfor = s
        .forwardfor
        .as_ref()
        .map(|f| header_option(f, "forwardfor"));
    let originalto = s
        .originalto
        .as_ref()
        .map(|f| header_option(f, "originalto"));
    HttpSettings {
        forwardfor,
        originalto,
        ignore_probes: s.option("http-ignore-probes").unwrap_or(false),
        use_proxy_header: s.option("http-use-proxy-header").unwrap_or(false),
        mode: s.http_mode,
        buffer_request: s.option("http-buffer-request").unwrap_or(false),
        accept_unsafe_req: s
            .option("accept-unsafe-violations-in-http-request")
            .unwrap_or(false),
        accept_unsafe_res: s
            .option("accept-unsafe-violations-in-http-response")
            .unwrap_or(false),
        case_adjust_client: s.option("h1-case-adjust-bogus-client").unwrap_or(false),
        case_adjust_server: s.option("h1-case-adjust-bogus-server").unwrap_or(false),
        session_keeps_conn: s.max_session_srv_conns != Some(0),
        forwarded: None,
        restrict_names: crate::http::options::RestrictNames::from_name(
            s.restrict_req_hdr_names.as_deref(),
        ),
        checkcache: s.option("checkcache").unwrap_or(false),
        no_delay: s.option("http-no-delay").unwrap_or(false),
        idle_close_on_response: s.option("idle-close-on-response").unwrap_or(false),
        drop_req_trailers: s.option("http-drop-request-trailers").unwrap_or(false),
        drop_res_trailers: s.option("http-drop-response-trailers").unwrap_or(false),
        rules: Default::default(),
        pages: Default::default(),
        cookie: s.cookie.clone(),
        persist_rules: Vec::new(),
        stats: None,
    }
}

/// Names for expressions of the global section (`set-var`): proxies by name, no current.
struct GlobalNames<'a>(&'a Config);

impl crate::sample::Resolver for GlobalNames<'_> {
    fn backend(&self, name: &str) -> Option<usize> {
        self.0
            .proxies
            .iter()
            .position(|p| p.name == name && p.kind.is_backend())
    }
    fn frontend(&self, name: &str) -> Option<usize> {
        self.0
            .proxies
            .iter()
            .position(|p| p.name == name && p.kind.is_frontend())
    }
    fn current(&self) -> Option<usize> {
        None
    }
}

/// The global `set-var` / `set-var-fmt` lines, evaluated in order at startup into the
/// process-wide variables (`proc.` scope).
fn set_global_vars(cfg: &Config, diags: &mut Diags) {
    use crate::sample::{Ctx, Expr, Sample, logfmt::LogFormat, vars};
    let names = GlobalNames(cfg);
    for v in &cfg.global.set_vars {
        let kw = if v.fmt { "set-var-fmt" } else { "set-var" };
        let var = match vars::VarName::parse(&v.name) {
            Ok(n) => n,
            Err(e) => {
                diags.alert(&v.loc, format!("'{kw}' : {e}."));
                continue;
            }
        };
        let ctx = Ctx::empty();
        let value = if v.fmt {
            LogFormat::parse(&v.value, &names)
                .map(|f| Some(Sample::Str(std::borrow::Cow::Owned(f.render_vec(&ctx)))))
        } else {
            Expr::parse(&v.value, &names).map(|e| e.eval(&ctx).map(Sample::into_owned))
        };
        match value {
            Ok(Some(s)) => {
                if !vars::proc_set(&var.name, Some(s)) {
                    diags.warning(
                        &v.loc,
                        format!("'{kw}' : no room for '{}' within tune.vars limits.", v.name),
                    );
                }
            }
            Ok(None) => {}
            Err(e) => diags.alert(&v.loc, format!("'{kw}' : {e}.")),
        }
    }
}

/// Compiles the model. `maxconn` is the effective global maxconn (after the fd limit).
pub fn compile(cfg: &Config, maxconn: u32, quiet: bool, diags: &mut Diags) -> Runtime {
    set_global_vars(cfg, diags);
    // The servers' states saved before a reload (`load-server-state-from-file global`).
    let state_files = crate::server::state_file::StateFiles::load(&cfg.global, &cfg.proxies, diags);
    let registry = crate::pattern::Registry::new();
    let tls_store = crate::tls::store::Store::default();
    crate::tls::SKIP_SELF_ISSUED_CA.store(
        cfg.global.ssl_skip_self_issued_ca,
        std::sync::atomic::Ordering::Relaxed,
    );
    let userlists: HashMap<String, Arc<crate::auth::Userlist>> = cfg
        .userlists
        .iter()
        .map(|u| {
            (
                u.name.clone(),
                Arc::new(crate::auth::Userlist::build(u, diags)),
            )
        })
        .collect();
    let mut by_name = HashMap::new();
    let mut backend_index: HashMap<&str, usize> = HashMap::new();
    for (i, p) in cfg.proxies.iter().enumerate() {
        by_name.entry(p.name.clone()).or_insert(i);
        if p.kind.is_backend() {
            backend_index.insert(&p.name, i);
        }
    }
    // Automatic ids: proxies get the first free id from 2 on (HAProxy keeps 1 for stats).
    let mut used: Vec<u32> = cfg.proxies.iter().filter_map(|p| p.id).collect();
    let mut next_id = 2;
    let mut ids = Vec::new();
    for p in &cfg.proxies {
        let id = match p.id {
            Some(id) => id,
            None => {
                while used.contains(&next_id) {
                    next_id += 1;
                }
                used.push(next_id);
                next_id
            }
        };
        ids.push(id);
    }
    // fullconn default: 10% of the sum of the maxconn of the frontends that can reach
    // the backend (HAProxy's rule), at least 1.
    let mut reach: HashMap<usize, u64> = HashMap::new();
    for p in &cfg.proxies {
        if !p.kind.is_frontend() {
            continue;
        }
        let fe_max = p.settings.maxconn.unwrap_or(maxconn) as u64;
        let mut targets: Vec<usize> = Vec::new();
        if p.kind == ProxyKind::Listen
            && let Some(&i) = backend_index.get(p.name.as_str())
        {
            targets.push(i);
        }
        if let Some((b, _)) = &p.settings.default_backend
            && let Some(&i) = backend_index.get(b.as_str())
        {
            targets.push(i);
        }
        for ub in &p.use_backends {
            if let Some(&i) = backend_index.get(ub.backend.as_str()) {
                targets.push(i);
            }
        }
        targets.sort_unstable();
        targets.dedup();
        for t in targets {
            *reach.entry(t).or_insert(0) += fe_max;
        }
    }
    // Stick tables first: rules of any proxy may use another proxy's table.
    // Tables a `stick` rule uses store the server's id and name.
    let mut sticky: Vec<&str> = Vec::new();
    for p in &cfg.proxies {
        for r in p.rules.iter().filter(|r| r.keyword.starts_with("stick ")) {
            match r.args.iter().position(|a| a == "table") {
                Some(i) => sticky.extend(r.args.get(i + 1).map(String::as_str)),
                None => sticky.push(&p.name),
            }
        }
    }
    let tables: Vec<Option<Arc<crate::stick::Table>>> = cfg
        .proxies
        .iter()
        .map(|p| {
            let (words, loc) = p.stick_table.as_ref()?;
            match crate::stick::TableConf::parse(words) {
                Ok(mut c) => {
                    if sticky.contains(&p.name.as_str()) {
                        c.add_server_columns();
                    }
                    Some(Arc::new(crate::stick::Table::new(&p.name, c)))
                }
                Err(e) => {
                    diags.alert(
                        loc,
                        format!("{} '{}' : 'stick-table' : {e}.", p.kind.name(), p.name),
                    );
                    None
                }
            }
        })
        .collect();
    let peers = compile_peers(cfg, &tables, quiet, diags);
    let mut proxies = Vec::new();
    let mut app_tables: Vec<(usize, Arc<crate::stick::Table>)> = Vec::new();
    // Rings first: `log ring@NAME` lines write to them.
    let mut rings = vec![Arc::new(crate::log::ring::Ring::buf0())];
    for r in &cfg.rings {
        match crate::log::ring::Ring::new(r, cfg.global.tune_bufsize) {
            Ok(ring) => rings.push(Arc::new(ring)),
            Err(e) => diags.alert(&r.loc, e),
        }
    }
    let mut global_logs = crate::log::GlobalLogs::new(&cfg.global, rings.clone());
    global_logs.profiles = cfg.log_profiles.clone();
    for r in cfg.proxies.iter().flat_map(|p| &p.rules) {
        if let [a, p, name, ..] = r.args.as_slice()
            && a == "do-log"
            && p == "profile"
            && !global_logs.do_log_profiles.contains(name)
        {
            global_logs.do_log_profiles.push(name.clone());
        }
    }
    let forwards = cfg
        .log_forwards
        .iter()
        .map(|f| Arc::new(crate::log::forward::Forward::new(f, &global_logs)))
        .collect();
    crate::stats::CALC_MAX.store(
        !cfg.global.stats_no_max,
        std::sync::atomic::Ordering::Relaxed,
    );
    crate::stick::track::set_status_codes(&cfg.global.http_err_codes, &cfg.global.http_fail_codes);
    crate::log::record::URI_MAX.store(
        cfg.global.tune_http_logurilen,
        std::sync::atomic::Ordering::Relaxed,
    );
    for (pi, p) in cfg.proxies.iter().enumerate() {
        let s = &p.settings;
        // How the proxy's expressions find names (ACLs, maps, tables…).
        let names = Names {
            cfg,
            current: pi,
            registry: &registry,
            userlists: &userlists,
            loc: &p.loc,
            tables: &tables,
        };
        let (acls, switching, force_switch) = compile_rules(
            cfg,
            pi,
            &registry,
            &userlists,
            &backend_index,
            &tables,
            diags,
        );
        let stick = {
            let table_of = |name: Option<&str>| -> Option<Arc<crate::stick::Table>> {
                let i = match name {
                    None => pi,
                    Some(n) => cfg.proxies.iter().position(|q| q.name == n)?,
                };
                tables.get(i).cloned().flatten()
            };
            // `appsession`: an implicit `stick-table type string len N size 1m expire T`
            // (shown as the proxy's table when it declares none).
            let app = p.appsession.as_ref().map(|a| {
                let mut conf = crate::stick::TableConf {
                    key: crate::stick::KeyType::String(a.len),
                    size: 1 << 20,
                    expire: Some(a.timeout),
                    nopurge: false,
                    columns: Vec::new(),
                    srvkey_addr: false,
                };
                conf.add_server_columns();
                (a, Arc::new(crate::stick::Table::new(&p.name, conf)))
            });
            if let Some((_, t)) = &app
                && tables.get(pi).is_some_and(Option::is_none)
            {
                app_tables.push((pi, t.clone()));
            }
            crate::stick::rules::StickRules::compile(
                p, &acls, &registry, &names, &table_of, app, diags,
            )
        };
        let tcp = { crate::tcp::TcpRules::compile(p, &acls, &registry, &names, diags) };
        let use_server = {
            crate::proxy::use_server::UseServerRules::compile(p, &acls, &registry, &names, diags)
        };
        let mut http = http_settings(s, diags, &p.loc);
        {
            let cx = crate::http::rules::CompileCx {
                registry: &registry,
                resolver: &names,
                http_errors: &cfg.http_errors,
                bufsize: cfg.global.tune_bufsize,
                cookielen: cfg.global.tune_http_cookielen,
            };
            http.rules = crate::http::rules::ProxyRules::compile(p, &acls, &cx, diags);
            if let Some(st) = &s.stats
                && s.mode == model::Mode::Http
            {
                http.stats = Some(Box::new(crate::stats::page::StatsPage::compile(
                    st,
                    &cfg.global,
                    diags,
                )));
            }
            if let Some(f) = &s.forwarded
                && p.kind.is_backend()
            {
                match crate::http::options::Forwarded::compile(f, &names) {
                    Ok(f) => http.forwarded = Some(f),
                    Err(e) => diags.alert(
                        &p.loc,
                        format!("{} '{}' : 'option forwarded' : {e}.", p.kind.name(), p.name),
                    ),
                }
            }
            http.pages = crate::http::pages::Pages::compile(p, cfg, &cx, diags);
            for (force, c, loc) in &p.persist_rules {
                let acx = crate::acl::AclCtx {
                    file: &loc.file,
                    line: loc.line,
                    registry: &registry,
                    resolver: &names,
                };
                match crate::acl::Cond::compile(c, &acls, &acx) {
                    Ok(c) => http.persist_rules.push((*force, c)),
                    Err(e) => diags.alert(
                        loc,
                        format!(
                            "error detected while parsing a '{}' condition : {e}.",
                            if *force {
                                "force-persist"
                            } else {
                                "ignore-persist"
                            }
                        ),
                    ),
                }
            }
        }
        // `bind … ssl crt …`: the certificates are loaded and the TLS settings checked (as
        // `haproxy -c` does).
        let bind_tls = if p.kind.is_frontend() {
            bind_tls(cfg, p, s.mode == Mode::Http, &tls_store, diags)
        } else {
            Vec::new()
        };
        let frontend = if p.kind.is_frontend() {
            let default_backend = if p.kind == ProxyKind::Listen && s.default_backend.is_none() {
                Some(pi)
            } else {
                s.default_backend
                    .as_ref()
                    .and_then(|(b, _)| backend_index.get(b.as_str()).copied())
            };
            let mut monitor_net = Vec::new();
            for (n, loc) in &s.monitor_net {
                match Net::parse(n) {
                    Some(net) => monitor_net.push(net),
                    None => diags.alert(loc, format!("'monitor-net' : invalid network '{n}'.")),
                }
            }
            let needs_dst = default_backend
                .and_then(|b| cfg.proxies.get(b))
                .map(|b| {
                    b.servers.iter().any(|srv| {
                        srv.send_proxy.is_some()
                            || !matches!(
                                srv.address,
                                Some(Address::Inet {
                                    port: PortSpec::Fixed(_),
                                    ..
                                })
                            )
                    })
                })
                .unwrap_or(true)
                || p.binds.iter().any(|b| {
                    b.addresses.iter().any(|a| match a {
                        Address::Inet { ip, .. } => ip.map(|i| i.is_unspecified()).unwrap_or(true),
                        _ => true,
                    })
                });
            Some(Frontend {
                mode: s.mode,
                switching,
                force_switch,
                http_request_timeout: s.timeouts.http_request,
                http_keep_alive_timeout: s.timeouts.http_keep_alive,
                needs_dst,
                maxconn: s.maxconn.unwrap_or(maxconn).min(maxconn),
                binds: p.binds.clone(),
                bind_tls,
                default_backend,
                client_timeout: s.timeouts.client,
                client_fin_timeout: s.timeouts.client_fin,
                handshake_timeout: s.timeouts.client_hs.or(s.timeouts.client),
                tunnel_timeout: s.timeouts.tunnel,
                contstats: s.option("contstats").unwrap_or(false),
                listeners: if s.option("socket-stats").unwrap_or(false) {
                    p.binds.iter().map(|_| Counters::default()).collect()
                } else {
                    Vec::new()
                },
                monitor_net,
                counters: Counters::default(),
                cur: AtomicU32::new(0),
                paused: AtomicBool::new(false),
                sess_rate: crate::runtime::rate::AcceptRate::new(s.rate_limit_sessions),
                state: AtomicU8::new(0),
            })
        } else {
            None
        };
        if p.kind.is_backend() && s.mode != Mode::Http {
            // Cookie persistence needs HTTP (`check` warned about it).
            http.cookie = None;
        }
        let (backend, slim) = if p.kind.is_backend() {
            let fullconn = s.fullconn.unwrap_or_else(|| {
                let r = reach.get(&pi).copied().unwrap_or(maxconn as u64);
                r.div_ceil(10).max(1) as u32
            });
            let be_name: Arc<str> = Arc::from(p.name.as_str());
            let state_entries =
                state_files.for_backend(&cfg.global, &p.name, ids[pi], s, &p.servers, diags);
            let mut servers = Vec::new();
            let mut used_ids: Vec<u32> = p.servers.iter().filter_map(|s| s.id).collect();
            let mut next = 1;
            for srv in &p.servers {
                let id = match srv.id {
                    Some(i) => i,
                    None => {
                        while used_ids.contains(&next) {
                            next += 1;
                        }
                        used_ids.push(next);
                        next
                    }
                };
                let Some(Address::Inet { host, ip, port, .. }) = &srv.address else {
                    diags.alert(
                        &srv.loc,
                        format!("server '{}' : only IP addresses and host names are supported as server addresses for now.", srv.name),
                    );
                    continue;
                };
                // With `resolvers`, `init-addr` (default `last,libc`) says how the address
                // is found at start-up; a server whose name does not resolve starts in
                // maintenance until the DNS answers.
                let mut unresolved = false;
                let last_addr = state_entries.get(&srv.name).and_then(|e| e.last_addr());
                let ip = if let Some(rname) = &srv.resolvers {
                    if !cfg.resolvers.iter().any(|r| &r.name == rname) {
                        // Reported by the configuration check.
                        continue;
                    }
                    let methods: Vec<String> = if srv.init_addr.is_empty() {
                        vec!["last".into(), "libc".into()]
                    } else {
                        srv.init_addr.clone()
                    };
                    let mut found = ip.map(Ok).unwrap_or(Err(()));
                    for m in &methods {
                        if found.is_ok() {
                            break;
                        }
                        match m.as_str() {
                            // The address saved in the server-state file, if any.
                            "last" => {
                                if let Some(a) = last_addr {
                                    found = Ok(a);
                                }
                            }
                            // An SRV label (`_svc._proto.name`) is only known to the DNS.
                            "libc" if host.starts_with('_') => {}
                            "libc" => found = resolve(host, None).map_err(|_| ()),
                            "none" => {
                                unresolved = true;
                                break;
                            }
                            other => found = other.parse().map_err(|_| ()),
                        }
                    }
                    match found {
                        Ok(ip) => ip,
                        Err(()) => {
                            if !unresolved {
                                diags.warning(
                                    &srv.loc,
                                    format!(
                                        "'server {}/{}' : could not resolve address '{host}', disabling server.",
                                        p.name, srv.name
                                    ),
                                );
                            }
                            unresolved = true;
                            IpAddr::from([0, 0, 0, 0])
                        }
                    }
                } else if ip.is_none() {
                    // A host name: `init-addr` (default `last,libc`) says where its address
                    // comes from at start-up.
                    let methods: Vec<String> = if srv.init_addr.is_empty() {
                        vec!["last".into(), "libc".into()]
                    } else {
                        srv.init_addr.clone()
                    };
                    let mut found = None;
                    let mut err = None;
                    for m in &methods {
                        match m.as_str() {
                            "last" => found = last_addr,
                            "libc" => match resolve(host, None) {
                                Ok(a) => found = Some(a),
                                Err(e) => err = Some(e),
                            },
                            "none" => {
                                unresolved = true;
                                break;
                            }
                            other => found = other.parse().ok(),
                        }
                        if found.is_some() {
                            break;
                        }
                    }
                    match found {
                        Some(a) => a,
                        None if unresolved => IpAddr::from([0, 0, 0, 0]),
                        None => {
                            diags.alert(
                                &srv.loc,
                                match err {
                                    Some(e) => format!("server '{}/{}' : {e}.", p.name, srv.name),
                                    None => format!(
                                        "'server {}/{}' : no method found to resolve address '{host}'.",
                                        p.name, srv.name
                                    ),
                                },
                            );
                            continue;
                        }
                    }
                } else {
                    match resolve(host, *ip) {
                        Ok(ip) => ip,
                        Err(e) => {
                            diags.alert(
                                &srv.loc,
                                format!("server '{}/{}' : {e}.", p.name, srv.name),
                            );
                            continue;
                        }
                    }
                };
                let checks_need_tls = s.checks.rules.iter().any(
                    |r| matches!(&r.action, halo_config::checks::CheckAction::Connect(c) if c.ssl),
                );
                let (tls, sni) =
                    match server_tls(&cfg.global, srv, s.mode == Mode::Http, checks_need_tls) {
                        Ok(t) => t,
                        Err(e) => {
                            diags
                                .alert(&srv.loc, format!("'server {}/{}' : {e}", p.name, srv.name));
                            (None, None)
                        }
                    };
                // The server's sample expressions (`pool-conn-name`, `sni`), compiled in
                // the backend's scope; errors name the option.
                let mut server_expr = |text: &str, what: &str| {
                    let names = Names {
                        cfg,
                        current: pi,
                        registry: &registry,
                        userlists: &userlists,
                        loc: &srv.loc,
                        tables: &tables,
                    };
                    let r = crate::sample::Located::new(&names, &srv.loc.file, srv.loc.line);
                    crate::sample::Expr::parse(text, &r)
                        .map_err(|e| {
                            diags.alert(
                                &srv.loc,
                                format!("server '{}/{}' : '{what}' : {e}.", p.name, srv.name),
                            )
                        })
                        .ok()
                };
                let pool_conn_name = srv
                    .pool_conn_name
                    .as_ref()
                    .and_then(|text| server_expr(text, "pool-conn-name"));
                let sni = sni.and_then(|text| server_expr(&text, "sni"));
                let mut scfg = srv.clone();
                if let (Some(ck), Some(key)) = (&s.cookie, &s.dynamic_cookie_key)
                    && ck.dynamic
                    && scfg.cookie.is_none()
                {
                    let port = match port {
                        PortSpec::Fixed(p) => *p,
                        _ => 0,
                    };
                    scfg.cookie = Some(crate::http::cookie::dynamic_value(key, ip, port));
                }
                servers.push(Arc::new(Server::new(crate::server::ServerInit {
                    cfg: scfg,
                    id,
                    index: servers.len(),
                    backend_name: be_name.clone(),
                    addr: ServerAddr { ip, port: *port },
                    unresolved,
                    backend_source: s.source.clone(),
                    pool_conn_name,
                    dynamic: false,
                    tls,
                    sni,
                })));
            }
            let dispatch = p.dispatch.as_ref().and_then(|(a, loc)| match a {
                Address::Inet { host, ip, port, .. } => match resolve(host, *ip) {
                    Ok(ip) => Some(SocketAddr::new(
                        ip,
                        match port {
                            PortSpec::Fixed(p) => *p,
                            _ => 0,
                        },
                    )),
                    Err(e) => {
                        diags.alert(loc, format!("'dispatch' : {e}."));
                        None
                    }
                },
                _ => None,
            });
            // `option external-check` (with `external-check` in global): the program, and
            // the first listener's address and port it is given.
            let external_check = match (&s.external_check_command, cfg.global.external_check) {
                (Some(cmd), Some(preserve_env)) if s.option("external-check") == Some(true) => {
                    let first =
                        p.binds
                            .iter()
                            .flat_map(|b| b.addresses.iter())
                            .find_map(|a| match a {
                                Address::Inet { ip, port, host, .. } => Some((
                                    ip.map_or_else(|| host.clone(), |i| i.to_string()),
                                    match port {
                                        PortSpec::Fixed(p) => p.to_string(),
                                        _ => "NOT_USED".to_string(),
                                    },
                                )),
                                Address::Unix(path) => Some((path.clone(), "NOT_USED".to_string())),
                                _ => None,
                            });
                    let (proxy_addr, proxy_port) =
                        first.unwrap_or_else(|| ("NOT_USED".into(), "NOT_USED".into()));
                    Some(Arc::new(crate::server::check::external::ExternalCheck {
                        command: cmd.clone(),
                        path: s.external_check_path.clone().unwrap_or_default(),
                        preserve_env,
                        proxy_addr,
                        proxy_port,
                        proxy_id: ids[pi],
                    }))
                }
                (None, Some(_)) if s.option("external-check") == Some(true) => {
                    diags.alert(
                        &p.loc,
                        format!(
                            "Proxy '{}' : 'option external-check' needs an 'external-check command'.",
                            p.name
                        ),
                    );
                    None
                }
                _ => None,
            };
            let settings = BackendSettings {
                is_listen: p.kind == model::ProxyKind::Listen,
                hash_affinity: match s.hash_preserve_affinity.as_deref() {
                    Some("maxconn") => 1,
                    Some("maxqueue") => 2,
                    _ => 0,
                },
                external_check,
                mode: s.mode,
                abortonclose: s.option("abortonclose").unwrap_or(false),
                log_health_checks: s.option("log-health-checks").unwrap_or(false),
                default_server: s.default_server.clone(),
                balance: s.balance.clone(),
                hash_type: s.hash_type,
                fullconn,
                retries: s.retries.unwrap_or(3),
                retry_on: s.retry_on.clone().unwrap_or_default(),
                redispatch: s.redispatch,
                persist: s.persist,
                persist_rdp_cookie: s.persist_rdp_cookie.clone(),
                allbackups: s.allbackups,
                connect_timeout: s.timeouts.connect,
                server_timeout: s.timeouts.server,
                queue_timeout: s.timeouts.queue.or(s.timeouts.connect),
                tunnel_timeout: s.timeouts.tunnel,
                server_fin_timeout: s.timeouts.server_fin,
                check_timeout: s.timeouts.check,
                source: s.source.clone(),
                hdr_src: s
                    .source
                    .iter()
                    .chain(p.servers.iter().filter_map(|v| v.source.as_ref()))
                    .find_map(|src| match &src.usesrc {
                        Some(halo_config::model::UseSrc::HdrIp { name, occ }) => {
                            Some((name.clone(), *occ))
                        }
                        _ => None,
                    }),
                dispatch,
                http_reuse: s.http_reuse,
                prefer_last_server: s.option("prefer-last-server").unwrap_or(false),
                max_keep_alive_queue: s.max_keep_alive_queue,
                pretend_keepalive: s.option("http-pretend-keepalive").unwrap_or(false),
                send_name_header: s.send_name_header.clone(),
                disabled: s.disabled,
                unpublished: s.unpublished,
                checks: {
                    let node = cfg
                        .global
                        .node
                        .clone()
                        .unwrap_or_else(crate::runtime::hostname);
                    match crate::server::check::rules::compile(
                        &s.checks,
                        cfg.global.tune_bufsize,
                        node,
                        &names,
                    ) {
                        Ok(plan) => Arc::new(plan),
                        Err(e) => {
                            diags.alert(
                                &p.loc,
                                format!("backend '{}' : health check : {e}.", p.name),
                            );
                            Default::default()
                        }
                    }
                },
            };
            let be = Arc::new(Backend::new(be_name, ids[pi], settings, servers));
            crate::server::state_file::apply(&be, &state_entries, diags);
            if let Some(l) = crate::log::proxy_events(s, &global_logs) {
                let _ = be.events.set(l);
            }
            (Some(be), fullconn)
        } else {
            (None, 0)
        };
        let log = if p.kind.is_frontend() {
            crate::log::compile_proxy(
                &crate::log::ProxyLogSpec {
                    name: &p.name,
                    settings: s,
                    http: s.mode == Mode::Http,
                    req_caps: http.rules.req_capture_lens.len(),
                    res_caps: http.rules.res_capture_lens.len(),
                },
                &global_logs,
                &crate::sample::Located::new(&names, &p.loc.file, p.loc.line),
                diags,
            )
        } else {
            None
        };
        let unique_id = if p.kind.is_frontend() {
            crate::log::compile_unique_id(
                s,
                &crate::sample::Located::new(&names, &p.loc.file, p.loc.line),
                diags,
            )
        } else {
            None
        };
        proxies.push(ProxyRt {
            name: p.name.clone(),
            id: ids[pi],
            kind: p.kind,
            acls,
            http,
            frontend,
            backend,
            backend_slim: slim,
            table: tables.get(pi).cloned().flatten().or_else(|| {
                app_tables
                    .iter()
                    .find(|(i, _)| *i == pi)
                    .map(|(_, t)| t.clone())
            }),
            stick,
            tcp,
            peers_table: p.peers_table,
            use_server,
            log,
            unique_id,
            errors: Default::default(),
        });
    }
    let _ = Loc::none();
    let backends: Vec<Arc<Backend>> = proxies.iter().filter_map(|p| p.backend.clone()).collect();
    crate::server::link_tracks(&backends);
    for px in &proxies {
        if let Some(be) = &px.backend {
            for name in px.use_server.named() {
                if let Some((_, srv)) = be.find_server(name) {
                    srv.referenced
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
    }
    Runtime {
        global: cfg.global.clone(),
        proxies,
        by_name,
        maxconn,
        quiet,
        registry,
        start_sec: now_sec(),
        cum_conns: AtomicU64::new(0),
        cur_conns: AtomicU32::new(0),
        conn_rate: crate::runtime::rate::AcceptRate::new(cfg.global.maxconnrate),
        sess_rate: crate::runtime::rate::AcceptRate::new(cfg.global.maxsessrate),
        ssl_rate: crate::runtime::rate::AcceptRate::new(cfg.global.maxsslrate),
        stopping: AtomicBool::new(false),
        case_adjust: crate::http::h1::CaseAdjust::new(
            cfg.global
                .h1_case_adjust
                .iter()
                .chain(&cfg.global.h1_case_adjust_file)
                .map(|(f, t)| (f.as_str(), t.as_str())),
        ),
        peers,
        rings: global_logs.rings.clone(),
        forwards,
        check_settings: std::sync::OnceLock::new(),
        tls_store,
    }
}

/// The TLS side of a server line (`ssl`, `check-ssl`, …) and its `sni` expression text.
pub fn server_tls(
    global: &model::Global,
    srv: &model::Server,
    http: bool,
    checks_need_tls: bool,
) -> Result<(Option<Arc<crate::tls::server::ServerTls>>, Option<String>), String> {
    let bases = crate::tls::bind::Bases {
        ca: global.ca_base.clone(),
        crt: global.crt_base.clone(),
    };
    let spec = crate::tls::server::ServerSpec {
        defaults: &global.ssl_default_server,
        options: &srv.other,
        verify_default: global.ssl_server_verify,
        bases: &bases,
        check_elsewhere: srv.check_port.is_some() || srv.check_addr.is_some(),
        max_record: global.tune_ssl_maxrecord.map(|n| n as usize),
        http,
        checks_need_tls,
    };
    let tls = crate::tls::server::ServerTls::build(&spec)?;
    let sni = tls.as_ref().and_then(|t| t.sni.clone());
    Ok((tls.map(Arc::new), sni))
}

/// The TLS side of every bind line of a frontend (None for plain ones): certificates
/// loaded, settings checked, problems reported in HAProxy's words at the bind line.
fn bind_tls(
    cfg: &Config,
    p: &model::Proxy,
    http: bool,
    store: &crate::tls::store::Store,
    diags: &mut Diags,
) -> Vec<Option<Arc<crate::tls::bind::BindTls>>> {
    let bases = crate::tls::bind::Bases {
        ca: cfg.global.ca_base.clone(),
        crt: cfg.global.crt_base.clone(),
    };
    let mut out = Vec::new();
    for b in &p.binds {
        if !b.ssl {
            out.push(None);
            continue;
        }
        let has_crt = b.other.iter().any(|(k, _)| k == "crt" || k == "crt-list");
        let strict = cfg
            .global
            .ssl_default_bind
            .iter()
            .chain(b.other.iter())
            .fold(false, |on, (k, _)| match k.as_str() {
                "strict-sni" => true,
                "no-strict-sni" => false,
                _ => on,
            });
        if !has_crt && !strict {
            diags.alert(
                &b.loc,
                format!(
                    "Proxy '{}': no SSL certificate specified for bind '{}' at [{}:{}] (use 'crt').",
                    p.name, b.text, b.loc.file, b.loc.line
                ),
            );
            out.push(None);
            continue;
        }
        let spec = crate::tls::bind::BindSpec {
            defaults: &cfg.global.ssl_default_bind,
            options: &b.other,
            bases: &bases,
            http,
            cache_size: cfg.global.tune_ssl_cachesize.unwrap_or(20000) as usize,
            lifetime: cfg.global.tune_ssl_lifetime.unwrap_or(300),
            store,
            at: format!("{}:{}", b.loc.file, b.loc.line),
            max_record: cfg.global.tune_ssl_maxrecord.map(|n| n as usize),
        };
        match crate::tls::bind::BindTls::build(&spec) {
            Ok(t) => {
                let t = Arc::new(t);
                store.add_bind(t.clone());
                out.push(Some(t))
            }
            Err(e) => {
                diags.alert(
                    &b.loc,
                    format!("'bind {}' in section '{}' : {e}", b.text, p.kind.name()),
                );
                out.push(None);
            }
        }
    }
    out
}

/// The `peers` sections naming this process (`localpeer`, `-L`, or the host name), each
/// with the tables that `stick-table … peers NAME` (or its own `table` lines) attach to it.
fn compile_peers(
    cfg: &Config,
    tables: &[Option<Arc<crate::stick::Table>>],
    quiet: bool,
    diags: &mut Diags,
) -> Vec<Arc<crate::stick::peers::Section>> {
    let local = cfg
        .global
        .localpeer
        .clone()
        .unwrap_or_else(crate::runtime::hostname);
    let mut by_section: Vec<Vec<(Arc<crate::stick::Table>, String)>> =
        vec![Vec::new(); cfg.peers.len()];
    for (p, t) in cfg.proxies.iter().zip(tables) {
        let (Some((words, _)), Some(t)) = (&p.stick_table, t) else {
            continue;
        };
        let Some(name) = words
            .iter()
            .position(|w| w == "peers")
            .and_then(|i| words.get(i + 1))
        else {
            continue;
        };
        // An unknown section was reported by the checks.
        let Some(si) = cfg.peers.iter().position(|s| &s.name == name) else {
            continue;
        };
        // A table of the peers section goes by `/NAME` on the wire, as HAProxy 2.6 sends it.
        let wire = match p.name.strip_prefix(name.as_str()) {
            Some(rest) if p.peers_table => rest.to_string(),
            _ => p.name.clone(),
        };
        by_section[si].push((t.clone(), wire));
    }
    let mut out = Vec::new();
    for (sec, tabs) in cfg.peers.iter().zip(by_section) {
        if sec.disabled {
            continue;
        }
        if !sec.peers.iter().any(|p| p.name == local) {
            if !quiet {
                diags.warning(
                    &sec.loc,
                    format!(
                        "Removing incomplete section 'peers {}' (no peer named '{local}').",
                        sec.name
                    ),
                );
            }
            continue;
        }
        out.push(crate::stick::peers::Section::new(
            sec,
            &local,
            tabs,
            cfg.global.tune_peers_max_updates,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nets() {
        let n = Net::parse("127.0.0.250/31").unwrap();
        assert!(n.contains("127.0.0.250".parse().unwrap()));
        assert!(n.contains("127.0.0.251".parse().unwrap()));
        assert!(!n.contains("127.0.0.252".parse().unwrap()));
        assert!(n.contains("::ffff:127.0.0.251".parse().unwrap()));
        let m = Net::parse("10.0.0.0/255.0.0.0").unwrap();
        assert!(m.contains("10.1.2.3".parse().unwrap()));
        assert!(Net::parse("1.2.3.4/33").is_none());
    }
}
