# SPDX-License-Identifier: GPL-2.0
# Shared settings of the test harness scripts. Sourced, not run.

# The kernel series the project targets, and the Debian suite that ships its sources.
KVER=${MDEV_KVER:-7.3}
KERNEL_SUITE=${MDEV_KERNEL_SUITE:-trixie-backports}

# The Debian kernel the distribution tests boot (tools/testing/fetch-distro-kernel)
# and the modules are built for (tools/testing/build-for-distro): trixie-backports'.
DISTRO_RELEASE=${MDEV_DISTRO_RELEASE:-7.3.4+deb13-amd64}

# Everything built or fetched lives here, outside the checkout, so a fresh clone
# reuses it and `git clean` never throws away a kernel build.
CACHE=${MDEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mdev-rs}

# The LLVM toolchain suffix the kernel and the modules are built with.
LLVM_SUFFIX=${MDEV_LLVM:--19}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Copies the module sources of the checkout (not what git ignores: the checkout's
# build products) to DEST, for a build against another kernel than the test kernel's:
# Kbuild builds an external module in its source directory. The copy has the
# .gitignore too, so that its own build products are protected from --delete (rsync
# reads a per-directory filter file on each side) and the next build is incremental.
copy_module_sources() { # DEST
	mkdir -p "$1"
	rsync -a --delete --filter=':- .gitignore' --filter='+ /.gitignore' \
		--filter='+ /src/***' --filter='+ /lib/***' --filter='+ /api/***' --filter='+ /samples/***' \
		--filter='+ /tools/' --filter='+ /tools/testing/' --filter='+ /tools/testing/vendor/***' \
		--filter='+ /Kbuild' --filter='+ /Kconfig' --filter='+ /Makefile' \
		--filter='+ /*.mk' --filter='+ /*.h' --filter='- *' \
		"$REPO/" "$1/"
}
