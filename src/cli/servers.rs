//! Runtime API commands that change a backend's set of servers: `add server B/S ADDR
//! [from ORIGIN] [options]`, `add server help` and `del server B/S`, answered in HAProxy's
//! words. The options are parsed by the configuration crate, as on a `server` line.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use halo_config::addr::Address;
use halo_config::model::CliLevel;

use crate::compile::Runtime;
use crate::server::{Backend, Server, ServerAddr, ServerInit};

/// Dispatches the commands of this file; None for the others.
pub fn execute(rt: &Runtime, level: CliLevel, w: &[&str]) -> Option<String> {
    let out = match w {
        ["add", "server", "help", ..] => add_server_help(),
        ["add", "server", target, rest @ ..] => add_server(rt, level, target, rest),
        ["add", "server"] => "Require 'backend/server'.\n\0".into(),
        ["del", "server", target, ..] => del_server(rt, level, target),
        ["del", "server"] => "Require 'backend/server'.\n\0".into(),
        _ => return None,
    };
    Some(out)
}

fn add_server_help() -> String {
    let mut o = String::new();
    for k in halo_config::keywords::SERVER_OPTIONS {
        if matches!(k.support, halo_config::keywords::Support::Done)
            && !halo_config::parse::NOT_DYNAMIC.contains(&k.name)
        {
            o.push_str(k.name);
            o.push('\n');
        }
    }
    o
}

/// The backend and server name of `B/S` for an admin-level command, or the answer
/// refusing it (haproxy 2.x ends these without a blank line).
fn backend_of<'a>(
    rt: &'a Runtime,
    level: CliLevel,
    target: &'a str,
) -> Result<(&'a Arc<Backend>, &'a str), String> {
    if level != CliLevel::Admin {
        return Err("Permission denied\n".into());
    }
    let Some((b, name)) = target.split_once('/') else {
        return Err("Require 'backend/server'.\n\0".into());
    };
    match rt.backend(b) {
        Some(be) => Ok((be, name)),
        None => Err("No such backend.\n\0".into()),
    }
}

/// `add server B/S ADDR [from ORIGIN] [options]` (admin level). Unlike HAProxy 2.x, the
/// server starts from the backend's `default-server` (`from none` starts from the
/// documented defaults) and takes traffic at once (`disabled` keeps it in maintenance);
/// its checks, when it has `check`, start at once.
fn add_server(rt: &Runtime, level: CliLevel, target: &str, args: &[&str]) -> String {
    let (be, name) = match backend_of(rt, level, target) {
        Ok(x) => x,
        Err(e) => return e,
    };
    if !be.accepts_dynamic_servers() {
        return "Backend must use a dynamic load balancing to support dynamic servers.\n\0".into();
    }
    if name.is_empty() || args.is_empty() {
        return "'server' expects <name> and <addr>[:<port>] as arguments.\n".into();
    }
    if be.find_server(name).is_some() {
        return "Already exists a server with the same name in backend.\n".into();
    }
    let words: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let origin = |o: &str| origin_settings(rt, be, o);
    let cfg = match halo_config::parse::parse_dynamic_server(
        &be.name,
        name,
        &words,
        be.settings.default_server.clone(),
        &origin,
    ) {
        Ok(c) => c,
        Err(e) => return format!("{e}\n"),
    };
    let id = match cfg.id {
        Some(0) => return "'id' : custom id has to be > 0.\n".into(),
        Some(id) => {
            if let Some(other) = be.servers.iter().find(|s| s.id == id) {
                return format!(
                    "'id' : custom id {id} already used at {} ('server {}').\n",
                    if other.dynamic {
                        "(null):0".to_string()
                    } else {
                        other.cfg.loc.to_string()
                    },
                    other.name
                );
            }
            id
        }
        // After the highest id ever given in the backend (deleted servers included).
        None => {
            (0..be.servers.slots())
                .map(|i| be.servers[i].id)
                .max()
                .unwrap_or(0)
                + 1
        }
    };
    // `track`: a server of the configuration, never another dynamic one.
    let tracked = match &cfg.track {
        None => None,
        Some((tb, ts)) => {
            let tb_name = tb.as_deref().unwrap_or(&be.name);
            let found = rt
                .backend(tb_name)
                .and_then(|tbe| tbe.find_server(ts).map(|(_, s)| (tbe.clone(), s.clone())));
            match found {
                None => {
                    return format!(
                        "unable to find required server '{tb_name}/{ts}' for tracking.\n"
                    );
                }
                Some((_, t)) if t.dynamic => {
                    return format!(
                        "unable to use {tb_name}/{ts} for tracking as it is a dynamic server.\n"
                    );
                }
                Some(x) => Some(x),
            }
        }
    };
    let Some(Address::Inet { ip, port, .. }) = &cfg.address else {
        return "only IP addresses and host names are supported as server addresses.\n".into();
    };
    // As HAProxy: a dynamic server's name is not resolved (`init-addr none`); it waits in
    // maintenance for `set server B/S addr`.
    let (ip, unresolved) = match ip {
        Some(ip) => (*ip, false),
        None => (std::net::IpAddr::from([0, 0, 0, 0]), true),
    };
    let port = *port;
    let (tls, sni) = match crate::compile::server_tls(
        &rt.global,
        &cfg,
        be.settings.mode == halo_config::model::Mode::Http,
        false,
    ) {
        Ok(t) => t,
        Err(e) => return format!("{e}\n"),
    };
    let sni = match sni {
        Some(text) => {
            let current = rt.backend_index(&be.name).unwrap_or(0);
            let names = RuntimeNames { rt, current };
            match crate::sample::Expr::parse(&text, &names) {
                Ok(e) => Some(e),
                Err(e) => return format!("'sni' : {e}.\n"),
            }
        }
        None => None,
    };
    let check = cfg.check;
    let agent = cfg.agent.enabled;
    let srv = be.add_server(|index| {
        Server::new(ServerInit {
            cfg,
            id,
            index,
            backend_name: be.name.clone(),
            addr: ServerAddr { ip, port },
            unresolved,
            backend_source: be.settings.source.clone(),
            pool_conn_name: None,
            dynamic: true,
            tls,
            sni,
        })
    });
    if let Some((_, t)) = tracked {
        follow(be, &srv, &t);
    }
    if let Some(settings) = rt.check_settings.get() {
        if check {
            crate::server::check::spawn_check(be, srv.index, 0, settings, rt.quiet);
        }
        if agent {
            crate::server::check::agent::spawn_agent(
                be,
                srv.index,
                0,
                settings.spread_pct,
                rt.quiet,
            );
        }
    }
    crate::server::note_availability(be, rt.quiet);
    "New server registered.\n".into()
}

