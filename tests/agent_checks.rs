//! Agent checks (`agent-check`, `agent-port`, `agent-send`, `agent-inter`, `agent-addr`):
//! the agent's answer sets weight, maxconn, admin state and agent health; `show stat`,
//! `show servers state` and the runtime API report them as HAProxy 2.6 does.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;

/// A scripted agent: answers every connection with `reply`, records what it received.
struct Agent {
    addr: SocketAddr,
    reply: Arc<Mutex<String>>,
    got: Arc<Mutex<Vec<u8>>>,
}

impl Agent {
    fn start(reply: &str) -> Agent {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let reply = Arc::new(Mutex::new(reply.to_string()));
        let got = Arc::new(Mutex::new(Vec::new()));
        let (r, g) = (reply.clone(), got.clone());
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { continue };
                let (r, g) = (r.clone(), g.clone());
                std::thread::spawn(move || {
                    let _ = c.set_read_timeout(Some(Duration::from_millis(20)));
                    let mut buf = [0u8; 512];
                    if let Ok(n) = c.read(&mut buf) {
                        g.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                    let text = r.lock().unwrap().clone();
                    let _ = c.write_all(text.as_bytes());
                });
            }
        });
        Agent { addr, reply, got }
    }

    fn set(&self, reply: &str) {
        *self.reply.lock().unwrap() = reply.to_string();
    }
}

fn start(agent: &Agent, web: &TcpBackend) -> (Halo, PathBuf) {
    let fe = free_addr();
    let cfg = "global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen fe
    bind \"${FE}\"
    server s1 \"${WEB}\" check inter 200 weight 10 agent-check agent-port \"${AP}\" agent-inter 100 agent-send \"hello\\n\"
    server s2 \"${WEB}\" check inter 200
    server s3 \"${WEB}\" agent-check agent-addr 127.0.0.1 agent-port \"${AP}\" agent-inter 300
";
    let h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("WEB", haproxy_addr(web.addr())),
            ("AP", agent.addr.port().to_string()),
        ],
    );
    let sock = h.dir().join("admin.sock");
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    (h, sock)
}

/// `show stat` fields of a server, by column name.
fn stat(sock: &std::path::Path, srv: &str) -> std::collections::HashMap<String, String> {
    let out = cli(sock, "show stat").unwrap();
    let mut lines = out.lines();
    let head: Vec<String> = lines
        .next()
        .unwrap_or("")
        .trim_start_matches("# ")
        .split(',')
        .map(String::from)
        .collect();
    let line = lines
        .find(|l| l.starts_with(&format!("fe,{srv},")))
        .unwrap_or("")
        .to_string();
    // Fields may be quoted ("a, b").
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    fields.push(cur);
    head.into_iter().zip(fields).collect()
}

fn servers_state(sock: &std::path::Path, srv: &str) -> Vec<String> {
    cli(sock, "show servers state")
        .unwrap()
        .lines()
        .find(|l| l.split(' ').nth(3) == Some(srv))
        .unwrap_or("")
        .split(' ')
        .map(String::from)
        .collect()
}

fn wait_stat(
    sock: &std::path::Path,
    srv: &str,
    f: impl Fn(&std::collections::HashMap<String, String>) -> bool,
) -> bool {
    let ok = wait_until(Duration::from_secs(5), || f(&stat(sock, srv)));
    if !ok {
        eprintln!("{srv}: {:?}", stat(sock, srv));
    }
    ok
}

