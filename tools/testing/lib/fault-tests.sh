#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# In the guest, on the debug kernel (tools/testing/vm --debug), on either core: every
# allocation failure of the core's paths, one at a time. For each path the suite
# sweeps N = 1, 2, ...: it makes the N-th slab allocation of one system call fail
# (/proc/thread-self/fail-nth with failslab, through tools/testing/testkit's fail-nth
# helper, which opens the target first so that opening it does not count) and checks
# that the call failed with an errno and left nothing behind, or succeeded
# completely. The sweep ends at the first N at which no fault was injected: every
# injection point of the call was then covered, and their count is printed. Paths:
#
#   create_mtty_rs, remove_mtty_rs   create and remove on the Rust sample (its probe
#                                    registers a VFIO device, its remove unregisters it)
#   create_test_vendor,              the same on the C test vendor
#   remove_test_vendor               (tools/testing/vendor/mdev_test_vendor.c)
#   reregister_test_vendor           a C vendor's mdev_register_parent() alone: the
#                                    test vendor's reregister parameter
#   register_test_vendor             finit_module() of the test vendor: a C vendor's
#                                    mdev_register_parent() at load
#   register_mtty_rs                 finit_module() of the Rust sample: the Rust vendor
#                                    API's registration (driver, class, parent device,
#                                    parent and types)
#
# Each N is checked at once for what is visible at once (the result, the mdev or the
# module there or gone, the type's devices/ link, a successful call fully working, no
# kernel report); what DEBUG_KOBJECT_RELEASE delays by 1 to 4 s (instances and UUIDs
# given back by releases) is checked once at the end of a sweep, for every UUID the
# sweep used, so that a sweep does not wait for a release per N.
#
# Usage: fault-tests.sh [FAIL-NTH-BINARY]. MDEV_FAULT_FILTER runs only the paths whose
# name contains it; MDEV_FAULT_VERBOSE is failslab's verbosity (default 2: a stack
# for each injected fault, from which a fault absorbed by a call that still succeeded
# is named); MDEV_RUN_KNOWN_FAULTS=1 runs what is skipped on the C core as a known
# fault of the reference. Prints KTAP and a tally line.
set -u
here=$(dirname "$0")
. "$here/ktap.sh"
. "$here/kmemleak.sh"
. "$here/release.sh"
fail_nth=${1:-$(cd "$here/../../.." && pwd)/target/x86_64-unknown-linux-gnu/release/fail-nth}
re="${VM_SPLAT_RE:-BUG:|WARNING:|KASAN:|ODEBUG:|general protection fault}"
core=c
[ -d /sys/module/mdev_rs ] && core=rust
ko=/lib/modules/$(uname -r)/extra
bus=/sys/class/mdev_bus
failslab=/sys/kernel/debug/failslab
# A sweep with more points than this is a loop, not a sweep.
max_points=${MDEV_FAULT_MAX:-20000}
# Every STRIDE-th injection point (N = 1, 1 + STRIDE, ...): 1, every point, is the
# full sweep; the test command samples with a larger stride to stay short (see
# Documentation/testing.rst). The sweep still ends only at an N that injects nothing,
# past the last point.
stride=${MDEV_FAULT_STRIDE:-1}
# The first N (1 unless set): STRIDE guests started with START = 1 .. STRIDE split
# one full sweep between them (each still ends only past the last point).
start=${MDEV_FAULT_START:-1}
case "$start" in *[!0-9]* | "" | 0) echo "MDEV_FAULT_START must be a positive number" >&2; exit 2 ;; esac

say() { echo "# $*"; }
# uuid PATH-NUMBER N: the UUID a sweep uses at N.
uuid() { printf 'fa170000-%04x-4000-8000-%012x' "$1" "$2"; }
live() { ls /sys/bus/mdev/devices | wc -l; }
loaded() { grep -q "^$1 " /proc/modules; }

