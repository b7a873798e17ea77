//! The resolution pass: every cross-reference of the model is checked (backends, tracked
//! servers, stick tables, map and pattern files, modes) and ALL problems are reported, each
//! naming the line of the reference and, where it helps, the line of the thing referred to.

use std::collections::HashMap;

use crate::diag::{Diags, Loc};
use crate::model::*;

pub fn check(cfg: &Config, diags: &mut Diags) {
    let mut backends: HashMap<&str, &Proxy> = HashMap::new();
    let mut frontends: HashMap<&str, &Proxy> = HashMap::new();
    let mut all: HashMap<&str, &Proxy> = HashMap::new();
    for p in &cfg.proxies {
        if p.kind.is_backend() {
            backends.insert(&p.name, p);
        }
        if p.kind.is_frontend() {
            frontends.insert(&p.name, p);
        }
        all.entry(&p.name).or_insert(p);
    }
    let mut ids: HashMap<u32, &Proxy> = HashMap::new();
    for p in &cfg.proxies {
        if let Some(id) = p.id
            && let Some(other) = ids.insert(id, p)
        {
            diags.alert(
                &p.loc,
                format!(
                    "{} '{}' uses id {id}, already used by {} '{}' at {}.",
                    p.kind.name(),
                    p.name,
                    other.kind.name(),
                    other.name,
                    other.loc
                ),
            );
        }
    }
    for p in &cfg.proxies {
        check_proxy(p, &backends, &all, diags);
        check_userlist_refs(cfg, p, diags);
        check_error_pages(p, cfg, diags);
        check_cookie_capture(cfg, p, diags);
        check_cookie_mode(p, diags);
        check_sync_peers(cfg, p, diags);
        check_resolvers(cfg, p, diags);
        check_external(cfg, p, diags);
    }
    check_tracks(cfg, &backends, diags);
    check_rings(cfg, diags);
}

/// Every `log ring@NAME` names a `ring` section.
fn check_rings(cfg: &Config, diags: &mut Diags) {
    use crate::logs::{LogSink, ProxyLog};
    let proxies = cfg
        .proxies
        .iter()
        .flat_map(|p| p.settings.logging.targets.iter());
    let forwards = cfg.log_forwards.iter().flat_map(|f| f.logs.iter());
    let targets = cfg
        .global
        .logs
        .iter()
        .chain(proxies.chain(forwards).filter_map(|t| match t {
            ProxyLog::Target(t) => Some(t),
            ProxyLog::Global(_) => None,
        }));
    for t in targets {
        if let LogSink::Ring(name) = &t.sink
            && name != "buf0"
            && !cfg.rings.iter().any(|r| &r.name == name)
        {
            diags.alert(
                &t.loc,
                format!("'log' : cannot find ring buffer '{name}' (no 'ring {name}' section)."),
            );
        }
    }
}

/// `server … resolvers NAME` names a `resolvers` section (HAProxy's message; `layer7`
/// observation in a TCP proxy is ignored, with its warning).
fn check_resolvers(cfg: &Config, p: &Proxy, diags: &mut Diags) {
    for s in &p.servers {
        if let Some(r) = &s.resolvers
            && !cfg.resolvers.iter().any(|x| &x.name == r)
        {
            diags.alert(
                &s.loc,
                format!(
                    "{} '{}', server '{}': unable to find required resolvers '{r}'",
                    // HAProxy's type word: "proxy" for a `listen`.
                    if p.kind == crate::model::ProxyKind::Listen {
                        "proxy"
                    } else {
                        "backend"
                    },
                    p.name,
                    s.name
                ),
            );
        }
        if s.observe == crate::model::Observe::Layer7 && p.settings.mode != crate::model::Mode::Http
        {
            diags.warning(
                &s.loc,
                format!(
                    "'server {}/{}' : 'layer7' can only be used in http proxies.",
                    p.name, s.name
                ),
            );
        }
    }
}

