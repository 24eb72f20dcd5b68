// SPDX-License-Identifier: GPL-2.0
//! The vendor drivers the client can drive, and what it may expect of each.
//!
//! Both profiles describe the same device: the PCI identity, registers and VFIO
//! region and interrupt layout of the kernel's `samples/vfio-mdev/mtty.c` (7.3). The
//! flags say where a driver may differ from that reference.

/// A vendor driver whose mdevs are mtty-style VFIO serial devices.
pub struct Profile {
    /// The name the client is asked for on its command line.
    pub id: &'static str,
    /// The module to load and unload.
    pub module: &'static str,
    /// The parent's name under `/sys/class/mdev_bus`.
    pub parent: &'static str,
    /// The type with one port (one I/O BAR) and the type with two (two I/O BARs).
    pub type_1port: &'static str,
    pub type_2port: &'static str,
    /// Whether the driver refuses accesses outside its regions and of the wrong size
    /// with EINVAL. C mtty does not check them, and some of them read or write out of
    /// bounds in the kernel (see `tests/bounds.rs`), so they are only made when this
    /// is set.
    pub bounds_checked: bool,
    /// Whether the driver implements the `request` callback of `vfio_device_ops`:
    /// then it offers `VFIO_PCI_REQ_IRQ_INDEX` and signals it when the device is
    /// being removed while open. C mtty has no `request` (mtty.c 1920-1933).
    pub has_request: bool,
    /// Whether `VFIO_DEVICE_GET_INFO` sets `VFIO_DEVICE_FLAGS_RESET` (the driver
    /// implements `VFIO_DEVICE_RESET`). C mtty implements it (mtty_reset(), mtty.c
    /// 1398) but reports only `VFIO_DEVICE_FLAGS_PCI` (mtty.c 1780), so a VMM never
    /// resets it; the Rust API sets the flag for every driver with a reset.
    pub advertises_reset: bool,
    /// What of the migration uAPI the driver gets right where C mtty does not
    /// (mtty.c 146-1350, 1910-1918): whether its stream carries the config space
    /// (mtty saves only its `serial_port`s); whether it checks a whole stream before
    /// loading it (mtty checks only the header: a changed payload byte is loaded, and
    /// a FIFO head or tail past the FIFO indexes out of it later); whether a read at
    /// the temporary end of a PRE_COPY stream is ENOMSG, as the uAPI says (mtty
    /// returns 0); whether closing the device puts it back in RUNNING (mtty_close()
    /// ends the data files but keeps the state, so the next user finds STOP_COPY).
    pub mig_carries_config: bool,
    pub mig_checks_stream: bool,
    pub mig_precopy_enomsg: bool,
    pub mig_close_resets_state: bool,
    /// Whether a data file may be used after its mdev is gone: mtty's file keeps a
    /// bare pointer to the mdev's state (`struct mtty_migration_file`, mtty.c
    /// 146-153), which mtty_resume_write() dereferences (mtty_data_size()) before it
    /// looks at `disabled`, after mtty_release_dev() freed it.
    pub mig_file_outlives_device: bool,
}

pub static PROFILES: &[Profile] = &[
    Profile {
        id: "mtty",
        module: "mtty",
        parent: "mtty",
        type_1port: "mtty-1",
        type_2port: "mtty-2",
        bounds_checked: false,
        has_request: false,
        advertises_reset: false,
        mig_carries_config: false,
        mig_checks_stream: false,
        mig_precopy_enomsg: false,
        mig_close_resets_state: false,
        mig_file_outlives_device: false,
    },
    Profile {
        id: "mtty_rs",
        module: "mtty_rs",
        parent: "mtty_rs",
        type_1port: "mtty_rs-1",
        type_2port: "mtty_rs-2",
        bounds_checked: true,
        has_request: true,
        advertises_reset: true,
        mig_carries_config: true,
        mig_checks_stream: true,
        mig_precopy_enomsg: true,
        mig_close_resets_state: true,
        mig_file_outlives_device: true,
    },
];

/// The profile called `id`.
pub fn find(id: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.id == id)
}

/// A second parent for the tests that need one: the kernel's C `mdpy`, which loads
/// on either core.
pub struct OtherParent {
    pub module: &'static str,
    pub parent: &'static str,
    pub type_name: &'static str,
}

pub static OTHER: OtherParent = OtherParent {
    module: "mdpy",
    parent: "mdpy",
    type_name: "mdpy-vga",
};
