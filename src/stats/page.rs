//! The stats page of a proxy (`stats enable`, `uri`, `auth`, `admin`…): HAProxy's HTML
//! report — one table per proxy with the same columns, row classes and admin form, so the
//! scrapers written for HAProxy's page keep working — plus a small live chart of request
//! rate and response time per backend; the `;csv`, `;json`, `;up`, `;no-maint`,
//! `;norefresh` variants; and the admin actions its form posts.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use halo_config::Diags;
use halo_config::model::{CliLevel, StatsPage as StatsModel};
use halo_config::userlist::{Password, User, Userlist as UserlistModel};

use crate::compile::Runtime;
use crate::http::h1::Head;
use crate::http::rules::Answer;
use crate::stats::csv::{self, Filter, Obj, Row};
use crate::stats::now_sec;

/// The stats page of one proxy, compiled.
#[derive(Debug)]
pub struct StatsPage {
    uri: Vec<u8>,
    pub realm: Vec<u8>,
    /// `stats auth` users (None: no authentication asked by `stats auth`).
    pub users: Option<Arc<crate::auth::Userlist>>,
    refresh: Option<u64>,
    scope: Vec<String>,
    show_version: bool,
    show_legends: bool,
    node: Option<String>,
    desc: Option<String>,
}

/// The options a request gives after the page's URI.
#[derive(Debug, Default)]
struct Options {
    csv: bool,
    json: bool,
    typed: bool,
    no_refresh: bool,
    filter: Filter,
    /// `;st=XXX`: the result of the last admin action.
    status: Option<String>,
    /// `?scope=TEXT` of the page's form: proxies whose name contains it.
    scope: Option<String>,
}

impl StatsPage {
    pub fn compile(
        m: &StatsModel,
        global: &halo_config::model::Global,
        diags: &mut Diags,
    ) -> StatsPage {
        let users = (!m.users.is_empty()).then(|| {
            let list = UserlistModel {
                name: "stats-auth".into(),
                loc: m.loc.clone(),
                groups: Vec::new(),
                users: m
                    .users
                    .iter()
                    .map(|(u, p)| User {
                        name: u.clone(),
                        loc: m.loc.clone(),
                        password: Password::Insecure(p.clone()),
                        group_names: Vec::new(),
                        groups: Vec::new(),
                    })
                    .collect(),
            };
            Arc::new(crate::auth::Userlist::build(&list, diags))
        });
        let node = m.show_node.as_ref().map(|n| {
            n.clone()
                .or_else(|| global.node.clone())
                .unwrap_or_else(crate::runtime::hostname)
        });
        let desc = m
            .show_desc
            .as_ref()
            .and_then(|d| d.clone().or_else(|| global.description.clone()));
        StatsPage {
            uri: m.uri.as_bytes().to_vec(),
            realm: m.realm.as_bytes().to_vec(),
            users,
            refresh: m.refresh,
            scope: m.scope.clone(),
            show_version: m.show_version,
            show_legends: m.show_legends,
            node,
            desc,
        }
    }

    /// Whether the request is for this page: its URI starts with `stats uri`.
    pub fn matches(&self, head: &Head) -> bool {
        head.uri().starts_with(&self.uri)
    }

    fn options(&self, head: &Head) -> Options {
        let rest = head.uri().get(self.uri.len()..).unwrap_or_default();
        let rest = String::from_utf8_lossy(rest);
        let mut o = Options::default();
        for part in rest.split(';').skip(1) {
            let word = part.split(['?', '&', '#']).next().unwrap_or_default();
            match word {
                "csv" => o.csv = true,
                "json" => o.json = true,
                "typed" => o.typed = true,
                "norefresh" => o.no_refresh = true,
                "up" => o.filter.up_only = true,
                "no-maint" => o.filter.no_maint = true,
                w if w.starts_with("st=") => o.status = Some(w[3..].to_string()),
                _ => {}
            }
        }
        if let Some(i) = rest.find("scope=") {
            let v = &rest[i + 6..];
            let v = v.split(['&', ';', '#']).next().unwrap_or_default();
            let v = url_decode(v.as_bytes());
            if !v.is_empty() {
                o.scope = Some(v);
            }
        }
        o
    }

    /// Whether proxy `name` is within `stats scope` (and the form's scope).
    fn in_scope(&self, name: &str, form: Option<&str>) -> bool {
        (self.scope.is_empty() || self.scope.iter().any(|s| s == name))
            && form.is_none_or(|f| name.to_ascii_lowercase().contains(&f.to_ascii_lowercase()))
    }

