// SPDX-License-Identifier: GPL-2.0
//! VFIO migration (the v2 uAPI) as the kernel's mtty offers it since 6.7: the
//! feature and its flags, the state machine (`vfio_mig_get_next_state()` in
//! drivers/vfio/vfio_main.c computes the path, the driver takes one arc at a time,
//! mtty.c 1110-1255), the data stream (save: read-only, resume: write-only), a
//! round trip between two mdevs of a type, streams a target must refuse,
//! `VFIO_MIG_GET_PRECOPY_INFO`, and a data file that outlives its device.
//!
//! Where C mtty falls short of the uAPI, the profile says so (`Profile::mig_*`) and
//! the test skips that check, naming it, once everything else has been checked.

use std::os::fd::AsRawFd;
use std::os::fd::FromRawFd;
use std::os::fd::OwnedFd;
use std::os::fd::RawFd;

use crate::check;
use crate::check_eq;
use crate::check_errno;
use crate::fixture::Mdev;
use crate::skip;
use crate::sys;
use crate::sys::Errno;
use crate::sys::Res;
use crate::tests::region_offset;
use crate::tests::Port;
use crate::tests::LSR_IDLE;
use crate::uapi::*;
use crate::vfio;
use crate::vfio::Device;
use crate::vfio::Iface;
use crate::Ctx;
use crate::OrFail;
use crate::Test;
use crate::TestResult;
use crate::BOTH;

pub const TESTS: &[Test] = &[
    Test {
        name: "migration_feature",
        ifaces: BOTH,
        run: migration_feature,
    },
    Test {
        name: "migration_arcs",
        ifaces: BOTH,
        run: migration_arcs,
    },
    Test {
        name: "migration_round_trip",
        ifaces: BOTH,
        run: migration_round_trip,
    },
    Test {
        name: "migration_resume_rejects",
        ifaces: BOTH,
        run: migration_resume_rejects,
    },
    Test {
        name: "migration_precopy",
        ifaces: BOTH,
        run: migration_precopy,
    },
    Test {
        name: "migration_close_during_stop_copy",
        ifaces: BOTH,
        run: migration_close_during_stop_copy,
    },
    Test {
        name: "migration_remove_with_stream_open",
        ifaces: BOTH,
        run: migration_remove_with_stream_open,
    },
    Test {
        name: "migration_reset_disables_files",
        ifaces: BOTH,
        run: migration_reset_disables_files,
    },
    Test {
        name: "migration_file_modes",
        ifaces: BOTH,
        run: migration_file_modes,
    },
    Test {
        name: "migration_stale_file_frees_device",
        ifaces: BOTH,
        run: migration_stale_file_frees_device,
    },
];

const STATES: [u32; 7] = [
    VFIO_DEVICE_STATE_STOP,
    VFIO_DEVICE_STATE_RUNNING,
    VFIO_DEVICE_STATE_STOP_COPY,
    VFIO_DEVICE_STATE_RESUMING,
    VFIO_DEVICE_STATE_RUNNING_P2P,
    VFIO_DEVICE_STATE_PRE_COPY,
    VFIO_DEVICE_STATE_PRE_COPY_P2P,
];

fn state_name(s: u32) -> &'static str {
    match s {
        VFIO_DEVICE_STATE_ERROR => "ERROR",
        VFIO_DEVICE_STATE_STOP => "STOP",
        VFIO_DEVICE_STATE_RUNNING => "RUNNING",
        VFIO_DEVICE_STATE_STOP_COPY => "STOP_COPY",
        VFIO_DEVICE_STATE_RESUMING => "RESUMING",
        VFIO_DEVICE_STATE_RUNNING_P2P => "RUNNING_P2P",
        VFIO_DEVICE_STATE_PRE_COPY => "PRE_COPY",
        VFIO_DEVICE_STATE_PRE_COPY_P2P => "PRE_COPY_P2P",
        _ => "(not a state)",
    }
}

fn is_precopy(s: u32) -> bool {
    s == VFIO_DEVICE_STATE_PRE_COPY || s == VFIO_DEVICE_STATE_PRE_COPY_P2P
}

/// `VFIO_DEVICE_FEATURE` with the payload `data` (8 bytes for every feature used
/// here, so `argsz` is 16 as before); the payload as the kernel left it.
fn feature<T>(dev: &Device, flags: u32, data: T) -> Res<T> {
    const { assert!(std::mem::size_of::<T>() == 8) };
    let mut f = DeviceFeature {
        hdr: vfio_device_feature {
            argsz: std::mem::size_of::<DeviceFeature<T>>() as u32,
            flags,
            ..Default::default()
        },
        data,
    };
    sys::ioctl_ptr(dev.raw(), VFIO_DEVICE_FEATURE, &mut f)?;
    Ok(f.data)
}

/// The migration state (`VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE`, GET).
fn get_state(dev: &Device) -> Res<u32> {
    let d = feature(
        dev,
        VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
        vfio_device_feature_mig_state::default(),
    )?;
    Ok(d.device_state)
}

