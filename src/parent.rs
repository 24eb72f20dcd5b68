// SPDX-License-Identifier: GPL-2.0

//! Parents and their types: `mdev_register_parent()` and `mdev_unregister_parent()`.
//!
//! A parent is the vendor's `struct mdev_parent`, embedded in the vendor's own data;
//! its types are the vendor's `struct mdev_type`s. The core fills them in and gives
//! each type a kobject under `<parent>/mdev_supported_types`, named
//! `<dev_driver_string(parent)>-<sysfs_name>`, with `create`, `name`, `device_api`,
//! `available_instances`, `description` (only when the driver has one) and
//! `devices/`.
//!
//! The gate (`unreg_sem`) orders parent unregistration against create and remove:
//! those take it for reading with a trylock and fail with `ENODEV` once
//! unregistration has begun; unregistration takes it for writing, which waits for
//! the creates and removes in flight, and holds it while it removes every child.

use core::fmt::Write;
use core::ptr::NonNull;

use kernel::bindings;
use kernel::device::Device;
use kernel::ffi::c_int;
use kernel::ffi::c_uint;
use kernel::prelude::*;
use kernel::sync::atomic::Atomic;
use kernel::sync::atomic::Relaxed;
use kernel::sync::static_lock_class;
use kernel::types::Opaque;

use crate::bus::CompatLink;
use crate::device;
use crate::driver::VendorDriver;
use crate::driver_model;
use crate::driver_model::Kobject;
use crate::driver_model::KobjectDir;
use crate::driver_model::Kset;
use crate::ffi;
use crate::gate::Closed;
use crate::gate::Entered;
use crate::gate::Gate;
use crate::registry::ListGuard;
use crate::sysfs::sysfs_groups;
use crate::sysfs::KobjAttribute;
use crate::sysfs::KobjType;
use crate::sysfs::KobjectObject;
use crate::sysfs::ShowBuffer;
use crate::sysfs::Written;
use crate::uuid::Uuid;

/// A parent: the vendor's `struct mdev_parent`.
///
/// # Invariants
///
/// The parent was filled in by [`register`] (`dev`, `mdev_driver` and `types` are set,
/// the gate is initialised) and the vendor has not freed it: it is registered, or
/// being registered or unregistered, or it is used by the release of one of its
/// mdevs or types, which its unregistration waits for (see [`crate::teardown`]).
///
/// Fields are read one at a time through raw places, never through a reference to
/// the whole struct, because other CPUs change parts of it (the gate, the counter).
#[repr(transparent)]
pub(crate) struct Parent(Opaque<ffi::mdev_parent>);

