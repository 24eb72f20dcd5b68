// SPDX-License-Identifier: GPL-2.0

//! The 16550 UART of one mtty port, as the kernel's `samples/vfio-mdev/mtty.c`
//! emulates it: the eight registers of its I/O BAR, a 16-byte FIFO into which what is
//! transmitted is looped back, and the interrupts mtty raises. Pure logic, no locking:
//! the owner serialises access and delivers the interrupts.
//!
//! Register values follow mtty (a VFIO client sees the same on both), except where
//! mtty reads memory it should not: a read of an empty FIFO returns 0 here (mtty
//! returns whatever was on its stack), a full FIFO shows as full (mtty's head/tail
//! comparison shows 16 bytes as none), and offsets past the eight registers are
//! refused (mtty indexes its register array with them).

use kernel::prelude::*;

/// Register offsets in the port's I/O BAR.
pub(crate) const RBR_THR: u8 = 0;
pub(crate) const IER: u8 = 1;
pub(crate) const IIR_FCR: u8 = 2;
pub(crate) const LCR: u8 = 3;
pub(crate) const MCR: u8 = 4;
pub(crate) const LSR: u8 = 5;
pub(crate) const MSR: u8 = 6;
pub(crate) const SCR: u8 = 7;
/// Number of registers, the size of the port's BAR.
pub(crate) const REGISTERS: u8 = 8;

const FIFO_SIZE: usize = 16;
const LCR_DLAB: u8 = 0x80;
const IER_RDI: u8 = 0x01;
const IER_THRI: u8 = 0x02;
const IER_RLSI: u8 = 0x04;
const IER_MSI: u8 = 0x08;
const IIR_NO_INT: u8 = 0x01;
const IIR_THRI: u8 = 0x02;
const IIR_RDI: u8 = 0x04;
const IIR_RLSI: u8 = 0x06;
const IIR_FIFO_BITS: u8 = 0xc0;
const FCR_ENABLE_FIFO: u8 = 0x01;
const FCR_CLEAR_RCVR: u8 = 0x02;
const FCR_CLEAR_XMIT: u8 = 0x04;
const MCR_DTR: u8 = 0x01;
const MCR_RTS: u8 = 0x02;
const MCR_OUT2: u8 = 0x08;
const MCR_AFE: u8 = 0x20;
const LSR_DR: u8 = 0x01;
const LSR_OE: u8 = 0x02;
const LSR_THRE_TEMT: u8 = 0x60;
const MSR_DCTS: u8 = 0x01;
const MSR_DDSR: u8 = 0x02;
const MSR_CTS: u8 = 0x10;
const MSR_DSR: u8 = 0x20;
const MSR_DCD: u8 = 0x80;

/// One port's registers and loopback FIFO.
pub(crate) struct Uart {
    fifo: [u8; FIFO_SIZE],
    head: usize,
    count: usize,
    overrun: bool,
    /// As written, all eight bits (mtty reads it back masked).
    ier: u8,
    lcr: u8,
    mcr: u8,
    scr: u8,
    divisor: u16,
    max_fifo: usize,
    /// mtty starts at 0, so a byte raises no "data ready" interrupt before the FCR is
    /// written; kept, as a VFIO client sees it.
    trigger_level: usize,
}

impl Uart {
    /// A port after creation or reset.
    pub(crate) const fn new() -> Uart {
        Uart {
            fifo: [0; FIFO_SIZE],
            head: 0,
            count: 0,
            overrun: false,
            ier: 0,
            lcr: 0,
            mcr: 0,
            scr: 0,
            divisor: 0,
            max_fifo: FIFO_SIZE,
            trigger_level: 0,
        }
    }

    fn dlab(&self) -> bool {
        self.lcr & LCR_DLAB != 0
    }

