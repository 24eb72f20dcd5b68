// SPDX-License-Identifier: GPL-2.0
//! The parts of the VFIO and IOMMUFD user ABI the client uses, written out by hand
//! from the Linux 7.3 headers (no bindgen, no extra crate). Each item names its
//! header; the sizes of the structures are checked at compile time against those
//! of the 7.3 headers.

// ---- include/uapi/linux/vfio.h: ioctl numbers, _IO(VFIO_TYPE, VFIO_BASE + n) ----

/// `VFIO_TYPE` (';') and `VFIO_BASE` (100), include/uapi/linux/vfio.h.
const VFIO_TYPE: u32 = b';' as u32;
const VFIO_BASE: u32 = 100;

/// `_IO(type, nr)` of include/uapi/asm-generic/ioctl.h: no direction, no size.
const fn io(ty: u32, nr: u32) -> u32 {
    (ty << 8) | nr
}

/// include/uapi/linux/vfio.h
pub const VFIO_GET_API_VERSION: u32 = io(VFIO_TYPE, VFIO_BASE);
/// include/uapi/linux/vfio.h
pub const VFIO_CHECK_EXTENSION: u32 = io(VFIO_TYPE, VFIO_BASE + 1);
/// include/uapi/linux/vfio.h
pub const VFIO_SET_IOMMU: u32 = io(VFIO_TYPE, VFIO_BASE + 2);
/// include/uapi/linux/vfio.h
pub const VFIO_GROUP_GET_STATUS: u32 = io(VFIO_TYPE, VFIO_BASE + 3);
/// include/uapi/linux/vfio.h
pub const VFIO_GROUP_SET_CONTAINER: u32 = io(VFIO_TYPE, VFIO_BASE + 4);
/// include/uapi/linux/vfio.h
pub const VFIO_GROUP_GET_DEVICE_FD: u32 = io(VFIO_TYPE, VFIO_BASE + 6);
/// include/uapi/linux/vfio.h
pub const VFIO_DEVICE_GET_INFO: u32 = io(VFIO_TYPE, VFIO_BASE + 7);
/// include/uapi/linux/vfio.h
pub const VFIO_DEVICE_GET_REGION_INFO: u32 = io(VFIO_TYPE, VFIO_BASE + 8);
/// include/uapi/linux/vfio.h
pub const VFIO_DEVICE_GET_IRQ_INFO: u32 = io(VFIO_TYPE, VFIO_BASE + 9);
/// include/uapi/linux/vfio.h
pub const VFIO_DEVICE_SET_IRQS: u32 = io(VFIO_TYPE, VFIO_BASE + 10);
/// include/uapi/linux/vfio.h
pub const VFIO_DEVICE_RESET: u32 = io(VFIO_TYPE, VFIO_BASE + 11);
/// include/uapi/linux/vfio.h
pub const VFIO_DEVICE_BIND_IOMMUFD: u32 = io(VFIO_TYPE, VFIO_BASE + 18);
/// include/uapi/linux/vfio.h
pub const VFIO_DEVICE_ATTACH_IOMMUFD_PT: u32 = io(VFIO_TYPE, VFIO_BASE + 19);

/// include/uapi/linux/vfio.h
pub const VFIO_DEVICE_FEATURE: u32 = io(VFIO_TYPE, VFIO_BASE + 17);
/// include/uapi/linux/vfio.h, on a migration data file.
pub const VFIO_MIG_GET_PRECOPY_INFO: u32 = io(VFIO_TYPE, VFIO_BASE + 21);

// The values the research notes give (section 3.4), so a slip above cannot go unseen.
const _: () = assert!(VFIO_GET_API_VERSION == 0x3b64);
const _: () = assert!(VFIO_GROUP_GET_DEVICE_FD == 0x3b6a);
const _: () = assert!(VFIO_DEVICE_RESET == 0x3b6f);
const _: () = assert!(VFIO_DEVICE_BIND_IOMMUFD == 0x3b76);

// ---- include/uapi/linux/vfio.h: constants ----

