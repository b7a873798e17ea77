//! The stick counter fetches (manual 7.3.2 and 7.3.3): `sc_*`/`sc0_*`..`sc2_*` read and
//! update the entries a stream tracks, `src_*` the entry of the client's address, and
//! `table_cnt`/`table_avl` a table's fill. Tables are resolved by name at load time.

use std::sync::Arc;

use super::{Ctx, Resolver, Sample};
use crate::stick::{DataType, Key, Table};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// A stored counter, rate or `gpt0` as is.
    Data(DataType),
    /// A byte counter in kilobytes.
    Kbytes(DataType),
    /// `inc_gpcN`: the counter and its rate go up, the counter's new value.
    Inc(DataType, DataType),
    /// `clr_gpcN`: the previous value, then 0.
    Clr(DataType),
    Tracked,
    Trackers,
    /// `src_updt_conn_cnt`: `conn_cnt` goes up, its new value.
    UpdtConnCnt,
    /// `in_table`: whether the key has an entry.
    InTable,
    /// `get_gpc(idx)`, `gpc_rate(idx)`, `get_gpt(idx)`: an array element as is.
    DataAt(DataType, usize),
    /// `inc_gpc(idx)`: the element and its rate go up, the element's new value.
    IncAt(usize),
    /// `clr_gpc(idx)`: the element's previous value, then 0.
    ClrAt(usize),
    /// `sc_key(<ctr>)`: the tracked key itself.
    Key,
    /// `table_expire` / `table_idle`: milliseconds before the entry expires, or since its
    /// last update; without an entry, the default value if any (else no sample).
    Expire(Option<i64>),
    Idle(Option<i64>),
}

#[derive(Clone)]
enum Source {
    /// Stick counter N; with a table, the tracked key looked up in that table instead.
    Slot(usize, Option<Arc<Table>>),
    /// The client's address in a table.
    Src(Arc<Table>),
    /// `table_cnt` / `table_avl`.
    Cnt(Arc<Table>),
    Avl(Arc<Table>),
    /// A converter (`table_http_req_rate(T)`…): its input is the key.
    Input(Arc<Table>),
}

/// A compiled stick counter fetch.
#[derive(Clone)]
pub struct StickFetch {
    source: Source,
    op: Op,
}

impl std::fmt::Debug for StickFetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StickFetch({:?})", self.op)
    }
}

fn op_of(suffix: &str) -> Option<Op> {
    use DataType::*;
    Some(match suffix {
        "get_gpc0" => Op::Data(Gpc0),
        "get_gpc1" => Op::Data(Gpc1),
        "get_gpt0" => Op::Data(Gpt0),
        "gpc0_rate" => Op::Data(Gpc0Rate),
        "gpc1_rate" => Op::Data(Gpc1Rate),
        "inc_gpc0" => Op::Inc(Gpc0, Gpc0Rate),
        "inc_gpc1" => Op::Inc(Gpc1, Gpc1Rate),
        "clr_gpc0" => Op::Clr(Gpc0),
        "clr_gpc1" => Op::Clr(Gpc1),
        "conn_cnt" => Op::Data(ConnCnt),
        "conn_cur" => Op::Data(ConnCur),
        "conn_rate" => Op::Data(ConnRate),
        "sess_cnt" => Op::Data(SessCnt),
        "sess_rate" => Op::Data(SessRate),
        "http_req_cnt" => Op::Data(HttpReqCnt),
        "http_req_rate" => Op::Data(HttpReqRate),
        "http_err_cnt" => Op::Data(HttpErrCnt),
        "http_err_rate" => Op::Data(HttpErrRate),
        "http_fail_cnt" => Op::Data(HttpFailCnt),
        "http_fail_rate" => Op::Data(HttpFailRate),
        "bytes_in_rate" => Op::Data(BytesInRate),
        "bytes_out_rate" => Op::Data(BytesOutRate),
        "kbytes_in" => Op::Kbytes(BytesInCnt),
        "kbytes_out" => Op::Kbytes(BytesOutCnt),
        "tracked" => Op::Tracked,
        "trackers" => Op::Trackers,
        "updt_conn_cnt" => Op::UpdtConnCnt,
        "key" => Op::Key,
        _ => return None,
    })
}

/// The fetches of stick-table array types, whose first argument is the element's index.
fn array_op(suffix: &str, idx: usize) -> Option<Op> {
    Some(match suffix {
        "get_gpc" => Op::DataAt(DataType::Gpc, idx),
        "gpc_rate" => Op::DataAt(DataType::GpcRate, idx),
        "get_gpt" => Op::DataAt(DataType::Gpt, idx),
        "inc_gpc" => Op::IncAt(idx),
        "clr_gpc" => Op::ClrAt(idx),
        _ => return None,
    })
}

