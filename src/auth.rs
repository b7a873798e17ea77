//! HTTP authentication at run time: the users and groups of each `userlist`, password
//! checks with a per-thread cache, and the reading of `Authorization` credentials exactly
//! as HAProxy 2.6 does (`get_http_auth`), for the `http_auth*` fetches and their ACLs.
//!
//! Hashes (`password`) are checked by the system's crypt(3) library, linked directly
//! (libcrypt, libxcrypt on Debian) through its reentrant `crypt_rn`: it is the library
//! HAProxy itself calls, so every method HAProxy accepts on the same system is accepted
//! here with the same result (`$1$` MD5, `$5$`/`$6$` SHA-crypt, `$2b$` bcrypt, `$y$`
//! yescrypt, DES…), which no pure-Rust crate covers (none does yescrypt, Debian's
//! default). `crypt_rn` needs no lock, where HAProxy serialises `crypt()` behind one.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CString, c_char, c_int, c_void};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use halo_config::Diags;
use halo_config::userlist::{Password, Userlist as UserlistModel};

use crate::http::h1::Head;

#[link(name = "crypt")]
unsafe extern "C" {
    /// `char *crypt_rn(const char *phrase, const char *setting, void *data, int size)`:
    /// NULL on failure; on success the hash, inside `data`.
    fn crypt_rn(
        phrase: *const c_char,
        setting: *const c_char,
        data: *mut c_void,
        size: c_int,
    ) -> *mut c_char;
    /// `int crypt_checksalt(const char *setting)`: 0 when the method is supported.
    fn crypt_checksalt(setting: *const c_char) -> c_int;
}

/// `sizeof(struct crypt_data)` in `<crypt.h>` (libxcrypt).
const CRYPT_DATA_SIZE: usize = 32768;
/// `crypt_checksalt` answers for an unusable setting.
const CRYPT_SALT_INVALID: c_int = 1;
const CRYPT_SALT_METHOD_DISABLED: c_int = 2;

/// Whether the library can check passwords against `hash` (no hashing done).
pub fn hash_supported(hash: &str) -> bool {
    let Ok(h) = CString::new(hash) else {
        return false;
    };
    // SAFETY: `h` is a valid NUL-terminated string for the duration of the call.
    let r = unsafe { crypt_checksalt(h.as_ptr()) };
    !hash.is_empty() && r != CRYPT_SALT_INVALID && r != CRYPT_SALT_METHOD_DISABLED
}

/// Hashes `pass` with the method and salt of `hash` and compares (HAProxy's `check_user`:
/// `strcmp(crypt(pass, hash), hash) == 0`). `scratch` is the `struct crypt_data` area.
fn crypt_matches(pass: &[u8], hash: &CString, scratch: &mut [u64]) -> bool {
    let Ok(phrase) = CString::new(pass) else {
        return false;
    };
    let size = std::mem::size_of_val(scratch);
    // SAFETY: both strings are NUL-terminated and live across the call; `scratch` is a
    // writable area of `size` bytes (at least sizeof(struct crypt_data)), 8-byte aligned.
    let out = unsafe {
        crypt_rn(
            phrase.as_ptr(),
            hash.as_ptr(),
            scratch.as_mut_ptr().cast(),
            size as c_int,
        )
    };
    if out.is_null() {
        return false;
    }
    // SAFETY: on success `crypt_rn` returns a NUL-terminated string inside `scratch`.
    let got = unsafe { std::ffi::CStr::from_ptr(out) };
    constant_time_eq(got.to_bytes(), hash.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ------------------------------------------------------------------ the cache

/// Checked (user, password) results kept per worker thread, so a keep-alive client does
/// not pay a hash per request and no lock is shared between threads. Passwords are not
/// kept: a 128-bit digest under two random per-thread keys stands for them.
const CACHE_SLOTS: usize = 128;

struct Slot {
    list: u64,
    user: u32,
    digest: (u64, u64),
    ok: bool,
}

struct Cache {
    slots: Vec<Slot>,
    /// Next slot to replace once full (round robin).
    hand: usize,
    keys: (RandomState, RandomState),
    /// The `struct crypt_data` scratch area, allocated at the first hash.
    scratch: Vec<u64>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache {
        slots: Vec::new(),
        hand: 0,
        keys: (RandomState::new(), RandomState::new()),
        scratch: Vec::new(),
    });
}

impl Cache {
    fn digest(&self, pass: &[u8]) -> (u64, u64) {
        (self.keys.0.hash_one(pass), self.keys.1.hash_one(pass))
    }

    fn get(&self, list: u64, user: u32, digest: (u64, u64)) -> Option<bool> {
        self.slots
            .iter()
            .find(|s| s.list == list && s.user == user && s.digest == digest)
            .map(|s| s.ok)
    }

    fn put(&mut self, slot: Slot) {
        if self.slots.len() < CACHE_SLOTS {
            self.slots.push(slot);
        } else {
            self.slots[self.hand] = slot;
            self.hand = (self.hand + 1) % CACHE_SLOTS;
        }
    }
}

// ------------------------------------------------------------------ userlists

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

enum Secret {
    /// No password, or a hash the library cannot use: nobody logs in.
    Never,
    Plain(Vec<u8>),
    Hash(CString),
}

pub struct User {
    pub name: Vec<u8>,
    secret: Secret,
    /// Indexes of the user's groups in the userlist.
    pub groups: Vec<usize>,
}

/// A `userlist` ready to check credentials.
pub struct Userlist {
    pub name: String,
    /// Tells this userlist apart in the per-thread cache (unique in the process).
    id: u64,
    users: Vec<User>,
    by_name: HashMap<Vec<u8>, usize>,
    groups: Vec<String>,
}

impl std::fmt::Debug for Userlist {
    // Never prints secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Userlist")
            .field("name", &self.name)
            .field("users", &self.users.len())
            .field("groups", &self.groups)
            .finish()
    }
}

