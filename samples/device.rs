// SPDX-License-Identifier: GPL-2.0

//! One mtty_rs device as a VFIO user sees it: regions, interrupts and the register
//! accesses of the device file, in the layout of `mtty.c` (config space at region 7,
//! each port's 8-byte I/O BAR at regions 0 and 1, INTx and MSI through eventfds).
//!
//! Every access is checked: a region the device does not have, an offset past the end
//! of a region, or a BAR access wider than a byte (the registers are bytes) is
//! `EINVAL`; mtty reads and writes outside its buffers in those cases.
//!
//! All state is under one lock, [`MttyDevice::state`], taken by every VFIO callback
//! and by the vendor attribute; interrupts are signalled with it held.

use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;
use kernel::uaccess::UserSliceReader;
use kernel::uaccess::UserSliceWriter;

use crate::migration;
use crate::pci_config;
use crate::pci_config::Config;
use crate::pool::PortLease;
use crate::uart::Uart;
use crate::vfio;
use crate::vfio::EventFd;
use crate::vfio::IrqAction;
use crate::vfio::IrqData;
use crate::vfio::IrqSet;

/// Which interrupt the device signals, as mtty's `irq_index`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum IrqMode {
    None,
    Intx,
    Msi,
}

/// Everything of a device that changes.
pub(crate) struct State {
    pub(crate) uart: [Uart; 2],
    config: Config,
    mode: IrqMode,
    intx: Option<EventFd>,
    /// INTx is masked: automatically after each interrupt, until the user unmasks it.
    intx_masked: bool,
    msi: Option<EventFd>,
    request: Option<EventFd>,
    /// The last register read through the vendor attribute.
    pub(crate) last_read: Option<u8>,
}

impl State {
    /// Delivers `n` interrupts of the device's ports.
    pub(crate) fn raise(&mut self, n: u32) {
        for _ in 0..n {
            match self.mode {
                IrqMode::Msi => {
                    if let Some(efd) = &self.msi {
                        efd.signal();
                    }
                }
                IrqMode::Intx => {
                    if let Some(efd) = &self.intx {
                        if !self.intx_masked {
                            efd.signal();
                            self.intx_masked = true;
                        }
                    }
                }
                IrqMode::None => {}
            }
        }
    }

    fn disable_intx(&mut self) {
        if self.intx.take().is_some() {
            self.intx_masked = false;
            self.mode = IrqMode::None;
        }
    }

    fn disable_msi(&mut self) {
        if self.msi.take().is_some() {
            self.mode = IrqMode::None;
        }
    }

    /// Writes register `offset` of `port`, delivering the interrupts it raises.
    pub(crate) fn write_register(&mut self, port: usize, offset: u8, value: u8) -> Result {
        let irqs = self
            .uart
            .get_mut(port)
            .ok_or(EINVAL)?
            .write(offset, value)?;
        self.raise(irqs);
        Ok(())
    }

    /// Reads register `offset` of `port`, delivering the interrupts it raises.
    pub(crate) fn read_register(&mut self, port: usize, offset: u8) -> Result<u8> {
        let (value, irqs) = self.uart.get_mut(port).ok_or(EINVAL)?.read(offset)?;
        self.raise(irqs);
        Ok(value)
    }
}

/// Where in the device a read or write of the device file goes.
enum Target {
    /// The config space, at this offset.
    Config(usize),
    /// One register of one port.
    Register { port: usize, reg: u8 },
}

/// What the driver keeps per mdev: its VFIO device's data.
#[pin_data]
pub(crate) struct MttyDevice {
    /// 1 or 2.
    pub(crate) ports: u32,
    /// The ports, given back to the pool when the VFIO device is released.
    _lease: PortLease,
    #[pin]
    pub(crate) state: Mutex<State>,
}

impl MttyDevice {
    /// A device with the ports of `lease`, as created.
    pub(crate) fn new(lease: PortLease) -> impl PinInit<Self, Error> {
        let ports = lease.ports();
        try_pin_init!(MttyDevice {
            ports,
            _lease: lease,
            state <- new_mutex!(State {
                uart: [Uart::new(), Uart::new()],
                config: Config::new(*ports),
                mode: IrqMode::None,
                intx: None,
                intx_masked: false,
                msi: None,
                request: None,
                last_read: None,
            }),
        }? Error)
    }

