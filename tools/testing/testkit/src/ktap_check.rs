// SPDX-License-Identifier: GPL-2.0
//! Reading a KTAP report back, strictly: the harness decides a suite's result from
//! this, never from a pattern found somewhere in the output.
//!
//! The grammar is KTAP version 1 (Documentation/dev-tools/ktap.rst) as the project's
//! suites and KUnit write it, and nothing more:
//!
//! - every document (the report and each nested subtest) starts with
//!   `KTAP version 1`, optionally preceded by diagnostic lines such as
//!   `# Subtest: NAME`, and has a plan `1..N` before its first result;
//! - result lines `ok N [DESCRIPTION] [# DIRECTIVE]` and `not ok N ...`, numbered from
//!   1 without gaps, exactly as many as the plan says;
//! - diagnostic lines `#` and `# TEXT`;
//! - a subtest is a document indented four spaces deeper, followed by its parent's
//!   result line, which must be `not ok` when any test inside failed;
//! - the report ends with kselftest's `# Totals: pass:P fail:F xfail:0 xpass:0 skip:S
//!   error:0` (tools/testing/selftests/kselftest.h, `ksft_print_cnts()`) and then the
//!   project's closing line `P passed, F failed`; the counts of both must equal the
//!   leaf results read (a skipped test, `ok N NAME # SKIP ...`, counts as skipped, not
//!   as passed). A subtest may end with a `# Totals:` line of its own (a suite nested
//!   by lib/debug-suite.sh), which must equal that subtest's results; xfail, xpass
//!   and error must be 0, results the project's reports never give. KUnit's own
//!   `# Totals: pass:P fail:F skip:S total:T` (of parameterised tests) is only a
//!   diagnostic line.
//!
//! Any other line (a message some program wrote to stderr, a line cut short, a
//! carriage return, a tab, invalid UTF-8), and output that does not end with a
//! newline, is a problem: the caller fails the suite.

/// The leaf results of a report.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl core::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.passed += o.passed;
        self.failed += o.failed;
        self.skipped += o.skipped;
    }
}

/// One thing wrong with a report, at a line (1-based; 0 for the report as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub what: String,
}

/// What reading a report found: the leaf counts and every problem.
#[derive(Debug, Default)]
pub struct Reading {
    pub counts: Counts,
    pub problems: Vec<Problem>,
}

impl Reading {
    /// A report is well-formed when nothing was wrong with it.
    pub fn well_formed(&self) -> bool {
        self.problems.is_empty()
    }
}

enum Line<'a> {
    Version,
    Plan(usize),
    Result {
        ok: bool,
        number: usize,
        skip: bool,
    },
    Diagnostic,
    /// kselftest's `# Totals:` line; the values of xfail, xpass and error are summed
    /// (the project has none of them).
    Totals(Counts, usize),
    /// A line that starts like kselftest's `# Totals:` but is not one.
    BadTotals,
    Tally(usize, usize, Option<usize>),
    Unknown(&'a str),
}

fn number(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn classify(text: &str) -> Line<'_> {
    if text == "KTAP version 1" {
        return Line::Version;
    }
    if let Some(rest) = text.strip_prefix("# Totals: ") {
        if rest.contains("xfail:") {
            return totals(rest).unwrap_or(Line::BadTotals);
        }
    }
    if text == "#" || text.starts_with("# ") {
        return Line::Diagnostic;
    }
    if let Some(n) = text.strip_prefix("1..").and_then(number) {
        return Line::Plan(n);
    }
    let (ok, rest) = if let Some(r) = text.strip_prefix("ok ") {
        (true, r)
    } else if let Some(r) = text.strip_prefix("not ok ") {
        (false, r)
    } else {
        return tally(text).unwrap_or(Line::Unknown(text));
    };
    let (num, tail) = rest.split_once(' ').unwrap_or((rest, ""));
    let Some(number) = number(num) else {
        return Line::Unknown(text);
    };
    let skip = tail
        .split_once(" # ")
        .map(|(_, d)| d)
        .or_else(|| tail.strip_prefix("# "))
        .is_some_and(|d| d.get(..4).is_some_and(|w| w.eq_ignore_ascii_case("skip")));
    Line::Result { ok, number, skip }
}

/// The rest of `# Totals: pass:P fail:F xfail:X xpass:Y skip:S error:E`, exactly in
/// that order and form.
fn totals(rest: &str) -> Option<Line<'static>> {
    let mut it = rest.split(' ');
    let mut field = |name: &str| number(it.next()?.strip_prefix(name)?.strip_prefix(':')?);
    let passed = field("pass")?;
    let failed = field("fail")?;
    let others = field("xfail")? + field("xpass")?;
    let skipped = field("skip")?;
    let others = others + field("error")?;
    if it.next().is_some() {
        return None;
    }
    let c = Counts {
        passed,
        failed,
        skipped,
    };
    Some(Line::Totals(c, others))
}

