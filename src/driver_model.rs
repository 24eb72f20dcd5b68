// SPDX-License-Identifier: GPL-2.0

//! The driver-model objects a parent's registration makes, one owning type each.
//!
//! In the style of `rust/kernel/faux.rs` and `auxiliary.rs`'s `Registration`: a value
//! of each type owns exactly one C object (or one reference to it), and dropping it
//! undoes what made it:
//!
//! | type          | made by                                  | dropped by             |
//! |---------------|------------------------------------------|------------------------|
//! | [`Kset`]      | `kset_create_and_add()`                  | `kset_unregister()`    |
//! | [`Kobject`]   | `kobject_init_and_add()` of an embedded  | `kobject_del()`,       |
//! |               | kobject with a [`KobjType`]              | `kobject_put()`        |
//! | [`KobjectDir`]| `kobject_create_and_add()`               | `kobject_put()`        |
//! | [`SysfsLink`] | `sysfs_create_link()`                    | `sysfs_remove_link()`  |
//!
//! | [`UnaddedDevice`] | `device_initialize()` of an embedded  | `put_device()`         |
//! |               | device                                   |                        |
//! | [`AddedDevice`] | `device_add()` of an [`UnaddedDevice`] | `device_del()`,        |
//! |               |                                          | `put_device()`         |
//! | [`DeviceLock`]| `device_lock()`                          | `device_unlock()`      |
//!
//! and [`uevent_change`] sends `KOBJ_CHANGE` with one variable on a device
//! (`kobject_uevent_env()`).
//!
//! Between the two calls of the ABI that make and unmake them, the values are kept
//! by the core itself: a parent's in its teardown entry (`teardown.rs`), an active
//! mdev's in its registry slot (`registry.rs`). The header's fields that point to the
//! objects (`mdev_parent.mdev_types_kset`, `mdev_type.devices_kobj`) are copies, for
//! C readers; no value is forgotten and rebuilt from a pointer.
//!
//! Every type is `Send`: the kobject, sysfs and device calls are not tied to a thread,
//! and the values move between the thread that makes them and the one that unmakes
//! them (a create and a remove, a registration and its unregistration).

use core::ptr::NonNull;

use kernel::bindings;
use kernel::device::Device;
use kernel::ffi::c_char;
use kernel::ffi::c_int;
use kernel::prelude::*;

use crate::sysfs::Groups;
use crate::sysfs::KobjType;
use crate::sysfs::KobjectObject;
use crate::sysfs::OfDevice;

// The C helpers of `mdev_exports.c` for the device's static inlines and macros, all
// declared here. `struct device` contains a zero-sized struct on some configurations
// (`its_array` here), which the lint reports although C passes only the pointer:
// hence `allow`, not `expect`.
#[allow(improper_ctypes)]
extern "C" {
    fn mdev_rs_device_lock(dev: *mut bindings::device);
    fn mdev_rs_device_unlock(dev: *mut bindings::device);
    fn mdev_rs_dev_set_uevent_suppress(dev: *mut bindings::device, val: c_int);
    fn mdev_rs_device_lock_assert(dev: *mut bindings::device);
}

/// Lockdep: the device lock of `dev` is held (`device_lock_assert()`).
///
/// # Safety
///
/// `dev` is a live device.
pub(crate) unsafe fn assert_device_locked(dev: *mut bindings::device) {
    // SAFETY: `dev` is live (caller); the C helper only asserts.
    unsafe { mdev_rs_device_lock_assert(dev) };
}

/// The C device of `dev` (`Device::as_raw()` is private to the kernel crate).
pub(crate) fn device_raw(dev: &Device) -> *mut bindings::device {
    // `Device` is a transparent wrapper of `Opaque<struct device>`, itself of the C
    // struct.
    core::ptr::from_ref(dev)
        .cast::<bindings::device>()
        .cast_mut()
}

/// A kset made by `kset_create_and_add()`.
///
/// # Invariants
///
/// `self.0` was returned by `kset_create_and_add()` and is not unregistered; this
/// value owns that registration.
pub(crate) struct Kset(NonNull<bindings::kset>);

