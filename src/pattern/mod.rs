//! Matchers and their indexes, pattern files and map files: what ACLs and the `map_*`
//! converters compare samples against, and what the runtime API's `add/del/set/clear/show/
//! get map|acl`, `prepare` and `commit` commands edit.

// Layout: `PatternSet` (set.rs) is one compiled, indexed set for one match method; its
// indexes live in int.rs, ip.rs, text.rs and reg.rs; file.rs reads pattern and map files;
// cache.rs keeps the per-thread LRU of regex lookups (`tune.pattern.cache-size`);
// shared.rs holds the runtime-editable side: `PatternRef` (one per file or inline list,
// with versions: what `show map` lists), `SharedPatterns` (one compiled view of a
// reference per method and case mode, read through an `Arc`) and `Registry` (names, ids).
//
// Matching rules (configuration manual 7.1 and the `map` converter): IP addresses, and
// strings matched with `str` or `beg`, use "trees", so the longest ("finest") match wins;
// with `-i`, and for every other method, the first matching entry in loading order wins.

mod cache;
mod file;
mod int;
mod ip;
mod reg;
mod set;
mod shared;
mod text;

#[cfg(test)]
mod tests;

pub use cache::set_capacity as set_cache_size;
pub use file::{load_map_file, load_pattern_file};
pub use int::{IntOperator, IntPattern, apply_int_operator, cast_str_to_int, parse_int_pattern};
pub use ip::{IpPattern, cast_str_to_ip, v4_to_v6, v6_to_v4};
pub(crate) use reg::compile as compile_regex;
pub use set::{PatternSet, next_entry_id};
pub use shared::{Origin, PatternRef, RefError, Registry, SharedPatterns, ValueKind};

/// How a sample is compared with patterns (`-m <method>`, manual 7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchMethod {
    /// `found`: the sample exists; patterns are ignored.
    Found,
    /// `bool`: the sample is true or non-zero; patterns are ignored.
    Bool,
    /// `int`: integer values, ranges and operators.
    Int,
    /// `ip`: IPv4/IPv6 networks.
    Ip,
    /// `bin`: exact match against a hex-encoded block.
    Bin,
    /// `len`: the sample's length against integer patterns.
    Len,
    /// `str`: exact string.
    Str,
    /// `beg`: prefix.
    Beg,
    /// `sub`: substring.
    Sub,
    /// `dir`: slash-delimited segment(s).
    Dir,
    /// `dom`: dot-delimited label(s) (also `:`, `/`, `?`).
    Dom,
    /// `end`: suffix.
    End,
    /// `reg`: regular expression.
    Reg,
}

impl MatchMethod {
    /// The method named after `-m`, or in a converter name (`map_beg`).
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "found" => MatchMethod::Found,
            "bool" => MatchMethod::Bool,
            "int" => MatchMethod::Int,
            "ip" => MatchMethod::Ip,
            "bin" => MatchMethod::Bin,
            "len" => MatchMethod::Len,
            "str" => MatchMethod::Str,
            "beg" => MatchMethod::Beg,
            "sub" => MatchMethod::Sub,
            "dir" => MatchMethod::Dir,
            "dom" => MatchMethod::Dom,
            "end" => MatchMethod::End,
            "reg" => MatchMethod::Reg,
            _ => return None,
        })
    }

    /// The method's name, as `get map` prints it.
    pub fn name(self) -> &'static str {
        match self {
            MatchMethod::Found => "found",
            MatchMethod::Bool => "bool",
            MatchMethod::Int => "int",
            MatchMethod::Ip => "ip",
            MatchMethod::Bin => "bin",
            MatchMethod::Len => "len",
            MatchMethod::Str => "str",
            MatchMethod::Beg => "beg",
            MatchMethod::Sub => "sub",
            MatchMethod::Dir => "dir",
            MatchMethod::Dom => "dom",
            MatchMethod::End => "end",
            MatchMethod::Reg => "reg",
        }
    }

    /// Whether the method compares against patterns at all (`found` and `bool` do not).
    pub fn takes_patterns(self) -> bool {
        !matches!(self, MatchMethod::Found | MatchMethod::Bool)
    }
}

/// The ACL flags that concern patterns (manual 7.1.1). `-m` is the [`MatchMethod`], `-f`
/// the file names, `--` ends the flags; those are the ACL parser's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PatternFlags {
    /// `-i`: ignore case for strings and regexes.
    pub ignore_case: bool,
    /// `-n`: never resolve host names in IP patterns.
    pub no_dns: bool,
    /// `-u ID`: the unique id the runtime API shows for the ACL's inline patterns.
    pub unique_id: Option<String>,
    /// `-M`: read the `-f` file as a map (two columns).
    pub map: bool,
}

/// One pattern of a set or a reference: what `show map` prints as `0x… KEY VALUE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Stable unique id (`#0x…` references of `del map`/`set map`).
    pub id: u64,
    /// The pattern as written (for integer ACL operators, as rewritten: `gt 5` is `6:`).
    pub key: String,
    /// The map value; `None` for ACL patterns.
    pub value: Option<String>,
}

/// What `del map`, `set map` and friends designate: every entry with a key, or one entry
/// by its `#id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryRef<'a> {
    /// All entries whose key is exactly this text.
    Key(&'a str),
    /// The entry with this id.
    Id(u64),
}

impl<'a> EntryRef<'a> {
    /// Reads a runtime API argument: `#0x5600…` or `#123` (hexadecimal with `0x`, else
    /// decimal) is an id, anything else a key.
    pub fn parse(arg: &'a str) -> EntryRef<'a> {
        if let Some(r) = arg.strip_prefix('#') {
            let id = match r.strip_prefix("0x").or_else(|| r.strip_prefix("0X")) {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => r.parse::<u64>().ok(),
            };
            if let Some(id) = id {
                return EntryRef::Id(id);
            }
        }
        EntryRef::Key(arg)
    }
}
