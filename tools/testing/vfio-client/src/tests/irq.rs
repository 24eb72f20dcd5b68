// SPDX-License-Identifier: GPL-2.0
//! Interrupts: what the device offers (GET_IRQ_INFO), and INTx and MSI delivered
//! through eventfds (SET_IRQS), raised by the UART (mtty_trigger_interrupt, mtty.c
//! 234-247, called from the register handlers) or by the ioctl's loopback trigger.
//!
//! mtty signals the eventfd from inside the access that raises the interrupt, so a
//! signal is there when the access returns. The client still waits for one, up to
//! 30 s (a limit that only a missing interrupt reaches, so a slow host costs
//! nothing), and 100 ms before it concludes there was none (a window that a slow
//! host can only make weaker: a late signal shows up as a count of 2 at the next
//! interrupt).

use std::time::Duration;

use crate::check;
use crate::check_eq;
use crate::check_errno;
use crate::sys;
use crate::sys::Errno;
use crate::sys::EventFd;
use crate::tests::Port;
use crate::uapi::*;
use crate::vfio;
use crate::vfio::Device;
use crate::vfio::Iface;
use crate::Ctx;
use crate::Fail;
use crate::OrFail;
use crate::Test;
use crate::TestResult;
use crate::BOTH;

pub const TESTS: &[Test] = &[
    Test {
        name: "irq_info",
        ifaces: BOTH,
        run: irq_info,
    },
    Test {
        name: "intx_uart",
        ifaces: BOTH,
        run: intx_uart,
    },
    Test {
        name: "intx_actions",
        ifaces: BOTH,
        run: intx_actions,
    },
    Test {
        name: "msi",
        ifaces: BOTH,
        run: msi,
    },
    Test {
        name: "irq_set_errors",
        ifaces: BOTH,
        run: irq_set_errors,
    },
];

const SIGNAL_WAIT: Duration = Duration::from_secs(30);
const NO_SIGNAL_WAIT: Duration = Duration::from_millis(100);

/// Requires `e` to be signalled (once) now.
fn signalled(e: &EventFd, what: &str) -> Result<(), Fail> {
    match e.wait(SIGNAL_WAIT) {
        Some(1) => Ok(()),
        Some(n) => Err(Fail::Fail(format!(
            "{what}: eventfd counted {n} signals, want 1"
        ))),
        None => Err(Fail::Fail(format!("{what}: no interrupt"))),
    }
}

/// Requires `e` not to be signalled.
fn quiet(e: &EventFd, what: &str) -> Result<(), Fail> {
    match e.wait(NO_SIGNAL_WAIT) {
        None => Ok(()),
        Some(n) => Err(Fail::Fail(format!(
            "{what}: eventfd signalled ({n}), want no interrupt"
        ))),
    }
}

/// Toggles IER.THRI with the FIFO empty: mtty raises the interrupt on the write.
fn thri(p: &Port) -> Result<(), Fail> {
    p.wr(UART_IER, 0)?;
    p.wr(UART_IER, UART_IER_THRI)
}

fn unmask(dev: &Device) -> Result<(), Fail> {
    dev.irq_action(VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK)
        .or_fail("unmask INTx")
}

