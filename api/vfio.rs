// SPDX-License-Identifier: GPL-2.0

//! A safe Rust layer over the parts of `include/linux/vfio.h` an emulated device
//! (a mediated device with no DMA) needs: a `struct vfio_device` that carries the
//! driver's data, registered with the emulated-IOMMU backend, its
//! `struct vfio_device_ops` built from a [`Driver`] trait, and eventfds to signal
//! interrupts.
//!
//! # Lifetime
//!
//! [`register`] lets the VFIO core allocate the `struct vfio_device` with room for a
//! [`Device<T>`], initialises the driver's data in place and registers the device (it
//! appears as `/dev/vfio/<group>` and `/dev/vfio/devices/vfioN`), from the `probe` of
//! the device it emulates. The registration is owned by that device (`devres`): when
//! the device is unbound, after its driver's `remove`, the VFIO device is unregistered,
//! which waits until every user has closed it (asking them through
//! [`Driver::request`] while it waits). The driver keeps an [`ARef<Device<T>>`], which
//! derefs to its data; the data is dropped with the last reference (the `release`
//! op). So the driver's callbacks only run while the emulated device is bound, and
//! no reference a driver keeps can hold the VFIO device registered past that.
//!
//! The standard device ioctls are decoded here (copying from and to userspace, and
//! validating as `vfio_set_irqs_validate_and_prepare()` does), so a driver only sees
//! typed requests: [`Driver::device_info`], [`Driver::irq_info`], [`Driver::set_irqs`],
//! [`Driver::reset`]; `VFIO_DEVICE_GET_REGION_INFO` is [`Driver::region_info`].
//! Reads and writes of the device file get a [`UserSliceWriter`] or
//! [`UserSliceReader`] and the file position.
//!
//! Migration (the v2 uAPI, `struct vfio_migration_ops`) is an optional part of
//! [`Driver`]: a driver that sets [`Driver::MIGRATION`] only produces and checks the
//! bytes of its state; the layer runs the state machine one arc at a time through
//! `vfio_mig_get_next_state()`, hands the stream to userspace as anonymous-inode
//! files (save: read-only, with `VFIO_MIG_GET_PRECOPY_INFO`; resume: write-only),
//! disables a file as soon as its state is left or the device is reset or closed, and
//! answers `vfio_log_ops` with an empty dirty log (see the "Migration" section).
//!
//! Using this module: a vendor crate includes `api/mod.rs` (which provides the bindings
//! of `vfio_bindings.mk`); `crate::LocalModule` (the `module!` macro's) owns the
//! migration files' ops.

use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ops::Deref;
use core::ptr::NonNull;

use kernel::bindings;
use kernel::device;
use kernel::devres;
use kernel::error::from_err_ptr;
use kernel::error::from_result;
use kernel::error::to_result;
use kernel::error::VTABLE_DEFAULT_ERROR;
use kernel::ffi::c_char;
use kernel::ffi::c_int;
use kernel::ffi::c_long;
use kernel::ffi::c_uint;
use kernel::ffi::c_ulong;
use kernel::ioctl::_IO;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::str::as_char_ptr_in_const_context;
use kernel::sync::aref::ARef;
use kernel::sync::aref::AlwaysRefCounted;
use kernel::sync::Arc;
use kernel::sync::Mutex;
use kernel::types::Opaque;
use kernel::uaccess::UserPtr;
use kernel::uaccess::UserSlice;
use kernel::uaccess::UserSliceReader;
use kernel::uaccess::UserSliceWriter;

use super::bindings::vfio as ffi;

// The region and interrupt indexes of `enum { VFIO_PCI_*_INDEX }`, which bindgen types `u32`.
/// Region index of a PCI device's BAR 0 (BAR n is `BAR0 + n`).
pub(crate) const PCI_BAR0_REGION_INDEX: u32 = ffi::VFIO_PCI_BAR0_REGION_INDEX;
/// Region index of a PCI device's BAR 5.
pub(crate) const PCI_BAR5_REGION_INDEX: u32 = ffi::VFIO_PCI_BAR5_REGION_INDEX;
/// Region index of a PCI device's config space.
pub(crate) const PCI_CONFIG_REGION_INDEX: u32 = ffi::VFIO_PCI_CONFIG_REGION_INDEX;
/// Number of regions of a PCI device.
pub(crate) const PCI_NUM_REGIONS: u32 = ffi::VFIO_PCI_NUM_REGIONS;
/// Interrupt index of a PCI device's INTx.
pub(crate) const PCI_INTX_IRQ_INDEX: u32 = ffi::VFIO_PCI_INTX_IRQ_INDEX;
/// Interrupt index of a PCI device's MSI.
pub(crate) const PCI_MSI_IRQ_INDEX: u32 = ffi::VFIO_PCI_MSI_IRQ_INDEX;
/// Interrupt index of the device's request to be released.
pub(crate) const PCI_REQ_IRQ_INDEX: u32 = ffi::VFIO_PCI_REQ_IRQ_INDEX;
/// Number of interrupt indexes of a PCI device.
pub(crate) const PCI_NUM_IRQS: u32 = ffi::VFIO_PCI_NUM_IRQS;

/// `VFIO_DEVICE_FLAGS_PCI`.
pub(crate) const DEVICE_FLAGS_PCI: u32 = ffi::VFIO_DEVICE_FLAGS_PCI;
/// `VFIO_DEVICE_FLAGS_RESET`: the device supports `VFIO_DEVICE_RESET`. The layer sets
/// it in `VFIO_DEVICE_GET_INFO` for a driver that implements [`Driver::reset`].
pub(crate) const DEVICE_FLAGS_RESET: u32 = ffi::VFIO_DEVICE_FLAGS_RESET;
/// `VFIO_REGION_INFO_FLAG_READ`.
pub(crate) const REGION_INFO_FLAG_READ: u32 = ffi::VFIO_REGION_INFO_FLAG_READ;
/// `VFIO_REGION_INFO_FLAG_WRITE`.
pub(crate) const REGION_INFO_FLAG_WRITE: u32 = ffi::VFIO_REGION_INFO_FLAG_WRITE;
/// `VFIO_IRQ_INFO_EVENTFD`.
pub(crate) const IRQ_INFO_EVENTFD: u32 = ffi::VFIO_IRQ_INFO_EVENTFD;
/// `VFIO_IRQ_INFO_MASKABLE`.
pub(crate) const IRQ_INFO_MASKABLE: u32 = ffi::VFIO_IRQ_INFO_MASKABLE;
/// `VFIO_IRQ_INFO_AUTOMASKED`.
pub(crate) const IRQ_INFO_AUTOMASKED: u32 = ffi::VFIO_IRQ_INFO_AUTOMASKED;
/// `VFIO_IRQ_INFO_NORESIZE`.
pub(crate) const IRQ_INFO_NORESIZE: u32 = ffi::VFIO_IRQ_INFO_NORESIZE;

/// How the offset of a region in the device file is made: `index << 40`, as
/// `vfio-pci` and the kernel's mdev samples do.
pub(crate) const REGION_OFFSET_SHIFT: u32 = 40;

/// The device file offset of region `index`.
pub(crate) const fn region_offset(index: u32) -> u64 {
    (index as u64) << REGION_OFFSET_SHIFT
}

/// Splits a device file offset into a region index and an offset in the region.
pub(crate) const fn split_offset(pos: u64) -> (u64, u64) {
    (
        pos >> REGION_OFFSET_SHIFT,
        pos & ((1 << REGION_OFFSET_SHIFT) - 1),
    )
}

/// An eventfd the device signals, taken from a file descriptor of the caller.
///
/// # Invariants
///
/// `0` is a valid `eventfd_ctx` this object holds a reference on.
pub(crate) struct EventFd(NonNull<bindings::eventfd_ctx>);

// SAFETY: An `eventfd_ctx` reference can be used and dropped from any thread.
unsafe impl Send for EventFd {}
// SAFETY: `eventfd_signal` may be called concurrently.
unsafe impl Sync for EventFd {}

impl EventFd {
    /// The eventfd behind file descriptor `fd` of the current task.
    pub(crate) fn from_fd(fd: i32) -> Result<Self> {
        // SAFETY: Any value may be passed; a bad one is an error.
        let ctx = from_err_ptr(unsafe { ffi::eventfd_ctx_fdget(fd) })?;
        // INVARIANT: `eventfd_ctx_fdget` returned a reference.
        NonNull::new(ctx).map(EventFd).ok_or(EINVAL)
    }

    /// Adds one to the eventfd's counter, waking its readers.
    pub(crate) fn signal(&self) {
        // SAFETY: The context is valid (type invariant); mask 0 is `eventfd_signal()`.
        unsafe { ffi::eventfd_signal_mask(self.0.as_ptr(), 0) };
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: Pairs with the reference `from_fd` took.
        unsafe { ffi::eventfd_ctx_put(self.0.as_ptr()) };
    }
}

/// What `VFIO_DEVICE_GET_INFO` reports.
pub(crate) struct DeviceInfo {
    /// `VFIO_DEVICE_FLAGS_*` (the layer adds [`DEVICE_FLAGS_RESET`], see
    /// [`Driver::reset`]).
    pub(crate) flags: u32,
    /// Number of regions.
    pub(crate) num_regions: u32,
    /// Number of interrupt indexes.
    pub(crate) num_irqs: u32,
}

