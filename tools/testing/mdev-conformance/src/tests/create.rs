// SPDX-License-Identifier: GPL-2.0
//! Writing to `<type>/create`: accepted and rejected UUIDs, duplicates, accounting.

use std::sync::Barrier;

use crate::check;
use crate::check_eq;
use crate::fixture;
use crate::skip;
use crate::sysfs;
use crate::sysfs::Errno;
use crate::sysfs::WriteResult;
use crate::tests::Snapshot;
use crate::Ctx;
use crate::Test;
use crate::TestResult;

pub const TESTS: &[Test] = &[
    Test {
        name: "create_lowercase",
        run: lowercase,
    },
    Test {
        name: "create_with_newline",
        run: with_newline,
    },
    Test {
        name: "create_uppercase",
        run: uppercase,
    },
    Test {
        name: "create_mixed_case",
        run: mixed_case,
    },
    Test {
        name: "create_37th_byte_ignored",
        run: extra_byte_ignored,
    },
    Test {
        name: "create_rejects_short",
        run: rejects_short,
    },
    Test {
        name: "create_rejects_long",
        run: rejects_long,
    },
    Test {
        name: "create_rejects_bad_hex",
        run: rejects_bad_hex,
    },
    Test {
        name: "create_rejects_bad_dashes",
        run: rejects_bad_dashes,
    },
    Test {
        name: "create_rejects_empty",
        run: rejects_empty,
    },
    Test {
        name: "create_rejects_garbage",
        run: rejects_garbage,
    },
    Test {
        name: "create_duplicate_same_type",
        run: duplicate_same_type,
    },
    Test {
        name: "create_duplicate_other_type",
        run: duplicate_other_type,
    },
    Test {
        name: "create_duplicate_other_case",
        run: duplicate_other_case,
    },
    Test {
        name: "create_duplicate_other_parent",
        run: duplicate_other_parent,
    },
    Test {
        name: "create_accounting",
        run: accounting,
    },
    Test {
        name: "create_exhaustion",
        run: exhaustion,
    },
    Test {
        name: "create_race_exhaustion",
        run: race_exhaustion,
    },
    Test {
        name: "create_race_same_uuid",
        run: race_same_uuid,
    },
    Test {
        name: "create_race_same_uuid_two_parents",
        run: race_same_uuid_two_parents,
    },
];

/// Creates with `data`, expects `want`; on success the mdev is `uuid` and is removed again.
fn expect_create(ctx: &Ctx, data: &[u8], want: WriteResult, uuid: &str) -> TestResult {
    let t = ctx.vendor.first_type();
    let before = Snapshot::take(&ctx.vendor)?;
    let got = ctx.vendor.create_raw(t, data);
    check_eq!(got, want, "create {:?}", String::from_utf8_lossy(data));
    if matches!(got, Ok(n) if n > 0) {
        check!(
            fixture::mdev_dir(uuid).exists(),
            "created, but {uuid} is not on the bus"
        );
        check_eq!(
            fixture::live_mdevs(),
            vec![uuid.to_string()],
            "mdevs on the bus"
        );
        fixture::must_remove(uuid)?;
    }
    before.restored(
        &ctx.vendor,
        &format!("create {:?}", String::from_utf8_lossy(data)),
    )?;
    Ok(())
}

/// Expects every input to be refused with EINVAL, leaving nothing behind.
fn expect_einval(ctx: &Ctx, inputs: &[Vec<u8>]) -> TestResult {
    for data in inputs {
        expect_create(ctx, data, Err(Errno::EINVAL), "")?;
    }
    Ok(())
}

fn lowercase(ctx: &Ctx) -> TestResult {
    let u = ctx.uuids.fresh();
    expect_create(ctx, u.as_bytes(), Ok(36), &u)
}

fn with_newline(ctx: &Ctx) -> TestResult {
    let u = ctx.uuids.fresh();
    expect_create(ctx, format!("{u}\n").as_bytes(), Ok(37), &u)
}

fn uppercase(ctx: &Ctx) -> TestResult {
    let u = ctx.uuids.fresh();
    expect_create(ctx, u.to_uppercase().as_bytes(), Ok(36), &u)?;
    let u = ctx.uuids.fresh();
    expect_create(
        ctx,
        format!("{}\n", u.to_uppercase()).as_bytes(),
        Ok(37),
        &u,
    )
}

