// SPDX-License-Identifier: GPL-2.0
//! mdev-transcript: runs one fixed scenario against a vendor driver and prints what
//! a user sees of the mdev core, normalized so that two runs compare with `diff`.
//!
//! The conformance suite checks behaviours one by one against expected values; this
//! program expects nothing. It records the sysfs trees, the result of every create
//! and remove input and the uevents, so that a transcript made on one core can be
//! compared line by line with one made on another (tools/testing/compare-cores).
//! Every line is the same on every run of the same core in a fresh guest: UUIDs are
//! fixed, listings are sorted, and run-dependent values are normalized or left out
//! (see tree.rs for the sysfs side and `show_event` for the uevent side).
//!
//! Usage: mdev-transcript [--profile] ID [[--other] ID]
//!   ID   the vendor driver to drive (mtty, mdpy, mbochs); the second, when given,
//!        is a second parent for the cross-parent inputs.
//!        mdev-transcript --expect-rust FILE
//!        prints what the Rust core's transcript is expected to be, given the C
//!        core's in FILE: the documented differences applied (expectation.rs).
//!
//! Exit status: 0 when the scenario ran to its end, whatever the core answered;
//! 1 when the scenario could not be set up (a vendor that does not load, no
//! uevent socket); 2 on a usage error.

mod expectation;
// Shared with mdev-conformance, which uses the parts this program does not.
#[allow(dead_code)]
mod fixture;
#[allow(dead_code)]
mod profile;
#[allow(dead_code)]
mod sysfs;
mod tree;
#[allow(dead_code)]
mod uevent;

use std::path::Path;
use std::process::ExitCode;

use fixture::Vendor;
use profile::TypeSpec;
use sysfs::WriteResult;
use uevent::Listener;
use uevent::Uevent;

/// The most creates the exhaustion step tries before it gives up.
const MAX_INSTANCES: u32 = 64;

/// The uevent keys printed; the others (SEQNUM, MAJOR/MINOR, MODALIAS, ...) either
/// change from run to run or belong to other subsystems.
const EVENT_KEYS: &[&str] = &["SUBSYSTEM", "DRIVER", "MDEV_STATE"];

/// The fixed UUID number `n`, shown in the transcript as `u<n>`.
fn uuid(n: u32) -> String {
    format!("{UUID_PREFIX}{n:08x}")
}

const UUID_PREFIX: &str = "83b8f4f2-509f-4f2c-8c1e-e6bf";

/// `u<n>` for a UUID made by `uuid(n)`, the UUID itself otherwise.
fn label(u: &str) -> String {
    u.strip_prefix(UUID_PREFIX)
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .map_or_else(|| u.to_string(), |n| format!("u{n}"))
}

fn show_result(r: &WriteResult) -> String {
    match r {
        Ok(n) => n.to_string(),
        Err(e) if e.name() == "E?" => format!("errno {}", e.0),
        Err(e) => e.name().to_string(),
    }
}

/// What was written, quoted, with anything but printable ASCII escaped (`\n`, `\xff`).
fn show_bytes(data: &[u8]) -> String {
    format!("\"{}\"", data.escape_ascii())
}

/// One uevent: action, devpath and the keys of `EVENT_KEYS` that it has.
fn show_event(e: &Uevent) -> String {
    let mut line = format!("  uevent {} {}", e.action, tree::normalize_path(&e.devpath));
    for k in EVENT_KEYS {
        if let Some(v) = e.get(k) {
            line.push_str(&format!(" {k}={v}"));
        }
    }
    line
}

struct Scenario {
    v: Vendor,
    other: Option<Vendor>,
    events: Listener,
}

impl Scenario {
    /// Prints an operation and its result, then the uevents it caused (every event
    /// sent before the listener's fence, see `uevent::Listener::settle`) and the
    /// state it left. Events that cannot be read end the transcript with a failure:
    /// a transcript with events missing would compare wrongly.
    fn record(&self, what: &str, result: &str) {
        println!("{what} -> {result}");
        match self.events.settle() {
            Ok(events) => {
                for e in events {
                    println!("{}", show_event(&e));
                }
            }
            Err(e) => {
                println!("! uevents: {e}");
                std::process::exit(1);
            }
        }
        println!("  {}", self.state());
    }

    /// `available_instances` of every type of every parent, and the mdevs alive.
    fn state(&self) -> String {
        let mut parts = Vec::new();
        for v in std::iter::once(self.v).chain(self.other) {
            for t in v.p.types {
                let a = sysfs::read(&v.type_dir(t).join("available_instances"));
                let a = match a {
                    Ok(s) => s.trim_end().to_string(),
                    Err(e) => e.name().to_string(),
                };
                parts.push(format!("{}={a}", t.dir));
            }
        }
        let mdevs: Vec<String> = fixture::live_mdevs().iter().map(|u| label(u)).collect();
        let mdevs = if mdevs.is_empty() {
            "-".to_string()
        } else {
            mdevs.join(" ")
        };
        format!("avail {} | mdevs {mdevs}", parts.join(" "))
    }

