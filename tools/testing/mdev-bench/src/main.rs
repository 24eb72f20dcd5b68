// SPDX-License-Identifier: GPL-2.0
//! mdev-bench: what an mdev costs on each mdev core, measured in one guest with both
//! cores taking turns (issue 11). Run as root in the test guest booted with
//! `--core none` (tools/testing/bench does that): the program loads and unloads the
//! cores and the vendors itself.
//!
//!   mdev-bench [--smoke] [--rounds R] [--cores c,rust] [--vendors V,...]
//!              [--levels L,...] [--cycles K] [--threads T,...] [--unload-live N]
//!              [--no-remove-all] [--trace] [--first-round R]
//!
//! Round r runs the cores in the order c, rust when r is odd and rust, c when it is
//! even (c, rust, rust, c, c, rust, ...), so that each core runs as often first as
//! second. In each core's turn, for each vendor (`mdev_test`: the C test vendor
//! tools/testing/vendor, the floor, probe does nothing; `mtty_rs`: the Rust sample,
//! VFIO; `mtty`: the kernel's C sample, at most 24 ports):
//!
//!   - `unreg_ms` at 0 live: the vendor's unload (its parent's unregistration) with no
//!     mdev;
//!   - fill from 0 to each level L of `--levels` in turn, each create timed
//!     (`create_us`, per decade of live mdevs: the row's `live` is the decade's upper
//!     bound); at each level, `slab_per_mdev` (growth of /proc/meminfo's Slab since
//!     0 live, divided by L, bytes; `sunreclaim_per_mdev` the same of
//!     `SUnreclaim`, without the dentries and inodes the kernel can drop;
//!     `slab_objs_per_mdev` the same of the slab objects in use, from
//!     /proc/slabinfo: active objects times object size) and `cycle_us` / `cycle_median_us` (K cycles of
//!     create + remove of one more mdev after one untimed, the mean and the
//!     median of one cycle);
//!     `fill_rate` (creates per second from 0 to the last level);
//!   - remove all, one by one, in the order of creation (`remove_us` per decade,
//!     `remove_all_s`);
//!   - concurrency, with no mdev live: for each T of `--threads`, T threads each
//!     make K cycles of create + remove on the vendor's parent at once
//!     (`par_cycles_per_s_tT`: cycles of all threads per second of wall time);
//!     and, for a vendor other than `mdev_test`, the same with the test vendor
//!     loaded too and the threads split between the two parents, half on each
//!     (`par2p_cycles_per_s_tT`, T of 2 or more): whether creates on different
//!     parents wait for each other. Not with `--no-remove-all`;
//!   - for each level up to `--unload-live` (default the last level), fill to it
//!     and unload the vendor (then load it again): `unreg_ms` at that many live.
//!
//! With `--trace`, after the rounds, each core with each vendor traces one create
//! (after one untraced cycle, with no mdev live) with ftrace's function_graph (see
//! trace.rs), printed as `# trace:` lines: one more KTAP test per core and vendor.
//! `--first-round R` numbers the rounds from R (the order follows the numbers), so
//! that the rounds of two runs can be put together.
//!
//! Output: KTAP, one test per core turn and vendor (it fails when an operation
//! fails, never because of a time), with the figures as diagnostics; and each
//! figure as a CSV row in a diagnostic line `# csv: ...` (header first), which
//! tools/testing/bench extracts:
//!
//!   round,core,vendor,metric,live,count,value,unit
//!
//! A vendor's levels above what it can hold (mtty: 23, one port stays free for the
//! cycles) are replaced by the highest it can hold. The console's log level is
//! lowered to warnings while the program runs (a console line costs milliseconds
//! under TCG), and restored at the end; reports still reach the console.

mod kmod;
mod trace;

use mdev_testkit::ktap::Outcome;
use mdev_testkit::ktap::Reporter;
use mdev_testkit::uuid::UuidSource;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use std::time::Instant;

/// An mdev core.
struct Core {
    id: &'static str,
    /// Its name in /sys/module.
    module: &'static str,
    /// Its file under /lib/modules/$(uname -r).
    file: &'static str,
}

static CORES: &[Core] = &[
    Core {
        id: "c",
        module: "mdev",
        file: "kernel/drivers/vfio/mdev/mdev.ko",
    },
    Core {
        id: "rust",
        module: "mdev_rs",
        file: "extra/mdev_rs.ko",
    },
];

