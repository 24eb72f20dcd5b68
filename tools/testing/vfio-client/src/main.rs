// SPDX-License-Identifier: GPL-2.0
//! vfio-client: a userspace VFIO client that opens mtty-style mediated devices the
//! way a VMM does and checks what they do, over both VFIO interfaces (the
//! group/container one and the device cdev with iommufd).
//!
//! It is written against the kernel's C `samples/vfio-mdev/mtty.c` (Linux 7.3), the
//! reference, and runs on any mdev core (the kernel's C one or this project's Rust
//! one) and with any vendor driver that claims to be mtty (a "profile"). Output is
//! KTAP; the last line is `N passed, N failed`; the exit status is 0 only when
//! nothing failed.
//!
//! Usage: vfio-client --profile ID [--filter TEXT] [--skip NAME=REASON]... [--list]
//!        vfio-client demo [--profile ID] [--iface group|cdev] UUID TEXT
//!        vfio-client demo-migrate [--iface group|cdev] SRC DST TEXT
//!   --profile ID   the vendor driver (mtty, mtty_rs)
//!   --filter TEXT  run only the tests whose name contains TEXT
//!   --skip NAME=REASON
//!                  do not run test NAME (on every interface, or NAME.IFACE on one)
//!                  and report it as skipped with REASON: for a known fault of the
//!                  reference that would end the run (see Documentation/testing.rst)
//!   --list         print the test names and exit
//!   demo           for an existing mdev: its config space as a hexdump, then TEXT
//!                  written byte by byte to THR and read back from RBR
//!   demo-migrate   for two existing mdevs of a type: TEXT left in SRC's receive
//!                  FIFO, SRC saved, DST resumed from the stream, DST's FIFO read

mod demo;
mod fixture;
mod profile;
mod sys;
mod tests;
mod uapi;
mod vfio;

use std::process::ExitCode;

use fixture::Mdev;
use fixture::Parent;
use fixture::UuidSource;
use mdev_testkit::kernel;
use mdev_testkit::kmsg;
use mdev_testkit::ktap::Outcome;
use mdev_testkit::ktap::Reporter;
// The outcome type and check macros every test uses, as `crate::…`.
pub use mdev_testkit::check;
pub use mdev_testkit::check_eq;
pub use mdev_testkit::check_errno;
pub use mdev_testkit::skip;
pub use mdev_testkit::Fail;
pub use mdev_testkit::OrFail;
pub use mdev_testkit::TestResult;
use profile::Profile;
use vfio::Iface;

/// What every test gets.
pub struct Ctx {
    pub p: &'static Profile,
    /// The vendor driver under test.
    pub vendor: Parent,
    /// A second parent (mdpy), for the tests that need one; `None` when the kernel
    /// has no such module (a distribution's kernel has no C samples).
    pub other: Option<Parent>,
    /// Why the cdev interface cannot be used on this kernel (no IOMMUFD): its tests
    /// are skipped with this reason.
    pub no_cdev: Option<String>,
    pub uuids: UuidSource,
    /// `available_instances` of the 1-port and the 2-port type with no mdev alive.
    pub baseline: Vec<u64>,
}

impl Ctx {
    /// The type with `ports` ports (1 or 2).
    pub fn type_name(&self, ports: u32) -> &'static str {
        if ports == 2 {
            self.p.type_2port
        } else {
            self.p.type_1port
        }
    }

    /// A fresh mdev with `ports` ports.
    pub fn create(&self, ports: u32) -> Result<Mdev, Fail> {
        Ok(self
            .vendor
            .create(self.type_name(ports), &self.uuids.fresh())?)
    }

    /// Skips the test, with the reason, when the kernel has no cdev interface.
    pub fn need_cdev(&self) -> TestResult {
        match &self.no_cdev {
            Some(why) => Err(Fail::Skip(why.clone())),
            None => Ok(()),
        }
    }

    /// `available_instances` of the 1-port and the 2-port type.
    pub fn available(&self) -> Result<Vec<u64>, String> {
        [self.p.type_1port, self.p.type_2port]
            .iter()
            .map(|t| self.vendor.available(t))
            .collect()
    }

    /// `available_instances` of both types once the ports of the mdevs removed so far
    /// are back ([`fixture::after_release`]); the caller compares it with `baseline`.
    pub fn released(&self) -> Result<Vec<u64>, String> {
        mdev_testkit::release::after_release(|| self.available(), |v| *v == self.baseline)
    }
}

/// One test; it runs once per interface in `ifaces`, named `NAME.IFACE`, or once
/// with no suffix when `ifaces` is empty.
#[derive(Clone, Copy)]
pub struct Test {
    pub name: &'static str,
    pub ifaces: &'static [Iface],
    pub run: fn(&Ctx, Iface) -> TestResult,
}

pub const BOTH: &[Iface] = &[Iface::Group, Iface::Cdev];
pub const GROUP: &[Iface] = &[Iface::Group];
pub const CDEV: &[Iface] = &[Iface::Cdev];
pub const NONE: &[Iface] = &[];

/// A test as it runs: its full name and its interface.
struct Case {
    name: String,
    test: Test,
    iface: Iface,
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for t in tests::all() {
        if t.ifaces.is_empty() {
            v.push(Case {
                name: t.name.to_string(),
                test: t,
                iface: Iface::Group,
            });
        }
        for &i in t.ifaces {
            v.push(Case {
                name: format!("{}.{}", t.name, i),
                test: t,
                iface: i,
            });
        }
    }
    v
}

