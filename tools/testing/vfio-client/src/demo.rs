// SPDX-License-Identifier: GPL-2.0
//! `vfio-client demo [--profile ID] [--iface group|cdev] UUID TEXT`: opens an
//! existing mtty-style mdev through VFIO, prints its PCI config space as a hexdump
//! with the identity decoded, then writes TEXT to port 0 byte by byte (THR) and reads
//! each byte back (RBR), printing the looped string. Exits 0 when it came back
//! unchanged.
//!
//! `vfio-client demo-migrate [--iface group|cdev] SRC DST TEXT`: writes TEXT (at most
//! 16 bytes) to port 0 of mdev SRC and leaves it in the receive FIFO, saves SRC
//! (RUNNING -> STOP_COPY, the whole stream, -> RUNNING), resumes DST (an mdev of the
//! same type) from the stream, and reads the FIFO of DST. Exits 0 when TEXT is there.

use std::process::ExitCode;

use crate::fixture::mdev_dir;
use crate::fixture::Mdev;
use crate::profile;
use crate::uapi::*;
use crate::vfio;
use crate::vfio::Iface;

fn hexdump(base: u64, bytes: &[u8]) {
    for (i, chunk) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let text: String = chunk
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        println!(
            "  {:03x}: {:<47}  {}",
            base + 16 * i as u64,
            hex.join(" "),
            text
        );
    }
}

/// Turns an errno into a message naming the step.
fn e(what: &'static str) -> impl Fn(crate::sys::Errno) -> String {
    move |err| format!("{what}: {err}")
}

fn run(iface: Iface, uuid: &str, text: &str) -> Result<bool, String> {
    if !mdev_dir(uuid).exists() {
        return Err(format!("no mdev {uuid}"));
    }
    // Borrowed: the demo does not own the mdev, so it must not remove it.
    let m = std::mem::ManuallyDrop::new(Mdev {
        uuid: uuid.to_string(),
    });
    let o = vfio::open(&m, iface)?;
    let info = o.dev.info().map_err(e("VFIO_DEVICE_GET_INFO"))?;
    println!(
        "opened {uuid} through the {iface} interface: flags {:#x}{}, {} regions, {} irq indexes",
        info.flags,
        if info.flags & VFIO_DEVICE_FLAGS_PCI != 0 {
            " (PCI)"
        } else {
            ""
        },
        info.num_regions,
        info.num_irqs
    );
    let cfg_region = o
        .dev
        .region(VFIO_PCI_CONFIG_REGION_INDEX)
        .map_err(e("REGION_INFO(config)"))?;
    let cfg = o
        .dev
        .read(cfg_region.offset, cfg_region.size.min(256) as usize)
        .map_err(e("read config space"))?;
    if cfg.len() < 0x40 {
        return Err(format!("config space is only {} bytes", cfg.len()));
    }
    let le16 = |o: usize| u16::from_le_bytes([cfg[o], cfg[o + 1]]);
    let le32 = |o: usize| u32::from_le_bytes([cfg[o], cfg[o + 1], cfg[o + 2], cfg[o + 3]]);
    println!("PCI config space ({} bytes):", cfg.len());
    hexdump(0, &cfg);
    println!(
        "  vendor {:#06x}{}, device {:#06x}, revision {:#04x}",
        le16(0),
        if le16(0) == 0x4348 { " (WCH)" } else { "" },
        le16(2),
        cfg[8]
    );
    println!(
        "  class {:02x}:{:02x}:{:02x}{}, subsystem {:#06x}:{:#06x}, interrupt pin {}",
        cfg[0xb],
        cfg[0xa],
        cfg[9],
        if cfg[0xb] == 7 && cfg[0xa] == 0 && cfg[9] == 2 {
            " (serial controller, 16550)"
        } else {
            ""
        },
        le16(0x2c),
        le16(0x2e),
        cfg[0x3d]
    );
    for bar in 0..2usize {
        let r = o
            .dev
            .region(VFIO_PCI_BAR0_REGION_INDEX + bar as u32)
            .map_err(e("REGION_INFO(BAR)"))?;
        if r.size > 0 {
            println!(
                "  BAR{bar} {:#010x}: {} {} bytes",
                le32(0x10 + 4 * bar),
                if le32(0x10 + 4 * bar) & 1 != 0 {
                    "I/O"
                } else {
                    "memory"
                },
                r.size
            );
        }
    }
    let bar0 = o
        .dev
        .region(VFIO_PCI_BAR0_REGION_INDEX)
        .map_err(e("REGION_INFO(BAR0)"))?
        .offset;
    let mut looped = Vec::new();
    for &b in text.as_bytes() {
        o.dev.write8(bar0 + UART_RX, b).map_err(e("write THR"))?;
        let lsr = o.dev.read8(bar0 + UART_LSR).map_err(e("read LSR"))?;
        if lsr & UART_LSR_DR == 0 {
            return Err(format!(
                "LSR {lsr:#04x} after writing {b:#04x}: no data ready"
            ));
        }
        looped.push(o.dev.read8(bar0 + UART_RX).map_err(e("read RBR"))?);
    }
    let looped = String::from_utf8_lossy(&looped).into_owned();
    println!("wrote {text:?} to THR byte by byte; read back from RBR: {looped:?}");
    drop(o);
    Ok(looped == text)
}

