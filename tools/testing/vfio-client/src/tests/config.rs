// SPDX-License-Identifier: GPL-2.0
//! PCI config space: its contents, and the writes mtty emulates.

use crate::check;
use crate::check_eq;
use crate::tests::region_offset;
use crate::uapi::*;
use crate::vfio;
use crate::vfio::Iface;
use crate::Ctx;
use crate::Fail;
use crate::OrFail;
use crate::Test;
use crate::TestResult;
use crate::BOTH;

pub const TESTS: &[Test] = &[
    Test {
        name: "config_space",
        ifaces: BOTH,
        run: config_space,
    },
    Test {
        name: "config_writes",
        ifaces: BOTH,
        run: config_writes,
    },
];

/// The size of mtty's config space region (MTTY_CONFIG_SPACE_SIZE).
pub const CONFIG_SIZE: usize = 0xff;

/// mtty's config space as `mtty_create_config_space` builds it (mtty.c 249-311).
pub fn expected_config(ports: u32) -> [u8; CONFIG_SIZE] {
    let mut c = [0u8; CONFIG_SIZE];
    c[0x00..0x04].copy_from_slice(&0x3253_4348u32.to_le_bytes()); // vendor 0x4348, device 0x3253
    c[0x04..0x06].copy_from_slice(&0x0001u16.to_le_bytes()); // command: I/O space
    c[0x06..0x08].copy_from_slice(&0x0200u16.to_le_bytes()); // status
    c[0x08] = 0x10; // revision
    c[0x09] = 0x02; // programming interface: 16550-compatible
    c[0x0a] = 0x00; // subclass: serial controller
    c[0x0b] = 0x07; // class: simple communication controller
    c[0x10] = 0x01; // BAR0: I/O space
    if ports == 2 {
        c[0x14] = 0x01; // BAR1: I/O space
    }
    c[0x2c..0x30].copy_from_slice(&0x3253_4348u32.to_le_bytes()); // subsystem
    c[0x34] = 0x00; // no capabilities
    c[0x3d] = 0x01; // interrupt pin INTA#
    c[0x40] = 0x23; // vendor-specific bytes
    c[0x43] = 0x80;
    c[0x44] = 0x23;
    c[0x48] = 0x23;
    c[0x4c] = 0x23;
    c[0x60..0x6f].copy_from_slice(b"PCI Serial/UART");
    c
}

/// Where two config spaces differ, for messages.
fn diff(got: &[u8], want: &[u8]) -> String {
    let mut d: Vec<String> = got
        .iter()
        .zip(want)
        .enumerate()
        .filter(|(_, (g, w))| g != w)
        .map(|(i, (g, w))| format!("{i:#04x}: {g:#04x} want {w:#04x}"))
        .collect();
    if got.len() != want.len() {
        d.push(format!("length {} want {}", got.len(), want.len()));
    }
    d.truncate(16);
    d.join(", ")
}

/// The whole config space in one read (the driver splits it into 4-, 2- and 1-byte
/// accesses), then dword, word and byte reads of the identity fields, for both types.
fn config_space(ctx: &Ctx, iface: Iface) -> TestResult {
    for ports in [1u32, 2] {
        let m = ctx.create(ports)?;
        let o = vfio::open(&m, iface)?;
        let cfg = region_offset(&o.dev, VFIO_PCI_CONFIG_REGION_INDEX)?;
        let want = expected_config(ports);
        let got = o.dev.read(cfg, CONFIG_SIZE).or_fail("read config space")?;
        check!(
            got == want,
            "{}: config space differs: {}",
            ctx.type_name(ports),
            diff(&got, &want)
        );
        let d = |off: u64| {
            o.dev
                .read32(cfg + off)
                .or_fail(format!("read32 config {off:#x}"))
        };
        check_eq!(d(PCI_VENDOR_ID)?, 0x3253_4348, "vendor and device id");
        check_eq!(d(0x08)?, 0x0700_0210, "class and revision");
        check_eq!(d(PCI_SUBSYSTEM_VENDOR_ID)?, 0x3253_4348, "subsystem ids");
        check_eq!(d(PCI_BASE_ADDRESS_0)?, 1, "BAR0");
        check_eq!(d(PCI_BASE_ADDRESS_0 + 4)?, u32::from(ports == 2), "BAR1");
        let w = o.dev.read(cfg + 2, 2).or_fail("read16 config 0x2")?;
        check_eq!(w, vec![0x53, 0x32], "device id as a word");
        let b = o.dev.read8(cfg + 0x60).or_fail("read8 config 0x60")?;
        check_eq!(b, b'P', "first byte of the vendor string");
        drop(o);
        m.remove()?;
    }
    Ok(())
}

