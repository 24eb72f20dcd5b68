#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# In the guest, on either core: the core's failure paths and races, made deterministic
# with the test vendor (tools/testing/vendor/mdev_test_vendor.c), whose module
# parameters add delays, failures and bad types. Prints KTAP and a tally line.
# MDEV_RUN_KNOWN_FAULTS=1 runs what is skipped on the C core as a known fault of the
# reference.
set -u
. "$(dirname "$0")/ktap.sh"
uuid() { printf 'bad0c0de-0000-4000-8000-%012x' "$1"; }
types=/sys/class/mdev_bus/mdev_test/mdev_supported_types
live() { ls /sys/bus/mdev/devices | wc -l; }
drv=/sys/bus/mdev/drivers/mdev_test
params=/sys/module/mdev_test_vendor/parameters
dev() { echo "/sys/bus/mdev/devices/$(uuid "$1")"; }
# write VALUE FILE: one write, as echo does; prints the error (if any) and returns
# the status.
write() { ( echo "$1" >"$2" ) 2>&1; }
# in_background NAME VALUE FILE: the write on its own, its status in /tmp/st.NAME
# when it returns.
in_background() {
	rm -f "/tmp/st.$1"
	( echo "$2" >"$3"; echo $? >"/tmp/st.$1" ) 2>/dev/null &
}
returned() { [ -e "/tmp/st.$1" ]; }
status() { cat "/tmp/st.$1"; }
# await CONDITION...: until CONDITION holds; 60 s at most, a hang detector.
await() {
	i=0
	while ! "$@" && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done
	"$@"
}
gone() { [ ! -e "$1" ]; }
# create_again N TYPE: creates mdev N of TYPE, whose UUID was just removed. The UUID
# is free again at the removed mdev's release, which the debug kernel delays
# (DEBUG_KOBJECT_RELEASE): so this retries while the create fails, 60 s at most.
create_again() {
	i=0
	until echo "$(uuid "$1")" 2>/dev/null >"$types/mdev_test-$2/create"; do
		[ $i -lt 1200 ] || return 1
		sleep 0.05; i=$((i + 1))
	done
}
# The vendor's counts logged at its last unload: "PROBES REMOVES".
counts_at_unload() {
	dmesg | grep 'mdev_test_vendor: unloaded after' | tail -n 1 |
		sed 's/.*after \([0-9]*\) probes and \([0-9]*\) removes.*/\1 \2/'
}
# none_left [WHEN]: no mdev exists, or says which do.
none_left() {
	[ "$(live)" = 0 ] || { echo "mdevs left${1:+ $1}: $(ls /sys/bus/mdev/devices | tr "\n" " ")"; return 1; }
}
# The VM runner's list of kernel reports (any of them also fails the whole run).
re="${VM_SPLAT_RE:-BUG:|WARNING:|KASAN:|ODEBUG:|general protection fault}"
reports() { dmesg | grep -cE "$re"; }
# checked NAME FN: runs FN, shows its output as diagnostics and reports its status,
# failing it also on a kernel report logged meanwhile (a lockdep assertion, say);
# then unloads the vendor if FN left it loaded, and waits for FN's background writes.
checked() {
	before=$(reports)
	out=$("$2" 2>&1); st=$?
	[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'
	if [ "$(reports)" -gt "$before" ]; then
		dmesg | grep -E "$re" | tail -n +$((before + 1)) | head -n 3 | sed 's/^/# /'
		st=1
	fi
	result "$1" $st
	[ -d /sys/module/mdev_test_vendor ] && rmmod mdev_test_vendor 2>/dev/null
	wait
}
# unbound N: mdev N is listed, with its remove file and type link, in its type's
# devices/, and has no driver nor vendor attributes.
unbound() {
	d=$(dev "$1")
	[ -d "$d" ] || { echo "$(uuid "$1") is not listed after the unbind"; return 1; }
	[ -e "$d/remove" ] && [ -e "$d/mdev_type/devices/$(uuid "$1")" ] ||
		{ echo "$(uuid "$1") lost its remove file or its type"; return 1; }
	[ ! -e "$d/driver" ] && [ ! -e "$drv/$(uuid "$1")" ] ||
		{ echo "$(uuid "$1") is still bound"; return 1; }
	[ ! -e "$d/vendor" ] || { echo "$(uuid "$1") still has its vendor attributes"; return 1; }
}
core=c
[ -d /sys/module/mdev_rs ] && core=rust

echo "KTAP version 1"
echo "1..8"

# 1. A registration that fails half-way (type 2 has type 0's name) leaves nothing
#    behind, and the same driver then registers normally.
st=0
if modprobe mdev_test_vendor nr_types=4 dup_type=2 2>/dev/null; then
	echo "# the registration with a duplicate type name succeeded"; st=1
	rmmod mdev_test_vendor
fi
[ -e /sys/class/mdev_bus/mdev_test ] && { echo "# the failed parent is still in mdev_bus"; st=1; }
[ -e /sys/class/mdev_test/mdev_test/mdev_supported_types ] && { echo "# its types are still there"; st=1; }
if modprobe mdev_test_vendor nr_types=2; then
	[ -d "$types/mdev_test-t0" ] && [ -d "$types/mdev_test-t1" ] || { echo "# types missing after a normal load"; st=1; }
	rmmod mdev_test_vendor || st=1
else
	echo "# the normal load failed"; st=1
fi
result failed_registration_leaves_nothing $st

# 2. Creates racing the rollback of a failed registration: 300 types, the last one a
#    duplicate, so the registration fails after type 0's create file has existed for
#    a while (adding a type takes milliseconds here); a creator writes fresh UUIDs to
#    type 0's create as long as the file exists. Every mdev created meanwhile must be
#    gone when the load has failed, and each of its UUIDs must be free again. On the
#    Rust core none may be created at all: the gate stays closed until a
#    registration is complete (a type whose devices directory is not made yet is not
#    usable). (During the registration the types are only under the parent device:
#    the mdev_bus link comes last.)
rollback_race() {
	during=/sys/devices/virtual/mdev_test/mdev_test/mdev_supported_types/mdev_test-t0
	(
		i=0
		while [ ! -e "$during/create" ] && [ $i -lt 1000000 ]; do i=$((i + 1)); done
		k=0 made=0 refused=0
		while [ $k -lt 5000 ]; do
			k=$((k + 1))
			if echo "$(uuid $k)" 2>/dev/null >"$during/create"; then
				made=$((made + 1))
			elif [ -e "$during/create" ]; then
				refused=$((refused + 1))
			else
				break
			fi
		done
		echo "$made $refused $k" >/tmp/rollback
	) &
	creator=$!
	if modprobe mdev_test_vendor nr_types=300 dup_type=299 2>/dev/null; then
		echo "the registration with a duplicate type name succeeded"
		rmmod mdev_test_vendor
		return 1
	fi
	wait $creator
	read -r made refused tried </tmp/rollback
	echo "creates during the failed registration: $made made, $refused refused, $tried tried"
	st=0
	[ "$(live)" = 0 ] || { echo "mdevs left: $(ls /sys/bus/mdev/devices | head -n 5 | tr "\n" " ")"; st=1; }
	[ $((made + refused)) -gt 0 ] || { echo "no create reached the window: nothing was tested"; st=1; }
	if [ "$core" = rust ] && [ "$made" != 0 ]; then
		echo "$made creates succeeded before the registration was complete"
		st=1
	fi
	modprobe mdev_test_vendor nr_types=1 instances=4 || return 1
	j=1
	while [ $j -le "$made" ] && [ $j -le 3 ]; do
		echo "$(uuid $j)" >"$types/mdev_test-t0/create" || { echo "UUID $(uuid $j) is not free"; st=1; }
		j=$((j + 1))
	done
	rmmod mdev_test_vendor || st=1
	[ "$(live)" = 0 ] || st=1
	return $st
}
if [ "$core" = c ] && [ -z "${MDEV_RUN_KNOWN_FAULTS:-}" ]; then
	skipped rollback_races_creates "known fault of the reference: the C core's failed mdev_register_parent() removes the types it added (parent_create_sysfs_files) but not the mdevs created on them meanwhile"
else
	out=$(rollback_race 2>&1); st=$?
	printf '%s\n' "$out" | sed 's/^/# /'
	result rollback_races_creates $st
fi

# 3. A create whose probe is still running when the vendor is unloaded: the unload
#    waits for it at the gate, then removes the new mdev; nothing is left.
st=0
modprobe mdev_test_vendor probe_delay_ms=2000 || st=1
( echo "$(uuid 9000)" >"$types/mdev_test-t0/create" ) 2>/dev/null &
creator=$!
i=0
while [ ! -e "/sys/bus/mdev/devices/$(uuid 9000)" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done
[ -e "/sys/bus/mdev/devices/$(uuid 9000)" ] || { echo "# the slow create did not start"; st=1; }
rmmod mdev_test_vendor || st=1
wait $creator
[ "$(live)" = 0 ] || { echo "# mdevs left: $(ls /sys/bus/mdev/devices | tr "\n" " ")"; st=1; }
result unload_waits_for_slow_probe $st

# 4. Unbind (echo UUID > /sys/bus/mdev/drivers/<drv>/unbind): the vendor's remove
#    runs, the mdev stays listed with its type, its remove file and its instance,
#    without a driver; bind is refused (ENODEV: no mdev driver matches by itself, an
#    mdev is bound only by its create); remove then removes it without calling the
#    vendor again, and the UUID is free.
unbind_bind_remove() {
	modprobe mdev_test_vendor with_get_available=1 instances=4 || return 1
	echo "$(uuid 100)" >"$types/mdev_test-t0/create" || return 1
	echo "$(uuid 101)" >"$types/mdev_test-t1/create" || return 1
	[ "$(cat "$types/mdev_test-t0/available_instances")" = 2 ] || { echo "available_instances is not 2 with two mdevs"; return 1; }
	err=$(write "$(uuid 100)" "$drv/unbind") || { echo "unbind: $err"; return 1; }
	unbound 100 || return 1
	[ "$(cat $params/removes)" = 1 ] || { echo "vendor removes after the unbind: $(cat $params/removes), want 1"; return 1; }
	a=$(cat "$types/mdev_test-t0/available_instances")
	[ "$a" = 3 ] || { echo "available_instances after the unbind: $a, want 3 (the vendor's state is gone)"; return 1; }
	[ "$(cat "$(dev 101)/vendor/poke")" = poke ] || { echo "the other mdev's vendor attribute does not work"; return 1; }
	err=$(write "$(uuid 100)" "$drv/unbind") && { echo "a second unbind succeeded"; return 1; }
	echo "second unbind: $err"
	err=$(write "$(uuid 100)" "$drv/bind") && { echo "bind succeeded"; return 1; }
	echo "bind: $err"
	case $err in *"No such device"*) ;; *) echo "bind failed otherwise than with ENODEV"; return 1 ;; esac
	unbound 100 || return 1
	[ "$(cat $params/probes)" = 2 ] || { echo "vendor probes: $(cat $params/probes), want 2"; return 1; }
	err=$(write "$(uuid 100)" "$types/mdev_test-t1/create") && { echo "the unbound mdev's UUID could be created again"; return 1; }
	echo "create of the unbound mdev's UUID: $err"
	err=$(write 1 "$(dev 100)/remove") || { echo "remove after the unbind: $err"; return 1; }
	gone "$(dev 100)" || { echo "the unbound mdev is still listed after its removal"; return 1; }
	[ ! -e "$types/mdev_test-t0/devices/$(uuid 100)" ] || { echo "its type still lists it"; return 1; }
	[ "$(cat $params/removes)" = 1 ] || { echo "the remove after the unbind called the vendor's remove again"; return 1; }
	create_again 100 t0 || { echo "the UUID is not free after the removal"; return 1; }
	[ -e "$(dev 100)/driver" ] && [ "$(cat "$(dev 100)/vendor/poke")" = poke ] || { echo "the new mdev is not bound"; return 1; }
	rmmod mdev_test_vendor || return 1
	none_left || return 1
	[ "$(counts_at_unload)" = "3 3" ] || { echo "probes and removes at the unload: $(counts_at_unload), want 3 3"; return 1; }
}
checked unbind_bind_remove unbind_bind_remove

