// SPDX-License-Identifier: GPL-2.0
//! The 16550 UART behind each I/O BAR, accessed a byte at a time as a guest's
//! 8250 driver does (handle_bar_write and handle_bar_read, mtty.c 367-708).
//!
//! Not checked, because C mtty's answer is not defined: reading RBR with the FIFO
//! empty (the read leaves the caller's buffer unset, so the value is whatever was
//! on the kernel stack), and a full 16-byte FIFO (the ring's head catches up with
//! its tail, so LSR then reports it empty and RBR returns nothing). The FIFO is
//! checked up to 15 bytes.

use crate::check_eq;
use crate::tests::Port;
use crate::tests::LSR_IDLE;
use crate::tests::MSR_MTTY;
use crate::uapi::*;
use crate::vfio;
use crate::vfio::Iface;
use crate::Ctx;
use crate::OrFail;
use crate::Test;
use crate::TestResult;
use crate::BOTH;

pub const TESTS: &[Test] = &[
    Test {
        name: "uart_registers",
        ifaces: BOTH,
        run: uart_registers,
    },
    Test {
        name: "uart_loopback",
        ifaces: BOTH,
        run: uart_loopback,
    },
    Test {
        name: "uart_divisor_latch",
        ifaces: BOTH,
        run: uart_divisor_latch,
    },
    Test {
        name: "uart_fifo",
        ifaces: BOTH,
        run: uart_fifo,
    },
    Test {
        name: "uart_interrupt_id",
        ifaces: BOTH,
        run: uart_interrupt_id,
    },
    Test {
        name: "device_reset",
        ifaces: BOTH,
        run: device_reset,
    },
];

/// The registers of both ports of a 2-port mdev at reset, the read-write ones
/// (SCR, LCR, MCR, IER's four bits) reading back, the read-only ones (LSR, MSR)
/// ignoring writes, and each port keeping its own registers.
fn uart_registers(ctx: &Ctx, iface: Iface) -> TestResult {
    let m = ctx.create(2)?;
    let o = vfio::open(&m, iface)?;
    let ports = [Port::new(&o.dev, 0)?, Port::new(&o.dev, 1)?];
    for p in &ports {
        p.expect(UART_LSR, LSR_IDLE, "at reset")?;
        p.expect(UART_IIR, 0xc0 | UART_IIR_NO_INT, "at reset")?;
        p.expect(UART_MSR, MSR_MTTY, "at reset")?;
        for reg in [UART_IER, UART_LCR, UART_MCR, UART_SCR] {
            p.expect(reg, 0, "at reset")?;
        }
    }
    for v in [0x5a, 0xa5, 0xff, 0x00, 0x01] {
        ports[0].wr(UART_SCR, v)?;
        ports[1].wr(UART_SCR, !v)?;
        ports[0].expect(UART_SCR, v, "after writing it")?;
        ports[1].expect(UART_SCR, !v, "after writing it")?;
    }
    for p in &ports {
        p.wr(UART_LCR, 0x1b)?;
        p.expect(UART_LCR, 0x1b, "after writing 0x1b")?;
        p.wr(UART_MCR, 0x03)?;
        p.expect(UART_MCR, 0x03, "after writing DTR|RTS")?;
        p.wr(UART_MCR, 0)?;
        p.wr(UART_IER, 0xf5)?;
        p.expect(
            UART_IER,
            0x05,
            "after writing 0xf5 (four bits are implemented)",
        )?;
        p.wr(UART_IER, 0)?;
        p.wr(UART_LSR, 0xff)?;
        p.expect(UART_LSR, LSR_IDLE, "after a write to it")?;
        p.wr(UART_MSR, 0x00)?;
        p.expect(UART_MSR, MSR_MTTY, "after a write to it")?;
    }
    drop(o);
    Ok(m.remove()?)
}

/// THR to RBR loopback: a string written byte by byte reads back in order, on each
/// port separately; a long text written and read one byte at a time goes round the
/// FIFO's ring many times.
fn uart_loopback(ctx: &Ctx, iface: Iface) -> TestResult {
    let m = ctx.create(2)?;
    let o = vfio::open(&m, iface)?;
    let p0 = Port::new(&o.dev, 0)?;
    let p1 = Port::new(&o.dev, 1)?;
    p0.wr(UART_RX, b'H')?;
    p0.expect(UART_LSR, UART_LSR_DR, "with one byte received")?;
    check_eq!(p0.rd(UART_RX)?, b'H', "the byte read back");
    p0.expect(UART_LSR, LSR_IDLE, "after reading it")?;
    p0.loop_back(b"Hello, mtty!")?;
    for &b in b"port one" {
        p1.wr(UART_RX, b)?;
    }
    p0.expect(UART_LSR, LSR_IDLE, "while port 1 holds data")?;
    p1.expect(UART_LSR, UART_LSR_DR, "with data")?;
    let mut got = Vec::new();
    for _ in 0..8 {
        got.push(p1.rd(UART_RX)?);
    }
    check_eq!(
        String::from_utf8_lossy(&got),
        "port one",
        "port 1 looped back"
    );
    p1.expect(UART_LSR, LSR_IDLE, "drained")?;
    let text: Vec<u8> = (0..200u32).map(|i| b' ' + (i % 95) as u8).collect();
    for (i, &b) in text.iter().enumerate() {
        p0.wr(UART_RX, b)?;
        let got = p0.rd(UART_RX)?;
        check_eq!(got, b, "byte {i} of the long text");
    }
    p0.expect(UART_LSR, LSR_IDLE, "after the long text")?;
    drop(o);
    Ok(m.remove()?)
}

