//! The HAProxy keyword tables: every keyword of every section type, every bind and
//! server option, with how many values each option takes and what halo does with it
//! today (`Support`). Lookups, "did you mean" suggestions and legacy mapping live here.

/// A section type, started by its own keyword at the beginning of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectionKind {
    Global,
    Defaults,
    Frontend,
    Listen,
    Backend,
    Peers,
    Userlist,
    Resolvers,
    Mailers,
    HttpErrors,
    Cache,
    Ring,
    /// Removed from HAProxy 3.x; still found in 2.x configurations.
    Program,
    LogForward,
    Crtstore,
    Traces,
    Acme,
    FcgiApp,
    LogProfile,
    Healthcheck,
}

impl SectionKind {
    /// Every section type, in the order they are listed in the manual.
    pub const ALL: [SectionKind; 20] = [
        SectionKind::Global,
        SectionKind::Defaults,
        SectionKind::Frontend,
        SectionKind::Listen,
        SectionKind::Backend,
        SectionKind::Peers,
        SectionKind::Userlist,
        SectionKind::Resolvers,
        SectionKind::Mailers,
        SectionKind::HttpErrors,
        SectionKind::Cache,
        SectionKind::Ring,
        SectionKind::Program,
        SectionKind::LogForward,
        SectionKind::Crtstore,
        SectionKind::Traces,
        SectionKind::Acme,
        SectionKind::FcgiApp,
        SectionKind::LogProfile,
        SectionKind::Healthcheck,
    ];

    /// The section started by `word`, if `word` starts a section.
    pub fn from_keyword(word: &str) -> Option<SectionKind> {
        SectionKind::ALL.into_iter().find(|k| k.name() == word)
    }

    /// The keyword that starts this section.
    pub fn name(self) -> &'static str {
        match self {
            SectionKind::Global => "global",
            SectionKind::Defaults => "defaults",
            SectionKind::Frontend => "frontend",
            SectionKind::Listen => "listen",
            SectionKind::Backend => "backend",
            SectionKind::Peers => "peers",
            SectionKind::Userlist => "userlist",
            SectionKind::Resolvers => "resolvers",
            SectionKind::Mailers => "mailers",
            SectionKind::HttpErrors => "http-errors",
            SectionKind::Cache => "cache",
            SectionKind::Ring => "ring",
            SectionKind::Program => "program",
            SectionKind::LogForward => "log-forward",
            SectionKind::Crtstore => "crt-store",
            SectionKind::Traces => "traces",
            SectionKind::Acme => "acme",
            SectionKind::FcgiApp => "fcgi-app",
            SectionKind::LogProfile => "log-profile",
            SectionKind::Healthcheck => "healthcheck",
        }
    }

    /// True for the four sections sharing the proxy keyword matrix (defaults, frontend,
    /// listen, backend). `log-forward` is a proxy inside HAProxy but has its own keywords.
    pub fn is_proxy(self) -> bool {
        matches!(
            self,
            SectionKind::Defaults
                | SectionKind::Frontend
                | SectionKind::Listen
                | SectionKind::Backend
        )
    }
}

/// What halo does with a keyword today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Implemented.
    Done,
    /// Old syntax accepted with a warning; the text names the modern equivalent. When
    /// the text starts with a keyword of the same table, `effective_support` follows it.
    Legacy(&'static str),
    /// Valid HAProxy, not built yet; the number is the halo issue that brings it (0: none yet).
    Planned(u8),
    /// Valid, and deliberately without effect in halo; the text says why.
    Ignored(&'static str),
}

/// One keyword (or keyword sequence such as "timeout client"), or one bind/server option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyword {
    /// The words of the keyword, separated by one space.
    pub name: &'static str,
    /// The sections accepting it; empty for bind, server and load options.
    pub sections: &'static [SectionKind],
    pub support: Support,
    /// Bind/server/load options: how many values follow the option word (0: a flag).
    /// `source` takes 1 and may be followed by `usesrc <x>` and/or `interface <x>`: see
    /// `option_arity`. Always 0 for section keywords, whose arguments vary.
    pub args: u8,
}

use SectionKind::{
    Acme, Backend, Cache, Crtstore, Defaults, FcgiApp, Frontend, Global, Healthcheck, HttpErrors,
    Listen, LogForward, LogProfile, Mailers, Peers, Program, Resolvers, Ring, Traces, Userlist,
};

const G: &[SectionKind] = &[Global];
const DFLB: &[SectionKind] = &[Defaults, Frontend, Listen, Backend];
const DFL: &[SectionKind] = &[Defaults, Frontend, Listen];
const DLB: &[SectionKind] = &[Defaults, Listen, Backend];
const DB: &[SectionKind] = &[Defaults, Backend];
const FL: &[SectionKind] = &[Frontend, Listen];
const FLB: &[SectionKind] = &[Frontend, Listen, Backend];
const LB: &[SectionKind] = &[Listen, Backend];
/// Health-check rules: proxies with a backend side, and `healthcheck` sections.
const DLBH: &[SectionKind] = &[Defaults, Listen, Backend, Healthcheck];

const DONE: Support = Support::Done;
const P0: Support = Support::Planned(0);
const P2: Support = Support::Planned(2);
const EVENT_LOOP: Support = Support::Ignored("halo uses tokio's event loop");
const NO_GATE: Support = Support::Ignored("halo does not gate experimental or deprecated keywords");

const fn k(name: &'static str, sections: &'static [SectionKind], support: Support) -> Keyword {
    Keyword {
        name,
        sections,
        support,
        args: 0,
    }
}

const fn g(name: &'static str, support: Support) -> Keyword {
    k(name, G, support)
}

const fn legacy(modern: &'static str) -> Support {
    Support::Legacy(modern)
}

/// A bind, server or load option taking `args` values.
const fn o(name: &'static str, args: u8, support: Support) -> Keyword {
    Keyword {
        name,
        sections: &[],
        support,
        args,
    }
}

// ------------------------------------------------------------------ global (section 3)

