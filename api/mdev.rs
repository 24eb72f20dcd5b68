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
//! The driver describes its types in [`Driver::TYPES`], each with a value of its own
//! [`Driver::TypeInfo`] (as the kernel's buses pair a driver's ID table entries with an
//! `IdInfo`), which `probe` and `get_available` get for the type they are called for.
//!
//! Per-mdev data is what [`Driver::probe`] initialises (an `impl PinInit`, as for the
//! kernel's bus drivers, `rust/kernel/driver.rs`): the API allocates it and keeps it as
//! the mdev's driver data until [`Driver::remove`] has run, exactly once, then drops
//! it. Both are called with the mdev's device lock held
//! and never with the core's list lock held; `probe` only from a create, with the
//! parent's gate held, `remove` with the gate held when a user removes the mdev or the
//! parent is unregistered, but not when a user unbinds the mdev through
//! `/sys/bus/mdev/drivers/<NAME>/unbind`. The mdev then stays, unbound, until it is
//! removed; it cannot be bound again (`bind` fails with `ENODEV`). On either path the
//! registration (the parent, its types, the driver) stays registered until `remove`
//! returns: its unregistration waits for the mdev's device lock. See "Unbind" in
//! `Documentation/design.rst`.
//!
//! Using this module: a vendor crate includes `api/mod.rs`, which provides the bindings
//! of `mdev_bindings.mk` and the attribute framework `lib/sysfs.rs` (the one the core
//! uses too) next to this file.

use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::bindings;
use kernel::device;
use kernel::device::Bound;
use kernel::device::BoundInternal;
use kernel::device::Core;
use kernel::device::CoreInternal;
use kernel::device::DeviceContext;
use kernel::device::Normal;
use kernel::error::from_err_ptr;
use kernel::error::from_result;
use kernel::error::to_result;
use kernel::error::VTABLE_DEFAULT_ERROR;
use kernel::prelude::*;
use kernel::sync::Completion;
use kernel::types::ForeignOwnable;
use kernel::types::Opaque;

use super::bindings::mdev as ffi;
use super::sysfs;
use super::sysfs::DeviceObject;
use super::sysfs::OfDevice;
use super::sysfs::OwnFile;
use super::sysfs::Written;

pub(crate) use super::sysfs::ShowBuffer;

/// One type of mediated device a driver offers, with what the driver keeps about it.
pub(crate) struct TypeSpec<I: 'static> {
    /// The type's name in sysfs, after `<driver name>-`.
    pub(crate) sysfs_name: &'static CStr,
    /// The type's human-readable name (its `name` attribute).
    pub(crate) pretty_name: &'static CStr,
    /// The driver's information about the type ([`Driver::TypeInfo`]), handed to
    /// [`Driver::probe`] and [`Driver::get_available`] for this type.
    pub(crate) info: I,
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
/// the callbacks that run while the mdev is bound, and dropped by the API right after
/// `remove`.
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
///
/// Instances are counted by the driver or by the core, never by neither: a driver
/// implements [`Driver::get_available`] or sets a non-zero [`Driver::MAX_INSTANCES`],
/// exactly one of the two, or [`Registration::new`] does not compile.
#[vtable]
pub(crate) trait Driver: Send + Sync + Sized + 'static {
    /// What the driver keeps about each of its types (the `info` of its [`TypeSpec`]s),
    /// as a bus driver's `IdInfo` is for its ID table.
    type TypeInfo: Sync + 'static;

    /// What the driver keeps per mdev, from [`Driver::probe`] to [`Driver::remove`]:
    /// shared with the vendor attributes' callbacks, dropped by the API after `remove`.
    type Data: Send + Sync + 'static;

    /// The driver's name: of its `struct mdev_driver`, of its parent device and of
    /// that device's class; its types appear as `<NAME>-<sysfs_name>`.
    const NAME: &'static CStr;
    /// The `device_api` of its types (`vfio-pci`, ...).
    const DEVICE_API: &'static CStr;
    /// Its types, each with its [`Driver::TypeInfo`].
    const TYPES: &'static [TypeSpec<Self::TypeInfo>];
    /// For a driver without `get_available`, which has the core count instances: how
    /// many the parent has, shared by all types (the `max_instances` of
    /// `struct mdev_driver`); creates beyond it fail with `EUSERS`. It must then be
    /// set, and not be with `get_available` (which makes the core ignore it): either
    /// mistake is a build error.
    const MAX_INSTANCES: u32 = 0;
    /// Per-mdev vendor attribute groups, built by `sysfs::sysfs_groups!` from
    /// [`Attribute`]s. Their files exist only while the mdev is bound: created after
    /// `probe`, removed (waiting for the shows and stores in flight) before `remove`.
    const ATTRIBUTE_GROUPS: Groups<Self> = sysfs::Groups::NONE;

    /// A new mdev of the type whose [`TypeSpec::info`] is `info` is being created:
    /// returns the initialiser of its data, which the API allocates (pinned) and keeps
    /// as the mdev's driver data. Called with the parent's gate held for reading and the
    /// mdev's device lock held, from the create only (an mdev is not bound again once
    /// unbound; a kernel with `CONFIG_DEBUG_TEST_DRIVER_REMOVE` calls `probe`, `remove`
    /// and `probe` again within the create). An error, of `probe` or of the
    /// initialiser, fails the create.
    fn probe(
        &self,
        mdev: &Device<Core<'_>>,
        info: &Self::TypeInfo,
    ) -> impl PinInit<Self::Data, Error>;

    /// The mdev is unbound from the driver; `data` is what `probe` initialised, dropped
    /// by the API when this returns. Optional: a driver whose data gives its resources
    /// back in its `Drop` needs no `remove`. Called once per successful `probe`, with
    /// the mdev's device lock held, and with the
    /// parent's gate held for reading when a user removes the mdev, for writing when
    /// the registration is dropped, not at all when a user writes the mdev's name to
    /// the driver's `unbind` file (the mdev then stays, unbound, until it is removed).
    /// So it may run while the registration is being dropped (which waits for it), and
    /// concurrently with `remove` of other mdevs; the device lock serialises it only
    /// with the callbacks of the same mdev.
    fn remove(&self, mdev: &Device<Core<'_>>, data: Pin<&Self::Data>) {
        let _ = (mdev, data);
    }

    /// How many more mdevs of the type whose [`TypeSpec::info`] is `info` can be
    /// created. Called with no core lock held. A driver that has it enforces its limit
    /// in `probe`.
    fn get_available(&self, _info: &Self::TypeInfo) -> u32 {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// A type of a [`Registration`]: the `struct mdev_type` the core holds, with the
/// [`TypeSpec`] it was made from, which its callbacks find by `container_of`.
struct Type<I: 'static> {
    mtype: Opaque<ffi::mdev_type>,
    spec: &'static TypeSpec<I>,
}