impl Parent {
    /// # Safety
    ///
    /// `ptr` must point to a registered parent that stays registered for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut ffi::mdev_parent) -> &'a Parent {
        // SAFETY: Transparent wrapper; registered for `'a` (caller).
        unsafe { &*ptr.cast::<Parent>() }
    }

    pub(crate) fn raw(&self) -> *mut ffi::mdev_parent {
        self.0.get()
    }

    /// The parent device.
    pub(crate) fn dev(&self) -> *mut bindings::device {
        // SAFETY: Registered, so `dev` is set and not changed (type invariant).
        unsafe { (*self.raw()).dev }
    }

    /// The parent device, live while the parent is registered.
    pub(crate) fn device(&self) -> &Device {
        // SAFETY: `dev` outlives the registration (the header's contract), so its
        // reference count is not zero while `self` is borrowed.
        unsafe { Device::from_raw(self.dev()) }
    }

    /// `dev_driver_string()` of the parent device: its driver's name, else its bus's,
    /// else its class's.
    fn driver_string(&self) -> &CStr {
        // SAFETY: The device is live; the string lives as long as its driver, bus or
        // class, which outlive the registration.
        unsafe { CStr::from_char_ptr(bindings::dev_driver_string(self.dev())) }
    }

    /// The gate between create/remove and unregistration (`unreg_sem`).
    pub(crate) fn gate(&self) -> &Gate {
        // SAFETY: The gate was initialised in `register` and lives as long as the
        // registered parent (type invariant).
        unsafe { Gate::from_raw(&raw mut (*self.raw()).unreg_sem) }
    }

    /// Enters the parent's gate, for a create or a remove; `None` once its
    /// unregistration has begun.
    pub(crate) fn enter(&self) -> Option<Entered<'_>> {
        Entered::enter(self)
    }

    /// Closes the parent's gate, for its unregistration: waits for the creates and
    /// removes inside.
    pub(crate) fn close(&self) -> Closed<'_> {
        Closed::close(self)
    }

    /// The vendor's driver.
    pub(crate) fn driver(&self) -> &VendorDriver {
        // SAFETY: Registered: the driver outlives the parent (the header's contract:
        // a vendor unregisters its parents before its driver).
        unsafe { VendorDriver::from_raw((*self.raw()).mdev_driver) }
    }

    fn counter(&self) -> &Atomic<i32> {
        // SAFETY: The `counter` of an `atomic_t` is an aligned `int` that lives as long
        // as the parent and that every user accesses atomically.
        unsafe { Atomic::from_ptr(&raw mut (*self.raw()).available_instances.counter) }
    }

    /// Whether the core counts instances (the driver has no `get_available`).
    pub(crate) fn core_counts_instances(&self) -> bool {
        !self.driver().has_get_available()
    }

    /// Takes one of the parent's instances; `None` when none is left. Under the list
    /// lock (`_list` is its guard), which serialises every change of the counter.
    ///
    /// The counter is unsigned in effect, as in the C core (`max_instances` is an
    /// `unsigned int` stored in an `atomic_t`): only 0 means none left.
    pub(crate) fn take_instance(&self, _list: &ListGuard) -> Option<()> {
        let c = self.counter();
        let n = c.load(Relaxed);
        if n == 0 {
            return None;
        }
        c.store(n.wrapping_sub(1), Relaxed);
        Some(())
    }

    /// Gives an instance back. Under the list lock (`_list` is its guard).
    pub(crate) fn give_back_instance(&self, _list: &ListGuard) {
        self.counter().add(1, Relaxed);
    }

    pub(crate) fn available_instances(&self) -> i32 {
        self.counter().load(Relaxed)
    }

    fn types(&self) -> &[*mut ffi::mdev_type] {
        // SAFETY: `types` holds `nr_types` pointers to the parent's types (type
        // invariant); the array is the vendor's and outlives the registration. Both
        // fields are read through raw places.
        unsafe {
            let (types, nr) = ((*self.raw()).types, (*self.raw()).nr_types);
            if types.is_null() {
                &[]
            } else {
                // CAST: A `u32` count fits a `usize` on every architecture Linux has.
                core::slice::from_raw_parts(types, nr as usize)
            }
        }
    }
}

/// A type of a parent: the vendor's `struct mdev_type`.
///
/// # Invariants
///
/// The type is being added or was added by [`register`] (its `parent` is set) and the
/// vendor has not freed it (see [`Parent`]). Fields are read through raw places.
#[repr(transparent)]
pub(crate) struct MdevType(Opaque<ffi::mdev_type>);