fn table_arg(name: &str, arg: Option<&String>, res: &dyn Resolver) -> Result<Arc<Table>, String> {
    let want = arg.map(String::as_str).filter(|a| !a.is_empty());
    res.table(want).ok_or_else(|| match want {
        Some(t) => format!("fetch method '{name}': unable to find table '{t}'"),
        None => format!("fetch method '{name}': no table in this proxy"),
    })
}

/// Compiles `name(args)` when it is a stick counter fetch (None: it is not one).
pub fn compile(
    name: &str,
    args: &[String],
    res: &dyn Resolver,
) -> Option<Result<StickFetch, String>> {
    let (source, suffix) = if let Some(rest) = name.strip_prefix("src_") {
        (None, rest)
    } else if let Some(rest) = name.strip_prefix("sc_") {
        (Some(None), rest)
    } else if let Some(n) = ["sc0_", "sc1_", "sc2_"]
        .iter()
        .position(|p| name.starts_with(p))
    {
        (Some(Some(n)), &name[4..])
    } else {
        return match name {
            "table_cnt" | "table_avl" => {
                Some(table_arg(name, args.first(), res).map(|t| StickFetch {
                    source: if name == "table_cnt" {
                        Source::Cnt(t)
                    } else {
                        Source::Avl(t)
                    },
                    op: Op::Tracked,
                }))
            }
            _ => None,
        };
    };
    let (op, args) = if array_op(suffix, 0).is_some() {
        // `sc_get_gpc(<idx>,<ctr>[,<table>])`, `src_get_gpc(<idx>[,<table>])`…
        let idx = match args.first() {
            Some(a) => match a.trim().parse::<usize>() {
                Ok(n) => n,
                Err(_) => {
                    return Some(Err(format!(
                        "fetch method '{name}': invalid array index '{a}'"
                    )));
                }
            },
            None => {
                return Some(Err(format!(
                    "fetch method '{name}' : missing arguments, integer expected"
                )));
            }
        };
        (array_op(suffix, idx)?, &args[1..])
    } else {
        (op_of(suffix)?, args)
    };
    Some((|| {
        let max = args.len();
        let source = match source {
            None => {
                if matches!(op, Op::Tracked | Op::Trackers | Op::Key) {
                    return Err(format!("unknown fetch method '{name}'"));
                }
                if max > 1 {
                    return Err(format!("fetch method '{name}' takes at most one argument"));
                }
                Source::Src(table_arg(name, args.first(), res)?)
            }
            Some(fixed) => {
                if op == Op::UpdtConnCnt {
                    return Err(format!("unknown fetch method '{name}'"));
                }
                let (slot, rest) = match fixed {
                    Some(n) => (n, args),
                    None => {
                        let a = args
                            .first()
                            .ok_or_else(|| format!("fetch method '{name}' expects <ctr>"))?;
                        let n = a
                            .trim()
                            .parse::<usize>()
                            .ok()
                            .filter(|&n| n < res.stick_counters())
                            .ok_or_else(|| {
                                format!("fetch method '{name}': invalid stick counter '{a}'")
                            })?;
                        (n, &args[1..])
                    }
                };
                if rest.len() > usize::from(op != Op::Key) {
                    return Err(format!("fetch method '{name}': too many arguments"));
                }
                let table = match rest.first() {
                    Some(t) => Some(table_arg(name, Some(t), res)?),
                    None => None,
                };
                Source::Slot(slot, table)
            }
        };
        Ok(StickFetch { source, op })
    })())
}

