// SPDX-License-Identifier: GPL-2.0
//! The operations of the soak, and which results each may have.
//!
//! The UUID space is small and shared by every thread and both parents, so any
//! operation on an mdev may find it gone, not yet there, on the other parent,
//! unbound, or being removed: for those, the errnos that say so (`ENOENT`, `ENODEV`,
//! ...) are always allowed. What depends on the vendor being loaded (creating on a
//! type, the driver's bind and unbind files, the type's attributes) is judged with
//! the parent's *generation*: even while it is loaded and stable, odd while the
//! reloading thread unloads and loads it. An operation that began and ended in the
//! same even generation ran with the vendor loaded throughout, and then `ENOENT` or
//! `ENODEV` from the vendor's files is a failure.
//!
//! Every other result is a failure: a clear message says what was done, what came
//! back and what was allowed.
//!
//! Where an operation is aimed is chosen with [`Hint`]s, what the threads last
//! learned of each UUID: three times in four a create goes to a UUID that has no mdev
//! and was not lately found awaiting its release, and any other operation but a
//! remove to a live mdev with its own parent (bound, and of a VFIO parent, where that
//! matters); the fourth time, and for every remove, both are chosen at random. So
//! the space fills with live mdevs until removes, which find one as often as the
//! space holds them, keep pace with creates, and operations still meet mdevs that are
//! gone, not yet there, of the other parent or going away. The hints only aim: how a
//! result is judged never depends on them.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::fs;
use std::os::fd::AsRawFd;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::sync::RwLock;
use std::time::Duration;
use std::time::Instant;

use crate::fixture::mdev_dir;
use crate::fixture::write_attr;
use crate::parents::ParentDef;
use crate::sys;
use crate::sys::Errno;
use crate::uapi::*;
use crate::vfio;

/// The kinds of operation, for choosing and for the statistics.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Kind {
    Create,
    Remove,
    Unbind,
    Bind,
    ReadAttr,
    ReadVendor,
    WriteVendor,
    VfioOpen,
    Reload,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Create,
        Kind::Remove,
        Kind::Unbind,
        Kind::Bind,
        Kind::ReadAttr,
        Kind::ReadVendor,
        Kind::WriteVendor,
        Kind::VfioOpen,
        Kind::Reload,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Create => "create",
            Kind::Remove => "remove",
            Kind::Unbind => "unbind",
            Kind::Bind => "bind",
            Kind::ReadAttr => "read_attr",
            Kind::ReadVendor => "read_vendor_attr",
            Kind::WriteVendor => "write_vendor_attr",
            Kind::VfioOpen => "vfio_open_close",
            Kind::Reload => "unload_reload",
        }
    }

    /// How often a thread picks it, out of the sum of the weights.
    fn weight(self) -> u64 {
        match self {
            Kind::Create => 20,
            Kind::Remove => 18,
            Kind::Unbind => 5,
            Kind::Bind => 6,
            Kind::ReadAttr => 14,
            Kind::ReadVendor => 10,
            Kind::WriteVendor => 10,
            Kind::VfioOpen => 15,
            Kind::Reload => 2,
        }
    }
}

/// A small, seedable generator (SplitMix64): the same seed gives every thread the
/// same sequence of choices; the interleavings are the kernel's.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// What the threads last learned of a UUID (see the module's docs).
#[derive(Clone, Copy, Default)]
pub struct Hint {
    /// The parent its mdev was created on, if the last create of it succeeded and
    /// nothing since said the mdev is gone.
    live_on: Option<usize>,
    /// Whether its mdev was unbound from its driver (by the driver's `unbind` file)
    /// since: then it has no vendor attribute and no VFIO device.
    unbound: bool,
    /// When it was last found awaiting a release: removed, or `EEXIST` with no mdev
    /// known.
    reserved_at: Option<Instant>,
}

impl Hint {
    /// Its mdev was just created on parent `p`.
    fn live(p: usize) -> Hint {
        Hint {
            live_on: Some(p),
            ..Hint::default()
        }
    }

    /// Its mdev went away at `t` (removed, or its parent unloaded): its release may
    /// still be pending.
    fn gone(t: Instant) -> Hint {
        Hint {
            reserved_at: Some(t),
            ..Hint::default()
        }
    }
}

