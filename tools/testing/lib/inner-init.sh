#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# /init of the inner guest (busybox sh): the Linux that QEMU, run inside the test
# guest by lib/vmm-tests.sh, boots with an mdev passed through. tools/testing/vm
# --vmm puts it into the inner guest's initramfs with busybox and /splat_re (the
# runner's report patterns).
#
# Checks, as the guest's own drivers see the mdev, that the kernel's 8250_pci driver
# bound the PCI device with the vendor and device ID asked for and registered the
# number of 16550A ports asked for, and that on every port a short string (less than
# a FIFO) and a long one (many FIFO-fulls: the driver writes 16 bytes per THRE
# interrupt) come back intact through the mdev's loopback, with the port's interrupt
# count rising. Prints KTAP on ttyS1 (the second legacy serial port, a file on the
# outer side; the kernel console is ttyS0), ending with `# Totals:` and
# `P passed, F failed`, then ends QEMU (reboot -f with -no-reboot), or, with
# vmm.hold=1, sets the first port's line (`stty 2400 cs7 parenb -parodd cstopb`)
# before the tally and holds it open, and after the tally watches the device: the
# outer side reads the emulated UART's registers, resets or ends QEMU, or removes the
# mdev, whose hot-unplug this guest reports as `# vmm: device gone at T s`. Each boot
# (a system reset boots again) prints one whole KTAP report.
#
# Parameters, on the kernel command line (the kernel ignores them: they have a dot):
#   vmm.vendor=0xVVVV vmm.device=0xDDDD   the PCI IDs of the mdev (mtty: 0x4348 0x3253)
#   vmm.ports=N                           the ports each must have (2 for a dual type)
#   vmm.devices=N                         how many such devices (default 1)
#   vmm.long=BYTES                        the long string's length (default 512)
#   vmm.hold=1                            hold the first port with its line set,
#                                         watch the device, never end QEMU
#   vmm.known=mtty                        skip the long strings as a known fault of
#                                         the kernel's mtty sample (below)
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /tmp
read -r up_init _ </proc/uptime

# The KTAP channel: raw, so that the outer side reads exactly the lines written.
stty -F /dev/ttyS1 raw -echo -onlcr 2>/dev/null
exec >/dev/ttyS1 2>&1 </dev/null
. /ktap.sh
# printable: stdin without control bytes (but newlines) and non-ASCII bytes, for
# diagnostics that must stay KTAP (busybox tr has no working -c with classes).
printable() { tr -d '\000-\011\013-\037\177-\377'; }

param() { # NAME DEFAULT: the value of vmm.NAME on the command line
	v=$(tr ' ' '\n' </proc/cmdline | sed -n "s/^vmm\.$1=//p" | tail -n 1)
	echo "${v:-$2}"
}
want_vendor=$(param vendor 0x4348)
want_device=$(param device 0x3253)
want_ports=$(param ports 2)
want_devices=$(param devices 1)
long_len=$(param long 512)
hold=$(param hold 0)
known=$(param known "")
# The kernel's C mtty (samples/vfio-mdev/mtty.c) reads its receive FIFO as empty once
# it holds 16 bytes (MAX_FIFO_SIZE): the 8250 driver writes 16 bytes per THRE
# interrupt, so nothing of a write of 16 bytes or more comes back.
long_fault="known fault of the reference sample mtty: its receive FIFO reads as empty once it holds 16 bytes, and 8250 writes 16 bytes per THRE interrupt"

echo "KTAP version 1"
# The ports of all the devices.
all_ports=$((want_ports * want_devices))
echo "1..$((3 + 4 * all_ports + hold + 1))"
echo "# inner guest: /init reached at ${up_init} s of uptime"

# 1. The PCI devices with the IDs asked for: exactly as many as asked (pci: the
#    first, which vmm.hold watches).
pcis=""
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor")" = "$want_vendor" ] && [ "$(cat "$d/device")" = "$want_device" ] || continue
	pcis="$pcis $(readlink -f "$d")"
