#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# In the guest, on the debug kernel (tools/testing/vm --debug), on either core: the
# teardown of parents whose kobjects are released late. DEBUG_KOBJECT_RELEASE delays
# every kobject release by 1 to 4 s (lib/kobject.c: HZ + HZ * random(4)), so memory
# freed while a kobject in it is still referenced is read after it was freed every
# time, and KASAN or ODEBUG reports it. Prints KTAP and a tally line.
#
# Each test fails on its exit status and on a kernel report logged while it ran. The
# releases that would read freed memory run up to three delays after the unload that
# started them (an mdev's, then its type's, then the parent device's), so before the
# last look at the log the script waits 15 s: that window is the behaviour under
# test (the debug option's maximum delay, three times, plus margin), not a guess at
# how long something takes. Then kmemleak is scanned: nothing allocated by the
# project's modules may be left.
set -u
. "$(dirname "$0")/ktap.sh"
re='BUG:|WARNING:|Oops|KASAN:|general protection fault|ODEBUG:|refcount_t:|list_(add|del) corruption|kernel BUG'
uuid() { printf 'c0ffee00-0000-4000-8000-%012x' "$1"; }
reports() { dmesg | grep -cE "$re"; }
core=c
[ -d /sys/module/mdev_rs ] && core=rust
live() { ls /sys/bus/mdev/devices | wc -l; }

# checked NAME FN [SKIP-REASON]: runs FN; fails on its status or on a new report.
checked() {
	if [ -n "${3:-}" ]; then
		n=$((n + 1)); pass=$pass
		echo "ok $n $1 # SKIP $3"
		skip=$((skip + 1))
		return
	fi
	before=$(reports)
	out=$("$2" 2>&1); st=$?
	after=$(reports)
	[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'
	if [ "$after" -gt "$before" ]; then
		dmesg | grep -E "$re" | tail -n +$((before + 1)) | head -n 5 | sed 's/^/# /'
		st=1
	fi
	result "$1" $st
}
skip=0
# Start from a clean slate: what boot left is not this script's.
echo clear >/sys/kernel/debug/kmemleak 2>/dev/null

echo "KTAP version 1"
echo "1..5"

# 1. The Rust vendor API: load and unload with no mdev, three times in a row. Its
#    registration used to free the types while their kobjects awaited release.
api_unload_no_mdevs() {
	for i in 1 2 3; do
		modprobe mtty_rs || return 1
		rmmod mtty_rs || return 1
	done
}
checked api_unload_no_mdevs api_unload_no_mdevs

# 2. The same with live mdevs: the unload removes them, and their releases (which
#    read the parent and the type) run after it returned.
api_unload_with_mdevs() {
	for round in 1 2; do
		modprobe mtty_rs || return 1
		t=/sys/class/mdev_bus/mtty_rs/mdev_supported_types
		echo "$(uuid $((round * 10 + 1)))" >"$t/mtty_rs-1/create" || return 1
		echo "$(uuid $((round * 10 + 2)))" >"$t/mtty_rs-2/create" || return 1
		echo "$(uuid $((round * 10 + 3)))" >"$t/mtty_rs-1/create" || return 1
		rmmod mtty_rs || return 1
		[ "$(live)" = 0 ] || { echo "mdevs left: $(ls /sys/bus/mdev/devices)"; return 1; }
	done
	modprobe mtty_rs || return 1
	a=$(cat /sys/class/mdev_bus/mtty_rs/mdev_supported_types/mtty_rs-1/available_instances)
	rmmod mtty_rs
	[ "$a" = 24 ] || { echo "available_instances after the reloads: $a, want 24"; return 1; }
}
checked api_unload_with_mdevs api_unload_with_mdevs

# 3. A C vendor with static types (the kernel's mtty) unloaded and loaded again at
#    once, with and without mdevs: its types are registered again while the previous
#    registration's releases would still be pending, unless the core waited for them.
c_vendor_reload() {
	for round in 1 2 3; do
		modprobe mtty || return 1
		if [ "$round" != 2 ]; then
			echo "$(uuid $((100 + round)))" \
				>/sys/class/mdev_bus/mtty/mdev_supported_types/mtty-1/create || return 1
		fi
		rmmod mtty || return 1
	done
	[ "$(live)" = 0 ] || { echo "mdevs left: $(ls /sys/bus/mdev/devices)"; return 1; }
}
if [ "$core" = c ]; then
	checked c_vendor_reload c_vendor_reload "known fault of the reference: the C core's mdev_unregister_parent() returns before the releases of the vendor's static types have run, and re-registering them gives ODEBUG init active, then general protection faults"
else
	checked c_vendor_reload c_vendor_reload
fi

# 4. Late releases: wait for every release the unloads above started, then look for
#    reports once more. See the header for why this window is what is tested.
late_releases() {
	sleep 15
}
checked late_releases late_releases

# 5. kmemleak: nothing allocated by mdev_rs or mtty_rs may be unreferenced. Scanned
#    twice, as its documentation asks (an object is reported only once it has been
#    seen unreferenced in two scans).
kmemleak_clean() {
	k=/sys/kernel/debug/kmemleak
	[ -w "$k" ] || { echo "no $k"; return 1; }
	echo scan >"$k"; sleep 1; echo scan >"$k"
	cat "$k" >/tmp/kmemleak
	objects=$(grep -c '^unreferenced object' /tmp/kmemleak)
	ours=$(awk '/^unreferenced object/ { if (o) n++; o = 0 } /\[(mdev_rs|mtty_rs)\]/ { o = 1 }
		END { if (o) n++; print n + 0 }' /tmp/kmemleak)
	echo "kmemleak: $objects unreferenced objects, $ours allocated by the project's modules"
	[ "$ours" = 0 ] || { head -n 40 /tmp/kmemleak; return 1; }
}
checked kmemleak_clean kmemleak_clean

[ "$skip" -gt 0 ] && echo "# $skip skipped"
tally
