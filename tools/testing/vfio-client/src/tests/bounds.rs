// SPDX-License-Identifier: GPL-2.0
//! Accesses outside the device's regions, or of a size its registers do not have.
//!
//! C mtty (samples/vfio-mdev/mtty.c, Linux 7.3) checks none of them. `mdev_access`
//! (710-778) splits the file offset into a region index (`pos >> 40`) and an offset
//! (the low 40 bits, 722-723) and compares neither with the region's size:
//!
//! - config space, read (735): `memcpy(buf, vconfig + offset, count)`, where
//!   `vconfig` is `kzalloc(MTTY_CONFIG_SPACE_SIZE)`, 0xff bytes (1332). Any read that
//!   reaches byte 0xff or beyond (1 byte at 0xff, 4 at 0xfc, 256 from 0, anything at
//!   0x100 and up to 2^40) reads past the allocation: a slab out-of-bounds read,
//!   which KASAN reports. NOT RUN on C mtty.
//! - config space, write (733): `handle_pci_cfg_write` takes the offset as `u16`
//!   (313), so writes past the end are silently ignored (the `default` case, 360)
//!   or, from 0x10000 on, land on the register at `offset & 0xffff`. Memory-safe:
//!   run, and C mtty's acceptance is checked.
//! - config space, BAR0/BAR1 writes of 1 or 2 bytes (0x10, 0x14): `cfg_addr =
//!   *(u32 *)buf` (344) reads 4 bytes from mtty_write's 1- or 2-byte stack variable
//!   (1499, 1511): a stack out-of-bounds read (not reported by this kernel's KASAN,
//!   which has no stack instrumentation, but a read past the object all the same).
//!   NOT RUN on C mtty.
//! - BARs 2 to 5 (741-755): `handle_bar_write/read(index, ...)` index
//!   `mdev_state->s[index]`, an array of 2 ports (167), with index up to 5: reads
//!   and writes past the array, into the rest of `struct mdev_state` (its mutexes
//!   and more). NOT RUN on C mtty.
//! - BAR0/BAR1 reads of 2 or 4 bytes, and reads at BAR offsets 8 and up:
//!   `handle_bar_read` sets only `buf[0]` (535-708), and nothing for offsets past
//!   the eight registers (668), so the rest of mtty_read's stack variable (1426,
//!   1438, 1450) goes to userspace uninitialised: a kernel stack leak. NOT RUN on C
//!   mtty (the value is undefined).
//! - BAR0/BAR1 writes of 2 or 4 bytes, and at offsets 8 and up: only `buf[0]` is
//!   used (370); offsets past the registers are ignored (530) and from 0x10000 on
//!   alias the register at `offset & 0xffff`. Memory-safe: run.
//! - BAR1 of a 1-port mdev (a region of size 0): `s[1]` exists, so it is a hidden,
//!   working second port. Memory-safe: run.
//! - regions 6 (ROM), 8 (VGA) and 9 and up: the `default` case returns -1 (766),
//!   which mtty_read/mtty_write turn into EFAULT (1472, 1531). Checked: run.
//!
//! A driver whose profile says `bounds_checked` must refuse all of them with EINVAL
//! (sub-dword BAR writes in config space may instead be carried out correctly), and
//! the kernel must report nothing.

use crate::check_eq;
use crate::sys::Errno;
use crate::sys::Res;
use crate::tests::config::expected_config;
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
        name: "out_of_range",
        ifaces: BOTH,
        run: out_of_range,
    },
    Test {
        name: "out_of_range_unchecked",
        ifaces: BOTH,
        run: out_of_range_unchecked,
    },
];

/// What C mtty does with an access.
#[derive(Clone, Copy)]
enum OnC {
    /// Refuses it with this errno.
    Refused(Errno),
    /// Carries it out (or ignores it) and returns the byte count.
    Accepted,
    /// Reads or writes memory it must not; the access is not made.
    Unsafe,
}

/// What a bounds-checked driver must do.
#[derive(Clone, Copy)]
enum Checked {
    Einval,
    /// EINVAL, or carrying it out (the byte count).
    EinvalOrDone,
}

struct Access {
    what: &'static str,
    /// The mdev: 1 or 2 ports.
    ports: u32,
    region: u32,
    offset: u64,
    len: usize,
    write: bool,
    on_c: OnC,
    checked: Checked,
}

const fn rd(
    what: &'static str,
    ports: u32,
    region: u32,
    offset: u64,
    len: usize,
    on_c: OnC,
) -> Access {
    Access {
        what,
        ports,
        region,
        offset,
        len,
        write: false,
        on_c,
        checked: Checked::Einval,
    }
}

