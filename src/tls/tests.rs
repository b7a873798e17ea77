//! Certificate loading and SNI selection, on certificates made by `openssl`.

use std::path::Path;
use std::process::Command;

use super::*;

/// Makes `NAME.crt` and `NAME.key` in `dir` (RSA 2048, or P-256 when `ec`), for `cn` and
/// the DNS names `sans`.
fn make(dir: &Path, name: &str, cn: &str, sans: &[&str], ec: bool) {
    let key = dir.join(format!("{name}.key"));
    let crt = dir.join(format!("{name}.crt"));
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-x509", "-nodes", "-days", "2", "-subj"])
        .arg(format!("/CN={cn}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt);
    if ec {
        cmd.args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]);
    } else {
        cmd.args(["-newkey", "rsa:2048"]);
    }
    if !sans.is_empty() {
        let list: Vec<String> = sans.iter().map(|s| format!("DNS:{s}")).collect();
        cmd.arg("-addext")
            .arg(format!("subjectAltName={}", list.join(",")));
    }
    let out = cmd.output().expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn cat(dir: &Path, parts: &[&str], to: &str) -> String {
    let mut all = Vec::new();
    for p in parts {
        all.extend(std::fs::read(dir.join(p)).unwrap());
    }
    let path = dir.join(to);
    std::fs::write(&path, all).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn pem_bundles_side_keys_and_errors_as_haproxy_words_them() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    make(
        dir,
        "a",
        "www.example.com",
        &["www.example.com", "*.example.org"],
        false,
    );
    make(dir, "b", "ec.example.com", &[], true);
    let a = cat(dir, &["a.crt", "a.key"], "a.pem");
    let e = load_crt(&a).unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].names, ["www.example.com", "*.example.org"]);
    // The key beside the certificate, in FILE.key.
    let b = cat(dir, &["b.crt"], "b.pem");
    let _ = cat(dir, &["b.key"], "b.pem.key");
    assert_eq!(load_crt(&b).unwrap()[0].names, ["ec.example.com"]);
    // Errors.
    let missing = dir.join("nope.pem").to_string_lossy().into_owned();
    assert_eq!(
        load_crt(&missing).err().unwrap(),
        format!(
            "unable to stat SSL certificate from file '{missing}' : No such file or directory."
        )
    );
    let only = cat(dir, &["a.crt"], "only.pem");
    assert_eq!(
        load_crt(&only).err().unwrap(),
        format!("No Private Key found in '{only}.key'.")
    );
    let garbage = dir.join("bad.pem");
    std::fs::write(&garbage, "garbage\n").unwrap();
    let garbage = garbage.to_string_lossy().into_owned();
    assert_eq!(
        load_crt(&garbage).err().unwrap(),
        format!("unable to load certificate from file '{garbage}'.")
    );
    let mism = cat(dir, &["a.crt", "b.key"], "mism.pem");
    assert_eq!(
        load_crt(&mism).err().unwrap(),
        format!("inconsistencies between private key and certificate loaded '{mism}'.")
    );
}

#[test]
fn a_folder_loads_every_certificate_in_name_order() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    make(dir, "a", "a.example.com", &[], false);
    make(dir, "b", "b.example.com", &[], true);
    let sub = dir.join("certs");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(
        sub.join("2-b.pem"),
        [
            std::fs::read(dir.join("b.crt")).unwrap(),
            std::fs::read(dir.join("b.key")).unwrap(),
        ]
        .concat(),
    )
    .unwrap();
    std::fs::copy(dir.join("a.crt"), sub.join("1-a.pem")).unwrap();
    std::fs::copy(dir.join("a.key"), sub.join("1-a.pem.key")).unwrap();
    let e = load_crt(&sub.to_string_lossy()).unwrap();
    let names: Vec<&str> = e.iter().map(|c| c.names[0].as_str()).collect();
    assert_eq!(names, ["a.example.com", "b.example.com"]);
}

#[test]
fn sni_picks_exact_then_wildcard_then_the_first_certificate() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    make(dir, "def", "default.test", &[], false);
    make(
        dir,
        "www",
        "www.example.com",
        &["www.example.com", "*.example.org"],
        true,
    );
    let def = cat(dir, &["def.crt", "def.key"], "def.pem");
    let www = cat(dir, &["www.crt", "www.key"], "www.pem");
    let opts = |strict: bool| {
        let mut o = vec![
            ("crt".to_string(), vec![def.clone()]),
            ("crt".to_string(), vec![www.clone()]),
        ];
        if strict {
            o.push(("strict-sni".to_string(), vec![]));
        }
        o
    };
    let build = |o: &[(String, Vec<String>)]| {
        bind::BindTls::build(&bind::BindSpec {
            defaults: &[],
            options: o,
            bases: &bind::Bases::default(),
            http: true,
            cache_size: 100,
            lifetime: 300,
            store: &store::Store::default(),
            at: "t.cfg:1".into(),
            max_record: None,
        })
        .unwrap()
    };
    let o = opts(false);
    let t = build(&o);
    assert_eq!(t.pick(Some("www.example.com")), Some(1));
    assert_eq!(t.pick(Some("WWW.Example.COM")), Some(1));
    // As HAProxy: a trailing dot is part of the name, which then matches nothing.
    assert_eq!(t.pick(Some("www.example.com.")), Some(0));
    assert_eq!(t.pick(Some("shop.example.org")), Some(1));
    // A wildcard covers one label only.
    assert_eq!(t.pick(Some("a.b.example.org")), Some(0));
    assert_eq!(t.pick(Some("example.org")), Some(0));
    assert_eq!(t.pick(Some("unknown.test")), Some(0));
    assert_eq!(t.pick(None), Some(0));
    // strict-sni: no default.
    let o = opts(true);
    let t = build(&o);
    assert_eq!(t.pick(Some("www.example.com")), Some(1));
    assert_eq!(t.pick(Some("unknown.test")), None);
    assert_eq!(t.pick(None), None);
    // crt-list filters replace the certificate's names; `!name` excludes from a wildcard.
    let list = dir.join("list.txt");
    std::fs::write(
        &list,
        format!("# comment\n{def} [alpn http/1.1 ssl-min-ver TLSv1.3] api.test *.svc.test !db.svc.test\n\n{www}\n"),
    )
    .unwrap();
    let o = vec![(
        "crt-list".to_string(),
        vec![list.to_string_lossy().into_owned()],
    )];
    let t = build(&o);
    assert_eq!(t.pick(Some("api.test")), Some(0));
    assert_eq!(
        t.pick(Some("default.test")),
        Some(0),
        "the default certificate"
    );
    assert_eq!(t.pick(Some("web.svc.test")), Some(0));
    assert_eq!(t.pick(Some("www.example.com")), Some(1));
    assert_eq!(
        t.pick(Some("db.svc.test")),
        Some(0),
        "excluded, then the default"
    );
    assert!(
        bind::BindTls::build(&bind::BindSpec {
            defaults: &[],
            options: &[],
            bases: &bind::Bases::default(),
            http: true,
            cache_size: 100,
            lifetime: 300,
            store: &store::Store::default(),
            at: "t.cfg:1".into(),
            max_record: None,
        })
        .is_err()
    );
}
