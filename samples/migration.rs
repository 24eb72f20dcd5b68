// SPDX-License-Identifier: GPL-2.0

//! The migration stream of an mtty_rs device: a versioned, self-describing format
//! that a target checks whole before it loads anything.
//!
//! ```text
//! offset  size  field                 (little-endian)
//!      0     8  magic                 "mttyRSm\0"
//!      8     2  version               1
//!     10     2  type                  ports of the device: 1 or 2
//!     12     4  flags                 0
//!  -- the initial data (PRE_COPY's initial_bytes) ends here: 16 bytes --
//!     16     4  length                bytes of payload that follow
//!     20     4  checksum              FNV-1a (32-bit) of bytes 0-19 and the payload
//!     24     -  payload:
//!               config space          255 bytes, as written
//!               INTx masked           1 byte, 0 or 1
//!               port 0 [, port 1]     27 bytes each (`Uart::save`)
//! ```
//!
//! A stream of another type or version, with flags, truncated, too long, with a bad
//! checksum, or describing a state no port or config space can be in
//! ([`Uart::restore`], [`Config::restore`]) is `EINVAL`, and the device is left as
//! it was. The eventfds and which interrupt is enabled are not carried: they
//! belong to the VMM, which sets them up on the target.

use kernel::prelude::*;

use crate::pci_config;
use crate::pci_config::Config;
use crate::uart::Uart;

const MAGIC: [u8; 8] = *b"mttyRSm\0";
const VERSION: u16 = 1;
/// Size of the initial data: magic, version, type, flags.
const INITIAL_SIZE: usize = 16;
/// Size of the whole header.
const HEADER_SIZE: usize = 24;
/// The largest stream (a dual-port device's).
pub(crate) const MAX_SIZE: usize = HEADER_SIZE + payload_size(2);

/// The payload's size for a device with `ports` ports.
pub(crate) const fn payload_size(ports: u32) -> usize {
    pci_config::SIZE + 1 + Uart::SAVED_SIZE * ports as usize
}

/// The size of a whole stream for a device with `ports` ports.
pub(crate) const fn stream_size(ports: u32) -> usize {
    HEADER_SIZE + payload_size(ports)
}

/// What a stream carries.
pub(crate) struct Saved {
    pub(crate) config: Config,
    pub(crate) intx_masked: bool,
    pub(crate) uart: [Uart; 2],
}

