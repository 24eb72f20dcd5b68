# SPDX-License-Identifier: GPL-2.0
#
# Out-of-tree build of the project's kernel modules (see Kbuild).
#
#   make [KDIR=<Rust-enabled kernel build>] [LLVM=-19]   build the modules
#   make clippy                                          the same, with clippy
#   make rustfmt / make rustfmtcheck                     format / check the Rust code
#   make clean
#
# Without KDIR, the test harness's cached kernel build is used (and built first if
# the cache is empty, which takes about 15 minutes).
#
# Modules are built with the kernel's own C compiler: LLVM defaults to -19 only when
# the kernel was built with clang (CONFIG_CC_IS_CLANG, as the harness's kernels
# are). A gcc-built kernel, such as a distribution's, gets no LLVM
# (tools/testing/build-for-distro builds for one).

KDIR ?= $(shell $(CURDIR)/tools/testing/build-kernel)
# Evaluated once, not at every use.
KDIR := $(KDIR)
ifneq ($(shell grep -sx 'CONFIG_CC_IS_CLANG=y' $(KDIR)/.config),)
LLVM ?= -19
endif
KMAKE = $(MAKE) -C $(KDIR) M=$(CURDIR) $(if $(LLVM),LLVM=$(LLVM))

all: modules

modules clean:
	$(KMAKE) $@

clippy:
	$(KMAKE) CLIPPY=1 modules

# The kernel's rustfmt configuration, from the source tree the build was made from.
RUST_CRATES := src/mdev_core.rs samples/mtty_rs.rs samples/tiny_rs.rs
RUSTFMT_CONFIG = $(KDIR)/source/.rustfmt.toml

rustfmt:
	rustfmt --edition 2021 --config-path $(RUSTFMT_CONFIG) $(RUST_CRATES)

rustfmtcheck:
	rustfmt --edition 2021 --config-path $(RUSTFMT_CONFIG) --check $(RUST_CRATES)

.PHONY: all modules clean clippy rustfmt rustfmtcheck
