// SPDX-License-Identifier: GPL-2.0
//! The uevents udev (and so mdevctl's rules) sees.

use std::cell::RefCell;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::check;
use crate::check_eq;
use crate::fixture;
use crate::profile::TypeSpec;
use crate::uevent::Listener;
use crate::uevent::Uevent;
use crate::Ctx;
use crate::Test;
use crate::TestResult;

pub const TESTS: &[Test] = &[
    Test {
        name: "uevent_parent_registered",
        run: parent_registered,
    },
    Test {
        name: "uevent_parent_unregistered",
        run: parent_unregistered,
    },
    Test {
        name: "uevent_mdev_add_bind",
        run: mdev_add_bind,
    },
    Test {
        name: "uevent_mdev_announced_complete",
        run: mdev_announced_complete,
    },
    Test {
        name: "uevent_create_racing_unbind",
        run: create_racing_unbind,
    },
    Test {
        name: "uevent_failed_create_silent",
        run: failed_create_silent,
    },
    Test {
        name: "uevent_mdev_unbind_remove",
        run: mdev_unbind_remove,
    },
    Test {
        name: "uevent_mdevs_removed_on_unregister",
        run: mdevs_removed_on_unregister,
    },
];

/// How long an expected uevent may take before the test gives up: a deadlock
/// detector, not a window. The kernel sends these events before the syscall that
/// causes them returns, so they are normally there at once. Everything else is
/// read up to a fence (`Listener::settle`), not for a quiet period.
const WAIT: Duration = Duration::from_secs(60);

/// The parent's devpath as uevents spell it (without /sys).
fn parent_devpath(ctx: &Ctx) -> &'static str {
    ctx.vendor.p.parent_devpath.trim_start_matches("/sys")
}

fn show(events: &[Uevent]) -> String {
    events
        .iter()
        .map(|e| format!("{}@{} {:?}", e.action, e.devpath, e.env))
        .collect::<Vec<_>>()
        .join("\n")
}

fn parent_registered(ctx: &Ctx) -> TestResult {
    ctx.vendor.unload()?;
    let l = Listener::new()?;
    ctx.vendor.load()?;
    let parent = parent_devpath(ctx);
    let (events, found) = l.until(WAIT, |e| {
        e.action == "change" && e.devpath == parent && e.get("MDEV_STATE") == Some("registered")
    })?;
    check!(
        found,
        "no change uevent with MDEV_STATE=registered on {parent}; saw:\n{}",
        show(&events)
    );
    let events: Vec<Uevent> = events.into_iter().chain(l.settle()?).collect();
    let registered = events
        .iter()
        .filter(|e| e.get("MDEV_STATE") == Some("registered"))
        .count();
    check_eq!(
        registered,
        1,
        "MDEV_STATE=registered events for one registration"
    );
    Ok(())
}

fn parent_unregistered(ctx: &Ctx) -> TestResult {
    let l = Listener::new()?;
    ctx.vendor.unload()?;
    let parent = parent_devpath(ctx);
    let (events, found) = l.until(WAIT, |e| {
        e.action == "change" && e.devpath == parent && e.get("MDEV_STATE") == Some("unregistered")
    })?;
    check!(
        found,
        "no change uevent with MDEV_STATE=unregistered on {parent}; saw:\n{}",
        show(&events)
    );
    // The change comes before the parent device itself goes away.
    let change_at = events.len() - 1;
    let rest = l.settle()?;
    check!(
        !events[..change_at]
            .iter()
            .any(|e| e.action == "remove" && e.devpath == parent),
        "the parent was removed before MDEV_STATE=unregistered was sent:\n{}",
        show(&events)
    );
    let _ = rest;
    Ok(())
}

