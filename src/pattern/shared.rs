//! The runtime-editable side of patterns: `PatternRef` (one per file or inline ACL list, with
//! the versions of `prepare`/`commit`), `SharedPatterns` (a compiled view of a reference for
//! one method and case mode, read through an `Arc`), and `Registry` (names and unique ids).

use super::file::{Line, at_line, parse_lines, read};
use super::set::next_entry_id;
use super::{Entry, EntryRef, MatchMethod, PatternFlags, PatternSet};
use super::{cast_str_to_int, cast_str_to_ip};
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};

/// Where a reference is used from, for `show map`/`show acl` descriptions.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a> {
    /// Configuration file name.
    pub file: &'a str,
    /// Line number in that file.
    pub line: usize,
}

/// Why a runtime edit was refused; [`RefError::message`] gives HAProxy's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefError {
    /// `add … @ver` beyond the last prepared version.
    VersionInFuture,
    /// `commit @ver` outside `curr_ver+1 ..= next_ver`.
    VersionOutOfRange,
    /// `del` found nothing.
    KeyNotFound,
    /// `set` found nothing.
    EntryNotFound,
    /// The pattern does not parse for one of the methods using the reference.
    Parse(String),
}

impl RefError {
    /// The runtime API's text, worded for maps or ACLs.
    pub fn message(&self, map: bool) -> String {
        let what = if map { "map" } else { "acl" };
        match self {
            RefError::VersionInFuture => {
                format!("Version number in the future, please use 'prepare {what}' before.")
            }
            RefError::VersionOutOfRange => "Version number out of range.".to_string(),
            RefError::KeyNotFound => "Key not found.".to_string(),
            RefError::EntryNotFound => "entry not found.".to_string(),
            RefError::Parse(e) => e.clone(),
        }
    }
}

impl fmt::Display for RefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message(true))
    }
}

/// What a map converter returns from the values of a map (`map_<match>_<output>`): every
/// value must parse for the output types using a reference, at load time and on runtime
/// edits, with HAProxy's error `unable to parse '<value>'`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// The value as a string (`map`, `map_str`, `map_beg`…).
    Str,
    /// A signed integer (`map_str_int`…): an optional sign and decimal digits only;
    /// values beyond 64 bits saturate.
    Int,
    /// An IPv4 or IPv6 address (`map_str_ip`…), read like HAProxy's cast from a string.
    Ip,
}

impl ValueKind {
    /// Checks a value for this output type.
    pub fn check(self, value: &str) -> Result<(), String> {
        let ok = match self {
            ValueKind::Str => true,
            ValueKind::Int => {
                let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
                digits.bytes().all(|c| c.is_ascii_digit())
            }
            ValueKind::Ip => cast_str_to_ip(value.as_bytes()).is_some(),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("unable to parse '{value}'."))
        }
    }

    /// The integer of a checked `Int` value.
    pub fn int(value: &str) -> i64 {
        cast_str_to_int(value.as_bytes())
    }

    /// The address of a checked `Ip` value.
    pub fn ip(value: &str) -> Option<IpAddr> {
        cast_str_to_ip(value.as_bytes())
    }

    /// The sample type name `get map` prints for a value.
    fn type_name(self, value: &str) -> &'static str {
        match self {
            ValueKind::Str => "str",
            ValueKind::Int => "sint",
            ValueKind::Ip => match ValueKind::ip(value) {
                Some(IpAddr::V6(_)) => "ipv6",
                _ => "ipv4",
            },
        }
    }
}

/// What makes HAProxy give a user of a reference its own pattern expression, or share one
/// with an earlier user: the way patterns are indexed and parsed, the output type of the
/// values (none for ACLs) and the `-i`/`-n` flags (maps never resolve names). `get map`
/// prints one line per expression and the `entry_cnt` of `show map` counts entries once
/// per expression, so halo keeps the same grouping beside its own per-method views.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ExprKey {
    class: u8,
    values: Option<ValueKind>,
    ignore_case: bool,
    no_dns: bool,
}

impl ExprKey {
    fn new(
        method: MatchMethod,
        regm: bool,
        values: Option<ValueKind>,
        ignore_case: bool,
        no_dns: bool,
    ) -> ExprKey {
        // One class per (index, parser) pair: the list-based string methods share one.
        let class = match method {
            MatchMethod::Found | MatchMethod::Bool => 0,
            MatchMethod::Int | MatchMethod::Len => 1,
            MatchMethod::Ip => 2,
            MatchMethod::Bin => 3,
            MatchMethod::Str => 4,
            MatchMethod::Beg => 5,
            MatchMethod::Sub | MatchMethod::Dir | MatchMethod::Dom | MatchMethod::End => 6,
            MatchMethod::Reg if regm => 8,
            MatchMethod::Reg => 7,
        };
        ExprKey {
            class,
            values,
            ignore_case,
            no_dns,
        }
    }
}

