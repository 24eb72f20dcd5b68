// SPDX-License-Identifier: GPL-2.0
//! What the running kernel has: for the test programs' set-up, so that what a
//! kernel lacks altogether (a distribution's kernel has no C samples, maybe no
//! IOMMUFD) is skipped with its reason, while anything that the kernel has but that
//! fails to load still fails the set-up.

use std::fs;
use std::path::Path;

/// Whether the kernel has module `name`, loaded, built in, or installed where
/// modprobe finds it (a line of `/lib/modules/$(uname -r)/modules.dep`, compressed
/// or not). `-` and `_` are the same in module names.
pub fn has_module(name: &str) -> bool {
    let name = name.replace('-', "_");
    if Path::new("/sys/module").join(&name).exists() {
        return true;
    }
    let Some(release) = release() else {
        // Without the release, nothing can be said to be missing.
        return true;
    };
    let dir = Path::new("/lib/modules").join(release);
    let listed = |file: &str, field: fn(&str) -> &str| {
        fs::read_to_string(dir.join(file)).is_ok_and(|text| {
            text.lines().any(|l| {
                let path = field(l);
                let base = path.rsplit('/').next().unwrap_or(path);
                let stem = [".ko", ".ko.xz", ".ko.zst", ".ko.gz"]
                    .iter()
                    .find_map(|s| base.strip_suffix(s));
                stem.is_some_and(|s| s.replace('-', "_") == name)
            })
        })
    };
    listed("modules.dep", |l| l.split(':').next().unwrap_or(""))
        || listed("modules.builtin", |l| l.trim())
}

/// `uname -r`, from /proc.
pub fn release() -> Option<String> {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// Why the VFIO device cdev (`/dev/vfio/devices/vfioN` bound to an iommufd)
/// cannot be used on this kernel, or `None` when it can: it needs IOMMUFD
/// (`/dev/iommu`, or the module that provides it).
pub fn no_iommufd() -> Option<String> {
    if Path::new("/dev/iommu").exists() || has_module("iommufd") {
        None
    } else {
        Some(format!(
            "kernel {} has no IOMMUFD (no /dev/iommu, no iommufd module): no VFIO cdev interface",
            release().unwrap_or_default()
        ))
    }
}

/// Why module `name` cannot be used on this kernel, or `None` when the kernel has
/// it.
pub fn no_module(name: &str) -> Option<String> {
    (!has_module(name)).then(|| {
        format!(
            "kernel {} has no module {name}",
            release().unwrap_or_default()
        )
    })
}
