#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# In the guest, on the debug kernel (tools/testing/vm --debug), on either core: the
# teardown of parents whose kobjects are released late. DEBUG_KOBJECT_RELEASE delays
# every kobject release by 1 to 4 s (lib/kobject.c: HZ + HZ * random(4)), so memory
# freed while a kobject in it is still referenced is read after it was freed every
# time, and KASAN or ODEBUG reports it. Prints KTAP and a tally line.
#
# MDEV_RUN_KNOWN_FAULTS=1 runs the tests that are skipped on the C core as known
# faults of the reference, to see those faults again.
#
# Each test fails on its exit status and on a kernel report logged while it ran. The
# releases that would read freed memory run up to five delays after the unload that
# started them (a VFIO character device's, its VFIO device's, an mdev's, its type's,
# its parent device's), so before the last look at the log the script waits 25 s:
# that window is the behaviour under test (the debug option's maximum delay, five
# times, plus margin), not a guess at how long something takes. Then kmemleak is
# scanned: nothing allocated by the project's modules may be left.
set -u
. "$(dirname "$0")/ktap.sh"
. "$(dirname "$0")/kmemleak.sh"
. "$(dirname "$0")/release.sh"
# The VM runner's own list of report lines. Stack dumps printed without such a tag
# are shown, with the lines before them, but do not fail a test: one was seen once
# in api_unload_no_mdevs on the Rust core and could not be reproduced or identified
# yet (see Documentation/testing.rst).
re="${VM_SPLAT_RE:-BUG:|WARNING:|KASAN:|ODEBUG:|general protection fault}"
uuid() { printf 'c0ffee00-0000-4000-8000-%012x' "$1"; }
core=c
[ -d /sys/module/mdev_rs ] && core=rust
live() { ls /sys/bus/mdev/devices | wc -l; }
# none_left [WHEN]: no mdev exists, or says which do.
none_left() {
	[ "$(live)" = 0 ] || { echo "mdevs left${1:+ $1}: $(ls /sys/bus/mdev/devices | tr "\n" " ")"; return 1; }
}

# load MODULE DRIVER: modprobe MODULE once its mdev driver's directory from an
# earlier unload is gone (release.sh's no_driver_dir; 60 s at most, like every
# release the suites wait for).
load() {
	wait_until no_driver_dir "$2"
	modprobe "$1"
}

