// SPDX-License-Identifier: GPL-2.0

//! A safe Rust API for mdev vendor drivers, over the C ABI of `include/linux/mdev.h`.
//!
//! Because it only uses that ABI, a vendor driver written with it loads on any mdev
//! core: the kernel's C core and this project's Rust core alike.
//!
//! A vendor driver implements [`Driver`] and keeps a [`Registration`] for as long as it
//! wants its mediated devices to exist. The registration owns everything the header
//! asks a vendor to provide: the `struct mdev_driver`, a parent device with a clean
//! name (a class device named after the driver, so its types are `<name>-<type>`), the
//! `struct mdev_parent` and the `struct mdev_type`s. Dropping it unregisters the
//! parent, which removes every mdev (waiting for creates and removes in flight), then
//! the parent device and the driver.
//!
//! Teardown rule: the memory the core points into (the parent, the types, the
//! driver struct) is freed only after the parent device's release has run, and
//! dropping the registration waits for that release. Each type's kobject holds a
//! reference to the parent device until its release, and each mdev holds one to its
//! type's kobject until its own release (in the kernel's C core and in `mdev_rs`
//! alike), so the parent device's release is the last of them: no release of a type
//! or an mdev, however late (`DEBUG_KOBJECT_RELEASE`, a reference held outside the
//! core), can read freed memory, on either core.
//!
//! Per-mdev data is what [`Driver::probe`] returns; it lives until [`Driver::remove`],
//! which gets it back, exactly once. Both are called with the mdev's device lock held
//! and never with the core's list lock held; `probe` only from a create, with the
//! parent's gate held, `remove` with the gate held when a user removes the mdev or the
//! parent is unregistered, but not when a user unbinds the mdev through
//! `/sys/bus/mdev/drivers/<NAME>/unbind`. The mdev then stays, unbound, until it is
//! removed; it cannot be bound again (`bind` fails with `ENODEV`). On either path the
//! registration (the parent, its types, the driver) stays registered until `remove`
//! returns: its unregistration waits for the mdev's device lock. See "Unbind" in
//! `Documentation/design.rst`.
//!
//! Using this module: the crate provides `crate::mdev_bindings`, the bindgen output of
//! `mdev_bindings.mk`, and `crate::sysfs`, the attribute framework `lib/sysfs.rs`
//! (the one the core uses too), and includes this file as a module.

use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::bindings;
use kernel::device;
use kernel::device::Bound;
use kernel::device::Core;
use kernel::device::DeviceContext;
use kernel::device::Normal;
use kernel::error::from_err_ptr;
use kernel::error::to_result;
use kernel::error::VTABLE_DEFAULT_ERROR;
use kernel::prelude::*;
use kernel::sync::Completion;
use kernel::types::Opaque;

use crate::mdev_bindings as ffi;
use crate::sysfs;
use crate::sysfs::DeviceObject;
use crate::sysfs::OfDevice;
use crate::sysfs::OwnFile;
use crate::sysfs::Written;

pub(crate) use crate::sysfs::ShowBuffer;

/// One type of mediated device a driver offers.
pub(crate) struct TypeSpec {
    /// The type's name in sysfs, after `<driver name>-`.
    pub(crate) sysfs_name: &'static CStr,
    /// The type's human-readable name (its `name` attribute).
    pub(crate) pretty_name: &'static CStr,
}

/// A mediated device, as a vendor driver sees it.
///
/// `Ctx` says what is known about it where the reference is handed out, as for the
/// kernel's bus devices (`rust/kernel/device.rs`): [`Core`] in [`Driver::probe`] and
/// [`Driver::remove`] (the mdev's device lock is held, it is being bound or unbound),
/// [`Bound`] in vendor attribute callbacks (it is bound to the driver, whose data is
/// handed out alongside). A `Device<Core>` or `Device<Bound>` derefs to the contexts
/// below it, and [`AsRef`] gives the generic `device::Device` in the same context, to
/// allocate what needs a bound parent device (a VFIO device, see `vfio.rs`).
///
/// The driver's per-mdev data is never reachable from a `Device` alone: it is given to
/// the callbacks that run while the mdev is bound, and taken back in `remove`.
///
/// # Invariants
///
/// `0` is a live `struct mdev_device`, in the state `Ctx` says, for the lifetime of
/// the reference.
#[repr(transparent)]
pub(crate) struct Device<Ctx: DeviceContext = Normal>(Opaque<ffi::mdev_device>, PhantomData<Ctx>);

