//! Variables (manual 2.8): names `scope.name` checked at load time, the per-stream store
//! (`sess` for the client connection, `txn`/`req`/`res` for one HTTP transaction) and the
//! process-wide `proc` scope; values are samples that keep their type. The `tune.vars.*`
//! memory accounting is here too.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};

use super::Sample;

/// Where a variable lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Proc,
    Sess,
    Txn,
    Req,
    Res,
    /// `check`: the variables of one health check (`http-check`/`tcp-check set-var`).
    Check,
    /// The parent-stream scopes `psess`, `ptxn`, `preq`, `pres`: valid names that never
    /// hold anything (there is no parent stream in halo).
    Never,
}

impl Scope {
    fn from_name(s: &str) -> Option<Scope> {
        Some(match s {
            "proc" => Scope::Proc,
            "sess" => Scope::Sess,
            "txn" => Scope::Txn,
            "req" => Scope::Req,
            "res" => Scope::Res,
            "check" => Scope::Check,
            "psess" | "ptxn" | "preq" | "pres" => Scope::Never,
            _ => return None,
        })
    }
}

/// A variable name, `scope.name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VarName {
    pub scope: Scope,
    pub name: String,
    /// As written, for messages.
    pub full: String,
}

impl VarName {
    /// Parses `scope.name` (the name may itself contain dots).
    pub fn parse(text: &str) -> Result<VarName, String> {
        let text = text.trim();
        let (scope, name) = text.split_once('.').ok_or_else(|| {
            format!("invalid variable name '{text}': expected '<scope>.<name>' with scope proc, sess, txn, req or res")
        })?;
        let scope = Scope::from_name(scope).ok_or_else(|| {
            format!(
                "invalid variable name '{text}': unknown scope '{scope}' (expected proc, sess, txn, req, res, check, psess, ptxn, preq or pres)"
            )
        })?;
        if name.is_empty() {
            return Err(format!("invalid variable name '{text}': empty name"));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '.'))
        {
            return Err(format!(
                "invalid variable name '{text}': character '{bad}' is not allowed (only a-z, A-Z, 0-9, '_' and '.')"
            ));
        }
        Ok(VarName {
            scope,
            name: name.to_string(),
            full: text.to_string(),
        })
    }

    /// Whether rules may set or unset this variable.
    /// Whether stream rules may set or unset this variable (`check.` ones belong to
    /// health checks).
    pub fn settable(&self) -> bool {
        !matches!(self.scope, Scope::Never | Scope::Check)
    }
}

type Store = HashMap<String, Sample<'static>>;

/// What HAProxy 2.6 counts for one variable besides the bytes of a string or binary
/// value: its `struct var` on a 64-bit build (measured: with `tune.vars.txn-max-size 80`
/// one integer variable fits, a second does not; 90 holds a 10-byte string).
pub const VAR_ENTRY_SIZE: usize = 80;

/// The `tune.vars.*-max-size` limits (0: none), in the order global, proc, reqres, sess,
/// txn. Set once from the global section before the first connection.
static LIMITS: [AtomicUsize; 5] = [const { AtomicUsize::new(0) }; 5];
/// Bytes accounted to every stream's variables, kept only while a `proc` or `global`
/// limit is set (so that streams do not share a counter otherwise).
static STREAMS_SIZE: AtomicUsize = AtomicUsize::new(0);

/// Which `tune.vars.*-max-size` limit.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    Global = 0,
    Proc = 1,
    Reqres = 2,
    Sess = 3,
    Txn = 4,
}

/// Sets the `tune.vars.*-max-size` limits (bytes, 0: unlimited).
pub fn set_limits(global: usize, proc: usize, reqres: usize, sess: usize, txn: usize) {
    for (i, v) in [global, proc, reqres, sess, txn].into_iter().enumerate() {
        LIMITS[i].store(v, Relaxed);
    }
}

/// The limits in force, read once per change.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Limits([usize; 5]);

impl Limits {
    fn current() -> Limits {
        Limits(std::array::from_fn(|i| LIMITS[i].load(Relaxed)))
    }

