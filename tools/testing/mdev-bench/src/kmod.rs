// SPDX-License-Identifier: GPL-2.0
//! Loading and unloading modules by the system calls, not by modprobe: the guest's
//! module index makes every vendor depend on one core, and the benchmark loads the
//! vendors on both (tools/testing/vm, `--core none`). The unload is timed by the
//! caller: for a vendor it is the parent's unregistration with its mdevs.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::path::PathBuf;

/// The file of module `rel` (a path under `/lib/modules/$(uname -r)`).
pub fn path(rel: &str) -> Result<PathBuf, String> {
    let release = mdev_testkit::kernel::release().ok_or("cannot read the kernel release")?;
    Ok(Path::new("/lib/modules").join(release).join(rel))
}

/// The first of the files `rels` (paths under `/lib/modules/$(uname -r)`) that
/// exists.
pub fn find(rels: &[&str]) -> Result<PathBuf, String> {
    for rel in rels {
        let p = path(rel)?;
        if p.exists() {
            return Ok(p);
        }
    }
    Err(format!("no module file {rels:?} under /lib/modules"))
}

/// Loads the module in file `file` with parameters `params` (`name=value ...`).
pub fn load(file: &Path, params: &str) -> Result<(), String> {
    let f = File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let params = CString::new(params).map_err(|_| "a NUL in the parameters".to_string())?;
    // SAFETY: finit_module reads the open descriptor and the NUL-terminated string,
    // both alive for the call.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, f.as_raw_fd(), params.as_ptr(), 0) };
    if r != 0 {
        return Err(format!(
            "finit_module({}): {}",
            file.display(),
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Unloads module `name` (as in /sys/module), without waiting for its users.
pub fn unload(name: &str) -> Result<(), String> {
    let c = CString::new(name).map_err(|_| "a NUL in the module name".to_string())?;
    // SAFETY: delete_module reads the NUL-terminated name, alive for the call.
    let r = unsafe { libc::syscall(libc::SYS_delete_module, c.as_ptr(), libc::O_NONBLOCK) };
    if r != 0 {
        return Err(format!(
            "delete_module({name}): {}",
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Whether module `name` is loaded.
pub fn loaded(name: &str) -> bool {
    Path::new("/sys/module")
        .join(name)
        .join("initstate")
        .exists()
}
