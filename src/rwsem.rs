// SPDX-License-Identifier: GPL-2.0

//! A reader-writer semaphore that lives in C memory.
//!
//! 7.3's kernel crate has no `rw_semaphore` abstraction. The mdev core needs one for
//! the gate of each parent, which the header places in the vendor-owned
//! `struct mdev_parent` (`unreg_sem`), so this wrapper does not own its storage: it is
//! a view of a C `rw_semaphore`, initialised in place, and hands out guards that
//! release the lock when dropped.

use core::marker::PhantomData;
use core::pin::Pin;

use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::LockClassKey;
use kernel::types::NotThreadSafe;
use kernel::types::Opaque;

extern "C" {
    fn mdev_rs_rwsem_assert_held(sem: *mut bindings::rw_semaphore);
    fn mdev_rs_rwsem_assert_held_write(sem: *mut bindings::rw_semaphore);
}

/// A reader-writer semaphore.
///
/// # Invariants
///
/// The wrapped `rw_semaphore` has been initialised with `__init_rwsem` and does not
/// move while a reference to this wrapper exists.
#[repr(transparent)]
pub(crate) struct RwSemaphore(Opaque<bindings::rw_semaphore>);

// SAFETY: A `rw_semaphore` is made to be used from any thread.
unsafe impl Sync for RwSemaphore {}
// SAFETY: Ownership of the storage is not tied to a thread.
unsafe impl Send for RwSemaphore {}

impl RwSemaphore {
    /// Initialises the semaphore at `ptr` in place.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for writes and must not be in use as a semaphore: no
    /// guard of it may exist and no other thread may use it until this returns.
    pub(crate) unsafe fn init(
        ptr: *mut bindings::rw_semaphore,
        name: &'static CStr,
        key: Pin<&'static LockClassKey>,
    ) {
        // SAFETY: `ptr` is valid for writes (caller); `name` and `key` are static.
        unsafe { bindings::__init_rwsem(ptr, name.as_char_ptr(), key.as_ptr()) };
    }

    /// Views the initialised semaphore at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a semaphore initialised by [`RwSemaphore::init`] that stays
    /// valid and in place for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::rw_semaphore) -> &'a RwSemaphore {
        // SAFETY: `RwSemaphore` is a transparent wrapper of `rw_semaphore`; the pointee
        // is initialised and lives for `'a` (caller), which gives the invariant.
        unsafe { &*ptr.cast::<RwSemaphore>() }
    }

    fn as_raw(&self) -> *mut bindings::rw_semaphore {
        self.0.get()
    }

    /// Takes the semaphore for reading without waiting; `None` when a writer holds
    /// it or waits for it.
    pub(crate) fn try_read(&self) -> Option<ReadGuard<'_>> {
        // SAFETY: The semaphore is initialised (type invariant).
        if unsafe { bindings::down_read_trylock(self.as_raw()) } != 0 {
            // INVARIANT: The read lock was just taken.
            Some(ReadGuard {
                sem: self,
                _not_send: PhantomData,
            })
        } else {
            None
        }
    }

    /// Takes the semaphore for writing, sleeping until every reader has left.
    pub(crate) fn write(&self) -> WriteGuard<'_> {
        // SAFETY: The semaphore is initialised (type invariant).
        unsafe { bindings::down_write(self.as_raw()) };
        // INVARIANT: The write lock was just taken.
        WriteGuard {
            sem: self,
            _not_send: PhantomData,
        }
    }

    /// Tells lockdep the caller holds the semaphore (for reading or writing).
    pub(crate) fn assert_held(&self) {
        // SAFETY: The semaphore is initialised (type invariant).
        unsafe { mdev_rs_rwsem_assert_held(self.as_raw()) };
    }

    /// Tells lockdep the caller holds the semaphore for writing.
    pub(crate) fn assert_held_write(&self) {
        // SAFETY: The semaphore is initialised (type invariant).
        unsafe { mdev_rs_rwsem_assert_held_write(self.as_raw()) };
    }
}

/// The semaphore held for reading; released when dropped.
///
/// # Invariants
///
/// The current task holds `sem` for reading.
pub(crate) struct ReadGuard<'a> {
    sem: &'a RwSemaphore,
    // An rwsem must be released by the task that took it.
    _not_send: NotThreadSafe,
}

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: The read lock is held by this task (type invariant).
        unsafe { bindings::up_read(self.sem.as_raw()) };
    }
}

/// The semaphore held for writing; released when dropped.
///
/// # Invariants
///
/// The current task holds `sem` for writing.
pub(crate) struct WriteGuard<'a> {
    sem: &'a RwSemaphore,
    _not_send: NotThreadSafe,
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: The write lock is held by this task (type invariant).
        unsafe { bindings::up_write(self.sem.as_raw()) };
    }
}