/// Brings the system back to "both parents loaded, no mdev alive"; says what it
/// had to repair, which fails the test that left it.
fn restore(ctx: &Ctx) -> Vec<String> {
    let mut problems = Vec::new();
    for p in std::iter::once(ctx.vendor).chain(ctx.other) {
        if !p.is_loaded() {
            problems.push(format!("{} was left unloaded", p.module));
            if let Err(e) = p.load() {
                problems.push(format!("reloading {}: {e}", p.module));
            }
        }
    }
    let left = fixture::live_mdevs();
    if !left.is_empty() {
        problems.push(format!("mdevs left alive: {}", left.join(" ")));
        for u in &left {
            let _ = fixture::remove_raw(u);
        }
    }
    match ctx.released() {
        Ok(now) if now != ctx.baseline => problems.push(format!(
            "available_instances is {now:?} with no mdev alive, was {:?}",
            ctx.baseline
        )),
        Ok(_) => {}
        Err(e) => problems.push(e),
    }
    problems
}

struct Options {
    profile: String,
    filter: Option<String>,
    skips: Vec<(String, String)>,
    list: bool,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        profile: String::new(),
        filter: None,
        skips: Vec::new(),
        list: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--profile" => o.profile = value()?,
            "--filter" => o.filter = Some(value()?),
            "--skip" => o.skips.push(mdev_testkit::ktap::parse_skip(&value()?)?),
            "--list" => o.list = true,
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    let all = cases();
    if let Some((n, _)) = o
        .skips
        .iter()
        .find(|(n, _)| !all.iter().any(|c| c.name == *n || c.test.name == *n))
    {
        return Err(format!("--skip: no test named {n}"));
    }
    if o.profile.is_empty() && !o.list {
        return Err("--profile is required".into());
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("demo-migrate") {
        return demo::main_migrate(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("demo") {
        return demo::main(&args[1..]);
    }
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("vfio-client: {e}");
            return ExitCode::from(2);
        }
    };
    let selected: Vec<Case> = cases()
        .into_iter()
        .filter(|c| {
            opts.filter
                .as_ref()
                .is_none_or(|f| c.name.contains(f.as_str()))
        })
        .collect();
    if opts.list {
        for c in &selected {
            println!("{}", c.name);
        }
        return ExitCode::SUCCESS;
    }
    let Some(p) = profile::find(&opts.profile) else {
        eprintln!("vfio-client: no profile {}", opts.profile);
        return ExitCode::from(2);
    };
    let vendor = Parent {
        module: p.module,
        name: p.parent,
    };
    // What the kernel lacks altogether is skipped, with the reason; what it has
    // must work.
    let no_other = kernel::no_module(profile::OTHER.module);
    let other = no_other.is_none().then_some(Parent {
        module: profile::OTHER.module,
        name: profile::OTHER.parent,
    });
    let no_cdev = kernel::no_iommufd();

    let mut setup = Vec::new();
    for v in std::iter::once(vendor).chain(other) {
        if let Err(e) = v.load() {
            setup.push(e);
        }
    }
    for u in fixture::live_mdevs() {
        setup.push(format!("an mdev existed before the client started: {u}"));
    }
    let mut ctx = Ctx {
        p,
        vendor,
        other,
        no_cdev,
        uuids: fixture::uuid_source(),
        baseline: Vec::new(),
    };
    match ctx.available() {
        Ok(b) => ctx.baseline = b,
        Err(e) => setup.push(e),
    }

    let mut report = Reporter::new(selected.len());
    Reporter::diag(&format!(
        "vfio client: profile {} (module {}, bounds_checked {}, has_request {}), second parent {}",
        p.id,
        p.module,
        p.bounds_checked,
        p.has_request,
        other.map_or("none", |o| o.name)
    ));
    if let Some(why) = &no_other {
        Reporter::diag(&format!(
            "{why}: the checks that other parents are not blocked are left out"
        ));
    }
    if let Some(why) = &ctx.no_cdev {
        Reporter::diag(&format!("{why}: the cdev tests are skipped"));
    }
    if !setup.is_empty() {
        Reporter::diag(&format!("set-up failed: {}", setup.join("; ")));
        for c in &selected {
            report.result(&c.name, Outcome::Fail("set-up failed".into()));
        }
        report.finish();
        return ExitCode::FAILURE;
    }

    for c in &selected {
        if c.iface == Iface::Cdev {
            if let Err(Fail::Skip(why)) = ctx.need_cdev() {
                report.result(&c.name, Outcome::Skip(why));
                continue;
            }
        }
        if let Some((_, reason)) = opts
            .skips
            .iter()
            .find(|(n, _)| c.name == *n || c.test.name == *n)
        {
            report.result(&c.name, Outcome::Skip(format!("not run: {reason}")));
            continue;
        }
        kmsg::mark(&format!("start {}", c.name));
        let mut log = kmsg::KernelLog::watch();
        let result = (c.test.run)(&ctx, c.iface);
        let mut leftovers = restore(&ctx);
        let reports = log.new_reports();
        if !reports.is_empty() {
            leftovers.push(format!("kernel reported: {}", reports.join(" | ")));
        }
        let outcome = match result {
            Ok(()) if leftovers.is_empty() => Outcome::Pass,
            Ok(()) => Outcome::Fail(leftovers.join("\n")),
            Err(Fail::Skip(why)) if leftovers.is_empty() => Outcome::Skip(why),
            Err(Fail::Fail(why)) | Err(Fail::Skip(why)) => {
                leftovers.insert(0, why);
                Outcome::Fail(leftovers.join("\n"))
            }
        };
        report.result(&c.name, outcome);
    }
    if report.finish() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