/// The config writes mtty emulates (handle_pci_cfg_write, mtty.c 313-365): BAR
/// sizing (0xffffffff reads back the size mask with the I/O bit: 0xfffffff9 for
/// an 8-byte I/O BAR), BAR addresses, unimplemented BARs reading 0, the interrupt
/// line, and the registers it protects. BARs are written as whole dwords only: a 1-
/// or 2-byte write there is one of mtty's unchecked accesses (see bounds.rs).
fn config_writes(ctx: &Ctx, iface: Iface) -> TestResult {
    for ports in [1u32, 2] {
        let m = ctx.create(ports)?;
        let o = vfio::open(&m, iface)?;
        let cfg = region_offset(&o.dev, VFIO_PCI_CONFIG_REGION_INDEX)?;
        let t = ctx.type_name(ports);
        let w = |off: u64, v: u32| -> Result<u32, Fail> {
            o.dev
                .write32(cfg + off, v)
                .or_fail(format!("{t}: write32 config {off:#x} {v:#x}"))?;
            o.dev
                .read32(cfg + off)
                .or_fail(format!("{t}: read32 config {off:#x}"))
        };
        check_eq!(w(0x10, 0xffff_ffff)?, 0xffff_fff9, "{t}: BAR0 size mask");
        check_eq!(
            w(0x10, 0x0000_c000)?,
            0x0000_c001,
            "{t}: BAR0 set to 0xc000"
        );
        let bar1 = if ports == 2 { 0xffff_fff9 } else { 0 };
        check_eq!(w(0x14, 0xffff_ffff)?, bar1, "{t}: BAR1 size mask");
        if ports == 2 {
            check_eq!(
                w(0x14, 0x0000_c008)?,
                0x0000_c009,
                "{t}: BAR1 set to 0xc008"
            );
        }
        for bar in 2..=5u64 {
            let off = 0x10 + 4 * bar;
            check_eq!(w(off, 0xffff_ffff)?, 0, "{t}: BAR{bar} (not implemented)");
        }
        check_eq!(w(0x30, 0xffff_ffff)?, 0, "{t}: expansion ROM BAR");
        check_eq!(
            w(PCI_VENDOR_ID, 0)?,
            0x3253_4348,
            "{t}: vendor/device id after a write"
        );
        check_eq!(
            w(PCI_COMMAND, 0)?,
            0x0200_0001,
            "{t}: command/status after a write"
        );
        o.dev
            .write8(cfg + PCI_INTERRUPT_LINE, 0x0b)
            .or_fail("write interrupt line")?;
        o.dev
            .write8(cfg + PCI_INTERRUPT_PIN, 0x04)
            .or_fail("write interrupt pin")?;
        let line = o
            .dev
            .read8(cfg + PCI_INTERRUPT_LINE)
            .or_fail("read interrupt line")?;
        let pin = o
            .dev
            .read8(cfg + PCI_INTERRUPT_PIN)
            .or_fail("read interrupt pin")?;
        check_eq!(line, 0x0b, "{t}: interrupt line");
        check_eq!(pin, 0x01, "{t}: interrupt pin (read-only)");
        drop(o);
        m.remove()?;
    }
    Ok(())
}