/// Compiles the converter `name(args)` when it is a stick table converter
/// (`table_http_req_rate(T)`, `table_gpc0(T)`, `in_table(T)`…; None: it is not one).
pub fn compile_conv(
    name: &str,
    args: &[String],
    res: &dyn Resolver,
) -> Option<Result<StickFetch, String>> {
    let op = if name == "in_table" {
        Op::InTable
    } else {
        let suffix = name.strip_prefix("table_")?;
        // `table_gpc(<idx>[,<table>])` and the other arrays: the index comes first.
        let array = match suffix {
            "gpc" => Some("get_gpc"),
            "gpt" => Some("get_gpt"),
            "gpc_rate" | "inc_gpc" | "clr_gpc" => Some(suffix),
            _ => None,
        };
        if let (Some(with_default), true) = (
            match suffix {
                "expire" => Some(true),
                "idle" => Some(false),
                _ => None,
            },
            args.len() <= 2,
        ) {
            let default = match args.get(1).map(|d| d.trim().parse::<i64>()) {
                None => None,
                Some(Ok(d)) => Some(d),
                Some(Err(_)) => {
                    return Some(Err(format!(
                        "converter '{name}': invalid default value '{}'",
                        args[1]
                    )));
                }
            };
            let op = if with_default {
                Op::Expire(default)
            } else {
                Op::Idle(default)
            };
            return Some(
                input_table(name, args.get(..1).unwrap_or_default(), res).map(|table| StickFetch {
                    source: Source::Input(table),
                    op,
                }),
            );
        }
        if let Some(a) = array {
            let idx = match args.first().map(|i| i.trim().parse::<usize>()) {
                Some(Ok(i)) => i,
                Some(Err(_)) => {
                    return Some(Err(format!(
                        "converter '{name}': invalid array index '{}'",
                        args[0]
                    )));
                }
                None => {
                    return Some(Err(format!(
                        "converter '{name}' : missing arguments, integer expected"
                    )));
                }
            };
            let op = array_op(a, idx)?;
            return Some(input_table(name, &args[1..], res).map(|table| StickFetch {
                source: Source::Input(table),
                op,
            }));
        }
        match suffix {
            "gpc0" => Op::Data(DataType::Gpc0),
            "gpc1" => Op::Data(DataType::Gpc1),
            "gpt0" => Op::Data(DataType::Gpt0),
            "server_id" => Op::Data(DataType::ServerId),
            "get_gpc0" | "get_gpc1" | "get_gpt0" | "tracked" | "updt_conn_cnt" | "key" => {
                return None;
            }
            s => op_of(s)?,
        }
    };
    Some(input_table(name, args, res).map(|table| StickFetch {
        source: Source::Input(table),
        op,
    }))
}

/// The `[<table>]` argument of a stick table converter (default: the proxy's table).
fn input_table(name: &str, args: &[String], res: &dyn Resolver) -> Result<Arc<Table>, String> {
    if args.len() > 1 {
        return Err(format!("converter '{name}' takes at most one argument"));
    }
    let want = args.first().map(String::as_str).filter(|a| !a.is_empty());
    res.table(want).ok_or_else(|| match want {
        Some(t) => format!("converter '{name}': unable to find table '{t}'"),
        None => format!("converter '{name}': no table in this proxy"),
    })
}

/// A tracked key as a sample of the table's key type (`sc_key`).
fn key_sample(table: &Table, key: &Key) -> Sample<'static> {
    use std::borrow::Cow;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    match key {
        Key::V4(b) => Sample::Ip(IpAddr::V4(Ipv4Addr::from(*b))),
        Key::V6(b) => Sample::Ip(IpAddr::V6(Ipv6Addr::from(*b))),
        Key::Int(i) => Sample::Int(i64::from(*i)),
        Key::Bytes(b) => match table.conf.key {
            crate::stick::KeyType::Binary(_) => Sample::Bin(Cow::Owned(b.to_vec())),
            _ => Sample::Str(Cow::Owned(b.to_vec())),
        },
    }
}

