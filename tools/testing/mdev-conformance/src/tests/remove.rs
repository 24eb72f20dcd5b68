// SPDX-License-Identifier: GPL-2.0
//! Writing to `/sys/bus/mdev/devices/<uuid>/remove`.

use std::sync::Barrier;

use crate::check;
use crate::check_eq;
use crate::fixture;
use crate::sysfs;
use crate::sysfs::Errno;
use crate::sysfs::WriteResult;
use crate::tests::Snapshot;
use crate::uevent;
use crate::Ctx;
use crate::Test;
use crate::TestResult;

pub const TESTS: &[Test] = &[
    Test {
        name: "remove_one",
        run: one,
    },
    Test {
        name: "remove_one_newline",
        run: one_newline,
    },
    Test {
        name: "remove_hex",
        run: hex,
    },
    Test {
        name: "remove_any_nonzero",
        run: any_nonzero,
    },
    Test {
        name: "remove_zero_is_noop",
        run: zero_is_noop,
    },
    Test {
        name: "remove_rejects_garbage",
        run: rejects_garbage,
    },
    Test {
        name: "remove_twice",
        run: twice,
    },
    Test {
        name: "remove_then_create_again",
        run: then_create_again,
    },
    Test {
        name: "remove_only_its_own",
        run: only_its_own,
    },
    Test {
        name: "remove_race_remove",
        run: race_remove,
    },
    Test {
        name: "remove_race_create",
        run: race_create,
    },
];

/// Creates an mdev, writes `data` to its remove file and expects `want`; then checks
/// that the mdev is gone (any non-zero number) and everything was given back.
fn expect_removed(ctx: &Ctx, data: &[u8], want: WriteResult) -> TestResult {
    let t = ctx.vendor.first_type();
    let u = ctx.uuids.fresh();
    ctx.vendor.must_create(t, &u)?;
    check_eq!(
        fixture::remove_raw(&u, data),
        want,
        "remove {:?}",
        String::from_utf8_lossy(data)
    );
    check!(
        !sysfs::exists(&fixture::mdev_dir(&u)),
        "{u} is still on the bus after its removal"
    );
    check!(
        !sysfs::exists(&ctx.vendor.type_dir(t).join("devices").join(&u)),
        "{}/devices/{u} is still there after its removal",
        t.dir
    );
    check_eq!(
        ctx.released()?,
        ctx.baseline.clone(),
        "available_instances after remove"
    );
    Ok(())
}

fn one(ctx: &Ctx) -> TestResult {
    expect_removed(ctx, b"1", Ok(1))
}

fn one_newline(ctx: &Ctx) -> TestResult {
    expect_removed(ctx, b"1\n", Ok(2))
}

fn hex(ctx: &Ctx) -> TestResult {
    expect_removed(ctx, b"0x1", Ok(3))?;
    expect_removed(ctx, b"0x1\n", Ok(4))
}

fn any_nonzero(ctx: &Ctx) -> TestResult {
    expect_removed(ctx, b"2", Ok(1))?;
    expect_removed(ctx, b"010", Ok(3))?;
    expect_removed(ctx, b"+1", Ok(2))
}

fn zero_is_noop(ctx: &Ctx) -> TestResult {
    let u = ctx.uuids.fresh();
    ctx.vendor.must_create(ctx.vendor.first_type(), &u)?;
    let before = Snapshot::take(&ctx.vendor)?;
    for data in [b"0".as_slice(), b"0\n", b"0x0", b"00"] {
        check_eq!(
            fixture::remove_raw(&u, data),
            Ok(data.len()),
            "remove {:?}",
            String::from_utf8_lossy(data)
        );
    }
    before.unchanged(&ctx.vendor, "remove 0")?;
    check!(
        sysfs::exists(&fixture::mdev_dir(&u).join("remove")),
        "remove 0 took the remove file away"
    );
    fixture::must_remove(&u)?;
    Ok(())
}

fn rejects_garbage(ctx: &Ctx) -> TestResult {
    let u = ctx.uuids.fresh();
    ctx.vendor.must_create(ctx.vendor.first_type(), &u)?;
    let before = Snapshot::take(&ctx.vendor)?;
    for data in [
        b"abc".as_slice(),
        b" 1",
        b"1 ",
        b"-1",
        b"1x",
        b"\n",
        b"0x",
        b"99999999999999999999999",
        b"\xff\xfe",
    ] {
        check_eq!(
            fixture::remove_raw(&u, data),
            Err(Errno::EINVAL),
            "remove {:?}",
            String::from_utf8_lossy(data)
        );
    }
    check_eq!(
        fixture::remove_raw(&u, b""),
        Ok(0),
        "a zero-length write to remove"
    );
    before.unchanged(&ctx.vendor, "a refused remove")?;
    check!(
        sysfs::exists(&fixture::mdev_dir(&u).join("remove")),
        "a refused remove took the remove file away"
    );
    fixture::must_remove(&u)?;
    Ok(())
}

