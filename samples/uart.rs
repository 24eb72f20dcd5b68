// SPDX-License-Identifier: GPL-2.0

//! The 16550 UART of one mtty port, as the kernel's `mtty.c` emulates it: the eight
//! registers of its I/O BAR, a receive FIFO, and transmit looped back to receive.
//! Pure logic, no locking: the owner serialises access.

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

const FIFO_SIZE: usize = 16;
const LCR_DLAB: u8 = 0x80;
const IER_RDI: u8 = 0x01;
const IER_THRI: u8 = 0x02;
const FCR_ENABLE: u8 = 0x01;
const FCR_CLEAR_RCVR: u8 = 0x02;
const LSR_DR: u8 = 0x01;
const LSR_OE: u8 = 0x02;
const LSR_THRE_TEMT: u8 = 0x60;

/// One port's registers and receive FIFO.
pub(crate) struct Uart {
    fifo: [u8; FIFO_SIZE],
    head: usize,
    count: usize,
    overrun: bool,
    ier: u8,
    fcr: u8,
    lcr: u8,
    mcr: u8,
    scr: u8,
    dll: u8,
    dlm: u8,
}

impl Uart {
    /// A port after reset.
    pub(crate) const fn new() -> Uart {
        Uart {
            fifo: [0; FIFO_SIZE],
            head: 0,
            count: 0,
            overrun: false,
            ier: 0,
            fcr: 0,
            lcr: 0,
            mcr: 0,
            scr: 0,
            dll: 0,
            dlm: 0,
        }
    }

    fn dlab(&self) -> bool {
        self.lcr & LCR_DLAB != 0
    }

    /// Writes `value` to the register at `offset`; offsets past the eight registers
    /// are refused (`mtty.c` does not check them).
    pub(crate) fn write(&mut self, offset: u8, value: u8) -> Result {
        match offset {
            RBR_THR if self.dlab() => self.dll = value,
            RBR_THR => {
                // Loopback: what is transmitted is received.
                if self.count == FIFO_SIZE {
                    self.overrun = true;
                } else {
                    self.fifo[(self.head + self.count) % FIFO_SIZE] = value;
                    self.count += 1;
                }
            }
            IER if self.dlab() => self.dlm = value,
            IER => self.ier = value & 0x0f,
            IIR_FCR => {
                self.fcr = value;
                if value & FCR_CLEAR_RCVR != 0 {
                    self.count = 0;
                    self.head = 0;
                }
            }
            LCR => self.lcr = value,
            MCR => self.mcr = value & 0x1f,
            // Read-only registers: writes are ignored, as on the hardware.
            LSR | MSR => {}
            SCR => self.scr = value,
            _ => return Err(EINVAL),
        }
        Ok(())
    }

    /// Reads the register at `offset`; reading RBR takes the byte out of the FIFO and
    /// reading LSR clears the overrun bit, as on the hardware.
    pub(crate) fn read(&mut self, offset: u8) -> Result<u8> {
        let value = self.peek(offset)?;
        match offset {
            RBR_THR if !self.dlab() && self.count > 0 => {
                self.head = (self.head + 1) % FIFO_SIZE;
                self.count -= 1;
            }
            LSR => self.overrun = false,
            _ => {}
        }
        Ok(value)
    }

    /// The register at `offset`, without the side effects of reading it.
    pub(crate) fn peek(&self, offset: u8) -> Result<u8> {
        Ok(match offset {
            RBR_THR if self.dlab() => self.dll,
            RBR_THR if self.count > 0 => self.fifo[self.head],
            RBR_THR => 0,
            IER if self.dlab() => self.dlm,
            IER => self.ier,
            IIR_FCR => self.iir(),
            LCR => self.lcr,
            MCR => self.mcr,
            LSR => self.lsr(),
            MSR => self.msr(),
            SCR => self.scr,
            _ => return Err(EINVAL),
        })
    }

    /// Bytes waiting in the receive FIFO.
    pub(crate) fn pending(&self) -> usize {
        self.count
    }

    fn lsr(&self) -> u8 {
        let mut lsr = 0;
        if self.count > 0 {
            lsr |= LSR_DR;
        } else {
            // The transmitter is empty when everything sent has been looped back and
            // read (mtty clears THRE and TEMT while the FIFO holds data).
            lsr |= LSR_THRE_TEMT;
        }
        if self.overrun {
            lsr |= LSR_OE;
        }
        lsr
    }

    fn iir(&self) -> u8 {
        let fifo_bits = if self.fcr & FCR_ENABLE != 0 { 0xc0 } else { 0 };
        let id = if self.ier & IER_RDI != 0 && self.count > 0 {
            0x04 // received data available
        } else if self.ier & IER_THRI != 0 && self.count == 0 {
            0x02 // transmitter holding register empty
        } else {
            0x01 // no interrupt pending
        };
        fifo_bits | id
    }

    /// Modem status as a loopback connector wires it: RTS to CTS, DTR to DSR, OUT1 to
    /// RI, OUT2 to DCD.
    fn msr(&self) -> u8 {
        let mut msr = 0;
        for (mcr_bit, msr_bit) in [(0x02, 0x10), (0x01, 0x20), (0x04, 0x40), (0x08, 0x80)] {
            if self.mcr & mcr_bit != 0 {
                msr |= msr_bit;
            }
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
        assert_eq!(u.read(RBR_THR)?, b'A');
        assert_eq!(u.read(RBR_THR)?, b'B');
        assert_eq!(u.peek(LSR)?, LSR_THRE_TEMT);
        Ok(())
    }

    #[test]
    fn overrun_is_reported_once() -> Result {
        let mut u = Uart::new();
        for i in 0..=FIFO_SIZE {
            // CAST: Small test values.
            u.write(RBR_THR, i as u8)?;
        }
        assert_eq!(u.pending(), FIFO_SIZE);
        assert_eq!(u.read(LSR)?, LSR_DR | LSR_OE);
        assert_eq!(u.read(LSR)?, LSR_DR);
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
        assert_eq!(u.pending(), 0);
        u.write(LCR, 0x03)?;
        assert_eq!(u.peek(LCR)?, 0x03);
        Ok(())
    }

    #[test]
    fn refuses_offsets_past_the_registers() {
        let mut u = Uart::new();
        assert!(u.write(8, 0).is_err());
        assert!(u.read(255).is_err());
    }

    #[test]
    fn interrupt_identification() -> Result {
        let mut u = Uart::new();
        assert_eq!(u.peek(IIR_FCR)?, 0x01);
        u.write(IER, IER_THRI)?;
        assert_eq!(u.peek(IIR_FCR)?, 0x02);
        u.write(IER, IER_RDI)?;
        u.write(RBR_THR, 1)?;
        u.write(IIR_FCR, FCR_ENABLE)?;
        assert_eq!(u.peek(IIR_FCR)?, 0xc4);
        u.write(IIR_FCR, FCR_ENABLE | FCR_CLEAR_RCVR)?;
        assert_eq!(u.pending(), 0);
        Ok(())
    }
}
