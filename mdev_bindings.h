/* SPDX-License-Identifier: GPL-2.0 */
/* The C declarations bindgen turns into mdev_bindings_generated.rs (mdev_bindings.mk). */
#include <linux/mdev.h>
