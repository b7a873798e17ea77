//! `peers` sections (manual 3.5): the peers (`peer`, or `server` + `bind`), `disabled`,
//! `default-server`/`default-bind`, and the stick tables declared inside (`table`), which
//! become tables named `SECTION/NAME` synchronised with the section's peers.

use crate::diag::{Diags, Loc};
use crate::keywords::{SectionKind, Support};
use crate::model::{Config, Proxy, ProxyKind};
use crate::reader::Section;

/// One `peer` or `server` line.
#[derive(Debug, Clone)]
pub struct PeerDecl {
    pub name: String,
    /// `ADDR:PORT` as written (None for a `server` line without address: the local peer).
    pub addr: Option<String>,
    pub loc: Loc,
    /// `shard N`: receives only the updates of keys in shard N (0: all of them).
    pub shard: u32,
}

/// A `peers` section.
#[derive(Debug, Clone)]
pub struct PeersSection {
    pub name: String,
    pub loc: Loc,
    pub disabled: bool,
    pub peers: Vec<PeerDecl>,
    /// `bind ADDR:PORT` (the local peer's listener in the `server` form).
    pub bind: Option<(String, Loc)>,
    /// `shards N`: how many shards keys are spread over (0: none).
    pub shards: u32,
}

impl PeersSection {
    /// The address this process listens on for the section, as peer `local`.
    pub fn local_addr(&self, local: &str) -> Option<String> {
        let me = self.peers.iter().find(|p| p.name == local)?;
        me.addr
            .clone()
            .or_else(|| self.bind.as_ref().map(|(a, _)| a.clone()))
    }
}

fn valid_addr(a: &str) -> bool {
    a.rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0))
}

/// Parses a `peers` section into `cfg.peers`, adding its tables to `cfg.proxies`.
pub fn parse_peers(sec: &Section, cfg: &mut Config, diags: &mut Diags) {
    let Some(name) = sec.name().map(str::to_string) else {
        diags.alert(&sec.header.loc, "'peers' expects <name> as argument.");
        return;
    };
    if let Some(prev) = cfg.peers.iter().find(|p| p.name == name) {
        diags.alert(
            &sec.header.loc,
            format!(
                "peers section '{name}' has the same name as another peers section declared at {}.",
                prev.loc
            ),
        );
        return;
    }
    let mut ps = PeersSection {
        name: name.clone(),
        loc: sec.header.loc.clone(),
        disabled: false,
        peers: Vec::new(),
        bind: None,
        shards: 0,
    };
    for line in &sec.lines {
        let Some((kw, n, _)) = crate::parse::lookup(SectionKind::Peers, line, diags) else {
            continue;
        };
        if let Support::Planned(issue) = kw.support {
            crate::parse::pending(cfg, line, kw.name, issue);
            continue;
        }
        let args = &line.words[n..];
        match kw.name {
            "disabled" => ps.disabled = true,
            "enabled" => ps.disabled = false,
            "bind" => match args.first() {
                Some(a) if valid_addr(a) => ps.bind = Some((a.clone(), line.loc.clone())),
                _ => diags.alert(
                    &line.loc,
                    format!("'bind' : expects <addr:port> as argument in peers section '{name}'."),
                ),
            },
            "default-server" | "default-bind" => {
                options(kw.name, args, &line.loc, diags);
            }
            "shards" => match args.first().map(|v| v.parse::<u32>()) {
                Some(Ok(n)) => ps.shards = n,
                _ => diags.alert(&line.loc, "'shards' : expects a positive integer argument."),
            },
            "peer" | "server" => {
                let Some(pname) = args.first() else {
                    diags.alert(&line.loc, format!("'{}' : missing name for peer.", kw.name));
                    continue;
                };
                let addr = args.get(1).filter(|a| a.contains(':')).cloned();
                let opts = &args[if addr.is_some() { 2 } else { 1 }..];
                if kw.name == "peer" && addr.is_none() {
                    diags.alert(
                        &line.loc,
                        format!("'peer' : expects <name> and <addr:port> as arguments for peer '{pname}'."),
                    );
                    continue;
                }
                if let Some(a) = &addr
                    && !valid_addr(a)
                {
                    diags.alert(
                        &line.loc,
                        format!("'{}' : invalid address '{a}' for peer '{pname}'.", kw.name),
                    );
                    continue;
                }
                if ps.peers.iter().any(|p| &p.name == pname) {
                    diags.alert(
                        &line.loc,
                        format!(
                            "'{}' : peer '{pname}' is already declared in peers section '{name}'.",
                            kw.name
                        ),
                    );
                    continue;
                }
                let shard = options(kw.name, opts, &line.loc, diags);
                ps.peers.push(PeerDecl {
                    name: pname.clone(),
                    addr,
                    loc: line.loc.clone(),
                    shard,
                });
            }
            "table" => {
                let Some(tname) = args.first() else {
                    diags.alert(&line.loc, "'table' : missing table name.");
                    continue;
                };
                let full = format!("{name}/{tname}");
                if cfg.proxies.iter().any(|p| p.name == full) {
                    diags.alert(
                        &line.loc,
                        format!("'table' : stick-table name '{tname}' conflicts with another table in peers section '{name}'."),
                    );
                    continue;
                }
                let words = args[1..].to_vec();
                if let Err(e) = crate::stick::TableConf::parse(&words) {
                    diags.alert(&line.loc, format!("'table' : {e}."));
                    continue;
                }
                let mut words = words;
                words.extend(["peers".to_string(), name.clone()]);
                let mut p = Proxy::new(ProxyKind::Backend, full, line.loc.clone());
                p.stick_table = Some((words, line.loc.clone()));
                p.peers_table = true;
                cfg.proxies.push(p);
            }
            _ => {}
        }
    }
    cfg.peers.push(ps);
}

/// Options of `peer`/`server`/`default-*` lines: the `shard` number (returned, 0 without);
/// the others (TLS, …) are not used by halo's peers.
fn options(kw: &str, opts: &[String], loc: &Loc, diags: &mut Diags) -> u32 {
    let mut shard = 0;
    let mut i = 0;
    while i < opts.len() {
        match opts[i].as_str() {
            "shard" => {
                match opts.get(i + 1).map(|v| v.parse::<u32>()) {
                    Some(Ok(n)) => shard = n,
                    _ => diags.alert(
                        loc,
                        format!("'{kw}' : 'shard' expects an integer argument."),
                    ),
                }
                i += 2;
            }
            o => {
                diags.warning(
                    loc,
                    format!("'{kw}' : option '{o}' has no effect on halo's peers and is ignored."),
                );
                i += 1;
            }
        }
    }
    shard
}
