// SPDX-License-Identifier: GPL-2.0
//! The parts of the VFIO and IOMMUFD user ABI the client uses.
//!
//! The structures and constants of include/uapi/linux/vfio.h come from rust-vmm's
//! `vfio-bindings` crate (bindgen's output for that header), under their C names.
//! Written here by hand, each with its reason: the ioctl numbers (bindgen does not
//! translate the function-like `_IO()` macros, so the crate has none), a
//! `vfio_device_feature` with its payload (the crate's ends in a flexible array),
//! the `minsz` values (computed from the crate's structures), and what other
//! headers define: include/uapi/linux/iommufd.h, serial_reg.h and pci_regs.h, which
//! the crate does not cover. The ioctls themselves are raw (`crate::sys`), so that
//! the tests can send malformed arguments (a short `argsz`, a bad index).

use vfio_bindings::bindings::vfio::{VFIO_BASE, VFIO_TYPE};

// ---- include/uapi/linux/vfio.h: ioctl numbers, _IO(VFIO_TYPE, VFIO_BASE + n) ----

/// `_IO(type, nr)` of include/uapi/asm-generic/ioctl.h: no direction, no size.
const fn io(ty: u8, nr: u32) -> u32 {
    ((ty as u32) << 8) | nr
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

// ---- include/uapi/linux/vfio.h: structures and constants ----
//
// From vfio-bindings, which checks every size, alignment and field offset against
// the header it was generated from: Linux 7.2's (vfio-bindings 0.7.0). Every item
// used here was compared with 7.3's header and is the same; the sizes below are
// those of the 7.3 header, so that a crate made from a header that differs where the
// client looks cannot go unseen (a changed constant would not be seen by them).

pub use vfio_bindings::bindings::vfio::{
    vfio_device_attach_iommufd_pt, vfio_device_bind_iommufd, vfio_device_feature,
    vfio_device_feature_mig_data_size, vfio_device_feature_mig_state,
    vfio_device_feature_migration, vfio_device_info, vfio_group_status, vfio_irq_info,
    vfio_irq_set, vfio_precopy_info, vfio_region_info,
};
/// `enum vfio_device_mig_state`, under the C names (bindgen prefixes them with the
/// enum's name).
pub use vfio_bindings::bindings::vfio::{
    vfio_device_mig_state_VFIO_DEVICE_STATE_ERROR as VFIO_DEVICE_STATE_ERROR,
    vfio_device_mig_state_VFIO_DEVICE_STATE_PRE_COPY as VFIO_DEVICE_STATE_PRE_COPY,
    vfio_device_mig_state_VFIO_DEVICE_STATE_PRE_COPY_P2P as VFIO_DEVICE_STATE_PRE_COPY_P2P,
    vfio_device_mig_state_VFIO_DEVICE_STATE_RESUMING as VFIO_DEVICE_STATE_RESUMING,
    vfio_device_mig_state_VFIO_DEVICE_STATE_RUNNING as VFIO_DEVICE_STATE_RUNNING,
    vfio_device_mig_state_VFIO_DEVICE_STATE_RUNNING_P2P as VFIO_DEVICE_STATE_RUNNING_P2P,
    vfio_device_mig_state_VFIO_DEVICE_STATE_STOP as VFIO_DEVICE_STATE_STOP,
    vfio_device_mig_state_VFIO_DEVICE_STATE_STOP_COPY as VFIO_DEVICE_STATE_STOP_COPY,
};
pub use vfio_bindings::bindings::vfio::{
    VFIO_TYPE1v2_IOMMU, VFIO_API_VERSION, VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
    VFIO_DEVICE_FEATURE_DMA_LOGGING_START, VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
    VFIO_DEVICE_FEATURE_GET, VFIO_DEVICE_FEATURE_MIGRATION, VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
    VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, VFIO_DEVICE_FEATURE_PROBE, VFIO_DEVICE_FEATURE_SET,
    VFIO_DEVICE_FLAGS_PCI, VFIO_DEVICE_FLAGS_RESET, VFIO_GROUP_FLAGS_VIABLE,
    VFIO_IRQ_INFO_AUTOMASKED, VFIO_IRQ_INFO_EVENTFD, VFIO_IRQ_INFO_MASKABLE,
    VFIO_IRQ_INFO_NORESIZE, VFIO_IRQ_SET_ACTION_MASK, VFIO_IRQ_SET_ACTION_TRIGGER,
    VFIO_IRQ_SET_ACTION_UNMASK, VFIO_IRQ_SET_DATA_BOOL, VFIO_IRQ_SET_DATA_EVENTFD,
    VFIO_IRQ_SET_DATA_NONE, VFIO_MIGRATION_P2P, VFIO_MIGRATION_PRE_COPY, VFIO_MIGRATION_STOP_COPY,
    VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_BAR1_REGION_INDEX, VFIO_PCI_BAR2_REGION_INDEX,
    VFIO_PCI_BAR5_REGION_INDEX, VFIO_PCI_CONFIG_REGION_INDEX, VFIO_PCI_ERR_IRQ_INDEX,
    VFIO_PCI_INTX_IRQ_INDEX, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_PCI_MSI_IRQ_INDEX, VFIO_PCI_NUM_IRQS,
    VFIO_PCI_NUM_REGIONS, VFIO_PCI_REQ_IRQ_INDEX, VFIO_PCI_ROM_REGION_INDEX,
    VFIO_PCI_VGA_REGION_INDEX, VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE,
};

const _: () = assert!(std::mem::size_of::<vfio_group_status>() == 8);
const _: () = assert!(std::mem::size_of::<vfio_device_info>() == 24);
const _: () = assert!(std::mem::size_of::<vfio_region_info>() == 32);
const _: () = assert!(std::mem::size_of::<vfio_irq_info>() == 16);
const _: () = assert!(std::mem::size_of::<vfio_irq_set>() == 20);
const _: () = assert!(std::mem::size_of::<vfio_device_bind_iommufd>() == 24);
const _: () = assert!(std::mem::align_of::<vfio_device_bind_iommufd>() == 8);
const _: () = assert!(std::mem::size_of::<vfio_device_attach_iommufd_pt>() == 16);
const _: () = assert!(std::mem::size_of::<vfio_device_feature>() == 8);
const _: () = assert!(std::mem::size_of::<vfio_device_feature_mig_state>() == 8);
const _: () = assert!(std::mem::size_of::<vfio_device_feature_migration>() == 8);
const _: () = assert!(std::mem::size_of::<vfio_device_feature_mig_data_size>() == 8);
const _: () = assert!(std::mem::size_of::<vfio_precopy_info>() == 24);

/// `struct vfio_device_feature` with its payload `T` in `data[]` (for instance
/// `vfio_device_feature_mig_state`), as one buffer; the crate's struct ends in a
/// flexible array, which Rust cannot fill. The payloads used here start at offset 8,
/// like `data[]`, and are at most 8-byte aligned.
#[repr(C)]
#[derive(Default)]
pub struct DeviceFeature<T> {
    pub hdr: vfio_device_feature,
    pub data: T,
}
const _: () = assert!(std::mem::offset_of!(DeviceFeature<u64>, data) == 8);
const _: () =
    assert!(std::mem::offset_of!(DeviceFeature<vfio_device_feature_mig_state>, data) == 8);

/// The `minsz` each handler checks `argsz` against (`offsetofend` of its last
/// mandatory field), for the bad-argsz tests.
macro_rules! offsetofend {
    ($t:ty, $f:ident: $ft:ty) => {
        (std::mem::offset_of!($t, $f) + std::mem::size_of::<$ft>()) as u32
    };
}
/// `offsetofend(struct vfio_device_info, num_irqs)`
pub const DEVICE_INFO_MINSZ: u32 = offsetofend!(vfio_device_info, num_irqs: u32);
/// `offsetofend(struct vfio_region_info, offset)`
pub const REGION_INFO_MINSZ: u32 = offsetofend!(vfio_region_info, offset: u64);
/// `offsetofend(struct vfio_irq_info, count)`
pub const IRQ_INFO_MINSZ: u32 = offsetofend!(vfio_irq_info, count: u32);
/// `offsetofend(struct vfio_irq_set, count)`
pub const IRQ_SET_MINSZ: u32 = offsetofend!(vfio_irq_set, count: u32);
/// `offsetofend(struct vfio_device_bind_iommufd, out_devid)`
pub const BIND_IOMMUFD_MINSZ: u32 = offsetofend!(vfio_device_bind_iommufd, out_devid: u32);
// The values the handlers in drivers/vfio of 7.3 compute.
const _: () = assert!(DEVICE_INFO_MINSZ == 16);
const _: () = assert!(REGION_INFO_MINSZ == 32);
const _: () = assert!(IRQ_INFO_MINSZ == 16);
const _: () = assert!(IRQ_SET_MINSZ == 20);
const _: () = assert!(BIND_IOMMUFD_MINSZ == 16);

// ---- include/uapi/linux/iommufd.h ----

/// `IOMMUFD_TYPE` (';') and `IOMMUFD_CMD_IOAS_ALLOC` (0x81), include/uapi/linux/iommufd.h.
pub const IOMMU_IOAS_ALLOC: u32 = io(b';', 0x81);

// By hand: vfio-bindings covers vfio.h only, and the IOMMUFD bindings crate
// (iommufd-bindings 0.2) is Apache-2.0 only, which does not combine with this GPL-2.0
// program (vfio-bindings is used under its BSD-3-Clause option).

/// `struct iommu_ioas_alloc`, include/uapi/linux/iommufd.h (named as the C struct,
/// like the VFIO structures above).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Default, Clone, Copy, Debug)]
pub struct iommu_ioas_alloc {
    pub size: u32,
    pub flags: u32,
    pub out_ioas_id: u32,
}

const _: () = assert!(std::mem::size_of::<iommu_ioas_alloc>() == 12);

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