/// What `VFIO_DEVICE_GET_REGION_INFO` reports for one region.
pub(crate) struct RegionInfo {
    /// `VFIO_REGION_INFO_FLAG_*`.
    pub(crate) flags: u32,
    /// Size in bytes; 0 for a region the device does not have.
    pub(crate) size: u64,
    /// Where the region starts in the device file.
    pub(crate) offset: u64,
}

/// What `VFIO_DEVICE_GET_IRQ_INFO` reports for one interrupt index.
pub(crate) struct IrqInfo {
    /// `VFIO_IRQ_INFO_*`.
    pub(crate) flags: u32,
    /// Number of interrupts of the index.
    pub(crate) count: u32,
}

/// The action of a `VFIO_DEVICE_SET_IRQS`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum IrqAction {
    /// `VFIO_IRQ_SET_ACTION_MASK`.
    Mask,
    /// `VFIO_IRQ_SET_ACTION_UNMASK`.
    Unmask,
    /// `VFIO_IRQ_SET_ACTION_TRIGGER`.
    Trigger,
}

/// The data of a `VFIO_DEVICE_SET_IRQS`, one entry per interrupt from `start`.
pub(crate) enum IrqData {
    /// `VFIO_IRQ_SET_DATA_NONE`.
    None,
    /// `VFIO_IRQ_SET_DATA_BOOL`.
    Bool(KVec<bool>),
    /// `VFIO_IRQ_SET_DATA_EVENTFD`: an eventfd, or `None` for a negative descriptor
    /// (which means "stop signalling").
    EventFd(KVec<Option<EventFd>>),
}

/// A validated `VFIO_DEVICE_SET_IRQS`.
pub(crate) struct IrqSet {
    /// The interrupt index.
    pub(crate) index: u32,
    /// The first interrupt of the index concerned.
    pub(crate) start: u32,
    /// How many; `start + count` is within [`IrqInfo::count`].
    pub(crate) count: u32,
    /// What to do.
    pub(crate) action: IrqAction,
    /// With what.
    pub(crate) data: IrqData,
}

/// The driver of an emulated VFIO device: its data, with the device's operations.
///
/// The file callbacks (`open` to `reset`) run in the task using the device file,
/// `request` in the task unbinding the emulated device, `drop` of the data wherever
/// the last reference goes; no lock of this layer is held, and the driver serialises
/// its own state. No lock of the mdev core is held in any of them but `request` (see
/// its doc); the VFIO core holds its `dev_set` mutex (and, for a device opened through
/// its group, the group's mutex) around `open` and `close`, and nothing around the
/// others. The `migration_*` callbacks run in the task using the device file,
/// with the device's migration mutex held (and, in `migration_load`, the resume
/// file's): they must not call back into the layer. `close` and `reset` run after the
/// layer has ended migration (RUNNING, files disabled) under that mutex, released
/// before the driver's callback. None runs once the emulated device is unbound (see
/// [`register`]).
#[vtable]
pub(crate) trait Driver: Send + Sync + Sized + 'static {
    /// The name of the device's ops (`vfio_device_ops.name`).
    const NAME: &'static CStr;

    /// The first user opened the device.
    fn open(&self) -> Result {
        Ok(())
    }

    /// The last user closed the device; undo what users set up (interrupts, ...).
    fn close(&self) {}

    /// Reads from the device file at `pos` into `out`; returns the bytes read.
    fn read(&self, out: &mut UserSliceWriter, pos: u64) -> Result<usize>;

    /// Writes `input` to the device file at `pos`; returns the bytes written.
    fn write(&self, input: &mut UserSliceReader, pos: u64) -> Result<usize>;

    /// `VFIO_DEVICE_GET_INFO`.
    fn device_info(&self) -> DeviceInfo;

    /// `VFIO_DEVICE_GET_REGION_INFO` of region `index`.
    fn region_info(&self, index: u32) -> Result<RegionInfo>;

    /// `VFIO_DEVICE_GET_IRQ_INFO` of interrupt index `index`; an error also refuses
    /// `VFIO_DEVICE_SET_IRQS` on it, with `ENOTTY`.
    fn irq_info(&self, index: u32) -> Result<IrqInfo>;

    /// `VFIO_DEVICE_SET_IRQS`, validated against [`Driver::irq_info`].
    fn set_irqs(&self, set: IrqSet) -> Result;

    /// `VFIO_DEVICE_RESET`. Called with the layer's migration lock held (see the
    /// "Migration" section of this file), so that it never runs during a change of
    /// migration state. Optional: for a driver that implements it the layer sets
    /// [`DEVICE_FLAGS_RESET`] in what `VFIO_DEVICE_GET_INFO` reports (whatever
    /// [`Driver::device_info`] says), so that a VMM uses it (QEMU's `vfio_pci_reset()`
    /// calls `VFIO_DEVICE_RESET` only when the flag is set); without it
    /// `VFIO_DEVICE_RESET` is `ENOTTY` and leaves migration alone.
    fn reset(&self) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// The device is being unregistered while users still hold it open: ask them to
    /// release it (`count` counts the requests). Called every ten seconds until they
    /// do, from the task unbinding the emulated device, with whatever locks it holds
    /// (for an mdev: the mdev's device lock, and the parent's gate, for reading in a
    /// user's remove, for writing in the parent's unregistration, not at all in an
    /// unbind through the driver's `unbind` file); it must not wait for the users.
    fn request(&self, _count: u32) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    // Migration (see the "Migration" section of this file). A driver that sets
    // `MIGRATION` implements `migration_save`, `migration_load` and
    // `migration_data_size`; the layer runs the state machine and the data files.

    /// The `VFIO_MIGRATION_*` flags the device supports; 0 (the default): none, and
    /// `VFIO_DEVICE_FEATURE_MIGRATION` is `ENOTTY`. Otherwise it includes
    /// [`MIGRATION_STOP_COPY`]; with [`MIGRATION_PRE_COPY`], the driver implements
    /// [`Driver::migration_save_initial`] (checked at build time).
    const MIGRATION: u32 = 0;

    /// The largest stream [`Driver::migration_load`] accepts, in bytes: a write to a
    /// resume file past it is `EFBIG`.
    const MIGRATION_STREAM_MAX: usize = 0;

    /// The device goes from `from` to `to`, one arc `vfio_mig_get_next_state()`
    /// allows. Called with the layer's migration lock held.
    ///
    /// The layer calls it once everything of the arc that can fail is done: the save
    /// data read ([`Driver::migration_save_initial`], and on STOP -> STOP_COPY
    /// [`Driver::migration_save`], the device being stopped already), the data file
    /// made, the stream loaded on RESUMING -> STOP ([`Driver::migration_load`]). An
    /// error must leave the device in `from`; the layer then stays there too (what
    /// `VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE` reports), dropping any file it made.
    /// Two cases differ: on PRE_COPY(_P2P) -> STOP_COPY, this stops the device before
    /// the layer asks for [`Driver::migration_save`], and on RESUMING -> STOP the
    /// device has loaded the stream: if that save or its buffer fails, or this fails
    /// on RESUMING -> STOP, the layer goes to ERROR (as the uAPI allows), with no
    /// data file, refusing every change of state until `VFIO_DEVICE_RESET` or a
    /// close takes it back to RUNNING.
    fn migration_arc(&self, _from: MigState, _to: MigState) -> Result {
        Ok(())
    }

    /// The initial data of a PRE_COPY stream (what `VFIO_MIG_GET_PRECOPY_INFO` counts
    /// as `initial_bytes`), read by userspace before the device stops; the default
    /// is none. Called with the migration lock held.
    fn migration_save_initial(&self) -> Result<KVec<u8>> {
        Ok(KVec::new())
    }

    /// The device's state, on entering STOP_COPY (the device is stopped): appended to
    /// the initial data, which the layer asks for at that point if the stream was not
    /// opened in PRE_COPY. So what the user reads from the save file, and passes to
    /// the target's [`Driver::migration_load`], is always the initial data followed
    /// by this. Called with the migration lock held.
    fn migration_save(&self) -> Result<KVec<u8>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Loads a whole stream written to the resume file, on RESUMING -> STOP. It must
    /// check the stream and leave the device unchanged on error (the device stays in
    /// RESUMING, usable after a reset). Called with the migration lock held.
    fn migration_load(&self, _stream: &[u8]) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `VFIO_DEVICE_FEATURE_MIG_DATA_SIZE`: the estimated size of the STOP_COPY data,
    /// in bytes.
    fn migration_data_size(&self) -> Result<usize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// A VFIO device of driver `T`: the C `struct vfio_device`, followed by `T`.
