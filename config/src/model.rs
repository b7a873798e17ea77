//! The typed configuration model: plain data built by `parse` from the sections, with
//! `defaults` and `default-server` already applied. No behaviour lives here; the `halo`
//! crate compiles this into its runtime objects.

use std::sync::Arc;

use crate::addr::{Address, PortSpec};
use crate::diag::Loc;
use crate::reader::{EnvChange, Section};

/// The whole configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub global: Global,
    pub proxies: Vec<Proxy>,
    /// Sections whose semantics arrive later (`peers`, `resolvers`, ...), kept
    /// as read so that later stages and the checker can look at them.
    pub other_sections: Vec<Section>,
    /// `userlist` sections, in order.
    pub userlists: Vec<crate::userlist::Userlist>,
    /// Environment changes made by `setenv` & co, to replay on the process at start.
    pub env_changes: Vec<EnvChange>,
    /// Keywords that are valid HAProxy but whose behaviour halo has not built yet: starting
    /// refuses them; `-c` accepts them.
    pub pending: Vec<Pending>,
    /// The files read, in order (for `HAPROXY_CFGFILES`).
    pub files: Vec<String>,
    /// `http-errors` sections, in order.
    pub http_errors: Vec<HttpErrors>,
    /// `peers` sections, in order.
    pub peers: Vec<crate::peers::PeersSection>,
    /// `resolvers` sections, in order.
    pub resolvers: Vec<crate::resolvers::ResolversSection>,
    /// `ring` sections, in order.
    pub rings: Vec<crate::rings::RingSection>,
    /// `log-forward` sections, in order.
    pub log_forwards: Vec<crate::rings::LogForwardSection>,
    /// `log-profile` sections, in order.
    pub log_profiles: Vec<crate::logs::LogProfile>,
}

impl Config {
    /// The `http-errors` section called `name`.
    pub fn http_errors(&self, name: &str) -> Option<&HttpErrors> {
        self.http_errors.iter().find(|h| h.name == name)
    }
}

/// A complete HTTP response a proxy sends instead of one of its own answers (`errorfile`,
/// `errorloc`), read and checked with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The status of its status line (0 for an empty file).
    pub status: u16,
    /// Status line and fields as HAProxy sends them: names in lower case, CRLF after each
    /// line, no empty line; `connection: close` last when the page ends the connection.
    /// Empty for an empty file: nothing is sent and the connection is closed.
    pub head: Vec<u8>,
    pub body: Vec<u8>,
}

/// An `http-errors` section: pages by status code (a later line for a code wins).
#[derive(Debug, Clone)]
pub struct HttpErrors {
    pub name: String,
    pub loc: Loc,
    pub pages: Vec<(u16, Arc<Page>)>,
}

impl HttpErrors {
    pub fn page(&self, code: u16) -> Option<&Arc<Page>> {
        self.pages
            .iter()
            .rev()
            .find(|(c, _)| *c == code)
            .map(|(_, p)| p)
    }
}

/// What one `errorfile`, `errorloc*`, `errorfiles` or `http-error` line does to a proxy's
/// pages; the lines apply in order (those of `defaults` first), a later one winning.
#[derive(Debug, Clone)]
pub struct ErrorPageDecl {
    pub loc: Loc,
    pub what: ErrorPageKind,
}

#[derive(Debug, Clone)]
pub enum ErrorPageKind {
    /// This page for this code (`errorfile`, `errorloc*`, `http-error ... errorfile`).
    Page(u16, Arc<Page>),
    /// `errorfiles NAME [CODE...]`: the section's pages for these codes (all when `codes`
    /// is empty); `http-error status N errorfiles NAME` is the one-code form.
    Import { section: String, codes: Vec<u16> },
    /// `http-error status N default-errorfiles`: back to HAProxy's page (the frontend's
    /// for a backend).
    Default(u16),
    /// Any other `http-error` (payload, fields, log-format): the words after the keyword,
    /// compiled by the `halo` crate like a `return` action.
    Reply(u16, Vec<String>),
}

/// A keyword halo knows but does not implement yet.
#[derive(Debug, Clone)]
pub struct Pending {
    pub loc: Loc,
    pub keyword: String,
    /// The issue that will bring it, 0 if none is filed yet.
    pub issue: u8,
}

/// Ordered as HAProxy's access levels: `User < Operator < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum CliLevel {
    User,
    Operator,
    #[default]
    Admin,
}

/// `stats socket` in `global`.
#[derive(Debug, Clone)]
pub struct StatsSocket {
    pub loc: Loc,
    pub address: Address,
    pub level: CliLevel,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub expose_fd_listeners: bool,
}

