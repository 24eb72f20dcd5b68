// SPDX-License-Identifier: GPL-2.0
//! Opening an mdev through VFIO, by either interface, and the device ioctls.
//!
//! - group/container: `/dev/vfio/vfio` with the type1v2 backend, the group
//!   `/dev/vfio/N` of the mdev (a software IOMMU group: the mdev is registered with
//!   `vfio_register_emulated_iommu_dev`), then `VFIO_GROUP_GET_DEVICE_FD` by name;
//! - cdev: `/dev/vfio/devices/vfioN` bound to an iommufd (`/dev/iommu`) with
//!   `VFIO_DEVICE_BIND_IOMMUFD`, then attached to a fresh IOAS as a VMM would (an
//!   emulated device needs the attach only for DMA, which mtty never does).

use std::fmt;
use std::os::fd::AsRawFd;
use std::os::fd::FromRawFd;
use std::os::fd::OwnedFd;
use std::os::fd::RawFd;

use crate::fixture::Mdev;
use crate::sys;
use crate::sys::Errno;
use crate::sys::Res;
use crate::uapi::*;

/// The two ways to open a VFIO device.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Iface {
    Group,
    Cdev,
}

impl Iface {
    pub fn name(self) -> &'static str {
        match self {
            Iface::Group => "group",
            Iface::Cdev => "cdev",
        }
    }
}

impl fmt::Display for Iface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A VFIO device file descriptor.
pub struct Device {
    pub fd: OwnedFd,
}

/// `argsz` of a structure, as callers put it.
fn size_u32<T>() -> u32 {
    std::mem::size_of::<T>() as u32
}

impl Device {
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// `VFIO_DEVICE_GET_INFO`.
    pub fn info(&self) -> Res<vfio_device_info> {
        self.info_argsz(size_u32::<vfio_device_info>())
    }

    pub fn info_argsz(&self, argsz: u32) -> Res<vfio_device_info> {
        let mut i = vfio_device_info {
            argsz,
            ..Default::default()
        };
        sys::ioctl_ptr(self.raw(), VFIO_DEVICE_GET_INFO, &mut i)?;
        Ok(i)
    }

    /// `VFIO_DEVICE_GET_REGION_INFO`.
    pub fn region(&self, index: u32) -> Res<vfio_region_info> {
        self.region_argsz(index, size_u32::<vfio_region_info>())
    }

    pub fn region_argsz(&self, index: u32, argsz: u32) -> Res<vfio_region_info> {
        let mut r = vfio_region_info {
            argsz,
            index,
            ..Default::default()
        };
        sys::ioctl_ptr(self.raw(), VFIO_DEVICE_GET_REGION_INFO, &mut r)?;
        Ok(r)
    }

    /// `VFIO_DEVICE_GET_IRQ_INFO`.
    pub fn irq_info(&self, index: u32) -> Res<vfio_irq_info> {
        self.irq_info_argsz(index, size_u32::<vfio_irq_info>())
    }

    pub fn irq_info_argsz(&self, index: u32, argsz: u32) -> Res<vfio_irq_info> {
        let mut i = vfio_irq_info {
            argsz,
            index,
            ..Default::default()
        };
        sys::ioctl_ptr(self.raw(), VFIO_DEVICE_GET_IRQ_INFO, &mut i)?;
        Ok(i)
    }

