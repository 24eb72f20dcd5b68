// SPDX-License-Identifier: GPL-2.0

//! Sysfs attribute tables written in safe Rust.
//!
//! 7.3's kernel crate has no sysfs abstraction. This one covers what the mdev core
//! needs, in the shape of `rust/kernel/configfs.rs`: an attribute is a static value
//! that pairs the C `struct attribute` with Rust `show`/`store` functions of the
//! object type `T` it belongs to; attribute lists and groups are statics built from
//! those; a [`KobjType`] dispatches the C `sysfs_ops` of a kobject type to them. The
//! only unsafe code is here, in the trampolines and in the `from_kobject` /
//! `from_device` conversions each object type provides.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::bindings;
use kernel::error::from_result;
use kernel::ffi::c_char;
use kernel::ffi::c_int;
use kernel::prelude::*;
use kernel::str::as_char_ptr_in_const_context;

/// The size of the buffer sysfs hands to a `show` method.
const SHOW_BUFFER_SIZE: usize = bindings::PAGE_SIZE;

/// The buffer a `show` method writes into; `write!` to it like to a string.
pub(crate) struct ShowBuffer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl ShowBuffer<'_> {
    /// The number of bytes written so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The buffer, for a C function that fills it (a vendor's `show_description`).
    pub(crate) fn as_mut_ptr(&mut self) -> *mut c_char {
        self.buf.as_mut_ptr().cast()
    }

    /// Takes the return value of a C function that filled the buffer: a length, or a
    /// negative errno.
    pub(crate) fn set_len_from_c(&mut self, n: isize) -> Result {
        if n < 0 {
            return Err(i32::try_from(n).map_or(EINVAL, Error::from_errno));
        }
        // The C function may claim more than the page it had; sysfs would refuse that.
        self.len = usize::try_from(n).map_err(|_| EINVAL)?.min(self.buf.len());
        Ok(())
    }

    /// Appends raw bytes, keeping the last byte for the terminating NUL as
    /// `sysfs_emit` does; what does not fit is cut off.
    pub(crate) fn write_bytes(&mut self, b: &[u8]) {
        let room = self.buf.len().saturating_sub(self.len + 1);
        let n = b.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
        if let Some(end) = self.buf.get_mut(self.len) {
            *end = 0;
        }
    }
}

impl fmt::Write for ShowBuffer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}

/// An object type whose kobjects carry [`Attribute`]s of that type.
///
/// # Safety
///
/// `from_kobject` must only be called with kobjects registered with a [`KobjType`] of
/// `Self`, and must return the object that embeds that kobject.
pub(crate) unsafe trait KobjectObject: Sized + 'static {
    /// The object that embeds `kobj`.
    ///
    /// # Safety
    ///
    /// `kobj` must be the kobject of a live object of this type, registered with a
    /// [`KobjType`] of `Self`; the object must stay alive for `'a`.
    unsafe fn from_kobject<'a>(kobj: *mut bindings::kobject) -> &'a Self;
}

/// What userspace wrote to an attribute, as a `store` method gets it: the bytes, and
/// the NUL that kernfs puts after them (`kernfs_fop_write_iter()`: "guarantee string
/// termination"), so that the C parsers a C `store` would call (`guid_parse()`,
/// `kstrtoul()`) can read it as the C string they expect.
///
/// # Invariants
///
/// `with_nul` is not empty and ends with a NUL byte.
#[derive(Clone, Copy)]
pub(crate) struct Written<'a> {
    with_nul: &'a [u8],
}

impl<'a> Written<'a> {
    /// `bytes` as written, followed by its terminating NUL; `EINVAL` without one.
    pub(crate) fn new(with_nul: &'a [u8]) -> Result<Self> {
        match with_nul.last() {
            // INVARIANT: Ends with a NUL byte.
            Some(0) => Ok(Written { with_nul }),
            _ => Err(EINVAL),
        }
    }

    /// The bytes written (the `count` of the C `store`).
    pub(crate) fn as_bytes(&self) -> &'a [u8] {
        &self.with_nul[..self.with_nul.len() - 1]
    }

    /// The bytes written as the C string a C `store` sees: up to the first NUL.
    pub(crate) fn as_c_str(&self) -> &'a CStr {
        // The terminator is always found (type invariant).
        CStr::from_bytes_until_nul(self.with_nul).unwrap_or(c"")
    }
}

