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

LLVM ?= -19
KDIR ?= $(shell $(CURDIR)/tools/testing/build-kernel)

all: modules

modules clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) LLVM=$(LLVM) $@

clippy:
	$(MAKE) -C $(KDIR) M=$(CURDIR) LLVM=$(LLVM) CLIPPY=1 modules

# The kernel's rustfmt configuration, from the source tree the build was made from.
RUST_CRATES := src/mdev_core.rs samples/mtty_rs.rs
RUSTFMT_CONFIG = $(KDIR)/source/.rustfmt.toml

rustfmt:
	rustfmt --edition 2021 --config-path $(RUSTFMT_CONFIG) $(RUST_CRATES)

rustfmtcheck:
	rustfmt --edition 2021 --config-path $(RUSTFMT_CONFIG) --check $(RUST_CRATES)

.PHONY: all modules clean clippy rustfmt rustfmtcheck
