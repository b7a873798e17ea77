//! The `map` converter family (manual 7.3.1): `map`, `map_<match>` and
//! `map_<match>_<output>`, looking the sample up in a map file of the configuration's
//! pattern registry (shared with ACLs and edited live by the runtime API's `add map`…).

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use super::{OutputKind, Resolver, Sample};
use crate::pattern::{
    Entry, MatchMethod, Origin, SharedPatterns, ValueKind, cast_str_to_int, cast_str_to_ip,
};

/// What the converter returns for a match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    Str,
    Int,
    Ip,
    /// `_key`: the matched entry's key (manual 7.3.1; not in HAProxy 2.6).
    Key,
}

/// A compiled `map*` converter.
#[derive(Clone, Debug)]
pub struct MapConv {
    view: Arc<SharedPatterns>,
    method: MatchMethod,
    regm: bool,
    output: Output,
    default: Option<Sample<'static>>,
}

/// Reads a converter name: `map` is `map_str`; `map_regm` has no output variants.
fn parse_name(name: &str) -> Option<(MatchMethod, bool, Output)> {
    if name == "map" {
        return Some((MatchMethod::Str, false, Output::Str));
    }
    let rest = name.strip_prefix("map_")?;
    let (m, out) = match rest.split_once('_') {
        Some((m, o)) => (m, Some(o)),
        None => (rest, None),
    };
    let (method, regm) = match m {
        "regm" => (MatchMethod::Reg, true),
        "str" | "beg" | "sub" | "dir" | "dom" | "end" | "reg" | "int" | "ip" => {
            (MatchMethod::from_name(m)?, false)
        }
        _ => return None,
    };
    let output = match out {
        None => Output::Str,
        Some("int") => Output::Int,
        Some("ip") => Output::Ip,
        Some("key") => Output::Key,
        Some(_) => return None,
    };
    if regm && output != Output::Str {
        return None;
    }
    Some((method, regm, output))
}

/// Whether `name` is one of the converters of this family.
pub fn is_map_converter(name: &str) -> bool {
    parse_name(name).is_some()
}

/// An integer argument as HAProxy reads one: an optional sign and digits (empty is 0).
fn int_arg(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if !digits.bytes().all(|c| c.is_ascii_digit()) || (digits.is_empty() && !s.is_empty()) {
        return None;
    }
    Some(cast_str_to_int(s.as_bytes()))
}

impl MapConv {
    /// Compiles `name(args)` when `name` is a map converter (`None` otherwise). Errors use
    /// HAProxy's wording, without the final period the caller adds.
    pub fn compile(
        name: &str,
        args: &[String],
        res: &dyn Resolver,
    ) -> Option<Result<MapConv, String>> {
        let (method, regm, output) = parse_name(name)?;
        Some(Self::build(name, args, res, method, regm, output))
    }

    fn build(
        name: &str,
        args: &[String],
        res: &dyn Resolver,
        method: MatchMethod,
        regm: bool,
        output: Output,
    ) -> Result<MapConv, String> {
        let invalid = |e: &str| {
            format!(
                "invalid args in converter '{name}' : {}",
                e.strip_suffix('.').unwrap_or(e)
            )
        };
        if args.len() > 2 {
            return Err(format!(
                "invalid arg 2 in converter '{name}' : expected ')' before ',{}'",
                args[2..].join(",")
            ));
        }
        let Some(registry) = res.registry() else {
            return Err(format!(
                "converter '{name}' needs the configuration's map files, which are not available here"
            ));
        };
        let default = match (args.get(1), output) {
            (None, _) => None,
            (Some(_), Output::Key) => {
                return Err(invalid(
                    "a default value is not supported with the 'key' output type",
                ));
            }
            (Some(d), Output::Str) => Some(Sample::Str(Cow::Owned(d.clone().into_bytes()))),
            (Some(d), Output::Int) => Some(Sample::Int(int_arg(d).ok_or_else(|| {
                format!(
                    "invalid arg 2 in converter '{name}' : failed to parse '{d}' as type 'integer' at position 2"
                )
            })?)),
            (Some(d), Output::Ip) => {
                let ip = cast_str_to_ip(d.as_bytes())
                    .ok_or_else(|| invalid(&format!("map: cannot parse default ip <{d}>..")))?;
                Some(Sample::Ip(ip))
            }
        };
        let values = match output {
            Output::Str | Output::Key => ValueKind::Str,
            Output::Int => ValueKind::Int,
            Output::Ip => ValueKind::Ip,
        };
        let file = args.first().map(String::as_str).unwrap_or("");
        let (cfg, line) = res.origin();
        let origin = Origin { file: &cfg, line };
        let view = registry
            .map_file_as(file, method, values, regm, origin)
            .map_err(|e| invalid(&e))?;
        Ok(MapConv {
            view,
            method,
            regm,
            output,
            default,
        })
    }