impl Kset {
    /// Creates the kset `name` in the directory of `parent` (`kset_create_and_add()`,
    /// which sends its `add` uevent). `ENOMEM` if it fails, as the C core returns.
    pub(crate) fn create_and_add(name: &CStr, parent: &Device) -> Result<Self> {
        // SAFETY: `name` is copied by the call; the parent's kobject is live while
        // `parent` is, and the kset takes a reference to it.
        let kset = unsafe {
            bindings::kset_create_and_add(
                name.as_char_ptr(),
                core::ptr::null(),
                &raw mut (*device_raw(parent)).kobj,
            )
        };
        // INVARIANT: Made just now; the registration is this value's.
        Ok(Kset(NonNull::new(kset).ok_or(ENOMEM)?))
    }

    pub(crate) fn as_raw(&self) -> *mut bindings::kset {
        self.0.as_ptr()
    }
}

// SAFETY: `kset_unregister()` may be called from any thread; the value exposes only the
// pointer.
unsafe impl Send for Kset {}

impl Drop for Kset {
    fn drop(&mut self) {
        // SAFETY: Registered and owned by this value (type invariant).
        unsafe { bindings::kset_unregister(self.as_raw()) };
    }
}

/// The kobject embedded in a `T` (at `T::KOBJ_OFFSET`), initialised with a
/// [`KobjType<T>`] and added to sysfs, with the attributes of that type.
///
/// # Invariants
///
/// The kobject of `*self.0` is added, and this value owns the reference its
/// initialisation gave. The `T` is valid until the kobject's release runs
/// ([`Kobject::init_and_add`]'s contract).
pub(crate) struct Kobject<T: KobjectObject>(NonNull<T>);

impl<T: KobjectObject> Kobject<T> {
    fn kobj_of(obj: NonNull<T>) -> *mut bindings::kobject {
        // `KOBJ_OFFSET` is the offset of the kobject in `T` (`KobjectObject`).
        obj.as_ptr()
            .wrapping_byte_add(T::KOBJ_OFFSET)
            .cast::<bindings::kobject>()
    }

    /// Initialises the kobject of `obj` with `ktype`, in `kset`, and adds it as
    /// `name` in the kset's directory (`kobject_init_and_add()`). The kobject is
    /// first cleared, as the header's zero-initialised structs have it: a kobject
    /// registered again after its release still holds its old name and state.
    ///
    /// On failure the reference is put, so `ktype`'s release runs (now, or later
    /// under `DEBUG_KOBJECT_RELEASE`) on every path.
    ///
    /// # Safety
    ///
    /// - `obj` points to a `T` whose kobject is not in use: never initialised, or
    ///   its release has run.
    /// - The `T` stays valid until the kobject's release runs, and is valid for
    ///   [`KobjectObject::is_visible`] now (`kobject_add()` calls it).
    /// - No other attributes are ever added to the kobject ([`KobjType::as_raw`]).
    pub(crate) unsafe fn init_and_add(
        obj: NonNull<T>,
        ktype: &'static KobjType<T>,
        kset: &Kset,
        name: &CStr,
    ) -> Result<Self> {
        let kobj = Self::kobj_of(obj);
        // SAFETY: The kobject is not in use and valid (caller); the kset is
        // registered while `kset` is, and the kobject takes a reference to it.
        unsafe {
            core::ptr::write_bytes(kobj, 0, 1);
            (*kobj).kset = kset.as_raw();
        }
        // SAFETY: `kobj` is the kobject at `KOBJ_OFFSET` of the valid `T` `obj`, with
        // no other attributes; the `T` is valid for `is_visible` (caller). `name` is
        // formatted by `%s` into the kobject's own storage.
        let ret = unsafe {
            bindings::kobject_init_and_add(
                kobj,
                ktype.as_raw(),
                core::ptr::null_mut(),
                c"%s".as_char_ptr(),
                name.as_char_ptr(),
            )
        };
        if ret != 0 {
            // SAFETY: `kobject_init_and_add()` holds the reference of its
            // initialisation even when the add fails.
            unsafe { bindings::kobject_put(kobj) };
            return Err(Error::from_errno(ret));
        }
        // INVARIANT: Added just now, with the reference of its initialisation.
        Ok(Kobject(obj))
    }

    /// The C kobject, for the kobject calls of the other types here.
    pub(crate) fn as_raw(&self) -> *mut bindings::kobject {
        Self::kobj_of(self.0)
    }
}