/// One expression of a reference: its key and the view of its first user, which decides
/// the match method `get map` applies and prints.
#[derive(Debug)]
struct ExprInfo {
    key: ExprKey,
    view: Weak<SharedPatterns>,
}

/// `a` is before `b` in the wrapping 32-bit version space.
fn older(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

#[derive(Clone, Debug)]
struct RefEntry {
    entry: Entry,
    version: u32,
    /// Line in the file it was loaded from (0 when added at runtime).
    line: usize,
}

#[derive(Debug, Default)]
struct RefInner {
    entries: Vec<RefEntry>,
    curr_ver: u32,
    next_ver: u32,
    views: Vec<Weak<SharedPatterns>>,
    exprs: Vec<ExprInfo>,
    /// HAProxy's `entry_cnt`: one per entry and expression when an entry is added, minus
    /// one per entry removed (and one per refused addition), wrapping like its unsigned
    /// counter. It is what HAProxy 2.6 prints, not the number of entries.
    entry_cnt: u64,
    users: Vec<String>,
    two_columns: bool,
    used_as_map: bool,
    used_as_acl: bool,
}

/// A named list of patterns: a file (shared by every ACL and map naming it) or the inline
/// patterns of one ACL line. It holds the entries of every version and keeps the compiled
/// views of the current version in step with each edit.
#[derive(Debug)]
pub struct PatternRef {
    /// Identifying name: the file name (without `file@`/`opt@`), `virt@…`, or "" inline.
    name: String,
    /// For inline lists: `acl 'req.hdr' file 'x.cfg' line 19`.
    inline_description: Option<String>,
    explicit_id: Option<i64>,
    id: AtomicI64,
    inner: Mutex<RefInner>,
}

impl PatternRef {
    fn new(name: &str, inline_description: Option<String>, explicit_id: Option<i64>) -> PatternRef {
        PatternRef {
            name: name.to_string(),
            inline_description,
            explicit_id,
            id: AtomicI64::new(explicit_id.unwrap_or(-1)),
            inner: Mutex::new(RefInner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RefInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The unique id (`#<id>` on the runtime API).
    pub fn id(&self) -> i64 {
        self.id.load(Ordering::Relaxed)
    }

    /// The file name, `virt@…` name, or "" for inline patterns.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Listed by `show map` (used by a map converter or an ACL with `-M`).
    pub fn is_map(&self) -> bool {
        self.lock().used_as_map
    }

    /// Listed by `show acl` (used by an ACL).
    pub fn is_acl(&self) -> bool {
        self.lock().used_as_acl
    }

    /// Whether the file is read as `KEY VALUE` lines; `add acl` is refused then.
    pub fn two_columns(&self) -> bool {
        self.lock().two_columns
    }

    /// The version being matched against.
    pub fn curr_ver(&self) -> u32 {
        self.lock().curr_ver
    }

    /// The last version allocated by `prepare`.
    pub fn next_ver(&self) -> u32 {
        self.lock().next_ver
    }

    /// All entries of all versions.
    pub fn entry_count(&self) -> usize {
        self.lock().entries.len()
    }

    /// HAProxy's `entry_cnt` as `show map` prints it (see the field's note: with several
    /// expressions per reference it is not the number of entries).
    pub fn entry_cnt(&self) -> u64 {
        self.lock().entry_cnt
    }

    /// The description part of a `show map` line.
    pub fn description(&self) -> String {
        if let Some(d) = &self.inline_description {
            return d.clone();
        }
        let inner = self.lock();
        format!(
            "pattern loaded from file '{}' used by {}",
            self.name,
            inner.users.join(", by ")
        )
    }

    /// One line of `show map`/`show acl` without arguments, e.g.
    /// `0 (/etc/hosts.map) pattern loaded from file '/etc/hosts.map' used by map at file
    /// 'haproxy.cfg' line 10. curr_ver=0 next_ver=0 entry_cnt=5`.
    pub fn show_line(&self) -> String {
        let d = self.description();
        let inner = self.lock();
        format!(
            "{} ({}) {}. curr_ver={} next_ver={} entry_cnt={}",
            self.id(),
            self.name,
            d,
            inner.curr_ver,
            inner.next_ver,
            inner.entry_cnt
        )
    }

    /// The entries of a version (the current one by default), in loading order.
    pub fn entries(&self, version: Option<u32>) -> Vec<Entry> {
        let inner = self.lock();
        let v = version.unwrap_or(inner.curr_ver);
        inner
            .entries
            .iter()
            .filter(|e| e.version == v)
            .map(|e| e.entry.clone())
            .collect()
    }

    /// Whether an entry of the current version has this key (`add-acl`, `set-map`).
    pub fn has_key(&self, key: &str) -> bool {
        let inner = self.lock();
        let v = inner.curr_ver;
        inner
            .entries
            .iter()
            .any(|e| e.version == v && e.entry.key == key)
    }

    /// `show map [@ver] <map>` body: `0x… KEY VALUE` (or `0x… KEY` for ACL patterns) per
    /// line, each ending with a newline.
    pub fn dump(&self, version: Option<u32>) -> String {
        let mut out = String::new();
        for e in self.entries(version) {
            match &e.value {
                Some(v) => out.push_str(&format!("{:#x} {} {}\n", e.id, e.key, v)),
                None => out.push_str(&format!("{:#x} {}\n", e.id, e.key)),
            }
        }
        out
    }

    /// The live compiled views of this reference, in creation order.
    pub fn views(&self) -> Vec<Arc<SharedPatterns>> {
        self.lock().views.iter().filter_map(Weak::upgrade).collect()
    }

    fn live_views(inner: &mut RefInner) -> Vec<Arc<SharedPatterns>> {
        inner.views.retain(|w| w.strong_count() > 0);
        inner.views.iter().filter_map(Weak::upgrade).collect()
    }

    /// `add map|acl [@ver]`: appends an entry to a version (the current one by default),
    /// after checking that every view using the reference accepts the pattern. Entries of
    /// another version stay invisible until `commit`. Returns the new entry's id.
    pub fn add(
        &self,
        version: Option<u32>,
        key: &str,
        value: Option<&str>,
    ) -> Result<u64, RefError> {
        let mut inner = self.lock();
        let ver = version.unwrap_or(inner.curr_ver);
        if older(inner.next_ver, ver) {
            return Err(RefError::VersionInFuture);
        }
        let exprs = Self::expr_sets(&mut inner);
        if let Err((i, e)) = Self::check_entry(&exprs, key, value) {
            Self::count_refusal(&mut inner, i);
            return Err(e);
        }
        let views = Self::live_views(&mut inner);
        let mut compiled = Vec::with_capacity(views.len());
        for v in &views {
            compiled.push(v.load().compile(key, false).map_err(RefError::Parse)?);
        }
        let entry = Entry {
            id: next_entry_id(),
            key: key.to_string(),
            value: value.map(str::to_string),
        };
        if ver == inner.curr_ver {
            for (v, pat) in views.iter().zip(compiled) {
                v.edit(|s| s.insert(entry.clone(), pat));
            }
        }
        let id = entry.id;
        inner.entries.push(RefEntry {
            entry,
            version: ver,
            line: 0,
        });
        inner.entry_cnt = inner.entry_cnt.wrapping_add(exprs.len() as u64);
        Ok(id)
    }

    /// The current set of each expression, in creation order.
    fn expr_sets(inner: &mut RefInner) -> Vec<(ExprKey, Arc<PatternSet>)> {
        inner.exprs.retain(|x| x.view.strong_count() > 0);
        inner
            .exprs
            .iter()
            .filter_map(|x| x.view.upgrade().map(|v| (x.key, v.load())))
            .collect()
    }

    /// Checks an entry against every expression in order, as HAProxy pushes it: the value
    /// for the expression's output type, then the key. The error carries the position of
    /// the expression that refused it.
    fn check_entry(
        exprs: &[(ExprKey, Arc<PatternSet>)],
        key: &str,
        value: Option<&str>,
    ) -> Result<(), (usize, RefError)> {
        for (i, (k, set)) in exprs.iter().enumerate() {
            let res = match (k.values, value) {
                (Some(kind), Some(v)) => kind.check(v),
                _ => Ok(()),
            }
            .and_then(|()| set.compile(key, false).map(|_| ()));
            if let Err(e) = res {
                return Err((i, RefError::Parse(e)));
            }
        }
        Ok(())
    }

    /// HAProxy's counter after a refused addition: the expressions that took the entry
    /// before the one that refused it, then the entry's removal.
    fn count_refusal(inner: &mut RefInner, accepted: usize) {
        inner.entry_cnt = inner
            .entry_cnt
            .wrapping_add(accepted as u64)
            .wrapping_sub(1);
    }

    /// `add map [@ver] <map> <<` with a payload, as HAProxy runs it: entries are added in
    /// order until one is refused; those before it stay. Each view is edited once, so a
    /// large payload costs at most one copy of a set that readers are holding. Returns the
    /// new ids and the refusal, if any.
    pub fn add_prefix(
        &self,
        version: Option<u32>,
        items: &[(&str, Option<&str>)],
    ) -> (Vec<u64>, Option<RefError>) {
        self.add_items(version, items, false)
    }

    fn add_items(
        &self,
        version: Option<u32>,
        items: &[(&str, Option<&str>)],
        atomic: bool,
    ) -> (Vec<u64>, Option<RefError>) {
        let mut inner = self.lock();
        let ver = version.unwrap_or(inner.curr_ver);
        if older(inner.next_ver, ver) {
            return (Vec::new(), Some(RefError::VersionInFuture));
        }
        let exprs = Self::expr_sets(&mut inner);
        let views = Self::live_views(&mut inner);
        let sets: Vec<Arc<PatternSet>> = views.iter().map(|v| v.load()).collect();
        let mut compiled: Vec<Vec<super::set::Pat>> = vec![Vec::new(); views.len()];
        let mut accepted = 0;
        let mut error = None;
        'items: for (key, value) in items {
            if let Err((i, e)) = Self::check_entry(&exprs, key, *value) {
                if !atomic {
                    Self::count_refusal(&mut inner, i);
                }
                error = Some(e);
                break;
            }
            let mut pats = Vec::with_capacity(sets.len());
            for set in &sets {
                match set.compile(key, false) {
                    Ok(p) => pats.push(p),
                    Err(e) => {
                        error = Some(RefError::Parse(e));
                        break 'items;
                    }
                }
            }
            for (c, p) in compiled.iter_mut().zip(pats) {
                c.push(p);
            }
            accepted += 1;
        }
        if atomic && error.is_some() {
            return (Vec::new(), error);
        }
        let entries: Vec<Entry> = items[..accepted]
            .iter()
            .map(|(k, v)| Entry {
                id: next_entry_id(),
                key: k.to_string(),
                value: v.map(str::to_string),
            })
            .collect();
        if ver == inner.curr_ver && !entries.is_empty() {
            for (v, pats) in views.iter().zip(compiled) {
                v.edit(|s| {
                    s.set_bulk(true);
                    for (e, p) in entries.iter().zip(pats) {
                        s.insert(e.clone(), p);
                    }
                    s.set_bulk(false);
                });
            }
        }
        let ids = entries.iter().map(|e| e.id).collect();
        inner.entry_cnt = inner
            .entry_cnt
            .wrapping_add((accepted * exprs.len()) as u64);
        inner
            .entries
            .extend(entries.into_iter().map(|entry| RefEntry {
                entry,
                version: ver,
                line: 0,
            }));
        (ids, error)
    }

    /// Adds every `(key, value)` pair, or none if one of them is refused (the first error
    /// is returned). Returns the new ids.
    pub fn add_many(
        &self,
        version: Option<u32>,
        items: &[(&str, Option<&str>)],
    ) -> Result<Vec<u64>, RefError> {
        match self.add_items(version, items, true) {
            (_, Some(e)) => Err(e),
            (ids, None) => Ok(ids),
        }
    }

    /// `del map|acl <key>|#<ref>`: removes the entries with this key in every version, or
    /// the one entry with this id.
    pub fn delete(&self, target: EntryRef<'_>) -> Result<usize, RefError> {
        let mut inner = self.lock();
        let hit = |e: &RefEntry| match target {
            EntryRef::Key(k) => e.entry.key == k,
            EntryRef::Id(id) => e.entry.id == id,
        };
        let gone: Vec<u64> = inner
            .entries
            .iter()
            .filter(|e| hit(e))
            .map(|e| e.entry.id)
            .collect();
        if gone.is_empty() {
            return Err(RefError::KeyNotFound);
        }
        inner.entries.retain(|e| !hit(e));
        inner.entry_cnt = inner.entry_cnt.wrapping_sub(gone.len() as u64);
        for v in Self::live_views(&mut inner) {
            v.edit(|s| {
                for &id in &gone {
                    s.remove_id(id);
                }
            });
        }
        Ok(gone.len())
    }

    /// `set map <key>|#<ref> <value>`: changes the value of the matching entries (every
    /// version).
    /// A value that an output type using the reference cannot parse leaves the entries
    /// unchanged: silently for a key (HAProxy 2.6 answers nothing then), with the parse
    /// error for an id.
    pub fn set_value(&self, target: EntryRef<'_>, value: &str) -> Result<usize, RefError> {
        let mut inner = self.lock();
        let exists = inner.entries.iter().any(|e| match target {
            EntryRef::Key(k) => e.entry.key == k,
            EntryRef::Id(id) => e.entry.id == id,
        });
        if !exists {
            return Err(RefError::EntryNotFound);
        }
        for (k, _) in Self::expr_sets(&mut inner) {
            if let Some(Err(e)) = k.values.map(|kind| kind.check(value)) {
                return match target {
                    EntryRef::Key(_) => Ok(0),
                    EntryRef::Id(_) => Err(RefError::Parse(e)),
                };
            }
        }
        let mut n = 0;
        for e in inner.entries.iter_mut() {
            let hit = match target {
                EntryRef::Key(k) => e.entry.key == k,
                EntryRef::Id(id) => e.entry.id == id,
            };
            if hit {
                e.entry.value = Some(value.to_string());
                n += 1;
            }
        }
        if n == 0 {
            return Err(RefError::EntryNotFound);
        }
        for v in Self::live_views(&mut inner) {
            v.edit(|s| {
                s.set_value(target, value);
            });
        }
        Ok(n)
    }

    /// `clear map|acl [@ver]`: removes every entry of a version (the current one by default).
    pub fn clear(&self, version: Option<u32>) {
        let mut inner = self.lock();
        let ver = version.unwrap_or(inner.curr_ver);
        let before = inner.entries.len();
        inner.entries.retain(|e| e.version != ver);
        let removed = before - inner.entries.len();
        inner.entry_cnt = inner.entry_cnt.wrapping_sub(removed as u64);
        if ver == inner.curr_ver {
            for v in Self::live_views(&mut inner) {
                v.edit(PatternSet::clear);
            }
        }
    }

    /// `prepare map|acl`: allocates the next version number and returns it.
    pub fn prepare(&self) -> u32 {
        let mut inner = self.lock();
        inner.next_ver = inner.next_ver.wrapping_add(1);
        inner.next_ver
    }

    /// `commit map|acl @ver`: makes `ver` the current version atomically (per view) and drops
    /// every older version.
    pub fn commit(&self, ver: u32) -> Result<(), RefError> {
        let mut inner = self.lock();
        if !older(inner.curr_ver, ver) || older(inner.next_ver, ver) {
            return Err(RefError::VersionOutOfRange);
        }
        inner.curr_ver = ver;
        let before = inner.entries.len();
        inner.entries.retain(|e| !older(e.version, ver));
        let removed = before - inner.entries.len();
        inner.entry_cnt = inner.entry_cnt.wrapping_sub(removed as u64);
        for v in Self::live_views(&mut inner) {
            let set = v
                .build(&inner, false)
                .unwrap_or_else(|_| PatternSet::new(v.method, v.ignore_case));
            v.replace(set);
        }
        Ok(())
    }

    /// `get map|acl <ref> <value>`: one line per expression (see [`ExprKey`]) in creation
    /// order, matched with the method of its first user, HAProxy's format, e.g.
    /// `type=beg, case=sensitive, found=yes, idx=tree, key="/api", value="v1", type="str"`
    /// (maps), `… value=none` for an ACL's expression, or
    /// `type=str, case=insensitive, match=yes, idx=list, pattern="foo"` (`get acl`).
    /// Each line ends with a newline.
    pub fn get_lines(&self, text: &str, as_map: bool) -> String {
        let exprs: Vec<(ExprKey, Arc<SharedPatterns>)> = {
            let mut inner = self.lock();
            inner.exprs.retain(|x| x.view.strong_count() > 0);
            inner
                .exprs
                .iter()
                .filter_map(|x| x.view.upgrade().map(|v| (x.key, v)))
                .collect()
        };
        let mut out = String::new();
        for (k, v) in exprs {
            let set = v.load();
            let case = if set.ignore_case() {
                "insensitive"
            } else {
                "sensitive"
            };
            let head = format!("type={}, case={}", v.method.name(), case);
            let (found, idx, key, value) = match v.method {
                MatchMethod::Found => (false, "list", String::new(), None),
                MatchMethod::Bool => (
                    super::cast_str_to_int(text.as_bytes()) != 0,
                    "list",
                    "unknown".to_string(),
                    None,
                ),
                _ => match set.match_text(text) {
                    Some(e) => (
                        true,
                        if set.is_tree(e) { "tree" } else { "list" },
                        format!("\"{}\"", e.key),
                        e.value.clone(),
                    ),
                    None => (false, "list", String::new(), None),
                },
            };
            let line = match (as_map, found) {
                (true, false) => format!("{head}, found=no"),
                (false, false) => format!("{head}, match=no"),
                (true, true) => {
                    let val = match (value, k.values) {
                        (Some(val), Some(kind)) => {
                            format!("\"{val}\", type=\"{}\"", kind.type_name(&val))
                        }
                        _ => "none".to_string(),
                    };
                    format!("{head}, found=yes, idx={idx}, key={key}, value={val}")
                }
                (false, true) => format!("{head}, match=yes, idx={idx}, pattern={key}"),
            };
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

/// One compiled view of a [`PatternRef`] for a match method and case mode, shared by every
/// ACL and map that uses the same file the same way. Readers call [`SharedPatterns::load`]
/// and match against the returned `Arc` without holding any lock; edits replace or modify
/// the set copy-on-write under a short write lock, so a reader keeps a consistent snapshot
/// and the next `load()` sees the change.
#[derive(Debug)]
pub struct SharedPatterns {
    method: MatchMethod,
    ignore_case: bool,
    /// Host names allowed in IP patterns when the set is rebuilt (ACLs without `-n`).
    resolve: bool,
    current: RwLock<Arc<PatternSet>>,
    reference: Arc<PatternRef>,
}

impl SharedPatterns {
    /// A standalone shared set (its own unnamed reference, outside any registry).
    pub fn new(method: MatchMethod, ignore_case: bool) -> Arc<SharedPatterns> {
        Self::from_set(PatternSet::new(method, ignore_case))
    }

    /// A standalone shared set holding `set`'s entries.
    pub fn from_set(set: PatternSet) -> Arc<SharedPatterns> {
        let r = Arc::new(PatternRef::new("", Some(String::new()), None));
        let shared = Arc::new(SharedPatterns {
            method: set.method(),
            ignore_case: set.ignore_case(),
            resolve: false,
            current: RwLock::new(Arc::new(PatternSet::new(set.method(), set.ignore_case()))),
            reference: r.clone(),
        });
        {
            let mut inner = r.lock();
            inner.entries = set
                .entries()
                .map(|e| RefEntry {
                    entry: e.clone(),
                    version: 0,
                    line: 0,
                })
                .collect();
            inner.views.push(Arc::downgrade(&shared));
        }
        shared.replace(set);
        shared
    }

    /// The current set. Cheap (an `Arc` clone under a read lock held for that instant).
    pub fn load(&self) -> Arc<PatternSet> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The match method.
    pub fn method(&self) -> MatchMethod {
        self.method
    }

    /// Whether `-i` applies.
    pub fn ignore_case(&self) -> bool {
        self.ignore_case
    }

    /// The reference (file) this view compiles.
    pub fn reference(&self) -> &Arc<PatternRef> {
        &self.reference
    }

    /// Edits this view's set directly, then makes the reference's current version match it
    /// and rebuilds the reference's other views (entries another view cannot parse are left
    /// out of that view). Runtime API edits should go through [`PatternRef`], which checks
    /// every view before changing anything.
    pub fn update(&self, f: impl FnOnce(&mut PatternSet)) {
        let mut inner = self.reference.lock();
        let entries: Vec<Entry> = {
            let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
            let set = Arc::make_mut(&mut guard);
            f(set);
            set.entries().cloned().collect()
        };
        let cur = inner.curr_ver;
        inner.entries.retain(|e| e.version != cur);
        inner
            .entries
            .extend(entries.into_iter().map(|entry| RefEntry {
                entry,
                version: cur,
                line: 0,
            }));
        for v in PatternRef::live_views(&mut inner) {
            if std::ptr::eq(Arc::as_ptr(&v), self) {
                continue;
            }
            let set = v.build_lenient(&inner);
            v.replace(set);
        }
    }

    /// `prepare`: a new version of the reference.
    pub fn prepare(&self) -> u32 {
        self.reference.prepare()
    }

    /// Adds an entry to a version of the reference (see [`PatternRef::add`]).
    pub fn add_version(
        &self,
        version: u32,
        key: &str,
        value: Option<&str>,
    ) -> Result<u64, RefError> {
        self.reference.add(Some(version), key, value)
    }

    /// `commit`: makes a prepared version current (see [`PatternRef::commit`]).
    pub fn commit(&self, version: u32) -> Result<(), RefError> {
        self.reference.commit(version)
    }

    /// Copy-on-write edit: in place when no reader holds the current `Arc`, on a copy
    /// otherwise.
    fn edit(&self, f: impl FnOnce(&mut PatternSet)) {
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        f(Arc::make_mut(&mut guard));
    }

    fn replace(&self, set: PatternSet) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
    }

    /// Compiles the current version of a reference for this view; errors name the file line.
    fn build(&self, inner: &RefInner, at_load: bool) -> Result<PatternSet, String> {
        let mut set = PatternSet::new(self.method, self.ignore_case);
        set.set_bulk(true);
        for e in inner.entries.iter().filter(|e| e.version == inner.curr_ver) {
            let pat = set.compile(&e.entry.key, self.resolve).map_err(|err| {
                if at_load && e.line > 0 {
                    at_line(&err, e.line, &self.reference.name)
                } else {
                    err
                }
            })?;
            set.insert(e.entry.clone(), pat);
        }
        set.set_bulk(false);
        Ok(set)
    }

    fn build_lenient(&self, inner: &RefInner) -> PatternSet {
        let mut set = PatternSet::new(self.method, self.ignore_case);
        set.set_bulk(true);
        for e in inner.entries.iter().filter(|e| e.version == inner.curr_ver) {
            if let Ok(pat) = set.compile(&e.entry.key, self.resolve) {
                set.insert(e.entry.clone(), pat);
            }
        }
        set.set_bulk(false);
        set
    }
}

/// How [`Registry::file_view`] is asked for a view: by a map converter or an ACL.
struct Use {
    two_columns: bool,
    method: MatchMethod,
    ignore_case: bool,
    resolve: bool,
    user: String,
    for_map: bool,
    expr: ExprKey,
}

#[derive(Debug, Default)]
struct RegInner {
    refs: Vec<Arc<PatternRef>>,
    files: HashMap<String, Arc<PatternRef>>,
    views: HashMap<(String, MatchMethod, bool), Arc<SharedPatterns>>,
}

/// Every pattern reference of a configuration: files by name (each loaded once whatever the
/// number of users), inline ACL lists, and their unique ids (`-u` or assigned in creation
/// order, skipping the ones taken), as `show map` and `show acl` list them.
#[derive(Debug, Default)]
pub struct Registry {
    inner: Mutex<RegInner>,
}

/// Splits a list name (manual 2.7): `file@` and `opt@` are not part of the name, `virt@` is.
/// Returns the identifying name, the path to read (none for virtual lists) and whether a
/// missing file is allowed.
fn split_name(name: &str) -> (String, Option<String>, bool) {
    if name.starts_with("virt@") {
        (name.to_string(), None, true)
    } else if let Some(p) = name.strip_prefix("opt@") {
        (p.to_string(), Some(p.to_string()), true)
    } else {
        let p = name.strip_prefix("file@").unwrap_or(name);
        (p.to_string(), Some(p.to_string()), false)
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    fn lock(&self) -> MutexGuard<'_, RegInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives every reference without `-u` the next free id, in creation order.
    fn assign_ids(inner: &RegInner) {
        let taken: std::collections::HashSet<i64> =
            inner.refs.iter().filter_map(|r| r.explicit_id).collect();
        let mut next = 0i64;
        for r in inner.refs.iter().filter(|r| r.explicit_id.is_none()) {
            while taken.contains(&next) {
                next += 1;
            }
            r.id.store(next, Ordering::Relaxed);
            next += 1;
        }
    }

    /// The view of a map file for a `map_<method>(<name>)` converter at `origin`, with
    /// string values. The file is read once (two columns) and shared with every other user
    /// of the same name.
    pub fn map_file(
        &self,
        name: &str,
        method: MatchMethod,
        origin: Origin<'_>,
    ) -> Result<Arc<SharedPatterns>, String> {
        self.map_file_as(name, method, ValueKind::Str, false, origin)
    }

    /// The view of a map file for a `map_<method>_<output>(<name>)` converter at `origin`
    /// (`regm` for `map_regm`). Every value must parse as `values`, else the error names
    /// the file and line: `unable to parse 'v1' at line 1 of file 'x.map'.`
    pub fn map_file_as(
        &self,
        name: &str,
        method: MatchMethod,
        values: ValueKind,
        regm: bool,
        origin: Origin<'_>,
    ) -> Result<Arc<SharedPatterns>, String> {
        self.file_view(
            name,
            Use {
                two_columns: true,
                method,
                ignore_case: false,
                resolve: false,
                user: format!("map at file '{}' line {}", origin.file, origin.line),
                for_map: true,
                expr: ExprKey::new(method, regm, Some(values), false, true),
            },
        )
    }

    /// The view of a pattern file for `acl … -f <name>` at `origin`, with the ACL's flags
    /// (`-i`, `-n`, `-M`).
    pub fn acl_file(
        &self,
        name: &str,
        method: MatchMethod,
        flags: &PatternFlags,
        origin: Origin<'_>,
    ) -> Result<Arc<SharedPatterns>, String> {
        let what = if flags.map { "map" } else { "acl" };
        self.file_view(
            name,
            Use {
                two_columns: flags.map,
                method,
                ignore_case: flags.ignore_case,
                resolve: !flags.no_dns,
                user: format!("{what} at file '{}' line {}", origin.file, origin.line),
                for_map: false,
                expr: ExprKey::new(method, false, None, flags.ignore_case, flags.no_dns),
            },
        )
    }

    fn file_view(&self, name: &str, u: Use) -> Result<Arc<SharedPatterns>, String> {
        let Use {
            two_columns,
            method,
            ignore_case,
            resolve,
            user,
            for_map,
            expr,
        } = u;
        let mut reg = self.lock();
        let (key, path, optional) = split_name(name);
        let (r, is_new) = match reg.files.get(&key) {
            Some(r) => {
                let two = r.two_columns();
                if two != two_columns {
                    let (was, now) = if two { ("two", "one") } else { ("one", "two") };
                    return Err(format!(
                        "The file \"{key}\" is already used as {was} column file and cannot be used by as {now} column file."
                    ));
                }
                (r.clone(), false)
            }
            None => {
                let lines: Vec<Line> = match &path {
                    None => Vec::new(),
                    Some(p) => match read(p, name) {
                        Ok(text) => parse_lines(&text, two_columns),
                        Err(_) if optional && !std::path::Path::new(p).exists() => Vec::new(),
                        Err(e) => return Err(e),
                    },
                };
                let r = Arc::new(PatternRef::new(&key, None, None));
                {
                    let mut inner = r.lock();
                    inner.two_columns = two_columns;
                    inner.entries = lines
                        .into_iter()
                        .map(|l| RefEntry {
                            entry: Entry {
                                id: next_entry_id(),
                                key: l.key,
                                value: l.value,
                            },
                            version: 0,
                            line: l.line,
                        })
                        .collect();
                }
                (r, true)
            }
        };
        // A new expression: HAProxy parses every value for its output type (and the
        // value before the key of the same line).
        {
            let inner = r.lock();
            let known = inner
                .exprs
                .iter()
                .any(|x| x.key == expr && x.view.strong_count() > 0);
            if !known && let Some(kind) = expr.values {
                for e in &inner.entries {
                    if let Some(v) = &e.entry.value {
                        kind.check(v).map_err(|err| at_line(&err, e.line, &key))?;
                    }
                }
            }
        }
        let vkey = (key.clone(), method, ignore_case);
        let view = match reg.views.get(&vkey) {
            Some(v) => v.clone(),
            None => {
                let mut inner = r.lock();
                let view = Arc::new(SharedPatterns {
                    method,
                    ignore_case,
                    resolve,
                    current: RwLock::new(Arc::new(PatternSet::new(method, ignore_case))),
                    reference: r.clone(),
                });
                let set = view.build(&inner, true)?;
                view.replace(set);
                inner.views.push(Arc::downgrade(&view));
                view
            }
        };
        {
            let mut inner = r.lock();
            if !inner
                .exprs
                .iter()
                .any(|x| x.key == expr && x.view.strong_count() > 0)
            {
                inner.exprs.push(ExprInfo {
                    key: expr,
                    view: Arc::downgrade(&view),
                });
                inner.entry_cnt = inner.entry_cnt.wrapping_add(inner.entries.len() as u64);
            }
            inner.users.push(user);
            if for_map || two_columns {
                inner.used_as_map = true;
            }
            if !for_map {
                inner.used_as_acl = true;
            }
        }
        reg.views.insert(vkey, view.clone());
        if is_new {
            reg.files.insert(key, r.clone());
            reg.refs.push(r);
            Self::assign_ids(&reg);
        }
        Ok(view)
    }

    /// The inline patterns of one ACL line (`acl name <fetch> [flags] pat1 pat2…`), listed
    /// by `show acl` as `acl '<fetch>' file '<cfg>' line <n>` with the `-u` id when given.
    /// Every ACL line gets its own reference, even without inline patterns, as in HAProxy.
    pub fn acl_inline(
        &self,
        fetch: &str,
        origin: Origin<'_>,
        method: MatchMethod,
        flags: &PatternFlags,
        patterns: &[&str],
    ) -> Result<Arc<SharedPatterns>, String> {
        let mut reg = self.lock();
        let explicit_id = match &flags.unique_id {
            None => None,
            Some(u) => {
                let id = u
                    .parse::<i64>()
                    .map_err(|_| format!("'{u}' is not a valid unique id."))?;
                if reg.refs.iter().any(|r| r.explicit_id == Some(id)) {
                    return Err("the id is already used.".to_string());
                }
                Some(id)
            }
        };
        let desc = format!("acl '{fetch}' file '{}' line {}", origin.file, origin.line);
        let r = Arc::new(PatternRef::new("", Some(desc), explicit_id));
        let view = Arc::new(SharedPatterns {
            method,
            ignore_case: flags.ignore_case,
            resolve: !flags.no_dns,
            current: RwLock::new(Arc::new(PatternSet::new(method, flags.ignore_case))),
            reference: r.clone(),
        });
        {
            let mut inner = r.lock();
            inner.used_as_acl = true;
            let mut set = PatternSet::new(method, flags.ignore_case);
            set.set_bulk(true);
            for p in patterns {
                let pat = set.compile(p, !flags.no_dns)?;
                let entry = Entry {
                    id: next_entry_id(),
                    key: p.to_string(),
                    value: None,
                };
                set.insert(entry.clone(), pat);
                inner.entries.push(RefEntry {
                    entry,
                    version: 0,
                    line: 0,
                });
            }
            set.set_bulk(false);
            view.replace(set);
            inner.views.push(Arc::downgrade(&view));
            inner.exprs.push(ExprInfo {
                key: ExprKey::new(method, false, None, flags.ignore_case, flags.no_dns),
                view: Arc::downgrade(&view),
            });
            inner.entry_cnt = inner.entries.len() as u64;
        }
        // The registry keeps inline views alive as it does file views.
        let inline_key = format!("\0inline{}", reg.refs.len());
        reg.views
            .insert((inline_key, method, flags.ignore_case), view.clone());
        reg.refs.push(r);
        Self::assign_ids(&reg);
        Ok(view)
    }

    /// Every reference, by id.
    pub fn refs(&self) -> Vec<Arc<PatternRef>> {
        let mut v = self.lock().refs.clone();
        v.sort_by_key(|r| r.id());
        v
    }

    /// The references `show map` lists.
    pub fn maps(&self) -> Vec<Arc<PatternRef>> {
        self.refs().into_iter().filter(|r| r.is_map()).collect()
    }

    /// The references `show acl` lists.
    pub fn acls(&self) -> Vec<Arc<PatternRef>> {
        self.refs().into_iter().filter(|r| r.is_acl()).collect()
    }

    /// Finds a reference by `#<id>` or by name (`file@`/`opt@` prefixes ignored).
    pub fn lookup(&self, ident: &str) -> Option<Arc<PatternRef>> {
        let reg = self.lock();
        if let Some(n) = ident.strip_prefix('#') {
            let id = n.parse::<i64>().ok()?;
            return reg.refs.iter().find(|r| r.id() == id).cloned();
        }
        let (key, _, _) = split_name(ident);
        reg.files.get(&key).cloned()
    }
}
