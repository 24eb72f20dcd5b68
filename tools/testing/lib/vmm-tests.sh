#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# vmm-tests.sh [VENDOR]: in the test guest booted with `tools/testing/vm --vmm`, a
# real VMM drives an mdev: the guest's QEMU (the host's qemu-system-x86_64) boots the
# inner guest (build-kernel --inner, lib/inner-init.sh as /init) with a dual-port
# mdev of VENDOR (default mtty_rs; the kernel's mtty works too) passed through with
# `-device vfio-pci,sysfsdev=...`. The inner guest's own 8250_pci driver binds it and
# loops strings through its ports; its KTAP report is nested here as one subtest.
# One boot of the inner guest runs all its checks.
#
# Prints KTAP and a tally line. Fails on a kernel report in the inner guest (its
# console and its own scan of its ring buffer); the vm runner fails the run on one in
# this guest. MDEV_VMM_TIMEOUT limits the QEMU run (default 900 s: nested TCG is 20-30
# times slower than this guest; the limit only ends a run that hangs).
set -u
. "$(dirname "$0")/ktap.sh"
# printable: stdin without control bytes (but newlines) and non-ASCII bytes, for
# diagnostics that must stay KTAP (busybox tr has no working -c with classes).
printable() { tr -d '\000-\011\013-\037\177-\377'; }
vendor=${1:-mtty_rs}
limit=${MDEV_VMM_TIMEOUT:-900}
uuid=6b1d3e4f-5a6c-4d7e-8f90-a1b2c3d4e5f6
dev=/sys/bus/mdev/devices/$uuid
w=/tmp/vmm
mkdir -p $w
uptime_s() { cut -d ' ' -f 1 /proc/uptime; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

echo "KTAP version 1"
echo "1..4"

# 1. The dual-port mdev to pass through.
st=0
modprobe "$vendor" 2>/dev/null || st=1
echo $uuid 2>/dev/null >"/sys/class/mdev_bus/$vendor/mdev_supported_types/$vendor-2/create" || st=1
[ -d "$dev" ] || st=1
result dual_port_mdev_created $st "cannot create a $vendor-2 mdev"

# 2. The inner guest, nested. SeaBIOS, not qboot (which gives no interrupts with
#    acpi=noirq); acpi=noirq (without it the 8250 probe alone takes 17 s); two
#    legacy ports: ttyS0 the console, ttyS1 the KTAP report, so the mdev's ports
#    are ttyS2 and ttyS3; -no-reboot turns the inner /init's reboot into QEMU's exit.
: >$w/console.log
: >$w/ktap.log
t0=$(uptime_s)
timeout -s KILL "$limit" qemu-system-x86_64 -nodefaults -no-reboot -display none -monitor none \
	-machine pc -accel tcg -m 128 \
	-chardev file,id=con,path=$w/console.log -serial chardev:con \
	-chardev file,id=ktap,path=$w/ktap.log -serial chardev:ktap \
	-kernel /vmm/bzImage -initrd /vmm/initrd.gz \
	-append "console=ttyS0 panic=-1 8250.nr_uarts=4 acpi=noirq i8042.nokbd i8042.noaux loglevel=5 vmm.vendor=0x4348 vmm.device=0x3253 vmm.ports=2" \
	-device "vfio-pci,sysfsdev=$dev" >$w/qemu.out 2>&1
qrc=$?
t1=$(uptime_s)
echo "# QEMU exit status $qrc after $(elapsed "$t0" "$t1") s (limit $limit s); its messages:"
printable <$w/qemu.out | sed 's/^/# /'
echo "    # Subtest: inner_guest"
if grep -q '^# Totals: ' $w/ktap.log; then
	sed -e 's/^\([0-9]* passed, [0-9]* failed.*\)$/# \1/' -e 's/^/    /' $w/ktap.log
else
	# Cut short (a crash, the time limit): what it printed, as diagnostics.
	echo "    KTAP version 1"
	echo "    1..1"
	printable <$w/ktap.log | sed 's/^/    # /'
	echo "    not ok 1 inner_guest_report_complete"
fi
counts=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*$/\1 \2/p' $w/ktap.log | tail -n 1)
ipass=${counts% *} ifail=${counts#* }
[ -n "$counts" ] || { ipass=0 ifail=1; }
n=$((n + 1)) pass=$((pass + ipass)) fail=$((fail + ifail))
if [ "$qrc" = 0 ] && [ "$ifail" = 0 ] && [ -n "$counts" ]; then
	echo "ok $n inner_guest"
else
	echo "not ok $n inner_guest"
	# A failed subtest with no failed test inside counts as one failure.
	[ "$ifail" = 0 ] && fail=$((fail + 1))
fi

# 3. No kernel report on the inner guest's console either (its /init scans its
#    ring buffer too; this also sees what a crash printed).
printable <$w/console.log | grep -E "$VM_SPLAT_RE" >$w/splats
st=$?
[ $st = 0 ] && sed -n '1,20p' $w/splats | sed 's/^/# /'
result inner_console_clean $((st == 0)) "the inner guest's kernel reported problems"

# 4. With QEMU gone the mdev is removed and nothing is left.
st=0
echo 1 2>/dev/null >"$dev/remove" || st=1
[ -e "$dev" ] && st=1
left=$(ls /sys/bus/mdev/devices 2>&1 | tr '\n' ' ')
[ -z "$left" ] || st=1
result removed_after_qemu $st "left: $left"
echo "# the VMM run took $(elapsed "$t0" "$t1") s; the inner guest's boot: $(sed -n 's/^# inner guest: \(.*\)$/\1/p' $w/ktap.log | tr '\n' ';')"
tally
