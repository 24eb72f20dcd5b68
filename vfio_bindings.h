/* SPDX-License-Identifier: GPL-2.0 */
/* The C declarations bindgen turns into vfio_bindings_generated.rs (vfio_bindings.mk). */
#include <linux/anon_inodes.h>
#include <linux/eventfd.h>
#include <linux/vfio.h>