impl MdevType {
    /// # Safety
    ///
    /// `ptr` must point to a type of a registered parent; both must stay so for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut ffi::mdev_type) -> &'a MdevType {
        // SAFETY: Transparent wrapper; valid for `'a` (caller).
        unsafe { &*ptr.cast::<MdevType>() }
    }

    pub(crate) fn as_raw(&self) -> *mut ffi::mdev_type {
        self.0.get()
    }

    /// The type's parent.
    pub(crate) fn parent(&self) -> &Parent {
        // SAFETY: Set by `register` and registered (type invariant).
        unsafe { Parent::from_raw((*self.as_raw()).parent) }
    }

    /// The type's kobject (`mdev_supported_types/<name>`).
    pub(crate) fn kobj(&self) -> *mut bindings::kobject {
        // SAFETY: The type is valid (type invariant).
        unsafe { &raw mut (*self.as_raw()).kobj }
    }

    /// The type's `devices` directory.
    pub(crate) fn devices_kobj(&self) -> *mut bindings::kobject {
        // SAFETY: Set by `register` (type invariant).
        unsafe { (*self.as_raw()).devices_kobj }
    }

    fn name(&self) -> &CStr {
        // SAFETY: The vendor sets `sysfs_name` (required) and optionally `pretty_name`
        // to NUL-terminated strings that outlive the type.
        unsafe {
            let (pretty, sysfs) = ((*self.as_raw()).pretty_name, (*self.as_raw()).sysfs_name);
            CStr::from_char_ptr(if pretty.is_null() { sysfs } else { pretty })
        }
    }
}

// SAFETY: `MdevType` is a transparent wrapper of `Opaque<struct mdev_type>`, so its
// kobject is at the offset of `kobj`, and a `&MdevType` may exist while the kobject core
// changes the kobject. Which kobjects are `MdevType`s: see `add_type`, the only user of
// `MDEV_TYPE_KTYPE`.
unsafe impl KobjectObject for MdevType {
    const KOBJ_OFFSET: usize = core::mem::offset_of!(ffi::mdev_type, kobj);

    /// `description` only if the vendor has `show_description`, as in the C core.
    fn is_visible(&self, attr: &KobjAttribute<MdevType>) -> u16 {
        if core::ptr::eq(attr, &DESCRIPTION) && !self.parent().driver().has_description() {
            0
        } else {
            attr.mode()
        }
    }
}

fn create_store(t: &MdevType, buf: Written<'_>) -> Result<usize> {
    let uuid = Uuid::parse_create(buf)?;
    device::create(t, uuid)?;
    Ok(buf.as_bytes().len())
}

fn device_api_show(t: &MdevType, out: &mut ShowBuffer<'_>) -> Result {
    // The bytes as they are, as `%s` prints them.
    out.write_bytes(t.parent().driver().device_api().to_bytes());
    out.write_bytes(b"\n");
    Ok(())
}

fn name_show(t: &MdevType, out: &mut ShowBuffer<'_>) -> Result {
    out.write_bytes(t.name().to_bytes());
    out.write_bytes(b"\n");
    Ok(())
}

fn available_instances_show(t: &MdevType, out: &mut ShowBuffer<'_>) -> Result {
    let parent = t.parent();
    // The vendor's get_available runs with no core lock held.
    let n = match parent.driver().get_available(t) {
        Some(n) => n,
        // CAST: Printed with %u in the C core.
        None => parent.available_instances() as u32,
    };
    writeln!(out, "{n}").map_err(|_| EINVAL)
}

fn description_show(t: &MdevType, out: &mut ShowBuffer<'_>) -> Result {
    t.parent().driver().show_description(t, out)
}

static CREATE: KobjAttribute<MdevType> = KobjAttribute::write_only(c"create", create_store);
static DEVICE_API: KobjAttribute<MdevType> =
    KobjAttribute::read_only(c"device_api", device_api_show);
static NAME: KobjAttribute<MdevType> = KobjAttribute::read_only(c"name", name_show);
static AVAILABLE_INSTANCES: KobjAttribute<MdevType> =
    KobjAttribute::read_only(c"available_instances", available_instances_show);
static DESCRIPTION: KobjAttribute<MdevType> =
    KobjAttribute::read_only(c"description", description_show);

static MDEV_TYPE_KTYPE: KobjType<MdevType> = KobjType::new(
    mdev_type_release,
    sysfs_groups!(KobjAttribute<MdevType>: [{
        attrs: [CREATE, DEVICE_API, NAME, AVAILABLE_INSTANCES, DESCRIPTION],
    }]),
);

