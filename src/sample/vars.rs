//! Variables (manual 2.8): names `scope.name` checked at load time, the per-stream store
//! (`sess` for the client connection, `txn`/`req`/`res` for one HTTP transaction) and the
//! process-wide `proc` scope; values are samples that keep their type.

use std::borrow::Cow;
use std::collections::HashMap;
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
    /// `check`, and the parent-stream scopes `psess`, `ptxn`, `preq`, `pres`: valid names
    /// that never hold anything in the HTTP rules (there is no parent stream in halo).
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
            "check" | "psess" | "ptxn" | "preq" | "pres" => Scope::Never,
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
    pub fn settable(&self) -> bool {
        self.scope != Scope::Never
    }
}

type Store = HashMap<String, Sample<'static>>;

fn proc_store() -> &'static Mutex<Store> {
    static PROC: OnceLock<Mutex<Store>> = OnceLock::new();
    PROC.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The value of a `proc.` variable (for the runtime API's `get var` as well).
pub fn proc_get(name: &str) -> Option<Sample<'static>> {
    proc_store().lock().ok()?.get(name).cloned()
}

/// Sets a `proc.` variable (`None` unsets it).
pub fn proc_set(name: &str, value: Option<Sample<'static>>) {
    if let Ok(mut m) = proc_store().lock() {
        match value {
            Some(v) => {
                m.insert(name.to_string(), v);
            }
            None => {
                m.remove(name);
            }
        }
    }
}

/// The variables of one stream: `sess` lives as long as the client connection, `txn`,
/// `req` and `res` are emptied at each new HTTP transaction (`new_transaction`).
#[derive(Debug, Default, Clone)]
pub struct Vars {
    sess: Store,
    txn: Store,
    req: Store,
    res: Store,
}

impl Vars {
    pub fn new() -> Vars {
        Vars::default()
    }

    /// Forgets the transaction scopes (`txn`, `req`, `res`), keeps `sess`.
    pub fn new_transaction(&mut self) {
        self.txn.clear();
        self.req.clear();
        self.res.clear();
    }

    fn store(&self, scope: Scope) -> Option<&Store> {
        match scope {
            Scope::Sess => Some(&self.sess),
            Scope::Txn => Some(&self.txn),
            Scope::Req => Some(&self.req),
            Scope::Res => Some(&self.res),
            Scope::Proc | Scope::Never => None,
        }
    }

    fn store_mut(&mut self, scope: Scope) -> Option<&mut Store> {
        match scope {
            Scope::Sess => Some(&mut self.sess),
            Scope::Txn => Some(&mut self.txn),
            Scope::Req => Some(&mut self.req),
            Scope::Res => Some(&mut self.res),
            Scope::Proc | Scope::Never => None,
        }
    }

    /// The value of a variable, borrowed from the store (owned for `proc`).
    pub fn get(&self, v: &VarName) -> Option<Sample<'_>> {
        if v.scope == Scope::Proc {
            return proc_get(&v.name);
        }
        let s = self.store(v.scope)?.get(&v.name)?;
        Some(match s {
            Sample::Str(b) => Sample::Str(Cow::Borrowed(b.as_ref())),
            Sample::Bin(b) => Sample::Bin(Cow::Borrowed(b.as_ref())),
            other => other.clone(),
        })
    }

    pub fn exists(&self, v: &VarName) -> bool {
        match v.scope {
            Scope::Proc => proc_get(&v.name).is_some(),
            _ => self
                .store(v.scope)
                .map(|s| s.contains_key(&v.name))
                .unwrap_or(false),
        }
    }

    pub fn set(&mut self, v: &VarName, value: Sample<'static>) {
        if v.scope == Scope::Proc {
            proc_set(&v.name, Some(value));
        } else if let Some(s) = self.store_mut(v.scope) {
            s.insert(v.name.clone(), value);
        }
    }

    pub fn unset(&mut self, v: &VarName) {
        if v.scope == Scope::Proc {
            proc_set(&v.name, None);
        } else if let Some(s) = self.store_mut(v.scope) {
            s.remove(&v.name);
        }
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
        let mut vars = Vars::new();
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
        let mut vars = Vars::new();
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
}