// SAFETY: `kobject_del()` and `kobject_put()` may be called from any thread; the value
// gives no access to the `T`.
unsafe impl<T: KobjectObject> Send for Kobject<T> {}

impl<T: KobjectObject> Drop for Kobject<T> {
    fn drop(&mut self) {
        let kobj = self.as_raw();
        // SAFETY: Added, holding the initial reference (type invariant). The
        // `kobject_del()` drains the attributes in use; the put may run the release
        // (now, or later under `DEBUG_KOBJECT_RELEASE`).
        unsafe {
            bindings::kobject_del(kobj);
            bindings::kobject_put(kobj);
        }
    }
}

/// A plain directory: a kobject made by `kobject_create_and_add()`.
///
/// # Invariants
///
/// `self.0` was returned by `kobject_create_and_add()`; this value owns the reference
/// it gave.
pub(crate) struct KobjectDir(NonNull<bindings::kobject>);

impl KobjectDir {
    /// Makes the directory `name` in the directory of `parent`. `ENOMEM` if it fails,
    /// as the C core returns.
    pub(crate) fn create_and_add<T: KobjectObject>(
        name: &CStr,
        parent: &Kobject<T>,
    ) -> Result<Self> {
        // SAFETY: `parent` is added while it is alive, and the new kobject takes a
        // reference to it; `name` is copied.
        let kobj = unsafe { bindings::kobject_create_and_add(name.as_char_ptr(), parent.as_raw()) };
        // INVARIANT: Made just now, with its reference.
        Ok(KobjectDir(NonNull::new(kobj).ok_or(ENOMEM)?))
    }

    pub(crate) fn as_raw(&self) -> *mut bindings::kobject {
        self.0.as_ptr()
    }
}

// SAFETY: `kobject_put()` may be called from any thread.
unsafe impl Send for KobjectDir {}

impl Drop for KobjectDir {
    fn drop(&mut self) {
        // SAFETY: Owned reference (type invariant). The last put also removes the
        // directory, as the C core relies on too.
        unsafe { bindings::kobject_put(self.as_raw()) };
    }
}

/// A symlink `<dir>/<name>` made by `sysfs_create_link()`.
///
/// # Invariants
///
/// The link exists; `dir` and the NUL-terminated `name` stay valid until it is
/// removed (the contract of [`SysfsLink::create`]).
pub(crate) struct SysfsLink {
    dir: *mut bindings::kobject,
    name: *const c_char,
}

impl SysfsLink {
    /// Makes `<dir>/<name>`, pointing to the directory of `target`.
    ///
    /// # Safety
    ///
    /// `dir` and `target` are added kobjects; `dir` and `name` stay valid until the
    /// link is dropped.
    pub(crate) unsafe fn create(
        dir: *mut bindings::kobject,
        target: *mut bindings::kobject,
        name: *const c_char,
    ) -> Result<Self> {
        // SAFETY: Added kobjects and a valid name (caller).
        kernel::error::to_result(unsafe { bindings::sysfs_create_link(dir, target, name) })?;
        // INVARIANT: Made just now; the validity is the caller's.
        Ok(SysfsLink { dir, name })
    }
}

// SAFETY: `sysfs_remove_link()` may be called from any thread; `dir` and `name` stay
// valid until the link is removed wherever it is dropped (type invariant).
unsafe impl Send for SysfsLink {}

impl Drop for SysfsLink {
    fn drop(&mut self) {
        // SAFETY: The link exists, `dir` and `name` are valid (type invariant).
        unsafe { bindings::sysfs_remove_link(self.dir, self.name) };
    }
}

/// Sends a `KOBJ_CHANGE` uevent with the one variable `env` (`KEY=value`) on `dev`
/// (`kobject_uevent_env()`). A failure to send is ignored, as the C core ignores it.
pub(crate) fn uevent_change(dev: &Device, env: &CStr) {
    let mut envp: [*mut c_char; 2] = [env.as_char_ptr().cast_mut(), core::ptr::null_mut()];
    // SAFETY: The device is live while `dev` is; `envp` is NULL-terminated and only
    // read.
    unsafe {
        bindings::kobject_uevent_env(
            &raw mut (*device_raw(dev)).kobj,
            bindings::kobject_action_KOBJ_CHANGE,
            envp.as_mut_ptr(),
        )
    };
}