/// A vendor driver and the type the benchmark creates.
struct Vendor {
    id: &'static str,
    module: &'static str,
    /// Its file under /lib/modules/$(uname -r): the first of these that exists (the
    /// kernel's C samples are in the kernel's tree on the test kernels, built in the
    /// checkout, under extra/, for Debian's: tools/testing/build-for-distro).
    files: &'static [&'static str],
    /// The type's directory (it has `create`).
    type_dir: &'static str,
    /// The module parameters for `cap` instances of the type.
    params: fn(u64) -> String,
    /// The most instances it can have, whatever its parameters.
    max: Option<u64>,
}

static VENDORS: &[Vendor] = &[
    Vendor {
        id: "mdev_test",
        module: "mdev_test_vendor",
        files: &["extra/mdev_test_vendor.ko"],
        type_dir: "/sys/class/mdev_bus/mdev_test/mdev_supported_types/mdev_test-t0",
        params: |cap| format!("nr_types=1 instances={cap}"),
        max: None,
    },
    Vendor {
        id: "mtty_rs",
        module: "mtty_rs",
        files: &["extra/mtty_rs.ko"],
        type_dir: "/sys/class/mdev_bus/mtty_rs/mdev_supported_types/mtty_rs-1",
        params: |cap| format!("ports={cap}"),
        max: None,
    },
    Vendor {
        id: "mtty",
        module: "mtty",
        files: &["kernel/samples/vfio-mdev/mtty.ko", "extra/mtty.ko"],
        type_dir: "/sys/class/mdev_bus/mtty/mdev_supported_types/mtty-1",
        params: |_| String::new(),
        // MAX_MTTYS in samples/vfio-mdev/mtty.c.
        max: Some(24),
    },
];

struct Options {
    rounds: u32,
    cores: Vec<&'static Core>,
    vendors: Vec<&'static Vendor>,
    levels: Vec<u64>,
    cycles: u32,
    threads: Vec<u32>,
    unload_live: Option<u64>,
    remove_all: bool,
    trace: bool,
    first_round: u32,
    /// The least wait for the memory baseline, seconds (see [`settled_slab`]).
    settle_min_s: u32,
}

fn list<T>(v: &str, each: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    v.split(',').filter(|s| !s.is_empty()).map(each).collect()
}

fn number<T: std::str::FromStr>(v: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("{v:?} is not a number"))
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        rounds: 4,
        cores: CORES.iter().collect(),
        vendors: VENDORS.iter().collect(),
        levels: vec![0, 100, 1000, 10000, 65536],
        cycles: 100,
        threads: vec![1, 2, 4],
        unload_live: None,
        remove_all: true,
        trace: false,
        first_round: 1,
        settle_min_s: 6,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--smoke" => {
                o.rounds = 1;
                o.levels = vec![0, 10, 100];
                o.cycles = 20;
                o.threads = vec![1, 2];
                o.settle_min_s = 1;
            }
            "--rounds" => o.rounds = number(&val()?)?,
            "--cycles" => o.cycles = number(&val()?)?,
            "--threads" => o.threads = list(&val()?, number)?,
            "--levels" => o.levels = list(&val()?, number)?,
            "--unload-live" => o.unload_live = Some(number(&val()?)?),
            "--no-remove-all" => o.remove_all = false,
            "--trace" => o.trace = true,
            "--first-round" => o.first_round = number(&val()?)?,
            "--cores" => {
                o.cores = list(&val()?, |s| {
                    CORES
                        .iter()
                        .find(|c| c.id == s)
                        .ok_or(format!("no core {s:?} (c, rust)"))
                })?
            }
            "--vendors" => {
                o.vendors = list(&val()?, |s| {
                    VENDORS
                        .iter()
                        .find(|v| v.id == s)
                        .ok_or(format!("no vendor {s:?} (mdev_test, mtty_rs, mtty)"))
                })?
            }
            "-h" | "--help" => {
                println!("see the comment at the top of tools/testing/mdev-bench/src/main.rs");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {a:?}")),
        }
    }
    o.levels.sort_unstable();
    o.levels.dedup();
    if o.first_round == 0 {
        return Err("--first-round must be at least 1".into());
    }
    if o.rounds == 0 || o.cores.is_empty() || o.vendors.is_empty() || o.levels.is_empty() {
        return Err("nothing to measure".into());
    }
    if o.cycles == 0 {
        return Err("--cycles must be at least 1".into());
    }
    if o.threads.contains(&0) {
        return Err("--threads: a thread count must be at least 1".into());
    }
    Ok(o)
}

