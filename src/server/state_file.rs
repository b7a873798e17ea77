//! Server states carried across reloads: reads the files `show servers state` wrote
//! (`server-state-file`, `server-state-base`, `load-server-state-from-file`,
//! `server-state-file-name`) and applies each line to the server of the same backend and
//! name at start-up, with HAProxy 2.6's rules and warnings. Nothing read here can stop
//! the start: a bad file or line is reported and left out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use halo_config::addr::PortSpec;
use halo_config::diag::{Diags, Loc};
use halo_config::model::{Global, LoadServerState, ProxySettings};

use super::{Admin, Backend};
use crate::stats::now_sec;

/// Fields of a version 1 line: at least `be_id` … `srvrecord`, at most up to
/// `srv_agent_port` (more are ignored, as HAProxy does).
const MIN_FIELDS: usize = 20;
const MAX_FIELDS: usize = 25;

/// One line of a state file about a server: its place in the file and its fields after
/// `srv_name` (`srv_addr` first).
#[derive(Debug, Clone)]
pub struct Entry {
    pub loc: Loc,
    params: Vec<String>,
}

impl Entry {
    /// `srv_addr`, the address `init-addr last` takes.
    pub fn last_addr(&self) -> Option<IpAddr> {
        self.params.first().and_then(|a| a.parse().ok())
    }
    fn param(&self, i: usize) -> Option<&str> {
        self.params.get(i).map(String::as_str)
    }
}

/// The lines of one file that were read, with their fields split.
struct Lines {
    path: Arc<str>,
    lines: Vec<(usize, Vec<String>)>,
}

/// The entries of the global `server-state-file`, by backend and server name (the first
/// line about a server wins, as in HAProxy).
#[derive(Default)]
pub struct StateFiles {
    global: HashMap<(String, String), Entry>,
}

/// `name` under `server-state-base` unless absolute.
fn file_path(g: &Global, name: &str) -> PathBuf {
    match &g.server_state_base {
        Some(base) if !name.starts_with('/') => PathBuf::from(base).join(name),
        _ => PathBuf::from(name),
    }
}

/// The OS error as strerror() words it.
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Reads a state file: its version line must be `1`; a line with the wrong number of
/// fields makes the whole file ignored (HAProxy 2.6 applies none of it either).
/// `who` starts the messages: "config: … global …" or "Proxy 'B': …".
fn read(path: PathBuf, global: bool, who: &str, diags: &mut Diags) -> Option<Lines> {
    let what = if global {
        "global server state file"
    } else {
        "server state file"
    };
    let shown = path.display().to_string();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            let end = if global { "" } else { "." };
            diags.global_warning(format!(
                "{who}Can't open {what} '{shown}': {}{end}",
                io_reason(&e)
            ));
            return None;
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut it = text.split_inclusive('\n');
    // As strtol: blanks, a sign and digits, then the end of the line; only version 1.
    let version_ok = it.next().is_some_and(|first| {
        let v = first.strip_suffix('\n').unwrap_or(first);
        let digits = v
            .trim_start_matches([' ', '\t'])
            .trim_start_matches(['+', '-']);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && strtol(v) == Some(1)
    });
    if !version_ok {
        diags.global_warning(format!("{who}Can't get version of the {what} '{shown}'."));
        return None;
    }
    let file: Arc<str> = Arc::from(shown.as_str());
    let mut lines = Vec::new();
    for (i, raw) in it.enumerate() {
        let lineno = i + 2;
        let body = raw.trim_end_matches(['\n', '\r']);
        let t = body.trim_start_matches([' ', '\t']);
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let fields: Vec<String> = t
            .split([' ', '\t'])
            .filter(|f| !f.is_empty())
            .take(MAX_FIELDS)
            .map(str::to_string)
            .collect();
        if fields.len() < MIN_FIELDS {
            diags.warning(
                &Loc::new(&file, lineno),
                format!("{who}corrupted {what} '{shown}' at line {lineno}."),
            );
            return None;
        }
        lines.push((lineno, fields));
    }
    Some(Lines { path: file, lines })
}

impl StateFiles {
    /// Reads the global `server-state-file` when a backend loads it.
    pub fn load(g: &Global, proxies: &[halo_config::model::Proxy], diags: &mut Diags) -> Self {
        let mut st = StateFiles::default();
        let Some(name) = &g.server_state_file else {
            return st;
        };
        let wanted = proxies.iter().any(|p| {
            p.kind.is_backend()
                && p.settings.load_server_state == Some(LoadServerState::Global)
                && !p.servers.is_empty()
        });
        if !wanted {
            return st;
        }
        let Some(lines) = read(file_path(g, name), true, "", diags) else {
            return st;
        };
        for (lineno, mut f) in lines.lines {
            let params = f.split_off(4);
            st.global
                .entry((f[1].clone(), f[3].clone()))
                .or_insert(Entry {
                    loc: Loc::new(&lines.path, lineno),
                    params,
                });
        }
        st
    }

