#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The guest half of tools/testing/demo. Arguments: the vendor modules to show, in turn.
# MDEV_VFIO_CLIENT: the VFIO client, to open the mtty-style mdevs through VFIO.
set -e
uuid=83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
uuid2=83b8f4f2-509f-382f-3c1e-e6bfe0fa1002
step() { printf '\n=== %s\n' "$*"; }

[ $# -gt 0 ] || set -- mtty
for vendor in "$@"; do

	step "mdev core: $(for m in mdev mdev_rs; do [ -d /sys/module/$m ] && echo $m; done)"
	step "modprobe $vendor"
	modprobe "$vendor"
	parent=$(basename "$(ls -d /sys/class/mdev_bus/* | head -n 1)")
	types=/sys/class/mdev_bus/$parent/mdev_supported_types
	type=$(ls "$types" | head -n 1)
	for t in "$types"/*; do
		printf '%s: name=%s available_instances=%s device_api=%s\n' "$(basename "$t")" \
			"$(cat "$t/name")" "$(cat "$t/available_instances")" "$(cat "$t/device_api")"
done

step "echo $uuid > $types/$type/create"
echo "$uuid" >"$types/$type/create"

step "the sysfs tree of the new mdev"
cd "/sys/bus/mdev/devices/$uuid"
echo "/sys/bus/mdev/devices/$uuid -> $(readlink -f .)"
ls -l | sed 's/^/  /'
echo "mdev_type -> $(readlink -f mdev_type)"
echo "$types/$type/devices: $(ls "$types/$type/devices")"
echo "$type/available_instances: $(cat "$types/$type/available_instances")"
cd /

step "mdevctl list"
mdevctl list

case "$vendor" in mtty | mtty_rs)
	if [ -n "${MDEV_VFIO_CLIENT:-}" ]; then
		step "through VFIO, as a VMM would: PCI config space, then a string looped through the UART"
		"$MDEV_VFIO_CLIENT" demo --profile "$vendor" "$uuid" "Hello from $vendor over VFIO"
		step "migration: a string left in the receive FIFO of $uuid, saved, resumed into $uuid2"
		echo "$uuid2" >"$types/$type/create"
		"$MDEV_VFIO_CLIENT" demo-migrate "$uuid" "$uuid2" "still in FIFO"
		echo 1 >"/sys/bus/mdev/devices/$uuid2/remove"
	fi
	;;
esac

step "echo 1 > /sys/bus/mdev/devices/$uuid/remove"
echo 1 >"/sys/bus/mdev/devices/$uuid/remove"
echo "mdevs left: $(ls /sys/bus/mdev/devices | wc -l)"
echo "$type/available_instances: $(cat "$types/$type/available_instances")"

step "rmmod $vendor"
rmmod "$vendor"
echo "parents left: $(ls /sys/class/mdev_bus | wc -l)"
done
