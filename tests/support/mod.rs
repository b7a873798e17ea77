//! End-to-end test harness: runs the binary under test (`halo`, or any other
//! binary named by `HALO_BIN`, such as Debian's `/usr/sbin/haproxy` to prove a
//! test right) on a configuration, with thread-based TCP backends that report
//! what they received and a few small clients.
//!
//! Everything here is bounded in time and cleans up after itself: processes
//! are killed on drop, backend threads end when their backend is dropped.

#![allow(dead_code)] // every test file uses a different part of the harness

pub mod http;
pub mod stats;
pub mod syslog;
pub mod tls;

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a process gets to become ready (listen on its frontends).
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client waits for an answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// The binary under test
// ---------------------------------------------------------------------------

/// The binary under test: `$HALO_BIN`, or the `halo` binary of this package.
pub fn halo_bin() -> PathBuf {
    match std::env::var_os("HALO_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_halo")),
    }
}

/// True when the binary under test is HAProxy itself (the reference), so
/// tests of halo-only behaviour can skip.
pub fn is_reference_haproxy() -> bool {
    halo_bin()
        .file_name()
        .map(|n| n.to_string_lossy().starts_with("haproxy"))
        .unwrap_or(false)
}

/// Prints why a test is skipped against the reference and returns true.
pub fn skip_on_reference(what: &str) -> bool {
    if is_reference_haproxy() {
        eprintln!("skipped against the reference haproxy: {what}");
        true
    } else {
        false
    }
}

/// `concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/seed-configs")`.
pub fn seed_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/seed-configs"
    ))
}

/// Path of one seed configuration, e.g. `seed("13-source-port-range.cfg")`.
pub fn seed(name: &str) -> PathBuf {
    seed_dir().join(name)
}

/// Text of one seed configuration.
pub fn seed_text(name: &str) -> String {
    let p = seed(name);
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// `tests/configs/...` of this package.
pub fn test_config(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/configs")).join(rel)
}

// ---------------------------------------------------------------------------
// Ports and addresses
// ---------------------------------------------------------------------------

fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// A port that was free on 127.0.0.1 a moment ago (bound to port 0 and
/// released). Never hands out the same port twice in one test process.
///
/// The window until the process under test binds it is safe enough on
/// Linux: bind(0) hands out odd ports while connect() picks even source
/// ports first, so the test traffic does not take it meanwhile.
pub fn free_port() -> u16 {
    for _ in 0..1000 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().unwrap().port();
        drop(l);
        if handed_out().lock().unwrap().insert(port) {
            return port;
        }
    }
    panic!("no free port found");
}

/// `127.0.0.1:<free port>`.
pub fn free_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), free_port())
}

/// `::1:<free port>` (for `FE6`-style variables).
pub fn free_addr6() -> SocketAddr {
    for _ in 0..1000 {
        let l = TcpListener::bind("[::1]:0").expect("bind [::1]:0");
        let port = l.local_addr().unwrap().port();
        drop(l);
        if handed_out().lock().unwrap().insert(port) {
            return SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port);
        }
    }
    panic!("no free IPv6 port found");
}

/// An address as HAProxy writes it in a configuration: `127.0.0.1:80`,
/// `::1:80` (no brackets).
pub fn haproxy_addr(a: SocketAddr) -> String {
    format!("{}:{}", a.ip(), a.port())
}

/// Parses `127.0.0.1:80` or `::1:80` (HAProxy style, last colon is the port).
pub fn parse_haproxy_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.rsplit_once(':')?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    Some(SocketAddr::new(ip.parse().ok()?, port.parse().ok()?))
}

// ---------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------

/// Waits until `child` exits, at most `timeout`.
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Some(st),
            Ok(None) => {}
            Err(_) => return None,
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `sig` to `pid`. True if the signal was delivered.
pub fn send_signal(pid: u32, sig: i32) -> bool {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid as libc::pid_t, sig) == 0 }
}

