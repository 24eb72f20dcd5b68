// SPDX-License-Identifier: GPL-2.0
//! `ktap-check [FILE]`: reads a suite's KTAP report (FILE, or stdin) strictly and
//! prints what it found, for tools/testing/run-tests:
//!
//! - one line `# ktap-check: line N: PROBLEM` for each problem (see
//!   `mdev_testkit::ktap_check` for the grammar);
//! - then one line `counts P F S`: the passed, failed and skipped leaf tests read.
//!
//! Exits 0 when the report is well-formed, 1 when it is not, 2 when it cannot be read.
use std::io::Read;

fn main() {
    let mut text = Vec::new();
    let got = match std::env::args_os().nth(1) {
        Some(path) => std::fs::read(&path).map(|t| text = t),
        None => std::io::stdin().read_to_end(&mut text).map(|_| ()),
    };
    if let Err(e) = got {
        eprintln!("ktap-check: {e}");
        std::process::exit(2);
    }
    let reading = mdev_testkit::ktap_check::read(&text);
    for p in &reading.problems {
        println!("# ktap-check: line {}: {}", p.line, p.what);
    }
    let c = reading.counts;
    println!("counts {} {} {}", c.passed, c.failed, c.skipped);
    std::process::exit(if reading.well_formed() { 0 } else { 1 });
}
