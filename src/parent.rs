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
use kernel::sync::aref::ARef;
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

    fn raw(&self) -> *mut ffi::mdev_parent {
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

    /// The kset of the types (`mdev_supported_types`).
    fn kset(&self) -> *mut bindings::kset {
        // SAFETY: Set by `register` and not changed (type invariant).
        unsafe { (*self.raw()).mdev_types_kset }
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

    /// Takes one of the parent's instances; `None` when none is left. Called with the
    /// list lock held, which serialises every change of the counter.
    ///
    /// The counter is unsigned in effect, as in the C core (`max_instances` is an
    /// `unsigned int` stored in an `atomic_t`): only 0 means none left.
    pub(crate) fn take_instance(&self) -> Option<()> {
        let c = self.counter();
        let n = c.load(Relaxed);
        if n == 0 {
            return None;
        }
        c.store(n.wrapping_sub(1), Relaxed);
        Some(())
    }

    /// Gives an instance back. Called with the list lock held.
    pub(crate) fn give_back_instance(&self) {
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
    // SAFETY: `kobj` is the kobject of an `mdev_type`, released once; its parent is
    // alive, because its unregistration waits for this release (below).
    let (parent, parent_dev) = unsafe {
        let parent = (*kernel::container_of!(kobj, ffi::mdev_type, kobj)).parent;
        (parent, (*parent).dev)
    };
    // SAFETY: Pairs with the `ARef::into_raw()` in `add_type`: that reference is given
    // back here. A parent's `dev` is not null (the header's contract).
    drop(unsafe { ARef::<Device>::from_raw(NonNull::new_unchecked(parent_dev).cast()) });
    // Pairs with the teardown::track() in `add_type`. The vendor may free the type and
    // the parent as soon as this returns: nothing of them is touched after it.
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

/// Adds the type `t` of the parent `p` to `kset`: its kobject, with the type's
/// attributes, and its `devices` directory. Both are left registered, in the vendor's
/// `struct mdev_type`, until [`remove_types`].
///
/// # Safety
///
/// `t` points to a vendor type of `p`, not in use (never added, or its release ran).
unsafe fn add_type(p: &Parent, kset: &Kset, t: *mut ffi::mdev_type) -> Result {
    // SAFETY: A valid type (caller); the vendor sets `sysfs_name` (required) to a
    // NUL-terminated string that outlives the type.
    let sysfs_name = unsafe { CStr::from_char_ptr((*t).sysfs_name) };
    let name = type_dir_name(p.driver_string(), sysfs_name)?;
    // SAFETY: The name ends with its NUL and has no other (a C string's bytes).
    let name = unsafe { CStr::from_bytes_with_nul_unchecked(&name) };
    // SAFETY: The type is not in use (caller): nothing else reads these fields.
    unsafe {
        (*t).devices_kobj = core::ptr::null_mut();
        (*t).parent = p.raw();
    }
    // A reference to the parent device for the type's kobject. Pairs with the
    // `ARef::from_raw()` in `mdev_type_release`.
    let _ = ARef::into_raw(ARef::<Device>::from(p.device()));
    // The kobject is initialised below on every path, and its release, whenever it
    // runs, is waited for by unregistration. Pairs with the teardown::released() in
    // `mdev_type_release`.
    crate::teardown::track(p.raw());
    // SAFETY: `t` is a type not in use (caller), valid until its release, which the
    // parent's unregistration (or rollback) waits for; `MDEV_TYPE_KTYPE` is only used
    // here, so its kobjects are the `kobj` of `MdevType`s; their `parent`, which
    // `is_visible` reads, is set; no attribute but the ktype's is added to them (the
    // `devices` directory and the links are other kobjects).
    let kobj = unsafe {
        Kobject::init_and_add(
            NonNull::new_unchecked(t).cast::<MdevType>(),
            &MDEV_TYPE_KTYPE,
            kset,
            name,
        )
    }?;
    // On failure `kobj` is dropped: deleted and put, as the C core does.
    let devices = KobjectDir::create_and_add(c"devices", &kobj)?;
    // SAFETY: Not in use yet (caller); read by `MdevType::devices_kobj` and by
    // `remove_types`, which takes the ownership back.
    unsafe { (*t).devices_kobj = devices.into_raw() };
    // Taken back by `remove_types`.
    let _ = kobj.into_raw();
    Ok(())
}

/// Removes the first `added` types of `p`, in the order they were added: for each, its
/// `devices` directory, then its kobject (`kobject_del()` drains its attributes).
///
/// # Safety
///
/// The types `0..added` of `p` were added by [`add_type`] and not removed since.
unsafe fn remove_types(p: &Parent, added: usize) {
    for &t in p.types().iter().take(added) {
        // SAFETY: Added by `add_type` (caller), which gave up the ownership of both.
        unsafe {
            drop(KobjectDir::from_raw((*t).devices_kobj));
            drop(Kobject::from_raw(
                NonNull::new_unchecked(t).cast::<MdevType>(),
            ));
        }
    }
}

/// What a registration made in sysfs, in the order it made it: the kset, its first
/// `added` types, then the `mdev_bus` link. Undone by [`tear_down`].
struct Made {
    kset: Kset,
    added: usize,
    link: Option<CompatLink>,
}

impl Made {
    /// Leaves what was made registered, in the vendor's structs, for unregistration.
    fn keep(self) {
        let _ = self.kset.into_raw();
        if let Some(link) = self.link {
            link.into_raw();
        }
    }

    /// What the registration of `p` made, taken back for its unregistration.
    ///
    /// # Safety
    ///
    /// `p` is registered, and not being unregistered by another caller.
    unsafe fn reclaim(p: &Parent) -> Made {
        // SAFETY: A complete registration made the kset, every type and the link, and
        // gave them up (`Made::keep`, `add_type`); they are this caller's (caller).
        unsafe {
            Made {
                kset: Kset::from_raw(p.kset()),
                added: p.types().len(),
                link: Some(CompatLink::from_raw(p.device())),
            }
        }
    }
}

/// Undoes what the registration of `parent` made: the common tail of unregistration
/// and of a registration that failed after making its kset. The types were usable
/// already, so what was created on them is removed first; all of it under the gate
/// closed, so that no create or remove can slip in between: the `mdev_bus` link,
/// every mdev of the parent, the types, then the kset. Then, outside the gate (the
/// releases may be delayed, by `DEBUG_KOBJECT_RELEASE` or by a reference outside the
/// core), it waits for the last release of each of them: when it returns nothing of
/// the core reaches the parent or its types, and the vendor may free or re-register
/// them at once (the C core does not wait; see [`crate::teardown`]).
///
/// # Safety
///
/// `parent` was filled in by [`register`], and `made` is what its registration made.
unsafe fn tear_down(parent: *mut ffi::mdev_parent, made: Made) {
    {
        // SAFETY: Filled in by `register` (caller); alive until the wait below.
        let p = unsafe { Parent::from_raw(parent) };
        let gate = p.close();
        let Made { kset, added, link } = made;
        drop(link);
        device::remove_all_children(&gate);
        // SAFETY: The types `0..added` were added (caller), and no mdev refers to them.
        unsafe { remove_types(p, added) };
        drop(kset);
    }
    crate::teardown::wait(parent);
}

/// Registers `parent`: the ABI's `mdev_register_parent()`.
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
    // Pairs with the teardown::wait() of unregistration or of the failures below.
    // First, so that a parent registered twice is refused before it is touched.
    crate::teardown::begin(parent)?;
    // SAFETY: `parent` is the vendor's and not in use; `drv` is valid (caller).
    unsafe {
        core::ptr::write_bytes(parent, 0, 1);
        Gate::init(
            &raw mut (*parent).unreg_sem,
            c"&parent->unreg_sem",
            static_lock_class!(),
        );
        (*parent).dev = dev;
        (*parent).mdev_driver = drv;
        (*parent).types = types;
        (*parent).nr_types = nr_types;
        // CAST: The C core stores the unsigned max_instances in an atomic_t too.
        (*parent).available_instances.counter = (*drv).max_instances as c_int;
    }
    // SAFETY: Filled in above; valid for the registration (caller). Not used after a
    // `tear_down`, which may give it back to the vendor.
    let p = unsafe { Parent::from_raw(parent) };

    let kset = match Kset::create_and_add(c"mdev_supported_types", p.device()) {
        Ok(kset) => kset,
        Err(e) => {
            crate::teardown::wait(parent);
            return Err(e);
        }
    };
    // SAFETY: `parent` is being registered: nothing else reads the field yet.
    unsafe { (*parent).mdev_types_kset = kset.as_raw() };
    let mut made = Made {
        kset,
        added: 0,
        link: None,
    };
    for &t in p.types() {
        // SAFETY: `t` is a vendor type of `p`, not in use (caller).
        if let Err(e) = unsafe { add_type(p, &made.kset, t) } {
            // SAFETY: `made` is what this registration made.
            unsafe { tear_down(parent, made) };
            return Err(e);
        }
        made.added += 1;
    }

    // The `mdev_bus` link is how userspace (mdevctl, libvirt) finds parents: without
    // it the registration is not complete, so its failure fails the registration. The
    // C core warns and goes on without it.
    // SAFETY: `dev` outlives the registration (caller), and so the link.
    match unsafe { CompatLink::create(p.device()) } {
        Ok(link) => made.link = Some(link),
        Err(e) => {
            // SAFETY: `made` is what this registration made.
            unsafe { tear_down(parent, made) };
            return Err(e);
        }
    }
    // Taken back by `unregister`.
    made.keep();
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
    // SAFETY: Registered (caller). `p` is not used after `tear_down`.
    let p = unsafe { Parent::from_raw(parent) };
    let dev = p.dev();
    dev_info!(p.device(), "MDEV: Unregistering\n");
    // SAFETY: Registered, and not being unregistered by another caller (caller).
    let made = unsafe { Made::reclaim(p) };
    // SAFETY: What the registration of `parent` made.
    unsafe { tear_down(parent, made) };
    // SAFETY: `dev` outlives the registration (the header's contract), so it is live
    // now although the parent may not be.
    let d: &Device = unsafe { Device::from_raw(dev) };
    driver_model::uevent_change(d, c"MDEV_STATE=unregistered");
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
