// SPDX-License-Identifier: GPL-2.0

//! The PCI config space of an mtty device, as `mtty.c` builds it: a 16550-compatible
//! serial controller (vendor 0x4348, device 0x3253) with one 8-byte I/O BAR per port,
//! INTA, and mtty's vendor-specific bytes. Pure logic, no locking.
//!
//! Unlike mtty, every access is checked against the size of the space (mtty copies
//! from and to its 255-byte buffer at any offset the user gives), and a BAR is only
//! written by a whole aligned dword (mtty reads four bytes from a one-byte buffer).

use kernel::prelude::*;

/// Size of the config space, as mtty reports it (`MTTY_CONFIG_SPACE_SIZE`, 0xff).
pub(crate) const SIZE: usize = 0xff;
/// Size of each port's I/O BAR.
pub(crate) const IO_BAR_SIZE: u32 = 8;

const BAR0: usize = 0x10;
const BAR1: usize = 0x14;
const BAR4: usize = 0x20;
const INTERRUPT_LINE: usize = 0x3c;
const BAR_IO_SPACE: u32 = 0x1;

/// One device's config space.
pub(crate) struct Config {
    bytes: [u8; SIZE],
    ports: u32,
}

impl Config {
    /// The config space of a device with `ports` ports (1 or 2), after creation.
    pub(crate) fn new(ports: u32) -> Config {
        let mut c = Config {
            bytes: [0; SIZE],
            ports,
        };
        c.put_u32(0x00, 0x3253_4348); // device and vendor ID
        c.put_u16(0x04, 0x0001); // command: I/O space enabled
        c.put_u16(0x06, 0x0200); // status
        c.bytes[0x08] = 0x10; // revision
        c.bytes[0x09] = 0x02; // programming interface: 16550-compatible
        c.bytes[0x0a] = 0x00; // subclass: serial controller
        c.bytes[0x0b] = 0x07; // class: simple communication controller
        c.put_u32(BAR0, BAR_IO_SPACE);
        if ports == 2 {
            c.put_u32(BAR1, BAR_IO_SPACE);
        }
        c.put_u32(0x2c, 0x3253_4348); // subsystem ID and vendor
        c.bytes[0x34] = 0x00; // no capabilities
        c.bytes[0x3d] = 0x01; // INTA#

        // mtty's vendor-specific bytes, then "PCI Serial/UART".
        for (at, v) in [
            (0x40, 0x23),
            (0x43, 0x80),
            (0x44, 0x23),
            (0x48, 0x23),
            (0x4c, 0x23),
        ] {
            c.bytes[at] = v;
        }
        c.bytes[0x60..0x6f].copy_from_slice(b"PCI Serial/UART");
        c
    }

