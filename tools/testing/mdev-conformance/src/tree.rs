// SPDX-License-Identifier: GPL-2.0
//! A normalized listing of a sysfs tree, for the mdev-transcript binary: one line
//! per entry, sorted, with everything that differs between two runs of the same
//! kernel taken out, so that listings made on two mdev cores compare with `diff`.
//!
//! Line format (paths relative to the listed root):
//!   `d MODE path/`             a directory
//!   `f MODE path "content"`    a readable attribute and what reading it gives
//!   `f MODE path`              an attribute nobody may read (write-only)
//!   `f MODE path ! ERRNO`      a readable attribute whose read failed
//!   `l path -> /sys/...`       a symbolic link and where it points (absolute,
//!                              resolved lexically from the link's real directory)
//!
//! Left out or normalized, because it varies from run to run or does not belong to
//! the mdev core at all:
//!   - `power/` directories: runtime-PM statistics (`runtime_active_time`, ...)
//!     change with time;
//!   - the number of an IOMMU group, in link targets (`iommu_groups/<group>`) and in
//!     the VFIO group device's path (`/devices/virtual/vfio/<group>`): groups are
//!     numbered in allocation order across the whole system;
//!   - character-device majors (`dev` files and `MAJOR=` in `uevent` files):
//!     dynamic majors depend on the order in which modules were loaded;
//!   - file sizes and timestamps are never printed.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Component;
use std::path::Path;
use std::path::PathBuf;

use crate::sysfs;
use crate::sysfs::Errno;

/// Lists the tree at `root` into `out`. Symbolic links are not followed, except
/// those directly in a directory whose path relative to `root` is `follow_in` (for
/// /sys/bus/mdev that is `devices`, so that each mdev's own directory is listed).
pub fn list(root: &Path, follow_in: Option<&str>, out: &mut Vec<String>) {
    match fs::symlink_metadata(root) {
        Err(_) => out.push(format!("{}: absent", root.display())),
        Ok(_) => {
            out.push(format!("{}:", root.display()));
            walk(root, "", follow_in, out);
        }
    }
}

fn walk(dir: &Path, rel: &str, follow_in: Option<&str>, out: &mut Vec<String>) {
    let follow_here = follow_in.is_some_and(|f| rel.strip_suffix('/') == Some(f));
    for name in sysfs::list(dir) {
        let path = dir.join(&name);
        let shown = format!("{rel}{name}");
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            // Gone between listing and looking: show it, it is a difference too.
            Err(e) => {
                out.push(format!("? {shown} ! {}", errno_name(&e)));
                continue;
            }
        };
        let mode = meta.permissions().mode() & 0o7777;
        let ft = meta.file_type();
        if ft.is_symlink() {
            out.push(format!("l {shown} -> {}", link_target(&path)));
            if follow_here && path.is_dir() {
                walk(&path, &format!("{shown}/"), None, out);
            }
        } else if ft.is_dir() {
            if name == "power" {
                continue;
            }
            out.push(format!("d {mode:04o} {shown}/"));
            walk(&path, &format!("{shown}/"), follow_in, out);
        } else if mode & 0o444 == 0 {
            out.push(format!("f {mode:04o} {shown}"));
        } else {
            match fs::read(&path) {
                Ok(bytes) => {
                    let text = normalize_content(&name, &String::from_utf8_lossy(&bytes));
                    out.push(format!("f {mode:04o} {shown} {text:?}"));
                }
                Err(e) => out.push(format!("f {mode:04o} {shown} ! {}", errno_name(&e))),
            }
        }
    }
}

fn errno_name(e: &std::io::Error) -> String {
    let errno = Errno(e.raw_os_error().unwrap_or(libc::EIO));
    match errno.name() {
        "E?" => format!("errno {}", errno.0),
        n => n.to_string(),
    }
}

/// Where a link points, as an absolute path with the run-dependent parts replaced.
///
/// sysfs writes link targets relative to the link's *real* directory, so the same
/// link seen through /sys/bus/mdev/devices/<uuid> and through the parent's directory
/// has different relative spellings; resolving against the real directory gives one
/// spelling for both, and one for every core that puts the device in the same place.
fn link_target(link: &Path) -> String {
    let target = match fs::read_link(link) {
        Ok(t) => t,
        Err(e) => return format!("! {}", errno_name(&e)),
    };
    let real_dir = link
        .parent()
        .and_then(|d| fs::canonicalize(d).ok())
        .unwrap_or_else(|| PathBuf::from("/"));
    let mut abs = if target.is_absolute() {
        PathBuf::from("/")
    } else {
        real_dir
    };
    for c in target.components() {
        match c {
            Component::ParentDir => {
                abs.pop();
            }
            Component::Normal(part) => abs.push(part),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    normalize_path(&abs.to_string_lossy())
}

/// Replaces the run-dependent parts of a sysfs path or uevent devpath (see the
/// module comment): the IOMMU group's own directory, and the VFIO group device,
/// which VFIO names after the group's number.
pub fn normalize_path(path: &str) -> String {
    for prefix in ["/sys/kernel/iommu_groups/", "/devices/virtual/vfio/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let (name, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
                return format!("{prefix}<group>{tail}");
            }
        }
    }
    path.to_string()
}

/// Replaces the run-dependent parts of an attribute's content (see the module comment).
fn normalize_content(name: &str, text: &str) -> String {
    match name {
        // "MAJOR:MINOR\n"
        "dev" => match text.split_once(':') {
            Some((_, minor)) => format!("<major>:{minor}"),
            None => text.to_string(),
        },
        "uevent" => text
            .split_inclusive('\n')
            .map(|line| {
                if line.starts_with("MAJOR=") {
                    let nl = if line.ends_with('\n') { "\n" } else { "" };
                    format!("MAJOR=<major>{nl}")
                } else {
                    line.to_string()
                }
            })
            .collect(),
        _ => text.to_string(),
    }
}