/// Section 3 of the manual (3.1 to 3.4), plus the global keywords removed since 2.x.
pub static GLOBAL_KEYWORDS: &[Keyword] = &[
    // 3.1 process management and security
    g("51degrees-allow-unmatched", P0),
    g("51degrees-cache-size", P0),
    g("51degrees-data-file", P0),
    g("51degrees-difference", P0),
    g("51degrees-drift", P0),
    g("51degrees-property-name-list", P0),
    g("51degrees-property-separator", P0),
    g("51degrees-use-performance-graph", P0),
    g("51degrees-use-predictive-graph", P0),
    g("acme.scheduler", P0),
    g("ca-base", DONE),
    g("chroot", DONE),
    g("close-spread-time", P0),
    g("cluster-secret", P0),
    g("cpu-affinity", P0),
    g("cpu-map", P0),
    g("cpu-policy", P0),
    g("cpu-set", P0),
    g("crt-base", DONE),
    g("daemon", DONE),
    g("default-path", P0),
    g("description", DONE),
    g("deviceatlas-json-file", P0),
    g("deviceatlas-log-level", P0),
    g("deviceatlas-properties-cookie", P0),
    g("deviceatlas-separator", P0),
    g("dns-accept-family", DONE),
    g("expose-deprecated-directives", NO_GATE),
    g("expose-experimental-directives", NO_GATE),
    g("external-check", DONE),
    g("fd-hard-limit", P0),
    g("gid", DONE),
    g("grace", DONE),
    g("group", DONE),
    g("h1-accept-payload-with-any-method", DONE),
    g("h1-case-adjust", DONE),
    g("h1-case-adjust-file", DONE),
    g("h1-do-not-close-on-insecure-transfer-encoding", DONE),
    g("h2-workaround-bogus-websocket-clients", P0),
    g("hard-stop-after", DONE),
    g("harden.reject-privileged-ports.quic", P0),
    g("harden.reject-privileged-ports.tcp", P0),
    g("http-err-codes", DONE),
    g("http-fail-codes", DONE),
    g("insecure-fork-wanted", DONE),
    g("insecure-setuid-wanted", P0),
    g("issuers-chain-path", P0),
    g("jwt.decrypt_alg_list", P0),
    g("jwt.decrypt_enc_list", P0),
    g("key-base", P0),
    g("limited-quic", P0),
    g("localpeer", DONE),
    g("log", DONE),
    g("log-send-hostname", DONE),
    g("log-tag", DONE),
    g("lua-load", P0),
    g("lua-load-per-thread", P0),
    g("lua-prepend-path", P0),
    g("master-worker", P2),
    g("max-threads-per-group", P0),
    g("mworker-max-reloads", P2),
    g("nbthread", DONE),
    g("node", DONE),
    g("numa-cpu-mapping", P0),
    g("ocsp-update.disable", P0),
    g("ocsp-update.httpproxy", P0),
    g("ocsp-update.maxdelay", P0),
    g("ocsp-update.mindelay", P0),
    g("ocsp-update.mode", P0),
    g("pidfile", DONE),
    g("pp2-never-send-local", P0),
    g("prealloc-fd", P0),
    g("presetenv", DONE),
    g("resetenv", DONE),
    g("server-state-base", DONE),
    g("server-state-file", DONE),
    g("set-dumpable", P0),
    g("set-var", DONE),
    g("set-var-fmt", DONE),
    g("setcap", P0),
    g("setenv", DONE),
    g("shm-stats-file", P0),
    g("shm-stats-file-max-objects", P0),
    g("ssl-default-bind-ciphers", DONE),
    g("ssl-default-bind-ciphersuites", DONE),
    g(
        "ssl-default-bind-client-sigalgs",
        Support::Ignored("rustls chooses the signature algorithms itself (the modern ones only)"),
    ),
    g("ssl-default-bind-curves", DONE),
    g("ssl-default-bind-options", DONE),
    g(
        "ssl-default-bind-sigalgs",
        Support::Ignored("rustls chooses the signature algorithms itself (the modern ones only)"),
    ),
    g("ssl-default-server-ciphers", DONE),
    g("ssl-default-server-ciphersuites", DONE),
    g(
        "ssl-default-server-client-sigalgs",
        Support::Ignored("rustls chooses the signature algorithms itself (the modern ones only)"),
    ),
    g("ssl-default-server-curves", DONE),
    g("ssl-default-server-options", DONE),
    g(
        "ssl-default-server-sigalgs",
        Support::Ignored("rustls chooses the signature algorithms itself (the modern ones only)"),
    ),
    g(
        "ssl-dh-param-file",
        Support::Ignored(
            "rustls uses no finite-field Diffie-Hellman, only ECDHE, which needs no parameters",
        ),
    ),
    g("ssl-load-extra-del-ext", P0),
    g("ssl-load-extra-files", P0),
    g("ssl-passphrase-cmd", P0),
    g(
        "ssl-propquery",
        Support::Ignored("an OpenSSL provider setting; halo's TLS library is rustls (aws-lc-rs)"),
    ),
    g(
        "ssl-provider",
        Support::Ignored("an OpenSSL provider setting; halo's TLS library is rustls (aws-lc-rs)"),
    ),
    g(
        "ssl-provider-path",
        Support::Ignored("an OpenSSL provider setting; halo's TLS library is rustls (aws-lc-rs)"),
    ),
    g(
        "ssl-security-level",
        Support::Ignored("rustls has no security levels: it offers only modern algorithms"),
    ),
    g("ssl-server-verify", DONE),
    g("ssl-skip-self-issued-ca", DONE),
    g("stats calculate-max-counters", DONE),
    g("stats maxconn", DONE),
    g("stats socket", DONE),
    g("stats timeout", DONE),
    g("stats-file", P0),
    g("stress-level", P0),
    g("strict-limits", P0),
    g("thread-group", P0),
    g("thread-groups", P0),
    g("thread-hard-limit", P0),
    g("uid", DONE),
    g("ulimit-n", DONE),
    g("unix-bind", P0),
    g("unsetenv", DONE),
    g("user", DONE),
    g("wurfl-cache-size", P0),
    g("wurfl-data-file", P0),
    g("wurfl-information-list", P0),
    g("wurfl-information-list-separator", P0),
    g("wurfl-patch-file", P0),
    // 3.2 performance tuning
    g("busy-polling", P0),
    g("max-spread-checks", DONE),
    g("maxcompcpuusage", P0),
    g("maxcomprate", P0),
    g("maxconn", DONE),
    g("maxconnrate", DONE),
    g("maxpipes", P0),
    g("maxsessrate", DONE),
    g("maxsslconn", DONE),
    g("maxsslrate", DONE),
    g("maxzlibmem", P0),
    g("no-memory-trimming", P0),
    g("noepoll", EVENT_LOOP),
    g("noevports", EVENT_LOOP),
    g("nogetaddrinfo", P0),
    g("nokqueue", EVENT_LOOP),
    g("noktls", P0),
    g("nopoll", EVENT_LOOP),
    g("noreuseport", P0),
    g("nosplice", Support::Ignored("halo does not splice")),
    g("profiling.memory", P0),
    g("profiling.tasks", P0),
    g("spread-checks", DONE),
    g(
        "ssl-engine",
        Support::Ignored("an OpenSSL engine setting; halo's TLS library is rustls (aws-lc-rs)"),
    ),
    g(
        "ssl-mode-async",
        Support::Ignored(
            "an OpenSSL asynchronous-engine setting; halo's TLS library is rustls (aws-lc-rs)",
        ),
    ),
    g("tune.applet.zero-copy-forwarding", P0),
    g("tune.buffers.limit", P0),
    g("tune.buffers.reserve", P0),
    g("tune.bufsize", DONE),
    g("tune.bufsize.large", P0),
    g("tune.bufsize.small", P0),
    g("tune.cli.max-payload-size", P0),
    g("tune.comp.maxlevel", P0),
    g("tune.defaults.purge", P0),
    g("tune.disable-fast-forward", P0),
    g("tune.disable-zero-copy-forwarding", P0),
    g("tune.epoll.mask-events", EVENT_LOOP),
    g("tune.events.max-events-at-once", P0),
    g("tune.fail-alloc", P0),
    g("tune.fd.edge-triggered", EVENT_LOOP),
    g("tune.fd.tables", P0),
    g("tune.glitches.kill.cpu-usage", P0),
    g("tune.h1.be.glitches-threshold", DONE),
    g("tune.h1.fe.glitches-threshold", DONE),
    g("tune.h1.zero-copy-fwd-recv", P0),
    g("tune.h1.zero-copy-fwd-send", P0),
    g("tune.h2.be.glitches-threshold", P0),
    g("tune.h2.be.initial-window-size", P0),
    g("tune.h2.be.max-concurrent-streams", P0),
    g("tune.h2.be.max-frames-at-once", P0),
    g("tune.h2.be.rxbuf", P0),
    g("tune.h2.fe.glitches-threshold", P0),
    g("tune.h2.fe.initial-window-size", P0),
    g("tune.h2.fe.max-concurrent-streams", P0),
    g("tune.h2.fe.max-frames-at-once", P0),
    g("tune.h2.fe.max-rst-at-once", P0),
    g("tune.h2.fe.max-total-streams", P0),
    g("tune.h2.fe.rxbuf", P0),
    g("tune.h2.header-table-size", P0),
    g("tune.h2.initial-window-size", P0),
    g("tune.h2.log-errors", P0),
    g("tune.h2.max-concurrent-streams", P0),
    g("tune.h2.max-frame-size", P0),
    g("tune.h2.zero-copy-fwd-send", P0),
    g("tune.http.cookielen", DONE),
    g("tune.http.logurilen", DONE),
    g("tune.http.maxhdr", DONE),
    g("tune.idle-pool.shared", P0),
    g("tune.idletimer", P0),
    g("tune.listener.default-shards", P0),
    g("tune.listener.multi-queue", P0),
    g("tune.lua.bool-sample-conversion", P0),
    g("tune.lua.burst-timeout", P0),
    g("tune.lua.forced-yield", P0),
    g("tune.lua.log.loggers", P0),
    g("tune.lua.log.stderr", P0),
    g("tune.lua.maxmem", P0),
    g("tune.lua.openlibs", P0),
    g("tune.lua.service-timeout", P0),
    g("tune.lua.session-timeout", P0),
    g("tune.lua.task-timeout", P0),
    g("tune.max-checks-per-thread", DONE),
    g("tune.max-rules-at-once", P0),
    g("tune.maxaccept", P0),
    g("tune.maxpollevents", EVENT_LOOP),
    g("tune.maxrewrite", DONE),
    g("tune.memory.hot-size", P0),
    g("tune.notsent-lowat.client", P0),
    g("tune.notsent-lowat.server", P0),
    // A per-thread LRU of regex lookups (src/pattern/cache.rs); the other match methods
    // are indexed, so their lookups cost no more than a cache probe.
    g("tune.pattern.cache-size", DONE),
    g("tune.peers.max-updates-at-once", DONE),
    g("tune.pipesize", P0),
    g("tune.pool-high-fd-ratio", DONE),
    g("tune.pool-low-fd-ratio", DONE),
    g("tune.pt.zero-copy-forwarding", P0),
    g("tune.quic.be.cc.cubic-min-losses", P0),
    g("tune.quic.be.cc.hystart", P0),
    g("tune.quic.be.cc.max-frame-loss", P0),
    g("tune.quic.be.cc.max-win-size", P0),
    g("tune.quic.be.cc.reorder-ratio", P0),
    g("tune.quic.be.max-idle-timeout", P0),
    g("tune.quic.be.sec.glitches-threshold", P0),
    g("tune.quic.be.stream.data-ratio", P0),
    g("tune.quic.be.stream.max-concurrent", P0),
    g("tune.quic.be.stream.rxbuf", P0),
    g("tune.quic.be.tx.pacing", P0),
    g("tune.quic.be.tx.udp-gso", P0),
    g("tune.quic.fe.cc.cubic-min-losses", P0),
    g("tune.quic.fe.cc.hystart", P0),
    g("tune.quic.fe.cc.max-frame-loss", P0),
    g("tune.quic.fe.cc.max-win-size", P0),
    g("tune.quic.fe.cc.reorder-ratio", P0),
    g("tune.quic.fe.max-idle-timeout", P0),
    g("tune.quic.fe.sec.glitches-threshold", P0),
    g("tune.quic.fe.sec.retry-threshold", P0),
    g("tune.quic.fe.sock-per-conn", P0),
    g("tune.quic.fe.stream.data-ratio", P0),
    g("tune.quic.fe.stream.max-concurrent", P0),
    g("tune.quic.fe.stream.max-total", P0),
    g("tune.quic.fe.stream.rxbuf", P0),
    g("tune.quic.fe.tx.pacing", P0),
    g("tune.quic.fe.tx.udp-gso", P0),
    g("tune.quic.listen", P0),
    g("tune.quic.mem.tx-max", P0),
    g("tune.quic.zero-copy-fwd-send", P0),
    g("tune.rcvbuf.backend", P0),
    g("tune.rcvbuf.client", P0),
    g("tune.rcvbuf.frontend", P0),
    g("tune.rcvbuf.server", P0),
    g("tune.recv_enough", P0),
    g("tune.renice.runtime", P0),
    g("tune.renice.startup", P0),
    g("tune.ring.queues", P0),
    g("tune.runqueue-depth", P0),
    g("tune.sched.low-latency", P0),
    g("tune.sndbuf.backend", P0),
    g("tune.sndbuf.client", P0),
    g("tune.sndbuf.frontend", P0),
    g("tune.sndbuf.server", P0),
    g("tune.ssl.cachesize", DONE),
    g("tune.ssl.capture-buffer-size", P0),
    g("tune.ssl.certificate-compression", P0),
    g(
        "tune.ssl.default-dh-param",
        Support::Ignored(
            "rustls uses no finite-field Diffie-Hellman, only ECDHE, which needs no parameters",
        ),
    ),
    g("tune.ssl.force-private-cache", P0),
    g("tune.ssl.hard-maxrecord", DONE),
    g("tune.ssl.keylog", P0),
    g("tune.ssl.keyupdate-rate-limit", P0),
    g("tune.ssl.lifetime", DONE),
    g("tune.ssl.maxrecord", DONE),
    g("tune.ssl.ssl-ctx-cache-size", P0),
    g("tune.stick-counters", DONE),
    g("tune.streams-elasticity", P0),
    g("tune.takeover-other-tg-connections", P0),
    g("tune.vars.global-max-size", DONE),
    g("tune.vars.proc-max-size", DONE),
    g("tune.vars.reqres-max-size", DONE),
    g("tune.vars.sess-max-size", DONE),
    g("tune.vars.txn-max-size", DONE),
    g("tune.zlib.memlevel", P0),
    g("tune.zlib.windowsize", P0),
    // 3.3 debugging
    g("anonkey", P0),
    g("debug.counters", P0),
    g("force-cfg-parser-pause", P0),
    g("quick-exit", P0),
    g("quiet", DONE),
    g("warn-blocked-traffic-after", P0),
    g("zero-warning", P0),
    // 3.4 httpclient
    g("httpclient.resolvers.disabled", P0),
    g("httpclient.resolvers.id", P0),
    g("httpclient.resolvers.prefer", P0),
    g("httpclient.retries", P0),
    g("httpclient.ssl.ca-file", P0),
    g("httpclient.ssl.verify", P0),
    g("httpclient.timeout.connect", P0),
    // documented as deprecated
    g(
        "tune.ssl.capture-cipherlist-size",
        legacy("tune.ssl.capture-buffer-size"),
    ),
    g(
        "tune.ssl.ocsp-update.maxdelay",
        legacy("ocsp-update.maxdelay"),
    ),
    g(
        "tune.ssl.ocsp-update.mindelay",
        legacy("ocsp-update.mindelay"),
    ),
    // removed since 2.x
    g("debug", legacy("the -d command-line option")),
    g("nbproc", legacy("nbthread")),
    g(
        "stats bind-process",
        legacy("the 'thread' option of 'stats socket'"),
    ),
    g("tune.chksize", legacy("tune.bufsize")),
    g(
        "tune.quic.backend.max-idle-timeout",
        legacy("tune.quic.be.max-idle-timeout"),
    ),
    g("tune.quic.cc-hystart", legacy("tune.quic.fe.cc.hystart")),
    g(
        "tune.quic.cc.cubic.min-losses",
        legacy("tune.quic.fe.cc.cubic-min-losses"),
    ),
    g(
        "tune.quic.disable-tx-pacing",
        legacy("tune.quic.fe.tx.pacing"),
    ),
    g(
        "tune.quic.disable-udp-gso",
        legacy("tune.quic.fe.tx.udp-gso"),
    ),
    g(
        "tune.quic.frontend.conn-tx-buffers.limit",
        legacy("tune.quic.mem.tx-max"),
    ),
    g(
        "tune.quic.frontend.default-max-window-size",
        legacy("tune.quic.fe.cc.max-win-size"),
    ),
    g(
        "tune.quic.frontend.glitches-threshold",
        legacy("tune.quic.fe.sec.glitches-threshold"),
    ),
    g(
        "tune.quic.frontend.max-idle-timeout",
        legacy("tune.quic.fe.max-idle-timeout"),
    ),
    g(
        "tune.quic.frontend.max-streams-bidi",
        legacy("tune.quic.fe.stream.max-concurrent"),
    ),
    g(
        "tune.quic.frontend.max-tx-mem",
        legacy("tune.quic.mem.tx-max"),
    ),
    g(
        "tune.quic.frontend.stream-data-ratio",
        legacy("tune.quic.fe.stream.data-ratio"),
    ),
    g(
        "tune.quic.max-frame-loss",
        legacy("tune.quic.fe.cc.max-frame-loss"),
    ),
    g(
        "tune.quic.reorder-ratio",
        legacy("tune.quic.fe.cc.reorder-ratio"),
    ),
    g(
        "tune.quic.retry-threshold",
        legacy("tune.quic.fe.sec.retry-threshold"),
    ),
    g(
        "tune.quic.socket-owner",
        legacy("tune.quic.fe.sock-per-conn"),
    ),
];

// ------------------------------------------------------ proxies (section 4.1 matrix)