# mdev_complete UUID TYPE-DIR DRIVER VFIO: the mdev exists with everything a create
# makes: on the bus, bound to DRIVER, its mdev_type link and the type's devices/ link,
# and (VFIO=1) its VFIO device and IOMMU group.
mdev_complete() {
	d=/sys/bus/mdev/devices/$1
	[ -d "$d" ] || { say "mdev $1 missing"; return 1; }
	[ "$(readlink -f "$d/mdev_type")" = "$(readlink -f "$2")" ] || { say "$1: mdev_type link wrong or missing"; return 1; }
	[ "$(readlink -f "$2/devices/$1")" = "$(readlink -f "$d")" ] || { say "$1: devices/ link of the type missing"; return 1; }
	[ "$(basename "$(readlink -f "$d/driver")")" = "$3" ] || { say "$1: not bound to $3"; return 1; }
	[ -e "$d/remove" ] || { say "$1: no remove attribute"; return 1; }
	if [ "$4" = 1 ]; then
		ls "$d/vfio-dev" 2>/dev/null | grep -q '^vfio' || { say "$1: no VFIO device"; return 1; }
		[ -e "$d/iommu_group" ] || { say "$1: no IOMMU group"; return 1; }
	fi
	return 0
}
# mdev_gone UUID TYPE-DIR: nothing of the mdev is left in sysfs.
mdev_gone() {
	[ ! -e "/sys/bus/mdev/devices/$1" ] || { say "mdev $1 left behind"; return 1; }
	[ ! -e "$2/devices/$1" ] && [ ! -L "$2/devices/$1" ] || { say "$1: stray devices/ link in the type"; return 1; }
	return 0
}

# The per-N record of the current sweep.
refused=0 absorbed=0 silent=0 errnos="" failures=0 known=0
# A compact stack of the fault injected at N, from failslab's dump: the frames
# after the allocator's own.
injected_stack() {
	awk '/FAULT_INJECTION: forcing a failure/ { f = 1 } f && /Call Trace:/ { t = 1; next }
		t && /<\/TASK>/ { exit }
		t && !/<TASK>/ && !/ \? / {
			sub(/^\[[^]]*\] */, ""); sub(/^ +/, "")
			m = ""; if (match($0, /\[[A-Za-z0-9_]+\]$/)) m = " " substr($0, RSTART)
			sub(/\+0x.*/, ""); $0 = $0 m
			if ($0 ~ /^(dump_stack|should_fail|should_failslab|slab_pre_alloc|kmem_cache_alloc|__kmalloc|kmalloc|kzalloc|kvmalloc|__kvmalloc|krealloc|__do_kmalloc|kasan|__kasan|slab_alloc|__slab_alloc|alloc_hooks)/ && !n) next
			if (n++ < 9) printf "%s%s", (n > 1 ? " < " : ""), $0
		}
		END { print "" }' /tmp/klog
}

# A known fault of the kernel's VFIO (drivers/vfio/group.c, 7.3): when
# vfio_create_group() fails after vfio_group_alloc() (in dev_set_name() or
# cdev_device_add()), its error path puts the group's device while the group still
# points to its IOMMU group, and vfio_group_release() warns
# (WARN_ON(group->iommu_group)); the group's reference to the IOMMU group is never
# dropped. Every VFIO driver registering an emulated-IOMMU device reaches it (the C
# mtty as well as mtty_rs). The release runs 1 to 4 s after the failure
# (DEBUG_KOBJECT_RELEASE): when a fault was injected there, the console is kept to
# errors and worse (level 3, so that this WARNING does not fail the VM run) until
# that warning is in the log, and the sweep's own check of the log, which sees every
# level, accepts exactly that warning and nothing else.
vfio_warn='WARNING: drivers/vfio/group.c:[0-9]+ at vfio_group_release'
console_level=$(cut -f1 /proc/sys/kernel/printk)
vfio_group_fault() {
	dmesg >/tmp/klog
	case "$(injected_stack)" in
	*"dev_set_name < vfio_create_group"* | *"cdev_device_add < vfio_create_group"*)
		echo 3 >/proc/sys/kernel/printk
		return 0 ;;
	esac
	return 1
}
vfio_warned() { dmesg | awk -v re="$vfio_warn" '$0 ~ re { w = 1 } w && /end trace/ { e = 1 } END { exit !e }'; }
vfio_group_fault_seen() {
	wait_until vfio_warned; st=$?
	# Let the console pass the warning's last lines before it shows warnings again.
	sleep 1
	echo "$console_level" >/proc/sys/kernel/printk
	return $st
}

