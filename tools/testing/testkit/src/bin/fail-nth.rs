// SPDX-License-Identifier: GPL-2.0
//! `fail-nth N OP ARGS...`: performs one system call with the N-th fault injection
//! point of this thread armed (`/proc/thread-self/fail-nth`, see the kernel's
//! `Documentation/fault-injection/fault-injection.rst`), for
//! `tools/testing/lib/fault-tests.sh`. Operations:
//!
//! - `write PATH TEXT`: one `write(2)` of TEXT to PATH (a sysfs attribute);
//! - `finit PATH [PARAMS]`: `finit_module(2)` of the module file PATH.
//!
//! The target is opened before the fault is armed, so that opening it does not count;
//! the fault is armed with one write to `fail-nth`, the system call follows at once,
//! and `fail-nth` is read back (0: the fault was injected) and disarmed. All of it in
//! one thread: `fail-nth` counts the injection points a task passes, and this program
//! starts none.
//!
//! Prints one line, `RESULT INJECTED`: RESULT is `OK` when the call succeeded
//! completely (a write of every byte, a module loaded), the errno's name when it
//! failed (`E<number>` for a name the testkit does not know), `SHORT:<n>` for a write
//! of fewer bytes; INJECTED is `yes` or `no`. Exits 0 when it got that far, 2 when
//! the set-up failed (the message is on stderr).
use std::ffi::CString;
use std::fs::File;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::process::exit;

use mdev_testkit::errno::Errno;

fn usage() -> ! {
    eprintln!("usage: fail-nth N write PATH TEXT | fail-nth N finit PATH [PARAMS]");
    exit(2)
}

fn die(what: &str, e: std::io::Error) -> ! {
    eprintln!("fail-nth: {what}: {e}");
    exit(2)
}

/// The operation, with its target already open.
enum Op {
    Write(File, Vec<u8>),
    Finit(File, CString),
}

impl Op {
    /// Performs the system call; `Ok(())` when it did all of its work.
    fn run(&mut self) -> Result<(), String> {
        match self {
            Op::Write(f, text) => {
                // One write(2), not write_all: a short write is a result of its own.
                // SAFETY: `text` is a live buffer of `text.len()` bytes.
                let n = unsafe { libc::write(f.as_raw_fd(), text.as_ptr().cast(), text.len()) };
                match usize::try_from(n) {
                    Ok(n) if n == text.len() => Ok(()),
                    Ok(n) => Err(format!("SHORT:{n}")),
                    Err(_) => Err(name(Errno::last())),
                }
            }
            Op::Finit(f, params) => {
                // SAFETY: finit_module(fd, params, flags): an open module file, a
                // NUL-terminated parameter string that outlives the call, no flags.
                let r = unsafe {
                    libc::syscall(libc::SYS_finit_module, f.as_raw_fd(), params.as_ptr(), 0)
                };
                if r == 0 {
                    Ok(())
                } else {
                    Err(name(Errno::last()))
                }
            }
        }
    }
}

fn name(e: Errno) -> String {
    match e.name() {
        "E?" => format!("E{}", e.0),
        n => n.to_string(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        usage();
    }
    let nth: u32 = args[1].parse().unwrap_or_else(|_| usage());
    if nth == 0 {
        usage();
    }
    let mut op = match (args[2].as_str(), args.len()) {
        ("write", 5) => {
            let f = OpenOptions::new()
                .write(true)
                .open(&args[3])
                .unwrap_or_else(|e| die(&args[3], e));
            Op::Write(f, args[4].clone().into_bytes())
        }
        ("finit", 4 | 5) => {
            let f = File::open(&args[3]).unwrap_or_else(|e| die(&args[3], e));
            let params =
                CString::new(args.get(4).cloned().unwrap_or_default()).unwrap_or_else(|_| usage());
            Op::Finit(f, params)
        }
        _ => usage(),
    };
    let mut ctl = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/proc/thread-self/fail-nth")
        .unwrap_or_else(|e| die("/proc/thread-self/fail-nth", e));

    // Arm, call, read back: nothing else in between.
    ctl.write_all(nth.to_string().as_bytes())
        .unwrap_or_else(|e| die("arming fail-nth", e));
    let result = op.run();
    // The file has no llseek: read it back with pread(2), as the kernel's example
    // does.
    let mut buf = [0u8; 16];
    let read = ctl.read_at(&mut buf, 0);
    // Disarm before anything else can reach an injection point.
    let disarmed = ctl.write_all(b"0");
    let n = read.unwrap_or_else(|e| die("reading fail-nth", e));
    disarmed.unwrap_or_else(|e| die("disarming fail-nth", e));
    let text = String::from_utf8_lossy(&buf[..n]);
    let left: u32 = text.trim().parse().unwrap_or_else(|_| {
        eprintln!("fail-nth: unexpected fail-nth value {text:?}");
        exit(2)
    });
    println!(
        "{} {}",
        result.err().unwrap_or_else(|| "OK".to_string()),
        if left == 0 { "yes" } else { "no" }
    );
}