#[test]
fn agent_answer_sets_weight_state_and_admin() {
    let agent = Agent::start("up 50%\n");
    let web = TcpBackend::echo_named("web");
    let (_h, sock) = start(&agent, &web);
    assert!(wait_stat(&sock, "s1", |s| s["weight"] == "5"
        && s["last_agt"] == "via agent : up"
        && s["agent_status"] == "L7OK"));
    let s1 = stat(&sock, "s1");
    assert_eq!(s1["agent_code"], "0");
    assert_eq!(s1["agent_desc"], "Layer7 check passed");
    assert_eq!(
        (&*s1["agent_rise"], &*s1["agent_fall"], &*s1["agent_health"]),
        ("1", "1", "1")
    );
    // 50% of weight 1 is 0.
    assert!(wait_stat(&sock, "s3", |s| s["weight"] == "0"
        && s["status"] == "no check"));
    // Only servers with an agent have agent columns.
    let s2 = stat(&sock, "s2");
    assert_eq!(s2["agent_status"], "");
    assert_eq!(s2["agent_rise"], "");
    assert!(String::from_utf8_lossy(&agent.got.lock().unwrap()).contains("hello\n"));
    let st = servers_state(&sock, "s1");
    assert_eq!(st[14], "22", "srv_agent_state: {st:?}");
    assert_eq!((&*st[23], &*st[24]), ("-", &*agent.addr.port().to_string()));
    let st = servers_state(&sock, "s3");
    assert_eq!(st[23], "127.0.0.1");
    let st = servers_state(&sock, "s2");
    assert_eq!((&*st[14], &*st[23], &*st[24]), ("0", "-", "0"));

    agent.set("stopped  #  planned stop\n");
    assert!(wait_stat(&sock, "s1", |s| s["status"] == "DOWN (agent)"
        && s["last_agt"] == "via agent : stopped (planned stop)"
        && s["agent_status"] == "L7STS"
        && s["agent_desc"] == "Layer7 wrong status"
        && s["agent_health"] == "0"));
    assert!(wait_stat(&sock, "s3", |s| s["status"] == "DOWN (agent)"));
    assert_eq!(servers_state(&sock, "s1")[5], "0");

    // A description with a comma: quoted in the CSV.
    agent.set("down # a, b\n");
    assert!(wait_until(Duration::from_secs(5), || cli(
        &sock,
        "show stat"
    )
    .unwrap()
    .contains("\"via agent : down (a, b)\"")));

    agent.set("foo up\n");
    assert!(wait_stat(&sock, "s1", |s| s["status"] == "UP"
        && s["last_agt"] == "via agent : up (foo)"));

    agent.set("drain\n");
    assert!(wait_stat(&sock, "s1", |s| s["status"] == "DRAIN (agent)"
        && s["agent_status"] == "CHECKED"
        && s["agent_desc"] == "No status change"
        && s["agent_code"].is_empty()
        && s["last_agt"].is_empty()));
    assert_eq!(servers_state(&sock, "s1")[6], "8");

    agent.set("maint\n");
    assert!(wait_stat(&sock, "s1", |s| s["status"] == "MAINT"
        && s["check_status"].is_empty()));
    let st = servers_state(&sock, "s1");
    assert_eq!((&*st[5], &*st[6], &*st[13]), ("0", "1", "14"), "{st:?}");

    agent.set("ready maxconn:30 300%\n");
    assert!(wait_stat(&sock, "s1", |s| s["status"] == "UP"
        && s["slim"] == "30"
        && s["weight"] == "30"));

    agent.set("bogus weight:20\n");
    assert!(wait_stat(&sock, "s1", |s| s["last_agt"]
        == "agent reports an error : bogus"));
    agent.set("50%x\n");
    assert!(wait_stat(&sock, "s1", |s| s["last_agt"]
        == "agent warns : Trailing garbage in weight string"
        && s["weight"] == "30"));
    agent.set("maxconn:x\n");
    assert!(wait_stat(&sock, "s1", |s| s["last_agt"]
        == "agent warns : maxconn string empty or preceded by garbage"));
    agent.set("");
    assert!(wait_stat(&sock, "s3", |s| s["last_agt"]
        == "TCPCHK got an empty response at step 2"
        && s["agent_status"] == "L7RSP"));
    assert!(wait_stat(&sock, "s1", |s| s["last_agt"]
        == "TCPCHK got an empty response at step 2"));
    agent.set("up");
    assert!(wait_stat(&sock, "s3", |s| s["last_agt"]
        == "Ignoring incomplete line from agent"));
}

