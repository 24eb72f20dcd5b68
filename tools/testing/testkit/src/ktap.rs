// SPDX-License-Identifier: GPL-2.0
//! KTAP output (Documentation/dev-tools/ktap.rst) and the closing lines: kselftest's
//! `# Totals:` and the project's `P passed, F failed`.

/// How one test ended.
pub enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

/// Writes a KTAP version 1 report to stdout as the tests run.
pub struct Reporter {
    next: usize,
    passed: usize,
    failed: usize,
    skipped: usize,
}

impl Reporter {
    /// Starts a report of `planned` tests.
    pub fn new(planned: usize) -> Self {
        println!("KTAP version 1");
        println!("1..{planned}");
        Reporter {
            next: 1,
            passed: 0,
            failed: 0,
            skipped: 0,
        }
    }

    /// A diagnostic line, shown as a KTAP comment.
    pub fn diag(text: &str) {
        for line in text.lines() {
            println!("# {line}");
        }
    }

    /// Records the result of the next test.
    pub fn result(&mut self, name: &str, outcome: Outcome) {
        let n = self.next;
        self.next += 1;
        match outcome {
            Outcome::Pass => {
                self.passed += 1;
                println!("ok {n} {name}");
            }
            Outcome::Skip(why) => {
                self.skipped += 1;
                println!("ok {n} {name} # SKIP {why}");
            }
            Outcome::Fail(why) => {
                self.failed += 1;
                Self::diag(&why);
                println!("not ok {n} {name}");
            }
        }
    }

    /// Prints the tally; returns whether every test passed or was skipped.
    pub fn finish(self) -> bool {
        Self::closing_lines(self.passed, self.failed, self.skipped);
        self.failed == 0
    }

    /// The lines that end a report: kselftest's `# Totals:` (as
    /// tools/testing/selftests/kselftest.h prints it; the project has no xfail, xpass
    /// or error results), then the project's closing `P passed, F failed`, the last
    /// line. A skipped test counts as skipped only, not as passed.
    pub fn closing_lines(passed: usize, failed: usize, skipped: usize) {
        println!("# Totals: pass:{passed} fail:{failed} xfail:0 xpass:0 skip:{skipped} error:0");
        println!("{passed} passed, {failed} failed");
    }
}

/// Parses the value of a `--skip NAME=REASON` option: a test not to run, reported as
/// skipped with REASON (a known fault of the reference). Both parts must be
/// non-empty.
pub fn parse_skip(v: &str) -> Result<(String, String), String> {
    v.split_once('=')
        .filter(|(n, r)| !n.is_empty() && !r.is_empty())
        .map(|(n, r)| (n.to_string(), r.to_string()))
        .ok_or_else(|| format!("--skip takes NAME=REASON, not {v:?}"))
}