fn fnv1a(parts: &[&[u8]]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for part in parts {
        for b in part.iter() {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

/// The initial data of a device with `ports` ports.
pub(crate) fn initial(ports: u32) -> Result<KVec<u8>> {
    let mut out = KVec::with_capacity(MAX_SIZE, GFP_KERNEL_ACCOUNT)?;
    out.extend_from_slice(&MAGIC, GFP_KERNEL_ACCOUNT)?;
    out.extend_from_slice(&VERSION.to_le_bytes(), GFP_KERNEL_ACCOUNT)?;
    // CAST: 1 or 2.
    out.extend_from_slice(&(ports as u16).to_le_bytes(), GFP_KERNEL_ACCOUNT)?;
    out.extend_from_slice(&0u32.to_le_bytes(), GFP_KERNEL_ACCOUNT)?;
    Ok(out)
}

/// The rest of the stream of a device with `ports` ports in the given state: the
/// length, the checksum and the payload.
pub(crate) fn rest(
    ports: u32,
    config: &Config,
    intx_masked: bool,
    uart: &[Uart],
) -> Result<KVec<u8>> {
    let mut payload = KVec::with_capacity(payload_size(ports), GFP_KERNEL_ACCOUNT)?;
    payload.extend_from_slice(config.bytes(), GFP_KERNEL_ACCOUNT)?;
    payload.push(u8::from(intx_masked), GFP_KERNEL_ACCOUNT)?;
    // CAST: 1 or 2.
    for u in uart.iter().take(ports as usize) {
        u.save(&mut payload)?;
    }
    let head = initial(ports)?;
    // CAST: A few hundred bytes.
    let len = (payload.len() as u32).to_le_bytes();
    let sum = fnv1a(&[&head, &len, &payload]).to_le_bytes();
    let mut out = KVec::with_capacity(8 + payload.len(), GFP_KERNEL_ACCOUNT)?;
    out.extend_from_slice(&len, GFP_KERNEL_ACCOUNT)?;
    out.extend_from_slice(&sum, GFP_KERNEL_ACCOUNT)?;
    out.extend_from_slice(&payload, GFP_KERNEL_ACCOUNT)?;
    Ok(out)
}

fn u16_at(b: &[u8], at: usize) -> Result<u16> {
    let v = b.get(at..at + 2).ok_or(EINVAL)?;
    Ok(u16::from_le_bytes([v[0], v[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32> {
    let v = b.get(at..at + 4).ok_or(EINVAL)?;
    Ok(u32::from_le_bytes([v[0], v[1], v[2], v[3]]))
}

/// Checks a whole stream for a device with `ports` ports and decodes it.
pub(crate) fn parse(ports: u32, stream: &[u8]) -> Result<Saved> {
    if stream.len() < HEADER_SIZE || stream[..8] != MAGIC {
        return Err(EINVAL);
    }
    if u16_at(stream, 8)? != VERSION
        || u32::from(u16_at(stream, 10)?) != ports
        || u32_at(stream, 12)? != 0
    {
        return Err(EINVAL);
    }
    let len = usize::try_from(u32_at(stream, INITIAL_SIZE)?).map_err(|_| EINVAL)?;
    if len != payload_size(ports) || stream.len() != HEADER_SIZE + len {
        return Err(EINVAL);
    }
    let payload = &stream[HEADER_SIZE..];
    if fnv1a(&[&stream[..INITIAL_SIZE + 4], payload]) != u32_at(stream, INITIAL_SIZE + 4)? {
        return Err(EINVAL);
    }
    let (config, rest) = payload.split_at(pci_config::SIZE);
    let intx_masked = match rest[0] {
        0 => false,
        1 => true,
        _ => return Err(EINVAL),
    };
    let mut uart = [Uart::new(), Uart::new()];
    for (u, bytes) in uart
        .iter_mut()
        .zip(rest[1..].chunks_exact(Uart::SAVED_SIZE))
    {
        *u = Uart::restore(bytes)?;
    }
    Ok(Saved {
        config: Config::restore(ports, config)?,
        intx_masked,
        uart,
    })
}

#[kunit_tests(mtty_rs_migration)]
mod tests {
    use super::*;

    fn stream(ports: u32) -> Result<KVec<u8>> {
        let mut s = initial(ports)?;
        let uart = [Uart::new(), Uart::new()];
        s.extend_from_slice(&rest(ports, &Config::new(ports), true, &uart)?, GFP_KERNEL)?;
        Ok(s)
    }

    /// `s` with its payload changed by `f` and its checksum recomputed.
    fn forge(s: &[u8], f: impl FnOnce(&mut [u8])) -> Result<KVec<u8>> {
        let mut c = KVec::new();
        c.extend_from_slice(s, GFP_KERNEL)?;
        f(&mut c[HEADER_SIZE..]);
        let sum = fnv1a(&[&c[..INITIAL_SIZE + 4], &c[HEADER_SIZE..]]).to_le_bytes();
        c[INITIAL_SIZE + 4..HEADER_SIZE].copy_from_slice(&sum);
        Ok(c)
    }

    #[test]
    fn round_trip() -> Result {
        for ports in [1, 2] {
            let s = stream(ports)?;
            assert_eq!(s.len(), stream_size(ports));
            assert!(parse(ports, &s)?.intx_masked);
        }
        Ok(())
    }

    #[test]
    fn rejects() -> Result {
        let s = stream(1)?;
        // Another type.
        assert!(parse(2, &s).is_err());
        assert!(parse(1, &stream(2)?).is_err());
        // Truncated, at every length.
        for n in 0..s.len() {
            assert!(parse(1, &s[..n]).is_err());
        }
        // Forged with no change: taken (so what follows fails for its change).
        assert!(parse(1, &forge(&s, |_| {})?).is_ok());
        // A read-only byte of the config space changed, the checksum recomputed.
        for at in [0x00, 0x0b, 0x2c, 0x3d, 0x60] {
            assert!(parse(1, &forge(&s, |p| p[at] ^= 0x10)?).is_err());
        }
        // The BAR of the port without its I/O bit, with the checksum recomputed.
        assert!(parse(1, &forge(&s, |p| p[0x10] &= !1)?).is_err());
        // A port or INTx state no device can be in, the checksum recomputed: INTx
        // masked 2, a FIFO head past the FIFO, a count past the FIFO size, an
        // overrun flag 2, a FIFO size of 3 (port 0 follows the config space and the
        // INTx byte; its FIFO, then head, count, overrun, ..., FIFO size).
        let port = pci_config::SIZE + 1;
        let fifo = Uart::SAVED_SIZE - 11;
        assert!(parse(1, &forge(&s, |p| p[pci_config::SIZE] = 2)?).is_err());
        assert!(parse(1, &forge(&s, |p| p[port + fifo] = 16)?).is_err());
        assert!(parse(
            1,
            &forge(&s, |p| p[port + fifo + 1] = p[port + fifo + 9] + 1)?
        )
        .is_err());
        assert!(parse(1, &forge(&s, |p| p[port + fifo + 2] = 2)?).is_err());
        assert!(parse(1, &forge(&s, |p| p[port + fifo + 9] = 3)?).is_err());
        // What the guest can write, with the checksum recomputed, loads.
        assert!(parse(1, &forge(&s, |p| p[0x3c] = 5)?).is_ok());
        // Any byte changed.
        for i in 0..s.len() {
            let mut c = KVec::new();
            c.extend_from_slice(&s, GFP_KERNEL)?;
            c[i] ^= 0x10;
            assert!(parse(1, &c).is_err());
        }
        Ok(())
    }
}