/// GET_IRQ_INFO for every index: INTx (maskable, automasked) and MSI (one vector)
/// with eventfds; MSI-X and ERR not offered; REQ offered only by a driver with a
/// `request` callback (mtty.c 1760-1776).
fn irq_info(ctx: &Ctx, iface: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let o = vfio::open(&m, iface)?;
    let intx = o
        .dev
        .irq_info(VFIO_PCI_INTX_IRQ_INDEX)
        .or_fail("INTx info")?;
    check_eq!(
        intx.flags,
        VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED,
        "INTx flags"
    );
    check_eq!(intx.count, 1, "INTx count");
    let msi = o.dev.irq_info(VFIO_PCI_MSI_IRQ_INDEX).or_fail("MSI info")?;
    check_eq!(
        msi.flags,
        VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE,
        "MSI flags"
    );
    check_eq!(msi.count, 1, "MSI count");
    check_errno!(
        o.dev.irq_info(VFIO_PCI_MSIX_IRQ_INDEX),
        Errno::EINVAL,
        "MSI-X info"
    );
    check_errno!(
        o.dev.irq_info(VFIO_PCI_ERR_IRQ_INDEX),
        Errno::EINVAL,
        "ERR info"
    );
    if ctx.p.has_request {
        let req = o.dev.irq_info(VFIO_PCI_REQ_IRQ_INDEX).or_fail("REQ info")?;
        check!(
            req.flags & VFIO_IRQ_INFO_EVENTFD != 0,
            "REQ flags {:#x}: no EVENTFD",
            req.flags
        );
        check_eq!(req.count, 1, "REQ count");
    } else {
        check_errno!(
            o.dev.irq_info(VFIO_PCI_REQ_IRQ_INDEX),
            Errno::EINVAL,
            "REQ info"
        );
    }
    check_errno!(
        o.dev.irq_info(VFIO_PCI_NUM_IRQS),
        Errno::EINVAL,
        "info of index 5"
    );
    check_errno!(
        o.dev.irq_info(u32::MAX),
        Errno::EINVAL,
        "info of index 0xffffffff"
    );
    let i = o
        .dev
        .irq_info_argsz(0, IRQ_INFO_MINSZ)
        .or_fail("INTx info, argsz 16")?;
    check_eq!(i.count, 1, "INTx count (argsz 16)");
    drop(o);
    Ok(m.remove()?)
}

/// INTx raised by the UART: IER.THRI with nothing to send, received data at the
/// trigger level with IER.RDI, the FIFO draining with IER.THRI; automasked after
/// each signal until unmasked (with DATA_NONE or DATA_BOOL); nothing after the
/// trigger is torn down (count 0, or eventfd -1).
fn intx_uart(ctx: &Ctx, iface: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let o = vfio::open(&m, iface)?;
    let p = Port::new(&o.dev, 0)?;
    let e = EventFd::new().or_fail("eventfd")?;
    o.dev
        .set_eventfd(VFIO_PCI_INTX_IRQ_INDEX, e.raw())
        .or_fail("SET_IRQS INTx eventfd")?;
    p.wr(UART_IER, UART_IER_THRI)?;
    signalled(&e, "IER.THRI set with the FIFO empty")?;
    thri(&p)?;
    quiet(&e, "IER.THRI again while automasked")?;
    unmask(&o.dev)?;
    e.take();
    thri(&p)?;
    signalled(&e, "IER.THRI after unmask")?;
    o.dev
        .set_irqs(
            VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_UNMASK,
            VFIO_PCI_INTX_IRQ_INDEX,
            &[1],
        )
        .or_fail("unmask INTx with DATA_BOOL 1")?;
    e.take();
    p.wr(UART_IER, 0)?;
    p.wr(UART_IIR, UART_FCR_ENABLE_FIFO)?;
    p.wr(UART_IER, UART_IER_RDI)?;
    quiet(&e, "IER.RDI set with nothing received")?;
    p.wr(UART_RX, b'r')?;
    signalled(&e, "a byte received with IER.RDI")?;
    unmask(&o.dev)?;
    e.take();
    p.wr(UART_IER, UART_IER_RDI | UART_IER_THRI)?;
    quiet(&e, "IER.THRI set with a byte waiting")?;
    check_eq!(p.rd(UART_RX)?, b'r', "the byte received");
    signalled(&e, "the FIFO drained with IER.THRI")?;
    unmask(&o.dev)?;
    e.take();
    o.dev
        .set_irqs_raw(
            VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
            VFIO_PCI_INTX_IRQ_INDEX,
            0,
            0,
            &[],
            None,
        )
        .or_fail("tear down INTx (DATA_NONE, count 0)")?;
    thri(&p)?;
    quiet(&e, "IER.THRI after INTx was torn down")?;
    let e2 = EventFd::new().or_fail("eventfd")?;
    o.dev
        .set_eventfd(VFIO_PCI_INTX_IRQ_INDEX, e2.raw())
        .or_fail("SET_IRQS INTx eventfd again")?;
    thri(&p)?;
    signalled(&e2, "IER.THRI with a new eventfd")?;
    o.dev
        .set_eventfd(VFIO_PCI_INTX_IRQ_INDEX, -1)
        .or_fail("SET_IRQS INTx eventfd -1")?;
    thri(&p)?;
    quiet(&e2, "IER.THRI after eventfd -1")?;
    quiet(&e, "IER.THRI after eventfd -1 (first eventfd)")?;
    drop(o);
    Ok(m.remove()?)
}