const fn wr(
    what: &'static str,
    ports: u32,
    region: u32,
    offset: u64,
    len: usize,
    on_c: OnC,
) -> Access {
    Access {
        what,
        ports,
        region,
        offset,
        len,
        write: true,
        on_c,
        checked: Checked::Einval,
    }
}

const CFG: u32 = VFIO_PCI_CONFIG_REGION_INDEX;
const BAR0: u32 = VFIO_PCI_BAR0_REGION_INDEX;
const BAR1: u32 = VFIO_PCI_BAR1_REGION_INDEX;
const EFAULT: OnC = OnC::Refused(Errno::EFAULT);

static ACCESSES: &[Access] = &[
    // Checked by C mtty (mdev_access's default case, 766).
    rd("read of region 9", 1, 9, 0, 1, EFAULT),
    wr("write to region 9", 1, 9, 0, 1, EFAULT),
    rd("read of region 0x3f", 1, 0x3f, 0, 4, EFAULT),
    rd(
        "read of the ROM region (size 0)",
        1,
        VFIO_PCI_ROM_REGION_INDEX,
        0,
        4,
        EFAULT,
    ),
    wr(
        "write to the ROM region (size 0)",
        1,
        VFIO_PCI_ROM_REGION_INDEX,
        0,
        4,
        EFAULT,
    ),
    rd(
        "read of the VGA region (size 0)",
        1,
        VFIO_PCI_VGA_REGION_INDEX,
        0,
        1,
        EFAULT,
    ),
    // Not checked by C mtty, but memory-safe there.
    wr(
        "config write of 1 byte at 0xff (past the end)",
        1,
        CFG,
        0xff,
        1,
        OnC::Accepted,
    ),
    wr(
        "config write of 4 bytes at 0xfc (across the end)",
        1,
        CFG,
        0xfc,
        4,
        OnC::Accepted,
    ),
    wr("config write at 0x100", 1, CFG, 0x100, 4, OnC::Accepted),
    wr(
        "config write at 0x10010 (C mtty: BAR0)",
        1,
        CFG,
        0x1_0010,
        4,
        OnC::Accepted,
    ),
    wr(
        "BAR0 write at 8 (past the 8-byte BAR)",
        1,
        BAR0,
        8,
        1,
        OnC::Accepted,
    ),
    wr(
        "BAR0 write at 0x10007 (C mtty: SCR)",
        1,
        BAR0,
        0x1_0007,
        1,
        OnC::Accepted,
    ),
    wr("BAR0 write of 2 bytes (SCR)", 1, BAR0, 6, 2, OnC::Accepted),
    wr("BAR0 write of 4 bytes (THR)", 1, BAR0, 0, 4, OnC::Accepted),
    wr(
        "BAR1 write on a 1-port mdev (size 0)",
        1,
        BAR1,
        7,
        1,
        OnC::Accepted,
    ),
    rd(
        "BAR1 read on a 1-port mdev (size 0)",
        1,
        BAR1,
        7,
        1,
        OnC::Accepted,
    ),
    wr(
        "BAR1 write at 8 on a 2-port mdev",
        2,
        BAR1,
        8,
        1,
        OnC::Accepted,
    ),
    // Not checked by C mtty, and unsafe there: not made on it.
    rd(
        "config read of 1 byte at 0xff",
        1,
        CFG,
        0xff,
        1,
        OnC::Unsafe,
    ),
    rd(
        "config read of 4 bytes at 0xfc",
        1,
        CFG,
        0xfc,
        4,
        OnC::Unsafe,
    ),
    rd("config read of 256 bytes", 1, CFG, 0, 256, OnC::Unsafe),
    rd("config read at 0x1000", 1, CFG, 0x1000, 4, OnC::Unsafe),
    rd(
        "config read at 2^40 - 4",
        1,
        CFG,
        (1 << 40) - 4,
        4,
        OnC::Unsafe,
    ),
    Access {
        checked: Checked::EinvalOrDone,
        ..wr(
            "config write of 1 byte to BAR0",
            1,
            CFG,
            0x10,
            1,
            OnC::Unsafe,
        )
    },
    Access {
        checked: Checked::EinvalOrDone,
        ..wr(
            "config write of 2 bytes to BAR1",
            2,
            CFG,
            0x14,
            2,
            OnC::Unsafe,
        )
    },
    rd(
        "read of BAR2",
        1,
        VFIO_PCI_BAR2_REGION_INDEX,
        7,
        1,
        OnC::Unsafe,
    ),
    wr(
        "write to BAR2",
        1,
        VFIO_PCI_BAR2_REGION_INDEX,
        7,
        1,
        OnC::Unsafe,
    ),
    rd(
        "read of BAR5",
        2,
        VFIO_PCI_BAR5_REGION_INDEX,
        5,
        1,
        OnC::Unsafe,
    ),
    wr(
        "write to BAR5",
        2,
        VFIO_PCI_BAR5_REGION_INDEX,
        0,
        1,
        OnC::Unsafe,
    ),
    rd("BAR0 read of 4 bytes", 1, BAR0, 4, 4, OnC::Unsafe),
    rd("BAR0 read of 2 bytes", 1, BAR0, 6, 2, OnC::Unsafe),
    rd("BAR0 read at 8", 1, BAR0, 8, 1, OnC::Unsafe),
    rd(
        "BAR1 read at 8 on a 2-port mdev",
        2,
        BAR1,
        8,
        1,
        OnC::Unsafe,
    ),
];

