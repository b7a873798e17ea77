//! Cross-module tests of `pattern`: each method against the manual's examples and outputs
//! observed with HAProxy 2.6, longest versus first match, large indexed sets, map files,
//! the registry and runtime edits with versions.

use super::*;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn set(method: MatchMethod, icase: bool, keys: &[&str]) -> PatternSet {
    let mut s = PatternSet::new(method, icase);
    for (i, k) in keys.iter().enumerate() {
        if let Err(e) = s.add(k, Some(&format!("v{i}"))) {
            panic!("{k}: {e}");
        }
    }
    s
}

/// The key of the entry matching `input`, if any.
fn m(s: &PatternSet, input: &str) -> Option<String> {
    s.match_str(input.as_bytes()).map(|e| e.key.clone())
}

fn ip(s: &str) -> IpAddr {
    match s.parse() {
        Ok(a) => a,
        Err(e) => panic!("{s}: {e}"),
    }
}

fn mi(s: &PatternSet, a: &str) -> Option<String> {
    s.match_ip(ip(a)).map(|e| e.key.clone())
}

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

#[test]
fn method_names() {
    for n in [
        "found", "bool", "int", "ip", "bin", "len", "str", "beg", "sub", "dir", "dom", "end", "reg",
    ] {
        assert_eq!(MatchMethod::from_name(n).map(MatchMethod::name), Some(n));
    }
    assert_eq!(MatchMethod::from_name("regm"), None);
    assert!(!MatchMethod::Found.takes_patterns() && !MatchMethod::Bool.takes_patterns());
    assert!(MatchMethod::Str.takes_patterns());
}

#[test]
fn str_exact_case_and_duplicates() {
    let s = set(MatchMethod::Str, false, &["foo", "Foo", "foo", "a"]);
    assert_eq!(
        s.match_str(b"foo").and_then(|e| e.value.clone()),
        some("v0")
    );
    assert_eq!(m(&s, "Foo"), some("Foo"));
    assert_eq!(m(&s, "FOO"), None);
    assert_eq!(m(&s, "fo"), None);
    let i = set(MatchMethod::Str, true, &["www.example.com", "FOO"]);
    assert_eq!(m(&i, "WWW.example.com"), some("www.example.com"));
    assert_eq!(m(&i, "fOo"), some("FOO"));
    let long = "x".repeat(300);
    let i = set(MatchMethod::Str, true, &[&long.to_uppercase()]);
    assert!(m(&i, &long).is_some());
    // `get map` reports tree for str, list with -i.
    let e = s.match_str(b"foo").cloned();
    assert!(e.is_some_and(|e| s.is_tree(&e)));
    let e = i.match_str(long.as_bytes()).cloned();
    assert!(e.is_some_and(|e| !i.is_tree(&e)));
}

#[test]
fn beg_longest_without_i_first_with_i() {
    // HAProxy 2.6 `get map` on "/api v1", "/api/v2 v2", "/a va" (map_beg).
    let s = set(MatchMethod::Beg, false, &["/api", "/api/v2", "/a"]);
    assert_eq!(m(&s, "/api/v2/x"), some("/api/v2"));
    assert_eq!(m(&s, "/api/v3"), some("/api"));
    assert_eq!(m(&s, "/a"), some("/a"));
    assert_eq!(m(&s, "/b"), None);
    // "Ab1 upper", "ab lower", "A first": sensitive is longest, -i is first in order.
    let keys = ["Ab1", "ab", "A"];
    let t = set(MatchMethod::Beg, false, &keys);
    let l = set(MatchMethod::Beg, true, &keys);
    assert_eq!((m(&t, "Ab1x"), m(&l, "Ab1x")), (some("Ab1"), some("Ab1")));
    assert_eq!((m(&t, "ab1x"), m(&l, "ab1x")), (some("ab"), some("Ab1")));
    assert_eq!((m(&t, "abx"), m(&l, "abx")), (some("ab"), some("ab")));
    assert_eq!((m(&t, "AB1"), m(&l, "AB1")), (some("A"), some("Ab1")));
    assert_eq!((m(&t, "x"), m(&l, "x")), (None, None));
}

#[test]
fn end_and_sub_are_first_in_order() {
    let e = set(MatchMethod::End, false, &["com", "example.com"]);
    assert_eq!(m(&e, "example.com"), some("com"));
    assert_eq!(m(&e, "xexample.com"), some("com"));
    assert_eq!(m(&e, "example.org"), None);
    let e = set(MatchMethod::End, false, &["example.com", "com"]);
    assert_eq!(m(&e, "www.example.com"), some("example.com"));
    let e = set(MatchMethod::End, true, &[".COM"]);
    assert_eq!(m(&e, "x.com"), some(".COM"));
    let s = set(MatchMethod::Sub, false, &["/api", "/api/v2", "/a"]);
    assert_eq!(m(&s, "/foo/abc"), some("/a"));
    assert_eq!(m(&s, "/api/v2/x"), some("/api"));
    assert_eq!(m(&s, "/b/c"), None);
    let s = set(MatchMethod::Sub, true, &["abc", "XY"]);
    assert_eq!(m(&s, "xABCx"), some("abc"));
    assert_eq!(m(&s, "__xy"), some("XY"));
}