/// How long a UUID found awaiting its release is left alone by aimed creates: on
/// the debug kernel a release comes seconds after the remove (DEBUG_KOBJECT_RELEASE),
/// on the standard kernel at once.
const RESERVED_BACKOFF: Duration = Duration::from_secs(1);

/// What the whole soak shares.
pub struct Shared {
    pub parents: Vec<&'static ParentDef>,
    /// The UUID space. On the C core a stranded mdev's UUID is replaced between
    /// rounds, so that the space stays usable.
    pub uuids: RwLock<Vec<String>>,
    /// Per parent: even while loaded and stable, odd while being reloaded.
    pub gens: Vec<AtomicU64>,
    /// Per parent: held by the thread that reloads it.
    pub reload_locks: Vec<Mutex<()>>,
    /// Per parent: when it may be reloaded again.
    pub next_reload: Vec<Mutex<Instant>>,
    /// Whether threads may unload and reload vendors while the others run; when
    /// not, the main thread does it between rounds.
    pub concurrent_reload: bool,
    /// Per parent: whether it is ever unloaded during the soak.
    pub reloadable: Vec<bool>,
    /// Operations started, over the whole soak.
    pub ops: AtomicU64,
    /// The operation budget (`--ops`), if any.
    pub max_ops: Option<u64>,
    pub stop: AtomicBool,
    /// The first failure, which stops the soak.
    pub failure: Mutex<Option<String>>,
    /// Per thread: the operation it is in, for a round that does not end.
    pub doing: Vec<Mutex<String>>,
    /// Longest a VFIO user keeps a device open, in microseconds.
    pub hold_us: u64,
    /// Whether the core is the kernel's C core.
    pub c_core: bool,
    /// On the C core, the mdevs whose `remove` file a refused remove deleted (a
    /// known fault of the reference): they stay until their vendor is unloaded.
    pub stranded: Mutex<BTreeSet<String>>,
    /// How many removes stranded an mdev so.
    pub strandings: AtomicU64,
    /// Per UUID, what the threads last learned of it; none is as good as nothing.
    pub hints: Mutex<BTreeMap<String, Hint>>,
}

/// A parent is reloaded again only after this many times as long as its last reload
/// took: while it is reloaded, its operations fail with ENOENT or ENODEV, and on the
/// debug kernel the Rust core's unregistration waits seconds for delayed releases.
/// This keeps each parent loaded most of the time whatever the kernel's speed.
const RELOAD_SPACING: u32 = 8;

impl Shared {
    fn gen(&self, p: usize) -> u64 {
        self.gens[p].load(Ordering::SeqCst)
    }

    /// Whether parent `p` stayed loaded from generation `g0` until now.
    fn stable_since(&self, p: usize, g0: u64) -> bool {
        g0 % 2 == 0 && self.gen(p) == g0
    }

    /// Updates the hint of `uuid`.
    fn hint(&self, uuid: &str, f: impl FnOnce(&mut Hint)) {
        if let Ok(mut h) = self.hints.lock() {
            f(h.entry(uuid.to_string()).or_default());
        }
    }