fn borrow(uuid: &str) -> Result<std::mem::ManuallyDrop<Mdev>, String> {
    if !mdev_dir(uuid).exists() {
        return Err(format!("no mdev {uuid}"));
    }
    // Borrowed: the demo does not own the mdev, so it must not remove it.
    Ok(std::mem::ManuallyDrop::new(Mdev {
        uuid: uuid.to_string(),
    }))
}

fn migrate(iface: Iface, src: &str, dst: &str, text: &str) -> Result<bool, String> {
    if text.len() > 16 {
        return Err("TEXT must fit the 16-byte FIFO".to_string());
    }
    let (sm, dm) = (borrow(src)?, borrow(dst)?);
    let s = vfio::open(&sm, iface)?;
    let d = vfio::open(&dm, iface)?;
    let port = |o: &vfio::Open| -> Result<u64, String> {
        Ok(o.dev
            .region(VFIO_PCI_BAR0_REGION_INDEX)
            .map_err(e("REGION_INFO(BAR0)"))?
            .offset)
    };
    let (sbar, dbar) = (port(&s)?, port(&d)?);
    s.dev
        .write8(sbar + UART_IIR, 0x01)
        .map_err(e("write FCR"))?;
    for &b in text.as_bytes() {
        s.dev.write8(sbar + UART_RX, b).map_err(e("write THR"))?;
    }
    println!("wrote {text:?} to THR of {src}; it waits in the receive FIFO");
    let fail = |f: crate::Fail| match f {
        crate::Fail::Fail(m) | crate::Fail::Skip(m) => m,
    };
    let stream = crate::tests::migration::save(&s.dev).map_err(fail)?;
    println!(
        "saved {src} (RUNNING -> STOP_COPY -> RUNNING): a stream of {} bytes, starting:",
        stream.len()
    );
    hexdump(0, &stream[..stream.len().min(32)]);
    crate::tests::migration::resume(&d.dev, &stream).map_err(fail)?;
    println!("resumed {dst} from it (RUNNING -> RESUMING, the stream written, -> RUNNING)");
    let mut got = Vec::new();
    while d.dev.read8(dbar + UART_LSR).map_err(e("read LSR"))? & UART_LSR_DR != 0 && got.len() < 16
    {
        got.push(d.dev.read8(dbar + UART_RX).map_err(e("read RBR"))?);
    }
    let got = String::from_utf8_lossy(&got).into_owned();
    println!("read the receive FIFO of {dst} from RBR: {got:?}");
    Ok(got == text)
}

/// The options of `demo` and `demo-migrate` (`cmd`): `--iface`, and for `demo` only
/// `--profile`; returns the interface and the other arguments, or the exit status of
/// a usage error (printed).
fn options(cmd: &str, args: &[String]) -> Result<(Iface, Vec<String>), ExitCode> {
    let mut iface = Iface::Group;
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            // Accepted for symmetry with the test mode; every profile is an
            // mtty-style device, so the demo needs nothing from it.
            "--profile" if cmd == "demo" => {
                if !matches!(it.next().map(|p| profile::find(p)), Some(Some(_))) {
                    eprintln!("vfio-client demo: --profile needs a known profile");
                    return Err(ExitCode::from(2));
                }
            }
            "--iface" => match it.next().map(String::as_str) {
                Some("group") => iface = Iface::Group,
                Some("cdev") => iface = Iface::Cdev,
                _ => {
                    eprintln!("vfio-client {cmd}: --iface takes group or cdev");
                    return Err(ExitCode::from(2));
                }
            },
            _ => rest.push(a.clone()),
        }
    }
    Ok((iface, rest))
}

/// The exit status of `cmd` from its outcome: the text came back (`Ok(true)`), did
/// not (`Ok(false)`, with `mismatch` printed), or an error (printed).
fn outcome(cmd: &str, r: Result<bool, String>, mismatch: &str) -> ExitCode {
    match r {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("vfio-client {cmd}: {mismatch}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("vfio-client {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `demo-migrate`.
pub fn main_migrate(args: &[String]) -> ExitCode {
    let (iface, rest) = match options("demo-migrate", args) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let [src, dst, text] = rest.as_slice() else {
        eprintln!("usage: vfio-client demo-migrate [--iface group|cdev] SRC DST TEXT");
        return ExitCode::from(2);
    };
    outcome(
        "demo-migrate",
        migrate(iface, src, dst, text),
        "the text is not in the target's FIFO",
    )
}

pub fn main(args: &[String]) -> ExitCode {
    let (iface, rest) = match options("demo", args) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let [uuid, text] = rest.as_slice() else {
        eprintln!("usage: vfio-client demo [--profile ID] [--iface group|cdev] UUID TEXT");
        return ExitCode::from(2);
    };
    outcome(
        "demo",
        run(iface, uuid, text),
        "the text did not come back unchanged",
    )
}
