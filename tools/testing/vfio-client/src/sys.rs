// SPDX-License-Identifier: GPL-2.0
//! Thin, errno-preserving wrappers of the system calls the client makes.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::fd::FromRawFd;
use std::os::fd::OwnedFd;
use std::os::fd::RawFd;
use std::time::Duration;

pub use mdev_testkit::errno::Errno;

pub type Res<T> = Result<T, Errno>;

fn cstr(s: &str) -> Res<CString> {
    CString::new(s).map_err(|_| Errno(libc::EINVAL))
}

/// open(2) with O_CLOEXEC added.
pub fn open(path: &str, flags: i32) -> Res<OwnedFd> {
    let p = cstr(path)?;
    // SAFETY: `p` is a valid NUL-terminated string that outlives the call.
    let fd = unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: open(2) just returned this descriptor, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// open(2) read-write.
pub fn open_rw(path: &str) -> Res<OwnedFd> {
    open(path, libc::O_RDWR)
}

fn ret(rc: libc::c_int) -> Res<i32> {
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(rc)
    }
}

/// An ioctl whose argument is a plain integer.
pub fn ioctl_val(fd: RawFd, req: u32, arg: libc::c_ulong) -> Res<i32> {
    // SAFETY: the argument is passed by value; the kernel reads no user memory for it.
    ret(unsafe { libc::ioctl(fd, libc::Ioctl::from(req), arg) })
}

/// An ioctl whose argument points to `T`, which the kernel may read and write.
pub fn ioctl_ptr<T>(fd: RawFd, req: u32, arg: &mut T) -> Res<i32> {
    // SAFETY: `arg` is a valid, exclusive pointer to a `T` for the whole call; the
    // callers pass `#[repr(C)]` structures of the size the ioctl expects (or a byte
    // buffer as long as the `argsz` they put in it).
    ret(unsafe { libc::ioctl(fd, libc::Ioctl::from(req), arg as *mut T) })
}

/// An ioctl whose argument is a NUL-terminated string.
pub fn ioctl_str(fd: RawFd, req: u32, s: &str) -> Res<i32> {
    let c = cstr(s)?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    ret(unsafe { libc::ioctl(fd, libc::Ioctl::from(req), c.as_ptr()) })
}

/// pread(2): the byte count or the errno.
pub fn pread(fd: RawFd, buf: &mut [u8], off: i64) -> Res<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), off) };
    if n < 0 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    }
}

/// pwrite(2): the byte count or the errno.
pub fn pwrite(fd: RawFd, buf: &[u8], off: i64) -> Res<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
    let n = unsafe { libc::pwrite(fd, buf.as_ptr().cast(), buf.len(), off) };
    if n < 0 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    }
}

/// delete_module(2), as rmmod calls it.
pub fn delete_module(name: &str, flags: i32) -> Res<()> {
    let c = cstr(name)?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let rc = unsafe { libc::syscall(libc::SYS_delete_module, c.as_ptr(), flags) };
    if rc != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// A non-blocking eventfd, the kind VFIO signals interrupts through.
pub struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub fn new() -> Res<EventFd> {
        // SAFETY: plain system call with no pointer arguments.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(Errno::last());
        }
        // SAFETY: eventfd(2) just returned this descriptor, and nothing else owns it.
        Ok(EventFd {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The counter, reset to zero, when it was signalled; `None` when it was not.
    pub fn take(&self) -> Option<u64> {
        let mut v = [0u8; 8];
        match pread_nooff(self.raw(), &mut v) {
            Ok(8) => Some(u64::from_ne_bytes(v)),
            _ => None,
        }
    }

    /// Waits up to `timeout` for a signal; the counter, reset, or `None`.
    pub fn wait(&self, timeout: Duration) -> Option<u64> {
        let mut p = libc::pollfd {
            fd: self.raw(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: `p` is one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n <= 0 {
            return None;
        }
        self.take()
    }
}

fn pread_nooff(fd: RawFd, buf: &mut [u8]) -> Res<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    }
}