fn mdev_add_bind(ctx: &Ctx) -> TestResult {
    let l = Listener::new()?;
    let u = ctx.uuids.fresh();
    ctx.vendor.must_create(ctx.vendor.first_type(), &u)?;
    let devpath = format!("{}/{u}", parent_devpath(ctx));
    let (mut events, found) = l.until(WAIT, |e| e.action == "bind" && e.devpath == devpath)?;
    events.extend(l.settle()?);
    check!(
        found,
        "no bind uevent for {devpath}; saw:\n{}",
        show(&events)
    );
    let mine: Vec<&Uevent> = events.iter().filter(|e| e.devpath == devpath).collect();
    let actions: Vec<&str> = mine.iter().map(|e| e.action.as_str()).collect();
    check_eq!(actions, vec!["add", "bind"], "uevents of {u}");
    check_eq!(
        mine[0].get("SUBSYSTEM"),
        Some("mdev"),
        "SUBSYSTEM of the add uevent"
    );
    check_eq!(
        mine[1].get("DRIVER"),
        Some(ctx.vendor.p.driver),
        "DRIVER of the bind uevent"
    );
    fixture::must_remove(&u)?;
    Ok(())
}

fn mdev_unbind_remove(ctx: &Ctx) -> TestResult {
    let u = ctx.uuids.fresh();
    ctx.vendor.must_create(ctx.vendor.first_type(), &u)?;
    let l = Listener::new()?;
    fixture::must_remove(&u)?;
    let devpath = format!("{}/{u}", parent_devpath(ctx));
    let (mut events, found) = l.until(WAIT, |e| e.action == "remove" && e.devpath == devpath)?;
    events.extend(l.settle()?);
    check!(
        found,
        "no remove uevent for {devpath}; saw:\n{}",
        show(&events)
    );
    let actions: Vec<&str> = events
        .iter()
        .filter(|e| e.devpath == devpath)
        .map(|e| e.action.as_str())
        .collect();
    check_eq!(actions, vec!["unbind", "remove"], "uevents of {u}");
    Ok(())
}

fn mdevs_removed_on_unregister(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    let uuids: Vec<String> = (0..2).map(|_| ctx.uuids.fresh()).collect();
    for u in &uuids {
        ctx.vendor.must_create(t, u)?;
    }
    let l = Listener::new()?;
    ctx.vendor.unload()?;
    let parent = parent_devpath(ctx);
    let (mut events, _) = l.until(WAIT, |e| e.get("MDEV_STATE") == Some("unregistered"))?;
    events.extend(l.settle()?);
    for u in &uuids {
        let devpath = format!("{parent}/{u}");
        let removes = events
            .iter()
            .filter(|e| e.action == "remove" && e.devpath == devpath)
            .count();
        check_eq!(removes, 1, "remove uevents for {u} on unregistration");
    }
    // Children go before the parent announces it is unregistered.
    let unreg = events
        .iter()
        .position(|e| e.get("MDEV_STATE") == Some("unregistered"));
    let last_child = events.iter().rposition(|e| {
        e.action == "remove" && uuids.iter().any(|u| e.devpath.ends_with(u.as_str()))
    });
    check!(
        matches!((last_child, unreg), (Some(c), Some(r)) if c < r),
        "order of events on unregistration:\n{}",
        show(&events)
    );
    Ok(())
}

/// What of mdev `u` of type `t` does not resolve now, as userspace reads it when
/// `add` arrives: `<mdev>/mdev_type` (to the type's directory), the type's
/// `devices/<u>` (to the mdev), `<mdev>/iommu_group` for a VFIO vendor, and
/// `<mdev>/driver` (to `driver`) when the uevent names one.
fn unresolved(ctx: &Ctx, t: &TypeSpec, u: &str, driver: Option<&str>) -> Vec<String> {
    let resolve = |p: &Path| std::fs::canonicalize(p).map_err(|e| format!("{}: {e}", p.display()));
    // Whether `link` resolves to what `want` resolves to; the problem if not.
    let differs =
        |link: &Path, want: Result<std::path::PathBuf, String>| match (resolve(link), want) {
            (Ok(got), Ok(want)) if got == want => None,
            (Ok(got), Ok(want)) => Some(format!(
                "{} resolves to {}, not {}",
                link.display(),
                got.display(),
                want.display()
            )),
            (Err(e), _) | (_, Err(e)) => Some(e),
        };
    let dir = fixture::mdev_dir(u);
    let type_dir = ctx.vendor.type_dir(t);
    let mut out = Vec::new();
    out.extend(differs(&dir.join("mdev_type"), resolve(&type_dir)));
    out.extend(differs(&type_dir.join("devices").join(u), resolve(&dir)));
    if ctx.vendor.p.vfio {
        out.extend(resolve(&dir.join("iommu_group")).err());
    }
    if let Some(d) = driver {
        let drv = Path::new(fixture::BUS_DIR).join("drivers").join(d);
        out.extend(differs(&dir.join("driver"), resolve(&drv)));
    }
    out
}