/// The file offset of `offset` in region `index` (regions past the last have no
/// region info; their offset is mtty's `index << 40`).
fn file_offset(dev: &Device, index: u32, offset: u64) -> Result<u64, Fail> {
    if index >= VFIO_PCI_NUM_REGIONS {
        return Ok((u64::from(index) << 40) + offset);
    }
    let r = dev.region(index).or_fail(format!("REGION_INFO({index})"))?;
    Ok(r.offset + offset)
}

fn attempt(dev: &Device, a: &Access) -> Result<Res<usize>, Fail> {
    let off = file_offset(dev, a.region, a.offset)?;
    Ok(if a.write {
        dev.write(off, &vec![0u8; a.len])
    } else {
        dev.read(off, a.len).map(|v| v.len())
    })
}

/// Makes the accesses `which` selects on fresh 1- and 2-port mdevs, checks each
/// answer, then that both devices still work.
fn run(ctx: &Ctx, iface: Iface, which: fn(&Access) -> bool) -> TestResult {
    let m1 = ctx.create(1)?;
    let m2 = ctx.create(2)?;
    let o1 = vfio::open(&m1, iface)?;
    let o2 = vfio::open(&m2, iface)?;
    for a in ACCESSES.iter().filter(|a| which(a)) {
        let dev = if a.ports == 2 { &o2.dev } else { &o1.dev };
        let got = attempt(dev, a)?;
        let ok = match (ctx.p.bounds_checked, a.checked, a.on_c, got) {
            (true, _, _, Err(Errno::EINVAL)) => true,
            (true, Checked::EinvalOrDone, _, Ok(n)) => n == a.len,
            (true, _, _, _) => false,
            (false, _, OnC::Refused(want), Err(e)) => e == want,
            (false, _, OnC::Accepted, Ok(n)) => n == a.len,
            (false, _, _, _) => false,
        };
        if !ok {
            let want = match (ctx.p.bounds_checked, a.checked, a.on_c) {
                (true, Checked::Einval, _) => "EINVAL".to_string(),
                (true, Checked::EinvalOrDone, _) => format!("EINVAL or {}", a.len),
                (false, _, OnC::Refused(e)) => e.to_string(),
                (false, _, _) => format!("{} (the reference accepts it)", a.len),
            };
            return Err(Fail::Fail(format!("{}: got {got:?}, want {want}", a.what)));
        }
    }
    // Nothing above may have broken either device.
    for (o, ports) in [(&o1, 1u32), (&o2, 2)] {
        let cfg = file_offset(&o.dev, VFIO_PCI_CONFIG_REGION_INDEX, 0)?;
        let got = o.dev.read(cfg, 0x10).or_fail("read config space")?;
        check_eq!(
            got,
            expected_config(ports)[..0x10].to_vec(),
            "config header afterwards"
        );
        for n in 0..ports {
            let p = Port::new(&o.dev, n)?;
            p.wr(UART_IIR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR)?;
            p.loop_back(b"still works")?;
        }
    }
    drop(o1);
    drop(o2);
    m1.remove()?;
    Ok(m2.remove()?)
}

/// The accesses C mtty refuses or survives: with C mtty, its answer (EFAULT, or
/// the byte count for what it silently accepts); with a bounds-checked driver,
/// EINVAL.
fn out_of_range(ctx: &Ctx, iface: Iface) -> TestResult {
    run(ctx, iface, |a| !matches!(a.on_c, OnC::Unsafe))
}

/// The accesses that would make C mtty read or write out of bounds: made only
/// when the profile says the driver checks them, and then refused with EINVAL.
fn out_of_range_unchecked(ctx: &Ctx, iface: Iface) -> TestResult {
    if !ctx.p.bounds_checked {
        let n = ACCESSES
            .iter()
            .filter(|a| matches!(a.on_c, OnC::Unsafe))
            .count();
        crate::skip!(
            "{n} accesses {} does not bounds-check (out-of-bounds config reads, sub-dword BAR writes, BAR2-5, multi-byte and past-the-end UART reads; see tests/bounds.rs)",
            ctx.p.module
        );
    }
    run(ctx, iface, |a| matches!(a.on_c, OnC::Unsafe))
}