/// `VFIO_API_VERSION`, include/uapi/linux/vfio.h.
pub const VFIO_API_VERSION: i32 = 0;
/// `VFIO_TYPE1v2_IOMMU`, include/uapi/linux/vfio.h.
pub const VFIO_TYPE1V2_IOMMU: u32 = 3;
/// `VFIO_GROUP_FLAGS_VIABLE`, include/uapi/linux/vfio.h.
pub const VFIO_GROUP_FLAGS_VIABLE: u32 = 1 << 0;
/// `VFIO_DEVICE_FLAGS_PCI`, include/uapi/linux/vfio.h.
pub const VFIO_DEVICE_FLAGS_PCI: u32 = 1 << 1;
/// `VFIO_REGION_INFO_FLAG_READ`, include/uapi/linux/vfio.h.
pub const VFIO_REGION_INFO_FLAG_READ: u32 = 1 << 0;
/// `VFIO_REGION_INFO_FLAG_WRITE`, include/uapi/linux/vfio.h.
pub const VFIO_REGION_INFO_FLAG_WRITE: u32 = 1 << 1;
/// `VFIO_IRQ_INFO_EVENTFD`, include/uapi/linux/vfio.h.
pub const VFIO_IRQ_INFO_EVENTFD: u32 = 1 << 0;
/// `VFIO_IRQ_INFO_MASKABLE`, include/uapi/linux/vfio.h.
pub const VFIO_IRQ_INFO_MASKABLE: u32 = 1 << 1;
/// `VFIO_IRQ_INFO_AUTOMASKED`, include/uapi/linux/vfio.h.
pub const VFIO_IRQ_INFO_AUTOMASKED: u32 = 1 << 2;
/// `VFIO_IRQ_INFO_NORESIZE`, include/uapi/linux/vfio.h.
pub const VFIO_IRQ_INFO_NORESIZE: u32 = 1 << 3;
/// `VFIO_IRQ_SET_DATA_NONE`, include/uapi/linux/vfio.h.
pub const VFIO_IRQ_SET_DATA_NONE: u32 = 1 << 0;
/// `VFIO_IRQ_SET_DATA_BOOL`, include/uapi/linux/vfio.h.
pub const VFIO_IRQ_SET_DATA_BOOL: u32 = 1 << 1;
/// `VFIO_IRQ_SET_DATA_EVENTFD`, include/uapi/linux/vfio.h.
pub const VFIO_IRQ_SET_DATA_EVENTFD: u32 = 1 << 2;
/// `VFIO_IRQ_SET_ACTION_MASK`, include/uapi/linux/vfio.h.
pub const VFIO_IRQ_SET_ACTION_MASK: u32 = 1 << 3;
/// `VFIO_IRQ_SET_ACTION_UNMASK`, include/uapi/linux/vfio.h.
pub const VFIO_IRQ_SET_ACTION_UNMASK: u32 = 1 << 4;
/// `VFIO_IRQ_SET_ACTION_TRIGGER`, include/uapi/linux/vfio.h.
pub const VFIO_IRQ_SET_ACTION_TRIGGER: u32 = 1 << 5;

/// The region indexes of a vfio-pci device (the anonymous enum with
/// `VFIO_PCI_BAR0_REGION_INDEX`), include/uapi/linux/vfio.h.
pub const VFIO_PCI_BAR0_REGION_INDEX: u32 = 0;
pub const VFIO_PCI_BAR1_REGION_INDEX: u32 = 1;
pub const VFIO_PCI_BAR2_REGION_INDEX: u32 = 2;
pub const VFIO_PCI_BAR5_REGION_INDEX: u32 = 5;
pub const VFIO_PCI_ROM_REGION_INDEX: u32 = 6;
pub const VFIO_PCI_CONFIG_REGION_INDEX: u32 = 7;
pub const VFIO_PCI_VGA_REGION_INDEX: u32 = 8;
pub const VFIO_PCI_NUM_REGIONS: u32 = 9;

/// The interrupt indexes of a vfio-pci device (the anonymous enum with
/// `VFIO_PCI_INTX_IRQ_INDEX`), include/uapi/linux/vfio.h.
pub const VFIO_PCI_INTX_IRQ_INDEX: u32 = 0;
pub const VFIO_PCI_MSI_IRQ_INDEX: u32 = 1;
pub const VFIO_PCI_MSIX_IRQ_INDEX: u32 = 2;
pub const VFIO_PCI_ERR_IRQ_INDEX: u32 = 3;
pub const VFIO_PCI_REQ_IRQ_INDEX: u32 = 4;
pub const VFIO_PCI_NUM_IRQS: u32 = 5;

// ---- include/uapi/linux/vfio.h: structures ----

/// `struct vfio_group_status`, include/uapi/linux/vfio.h.
#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct VfioGroupStatus {
    pub argsz: u32,
    pub flags: u32,
}

/// `struct vfio_device_info`, include/uapi/linux/vfio.h.
#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct VfioDeviceInfo {
    pub argsz: u32,
    pub flags: u32,
    pub num_regions: u32,
    pub num_irqs: u32,
    pub cap_offset: u32,
    pub pad: u32,
}

