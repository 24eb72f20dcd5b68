// SPDX-License-Identifier: GPL-2.0
//! Requests the reference refuses cleanly: bad indexes and sizes, wrong device
//! names, a second user of a group, the group and cdev interfaces excluding each
//! other, and device access before the cdev is bound.

use std::os::fd::AsRawFd;

use crate::check_eq;
use crate::check_errno;
use crate::sys;
use crate::sys::Errno;
use crate::tests::Port;
use crate::uapi::*;
use crate::vfio;
use crate::vfio::Iface;
use crate::Ctx;
use crate::OrFail;
use crate::Test;
use crate::TestResult;
use crate::BOTH;
use crate::CDEV;
use crate::GROUP;

pub const TESTS: &[Test] = &[
    Test {
        name: "bad_region_index",
        ifaces: BOTH,
        run: bad_region_index,
    },
    Test {
        name: "bad_argsz",
        ifaces: BOTH,
        run: bad_argsz,
    },
    Test {
        name: "get_device_fd_names",
        ifaces: GROUP,
        run: get_device_fd_names,
    },
    Test {
        name: "group_needs_iommu",
        ifaces: GROUP,
        run: group_needs_iommu,
    },
    Test {
        name: "group_second_open",
        ifaces: GROUP,
        run: group_second_open,
    },
    Test {
        name: "group_cdev_exclusive",
        ifaces: BOTH,
        run: group_cdev_exclusive,
    },
    Test {
        name: "cdev_before_bind",
        ifaces: CDEV,
        run: cdev_before_bind,
    },
];

/// REGION_INFO for an index past the last region fails with EINVAL.
fn bad_region_index(ctx: &Ctx, iface: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let o = vfio::open(&m, iface)?;
    for index in [VFIO_PCI_NUM_REGIONS, 10, 0x7fff_ffff, u32::MAX] {
        check_errno!(
            o.dev.region(index),
            Errno::EINVAL,
            "REGION_INFO of index {index:#x}"
        );
    }
    drop(o);
    Ok(m.remove()?)
}

/// `argsz` below the mandatory part of each structure fails with EINVAL.
fn bad_argsz(ctx: &Ctx, iface: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let o = vfio::open(&m, iface)?;
    let d = &o.dev;
    for a in [0, DEVICE_INFO_MINSZ - 1] {
        check_errno!(d.info_argsz(a), Errno::EINVAL, "GET_INFO argsz {a}");
    }
    for a in [0, REGION_INFO_MINSZ - 1] {
        check_errno!(
            d.region_argsz(0, a),
            Errno::EINVAL,
            "GET_REGION_INFO argsz {a}"
        );
    }
    for a in [0, IRQ_INFO_MINSZ - 1] {
        check_errno!(
            d.irq_info_argsz(0, a),
            Errno::EINVAL,
            "GET_IRQ_INFO argsz {a}"
        );
    }
    for a in [0, IRQ_SET_MINSZ - 1] {
        check_errno!(
            d.set_irqs_raw(
                VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
                VFIO_PCI_INTX_IRQ_INDEX,
                0,
                1,
                &[],
                Some(a)
            ),
            Errno::EINVAL,
            "SET_IRQS argsz {a}"
        );
    }
    if let Some(g) = &o.group {
        let mut s = vfio_group_status { argsz: 7, flags: 0 };
        check_errno!(
            sys::ioctl_ptr(g.as_raw_fd(), VFIO_GROUP_GET_STATUS, &mut s),
            Errno::EINVAL,
            "GROUP_GET_STATUS argsz 7"
        );
    }
    drop(o);
    Ok(m.remove()?)
}

/// GET_DEVICE_FD matches the device name exactly (`strcmp` with the lower-case
/// UUID, vfio_device_get_from_name): upper case, another mdev's UUID (in another
/// group), a trailing newline and the empty string give ENODEV; the right name
/// still works afterwards.
fn get_device_fd_names(ctx: &Ctx, _: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let other = ctx.create(1)?;
    let container = vfio::open_container()?;
    let path = m.group_path()?;
    let group = sys::open_rw(&path).or_fail(format!("open {path}"))?;
    vfio::attach_group(&group, &container)?;
    let upper = m.uuid.to_uppercase();
    let newline = format!("{}\n", m.uuid);
    for name in [upper.as_str(), &other.uuid, &newline, "", "mtty"] {
        check_errno!(
            vfio::get_device_fd(&group, name),
            Errno::ENODEV,
            "GET_DEVICE_FD {name:?}"
        );
    }
    let dev = vfio::get_device_fd(&group, &m.uuid).or_fail("GET_DEVICE_FD with the UUID")?;
    let i = dev.info().or_fail("GET_INFO")?;
    check_eq!(i.flags, super::info::device_flags(ctx), "flags");
    drop(dev);
    drop(group);
    drop(container);
    other.remove()?;
    Ok(m.remove()?)
}