# A known fault of the reference: the C core's mdev_device_create() takes one of the
# parent's instances (drivers without get_available) before it allocates the mdev,
# and returns -ENOMEM without giving it back when that allocation fails
# (drivers/vfio/mdev/mdev_core.c, 7.3): available_instances stays one short. Counted
# in `leaked` (the injected fault's stack starts in mdev_device_create), and the
# end-of-sweep check expects that many fewer instances on the C core.
leaked=0
instance_leak_fault() {
	[ "$core" = c ] && [ -z "${MDEV_RUN_KNOWN_FAULTS:-}" ] && [ "$vcounts" = 1 ] || return 1
	case "$(injected_stack)" in
	"mdev_device_create [mdev] < create_store [mdev]"*)
		say "N=$nth: known fault of the reference: mdev_device_create() does not give back the instance it took when allocating the mdev fails"
		known=$((known + 1))
		return 0 ;;
	esac
	return 1
}

# sweep PATH-NUMBER PREPARE OP VERIFY: for N = 1, 1 + stride, ... runs PREPARE N (no fault),
# OP N (prints the fail-nth helper's `RESULT INJECTED`) and VERIFY N RESULT
# INJECTED, then looks for kernel reports in what the log got meanwhile; ends after
# the first N at which no fault was injected (the call must then have succeeded),
# and sets `points` to the number of injection points found.
sweep() {
	refused=0 absorbed=0 silent=0 errnos="" failures=0 points=0 known=0 leaked=0
	nth=$((start - stride))
	while :; do
		nth=$((nth + stride))
		[ $nth -le "$max_points" ] || { say "no end of the sweep after $max_points points"; return 1; }
		"$2" "$nth" || { say "N=$nth: preparing failed"; return 1; }
		set -- "$1" "$2" "$3" "$4" $("$3" "$nth")
		res=${5:-} inj=${6:-}
		[ -n "$inj" ] || { say "N=$nth: the fail-nth helper failed"; return 1; }
		ok=0
		case "$res" in
		OK) ;;
		E*) [ "$inj" = yes ] || {
			say "N=$nth: failed with $res although no fault was injected; the log's last lines:"
			dmesg | tail -n 8 | sed 's/^/#   /'
			ok=1
		} ;;
		*) say "N=$nth: the call gave '$res' ('$inj')"; ok=1 ;;
		esac
		vfio_known=0
		# Only a call that failed: a fault absorbed there (a lost uevent) fails nothing.
		[ "$inj" = yes ] && [ "$res" != OK ] && vfio_group_fault && vfio_known=1
		[ "$inj" = yes ] && [ "$res" != OK ] && instance_leak_fault && leaked=$((leaked + 1))
		"$4" "$nth" "$res" "$inj" || { say "N=$nth ($res, fault injected: $inj): left behind or incomplete"; ok=1; }
		if [ $vfio_known = 1 ]; then
			vfio_group_fault_seen || { say "N=$nth: the known VFIO fault did not show as expected"; ok=1; }
		fi
		dmesg -c >/tmp/klog
		if [ $vfio_known = 1 ]; then
			say "N=$nth: known fault of the kernel's VFIO: $(injected_stack)"
			known=$((known + 1))
			grep -vE "$vfio_warn" /tmp/klog >/tmp/klog.rest
			mv /tmp/klog.rest /tmp/klog
		fi
		if grep -qE "$re" /tmp/klog; then
			say "N=$nth ($res, fault injected: $inj): kernel report"
			grep -E "$re" /tmp/klog | head -n 5 | sed 's/^/#   /'
			ok=1
		fi
		if [ "$inj" = yes ]; then
			if [ "$res" = OK ]; then
				absorbed=$((absorbed + 1))
				if grep -q 'FAULT_INJECTION: forcing a failure' /tmp/klog; then
					say "N=$nth absorbed: $(injected_stack)"
				else
					silent=$((silent + 1))
				fi
			else
				refused=$((refused + 1))
				case " $errnos " in *" $res "*) ;; *) errnos="$errnos $res" ;; esac
			fi
		fi
		if [ $ok != 0 ]; then
			failures=$((failures + 1))
			[ $failures -lt 5 ] || { say "stopping after $failures failures"; return 1; }
		fi
		[ "$inj" = yes ] || break
	done
	points=$((nth - 1))
	if [ "$stride" = 1 ] && [ "$start" = 1 ]; then
		what="$points injection points, all covered"
	else
		what="N = $start + ${stride}k sampled, of $((nth - stride)) to $points injection points"
	fi
	say "$what (N=$nth injected nothing and succeeded):" \
		"$refused refused ($errnos ), $absorbed absorbed by a call that still" \
		"succeeded completely ($silent of them silently: __GFP_NOWARN allocations)"
	[ $known = 0 ] || say "$known of them with a known fault (named above)"
	[ $failures = 0 ]
}

