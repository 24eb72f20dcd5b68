// SPDX-License-Identifier: GPL-2.0

//! Vendor drivers: `mdev_register_driver()`, `mdev_unregister_driver()`, and calls
//! into a driver's callbacks.
//!
//! Which core locks are held when a vendor callback runs:
//! - `probe`: the parent's gate (read), and the mdev's device lock (driver core);
//!   called from `device_driver_attach()` during create, and from nowhere else: no
//!   driver matches an mdev, so the driver's `bind` file is refused (`ENODEV`).
//! - `remove`: the mdev's device lock, always; called from the driver core's unbind
//!   of the mdev, exactly once per successful `probe`. Also the parent's gate, for
//!   reading when a user removes the mdev, for writing when the parent unregisters
//!   (both through `device_del()`); not when a user writes the mdev's name to the
//!   driver's `unbind` file, which runs it under the device lock alone (see
//!   `bus.rs`). In every case the parent stays registered until it returns.
//! - `get_available`, `show_description`: none; called from sysfs reads.
//!
//! The list lock is never held across a vendor callback.

use kernel::bindings;
use kernel::ffi::c_char;
use kernel::ffi::c_int;
use kernel::ffi::c_uint;
use kernel::prelude::*;
use kernel::types::Opaque;

use crate::bus;
use crate::ffi;
use crate::parent::MdevType;
use crate::sysfs::ShowBuffer;

/// A registered vendor driver: the vendor's `struct mdev_driver`.
///
/// # Invariants
///
/// Registered with [`register`] (so `device_api` is set) and not unregistered yet.
#[repr(transparent)]
pub(crate) struct VendorDriver(Opaque<ffi::mdev_driver>);

impl VendorDriver {
    /// # Safety
    ///
    /// `ptr` must point to a registered driver that stays registered for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut ffi::mdev_driver) -> &'a VendorDriver {
        // SAFETY: Transparent wrapper; registered for `'a` (caller).
        unsafe { &*ptr.cast::<VendorDriver>() }
    }

    /// The driver of a device bound on the mdev bus.
    ///
    /// # Safety
    ///
    /// `drv` must be the `driver` field of a registered `mdev_driver`.
    pub(crate) unsafe fn from_device_driver<'a>(
        drv: *const bindings::device_driver,
    ) -> &'a VendorDriver {
        // SAFETY: `drv` is embedded in a registered `mdev_driver` (caller).
        unsafe {
            VendorDriver::from_raw(kernel::container_of!(
                drv.cast_mut(),
                ffi::mdev_driver,
                driver
            ))
        }
    }

    fn raw(&self) -> *mut ffi::mdev_driver {
        self.0.get()
    }

    /// The embedded `struct device_driver`.
    pub(crate) fn device_driver(&self) -> *mut bindings::device_driver {
        // SAFETY: Valid (type invariant).
        unsafe { &raw mut (*self.0.get()).driver }
    }

    /// The `device_api` string.
    pub(crate) fn device_api(&self) -> &CStr {
        // SAFETY: Non-null (checked by `register`), NUL-terminated, lives as long as
        // the driver; the field is read through a raw place (the driver core changes
        // other parts of the struct).
        unsafe { CStr::from_char_ptr((*self.raw()).device_api) }
    }

    /// The driver's callbacks, copied out of its struct.
    fn ops(&self) -> Ops {
        let d = self.raw();
        // SAFETY: Valid (type invariant); the vendor does not change its callbacks
        // while the driver is registered. Each field is read through a raw place (the
        // driver core changes other parts of the struct).
        unsafe {
            Ops {
                probe: (*d).probe,
                remove: (*d).remove,
                get_available: (*d).get_available,
                show_description: (*d).show_description,
            }
        }
    }

    pub(crate) fn has_get_available(&self) -> bool {
        self.ops().get_available.is_some()
    }

    pub(crate) fn has_description(&self) -> bool {
        self.ops().show_description.is_some()
    }

    /// The driver's count of available instances of `t`, when it keeps one.
    pub(crate) fn get_available(&self, t: &MdevType) -> Option<u32> {
        let f = self.ops().get_available?;
        // SAFETY: A registered driver's callback, called with a type of one of its
        // parents, as the header specifies.
        Some(unsafe { f(t.as_raw()) })
    }

    /// Lets the driver write the description of `t`.
    pub(crate) fn show_description(&self, t: &MdevType, out: &mut ShowBuffer<'_>) -> Result {
        let f = self.ops().show_description.ok_or(EIO)?;
        // SAFETY: A registered driver's callback, called with a type of one of its
        // parents (`t` is registered while it is borrowed). Its contract, as for a sysfs
        // `show` (the C core passes it sysfs's buffer), is to write at most
        // `PAGE_SIZE` bytes into `buf`: `out` is the page that sysfs gave this `show`
        // (`ShowBuffer`), borrowed mutably for the call. What it returns is checked
        // by `set_len_from_c` (clamped to the page, or an errno).
        let n = unsafe { f(t.as_raw(), out.as_mut_ptr()) };
        out.set_len_from_c(n)
    }

    /// Calls the driver's `probe` for `mdev`.
    ///
    /// # Safety
    ///
    /// `mdev` must be a live mdev that the driver core is binding to this driver, with
    /// its device lock held: the bus's `probe` is the only caller.
    pub(crate) unsafe fn probe(&self, mdev: *mut ffi::mdev_device) -> c_int {
        match self.ops().probe {
            // SAFETY: The vendor's contract: called for a live mdev being bound to its
            // driver, under the device lock (caller).
            Some(f) => unsafe { f(mdev) },
            None => 0,
        }
    }

    /// Calls the driver's `remove` for `mdev`.
    ///
    /// # Safety
    ///
    /// `mdev` must be a live mdev bound to this driver that the driver core is
    /// unbinding, with its device lock held: the bus's `remove` is the only caller,
    /// once per successful `probe`.
    pub(crate) unsafe fn remove(&self, mdev: *mut ffi::mdev_device) {
        if let Some(f) = self.ops().remove {
            // SAFETY: The vendor's contract: called once for a live mdev its `probe`
            // bound, being unbound, under the device lock (caller).
            unsafe { f(mdev) }
        }
    }
}

