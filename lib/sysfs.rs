// SPDX-License-Identifier: GPL-2.0

//! Sysfs attributes in safe Rust: the one attribute framework of the mdev core and of
//! the vendor API.
//!
//! 7.3's kernel crate has no sysfs abstraction, so this file is that layer, as
//! `rust/kernel/configfs.rs` is for configfs. Both modules compile it as their
//! `crate::sysfs`: the core (`src/mdev_core.rs`, `#[path = "../lib/sysfs.rs"] mod
//! sysfs;`) and a vendor module (through `api/mod.rs`, imported at its root). A 7.3
//! module cannot export Rust items to another one (Rust has no `EXPORT_SYMBOL`; see
//! `src/Kbuild`), so the two share the source, as C modules share a header. A vendor
//! uses only a part of it (only the core has kobject types), hence `expect(dead_code)`
//! in `api/mod.rs`.
//!
//! The pieces, after configfs.rs:
//!
//! - An attribute is a static that pairs the C `struct attribute` with the Rust
//!   `show`/`store` of the object it belongs to: [`KobjAttribute<T>`] for the kobjects of a
//!   [`KobjType<T>`] (the C `kobj_attribute`), [`DeviceAttribute<O>`] for devices (the
//!   C `device_attribute`, `DEVICE_ATTR_*`).
//! - [`sysfs_groups!`] builds the groups and their NULL-terminated lists from the names
//!   of the attribute statics, as `configfs_attrs!` does: it counts them and adds the
//!   terminators, and each list only takes attributes of one object type.
//! - The C callbacks (`sysfs_ops`, a device attribute's `show`/`store`, a group's
//!   `is_visible`) are trampolines here, monomorphised per object type; they are the
//!   only unsafe code, with the conversions from the C object to the Rust one that
//!   [`KobjectObject`] and [`DeviceObject`] declare.

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

/// The permission bits of a mode (`S_IRWXUGO`).
const PERMISSION_BITS: u16 = 0o777;

/// The mode of an attribute: readable by all with a `show` (0444), writable by root
/// with a `store` (0200), as `__ATTR_RO`/`__ATTR_WO`/`__ATTR_RW` make it.
const fn mode(show: bool, store: bool) -> u16 {
    (if show { 0o444 } else { 0 }) | if store { 0o200 } else { 0 }
}

const fn raw_attribute(name: &'static CStr, mode: u16) -> bindings::attribute {
    // No lockdep key is set: a static attribute's key is its own static `skey`, which
    // sysfs picks when `key` is null.
    let mut raw: bindings::attribute = pin_init::zeroed();
    raw.name = as_char_ptr_in_const_context(name);
    raw.mode = mode;
    raw
}

/// The C `attribute` of an attribute of objects of type `T`, as a list of `T`'s
/// attributes takes it.
pub(crate) struct AttrRef<T>(&'static bindings::attribute, PhantomData<T>);

impl<T> Clone for AttrRef<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for AttrRef<T> {}

/// A kind of attribute: what its lists and groups hold, for [`sysfs_groups!`].
///
/// # Safety
///
/// `IS_VISIBLE` must be a function sysfs may call with the kobjects that carry groups
/// of `Of`, and any of their attributes.
pub(crate) unsafe trait AttributeKind {
    /// The type parameter of the lists and groups of this kind of attribute.
    type Of: 'static;
    /// The `is_visible` of the groups of this kind of attribute.
    const IS_VISIBLE: IsVisibleRaw;
    /// Whether a store of this kind may remove its own file ([`OwnFile::remove_self`]).
    /// Such attributes are only in groups without a name: `device_remove_file_self()`
    /// only looks in the device's own directory. [`AttributeGroup::new`] checks it.
    const SELF_REMOVABLE: bool;
}

/// A group's C `is_visible`.
type IsVisibleRaw =
    Option<unsafe extern "C" fn(*mut bindings::kobject, *mut bindings::attribute, c_int) -> u16>;

// ---------------------------------------------------------------------------------
// Attributes of kobjects.

/// An object type that embeds a kobject, whose kobject type carries [`KobjAttribute`]s of
/// that type.
///
/// # Safety
///
/// - `KOBJ_OFFSET` is the offset of a `struct kobject` in `Self` ([`KobjType::new`]
///   checks that one fits there).
/// - A `&Self` may exist while the C side mutates that kobject (its refcount, its
///   kernfs node, its state bits): the kobject is inside an `Opaque` (or another
///   `UnsafeCell`) of `Self`.
///
/// Which kobjects are `Self`s is the obligation of [`KobjType::as_raw`]'s callers.
pub(crate) unsafe trait KobjectObject: Sized + 'static {
    /// The offset of the kobject in `Self`.
    const KOBJ_OFFSET: usize;

    /// Decides, per object, whether an attribute is shown: returns its mode, 0 to hide
    /// it. All are shown by default. Only the permission bits (0777) are taken: sysfs's
    /// other bits (`SYSFS_PREALLOC`, `SYSFS_GROUP_INVISIBLE`) are dropped.
    fn is_visible(&self, attr: &KobjAttribute<Self>) -> u16 {
        attr.mode()
    }
}

/// The object that embeds `kobj`.
///
/// # Safety
///
/// `kobj` must be the kobject of a live `T`, initialised with a [`KobjType<T>`], and
/// the `T` must stay alive for `'a`.
unsafe fn object_of<'a, T: KobjectObject>(kobj: *mut bindings::kobject) -> &'a T {
    let obj = kobj.wrapping_byte_sub(T::KOBJ_OFFSET).cast::<T>();
    // SAFETY: `kobj` is the field at `KOBJ_OFFSET` of a `T` (`KobjType::as_raw`'s
    // contract), alive for `'a` (caller); a `&T` may coexist with the C side's use of
    // the kobject (`KobjectObject`).
    unsafe { &*obj }
}

/// A `show` method: writes the attribute's content.
pub(crate) type ShowFn<T> = fn(&T, &mut ShowBuffer<'_>) -> Result;
/// A `store` method: takes what userspace wrote, returns how much it consumed.
pub(crate) type StoreFn<T> = fn(&T, Written<'_>) -> Result<usize>;

/// One attribute of the kobjects of objects of type `T`.
///
/// # Invariants
///
/// `raw` is the first field, so a pointer to the C `attribute` of a registered
/// attribute is a pointer to the `KobjAttribute<T>` it belongs to.
#[repr(C)]
pub(crate) struct KobjAttribute<T: 'static> {
    raw: bindings::attribute,
    show: Option<ShowFn<T>>,
    store: Option<StoreFn<T>>,
}

// SAFETY: An attribute is immutable after construction; the C side only reads it.
unsafe impl<T> Sync for KobjAttribute<T> {}

impl<T: KobjectObject> KobjAttribute<T> {
    /// A read-only attribute (mode 0444).
    pub(crate) const fn read_only(name: &'static CStr, show: ShowFn<T>) -> Self {
        KobjAttribute {
            raw: raw_attribute(name, mode(true, false)),
            show: Some(show),
            store: None,
        }
    }

    /// A write-only attribute (mode 0200).
    pub(crate) const fn write_only(name: &'static CStr, store: StoreFn<T>) -> Self {
        KobjAttribute {
            raw: raw_attribute(name, mode(false, true)),
            show: None,
            store: Some(store),
        }
    }

    /// The attribute's file mode.
    pub(crate) fn mode(&self) -> u16 {
        self.raw.mode
    }

    /// The attribute, for a list of `T`'s attributes.
    pub(crate) const fn attr_ref(&'static self) -> AttrRef<T> {
        AttrRef(&self.raw, PhantomData)
    }
}

// SAFETY: `is_visible_trampoline::<T>` takes the kobjects of `KobjType<T>`, the only
// ones that carry groups of `T` (its invariant), and their attributes.
unsafe impl<T: KobjectObject> AttributeKind for KobjAttribute<T> {
    type Of = T;
    const IS_VISIBLE: IsVisibleRaw = Some(is_visible_trampoline::<T>);
    /// A kobject attribute's store gets no [`OwnFile`].
    const SELF_REMOVABLE: bool = false;
}

/// A group's `is_visible`: asks `T::is_visible()`.
///
/// # Safety
///
/// Called by sysfs with a live kobject of a [`KobjType<T>`] and one of its attributes.
unsafe extern "C" fn is_visible_trampoline<T: KobjectObject>(
    kobj: *mut bindings::kobject,
    attr: *mut bindings::attribute,
    _n: c_int,
) -> bindings::umode_t {
    // SAFETY: Sysfs calls this only for the groups of a `KobjType<T>`'s kobjects, so
    // `kobj` is the kobject of a `T`, valid while `kobject_add()` creates its files and
    // until `kobject_del()` (the contract of `KobjType::as_raw`), and `attr` is from
    // one of those groups, so a `KobjAttribute<T>` (invariant of `KobjType<T>`) starting
    // with its C `attribute`.
    let (obj, attr) = unsafe { (object_of::<T>(kobj), &*attr.cast::<KobjAttribute<T>>()) };
    // Only the permission bits: `SYSFS_PREALLOC` would make sysfs hand `show` a buffer
    // that is not the zeroed page `show_trampoline` takes.
    obj.is_visible(attr) & PERMISSION_BITS
}

/// The ktype's `show`: calls the attribute's show method.
///
/// # Safety
///
/// Called by sysfs with a live kobject of a [`KobjType<T>`], one of its attributes and
/// a page-sized buffer.
unsafe extern "C" fn show_trampoline<T: KobjectObject>(
    kobj: *mut bindings::kobject,
    attr: *mut bindings::attribute,
    buf: *mut c_char,
) -> isize {
    // SAFETY: Sysfs calls the ktype's `show` with a live kobject of the ktype, a `T`'s,
    // one of its attributes (all `KobjAttribute<T>`: the groups are `T`'s by the invariant
    // of `KobjType<T>`, and no others are added, by the contract of
    // `KobjType::as_raw`) and a buffer of `PAGE_SIZE` bytes that nothing else uses
    // during the call.
    let (obj, attr, buf) = unsafe {
        (
            object_of::<T>(kobj),
            &*attr.cast::<KobjAttribute<T>>(),
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

/// The ktype's `store`: calls the attribute's store method.
///
/// # Safety
///
/// Called by sysfs with a live kobject of a [`KobjType<T>`], one of its attributes and
/// `count` bytes at `buf`, followed by a NUL.
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
            object_of::<T>(kobj),
            &*attr.cast::<KobjAttribute<T>>(),
            core::slice::from_raw_parts(buf.cast::<u8>(), count + 1),
        )
    };
    from_result(|| {
        let store = attr.store.ok_or(EIO)?;
        consumed(store(obj, Written::new(data)?)?, count)
    })
}

/// The C `sysfs_ops` of the kobject types of `T`.
struct SysfsOps<T>(PhantomData<T>);

impl<T: KobjectObject> SysfsOps<T> {
    const RAW: bindings::sysfs_ops = bindings::sysfs_ops {
        show: Some(show_trampoline::<T>),
        store: Some(store_trampoline::<T>),
    };
}

/// A kobject type whose objects are `T`s.
///
/// # Invariants
///
/// `raw.sysfs_ops` dispatches to `KobjAttribute<T>`s and `raw.default_groups` only holds
/// groups of `T`.
#[repr(transparent)]
pub(crate) struct KobjType<T: KobjectObject>(bindings::kobj_type, PhantomData<T>);

// SAFETY: Immutable after construction; the C side only reads it.
unsafe impl<T: KobjectObject> Sync for KobjType<T> {}

impl<T: KobjectObject> KobjType<T> {
    /// A kobject type with the given release function and groups (see
    /// [`sysfs_groups!`]).
    pub(crate) const fn new(
        release: unsafe extern "C" fn(*mut bindings::kobject),
        groups: Groups<T>,
    ) -> Self {
        assert!(
            T::KOBJ_OFFSET + core::mem::size_of::<bindings::kobject>() <= core::mem::size_of::<T>(),
            "the kobject lies within the object"
        );
        let mut raw: bindings::kobj_type = pin_init::zeroed();
        raw.release = Some(release);
        raw.sysfs_ops = &SysfsOps::<T>::RAW;
        raw.default_groups = groups.as_raw();
        // INVARIANT: The operations and the groups are those of `T`.
        KobjType(raw, PhantomData)
    }

    /// The C kobject type, for `kobject_init()` or `kobject_init_and_add()`.
    ///
    /// # Safety
    ///
    /// Every kobject initialised with it must be:
    ///
    /// - the field at `T::KOBJ_OFFSET` of a `T`, alive while sysfs may call the
    ///   kobject's attributes (until `kobject_del()` returns, which drains them);
    /// - a kobject to which no other attributes are added (`sysfs_create_file()`,
    ///   `sysfs_create_group()`): its `sysfs_ops` cast every attribute of the kobject
    ///   to a `KobjAttribute<T>`;
    /// - part of a `T` valid for [`KobjectObject::is_visible`] when it is added: the
    ///   kobject core calls it from `kobject_add()` while creating the files.
    pub(crate) unsafe fn as_raw(&'static self) -> *const bindings::kobj_type {
        &self.0
    }
}

// ---------------------------------------------------------------------------------
// Attributes of devices.

/// An object type whose `struct device` carries [`DeviceAttribute`]s of that type, and
/// what its attribute methods get.
///
/// # Safety
///
/// A [`DeviceAttribute<Self>`] must only be registered on devices for which
/// `from_device` is right.
///
/// `store` may call [`OwnFile::remove_self`] only if `SELF_REMOVABLE` is true. The
/// attributes of such an object are then only in groups without a name (the device's
/// own directory, the only one `device_remove_file_self()` looks in), which
/// [`AttributeGroup::new`] enforces at compile time: in a named group the removal would
/// warn and do nothing, or remove a file whose active reference the store does not hold.
///
/// `store` may use `file` or pass it on only if `Target<'a>` holds no references that
/// the file keeps alive (as [`DevicePtr`], a pointer, does not): once the file is
/// removed, `'a` may outlive what such references point to.
pub(crate) unsafe trait DeviceObject: Sized + 'static {
    /// Whether `store` may remove its attribute's file ([`OwnFile::remove_self`]); if
    /// so, the attributes of `Self` cannot be put in named groups.
    const SELF_REMOVABLE: bool;
    /// What an attribute's `show` or `store` gets, from the device it runs on.
    type Target<'a>;
    /// The type of the attributes' show methods.
    type Show: Copy + 'static;
    /// The type of the attributes' store methods.
    type Store: Copy + 'static;

    /// What the methods of an attribute of `dev` get.
    ///
    /// # Safety
    ///
    /// `dev` carries an attribute of `Self` whose `show` or `store` runs for `'a`.
    unsafe fn from_device<'a>(dev: *mut bindings::device) -> Self::Target<'a>;

    /// Calls `show`.
    fn show(show: Self::Show, obj: Self::Target<'_>, out: &mut ShowBuffer<'_>) -> Result;

    /// Calls `store`; `file` is the attribute's own file, which the store owns for the
    /// call: it may remove it once ([`OwnFile::remove_self`]).
    fn store(
        store: Self::Store,
        obj: Self::Target<'_>,
        file: OwnFile<'_>,
        buf: Written<'_>,
    ) -> Result<usize>;
}