    fn get(&self, l: Limit) -> usize {
        self.0[l as usize]
    }

    /// Whether the process-wide total must be kept (a `proc` or `global` limit is set).
    fn process_tracked(&self) -> bool {
        self.get(Limit::Proc) != 0 || self.get(Limit::Global) != 0
    }
}

/// Whether `now + add` stays within `lim` (0: no limit).
fn fits(lim: usize, now: usize, add: usize) -> bool {
    lim == 0 || now.saturating_add(add) <= lim
}

/// Bytes a value takes beside its entry: the data of strings and binaries.
fn data_size(v: &Sample<'_>) -> usize {
    match v {
        Sample::Str(b) | Sample::Bin(b) => b.len(),
        _ => 0,
    }
}

/// The `proc` scope: one store for the process, with its accounted size.
#[derive(Default)]
struct ProcStore {
    vars: Store,
    size: usize,
}

fn proc_store() -> &'static Mutex<ProcStore> {
    static PROC: OnceLock<Mutex<ProcStore>> = OnceLock::new();
    PROC.get_or_init(|| Mutex::new(ProcStore::default()))
}

/// The value of a `proc.` variable (for the runtime API's `get var` as well).
pub fn proc_get(name: &str) -> Option<Sample<'static>> {
    proc_store().lock().ok()?.vars.get(name).cloned()
}

/// Sets a `proc.` variable (`None` unsets it). Returns false when the `proc` or `global`
/// limit leaves no room for the value (nothing changes then).
pub fn proc_set(name: &str, value: Option<Sample<'static>>) -> bool {
    let Ok(mut p) = proc_store().lock() else {
        return false;
    };
    let old = p.vars.get(name).map(|o| VAR_ENTRY_SIZE + data_size(o));
    match value {
        Some(v) => {
            let new = VAR_ENTRY_SIZE + data_size(&v);
            let base = p.size - old.unwrap_or(0);
            let total = base + STREAMS_SIZE.load(Relaxed);
            let l = Limits::current();
            if !fits(l.get(Limit::Proc), total, new) || !fits(l.get(Limit::Global), total, new) {
                return false;
            }
            p.size = base + new;
            p.vars.insert(name.to_string(), v);
        }
        None => {
            if let Some(o) = old {
                p.size -= o;
                p.vars.remove(name);
            }
        }
    }
    true
}

/// The four stores of a stream and the bytes each one holds.
#[derive(Debug, Default)]
struct Stores {
    sess: Store,
    txn: Store,
    req: Store,
    res: Store,
    /// `check.` variables (health checks only; not accounted).
    check: Store,
    /// Accounted bytes of `sess`, `txn`, `req`, `res`.
    size: [usize; 4],
    /// Bytes added to `STREAMS_SIZE` and not yet given back.
    charged: usize,
}

fn slot(scope: Scope) -> Option<usize> {
    match scope {
        Scope::Sess => Some(0),
        Scope::Txn => Some(1),
        Scope::Req => Some(2),
        Scope::Res => Some(3),
        Scope::Proc | Scope::Check | Scope::Never => None,
    }
}

impl Stores {
    fn store(&self, i: usize) -> &Store {
        match i {
            0 => &self.sess,
            1 => &self.txn,
            2 => &self.req,
            _ => &self.res,
        }
    }

    fn store_mut(&mut self, i: usize) -> &mut Store {
        match i {
            0 => &mut self.sess,
            1 => &mut self.txn,
            2 => &mut self.req,
            _ => &mut self.res,
        }
    }

