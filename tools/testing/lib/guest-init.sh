#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# /init of the test guest (busybox sh). Set up by tools/testing/vm, which writes
# /vm.conf (settings) and /vm.cmd (the command, already quoted).
#
# Channels: the kernel console is ttyS0 (the host keeps it in a log and scans it for
# splats); the command's stdout and stderr, and the markers below, go to ttyS1.
#   @@VM-BOOTED@@        userspace is up (the host's boot timer stops)
#   @@VM-SPLATS@@ N      the guest's own scan of dmesg found N report lines
#   @@VM-EXIT@@ RC       the command's exit status
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
mkdir -p /run /dev/pts /root
. /vm.conf

stty -F /dev/ttyS1 raw -echo -onlcr 2>/dev/null
exec >/dev/ttyS1 2>&1 </dev/null

mkdir -p "$VM_REPO"
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose repo "$VM_REPO"; then
	echo "vm: cannot mount the checkout at $VM_REPO"
fi
echo "@@VM-BOOTED@@"

case "$VM_CORE" in
c) modprobe mdev || echo "vm: cannot load the C mdev core" ;;
rust) modprobe mdev_rs || echo "vm: cannot load the Rust mdev core (mdev_rs)" ;;
none) ;;
esac

cd "$VM_CWD" 2>/dev/null || cd "$VM_REPO" 2>/dev/null || cd /
timeout "$VM_TIMEOUT" sh /vm.cmd
rc=$?
[ $rc -eq 143 ] && echo "vm: the command did not finish within ${VM_TIMEOUT}s"

# Scan the whole ring buffer, not only what reached the console in time.
dmesg | grep -E "$VM_SPLAT_RE" >/tmp/splats
echo "@@VM-SPLATS@@ $(wc -l </tmp/splats)"
echo "@@VM-EXIT@@ $rc"
cd /
umount "$VM_REPO" 2>/dev/null
sync
reboot -f