/// The keyword matrix of section 4.1 (columns: defaults, frontend, listen, backend), the
/// proxy keywords documented in 4.2 but left out of the matrix, and the 1.x/2.x keywords
/// old configurations still contain. `no option X` is listed for the options the matrix
/// marks as invertible; the `default` prefix is left to the caller.
pub static PROXY_KEYWORDS: &[Keyword] = &[
    k("acl", DFLB, DONE),
    k("backlog", DFL, DONE),
    k("balance", DLB, DONE),
    k("be-unpublished", LB, DONE),
    k("bind", FL, DONE),
    k("capture cookie", FL, DONE),
    k("capture request header", FL, DONE),
    k("capture response header", FL, DONE),
    k("clitcpka-cnt", DFL, P0),
    k("clitcpka-idle", DFL, P0),
    k("clitcpka-intvl", DFL, P0),
    k("compression algo", DFLB, P0),
    k("compression algo-req", DFLB, P0),
    k("compression algo-res", DFLB, P0),
    k("compression minsize-req", DFLB, P0),
    k("compression minsize-res", DFLB, P0),
    k("compression offload", FLB, P0),
    k("compression type", DFLB, P0),
    k("compression type-req", DFLB, P0),
    k("compression type-res", DFLB, P0),
    k(
        "compression direction",
        DFLB,
        legacy("filter comp-req / filter comp-res"),
    ),
    k("cookie", DLB, DONE),
    k("crt", FL, P0),
    k("declare capture", FL, DONE),
    k("default-server", DLB, DONE),
    k("default_backend", DFL, DONE),
    k("description", FLB, DONE),
    k("disabled", DFLB, DONE),
    k("dynamic-cookie-key", DLB, DONE),
    k("email-alert from", DFLB, P0),
    k("email-alert level", DFLB, P0),
    k("email-alert mailers", DFLB, P0),
    k("email-alert myhostname", DFLB, P0),
    k("email-alert to", DFLB, P0),
    k("enabled", DFLB, DONE),
    k("errorfile", DFLB, DONE),
    k("errorfiles", DFLB, DONE),
    k("errorloc", DFLB, DONE),
    k("errorloc302", DFLB, DONE),
    k("errorloc303", DFLB, DONE),
    k("error-log-format", DFL, DONE),
    k("external-check command", DLB, DONE),
    k("external-check path", DLB, DONE),
    k("force-be-switch", FL, DONE),
    k("force-persist", LB, DONE),
    k("filter", FLB, P0),
    k("filter-sequence", FLB, P0),
    k("fullconn", DLB, DONE),
    k("guid", FLB, P0),
    k("hash-balance-factor", DLB, DONE),
    k("hash-preserve-affinity", DLB, DONE),
    k("hash-type", DLB, DONE),
    k("http-after-response", DFLB, DONE),
    k("http-check comment", DLBH, DONE),
    k("http-check connect", DLBH, DONE),
    k("http-check disable-on-404", DLBH, DONE),
    k("http-check expect", DLBH, DONE),
    k("http-check send", DLBH, DONE),
    k("http-check send-state", DLBH, DONE),
    k("http-check set-var", DLBH, DONE),
    k("http-check set-var-fmt", DLBH, DONE),
    k("http-check unset-var", DLBH, DONE),
    k("http-error", DFLB, DONE),
    k("http-request", DFLB, DONE),
    k("http-response", DFLB, DONE),
    k("http-reuse", DLB, DONE),
    k("http-send-name-header", DLB, DONE),
    k("id", FLB, DONE),
    k("ignore-persist", LB, DONE),
    k("load-server-state-from-file", DLB, DONE),
    k("log", DFLB, DONE),
    k("no log", DFLB, DONE),
    k("log-format", DFL, DONE),
    k("log-format-sd", DFL, DONE),
    k("log-steps", DFL, DONE),
    k("log-tag", DFLB, DONE),
    k("max-keep-alive-queue", DLB, DONE),
    k("max-session-srv-conns", DFL, DONE),
    k("maxconn", DFL, DONE),
    k("mode", DFLB, DONE),
    k("monitor fail", FL, DONE),
    k("monitor-uri", DFL, DONE),
    k("option abortonclose", DFLB, DONE),
    k(
        "option accept-invalid-http-request",
        DFL,
        Support::Legacy("option accept-unsafe-violations-in-http-request"),
    ),
    k(
        "option accept-invalid-http-response",
        DLB,
        Support::Legacy("option accept-unsafe-violations-in-http-response"),
    ),
    k("option accept-unsafe-violations-in-http-request", DFL, DONE),
    k(
        "option accept-unsafe-violations-in-http-response",
        DLB,
        DONE,
    ),
    k("option allbackups", DLB, DONE),
    k("option checkcache", DLB, DONE),
    k("option clitcpka", DFL, P0),
    k("option contstats", DFL, DONE),
    k("option disable-h2-upgrade", DFL, DONE),
    k("option dontlog-normal", DFL, DONE),
    k("option dontlognull", DFL, DONE),
    k("option external-check", DLB, DONE),
    k("option forwardfor", DFLB, DONE),
    k("option forwarded", DLB, DONE),
    k("option h1-case-adjust-bogus-client", DFL, DONE),
    k("option h1-case-adjust-bogus-server", DLB, DONE),
    k("option http-buffer-request", DFLB, DONE),
    k("option http-drop-request-trailers", DB, DONE),
    k("option http-drop-response-trailers", DFL, DONE),
    k("option http-ignore-probes", DFL, DONE),
    k("option http-keep-alive", DFLB, DONE),
    k("option http-no-delay", DFLB, DONE),
    k("option http-pretend-keepalive", DLB, DONE),
    k("option http-restrict-req-hdr-names", DFLB, DONE),
    k("option http-server-close", DFLB, DONE),
    k("option http-use-proxy-header", DFL, DONE),
    k("option httpchk", DLB, DONE),
    k("option httpclose", DFLB, DONE),
    k("option httplog", DFL, DONE),
    k("option httpslog", DFL, DONE),
    k("option idle-close-on-response", DFL, DONE),
    k("option independent-streams", DFLB, P0),
    k("option ldap-check", DLB, DONE),
    k("option log-health-checks", DLB, DONE),
    k("option log-separate-errors", DFL, DONE),
    k("option logasap", DFL, DONE),
    k("option mysql-check", DLB, DONE),
    k("option nolinger", DFLB, P0),
    k("option originalto", DFLB, DONE),
    k("option persist", DLB, DONE),
    k("option pgsql-check", DLB, DONE),
    k("option prefer-last-server", DLB, DONE),
    k("option redispatch", DLB, DONE),
    k("option redis-check", DLB, DONE),
    k("option smtpchk", DLB, DONE),
    k("option socket-stats", DFL, DONE),
    k("option splice-auto", DFLB, P0),
    k("option splice-request", DFLB, P0),
    k("option splice-response", DFLB, P0),
    k("option spop-check", DLB, P0),
    k("option srvtcpka", DLB, P0),
    k("option ssl-hello-chk", DLB, DONE),
    k("option tcp-check", DLB, DONE),
    k("option tcp-smart-accept", DFL, P0),
    k("option tcp-smart-connect", DLB, P0),
    k("option tcpka", DFLB, P0),
    k("option tcplog", DFL, DONE),
    k("option use-small-buffers", DLB, P0),
    k("no option abortonclose", DFLB, DONE),
    k(
        "no option accept-invalid-http-request",
        DFL,
        Support::Legacy("option accept-unsafe-violations-in-http-request"),
    ),
    k(
        "no option accept-invalid-http-response",
        DLB,
        Support::Legacy("option accept-unsafe-violations-in-http-response"),
    ),
    k(
        "no option accept-unsafe-violations-in-http-request",
        DFL,
        DONE,
    ),
    k(
        "no option accept-unsafe-violations-in-http-response",
        DLB,
        DONE,
    ),
    k("no option allbackups", DLB, DONE),
    k("no option checkcache", DLB, DONE),
    k("no option clitcpka", DFL, P0),
    k("no option contstats", DFL, DONE),
    k("no option disable-h2-upgrade", DFL, P0),
    k("no option dontlog-normal", DFL, DONE),
    k("no option dontlognull", DFL, DONE),
    k("no option forwarded", DLB, DONE),
    k("no option h1-case-adjust-bogus-client", DFL, DONE),
    k("no option h1-case-adjust-bogus-server", DLB, DONE),
    k("no option http-buffer-request", DFLB, DONE),
    k("no option http-drop-request-trailers", DB, DONE),
    k("no option http-drop-response-trailers", DFL, DONE),
    k("no option http-ignore-probes", DFL, DONE),
    k("no option http-keep-alive", DFLB, DONE),
    k("no option http-no-delay", DFLB, DONE),
    k("no option http-pretend-keepalive", DLB, DONE),
    k("no option http-server-close", DFLB, DONE),
    k("no option http-use-proxy-header", DFL, DONE),
    k("no option httpclose", DFLB, DONE),
    k("no option idle-close-on-response", DFL, DONE),
    k("no option independent-streams", DFLB, P0),
    k("no option log-health-checks", DLB, DONE),
    k("no option log-separate-errors", DFL, DONE),
    k("no option logasap", DFL, DONE),
    k("no option nolinger", DFLB, P0),
    k("no option persist", DLB, DONE),
    k("no option prefer-last-server", DLB, DONE),
    k("no option redispatch", DLB, DONE),
    k("no option socket-stats", DFL, DONE),
    k("no option splice-auto", DFLB, P0),
    k("no option splice-request", DFLB, P0),
    k("no option splice-response", DFLB, P0),
    k("no option srvtcpka", DLB, P0),
    k("no option tcp-smart-accept", DFL, P0),
    k("no option tcp-smart-connect", DLB, P0),
    k("no option tcpka", DFLB, P0),
    k("no option use-small-buffers", DLB, P0),
    // options removed since 1.x/2.x
    k(
        "option forceclose",
        DFLB,
        Support::Legacy("option httpclose"),
    ),
    k(
        "option http_proxy",
        DFLB,
        Support::Legacy("http-request set-dst"),
    ),
    k(
        "option http-tunnel",
        DFLB,
        Support::Legacy("option http-keep-alive"),
    ),
    k("option http-use-htx", DFLB, Support::Legacy("mode http")),
    k(
        "option independant-streams",
        DFLB,
        Support::Legacy("option independent-streams"),
    ),
    k(
        "option tcpsplice",
        DFLB,
        Support::Legacy("option splice-auto"),
    ),
    k(
        "option transparent",
        DLB,
        Support::Legacy("a server whose address is 0.0.0.0"),
    ),
    k(
        "no option forceclose",
        DFLB,
        Support::Legacy("option httpclose"),
    ),
    k(
        "no option http_proxy",
        DFLB,
        Support::Legacy("http-request set-dst"),
    ),
    k(
        "no option http-tunnel",
        DFLB,
        Support::Legacy("option http-keep-alive"),
    ),
    k("no option http-use-htx", DFLB, Support::Legacy("mode http")),
    k(
        "no option independant-streams",
        DFLB,
        Support::Legacy("option independent-streams"),
    ),
    k(
        "no option transparent",
        DLB,
        Support::Legacy("a server whose address is 0.0.0.0"),
    ),
    k("persist rdp-cookie", DLB, DONE),
    k("quic-initial", DFL, P0),
    k("rate-limit sessions", DFL, DONE),
    k("redirect", FLB, DONE),
    k("retries", DLB, DONE),
    k("retry-on", DLB, DONE),
    k("server", LB, DONE),
    k("server-state-file-name", DLB, DONE),
    k("server-template", LB, DONE),
    k("source", DLB, DONE),
    k("srvtcpka-cnt", DLB, P0),
    k("srvtcpka-idle", DLB, P0),
    k("srvtcpka-intvl", DLB, P0),
    k("ssl-f-use", FL, P0),
    k("stats admin", FLB, DONE),
    k("stats auth", DFLB, DONE),
    k("stats enable", DFLB, DONE),
    k("stats hide-version", DFLB, DONE),
    k("stats http-request", FLB, DONE),
    k("stats realm", DFLB, DONE),
    k("stats refresh", DFLB, DONE),
    k("stats scope", DFLB, DONE),
    k("stats show-desc", DFLB, DONE),
    k("stats show-legends", DFLB, DONE),
    k("stats show-modules", DFLB, DONE),
    k("stats show-node", DFLB, DONE),
    k("stats show-version", DFLB, DONE),
    k("stats uri", DFLB, DONE),
    k("stick match", LB, DONE),
    k("stick on", LB, DONE),
    k("stick store-request", LB, DONE),
    k("stick store-response", LB, DONE),
    k("stick-table", FLB, DONE),
    k("tcp-check comment", DLBH, DONE),
    k("tcp-check connect", DLBH, DONE),
    k("tcp-check expect", DLBH, DONE),
    k("tcp-check send", DLBH, DONE),
    k("tcp-check send-binary", DLBH, DONE),
    k("tcp-check send-binary-lf", DLBH, DONE),
    k("tcp-check send-lf", DLBH, DONE),
    k("tcp-check set-var", DLBH, DONE),
    k("tcp-check set-var-fmt", DLBH, DONE),
    k("tcp-check unset-var", DLBH, DONE),
    k("tcp-request connection", DFL, DONE),
    k("tcp-request content", DFLB, DONE),
    k("tcp-request inspect-delay", DFLB, DONE),
    k("tcp-request session", DFL, DONE),
    k("tcp-response content", DLB, DONE),
    k("tcp-response inspect-delay", DLB, DONE),
    k("timeout check", DLB, DONE),
    k("timeout client", DFL, DONE),
    k("timeout client-fin", DFL, DONE),
    k("timeout client-hs", DFL, DONE),
    k("timeout connect", DLB, DONE),
    k("timeout http-keep-alive", DFLB, DONE),
    k("timeout http-request", DFLB, DONE),
    k("timeout queue", DLB, DONE),
    k("timeout server", DLB, DONE),
    k("timeout server-fin", DLB, DONE),
    k("timeout tarpit", DFLB, DONE),
    k("timeout tunnel", DLB, DONE),
    k("unique-id-format", DFLB, DONE),
    k("unique-id-header", DFL, DONE),
    k("use_backend", FL, DONE),
    k("use-fcgi-app", LB, P0),
    k("use-server", LB, DONE),
    // Not in the 3.5 manual any more, still accepted by HAProxy and used by old files.
    k("dispatch", LB, DONE),
    // Removed keywords of HAProxy 1.x/2.x, with the sections that accepted them.
    k(
        "appsession",
        LB,
        legacy(
            "stick-table type string + stick match req.cook() + stick store-response res.cook()",
        ),
    ),
    k("bind-process", DFLB, legacy("thread (bind option)")),
    k("block", FLB, legacy("http-request deny")),
    k("clitimeout", DFL, legacy("timeout client")),
    k("contimeout", DLB, legacy("timeout connect")),
    k("grace", DFLB, legacy("grace (global section)")),
    k("monitor-net", DFL, legacy("monitor-uri")),
    k("redispatch", DLB, legacy("option redispatch")),
    k("reqadd", FLB, legacy("http-request add-header")),
    k("reqallow", FLB, legacy("http-request allow")),
    k("reqdel", FLB, legacy("http-request del-header")),
    k("reqdeny", FLB, legacy("http-request deny")),
    k("reqiallow", FLB, legacy("http-request allow")),
    k("reqidel", FLB, legacy("http-request del-header")),
    k("reqideny", FLB, legacy("http-request deny")),
    k("reqipass", FLB, legacy("http-request allow")),
    k("reqirep", FLB, legacy("http-request replace-header")),
    k("reqisetbe", FLB, legacy("acl + use_backend")),
    k("reqitarpit", FLB, legacy("http-request tarpit")),
    k("reqpass", FLB, legacy("http-request allow")),
    k("reqrep", FLB, legacy("http-request replace-header")),
    k("reqsetbe", FLB, legacy("acl + use_backend")),
    k("reqtarpit", FLB, legacy("http-request tarpit")),
    k("rspadd", FLB, legacy("http-response add-header")),
    k("rspdel", FLB, legacy("http-response del-header")),
    k("rspdeny", FLB, legacy("http-response deny")),
    k("rspidel", FLB, legacy("http-response del-header")),
    k("rspideny", FLB, legacy("http-response deny")),
    k("rspirep", FLB, legacy("http-response replace-header")),
    k("rsprep", FLB, legacy("http-response replace-header")),
    k("srvtimeout", DLB, legacy("timeout server")),
    k("timeout clitimeout", DFL, legacy("timeout client")),
    k("timeout contimeout", DLB, legacy("timeout connect")),
    k("timeout srvtimeout", DLB, legacy("timeout server")),
    k(
        "transparent",
        DLB,
        legacy("a server whose address is 0.0.0.0"),
    ),
];