/// The `global` section.
#[derive(Debug, Clone)]
pub struct Global {
    /// `set-var` / `set-var-fmt` lines, in order.
    pub set_vars: Vec<GlobalVar>,
    pub daemon: bool,
    /// `external-check [preserve-env]`: Some(preserve-env) when external checks are allowed.
    pub external_check: Option<bool>,
    /// `insecure-fork-wanted`.
    pub insecure_fork_wanted: bool,
    pub master_worker: bool,
    pub pidfile: Option<String>,
    /// `maxconnrate` / `maxsessrate`: connections and sessions per second, process-wide.
    pub maxconnrate: Option<u32>,
    pub maxsessrate: Option<u32>,
    pub maxconn: Option<u32>,
    pub nbthread: Option<usize>,
    pub chroot: Option<String>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub ulimit_n: Option<u64>,
    pub quiet: bool,
    pub stats_sockets: Vec<StatsSocket>,
    /// `stats timeout` (ms), default 10s.
    pub stats_timeout: u64,
    pub stats_maxconn: u32,
    /// `stats calculate-max-counters off`: the maxima of the stats are not kept.
    pub stats_no_max: bool,
    /// `http-err-codes` / `http-fail-codes`: the statuses counted as client errors and as
    /// server failures (`http_err_cnt`, `http_fail_cnt`), one bit per code 0..=599.
    pub http_err_codes: StatusSet,
    pub http_fail_codes: StatusSet,
    pub hard_stop_after: Option<u64>,
    pub grace: Option<u64>,
    pub node: Option<String>,
    pub description: Option<String>,
    pub spread_checks: u32,
    /// `max-spread-checks`: the longest delay before a server's first check (ms).
    pub max_spread_checks: Option<u64>,
    /// `crt-base`: the folder relative certificate paths start from.
    pub crt_base: Option<String>,
    /// `ca-base`: the folder relative CA and CRL paths start from.
    pub ca_base: Option<String>,
    /// `server-state-base`: the folder relative server-state file names start from.
    pub server_state_base: Option<String>,
    /// `server-state-file`: the file `load-server-state-from-file global` reads.
    pub server_state_file: Option<String>,
    /// `ssl-default-bind-options`, `-ciphers`, `-ciphersuites`, `-curves` as bind options.
    pub ssl_default_bind: Vec<(String, Vec<String>)>,
    /// `ssl-default-server-options`, `-ciphers`, `-ciphersuites`, `-curves` as server
    /// options.
    pub ssl_default_server: Vec<(String, Vec<String>)>,
    /// `ssl-server-verify` (true: `required`, the default).
    pub ssl_server_verify: bool,
    /// `ssl-skip-self-issued-ca`.
    pub ssl_skip_self_issued_ca: bool,
    /// `maxsslconn`: TLS client connections at once (none: no own limit).
    pub maxsslconn: Option<u32>,
    /// `maxsslrate`: new TLS client connections per second.
    pub maxsslrate: Option<u32>,
    /// `tune.ssl.maxrecord` / `tune.ssl.hard-maxrecord`: the largest TLS record sent.
    pub tune_ssl_maxrecord: Option<u32>,
    /// `tune.ssl.cachesize`: TLS sessions kept for resumption (20000 by default).
    pub tune_ssl_cachesize: Option<u32>,
    /// `log` lines of `global`.
    pub logs: Vec<crate::logs::LogTarget>,
    /// `log-tag` (default: the program's name).
    pub log_tag: Option<String>,
    /// `log-send-hostname [NAME]`: Some(None) for the system's host name.
    pub log_send_hostname: Option<Option<String>>,
    /// `tune.ssl.lifetime`, in seconds.
    pub tune_ssl_lifetime: Option<u64>,
    /// `tune.max-checks-per-thread` (0: no limit).
    pub max_checks_per_thread: u32,
    /// `dns-accept-family`: the address families the resolvers query and accept
    /// (IPv4, IPv6); `auto`: IPv6 only when the host has a default IPv6 route.
    pub dns_accept: (bool, bool, bool),
    pub tune_bufsize: usize,
    pub tune_maxrewrite: usize,
    pub tune_http_maxhdr: usize,
    /// `h1-accept-payload-with-any-method`.
    pub h1_payload_any_method: bool,
    /// `h1-do-not-close-on-insecure-transfer-encoding`.
    pub h1_keep_on_te_with_cl: bool,
    /// `h1-case-adjust FROM TO` lines (the last `h1-case-adjust-file` is the next field):
    /// (lower-case name, spelling to send).
    pub h1_case_adjust: Vec<(String, String)>,
    pub h1_case_adjust_file: Vec<(String, String)>,
    /// `tune.h1.fe.glitches-threshold`, `tune.h1.be.glitches-threshold` (0: none).
    pub tune_h1_fe_glitches: u32,
    pub tune_h1_be_glitches: u32,
    /// `tune.stick-counters`: how many `track-sc` counters a stream has (default 3).
    pub tune_stick_counters: usize,
    /// `tune.pool-low-fd-ratio` (20) and `tune.pool-high-fd-ratio` (25), in percent of
    /// the sockets the process may use.
    pub tune_pool_low_fd_ratio: u32,
    pub tune_pool_high_fd_ratio: u32,
    /// `tune.vars.global-max-size`, `proc-`, `reqres-`, `sess-`, `txn-max-size` in that
    /// order (bytes, 0: unlimited).
    pub tune_vars_max_size: [usize; 5],
    /// `localpeer` (or `-L`, which wins): this process's name in `peers` sections.
    pub localpeer: Option<String>,
    /// `tune.peers.max-updates-at-once`.
    pub tune_peers_max_updates: Option<u32>,
    /// `tune.http.cookielen`: the longest `capture cookie` (63 by default).
    pub tune_http_cookielen: usize,
    /// `tune.http.logurilen`: the bytes of the request line kept for logs.
    pub tune_http_logurilen: usize,
    /// `tune.pattern.cache-size` (10000 by default); see keywords.rs for what halo does
    /// with it.
    pub tune_pattern_cache_size: usize,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            set_vars: Vec::new(),
            daemon: false,
            external_check: None,
            insecure_fork_wanted: false,
            master_worker: false,
            pidfile: None,
            maxconn: None,
            maxconnrate: None,
            maxsessrate: None,
            nbthread: None,
            chroot: None,
            user: None,
            group: None,
            uid: None,
            gid: None,
            ulimit_n: None,
            quiet: false,
            stats_sockets: Vec::new(),
            stats_timeout: 10_000,
            stats_maxconn: 10,
            stats_no_max: false,
            http_err_codes: StatusSet::range(400, 499),
            http_fail_codes: {
                let mut s = StatusSet::range(500, 599);
                s.set(501, false);
                s.set(505, false);
                s
            },
            hard_stop_after: None,
            grace: None,
            node: None,
            description: None,
            spread_checks: 0,
            max_spread_checks: None,
            crt_base: None,
            ca_base: None,
            server_state_base: None,
            server_state_file: None,
            ssl_default_bind: Vec::new(),
            ssl_default_server: Vec::new(),
            ssl_server_verify: true,
            tune_ssl_maxrecord: None,
            maxsslconn: None,
            ssl_skip_self_issued_ca: false,
            maxsslrate: None,
            tune_ssl_cachesize: None,
            logs: Vec::new(),
            log_tag: None,
            log_send_hostname: None,
            tune_ssl_lifetime: None,
            max_checks_per_thread: 0,
            dns_accept: (true, true, false),
            tune_bufsize: 16384,
            tune_maxrewrite: 1024,
            tune_http_maxhdr: 101,
            h1_payload_any_method: false,
            h1_keep_on_te_with_cl: false,
            h1_case_adjust: Vec::new(),
            h1_case_adjust_file: Vec::new(),
            tune_h1_fe_glitches: 0,
            tune_h1_be_glitches: 0,
            tune_stick_counters: 3,
            tune_pool_low_fd_ratio: 20,
            tune_pool_high_fd_ratio: 25,
            tune_vars_max_size: [0; 5],
            localpeer: None,
            tune_peers_max_updates: None,
            tune_http_cookielen: 63,
            tune_http_logurilen: 1024,
            tune_pattern_cache_size: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Tcp,
    Http,
    Log,
    Spop,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Tcp => "tcp",
            Mode::Http => "http",
            Mode::Log => "log",
            Mode::Spop => "spop",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    Frontend,
    Backend,
    Listen,
}

