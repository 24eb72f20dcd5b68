// SPDX-License-Identifier: GPL-2.0

//! Mediated devices: create, remove, and removal of every child of a parent.
//!
//! The lifecycle is carried by types, so that only the order below compiles:
//!
//! ```text
//! reserve UUID + instance  (registry::reserve, under the list lock)
//!   -> Initialized   device_initialize(), uevents suppressed; dropping it is
//!                    put_device(), nothing else
//!   -> set_name      dev_set_name("%pUl")
//!   -> gate          the parent's gate, read-trylock (ENODEV once unregistration began)
//!   -> Added         device_add(), which needs the gate; dropping it is device_del() + put
//!   -> attach        device_driver_attach(): the vendor's probe
//!   -> Linked        the type's devices/<uuid> and the mdev's mdev_type links;
//!                    dropping it removes them, then device_del() + put
//!   -> activate      announce (uevents `add`, then `bind` if bound), then state
//!                    Active; the device model keeps the initial reference
//! ```
//!
//! Every failure drops the value in hand, which unwinds exactly what was done, in
//! reverse. The release of the device (its last reference gone) gives the UUID and
//! the instance back and frees it.
//!
//! # Announced only when complete
//!
//! The C core sends `add` from `device_add()`, before the vendor's probe (which
//! registers the VFIO device and so makes `iommu_group`) and before the `mdev_type`
//! and `devices/<uuid>` links, so userspace gets `add` for an mdev it cannot read yet
//! (libvirt polls for `mdev_type` for up to a second because of it). Here the device
//! is quiet (`dev_set_uevent_suppress()`) from its initialisation until it is
//! complete; then [`Linked::announce`] sends `add` and, when a driver is bound,
//! `bind`, as block devices do with their partitions (`block/partitions/core.c`).
//! A create that fails sends no uevent of the mdev at all. The uevents of the objects
//! the vendor's probe adds (the VFIO group device, the mdev's `vfio-dev` child) are
//! not the core's and are not held back: they come before the mdev's `add`.
//!
//! Removal is the mirror: the remover that moves the mdev from Active to Removing
//! owns its initial reference and turns it back into a `Linked`, whose drop undoes
//! the rest.

use core::ptr::NonNull;

use kernel::bindings;
use kernel::ffi::c_int;
use kernel::ffi::c_void;
use kernel::prelude::*;
use kernel::types::Opaque;

use crate::bus;
use crate::driver::VendorDriver;
use crate::ffi;
use crate::gate::Closed;
use crate::gate::Entered;
use crate::kstrto;
use crate::parent::MdevType;
use crate::parent::Parent;
use crate::registry;
use crate::registry::Reservation;
use crate::registry::State;
use crate::sysfs::sysfs_groups;
use crate::sysfs::DeviceAttribute;
use crate::sysfs::DeviceObject;
use crate::sysfs::DevicePtr;
use crate::sysfs::Groups;
use crate::sysfs::OfDevice;
use crate::sysfs::OwnFile;
use crate::sysfs::ShowBuffer;
use crate::sysfs::Written;
use crate::uuid::Uuid;

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

/// A mediated device, allocated by the core.
///
/// # Invariants
///
/// `raw` is the first field, so the `struct mdev_device *` vendors get (and its
/// `struct device`) points to the `MdevDevice`. `raw.dev` was initialised with
/// `device_initialize()`; the allocation is freed by the device's release.
#[repr(C)]
pub(crate) struct MdevDevice {
    raw: Opaque<ffi::mdev_device>,
    uuid: Uuid,
}

impl MdevDevice {
    /// The mdev whose device is `dev`.
    ///
    /// # Safety
    ///
    /// `dev` must be the device of an mdev (every device on the mdev bus is: only the
    /// core makes them).
    unsafe fn of_device(dev: *mut bindings::device) -> NonNull<MdevDevice> {
        // `raw` and its `dev` are first fields, so the mdev is at the device's address.
        let mdev = kernel::container_of!(dev, ffi::mdev_device, dev).cast::<MdevDevice>();
        // SAFETY: `dev` is not null (caller: it is the device of an mdev), and neither is
        // the object around it.
        unsafe { NonNull::new_unchecked(mdev) }
    }

    fn raw(&self) -> *mut ffi::mdev_device {
        self.raw.get()
    }

    fn dev(&self) -> *mut bindings::device {
        // SAFETY: The device is valid (type invariant).
        unsafe { &raw mut (*self.raw()).dev }
    }