///
/// Drivers hold it through an [`ARef`] (a reference on the `struct vfio_device`'s
/// device), which derefs to `T`; the device stays registered until its parent is
/// unbound, whatever the driver does with its references.
///
/// # Invariants
///
/// `vdev` is first (`_vfio_alloc_device()` allocates the whole and treats its start as
/// the `struct vfio_device`), and its `ops` are `Adapter::<T>::OPS`. `data` and `mig` are
/// initialised when `initialised` is true, which it is from the end of [`register`]'s
/// initialisation until the release; every `ARef<Device<T>>` is made after that.
/// `emulated` is null or holds a reference on the device this one emulates, put by
/// the release.
///
/// The release (dropping `T`) is driver code, and it can run long after the
/// emulated device was unbound: the VFIO character device holds the `vfio_device`
/// until its last file is gone, and `DEBUG_KOBJECT_RELEASE` delays each release by
/// up to 4 s. Holding the emulated device until then puts the release in the chain
/// the driver's own teardown waits for (for an mdev: its type's release, then its
/// parent device's, which `mdev::Registration`'s drop waits for), so no release of a
/// VFIO device runs after its driver's module is gone.
#[repr(C)]
pub(crate) struct Device<T: Driver> {
    vdev: Opaque<ffi::vfio_device>,
    initialised: bool,
    emulated: *mut bindings::device,
    /// The migration state and data files; initialised with `data`.
    mig: MaybeUninit<Mutex<MigCtl>>,
    data: MaybeUninit<T>,
}

// SAFETY: The data is `Send + Sync` (`Driver`'s bounds); the C part is reference counted
// and may be used and released from any thread.
unsafe impl<T: Driver> Send for Device<T> {}
// SAFETY: As above; shared access only reads the C part or goes through `&T`.
unsafe impl<T: Driver> Sync for Device<T> {}

impl<T: Driver> Device<T> {
    /// # Safety
    ///
    /// `vdev` must be the `vdev` of a live `Device<T>` whose data is initialised, for
    /// `'a`: true in its ops callbacks.
    unsafe fn from_vdev<'a>(vdev: *mut ffi::vfio_device) -> &'a T {
        // SAFETY: `vdev` is the first field of a `Device<T>` (type invariant) whose data
        // is initialised (caller).
        unsafe { (*vdev.cast::<Device<T>>()).data.assume_init_ref() }
    }

    /// # Safety
    ///
    /// As for [`Device::from_vdev`].
    unsafe fn mig_of<'a>(vdev: *mut ffi::vfio_device) -> &'a Mutex<MigCtl> {
        // SAFETY: As in `from_vdev`: `mig` is initialised with `data`.
        unsafe { (*vdev.cast::<Device<T>>()).mig.assume_init_ref() }
    }

    /// The `struct device` whose reference count covers the whole.
    fn kref_dev(&self) -> *mut bindings::device {
        // SAFETY: `vdev` is a live `vfio_device` (type invariant).
        unsafe { &raw mut (*self.vdev.get()).device }
    }
}

// SAFETY: A reference on the `vfio_device`'s `struct device` keeps the allocation (and
// so the data, dropped only at the release) alive.
unsafe impl<T: Driver> AlwaysRefCounted for Device<T> {
    fn inc_ref(&self) {
        // SAFETY: The device is live: `self` is borrowed from a reference.
        unsafe { bindings::get_device(self.kref_dev()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: Pairs with the reference the caller owns.
        unsafe { bindings::put_device(obj.as_ref().kref_dev()) };
    }
}

impl<T: Driver> Deref for Device<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: Initialised before any reference was handed out, dropped only at the
        // release, which cannot happen while `self` is borrowed (type invariant).
        unsafe { Device::<T>::from_vdev(self.vdev.get()) }
    }
}

/// Allocates a VFIO device for `dev` (the device it emulates: for an mdev, the mdev
/// in its `probe`), initialises its data with `init` and registers it as an
/// emulated-IOMMU device; returns a reference to it.
///
/// The registration belongs to `dev`: it is undone when `dev` is unbound from its
/// driver (after the driver's `remove`), which waits until every user has closed the
/// VFIO device, asking them through [`Driver::request`] meanwhile. So no VFIO callback
/// runs once `dev` is unbound, and the device cannot outlive the binding it needs
/// (the VFIO core reads the parent's driver at every open). A migration data file
/// that userspace keeps open holds no reference on the device: it is disabled (its
/// accesses `ENODEV`) when the device is closed, so it delays neither the
/// unregistration nor the release of the device and its data. A device that already
/// has an IOMMU group (a second registration) is refused with `EBUSY`.
pub(crate) fn register<T: Driver>(
    dev: &device::Device<device::Core<'_>>,
    init: impl PinInit<T, Error>,
) -> Result<ARef<Device<T>>> {
    const {
        // `_vfio_alloc_device()` uses `kvzalloc()`, aligned to at least 8 bytes.
        assert!(core::mem::align_of::<Device<T>>() <= 8);
    }
    // CAST: `device::Device` is a transparent wrapper of `struct device`.
    let raw_dev = core::ptr::from_ref(dev)
        .cast::<bindings::device>()
        .cast_mut();
    // SAFETY: `dev` is live and its device lock is held (`Core`): the group cannot
    // appear meanwhile.
    if !unsafe { (*raw_dev).iommu_group }.is_null() {
        return Err(EBUSY);
    }
    // SAFETY: `dev` is a live, bound device; the size covers a `Device<T>`, whose first
    // field is the `vfio_device`; the ops are static.
    let vdev = unsafe {
        from_err_ptr(ffi::_vfio_alloc_device(
            core::mem::size_of::<Device<T>>(),
            raw_dev,
            Adapter::<T>::ops(),
        ))?
    };
    // CAST: `vdev` is the first field of a `Device<T>` (type invariant), zeroed by the
    // allocation: `initialised` is false.
    let device = NonNull::new(vdev.cast::<Device<T>>()).ok_or(ENOMEM)?;
    let this = device.as_ptr();
    // SAFETY: `dev` is live; the fresh allocation is ours. Pairs with the put_device()
    // in `Adapter::release`.
    unsafe { (*this).emulated = bindings::get_device(raw_dev) };
    // SAFETY: `data` is uninitialised memory of this fresh allocation, which does not
    // move; the release drops it once `initialised` is set.
    let initialised = unsafe { pin_init::raw_try_init((&raw mut (*this).data).cast::<T>(), init) };
    if let Err(e) = initialised {
        // SAFETY: Pairs with the allocation's initial reference; the release does not
        // touch the data, `initialised` being false.
        unsafe { bindings::put_device(&raw mut (*vdev).device) };
        return Err(e);
    }
    let mig = new_mutex!(MigCtl {
        state: MigState::Running,
        save: None,
        resume: None,
    });
    // SAFETY: `mig` is uninitialised memory of this allocation, which does not move; the
    // release drops it with `data`. A mutex's initialisation cannot fail.
    unsafe { pin_init::raw_init((&raw mut (*this).mig).cast::<Mutex<MigCtl>>(), mig) };
    if T::MIGRATION != 0 {
        // SAFETY: Nobody else knows the device yet; the ops are static.
        unsafe {
            (*vdev).migration_flags = T::MIGRATION;
            (*vdev).mig_ops = Adapter::<T>::mig_ops();
            (*vdev).log_ops = log_ops();
        }
    }
    // SAFETY: Nobody else knows the device yet.
    unsafe { (*this).initialised = true };
    // SAFETY: The device is fully initialised.
    let ret = unsafe { ffi::vfio_register_emulated_iommu_dev(vdev) };
    if let Err(e) = to_result(ret) {
        // SAFETY: Pairs with the allocation's initial reference; the release drops the
        // data.
        unsafe { bindings::put_device(&raw mut (*vdev).device) };
        return Err(e);
    }
    // SAFETY: The data is initialised and the initial reference is alive (held by the
    // registration made next); this takes one more for the caller.
    let handle = ARef::from(unsafe { device.as_ref() });
    // INVARIANT: Registered, holding the initial reference. If `devres` cannot take it,
    // it is dropped here, which unregisters the device at once.
    devres::register(dev, Registration(device), GFP_KERNEL)?;
    Ok(handle)
}

/// A registered VFIO device of `T`, owned by the device it emulates through `devres`;
/// dropping it (at that device's unbind) unregisters the VFIO device, waiting for its
/// users to close it, and drops the initial reference.
///
/// # Invariants
///
/// `0` points to a registered `Device<T>` with initialised data, on which this object
/// holds the initial reference.
struct Registration<T: Driver>(NonNull<Device<T>>);

// SAFETY: Dropped by `devres` on any thread; `Device<T>` is `Send + Sync`.
unsafe impl<T: Driver> Send for Registration<T> {}

impl<T: Driver> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: The device is live and registered (type invariant).
        let vdev = unsafe { self.0.as_ref() }.vdev.get();
        // SAFETY: Registered (type invariant). Waits for the users to close the device,
        // calling `request` meanwhile; afterwards no callback runs.
        unsafe { ffi::vfio_unregister_group_dev(vdev) };
        // SAFETY: Pairs with the allocation's initial reference, which this object held.
        unsafe { bindings::put_device(&raw mut (*vdev).device) };
    }
}

/// Builds the `vfio_device_ops` of `T`.
struct Adapter<T: Driver>(PhantomData<T>);

/// `offsetofend(struct vfio_device_info, num_irqs)`.
const DEVICE_INFO_MINSZ: usize = 16;
/// `offsetofend(struct vfio_irq_info, count)`.
const IRQ_INFO_MINSZ: usize = 16;
/// `offsetofend(struct vfio_irq_set, count)`.
const IRQ_SET_MINSZ: usize = 20;

