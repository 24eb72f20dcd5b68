#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# debug-suite.sh NAME CMD [ARGS...]: in the guest, on the debug kernel (tools/testing/vm
# --debug), runs a suite (CMD, which prints KTAP and a `P passed, F failed` line) and
# then checks that it left no leak: prints one KTAP report whose test 1 is the suite,
# nested, and test 2 `kmemleak_clean`.
#
# Before the scan it waits 25 s, the lifetime suite's window (lifetime-tests.sh):
# DEBUG_KOBJECT_RELEASE runs each kobject release 1 to 4 s after its last put, and
# the longest chain the suites start (a VFIO character device, its VFIO device, an
# mdev, its type, its parent device) takes at most five such delays. What those
# releases free, or read after it was freed, is then scanned and reported before
# the run ends. The window is the behaviour under test, not a guess at a duration.
set -u
. "$(dirname "$0")/ktap.sh"
. "$(dirname "$0")/kmemleak.sh"
name=$1
shift
# What boot left is not the suite's.
kmemleak_clear
echo "KTAP version 1"
echo "1..2"
echo "    # Subtest: $name"
{
	"$@" 2>&1
	echo $? >/tmp/suite.status
} | tee /tmp/suite.out | sed -e 's/^\([0-9]* passed, [0-9]* failed.*\)$/# \1/' -e 's/^/    /'
st=$(cat /tmp/suite.status)
# The suite's leaf counts are this report's, plus kmemleak_clean. A suite that ended
# without its tally line fails here (status) and in the harness's check of the report.
counts=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*$/\1 \2/p' /tmp/suite.out | tail -n 1)
pass=${counts% *} fail=${counts#* }
[ -n "$counts" ] || { pass=0 fail=0; }
# And its skipped tests, from its `# Totals:` line; a suite that ended without one
# fails here too (every suite of the project prints it).
skip=$(sed -n 's/^# Totals: pass:[0-9]* fail:[0-9]* xfail:0 xpass:0 skip:\([0-9]*\) error:0$/\1/p' /tmp/suite.out | tail -n 1)
totals=${skip:+yes}
skip=${skip:-0}
n=1
if [ "$st" = 0 ] && [ "$fail" = 0 ] && [ -n "$counts" ] && [ -n "$totals" ]; then
	echo "ok 1 $name"
else
	echo "not ok 1 $name"
	# A failed subtest with no failed test inside counts as one failure (as the
	# harness's KTAP check counts it), so that the tally agrees.
	[ "$fail" = 0 ] && fail=1
fi
sleep 25
out=$(kmemleak_clean 2>&1)
st=$?
printf '%s\n' "$out" | sed 's/^/# /'
result kmemleak_clean $st
tally