/// A group gives out no device before it is in a container with an IOMMU backend
/// set: EINVAL without a container, and EINVAL with a container but no
/// VFIO_SET_IOMMU.
fn group_needs_iommu(ctx: &Ctx, _: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let path = m.group_path()?;
    let group = sys::open_rw(&path).or_fail(format!("open {path}"))?;
    check_errno!(
        vfio::get_device_fd(&group, &m.uuid),
        Errno::EINVAL,
        "GET_DEVICE_FD with no container"
    );
    let container = vfio::open_container()?;
    let mut cfd = container.as_raw_fd();
    sys::ioctl_ptr(group.as_raw_fd(), VFIO_GROUP_SET_CONTAINER, &mut cfd)
        .or_fail("GROUP_SET_CONTAINER")?;
    check_errno!(
        vfio::get_device_fd(&group, &m.uuid),
        Errno::EINVAL,
        "GET_DEVICE_FD with no IOMMU backend"
    );
    sys::ioctl_val(
        container.as_raw_fd(),
        VFIO_SET_IOMMU,
        VFIO_TYPE1v2_IOMMU.into(),
    )
    .or_fail("SET_IOMMU")?;
    let dev = vfio::get_device_fd(&group, &m.uuid).or_fail("GET_DEVICE_FD")?;
    drop(dev);
    drop(group);
    drop(container);
    Ok(m.remove()?)
}

/// A group has one user: a second open gives EBUSY, also while the first one has
/// the device open, and works again once the first is closed.
fn group_second_open(ctx: &Ctx, _: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let path = m.group_path()?;
    let o = vfio::open(&m, Iface::Group)?;
    check_errno!(sys::open_rw(&path), Errno::EBUSY, "second open of {path}");
    drop(o);
    let g = sys::open_rw(&path).or_fail(format!("open {path} after closing it"))?;
    check_errno!(sys::open_rw(&path), Errno::EBUSY, "second open of {path}");
    drop(g);
    Ok(m.remove()?)
}

/// The two interfaces exclude each other per device: binding the cdev while the
/// group is open, or opening the group while the cdev is bound, gives EBUSY; each
/// works again once the other user is gone. Run from both sides (`iface` is the
/// one that holds the device first).
/// Both sides need the cdev interface.
fn group_cdev_exclusive(ctx: &Ctx, iface: Iface) -> TestResult {
    ctx.need_cdev()?;
    let m = ctx.create(1)?;
    let path = m.group_path()?;
    let iommufd = sys::open_rw("/dev/iommu").or_fail("open /dev/iommu")?;
    match iface {
        Iface::Group => {
            let o = vfio::open(&m, Iface::Group)?;
            let c = vfio::open_cdev_unbound(&m)?;
            check_errno!(
                vfio::bind(&c, iommufd.as_raw_fd(), 24),
                Errno::EBUSY,
                "BIND_IOMMUFD while the group is open"
            );
            drop(o);
            vfio::bind(&c, iommufd.as_raw_fd(), 24)
                .or_fail("BIND_IOMMUFD once the group is closed")?;
        }
        Iface::Cdev => {
            let o = vfio::open(&m, Iface::Cdev)?;
            check_errno!(
                sys::open_rw(&path),
                Errno::EBUSY,
                "open {path} while the cdev is bound"
            );
            drop(o);
            let o = vfio::open(&m, Iface::Group).or_fail("group open once the cdev is closed")?;
            drop(o);
        }
    }
    Ok(m.remove()?)
}

/// An open cdev gives no access before VFIO_DEVICE_BIND_IOMMUFD: every device
/// ioctl, read and write fails with EINVAL. The bind itself refuses a negative fd
/// (EINVAL), an fd that is not an iommufd (EBADFD), a short `argsz` and undefined
/// flags (EINVAL); after a good bind a second one fails with EINVAL.
fn cdev_before_bind(ctx: &Ctx, _: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let c = vfio::open_cdev_unbound(&m)?;
    check_errno!(c.info(), Errno::EINVAL, "GET_INFO before bind");
    check_errno!(c.region(0), Errno::EINVAL, "GET_REGION_INFO before bind");
    check_errno!(c.irq_info(0), Errno::EINVAL, "GET_IRQ_INFO before bind");
    check_errno!(
        c.set_eventfd(VFIO_PCI_INTX_IRQ_INDEX, -1),
        Errno::EINVAL,
        "SET_IRQS before bind"
    );
    check_errno!(c.reset(), Errno::EINVAL, "RESET before bind");
    check_errno!(c.read(7 << 40, 4), Errno::EINVAL, "read before bind");
    check_errno!(c.write(UART_SCR, &[1]), Errno::EINVAL, "write before bind");
    let iommufd = sys::open_rw("/dev/iommu").or_fail("open /dev/iommu")?;
    let null = sys::open_rw("/dev/null").or_fail("open /dev/null")?;
    check_errno!(vfio::bind(&c, -1, 24), Errno::EINVAL, "bind to fd -1");
    check_errno!(
        vfio::bind(&c, null.as_raw_fd(), 24),
        Errno::EBADFD,
        "bind to /dev/null"
    );
    check_errno!(
        vfio::bind(&c, iommufd.as_raw_fd(), BIND_IOMMUFD_MINSZ - 1),
        Errno::EINVAL,
        "bind with argsz 15"
    );
    let mut b = vfio_device_bind_iommufd {
        argsz: 24,
        flags: 1 << 1,
        iommufd: iommufd.as_raw_fd(),
        ..Default::default()
    };
    check_errno!(
        sys::ioctl_ptr(c.raw(), VFIO_DEVICE_BIND_IOMMUFD, &mut b),
        Errno::EINVAL,
        "bind with an undefined flag"
    );
    vfio::bind(&c, iommufd.as_raw_fd(), BIND_IOMMUFD_MINSZ).or_fail("bind with argsz 16")?;
    check_errno!(
        vfio::bind(&c, iommufd.as_raw_fd(), 24),
        Errno::EINVAL,
        "second bind"
    );
    c.info().or_fail("GET_INFO after bind")?;
    let p = Port::new(&c, 0)?;
    p.loop_back(b"bound")?;
    drop(c);
    Ok(m.remove()?)
}
