//! `stick-table` declarations: key types with their length, `size`, `expire`, `nopurge`,
//! `srvkey`, and the stored data types (`store …`) in HAProxy's order, each with where its
//! values sit in an entry. The tables themselves live in the halo crate (`src/stick`).

use crate::units::{parse_size, parse_time_ms};

/// The type of the keys, as `stick-table type` declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Ip,
    Ipv6,
    Integer,
    String(usize),
    Binary(usize),
}

impl KeyType {
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Ip => "ip",
            KeyType::Ipv6 => "ipv6",
            KeyType::Integer => "integer",
            KeyType::String(_) => "string",
            KeyType::Binary(_) => "binary",
        }
    }
}

/// A data type a table may store, in HAProxy's order (the order of `show table`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DataType {
    ServerId,
    Gpt0,
    Gpc0,
    Gpc0Rate,
    ConnCnt,
    ConnRate,
    ConnCur,
    SessCnt,
    SessRate,
    HttpReqCnt,
    HttpReqRate,
    HttpErrCnt,
    HttpErrRate,
    BytesInCnt,
    BytesInRate,
    BytesOutCnt,
    BytesOutRate,
    Gpc1,
    Gpc1Rate,
    ServerKey,
    HttpFailCnt,
    HttpFailRate,
    /// The arrays `gpt(N)`, `gpc(N)` and `gpc_rate(N,T)` (HAProxy 2.5+).
    Gpt,
    Gpc,
    GpcRate,
}

impl DataType {
    /// Every data type in HAProxy's order (its position is the peers protocol's id).
    pub const ALL: [DataType; 25] = [
        DataType::ServerId,
        DataType::Gpt0,
        DataType::Gpc0,
        DataType::Gpc0Rate,
        DataType::ConnCnt,
        DataType::ConnRate,
        DataType::ConnCur,
        DataType::SessCnt,
        DataType::SessRate,
        DataType::HttpReqCnt,
        DataType::HttpReqRate,
        DataType::HttpErrCnt,
        DataType::HttpErrRate,
        DataType::BytesInCnt,
        DataType::BytesInRate,
        DataType::BytesOutCnt,
        DataType::BytesOutRate,
        DataType::Gpc1,
        DataType::Gpc1Rate,
        DataType::ServerKey,
        DataType::HttpFailCnt,
        DataType::HttpFailRate,
        DataType::Gpt,
        DataType::Gpc,
        DataType::GpcRate,
    ];
}

/// The array data types, by name.
pub const ARRAY_NAMES: [(&str, DataType); 3] = [
    ("gpt", DataType::Gpt),
    ("gpc", DataType::Gpc),
    ("gpc_rate", DataType::GpcRate),
];

/// The most elements an array data type may have.
pub const MAX_ARRAY: usize = 100;

pub const NAMES: [(&str, DataType); 22] = [
    ("server_id", DataType::ServerId),
    ("gpt0", DataType::Gpt0),
    ("gpc0", DataType::Gpc0),
    ("gpc0_rate", DataType::Gpc0Rate),
    ("conn_cnt", DataType::ConnCnt),
    ("conn_rate", DataType::ConnRate),
    ("conn_cur", DataType::ConnCur),
    ("sess_cnt", DataType::SessCnt),
    ("sess_rate", DataType::SessRate),
    ("http_req_cnt", DataType::HttpReqCnt),
    ("http_req_rate", DataType::HttpReqRate),
    ("http_err_cnt", DataType::HttpErrCnt),
    ("http_err_rate", DataType::HttpErrRate),
    ("bytes_in_cnt", DataType::BytesInCnt),
    ("bytes_in_rate", DataType::BytesInRate),
    ("bytes_out_cnt", DataType::BytesOutCnt),
    ("bytes_out_rate", DataType::BytesOutRate),
    ("gpc1", DataType::Gpc1),
    ("gpc1_rate", DataType::Gpc1Rate),
    ("server_key", DataType::ServerKey),
    ("http_fail_cnt", DataType::HttpFailCnt),
    ("http_fail_rate", DataType::HttpFailRate),
];

