// SPDX-License-Identifier: GPL-2.0
//! The sysfs side: loading vendor drivers, creating and removing mdevs, finding the
//! VFIO nodes of an mdev.

pub use mdev_testkit::uuid::UuidSource;
use std::fs;
use std::io::Read;
use std::io::Write;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

use crate::sys;
use crate::sys::Errno;
use crate::sys::Res;

pub const CLASS_DIR: &str = "/sys/class/mdev_bus";
pub const DEVICES_DIR: &str = "/sys/bus/mdev/devices";

/// Opens `path` and writes `data` with one write(2), like `echo -n data > path`.
pub fn write_attr(path: &Path, data: &[u8]) -> Res<usize> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Errno::from_io(&e))?;
    f.write(data).map_err(|e| Errno::from_io(&e))
}

/// Reads a whole attribute file.
pub fn read_attr(path: &Path) -> Result<String, String> {
    let mut s = String::new();
    fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut s))
        .map_err(|e| format!("read {}: {e}", path.display()))?;
    Ok(s)
}

/// A parent device, by its name under /sys/class/mdev_bus, and its module.
#[derive(Clone, Copy)]
pub struct Parent {
    pub module: &'static str,
    pub name: &'static str,
}

impl Parent {
    pub fn dir(&self) -> PathBuf {
        Path::new(CLASS_DIR).join(self.name)
    }

    pub fn type_dir(&self, t: &str) -> PathBuf {
        self.dir().join("mdev_supported_types").join(t)
    }

    /// `available_instances` of type `t`.
    pub fn available(&self, t: &str) -> Result<u64, String> {
        let p = self.type_dir(t).join("available_instances");
        let s = read_attr(&p)?;
        s.trim_end()
            .parse()
            .map_err(|_| format!("{}: {s:?} is not a number", p.display()))
    }

    pub fn is_loaded(&self) -> bool {
        Path::new("/sys/module").join(self.module).exists()
    }

    /// Loads the module (a no-op when it is loaded) and requires the parent to appear.
    pub fn load(&self) -> Result<(), String> {
        modprobe(self.module, &[], &self.dir())
    }

    /// delete_module(2) with `flags`, as rmmod does it.
    pub fn unload(&self, flags: i32) -> Res<()> {
        sys::delete_module(self.module, flags)
    }

    /// Creates an mdev of type `t`, as `echo -n UUID > create` does.
    pub fn create(&self, t: &str, uuid: &str) -> Result<Mdev, String> {
        match write_attr(&self.type_dir(t).join("create"), uuid.as_bytes()) {
            Ok(n) if n == uuid.len() => Ok(Mdev {
                uuid: uuid.to_string(),
            }),
            Ok(n) => Err(format!("create {uuid} on {t}: wrote {n} bytes")),
            Err(e) => Err(format!("create {uuid} on {t}: {e}")),
        }
    }
}

/// `/sys/bus/mdev/devices/<uuid>`.
pub fn mdev_dir(uuid: &str) -> PathBuf {
    Path::new(DEVICES_DIR).join(uuid)
}

/// Writes `1` to an mdev's `remove`.
pub fn remove_raw(uuid: &str) -> Res<usize> {
    write_attr(&mdev_dir(uuid).join("remove"), b"1")
}

/// The UUIDs of every mdev on the bus.
pub fn live_mdevs() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(DEVICES_DIR)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// An mdev a test created. Dropping it removes it when it is still there, so a
/// failing test leaves nothing behind; tests that check removal call `remove`.
pub struct Mdev {
    pub uuid: String,
}

impl Mdev {
    /// Removes the mdev and requires that to succeed and the device to be gone.
    pub fn remove(&self) -> Result<(), String> {
        match remove_raw(&self.uuid) {
            Ok(1) => {}
            Ok(n) => return Err(format!("remove {}: wrote {n} of 1 bytes", self.uuid)),
            Err(e) => return Err(format!("remove {}: {e}", self.uuid)),
        }
        if mdev_dir(&self.uuid).exists() {
            return Err(format!("{} still exists after its removal", self.uuid));
        }
        Ok(())
    }

    pub fn exists(&self) -> bool {
        mdev_dir(&self.uuid).exists()
    }

    /// The number N of the VFIO group `/dev/vfio/N` the mdev is in.
    pub fn group(&self) -> Result<String, String> {
        let link = mdev_dir(&self.uuid).join("iommu_group");
        let target = fs::read_link(&link).map_err(|e| format!("{}: {e}", link.display()))?;
        target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| format!("{}: no group in {}", link.display(), target.display()))
    }

    /// `/dev/vfio/N`.
    pub fn group_path(&self) -> Result<String, String> {
        Ok(format!("/dev/vfio/{}", self.group()?))
    }

    /// `/dev/vfio/devices/vfioN`, from `<mdev>/vfio-dev/vfioN`.
    pub fn cdev_path(&self) -> Result<String, String> {
        let dir = mdev_dir(&self.uuid).join("vfio-dev");
        let names: Vec<String> = fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("vfio"))
            .collect();
        match names.as_slice() {
            [one] => Ok(format!("/dev/vfio/devices/{one}")),
            _ => Err(format!(
                "{}: want one vfioN, found {names:?}",
                dir.display()
            )),
        }
    }
}

impl Drop for Mdev {
    fn drop(&mut self) {
        if self.exists() {
            let _ = remove_raw(&self.uuid);
        }
    }
}

/// The UUIDs of this program's mdevs (fixed, so runs compare).
pub fn uuid_source() -> UuidSource {
    UuidSource::new("5f1a0c3e-7d2b-4c6e-9a8f-", 0xf10_0000)
}

/// `modprobe MODULE ARGS...`, then requires the parent directory `dir` to exist.
pub fn modprobe(module: &str, args: &[String], dir: &Path) -> Result<(), String> {
    let out = Command::new("modprobe")
        .arg(module)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run modprobe: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "modprobe {module}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        ));
    }
    if !dir.exists() {
        return Err(format!("{module} loaded but {} is missing", dir.display()));
    }
    Ok(())
}
