// SPDX-License-Identifier: GPL-2.0
//! The tests, one file per area, and the helpers they share.

mod bounds;
mod config;
mod errors;
mod info;
mod irq;
pub mod migration;
mod removal;
mod uart;

use crate::uapi::*;
use crate::vfio::Device;
use crate::Fail;
use crate::OrFail;
use crate::Test;

/// Every test, in the order they run.
pub fn all() -> Vec<Test> {
    let mut v = Vec::new();
    v.extend_from_slice(info::TESTS);
    v.extend_from_slice(config::TESTS);
    v.extend_from_slice(uart::TESTS);
    v.extend_from_slice(irq::TESTS);
    v.extend_from_slice(errors::TESTS);
    v.extend_from_slice(bounds::TESTS);
    v.extend_from_slice(removal::TESTS);
    v.extend_from_slice(migration::TESTS);
    v
}

/// The file offset of region `index`, from `VFIO_DEVICE_GET_REGION_INFO`.
pub fn region_offset(dev: &Device, index: u32) -> Result<u64, Fail> {
    Ok(dev
        .region(index)
        .or_fail(format!("VFIO_DEVICE_GET_REGION_INFO({index})"))?
        .offset)
}

/// The name of a UART register, for messages.
pub fn reg_name(reg: u64, write: bool) -> &'static str {
    match (reg, write) {
        (UART_RX, false) => "RBR",
        (UART_RX, true) => "THR",
        (UART_IER, _) => "IER",
        (UART_IIR, false) => "IIR",
        (UART_IIR, true) => "FCR",
        (UART_LCR, _) => "LCR",
        (UART_MCR, _) => "MCR",
        (UART_LSR, _) => "LSR",
        (UART_MSR, _) => "MSR",
        (UART_SCR, _) => "SCR",
        _ => "beyond the registers",
    }
}

/// One serial port: the I/O BAR of an mtty port, accessed a byte at a time.
pub struct Port<'a> {
    pub dev: &'a Device,
    pub n: u32,
    pub base: u64,
}

impl<'a> Port<'a> {
    /// Port `n` (BAR `n`) of `dev`.
    pub fn new(dev: &'a Device, n: u32) -> Result<Port<'a>, Fail> {
        Ok(Port {
            dev,
            n,
            base: region_offset(dev, VFIO_PCI_BAR0_REGION_INDEX + n)?,
        })
    }

    pub fn rd(&self, reg: u64) -> Result<u8, Fail> {
        self.dev.read8(self.base + reg).or_fail(format!(
            "port {} read {}",
            self.n,
            reg_name(reg, false)
        ))
    }

    pub fn wr(&self, reg: u64, v: u8) -> Result<(), Fail> {
        self.dev.write8(self.base + reg, v).or_fail(format!(
            "port {} write {} {v:#04x}",
            self.n,
            reg_name(reg, true)
        ))
    }

    /// Requires register `reg` to read `want`.
    pub fn expect(&self, reg: u64, want: u8, when: &str) -> Result<(), Fail> {
        let got = self.rd(reg)?;
        if got != want {
            return Err(Fail::Fail(format!(
                "port {} {} {when}: got {got:#04x}, want {want:#04x}",
                self.n,
                reg_name(reg, false)
            )));
        }
        Ok(())
    }

    /// Requires the bits `mask` of register `reg` to read `want`.
    pub fn expect_bits(&self, reg: u64, mask: u8, want: u8, when: &str) -> Result<(), Fail> {
        let got = self.rd(reg)?;
        if got & mask != want {
            return Err(Fail::Fail(format!(
                "port {} {} {when}: got {got:#04x}, want {want:#04x} in the bits {mask:#04x}",
                self.n,
                reg_name(reg, false)
            )));
        }
        Ok(())
    }

    /// Writes `text` to THR byte by byte, then reads it back from RBR, checking LSR
    /// on the way: DR (and not THRE/TEMT) while data waits, 0x60 once it is drained.
    pub fn loop_back(&self, text: &[u8]) -> Result<(), Fail> {
        for &b in text {
            self.wr(UART_RX, b)?;
        }
        let mut got = Vec::new();
        for i in 0..text.len() {
            self.expect(
                UART_LSR,
                UART_LSR_DR,
                &format!("with {} bytes waiting", text.len() - i),
            )?;
            got.push(self.rd(UART_RX)?);
        }
        self.expect(UART_LSR, LSR_IDLE, "once the FIFO is drained")?;
        if got != text {
            return Err(Fail::Fail(format!(
                "port {} looped back {:?}, want {:?}",
                self.n,
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(text)
            )));
        }
        Ok(())
    }
}

/// LSR with nothing received and nothing to send: THRE | TEMT.
pub const LSR_IDLE: u8 = UART_LSR_THRE | UART_LSR_TEMT;
/// MSR as mtty always shows it with MCR clear: DCD | DSR | CTS and the two deltas.
pub const MSR_MTTY: u8 = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS | UART_MSR_DDSR | UART_MSR_DCTS;
