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
//!                    Active: the registry keeps the `Linked` until a remover takes it
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
//! gets its `Linked` from the registry, and its drop undoes the rest.

use core::ptr::NonNull;

use kernel::bindings;
use kernel::ffi::c_char;
use kernel::ffi::c_int;
use kernel::ffi::c_void;
use kernel::prelude::*;
use kernel::types::Opaque;

use crate::bus;
use crate::driver::VendorDriver;
use crate::driver_model::AddedDevice;
use crate::driver_model::HasDevice;
use crate::driver_model::SysfsLink;
use crate::driver_model::UnaddedDevice;
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

    fn kobj(&self) -> *mut bindings::kobject {
        // SAFETY: The device is valid (type invariant).
        unsafe { &raw mut (*self.dev()).kobj }
    }

    /// The device's name (`dev_name()`), once named.
    fn name(&self) -> *const c_char {
        // SAFETY: The device is valid (type invariant).
        unsafe { bindings::dev_name(self.dev()) }
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

// SAFETY: The `uuid` is not changed after creation; `raw` is read and written only
// through raw places, each field under the rule its users keep (the driver core's for
// the device; the registry state's order for `active`; `type_` and `uuid` are set
// before the device is initialised), as the C core shares its `struct mdev_device`.
unsafe impl Sync for MdevDevice {}

// SAFETY: `raw` is the first field of the `repr(C)` `MdevDevice`, an `Opaque`; its
// `dev` is a `struct device`.
unsafe impl HasDevice for MdevDevice {
    const DEVICE_OFFSET: usize = core::mem::offset_of!(ffi::mdev_device, dev);
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
    // SAFETY: Allocated by `Initialized::new` as a `KBox`, given to `UnaddedDevice::new`
    // with this release; this is the last reference, so nothing else uses it.
    let mdev = unsafe { KBox::from_raw(ptr) };
    let t = mdev.mtype();
    // Pairs with the reservation committed in `Initialized::new`.
    registry::release(mdev.uuid, t.parent());
    // SAFETY: Pairs with the kobject_get() in `Initialized::new`.
    unsafe { bindings::kobject_put(t.kobj()) };
}

/// An mdev whose device is initialised but not added: the first state of a create.
///
/// # Invariants
///
/// The device is the `dev` of an `MdevDevice` whose `type_` is a type of a registered
/// parent, and whose release is `mdev_device_release`. The mdev holds a reference to
/// the type's kobject, and its UUID (and, when the core counts them, one of the
/// parent's instances) is reserved in state Creating; the device's release gives
/// both back. Its uevents are suppressed.
struct Initialized(UnaddedDevice<MdevDevice>);

impl Initialized {
    fn new(t: &MdevType, uuid: Uuid, reservation: Reservation<'_>) -> Result<Self> {
        let mdev = KBox::new(
            MdevDevice {
                raw: Opaque::zeroed(),
                uuid,
            },
            GFP_KERNEL,
        )?;
        let raw = mdev.raw();
        // SAFETY: The new mdev is this function's alone; its device, not initialised
        // yet, is not touched.
        unsafe {
            (*raw).type_ = t.as_raw();
            (*raw).uuid = uuid.to_guid();
        }
        // SAFETY: The device of the new mdev is zeroed; `mdev_device_release` frees it
        // with `KBox::from_raw()`; the mdev bus is registered from the module's init to
        // its exit, and no mdev outlives its parent's registration, which a vendor
        // module makes with this module's symbols; the groups are `MdevDevice`
        // attributes.
        let dev = unsafe {
            UnaddedDevice::new(
                mdev,
                mdev_device_release,
                t.parent().device(),
                bus::bus_type(),
                DEVICE_GROUPS,
            )
        };
        // Quiet until complete: `device_add()`'s `add`, the probe's `bind`, and the
        // `unbind` and `remove` of a failure's unwinding are not sent. Only
        // `Linked::announce` clears it.
        dev.suppress_uevents();
        // Pairs with the kobject_put() in `mdev_device_release`.
        // SAFETY: The type's kobject is added (`MdevType`'s invariant).
        unsafe { bindings::kobject_get(t.kobj()) };
        // From here the device's release gives the UUID and the instance back.
        reservation.commit();
        // INVARIANT: The device was initialised with `mdev_device_release`, the type's
        // kobject is held, the reservation is the device's, uevents are suppressed.
        Ok(Initialized(dev))
    }

    fn mdev(&self) -> &MdevDevice {
        self.0.get()
    }

    /// Names the device after its UUID, as `%pUl` prints it.
    fn set_name(&self) -> Result {
        self.0.set_name_guid(&self.mdev().uuid.to_guid())
    }

    /// Adds the device to the bus; needs to be inside its parent's gate (`EINVAL` and a
    /// warning for another parent's: it would not hold this one's unregistration off).
    /// On failure the reference is put.
    fn add(self, gate: &Entered<'_>) -> Result<Added> {
        let parent = self.mdev().mtype().parent();
        if kernel::warn_on!(!core::ptr::eq(gate.parent(), parent)) {
            return Err(EINVAL);
        }
        // INVARIANT: Added by the `device_add()` of `UnaddedDevice::add`, inside the
        // gate of the mdev's own parent (checked above), with the mdev still Creating.
        Ok(Added(self.0.add()?))
    }
}

/// An mdev whose device is added to the bus; the sysfs links are not made.
///
/// # Invariants
///
/// As for [`Initialized`], and the device is added to the mdev bus, by a create that
/// was inside its parent's gate when it added it, while the mdev was Creating.
/// The value only exists inside that create (`create`), which holds the gate until
/// the value is gone (dropped, or turned into a [`Linked`] and kept by the registry).
struct Added(AddedDevice<MdevDevice>);

impl Added {
    fn mdev(&self) -> &MdevDevice {
        self.0.get()
    }

    /// Binds the vendor's driver: runs its `probe`.
    fn attach(&self, drv: &VendorDriver) -> Result {
        // SAFETY: The device is added and `drv` is registered on this bus.
        kernel::error::to_result(unsafe {
            bindings::device_driver_attach(drv.device_driver(), self.0.as_raw())
        })
    }

    /// Makes `<type>/devices/<uuid>` and `<mdev>/mdev_type`.
    fn link(self) -> Result<Linked> {
        let mdev = self.mdev();
        let t = mdev.mtype();
        let (kobj, name) = (mdev.kobj(), mdev.name());
        // SAFETY: The device is added and named, and its name and kobject stay valid
        // while it is alive, until the `Added` in the `Linked` is dropped, after the
        // links. The type's kobjects are added until the parent's `tear_down`, which
        // removes the mdev first.
        let in_type = unsafe { SysfsLink::create(t.devices_kobj(), kobj, name) }?;
        // SAFETY: As above. On failure `in_type` is dropped: removed.
        let to_type = unsafe { SysfsLink::create(kobj, t.kobj(), c"mdev_type".as_char_ptr()) }?;
        // INVARIANT: Both links were just made; the reference moves on.
        Ok(Linked {
            _to_type: to_type,
            _in_type: in_type,
            added: self,
        })
    }
}

/// An mdev that is fully set up: added, bound, linked. While it is active the registry
/// keeps it ([`registry::activate`], [`registry::take_active`]).
///
/// # Invariants
///
/// As for [`Added`], and the links are those of the device of `added`:
/// `<type>/devices/<uuid>` and `<mdev>/mdev_type`. The fields are dropped in their
/// order: the links, then the device. While the value is in the registry (state
/// Active) the mdev's `active` is true; a `Linked` is dropped only with its parent's
/// gate held (checked by its drop) and outside the list lock.
pub(crate) struct Linked {
    /// `<mdev>/mdev_type`.
    _to_type: SysfsLink,
    /// `<type>/devices/<uuid>`.
    _in_type: SysfsLink,
    added: Added,
}

impl Linked {
    fn mdev(&self) -> &MdevDevice {
        self.added.mdev()
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
    /// `_gate` is the creator's own entry into the parent's gate (checked by
    /// `activate`, its caller).
    ///
    /// Mirrors nothing of the C core, which sends `add` from `device_add()`.
    fn announce(&self, _gate: &Entered<'_>) {
        // The lock order is gate (read), then device lock, as in `Added::attach`.
        let lock = self.added.0.lock();
        lock.set_uevent_suppress(false);
        lock.uevent(bindings::kobject_action_KOBJ_ADD);
        if lock.is_bound() {
            lock.uevent(bindings::kobject_action_KOBJ_BIND);
        }
    }

    /// The mdev is ready: it is announced, then becomes removable, and the registry
    /// keeps this value until a remover takes it. Inside the gate of the mdev's parent
    /// (`gate`; another parent's is a bug of the core, reported, and the mdev is then
    /// announced under it all the same: `add` already checked the same gate).
    fn activate(self, gate: &Entered<'_>) {
        kernel::warn_on!(!core::ptr::eq(gate.parent(), self.mdev().mtype().parent()));
        // Before the move to Active: once Active, a remover may take the mdev away.
        self.announce(gate);
        self.mdev().set_active(true);
        let uuid = self.mdev().uuid;
        // Only the creator moves an mdev out of Creating.
        if let Err(this) = registry::activate(uuid, self) {
            kernel::warn_on!(true);
            this.mdev().set_active(false);
        }
    }

    /// Takes an active mdev from the registry, to remove it: the caller owns the
    /// removal. `None` if it is not active (not yet, or another remover has it).
    fn take_active(uuid: Uuid) -> Option<Linked> {
        let mdev = registry::take_active(uuid)?;
        mdev.mdev().set_active(false);
        Some(mdev)
    }
}

impl Drop for Linked {
    fn drop(&mut self) {
        // Removal runs under the parent's gate: a user's remove holds it for reading,
        // unregistration for writing. Then the fields are dropped: the links, then the
        // device (`device_del()`, `put_device()`).
        self.mdev().mtype().parent().gate().assert_held();
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
    mdev.activate(&gate);
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
    // The move to Removing is ours if we get the value: its drop removes the mdev.
    drop(Linked::take_active(uuid));
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
        let mdev = Linked::take_active(uuid);
        kernel::warn_on!(mdev.is_none());
        drop(mdev);
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
