//! The process as HAProxy's users drive it: signals (soft stop, pause and
//! resume of the listeners, SIGINT), `-sf` hand-over, pid files and daemon
//! mode, `-v`/`-vv`, and the runtime API on the stats socket.

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use support::*;

const TCP_CONFIG: &str = "defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend ft
    bind \"${FE}\"
    default_backend bk

backend bk
    server s1 \"${S1}\"
";

/// True if nothing accepts a connection on `addr` any more.
fn refused(addr: SocketAddr) -> bool {
    match connect_from(None, addr) {
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
        Ok(_) => false,
    }
}

#[test]
fn sigusr1_soft_stop_finishes_open_sessions() {
    let s = TcpBackend::echo_named("s1");
    let fe = free_addr();
    let mut halo = Halo::start(
        TCP_CONFIG,
        &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())],
    );
    let mut held = hold(fe).expect("open session");
    assert_eq!(held.name, "s1");
    assert!(halo.signal(libc::SIGUSR1));
    assert!(
        wait_until(Duration::from_secs(5), || refused(fe)),
        "still accepting connections after SIGUSR1"
    );
    assert!(
        !is_listening(halo.pid(), fe),
        "still listening after SIGUSR1"
    );
    // The open session goes on, and the process waits for it.
    assert_eq!(held.echo("still there").unwrap(), "still there");
    assert!(halo.try_status().is_none(), "exited with a session open");
    held.close();
    let st = halo
        .wait_exit(Duration::from_secs(5))
        .expect("no exit after the last session ended");
    assert!(st.success(), "soft stop exit status: {st}");
}

#[test]
fn sigttou_pauses_and_sigttin_resumes_the_listeners() {
    let s = TcpBackend::echo_named("s1");
    let fe = free_addr();
    let halo = Halo::start(
        TCP_CONFIG,
        &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())],
    );
    assert_eq!(request(fe).unwrap(), "s1");
    assert!(halo.signal(libc::SIGTTOU));
    assert!(
        wait_until(Duration::from_secs(5), || refused(fe)),
        "connections still accepted after SIGTTOU"
    );
    assert!(
        !is_listening(halo.pid(), fe),
        "the port is still in LISTEN state"
    );
    assert!(halo.signal(libc::SIGTTIN));
    assert!(
        halo.wait_listening(&[fe], Duration::from_secs(5)),
        "not listening again after SIGTTIN"
    );
    assert_eq!(request(fe).unwrap(), "s1");
}

