//! `option external-check`: the check is a program (`external-check command`) run with
//! the proxy's and the server's addresses as arguments and HAProxy's `HAPROXY_*`
//! environment (cleared first unless `external-check preserve-env`; `PATH` from
//! `external-check path`); exit status 0 passes. Bounded by `timeout check` (else
//! `inter`): a program still running then is killed.

use std::time::Duration;

use super::super::Backend;

/// What the checks of a backend run.
#[derive(Debug, Clone)]
pub struct ExternalCheck {
    pub command: String,
    pub path: String,
    pub preserve_env: bool,
    /// The first listener's address and port ("NOT_USED" in a backend).
    pub proxy_addr: String,
    pub proxy_port: String,
    pub proxy_id: u32,
}

/// Runs the program once for server `idx`: (status, exit code, info).
pub async fn run(
    be: &Backend,
    idx: usize,
    x: &ExternalCheck,
    limit_ms: u64,
) -> (&'static str, Option<u32>, String) {
    use std::sync::atomic::Ordering::Relaxed;
    let srv = &be.servers[idx];
    let target = srv.addr.target(0);
    let (addr, port) = (target.ip().to_string(), target.port().to_string());
    let mut cmd = tokio::process::Command::new(&x.command);
    cmd.args([&x.proxy_addr, &x.proxy_port, &addr, &port]);
    if !x.preserve_env {
        cmd.env_clear();
    }
    let env_addr = if x.proxy_addr == "NOT_USED" {
        ""
    } else {
        &x.proxy_addr
    };
    let env_port = if x.proxy_port == "NOT_USED" {
        ""
    } else {
        &x.proxy_port
    };
    cmd.env("PATH", &x.path)
        .env("HAPROXY_PROXY_ADDR", env_addr)
        .env("HAPROXY_PROXY_ID", x.proxy_id.to_string())
        .env("HAPROXY_PROXY_NAME", &*be.name)
        .env("HAPROXY_PROXY_PORT", env_port)
        .env("HAPROXY_SERVER_ADDR", &addr)
        .env("HAPROXY_SERVER_CURCONN", srv.cur.load(Relaxed).to_string())
        .env("HAPROXY_SERVER_ID", srv.id.to_string())
        .env(
            "HAPROXY_SERVER_MAXCONN",
            srv.maxconn.load(Relaxed).to_string(),
        )
        .env("HAPROXY_SERVER_NAME", &srv.name)
        .env("HAPROXY_SERVER_PORT", &port)
        .env(
            "HAPROXY_SERVER_PROTO",
            if be.settings.mode == halo_config::model::Mode::Http {
                "h1"
            } else {
                "tcp"
            },
        )
        .env("HAPROXY_SERVER_SSL", "0")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return ("PROCERR", None, format!("cannot run '{}': {e}", x.command)),
    };
    match tokio::time::timeout(Duration::from_millis(limit_ms.max(1)), child.wait()).await {
        Ok(Ok(st)) if st.success() => ("PROCOK", Some(0), String::new()),
        Ok(Ok(st)) => ("PROCERR", st.code().map(|c| c as u32), String::new()),
        Ok(Err(e)) => ("PROCERR", None, e.to_string()),
        Err(_) => {
            let _ = child.kill().await;
            ("PROCTOUT", None, String::new())
        }
    }
}