# The vendor a create/remove sweep runs on: its type directory, bus driver, whether
# its mdevs are VFIO devices, and the type's available_instances at the start.
vtype="" vdrv="" vvfio=0 vstart=0 vpath=0 vcounts=0
avail() { cat "$vtype/available_instances"; }
avail_back() { [ "$(avail)" = "$((vstart - leaked))" ]; }

# created_again PATH-NUMBER LAST: after a sweep, once the releases it started have
# run, every UUID it used can be created again, complete, and removed, and
# available_instances is back to its start value.
created_again() {
	[ $leaked = 0 ] || say "$leaked instances lost by the known fault of the reference above"
	wait_until avail_back || { say "available_instances $(avail), want $((vstart - leaked))"; return 1; }
	j=1 st=0
	while [ $j -le "$2" ]; do
		u=$(uuid "$1" $j)
		# The UUID is given back by the mdev's release, which may run after the
		# instance was given back (an mtty_rs port comes back with the VFIO device).
		wait_until create_quiet "$u" || { say "UUID $u (N=$j) cannot be created again"; st=1; }
		j=$((j + stride))
	done
	j=1
	while [ $j -le "$2" ]; do
		u=$(uuid "$1" $j)
		if [ -d "/sys/bus/mdev/devices/$u" ]; then
			mdev_complete "$u" "$vtype" "$vdrv" "$vvfio" || st=1
			echo 1 >"/sys/bus/mdev/devices/$u/remove" || st=1
		fi
		j=$((j + stride))
	done
	[ "$(live)" = 0 ] || { say "mdevs left: $(ls /sys/bus/mdev/devices | head -n 3 | tr "\n" " ")"; st=1; }
	wait_until avail_back || { say "available_instances $(avail) after the second round, want $((vstart - leaked))"; st=1; }
	return $st
}
create_quiet() { echo "$1" 2>/dev/null >"$vtype/create"; }

# gone_alone UUID: the mdev is gone and no other mdev is left.
gone_alone() {
	mdev_gone "$1" "$vtype" || return 1
	[ "$(live)" = 0 ] || { say "stray mdevs: $(ls /sys/bus/mdev/devices | head -n 3 | tr "\n" " ")"; return 1; }
}
# mdev_sweep create|remove: the sweep of that operation on the vendor in use, then
# every UUID it used created again once the releases have run.
mdev_sweep() {
	sweep $vpath "$1_prepare" "$1_op" "$1_verify"
	st=$?
	created_again $vpath $((points + 1)) || st=1
	return $st
}

# The create sweep.
create_prepare() { :; }
create_op() { "$fail_nth" "$1" write "$vtype/create" "$(uuid $vpath "$1")"; }
create_verify() {
	u=$(uuid $vpath "$1")
	if [ "$2" = OK ]; then
		mdev_complete "$u" "$vtype" "$vdrv" "$vvfio" || return 1
		echo 1 >"/sys/bus/mdev/devices/$u/remove" || { say "$u: cannot be removed"; return 1; }
	fi
	gone_alone "$u"
}

# The remove sweep: an mdev created without a fault, removed with one.
remove_prepare() { echo "$(uuid $vpath "$1")" >"$vtype/create"; }
remove_op() { "$fail_nth" "$1" write "/sys/bus/mdev/devices/$(uuid $vpath "$1")/remove" 1; }
remove_verify() {
	u=$(uuid $vpath "$1")
	if [ "$2" != OK ]; then
		# A failed remove leaves the mdev as it was, and removable.
		mdev_complete "$u" "$vtype" "$vdrv" "$vvfio" || return 1
		echo 1 >"/sys/bus/mdev/devices/$u/remove" || { say "$u: cannot be removed after a failed remove"; return 1; }
	fi
	gone_alone "$u"
}

