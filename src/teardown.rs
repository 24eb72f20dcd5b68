// SPDX-License-Identifier: GPL-2.0

//! Waiting for the last release of what a parent's registration made.
//!
//! The header (`include/linux/mdev.h`) puts the `struct mdev_type`s and the
//! `struct mdev_parent` in vendor memory, but their kobjects and the mdevs that point
//! into them are reference-counted: a release can run after the last
//! `kobject_put()`, which `DEBUG_KOBJECT_RELEASE` delays by 1 to 4 s and a reference
//! held outside the core (`drivers_probe`, a driver-core iteration, a VFIO device of
//! the mdev) delays for as long as it is held. The C core returns from `mdev_unregister_parent()` without
//! waiting, so a vendor that frees or re-registers its types at once hands the core
//! memory that a pending release still reads.
//!
//! This core waits. Every type kobject of a registration counts as *unreleased* from
//! just before its kobject is initialised until its release ran (an mdev holds a
//! reference to its type's kobject until its own release, so a type's release comes
//! after the release of each of its mdevs); the registration itself counts as one
//! more until its unregistration (or the rollback of a failed registration) is done
//! removing everything. [`wait`] returns when the count has reached zero: nothing of
//! the core still points into the vendor's memory.
//!
//! The bookkeeping lives in the core's registry, keyed by the parent's address,
//! because the header's structs have no room for it, and under the list lock
//! (`registry.rs`), a leaf: a release takes it and nothing else.

use kernel::device::Device;
use kernel::prelude::*;
use kernel::rbtree::RBTreeNodeReservation;
use kernel::sync::aref::ARef;
use kernel::sync::Arc;
use kernel::sync::Completion;

use crate::ffi;
use crate::parent::Parent;
use crate::parent::Registration;
use crate::registry;

/// What [`wait`] sleeps on; completed once, when the count reaches zero.
#[pin_data]
struct Released {
    #[pin]
    done: Completion,
}

/// The bookkeeping of one registration.
///
/// # Invariants
///
/// `unreleased` is the number of the registration's type kobjects initialised and not
/// released, plus one until [`wait`] begins; `released` is completed once it is zero.
/// `registration` is `Some` from [`keep`] to [`take`]: between the end of a
/// successful registration and its unregistration.
pub(crate) struct Entry {
    /// The type kobjects not yet released, plus one for the registration itself.
    unreleased: usize,
    released: Arc<Released>,
    /// What the registration made, from its end ([`keep`]) to its unregistration
    /// ([`take`]).
    registration: Option<Registration>,
    /// The parent device, until every release has run: the C core takes a reference
    /// per type (`get_device()` in `mdev_type_add()`, put in `mdev_type_release()`);
    /// this one covers all of them, and is put after the last.
    _dev: ARef<Device>,
}

fn key(parent: *const ffi::mdev_parent) -> usize {
    // CAST: Only the address is kept, as a key; it is never turned back into a pointer.
    parent as usize
}

/// Starts the bookkeeping of a parent being registered, whose device is `dev`: the
/// registration counts as one unreleased object. Pairs with [`wait`].
pub(crate) fn begin(parent: *const ffi::mdev_parent, dev: ARef<Device>) -> Result {
    let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
    let released = Arc::pin_init(
        pin_init!(Released {
            done <- Completion::new(),
        }),
        GFP_KERNEL,
    )?;
    let entry = Entry {
        unreleased: 1,
        released,
        registration: None,
        _dev: dev,
    };
    registry::with_parents(|tree| {
        if tree.get(&key(parent)).is_some() {
            // A parent registered twice: the header forbids it. The entry is dropped
            // after the unlock (the result).
            return Err((EBUSY, entry));
        }
        // INVARIANT: Nothing initialised yet, plus the registration's own count.
        tree.insert(node.into_node(key(parent), entry));
        Ok(())
    })
    .map_err(|(e, _entry)| e)
}

/// Keeps `reg`, the complete registration of `parent`, in its entry until [`take`].
/// Gives it back if `parent` has no entry (a bug of the core, reported).
pub(crate) fn keep(
    parent: *const ffi::mdev_parent,
    reg: Registration,
) -> core::result::Result<(), Registration> {
    let rejected = registry::with_parents(|tree| match tree.get_mut(&key(parent)) {
        Some(e) if e.registration.is_none() => {
            // INVARIANT: The registration is complete (caller).
            e.registration = Some(reg);
            None
        }
        _ => Some(reg),
    });
    match rejected {
        None => Ok(()),
        Some(reg) => {
            kernel::warn_on!(true);
            Err(reg)
        }
    }
}

/// Takes back the registration [`keep`] kept for `parent`, to unregister it. `None`
/// (reported) if there is none: `parent` is not registered.
pub(crate) fn take(parent: *const ffi::mdev_parent) -> Option<Registration> {
    let reg = registry::with_parents(|tree| {
        tree.get_mut(&key(parent))
            .and_then(|e| e.registration.take())
    });
    kernel::warn_on!(reg.is_none());
    reg
}

/// One more object of `parent` whose release must be waited for; called just before
/// its kobject is initialised, so that its release, whenever it runs, is counted.
/// Pairs with [`released`].
pub(crate) fn track(parent: *const ffi::mdev_parent) {
    let found = registry::with_parents(|tree| {
        tree.get_mut(&key(parent))
            .map(|e| e.unreleased += 1)
            .is_some()
    });
    kernel::warn_on!(!found);
}

/// Gives up one count of `parent`: the count left and what [`wait`] sleeps on.
fn put(parent: *const ffi::mdev_parent) -> Option<(usize, Arc<Released>)> {
    let left = registry::with_parents(|tree| {
        tree.get_mut(&key(parent)).and_then(|e| {
            e.unreleased = e.unreleased.checked_sub(1)?;
            Some((e.unreleased, e.released.clone()))
        })
    });
    // A put without its get, or of a parent never registered: a bug of the core.
    kernel::warn_on!(left.is_none());
    left
}

/// The release of an object of `parent` ran. The caller must not touch the vendor's
/// memory after this: [`wait`] may return, and the vendor free it, at once.
pub(crate) fn released(parent: *const ffi::mdev_parent) {
    if let Some((0, r)) = put(parent) {
        r.done.complete_all();
    }
}

/// Ends the bookkeeping of `parent`: gives up the registration's own count and
/// returns once every object tracked for it has been released. Called by
/// unregistration, and by a failed registration's rollback, after they removed
/// everything. Must not be called with the list lock held (an mdev's release takes
/// it) nor with the parent's gate held (so that nothing waiting on the gate can hold
/// up a release). The wait is uninterruptible and has no limit: a reference to an
/// mdev kept forever keeps the unregistration waiting (the hung-task detector names
/// it after its timeout), which is the price of never reading freed memory. The
/// release that ends the wait still runs a few instructions of this module after
/// waking it, as every release function of a module does.
///
/// The gate not being held is asserted (lockdep). The list lock cannot be: C has
/// `lockdep_assert_not_held()`, but 7.3's kernel crate wraps only the held case
/// (`Lock`'s `Backend::assert_is_held`), and its `GlobalLock` gives no access to the
/// C mutex to pass to a C helper; `put` below would deadlock on it instead.
pub(crate) fn wait(p: &Parent) {
    p.gate().assert_not_held();
    let parent = p.raw();
    match put(parent) {
        Some((0, _)) => {}
        Some((_, r)) => r.done.wait_for_completion(),
        None => return,
    }
    // Every release has run: nothing else uses the entry.
    drop(registry::with_parents(|tree| tree.remove(&key(parent))));
}