impl ProxyKind {
    pub fn is_frontend(self) -> bool {
        matches!(self, ProxyKind::Frontend | ProxyKind::Listen)
    }
    pub fn is_backend(self) -> bool {
        matches!(self, ProxyKind::Backend | ProxyKind::Listen)
    }
    pub fn name(self) -> &'static str {
        match self {
            ProxyKind::Frontend => "frontend",
            ProxyKind::Backend => "backend",
            ProxyKind::Listen => "listen",
        }
    }
}

/// The load-balancing algorithm (`balance`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Balance {
    #[default]
    RoundRobin,
    StaticRr,
    LeastConn,
    First,
    Source,
    /// `random [draws]`.
    Random(u32),
    /// `uri [whole] [len N] [depth N] [path-only]`.
    Uri {
        whole: bool,
        len: u32,
        depth: u32,
        path_only: bool,
    },
    /// `url_param NAME [check_post]`.
    UrlParam {
        name: String,
        check_post: bool,
    },
    /// `hdr(NAME) [use_domain_only]`.
    Hdr {
        name: String,
        use_domain_only: bool,
    },
    /// `rdp-cookie[(NAME)]`.
    RdpCookie(String),
    /// `hash EXPR`.
    Hash(String),
}

impl Balance {
    /// Whether the algorithm hashes a key (so `hash-type` applies).
    pub fn is_hashed(&self) -> bool {
        !matches!(
            self,
            Balance::RoundRobin
                | Balance::StaticRr
                | Balance::LeastConn
                | Balance::First
                | Balance::Random(_)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashMethod {
    #[default]
    MapBased,
    Consistent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashFunction {
    #[default]
    Sdbm,
    Djb2,
    Wt6,
    Crc32,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashType {
    pub method: HashMethod,
    pub function: HashFunction,
    pub avalanche: bool,
}

/// All timeouts, in milliseconds; `None` = not set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Option<u64>,
    pub client: Option<u64>,
    pub server: Option<u64>,
    pub queue: Option<u64>,
    pub tunnel: Option<u64>,
    pub client_fin: Option<u64>,
    /// `timeout client-hs`: the longest TLS handshake (else `timeout client`).
    pub client_hs: Option<u64>,
    pub server_fin: Option<u64>,
    pub check: Option<u64>,
    pub http_request: Option<u64>,
    pub http_keep_alive: Option<u64>,
    pub tarpit: Option<u64>,
}

/// `source ADDR[:PORT[-PORT]] [usesrc ...] [interface NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub address: Address,
    /// `usesrc`: the address presented to servers (full transparent proxying).
    pub usesrc: Option<UseSrc>,
    pub interface: Option<String>,
}

/// What `usesrc` presents to the server as the connection's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UseSrc {
    /// The client's address and port.
    Client,
    /// The client's address, any port.
    ClientIp,
    /// The address in occurrence `occ` of header `name` (negative: from the last one; 0:
    /// the feature is off).
    HdrIp { name: String, occ: i32 },
    /// A fixed address (port 0: any).
    Addr(std::net::SocketAddr),
}

impl UseSrc {
    /// Parses the argument of `usesrc`; the error is HAProxy's.
    pub fn parse(v: &str) -> Result<UseSrc, String> {
        match v {
            "client" => return Ok(UseSrc::Client),
            "clientip" => return Ok(UseSrc::ClientIp),
            _ => {}
        }
        if let Some(inner) = v.strip_prefix("hdr_ip(").and_then(|r| r.strip_suffix(')')) {
            let (name, occ) = match inner.split_once(',') {
                Some((n, o)) => (n.trim(), o.trim().parse::<i32>().unwrap_or(0)),
                None => (inner.trim(), -1),
            };
            return Ok(UseSrc::HdrIp {
                name: name.to_ascii_lowercase(),
                occ,
            });
        }
        let bad = || format!("'usesrc {v}' : invalid address: '{v}' in '{v}'");
        if let Ok(ip) = v.parse::<std::net::IpAddr>() {
            return Ok(UseSrc::Addr(std::net::SocketAddr::new(ip, 0)));
        }
        v.parse::<std::net::SocketAddr>()
            .map(UseSrc::Addr)
            .map_err(|_| bad())
    }
}

impl Source {
    pub fn port_range(&self) -> Option<(u16, u16)> {
        match &self.address {
            Address::Inet {
                port: PortSpec::Range(a, b),
                ..
            } => Some((*a, *b)),
            Address::Inet {
                port: PortSpec::Fixed(p),
                ..
            } if *p != 0 => Some((*p, *p)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyProtocol {
    V1,
    V2,
}

/// One `bind` line (may hold several addresses).
#[derive(Debug, Clone)]
pub struct Bind {
    pub loc: Loc,
    pub addresses: Vec<Address>,
    /// The address as written (HAProxy's messages name a bind line by it).
    pub text: String,
    pub name: Option<String>,
    pub id: Option<u32>,
    pub maxconn: Option<u32>,
    pub backlog: Option<u32>,
    pub v4v6: bool,
    pub v6only: bool,
    pub defer_accept: bool,
    pub interface: Option<String>,
    pub tfo: bool,
    pub accept_proxy: bool,
    pub transparent: bool,
    pub mss: Option<i32>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub ssl: bool,
    /// The TLS options (`crt`, `alpn`, `verify`, …) and those not built yet, with their
    /// arguments, in order.
    pub other: Vec<(String, Vec<String>)>,
}

impl Bind {
    pub fn new(loc: Loc, addresses: Vec<Address>) -> Bind {
        Bind {
            loc,
            addresses,
            text: String::new(),
            name: None,
            id: None,
            maxconn: None,
            backlog: None,
            v4v6: false,
            v6only: false,
            defer_accept: false,
            interface: None,
            tfo: false,
            accept_proxy: false,
            transparent: false,
            mss: None,
            mode: None,
            uid: None,
            gid: None,
            user: None,
            group: None,
            ssl: false,
            other: Vec::new(),
        }
    }
}

/// The agent check of a server (`agent-*` options).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentConf {
    pub enabled: bool,
    pub port: Option<u16>,
    pub addr: Option<std::net::IpAddr>,
    pub inter: Option<u64>,
    pub send: Option<String>,
}

/// A server line, or the `default-server` template servers start from.
#[derive(Debug, Clone)]
pub struct Server {
    pub loc: Loc,
    pub name: String,
    /// `None` only for the `default-server` template.
    pub address: Option<Address>,
    pub weight: u32,
    pub backup: bool,
    pub disabled: bool,
    pub id: Option<u32>,
    pub maxconn: u32,
    pub minconn: u32,
    pub maxqueue: u32,
    pub source: Option<Source>,
    pub send_proxy: Option<ProxyProtocol>,
    /// `send-proxy-v2-ssl` (1) or `send-proxy-v2-ssl-cn` (2): the PROXY header carries
    /// the client connection's TLS details.
    pub send_proxy_ssl: u8,
    pub check: bool,
    pub inter: u64,
    pub fastinter: Option<u64>,
    pub downinter: Option<u64>,
    pub rise: u32,
    pub fall: u32,
    pub check_port: Option<u16>,
    pub check_addr: Option<String>,
    /// `check-send-proxy`: PROXY header on health-check connections.
    pub check_send_proxy: bool,
    /// `init-state fully-up|up|down|fully-down` (None: `none`, the default).
    pub init_state: Option<String>,
    /// `resolvers NAME`: the address is resolved again at run time through that section.
    pub resolvers: Option<String>,
    /// `resolve-prefer ipv4` (default: IPv6 first, then IPv4).
    pub resolve_prefer_v4: bool,
    /// `init-addr last,libc,none,<IP>`: how the address is found at start-up, in order.
    pub init_addr: Vec<String>,
    /// `resolve-opts prevent-dup-ip`: no two servers of the backend share an address.
    pub prevent_dup_ip: bool,
    /// `resolve-opts ignore-weight`: SRV weights do not change the server's weight.
    pub ignore_srv_weight: bool,
    /// `resolve-net`: networks whose addresses are preferred.
    pub resolve_net: Vec<String>,
    /// `agent-check` with `agent-port`, `agent-addr`, `agent-inter` (default: `inter`)
    /// and `agent-send`.
    pub agent: AgentConf,
    /// `observe layer4|layer7`: traffic errors count towards the server's health.
    pub observe: Observe,
    /// `error-limit`: consecutive errors that trigger `on-error` (10).
    pub error_limit: u32,
    pub on_error: OnError,
    /// `on-marked-down shutdown-sessions`: its sessions end when it goes down.
    pub on_marked_down_shutdown: bool,
    /// `on-marked-up shutdown-backup-sessions`: the backup servers' sessions end when it
    /// comes up (an active server with a weight).
    pub on_marked_up_shutdown_backup: bool,
    pub cookie: Option<String>,
    /// `track [BACKEND/]SERVER` with the line, checked by the resolver.
    pub track: Option<(Option<String>, String)>,
    pub slowstart: u64,
    /// Idle connection pool: `pool-max-conn` (-1: no own limit), `pool-purge-delay` (ms),
    /// `pool-low-conn`, `max-reuse` (-1: unlimited).
    pub pool_max_conn: i64,
    pub pool_purge_delay: u64,
    pub pool_low_conn: u32,
    /// `non-stick`: never stored in a stick table by `stick on`/`stick store-*`.
    pub non_stick: bool,
    pub max_reuse: i64,
    /// `redir PREFIX`: GET and HEAD requests get a 302 to PREFIX + path instead.
    pub redir: Option<String>,
    /// `pool-conn-name EXPR`: the sample expression naming its idle connections.
    pub pool_conn_name: Option<String>,
    /// Options valid in HAProxy, kept as written for later issues.
    pub other: Vec<(String, Vec<String>)>,
}

impl Server {
    pub fn template(loc: Loc) -> Server {
        Server {
            loc,
            name: String::new(),
            address: None,
            weight: 1,
            backup: false,
            disabled: false,
            id: None,
            maxconn: 0,
            minconn: 0,
            maxqueue: 0,
            source: None,
            send_proxy: None,
            send_proxy_ssl: 0,
            check: false,
            inter: 2000,
            fastinter: None,
            downinter: None,
            rise: 2,
            fall: 3,
            check_port: None,
            check_addr: None,
            check_send_proxy: false,
            init_state: None,
            resolvers: None,
            resolve_prefer_v4: false,
            init_addr: Vec::new(),
            prevent_dup_ip: false,
            ignore_srv_weight: false,
            resolve_net: Vec::new(),
            agent: AgentConf::default(),
            observe: Observe::None,
            error_limit: 10,
            on_error: OnError::FailCheck,
            on_marked_down_shutdown: false,
            on_marked_up_shutdown_backup: false,
            cookie: None,
            track: None,
            slowstart: 0,
            pool_max_conn: -1,
            pool_purge_delay: 5000,
            pool_low_conn: 0,
            non_stick: false,
            max_reuse: -1,
            redir: None,
            pool_conn_name: None,
            other: Vec::new(),
        }
    }
}

/// A condition: `if`/`unless` followed by ACL terms (manual 7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub unless: bool,
    /// OR of AND-ed terms.
    pub alternatives: Vec<Vec<CondTerm>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondTerm {
    pub negated: bool,
    pub acl: AclRef,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclRef {
    Named(String),
    /// `{ fetch [flags] [op] patterns }`, the words between the braces.
    Anonymous(Vec<String>),
}

/// `acl NAME CRITERION [flags] [operator] VALUE ...`.
#[derive(Debug, Clone)]
pub struct AclDecl {
    pub loc: Loc,
    pub name: String,
    pub words: Vec<String>,
}

/// `use_backend NAME [if|unless COND]`.
#[derive(Debug, Clone)]
pub struct UseBackend {
    pub loc: Loc,
    /// A name, or a log-format expression when it contains `%[`.
    pub backend: String,
    pub cond: Option<Condition>,
}

/// `use-server NAME if|unless COND` (backend side).
#[derive(Debug, Clone)]
pub struct UseServer {
    pub loc: Loc,
    /// A server name, or a log-format expression when it contains `%[`.
    pub server: String,
    pub cond: Condition,
}

/// A rule that later issues interpret (`http-request`, `tcp-request`, `stick`, ...):
/// kept as words, with its condition parsed so that ACL references are checked now.
#[derive(Debug, Clone)]
pub struct Rule {
    pub loc: Loc,
    /// The keyword, e.g. `http-request` or `tcp-request content`.
    pub keyword: String,
    /// The words between the keyword and `if`/`unless`.
    pub args: Vec<String>,
    pub cond: Option<Condition>,
}

/// `retry-on`: the failures after which a request is sent again (to the same server, or
/// another one with `option redispatch`), counted against `retries`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryOn {
    pub conn_failure: bool,
    pub empty_response: bool,
    pub junk_response: bool,
    pub response_timeout: bool,
    pub zero_rtt_rejected: bool,
    /// Response statuses sending the request again.
    pub statuses: Vec<u16>,
}

impl Default for RetryOn {
    fn default() -> RetryOn {
        RetryOn {
            conn_failure: true,
            empty_response: false,
            junk_response: false,
            response_timeout: false,
            zero_rtt_rejected: false,
            statuses: Vec::new(),
        }
    }
}

impl RetryOn {
    /// The statuses `retry-on` accepts.
    pub const STATUSES: [u16; 12] = [401, 403, 404, 408, 421, 425, 429, 500, 501, 502, 503, 504];

    /// Parses the keywords of a `retry-on` line (replacing any earlier setting).
    pub fn parse(words: &[String]) -> Result<RetryOn, String> {
        if words.is_empty() {
            return Err("'retry-on' expects a list of keywords.".into());
        }
        let mut r = RetryOn {
            conn_failure: false,
            ..RetryOn::default()
        };
        for w in words {
            match w.as_str() {
                "none" => {
                    if words.len() > 1 {
                        return Err("'retry-on' 'none' keyword only usable alone.".into());
                    }
                }
                "conn-failure" => r.conn_failure = true,
                "empty-response" => r.empty_response = true,
                "junk-response" => r.junk_response = true,
                "response-timeout" => r.response_timeout = true,
                "0rtt-rejected" => r.zero_rtt_rejected = true,
                "all-retryable-errors" => {
                    r.conn_failure = true;
                    r.empty_response = true;
                    r.junk_response = true;
                    r.response_timeout = true;
                    r.zero_rtt_rejected = true;
                    for s in [500, 502, 503, 504] {
                        if !r.statuses.contains(&s) {
                            r.statuses.push(s);
                        }
                    }
                }
                other => match other.parse::<u16>() {
                    Ok(s) if RetryOn::STATUSES.contains(&s) => {
                        if !r.statuses.contains(&s) {
                            r.statuses.push(s);
                        }
                    }
                    _ => {
                        return Err(format!("'retry-on': unknown keyword '{other}'."));
                    }
                },
            }
        }
        Ok(r)
    }

    /// Whether a failure after the request was sent may send it again.
    pub fn layer7(&self) -> bool {
        self.empty_response
            || self.junk_response
            || self.response_timeout
            || !self.statuses.is_empty()
    }
}

/// `observe`: which traffic errors count against a server's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observe {
    None,
    /// Failed connections.
    Layer4,
    /// Also HTTP responses: invalid, closed, timed out, or a status outside 100-499, 501,
    /// 505.
    Layer7,
}

/// `on-error`: what `error-limit` consecutive errors do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    FastInter,
    FailCheck,
    SuddenDeath,
    MarkDown,
}

/// Settings shared by `defaults`, `frontend`, `backend` and `listen`: what a `defaults`
/// section passes on to the proxies that follow it.
#[derive(Debug, Clone, Default)]
pub struct ProxySettings {
    pub mode: Mode,
    /// `tcp-request inspect-delay` and `tcp-response inspect-delay`, in milliseconds.
    pub tcp_req_inspect_delay: Option<u64>,
    pub tcp_res_inspect_delay: Option<u64>,
    pub balance: Balance,
    pub hash_type: HashType,
    pub hash_balance_factor: u32,
    pub maxconn: Option<u32>,
    pub fullconn: Option<u32>,
    pub backlog: Option<u32>,
    pub timeouts: Timeouts,
    pub retries: Option<u32>,
    /// `rate-limit sessions N`: new sessions per second a frontend accepts.
    pub rate_limit_sessions: Option<u32>,
    /// `hash-preserve-affinity maxconn|maxqueue` (None: `always`, the default).
    pub hash_preserve_affinity: Option<String>,
    /// `retry-on` (None: not set, `conn-failure` alone).
    pub retry_on: Option<RetryOn>,
    /// `option redispatch [interval]`: `Some(interval)` when enabled (interval -1 = last).
    pub redispatch: Option<i32>,
    pub persist: bool,
    /// `persist rdp-cookie[(NAME)]`: the cookie's name (`msts` by default).
    pub persist_rdp_cookie: Option<String>,
    pub allbackups: bool,
    pub source: Option<Source>,
    /// The `default-server` template.
    pub default_server: Option<Server>,
    pub default_backend: Option<(String, Loc)>,
    /// `option X` / `no option X` flags not modelled above, by name.
    pub options: Vec<(String, bool, Loc)>,
    pub disabled: bool,
    /// `be-unpublished`: content switching skips this backend until `publish backend`.
    pub unpublished: bool,
    pub description: Option<String>,
    pub monitor_net: Vec<(String, Loc)>,
    /// 1.x `grace` in a proxy: keep listening this long after a soft stop.
    pub grace: Option<u64>,
    /// `option forwardfor [except NET] [header NAME] [if-none]`.
    pub forwardfor: Option<ForwardFor>,
    /// `option originalto [except NET] [header NAME]` (same shape, `if_none` unused).
    pub originalto: Option<ForwardFor>,
    /// HTTP connection mode from `option http-keep-alive|http-server-close|httpclose`.
    pub http_mode: HttpConnMode,
    /// `monitor-uri URI`: requests for it are answered by the proxy itself.
    pub monitor_uri: Option<String>,
    /// The `stats` keywords (any of them enables the stats page); `stats admin` and
    /// `stats http-request` are rules, in `Proxy::rules`.
    pub stats: Option<StatsPage>,
    /// `http-reuse`: how idle server connections are shared between sessions.
    pub http_reuse: HttpReuse,
    /// `http-send-name-header [NAME]`: a header carrying the chosen server's name.
    pub send_name_header: Option<String>,
    /// `external-check command` and `external-check path`.
    pub external_check_command: Option<String>,
    pub external_check_path: Option<String>,
    /// `max-keep-alive-queue`: queue length on the last server above which a keep-alive
    /// request is balanced elsewhere (`None`: no limit).
    pub max_keep_alive_queue: Option<u32>,
    /// `max-session-srv-conns`: idle server connections a client session keeps (HAProxy's
    /// default is 5; halo's sessions keep at most one, so only 0 changes anything).
    pub max_session_srv_conns: Option<u32>,
    /// Custom error pages, in the order of their lines.
    pub error_pages: Vec<ErrorPageDecl>,
    /// `option forwarded ...`: the RFC 7239 header to add to requests.
    pub forwarded: Option<Forwarded>,
    /// `option http-restrict-req-hdr-names preserve|delete|reject`.
    pub restrict_req_hdr_names: Option<String>,
    /// `cookie NAME [mode] [options]`: cookie persistence (HTTP).
    pub cookie: Option<Cookie>,
    /// `dynamic-cookie-key`: the secret of `cookie ... dynamic`.
    pub dynamic_cookie_key: Option<String>,
    /// `load-server-state-from-file global|local|none` (unset: none).
    pub load_server_state: Option<LoadServerState>,
    /// `server-state-file-name FILE` (None, or `use-backend-name`: the backend's name).
    pub server_state_file_name: Option<String>,
    /// Health checks: `option httpchk`, `http-check`, `tcp-check`, built-in checks.
    pub checks: crate::checks::CheckConf,
    /// `log` lines, the log format, `log-tag`, `unique-id-*`.
    pub logging: crate::logs::ProxyLogging,
}

/// Where a backend's servers take their state from at start-up
/// (`load-server-state-from-file`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadServerState {
    /// The global `server-state-file`.
    Global,
    /// The backend's own file (`server-state-file-name`, else its name).
    Local,
    None,
}

/// How the persistence cookie is handled (`cookie` keyword).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CookieMode {
    /// No mode word: the cookie chooses the server, halo never sets nor strips it.
    #[default]
    Passive,
    Rewrite,
    Insert,
    Prefix,
}

/// `cookie NAME [rewrite|insert|prefix] [indirect] [nocache] [postonly] [preserve]
/// [httponly] [secure] [domain D]* [maxidle T] [maxlife T] [dynamic] [attr A]*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cookie {
    pub name: String,
    pub mode: CookieMode,
    pub indirect: bool,
    pub nocache: bool,
    pub postonly: bool,
    pub preserve: bool,
    pub httponly: bool,
    pub secure: bool,
    pub domains: Vec<String>,
    /// Seconds (0: none).
    pub maxidle: u64,
    pub maxlife: u64,
    pub dynamic: bool,
    pub attrs: Vec<String>,
}

