/* SPDX-License-Identifier: GPL-2.0 */
/* The C declarations bindgen turns into src/mdev_bindings_generated.rs. */
#include <linux/mdev.h>
