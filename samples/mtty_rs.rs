// SPDX-License-Identifier: GPL-2.0

//! mtty_rs: a Rust mediated-device vendor driver in the spirit of the kernel's
//! `samples/vfio-mdev/mtty.c`, written with the safe vendor API of `api/mdev.rs` and
//! the VFIO layer of `api/vfio.rs`. It contains no `unsafe`.
//!
//! It registers a parent named `mtty_rs` with two types, single-port (`mtty_rs-1`)
//! and dual-port (`mtty_rs-2`) serial, that share a pool of ports (24 by default, the
//! `ports` module parameter sets it): an mdev takes its type's ports when it is
//! created and gives them back when its VFIO device is released (when it is removed
//! or unbound, or once the last VFIO user has closed it), so `available_instances` of each
//! type is the pool divided by its ports per device.
//!
//! Each mdev is a VFIO device (`device.rs`): a PCI serial controller whose ports are
//! emulated 16550 UARTs with their transmitter looped back to their receiver
//! (`uart.rs`), with mtty's config space (`pci_config.rs`) and interrupts, and a
//! request interrupt that asks the user to release the device when it is removed.
//! The vendor attribute `vendor/uart` of each mdev shows the registers of its ports
//! and takes register accesses, for tests without a VFIO client:
//!
//! ```text
//! echo "w PORT OFFSET VALUE" > vendor/uart    write a register (offset 0-7)
//! echo "r PORT OFFSET" > vendor/uart          read one, with its side effects;
//!                                             the value shows as `last=`
//! cat vendor/uart                             one line per port, no side effects
//! ```
//!
//! A port's line gives its eight registers as a read would (RBR, IER, IIR, LCR, MCR,
//! LSR, MSR, SCR; RBR and IER are the divisor's bytes while LCR's DLAB is set), then
//! `DL=`, the divisor latch as the guest's driver last wrote it (which a read shows
//! only with DLAB set: so a test can see the baud rate a guest's `stty` chose), and
//! `fifo=`, the bytes waiting.
//!
//! Its store takes the device's lock, the one VFIO accesses and `request` take too.

use core::fmt::Write;

use kernel::device::Bound;
use kernel::device::Core;
use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::sync::Arc;

#[path = "../api/mod.rs"]
mod api;
// The vendor API: `sysfs` at the root too, where `sysfs_groups!` looks for it.
use api::mdev;
use api::sysfs;
use api::vfio;

mod device;
mod migration;
mod pci_config;
mod pool;
mod uart;

use device::MttyDevice;
use pool::PortPool;

module! {
    type: MttyRsModule,
    name: "mtty_rs",
    authors: ["The mdev-rs developers"],
    description: "Rust mtty-style mediated device sample",
    license: "GPL v2",
    params: {
        ports: u32 {
            default: 24,
            description: "Serial ports shared by all mdevs (a single-port mdev takes 1, a dual-port one 2)",
        },
    },
}

/// What the driver keeps about each of its types.
struct MttyType {
    /// The serial ports of each mdev of the type.
    ports: u32,
}

/// The driver: the pool of ports.
struct Mtty {
    pool: Arc<PortPool>,
}

/// Parses a decimal or `0x`-prefixed hexadecimal byte-sized number.
fn parse_u8(s: &str) -> Result<u8> {
    let v = match s.strip_prefix("0x") {
        Some(hex) => u8::from_str_radix(hex, 16),
        None => s.parse::<u8>(),
    };
    v.map_err(|_| EINVAL)
}

/// What the driver keeps per mdev: a reference to its VFIO device, whose data is the
/// device's state. The VFIO device stays registered until the mdev is unbound.
type Registered = ARef<vfio::Device<MttyDevice>>;

