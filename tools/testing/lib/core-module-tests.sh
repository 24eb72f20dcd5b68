#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# In the guest (booted with --core none): how the Rust core behaves as a module next
# to the C core and to the vendor drivers that use it. Prints KTAP and a tally line.
set -u
kdir=/lib/modules/$(uname -r)
ko() { find "$kdir" -name "$1.ko" | head -n 1; }
. "$(dirname "$0")/ktap.sh"
loaded() { [ -d "/sys/module/$1" ]; }

echo "KTAP version 1"
echo "1..6"

# 1. The Rust core loads alone and registers the bus and the compat class.
insmod "$(ko mdev_rs)" && [ -d /sys/bus/mdev ] && [ -d /sys/class/mdev_bus ]
result rust_core_registers_bus_and_class $?

# 2. A C vendor driver binds to it; the core cannot be unloaded while it is in use.
insmod "$(ko mtty)" && [ -d /sys/class/mdev_bus/mtty ]
result c_vendor_loads_on_rust_core $?
if rmmod mdev_rs 2>/dev/null; then st=1; else st=0; fi
loaded mdev_rs || st=1
result rust_core_unload_refused_while_used $st "rmmod mdev_rs succeeded with mtty loaded"
rmmod mtty && rmmod mdev_rs && ! loaded mdev_rs
result rust_core_unloads_when_unused $?

# 3. The C core and the Rust core exclude each other (both are the mdev bus and export
#    the same symbols): the second to load fails, and the first keeps working.
modprobe mdev
if insmod "$(ko mdev_rs)" 2>/dev/null; then st=1; else st=0; fi
loaded mdev_rs && st=1
insmod "$(ko mtty)" && [ -d /sys/class/mdev_bus/mtty ] || st=1
rmmod mtty; rmmod mdev
result rust_core_refused_next_to_c_core $st "mdev_rs loaded next to mdev, or mdev broke"

insmod "$(ko mdev_rs)"
if insmod "$(ko mdev)" 2>/dev/null; then st=1; else st=0; fi
loaded mdev && st=1
insmod "$(ko mtty)" && [ -d /sys/class/mdev_bus/mtty ] || st=1
rmmod mtty; rmmod mdev_rs
result c_core_refused_next_to_rust_core $st "mdev loaded next to mdev_rs, or mdev_rs broke"

tally