    /// `VFIO_DEVICE_SET_IRQS` with `data` after the header and `argsz` covering both
    /// unless given.
    pub fn set_irqs_raw(
        &self,
        flags: u32,
        index: u32,
        start: u32,
        count: u32,
        data: &[u8],
        argsz: Option<u32>,
    ) -> Res<()> {
        let hdr = vfio_irq_set {
            argsz: argsz.unwrap_or((std::mem::size_of::<vfio_irq_set>() + data.len()) as u32),
            flags,
            index,
            start,
            count,
            // A flexible array: the data follow the header in the buffer below.
            data: Default::default(),
        };
        // The header and the data, in one buffer of u32 words so that the header
        // is aligned as the kernel's structure is.
        let total = std::mem::size_of::<vfio_irq_set>() + data.len();
        let mut words = vec![0u32; total.div_ceil(4)];
        // SAFETY: `words` has room for `total` bytes; the header is plain old data
        // and is written at the start, which is 4-byte aligned like `vfio_irq_set`.
        unsafe {
            std::ptr::write(words.as_mut_ptr().cast::<vfio_irq_set>(), hdr);
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                words
                    .as_mut_ptr()
                    .cast::<u8>()
                    .add(std::mem::size_of::<vfio_irq_set>()),
                data.len(),
            );
        }
        sys::ioctl_ptr(self.raw(), VFIO_DEVICE_SET_IRQS, &mut words[0])?;
        Ok(())
    }

    pub fn set_irqs(&self, flags: u32, index: u32, data: &[u8]) -> Res<()> {
        self.set_irqs_raw(flags, index, 0, 1, data, None)
    }

    /// Routes interrupt `index` to an eventfd (`fd` -1: none).
    pub fn set_eventfd(&self, index: u32, fd: RawFd) -> Res<()> {
        self.set_irqs(
            VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
            index,
            &fd.to_ne_bytes(),
        )
    }

    /// An action with no data (`VFIO_IRQ_SET_DATA_NONE`) on vector 0 of `index`.
    pub fn irq_action(&self, index: u32, action: u32) -> Res<()> {
        self.set_irqs(VFIO_IRQ_SET_DATA_NONE | action, index, &[])
    }

    /// `VFIO_DEVICE_RESET`.
    pub fn reset(&self) -> Res<()> {
        sys::ioctl_val(self.raw(), VFIO_DEVICE_RESET, 0).map(|_| ())
    }

    /// Reads `len` bytes at file offset `off`; fails on a short read.
    pub fn read(&self, off: u64, len: usize) -> Res<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let n = sys::pread(self.raw(), &mut buf, off as i64)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Writes `data` at file offset `off`; the byte count.
    pub fn write(&self, off: u64, data: &[u8]) -> Res<usize> {
        sys::pwrite(self.raw(), data, off as i64)
    }

    pub fn read8(&self, off: u64) -> Res<u8> {
        let mut b = [0u8; 1];
        match sys::pread(self.raw(), &mut b, off as i64)? {
            1 => Ok(b[0]),
            _ => Err(Errno(libc::EIO)),
        }
    }

    pub fn write8(&self, off: u64, v: u8) -> Res<()> {
        match sys::pwrite(self.raw(), &[v], off as i64)? {
            1 => Ok(()),
            _ => Err(Errno(libc::EIO)),
        }
    }

    pub fn read32(&self, off: u64) -> Res<u32> {
        let mut b = [0u8; 4];
        match sys::pread(self.raw(), &mut b, off as i64)? {
            4 => Ok(u32::from_le_bytes(b)),
            _ => Err(Errno(libc::EIO)),
        }
    }

    pub fn write32(&self, off: u64, v: u32) -> Res<()> {
        match sys::pwrite(self.raw(), &v.to_le_bytes(), off as i64)? {
            4 => Ok(()),
            _ => Err(Errno(libc::EIO)),
        }
    }
}

/// An open mdev with everything that keeps it open. Fields drop in declaration
/// order: the device first, then its group and container, or its iommufd.
pub struct Open {
    pub dev: Device,
    pub group: Option<OwnedFd>,
    /// Held only to keep the container, or the iommufd, open.
    _container: Option<OwnedFd>,
    _iommufd: Option<OwnedFd>,
}

/// What went wrong while opening, and at which step.
pub type OpenResult<T> = Result<T, String>;

fn step<T>(what: &str, r: Res<T>) -> OpenResult<T> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// `/dev/vfio/vfio` with the type1v2 backend available; checks the API version.
pub fn open_container() -> OpenResult<OwnedFd> {
    let c = step("open /dev/vfio/vfio", sys::open_rw("/dev/vfio/vfio"))?;
    let v = step(
        "VFIO_GET_API_VERSION",
        sys::ioctl_val(c.as_raw_fd(), VFIO_GET_API_VERSION, 0),
    )?;
    if v != VFIO_API_VERSION as i32 {
        return Err(format!(
            "VFIO_GET_API_VERSION: {v}, want {VFIO_API_VERSION}"
        ));
    }
    let ext = step(
        "VFIO_CHECK_EXTENSION(TYPE1v2)",
        sys::ioctl_val(
            c.as_raw_fd(),
            VFIO_CHECK_EXTENSION,
            VFIO_TYPE1v2_IOMMU.into(),
        ),
    )?;
    if ext != 1 {
        return Err(format!("VFIO_CHECK_EXTENSION(TYPE1v2): {ext}, want 1"));
    }
    Ok(c)
}

/// `VFIO_GROUP_GET_STATUS`.
pub fn group_status(g: &OwnedFd) -> Res<vfio_group_status> {
    let mut s = vfio_group_status {
        argsz: size_u32::<vfio_group_status>(),
        flags: 0,
    };
    sys::ioctl_ptr(g.as_raw_fd(), VFIO_GROUP_GET_STATUS, &mut s)?;
    Ok(s)
}