fn mixed_case(ctx: &Ctx) -> TestResult {
    let u = ctx.uuids.fresh();
    let mixed: String = u
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    expect_create(ctx, mixed.as_bytes(), Ok(36), &u)
}

/// The C core parses the first 36 bytes of a 37-byte write and ignores the last one,
/// whatever it is.
fn extra_byte_ignored(ctx: &Ctx) -> TestResult {
    for extra in [b"x".as_slice(), b"0", b" "] {
        let u = ctx.uuids.fresh();
        let mut data = u.as_bytes().to_vec();
        data.extend_from_slice(extra);
        expect_create(ctx, &data, Ok(37), &u)?;
    }
    Ok(())
}

fn rejects_short(ctx: &Ctx) -> TestResult {
    let u = ctx.uuids.fresh();
    expect_einval(
        ctx,
        &[
            u.as_bytes()[..35].to_vec(),
            format!("{}\n", &u[..35]).into_bytes(),
            u.replace('-', "").into_bytes(),
            b"1".to_vec(),
        ],
    )
}

fn rejects_long(ctx: &Ctx) -> TestResult {
    let u = ctx.uuids.fresh();
    expect_einval(
        ctx,
        &[
            format!("{u}\n\n").into_bytes(),
            format!("{u}00").into_bytes(),
            format!("{{{u}}}").into_bytes(),
            format!("{u}{u}").into_bytes(),
            vec![b'a'; 4096],
        ],
    )
}

fn rejects_bad_hex(ctx: &Ctx) -> TestResult {
    let u = ctx.uuids.fresh();
    let mut inputs = Vec::new();
    for (pos, bad) in [(0, b'g'), (35, b'z'), (9, b'G'), (20, b' '), (30, b'.')] {
        let mut d = u.as_bytes().to_vec();
        d[pos] = bad;
        inputs.push(d);
    }
    expect_einval(ctx, &inputs)
}

fn rejects_bad_dashes(ctx: &Ctx) -> TestResult {
    let u = ctx.uuids.fresh();
    let mut inputs = Vec::new();
    for pos in [8, 13, 18, 23] {
        let mut d = u.as_bytes().to_vec();
        d[pos] = b'0';
        inputs.push(d);
        let mut d = u.as_bytes().to_vec();
        d[pos] = b':';
        inputs.push(d);
    }
    // A dash moved one place to the left.
    let mut d = u.as_bytes().to_vec();
    d.swap(7, 8);
    inputs.push(d);
    inputs.push(b"------------------------------------".to_vec());
    expect_einval(ctx, &inputs)
}

fn rejects_empty(ctx: &Ctx) -> TestResult {
    // A zero-length write never reaches the attribute: sysfs answers 0.
    expect_create(ctx, b"", Ok(0), "")?;
    expect_einval(ctx, &[b"\n".to_vec(), b" ".to_vec()])
}

fn rejects_garbage(ctx: &Ctx) -> TestResult {
    let u = ctx.uuids.fresh();
    let mut with_nul = u.as_bytes().to_vec();
    with_nul[10] = 0;
    expect_einval(
        ctx,
        &[
            vec![0xff; 36],
            vec![0; 36],
            vec![0; 37],
            with_nul,
            "83b8f4f2-509f-4f2c-8c1e-e6bf0000000é".as_bytes().to_vec(),
            b"this is not a uuid, not even close!!".to_vec(),
        ],
    )
}

fn duplicate_same_type(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    let u = ctx.uuids.fresh();
    ctx.vendor.must_create(t, &u)?;
    let before = Snapshot::take(&ctx.vendor)?;
    check_eq!(
        ctx.vendor.create(t, &u),
        Err(Errno::EEXIST),
        "second create of {u}"
    );
    check_eq!(
        ctx.vendor.create_raw(t, format!("{u}\n").as_bytes()),
        Err(Errno::EEXIST),
        "second create of {u} with a newline"
    );
    before.unchanged(&ctx.vendor, "a duplicate create")?;
    fixture::must_remove(&u)?;
    Ok(())
}

fn duplicate_other_type(ctx: &Ctx) -> TestResult {
    let Some(t2) = ctx.vendor.second_type() else {
        skip!("{} has one type", ctx.vendor.p.id);
    };
    let u = ctx.uuids.fresh();
    ctx.vendor.must_create(ctx.vendor.first_type(), &u)?;
    let before = Snapshot::take(&ctx.vendor)?;
    check_eq!(
        ctx.vendor.create(t2, &u),
        Err(Errno::EEXIST),
        "create of {u} on {}",
        t2.dir
    );
    before.unchanged(&ctx.vendor, "a duplicate create")?;
    fixture::must_remove(&u)?;
    Ok(())
}