const _: () = {
    assert!(core::mem::offset_of!(ffi::vfio_device_info, num_irqs) + 4 == DEVICE_INFO_MINSZ);
    assert!(core::mem::offset_of!(ffi::vfio_irq_info, count) + 4 == IRQ_INFO_MINSZ);
    assert!(core::mem::offset_of!(ffi::vfio_irq_set, count) + 4 == IRQ_SET_MINSZ);
};

const fn device_ioctl(nr: u32) -> u32 {
    // CAST: `VFIO_TYPE` is `';'`.
    _IO(ffi::VFIO_TYPE as u32, ffi::VFIO_BASE + nr)
}
const VFIO_DEVICE_GET_INFO: u32 = device_ioctl(7);
const VFIO_DEVICE_GET_IRQ_INFO: u32 = device_ioctl(9);
const VFIO_DEVICE_SET_IRQS: u32 = device_ioctl(10);
const VFIO_DEVICE_RESET: u32 = device_ioctl(11);

/// Reads the first `N` bytes of an ioctl argument.
fn read_arg<const N: usize>(arg: c_ulong) -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    UserSlice::new(UserPtr::from_addr(arg), N)
        .reader()
        .read_slice(&mut bytes)?;
    Ok(bytes)
}

/// Writes `bytes` to the start of an ioctl argument.
fn write_arg(arg: c_ulong, bytes: &[u8]) -> Result {
    UserSlice::new(UserPtr::from_addr(arg), bytes.len())
        .writer()
        .write_slice(bytes)
}

/// The native-endian `u32` at `at` of `bytes`.
fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        v.copy_from_slice(src);
    }
    u32::from_ne_bytes(v)
}

/// Puts `v` at `at` of `bytes`.
fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    if let Some(dst) = bytes.get_mut(at..at + 4) {
        dst.copy_from_slice(&v.to_ne_bytes());
    }
}

impl<T: Driver> Adapter<T> {
    const OPS: ffi::vfio_device_ops = ffi::vfio_device_ops {
        name: as_char_ptr_in_const_context(T::NAME).cast_mut(),
        release: Some(Self::release),
        // The iommufd (cdev) ops exist only when IS_ENABLED(CONFIG_IOMMUFD): without
        // it <linux/vfio.h> defines them as NULL, and here the fields stay `None`
        // (Debian's kernel has no IOMMUFD; its devices are reached through the
        // group/container interface only).
        #[cfg(CONFIG_IOMMUFD)]
        bind_iommufd: Some(ffi::vfio_iommufd_emulated_bind),
        #[cfg(CONFIG_IOMMUFD)]
        unbind_iommufd: Some(ffi::vfio_iommufd_emulated_unbind),
        #[cfg(CONFIG_IOMMUFD)]
        attach_ioas: Some(ffi::vfio_iommufd_emulated_attach_ioas),
        #[cfg(CONFIG_IOMMUFD)]
        detach_ioas: Some(ffi::vfio_iommufd_emulated_detach_ioas),
        open_device: Some(Self::open_device),
        close_device: Some(Self::close_device),
        read: Some(Self::read),
        write: Some(Self::write),
        ioctl: Some(Self::ioctl),
        get_region_info_caps: Some(Self::get_region_info_caps),
        request: if T::HAS_REQUEST {
            Some(Self::request)
        } else {
            None
        },
        ..pin_init::zeroed()
    };