    /// The port behind BAR region `index`, if the device has it.
    fn port_of_region(&self, index: u64) -> Option<usize> {
        // CAST: One or two ports.
        (index < u64::from(self.ports)).then_some(index as usize)
    }

    /// What an access of `len` bytes at device file position `pos` reaches: the config
    /// space, or one register of a port (BAR accesses are one byte, inside the BAR).
    fn target(&self, pos: u64, len: usize) -> Result<Target> {
        let (index, offset) = vfio::split_offset(pos);
        if index == u64::from(vfio::PCI_CONFIG_REGION_INDEX) {
            return Ok(Target::Config(usize::try_from(offset).map_err(|_| EINVAL)?));
        }
        let port = self.port_of_region(index).ok_or(EINVAL)?;
        if len != 1 || offset >= u64::from(pci_config::IO_BAR_SIZE) {
            return Err(EINVAL);
        }
        // CAST: Below 8.
        Ok(Target::Register {
            port,
            reg: offset as u8,
        })
    }
}

/// Sets the eventfd of a single-interrupt index from `SET_IRQS` data, as mtty does:
/// a negative descriptor only clears it.
fn single_eventfd(data: IrqData) -> Option<EventFd> {
    match data {
        IrqData::EventFd(mut fds) => fds.pop().flatten(),
        _ => None,
    }
}

/// Whether `SET_IRQS` data asks for the action: no data, or a true boolean.
fn data_says_yes(data: &IrqData) -> bool {
    match data {
        IrqData::None => true,
        IrqData::Bool(v) => v.first().copied().unwrap_or(false),
        IrqData::EventFd(_) => false,
    }
}

#[vtable]
impl vfio::Driver for MttyDevice {
    const NAME: &'static CStr = c"vfio-mtty-rs";

    fn close(&self) {
        let mut s = self.state.lock();
        s.disable_intx();
        s.disable_msi();
        s.request = None;
    }

    fn read(&self, out: &mut UserSliceWriter, pos: u64) -> Result<usize> {
        let len = out.len();
        let target = self.target(pos, len)?;
        let mut bytes = [0u8; pci_config::SIZE];
        let bytes = bytes.get_mut(..len).ok_or(EINVAL)?;
        {
            let mut s = self.state.lock();
            match target {
                Target::Config(offset) => s.config.read(offset, bytes)?,
                Target::Register { port, reg } => bytes[0] = s.read_register(port, reg)?,
            }
        }
        out.write_slice(bytes)?;
        Ok(len)
    }

    fn write(&self, input: &mut UserSliceReader, pos: u64) -> Result<usize> {
        let len = input.len();
        let target = self.target(pos, len)?;
        let mut bytes = [0u8; pci_config::SIZE];
        let bytes = bytes.get_mut(..len).ok_or(EINVAL)?;
        input.read_slice(bytes)?;
        let mut s = self.state.lock();
        match target {
            Target::Config(offset) => s.config.write(offset, bytes)?,
            Target::Register { port, reg } => s.write_register(port, reg, bytes[0])?,
        }
        Ok(len)
    }

    fn device_info(&self) -> vfio::DeviceInfo {
        vfio::DeviceInfo {
            flags: vfio::DEVICE_FLAGS_PCI,
            num_regions: vfio::PCI_NUM_REGIONS,
            num_irqs: vfio::PCI_NUM_IRQS,
        }
    }

    fn region_info(&self, index: u32) -> Result<vfio::RegionInfo> {
        if index >= vfio::PCI_NUM_REGIONS {
            return Err(EINVAL);
        }
        let size = if index == vfio::PCI_CONFIG_REGION_INDEX {
            // CAST: 0xff.
            pci_config::SIZE as u64
        } else if (vfio::PCI_BAR0_REGION_INDEX..=vfio::PCI_BAR5_REGION_INDEX).contains(&index)
            && self.port_of_region(u64::from(index)).is_some()
        {
            u64::from(pci_config::IO_BAR_SIZE)
        } else {
            0
        };
        Ok(vfio::RegionInfo {
            flags: vfio::REGION_INFO_FLAG_READ | vfio::REGION_INFO_FLAG_WRITE,
            size,
            offset: vfio::region_offset(index),
        })
    }

