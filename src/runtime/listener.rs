//! Listening sockets of `bind` and `stats socket` (IPv4, IPv6, port ranges, UNIX paths with
//! mode and owner, `fd@N`) with their options, bound before privileges are dropped;
//! `bind_tcp` also binds again after a pause (SIGTTOU/SIGTTIN).

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};

use halo_config::addr::{Address, PortSpec};
use halo_config::model::Bind;
use socket2::{Domain, Protocol, Socket, Type};

/// A bound listening socket and what it belongs to.
pub struct Bound {
    pub proxy: usize,
    pub bind: usize,
    pub kind: BoundKind,
    pub backlog: i32,
    pub name: String,
    /// For TCP binds: the address, so the socket can be closed on pause and bound again.
    pub addr: Option<SocketAddr>,
}

pub enum BoundKind {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener, String),
    /// `sockpair@N`: connections arrive as file descriptors over this socket.
    Sockpair(std::os::unix::net::UnixStream),
}

impl Bound {
    pub fn raw_fd(&self) -> RawFd {
        match &self.kind {
            BoundKind::Tcp(l) => l.as_raw_fd(),
            BoundKind::Unix(l, _) => l.as_raw_fd(),
            BoundKind::Sockpair(s) => s.as_raw_fd(),
        }
    }
}

fn set_int(fd: RawFd, level: libc::c_int, opt: libc::c_int, val: libc::c_int) -> io::Result<()> {
    // SAFETY: fd is a valid socket owned by the caller; the value is a c_int.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            &val as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Binds every address of a `bind` line.
pub fn bind_all(
    proxy: usize,
    bind_idx: usize,
    b: &Bind,
    default_backlog: i32,
    reuseport: bool,
) -> Result<Vec<Bound>, String> {
    let backlog = b.backlog.map(|v| v as i32).unwrap_or(default_backlog);
    let mut out = Vec::new();
    for a in &b.addresses {
        match a {
            Address::Inet { ip, port, host, .. } => {
                let Some(ip) = ip else {
                    return Err(format!("cannot bind to host name '{host}'"));
                };
                let ports: Vec<u16> = match port {
                    PortSpec::Fixed(p) => vec![*p],
                    PortSpec::Range(a, b) => (*a..=*b).collect(),
                    _ => return Err("missing port".into()),
                };
                for p in ports {
                    let sa = SocketAddr::new(*ip, p);
                    let l = bind_tcp(sa, b, backlog, reuseport)
                        .map_err(|e| format!("cannot bind socket ({e}) for [{sa}]"))?;
                    out.push(Bound {
                        proxy,
                        bind: bind_idx,
                        kind: BoundKind::Tcp(l),
                        backlog,
                        name: sa.to_string(),
                        addr: Some(sa),
                    });
                }
            }
            Address::Unix(path) => {
                let _ = std::fs::remove_file(path);
                let l = std::os::unix::net::UnixListener::bind(path)
                    .map_err(|e| format!("cannot bind UNIX socket ({e}) [{path}]"))?;
                apply_unix_perms(path, b.mode, b.uid, b.gid)?;
                l.set_nonblocking(true).map_err(|e| e.to_string())?;
                out.push(Bound {
                    proxy,
                    bind: bind_idx,
                    kind: BoundKind::Unix(l, path.clone()),
                    backlog,
                    name: path.clone(),
                    addr: None,
                });
            }
            Address::Fd(fd) => {
                let fd = *fd;
                // SAFETY: the parent handed this descriptor over to us; we take ownership.
                let sock = unsafe { Socket::from_raw_fd(fd) };
                let domain = sock.domain().map_err(|e| format!("fd@{fd}: {e}"))?;
                sock.set_nonblocking(true).map_err(|e| e.to_string())?;
                // It may or may not be listening yet.
                sock.listen(backlog).map_err(|e| format!("fd@{fd}: {e}"))?;
                if domain == Domain::UNIX {
                    let l: std::os::unix::net::UnixListener =
                        std::os::unix::net::UnixListener::from(std::os::fd::OwnedFd::from(sock));
                    out.push(Bound {
                        proxy,
                        bind: bind_idx,
                        kind: BoundKind::Unix(l, String::new()),
                        backlog,
                        name: format!("fd@{fd}"),
                        addr: None,
                    });
                } else {
                    out.push(Bound {
                        proxy,
                        bind: bind_idx,
                        kind: BoundKind::Tcp(sock.into()),
                        backlog,
                        name: format!("fd@{fd}"),
                        addr: None,
                    });
                }
            }
            Address::Sockpair(fd) => {
                // SAFETY: the parent handed this descriptor over to us; we take ownership.
                let s = unsafe { std::os::unix::net::UnixStream::from_raw_fd(*fd) };
                s.set_nonblocking(true)
                    .map_err(|e| format!("sockpair@{fd}: {e}"))?;
                out.push(Bound {
                    proxy,
                    bind: bind_idx,
                    kind: BoundKind::Sockpair(s),
                    backlog,
                    name: format!("sockpair@{fd}"),
                    addr: None,
                });
            }
            Address::Abns(name) => {
                return Err(format!(
                    "abstract socket 'abns@{name}' is not supported yet"
                ));
            }
        }
    }
    Ok(out)
}

pub fn bind_tcp(
    sa: SocketAddr,
    b: &Bind,
    backlog: i32,
    reuseport: bool,
) -> io::Result<std::net::TcpListener> {
    let domain = if sa.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    if reuseport {
        s.set_reuse_port(true)?;
    }
    if sa.is_ipv6() {
        if b.v6only {
            s.set_only_v6(true)?;
        } else if b.v4v6 {
            s.set_only_v6(false)?;
        }
    }
    let fd = s.as_raw_fd();
    if let Some(dev) = &b.interface {
        s.bind_device(Some(dev.as_bytes()))?;
    }
    if b.transparent {
        set_int(fd, libc::SOL_IP, libc::IP_TRANSPARENT, 1)?;
    }
    if let Some(mss) = b.mss {
        set_int(fd, libc::IPPROTO_TCP, libc::TCP_MAXSEG, mss.abs())?;
    }
    if b.defer_accept {
        set_int(fd, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, 1)?;
    }
    if b.tfo {
        set_int(fd, libc::IPPROTO_TCP, libc::TCP_FASTOPEN, backlog.max(1))?;
    }
    s.set_nonblocking(true)?;
    s.bind(&sa.into())?;
    s.listen(backlog)?;
    Ok(s.into())
}

fn apply_unix_perms(
    path: &str,
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(m) = mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(m))
            .map_err(|e| format!("cannot change mode of '{path}': {e}"))?;
    }
    if uid.is_some() || gid.is_some() {
        std::os::unix::fs::chown(path, uid, gid)
            .map_err(|e| format!("cannot change owner of '{path}': {e}"))?;
    }
    Ok(())
}