#[test]
fn dir_as_documented() {
    // Manual 7.1.3 example.
    let input = "/images/png/logo/32x32.png";
    // The manual also lists "png" as not matching, but HAProxy 2.6 does match it (it is a
    // whole segment); halo follows HAProxy.
    for p in [
        "/images",
        "/images/png",
        "images/png",
        "/png/logo",
        "logo/32x32.png",
        "32x32.png",
        "png",
    ] {
        assert!(
            m(&set(MatchMethod::Dir, false, &[p]), input).is_some(),
            "{p}"
        );
    }
    for p in ["32x32", "pn", "images/p"] {
        assert!(
            m(&set(MatchMethod::Dir, false, &[p]), input).is_none(),
            "{p}"
        );
    }
    // Observed with HAProxy 2.6: '?' delimits too; first in order wins.
    let s = set(MatchMethod::Dir, false, &["api", "/x/y/", "q"]);
    assert_eq!(m(&s, "/api/x"), some("api"));
    assert_eq!(m(&s, "/apix"), None);
    assert_eq!(m(&s, "/q?api"), some("api"));
    assert_eq!(m(&s, "x/y"), some("/x/y/"));
    assert_eq!(m(&s, "/a/x/y/"), some("/x/y/"));
    assert_eq!(m(&s, "/x?api"), some("api"));
    let i = set(MatchMethod::Dir, true, &["IMAGES"]);
    assert_eq!(m(&i, "/images/a"), some("IMAGES"));
}

#[test]
fn dom_as_documented() {
    // Manual 7.1.3 example.
    let input = "http://www1.dc-eu.example.com:80/blah";
    // The manual also lists "dc-eu.example:80", which cannot match since ".com" sits in
    // between; HAProxy 2.6 does not match it either (it matches "x.dc-eu.example:80").
    for p in [
        "http",
        "www1",
        ".www1",
        "dc-eu",
        "example",
        "com",
        "80",
        "dc-eu.example",
        "blah",
        ":www1:",
    ] {
        assert!(
            m(&set(MatchMethod::Dom, false, &[p]), input).is_some(),
            "{p}"
        );
    }
    assert!(
        m(
            &set(MatchMethod::Dom, false, &["dc-eu.example:80"]),
            "x.dc-eu.example:80"
        )
        .is_some()
    );
    for p in ["eu", "dc", "dc-eu.example:80"] {
        assert!(
            m(&set(MatchMethod::Dom, false, &[p]), input).is_none(),
            "{p}"
        );
    }
    // Observed with HAProxy 2.6 on "a.b one", ". dot", "www1 w", ":x: colon".
    let s = set(MatchMethod::Dom, false, &["a.b", ".", "www1", ":x:"]);
    assert_eq!(m(&s, "a.b"), some("a.b"));
    assert_eq!(m(&s, "x.a.b.c"), some("a.b"));
    assert_eq!(m(&s, "a.bc"), None);
    assert_eq!(m(&s, "http://www1.x:80"), some("www1"));
    assert_eq!(m(&s, "x:x:y"), some(":x:"));
    assert_eq!(m(&s, "x.y"), some(":x:"));
    assert_eq!(m(&s, "x."), some("."));
    assert_eq!(m(&s, "www1?x"), some("www1"));
}