fn duplicate_other_case(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    let u = ctx.uuids.fresh();
    ctx.vendor.must_create(t, &u)?;
    check_eq!(
        ctx.vendor.create(t, &u.to_uppercase()),
        Err(Errno::EEXIST),
        "create of {u} in upper case"
    );
    fixture::must_remove(&u)?;
    Ok(())
}

fn duplicate_other_parent(ctx: &Ctx) -> TestResult {
    let other = ctx.other()?;
    let u = ctx.uuids.fresh();
    ctx.vendor.must_create(ctx.vendor.first_type(), &u)?;
    let before = Snapshot::take(&other)?;
    check_eq!(
        other.create(other.first_type(), &u),
        Err(Errno::EEXIST),
        "create of {u} on {}",
        other.p.parent
    );
    before.unchanged(&other, "a duplicate create on the other parent")?;
    fixture::must_remove(&u)?;
    // And the other way round.
    let u = ctx.uuids.fresh();
    other.must_create(other.first_type(), &u)?;
    check_eq!(
        ctx.vendor.create(ctx.vendor.first_type(), &u),
        Err(Errno::EEXIST),
        "create of {u} (alive on {}) on {}",
        other.p.parent,
        ctx.vendor.p.parent
    );
    fixture::must_remove(&u)?;
    Ok(())
}

fn accounting(ctx: &Ctx) -> TestResult {
    for (i, t) in ctx.vendor.p.types.iter().enumerate() {
        let u = ctx.uuids.fresh();
        ctx.vendor.must_create(t, &u)?;
        let now = ctx.vendor.available_all()?;
        check_eq!(
            now[i],
            ctx.baseline[i] - 1,
            "{}/available_instances after one create",
            t.dir
        );
        for (j, (n, b)) in now.iter().zip(&ctx.baseline).enumerate() {
            check!(
                n <= b,
                "{}/available_instances grew from {b} to {n} when a {} was created",
                ctx.vendor.p.types[j].dir,
                t.dir
            );
        }
        fixture::must_remove(&u)?;
        check_eq!(
            ctx.released()?,
            ctx.baseline.clone(),
            "available_instances after remove"
        );
    }
    Ok(())
}

fn exhaustion(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    let capacity = ctx.baseline[0];
    let mut made = Vec::new();
    for i in 0..capacity {
        let u = ctx.uuids.fresh();
        ctx.vendor.must_create(t, &u)?;
        made.push(u);
        check_eq!(
            ctx.vendor.available(t)?,
            capacity - i - 1,
            "{}/available_instances",
            t.dir
        );
    }
    let before = Snapshot::take(&ctx.vendor)?;
    for _ in 0..3 {
        let u = ctx.uuids.fresh();
        check_eq!(
            ctx.vendor.create(t, &u),
            Err(ctx.vendor.p.exhausted),
            "create with none left"
        );
        check!(
            !fixture::mdev_dir(&u).exists(),
            "a refused create left {u} on the bus"
        );
    }
    before.unchanged(&ctx.vendor, "a refused create")?;
    // Giving one back makes exactly one create possible again.
    let Some(back) = made.pop() else {
        return Ok(());
    };
    fixture::must_remove(&back)?;
    check_eq!(
        ctx.vendor.available_released(t, 1)?,
        1,
        "{}/available_instances after one remove",
        t.dir
    );
    let u = ctx.uuids.fresh();
    ctx.vendor.must_create(t, &u)?;
    made.push(u);
    check_eq!(ctx.vendor.available(t)?, 0, "{}/available_instances", t.dir);
    for u in &made {
        fixture::must_remove(u)?;
    }
    Ok(())
}