    fn mtype(&self) -> &MdevType {
        // SAFETY: Set at creation to a type of a registered parent; the mdev holds a
        // reference to the type's kobject. The type is vendor memory that stays valid
        // while the parent is registered, which it is until the mdev is removed: the
        // last reference of an mdev is put under the parent's gate (see `remove_store`
        // and `remove_child`), unless someone outside the core holds one, the same
        // contract as the C core's.
        unsafe { MdevType::from_raw((*self.raw()).type_) }
    }

    fn set_active(&self, active: bool) {
        // SAFETY: Only the creator and the owner of the removal write `active`, never
        // at the same time (the registry state orders them). Vendors may read it.
        unsafe { (*self.raw()).active = active };
    }
}

/// The parent of the mdev whose device is `dev`.
///
/// # Safety
///
/// `dev` must be the device of a live mdev whose parent stays registered for `'a`.
pub(crate) unsafe fn parent_of<'a>(dev: *mut bindings::device) -> &'a Parent {
    // SAFETY: A device of an mdev is the `dev` of an `MdevDevice`, alive for `'a`
    // (caller).
    let mdev: &'a MdevDevice = unsafe { MdevDevice::of_device(dev).as_ref() };
    mdev.mtype().parent()
}

// SAFETY: `DEVICE_GROUPS`, the only groups of `MdevDevice` attributes, are only set on
// the devices of mdevs (`Initialized::new`): those `of_device` takes. `remove_store`
// removes its own file, so `SELF_REMOVABLE` is true and its group has no name (which
// `AttributeGroup::new` enforces): `device_remove_file_self()` only looks in the
// device's own directory.
unsafe impl DeviceObject for MdevDevice {
    const SELF_REMOVABLE: bool = true;
    type Target<'a> = DevicePtr<MdevDevice>;
    /// The core's device attributes have no `show`.
    type Show = core::convert::Infallible;
    type Store = fn(DevicePtr<MdevDevice>, OwnFile<'_>, Written<'_>) -> Result<usize>;

    unsafe fn from_device<'a>(dev: *mut bindings::device) -> Self::Target<'a> {
        // SAFETY: `dev` carries an attribute of `MdevDevice`, so it is an mdev's device
        // (the impl's contract).
        DevicePtr::new(unsafe { MdevDevice::of_device(dev) })
    }

    fn show(show: Self::Show, _: DevicePtr<MdevDevice>, _: &mut ShowBuffer<'_>) -> Result {
        match show {}
    }

    fn store(
        store: Self::Store,
        mdev: DevicePtr<MdevDevice>,
        file: OwnFile<'_>,
        buf: Written<'_>,
    ) -> Result<usize> {
        store(mdev, file, buf)
    }
}

static REMOVE: DeviceAttribute<MdevDevice> =
    DeviceAttribute::<MdevDevice>::new(c"remove", None, Some(remove_store));
static DEVICE_GROUPS: Groups<OfDevice<MdevDevice>> =
    sysfs_groups!(DeviceAttribute<MdevDevice>: [{ attrs: [REMOVE] }]);

/// The release of an mdev's device: its last reference is gone.
///
/// # Safety
///
/// Called by the driver core, once, with the device of an `MdevDevice`.
unsafe extern "C" fn mdev_device_release(dev: *mut bindings::device) {
    let ptr = kernel::container_of!(dev, ffi::mdev_device, dev).cast::<MdevDevice>();
    // SAFETY: Allocated by `Initialized::new` with `KBox::into_raw`; this is the last
    // reference, so nothing else uses it.
    let mdev = unsafe { KBox::from_raw(ptr) };
    let t = mdev.mtype();
    // Pairs with the reservation committed in `Initialized::new`.
    registry::release(mdev.uuid, t.parent());
    // SAFETY: Pairs with the kobject_get() in `Initialized::new`.
    unsafe { bindings::kobject_put(t.kobj()) };
}

/// An mdev whose device is initialised but not added.
///
/// # Invariants
///
/// Holds the reference `device_initialize()` gave; the device is not added.
struct Initialized(NonNull<MdevDevice>);

