// SPDX-License-Identifier: GPL-2.0
//! The uevents udev (and so mdevctl's rules) sees.

use std::time::Duration;

use crate::check;
use crate::check_eq;
use crate::fixture;
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
