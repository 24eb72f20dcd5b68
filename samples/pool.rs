// SPDX-License-Identifier: GPL-2.0

//! The pool of ports every mdev of the driver draws on.
//!
//! An mdev's ports are a [`PortLease`], kept in its VFIO device's data, so they go
//! back to the pool when that data is dropped: at the VFIO device's release, after
//! its last user has closed it, as the kernel's `mtty` gives them back in
//! `mtty_release_dev()`. A `remove` (or an unbind) written while a VMM holds the
//! device waits for it in the VFIO unregistration; until then the ports are still
//! in use, and `available_instances` does not count them.

use kernel::prelude::*;
use kernel::sync::atomic::Acquire;
use kernel::sync::atomic::Atomic;
use kernel::sync::atomic::Full;
use kernel::sync::Arc;

/// The ports not leased to an mdev.
pub(crate) struct PortPool {
    available: Atomic<u32>,
}

impl PortPool {
    /// A pool of `ports` ports.
    pub(crate) fn new(ports: u32) -> Result<Arc<PortPool>> {
        Ok(Arc::new(
            PortPool {
                available: Atomic::new(ports),
            },
            GFP_KERNEL,
        )?)
    }

    /// The ports not leased now.
    pub(crate) fn available(&self) -> u32 {
        self.available.load(Acquire)
    }

    /// Leases `ports` ports, or fails with `ENOSPC` without taking any: concurrent
    /// leases each see the pool as it is after the others.
    pub(crate) fn lease(self: &Arc<Self>, ports: u32) -> Result<PortLease> {
        let mut n = self.available.load(Acquire);
        loop {
            let left = n.checked_sub(ports).ok_or(ENOSPC)?;
            match self.available.cmpxchg(n, left, Full) {
                Ok(_) => break,
                // Another lease or return came first: retry with what it left.
                Err(now) => n = now,
            }
        }
        Ok(PortLease {
            pool: self.clone(),
            ports,
        })
    }
}

/// Ports taken from a [`PortPool`]; given back when dropped.
pub(crate) struct PortLease {
    pool: Arc<PortPool>,
    ports: u32,
}

impl PortLease {
    /// How many ports the lease holds.
    pub(crate) fn ports(&self) -> u32 {
        self.ports
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        // Pairs with the take in `PortPool::lease`.
        self.pool.available.fetch_add(self.ports, Full);
    }
}