    /// The entries for the servers of backend `name` (id `id`), by server name: from the
    /// global file, or from its own file (`local`), whose lines about another backend
    /// are checked as HAProxy does (an id mismatch is reported and applied, a name
    /// mismatch reported and left out).
    pub fn for_backend(
        &self,
        g: &Global,
        name: &str,
        id: u32,
        s: &ProxySettings,
        servers: &[halo_config::model::Server],
        diags: &mut Diags,
    ) -> HashMap<String, Entry> {
        let mut out = HashMap::new();
        if servers.is_empty() {
            return out;
        }
        match s.load_server_state {
            Some(LoadServerState::Global) => {
                for srv in servers {
                    if let Some(e) = self.global.get(&(name.to_string(), srv.name.clone())) {
                        out.insert(srv.name.clone(), e.clone());
                    }
                }
                out
            }
            Some(LoadServerState::Local) => {
                let file = s.server_state_file_name.as_deref().unwrap_or(name);
                let who = format!("Proxy '{name}': ");
                let Some(lines) = read(file_path(g, file), false, &who, diags) else {
                    return out;
                };
                for (lineno, mut f) in lines.lines {
                    let loc = Loc::new(&lines.path, lineno);
                    let same_id = f[0].parse::<i64>().ok() == Some(i64::from(id));
                    let same_name = f[1] == name;
                    if !same_id && !same_name {
                        continue;
                    } else if !same_id {
                        diags.warning(
                            &loc,
                            format!(
                                "Proxy '{name}': backend ID mismatch: from server state file: '{}', from running config '{id}'",
                                f[0]
                            ),
                        );
                    } else if !same_name {
                        // HAProxy 2.6 means to keep the line when the old backend had a
                        // forced id, but its test never succeeds: the line is left out.
                        diags.warning(
                            &loc,
                            format!(
                                "Proxy '{name}': backend name mismatch: from server state file: '{}', from running config '{name}'",
                                f[1]
                            ),
                        );
                        continue;
                    }
                    let params = f.split_off(4);
                    let srv = f.swap_remove(3);
                    if servers.iter().any(|s| s.name == srv) {
                        out.entry(srv).or_insert(Entry { loc, params });
                    } else {
                        diags.warning(
                            &loc,
                            format!(
                                "Proxy '{name}': can't find server '{srv}' in backend '{name}'"
                            ),
                        );
                    }
                }
                out
            }
            _ => out,
        }
    }
}

/// C's strtol: leading blanks, a sign and digits, trailing characters ignored; None
/// without digits or out of range.
fn strtol(s: &str) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t']);
    let (neg, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let n = rest.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 {
        return None;
    }
    let v: i64 = rest[..n].parse().ok()?;
    Some(if neg { -v } else { v })
}

/// The status name of HAProxy's check status number (`status_number` reversed).
fn check_status_name(n: i64) -> Option<&'static str> {
    [
        "INI", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP",
        "HANA", "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK",
    ]
    .into_iter()
    .find(|s| i64::from(super::check::status_number(s)) == n)
}

/// HAProxy's check state flags (`srv_check_state`, `srv_agent_state`).
const CHK_CONFIGURED: i64 = 0x2;
const CHK_ENABLED: i64 = 0x4;
const CHK_ALL: i64 = 0x1f;

/// The values of a line, checked as HAProxy checks them.
struct Values {
    op: i64,
    admin: i64,
    uweight: u32,
    iweight: u32,
    since_change: i64,
    check_status: i64,
    check_state: i64,
    agent_state: i64,
    port: Option<u16>,
}

