// SPDX-License-Identifier: GPL-2.0
//! What the device says about itself: device info and region info.

use crate::check_eq;
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
        name: "device_info",
        ifaces: BOTH,
        run: device_info,
    },
    Test {
        name: "region_info",
        ifaces: BOTH,
        run: region_info,
    },
];

/// `VFIO_DEVICE_GET_INFO`: a PCI device with the 9 vfio-pci regions and 5 interrupt
/// indexes (mtty.c 1778-1785), resettable where the profile says the driver
/// advertises it; `argsz` of exactly the mandatory part is enough.
fn device_info(ctx: &Ctx, iface: Iface) -> TestResult {
    let want_flags = device_flags(ctx);
    let m = ctx.create(1)?;
    let o = vfio::open(&m, iface)?;
    for argsz in [24, DEVICE_INFO_MINSZ] {
        let i = o
            .dev
            .info_argsz(argsz)
            .or_fail(format!("VFIO_DEVICE_GET_INFO argsz {argsz}"))?;
        check_eq!(i.flags, want_flags, "flags (argsz {argsz})");
        check_eq!(
            i.num_regions,
            VFIO_PCI_NUM_REGIONS,
            "num_regions (argsz {argsz})"
        );
        check_eq!(i.num_irqs, VFIO_PCI_NUM_IRQS, "num_irqs (argsz {argsz})");
    }
    drop(o);
    Ok(m.remove()?)
}

/// The `VFIO_DEVICE_FLAGS_*` the profile's driver reports: PCI, and RESET where it
/// advertises its `VFIO_DEVICE_RESET`.
pub(crate) fn device_flags(ctx: &Ctx) -> u32 {
    if ctx.p.advertises_reset {
        VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET
    } else {
        VFIO_DEVICE_FLAGS_PCI
    }
}

/// `VFIO_DEVICE_GET_REGION_INFO` for every region of both types: config space of
/// 0xff bytes (not 0x100: MTTY_CONFIG_SPACE_SIZE), an 8-byte I/O BAR per port, every
/// other region empty; each at `index << 40`, readable and writable, never
/// mmap-able, without capabilities (mtty.c 1717-1758).
fn region_info(ctx: &Ctx, iface: Iface) -> TestResult {
    for ports in [1u32, 2] {
        let m = ctx.create(ports)?;
        let o = vfio::open(&m, iface)?;
        for index in 0..VFIO_PCI_NUM_REGIONS {
            let want_size = match index {
                VFIO_PCI_CONFIG_REGION_INDEX => 0xff,
                VFIO_PCI_BAR0_REGION_INDEX => 8,
                VFIO_PCI_BAR1_REGION_INDEX if ports == 2 => 8,
                _ => 0,
            };
            let r = o
                .dev
                .region(index)
                .or_fail(format!("{}: region {index}", ctx.type_name(ports)))?;
            let what = format!("{}: region {index}", ctx.type_name(ports));
            check_eq!(r.index, index, "{what}: index");
            check_eq!(r.size, want_size, "{what}: size");
            check_eq!(r.offset, u64::from(index) << 40, "{what}: offset");
            check_eq!(
                r.flags,
                VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE,
                "{what}: flags"
            );
            check_eq!(r.cap_offset, 0, "{what}: cap_offset");
        }
        drop(o);
        m.remove()?;
    }
    Ok(())
}