    /// Writes `value` to the register at `offset`; returns how many interrupts the
    /// write raises (mtty raises one per condition met).
    pub(crate) fn write(&mut self, offset: u8, value: u8) -> Result<u32> {
        let mut irqs = 0;
        match offset {
            // With DLAB set, the divisor latch; mtty ORs the bytes in.
            RBR_THR if self.dlab() => self.divisor |= u16::from(value),
            RBR_THR => {
                if self.count < self.max_fifo {
                    self.fifo[(self.head + self.count) % FIFO_SIZE] = value;
                    self.count += 1;
                    self.overrun = false;
                    if self.ier & IER_RDI != 0 && self.count == self.trigger_level {
                        irqs += 1;
                    }
                } else {
                    self.overrun = true;
                    if self.ier & IER_RLSI != 0 {
                        irqs += 1;
                    }
                }
            }
            IER if self.dlab() => self.divisor |= u16::from(value) << 8,
            IER => {
                self.ier = value;
                if value & IER_THRI != 0 && self.count == 0 {
                    irqs += 1;
                }
            }
            IIR_FCR => {
                if value & (FCR_CLEAR_RCVR | FCR_CLEAR_XMIT) != 0 {
                    self.count = 0;
                    self.head = 0;
                }
                // mtty computes a level from the FCR and then always uses 1.
                self.trigger_level = 1;
                self.max_fifo = if value & FCR_ENABLE_FIFO != 0 {
                    FIFO_SIZE
                } else {
                    1
                };
            }
            LCR => {
                if value & LCR_DLAB != 0 {
                    self.divisor = 0;
                }
                self.lcr = value;
            }
            MCR => {
                self.mcr = value;
                if self.ier & IER_MSI != 0 {
                    if value & MCR_OUT2 != 0 {
                        irqs += 1;
                    }
                    if value & (MCR_RTS | MCR_DTR) != 0 {
                        irqs += 1;
                    }
                }
            }
            // Read-only registers: writes are ignored.
            LSR | MSR => {}
            SCR => self.scr = value,
            _ => return Err(EINVAL),
        }
        Ok(irqs)
    }

    /// Reads the register at `offset`, with the side effects of reading it (taking a
    /// byte out of the FIFO); returns the value and how many interrupts it raises.
    pub(crate) fn read(&mut self, offset: u8) -> Result<(u8, u32)> {
        let value = self.peek(offset)?;
        let mut irqs = 0;
        if offset == RBR_THR && !self.dlab() {
            if self.count > 0 {
                self.head = (self.head + 1) % FIFO_SIZE;
                self.count -= 1;
            }
            // mtty raises "transmitter empty" on every read that leaves the FIFO empty.
            if self.count == 0 && self.ier & IER_THRI != 0 {
                irqs += 1;
            }
        }
        Ok((value, irqs))
    }

    /// The register at `offset`, without the side effects of reading it.
    pub(crate) fn peek(&self, offset: u8) -> Result<u8> {
        Ok(match offset {
            // CAST: The divisor's low and high bytes.
            RBR_THR if self.dlab() => self.divisor as u8,
            RBR_THR if self.count > 0 => self.fifo[self.head],
            RBR_THR => 0,
            IER if self.dlab() => (self.divisor >> 8) as u8,
            IER => self.ier & 0x0f,
            IIR_FCR => self.iir(),
            LCR => self.lcr,
            MCR => self.mcr,
            LSR => self.lsr(),
            MSR => self.msr(),
            SCR => self.scr,
            _ => return Err(EINVAL),
        })
    }

    /// The divisor latch (DLM << 8 | DLL), which reads show only while LCR's DLAB is
    /// set, as the guest's driver last wrote it.
    pub(crate) fn divisor(&self) -> u16 {
        self.divisor
    }

    /// Bytes waiting in the FIFO.
    pub(crate) fn pending(&self) -> usize {
        self.count
    }