#[test]
fn int_len_bin_found_bool() {
    // "10 ten", "1:5 low", ":0 neg", "100: big": first match in order.
    let s = set(MatchMethod::Int, false, &["10", "1:5", ":0", "100:"]);
    let k = |v: i64| s.match_int(v).map(|e| e.key.clone());
    assert_eq!(k(10), some("10"));
    assert_eq!(k(3), some("1:5"));
    assert_eq!(k(0), some(":0"));
    assert_eq!(k(-5), some(":0"));
    assert_eq!(k(1000), some("100:"));
    assert_eq!(k(7), None);
    // Strings are cast like HAProxy: "abc" is 0, "5x" is 5.
    assert_eq!(m(&s, "abc"), some(":0"));
    assert_eq!(m(&s, "5x"), some("1:5"));
    // An exact value after a matching range: the range, being first, wins.
    let s = set(MatchMethod::Int, false, &["1:5", "3"]);
    assert_eq!(s.match_int(3).map(|e| e.key.clone()), some("1:5"));
    let mut bad = PatternSet::new(MatchMethod::Int, false);
    assert_eq!(
        bad.add("x1", None),
        Err("'x1' is not a number.".to_string())
    );
    assert_eq!(
        bad.add("5:3", None),
        Err("'5:3' is not a valid number range.".to_string())
    );
    let l = set(MatchMethod::Len, false, &["3", "11:"]);
    assert_eq!(m(&l, "abc"), some("3"));
    assert_eq!(m(&l, "abcdefghijkl"), some("11:"));
    assert_eq!(m(&l, "ab"), None);
    let b = set(MatchMethod::Bin, false, &["48656C6c"]);
    assert_eq!(m(&b, "Hell"), some("48656C6c"));
    assert_eq!(m(&b, "Hello"), None);
    assert_eq!(m(&b, "hell"), None);
    let mut bad = PatternSet::new(MatchMethod::Bin, false);
    assert!(bad.add("123", None).is_err() && bad.add("zz", None).is_err());
    // found/bool accept (and ignore) patterns, as HAProxy does.
    for method in [MatchMethod::Found, MatchMethod::Bool] {
        let s = set(method, false, &["foo"]);
        assert_eq!(s.len(), 1);
        assert!(m(&s, "foo").is_none() && s.match_int(1).is_none());
    }
}

#[test]
fn reg_and_regm() {
    let s = set(MatchMethod::Reg, true, &["^ab+c$", "x(y)z"]);
    assert_eq!(m(&s, "ABBC"), some("^ab+c$"));
    assert_eq!(m(&s, "xxyzz"), some("x(y)z"));
    assert_eq!(m(&s, "abd"), None);
    let mut r = PatternSet::new(MatchMethod::Reg, false);
    let added = r
        .add("^/foo/(.*)$", Some("/bar/\\1"))
        .and_then(|_| r.add("^/(a)(b)?c", Some("x\\1y\\2z\\0")));
    assert!(added.is_ok());
    let g = |s: &str| r.match_regm(s.as_bytes()).map(|(_, v)| v);
    // Outputs of HAProxy 2.6's map_regm on the same map.
    assert_eq!(g("/foo/abc"), some("/bar/abc"));
    assert_eq!(g("/abc"), some("xaybz/abc"));
    assert_eq!(g("/abcd"), some("xaybz/abc"));
    assert_eq!(g("/ac"), some("xayz/ac"));
    assert_eq!(g("/abbc"), None);
    assert_eq!(g("/foo/a b"), some("/bar/a b"));
    let mut bad = PatternSet::new(MatchMethod::Reg, false);
    let e = bad.add("(?<=x)y", None).err().unwrap_or_default();
    assert!(e.starts_with("regex '(?<=x)y' is invalid"), "{e}");
    assert!(
        set(MatchMethod::Str, false, &["a"])
            .match_regm(b"a")
            .is_none()
    );
}

#[test]
fn ip_longest_then_list_and_families() {
    let s = set(
        MatchMethod::Ip,
        false,
        &[
            "10.0.0.0/8",
            "10.1.0.0/16",
            "10.1.2.3",
            "172.16.0.0/255.240.0.0",
            "::1",
            "2001:db8::/32",
        ],
    );
    assert_eq!(mi(&s, "10.1.2.3"), some("10.1.2.3"));
    assert_eq!(mi(&s, "10.1.9.9"), some("10.1.0.0/16"));
    assert_eq!(mi(&s, "10.2.0.0"), some("10.0.0.0/8"));
    assert_eq!(mi(&s, "::ffff:10.1.2.3"), some("10.1.2.3"));
    assert_eq!(mi(&s, "::1"), some("::1"));
    assert_eq!(mi(&s, "2001:db8::5"), some("2001:db8::/32"));
    assert_eq!(mi(&s, "172.20.1.1"), some("172.16.0.0/255.240.0.0"));
    assert_eq!(mi(&s, "8.8.8.8"), None);
    assert_eq!(m(&s, "10.1.2.3"), some("10.1.2.3"));
    assert_eq!(m(&s, "not an ip"), None);
    // The tree wins over the list even when the list entry comes first (HAProxy 2.6).
    let s = set(
        MatchMethod::Ip,
        false,
        &["10.0.0.0/255.0.255.0", "5.6.7.8/0"],
    );
    assert_eq!(mi(&s, "10.5.0.5"), some("5.6.7.8/0"));
    let s = set(
        MatchMethod::Ip,
        false,
        &["10.5.0.5", "10.6.0.0/255.255.0.255"],
    );
    assert_eq!(mi(&s, "2002:0a05:0005:1::"), some("10.5.0.5"));
    assert_eq!(mi(&s, "::10.5.0.5"), some("10.5.0.5"));
    assert_eq!(mi(&s, "::ffff:0:10.5.0.5"), None);
    assert_eq!(mi(&s, "10.6.1.0"), some("10.6.0.0/255.255.0.255"));
    assert_eq!(mi(&s, "::ffff:10.6.9.0"), some("10.6.0.0/255.255.0.255"));
    assert_eq!(mi(&s, "10.6.1.1"), None);
    let e = s.match_ip(ip("10.6.1.0")).cloned();
    assert!(e.is_some_and(|e| !s.is_tree(&e)));
    // A v6 pattern sees a v4 address as ::ffff:a.b.c.d.
    let s = set(
        MatchMethod::Ip,
        false,
        &["::ffff:10.7.0.0/112", "10.7.0.0/16", "10.7.0.1"],
    );
    assert_eq!(mi(&s, "10.7.0.1"), some("10.7.0.1"));
    assert_eq!(mi(&s, "10.7.0.2"), some("10.7.0.0/16"));
    assert_eq!(mi(&s, "::ffff:10.7.0.1"), some("::ffff:10.7.0.0/112"));
    let mut bad = PatternSet::new(MatchMethod::Ip, false);
    assert_eq!(
        bad.add("notip", None),
        Err("'notip' is not a valid IPv4 or IPv6 address.".to_string())
    );
}

