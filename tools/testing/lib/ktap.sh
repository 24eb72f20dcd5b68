# SPDX-License-Identifier: GPL-2.0
# KTAP results for the guest's shell test scripts (sourced, busybox sh).
# result NAME STATUS [DIAGNOSTIC] prints `ok N NAME` or the diagnostic and
# `not ok N NAME`; skipped NAME REASON prints `ok N NAME # SKIP REASON`; tally prints
# kselftest's `# Totals: pass:N fail:N xfail:0 xpass:0 skip:N error:0`
# (tools/testing/selftests/kselftest/ktap_helpers.sh; a skipped test counts as
# skipped, not as passed) and the closing `N passed, N failed`, and returns 0 only
# when nothing failed.
n=0 pass=0 fail=0 skip=0
result() {
	n=$((n + 1))
	if [ "$2" -eq 0 ]; then
		pass=$((pass + 1)); echo "ok $n $1"
	else
		fail=$((fail + 1)); [ -n "${3:-}" ] && echo "# $3"; echo "not ok $n $1"
	fi
}
skipped() {
	n=$((n + 1)) skip=$((skip + 1))
	echo "ok $n $1 # SKIP $2"
}
tally() {
	echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:$skip error:0"
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
# known_fault_on_c NAME FN WHY, for scripts that set core (c or rust) and define
# checked NAME FN [SKIP-REASON]: FN is skipped on the C core as a known fault of the
# reference (WHY), unless MDEV_RUN_KNOWN_FAULTS is set.
known_fault_on_c() {
	if [ "$core" = c ] && [ -z "${MDEV_RUN_KNOWN_FAULTS:-}" ]; then
		checked "$1" "$2" "known fault of the reference: $3"
	else
		checked "$1" "$2"
	fi
}