/// The file of the device attribute whose store is running, which that store holds
/// (its kernfs active reference) until it returns or removes the file.
///
/// Each call of the store gets its own, by value, and [`OwnFile::remove_self`] takes
/// it: the file can be removed at most once per call.
///
/// # Invariants
///
/// `dev` carries `attr`, and the store of `attr` runs on `dev` for `'a`; the store
/// has not called `device_remove_file_self()` yet.
pub(crate) struct OwnFile<'a> {
    dev: *mut bindings::device,
    attr: *const bindings::device_attribute,
    _call: PhantomData<&'a ()>,
}

impl OwnFile<'_> {
    /// Removes the file from within its store (`device_remove_file_self()`, which
    /// mirrors `kernfs_remove_self()`): of several concurrent writers of the file
    /// exactly one gets `true`, the winner, which goes on with the removal its file
    /// stood for.
    ///
    /// After either result the object the file belongs to may be gone, unless
    /// something other than the file keeps it alive: the store no longer holds the
    /// file, and a loser (`false`) returns only once the winner's whole write has
    /// returned (`kernfs_remove_self()` waits for the file to be drained), which may
    /// have deleted the device and put its last reference. A loser must not touch
    /// the object.
    pub(crate) fn remove_self(self) -> bool {
        // SAFETY: `dev` is live and carries `attr`, whose store is running and has not
        // removed its file (type invariant): the caller `device_remove_file_self()` is
        // made for. `self` is consumed, so this is the call's only removal.
        unsafe { bindings::device_remove_file_self(self.dev, self.attr) }
    }
}