    /// The ops, in static memory (a constant promoted to `'static`), as the VFIO core
    /// keeps a pointer to them for the device's life.
    fn ops() -> &'static ffi::vfio_device_ops {
        &Self::OPS
    }

    /// # Safety
    ///
    /// Called by the VFIO core once, when the last reference to a `Device<T>` goes.
    unsafe extern "C" fn release(vdev: *mut ffi::vfio_device) {
        let this = vdev.cast::<Device<T>>();
        // SAFETY: The device is going away and nothing else uses it (caller); its data
        // is dropped only if `register` initialised it. The emulated device is put
        // last: its release may start the driver's final teardown, after which no
        // driver code may run (only the return from here does).
        unsafe {
            if (*this).initialised {
                (*this).initialised = false;
                (*this).data.assume_init_drop();
                (*this).mig.assume_init_drop();
            }
            let emulated = core::mem::replace(&mut (*this).emulated, core::ptr::null_mut());
            if !emulated.is_null() {
                // Pairs with the get_device() in `register`.
                bindings::put_device(emulated);
            }
        }
    }

    /// # Safety
    ///
    /// Called by the VFIO core on a registered `Device<T>`.
    unsafe extern "C" fn open_device(vdev: *mut ffi::vfio_device) -> c_int {
        // SAFETY: Registered, so initialised until after unregistration (caller).
        let data = unsafe { Device::<T>::from_vdev(vdev) };
        from_result(|| data.open().map(|()| 0))
    }

    /// # Safety
    ///
    /// Called by the VFIO core on a registered `Device<T>`.
    unsafe extern "C" fn close_device(vdev: *mut ffi::vfio_device) {
        // The data files end before the device is closed, as `vfio_migration_ops`
        // requires, and the next user finds the device RUNNING.
        // SAFETY: As in `open_device`.
        unsafe { Device::<T>::mig_of(vdev) }.lock().reset();
        // SAFETY: As in `open_device`.
        unsafe { Device::<T>::from_vdev(vdev) }.close();
    }

    /// # Safety
    ///
    /// Called by the VFIO core on a registered `Device<T>`, with a user buffer of
    /// `count` bytes and a valid file position.
    unsafe extern "C" fn read(
        vdev: *mut ffi::vfio_device,
        buf: *mut c_char,
        count: usize,
        ppos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: As in `open_device`; `ppos` is valid (caller).
        let (data, pos) = unsafe { (Device::<T>::from_vdev(vdev), &mut *ppos) };
        let mut out = UserSlice::new(UserPtr::from_ptr(buf.cast()), count).writer();
        from_result(|| {
            let n = data.read(&mut out, u64::try_from(*pos).map_err(|_| EINVAL)?)?;
            Self::advance(pos, n, count)
        })
    }

    /// # Safety
    ///
    /// As for `read`.
    unsafe extern "C" fn write(
        vdev: *mut ffi::vfio_device,
        buf: *const c_char,
        count: usize,
        ppos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: As in `read`.
        let (data, pos) = unsafe { (Device::<T>::from_vdev(vdev), &mut *ppos) };
        let mut input = UserSlice::new(UserPtr::from_ptr(buf.cast_mut().cast()), count).reader();
        from_result(|| {
            let n = data.write(&mut input, u64::try_from(*pos).map_err(|_| EINVAL)?)?;
            Self::advance(pos, n, count)
        })
    }

    /// Moves the file position past the `n` bytes a read or write of `count` bytes says
    /// it did; returns what the call returns.
    fn advance(pos: &mut bindings::loff_t, n: usize, count: usize) -> Result<isize> {
        if n > count {
            return Err(EINVAL);
        }
        let done = isize::try_from(n).map_err(|_| EINVAL)?;
        let step = bindings::loff_t::try_from(done).map_err(|_| EINVAL)?;
        *pos = pos.checked_add(step).ok_or(EOVERFLOW)?;
        Ok(done)
    }

    /// # Safety
    ///
    /// Called by the VFIO core on a registered `Device<T>`, with `info` copied in from
    /// userspace and `argsz` checked.
    unsafe extern "C" fn get_region_info_caps(
        vdev: *mut ffi::vfio_device,
        info: *mut ffi::vfio_region_info,
        _caps: *mut ffi::vfio_info_cap,
    ) -> c_int {
        // SAFETY: As in `open_device`; `info` is valid (caller).
        let (data, info) = unsafe { (Device::<T>::from_vdev(vdev), &mut *info) };
        from_result(|| {
            let r = data.region_info(info.index)?;
            info.flags = r.flags;
            info.size = r.size;
            info.offset = r.offset;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the VFIO core on a registered `Device<T>`.
    unsafe extern "C" fn request(vdev: *mut ffi::vfio_device, count: c_uint) {
        // SAFETY: As in `open_device`: unregistration has not finished.
        unsafe { Device::<T>::from_vdev(vdev) }.request(count);
    }

    /// # Safety
    ///
    /// Called by the VFIO core on a registered `Device<T>`; `arg` is the caller's.
    unsafe extern "C" fn ioctl(vdev: *mut ffi::vfio_device, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: As in `open_device`.
        let data = unsafe { Device::<T>::from_vdev(vdev) };
        // A reset ends migration, as in mtty: RUNNING, the data files disabled. The
        // lock is held across the driver's reset, so that no change of migration
        // state (which saves or loads the device) runs in between.
        let _mig = if cmd == VFIO_DEVICE_RESET && T::HAS_RESET {
            // SAFETY: As in `open_device`.
            let mut ctl = unsafe { Device::<T>::mig_of(vdev) }.lock();
            ctl.reset();
            Some(ctl)
        } else {
            None
        };
        // CAST: Results are errnos or 0.
        from_result(|| Self::dispatch(data, cmd, arg).map(|()| 0)) as c_long
    }

    fn dispatch(data: &T, cmd: u32, arg: c_ulong) -> Result {
        match cmd {
            VFIO_DEVICE_GET_INFO => {
                let mut info = read_arg::<DEVICE_INFO_MINSZ>(arg)?;
                // CAST: `argsz` is a byte count.
                if (u32_at(&info, 0) as usize) < DEVICE_INFO_MINSZ {
                    return Err(EINVAL);
                }
                let d = data.device_info();
                let reset = if T::HAS_RESET { DEVICE_FLAGS_RESET } else { 0 };
                put_u32(&mut info, 4, d.flags | reset);
                put_u32(&mut info, 8, d.num_regions);
                put_u32(&mut info, 12, d.num_irqs);
                write_arg(arg, &info)
            }
            VFIO_DEVICE_GET_IRQ_INFO => {
                let mut info = read_arg::<IRQ_INFO_MINSZ>(arg)?;
                // CAST: As above.
                if (u32_at(&info, 0) as usize) < IRQ_INFO_MINSZ {
                    return Err(EINVAL);
                }
                let i = data.irq_info(u32_at(&info, 8))?;
                put_u32(&mut info, 4, i.flags);
                put_u32(&mut info, 12, i.count);
                write_arg(arg, &info)
            }
            VFIO_DEVICE_SET_IRQS => Self::set_irqs(data, arg),
            // Under the migration lock (`ioctl`).
            VFIO_DEVICE_RESET if T::HAS_RESET => data.reset(),
            _ => Err(ENOTTY),
        }
    }

    fn set_irqs(data: &T, arg: c_ulong) -> Result {
        let raw = read_arg::<IRQ_SET_MINSZ>(arg)?;
        let mut hdr = ffi::vfio_irq_set {
            argsz: u32_at(&raw, 0),
            flags: u32_at(&raw, 4),
            index: u32_at(&raw, 8),
            start: u32_at(&raw, 12),
            count: u32_at(&raw, 16),
            ..Default::default()
        };
        let num_irqs = data.device_info().num_irqs;
        if hdr.index >= num_irqs {
            return Err(EINVAL);
        }
        // An index the driver has no interrupts at is refused with `ENOTTY`, as by
        // vfio-pci and mtty, once the header itself is valid.
        let info = data.irq_info(hdr.index);
        let per_index = info.as_ref().map_or(num_irqs, |i| i.count);
        let per_index = c_int::try_from(per_index).map_err(|_| EINVAL)?;
        let num_irqs = c_int::try_from(num_irqs).map_err(|_| EINVAL)?;
        let mut size = 0usize;
        // SAFETY: `hdr` and `size` are valid for the call.
        to_result(unsafe {
            ffi::vfio_set_irqs_validate_and_prepare(&mut hdr, per_index, num_irqs, &mut size)
        })?;
        info.map_err(|_| ENOTTY)?;
        let action = match hdr.flags & ffi::VFIO_IRQ_SET_ACTION_TYPE_MASK {
            ffi::VFIO_IRQ_SET_ACTION_MASK => IrqAction::Mask,
            ffi::VFIO_IRQ_SET_ACTION_UNMASK => IrqAction::Unmask,
            ffi::VFIO_IRQ_SET_ACTION_TRIGGER => IrqAction::Trigger,
            _ => return Err(EINVAL),
        };
        let mut payload = KVec::new();
        if size > 0 {
            let mut reader = UserSlice::new(UserPtr::from_addr(arg), IRQ_SET_MINSZ + size).reader();
            reader.skip(IRQ_SET_MINSZ)?;
            reader.read_all(&mut payload, GFP_KERNEL)?;
        }
        let irq_data = match hdr.flags & ffi::VFIO_IRQ_SET_DATA_TYPE_MASK {
            ffi::VFIO_IRQ_SET_DATA_BOOL => {
                let mut v = KVec::with_capacity(payload.len(), GFP_KERNEL)?;
                for b in payload.iter() {
                    v.push(*b != 0, GFP_KERNEL)?;
                }
                IrqData::Bool(v)
            }
            ffi::VFIO_IRQ_SET_DATA_EVENTFD => {
                let mut v = KVec::with_capacity(payload.len() / 4, GFP_KERNEL)?;
                for fd in payload.chunks_exact(4) {
                    // CAST: An `int32_t` file descriptor.
                    let fd = u32_at(fd, 0) as i32;
                    v.push(
                        if fd < 0 {
                            None
                        } else {
                            Some(EventFd::from_fd(fd)?)
                        },
                        GFP_KERNEL,
                    )?;
                }
                IrqData::EventFd(v)
            }
            _ => IrqData::None,
        };
        data.set_irqs(IrqSet {
            index: hdr.index,
            start: hdr.start,
            count: hdr.count,
            action,
            data: irq_data,
        })
    }
}

// Migration.
//
// The layer implements `struct vfio_migration_ops` for a driver that sets
// `Driver::MIGRATION`: it keeps the device's state (`MigState`) under one mutex per
// device (`MigCtl`), walks a requested change one arc at a time with
// `vfio_mig_get_next_state()` (so only the arcs the uAPI allows reach the driver, in
// `Driver::migration_arc`), and owns the data files: a read-only save file opened on
// entering PRE_COPY/PRE_COPY_P2P or STOP_COPY, a write-only resume file opened on
// entering RESUMING. A file is disabled (reads and writes are `ENODEV`, its buffer
// freed) as soon as its state is left, the device is reset or closed; userspace may
// keep it open as long as it likes. The driver only produces and checks bytes
// (`Driver::migration_save*`, `Driver::migration_load`). Lock order: the migration
// mutex, then a file's mutex, then whatever the driver takes in those callbacks and
// in `Driver::reset` (called under the migration mutex).
//
// The devices of this layer do no DMA (it offers no way to pin or access guest
// memory), so nothing is ever dirty: the layer answers `vfio_log_ops` with an empty
// log, as `mtty.c` does, so that a VMM which wants device dirty tracking (QEMU
// without IOMMU dirty tracking, e.g. with iommufd) accepts the device.

/// `VFIO_MIGRATION_STOP_COPY`.
pub(crate) const MIGRATION_STOP_COPY: u32 = ffi::VFIO_MIGRATION_STOP_COPY;
/// `VFIO_MIGRATION_P2P`.
pub(crate) const MIGRATION_P2P: u32 = ffi::VFIO_MIGRATION_P2P;
/// `VFIO_MIGRATION_PRE_COPY`.
pub(crate) const MIGRATION_PRE_COPY: u32 = ffi::VFIO_MIGRATION_PRE_COPY;

const VFIO_MIG_GET_PRECOPY_INFO: u32 = device_ioctl(21);
/// `offsetofend(struct vfio_precopy_info, dirty_bytes)`.
const PRECOPY_INFO_MINSZ: usize = 24;
const _: () = assert!(core::mem::size_of::<ffi::vfio_precopy_info>() == PRECOPY_INFO_MINSZ);

/// A state of the migration state machine (`enum vfio_device_mig_state`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub(crate) enum MigState {
    /// `VFIO_DEVICE_STATE_ERROR`.
    Error = ffi::vfio_device_mig_state_VFIO_DEVICE_STATE_ERROR,
    /// `VFIO_DEVICE_STATE_STOP`.
    Stop = ffi::vfio_device_mig_state_VFIO_DEVICE_STATE_STOP,
    /// `VFIO_DEVICE_STATE_RUNNING`.
    Running = ffi::vfio_device_mig_state_VFIO_DEVICE_STATE_RUNNING,
    /// `VFIO_DEVICE_STATE_STOP_COPY`.
    StopCopy = ffi::vfio_device_mig_state_VFIO_DEVICE_STATE_STOP_COPY,
    /// `VFIO_DEVICE_STATE_RESUMING`.
    Resuming = ffi::vfio_device_mig_state_VFIO_DEVICE_STATE_RESUMING,
    /// `VFIO_DEVICE_STATE_RUNNING_P2P`.
    RunningP2p = ffi::vfio_device_mig_state_VFIO_DEVICE_STATE_RUNNING_P2P,
    /// `VFIO_DEVICE_STATE_PRE_COPY`.
    PreCopy = ffi::vfio_device_mig_state_VFIO_DEVICE_STATE_PRE_COPY,
    /// `VFIO_DEVICE_STATE_PRE_COPY_P2P`.
    PreCopyP2p = ffi::vfio_device_mig_state_VFIO_DEVICE_STATE_PRE_COPY_P2P,
}

impl MigState {
    fn from_raw(v: u32) -> Result<MigState> {
        use MigState::*;
        Ok(match v {
            ffi::vfio_device_mig_state_VFIO_DEVICE_STATE_ERROR => Error,
            ffi::vfio_device_mig_state_VFIO_DEVICE_STATE_STOP => Stop,
            ffi::vfio_device_mig_state_VFIO_DEVICE_STATE_RUNNING => Running,
            ffi::vfio_device_mig_state_VFIO_DEVICE_STATE_STOP_COPY => StopCopy,
            ffi::vfio_device_mig_state_VFIO_DEVICE_STATE_RESUMING => Resuming,
            ffi::vfio_device_mig_state_VFIO_DEVICE_STATE_RUNNING_P2P => RunningP2p,
            ffi::vfio_device_mig_state_VFIO_DEVICE_STATE_PRE_COPY => PreCopy,
            ffi::vfio_device_mig_state_VFIO_DEVICE_STATE_PRE_COPY_P2P => PreCopyP2p,
            _ => return Err(EINVAL),
        })
    }
}

/// A device's migration state and its open data files, under the device's migration
/// mutex.
struct MigCtl {
    state: MigState,
    /// The save file, from PRE_COPY/STOP_COPY entry until that state is left.
    save: Option<StreamFile>,
    /// The resume file, in RESUMING.
    resume: Option<StreamFile>,
}

impl MigCtl {
    /// Back to RUNNING with no data file (reset, close): the files are disabled.
    fn reset(&mut self) {
        self.state = MigState::Running;
        self.save = None;
        self.resume = None;
    }

    /// After the driver took an arc, `res` is what the layer did next: on error, the
    /// device is in ERROR (the driver and the layer disagree), with no data file,
    /// until a reset or close; returns `res`.
    fn fail_unless(&mut self, res: Result) -> Result {
        if res.is_err() {
            self.state = MigState::Error;
            self.save = None;
            self.resume = None;
        }
        res
    }
}

/// What a data file is for, and where it is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Save file in PRE_COPY(_P2P): the end of the data is temporary (`ENOMSG`).
    PreCopy,
    /// Save file in STOP_COPY: the end of the data is the end of the stream.
    StopCopy,
    /// Resume file in RESUMING.
    Resuming,
    /// Its state was left: every access is refused.
    Disabled,
}

