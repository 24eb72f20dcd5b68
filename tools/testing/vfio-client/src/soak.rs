// SPDX-License-Identifier: GPL-2.0
//! mdev-soak: random interleavings of everything a user can do to mdevs, on several
//! threads at once, on two parents, for a given time or number of operations, with
//! the invariants checked after each round.
//!
//! Each thread picks operations at random on a small UUID space shared by all
//! threads and both parents, so that they collide: create, remove, unbind, bind,
//! reads of type and mdev attributes, reads and writes of the vendor attribute,
//! VFIO open and close (group/container or cdev/iommufd) of the Rust sample's mdevs,
//! and unloading and reloading a vendor (refused while one of its devices is open).
//! Every result must be one the documented semantics allow in its situation
//! (`soak/ops.rs`); anything else stops the soak with a message that says what was
//! done and what came back. After each round, with every thread stopped, the
//! invariants of `soak/check.rs` must hold: nothing orphaned, counts exact, every
//! UUID reusable. A kernel report logged during a round fails it too (and the VM
//! runner fails the run).
//!
//! Most operations are aimed where they can take effect, from what earlier results
//! said of each UUID (`soak/ops.rs`, `Hint`); the rest are aimed at random, so that
//! they also meet mdevs that are gone, not yet there or going away.
//!
//! The seed is printed: a run with the same seed makes the same random draws on each
//! thread; what they pick also depends on earlier results, and the interleavings are
//! the kernel's and the scheduler's.
//!
//! On the C core some operations meet known faults of the reference
//! (Documentation/testing.rst, "Known bugs of the reference"); they are avoided
//! there, with the reason printed, unless `--known-faults` is given.
//!
//! Usage: mdev-soak [--duration S] [--ops N] [--threads N] [--seed N]
//!                  [--parents ID,ID] [--uuids N] [--round S] [--hold-us N]
//!                  [--known-faults]
//!   --duration S    run the rounds for S seconds in all, the checks between them
//!                   not counted (default 30 unless --ops is given)
//!   --ops N         stop after N operations (with --duration: whichever comes first)
//!   --threads N     worker threads (default 4)
//!   --seed N        the seed (default: from the clock), printed either way
//!   --parents L     the vendors, comma-separated: mtty_rs, mdev_test (default both)
//!   --uuids N       size of the UUID space (default 64); the parents are loaded
//!                   with 4 times as many ports or instances
//!   --round S       length of a round in seconds (default 60; on the debug kernel
//!                   the check after a round takes 10-30 s, for the late releases)
//!   --hold-us N     the longest a VFIO open is held, in microseconds (default 2000)
//!   --known-faults  do on the C core what meets its known faults too
//!
//! Output is KTAP (setup, soak, teardown) with the statistics as diagnostics:
//! operations per second overall and per kind, and each kind's results by errno.

#[path = "soak/check.rs"]
mod check;
#[allow(dead_code)]
mod fixture;
#[path = "soak/ops.rs"]
mod ops;
#[path = "soak/parents.rs"]
mod parents;
#[allow(dead_code)]
mod sys;
// The soak uses only some of the client's ABI.
#[allow(dead_code, unused_imports)]
mod uapi;
#[allow(dead_code)]
mod vfio;

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::sync::RwLock;
use std::time::Duration;
use std::time::Instant;
use std::time::SystemTime;

use mdev_testkit::kmsg;
use mdev_testkit::kmsg::KernelLog;
use mdev_testkit::ktap::Outcome;
use mdev_testkit::ktap::Reporter;
use ops::Kind;
use ops::Shared;
use ops::Worker;
use parents::ParentDef;

/// How long a round may overrun its length before it is taken for a deadlock: an
/// operation blocks at most while a VFIO user holds a device (milliseconds), or while
/// an unregistration waits for delayed releases (seconds).
const ROUND_GRACE: Duration = Duration::from_secs(180);