/// A vendor driver's callbacks (the function pointers of its `struct mdev_driver`).
#[derive(Clone, Copy)]
struct Ops {
    probe: Option<unsafe extern "C" fn(*mut ffi::mdev_device) -> c_int>,
    remove: Option<unsafe extern "C" fn(*mut ffi::mdev_device)>,
    get_available: Option<unsafe extern "C" fn(*mut ffi::mdev_type) -> c_uint>,
    show_description: Option<unsafe extern "C" fn(*mut ffi::mdev_type, *mut c_char) -> isize>,
}

/// Registers `drv` on the mdev bus: the ABI's `mdev_register_driver()`.
///
/// # Safety
///
/// `drv` must be a valid `mdev_driver` that is not registered.
pub(crate) unsafe fn register(drv: *mut ffi::mdev_driver) -> Result {
    // SAFETY: `drv` is valid for reads (caller); the field is read through a raw place.
    if unsafe { (*drv).device_api }.is_null() {
        return Err(EINVAL);
    }
    // SAFETY: `drv` is valid for writes and not registered (caller), so nothing else
    // reads its `driver` yet; the mdev bus is registered from the module's init to
    // its exit, and a vendor's module depends on this one, so it outlives the driver.
    unsafe { (*drv).driver.bus = bus::bus_type() };
    // SAFETY: `driver` is embedded in the vendor's `mdev_driver`, which stays valid
    // and in place until its `unregister` (the header's contract), and is not
    // registered (caller); its bus is set above.
    kernel::error::to_result(unsafe { bindings::driver_register(&raw mut (*drv).driver) })
}

/// Unregisters `drv`: the ABI's `mdev_unregister_driver()`.
///
/// # Safety
///
/// `drv` must be registered.
pub(crate) unsafe fn unregister(drv: *mut ffi::mdev_driver) {
    // SAFETY: Registered (caller).
    unsafe { bindings::driver_unregister(&raw mut (*drv).driver) };
}
