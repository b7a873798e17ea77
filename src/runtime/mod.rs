//! The process: command line, configuration load and check, file-descriptor limits,
//! binding, daemon mode and pid file, privileges, worker threads, accept loops with the
//! maxconn limits, signals (SIGUSR1 soft stop, SIGTERM/SIGINT stop, SIGTTOU/SIGTTIN pause
//! and resume), `-sf/-st` hand-over, and the stats sockets.

pub mod args;
pub mod control;
pub mod listener;
pub mod log;
pub mod rate;

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use halo_config::model::{Config, Mode};
use halo_config::reader::{EnvChange, ReadOptions};
use halo_config::{Diags, Severity};
use tokio::sync::{Notify, Semaphore};

use crate::compile::{Runtime, compile};
use crate::proxy::stream::{ConnInfo, run_tcp};
use listener::{Bound, BoundKind};

/// Feature names for `-vv` and `.if feature(...)`.
pub const FEATURES: &[&str] = &[
    "EPOLL",
    "THREAD",
    "LINUX_TPROXY",
    "TFO",
    "NS",
    "GETADDRINFO",
    "ACCEPT4",
    "CPU_AFFINITY",
    "REUSEPORT",
];

static FD_LIMIT: AtomicU32 = AtomicU32::new(0);

pub fn fd_limit() -> u32 {
    FD_LIMIT.load(Relaxed)
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn print_version(level: u8) {
    println!(
        "halo version {} {} - a load balancer that runs HAProxy configurations",
        crate::VERSION,
        crate::RELEASE_DATE
    );
    println!(
        "Runs HAProxy {} configurations.",
        halo_config::HAPROXY_COMPAT_VERSION
    );
    if level >= 2 {
        println!("Build options : rust, tokio multi-thread runtime");
        println!();
        let feats: Vec<String> = FEATURES.iter().map(|f| format!("+{f}")).collect();
        println!(
            "Feature list : {} -OPENSSL -LUA -PROMEX -QUIC -SLZ -ZLIB -PCRE -PCRE2 -SYSTEMD",
            feats.join(" ")
        );
        println!();
        println!("Default settings :");
        println!("  bufsize = 16384, maxrewrite = 1024, maxpollevents = 200");
        println!();
        println!(
            "Built with multi-threading support (MAX_TGROUPS=1, MAX_THREADS=4096, default=available CPUs)."
        );
        println!();
        println!("Available polling systems :");
        println!("      epoll : pref=300,  test result OK");
        println!("Total: 1 (1 usable), will use epoll.");
        println!();
        println!("Available multiplexer protocols :");
        println!("(protocols marked as <default> cannot be specified using 'proto' keyword)");
        println!("       none : mode=TCP  side=FE|BE  mux=PASS  flags=");
        println!();
        println!("Available services : none");
        println!();
        println!("Available filters : none");
    }
}

fn read_options(diag: bool) -> ReadOptions<'static> {
    ReadOptions {
        version: halo_config::HAPROXY_COMPAT_VERSION,
        features: FEATURES,
        diag_mode: diag,
    }
}

fn print_diags(d: &Diags, quiet: bool) {
    for item in &d.items {
        if quiet && item.severity != Severity::Alert {
            continue;
        }
        eprintln!("{item}");
    }
}

/// The program's entry point; returns the exit code.
pub fn main() -> i32 {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match args::parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("[ALERT] {e}");
            eprint!("{}", args::usage());
            return 1;
        }
    };
    if args.version > 0 {
        print_version(args.version);
        return 0;
    }
    if let Some(dir) = &args.chdir
        && let Err(e) = std::env::set_current_dir(dir)
    {
        eprintln!("[ALERT] cannot change to directory '{dir}': {e}");
        return 1;
    }
    if let Some(expr) = &args.check_condition {
        let env = |n: &str| std::env::var(n).ok();
        let ctx = halo_config::cond::CondCtx {
            version: halo_config::HAPROXY_COMPAT_VERSION,
            features: FEATURES,
            ssl_lib: "rustls",
            openssl_version: "0.0.0",
            env: &env,
        };
        let words: Vec<String> = expr.split_whitespace().map(String::from).collect();
        return match halo_config::cond::eval_condition(&words, &ctx) {
            Ok(true) => 0,
            Ok(false) => 1,
            Err(e) => {
                eprintln!("[ALERT] failed to evaluate condition: {e}");
                2
            }
        };
    }
    if args.files.is_empty() {
        eprint!("{}", args::usage());
        return 1;
    }
    let opts = read_options(args.diag);
    let (cfg, mut diags) = halo_config::load(&args.files, &opts);
    let quiet = args.quiet || (cfg.global.quiet && !args.verbose);
    log::set_quiet(quiet);
    if args.check {
        // Rules, samples and log formats are compiled too (as HAProxy's -c does), without
        // starting anything; what is valid HAProxy but not built yet only counts as pending.
        let mut pending = cfg.pending.len();
        if !diags.has_alerts() {
            let mut ccfg = cfg.clone();
            ccfg.global.nbthread.get_or_insert(1);
            let maxconn = args.global_maxconn.or(cfg.global.maxconn).unwrap_or(1000);
            let mut cdiags = Diags::default();
            let _ = compile(&ccfg, maxconn, quiet, &mut cdiags);
            for d in cdiags.items {
                if d.severity == Severity::Alert && d.message.contains(halo_config::NOT_BUILT) {
                    pending += 1;
                } else {
                    diags.items.push(d);
                }
            }
        }
        print_diags(&diags, quiet);
        if diags.has_alerts() || (args.zero_warning && diags.warnings() > 0) {
            eprintln!("[ALERT] config : Fatal errors found in configuration.");
            return 1;
        }
        if pending > 0 && !quiet {
            eprintln!(
                "[NOTICE] config : {pending} keyword(s) of this configuration are not implemented by halo yet; starting it will be refused until they are (see README's feature table).",
            );
        }
        if !quiet {
            println!("Configuration file is valid");
        }
        return 0;
    }
    if args.master_worker || cfg.global.master_worker {
        diags.global_alert(
            "master-worker mode ('-W', '-Ws', 'master-worker') is not implemented by halo yet; run without it (halo reloads with '-sf').",
        );
    }
    if let Some(s) = &args.socket_from {
        diags.global_alert(format!(
            "'-x {s}': fetching listening sockets from an old process is not implemented by halo yet; use '-sf' (both processes bind with SO_REUSEPORT)."
        ));
    }
    halo_config::refuse_pending(&cfg, &mut diags);
    if args.zero_warning && diags.warnings() > 0 {
        diags.global_alert("warnings were emitted and '-dW' (zero-warning mode) is set.");
    }
    if diags.has_alerts() {
        print_diags(&diags, quiet);
        eprintln!("[ALERT] config : Fatal errors found in configuration.");
        return 1;
    }
    start(cfg, diags, args, quiet)
}