/// `struct vfio_region_info`, include/uapi/linux/vfio.h.
#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct VfioRegionInfo {
    pub argsz: u32,
    pub flags: u32,
    pub index: u32,
    pub cap_offset: u32,
    pub size: u64,
    pub offset: u64,
}

/// `struct vfio_irq_info`, include/uapi/linux/vfio.h.
#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct VfioIrqInfo {
    pub argsz: u32,
    pub flags: u32,
    pub index: u32,
    pub count: u32,
}

/// The fixed part of `struct vfio_irq_set`, include/uapi/linux/vfio.h; the
/// variable `__u8 data[]` follows it in the caller's buffer.
#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct VfioIrqSet {
    pub argsz: u32,
    pub flags: u32,
    pub index: u32,
    pub start: u32,
    pub count: u32,
}

/// `struct vfio_device_bind_iommufd`, include/uapi/linux/vfio.h.
#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct VfioDeviceBindIommufd {
    pub argsz: u32,
    pub flags: u32,
    pub iommufd: i32,
    pub out_devid: u32,
    /// `__aligned_u64`
    pub token_uuid_ptr: u64,
}

/// `struct vfio_device_attach_iommufd_pt`, include/uapi/linux/vfio.h.
#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct VfioDeviceAttachIommufdPt {
    pub argsz: u32,
    pub flags: u32,
    pub pt_id: u32,
    pub pasid: u32,
}

// ---- include/uapi/linux/iommufd.h ----

/// `IOMMUFD_TYPE` (';') and `IOMMUFD_CMD_IOAS_ALLOC` (0x81), include/uapi/linux/iommufd.h.
pub const IOMMU_IOAS_ALLOC: u32 = io(b';' as u32, 0x81);

/// `struct iommu_ioas_alloc`, include/uapi/linux/iommufd.h.
#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct IommuIoasAlloc {
    pub size: u32,
    pub flags: u32,
    pub out_ioas_id: u32,
}

// The sizes (and the alignment that sets them) of the 7.3 headers.
const _: () = assert!(std::mem::size_of::<VfioGroupStatus>() == 8);
const _: () = assert!(std::mem::size_of::<VfioDeviceInfo>() == 24);
const _: () = assert!(std::mem::size_of::<VfioRegionInfo>() == 32);
const _: () = assert!(std::mem::size_of::<VfioIrqInfo>() == 16);
const _: () = assert!(std::mem::size_of::<VfioIrqSet>() == 20);
const _: () = assert!(std::mem::size_of::<VfioDeviceBindIommufd>() == 24);
const _: () = assert!(std::mem::align_of::<VfioDeviceBindIommufd>() == 8);
const _: () = assert!(std::mem::size_of::<VfioDeviceAttachIommufdPt>() == 16);
const _: () = assert!(std::mem::size_of::<IommuIoasAlloc>() == 12);

/// The `minsz` each handler checks `argsz` against (`offsetofend` of its last
/// mandatory field), for the bad-argsz tests.
pub const DEVICE_INFO_MINSZ: u32 = 16; // offsetofend(struct vfio_device_info, num_irqs)
pub const REGION_INFO_MINSZ: u32 = 32; // offsetofend(struct vfio_region_info, offset)
pub const IRQ_INFO_MINSZ: u32 = 16; // offsetofend(struct vfio_irq_info, count)
pub const IRQ_SET_MINSZ: u32 = 20; // offsetofend(struct vfio_irq_set, count)
pub const BIND_IOMMUFD_MINSZ: u32 = 16; // offsetofend(struct vfio_device_bind_iommufd, out_devid)

// ---- include/uapi/linux/serial_reg.h and include/uapi/linux/pci_regs.h ----

/// 16550 register offsets in an mtty port's I/O BAR, include/uapi/linux/serial_reg.h.
pub const UART_RX: u64 = 0; // and UART_TX, and DLL with DLAB
pub const UART_IER: u64 = 1; // and DLM with DLAB
pub const UART_IIR: u64 = 2; // and UART_FCR on write
pub const UART_LCR: u64 = 3;
pub const UART_MCR: u64 = 4;
pub const UART_LSR: u64 = 5;
pub const UART_MSR: u64 = 6;
pub const UART_SCR: u64 = 7;

