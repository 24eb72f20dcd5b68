// SPDX-License-Identifier: GPL-2.0
//! What the suite expects of each vendor driver it can drive.
//!
//! Everything here is a fact about the vendor driver (its names, its types, how it
//! counts instances); what the *core* must do with them is in the tests.

use crate::sysfs::Errno;

/// One mdev type a vendor driver registers.
pub struct TypeSpec {
    /// Directory name under `mdev_supported_types`: `<dev_driver_string(parent)>-<sysfs_name>`.
    pub dir: &'static str,
    /// Content of `name` without the newline.
    pub name: &'static str,
    /// Content of `description`, or `None` when the driver provides none (then the file
    /// must not exist).
    pub description: Option<&'static str>,
}

/// A vendor driver under test.
pub struct Profile {
    /// The name the suite is asked for on its command line.
    pub id: &'static str,
    /// The module to load and unload.
    pub module: &'static str,
    /// The parent's name under `/sys/class/mdev_bus`.
    pub parent: &'static str,
    /// Where the parent device really is in sysfs.
    pub parent_devpath: &'static str,
    /// The name of the vendor's `mdev_driver` on the mdev bus.
    pub driver: &'static str,
    pub device_api: &'static str,
    pub types: &'static [TypeSpec],
    /// The errno of a create when no instance is left.
    pub exhausted: Errno,
    /// Whether each mdev registers a VFIO device (and so gets an `iommu_group` link).
    pub vfio: bool,
    /// A per-mdev vendor attribute (relative to the device directory) and what reading
    /// it gives, `{}` standing for the mdev's UUID.
    pub vendor_attr: Option<(&'static str, &'static str)>,
}

pub static PROFILES: &[Profile] = &[
    Profile {
        id: "mtty",
        module: "mtty",
        parent: "mtty",
        parent_devpath: "/sys/devices/virtual/mtty/mtty",
        driver: "mtty",
        device_api: "vfio-pci",
        types: &[
            TypeSpec {
                dir: "mtty-1",
                name: "Single port serial",
                description: None,
            },
            TypeSpec {
                dir: "mtty-2",
                name: "Dual port serial",
                description: None,
            },
        ],
        exhausted: Errno::ENOSPC,
        vfio: true,
        vendor_attr: Some(("vendor/sample_mdev_dev", "This is MDEV {}\n")),
    },
    Profile {
        id: "mdpy",
        module: "mdpy",
        parent: "mdpy",
        parent_devpath: "/sys/devices/virtual/mdpy/mdpy",
        driver: "mdpy",
        device_api: "vfio-pci",
        types: &[
            TypeSpec {
                dir: "mdpy-vga",
                name: "mdpy-vga",
                description: Some("virtual display, 640x480 framebuffer\n"),
            },
            TypeSpec {
                dir: "mdpy-xga",
                name: "mdpy-xga",
                description: Some("virtual display, 1024x768 framebuffer\n"),
            },
            TypeSpec {
                dir: "mdpy-hd",
                name: "mdpy-hd",
                description: Some("virtual display, 1920x1080 framebuffer\n"),
            },
        ],
        exhausted: Errno::EUSERS,
        vfio: true,
        vendor_attr: None,
    },
    Profile {
        id: "mbochs",
        module: "mbochs",
        parent: "mbochs",
        parent_devpath: "/sys/devices/virtual/mbochs/mbochs",
        driver: "mbochs",
        device_api: "vfio-pci",
        types: &[
            TypeSpec {
                dir: "mbochs-small",
                name: "mbochs-small",
                description: Some("virtual display, 4 MB video memory\n"),
            },
            TypeSpec {
                dir: "mbochs-medium",
                name: "mbochs-medium",
                description: Some("virtual display, 16 MB video memory\n"),
            },
            TypeSpec {
                dir: "mbochs-large",
                name: "mbochs-large",
                description: Some("virtual display, 64 MB video memory\n"),
            },
        ],
        exhausted: Errno::ENOSPC,
        vfio: true,
        vendor_attr: None,
    },
    Profile {
        id: "mtty_rs",
        module: "mtty_rs",
        parent: "mtty_rs",
        parent_devpath: "/sys/devices/virtual/mtty_rs/mtty_rs",
        driver: "mtty_rs",
        device_api: "vfio-pci",
        types: &[
            TypeSpec {
                dir: "mtty_rs-1",
                name: "Single port serial",
                description: None,
            },
            TypeSpec {
                dir: "mtty_rs-2",
                name: "Dual port serial",
                description: None,
            },
        ],
        exhausted: Errno::ENOSPC,
        vfio: true,
        vendor_attr: Some((
            "vendor/uart",
            "port0: RBR=0x00 IER=0x00 IIR=0xc1 LCR=0x00 MCR=0x00 LSR=0x60 MSR=0xb3 SCR=0x00 DL=0x0000 fifo=0\n",
        )),
    },
];

/// The profile called `id`.
pub fn find(id: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.id == id)
}
