// SPDX-License-Identifier: GPL-2.0
//! Where things are in sysfs, their modes and the format of their content.

use std::path::Path;

use crate::check;
use crate::check_eq;
use crate::fixture;
use crate::fixture::BUS_DIR;
use crate::skip;
use crate::sysfs;
use crate::sysfs::Errno;
use crate::Ctx;
use crate::Test;
use crate::TestResult;

pub const TESTS: &[Test] = &[
    Test {
        name: "layout_class_link",
        run: class_link,
    },
    Test {
        name: "layout_types_dir",
        run: types_dir,
    },
    Test {
        name: "layout_type_files",
        run: type_files,
    },
    Test {
        name: "layout_type_modes",
        run: type_modes,
    },
    Test {
        name: "layout_type_name",
        run: type_name,
    },
    Test {
        name: "layout_type_device_api",
        run: type_device_api,
    },
    Test {
        name: "layout_type_available_format",
        run: available_format,
    },
    Test {
        name: "layout_type_description",
        run: description,
    },
    Test {
        name: "layout_create_not_readable",
        run: create_not_readable,
    },
    Test {
        name: "layout_read_only_attrs_not_writable",
        run: read_only_not_writable,
    },
    Test {
        name: "layout_type_devices_empty",
        run: devices_empty,
    },
    Test {
        name: "layout_bus",
        run: bus,
    },
    Test {
        name: "layout_mdev_under_parent",
        run: mdev_under_parent,
    },
    Test {
        name: "layout_mdev_files",
        run: mdev_files,
    },
    Test {
        name: "layout_type_devices_link",
        run: type_devices_link,
    },
    Test {
        name: "layout_remove_not_readable",
        run: remove_not_readable,
    },
    Test {
        name: "layout_mdev_iommu_group",
        run: iommu_group,
    },
    Test {
        name: "layout_vendor_attribute",
        run: vendor_attribute,
    },
];

fn class_link(ctx: &Ctx) -> TestResult {
    let link = ctx.vendor.parent_dir();
    check!(
        sysfs::is_symlink(&link),
        "{} is not a symlink",
        link.display()
    );
    check_eq!(
        sysfs::canonical(&link)?,
        Path::new(ctx.vendor.p.parent_devpath).to_path_buf(),
        "{} points to",
        link.display()
    );
    Ok(())
}

fn types_dir(ctx: &Ctx) -> TestResult {
    let dir = ctx.vendor.types_dir();
    check!(dir.is_dir(), "{} is not a directory", dir.display());
    check_eq!(
        sysfs::canonical(&dir)?,
        Path::new(ctx.vendor.p.parent_devpath).join("mdev_supported_types"),
        "mdev_supported_types is at"
    );
    let mut want: Vec<String> = ctx
        .vendor
        .p
        .types
        .iter()
        .map(|t| t.dir.to_string())
        .collect();
    want.sort();
    check_eq!(sysfs::list(&dir), want, "type directories");
    Ok(())
}

fn type_files(ctx: &Ctx) -> TestResult {
    for t in ctx.vendor.p.types {
        let mut want = vec![
            "available_instances",
            "create",
            "device_api",
            "devices",
            "name",
        ];
        if t.description.is_some() {
            want.push("description");
        }
        want.sort();
        check_eq!(
            sysfs::list(&ctx.vendor.type_dir(t)),
            want,
            "files of {}",
            t.dir
        );
        check!(
            ctx.vendor.type_dir(t).join("devices").is_dir(),
            "{}/devices is not a directory",
            t.dir
        );
    }
    Ok(())
}

fn type_modes(ctx: &Ctx) -> TestResult {
    for t in ctx.vendor.p.types {
        let dir = ctx.vendor.type_dir(t);
        check_eq!(
            sysfs::mode(&dir.join("create"))?,
            0o200,
            "mode of {}/create",
            t.dir
        );
        for f in ["name", "device_api", "available_instances", "description"] {
            if f == "description" && t.description.is_none() {
                continue;
            }
            check_eq!(sysfs::mode(&dir.join(f))?, 0o444, "mode of {}/{f}", t.dir);
        }
        check_eq!(
            sysfs::mode(&dir.join("devices"))?,
            0o755,
            "mode of {}/devices",
            t.dir
        );
        check_eq!(sysfs::mode(&dir)?, 0o755, "mode of {}", t.dir);
    }
    Ok(())
}

