// SPDX-License-Identifier: GPL-2.0
//! The vendor drivers the soak drives, and what it may expect of each.
//!
//! Both load on either core and on the debug kernel: the Rust sample `mtty_rs` (its
//! mdevs are VFIO devices) and the C test vendor `mdev_test_vendor`
//! (`tools/testing/vendor`, no VFIO). The kernel's C `mtty` is not used: on the debug
//! kernel its static parent device is released after `rmmod` freed it
//! (Documentation/testing.rst).

use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering;

use crate::fixture::CLASS_DIR;
use crate::sys::Errno;

/// How a parent counts what is left for new mdevs. Both are loaded with the same
/// capacity (`set_capacity`): ports of the pool, or instances.
#[derive(Clone, Copy)]
pub enum Accounting {
    /// The driver's own pool of ports (`get_available`): each type shows what is
    /// left divided by its ports per mdev. An mdev holds its ports while it is bound,
    /// until its VFIO device is released (after the last close; on the debug kernel
    /// 1-4 s after that).
    Pool,
    /// The core counts (`max_instances`): one count for the whole parent in Linux
    /// 7.3, shown by every type; an mdev holds its instance until its release.
    PerParent,
}

static CAPACITY: AtomicU32 = AtomicU32::new(64);

/// Sets the capacity every parent is loaded with: more than the UUID space can
/// use, so that a create runs out only where `ParentDef::exhausted` says.
pub fn set_capacity(n: u32) {
    CAPACITY.store(n, Ordering::Relaxed);
}

fn capacity() -> u32 {
    CAPACITY.load(Ordering::Relaxed)
}

/// One type: its sysfs name and the ports an mdev of it takes from a pool.
pub struct TypeDef {
    pub name: &'static str,
    pub ports: u32,
}

/// A vendor driver.
pub struct ParentDef {
    /// The name on the command line.
    pub id: &'static str,
    pub module: &'static str,
    /// The parent under /sys/class/mdev_bus.
    pub name: &'static str,
    /// The mdev driver under /sys/bus/mdev/drivers.
    pub driver: &'static str,
    pub types: &'static [TypeDef],
    pub accounting: Accounting,
    /// Whether its mdevs are VFIO devices (the VFIO operation opens them).
    pub vfio: bool,
    /// A per-mdev vendor attribute (relative to the mdev's directory), how what it
    /// shows starts, and something its store accepts.
    pub vendor_attr: &'static str,
    pub vendor_show: &'static str,
    pub vendor_store: &'static str,
    /// The errno of a create, or of a bind, when nothing is left, when that can
    /// happen with the soak's UUID space (`None`: the soak makes it impossible).
    pub exhausted: Option<Errno>,
}

pub static PARENTS: &[ParentDef] = &[
    ParentDef {
        id: "mtty_rs",
        module: "mtty_rs",
        name: "mtty_rs",
        driver: "mtty_rs",
        types: &[
            TypeDef {
                name: "mtty_rs-1",
                ports: 1,
            },
            TypeDef {
                name: "mtty_rs-2",
                ports: 2,
            },
        ],
        accounting: Accounting::Pool,
        vfio: true,
        vendor_attr: "vendor/uart",
        vendor_show: "port0:",
        // SCR of port 0: a register with no side effect.
        vendor_store: "w 0 7 0x5a",
        // The pool can run out while removed mdevs' VFIO devices await release: their
        // UUIDs may be free again before their ports are back.
        exhausted: Some(Errno::ENOSPC),
    },
    ParentDef {
        id: "mdev_test",
        module: "mdev_test_vendor",
        name: "mdev_test",
        driver: "mdev_test",
        types: &[
            TypeDef {
                name: "mdev_test-t0",
                ports: 1,
            },
            TypeDef {
                name: "mdev_test-t1",
                ports: 1,
            },
        ],
        // More than the UUID space: an mdev holds its instance until its release,
        // and its UUID until then too (EEXIST), so the count cannot run out.
        accounting: Accounting::PerParent,
        vfio: false,
        vendor_attr: "vendor/poke",
        vendor_show: "poke\n",
        vendor_store: "poke",
        exhausted: None,
    },
];

/// The parent called `id`.
pub fn find(id: &str) -> Option<&'static ParentDef> {
    PARENTS.iter().find(|p| p.id == id)
}

impl ParentDef {
    pub fn dir(&self) -> PathBuf {
        Path::new(CLASS_DIR).join(self.name)
    }

    pub fn type_dir(&self, t: usize) -> PathBuf {
        self.dir()
            .join("mdev_supported_types")
            .join(self.types[t].name)
    }

    pub fn driver_dir(&self) -> PathBuf {
        Path::new("/sys/bus/mdev/drivers").join(self.driver)
    }

    pub fn is_loaded(&self) -> bool {
        Path::new("/sys/module").join(self.module).exists()
    }

    /// The module parameters the soak loads it with.
    fn load_args(&self) -> Vec<String> {
        match self.accounting {
            Accounting::Pool => vec![format!("ports={}", capacity())],
            Accounting::PerParent => {
                vec!["nr_types=2".into(), format!("instances={}", capacity())]
            }
        }
    }

    /// Loads the module with the soak's parameters; the parent must appear.
    pub fn load(&self) -> Result<(), String> {
        crate::fixture::modprobe(self.module, &self.load_args(), &self.dir())
    }

    /// `available_instances` of every type with no mdev alive.
    pub fn baseline(&self) -> Vec<u64> {
        self.expected(0, 0)
    }

    /// `available_instances` of every type with `live` mdevs of this parent, of which
    /// the bound ones hold `bound_ports` ports.
    pub fn expected(&self, live: u64, bound_ports: u64) -> Vec<u64> {
        self.types
            .iter()
            .map(|t| match self.accounting {
                Accounting::Pool => {
                    u64::from(capacity()).saturating_sub(bound_ports) / u64::from(t.ports)
                }
                Accounting::PerParent => u64::from(capacity()).saturating_sub(live),
            })
            .collect()
    }

    /// `available_instances` of every type.
    pub fn available(&self) -> Result<Vec<u64>, String> {
        (0..self.types.len())
            .map(|t| {
                let p = self.type_dir(t).join("available_instances");
                let s = crate::fixture::read_attr(&p)?;
                s.trim_end()
                    .parse()
                    .map_err(|_| format!("{}: {s:?} is not a number", p.display()))
            })
            .collect()
    }
}