/// The INTx actions of SET_IRQS without the UART: the loopback trigger (DATA_NONE,
/// DATA_BOOL 0 and 1), MASK and UNMASK, and the forms mtty refuses.
fn intx_actions(ctx: &Ctx, iface: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let o = vfio::open(&m, iface)?;
    let d = &o.dev;
    let x = VFIO_PCI_INTX_IRQ_INDEX;
    let none = VFIO_IRQ_SET_DATA_NONE;
    let boolean = VFIO_IRQ_SET_DATA_BOOL;
    let trigger = VFIO_IRQ_SET_ACTION_TRIGGER;
    check_errno!(
        d.irq_action(x, VFIO_IRQ_SET_ACTION_UNMASK),
        Errno::EINVAL,
        "unmask before INTx is set up"
    );
    check_errno!(
        d.irq_action(x, VFIO_IRQ_SET_ACTION_MASK),
        Errno::EINVAL,
        "mask before INTx is set up"
    );
    check_errno!(
        d.irq_action(x, trigger),
        Errno::EINVAL,
        "loopback trigger before INTx is set up"
    );
    let e = EventFd::new().or_fail("eventfd")?;
    d.set_eventfd(x, e.raw()).or_fail("SET_IRQS INTx eventfd")?;
    d.irq_action(x, trigger).or_fail("loopback trigger")?;
    signalled(&e, "loopback trigger")?;
    d.irq_action(x, trigger)
        .or_fail("loopback trigger while automasked")?;
    quiet(&e, "loopback trigger while automasked")?;
    unmask(d)?;
    e.take();
    d.irq_action(x, VFIO_IRQ_SET_ACTION_MASK).or_fail("mask")?;
    d.irq_action(x, trigger)
        .or_fail("loopback trigger while masked")?;
    quiet(&e, "loopback trigger while masked")?;
    unmask(d)?;
    e.take();
    d.set_irqs(boolean | trigger, x, &[0])
        .or_fail("loopback trigger DATA_BOOL 0")?;
    quiet(&e, "loopback trigger DATA_BOOL 0")?;
    d.set_irqs(boolean | trigger, x, &[1])
        .or_fail("loopback trigger DATA_BOOL 1")?;
    signalled(&e, "loopback trigger DATA_BOOL 1")?;
    unmask(d)?;
    e.take();
    let fd = e.raw().to_ne_bytes();
    check_errno!(
        d.set_irqs(VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_MASK, x, &fd),
        Errno::ENOTTY,
        "mask with an eventfd"
    );
    check_errno!(
        d.set_irqs(
            VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK,
            x,
            &fd
        ),
        Errno::ENOTTY,
        "unmask with an eventfd"
    );
    let two = [fd, fd].concat();
    check_errno!(
        d.set_irqs_raw(VFIO_IRQ_SET_DATA_EVENTFD | trigger, x, 0, 2, &two, None),
        Errno::EINVAL,
        "two INTx eventfds"
    );
    check_errno!(
        d.set_irqs_raw(none | trigger, x, 1, 1, &[], None),
        Errno::EINVAL,
        "loopback trigger of vector 1"
    );
    drop(o);
    Ok(m.remove()?)
}

/// MSI: one vector, signalled on every interrupt (no automask), exclusive with
/// INTx while set up; mask and unmask are not supported.
fn msi(ctx: &Ctx, iface: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let o = vfio::open(&m, iface)?;
    let d = &o.dev;
    let p = Port::new(d, 0)?;
    let e = EventFd::new().or_fail("eventfd")?;
    let ex = EventFd::new().or_fail("eventfd")?;
    d.set_eventfd(VFIO_PCI_MSI_IRQ_INDEX, e.raw())
        .or_fail("SET_IRQS MSI eventfd")?;
    check_errno!(
        d.set_eventfd(VFIO_PCI_INTX_IRQ_INDEX, ex.raw()),
        Errno::EINVAL,
        "INTx eventfd while MSI is set up"
    );
    p.wr(UART_IER, UART_IER_THRI)?;
    signalled(&e, "IER.THRI with MSI")?;
    thri(&p)?;
    signalled(&e, "IER.THRI again with MSI (no automask)")?;
    d.irq_action(VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER)
        .or_fail("MSI loopback trigger")?;
    signalled(&e, "MSI loopback trigger")?;
    for (action, name) in [
        (VFIO_IRQ_SET_ACTION_MASK, "mask"),
        (VFIO_IRQ_SET_ACTION_UNMASK, "unmask"),
    ] {
        check_errno!(
            d.irq_action(VFIO_PCI_MSI_IRQ_INDEX, action),
            Errno::ENOTTY,
            "MSI {name}"
        );
    }
    d.set_irqs_raw(
        VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
        VFIO_PCI_MSI_IRQ_INDEX,
        0,
        0,
        &[],
        None,
    )
    .or_fail("tear down MSI")?;
    thri(&p)?;
    quiet(&e, "IER.THRI after MSI was torn down")?;
    d.set_eventfd(VFIO_PCI_INTX_IRQ_INDEX, ex.raw())
        .or_fail("INTx eventfd after MSI was torn down")?;
    thri(&p)?;
    signalled(&ex, "IER.THRI with INTx after MSI")?;
    quiet(&e, "IER.THRI with INTx after MSI (MSI eventfd)")?;
    drop(o);
    Ok(m.remove()?)
}