# 5. Unloading the vendor after an unbind removes the unbound mdev too, without
#    calling the vendor again; the instance the core counts stays taken until then.
unload_after_unbind() {
	modprobe mdev_test_vendor instances=4 || return 1
	echo "$(uuid 110)" >"$types/mdev_test-t0/create" || return 1
	echo "$(uuid 111)" >"$types/mdev_test-t0/create" || return 1
	err=$(write "$(uuid 110)" "$drv/unbind") || { echo "unbind: $err"; return 1; }
	unbound 110 || return 1
	a=$(cat "$types/mdev_test-t0/available_instances")
	[ "$a" = 2 ] || { echo "available_instances after the unbind: $a, want 2 (the core gives the instance back at the removal)"; return 1; }
	rmmod mdev_test_vendor || return 1
	none_left || return 1
	[ "$(counts_at_unload)" = "2 2" ] || { echo "probes and removes at the unload: $(counts_at_unload), want 2 2"; return 1; }
	modprobe mdev_test_vendor instances=4 || return 1
	create_again 110 t0 || { echo "the UUID is not free after the unload"; return 1; }
	rmmod mdev_test_vendor || return 1
}
checked unload_after_unbind unload_after_unbind

# 6. Unbind and remove of the same mdev, each while the other is in the vendor's
#    slow remove (remove_delay_ms): the vendor's remove runs once.
#    a. The unbind first: remove waits for it (the device lock) and succeeds.
#    b. The remove first: the mdev is off the bus, the unbind fails with ENODEV.
unbind_races_remove() {
	modprobe mdev_test_vendor with_get_available=1 instances=4 remove_delay_ms=3000 || return 1
	echo "$(uuid 120)" >"$types/mdev_test-t0/create" || return 1
	echo "$(uuid 121)" >"$types/mdev_test-t0/create" || return 1
	in_background unbind "$(uuid 120)" "$drv/unbind"
	await gone "$(dev 120)/vendor"
	returned unbind && { echo "the unbind returned before the remove was written: the race was missed"; return 1; }
	err=$(write 1 "$(dev 120)/remove") || { echo "remove during the unbind: $err"; return 1; }
	await returned unbind
	[ "$(status unbind)" = 0 ] || { echo "the unbind failed"; return 1; }
	gone "$(dev 120)" || { echo "the mdev is still listed after the remove"; return 1; }
	[ "$(cat $params/removes)" = 1 ] || { echo "vendor removes: $(cat $params/removes), want 1"; return 1; }
	in_background remove 1 "$(dev 121)/remove"
	await gone "$(dev 121)/vendor"
	returned remove && { echo "the remove returned before the unbind was written: the race was missed"; return 1; }
	err=$(write "$(uuid 121)" "$drv/unbind") && { echo "an unbind during the remove succeeded"; return 1; }
	echo "unbind during the remove: $err"
	await returned remove
	[ "$(status remove)" = 0 ] || { echo "the remove failed"; return 1; }
	[ "$(cat $params/removes)" = 2 ] || { echo "vendor removes: $(cat $params/removes), want 2"; return 1; }
	a=$(cat "$types/mdev_test-t0/available_instances")
	[ "$a" = 4 ] || { echo "available_instances: $a, want 4"; return 1; }
	none_left || return 1
	rmmod mdev_test_vendor || return 1
}
checked unbind_races_remove unbind_races_remove