/// `option external-check` needs `external-check` in global (and, HAProxy warns,
/// `insecure-fork-wanted`), in HAProxy 2.6's words.
fn check_external(cfg: &Config, p: &Proxy, diags: &mut Diags) {
    if !p.kind.is_backend() || p.settings.option("external-check") != Some(true) {
        return;
    }
    if !cfg.global.insecure_fork_wanted {
        diags.warning(
            &p.loc,
            format!(
                "Proxy '{}' : 'insecure-fork-wanted' not enabled in the global section, 'option external-check' will likely fail.",
                p.name
            ),
        );
    }
    if cfg.global.external_check.is_none() {
        diags.alert(
            &p.loc,
            format!(
                "Proxy '{}' : 'option external-check' unable to find required 'global.external-check'.",
                p.name
            ),
        );
    }
}

/// `track`: the tracked server must exist and be checked (or track another one), and
/// chains must not loop. As HAProxy, servers are resolved in configuration order and a
/// loop is reported on the server that closes it, in HAProxy 2.6's words.
fn check_tracks(cfg: &Config, backends: &HashMap<&str, &Proxy>, diags: &mut Diags) {
    // Resolved links: (proxy name, server name) -> (proxy name, server name).
    let mut links: HashMap<(&str, &str), (&str, &str)> = HashMap::new();
    for p in &cfg.proxies {
        for srv in &p.servers {
            let Some((tb, ts)) = &srv.track else {
                continue;
            };
            let who = format!("'server {}/{}'", p.name, srv.name);
            if srv.check {
                diags.alert(
                    &srv.loc,
                    format!("{who} : unable to enable checks and tracking at the same time!"),
                );
                continue;
            }
            let tp = match tb {
                Some(b) => backends.get(b.as_str()).copied(),
                None => Some(p),
            };
            let Some(tp) = tp else {
                diags.alert(
                    &srv.loc,
                    format!(
                        "{who} : unable to find required proxy '{}' for tracking.",
                        tb.as_deref().unwrap_or("")
                    ),
                );
                continue;
            };
            let Some(t) = tp.servers.iter().find(|s| &s.name == ts) else {
                diags.alert(
                    &srv.loc,
                    format!("{who} : unable to find required server '{ts}' for tracking."),
                );
                continue;
            };
            if !t.check && t.track.is_none() {
                diags.alert(
                    &srv.loc,
                    format!(
                        "{who} : unable to use {}/{} for tracking as it does not have any check nor agent enabled.",
                        tp.name, t.name
                    ),
                );
                continue;
            }
            let me = (p.name.as_str(), srv.name.as_str());
            let target = (tp.name.as_str(), t.name.as_str());
            let mut cur = Some(target);
            let mut steps = 0;
            while let Some(c) = cur
                && c != me
                && steps <= links.len()
            {
                cur = links.get(&c).copied();
                steps += 1;
            }
            if cur == Some(me) {
                // HAProxy names the server closing the loop with the tracked proxy's name.
                diags.alert(
                    &srv.loc,
                    format!(
                        "{who} : unable to track {}/{} as it belongs to a tracking chain looping back to {}/{}.",
                        tp.name, t.name, tp.name, srv.name
                    ),
                );
                continue;
            }
            links.insert(me, target);
        }
    }
}

/// `stick-table … peers NAME` names a `peers` section.
fn check_sync_peers(cfg: &Config, p: &Proxy, diags: &mut Diags) {
    let Some((words, loc)) = &p.stick_table else {
        return;
    };
    if let Some(name) = words
        .iter()
        .position(|w| w == "peers")
        .and_then(|i| words.get(i + 1))
        && !cfg.peers.iter().any(|s| &s.name == name)
    {
        diags.alert(
            loc,
            format!("Proxy '{}': unable to find sync peers '{name}'.", p.name),
        );
    }
}

