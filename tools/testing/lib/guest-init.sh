#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# /init of the test guest (busybox sh). Set up by tools/testing/vm, which writes
# /vm.conf (settings) and /vm.cmd (the command, already quoted).
#
# Channels: the kernel console is ttyS0 (the host keeps it in a log and scans it for
# splats); the command's stdout and stderr go to ttyS1, which the host copies byte
# for byte to its stdout; this script's own messages and the markers below go to
# ttyS2, the control channel, which the host reads as whole lines:
#   @@VM-BOOTED@@        userspace is up (the host's boot timer stops)
#   @@VM-SPLATS@@ N      the guest's own scan of dmesg found N report lines
#   @@VM-EXIT@@ RC       the command's exit status
# Any other line on ttyS2 is a message of this script, shown on the host's stderr.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
mkdir -p /run /dev/pts /root
. /vm.conf
# The report patterns, for test scripts that attribute reports to their tests.
export VM_SPLAT_RE

# Raw: every byte goes out as written (no newline translation, no echo).
stty -F /dev/ttyS1 raw -echo -onlcr 2>/dev/null
stty -F /dev/ttyS2 raw -echo -onlcr 2>/dev/null
exec >/dev/ttyS2 2>&1 </dev/null

# Writes a marker line. With VM_SLOW_MARKERS (the harness's self-checks) it is
# written in pieces with pauses between them, as a slow guest might.
marker() {
	if [ -n "${VM_SLOW_MARKERS:-}" ]; then
		printf '@@VM-'; sleep 1; printf '%s@@' "$1"; sleep 1
		[ $# -gt 1 ] && printf ' %s' "$2"
		sleep 1; printf '\n'
	else
		[ $# -gt 1 ] && echo "@@VM-$1@@ $2" || echo "@@VM-$1@@"
	fi
}

# What the kernel has as modules but the project's test kernel has built in (a
# distribution's kernel: 9p for the checkout, VFIO).
for m in $VM_PRELOAD; do
	modprobe "$m" || echo "vm: cannot load $m"
done

mkdir -p "$VM_REPO"
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose repo "$VM_REPO"; then
	echo "vm: cannot mount the checkout at $VM_REPO"
fi
marker BOOTED

case "$VM_CORE" in
c) modprobe mdev || echo "vm: cannot load the C mdev core" ;;
rust) modprobe mdev_rs || echo "vm: cannot load the Rust mdev core (mdev_rs)" ;;
none) ;;
esac

cd "$VM_CWD" 2>/dev/null || cd "$VM_REPO" 2>/dev/null || cd /
timeout "$VM_TIMEOUT" sh /vm.cmd >/dev/ttyS1 2>&1
rc=$?
[ $rc -eq 143 ] && echo "vm: the command did not finish within ${VM_TIMEOUT}s"
# Nothing of the command may still write once its status is reported: end what it
# left running, then wait until ttyS1 has sent every byte (stty sets the mode with
# TCSADRAIN, which returns only when the UART's transmitter is empty).
kill -KILL -1 2>/dev/null
stty -F /dev/ttyS1 raw -echo -onlcr

# Scan the whole ring buffer, not only what reached the console in time.
dmesg | grep -E "$VM_SPLAT_RE" >/tmp/splats
marker SPLATS "$(wc -l </tmp/splats)"
marker EXIT "$rc"
stty -F /dev/ttyS2 raw -echo -onlcr
cd /
umount "$VM_REPO" 2>/dev/null
sync
reboot -f