/// An object a device attribute's store runs on, as a pointer.
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
    /// The object at `ptr`.
    pub(crate) fn new(ptr: NonNull<T>) -> Self {
        DevicePtr(ptr)
    }

    /// The object.
    ///
    /// # Safety
    ///
    /// The object must stay alive for `'a`. It is alive while the store holds the
    /// attribute's file, that is until it calls [`OwnFile::remove_self`]: after that,
    /// whatever it returned, only what else the caller holds keeps the object alive
    /// (see [`OwnFile::remove_self`]).
    pub(crate) unsafe fn get<'a>(self) -> &'a T {
        // SAFETY: Alive for `'a` (caller).
        unsafe { self.0.as_ref() }
    }
}

/// Marks the lists and groups of device attributes of `O`, which the driver core
/// dispatches (through `struct device_attribute`), so that they cannot be given to a
/// [`KobjType`], which dispatches to [`KobjAttribute`]s.
pub(crate) struct OfDevice<O>(PhantomData<O>);

/// An attribute of the devices of objects `O`.
///
/// # Invariants
///
/// `raw` is the first field; the attribute is only registered on devices of `O`.
#[repr(C)]
pub(crate) struct DeviceAttribute<O: DeviceObject> {
    raw: bindings::device_attribute,
    show: Option<O::Show>,
    store: Option<O::Store>,
}