#[test]
fn agent_runtime_commands() {
    let agent = Agent::start("up\n");
    let web = TcpBackend::echo_named("web");
    let (_h, sock) = start(&agent, &web);
    assert!(wait_stat(&sock, "s1", |s| s["agent_status"] == "L7OK"
        && s["status"] == "UP"));
    for (cmd, answer) in [
        (
            "enable agent fe/s2",
            "Agent was not configured on this server, cannot enable.\n\n",
        ),
        ("disable agent fe/s2", "\n"),
        (
            "set server fe/s2 agent up",
            "agent checks are not enabled on this server.\n\n",
        ),
        (
            "set server fe/s1 agent bogus",
            "'set server <srv> agent' expects 'up' or 'down'.\n\n",
        ),
        (
            "set server fe/s1 agent-addr",
            "set server <b>/<s> agent-addr requires an address and optionally a port.\n\n",
        ),
        (
            "set server fe/s1 agent-addr bogus",
            "invalid addr 'bogus'\n",
        ),
        (
            "set server fe/s2 agent-addr 127.0.0.2",
            "agent checks are not enabled on this server\n",
        ),
        (
            "set server fe/s1 agent-port",
            "set server <b>/<s> agent-port requires a port.\n\n",
        ),
        (
            "set server fe/s1 agent-port 70000",
            "provided port is invalid\n",
        ),
        (
            "set server fe/s1 agent-port abc",
            "provided port is not an integer\n",
        ),
        (
            "set server fe/s2 agent-port 1",
            "agent checks are not enabled on this server\n",
        ),
        (
            "set server fe/s2 agent-send hi",
            "agent checks are not enabled on this server.\n\n",
        ),
        ("set server fe/s1 agent-send bye", "\n"),
        ("disable agent fe/nope", "No such server.\n\n"),
    ] {
        assert_eq!(cli(&sock, cmd).unwrap(), answer, "{cmd}");
    }
    assert!(wait_until(Duration::from_secs(5), || {
        String::from_utf8_lossy(&agent.got.lock().unwrap()).contains("bye")
    }));
    // The agent's verdict forced from the CLI (until the agent's next answer).
    agent.set("\n");
    assert_eq!(cli(&sock, "set server fe/s1 agent down").unwrap(), "\n");
    assert_eq!(stat(&sock, "s1")["status"], "DOWN (agent)");
    assert_eq!(cli(&sock, "set server fe/s1 agent up").unwrap(), "\n");
    assert_eq!(stat(&sock, "s1")["status"], "UP");
    // Moved to a closed port: the agent fails, the server stays up.
    let closed = free_port();
    assert_eq!(
        cli(&sock, &format!("set server fe/s1 agent-port {closed}")).unwrap(),
        "\n"
    );
    assert!(wait_stat(&sock, "s1", |s| s["agent_status"] == "L4CON"
        && s["last_agt"] == "Connection refused"
        && s["agent_desc"] == "Layer4 connection problem"
        && s["status"] == "UP"));
    assert_eq!(servers_state(&sock, "s1")[24], closed.to_string());
    // Paused: no agent columns, state 18, no port change accepted.
    assert_eq!(cli(&sock, "disable agent fe/s1").unwrap(), "\n");
    let s1 = stat(&sock, "s1");
    assert_eq!((&*s1["agent_status"], &*s1["agent_health"]), ("", ""));
    assert!(matches!(&*servers_state(&sock, "s1")[14], "18" | "19"));
    assert_eq!(
        cli(&sock, "set server fe/s1 agent-port 1").unwrap(),
        "agent checks are not enabled on this server\n"
    );
    assert_eq!(cli(&sock, "enable agent fe/s1").unwrap(), "\n");
    assert!(matches!(&*servers_state(&sock, "s1")[14], "22" | "23"));
}

#[test]
fn agent_without_port_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("h.cfg");
    std::fs::write(
        &cfg,
        "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nlisten a\n  bind 127.0.0.1:0\n  server s1 127.0.0.1:1 agent-check\n",
    )
    .unwrap();
    let out = run_bin(
        &["-c".into(), "-f".into(), cfg.into_os_string()],
        &[],
        Duration::from_secs(10),
    );
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains(
            "'server a/s1' : server s1 does not have agent port. Agent check has been disabled."
        ),
        "{text}"
    );
}
