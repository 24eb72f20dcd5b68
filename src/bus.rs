// SPDX-License-Identifier: GPL-2.0

//! The `mdev` bus and the `mdev_bus` compat class.
//!
//! No driver matches an mdev on its own: a vendor's driver is bound explicitly with
//! `device_driver_attach()` when the mdev is created, so `match` always says no. So
//! the vendor's `probe` runs only from a create, under the parent's gate; `bind` and
//! `drivers_probe` of the driver core find no match (`bind` fails with `ENODEV`), as
//! on the C core.
//!
//! The vendor's `remove` runs from the driver core's unbind of the mdev. Its callers:
//! the mdev's removal, a create that fails after the probe, the parent's
//! unregistration and a failed registration's rollback (all in `device_del()`, under
//! the parent's gate, for reading or for writing); a write of the mdev's name to
//! `/sys/bus/mdev/drivers/<driver>/unbind` (`unbind_store()`,
//! `device_driver_detach()`), which holds only the mdev's device lock; and
//! `mdev_unregister_driver()` with mdevs still bound (`driver_detach()`, no gate
//! either: a vendor that unregisters its driver before its parents breaks the
//! contract, but the argument below still holds). The gate cannot
//! be taken there: the unregistration holds it for writing while `device_del()` takes
//! each child's device lock, so a read in the unbind, under that device lock, would
//! deadlock, and a try-lock could not refuse (the bus's `remove` cannot fail). It is
//! not needed either: every path that ends the mdev or its parent takes the mdev's
//! device lock in `device_del()` first, and so waits for an unbind's `remove` to
//! return, and then finds the mdev unbound. See `Documentation/design.rst`, "Unbind".

use core::ptr::NonNull;

use kernel::bindings;
use kernel::device::Device;
use kernel::ffi::c_int;
use kernel::prelude::*;
use kernel::str::as_char_ptr_in_const_context;
use kernel::sync::atomic::Acquire;
use kernel::sync::atomic::Atomic;
use kernel::sync::atomic::Full;
use kernel::sync::atomic::Release;

use crate::device;
use crate::driver::VendorDriver;
use crate::ffi;

/// The bus type, in a wrapper that lets it be a static.
#[repr(transparent)]
struct BusType(bindings::bus_type);

// SAFETY: The driver core synchronises its own use of a registered bus type; the
// struct itself is never changed after registration.
unsafe impl Sync for BusType {}

static MDEV_BUS: BusType = BusType({
    let mut b: bindings::bus_type = pin_init::zeroed();
    b.name = as_char_ptr_in_const_context(c"mdev");
    b.probe = Some(mdev_probe);
    b.remove = Some(mdev_remove);
    b.match_ = Some(mdev_match);
    b
});

/// The mdev bus, for `device::bus` and `device_driver::bus`.
pub(crate) fn bus_type() -> *const bindings::bus_type {
    &MDEV_BUS.0
}

/// Whether `dev` is on the mdev bus.
///
/// # Safety
///
/// `dev` must be a live device.
pub(crate) unsafe fn is_mdev(dev: *mut bindings::device) -> bool {
    // SAFETY: `dev` is live (caller).
    core::ptr::eq(unsafe { (*dev).bus }, bus_type())
}

/// The bus's `probe`: calls the vendor driver's `probe`.
///
/// # Safety
///
/// Called by the driver core with a device of this bus being bound to a driver.
unsafe extern "C" fn mdev_probe(dev: *mut bindings::device) -> c_int {
    // SAFETY: The driver core probes with the device lock held, `dev` is live.
    unsafe { crate::driver_model::assert_device_locked(dev) };
    // Only a create probes (`mdev_match` refuses every driver), holding the gate.
    // SAFETY: A device of this bus is an mdev. The driver core probes it only while it
    // is registered and with its device lock held, so its parent's unregistration,
    // which deletes it (taking that lock) before it can end, has not ended.
    unsafe { device::parent_of(dev) }.gate().assert_held();
    // SAFETY: The driver core calls probe with a device on this bus being bound to a
    // driver of this bus, and every driver of this bus is an `mdev_driver`.
    let drv = unsafe { VendorDriver::from_device_driver((*dev).driver) };
    // SAFETY: The driver core is binding `dev`, an mdev, to `drv`, under its device
    // lock (asserted above).
    unsafe { drv.probe(kernel::container_of!(dev, ffi::mdev_device, dev)) }
}

