// SPDX-License-Identifier: GPL-2.0
//! Waiting for what a removed mdev held to come back.
//!
//! An mdev's UUID, and an instance the core counts, come back at the release of the
//! mdev's device (`mdev_device_release`, on both cores); the ports of `mtty` and
//! `mtty_rs` at the release of its VFIO device. A release runs at the last put: on the
//! test kernel before `remove` returns, on the debug kernel 1 to 4 s later per
//! kobject (`DEBUG_KOBJECT_RELEASE`; the VFIO device's comes before the mdev's).

use std::time::{Duration, Instant};

/// How long what a removed mdev held may take to come back once `remove` returned.
/// The limit is a deadlock detector, not a measured time: only a release that never
/// comes (a leaked reference, a hang) reaches it, and the test then fails on the
/// value.
pub const RELEASE_LIMIT: Duration = Duration::from_secs(60);

/// Reads a value that pending releases may still change (see [`RELEASE_LIMIT`])
/// until `done` accepts it or the limit has passed, and returns the last value read,
/// which the caller checks as exactly as without the wait. The one place where the
/// test programs wait for a release; on the test kernel it returns after the first
/// read.
pub fn after_release<T>(
    mut read: impl FnMut() -> Result<T, String>,
    done: impl Fn(&T) -> bool,
) -> Result<T, String> {
    let start = Instant::now();
    loop {
        let v = read()?;
        if done(&v) || start.elapsed() > RELEASE_LIMIT {
            return Ok(v);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