/// Where a figure is printed: a diagnostic and a CSV row.
struct Row<'a> {
    round: u32,
    core: &'a str,
    vendor: &'a str,
}

impl Row<'_> {
    fn emit(&self, metric: &str, live: u64, count: u64, value: f64, unit: &str) {
        println!(
            "# csv: {},{},{},{metric},{live},{count},{value:.3},{unit}",
            self.round, self.core, self.vendor
        );
        let _ = std::io::stdout().flush();
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The upper bound of the decade of live-mdev counts `n` is in: 10 for 0..=9, 100
/// for 10..=99, ...
fn decade(n: u64) -> u64 {
    let mut d = 10;
    while n >= d {
        d *= 10;
    }
    d
}

/// /proc/meminfo's `Slab:` and `SUnreclaim:`, and [`slab_objects`], in bytes.
fn slab() -> Result<[i64; 3], String> {
    let text = fs::read_to_string("/proc/meminfo").map_err(|e| format!("/proc/meminfo: {e}"))?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map(|kb| kb * 1024)
            .ok_or(format!("no {name} in /proc/meminfo"))
    };
    Ok([field("Slab:")?, field("SUnreclaim:")?, slab_objects()?])
}

/// The bytes of the slab objects in use: the sum over /proc/slabinfo's caches of
/// active objects times object size. Unlike `Slab:`, it does not count the empty
/// and partly empty slabs a cache keeps, which an earlier turn can leave behind.
fn slab_objects() -> Result<i64, String> {
    let text = fs::read_to_string("/proc/slabinfo").map_err(|e| format!("/proc/slabinfo: {e}"))?;
    let mut sum = 0;
    // Two header lines, then: name active_objs num_objs objsize ...
    for l in text.lines().skip(2) {
        let f: Vec<&str> = l.split_whitespace().collect();
        let num = |i: usize| {
            f.get(i)
                .and_then(|v| v.parse::<i64>().ok())
                .ok_or(format!("/proc/slabinfo: cannot read {l:?}"))
        };
        sum += num(1)? * num(3)?;
    }
    Ok(sum)
}

/// [`slab`] once the slab objects in use have stopped shrinking: the baseline of a
/// turn. A turn's teardown can free much of what it had for seconds after it
/// (in a full run on Debian's kernel, about 39 MB, 3.9 kB per mdev of the
/// previous turns' 10,000, went during the next turn's first fill when the
/// baseline was taken after a fixed 2 s), so this waits at least `min_s` seconds
/// (6, 1 with `--smoke`) and until three readings a second apart differ by less
/// than 64 kB, at most 30 s.
fn settled_slab(min_s: u32) -> Result<[i64; 3], String> {
    let mut last = slab()?;
    let mut stable = 0;
    for i in 0..30 {
        std::thread::sleep(Duration::from_secs(1));
        let now = slab()?;
        stable = if (now[2] - last[2]).abs() < 64 * 1024 {
            stable + 1
        } else {
            0
        };
        last = now;
        if i + 1 >= min_s && stable >= 2 {
            break;
        }
    }
    Ok(last)
}

fn write(path: &Path, what: &str) -> Result<(), String> {
    fs::write(path, what).map_err(|e| format!("write {what:?} to {}: {e}", path.display()))
}

static UUIDS: UuidSource = UuidSource::new("b3c4e5f6-0000-4000-8000-", 0);

/// The mdevs of one vendor's turn.
#[derive(Clone)]
struct Mdevs {
    create: PathBuf,
}

impl Mdevs {
    fn create(&self) -> Result<String, String> {
        let uuid = UUIDS.fresh();
        write(&self.create, &uuid)?;
        Ok(uuid)
    }

    fn remove(uuid: &str) -> Result<(), String> {
        write(
            &Path::new("/sys/bus/mdev/devices").join(uuid).join("remove"),
            "1",
        )
    }
}

/// Per-decade sums of operation times.
#[derive(Default)]
struct Decades(Vec<(u64, u64, Duration)>);

impl Decades {
    fn add(&mut self, live: u64, d: Duration) {
        let k = decade(live);
        match self.0.iter_mut().find(|e| e.0 == k) {
            Some(e) => {
                e.1 += 1;
                e.2 += d;
            }
            None => self.0.push((k, 1, d)),
        }
    }

    fn emit(&self, row: &Row<'_>, metric: &str) {
        let mut v = self.0.clone();
        v.sort_unstable();
        for (k, n, d) in v {
            row.emit(metric, k, n, micros(d) / n as f64, "us");
        }
    }
}

