// SPDX-License-Identifier: GPL-2.0

//! mdev_rs: the mediated-device core, in Rust.
//!
//! A drop-in for `drivers/vfio/mdev`: it registers the `mdev` bus and the `mdev_bus`
//! compat class and exports the ABI of `include/linux/mdev.h`
//! (`mdev_register_parent`, `mdev_unregister_parent`, `mdev_register_driver`,
//! `mdev_unregister_driver`) over the header's own structs, so C vendor drivers work
//! on it unchanged. See `Documentation/design.rst` for the lifecycle, the gate and the
//! lock order.

mod bus;
mod device;
mod driver;
mod exports;
mod ffi;
mod kstrto;
mod parent;
mod registry;
mod rwsem;
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