/// SET_IRQS that the core or mtty refuses: an index past the last, MSI-X and ERR
/// (and REQ without a `request` callback), flags outside the defined ones, two data
/// types, `argsz` too short for the header or for the data, and an fd that is not
/// an eventfd or not open.
fn irq_set_errors(ctx: &Ctx, iface: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let o = vfio::open(&m, iface)?;
    let d = &o.dev;
    let e = EventFd::new().or_fail("eventfd")?;
    let fd = e.raw().to_ne_bytes();
    let efd = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    check_errno!(
        d.set_irqs(efd, VFIO_PCI_NUM_IRQS, &fd),
        Errno::EINVAL,
        "index 5"
    );
    check_errno!(
        d.set_irqs(efd, u32::MAX, &fd),
        Errno::EINVAL,
        "index 0xffffffff"
    );
    check_errno!(
        d.set_irqs(efd, VFIO_PCI_MSIX_IRQ_INDEX, &fd),
        Errno::ENOTTY,
        "MSI-X"
    );
    check_errno!(
        d.set_irqs(efd, VFIO_PCI_ERR_IRQ_INDEX, &fd),
        Errno::ENOTTY,
        "ERR"
    );
    if ctx.p.has_request {
        d.set_irqs(efd, VFIO_PCI_REQ_IRQ_INDEX, &fd)
            .or_fail("REQ eventfd")?;
        d.set_eventfd(VFIO_PCI_REQ_IRQ_INDEX, -1)
            .or_fail("REQ eventfd -1")?;
    } else {
        check_errno!(
            d.set_irqs(efd, VFIO_PCI_REQ_IRQ_INDEX, &fd),
            Errno::ENOTTY,
            "REQ"
        );
    }
    check_errno!(
        d.set_irqs(efd | (1 << 6), VFIO_PCI_INTX_IRQ_INDEX, &fd),
        Errno::EINVAL,
        "an undefined flag"
    );
    check_errno!(
        d.set_irqs(
            VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER,
            VFIO_PCI_INTX_IRQ_INDEX,
            &[1]
        ),
        Errno::EINVAL,
        "two data types"
    );
    check_errno!(
        d.set_irqs_raw(
            efd,
            VFIO_PCI_INTX_IRQ_INDEX,
            0,
            1,
            &fd,
            Some(IRQ_SET_MINSZ - 1)
        ),
        Errno::EINVAL,
        "argsz 19"
    );
    check_errno!(
        d.set_irqs_raw(efd, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &fd, Some(IRQ_SET_MINSZ)),
        Errno::EINVAL,
        "argsz 20 with an eventfd to pass"
    );
    let null = sys::open_rw("/dev/null").or_fail("open /dev/null")?;
    check_errno!(
        d.set_eventfd(
            VFIO_PCI_INTX_IRQ_INDEX,
            std::os::fd::AsRawFd::as_raw_fd(&null)
        ),
        Errno::EINVAL,
        "/dev/null as the INTx eventfd"
    );
    check_errno!(
        d.set_eventfd(VFIO_PCI_INTX_IRQ_INDEX, 999_999),
        Errno::EBADF,
        "a closed fd as the INTx eventfd"
    );
    drop(o);
    Ok(m.remove()?)
}