    /// The answer to a request for the page; `admin`: `stats admin` allows changes;
    /// `body`: the request's body (a POST of the admin form).
    pub fn serve(&self, rt: &Runtime, head: &Head, body: &[u8], admin: bool) -> Answer {
        let o = self.options(head);
        if head.method() == b"POST" {
            let st = if admin {
                self.admin_post(rt, body)
            } else {
                "DENY"
            };
            let mut location = self.uri.clone();
            location.extend_from_slice(b";st=");
            location.extend_from_slice(st.as_bytes());
            let mut h = b"HTTP/1.1 303 See Other\r\ncache-control: no-cache\r\ncontent-type: text/plain\r\ncontent-length: 0\r\nlocation: ".to_vec();
            h.extend_from_slice(&location);
            h.extend_from_slice(b"\r\n");
            return Answer {
                status: 303,
                head: h,
                body: Vec::new(),
            };
        }
        if !matches!(head.method(), b"GET" | b"HEAD") {
            return Answer::page(405);
        }
        let form_scope = o.scope.as_deref();
        let mut rows: Vec<Row> = csv::rows(rt, &|n| self.in_scope(n, form_scope))
            .into_iter()
            .filter(|r| o.filter.keeps(r))
            .collect();
        // Addresses, cookies and algorithms are shown with `stats show-legends` only.
        if !self.show_legends {
            for r in &mut rows {
                for c in ["addr", "cookie", "algo"] {
                    r.set(c, "");
                }
            }
        }
        let refresh = self.refresh.filter(|_| !o.no_refresh);
        let (ctype, body) = if o.csv {
            let mut out = String::from(csv::HEADER);
            out.push('\n');
            for r in &rows {
                r.write(&mut out);
            }
            ("text/plain", out)
        } else if o.json {
            ("application/json", crate::stats::typed::render_json(&rows))
        } else if o.typed {
            ("text/plain", crate::stats::typed::render_typed(&rows))
        } else {
            ("text/html", self.html(rt, &rows, &o, admin))
        };
        let mut h = String::from("HTTP/1.1 200 OK\r\ncache-control: no-cache\r\n");
        let _ = write!(h, "content-type: {ctype}\r\n");
        if let Some(r) = refresh
            && !o.csv
        {
            let _ = write!(h, "refresh: {r}\r\n");
        }
        let _ = write!(h, "content-length: {}\r\n", body.len());
        Answer {
            status: 200,
            head: h.into_bytes(),
            body: body.into_bytes(),
        }
    }

