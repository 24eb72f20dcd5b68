// SPDX-License-Identifier: GPL-2.0
/*
 * mdev_test_vendor: a vendor driver for the project's tests only, written against
 * <linux/mdev.h> like any C vendor, whose module parameters make the core's races
 * and failure paths deterministic instead of hoping for timing:
 *
 *   nr_types=N             types t0..t(N-1) (default 2, at most 4096), allocated at
 *                          load and freed as soon as mdev_unregister_parent()
 *                          returns, which the header allows
 *   dup_type=I             type I gets type 0's sysfs name, so the registration fails
 *                          (-EEXIST) after types 0..I-1 were visible
 *   instances=N            instances the core counts (max_instances, default 8)
 *   with_get_available=1   count instances itself instead (get_available)
 *   probe_delay_ms=, remove_delay_ms=, available_delay_ms=, attr_delay_ms=
 *                          sleep in that callback
 *   fail_probe=E           probe fails with -E
 *
 * Writing anything to /sys/module/mdev_test_vendor/parameters/reregister
 * unregisters the parent and registers it again at once with the same types, which
 * the header allows once mdev_unregister_parent() has returned.
 *
 * Each mdev gets a vendor attribute vendor/poke (show "poke\n"; store accepts
 * anything). There is no VFIO: probe and remove only sleep and count. The read-only
 * parameters probes and removes are the counts of successful probes and of removes
 * since the load, and the unload logs both ("mdev_test_vendor: unloaded after N
 * probes and M removes"), so a test sees that each bound mdev was removed exactly
 * once, also after the module is gone.
 */
#include <linux/delay.h>
#include <linux/device.h>
#include <linux/mdev.h>
#include <linux/module.h>
#include <linux/slab.h>

static unsigned int nr_types = 2;
module_param(nr_types, uint, 0444);
static int dup_type = -1;
module_param(dup_type, int, 0444);
static unsigned int instances = 8;
module_param(instances, uint, 0444);
static bool with_get_available;
module_param(with_get_available, bool, 0444);
static unsigned int probe_delay_ms, remove_delay_ms, available_delay_ms, attr_delay_ms;
module_param(probe_delay_ms, uint, 0644);
module_param(remove_delay_ms, uint, 0644);
module_param(available_delay_ms, uint, 0644);
module_param(attr_delay_ms, uint, 0644);
static int fail_probe;
module_param(fail_probe, int, 0644);

#define NAME "mdev_test"

static atomic_t probes, removes;

static int counter_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", atomic_read((atomic_t *)kp->arg));
}

static const struct kernel_param_ops counter_ops = {
	.get = counter_get,
};
module_param_cb(probes, &counter_ops, &probes, 0444);
module_param_cb(removes, &counter_ops, &removes, 0444);

static atomic_t free_instances;
static struct class *test_class;
static struct device *test_dev;
static struct mdev_parent test_parent;
static struct mdev_type *types;
static struct mdev_type **type_ptrs;
static char (*type_names)[16];
static bool parent_registered;

static int test_probe(struct mdev_device *mdev)
{
	msleep(probe_delay_ms);
	if (fail_probe)
		return -abs(fail_probe);
	if (with_get_available && atomic_dec_if_positive(&free_instances) < 0)
		return -ENOSPC;
	atomic_inc(&probes);
	return 0;
}

static void test_remove(struct mdev_device *mdev)
{
	msleep(remove_delay_ms);
	if (with_get_available)
		atomic_inc(&free_instances);
	atomic_inc(&removes);
}

static unsigned int test_get_available(struct mdev_type *mtype)
{
	msleep(available_delay_ms);
	return atomic_read(&free_instances);
}

static ssize_t poke_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	msleep(attr_delay_ms);
	return sysfs_emit(buf, "poke\n");
}