fn twice(ctx: &Ctx) -> TestResult {
    let u = ctx.uuids.fresh();
    ctx.vendor.must_create(ctx.vendor.first_type(), &u)?;
    let path = fixture::mdev_dir(&u).join("remove");
    // A file descriptor opened before the removal, used after it.
    let mut stale = sysfs::open_for_write(&path).map_err(|e| format!("open remove: {e}"))?;
    fixture::must_remove(&u)?;
    check_eq!(
        sysfs::write(&path, b"1"),
        Err(Errno::ENOENT),
        "remove again by path"
    );
    check_eq!(
        sysfs::write_fd(&mut stale, b"1"),
        Err(Errno::ENODEV),
        "remove again through an fd opened before"
    );
    check_eq!(ctx.released()?, ctx.baseline.clone(), "available_instances");
    Ok(())
}

fn then_create_again(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    let u = ctx.uuids.fresh();
    for round in 0..3 {
        // The UUID comes back at the release of the mdev removed in the round before.
        ctx.vendor
            .must_create_again(t, &u)
            .map_err(|e| format!("round {round}: {e}"))?;
        fixture::must_remove(&u).map_err(|e| format!("round {round}: {e}"))?;
    }
    Ok(())
}

fn only_its_own(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    let (a, b) = (ctx.uuids.fresh(), ctx.uuids.fresh());
    ctx.vendor.must_create(t, &a)?;
    ctx.vendor.must_create(t, &b)?;
    fixture::must_remove(&a)?;
    check_eq!(
        fixture::live_mdevs(),
        vec![b.clone()],
        "mdevs after removing {a}"
    );
    check!(
        sysfs::exists(&fixture::mdev_dir(&b).join("mdev_type")),
        "{b} lost its mdev_type link"
    );
    fixture::must_remove(&b)?;
    Ok(())
}

/// Several writers race on one remove file: the mdev goes away exactly once (one
/// remove uevent, the instance given back once), and no writer sees an error other
/// than ENODEV (the file went away under it).
fn race_remove(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    let threads = 4;
    let listener = uevent::Listener::new()?;
    for round in 0..ctx.stress {
        let u = ctx.uuids.fresh();
        ctx.vendor.must_create(t, &u)?;
        listener.settle()?;
        let path = fixture::mdev_dir(&u).join("remove");
        let barrier = Barrier::new(threads);
        let results: Vec<WriteResult> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut f = sysfs::open_for_write(&path)?;
                        barrier.wait();
                        sysfs::write_fd(&mut f, b"1")
                    })
                })
                .collect();
            hs.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        check_eq!(
            results.len(),
            threads,
            "round {round}: writers that finished"
        );
        check!(
            results
                .iter()
                .all(|r| *r == Ok(1) || *r == Err(Errno::ENODEV)),
            "round {round}: racing removes of {u} gave {results:?}"
        );
        check!(
            results.iter().any(|r| r.is_ok()),
            "round {round}: no remove of {u} succeeded: {results:?}"
        );
        check!(
            !sysfs::exists(&fixture::mdev_dir(&u)),
            "round {round}: {u} survived"
        );
        check_eq!(
            ctx.released()?,
            ctx.baseline.clone(),
            "round {round}: available_instances"
        );
        let events = listener.settle()?;
        let removes = events
            .iter()
            .filter(|e| e.action == "remove" && e.devpath.ends_with(&u))
            .count();
        check_eq!(removes, 1, "round {round}: remove uevents for {u}");
    }
    Ok(())
}

/// Creates and removes of different mdevs on several CPUs at once. Each round ends
/// when the instances removed in it are back, so that the next round has the whole
/// capacity (on the debug kernel they come back seconds after the removes).
fn race_create(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    let threads = 3;
    let per_thread = (ctx.baseline[0] as usize / threads).clamp(1, 4);
    for round in 0..ctx.stress {
        let barrier = Barrier::new(threads);
        let errors: Vec<String> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mine: Vec<String> =
                            (0..per_thread).map(|_| ctx.uuids.fresh()).collect();
                        barrier.wait();
                        let mut errors = Vec::new();
                        for u in &mine {
                            if let Err(e) = ctx.vendor.must_create(t, u) {
                                errors.push(e);
                            }
                        }
                        for u in &mine {
                            if let Err(e) = fixture::must_remove(u) {
                                errors.push(e);
                            }
                        }
                        errors
                    })
                })
                .collect();
            hs.into_iter()
                .filter_map(|h| h.join().ok())
                .flatten()
                .collect()
        });
        check!(
            errors.is_empty(),
            "round {round}: concurrent create/remove failed: {}",
            errors.join("; ")
        );
        check_eq!(
            fixture::live_mdevs(),
            Vec::<String>::new(),
            "round {round}: mdevs left"
        );
        check_eq!(
            ctx.released()?,
            ctx.baseline.clone(),
            "round {round}: available_instances"
        );
    }
    Ok(())
}
