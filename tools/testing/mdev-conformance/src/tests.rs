// SPDX-License-Identifier: GPL-2.0
//! The tests, one file per area of the ABI.

mod create;
mod layout;
mod mdevctl;
mod remove;
mod uevents;
mod unregister;

use crate::fixture;
use crate::fixture::Vendor;
use crate::sysfs;
use crate::Test;

/// Every test, in the order they run.
pub fn all() -> Vec<Test> {
    let mut v = Vec::new();
    v.extend_from_slice(layout::TESTS);
    v.extend_from_slice(create::TESTS);
    v.extend_from_slice(remove::TESTS);
    v.extend_from_slice(unregister::TESTS);
    v.extend_from_slice(uevents::TESTS);
    v.extend_from_slice(mdevctl::TESTS);
    v
}

/// What a user can see of one parent: its mdevs and its counters.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    mdevs: Vec<String>,
    available: Vec<u64>,
    type_devices: Vec<Vec<String>>,
}

impl Snapshot {
    pub fn take(v: &Vendor) -> Result<Snapshot, String> {
        Ok(Snapshot {
            mdevs: fixture::live_mdevs(),
            available: v.available_all()?,
            type_devices: v
                .p
                .types
                .iter()
                .map(|t| sysfs::list(&v.type_dir(t).join("devices")))
                .collect(),
        })
    }

    /// Fails unless nothing changed since `self` was taken.
    pub fn unchanged(&self, v: &Vendor, what: &str) -> Result<(), String> {
        self.compare(Snapshot::take(v)?, what)
    }

    /// Fails unless the state is back to `self` once the releases of the mdevs
    /// removed since have run ([`fixture::after_release`]).
    pub fn restored(&self, v: &Vendor, what: &str) -> Result<(), String> {
        self.compare(
            mdev_testkit::release::after_release(|| Snapshot::take(v), |s| s == self)?,
            what,
        )
    }

    fn compare(&self, now: Snapshot, what: &str) -> Result<(), String> {
        if &now != self {
            return Err(format!(
                "{what} changed the state: before {self:?}, after {now:?}"
            ));
        }
        Ok(())
    }
}