/// T threads, each making `cycles` cycles of create + remove at once, thread i on
/// `parents[i % parents.len()]`: cycles of all threads per second of wall time.
fn parallel_cycles(parents: &[Mdevs], threads: u32, cycles: u32) -> Result<f64, String> {
    let start = std::sync::Barrier::new(threads as usize + 1);
    std::thread::scope(|s| -> Result<f64, String> {
        let workers: Vec<_> = (0..threads as usize)
            .map(|i| {
                let m = parents[i % parents.len()].clone();
                let start = &start;
                s.spawn(move || -> Result<(), String> {
                    start.wait();
                    for _ in 0..cycles {
                        let uuid = m.create()?;
                        Mdevs::remove(&uuid)?;
                    }
                    Ok(())
                })
            })
            .collect();
        start.wait();
        let t = Instant::now();
        for w in workers {
            w.join()
                .map_err(|_| "a benchmark thread panicked".to_string())??;
        }
        Ok(f64::from(threads) * f64::from(cycles) / t.elapsed().as_secs_f64())
    })
}

/// The concurrency figures of one vendor's turn (its parent with no mdev live).
fn concurrency(o: &Options, row: &Row<'_>, v: &Vendor, mdevs: &Mdevs) -> Result<(), String> {
    for &t in &o.threads {
        let rate = parallel_cycles(std::slice::from_ref(mdevs), t, o.cycles)?;
        row.emit(
            &format!("par_cycles_per_s_t{t}"),
            0,
            t.into(),
            rate,
            "per_s",
        );
        Reporter::diag(&format!(
            "{} {} {t} thread(s) on one parent: {rate:.1} cycles/s",
            row.core, row.vendor
        ));
    }
    let Some(test) = VENDORS.iter().find(|w| w.id == "mdev_test") else {
        return Ok(());
    };
    if v.id == test.id || !o.threads.iter().any(|&t| t >= 2) {
        return Ok(());
    }
    if kmod::loaded(test.module) {
        return Err(format!("{} is loaded already", test.module));
    }
    let cap = u64::from(*o.threads.iter().max().unwrap_or(&1)) + 8;
    kmod::load(&kmod::find(test.files)?, &(test.params)(cap))?;
    let other = Mdevs {
        create: Path::new(test.type_dir).join("create"),
    };
    let result = (|| -> Result<(), String> {
        for &t in o.threads.iter().filter(|&&t| t >= 2) {
            let rate = parallel_cycles(&[mdevs.clone(), other.clone()], t, o.cycles)?;
            row.emit(
                &format!("par2p_cycles_per_s_t{t}"),
                0,
                t.into(),
                rate,
                "per_s",
            );
            Reporter::diag(&format!(
                "{} {} {t} threads on two parents ({} and {}): {rate:.1} cycles/s",
                row.core, row.vendor, v.id, test.id
            ));
        }
        Ok(())
    })();
    let unloaded = kmod::unload(test.module);
    result?;
    unloaded
}