    /// Applies the admin form (`s=SERVER`…, `action=…`, `b=#IID`) through the runtime
    /// API's commands; the result word HAProxy puts in `;st=`.
    fn admin_post(&self, rt: &Runtime, body: &[u8]) -> &'static str {
        let (mut backend, mut action, mut servers) = (None, None, Vec::new());
        for pair in body.split(|&c| c == b'&') {
            let (k, v) = match pair.iter().position(|&c| c == b'=') {
                Some(i) => (&pair[..i], url_decode(&pair[i + 1..])),
                None => continue,
            };
            match k {
                b"b" => backend = Some(v),
                b"action" => action = Some(v),
                b"s" => servers.push(v),
                _ => {}
            }
        }
        let action = action.unwrap_or_default();
        if action.is_empty() || servers.is_empty() {
            return "NONE";
        }
        let Some(b) = backend else {
            return "ERRP";
        };
        let px = match b.strip_prefix('#') {
            Some(id) => id
                .parse::<u32>()
                .ok()
                .and_then(|id| rt.proxies.iter().find(|p| p.id == id)),
            None => rt.proxies.iter().find(|p| p.name == b),
        };
        let Some(px) = px.filter(|p| p.backend.is_some()) else {
            return "ERRP";
        };
        if !self.in_scope(&px.name, None) {
            return "DENY";
        }
        let cmd: &[&str] = match action.as_str() {
            "ready" => &["set", "server", "", "state", "ready"],
            "drain" => &["set", "server", "", "state", "drain"],
            "maint" => &["set", "server", "", "state", "maint"],
            "dhlth" => &["disable", "health", ""],
            "ehlth" => &["enable", "health", ""],
            "hrunn" => &["set", "server", "", "health", "up"],
            "hnolb" => &["set", "server", "", "health", "stopping"],
            "hdown" => &["set", "server", "", "health", "down"],
            "dagent" => &["disable", "agent", ""],
            "eagent" => &["enable", "agent", ""],
            "arunn" => &["set", "server", "", "agent", "up"],
            "adown" => &["set", "server", "", "agent", "down"],
            "shutdown" => &["shutdown", "sessions", "server", ""],
            _ => return "ERRP",
        };
        let Some(be) = &px.backend else {
            return "ERRP";
        };
        // As HAProxy: unknown servers are errors (all of them: ERRP, some: PART).
        let (mut done, mut unknown) = (0, 0);
        for s in &servers {
            if !be.servers.iter().any(|srv| &srv.name == s) {
                unknown += 1;
                continue;
            }
            let target = format!("{}/{s}", px.name);
            let words: Vec<&str> = cmd
                .iter()
                .map(|w| if w.is_empty() { target.as_str() } else { w })
                .collect();
            let out = crate::cli::commands::execute(rt, CliLevel::Admin, &words, None);
            if out.trim_matches(['\n', '\0']).is_empty() {
                done += 1;
            }
        }
        match (done, unknown) {
            (0, 0) => "NONE",
            (0, _) => "ERRP",
            (_, 0) => "DONE",
            _ => "PART",
        }
    }

    fn html(&self, rt: &Runtime, rows: &[Row], o: &Options, admin: bool) -> String {
        let mut h = String::with_capacity(16384 + rows.len() * 1024);
        let uri = String::from_utf8_lossy(&self.uri).into_owned();
        h.push_str(HTML_HEAD);
        let _ = write!(
            h,
            "<body><h1><a href=\"https://github.com/\" style=\"text-decoration: none;\">halo{}</a></h1>\n<h2>Statistics Report for pid {}{}</h2>\n",
            if self.show_version {
                format!(
                    " version {}, released {}",
                    crate::VERSION,
                    crate::RELEASE_DATE
                )
            } else {
                String::new()
            },
            std::process::id(),
            self.node
                .as_deref()
                .map(|n| format!(" on {}", esc(n)))
                .unwrap_or_default()
        );
        if let Some(d) = &self.desc {
            let _ = writeln!(h, "<h2>{}</h2>", esc(d));
        }
        h.push_str("<hr width=\"100%\" class=\"hr\">\n");
        self.process_info(&mut h, rt, &uri, o);
        if let Some(st) = &o.status {
            let (class, msg) = match st.as_str() {
                "DONE" => ("active_up", "Action processed successfully."),
                "PART" => ("active_going_down", "Action partially processed."),
                "NONE" => ("active_going_down", "Nothing has changed."),
                "DENY" => ("active_down", "<b>Action denied.</b>"),
                "ERRP" => (
                    "active_down",
                    "Action not processed because of invalid parameters.",
                ),
                "EXCD" => (
                    "active_down",
                    "<b>Action not processed : the buffer couldn't store all the data.</b>",
                ),
                _ => ("active_down", "Unexpected result."),
            };
            let _ = writeln!(
                h,
                "<p><div class={class}><a class=lfsb href=\"{}\" title=\"Remove this message\">[X]</a> {msg}</div>",
                esc(&uri)
            );
        }
        let mut i = 0;
        while i < rows.len() {
            let iid = rows[i].iid;
            let j = rows[i..]
                .iter()
                .position(|r| r.iid != iid)
                .map_or(rows.len(), |k| i + k);
            self.proxy_table(&mut h, rt, &rows[i..j], admin);
            i = j;
        }
        let _ = write!(
            h,
            "<script>{CHART_JS}\nhaloCharts({}, {});</script>\n</body></html>\n",
            json_string(&format!("{uri};json;norefresh")),
            self.refresh.unwrap_or(2).clamp(1, 60) * 1000
        );
        h
    }

    fn process_info(&self, h: &mut String, rt: &Runtime, uri: &str, o: &Options) {
        let up = now_sec().saturating_sub(rt.start_sec);
        let threads = rt.global.nbthread.unwrap_or(1);
        let _ = write!(
            h,
            "<h3>&gt; General process information</h3>\n<table border=0><tr><td align=\"left\" nowrap width=\"1%\">\n<p><b>pid = </b> {} (process #1, nbproc = 1, nbthread = {threads})<br>\n<b>uptime = </b> {}d {}h{:02}m{:02}s<br>\n<b>system limits:</b> memmax = unlimited; ulimit-n = {}<br>\n<b>maxsock = </b> {}; <b>maxconn = </b> {}; <b>maxpipes = </b> 0<br>\ncurrent conns = {}; current pipes = 0/0; conn rate = {}/sec<br>\n</td><td align=\"center\" nowrap>\n",
            std::process::id(),
            up / 86400,
            (up / 3600) % 24,
            (up / 60) % 60,
            up % 60,
            crate::runtime::fd_limit(),
            crate::runtime::fd_limit(),
            rt.maxconn,
            rt.cur_conns.load(Relaxed),
            rt.conn_rate.rate(),
        );
        h.push_str(LEGEND);
        let e = esc(uri);
        let _ = writeln!(
            h,
            "</td><td align=\"left\" valign=\"top\" nowrap width=\"1%\"><b>Display option:</b><ul style=\"margin-top: 0.25em;\"><li><form method=\"GET\">Scope : <input value=\"{}\" name=\"scope\" size=\"8\" maxlength=\"20\" tabindex=\"1\"/></form>",
            esc(o.scope.as_deref().unwrap_or_default())
        );
        if o.filter.up_only {
            let _ = writeln!(h, "<li><a href=\"{e}\">Show all servers</a><br>");
        } else {
            let _ = writeln!(h, "<li><a href=\"{e};up\">Hide 'DOWN' servers</a><br>");
        }
        if self.refresh.is_some() {
            if o.no_refresh {
                let _ = writeln!(h, "<li><a href=\"{e}\">Enable refresh</a><br>");
            } else {
                let _ = writeln!(h, "<li><a href=\"{e};norefresh\">Disable refresh</a><br>");
            }
        }
        let _ = write!(
            h,
            "<li><a href=\"{e}\">Refresh now</a><br>\n<li><a href=\"{e};csv;norefresh\">CSV export</a><br>\n<li><a href=\"{e};json;norefresh\">JSON export</a><br>\n</ul></td></tr></table>\n"
        );
    }

    fn proxy_table(&self, h: &mut String, rt: &Runtime, rows: &[Row], admin: bool) {
        let Some(first) = rows.first() else {
            return;
        };
        let name = esc(first.get("pxname"));
        let px = rt.proxies.iter().find(|p| p.id == first.iid);
        let has_backend = px.is_some_and(|p| p.backend.is_some());
        let form = admin && has_backend;
        if form {
            h.push_str("<form method=\"post\">");
        }
        let legend = if self.show_legends {
            px.map(|p| {
                format!(
                    " <u>(cap: {}, mode: {}, id: {})</u>",
                    match (p.frontend.is_some(), p.backend.is_some()) {
                        (true, true) => "FE/BE",
                        (true, false) => "FE",
                        _ => "BE",
                    },
                    first.get("mode"),
                    p.id
                )
            })
            .unwrap_or_default()
        } else {
            String::new()
        };
        let chart = if has_backend {
            format!(
                "<canvas class=\"halo-chart\" data-proxy=\"{name}\" width=\"240\" height=\"28\" title=\"requests/s (blue) and average response time in ms (orange), live\"></canvas>"
            )
        } else {
            String::new()
        };
        let _ = write!(
            h,
            "<table class=\"tbl\" width=\"100%\">\n<tr class=\"titre\"><th class=\"pxname\" width=\"10%\"><a name=\"{name}\"></a><a class=px href=\"#{name}\">{name}</a>{legend}</th><th class=\"empty\" width=\"90%\">{chart}</th></tr>\n</table>\n<table class=\"tbl\" width=\"100%\">\n<tr class=\"titre\">"
        );
        if form {
            let _ = write!(
                h,
                "<th rowspan=2 width=1><input type=\"checkbox\" onclick=\"for(c in document.getElementsByClassName('{name}-checkbox')) document.getElementsByClassName('{name}-checkbox').item(c).checked = this.checked\"></th>"
            );
        } else {
            h.push_str("<th rowspan=2></th>");
        }
        h.push_str(TABLE_HEAD);
        for r in rows {
            self.row(h, r, form, &name);
        }
        h.push_str("</table>");
        if form {
            let _ = write!(
                h,
                "Choose the action to perform on the checked servers : <select name=action><option value=\"\"></option><option value=\"ready\">Set state to READY</option><option value=\"drain\">Set state to DRAIN</option><option value=\"maint\">Set state to MAINT</option><option value=\"dhlth\">Health: disable checks</option><option value=\"ehlth\">Health: enable checks</option><option value=\"hrunn\">Health: force UP</option><option value=\"hnolb\">Health: force NOLB</option><option value=\"hdown\">Health: force DOWN</option><option value=\"dagent\">Agent: disable checks</option><option value=\"eagent\">Agent: enable checks</option><option value=\"arunn\">Agent: force UP</option><option value=\"adown\">Agent: force DOWN</option><option value=\"shutdown\">Kill Sessions</option></select><input type=\"hidden\" name=\"b\" value=\"#{}\">&nbsp;<input type=\"submit\" value=\"Apply\"></form>",
                first.iid
            );
        }
        h.push_str("<p>\n");
    }

    fn row(&self, h: &mut String, r: &Row, form: bool, pxname: &str) {
        let g = |n: &str| esc(r.get(n));
        let (class, label) = match r.obj {
            Obj::Frontend => ("frontend".to_string(), "Frontend".to_string()),
            Obj::Backend => ("backend".to_string(), "Backend".to_string()),
            Obj::Server => (server_class(r), g("svname")),
            Obj::Listener => ("socket".to_string(), g("svname")),
        };
        let anchor = format!("{pxname}/{label}");
        let _ = write!(h, "<tr class=\"{class}\">");
        if form && r.obj == Obj::Server {
            let _ = write!(
                h,
                "<td><input class='{pxname}-checkbox' type=\"checkbox\" name=\"s\" value=\"{label}\"></td>"
            );
        } else {
            h.push_str("<td></td>");
        }
        let legend = if self.show_legends && r.obj == Obj::Server {
            let mut t = format!("<div class=tips>id: {}", r.sid);
            if !r.get("addr").is_empty() {
                let _ = write!(t, ", address: {}", g("addr"));
            }
            if !r.get("cookie").is_empty() {
                let _ = write!(t, ", cookie: '{}'", g("cookie"));
            }
            t.push_str("</div>");
            t
        } else {
            String::new()
        };
        let _ = write!(
            h,
            "<td class=ac><a name=\"{anchor}\"></a><a class=lfsb href=\"#{anchor}\">{label}</a>{legend}</td>"
        );
        let dash = |v: String| if v.is_empty() { "-".to_string() } else { v };
        let cells: Vec<String> = match r.obj {
            Obj::Frontend => vec![
                String::new(),
                String::new(),
                String::new(),
                g("rate"),
                g("rate_max"),
                if r.get("rate_lim") == "0" {
                    "-".into()
                } else {
                    dash(g("rate_lim"))
                },
                g("scur"),
                g("smax"),
                g("slim"),
                tip(
                    &g("stot"),
                    &[
                        ("Cum. HTTP requests:", g("req_tot")),
                        ("- HTTP 2xx responses:", g("hrsp_2xx")),
                        ("- HTTP 4xx responses:", g("hrsp_4xx")),
                        ("- HTTP 5xx responses:", g("hrsp_5xx")),
                        ("Intercepted requests:", g("intercepted")),
                    ],
                ),
                String::new(),
                String::new(),
                g("bin"),
                g("bout"),
                g("dreq"),
                g("dresp"),
                g("ereq"),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                g("status"),
            ],
            _ => {
                let server = r.obj == Obj::Server;
                let status = if server && r.get("status") == "no check" {
                    "<i>no check</i>".to_string()
                } else {
                    format!("{} {}", human_secs(r.get("lastchg")), g("status"))
                };
                let lastchk = if r.get("check_status").is_empty() {
                    String::new()
                } else {
                    tip(
                        &format!("{} in {}ms", g("check_status"), g("check_duration")),
                        &[(&g("check_desc"), g("last_chk"))],
                    )
                };
                let yn = |v: &str| if v == "1" { "Y" } else { "-" };
                vec![
                    g("qcur"),
                    g("qmax"),
                    if server {
                        dash(g("qlimit"))
                    } else {
                        String::new()
                    },
                    g("rate"),
                    g("rate_max"),
                    String::new(),
                    g("scur"),
                    g("smax"),
                    if server { dash(g("slim")) } else { g("slim") },
                    tip(
                        &g("stot"),
                        &[
                            ("Cum. HTTP requests:", g("req_tot")),
                            ("- HTTP 2xx responses:", g("hrsp_2xx")),
                            ("- HTTP 4xx responses:", g("hrsp_4xx")),
                            ("- HTTP 5xx responses:", g("hrsp_5xx")),
                            ("Avg queue time (ms):", g("qtime")),
                            ("Avg connect time (ms):", g("ctime")),
                            ("Avg response time (ms):", g("rtime")),
                            ("Avg total time (ms):", g("ttime")),
                        ],
                    ),
                    g("lbtot"),
                    human_secs(r.get("lastsess")),
                    g("bin"),
                    g("bout"),
                    if server { String::new() } else { g("dreq") },
                    g("dresp"),
                    String::new(),
                    g("econ"),
                    g("eresp"),
                    g("wretr"),
                    g("wredis"),
                    status,
                    lastchk,
                    format!("{}/{}", g("weight"), g("uweight")),
                    if server {
                        yn(r.get("act")).into()
                    } else {
                        g("act")
                    },
                    if server {
                        yn(r.get("bck")).into()
                    } else {
                        g("bck")
                    },
                    g("chkfail"),
                    g("chkdown"),
                    human_secs(r.get("downtime")),
                    if server {
                        dash(g("throttle").replace(' ', ""))
                    } else {
                        String::new()
                    },
                ]
            }
        };
        for (k, c) in cells.iter().enumerate() {
            // The status column and those after it are centred, as HAProxy's.
            if k >= 21 {
                let _ = write!(h, "<td class=ac>{c}</td>");
            } else {
                let _ = write!(h, "<td>{c}</td>");
            }
        }
        if r.obj == Obj::Frontend {
            h.push_str("<td class=ac colspan=8></td>");
        }
        h.push_str("</tr>\n");
    }
}