/// Sets the migration state; the data file the kernel returned, if any.
fn set_state(dev: &Device, state: u32) -> Res<Option<OwnedFd>> {
    let d = feature(
        dev,
        VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
        vfio_device_feature_mig_state {
            device_state: state,
            data_fd: -1,
        },
    )?;
    let fd = d.data_fd;
    // SAFETY: a descriptor the kernel just installed for us, owned by nobody else.
    Ok((fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// `set_state` that must succeed; says whether a data file came with it.
fn go(dev: &Device, state: u32, what: &str) -> Result<Option<OwnedFd>, crate::Fail> {
    set_state(dev, state).or_fail(format!("{what}: set {}", state_name(state)))
}

fn data_size(dev: &Device) -> Res<u64> {
    let d = feature(
        dev,
        VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
        vfio_device_feature_mig_data_size::default(),
    )?;
    Ok(d.stop_copy_length)
}

fn read_fd(fd: RawFd, buf: &mut [u8]) -> Res<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    }
}

fn write_fd(fd: RawFd, buf: &[u8]) -> Res<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    }
}

/// Reads a STOP_COPY stream to its end (read returning 0), in small reads.
fn read_all(fd: &OwnedFd) -> Res<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut buf = [0u8; 7];
        let n = read_fd(fd.as_raw_fd(), &mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
        if out.len() > 1 << 20 {
            return Err(Errno(libc::EFBIG));
        }
    }
}

/// Writes all of `data`, in pieces of up to 13 bytes.
fn write_all(fd: &OwnedFd, data: &[u8]) -> Res<()> {
    for chunk in data.chunks(13) {
        let n = write_fd(fd.as_raw_fd(), chunk)?;
        if n != chunk.len() {
            return Err(Errno(libc::EIO));
        }
    }
    Ok(())
}

fn precopy_info(fd: &OwnedFd, argsz: u32) -> Res<vfio_precopy_info> {
    let mut i = vfio_precopy_info {
        argsz,
        ..Default::default()
    };
    sys::ioctl_ptr(fd.as_raw_fd(), VFIO_MIG_GET_PRECOPY_INFO, &mut i)?;
    Ok(i)
}

/// Saves `dev` (RUNNING -> STOP_COPY, the whole stream, -> RUNNING).
pub fn save(dev: &Device) -> Result<Vec<u8>, crate::Fail> {
    let fd = go(dev, VFIO_DEVICE_STATE_STOP_COPY, "save")?.ok_or("save: no data file")?;
    let data = read_all(&fd).or_fail("save: read the stream")?;
    go(dev, VFIO_DEVICE_STATE_RUNNING, "save")?;
    Ok(data)
}

/// Resumes `dev` from `stream` (-> RESUMING, write, -> RUNNING).
pub fn resume(dev: &Device, stream: &[u8]) -> TestResult {
    let fd = go(dev, VFIO_DEVICE_STATE_RESUMING, "resume")?.ok_or("resume: no data file")?;
    write_all(&fd, stream).or_fail("resume: write the stream")?;
    go(dev, VFIO_DEVICE_STATE_RUNNING, "resume")?;
    Ok(())
}

/// The feature is there, with mtty's flags, and device dirty logging too; the device
/// starts RUNNING; the data size estimate is the size of a stream.
fn migration_feature(ctx: &Ctx, iface: Iface) -> TestResult {
    for ports in [1u32, 2] {
        let m = ctx.create(ports)?;
        let o = vfio::open(&m, iface)?;
        let mig = feature(
            &o.dev,
            VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION,
            vfio_device_feature_migration::default(),
        )
        .or_fail("GET VFIO_DEVICE_FEATURE_MIGRATION")?;
        check_eq!(
            mig.flags,
            u64::from(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P | VFIO_MIGRATION_PRE_COPY),
            "migration flags"
        );
        feature(
            &o.dev,
            VFIO_DEVICE_FEATURE_PROBE
                | VFIO_DEVICE_FEATURE_SET
                | VFIO_DEVICE_FEATURE_GET
                | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
            [0u8; 8],
        )
        .or_fail("PROBE MIG_DEVICE_STATE")?;
        check_errno!(
            feature(
                &o.dev,
                VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIGRATION,
                [0u8; 8]
            ),
            Errno(libc::EINVAL),
            "SET VFIO_DEVICE_FEATURE_MIGRATION"
        );
        // Device dirty tracking (vfio_log_ops), which QEMU wants for migration where
        // the IOMMU has none: offered, with nothing ever dirty (mtty.c 1284-1307).
        for (f, name) in [
            (VFIO_DEVICE_FEATURE_DMA_LOGGING_START, "DMA_LOGGING_START"),
            (VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, "DMA_LOGGING_STOP"),
        ] {
            feature(
                &o.dev,
                VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET | f,
                [0u8; 8],
            )
            .or_fail(format!("PROBE {name}"))?;
        }
        feature(
            &o.dev,
            VFIO_DEVICE_FEATURE_PROBE
                | VFIO_DEVICE_FEATURE_GET
                | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
            [0u8; 8],
        )
        .or_fail("PROBE DMA_LOGGING_REPORT")?;
        check_eq!(
            get_state(&o.dev).or_fail("GET state")?,
            VFIO_DEVICE_STATE_RUNNING,
            "state after open"
        );
        let size = data_size(&o.dev).or_fail("MIG_DATA_SIZE")?;
        let stream = save(&o.dev)?;
        check_eq!(size, stream.len() as u64, "MIG_DATA_SIZE against a stream");
        drop(o);
        m.remove()?;
    }
    Ok(())
}

