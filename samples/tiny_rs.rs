// SPDX-License-Identifier: GPL-2.0

//! tiny_rs: the smallest vendor driver of the API: one type, instances counted by the
//! core, no VFIO device, no attributes.

use kernel::device::Core;
use kernel::prelude::*;

#[path = "../api/mod.rs"]
#[allow(unused)] // No VFIO device, no vendor attributes.
mod api;
use api::mdev;

module! {
    type: TinyModule,
    name: "tiny_rs",
    authors: ["The mdev-rs developers"],
    description: "Smallest Rust mdev vendor driver",
    license: "GPL v2",
}

struct Tiny;

#[vtable]
impl mdev::Driver for Tiny {
    type TypeInfo = ();
    type Data = ();

    const NAME: &'static CStr = c"tiny_rs";
    const DEVICE_API: &'static CStr = c"vfio-pci";
    const MAX_INSTANCES: u32 = 2;
    const TYPES: &'static [mdev::TypeSpec<()>] = &[mdev::TypeSpec {
        sysfs_name: c"1",
        pretty_name: c"Tiny",
        info: (),
    }];

    fn probe(&self, _mdev: &mdev::Device<Core<'_>>, _info: &()) -> impl PinInit<(), Error> {
        Ok(())
    }
}

struct TinyModule {
    _registration: mdev::Registration<Tiny>,
}

impl kernel::Module for TinyModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        Ok(TinyModule {
            _registration: mdev::Registration::new(Tiny, module)?,
        })
    }
}