// SAFETY: Immutable after construction; the C side only reads it.
unsafe impl<O: DeviceObject> Sync for DeviceAttribute<O> {}

// SAFETY: A group of device attributes has no `is_visible`.
unsafe impl<O: DeviceObject> AttributeKind for DeviceAttribute<O> {
    type Of = OfDevice<O>;
    const IS_VISIBLE: IsVisibleRaw = None;
    const SELF_REMOVABLE: bool = O::SELF_REMOVABLE;
}

/// The device attribute's `show`: calls its show method.
///
/// # Safety
///
/// Called by the driver core with a live device carrying this attribute and a
/// page-sized buffer.
unsafe extern "C" fn device_show_trampoline<O: DeviceObject>(
    dev: *mut bindings::device,
    attr: *mut bindings::device_attribute,
    buf: *mut c_char,
) -> isize {
    // SAFETY: The device carries this attribute, a `DeviceAttribute<O>` (type
    // invariant), whose `show` runs during this call; `buf` is a page that nothing else
    // uses during the call.
    let (obj, attr, buf) = unsafe {
        (
            O::from_device(dev),
            &*attr.cast::<DeviceAttribute<O>>(),
            core::slice::from_raw_parts_mut(buf.cast::<u8>(), SHOW_BUFFER_SIZE),
        )
    };
    from_result(|| {
        let show = attr.show.ok_or(EIO)?;
        let mut out = ShowBuffer { buf, len: 0 };
        O::show(show, obj, &mut out)?;
        // CAST: At most `PAGE_SIZE` bytes, which fits an `isize`.
        Ok(out.len() as isize)
    })
}

/// The device attribute's `store`: calls its store method.
///
/// # Safety
///
/// Called by the driver core with a live device carrying this attribute and `count`
/// bytes at `buf`, followed by a NUL.
unsafe extern "C" fn device_store_trampoline<O: DeviceObject>(
    dev: *mut bindings::device,
    attr: *mut bindings::device_attribute,
    buf: *const c_char,
    count: usize,
) -> isize {
    // SAFETY: The device carries this attribute, a `DeviceAttribute<O>` (type
    // invariant), whose `store` runs during this call; `count` bytes and the NUL kernfs
    // added after them are at `buf`.
    let (obj, attr_ref, data) = unsafe {
        (
            O::from_device(dev),
            &*attr.cast::<DeviceAttribute<O>>(),
            core::slice::from_raw_parts(buf.cast::<u8>(), count + 1),
        )
    };
    // INVARIANT: `dev` carries `attr`, whose store is this call and has not removed its
    // file yet.
    let file = OwnFile {
        dev,
        attr,
        _call: PhantomData,
    };
    from_result(|| {
        let store = attr_ref.store.ok_or(EIO)?;
        consumed(O::store(store, obj, file, Written::new(data)?)?, count)
    })
}

