// SPDX-License-Identifier: GPL-2.0

//! UUIDs as the mdev ABI spells them.
//!
//! Parsing follows `guid_parse()` of lib/uuid.c exactly: 36 characters, dashes at
//! offsets 8, 13, 18 and 23 and hex digits (either case) everywhere else, stored in
//! `guid_t` byte order. Formatting follows `%pUl`: lower case, the same byte order,
//! so the name of an mdev is the UUID userspace wrote, in lower case.

use core::fmt;

use kernel::bindings;
use kernel::prelude::*;

/// The length of a UUID string, without terminator.
pub(crate) const UUID_STRING_LEN: usize = 36;

/// Where each byte of a `guid_t` comes from in the string, two hex digits each
/// (`guid_index` in lib/uuid.c): the first three fields are little endian.
const GUID_INDEX: [usize; 16] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
/// The string offset of each byte's two digits, in string order.
const SI: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
const DASHES: [usize; 4] = [8, 13, 18, 23];

/// A UUID in `guid_t` byte order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Uuid([u8; 16]);

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl Uuid {
    /// Parses the first 36 bytes of `s` as `guid_parse()` does; bytes after them are
    /// not looked at.
    pub(crate) fn parse(s: &[u8]) -> Result<Uuid> {
        let s = s.get(..UUID_STRING_LEN).ok_or(EINVAL)?;
        for (i, &c) in s.iter().enumerate() {
            let ok = if DASHES.contains(&i) {
                c == b'-'
            } else {
                hex_value(c).is_some()
            };
            if !ok {
                return Err(EINVAL);
            }
        }
        let mut b = [0u8; 16];
        for (i, &at) in SI.iter().enumerate() {
            let hi = hex_value(s[at]).ok_or(EINVAL)?;
            let lo = hex_value(s[at + 1]).ok_or(EINVAL)?;
            b[GUID_INDEX[i]] = (hi << 4) | lo;
        }
        Ok(Uuid(b))
    }

    /// Parses what userspace wrote to a type's `create` file, with the C core's rule:
    /// 36 or 37 bytes (the 37th, normally a newline, is ignored), else `EINVAL`.
    pub(crate) fn parse_create(buf: &[u8]) -> Result<Uuid> {
        if buf.len() != UUID_STRING_LEN && buf.len() != UUID_STRING_LEN + 1 {
            return Err(EINVAL);
        }
        // The C core copies the buffer with kstrndup(), which stops at a NUL byte:
        // a NUL among the first 36 bytes shortens the string and parsing fails, which
        // `parse` gives too, since NUL is neither a hex digit nor a dash.
        Uuid::parse(buf)
    }

    /// The UUID as a C `guid_t`.
    pub(crate) fn to_guid(self) -> bindings::guid_t {
        bindings::guid_t { b: self.0 }
    }

    /// The 36 characters of the `%pUl` form.
    pub(crate) fn to_ascii(self) -> [u8; UUID_STRING_LEN] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b'-'; UUID_STRING_LEN];
        for (i, &at) in SI.iter().enumerate() {
            let v = self.0[GUID_INDEX[i]];
            out[at] = DIGITS[usize::from(v >> 4)];
            out[at + 1] = DIGITS[usize::from(v & 0xf)];
        }
        out
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.to_ascii() {
            write!(f, "{}", char::from(c))?;
        }
        Ok(())
    }
}

#[kunit_tests(mdev_rs_uuid)]
mod tests {
    use super::*;

    const TEXT: &[u8; 36] = b"83b8f4f2-509f-382f-3c1e-e6bfe0fa1001";

    #[test]
    fn parses_guid_byte_order() {
        let u = Uuid::parse(TEXT).unwrap_or(Uuid([0; 16]));
        // guid_t keeps the first three fields little endian.
        assert_eq!(
            u.0,
            [
                0xf2, 0xf4, 0xb8, 0x83, 0x9f, 0x50, 0x2f, 0x38, 0x3c, 0x1e, 0xe6, 0xbf, 0xe0, 0xfa,
                0x10, 0x01
            ]
        );
    }

    #[test]
    fn formats_like_pul() {
        let u = Uuid::parse(TEXT).unwrap_or(Uuid([0; 16]));
        assert_eq!(&u.to_ascii(), TEXT);
        let upper = b"83B8F4F2-509F-382F-3C1E-E6BFE0FA1001";
        let u = Uuid::parse(upper).unwrap_or(Uuid([0; 16]));
        assert_eq!(&u.to_ascii(), TEXT);
    }

    #[test]
    fn matches_c_guid_parse() -> Result {
        // The C parser is the reference: compare on valid and invalid inputs.
        let inputs: [&[u8]; 8] = [
            TEXT,
            b"83B8F4F2-509F-382F-3C1E-E6BFE0FA1001",
            b"83b8f4f2-509f-382f-3c1e-e6bfe0fa100g",
            b"83b8f4f2+509f-382f-3c1e-e6bfe0fa1001",
            b"83b8f4f2-509f-382f-3c1e-e6bfe0fa10",
            b"------------------------------------",
            b"00000000-0000-0000-0000-000000000000",
            b"83b8f4f2-509f-382f-3c1e-e6bfe0fa1001xyz",
        ];
        for input in inputs {
            let mut text = KVec::with_capacity(input.len() + 1, GFP_KERNEL)?;
            text.extend_from_slice(input, GFP_KERNEL)?;
            text.push(0, GFP_KERNEL)?;
            let mut guid = bindings::guid_t { b: [0; 16] };
            // SAFETY: `text` is NUL-terminated; `guid` is writable.
            let c = unsafe { bindings::guid_parse(text.as_ptr(), &mut guid) };
            match Uuid::parse(input) {
                Ok(u) => {
                    assert_eq!(c, 0);
                    assert_eq!(u.to_guid().b, guid.b);
                }
                Err(e) => {
                    assert_eq!(c, e.to_errno());
                }
            }
        }
        Ok(())
    }

    #[test]
    fn create_accepts_36_or_37_bytes() {
        assert!(Uuid::parse_create(TEXT).is_ok());
        assert!(Uuid::parse_create(b"83b8f4f2-509f-382f-3c1e-e6bfe0fa1001\n").is_ok());
        // The C core ignores the 37th byte, whatever it is.
        assert!(Uuid::parse_create(b"83b8f4f2-509f-382f-3c1e-e6bfe0fa1001x").is_ok());
        assert!(Uuid::parse_create(b"83b8f4f2-509f-382f-3c1e-e6bfe0fa1001\n\n").is_err());
        assert!(Uuid::parse_create(b"83b8f4f2-509f-382f-3c1e-e6bfe0fa100").is_err());
        assert!(Uuid::parse_create(b"").is_err());
        let mut nul = *TEXT;
        nul[10] = 0;
        assert!(Uuid::parse_create(&nul).is_err());
    }
}
