// SPDX-License-Identifier: GPL-2.0
//! A listener on the kernel's uevent netlink socket (what udev listens to).
//!
//! Nothing here decides by a quiet period. To collect "every event an operation
//! caused", the listener sets a fence after the operation returns: a synthetic
//! `change` uevent with a fresh `SYNTH_UUID` on `/sys/devices/virtual/mem/null`, and
//! reads until it comes back. The kernel sends an operation's uevents before the
//! syscall that caused them returns, and one socket receives broadcasts in the order
//! they were sent, so the events before the fence are exactly those sent up to it,
//! however slow the machine is.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

/// Where [`Listener::settle`] sets its fence: a device no test touches.
const FENCE_DEVICE: &str = "/sys/devices/virtual/mem/null/uevent";
/// How long the fence may take to come back before the listener gives up.
const FENCE_WAIT: Duration = Duration::from_secs(60);

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

    /// The next message, `Ok(None)` when none arrives within `timeout`. A message
    /// that is not a kernel uevent (udev's own) comes back as `Ok(None)` too, which
    /// callers treat like an empty poll. A lost message (the socket's buffer ran
    /// over) or any other error is an error: events were missed.
    fn next(&self, timeout: Duration) -> Result<Option<Uevent>, String> {
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        loop {
            // SAFETY: pfd is one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, ms) };
            if n == 0 {
                return Ok(None);
            }
            if n > 0 {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(format!("poll on the uevent socket: {e}"));
            }
        }
        let mut buf = vec![0u8; 16384];
        // SAFETY: buf is writable for its length.
        let n = unsafe { libc::recv(self.fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(format!("uevents lost: {}", std::io::Error::last_os_error()));
        }
        Ok(parse(&buf[..n as usize]))
    }

    /// Every event sent up to now, in order: sets a fence (see the module's doc) and
    /// reads up to it. The wait for the fence is a deadlock detector, not a window:
    /// the fence is usually there at once.
    pub fn settle(&self) -> Result<Vec<Uevent>, String> {
        static FENCES: AtomicU64 = AtomicU64::new(0);
        let n = FENCES.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let token = format!("00000000-{:04x}-4000-8000-{:012x}", pid & 0xffff, n);
        std::fs::write(FENCE_DEVICE, format!("change {token}"))
            .map_err(|e| format!("setting a uevent fence on {FENCE_DEVICE}: {e}"))?;
        let deadline = Instant::now() + FENCE_WAIT;
        let mut events = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.next(left)? {
                Some(e) if e.get("SYNTH_UUID") == Some(token.as_str()) => return Ok(events),
                Some(e) => events.push(e),
                None => {}
            }
        }
        Err(format!(
            "the uevent fence did not come back within {} s",
            FENCE_WAIT.as_secs()
        ))
    }

    /// Collects events until one satisfies `pred` or `timeout` passes; returns all
    /// collected events and whether `pred` was met.
    pub fn until(
        &self,
        timeout: Duration,
        pred: impl Fn(&Uevent) -> bool,
    ) -> Result<(Vec<Uevent>, bool), String> {
        let deadline = Instant::now() + timeout;
        let mut events = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if let Some(e) = self.next(left)? {
                let hit = pred(&e);
                events.push(e);
                if hit {
                    return Ok((events, true));
                }
            }
        }
        Ok((events, false))
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
