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

use kernel::bindings;
use kernel::device::Device;
use kernel::ffi::c_char;
use kernel::ffi::c_int;
use kernel::ffi::c_uint;
use kernel::prelude::*;
use kernel::sync::atomic::Atomic;
use kernel::sync::atomic::Relaxed;
use kernel::sync::static_lock_class;
use kernel::types::Opaque;

use crate::bus;
use crate::device;
use crate::driver::VendorDriver;
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
    // SAFETY: Pairs with the get_device() in `add_type`.
    unsafe { bindings::put_device(parent_dev) };
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

/// Adds the kobject and `devices` directory of `t` under `kset`.
///
/// # Safety
///
/// `t` must point to a vendor type not in use; `parent` must be being registered.
unsafe fn add_type(
    parent: *mut ffi::mdev_parent,
    kset: *mut bindings::kset,
    t: *mut ffi::mdev_type,
) -> Result {
    // SAFETY: `t` and `parent` are valid (caller). `MDEV_TYPE_KTYPE.as_raw()`: the
    // kobject initialised with it is `(*t).kobj`, the field at `KOBJ_OFFSET` of the
    // `MdevType` `t`, alive until `remove_type`'s `kobject_del()` (the vendor frees it
    // only after unregistration); no attributes but the ktype's are added to it (the
    // `devices` kobject and the links are other objects); its `parent`, which
    // `is_visible` reads, is set before `kobject_init_and_add()`.
    unsafe {
        // A type may be registered again (after a failed registration, or after its
        // parent's unregistration): its kobject from then is dead, since both waited
        // for its release, but still holds the freed name and the initialised state.
        // Start from a clean kobject, as the header's zero-initialised types do.
        core::ptr::write_bytes(&raw mut (*t).kobj, 0, 1);
        (*t).devices_kobj = core::ptr::null_mut();
        (*t).kobj.kset = kset;
        (*t).parent = parent;
        // Pairs with the put_device() in `mdev_type_release`.
        bindings::get_device((*parent).dev);
        // The kobject is initialised below on every path, and its release, whenever
        // it runs, is waited for by unregistration. Pairs with the
        // teardown::released() in `mdev_type_release`.
        crate::teardown::track(parent);
        let name = type_dir_name(
            CStr::from_char_ptr(bindings::dev_driver_string((*parent).dev)),
            CStr::from_char_ptr((*t).sysfs_name),
        );
        let ret = match &name {
            Ok(name) => bindings::kobject_init_and_add(
                &raw mut (*t).kobj,
                MDEV_TYPE_KTYPE.as_raw(),
                core::ptr::null_mut(),
                c"%s".as_char_ptr(),
                name.as_ptr(),
            ),
            Err(e) => {
                // The kobject must still be initialised for the put below.
                bindings::kobject_init(&raw mut (*t).kobj, MDEV_TYPE_KTYPE.as_raw());
                e.to_errno()
            }
        };
        if ret != 0 {
            // kobject_init_and_add() holds a reference even when it fails.
            bindings::kobject_put(&raw mut (*t).kobj);
            return Err(Error::from_errno(ret));
        }
        (*t).devices_kobj =
            bindings::kobject_create_and_add(c"devices".as_char_ptr(), &raw mut (*t).kobj);
        if (*t).devices_kobj.is_null() {
            bindings::kobject_del(&raw mut (*t).kobj);
            bindings::kobject_put(&raw mut (*t).kobj);
            return Err(ENOMEM);
        }
    }
    Ok(())
}

/// Removes what `add_type` added.
///
/// # Safety
///
/// `t` must have been added by `add_type` and not removed since.
unsafe fn remove_type(t: *mut ffi::mdev_type) {
    // SAFETY: Added by `add_type` (caller).
    unsafe {
        bindings::kobject_put((*t).devices_kobj);
        bindings::kobject_del(&raw mut (*t).kobj);
        bindings::kobject_put(&raw mut (*t).kobj);
    }
}

/// Sends a `KOBJ_CHANGE` uevent with `MDEV_STATE=<state>` on the parent device.
///
/// # Safety
///
/// `dev` must be a live device.
unsafe fn notify(dev: *mut bindings::device, state: &'static CStr) {
    let mut envp: [*mut c_char; 2] = [state.as_char_ptr().cast_mut(), core::ptr::null_mut()];
    // SAFETY: `dev` is live (caller); `envp` is NULL-terminated and only read. A failed
    // uevent is not an error of the registration (the C core ignores it too).
    unsafe {
        bindings::kobject_uevent_env(
            &raw mut (*dev).kobj,
            bindings::kobject_action_KOBJ_CHANGE,
            envp.as_mut_ptr(),
        )
    };
}