/// The contents of a data file.
struct StreamInner {
    phase: Phase,
    /// Save: the bytes to read; resume: the bytes written.
    data: KVec<u8>,
    /// Save: how many were read.
    pos: usize,
    /// Resume: the most `data` may hold.
    limit: usize,
}

/// The object behind a data file (its `private_data`, one reference of the `Arc`).
#[pin_data]
struct Stream {
    #[pin]
    inner: Mutex<StreamInner>,
    /// The device, for `precopy_info_v2`.
    vdev: VdevPtr,
}

/// The `vfio_device` of a data file, holding no reference on it, so that a file
/// userspace keeps open does not keep the device (and its mdev, its UUID, its
/// resources) alive once it is closed.
///
/// # Invariants
///
/// `0` points to the `vfio_device` the file was opened for, which stays open (so
/// registered and allocated) as long as the phase of the stream holding this is not
/// [`Phase::Disabled`]: the layer disables every data file of a device (under the
/// stream's mutex, in [`MigCtl::reset`]) before `close_device` returns, and a
/// disabled file is never enabled again.
struct VdevPtr(NonNull<ffi::vfio_device>);

// SAFETY: Only `precopy_info_v2` is read through it, under the conditions of
// `precopy_info_v2`, from any thread.
unsafe impl Send for VdevPtr {}
// SAFETY: As above.
unsafe impl Sync for VdevPtr {}

impl VdevPtr {
    /// Whether the user opted in to `VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2`.
    ///
    /// # Safety
    ///
    /// The caller holds the mutex of the stream holding `self` and saw a phase other
    /// than [`Phase::Disabled`] under it.
    unsafe fn precopy_info_v2(&self) -> bool {
        // SAFETY: The device is open (type invariant, caller). The core sets the byte
        // without a lock, as the C drivers read it.
        unsafe { core::ptr::read_volatile(&raw const (*self.0.as_ptr()).precopy_info_v2) != 0 }
    }
}

impl Stream {
    fn disable(&self) {
        let mut s = self.inner.lock();
        s.phase = Phase::Disabled;
        s.data = KVec::new();
        s.pos = 0;
    }

    fn read(&self, out: &mut UserSliceWriter) -> Result<usize> {
        let mut s = self.inner.lock();
        match s.phase {
            Phase::Disabled => return Err(ENODEV),
            Phase::Resuming => return Err(EINVAL),
            Phase::PreCopy | Phase::StopCopy => {}
        }
        let rest = s.data.get(s.pos..).unwrap_or(&[]);
        if rest.is_empty() {
            // The uAPI: a temporary end in PRE_COPY, the end in STOP_COPY.
            return if s.phase == Phase::PreCopy {
                Err(ENOMSG)
            } else {
                Ok(0)
            };
        }
        let n = rest.len().min(out.len());
        out.write_slice(rest.get(..n).ok_or(EINVAL)?)?;
        s.pos += n;
        Ok(n)
    }

    fn write(&self, input: &mut UserSliceReader) -> Result<usize> {
        let len = input.len();
        let mut s = self.inner.lock();
        match s.phase {
            Phase::Disabled => return Err(ENODEV),
            Phase::Resuming => {}
            Phase::PreCopy | Phase::StopCopy => return Err(EINVAL),
        }
        let old = s.data.len();
        let end = old.checked_add(len).ok_or(EFBIG)?;
        if end > s.limit {
            return Err(EFBIG);
        }
        // Charged to the writer's memory cgroup, as the in-tree drivers' buffers.
        s.data.resize(end, 0, GFP_KERNEL_ACCOUNT)?;
        let res = input.read_slice(s.data.get_mut(old..end).ok_or(EINVAL)?);
        if let Err(e) = res {
            s.data.truncate(old);
            return Err(e);
        }
        Ok(len)
    }

    fn ioctl(&self, cmd: u32, arg: c_ulong) -> Result {
        if cmd != VFIO_MIG_GET_PRECOPY_INFO {
            return Err(ENOTTY);
        }
        // As `vfio_check_precopy_ioctl()`.
        let mut info = read_arg::<PRECOPY_INFO_MINSZ>(arg)?;
        // CAST: `argsz` is a byte count.
        if (u32_at(&info, 0) as usize) < PRECOPY_INFO_MINSZ {
            return Err(EINVAL);
        }
        let initial = {
            let s = self.inner.lock();
            match s.phase {
                // As mtty's disabled file.
                Phase::Disabled => return Err(ENODEV),
                Phase::PreCopy => {}
                Phase::StopCopy | Phase::Resuming => return Err(EINVAL),
            }
            // SAFETY: Under the stream's mutex, in PRE_COPY.
            if unsafe { self.vdev.precopy_info_v2() } {
                put_u32(&mut info, 4, 0);
            }
            s.data.len().saturating_sub(s.pos)
        };
        // CAST: A buffer's size.
        info[8..16].copy_from_slice(&(initial as u64).to_ne_bytes());
        info[16..24].copy_from_slice(&0u64.to_ne_bytes());
        write_arg(arg, &info)
    }
}

/// The layer's reference on an open data file, and its stream. Dropping it disables
/// the stream (the file stays open as long as userspace holds it, refusing access)
/// and puts the reference.
///
/// # Invariants
///
/// `file` is a file of [`SAVE_FOPS`] or [`RESUME_FOPS`] whose `private_data` is a
/// reference of `stream`'s `Arc`; this object holds a reference on it.
struct StreamFile {
    file: NonNull<bindings::file>,
    stream: Arc<Stream>,
}

// SAFETY: A file reference can be put from any thread; `Stream` is `Send + Sync`.
unsafe impl Send for StreamFile {}

/// A new reference on a data file, for the VFIO core to install as a descriptor.
struct NewFile(NonNull<bindings::file>);

impl Drop for NewFile {
    fn drop(&mut self) {
        // SAFETY: Pairs with the reference `StreamFile::new_ref` took.
        unsafe { bindings::fput(self.0.as_ptr()) };
    }
}

impl StreamFile {
    /// A save (`phase` PreCopy or StopCopy) or resume file holding `data`, `limit`.
    ///
    /// # Safety
    ///
    /// `vdev` must be an open `vfio_device`, and the result must be kept in its
    /// [`MigCtl`] (which disables it before the device is closed) or dropped.
    unsafe fn new(
        vdev: *mut ffi::vfio_device,
        name: &'static CStr,
        phase: Phase,
        data: KVec<u8>,
        limit: usize,
    ) -> Result<StreamFile> {
        let stream = Arc::pin_init(
            pin_init!(Stream {
                inner <- new_mutex!(StreamInner {
                    phase,
                    data,
                    pos: 0,
                    limit,
                }),
                // INVARIANT: The device is open (caller) and the phase is not
                // `Disabled`; whoever ends it disables the file first.
                vdev: VdevPtr(NonNull::new(vdev).ok_or(EINVAL)?),
            }? Error),
            GFP_KERNEL_ACCOUNT,
        )?;
        let (fops, flags) = if phase == Phase::Resuming {
            (&RESUME_FOPS, bindings::O_WRONLY)
        } else {
            (&SAVE_FOPS, bindings::O_RDONLY)
        };
        let private = Arc::into_raw(stream.clone());
        // SAFETY: The name and ops are static; `private` is given to the file.
        let file = unsafe {
            ffi::anon_inode_getfile(
                name.as_char_ptr(),
                fops,
                private.cast_mut().cast(),
                // CAST: `O_RDONLY`/`O_WRONLY`.
                flags as c_int,
            )
        };
        let file = match from_err_ptr(file) {
            Ok(f) => f,
            Err(e) => {
                // SAFETY: Not given to any file: take the reference back.
                drop(unsafe { Arc::from_raw(private) });
                return Err(e);
            }
        };
        let file = NonNull::new(file).ok_or(ENOMEM)?;
        // SAFETY: A fresh file: make it a stream (no position; `read`/`write` get a
        // null `ppos`), as mtty does.
        unsafe { bindings::stream_open((*file.as_ptr()).f_inode, file.as_ptr()) };
        // INVARIANT: `anon_inode_getfile` returned a reference, with `private`.
        Ok(StreamFile { file, stream })
    }

