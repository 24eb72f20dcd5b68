#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The last part of tools/testing/demo, in a guest booted with `tools/testing/vm
# --vmm`: the program an mdev exists for. This guest's QEMU boots an inner Linux
# guest (build-kernel --inner, lib/inner-init.sh as /init) with a dual-port mtty_rs
# mdev passed through; the inner guest's own 8250_pci driver binds it as two 16550A
# serial ports and loops strings through both, then powers off. Its report is shown
# as it printed it (lib/vmm-tests.sh runs the same guest in the tests, with much more).
set -eu
uuid=83b8f4f2-509f-382f-3c1e-e6bfe0fa1003
vendor=mtty_rs
step() { printf '\n=== %s\n' "$*"; }
printable() { tr -d '\000-\011\013-\037\177-\377'; }

step "mdev core: $(for m in mdev mdev_rs; do [ -d /sys/module/$m ] && echo $m; done); modprobe $vendor"
modprobe $vendor
t=/sys/class/mdev_bus/$vendor/mdev_supported_types/$vendor-2
step "echo $uuid > $t/create   ($(cat $t/name))"
echo $uuid >$t/create

step "qemu-system-x86_64 ... -device vfio-pci,sysfsdev=/sys/bus/mdev/devices/$uuid"
echo "(an inner Linux guest under TCG inside this TCG guest: about a minute or two)"
read -r t0 _ </proc/uptime
st=0
timeout -s KILL 1200 qemu-system-x86_64 -nodefaults -display none -no-reboot \
	-machine pc -accel tcg -m 128 \
	-chardev file,id=con,path=/tmp/console.log -serial chardev:con \
	-chardev file,id=ktap,path=/tmp/report.log -serial chardev:ktap \
	-kernel /vmm/bzImage -initrd /vmm/initrd.gz \
	-append "console=ttyS0 panic=-1 8250.nr_uarts=4 acpi=noirq i8042.nokbd i8042.noaux loglevel=5 vmm.vendor=0x4348 vmm.device=0x3253 vmm.ports=2" \
	-device "vfio-pci,sysfsdev=/sys/bus/mdev/devices/$uuid" </dev/null >/tmp/qemu.out 2>&1 || st=$?
read -r t1 _ </proc/uptime
echo "QEMU ended with status $st after $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }') s"
printable </tmp/qemu.out

step "what the inner guest saw and did (its report, on its second serial port)"
printable </tmp/report.log

step "echo 1 > /sys/bus/mdev/devices/$uuid/remove; rmmod $vendor"
echo 1 >/sys/bus/mdev/devices/$uuid/remove
rmmod $vendor
echo "mdevs left: $(ls /sys/bus/mdev/devices | wc -l)"
# The demo fails if the inner guest's checks did.
[ $st = 0 ] && grep -q '^[0-9]* passed, 0 failed' /tmp/report.log
