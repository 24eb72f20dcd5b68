# SPDX-License-Identifier: GPL-2.0
#
# Included by the Kbuild of a vendor module written with the Rust vendor API
# (api/mod.rs): generates the bindings of <linux/mdev.h> and <linux/vfio.h> the API is
# built on into $(obj) (mdev_bindings.mk, vfio_bindings.mk) and tells api/mod.rs where
# they are (MDEV_API_OBJ in rustc's environment, read with env!() as the kernel crate
# reads OBJTREE).
#
# Usage: include this file, then make the crate root depend on the output:
#   $(obj)/<root>.o: $(mdev_api_generated)

include $(srcroot)/mdev_bindings.mk
include $(srcroot)/vfio_bindings.mk

mdev_api_generated := $(obj)/mdev_bindings_generated.rs $(obj)/vfio_bindings_generated.rs
# In rustc's environment, as Kbuild gives the kernel crate OBJTREE (rust_common_cmd in
# scripts/Makefile.build): each directory's Kbuild runs in its own make, so each vendor
# directory gets its own value. (Not rustc's unstable --env-set, which newer rustc
# releases no longer have.)
export MDEV_API_OBJ := $(abspath $(obj))