/// Undoes a registration that failed after its first `added` types were added to
/// `kset`: they were usable already, so what was created on them is removed first,
/// then the types and the kset, under the gate as unregistration does, so that no
/// create can slip in between; then it waits for their last releases before the
/// vendor gets its memory back.
///
/// # Safety
///
/// `parent` is being registered by [`register`], which created `kset` and added the
/// parent's types `0..added` to it and nothing else.
unsafe fn roll_back(parent: *mut ffi::mdev_parent, kset: *mut bindings::kset, added: usize) {
    {
        // SAFETY: Filled in by `register`; not yet visible to the vendor as registered.
        let p = unsafe { Parent::from_raw(parent) };
        let gate = p.close();
        device::remove_all_children(&gate);
        for &t in p.types().iter().take(added).rev() {
            // SAFETY: Types `0..added` were added (caller).
            unsafe { remove_type(t) };
        }
        // SAFETY: Created by `register` (caller), and its types are gone.
        unsafe { bindings::kset_unregister(kset) };
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

    // SAFETY: `dev` is live (caller).
    let kset = unsafe {
        bindings::kset_create_and_add(
            c"mdev_supported_types".as_char_ptr(),
            core::ptr::null(),
            &raw mut (*dev).kobj,
        )
    };
    if kset.is_null() {
        crate::teardown::wait(parent);
        return Err(ENOMEM);
    }
    // SAFETY: `parent` is being registered.
    unsafe { (*parent).mdev_types_kset = kset };
    // CAST: A `u32` count fits a `usize` on every architecture Linux has.
    for i in 0..nr_types as usize {
        // SAFETY: `types` has `nr_types` entries (caller).
        let t = unsafe { *types.add(i) };
        // SAFETY: `t` is a vendor type not in use; `parent` is being registered.
        if let Err(e) = unsafe { add_type(parent, kset, t) } {
            // SAFETY: Types `0..i` were added to `kset` above.
            unsafe { roll_back(parent, kset, i) };
            return Err(e);
        }
    }

    // The `mdev_bus` link is how userspace (mdevctl, libvirt) finds parents: without
    // it the registration is not complete, so its failure fails the registration. The
    // C core warns and goes on without it.
    // SAFETY: `dev` is live.
    let ret = unsafe { bindings::class_compat_create_link(bus::compat_class(), dev) };
    if ret != 0 {
        // SAFETY: Every type was added to `kset` above.
        // CAST: A `u32` count fits a `usize` on every architecture Linux has.
        unsafe { roll_back(parent, kset, nr_types as usize) };
        return Err(Error::from_errno(ret));
    }
    // SAFETY: `dev` is live for the whole registration (caller).
    let d: &Device = unsafe { Device::from_raw(dev) };
    dev_info!(d, "MDEV: Registered\n");
    // SAFETY: `dev` is live (caller).
    unsafe { notify(dev, c"MDEV_STATE=registered") };
    Ok(())
}

/// Unregisters `parent`: the ABI's `mdev_unregister_parent()`. Waits for every create
/// and remove in flight, removes every mdev of the parent, then the types, and
/// returns only when the last release of each of them has run, so that the vendor
/// may free or re-register the parent and its types at once (the C core does not
/// wait; see [`crate::teardown`]).
///
/// Must not be called with any lock held that a vendor's `remove` callback, or a
/// sysfs store of the parent's mdevs, takes: it waits for both.
///
/// # Safety
///
/// `parent` must be registered and not being unregistered.
pub(crate) unsafe fn unregister(parent: *mut ffi::mdev_parent) {
    // SAFETY: Registered (caller), and stays so until the end of this function.
    let p = unsafe { Parent::from_raw(parent) };
    let dev = p.dev();
    // SAFETY: `dev` outlives the registration (the header's contract).
    let d: &Device = unsafe { Device::from_raw(dev) };
    dev_info!(d, "MDEV: Unregistering\n");
    {
        let gate = p.close();
        // SAFETY: `dev` is live and the link was created by `register`.
        unsafe { bindings::class_compat_remove_link(bus::compat_class(), dev) };
        device::remove_all_children(&gate);
        for &t in p.types() {
            // SAFETY: Added by `register`; no mdev refers to it any more.
            unsafe { remove_type(t) };
        }
        // SAFETY: Created by `register`; its types are gone.
        unsafe { bindings::kset_unregister((*parent).mdev_types_kset) };
    }
    // Outside the gate: the releases may be delayed (DEBUG_KOBJECT_RELEASE) or held up
    // by a reference outside the core.
    crate::teardown::wait(parent);
    // SAFETY: `dev` outlives the registration (the header's contract).
    unsafe { notify(dev, c"MDEV_STATE=unregistered") };
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