/// Cookie persistence in a backend that is not in HTTP mode is ignored, as HAProxy 2.6
/// warns once the configuration is read.
fn check_cookie_mode(p: &Proxy, diags: &mut Diags) {
    if !p.kind.is_backend() || p.settings.mode == Mode::Http {
        return;
    }
    if p.settings.cookie.is_some() {
        diags.global_warning(format!(
            "cookie will be ignored for proxy '{}' (needs 'mode http').",
            p.name
        ));
    }
    for srv in p.servers.iter().filter(|srv| srv.cookie.is_some()) {
        diags.global_warning(format!(
            "proxy '{}' : ignoring cookie for server '{}' as HTTP mode is disabled.",
            p.name, srv.name
        ));
    }
}

/// `capture cookie … len N` longer than `tune.http.cookielen` is cut to it; HAProxy 2.6
/// says so once the whole configuration is read, without a line.
fn check_cookie_capture(cfg: &Config, p: &Proxy, diags: &mut Diags) {
    let max = cfg.global.tune_http_cookielen;
    let too_long = p.rules.iter().any(|r| {
        r.keyword == "capture cookie"
            && r.args
                .get(2)
                .and_then(|l| l.parse::<usize>().ok())
                .is_some_and(|l| l > max)
    });
    if too_long {
        diags.global_warning(format!(
            "truncating capture length to {max} bytes for frontend '{}'.",
            p.name
        ));
    }
}

/// `http_auth(L)` and `http_auth_group(L)` must name a `userlist`; an ACL on
/// `http_auth_group(L)` matches the user's groups, so its patterns must be groups of L.
fn check_userlist_refs(cfg: &Config, p: &Proxy, diags: &mut Diags) {
    let refs = |words: &[String], loc: &Loc, diags: &mut Diags| {
        for w in words {
            for (fetch, name) in crate::userlist::userlist_refs(w) {
                if name.is_empty() {
                    diags.alert(
                        loc,
                        format!(
                            "missing userlist name in arg 1 of '{fetch}' in {} '{}'.",
                            p.kind.name(),
                            p.name
                        ),
                    );
                } else if cfg.userlist(&name).is_none() {
                    diags.alert(
                        loc,
                        format!(
                            "unable to find userlist '{name}' referenced in arg 1 of '{fetch}' in {} '{}'.",
                            p.kind.name(),
                            p.name
                        ),
                    );
                }
            }
        }
    };
    for acl in &p.acls {
        refs(&acl.words, &acl.loc, diags);
        auth_group_acl(cfg, &acl.name, &acl.words, &acl.loc, diags);
    }
    for rule in &p.rules {
        refs(&rule.args, &rule.loc, diags);
        for words in anonymous_acls(&rule.cond) {
            refs(words, &rule.loc, diags);
            auth_group_acl(cfg, "", words, &rule.loc, diags);
        }
    }
    for ub in &p.use_backends {
        refs(std::slice::from_ref(&ub.backend), &ub.loc, diags);
        for words in anonymous_acls(&ub.cond) {
            refs(words, &ub.loc, diags);
            auth_group_acl(cfg, "", words, &ub.loc, diags);
        }
    }
}

fn anonymous_acls(cond: &Option<Condition>) -> impl Iterator<Item = &Vec<String>> {
    cond.iter()
        .flat_map(|c| c.alternatives.iter().flatten())
        .filter_map(|t| match &t.acl {
            AclRef::Anonymous(words) => Some(words),
            AclRef::Named(_) => None,
        })
}