#[test]
fn edits_on_a_set() {
    let mut s = set(MatchMethod::Beg, false, &["/a", "/ab", "/a"]);
    assert_eq!(s.remove_key("/ab"), 1);
    assert_eq!(m(&s, "/abc"), some("/a"));
    let first = s.entries().next().map(|e| e.id).unwrap_or_default();
    assert!(s.remove_id(first));
    assert!(!s.remove_id(first));
    assert_eq!(
        s.match_str(b"/abc").and_then(|e| e.value.clone()),
        some("v2")
    );
    assert_eq!(s.set_value(EntryRef::Key("/a"), "new"), 1);
    assert_eq!(
        s.match_str(b"/a").and_then(|e| e.value.clone()),
        some("new")
    );
    s.clear();
    assert!(s.is_empty() && m(&s, "/a").is_none());
    assert_eq!(EntryRef::parse("#0x5600"), EntryRef::Id(0x5600));
    assert_eq!(EntryRef::parse("#12"), EntryRef::Id(12));
    assert_eq!(EntryRef::parse("#zz"), EntryRef::Key("#zz"));
    assert_eq!(EntryRef::parse("foo"), EntryRef::Key("foo"));
    // Many removals compact the set without changing the order.
    let mut s = PatternSet::new(MatchMethod::Sub, false);
    for i in 0..500 {
        assert!(s.add(&format!("k{i:03}"), None).is_ok());
    }
    for i in 0..400 {
        s.remove_key(&format!("k{i:03}"));
    }
    assert_eq!(s.len(), 100);
    assert_eq!(m(&s, "k450 k420"), some("k420"));
    assert_eq!(s.entries().next().map(|e| e.key.clone()), some("k400"));
}

/// Runs `n` lookups and returns the time taken and the number of hits.
fn timed(n: usize, mut f: impl FnMut(usize) -> bool) -> (Duration, usize) {
    let start = Instant::now();
    let mut hits = 0;
    for i in 0..n {
        hits += usize::from(f(i));
    }
    (start.elapsed(), hits)
}

/// Key number `i` for a method, and an input that matches it (and only it).
fn shape(method: MatchMethod, i: usize) -> (String, String) {
    match method {
        MatchMethod::Beg => (format!("/p{i:05}/"), format!("/p{i:05}/index.html")),
        MatchMethod::End => (format!(".s{i:05}.net"), format!("www.s{i:05}.net")),
        MatchMethod::Sub => (format!("<{i:05}>"), format!("GET /x?<{i:05}>&y=1 HTTP/1.1")),
        MatchMethod::Dom => (
            format!("host{i:05}.example.com"),
            format!("a.host{i:05}.example.com"),
        ),
        MatchMethod::Dir => (format!("d{i:05}"), format!("/static/d{i:05}/x.png")),
        MatchMethod::Ip => (
            format!("10.{}.{}.0/24", i / 256, i % 256),
            format!("10.{}.{}.7", i / 256, i % 256),
        ),
        _ => (
            format!("host{i:05}.example.com"),
            format!("host{i:05}.example.com"),
        ),
    }
}

/// Time for `lookups` lookups in a set of `n` patterns, all hitting.
fn lookup_time(method: MatchMethod, n: usize, lookups: usize) -> Duration {
    let mut s = PatternSet::new(method, false);
    for i in 0..n {
        assert!(s.add(&shape(method, i).0, Some("v")).is_ok());
    }
    let inputs: Vec<String> = (0..1000).map(|j| shape(method, j * 7919 % n).1).collect();
    let (t, hits) = if method == MatchMethod::Ip {
        let addrs: Vec<IpAddr> = inputs.iter().map(|a| ip(a)).collect();
        timed(lookups, |k| s.match_ip(addrs[k % addrs.len()]).is_some())
    } else {
        timed(lookups, |k| {
            s.match_str(inputs[k % inputs.len()].as_bytes()).is_some()
        })
    };
    assert_eq!(hits, lookups, "{method:?} with {n} patterns");
    t
}