    /// Writes `data` to `create` of type `t` of `v` and records it; returns whether
    /// the write was accepted. The outcome is in the transcript, not an error here.
    fn create(&self, v: &Vendor, t: &TypeSpec, data: &[u8]) -> bool {
        let r = v.create_raw(t, data);
        self.record(
            &format!("create {} {}", t.dir, show_bytes(data)),
            &show_result(&r),
        );
        r.is_ok()
    }

    /// Writes `data` to `remove` of mdev `u` and records it.
    fn remove(&self, u: &str, data: &[u8]) {
        let r = fixture::remove_raw(u, data);
        self.record(
            &format!("remove {} {}", label(u), show_bytes(data)),
            &show_result(&r),
        );
    }

    fn section(&self, title: &str) {
        println!();
        println!("== {title}");
    }

    /// The sysfs trees: the types of each parent, the compat class, the bus.
    fn trees(&self, title: &str) {
        self.section(&format!("tree: {title}"));
        let mut out = Vec::new();
        for v in std::iter::once(self.v).chain(self.other) {
            tree::list(&v.types_dir(), None, &mut out);
        }
        tree::list(Path::new(fixture::CLASS_DIR), None, &mut out);
        tree::list(Path::new(fixture::BUS_DIR), Some("devices"), &mut out);
        for line in out {
            println!("{line}");
        }
    }

    fn second_type(&self) -> &'static TypeSpec {
        self.v.second_type().unwrap_or(self.v.first_type())
    }

    fn run(&self) {
        let t1 = self.v.first_type();
        let t2 = self.second_type();
        let last = self.v.p.types.last().unwrap_or(t1);

        self.trees("initial");

        self.section("create: accepted forms (each removed again)");
        let lower = uuid(10);
        let forms: Vec<(String, Vec<u8>)> = vec![
            (lower.clone(), lower.clone().into_bytes()),
            (uuid(11), format!("{}\n", uuid(11)).into_bytes()),
            (uuid(12), uuid(12).to_uppercase().into_bytes()),
            (
                uuid(13),
                format!("{}\n", uuid(13).to_uppercase()).into_bytes(),
            ),
            (uuid(14), mixed_case(&uuid(14)).into_bytes()),
            // The C core parses only the first 36 bytes; the 37th may be anything.
            (uuid(15), format!("{}x", uuid(15)).into_bytes()),
            (uuid(16), format!("{} ", uuid(16)).into_bytes()),
        ];
        for (u, data) in &forms {
            if self.create(&self.v, t1, data) && fixture::mdev_dir(u).exists() {
                self.remove(u, b"1");
            }
        }

        self.section("create: refused forms");
        let u = uuid(17);
        let mut bad_hex = u.clone().into_bytes();
        bad_hex[0] = b'g';
        let mut moved_dash = u.clone().into_bytes();
        moved_dash.swap(7, 8);
        let mut with_nul = u.clone().into_bytes();
        with_nul[10] = 0;
        let refused: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"\n".to_vec(),
            b"1".to_vec(),
            u.as_bytes()[..35].to_vec(),
            format!("{}\n", &u[..35]).into_bytes(),
            u.replace('-', "").into_bytes(),
            format!("{u}\n\n").into_bytes(),
            format!("{u}00").into_bytes(),
            format!("{{{u}}}").into_bytes(),
            format!(" {u}").into_bytes(),
            bad_hex,
            moved_dash,
            with_nul,
            vec![b'-'; 36],
            vec![0xff; 36],
            b"this is not a uuid, not even close!!".to_vec(),
        ];
        for data in &refused {
            self.create(&self.v, t1, data);
            // Should one be accepted after all, take it away again so that the
            // rest of the scenario starts from the same state.
            if fixture::mdev_dir(&u).exists() {
                self.remove(&u, b"1");
            }
        }

        self.section("create: two mdevs of different types, one on the other parent");
        let (u1, u2, u3) = (uuid(1), uuid(2), uuid(3));
        self.create(&self.v, t1, u1.as_bytes());
        self.create(&self.v, t2, format!("{u2}\n").as_bytes());
        if let Some(o) = &self.other {
            self.create(o, o.first_type(), u3.as_bytes());
        }
        self.trees("with mdevs");

        self.section("create: duplicates");
        self.create(&self.v, t1, u1.as_bytes());
        self.create(&self.v, t1, format!("{u1}\n").as_bytes());
        self.create(&self.v, t2, u1.as_bytes());
        self.create(&self.v, t1, u1.to_uppercase().as_bytes());
        if let Some(o) = &self.other {
            self.create(o, o.first_type(), u1.as_bytes());
            self.create(&self.v, t1, u3.as_bytes());
        }

        self.section("remove: inputs");
        for data in [
            b"".as_slice(),
            b"0",
            b"0\n",
            b"0x0",
            b"00",
            b"garbage",
            b"1x",
            b"-1",
            b" 1",
            b"\n",
        ] {
            self.remove(&u1, data);
        }
        self.remove(&u1, b"1");
        self.remove(&u1, b"1");
        self.remove(&u2, b"0x1");
        if self.other.is_some() {
            self.remove(&u3, b"1\n");
        }
        for (n, data) in [(4, b"2".as_slice()), (5, b"+1"), (6, b"010")] {
            let u = uuid(n);
            self.create(&self.v, t1, u.as_bytes());
            self.remove(&u, data);
        }
        self.remove_twice_same_fd(t1, &uuid(7));
        self.trees("after remove");

        self.section(&format!("create: exhaustion of {}", last.dir));
        let mut created = Vec::new();
        let mut exhausted = false;
        for n in 100..100 + MAX_INSTANCES {
            let u = uuid(n);
            if !self.create(&self.v, last, u.as_bytes()) {
                exhausted = true;
                break;
            }
            created.push(u);
        }
        if !exhausted {
            println!("! {} not exhausted after {MAX_INSTANCES} creates", last.dir);
        }
        for u in &created {
            self.remove(u, b"1");
        }

        self.section(&format!("vendor: unload and reload {}", self.v.p.module));
        self.create(&self.v, t1, uuid(20).as_bytes());
        self.create(&self.v, t2, uuid(21).as_bytes());
        let u22 = uuid(22);
        if let Some(o) = &self.other {
            self.create(o, o.first_type(), u22.as_bytes());
        }
        let r = self.v.unload();
        self.record(
            &format!("unload {}", self.v.p.module),
            &r.map_or_else(|e| format!("! {e}"), |()| "ok".into()),
        );
        self.trees("vendor unloaded");
        let r = self.v.load();
        self.record(
            &format!("load {}", self.v.p.module),
            &r.map_or_else(|e| format!("! {e}"), |()| "ok".into()),
        );
        if self.other.is_some() {
            self.remove(&u22, b"1");
        }
        self.trees("vendor reloaded");

        self.section("end");
        println!("  {}", self.state());
    }

    /// Removes through one descriptor twice: the second write finds the file gone.
    fn remove_twice_same_fd(&self, t: &TypeSpec, u: &str) {
        self.create(&self.v, t, u.as_bytes());
        let what = format!("remove {} \"1\" twice through one descriptor", label(u));
        match sysfs::open_for_write(&fixture::mdev_dir(u).join("remove")) {
            Ok(mut f) => {
                let first = sysfs::write_fd(&mut f, b"1");
                let second = sysfs::write_fd(&mut f, b"1");
                self.record(
                    &what,
                    &format!("{}, then {}", show_result(&first), show_result(&second)),
                );
            }
            Err(e) => self.record(&what, &format!("open: {}", show_result(&Err(e)))),
        }
    }
}