// ------------------------------------------------------------------ other sections

/// Keywords of the sections other than global and the proxies (sections 5.3.2, 6.2.1,
/// 8.3.5, 10.1.1, 11.2, 12.x), plus the `program` section removed in HAProxy 3.x.
pub static OTHER_KEYWORDS: &[Keyword] = &[
    // peers (11.2)
    k("bind", &[Peers], DONE),
    k("default-bind", &[Peers], DONE),
    k("default-server", &[Peers], DONE),
    k("disabled", &[Peers], DONE),
    k("enabled", &[Peers], DONE),
    k("log", &[Peers], P0),
    k("peer", &[Peers], DONE),
    k("server", &[Peers], DONE),
    k("shards", &[Peers], DONE),
    k("table", &[Peers], DONE),
    // userlist (12.2)
    k("group", &[Userlist], DONE),
    k("user", &[Userlist], DONE),
    // resolvers (5.3.2)
    k("accepted_payload_size", &[Resolvers], DONE),
    k("hold", &[Resolvers], DONE),
    k("nameserver", &[Resolvers], DONE),
    k("parse-resolv-conf", &[Resolvers], DONE),
    k("resolve_retries", &[Resolvers], DONE),
    k("timeout resolve", &[Resolvers], DONE),
    k("timeout retry", &[Resolvers], DONE),
    // mailers (12.3)
    k("mailer", &[Mailers], P0),
    k("timeout mail", &[Mailers], P0),
    // http-errors (12.4)
    k("errorfile", &[HttpErrors], DONE),
    // cache (6.2.1)
    k("early-hints", &[Cache], P0),
    k("max-age", &[Cache], P0),
    k("max-object-size", &[Cache], P0),
    k("max-secondary-entries", &[Cache], P0),
    k("process-vary", &[Cache], P0),
    k("total-max-size", &[Cache], P0),
    // ring (12.5)
    k("backing-file", &[Ring], P0),
    k("description", &[Ring], DONE),
    k("format", &[Ring], DONE),
    k("maxlen", &[Ring], DONE),
    k("server", &[Ring], DONE),
    k("size", &[Ring], DONE),
    k("timeout connect", &[Ring], DONE),
    k("timeout server", &[Ring], DONE),
    // program (2.x only; the section is gone from HAProxy 3.x)
    k(
        "command",
        &[Program],
        legacy("an external process supervisor"),
    ),
    k(
        "group",
        &[Program],
        legacy("an external process supervisor"),
    ),
    k(
        "option start-on-reload",
        &[Program],
        legacy("an external process supervisor"),
    ),
    k(
        "no option start-on-reload",
        &[Program],
        legacy("an external process supervisor"),
    ),
    k("user", &[Program], legacy("an external process supervisor")),
    // log-forward (12.6)
    k("backlog", &[LogForward], DONE),
    k("bind", &[LogForward], DONE),
    k("dgram-bind", &[LogForward], DONE),
    k("log", &[LogForward], DONE),
    k("maxconn", &[LogForward], DONE),
    k("option assume-rfc6587-ntf", &[LogForward], DONE),
    k("option dont-parse-log", &[LogForward], DONE),
    k("option host", &[LogForward], DONE),
    k("timeout client", &[LogForward], DONE),
    // crt-store (12.7)
    k("crt-base", &[Crtstore], P0),
    k("key-base", &[Crtstore], P0),
    k("load", &[Crtstore], P0),
    // traces (12.1)
    k("trace", &[Traces], P0),
    // acme (12.8)
    k("account-key", &[Acme], P0),
    k("acme-vars", &[Acme], P0),
    k("bits", &[Acme], P0),
    k("challenge", &[Acme], P0),
    k("challenge-ready", &[Acme], P0),
    k("contact", &[Acme], P0),
    k("curves", &[Acme], P0),
    k("directory", &[Acme], P0),
    k("dns-delay", &[Acme], P0),
    k("dns-timeout", &[Acme], P0),
    k("eab-key-id", &[Acme], P0),
    k("eab-mac-alg", &[Acme], P0),
    k("eab-mac-key", &[Acme], P0),
    k("keytype", &[Acme], P0),
    k("map", &[Acme], P0),
    k("profile", &[Acme], P0),
    k("provider-name", &[Acme], P0),
    k("reuse-key", &[Acme], P0),
    // fcgi-app (10.1.1)
    k("acl", &[FcgiApp], P0),
    k("docroot", &[FcgiApp], P0),
    k("index", &[FcgiApp], P0),
    k("log-stderr", &[FcgiApp], P0),
    k("option get-values", &[FcgiApp], P0),
    k("no option get-values", &[FcgiApp], P0),
    k("option keep-conn", &[FcgiApp], P0),
    k("no option keep-conn", &[FcgiApp], P0),
    k("option max-reqs", &[FcgiApp], P0),
    k("option mpxs-conns", &[FcgiApp], P0),
    k("no option mpxs-conns", &[FcgiApp], P0),
    k("pass-header", &[FcgiApp], P0),
    k("path-info", &[FcgiApp], P0),
    k("set-param", &[FcgiApp], P0),
    // log-profile (8.3.5)
    k("log-tag", &[LogProfile], DONE),
    k("on", &[LogProfile], DONE),
    // healthcheck (12.9); its http-check and tcp-check rules are in PROXY_KEYWORDS
    k("type", &[Healthcheck], P0),
];

// ------------------------------------------------------------ bind options (5.1)

/// Section 5.1: options of `bind` lines (also `stats socket`, peers, log-forward).
pub static BIND_OPTIONS: &[Keyword] = &[
    o("accept-netscaler-cip", 1, P0),
    o("accept-proxy", 0, DONE),
    o(
        "allow-0rtt",
        0,
        Support::Ignored(
            "halo accepts no TLS 1.3 early data: clients send their request after the handshake",
        ),
    ),
    o("alpn", 1, DONE),
    o("backlog", 1, DONE),
    o("ca-file", 1, DONE),
    o("ca-ignore-err", 1, DONE),
    o("ca-sign-file", 1, P0),
    o("ca-sign-pass", 1, P0),
    o("ca-verify-file", 1, P0),
    o("cc", 1, P0),
    o("ciphers", 1, DONE),
    o("ciphersuites", 1, DONE),
    o(
        "client-sigalgs",
        1,
        Support::Ignored("rustls chooses the signature algorithms itself (the modern ones only)"),
    ),
    o("crl-file", 1, DONE),
    o("crt", 1, DONE),
    o("crt-ignore-err", 1, DONE),
    o("crt-list", 1, DONE),
    o("curves", 1, DONE),
    o("default-crt", 1, P0),
    o("defer-accept", 0, DONE),
    o(
        "ecdhe",
        1,
        Support::Ignored(
            "the key exchange group is chosen from 'curves' (rustls' default list: X25519, P-256, P-384, X25519MLKEM768)",
        ),
    ),
    o("ech", 1, P0),
    o("expose-fd", 1, P0),
    o("force-sslv3", 0, DONE),
    o("force-tlsv10", 0, DONE),
    o("force-tlsv11", 0, DONE),
    o("force-tlsv12", 0, DONE),
    o("force-tlsv13", 0, DONE),
    o("generate-certificates", 0, P0),
    o("gid", 1, DONE),
    o("group", 1, DONE),
    o("guid-prefix", 1, P0),
    o("id", 1, DONE),
    o("idle-ping", 1, P0),
    o("interface", 1, DONE),
    o("ktls", 1, P0),
    o("label", 1, P0),
    o("level", 1, DONE),
    o("maxconn", 1, DONE),
    o("mode", 1, DONE),
    o("mss", 1, DONE),
    o("name", 1, DONE),
    o("namespace", 1, P0),
    o("nbconn", 1, P0),
    o(
        "nice",
        1,
        Support::Ignored("halo's scheduler has no per-listener priority"),
    ),
    o("no-alpn", 0, DONE),
    o("no-ca-names", 0, DONE),
    o("no-sslv3", 0, DONE),
    o("no-strict-sni", 0, DONE),
    o("no-tls-tickets", 0, DONE),
    o("no-tlsv10", 0, DONE),
    o("no-tlsv11", 0, DONE),
    o("no-tlsv12", 0, DONE),
    o("no-tlsv13", 0, DONE),
    o(
        "npn",
        1,
        Support::Ignored("NPN is obsolete; halo's TLS library (rustls) negotiates with ALPN only"),
    ),
    o("prefer-client-ciphers", 0, DONE),
    o("proto", 1, P0),
    o("quic-cc-algo", 1, P0),
    o("quic-force-retry", 0, P0),
    o("quic-socket", 1, P0),
    o("severity-output", 1, P0),
    o("shards", 1, P0),
    o(
        "sigalgs",
        1,
        Support::Ignored("rustls chooses the signature algorithms itself (the modern ones only)"),
    ),
    o("ssl", 0, DONE),
    o("ssl-max-ver", 1, DONE),
    o("ssl-min-ver", 1, DONE),
    o("strict-sni", 0, DONE),
    o("tcp-md5sig", 1, P0),
    o("tcp-ss", 1, P0),
    o("tcp-ut", 1, P0),
    o("tfo", 0, DONE),
    o("thread", 1, DONE),
    o("tls-ticket-keys", 1, P0),
    o("tls-tickets", 0, DONE),
    o("transparent", 0, DONE),
    o("uid", 1, DONE),
    o("user", 1, DONE),
    o("v4v6", 0, DONE),
    o("v6only", 0, DONE),
    o("verify", 1, DONE),
    // removed in HAProxy 2.7 (multi-process mode is gone)
    o("process", 1, legacy("thread")),
];

