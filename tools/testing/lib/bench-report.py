#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarises a run of mdev-bench (tools/testing/bench): reads DIR/bench.csv and
writes DIR/summary.csv, DIR/summary.json, DIR/table.txt (also printed), the plots'
data DIR/cycle-VENDOR.dat and DIR/unreg-VENDOR.dat, and DIR/vendors.txt; and, when
DIR/bench.out has the function_graph traces of mdev-bench --trace, each create's
graph cut to its larger calls in DIR/trace-CORE-VENDOR.txt and the phases of all
of them side by side in DIR/breakdown.txt (also printed).

Per vendor, metric and live count: each core's mean over the rounds, and the
Rust/C ratio as the geometric mean of the ratios of the rounds (each round measures
both cores side by side), with the lowest and highest of them. Standard library
only.
"""
import csv
import json
import math
import re
import sys
from collections import defaultdict

# --- the traces of one create (mdev-bench --trace) ---------------------------

class Node:
    def __init__(self, name, depth):
        self.name, self.depth, self.dur, self.children = name, depth, 0.0, []

    def self_time(self):
        return max(self.dur - sum(c.dur for c in self.children), 0.0)


def parse_graph(lines):
    """The call trees of function_graph's output lines (` 0) 1.2 us | f();`)."""
    roots, stack = [], []
    dur_re = re.compile(r"([0-9.]+) us")
    for line in lines:
        if "|" not in line:
            continue
        left, text = line.split("|", 1)
        m = dur_re.search(left)
        dur = float(m.group(1)) if m else None
        body = text.rstrip()
        stripped = body.lstrip(" ")
        if not stripped:
            continue
        depth = (len(body) - len(stripped) - 2) // 2
        if stripped.startswith("}"):
            # Closes the innermost open call at that depth.
            while stack and stack[-1].depth > depth:
                stack.pop()
            if stack and stack[-1].depth == depth:
                node = stack.pop()
                node.dur = dur or 0.0
            continue
        name = re.sub(r"\(\)\s*[;{]$", "", stripped).strip()
        node = Node(name, depth)
        while stack and stack[-1].depth >= depth:
            stack.pop()
        (stack[-1].children if stack else roots).append(node)
        if stripped.endswith("{"):
            stack.append(node)
        else:
            node.dur = dur or 0.0
    return roots


# The calls the time of a create is attributed to, first match wins: a call that
# matches takes its whole time (with what it calls) to that phase; any other is
# split into its callees, and its own time goes to the phase of its frame.
PHASES = [
    ("probe", "probe: driver bind, the vendor's probe and VFIO registration",
     r"^(bus_probe_device|device_initial_probe|__device_attach|device_attach"
     r"|device_driver_attach|driver_probe_device|__driver_probe_device|really_probe)$"),
    # kobject_uevent_env itself is not traced in Debian's kernel: its callees are.
    ("uevent", "uevents (kobject_uevent: its callees)",
     r"^(kobject_uevent|dev_uevent|netlink_has_listeners|netlink_broadcast|consume_skb"
     r"|alloc_uevent_skb|add_uevent_var|kobject_get_path|uevent_)"),
    ("sysfs", "sysfs/kernfs: directories, attributes, links",
     r"^(sysfs_(?!kf_write)|kernfs_(?!fop_write_iter)|device_add_attrs|device_create_file"
     r"|device_add_class_symlinks|device_add_groups|internal_create_group)"),
    ("irq", "interrupts taken during the create",
     r"^(irq_enter|irq_exit|handle_softirqs|__hrtimer_rearm|idle_cpu|raw_irqentry|__sysvec"
     r"|sysvec_|hrtimer_interrupt|__irq_exit)"),
    ("alloc", "allocations (kmalloc, kfree, ...)",
     r"(kmalloc|kfree|krealloc|kstrdup|kstrndup|kmem_cache|kvfree|kvmalloc|__check_object_size)"),
    ("init", "device_initialize, dev_set_name", r"^(device_initialize|dev_set_name)$"),
    ("lock", "locks, RCU (mutex, spinlock, rwsem, rcu)",
     r"(mutex_|_spin_|down_|up_(read|write)|^up$|rcu_read|synchronize_rcu)"),
]
SELF_PHASES = [
    ("core", "the core's own code (its store and create: UUID parse and check, "
     "its structures; Rust functions are not traced, so all of the Rust core's own "
     "code is here)"),
    ("devadd", "device_add's own work (kobject, bus, driver core)"),
    ("vfs", "the write's path (kernfs_fop_write_iter's own work)"),
    ("other", "other"),
]
CORE_FRAMES = re.compile(r"^(sysfs_kf_write|mdev_type_attr_store|create_store|mdev_device_create)"
                         r"|\[(mdev|mdev_rs)\]$")