impl<O: DeviceObject> DeviceAttribute<O> {
    /// An attribute named `name`, readable (0444) with a `show`, writable by root
    /// (0200) with a `store`. It needs at least one of them: evaluated for a static, as
    /// an attribute is, one with neither is a compile error.
    pub(crate) const fn new(
        name: &'static CStr,
        show: Option<O::Show>,
        store: Option<O::Store>,
    ) -> Self {
        assert!(
            show.is_some() || store.is_some(),
            "an attribute has a show, a store or both"
        );
        let mut raw: bindings::device_attribute = pin_init::zeroed();
        raw.attr = raw_attribute(name, mode(show.is_some(), store.is_some()));
        // The `show`/`store` fields are in a union without CFI and in a struct with it
        // (`__SYSFS_FUNCTION_ALTERNATIVE`); assigning the field is right for both.
        if show.is_some() {
            raw.__bindgen_anon_1.show = Some(device_show_trampoline::<O>);
        }
        if store.is_some() {
            raw.__bindgen_anon_2.store = Some(device_store_trampoline::<O>);
        }
        DeviceAttribute { raw, show, store }
    }

    /// The attribute, for a list of `O`'s device attributes.
    pub(crate) const fn attr_ref(&'static self) -> AttrRef<OfDevice<O>> {
        AttrRef(&self.raw.attr, PhantomData)
    }
}

// ---------------------------------------------------------------------------------
// Lists and groups, built by `sysfs_groups!`.

/// A NULL-terminated list of `N - 1` attributes of `T`, as `attribute_group::attrs`
/// wants. Built by [`sysfs_groups!`].
#[repr(transparent)]
pub(crate) struct AttributeList<T: 'static, const N: usize>(
    [*const bindings::attribute; N],
    PhantomData<T>,
);

// SAFETY: The list only holds pointers to immutable statics.
unsafe impl<T, const N: usize> Sync for AttributeList<T, N> {}

impl<T, const N: usize> AttributeList<T, N> {
    /// The list of `attrs`, then the terminator; `N` must be `M + 1`.
    pub(crate) const fn new<const M: usize>(attrs: [AttrRef<T>; M]) -> Self {
        assert!(N == M + 1, "an attribute list has room for its terminator");
        let mut raw = [core::ptr::null(); N];
        let mut i = 0;
        while i < M {
            raw[i] = attrs[i].0;
            i += 1;
        }
        AttributeList(raw, PhantomData)
    }
}

/// An attribute group of objects of type `T`. Built by [`sysfs_groups!`].
///
/// # Invariants
///
/// Every attribute reachable from `raw.attrs` is an attribute of `T`, and
/// `raw.is_visible` is that of their kind.
#[repr(transparent)]
pub(crate) struct AttributeGroup<T: 'static>(bindings::attribute_group, PhantomData<T>);

// SAFETY: Immutable after construction; the C side only reads it.
unsafe impl<T> Sync for AttributeGroup<T> {}

impl<T> AttributeGroup<T> {
    /// The group of `attrs`, attributes of kind `A`: in the subdirectory `name`, or in
    /// the object's own directory without one. A kind whose stores may remove their own
    /// file ([`AttributeKind::SELF_REMOVABLE`]) cannot have a `name`: evaluated for a
    /// static, as [`sysfs_groups!`] does, that is a compile error.
    pub(crate) const fn new<A: AttributeKind<Of = T>, const N: usize>(
        name: Option<&'static CStr>,
        attrs: &'static AttributeList<T, N>,
    ) -> Self {
        assert!(
            !(A::SELF_REMOVABLE && name.is_some()),
            "a self-removable attribute must be in the device's own directory"
        );
        let mut raw: bindings::attribute_group = pin_init::zeroed();
        if let Some(name) = name {
            raw.name = as_char_ptr_in_const_context(name);
        }
        // A union without CFI, a struct with it: assigning the field is right for both.
        raw.__bindgen_anon_1.is_visible = A::IS_VISIBLE;
        raw.__bindgen_anon_2.attrs = attrs.0.as_ptr().cast_mut().cast();
        // INVARIANT: `attrs` only holds attributes of `T`, of kind `A`.
        AttributeGroup(raw, PhantomData)
    }
}

/// A NULL-terminated list of `N - 1` groups of `T`. Built by [`sysfs_groups!`].
#[repr(transparent)]
pub(crate) struct GroupList<T: 'static, const N: usize>(
    [*const bindings::attribute_group; N],
    PhantomData<T>,
);

