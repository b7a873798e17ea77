//! The certificates of the process by file name, as the runtime API sees them: each file
//! is loaded once and shared by every bind line naming it (a `CertCell`); `set ssl cert`
//! prepares a replacement in a transaction and `commit ssl cert` swaps it everywhere at
//! once — new handshakes use it, established connections keep the one they started with.

use crate::sample::conv::hex_upper as hex;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use rustls::sign::CertifiedKey;

use crate::tls::CertEntry;
use crate::tls::bind::{BindTls, CrtListLine, parse_crt_list_line};

/// One certificate file in use, and the names it serves (CN and DNS SANs).
#[derive(Debug)]
pub struct CertCell {
    pub path: String,
    key: RwLock<Arc<CertifiedKey>>,
    names: RwLock<Vec<String>>,
}

impl CertCell {
    pub fn new(e: CertEntry) -> CertCell {
        CertCell {
            path: e.path,
            key: RwLock::new(e.key),
            names: RwLock::new(e.names),
        }
    }
    pub fn key(&self) -> Arc<CertifiedKey> {
        self.key.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub fn names(&self) -> Vec<String> {
        self.names.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    fn replace(&self, e: CertEntry) {
        *self.key.write().unwrap_or_else(|e| e.into_inner()) = e.key;
        *self.names.write().unwrap_or_else(|e| e.into_inner()) = e.names;
    }
}

/// rustls asks the cell for its certificate at each handshake.
#[derive(Debug)]
pub struct CellResolver(pub Arc<CertCell>);

impl rustls::server::ResolvesServerCert for CellResolver {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.key())
    }
}

/// A replacement being prepared: the chain and key of the last payload, or why it
/// cannot be committed.
struct Txn {
    entry: Result<CertEntry, String>,
}