/// `P passed, F failed`, optionally followed by `, S skipped`.
fn tally(text: &str) -> Option<Line<'_>> {
    let mut it = text.split(", ");
    let p = number(it.next()?.strip_suffix(" passed")?)?;
    let f = number(it.next()?.strip_suffix(" failed")?)?;
    let s = match it.next() {
        None => None,
        Some(s) => Some(number(s.strip_suffix(" skipped")?)?),
    };
    if it.next().is_some() {
        return None;
    }
    Some(Line::Tally(p, f, s))
}

/// One open document: the report or a subtest.
#[derive(Default)]
struct Doc {
    /// Line of its first line, for messages.
    start: usize,
    version: bool,
    plan: Option<usize>,
    results: usize,
    /// Leaf counts of everything inside.
    counts: Counts,
    /// A subtest that ended and waits for this document's next result line.
    pending: Option<Counts>,
    /// Its `# Totals:` line: the counts and the line number.
    totals: Option<(Counts, usize)>,
}

struct Reader {
    stack: Vec<Doc>,
    problems: Vec<Problem>,
    tally: Option<(usize, usize, Option<usize>, usize)>,
}

impl Reader {
    fn problem(&mut self, line: usize, what: impl Into<String>) {
        self.problems.push(Problem {
            line,
            what: what.into(),
        });
    }

    /// Closes the innermost subtest; it becomes the pending subtest of its parent,
    /// which must give its result next. The report itself is never closed here.
    fn close(&mut self, at: usize) {
        if self.stack.len() < 2 {
            return;
        }
        let Some(doc) = self.stack.pop() else { return };
        self.finish(&doc, at);
        let earlier = self.stack.last().is_some_and(|p| p.pending.is_some());
        if earlier {
            self.problem(doc.start, "the subtest before this one has no result line");
        }
        if let Some(parent) = self.stack.last_mut() {
            parent.pending = Some(doc.counts);
        }
    }

    fn finish(&mut self, doc: &Doc, at: usize) {
        if let Some((t, no)) = doc.totals {
            if t != doc.counts {
                self.problem(
                    no,
                    format!(
                        "`# Totals:` says pass:{} fail:{} skip:{}; the results read say pass:{} fail:{} skip:{}",
                        t.passed, t.failed, t.skipped, doc.counts.passed, doc.counts.failed, doc.counts.skipped
                    ),
                );
            }
        }
        if !doc.version {
            self.problem(doc.start, "a document without a `KTAP version 1` line");
        }
        if doc.pending.is_some() {
            self.problem(at, "the last subtest has no result line");
        }
        match doc.plan {
            None => self.problem(doc.start, "a document without a plan `1..N`"),
            Some(p) if p != doc.results => self.problem(
                at,
                format!(
                    "the document from line {} planned {p} tests and reported {}",
                    doc.start, doc.results
                ),
            ),
            _ => {}
        }
    }