/// A `show` method: writes the attribute's content.
pub(crate) type ShowFn<T> = fn(&T, &mut ShowBuffer<'_>) -> Result;
/// A `store` method: takes what userspace wrote, returns how much it consumed.
pub(crate) type StoreFn<T> = fn(&T, Written<'_>) -> Result<usize>;

/// One attribute of objects of type `T`.
///
/// # Invariants
///
/// `raw` is the first field, so a pointer to the C `attribute` of a registered
/// attribute is a pointer to the `Attribute<T>` it belongs to.
#[repr(C)]
pub(crate) struct Attribute<T: 'static> {
    raw: bindings::attribute,
    show: Option<ShowFn<T>>,
    store: Option<StoreFn<T>>,
}

// SAFETY: An attribute is immutable after construction; the C side only reads it.
unsafe impl<T> Sync for Attribute<T> {}

const fn raw_attribute(name: &'static CStr, mode: u16) -> bindings::attribute {
    // No lockdep key is set: a static attribute's key is its own static `skey`, which
    // sysfs picks when `key` is null.
    let mut raw: bindings::attribute = pin_init::zeroed();
    raw.name = as_char_ptr_in_const_context(name);
    raw.mode = mode;
    raw
}

impl<T: KobjectObject> Attribute<T> {
    /// A read-only attribute (mode 0444).
    pub(crate) const fn read_only(name: &'static CStr, show: ShowFn<T>) -> Self {
        Attribute {
            raw: raw_attribute(name, 0o444),
            show: Some(show),
            store: None,
        }
    }

    /// A write-only attribute (mode 0200).
    pub(crate) const fn write_only(name: &'static CStr, store: StoreFn<T>) -> Self {
        Attribute {
            raw: raw_attribute(name, 0o200),
            show: None,
            store: Some(store),
        }
    }

    /// The attribute's file mode.
    pub(crate) fn mode(&self) -> u16 {
        self.raw.mode
    }

    /// Whether `attr` is this attribute.
    pub(crate) fn is(&self, attr: *const bindings::attribute) -> bool {
        core::ptr::eq(&self.raw, attr)
    }
}

/// A NULL-terminated list of attributes of `T`, as `attribute_group::attrs` wants.
#[repr(transparent)]
pub(crate) struct AttributeList<T: 'static, const N: usize>(
    [*const bindings::attribute; N],
    PhantomData<T>,
);

// SAFETY: The list only holds pointers to immutable statics.
unsafe impl<T, const N: usize> Sync for AttributeList<T, N> {}