/// One vendor's turn on the loaded core.
fn vendor_turn(o: &Options, row: &Row<'_>, v: &Vendor) -> Result<(), String> {
    // The levels it can hold with one more mdev for the cycles.
    let mut levels: Vec<u64> = o.levels.clone();
    if let Some(max) = v.max {
        let top = max - 1;
        if levels.iter().any(|&l| l > top) {
            levels.retain(|&l| l < top);
            levels.push(top);
        }
    }
    let last = *levels.last().unwrap_or(&0);
    let unload_live = o.unload_live.unwrap_or(last).min(last);
    // One more for the cycles, and a few spare should a release come late.
    let cap = last + 8;
    let file = kmod::find(v.files)?;
    let params = (v.params)(cap);
    let mdevs = Mdevs {
        create: Path::new(v.type_dir).join("create"),
    };
    if kmod::loaded(v.module) {
        return Err(format!("{} is loaded already", v.module));
    }

    // The parent's unregistration with no mdev.
    kmod::load(&file, &params)?;
    let t = Instant::now();
    kmod::unload(v.module)?;
    row.emit("unreg_ms", 0, 1, t.elapsed().as_secs_f64() * 1e3, "ms");
    kmod::load(&file, &params)?;
    if !mdevs.create.exists() {
        return Err(format!(
            "{} loaded, but no {}",
            v.module,
            mdevs.create.display()
        ));
    }

    let result: Result<u64, String> = (|| {
        // What the previous turn's teardown freed late (RCU callbacks, kobject
        // releases) is not in the baseline when it has had time to go.
        let slab0 = settled_slab(o.settle_min_s)?;
        let mut live: Vec<String> = Vec::new();
        let mut fill = Decades::default();
        let mut fill_time = Duration::ZERO;
        for &level in &levels {
            while (live.len() as u64) < level {
                let n = live.len() as u64;
                let t = Instant::now();
                let uuid = mdevs.create()?;
                let d = t.elapsed();
                fill.add(n, d);
                fill_time += d;
                live.push(uuid);
            }
            if level > 0 {
                // Signed: at small counts the caches' own ups and downs can win.
                let now = slab()?;
                for (i, metric) in ["slab_per_mdev", "sunreclaim_per_mdev", "slab_objs_per_mdev"]
                    .iter()
                    .enumerate()
                {
                    let grown = (now[i] - slab0[i]) as f64;
                    row.emit(metric, level, level, grown / level as f64, "B");
                }
            }
            // One cycle untimed first: the first create after a load or a fill
            // also pays for what the caches have not warmed yet.
            let uuid = mdevs.create()?;
            Mdevs::remove(&uuid)?;
            let mut each = Vec::with_capacity(o.cycles as usize);
            for _ in 0..o.cycles {
                let t = Instant::now();
                let uuid = mdevs.create()?;
                Mdevs::remove(&uuid)?;
                each.push(t.elapsed());
            }
            let total: Duration = each.iter().sum();
            each.sort_unstable();
            let mean = micros(total) / f64::from(o.cycles);
            let median = micros(each[each.len() / 2]);
            row.emit("cycle_us", level, o.cycles.into(), mean, "us");
            row.emit("cycle_median_us", level, o.cycles.into(), median, "us");
            Reporter::diag(&format!(
                "{} {} at {level} live: create+remove {mean:.0} us (median {median:.0} us)",
                row.core, row.vendor
            ));
        }
        fill.emit(row, "create_us");
        if last > 0 {
            let rate = last as f64 / fill_time.as_secs_f64();
            row.emit("fill_rate", last, last, rate, "per_s");
            Reporter::diag(&format!(
                "{} {} fill 0 to {last}: {rate:.1} creates/s",
                row.core, row.vendor
            ));
        }

        if o.remove_all && !live.is_empty() {
            let mut rm = Decades::default();
            let all = Instant::now();
            for (i, uuid) in live.iter().enumerate() {
                let left = (live.len() - i - 1) as u64;
                let t = Instant::now();
                Mdevs::remove(uuid)?;
                rm.add(left, t.elapsed());
            }
            let secs = all.elapsed().as_secs_f64();
            row.emit("remove_all_s", last, last, secs, "s");
            rm.emit(row, "remove_us");
            Reporter::diag(&format!(
                "{} {} remove all {last} one by one: {secs:.3} s",
                row.core, row.vendor
            ));
            live.clear();
        }
        if live.is_empty() {
            concurrency(o, row, v, &mdevs)?;
        }
        // The parent's unregistration at each level below `--unload-live`: fill,
        // unload (timed), load again; the last one is after this closure.
        for &level in levels.iter().filter(|&&l| l > 0 && l < unload_live) {
            while (live.len() as u64) < level {
                live.push(mdevs.create()?);
            }
            let t = Instant::now();
            kmod::unload(v.module)?;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            live.clear();
            row.emit("unreg_ms", level, 1, ms, "ms");
            Reporter::diag(&format!(
                "{} {} unregistration with {level} live: {ms:.1} ms",
                row.core, row.vendor
            ));
            kmod::load(&file, &params)?;
        }
        while (live.len() as u64) < unload_live {
            live.push(mdevs.create()?);
        }
        Ok(live.len() as u64)
    })();

    // The parent's unregistration with what is live (also after a failure: the
    // unload removes the mdevs).
    let t = Instant::now();
    let unloaded = kmod::unload(v.module);
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let n = result?;
    unloaded?;
    row.emit("unreg_ms", n, 1, ms, "ms");
    Reporter::diag(&format!(
        "{} {} unregistration with {n} live: {ms:.1} ms",
        row.core, row.vendor
    ));
    Ok(())
}