done
found=$(echo $pcis | wc -w)
pci=$(echo $pcis | cut -d ' ' -f 1)
result pci_device_found $([ "$found" = "$want_devices" ]; echo $?) \
	"$found devices $want_vendor:$want_device, want $want_devices; the guest's PCI devices: $(cat /sys/bus/pci/devices/*/uevent | grep PCI_ID | tr '\n' ' ')"

# 2. Each bound by 8250_pci (its driver's name is "serial").
st=0 drvs=""
for d in $pcis; do
	drv=none
	[ -e "$d/driver" ] && drv=$(basename "$(readlink "$d/driver")")
	drvs="$drvs $(basename "$d"):$drv"
	[ "$drv" = serial ] || st=1
done
[ -n "$pcis" ] || st=1
result bound_by_8250_pci $st "drivers:${drvs:- no device}"

# 3. Their ports: the ttyS devices whose first ancestor with a `vendor` file (in 7.3
#    /sys/class/tty/ttySN/device is a serial-core port device) is one of the mdevs.
ports=""
for t in /sys/class/tty/ttyS*; do
	[ -e "$t/device" ] || continue
	p=$(readlink -f "$t/device")
	while [ "$p" != / ] && [ ! -e "$p/vendor" ]; do p=$(dirname "$p"); done
	case " $pcis " in *" $p "*) ports="$ports $(basename "$t")" ;; esac
done
nports=$(echo $ports | wc -w)
result ports_registered $([ "$nports" = "$all_ports" ]; echo $?) \
	"ports of the devices: '${ports# }' ($nports, want $all_ports)"

# irq_count IRQ: its count summed over the CPUs in /proc/interrupts; nothing when
# the IRQ is not listed. In 7.3 /proc/interrupts lists an IRQ only while a handler is
# requested on it (kernel/irq/proc.c: irq_proc_update_valid(), irq_seq_next_desc()),
# whatever it counted before, and 8250 requests a port's IRQ when the port is opened
# and frees it on the last close: so the count is read with the port held open.
irq_count() {
	awk -v irq="$1:" '$1 == irq { found = 1; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i }
		END { if (found) print s + 0 }' /proc/interrupts
}
# loopback DEV FILE: writes FILE to DEV and reads back as many bytes. The port is held
# open on fd 3 from before the write to after the read, so nothing received is lost
# between the two; the read's limit (60 s of this guest's time) only ends a check that
# would otherwise hang: a missing byte fails it.
loopback() {
	len=$(wc -c <"$2")
	exec 3<>"$1" || return 1
	stty -F "$1" raw -echo -onlcr -ixon -ixoff 2>/dev/null || { exec 3<&-; return 1; }
	timeout 60 head -c "$len" <&3 >/tmp/got &
	reader=$!
	cat "$2" >&3
	wait $reader
	exec 3<&-
	cmp -s "$2" /tmp/got
}

printf 'hello, mdev' >/tmp/short
i=0
: >/tmp/long
while [ "$(wc -c </tmp/long)" -lt "$long_len" ]; do
	printf '%04d:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789;' $i >>/tmp/long
	i=$((i + 1))
done
head -c "$long_len" /tmp/long >/tmp/long.$$ && mv /tmp/long.$$ /tmp/long