/// The bus's `remove`: calls the vendor driver's `remove`.
///
/// # Safety
///
/// Called by the driver core with a device of this bus bound to a driver.
unsafe extern "C" fn mdev_remove(dev: *mut bindings::device) {
    // The device lock is the only core lock held on every path (see the module
    // documentation): the gate is not held in an unbind through the driver's file.
    // SAFETY: `dev` is live.
    unsafe { crate::driver_model::assert_device_locked(dev) };
    // SAFETY: As in `mdev_probe`, for a device bound to a driver of this bus.
    let drv = unsafe { VendorDriver::from_device_driver((*dev).driver) };
    // SAFETY: The driver core is unbinding `dev`, an mdev bound to `drv` by a
    // successful probe, under its device lock (asserted above); it does so once.
    unsafe { drv.remove(kernel::container_of!(dev, ffi::mdev_device, dev)) };
}

/// The bus's `match`: no driver binds on its own.
///
/// # Safety
///
/// Called by the driver core; the arguments are not used.
unsafe extern "C" fn mdev_match(
    _dev: *mut bindings::device,
    _drv: *const bindings::device_driver,
) -> c_int {
    0
}

/// The registered bus; unregistered when dropped.
pub(crate) struct BusRegistration(());

impl BusRegistration {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: `MDEV_BUS` is a valid bus type with static lifetime.
        kernel::error::to_result(unsafe { bindings::bus_register(bus_type()) })?;
        Ok(BusRegistration(()))
    }
}

impl Drop for BusRegistration {
    fn drop(&mut self) {
        // SAFETY: Registered in `new`. No device or driver is left on the bus: every
        // vendor module that registered one depends on this module, so it was
        // unloaded (and unregistered them) before this one could be.
        unsafe { bindings::bus_unregister(bus_type()) };
    }
}

static COMPAT_CLASS: Atomic<*mut bindings::class_compat> = Atomic::new(core::ptr::null_mut());

/// The `mdev_bus` compat class, for `class_compat_{create,remove}_link`.
pub(crate) fn compat_class() -> *mut bindings::class_compat {
    COMPAT_CLASS.load(Acquire)
}

/// The registered `mdev_bus` compat class (`/sys/class/mdev_bus`); unregistered when
/// dropped.
pub(crate) struct CompatClass(());

impl CompatClass {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: The name is a static NUL-terminated string.
        let cls = unsafe { bindings::class_compat_register(c"mdev_bus".as_char_ptr()) };
        if cls.is_null() {
            return Err(ENOMEM);
        }
        COMPAT_CLASS.store(cls, Release);
        Ok(CompatClass(()))
    }
}

impl Drop for CompatClass {
    fn drop(&mut self) {
        let cls = COMPAT_CLASS.xchg(core::ptr::null_mut(), Full);
        // SAFETY: Registered in `new`; no parent is left (as for the bus).
        unsafe { bindings::class_compat_unregister(cls) };
    }
}

/// The link `/sys/class/mdev_bus/<parent>` of a registered parent
/// (`class_compat_create_link()`), removed when dropped.
///
/// # Invariants
///
/// The link of the device `self.0` exists; the device stays live until the link is
/// removed. The compat class is registered while a parent is (the module's init and
/// exit order).
pub(crate) struct CompatLink(NonNull<bindings::device>);

impl CompatLink {
    /// Makes the link of `dev`.
    ///
    /// # Safety
    ///
    /// `dev` stays live until the link is dropped (a parent device outlives its
    /// registration: the header's contract).
    pub(crate) unsafe fn create(dev: &Device) -> Result<Self> {
        // SAFETY: The class is registered; `dev` is live.
        kernel::error::to_result(unsafe {
            bindings::class_compat_create_link(compat_class(), crate::driver_model::device_raw(dev))
        })?;
        // INVARIANT: Made just now; `dev` outlives it (caller).
        Ok(CompatLink(NonNull::from(dev).cast()))
    }
}

// SAFETY: `class_compat_remove_link()` may be called from any thread, and the device
// stays live until the link is removed wherever it is dropped (type invariant).
unsafe impl Send for CompatLink {}

impl Drop for CompatLink {
    fn drop(&mut self) {
        // SAFETY: The link exists and the device is live (type invariant).
        unsafe { bindings::class_compat_remove_link(compat_class(), self.0.as_ptr()) };
    }
}
