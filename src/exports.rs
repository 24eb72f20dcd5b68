// SPDX-License-Identifier: GPL-2.0

//! The ABI of `include/linux/mdev.h`, exported by `mdev_exports.c`.
//!
//! Each function is checked at compile time to have exactly the type of the
//! header's prototype (as bindgen read it), so a C vendor driver calls what it was
//! compiled against.

use kernel::bindings;
use kernel::ffi::c_int;
use kernel::ffi::c_uint;

use crate::driver;
use crate::ffi;
use crate::parent;

/// `int mdev_register_parent(struct mdev_parent *parent, struct device *dev,
/// struct mdev_driver *mdev_driver, struct mdev_type **types, unsigned int nr_types)`
///
/// # Safety
///
/// The header's contract, see [`parent::register`].
#[no_mangle]
pub(crate) unsafe extern "C" fn mdev_register_parent(
    parent: *mut ffi::mdev_parent,
    dev: *mut bindings::device,
    mdev_driver: *mut ffi::mdev_driver,
    types: *mut *mut ffi::mdev_type,
    nr_types: c_uint,
) -> c_int {
    // SAFETY: Forwarded from the caller.
    match unsafe { parent::register(parent, dev, mdev_driver, types, nr_types) } {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `void mdev_unregister_parent(struct mdev_parent *parent)`
///
/// # Safety
///
/// `parent` must be registered; see [`parent::unregister`].
#[no_mangle]
pub(crate) unsafe extern "C" fn mdev_unregister_parent(parent: *mut ffi::mdev_parent) {
    // SAFETY: Forwarded from the caller.
    unsafe { parent::unregister(parent) }
}

/// `int mdev_register_driver(struct mdev_driver *drv)`
///
/// # Safety
///
/// `drv` must be a valid, unregistered `mdev_driver`.
#[no_mangle]
pub(crate) unsafe extern "C" fn mdev_register_driver(drv: *mut ffi::mdev_driver) -> c_int {
    // SAFETY: Forwarded from the caller.
    match unsafe { driver::register(drv) } {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `void mdev_unregister_driver(struct mdev_driver *drv)`
///
/// # Safety
///
/// `drv` must be registered.
#[no_mangle]
pub(crate) unsafe extern "C" fn mdev_unregister_driver(drv: *mut ffi::mdev_driver) {
    // SAFETY: Forwarded from the caller.
    unsafe { driver::unregister(drv) }
}

// The exported functions have the header's types: bindgen's declarations of them and
// the definitions above must be interchangeable.
const _: [unsafe extern "C" fn(
    *mut ffi::mdev_parent,
    *mut bindings::device,
    *mut ffi::mdev_driver,
    *mut *mut ffi::mdev_type,
    c_uint,
) -> c_int; 2] = [ffi::mdev_register_parent, mdev_register_parent];
const _: [unsafe extern "C" fn(*mut ffi::mdev_parent); 2] =
    [ffi::mdev_unregister_parent, mdev_unregister_parent];
const _: [unsafe extern "C" fn(*mut ffi::mdev_driver) -> c_int; 2] =
    [ffi::mdev_register_driver, mdev_register_driver];
const _: [unsafe extern "C" fn(*mut ffi::mdev_driver); 2] =
    [ffi::mdev_unregister_driver, mdev_unregister_driver];