    /// Whether `add` more bytes fit in scope `i` once `free` bytes of it are released,
    /// checking the limits as HAProxy does, from the finest scope up: `req`/`res` share
    /// the `reqres` limit, `txn` includes them, `sess` includes `txn`, and the process
    /// (`proc`, `global`) includes every stream and the `proc` variables.
    fn room(&self, l: &Limits, i: usize, free: usize, add: usize) -> bool {
        let [s, t, rq, rs] = self.size;
        let reqres = rq + rs;
        let txn = t + reqres;
        let sess = s + txn;
        let ok = match i {
            2 | 3 => {
                fits(l.get(Limit::Reqres), reqres - free, add)
                    && fits(l.get(Limit::Txn), txn - free, add)
            }
            1 => fits(l.get(Limit::Txn), txn - free, add),
            _ => true,
        };
        if !ok || !fits(l.get(Limit::Sess), sess - free, add) {
            return false;
        }
        if !l.process_tracked() {
            return true;
        }
        let procs = proc_store().lock().map(|p| p.size).unwrap_or(0);
        let total = (STREAMS_SIZE.load(Relaxed) + procs).saturating_sub(free.min(self.charged));
        fits(l.get(Limit::Proc), total, add) && fits(l.get(Limit::Global), total, add)
    }

    /// Accounts `add` more bytes and `free` fewer in scope `i`.
    fn account(&mut self, l: &Limits, i: usize, free: usize, add: usize) {
        self.size[i] = self.size[i] - free + add;
        self.release(free);
        if add > 0 && l.process_tracked() {
            STREAMS_SIZE.fetch_add(add, Relaxed);
            self.charged += add;
        }
    }

    /// Gives back to the process total what this stream had charged, up to `n` bytes.
    fn release(&mut self, n: usize) {
        let n = n.min(self.charged);
        if n > 0 {
            STREAMS_SIZE.fetch_sub(n, Relaxed);
            self.charged -= n;
        }
    }

    fn clear(&mut self, i: usize) {
        let n = self.size[i];
        self.store_mut(i).clear();
        self.size[i] = 0;
        self.release(n);
    }
}

impl Drop for Stores {
    fn drop(&mut self) {
        let n = self.charged;
        self.release(n);
    }
}

/// The variables of one stream: `sess` lives as long as the client connection, `txn`,
/// `req` and `res` are emptied at each new HTTP transaction (`new_transaction`).
///
/// The store belongs to one stream and is only touched by the task running it, so it is
/// written through a shared reference (the `set-var` converter sets variables while an
/// expression is evaluated) with a `RefCell`, never a lock; only `proc` variables, which
/// every stream shares, sit behind a mutex.
#[derive(Debug, Default)]
pub struct Vars {
    inner: RefCell<Stores>,
}

impl Vars {
    pub fn new() -> Vars {
        Vars::default()
    }

    /// Forgets the transaction scopes (`txn`, `req`, `res`), keeps `sess`.
    pub fn new_transaction(&self) {
        let mut st = self.inner.borrow_mut();
        for i in 1..4 {
            st.clear(i);
        }
    }

    /// The value of a variable (a copy: the store may change while it is used).
    pub fn get(&self, v: &VarName) -> Option<Sample<'static>> {
        if v.scope == Scope::Check {
            return self.inner.borrow().check.get(&v.name).cloned();
        }
        let Some(i) = slot(v.scope) else {
            return if v.scope == Scope::Proc {
                proc_get(&v.name)
            } else {
                None
            };
        };
        self.inner.borrow().store(i).get(&v.name).cloned()
    }

    pub fn exists(&self, v: &VarName) -> bool {
        if v.scope == Scope::Check {
            return self.inner.borrow().check.contains_key(&v.name);
        }
        match slot(v.scope) {
            Some(i) => self.inner.borrow().store(i).contains_key(&v.name),
            None => v.scope == Scope::Proc && proc_get(&v.name).is_some(),
        }
    }

    /// Sets a variable. Returns false, changing nothing, when a `tune.vars.*-max-size`
    /// limit of its scope (or of a scope including it) leaves no room for the value.
    pub fn set(&self, v: &VarName, value: Sample<'static>) -> bool {
        self.set_within(&Limits::current(), v, value)
    }

    /// `set` under the given limits.
    pub(crate) fn set_within(&self, l: &Limits, v: &VarName, value: Sample<'static>) -> bool {
        if v.scope == Scope::Check {
            self.inner.borrow_mut().check.insert(v.name.clone(), value);
            return true;
        }
        let Some(i) = slot(v.scope) else {
            return v.scope == Scope::Proc && proc_set(&v.name, Some(value));
        };
        let mut st = self.inner.borrow_mut();
        let old = st
            .store(i)
            .get(&v.name)
            .map(|o| VAR_ENTRY_SIZE + data_size(o))
            .unwrap_or(0);
        let new = VAR_ENTRY_SIZE + data_size(&value);
        if !st.room(l, i, old, new) {
            return false;
        }
        st.account(l, i, old, new);
        st.store_mut(i).insert(v.name.clone(), value);
        true
    }

    pub fn unset(&self, v: &VarName) {
        if v.scope == Scope::Check {
            self.inner.borrow_mut().check.remove(&v.name);
            return;
        }
        let Some(i) = slot(v.scope) else {
            if v.scope == Scope::Proc {
                proc_set(&v.name, None);
            }
            return;
        };
        let mut st = self.inner.borrow_mut();
        if let Some(old) = st.store_mut(i).remove(&v.name) {
            st.account(&Limits::current(), i, VAR_ENTRY_SIZE + data_size(&old), 0);
        }
    }

    /// Bytes accounted to this stream's variables (all its scopes).
    pub fn size(&self) -> usize {
        self.inner.borrow().size.iter().sum()
    }
}