/// HAProxy's row class for a server in state `status`.
fn server_class(r: &Row) -> String {
    let side = if r.get("bck") == "1" {
        "backup"
    } else {
        "active"
    };
    let st = r.get("status");
    let kind = if st.starts_with("MAINT") {
        return "maintain".into();
    } else if st.starts_with("DRAIN") {
        return "active_draining".into();
    } else if st == "no check" {
        "no_check"
    } else if st.starts_with("NOLB") {
        "nolb"
    } else if st.starts_with("DOWN ") {
        "going_up"
    } else if st.starts_with("DOWN") {
        return "active_down".into();
    } else if st.starts_with("UP ") {
        "going_down"
    } else {
        "up"
    };
    format!("{side}_{kind}")
}

/// A value with HAProxy's hover box of details.
fn tip(v: &str, rows: &[(&str, String)]) -> String {
    let mut s = format!("<u>{v}<div class=tips><table class=det>");
    for (k, val) in rows {
        let _ = write!(s, "<tr><th>{k}</th><td>{val}</td></tr>");
    }
    s.push_str("</table></div></u>");
    s
}

/// Seconds as HAProxy writes them on the page: `5s`, `2m3s`, `1h02m`, `3d4h`; `?` for
/// never (-1), nothing for an empty column.
fn human_secs(v: &str) -> String {
    match v.parse::<i64>() {
        Ok(n) if n < 0 => "?".into(),
        Ok(n) => human_duration(n as u64),
        Err(_) => String::new(),
    }
}

