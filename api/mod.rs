// SPDX-License-Identifier: GPL-2.0

//! The safe Rust API for mdev vendor drivers: [`mdev`] (the vendor side of
//! `include/linux/mdev.h`), [`vfio`] (an emulated VFIO device per mdev) and [`sysfs`]
//! (the attribute framework, the core's too), with the bindings of the two headers
//! they are built on.
//!
//! A 7.3 module cannot import Rust items from another module, so a vendor crate
//! compiles this directory as one of its modules, the way the kernel tree would have
//! it as `kernel::{mdev, vfio}`:
//!
//! ```ignore
//! #[path = "../api/mod.rs"]
//! mod api;
//! use api::mdev;
//! use api::sysfs;
//! use api::vfio;
//! ```
//!
//! `sysfs` is imported at the crate root because `sysfs::sysfs_groups!` names its items
//! as `$crate::sysfs::...`. A driver that leaves parts of the API unused (no VFIO
//! device, no attributes) puts `#[allow(unused)]` on `mod api` (`samples/tiny_rs.rs`).
//!
//! The vendor's Kbuild includes `api/vendor.mk`, which generates the bindings into the
//! module's directory and tells this file where they are (`MDEV_API_OBJ`):
//!
//! ```text
//! obj-m += mtty_rs.o
//! include $(srcroot)/api/vendor.mk
//! $(obj)/mtty_rs.o: $(mdev_api_generated)
//! ```
//!
//! The vendor is built from inside this repository: `api/vendor.mk` and the bindings'
//! makefiles it includes are found through `$(srcroot)`.
//!
//! `api/vfio.rs` also uses `crate::LocalModule`, which the `module!` macro defines.

pub(crate) mod mdev;
#[path = "../lib/sysfs.rs"]
#[expect(dead_code)] // A vendor uses only the device-attribute part of the framework.
pub(crate) mod sysfs;
pub(crate) mod vfio;

/// The bindgen output of `mdev_bindings.mk` and `vfio_bindings.mk`, from the headers
/// themselves, so that no layout can drift from what C is compiled against. Only the
/// API names these items.
#[allow(
    dead_code,
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    unreachable_pub,
    missing_docs,
    improper_ctypes,
    unsafe_op_in_unsafe_fn,
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    clippy::cast_lossless,
    clippy::ptr_as_ptr,
    clippy::ref_as_ptr,
    clippy::unnecessary_cast
)]
mod bindings {
    /// `include/linux/mdev.h`: `mdev_*`.
    pub(super) mod mdev {
        // Types the kernel crate binds already (struct device, ...) are reused from it.
        #[allow(unused_imports)]
        use kernel::bindings::*;
        use kernel::ffi;
        // The generated structs are `Zeroable` when all their fields are, as the kernel
        // crate's are (rust/bindgen_parameters).
        use pin_init::MaybeZeroable;
        include!(concat!(env!("MDEV_API_OBJ"), "/mdev_bindings_generated.rs"));
    }

    /// `include/linux/vfio.h` and what the VFIO layer calls: `vfio_*`, `VFIO_*`,
    /// `eventfd_*`, `anon_inode_getfile`.
    pub(super) mod vfio {
        #[allow(unused_imports)]
        use kernel::bindings::*;
        use kernel::ffi;
        use pin_init::MaybeZeroable;
        include!(concat!(env!("MDEV_API_OBJ"), "/vfio_bindings_generated.rs"));
    }
}
