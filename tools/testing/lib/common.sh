# SPDX-License-Identifier: GPL-2.0
# Shared settings of the test harness scripts. Sourced, not run.

# The kernel series the project targets, and the Debian suite that ships its sources.
KVER=${MDEV_KVER:-7.3}
KERNEL_SUITE=${MDEV_KERNEL_SUITE:-trixie-backports}

# Everything built or fetched lives here, outside the checkout, so a fresh clone
# reuses it and `git clean` never throws away a kernel build.
CACHE=${MDEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mdev-rs}

# The LLVM toolchain suffix the kernel and the modules are built with.
LLVM_SUFFIX=${MDEV_LLVM:--19}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }
