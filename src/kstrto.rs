// SPDX-License-Identifier: GPL-2.0

//! `kstrtoul()` for the `remove` attribute, whose ABI is what that function accepts:
//! an optional `+`, a number in base 10, 8 (leading `0`) or 16 (leading `0x`), an
//! optional single trailing newline, nothing else, and no overflow.

use kernel::bindings;
use kernel::ffi::c_ulong;
use kernel::prelude::*;

/// `kstrtoul(s, base, &v)`: `v`, or the function's errno (`EINVAL`, `ERANGE`).
///
/// `kstrtoul()` is a static inline (include/linux/kstrtox.h): where `unsigned long`
/// is as wide as `unsigned long long` it is `kstrtoull()`, which is what this calls;
/// elsewhere it is `_kstrtoul()`, marked internal, whose range check is the
/// `try_from` below.
pub(crate) fn kstrtoul(s: &CStr, base: u32) -> Result<c_ulong> {
    let mut v: u64 = 0;
    // SAFETY: `s` is NUL-terminated and `v` is writable; the function reads at most up
    // to the terminator.
    kernel::error::to_result(unsafe { bindings::kstrtoull(s.as_char_ptr(), base, &mut v) })?;
    c_ulong::try_from(v).map_err(|_| ERANGE)
}

#[kunit_tests(mdev_rs_kstrto)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_remove_accepts() -> Result {
        assert_eq!(kstrtoul(c"1", 0)?, 1);
        assert_eq!(kstrtoul(c"1\n", 0)?, 1);
        assert_eq!(kstrtoul(c"0", 0)?, 0);
        assert_eq!(kstrtoul(c"+1", 0)?, 1);
        assert_eq!(kstrtoul(c"0X1f", 0)?, 0x1f);
        assert_eq!(kstrtoul(c"010", 0)?, 8);
        assert_eq!(kstrtoul(c"18446744073709551615", 0)?, c_ulong::MAX);
        Ok(())
    }

    #[test]
    fn rejects_with_the_c_errno() {
        for bad in [
            c"", c"\n", c"-1", c" 1", c"1 ", c"1x", c"0x", c"08", c"1\n\n",
        ] {
            assert_eq!(kstrtoul(bad, 0).err(), Some(EINVAL));
        }
        assert_eq!(kstrtoul(c"18446744073709551616", 0).err(), Some(ERANGE));
    }
}