fn type_name(ctx: &Ctx) -> TestResult {
    for t in ctx.vendor.p.types {
        let got = sysfs::read(&ctx.vendor.type_dir(t).join("name")).map_err(|e| format!("{e}"))?;
        check_eq!(got, format!("{}\n", t.name), "{}/name", t.dir);
    }
    Ok(())
}

fn type_device_api(ctx: &Ctx) -> TestResult {
    for t in ctx.vendor.p.types {
        let got =
            sysfs::read(&ctx.vendor.type_dir(t).join("device_api")).map_err(|e| format!("{e}"))?;
        check_eq!(
            got,
            format!("{}\n", ctx.vendor.p.device_api),
            "{}/device_api",
            t.dir
        );
    }
    Ok(())
}

fn available_format(ctx: &Ctx) -> TestResult {
    for t in ctx.vendor.p.types {
        let n = ctx.vendor.available(t)?;
        check!(n > 0, "{}: no instance available on an idle parent", t.dir);
    }
    Ok(())
}

fn description(ctx: &Ctx) -> TestResult {
    for t in ctx.vendor.p.types {
        let path = ctx.vendor.type_dir(t).join("description");
        match t.description {
            Some(want) => {
                check_eq!(
                    sysfs::read(&path).map_err(|e| format!("{e}"))?,
                    want,
                    "{}/description",
                    t.dir
                )
            }
            None => check!(
                !sysfs::exists(&path),
                "{} exists but the driver has no description",
                path.display()
            ),
        }
    }
    Ok(())
}

// sysfs refuses to open a file for reading when the attribute has no show method,
// and for writing when it has no store method: EACCES at open(2), even for root.

fn create_not_readable(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    check_eq!(
        sysfs::read(&ctx.vendor.type_dir(t).join("create")),
        Err(Errno::EACCES),
        "reading {}/create",
        t.dir
    );
    Ok(())
}

fn read_only_not_writable(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    for f in ["name", "device_api", "available_instances"] {
        check_eq!(
            sysfs::write(&ctx.vendor.type_dir(t).join(f), b"1"),
            Err(Errno::EACCES),
            "writing {}/{f}",
            t.dir
        );
    }
    Ok(())
}

fn devices_empty(ctx: &Ctx) -> TestResult {
    for t in ctx.vendor.p.types {
        check_eq!(
            sysfs::list(&ctx.vendor.type_dir(t).join("devices")),
            Vec::<String>::new(),
            "{}/devices on an idle parent",
            t.dir
        );
    }
    Ok(())
}

fn bus(ctx: &Ctx) -> TestResult {
    let bus = Path::new(BUS_DIR);
    for d in ["devices", "drivers"] {
        check!(bus.join(d).is_dir(), "{}/{d} is missing", BUS_DIR);
    }
    let drv = bus.join("drivers").join(ctx.vendor.p.driver);
    check!(
        drv.is_dir(),
        "the vendor's mdev driver {} is missing",
        drv.display()
    );
    check_eq!(
        sysfs::list(&bus.join("devices")),
        Vec::<String>::new(),
        "mdevs on the bus before any was created"
    );
    Ok(())
}

fn mdev_under_parent(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    let u = ctx.uuids.fresh();
    ctx.vendor.must_create(t, &u)?;
    let link = fixture::mdev_dir(&u);
    check!(
        sysfs::is_symlink(&link),
        "{} is not a symlink",
        link.display()
    );
    check_eq!(
        sysfs::canonical(&link)?,
        Path::new(ctx.vendor.p.parent_devpath).join(&u),
        "the mdev's directory"
    );
    fixture::must_remove(&u)?;
    Ok(())
}

