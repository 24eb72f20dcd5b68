// SPDX-License-Identifier: GPL-2.0

//! The registry of mdevs: which UUIDs are taken, in which state each mdev is, and
//! the core's instance accounting.
//!
//! All of it is under one mutex, the *list lock* (`mdev_list_lock` in the C core).
//! Unlike the C core's list, the registry is a red-black tree keyed by UUID, so the
//! duplicate check on create and the lookup on remove are O(log n) instead of a scan
//! of every mdev.
//!
//! Lock contract: the list lock is a leaf. Nothing is called with it held that can
//! sleep on another lock or call into a vendor driver; the tree node a create needs
//! is allocated before the lock is taken.

use kernel::prelude::*;
use kernel::rbtree::RBTree;
use kernel::rbtree::RBTreeNodeReservation;

use crate::device::Linked;
use crate::parent::Parent;
use crate::uuid::Uuid;

/// Where an mdev is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum State {
    /// Its UUID is reserved and its create is running; removing it now gives `EAGAIN`.
    Creating,
    /// Fully created: on the bus, bound, linked.
    Active,
    /// A remover (a user, or the parent's unregistration) owns its removal.
    Removing,
}

/// An mdev's entry: its [`State`], and while it is active the value that owns it.
///
/// # Invariants
///
/// The `Linked` of an `Active` slot is the mdev whose UUID is the slot's key. It
/// leaves the slot only by [`take_active`], which makes the slot `Removing`, so one
/// remover at most gets it.
enum Slot {
    Creating,
    /// The mdev as its create left it: its links and the device's initial reference,
    /// kept here until a remover takes them with [`take_active`].
    Active(Linked),
    Removing,
}

impl Slot {
    fn state(&self) -> State {
        match self {
            Slot::Creating => State::Creating,
            Slot::Active(_) => State::Active,
            Slot::Removing => State::Removing,
        }
    }
}

/// The registry's content: the mdevs by UUID, and the teardown bookkeeping of the
/// registered parents by address (see [`crate::teardown`]). `None` until first used
/// (a tree cannot be built in a constant initialiser).
pub(crate) struct Registry {
    mdevs: Option<RBTree<Uuid, Slot>>,
    parents: Option<RBTree<usize, crate::teardown::Entry>>,
}

impl Registry {
    fn tree(&mut self) -> &mut RBTree<Uuid, Slot> {
        self.mdevs.get_or_insert_with(RBTree::new)
    }
}

/// Runs `f` on the parents' teardown bookkeeping, under the list lock.
pub(crate) fn with_parents<R>(
    f: impl FnOnce(&mut RBTree<usize, crate::teardown::Entry>) -> R,
) -> R {
    f(REGISTRY.lock().parents.get_or_insert_with(RBTree::new))
}

/// The list lock held: what a function that needs it takes as proof.
pub(crate) type ListGuard = kernel::sync::lock::GlobalGuard<REGISTRY>;

kernel::sync::global_lock! {
    // SAFETY: Initialised by `init` in the module's init, before anything uses it.
    // `pub(crate)` only so that [`ListGuard`] can name it; nothing outside this file
    // locks it.
    pub(crate) unsafe(uninit) static REGISTRY: Mutex<Registry> = Registry {
        mdevs: None,
        parents: None,
    };
}

/// Initialises the registry. Called once, from the module's init.
pub(crate) fn init() {
    // SAFETY: Called once, from the module's init, before any use.
    unsafe { REGISTRY.init() };
}

/// A reserved UUID and, when the core counts instances, a reserved instance of the
/// parent; both are given back when the reservation is dropped, unless it is
/// [committed](Reservation::commit) to a device, whose release gives them back.
///
/// # Invariants
///
/// `uuid` is in the registry, in state Creating, and when `parent` has the core count
/// its instances one of them is taken for it; both are this value's to give back
/// (until it is committed).
pub(crate) struct Reservation<'a> {
    uuid: Uuid,
    parent: &'a Parent,
}