#[test]
fn sf_hands_over_without_refusing_connections() {
    let s = TcpBackend::echo_named("s1");
    let fe = free_addr();
    let env = [("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())];
    let mut a = Halo::start(TCP_CONFIG, &env);

    // A client connects continuously, one connection after the other.
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let client = thread::spawn(move || {
        let mut ok = 0usize;
        let mut failures = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        while !stop2.load(Ordering::SeqCst) && Instant::now() < deadline {
            match request(fe) {
                Ok(_) => ok += 1,
                Err(e) => failures.push(e.to_string()),
            }
        }
        (ok, failures)
    });
    let progress = |n: usize| {
        wait_until(Duration::from_secs(5), || {
            s.served() >= n || client.is_finished()
        })
    };
    // Some connections on A alone, then B takes over, then some on B alone.
    progress(100);
    let b = Halo::builder(TCP_CONFIG)
        .envs(&env)
        .arg("-sf")
        .arg(a.pid().to_string())
        .start();
    let st = a.wait_exit(Duration::from_secs(10));
    progress(s.served() + 100);
    stop.store(true, Ordering::SeqCst);
    let (ok, failures) = client.join().unwrap();
    let st = st.expect("the old process did not exit");
    assert!(st.success(), "the old process exited with {st}");
    assert!(pid_alive(b.pid()), "the new process is gone");
    assert!(ok >= 200, "only {ok} connections");
    assert!(
        failures.is_empty(),
        "{} of {} connections failed during the hand-over: {:?}",
        failures.len(),
        ok + failures.len(),
        &failures[..failures.len().min(5)]
    );
}

#[test]
fn st_hands_over_and_terminates_the_old_process() {
    let s = TcpBackend::echo_named("s1");
    let fe = free_addr();
    let env = [("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())];
    let mut a = Halo::start(TCP_CONFIG, &env);
    let mut held = hold(fe).expect("open session on the old process");
    let b = Halo::builder(TCP_CONFIG)
        .envs(&env)
        .arg("-st")
        .arg(a.pid().to_string())
        .start();
    // A leaves at once, without waiting for its session.
    assert!(
        a.wait_exit(Duration::from_secs(5)).is_some(),
        "the old process is still running"
    );
    assert!(
        held.echo("anyone?").is_err(),
        "the old session survived -st"
    );
    assert!(pid_alive(b.pid()));
    assert_eq!(request(fe).unwrap(), "s1");
}

/// Reads a pid file (first line).
fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Runs `args` expecting a daemon: the launching process exits 0 and the pid
/// file names a live process that listens on `fe`.
fn start_daemon(
    args: &[std::ffi::OsString],
    env: &[(&str, String)],
    pidfile: &Path,
    fe: &[SocketAddr],
) -> PidGuard {
    let out = run_bin(args, env, Duration::from_secs(10));
    assert_eq!(out.code, 0, "launcher exit; stderr: {}", out.stderr);
    assert!(
        wait_until(Duration::from_secs(5), || read_pid(pidfile).is_some()),
        "no pid in {}",
        pidfile.display()
    );
    let pid = read_pid(pidfile).unwrap();
    let guard = PidGuard(pid);
    assert!(pid_alive(pid), "pid {pid} from the pid file is not running");
    for a in fe {
        assert!(
            wait_until(READY_TIMEOUT, || is_listening(pid, *a)),
            "daemon {pid} does not listen on {a}"
        );
    }
    guard
}

#[test]
fn daemon_with_p_writes_the_pid_file() {
    let s = TcpBackend::echo_named("s1");
    let fe = free_addr();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("halo.cfg");
    std::fs::write(&cfg, TCP_CONFIG).unwrap();
    let pidfile = dir.path().join("halo.pid");
    let env = [("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())];
    let guard = start_daemon(
        &[
            "-D".into(),
            "-f".into(),
            cfg.into(),
            "-p".into(),
            pidfile.clone().into(),
        ],
        &env,
        &pidfile,
        &[fe],
    );
    assert_eq!(request(fe).unwrap(), "s1");
    let pid = guard.0;
    drop(guard);
    assert!(!pid_alive(pid));
}

#[test]
fn global_daemon_and_pidfile() {
    // Seed 24's global section, with a TCP listener.
    let s = TcpBackend::echo_named("s1");
    let fe = free_addr();
    let dir = tempfile::tempdir().unwrap();
    let text = format!("global\n    daemon\n    pidfile \"${{DIR}}/halo.pid\"\n\n{TCP_CONFIG}");
    let cfg = dir.path().join("halo.cfg");
    std::fs::write(&cfg, text).unwrap();
    let pidfile = dir.path().join("halo.pid");
    let env = [
        ("FE", haproxy_addr(fe)),
        ("S1", s.cfg_addr()),
        ("DIR", dir.path().to_string_lossy().into_owned()),
    ];
    let _guard = start_daemon(&["-f".into(), cfg.into()], &env, &pidfile, &[fe]);
    assert_eq!(request(fe).unwrap(), "s1");
}

#[test]
fn seed24_runs_as_a_daemon() {
    if skip_on_reference("haproxy 2.6 refuses seed 24 (address on the listen line)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (fe, office, checks) = (free_addr(), free_addr(), free_addr());
    let env = [
        ("FE", haproxy_addr(fe)),
        ("FE_OFFICE", haproxy_addr(office)),
        ("FE_CHECKS", haproxy_addr(checks)),
        ("S1", haproxy_addr(free_addr())),
        ("S2", haproxy_addr(free_addr())),
        ("S3", haproxy_addr(free_addr())),
        ("S4", haproxy_addr(free_addr())),
        ("S1_CHECK_PORT", free_port().to_string()),
        ("S2_CHECK_PORT", free_port().to_string()),
        ("DIR", dir.path().to_string_lossy().into_owned()),
    ];
    let pidfile = dir.path().join("halo.pid");
    let seed = seed("24-soft-stop-backup-redispatch.cfg");
    let _guard = start_daemon(
        &["-f".into(), seed.into()],
        &env,
        &pidfile,
        &[fe, office, checks],
    );
}

#[test]
fn sigint_in_debug_mode_exits_at_once() {
    let s = TcpBackend::echo_named("s1");
    let fe = free_addr();
    let mut halo = Halo::builder(TCP_CONFIG)
        .mode_flags(&["-d"])
        .env("FE", haproxy_addr(fe))
        .env("S1", s.cfg_addr())
        .start();
    assert!(halo.signal(libc::SIGINT));
    let st = halo
        .wait_exit(Duration::from_secs(1))
        .expect("still running 1 s after SIGINT");
    if is_reference_haproxy() {
        // haproxy 2.6 does not catch SIGINT: it dies of it.
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(st.signal(), Some(libc::SIGINT), "{st}");
    } else {
        assert!(st.success(), "exit status after SIGINT: {st}");
    }
}

#[test]
fn version_flags() {
    let v = run_bin(&["-v".into()], &[], Duration::from_secs(10));
    assert_eq!(v.code, 0, "stderr: {}", v.stderr);
    let first = v.stdout.lines().next().unwrap_or_default();
    assert!(
        first.to_lowercase().contains("version"),
        "-v first line: {first:?}"
    );
    let vv = run_bin(&["-vv".into()], &[], Duration::from_secs(10));
    assert_eq!(vv.code, 0, "stderr: {}", vv.stderr);
    assert!(vv.stdout.contains("Feature list :"), "-vv: {}", vv.stdout);
}

// ---------------------------------------------------------------------------
// Runtime API on the stats socket
// ---------------------------------------------------------------------------

/// The `show stat` header of HAProxy 2.6, byte for byte.
const STAT_HEADER_2_6: &str = concat!(
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,",
    "wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,",
    "iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,",
    "check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,",
    "hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,",
    "comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,",
    "agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,",
    "check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,",
    "algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,",
    "cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,",
    "ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,",
    "agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,",
    "ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,",
    "h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,",
    "h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,",
    "h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,",
    "h2_total_connections,h2_backend_total_streams,h1_open_connections,",
    "h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,",
    "h1_spliced_bytes_in,h1_spliced_bytes_out,",
);

/// The `show servers state` header of HAProxy 2.6 (format version 1).
const SERVERS_STATE_HEADER_2_6: &str = concat!(
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ",
    "srv_uweight srv_iweight srv_time_since_last_change srv_check_status ",
    "srv_check_result srv_check_health srv_check_state srv_agent_state ",
    "bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl ",
    "srv_check_port srv_check_addr srv_agent_addr srv_agent_port",
);

const STATS_CONFIG: &str = "global
    stats socket \"${DIR}/admin.sock\" level admin

defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend ft
    bind \"${FE}\"
    default_backend bk

backend bk
    balance roundrobin
    server s1 \"${S1}\"
    server s2 \"${S2}\"
";

/// A running instance with a stats socket, two servers s1 and s2 in `bk`.
struct StatsSetup {
    halo: Halo,
    fe: SocketAddr,
    s1: TcpBackend,
    _s2: TcpBackend,
}

impl StatsSetup {
    fn start() -> StatsSetup {
        let s1 = TcpBackend::echo_named("s1");
        let s2 = TcpBackend::echo_named("s2");
        let fe = free_addr();
        let halo = Halo::start(
            STATS_CONFIG,
            &[
                ("FE", haproxy_addr(fe)),
                ("S1", s1.cfg_addr()),
                ("S2", s2.cfg_addr()),
            ],
        );
        let setup = StatsSetup {
            halo,
            fe,
            s1,
            _s2: s2,
        };
        assert!(
            wait_cli(&setup.sock(), READY_TIMEOUT),
            "stats socket not answering; stderr:\n{}",
            setup.halo.stderr_text()
        );
        setup
    }

    fn sock(&self) -> std::path::PathBuf {
        self.halo.dir().join("admin.sock")
    }

    fn cli(&self, cmd: &str) -> String {
        cli(&self.sock(), cmd).unwrap_or_else(|e| panic!("{cmd}: {e}"))
    }

    /// A command whose answer must be empty (success).
    fn cli_ok(&self, cmd: &str) {
        let out = self.cli(cmd);
        assert!(out.trim().is_empty(), "{cmd}: {out}");
    }

    /// Which servers 20 sequential requests reach.
    fn spread(&self) -> std::collections::BTreeMap<String, usize> {
        let names: Vec<String> = (0..20).map(|_| request(self.fe).unwrap()).collect();
        tally(&names)
    }

    fn only(&self, name: &str) -> std::collections::BTreeMap<String, usize> {
        std::collections::BTreeMap::from([(name.to_string(), 20)])
    }

    fn both(&self) -> std::collections::BTreeMap<String, usize> {
        std::collections::BTreeMap::from([("s1".to_string(), 10), ("s2".to_string(), 10)])
    }
}

/// `show stat` as (header, rows of fields).
fn parse_csv(out: &str) -> (String, Vec<Vec<String>>) {
    let mut lines = out.lines().filter(|l| !l.is_empty());
    let header = lines.next().unwrap_or_default().to_string();
    let rows = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    (header, rows)
}

fn stat_row<'a>(rows: &'a [Vec<String>], px: &str, sv: &str) -> &'a [String] {
    rows.iter()
        .find(|r| r[0] == px && r[1] == sv)
        .unwrap_or_else(|| panic!("no row {px}/{sv}"))
}

fn col(header: &str, name: &str) -> usize {
    header
        .trim_start_matches("# ")
        .split(',')
        .position(|c| c == name)
        .unwrap()
}

#[test]
fn cli_show_info() {
    let st = StatsSetup::start();
    let out = st.cli("show info");
    let mut keys = std::collections::HashMap::new();
    for line in out.lines().filter(|l| !l.is_empty()) {
        let (k, v) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("not a `Key: value` line: {line:?}"));
        keys.insert(k.to_string(), v.to_string());
    }
    assert!(keys.contains_key("Name"), "{out}");
    assert!(keys.contains_key("Version"), "{out}");
    assert_eq!(keys.get("Pid"), Some(&st.halo.pid().to_string()), "{out}");
    assert!(keys.contains_key("Uptime_sec"), "{out}");
    assert!(keys.contains_key("CurrConns"), "{out}");
}

#[test]
fn cli_show_stat_csv() {
    let st = StatsSetup::start();
    for _ in 0..4 {
        request(st.fe).unwrap();
    }
    let out = st.cli("show stat");
    let (header, rows) = parse_csv(&out);
    assert_eq!(header, STAT_HEADER_2_6);
    let ncols = header.split(',').count();
    for r in &rows {
        assert_eq!(
            r.len(),
            ncols,
            "row with {} columns: {}",
            r.len(),
            r.join(",")
        );
    }
    for (px, sv) in [
        ("ft", "FRONTEND"),
        ("bk", "s1"),
        ("bk", "s2"),
        ("bk", "BACKEND"),
    ] {
        stat_row(&rows, px, sv);
    }
    let stot = col(&header, "stot");
    assert_eq!(stat_row(&rows, "bk", "s1")[stot], "2");
    assert_eq!(stat_row(&rows, "bk", "s2")[stot], "2");
    assert_eq!(stat_row(&rows, "bk", "BACKEND")[stot], "4");
    assert_eq!(stat_row(&rows, "ft", "FRONTEND")[stot], "4");
    let status = col(&header, "status");
    assert_eq!(stat_row(&rows, "ft", "FRONTEND")[status], "OPEN");
    assert_eq!(stat_row(&rows, "bk", "BACKEND")[status], "UP");
}

#[test]
fn cli_disable_and_enable_server() {
    let st = StatsSetup::start();
    assert_eq!(st.spread(), st.both());
    st.cli_ok("disable server bk/s1");
    assert_eq!(st.spread(), st.only("s2"));
    let (header, rows) = parse_csv(&st.cli("show stat"));
    assert_eq!(stat_row(&rows, "bk", "s1")[col(&header, "status")], "MAINT");
    st.cli_ok("enable server bk/s1");
    assert_eq!(st.spread(), st.both());
}

#[test]
fn cli_set_server_weight() {
    let st = StatsSetup::start();
    st.cli_ok("set server bk/s1 weight 0");
    assert_eq!(st.spread(), st.only("s2"));
    let (header, rows) = parse_csv(&st.cli("show stat"));
    assert_eq!(stat_row(&rows, "bk", "s1")[col(&header, "weight")], "0");
    st.cli_ok("set server bk/s1 weight 1");
    assert_eq!(st.spread(), st.both());
}

#[test]
fn cli_set_server_state() {
    let st = StatsSetup::start();
    for (state, expect) in [
        ("maint", st.only("s2")),
        ("ready", st.both()),
        ("drain", st.only("s2")),
        ("ready", st.both()),
    ] {
        st.cli_ok(&format!("set server bk/s1 state {state}"));
        assert_eq!(st.spread(), expect, "after state {state}");
    }
}

#[test]
fn cli_show_servers_state() {
    let st = StatsSetup::start();
    st.cli_ok("set server bk/s1 weight 0");
    let out = st.cli("show servers state");
    let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.first(), Some(&"1"), "{out}");
    assert_eq!(lines.get(1), Some(&SERVERS_STATE_HEADER_2_6), "{out}");
    let ncols = SERVERS_STATE_HEADER_2_6.split(' ').count() - 1;
    let rows: Vec<Vec<&str>> = lines[2..].iter().map(|l| l.split(' ').collect()).collect();
    for r in &rows {
        assert_eq!(r.len(), ncols, "{r:?}");
    }
    let s1 = rows
        .iter()
        .find(|r| r[1] == "bk" && r[3] == "s1")
        .expect("bk/s1");
    let s2 = rows
        .iter()
        .find(|r| r[1] == "bk" && r[3] == "s2")
        .expect("bk/s2");
    assert_eq!(s1[5], "2", "srv_op_state of a running server");
    assert_eq!(s1[7], "0", "srv_uweight after weight 0");
    assert_eq!(s2[7], "1", "srv_uweight");
    assert_eq!(s1[18], st.s1.addr().port().to_string(), "srv_port");
    // Only one backend asked for.
    let only_bk = st.cli("show servers state bk");
    assert!(
        only_bk.contains(" s1 ") && only_bk.contains(" s2 "),
        "{only_bk}"
    );
}

#[test]
fn cli_several_commands_on_one_line() {
    let st = StatsSetup::start();
    let out = st.cli("show info;disable server bk/s1;show stat");
    assert!(out.contains("Name: "), "{out}");
    let csv = &out[out.find("# pxname").expect("show stat output")..];
    let (header, rows) = parse_csv(csv);
    assert_eq!(stat_row(&rows, "bk", "s1")[col(&header, "status")], "MAINT");
    assert_eq!(st.spread(), st.only("s2"));
}

/// Reads from an interactive CLI session until the prompt `\n> ` ends what
/// was read.
fn read_prompt(s: &mut UnixStream) -> String {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while !out.ends_with(b"> ") {
        assert!(
            Instant::now() < deadline,
            "no prompt: {:?}",
            String::from_utf8_lossy(&out)
        );
        match s.read(&mut chunk) {
            Ok(0) => panic!("closed: {:?}", String::from_utf8_lossy(&out)),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn cli_prompt_mode() {
    let st = StatsSetup::start();
    let mut s = UnixStream::connect(st.sock()).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(b"prompt\n").unwrap();
    assert_eq!(read_prompt(&mut s), "\n> ");
    s.write_all(b"show info\n").unwrap();
    let out = read_prompt(&mut s);
    assert!(out.starts_with("Name: "), "{out:?}");
    assert!(out.ends_with("\n\n> "), "{out:?}");
    s.write_all(b"set server bk/s1 weight 0\n").unwrap();
    assert_eq!(read_prompt(&mut s), "\n> ");
    // The session stayed open across commands, and they took effect.
    assert_eq!(st.spread(), st.only("s2"));
    s.write_all(b"quit\n").unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(
        rest.is_empty(),
        "after quit: {:?}",
        String::from_utf8_lossy(&rest)
    );
}