fn apply_env(changes: &[EnvChange]) {
    // SAFETY: called before any thread is started.
    for c in changes {
        match c {
            EnvChange::Set(k, v) => unsafe { std::env::set_var(k, v) },
            EnvChange::Unset(k) => unsafe { std::env::remove_var(k) },
            EnvChange::ResetExcept(keep) => {
                for (k, _) in std::env::vars_os() {
                    let ks = k.to_string_lossy().to_string();
                    if !keep.contains(&ks) {
                        unsafe { std::env::remove_var(&k) };
                    }
                }
            }
        }
    }
}

/// Raises the soft fd limit as far as allowed; returns the limit in force.
fn raise_fd_limit(want: Option<u64>) -> u64 {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 1024;
        }
        let target = want.unwrap_or(rl.rlim_max).min(rl.rlim_max);
        if target > rl.rlim_cur {
            rl.rlim_cur = target;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        }
    }
    rl.rlim_cur
}

fn write_pidfile(path: &str, pid: u32) -> Result<(), String> {
    std::fs::write(path, format!("{pid}\n"))
        .map_err(|e| format!("cannot create pidfile '{path}': {e}"))
}

fn start(mut cfg: Config, diags: Diags, args: args::Args, quiet: bool) -> i32 {
    print_diags(&diags, quiet);
    apply_env(&cfg.env_changes);
    // `-L` wins over `localpeer`; either names this process in the peers sections.
    if let Some(name) = &args.local_peer {
        cfg.global.localpeer = Some(name.clone());
    }
    let local_peer = cfg.global.localpeer.clone().unwrap_or_else(hostname);
    // SAFETY: no thread has been started yet.
    unsafe { std::env::set_var("HAPROXY_LOCALPEER", &local_peer) };
    // SAFETY: as above.
    unsafe { std::env::set_var("HAPROXY_CFGFILES", cfg.files.join(";")) };
    if let Some(n) = args.default_maxconn {
        // -N: the maxconn of proxies that do not set one.
        for p in cfg.proxies.iter_mut() {
            if p.settings.maxconn.is_none() {
                p.settings.maxconn = Some(n);
            }
        }
    }
    if let Some(mb) = args.mem_limit_mb {
        let bytes = mb.saturating_mul(1024 * 1024);
        let rl = libc::rlimit {
            rlim_cur: bytes,
            rlim_max: bytes,
        };
        // SAFETY: plain syscall on a local struct.
        unsafe { libc::setrlimit(libc::RLIMIT_DATA, &rl) };
    }
    // Worker threads: `nbthread`, by default one per CPU this process may use.
    let threads = cfg.global.nbthread.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    // File descriptors: two per proxied connection, after HAProxy's reserve (20, one per
    // listener, stats socket and health check, three per thread), so that the default
    // maxconn is HAProxy's for the same limit.
    let limit = raise_fd_limit(cfg.global.ulimit_n);
    FD_LIMIT.store(limit.min(u32::MAX as u64) as u32, Relaxed);
    let nlisteners: usize = cfg.proxies.iter().map(|p| p.binds.len()).sum();
    let nchecks: usize = cfg
        .proxies
        .iter()
        .map(|p| {
            p.servers
                .iter()
                .map(|s| usize::from(s.check) + usize::from(s.agent.enabled))
                .sum::<usize>()
        })
        .sum();
    let reserve = (20 + nlisteners + nchecks + cfg.global.stats_sockets.len() + 3 * threads) as u64;
    let fd_max_conn = (limit.saturating_sub(reserve) / 2).max(1);
    let wanted = args.global_maxconn.or(cfg.global.maxconn).map(u64::from);
    let maxconn = match wanted {
        Some(w) if w > fd_max_conn => {
            log::warning(
                &format!(
                    "[halo.main()] maxconn {w} needs about {} file descriptors but the limit is {limit}; using maxconn {fd_max_conn} instead (raise 'ulimit -n' or the hard limit to get more).",
                    w * 2 + reserve
                ),
                false,
            );
            fd_max_conn
        }
        Some(w) => w,
        None => fd_max_conn.min(100_000),
    } as u32;
    cfg.global.nbthread = Some(threads);
    let mut diags = Diags::default();
    let rt = compile(&cfg, maxconn, quiet, &mut diags);
    // Warnings found while compiling (unusable passwords…) are shown too.
    print_diags(&diags, quiet);
    if diags.has_alerts() {
        return 1;
    }
    let rt = Arc::new(rt);
    crate::proxy::conn::set_bufsize(cfg.global.tune_bufsize);
    let [g, p, rr, s, t] = cfg.global.tune_vars_max_size;
    crate::sample::vars::set_limits(g, p, rr, s, t);
    crate::pattern::set_cache_size(cfg.global.tune_pattern_cache_size);
    // Signals that arrive between binding and the handlers being ready must not kill the
    // process with their default action: block them until `signals` takes them.
    block_signals(true);
    // Bind everything before daemonizing or dropping privileges.
    let mut bound: Vec<Bound> = Vec::new();
    for (pi, px) in rt.proxies.iter().enumerate() {
        let Some(fe) = &px.frontend else { continue };
        for (bi, b) in fe.binds.iter().enumerate() {
            let backlog = cfg.proxies[pi]
                .settings
                .backlog
                .unwrap_or(fe.maxconn.clamp(1, 65535)) as i32;
            match listener::bind_all(pi, bi, b, backlog, !args.no_reuseport) {
                Ok(mut v) => bound.append(&mut v),
                Err(e) => {
                    log::alert(
                        &format!(
                            "Binding [{}] for {} {}: {e}",
                            b.loc,
                            px.kind.name(),
                            px.name
                        ),
                        quiet,
                    );
                    log::alert(
                        "[halo.main()] Some protocols failed to start their listeners! Exiting.",
                        quiet,
                    );
                    return 1;
                }
            }
        }
    }
    // Stats sockets: each with its level; a UNIX one gets its mode and owner (`user` and
    // `group` names resolved here, as HAProxy does while parsing).
    let mut cli_bound = Vec::new();
    for s in &cfg.global.stats_sockets {
        let mut uid = s.uid;
        let mut gid = s.gid;
        for (opt, name, id, lookup) in [
            (
                "user",
                &s.user,
                &mut uid,
                listener::user_id as fn(&str) -> Option<u32>,
            ),
            ("group", &s.group, &mut gid, listener::group_id),
        ] {
            let Some(name) = name else { continue };
            match lookup(name) {
                Some(v) => *id = Some(v),
                None => {
                    log::alert(
                        &format!(
                            "config : parsing [{}] : 'stats socket' : ''{opt}' : unknown {opt} name '{name}''",
                            s.loc
                        ),
                        quiet,
                    );
                    return 1;
                }
            }
        }
        let b = halo_config::model::Bind {
            mode: s.mode,
            uid,
            gid,
            ..halo_config::model::Bind::new(s.loc.clone(), vec![s.address.clone()])
        };
        match listener::bind_all(usize::MAX, 0, &b, 16, false) {
            Ok(v) => cli_bound.extend(v.into_iter().map(|x| (x, s.level))),
            Err(e) => {
                log::alert(&format!("Binding [{}] for stats socket: {e}", s.loc), quiet);
                return 1;
            }
        }
    }
    let daemon = (args.daemon || cfg.global.daemon) && !args.foreground;
    let pidfile = args.pidfile.clone().or(cfg.global.pidfile.clone());
    if daemon {
        // SAFETY: no thread has been started yet (the runtime starts below).
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            log::alert("[halo.main()] Cannot fork.", quiet);
            return 1;
        }
        if pid > 0 {
            if let Some(p) = &pidfile
                && let Err(e) = write_pidfile(p, pid as u32)
            {
                log::alert(&e, quiet);
                return 1;
            }
            return 0;
        }
        // SAFETY: in the child, detach from the terminal and the parent's session.
        unsafe {
            libc::setsid();
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            if null >= 0 {
                libc::dup2(null, 0);
                libc::dup2(null, 1);
                libc::dup2(null, 2);
            }
        }
    } else if let Some(p) = &pidfile
        && let Err(e) = write_pidfile(p, std::process::id())
    {
        log::alert(&e, quiet);
        return 1;
    }
    if let Err(e) = drop_privileges(&cfg) {
        log::alert(&e, quiet);
        return 1;
    }
    // `usesrc` binds server connections to addresses this host does not own: without the
    // right (CAP_NET_ADMIN, after any `user`/`uid` change), say so now rather than fail
    // every connection later.
    let transparent = cfg.proxies.iter().find_map(|p| {
        p.settings
            .source
            .iter()
            .chain(p.servers.iter().filter_map(|s| s.source.as_ref()))
            .find(|s| s.usesrc.is_some())
            .map(|_| p)
    });
    if let Some(p) = transparent
        && let Err(e) = crate::proxy::connect::transparent_allowed()
    {
        log::alert(
            &format!(
                "{} '{}' : 'usesrc' (full transparent proxying) needs CAP_NET_ADMIN, which this process does not have ({e}): run it as root or grant it cap_net_admin.",
                p.kind.name(),
                p.name
            ),
            quiet,
        );
        return 1;
    }
    let threads = cfg.global.nbthread.unwrap_or(1);
    let tokio_rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .on_thread_start(control::on_thread_start)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            log::alert(&format!("cannot start worker threads: {e}"), quiet);
            return 1;
        }
    };
    let code = tokio_rt.block_on(serve(rt, bound, cli_bound, args, cfg));
    tokio_rt.shutdown_timeout(Duration::from_millis(100));
    code
}

