// SPDX-License-Identifier: GPL-2.0
//! Removing an mdev, unbinding it from its driver, or unloading its vendor driver,
//! while a client (a VMM, in real life) has it open through VFIO.
//!
//! What the reference does (drivers/vfio/vfio_main.c, 7.3): the driver's remove
//! calls `vfio_unregister_group_dev` (mtty.c 1390-1396), which unpublishes the
//! device (no new `GET_DEVICE_FD`, the cdev node goes away) and then waits, in
//! 10-second rounds, until every open device file is closed, calling the driver's
//! `request` callback, if it has one, before each round (vfio_main.c 421-471). So
//! `remove` blocks until the client closes; the client's open device keeps working
//! meanwhile. The wait is interruptible, so the hung-task detector stays quiet.
//! Unloading the vendor module is refused instead: the first open of a VFIO device
//! takes a reference on its driver's module, and delete_module(2) fails with
//! EWOULDBLOCK (EAGAIN) while the module has users, with or without O_NONBLOCK
//! (try_stop_module, kernel/module/main.c).
//!
//! An unbind (`echo UUID > /sys/bus/mdev/drivers/<driver>/unbind`) runs the same
//! driver remove, under the mdev's device lock only (drivers/base/bus.c
//! unbind_store, device_driver_detach), so it waits for the client the same way;
//! the mdev then stays, unbound, until it is removed.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;
use std::time::Instant;

use crate::check;
use crate::check_errno;
use crate::fixture;
use crate::fixture::Mdev;
use crate::sys;
use crate::sys::Errno;
use crate::sys::EventFd;
use crate::sys::Res;
use crate::tests::Port;
use crate::uapi::*;
use crate::vfio;
use crate::vfio::Iface;
use crate::Ctx;
use crate::Fail;
use crate::OrFail;
use crate::Test;
use crate::TestResult;
use crate::BOTH;
use crate::CDEV;
use crate::GROUP;
use mdev_testkit::ktap::Reporter;

pub const TESTS: &[Test] = &[
    Test {
        name: "remove_while_open",
        ifaces: BOTH,
        run: remove_while_open,
    },
    Test {
        name: "remove_with_only_group_open",
        ifaces: GROUP,
        run: remove_with_only_group_open,
    },
    Test {
        name: "unbind_while_open",
        ifaces: BOTH,
        run: unbind_while_open,
    },
    Test {
        name: "unload_while_open",
        ifaces: BOTH,
        run: unload_while_open,
    },
    Test {
        name: "unload_while_cdev_unbound",
        ifaces: CDEV,
        run: unload_while_cdev_unbound,
    },
];

/// How long a blocked operation must stay blocked to count as blocked.
const BLOCKED: Duration = Duration::from_millis(1500);
/// How long an operation that must not block may take before the test calls it
/// blocked: a deadlock detector, not a measured time (these operations take
/// milliseconds), so it is generous enough for a slow, loaded host.
const PROMPT: Duration = Duration::from_secs(60);

/// Runs `f` on a thread; its result comes through the receiver.
fn background<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> mpsc::Receiver<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