/// Loads `core` (unless an earlier core stayed loaded: then every turn fails with
/// why), runs `turn` for each vendor as the result `PREFIX_CORE_VENDOR`, and unloads
/// the core again, since the next core cannot load next to it; a core that stays
/// loaded breaks every later turn.
fn core_turns(
    core: &Core,
    vendors: &[&'static Vendor],
    broken: &mut Option<String>,
    rep: &mut Reporter,
    prefix: &str,
    mut turn: impl FnMut(&Vendor) -> Result<(), String>,
) {
    let loaded = match broken {
        Some(why) => Err(why.clone()),
        None => kmod::path(core.file).and_then(|f| kmod::load(&f, "")),
    };
    for v in vendors {
        let outcome = match &loaded {
            Err(e) => Outcome::Fail(format!("the {} core: {e}", core.id)),
            Ok(()) => match turn(v) {
                Ok(()) => Outcome::Pass,
                Err(e) => Outcome::Fail(e),
            },
        };
        rep.result(&format!("{prefix}_{}_{}", core.id, v.id), outcome);
    }
    if loaded.is_ok() {
        if let Err(e) = kmod::unload(core.module) {
            *broken = Some(format!("the {} core stayed loaded: {e}", core.id));
        }
    }
}

/// The trace of one create on the loaded core with vendor `v` (`--trace`): the
/// vendor loaded with a few instances, one untraced cycle, one traced create.
fn trace_turn(core: &Core, v: &Vendor) -> Result<(), String> {
    let file = kmod::find(v.files)?;
    if kmod::loaded(v.module) {
        return Err(format!("{} is loaded already", v.module));
    }
    kmod::load(&file, &(v.params)(8))?;
    let mdevs = Mdevs {
        create: Path::new(v.type_dir).join("create"),
    };
    let result = (|| -> Result<(), String> {
        let uuid = mdevs.create()?;
        Mdevs::remove(&uuid)?;
        let uuid = trace::create_graph(core.id, v.id, || mdevs.create())?;
        Mdevs::remove(&uuid)
    })();
    let unloaded = kmod::unload(v.module);
    result?;
    unloaded
}

/// Lowers the console's log level to warnings; restores it when dropped.
struct QuietConsole(Option<String>);

impl QuietConsole {
    fn new() -> Self {
        let p = "/proc/sys/kernel/printk";
        let old = fs::read_to_string(p).ok();
        if let Some(old) = &old {
            let rest: Vec<&str> = old.split_whitespace().skip(1).collect();
            let _ = fs::write(p, format!("5 {}", rest.join(" ")));
        }
        QuietConsole(old)
    }
}

impl Drop for QuietConsole {
    fn drop(&mut self) {
        if let Some(old) = &self.0 {
            let _ = fs::write("/proc/sys/kernel/printk", old.trim_end());
        }
    }
}

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("mdev-bench: {e}");
            return ExitCode::from(2);
        }
    };
    for c in CORES {
        if kmod::loaded(c.module) {
            eprintln!(
                "mdev-bench: the {} core ({}) is loaded: boot with --core none",
                c.id, c.module
            );
            return ExitCode::from(2);
        }
    }
    let _quiet = QuietConsole::new();
    let turns = o.cores.len() * o.vendors.len();
    let mut rep = Reporter::new(o.rounds as usize * turns + if o.trace { turns } else { 0 });
    Reporter::diag(&format!(
        "mdev-bench: rounds {} levels {:?} cycles {} vendors {:?}",
        o.rounds,
        o.levels,
        o.cycles,
        o.vendors.iter().map(|v| v.id).collect::<Vec<_>>()
    ));
    println!("# csv: round,core,vendor,metric,live,count,value,unit");
    let started = Instant::now();
    let mut broken: Option<String> = None;
    for round in o.first_round..o.first_round + o.rounds {
        let mut order = o.cores.clone();
        if round % 2 == 0 {
            order.reverse();
        }
        for core in order {
            core_turns(
                core,
                &o.vendors,
                &mut broken,
                &mut rep,
                &format!("r{round}"),
                |v| {
                    let row = Row {
                        round,
                        core: core.id,
                        vendor: v.id,
                    };
                    vendor_turn(&o, &row, v)
                },
            );
        }
    }
    // The traces last: enabling and disabling the tracer patches the kernel's
    // text, after which QEMU translates that code again, which would slow the
    // timed operations that came next.
    if o.trace {
        for &core in &o.cores {
            core_turns(core, &o.vendors, &mut broken, &mut rep, "trace", |v| {
                trace_turn(core, v)
            });
        }
    }
    Reporter::diag(&format!(
        "mdev-bench: {:.1} s in all",
        started.elapsed().as_secs_f64()
    ));
    if rep.finish() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