/// The release of a type's kobject: the last reference to it is gone.
///
/// # Safety
///
/// Called by the kobject core, once, with the kobject of an added `mdev_type`.
unsafe extern "C" fn mdev_type_release(kobj: *mut bindings::kobject) {
    // SAFETY: `kobj` is the kobject of an `mdev_type`, released once; the type is
    // alive, because its parent's unregistration waits for this release (below).
    let parent = unsafe { (*kernel::container_of!(kobj, ffi::mdev_type, kobj)).parent };
    // Pairs with the teardown::track() in `add_type`. The vendor may free the type and
    // the parent as soon as this returns: nothing of them is touched after it. (The
    // reference to the parent device that the C core puts here is the teardown
    // entry's, put when the last of these releases has run.)
    crate::teardown::released(parent);
}

/// The name of a type's directory, NUL-terminated: `<driver>-<sysfs_name>`, where
/// `driver` is `dev_driver_string()` of the parent device (its driver's name, else its
/// bus's, else its class's), as in the C core.
pub(crate) fn type_dir_name(driver: &CStr, sysfs_name: &CStr) -> Result<KVec<u8>> {
    let (d, s) = (driver.to_bytes(), sysfs_name.to_bytes());
    let mut name = KVec::with_capacity(d.len() + s.len() + 2, GFP_KERNEL)?;
    name.extend_from_slice(d, GFP_KERNEL)?;
    name.push(b'-', GFP_KERNEL)?;
    name.extend_from_slice(s, GFP_KERNEL)?;
    name.push(0, GFP_KERNEL)?;
    Ok(name)
}

/// A type of a parent, added by [`Registration::add_type`]: its kobject, with the
/// type's attributes, and its `devices` directory. Dropping it removes both, the
/// directory first (the fields' order), as `mdev_type_remove()`.
///
/// # Invariants
///
/// `_devices` is the `devices` directory in `_kobj`, and the type's `devices_kobj`
/// points to it; the type's `parent` is set.
struct AddedType {
    _devices: KobjectDir,
    _kobj: Kobject<MdevType>,
}

/// What a parent's registration made: the kset of its types, the types added to it,
/// and the `mdev_bus` link. The parent's teardown entry keeps it from [`register`] to
/// [`unregister`] ([`crate::teardown::keep`], [`crate::teardown::take`]); [`tear_down`]
/// undoes it, the one teardown of an unregistration and of a failed registration.
///
/// # Invariants
///
/// `types` holds the parent's first `types.len()` types, added to `kset` in that
/// order; the others are not in use. `link` is the parent device's. `parent` is the
/// registered parent; it, its device and its types stay valid until the value is
/// dropped (the header's contract, and the teardown's wait).
pub(crate) struct Registration {
    /// The parent this registration is of: what [`tear_down`] checks its gate against.
    parent: NonNull<ffi::mdev_parent>,
    link: Option<CompatLink>,
    types: KVec<AddedType>,
    kset: Kset,
}

// SAFETY: `parent` is only compared, and viewed by `tear_down` as a `Parent`, whose
// users run on any thread (sysfs callbacks, unregistration); the other fields are
// `Send`.
unsafe impl Send for Registration {}

impl Registration {
    /// Starts the registration of the parent whose gate `closed` holds closed: makes
    /// the kset of its types, `<parent>/mdev_supported_types` (`ENOMEM` if it fails, as
    /// the C core returns). Nothing is left made on failure.
    fn new(closed: &Closed<'_>) -> Result<Self> {
        let p = closed.parent();
        // Allocated first, so that adding a type allocates nothing the rollback would
        // have to undo.
        let types = KVec::with_capacity(p.types().len(), GFP_KERNEL)?;
        let kset = Kset::create_and_add(c"mdev_supported_types", p.device())?;
        // SAFETY: Being registered: nothing else reads the field yet. A copy for C
        // readers; the kset is owned by this value.
        unsafe { (*p.raw()).mdev_types_kset = kset.as_raw() };
        // INVARIANT: The kset is made and no type is added yet; `p` is registered.
        Ok(Registration {
            parent: NonNull::from(p).cast(),
            link: None,
            types,
            kset,
        })
    }