/// What a [`Registration`] keeps on the heap, at a stable address: the C structs the
/// core holds pointers to, and the driver.
///
/// # Invariants
///
/// Once registered, `driver`, `parent` and `types` are registered with the core, and
/// `type_ptrs[i]` points to `types[i].mtype` (`types` is never reallocated). Once its
/// `device_initialize()` ran, `dev` is a device whose release completes
/// `dev_released`; the allocation is not freed before that. Once the parent is
/// registered, the core's callbacks share it (`&Inner<T>`): nothing in it is written
/// any more (what `Registration` has done is kept in `Registration`, not here).
#[pin_data]
struct Inner<T: Driver> {
    driver: Opaque<ffi::mdev_driver>,
    parent: Opaque<ffi::mdev_parent>,
    /// The storage `type_ptrs` points into, read through those pointers
    /// (`container_of`, in `type_of`).
    types: KVec<Type<T::TypeInfo>>,
    type_ptrs: KVec<*mut ffi::mdev_type>,
    class: *mut bindings::class,
    /// The parent device, a class device of `class` named after the driver.
    #[pin]
    dev: Opaque<bindings::device>,
    /// Completed by the parent device's release: the last user of this memory.
    #[pin]
    dev_released: Completion,
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

/// What [`Registration::register`] has done, for the drop to undo exactly that.
#[derive(Default)]
struct Done {
    driver_registered: bool,
    dev_initialized: bool,
    dev_added: bool,
    parent_registered: bool,
}

/// A registered vendor driver with its parent and types; unregistered when dropped.
///
/// # Invariants
///
/// `inner` is a pinned `KBox<Inner<T>>` allocation that this registration owns
/// (freed only by its drop, after the parent device's release if `done` says the
/// device was initialised); `done` records what of the registration was done.
pub(crate) struct Registration<T: Driver> {
    inner: NonNull<Inner<T>>,
    done: Done,
    // Registered: `inner` must stay where it is.
    _pin: PhantomData<Pin<KBox<Inner<T>>>>,
}

// SAFETY: The registration hands out nothing; the core's callbacks share its `Inner`
// (`&T`, which is `Sync`, and C structs they do not write) from any thread, and the
// drop, which may run on any thread, unregisters before it frees.
unsafe impl<T: Driver> Send for Registration<T> {}
// SAFETY: As above.
unsafe impl<T: Driver> Sync for Registration<T> {}

/// The registration that owns the type `mtype`, and the type.
///
/// # Safety
///
/// `mtype` must be the `mtype` of a [`Type`] of a registered `Registration<T>`, which
/// stays registered for `'a`.
unsafe fn type_of<'a, T: Driver>(
    mtype: *mut ffi::mdev_type,
) -> (&'a Inner<T>, &'a Type<T::TypeInfo>) {
    // SAFETY: `mtype` is the `mtype` of a `Type` in `Inner<T>::types`, and its parent
    // is that `Inner<T>`'s `parent`, both alive for `'a` (caller).
    unsafe {
        let parent = (*mtype).parent;
        (
            &*kernel::container_of!(parent.cast::<Opaque<ffi::mdev_parent>>(), Inner<T>, parent),
            &*kernel::container_of!(
                mtype.cast::<Opaque<ffi::mdev_type>>(),
                Type<T::TypeInfo>,
                mtype
            ),
        )
    }
}