/// The id of user `name` in the system's user database.
pub fn user_id(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam returns a pointer to static storage or null; read at once.
    unsafe {
        let pw = libc::getpwnam(c.as_ptr());
        (!pw.is_null()).then(|| (*pw).pw_uid)
    }
}

/// The id of group `name` in the system's group database.
pub fn group_id(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: getgrnam returns a pointer to static storage or null; read at once.
    unsafe {
        let gr = libc::getgrnam(c.as_ptr());
        (!gr.is_null()).then(|| (*gr).gr_gid)
    }
}

/// Receives one file descriptor sent with SCM_RIGHTS on a UNIX socket (non-blocking).
/// `Ok(None)`: the peer closed the socket.
pub fn recv_fd(sock: RawFd) -> io::Result<Option<RawFd>> {
    let mut data = [0u8; 16];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // Room for one control message carrying one int.
    let mut cbuf = [0u64; 8];
    // SAFETY: msghdr is plain data; every pointer set below outlives the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    // SAFETY: valid socket and message buffers.
    let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n == 0 && msg.msg_controllen == 0 {
        return Ok(None);
    }
    // SAFETY: walking the control messages the kernel wrote into cbuf.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let p = libc::CMSG_DATA(c) as *const libc::c_int;
                return Ok(Some(std::ptr::read_unaligned(p)));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "message without a file descriptor",
    ))
}

/// Whether a socket is a UNIX one (for fds received over `sockpair@`).
pub fn is_unix_socket(fd: RawFd) -> bool {
    // SAFETY: getsockname on a valid fd with a correctly sized buffer.
    unsafe {
        let mut ss: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        libc::getsockname(fd, &mut ss as *mut _ as *mut libc::sockaddr, &mut len) == 0
            && ss.ss_family as libc::c_int == libc::AF_UNIX
    }
}