impl<T: KobjectObject, const N: usize> AttributeList<T, N> {
    /// Builds the list; `attrs` must end with `None`.
    pub(crate) const fn new(attrs: [Option<&'static Attribute<T>>; N]) -> Self {
        let mut raw = [core::ptr::null(); N];
        let mut i = 0;
        while i < N {
            if let Some(a) = attrs[i] {
                raw[i] = &a.raw;
            }
            i += 1;
        }
        assert!(
            N > 0 && attrs[N - 1].is_none(),
            "an attribute list ends with None"
        );
        AttributeList(raw, PhantomData)
    }
}

/// Marks attribute lists and groups of device attributes of `T`, which the driver core
/// dispatches (through `struct device_attribute`), so that they cannot be given to a
/// [`KobjType`] of `T`, which dispatches to [`Attribute`]s.
pub(crate) struct OfDevice<T>(PhantomData<T>);

impl<T: DeviceObject, const N: usize> AttributeList<OfDevice<T>, N> {
    /// Builds a list of device attributes; `attrs` must end with `None`.
    pub(crate) const fn of_device(attrs: [Option<&'static DeviceAttribute<T>>; N]) -> Self {
        let mut raw = [core::ptr::null(); N];
        let mut i = 0;
        while i < N {
            if let Some(a) = attrs[i] {
                raw[i] = &a.raw.attr;
            }
            i += 1;
        }
        assert!(
            N > 0 && attrs[N - 1].is_none(),
            "an attribute list ends with None"
        );
        AttributeList(raw, PhantomData)
    }
}

/// Decides, per object, whether an attribute is shown: returns the mode, 0 to hide it.
pub(crate) type IsVisibleFn<T> = fn(&T, &Attribute<T>) -> u16;

/// An attribute group of objects of type `T`.
///
/// # Invariants
///
/// Every attribute reachable from `raw.attrs` is an `Attribute<T>`.
#[repr(transparent)]
pub(crate) struct AttributeGroup<T: 'static>(bindings::attribute_group, PhantomData<T>);

// SAFETY: Immutable after construction; the C side only reads it.
unsafe impl<T> Sync for AttributeGroup<T> {}

impl<T> AttributeGroup<T> {
    /// An unnamed group over `attrs`, all shown.
    pub(crate) const fn new<const N: usize>(attrs: &'static AttributeList<T, N>) -> Self {
        let mut raw: bindings::attribute_group = pin_init::zeroed();
        raw.__bindgen_anon_2.attrs = attrs.0.as_ptr().cast_mut().cast();
        // INVARIANT: `attrs` only holds attributes of `T`.
        AttributeGroup(raw, PhantomData)
    }
}

/// The group's `is_visible`: asks `T::visibility()`.
///
/// # Safety
///
/// Called by sysfs with a live kobject of a [`KobjType`] of `T` and one of the group's
/// attributes.
unsafe extern "C" fn is_visible_trampoline<T: KobjectObject + Visibility>(
    kobj: *mut bindings::kobject,
    attr: *mut bindings::attribute,
    _n: c_int,
) -> bindings::umode_t {
    // SAFETY: Sysfs calls this only for groups of kobjects of a `KobjType<T>`, so `kobj`
    // is a live `T`'s kobject, and `attr` is from the group's list, so an
    // `Attribute<T>` (type invariant of `AttributeGroup<T>`).
    let (obj, attr) = unsafe { (T::from_kobject(kobj), &*attr.cast::<Attribute<T>>()) };
    // The group pointer is not passed to `is_visible`; find it through the ktype,
    // which has exactly one group of `T` with a visibility function.
    match T::visibility() {
        Some(f) => f(obj, attr),
        None => attr.raw.mode,
    }
}

/// What a [`KobjectObject`] type may add to decide attribute visibility.
pub(crate) trait Visibility: KobjectObject {
    /// The visibility function of the type's attribute group, if any.
    fn visibility() -> Option<IsVisibleFn<Self>>;
}

impl<T: KobjectObject + Visibility> AttributeGroup<T> {
    /// An unnamed group over `attrs`; `T::visibility()` decides which are shown.
    pub(crate) const fn with_visibility<const N: usize>(
        attrs: &'static AttributeList<T, N>,
    ) -> Self {
        let AttributeGroup(mut raw, _) = AttributeGroup::new(attrs);
        #[cfg(not(CONFIG_CFI))]
        {
            raw.__bindgen_anon_1 = bindings::attribute_group__bindgen_ty_1 {
                is_visible: Some(is_visible_trampoline::<T>),
            };
        }
        #[cfg(CONFIG_CFI)]
        {
            raw.__bindgen_anon_1.is_visible = Some(is_visible_trampoline::<T>);
        }
        AttributeGroup(raw, PhantomData)
    }
}

/// A NULL-terminated list of groups, as `default_groups` wants.
#[repr(transparent)]
pub(crate) struct GroupList<T: 'static, const N: usize>(
    [*const bindings::attribute_group; N],
    PhantomData<T>,
);

// SAFETY: The list only holds pointers to immutable statics.
unsafe impl<T, const N: usize> Sync for GroupList<T, N> {}

impl<T, const N: usize> GroupList<T, N> {
    /// Builds the list; `groups` must end with `None`.
    pub(crate) const fn new(groups: [Option<&'static AttributeGroup<T>>; N]) -> Self {
        let mut raw = [core::ptr::null(); N];
        let mut i = 0;
        while i < N {
            if let Some(g) = groups[i] {
                raw[i] = &g.0;
            }
            i += 1;
        }
        assert!(
            N > 0 && groups[N - 1].is_none(),
            "a group list ends with None"
        );
        GroupList(raw, PhantomData)
    }

    pub(crate) const fn as_raw(&'static self) -> *mut *const bindings::attribute_group {
        self.0.as_ptr().cast_mut()
    }
}

/// The ktype's `show`: calls the attribute's show method.
///
/// # Safety
///
/// Called by sysfs with a live kobject of a [`KobjType`] of `T`, one of its
/// attributes and a page-sized buffer.
unsafe extern "C" fn show_trampoline<T: KobjectObject>(
    kobj: *mut bindings::kobject,
    attr: *mut bindings::attribute,
    buf: *mut c_char,
) -> isize {
    // SAFETY: Sysfs calls the ktype's `show` with a live kobject of the ktype, one of
    // its attributes (all `Attribute<T>`, by the groups' invariant) and a buffer of
    // `PAGE_SIZE` bytes that nothing else uses during the call.
    let (obj, attr, buf) = unsafe {
        (
            T::from_kobject(kobj),
            &*attr.cast::<Attribute<T>>(),
            core::slice::from_raw_parts_mut(buf.cast::<u8>(), SHOW_BUFFER_SIZE),
        )
    };
    from_result(|| {
        let show = attr.show.ok_or(EIO)?;
        let mut out = ShowBuffer { buf, len: 0 };
        show(obj, &mut out)?;
        // CAST: At most `PAGE_SIZE` bytes, which fits an `isize`.
        Ok(out.len() as isize)
    })
}

/// What a store returns to sysfs: the `n` bytes it consumed of the `count` it was
/// given. A store claiming more than it was given, or nothing of a non-empty write
/// (which makes write(2) return 0, and its callers retry for ever), is a bug; the
/// write fails with `EIO` instead.
fn consumed(n: usize, count: usize) -> Result<isize> {
    if n > count || (n == 0 && count > 0) {
        return Err(EIO);
    }
    // CAST: At most `count`, which sysfs bounds by `PAGE_SIZE`.
    Ok(n as isize)
}

/// The ktype's `store`: calls the attribute's store method.
///
/// # Safety
///
/// Called by sysfs with a live kobject of a [`KobjType`] of `T`, one of its
/// attributes and `count` bytes at `buf`, followed by a NUL.
unsafe extern "C" fn store_trampoline<T: KobjectObject>(
    kobj: *mut bindings::kobject,
    attr: *mut bindings::attribute,
    buf: *const c_char,
    count: usize,
) -> isize {
    // SAFETY: As in `show_trampoline`; `buf` holds the `count` bytes written by
    // userspace and the NUL kernfs added after them.
    let (obj, attr, data) = unsafe {
        (
            T::from_kobject(kobj),
            &*attr.cast::<Attribute<T>>(),
            core::slice::from_raw_parts(buf.cast::<u8>(), count + 1),
        )
    };
    from_result(|| {
        let store = attr.store.ok_or(EIO)?;
        consumed(store(obj, Written::new(data)?)?, count)
    })
}

/// The C `sysfs_ops` dispatching to the [`Attribute`]s of `T`.
pub(crate) struct SysfsOps<T: KobjectObject>(bindings::sysfs_ops, PhantomData<T>);

// SAFETY: Immutable after construction; the C side only reads it.
unsafe impl<T: KobjectObject> Sync for SysfsOps<T> {}

impl<T: KobjectObject> SysfsOps<T> {
    pub(crate) const fn new() -> Self {
        SysfsOps(
            bindings::sysfs_ops {
                show: Some(show_trampoline::<T>),
                store: Some(store_trampoline::<T>),
            },
            PhantomData,
        )
    }
}

/// A kobject type whose objects are `T`s.
///
/// # Invariants
///
/// `raw.sysfs_ops` dispatches to `Attribute<T>`s and `raw.default_groups` only holds
/// groups of `T`.
#[repr(transparent)]
pub(crate) struct KobjType<T: KobjectObject>(bindings::kobj_type, PhantomData<T>);

// SAFETY: Immutable after construction; the C side only reads it.
unsafe impl<T: KobjectObject> Sync for KobjType<T> {}

impl<T: KobjectObject> KobjType<T> {
    /// A kobject type with the given release function, sysfs operations and groups.
    pub(crate) const fn new<const N: usize>(
        release: unsafe extern "C" fn(*mut bindings::kobject),
        ops: &'static SysfsOps<T>,
        groups: &'static GroupList<T, N>,
    ) -> Self {
        let mut raw: bindings::kobj_type = pin_init::zeroed();
        raw.release = Some(release);
        raw.sysfs_ops = &ops.0;
        raw.default_groups = groups.as_raw();
        KobjType(raw, PhantomData)
    }