    /// Records the first failure and stops every thread.
    pub fn fail(&self, msg: String) {
        let mut f = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if f.is_none() {
            *f = Some(msg);
        }
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Unloads parent `p` and loads it again, moving its generation to odd and back.
    /// `vfio_busy_ok`: whether a refusal because a VFIO user holds the module is
    /// expected (it is not between rounds, when nothing is open).
    pub fn reload(&self, p: usize, vfio_busy_ok: bool) -> Result<Option<Errno>, String> {
        let def = self.parents[p];
        let t0 = Instant::now();
        self.gens[p].fetch_add(1, Ordering::SeqCst);
        // An unload removes the parent's mdevs (or, refused, none): either way they
        // are no longer known to be live.
        if let Ok(mut hints) = self.hints.lock() {
            for h in hints.values_mut().filter(|h| h.live_on == Some(p)) {
                *h = Hint::gone(t0);
            }
        }
        let r = sys::delete_module(def.module, libc::O_NONBLOCK);
        let out = match r {
            Ok(()) => def
                .load()
                .map(|_| None)
                .map_err(|e| format!("reloading {} after its unload: {e}", def.module)),
            // A VFIO user holds a reference on the module while a device is open
            // (vfio_df_device_first_open), so delete_module refuses: EWOULDBLOCK.
            Err(e) if e == Errno::EAGAIN && def.vfio && vfio_busy_ok => Ok(Some(e)),
            Err(e) => Err(format!(
                "delete_module({}, O_NONBLOCK): {e}, want success{}",
                def.module,
                if def.vfio && vfio_busy_ok {
                    " or EAGAIN (EWOULDBLOCK) while a VFIO device is open"
                } else {
                    ""
                }
            )),
        };
        self.gens[p].fetch_add(1, Ordering::SeqCst);
        if let Ok(mut next) = self.next_reload[p].lock() {
            *next = Instant::now() + t0.elapsed() * RELOAD_SPACING;
        }
        out
    }
}

/// The result of one operation: `None` when it succeeded, or the allowed errno.
pub type OpResult = Result<Option<Errno>, String>;

/// Stands for a write that returned fewer bytes than it was given.
const SHORT_WRITE: Errno = Errno(-1);
/// Stands for a failure that has a message but no errno.
const NOT_AN_ERRNO: Errno = Errno(-2);

/// Judges a write of `want` bytes.
fn wrote(r: Result<usize, Errno>, want: usize) -> Result<Option<Errno>, Errno> {
    match r {
        Ok(n) if n == want => Ok(None),
        // A short count is not an errno; report it as EIO-like through the caller.
        Ok(_) => Err(SHORT_WRITE),
        Err(e) => Err(e),
    }
}

fn situation(stable: bool) -> &'static str {
    if stable {
        "the vendor stayed loaded during the call"
    } else {
        "the vendor was being unloaded or reloaded"
    }
}