struct Options {
    duration: Option<u64>,
    ops: Option<u64>,
    threads: usize,
    seed: u64,
    parents: Vec<&'static ParentDef>,
    uuids: usize,
    round: u64,
    hold_us: u64,
    known_faults: bool,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        % 1_000_000_000;
    let mut o = Options {
        duration: None,
        ops: None,
        threads: 4,
        seed,
        parents: parents::PARENTS.iter().collect(),
        uuids: 64,
        round: 60,
        hold_us: 2000,
        known_faults: std::env::var_os("MDEV_RUN_KNOWN_FAULTS").is_some_and(|v| !v.is_empty()),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        let mut number = |what: &str| -> Result<u64, String> {
            let v = value()?;
            v.parse()
                .map_err(|_| format!("{what}: {v:?} is not a number"))
        };
        match a.as_str() {
            "--duration" => o.duration = Some(number(a)?),
            "--ops" => o.ops = Some(number(a)?),
            "--threads" => o.threads = number(a)? as usize,
            "--seed" => o.seed = number(a)?,
            "--uuids" => o.uuids = number(a)? as usize,
            "--round" => o.round = number(a)?,
            "--hold-us" => o.hold_us = number(a)?,
            "--known-faults" => o.known_faults = true,
            "--parents" => {
                let v = value()?;
                o.parents = v
                    .split(',')
                    .map(|id| parents::find(id).ok_or(format!("unknown parent {id:?}")))
                    .collect::<Result<_, _>>()?;
            }
            _ => return Err(format!("unknown argument {a:?}")),
        }
    }
    if o.duration.is_none() && o.ops.is_none() {
        o.duration = Some(30);
    }
    if o.threads == 0 || o.uuids == 0 || o.round == 0 || o.parents.is_empty() {
        return Err("--threads, --uuids, --round and --parents must not be zero or empty".into());
    }
    Ok(o)
}

/// Per kind: how many, how many succeeded, the errnos, and the time spent in them.
#[derive(Default, Clone)]
struct KindStats {
    count: u64,
    ok: u64,
    errnos: BTreeMap<&'static str, u64>,
    busy: Duration,
}

type Stats = BTreeMap<Kind, KindStats>;

fn merge(into: &mut Stats, from: &Stats) {
    for (k, s) in from {
        let d = into.entry(*k).or_default();
        d.count += s.count;
        d.ok += s.ok;
        d.busy += s.busy;
        for (e, n) in &s.errnos {
            *d.errnos.entry(e).or_default() += n;
        }
    }
}

/// One worker thread's round.
fn work(sh: &Shared, id: usize, seed: u64, deadline: Instant) -> Stats {
    let mut w = Worker {
        sh,
        rng: ops::Rng::new(seed),
        id,
    };
    let mut stats = Stats::new();
    while !sh.stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        let n = sh.ops.fetch_add(1, Ordering::SeqCst);
        if sh.max_ops.is_some_and(|m| n >= m) {
            break;
        }
        let t0 = Instant::now();
        let (kind, r) = w.step();
        let s = stats.entry(kind).or_default();
        s.count += 1;
        s.busy += t0.elapsed();
        match r {
            Ok(None) => s.ok += 1,
            Ok(Some(e)) => *s.errnos.entry(e.name()).or_default() += 1,
            Err(msg) => {
                sh.fail(format!("thread {id}, operation {n}: {msg}"));
                break;
            }
        }
    }
    if let Ok(mut d) = sh.doing[id].lock() {
        d.clear();
    }
    stats
}

/// The reasons the C core cannot take some operations, or `None` on the Rust core.
struct Avoided {
    concurrent_reload: Option<&'static str>,
    test_vendor_unload: Option<&'static str>,
}