    /// Appends the port's whole state to a migration stream ([`Uart::SAVED_SIZE`]
    /// bytes): the FIFO, its head and count, the overrun flag, IER, LCR, MCR, SCR, the
    /// divisor (little-endian), the FIFO size and the trigger level.
    pub(crate) fn save(&self, out: &mut KVec<u8>) -> Result {
        out.extend_from_slice(&self.fifo, GFP_KERNEL)?;
        // CAST: Each below 17.
        let [d0, d1] = self.divisor.to_le_bytes();
        out.extend_from_slice(
            &[
                self.head as u8,
                self.count as u8,
                u8::from(self.overrun),
                self.ier,
                self.lcr,
                self.mcr,
                self.scr,
                d0,
                d1,
                self.max_fifo as u8,
                self.trigger_level as u8,
            ],
            GFP_KERNEL,
        )?;
        Ok(())
    }

    /// Size of a saved port.
    pub(crate) const SAVED_SIZE: usize = FIFO_SIZE + 11;

    /// A port from what [`Uart::save`] wrote; `EINVAL` for a state no port can be in.
    pub(crate) fn restore(bytes: &[u8]) -> Result<Uart> {
        if bytes.len() != Self::SAVED_SIZE {
            return Err(EINVAL);
        }
        let (fifo, r) = bytes.split_at(FIFO_SIZE);
        let head = usize::from(r[0]);
        let count = usize::from(r[1]);
        let max_fifo = usize::from(r[9]);
        let trigger_level = usize::from(r[10]);
        if head >= FIFO_SIZE
            || !(max_fifo == 1 || max_fifo == FIFO_SIZE)
            || count > max_fifo
            || trigger_level > 1
            || r[2] > 1
        {
            return Err(EINVAL);
        }
        let mut u = Uart::new();
        u.fifo.copy_from_slice(fifo);
        u.head = head;
        u.count = count;
        u.overrun = r[2] != 0;
        u.ier = r[3];
        u.lcr = r[4];
        u.mcr = r[5];
        u.scr = r[6];
        u.divisor = u16::from_le_bytes([r[7], r[8]]);
        u.max_fifo = max_fifo;
        u.trigger_level = trigger_level;
        Ok(u)
    }

    fn lsr(&self) -> u8 {
        let mut lsr = 0;
        if self.count > 0 {
            lsr |= LSR_DR;
        } else {
            // mtty clears THRE and TEMT while the FIFO holds data.
            lsr |= LSR_THRE_TEMT;
        }
        if self.overrun {
            lsr |= LSR_OE;
        }
        lsr
    }

    fn iir(&self) -> u8 {
        let mut iir = 0;
        if self.ier & IER_RLSI != 0 && self.overrun {
            iir |= IIR_RLSI;
        }
        if self.ier & IER_RDI != 0 && self.count >= self.trigger_level {
            iir |= IIR_RDI;
        }
        if self.ier & IER_THRI != 0 && self.count == 0 {
            iir |= IIR_THRI;
        }
        // mtty's modem status condition ORs in UART_IIR_MSI, which is 0.
        if iir == 0 {
            iir = IIR_NO_INT;
        }
        iir | IIR_FIFO_BITS
    }

    fn msr(&self) -> u8 {
        let mut msr = MSR_DSR | MSR_DDSR | MSR_DCD;
        if self.mcr & MCR_AFE == 0 || self.count < self.max_fifo {
            msr |= MSR_CTS | MSR_DCTS;
        }
        msr
    }
}

#[kunit_tests(mtty_rs_uart)]
mod tests {
    use super::*;

    #[test]
    fn loops_back_in_order() -> Result {
        let mut u = Uart::new();
        assert_eq!(u.peek(LSR)?, LSR_THRE_TEMT);
        u.write(RBR_THR, b'A')?;
        u.write(RBR_THR, b'B')?;
        assert_eq!(u.peek(LSR)?, LSR_DR);
        assert_eq!(u.read(RBR_THR)?.0, b'A');
        assert_eq!(u.read(RBR_THR)?.0, b'B');
        assert_eq!(u.peek(LSR)?, LSR_THRE_TEMT);
        assert_eq!(u.read(RBR_THR)?.0, 0);
        Ok(())
    }

