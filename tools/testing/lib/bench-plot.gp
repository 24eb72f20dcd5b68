# SPDX-License-Identifier: GPL-2.0
#
# The plots of a run of mdev-bench, from the data bench-report.py wrote (run in the
# results directory by tools/testing/bench, Debian package gnuplot-nox):
#
#   gnuplot -e "vendors='mdev_test mtty_rs mtty'" bench-plot.gp
#
#   cycle.svg  cost of one create + remove against the mdevs already live (each
#              round's median cycle, mean over the rounds), both cores, each
#              vendor (log-log; 0 live drawn at 1; one colour per vendor, the C
#              core dashed with open points, the Rust core solid)
#   unreg.svg  the vendor's unload (its parent's unregistration) against the mdevs
#              live, both cores, each vendor (log-log; 0 live drawn at 1)
if (!exists("vendors")) vendors = "mdev_test mtty_rs mtty"
set datafile missing "-"
set terminal svg size 900,560 dynamic noenhanced font "sans,12"
set key top left
set grid
set logscale xy
set xlabel "mdevs live on the parent"

set output "cycle.svg"
set title "create + remove of one mdev (median of each round's cycles, mean over the rounds)"
set ylabel "microseconds per cycle"
set key bottom right
plot for [i=1:words(vendors)] sprintf("cycle-%s.dat", word(vendors, i)) \
	using 1:4 with linespoints linecolor i pointtype 6 dashtype 2 title sprintf("C core, %s", word(vendors, i)), \
     for [i=1:words(vendors)] sprintf("cycle-%s.dat", word(vendors, i)) \
	using 1:5 with linespoints linecolor i pointtype 7 title sprintf("Rust core, %s", word(vendors, i))
set key top left

set output "unreg.svg"
set title "vendor unload (parent unregistration) with N mdevs live"
set ylabel "milliseconds"
plot for [i=1:words(vendors)] sprintf("unreg-%s.dat", word(vendors, i)) \
	using 1:2 with linespoints linecolor i pointtype 6 dashtype 2 title sprintf("C core, %s", word(vendors, i)), \
     for [i=1:words(vendors)] sprintf("unreg-%s.dat", word(vendors, i)) \
	using 1:3 with linespoints linecolor i pointtype 7 title sprintf("Rust core, %s", word(vendors, i))