use_mtty_rs() { # PATH-NUMBER
	vtype=$bus/mtty_rs/mdev_supported_types/mtty_rs-1 vdrv=mtty_rs vvfio=1 vpath=$1 vcounts=0
	loaded mtty_rs || modprobe mtty_rs ports=10000 || return 1
	vstart=$(avail)
}
use_test_vendor() { # PATH-NUMBER
	vtype=$bus/mdev_test/mdev_supported_types/mdev_test-t0 vdrv=mdev_test vvfio=0 vpath=$1 vcounts=1
	loaded mdev_test_vendor || modprobe mdev_test_vendor instances=10000 || return 1
	vstart=$(avail)
}

# The module-load sweeps: finit_module() of a vendor with the fault armed.
mod="" mod_parent="" mod_class="" mod_drv="" mod_types="" mod_avail="" mod_vfio=0
# Right after rmmod the vendor's driver directory may still be there (release.sh's
# no_driver_dir): module_gone waits for it.
module_gone() {
	st=0
	loaded "$mod" && { say "$mod is loaded"; st=1; }
	[ -e "/sys/module/$mod" ] && { say "/sys/module/$mod is left"; st=1; }
	[ -e "$bus/$mod_parent" ] && { say "$bus/$mod_parent is left"; st=1; }
	[ -e "/sys/class/$mod_class" ] && { say "/sys/class/$mod_class is left"; st=1; }
	wait_until no_driver_dir "$mod_drv" || { say "the mdev driver $mod_drv is left (60 s after)"; st=1; }
	[ "$(live)" = 0 ] || { say "stray mdevs"; st=1; }
	return $st
}
# The vendor is fully there: its parent, every type with its attributes and the
# instances it offers, its driver, and an mdev can be created, complete, and removed.
module_complete() {
	loaded "$mod" || { say "$mod is not loaded"; return 1; }
	[ -d "/sys/bus/mdev/drivers/$mod_drv" ] || { say "no mdev driver $mod_drv"; return 1; }
	# The driver core's bus_add_driver() logs and ignores a failure to add a driver's
	# uevent, bind and unbind files (drivers/base/bus.c): a known fault of the kernel.
	for f in uevent bind unbind; do
		[ -e "/sys/bus/mdev/drivers/$mod_drv/$f" ] && continue
		case $f in
		uevent) logged="bus_add_driver: uevent attr ($mod_drv) failed" ;;
		*) logged="bus_add_driver: add_bind_files($mod_drv) failed" ;;
		esac
		if dmesg | grep -qF "$logged"; then
			say "N=$1: known fault of the kernel: bus_add_driver() ignored a failure, no $f file for $mod_drv"
			known=$((known + 1))
		else
			say "/sys/bus/mdev/drivers/$mod_drv/$f missing"; return 1
		fi
	done
	p=/sys/class/$mod_class/$mod_parent
	if [ ! -e "$bus/$mod_parent" ]; then
		# The C core's mdev_register_parent() warns and succeeds when it cannot make
		# the mdev_bus link, through which userspace finds parents.
		if [ "$core" = c ] && [ -z "${MDEV_RUN_KNOWN_FAULTS:-}" ] &&
			dmesg | grep -q 'Failed to create compatibility class link'; then
			say "N=$1: known fault of the reference: mdev_register_parent() ignores a failed class_compat_create_link(), the parent is not in $bus"
			known=$((known + 1))
		else
			say "$bus/$mod_parent missing"; return 1
		fi
	fi
	k=1
	for t in $mod_types; do
		d=$p/mdev_supported_types/$t
		for f in create name device_api available_instances devices; do
			[ -e "$d/$f" ] || { say "$d/$f missing"; return 1; }
		done
		want=$(echo "$mod_avail" | cut -d' ' -f$k)
		[ "$(cat "$d/available_instances")" = "$want" ] || { say "$d: available_instances $(cat "$d/available_instances"), want $want"; return 1; }
		k=$((k + 1))
	done
	d=$p/mdev_supported_types/$(echo "$mod_types" | cut -d' ' -f1)
	u=$(uuid 99 "$1")
	echo "$u" >"$d/create" || { say "creating an mdev on the loaded $mod failed"; return 1; }
	mdev_complete "$u" "$d" "$mod_drv" "$mod_vfio" || return 1
	echo 1 >"/sys/bus/mdev/devices/$u/remove" || { say "removing it failed"; return 1; }
}
load_prepare() { :; }
load_op() { "$fail_nth" "$1" finit "$ko/$mod.ko"; }
load_verify() {
	if [ "$2" = OK ]; then
		module_complete "$1" || { rmmod "$mod" 2>/dev/null; return 1; }
		rmmod "$mod" || { say "rmmod $mod failed"; return 1; }
	fi
	module_gone
}
# The kernel runs a module's KUnit suites within finit_module(), after its init (the
# sample mtty_rs has some): their allocations would count as injection points of
# the load, hundreds of them, none of the vendor's registration. So a module-load
# sweep filters them out (kunit's filter_glob, writable at run time, set to a glob
# no suite matches) and sets it back to every suite ("*.*", what an unset filter
# means) after.
kunit_glob=/sys/module/kunit/parameters/filter_glob
load_sweep() {
	# The vendor may have been unloaded just before (reregister_test_vendor ends so):
	# its driver directory goes only at its delayed release, and a load meanwhile
	# fails (driver_register()'s EBUSY or sysfs' EEXIST) with no fault injected.
	if loaded "$mod"; then rmmod "$mod" || return 1; fi
	module_gone || { say "$mod did not go before the sweep"; return 1; }
	if [ -e "$kunit_glob" ]; then
		echo "no-suite-matches-this" >"$kunit_glob" || return 1
	fi
	sweep 0 load_prepare load_op load_verify
	st=$?
	if [ -e "$kunit_glob" ]; then
		echo '*.*' >"$kunit_glob" || st=1
	fi
	return $st
}