// ----------------------------------------------------------- server options (5.2)

/// Section 5.2: options of `server`, `default-server` and `server-template` lines (also
/// peers and ring servers). `set-proxy-v2-tlv-fmt(<id>)` is matched by its prefix.
pub static SERVER_OPTIONS: &[Keyword] = &[
    o("addr", 1, DONE),
    o("agent-addr", 1, DONE),
    o("agent-check", 0, DONE),
    o("agent-inter", 1, DONE),
    o("agent-port", 1, DONE),
    o("agent-send", 1, DONE),
    o(
        "allow-0rtt",
        0,
        Support::Ignored("halo sends no TLS 1.3 early data to servers"),
    ),
    o("alpn", 1, DONE),
    o("backup", 0, DONE),
    o("ca-file", 1, DONE),
    o("cc", 1, P0),
    o("check", 0, DONE),
    o("check-alpn", 1, DONE),
    o("check-pool-conn-name", 1, P0),
    o("check-proto", 1, P0),
    o("check-reuse-pool", 0, P0),
    o("check-send-proxy", 0, DONE),
    o("check-sni", 1, DONE),
    o("check-sni-auto", 0, P0),
    o("check-ssl", 0, DONE),
    o("check-via-socks4", 0, P0),
    o("ciphers", 1, DONE),
    o("ciphersuites", 1, DONE),
    o(
        "client-sigalgs",
        1,
        Support::Ignored("rustls chooses the signature algorithms itself (the modern ones only)"),
    ),
    o("cookie", 1, DONE),
    o("crl-file", 1, DONE),
    o("crt", 1, DONE),
    o("curves", 1, DONE),
    o("disabled", 0, DONE),
    o("downinter", 1, DONE),
    o("enabled", 0, DONE),
    o("error-limit", 1, DONE),
    o("fall", 1, DONE),
    o("fastinter", 1, DONE),
    o("force-sslv3", 0, DONE),
    o("force-tlsv10", 0, DONE),
    o("force-tlsv11", 0, DONE),
    o("force-tlsv12", 0, DONE),
    o("force-tlsv13", 0, DONE),
    o("from", 1, DONE),
    o("guid", 1, P0),
    o("hash-key", 1, P0),
    o("healthcheck", 1, P0),
    o("id", 1, DONE),
    o("idle-ping", 1, P0),
    o("init-addr", 1, DONE),
    o("init-state", 1, DONE),
    o("inter", 1, DONE),
    o("ktls", 1, P0),
    o("log-bufsize", 1, P0),
    o("log-proto", 1, DONE),
    o("max-reuse", 1, DONE),
    o("maxconn", 1, DONE),
    o("maxqueue", 1, DONE),
    o("minconn", 1, DONE),
    // `default-server name <name>`: names a default-server instance
    o("name", 1, P0),
    o("namespace", 1, P0),
    o("no-agent-check", 0, DONE),
    o("no-backup", 0, DONE),
    o("no-check", 0, DONE),
    o("no-check-reuse-pool", 0, P0),
    o("no-check-sni-auto", 0, P0),
    o("no-check-ssl", 0, DONE),
    o(
        "no-renegotiate",
        0,
        Support::Ignored("rustls never renegotiates"),
    ),
    o("no-send-proxy", 0, DONE),
    o("no-send-proxy-v2", 0, DONE),
    o("no-send-proxy-v2-ssl", 0, DONE),
    o("no-send-proxy-v2-ssl-cn", 0, DONE),
    o("no-sni-auto", 0, P0),
    o("no-ssl", 0, DONE),
    o("no-ssl-reuse", 0, DONE),
    o("no-sslv3", 0, DONE),
    o("no-tfo", 0, P0),
    o("no-tls-tickets", 0, DONE),
    o("no-tlsv10", 0, DONE),
    o("no-tlsv11", 0, DONE),
    o("no-tlsv12", 0, DONE),
    o("no-tlsv13", 0, DONE),
    o("no-verifyhost", 0, DONE),
    o("non-stick", 0, DONE),
    o(
        "npn",
        1,
        Support::Ignored("NPN is obsolete; halo's TLS library (rustls) negotiates with ALPN only"),
    ),
    o("observe", 1, DONE),
    o("on-error", 1, DONE),
    o("on-marked-down", 1, DONE),
    o("on-marked-up", 1, DONE),
    o("pool-conn-name", 1, DONE),
    o("pool-low-conn", 1, DONE),
    o("pool-max-conn", 1, DONE),
    o("pool-purge-delay", 1, DONE),
    o("port", 1, DONE),
    o("proto", 1, P0),
    o("proxy-v2-options", 1, P0),
    o("quic-cc-algo", 1, P0),
    o("redir", 1, DONE),
    o(
        "renegotiate",
        0,
        Support::Ignored("rustls never renegotiates (TLS 1.2 renegotiation is refused)"),
    ),
    o("resolve-net", 1, DONE),
    o("resolve-opts", 1, DONE),
    o("resolve-prefer", 1, DONE),
    o("resolvers", 1, DONE),
    o("rise", 1, DONE),
    o("send-proxy", 0, DONE),
    o("send-proxy-v2", 0, DONE),
    o("send-proxy-v2-ssl", 0, DONE),
    o("send-proxy-v2-ssl-cn", 0, DONE),
    o("set-proxy-v2-tlv-fmt", 1, P0),
    o("shard", 1, DONE),
    o(
        "sigalgs",
        1,
        Support::Ignored("rustls chooses the signature algorithms itself (the modern ones only)"),
    ),
    o("slowstart", 1, DONE),
    o("sni", 1, DONE),
    o("sni-auto", 0, P0),
    o("socks4", 1, P0),
    // `source <addr>` may be followed by `usesrc <x>` and `interface <x>`: see option_arity
    o("source", 1, DONE),
    o("ssl", 0, DONE),
    o("ssl-max-ver", 1, DONE),
    o("ssl-min-ver", 1, DONE),
    o("ssl-reuse", 0, DONE),
    o("stick", 0, DONE),
    o("strict-maxconn", 0, P0),
    o("tcp-md5sig", 1, P0),
    o("tcp-ut", 1, P0),
    o("tfo", 0, P0),
    o("tls-tickets", 0, DONE),
    o("track", 1, DONE),
    o("verify", 1, DONE),
    o("verifyhost", 1, DONE),
    o("weight", 1, DONE),
    o("ws", 1, DONE),
];

// ------------------------------------------------------ crt-store load options (12.7.1)

/// Section 12.7.1: parameters of a crt-store `load` line (also usable in crt-lists).
pub static LOAD_OPTIONS: &[Keyword] = &[
    o("acme", 1, P0),
    o("alias", 1, P0),
    o("bits", 1, P0),
    o("crt", 1, P0),
    o("curves", 1, P0),
    o("domains", 1, P0),
    o("generate-dummy", 1, P0),
    o("ips", 1, P0),
    o("issuer", 1, P0),
    o("jwt", 1, P0),
    o("key", 1, P0),
    o("keytype", 1, P0),
    o("ocsp", 1, P0),
    o("ocsp-update", 1, P0),
    o("sctl", 1, P0),
];

/// The preprocessor directives of section 2.4, valid on their own line anywhere.
pub const DIRECTIVES: &[&str] = &[
    ".if", ".elif", ".else", ".endif", ".notice", ".warning", ".alert", ".diag",
];

/// Legacy keywords halo implements itself instead of through their modern equivalent,
/// with what they do at start-up (see `effective_support`).
const LEGACY_RUNTIME: &[(&str, Support)] = &[
    ("monitor-net", DONE),
    // Their modern form ("acl + use_backend") is not one keyword: not built.
    ("reqsetbe", P0),
    ("reqisetbe", P0),
    ("grace", DONE),
    // An implicit stick table keyed on the cookie, learnt from the response.
    ("appsession", DONE),
    (
        "nbproc",
        Support::Ignored("halo runs a single multi-threaded process"),
    ),
    (
        "debug",
        Support::Ignored("debug mode is the -d command-line option"),
    ),
    (
        "stats bind-process",
        Support::Ignored("halo runs a single process"),
    ),
    (
        "bind-process",
        Support::Ignored("halo runs a single process"),
    ),
    ("process", Support::Ignored("halo runs a single process")),
    (
        "tune.chksize",
        Support::Ignored("health checks use tune.bufsize"),
    ),
];

// ------------------------------------------------------- HTTP actions (section 4.3)

/// An `http-request` / `http-response` action (the word after the keyword; `set-var(x)`
/// style actions are listed without their parenthesised argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpAction {
    pub name: &'static str,
    /// Usable in `http-request` rules.
    pub req: bool,
    /// Usable in `http-response` rules.
    pub res: bool,
    pub support: Support,
}

const fn act(name: &'static str, req: bool, res: bool, support: Support) -> HttpAction {
    HttpAction {
        name,
        req,
        res,
        support,
    }
}

