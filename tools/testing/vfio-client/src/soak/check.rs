// SPDX-License-Identifier: GPL-2.0
//! The invariants checked after each round, with every thread stopped.
//!
//! - every mdev on the bus is one of the soak's UUIDs, its `mdev_type` link resolves
//!   to a type of a registered parent, that type's `devices/` lists it, it has its
//!   `remove` file, and it is bound to its parent's driver or to none; every entry
//!   of a type's `devices/` is such an mdev (nothing orphaned);
//! - `available_instances` of every type is what the live mdevs leave (counts
//!   exact), once the releases of the mdevs removed during the round have run;
//! - every mdev removes; then every UUID of the space creates and removes again
//!   (every UUID reusable), and the counts are back where they started.
//!
//! Releases come late on the debug kernel (`DEBUG_KOBJECT_RELEASE`: 1-4 s each, in
//! chains): the counts are polled until they are right, for at most `SETTLE`, which
//! only a leak or a deadlock reaches.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;
use std::time::Instant;

use crate::fixture::live_mdevs;
use crate::fixture::mdev_dir;
use crate::fixture::remove_raw;
use crate::fixture::write_attr;
use crate::parents::ParentDef;
use crate::sys::Errno;

/// The longest wait for late releases: a deadlock or leak detector.
pub const SETTLE: Duration = Duration::from_secs(60);

/// What a round's check saw.
pub struct Seen {
    /// Live mdevs when the round ended, and how many of them were unbound.
    pub live: usize,
    pub unbound: usize,
    /// Stranded mdevs left in place (C core only).
    pub stranded: usize,
    /// The longest wait for the counts or for a UUID's late release.
    pub waited: Duration,
}

fn canon(p: &Path) -> Option<PathBuf> {
    fs::canonicalize(p).ok()
}

/// One live mdev: its parent and type (indexes), and whether it is bound.
struct LiveMdev {
    uuid: String,
    parent: usize,
    ty: usize,
    bound: bool,
}