/// When userspace receives an mdev's `add`, the mdev is complete: its `mdev_type`,
/// its `iommu_group` (VFIO vendors) and the type's `devices/<uuid>` resolve. Checked
/// at the moment the event is read, while the create may still run (it runs on
/// another thread), for several mdevs; then the mdev's events are exactly `add`
/// then `bind`, and `add` already names the bound driver. The C core sends `add`
/// from `device_add()`, before the probe and the links: run-tests skips this test
/// there as known behaviour of the reference (Documentation/testing.rst).
fn mdev_announced_complete(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    let driver = ctx.vendor.p.driver;
    let l = Listener::new()?;
    for round in 0..ctx.stress.max(1) {
        let u = ctx.uuids.fresh();
        let devpath = format!("{}/{u}", parent_devpath(ctx));
        let at_add: RefCell<Option<Vec<String>>> = RefCell::new(None);
        let (seen, created) = std::thread::scope(|s| {
            let creator = s.spawn(|| ctx.vendor.must_create(t, &u));
            let seen = l.until(WAIT, |e| {
                if e.devpath != devpath {
                    return false;
                }
                if e.action == "add" && at_add.borrow().is_none() {
                    *at_add.borrow_mut() = Some(unresolved(ctx, t, &u, e.get("DRIVER")));
                }
                e.action == "bind"
            });
            (seen, creator.join())
        });
        let created =
            created.map_err(|_| format!("round {round}: the creating thread panicked"))?;
        let (mut events, found) = seen?;
        events.extend(l.settle()?);
        created?;
        check!(
            found,
            "round {round}: no bind uevent for {devpath}; saw:\n{}",
            show(&events)
        );
        let mine: Vec<&Uevent> = events.iter().filter(|e| e.devpath == devpath).collect();
        let actions: Vec<&str> = mine.iter().map(|e| e.action.as_str()).collect();
        check_eq!(
            actions,
            vec!["add", "bind"],
            "round {round}: uevents of {u}"
        );
        let missing = at_add.into_inner().unwrap_or_default();
        check!(
            missing.is_empty(),
            "round {round}: when the add uevent of {u} arrived, these did not resolve: {}",
            missing.join("; ")
        );
        check_eq!(
            mine[0].get("DRIVER"),
            Some(driver),
            "round {round}: DRIVER of the add uevent (the driver bound when it is sent)"
        );
        check_eq!(
            mine[1].get("DRIVER"),
            Some(driver),
            "round {round}: DRIVER of the bind uevent"
        );
        fixture::must_remove(&u)?;
    }
    Ok(())
}

/// A create the core or the vendor refuses sends no uevent of the mdev: nothing was
/// announced, so nothing is taken back. Here the refusal is exhaustion, which a
/// vendor that counts its own instances (mtty) decides in its probe, after the
/// device was added. The C core sends `add` and `remove` then: run-tests skips this
/// test there as known behaviour of the reference (Documentation/testing.rst).
fn failed_create_silent(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    let mut made = Vec::new();
    for _ in 0..ctx.baseline[0] {
        let u = ctx.uuids.fresh();
        ctx.vendor.must_create(t, &u)?;
        made.push(u);
    }
    let l = Listener::new()?;
    let u = ctx.uuids.fresh();
    check_eq!(
        ctx.vendor.create(t, &u),
        Err(ctx.vendor.p.exhausted),
        "create with none left"
    );
    let events = l.settle()?;
    let devpath = format!("{}/{u}", parent_devpath(ctx));
    let mine: Vec<&Uevent> = events.iter().filter(|e| e.devpath == devpath).collect();
    check!(
        mine.is_empty(),
        "the refused create of {u} sent uevents:\n{}",
        show(&events)
    );
    for u in &made {
        fixture::must_remove(u)?;
    }
    Ok(())
}