/// The actions of the matrix of section 4.3 with an "HTTP Req" or "HTTP Res" tick.
pub static HTTP_ACTIONS: &[HttpAction] = &[
    act("add-acl", true, true, DONE),
    act("add-header", true, true, DONE),
    act("add-headers-bin", true, true, P0),
    act("allow", true, true, DONE),
    act("auth", true, false, DONE),
    act("cache-store", false, true, P0),
    act("cache-use", true, false, P0),
    act("capture", true, true, DONE),
    act("del-acl", true, true, DONE),
    act("del-header", true, true, DONE),
    act("del-headers-bin", true, true, P0),
    act("del-map", true, true, DONE),
    act("deny", true, true, DONE),
    act("disable-l7-retry", true, false, DONE),
    act("do-log", true, true, DONE),
    act("do-resolve", true, false, P0),
    act("early-hint", true, false, DONE),
    act("normalize-uri", true, false, DONE),
    act("pause", true, true, P0),
    act("redirect", true, true, DONE),
    act("reject", true, false, DONE),
    act("replace-header", true, true, DONE),
    act("replace-path", true, false, DONE),
    act("replace-pathq", true, false, DONE),
    act("replace-uri", true, false, DONE),
    act("replace-value", true, true, DONE),
    act("return", true, true, DONE),
    act("sc-add-gpc", true, true, DONE),
    act("sc-inc-gpc", true, true, DONE),
    act("sc-inc-gpc0", true, true, DONE),
    act("sc-inc-gpc1", true, true, DONE),
    act("sc-set-gpt", true, true, DONE),
    act("sc-set-gpt0", true, true, DONE),
    act("send-spoe-group", true, true, P0),
    act("set-bandwidth-limit", true, true, P0),
    act("set-bc-mark", true, false, P0),
    act("set-bc-tos", true, false, P0),
    act("set-dst", true, false, P0),
    act("set-dst-port", true, false, P0),
    act("set-fc-mark", true, true, P0),
    act("set-fc-tos", true, true, P0),
    act("set-header", true, true, DONE),
    act("set-headers-bin", true, true, P0),
    act("set-log-level", true, true, DONE),
    act("set-map", true, true, DONE),
    act("set-mark", true, true, P0),
    act("set-method", true, false, DONE),
    act("set-nice", true, true, P0),
    act("set-path", true, false, DONE),
    act("set-pathq", true, false, DONE),
    act("set-priority-class", true, false, DONE),
    act("set-priority-offset", true, false, DONE),
    act("set-query", true, false, DONE),
    act("set-retries", true, false, DONE),
    act("set-src", true, false, P0),
    act("set-src-port", true, false, P0),
    act("set-status", false, true, DONE),
    act("set-timeout", true, true, DONE),
    act("set-tos", true, true, P0),
    act("set-uri", true, false, DONE),
    act("set-var", true, true, DONE),
    act("set-var-fmt", true, true, DONE),
    act("silent-drop", true, true, P0),
    act("strict-mode", true, true, DONE),
    act("tarpit", true, false, DONE),
    act("track-sc0", true, true, DONE),
    act("track-sc1", true, true, DONE),
    act("track-sc2", true, true, DONE),
    act("unset-var", true, true, DONE),
    act("use-service", true, false, P0),
    act("wait-for-body", true, true, DONE),
    act("wait-for-handshake", true, false, DONE),
];

/// The rule sets of `tcp-request` / `tcp-response` (columns of the matrix of 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpRuleSet {
    Connection,
    Session,
    Content,
    Response,
}

/// A `tcp-request` / `tcp-response` action: the rule sets it is usable in (connection,
/// session, content, response) and what halo does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpAction {
    pub name: &'static str,
    pub sets: [bool; 4],
    pub support: Support,
}

const fn tact(name: &'static str, sets: [bool; 4], support: Support) -> TcpAction {
    TcpAction {
        name,
        sets,
        support,
    }
}

const ALL4: [bool; 4] = [true, true, true, true];
const REQ3: [bool; 4] = [true, true, true, false];

/// The actions of the matrix of section 4.3 with a "TCP" tick.
pub static TCP_ACTIONS: &[TcpAction] = &[
    tact("accept", ALL4, DONE),
    tact("attach-srv", [false, true, false, false], P0),
    tact("capture", [false, false, true, false], DONE),
    tact("close", [false, false, false, true], DONE),
    tact("do-log", ALL4, DONE),
    tact("do-resolve", [false, false, true, false], P0),
    tact("expect-netscaler-cip", [true, false, false, false], P0),
    tact("expect-proxy", [true, false, false, false], DONE),
    tact("reject", ALL4, DONE),
    tact("sc-add-gpc", ALL4, DONE),
    tact("sc-inc-gpc", ALL4, DONE),
    tact("sc-inc-gpc0", ALL4, DONE),
    tact("sc-inc-gpc1", ALL4, DONE),
    tact("sc-set-gpt", ALL4, DONE),
    tact("sc-set-gpt0", ALL4, DONE),
    tact("send-spoe-group", [false, false, true, true], P0),
    tact("set-bandwidth-limit", [false, false, true, true], P0),
    tact("set-bc-mark", [false, false, true, false], P0),
    tact("set-bc-tos", [false, false, true, false], P0),
    tact("set-dst", REQ3, DONE),
    tact("set-dst-port", REQ3, DONE),
    tact("set-fc-mark", ALL4, P0),
    tact("set-fc-tos", ALL4, P0),
    tact("set-log-level", [false, false, true, true], DONE),
    tact("set-mark", ALL4, P0),
    tact("set-nice", [false, false, true, true], P0),
    tact("set-priority-class", [false, false, true, false], DONE),
    tact("set-priority-offset", [false, false, true, false], DONE),
    tact("set-retries", [false, false, true, false], DONE),
    tact("set-src", REQ3, DONE),
    tact("set-src-port", REQ3, DONE),
    tact("set-tos", ALL4, P0),
    tact("set-var", ALL4, DONE),
    tact("set-var-fmt", ALL4, DONE),
    tact("silent-drop", ALL4, DONE),
    tact("switch-mode", [false, false, true, false], P0),
    tact("track-sc0", REQ3, DONE),
    tact("track-sc1", REQ3, DONE),
    tact("track-sc2", REQ3, DONE),
    tact("unset-var", ALL4, DONE),
    tact("use-service", [false, false, true, false], P0),
];

/// The TCP action named by the first word of a rule (`set-var(txn.x)` → `set-var`).
pub fn tcp_action(word: &str) -> Option<&'static TcpAction> {
    static LUA: TcpAction = tact("lua.*", ALL4, P0);
    if word.starts_with("lua.") {
        return Some(&LUA);
    }
    let base = track_sc_base(word.split('(').next().unwrap_or(word));
    TCP_ACTIONS.iter().find(|a| a.name == base)
}

/// `track-scN` for any N (checked against `tune.stick-counters` by the parser) is the
/// action `track-sc0`; other names as they are.
fn track_sc_base(base: &str) -> &str {
    match track_sc_number(base) {
        Some(_) => "track-sc0",
        None => base,
    }
}

/// N of an action word `track-scN`.
pub fn track_sc_number(word: &str) -> Option<usize> {
    let n = word.strip_prefix("track-sc")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

impl TcpAction {
    /// Whether the action may be used in rule set `set`.
    pub fn usable_in(&self, set: TcpRuleSet) -> bool {
        self.sets[set as usize]
    }
}

/// The TCP action closest to an unknown `word`.
pub fn suggest_tcp_action(word: &str) -> Option<&'static str> {
    let base = word.split('(').next().unwrap_or(word);
    closest(base, TCP_ACTIONS.iter().map(|a| a.name))
}

/// The actions of section 4.3 with an "HTTP Aft" tick: usable in `http-after-response`.
pub static AFTER_RESPONSE_ACTIONS: &[&str] = &[
    "add-header",
    "add-headers-bin",
    "allow",
    "capture",
    "del-header",
    "del-headers-bin",
    "del-map",
    "do-log",
    "replace-header",
    "replace-value",
    "sc-add-gpc",
    "sc-inc-gpc",
    "sc-inc-gpc0",
    "sc-inc-gpc1",
    "sc-set-gpt",
    "sc-set-gpt0",
    "set-header",
    "set-headers-bin",
    "set-log-level",
    "set-map",
    "set-status",
    "set-var",
    "set-var-fmt",
    "strict-mode",
    "unset-var",
];

/// Whether the action `a` may follow `http-after-response`.
pub fn after_response_action(a: &HttpAction) -> bool {
    AFTER_RESPONSE_ACTIONS.contains(&a.name)
}

/// The HTTP action named by the first word of a rule (`set-var(txn.x)` → `set-var`;
/// Lua actions `lua.NAME` are valid and not implemented).
pub fn http_action(word: &str) -> Option<&'static HttpAction> {
    static LUA: HttpAction = act("lua.*", true, true, P0);
    if word.starts_with("lua.") {
        return Some(&LUA);
    }
    let base = track_sc_base(word.split('(').next().unwrap_or(word));
    HTTP_ACTIONS.iter().find(|a| a.name == base)
}

/// The HTTP action closest to an unknown `word`.
pub fn suggest_http_action(word: &str) -> Option<&'static str> {
    let base = word.split('(').next().unwrap_or(word);
    closest(base, HTTP_ACTIONS.iter().map(|a| a.name))
}

// ------------------------------------------------------------------------- lookups

fn tables() -> [&'static [Keyword]; 3] {
    [GLOBAL_KEYWORDS, PROXY_KEYWORDS, OTHER_KEYWORDS]
}

/// Every keyword accepted in `section`.
pub fn keywords(section: SectionKind) -> impl Iterator<Item = &'static Keyword> {
    tables()
        .into_iter()
        .flatten()
        .filter(move |k| k.sections.contains(&section))
}

/// Whether a keyword word matches a line word: equal, or the line word is the keyword
/// followed by parenthesised arguments (`set-var(txn.x)`, `rdp-cookie(name)`).
fn word_matches(part: &str, word: &str) -> bool {
    word == part
        || word
            .strip_prefix(part)
            .is_some_and(|rest| rest.starts_with('('))
}

/// How many of `words` the keyword `name` covers, if it matches them.
fn match_len(name: &str, words: &[String]) -> Option<usize> {
    let mut n = 0;
    for part in name.split(' ') {
        if !word_matches(part, words.get(n)?) {
            return None;
        }
        n += 1;
    }
    Some(n)
}

fn longest<'a>(
    candidates: impl Iterator<Item = &'a Keyword>,
    words: &[String],
) -> Option<(&'a Keyword, usize)> {
    candidates
        .filter_map(|k| match_len(k.name, words).map(|n| (k, n)))
        .max_by_key(|&(_, n)| n)
}

/// Finds the keyword starting a line (its words, `no`/`default` prefixes included when the
/// table lists the form, as for `no option X` and `no log`) in `section`, preferring the
/// longest multi-word keyword, and returns it with the number of words it covers.
///
/// In the four proxy sections, a keyword that only exists in another proxy section is
/// still returned so the caller can say where it belongs: check `kw.sections`.
pub fn lookup(section: SectionKind, words: &[String]) -> Option<(&'static Keyword, usize)> {
    longest(keywords(section), words).or_else(|| {
        if section.is_proxy() {
            longest(PROXY_KEYWORDS.iter(), words)
        } else {
            None
        }
    })
}

/// The option of section 5.1 named `name` (for `bind`, `stats socket`, peers and
/// log-forward `bind` lines).
pub fn bind_option(name: &str) -> Option<&'static Keyword> {
    find_option(BIND_OPTIONS, name)
}

/// The option of section 5.2 named `name` (for `server`, `default-server`,
/// `server-template`, peers and ring `server` lines).
/// HAProxy's words for a TLS option given without its argument (bind and server lines).
pub fn missing_argument(opt: &str) -> Option<&'static str> {
    Some(match opt {
        "alpn" | "check-alpn" => "missing the comma-delimited ALPN protocol suite",
        "check-sni" => "missing SNI",
        "sni" => "missing sni expression",
        "verifyhost" => "missing hostname to verify against",
        "ssl-min-ver" | "ssl-max-ver" => "missing the version",
        "ca-file" | "crl-file" => "missing CAfile path",
        "crt" => "missing certificate location",
        "ciphers" | "ciphersuites" => "missing cipher suite",
        "curves" => "missing curve suite",
        "verify" => "missing verify method",
        _ => return None,
    })
}

/// The server options that are TLS settings (kept with their arguments on the server,
/// interpreted by halo's TLS module).
pub fn is_server_tls_option(name: &str) -> bool {
    const TLS: &[&str] = &[
        "alpn",
        "ca-file",
        "check-alpn",
        "check-sni",
        "check-ssl",
        "ciphers",
        "ciphersuites",
        "crl-file",
        "crt",
        "curves",
        "force-sslv3",
        "force-tlsv10",
        "force-tlsv11",
        "force-tlsv12",
        "force-tlsv13",
        "no-check-ssl",
        "no-ssl",
        "no-ssl-reuse",
        "no-sslv3",
        "no-tls-tickets",
        "no-tlsv10",
        "no-tlsv11",
        "no-tlsv12",
        "no-tlsv13",
        "no-verifyhost",
        "sni",
        "ssl",
        "ssl-max-ver",
        "ssl-min-ver",
        "ssl-reuse",
        "tls-tickets",
        "verify",
        "verifyhost",
    ];
    TLS.contains(&name)
}