// SAFETY: The list only holds pointers to immutable statics.
unsafe impl<T, const N: usize> Sync for GroupList<T, N> {}

impl<T, const N: usize> GroupList<T, N> {
    /// The list of `groups`, then the terminator; `N` must be `M + 1`.
    pub(crate) const fn new<const M: usize>(groups: [&'static AttributeGroup<T>; M]) -> Self {
        assert!(N == M + 1, "a group list has room for its terminator");
        let mut raw = [core::ptr::null(); N];
        let mut i = 0;
        while i < M {
            raw[i] = &groups[i].0;
            i += 1;
        }
        GroupList(raw, PhantomData)
    }

    /// The list, as a `groups` field of C takes it.
    pub(crate) const fn groups(&'static self) -> Groups<T> {
        Groups(self.0.as_ptr(), PhantomData)
    }
}

/// The groups of objects of type `T`, as a C `groups` field takes them: a
/// NULL-terminated list of [`sysfs_groups!`], or none.
pub(crate) struct Groups<T>(*const *const bindings::attribute_group, PhantomData<T>);

impl<T> Clone for Groups<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Groups<T> {}

// SAFETY: Points to an immutable static list, or is null.
unsafe impl<T> Sync for Groups<T> {}

impl<T> Groups<T> {
    /// No groups.
    #[allow(dead_code)] // Only the vendor API uses it.
    pub(crate) const NONE: Self = Groups(core::ptr::null(), PhantomData);

    /// The list, or null.
    pub(crate) const fn as_raw(self) -> *mut *const bindings::attribute_group {
        self.0.cast_mut()
    }
}

/// The [`Groups`] of a kind of attribute, from the names of the attribute statics: the
/// lists, the groups and the list of groups, with their counts and terminators.
///
/// ```ignore
/// static TYPE_KTYPE: KobjType<MdevType> = KobjType::new(
///     mdev_type_release,
///     sysfs_groups!(KobjAttribute<MdevType>: [{ attrs: [CREATE, NAME] }]),
/// );
/// const GROUPS: Groups<OfDevice<Vendor>> = sysfs_groups!(DeviceAttribute<Vendor>: [
///     { name: c"vendor", attrs: [UART] },
/// ]);
/// ```
///
/// The macro's own items are named `__SYSFS_*` (and `__SysfsOf`), so that they do not
/// hide the attribute statics it names. It builds statics, which cannot name a generic
/// parameter or `Self` of an enclosing impl: name the object type (`mdev::Attribute<Mtty>`,
/// not `mdev::Attribute<Self>`).
///
/// Each group is in the directory of its `name`, or in the object's own without one.
/// The attributes are those of the group's kind only (`attrs` of another kind do not
/// compile), with the `is_visible` of that kind: [`KobjectObject::is_visible`] for
/// [`KobjAttribute`]s, none for [`DeviceAttribute`]s.
macro_rules! sysfs_groups {
    ($kind:ty: [$({ $(name: $name:expr,)? attrs: [$($attr:ident),* $(,)?] $(,)? }),* $(,)?]) => {{
        type __SysfsOf = <$kind as $crate::sysfs::AttributeKind>::Of;
        const __SYSFS_GROUPS_N: usize = <[&str]>::len(&[$(stringify!($($attr)*)),*]) + 1;
        static __SYSFS_GROUPS: $crate::sysfs::GroupList<__SysfsOf, __SYSFS_GROUPS_N> =
            $crate::sysfs::GroupList::new([
                $({
                    const __SYSFS_N: usize = <[&str]>::len(&[$(stringify!($attr)),*]) + 1;
                    static __SYSFS_ATTRS: $crate::sysfs::AttributeList<__SysfsOf, __SYSFS_N> =
                        $crate::sysfs::AttributeList::new([$($attr.attr_ref()),*]);
                    static __SYSFS_GROUP: $crate::sysfs::AttributeGroup<__SysfsOf> =
                        $crate::sysfs::AttributeGroup::new::<$kind, __SYSFS_N>(
                            $crate::sysfs::sysfs_groups!(@name $($name)?),
                            &__SYSFS_ATTRS,
                        );
                    &__SYSFS_GROUP
                }),*
            ]);
        __SYSFS_GROUPS.groups()
    }};
    (@name $name:expr) => {
        Some($name)
    };
    (@name) => {
        None
    };
}
pub(crate) use sysfs_groups;