#[test]
fn ten_thousand_patterns_are_indexed() {
    // 100 000 lookups in a set of 10 000 patterns must cost about what they cost in a set
    // of 16: a linear scan would be ~600 times slower, the indexes keep it within a small
    // factor. Comparing two runs on the same machine keeps the test robust to a loaded
    // machine and to debug builds; the absolute bound only catches a disaster.
    const LOOKUPS: usize = 100_000;
    for method in [
        MatchMethod::Str,
        MatchMethod::Beg,
        MatchMethod::End,
        MatchMethod::Sub,
        MatchMethod::Dom,
        MatchMethod::Dir,
        MatchMethod::Ip,
    ] {
        let small = lookup_time(method, 16, LOOKUPS);
        let large = lookup_time(method, 10_000, LOOKUPS);
        assert!(
            large < small * 25 + Duration::from_millis(100),
            "{method:?}: {large:?} with 10000 patterns vs {small:?} with 16"
        );
        assert!(large < Duration::from_secs(20), "{method:?}: {large:?}");
    }
}

const DOMAIN2BACKEND: &str = "#domainname  backendname\napp1.domain.com   bk_app1\napp1.domain.net   bk_app1\napp2.domain.com   bk_app2\napp2.domain.net   bk_app2\n";

fn check_domain_map(s: &PatternSet) {
    let v = |h: &str| s.match_str(h.as_bytes()).and_then(|e| e.value.clone());
    assert_eq!(v("app1.domain.com"), some("bk_app1"));
    assert_eq!(v("x.app1.domain.com"), some("bk_app1"));
    assert_eq!(v(&"APP1.domain.com".to_ascii_lowercase()), some("bk_app1"));
    assert_eq!(v("app2.domain.net"), some("bk_app2"));
    assert_eq!(v("app1.domain.com:8080"), some("bk_app1"));
    assert_eq!(v("unknown.com"), None);
    assert_eq!(s.len(), 4);
}

#[test]
fn domain2backend_map() {
    let Ok(dir) = tempfile::tempdir() else { return };
    let p = dir.path().join("domain2backend.map");
    assert!(std::fs::write(&p, DOMAIN2BACKEND).is_ok());
    match load_map_file(&p.to_string_lossy(), MatchMethod::Dom, false) {
        Ok(s) => check_domain_map(&s),
        Err(e) => panic!("{e}"),
    }
    // The seed configuration's own file, when the shared folder is beside the repository.
    let seed = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/seed-configs/domain2backend.map"
    );
    if std::path::Path::new(seed).exists() {
        match load_map_file(seed, MatchMethod::Dom, false) {
            Ok(s) => check_domain_map(&s),
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn pattern_file_with_comments_and_tabs() {
    let Ok(dir) = tempfile::tempdir() else { return };
    let p = dir.path().join("ua.lst");
    assert!(std::fs::write(&p, "# bots\n\n\tcurl/\n  Wget\n #hash\n").is_ok());
    let s = load_pattern_file(&p.to_string_lossy(), MatchMethod::Beg, true);
    let Ok(s) = s else { panic!("load") };
    let keys: Vec<&str> = s.entries().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, vec!["curl/", "Wget", "#hash"]);
    assert_eq!(m(&s, "CURL/8.0"), some("curl/"));
    assert_eq!(m(&s, "wget/1.2"), some("Wget"));
}

fn origin(line: usize) -> Origin<'static> {
    Origin {
        file: "haproxy.cfg",
        line,
    }
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    assert!(std::fs::write(&p, text).is_ok());
    p.to_string_lossy().to_string()
}

