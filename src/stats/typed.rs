//! `show stat typed` and `show stat json` (also the stats page's `;json`): each non-empty
//! column of `show stat` with HAProxy's type and tags (origin, nature, scope), which tell a
//! consumer what a value is (a counter, a gauge, a limit…) without knowing its name.

use std::fmt::Write;

use crate::stats::csv::{Obj, Row};

/// Every column of `show stat`, in order: name, tags (origin, nature, scope letters) and
/// type, as HAProxy 2.6 reports them for servers and frontends. `-` separates the proxy
/// fields from the modules' (which are numbered from its position on).
const FIELDS: &[(&str, &str, &str)] = &[
    ("pxname", "KNS", "str"),
    ("svname", "KNS", "str"),
    ("qcur", "MGP", "u32"),
    ("qmax", "MMP", "u32"),
    ("scur", "MGP", "u32"),
    ("smax", "MMP", "u32"),
    ("slim", "CLP", "u32"),
    ("stot", "MCP", "u64"),
    ("bin", "MCP", "u64"),
    ("bout", "MCP", "u64"),
    ("dreq", "MCP", "u64"),
    ("dresp", "MCP", "u64"),
    ("ereq", "MCP", "u64"),
    ("econ", "MCP", "u64"),
    ("eresp", "MCP", "u64"),
    ("wretr", "MCP", "u64"),
    ("wredis", "MCP", "u64"),
    ("status", "SGP", "str"),
    ("weight", "MaP", "u32"),
    ("act", "SGP", "u32"),
    ("bck", "SGP", "u32"),
    ("chkfail", "MCP", "u64"),
    ("chkdown", "MCP", "u64"),
    ("lastchg", "MAP", "u32"),
    ("downtime", "MCP", "u32"),
    ("qlimit", "CGS", "u32"),
    ("pid", "KGP", "u32"),
    ("iid", "KGS", "u32"),
    ("sid", "KGS", "u32"),
    ("throttle", "MaP", "u32"),
    ("lbtot", "MCP", "u64"),
    ("tracked", "CNS", "str"),
    ("type", "CGS", "u32"),
    ("rate", "MRP", "u32"),
    ("rate_lim", "CLP", "u32"),
    ("rate_max", "MMP", "u32"),
    ("check_status", "MOP", "str"),
    ("check_code", "MOP", "u32"),
    ("check_duration", "MDP", "u64"),
    ("hrsp_1xx", "MCP", "u64"),
    ("hrsp_2xx", "MCP", "u64"),
    ("hrsp_3xx", "MCP", "u64"),
    ("hrsp_4xx", "MCP", "u64"),
    ("hrsp_5xx", "MCP", "u64"),
    ("hrsp_other", "MCP", "u64"),
    ("hanafail", "MCP", "u64"),
    ("req_rate", "MRP", "u32"),
    ("req_rate_max", "MMP", "u32"),
    ("req_tot", "MCP", "u64"),
    ("cli_abrt", "MCP", "u64"),
    ("srv_abrt", "MCP", "u64"),
    ("comp_in", "MCP", "u64"),
    ("comp_out", "MCP", "u64"),
    ("comp_byp", "MCP", "u64"),
    ("comp_rsp", "MCP", "u64"),
    ("lastsess", "MAP", "s32"),
    ("last_chk", "MOP", "str"),
    ("last_agt", "MOP", "str"),
    ("qtime", "MaP", "u32"),
    ("ctime", "MaP", "u32"),
    ("rtime", "MaP", "u32"),
    ("ttime", "MaP", "u32"),
    ("agent_status", "MOP", "str"),
    ("agent_code", "MOP", "u32"),
    ("agent_duration", "MDP", "u64"),
    ("check_desc", "MOP", "str"),
    ("agent_desc", "MOP", "str"),
    ("check_rise", "CGS", "u32"),
    ("check_fall", "CGS", "u32"),
    ("check_health", "CGS", "u32"),
    ("agent_rise", "CGS", "u32"),
    ("agent_fall", "CGS", "u32"),
    ("agent_health", "CGS", "u32"),
    ("addr", "CGS", "str"),
    ("cookie", "CNS", "str"),
    ("mode", "CGS", "str"),
    ("algo", "CGS", "str"),
    ("conn_rate", "MRP", "u32"),
    ("conn_rate_max", "MMP", "u32"),
    ("conn_tot", "MCP", "u64"),
    ("intercepted", "MCP", "u64"),
    ("dcon", "MCP", "u64"),
    ("dses", "MCP", "u64"),
    ("wrew", "MCP", "u64"),
    ("connect", "MCP", "u64"),
    ("reuse", "MCP", "u64"),
    ("cache_lookups", "MCP", "u64"),
    ("cache_hits", "MCP", "u64"),
    ("srv_icur", "MGP", "u32"),
    ("src_ilim", "MGP", "u32"),
    ("qtime_max", "MMP", "u32"),
    ("ctime_max", "MMP", "u32"),
    ("rtime_max", "MMP", "u32"),
    ("ttime_max", "MMP", "u32"),
    ("eint", "MCP", "u64"),
    ("idle_conn_cur", "MGP", "u32"),
    ("safe_conn_cur", "MGP", "u32"),
    ("used_conn_cur", "MGP", "u32"),
    ("need_conn_est", "MGP", "u32"),
    ("uweight", "MaP", "u32"),
    ("agg_server_status", "MGP", "u32"),
    ("agg_server_check_status", "MGP", "u32"),
    ("agg_check_status", "MGP", "u32"),
    ("-", "", ""),
    ("ssl_sess", "MCP", "u64"),
    ("ssl_reused_sess", "MCP", "u64"),
    ("ssl_failed_handshake", "MCP", "u64"),
    ("h2_headers_rcvd", "MCP", "u64"),
    ("h2_data_rcvd", "MCP", "u64"),
    ("h2_settings_rcvd", "MCP", "u64"),
    ("h2_rst_stream_rcvd", "MCP", "u64"),
    ("h2_goaway_rcvd", "MCP", "u64"),
    ("h2_detected_conn_protocol_errors", "MCP", "u64"),
    ("h2_detected_strm_protocol_errors", "MCP", "u64"),
    ("h2_rst_stream_resp", "MCP", "u64"),
    ("h2_goaway_resp", "MCP", "u64"),
    ("h2_open_connections", "MGP", "u64"),
    ("h2_backend_open_streams", "MGP", "u64"),
    ("h2_total_connections", "MCP", "u64"),
    ("h2_backend_total_streams", "MCP", "u64"),
    ("h1_open_connections", "MGP", "u64"),
    ("h1_open_streams", "MGP", "u64"),
    ("h1_total_connections", "MCP", "u64"),
    ("h1_total_streams", "MCP", "u64"),
    ("h1_bytes_in", "MCP", "u64"),
    ("h1_bytes_out", "MCP", "u64"),
    ("h1_spliced_bytes_in", "MCP", "u64"),
    ("h1_spliced_bytes_out", "MCP", "u64"),
];