# mdev_register_parent() of a C vendor without the module loader around it: the
# test vendor's reregister parameter unregisters its parent and registers it again,
# within the write. The write fails and the parent is gone, or the write fails before
# it got there and the parent is as it was, or it succeeded and the parent is
# complete.
parent_gone() {
	[ ! -e "$bus/mdev_test" ] || { say "$bus/mdev_test is left"; return 1; }
	[ ! -e /sys/class/mdev_test/mdev_test/mdev_supported_types ] || { say "the types are left"; return 1; }
	[ "$(live)" = 0 ] || { say "stray mdevs"; return 1; }
}
reregister_prepare() {
	[ -e "$bus/mdev_test" ] && return 0
	loaded mdev_test_vendor && { rmmod mdev_test_vendor || return 1; }
	# The same window as before a load sweep (load_sweep).
	wait_until no_driver_dir mdev_test || { say "the mdev driver mdev_test is left (60 s after)"; return 1; }
	modprobe mdev_test_vendor
}
reregister_op() { "$fail_nth" "$1" write /sys/module/mdev_test_vendor/parameters/reregister 1; }
reregister_verify() {
	mod=mdev_test_vendor mod_parent=mdev_test mod_class=mdev_test mod_drv=mdev_test
	mod_types="mdev_test-t0 mdev_test-t1" mod_avail="8 8" mod_vfio=0
	if [ "$2" = OK ] || [ -e "$bus/mdev_test" ]; then
		module_complete "$1"
	else
		parent_gone
	fi
}
reregister_test_vendor() {
	loaded mdev_test_vendor && { rmmod mdev_test_vendor || return 1; }
	sweep 0 reregister_prepare reregister_op reregister_verify
	st=$?
	loaded mdev_test_vendor && { rmmod mdev_test_vendor || st=1; }
	return $st
}

register_test_vendor() {
	mod=mdev_test_vendor mod_parent=mdev_test mod_class=mdev_test mod_drv=mdev_test
	mod_types="mdev_test-t0 mdev_test-t1" mod_avail="8 8" mod_vfio=0
	load_sweep
}
register_mtty_rs() {
	mod=mtty_rs mod_parent=mtty_rs mod_class=mtty_rs mod_drv=mtty_rs
	mod_types="mtty_rs-1 mtty_rs-2" mod_avail="24 12" mod_vfio=1
	# Its dependencies (vfio) are loaded by modprobe; the sweep loads only it.
	loaded mtty_rs || { modprobe mtty_rs && rmmod mtty_rs; } || return 1
	load_sweep
}

create_mtty_rs() { use_mtty_rs 1 && mdev_sweep create; }
remove_mtty_rs() { use_mtty_rs 2 && mdev_sweep remove; }
create_test_vendor() { use_test_vendor 3 && mdev_sweep create; }
remove_test_vendor() { use_test_vendor 4 && mdev_sweep remove; }