impl StickFetch {
    /// Applies a stick table converter to its input (the key).
    pub fn convert(&self, input: &Sample<'_>) -> Option<Sample<'static>> {
        let Source::Input(t) = &self.source else {
            return None;
        };
        let key = t.key_of(input)?;
        self.run(t, key)
    }

    pub fn output_kind(&self) -> super::OutputKind {
        match (&self.source, self.op) {
            (Source::Slot(..), Op::Tracked) | (_, Op::InTable) => super::OutputKind::Bool,
            (_, Op::Key) => super::OutputKind::Str,
            _ => super::OutputKind::Int,
        }
    }

    /// The value, or None when nothing is tracked in the counter or the table does not
    /// store the data (as HAProxy, which then finds no sample).
    pub fn eval(&self, ctx: &Ctx<'_>) -> Option<Sample<'static>> {
        let (table, key): (&Arc<Table>, Key) = match &self.source {
            Source::Input(_) => return None,
            Source::Cnt(t) => return Some(Sample::Int(t.used() as i64)),
            Source::Avl(t) => {
                return Some(Sample::Int(t.conf.size.saturating_sub(t.used()) as i64));
            }
            Source::Src(t) => {
                let src = ctx.src?;
                (t, t.key_of(&Sample::Ip(src.ip()))?)
            }
            Source::Slot(n, other) => {
                let slot = ctx.tracked.and_then(|t| t.get(*n));
                if self.op == Op::Tracked {
                    return Some(Sample::Bool(slot.is_some()));
                }
                let slot = slot?;
                if self.op == Op::Key {
                    return Some(key_sample(&slot.table, &slot.key));
                }
                match other {
                    None => (&slot.table, slot.key.clone()),
                    // The tracked key, looked up in another table (of the same key type).
                    Some(t) => (t, slot.key.clone()),
                }
            }
        };
        self.run(table, key)
    }

    fn run(&self, table: &Arc<Table>, key: Key) -> Option<Sample<'static>> {
        let creates = matches!(self.source, Source::Src(_) | Source::Input(_))
            && matches!(
                self.op,
                Op::Inc(..) | Op::Clr(_) | Op::UpdtConnCnt | Op::IncAt(_) | Op::ClrAt(_)
            );
        let v = match self.op {
            Op::Data(ty) => {
                if !table.stores_at(ty, 0) {
                    return None;
                }
                table.with(&key, |e| e.get(ty)).flatten().unwrap_or(0)
            }
            Op::Kbytes(ty) => {
                if !table.stores(ty) {
                    return None;
                }
                table.with(&key, |e| e.get(ty)).flatten().unwrap_or(0) >> 10
            }
            Op::Trackers => table.with(&key, |e| e.trackers() as u64).unwrap_or(0),
            Op::Expire(default) => {
                return match table.with(&key, |e| e.expires_in()) {
                    Some(ms) => Some(Sample::Int(ms as i64)),
                    None => default.map(Sample::Int),
                };
            }
            Op::Idle(default) => {
                return match table.with(&key, |e| e.idle_ms()) {
                    Some(ms) => Some(Sample::Int(ms as i64)),
                    None => default.map(Sample::Int),
                };
            }
            Op::Tracked => 1,
            Op::Key => return Some(key_sample(table, &key)),
            Op::InTable => return Some(Sample::Bool(table.with(&key, |_| ()).is_some())),
            Op::Inc(gpc, rate) => {
                let f = |e: &mut crate::stick::EntryView<'_>| {
                    e.add(rate, 1);
                    e.add(gpc, 1);
                    e.get(gpc).unwrap_or(0)
                };
                if creates {
                    table.update(&key, f)
                } else {
                    table.touch(&key, f)
                }
                .unwrap_or(0)
            }
            Op::Clr(gpc) => {
                let f = |e: &mut crate::stick::EntryView<'_>| {
                    let old = e.get(gpc).unwrap_or(0);
                    e.set(gpc, 0);
                    old
                };
                if creates {
                    table.update(&key, f)
                } else {
                    table.touch(&key, f)
                }
                .unwrap_or(0)
            }
            Op::DataAt(ty, idx) => {
                if !table.stores_at(ty, idx) {
                    return None;
                }
                table
                    .with(&key, |e| e.get_at(ty, idx))
                    .flatten()
                    .unwrap_or(0)
            }
            Op::IncAt(idx) => {
                // As HAProxy: no sample when the table stores neither the element nor its rate.
                if !table.stores_at(DataType::Gpc, idx) && !table.stores_at(DataType::GpcRate, idx)
                {
                    return None;
                }
                let f = |e: &mut crate::stick::EntryView<'_>| {
                    e.add_at(DataType::GpcRate, idx, 1);
                    e.add_at(DataType::Gpc, idx, 1);
                    e.get_at(DataType::Gpc, idx).unwrap_or(0)
                };
                if creates {
                    table.update(&key, f)
                } else {
                    table.touch(&key, f)
                }
                .unwrap_or(0)
            }
            Op::ClrAt(idx) => {
                if !table.stores_at(DataType::Gpc, idx) {
                    return None;
                }
                let f = |e: &mut crate::stick::EntryView<'_>| {
                    let old = e.get_at(DataType::Gpc, idx).unwrap_or(0);
                    e.set_at(DataType::Gpc, idx, 0);
                    old
                };
                if creates {
                    table.update(&key, f)
                } else {
                    table.touch(&key, f)
                }
                .unwrap_or(0)
            }
            Op::UpdtConnCnt => table
                .update(&key, |e| {
                    e.add(DataType::ConnCnt, 1);
                    e.get(DataType::ConnCnt).unwrap_or(0)
                })
                .unwrap_or(0),
        };
        Some(Sample::Int(v as i64))
    }
}