/// Where backends differ from the table.
fn backend_tags(name: &str) -> Option<&'static str> {
    Some(match name {
        "act" | "bck" | "rate" | "rate_max" => "MGP",
        _ => return None,
    })
}

/// Servers report `act`/`bck` as a status.
fn server_tags(name: &str) -> Option<&'static str> {
    Some(match name {
        "act" | "bck" => "SGP",
        _ => return None,
    })
}

/// One non-empty field of a row: position, name, tags, type, value.
fn fields(
    r: &Row,
) -> impl Iterator<Item = (usize, &'static str, &'static str, &'static str, &str)> {
    let mut pos = 0;
    r.cols
        .iter()
        .zip(FIELDS)
        .filter_map(move |(v, &(name, tags, ty))| {
            if name == "-" {
                return None;
            }
            let p = pos;
            pos += 1;
            if v.is_empty() {
                return None;
            }
            let tags = match r.obj {
                Obj::Backend => backend_tags(name).unwrap_or(tags),
                Obj::Server => server_tags(name).unwrap_or(tags),
                Obj::Frontend | Obj::Listener => tags,
            };
            Some((p, name, tags, ty, v.as_str()))
        })
}

fn obj_letter(o: Obj) -> char {
    match o {
        Obj::Frontend => 'F',
        Obj::Backend => 'B',
        Obj::Server => 'S',
        Obj::Listener => 'L',
    }
}