i=1
while [ $i -le "$all_ports" ]; do
	tty=$(echo $ports | cut -d ' ' -f $i)
	if [ -z "$tty" ]; then
		result port${i}_16550a 1 "no port $i"
		result port${i}_loopback_short 1 "no port $i"
		result port${i}_loopback_long 1 "no port $i"
		result port${i}_interrupts_counted 1 "no port $i"
		i=$((i + 1))
		continue
	fi
	# serial-core's type 4 is PORT_16550A.
	type=$(cat /sys/class/tty/$tty/type)
	result port${i}_16550a $([ "$type" = 4 ]; echo $?) "$tty: type $type (want 4, PORT_16550A)"
	irq=$(cat /sys/class/tty/$tty/irq)
	# The port is held open on fd 5 from before the first count to after the last, so
	# that its IRQ stays requested, and listed, in between (the loopbacks' own opens
	# end with them; busybox timeout's watcher keeps a reader's descriptor up to a
	# second longer, which made a count after a loopback hit or miss the listing).
	exec 5<>/dev/$tty
	before=$(irq_count "$irq")
	loopback /dev/$tty /tmp/short
	st=$?
	echo "# vmm: $tty: sent '$(cat /tmp/short)', got back '$(printable </tmp/got | tr -d '\n')'"
	result port${i}_loopback_short $st "$tty: sent '$(cat /tmp/short)', got '$(printable </tmp/got | tr -d '\n')'"
	if [ "$known" = mtty ]; then
		skipped port${i}_loopback_long "$long_fault"
	else
		loopback /dev/$tty /tmp/long
		result port${i}_loopback_long $? \
			"$tty: sent $(wc -c </tmp/long) bytes, got $(wc -c </tmp/got); first difference: $(cmp /tmp/long /tmp/got 2>&1)"
	fi
	after=$(irq_count "$irq")
	st=0
	[ -n "$before" ] && [ -n "$after" ] && [ "$after" -gt "$before" ] || st=1
	[ $st = 0 ] || sed 's/^/# /' /proc/interrupts
	exec 5<&-
	result port${i}_interrupts_counted $st \
		"$tty: IRQ $irq count ${before:-not listed} -> ${after:-not listed}, the port held open"
	i=$((i + 1))
done

# With vmm.hold: the first port's line, set and held open for the outer side to read
# back from the emulated UART (`# vmm: stty` gives what it must find).
if [ "$hold" = 1 ]; then
	tty=$(echo $ports | cut -d ' ' -f 1)
	st=1
	if [ -n "$tty" ] && exec 4<>/dev/$tty; then
		stty -F /dev/$tty 2400 cs7 parenb -parodd cstopb 2>/dev/null &&
			stty -F /dev/$tty | grep -q 'speed 2400 baud' && st=0
		echo "# vmm: stty $tty uartclk=$(cat /sys/class/tty/$tty/uartclk) baud=2400 cs7 parenb -parodd cstopb"
	fi
	result port1_line_set $st "${tty:-no port}: $(stty -F /dev/${tty:-null} 2>&1 | head -n 1)"
fi

# The serial driver's messages, for diagnostics.
dmesg | grep -i -E 'serial|ttyS|8250|irq' | printable | sed 's/^/# dmesg: /'

# The kernel's own reports, in the whole ring buffer.
dmesg | grep -E "$(cat /splat_re)" >/tmp/splats
result no_kernel_reports $([ ! -s /tmp/splats ]; echo $?) "$(head -n 5 /tmp/splats | tr '\n' ' ')"
read -r up_end _ </proc/uptime
echo "# inner guest: checks done at ${up_end} s of uptime"
tally
# Wait until ttyS1 has sent every byte (stty sets the mode with TCSADRAIN).
stty -F /dev/ttyS1 raw -echo -onlcr
[ "$hold" = 1 ] || reboot -f

# Watch the device until the outer side ends QEMU: a hot-unplug removes its PCI
# device (and with it its ports); then any kernel report since.
gone=""
while :; do
	if [ -z "$gone" ] && [ -n "$pci" ] && [ ! -e "$pci" ]; then
		read -r up _ </proc/uptime
		gone=1
		left=""
		for t in $ports; do [ "$(cat /sys/class/tty/$t/type 2>/dev/null)" = 4 ] && left="$left $t"; done
		echo "# vmm: device gone at $up s; 16550A ports of it left: '${left# }'"
		dmesg | grep -E "$(cat /splat_re)" | head -n 5 | printable | sed 's/^/# vmm: kernel report: /'
		stty -F /dev/ttyS1 raw -echo -onlcr
	fi
	sleep 1
done
