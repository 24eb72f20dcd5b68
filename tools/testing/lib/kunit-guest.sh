#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# In the guest (booted with --core rust): loads the project's modules, whose KUnit
# suites run as they load, and prints their KTAP results from debugfs, then
# kselftest's `# Totals:` line and the tally line `N passed, N failed`.
set -u
failed() { # WHY
	echo "# $1"
	echo "# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0"
	echo "0 passed, 1 failed"
	exit 1
}
for m in mdev_rs mtty_rs; do
	modprobe "$m" || failed "cannot load $m"
done
suites=$(ls -d /sys/kernel/debug/kunit/mdev_rs_* /sys/kernel/debug/kunit/mtty_rs_* 2>/dev/null)
[ -n "$suites" ] || failed "no KUnit suite of the project ran"
n=$(echo "$suites" | wc -l)
echo "KTAP version 1"
echo "1..$n"
for s in $suites; do
	# Each results file is a KTAP document of one suite: keep its nested subtest and
	# its result line, renumbered into this document.
	cat "$s/results"
done | awk '
	# Test cases are the lines one level in (the project uses no parameterised
	# tests); a skipped one counts neither as passed nor as failed.
	/^    (not )?ok / {
		print
		# A directive follows the first " # ", as ktap-check reads it.
		d = index($0, " # ")
		if ($1 == "not") fail++
		else if (d && tolower(substr($0, d + 3, 4)) == "skip") skip++
		else pass++
		next
	}
	/^    / { print; next }
	/^ok / { $2 = ++k; print; next }
	/^not ok / { $3 = ++k; print; next }
	END {
		printf "# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:0\n", pass, fail, skip
		printf "%d passed, %d failed\n", pass, fail; exit (fail > 0)
	}'