#[test]
fn registry_shares_files_and_lists_them_like_haproxy() {
    let Ok(dir) = tempfile::tempdir() else { return };
    let map = write(&dir, "beg.map", "/api v1\n/api/v2 v2\n/a va\n");
    let lst = write(&dir, "acl.lst", "www.example.com\n# comment\n  spaced  \n");
    let reg = Registry::new();
    let beg = reg.map_file(&map, MatchMethod::Beg, origin(11));
    let dir_view = reg.map_file(&map, MatchMethod::Dir, origin(16));
    let beg2 = reg.map_file(&map, MatchMethod::Beg, origin(17));
    let (Ok(beg), Ok(dir_view), Ok(beg2)) = (beg, dir_view, beg2) else {
        panic!("load")
    };
    assert!(
        Arc::ptr_eq(&beg, &beg2),
        "same file and method share one view"
    );
    assert!(
        Arc::ptr_eq(beg.reference(), dir_view.reference()),
        "one reference per file"
    );
    let flags = PatternFlags::default();
    let a1 = reg.acl_file(&lst, MatchMethod::Str, &flags, origin(19));
    let icase = PatternFlags {
        ignore_case: true,
        ..PatternFlags::default()
    };
    let a2 = reg.acl_file(&format!("file@{lst}"), MatchMethod::Str, &icase, origin(20));
    let inline = PatternFlags {
        unique_id: Some("77".into()),
        ..PatternFlags::default()
    };
    let a3 = reg.acl_inline(
        "req.hdr",
        origin(21),
        MatchMethod::Beg,
        &inline,
        &["foo", "bar"],
    );
    let (Ok(a1), Ok(_a2), Ok(a3)) = (a1, a2, a3) else {
        panic!("acl")
    };
    assert!(a1.load().match_str(b"spaced  ").is_some());
    assert!(a3.load().match_str(b"barbara").is_some());

    // `entry_cnt` is HAProxy 2.6's counter: once per entry and expression (`beg` and `dir`
    // are two, the second `beg` shares the first; `-i` makes a second ACL expression).
    let maps: Vec<String> = reg.maps().iter().map(|r| r.show_line()).collect();
    assert_eq!(
        maps,
        vec![format!(
            "0 ({map}) pattern loaded from file '{map}' used by map at file 'haproxy.cfg' line 11, by map at file 'haproxy.cfg' line 16, by map at file 'haproxy.cfg' line 17. curr_ver=0 next_ver=0 entry_cnt=6"
        )]
    );
    let acls: Vec<String> = reg.acls().iter().map(|r| r.show_line()).collect();
    assert_eq!(
        acls,
        vec![
            format!(
                "1 ({lst}) pattern loaded from file '{lst}' used by acl at file 'haproxy.cfg' line 19, by acl at file 'haproxy.cfg' line 20. curr_ver=0 next_ver=0 entry_cnt=4"
            ),
            "77 () acl 'req.hdr' file 'haproxy.cfg' line 21. curr_ver=0 next_ver=0 entry_cnt=2"
                .to_string(),
        ]
    );
    let r = reg.lookup("#1");
    assert!(r.is_some_and(|r| r.name() == lst));
    assert!(
        reg.lookup(&format!("opt@{map}"))
            .is_some_and(|r| r.id() == 0)
    );
    assert!(
        reg.lookup("#77").is_some() && reg.lookup("#5").is_none() && reg.lookup("/nope").is_none()
    );

    // `get map` / `get acl` lines, as HAProxy 2.6 prints them.
    let Some(mref) = reg.lookup("#0") else {
        panic!()
    };
    assert_eq!(
        mref.get_lines("/api/v2/x", true),
        "type=beg, case=sensitive, found=yes, idx=tree, key=\"/api/v2\", value=\"v2\", type=\"str\"\n\
         type=dir, case=sensitive, found=yes, idx=list, key=\"/api\", value=\"v1\", type=\"str\"\n"
    );
    assert_eq!(
        mref.get_lines("/b", true),
        "type=beg, case=sensitive, found=no\ntype=dir, case=sensitive, found=no\n"
    );
    let Some(aref) = reg.lookup("#1") else {
        panic!()
    };
    assert_eq!(
        aref.get_lines("WWW.example.com", false),
        "type=str, case=sensitive, match=no\ntype=str, case=insensitive, match=yes, idx=list, pattern=\"www.example.com\"\n"
    );
    let ids: Vec<u64> = mref.entries(None).iter().map(|e| e.id).collect();
    assert_eq!(
        mref.dump(None),
        format!(
            "{:#x} /api v1\n{:#x} /api/v2 v2\n{:#x} /a va\n",
            ids[0], ids[1], ids[2]
        )
    );

    // Errors: the same file as one and two columns, unknown files, duplicate -u, bad lines.
    let e = reg
        .acl_file(&map, MatchMethod::Beg, &flags, origin(30))
        .err();
    assert_eq!(
        e,
        Some(format!(
            "The file \"{map}\" is already used as two column file and cannot be used by as one column file."
        ))
    );
    let e = reg
        .map_file("/nonexistent.map", MatchMethod::Str, origin(31))
        .err();
    assert_eq!(
        e.as_deref(),
        Some("failed to open pattern file </nonexistent.map>.")
    );
    assert!(
        reg.map_file("opt@/nonexistent.map", MatchMethod::Str, origin(32))
            .is_ok_and(|v| v.load().is_empty())
    );
    assert!(
        reg.map_file("virt@dyn", MatchMethod::Str, origin(33))
            .is_ok()
    );
    let e = reg
        .acl_inline("src", origin(34), MatchMethod::Ip, &inline, &[])
        .err();
    assert_eq!(e.as_deref(), Some("the id is already used."));
    let e = reg.map_file(&map, MatchMethod::Int, origin(35)).err();
    assert_eq!(
        e,
        Some(format!("'/api' is not a number at line 1 of file '{map}'."))
    );
}

