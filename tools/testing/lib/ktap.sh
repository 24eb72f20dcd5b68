# SPDX-License-Identifier: GPL-2.0
# KTAP results for the guest's shell test scripts (sourced, busybox sh).
# result NAME STATUS [DIAGNOSTIC] prints `ok N NAME` or the diagnostic and
# `not ok N NAME`; tally prints the closing `N passed, N failed` and returns 0 only
# when nothing failed.
n=0 pass=0 fail=0
result() {
	n=$((n + 1))
	if [ "$2" -eq 0 ]; then
		pass=$((pass + 1)); echo "ok $n $1"
	else
		fail=$((fail + 1)); [ -n "${3:-}" ] && echo "# $3"; echo "not ok $n $1"
	fi
}
tally() {
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
