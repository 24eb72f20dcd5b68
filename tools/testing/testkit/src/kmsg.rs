// SPDX-License-Identifier: GPL-2.0
//! Reads the kernel log written since a point, to pin a kernel report on the test
//! that caused it.

use std::fs::File;
use std::fs::OpenOptions;
use std::io::Read;
use std::io::Seek;
use std::io::SeekFrom;
use std::os::unix::fs::OpenOptionsExt;

/// Kernel log lines that mean something went wrong in the kernel.
const REPORTS: &[&str] = &[
    "BUG:",
    "WARNING:",
    "Oops",
    "KASAN:",
    "UBSAN:",
    "general protection fault",
    "possible circular locking",
    "possible recursive locking",
    "inconsistent lock state",
    "suspicious RCU usage",
    "blocked for more than",
    "ODEBUG:",
    "refcount_t:",
    "list_add corruption",
    "list_del corruption",
];

/// A reader positioned at the end of the kernel log when it was made.
pub struct KernelLog {
    file: Option<File>,
}

impl KernelLog {
    /// Starts watching; without /dev/kmsg the watcher sees nothing.
    pub fn watch() -> KernelLog {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .ok()
            .and_then(|mut f| f.seek(SeekFrom::End(0)).ok().map(|_| f));
        KernelLog { file }
    }

    /// Every record logged since the last call (or since `watch`).
    pub fn new_lines(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        let Some(file) = self.file.as_mut() else {
            return lines;
        };
        let mut buf = vec![0u8; 8192];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    // "<prio>,<seq>,<usec>,<flags>;<text>\n< continuation lines>"
                    let text = rec.split_once(';').map_or(&*rec, |(_, t)| t);
                    if let Some(first) = text.lines().next() {
                        lines.push(first.to_string());
                    }
                }
                // EPIPE: records were overwritten before we read them; go on.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(_) => break,
            }
        }
        lines
    }

    /// The report lines logged since the last call.
    pub fn new_reports(&mut self) -> Vec<String> {
        self.new_lines()
            .into_iter()
            .filter(|l| REPORTS.iter().any(|r| l.contains(r)))
            .collect()
    }
}

/// Writes a line into the kernel log, so the console shows where each test starts.
pub fn mark(text: &str) {
    let program = std::env::args()
        .next()
        .and_then(|a| a.rsplit('/').next().map(str::to_string))
        .unwrap_or_default();
    if let Ok(mut f) = OpenOptions::new().write(true).open("/dev/kmsg") {
        use std::io::Write;
        let _ = writeln!(f, "{program}: {text}");
    }
}
