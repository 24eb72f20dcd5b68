#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# In the guest, on either core: what is particular to the Rust sample mtty_rs (the
# conformance suite covers what every vendor driver must do). Prints KTAP and a
# tally line. MDEV_STRESS sets the rounds of the race test (default 10).
set -u
rounds=${MDEV_STRESS:-10}
types=/sys/class/mdev_bus/mtty_rs/mdev_supported_types
. "$(dirname "$0")/ktap.sh"
uuid() { printf '5a3f1c2e-7d4b-4e8a-9c1f-%012x' "$1"; }
avail() { cat "$types/mtty_rs-$1/available_instances"; }
create() { echo "$(uuid "$2")" >"$types/mtty_rs-$1/create" 2>/dev/null; }
remove() { echo 1 >"/sys/bus/mdev/devices/$(uuid "$1")/remove" 2>/dev/null; }
live() { ls /sys/bus/mdev/devices | wc -l; }
avail_is() { [ "$(avail 1)" = "$1" ] && [ "$(avail 2)" = "$2" ]; }
# released CMD [ARGS...]: waits until CMD succeeds, for what removed mdevs held to
# come back: mtty_rs gives its ports back at the release of an mdev's VFIO device,
# which runs at once on the test kernel and 1 to 4 s after the remove returned on
# the debug kernel (DEBUG_KOBJECT_RELEASE). The one place where this script waits
# for a release. The limit, 60 s, is a deadlock detector that only a release that
# never comes reaches; the caller then checks the value as it would without the wait.
released() {
	i=0
	while ! "$@" && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
}

echo "KTAP version 1"
echo "1..7"

# 1. The ports parameter sizes the pool.
modprobe mtty_rs ports=10000
st=0; [ "$(avail 1)" = 10000 ] && [ "$(avail 2)" = 5000 ] || st=1
result ports_parameter $st "available: $(avail 1) single, $(avail 2) dual (want 10000, 5000)"
rmmod mtty_rs

# 2. Both types draw on one pool: 1 dual + 22 single take all 24 ports.
modprobe mtty_rs
st=0
create 2 1 || st=1
[ "$(avail 1)" = 22 ] && [ "$(avail 2)" = 11 ] || st=1
i=2; while [ $i -le 23 ]; do create 1 $i || st=1; i=$((i + 1)); done
[ "$(avail 1)" = 0 ] && [ "$(avail 2)" = 0 ] || st=1
create 1 100 && st=1
create 2 101 && st=1
[ "$(live)" = 23 ] || st=1
remove 1 || st=1
released avail_is 2 1
avail_is 2 1 || st=1
result pool_shared_by_types $st "pool accounting went wrong (live $(live), available $(avail 1)/$(avail 2))"

# 3. Unloading with live mdevs removes them and gives the pool back.
rmmod mtty_rs && [ "$(live)" = 0 ] && modprobe mtty_rs && [ "$(avail 1)" = 24 ]
result unload_with_live_mdevs $?

# 4. The vendor attribute: a byte written to THR is received (loopback).
create 1 200
a=/sys/bus/mdev/devices/$(uuid 200)/vendor/uart
st=0
echo "w 0 0 0x41" >"$a" || st=1
grep -q "LSR=0x01 .* fifo=1" "$a" || st=1
echo "r 0 0" >"$a" || st=1
grep -q "^last=0x41" "$a" || st=1
grep -q "LSR=0x60 .* fifo=0" "$a" || st=1
echo "w 0 7 0x5a" >"$a" && grep -q "SCR=0x5a" "$a" || st=1
result vendor_attribute_loopback $st "$(cat "$a")"

# 5. It refuses what it does not understand.
st=0
for bad in "w 1 0 1" "w 0 8 1" "w 0 0 256" "r 0" "x 0 0" "w 0 0 1 2" ""; do
	printf '%s' "$bad" >"$a" 2>/dev/null && [ -n "$bad" ] && { st=1; echo "# accepted: '$bad'"; }
