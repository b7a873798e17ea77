//! Certificates made with `openssl` for the TLS end-to-end tests (a scratch PKI), and
//! external commands (openssl, curl) run under `timeout 10`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// The line of stdout starting with `prefix` (a fetch line, `subject=`...).
    pub fn line(&self, prefix: &str) -> Option<String> {
        self.stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .map(|l| l.trim_end().to_string())
    }

    /// `subject=CN = …` of the certificate the server presented (s_client).
    pub fn subject(&self) -> Option<String> {
        self.line("subject=")
    }
}

/// Runs `prog args` under `timeout 10` with `input` on its stdin (then closed).
pub fn run(prog: &str, args: &[&str], input: &[u8]) -> Out {
    let mut child = Command::new("timeout")
        .arg("10")
        .arg(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {prog}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for command");
    let _ = writer.join();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[derive(Clone, Copy)]
pub enum Key {
    Rsa,
    Ec,
}

pub const SERVER_EXT: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n";
pub const CLIENT_EXT: &str =
    "basicConstraints=critical,CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n";
pub const CA_EXT: &str = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n";

/// A scratch directory of keys and certificates made with `openssl`.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        Pki {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    pub fn p(&self, file: &str) -> String {
        self.path(file).to_string_lossy().into_owned()
    }

    pub fn openssl(&self, args: &[&str]) {
        let o = run("openssl", args, b"");
        assert_eq!(o.code, 0, "openssl {args:?} failed: {}", o.all());
    }

    /// `NAME.crt` and `NAME.key`, and both in `NAME.pem`, for `subj`, signed by the CA
    /// `ca` (its `.crt` and `.key`) or self-signed, with these X.509 v3 extensions.
    pub fn cert(
        &self,
        name: &str,
        subj: &str,
        key: Key,
        ca: Option<&str>,
        serial: &str,
        ext: &str,
    ) {
        let ext_file = self.p(&format!("{name}.ext"));
        std::fs::write(&ext_file, ext).unwrap();
        let (k, csr, crt) = (
            self.p(&format!("{name}.key")),
            self.p(&format!("{name}.csr")),
            self.p(&format!("{name}.crt")),
        );
        let mut req = vec![
            "req", "-new", "-nodes", "-subj", subj, "-keyout", &k, "-out", &csr,
        ];
        match key {
            Key::Rsa => req.extend(["-newkey", "rsa:2048"]),
            Key::Ec => req.extend(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]),
        }
        self.openssl(&req);
        let (ca_crt, ca_key) = match ca {
            Some(ca) => (self.p(&format!("{ca}.crt")), self.p(&format!("{ca}.key"))),
            None => (String::new(), String::new()),
        };
        let mut x509 = vec![
            "x509",
            "-req",
            "-in",
            &csr,
            "-days",
            "30",
            "-set_serial",
            serial,
            "-extfile",
            &ext_file,
            "-out",
            &crt,
        ];
        match ca {
            Some(_) => x509.extend(["-CA", ca_crt.as_str(), "-CAkey", ca_key.as_str()]),
            None => x509.extend(["-signkey", k.as_str()]),
        }
        self.openssl(&x509);
        let mut pem = std::fs::read(&crt).unwrap();
        pem.extend(std::fs::read(&k).unwrap());
        std::fs::write(self.path(&format!("{name}.pem")), pem).unwrap();
    }

    /// A self-signed CA (EC key).
    pub fn ca(&self, name: &str, subj: &str) {
        self.cert(name, subj, Key::Ec, None, "1", CA_EXT);
    }

    /// The usual HTTPS site: CA `ca` and `site.pem` (RSA, CN and SAN localhost) signed by it.
    pub fn site() -> Pki {
        let pki = Pki::new();
        pki.ca("ca", "/CN=Test CA");
        let ext = format!("{SERVER_EXT}subjectAltName=DNS:localhost\n");
        pki.cert("site", "/CN=localhost", Key::Rsa, Some("ca"), "2", &ext);
        pki
    }
}