static ssize_t poke_store(struct device *dev, struct device_attribute *attr,
			  const char *buf, size_t count)
{
	msleep(attr_delay_ms);
	return count;
}
static DEVICE_ATTR_RW(poke);

static struct attribute *vendor_attrs[] = { &dev_attr_poke.attr, NULL };
static const struct attribute_group vendor_group = {
	.name = "vendor",
	.attrs = vendor_attrs,
};
static const struct attribute_group *vendor_groups[] = { &vendor_group, NULL };

static struct mdev_driver test_driver = {
	.device_api = "vfio-pci",
	.probe = test_probe,
	.remove = test_remove,
	.driver = {
		.name = NAME,
		.owner = THIS_MODULE,
		.mod_name = KBUILD_MODNAME,
		.dev_groups = vendor_groups,
	},
};

static int reregister_set(const char *val, const struct kernel_param *kp)
{
	int ret;

	if (!parent_registered)
		return -ENODEV;
	mdev_unregister_parent(&test_parent);
	parent_registered = false;
	ret = mdev_register_parent(&test_parent, test_dev, &test_driver, type_ptrs,
				   nr_types);
	if (!ret)
		parent_registered = true;
	return ret;
}

static const struct kernel_param_ops reregister_ops = {
	.set = reregister_set,
};
module_param_cb(reregister, &reregister_ops, NULL, 0200);

static void free_types(void)
{
	kfree(types);
	kfree(type_ptrs);
	kfree(type_names);
	types = NULL;
	type_ptrs = NULL;
	type_names = NULL;
}

static int __init test_init(void)
{
	unsigned int i;
	int ret;

	if (!nr_types || nr_types > 4096)
		return -EINVAL;
	atomic_set(&free_instances, instances);
	if (with_get_available)
		test_driver.get_available = test_get_available;
	else
		test_driver.max_instances = instances;

	types = kcalloc(nr_types, sizeof(*types), GFP_KERNEL);
	type_ptrs = kcalloc(nr_types, sizeof(*type_ptrs), GFP_KERNEL);
	type_names = kcalloc(nr_types, sizeof(*type_names), GFP_KERNEL);
	if (!types || !type_ptrs || !type_names) {
		free_types();
		return -ENOMEM;
	}
	for (i = 0; i < nr_types; i++) {
		snprintf(type_names[i], sizeof(type_names[i]), "t%u",
			 (int)i == dup_type ? 0 : i);
		types[i].sysfs_name = type_names[i];
		types[i].pretty_name = type_names[i];
		type_ptrs[i] = &types[i];
	}

	ret = mdev_register_driver(&test_driver);
	if (ret)
		goto err_types;
	test_class = class_create(NAME);
	if (IS_ERR(test_class)) {
		ret = PTR_ERR(test_class);
		goto err_driver;
	}
	test_dev = device_create(test_class, NULL, 0, NULL, NAME);
	if (IS_ERR(test_dev)) {
		ret = PTR_ERR(test_dev);
		goto err_class;
	}
	ret = mdev_register_parent(&test_parent, test_dev, &test_driver, type_ptrs,
				   nr_types);
	if (ret)
		goto err_dev;
	parent_registered = true;
	return 0;

err_dev:
	device_unregister(test_dev);
err_class:
	class_destroy(test_class);
err_driver:
	mdev_unregister_driver(&test_driver);
err_types:
	/* The header lets a vendor free its types once registration failed. */
	free_types();
	return ret;
}

static void __exit test_exit(void)
{
	if (parent_registered)
		mdev_unregister_parent(&test_parent);
	/* The header lets a vendor free its types now. */
	free_types();
	device_unregister(test_dev);
	class_destroy(test_class);
	mdev_unregister_driver(&test_driver);
	pr_info("mdev_test_vendor: unloaded after %d probes and %d removes\n",
		atomic_read(&probes), atomic_read(&removes));
}

module_init(test_init);
module_exit(test_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("A vendor driver for the mdev core's tests: delays, failures, bad types");