/// Every pair of states: from RUNNING (after a reset) to the first, then to the
/// second; each SET ends in the state asked for, with a data file exactly when it
/// opens a stream. RESUMING is left with a valid stream. The pairs the core has no
/// path for (STOP_COPY -> PRE_COPY and PRE_COPY_P2P, `vfio_from_fsm_table`) are
/// EINVAL and leave the state as it was. Then other illegal requests: ERROR and
/// values past the enum are EINVAL, as is leaving RESUMING with no data, and the
/// device stays where it was.
fn migration_arcs(ctx: &Ctx, iface: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let o = vfio::open(&m, iface)?;
    let dev = &o.dev;
    let stream = save(dev)?;
    let opens = |from: u32, to: u32| {
        from != to
            && (to == VFIO_DEVICE_STATE_RESUMING
                || ((is_precopy(to) || to == VFIO_DEVICE_STATE_STOP_COPY) && !is_precopy(from)))
    };
    let enter = |to: u32| -> Result<Option<OwnedFd>, crate::Fail> {
        let what = format!("RUNNING -> {}", state_name(to));
        let fd = go(dev, to, &what)?;
        if to == VFIO_DEVICE_STATE_RESUMING {
            if let Some(f) = &fd {
                write_all(f, &stream).or_fail(format!("{what}: write the stream"))?;
            }
        }
        Ok(fd)
    };
    for &a in &STATES {
        for &b in &STATES {
            dev.reset().or_fail("VFIO_DEVICE_RESET")?;
            check_eq!(
                get_state(dev).or_fail("GET state")?,
                VFIO_DEVICE_STATE_RUNNING,
                "state after a reset"
            );
            let first = enter(a)?;
            check_eq!(
                first.is_some(),
                opens(VFIO_DEVICE_STATE_RUNNING, a),
                "RUNNING -> {}: a data file",
                state_name(a)
            );
            let what = format!("{} -> {}", state_name(a), state_name(b));
            if a == VFIO_DEVICE_STATE_STOP_COPY && is_precopy(b) {
                // No path: vfio_from_fsm_table has ERROR there.
                check_errno!(set_state(dev, b), Errno(libc::EINVAL), "{what}");
                check_eq!(get_state(dev).or_fail("GET state")?, a, "{what}: state");
                continue;
            }
            let second = go(dev, b, &what)?;
            check_eq!(second.is_some(), opens(a, b), "{what}: a data file");
            check_eq!(get_state(dev).or_fail("GET state")?, b, "{what}: state");
        }
    }
    dev.reset().or_fail("VFIO_DEVICE_RESET")?;
    for bad in [VFIO_DEVICE_STATE_ERROR, 8, 0x8000_0000] {
        check_errno!(set_state(dev, bad), Errno(libc::EINVAL), "RUNNING -> {bad}");
        check_eq!(
            get_state(dev).or_fail("GET state")?,
            VFIO_DEVICE_STATE_RUNNING,
            "state after a refused SET {bad}"
        );
    }
    let _resume = go(dev, VFIO_DEVICE_STATE_RESUMING, "RUNNING -> RESUMING")?;
    for to in [VFIO_DEVICE_STATE_STOP, VFIO_DEVICE_STATE_RUNNING] {
        check_errno!(
            set_state(dev, to),
            Errno(libc::EINVAL),
            "RESUMING -> {} with no data written",
            state_name(to)
        );
        check_eq!(
            get_state(dev).or_fail("GET state")?,
            VFIO_DEVICE_STATE_RESUMING,
            "state after a refused RESUMING -> {}",
            state_name(to)
        );
    }
    dev.reset().or_fail("VFIO_DEVICE_RESET")?;
    Port::new(dev, 0)?.loop_back(b"after the arcs")?;
    drop(o);
    Ok(m.remove()?)
}

/// What a guest driver sees of a port without changing it: with DLAB set, RBR and
/// IER are the divisor latch and every register reads without side effects.
fn port_view(p: &Port<'_>) -> Result<Vec<u8>, crate::Fail> {
    (0..8).map(|r| p.rd(r)).collect()
}