/// Checks the structure of what is live; returns the live mdevs.
/// `stranded`: the mdevs that may lack their `remove` file (see `Shared::stranded`).
fn structure(
    parents: &[&'static ParentDef],
    uuids: &[String],
    stranded: &BTreeSet<String>,
) -> Result<Vec<LiveMdev>, String> {
    // The canonical directory of every type, and of every driver.
    let mut types = Vec::new();
    for (p, def) in parents.iter().enumerate() {
        if !def.is_loaded() || !def.dir().exists() {
            return Err(format!(
                "{} is not loaded, or its parent is missing",
                def.module
            ));
        }
        for t in 0..def.types.len() {
            let d = canon(&def.type_dir(t))
                .ok_or_else(|| format!("{} is missing", def.type_dir(t).display()))?;
            types.push((d, p, t));
        }
    }
    let mut live = Vec::new();
    for uuid in live_mdevs() {
        if !uuids.contains(&uuid) && !stranded.contains(&uuid) {
            return Err(format!("mdev {uuid} on the bus is not one of the soak's"));
        }
        let dir = mdev_dir(&uuid);
        let target = canon(&dir.join("mdev_type")).ok_or_else(|| {
            format!(
                "orphan: {uuid}'s mdev_type link does not resolve ({:?})",
                fs::read_link(dir.join("mdev_type")).ok()
            )
        })?;
        let &(_, p, t) = types.iter().find(|(d, _, _)| *d == target).ok_or_else(|| {
            format!(
                "orphan: {uuid}'s mdev_type is {}, not a type of a registered parent",
                target.display()
            )
        })?;
        let def = parents[p];
        if !def.type_dir(t).join("devices").join(&uuid).exists() {
            return Err(format!(
                "{} does not list {uuid}",
                def.type_dir(t).join("devices").display()
            ));
        }
        if !dir.join("remove").exists() && !stranded.contains(&uuid) {
            return Err(format!(
                "{uuid} has no remove file: it cannot be removed any more"
            ));
        }
        let bound = match fs::read_link(dir.join("driver")) {
            Err(_) => false,
            Ok(_) => {
                let d = canon(&dir.join("driver"));
                if d != canon(&def.driver_dir()) {
                    return Err(format!(
                        "{uuid} of {} is bound to {:?}, want {}",
                        def.name,
                        d,
                        def.driver_dir().display()
                    ));
                }
                true
            }
        };
        live.push(LiveMdev {
            uuid,
            parent: p,
            ty: t,
            bound,
        });
    }
    // Nothing listed that does not exist.
    for (p, def) in parents.iter().enumerate() {
        for t in 0..def.types.len() {
            let listing = def.type_dir(t).join("devices");
            let rd = fs::read_dir(&listing).map_err(|e| format!("{}: {e}", listing.display()))?;
            for e in rd.filter_map(|e| e.ok()) {
                let name = e.file_name().to_string_lossy().into_owned();
                if !live
                    .iter()
                    .any(|m| m.uuid == name && m.parent == p && m.ty == t)
                {
                    return Err(format!(
                        "orphan: {} lists {name}, which is not a live mdev of it",
                        listing.display()
                    ));
                }
            }
        }
    }
    Ok(live)
}

/// What every type of every parent should show with `live` alive.
fn expected(parents: &[&'static ParentDef], live: &[LiveMdev]) -> Vec<Vec<u64>> {
    parents
        .iter()
        .enumerate()
        .map(|(p, def)| {
            let mine = live.iter().filter(|m| m.parent == p);
            let count = mine.clone().count() as u64;
            let ports = mine
                .filter(|m| m.bound)
                .map(|m| u64::from(def.types[m.ty].ports))
                .sum();
            def.expected(count, ports)
        })
        .collect()
}

/// Polls the counts until they are `want`, for at most SETTLE; the time it took.
fn settle_counts(
    parents: &[&'static ParentDef],
    want: &[Vec<u64>],
    when: &str,
) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        let got: Vec<Vec<u64>> = parents
            .iter()
            .map(|d| d.available())
            .collect::<Result<_, _>>()?;
        if got == want {
            return Ok(start.elapsed());
        }
        if start.elapsed() > SETTLE {
            let names: Vec<String> = parents
                .iter()
                .flat_map(|d| d.types.iter().map(|t| t.name.to_string()))
                .collect();
            return Err(format!(
                "available_instances {when} of {names:?}: {got:?}, want {want:?} after {} s",
                SETTLE.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Creates `uuid` on type `t` of `def`, retrying while its last mdev awaits its
/// release (EEXIST), for at most SETTLE; then removes it. The time it waited.
fn reuse(def: &ParentDef, t: usize, uuid: &str) -> Result<Duration, String> {
    let start = Instant::now();
    let create = def.type_dir(t).join("create");
    loop {
        match write_attr(&create, uuid.as_bytes()) {
            Ok(n) if n == uuid.len() => break,
            Ok(n) => {
                return Err(format!(
                    "create {uuid} on {}: wrote {n} bytes",
                    def.types[t].name
                ))
            }
            Err(e) if e == Errno::EEXIST && start.elapsed() < SETTLE => {
                std::thread::sleep(Duration::from_millis(50))
            }
            // The pool's ports come back at the VFIO release, which may come late.
            Err(e) if Some(e) == def.exhausted && start.elapsed() < SETTLE => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => {
                return Err(format!(
                    "UUID {uuid} is not reusable: create on {} after {} ms: {e}",
                    def.types[t].name,
                    start.elapsed().as_millis()
                ))
            }
        }
    }
    let waited = start.elapsed();
    match remove_raw(uuid) {
        Ok(1) => {}
        r => return Err(format!("remove {uuid} after its create: {r:?}, want Ok(1)")),
    }
    if mdev_dir(uuid).exists() {
        return Err(format!("{uuid} still exists after its removal"));
    }
    Ok(waited)
}

/// The whole check after round `round`. `stranded`: see `Shared::stranded`; those
/// mdevs cannot be removed and are left alone (their vendor's unload removes them).
/// `between` runs once the round's mdevs have been checked and before they are
/// removed (on the C core it reloads the vendors there).
pub fn round_end(
    parents: &[&'static ParentDef],
    uuids: &[String],
    round: u64,
    stranded: &BTreeSet<String>,
    between: &mut dyn FnMut() -> Result<(), String>,
) -> Result<Seen, String> {
    let live = structure(parents, uuids, stranded)?;
    let unbound = live.iter().filter(|m| !m.bound).count();
    let mut waited = settle_counts(parents, &expected(parents, &live), "with the round's mdevs")?;
    between()?;
    for m in structure(parents, uuids, stranded)? {
        if stranded.contains(&m.uuid) {
            continue;
        }
        match remove_raw(&m.uuid) {
            Ok(1) => {}
            r => {
                return Err(format!(
                    "remove {} after the round: {r:?}, want Ok(1)",
                    m.uuid
                ))
            }
        }
    }
    let kept = structure(parents, uuids, stranded)?;
    if let Some(m) = kept.iter().find(|m| !stranded.contains(&m.uuid)) {
        return Err(format!("{} is still there after its removal", m.uuid));
    }
    let rest = expected(parents, &kept);
    waited = waited.max(settle_counts(parents, &rest, "once all were removed")?);
    // Each UUID on another type and parent from round to round.
    let slots: Vec<(usize, usize)> = parents
        .iter()
        .enumerate()
        .flat_map(|(p, d)| (0..d.types.len()).map(move |t| (p, t)))
        .collect();
    for (i, uuid) in uuids.iter().enumerate() {
        if kept.iter().any(|m| &m.uuid == uuid) {
            continue;
        }
        let (p, t) = slots[(i + round as usize) % slots.len()];
        waited = waited.max(reuse(parents[p], t, uuid)?);
    }
    waited = waited.max(settle_counts(
        parents,
        &rest,
        "after every UUID was reused",
    )?);
    structure(parents, uuids, stranded)?;
    Ok(Seen {
        live: live.len(),
        unbound,
        stranded: kept.len(),
        waited,
    })
}
