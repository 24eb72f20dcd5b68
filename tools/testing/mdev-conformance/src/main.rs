// SPDX-License-Identifier: GPL-2.0
//! mdev-conformance: checks the user-visible behaviour of a Linux mdev core through
//! its sysfs ABI, driving one vendor driver (a "profile").
//!
//! It is written against the kernel's own C core (drivers/vfio/mdev), the reference,
//! and runs unchanged against any other core that claims to be a drop-in for it.
//! Output is KTAP; the last line is `N passed, N failed`; the exit status is 0 only
//! when nothing failed.
//!
//! Usage: mdev-conformance --profile ID [--other ID] [--filter TEXT] [--stress N]
//!                         [--skip NAME=REASON]... [--list]
//!   --profile ID   the vendor driver to drive (mtty, mdpy, mbochs, ...)
//!   --other ID     a second vendor driver, for the tests that need two parents
//!   --filter TEXT  run only the tests whose name contains TEXT
//!   --skip NAME=REASON
//!                  do not run test NAME and report it as skipped with REASON; for
//!                  a known bug of the core under test that would crash the run (the
//!                  harness uses it for the C core's remove-vs-unregistration
//!                  use-after-free, see Documentation/testing.rst)
//!   --stress N     rounds of each race test (default 10)
//!   --list         print the test names and exit

mod fixture;
mod profile;
mod sysfs;
mod tests;
mod uevent;

use std::process::ExitCode;

use fixture::UuidSource;
use fixture::Vendor;
use mdev_testkit::kernel;
use mdev_testkit::kmsg;
use mdev_testkit::ktap::Outcome;
use mdev_testkit::ktap::Reporter;
// The outcome type and check macros every test uses, as `crate::…`.
pub use mdev_testkit::check;
pub use mdev_testkit::check_eq;
pub use mdev_testkit::skip;
pub use mdev_testkit::Fail;
pub use mdev_testkit::TestResult;

/// What every test gets.
pub struct Ctx {
    /// The vendor driver under test.
    pub vendor: Vendor,
    /// A second vendor driver, loaded alongside, when one was given.
    pub other: Option<Vendor>,
    /// Why there is no second parent, for the tests that skip without one.
    pub no_other: String,
    pub uuids: UuidSource,
    /// Rounds of each race test.
    pub stress: usize,
    /// `available_instances` of every type of `vendor` with no mdev alive.
    pub baseline: Vec<u64>,
}

impl Ctx {
    /// The second parent, or a skip with the reason there is none.
    pub fn other(&self) -> Result<Vendor, Fail> {
        self.other.ok_or_else(|| Fail::Skip(self.no_other.clone()))
    }
}

/// One test of the suite.
#[derive(Clone)]
pub struct Test {
    pub name: &'static str,
    pub run: fn(&Ctx) -> TestResult,
}

impl Ctx {
    /// `available_instances` of every type of the vendor once the mdevs removed so far
    /// have been released ([`fixture::after_release`]); the caller compares it with
    /// `baseline`.
    pub fn released(&self) -> Result<Vec<u64>, String> {
        self.vendor.available_all_released(&self.baseline)
    }
}

struct Options {
    profile: String,
    other: Option<String>,
    filter: Option<String>,
    stress: usize,
    skips: Vec<(String, String)>,
    list: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        profile: String::new(),
        other: None,
        filter: None,
        stress: 10,
        skips: Vec::new(),
        list: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--profile" => o.profile = value()?,
            "--other" => o.other = Some(value()?),
            "--filter" => o.filter = Some(value()?),
            "--stress" => {
                o.stress = value()?
                    .parse()
                    .map_err(|_| "--stress takes a number".to_string())?
            }
            "--skip" => o.skips.push(mdev_testkit::ktap::parse_skip(&value()?)?),
            "--list" => o.list = true,
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    let names: Vec<&str> = tests::all().iter().map(|t| t.name).collect();
    if let Some((n, _)) = o.skips.iter().find(|(n, _)| !names.contains(&n.as_str())) {
        return Err(format!("--skip: no test named {n}"));
    }
    if o.profile.is_empty() && !o.list {
        return Err("--profile is required".into());
    }
    Ok(o)
}