impl Userlist {
    /// Builds the runtime userlist; users who can never log in are reported as warnings.
    pub fn build(m: &UserlistModel, diags: &mut Diags) -> Userlist {
        let mut users = Vec::with_capacity(m.users.len());
        let mut by_name = HashMap::new();
        for u in &m.users {
            let secret = match &u.password {
                Password::None => {
                    diags.warning(
                        &u.loc,
                        format!(
                            "user '{}' in userlist '{}' has no password: nobody can log in as this user.",
                            u.name, m.name
                        ),
                    );
                    Secret::Never
                }
                Password::Insecure(p) => Secret::Plain(p.as_bytes().to_vec()),
                Password::Crypt(h) => match CString::new(h.as_str()) {
                    Ok(c) if hash_supported(h) => Secret::Hash(c),
                    _ => {
                        diags.warning(
                            &u.loc,
                            format!(
                                "the encrypted password used for user '{}' in userlist '{}' is not supported by crypt(3): nobody can log in as this user.",
                                u.name, m.name
                            ),
                        );
                        Secret::Never
                    }
                },
            };
            by_name.insert(u.name.as_bytes().to_vec(), users.len());
            users.push(User {
                name: u.name.as_bytes().to_vec(),
                secret,
                groups: u.groups.clone(),
            });
        }
        Userlist {
            name: m.name.clone(),
            id: NEXT_ID.fetch_add(1, Relaxed),
            users,
            by_name,
            groups: m.groups.iter().map(|g| g.name.clone()).collect(),
        }
    }

    pub fn user(&self, name: &[u8]) -> Option<&User> {
        self.by_name.get(name).map(|&i| &self.users[i])
    }

    /// The name of group `i`.
    pub fn group_name(&self, i: usize) -> &str {
        self.groups.get(i).map(String::as_str).unwrap_or("")
    }

    /// Whether `user` exists and `pass` is its password. Hash checks are cached per
    /// thread, successes and failures alike.
    pub fn check(&self, user: &[u8], pass: &[u8]) -> bool {
        let Some(&ui) = self.by_name.get(user) else {
            return false;
        };
        match &self.users[ui].secret {
            Secret::Never => false,
            Secret::Plain(p) => constant_time_eq(p, pass),
            Secret::Hash(h) => CACHE.with(|c| {
                let Ok(mut c) = c.try_borrow_mut() else {
                    // Not reachable (no re-entry); check without the cache.
                    return crypt_matches(pass, h, &mut vec![0u64; CRYPT_DATA_SIZE / 8]);
                };
                let digest = c.digest(pass);
                if let Some(ok) = c.get(self.id, ui as u32, digest) {
                    return ok;
                }
                if c.scratch.is_empty() {
                    c.scratch = vec![0u64; CRYPT_DATA_SIZE / 8];
                }
                let ok = crypt_matches(pass, h, &mut c.scratch);
                c.put(Slot {
                    list: self.id,
                    user: ui as u32,
                    digest,
                    ok,
                });
                ok
            }),
        }
    }
}