/// An object that embeds a C `struct device`.
///
/// # Safety
///
/// `DEVICE_OFFSET` is the offset of a `struct device` in `Self`, inside an `Opaque`
/// (or another `UnsafeCell`), so that a `&Self` may exist while the driver core
/// changes the device.
pub(crate) unsafe trait HasDevice: Sized {
    /// The offset of the device in `Self`.
    const DEVICE_OFFSET: usize;
}

fn device_of<T: HasDevice>(obj: NonNull<T>) -> *mut bindings::device {
    // `DEVICE_OFFSET` is the offset of the device in `T` (`HasDevice`).
    obj.as_ptr()
        .wrapping_byte_add(T::DEVICE_OFFSET)
        .cast::<bindings::device>()
}

/// The device of a `T`, initialised (`device_initialize()`) and not added.
///
/// # Invariants
///
/// The device of `*self.0` is initialised and not added; this value owns the reference
/// `device_initialize()` gave. The `T` is valid until the device's release runs.
pub(crate) struct UnaddedDevice<T: HasDevice>(NonNull<T>);

impl<T: HasDevice> UnaddedDevice<T> {
    /// Initialises the device of `obj` (`device_initialize()`) complete: its
    /// `release`, `parent`, `bus` and `groups`, everything the driver core reads of it
    /// once it is added, are set before the call, so that no caller writes a field of
    /// an initialised device. The C core (`mdev_device_create()`) sets them just
    /// after; `device_initialize()` does not touch them.
    ///
    /// # Safety
    ///
    /// - The device of `*obj` is zeroed: it was never initialised.
    /// - `release` frees the `T` with `KBox::from_raw()`: from now on the `T` is freed
    ///   by the device's release only, and stays valid until then.
    /// - `bus` is a registered bus that stays registered while the device is alive.
    /// - `groups` are attributes of `T`s ([`OfDevice`]): their dispatch takes the
    ///   device as the device of a `T`.
    pub(crate) unsafe fn new(
        obj: KBox<T>,
        release: unsafe extern "C" fn(*mut bindings::device),
        parent: &Device,
        bus: *const bindings::bus_type,
        groups: Groups<OfDevice<T>>,
    ) -> Self {
        let obj = NonNull::from(KBox::leak(obj));
        let dev = device_of(obj);
        // SAFETY: A zeroed device that nothing else knows (caller); `parent` is live,
        // and `device_add()` takes the reference it keeps; `bus` and `groups` are
        // valid while the device is (caller).
        unsafe {
            (*dev).release = Some(release);
            (*dev).parent = device_raw(parent);
            (*dev).bus = bus;
            (*dev).groups = groups.as_raw();
            bindings::device_initialize(dev);
        }
        // INVARIANT: Initialised just now, with its reference; the release set above
        // frees the `T`, not before (caller).
        UnaddedDevice(obj)
    }

    fn as_raw(&self) -> *mut bindings::device {
        device_of(self.0)
    }

    /// The object that embeds the device.
    pub(crate) fn get(&self) -> &T {
        // SAFETY: Valid while the reference is held (type invariant).
        unsafe { self.0.as_ref() }
    }

    /// Keeps the device quiet: the uevents the driver core would send from here on
    /// (`device_add()`'s `add`, a probe's `bind`, ...) are not sent until
    /// [`DeviceLock::set_uevent_suppress`] clears it. Set before the device is
    /// visible to anyone, so that no other writer of the kobject's flags races it.
    pub(crate) fn suppress_uevents(&self) {
        // SAFETY: Initialised and not added (type invariant): nothing else changes
        // the kobject's flags yet.
        unsafe { mdev_rs_dev_set_uevent_suppress(self.as_raw(), 1) };
    }

    /// Names the device after `guid`, as `%pUl` prints it (`dev_set_name()`).
    pub(crate) fn set_name_guid(&self, guid: &bindings::guid_t) -> Result {
        // SAFETY: The device is initialised; the format takes one `guid_t *`, read
        // during the call.
        kernel::error::to_result(unsafe {
            bindings::dev_set_name(
                self.as_raw(),
                c"%pUl".as_char_ptr(),
                core::ptr::from_ref(guid),
            )
        })
    }