/// True if `pid` exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(stat) => match stat.rfind(')') {
            Some(i) => !matches!(stat[i + 1..].trim_start().chars().next(), Some('Z' | 'X')),
            None => true,
        },
        Err(_) => false,
    }
}

/// Waits until `pid` is gone (or a zombie), at most `timeout`.
pub fn wait_pid_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while pid_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Kills a process that is not our child (a daemon) on drop: SIGTERM, then
/// SIGKILL after a grace period.
pub struct PidGuard(pub u32);

impl Drop for PidGuard {
    fn drop(&mut self) {
        let pid = self.0;
        if pid_alive(pid) {
            send_signal(pid, libc::SIGTERM);
            if !wait_pid_gone(pid, Duration::from_secs(2)) {
                send_signal(pid, libc::SIGKILL);
                wait_pid_gone(pid, Duration::from_secs(2));
            }
        }
    }
}

/// Makes the child get SIGKILL when the thread that started it ends, so
/// that nothing is left behind even if the test process is killed (a
/// timeout) before `Drop` runs. Start processes from the test's own thread.
/// (A daemon's forked child does not inherit this: see [`PidGuard`].)
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// A configuration given by its text or by its path.
#[derive(Clone, Copy, Debug)]
pub enum Cfg<'a> {
    Text(&'a str),
    Path(&'a Path),
}

/// Output of a finished run of the binary.
#[derive(Debug)]
pub struct RunOutput {
    /// Exit code; -1 if killed by a signal or timed out.
    pub code: i32,
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary with `args` and `env`, stdout/stderr captured in files (so
/// a daemon that keeps them open does not block us), at most `timeout`
/// (then it is killed and `code` is -1).
pub fn run_bin(args: &[OsString], env: &[(&str, String)], timeout: Duration) -> RunOutput {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_p = dir.path().join("stdout");
    let err_p = dir.path().join("stderr");
    let mut cmd = Command::new(halo_bin());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_p).unwrap())
        .stderr(fs::File::create(&err_p).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    die_with_parent(&mut cmd);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", halo_bin().display()));
    let status = wait_child(&mut child, timeout);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    RunOutput {
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        status,
        stdout: fs::read_to_string(&out_p).unwrap_or_default(),
        stderr: fs::read_to_string(&err_p).unwrap_or_default(),
    }
}

/// `halo -c -f CFG` with `env`: (exit code, stdout, stderr).
pub fn run_check(cfg: Cfg<'_>, env: &[(&str, String)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = match cfg {
        Cfg::Text(t) => {
            let p = dir.path().join("halo.cfg");
            fs::write(&p, t).unwrap();
            p
        }
        Cfg::Path(p) => p.to_path_buf(),
    };
    let out = run_bin(
        &["-c".into(), "-f".into(), path.into_os_string()],
        env,
        Duration::from_secs(20),
    );
    (out.code, out.stdout, out.stderr)
}

/// A running instance of the binary under test, killed on drop.
pub struct Halo {
    child: Child,
    dir: tempfile::TempDir,
    cfg_path: PathBuf,
    bin: PathBuf,
}

/// How to start a [`Halo`]: see [`Halo::builder`].
pub struct HaloBuilder {
    cfg: String,
    env: Vec<(String, String)>,
    args: Vec<OsString>,
    foreground: Vec<OsString>,
    wait_for: Option<Vec<SocketAddr>>,
    dir: Option<tempfile::TempDir>,
    bin: Option<PathBuf>,
}

impl HaloBuilder {
    /// Adds environment variables.
    pub fn envs(mut self, env: &[(&str, String)]) -> Self {
        self.env
            .extend(env.iter().map(|(k, v)| (k.to_string(), v.clone())));
        self
    }

    pub fn env(mut self, k: &str, v: impl Into<String>) -> Self {
        self.env.push((k.to_string(), v.into()));
        self
    }

    /// Adds command line arguments after `-db -f CFG`.
    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    /// Replaces the default `-db` (e.g. with `-d`).
    pub fn mode_flags(mut self, flags: &[&str]) -> Self {
        self.foreground = flags.iter().map(OsString::from).collect();
        self
    }

    /// The addresses to wait for. Default: every env variable named `FE` or
    /// `FE_*`/`FE6` that parses as an address.
    pub fn wait_for(mut self, addrs: &[SocketAddr]) -> Self {
        self.wait_for = Some(addrs.to_vec());
        self
    }

    /// Runs this binary instead of [`halo_bin`] (to run halo and the reference side by
    /// side in one test).
    pub fn bin(mut self, path: impl Into<PathBuf>) -> Self {
        self.bin = Some(path.into());
        self
    }

    /// Runs in this (already prepared) directory; `DIR` is set to it unless
    /// given in the environment.
    pub fn dir(mut self, dir: tempfile::TempDir) -> Self {
        self.dir = Some(dir);
        self
    }

    /// Starts the process and waits (10 s at most, then panics with its
    /// stderr) until the process itself holds a listening socket on every
    /// address. Read from the kernel (sock_diag and /proc/PID/fd), not by
    /// connecting: a probe connection would go through to a backend and
    /// skew what the test counts, and it could not tell an `-sf` successor
    /// from its predecessor.
    pub fn start(self) -> Halo {
        let dir = match self.dir {
            Some(d) => d,
            None => tempfile::tempdir().expect("tempdir"),
        };
        let cfg_path = dir.path().join("halo.cfg");
        fs::write(&cfg_path, &self.cfg).unwrap();
        let bin = self.bin.unwrap_or_else(halo_bin);
        let mut cmd = Command::new(&bin);
        cmd.args(&self.foreground)
            .arg("-f")
            .arg(&cfg_path)
            .args(&self.args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.path().join("stdout")).unwrap())
            .stderr(fs::File::create(dir.path().join("stderr")).unwrap());
        if !self.env.iter().any(|(k, _)| k == "DIR") {
            cmd.env("DIR", dir.path());
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let wait_for = self.wait_for.unwrap_or_else(|| {
            self.env
                .iter()
                .filter(|(k, _)| k == "FE" || k == "FE6" || k.starts_with("FE_"))
                .filter_map(|(_, v)| parse_haproxy_addr(v))
                .collect()
        });
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        let mut halo = Halo {
            child,
            dir,
            cfg_path,
            bin,
        };
        halo.wait_ready(&wait_for);
        halo
    }
}

impl Halo {
    /// `$HALO_BIN -db -f CFG` with `env`, waiting for the `FE*` addresses.
    pub fn start(cfg_text: &str, env: &[(&str, String)]) -> Halo {
        Halo::builder(cfg_text).envs(env).start()
    }

    pub fn builder(cfg_text: &str) -> HaloBuilder {
        HaloBuilder {
            cfg: cfg_text.to_string(),
            env: Vec::new(),
            args: Vec::new(),
            foreground: vec!["-db".into()],
            wait_for: None,
            dir: None,
            bin: None,
        }
    }

    fn wait_ready(&mut self, addrs: &[SocketAddr]) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "{} exited during startup ({st}); stdout:\n{}\nstderr:\n{}",
                    self.bin.display(),
                    self.stdout_text(),
                    self.stderr_text()
                );
            }
            if addrs.iter().all(|a| is_listening(self.pid(), *a)) {
                return;
            }
            if Instant::now() >= deadline {
                let missing: Vec<_> = addrs
                    .iter()
                    .filter(|a| !is_listening(self.pid(), **a))
                    .collect();
                panic!(
                    "{} not listening on {missing:?} after {READY_TIMEOUT:?}; stderr:\n{}",
                    self.bin.display(),
                    self.stderr_text()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the process listens on `addrs` again (after SIGTTIN...).
    pub fn wait_listening(&self, addrs: &[SocketAddr], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !addrs.iter().all(|a| is_listening(self.pid(), *a)) {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
        true
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The scratch directory (`DIR` of the seed configurations).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn cfg_path(&self) -> &Path {
        &self.cfg_path
    }

    /// The binary this process runs.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    pub fn stderr_text(&self) -> String {
        fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    pub fn stdout_text(&self) -> String {
        fs::read_to_string(self.dir.path().join("stdout")).unwrap_or_default()
    }

    pub fn signal(&self, sig: i32) -> bool {
        send_signal(self.pid(), sig)
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_child(&mut self.child, timeout)
    }

    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Halo {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            send_signal(self.pid(), libc::SIGTERM);
            if wait_child(&mut self.child, Duration::from_secs(2)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Listening sockets, from /proc (no connection needed, so nothing reaches
// the backends while we wait)
// ---------------------------------------------------------------------------

fn socket_inodes(pid: u32) -> HashSet<u64> {
    let mut set = HashSet::new();
    if let Ok(rd) = fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in rd.flatten() {
            if let Ok(target) = fs::read_link(e.path()) {
                let t = target.to_string_lossy();
                if let Some(n) = t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']'))
                    && let Ok(n) = n.parse()
                {
                    set.insert(n);
                }
            }
        }
    }
    set
}

fn parse_proc_ip(hex: &str) -> Option<IpAddr> {
    // Each 32-bit word is printed as the host-order value of network bytes.
    let words: Vec<u32> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16))
        .collect::<Result<_, _>>()
        .ok()?;
    let mut bytes = Vec::with_capacity(16);
    for w in words {
        bytes.extend_from_slice(&w.to_ne_bytes());
    }
    match bytes.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        16 => {
            let b: [u8; 16] = bytes.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

/// Inodes of the TCP sockets listening on `addr` (or on the wildcard with
/// its port).
fn listening_inodes(addr: SocketAddr) -> Vec<u64> {
    let mut all = Vec::new();
    let mut add = |ip: IpAddr, port: u16, inode: u64| all.push((ip, port, inode));
    let via_netlink = [libc::AF_INET, libc::AF_INET6]
        .into_iter()
        .all(|family| diag_listeners(family, &mut add).is_ok());
    if !via_netlink {
        all.clear();
        proc_listeners(&mut |ip, port, inode| all.push((ip, port, inode)));
    }
    all.into_iter()
        .filter(|(ip, port, _)| *port == addr.port() && (*ip == addr.ip() || ip.is_unspecified()))
        .map(|(_, _, inode)| inode)
        .collect()
}

/// Lists the listening TCP sockets of `family` through the sock_diag netlink
/// interface (as `ss -lt` does): fast, where reading /proc/net/tcp takes
/// seconds on a machine with tens of thousands of TIME_WAIT sockets.
fn diag_listeners(family: i32, f: &mut impl FnMut(IpAddr, u16, u64)) -> io::Result<()> {
    const NETLINK_SOCK_DIAG: i32 = 4;
    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    const NLMSG_ERROR: u16 = 2;
    const NLMSG_DONE: u16 = 3;
    const NLM_F_REQUEST: u16 = 1;
    const NLM_F_DUMP: u16 = 0x300;
    const TCP_LISTEN: u32 = 10;

    // SAFETY: plain socket calls on a descriptor we own and close; every
    // buffer passed to the kernel is valid for the length given.
    unsafe {
        let fd = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            NETLINK_SOCK_DIAG,
        );
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        struct Fd(i32);
        impl Drop for Fd {
            fn drop(&mut self) {
                // SAFETY: closes the descriptor opened above, once.
                unsafe { libc::close(self.0) };
            }
        }
        let fd = Fd(fd);
        let tv = libc::timeval {
            tv_sec: 2,
            tv_usec: 0,
        };
        libc::setsockopt(
            fd.0,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as u32,
        );
        // nlmsghdr (16 bytes) + inet_diag_req_v2 (8 bytes + 48 of sockid).
        let mut req = [0u8; 72];
        req[0..4].copy_from_slice(&72u32.to_ne_bytes());
        req[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        req[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        req[8..12].copy_from_slice(&1u32.to_ne_bytes());
        req[16] = family as u8;
        req[17] = libc::IPPROTO_TCP as u8;
        req[20..24].copy_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
        let mut sa: libc::sockaddr_nl = std::mem::zeroed();
        sa.nl_family = libc::AF_NETLINK as u16;
        let n = libc::sendto(
            fd.0,
            req.as_ptr() as *const libc::c_void,
            req.len(),
            0,
            &sa as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        );
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = libc::recv(fd.0, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0);
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut msg = &buf[..n as usize];
            while msg.len() >= 16 {
                let len = u32::from_ne_bytes(msg[0..4].try_into().unwrap()) as usize;
                let kind = u16::from_ne_bytes(msg[4..6].try_into().unwrap());
                if len < 16 || len > msg.len() {
                    return Err(io::Error::other("bad netlink message"));
                }
                match kind {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => return Err(io::Error::other("sock_diag error")),
                    SOCK_DIAG_BY_FAMILY if len >= 16 + 72 => {
                        // inet_diag_msg: family, state, timer, retrans, sockid
                        // (sport, dport, src[16], dst[16], if, cookie), expires,
                        // rqueue, wqueue, uid, inode.
                        let d = &msg[16..len];
                        let port = u16::from_be_bytes([d[4], d[5]]);
                        let src: [u8; 16] = d[8..24].try_into().unwrap();
                        let ip = if d[0] as i32 == libc::AF_INET {
                            IpAddr::V4(Ipv4Addr::new(src[0], src[1], src[2], src[3]))
                        } else {
                            IpAddr::V6(Ipv6Addr::from(src))
                        };
                        let inode = u32::from_ne_bytes(d[68..72].try_into().unwrap());
                        f(ip, port, inode as u64);
                    }
                    _ => {}
                }
                msg = &msg[((len + 3) & !3).min(msg.len())..];
            }
        }
    }
}

/// The same from /proc/net/tcp{,6} (slow with many sockets: a fallback).
fn proc_listeners(f: &mut impl FnMut(IpAddr, u16, u64)) {
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fl: Vec<&str> = line.split_whitespace().collect();
            if fl.len() < 10 || fl[3] != "0A" {
                continue;
            }
            let Some((ip, port)) = fl[1].split_once(':') else {
                continue;
            };
            if let (Some(ip), Ok(port), Ok(inode)) = (
                parse_proc_ip(ip),
                u16::from_str_radix(port, 16),
                fl[9].parse(),
            ) {
                f(ip, port, inode);
            }
        }
    }
}

/// True if process `pid` holds a socket listening on `addr`.
pub fn is_listening(pid: u32, addr: SocketAddr) -> bool {
    let inodes = listening_inodes(addr);
    if inodes.is_empty() {
        return false;
    }
    let mine = socket_inodes(pid);
    inodes.iter().any(|i| mine.contains(i))
}

/// True if any process listens on `addr`.
pub fn anyone_listening(addr: SocketAddr) -> bool {
    !listening_inodes(addr).is_empty()
}

/// Polls `f` every 10 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------

/// What a backend received on one served connection.
#[derive(Clone, Debug)]
pub struct ConnRecord {
    /// Peer address as seen by the backend (the load balancer's side).
    pub peer: SocketAddr,
    /// Every byte received before the answer: PROXY header (if any) and the
    /// client's request line.
    pub received: Vec<u8>,
    /// The client's request line, without PROXY header and line end.
    pub request: String,
}

struct BackendInner {
    name: String,
    delay: Mutex<Duration>,
    accepted: AtomicUsize,
    served: AtomicUsize,
    current: AtomicUsize,
    max_concurrent: AtomicUsize,
    records: Mutex<Vec<ConnRecord>>,
    shutdown: AtomicBool,
    conn_threads: Mutex<Vec<JoinHandle<()>>>,
}

struct ListenerThread {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

/// A thread-based TCP server on 127.0.0.1 that answers every request line
/// with its name.
///
/// Protocol: after an optional PROXY header (v1 or v2), the client sends one
/// line. The backend answers its name followed by `\n` (after the optional
/// delay) and closes, except if the line is `HOLD`: then it answers its name
/// and echoes everything it receives until the client closes.
/// Connections that close before a full line (health checks) are counted in
/// `accepted` only.
pub struct TcpBackend {
    inner: Arc<BackendInner>,
    addr: SocketAddr,
    listener: Mutex<Option<ListenerThread>>,
}

const V2_SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// Length of the PROXY header at the start of `buf`: Some(0) if there is
/// none, None if more bytes are needed to tell.
fn proxy_header_len(buf: &[u8]) -> Option<usize> {
    let n = buf.len();
    if n < V2_SIG.len() && V2_SIG.starts_with(buf) {
        return None;
    }
    if buf.starts_with(V2_SIG) {
        if n < 16 {
            return None;
        }
        let len = u16::from_be_bytes([buf[14], buf[15]]) as usize;
        return if n >= 16 + len { Some(16 + len) } else { None };
    }
    if n < 6 && b"PROXY ".starts_with(buf) {
        return None;
    }
    if buf.starts_with(b"PROXY ") {
        return buf.windows(2).position(|w| w == b"\r\n").map(|i| i + 2);
    }
    Some(0)
}

/// (end of the request line including `\n`, the line) once complete.
fn parse_request(buf: &[u8]) -> Option<(usize, String)> {
    let h = proxy_header_len(buf)?;
    let nl = buf[h..].iter().position(|&b| b == b'\n')?;
    let line = String::from_utf8_lossy(&buf[h..h + nl])
        .trim_end_matches('\r')
        .to_string();
    Some((h + nl + 1, line))
}

impl TcpBackend {
    /// A backend named `name` on a free port of 127.0.0.1.
    pub fn echo_named(name: &str) -> TcpBackend {
        // Not a port that free_port() handed out and someone is about to bind.
        let mut set_aside = Vec::new();
        let listener = loop {
            let l = bind_retry(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
            if handed_out()
                .lock()
                .unwrap()
                .insert(l.local_addr().unwrap().port())
            {
                break l;
            }
            set_aside.push(l);
        };
        drop(set_aside);
        let addr = listener.local_addr().unwrap();
        let be = TcpBackend {
            inner: Arc::new(BackendInner {
                name: name.to_string(),
                delay: Mutex::new(Duration::ZERO),
                accepted: AtomicUsize::new(0),
                served: AtomicUsize::new(0),
                current: AtomicUsize::new(0),
                max_concurrent: AtomicUsize::new(0),
                records: Mutex::new(Vec::new()),
                shutdown: AtomicBool::new(false),
                conn_threads: Mutex::new(Vec::new()),
            }),
            addr,
            listener: Mutex::new(None),
        };
        be.spawn_listener(listener);
        be
    }

    /// Same, answering only after `delay`.
    pub fn echo_named_with_delay(name: &str, delay: Duration) -> TcpBackend {
        let be = TcpBackend::echo_named(name);
        be.set_delay(delay);
        be
    }

    pub fn set_delay(&self, delay: Duration) {
        *self.inner.delay.lock().unwrap() = delay;
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address in configuration syntax, e.g. `127.0.0.1:40123`.
    pub fn cfg_addr(&self) -> String {
        haproxy_addr(self.addr)
    }

    /// Connections accepted, health checks included.
    pub fn accepted(&self) -> usize {
        self.inner.accepted.load(Ordering::SeqCst)
    }

    /// Connections that carried a request line (answered or held).
    pub fn served(&self) -> usize {
        self.inner.served.load(Ordering::SeqCst)
    }

    /// Requests being served right now.
    pub fn current(&self) -> usize {
        self.inner.current.load(Ordering::SeqCst)
    }

    /// Highest number of requests served at the same time.
    pub fn max_concurrent(&self) -> usize {
        self.inner.max_concurrent.load(Ordering::SeqCst)
    }

    pub fn records(&self) -> Vec<ConnRecord> {
        self.inner.records.lock().unwrap().clone()
    }

    /// Forgets the counters and records (not the current connections).
    pub fn reset(&self) {
        self.inner.accepted.store(0, Ordering::SeqCst);
        self.inner.served.store(0, Ordering::SeqCst);
        self.inner
            .max_concurrent
            .store(self.current(), Ordering::SeqCst);
        self.inner.records.lock().unwrap().clear();
    }

    pub fn is_running(&self) -> bool {
        self.listener.lock().unwrap().is_some()
    }

    /// Closes the listening socket: later connections are refused. Open
    /// connections go on.
    pub fn stop(&self) {
        if let Some(l) = self.listener.lock().unwrap().take() {
            l.stop.store(true, Ordering::SeqCst);
            let _ = l.handle.join();
        }
    }

    /// Listens again on the same port.
    pub fn restart(&self) {
        if self.is_running() {
            return;
        }
        let listener = bind_retry(self.addr);
        self.spawn_listener(listener);
    }

    fn spawn_listener(&self, listener: TcpListener) {
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let inner = self.inner.clone();
        let stop2 = stop.clone();
        let handle = thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) && !inner.shutdown.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, peer)) => {
                        inner.accepted.fetch_add(1, Ordering::SeqCst);
                        let inner2 = inner.clone();
                        let h = thread::spawn(move || serve_conn(inner2, stream, peer));
                        let mut threads = inner.conn_threads.lock().unwrap();
                        threads.retain(|t| !t.is_finished());
                        threads.push(h);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        *self.listener.lock().unwrap() = Some(ListenerThread { stop, handle });
    }
}

fn bind_retry(addr: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(addr) {
            Ok(l) => return l,
            Err(e) if Instant::now() >= deadline => panic!("cannot bind {addr}: {e}"),
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn serve_conn(inner: Arc<BackendInner>, mut stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (end, line) = loop {
        if let Some(r) = parse_request(&buf) {
            break r;
        }
        if inner.shutdown.load(Ordering::SeqCst) || Instant::now() >= deadline {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) => {}
            Err(_) => return,
        }
    };
    inner.served.fetch_add(1, Ordering::SeqCst);
    let cur = inner.current.fetch_add(1, Ordering::SeqCst) + 1;
    inner.max_concurrent.fetch_max(cur, Ordering::SeqCst);
    inner.records.lock().unwrap().push(ConnRecord {
        peer,
        received: buf[..end].to_vec(),
        request: line.clone(),
    });
    let delay = *inner.delay.lock().unwrap();
    let until = Instant::now() + delay;
    while Instant::now() < until && !inner.shutdown.load(Ordering::SeqCst) {
        thread::sleep(
            Duration::from_millis(5).min(until.saturating_duration_since(Instant::now())),
        );
    }
    let answer = format!("{}\n", inner.name);
    if stream.write_all(answer.as_bytes()).is_ok() && line == "HOLD" {
        // Echo until the client closes (or the backend is dropped).
        let mut rest = buf[end..].to_vec();
        loop {
            if !rest.is_empty() {
                if stream.write_all(&rest).is_err() {
                    break;
                }
                rest.clear();
            }
            if inner.shutdown.load(Ordering::SeqCst) {
                break;
            }
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => rest.extend_from_slice(&chunk[..n]),
                Err(e) if is_timeout(&e) => {}
                Err(_) => break,
            }
        }
    }
    inner.current.fetch_sub(1, Ordering::SeqCst);
    let _ = stream.shutdown(Shutdown::Both);
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

impl Drop for TcpBackend {
    fn drop(&mut self) {
        self.inner.shutdown.store(true, Ordering::SeqCst);
        self.stop();
        let threads: Vec<_> = self.inner.conn_threads.lock().unwrap().drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

/// Connects to `addr` from `src` (any port), bounded by [`IO_TIMEOUT`].
pub fn connect_from(src: Option<IpAddr>, addr: SocketAddr) -> io::Result<TcpStream> {
    let domain = socket2::Domain::for_address(addr);
    let sock = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    if let Some(ip) = src {
        sock.bind(&SocketAddr::new(ip, 0).into())?;
    }
    sock.connect_timeout(&addr.into(), IO_TIMEOUT)?;
    let stream: TcpStream = sock.into();
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(stream)
}

/// Reads until the peer closes, at most `timeout` in all.
pub fn read_to_close(stream: &mut TcpStream, timeout: Duration) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no close in time"));
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Sends `data` on a new connection to `addr` (from `src` if given) and
/// returns the trimmed answer, read until the server closes. An empty
/// answer is an error (`UnexpectedEof`): the request was not served.
pub fn exchange(src: Option<IpAddr>, addr: SocketAddr, data: &[u8]) -> io::Result<String> {
    let mut s = connect_from(src, addr)?;
    s.write_all(data)?;
    let out = read_to_close(&mut s, IO_TIMEOUT)?;
    let text = String::from_utf8_lossy(&out).trim().to_string();
    if text.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "closed without an answer",
        ));
    }
    Ok(text)
}

/// One request through `addr`: returns the name of the backend that served it.
pub fn request(addr: SocketAddr) -> io::Result<String> {
    exchange(None, addr, b"HELLO\n")
}

/// One request from source address `src` (e.g. 127.0.0.42).
pub fn request_from(src: IpAddr, addr: SocketAddr) -> io::Result<String> {
    exchange(Some(src), addr, b"HELLO\n")
}

/// A connection held open on a backend (see [`TcpBackend`]'s `HOLD`).
pub struct HeldConn {
    pub stream: TcpStream,
    /// Name of the backend that answered.
    pub name: String,
}

/// Opens a connection through `addr` that the backend keeps open.
pub fn hold(addr: SocketAddr) -> io::Result<HeldConn> {
    let mut stream = connect_from(None, addr)?;
    stream.write_all(b"HOLD\n")?;
    let name = read_line(&mut stream)?;
    Ok(HeldConn { stream, name })
}

fn read_line(stream: &mut TcpStream) -> io::Result<String> {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        if Instant::now() >= deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no line in time"));
        }
        match stream.read(&mut b) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed before a full line",
                ));
            }
            Ok(_) if b[0] == b'\n' => break,
            Ok(_) => out.push(b[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&out)
        .trim_end_matches('\r')
        .to_string())
}