    #[test]
    fn overrun_when_full() -> Result {
        let mut u = Uart::new();
        for i in 0..=FIFO_SIZE {
            // CAST: Small test values.
            u.write(RBR_THR, i as u8)?;
        }
        assert_eq!(u.pending(), FIFO_SIZE);
        assert_eq!(u.peek(LSR)?, LSR_DR | LSR_OE);
        u.read(RBR_THR)?;
        u.write(RBR_THR, 0)?;
        assert_eq!(u.peek(LSR)?, LSR_DR);
        // Without the FIFO enabled, it holds one byte.
        u.write(IIR_FCR, FCR_CLEAR_RCVR)?;
        u.write(RBR_THR, 1)?;
        u.write(RBR_THR, 2)?;
        assert_eq!(u.peek(LSR)?, LSR_DR | LSR_OE);
        Ok(())
    }

    #[test]
    fn divisor_latch_and_scratch() -> Result {
        let mut u = Uart::new();
        u.write(SCR, 0x5a)?;
        assert_eq!(u.peek(SCR)?, 0x5a);
        u.write(LCR, 0x83)?;
        u.write(RBR_THR, 0x0c)?;
        u.write(IER, 0x00)?;
        assert_eq!(u.peek(RBR_THR)?, 0x0c);
        assert_eq!(u.peek(IER)?, 0x00);
        assert_eq!(u.pending(), 0);
        u.write(LCR, 0x03)?;
        assert_eq!(u.peek(LCR)?, 0x03);
        Ok(())
    }

    #[test]
    fn save_restore_round_trip() -> Result {
        let mut u = Uart::new();
        u.write(IIR_FCR, FCR_ENABLE_FIFO)?;
        u.write(RBR_THR, b'x')?;
        u.write(RBR_THR, b'y')?;
        u.read(RBR_THR)?;
        u.write(SCR, 0x5a)?;
        u.write(LCR, 0x83)?;
        u.write(RBR_THR, 0x0c)?;
        u.write(LCR, 0x03)?;
        let mut bytes = KVec::new();
        u.save(&mut bytes)?;
        assert_eq!(bytes.len(), Uart::SAVED_SIZE);
        let mut v = Uart::restore(&bytes)?;
        for r in 0..REGISTERS {
            assert_eq!(u.peek(r)?, v.peek(r)?);
        }
        assert_eq!(v.read(RBR_THR)?.0, b'y');
        // A head past the FIFO is refused.
        bytes[FIFO_SIZE] = FIFO_SIZE as u8;
        assert!(Uart::restore(&bytes).is_err());
        Ok(())
    }

    #[test]
    fn refuses_offsets_past_the_registers() {
        let mut u = Uart::new();
        assert!(u.write(REGISTERS, 0).is_err());
        assert!(u.read(255).is_err());
    }

    #[test]
    fn interrupts_as_mtty_raises_them() -> Result {
        let mut u = Uart::new();
        assert_eq!(u.peek(IIR_FCR)?, 0xc1);
        // THRI with an empty FIFO raises one at once.
        assert_eq!(u.write(IER, IER_THRI)?, 1);
        assert_eq!(u.peek(IIR_FCR)?, 0xc2);
        // No "data ready" before the FCR sets the trigger level.
        assert_eq!(u.write(IER, IER_RDI)?, 0);
        assert_eq!(u.write(RBR_THR, 1)?, 0);
        assert_eq!(u.write(IIR_FCR, FCR_ENABLE_FIFO | FCR_CLEAR_RCVR)?, 0);
        assert_eq!(u.write(RBR_THR, 2)?, 1);
        assert_eq!(u.peek(IIR_FCR)?, 0xc4);
        assert_eq!(u.write(IER, IER_RDI | IER_THRI)?, 0);
        assert_eq!(u.read(RBR_THR)?, (2, 1));
        Ok(())
    }
}