// ------------------------------------------------------------------ credentials

/// What a request's `Authorization` (or `Proxy-Authorization`) header carries.
#[derive(Debug, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// `Basic`: the user name and password, decoded.
    Basic { user: Vec<u8>, pass: Vec<u8> },
    /// `Bearer`: the token as sent.
    Bearer(&'a [u8]),
}

impl Credentials<'_> {
    pub fn scheme(&self) -> &'static [u8] {
        match self {
            Credentials::Basic { .. } => b"Basic",
            Credentials::Bearer(_) => b"Bearer",
        }
    }
}

/// The first comma-separated value of the first `name` header, trimmed (HAProxy's
/// `http_find_header` without `full`).
fn first_value<'a>(head: &'a Head, name: &[u8]) -> Option<&'a [u8]> {
    let v = head.get(name)?;
    Some(v.split(|&c| c == b',').next().unwrap_or(v).trim_ascii())
}

/// Whether `word` is a case-insensitive prefix of `scheme` (HAProxy compares with
/// `strncasecmp(scheme, word, len(word))`, so `B` and `bas` mean `Basic`).
fn scheme_prefix(word: &[u8], scheme: &[u8]) -> bool {
    word.len() <= scheme.len() && scheme[..word.len()].eq_ignore_ascii_case(word)
}

/// Reads the credentials of a request. `proxy_form` is HAProxy's `TX_USE_PX_CONN`: the
/// frontend has `option http-use-proxy-header` and the target is not a path; then
/// `Proxy-Authorization` is read instead of `Authorization`.
pub fn credentials(head: &Head, proxy_form: bool) -> Option<Credentials<'_>> {
    let name: &[u8] = if proxy_form {
        b"proxy-authorization"
    } else {
        b"authorization"
    };
    let v = first_value(head, name)?;
    let sp = v.iter().position(|&c| c == b' ')?;
    if sp == 0 {
        return None;
    }
    let (scheme, rest) = v.split_at(sp);
    let data = &rest[rest.iter().position(|&c| c != b' ').unwrap_or(rest.len())..];
    if scheme_prefix(scheme, b"Basic") {
        let decoded = base64_decode(data)?;
        // C strings in HAProxy: the user ends at ':' before any NUL, the password at NUL.
        let end = decoded
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(decoded.len());
        let colon = decoded[..end].iter().position(|&c| c == b':')?;
        let pass = &decoded[colon + 1..];
        let pass_end = pass.iter().position(|&c| c == 0).unwrap_or(pass.len());
        return Some(Credentials::Basic {
            user: decoded[..colon].to_vec(),
            pass: pass[..pass_end].to_vec(),
        });
    }
    if scheme_prefix(scheme, b"Bearer") {
        return Some(Credentials::Bearer(data));
    }
    None
}

/// `http_auth_bearer(<header>)`: the token of a `Bearer` value of that header (the scheme
/// compared whole, case-insensitively), if not empty.
pub fn bearer_in<'a>(head: &'a Head, header: &[u8]) -> Option<&'a [u8]> {
    let v = first_value(head, header)?;
    let sp = v.iter().position(|&c| c == b' ').unwrap_or(v.len());
    let (scheme, rest) = v.split_at(sp);
    let token = &rest[rest.iter().position(|&c| c != b' ').unwrap_or(rest.len())..];
    (scheme.eq_ignore_ascii_case(b"Bearer") && !token.is_empty()).then_some(token)
}

/// Base64 as HAProxy 2.6's `base64dec`: the length must be a multiple of 4, padding only
/// closes a group of four (`XX==`, `XXX=`), and decoding goes on after a padded group.
pub fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    if !input.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    for quad in input.chunks_exact(4) {
        let mut t = [0u8; 4];
        let mut pad = 0;
        for (i, &c) in quad.iter().enumerate() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'=' if i >= 2 => {
                    pad += 1;
                    0
                }
                _ => return None,
            };
            if pad > 0 && c != b'=' {
                return None;
            }
            t[i] = v;
        }
        let bytes = [
            (t[0] << 2) | (t[1] >> 4),
            (t[1] << 4) | (t[2] >> 2),
            (t[2] << 6) | t[3],
        ];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// Whether a request is in proxy form for authentication (`TX_USE_PX_CONN`).