    fn irq_info(&self, index: u32) -> Result<vfio::IrqInfo> {
        let flags = match index {
            vfio::PCI_INTX_IRQ_INDEX => vfio::IRQ_INFO_MASKABLE | vfio::IRQ_INFO_AUTOMASKED,
            vfio::PCI_MSI_IRQ_INDEX => vfio::IRQ_INFO_NORESIZE,
            vfio::PCI_REQ_IRQ_INDEX => 0,
            _ => return Err(EINVAL),
        };
        Ok(vfio::IrqInfo {
            flags: flags | vfio::IRQ_INFO_EVENTFD,
            count: 1,
        })
    }

    fn set_irqs(&self, set: IrqSet) -> Result {
        let single = set.start == 0 && set.count == 1;
        let mut s = self.state.lock();
        match (set.index, set.action) {
            (vfio::PCI_INTX_IRQ_INDEX, IrqAction::Mask | IrqAction::Unmask) => {
                if s.mode != IrqMode::Intx || !single {
                    return Err(EINVAL);
                }
                if matches!(set.data, IrqData::EventFd(_)) {
                    return Err(ENOTTY);
                }
                if data_says_yes(&set.data) {
                    s.intx_masked = set.action == IrqAction::Mask;
                }
            }
            (vfio::PCI_MSI_IRQ_INDEX, IrqAction::Mask | IrqAction::Unmask) => return Err(ENOTTY),
            (vfio::PCI_INTX_IRQ_INDEX | vfio::PCI_MSI_IRQ_INDEX, IrqAction::Trigger) => {
                let mode = if set.index == vfio::PCI_INTX_IRQ_INDEX {
                    IrqMode::Intx
                } else {
                    IrqMode::Msi
                };
                if s.mode == mode && set.count == 0 && matches!(set.data, IrqData::None) {
                    if mode == IrqMode::Intx {
                        s.disable_intx();
                    } else {
                        s.disable_msi();
                    }
                    return Ok(());
                }
                if !(s.mode == mode || s.mode == IrqMode::None) || !single {
                    return Err(EINVAL);
                }
                if let IrqData::EventFd(_) = set.data {
                    if mode == IrqMode::Intx {
                        s.disable_intx();
                        s.intx = single_eventfd(set.data);
                    } else {
                        s.disable_msi();
                        s.msi = single_eventfd(set.data);
                    }
                    let armed = if mode == IrqMode::Intx {
                        s.intx.is_some()
                    } else {
                        s.msi.is_some()
                    };
                    if armed {
                        s.mode = mode;
                    }
                    return Ok(());
                }
                if s.mode != mode {
                    return Err(EINVAL);
                }
                if data_says_yes(&set.data) {
                    s.raise(1);
                }
            }
            (vfio::PCI_REQ_IRQ_INDEX, IrqAction::Trigger) => match set.data {
                IrqData::EventFd(_) if single => s.request = single_eventfd(set.data),
                IrqData::None if set.count == 0 => s.request = None,
                _ => return Err(EINVAL),
            },
            _ => return Err(ENOTTY),
        }
        Ok(())
    }

    fn reset(&self) -> Result {
        let mut s = self.state.lock();
        s.uart = [Uart::new(), Uart::new()];
        s.intx_masked = false;
        Ok(())
    }

    const MIGRATION: u32 =
        vfio::MIGRATION_STOP_COPY | vfio::MIGRATION_P2P | vfio::MIGRATION_PRE_COPY;
    const MIGRATION_STREAM_MAX: usize = migration::MAX_SIZE;

    fn migration_save_initial(&self) -> Result<KVec<u8>> {
        migration::initial(self.ports)
    }

    fn migration_save(&self) -> Result<KVec<u8>> {
        let s = self.state.lock();
        migration::rest(self.ports, &s.config, s.intx_masked, &s.uart)
    }

    fn migration_load(&self, stream: &[u8]) -> Result {
        let saved = migration::parse(self.ports, stream)?;
        let mut s = self.state.lock();
        s.config = saved.config;
        s.intx_masked = saved.intx_masked;
        s.uart = saved.uart;
        Ok(())
    }

    fn migration_data_size(&self) -> Result<usize> {
        Ok(migration::stream_size(self.ports))
    }

    fn request(&self, count: u32) {
        let s = self.state.lock();
        match &s.request {
            Some(efd) => efd.signal(),
            // `pr_info!` prefixes the module's name (`mtty_rs: `) itself.
            None if count == 0 => {
                pr_info!("device in use and no request eventfd: waiting for its user\n")
            }
            None => {}
        }
    }
}