pub fn server_option(name: &str) -> Option<&'static Keyword> {
    find_option(SERVER_OPTIONS, name)
}

/// The parameter of a crt-store `load` line named `name` (section 12.7.1).
pub fn load_option(name: &str) -> Option<&'static Keyword> {
    find_option(LOAD_OPTIONS, name)
}

fn find_option(table: &'static [Keyword], name: &str) -> Option<&'static Keyword> {
    table.iter().find(|k| word_matches(k.name, name))
}

/// How many words after the option word belong to it, given the words that follow it:
/// `args`, except for `source <addr>`, which also takes any `usesrc <x>` and
/// `interface <x>` pairs right after the address. May exceed `following.len()` when
/// values are missing.
pub fn option_arity(kw: &Keyword, following: &[String]) -> usize {
    let mut n = kw.args as usize;
    if kw.name == "source" && n > 0 {
        while let Some(w) = following.get(n) {
            if w == "usesrc" || w == "interface" {
                n += 2;
            } else {
                break;
            }
        }
    }
    n
}

// ---------------------------------------------------------------------- suggestions

/// Optimal string alignment distance: Levenshtein plus adjacent transpositions, so that
/// "defualt" is one edit away from "default".
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = v;
        }
    }
    d[a.len() * width + b.len()]
}