/// # Safety
///
/// Called by the core for a new mdev of one of a `Registration<T>`'s types, with its
/// device lock held.
unsafe extern "C" fn probe_callback<T: Driver>(mdev: *mut ffi::mdev_device) -> kernel::ffi::c_int {
    // SAFETY: The mdev is alive, being bound with its device lock held (caller). Its
    // type is one of ours: `mdev_match()` matches no device, so an mdev is bound only
    // by its core's `device_driver_attach(parent->mdev_driver)`, and `Inner<T>::driver`
    // (private) is registered as a parent's driver only by `register`, with this
    // `Inner<T>`'s own parent and types (both cores: mdev_core.c's mdev_device_create,
    // src/device.rs).
    let ((inner, ty), dev) = unsafe {
        (
            type_of::<T>((*mdev).type_),
            Device::<CoreInternal<'_>>::from_raw(mdev),
        )
    };
    from_result(|| {
        let data = inner.data.probe(dev, &ty.spec.info);
        // Allocated and set as the driver data, until `remove_callback` takes it back.
        dev.as_ref().set_drvdata(data)?;
        Ok(0)
    })
}

/// # Safety
///
/// Called by the core for a bound mdev of one of a `Registration<T>`'s types, with its
/// device lock held.
unsafe extern "C" fn remove_callback<T: Driver>(mdev: *mut ffi::mdev_device) {
    // SAFETY: As in `probe_callback`.
    let ((inner, _), dev) = unsafe {
        (
            type_of::<T>((*mdev).type_),
            Device::<CoreInternal<'_>>::from_raw(mdev),
        )
    };
    // SAFETY: The mdev is bound, with its device lock held (caller).
    let data = unsafe { bindings::dev_get_drvdata(dev.dev()) };
    // Only a bound mdev is removed, and `probe_callback` set the driver data of every
    // mdev it bound; NULL would be a core's bug: then there is nothing to give back.
    if kernel::warn_on!(data.is_null()) {
        return;
    }
    // SAFETY: `data` is the driver data `probe_callback` set, a `Pin<KBox<T::Data>>`,
    // taken back once, here. Nothing else borrows it any more: the driver core removed
    // the vendor attributes' files, waiting for their calls, before this. As
    // `Device::drvdata_obtain()` (crate-private in the kernel crate) does.
    let data = unsafe {
        bindings::dev_set_drvdata(dev.dev(), core::ptr::null_mut());
        Pin::<KBox<T::Data>>::from_foreign(data)
    };
    inner.data.remove(dev, data.as_ref());
    // Dropped after `remove`, before the driver core releases the mdev's devres (the
    // VFIO registration of `vfio.rs`): the order of 7.3's buses, which drop theirs in
    // `post_unbind_rust` (rust/kernel/driver.rs). Here in `remove`, which comes to the
    // same because `probe_callback` cannot fail once it has set the driver data.
    drop(data);
}

/// # Safety
///
/// Called by the core with a type of a `Registration<T>`.
unsafe extern "C" fn get_available_callback<T: Driver>(mtype: *mut ffi::mdev_type) -> u32 {
    // SAFETY: The type is one of ours, registered while the core reads its
    // `available_instances` (caller).
    let (inner, ty) = unsafe { type_of::<T>(mtype) };
    inner.data.get_available(&ty.spec.info)
}

