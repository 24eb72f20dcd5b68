# SPDX-License-Identifier: GPL-2.0
# kmemleak on the debug kernel, for the guest's test scripts (sourced, busybox sh).
# kmemleak_clear forgets what was allocated so far (a suite starts from a clean
# slate: what boot left is not its own); kmemleak_clean scans and fails when
# anything allocated by the project's modules (mdev_rs, mtty_rs, mdev_test_vendor)
# is unreferenced, printing what it found.
kmemleak=/sys/kernel/debug/kmemleak
kmemleak_clear() {
	{ echo clear >"$kmemleak"; } 2>/dev/null
}
# Scanned twice, as kmemleak's documentation asks (an object is reported only once
# it has been seen unreferenced in two scans).
kmemleak_clean() {
	[ -w "$kmemleak" ] || { echo "no $kmemleak"; return 1; }
	echo scan >"$kmemleak"; sleep 1; echo scan >"$kmemleak"
	cat "$kmemleak" >/tmp/kmemleak
	objects=$(grep -c '^unreferenced object' /tmp/kmemleak)
	# An object is ours when a frame of its allocation is in one of the project's
	# modules, or is a bare address (a module unloaded since, which %pS cannot name:
	# it may have been ours).
	ours=$(awk '/^unreferenced object/ { if (o) n++; o = 0 }
		/\[(mdev_rs|mtty_rs|mdev_test_vendor)\]/ || /^ +(0x)?ffffffff[0-9a-f]+$/ { o = 1 }
		END { if (o) n++; print n + 0 }' /tmp/kmemleak)
	echo "kmemleak: $objects unreferenced objects, $ours allocated by the project's modules or by unloaded code"
	[ "$ours" = 0 ] || { head -n 40 /tmp/kmemleak; return 1; }
}