# 7. Unbind and the parent's unregistration (the vendor's unload), each while the
#    other is in the vendor's slow remove. The unbind does not take the parent's
#    gate, which the unregistration holds for writing while it deletes the mdevs
#    (whose device locks the unbind holds): each waits for the other's device lock
#    only, nothing deadlocks, and the vendor's remove runs once per mdev.
#    a. The unbind first: the unload waits for it, then removes both mdevs.
#    b. The unload first (the gate taken, the first mdev in its remove): an unbind
#       of the second runs at once, and the unload does not remove it again.
unbind_races_unregistration() {
	modprobe mdev_test_vendor remove_delay_ms=3000 || return 1
	echo "$(uuid 130)" >"$types/mdev_test-t0/create" || return 1
	echo "$(uuid 131)" >"$types/mdev_test-t0/create" || return 1
	in_background unbind "$(uuid 130)" "$drv/unbind"
	await gone "$(dev 130)/vendor"
	returned unbind && { echo "the unbind returned before the unload started: the race was missed"; return 1; }
	rmmod mdev_test_vendor || { echo "the unload during the unbind failed"; return 1; }
	await returned unbind
	[ "$(status unbind)" = 0 ] || { echo "the unbind failed"; return 1; }
	none_left "after the unload" || return 1
	[ "$(counts_at_unload)" = "2 2" ] || { echo "a: probes and removes at the unload: $(counts_at_unload), want 2 2"; return 1; }

	modprobe mdev_test_vendor remove_delay_ms=3000 || return 1
	echo "$(uuid 132)" >"$types/mdev_test-t0/create" || return 1
	echo "$(uuid 133)" >"$types/mdev_test-t0/create" || return 1
	rm -f /tmp/st.unload
	( rmmod mdev_test_vendor; echo $? >/tmp/st.unload ) &
	await eval 'gone "$(dev 132)/vendor" || gone "$(dev 133)/vendor"'
	if gone "$(dev 132)/vendor"; then other=133; else other=132; fi
	returned unload && { echo "the unload returned before the unbind was written: the race was missed"; return 1; }
	in_background unbind "$(uuid $other)" "$drv/unbind"
	await returned unbind
	returned unbind || { echo "the unbind during the unload did not return within 60 s"; return 1; }
	[ "$(status unbind)" = 0 ] || { echo "the unbind during the unload failed"; return 1; }
	await returned unload
	[ "$(status unload)" = 0 ] || { echo "the unload failed"; return 1; }
	none_left "after the unload" || return 1
	[ "$(counts_at_unload)" = "2 2" ] || { echo "b: probes and removes at the unload: $(counts_at_unload), want 2 2"; return 1; }
}
checked unbind_races_unregistration unbind_races_unregistration