impl DataType {
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .chain(ARRAY_NAMES.iter())
            .find(|(_, d)| *d == self)
            .map(|(n, _)| *n)
            .unwrap_or("")
    }

    pub fn is_rate(self) -> bool {
        self.name().ends_with("_rate")
    }

    pub fn is_array(self) -> bool {
        matches!(self, DataType::Gpt | DataType::Gpc | DataType::GpcRate)
    }

    /// The values one element takes in an entry (a rate takes three).
    pub fn width(self) -> usize {
        if self.is_rate() { 3 } else { 1 }
    }

    /// For a legacy `gpt0`/`gpc0`/`gpc1`/`gpc0_rate`/`gpc1_rate`, the array element it
    /// stands for when the table stores the array instead.
    pub fn array_alias(self) -> Option<(DataType, usize)> {
        Some(match self {
            DataType::Gpt0 => (DataType::Gpt, 0),
            DataType::Gpc0 => (DataType::Gpc, 0),
            DataType::Gpc1 => (DataType::Gpc, 1),
            DataType::Gpc0Rate => (DataType::GpcRate, 0),
            DataType::Gpc1Rate => (DataType::GpcRate, 1),
            _ => return None,
        })
    }
}

/// One stored data type: where its values sit in an entry, and the period of a rate.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub ty: DataType,
    /// Period of a rate, in milliseconds.
    pub period: u64,
    /// Index of its first value in an entry (a rate takes three).
    pub offset: usize,
    /// Elements of an array type (1 for the others).
    pub count: usize,
}

impl Column {
    /// Values the column takes in an entry.
    pub fn slots(&self) -> usize {
        self.ty.width() * self.count
    }
}

fn layout(types: Vec<(DataType, u64, usize)>) -> Vec<Column> {
    let mut types = types;
    types.sort_by_key(|(t, _, _)| *t);
    let mut offset = 0;
    types
        .into_iter()
        .map(|(ty, period, count)| {
            let c = Column {
                ty,
                period,
                offset,
                count,
            };
            offset += c.slots();
            c
        })
        .collect()
}

/// What `stick-table` declares.
#[derive(Debug, Clone)]
pub struct TableConf {
    pub key: KeyType,
    pub size: usize,
    /// Milliseconds an entry lives after its last update (None: forever).
    pub expire: Option<u64>,
    pub nopurge: bool,
    pub columns: Vec<Column>,
    /// `srvkey addr`: `server_key` holds the server's address instead of its name.
    pub srvkey_addr: bool,
}

/// Splits a `store` list on the commas outside parentheses (`gpc_rate(2,10s),gpt(1)`).
fn split_store(list: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, b) in list.bytes().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b',' if depth <= 0 => {
                out.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&list[start..]);
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