/// Checks a line's values; Err lists what is wrong (", invalid … value '…'").
fn validate(e: &Entry) -> Result<Values, String> {
    let mut msg = String::new();
    let p = |i: usize| e.param(i).unwrap_or("");
    let mut num = |i: usize, name: &str, ok: &dyn Fn(i64) -> bool| -> i64 {
        match strtol(p(i)) {
            Some(v) if ok(v) => v,
            _ => {
                msg.push_str(&format!(", invalid {name} value '{}'", p(i)));
                0
            }
        }
    };
    let op = num(1, "srv_op_state", &|v| (0..=3).contains(&v));
    // Inherited states (drain and maintenance through `track`, resolution) and the
    // runtime FQDN flag are recomputed, not read.
    let admin = num(2, "srv_admin_state", &|v| {
        matches!(v & !(0x10 | 0x02 | 0x20 | 0x40), 0 | 1 | 4 | 5 | 12 | 8)
    }) & !(0x10 | 0x02 | 0x20 | 0x40);
    let uweight = num(3, "srv_uweight", &|v| (0..=256).contains(&v)) as u32;
    let iweight = num(4, "srv_iweight", &|v| (0..=256).contains(&v)) as u32;
    let since_change = num(5, "srv_last_time_change", &|_| true);
    let check_status = num(6, "srv_check_status", &|v| (0..=26).contains(&v));
    num(7, "srv_check_result", &|v| (0..=4).contains(&v));
    num(8, "srv_check_health", &|_| true);
    let check_state = num(9, "srv_check_state", &|v| v & !CHK_ALL == 0);
    let agent_state = num(10, "srv_agent_state", &|v| v & !CHK_ALL == 0);
    num(11, "bk_f_forced_id", &|v| v == 0 || v == 1);
    num(12, "srv_f_forced_id", &|v| v == 0 || v == 1);
    let fqdn = p(13);
    if !fqdn.starts_with('-')
        && (fqdn.len() > 255
            || !fqdn
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')))
    {
        msg.push_str(&format!(", invalid srv_fqdn value '{fqdn}'"));
    }
    // The port: leading digits, as strl2uic reads them.
    let port_text = p(14);
    let digits: String = port_text
        .bytes()
        .take_while(u8::is_ascii_digit)
        .map(char::from)
        .collect();
    let port = match digits.parse::<u64>() {
        _ if digits.is_empty() => Some(0),
        Ok(v) if v <= 65535 => Some(v as u16),
        _ => {
            msg.push_str(&format!(", invalid srv_port value '{port_text}'"));
            None
        }
    };
    if msg.is_empty() {
        Ok(Values {
            op,
            admin,
            uweight,
            iweight,
            since_change,
            check_status,
            check_state,
            agent_state,
            port,
        })
    } else {
        Err(msg)
    }
}

/// Applies the entries to the servers of `be` (just built, nothing running yet), with
/// HAProxy's messages as configuration warnings.
pub fn apply(be: &Backend, entries: &HashMap<String, Entry>, diags: &mut Diags) {
    if entries.is_empty() {
        return;
    }
    for srv in be.servers.iter() {
        let Some(e) = entries.get(&srv.name) else {
            continue;
        };
        let v = match validate(e) {
            Ok(v) => v,
            Err(msg) => {
                diags.warning(
                    &e.loc,
                    format!(
                        "server-state application failed for server '{}/{}'{msg}",
                        be.name, srv.name
                    ),
                );
                continue;
            }
        };
        let name = format!("{}/{}", be.name, srv.name);
        let (rise, fall) = (srv.cfg.rise.max(1), srv.cfg.fall.max(1));
        let file_health = e
            .param(8)
            .and_then(strtol)
            .unwrap_or(0)
            .clamp(0, i64::from(u32::MAX)) as u32;
        // Operational state: DOWN stays DOWN until the checks say otherwise.
        let mut went_down = false;
        match v.op {
            0 => went_down = true,
            1 if rise > 1 => {
                let h = if file_health < 1 || file_health >= rise {
                    rise - 1
                } else {
                    file_health
                };
                srv.health.store(h, Relaxed);
                srv.start_ramp();
            }
            3 if fall == 1 => went_down = true,
            3 => {
                let h = if file_health < rise || file_health > rise + fall - 2 {
                    rise
                } else {
                    file_health
                };
                srv.health.store(h, Relaxed);
                srv.nolb.store(true, Relaxed);
                let (a, b) = be.usable_counts();
                diags.global_warning(format!(
                    "Server {name} is stopping, changed from server-state after a reload. {a} active and {b} backup servers online. 0 sessions requeued, 0 total in queue."
                ));
            }
            _ => srv.health.store(rise + fall - 1, Relaxed),
        }
        if went_down {
            srv.health.store(0, Relaxed);
            srv.up.store(false, Relaxed);
            srv.down_since.store(now_sec(), Relaxed);
            let (a, b) = be.usable_counts();
            diags.global_warning(format!(
                "Server {name} is DOWN, changed from server-state after a reload. {a} active and {b} backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
            ));
        }
        // Administrative state: when the configuration's `disabled` changed, it wins;
        // otherwise the maintenance forced at run time is kept, and so is a forced drain
        // (unless it only came from a weight of 0 that the configuration has changed).
        let cfg_maint = srv.cfg.disabled;
        let file_cmaint = v.admin & 0x4 != 0;
        let maint = if file_cmaint != cfg_maint {
            cfg_maint
        } else {
            v.admin & 0x1 != 0
        };
        let drain = !maint && v.admin & 0x8 != 0 && (v.iweight > 0 || srv.cfg.weight == 0);
        let admin = if maint {
            Admin::Maint
        } else if drain {
            Admin::Drain
        } else {
            Admin::Ready
        };
        srv.admin.store(admin as u8, Relaxed);
        if maint {
            // HAProxy brings a server leaving maintenance back UP (its checks decide
            // from there): kept UP underneath, as a server put in maintenance is.
            srv.up.store(true, Relaxed);
            srv.down_since.store(0, Relaxed);
            srv.health
                .store(if srv.cfg.check { rise } else { 0 }, Relaxed);
        } else if cfg_maint {
            let word = if srv.up.load(Relaxed) {
                "UP/READY"
            } else {
                "DOWN"
            };
            diags.global_warning(format!(
                "Server {name} is {word} (leaving forced maintenance)."
            ));
        }
        if drain {
            diags.global_warning(format!("Server {name} remains in forced drain mode."));
        }
        srv.last_change.store(
            (now_sec() as i64).saturating_sub(v.since_change).max(0) as u64,
            Relaxed,
        );
        if srv.cfg.check
            && let Some(st) = check_status_name(v.check_status)
            && let Ok(mut c) = srv.check.lock()
        {
            c.status = st;
            c.reported = st;
            c.desc = super::check::status_desc(st).to_string();
        }
        // `disable health` / `disable agent` are kept.
        if srv.cfg.check && v.check_state & CHK_CONFIGURED != 0 && v.check_state & CHK_ENABLED == 0
        {
            srv.check_off.store(true, Relaxed);
        }
        if srv.agent.configured
            && v.agent_state & CHK_CONFIGURED != 0
            && v.agent_state & CHK_ENABLED == 0
        {
            srv.agent.enabled.store(false, Relaxed);
        }
        // The weight set at run time, unless the configured one changed.
        if v.iweight == srv.cfg.weight {
            srv.uweight.store(v.uweight, Relaxed);
        }
        // The port set at run time (`set server … addr … port …`); the address comes
        // back through `init-addr last` (servers named by a host name).
        if let (Some(port), PortSpec::Fixed(_)) = (v.port, srv.addr.get().port) {
            let mut a = srv.addr.get();
            a.port = PortSpec::Fixed(port);
            srv.addr.set(a);
        }
        // `set server … check-port`, `agent-addr`, `agent-port`.
        if srv.cfg.check
            && let Some(p) = e.param(17).and_then(strtol)
            && (1..=65535).contains(&p)
            && Some(p as u16) != srv.cfg.check_port
        {
            srv.check_port_rt.store(p as u32, Relaxed);
        }
        if srv.agent.configured {
            if let Some(ip) = e.param(19).and_then(|a| a.parse::<IpAddr>().ok())
                && let Ok(mut g) = srv.agent.addr.lock()
            {
                *g = Some(ip);
            }
            if let Some(p) = e.param(20).and_then(strtol)
                && (1..=65535).contains(&p)
            {
                srv.agent.port.store(p as u32, Relaxed);
            }
        }
    }
    be.weights_changed();
    let (a, b) = be.usable_counts();
    be.was_available.store(a + b > 0, Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtol_as_c() {
        assert_eq!(strtol("12"), Some(12));
        assert_eq!(strtol(" -3x"), Some(-3));
        assert_eq!(strtol("x"), None);
        assert_eq!(strtol(""), None);
    }

    #[test]
    fn check_status_names_round_trip() {
        assert_eq!(check_status_name(8), Some("L4CON"));
        assert_eq!(check_status_name(15), Some("L7OK"));
        assert_eq!(check_status_name(99), None);
    }

    fn entry(line: &str) -> Entry {
        let f: Vec<String> = line.split(' ').map(str::to_string).collect();
        Entry {
            loc: Loc::none(),
            params: f[4..].to_vec(),
        }
    }

    #[test]
    fn validation_names_each_bad_value() {
        let ok = entry("2 bk 1 s1 127.0.0.1 2 12 1 1 0 1 0 2 6 0 0 0 - 80 - 0 0 - - 0");
        let v = validate(&ok).ok();
        assert!(v.is_some_and(|v| v.admin == 12 && v.port == Some(80)));
        let bad = entry("2 bk 1 s1 127.0.0.1 7 9 300 1 0 1 0 2 6 0 0 0 - 80 - 0 0 - - 0");
        assert_eq!(
            validate(&bad).err().unwrap_or_default(),
            ", invalid srv_op_state value '7', invalid srv_admin_state value '9', invalid srv_uweight value '300'"
        );
    }
}