    /// Adds the device (`device_add()`). On failure the value is dropped: the
    /// reference is put.
    pub(crate) fn add(self) -> Result<AddedDevice<T>> {
        // SAFETY: Initialised and not added (type invariant).
        kernel::error::to_result(unsafe { bindings::device_add(self.as_raw()) })?;
        let obj = self.0;
        core::mem::forget(self);
        // INVARIANT: Added just now; the initial reference moves on.
        Ok(AddedDevice(obj))
    }
}

impl<T: HasDevice> Drop for UnaddedDevice<T> {
    fn drop(&mut self) {
        // SAFETY: Balances `device_initialize()` (type invariant).
        unsafe { bindings::put_device(self.as_raw()) };
    }
}

/// The device of a `T`, added (`device_add()`).
///
/// # Invariants
///
/// The device of `*self.0` is added, and this value owns its initial reference; so
/// the `T` is valid.
pub(crate) struct AddedDevice<T: HasDevice>(NonNull<T>);

impl<T: HasDevice> AddedDevice<T> {
    pub(crate) fn as_raw(&self) -> *mut bindings::device {
        device_of(self.0)
    }

    /// The object that embeds the device.
    pub(crate) fn get(&self) -> &T {
        // SAFETY: Valid while the reference is held (type invariant).
        unsafe { self.0.as_ref() }
    }

    /// Takes the device lock (`device_lock()`), until the guard is dropped.
    pub(crate) fn lock(&self) -> DeviceLock<'_> {
        // SAFETY: The device is alive (type invariant); the guard unlocks it.
        unsafe { mdev_rs_device_lock(self.as_raw()) };
        // INVARIANT: Locked just now.
        DeviceLock(self.as_raw(), core::marker::PhantomData)
    }
}

// SAFETY: `device_del()` and `put_device()` may be called from any thread; the `&T` the
// value gives may be used on any thread because `T: Sync`.
unsafe impl<T: HasDevice + Sync> Send for AddedDevice<T> {}

impl<T: HasDevice> Drop for AddedDevice<T> {
    fn drop(&mut self) {
        let dev = self.as_raw();
        // SAFETY: Added, holding the initial reference (type invariant). The release
        // may run at the put (now, or later under `DEBUG_KOBJECT_RELEASE`).
        unsafe {
            bindings::device_del(dev);
            bindings::put_device(dev);
        }
    }
}

/// The device lock of an added device, held (`device_lock()`); unlocked when dropped.
///
/// # Invariants
///
/// `self.0` is a live device whose lock this value holds.
pub(crate) struct DeviceLock<'a>(*mut bindings::device, core::marker::PhantomData<&'a ()>);

impl DeviceLock<'_> {
    /// Sets or clears the suppression of the device's uevents
    /// (`dev_set_uevent_suppress()`).
    ///
    /// Another writer of the kobject's flags now would be a synthetic `remove` written
    /// to the device's `uevent` file, not serialised by any lock, as for every user
    /// of `dev_set_uevent_suppress()` after `device_add()`.
    pub(crate) fn set_uevent_suppress(&self, suppress: bool) {
        // SAFETY: Live (type invariant).
        unsafe { mdev_rs_dev_set_uevent_suppress(self.0, c_int::from(suppress)) };
    }

    /// Sends the uevent `action` of the device (`kobject_uevent()`), with the
    /// driver core's environment (`dev_uevent()`). A failure to send is ignored, as
    /// the driver core ignores it.
    pub(crate) fn uevent(&self, action: bindings::kobject_action) {
        // SAFETY: Live (type invariant).
        unsafe { bindings::kobject_uevent(&raw mut (*self.0).kobj, action) };
    }

    /// Whether a driver is bound (`device_is_bound()`); stable while the lock is held.
    pub(crate) fn is_bound(&self) -> bool {
        // SAFETY: Live (type invariant); `driver` changes only under the device lock.
        unsafe { bindings::device_is_bound(self.0) }
    }
}

impl Drop for DeviceLock<'_> {
    fn drop(&mut self) {
        // SAFETY: Held by this value (type invariant).
        unsafe { mdev_rs_device_unlock(self.0) };
    }
}
