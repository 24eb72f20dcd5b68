// SPDX-License-Identifier: GPL-2.0
//! A real client of the ABI: mdevctl must see what sysfs shows and drive it.

use std::collections::BTreeMap;

use crate::check;
use crate::check_eq;
use crate::fixture;
use crate::skip;
use crate::sysfs;
use crate::Ctx;
use crate::Test;
use crate::TestResult;

pub const TESTS: &[Test] = &[
    Test {
        name: "mdevctl_types",
        run: types,
    },
    Test {
        name: "mdevctl_start_list_stop",
        run: start_list_stop,
    },
    Test {
        name: "mdevctl_lists_sysfs_created",
        run: lists_sysfs_created,
    },
];

fn mdevctl(args: &[&str]) -> Result<String, crate::Fail> {
    if !std::path::Path::new("/usr/bin/mdevctl").exists() {
        skip!("mdevctl is not installed");
    }
    Ok(fixture::output("/usr/bin/mdevctl", args)?)
}

/// `mdevctl types` as parent -> type -> {key: value}.
fn parse_types(text: &str) -> BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>> {
    let mut out: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>> = BTreeMap::new();
    let (mut parent, mut ty) = (String::new(), String::new());
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let body = line.trim();
        match indent {
            0 if !body.is_empty() => {
                parent = body.to_string();
                out.entry(parent.clone()).or_default();
            }
            2 => {
                ty = body.to_string();
                out.entry(parent.clone())
                    .or_default()
                    .entry(ty.clone())
                    .or_default();
            }
            4 => {
                if let Some((k, v)) = body.split_once(": ") {
                    out.entry(parent.clone())
                        .or_default()
                        .entry(ty.clone())
                        .or_default()
                        .insert(k.to_string(), v.to_string());
                }
            }
            _ => {}
        }
    }
    out
}

fn types(ctx: &Ctx) -> TestResult {
    let text = mdevctl(&["types"])?;
    let parsed = parse_types(&text);
    let v = ctx.vendor;
    let Some(mine) = parsed.get(v.p.parent) else {
        return Err(format!("mdevctl types does not list {}:\n{text}", v.p.parent).into());
    };
    let mut want: Vec<&str> = v.p.types.iter().map(|t| t.dir).collect();
    want.sort();
    check_eq!(
        mine.keys().map(String::as_str).collect::<Vec<_>>(),
        want,
        "types mdevctl lists"
    );
    for t in v.p.types {
        let attrs = &mine[t.dir];
        check_eq!(
            attrs.get("Available instances").cloned(),
            Some(v.available(t)?.to_string()),
            "{}: Available instances",
            t.dir
        );
        check_eq!(
            attrs.get("Device API").map(String::as_str),
            Some(v.p.device_api),
            "{}: Device API",
            t.dir
        );
        check_eq!(
            attrs.get("Name").map(String::as_str),
            Some(t.name),
            "{}: Name",
            t.dir
        );
        check_eq!(
            attrs.contains_key("Description"),
            t.description.is_some(),
            "{}: whether mdevctl shows a description",
            t.dir
        );
    }
    Ok(())
}

fn listed(uuid: &str) -> Result<Option<String>, crate::Fail> {
    let text = mdevctl(&["list"])?;
    Ok(text
        .lines()
        .find(|l| l.starts_with(uuid))
        .map(str::to_string))
}

/// Checks that `mdevctl list` shows `uuid` on `parent` with type `ty`, then stops it
/// with mdevctl and checks it is gone from sysfs.
fn list_then_stop(parent: &str, ty: &str, u: &str) -> TestResult {
    let line = listed(u)?.ok_or_else(|| format!("mdevctl list does not show {u}"))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    check_eq!(
        fields.get(1..3),
        Some(&[parent, ty][..]),
        "mdevctl list line {line:?}"
    );
    mdevctl(&["stop", "-u", u])?;
    check!(!fixture::mdev_dir(u).exists(), "mdevctl stop left {u}");
    Ok(())
}

fn start_list_stop(ctx: &Ctx) -> TestResult {
    let v = ctx.vendor;
    let t = v.p.types.last().unwrap_or(v.first_type());
    let u = ctx.uuids.fresh();
    mdevctl(&["start", "-u", &u, "-p", v.p.parent, "-t", t.dir])?;
    check!(
        fixture::mdev_dir(&u).exists(),
        "mdevctl start did not create {u}"
    );
    check_eq!(
        sysfs::canonical(&fixture::mdev_dir(&u).join("mdev_type"))?,
        sysfs::canonical(&v.type_dir(t))?,
        "type of the mdev mdevctl started"
    );
    list_then_stop(v.p.parent, t.dir, &u)?;
    check_eq!(listed(&u)?, None, "mdevctl list after stop");
    Ok(())
}

fn lists_sysfs_created(ctx: &Ctx) -> TestResult {
    let v = ctx.vendor;
    let t = v.first_type();
    let u = ctx.uuids.fresh();
    v.must_create(t, &u)?;
    list_then_stop(v.p.parent, t.dir, &u)?;
    Ok(())
}