/// Blocks or unblocks, on the calling thread, the signals the process handles.
fn block_signals(block: bool) {
    // SAFETY: plain signal-mask manipulation with a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [
            libc::SIGUSR1,
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGTTOU,
            libc::SIGTTIN,
        ] {
            libc::sigaddset(&mut set, s);
        }
        let how = if block {
            libc::SIG_BLOCK
        } else {
            libc::SIG_UNBLOCK
        };
        libc::pthread_sigmask(how, &set, std::ptr::null_mut());
    }
}

fn drop_privileges(cfg: &Config) -> Result<(), String> {
    let g = &cfg.global;
    if let Some(dir) = &g.chroot {
        let c = std::ffi::CString::new(dir.as_str()).map_err(|_| "bad chroot path".to_string())?;
        // SAFETY: plain syscalls with a valid C string.
        unsafe {
            if libc::chroot(c.as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
                return Err(format!(
                    "[halo.main()] Cannot chroot({dir}): {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
    }
    let mut gid = g.gid;
    let mut uid = g.uid;
    if let Some(name) = &g.group {
        let c = std::ffi::CString::new(name.as_str()).map_err(|_| "bad group".to_string())?;
        // SAFETY: getgrnam returns a pointer to static storage or null.
        let gr = unsafe { libc::getgrnam(c.as_ptr()) };
        if gr.is_null() {
            return Err(format!("[halo.main()] unknown group '{name}'."));
        }
        gid = Some(unsafe { (*gr).gr_gid });
    }
    if let Some(name) = &g.user {
        let c = std::ffi::CString::new(name.as_str()).map_err(|_| "bad user".to_string())?;
        // SAFETY: getpwnam returns a pointer to static storage or null.
        let pw = unsafe { libc::getpwnam(c.as_ptr()) };
        if pw.is_null() {
            return Err(format!("[halo.main()] unknown user '{name}'."));
        }
        uid = Some(unsafe { (*pw).pw_uid });
    }
    // SAFETY: plain syscalls.
    unsafe {
        if let Some(gid) = gid
            && (libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(gid) != 0)
        {
            return Err(format!("[halo.main()] Cannot set gid {gid}."));
        }
        if let Some(uid) = uid
            && libc::setuid(uid) != 0
        {
            return Err(format!("[halo.main()] Cannot set uid {uid}."));
        }
    }
    Ok(())
}

/// Shared control state of the accept loops.
struct Control {
    paused: AtomicBool,
    stopping: AtomicBool,
    changed: Notify,
    sessions: AtomicU32,
    session_ended: Notify,
}

struct SessionGuard(Arc<Control>, Arc<Runtime>);

/// What a session releases when it ends, however it ends: its frontend count, its
/// maxconn permits, its place among the live sessions.
struct SessionEnd {
    rt: Arc<Runtime>,
    px: usize,
    bind: usize,
    _permits: Permits,
    _guard: SessionGuard,
}

/// The slots a connection holds: process and frontend `maxconn`, the bind line's
/// `maxconn`, `maxsslconn` on `ssl` bind lines (with the count of open TLS connections).
struct Permits {
    _global: control::Slot,
    _frontend: control::Slot,
    _bind: Option<tokio::sync::OwnedSemaphorePermit>,
    _ssl: Option<tokio::sync::OwnedSemaphorePermit>,
    _tls: Option<TlsCount>,
}

/// One open TLS connection in `show info`'s `CurrSslConns`.
struct TlsCount(Arc<control::Controls>);

impl TlsCount {
    fn new(c: &Arc<control::Controls>) -> TlsCount {
        c.ssl_cur.fetch_add(1, Relaxed);
        c.ssl_cum.fetch_add(1, Relaxed);
        TlsCount(c.clone())
    }
}

impl Drop for TlsCount {
    fn drop(&mut self) {
        self.0.ssl_cur.fetch_sub(1, Relaxed);
    }
}

impl Drop for SessionEnd {
    fn drop(&mut self) {
        if let Some(fe) = &self.rt.proxies[self.px].frontend {
            fe.counters.session_end();
            if let Some(l) = fe.listener(self.bind) {
                l.session_end();
            }
        }
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.sessions.fetch_sub(1, Relaxed);
        self.1.cur_conns.fetch_sub(1, Relaxed);
        self.0.session_ended.notify_waiters();
    }
}

async fn serve(
    rt: Arc<Runtime>,
    bound: Vec<Bound>,
    cli_bound: Vec<(Bound, halo_config::model::CliLevel)>,
    args: args::Args,
    cfg: Config,
) -> i32 {
    let ctl = Arc::new(Control {
        paused: AtomicBool::new(false),
        stopping: AtomicBool::new(false),
        changed: Notify::new(),
        sessions: AtomicU32::new(0),
        session_ended: Notify::new(),
    });
    // What the runtime API changes (maxconn, frontends' state) and reads.
    let mut per_proxy = vec![0u32; rt.proxies.len()];
    for b in &bound {
        if let Some(n) = per_proxy.get_mut(b.proxy) {
            *n += 1;
        }
    }
    let threads = rt.global.nbthread.unwrap_or(1).max(1);
    let controls = control::install(Arc::new(control::Controls {
        global: control::Limit::new(rt.maxconn),
        hard_maxconn: rt.maxconn,
        frontends: rt
            .proxies
            .iter()
            .zip(&per_proxy)
            .map(|(p, n)| {
                p.frontend
                    .as_ref()
                    .map(|f| control::Controls::new_frontend(f.maxconn, *n))
            })
            .collect(),
        listeners: AtomicU32::new((bound.len() + cli_bound.len()) as u32),
        memmax_mb: args.mem_limit_mb.unwrap_or(0),
        accepted: (0..threads).map(|_| AtomicU64::new(0)).collect(),
        ssl_cur: AtomicU64::new(0),
        ssl_cum: AtomicU64::new(0),
        idle_pct: AtomicU32::new(100),
        bytes_out_rate: AtomicU64::new(0),
    }));
    // `maxsslconn`: one count for every `ssl` bind line.
    let ssl_sem = rt
        .global
        .maxsslconn
        .map(|n| Arc::new(Semaphore::new(n.max(1) as usize)));
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(control::sample_loop(
        rt.clone(),
        controls.clone(),
    )));
    for (loop_id, b) in bound.into_iter().enumerate() {
        let Some(fe_ctl) = controls.frontend(b.proxy).cloned() else {
            continue;
        };
        let bind_cfg = &rt.proxies[b.proxy]
            .frontend
            .as_ref()
            .map(|f| f.binds[b.bind].clone());
        let Some(bind_cfg) = bind_cfg.clone() else {
            continue;
        };
        let bind_sem = bind_cfg
            .maxconn
            .map(|m| Arc::new(Semaphore::new(m.max(1) as usize)));
        let rt2 = rt.clone();
        let ctl2 = ctl.clone();
        let controls2 = controls.clone();
        let accept_proxy = bind_cfg.accept_proxy;
        let px = b.proxy;
        let tls = rt.proxies[px]
            .frontend
            .as_ref()
            .and_then(|f| f.bind_tls.get(b.bind).cloned().flatten());
        let ssl_sem = ssl_sem.clone();
        let rebind = b
            .addr
            .map(|a| (a, bind_cfg.clone(), b.backlog, !args.no_reuseport));
        tasks.push(tokio::spawn(async move {
            accept_loop(
                rt2,
                ctl2,
                b.kind,
                rebind,
                px,
                accept_proxy,
                tls,
                ssl_sem,
                FeCtx {
                    controls: controls2,
                    fe: fe_ctl,
                    id: loop_id,
                    backlog: b.backlog,
                    bind: b.bind,
                },
                bind_sem,
            )
            .await;
        }));
    }
    for (b, level) in cli_bound {
        let rt2 = rt.clone();
        let timeout = cfg.global.stats_timeout;
        tasks.push(tokio::spawn(async move {
            cli_loop(rt2, b.kind, level, timeout).await;
        }));
    }
    let check_settings = crate::server::check::CheckSettings {
        spread_pct: cfg.global.spread_checks,
        max_spread: cfg.global.max_spread_checks,
        running: (cfg.global.max_checks_per_thread > 0).then(|| {
            let threads = cfg.global.nbthread.unwrap_or(1).max(1);
            Arc::new(tokio::sync::Semaphore::new(
                cfg.global.max_checks_per_thread as usize * threads,
            ))
        }),
    };
    let _ = rt.check_settings.set(check_settings.clone());
    for px in &rt.proxies {
        if let Some(be) = &px.backend {
            crate::server::check::spawn_checks(be, &check_settings, rt.quiet);
            crate::server::resolve::spawn_resolvers(
                be,
                &cfg.resolvers,
                cfg.global.dns_accept,
                rt.quiet,
            );
        }
    }
    crate::server::idle::set_process_limit(
        rt.maxconn as u64,
        rt.global.tune_pool_low_fd_ratio,
        rt.global.tune_pool_high_fd_ratio,
    );
    if rt.proxies.iter().any(|p| {
        p.backend
            .as_ref()
            .is_some_and(|b| b.settings.mode == Mode::Http)
    }) {
        tasks.push(tokio::spawn(purge_idle_loop(rt.clone())));
    }
    // Peers: listen and connect before the old process is told to go, so that it can teach
    // us its tables.
    let reloading = !args.finish_pids.is_empty() || !args.terminate_pids.is_empty();
    for p in &rt.peers {
        p.start(reloading, rt.quiet);
    }
    // Rings send to their servers; log-forward sections listen.
    for r in &rt.rings {
        r.start();
    }
    for f in &rt.forwards {
        if let Err(e) = f.start() {
            log::alert(&e, false);
            return 1;
        }
    }
    // Hand-over: the old processes finish (-sf) or terminate (-st) once we listen.
    for pid in &args.finish_pids {
        // SAFETY: sending a signal.
        unsafe { libc::kill(*pid, libc::SIGUSR1) };
    }
    for pid in &args.terminate_pids {
        // SAFETY: sending a signal.
        unsafe { libc::kill(*pid, libc::SIGTERM) };
    }
    signals(rt, ctl, &cfg).await
}

#[allow(clippy::too_many_arguments)]
async fn accept_loop(
    rt: Arc<Runtime>,
    ctl: Arc<Control>,
    kind: BoundKind,
    rebind: Option<(std::net::SocketAddr, halo_config::model::Bind, i32, bool)>,
    px: usize,
    accept_proxy: bool,
    tls: Option<Arc<crate::tls::bind::BindTls>>,
    ssl_sem: Option<Arc<Semaphore>>,
    fcx: FeCtx,
    bind_sem: Option<Arc<Semaphore>>,
) {
    enum L {
        Closed,
        Tcp(tokio::net::TcpListener),
        Unix(tokio::net::UnixListener),
        Pair(tokio::net::UnixStream),
    }
    let mut l = match kind {
        BoundKind::Tcp(l) => match tokio::net::TcpListener::from_std(l) {
            Ok(l) => L::Tcp(l),
            Err(_) => return,
        },
        BoundKind::Unix(l, _) => match tokio::net::UnixListener::from_std(l) {
            Ok(l) => L::Unix(l),
            Err(_) => return,
        },
        BoundKind::Sockpair(s) => match tokio::net::UnixStream::from_std(s) {
            Ok(a) => L::Pair(a),
            Err(_) => return,
        },
    };
    let needs_dst = rt.proxies[px]
        .frontend
        .as_ref()
        .map(|f| f.needs_dst)
        .unwrap_or(true);
    let listen_addr = match &l {
        L::Tcp(t) => t.local_addr().ok(),
        _ => None,
    };
    // The runtime API pauses and resumes the TCP socket it is given (`disable|enable
    // frontend`); it is taken back before the socket closes (declared after `l`, the
    // guard drops first).
    let Some(fe_state) = rt.proxies[px].frontend.as_ref().map(|f| &f.state) else {
        return;
    };
    let register = |l: &L| match l {
        L::Tcp(t) => fcx.fe.register(fcx.id, t.as_raw_fd(), fe_state),
        _ => false,
    };
    // A TCP socket shut down by a pause must listen again, and the reactor forget it first
    // (it keeps seeing a socket once shut down as closed).
    let mut stale = register(&l);
    let mut pauses = fcx.fe.pauses();
    let _registered = Unregister(&fcx.fe, fcx.id);
    loop {
        if ctl.stopping.load(Relaxed) {
            return;
        }
        let state = fe_state.load(Relaxed);
        if state == control::FE_STOPPED {
            return;
        }
        if ctl.paused.load(Relaxed) {
            // Pause (SIGTTOU): a TCP listener is closed so that another process can take
            // the port, and bound again on resume (SIGTTIN); inherited and UNIX sockets
            // just stop being accepted from.
            let kept = if rebind.is_some() {
                fcx.fe.unregister(fcx.id);
                drop(l);
                None
            } else {
                Some(l)
            };
            loop {
                let n = ctl.changed.notified();
                if !ctl.paused.load(Relaxed) || ctl.stopping.load(Relaxed) {
                    break;
                }
                n.await;
            }
            if ctl.stopping.load(Relaxed) {
                return;
            }
            l = match (kept, &rebind) {
                (Some(k), _) => k,
                (None, Some((addr, b, backlog, reuseport))) => {
                    let mut tries = 0;
                    loop {
                        match listener::bind_tcp(*addr, b, *backlog, *reuseport) {
                            Ok(std_l) => match tokio::net::TcpListener::from_std(std_l) {
                                Ok(t) => break L::Tcp(t),
                                Err(_) => return,
                            },
                            Err(e) => {
                                tries += 1;
                                if tries == 1 || tries % 50 == 0 {
                                    log::alert(
                                        &format!("cannot resume listener [{addr}]: {e}; retrying."),
                                        rt.quiet,
                                    );
                                }
                                tokio::time::sleep(Duration::from_millis(100)).await;
                                if ctl.stopping.load(Relaxed) || ctl.paused.load(Relaxed) {
                                    break L::Closed;
                                }
                            }
                        }
                    }
                }
                (None, None) => return,
            };
            stale |= register(&l);
            continue;
        }
        if state == control::FE_PAUSED {
            // `disable frontend`: nothing is accepted until `enable frontend` (the TCP
            // socket refuses connections meanwhile).
            let fe_changed = fcx.fe.changed.notified();
            let changed = ctl.changed.notified();
            if fe_state.load(Relaxed) == control::FE_PAUSED
                && !ctl.paused.load(Relaxed)
                && !ctl.stopping.load(Relaxed)
            {
                tokio::select! {
                    _ = fe_changed => {}
                    _ = changed => {}
                }
            }
            continue;
        }
        let now_pauses = fcx.fe.pauses();
        if stale || now_pauses != pauses {
            pauses = now_pauses;
            if let L::Tcp(t) = std::mem::replace(&mut l, L::Closed) {
                let Ok(std_l) = t.into_std() else { return };
                stale = !fcx.fe.relisten(std_l.as_raw_fd(), fcx.backlog, fe_state);
                l = match tokio::net::TcpListener::from_std(std_l) {
                    Ok(t) => L::Tcp(t),
                    Err(_) => return,
                };
                if stale {
                    if fe_state.load(Relaxed) == control::FE_READY {
                        log::alert(
                            &format!(
                                "cannot resume listener [{}]; retrying.",
                                listen_addr.map(|a| a.to_string()).unwrap_or_default()
                            ),
                            rt.quiet,
                        );
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            } else {
                stale = false;
            }
        }
        // A slot under the process's and the frontend's `maxconn` (both changeable at run
        // time); a change of the frontend's state stops the wait.
        let fe_changed = fcx.fe.changed.notified();
        let slots = async {
            let g = fcx.controls.global.acquire().await?;
            let f = fcx.fe.limit.acquire().await?;
            Some((g, f))
        };
        let (gp, fp) = tokio::select! {
            s = slots => match s {
                Some(s) => s,
                None => return,
            },
            _ = fe_changed => continue,
        };
        let bp = match &bind_sem {
            Some(s) => match s.clone().acquire_owned().await {
                Ok(p) => Some(p),
                Err(_) => return,
            },
            None => None,
        };
        let sp = match (&tls, &ssl_sem) {
            (Some(_), Some(s)) => match s.clone().acquire_owned().await {
                Ok(p) => Some(p),
                Err(_) => return,
            },
            _ => None,
        };
        // `maxconnrate`, `maxsessrate`, `rate-limit sessions`: no accept while a rate is at
        // its limit. (halo counts a session at accept, HAProxy after `tcp-request
        // connection` rules: connections those rules reject count here too.)
        let fe = rt.proxies[px].frontend.as_ref();
        while let Some(w) = [
            rt.conn_rate.wait(),
            rt.sess_rate.wait(),
            fe.and_then(|f| f.sess_rate.wait()),
            tls.as_ref().and_then(|_| rt.ssl_rate.wait()),
        ]
        .into_iter()
        .flatten()
        .max()
        {
            let changed = ctl.changed.notified();
            tokio::select! {
                _ = tokio::time::sleep(w) => {}
                _ = changed => {}
            }
            if ctl.stopping.load(Relaxed) || ctl.paused.load(Relaxed) {
                break;
            }
        }
        if ctl.paused.load(Relaxed) {
            continue;
        }
        let changed = ctl.changed.notified();
        let fe_changed = fcx.fe.changed.notified();
        if fe_state.load(Relaxed) != control::FE_READY {
            continue;
        }
        let accepted = match &l {
            L::Closed => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            L::Tcp(l) => tokio::select! {
                r = l.accept() => r.map(|(s, peer)| (Some(s), None, Some(peer))),
                _ = changed => continue,
                _ = fe_changed => continue,
            },
            L::Unix(l) => tokio::select! {
                r = l.accept() => r.map(|(s, _)| (None, Some(s), None)),
                _ = changed => continue,
                _ = fe_changed => continue,
            },
            L::Pair(a) => tokio::select! {
                r = recv_passed(a) => match r {
                    Some(x) => Ok(x),
                    None => return,
                },
                _ = changed => continue,
                _ = fe_changed => continue,
            },
        };
        let (tcp, unix, peer) = match accepted {
            Ok(x) => x,
            Err(_) => {
                // EMFILE and friends: back off a little instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        rt.conn_rate.hit();
        rt.sess_rate.hit();
        fcx.controls.note_accept();
        if tls.is_some() {
            rt.ssl_rate.hit();
        }
        let permits = Permits {
            _global: gp,
            _frontend: fp,
            _bind: bp,
            _ssl: sp,
            _tls: tls.as_ref().map(|_| TlsCount::new(&fcx.controls)),
        };
        if let Some(f) = &rt.proxies[px].frontend {
            f.sess_rate.hit();
        }
        ctl.sessions.fetch_add(1, Relaxed);
        rt.cur_conns.fetch_add(1, Relaxed);
        rt.cum_conns.fetch_add(1, Relaxed);
        let guard = SessionGuard(ctl.clone(), rt.clone());
        let rt2 = rt.clone();
        let tls = tls.clone();
        if let Some(fe) = &rt.proxies[px].frontend {
            fe.counters.session_start(crate::stats::now_sec());
            if let Some(l) = fe.listener(fcx.bind) {
                l.session_start(crate::stats::now_sec());
            }
        }
        match (tcp, unix) {
            (Some(s), _) => {
                let _ = s.set_nodelay(true);
                let dst = if needs_dst {
                    s.local_addr().ok()
                } else {
                    listen_addr
                };
                let src = peer.or_else(|| s.peer_addr().ok());
                let (Some(src), Some(dst)) = (src, dst) else {
                    continue;
                };
                let http = rt2.proxies[px]
                    .frontend
                    .as_ref()
                    .map(|f| f.mode == halo_config::model::Mode::Http)
                    .unwrap_or(false);
                let end = SessionEnd {
                    rt: rt2.clone(),
                    px,
                    bind: fcx.bind,
                    _permits: permits,
                    _guard: guard,
                };
                let info = ConnInfo {
                    src,
                    dst,
                    hdr_src: None,
                    ov: Default::default(),
                    tls: None,
                    accept: (std::time::Instant::now(), std::time::SystemTime::now()),
                    handshake_ms: 0,
                    bind: fcx.bind,
                };
                let origin = crate::server::sessions::Origin {
                    src,
                    dst,
                    frontend: px,
                    unix: false,
                };
                // One task per connection, sized for its own mode only.
                if http {
                    tokio::spawn(async move {
                        let _end = end;
                        crate::server::sessions::run_watched(
                            origin,
                            crate::proxy::http::run_http(rt2, px, s, info, accept_proxy, tls),
                        )
                        .await;
                    });
                } else {
                    tokio::spawn(async move {
                        let _end = end;
                        crate::server::sessions::run(
                            origin,
                            run_tcp(rt2, px, s, info, accept_proxy, tls),
                        )
                        .await;
                    });
                }
            }
            (None, Some(u)) => {
                let bind = fcx.bind;
                let unspec: std::net::SocketAddr = ([0, 0, 0, 0], 0).into();
                let http = rt2.proxies[px]
                    .frontend
                    .as_ref()
                    .map(|f| f.mode == halo_config::model::Mode::Http)
                    .unwrap_or(false);
                tokio::spawn(async move {
                    let info = ConnInfo {
                        src: unspec,
                        dst: unspec,
                        hdr_src: None,
                        ov: Default::default(),
                        tls: None,
                        accept: (std::time::Instant::now(), std::time::SystemTime::now()),
                        handshake_ms: 0,
                        bind,
                    };
                    let origin = crate::server::sessions::Origin {
                        src: unspec,
                        dst: unspec,
                        frontend: px,
                        unix: true,
                    };
                    if http {
                        crate::server::sessions::run_watched(
                            origin,
                            crate::proxy::http::run_http(
                                rt2.clone(),
                                px,
                                u,
                                info,
                                accept_proxy,
                                tls,
                            ),
                        )
                        .await;
                    } else {
                        crate::server::sessions::run(
                            origin,
                            run_tcp(rt2.clone(), px, u, info, accept_proxy, tls),
                        )
                        .await;
                    }
                    if let Some(fe) = &rt2.proxies[px].frontend {
                        fe.counters.session_end();
                        if let Some(l) = fe.listener(bind) {
                            l.session_end();
                        }
                    }
                    drop((permits, guard));
                });
            }
            _ => {}
        }
    }
}

/// What an accept loop needs of the runtime API's controls: the process's, its
/// frontend's, its number and its socket's backlog.
struct FeCtx {
    controls: Arc<control::Controls>,
    fe: Arc<control::FrontendCtl>,
    id: usize,
    backlog: i32,
    /// The `bind` line's index in its frontend.
    bind: usize,
}

/// Takes an accept loop's socket back from the runtime API when the loop ends.
struct Unregister<'a>(&'a control::FrontendCtl, usize);

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        self.0.unregister(self.1);
    }
}

type Accepted = (
    Option<tokio::net::TcpStream>,
    Option<tokio::net::UnixStream>,
    Option<std::net::SocketAddr>,
);

/// Waits for the next connection passed over a `sockpair@` socket; None once it closes.
async fn recv_passed(a: &tokio::net::UnixStream) -> Option<Accepted> {
    use std::os::fd::FromRawFd;
    loop {
        a.readable().await.ok()?;
        let fd = a.as_raw_fd();
        match a.try_io(tokio::io::Interest::READABLE, || listener::recv_fd(fd)) {
            Ok(Some(fd)) => {
                if listener::is_unix_socket(fd) {
                    // SAFETY: the fd was just received and is ours.
                    let s = unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) };
                    if s.set_nonblocking(true).is_err() {
                        continue;
                    }
                    if let Ok(u) = tokio::net::UnixStream::from_std(s) {
                        return Some((None, Some(u), None));
                    }
                } else {
                    // SAFETY: as above.
                    let s = unsafe { std::net::TcpStream::from_raw_fd(fd) };
                    if s.set_nonblocking(true).is_err() {
                        continue;
                    }
                    if let Ok(t) = tokio::net::TcpStream::from_std(s) {
                        return Some((Some(t), None, None));
                    }
                }
            }
            Ok(None) => return None,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return None,
        }
    }
}

async fn cli_loop(
    rt: Arc<Runtime>,
    kind: BoundKind,
    level: halo_config::model::CliLevel,
    timeout: u64,
) {
    match kind {
        BoundKind::Sockpair(_) => {}
        BoundKind::Unix(l, _) => {
            let Ok(l) = tokio::net::UnixListener::from_std(l) else {
                return;
            };
            loop {
                let Ok((s, _)) = l.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                if let Some(c) = control::get() {
                    c.note_accept();
                }
                let rt2 = rt.clone();
                tokio::spawn(crate::cli::serve(rt2, s, level, timeout));
            }
        }
        BoundKind::Tcp(l) => {
            let Ok(l) = tokio::net::TcpListener::from_std(l) else {
                return;
            };
            loop {
                let Ok((s, _)) = l.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                if let Some(c) = control::get() {
                    c.note_accept();
                }
                let rt2 = rt.clone();
                tokio::spawn(crate::cli::serve(rt2, s, level, timeout));
            }
        }
    }
}

async fn signals(rt: Arc<Runtime>, ctl: Arc<Control>, cfg: &Config) -> i32 {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut usr1), Ok(mut term), Ok(mut int), Ok(mut ttou), Ok(mut ttin)) = (
        signal(SignalKind::user_defined1()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::from_raw(libc::SIGTTOU)),
        signal(SignalKind::from_raw(libc::SIGTTIN)),
    ) else {
        log::alert("cannot install signal handlers", false);
        return 1;
    };
    // Handlers are in place: let the pending and future signals in (on this thread; the
    // worker threads keep them blocked).
    block_signals(false);
    let set_paused = |p: bool| {
        ctl.paused.store(p, Relaxed);
        for px in &rt.proxies {
            if let Some(fe) = &px.frontend {
                // A frontend disabled or shut down on the runtime API stays so.
                fe.paused
                    .store(p || fe.state.load(Relaxed) != control::FE_READY, Relaxed);
            }
        }
        ctl.changed.notify_waiters();
    };
    loop {
        tokio::select! {
            _ = usr1.recv() => break,
            _ = term.recv() => return 0,
            _ = int.recv() => return 0,
            _ = ttou.recv() => {
                log::warning("Pausing frontends (SIGTTOU).", rt.quiet);
                set_paused(true);
            }
            _ = ttin.recv() => {
                log::warning("Resuming frontends (SIGTTIN).", rt.quiet);
                set_paused(false);
            }
        }
    }
    // Soft stop: keep listening during `grace`, then close the listeners and wait for the
    // last session, bounded by `hard-stop-after`.
    rt.stopping.store(true, Relaxed);
    // The new process learns our stick tables through the local peer.
    for p in &rt.peers {
        p.soft_stop().await;
    }
    let grace = cfg.global.grace.unwrap_or(0).max(
        cfg.proxies
            .iter()
            .filter_map(|p| p.settings.timeouts.tarpit.map(|_| 0))
            .max()
            .unwrap_or(0),
    );
    if grace > 0 {
        tokio::time::sleep(Duration::from_millis(grace)).await;
    }
    log::warning(
        "Stopping frontends (SIGUSR1): waiting for the active sessions to end.",
        rt.quiet,
    );
    ctl.stopping.store(true, Relaxed);
    ctl.changed.notify_waiters();
    let deadline = cfg
        .global
        .hard_stop_after
        .map(|ms| tokio::time::Instant::now() + Duration::from_millis(ms));
    loop {
        let ended = ctl.session_ended.notified();
        if ctl.sessions.load(Relaxed) == 0 {
            return 0;
        }
        match deadline {
            Some(d) => {
                tokio::select! {
                    _ = ended => {}
                    _ = tokio::time::sleep_until(d) => {
                        log::warning("Hard stop: closing the remaining sessions (hard-stop-after).", rt.quiet);
                        return 0;
                    }
                    _ = term.recv() => return 0,
                    _ = int.recv() => return 0,
                }
            }
            None => {
                tokio::select! {
                    _ = ended => {}
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = term.recv() => return 0,
                    _ = int.recv() => return 0,
                }
            }
        }
    }
}

#[allow(dead_code)]
fn _unused(_: PathBuf, _: &dyn AsRawFd) {}

/// Closes idle server connections unused for their server's `pool-purge-delay`, and all
/// of those of servers that are down or in maintenance, once a second.
async fn purge_idle_loop(rt: Arc<Runtime>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // Sockets in use: above `tune.pool-low-fd-ratio`, nothing more is kept idle and
        // the idle connections go (HAProxy closes them as it needs sockets).
        let mut sockets = u64::from(rt.cur_conns.load(Relaxed)) + crate::server::idle::total_idle();
        for px in &rt.proxies {
            if let Some(be) = &px.backend {
                for s in be.servers.iter() {
                    sockets += u64::from(s.cur.load(Relaxed));
                }
            }
        }
        let busy = crate::server::idle::note_sockets_in_use(sockets);
        for px in &rt.proxies {
            if let Some(be) = &px.backend {
                for s in be.servers.iter() {
                    s.idle
                        .purge(busy || !s.usable(), u64::from(s.cur.load(Relaxed)));
                }
            }
        }
    }
}
