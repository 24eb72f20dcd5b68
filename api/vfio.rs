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
//! Using this module: the crate provides `crate::vfio_bindings`, the bindgen output of
//! `vfio_bindings.mk`, and includes this file as a module.

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
use kernel::prelude::*;
use kernel::str::as_char_ptr_in_const_context;
use kernel::sync::aref::ARef;
use kernel::sync::aref::AlwaysRefCounted;
use kernel::types::Opaque;
use kernel::uaccess::UserPtr;
use kernel::uaccess::UserSlice;
use kernel::uaccess::UserSliceReader;
use kernel::uaccess::UserSliceWriter;

use crate::vfio_bindings as ffi;

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
    /// `VFIO_DEVICE_FLAGS_*`.
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
/// its own state. None runs once the emulated device is unbound (see [`register`]).
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

    /// `VFIO_DEVICE_RESET`.
    fn reset(&self) -> Result;

    /// The device is being unregistered while users still hold it open: ask them to
    /// release it (`count` counts the requests). Called every ten seconds until they
    /// do, from the task unbinding the emulated device, with whatever locks it holds
    /// (for an mdev: the mdev's device lock, and the parent's gate, for reading in a
    /// user's remove, for writing in the parent's unregistration, not at all in an
    /// unbind through the driver's `unbind` file); it must not wait for the users.
    fn request(&self, _count: u32) {
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
/// the `struct vfio_device`), and its `ops` are `Adapter::<T>::OPS`. `data` is
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
/// (the VFIO core reads the parent's driver at every open). A device that already has
/// an IOMMU group (a second registration) is refused with `EBUSY`.
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
    let initialised = unsafe { init.__init((&raw mut (*this).data).cast::<T>()) };
    if let Err(e) = initialised {
        // SAFETY: Pairs with the allocation's initial reference; the release does not
        // touch the data, `initialised` being false.
        unsafe { bindings::put_device(&raw mut (*vdev).device) };
        return Err(e);
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
        bind_iommufd: Some(ffi::vfio_iommufd_emulated_bind),
        unbind_iommufd: Some(ffi::vfio_iommufd_emulated_unbind),
        attach_ioas: Some(ffi::vfio_iommufd_emulated_attach_ioas),
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
        // SAFETY: All-zero is a valid `vfio_device_ops` (no name, no ops).
        ..unsafe { MaybeUninit::zeroed().assume_init() }
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
                put_u32(&mut info, 4, d.flags);
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
            VFIO_DEVICE_RESET => data.reset(),
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