/// The candidate closest to `word`, if close enough: at most a third of the length of the
/// shorter last word (at least 1, at most 4) edits away.
fn closest(word: &str, candidates: impl Iterator<Item = &'static str>) -> Option<&'static str> {
    let last_len = |s: &str| s.rsplit(' ').next().unwrap_or(s).chars().count();
    let mut best: Option<(usize, &'static str)> = None;
    for c in candidates {
        if c == word {
            continue;
        }
        let allowed = (last_len(word).min(last_len(c)) / 3).clamp(1, 4);
        let d = distance(word, c);
        if d <= allowed && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// The known keyword of `section` closest to an unknown `word`, HAProxy style ("did you
/// mean 'x' maybe ?"). `word` may hold several words separated by spaces ("timeout
/// clinet"); it is then compared with the first as many words of each keyword.
pub fn suggest(section: SectionKind, word: &str) -> Option<&'static str> {
    let parts: Vec<&str> = word.split_whitespace().collect();
    if parts.is_empty() {
        return None;
    }
    let wanted = parts.join(" ");
    let n = parts.len();
    let heads = keywords(section).filter_map(move |k| head(k.name, n));
    closest(&wanted, heads)
}

/// The first `n` words of `name`, if it has that many.
fn head(name: &'static str, n: usize) -> Option<&'static str> {
    let mut end = 0;
    for (i, part) in name.split(' ').enumerate() {
        end += part.len() + usize::from(i > 0);
        if i + 1 == n {
            return Some(&name[..end]);
        }
    }
    None
}

/// The bind option closest to an unknown `name`.
pub fn suggest_bind_option(name: &str) -> Option<&'static str> {
    closest(name, BIND_OPTIONS.iter().map(|k| k.name))
}

/// The server option closest to an unknown `name`.
pub fn suggest_server_option(name: &str) -> Option<&'static str> {
    closest(name, SERVER_OPTIONS.iter().map(|k| k.name))
}

// ------------------------------------------------------------------ legacy mapping

/// What a keyword amounts to when halo starts (never `Legacy`): a legacy keyword that
/// halo handles itself has its own entry (`monitor-net`, proxy-level `grace`, `nbproc`...);
/// any other one takes the support of the keyword its modern equivalent starts with
/// (`reqirep` → `http-request` → Planned(3)); a legacy keyword with no modern keyword in
/// the same section is Planned(0).
pub fn effective_support(section: SectionKind, kw: &Keyword) -> Support {
    resolve_legacy(kw, |words| lookup(section, words).map(|(k, _)| k))
}

/// `effective_support` for a bind or server option (`process` → ignored).
pub fn effective_option_support(kw: &Keyword) -> Support {
    resolve_legacy(kw, |words| {
        let w = words.first()?;
        bind_option(w).or_else(|| server_option(w))
    })
}

fn resolve_legacy(kw: &Keyword, find: impl Fn(&[String]) -> Option<&'static Keyword>) -> Support {
    let Support::Legacy(modern) = kw.support else {
        return kw.support;
    };
    if let Some(&(_, s)) = LEGACY_RUNTIME.iter().find(|(n, _)| *n == kw.name) {
        return s;
    }
    let words: Vec<String> = modern.split_whitespace().map(str::to_string).collect();
    match find(&words) {
        Some(m) if !matches!(m.support, Support::Legacy(_)) => m.support,
        _ => Support::Planned(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::path::PathBuf;

    fn w(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn found(section: SectionKind, line: &str) -> (&'static str, usize) {
        let (k, n) = lookup(section, &w(line)).unwrap_or_else(|| panic!("{line:?} unknown"));
        (k.name, n)
    }

    /// A folder of the shared project area, found from the crate when it exists.
    fn shared(rel: &str) -> Option<PathBuf> {
        let candidates = [
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared")
                .join(rel),
            PathBuf::from("/work/shared").join(rel),
        ];
        candidates.into_iter().find(|p| p.exists())
    }

    #[test]
    fn section_kinds_round_trip() {
        for kind in SectionKind::ALL {
            assert_eq!(SectionKind::from_keyword(kind.name()), Some(kind));
        }
        for word in ["global", "defaults", "frontend", "backend", "listen"] {
            assert!(SectionKind::from_keyword(word).is_some());
        }
        assert_eq!(SectionKind::from_keyword("option"), None);
        let proxies: Vec<_> = SectionKind::ALL
            .into_iter()
            .filter(|k| k.is_proxy())
            .collect();
        assert_eq!(proxies, [Defaults, Frontend, Listen, Backend]);
    }

    #[test]
    fn tables_are_well_formed() {
        for kind in SectionKind::ALL {
            let mut seen = HashSet::new();
            let mut count = 0;
            for k in keywords(kind) {
                assert!(seen.insert(k.name), "{} twice in {}", k.name, kind.name());
                assert_eq!(
                    k.name,
                    k.name.split_whitespace().collect::<Vec<_>>().join(" ")
                );
                assert!(SectionKind::from_keyword(k.name).is_none(), "{}", k.name);
                assert_eq!(k.args, 0);
                count += 1;
            }
            assert!(count > 0, "no keyword for {}", kind.name());
        }
        for table in [BIND_OPTIONS, SERVER_OPTIONS, LOAD_OPTIONS] {
            let mut seen = HashSet::new();
            for k in table {
                assert!(seen.insert(k.name), "option {} twice", k.name);
                assert!(k.sections.is_empty() && !k.name.contains(' '));
            }
        }
        for k in tables().into_iter().flatten() {
            assert!(!k.sections.is_empty(), "{} belongs nowhere", k.name);
        }
    }

    #[test]
    fn longest_keyword_wins() {
        assert_eq!(
            found(Backend, "option httpchk GET /"),
            ("option httpchk", 2)
        );
        assert_eq!(found(Frontend, "timeout client 5s"), ("timeout client", 2));
        assert_eq!(
            found(Frontend, "capture request header Host len 32"),
            ("capture request header", 3)
        );
        assert_eq!(
            found(Listen, "http-check expect status 200"),
            ("http-check expect", 2)
        );
        assert_eq!(
            found(Frontend, "tcp-request content accept if x"),
            ("tcp-request content", 2)
        );
        assert_eq!(
            found(Frontend, "tcp-request inspect-delay 5s"),
            ("tcp-request inspect-delay", 2)
        );
        assert_eq!(
            found(Listen, "no option httpclose"),
            ("no option httpclose", 3)
        );
        assert_eq!(found(Listen, "stats auth a:b"), ("stats auth", 2));
        assert_eq!(
            found(Backend, "default-server inter 1s"),
            ("default-server", 1)
        );
        assert_eq!(found(Backend, "stick on src"), ("stick on", 2));
        assert_eq!(
            found(Backend, "stick-table type ip size 1m"),
            ("stick-table", 1)
        );
        assert_eq!(found(Frontend, "log global"), ("log", 1));
        assert_eq!(found(Frontend, "no log"), ("no log", 2));
        assert_eq!(
            found(Backend, "http-check set-var(txn.x) str(a)"),
            ("http-check set-var", 2)
        );
        assert_eq!(
            found(Backend, "http-check set-var-fmt(txn.x) %[a]"),
            ("http-check set-var-fmt", 2)
        );
        assert_eq!(
            found(Backend, "persist rdp-cookie(mstshash)"),
            ("persist rdp-cookie", 2)
        );
        assert_eq!(
            found(Global, "stats socket /run/a.sock level admin"),
            ("stats socket", 2)
        );
        assert_eq!(
            found(Global, "tune.ssl.default-dh-param 2048"),
            ("tune.ssl.default-dh-param", 1)
        );
        assert_eq!(found(Resolvers, "timeout retry 1s"), ("timeout retry", 2));
        assert_eq!(
            found(Healthcheck, "tcp-check send PING"),
            ("tcp-check send", 2)
        );
        assert_eq!(found(LogForward, "option host replace"), ("option host", 2));
        assert!(lookup(Frontend, &w("timeout")).is_none());
        assert!(lookup(Frontend, &w("option nonsense")).is_none());
        assert!(lookup(Global, &w("bind :80")).is_none());
    }

    #[test]
    fn proxy_keywords_of_other_proxy_sections_are_found() {
        let (k, _) = lookup(Backend, &w("bind :80")).unwrap();
        assert_eq!(k.name, "bind");
        assert!(!k.sections.contains(&Backend));
        let (k, _) = lookup(Frontend, &w("timeout server 5s")).unwrap();
        assert!(!k.sections.contains(&Frontend));
        let (k, _) = lookup(Peers, &w("bind :1024")).unwrap();
        assert_eq!(k.sections, &[Peers]);
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest(Frontend, "defualt_backend"),
            Some("default_backend")
        );
        assert_eq!(
            suggest(Frontend, "default-backend"),
            Some("default_backend")
        );
        assert_eq!(suggest(Backend, "sever"), Some("server"));
        assert_eq!(suggest(Global, "maxcon"), Some("maxconn"));
        assert_eq!(suggest(Global, "nbthreads"), Some("nbthread"));
        assert_eq!(suggest(Frontend, "optoin"), Some("option"));
        assert_eq!(suggest(Frontend, "timeout clinet"), Some("timeout client"));
        assert_eq!(suggest(Backend, "option httpchck"), Some("option httpchk"));
        assert_eq!(suggest(Frontend, "xyzzy"), None);
        assert_eq!(suggest(Frontend, ""), None);
        assert_eq!(suggest_bind_option("acept-proxy"), Some("accept-proxy"));
        assert_eq!(suggest_bind_option("zzzzzzzz"), None);
        assert_eq!(suggest_server_option("wieght"), Some("weight"));
        assert_eq!(suggest_server_option("chek"), Some("check"));
    }

    #[test]
    fn options_and_their_values() {
        let args = |name: &str| server_option(name).map(|k| k.args);
        for flag in [
            "check",
            "backup",
            "send-proxy",
            "ssl",
            "no-sslv3",
            "no-backup",
        ] {
            assert_eq!(args(flag), Some(0), "{flag}");
        }
        for valued in [
            "inter", "cookie", "weight", "maxconn", "source", "track", "port", "rise",
        ] {
            assert_eq!(args(valued), Some(1), "{valued}");
        }
        assert_eq!(
            server_option("set-proxy-v2-tlv-fmt(0x20)").map(|k| k.name),
            Some("set-proxy-v2-tlv-fmt")
        );
        assert_eq!(bind_option("accept-proxy").map(|k| k.args), Some(0));
        assert_eq!(bind_option("crt").map(|k| k.args), Some(1));
        assert_eq!(bind_option("name").map(|k| k.support), Some(Support::Done));
        assert_eq!(load_option("ocsp-update").map(|k| k.args), Some(1));
        let source = server_option("source").unwrap();
        assert_eq!(option_arity(source, &w("10.0.0.1 check")), 1);
        assert_eq!(option_arity(source, &w("0.0.0.0 usesrc clientip check")), 3);
        assert_eq!(
            option_arity(source, &w("0.0.0.0 usesrc client interface eth0")),
            5
        );
        assert_eq!(
            option_arity(server_option("check").unwrap(), &w("inter 1s")),
            0
        );
    }

    #[test]
    fn support_values() {
        let support = |s, line: &str| lookup(s, &w(line)).unwrap().0.support;
        assert_eq!(support(Listen, "balance roundrobin"), Support::Done);
        assert_eq!(support(Listen, "acl a src 1.2.3.4"), Support::Done);
        assert_eq!(support(Listen, "http-request deny"), Support::Done);
        assert_eq!(support(Global, "master-worker"), Support::Planned(2));
        assert_eq!(
            support(Listen, "contimeout 5000"),
            Support::Legacy("timeout connect")
        );
        assert_eq!(support(Global, "nbproc 2"), Support::Legacy("nbthread"));
        assert!(matches!(support(Global, "noepoll"), Support::Ignored(_)));
        let eff = |s, line: &str| effective_support(s, lookup(s, &w(line)).unwrap().0);
        assert_eq!(eff(Listen, "contimeout 5000"), Support::Done);
        assert_eq!(eff(Listen, "srvtimeout 5000"), Support::Done);
        assert_eq!(eff(Listen, "redispatch"), Support::Done);
        assert_eq!(eff(Listen, "monitor-net 10.0.0.0/8"), Support::Done);
        assert_eq!(eff(Listen, "grace 2000"), Support::Done);
        assert_eq!(eff(Backend, "reqirep ^a b"), Support::Done);
        assert_eq!(eff(Backend, "reqsetbe ^a b"), Support::Planned(0));
        assert_eq!(
            eff(Backend, "appsession JSESSIONID len 52 timeout 3h"),
            Support::Done
        );
        assert_eq!(eff(Backend, "option transparent"), Support::Planned(0));
        assert!(matches!(eff(Global, "nbproc 2"), Support::Ignored(_)));
        assert_eq!(eff(Program, "command /bin/true"), Support::Planned(0));
        assert_eq!(eff(Listen, "balance roundrobin"), Support::Done);
        let process = bind_option("process").unwrap();
        assert!(matches!(
            effective_option_support(process),
            Support::Ignored(_)
        ));
        for kind in SectionKind::ALL {
            for k in keywords(kind) {
                assert!(!matches!(effective_support(kind, k), Support::Legacy(_)));
            }
        }
    }

    /// Every line of the seed configurations is a known keyword of its section, and every
    /// bind/server option on them is known, walking values with `option_arity`.
    #[test]
    fn seed_configurations_are_covered() {
        let Some(dir) = shared("seed-configs") else {
            eprintln!("seed configurations not found: skipped");
            return;
        };
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "cfg"))
            .collect();
        files.sort();
        assert!(!files.is_empty());
        let mut lines_checked = 0;
        let mut options_seen = HashSet::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let mut section = None;
            for (no, line) in text.lines().enumerate() {
                let words = w(line);
                if words.is_empty() || words[0].starts_with('#') {
                    continue;
                }
                let at = format!("{}:{}", file.display(), no + 1);
                if let Some(kind) = SectionKind::from_keyword(&words[0]) {
                    section = Some(kind);
                    continue;
                }
                let section = section.unwrap_or_else(|| panic!("{at}: outside any section"));
                let (kw, n) = lookup(section, &words)
                    .unwrap_or_else(|| panic!("{at}: '{line}' unknown in {}", section.name()));
                // HAProxy only warns about a keyword in the wrong proxy type (seed 12 has
                // `option httplog` in a backend), so the section is not checked here.
                lines_checked += 1;
                let (table, first): (fn(&str) -> Option<&'static Keyword>, usize) = match kw.name {
                    "bind" | "stats socket" => (bind_option, n + 1),
                    "server" => (server_option, n + 2),
                    "default-server" => (server_option, n),
                    _ => continue,
                };
                let mut i = first;
                while i < words.len() && !words[i].starts_with('#') {
                    let opt = table(&words[i])
                        .unwrap_or_else(|| panic!("{at}: option '{}' unknown", words[i]));
                    options_seen.insert(opt.name);
                    i += 1 + option_arity(opt, &words[i + 1..]);
                }
                assert!(i <= words.len(), "{at}: missing option value");
            }
        }
        assert!(lines_checked > 300, "only {lines_checked} lines");
        for opt in [
            "check",
            "inter",
            "cookie",
            "maxconn",
            "weight",
            "backup",
            "source",
            "send-proxy",
            "track",
            "slowstart",
            "id",
            "port",
            "rise",
            "fall",
            "minconn",
            "name",
            "accept-proxy",
            "ssl",
            "crt",
        ] {
            assert!(options_seen.contains(opt), "seeds should use '{opt}'");
        }
    }

    /// The words naming a keyword on a manual entry line: the leading plain words, and a
    /// word with parenthesised arguments cut after its '('. None for a line of prose,
    /// whose plain words are not followed by an argument such as `<x>`, `[x]` or `{ x }`.
    fn entry_words(line: &str) -> Option<Vec<String>> {
        let mut out = Vec::new();
        for word in line.split_whitespace() {
            if let Some(p) = word.find('(') {
                out.push(word[..=p].to_string());
                break;
            }
            let plain = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
            if !word.chars().all(plain) {
                if !word.starts_with(['<', '[', '{', '/']) {
                    return None;
                }
                break;
            }
            if word.ends_with('.') {
                return None;
            }
            out.push(word.to_string());
        }
        Some(out)
    }

    /// The keyword entries of a part of the manual: lines at column 0 whose group is
    /// followed (after blank lines, if any) by an indented description.
    fn manual_entries(manual: &[&str], from: &str, to: &str) -> Vec<Vec<String>> {
        let start = manual
            .iter()
            .position(|l| *l == from)
            .unwrap_or_else(|| panic!("{from}"));
        let end = start
            + manual[start..]
                .iter()
                .position(|l| *l == to)
                .unwrap_or_else(|| panic!("{to}"));
        let is_entry =
            |l: &str| l.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
        let mut out = Vec::new();
        let mut i = start + 1;
        while i < end {
            if !is_entry(manual[i]) {
                i += 1;
                continue;
            }
            let group_start = i;
            while i < end && is_entry(manual[i]) {
                i += 1;
            }
            let mut next = i;
            while next < end && manual[next].is_empty() {
                next += 1;
            }
            if next < end && manual[next].starts_with("  ") {
                for line in &manual[group_start..i] {
                    match entry_words(line) {
                        Some(words) if !words.is_empty() => out.push(words),
                        _ => {}
                    }
                }
            }
        }
        out
    }

    fn known_in(section: SectionKind, words: &[String]) -> bool {
        if SectionKind::from_keyword(&words[0]).is_some() {
            return true;
        }
        if let Some((k, _)) = lookup(section, words) {
            return k.sections.contains(&section) || section.is_proxy();
        }
        // "timeout <event>": the entry documents a family of keywords.
        let prefix = format!("{} ", words.join(" "));
        keywords(section).any(|k| k.name.starts_with(&prefix))
    }

    /// Every keyword entry of the manual is in the tables, for every section type.
    #[test]
    fn manual_entries_are_covered() {
        let Some(path) = shared("ref/haproxy-configuration.txt") else {
            eprintln!("manual not found: skipped");
            return;
        };
        let text = std::fs::read_to_string(path).unwrap();
        let manual: Vec<&str> = text.lines().collect();
        let parts: &[(&str, &str, Option<SectionKind>)] = &[
            (
                "3.1. Process management and security",
                "4. Proxies",
                Some(Global),
            ),
            (
                "4.2. Alphabetically sorted keywords reference",
                "4.3. Actions keywords matrix",
                Some(Listen),
            ),
            ("5.3.2. The resolvers section", "6. Cache", Some(Resolvers)),
            ("6.2.1. Cache section", "6.2.2. Proxy section", Some(Cache)),
            (
                "8.3.5. Log profiles",
                "8.4. Timing events",
                Some(LogProfile),
            ),
            (
                "10.1.1. Fcgi-app section",
                "10.1.2. Proxy section",
                Some(FcgiApp),
            ),
            ("11.2. Peers declaration", "12. Other sections", Some(Peers)),
            ("12.1. Traces", "12.2. Userlists", Some(Traces)),
            ("12.2. Userlists", "12.3. Mailers", Some(Userlist)),
            ("12.3. Mailers", "12.4. HTTP-errors", Some(Mailers)),
            ("12.4. HTTP-errors", "12.5. Rings", Some(HttpErrors)),
            ("12.5. Rings", "12.6. Log forwarding", Some(Ring)),
            (
                "12.6. Log forwarding",
                "12.7. Certificate Storage",
                Some(LogForward),
            ),
            (
                "12.7. Certificate Storage",
                "12.7.1. Load options",
                Some(Crtstore),
            ),
            ("12.8. ACME", "12.9. Healthchecks", Some(Acme)),
            ("12.9. Healthchecks", "/*", Some(Healthcheck)),
            (
                "5.1. Bind options",
                "5.2. Server and default-server options",
                None,
            ),
            (
                "5.2. Server and default-server options",
                "5.3. Server IP address resolution using DNS",
                None,
            ),
            ("12.7.1. Load options", "12.8. ACME", None),
        ];
        let mut missing = Vec::new();
        let mut total = 0;
        for (i, &(from, to, section)) in parts.iter().enumerate() {
            for words in manual_entries(&manual, from, to) {
                total += 1;
                let ok = match section {
                    Some(s) => known_in(s, &words),
                    None => {
                        let find = [bind_option, server_option, load_option][i - (parts.len() - 3)];
                        find(&words[0]).is_some()
                    }
                };
                if !ok {
                    missing.push(format!("{from}: {}", words.join(" ")));
                }
            }
        }
        assert!(total > 850, "only {total} entries read");
        assert!(
            missing.is_empty(),
            "not in the tables:\n{}",
            missing.join("\n")
        );
    }

    /// The proxy keyword matrix of section 4.1 and the tables agree, column by column.
    #[test]
    fn proxy_matrix_is_followed() {
        let Some(path) = shared("ref/haproxy-configuration.txt") else {
            eprintln!("manual not found: skipped");
            return;
        };
        let text = std::fs::read_to_string(path).unwrap();
        let manual: Vec<&str> = text.lines().collect();
        let start = manual
            .iter()
            .position(|l| *l == "4.1. Proxy keywords matrix")
            .unwrap();
        let end = manual
            .iter()
            .position(|l| *l == "4.2. Alphabetically sorted keywords reference")
            .unwrap();
        // Where the matrix and the keyword's own entry disagree, the tables accept both.
        let widened = [("option http-drop-response-trailers", Frontend)];
        let mut rows = 0;
        for line in &manual[start..end] {
            let tokens: Vec<&str> = line
                .split_whitespace()
                .filter(|t| *t != "(!)" && *t != "(*)")
                .collect();
            if tokens.len() < 5 || !line.starts_with(|c: char| c.is_ascii_lowercase()) {
                continue;
            }
            let (name, cols) = tokens.split_at(tokens.len() - 4);
            if !cols.iter().all(|c| *c == "X" || *c == "-") {
                continue;
            }
            rows += 1;
            let name = name.join(" ");
            let words = w(&name);
            let kws: Vec<&Keyword> = match lookup(Listen, &words) {
                Some((k, n)) if n == words.len() && k.name == name => vec![k],
                _ => PROXY_KEYWORDS
                    .iter()
                    .filter(|k| k.name.starts_with(&format!("{name} ")))
                    .collect(),
            };
            assert!(!kws.is_empty(), "matrix keyword '{name}' missing");
            // A row naming a family ("compression") stands for any of its keywords.
            for (col, kind) in cols.iter().zip([Defaults, Frontend, Listen, Backend]) {
                let has = kws.iter().any(|k| k.sections.contains(&kind));
                if *col == "X" {
                    assert!(has, "'{name}' should be allowed in {}", kind.name());
                } else if !widened.contains(&(name.as_str(), kind)) {
                    assert!(!has, "'{name}' should not be allowed in {}", kind.name());
                }
            }
        }
        assert!(rows > 180, "only {rows} matrix rows read");
    }
}