/// A driver unbind racing the create of an mdev: a second thread writes the new
/// UUID to the driver's `unbind` file from before the create starts until it
/// succeeds once (the first writes fail with `ENODEV`: no such device on the bus
/// yet). Whenever the unbind lands, the mdev's uevents must make a sequence the
/// driver core could have sent: `add` naming the driver, `bind`, `unbind` (the unbind
/// came after the announcement), or a lone `add` naming no driver (it came before).
/// Never `add` after `unbind`, never a `bind` without its `add` first. Then the
/// unbound mdev's remove sends `remove` alone. Runs on both cores (the C core always
/// gives the first form, with an `add` that names no driver: it sends `add` before
/// the probe).
fn create_racing_unbind(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    let driver = ctx.vendor.p.driver;
    let unbind = Path::new(fixture::BUS_DIR)
        .join("drivers")
        .join(driver)
        .join("unbind");
    let l = Listener::new()?;
    let (mut before, mut after) = (0, 0);
    for round in 0..ctx.stress.max(1) {
        let u = ctx.uuids.fresh();
        let devpath = format!("{}/{u}", parent_devpath(ctx));
        let created_done = AtomicBool::new(false);
        let (created, unbound) = std::thread::scope(|s| {
            let racer = s.spawn(|| loop {
                // Read before the attempt: an attempt that fails after the create
                // returned is final (the mdev was bound then, so it cannot fail).
                let done = created_done.load(Ordering::Acquire);
                match crate::sysfs::write(&unbind, u.as_bytes()) {
                    Ok(_) => return Ok(()),
                    Err(e) if done => return Err(format!("unbind {u} after its create: {e}")),
                    Err(_) => {}
                }
            });
            let created = ctx.vendor.must_create(t, &u);
            created_done.store(true, Ordering::Release);
            (created, racer.join())
        });
        created?;
        unbound.map_err(|_| format!("round {round}: the unbinding thread panicked"))??;
        let events = l.settle()?;
        let mine: Vec<&Uevent> = events.iter().filter(|e| e.devpath == devpath).collect();
        let seq: Vec<(&str, Option<&str>)> = mine
            .iter()
            .map(|e| (e.action.as_str(), e.get("DRIVER")))
            .collect();
        // The add of the first form names the driver on a core that announces
        // complete mdevs (`uevent_mdev_announced_complete` checks that), not on the
        // C core, which sends it before the probe.
        let add_ok = |d: Option<&str>| d.is_none() || d == Some(driver);
        match seq.as_slice() {
            [("add", d), ("bind", Some(b)), ("unbind", None)] if add_ok(*d) && *b == driver => {
                after += 1
            }
            [("add", None)] => before += 1,
            _ => {
                return Err(format!(
                    "round {round}: uevents of {u} with an unbind racing its create:\n{}",
                    show(&events)
                )
                .into())
            }
        }
        check!(
            !fixture::mdev_dir(&u).join("driver").exists(),
            "round {round}: {u} is still bound after the unbind"
        );
        fixture::must_remove(&u)?;
        let events = l.settle()?;
        let actions: Vec<&str> = events
            .iter()
            .filter(|e| e.devpath == devpath)
            .map(|e| e.action.as_str())
            .collect();
        check_eq!(
            actions,
            vec!["remove"],
            "round {round}: uevents of removing unbound {u}"
        );
    }
    mdev_testkit::ktap::Reporter::diag(&format!(
        "unbind racing create: {before} landed before the announcement, {after} after"
    ));
    Ok(())
}