/// Puts group `g` into container `c` and sets the type1v2 backend.
pub fn attach_group(g: &OwnedFd, c: &OwnedFd) -> OpenResult<()> {
    let mut cfd: i32 = c.as_raw_fd();
    step(
        "VFIO_GROUP_SET_CONTAINER",
        sys::ioctl_ptr(g.as_raw_fd(), VFIO_GROUP_SET_CONTAINER, &mut cfd),
    )?;
    step(
        "VFIO_SET_IOMMU(TYPE1v2)",
        sys::ioctl_val(c.as_raw_fd(), VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU.into()),
    )?;
    Ok(())
}

/// `VFIO_GROUP_GET_DEVICE_FD` with `name`.
pub fn get_device_fd(g: &OwnedFd, name: &str) -> Res<Device> {
    let fd = sys::ioctl_str(g.as_raw_fd(), VFIO_GROUP_GET_DEVICE_FD, name)?;
    // SAFETY: the ioctl just returned this new descriptor, and nothing else owns it.
    Ok(Device {
        fd: unsafe { OwnedFd::from_raw_fd(fd) },
    })
}

/// The whole group/container sequence.
pub fn open_group(m: &Mdev) -> OpenResult<Open> {
    let container = open_container()?;
    let path = m.group_path()?;
    let group = step(&format!("open {path}"), sys::open_rw(&path))?;
    let st = step("VFIO_GROUP_GET_STATUS", group_status(&group))?;
    if st.flags & VFIO_GROUP_FLAGS_VIABLE == 0 {
        return Err(format!(
            "group {path} is not viable (flags {:#x})",
            st.flags
        ));
    }
    attach_group(&group, &container)?;
    let dev = step("VFIO_GROUP_GET_DEVICE_FD", get_device_fd(&group, &m.uuid))?;
    Ok(Open {
        dev,
        group: Some(group),
        _container: Some(container),
        _iommufd: None,
    })
}

/// `VFIO_DEVICE_BIND_IOMMUFD` of a cdev to `iommufd`; the device id.
pub fn bind(dev: &Device, iommufd: RawFd, argsz: u32) -> Res<u32> {
    let mut b = vfio_device_bind_iommufd {
        argsz,
        iommufd,
        ..Default::default()
    };
    sys::ioctl_ptr(dev.raw(), VFIO_DEVICE_BIND_IOMMUFD, &mut b)?;
    Ok(b.out_devid)
}

/// A new IOAS in `iommufd`, and the device attached to it.
pub fn attach_new_ioas(dev: &Device, iommufd: &OwnedFd) -> OpenResult<u32> {
    let mut a = iommu_ioas_alloc {
        size: size_u32::<iommu_ioas_alloc>(),
        ..Default::default()
    };
    step(
        "IOMMU_IOAS_ALLOC",
        sys::ioctl_ptr(iommufd.as_raw_fd(), IOMMU_IOAS_ALLOC, &mut a),
    )?;
    let mut at = vfio_device_attach_iommufd_pt {
        argsz: size_u32::<vfio_device_attach_iommufd_pt>(),
        pt_id: a.out_ioas_id,
        ..Default::default()
    };
    step(
        "VFIO_DEVICE_ATTACH_IOMMUFD_PT",
        sys::ioctl_ptr(dev.raw(), VFIO_DEVICE_ATTACH_IOMMUFD_PT, &mut at),
    )?;
    Ok(a.out_ioas_id)
}

/// Opens the cdev of `m` without binding it.
pub fn open_cdev_unbound(m: &Mdev) -> OpenResult<Device> {
    let path = m.cdev_path()?;
    let fd = step(&format!("open {path}"), sys::open_rw(&path))?;
    Ok(Device { fd })
}

/// The whole cdev sequence.
pub fn open_cdev(m: &Mdev) -> OpenResult<Open> {
    let iommufd = step("open /dev/iommu", sys::open_rw("/dev/iommu"))?;
    let dev = open_cdev_unbound(m)?;
    step(
        "VFIO_DEVICE_BIND_IOMMUFD",
        bind(
            &dev,
            iommufd.as_raw_fd(),
            size_u32::<vfio_device_bind_iommufd>(),
        ),
    )?;
    attach_new_ioas(&dev, &iommufd)?;
    Ok(Open {
        dev,
        group: None,
        _container: None,
        _iommufd: Some(iommufd),
    })
}

/// Opens `m` through `iface` and calls `VFIO_DEVICE_GET_INFO`, which C mtty needs
/// before any interrupt ioctl (it checks interrupt indexes against the `num_irqs`
/// it caches there, mtty.c 1812, 1830 and 1854).
pub fn open(m: &Mdev, iface: Iface) -> OpenResult<Open> {
    let o = match iface {
        Iface::Group => open_group(m)?,
        Iface::Cdev => open_cdev(m)?,
    };
    step("VFIO_DEVICE_GET_INFO", o.dev.info())?;
    Ok(o)
}