fn uart_show(
    _mtty: &Mtty,
    _mdev: &mdev::Device<Bound>,
    dev: &Registered,
    out: &mut mdev::ShowBuffer<'_>,
) -> Result {
    let state = dev.state.lock();
    const NAMES: [&str; 8] = ["RBR", "IER", "IIR", "LCR", "MCR", "LSR", "MSR", "SCR"];
    // CAST: One or two ports.
    for (p, u) in state.uart.iter().take(dev.ports as usize).enumerate() {
        write!(out, "port{p}:").map_err(|_| EINVAL)?;
        for (offset, name) in (0u8..).zip(NAMES) {
            write!(out, " {name}=0x{:02x}", u.peek(offset)?).map_err(|_| EINVAL)?;
        }
        write!(out, " DL=0x{:04x}", u.divisor()).map_err(|_| EINVAL)?;
        writeln!(out, " fifo={}", u.pending()).map_err(|_| EINVAL)?;
    }
    if let Some(v) = state.last_read {
        writeln!(out, "last=0x{v:02x}").map_err(|_| EINVAL)?;
    }
    Ok(())
}

fn uart_store(
    _mtty: &Mtty,
    _mdev: &mdev::Device<Bound>,
    dev: &Registered,
    input: &[u8],
) -> Result<usize> {
    let text = core::str::from_utf8(input).map_err(|_| EINVAL)?;
    let mut words = text.split_ascii_whitespace();
    let op = words.next().ok_or(EINVAL)?;
    let port = usize::from(parse_u8(words.next().ok_or(EINVAL)?)?);
    let offset = parse_u8(words.next().ok_or(EINVAL)?)?;
    let value = words.next().map(parse_u8).transpose()?;
    if words.next().is_some() {
        return Err(EINVAL);
    }
    // CAST: One or two ports.
    if port >= dev.ports as usize {
        return Err(EINVAL);
    }
    let mut state = dev.state.lock();
    match (op, value) {
        ("w", Some(v)) => state.write_register(port, offset, v)?,
        ("r", None) => {
            let v = state.read_register(port, offset)?;
            state.last_read = Some(v);
        }
        _ => return Err(EINVAL),
    }
    Ok(input.len())
}

static UART: mdev::Attribute<Mtty> =
    mdev::Attribute::new(c"uart", Some(uart_show), Some(uart_store));

#[vtable]
impl mdev::Driver for Mtty {
    type TypeInfo = MttyType;
    type Data = Registered;

    const NAME: &'static CStr = c"mtty_rs";
    const DEVICE_API: &'static CStr = c"vfio-pci";
    const ATTRIBUTE_GROUPS: mdev::Groups<Self> = sysfs::sysfs_groups!(mdev::Attribute<Mtty>: [{
        name: c"vendor",
        attrs: [UART],
    }]);
    const TYPES: &'static [mdev::TypeSpec<MttyType>] = &[
        mdev::TypeSpec {
            sysfs_name: c"1",
            pretty_name: c"Single port serial",
            info: MttyType { ports: 1 },
        },
        mdev::TypeSpec {
            sysfs_name: c"2",
            pretty_name: c"Dual port serial",
            info: MttyType { ports: 2 },
        },
    ];

    fn probe(
        &self,
        mdev: &mdev::Device<Core<'_>>,
        ty: &MttyType,
    ) -> impl PinInit<Registered, Error> {
        // The lease goes with the VFIO device: if registering fails, it is dropped
        // with the device's data, which gives the ports back.
        let lease = self.pool.lease(ty.ports)?;
        vfio::register(mdev.as_ref(), MttyDevice::new(lease))
    }

    // No `remove`: when the mdev is unbound, the API drops its `Registered`, then the
    // VFIO device is unregistered, which waits until its users have closed it (asking
    // them through the request interrupt meanwhile). Its ports go back to the pool
    // when it is released.

    fn get_available(&self, ty: &MttyType) -> u32 {
        // `checked_div`: a division that cannot panic (every type has ports).
        self.pool.available().checked_div(ty.ports).unwrap_or(0)
    }
}

struct MttyRsModule {
    _registration: mdev::Registration<Mtty>,
}

impl kernel::Module for MttyRsModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let mtty = Mtty {
            pool: PortPool::new(module_parameters::ports.value())?,
        };
        Ok(MttyRsModule {
            _registration: mdev::Registration::new(mtty, module)?,
        })
    }
}