    /// The type of what the converter returns.
    pub fn output_kind(&self) -> OutputKind {
        match self.output {
            Output::Str | Output::Key => OutputKind::Str,
            Output::Int => OutputKind::Int,
            Output::Ip => OutputKind::Ip,
        }
    }

    /// Looks the sample up in the map's current contents. Without a match: the default
    /// value, or no sample. An input that cannot be cast to the match type (an empty string
    /// for `map_int`, text that is no address for `map_ip`) gives no sample, default or not.
    pub fn apply<'c>(&self, s: Sample<'c>) -> Option<Sample<'c>> {
        let set = self.view.load();
        let found = match self.method {
            MatchMethod::Int => set.match_int(cast_int(&s)?).and_then(|e| self.value(e)),
            MatchMethod::Ip => set.match_ip(cast_ip(&s)?).and_then(|e| self.value(e)),
            MatchMethod::Reg if self.regm => set
                .match_regm(&s.to_bytes())
                .map(|(_, v)| Sample::Str(Cow::Owned(v.into_bytes()))),
            _ => set.match_str(&s.to_bytes()).and_then(|e| self.value(e)),
        };
        found.or_else(|| self.default.clone())
    }

    fn value(&self, e: &Entry) -> Option<Sample<'static>> {
        let v = e.value.as_deref().unwrap_or("");
        Some(match self.output {
            Output::Str => Sample::Str(Cow::Owned(v.as_bytes().to_vec())),
            Output::Key => Sample::Str(Cow::Owned(e.key.as_bytes().to_vec())),
            Output::Int => Sample::Int(ValueKind::int(v)),
            Output::Ip => Sample::Ip(ValueKind::ip(v)?),
        })
    }
}

/// HAProxy's cast of a sample to an integer for `map_int`: empty strings fail, other text
/// gives its leading integer (or 0), IPv4 addresses their 32-bit value.
fn cast_int(s: &Sample<'_>) -> Option<i64> {
    match s {
        Sample::Int(i) => Some(*i),
        Sample::Bool(b) => Some(i64::from(*b)),
        Sample::Ip(IpAddr::V4(a)) => Some(i64::from(u32::from(*a))),
        Sample::Ip(IpAddr::V6(_)) => None,
        Sample::Str(b) | Sample::Bin(b) => (!b.is_empty()).then(|| cast_str_to_int(b)),
    }
}