# checked NAME FN [SKIP-REASON]: runs FN; fails on its status or on a report in the
# kernel log since the previous test. Each test reads and clears the log (dmesg -c),
# so what it looks at cannot be shifted by the ring buffer wrapping.
checked() {
	if [ -n "${3:-}" ]; then
		skipped "$1" "$3"
		return
	fi
	out=$("$2" 2>&1); st=$?
	dmesg -c >/tmp/klog
	[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'
	# An untagged stack dump, with the 20 lines before it that are not the debug
	# option's kobject_release chatter.
	grep -v 'kobject_release, parent' /tmp/klog | grep -B 20 -A 6 'Call Trace:' |
		head -n 60 | sed 's/^/# untagged stack dump: /'
	if grep -qE "$re" /tmp/klog; then
		grep -E "$re" /tmp/klog | head -n 5 | sed 's/^/# /'
		st=1
	fi
	result "$1" $st
}
# Start from a clean slate: what boot left is not this script's (the VM runner judges
# the boot's log).
kmemleak_clear
dmesg -c >/dev/null

echo "KTAP version 1"
echo "1..8"

# 1. The Rust vendor API: load and unload with no mdev, three times in a row. Its
#    registration used to free the types while their kobjects awaited release.
api_unload_no_mdevs() {
	for i in 1 2 3; do
		load mtty_rs mtty_rs || return 1
		rmmod mtty_rs || return 1
	done
}
checked api_unload_no_mdevs api_unload_no_mdevs

# 2. The same with live mdevs: the unload removes them, and their releases (which
#    read the parent and the type) run after it returned.
api_unload_with_mdevs() {
	t=/sys/class/mdev_bus/mtty_rs/mdev_supported_types
	for round in 1 2; do
		load mtty_rs mtty_rs || return 1
		echo "$(uuid $((round * 10 + 1)))" >"$t/mtty_rs-1/create" || return 1
		echo "$(uuid $((round * 10 + 2)))" >"$t/mtty_rs-2/create" || return 1
		echo "$(uuid $((round * 10 + 3)))" >"$t/mtty_rs-1/create" || return 1
		rmmod mtty_rs || return 1
		none_left || return 1
	done
	# Removed mdevs give their ports back when their VFIO devices are released, up to
	# two delays later: wait for that (60 s at most, a hang detector), then unload.
	load mtty_rs mtty_rs || return 1
	echo "$(uuid 31)" >"$t/mtty_rs-2/create" || return 1
	echo 1 >"/sys/bus/mdev/devices/$(uuid 31)/remove" || return 1
	i=0
	while [ "$(cat "$t/mtty_rs-1/available_instances")" != 24 ] && [ $i -lt 600 ]; do
		sleep 0.1; i=$((i + 1))
	done
	a=$(cat "$t/mtty_rs-1/available_instances")
	rmmod mtty_rs || return 1
	[ "$a" = 24 ] || { echo "available_instances after a removal: $a, want 24"; return 1; }
}
checked api_unload_with_mdevs api_unload_with_mdevs

# 3. A C vendor registering the same types again, at once, within one load (the
#    test vendor's reregister parameter), with live mdevs: the types' kobjects are
#    initialised again while the previous ones' releases would still be pending,
#    unless the core waited for them.
c_vendor_reregister() {
	load mdev_test_vendor mdev_test || return 1
	t=/sys/class/mdev_bus/mdev_test/mdev_supported_types
	for round in 1 2 3; do
		echo "$(uuid $((300 + round)))" >"$t/mdev_test-t0/create" || return 1
		echo 1 >/sys/module/mdev_test_vendor/parameters/reregister || return 1
		none_left "after round $round" || return 1
	done
	echo "$(uuid 310)" >"$t/mdev_test-t1/create" || return 1
	rmmod mdev_test_vendor || return 1
	none_left || return 1
}
known_fault_on_c c_vendor_reregister c_vendor_reregister "the C core's mdev_unregister_parent() returns before the releases of the types' kobjects have run, and registering the same types again initialises kobjects whose delayed release is still armed"

# 4. A C vendor that frees its types as soon as mdev_unregister_parent() returns,
#    which the header allows (the test vendor allocates them at load), with live
#    mdevs whose releases read those types.
c_vendor_frees_types() {
	for round in 1 2; do
		load mdev_test_vendor mdev_test || return 1
		t=/sys/class/mdev_bus/mdev_test/mdev_supported_types
		echo "$(uuid $((200 + round)))" >"$t/mdev_test-t0/create" || return 1
		echo "$(uuid $((210 + round)))" >"$t/mdev_test-t1/create" || return 1
		rmmod mdev_test_vendor || return 1
	done
	none_left || return 1
}
known_fault_on_c c_vendor_frees_types c_vendor_frees_types "the C core's mdev_unregister_parent() returns before the releases of the mdevs and types, which then read the freed types"

# 5. Unbind (echo UUID > /sys/bus/mdev/drivers/<drv>/unbind), then remove and
#    unload, with the Rust API: the unbound mdev's VFIO device is released late
#    (its ports come back then: awaited, 60 s at most), an unbound mdev is removed,
#    another is left to the unload, whose releases run after it returned.
api_unbind_then_unload() {
	t=/sys/class/mdev_bus/mtty_rs/mdev_supported_types
	drv=/sys/bus/mdev/drivers/mtty_rs
	load mtty_rs mtty_rs || return 1
	echo "$(uuid 401)" >"$t/mtty_rs-2/create" || return 1
	echo "$(uuid 402)" >"$t/mtty_rs-1/create" || return 1
	echo "$(uuid 401)" >"$drv/unbind" || return 1
	echo "$(uuid 402)" >"$drv/unbind" || return 1
	i=0
	while [ "$(cat "$t/mtty_rs-1/available_instances")" != 24 ] && [ $i -lt 600 ]; do
		sleep 0.1; i=$((i + 1))
	done
	a=$(cat "$t/mtty_rs-1/available_instances")
	[ "$a" = 24 ] || { echo "available_instances after two unbinds: $a, want 24"; return 1; }
	echo 1 >"/sys/bus/mdev/devices/$(uuid 401)/remove" || return 1
	rmmod mtty_rs || return 1
	none_left || return 1
}
checked api_unbind_then_unload api_unbind_then_unload

# 6. The same with the C test vendor, which frees its types at unload: an unbound
#    mdev's release reads its type after the unload began.
c_vendor_unbind_then_unload() {
	load mdev_test_vendor mdev_test || return 1
	t=/sys/class/mdev_bus/mdev_test/mdev_supported_types
	echo "$(uuid 501)" >"$t/mdev_test-t0/create" || return 1
	echo "$(uuid 502)" >"$t/mdev_test-t1/create" || return 1
	echo "$(uuid 501)" >/sys/bus/mdev/drivers/mdev_test/unbind || return 1
	rmmod mdev_test_vendor || return 1
	none_left || return 1
}
known_fault_on_c c_vendor_unbind_then_unload c_vendor_unbind_then_unload "the C core's mdev_unregister_parent() returns before the releases of the mdevs and types, which then read the freed types (as in c_vendor_frees_types)"

# 7. Late releases: wait for every release the unloads above started, then look for
#    reports once more. See the header for why this window is what is tested.
late_releases() {
	sleep 25
}
checked late_releases late_releases

# 8. kmemleak: nothing allocated by mdev_rs, mtty_rs or the test vendor may be
#    unreferenced (tools/testing/lib/kmemleak.sh).
checked kmemleak_clean kmemleak_clean

tally