/// The settings `from ORIGIN` names (see `halo_config::parse::Origin`), among the running
/// backends.
fn origin_settings(
    rt: &Runtime,
    be: &Backend,
    o: &str,
) -> Result<Option<halo_config::model::Server>, String> {
    let backend = |b: &str| -> Result<Arc<Backend>, String> {
        let name = if b.is_empty() { &*be.name } else { b };
        rt.backend(name)
            .cloned()
            .ok_or_else(|| format!("'from' : no backend '{name}'."))
    };
    use halo_config::parse::Origin;
    match Origin::parse(o) {
        Origin::Defaults => Ok(None),
        Origin::DefaultServer(b) => Ok(backend(b)?.settings.default_server.clone()),
        Origin::Server(b, s) => {
            let ob = backend(b)?;
            match ob.find_server(s) {
                Some((_, srv)) => Ok(Some(srv.cfg.clone())),
                None => Err(format!("'from' : no server '{s}' in '{}'.", ob.name)),
            }
        }
    }
}

/// A new server tracking `t`: it follows t's state from now on.
fn follow(be: &Arc<Backend>, srv: &Arc<Server>, t: &Arc<Server>) {
    let _ = srv.links.tracked.set(t.clone());
    if let Ok(mut g) = t.links.trackers.lock() {
        g.push((Arc::downgrade(be), srv.index));
    }
    let r = t.check_ref();
    srv.health.store(r.health.load(Relaxed), Relaxed);
    srv.nolb.store(t.nolb.load(Relaxed), Relaxed);
    crate::server::set_operational(be, srv.index, t.up.load(Relaxed));
    if t.admin() == crate::server::Admin::Maint {
        srv.links.maint_via.store(true, Relaxed);
    }
    be.weights_changed();
}

/// `del server B/S` (admin level): removes a server in maintenance that nothing else
/// names and that holds no connection.
fn del_server(rt: &Runtime, level: CliLevel, target: &str) -> String {
    // (haproxy 2.x ends none of these answers with a blank line.)
    let (be, name) = match backend_of(rt, level, target) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let Some((idx, _)) = be.find_server(name) else {
        return "No such server.\n\0".into();
    };
    match be.delete_server(idx) {
        Some(why) => format!("{why}\n\0"),
        None => {
            crate::server::note_availability(be, rt.quiet);
            "Server deleted.\n\0".into()
        }
    }
}

/// Names a sample expression of `add server` may use (`sni`): the running proxies.
struct RuntimeNames<'a> {
    rt: &'a Runtime,
    current: usize,
}

impl crate::sample::Resolver for RuntimeNames<'_> {
    fn backend(&self, name: &str) -> Option<usize> {
        self.rt.backend_index(name)
    }
    fn frontend(&self, name: &str) -> Option<usize> {
        let i = *self.rt.by_name.get(name)?;
        self.rt.proxies[i].frontend.is_some().then_some(i)
    }
    fn current(&self) -> Option<usize> {
        Some(self.current)
    }
    fn registry(&self) -> Option<&crate::pattern::Registry> {
        Some(&self.rt.registry)
    }
}
