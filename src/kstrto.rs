// SPDX-License-Identifier: GPL-2.0

//! `kstrtoul(s, 0, &v)` for the `remove` attribute, whose ABI is what that function
//! accepts: an optional `+`, a number in base 10, 8 (leading `0`) or 16 (leading `0x`),
//! an optional single trailing newline, nothing else, and no overflow. Like the C
//! function, which reads a C string, it stops at the first NUL byte.

use kernel::prelude::*;

/// Parses `s` as `kstrtoul(s, 0, ...)` does; every error is `EINVAL`, which is what
/// the C core's `remove` attribute returns for any of them.
pub(crate) fn parse_ulong(s: &[u8]) -> Result<u64> {
    let s = s.split(|&b| b == 0).next().unwrap_or(s);
    let s = s.strip_prefix(b"+").unwrap_or(s);
    let (base, digits) = if let Some(rest) = s.strip_prefix(b"0x").or_else(|| s.strip_prefix(b"0X"))
    {
        (16, rest)
    } else if s.len() > 1 && s[0] == b'0' && s[1] != b'\n' {
        (8, &s[1..])
    } else {
        (10, s)
    };
    let digits = digits.strip_suffix(b"\n").unwrap_or(digits);
    if digits.is_empty() {
        return Err(EINVAL);
    }
    let mut v: u64 = 0;
    for &c in digits {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return Err(EINVAL),
        };
        if u32::from(d) >= base {
            return Err(EINVAL);
        }
        v = v
            .checked_mul(u64::from(base))
            .and_then(|v| v.checked_add(u64::from(d)))
            .ok_or(EINVAL)?;
    }
    Ok(v)
}

#[kunit_tests(mdev_rs_kstrto)]
mod tests {
    use super::*;
    use kernel::bindings;

    #[test]
    fn matches_c_kstrtoull() -> Result {
        let inputs: [&[u8]; 22] = [
            b"1",
            b"1\n",
            b"0",
            b"0\n",
            b"0x1",
            b"0X1f",
            b"+1",
            b"010",
            b"08",
            b"2",
            b"",
            b"\n",
            b"-1",
            b" 1",
            b"1 ",
            b"1x",
            b"0x",
            b"abc",
            b"1\n\n",
            b"18446744073709551615",
            b"18446744073709551616",
            b"0x10000000000000000",
        ];
        for input in inputs {
            let mut text = KVec::with_capacity(input.len() + 1, GFP_KERNEL)?;
            text.extend_from_slice(input, GFP_KERNEL)?;
            text.push(0, GFP_KERNEL)?;
            let mut c_value: u64 = 0;
            // SAFETY: `text` is NUL-terminated; `c_value` is writable.
            let c = unsafe { bindings::kstrtoull(text.as_ptr(), 0, &mut c_value) };
            match parse_ulong(input) {
                Ok(v) => {
                    assert_eq!(c, 0);
                    assert_eq!(v, c_value);
                }
                Err(_) => assert!(c < 0),
            }
        }
        Ok(())
    }

    #[test]
    fn stops_at_nul_like_c() {
        // sysfs passes the whole write, NUL bytes included; the C function sees a
        // C string, which ends at the first of them.
        assert_eq!(parse_ulong(b"1\0").ok(), Some(1));
        assert_eq!(parse_ulong(b"0x10\0garbage").ok(), Some(16));
        assert!(parse_ulong(b"\0").is_err());
        assert!(parse_ulong(b"\x001").is_err());
    }
}
