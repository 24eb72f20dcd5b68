// SPDX-License-Identifier: GPL-2.0
//! UUIDs for the mdevs a test program creates.

use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering;

/// Hands out UUIDs that no earlier call gave, the same sequence on every run, so
/// that transcripts of two runs can be compared.
pub struct UuidSource {
    /// The first four groups and their dashes.
    prefix: &'static str,
    /// Added to the counter to make the last group.
    base: u64,
    next: AtomicU32,
}

impl UuidSource {
    /// UUIDs `<prefix><base + 1>`, `<prefix><base + 2>`, ..., the last group in
    /// 12 lower-case hex digits.
    pub const fn new(prefix: &'static str, base: u64) -> Self {
        UuidSource {
            prefix,
            base,
            next: AtomicU32::new(1),
        }
    }

    /// A fresh lower-case UUID.
    pub fn fresh(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{}{:012x}", self.prefix, self.base + u64::from(n))
    }
}
