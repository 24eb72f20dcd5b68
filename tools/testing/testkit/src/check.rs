// SPDX-License-Identifier: GPL-2.0
//! Test outcomes and the macros that end a test early.
//!
//! The macros return `Err(Fail)` from the enclosing test function.

use std::fmt;

/// Why a test did not pass.
pub enum Fail {
    Fail(String),
    Skip(String),
}

impl From<String> for Fail {
    fn from(s: String) -> Fail {
        Fail::Fail(s)
    }
}

impl From<&str> for Fail {
    fn from(s: &str) -> Fail {
        Fail::Fail(s.to_string())
    }
}

pub type TestResult = Result<(), Fail>;

/// Turns any error into a test failure that says what was being done.
pub trait OrFail<T> {
    fn or_fail(self, what: impl fmt::Display) -> Result<T, Fail>;
}

impl<T, E: fmt::Display> OrFail<T> for Result<T, E> {
    fn or_fail(self, what: impl fmt::Display) -> Result<T, Fail> {
        self.map_err(|e| Fail::Fail(format!("{what}: {e}")))
    }
}

/// Fails the test with a formatted message unless the condition holds.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::Fail::Fail(format!($($fmt)+)));
        }
    };
}

/// Fails the test unless the two values are equal, showing both.
#[macro_export]
macro_rules! check_eq {
    ($got:expr, $want:expr, $($fmt:tt)+) => {{
        let got = $got;
        let want = $want;
        if got != want {
            return Err($crate::Fail::Fail(format!(
                "{}: got {:?}, want {:?}", format!($($fmt)+), got, want
            )));
        }
    }};
}

/// Fails the test unless a call failed with exactly the given errno.
#[macro_export]
macro_rules! check_errno {
    ($res:expr, $want:expr, $($fmt:tt)+) => {{
        match $res {
            Err(e) if e == $want => {}
            Err(e) => {
                return Err($crate::Fail::Fail(format!(
                    "{}: failed with {e}, want {}", format!($($fmt)+), $want
                )))
            }
            Ok(_) => {
                return Err($crate::Fail::Fail(format!(
                    "{}: succeeded, want {}", format!($($fmt)+), $want
                )))
            }
        }
    }};
}

/// Skips the test.
#[macro_export]
macro_rules! skip {
    ($($fmt:tt)+) => {
        return Err($crate::Fail::Skip(format!($($fmt)+)))
    };
}
