#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# vmm-tests.sh [VENDOR]: in the test guest booted with `tools/testing/vm --vmm`, a
# real VMM drives an mdev: the guest's QEMU (the host's qemu-system-x86_64) boots the
# inner guest (build-kernel --inner, lib/inner-init.sh as /init) with a dual-port
# mdev of VENDOR (mtty_rs, the default, or the kernel's mtty) passed through with
# `-device vfio-pci,sysfsdev=...`. The inner guest's own 8250_pci driver binds it and
# loops strings through its ports; its KTAP report of each boot is nested here as a
# subtest. In order:
#   - the first boot's report; with it the inner guest sets its first port's line
#     (2400 baud, 7 bits, even parity, 2 stop bits) and holds the port open;
#   - that line as the emulated UART holds it: the divisor latch and LCR, read
#     through mtty_rs's `vendor/uart` while the inner guest runs (mtty has no such
#     attribute: skipped);
#   - a system reset of the inner guest (QMP's `system_reset`: QEMU resets
#     the device with VFIO_DEVICE_RESET where the device advertises it), and the
#     second boot's report: the same checks, on the device after the reset;
#   - QEMU did not warn that it cannot reset the device (VFIO_DEVICE_FLAGS_RESET is
#     set; the kernel's mtty implements VFIO_DEVICE_RESET but does not set it: a
#     known fault of that sample, skipped unless MDEV_RUN_KNOWN_FAULTS is set);
#   - unloading VENDOR while QEMU holds the device is refused or waits;
#   - removal while in use by the VM: `remove` is written while QEMU holds the
#     device; with a `request` op (mtty_rs) QEMU hot-unplugs it, the inner guest sees
#     it go and the remove completes while QEMU still runs; without one (mtty) the
#     remove waits in the VFIO core (seen in the writer's kernel stack) until
#     QEMU has ended (QMP `quit`), then completes; another parent's (mdpy's)
#     create and remove work while it waits;
#   - QEMU ended cleanly, no kernel report on the inner console, nothing left;
#   - two mdevs in one inner guest and, at the same time, a second inner guest with
#     a third: three single-port mdevs, two VMMs at once, each inner guest checks every
#     port it was given and powers off; both VMMs end cleanly, nothing is left.
#
# Prints KTAP and a tally line. Fails on a kernel report in the inner guest (its
# console and its own scan of its ring buffer); the vm runner fails the run on one in
# this guest. MDEV_VMM_TIMEOUT limits each wait for the inner guest (default 900 s:
# nested TCG is 20-30 times slower than this guest; the limit only ends a run that
# hangs), and three times that QEMU's whole run (two boots). No check depends on
# time: the waits poll for what they wait for.
set -u
. "$(dirname "$0")/ktap.sh"
# printable: stdin without control bytes (but newlines) and non-ASCII bytes, for
# diagnostics that must stay KTAP (busybox tr has no working -c with classes).
printable() { tr -d '\000-\011\013-\037\177-\377'; }
vendor=${1:-mtty_rs}
limit=${MDEV_VMM_TIMEOUT:-900}
uuid=6b1d3e4f-5a6c-4d7e-8f90-a1b2c3d4e5f6
other_uuid=6b1d3e4f-5a6c-4d7e-8f90-a1b2c3d4e5f7
dev=/sys/bus/mdev/devices/$uuid
w=/tmp/vmm
mkdir -p $w
uptime_s() { cut -d ' ' -f 1 /proc/uptime; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
since() { elapsed "$1" "$(uptime_s)"; }
# until_true LIMIT CMD...: polls CMD once a second until it succeeds (0) or LIMIT
# seconds have passed (1).
until_true() {
	_l=$1 _t=$(uptime_s)
	shift
	while ! "$@"; do
		[ "$(since "$_t" | cut -d . -f 1)" -ge "$_l" ] && return 1
		sleep 1
	done
}
qemu_alive() { kill -0 "$qpid" 2>/dev/null; }
# reports [FILE]: how many whole reports FILE (default: the inner guest's) holds.
reports() { grep -c '^[0-9]* passed, [0-9]* failed' "${1:-$w/ktap.log}"; }
# report_ready N: the inner guest printed its Nth report, or QEMU is gone.
report_ready() { [ "$(reports)" -ge "$1" ] || ! qemu_alive; }
# qmp COMMAND: a QMP command to QEMU (its replies and events go to qmp.log).
qmp() { echo "{\"execute\": \"$1\"}" >&5; }

# The kernel's mtty (samples/vfio-mdev/mtty.c) and what it is known to get wrong.
known="" reset_fault=""
if [ "$vendor" = mtty ] && [ -z "${MDEV_RUN_KNOWN_FAULTS:-}" ]; then
	known=mtty
	reset_fault="known fault of the reference sample mtty: it implements VFIO_DEVICE_RESET (mtty_reset()) but VFIO_DEVICE_GET_INFO reports only VFIO_DEVICE_FLAGS_PCI (mtty_get_device_info()), so QEMU never resets it and warns"
fi

echo "KTAP version 1"
echo "1..19"

# 1. The dual-port mdev to pass through; mdpy is the other parent.
st=0
modprobe "$vendor" 2>/dev/null || st=1
modprobe mdpy 2>/dev/null || st=1
echo $uuid 2>/dev/null >"/sys/class/mdev_bus/$vendor/mdev_supported_types/$vendor-2/create" || st=1
[ -d "$dev" ] || st=1
result dual_port_mdev_created $st "cannot create a $vendor-2 mdev or load mdpy"

# 2. The inner guest. SeaBIOS, not qboot (which gives no interrupts with
#    acpi=noirq); acpi=noirq (without it the 8250 probe alone takes 17 s); two
#    legacy ports: ttyS0 the console, ttyS1 the KTAP report, so the mdev's ports
#    are ttyS2 and ttyS3. QMP on a pipe chardev: commands into the FIFO qmp.in
#    (held open on fd 5), replies and events out of qmp.out into qmp.log.
: >$w/console.log
: >$w/ktap.log
rm -f $w/qmp.in $w/qmp.out $w/remove.rc $w/rmmod.rc
mkfifo $w/qmp.in $w/qmp.out
cat $w/qmp.out >$w/qmp.log &
exec 5<>$w/qmp.in
t0=$(uptime_s)
timeout -s KILL $((3 * limit)) qemu-system-x86_64 -nodefaults -display none \
	-chardev pipe,id=qmp,path=$w/qmp -mon chardev=qmp,mode=control \
	-machine pc -accel tcg -m 128 \
	-chardev file,id=con,path=$w/console.log -serial chardev:con \
	-chardev file,id=ktap,path=$w/ktap.log -serial chardev:ktap \
	-kernel /vmm/bzImage -initrd /vmm/initrd.gz \
	-append "console=ttyS0 panic=-1 8250.nr_uarts=4 acpi=noirq i8042.nokbd i8042.noaux loglevel=5 vmm.vendor=0x4348 vmm.device=0x3253 vmm.ports=2 vmm.hold=1 vmm.known=$known" \
	-device "vfio-pci,sysfsdev=$dev" </dev/null >$w/qemu.out 2>&1 &
qpid=$!
qmp qmp_capabilities

# nest NAME N [NAME]: the inner guest's Nth report as subtest NAME; a boot cut short
# (a crash, the time limit) is one failure, with what it printed as diagnostics. NAME
# (default ktap) names the guest's report, NAME.log, and console, NAME-console.log.
nest() {
	kl=$w/${3:-ktap}.log cl=$w/console.log
	[ -n "${3:-}" ] && cl=$w/$3-console.log
	sed -n '/^KTAP version 1$/=' $kl | sed -n "$2p" >$w/start
	from=$(cat $w/start)
	echo "    # Subtest: $1"
	grep -q '^not ok' $kl && { echo "    # the inner console's end:"; printable <$cl | tail -n 25 | sed 's/^/    # /'; }
	if [ -n "$from" ] && [ "$(reports $kl)" -ge "$2" ]; then
		sed -n "$from,\$p" $kl | sed -n '1,/^[0-9]* passed, [0-9]* failed/p' >$w/report
		sed -e 's/^\([0-9]* passed, [0-9]* failed.*\)$/# \1/' -e 's/^/    /' $w/report
	else
		echo "    KTAP version 1"
		echo "    1..1"
		[ -n "$from" ] && sed -n "$from,\$p" $kl | printable | sed 's/^/    # /'
		echo "    not ok 1 inner_guest_report_complete"
		: >$w/report
	fi
	counts=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*$/\1 \2/p' $w/report | tail -n 1)
	skips=$(sed -n 's/^# Totals: .* skip:\([0-9]*\) .*$/\1/p' $w/report | tail -n 1)
	ipass=${counts% *} ifail=${counts#* }
	[ -n "$counts" ] || { ipass=0 ifail=1; }
	n=$((n + 1)) pass=$((pass + ipass)) fail=$((fail + ifail)) skip=$((skip + ${skips:-0}))
	if [ "$ifail" = 0 ] && [ -n "$counts" ]; then
		echo "ok $n $1"
	else
		echo "not ok $n $1"
		# A failed subtest with no failed test inside counts as one failure.
		[ "$ifail" = 0 ] && fail=$((fail + 1))
	fi
}

until_true "$limit" report_ready 1
t1=$(uptime_s)
echo "# first boot's report after $(elapsed "$t0" "$t1") s of QEMU"
nest inner_boot 1

# 3. The line the inner guest set on its first port, in the emulated UART: the
#    divisor latch (uartclk / 16 / baud) and LCR (7 bits 0x02, 2 stop bits 0x04,
#    parity 0x08, even 0x10).
line=$(sed -n 's/^# vmm: stty \([^ ]*\) uartclk=\([0-9]*\) baud=\([0-9]*\) .*$/\1 \2 \3/p' $w/ktap.log | head -n 1)
if [ "$vendor" != mtty_rs ]; then
	skipped line_reaches_uart "$vendor has no attribute showing its UART registers (mtty_rs's vendor/uart)"
elif [ -z "$line" ]; then
	result line_reaches_uart 1 "the inner guest did not say which line it set"
else
	set -- $line
	want_dl=$(printf '0x%04x' $(($2 / 16 / $3)))
	regs=$(sed -n 's/^port0: //p' "$dev/vendor/uart" 2>&1)
	echo "$regs" | grep -q "LCR=0x1e .* DL=$want_dl "
	result line_reaches_uart $? "$1 at $3 baud (uartclk $2): want LCR=0x1e DL=$want_dl; port0: $regs"
fi

# 4. A system reset of the inner guest; it boots again and reports again.
qmp system_reset
until_true "$limit" report_ready 2
t2=$(uptime_s)
echo "# second boot's report $(elapsed "$t1" "$t2") s after the reset"
nest inner_boot_after_reset 2

# 5. QEMU could reset the device (it warns at its start and at each reset otherwise).
warned=$(grep -c 'no available reset mechanism' $w/qemu.out)
if [ -n "$reset_fault" ]; then
	skipped qemu_resets_device "$reset_fault (QEMU warned $warned times)"
else
	result qemu_resets_device $((warned != 0)) "QEMU: $(grep -m 1 'reset' $w/qemu.out | printable)"
fi

# 6. Unloading the vendor while QEMU holds the device: refused, or it waits (then it
#    must end once QEMU has: checked in 12).
(rmmod "$vendor" >$w/rmmod.out 2>&1; echo $? >$w/rmmod.rc) &
until_true 30 test -e $w/rmmod.rc
if [ -e $w/rmmod.rc ]; then
	rc=$(cat $w/rmmod.rc)
	st=0
	[ "$rc" != 0 ] && [ -d "/sys/module/$vendor" ] && [ -d "$dev" ] || st=1
	result unload_while_in_use_refused_or_waits $st "rmmod $vendor: status $rc, $(printable <$w/rmmod.out)"
else
	echo "# rmmod $vendor waits"
	result unload_while_in_use_refused_or_waits 0
fi

# other_parent: an mdpy mdev created and removed.
other_parent() {
	echo $other_uuid >/sys/class/mdev_bus/mdpy/mdev_supported_types/mdpy-vga/create &&
		[ -d /sys/bus/mdev/devices/$other_uuid ] &&
		echo 1 >/sys/bus/mdev/devices/$other_uuid/remove &&
		[ ! -e /sys/bus/mdev/devices/$other_uuid ]
}

# in_vfio_wait PID: task PID sleeps in vfio_unregister_group_dev(), the VFIO core's
# wait for the device's last user (its kernel stack, or its wchan).
in_vfio_wait() { grep -qs vfio_unregister_group_dev /proc/$1/stack /proc/$1/wchan; }

# 7. Removal while in use by the VM, and 8. another parent meanwhile.
(echo 1 >"$dev/remove"; echo "$? $(uptime_s)" >$w/rc.tmp; mv $w/rc.tmp $w/remove.rc) &
rpid=$!
tr0=$(uptime_s)
if [ "$vendor" = mtty_rs ]; then
	other_parent
	st=$?
	pending=no
	[ -e $w/remove.rc ] || pending=yes
	result other_parent_works_during_remove $st "mdpy create and remove failed (the remove was pending: $pending)"
	# The request interrupt: QEMU hot-unplugs the device, the remove completes.
	until_true "$limit" test -e $w/remove.rc
	read -r rc rt <$w/remove.rc
	st=0
	[ "$rc" = 0 ] && [ ! -e "$dev" ] && qemu_alive || st=1
	result remove_while_in_use $st "remove: status ${rc:-none} after $(since "$tr0") s; QEMU running: $(qemu_alive && echo yes || echo no)"
	until_true "$limit" grep -q '^# vmm: device gone' $w/ktap.log
	gone=$(grep -m 1 '^# vmm: device gone' $w/ktap.log)
	echo "$gone" | grep -q "ports of it left: ''"
	result inner_guest_saw_unplug $? "inner guest: ${gone:-nothing}"
	qmp quit
else
	# No request op: the remove waits in the VFIO core for the device's last user,
	# QEMU (the /sys/bus/mdev/devices link goes at once: device_del() removes it
	# before it unbinds the driver; the mdev's own directory stays until then).
	until_true "$limit" in_vfio_wait $rpid
	st=0
	in_vfio_wait $rpid && [ ! -e $w/remove.rc ] && qemu_alive &&
		[ -d "/sys/class/mdev_bus/$vendor/$uuid" ] || st=1
	result remove_while_in_use $st "remove: $(cat $w/remove.rc 2>/dev/null || echo pending), writer's wchan: $(cat /proc/$rpid/wchan 2>/dev/null), QEMU running: $(qemu_alive && echo yes || echo no)"
	other_parent
	st=$?
	[ ! -e $w/remove.rc ] || st=1
	result other_parent_works_during_remove $st "mdpy create and remove failed, or the remove did not wait (it ended: $(cat $w/remove.rc 2>/dev/null))"
	skipped inner_guest_saw_unplug "$vendor has no request op: QEMU is never asked to unplug the device"
	tq=$(uptime_s)
	qmp quit
	until_true "$limit" test -e $w/remove.rc
	echo "# the remove ended (status, uptime) $(cat $w/remove.rc 2>/dev/null); it began at $tr0, QMP quit at $tq"
fi

# 9. The remove completed, and the mdev is gone.
until_true "$limit" test -e $w/remove.rc
read -r rc rt <$w/remove.rc
st=0
[ "$rc" = 0 ] && [ ! -e "$dev" ] || st=1
# Without a request op, not before QEMU was told to quit.
[ -n "${tq:-}" ] && awk -v a="$rt" -v b="$tq" 'BEGIN { exit !(a < b) }' && st=1
result remove_completed $st "remove: status ${rc:-none} at ${rt:-?} s (QMP quit at ${tq:--}); $dev: $(ls -d "$dev" 2>&1)"

# 10. QEMU ends (on `quit`) with status 0.
exec 5>&-
until_true "$limit" eval '! qemu_alive'
wait $qpid
qrc=$?
t3=$(uptime_s)
echo "# QEMU exit status $qrc after $(elapsed "$t0" "$t3") s (limit $((3 * limit)) s); its messages:"
printable <$w/qemu.out | sed 's/^/# /'
echo "# QMP:"
printable <$w/qmp.log | sed 's/^/# /'
result qemu_ended $qrc "QEMU exit status $qrc"

# 11. No kernel report on the inner guest's console either (its /init scans its
#     ring buffer too; this also sees what a crash printed).
printable <$w/console.log | grep -E "$VM_SPLAT_RE" >$w/splats
st=$?
[ $st = 0 ] && sed -n '1,20p' $w/splats | sed 's/^/# /'
result inner_console_clean $((st == 0)) "the inner guest's kernel reported problems"

# 12. Nothing is left; an unload that waited has ended.
st=0
if [ ! -e $w/rmmod.rc ]; then
	until_true "$limit" test -e $w/rmmod.rc || st=1
	echo "# the waiting rmmod ended with status $(cat $w/rmmod.rc 2>/dev/null)"
fi
left=$(ls /sys/bus/mdev/devices 2>&1 | tr '\n' ' ')
[ -z "$left" ] || st=1
result nothing_left $st "left: $left"
echo "# the VMM run took $(elapsed "$t0" "$t3") s; the inner guest's boots: $(sed -n 's/^# inner guest: \(.*\)$/\1/p' $w/ktap.log | tr '\n' ';')"

# 14. Three single-port mdevs (the vendor again: an unload that waited above has
#     unloaded it).
modprobe "$vendor" 2>/dev/null
one=/sys/class/mdev_bus/$vendor/mdev_supported_types/$vendor-1
pair="6b1d3e4f-5a6c-4d7e-8f90-a1b2c3d4e501 6b1d3e4f-5a6c-4d7e-8f90-a1b2c3d4e502"
third=6b1d3e4f-5a6c-4d7e-8f90-a1b2c3d4e503
st=0
for u in $pair $third; do
	echo $u 2>/dev/null >"$one/create" && [ -d /sys/bus/mdev/devices/$u ] || st=1
done
result three_single_port_mdevs_created $st "cannot create three $vendor-1 mdevs: $(ls /sys/bus/mdev/devices | tr '\n' ' ')"

# 15-16. Two inner guests at once: the first with two of them, the second with the
#     third. Each checks every port it has and powers off (-no-reboot).
# inner NAME DEVICES UUID...: starts QEMU with an inner guest given the mdevs UUID...
#     (NAME.log its report, NAME-console.log its console), and sets qpid.
inner() {
	# (Not n: ktap.sh numbers the results with it.)
	iname=$1 ndev=$2
	shift 2
	devs=""
	for u in "$@"; do devs="$devs -device vfio-pci,sysfsdev=/sys/bus/mdev/devices/$u"; done
	: >$w/$iname.log
	: >$w/$iname-console.log
	timeout -s KILL $((2 * limit)) qemu-system-x86_64 -nodefaults -display none -no-reboot \
		-machine pc -accel tcg -m 128 \
		-chardev file,id=con,path=$w/$iname-console.log -serial chardev:con \
		-chardev file,id=ktap,path=$w/$iname.log -serial chardev:ktap \
		-kernel /vmm/bzImage -initrd /vmm/initrd.gz \
		-append "console=ttyS0 panic=-1 8250.nr_uarts=4 acpi=noirq i8042.nokbd i8042.noaux loglevel=5 vmm.vendor=0x4348 vmm.device=0x3253 vmm.ports=1 vmm.devices=$ndev vmm.known=$known" \
		$devs </dev/null >$w/$iname-qemu.out 2>&1 &
	qpid=$!
}
t4=$(uptime_s)
inner pair 2 $pair
ppid1=$qpid
inner single 1 $third
ppid2=$qpid
wait $ppid1
prc1=$?
t5=$(uptime_s)
wait $ppid2
prc2=$?
t6=$(uptime_s)
echo "# two VMMs at once: the one with two mdevs ended after $(elapsed "$t4" "$t5") s (status $prc1), the other by $(elapsed "$t4" "$t6") s (status $prc2)"
nest two_mdevs_in_one_inner_guest 1 pair
nest second_inner_guest_at_once 1 single

# 17. Both VMMs ended cleanly (the inner guests powered off).
for f in pair single; do printable <$w/$f-qemu.out | sed "s/^/# $f: /"; done
result both_vmms_ended $((prc1 != 0 || prc2 != 0)) "QEMU exit statuses $prc1 and $prc2"

# 18. No kernel report on either inner console.
cat $w/pair-console.log $w/single-console.log | printable | grep -E "$VM_SPLAT_RE" >$w/splats
st=$?
[ $st = 0 ] && sed -n '1,20p' $w/splats | sed 's/^/# /'
result inner_consoles_clean $((st == 0)) "an inner guest's kernel reported problems"

# 19. Nothing is left once the three are removed.
st=0
for u in $pair $third; do echo 1 2>/dev/null >/sys/bus/mdev/devices/$u/remove || st=1; done
left=$(ls /sys/bus/mdev/devices 2>&1 | tr '\n' ' ')
[ -z "$left" ] || st=1
result three_removed_nothing_left $st "left: $left"
tally
