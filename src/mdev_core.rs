// SPDX-License-Identifier: GPL-2.0

//! mdev_rs: the mediated-device core, in Rust.
//!
//! A drop-in for `drivers/vfio/mdev`: it registers the `mdev` bus and the `mdev_bus`
//! compat class and exports the ABI of `include/linux/mdev.h`
//! (`mdev_register_parent`, `mdev_unregister_parent`, `mdev_register_driver`,
//! `mdev_unregister_driver`) over the header's own structs, so C vendor drivers work
//! on it unchanged. See `Documentation/design.rst` for the lifecycle, the gate and the
//! lock order.
//!
//! # Lock order
//!
//! Outermost first; `->` means "taken while holding", as in `mm/rmap.c`'s tree (the
//! same order as the tables of `Documentation/design.rst`, "Lock order"):
//!
//! ```text
//! kernfs active reference of a sysfs file (a type's create, an mdev's remove)
//!   -> parent gate, entered: read-trylock only    (gate.rs, Entered; ENODEV if closed)
//!     -> mdev device lock                         (device_driver_attach, device_del,
//!                                                  Linked::announce)
//!       -> vendor locks                           (probe, remove)
//! parent gate, closed: write                      (gate.rs, Closed; unregistration
//!                                                  and a failed registration's rollback)
//!   -> kernfs active references of the children's files (device_del drains them)
//!     -> mdev device lock -> vendor locks         (remove)
//! kernfs active reference of a driver's unbind file
//!   -> mdev device lock -> vendor locks           (remove; no gate, see bus.rs)
//! list lock (registry.rs)                         leaf: taken alone, never across a
//!                                                 vendor callback
//! ```
//!
//! The gate is only entered by trylock below a kernfs active reference: that is what
//! keeps unregistration (gate closed, then draining the files) from deadlocking
//! against a user's write (file, then gate). `teardown::wait` sleeps with no core
//! lock held. Lockdep checks the gate and the device lock where the order matters
//! (the bus's `probe` and `remove`, `Linked`'s drop, `remove_all_children`).

mod bus;
mod device;
mod driver;
mod exports;
mod ffi;
mod gate;
mod kstrto;
mod parent;
mod registry;
#[path = "../lib/sysfs.rs"]
mod sysfs;
mod teardown;
mod uuid;

use kernel::prelude::*;

module! {
    type: MdevCore,
    name: "mdev_rs",
    authors: ["The mdev-rs developers"],
    description: "Mediated device core (Rust)",
    license: "GPL v2",
}

/// The module: the bus and the compat class, unregistered when it is unloaded.
struct MdevCore {
    _class: bus::CompatClass,
    _bus: bus::BusRegistration,
}

impl kernel::Module for MdevCore {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        registry::init();
        let bus = bus::BusRegistration::new()?;
        let class = bus::CompatClass::new()?;
        Ok(MdevCore {
            _class: class,
            _bus: bus,
        })
    }
}