#[derive(Default)]
pub struct Store {
    /// Files used by bind lines.
    cells: Mutex<BTreeMap<String, Arc<CertCell>>>,
    /// Files created by `new ssl cert` (filled or not), used by no bind line.
    unused: Mutex<BTreeMap<String, Option<CertEntry>>>,
    binds: Mutex<Vec<Arc<BindTls>>>,
    txns: Mutex<BTreeMap<String, Txn>>,
    /// crt-list files by name: their lines as loaded or changed since.
    lists: Mutex<BTreeMap<String, Vec<CrtListLine>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Store {
    /// The cell of a loaded file: the existing one when another bind line loaded it.
    pub fn cell(&self, e: CertEntry) -> Arc<CertCell> {
        lock(&self.cells)
            .entry(e.path.clone())
            .or_insert_with(|| Arc::new(CertCell::new(e)))
            .clone()
    }

    pub fn add_bind(&self, b: Arc<BindTls>) {
        lock(&self.binds).push(b);
    }

    /// The cell of a file already known: in use, or made by `new ssl cert` and filled
    /// (it becomes used).
    pub fn existing(&self, path: &str) -> Option<Arc<CertCell>> {
        if let Some(c) = lock(&self.cells).get(path) {
            return Some(c.clone());
        }
        let mut unused = lock(&self.unused);
        let e = unused.get_mut(path)?.take()?;
        unused.remove(path);
        Some(self.cell(e))
    }

    /// A crt-list file as loaded (the first bind line loading it records it).
    pub fn note_list(&self, path: &str, lines: Vec<CrtListLine>) {
        lock(&self.lists).entry(path.to_string()).or_insert(lines);
    }

    /// `show ssl crt-list [-n] [FILE]`.
    pub fn show_list(&self, numbered: bool, name: Option<&str>) -> String {
        let lists = lock(&self.lists);
        let Some(name) = name else {
            return lists.keys().map(|k| format!("{k}\n")).collect();
        };
        let Some(lines) = lists.get(name) else {
            return "didn't find the specified filename\n".into();
        };
        let mut o = format!("# {name}\n");
        for l in lines {
            o.push_str(&l.render(numbered));
            o.push('\n');
        }
        o
    }

    /// `add ssl crt-list LIST CERT` or with a line as payload.
    pub fn add_to_list(&self, list: &str, line_text: &str) -> String {
        let next = match lock(&self.lists).get(list) {
            None => return format!("Can't edit the crt-list: crt-list '{list}' does not exist!\n"),
            Some(lines) => lines.iter().map(|l| l.line).max().unwrap_or(0) + 1,
        };
        let line = match parse_crt_list_line(line_text, list, next) {
            Ok(Some(l)) => l,
            Ok(None) => {
                return "'add ssl crtlist' expects a filename and a certificate name\n".into();
            }
            Err(e) => return format!("Can't edit the crt-list: {e}\n"),
        };
        let known = lock(&self.cells).contains_key(&line.path)
            || matches!(lock(&self.unused).get(&line.path), Some(Some(_)));
        if !known {
            return format!(
                "Can't edit the crt-list: certificate '{}' does not exist!\n",
                line.path
            );
        }
        let binds: Vec<Arc<BindTls>> = lock(&self.binds)
            .iter()
            .filter(|b| b.lists.iter().any(|l| l == list))
            .cloned()
            .collect();
        for b in &binds {
            if let Err(e) = b.add_line(list, &line, self) {
                return format!("Can't edit the crt-list: {e}\n");
            }
            b.reindex();
        }
        // A store made by `new ssl cert` is in use from now on.
        let _ = self.existing(&line.path);
        let path = line.path.clone();
        if let Some(lines) = lock(&self.lists).get_mut(list) {
            lines.push(line);
        }
        format!("Inserting certificate '{path}' in crt-list '{list}'.\nSuccess!\n")
    }

    /// `del ssl crt-list LIST CERT[:LINE]`.
    pub fn del_from_list(&self, list: &str, target: &str) -> String {
        let (cert, want) = match target.rsplit_once(':') {
            Some((c, n)) if n.parse::<usize>().is_ok() => (c, n.parse::<usize>().ok()),
            _ => (target, None),
        };
        let mut lists = lock(&self.lists);
        let Some(lines) = lists.get_mut(list) else {
            return format!("Can't delete the entry: crt-list '{list}' does not exist!\n");
        };
        let numbers: Vec<usize> = lines
            .iter()
            .filter(|l| l.path == cert)
            .map(|l| l.line)
            .collect();
        let list_of = |v: &[usize]| {
            v.iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let n = match (numbers.as_slice(), want) {
            ([], _) => {
                return format!("Can't delete the entry: certificate '{cert}' does not exist!\n");
            }
            ([one], None) => *one,
            (many, None) => {
                return format!(
                    "Can't delete the entry: found the certificate '{cert}' in several entries, please specify a line number preceded by colons ({})!\n",
                    list_of(many)
                );
            }
            (all, Some(w)) if !all.contains(&w) => {
                return format!(
                    "Can't delete the entry: found a certificate '{cert}' but the line number is incorrect, please specify a correct line number preceded by colons ({})!\n",
                    list_of(all)
                );
            }
            (_, Some(w)) => w,
        };
        let binds: Vec<Arc<BindTls>> = lock(&self.binds)
            .iter()
            .filter(|b| b.lists.iter().any(|l| l == list))
            .cloned()
            .collect();
        let defaults: Vec<&Arc<BindTls>> = binds
            .iter()
            .filter(|b| b.line_is_default(list, n))
            .collect();
        if !defaults.is_empty() {
            let mut o = format!(
                "Can't delete the entry: certificate '{cert}' cannot be deleted, it is used as default certificate by the following frontends:\n"
            );
            for b in defaults {
                o.push_str(&format!("\t- {}\n", b.at));
            }
            o.push('\n');
            return o;
        }
        for b in &binds {
            b.remove_line(list, n);
        }
        lines.retain(|l| !(l.path == cert && l.line == n));
        format!("Entry '{cert}' deleted in crtlist '{list}'!\n")
    }

    /// `del ssl cert NAME`: only a store no bind line uses.
    pub fn del_cert(&self, name: &str) -> String {
        if lock(&self.cells).contains_key(name) {
            return format!(
                "Can't remove the certificate: certificate '{name}' in use, can't be deleted!\n\n"
            );
        }
        match lock(&self.unused).remove(name) {
            Some(_) => format!("Certificate '{name}' deleted!\n"),
            None => {
                format!("Can't remove the certificate: certificate '{name}' doesn't exist!\n\n")
            }
        }
    }

    /// `show ssl cert`: transactions, then every file.
    pub fn list(&self) -> String {
        let mut o = String::new();
        let txns = lock(&self.txns);
        if !txns.is_empty() {
            o.push_str("# transaction\n");
            for name in txns.keys() {
                o.push_str(&format!("*{name}\n"));
            }
        }
        o.push_str("# filename\n");
        let mut names: Vec<String> = lock(&self.cells).keys().cloned().collect();
        names.extend(lock(&self.unused).keys().cloned());
        names.sort();
        for n in names {
            o.push_str(&n);
            o.push('\n');
        }
        o
    }

    /// `show ssl cert NAME` (`*NAME`: its transaction; `\*NAME`: a name starting with `*`).
    pub fn show(&self, arg: &str) -> String {
        const NOT_FOUND: &str =
            "Can't display the certificate: Not found or the certificate is a bundle!\n";
        let (txn, name) = match arg.strip_prefix('*') {
            Some(n) => (true, n),
            None => (false, arg.strip_prefix('\\').unwrap_or(arg)),
        };
        let key = if txn {
            match lock(&self.txns)
                .get(name)
                .map(|t| t.entry.as_ref().ok().map(|e| e.key.clone()))
            {
                Some(Some(k)) => Some(k),
                _ => None,
            }
        } else if let Some(c) = lock(&self.cells).get(name) {
            Some(c.key())
        } else {
            lock(&self.unused)
                .get(name)
                .and_then(|e| e.as_ref().map(|e| e.key.clone()))
        };
        let Some(key) = key else {
            // A store made by `new ssl cert` and not filled yet.
            if !txn && matches!(lock(&self.unused).get(name), Some(None)) {
                return format!("Filename: {name}\nStatus: Empty\nOCSP Response Key: \n");
            }
            return NOT_FOUND.into();
        };
        let used = !txn && lock(&self.cells).contains_key(name);
        describe(&format!("{}{name}", if txn { "*" } else { "" }), used, &key)
            .unwrap_or_else(|| NOT_FOUND.into())
    }

    /// `set ssl cert NAME <<PEM`.
    pub fn set(&self, name: &str, payload: &str) -> String {
        let known = lock(&self.cells).contains_key(name) || lock(&self.unused).contains_key(name);
        if !known {
            return "Can't replace a certificate which is not referenced by the configuration!\nCan't update {name}!\n"
                .replace("{name}", name);
        }
        let entry = match super::parse_pem(name, payload.as_bytes()) {
            Err(e) => return format!("{e}\nCan't load the payload\nCan't update {name}!\n"),
            Ok((chain, Some(key))) => super::certified(name, chain, key),
            Ok((_, None)) => {
                Err("The transaction must contain at least a certificate and a private key!".into())
            }
        };
        let entry = match entry {
            Err(e) if e.starts_with("The transaction") => Err(e),
            Err(e) => return format!("{e}\nCan't load the payload\nCan't update {name}!\n"),
            Ok(e) => Ok(e),
        };
        let mut txns = lock(&self.txns);
        let created = !txns.contains_key(name);
        txns.insert(name.to_string(), Txn { entry });
        if created {
            format!("Transaction created for certificate {name}!\n")
        } else {
            format!("Transaction updated for certificate {name}!\n")
        }
    }

    /// `commit ssl cert NAME`: the new certificate everywhere the file is used, names
    /// re-indexed on every bind line.
    pub fn commit(&self, name: &str) -> String {
        let Some(t) = lock(&self.txns).remove(name) else {
            return format!("No ongoing transaction! !\nCan't commit {name}!\n");
        };
        let entry = match t.entry {
            Ok(e) => e,
            Err(why) => {
                // The transaction stays, as HAProxy keeps it for another payload.
                let why2 = why.clone();
                lock(&self.txns).insert(name.to_string(), Txn { entry: Err(why) });
                return format!("{why2}\nCan't commit {name}!\n");
            }
        };
        let cell = lock(&self.cells).get(name).cloned();
        match cell {
            Some(c) => {
                c.replace(entry);
                for b in lock(&self.binds).iter() {
                    if b.uses(&c) {
                        b.reindex();
                    }
                }
                format!("Committing {name}.\nSuccess!\n")
            }
            None => {
                lock(&self.unused).insert(name.to_string(), Some(entry));
                // (HAProxy words a new certificate's commit without the period.)
                format!("Committing {name}\nSuccess!\n")
            }
        }
    }

    /// `abort ssl cert NAME`.
    pub fn abort(&self, name: &str) -> String {
        match lock(&self.txns).remove(name) {
            Some(_) => format!("Transaction aborted for certificate '{name}'!\n"),
            None => "No ongoing transaction!\n".into(),
        }
    }

    /// `new ssl cert NAME`.
    pub fn new_cert(&self, name: &str) -> String {
        if lock(&self.cells).contains_key(name) || lock(&self.unused).contains_key(name) {
            return format!("Certificate '{name}' already exists!\n");
        }
        lock(&self.unused).insert(name.to_string(), None);
        format!("New empty certificate store '{name}'!\n")
    }
}

/// The details `show ssl cert NAME` prints, in HAProxy's format.
fn describe(name: &str, used: bool, key: &CertifiedKey) -> Option<String> {
    use sha1::Digest;
    let der = key.cert.first()?;
    let (_, x) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let mut o = format!(
        "Filename: {name}\nStatus: {}\nSerial: {}\nnotBefore: {}\nnotAfter: {}\n",
        if used { "Used" } else { "Unused" },
        hex(x.raw_serial()),
        openssl_date(&x.validity().not_before),
        openssl_date(&x.validity().not_after),
    );
    let names: Vec<String> = match x.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                x509_parser::extensions::GeneralName::DNSName(d) => Some(format!("DNS:{d}")),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    o.push_str(&format!("Subject Alternative Name: {}\n", names.join(", ")));
    let spki = x.public_key();
    let algo = match spki.parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(r)) => format!("RSA{}", r.key_size()),
        Ok(x509_parser::public_key::PublicKey::EC(p)) => format!("EC{}", p.key_size()),
        _ => "unknown".to_string(),
    };
    o.push_str(&format!("Algorithm: {algo}\n"));
    o.push_str(&format!(
        "SHA1 FingerPrint: {}\n",
        hex(&sha1::Sha1::digest(der.as_ref()))
    ));
    o.push_str(&format!("Subject: {}\n", super::dn_oneline(x.subject())));
    o.push_str(&format!("Issuer: {}\n", super::dn_oneline(x.issuer())));
    for c in key.cert.iter().skip(1) {
        if let Ok((_, cx)) = x509_parser::parse_x509_certificate(c.as_ref()) {
            o.push_str(&format!(
                "Chain Subject: {}\n",
                super::dn_oneline(cx.subject())
            ));
            o.push_str(&format!(
                "Chain Issuer: {}\n",
                super::dn_oneline(cx.issuer())
            ));
        }
    }
    o.push_str("OCSP Response Key: \n");
    Some(o)
}

/// OpenSSL's `ASN1_TIME_print`: `Dec  4 15:45:39 2026 GMT`.
fn openssl_date(t: &x509_parser::time::ASN1Time) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let d = t.to_datetime();
    format!(
        "{} {:>2} {:02}:{:02}:{:02} {} GMT",
        MONTHS[usize::from(u8::from(d.month())).saturating_sub(1) % 12],
        d.day(),
        d.hour(),
        d.minute(),
        d.second(),
        d.year()
    )
}