/// An ACL whose criterion is `http_auth_group(L)`: its patterns are group names of L
/// (HAProxy: "invalid group", "no groups specified").
fn auth_group_acl(cfg: &Config, acl: &str, words: &[String], loc: &Loc, diags: &mut Diags) {
    let Some(args) = words
        .first()
        .and_then(|c| c.strip_prefix("http_auth_group("))
    else {
        return;
    };
    let Some((name, rest)) = args.split_once(')') else {
        return;
    };
    let Some(ul) = cfg.userlist(name.trim()) else {
        return;
    };
    let what = if acl.is_empty() {
        String::from("anonymous acl")
    } else {
        format!("acl '{acl}'")
    };
    let mut i = 1;
    let mut files = false;
    let mut method = false;
    while i < words.len() {
        match words[i].as_str() {
            "-f" => {
                files = true;
                i += 1;
            }
            "-m" => {
                method = true;
                i += 1;
            }
            "-u" => i += 1,
            "-i" | "-n" | "-M" => {}
            "--" => {
                i += 1;
                break;
            }
            _ => break,
        }
        i += 1;
    }
    if !rest.is_empty() || method {
        diags.alert(
            loc,
            format!(
                "{what} : http_auth_group({}) matches the groups of the user: it takes neither converters nor '-m' (no groups specified).",
                ul.name
            ),
        );
        return;
    }
    let groups = words.get(i..).unwrap_or_default();
    if groups.is_empty() && !files {
        diags.alert(
            loc,
            format!(
                "{what} : http_auth_group({}) : no groups specified.",
                ul.name
            ),
        );
    }
    for g in groups {
        if ul.group(g).is_none() {
            diags.alert(
                loc,
                format!(
                    "{what} : http_auth_group({}) : invalid group '{g}' (userlist '{}' declared at {}).",
                    ul.name, ul.name, ul.loc
                ),
            );
        }
    }
}

/// `errorfiles NAME`, `http-error ... errorfiles NAME` and `deny`/`tarpit`/`return ...
/// errorfiles NAME` must name an `http-errors` section; codes asked for by name and
/// missing from it are worth a warning (HAProxy's default page is used).
fn check_error_pages(p: &Proxy, cfg: &Config, diags: &mut Diags) {
    for d in &p.settings.error_pages {
        let ErrorPageKind::Import { section, codes } = &d.what else {
            continue;
        };
        match cfg.http_errors(section) {
            None => diags.alert(
                &d.loc,
                format!(
                    "proxy '{}': unknown http-errors section '{section}'.",
                    p.name
                ),
            ),
            Some(h) => {
                for c in codes {
                    if h.page(*c).is_none() {
                        diags.warning(
                            &d.loc,
                            format!(
                                "proxy '{}' : status '{c}' not declared in http-errors section '{section}'.",
                                p.name
                            ),
                        );
                    }
                }
            }
        }
    }
    for rule in &p.rules {
        let res = match rule.keyword.as_str() {
            "http-request" => false,
            "http-response" => true,
            _ => continue,
        };
        let Some(action) = rule.args.first() else {
            continue;
        };
        let mut status = match (action.as_str(), res) {
            ("deny", false) => 403,
            ("deny", true) => 502,
            ("tarpit", _) => 500,
            ("return", _) => 200,
            _ => continue,
        };
        let mut section = None;
        let mut it = rule.args.iter().skip(1);
        while let Some(w) = it.next() {
            match w.as_str() {
                "status" | "deny_status" => {
                    if let Some(v) = it.next().and_then(|v| v.parse().ok()) {
                        status = v;
                    }
                }
                "errorfiles" => section = it.next(),
                _ => {}
            }
        }
        let Some(section) = section else {
            continue;
        };
        match cfg.http_errors(section) {
            None => diags.alert(
                &rule.loc,
                format!(
                    "proxy '{}': unknown http-errors section '{section}' referenced by an http reply.",
                    p.name
                ),
            ),
            Some(h) if h.page(status).is_none() => diags.warning(
                &rule.loc,
                format!(
                    "proxy '{}': status '{status}' referenced by an http reply not declared in http-errors section '{section}'.",
                    p.name
                ),
            ),
            Some(_) => {}
        }
    }
}

