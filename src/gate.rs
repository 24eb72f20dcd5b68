// SPDX-License-Identifier: GPL-2.0

//! The gate of a parent: its `unreg_sem`, between create/remove and unregistration.
//!
//! Create and remove *enter* the gate ([`Entered`], a read-trylock): they fail with
//! `ENODEV` instead of waiting once the parent's unregistration has begun.
//! Unregistration, and the rollback of a failed registration, *close* it ([`Closed`],
//! the write lock): that waits for every create and remove inside, keeps new ones
//! out, and stays closed while every child is removed. This is the shape of
//! `drm_dev_enter()`/`drm_dev_unplug()` and of `Revocable`, but the C core's rwsem
//! in the header's `struct mdev_parent`, which vendors may name, so it stays.
//!
//! Each guard holds the parent whose gate it is, so an operation that needs the gate
//! of a given parent takes the guard and gets the parent from it
//! (`device::remove_all_children`), or checks that it is the right one
//! (`device::Initialized::add`): another parent's guard does not do.
//!
//! 7.3's kernel crate has no `rw_semaphore` backend: its `Lock` (`rust/kernel/sync/
//! lock.rs`, which can wrap a lock initialised in C with `Lock::from_raw`) gives one
//! exclusive guard, and a shared read side with a trylock is not what its `Backend`
//! contract describes. So this is a view of the C semaphore in vendor memory, with
//! the kernel's guard shape (`#[must_use]`, not `Send`, released on drop).

use core::pin::Pin;

use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::LockClassKey;
use kernel::types::NotThreadSafe;
use kernel::types::Opaque;

use crate::parent::Parent;

extern "C" {
    fn mdev_rs_rwsem_assert_held(sem: *mut bindings::rw_semaphore);
    fn mdev_rs_rwsem_assert_held_write(sem: *mut bindings::rw_semaphore);
    fn mdev_rs_rwsem_assert_not_held(sem: *mut bindings::rw_semaphore);
}

/// The gate of a parent: the `rw_semaphore` `unreg_sem` of its `struct mdev_parent`.
///
/// # Invariants
///
/// The semaphore has been initialised by [`Gate::init`] and does not move while a
/// reference to the `Gate` exists.
#[repr(transparent)]
pub(crate) struct Gate(Opaque<bindings::rw_semaphore>);

// SAFETY: A `rw_semaphore` is made to be used from any thread.
unsafe impl Sync for Gate {}
// SAFETY: Ownership of the storage is not tied to a thread.
unsafe impl Send for Gate {}

impl Gate {
    /// Initialises the gate at `ptr` in place, open.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for writes and must not be in use: no guard of it may exist
    /// and no other thread may use it until this returns.
    pub(crate) unsafe fn init(
        ptr: *mut bindings::rw_semaphore,
        name: &'static CStr,
        key: Pin<&'static LockClassKey>,
    ) {
        // SAFETY: `ptr` is valid for writes (caller); `name` and `key` are static.
        unsafe { bindings::__init_rwsem(ptr, name.as_char_ptr(), key.as_ptr()) };
    }

    /// Views the initialised gate at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a gate initialised by [`Gate::init`] that stays valid and in
    /// place for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::rw_semaphore) -> &'a Gate {
        // SAFETY: `Gate` is a transparent wrapper of `rw_semaphore`; the pointee is
        // initialised and lives for `'a` (caller), which gives the invariant.
        unsafe { &*ptr.cast::<Gate>() }
    }

    fn as_raw(&self) -> *mut bindings::rw_semaphore {
        self.0.get()
    }

    /// Lockdep: the caller is inside the gate or holds it closed.
    pub(crate) fn assert_held(&self) {
        // SAFETY: The semaphore is initialised (type invariant).
        unsafe { mdev_rs_rwsem_assert_held(self.as_raw()) };
    }

    /// Lockdep: the caller holds the gate closed.
    pub(crate) fn assert_closed(&self) {
        // SAFETY: The semaphore is initialised (type invariant).
        unsafe { mdev_rs_rwsem_assert_held_write(self.as_raw()) };
    }

    /// Lockdep: the caller is neither inside the gate nor holds it closed.
    pub(crate) fn assert_not_held(&self) {
        // SAFETY: The semaphore is initialised (type invariant).
        unsafe { mdev_rs_rwsem_assert_not_held(self.as_raw()) };
    }
}

/// Inside the gate of [`Entered::parent`]: that parent stays registered, and its
/// unregistration waits, until this is dropped.
///
/// # Invariants
///
/// The current task holds `parent`'s gate for reading.
#[must_use = "the gate is left at once when the guard is dropped"]
pub(crate) struct Entered<'a> {
    parent: &'a Parent,
    // An rwsem must be released by the task that took it.
    _not_send: NotThreadSafe,
}

impl<'a> Entered<'a> {
    /// Enters `parent`'s gate, without waiting: `None` once its unregistration has
    /// begun (`down_read_trylock()`).
    pub(crate) fn enter(parent: &'a Parent) -> Option<Self> {
        // SAFETY: The gate is initialised (type invariant of `Gate`).
        if unsafe { bindings::down_read_trylock(parent.gate().as_raw()) } == 0 {
            return None;
        }
        // INVARIANT: The read lock was just taken.
        Some(Entered {
            parent,
            _not_send: NotThreadSafe,
        })
    }

    /// The parent whose gate this is.
    pub(crate) fn parent(&self) -> &'a Parent {
        self.parent
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        // SAFETY: The read lock is held by this task (type invariant).
        unsafe { bindings::up_read(self.parent.gate().as_raw()) };
    }
}

/// The gate of [`Closed::parent`] held closed: no create or remove of the parent is
/// inside, and none can enter, until this is dropped.
///
/// # Invariants
///
/// The current task holds `parent`'s gate for writing.
#[must_use = "the gate is opened again at once when the guard is dropped"]
pub(crate) struct Closed<'a> {
    parent: &'a Parent,
    _not_send: NotThreadSafe,
}

impl<'a> Closed<'a> {
    /// Closes `parent`'s gate, sleeping until every create and remove inside has left
    /// (`down_write()`).
    pub(crate) fn close(parent: &'a Parent) -> Self {
        // SAFETY: The gate is initialised (type invariant of `Gate`).
        unsafe { bindings::down_write(parent.gate().as_raw()) };
        // INVARIANT: The write lock was just taken.
        Closed {
            parent,
            _not_send: NotThreadSafe,
        }
    }

    /// The parent whose gate this is.
    pub(crate) fn parent(&self) -> &'a Parent {
        self.parent
    }
}

impl Drop for Closed<'_> {
    fn drop(&mut self) {
        // SAFETY: The write lock is held by this task (type invariant).
        unsafe { bindings::up_write(self.parent.gate().as_raw()) };
    }
}