const C_REMOVE_VS_UNREGISTER: &str = "on the C core a remove racing the parent's unregistration is a use-after-free (remove_store reads the mdev after device_remove_file_self() let mdev_unregister_parent() free it; Documentation/testing.rst, Known bugs of the reference): vendors are unloaded and reloaded between rounds, with the round's mdevs still live, not while the threads run";
const C_FREES_TYPES: &str = "on the C core mdev_test_vendor is not unloaded: it frees its types when mdev_unregister_parent() returns, which the C core does before the releases of the types and mdevs that read them (lifetime.c_vendor_frees_types, a known fault of the reference)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("mdev-soak: {e}");
            return ExitCode::from(2);
        }
    };
    let rust_core = Path::new("/sys/module/mdev_rs").exists();
    let avoided = if rust_core || o.known_faults {
        Avoided {
            concurrent_reload: None,
            test_vendor_unload: None,
        }
    } else {
        Avoided {
            concurrent_reload: Some(C_REMOVE_VS_UNREGISTER),
            test_vendor_unload: Some(C_FREES_TYPES),
        }
    };
    parents::set_capacity(
        u32::try_from(o.uuids.saturating_mul(4))
            .unwrap_or(u32::MAX)
            .max(24),
    );
    let uuid = |i: usize| format!("50ac0000-0000-4000-8000-{:012x}", i + 1);
    let uuids: Vec<String> = (0..o.uuids).map(uuid).collect();
    let mut next_uuid = o.uuids;
    let n = o.parents.len();
    let sh = Shared {
        parents: o.parents.clone(),
        uuids: RwLock::new(uuids),
        gens: (0..n).map(|_| AtomicU64::new(0)).collect(),
        reload_locks: (0..n).map(|_| Mutex::new(())).collect(),
        // The first reloads half a round and a round in (staggered), then spaced.
        next_reload: (0..n)
            .map(|p| Mutex::new(Instant::now() + Duration::from_secs(o.round) * (p as u32 + 1) / 2))
            .collect(),
        concurrent_reload: avoided.concurrent_reload.is_none(),
        reloadable: o
            .parents
            .iter()
            .map(|p| !(p.id == "mdev_test" && avoided.test_vendor_unload.is_some()))
            .collect(),
        ops: AtomicU64::new(0),
        max_ops: o.ops,
        stop: AtomicBool::new(false),
        failure: Mutex::new(None),
        doing: (0..o.threads).map(|_| Mutex::new(String::new())).collect(),
        hold_us: o.hold_us,
        c_core: !rust_core,
        stranded: Mutex::new(BTreeSet::new()),
        strandings: AtomicU64::new(0),
        hints: Mutex::new(BTreeMap::new()),
    };

    let mut report = Reporter::new(3);
    Reporter::diag(&format!(
        "seed {} ({} threads, {} UUIDs, parents {}, core {}, {}); replay with --seed {}",
        o.seed,
        o.threads,
        o.uuids,
        o.parents.iter().map(|p| p.id).collect::<Vec<_>>().join(","),
        if rust_core { "mdev_rs" } else { "C mdev" },
        match (o.duration, o.ops) {
            (Some(d), Some(n)) => format!("{d} s or {n} operations"),
            (Some(d), None) => format!("{d} s"),
            (None, Some(n)) => format!("{n} operations"),
            (None, None) => String::from("no limit"),
        },
        o.seed
    ));
    for why in [avoided.concurrent_reload, avoided.test_vendor_unload]
        .into_iter()
        .flatten()
    {
        Reporter::diag(&format!("avoided: {why}"));
    }
    let mut klog = KernelLog::watch();
    kmsg::mark(&format!("seed {}", o.seed));

    // 1. Both vendors loaded with the soak's parameters, nothing alive.
    let setup = || -> Result<(), String> {
        for p in &sh.parents {
            if p.is_loaded() {
                sys::delete_module(p.module, libc::O_NONBLOCK)
                    .map_err(|e| format!("unloading {} first: {e}", p.module))?;
            }
            p.load()?;
        }
        let live = fixture::live_mdevs();
        if !live.is_empty() {
            return Err(format!("mdevs alive at start: {live:?}"));
        }
        for p in &sh.parents {
            let got = p.available()?;
            if got != p.baseline() {
                return Err(format!(
                    "{} available_instances at start: {got:?}, want {:?}",
                    p.name,
                    p.baseline()
                ));
            }
        }
        Ok(())
    };
    let setup_ok = match setup() {
        Ok(()) => {
            report.result("setup", Outcome::Pass);
            true
        }
        Err(e) => {
            report.result("setup", Outcome::Fail(e));
            false
        }
    };

    // 2. The rounds.
    let mut total = Stats::new();
    let mut in_rounds = Duration::ZERO;
    let started = Instant::now();
    let mut rounds = 0u64;
    let mut soak_fail: Option<String> = None;
    while setup_ok && soak_fail.is_none() {
        // The duration counts the rounds, not the checks between them.
        let elapsed = in_rounds;
        let left = o
            .duration
            .map(|d| Duration::from_secs(d).saturating_sub(elapsed));
        if left.is_some_and(|l| l.is_zero())
            || o.ops.is_some_and(|m| sh.ops.load(Ordering::SeqCst) >= m)
        {
            break;
        }
        rounds += 1;
        let len = Duration::from_secs(o.round).min(left.unwrap_or(Duration::MAX));
        let t0 = Instant::now();
        let deadline = t0 + len;
        let ops_before = sh.ops.load(Ordering::SeqCst).min(o.ops.unwrap_or(u64::MAX));
        let done = AtomicUsize::new(0);
        let mut round_stats = Stats::new();
        let mut hung: Option<String> = None;
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..o.threads)
                .map(|id| {
                    let (sh, done) = (&sh, &done);
                    let seed = o.seed ^ (rounds << 32) ^ ((id as u64 + 1) << 48);
                    s.spawn(move || {
                        let st = work(sh, id, seed, deadline);
                        done.fetch_add(1, Ordering::SeqCst);
                        st
                    })
                })
                .collect();
            // A round that does not end is a deadlock: say what each thread is doing.
            while done.load(Ordering::SeqCst) < o.threads {
                if t0.elapsed() > len + ROUND_GRACE && hung.is_none() {
                    let doing: Vec<String> = sh
                        .doing
                        .iter()
                        .enumerate()
                        .filter_map(|(i, d)| {
                            let d = d.lock().map(|d| d.clone()).unwrap_or_default();
                            (!d.is_empty()).then(|| format!("thread {i}: {d}"))
                        })
                        .collect();
                    let msg = format!(
                        "round {rounds} has not ended {} s after its end: {}",
                        ROUND_GRACE.as_secs(),
                        doing.join("; ")
                    );
                    // Nothing can be reported once the stuck threads are joined.
                    Reporter::diag(&msg);
                    println!("not ok 2 soak");
                    println!("ok 3 teardown # SKIP the soak is stuck");
                    Reporter::closing_lines(1, 1, 1);
                    std::process::exit(1);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            for h in handles {
                match h.join() {
                    Ok(st) => merge(&mut round_stats, &st),
                    Err(_) => hung = Some("a worker thread panicked".into()),
                }
            }
        });
        let round_time = t0.elapsed();
        in_rounds += round_time;
        merge(&mut total, &round_stats);
        let round_ops: u64 = round_stats.values().map(|s| s.count).sum();
        if let Some(h) = hung {
            soak_fail = Some(h);
            break;
        }
        if let Some(f) = sh.failure.lock().ok().and_then(|f| f.clone()) {
            soak_fail = Some(format!("round {rounds}: {f}"));
            break;
        }
        // On the C core the vendors are unloaded between rounds instead, once the
        // round's mdevs have been checked.
        let mut reloads = KindStats::default();
        let mut between = || -> Result<(), String> {
            if sh.concurrent_reload {
                return Ok(());
            }
            for p in 0..sh.parents.len() {
                if !sh.reloadable[p] {
                    continue;
                }
                let t = Instant::now();
                sh.reload(p, false)
                    .map_err(|e| format!("between rounds: {e}"))?;
                reloads.count += 1;
                reloads.ok += 1;
                reloads.busy += t.elapsed();
            }
            Ok(())
        };
        let c0 = Instant::now();
        let stranded = sh.stranded.lock().map(|s| s.clone()).unwrap_or_default();
        let space = sh.uuids.read().map(|u| u.clone()).unwrap_or_default();
        let checked = check::round_end(&sh.parents, &space, rounds, &stranded, &mut between);
        merge(&mut total, &BTreeMap::from([(Kind::Reload, reloads)]));
        let seen = match checked {
            Ok(s) => s,
            Err(e) => {
                soak_fail = Some(format!("round {rounds}, invariants: {e}"));
                break;
            }
        };
        // Stranded mdevs that are gone (their vendor was reloaded) are free again;
        // the UUIDs of those that stay are replaced in the space.
        let live = fixture::live_mdevs();
        if let (Ok(mut s), Ok(mut space)) = (sh.stranded.lock(), sh.uuids.write()) {
            s.retain(|u| live.contains(u));
            for u in space.iter_mut() {
                if s.contains(u) {
                    *u = uuid(next_uuid);
                    next_uuid += 1;
                }
            }
        }
        let reports = klog.new_reports();
        if !reports.is_empty() {
            soak_fail = Some(format!(
                "round {rounds}: kernel reports:\n{}",
                reports.join("\n")
            ));
            break;
        }
        Reporter::diag(&format!(
            "round {rounds}: {round_ops} operations in {:.1} s ({:.0}/s), {} mdevs live at its end ({} unbound, {} stranded), checked in {:.1} s (longest wait for releases {:.1} s); {} operations so far",
            round_time.as_secs_f64(),
            round_ops as f64 / round_time.as_secs_f64().max(1e-9),
            seen.live,
            seen.unbound,
            seen.stranded,
            c0.elapsed().as_secs_f64(),
            seen.waited.as_secs_f64(),
            sh.ops.load(Ordering::SeqCst).min(ops_before + round_ops),
        ));
    }
    if setup_ok {
        match soak_fail {
            None => report.result("soak", Outcome::Pass),
            Some(f) => report.result(
                "soak",
                Outcome::Fail(format!(
                    "{f}\n(seed {}: replay with --seed {})",
                    o.seed, o.seed
                )),
            ),
        }
    } else {
        report.result("soak", Outcome::Skip("the setup failed".into()));
    }

    // The statistics.
    let all: u64 = total.values().map(|s| s.count).sum();
    let secs = in_rounds.as_secs_f64().max(1e-9);
    Reporter::diag(&format!(
        "{all} operations in {rounds} rounds: {:.1} s of rounds, {:.0} operations/s; {:.1} s in all with the checks, {:.0} operations/s",
        secs,
        all as f64 / secs,
        started.elapsed().as_secs_f64(),
        all as f64 / started.elapsed().as_secs_f64().max(1e-9)
    ));
    for (k, s) in &total {
        let errnos: Vec<String> = s.errnos.iter().map(|(e, n)| format!("{e} {n}")).collect();
        Reporter::diag(&format!(
            "{:18} {:8} ({:6.1}/s, {:7.2} ms each): ok {}{}{}",
            k.name(),
            s.count,
            s.count as f64 / secs,
            s.busy.as_secs_f64() * 1000.0 / s.count.max(1) as f64,
            s.ok,
            if errnos.is_empty() { "" } else { ", " },
            errnos.join(", ")
        ));
    }

    let strandings = sh.strandings.load(Ordering::SeqCst);
    if strandings > 0 {
        Reporter::diag(&format!(
            "known fault of the reference: {strandings} removes on the C core got EAGAIN (the create of the same UUID was still running) after deleting the mdev's remove file, which stranded the mdev until its vendor was unloaded (Documentation/design.rst, \"A refused remove keeps the remove file\")"
        ));
    }

    // 3. Teardown: every vendor unloads (removing what is left), nothing remains.
    let mut teardown = || -> Result<(), String> {
        for (i, p) in sh.parents.iter().enumerate() {
            if !sh.reloadable[i] {
                continue;
            }
            if p.is_loaded() {
                sys::delete_module(p.module, libc::O_NONBLOCK)
                    .map_err(|e| format!("unloading {}: {e}", p.module))?;
            }
        }
        let live = fixture::live_mdevs();
        if !live.is_empty() && sh.reloadable.iter().all(|r| *r) {
            return Err(format!("mdevs left after unloading every vendor: {live:?}"));
        }
        let reports = klog.new_reports();
        if !reports.is_empty() {
            return Err(format!("kernel reports:\n{}", reports.join("\n")));
        }
        Ok(())
    };
    match teardown() {
        Ok(()) => report.result("teardown", Outcome::Pass),
        Err(e) => report.result("teardown", Outcome::Fail(e)),
    }
    if report.finish() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
