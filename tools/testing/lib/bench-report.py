#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarises a run of mdev-bench (tools/testing/bench): reads DIR/bench.csv and
writes DIR/summary.csv, DIR/summary.json, DIR/table.txt (also printed), the plots'
data DIR/cycle-VENDOR.dat and DIR/unreg-VENDOR.dat, and DIR/vendors.txt.

Per vendor, metric and live count: each core's mean over the rounds, and the
Rust/C ratio as the geometric mean of the ratios of the rounds (each round measures
both cores side by side), with the lowest and highest of them. Standard library
only.
"""
import csv
import json
import math
import sys
from collections import defaultdict

METRICS = ["cycle_us", "cycle_median_us", "create_us", "fill_rate", "remove_us",
           "remove_all_s", "unreg_ms", "slab_per_mdev", "sunreclaim_per_mdev",
           "slab_objs_per_mdev", "par_cycles_per_s_t1", "par_cycles_per_s_t2",
           "par_cycles_per_s_t4", "par2p_cycles_per_s_t2", "par2p_cycles_per_s_t4"]


def main(d):
    rows = list(csv.DictReader(open(f"{d}/bench.csv")))
    # (vendor, metric, live) -> core -> round -> value
    vals = defaultdict(lambda: defaultdict(dict))
    units = {}
    vendors = []
    for r in rows:
        key = (r["vendor"], r["metric"], int(r["live"]))
        vals[key][r["core"]][int(r["round"])] = float(r["value"])
        units[r["metric"]] = r["unit"]
        if r["vendor"] not in vendors:
            vendors.append(r["vendor"])

    summary = []
    for key in sorted(vals, key=lambda k: (vendors.index(k[0]),
                                           METRICS.index(k[1]) if k[1] in METRICS else 99,
                                           k[2])):
        vendor, metric, live = key
        by = vals[key]
        c, rust = by.get("c", {}), by.get("rust", {})
        mean = lambda v: sum(v.values()) / len(v) if v else None
        ratios = [rust[r] / c[r] for r in c if r in rust and c[r] > 0 and rust[r] > 0]
        gm = math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else None
        summary.append({
            "vendor": vendor, "metric": metric, "live": live, "unit": units[metric],
            "c_mean": mean(c), "rust_mean": mean(rust), "rounds": len(ratios),
            "ratio": gm, "ratio_min": min(ratios) if ratios else None,
            "ratio_max": max(ratios) if ratios else None,
        })

    fields = ["vendor", "metric", "live", "unit", "c_mean", "rust_mean", "ratio",
              "ratio_min", "ratio_max", "rounds"]
    with open(f"{d}/summary.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for s in summary:
            w.writerow({k: ("" if s[k] is None else
                            f"{s[k]:.4g}" if isinstance(s[k], float) else s[k])
                        for k in fields})
    with open(f"{d}/summary.json", "w") as f:
        json.dump({"rows": summary}, f, indent=1)

    fmt = lambda v, p=".4g": "-" if v is None else format(v, p)
    lines = []
    head = f"{'vendor':<10} {'metric':<22} {'live':>7} {'C':>10} {'Rust':>10} {'unit':<6} " \
           f"{'Rust/C':>7} {'range':>13} {'n':>2}"
    lines.append(head)
    lines.append("-" * len(head))
    for s in summary:
        rng = "-" if s["ratio"] is None else f"{s['ratio_min']:.2f}..{s['ratio_max']:.2f}"
        lines.append(f"{s['vendor']:<10} {s['metric']:<22} {s['live']:>7} "
                     f"{fmt(s['c_mean']):>10} {fmt(s['rust_mean']):>10} {s['unit']:<6} "
                     f"{fmt(s['ratio'], '.3f'):>7} {rng:>13} {s['rounds']:>2}")
    text = "\n".join(lines) + "\n"
    open(f"{d}/table.txt", "w").write(text)
    sys.stdout.write(text)

    # The plots' data: x is the live count (0 drawn at 1 on the log axis).
    for vendor in vendors:
        for metric, name in (("cycle_us", "cycle"), ("unreg_ms", "unreg")):
            with open(f"{d}/{name}-{vendor}.dat", "w") as f:
                f.write("# live c_mean rust_mean\n")
                for s in summary:
                    if s["vendor"] == vendor and s["metric"] == metric:
                        f.write(f"{max(s['live'], 1)} {fmt(s['c_mean'], '.6g')} "
                                f"{fmt(s['rust_mean'], '.6g')}\n")
    open(f"{d}/vendors.txt", "w").write(" ".join(vendors))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: bench-report.py RESULTS-DIR")
    main(sys.argv[1])