    /// Adds the next type of the parent whose gate `closed` holds closed to the kset:
    /// its kobject, with the type's attributes, and its `devices` directory. `ENOMEM`
    /// or the kobject core's error if it fails; what this call made is removed again,
    /// as in the C core's `mdev_type_add()`. `EINVAL` and a warning if `closed` is not
    /// the gate of this registration's parent.
    fn add_type(&mut self, closed: &Closed<'_>) -> Result {
        let p = closed.parent();
        if kernel::warn_on!(!core::ptr::eq(self.parent.as_ptr(), p.raw())) {
            return Err(EINVAL);
        }
        let t = *p.types().get(self.types.len()).ok_or(EINVAL)?;
        // SAFETY: A vendor type (type invariant); the vendor sets `sysfs_name`
        // (required) to a NUL-terminated string that outlives the type.
        let sysfs_name = unsafe { CStr::from_char_ptr((*t).sysfs_name) };
        let name = type_dir_name(p.driver_string(), sysfs_name)?;
        let name = CStr::from_bytes_with_nul(&name).map_err(|_| EINVAL)?;
        // SAFETY: The type is not in use (type invariant): nothing else reads these
        // fields.
        unsafe {
            (*t).devices_kobj = core::ptr::null_mut();
            (*t).parent = p.raw();
        }
        // The kobject is initialised below on every path, and its release, whenever it
        // runs, is waited for by the teardown. Pairs with the teardown::released() in
        // `mdev_type_release`.
        crate::teardown::track(p.raw());
        // SAFETY: `t` is a type not in use (type invariant), valid until its release,
        // which the teardown waits for; `MDEV_TYPE_KTYPE` is only used here, so its
        // kobjects are the `kobj` of `MdevType`s; their `parent`, which `is_visible`
        // reads, is set; no attribute but the ktype's is added to them (the `devices`
        // directory and the links are other kobjects).
        let kobj = unsafe {
            Kobject::init_and_add(
                NonNull::new_unchecked(t).cast::<MdevType>(),
                &MDEV_TYPE_KTYPE,
                &self.kset,
                name,
            )
        }?;
        // On failure `kobj` is dropped: deleted and put, as the C core does.
        let devices = KobjectDir::create_and_add(c"devices", &kobj)?;
        // SAFETY: Not in use yet: the type's `create` file is live, but a create waits
        // at the gate, which `closed` keeps closed until the registration is complete;
        // read by `MdevType::devices_kobj`. A copy for readers of the
        // field; the directory is owned by this value.
        unsafe { (*t).devices_kobj = devices.as_raw() };
        // INVARIANT: Type `types.len()` is added. The capacity was reserved by `new`,
        // so the push does not allocate.
        self.types.push(
            AddedType {
                _devices: devices,
                _kobj: kobj,
            },
            GFP_KERNEL,
        )?;
        Ok(())
    }

    /// Adds every type of the parent whose gate `closed` holds closed.
    fn add_types(&mut self, closed: &Closed<'_>) -> Result {
        while self.types.len() < closed.parent().types().len() {
            self.add_type(closed)?;
        }
        Ok(())
    }

    /// Makes `p`'s `mdev_bus` link, `/sys/class/mdev_bus/<parent>`.
    fn link(&mut self, p: &Parent) -> Result {
        // INVARIANT: The link of the parent device.
        // SAFETY: The parent device outlives the registration, and so this value
        // (type invariant), which owns the link.
        self.link = Some(unsafe { CompatLink::create(p.device()) }?);
        Ok(())
    }
}