impl Initialized {
    fn new(t: &MdevType, uuid: Uuid, reservation: Reservation<'_>) -> Result<Self> {
        let mdev = KBox::new(
            MdevDevice {
                raw: Opaque::zeroed(),
                uuid,
            },
            GFP_KERNEL,
        )?;
        let mdev = NonNull::new(KBox::into_raw(mdev)).ok_or(ENOMEM)?;
        // SAFETY: `mdev` is freshly allocated and zeroed; nothing else knows it.
        unsafe {
            let raw = (*mdev.as_ptr()).raw.get();
            let dev = &raw mut (*raw).dev;
            bindings::device_initialize(dev);
            (*dev).parent = t.parent().dev();
            (*dev).bus = bus::bus_type();
            (*dev).release = Some(mdev_device_release);
            (*dev).groups = DEVICE_GROUPS.as_raw();
            (*raw).type_ = t.as_raw();
            (*raw).uuid = uuid.to_guid();
            // Quiet until complete: `device_add()`'s `add`, the probe's `bind`, and the
            // `unbind` and `remove` of a failure's unwinding are not sent. Only
            // `Linked::announce` clears it. Set before the device is visible to
            // anyone, so no other writer of the kobject's flags can race this one.
            mdev_rs_dev_set_uevent_suppress(dev, 1);
            // Pairs with the kobject_put() in `mdev_device_release`.
            bindings::kobject_get(t.kobj());
        }
        // From here the device's release gives the UUID and the instance back.
        reservation.commit();
        // INVARIANT: `device_initialize()` gave the reference this value holds.
        Ok(Initialized(mdev))
    }

    fn mdev(&self) -> &MdevDevice {
        // SAFETY: Alive while the reference is held (type invariant).
        unsafe { self.0.as_ref() }
    }

    /// Names the device after its UUID, as `%pUl` prints it.
    fn set_name(&self) -> Result {
        let guid = self.mdev().uuid.to_guid();
        // SAFETY: The device is initialised; the format takes one `guid_t *`.
        kernel::error::to_result(unsafe {
            bindings::dev_set_name(self.mdev().dev(), c"%pUl".as_char_ptr(), &raw const guid)
        })
    }

    /// Adds the device to the bus; needs to be inside its parent's gate (`EINVAL` and a
    /// warning for another parent's: it would not hold this one's unregistration off).
    fn add(self, gate: &Entered<'_>) -> Result<Added> {
        let parent = self.mdev().mtype().parent();
        if kernel::warn_on!(!core::ptr::eq(gate.parent(), parent)) {
            return Err(EINVAL);
        }
        // SAFETY: Initialised and not added (type invariant).
        kernel::error::to_result(unsafe { bindings::device_add(self.mdev().dev()) })?;
        let mdev = self.0;
        core::mem::forget(self);
        // INVARIANT: Added just now; the reference moves to the `Added`.
        Ok(Added(mdev))
    }
}

impl Drop for Initialized {
    fn drop(&mut self) {
        // SAFETY: Balances device_initialize() (type invariant).
        unsafe { bindings::put_device(self.mdev().dev()) };
    }
}

/// An mdev whose device is added to the bus.
///
/// # Invariants
///
/// Holds the initial reference; the device is added; the sysfs links are not made.
struct Added(NonNull<MdevDevice>);

impl Added {
    fn mdev(&self) -> &MdevDevice {
        // SAFETY: Alive while the reference is held (type invariant).
        unsafe { self.0.as_ref() }
    }

    /// Binds the vendor's driver: runs its `probe`.
    fn attach(&self, drv: &VendorDriver) -> Result {
        // SAFETY: The device is added and `drv` is registered on this bus.
        kernel::error::to_result(unsafe {
            bindings::device_driver_attach(drv.device_driver(), self.mdev().dev())
        })
    }

    /// Makes `<type>/devices/<uuid>` and `<mdev>/mdev_type`.
    fn link(self) -> Result<Linked> {
        let mdev = self.mdev();
        let t = mdev.mtype();
        // SAFETY: The device is added and named; the type's kobjects are live.
        unsafe {
            let kobj = &raw mut (*mdev.dev()).kobj;
            let name = bindings::dev_name(mdev.dev());
            kernel::error::to_result(bindings::sysfs_create_link(t.devices_kobj(), kobj, name))?;
            let ret = bindings::sysfs_create_link(kobj, t.kobj(), c"mdev_type".as_char_ptr());
            if ret != 0 {
                bindings::sysfs_remove_link(t.devices_kobj(), name);
                return Err(Error::from_errno(ret));
            }
        }
        let mdev = self.0;
        core::mem::forget(self);
        // INVARIANT: Both links were just made; the reference moves on.
        Ok(Linked(mdev))
    }
}

impl Drop for Added {
    fn drop(&mut self) {
        let dev = self.mdev().dev();
        // SAFETY: Added, holding the initial reference (type invariant).
        unsafe {
            bindings::device_del(dev);
            bindings::put_device(dev);
        }
    }
}