/// `option forwarded`: each parameter is absent (`None`), taken from the connection
/// (`Some(None)`), or from a sample expression (`Some(Some(expr))`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forwarded {
    pub proto: bool,
    pub host: Option<Option<String>>,
    pub by: Option<Option<String>>,
    pub by_port: Option<Option<String>>,
    pub for_: Option<Option<String>>,
    pub for_port: Option<Option<String>>,
}

/// A global `set-var` / `set-var-fmt` line.
#[derive(Debug, Clone)]
pub struct GlobalVar {
    pub loc: Loc,
    /// `proc.NAME`.
    pub name: String,
    /// The sample expression, or the log-format string with `fmt`.
    pub value: String,
    pub fmt: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpReuse {
    Never,
    #[default]
    Safe,
    Aggressive,
    Always,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardFor {
    pub except: Option<String>,
    pub header: String,
    pub if_none: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpConnMode {
    #[default]
    KeepAlive,
    ServerClose,
    Close,
}

impl ProxySettings {
    /// Whether `option NAME` is enabled (last one wins).
    pub fn option(&self, name: &str) -> Option<bool> {
        self.options
            .iter()
            .rev()
            .find(|(n, _, _)| n == name)
            .map(|(_, on, _)| *on)
    }
}

/// A `frontend`, `backend` or `listen` section.
#[derive(Debug, Clone)]
pub struct Proxy {
    pub kind: ProxyKind,
    pub name: String,
    pub loc: Loc,
    pub id: Option<u32>,
    pub settings: ProxySettings,
    pub binds: Vec<Bind>,
    pub servers: Vec<Server>,
    pub dispatch: Option<(Address, Loc)>,
    pub acls: Vec<AclDecl>,
    pub use_backends: Vec<UseBackend>,
    /// `use-server` rules, in order.
    pub use_servers: Vec<UseServer>,
    /// `force-be-switch if|unless COND`: content switching may pick a disabled or
    /// unpublished backend when one of these holds.
    pub force_be_switch: Vec<(Condition, Loc)>,
    /// `force-persist` (true) and `ignore-persist` (false) rules, in order.
    pub persist_rules: Vec<(bool, Condition, Loc)>,
    pub rules: Vec<Rule>,
    /// `stick-table` declared here (words as written), for `table NAME` references.
    pub stick_table: Option<(Vec<String>, Loc)>,
    /// Legacy `appsession` (1.x), run as an implicit stick table and stick rules.
    pub appsession: Option<AppSession>,
    /// A `table` of a `peers` section (named `SECTION/NAME`): it carries only the table.
    pub peers_table: bool,
}

/// The stats page of a proxy (`stats enable`, `uri`, `realm`, `auth`, `refresh`, `scope`,
/// `hide-version`/`show-version`, `show-node`, `show-desc`, `show-legends`,
/// `show-modules`), with the defaults of the manual.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsPage {
    /// `stats uri`: the prefix of the page's URIs.
    pub uri: String,
    /// `stats realm`, and whether it was given.
    pub realm: String,
    pub realm_set: bool,
    /// `stats auth USER:PASSWORD`, in order.
    pub users: Vec<(String, String)>,
    /// `stats refresh`, in seconds.
    pub refresh: Option<u64>,
    /// `stats scope`: the proxies shown (`.` already replaced by the proxy's own name);
    /// empty: all.
    pub scope: Vec<String>,
    /// `stats show-version` (3.5: the version is hidden unless asked for); `stats
    /// hide-version` turns it off again.
    pub show_version: bool,
    pub show_legends: bool,
    pub show_modules: bool,
    /// `stats show-node [NAME]`: `Some(None)` for the global `node`.
    pub show_node: Option<Option<String>>,
    /// `stats show-desc [DESC]`: `Some(None)` for the global `description`.
    pub show_desc: Option<Option<String>>,
    pub loc: Loc,
}

impl StatsPage {
    pub const DEFAULT_URI: &'static str = "/haproxy?stats";
    pub const DEFAULT_REALM: &'static str = "HAProxy Statistics";

    pub fn new(loc: Loc) -> StatsPage {
        StatsPage {
            uri: Self::DEFAULT_URI.to_string(),
            realm: Self::DEFAULT_REALM.to_string(),
            realm_set: false,
            users: Vec::new(),
            refresh: None,
            scope: Vec::new(),
            show_version: false,
            show_legends: false,
            show_modules: false,
            show_node: None,
            show_desc: None,
            loc,
        }
    }
}

/// `appsession NAME len N timeout T [request-learn] [prefix] [mode M]` of HAProxy 1.x.
#[derive(Debug, Clone)]
pub struct AppSession {
    pub cookie: String,
    /// Characters of the value kept as the key.
    pub len: usize,
    /// Milliseconds an unused session is kept.
    pub timeout: u64,
    /// `request-learn`: also learn the cookie the client sends.
    pub request_learn: bool,
    /// `mode query-string`: the id is looked for in `?NAME=` instead of `;NAME=`.
    pub query_string: bool,
    /// `prefix`: NAME only begins the cookie's name; the key is `SUFFIX=value`.
    pub prefix: bool,
    pub loc: Loc,
}

/// A set of HTTP status codes (100 to 599), as `http-err-codes` and `http-fail-codes`
/// define them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusSet(pub [u64; 10]);

impl StatusSet {
    pub fn range(lo: u16, hi: u16) -> StatusSet {
        let mut s = StatusSet([0; 10]);
        for c in lo..=hi {
            s.set(c, true);
        }
        s
    }

    pub fn set(&mut self, code: u16, on: bool) {
        let (w, b) = (usize::from(code / 64), code % 64);
        if let Some(word) = self.0.get_mut(w) {
            if on {
                *word |= 1 << b;
            } else {
                *word &= !(1 << b);
            }
        }
    }

    pub fn contains(&self, code: u16) -> bool {
        let (w, b) = (usize::from(code / 64), code % 64);
        self.0.get(w).is_some_and(|word| word & (1 << b) != 0)
    }

    /// Applies `http-err-codes` arguments: `[+-]RANGE[,RANGE…]` words, a range being
    /// `CODE` or `LOW-HIGH` within 100..=599; no sign replaces the set, `+` adds, `-`
    /// removes.
    pub fn apply(&mut self, words: &[String]) -> Result<(), String> {
        for word in words {
            let (op, rest) = match word.as_bytes().first() {
                Some(b'+') => (1, &word[1..]),
                Some(b'-') => (2, &word[1..]),
                _ => (0, word.as_str()),
            };
            if op == 0 {
                *self = StatusSet([0; 10]);
            }
            for r in rest.split(',') {
                let (lo, hi) = match r.split_once('-') {
                    Some((a, b)) => (a, b),
                    None => (r, r),
                };
                let code = |t: &str| -> Result<u16, String> {
                    match t.parse::<u16>() {
                        Ok(v) if (100..=599).contains(&v) => Ok(v),
                        _ => Err(format!(
                            "invalid status code '{t}' in '{word}', expects a number from 100 to 599"
                        )),
                    }
                };
                let (lo, hi) = (code(lo)?, code(hi)?);
                if hi < lo {
                    return Err(format!("invalid range '{r}': {hi} is lower than {lo}"));
                }
                for c in lo..=hi {
                    self.set(c, op != 2);
                }
            }
        }
        Ok(())
    }
}