/// Register bits, include/uapi/linux/serial_reg.h.
pub const UART_IER_RDI: u8 = 0x01;
pub const UART_IER_THRI: u8 = 0x02;
pub const UART_IIR_NO_INT: u8 = 0x01;
pub const UART_IIR_THRI: u8 = 0x02;
pub const UART_IIR_RDI: u8 = 0x04;
pub const UART_FCR_ENABLE_FIFO: u8 = 0x01;
pub const UART_FCR_CLEAR_RCVR: u8 = 0x02;
pub const UART_FCR_CLEAR_XMIT: u8 = 0x04;
pub const UART_LCR_DLAB: u8 = 0x80;
pub const UART_LSR_DR: u8 = 0x01;
pub const UART_LSR_OE: u8 = 0x02;
pub const UART_LSR_THRE: u8 = 0x20;
pub const UART_LSR_TEMT: u8 = 0x40;
pub const UART_MSR_DCTS: u8 = 0x01;
pub const UART_MSR_DDSR: u8 = 0x02;
pub const UART_MSR_CTS: u8 = 0x10;
pub const UART_MSR_DSR: u8 = 0x20;
pub const UART_MSR_DCD: u8 = 0x80;

/// Config space offsets, include/uapi/linux/pci_regs.h.
pub const PCI_VENDOR_ID: u64 = 0x00;
pub const PCI_COMMAND: u64 = 0x04;
pub const PCI_BASE_ADDRESS_0: u64 = 0x10;
pub const PCI_SUBSYSTEM_VENDOR_ID: u64 = 0x2c;
pub const PCI_INTERRUPT_LINE: u64 = 0x3c;
pub const PCI_INTERRUPT_PIN: u64 = 0x3d;

// ---- include/uapi/linux/vfio.h: device features and migration (v2) ----

/// `VFIO_DEVICE_FEATURE_GET`, `_SET`, `_PROBE`.
pub const VFIO_DEVICE_FEATURE_GET: u32 = 1 << 16;
pub const VFIO_DEVICE_FEATURE_SET: u32 = 1 << 17;
pub const VFIO_DEVICE_FEATURE_PROBE: u32 = 1 << 18;
/// `VFIO_DEVICE_FEATURE_MIGRATION`, `_MIG_DEVICE_STATE`, `_MIG_DATA_SIZE`.
pub const VFIO_DEVICE_FEATURE_MIGRATION: u32 = 1;
pub const VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE: u32 = 2;
pub const VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: u32 = 9;
/// `VFIO_DEVICE_FEATURE_DMA_LOGGING_START`, `_STOP`, `_REPORT`.
pub const VFIO_DEVICE_FEATURE_DMA_LOGGING_START: u32 = 6;
pub const VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP: u32 = 7;
pub const VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT: u32 = 8;
/// `VFIO_MIGRATION_STOP_COPY`, `_P2P`, `_PRE_COPY`.
pub const VFIO_MIGRATION_STOP_COPY: u64 = 1 << 0;
pub const VFIO_MIGRATION_P2P: u64 = 1 << 1;
pub const VFIO_MIGRATION_PRE_COPY: u64 = 1 << 2;
/// `enum vfio_device_mig_state`.
pub const VFIO_DEVICE_STATE_ERROR: u32 = 0;
pub const VFIO_DEVICE_STATE_STOP: u32 = 1;
pub const VFIO_DEVICE_STATE_RUNNING: u32 = 2;
pub const VFIO_DEVICE_STATE_STOP_COPY: u32 = 3;
pub const VFIO_DEVICE_STATE_RESUMING: u32 = 4;
pub const VFIO_DEVICE_STATE_RUNNING_P2P: u32 = 5;
pub const VFIO_DEVICE_STATE_PRE_COPY: u32 = 6;
pub const VFIO_DEVICE_STATE_PRE_COPY_P2P: u32 = 7;

/// `struct vfio_device_feature` with 8 bytes of data (every feature used here:
/// `vfio_device_feature_migration`, `_mig_state`, `_mig_data_size`).
#[repr(C, align(8))]
#[derive(Default, Clone, Copy)]
pub struct VfioDeviceFeature8 {
    pub argsz: u32,
    pub flags: u32,
    pub data: [u8; 8],
}
const _: () = assert!(std::mem::size_of::<VfioDeviceFeature8>() == 16);

/// `struct vfio_precopy_info`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub struct VfioPrecopyInfo {
    pub argsz: u32,
    pub flags: u32,
    pub initial_bytes: u64,
    pub dirty_bytes: u64,
}
const _: () = assert!(std::mem::size_of::<VfioPrecopyInfo>() == 24);