/// An mdev that is fully set up: added, bound, linked.
///
/// # Invariants
///
/// Holds the initial reference; the device is added and both links exist.
struct Linked(NonNull<MdevDevice>);

impl Linked {
    fn mdev(&self) -> &MdevDevice {
        // SAFETY: Alive while the reference is held (type invariant).
        unsafe { self.0.as_ref() }
    }

    /// Tells userspace the mdev is there: clears the suppression set in
    /// `Initialized::new`, sends `add` and, if a driver is bound, `bind`, as the
    /// driver core would have (the uevent's environment is the driver core's own,
    /// from `dev_uevent()`, so `add` already carries `DRIVER=`).
    ///
    /// Called by the creator only, with the parent's gate held for reading and the
    /// mdev still in state Creating: no remover can delete it (a user's remove gets
    /// `EAGAIN`, unregistration waits for the gate), so the `add` cannot follow a
    /// `remove`. What can run meanwhile is a change of the binding: a write to the
    /// driver's `bind` or `unbind` file, or the bus's `drivers_probe`. The driver core
    /// makes those changes, and sends their uevents, under the device lock; so does
    /// this function. A change made before it took the lock sent nothing (the device
    /// was quiet) and is reflected in what it sends now: `add` carries `DRIVER=` and
    /// is followed by `bind` exactly when a driver is bound. A change made after it
    /// sends its uevent after these. Either way userspace sees `add`, then `bind`
    /// only for a bound device, then the later changes: a sequence the driver core
    /// could have produced. Failures to send are ignored, as `device_add()` and
    /// `driver_bound()` ignore them.
    ///
    /// Another writer of the kobject's flags now would be a synthetic `remove`
    /// written to the mdev's `uevent` file, not serialised by any lock, as for every
    /// user of `dev_set_uevent_suppress()` after `device_add()`.
    ///
    /// Mirrors nothing of the C core, which sends `add` from `device_add()`.
    fn announce(&self) {
        let dev = self.mdev().dev();
        // SAFETY: The device is added and alive (type invariant). The device lock is
        // taken and released here, with no early return in between; the lock order
        // is gate (read), then device lock, as in `Added::attach`. `driver` is only
        // changed under the device lock, which `device_is_bound()` reads under.
        unsafe {
            let kobj = &raw mut (*dev).kobj;
            mdev_rs_device_lock(dev);
            mdev_rs_dev_set_uevent_suppress(dev, 0);
            bindings::kobject_uevent(kobj, bindings::kobject_action_KOBJ_ADD);
            if bindings::device_is_bound(dev) {
                bindings::kobject_uevent(kobj, bindings::kobject_action_KOBJ_BIND);
            }
            mdev_rs_device_unlock(dev);
        }
    }

    /// The mdev is ready: it is announced, then becomes removable, and the device
    /// model keeps its initial reference until a remover reclaims it.
    fn activate(self) {
        // Before the move to Active: once Active, a remover may take the mdev away.
        self.announce();
        let mdev = self.mdev();
        mdev.set_active(true);
        // Only the creator moves an mdev out of Creating.
        let moved = registry::transition(mdev.uuid, State::Creating, State::Active);
        kernel::warn_on!(!moved);
        core::mem::forget(self);
    }

    /// Takes back the initial reference of an active mdev, to remove it.
    ///
    /// # Safety
    ///
    /// The caller must have moved the mdev from Active to Removing.
    unsafe fn reclaim(mdev: NonNull<MdevDevice>) -> Linked {
        // SAFETY: An active mdev is alive: the device model holds its initial reference.
        unsafe { mdev.as_ref() }.set_active(false);
        // INVARIANT: An active mdev is added and linked, and the reference `activate`
        // left to the device model is now the caller's (it won the move to Removing).
        Linked(mdev)
    }
}

impl Drop for Linked {
    fn drop(&mut self) {
        let mdev = self.mdev();
        let t = mdev.mtype();
        // Removal runs under the parent's gate: a user's remove holds it for reading,
        // unregistration for writing.
        t.parent().gate().assert_held();
        // SAFETY: Both links exist (type invariant); the device stays alive until the
        // `Added` below is dropped.
        unsafe {
            let name = bindings::dev_name(mdev.dev());
            bindings::sysfs_remove_link(&raw mut (*mdev.dev()).kobj, c"mdev_type".as_char_ptr());
            bindings::sysfs_remove_link(t.devices_kobj(), name);
        }
        // INVARIANT: The links are gone; what is left is an added device.
        drop(Added(self.0));
    }
}

