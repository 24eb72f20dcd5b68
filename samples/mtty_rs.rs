// SPDX-License-Identifier: GPL-2.0

//! mtty_rs: a Rust mediated-device vendor driver in the spirit of the kernel's
//! `samples/vfio-mdev/mtty.c`, written with the safe vendor API of `api/mdev.rs`.
//!
//! It registers a parent named `mtty_rs` with two types, single-port (`mtty_rs-1`)
//! and dual-port (`mtty_rs-2`) serial, that share a pool of ports (24 by default, the
//! `ports` module parameter sets it): an mdev takes its type's ports when it is
//! created and gives them back when it is removed, so `available_instances` of each
//! type is the pool divided by its ports per device.

use core::sync::atomic::AtomicU32;
use core::sync::atomic::Ordering;

use kernel::prelude::*;

#[allow(
    dead_code,
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    unreachable_pub,
    missing_docs,
    improper_ctypes,
    clippy::all,
    clippy::undocumented_unsafe_blocks
)]
mod mdev_bindings {
    #[allow(unused_imports)]
    use kernel::bindings::*;
    use kernel::ffi;
    include!("mdev_bindings_generated.rs");
}

#[path = "../api/mdev.rs"]
mod mdev;

module! {
    type: MttyRsModule,
    name: "mtty_rs",
    authors: ["The mdev-rs developers"],
    description: "Rust mtty-style mediated device sample",
    license: "GPL v2",
    params: {
        ports: u32 {
            default: 24,
            description: "Serial ports shared by all mdevs (a single-port mdev takes 1, a dual-port one 2)",
        },
    },
}

/// Ports per mdev, by type index.
const PORTS_PER_TYPE: [u32; 2] = [1, 2];

/// The driver: the pool of ports.
struct Mtty {
    available_ports: AtomicU32,
}

/// What the driver keeps per mdev.
struct MttyDevice {
    ports: u32,
}

#[vtable]
impl mdev::Driver for Mtty {
    type Data = MttyDevice;

    const NAME: &'static CStr = c"mtty_rs";
    const DEVICE_API: &'static CStr = c"vfio-pci";
    const TYPES: &'static [mdev::TypeSpec] = &[
        mdev::TypeSpec {
            sysfs_name: c"1",
            pretty_name: c"Single port serial",
        },
        mdev::TypeSpec {
            sysfs_name: c"2",
            pretty_name: c"Dual port serial",
        },
    ];

    fn probe(&self, _mdev: &mdev::Device, ty: usize) -> Result<KBox<MttyDevice>> {
        let ports = *PORTS_PER_TYPE.get(ty).ok_or(EINVAL)?;
        // Take the ports, or fail without taking any: concurrent probes each see the
        // pool as it is after the others.
        self.available_ports
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                n.checked_sub(ports)
            })
            .map_err(|_| ENOSPC)?;
        match KBox::new(MttyDevice { ports }, GFP_KERNEL) {
            Ok(data) => Ok(data),
            Err(e) => {
                self.available_ports.fetch_add(ports, Ordering::AcqRel);
                Err(e.into())
            }
        }
    }

    fn remove(&self, _mdev: &mdev::Device, data: KBox<MttyDevice>) {
        self.available_ports.fetch_add(data.ports, Ordering::AcqRel);
    }

    fn get_available(&self, ty: usize) -> u32 {
        let per = PORTS_PER_TYPE.get(ty).copied().unwrap_or(u32::MAX);
        self.available_ports.load(Ordering::Acquire) / per
    }
}

struct MttyRsModule {
    _registration: mdev::Registration<Mtty>,
}

impl kernel::Module for MttyRsModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let mtty = Mtty {
            available_ports: AtomicU32::new(module_parameters::ports.value()),
        };
        Ok(MttyRsModule {
            _registration: mdev::Registration::new(mtty, module)?,
        })
    }
}