/// `show stat typed`: `F.IID.SID.POS.NAME.1:TAGS:TYPE:VALUE`.
pub fn render_typed(rows: &[Row]) -> String {
    let mut out = String::with_capacity(rows.len() * 4096);
    for r in rows {
        for (pos, name, tags, ty, v) in fields(r) {
            let _ = writeln!(
                out,
                "{}.{}.{}.{pos}.{name}.1:{tags}:{ty}:{v}",
                obj_letter(r.obj),
                r.iid,
                r.sid
            );
        }
    }
    out
}

/// The words of the tag letters (origin, nature, scope), for the JSON forms of `show stat`
/// and `show info`.
pub fn tag_words(tags: &str) -> [&'static str; 3] {
    let b = tags.as_bytes();
    let origin = match b.first() {
        Some(b'M') => "Metric",
        Some(b'S') => "Status",
        Some(b'K') => "Key",
        Some(b'C') => "Config",
        Some(b'P') => "Product",
        _ => "",
    };
    let nature = match b.get(1) {
        Some(b'A') => "Age",
        Some(b'a') => "Avg",
        Some(b'C') => "Counter",
        Some(b'D') => "Duration",
        Some(b'G') => "Gauge",
        Some(b'L') => "Limit",
        Some(b'M') => "Max",
        Some(b'N') => "Name",
        Some(b'O') => "Output",
        Some(b'R') => "Rate",
        Some(b'T') => "Time",
        _ => "",
    };
    let scope = match b.get(2) {
        Some(b'C') => "Cluster",
        Some(b'P') => "Process",
        Some(b'S') => "Service",
        Some(b's') => "System",
        _ => "",
    };
    [origin, nature, scope]
}

/// Appends `s` as a JSON string.
pub fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `show stat json`: one array of field objects per row.
pub fn render_json(rows: &[Row]) -> String {
    let mut out = String::with_capacity(rows.len() * 16384);
    out.push('[');
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        let obj = match r.obj {
            Obj::Frontend => "Frontend",
            Obj::Backend => "Backend",
            Obj::Server => "Server",
            Obj::Listener => "Listener",
        };
        for (j, (pos, name, tags, ty, v)) in fields(r).enumerate() {
            if j > 0 {
                out.push(',');
            }
            let [o, n, s] = tag_words(tags);
            let _ = write!(
                out,
                "{{\"objType\":\"{obj}\",\"proxyId\":{},\"id\":{},\"field\":{{\"pos\":{pos},\"name\":\"{name}\"}},\"processNum\":1,\"tags\":{{\"origin\":\"{o}\",\"nature\":\"{n}\",\"scope\":\"{s}\"}},\"value\":{{\"type\":\"{ty}\",\"value\":",
                r.iid, r.sid
            );
            let numeric = ty != "str" && v.parse::<i64>().is_ok();
            if numeric {
                out.push_str(v);
            } else {
                json_str(&mut out, v);
            }
            out.push_str("}}");
        }
        out.push(']');
    }
    out.push_str("]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_header() {
        let names: Vec<&str> = crate::stats::csv::HEADER
            .trim_start_matches("# ")
            .split(',')
            .filter(|n| !n.is_empty())
            .collect();
        let ours: Vec<&str> = FIELDS.iter().map(|f| f.0).collect();
        assert_eq!(names, ours);
    }
}