impl Drop for Registration {
    /// Removes what the registration made, in the reverse of the order it made it:
    /// the `mdev_bus` link, the types from the last added to the first (each its
    /// `devices` directory, then its kobject, whose `kobject_del()` drains its
    /// attributes), then the kset (a field, dropped after this). The C core's rollback
    /// (`parent_create_sysfs_files()`) removes the types in this order; its
    /// unregistration (`parent_remove_sysfs_files()`) from the first, which nothing
    /// can tell apart: a type's kobject sends no uevent, and the gate is closed.
    fn drop(&mut self) {
        drop(self.link.take());
        while let Some(t) = self.types.pop() {
            drop(t);
        }
    }
}

/// Undoes `reg`, the registration of the parent whose gate `closed` holds: the one
/// teardown of an unregistration and of a failed registration. Under the gate, so that
/// no create or remove can slip in: the `mdev_bus` link, every mdev of the parent
/// (none for a failed registration: its gate was never opened), then the rest of
/// `reg` (its drop). Then, outside the gate (the releases may be delayed, by
/// `DEBUG_KOBJECT_RELEASE` or by a reference outside the core), it waits for the last
/// release of each of them: when it returns nothing of the core reaches the parent or
/// its types, and the vendor may free or re-register them at once (the C core does
/// not wait; see [`crate::teardown`]).
///
/// `reg` must be of `closed`'s parent. Both callers pass the guard of the parent whose
/// registration they hold, so a mismatch is a bug of the core: it is reported, and the
/// teardown still runs, under the gate of `reg`'s own parent. (Returning early instead
/// would leave `reg`'s sysfs objects and the parent's bookkeeping behind, and the
/// vendor would free memory that the core still points into.)
fn tear_down(mut reg: Registration, closed: Closed<'_>) {
    let own: &Parent;
    let closed = if kernel::warn_on!(!core::ptr::eq(reg.parent.as_ptr(), closed.parent().raw())) {
        drop(closed);
        // SAFETY: `reg.parent` is registered and stays valid until `reg` is dropped
        // and the teardown's wait has returned (type invariant), after this function's
        // last use of `own`.
        own = unsafe { Parent::from_raw(reg.parent.as_ptr()) };
        own.close()
    } else {
        closed
    };
    let p = closed.parent();
    drop(reg.link.take());
    device::remove_all_children(&closed);
    drop(reg);
    // Not with the gate held: nothing waiting on it may hold up a release.
    drop(closed);
    crate::teardown::wait(p);
}