/// Several CPUs create distinct mdevs at once until the pool is empty: exactly the
/// advertised number succeed and every other create gets the exhaustion errno.
fn race_exhaustion(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    let capacity = ctx.baseline[0] as usize;
    let threads = 4;
    let per_thread = capacity / threads + 2;
    for round in 0..ctx.stress.clamp(1, 3) {
        let barrier = Barrier::new(threads);
        let results: Vec<Vec<(String, WriteResult)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let uuids: Vec<String> =
                            (0..per_thread).map(|_| ctx.uuids.fresh()).collect();
                        barrier.wait();
                        uuids
                            .into_iter()
                            .map(|u| {
                                let r = ctx.vendor.create(t, &u);
                                (u, r)
                            })
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        let all: Vec<&(String, WriteResult)> = results.iter().flatten().collect();
        check_eq!(
            all.len(),
            threads * per_thread,
            "round {round}: creates attempted"
        );
        let ok: Vec<&String> = all
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(u, _)| u)
            .collect();
        for (u, r) in &all {
            if let Err(e) = r {
                check_eq!(*e, ctx.vendor.p.exhausted, "round {round}: create of {u}");
            }
        }
        check_eq!(ok.len(), capacity, "round {round}: successful creates");
        check_eq!(
            ctx.vendor.available(t)?,
            0,
            "round {round}: {}/available_instances",
            t.dir
        );
        let mut live = fixture::live_mdevs();
        live.sort();
        let mut want: Vec<String> = ok.iter().map(|u| u.to_string()).collect();
        want.sort();
        check_eq!(live, want, "round {round}: mdevs on the bus");
        for u in ok {
            fixture::must_remove(u)?;
        }
        check_eq!(
            ctx.released()?,
            ctx.baseline.clone(),
            "round {round}: available_instances"
        );
    }
    Ok(())
}

/// Several CPUs create the same UUID at once: exactly one wins, the others get EEXIST.
fn race_same_uuid(ctx: &Ctx) -> TestResult {
    let t = ctx.vendor.first_type();
    let threads = 4;
    for round in 0..ctx.stress {
        let u = ctx.uuids.fresh();
        let barrier = Barrier::new(threads);
        let results: Vec<WriteResult> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let path = ctx.vendor.type_dir(t).join("create");
                        let mut f = sysfs::open_for_write(&path)?;
                        barrier.wait();
                        sysfs::write_fd(&mut f, u.as_bytes())
                    })
                })
                .collect();
            hs.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        let wins = results.iter().filter(|r| **r == Ok(36)).count();
        let eexist = results.iter().filter(|r| **r == Err(Errno::EEXIST)).count();
        check!(
            wins == 1 && eexist == threads - 1,
            "round {round}: {threads} creates of {u} at once gave {results:?}"
        );
        check_eq!(
            fixture::live_mdevs(),
            vec![u.clone()],
            "round {round}: mdevs on the bus"
        );
        fixture::must_remove(&u)?;
        check_eq!(
            ctx.released()?,
            ctx.baseline.clone(),
            "round {round}: available_instances"
        );
    }
    Ok(())
}

/// The same UUID created on two parents at once: exactly one parent gets it.
fn race_same_uuid_two_parents(ctx: &Ctx) -> TestResult {
    let other = ctx.other()?;
    let other_baseline = other.available_all()?;
    for round in 0..ctx.stress {
        let u = ctx.uuids.fresh();
        let barrier = Barrier::new(2);
        let (a, b) = std::thread::scope(|s| {
            let ha = s.spawn(|| {
                barrier.wait();
                ctx.vendor.create(ctx.vendor.first_type(), &u)
            });
            let hb = s.spawn(|| {
                barrier.wait();
                other.create(other.first_type(), &u)
            });
            (ha.join(), hb.join())
        });
        let (Ok(a), Ok(b)) = (a, b) else {
            return Err("a create thread panicked".into());
        };
        let ok = [a, b].iter().filter(|r| r.is_ok()).count();
        let eexist = [a, b].iter().filter(|r| **r == Err(Errno::EEXIST)).count();
        check!(
            ok == 1 && eexist == 1,
            "round {round}: {u} on both parents at once gave {a:?} and {b:?}"
        );
        let owner = if a.is_ok() { ctx.vendor } else { other };
        check_eq!(
            sysfs::canonical(&fixture::mdev_dir(&u))?,
            std::path::Path::new(owner.p.parent_devpath).join(&u),
            "round {round}: {u} lives under"
        );
        fixture::must_remove(&u)?;
        check_eq!(
            ctx.released()?,
            ctx.baseline.clone(),
            "round {round}: available_instances"
        );
        check_eq!(
            other.available_all_released(&other_baseline)?,
            other_baseline.clone(),
            "round {round}: available_instances of {}",
            other.p.parent
        );
    }
    Ok(())
}