/// HAProxy's cast of a sample to an address for `map_ip`: integers are IPv4 addresses
/// (truncated to 32 bits), text is read by [`cast_str_to_ip`].
fn cast_ip(s: &Sample<'_>) -> Option<IpAddr> {
    match s {
        Sample::Ip(ip) => Some(*ip),
        Sample::Int(i) => Some(IpAddr::V4((*i as u32).into())),
        Sample::Bool(b) => Some(IpAddr::V4(u32::from(*b).into())),
        Sample::Str(b) | Sample::Bin(b) => cast_str_to_ip(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::Registry;
    use crate::sample::{Ctx, Expr, Located};

    struct Reg<'a>(&'a Registry);
    impl Resolver for Reg<'_> {
        fn backend(&self, _: &str) -> Option<usize> {
            None
        }
        fn frontend(&self, _: &str) -> Option<usize> {
            None
        }
        fn current(&self) -> Option<usize> {
            None
        }
        fn registry(&self) -> Option<&Registry> {
            Some(self.0)
        }
        fn origin(&self) -> (String, usize) {
            ("haproxy.cfg".into(), 7)
        }
    }

    struct Files {
        dir: tempfile::TempDir,
    }

    impl Files {
        fn new() -> Files {
            Files {
                dir: tempfile::tempdir().expect("tempdir"),
            }
        }
        fn add(&self, name: &str, text: &str) -> String {
            let p = self.dir.path().join(name);
            std::fs::write(&p, text).expect("write");
            p.to_string_lossy().into_owned()
        }
    }

    fn s(v: &str) -> Sample<'static> {
        Sample::Str(Cow::Owned(v.as_bytes().to_vec()))
    }

    /// Compiles `str(<input>),<conv>` and evaluates it.
    fn eval(reg: &Registry, conv: &str, input: Sample<'static>) -> Option<Sample<'static>> {
        let e = match Expr::parse(&format!("str(x),{conv}"), &Reg(reg)) {
            Ok(e) => e,
            Err(err) => panic!("{conv}: {err}"),
        };
        e.apply(input, &Ctx::empty()).map(Sample::into_owned)
    }

    fn err(reg: &Registry, conv: &str) -> String {
        Expr::parse(&format!("str(x),{conv}"), &Reg(reg))
            .err()
            .unwrap_or_default()
    }

    #[test]
    fn names() {
        assert_eq!(
            parse_name("map"),
            Some((MatchMethod::Str, false, Output::Str))
        );
        assert_eq!(
            parse_name("map_dom_int"),
            Some((MatchMethod::Dom, false, Output::Int))
        );
        assert_eq!(
            parse_name("map_regm"),
            Some((MatchMethod::Reg, true, Output::Str))
        );
        assert_eq!(
            parse_name("map_ip_key"),
            Some((MatchMethod::Ip, false, Output::Key))
        );
        // Unknown to HAProxy 2.6 as well.
        for n in [
            "map_regm_int",
            "map_str_str",
            "map_bin",
            "map_len",
            "map_found",
            "mapx",
        ] {
            assert_eq!(parse_name(n), None, "{n}");
        }
    }

    #[test]
    fn host_to_backend_like_seed_10() {
        let f = Files::new();
        let map = f.add(
            "domain2backend.map",
            "#domainname  backendname\napp1.domain.com   bk_app1\napp1.domain.net   bk_app1\napp2.domain.com   bk_app2\napp2.domain.net   bk_app2\n",
        );
        let reg = Registry::new();
        let conv = format!("lower,map_dom(\"{map}\",bk_default)");
        assert_eq!(eval(&reg, &conv, s("APP1.domain.com")), Some(s("bk_app1")));
        assert_eq!(
            eval(&reg, &conv, s("www.app2.domain.net:8080")),
            Some(s("bk_app2"))
        );
        assert_eq!(eval(&reg, &conv, s("domain.com")), Some(s("bk_default")));
        assert_eq!(eval(&reg, &conv, s("")), Some(s("bk_default")));
        assert_eq!(eval(&reg, &format!("map_dom({map})"), s("nope")), None);
        // One reference, listed once with both users.
        let maps = reg.maps();
        assert_eq!(maps.len(), 1);
        assert_eq!(
            maps[0].show_line(),
            format!(
                "0 ({map}) pattern loaded from file '{map}' used by map at file 'haproxy.cfg' line 7, by map at file 'haproxy.cfg' line 7, by map at file 'haproxy.cfg' line 7, by map at file 'haproxy.cfg' line 7, by map at file 'haproxy.cfg' line 7. curr_ver=0 next_ver=0 entry_cnt=4"
            )
        );
    }

    #[test]
    fn match_methods_and_outputs() {
        let f = Files::new();
        let reg = Registry::new();
        let beg = f.add("beg.map", "/api v1\n/api/v2 v2\n");
        assert_eq!(
            eval(&reg, &format!("map_beg({beg})"), s("/api/v2/x")),
            Some(s("v2"))
        );
        assert_eq!(
            eval(&reg, &format!("map_beg_key({beg})"), s("/api/x")),
            Some(s("/api"))
        );
        assert_eq!(eval(&reg, &format!("map_str({beg})"), s("/api/x")), None);
        assert_eq!(eval(&reg, &format!("map({beg})"), s("/api")), Some(s("v1")));
        assert_eq!(
            eval(&reg, &format!("map_sub({beg},none)"), s("x/api/v2")),
            Some(s("v1")),
            "list methods: first in file order"
        );
        let ints = f.add("int.map", "1 100\n5:10 200\n-3 -30\n");
        let c = format!("map_int_int({ints},-1)");
        assert_eq!(eval(&reg, &c, s("7")), Some(Sample::Int(200)));
        assert_eq!(eval(&reg, &c, Sample::Int(1)), Some(Sample::Int(100)));
        assert_eq!(eval(&reg, &c, s("+5")), Some(Sample::Int(200)));
        // "-3" is the range ":3".
        assert_eq!(eval(&reg, &c, s("-12")), Some(Sample::Int(-30)));
        // HAProxy 2.6: "12abc" casts to 12, "abc" to 0, "" does not cast.
        assert_eq!(eval(&reg, &c, s("12abc")), Some(Sample::Int(-1)));
        assert_eq!(eval(&reg, &c, s("1x")), Some(Sample::Int(100)));
        assert_eq!(eval(&reg, &c, s("abc")), Some(Sample::Int(-30)));
        assert_eq!(
            eval(&reg, &c, s("99999999999999999999")),
            Some(Sample::Int(-1))
        );
        assert_eq!(eval(&reg, &c, s("")), None);
        assert_eq!(
            eval(&reg, &format!("map_str_int({ints},)"), s("zz")),
            Some(Sample::Int(0))
        );
        let ips = f.add(
            "ip.map",
            "10.0.0.0/8 ten\n192.168.1.0/24 lan\n192.168.1.7 host7\n",
        );
        let c = format!("map_ip({ips},none)");
        assert_eq!(eval(&reg, &c, s("192.168.1.7")), Some(s("host7")));
        assert_eq!(eval(&reg, &c, s("192.168.1.9")), Some(s("lan")));
        assert_eq!(eval(&reg, &c, s("::ffff:192.168.1.9")), Some(s("lan")));
        assert_eq!(eval(&reg, &c, s("10.0.0.1:80")), Some(s("ten")));
        assert_eq!(eval(&reg, &c, s("0010.1.1.1")), Some(s("ten")));
        assert_eq!(eval(&reg, &c, s("8.8.8.8")), Some(s("none")));
        for bad in ["10.1.1", "10.1.1.1.5", "10.256.1.1", "nope", ""] {
            assert_eq!(eval(&reg, &c, s(bad)), None, "{bad}");
        }
        assert_eq!(
            eval(&reg, &c, Sample::Ip("10.2.3.4".parse().expect("ip"))),
            Some(s("ten"))
        );
        assert_eq!(eval(&reg, &c, Sample::Int(0x0a00_0001)), Some(s("ten")));
        let vals = f.add("ipval.map", "1 10.0.0.1\n2 ::1\n3 010.1.1.1\n");
        let c = format!("map_str_ip({vals},9.9.9.9)");
        assert_eq!(
            eval(&reg, &c, s("2")),
            Some(Sample::Ip("::1".parse().expect("ip")))
        );
        assert_eq!(
            eval(&reg, &c, s("3")),
            Some(Sample::Ip("10.1.1.1".parse().expect("ip")))
        );
        assert_eq!(
            eval(&reg, &c, s("4")),
            Some(Sample::Ip("9.9.9.9".parse().expect("ip")))
        );
        // The same file read as strings by another converter.
        assert_eq!(
            eval(&reg, &format!("map({vals})"), s("3")),
            Some(s("010.1.1.1"))
        );
        let regm = f.add(
            "regm.map",
            "^/foo/(.*)$ /bar/\\1\n^/(a)(b)?c x\\1y\\2z\\0\n",
        );
        let c = format!("map_regm({regm},none)");
        assert_eq!(eval(&reg, &c, s("/foo/abc")), Some(s("/bar/abc")));
        assert_eq!(eval(&reg, &c, s("/abcd")), Some(s("xaybz/abc")));
        assert_eq!(eval(&reg, &c, s("/ac")), Some(s("xayz/ac")));
        assert_eq!(eval(&reg, &c, s("/zz")), Some(s("none")));
        assert_eq!(
            eval(&reg, &format!("map_reg({regm})"), s("/foo/abc")),
            Some(s("/bar/\\1"))
        );
        // Non-string inputs are cast to strings for string methods.
        let n = f.add("n.map", "1 one\n2 two\n");
        assert_eq!(
            eval(&reg, &format!("map({n})"), Sample::Int(2)),
            Some(s("two"))
        );
        assert_eq!(
            eval(&reg, &format!("map({n})"), Sample::Bool(true)),
            Some(s("one"))
        );
    }

    #[test]
    fn output_kinds() {
        let f = Files::new();
        let reg = Registry::new();
        let m = f.add("m.map", "a 1\n");
        let kind = |c: &str| {
            Expr::parse(&format!("str(x),{c}"), &Reg(&reg))
                .map(|e| e.output_kind())
                .ok()
        };
        assert_eq!(kind(&format!("map({m})")), Some(OutputKind::Str));
        assert_eq!(kind(&format!("map_str_int({m})")), Some(OutputKind::Int));
        assert_eq!(kind(&format!("map_beg_key({m})")), Some(OutputKind::Str));
        let ip = f.add("ip.map", "a 1.2.3.4\n");
        assert_eq!(kind(&format!("map_dom_ip({ip})")), Some(OutputKind::Ip));
    }

    #[test]
    fn errors_like_haproxy() {
        let f = Files::new();
        let reg = Registry::new();
        assert_eq!(
            err(&reg, "map_str(/nonexistent/x.map)"),
            "invalid args in converter 'map_str' : failed to open pattern file </nonexistent/x.map>"
        );
        assert_eq!(
            err(&reg, "map_str"),
            "invalid args in converter 'map_str' : failed to open pattern file <>"
        );
        let beg = f.add("beg.map", "/api v1\n");
        assert_eq!(
            err(&reg, &format!("map_str_int({beg})")),
            format!(
                "invalid args in converter 'map_str_int' : unable to parse 'v1' at line 1 of file '{beg}'"
            )
        );
        assert_eq!(
            err(&reg, &format!("map_int({beg})")),
            format!(
                "invalid args in converter 'map_int' : '/api' is not a number at line 1 of file '{beg}'"
            )
        );
        assert_eq!(
            err(&reg, &format!("map_str({beg},a,b)")),
            "invalid arg 2 in converter 'map_str' : expected ')' before ',b'"
        );
        let ints = f.add("int.map", "1 100\n");
        for d in ["abc", "12abc", "+"] {
            assert_eq!(
                err(&reg, &format!("map_str_int({ints},{d})")),
                format!(
                    "invalid arg 2 in converter 'map_str_int' : failed to parse '{d}' as type 'integer' at position 2"
                )
            );
        }
        let ips = f.add("ip.map", "1 10.0.0.1\n");
        assert_eq!(
            err(&reg, &format!("map_str_ip({ips},abc)")),
            "invalid args in converter 'map_str_ip' : map: cannot parse default ip <abc>."
        );
        assert!(err(&reg, &format!("map_str_key({beg},x)")).contains("not supported"));
        assert_eq!(
            err(&reg, &format!("map_foo({beg})")),
            "unknown converter 'map_foo'"
        );
        // Without a registry (outside a configuration).
        let e = Expr::parse(
            &format!("str(x),map({beg})"),
            &crate::sample::tests::NoNames,
        )
        .err()
        .unwrap_or_default();
        assert!(e.contains("needs the configuration's map files"), "{e}");
    }

    #[test]
    fn runtime_changes_reach_compiled_converters() {
        let f = Files::new();
        let reg = Registry::new();
        let m = f.add("m.map", "a 1\n");
        let c = format!("map_str_int({m},-1)");
        let e = Expr::parse(&format!("str(x),{c}"), &Reg(&reg)).expect("parse");
        let ctx = Ctx::empty();
        let get = |v: &str| e.apply(s(v), &ctx).map(Sample::into_owned);
        assert_eq!(get("b"), Some(Sample::Int(-1)));
        let Some(r) = reg.lookup(&m) else {
            panic!("lookup")
        };
        assert!(r.add(None, "b", Some("2")).is_ok());
        assert_eq!(get("b"), Some(Sample::Int(2)));
        assert_eq!(
            r.add(None, "c", Some("x")),
            Err(crate::pattern::RefError::Parse(
                "unable to parse 'x'.".into()
            ))
        );
        assert_eq!(r.set_value(crate::pattern::EntryRef::Key("b"), "7"), Ok(1));
        assert_eq!(get("b"), Some(Sample::Int(7)));
        r.clear(None);
        assert_eq!(get("a"), Some(Sample::Int(-1)));
        let v = r.prepare();
        assert!(r.add(Some(v), "a", Some("9")).is_ok());
        assert_eq!(get("a"), Some(Sample::Int(-1)));
        assert_eq!(r.commit(v), Ok(()));
        assert_eq!(get("a"), Some(Sample::Int(9)));
    }

    #[test]
    fn located_origin_names_the_rule_line() {
        let f = Files::new();
        let reg = Registry::new();
        let m = f.add("m.map", "a 1\n");
        let base = Reg(&reg);
        let at = Located::new(&base, "other.cfg", 42);
        assert!(Expr::parse(&format!("str(x),map({m})"), &at).is_ok());
        let line = reg
            .maps()
            .first()
            .map(|r| r.show_line())
            .unwrap_or_default();
        assert!(
            line.contains("used by map at file 'other.cfg' line 42."),
            "{line}"
        );
    }
}