impl<T: Driver> Registration<T> {
    /// Registers `data` as a vendor driver, creates its parent device and registers
    /// the parent with its types. `module` is the vendor's module.
    ///
    /// A driver that counts neither its instances nor has the core count them (no
    /// `get_available`, `MAX_INSTANCES` zero), or both, does not compile.
    pub(crate) fn new(data: T, module: &'static ThisModule) -> Result<Self> {
        kernel::const_assert!(
            T::HAS_GET_AVAILABLE != (T::MAX_INSTANCES > 0),
            "an mdev::Driver implements get_available or sets MAX_INSTANCES, exactly one"
        );
        let mut types = KVec::with_capacity(T::TYPES.len(), GFP_KERNEL)?;
        let mut type_ptrs = KVec::with_capacity(T::TYPES.len(), GFP_KERNEL)?;
        for spec in T::TYPES {
            let t = Type {
                mtype: Opaque::<ffi::mdev_type>::zeroed(),
                spec,
            };
            // SAFETY: `t` is not shared yet.
            unsafe {
                (*t.mtype.get()).sysfs_name = spec.sysfs_name.as_char_ptr();
                (*t.mtype.get()).pretty_name = spec.pretty_name.as_char_ptr();
            }
            types.push(t, GFP_KERNEL)?;
        }
        // `types` is complete: it is not reallocated from here on.
        for t in types.iter() {
            type_ptrs.push(t.mtype.get(), GFP_KERNEL)?;
        }
        let inner = KBox::pin_init(
            pin_init!(Inner {
                driver: Opaque::zeroed(),
                parent: Opaque::zeroed(),
                types,
                type_ptrs,
                class: core::ptr::null_mut(),
                dev: Opaque::zeroed(),
                dev_released <- Completion::new(),
                data,
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: The allocation is only ever used pinned: `Registration` keeps it at
        // this address until its drop frees it.
        let inner = NonNull::from(KBox::leak(unsafe { Pin::into_inner_unchecked(inner) }));
        // INVARIANT: `inner` is the pinned allocation, ours; nothing is done yet.
        // From here on, `Registration`'s drop undoes what was done, whatever it was.
        let mut reg = Registration {
            inner,
            done: Done::default(),
            _pin: PhantomData,
        };
        // SAFETY: `inner` is ours and not shared until registered.
        unsafe { reg.register(module)? };
        Ok(reg)
    }

    /// # Safety
    ///
    /// Called once, from `new`, before anything else knows the registration.
    unsafe fn register(&mut self, module: &'static ThisModule) -> Result {
        let inner = self.inner.as_ptr();
        // SAFETY: `inner` is valid, and ours alone until the driver is registered
        // below (caller): nothing reads the driver struct while it is filled in.
        let drv = unsafe {
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
            drv
        };
        // SAFETY: `drv` is filled in, at a stable address (pinned `Inner`) that outlives
        // its registration: `drop` unregisters it before freeing `inner`. Its name and
        // groups are `'static`; its callbacks are this `T`'s, which `probe_callback`
        // documents.
        to_result(unsafe { ffi::mdev_register_driver(drv) })?;
        self.done.driver_registered = true;

        // SAFETY: `T::NAME` is a `'static` NUL-terminated string, which the class keeps
        // a pointer to; `class_create()` returns a class or an `ERR_PTR`.
        let class = from_err_ptr(unsafe { bindings::class_create(T::NAME.as_char_ptr()) })?;
        // SAFETY: `inner` is ours; `class` is written once, before the parent is
        // registered and so before any callback shares `Inner` (type invariant). Kept
        // even if a later step fails, for `drop` to destroy.
        unsafe { (*inner).class = class };

        // SAFETY: `inner` is valid; `dev` is zeroed storage, pinned, not yet in use.
        let dev = unsafe { (*inner).dev.get() };
        // SAFETY: `dev` is zeroed, as `device_initialize()` requires, and stays at
        // this address until its release, which `drop` waits for before freeing it.
        unsafe { bindings::device_initialize(dev) };
        // SAFETY: Initialised, not added yet: nothing else reads these fields. The
        // class outlives the device (`drop` destroys it after the device's release);
        // the release is this `Inner<T>`'s, as `parent_device_release` requires.
        unsafe {
            (*dev).class = class;
            (*dev).release = Some(parent_device_release::<T>);
        }
        // INVARIANT: `dev`'s release now completes `dev_released`.
        self.done.dev_initialized = true;
        // SAFETY: `dev` is initialised; the format is a NUL-terminated `"%s"` whose
        // one argument is the `'static` NUL-terminated `T::NAME` (copied by the call).
        to_result(unsafe {
            bindings::dev_set_name(dev, c"%s".as_char_ptr(), T::NAME.as_char_ptr())
        })?;
        // SAFETY: `dev` is initialised and named; on failure `drop` puts it, as
        // `device_add()` requires.
        to_result(unsafe { bindings::device_add(dev) })?;
        self.done.dev_added = true;

        // SAFETY: `inner` is valid; `type_ptrs` is complete and not changed any more.
        let (parent, types, nr) = unsafe {
            (
                (*inner).parent.get(),
                (*inner).type_ptrs.as_mut_ptr(),
                // CAST: At most a handful of types.
                (*inner).type_ptrs.len() as u32,
            )
        };
        // SAFETY: The header's contract: `parent` is zeroed storage of ours, pinned, not
        // registered; `dev` is an added device kept until `drop` unregisters the
        // parent; `drv` is registered above; `types` holds `nr` pointers to the
        // `mtype`s of `types` (type invariant), each with its names set in `new`, and
        // all of it lives at a stable address until `drop` unregisters the parent.
        to_result(unsafe { ffi::mdev_register_parent(parent, dev, drv, types, nr) })?;
        self.done.parent_registered = true;
        Ok(())
    }
}

impl<T: Driver> Drop for Registration<T> {
    /// Undoes what `register` did (`done`), in the reverse order, then frees `inner`.
    fn drop(&mut self) {
        let inner = self.inner.as_ptr();
        if self.done.parent_registered {
            // Removes every mdev, waiting for creates and removes in flight, and (on
            // the Rust core) for the last release of the types.
            // SAFETY: `inner` is valid (type invariant); its parent is registered
            // (`done`) and is unregistered once, here.
            unsafe { ffi::mdev_unregister_parent((*inner).parent.get()) };
        }
        if self.done.dev_added {
            // SAFETY: The device was added (`done`) and is deleted once, here; the
            // parent that used it is unregistered above.
            unsafe { bindings::device_del((*inner).dev.get()) };
        }
        if self.done.dev_initialized {
            // Pairs with device_initialize(). The types' kobjects and the mdevs may
            // still hold references (the C core does not wait for their release):
            // the memory is freed only once the device's release ran.
            // SAFETY: Initialised (`done`): this puts the reference that
            // `device_initialize()` gave, once.
            unsafe { bindings::put_device((*inner).dev.get()) };
            // SAFETY: `inner` is valid until freed below; `dev_released` is pinned and
            // initialised, and the device's release completes it (type invariant of
            // `Inner`), as the last reference is put above or by a later put.
            unsafe { (*inner).dev_released.wait_for_completion() };
        }
        // SAFETY: `inner` is valid; the field is written only by `register`, which
        // has returned.
        let class = unsafe { (*inner).class };
        if !class.is_null() {
            // SAFETY: Made by `class_create()` in `register`, destroyed once, here, after
            // the release of its one device (waited for above).
            unsafe { bindings::class_destroy(class) };
        }
        if self.done.driver_registered {
            // SAFETY: Registered (`done`), unregistered once, here, after its parent
            // (above): no mdev is bound to it any more.
            unsafe { ffi::mdev_unregister_driver((*inner).driver.get()) };
        }
        // SAFETY: `inner` is the allocation this registration owns (type invariant),
        // leaked from a `KBox` in `new`; nothing uses it any more: the core let go of
        // the parent, the types and the driver above, and the device's release, its
        // last user, has run. Freed once, here.
        drop(unsafe { KBox::from_raw(inner) });
    }
}

/// A vendor attribute's `show`: gets the driver, the bound mdev and its data.
///
/// Called with no core lock held (neither the gate, the list lock nor the mdev's
/// device lock), on both cores: only the attribute file's kernfs active reference,
/// which the unbind waits for before `remove`, and kernfs's mutex of the open file.
/// The same holds for a `store`.
pub(crate) type ShowFn<T> =
    fn(&T, &Device<Bound>, &<T as Driver>::Data, &mut ShowBuffer<'_>) -> Result;
/// A vendor attribute's `store`: gets the driver, the bound mdev, its data and what
/// was written; returns how much it consumed, at most what was written and not
/// nothing of a non-empty write (either is a driver bug, and the write fails with
/// `EIO` instead of telling userspace more than it wrote, or nothing at all).
/// Locks held: as for a [`ShowFn`], none of the core's.
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
// driver data set by `probe_callback` (a `Pin<KBox<T::Data>>`): what `from_device`
// takes. `store` does not remove its file, as `SELF_REMOVABLE` is false (the vendor's
// groups may have names), and must not pass `file` on: its `Target` holds references
// (the mdev, its data) that the file keeps alive. It does not.
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
            let (inner, _) = type_of::<T>((*mdev).type_);
            (
                &inner.data,
                Device::<Bound>::from_raw(mdev),
                device::Device::<BoundInternal>::from_raw(dev)
                    .drvdata_borrow::<T::Data>()
                    .get_ref(),
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
