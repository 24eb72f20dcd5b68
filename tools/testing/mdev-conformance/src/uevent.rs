// SPDX-License-Identifier: GPL-2.0
//! A listener on the kernel's uevent netlink socket (what udev listens to).

use std::collections::BTreeMap;
use std::time::Duration;
use std::time::Instant;

/// One kernel uevent.
#[derive(Debug, Clone)]
pub struct Uevent {
    pub action: String,
    pub devpath: String,
    pub env: BTreeMap<String, String>,
}

impl Uevent {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }
}

/// A NETLINK_KOBJECT_UEVENT socket subscribed to the kernel's broadcasts.
pub struct Listener {
    fd: libc::c_int,
}

impl Listener {
    pub fn new() -> Result<Listener, String> {
        // SAFETY: plain socket(2) call; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_KOBJECT_UEVENT,
            )
        };
        if fd < 0 {
            return Err(format!(
                "uevent socket: {}",
                std::io::Error::last_os_error()
            ));
        }
        let listener = Listener { fd };
        // SAFETY: sockaddr_nl is plain data; all-zero is a valid value.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = 1; // the kernel's broadcast group
        let size: libc::c_int = 4 << 20;
        // SAFETY: fd is a socket we own; the option value points to a live c_int.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        // SAFETY: addr is a valid sockaddr_nl of the given length.
        let rc = unsafe {
            libc::bind(
                fd,
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(format!("uevent bind: {}", std::io::Error::last_os_error()));
        }
        Ok(listener)
    }

    /// The next event, or `None` when none arrives within `timeout`.
    fn next(&self, timeout: Duration) -> Option<Uevent> {
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: pfd is one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, ms) } <= 0 {
            return None;
        }
        let mut buf = vec![0u8; 16384];
        // SAFETY: buf is writable for its length.
        let n = unsafe { libc::recv(self.fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n <= 0 {
            return None;
        }
        parse(&buf[..n as usize])
    }

    /// Every event that arrives until none has come for `quiet`.
    pub fn drain(&self, quiet: Duration) -> Vec<Uevent> {
        let mut events = Vec::new();
        while let Some(e) = self.next(quiet) {
            events.push(e);
        }
        events
    }

    /// Collects events until one satisfies `pred` or `timeout` passes; returns all
    /// collected events and whether `pred` was met.
    pub fn until(&self, timeout: Duration, pred: impl Fn(&Uevent) -> bool) -> (Vec<Uevent>, bool) {
        let deadline = Instant::now() + timeout;
        let mut events = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.next(left) {
                Some(e) => {
                    let hit = pred(&e);
                    events.push(e);
                    if hit {
                        return (events, true);
                    }
                }
                None => break,
            }
        }
        (events, false)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // SAFETY: fd is owned by this listener and closed once.
        unsafe { libc::close(self.fd) };
    }
}

/// Parses "ACTION@DEVPATH\0KEY=VALUE\0...".
fn parse(msg: &[u8]) -> Option<Uevent> {
    let mut parts = msg.split(|&b| b == 0).filter(|p| !p.is_empty());
    let head = String::from_utf8_lossy(parts.next()?).into_owned();
    // udev's own re-broadcasts start with "libudev"; only kernel events have '@'.
    let (action, devpath) = head.split_once('@')?;
    let mut env = BTreeMap::new();
    for p in parts {
        let kv = String::from_utf8_lossy(p);
        if let Some((k, v)) = kv.split_once('=') {
            env.insert(k.to_string(), v.to_string());
        }
    }
    Some(Uevent {
        action: action.to_string(),
        devpath: devpath.to_string(),
        env,
    })
}