impl HeldConn {
    /// Sends a line and reads the echoed line.
    pub fn echo(&mut self, line: &str) -> io::Result<String> {
        self.stream.write_all(format!("{line}\n").as_bytes())?;
        read_line(&mut self.stream)
    }

    /// Closes the connection.
    pub fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// Counts answers by name.
pub fn tally<'a>(
    names: impl IntoIterator<Item = &'a String>,
) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for n in names {
        *m.entry(n.clone()).or_insert(0) += 1;
    }
    m
}

// ---------------------------------------------------------------------------
// Stats socket
// ---------------------------------------------------------------------------

/// Sends one command line to the unix stats socket and reads the answer
/// until the server closes (non-interactive mode).
pub fn cli(sock: &Path, command: &str) -> io::Result<String> {
    use std::os::unix::net::UnixStream;
    let mut s = UnixStream::connect(sock)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    s.write_all(format!("{command}\n").as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// Waits until the stats socket at `sock` answers.
pub fn wait_cli(sock: &Path, timeout: Duration) -> bool {
    wait_until(timeout, || cli(sock, "show info").is_ok())
}

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

/// Writes a self-signed certificate and its key, concatenated, to `path`
/// (`openssl req -x509 ...`).
pub fn make_self_signed_pem(path: &Path) {
    let dir = path.parent().unwrap();
    let key = dir.join("site.key.tmp");
    let crt = dir.join("site.crt.tmp");
    let st = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run openssl");
    assert!(st.success(), "openssl req failed");
    let mut pem = fs::read(&crt).unwrap();
    pem.extend(fs::read(&key).unwrap());
    fs::write(path, pem).unwrap();
    let _ = fs::remove_file(key);
    let _ = fs::remove_file(crt);
}