/// Creates an mdev of type `t` named `uuid`: the `create` attribute.
pub(crate) fn create(t: &MdevType, uuid: Uuid) -> Result {
    let parent = t.parent();
    let reservation = registry::reserve(uuid, parent)?;
    let mdev = Initialized::new(t, uuid, reservation)?;
    mdev.set_name()?;
    let gate = parent.enter().ok_or(ENODEV)?;
    let mdev = mdev.add(&gate)?;
    mdev.attach(parent.driver())?;
    let mdev = mdev.link()?;
    mdev.activate();
    drop(gate);
    Ok(())
}

/// The `remove` attribute of an mdev.
///
/// Unlike the C core, a remove that cannot proceed now (`EAGAIN` while the create
/// still runs, `ENODEV` once the parent is unregistering) keeps the `remove` file:
/// the user can retry, and an unregistering parent removes the mdev anyway.
///
/// The mdev's last reference is put here, under the gate, as in the C core: its
/// release still needs the parent and the type, which the vendor may free once its
/// unregistration is through the gate. So nothing of the mdev is touched after its
/// removal.
fn remove_store(ptr: DevicePtr<MdevDevice>, file: OwnFile<'_>, buf: Written<'_>) -> Result<usize> {
    let count = buf.as_bytes().len();
    // As in the C core, whatever `kstrtoul()` refuses is `EINVAL`.
    if kstrto::kstrtoul(buf.as_c_str(), 0).map_err(|_| EINVAL)? == 0 {
        return Ok(count);
    }
    // SAFETY: Until this store removes its own file, it holds the file's active
    // reference, which keeps `device_del()`, and so the mdev's removal, from completing.
    // `mdev` is only used before `file.remove_self()` below; the parent stays alive
    // after it while the gate is held.
    let mdev = unsafe { ptr.get() };
    let (uuid, parent) = (mdev.uuid, mdev.mtype().parent());
    match registry::state(uuid) {
        Some(State::Creating) => return Err(EAGAIN),
        Some(State::Active) => {}
        // The parent's unregistration owns the removal: as in the C core, not an error.
        Some(State::Removing) | None => return Ok(count),
    }
    // The parent stays registered while the gate is held.
    let gate = parent.enter().ok_or(ENODEV)?;
    // Consumes `file`: the file is removed at most once per call.
    if !file.remove_self() {
        // Another writer of this file won; `remove_self()` returned only after that
        // write did, which removed the mdev and may have freed it: do not touch it.
        return Ok(count);
    }
    if registry::transition(uuid, State::Active, State::Removing) {
        // SAFETY: The move to Removing was ours. The mdev is alive: only the owner of
        // that move puts its initial reference.
        drop(unsafe { Linked::reclaim(ptr.as_ptr()) });
    }
    drop(gate);
    Ok(count)
}

/// Removes one child of an unregistering parent, if it is an mdev.
///
/// # Safety
///
/// Called by `device_for_each_child()` with a live child device, with the parent's
/// gate held for writing.
unsafe extern "C" fn remove_child(dev: *mut bindings::device, _data: *mut c_void) -> c_int {
    // SAFETY: The iteration passes live children.
    if unsafe { bus::is_mdev(dev) } {
        // SAFETY: A device on the mdev bus is an `MdevDevice`.
        let ptr = unsafe { MdevDevice::of_device(dev) };
        // SAFETY: The iteration holds a reference to the child while this runs.
        let uuid = unsafe { ptr.as_ref() }.uuid;
        // With the gate held for writing no create or remove is in flight (each holds
        // the gate for reading until its mdev is added and active, or deleted), so
        // every child is Active (one unbound through its driver's `unbind` file too: an
        // unbind does not change the state, and its device_del() below calls no vendor
        // callback). The move is still made, to own the removal; a child in another
        // state would break that invariant, and is reported rather than skipped
        // silently (removing it here could delete it twice).
        let moved = registry::transition(uuid, State::Active, State::Removing);
        kernel::warn_on!(!moved);
        if moved {
            // SAFETY: The move to Removing was ours.
            drop(unsafe { Linked::reclaim(ptr) });
        }
    }
    0
}

/// Removes every mdev of the parent whose gate `gate` holds closed, during its
/// unregistration.
pub(crate) fn remove_all_children(gate: &Closed<'_>) {
    let parent = gate.parent();
    parent.gate().assert_closed();
    // SAFETY: The parent device is live; `remove_child` may remove the device it is
    // called for, which the child iteration allows.
    unsafe {
        bindings::device_for_each_child(parent.dev(), core::ptr::null_mut(), Some(remove_child))
    };
}