#[test]
fn runtime_edits_reach_every_view_and_new_readers() {
    let Ok(dir) = tempfile::tempdir() else { return };
    let map = write(&dir, "m.map", "/api v1\n");
    let reg = Registry::new();
    let (Ok(beg), Ok(sub), Ok(ipv)) = (
        reg.map_file(&map, MatchMethod::Beg, origin(1)),
        reg.map_file(&map, MatchMethod::Sub, origin(2)),
        reg.map_file("virt@ips", MatchMethod::Ip, origin(3)),
    ) else {
        panic!("load")
    };
    let r = beg.reference().clone();
    let old = beg.load();
    assert!(r.add(None, "/static", Some("st")).is_ok());
    assert!(
        old.match_str(b"/static/x").is_none(),
        "a reader keeps its snapshot"
    );
    assert_eq!(
        beg.load()
            .match_str(b"/static/x")
            .and_then(|e| e.value.clone()),
        some("st")
    );
    assert_eq!(
        sub.load()
            .match_str(b"x/static/x")
            .and_then(|e| e.value.clone()),
        some("st")
    );
    assert_eq!(r.set_value(EntryRef::Key("/static"), "st2"), Ok(1));
    assert_eq!(
        sub.load()
            .match_str(b"/static")
            .and_then(|e| e.value.clone()),
        some("st2")
    );
    assert_eq!(
        r.set_value(EntryRef::Key("/nothere"), "x"),
        Err(RefError::EntryNotFound)
    );
    assert_eq!(r.delete(EntryRef::Key("/api")), Ok(1));
    assert_eq!(r.delete(EntryRef::Key("/api")), Err(RefError::KeyNotFound));
    assert!(beg.load().match_str(b"/api").is_none() && sub.load().match_str(b"/api").is_none());
    let id = beg
        .load()
        .entries()
        .next()
        .map(|e| e.id)
        .unwrap_or_default();
    assert_eq!(r.delete(EntryRef::Id(id)), Ok(1));
    assert!(beg.load().is_empty() && sub.load().is_empty());
    // A pattern one view cannot parse is refused for all.
    let ir = ipv.reference().clone();
    assert_eq!(
        ir.add(None, "notip", Some("x")),
        Err(RefError::Parse(
            "'notip' is not a valid IPv4 or IPv6 address.".into()
        ))
    );
    assert_eq!(ir.entry_count(), 0);
    assert!(ir.add(None, "1.2.3.4/24", Some("y")).is_ok());
    assert_eq!(
        ipv.load()
            .match_ip(ip("1.2.3.9"))
            .and_then(|e| e.value.clone()),
        some("y")
    );
    ir.clear(None);
    assert!(ipv.load().is_empty());
    // A payload is all or nothing.
    let batch = [("5.0.0.0/8", Some("a")), ("bad", Some("b"))];
    assert!(matches!(ir.add_many(None, &batch), Err(RefError::Parse(_))));
    assert_eq!(ir.entry_count(), 0);
    let batch = [("5.0.0.0/8", Some("a")), ("5.1.0.0/16", Some("b"))];
    assert_eq!(ir.add_many(None, &batch).map(|v| v.len()), Ok(2));
    assert_eq!(
        ipv.load()
            .match_ip(ip("5.1.2.3"))
            .and_then(|e| e.value.clone()),
        some("b")
    );
    // SharedPatterns::update keeps the reference in step.
    beg.update(|s| {
        assert!(s.add("/u", Some("upd")).is_ok());
    });
    assert_eq!(r.entries(None).len(), 1);
    assert_eq!(
        sub.load().match_str(b"a/u").and_then(|e| e.value.clone()),
        some("upd")
    );
}