/// Reserves `uuid` (`EEXIST` when an mdev of any parent has it) and, for a driver
/// without `get_available`, one of the parent's instances (`EUSERS` when none is
/// left).
pub(crate) fn reserve(uuid: Uuid, parent: &Parent) -> Result<Reservation<'_>> {
    let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
    let mut registry = REGISTRY.lock();
    // A lookup, then an insert: the instance is taken in between with the guard, which
    // an `Entry` of the tree would hold borrowed.
    if registry.tree().get(&uuid).is_some() {
        return Err(EEXIST);
    }
    if parent.core_counts_instances() {
        parent.take_instance(&registry).ok_or(EUSERS)?;
    }
    // Vacant (checked above, under the same lock): nothing is replaced.
    drop(registry.tree().insert(node.into_node(uuid, Slot::Creating)));
    // INVARIANT: Inserted just now, and the instance taken, under the list lock.
    Ok(Reservation { uuid, parent })
}

impl Reservation<'_> {
    /// Hands the reservation over to a device: from now on the device's release
    /// gives it back, through [`release`].
    pub(crate) fn commit(self) {
        core::mem::forget(self);
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        release(self.uuid, self.parent);
    }
}

/// Gives back the UUID and, when the core counts them, the instance of a device
/// that is gone. Pairs with [`reserve`].
pub(crate) fn release(uuid: Uuid, parent: &Parent) {
    let mut registry = REGISTRY.lock();
    let slot = registry.tree().remove(&uuid);
    if slot.is_some() && parent.core_counts_instances() {
        parent.give_back_instance(&registry);
    }
    drop(registry);
    // Never `Active` (its value holds the device's reference, so the device's release
    // cannot be what runs this); dropped after the unlock all the same, as a
    // `Linked` is only dropped outside the list lock.
    drop(slot);
}

/// The state of the mdev with `uuid`, if it is registered.
pub(crate) fn state(uuid: Uuid) -> Option<State> {
    REGISTRY.lock().tree().get(&uuid).map(Slot::state)
}

/// Moves the mdev with `uuid` from Creating to Active, keeping `mdev`, the value that
/// owns it, until [`take_active`]. Gives `mdev` back if the mdev was not Creating.
pub(crate) fn activate(uuid: Uuid, mdev: Linked) -> core::result::Result<(), Linked> {
    let mut registry = REGISTRY.lock();
    match registry.tree().get_mut(&uuid) {
        Some(s @ Slot::Creating) => {
            // INVARIANT: The creator's own mdev, whose UUID it reserved under this key.
            *s = Slot::Active(mdev);
            Ok(())
        }
        _ => Err(mdev),
    }
}

/// Moves the mdev with `uuid` from Active to Removing and gives the caller the value
/// [`activate`] kept: the caller owns the removal. `None` if the mdev was not Active.
/// The move is atomic, so of several callers exactly one gets the value; it is
/// returned, and so dropped, outside the list lock (the drop removes the device).
pub(crate) fn take_active(uuid: Uuid) -> Option<Linked> {
    let mut registry = REGISTRY.lock();
    let slot = registry.tree().get_mut(&uuid)?;
    if !matches!(slot, Slot::Active(_)) {
        return None;
    }
    match core::mem::replace(slot, Slot::Removing) {
        Slot::Active(mdev) => Some(mdev),
        _ => None,
    }
}

#[kunit_tests(mdev_rs_accounting)]
mod tests {
    use super::*;
    use crate::ffi;
    use crate::sysfs::Written;

    /// A parent as far as the registry sees it: a driver (with or without
    /// `get_available`) and the instance counter.
    struct FakeParent {
        ptr: *mut ffi::mdev_parent,
        _parent: KBox<ffi::mdev_parent>,
        _driver: KBox<ffi::mdev_driver>,
    }