/// Sets the ports of `dev` up as a guest would, and leaves bytes in the FIFOs.
fn dirty_device(dev: &Device, ports: u32, salt: u8) -> TestResult {
    for n in 0..ports {
        let p = Port::new(dev, n)?;
        p.wr(UART_IIR, 0x01)?; // FCR: FIFO enabled
        p.wr(UART_IER, 0x05)?; // data ready and line status interrupts
        p.wr(UART_MCR, 0x03)?;
        p.wr(UART_SCR, 0x5a ^ salt ^ n as u8)?;
        for b in format!("fifo{n}{salt}").bytes() {
            p.wr(UART_RX, b)?;
        }
        p.wr(UART_LCR, 0x83)?; // 8N1, DLAB
        p.wr(UART_RX, 0x0c ^ salt)?; // divisor low
        p.wr(UART_IER, 0x01)?; // divisor high
    }
    let cfg = region_offset(dev, VFIO_PCI_CONFIG_REGION_INDEX)?;
    dev.write32(cfg + 0x10, 0xc000 | u32::from(salt) << 4)
        .or_fail("write BAR0")?;
    dev.write(cfg + 0x3c, &[0x0a + salt])
        .or_fail("write the interrupt line")?;
    Ok(())
}

/// Everything a guest driver can see of the device, without changing it.
fn device_view(dev: &Device, ports: u32) -> Result<(Vec<u8>, Vec<Vec<u8>>), crate::Fail> {
    let cfg = region_offset(dev, VFIO_PCI_CONFIG_REGION_INDEX)?;
    let config = dev.read(cfg, 0xff).or_fail("read the config space")?;
    let mut regs = Vec::new();
    for n in 0..ports {
        regs.push(port_view(&Port::new(dev, n)?)?);
    }
    Ok((config, regs))
}

/// Drains the FIFO of port `n` with DLAB off; the bytes.
fn drain(dev: &Device, n: u32) -> Result<Vec<u8>, crate::Fail> {
    let p = Port::new(dev, n)?;
    p.wr(UART_LCR, 0x03)?;
    let mut got = Vec::new();
    while p.rd(UART_LSR)? & UART_LSR_DR != 0 && got.len() <= 16 {
        got.push(p.rd(UART_RX)?);
    }
    Ok(got)
}

/// Saves an mdev with bytes in its FIFOs and its registers and config space set,
/// resumes a second mdev of the type from the stream, and compares everything a
/// guest driver sees: config space, the eight registers and the divisor latch of
/// each port, the bytes waiting in each FIFO. Then the loopback works on both.
fn migration_round_trip(ctx: &Ctx, iface: Iface) -> TestResult {
    let mut config_differs = None;
    for ports in [1u32, 2] {
        let src_m = ctx.create(ports)?;
        let dst_m = ctx.create(ports)?;
        let src = vfio::open(&src_m, iface)?;
        let dst = vfio::open(&dst_m, iface)?;
        dirty_device(&src.dev, ports, 1)?;
        let before = device_view(&src.dev, ports)?;
        let stream = save(&src.dev)?;
        check!(!stream.is_empty(), "{ports} ports: an empty stream");
        resume(&dst.dev, &stream)?;
        let after = device_view(&dst.dev, ports)?;
        check_eq!(
            &after.1,
            &before.1,
            "{ports} ports: the registers (DLAB set)"
        );
        if after.0 != before.0 {
            if ctx.p.mig_carries_config {
                check_eq!(&after.0, &before.0, "{ports} ports: the config space");
            }
            config_differs = Some(ports);
        }
        for n in 0..ports {
            let want = drain(&src.dev, n)?;
            check!(
                !want.is_empty(),
                "port {n} of the source: nothing in its FIFO"
            );
            check_eq!(drain(&dst.dev, n)?, want, "port {n}: the bytes in the FIFO");
            for d in [&src.dev, &dst.dev] {
                let p = Port::new(d, n)?;
                p.expect(UART_LSR, LSR_IDLE, "after draining")?;
                p.loop_back(b"after migration")?;
            }
        }
        drop((src, dst));
        src_m.remove()?;
        dst_m.remove()?;
    }
    if let Some(ports) = config_differs {
        skip!(
            "known fault of the reference: (last seen with {ports} ports) the target's config space \
             differs from the source's (BAR0, interrupt line): mtty's stream carries only \
             its serial_ports (mtty_save_state(), mtty.c 929-943), not vconfig"
        );
    }
    Ok(())
}

/// A change to the payload of a stream.
type Forgery = fn(&mut [u8]);