fn names(errnos: &[Errno]) -> String {
    errnos
        .iter()
        .map(|e| e.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Allows `e` if it is in `allowed`, else fails with `what`.
fn allow(e: Errno, allowed: &[Errno], what: impl FnOnce() -> String) -> OpResult {
    if allowed.contains(&e) {
        Ok(Some(e))
    } else if e == SHORT_WRITE {
        Err(format!("{}: a short write count", what()))
    } else if e == NOT_AN_ERRNO {
        Err(what())
    } else {
        Err(format!(
            "{}: {e}; allowed: success, {}",
            what(),
            names(allowed)
        ))
    }
}

/// One thread's view: the shared state and its generator.
pub struct Worker<'a> {
    pub sh: &'a Shared,
    pub rng: Rng,
    pub id: usize,
}

impl Worker<'_> {
    fn pick_kind(&mut self) -> Kind {
        let total: u64 = Kind::ALL.iter().map(|k| k.weight()).sum();
        let mut x = self.rng.next_u64() % total;
        for k in Kind::ALL {
            if x < k.weight() {
                return k;
            }
            x -= k.weight();
        }
        Kind::ReadAttr
    }

    fn pick_parent(&mut self) -> usize {
        self.rng.below(self.sh.parents.len())
    }

    fn pick_uuid(&mut self) -> String {
        let uuids = self.sh.uuids.read().unwrap_or_else(|e| e.into_inner());
        uuids[self.rng.below(uuids.len())].clone()
    }

    /// A parent and a UUID for `kind`, aimed three times in four (module docs).
    fn pick(&mut self, kind: Kind) -> (usize, String) {
        let p = self.pick_parent();
        let uuid = self.pick_uuid();
        if self.rng.below(4) == 0 {
            return (p, uuid);
        }
        let aimed: Vec<(String, Option<usize>)> = {
            let uuids = self.sh.uuids.read().unwrap_or_else(|e| e.into_inner());
            let hints = self.sh.hints.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            uuids
                .iter()
                .filter_map(|u| {
                    let h = hints.get(u).copied().unwrap_or_default();
                    let free = h.live_on.is_none()
                        && h.reserved_at.is_none_or(|t| now - t >= RESERVED_BACKOFF);
                    let q = h.live_on;
                    // What only a bound mdev has: its vendor attribute, a VFIO device
                    // (only the parents that register one).
                    let bound = !h.unbound;
                    let vfio = q.is_some_and(|q| self.sh.parents[q].vfio);
                    match kind {
                        Kind::Create if free => Some((u.clone(), None)),
                        Kind::Create => None,
                        // Not aimed: a remove then succeeds as often as mdevs are live
                        // in the space, which keeps a population for the others.
                        Kind::Remove => None,
                        Kind::ReadVendor | Kind::WriteVendor if !bound => None,
                        Kind::VfioOpen if !bound || !vfio => None,
                        _ => q.map(|q| (u.clone(), Some(q))),
                    }
                })
                .collect()
        };
        if aimed.is_empty() {
            return (p, uuid);
        }
        let (u, q) = aimed[self.rng.below(aimed.len())].clone();
        (q.unwrap_or(p), u)
    }

    /// Learns from the result of `kind` on `uuid` of parent `p`.
    fn learn(&self, kind: Kind, p: usize, uuid: &str, r: &OpResult) {
        let now = Instant::now();
        match (kind, r) {
            (Kind::Create, Ok(None)) => self.sh.hint(uuid, |h| *h = Hint::live(p)),
            (Kind::Unbind, Ok(None)) => self.sh.hint(uuid, |h| h.unbound = true),
            (Kind::Create, Ok(Some(Errno::EEXIST))) => self.sh.hint(uuid, |h| {
                if h.live_on.is_none() {
                    h.reserved_at = Some(now);
                }
            }),
            (Kind::Remove, Ok(None)) | (Kind::Remove, Ok(Some(Errno::ENODEV))) => {
                self.sh.hint(uuid, |h| *h = Hint::gone(now))
            }
            (Kind::Remove, Ok(Some(Errno::ENOENT))) => self.sh.hint(uuid, |h| h.live_on = None),
            _ => {}
        }
    }

    fn set_doing(&self, what: &str) {
        if let Ok(mut d) = self.sh.doing[self.id].lock() {
            d.clear();
            d.push_str(what);
        }
    }

    /// Runs one random operation; its kind and result.
    pub fn step(&mut self) -> (Kind, OpResult) {
        let mut kind = self.pick_kind();
        if kind == Kind::VfioOpen && !self.sh.parents.iter().any(|p| p.vfio) {
            kind = Kind::ReadAttr;
        }
        if kind == Kind::Reload {
            match self.try_reload() {
                Some(r) => return (Kind::Reload, r),
                None => kind = Kind::ReadAttr,
            }
        }
        let (p, uuid) = self.pick(kind);
        let r = match kind {
            Kind::Create => {
                let t = self.rng.below(self.sh.parents[p].types.len());
                self.create(p, t, &uuid)
            }
            Kind::Remove => self.remove(&uuid),
            Kind::Unbind => self.unbind(p, &uuid),
            Kind::Bind => self.bind(p, &uuid),
            Kind::ReadAttr => self.read_attr(p, &uuid),
            Kind::ReadVendor => self.read_vendor(p, &uuid),
            Kind::WriteVendor => self.write_vendor(p, &uuid),
            Kind::VfioOpen => self.vfio_open(&uuid),
            Kind::Reload => unreachable!(),
        };
        self.learn(kind, p, &uuid, &r);
        (kind, r)
    }

    /// Reloads a parent, if reloading is done by the threads, the parent may be
    /// reloaded, no other thread reloads it and it was not reloaded lately.
    fn try_reload(&mut self) -> Option<OpResult> {
        if !self.sh.concurrent_reload {
            return None;
        }
        let p = self.pick_parent();
        if !self.sh.reloadable[p] {
            return None;
        }
        let _guard = self.sh.reload_locks[p].try_lock().ok()?;
        if Instant::now() < *self.sh.next_reload[p].lock().ok()? {
            return None;
        }
        self.set_doing(&format!("unload and reload {}", self.sh.parents[p].module));
        Some(self.sh.reload(p, true))
    }

    /// `echo -n UUID > <type>/create`.
    fn create(&mut self, p: usize, t: usize, uuid: &str) -> OpResult {
        let def = self.sh.parents[p];
        self.set_doing(&format!("create {uuid} on {}", def.types[t].name));
        let g0 = self.sh.gen(p);
        let r = write_attr(&def.type_dir(t).join("create"), uuid.as_bytes());
        let stable = self.sh.stable_since(p, g0);
        let e = match wrote(r, uuid.len()) {
            Ok(x) => return Ok(x),
            Err(e) => e,
        };
        // EEXIST: the UUID is in use (on either parent), or its last mdev awaits
        // its release.
        let mut allowed = vec![Errno::EEXIST];
        allowed.extend(def.exhausted);
        if !stable {
            // ENOENT: the type is gone; ENODEV: its parent is unregistering.
            allowed.extend([Errno::ENOENT, Errno::ENODEV]);
        }
        allow(e, &allowed, || {
            format!(
                "create {uuid} on {} ({})",
                def.types[t].name,
                situation(stable)
            )
        })
    }

    /// `echo 1 > /sys/bus/mdev/devices/UUID/remove`.
    fn remove(&mut self, uuid: &str) -> OpResult {
        self.set_doing(&format!("remove {uuid}"));
        let r = write_attr(&mdev_dir(uuid).join("remove"), b"1");
        match wrote(r, 1) {
            Ok(x) => Ok(x),
            // ENOENT: no such mdev; ENODEV: another remover or the parent's
            // unregistration got it first; EAGAIN: its create is still running.
            Err(e) => {
                if e == Errno::EAGAIN && self.sh.c_core {
                    // The C core deleted the remove file before it refused
                    // (remove_store; Documentation/design.rst, "A refused remove
                    // keeps the remove file"): the mdev stays until its vendor is
                    // unloaded. The round's check knows it.
                    self.sh.strandings.fetch_add(1, Ordering::SeqCst);
                    if let Ok(mut s) = self.sh.stranded.lock() {
                        s.insert(uuid.to_string());
                    }
                }
                allow(e, &[Errno::ENOENT, Errno::ENODEV, Errno::EAGAIN], || {
                    format!("remove {uuid}")
                })
            }
        }
    }

    /// `echo -n UUID > /sys/bus/mdev/drivers/DRV/unbind`.
    fn unbind(&mut self, p: usize, uuid: &str) -> OpResult {
        // ENODEV: no such mdev, or not bound to this driver (unbind_store).
        self.driver_file(p, uuid, "unbind", "from", &[Errno::ENODEV])
    }

    /// `echo -n UUID > /sys/bus/mdev/drivers/DRV/bind`.
    fn bind(&mut self, p: usize, uuid: &str) -> OpResult {
        // ENODEV: no such mdev, or the bus's match refuses the driver (both cores'
        // mdev_match refuse every driver: mdevs are bound only by create); EBUSY: it
        // is bound.
        let mut allowed = vec![Errno::ENODEV, Errno::EBUSY];
        allowed.extend(self.sh.parents[p].exhausted);
        self.driver_file(p, uuid, "bind", "to", &allowed)
    }

    /// Writes `uuid` to the driver's `file` (`bind` or `unbind`); an errno must be in
    /// `allowed`, or ENOENT while the vendor was reloaded meanwhile (its driver's
    /// directory gone).
    fn driver_file(
        &mut self,
        p: usize,
        uuid: &str,
        file: &str,
        prep: &str,
        allowed: &[Errno],
    ) -> OpResult {
        let def = self.sh.parents[p];
        self.set_doing(&format!("{file} {uuid} {prep} {}", def.driver));
        let g0 = self.sh.gen(p);
        let r = write_attr(&def.driver_dir().join(file), uuid.as_bytes());
        let stable = self.sh.stable_since(p, g0);
        match wrote(r, uuid.len()) {
            Ok(x) => Ok(x),
            Err(e) => {
                let mut allowed = allowed.to_vec();
                if !stable {
                    allowed.push(Errno::ENOENT);
                }
                allow(e, &allowed, || {
                    format!(
                        "{file} {uuid} {prep} {} ({})",
                        def.driver,
                        situation(stable)
                    )
                })
            }
        }
    }

    /// Reads an attribute of an mdev's type through its `mdev_type` link, or of one
    /// of the parent's types directly; checks what it shows.
    fn read_attr(&mut self, p: usize, uuid: &str) -> OpResult {
        const ATTRS: [&str; 3] = ["name", "device_api", "available_instances"];
        let attr = ATTRS[self.rng.below(ATTRS.len())];
        let def = self.sh.parents[p];
        let via_mdev = self.rng.below(2) == 0;
        let t = self.rng.below(def.types.len());
        let path = if via_mdev {
            mdev_dir(uuid).join("mdev_type").join(attr)
        } else {
            def.type_dir(t).join(attr)
        };
        self.set_doing(&format!("read {}", path.display()));
        let g0 = self.sh.gen(p);
        let r = fs::read_to_string(&path).map_err(|e| Errno::from_io(&e));
        let stable = self.sh.stable_since(p, g0);
        match r {
            Ok(s) => {
                let good = match attr {
                    "device_api" => s == "vfio-pci\n",
                    "available_instances" => s.trim_end().parse::<u64>().is_ok(),
                    _ => s.len() > 1 && s.ends_with('\n'),
                };
                if good {
                    Ok(None)
                } else {
                    Err(format!("read {}: {s:?}", path.display()))
                }
            }
            Err(e) => {
                // Through the mdev: it may not exist (ENOENT) or be going away as the
                // file is read (ENODEV). A type's own file only while unloading.
                let allowed: &[Errno] = if via_mdev || !stable {
                    &[Errno::ENOENT, Errno::ENODEV]
                } else {
                    &[]
                };
                allow(e, allowed, || {
                    format!("read {} ({})", path.display(), situation(stable))
                })
            }
        }
    }

    /// Reads parent `p`'s vendor attribute of an mdev.
    fn read_vendor(&mut self, p: usize, uuid: &str) -> OpResult {
        let def = self.sh.parents[p];
        let path = mdev_dir(uuid).join(def.vendor_attr);
        self.set_doing(&format!("read {}", path.display()));
        match fs::read_to_string(&path) {
            Ok(s) if s.starts_with(def.vendor_show) => Ok(None),
            Ok(s) => Err(format!(
                "read {}: {s:?}, want it to start with {:?}",
                path.display(),
                def.vendor_show
            )),
            // ENOENT: no such mdev, another parent's, or unbound (the driver's
            // attribute groups go with the driver); ENODEV: going away meanwhile.
            Err(e) => allow(Errno::from_io(&e), &[Errno::ENOENT, Errno::ENODEV], || {
                format!("read {}", path.display())
            }),
        }
    }

    /// Writes something valid to parent `p`'s vendor attribute of an mdev.
    fn write_vendor(&mut self, p: usize, uuid: &str) -> OpResult {
        let def = self.sh.parents[p];
        let path = mdev_dir(uuid).join(def.vendor_attr);
        self.set_doing(&format!(
            "write {:?} to {}",
            def.vendor_store,
            path.display()
        ));
        let r = write_attr(&path, def.vendor_store.as_bytes());
        match wrote(r, def.vendor_store.len()) {
            Ok(x) => Ok(x),
            Err(e) => allow(e, &[Errno::ENOENT, Errno::ENODEV], || {
                format!("write {:?} to {}", def.vendor_store, path.display())
            }),
        }
    }

    /// Opens an mdev through VFIO (the group/container or the cdev/iommufd way, at
    /// random), reads its identity in config space, keeps it open a moment and
    /// closes it.
    fn vfio_open(&mut self, uuid: &str) -> OpResult {
        let cdev = self.rng.below(2) == 0;
        let hold = Duration::from_micros(self.rng.next_u64() % (self.sh.hold_us + 1));
        self.set_doing(&format!(
            "VFIO {} open of {uuid}",
            if cdev { "cdev" } else { "group" }
        ));
        let r = if cdev {
            open_cdev(uuid)
        } else {
            open_group(uuid)
        };
        let open = match r {
            Ok(o) => o,
            Err((step, e, allowed)) => {
                return allow(e, allowed, || format!("VFIO open of {uuid}: {step}"));
            }
        };
        // An open device answers until it is closed, even while a removal waits.
        let check = || -> Result<(), String> {
            let reg = open
                .dev
                .region(VFIO_PCI_CONFIG_REGION_INDEX)
                .map_err(|e| format!("GET_REGION_INFO(config): {e}"))?;
            let id = open
                .dev
                .read32(reg.offset)
                .map_err(|e| format!("config read: {e}"))?;
            if id != 0x3253_4348 {
                return Err(format!("vendor and device ID {id:#010x}, want 0x32534348"));
            }
            Ok(())
        };
        check().map_err(|e| format!("VFIO device {uuid}, open: {e}"))?;
        let until = Instant::now() + hold;
        while Instant::now() < until {
            std::thread::sleep(until - Instant::now());
        }
        drop(open);
        Ok(None)
    }
}

