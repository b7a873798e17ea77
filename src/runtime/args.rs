//! The command line, HAProxy's way (management guide section 3): `-f` files, `-c`, `-cc`,
//! `-d*` flags, `-D`, `-p`, `-sf/-st PID…` (the list ends at the next `-` argument), `-q`,
//! `-V`, `-v`, `-vv`, `-N`, `-n`, `-C`, `-L`, `-m`, `-W`, `-Ws`, `-S`, `-x`. Hand-written because
//! generic parsers would split `-sf` into `-s -f`.

use std::path::PathBuf;

#[derive(Debug, Default, Clone)]
pub struct Args {
    pub files: Vec<PathBuf>,
    pub check: bool,
    pub check_condition: Option<String>,
    pub debug: bool,
    pub diag: bool,
    pub foreground: bool,
    pub daemon: bool,
    pub pidfile: Option<String>,
    pub finish_pids: Vec<i32>,
    pub terminate_pids: Vec<i32>,
    pub quiet: bool,
    pub verbose: bool,
    pub version: u8,
    pub default_maxconn: Option<u32>,
    pub global_maxconn: Option<u32>,
    pub chdir: Option<String>,
    pub local_peer: Option<String>,
    pub mem_limit_mb: Option<u64>,
    pub master_worker: bool,
    pub zero_warning: bool,
    pub no_reuseport: bool,
    pub socket_from: Option<String>,
}

pub fn usage() -> String {
    let mut s = String::from(
        "Usage : halo [-f <cfgfile|cfgdir>]* [ -vdVD ] [ -n <maxconn> ] [ -N <maxpconn> ]\n",
    );
    s.push_str("        [ -p <pidfile> ] [ -m <max megs> ] [ -C <dir> ] [-- <cfgfile>*]\n");
    s.push_str("        -v displays version ; -vv shows known build options.\n");
    s.push_str("        -d enters debug mode ; -db only disables background mode.\n");
    s.push_str("        -dM[<byte>,help,...] debug memory (accepted)\n");
    s.push_str("        -V enters verbose mode (disables quiet mode)\n");
    s.push_str("        -D goes daemon ; -C changes to <dir> before loading files.\n");
    s.push_str("        -W master-worker mode.\n");
    s.push_str("        -q quiet mode : don't display messages\n");
    s.push_str("        -c check mode : only check config files and exit\n");
    s.push_str("        -cc check condition : evaluate a condition and exit\n");
    s.push_str("        -n sets the maximum total # of connections (uses ulimit -n)\n");
    s.push_str("        -m limits the usable amount of memory (in MB)\n");
    s.push_str("        -N sets the default, per-proxy maximum # of connections (0)\n");
    s.push_str("        -L set local peer name (default to hostname)\n");
    s.push_str("        -p writes pids of all children to this file\n");
    s.push_str("        -dW fails if any warning is emitted\n");
    s.push_str("        -sf/-st [pid ]* finishes/terminates old pids.\n");
    s.push_str("        -x <unix_socket> get listening sockets from a unix socket\n");
    s
}

/// Parses argv (without the program name).
pub fn parse(argv: &[String]) -> Result<Args, String> {
    let mut a = Args::default();
    let mut i = 0;
    let need = |i: usize, flag: &str| -> Result<String, String> {
        argv.get(i + 1)
            .cloned()
            .ok_or_else(|| format!("option '{flag}' requires an argument"))
    };
    while i < argv.len() {
        let arg = argv[i].as_str();
        if arg == "--" {
            a.files.extend(argv[i + 1..].iter().map(PathBuf::from));
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            return Err(format!("unexpected argument '{arg}'"));
        }
        match arg {
            "-f" => {
                a.files.push(PathBuf::from(need(i, arg)?));
                i += 1;
            }
            "-c" => a.check = true,
            "-cc" => {
                a.check_condition = Some(need(i, arg)?);
                i += 1;
            }
            "-d" => {
                a.debug = true;
                a.foreground = true;
            }
            "-db" => a.foreground = true,
            "-dD" => a.diag = true,
            "-dW" => a.zero_warning = true,
            "-dR" => a.no_reuseport = true,
            "-D" => a.daemon = true,
            "-W" | "-Ws" => a.master_worker = true,
            "-q" => a.quiet = true,
            "-V" => a.verbose = true,
            "-v" => a.version = a.version.max(1),
            "-vv" => a.version = 2,
            "-p" => {
                a.pidfile = Some(need(i, arg)?);
                i += 1;
            }
            "-N" | "-n" => {
                let v = need(i, arg)?;
                let n: u32 = v
                    .parse()
                    .map_err(|_| format!("option '{arg}' expects a number, not '{v}'"))?;
                if arg == "-N" {
                    a.default_maxconn = Some(n);
                } else {
                    a.global_maxconn = Some(n);
                }
                i += 1;
            }
            "-m" => {
                let v = need(i, arg)?;
                a.mem_limit_mb = Some(
                    v.parse()
                        .map_err(|_| format!("option '-m' expects a number, not '{v}'"))?,
                );
                i += 1;
            }
            "-C" => {
                a.chdir = Some(need(i, arg)?);
                i += 1;
            }
            "-L" => {
                a.local_peer = Some(need(i, arg)?);
                i += 1;
            }
            "-S" => {
                // The master CLI arrives with master-worker mode.
                need(i, arg)?;
                i += 1;
            }
            "-x" => {
                a.socket_from = Some(need(i, arg)?);
                i += 1;
            }
            "-sf" | "-st" => {
                let mut j = i + 1;
                while j < argv.len() && !argv[j].starts_with('-') {
                    let pid: i32 = argv[j]
                        .parse()
                        .map_err(|_| format!("'{arg}' expects process ids, not '{}'", argv[j]))?;
                    if arg == "-sf" {
                        a.finish_pids.push(pid);
                    } else {
                        a.terminate_pids.push(pid);
                    }
                    j += 1;
                }
                i = j - 1;
            }
            _ if arg.starts_with("-d") => {
                // Other debug flags (-dM, -dI, -dG, -dS, -dV, -dZ, -de, -dp, -dr, -dt…):
                // accepted; they tune internals halo does not have or does not need.
                if arg == "-dt"
                    && argv
                        .get(i + 1)
                        .map(|n| !n.starts_with('-'))
                        .unwrap_or(false)
                {
                    i += 1;
                }
            }
            _ => return Err(format!("unknown option '{arg}'")),
        }
        i += 1;
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Args {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn haproxy_flags() {
        let a = p("-f a.cfg -f dir -db -p /run/x.pid -sf 12 13 -q");
        assert_eq!(a.files.len(), 2);
        assert!(a.foreground);
        assert_eq!(a.finish_pids, vec![12, 13]);
        assert!(a.quiet);
        assert_eq!(a.pidfile.as_deref(), Some("/run/x.pid"));
        let a = p("-c -f x -st");
        assert!(a.check && a.terminate_pids.is_empty());
        let a = p("-vv");
        assert_eq!(a.version, 2);
        let a = p("-dM0x55 -dI -f x -- y z");
        assert_eq!(a.files.len(), 3);
        assert!(parse(&["-f".into()]).is_err());
        assert!(parse(&["-zz".into()]).is_err());
    }
}
