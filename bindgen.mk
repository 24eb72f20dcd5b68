# SPDX-License-Identifier: GPL-2.0
#
# Included by mdev_bindings.mk and vfio_bindings.mk: what their bindgen commands
# share, so that the two bindings are generated alike and only their allow-lists
# differ.
#
# mdev_bindgen_opts: bindgen's options, as the kernel's own bindings have them
# (rust/Makefile, rust/bindgen_parameters): core only, `Default` and `MaybeZeroable`
# derived (`pin_init::zeroed()` makes the structs), C types from `ffi`, no `Debug`,
# and only the allow-listed items themselves (types they use come from the kernel
# crate, which a binding module glob-imports).
#
# mdev_bindgen_c_flags: the kernel's C flags as bindgen (libclang) may see them,
# computed as the kernel's own rust/Makefile does for its bindings (bindgen_c_flags
# there), then mdev_bindgen_c_flags_tail. A clang-built kernel's flags are passed as they
# are. A gcc-built kernel (a distribution's, such as Debian's) has gcc-only flags
# that libclang rejects (-mpreferred-stack-boundary=3, -mindirect-branch=thunk-extern,
# -fconserve-stack, ...): they are filtered out with the kernel's own list,
# bindgen_skip_c_flags, read from $(srctree)/rust/Makefile so that it follows the
# kernel the modules are built for (rust/Makefile's variables are not visible to an
# external module's Kbuild).

ifndef mdev_bindgen_mk_included
mdev_bindgen_mk_included := 1
ifdef CONFIG_CC_IS_CLANG
mdev_bindgen_c_flags = $(c_flags)
else
# The lines from `bindgen_skip_c_flags :=` to the first one without a trailing
# backslash.
mdev_bindgen_skip_c_flags := $(shell sed -n \
	-e '/^bindgen_skip_c_flags[[:space:]]*:=/,/[^\\]$$/{s/^bindgen_skip_c_flags[[:space:]]*:=//;s/\\$$//;p}' \
	$(srctree)/rust/Makefile 2>/dev/null)
ifeq ($(strip $(mdev_bindgen_skip_c_flags)),)
$(error cannot read bindgen_skip_c_flags from $(srctree)/rust/Makefile, needed for bindgen on a gcc-built kernel)
endif
mdev_bindgen_c_flags = $(filter-out $(mdev_bindgen_skip_c_flags),$(c_flags))
endif
mdev_bindgen_opts := --rust-target 1.85 --use-core \
	--with-derive-default --ctypes-prefix ffi --no-debug '.*' \
	--with-derive-custom-struct '.*=MaybeZeroable' \
	--with-derive-custom-union '.*=MaybeZeroable' \
	--enable-function-attribute-detection \
	--no-recursive-allowlist
mdev_bindgen_c_flags_tail := -w --target=x86_64-linux-gnu -fno-builtin -D__BINDGEN__ -DMODULE
endif