impl TableConf {
    /// Parses the words after `stick-table`.
    pub fn parse(words: &[String]) -> Result<TableConf, String> {
        let mut key = None;
        let mut size = None;
        let mut expire = None;
        let mut nopurge = false;
        let mut srvkey_addr = false;
        let mut types: Vec<(DataType, u64, usize)> = Vec::new();
        let mut i = 0;
        let next = |i: &mut usize, what: &str| -> Result<&String, String> {
            *i += 1;
            words
                .get(*i)
                .ok_or_else(|| format!("missing argument after '{what}'"))
        };
        while i < words.len() {
            let w = words[i].as_str();
            match w {
                "type" => {
                    let t = next(&mut i, "type")?.as_str();
                    let has_len = words.get(i + 1).is_some_and(|w| w == "len");
                    let len = if has_len {
                        let v = next(&mut i, "type")?;
                        let _ = v;
                        let l = next(&mut i, "len")?;
                        let n = l
                            .parse::<usize>()
                            .map_err(|_| format!("invalid length '{l}' for 'len'"))?;
                        if n == 0 {
                            return Err("'len' must be positive".into());
                        }
                        Some(n)
                    } else {
                        None
                    };
                    key = Some(match t {
                        "ip" => KeyType::Ip,
                        "ipv6" => KeyType::Ipv6,
                        "integer" => KeyType::Integer,
                        "string" => KeyType::String(len.unwrap_or(32)),
                        "binary" => KeyType::Binary(len.unwrap_or(32)),
                        _ => return Err(format!("unknown type '{t}' for 'type'")),
                    });
                }
                "size" => {
                    let v = next(&mut i, "size")?;
                    let n = parse_size(v).map_err(|e| format!("'size' : {e}"))?;
                    if n == 0 || n > u32::MAX as u64 {
                        return Err(format!("invalid size '{v}'"));
                    }
                    size = Some(n as usize);
                }
                "expire" => {
                    let v = next(&mut i, "expire")?;
                    let ms = parse_time_ms(v).map_err(|e| format!("'expire' : {e}"))?;
                    if ms > i32::MAX as u64 {
                        return Err(format!("'expire' : timer overflow in '{v}'"));
                    }
                    expire = Some(ms);
                }
                "nopurge" => nopurge = true,
                "peers" | "write-to" => {
                    next(&mut i, w)?;
                }
                "srvkey" => {
                    let v = next(&mut i, "srvkey")?;
                    match v.as_str() {
                        "name" => srvkey_addr = false,
                        "addr" => srvkey_addr = true,
                        _ => return Err(format!("'srvkey' : unknown value '{v}'")),
                    }
                }
                "store" => {
                    let list = next(&mut i, "store")?;
                    for item in split_store(list) {
                        let (name, arg) = match item.split_once('(') {
                            Some((n, rest)) => (n, Some(rest.trim_end_matches(')'))),
                            None => (item, None),
                        };
                        if let Some(&(_, ty)) = ARRAY_NAMES.iter().find(|(n, _)| *n == name) {
                            let a = arg.ok_or_else(|| {
                                format!("missing argument to store option '{name}'")
                            })?;
                            let (nb, per) = match a.split_once(',') {
                                Some((n, p)) => (n.trim(), Some(p.trim())),
                                None => (a.trim(), None),
                            };
                            let count = nb
                                .parse::<usize>()
                                .ok()
                                .filter(|n| (1..=MAX_ARRAY).contains(n))
                                .ok_or_else(|| {
                                    format!(
                                        "array size is out of allowed range (1-{MAX_ARRAY}) for store option '{name}'"
                                    )
                                })?;
                            let period = match (ty.is_rate(), per) {
                                (true, Some(p)) => parse_time_ms(p)
                                    .map_err(|e| format!("data type '{name}' : {e}"))?
                                    .max(1),
                                (true, None) => {
                                    return Err(format!(
                                        "missing argument to store option '{name}'"
                                    ));
                                }
                                (false, Some(_)) => {
                                    return Err(format!(
                                        "unexpected argument to store option '{name}'"
                                    ));
                                }
                                (false, None) => 0,
                            };
                            if !types.iter().any(|(t, _, _)| *t == ty) {
                                types.push((ty, period, count));
                            }
                            continue;
                        }
                        let Some(&(_, ty)) = NAMES.iter().find(|(n, _)| *n == name) else {
                            return Err(format!("unknown data type '{name}' for 'store'"));
                        };
                        let period = if ty.is_rate() {
                            let a = arg
                                .ok_or_else(|| format!("missing argument to data type '{name}'"))?;
                            parse_time_ms(a)
                                .map_err(|e| format!("data type '{name}' : {e}"))?
                                .max(1)
                        } else if arg.is_some() {
                            return Err(format!("data type '{name}' takes no argument"));
                        } else {
                            0
                        };
                        if !types.iter().any(|(t, _, _)| *t == ty) {
                            types.push((ty, period, 1));
                        }
                    }
                }
                _ => return Err(format!("unknown argument '{w}'")),
            }
            i += 1;
        }
        let key = key.ok_or("missing 'type'")?;
        let size = size.ok_or("missing 'size'")?;
        for (arr, legacy, shown, old) in [
            (
                DataType::Gpc,
                [DataType::Gpc0, DataType::Gpc1],
                "gpc",
                "gpc[0/1]",
            ),
            (
                DataType::GpcRate,
                [DataType::Gpc0Rate, DataType::Gpc1Rate],
                "gpc_rate",
                "gpc[0/1]_rate",
            ),
            (
                DataType::Gpt,
                [DataType::Gpt0, DataType::Gpt0],
                "gpt",
                "gpt0",
            ),
        ] {
            let has = |t: DataType| types.iter().any(|(x, _, _)| *x == t);
            if has(arr) && legacy.iter().any(|&l| has(l)) {
                return Err(format!(
                    "simultaneous usage of '{shown}' and '{old}' in a same table is not permitted as '{shown}' overrides '{old}'"
                ));
            }
        }
        let columns = layout(types);
        Ok(TableConf {
            key,
            size,
            expire,
            nopurge,
            columns,
            srvkey_addr,
        })
    }

    /// Adds `server_id` and `server_key`, which `stick` rules store (as HAProxy does for
    /// a table that a stick rule uses).
    pub fn add_server_columns(&mut self) {
        let mut types: Vec<(DataType, u64, usize)> = self
            .columns
            .iter()
            .map(|c| (c.ty, c.period, c.count))
            .collect();
        for ty in [DataType::ServerId, DataType::ServerKey] {
            if !types.iter().any(|(t, _, _)| *t == ty) {
                types.push((ty, 0, 1));
            }
        }
        self.columns = layout(types);
    }

    /// Values an entry holds.
    pub fn slots(&self) -> usize {
        self.columns.iter().map(Column::slots).sum()
    }
}
