# SPDX-License-Identifier: GPL-2.0
# Waiting for delayed releases, for the guest's test scripts (sourced, busybox sh).
#
# wait_until CMD...: runs CMD every 0.1 s until it succeeds, 60 s at most (a hang
# detector: what is waited for are releases DEBUG_KOBJECT_RELEASE delays by 1-4 s).
wait_until() {
	i=0
	until "$@"; do
		[ $i -lt 600 ] || return 1
		sleep 0.1; i=$((i + 1))
	done
}

# no_driver_dir DRIVER: /sys/bus/mdev/drivers/DRIVER is gone. The driver core
# removes it only when the driver's kobject is released: bus_remove_driver() puts
# it and kobject_cleanup() deletes it, which DEBUG_KOBJECT_RELEASE delays by 1 to
# 4 s after driver_unregister() returned, on either core and on any bus. Until then
# registering the driver again fails (`sysfs: cannot create duplicate filename`).
no_driver_dir() { [ ! -e "/sys/bus/mdev/drivers/$1" ]; }
