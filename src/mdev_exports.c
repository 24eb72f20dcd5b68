// SPDX-License-Identifier: GPL-2.0
/*
 * The C half of mdev_rs.
 *
 * Exports the Rust implementation of the include/linux/mdev.h ABI under the names
 * and with the (non-GPL) export the C core uses, so C vendor drivers load on either
 * core unchanged. The prototypes come from the header; the Rust side checks at
 * compile time that its functions have exactly those types (src/exports.rs).
 *
 * Also wraps the lockdep assertions, which are macros, and the device helpers that
 * are static inlines (device_lock(), dev_set_uevent_suppress()).
 */

#include <linux/device.h>
#include <linux/export.h>
#include <linux/lockdep.h>
#include <linux/mdev.h>
#include <linux/rwsem.h>

EXPORT_SYMBOL(mdev_register_parent);
EXPORT_SYMBOL(mdev_unregister_parent);
EXPORT_SYMBOL(mdev_register_driver);
EXPORT_SYMBOL(mdev_unregister_driver);

void mdev_rs_rwsem_assert_held(struct rw_semaphore *sem);
void mdev_rs_rwsem_assert_held_write(struct rw_semaphore *sem);
void mdev_rs_rwsem_assert_not_held(struct rw_semaphore *sem);
void mdev_rs_device_lock_assert(struct device *dev);

void mdev_rs_rwsem_assert_held(struct rw_semaphore *sem)
{
	lockdep_assert_held(sem);
}

void mdev_rs_rwsem_assert_held_write(struct rw_semaphore *sem)
{
	lockdep_assert_held_write(sem);
}

void mdev_rs_rwsem_assert_not_held(struct rw_semaphore *sem)
{
	lockdep_assert_not_held(sem);
}

void mdev_rs_device_lock(struct device *dev);
void mdev_rs_device_unlock(struct device *dev);
void mdev_rs_dev_set_uevent_suppress(struct device *dev, int val);

void mdev_rs_device_lock(struct device *dev)
{
	device_lock(dev);
}

void mdev_rs_device_unlock(struct device *dev)
{
	device_unlock(dev);
}

void mdev_rs_dev_set_uevent_suppress(struct device *dev, int val)
{
	dev_set_uevent_suppress(dev, val);
}

void mdev_rs_device_lock_assert(struct device *dev)
{
	device_lock_assert(dev);
}