/// Every other character of `u` in upper case.
fn mixed_case(u: &str) -> String {
    u.chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

fn parse_args() -> Result<(Vendor, Option<Vendor>), String> {
    let mut ids = Vec::new();
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--profile" | "--other" => {}
            _ if a.starts_with('-') => return Err(format!("unknown argument {a}")),
            _ => ids.push(a),
        }
    }
    let find = |id: &String| {
        profile::find(id)
            .map(|p| Vendor { p })
            .ok_or_else(|| format!("no profile {id}"))
    };
    match ids.as_slice() {
        [p] => Ok((find(p)?, None)),
        [p, o] if p != o => Ok((find(p)?, Some(find(o)?))),
        [_, _] => Err("the two parents must differ".into()),
        _ => Err("usage: mdev-transcript [--profile] ID [[--other] ID]".into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, file] = args.as_slice() {
        if flag == "--expect-rust" {
            return match std::fs::read_to_string(file) {
                Ok(text) => {
                    print!("{}", expectation::from_reference(&text));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("mdev-transcript: {file}: {e}");
                    ExitCode::from(2)
                }
            };
        }
    }
    let (v, other) = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mdev-transcript: {e}");
            return ExitCode::from(2);
        }
    };
    // Load before listening: the transcript starts from "vendors loaded, nothing
    // created", whatever the guest loaded on its own before.
    for p in std::iter::once(&v).chain(&other) {
        if let Err(e) = p.load() {
            println!("! set-up: {e}");
            return ExitCode::FAILURE;
        }
    }
    let left = fixture::live_mdevs();
    if !left.is_empty() {
        println!("! set-up: mdevs exist already: {}", left.join(" "));
        return ExitCode::FAILURE;
    }
    let events = match Listener::new() {
        Ok(l) => l,
        Err(e) => {
            println!("! set-up: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "mdev transcript: profile {}{}",
        v.p.id,
        other
            .map(|o| format!(", other parent {}", o.p.id))
            .unwrap_or_default()
    );
    Scenario { v, other, events }.run();
    ExitCode::SUCCESS
}