/// Registers `parent`: the ABI's `mdev_register_parent()`.
///
/// What it makes, in order: the teardown entry, the parent's fields and gate, the
/// gate closed, the kset of the types, each type, the `mdev_bus` link, the gate
/// opened. A failure undoes what was made in the exact reverse order ([`tear_down`]).
///
/// # Safety
///
/// The header's contract: `parent` is the vendor's, not registered; `dev` is a live
/// device that outlives the registration; `drv` is a registered mdev driver and
/// `types` holds `nr_types` vendor types, all of which outlive the registration.
pub(crate) unsafe fn register(
    parent: *mut ffi::mdev_parent,
    dev: *mut bindings::device,
    drv: *mut ffi::mdev_driver,
    types: *mut *mut ffi::mdev_type,
    nr_types: c_uint,
) -> Result {
    // SAFETY: `dev` is a live device (caller).
    let device: &Device = unsafe { Device::from_raw(dev) };
    // Pairs with the teardown::wait() of `tear_down`, or of a failed start below.
    // First, so that a parent registered twice is refused before it is touched.
    crate::teardown::begin(parent, device.into())?;
    // SAFETY: `parent` is valid for writes and not in use (caller): no other thread
    // reads it until the registration publishes it (its types' files, the bus link).
    // Zeroing is a valid state of every field of the plain C struct.
    unsafe { core::ptr::write_bytes(parent, 0, 1) };
    // SAFETY: The field is valid for writes, not in use (as above), and stays in place
    // while the parent is registered; name and key are static.
    unsafe {
        Gate::init(
            &raw mut (*parent).unreg_sem,
            c"&parent->unreg_sem",
            static_lock_class!(),
        )
    };
    // SAFETY: `parent` is not in use (as above); `drv` is valid for reads (caller).
    unsafe {
        (*parent).dev = dev;
        (*parent).mdev_driver = drv;
        (*parent).types = types;
        (*parent).nr_types = nr_types;
        // CAST: The C core stores the unsigned max_instances in an atomic_t too.
        (*parent).available_instances.counter = (*drv).max_instances as c_int;
    }
    // SAFETY: Filled in above; valid for the registration (caller). Not used after
    // the teardown's wait, which may give it back to the vendor.
    let p = unsafe { Parent::from_raw(parent) };
    // A type's files are live as soon as its kobject is added, before its `devices`
    // directory is made and before the parent is complete: the gate stays closed until
    // the registration is, so a create or remove meanwhile gets `ENODEV`, as during an
    // unregistration. (The C core lets a create in at once; one in that window links
    // the new mdev into the sysfs root.)
    let closed = p.close();
    let mut reg = match Registration::new(&closed) {
        Ok(reg) => reg,
        Err(e) => {
            // Nothing to remove: the gate to open and the bookkeeping's own count to
            // give up.
            drop(closed);
            crate::teardown::wait(p);
            return Err(e);
        }
    };
    // The `mdev_bus` link is how userspace (mdevctl, libvirt) finds parents: without
    // it the registration is not complete, so its failure fails the registration. The
    // C core warns and goes on without it.
    if let Err(e) = reg.add_types(&closed).and_then(|()| reg.link(p)) {
        tear_down(reg, closed);
        return Err(e);
    }
    // Taken back by `unregister`.
    if let Err(reg) = crate::teardown::keep(p.raw(), reg) {
        // No entry for the parent: a bug of the core, which `keep` reports.
        tear_down(reg, closed);
        return Err(EINVAL);
    }
    drop(closed);
    dev_info!(p.device(), "MDEV: Registered\n");
    driver_model::uevent_change(p.device(), c"MDEV_STATE=registered");
    Ok(())
}

/// Unregisters `parent`: the ABI's `mdev_unregister_parent()`. Waits for every create
/// and remove in flight, removes every mdev of the parent, then the types, and
/// returns only when the last release of each of them has run, so that the vendor
/// may free or re-register the parent and its types at once (see [`tear_down`]).
///
/// Must not be called with any lock held that a vendor's `remove` callback, or a
/// sysfs store of the parent's mdevs, takes: it waits for both.
///
/// # Safety
///
/// `parent` must be registered and not being unregistered.
pub(crate) unsafe fn unregister(parent: *mut ffi::mdev_parent) {
    // SAFETY: Registered (caller). Not used after `tear_down`, which may give it back
    // to the vendor; but the vendor's struct itself is valid until this returns.
    let p = unsafe { Parent::from_raw(parent) };
    // No reference is taken for the uevent after the teardown: the vendor keeps the
    // parent device live until this returns (it passed it in, and the C core, too,
    // reads `parent->dev` after its teardown).
    let dev = p.device();
    dev_info!(dev, "MDEV: Unregistering\n");
    // `None` if not registered: the caller broke the contract, which `take` reports.
    if let Some(reg) = crate::teardown::take(p.raw()) {
        tear_down(reg, p.close());
    }
    driver_model::uevent_change(dev, c"MDEV_STATE=unregistered");
}

#[kunit_tests(mdev_rs_type_name)]
mod tests {
    use super::*;

    #[test]
    fn joins_driver_and_sysfs_name() -> Result {
        assert_eq!(&type_dir_name(c"mtty", c"1")?[..], b"mtty-1\0");
        assert_eq!(&type_dir_name(c"mdpy", c"vga")?[..], b"mdpy-vga\0");
        assert_eq!(&type_dir_name(c"", c"x")?[..], b"-x\0");
        assert_eq!(
            &type_dir_name(c"i915", c"GVTg_V5_4")?[..],
            b"i915-GVTg_V5_4\0"
        );
        Ok(())
    }
}