/// The conditions of `set-var(name,cond…)` (manual: the `set-var` converter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetCond {
    IfExists,
    IfNotExists,
    IfEmpty,
    IfNotEmpty,
    IfSet,
    IfNotSet,
    IfGt,
    IfLt,
}

impl SetCond {
    pub fn parse(s: &str) -> Result<SetCond, String> {
        Ok(match s.trim() {
            "ifexists" => SetCond::IfExists,
            "ifnotexists" => SetCond::IfNotExists,
            "ifempty" => SetCond::IfEmpty,
            "ifnotempty" => SetCond::IfNotEmpty,
            "ifset" => SetCond::IfSet,
            "ifnotset" => SetCond::IfNotSet,
            "ifgt" => SetCond::IfGt,
            "iflt" => SetCond::IfLt,
            other => {
                return Err(format!(
                    "unknown condition '{other}' (expected ifexists, ifnotexists, ifempty, ifnotempty, ifset, ifnotset, ifgt or iflt)"
                ));
            }
        })
    }
}

/// Parses `scope.name[,cond…]` (the inside of `set-var(…)`).
pub fn parse_set_target(text: &str) -> Result<(VarName, Vec<SetCond>), String> {
    let mut parts = text.split(',');
    let name = VarName::parse(parts.next().unwrap_or_default())?;
    let conds = parts.map(SetCond::parse).collect::<Result<Vec<_>, _>>()?;
    if conds.len() > 4 {
        return Err("at most four conditions may follow the variable name".into());
    }
    Ok((name, conds))
}

fn is_empty(s: &Sample<'_>) -> bool {
    match s {
        Sample::Str(b) | Sample::Bin(b) => b.is_empty(),
        _ => false,
    }
}