fn backend_ref(
    from: &Proxy,
    name: &str,
    loc: &Loc,
    what: &str,
    backends: &HashMap<&str, &Proxy>,
    all: &HashMap<&str, &Proxy>,
    diags: &mut Diags,
) {
    match backends.get(name) {
        Some(b) => {
            if from.settings.mode == Mode::Http && b.settings.mode == Mode::Tcp {
                diags.alert(
                    loc,
                    format!(
                        "{what} : {} '{}' is in mode http and cannot use backend '{name}' declared in mode tcp at {}.",
                        from.kind.name(),
                        from.name,
                        b.loc
                    ),
                );
            }
        }
        None => match all.get(name) {
            Some(f) => diags.alert(
                loc,
                format!(
                    "{what} : '{name}' is a frontend (declared at {}), not a backend.",
                    f.loc
                ),
            ),
            None => diags.alert(
                loc,
                format!("{what} : unable to find required backend '{name}'."),
            ),
        },
    }
}

fn check_proxy(
    p: &Proxy,
    backends: &HashMap<&str, &Proxy>,
    all: &HashMap<&str, &Proxy>,
    diags: &mut Diags,
) {
    let s = &p.settings;
    for us in &p.use_servers {
        if !us.server.contains("%[") && !p.servers.iter().any(|v| v.name == us.server) {
            diags.alert(
                &us.loc,
                format!(
                    "proxy '{}' : unable to find server '{}' referenced in a 'use-server' rule.",
                    p.name, us.server
                ),
            );
        }
    }
    if p.kind.is_frontend() {
        if let Some((b, loc)) = &s.default_backend {
            backend_ref(p, b, loc, "default_backend", backends, all, diags);
        }
        for ub in &p.use_backends {
            if !ub.backend.contains("%[") {
                backend_ref(p, &ub.backend, &ub.loc, "use_backend", backends, all, diags);
            }
        }
        if p.binds.is_empty() && !s.disabled {
            diags.warning(
                &p.loc,
                format!(
                    "{} '{}' has no 'bind' directive. Please declare it as a backend if this was intended.",
                    p.kind.name(),
                    p.name
                ),
            );
        }
    }
    let t = &s.timeouts;
    if !s.disabled
        && !p.peers_table
        && ((p.kind.is_frontend() && t.client.is_none())
            || (p.kind.is_backend() && (t.connect.is_none() || t.server.is_none())))
    {
        diags.warning(
            &p.loc,
            format!(
                "missing timeouts for {} '{}'. While not properly invalid, you will certainly encounter various problems with such a configuration. To fix this, please ensure that all following timeouts are set to a non-zero value: 'client', 'connect', 'server'.",
                p.kind.name(),
                p.name
            ),
        );
    }
    // Stick tables referenced with `table NAME` or as fetch arguments; `stick` rules
    // without `table` use the proxy's own.
    for rule in &p.rules {
        let mut refs: Vec<String> = Vec::new();
        if rule.keyword.starts_with("stick ") && !rule.args.iter().any(|a| a == "table") {
            refs.push(p.name.clone());
        }
        let mut it = rule.args.iter().peekable();
        while let Some(w) = it.next() {
            if w == "table"
                && let Some(n) = it.peek()
            {
                refs.push((*n).clone());
            }
            collect_table_args(w, &mut refs);
        }
        if let Some(c) = &rule.cond {
            for alt in &c.alternatives {
                for term in alt {
                    if let AclRef::Anonymous(words) = &term.acl {
                        for w in words {
                            collect_table_args(w, &mut refs);
                        }
                    }
                }
            }
        }
        for r in refs {
            table_ref(&r, &rule.loc, all, diags);
        }
        check_files(&rule.args, &rule.loc, diags);
    }
    for acl in &p.acls {
        let mut refs = Vec::new();
        for w in &acl.words {
            collect_table_args(w, &mut refs);
        }
        for r in refs {
            table_ref(&r, &acl.loc, all, diags);
        }
        check_files(&acl.words, &acl.loc, diags);
    }
    for ub in &p.use_backends {
        check_files(std::slice::from_ref(&ub.backend), &ub.loc, diags);
    }
}