pub fn proxy_form(use_proxy_header: bool, head: &Head) -> bool {
    use_proxy_header && head.uri().first() != Some(&b'/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::h1::{Limits, parse_request};

    fn head(extra: &str) -> Head {
        let raw = format!("GET / HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
        let mut h = Head::new();
        parse_request(raw.as_bytes(), &Limits::default(), &mut h)
            .unwrap()
            .unwrap();
        h
    }

    /// The credentials as text: `Basic user:pass`, `Bearer token`.
    fn show(c: Option<Credentials<'_>>) -> Option<String> {
        c.map(|c| match c {
            Credentials::Basic { user, pass } => format!(
                "Basic {}:{}",
                String::from_utf8_lossy(&user),
                String::from_utf8_lossy(&pass)
            ),
            Credentials::Bearer(t) => format!("Bearer {}", String::from_utf8_lossy(t)),
        })
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    // Hashes of "secret" made with `openssl passwd -1/-5/-6 secret` and `mkpasswd -m
    // bcrypt -R 5`, `mkpasswd -m yescrypt`, `mkpasswd -m descrypt` (Debian 12).
    const MD5: &str = "$1$k4vSGFjC$Yqdbt.UDYbM2lXCsnirYm0";
    const SHA256: &str = "$5$sJQ7k/uWz7kIBkuw$WLwSw5DcO9DrmOoFIlyverZSMjPCdNngE0yDdwyOrB7";
    const SHA512: &str = "$6$2pJmmOMP2TvLWC2p$Lck9JQSH7Ucv.9uj6T5QKNPbY.nKzydjHtl2u7S.4N/5yUQITDR5fNG3wpTmxw4ljtubnK23J9S.VtfRAa4wo.";
    const BCRYPT: &str = "$2b$05$kzzPmY.vJHpxtTcqF.Crvuw3Jca80pEJJ0lyPEkZwm8QXAjd/.K/G";
    const YESCRYPT: &str =
        "$y$j9T$g.KoAthg1mSbqJVK7V56f.$RHJJSj56IWLQIYhA3FHnteXZIf/5l6IMW1IX9t41A66";
    const DES: &str = "1Hoqi/WyYerVc";

    fn list(text: &str) -> (Userlist, Diags) {
        let opts = halo_config::ReadOptions {
            version: "3.5.0",
            features: &[],
            diag_mode: false,
        };
        let (cfg, d) = halo_config::load_text("u.cfg", text, &opts);
        assert!(!d.has_alerts(), "{:?}", d.items);
        let mut diags = Diags::default();
        (Userlist::build(&cfg.userlists[0], &mut diags), diags)
    }

    #[test]
    fn every_hash_method_of_the_system() {
        let mut text = String::from("userlist L\n");
        for (u, h) in [
            ("md5", MD5),
            ("sha256", SHA256),
            ("sha512", SHA512),
            ("bcrypt", BCRYPT),
            ("yescrypt", YESCRYPT),
            ("des", DES),
        ] {
            text.push_str(&format!("    user {u} password '{h}'\n"));
        }
        text.push_str("    user plain insecure-password secret\n");
        let (ul, diags) = list(&text);
        assert!(diags.items.is_empty(), "{:?}", diags.items);
        for u in [
            "md5", "sha256", "sha512", "bcrypt", "yescrypt", "des", "plain",
        ] {
            assert!(ul.check(u.as_bytes(), b"secret"), "{u}");
            assert!(!ul.check(u.as_bytes(), b"Secret"), "{u}");
            assert!(!ul.check(u.as_bytes(), b""), "{u}");
            // Cached answers are the same.
            assert!(ul.check(u.as_bytes(), b"secret"), "{u} (cached)");
            assert!(!ul.check(u.as_bytes(), b"Secret"), "{u} (cached)");
        }
        assert!(!ul.check(b"nobody", b"secret"));
    }

    #[test]
    fn unusable_users_warn_and_never_log_in() {
        let (ul, diags) = list(
            "userlist L\n    user a\n    user b password\n    user c password foo\n    user d password $9$x\n",
        );
        // `foo` is a valid DES setting (salt `fo`) that no password hashes to: no warning.
        assert_eq!(diags.warnings(), 3, "{:?}", diags.items);
        for u in ["a", "b", "c", "d"] {
            assert!(!ul.check(u.as_bytes(), b""));
            assert!(!ul.check(u.as_bytes(), b"foo"));
        }
    }

    #[test]
    fn cache_is_bounded_and_per_userlist() {
        let text = format!("userlist L\n    user u password '{MD5}'\n");
        let (a, _) = list(&text);
        let (b, _) = list(&text);
        for i in 0..(CACHE_SLOTS * 2) {
            assert!(!a.check(b"u", format!("wrong{i}").as_bytes()));
        }
        CACHE.with(|c| assert_eq!(c.borrow().slots.len(), CACHE_SLOTS));
        assert!(a.check(b"u", b"secret"));
        assert!(b.check(b"u", b"secret"));
        CACHE.with(|c| {
            let c = c.borrow();
            let d = c.digest(b"secret");
            assert_eq!(c.get(a.id, 0, d), Some(true));
            assert_eq!(c.get(b.id, 0, d), Some(true));
        });
    }

    #[test]
    fn basic_credentials_as_haproxy_reads_them() {
        let c = |v: &str| {
            show(credentials(
                &head(&format!("Authorization: {v}\r\n")),
                false,
            ))
        };
        assert_eq!(c("Basic dGlnZXI6c2VjcmV0"), some("Basic tiger:secret"));
        assert_eq!(c("basic dGlnZXI6c2VjcmV0"), some("Basic tiger:secret"));
        // A prefix of the scheme name is taken for it.
        assert_eq!(c("B dGlnZXI6c2VjcmV0"), some("Basic tiger:secret"));
        assert_eq!(c("Basic    dGlnZXI6c2VjcmV0"), some("Basic tiger:secret"));
        assert_eq!(
            c("Basic dGlnZXI6c2VjcmV0, Basic eGRiOmhlbGxv"),
            some("Basic tiger:secret")
        );
        assert_eq!(
            c("Basic c2NvdHQ6ZWxnYXRvOng="),
            some("Basic scott:elgato:x")
        );
        assert_eq!(c("Basic Ong="), some("Basic :x"));
        assert_eq!(c("Basic YTo="), some("Basic a:"));
        // NUL: inside the user name nothing is found; a password stops there.
        assert_eq!(c("Basic dGlnAGVyOnNlY3JldA=="), None);
        assert_eq!(c("Basic dGlnZXI6c2VjcmV0AHp6"), some("Basic tiger:secret"));
        for bad in [
            "Basic dGlnZXI6c2VjcmU",
            "Basic dGlnZXI6c2Vj cmV0",
            "Basic ====",
            "Basic dGln=XI6c2VjcmV0",
            "Basic dGlnZXI6c2VjcmV0=",
            "Basic dGlnZXI=",
            "Basic",
            "Basicx dGlnZXI6c2VjcmV0",
            "Digest foo",
            "B tok",
        ] {
            assert_eq!(c(bad), None, "{bad}");
        }
        assert_eq!(c("Bearer abc.def"), some("Bearer abc.def"));
        assert_eq!(c("BEARER  x y"), some("Bearer x y"));
        assert_eq!(c("Be tok"), some("Bearer tok"));
        assert_eq!(show(credentials(&head(""), false)), None);
        // The first header only.
        let h =
            head("Authorization: Basic eGRiOmhlbGxv\r\nAuthorization: Basic dGlnZXI6c2VjcmV0\r\n");
        assert_eq!(show(credentials(&h, false)), some("Basic xdb:hello"));
        // Proxy form reads Proxy-Authorization.
        let h = head("Proxy-Authorization: Basic eGRiOmhlbGxv\r\n");
        assert_eq!(show(credentials(&h, false)), None);
        assert_eq!(show(credentials(&h, true)), some("Basic xdb:hello"));
    }

    #[test]
    fn bearer_in_a_named_header() {
        let h = head("X-Token: Bearer abc\r\nX-Other: bearerx abc\r\nX-Empty: Bearer\r\n");
        assert_eq!(bearer_in(&h, b"x-token"), Some(&b"abc"[..]));
        assert_eq!(bearer_in(&h, b"x-other"), None);
        assert_eq!(bearer_in(&h, b"x-empty"), None);
        assert_eq!(bearer_in(&h, b"x-none"), None);
    }

    #[test]
    fn base64_like_haproxy() {
        assert_eq!(base64_decode(b"YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64_decode(b"YWI=").as_deref(), Some(&b"ab"[..]));
        assert_eq!(base64_decode(b"YWJj").as_deref(), Some(&b"abc"[..]));
        assert_eq!(base64_decode(b"YQ==YQ==").as_deref(), Some(&b"aa"[..]));
        assert_eq!(base64_decode(b"").as_deref(), Some(&b""[..]));
        for bad in [&b"Y==="[..], b"====", b"Y=Q=", b"YQ=", b"YQ-_"] {
            assert_eq!(base64_decode(bad), None);
        }
    }
}