def breakdown(root):
    totals = defaultdict(float)

    def walk(n, in_device_add):
        name = n.name.split(" [")[0]
        for key, _, pat in PHASES:
            if re.search(pat, name) and not CORE_FRAMES.search(n.name):
                totals[key] += n.dur
                return
        inner = in_device_add or name == "device_add"
        for c in n.children:
            walk(c, inner)
        if name == "kernfs_fop_write_iter":
            key = "vfs"
        elif inner:
            key = "devadd"
        elif CORE_FRAMES.search(n.name):
            key = "core"
        else:
            key = "other"
        totals[key] += n.self_time()

    walk(root, False)
    return totals


def cut_tree(root, out, share=0.01, max_depth=9):
    total = root.dur or 1.0

    def walk(n, depth):
        if depth > max_depth or n.dur < share * total:
            return
        own = f" (own {n.self_time():.0f})" if n.children else ""
        out.append(f"{n.dur:10.1f} us {100 * n.dur / total:5.1f}%  {'  ' * depth}{n.name}{own}")
        for c in n.children:
            walk(c, depth + 1)

    walk(root, 0)


def traces(d):
    try:
        text = open(f"{d}/bench.out", errors="replace").read().splitlines()
    except OSError:
        return
    graphs = defaultdict(list)
    for line in text:
        if line.startswith("# trace: "):
            core, vendor, rest = (line[len("# trace: "):].split(" ", 2) + ["", ""])[:3]
            graphs[(core, vendor)].append(rest)
    if not graphs:
        return
    cols, results = [], {}
    for (core, vendor), lines in graphs.items():
        roots = [r for r in parse_graph(lines) if r.name.startswith("kernfs_fop_write_iter")]
        if not roots:
            continue
        root = roots[0]
        out = [f"# one create, {core} core, {vendor}: function_graph from kernfs_fop_write_iter,",
               "# the calls of at least 1% of it (inclusive time, share, own time of a caller)"]
        cut_tree(root, out)
        open(f"{d}/trace-{core}-{vendor}.txt", "w").write("\n".join(out) + "\n")
        cols.append((core, vendor))
        results[(core, vendor)] = (root.dur, breakdown(root))
    cols.sort(key=lambda cv: (cv[1], cv[0]))
    names = dict((k, t) for k, t, _ in PHASES)
    names.update(dict(SELF_PHASES))
    keys = [k for k, _, _ in PHASES] + [k for k, _ in SELF_PHASES]
    lines = ["One create under function_graph: microseconds (share of the traced create).",
             "The tracer's cost inflates each traced call: shares, not durations.", ""]
    head = f"{'phase':<8}" + "".join(f"{c + '/' + v:>22}" for c, v in cols)
    lines += [head, "-" * len(head)]
    for k in keys:
        row = f"{k:<8}"
        for cv in cols:
            total, t = results[cv]
            row += f"{t.get(k, 0.0):>13.0f} ({100 * t.get(k, 0.0) / (total or 1):4.1f}%)"
        lines.append(row)
    lines.append(f"{'total':<8}" + "".join(f"{results[cv][0]:>13.0f} (100 %)" for cv in cols))
    lines.append("")
    lines += [f"  {k:<8} {names[k]}" for k in keys]
    text = "\n".join(lines) + "\n"
    open(f"{d}/breakdown.txt", "w").write(text)
    sys.stdout.write("\n" + text)

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

    # The plots' data: x is the live count (0 drawn at 1 on the log axis); the
    # cycle's also has the rounds' mean of the median cycle (less moved by a
    # loaded host than the mean).
    for vendor in vendors:
        for metric, name in (("cycle_us", "cycle"), ("unreg_ms", "unreg")):
            with open(f"{d}/{name}-{vendor}.dat", "w") as f:
                f.write("# live c_mean rust_mean" +
                        (" c_median rust_median" if name == "cycle" else "") + "\n")
                for s in summary:
                    if s["vendor"] == vendor and s["metric"] == metric:
                        line = (f"{max(s['live'], 1)} {fmt(s['c_mean'], '.6g')} "
                                f"{fmt(s['rust_mean'], '.6g')}")
                        if name == "cycle":
                            med = [m for m in summary if m["vendor"] == vendor
                                   and m["metric"] == "cycle_median_us" and m["live"] == s["live"]]
                            line += (f" {fmt(med[0]['c_mean'], '.6g')} {fmt(med[0]['rust_mean'], '.6g')}"
                                     if med else " - -")
                        f.write(line + "\n")
    open(f"{d}/vendors.txt", "w").write(" ".join(vendors))
    traces(d)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: bench-report.py RESULTS-DIR")
    main(sys.argv[1])
