// SPDX-License-Identifier: GPL-2.0
//! Parent unregistration (unloading the vendor module) and what races with it.
//!
//! These are the races of the 2019 `unreg_sem` series: create or remove running on
//! other CPUs while the parent goes away must either complete or fail with an error,
//! never leave a device under a gone parent or an instance unaccounted for.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::Barrier;

use crate::check;
use crate::check_eq;
use crate::fixture;
use crate::fixture::Vendor;
use crate::sysfs;
use crate::sysfs::Errno;
use crate::sysfs::WriteResult;
use crate::Ctx;
use crate::Test;
use crate::TestResult;

pub const TESTS: &[Test] = &[
    Test {
        name: "unregister_idle",
        run: idle,
    },
    Test {
        name: "unregister_removes_all",
        run: removes_all,
    },
    Test {
        name: "unregister_stale_create_fd",
        run: stale_create_fd,
    },
    Test {
        name: "unregister_race_create",
        run: race_create,
    },
    Test {
        name: "unregister_race_remove",
        run: race_remove,
    },
    Test {
        name: "unregister_other_parent_unaffected",
        run: other_parent_unaffected,
    },
];

/// After an unload: nothing of the parent is left anywhere.
fn check_gone(v: &Vendor, what: &str) -> TestResult {
    check!(!v.is_loaded(), "{what}: {} is still loaded", v.p.module);
    check!(
        !sysfs::exists(&v.parent_dir()),
        "{what}: {} is still there",
        v.parent_dir().display()
    );
    check!(
        !sysfs::exists(std::path::Path::new(v.p.parent_devpath)),
        "{what}: {} is still there",
        v.p.parent_devpath
    );
    let left: Vec<String> = fixture::live_mdevs();
    check!(
        left.is_empty(),
        "{what}: mdevs left on the bus under a gone parent: {left:?}"
    );
    Ok(())
}

/// After a reload: the parent is back as it was on first load.
fn check_back(ctx: &Ctx, what: &str) -> TestResult {
    ctx.vendor.load().map_err(|e| format!("{what}: {e}"))?;
    check_eq!(
        ctx.vendor.available_all()?,
        ctx.baseline.clone(),
        "{what}: available_instances after reload"
    );
    for t in ctx.vendor.p.types {
        check_eq!(
            sysfs::list(&ctx.vendor.type_dir(t).join("devices")),
            Vec::<String>::new(),
            "{what}: {}/devices after reload",
            t.dir
        );
    }
    Ok(())
}

fn idle(ctx: &Ctx) -> TestResult {
    for round in 0..3 {
        ctx.vendor.unload()?;
        check_gone(&ctx.vendor, &format!("round {round}"))?;
        check_back(ctx, &format!("round {round}"))?;
    }
    Ok(())
}

fn removes_all(ctx: &Ctx) -> TestResult {
    let mut made = Vec::new();
    for t in ctx.vendor.p.types {
        for _ in 0..2.min(ctx.vendor.available(t)?) {
            let u = ctx.uuids.fresh();
            ctx.vendor.must_create(t, &u)?;
            made.push(u);
        }
    }
    check_eq!(
        fixture::live_mdevs().len(),
        made.len(),
        "mdevs before unload"
    );
    ctx.vendor.unload()?;
    check_gone(&ctx.vendor, "unload with live mdevs")?;
    check_back(ctx, "reload")
}

fn stale_create_fd(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    let path = ctx.vendor.type_dir(t).join("create");
    let mut stale = sysfs::open_for_write(&path).map_err(|e| format!("open create: {e}"))?;
    ctx.vendor.unload()?;
    let u = ctx.uuids.fresh();
    check_eq!(
        sysfs::write_fd(&mut stale, u.as_bytes()),
        Err(Errno::ENODEV),
        "create through an fd of a gone type"
    );
    check_gone(&ctx.vendor, "unload")?;
    drop(stale);
    check_back(ctx, "reload")
}

/// Creates on several CPUs while the parent unregisters.
fn race_create(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    let threads = 3;
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for round in 0..ctx.stress {
        let what = format!("round {round}");
        let stop = AtomicBool::new(false);
        let barrier = Barrier::new(threads + 1);
        let path = ctx.vendor.type_dir(t).join("create");
        let (unload, results) = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut results: Vec<(String, WriteResult)> = Vec::new();
                        barrier.wait();
                        while !stop.load(Ordering::Relaxed) {
                            let u = ctx.uuids.fresh();
                            let r = sysfs::write(&path, u.as_bytes());
                            let gone = r == Err(Errno::ENOENT);
                            results.push((u, r));
                            if gone {
                                break;
                            }
                        }
                        results
                    })
                })
                .collect();
            barrier.wait();
            // Let a few creates land first, then pull the parent away under the rest.
            std::thread::sleep(std::time::Duration::from_millis(5 * (round as u64 % 4)));
            let unload = ctx.vendor.unload();
            stop.store(true, Ordering::Relaxed);
            let results: Vec<(String, WriteResult)> = hs
                .into_iter()
                .filter_map(|h| h.join().ok())
                .flatten()
                .collect();
            (unload, results)
        });
        unload.map_err(|e| format!("{what}: {e}"))?;
        for (u, r) in &results {
            let allowed = match r {
                Ok(36) => true,
                Err(e) => [Errno::ENODEV, Errno::ENOENT, ctx.vendor.p.exhausted].contains(e),
                Ok(_) => false,
            };
            check!(
                allowed,
                "{what}: create of {u} racing unregistration gave {r:?}"
            );
            let key = match r {
                Ok(_) => "created".to_string(),
                Err(e) => e.name().to_string(),
            };
            *outcomes.entry(key).or_default() += 1;
        }
        check_gone(&ctx.vendor, &what)?;
        check_back(ctx, &what)?;
    }
    mdev_testkit::ktap::Reporter::diag(&format!("create racing unregistration: {outcomes:?}"));
    Ok(())
}