    /// Another reference on the file.
    fn new_ref(&self) -> NewFile {
        // SAFETY: The file is live (type invariant).
        unsafe { bindings::get_file(self.file.as_ptr()) };
        NewFile(self.file)
    }
}

impl Drop for StreamFile {
    fn drop(&mut self) {
        self.stream.disable();
        // SAFETY: Pairs with the reference this object holds (type invariant).
        unsafe { bindings::fput(self.file.as_ptr()) };
    }
}

/// # Safety
///
/// `file` is a file of [`SAVE_FOPS`] or [`RESUME_FOPS`], live for `'a`.
unsafe fn stream_of<'a>(file: *mut bindings::file) -> &'a Stream {
    // SAFETY: Its `private_data` is a reference of an `Arc<Stream>`, kept until the
    // release (`StreamFile` invariant).
    unsafe { &*(*file).private_data.cast::<Stream>() }
}

/// # Safety
///
/// Called by the VFS on a data file, with a user buffer of `count` bytes.
unsafe extern "C" fn stream_read(
    file: *mut bindings::file,
    buf: *mut c_char,
    count: usize,
    ppos: *mut bindings::loff_t,
) -> isize {
    if !ppos.is_null() {
        return ESPIPE.to_errno() as isize;
    }
    // SAFETY: As the caller promises.
    let stream = unsafe { stream_of(file) };
    let mut out = UserSlice::new(UserPtr::from_ptr(buf.cast()), count).writer();
    // CAST: At most `count`.
    from_result(|| stream.read(&mut out).map(|n| n as isize))
}

/// # Safety
///
/// As for [`stream_read`].
unsafe extern "C" fn stream_write(
    file: *mut bindings::file,
    buf: *const c_char,
    count: usize,
    ppos: *mut bindings::loff_t,
) -> isize {
    if !ppos.is_null() {
        return ESPIPE.to_errno() as isize;
    }
    // SAFETY: As the caller promises.
    let stream = unsafe { stream_of(file) };
    let mut input = UserSlice::new(UserPtr::from_ptr(buf.cast_mut().cast()), count).reader();
    // CAST: At most `count`.
    from_result(|| stream.write(&mut input).map(|n| n as isize))
}

/// # Safety
///
/// Called by the VFS on a data file.
unsafe extern "C" fn stream_ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: As the caller promises.
    let stream = unsafe { stream_of(file) };
    // CAST: Results are errnos or 0.
    from_result(|| stream.ioctl(cmd, arg).map(|()| 0)) as c_long
}

/// # Safety
///
/// Called by the VFS once, when the last reference to a data file goes.
unsafe extern "C" fn stream_release(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: Takes back the reference the file held (`StreamFile` invariant); nothing
    // uses the file any more.
    drop(unsafe { Arc::from_raw((*file).private_data.cast::<Stream>().cast_const()) });
    0
}

/// The ops of a save file: read-only, with `VFIO_MIG_GET_PRECOPY_INFO` (its argument
/// is a pointer: `compat_ptr_ioctl`, as mtty and mlx5). No `poll`, as mtty's and
/// mlx5's: reads never block (the data is there, or the end, ENOMSG in PRE_COPY).
const SAVE_FOPS: bindings::file_operations = bindings::file_operations {
    owner: kernel::module::this_module::<crate::LocalModule>().as_ptr(),
    read: Some(stream_read),
    unlocked_ioctl: Some(stream_ioctl),
    // `None` without `CONFIG_COMPAT`.
    compat_ioctl: bindings::compat_ptr_ioctl,
    release: Some(stream_release),
    ..pin_init::zeroed()
};

/// The ops of a resume file: write-only.
const RESUME_FOPS: bindings::file_operations = bindings::file_operations {
    owner: kernel::module::this_module::<crate::LocalModule>().as_ptr(),
    write: Some(stream_write),
    release: Some(stream_release),
    ..pin_init::zeroed()
};

/// `vfio_log_ops` of a device that does no DMA: logging starts and stops, and
/// nothing is ever dirty (as `mtty.c`'s).
const LOG_OPS: ffi::vfio_log_ops = ffi::vfio_log_ops {
    log_start: Some(log_start),
    log_stop: Some(log_stop),
    log_read_and_clear: Some(log_read_and_clear),
};

fn log_ops() -> &'static ffi::vfio_log_ops {
    &LOG_OPS
}

extern "C" fn log_start(
    _vdev: *mut ffi::vfio_device,
    _ranges: *mut bindings::rb_root_cached,
    _nnodes: u32,
    _page_size: *mut u64,
) -> c_int {
    0
}

extern "C" fn log_stop(_vdev: *mut ffi::vfio_device) -> c_int {
    0
}

extern "C" fn log_read_and_clear(
    _vdev: *mut ffi::vfio_device,
    _iova: c_ulong,
    _length: c_ulong,
    _dirty: *mut bindings::iova_bitmap,
) -> c_int {
    0
}

/// What the layer does on an arc, besides calling [`Driver::migration_arc`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ArcKind {
    /// Nothing else.
    Plain,
    /// RESUMING -> STOP: loads the stream written, ends the resume file.
    Load,
    /// Leaves PRE_COPY(_P2P) or STOP_COPY for a state without data: ends the save
    /// file.
    EndSave,
    /// Enters PRE_COPY(_P2P) or STOP_COPY from a state without data: opens a save
    /// file.
    OpenSave,
    /// PRE_COPY(_P2P) -> STOP_COPY: appends the rest of the state to the save file.
    ContinueSave,
    /// STOP -> RESUMING: opens a resume file.
    OpenResume,
}

/// The arcs `vfio_mig_get_next_state()` yields, for any of the flag sets
/// [`Adapter::MIG_OPS`] accepts (its table in `drivers/vfio/vfio_main.c`, with the
/// states a flag set lacks skipped over); `None` for any other pair. The KUnit test
/// below walks the core's function for every flag set and pair of states.
fn arc_kind(cur: MigState, next: MigState) -> Option<ArcKind> {
    use MigState::*;
    Some(match (cur, next) {
        (Running, RunningP2p)
        | (RunningP2p, Running)
        | (RunningP2p, Stop)
        | (PreCopy, PreCopyP2p)
        | (PreCopyP2p, PreCopy)
        | (Stop, RunningP2p)
        // Without P2P.
        | (Running, Stop)
        | (Stop, Running) => ArcKind::Plain,
        (Resuming, Stop) => ArcKind::Load,
        (PreCopy, Running) | (PreCopyP2p, RunningP2p) | (StopCopy, Stop) => ArcKind::EndSave,
        (Running, PreCopy) | (RunningP2p, PreCopyP2p) | (Stop, StopCopy) => ArcKind::OpenSave,
        // `PreCopy -> StopCopy` without P2P.
        (PreCopyP2p, StopCopy) | (PreCopy, StopCopy) => ArcKind::ContinueSave,
        (Stop, Resuming) => ArcKind::OpenResume,
        _ => return None,
    })
}

impl<T: Driver> Adapter<T> {
    const MIG_OPS: ffi::vfio_migration_ops = {
        assert!(
            T::MIGRATION == 0
                || (T::MIGRATION & MIGRATION_STOP_COPY != 0
                    && T::MIGRATION & !(MIGRATION_STOP_COPY | MIGRATION_P2P | MIGRATION_PRE_COPY)
                        == 0
                    && T::HAS_MIGRATION_SAVE
                    && T::HAS_MIGRATION_LOAD
                    && T::HAS_MIGRATION_DATA_SIZE
                    && (T::MIGRATION & MIGRATION_PRE_COPY == 0 || T::HAS_MIGRATION_SAVE_INITIAL)
                    && T::MIGRATION_STREAM_MAX > 0)
        );
        ffi::vfio_migration_ops {
            migration_set_state: Some(Self::migration_set_state),
            migration_get_state: Some(Self::migration_get_state),
            migration_get_data_size: Some(Self::migration_get_data_size),
        }
    };