    pub(crate) fn as_raw(&'static self) -> *const bindings::kobj_type {
        &self.0
    }
}

/// An object type reachable from its `struct device`.
///
/// # Safety
///
/// `from_device` must return the object that embeds `dev`, for devices that are
/// embedded in a `Self`.
pub(crate) unsafe trait DeviceObject: Sized + 'static {
    /// The object that embeds `dev`.
    ///
    /// # Safety
    ///
    /// `dev` must be embedded in a `Self`.
    unsafe fn from_device(dev: *mut bindings::device) -> NonNull<Self>;
}

/// The object a device attribute's store runs on, as a pointer.
///
/// A store may end the object's life (the mdev `remove` attribute does: its last
/// `put_device()` must happen where the C core's does, under the parent's gate), so it
/// gets no reference, which would have to stay valid for the whole call.
pub(crate) struct DevicePtr<T>(NonNull<T>);

impl<T> Clone for DevicePtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for DevicePtr<T> {}

impl<T> DevicePtr<T> {
    /// The object.
    ///
    /// # Safety
    ///
    /// The object must stay alive for `'a`. It is alive while the store holds the
    /// attribute file's active reference, i.e. until the store removes its own file.
    pub(crate) unsafe fn get<'a>(self) -> &'a T {
        // SAFETY: Alive for `'a` (caller).
        unsafe { self.0.as_ref() }
    }

