// SPDX-License-Identifier: GPL-2.0
//! The objects tests work with: a vendor driver and the mdevs created on it.

pub use mdev_testkit::uuid::UuidSource;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

use crate::profile::Profile;
use crate::profile::TypeSpec;
use crate::sysfs;
use crate::sysfs::Errno;
use crate::sysfs::WriteResult;

pub const CLASS_DIR: &str = "/sys/class/mdev_bus";
pub const BUS_DIR: &str = "/sys/bus/mdev";
pub const DEVICES_DIR: &str = "/sys/bus/mdev/devices";

use mdev_testkit::release::after_release;

/// A vendor driver: its module, its parent device and the parent's types.
#[derive(Clone, Copy)]
pub struct Vendor {
    pub p: &'static Profile,
}

impl Vendor {
    /// `/sys/class/mdev_bus/<parent>`.
    pub fn parent_dir(&self) -> PathBuf {
        Path::new(CLASS_DIR).join(self.p.parent)
    }

    /// `<parent>/mdev_supported_types`.
    pub fn types_dir(&self) -> PathBuf {
        self.parent_dir().join("mdev_supported_types")
    }

    /// The directory of type `t`.
    pub fn type_dir(&self, t: &TypeSpec) -> PathBuf {
        self.types_dir().join(t.dir)
    }

    /// The type tests use by default.
    pub fn first_type(&self) -> &'static TypeSpec {
        &self.p.types[0]
    }

    /// Another type of the same parent, when it has more than one.
    pub fn second_type(&self) -> Option<&'static TypeSpec> {
        self.p.types.get(1)
    }

    /// Writes `data` to the `create` file of type `t` with one write(2).
    pub fn create_raw(&self, t: &TypeSpec, data: &[u8]) -> WriteResult {
        sysfs::write(&self.type_dir(t).join("create"), data)
    }

    /// Creates an mdev the way `echo -n $uuid > create` does; returns the kernel's answer.
    pub fn create(&self, t: &TypeSpec, uuid: &str) -> WriteResult {
        self.create_raw(t, uuid.as_bytes())
    }

    /// Creates an mdev and requires it to succeed.
    pub fn must_create(&self, t: &TypeSpec, uuid: &str) -> Result<(), String> {
        Self::created(t, uuid, self.create(t, uuid))
    }

    /// Creates an mdev again with the UUID of one removed before, which stays
    /// reserved until that mdev's release: waits while the create gives `EEXIST`
    /// ([`after_release`]), then requires it to succeed.
    pub fn must_create_again(&self, t: &TypeSpec, uuid: &str) -> Result<(), String> {
        let r = after_release(|| Ok(self.create(t, uuid)), |r| *r != Err(Errno::EEXIST))?;
        Self::created(t, uuid, r)
    }

    fn created(t: &TypeSpec, uuid: &str, r: WriteResult) -> Result<(), String> {
        match r {
            Ok(n) if n == uuid.len() => Ok(()),
            Ok(n) => Err(format!(
                "create {uuid} on {}: wrote {n} of {} bytes",
                t.dir,
                uuid.len()
            )),
            Err(e) => Err(format!("create {uuid} on {}: {e}", t.dir)),
        }
    }

    /// `available_instances` of type `t`.
    pub fn available(&self, t: &TypeSpec) -> Result<u64, String> {
        sysfs::read_u64(&self.type_dir(t).join("available_instances"))
    }

    /// `available_instances` of every type, in profile order.
    pub fn available_all(&self) -> Result<Vec<u64>, String> {
        self.p.types.iter().map(|t| self.available(t)).collect()
    }

    /// `available_instances` of type `t` once it is `want`, after the releases of
    /// removed mdevs ([`after_release`]); the caller checks the value.
    pub fn available_released(&self, t: &TypeSpec, want: u64) -> Result<u64, String> {
        after_release(|| self.available(t), |n| *n == want)
    }

    /// `available_instances` of every type once it is `want` ([`after_release`]).
    pub fn available_all_released(&self, want: &[u64]) -> Result<Vec<u64>, String> {
        after_release(|| self.available_all(), |v| v == want)
    }

    /// Whether the vendor's module is loaded.
    pub fn is_loaded(&self) -> bool {
        Path::new("/sys/module").join(self.p.module).exists()
    }

    /// Loads the vendor module (a no-op when it is loaded). First waits
    /// ([`after_release`]) until the driver core has removed the vendor's driver
    /// directory, `/sys/bus/mdev/drivers/<driver>`, left by an earlier unload: it goes
    /// only at the release of the driver's kobject, which `DEBUG_KOBJECT_RELEASE`
    /// delays by 1 to 4 s after the unload returned, on any bus, and registering the
    /// driver again meanwhile fails (`sysfs: cannot create duplicate filename`).
    pub fn load(&self) -> Result<(), String> {
        if !self.is_loaded() {
            let dir = Path::new("/sys/bus/mdev/drivers").join(self.p.driver);
            after_release(|| Ok(dir.exists()), |there| !there)?;
        }
        run("modprobe", &[self.p.module])?;
        if !self.parent_dir().exists() {
            return Err(format!(
                "{} loaded but {} is missing",
                self.p.module,
                self.parent_dir().display()
            ));
        }
        Ok(())
    }

    /// Unloads the vendor module, unregistering its parent. Calls delete_module(2)
    /// directly, as rmmod does, so that a race test's unload starts at once.
    pub fn unload(&self) -> Result<(), String> {
        let name = std::ffi::CString::new(self.p.module).map_err(|e| e.to_string())?;
        // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
        let rc = unsafe { libc::syscall(libc::SYS_delete_module, name.as_ptr(), libc::O_NONBLOCK) };
        if rc != 0 {
            return Err(format!(
                "delete_module({}): {}",
                self.p.module,
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }
}

/// Runs a program and requires it to succeed.
pub fn run(prog: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(prog)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {prog}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{prog} {}: {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        ))
    }
}

/// Runs a program and returns its stdout, requiring it to succeed.
pub fn output(prog: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(prog)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {prog}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{prog} {}: {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `/sys/bus/mdev/devices/<uuid>`.
pub fn mdev_dir(uuid: &str) -> PathBuf {
    Path::new(DEVICES_DIR).join(uuid)
}

/// Writes `data` to an mdev's `remove` file with one write(2).
pub fn remove_raw(uuid: &str, data: &[u8]) -> WriteResult {
    sysfs::write(&mdev_dir(uuid).join("remove"), data)
}

/// Removes an mdev and requires it to succeed.
pub fn must_remove(uuid: &str) -> Result<(), String> {
    match remove_raw(uuid, b"1") {
        Ok(1) => Ok(()),
        Ok(n) => Err(format!("remove {uuid}: wrote {n} of 1 bytes")),
        Err(e) => Err(format!("remove {uuid}: {e}")),
    }
}

/// The UUIDs of every mdev on the bus.
pub fn live_mdevs() -> Vec<String> {
    sysfs::list(Path::new(DEVICES_DIR))
}

/// The UUIDs of this program's mdevs (fixed, so runs compare).
pub fn uuid_source() -> UuidSource {
    UuidSource::new("83b8f4f2-509f-4f2c-8c1e-", 0xe6bf_0000_0000)
}