fn mdev_files(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    let u = ctx.uuids.fresh();
    ctx.vendor.must_create(t, &u)?;
    let dir = fixture::mdev_dir(&u);
    let names = sysfs::list(&dir);
    for want in ["driver", "mdev_type", "remove", "subsystem", "uevent"] {
        check!(
            names.iter().any(|n| n == want),
            "{want} missing from the mdev: {names:?}"
        );
    }
    check_eq!(sysfs::mode(&dir.join("remove"))?, 0o200, "mode of remove");
    check!(
        sysfs::is_symlink(&dir.join("mdev_type")),
        "mdev_type is not a symlink"
    );
    check_eq!(
        sysfs::canonical(&dir.join("mdev_type"))?,
        sysfs::canonical(&ctx.vendor.type_dir(t))?,
        "mdev_type points to"
    );
    check_eq!(
        sysfs::canonical(&dir.join("driver"))?,
        sysfs::canonical(&Path::new(BUS_DIR).join("drivers").join(ctx.vendor.p.driver))?,
        "driver points to"
    );
    check_eq!(
        sysfs::canonical(&dir.join("subsystem"))?,
        sysfs::canonical(Path::new(BUS_DIR))?,
        "subsystem points to"
    );
    // Through the mdev_type link, the type's attributes read the same.
    check_eq!(
        sysfs::read(&dir.join("mdev_type/name")),
        sysfs::read(&ctx.vendor.type_dir(t).join("name")),
        "name through mdev_type"
    );
    fixture::must_remove(&u)?;
    Ok(())
}

fn type_devices_link(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    let u = ctx.uuids.fresh();
    ctx.vendor.must_create(t, &u)?;
    let devices = ctx.vendor.type_dir(t).join("devices");
    check_eq!(sysfs::list(&devices), vec![u.clone()], "{}/devices", t.dir);
    check!(
        sysfs::is_symlink(&devices.join(&u)),
        "{}/devices/{u} is not a symlink",
        t.dir
    );
    check_eq!(
        sysfs::canonical(&devices.join(&u))?,
        sysfs::canonical(&fixture::mdev_dir(&u))?,
        "{}/devices/{u} points to",
        t.dir
    );
    if let Some(t2) = ctx.vendor.second_type() {
        check_eq!(
            sysfs::list(&ctx.vendor.type_dir(t2).join("devices")),
            Vec::<String>::new(),
            "{}/devices (the mdev is of type {})",
            t2.dir,
            t.dir
        );
    }
    fixture::must_remove(&u)?;
    check_eq!(
        sysfs::list(&devices),
        Vec::<String>::new(),
        "{}/devices after remove",
        t.dir
    );
    Ok(())
}

fn remove_not_readable(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    let u = ctx.uuids.fresh();
    ctx.vendor.must_create(t, &u)?;
    check_eq!(
        sysfs::read(&fixture::mdev_dir(&u).join("remove")),
        Err(Errno::EACCES),
        "reading remove"
    );
    fixture::must_remove(&u)?;
    Ok(())
}

fn iommu_group(ctx: &Ctx) -> TestResult {
    if !ctx.vendor.p.vfio {
        skip!("{} registers no VFIO device", ctx.vendor.p.id);
    }
    let t = ctx.vendor.first_type();
    let u = ctx.uuids.fresh();
    ctx.vendor.must_create(t, &u)?;
    let link = fixture::mdev_dir(&u).join("iommu_group");
    check!(sysfs::is_symlink(&link), "{} is missing", link.display());
    let group = sysfs::canonical(&link)?;
    let id = group
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    check!(
        Path::new("/dev/vfio").join(&id).exists(),
        "no /dev/vfio/{id} for the mdev's iommu group"
    );
    fixture::must_remove(&u)?;
    Ok(())
}

fn vendor_attribute(ctx: &Ctx) -> TestResult {
    let Some((attr, fmt)) = ctx.vendor.p.vendor_attr else {
        skip!("{} has no per-mdev vendor attribute", ctx.vendor.p.id);
    };
    let t = ctx.vendor.first_type();
    let u = ctx.uuids.fresh();
    ctx.vendor.must_create(t, &u)?;
    check_eq!(
        sysfs::read(&fixture::mdev_dir(&u).join(attr)).map_err(|e| format!("{e}"))?,
        fmt.replace("{}", &u),
        "{attr}"
    );
    fixture::must_remove(&u)?;
    Ok(())
}