    fn mig_ops() -> &'static ffi::vfio_migration_ops {
        &Self::MIG_OPS
    }

    /// # Safety
    ///
    /// Called by the VFIO core on a registered `Device<T>` that migrates.
    unsafe extern "C" fn migration_set_state(
        vdev: *mut ffi::vfio_device,
        new: ffi::vfio_device_mig_state,
    ) -> *mut bindings::file {
        // SAFETY: As in `open_device`.
        let (data, mig) = unsafe { (Device::<T>::from_vdev(vdev), Device::<T>::mig_of(vdev)) };
        let mut ctl = mig.lock();
        // SAFETY: `vdev` is live for the call.
        match unsafe { Self::set_state(vdev, data, &mut ctl, new) } {
            Ok(None) => core::ptr::null_mut(),
            Ok(Some(file)) => {
                let f = file.0.as_ptr();
                // The reference goes to the caller.
                core::mem::forget(file);
                f
            }
            Err(e) => e.to_ptr(),
        }
    }

    /// Walks from the current state to `new`, one arc at a time, as
    /// `vfio_mig_get_next_state()` says; returns the file the last arc opened.
    ///
    /// # Safety
    ///
    /// `vdev` is the live device of `data`.
    unsafe fn set_state(
        vdev: *mut ffi::vfio_device,
        data: &T,
        ctl: &mut MigCtl,
        new: u32,
    ) -> Result<Option<NewFile>> {
        let mut ret = None;
        // ERROR is left only by a reset (`vfio_mig_get_next_state()` WARNs on it).
        if ctl.state == MigState::Error {
            return Err(EINVAL);
        }
        // CAST: The enum's values.
        while ctl.state as u32 != new {
            let mut next: ffi::vfio_device_mig_state = 0;
            // SAFETY: `vdev` is live (caller); `next` is valid for the call.
            to_result(unsafe {
                ffi::vfio_mig_get_next_state(vdev, ctl.state as u32, new, &mut next)
            })?;
            let next = MigState::from_raw(next)?;
            // SAFETY: As above.
            ret = unsafe { Self::step(vdev, data, ctl, next)? };
            ctl.state = next;
            // CAST: As above.
            if ret.is_some() && next as u32 != new {
                // The core only opens a file on the last arc.
                return Err(EINVAL);
            }
        }
        Ok(ret)
    }

    /// One arc, as `mtty_step_state()`. What can fail is done before the driver's
    /// arc, so that an error leaves the driver and the layer in the current state;
    /// where that cannot be (the arc must come first), a failure after the arc puts
    /// the layer in ERROR (see [`Driver::migration_arc`]).
    ///
    /// # Safety
    ///
    /// As for `set_state`.
    unsafe fn step(
        vdev: *mut ffi::vfio_device,
        data: &T,
        ctl: &mut MigCtl,
        next: MigState,
    ) -> Result<Option<NewFile>> {
        let cur = ctl.state;
        match arc_kind(cur, next).ok_or(EINVAL)? {
            ArcKind::Plain => {
                data.migration_arc(cur, next)?;
                Ok(None)
            }
            ArcKind::Load => {
                {
                    let resume = ctl.resume.as_ref().ok_or(EINVAL)?;
                    let s = resume.stream.inner.lock();
                    data.migration_load(&s.data)?;
                }
                // The device holds the stream loaded: if it cannot stop, it is in
                // neither state.
                ctl.fail_unless(data.migration_arc(cur, next))?;
                ctl.resume = None;
                Ok(None)
            }
            ArcKind::EndSave => {
                data.migration_arc(cur, next)?;
                ctl.save = None;
                Ok(None)
            }
            ArcKind::OpenSave => {
                // The initial data, and in STOP_COPY the state of the device, stopped
                // already (STOP -> STOP_COPY), are read before the arc.
                let mut bytes = data.migration_save_initial()?;
                let phase = if next == MigState::StopCopy {
                    bytes.extend_from_slice(&data.migration_save()?, GFP_KERNEL_ACCOUNT)?;
                    Phase::StopCopy
                } else {
                    Phase::PreCopy
                };
                // SAFETY: Open (a migration ioctl); kept in `ctl` or dropped.
                let file = unsafe { StreamFile::new(vdev, T::NAME, phase, bytes, 0)? };
                // On error, the file is dropped unused.
                data.migration_arc(cur, next)?;
                let new = file.new_ref();
                ctl.save = Some(file);
                Ok(Some(new))
            }
            ArcKind::ContinueSave => {
                if ctl.save.is_none() {
                    return Err(EINVAL);
                }
                // The arc stops the device, which `migration_save` then reads.
                data.migration_arc(cur, next)?;
                let append = || -> Result {
                    let more = data.migration_save()?;
                    let save = ctl.save.as_ref().ok_or(EINVAL)?;
                    let mut s = save.stream.inner.lock();
                    s.data.extend_from_slice(&more, GFP_KERNEL_ACCOUNT)?;
                    s.phase = Phase::StopCopy;
                    Ok(())
                };
                let res = append();
                ctl.fail_unless(res)?;
                // The data file opened in PRE_COPY carries on.
                Ok(None)
            }
            ArcKind::OpenResume => {
                // SAFETY: Open (a migration ioctl); kept in `ctl` or dropped.
                let stream = unsafe {
                    StreamFile::new(
                        vdev,
                        T::NAME,
                        Phase::Resuming,
                        KVec::new(),
                        T::MIGRATION_STREAM_MAX,
                    )?
                };
                // On error, the file is dropped unused.
                data.migration_arc(cur, next)?;
                let new = stream.new_ref();
                ctl.resume = Some(stream);
                Ok(Some(new))
            }
        }
    }

    /// # Safety
    ///
    /// Called by the VFIO core on a registered `Device<T>` that migrates.
    unsafe extern "C" fn migration_get_state(
        vdev: *mut ffi::vfio_device,
        state: *mut ffi::vfio_device_mig_state,
    ) -> c_int {
        // SAFETY: As in `open_device`; `state` is valid (caller).
        unsafe { *state = Device::<T>::mig_of(vdev).lock().state as u32 };
        0
    }

    /// # Safety
    ///
    /// Called by the VFIO core on a registered `Device<T>` that migrates.
    unsafe extern "C" fn migration_get_data_size(
        vdev: *mut ffi::vfio_device,
        size: *mut c_ulong,
    ) -> c_int {
        // SAFETY: As in `open_device`.
        let data = unsafe { Device::<T>::from_vdev(vdev) };
        from_result(|| {
            let n = data.migration_data_size()?;
            // SAFETY: `size` is valid (caller).
            unsafe { *size = c_ulong::try_from(n).map_err(|_| EOVERFLOW)? };
            Ok(0)
        })
    }
}

#[kunit_tests(mtty_rs_vfio_migration)]
mod tests {
    use super::*;
    use kernel::alloc::flags::__GFP_ZERO;

    const ALL: [MigState; 8] = [
        MigState::Error,
        MigState::Stop,
        MigState::Running,
        MigState::StopCopy,
        MigState::Resuming,
        MigState::RunningP2p,
        MigState::PreCopy,
        MigState::PreCopyP2p,
    ];

    /// For every flag set `Adapter::MIG_OPS` accepts and every pair of states the set
    /// supports, walks the kernel's `vfio_mig_get_next_state()` from one to the
    /// other and checks that `arc_kind` (so `Adapter::step`) takes every arc it gives.
    #[test]
    fn every_arc_of_the_core() -> Result {
        let p2p = MIGRATION_P2P;
        let pre = MIGRATION_PRE_COPY;
        let mut arcs = 0u32;
        for flags in [0, p2p, pre, p2p | pre] {
            let flags = MIGRATION_STOP_COPY | flags;
            // The function only reads `migration_flags`.
            let vdev = KBox::<ffi::vfio_device>::new_uninit(GFP_KERNEL | __GFP_ZERO)?;
            // SAFETY: All-zero is a valid `vfio_device` (a C struct of integers and
            // pointers), and the allocation was zeroed.
            let mut vdev = unsafe { vdev.assume_init() };
            vdev.migration_flags = flags;
            let vdev = &raw mut *vdev;
            let next_of = |cur: MigState, new: MigState| -> Result<MigState> {
                let mut next: ffi::vfio_device_mig_state = 0;
                // SAFETY: `vdev` is valid for the call; `cur` is a state of `flags` (the
                // function WARNs otherwise), `next` is valid for the call.
                to_result(unsafe {
                    ffi::vfio_mig_get_next_state(vdev, cur as u32, new as u32, &mut next)
                })?;
                MigState::from_raw(next)
            };
            // A state is of `flags` if the core walks to it from RUNNING (always of
            // them): it refuses the others as targets with `EINVAL`, without a WARN.
            let mut states = KVec::new();
            for s in ALL {
                if next_of(MigState::Running, s).is_ok() {
                    states.push(s, GFP_KERNEL)?;
                }
            }
            // STOP, RUNNING, STOP_COPY, RESUMING, then one each for P2P and PRE_COPY,
            // and PRE_COPY_P2P with both.
            let want = 4
                + usize::from(flags & p2p != 0)
                + usize::from(flags & pre != 0)
                + usize::from(flags & (p2p | pre) == p2p | pre);
            assert_eq!(states.len(), want);
            for &from in states.iter() {
                for &to in states.iter() {
                    let mut cur = from;
                    let mut steps = 0;
                    while cur != to {
                        let next = next_of(cur, to);
                        // STOP_COPY -> PRE_COPY(_P2P) is blocked.
                        if cur == MigState::StopCopy
                            && matches!(to, MigState::PreCopy | MigState::PreCopyP2p)
                        {
                            assert!(next.is_err());
                            break;
                        }
                        let next = next?;
                        assert!(arc_kind(cur, next).is_some());
                        arcs += 1;
                        cur = next;
                        steps += 1;
                        assert!(steps < ALL.len());
                    }
                }
            }
        }
        // The walks did take arcs.
        assert!(arcs > 0);
        Ok(())
    }
}
