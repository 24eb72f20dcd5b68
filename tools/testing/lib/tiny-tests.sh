#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# In the guest, on either core: the second Rust vendor, tiny_rs (samples/tiny_rs.rs),
# the smallest driver of the vendor API: one type, no VFIO device, instances counted
# by the core (MAX_INSTANCES = 2, no get_available). Prints KTAP and a tally line.
set -u
t=/sys/class/mdev_bus/tiny_rs/mdev_supported_types/tiny_rs-1
. "$(dirname "$0")/ktap.sh"
uuid() { printf '7c1d2e3f-4a5b-4c6d-8e7f-%012x' "$1"; }
avail() { cat "$t/available_instances"; }
create() { echo "$(uuid "$1")" >"$t/create"; }
remove() { echo 1 >"/sys/bus/mdev/devices/$(uuid "$1")/remove"; }
live() { ls /sys/bus/mdev/devices | wc -l; }
# As in sample-tests.sh: the C core gives an instance back at the mdev's release,
# which the debug kernel delays (DEBUG_KOBJECT_RELEASE); 60 s at most, a hang detector.
released() {
	i=0
	while ! "$@" && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
}
avail_is() { [ "$(avail)" = "$1" ]; }

echo "KTAP version 1"
echo "1..4"

# 1. The type, as the driver's TYPES and constants say.
modprobe tiny_rs
st=0
[ "$(cat "$t/name")" = Tiny ] && [ "$(cat "$t/device_api")" = vfio-pci ] && avail_is 2 || st=1
result type_attributes $st "name '$(cat "$t/name")', device_api '$(cat "$t/device_api")', available $(avail)"

# 2. The core counts the instances: two creates, then EUSERS.
st=0
create 1 && create 2 || st=1
avail_is 0 || st=1
err=$(create 3 2>&1) && st=1
case "$err" in *"Too many users"*) ;; *) st=1 ;; esac
[ "$(live)" = 2 ] || st=1
result max_instances_counted_by_core $st "third create: '$err'; live $(live), available $(avail)"

# 3. A remove gives its instance back.
st=0
remove 1 || st=1
released avail_is 1
avail_is 1 || st=1
create 4 || st=1
result remove_gives_instance_back $st "available $(avail)"

# 4. Unloading with live mdevs removes them (probe's data dropped after remove).
rmmod tiny_rs && [ "$(live)" = 0 ] && [ ! -e /sys/class/mdev_bus/tiny_rs ]
result unload_with_live_mdevs $?

tally