#[test]
fn prepare_and_commit_versions() {
    let Ok(dir) = tempfile::tempdir() else { return };
    let map = write(&dir, "dom.map", "app1.domain.com bk_app1\n.com dotcom\n");
    let reg = Registry::new();
    let Ok(view) = reg.map_file(&map, MatchMethod::Dom, origin(12)) else {
        panic!()
    };
    let r = view.reference().clone();
    // The sequence run against HAProxy 2.6, with its answers.
    assert_eq!(view.prepare(), 1);
    assert_eq!(r.prepare(), 2);
    assert_eq!((r.curr_ver(), r.next_ver(), r.entry_count()), (0, 2, 2));
    assert!(view.add_version(1, "v1key", Some("v1val")).is_ok());
    assert!(r.add(Some(2), "v2key", Some("v2val")).is_ok());
    assert_eq!(
        r.add(Some(5), "x", Some("y")),
        Err(RefError::VersionInFuture)
    );
    assert_eq!(
        RefError::VersionInFuture.message(true),
        "Version number in the future, please use 'prepare map' before."
    );
    assert_eq!(r.entries(Some(1)).len(), 1);
    assert_eq!(r.entries(None).len(), 2);
    let before = view.load();
    assert!(
        before.match_str(b"v1key").is_none(),
        "not visible before commit"
    );
    assert_eq!(view.commit(1), Ok(()));
    assert_eq!((r.curr_ver(), r.next_ver(), r.entry_count()), (1, 2, 2));
    assert_eq!(
        view.load()
            .match_str(b"v1key")
            .and_then(|e| e.value.clone()),
        some("v1val")
    );
    assert!(
        view.load().match_str(b"app1.domain.com").is_none(),
        "old version gone"
    );
    assert!(
        before.match_str(b"app1.domain.com").is_some(),
        "old readers unaffected"
    );
    assert_eq!(r.commit(1), Err(RefError::VersionOutOfRange));
    assert_eq!(
        RefError::VersionOutOfRange.message(false),
        "Version number out of range."
    );
    assert_eq!(r.commit(2), Ok(()));
    assert_eq!((r.curr_ver(), r.next_ver(), r.entry_count()), (2, 2, 1));
    assert_eq!(
        r.entries(None)
            .iter()
            .map(|e| e.key.clone())
            .collect::<Vec<_>>(),
        vec!["v2key"]
    );
    r.clear(None);
    assert_eq!(r.entry_count(), 0);
    assert_eq!(r.commit(7), Err(RefError::VersionOutOfRange));
    // `del`/`set` reach every version; `clear @ver` only that one.
    assert_eq!(r.prepare(), 3);
    assert!(
        r.add(None, "samekey", Some("cur")).is_ok()
            && r.add(Some(3), "samekey", Some("future")).is_ok()
    );
    assert_eq!(r.set_value(EntryRef::Key("samekey"), "changed"), Ok(2));
    assert_eq!(r.entries(Some(3))[0].value.as_deref(), Some("changed"));
    assert_eq!(r.delete(EntryRef::Key("samekey")), Ok(2));
    assert!(r.add(Some(3), "k3", Some("x")).is_ok());
    r.clear(Some(3));
    assert!(r.entries(Some(3)).is_empty());
    // Committing an empty prepared version empties the map atomically.
    assert!(r.add(None, "x.com", Some("1")).is_ok());
    let v = r.prepare();
    assert_eq!(r.commit(v), Ok(()));
    assert!(view.load().is_empty());
    // Version numbers wrap as unsigned 32-bit values.
    let standalone = SharedPatterns::new(MatchMethod::Str, false);
    let sr = standalone.reference().clone();
    for _ in 0..3 {
        let v = sr.prepare();
        assert_eq!(sr.commit(v), Ok(()));
    }
    assert_eq!(sr.curr_ver(), 3);
}

#[test]
fn readers_on_other_threads_see_updates() {
    let shared = SharedPatterns::new(MatchMethod::Str, false);
    let r = shared.reference().clone();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let s = shared.clone();
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(20);
                while Instant::now() < deadline {
                    let set = s.load();
                    if set.match_str(b"k199").is_some() {
                        // Consistent snapshot: every earlier key is there too.
                        return (0..200)
                            .all(|i| set.match_str(format!("k{i}").as_bytes()).is_some());
                    }
                    std::thread::yield_now();
                }
                false
            })
        })
        .collect();
    for i in 0..200 {
        assert!(r.add(None, &format!("k{i}"), Some("v")).is_ok());
    }
    for t in readers {
        assert!(matches!(t.join(), Ok(true)));
    }
}

#[test]
fn regex_lookups_cached_until_the_set_changes() {
    let mut s = set(MatchMethod::Reg, false, &["^/api/", "^/a", "b$"]);
    let copy = s.clone();
    // The second lookup of the same sample comes from this thread's cache.
    assert_eq!(m(&s, "/api/x").as_deref(), Some("^/api/"));
    assert_eq!(m(&s, "/api/x").as_deref(), Some("^/api/"));
    assert_eq!(m(&s, "/zzz"), None);
    // Removing or adding entries gives the set a new version: older results are not used.
    s.remove_key("^/api/");
    assert_eq!(m(&s, "/api/x").as_deref(), Some("^/a"));
    s.add("^/z", None).unwrap();
    assert_eq!(m(&s, "/zzz").as_deref(), Some("^/z"));
    // An unchanged copy keeps its results.
    assert_eq!(m(&copy, "/api/x").as_deref(), Some("^/api/"));
    assert_eq!(m(&copy, "/zzz"), None);
}