    fn line(&mut self, no: usize, depth: usize, line: Line<'_>) {
        let deepest = self.stack.len() - 1;
        if depth > deepest + 1 {
            self.problem(no, "indented deeper than a subtest can be");
            return;
        }
        if depth == deepest + 1 {
            if matches!(line, Line::Result { .. }) || matches!(line, Line::Plan(_)) {
                let top = &self.stack[deepest];
                if !top.version || top.plan.is_none() {
                    self.problem(no, "a subtest before its parent's version and plan");
                }
            }
            self.stack.push(Doc {
                start: no,
                ..Doc::default()
            });
        }
        while self.stack.len() - 1 > depth {
            self.close(no);
        }
        if self.tally.is_some() {
            self.problem(no, "a line after the closing `P passed, F failed` line");
        }
        let doc = self.stack.len() - 1;
        match line {
            Line::Version => {
                let d = &self.stack[doc];
                let late = d.version || d.plan.is_some() || d.results > 0;
                if late {
                    self.problem(no, "`KTAP version 1` in the middle of a document");
                }
                self.stack[doc].version = true;
            }
            Line::Plan(n) => {
                let d = &self.stack[doc];
                let (version, late) = (d.version, d.plan.is_some() || d.results > 0);
                if !version {
                    self.problem(no, "a plan before `KTAP version 1`");
                }
                if late {
                    self.problem(no, "a second plan, or a plan after results");
                }
                self.stack[doc].plan = Some(n);
            }
            Line::Result { ok, number, skip } => {
                let d = &mut self.stack[doc];
                let planned = d.plan.is_some();
                d.results += 1;
                let expected = d.results;
                let child = d.pending.take();
                let mut leaf = Counts::default();
                match child {
                    // A subtest that failed with nothing failing inside (a suite whose
                    // set-up failed) is a failure of its own.
                    Some(c) if !ok && c.failed == 0 => {
                        leaf = c;
                        leaf.failed = 1;
                    }
                    Some(c) => leaf = c,
                    None if !ok => leaf.failed = 1,
                    None if skip => leaf.skipped = 1,
                    None => leaf.passed = 1,
                }
                d.counts += leaf;
                if !planned {
                    self.problem(no, "a result before the document's plan");
                }
                if number != expected {
                    self.problem(no, format!("result number {number}, expected {expected}"));
                }
                if let Some(c) = child {
                    if ok && c.failed > 0 {
                        self.problem(no, "reported `ok` although a test inside it failed");
                    }
                }
            }
            Line::Diagnostic => {}
            Line::Totals(c, others) => {
                if others != 0 {
                    self.problem(no, "`# Totals:` counts xfail, xpass or error results");
                }
                if self.stack[doc].totals.is_some() {
                    self.problem(no, "a second `# Totals:` line in a document");
                }
                self.stack[doc].totals = Some((c, no));
            }
            Line::BadTotals => self.problem(no, "a malformed kselftest `# Totals:` line"),
            Line::Tally(p, f, skipped) => {
                if doc != 0 {
                    self.problem(no, "a `P passed, F failed` line inside a subtest");
                } else {
                    self.tally = Some((p, f, skipped, no));
                }
            }
            Line::Unknown(text) => {
                let mut shown: String = text.chars().take(80).collect();
                if shown.len() < text.len() {
                    shown.push('…');
                }
                self.problem(no, format!("not a KTAP line: {shown:?}"));
            }
        }
    }
}

/// Reads a whole report. `text` is the raw output of a suite.
pub fn read(text: &[u8]) -> Reading {
    let mut r = Reader {
        stack: vec![Doc {
            start: 1,
            ..Doc::default()
        }],
        problems: Vec::new(),
        tally: None,
    };
    let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    // The piece after the last newline: empty when the output ends with one.
    let last = lines.pop().unwrap_or_default();
    let count = lines.len();
    if !last.is_empty() {
        r.problem(
            count + 1,
            "the output ends in the middle of a line (no newline): cut short?",
        );
    }
    for (i, raw) in lines.iter().enumerate() {
        let no = i + 1;
        let Ok(s) = core::str::from_utf8(raw) else {
            r.problem(no, "not UTF-8");
            continue;
        };
        if let Some(c) = s.chars().find(|c| c.is_control()) {
            r.problem(no, format!("a control character {c:?} in the line"));
            continue;
        }
        let body = s.trim_start_matches(' ');
        let indent = s.len() - body.len();
        if indent % 4 != 0 {
            r.problem(
                no,
                format!("indented by {indent} spaces, not a multiple of 4"),
            );
            continue;
        }
        r.line(no, indent / 4, classify(body));
    }
    while r.stack.len() > 1 {
        r.close(count + 1);
    }
    let top = r.stack.pop().unwrap_or_default();
    r.finish(&top, count + 1);
    let counts = top.counts;
    match (top.totals, r.tally) {
        (None, _) => r.problem(count + 1, NO_TOTALS),
        (Some((_, at)), Some((_, _, _, no))) if at + 1 != no => r.problem(
            at,
            "the `# Totals:` line is not the line right before the closing line",
        ),
        _ => {}
    }
    match r.tally {
        None => r.problem(
            count + 1,
            "no closing `P passed, F failed` line: the run ended early?",
        ),
        Some((p, f, _, no)) if (p, f) != (counts.passed, counts.failed) => r.problem(
            no,
            format!(
                "the closing line says {p} passed, {f} failed; the results read say {} passed, {} failed",
                counts.passed, counts.failed
            ),
        ),
        Some((_, _, Some(s), no)) if s != counts.skipped => r.problem(
            no,
            format!(
                "the closing line says {s} skipped; the results read say {}",
                counts.skipped
            ),
        ),
        _ => {}
    }
    Reading {
        counts,
        problems: r.problems,
    }
}