done
remove 200
result vendor_attribute_refuses_garbage $st

# 6. Vendor attribute stores (which take the mdev's lock) racing removes and the
#    unload of the driver: no deadlock, nothing left, no kernel report. Each round
#    has its own UUIDs: the reuse of a UUID is another test's subject (a UUID comes
#    back at its mdev's release, which the C core does not wait for at unload).
writes=0 st=0 r=0
while [ $r -lt "$rounds" ]; do
	modprobe mtty_rs
	b=$((1000 + r * 10))
	i=0; while [ $i -lt 6 ]; do create $((i % 2 + 1)) $((b + i)) || st=1; i=$((i + 1)); done
	i=0
	while [ $i -lt 6 ]; do
		(
			a=/sys/bus/mdev/devices/$(uuid $((b + i)))/vendor/uart
			k=0
			while [ $k -lt 40 ] && echo "w 0 0 $k" >"$a" 2>/dev/null; do k=$((k + 1)); done
			echo $k >/tmp/writes.$i
		) 2>/dev/null &
		i=$((i + 1))
	done
	remove $b; remove $((b + 1))
	rmmod mtty_rs || st=1
	wait
	i=0; while [ $i -lt 6 ]; do writes=$((writes + $(cat /tmp/writes.$i))); i=$((i + 1)); done
	[ "$(live)" = 0 ] || st=1
	r=$((r + 1))
done
echo "# $rounds rounds, $writes attribute writes raced 2 removes and an unload each"
result vendor_attribute_races_remove_and_unload $st

# 7. Unbind (echo UUID > /sys/bus/mdev/drivers/mtty_rs/unbind): the mdev stays, with
#    no driver and no vendor attribute; its VFIO device goes, and its ports go back
#    to the pool with the VFIO device's release (awaited: on the debug kernel
#    releases are delayed; 60 s at most, a hang detector). Bind is refused (ENODEV);
#    remove, and the unload with another unbound mdev, leave nothing.
unbind_remove_unload() {
	modprobe mtty_rs || return 1
	create 2 300 || return 1
	create 1 301 || return 1
	d=/sys/bus/mdev/devices/$(uuid 300)
	[ -e "$d/vfio-dev" ] || { echo "no VFIO device before the unbind"; return 1; }
	echo "$(uuid 300)" >/sys/bus/mdev/drivers/mtty_rs/unbind || return 1
	[ -e "$d/remove" ] && [ ! -e "$d/driver" ] && [ ! -e "$d/vendor" ] && [ ! -e "$d/vfio-dev" ] ||
		{ echo "after the unbind: $(ls "$d" | tr "\n" " ")"; return 1; }
	i=0; while [ "$(avail 1)" != 23 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
	[ "$(avail 1)" = 23 ] || { echo "available after the unbind: $(avail 1), want 23"; return 1; }
	echo "$(uuid 300)" >/sys/bus/mdev/drivers/mtty_rs/bind 2>/dev/null && { echo "bind succeeded"; return 1; }
	remove 300 || { echo "remove after the unbind failed"; return 1; }
	[ ! -e "$d" ] || { echo "still listed after its removal"; return 1; }
	# The UUID is free again at the release, which the debug kernel delays.
	i=0; until create 2 300; do [ $i -lt 600 ] || break; sleep 0.1; i=$((i + 1)); done
	[ -e "$d" ] || { echo "the UUID is not free after the removal"; return 1; }
	echo "$(uuid 301)" >/sys/bus/mdev/drivers/mtty_rs/unbind || return 1
	rmmod mtty_rs || return 1
	[ "$(live)" = 0 ] || { echo "mdevs left after the unload"; return 1; }
}
out=$(unbind_remove_unload 2>&1); st=$?
[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'
result unbind_remove_unload $st
[ -d /sys/module/mtty_rs ] && rmmod mtty_rs

tally