    fn put_u16(&mut self, at: usize, v: u16) {
        self.bytes[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn put_u32(&mut self, at: usize, v: u32) {
        self.bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// The whole space, as written (for migration).
    pub(crate) fn bytes(&self) -> &[u8; SIZE] {
        &self.bytes
    }

    /// The space of a device with as many ports, holding `bytes` (from
    /// [`Config::bytes`]); `EINVAL` if not `SIZE` bytes or not a space [`Config::write`]
    /// can make: a byte it never writes differs from [`Config::new`]'s, or a BAR of
    /// a port is not an I/O BAR.
    pub(crate) fn restore(ports: u32, bytes: &[u8]) -> Result<Config> {
        let mut c = Config::new(ports);
        if bytes.len() != SIZE {
            return Err(EINVAL);
        }
        for (at, (new, init)) in bytes.iter().zip(c.bytes.iter()).enumerate() {
            if new != init && !c.writable(at) {
                return Err(EINVAL);
            }
        }
        c.bytes.copy_from_slice(bytes);
        let bars: &[usize] = if ports == 2 { &[BAR0, BAR1] } else { &[BAR0] };
        for &bar in bars {
            let mut v = [0u8; 4];
            c.read(bar, &mut v)?;
            if u32::from_le_bytes(v) & BAR_IO_SPACE == 0 {
                return Err(EINVAL);
            }
        }
        Ok(c)
    }

    /// Whether [`Config::write`] can change the byte at `at`: the interrupt line and
    /// the BAR of each port (BARs 1-4 of a single-port device stay zero).
    fn writable(&self, at: usize) -> bool {
        at == INTERRUPT_LINE
            || (BAR0..BAR0 + 4).contains(&at)
            || (self.ports == 2 && (BAR1..BAR1 + 4).contains(&at))
    }

    /// The `out.len()` bytes at `offset`; `EINVAL` past the end.
    pub(crate) fn read(&self, offset: usize, out: &mut [u8]) -> Result {
        let end = offset.checked_add(out.len()).ok_or(EINVAL)?;
        out.copy_from_slice(self.bytes.get(offset..end).ok_or(EINVAL)?);
        Ok(())
    }

    /// Writes `data` at `offset` as mtty's guest would: the interrupt line is
    /// writable, BARs take a dword (all ones reads back the size mask), BARs 2-4 stay
    /// zero, everything else is read-only. `EINVAL` past the end.
    pub(crate) fn write(&mut self, offset: usize, data: &[u8]) -> Result {
        let end = offset.checked_add(data.len()).ok_or(EINVAL)?;
        if end > SIZE || data.is_empty() {
            return Err(EINVAL);
        }
        match (offset, data) {
            (INTERRUPT_LINE, [line, ..]) => self.bytes[INTERRUPT_LINE] = *line,
            (BAR0 | BAR1, &[a, b, c, d]) => {
                if offset == BAR1 && self.ports == 1 {
                    self.put_u32(BAR1, 0);
                } else {
                    let mut addr = u32::from_le_bytes([a, b, c, d]);
                    if addr == u32::MAX {
                        addr &= !(IO_BAR_SIZE - 1);
                    }
                    addr |= u32::from(self.bytes[offset] & 0x3);
                    self.put_u32(offset, addr);
                }
            }
            (0x18 | 0x1c | BAR4, &[_, _, _, _]) => self.put_u32(offset, 0),
            _ => {}
        }
        Ok(())
    }
}

#[kunit_tests(mtty_rs_pci_config)]
mod tests {
    use super::*;

    #[test]
    fn identity() -> Result {
        let c = Config::new(2);
        let mut id = [0u8; 4];
        c.read(0, &mut id)?;
        assert_eq!(id, [0x48, 0x43, 0x53, 0x32]);
        c.read(8, &mut id)?;
        assert_eq!(id, [0x10, 0x02, 0x00, 0x07]);
        c.read(BAR1, &mut id)?;
        assert_eq!(id, [1, 0, 0, 0]);
        Ok(())
    }

    #[test]
    fn bar_sizing() -> Result {
        let mut c = Config::new(1);
        c.write(BAR0, &[0xff; 4])?;
        let mut bar = [0u8; 4];
        c.read(BAR0, &mut bar)?;
        assert_eq!(u32::from_le_bytes(bar), 0xffff_fff9);
        c.write(BAR1, &[0xff; 4])?;
        c.read(BAR1, &mut bar)?;
        assert_eq!(bar, [0; 4]);
        // Not a whole dword: ignored.
        c.write(BAR0, &[0])?;
        c.read(BAR0, &mut bar)?;
        assert_eq!(u32::from_le_bytes(bar), 0xffff_fff9);
        Ok(())
    }

    #[test]
    fn restore_checks() -> Result {
        for ports in [1, 2] {
            // What the guest can write is restored.
            let mut c = Config::new(ports);
            c.write(INTERRUPT_LINE, &[9])?;
            c.write(BAR0, &[0xff; 4])?;
            c.write(BAR1, &0x1000_u32.to_le_bytes())?;
            let r = Config::restore(ports, c.bytes())?;
            assert!(r.bytes() == c.bytes());
            // Any byte the guest cannot write is refused once changed.
            for at in 0..SIZE {
                let mut b = *c.bytes();
                b[at] ^= 0x10;
                assert_eq!(Config::restore(ports, &b).is_ok(), c.writable(at));
            }
            // A BAR that is not an I/O BAR.
            let mut b = *c.bytes();
            b[BAR0] &= !0x1;
            assert!(Config::restore(ports, &b).is_err());
            if ports == 2 {
                let mut b = *c.bytes();
                b[BAR1] = 0;
                assert!(Config::restore(ports, &b).is_err());
            }
            assert!(Config::restore(ports, &b[..SIZE - 1]).is_err());
        }
        Ok(())
    }

    #[test]
    fn bounds() {
        let mut c = Config::new(1);
        let mut four = [0u8; 4];
        assert!(c.read(SIZE - 3, &mut four).is_err());
        assert!(c.read(SIZE - 4, &mut four).is_ok());
        assert!(c.read(usize::MAX, &mut four).is_err());
        assert!(c.write(SIZE, &[0]).is_err());
        assert!(c.write(usize::MAX - 1, &[0, 0]).is_err());
    }
}