/// The problem of a report without its `# Totals:` line.
const NO_TOTALS: &str = "no `# Totals:` line before the closing line";

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(doc: &str) -> Counts {
        let r = read(doc.as_bytes());
        assert!(r.well_formed(), "{doc:?}: {:?}", r.problems);
        r.counts
    }

    /// `doc` is refused for something else than a missing `# Totals:` line, so each
    /// document below tests the defect it was written for even without that line.
    fn bad(doc: &str) -> Vec<Problem> {
        let r = read(doc.as_bytes());
        assert!(
            r.problems.iter().any(|p| p.what != NO_TOTALS),
            "accepted, apart from a missing `# Totals:` line: {doc:?}"
        );
        r.problems
    }

    fn counts(passed: usize, failed: usize, skipped: usize) -> Counts {
        Counts {
            passed,
            failed,
            skipped,
        }
    }

    #[test]
    fn flat_report() {
        let doc = "KTAP version 1\n1..3\nok 1 a\n# why\nnot ok 2 b\nok 3 c # SKIP no\n# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:1 error:0\n1 passed, 1 failed\n";
        assert_eq!(ok(doc), counts(1, 1, 1));
    }

    #[test]
    fn nested_like_kunit_and_run_tests() {
        let doc = "KTAP version 1\n1..2\n    KTAP version 1\n    # Subtest: s\n    # module: m\n    1..2\n    ok 1 x\n    ok 2 y\n# s: pass:2\nok 1 s\n    # Subtest: t\n    KTAP version 1\n    1..1\n    not ok 1 z\nnot ok 2 t\n# Totals: pass:2 fail:1 xfail:0 xpass:0 skip:0 error:0\n2 passed, 1 failed\n";
        assert_eq!(ok(doc), counts(2, 1, 0));
    }

    #[test]
    fn a_slow_not_ok_cut_to_ok_is_caught_by_the_tally() {
        // What the old runner could turn `not ok 1 x` into.
        bad("KTAP version 1\n1..1\nok 1 x\n0 passed, 1 failed\n");
    }

    #[test]
    fn clipped_lines_are_problems() {
        bad("KTAP version 1\n1..1\nk 1 x\n1 passed, 0 failed\n");
        bad("KTAP version 1\n1..1\nok 1 x\n why\n1 passed, 0 failed\n");
        bad("TAP version 1\n1..1\nok 1 x\n1 passed, 0 failed\n");
        bad("KTAP version 1\n1..1\nok 1 x\n1 passed, 0 failed");
    }

    #[test]
    fn stray_output_is_a_problem() {
        bad("KTAP version 1\n1..1\nmodprobe: module x not found\nok 1 x\n1 passed, 0 failed\n");
        bad("KTAP version 1\n1..1\nok 1 x\r\n1 passed, 0 failed\n");
        bad("KTAP version 1\n1..1\n\tok 1 x\n1 passed, 0 failed\n");
        bad("KTAP version 1\n1..1\n\nok 1 x\n1 passed, 0 failed\n");
        bad("KTAP version 1\n1..1\nok 1 x\n1 passed, 0 failed\nok 2 y\n");
        assert!(!read(b"KTAP version 1\n1..1\nok 1 \xff\n1 passed, 0 failed\n").well_formed());
    }

    #[test]
    fn plan_and_numbering() {
        bad("KTAP version 1\n1..2\nok 1 x\n1 passed, 0 failed\n");
        bad("KTAP version 1\n1..1\nok 1 x\nok 2 y\n2 passed, 0 failed\n");
        bad("KTAP version 1\n1..2\nok 1 x\nok 3 y\n2 passed, 0 failed\n");
        bad("KTAP version 1\nok 1 x\n1 passed, 0 failed\n");
        bad("1..1\nok 1 x\n1 passed, 0 failed\n");
        bad("KTAP version 1\n1..0\n");
        ok("KTAP version 1\n1..0\n# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0\n0 passed, 0 failed\n");
    }

    #[test]
    fn subtests_must_agree_with_their_parent() {
        // A failure inside, `ok` outside.
        bad("KTAP version 1\n1..1\n    KTAP version 1\n    1..1\n    not ok 1 y\nok 1 s\n0 passed, 1 failed\n");
        // A subtest with no result line.
        bad("KTAP version 1\n1..1\nok 1 a\n    KTAP version 1\n    1..1\n    ok 1 y\n1 passed, 0 failed\n");
        // A subtest cut short.
        bad("KTAP version 1\n1..1\n    KTAP version 1\n    1..2\n    ok 1 y\nok 1 s\n1 passed, 0 failed\n");
        // Too deep.
        bad("KTAP version 1\n1..1\n        ok 1 y\nok 1 s\n1 passed, 0 failed\n");
        // Indentation that is not a multiple of four.
        bad("KTAP version 1\n1..1\n  ok 1 y\nok 1 s\n1 passed, 0 failed\n");
    }

    #[test]
    fn the_tally_must_match() {
        bad("KTAP version 1\n1..1\nok 1 x\n");
        bad("KTAP version 1\n1..2\nok 1 x\nnot ok 2 y\n2 passed, 0 failed\n");
        bad("KTAP version 1\n1..1\nok 1 x # SKIP\n1 passed, 0 failed\n");
        assert_eq!(
            ok("KTAP version 1\n1..1\nok 1 x # SKIP because\n# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:1 error:0\n0 passed, 0 failed, 1 skipped\n"),
            counts(0, 0, 1)
        );
        bad("KTAP version 1\n1..1\n    KTAP version 1\n    1..1\n    ok 1 y\n    1 passed, 0 failed\nok 1 s\n1 passed, 0 failed\n");
    }

    #[test]
    fn a_failed_subtest_with_nothing_failed_inside_is_a_failure() {
        bad("KTAP version 1\n1..1\n    KTAP version 1\n    1..0\nnot ok 1 s\n0 passed, 0 failed\n");
        assert_eq!(
            ok("KTAP version 1\n1..1\n    KTAP version 1\n    1..1\n    ok 1 a\nnot ok 1 s\n# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:0 error:0\n1 passed, 1 failed\n"),
            counts(1, 1, 0)
        );
    }

    #[test]
    fn the_skipped_count_must_match_when_given() {
        bad("KTAP version 1\n1..1\nok 1 x # SKIP why\n0 passed, 0 failed, 2 skipped\n");
        ok("KTAP version 1\n1..1\nok 1 x # skip why\n# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:1 error:0\n0 passed, 0 failed, 1 skipped\n");
    }

    #[test]
    fn the_totals_line_must_be_there_and_match() {
        const T: &str = "KTAP version 1\n1..2\nok 1 a\nok 2 b # SKIP why\n";
        assert_eq!(
            ok(&format!(
                "{T}# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:1 error:0\n1 passed, 0 failed\n"
            )),
            counts(1, 0, 1)
        );
        // Missing, false in each count, after the closing line, twice, malformed, not
        // right before the closing line.
        let missing = read(format!("{T}1 passed, 0 failed\n").as_bytes()).problems;
        assert!(
            missing.len() == 1 && missing[0].what == NO_TOTALS,
            "{missing:?}"
        );
        bad(&format!(
            "{T}# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:1 error:0\n# why\n1 passed, 0 failed\n"
        ));
        bad(&format!(
            "KTAP version 1\n# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:1 error:0\n1..2\nok 1 a\nok 2 b # SKIP why\n1 passed, 0 failed\n"
        ));
        bad(&format!(
            "{T}# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:1 error:0\n1 passed, 0 failed\n"
        ));
        bad(&format!(
            "{T}# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:1 error:0\n1 passed, 0 failed\n"
        ));
        bad(&format!(
            "{T}# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0\n1 passed, 0 failed\n"
        ));
        bad(&format!(
            "{T}# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:1 error:1\n1 passed, 0 failed\n"
        ));
        bad(&format!(
            "{T}1 passed, 0 failed\n# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:1 error:0\n"
        ));
        bad(&format!("{T}# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:1 error:0\n# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:1 error:0\n1 passed, 0 failed\n"));
        bad(&format!(
            "{T}# Totals: pass:1 fail:0 xfail:0 skip:1 error:0\n1 passed, 0 failed\n"
        ));
        bad(&format!(
            "{T}# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:1 error:0 \n1 passed, 0 failed\n"
        ));
    }

    #[test]
    fn a_subtest_totals_line_must_match_the_subtest() {
        let doc = |sub: &str| {
            format!("KTAP version 1\n1..2\n    KTAP version 1\n    1..2\n    ok 1 a\n    ok 2 b # SKIP why\n    # Totals: {sub}\n    # 1 passed, 0 failed\nok 1 s\nok 2 t\n# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:1 error:0\n2 passed, 0 failed\n")
        };
        assert_eq!(
            ok(&doc("pass:1 fail:0 xfail:0 xpass:0 skip:1 error:0")),
            counts(2, 0, 1)
        );
        bad(&doc("pass:2 fail:0 xfail:0 xpass:0 skip:1 error:0"));
        // KUnit's form is a diagnostic, not checked.
        ok(&doc("pass:7 fail:0 skip:0 total:7"));
    }

    #[test]
    fn problems_name_their_line() {
        let p = bad("KTAP version 1\n1..1\nok 1 x\nnot ok\n1 passed, 0 failed\n");
        assert_eq!(p[0].line, 4, "{p:?}");
    }
}