/// `s`, an mtty_rs stream, with its payload changed by `f` and its checksum
/// recomputed: FNV-1a (32-bit) over bytes 0-19 and the payload, at bytes 20-23.
fn forge_rs(s: &[u8], f: Forgery) -> Result<Vec<u8>, crate::Fail> {
    if s.len() < 24 + 256 + 27 {
        return Err(format!("an mtty_rs stream of {} bytes", s.len()).into());
    }
    let mut c = s.to_vec();
    f(&mut c[24..]);
    let mut h: u32 = 0x811c_9dc5;
    for b in c[..20].iter().chain(c[24..].iter()) {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    c[20..24].copy_from_slice(&h.to_le_bytes());
    Ok(c)
}

/// After a refused resume the device is still RESUMING, its registers untouched;
/// a reset brings it back to RUNNING and it loops back.
fn refused(dst: &Device, stream: &[u8], what: &str, rs_errno: bool) -> Result<Errno, crate::Fail> {
    let scr = Port::new(dst, 0)?.rd(UART_SCR)?;
    let fd = go(dst, VFIO_DEVICE_STATE_RESUMING, what)?.ok_or("no data file")?;
    let errno = match write_all(&fd, stream) {
        Err(e) => {
            check!(
                !rs_errno,
                "{what}: the write failed with {e}, want EINVAL at RESUMING -> STOP"
            );
            check!(
                set_state(dst, VFIO_DEVICE_STATE_STOP).is_err(),
                "{what}: RESUMING -> STOP after a failed write"
            );
            e
        }
        Ok(()) => match set_state(dst, VFIO_DEVICE_STATE_STOP) {
            Ok(_) => return Err(format!("{what}: loaded").into()),
            Err(e) => e,
        },
    };
    if rs_errno {
        check_eq!(errno, Errno(libc::EINVAL), "{what}: the errno");
    }
    check_eq!(
        get_state(dst).or_fail("GET state")?,
        VFIO_DEVICE_STATE_RESUMING,
        "{what}: state after the refusal"
    );
    Port::new(dst, 0)?.expect(UART_SCR, scr, &format!("{what}: after the refusal"))?;
    drop(fd);
    dst.reset().or_fail("VFIO_DEVICE_RESET")?;
    check_eq!(
        get_state(dst).or_fail("GET state")?,
        VFIO_DEVICE_STATE_RUNNING,
        "{what}: state after a reset"
    );
    Port::new(dst, 0)?.loop_back(b"still usable")?;
    Ok(errno)
}

/// A target refuses a stream of the other type, a truncated one and one with a
/// changed header byte; the driver then still works. With a changed payload byte
/// too, on a driver that checks its streams.
fn migration_resume_rejects(ctx: &Ctx, iface: Iface) -> TestResult {
    let rs = ctx.p.mig_checks_stream;
    let m1 = ctx.create(1)?;
    let m2 = ctx.create(2)?;
    let d1 = ctx.create(1)?;
    let d2 = ctx.create(2)?;
    let (s1, s2) = {
        let o1 = vfio::open(&m1, iface)?;
        let o2 = vfio::open(&m2, iface)?;
        dirty_device(&o1.dev, 1, 2)?;
        dirty_device(&o2.dev, 2, 3)?;
        (save(&o1.dev)?, save(&o2.dev)?)
    };
    let t1 = vfio::open(&d1, iface)?;
    let t2 = vfio::open(&d2, iface)?;
    Port::new(&t1.dev, 0)?.wr(UART_SCR, 0x77)?;
    Port::new(&t2.dev, 0)?.wr(UART_SCR, 0x66)?;
    let mut errnos = vec![
        refused(&t1.dev, &s2, "2-port stream into a 1-port mdev", rs)?,
        refused(&t2.dev, &s1, "1-port stream into a 2-port mdev", rs)?,
        refused(
            &t1.dev,
            &s1[..s1.len() - 1],
            "stream less its last byte",
            rs,
        )?,
        refused(&t1.dev, &s1[..s1.len() / 2], "half a stream", rs)?,
    ];
    let mut bad = s1.clone();
    bad[0] ^= 0x40;
    errnos.push(refused(
        &t1.dev,
        &bad,
        "stream with a changed first byte",
        rs,
    )?);
    // A whole stream of the right type loads, after all that.
    resume(&t1.dev, &s1)?;
    check_eq!(
        Port::new(&t1.dev, 0)?.rd(UART_SCR)?,
        0x5a ^ 2,
        "SCR after a good stream"
    );
    if !rs {
        drop((t1, t2));
        skip!(
            "known fault of the reference (errnos so far {errnos:?}): a stream with a \
             changed payload byte is not tried: mtty checks only the header \
             (mtty_resume_write(), mtty.c 1055-1068) and copies the payload into its \
             serial_ports as it is (mtty_load_state()), so a FIFO head or tail past \
             MAX_FIFO_SIZE would index out of its FIFO later"
        );
    }
    let mut bad = s1.clone();
    let at = bad.len() - 3;
    bad[at] ^= 0x01;
    refused(&t1.dev, &bad, "stream with a changed payload byte", rs)?;
    // Streams forged with a valid checksum (mtty_rs's format, samples/migration.rs):
    // the target checks what the payload says, not only the checksum.
    resume(&t1.dev, &forge_rs(&s1, |_| {})?)?;
    let forged: [(&str, Forgery); 7] = [
        ("INTx masked 2", |p| p[255] = 2),
        ("FIFO head 16", |p| p[256 + 16] = 16),
        ("FIFO count past the FIFO size", |p| {
            p[256 + 17] = p[256 + 25] + 1
        }),
        ("overrun 2", |p| p[256 + 18] = 2),
        ("FIFO size 3", |p| p[256 + 25] = 3),
        ("another vendor ID", |p| p[0] ^= 0x10),
        ("BAR0 not an I/O BAR", |p| p[0x10] &= !1),
    ];
    for (what, f) in forged {
        let bad = forge_rs(&s1, f)?;
        refused(&t1.dev, &bad, &format!("forged stream: {what}"), rs)?;
    }
    drop((t1, t2));
    for m in [m1, m2, d1, d2] {
        m.remove()?;
    }
    Ok(())
}

/// RUNNING -> PRE_COPY opens the save stream with some initial data, which
/// `VFIO_MIG_GET_PRECOPY_INFO` counts down as it is read; PRE_COPY_P2P keeps the
/// stream; STOP_COPY continues it (no new file) and the info is EINVAL there; the
/// whole stream resumes another mdev.
fn migration_precopy(ctx: &Ctx, iface: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let d = ctx.create(1)?;
    let o = vfio::open(&m, iface)?;
    let t = vfio::open(&d, iface)?;
    dirty_device(&o.dev, 1, 4)?;
    let fd = go(&o.dev, VFIO_DEVICE_STATE_PRE_COPY, "RUNNING -> PRE_COPY")?
        .ok_or("RUNNING -> PRE_COPY: no data file")?;
    check_errno!(
        precopy_info(&fd, 16),
        Errno(libc::EINVAL),
        "PRECOPY_INFO with argsz 16"
    );
    let info = precopy_info(&fd, 24).or_fail("PRECOPY_INFO")?;
    check!(info.initial_bytes > 0, "PRECOPY_INFO: no initial bytes");
    check_eq!(info.dirty_bytes, 0, "PRECOPY_INFO: dirty bytes");
    let mut stream = vec![0u8; info.initial_bytes as usize];
    let n = read_fd(fd.as_raw_fd(), &mut stream[..1]).or_fail("read 1 byte")?;
    check_eq!(n, 1, "read 1 byte");
    check_eq!(
        precopy_info(&fd, 24).or_fail("PRECOPY_INFO")?.initial_bytes,
        info.initial_bytes - 1,
        "PRECOPY_INFO after one byte"
    );
    let n = read_fd(fd.as_raw_fd(), &mut stream[1..]).or_fail("read the initial bytes")?;
    check_eq!(
        n as u64,
        info.initial_bytes - 1,
        "the rest of the initial bytes"
    );
    check_eq!(
        precopy_info(&fd, 24).or_fail("PRECOPY_INFO")?.initial_bytes,
        0,
        "PRECOPY_INFO once read"
    );
    let at_end = read_fd(fd.as_raw_fd(), &mut [0u8; 8]);
    check!(
        go(
            &o.dev,
            VFIO_DEVICE_STATE_PRE_COPY_P2P,
            "PRE_COPY -> PRE_COPY_P2P"
        )?
        .is_none(),
        "PRE_COPY -> PRE_COPY_P2P: a new data file"
    );
    precopy_info(&fd, 24).or_fail("PRECOPY_INFO in PRE_COPY_P2P")?;
    check!(
        go(
            &o.dev,
            VFIO_DEVICE_STATE_STOP_COPY,
            "PRE_COPY_P2P -> STOP_COPY"
        )?
        .is_none(),
        "PRE_COPY_P2P -> STOP_COPY: a new data file"
    );
    check_errno!(
        precopy_info(&fd, 24),
        Errno(libc::EINVAL),
        "PRECOPY_INFO in STOP_COPY"
    );
    stream.extend(read_all(&fd).or_fail("read the rest")?);
    check_eq!(
        stream.len() as u64,
        data_size(&o.dev).or_fail("MIG_DATA_SIZE")?,
        "the whole stream against MIG_DATA_SIZE"
    );
    go(&o.dev, VFIO_DEVICE_STATE_STOP, "STOP_COPY -> STOP")?;
    check_errno!(
        read_fd(fd.as_raw_fd(), &mut [0u8; 8]),
        Errno(libc::ENODEV),
        "read once STOP_COPY is left"
    );
    drop(fd);
    resume(&t.dev, &stream)?;
    check_eq!(
        Port::new(&t.dev, 0)?.rd(UART_SCR)?,
        0x5a ^ 4,
        "SCR after the resume"
    );
    go(&o.dev, VFIO_DEVICE_STATE_RUNNING, "STOP -> RUNNING")?;
    drop((o, t));
    m.remove()?;
    d.remove()?;
    match at_end {
        Err(e) if e == Errno(libc::ENOMSG) => Ok(()),
        Ok(0) if !ctx.p.mig_precopy_enomsg => skip!(
            "known fault of the reference: a read at the end of the PRE_COPY data \
             returns 0 (mtty_save_read(), mtty.c 906-914), where the uAPI \
             (VFIO_MIG_GET_PRECOPY_INFO in include/uapi/linux/vfio.h) says ENOMSG"
        ),
        other => {
            Err(format!("read at the end of the PRE_COPY data: {other:?}, want ENOMSG").into())
        }
    }
}

/// Closing the device in STOP_COPY with its data file open: the file ends
/// (reads are ENODEV), and the next user finds the device RUNNING and working.
fn migration_close_during_stop_copy(ctx: &Ctx, iface: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let o = vfio::open(&m, iface)?;
    let fd =
        go(&o.dev, VFIO_DEVICE_STATE_STOP_COPY, "RUNNING -> STOP_COPY")?.ok_or("no data file")?;
    let n = read_fd(fd.as_raw_fd(), &mut [0u8; 4]).or_fail("read 4 bytes")?;
    check_eq!(n, 4, "read 4 bytes");
    drop(o);
    check_errno!(
        read_fd(fd.as_raw_fd(), &mut [0u8; 4]),
        Errno(libc::ENODEV),
        "read after the device was closed"
    );
    let o = vfio::open(&m, iface)?;
    let state = get_state(&o.dev).or_fail("GET state")?;
    drop(fd);
    Port::new(&o.dev, 0)?.loop_back(b"reopened")?;
    drop(o);
    m.remove()?;
    if state != VFIO_DEVICE_STATE_RUNNING {
        check!(
            !ctx.p.mig_close_resets_state,
            "state after reopening: {}, want RUNNING",
            state_name(state)
        );
        skip!(
            "known fault of the reference: reopened after a close in STOP_COPY, the \
             device is in {}, not RUNNING: mtty_close() (mtty.c 1910-1918) ends the \
             data files but leaves mdev_state->state as it was",
            state_name(state)
        );
    }
    Ok(())
}

/// Removing the mdev while a data file is open (the device closed): the remove
/// does not wait for the file, the file reads ENODEV, and closing it afterwards
/// frees everything (the ports are available again; the kernel log stays clean).
fn migration_remove_with_stream_open(ctx: &Ctx, iface: Iface) -> TestResult {
    let m: Mdev = ctx.create(2)?;
    let o = vfio::open(&m, iface)?;
    let save_fd =
        go(&o.dev, VFIO_DEVICE_STATE_STOP_COPY, "RUNNING -> STOP_COPY")?.ok_or("no data file")?;
    drop(o);
    check_errno!(
        read_fd(save_fd.as_raw_fd(), &mut [0u8; 4]),
        Errno(libc::ENODEV),
        "read after the device was closed"
    );
    m.remove()?;
    let after = ctx.p.mig_file_outlives_device;
    if after {
        check_errno!(
            read_fd(save_fd.as_raw_fd(), &mut [0u8; 4]),
            Errno(libc::ENODEV),
            "read after the mdev was removed"
        );
    }
    drop(save_fd);
    let m = ctx.create(1)?;
    let o = vfio::open(&m, iface)?;
    let resume_fd =
        go(&o.dev, VFIO_DEVICE_STATE_RESUMING, "RUNNING -> RESUMING")?.ok_or("no data file")?;
    drop(o);
    m.remove()?;
    if after {
        check_errno!(
            write_fd(resume_fd.as_raw_fd(), &[0u8; 4]),
            Errno(libc::ENODEV),
            "write after the mdev was removed"
        );
    }
    drop(resume_fd);
    // The restore between tests checks `available_instances` against the baseline.
    if !after {
        skip!(
            "known fault of the reference: no read or write of a data file once its mdev \
             is removed (the files were closed unused, with no report): mtty's file keeps \
             a bare pointer to the mdev's state, which mtty_resume_write() dereferences \
             (mtty_data_size(), mtty.c 1033-1035) after mtty_release_dev() freed it"
        );
    }
    Ok(())
}

/// A PRE_COPY save file kept open while its device is closed and its mdev removed
/// holds nothing of them: `VFIO_MIG_GET_PRECOPY_INFO` on it is ENODEV (as on a
/// disabled file of mtty.c, 858-862), and with the file still open the ports are
/// available again and the mdev's UUID can be used for a new mdev.
fn migration_stale_file_frees_device(ctx: &Ctx, iface: Iface) -> TestResult {
    let m: Mdev = ctx.create(2)?;
    let o = vfio::open(&m, iface)?;
    let fd = go(&o.dev, VFIO_DEVICE_STATE_PRE_COPY, "RUNNING -> PRE_COPY")?
        .ok_or("RUNNING -> PRE_COPY: no data file")?;
    precopy_info(&fd, 24).or_fail("PRECOPY_INFO in PRE_COPY")?;
    drop(o);
    check_errno!(
        precopy_info(&fd, 24),
        Errno(libc::ENODEV),
        "PRECOPY_INFO after the device was closed"
    );
    m.remove()?;
    let after = ctx.p.mig_file_outlives_device;
    if after {
        check_errno!(
            precopy_info(&fd, 24),
            Errno(libc::ENODEV),
            "PRECOPY_INFO after the mdev was removed"
        );
    }
    // The ports come back at the VFIO device's release, late on the debug kernel.
    let now = mdev_testkit::release::after_release(|| ctx.available(), |v| *v == ctx.baseline)
        .map_err(|e| format!("available_instances: {e}"))?;
    check_eq!(
        &now,
        &ctx.baseline,
        "available_instances with the data file of a removed mdev open"
    );
    // The UUID comes back at the mdev's release, after the ports (late on the debug
    // kernel): create again while it is still taken.
    let again = mdev_testkit::release::after_release(
        || Ok(ctx.vendor.create(ctx.type_name(2), &m.uuid)),
        |r| !matches!(r, Err(e) if e.contains("EEXIST")),
    )?
    .map_err(|e| format!("the UUID of the removed mdev, its data file open: {e}"))?;
    let o = vfio::open(&again, iface)?;
    Port::new(&o.dev, 1)?.loop_back(b"same uuid")?;
    drop(o);
    again.remove()?;
    drop(fd);
    if !after {
        skip!(
            "known fault of the reference: no PRECOPY_INFO on a data file once its mdev \
             is removed: mtty_precopy_ioctl() (mtty.c 836-849) dereferences the bare \
             pointer to the mdev's state that mtty_release_dev() freed"
        );
    }
    Ok(())
}

/// `VFIO_DEVICE_RESET` ends migration (mtty_reset() and mtty_state_mutex_unlock(),
/// mtty.c 1398-1412): an open save file (STOP_COPY) or resume file (RESUMING)
/// is disabled, its reads or writes ENODEV, and the device is RUNNING.
fn migration_reset_disables_files(ctx: &Ctx, iface: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let o = vfio::open(&m, iface)?;
    let save_fd =
        go(&o.dev, VFIO_DEVICE_STATE_STOP_COPY, "RUNNING -> STOP_COPY")?.ok_or("no data file")?;
    let n = read_fd(save_fd.as_raw_fd(), &mut [0u8; 4]).or_fail("read 4 bytes")?;
    check_eq!(n, 4, "read 4 bytes");
    o.dev.reset().or_fail("RESET in STOP_COPY")?;
    check_errno!(
        read_fd(save_fd.as_raw_fd(), &mut [0u8; 4]),
        Errno(libc::ENODEV),
        "read of the save file after RESET"
    );
    check_eq!(
        state_name(get_state(&o.dev).or_fail("GET state")?),
        "RUNNING",
        "state after RESET in STOP_COPY"
    );
    let resume_fd =
        go(&o.dev, VFIO_DEVICE_STATE_RESUMING, "RUNNING -> RESUMING")?.ok_or("no data file")?;
    check_eq!(
        write_fd(resume_fd.as_raw_fd(), &[0u8; 4]).or_fail("write 4 bytes")?,
        4,
        "write 4 bytes"
    );
    o.dev.reset().or_fail("RESET in RESUMING")?;
    check_errno!(
        write_fd(resume_fd.as_raw_fd(), &[0u8; 4]),
        Errno(libc::ENODEV),
        "write to the resume file after RESET"
    );
    check_eq!(
        state_name(get_state(&o.dev).or_fail("GET state")?),
        "RUNNING",
        "state after RESET in RESUMING"
    );
    Port::new(&o.dev, 0)?.loop_back(b"after reset")?;
    drop((save_fd, resume_fd, o));
    m.remove()?;
    Ok(())
}

/// The data files are streams, each one way: `pread`/`pwrite` and `lseek` are
/// ESPIPE (stream_open(), as mtty.c), a write to the save file or a read of the
/// resume file EBADF (opened O_RDONLY / O_WRONLY).
fn migration_file_modes(ctx: &Ctx, iface: Iface) -> TestResult {
    let m = ctx.create(1)?;
    let o = vfio::open(&m, iface)?;
    let save_fd =
        go(&o.dev, VFIO_DEVICE_STATE_STOP_COPY, "RUNNING -> STOP_COPY")?.ok_or("no data file")?;
    let fd = save_fd.as_raw_fd();
    check_errno!(
        sys::pread(fd, &mut [0u8; 4], 0),
        Errno(libc::ESPIPE),
        "pread of the save file"
    );
    check_errno!(lseek(fd), Errno(libc::ESPIPE), "lseek of the save file");
    check_errno!(
        write_fd(fd, &[0u8; 4]),
        Errno(libc::EBADF),
        "write to the save file"
    );
    check_eq!(
        read_fd(fd, &mut [0u8; 4]).or_fail("read after them")?,
        4,
        "read after them"
    );
    go(&o.dev, VFIO_DEVICE_STATE_STOP, "STOP_COPY -> STOP")?;
    let resume_fd =
        go(&o.dev, VFIO_DEVICE_STATE_RESUMING, "STOP -> RESUMING")?.ok_or("no data file")?;
    let fd = resume_fd.as_raw_fd();
    check_errno!(
        sys::pwrite(fd, &[0u8; 4], 0),
        Errno(libc::ESPIPE),
        "pwrite to the resume file"
    );
    check_errno!(lseek(fd), Errno(libc::ESPIPE), "lseek of the resume file");
    check_errno!(
        read_fd(fd, &mut [0u8; 4]),
        Errno(libc::EBADF),
        "read of the resume file"
    );
    drop((save_fd, resume_fd));
    o.dev.reset().or_fail("VFIO_DEVICE_RESET")?;
    drop(o);
    m.remove()?;
    Ok(())
}

fn lseek(fd: RawFd) -> Res<i64> {
    // SAFETY: A plain system call on a descriptor.
    let r = unsafe { libc::lseek(fd, 0, libc::SEEK_SET) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r)
    }
}
