// SPDX-License-Identifier: GPL-2.0
//! Small, errno-preserving access to sysfs files.

use std::fs;
use std::fs::File;
use std::fs::OpenOptions;
use std::io::Read;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::path::PathBuf;

pub use mdev_testkit::errno::Errno;

/// The result of one write(2): the byte count the kernel returned, or its errno.
pub type WriteResult = Result<usize, Errno>;

/// Opens `path` for writing, as `echo > path` does (no O_CREAT, no O_TRUNC).
pub fn open_for_write(path: &Path) -> Result<File, Errno> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Errno::from_io(&e))
}

/// One write(2) of `data` at the start of an already open attribute file.
pub fn write_fd(file: &mut File, data: &[u8]) -> WriteResult {
    file.write(data).map_err(|e| Errno::from_io(&e))
}

/// Opens `path` and writes `data` with a single write(2), like `echo -n data > path`.
pub fn write(path: &Path, data: &[u8]) -> WriteResult {
    let mut f = open_for_write(path)?;
    write_fd(&mut f, data)
}

/// Reads a whole attribute file as text.
pub fn read(path: &Path) -> Result<String, Errno> {
    let mut f = File::open(path).map_err(|e| Errno::from_io(&e))?;
    let mut s = String::new();
    f.read_to_string(&mut s).map_err(|e| Errno::from_io(&e))?;
    Ok(s)
}

/// Reads an attribute holding one unsigned decimal number and a newline.
pub fn read_u64(path: &Path) -> Result<u64, String> {
    let text = read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let digits = text
        .strip_suffix('\n')
        .ok_or_else(|| format!("{}: {text:?} does not end with a newline", path.display()))?;
    digits
        .parse::<u64>()
        .map_err(|_| format!("{}: {text:?} is not a decimal number", path.display()))
}

/// The permission bits of a file (not following a final symlink).
pub fn mode(path: &Path) -> Result<u32, String> {
    fs::symlink_metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .map_err(|e| format!("stat {}: {e}", path.display()))
}

/// The sorted names in a directory; an empty list when it does not exist.
pub fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// Whether `path` is a symbolic link.
pub fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path)
        .map(|m| m.file_type().is_symlink())
        .unwrap_or(false)
}

/// Where a path really is, all symlinks resolved.
pub fn canonical(path: &Path) -> Result<PathBuf, String> {
    fs::canonicalize(path).map_err(|e| format!("resolve {}: {e}", path.display()))
}

/// Whether anything (file, directory, or link, even dangling) exists at `path`.
pub fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}