    /// The object as a raw pointer.
    pub(crate) fn as_ptr(self) -> NonNull<T> {
        self.0
    }
}

/// A store method of a device attribute; it gets the attribute to be able to remove
/// its own file.
pub(crate) type DeviceStoreFn<T> =
    fn(DevicePtr<T>, &DeviceAttribute<T>, Written<'_>) -> Result<usize>;

/// A write-only attribute of devices embedded in `T`s.
///
/// # Invariants
///
/// `raw` is the first field; the attribute is only registered on devices embedded in
/// `T`s.
#[repr(C)]
pub(crate) struct DeviceAttribute<T: DeviceObject> {
    raw: bindings::device_attribute,
    store: DeviceStoreFn<T>,
}

// SAFETY: Immutable after construction; the C side only reads it.
unsafe impl<T: DeviceObject> Sync for DeviceAttribute<T> {}

/// The device attribute's `store`: calls its store method.
///
/// # Safety
///
/// Called by the driver core with a live device carrying this attribute and `count`
/// bytes at `buf`, followed by a NUL.
unsafe extern "C" fn device_store_trampoline<T: DeviceObject>(
    dev: *mut bindings::device,
    attr: *mut bindings::device_attribute,
    buf: *const c_char,
    count: usize,
) -> isize {
    // SAFETY: The device carries this attribute, so it is embedded in a `T` (type
    // invariant of `DeviceAttribute<T>`); `count` bytes and the NUL kernfs added after
    // them are at `buf`.
    let (obj, attr, data) = unsafe {
        (
            DevicePtr(T::from_device(dev)),
            &*attr.cast::<DeviceAttribute<T>>(),
            core::slice::from_raw_parts(buf.cast::<u8>(), count + 1),
        )
    };
    from_result(|| consumed((attr.store)(obj, attr, Written::new(data)?)?, count))
}

impl<T: DeviceObject> DeviceAttribute<T> {
    /// A write-only device attribute (mode 0200).
    pub(crate) const fn write_only(name: &'static CStr, store: DeviceStoreFn<T>) -> Self {
        let mut raw: bindings::device_attribute = pin_init::zeroed();
        raw.attr = raw_attribute(name, 0o200);
        #[cfg(not(CONFIG_CFI))]
        {
            raw.__bindgen_anon_2 = bindings::device_attribute__bindgen_ty_2 {
                store: Some(device_store_trampoline::<T>),
            };
        }
        #[cfg(CONFIG_CFI)]
        {
            raw.__bindgen_anon_2.store = Some(device_store_trampoline::<T>);
        }
        DeviceAttribute { raw, store }
    }

    /// Removes this attribute's file from `dev` from within its own `store`, so that
    /// of several concurrent writers exactly one gets `true`.
    ///
    /// # Safety
    ///
    /// Must be called from this attribute's store method running on `dev`.
    pub(crate) unsafe fn remove_self(&self, dev: *mut bindings::device) -> bool {
        // SAFETY: `dev` is live and carries this attribute (caller).
        unsafe { bindings::device_remove_file_self(dev, &self.raw) }
    }
}