impl<Ctx: DeviceContext> Device<Ctx> {
    /// # Safety
    ///
    /// `ptr` must point to an mdev that stays alive, in the state `Ctx` says, for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut ffi::mdev_device) -> &'a Self {
        // SAFETY: Transparent wrapper; alive for `'a` (caller).
        unsafe { &*ptr.cast::<Self>() }
    }

    fn dev(&self) -> *mut bindings::device {
        // SAFETY: The mdev is alive (type invariant).
        unsafe { &raw mut (*self.0.get()).dev }
    }
}

// SAFETY: `Device<Ctx>` is a transparent wrapper of `Opaque<mdev_device>` whatever `Ctx`.
kernel::impl_device_context_deref!(unsafe { Device });

impl<Ctx: DeviceContext> AsRef<device::Device<Ctx>> for Device<Ctx> {
    fn as_ref(&self) -> &device::Device<Ctx> {
        // SAFETY: The mdev's `struct device` lives as long as the mdev, in the same state
        // (type invariant).
        unsafe { device::Device::from_raw(self.dev()) }
    }
}

/// A vendor driver of mediated devices.
#[vtable]
pub(crate) trait Driver: Send + Sync + Sized + 'static {
    /// What the driver keeps per mdev, from [`Driver::probe`] to [`Driver::remove`].
    type Data: Send + Sync + 'static;

    /// The driver's name: of its `struct mdev_driver`, of its parent device and of
    /// that device's class; its types appear as `<NAME>-<sysfs_name>`.
    const NAME: &'static CStr;
    /// The `device_api` of its types (`vfio-pci`, ...).
    const DEVICE_API: &'static CStr;
    /// Its types.
    const TYPES: &'static [TypeSpec];
    /// When the driver has no `get_available`, the core counts instances: how many
    /// the parent has, shared by all types.
    const MAX_INSTANCES: u32 = 0;
    /// Per-mdev vendor attribute groups, built by `sysfs::sysfs_groups!` from
    /// [`Attribute`]s. Their files exist only while the mdev is bound: created after
    /// `probe`, removed (waiting for the stores in flight) before `remove`.
    const ATTRIBUTE_GROUPS: Groups<Self> = sysfs::Groups::NONE;

    /// A new mdev of type `TYPES[ty]` is being created. Called with the parent's gate
    /// held for reading and the mdev's device lock held, from the create only (an mdev
    /// is never bound again). An error fails the create.
    fn probe(&self, mdev: &Device<Core<'_>>, ty: usize) -> Result<Pin<KBox<Self::Data>>>;

    /// The mdev is unbound from the driver; `data` is what `probe` returned. Called
    /// once per successful `probe`, with the mdev's device lock held, and with the
    /// parent's gate held for reading when a user removes the mdev, for writing when
    /// the registration is dropped, not at all when a user writes the mdev's name to
    /// the driver's `unbind` file (the mdev then stays, unbound, until it is removed).
    /// So it may run while the registration is being dropped (which waits for it), and
    /// concurrently with `remove` of other mdevs; the device lock serialises it only
    /// with the callbacks of the same mdev.
    fn remove(&self, mdev: &Device<Core<'_>>, data: Pin<KBox<Self::Data>>);

    /// How many more mdevs of type `TYPES[ty]` can be created. Called with no core
    /// lock held. A driver that has it enforces its limit in `probe`.
    fn get_available(&self, _ty: usize) -> u32 {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// What a [`Registration`] keeps on the heap, at a stable address: the C structs the
/// core holds pointers to, and the driver.
///
/// # Invariants
///
/// Once registered, `driver`, `parent` and `types` are registered with the core, and
/// `types_ptrs[i]` points to `types[i]`. Once `dev_initialized`, `dev` is a device
/// whose release completes `dev_released`; the allocation is not freed before that.
#[pin_data]
struct Inner<T: Driver> {
    driver: Opaque<ffi::mdev_driver>,
    parent: Opaque<ffi::mdev_parent>,
    /// The storage `type_ptrs` points into; never read, only kept.
    _types: KVec<Opaque<ffi::mdev_type>>,
    type_ptrs: KVec<*mut ffi::mdev_type>,
    class: *mut bindings::class,
    /// The parent device, a class device of `class` named after the driver.
    #[pin]
    dev: Opaque<bindings::device>,
    /// Completed by the parent device's release: the last user of this memory.
    #[pin]
    dev_released: Completion,
    dev_initialized: bool,
    dev_added: bool,
    driver_registered: bool,
    parent_registered: bool,
    data: T,
}

/// The release of the parent device: its last reference is gone, after the releases
/// of every type and mdev of the parent (see the module's teardown rule).
///
/// # Safety
///
/// Called by the driver core, once, with the `dev` of an `Inner<T>`.
unsafe extern "C" fn parent_device_release<T: Driver>(dev: *mut bindings::device) {
    // SAFETY: `dev` is the `dev` field of an `Inner<T>` (caller), which is not freed
    // before `dev_released` is completed (type invariant).
    let inner =
        unsafe { &*kernel::container_of!(dev.cast::<Opaque<bindings::device>>(), Inner<T>, dev) };
    // Nothing of `inner` is touched after this: the registration's drop frees it.
    inner.dev_released.complete_all();
}

/// A registered vendor driver with its parent and types; unregistered when dropped.
pub(crate) struct Registration<T: Driver> {
    inner: NonNull<Inner<T>>,
    // Registered: `inner` must stay where it is.
    _pin: PhantomData<Pin<KBox<Inner<T>>>>,
}

// SAFETY: The registration only hands out `&T` (which is `Sync`) and unregisters on
// drop, which may happen on any thread.
unsafe impl<T: Driver> Send for Registration<T> {}
// SAFETY: As above.
unsafe impl<T: Driver> Sync for Registration<T> {}

/// The registration whose parent has the type `mtype`.
///
/// # Safety
///
/// `mtype` must be a type of a registered `Registration<T>`.
unsafe fn inner_of_type<'a, T: Driver>(mtype: *mut ffi::mdev_type) -> &'a Inner<T> {
    // SAFETY: The type's parent is `Inner<T>::parent` of a live registration (caller).
    unsafe {
        let parent = (*mtype).parent;
        &*kernel::container_of!(parent.cast::<Opaque<ffi::mdev_parent>>(), Inner<T>, parent)
    }
}

impl<T: Driver> Inner<T> {
    /// The index in `T::TYPES` of `mtype`. A core only passes the registration's own
    /// types; any other is a bug of the core, reported and refused with `EINVAL`.
    fn type_index(&self, mtype: *mut ffi::mdev_type) -> Result<usize> {
        let ty = self.type_ptrs.iter().position(|&p| core::ptr::eq(p, mtype));
        kernel::warn_on!(ty.is_none());
        ty.ok_or(EINVAL)
    }
}

/// # Safety
///
/// Called by the core for a new mdev of one of a `Registration<T>`'s types.
unsafe extern "C" fn probe_callback<T: Driver>(mdev: *mut ffi::mdev_device) -> kernel::ffi::c_int {
    // SAFETY: The mdev is alive during probe; its type is one of ours (caller).
    let (mtype, inner, dev) = unsafe {
        let mtype = (*mdev).type_;
        (
            mtype,
            inner_of_type::<T>(mtype),
            Device::<Core<'_>>::from_raw(mdev),
        )
    };
    match inner
        .type_index(mtype)
        .and_then(|ty| inner.data.probe(dev, ty))
    {
        Ok(data) => {
            // SAFETY: `data` stays pinned: it is only given back, as a `Pin`, by
            // `remove_callback`.
            let data = KBox::into_raw(unsafe { Pin::into_inner_unchecked(data) });
            // SAFETY: The device is being bound to this driver; its driver data is ours
            // until `remove_callback` takes it back.
            unsafe { bindings::dev_set_drvdata(dev.dev(), data.cast()) };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the core for a bound mdev of one of a `Registration<T>`'s types.
unsafe extern "C" fn remove_callback<T: Driver>(mdev: *mut ffi::mdev_device) {
    // SAFETY: As in `probe_callback`; the driver data was set by a successful probe
    // (remove is only called for bound devices) and is taken back once, here.
    unsafe {
        let inner = inner_of_type::<T>((*mdev).type_);
        let dev = Device::<Core<'_>>::from_raw(mdev);
        let data = KBox::from_raw(bindings::dev_get_drvdata(dev.dev()).cast::<T::Data>());
        bindings::dev_set_drvdata(dev.dev(), core::ptr::null_mut());
        inner.data.remove(dev, Pin::new_unchecked(data));
    }
}

/// # Safety
///
/// Called by the core with a type of a `Registration<T>`.
unsafe extern "C" fn get_available_callback<T: Driver>(mtype: *mut ffi::mdev_type) -> u32 {
    // SAFETY: The type is one of ours (caller).
    let inner = unsafe { inner_of_type::<T>(mtype) };
    // None of a type that is not ours (after the warning).
    inner
        .type_index(mtype)
        .map_or(0, |ty| inner.data.get_available(ty))
}

impl<T: Driver> Registration<T> {
    /// Registers `data` as a vendor driver, creates its parent device and registers
    /// the parent with its types. `module` is the vendor's module.
    pub(crate) fn new(data: T, module: &'static ThisModule) -> Result<Self> {
        let mut types = KVec::with_capacity(T::TYPES.len(), GFP_KERNEL)?;
        let mut type_ptrs = KVec::with_capacity(T::TYPES.len(), GFP_KERNEL)?;
        for spec in T::TYPES {
            let t = Opaque::<ffi::mdev_type>::zeroed();
            // SAFETY: `t` is not shared yet.
            unsafe {
                (*t.get()).sysfs_name = spec.sysfs_name.as_char_ptr();
                (*t.get()).pretty_name = spec.pretty_name.as_char_ptr();
            }
            types.push(t, GFP_KERNEL)?;
        }
        for t in types.iter() {
            type_ptrs.push(t.get(), GFP_KERNEL)?;
        }
        let inner = KBox::pin_init(
            pin_init!(Inner {
                driver: Opaque::zeroed(),
                parent: Opaque::zeroed(),
                _types: types,
                type_ptrs,
                class: core::ptr::null_mut(),
                dev: Opaque::zeroed(),
                dev_released <- Completion::new(),
                dev_initialized: false,
                dev_added: false,
                driver_registered: false,
                parent_registered: false,
                data,
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: The allocation is only ever used pinned: `Registration` keeps it at
        // this address until its drop frees it.
        let inner = KBox::into_raw(unsafe { Pin::into_inner_unchecked(inner) });
        let inner = NonNull::new(inner).ok_or(ENOMEM)?;
        // From here on, `Registration`'s drop undoes what was done, whatever it was.
        let reg = Registration {
            inner,
            _pin: PhantomData,
        };
        // SAFETY: `inner` is ours and not shared until registered.
        unsafe { reg.register(module)? };
        Ok(reg)
    }

    /// # Safety
    ///
    /// Called once, from `new`, before anything else knows the registration.
    unsafe fn register(&self, module: &'static ThisModule) -> Result {
        let inner = self.inner.as_ptr();
        // SAFETY: `inner` is valid and ours (caller); each step is undone by `drop`,
        // which checks what was done.
        unsafe {
            let drv = (*inner).driver.get();
            (*drv).device_api = T::DEVICE_API.as_char_ptr();
            (*drv).max_instances = T::MAX_INSTANCES;
            (*drv).probe = Some(probe_callback::<T>);
            (*drv).remove = Some(remove_callback::<T>);
            if T::HAS_GET_AVAILABLE {
                (*drv).get_available = Some(get_available_callback::<T>);
            }
            (*drv).driver.name = T::NAME.as_char_ptr();
            (*drv).driver.dev_groups = T::ATTRIBUTE_GROUPS.as_raw();
            (*drv).driver.owner = module.as_ptr();
            to_result(ffi::mdev_register_driver(drv))?;
            (*inner).driver_registered = true;

            (*inner).class = from_err_ptr(bindings::class_create(T::NAME.as_char_ptr()))?;
            let dev = (*inner).dev.get();
            bindings::device_initialize(dev);
            (*dev).class = (*inner).class;
            (*dev).release = Some(parent_device_release::<T>);
            (*inner).dev_initialized = true;
            to_result(bindings::dev_set_name(
                dev,
                c"%s".as_char_ptr(),
                T::NAME.as_char_ptr(),
            ))?;
            to_result(bindings::device_add(dev))?;
            (*inner).dev_added = true;
            // CAST: At most a handful of types.
            let nr = (*inner).type_ptrs.len() as u32;
            to_result(ffi::mdev_register_parent(
                (*inner).parent.get(),
                dev,
                drv,
                (*inner).type_ptrs.as_mut_ptr(),
                nr,
            ))?;
            (*inner).parent_registered = true;
        }
        Ok(())
    }
}

impl<T: Driver> Drop for Registration<T> {
    fn drop(&mut self) {
        let inner = self.inner.as_ptr();
        // SAFETY: `inner` is ours; each step is undone only if it was done, in the
        // reverse order of `register`.
        unsafe {
            if (*inner).parent_registered {
                // Removes every mdev, waiting for creates and removes in flight.
                ffi::mdev_unregister_parent((*inner).parent.get());
            }
            if (*inner).dev_added {
                bindings::device_del((*inner).dev.get());
            }
            if (*inner).dev_initialized {
                // Pairs with device_initialize(). The types' kobjects and the mdevs may
                // still hold references (the C core does not wait for their release):
                // the memory is freed only once the device's release ran.
                bindings::put_device((*inner).dev.get());
                (*inner).dev_released.wait_for_completion();
            }
            if !(*inner).class.is_null() {
                bindings::class_destroy((*inner).class);
            }
            if (*inner).driver_registered {
                ffi::mdev_unregister_driver((*inner).driver.get());
            }
            drop(KBox::from_raw(inner));
        }
    }
}

/// A vendor attribute's `show`: gets the driver, the bound mdev and its data.
pub(crate) type ShowFn<T> =
    fn(&T, &Device<Bound>, &<T as Driver>::Data, &mut ShowBuffer<'_>) -> Result;
/// A vendor attribute's `store`: gets the driver, the bound mdev, its data and what
/// was written; returns how much it consumed, at most what was written and not
/// nothing of a non-empty write (either is a driver bug, and the write fails with
/// `EIO` instead of telling userspace more than it wrote, or nothing at all).
pub(crate) type StoreFn<T> = fn(&T, &Device<Bound>, &<T as Driver>::Data, &[u8]) -> Result<usize>;

/// The objects the vendor attributes of `T` are on: the bound mdevs of `T`. Their
/// methods get the driver, the mdev and its data.
pub(crate) struct BoundMdev<T>(PhantomData<T>);

/// A per-mdev vendor attribute of driver `T`: `Attribute::new(name, show, store)`,
/// readable (0444) with a `show`, writable by root (0200) with a `store`.
pub(crate) type Attribute<T> = sysfs::DeviceAttribute<BoundMdev<T>>;

/// The vendor attribute groups of driver `T`, as [`Driver::ATTRIBUTE_GROUPS`] takes
/// them: `sysfs::sysfs_groups!(mdev::Attribute<Driver>: [{ name: ..., attrs: [...] }])`.
/// The macro builds statics, which cannot use `Self`: name the driver type
/// (`mdev::Attribute<Mtty>`), also inside `impl Driver for Mtty`.
pub(crate) type Groups<T> = sysfs::Groups<OfDevice<BoundMdev<T>>>;

// SAFETY: Attributes of `BoundMdev<T>` are only registered through
// `T::ATTRIBUTE_GROUPS`, the `dev_groups` of `T`'s driver, so on mdevs of `T`'s types,
// and only while they are bound to it (the driver core adds the groups after `probe`
// and removes them, waiting for the calls in flight, before `remove`), with their
// driver data set by `probe_callback`: what `from_device` takes. `store` does not
// remove its file, as `SELF_REMOVABLE` is false (the vendor's groups may have names),
// and must not pass `file` on: its `Target` holds references (the mdev, its data)
// that the file keeps alive. It does not.
unsafe impl<T: Driver> DeviceObject for BoundMdev<T> {
    /// A vendor's store does not remove its file: its groups may have names.
    const SELF_REMOVABLE: bool = false;
    type Target<'a> = (&'a T, &'a Device<Bound>, &'a T::Data);
    type Show = ShowFn<T>;
    type Store = StoreFn<T>;

    unsafe fn from_device<'a>(dev: *mut bindings::device) -> Self::Target<'a> {
        // SAFETY: `dev` is the `dev` of a bound mdev of one of `T`'s types, whose driver
        // data is `probe_callback`'s, for `'a` (the impl's contract and the caller's).
        unsafe {
            let mdev = kernel::container_of!(dev, ffi::mdev_device, dev);
            let inner = inner_of_type::<T>((*mdev).type_);
            (
                &inner.data,
                Device::<Bound>::from_raw(mdev),
                &*bindings::dev_get_drvdata(dev).cast::<T::Data>(),
            )
        }
    }

    fn show(
        show: ShowFn<T>,
        (driver, mdev, data): Self::Target<'_>,
        out: &mut ShowBuffer<'_>,
    ) -> Result {
        show(driver, mdev, data, out)
    }

    fn store(
        store: StoreFn<T>,
        (driver, mdev, data): Self::Target<'_>,
        _file: OwnFile<'_>,
        buf: Written<'_>,
    ) -> Result<usize> {
        store(driver, mdev, data, buf.as_bytes())
    }
}