/// Why a VFIO open failed: the step, the errno and the errnos allowed there.
type OpenFail = (String, Errno, &'static [Errno]);

/// A step's failure with an errno.
fn failed<'a>(step: &'a str, allowed: &'static [Errno]) -> impl FnOnce(Errno) -> OpenFail + 'a {
    move |e| (step.to_string(), e, allowed)
}

/// A step's failure that has a message but no errno (never allowed).
fn failed_msg(step: &str) -> impl FnOnce(String) -> OpenFail + '_ {
    move |m| (format!("{step}: {m}"), NOT_AN_ERRNO, NOTHING)
}

/// An open device and what keeps it open; drops in field order.
struct Opened {
    dev: vfio::Device,
    _group: Option<std::os::fd::OwnedFd>,
    _holder: Option<std::os::fd::OwnedFd>,
}

/// ENOENT: the mdev, or its VFIO device, or its group is gone (or not a VFIO mdev,
/// or unbound); ENODEV: the device is being unregistered meanwhile.
const GONE: &[Errno] = &[Errno::ENOENT, Errno::ENODEV];
/// As GONE, or EBUSY: another thread has the group open or a cdev bound.
const GONE_OR_BUSY: &[Errno] = &[Errno::ENOENT, Errno::ENODEV, Errno::EBUSY];
/// As GONE_OR_BUSY, or EINVAL: another thread's cdev is bound to the device (the
/// cdev path allows one open at a time, vfio_df_open).
const BIND_FAILS: &[Errno] = &[Errno::ENOENT, Errno::ENODEV, Errno::EBUSY, Errno::EINVAL];
const NOTHING: &[Errno] = &[];

fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_io(&e)
}

fn open_group(uuid: &str) -> Result<Opened, OpenFail> {
    let link = fs::read_link(mdev_dir(uuid).join("iommu_group"))
        .map_err(io_errno)
        .map_err(failed("iommu_group link", GONE))?;
    let group_nr = link
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let container = vfio::open_container().map_err(failed_msg("the container"))?;
    let group = sys::open_rw(&format!("/dev/vfio/{group_nr}"))
        .map_err(failed("open /dev/vfio/N", GONE_OR_BUSY))?;
    let st = vfio::group_status(&group).map_err(failed("VFIO_GROUP_GET_STATUS", GONE))?;
    if st.flags & VFIO_GROUP_FLAGS_VIABLE == 0 {
        return Err(failed_msg("the group")(format!(
            "not viable (flags {:#x})",
            st.flags
        )));
    }
    let mut cfd: i32 = container.as_raw_fd();
    sys::ioctl_ptr(group.as_raw_fd(), VFIO_GROUP_SET_CONTAINER, &mut cfd)
        .map_err(failed("VFIO_GROUP_SET_CONTAINER", GONE))?;
    sys::ioctl_val(
        container.as_raw_fd(),
        VFIO_SET_IOMMU,
        VFIO_TYPE1v2_IOMMU.into(),
    )
    .map_err(failed("VFIO_SET_IOMMU", GONE))?;
    // ENODEV also when the group number was reused by another mdev's group.
    let dev =
        vfio::get_device_fd(&group, uuid).map_err(failed("VFIO_GROUP_GET_DEVICE_FD", GONE))?;
    Ok(Opened {
        dev,
        _group: Some(group),
        _holder: Some(container),
    })
}

fn open_cdev(uuid: &str) -> Result<Opened, OpenFail> {
    let dir = mdev_dir(uuid).join("vfio-dev");
    let node = fs::read_dir(&dir)
        .map_err(io_errno)
        .map_err(failed("vfio-dev directory", GONE))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("vfio"))
        .ok_or(Errno::ENOENT)
        .map_err(failed("no vfioN in vfio-dev", GONE))?;
    let iommufd = sys::open_rw("/dev/iommu").map_err(failed("open /dev/iommu", NOTHING))?;
    let fd = sys::open_rw(&format!("/dev/vfio/devices/{node}"))
        .map_err(failed("open /dev/vfio/devices/vfioN", GONE))?;
    let dev = vfio::Device { fd };
    vfio::bind(
        &dev,
        iommufd.as_raw_fd(),
        std::mem::size_of::<vfio_device_bind_iommufd>() as u32,
    )
    .map_err(failed("VFIO_DEVICE_BIND_IOMMUFD", BIND_FAILS))?;
    vfio::attach_new_ioas(&dev, &iommufd).map_err(failed_msg("attach"))?;
    Ok(Opened {
        dev,
        _group: None,
        _holder: Some(iommufd),
    })
}