/// The divisor latch: with LCR.DLAB set, offsets 0 and 1 are DLL and DLM, and a
/// write there neither transmits nor changes IER; clearing DLAB brings THR and IER
/// back.
fn uart_divisor_latch(ctx: &Ctx, iface: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let o = vfio::open(&m, iface)?;
    let p = Port::new(&o.dev, 0)?;
    p.wr(UART_IER, UART_IER_RDI | 0x04)?;
    p.wr(UART_LCR, UART_LCR_DLAB | 0x03)?;
    p.expect(UART_LCR, 0x83, "with DLAB set")?;
    p.wr(UART_RX, 0x0c)?;
    p.wr(UART_IER, 0x01)?;
    p.expect(UART_RX, 0x0c, "(DLL) after writing 0x0c")?;
    p.expect(UART_IER, 0x01, "(DLM) after writing 0x01")?;
    p.expect(UART_LSR, LSR_IDLE, "after a DLL write (nothing was sent)")?;
    p.wr(UART_LCR, 0x03)?;
    p.expect(UART_LCR, 0x03, "with DLAB clear")?;
    p.expect(UART_IER, 0x05, "with DLAB clear again")?;
    p.wr(UART_IER, 0)?;
    p.loop_back(b"9600 8N1")?;
    drop(o);
    Ok(m.remove()?)
}

/// The receive FIFO as mtty implements it: 15 bytes come back in order; an FCR
/// write with the clear bits empties it; without FCR.ENABLE_FIFO it holds one
/// byte, and a second one is lost and shows as an overrun (LSR.OE).
fn uart_fifo(ctx: &Ctx, iface: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let o = vfio::open(&m, iface)?;
    let p = Port::new(&o.dev, 0)?;
    p.loop_back(b"fifteen bytes!!")?;
    p.wr(UART_IIR, UART_FCR_ENABLE_FIFO)?;
    p.loop_back(b"0123456789abcde")?;
    for &b in b"abcde" {
        p.wr(UART_RX, b)?;
    }
    p.expect(UART_LSR, UART_LSR_DR, "with 5 bytes received")?;
    p.wr(
        UART_IIR,
        UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR | UART_FCR_CLEAR_XMIT,
    )?;
    p.expect_bits(
        UART_LSR,
        LSR_IDLE | UART_LSR_DR,
        LSR_IDLE,
        "after clearing the FIFO",
    )?;
    p.loop_back(b"x")?;
    // FIFO off: one byte of buffer.
    p.wr(UART_IIR, 0)?;
    p.wr(UART_RX, b'a')?;
    p.wr(UART_RX, b'b')?;
    p.expect_bits(
        UART_LSR,
        UART_LSR_DR | UART_LSR_OE,
        UART_LSR_DR | UART_LSR_OE,
        "after two bytes with the FIFO off",
    )?;
    check_eq!(p.rd(UART_RX)?, b'a', "the byte kept with the FIFO off");
    p.expect_bits(
        UART_LSR,
        LSR_IDLE | UART_LSR_DR,
        LSR_IDLE,
        "after reading the byte kept",
    )?;
    p.wr(UART_IIR, UART_FCR_ENABLE_FIFO)?;
    p.loop_back(b"back to fifteen")?;
    drop(o);
    Ok(m.remove()?)
}

/// IIR: no interrupt pending (0xc1), THR empty (0xc2) with IER.THRI, received data
/// (0xc4) with IER.RDI once the FIFO reaches its trigger level (1, which any FCR
/// write sets in mtty).
fn uart_interrupt_id(ctx: &Ctx, iface: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let o = vfio::open(&m, iface)?;
    let p = Port::new(&o.dev, 0)?;
    p.wr(UART_IIR, UART_FCR_ENABLE_FIFO)?;
    p.expect(UART_IIR, 0xc0 | UART_IIR_NO_INT, "with IER clear")?;
    p.wr(UART_IER, UART_IER_THRI)?;
    p.expect(
        UART_IIR,
        0xc0 | UART_IIR_THRI,
        "with IER.THRI and nothing to send",
    )?;
    p.wr(UART_IER, UART_IER_RDI)?;
    p.expect(
        UART_IIR,
        0xc0 | UART_IIR_NO_INT,
        "with IER.RDI and nothing received",
    )?;
    p.wr(UART_RX, b'i')?;
    p.expect(
        UART_IIR,
        0xc0 | UART_IIR_RDI,
        "with IER.RDI and a byte received",
    )?;
    check_eq!(p.rd(UART_RX)?, b'i', "the byte");
    p.expect(UART_IIR, 0xc0 | UART_IIR_NO_INT, "after reading it")?;
    drop(o);
    Ok(m.remove()?)
}

/// VFIO_DEVICE_RESET succeeds, also twice, and the device works after it.
/// (mtty's reset only resets its migration state, mtty.c 1398-1412; whether the
/// UART registers survive it is not checked.)
fn device_reset(ctx: &Ctx, iface: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let o = vfio::open(&m, iface)?;
    o.dev.reset().or_fail("VFIO_DEVICE_RESET")?;
    o.dev.reset().or_fail("VFIO_DEVICE_RESET again")?;
    let p = Port::new(&o.dev, 0)?;
    p.loop_back(b"after reset")?;
    drop(o);
    Ok(m.remove()?)
}