/// Waits until `<mdev>/vfio-dev` is gone: `vfio_unregister_group_dev` has
/// unpublished the device and is waiting for its users. That is how the test knows
/// the removal really started before it checks that it is blocked.
fn wait_unpublished(m: &Mdev) -> Result<(), Fail> {
    let dir = fixture::mdev_dir(&m.uuid).join("vfio-dev");
    let start = Instant::now();
    while dir.exists() {
        if start.elapsed() > PROMPT {
            return Err(Fail::Fail(format!(
                "{} still exists {} s after the removal started",
                dir.display(),
                PROMPT.as_secs()
            )));
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Creates and removes an mdev on the second parent (mdpy), on a thread, and
/// requires that to finish promptly: a removal blocked on one parent must not hold
/// a lock the core needs for another.
/// Without a second parent (a kernel without mdpy) there is nothing to check: the
/// client said so at its start.
fn other_parent_works(ctx: &Ctx) -> Result<(), Fail> {
    let Some(other) = ctx.other else {
        return Ok(());
    };
    let uuid = ctx.uuids.fresh();
    let rx = background(move || -> Result<(), String> {
        let m = other.create(crate::profile::OTHER.type_name, &uuid)?;
        m.remove()
    });
    match rx.recv_timeout(PROMPT) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Fail::Fail(format!(
            "on the other parent ({}): {e}",
            other.name
        ))),
        Err(_) => Err(Fail::Fail(format!(
            "creating and removing an mdev on the other parent ({}) did not finish in {} s",
            other.name,
            PROMPT.as_secs()
        ))),
    }
}

/// A blocking operation of [`blocks_while_open`]: the words that name it in the
/// messages, and the value the test writes to the scratch register of the open device.
struct Op {
    /// The operation, as the subject of "returned": "remove", "unbind".
    verb: &'static str,
    /// The operation in progress: "removal", "unbind".
    noun: &'static str,
    /// What it makes of the mdev: "removed", "unbound".
    done: &'static str,
    /// Written to the first port's scratch register before the operation starts.
    scr: u8,
}

const REMOVE: Op = Op {
    verb: "remove",
    noun: "removal",
    done: "removed",
    scr: 0x42,
};

const UNBIND: Op = Op {
    verb: "unbind",
    noun: "unbind",
    done: "unbound",
    scr: 0x5a,
};

/// What [`blocks_while_open`] saw of the operation once the device was closed.
struct Blocked {
    /// The operation's name, for the report.
    verb: &'static str,
    /// What the operation returned.
    r: Res<usize>,
    /// When the operation was started, the device closed, and the operation returned.
    started: Instant,
    closed: Instant,
    done: Instant,
}

impl Blocked {
    /// Reports how long the operation blocked and how soon after the close it returned.
    fn report(&self, ctx: &Ctx) {
        Reporter::diag(&format!(
            "{} blocked {:.1} s while open ({}), returned {} ms after the close",
            self.verb,
            self.closed.duration_since(self.started).as_secs_f64(),
            if ctx.p.has_request {
                "REQ signalled"
            } else {
                "no request callback"
            },
            self.done.saturating_duration_since(self.closed).as_millis()
        ));
    }
}

/// Opens `m` through `iface` (with the REQ eventfd set when the driver has a
/// `request` callback), writes `op.scr` to its first port's scratch register, and
/// starts `run` on a thread. While `run` blocks it checks that the REQ eventfd is
/// signalled, that the device is unpublished, that `run` stays blocked, that the
/// open device still answers, that the mdev's port is still taken, runs `during`
/// (the test's own checks), and checks that other parents work. Whatever these
/// checks find, it then closes the device and waits for `run` to return, so that
/// the test never returns with `run` still running; a failed check is reported
/// before a `run` that did not return.
fn blocks_while_open(
    ctx: &Ctx,
    m: &Mdev,
    iface: Iface,
    op: &Op,
    run: impl FnOnce() -> Res<usize> + Send + 'static,
    during: impl FnOnce(&vfio::Open) -> TestResult,
) -> Result<Blocked, Fail> {
    let o = vfio::open(m, iface)?;
    let req = if ctx.p.has_request {
        let e = EventFd::new().or_fail("eventfd")?;
        o.dev
            .set_eventfd(VFIO_PCI_REQ_IRQ_INDEX, e.raw())
            .or_fail("SET_IRQS REQ eventfd")?;
        Some(e)
    } else {
        None
    };
    let p = Port::new(&o.dev, 0)?;
    p.wr(UART_SCR, op.scr)?;
    let started = Instant::now();
    let running = background(move || (run(), Instant::now()));

    let checks = (|| -> TestResult {
        if let Some(e) = &req {
            check!(
                e.wait(PROMPT).is_some(),
                "the REQ eventfd was not signalled within {} s of the {}",
                PROMPT.as_secs(),
                op.noun
            );
        }
        wait_unpublished(m)?;
        thread::sleep(BLOCKED);
        if let Ok((r, _)) = running.try_recv() {
            return Err(Fail::Fail(format!(
                "{} returned {r:?} while the device was open",
                op.verb
            )));
        }
        p.expect(
            UART_SCR,
            op.scr,
            &format!("while the device's {} waits", op.noun),
        )?;
        // The device is still in use: its ports are not free yet. The kernel's mtty
        // gives them back in its VFIO release (mtty_release_dev), after the last close.
        let avail = ctx.vendor.available(ctx.p.type_1port)?;
        check!(
            avail + 1 == ctx.baseline[0],
            "available_instances of {} is {avail} while its {} mdev is still open, want {}",
            ctx.p.type_1port,
            op.done,
            ctx.baseline[0] - 1
        );
        during(&o)?;
        other_parent_works(ctx)?;
        if let Ok((r, _)) = running.try_recv() {
            return Err(Fail::Fail(format!(
                "{} returned {r:?} while the device was open",
                op.verb
            )));
        }
        Ok(())
    })();

    let closed = Instant::now();
    drop(o);
    drop(req);
    let finished = running.recv_timeout(PROMPT);
    checks?;
    let (r, done) = finished.map_err(|_| {
        Fail::Fail(format!(
            "{} did not return within {} s of closing the device",
            op.verb,
            PROMPT.as_secs()
        ))
    })?;
    Ok(Blocked {
        verb: op.verb,
        r,
        started,
        closed,
        done,
    })
}

/// `remove` written while the device is open blocks until the client closes it,
/// without blocking other parents; with a `request` callback the client is asked
/// (the REQ eventfd) and closes on that signal. Meanwhile the open device answers,
/// and no new open of it succeeds.
fn remove_while_open(ctx: &Ctx, iface: Iface) -> TestResult {
    let m = ctx.create(1)?;
    // The cdev's path, to check that it is gone (a kernel without IOMMUFD has
    // none, and then only the group interface runs).
    let cdev = match ctx.no_cdev {
        None => m.cdev_path()?,
        Some(_) => String::new(),
    };
    let uuid = m.uuid.clone();
    let b = blocks_while_open(
        ctx,
        &m,
        iface,
        &REMOVE,
        move || fixture::remove_raw(&uuid),
        |o| {
            match (iface, &o.group) {
                (Iface::Group, Some(g)) => check_errno!(
                    vfio::get_device_fd(g, &m.uuid),
                    Errno::ENODEV,
                    "a second GET_DEVICE_FD while the removal waits"
                ),
                _ => check_errno!(
                    sys::open_rw(&cdev),
                    Errno::ENOENT,
                    "opening {cdev} while the removal waits"
                ),
            }
            Ok(())
        },
    )?;
    check!(
        b.r == Ok(1),
        "remove after closing the device: {:?}, want Ok(1)",
        b.r
    );
    check!(!m.exists(), "{} still exists after its removal", m.uuid);
    // The ports come back at the VFIO device's release, after the last close.
    let avail = ctx.released()?[0];
    check!(
        avail == ctx.baseline[0],
        "available_instances of {} is {avail}, was {}",
        ctx.p.type_1port,
        ctx.baseline[0]
    );
    b.report(ctx);
    Ok(())
}

/// Writing the mdev's UUID to its driver's `unbind` while the device is open blocks
/// until the client closes it, like `remove`, with the client asked through `request`
/// when the driver has one; other mdevs of the same parent and other parents are
/// created and removed meanwhile. After the close the mdev is still listed, unbound
/// and without its VFIO device, and the driver's resources are back (mtty's ports,
/// given back at its VFIO release); `bind` is refused with ENODEV; `remove` removes it.
fn unbind_while_open(ctx: &Ctx, iface: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let dir = fixture::mdev_dir(&m.uuid);
    let driver = std::fs::read_link(dir.join("driver"))
        .ok()
        .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
        .ok_or_else(|| Fail::Fail(format!("{}/driver: no driver link", dir.display())))?;
    let drv_dir = std::path::Path::new("/sys/bus/mdev/drivers").join(&driver);
    let (uuid, unbind) = (m.uuid.clone(), drv_dir.join("unbind"));
    let b = blocks_while_open(
        ctx,
        &m,
        iface,
        &UNBIND,
        move || fixture::write_attr(&unbind, uuid.as_bytes()),
        |_| {
            // The unbind holds this mdev's device lock, not the parent's gate: the
            // parent creates and removes other mdevs.
            let other = ctx.create(2)?;
            other.remove().map_err(Fail::Fail)
        },
    )?;
    check!(
        b.r == Ok(m.uuid.len()),
        "unbind after closing the device: {:?}, want Ok({})",
        b.r,
        m.uuid.len()
    );
    check!(m.exists(), "{} is gone after the unbind", m.uuid);
    check!(
        !dir.join("driver").exists() && !dir.join("vfio-dev").exists(),
        "{} still has a driver or a VFIO device after the unbind",
        m.uuid
    );
    check!(
        dir.join("remove").exists(),
        "{} lost its remove file",
        m.uuid
    );
    // The ports come back with the VFIO device's release, after the last close.
    let mut avail = ctx.vendor.available(ctx.p.type_1port)?;
    while avail != ctx.baseline[0] && b.closed.elapsed() < PROMPT {
        thread::sleep(Duration::from_millis(20));
        avail = ctx.vendor.available(ctx.p.type_1port)?;
    }
    check!(
        avail == ctx.baseline[0],
        "available_instances of {} is {avail} after the unbind and the close, want {}",
        ctx.p.type_1port,
        ctx.baseline[0]
    );
    check_errno!(
        fixture::write_attr(&drv_dir.join("bind"), m.uuid.as_bytes()),
        Errno::ENODEV,
        "bind after the unbind"
    );
    m.remove().map_err(Fail::Fail)?;
    b.report(ctx);
    Ok(())
}

/// With only the group open (in a container, but no device fd), `remove` does not
/// wait: the group holds no reference on the device. The group then reports
/// ENODEV: its IOMMU group is gone.
fn remove_with_only_group_open(ctx: &Ctx, _: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let container = vfio::open_container()?;
    let path = m.group_path()?;
    let group = sys::open_rw(&path).or_fail(format!("open {path}"))?;
    vfio::attach_group(&group, &container)?;
    let uuid = m.uuid.clone();
    let removal = background(move || fixture::remove_raw(&uuid));
    match removal.recv_timeout(PROMPT) {
        Ok(Ok(1)) => {}
        Ok(r) => return Err(Fail::Fail(format!("remove: {r:?}, want Ok(1)"))),
        Err(_) => {
            return Err(Fail::Fail(format!(
                "remove did not return within {} s with only the group open",
                PROMPT.as_secs()
            )))
        }
    }
    check!(!m.exists(), "{} still exists after its removal", m.uuid);
    check_errno!(
        vfio::group_status(&group),
        Errno::ENODEV,
        "GROUP_GET_STATUS after the removal"
    );
    drop(group);
    drop(container);
    Ok(())
}

/// Unloading the vendor module while one of its devices is open is refused with
/// EWOULDBLOCK (EAGAIN), with and without O_NONBLOCK, and changes nothing; once the
/// device is closed the unload works and takes the mdev with it.
fn unload_while_open(ctx: &Ctx, iface: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let o = vfio::open(&m, iface)?;
    let nonblock: Res<()> = ctx.vendor.unload(libc::O_NONBLOCK);
    let blocking: Res<()> = ctx.vendor.unload(0);
    check_errno!(
        nonblock,
        Errno::EAGAIN,
        "delete_module({}, O_NONBLOCK) with a device open",
        ctx.p.module
    );
    check_errno!(
        blocking,
        Errno::EAGAIN,
        "delete_module({}, 0) with a device open",
        ctx.p.module
    );
    check!(ctx.vendor.is_loaded(), "{} was unloaded", ctx.p.module);
    check!(m.exists(), "{} went away", m.uuid);
    let p = Port::new(&o.dev, 0)?;
    p.loop_back(b"still here")?;
    drop(o);
    ctx.vendor
        .unload(libc::O_NONBLOCK)
        .or_fail(format!("delete_module({}) after the close", ctx.p.module))?;
    check!(!ctx.vendor.is_loaded(), "{} is still loaded", ctx.p.module);
    check!(!m.exists(), "{} outlived its driver", m.uuid);
    ctx.vendor.load()?;
    Reporter::diag(&format!(
        "delete_module({}) with the device open: {nonblock:?} (O_NONBLOCK), {blocking:?} (no flags)",
        ctx.p.module
    ));
    Ok(())
}

/// A cdev that is open but not bound holds no module reference, but does hold the
/// device: the unload goes ahead and then waits in the driver's remove until the
/// cdev is closed, without blocking other parents.
fn unload_while_cdev_unbound(ctx: &Ctx, _: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let c = vfio::open_cdev_unbound(&m)?;
    let vendor = ctx.vendor;
    let started = Instant::now();
    let unload = background(move || (vendor.unload(libc::O_NONBLOCK), Instant::now()));
    // Whatever these checks find, the cdev is closed and the unload waited for below,
    // so that the test never returns with its unload still running.
    let during = (|| -> TestResult {
        wait_unpublished(&m)?;
        thread::sleep(BLOCKED);
        if let Ok((r, _)) = unload.try_recv() {
            return Err(Fail::Fail(format!(
                "delete_module returned {r:?} while the cdev was open"
            )));
        }
        check_errno!(c.info(), Errno::EINVAL, "GET_INFO on the unbound cdev");
        other_parent_works(ctx)
    })();
    let closed = Instant::now();
    drop(c);
    let finished = unload.recv_timeout(PROMPT);
    during?;
    let (r, done) = finished.map_err(|_| {
        Fail::Fail(format!(
            "delete_module did not return within {} s of closing the cdev",
            PROMPT.as_secs()
        ))
    })?;
    check!(r == Ok(()), "delete_module after closing the cdev: {r:?}");
    check!(!m.exists(), "{} outlived its driver", m.uuid);
    ctx.vendor.load()?;
    Reporter::diag(&format!(
        "delete_module blocked {:.1} s while the unbound cdev was open, returned {} ms after the close",
        closed.duration_since(started).as_secs_f64(),
        done.saturating_duration_since(closed).as_millis()
    ));
    Ok(())
}