    /// A `get_available` that always has four.
    ///
    /// # Safety
    ///
    /// None: the argument is not used.
    unsafe extern "C" fn four(_t: *mut ffi::mdev_type) -> u32 {
        4
    }

    fn fake_parent(max_instances: u32, driver_counts: bool) -> Result<FakeParent> {
        let mut driver = KBox::new(pin_init::zeroed::<ffi::mdev_driver>(), GFP_KERNEL)?;
        let mut parent = KBox::new(pin_init::zeroed::<ffi::mdev_parent>(), GFP_KERNEL)?;
        driver.max_instances = max_instances;
        if driver_counts {
            driver.get_available = Some(four);
        }
        parent.mdev_driver = &raw mut *driver;
        // CAST: Small test values.
        parent.available_instances.counter = max_instances as i32;
        Ok(FakeParent {
            ptr: &raw mut *parent,
            _parent: parent,
            _driver: driver,
        })
    }

    impl FakeParent {
        fn get(&self) -> &Parent {
            // SAFETY: The registry only uses a parent's driver and instance counter,
            // which are set up; the parent lives as long as `self`, and is only
            // changed through the counter's atomic accesses.
            unsafe { Parent::from_raw(self.ptr) }
        }
    }

    fn uuid(n: u8) -> Result<Uuid> {
        let mut text = *b"00000000-0000-4000-8000-0000000000a0\0";
        text[35] = b'0' + n;
        Uuid::parse_create(Written::new(&text)?)
    }

    #[test]
    fn reserve_counts_instances() -> Result {
        let fp = fake_parent(2, false)?;
        let p = fp.get();
        let a = reserve(uuid(1)?, p)?;
        let b = reserve(uuid(2)?, p)?;
        assert_eq!(p.available_instances(), 0);
        assert_eq!(reserve(uuid(3)?, p).err(), Some(EUSERS));
        // A refused reservation takes nothing.
        assert_eq!(state(uuid(3)?), None);
        drop(a);
        assert_eq!(p.available_instances(), 1);
        assert_eq!(state(uuid(1)?), None);
        drop(b);
        assert_eq!(p.available_instances(), 2);
        Ok(())
    }

    #[test]
    fn uuid_is_global() -> Result {
        let fp1 = fake_parent(2, false)?;
        let fp2 = fake_parent(2, false)?;
        let a = reserve(uuid(4)?, fp1.get())?;
        assert_eq!(reserve(uuid(4)?, fp1.get()).err(), Some(EEXIST));
        assert_eq!(reserve(uuid(4)?, fp2.get()).err(), Some(EEXIST));
        // A duplicate takes no instance.
        assert_eq!(fp2.get().available_instances(), 2);
        assert_eq!(fp1.get().available_instances(), 1);
        drop(a);
        Ok(())
    }

    #[test]
    fn committed_reservation_is_released_once() -> Result {
        let fp = fake_parent(1, false)?;
        let p = fp.get();
        reserve(uuid(5)?, p)?.commit();
        assert_eq!(state(uuid(5)?), Some(State::Creating));
        assert_eq!(p.available_instances(), 0);
        // Only an active mdev can be taken for removal.
        assert!(take_active(uuid(5)?).is_none());
        assert_eq!(state(uuid(5)?), Some(State::Creating));
        release(uuid(5)?, p);
        assert_eq!(p.available_instances(), 1);
        assert_eq!(state(uuid(5)?), None);
        // A second release finds nothing to give back.
        release(uuid(5)?, p);
        assert_eq!(p.available_instances(), 1);
        Ok(())
    }

    #[test]
    fn driver_counting_takes_no_core_instance() -> Result {
        let fp = fake_parent(0, true)?;
        let p = fp.get();
        let a = reserve(uuid(6)?, p)?;
        let b = reserve(uuid(7)?, p)?;
        assert_eq!(p.available_instances(), 0);
        drop(a);
        drop(b);
        assert_eq!(p.available_instances(), 0);
        Ok(())
    }
}