# checked NAME FN [SKIP-REASON]: runs FN (which prints its diagnostics as `# `
# lines); fails on its status or on a kernel report in the log since the previous
# test (each test reads and clears the log).
checked() {
	case "$1" in *"${MDEV_FAULT_FILTER:-}"*) ;; *) skipped "$1" "not selected by MDEV_FAULT_FILTER"; return ;; esac
	if [ -n "${3:-}" ]; then
		skipped "$1" "$3"
		return
	fi
	started=$(cut -d. -f1 /proc/uptime)
	"$2" 2>/tmp/stderr; st=$?
	sed 's/^/# /' /tmp/stderr
	dmesg -c >/tmp/klog
	if grep -qE "$re" /tmp/klog; then
		grep -E "$re" /tmp/klog | head -n 5 | sed 's/^/# /'
		st=1
	fi
	say "$1 took $(($(cut -d. -f1 /proc/uptime) - started)) s"
	result "$1" $st
}

echo "KTAP version 1"
echo "1..9"
# Start from a clean slate: what boot left is not this script's (the VM runner judges
# the boot's log).
kmemleak_clear
dmesg -c >/dev/null
if [ ! -x "$fail_nth" ] || [ ! -w "$failslab/ignore-gfp-wait" ] || [ ! -w /proc/self/fail-nth ]; then
	say "no fail-nth helper ($fail_nth) or no fault injection in this kernel (vm --debug)"
	exit 1
fi
# Every slab allocation counts, also those that may sleep; probability 0: only
# fail-nth injects. A stack for each injected fault (verbosity 2), not rate-limited.
echo N >"$failslab/ignore-gfp-wait"
echo 0 >"$failslab/probability"
echo "${MDEV_FAULT_VERBOSE:-2}" >"$failslab/verbose"
echo 0 >"$failslab/verbose_ratelimit_interval_ms"

checked create_mtty_rs create_mtty_rs
checked remove_mtty_rs remove_mtty_rs
checked create_test_vendor create_test_vendor
checked remove_test_vendor remove_test_vendor
# Unloading the test vendor frees its types; on the C core their releases read them
# later (lifetime-tests.sh, c_vendor_frees_types): there it stays loaded.
if [ "$core" = rust ] || [ -n "${MDEV_RUN_KNOWN_FAULTS:-}" ]; then
	loaded mdev_test_vendor && rmmod mdev_test_vendor
fi
known_fault_on_c reregister_test_vendor reregister_test_vendor "the C core's mdev_unregister_parent() returns before the releases of the types' kobjects have run, and registering the same types again initialises kobjects whose delayed release is still armed (as lifetime-tests.sh's c_vendor_reregister)"
# The module-load sweeps: finit_module() passes hundreds of injection points in the
# module loader (many absorbed: the load succeeds and must be unloaded again,
# which waits for delayed releases), about 10 s each on the debug kernel under TCG,
# more than an hour. They run with MDEV_FAULT_MODULES=1.
modules_reason=""
[ -n "${MDEV_FAULT_MODULES:-}" ] || modules_reason="a long run (about 10 s per injection point, and the module loader passes many: most are absorbed, so the module must be unloaded again); MDEV_FAULT_MODULES=1 runs it"
if [ -n "$modules_reason" ]; then
	checked register_test_vendor : "$modules_reason"
else
	known_fault_on_c register_test_vendor register_test_vendor "the test vendor frees its types when mdev_register_parent() failed or mdev_unregister_parent() returned, which the header allows; the C core's delayed type releases then read them (as lifetime-tests.sh's c_vendor_frees_types)"
fi
loaded mtty_rs && rmmod mtty_rs
checked register_mtty_rs register_mtty_rs "$modules_reason"

# Late releases: wait for every release the sweeps started (25 s: five times the
# debug option's maximum delay, plus margin; see lifetime-tests.sh), then look for
# reports once more.
late_releases() { sleep 25; }
checked late_releases late_releases

# kmemleak: nothing allocated by mdev_rs, mtty_rs or the test vendor may be
# unreferenced (lib/kmemleak.sh), its findings printed as diagnostics.
kmemleak_check() {
	out=$(kmemleak_clean); st=$?
	printf '%s\n' "$out" | sed 's/^/# /'
	return $st
}
checked kmemleak_clean kmemleak_check

echo 0 >"$failslab/verbose"
tally