/// `5s`, `2m5s`, `1h02m`, `3d04h`: HAProxy's short durations (stats page, `show sess`).
pub fn human_duration(n: u64) -> String {
    match n {
        0..60 => format!("{n}s"),
        60..3600 => format!("{}m{}s", n / 60, n % 60),
        3600..86400 => format!("{}h{:02}m", n / 3600, (n / 60) % 60),
        _ => format!("{}d{:02}h", n / 86400, (n / 3600) % 24),
    }
}

/// HTML-escapes text.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn json_string(s: &str) -> String {
    let mut o = String::new();
    crate::stats::typed::json_str(&mut o, s);
    // Inside a <script>, `</` must not appear.
    o.replace("</", "<\\/")
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space).
fn url_decode(v: &[u8]) -> String {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < v.len() => {
                let hex = std::str::from_utf8(&v[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

const HTML_HEAD: &str = r#"<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN"
"http://www.w3.org/TR/html4/loose.dtd">
<html><head><title>Statistics Report for halo</title>
<link rel="icon" href="data:,">
<meta http-equiv="content-type" content="text/html; charset=utf-8">
<style type="text/css"><!--
body { font-family: arial, helvetica, sans-serif; font-size: 12px; font-weight: normal; color: black; background: white;}
th,td { font-size: 10px;}
h1 { font-size: x-large; margin-bottom: 0.5em;}
h2 { font-family: helvetica, arial; font-size: x-large; font-weight: bold; font-style: italic; color: #6020a0; margin-top: 0em; margin-bottom: 0em;}
h3 { font-family: helvetica, arial; font-size: 16px; font-weight: bold; color: #b00040; background: #e8e8d0; margin-top: 0em; margin-bottom: 0em;}
li { margin-top: 0.25em; margin-right: 2em;}
.hr {margin-top: 0.25em; border-color: black; border-bottom-style: solid;}
.titre { background: #20D0D0; color: #000000; font-weight: bold; text-align: center;}
.total { background: #20D0D0; color: #ffff80;}
.frontend { background: #e8e8d0;}
.socket { background: #d0d0d0;}
.backend { background: #e8e8d0;}
.active_down { background: #ff9090;}
.active_going_up { background: #ffd020;}
.active_going_down { background: #ffffa0;}
.active_up { background: #c0ffc0;}
.active_nolb { background: #20a0ff;}
.active_draining { background: #20a0FF;}
.active_no_check { background: #e0e0e0;}
.backup_down { background: #ff9090;}
.backup_going_up { background: #ff80ff;}
.backup_going_down { background: #c060ff;}
.backup_up { background: #b0d0ff;}
.backup_nolb { background: #90b0e0;}
.backup_draining { background: #cc9900;}
.backup_no_check { background: #e0e0e0;}
.maintain { background: #c07820;}
.rls { letter-spacing: 0.2em; margin-right: 1px;}
a.px:link { color: #ffff40; text-decoration: none;}
a.px:visited { color: #ffff40; text-decoration: none;}
a.px:hover { color: #ffffff; text-decoration: none;}
a.lfsb:link { color: #000000; text-decoration: none;}
a.lfsb:visited { color: #000000; text-decoration: none;}
a.lfsb:hover { color: #505050; text-decoration: none;}
table.tbl { border-collapse: collapse; border-style: none;}
table.tbl td { text-align: right; border-width: 1px 1px 1px 1px; border-style: solid solid solid solid; padding: 2px 3px; border-color: gray; white-space: nowrap;}
table.tbl td.ac { text-align: center;}
table.tbl th { border-width: 1px; border-style: solid solid solid solid; border-color: gray;}
table.tbl th.pxname { background: #b00040; color: #ffff40; font-weight: bold; border-style: solid solid none solid; padding: 2px 3px; white-space: nowrap;}
table.tbl th.empty { border-style: none; empty-cells: hide; background: white; text-align: left;}
table.tbl th.desc { background: white; border-style: solid solid none solid; text-align: left; padding: 2px 3px;}
table.lgd { border-collapse: collapse; border-width: 1px; border-style: none none none solid; border-color: black;}
table.lgd td { border-width: 1px; border-style: solid solid solid solid; border-color: gray; padding: 2px;}
table.lgd td.noborder { border-style: none; padding: 2px; white-space: nowrap;}
table.det { border-collapse: collapse; border-style: none;}
table.det th { text-align: left; border-width: 0px; padding: 0px 1px 0px 0px; font-style:normal;font-size:11px;font-weight:bold;font-family: sans-serif;}
table.det td { text-align: right; border-width: 0px; padding: 0px 0px 0px 4px; white-space: nowrap; font-style:normal;font-size:11px;font-weight:normal;}
u {text-decoration:none; border-bottom: 1px dotted black;}
div.tips { display:block; visibility:hidden; z-index:2147483647; position:absolute; padding:2px 4px 3px; background:#f0f060; color:#000000; border:1px solid #7040c0; white-space:nowrap; font-style:normal;font-size:11px;font-weight:normal; -moz-border-radius:3px;-webkit-border-radius:3px;border-radius:3px; -moz-box-shadow:gray 2px 2px 3px;-webkit-box-shadow:gray 2px 2px 3px;box-shadow:gray 2px 2px 3px;}
u:hover div.tips {visibility:visible;}
canvas.halo-chart { vertical-align: middle; background: #f8f8f0; border: 1px solid #d0d0c0;}
-->
</style></head>
"#;

const LEGEND: &str = r#"<table class="lgd"><tr>
<td class="active_up">&nbsp;</td><td class="noborder">active UP </td><td class="backup_up">&nbsp;</td><td class="noborder">backup UP </td></tr><tr>
<td class="active_going_down"></td><td class="noborder">active UP, going down </td><td class="backup_going_down"></td><td class="noborder">backup UP, going down </td></tr><tr>
<td class="active_going_up"></td><td class="noborder">active DOWN, going up </td><td class="backup_going_up"></td><td class="noborder">backup DOWN, going up </td></tr><tr>
<td class="active_down"></td><td class="noborder">active or backup DOWN &nbsp;</td><td class="active_no_check"></td><td class="noborder">not checked </td></tr><tr>
<td class="maintain"></td><td class="noborder" colspan="3">active or backup DOWN for maintenance (MAINT) &nbsp;</td></tr><tr>
<td class="active_draining"></td><td class="noborder" colspan="3">active or backup SOFT STOPPED for maintenance &nbsp;</td></tr></table>
Note: "NOLB"/"DRAIN" = UP with load-balancing disabled.
"#;

const TABLE_HEAD: &str = "<th rowspan=2></th><th colspan=3>Queue</th><th colspan=3>Session rate</th><th colspan=6>Sessions</th><th colspan=2>Bytes</th><th colspan=2>Denied</th><th colspan=3>Errors</th><th colspan=2>Warnings</th><th colspan=9>Server</th></tr>\n<tr class=\"titre\"><th>Cur</th><th>Max</th><th>Limit</th><th>Cur</th><th>Max</th><th>Limit</th><th>Cur</th><th>Max</th><th>Limit</th><th>Total</th><th>LbTot</th><th>Last</th><th>In</th><th>Out</th><th>Req</th><th>Resp</th><th>Req</th><th>Conn</th><th>Resp</th><th>Retr</th><th>Redis</th><th>Status</th><th>LastChk</th><th>Wght</th><th>Act</th><th>Bck</th><th>Chk</th><th>Dwn</th><th>Dwntme</th><th>Thrtle</th>\n</tr>";

/// The live charts: the page polls its own `;json` export and draws, per backend, the
/// request (or session) rate and the average response time of the last minutes.
const CHART_JS: &str = r#"
function haloCharts(url, every) {
  var hist = {}, last = {};
  function val(f, name) { for (var i = 0; i < f.length; i++) if (f[i].field.name == name) return f[i].value.value; return undefined; }
  function draw() {
    var cs = document.getElementsByClassName('halo-chart');
    for (var i = 0; i < cs.length; i++) {
      var c = cs[i], h = hist[c.getAttribute('data-proxy')] || [], g = c.getContext('2d');
      g.clearRect(0, 0, c.width, c.height);
      if (h.length < 1) continue;
      var maxr = 1, maxt = 1;
      h.forEach(function (p) { maxr = Math.max(maxr, p[0]); maxt = Math.max(maxt, p[1]); });
      [[0, '#2060c0', maxr], [1, '#e07020', maxt]].forEach(function (s) {
        g.strokeStyle = s[1]; g.beginPath();
        h.forEach(function (p, k) {
          var x = c.width - (h.length - 1 - k) * (c.width / 60), y = c.height - 2 - (p[s[0]] / s[2]) * (c.height - 4);
          if (k == 0) g.moveTo(x, y); else g.lineTo(x, y);
        });
        g.stroke();
      });
      g.fillStyle = '#000'; g.font = '9px sans-serif';
      var p = h[h.length - 1];
      g.fillText(Math.round(p[0]) + ' req/s  ' + p[1] + ' ms', 3, 10);
    }
  }
  function poll() {
    var x = new XMLHttpRequest();
    x.onload = function () {
      try {
        var now = Date.now(), d = JSON.parse(x.responseText);
        d.forEach(function (f) {
          if (!f.length || f[0].objType != 'Backend') return;
          var name = val(f, 'pxname'), tot = val(f, 'req_tot');
          if (tot === undefined) tot = val(f, 'stot');
          var rt = val(f, 'rtime') || 0, l = last[name];
          last[name] = [now, tot];
          var h = hist[name] = hist[name] || [];
          if (l && now > l[0]) h.push([Math.max(0, (tot - l[1]) * 1000 / (now - l[0])), rt]);
          else h.push([0, rt]);
          if (h.length > 60) h.shift();
        });
        draw();
      } catch (e) {}
    };
    x.open('GET', url); x.send();
  }
  poll(); setInterval(poll, every);
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_times_and_decoding() {
        assert_eq!(human_secs("5"), "5s");
        assert_eq!(human_secs("125"), "2m5s");
        assert_eq!(human_secs("3725"), "1h02m");
        assert_eq!(human_secs("-1"), "?");
        assert_eq!(url_decode(b"a+b%23c%2"), "a b#c%2");
        assert_eq!(esc("<a&\"b\">"), "&lt;a&amp;&quot;b&quot;&gt;");
    }
}