# 8. An unbind while the create's probe still runs (probe_delay_ms): the driver is
#    set before probe, so the unbind waits for the probe (the device lock) and then
#    removes it; the create succeeds and leaves an unbound mdev, which remove removes.
unbind_during_probe() {
	modprobe mdev_test_vendor probe_delay_ms=3000 || return 1
	in_background create "$(uuid 140)" "$types/mdev_test-t0/create"
	await test -e "$(dev 140)/driver"
	returned create && { echo "the create returned before the unbind was written: the race was missed"; return 1; }
	err=$(write "$(uuid 140)" "$drv/unbind") || { echo "unbind during the probe: $err"; return 1; }
	await returned create
	[ "$(status create)" = 0 ] || { echo "the create failed"; return 1; }
	unbound 140 || return 1
	[ "$(cat $params/probes) $(cat $params/removes)" = "1 1" ] || { echo "vendor probes and removes: $(cat $params/probes) $(cat $params/removes), want 1 1"; return 1; }
	err=$(write 1 "$(dev 140)/remove") || { echo "remove: $err"; return 1; }
	none_left || return 1
	rmmod mdev_test_vendor || return 1
	[ "$(counts_at_unload)" = "1 1" ] || { echo "probes and removes at the unload: $(counts_at_unload), want 1 1"; return 1; }
}
checked unbind_during_probe unbind_during_probe

tally