/// Whether every condition holds for setting `v` to `value`.
pub fn conditions_hold(vars: &Vars, v: &VarName, conds: &[SetCond], value: &Sample<'_>) -> bool {
    conds.iter().all(|c| match c {
        SetCond::IfExists | SetCond::IfSet => vars.exists(v),
        SetCond::IfNotExists | SetCond::IfNotSet => !vars.exists(v),
        SetCond::IfEmpty => is_empty(value),
        SetCond::IfNotEmpty => !is_empty(value),
        SetCond::IfGt | SetCond::IfLt => match (vars.get(v), value) {
            (Some(Sample::Int(cur)), Sample::Int(new)) => {
                if *c == SetCond::IfGt {
                    cur > *new
                } else {
                    cur < *new
                }
            }
            _ => true,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn names() {
        let v = VarName::parse("txn.my_var").unwrap();
        assert_eq!(v.scope, Scope::Txn);
        assert_eq!(v.name, "my_var");
        assert!(VarName::parse("foo").is_err());
        assert!(VarName::parse("nope.x").is_err());
        assert!(VarName::parse("txn.").is_err());
        assert!(VarName::parse("txn.a-b").is_err());
        assert!(!VarName::parse("ptxn.x").unwrap().settable());
    }

    #[test]
    fn store_and_scopes() {
        let vars = Vars::new();
        let t = VarName::parse("txn.a").unwrap();
        let s = VarName::parse("sess.a").unwrap();
        vars.set(&t, Sample::Int(1));
        vars.set(&s, Sample::Str(Cow::Owned(b"x".to_vec())));
        assert_eq!(vars.get(&t), Some(Sample::Int(1)));
        vars.new_transaction();
        assert_eq!(vars.get(&t), None);
        assert_eq!(vars.get(&s), Some(Sample::str(b"x")));
        vars.unset(&s);
        assert!(!vars.exists(&s));
        let p = VarName::parse("proc.unit_test_var").unwrap();
        vars.set(&p, Sample::Int(7));
        assert_eq!(Vars::new().get(&p), Some(Sample::Int(7)));
        vars.unset(&p);
        assert_eq!(vars.get(&p), None);
    }

    #[test]
    fn set_conditions() {
        let vars = Vars::new();
        let (v, conds) = parse_set_target("txn.n,ifnotexists").unwrap();
        assert!(conditions_hold(&vars, &v, &conds, &Sample::Int(3)));
        vars.set(&v, Sample::Int(3));
        assert!(!conditions_hold(&vars, &v, &conds, &Sample::Int(4)));
        let (_, gt) = parse_set_target("txn.n,ifgt").unwrap();
        assert!(conditions_hold(&vars, &v, &gt, &Sample::Int(2)));
        assert!(!conditions_hold(&vars, &v, &gt, &Sample::Int(5)));
        let (_, ne) = parse_set_target("txn.n,ifnotempty").unwrap();
        assert!(!conditions_hold(&vars, &v, &ne, &Sample::str(b"")));
        assert!(parse_set_target("txn.n,ifbogus").is_err());
    }

    #[test]
    fn limits_are_hierarchical() {
        let l = |reqres, sess, txn| Limits([0, 0, reqres, sess, txn]);
        let name = |n: &str| VarName::parse(n).unwrap();
        let s10 = || Sample::Str(Cow::Owned(b"abcdefghij".to_vec()));
        // One entry is 80 bytes, a string adds its length (HAProxy 2.6 on 64 bits).
        let vars = Vars::new();
        assert!(!vars.set_within(&l(0, 0, 89), &name("txn.a"), s10()));
        assert!(!vars.exists(&name("txn.a")));
        assert!(vars.set_within(&l(0, 0, 90), &name("txn.a"), s10()));
        assert_eq!(vars.size(), 90);
        // Replacing counts the new value instead of the old one.
        assert!(vars.set_within(&l(0, 0, 90), &name("txn.a"), Sample::Int(1)));
        assert_eq!(vars.size(), 80);
        assert!(!vars.set_within(&l(0, 0, 159), &name("txn.b"), Sample::Int(1)));
        assert!(vars.set_within(&l(0, 0, 160), &name("txn.b"), Sample::Int(1)));
        // req and res share the reqres limit, txn includes them, sess includes txn.
        let vars = Vars::new();
        assert!(vars.set_within(&l(100, 0, 0), &name("req.a"), Sample::Int(1)));
        assert!(!vars.set_within(&l(100, 0, 0), &name("res.b"), Sample::Int(1)));
        assert!(vars.set_within(&l(100, 0, 0), &name("txn.b"), Sample::Int(1)));
        assert!(!vars.set_within(&l(0, 200, 0), &name("sess.c"), Sample::Int(1)));
        assert!(!vars.set_within(&l(0, 0, 100), &name("req.c"), Sample::Int(1)));
        assert!(vars.set_within(&l(0, 0, 100), &name("sess.c"), Sample::Int(1)));
        // Unsetting and a new transaction give the room back.
        vars.unset(&name("txn.b"));
        assert_eq!(vars.size(), 160);
        vars.new_transaction();
        assert_eq!(vars.size(), 80);
    }
}
