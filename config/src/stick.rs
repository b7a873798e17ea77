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
}

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
            .find(|(_, d)| *d == self)
            .map(|(n, _)| *n)
            .unwrap_or("")
    }

    pub fn is_rate(self) -> bool {
        self.name().ends_with("_rate")
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

impl TableConf {
    /// Parses the words after `stick-table`.
    pub fn parse(words: &[String]) -> Result<TableConf, String> {
        let mut key = None;
        let mut size = None;
        let mut expire = None;
        let mut nopurge = false;
        let mut srvkey_addr = false;
        let mut types: Vec<(DataType, u64)> = Vec::new();
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
                    for item in list.split(',').filter(|s| !s.is_empty()) {
                        let (name, arg) = match item.split_once('(') {
                            Some((n, rest)) => (n, Some(rest.trim_end_matches(')'))),
                            None => (item, None),
                        };
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
                        if !types.iter().any(|(t, _)| *t == ty) {
                            types.push((ty, period));
                        }
                    }
                }
                _ => return Err(format!("unknown argument '{w}'")),
            }
            i += 1;
        }
        let key = key.ok_or("missing 'type'")?;
        let size = size.ok_or("missing 'size'")?;
        types.sort_by_key(|(t, _)| *t);
        let mut offset = 0;
        let columns = types
            .into_iter()
            .map(|(ty, period)| {
                let c = Column { ty, period, offset };
                offset += if ty.is_rate() { 3 } else { 1 };
                c
            })
            .collect();
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
        let mut types: Vec<(DataType, u64)> =
            self.columns.iter().map(|c| (c.ty, c.period)).collect();
        for ty in [DataType::ServerId, DataType::ServerKey] {
            if !types.iter().any(|(t, _)| *t == ty) {
                types.push((ty, 0));
            }
        }
        types.sort_by_key(|(t, _)| *t);
        let mut offset = 0;
        self.columns = types
            .into_iter()
            .map(|(ty, period)| {
                let c = Column { ty, period, offset };
                offset += if ty.is_rate() { 3 } else { 1 };
                c
            })
            .collect();
    }

    /// Values an entry holds.
    pub fn slots(&self) -> usize {
        self.columns
            .iter()
            .map(|c| if c.ty.is_rate() { 3 } else { 1 })
            .sum()
    }
}