/// Brings the system back to "vendor(s) loaded, no mdev alive"; says what it had
/// to clean up, which fails the test that left it.
fn restore(ctx: &Ctx) -> Vec<String> {
    let mut problems = Vec::new();
    for v in std::iter::once(ctx.vendor).chain(ctx.other) {
        if !v.is_loaded() {
            if let Err(e) = v.load() {
                problems.push(format!("reloading {}: {e}", v.p.module));
            }
        }
    }
    let left = fixture::live_mdevs();
    if !left.is_empty() {
        problems.push(format!("mdevs left alive: {}", left.join(" ")));
        for u in &left {
            let _ = fixture::remove_raw(u, b"1");
        }
    }
    match ctx.vendor.available_all_released(&ctx.baseline) {
        Ok(now) if now != ctx.baseline => problems.push(format!(
            "available_instances is {now:?} with no mdev alive, was {:?}",
            ctx.baseline
        )),
        Ok(_) => {}
        Err(e) => problems.push(e),
    }
    problems
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("mdev-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let all = tests::all();
    let selected: Vec<&Test> = all
        .iter()
        .filter(|t| {
            opts.filter
                .as_ref()
                .is_none_or(|f| t.name.contains(f.as_str()))
        })
        .collect();
    if opts.list {
        for t in &selected {
            println!("{}", t.name);
        }
        return ExitCode::SUCCESS;
    }
    let Some(p) = profile::find(&opts.profile) else {
        eprintln!("mdev-conformance: no profile {}", opts.profile);
        return ExitCode::from(2);
    };
    let vendor = Vendor { p };
    let other = match opts.other.as_deref().map(profile::find) {
        None => None,
        Some(Some(o)) => Some(Vendor { p: o }),
        Some(None) => {
            eprintln!("mdev-conformance: no profile {:?}", opts.other);
            return ExitCode::from(2);
        }
    };
    // A second parent whose module the kernel lacks altogether (a distribution's
    // kernel has no C samples) is left out, and the tests that need one skip; one
    // the kernel has must load.
    let no_other = other.and_then(|o| kernel::no_module(o.p.module));
    let other = other.filter(|_| no_other.is_none());

    let mut setup = Vec::new();
    for v in std::iter::once(vendor).chain(other) {
        if let Err(e) = v.load() {
            setup.push(e);
        }
    }
    for u in fixture::live_mdevs() {
        setup.push(format!("an mdev existed before the suite started: {u}"));
    }
    let baseline = vendor.available_all().unwrap_or_else(|e| {
        setup.push(e);
        Vec::new()
    });
    let ctx = Ctx {
        vendor,
        other,
        no_other: match &no_other {
            Some(why) => format!("needs a second parent: {why}"),
            None => "needs a second parent (--other)".into(),
        },
        uuids: fixture::uuid_source(),
        stress: opts.stress,
        baseline,
    };

    let mut report = Reporter::new(selected.len());
    Reporter::diag(&format!(
        "mdev conformance: profile {}{}, stress {}",
        p.id,
        other
            .map(|o| format!(", other parent {}", o.p.id))
            .unwrap_or_default(),
        ctx.stress
    ));
    if let Some(why) = &no_other {
        Reporter::diag(&format!(
            "{why}: no second parent, the tests that need one are skipped"
        ));
    }
    if !setup.is_empty() {
        Reporter::diag(&format!("set-up failed: {}", setup.join("; ")));
        for t in &selected {
            report.result(t.name, Outcome::Fail("set-up failed".into()));
        }
        report.finish();
        return ExitCode::FAILURE;
    }

    for t in selected {
        if let Some((_, reason)) = opts.skips.iter().find(|(n, _)| n == t.name) {
            report.result(t.name, Outcome::Skip(format!("not run: {reason}")));
            continue;
        }
        kmsg::mark(&format!("start {}", t.name));
        let mut log = kmsg::KernelLog::watch();
        let result = (t.run)(&ctx);
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
        report.result(t.name, outcome);
    }
    if report.finish() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