/// Removes on several CPUs while the parent unregisters.
fn race_remove(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for round in 0..ctx.stress {
        let what = format!("round {round}");
        let n = ctx.vendor.available(t)?.min(4) as usize;
        let uuids: Vec<String> = (0..n).map(|_| ctx.uuids.fresh()).collect();
        for u in &uuids {
            ctx.vendor.must_create(t, u)?;
        }
        let barrier = Barrier::new(n + 1);
        let stagger = std::time::Duration::from_micros(300 * (round as u64 % 7));
        let (unload, results) = std::thread::scope(|s| {
            let hs: Vec<_> = uuids
                .iter()
                .map(|u| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        let path = fixture::mdev_dir(u).join("remove");
                        let mut f = sysfs::open_for_write(&path);
                        barrier.wait();
                        // Odd rounds start the removes late, even rounds the unload: the
                        // two meet at different points of each other.
                        if round % 2 == 1 {
                            std::thread::sleep(stagger);
                        }
                        let r = match f.as_mut() {
                            Ok(f) => sysfs::write_fd(f, b"1"),
                            Err(e) => Err(*e),
                        };
                        (u.clone(), r)
                    })
                })
                .collect();
            barrier.wait();
            if round % 2 == 0 {
                std::thread::sleep(stagger);
            }
            let unload = ctx.vendor.unload();
            let results: Vec<(String, WriteResult)> =
                hs.into_iter().filter_map(|h| h.join().ok()).collect();
            (unload, results)
        });
        unload.map_err(|e| format!("{what}: {e}"))?;
        for (u, r) in &results {
            check!(
                *r == Ok(1) || *r == Err(Errno::ENODEV),
                "{what}: remove of {u} racing unregistration gave {r:?}"
            );
            let key = match r {
                Ok(_) => "removed".to_string(),
                Err(e) => e.name().to_string(),
            };
            *outcomes.entry(key).or_default() += 1;
        }
        check_gone(&ctx.vendor, &what)?;
        check_back(ctx, &what)?;
    }
    mdev_testkit::ktap::Reporter::diag(&format!("remove racing unregistration: {outcomes:?}"));
    Ok(())
}

/// While one parent unregisters, create and remove on another parent keep working.
fn other_parent_unaffected(ctx: &Ctx) -> TestResult {
    let other = ctx.other()?;
    let t = other.first_type();
    let other_baseline = other.available_all()?;
    for round in 0..ctx.stress.min(5) {
        let done = AtomicBool::new(false);
        let (unload, errors) = std::thread::scope(|s| {
            let h = s.spawn(|| {
                let mut errors = Vec::new();
                let mut cycles = 0;
                while !done.load(Ordering::Relaxed) || cycles == 0 {
                    let u = ctx.uuids.fresh();
                    if let Err(e) = other.must_create(t, &u) {
                        errors.push(e);
                        break;
                    }
                    if let Err(e) = fixture::must_remove(&u) {
                        errors.push(e);
                        break;
                    }
                    // The next create needs the instance back, which comes at the
                    // removed mdev's release.
                    match other.available_all_released(&other_baseline) {
                        Ok(now) if now == other_baseline => {}
                        Ok(now) => {
                            errors.push(format!(
                                "available_instances {now:?} after a remove, was {other_baseline:?}"
                            ));
                            break;
                        }
                        Err(e) => {
                            errors.push(e);
                            break;
                        }
                    }
                    cycles += 1;
                }
                errors
            });
            let unload = ctx.vendor.unload();
            done.store(true, Ordering::Relaxed);
            (
                unload,
                h.join()
                    .unwrap_or_else(|_| vec!["thread panicked".to_string()]),
            )
        });
        unload.map_err(|e| format!("round {round}: {e}"))?;
        check!(
            errors.is_empty(),
            "round {round}: create/remove on {} failed: {errors:?}",
            other.p.parent
        );
        check_gone(&ctx.vendor, &format!("round {round}"))?;
        check_back(ctx, &format!("round {round}"))?;
    }
    Ok(())
}