fn table_ref(name: &str, loc: &Loc, all: &HashMap<&str, &Proxy>, diags: &mut Diags) {
    match all.get(name) {
        Some(t) if t.stick_table.is_some() => {}
        Some(t) => diags.alert(
            loc,
            format!(
                "stick-table reference '{name}' : {} '{name}' (declared at {}) has no 'stick-table'.",
                t.kind.name(),
                t.loc
            ),
        ),
        None => diags.alert(
            loc,
            format!("unable to find stick-table '{name}': no proxy of that name."),
        ),
    }
}

/// Fetches whose (first or second) argument names a table: `src_*(T)`, `table_*(T)`,
/// `sc_*(N,T)`.
fn collect_table_args(word: &str, out: &mut Vec<String>) {
    let mut rest = word;
    while let Some(open) = rest.find('(') {
        let head = &rest[..open];
        let fname = head
            .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .next()
            .unwrap_or("");
        let after = &rest[open + 1..];
        let close = after.find(')').unwrap_or(after.len());
        let mut args: Vec<&str> = after[..close].split(',').collect();
        // The array fetches (`sc_get_gpc(<idx>,<ctr>,T)`, `src_gpc_rate(<idx>,T)`…) take
        // the element's index first.
        let array = ["get_gpc", "gpc_rate", "get_gpt", "inc_gpc", "clr_gpc"]
            .iter()
            .any(|s| fname.ends_with(s));
        if array && (fname.starts_with("src_") || fname.starts_with("sc_")) && !args.is_empty() {
            args.remove(0);
        }
        let table = if fname.starts_with("src_") || fname.starts_with("table_") {
            args.first().copied()
        } else if fname.starts_with("sc_") {
            args.get(1).copied()
        } else {
            None
        };
        if let Some(t) = table {
            let t = t.trim();
            if !t.is_empty() && t.parse::<u64>().is_err() {
                out.push(t.to_string());
            }
        }
        rest = &after[close.min(after.len())..];
    }
}

/// Map files (`map*(FILE…)`) and pattern files (`-f FILE`) must exist.
fn check_files(words: &[String], loc: &Loc, diags: &mut Diags) {
    let mut prev_f = false;
    for w in words {
        if prev_f {
            file_exists(w, loc, "pattern file", diags);
        }
        prev_f = w == "-f";
        let mut rest = w.as_str();
        while let Some(pos) = rest.find("map") {
            let tail = &rest[pos..];
            let Some(open) = tail.find('(') else { break };
            let fname = &tail[..open];
            let valid = fname == "map"
                || (fname.starts_with("map_")
                    && fname[4..]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_'));
            let before_ok = pos == 0
                || !rest[..pos]
                    .chars()
                    .last()
                    .map(|c| c.is_ascii_alphanumeric() || c == '_')
                    .unwrap_or(false);
            if valid && before_ok {
                let args = &tail[open + 1..];
                let end = args.find([',', ')']).unwrap_or(args.len());
                let file = args[..end].trim_matches('"');
                if !file.is_empty() {
                    file_exists(file, loc, "map file", diags);
                }
            }
            rest = &tail[open + 1..];
        }
    }
}

fn file_exists(path: &str, loc: &Loc, what: &str, diags: &mut Diags) {
    if std::fs::metadata(path).is_err() {
        diags.alert(loc, format!("failed to open {what} '{path}'."));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_args() {
        let mut v = Vec::new();
        collect_table_args("src_http_req_rate(ft_web)", &mut v);
        collect_table_args("sc_get_gpc0(1,other)", &mut v);
        collect_table_args("src_get_gpc0", &mut v);
        collect_table_args("sc_get_gpc(1,0,arr)", &mut v);
        collect_table_args("src_gpc_rate(1,arr2)", &mut v);
        collect_table_args("src,table_http_req_rate(t3)", &mut v);
        assert_eq!(v, vec!["ft_web", "other", "arr", "arr2", "t3"]);
    }
}
