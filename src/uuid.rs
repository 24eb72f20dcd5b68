// SPDX-License-Identifier: GPL-2.0

//! UUIDs as the mdev ABI spells them, parsed by the kernel's own `guid_parse()`
//! (lib/uuid.c), as the C core's `create_store()` does: the same function gives the
//! same answers by construction.

use kernel::bindings;
use kernel::prelude::*;

use crate::sysfs::Written;

/// The length of a UUID string, without terminator.
const UUID_STRING_LEN: usize = 36;

/// A UUID in `guid_t` byte order (the first three fields little endian).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Uuid([u8; 16]);

impl Uuid {
    /// `guid_parse(s)`: 36 characters, dashes at offsets 8, 13, 18 and 23, hex digits
    /// (either case) everywhere else; characters after them are not looked at.
    /// `EINVAL` otherwise.
    fn guid_parse(s: &CStr) -> Result<Uuid> {
        let mut guid = bindings::guid_t { b: [0; 16] };
        // SAFETY: `s` is NUL-terminated and `guid` is writable; the function reads at
        // most up to the terminator.
        kernel::error::to_result(unsafe { bindings::guid_parse(s.as_char_ptr(), &mut guid) })?;
        Ok(Uuid(guid.b))
    }

    /// Parses what userspace wrote to a type's `create` file, as the C core's
    /// `create_store()` does: 36 or 37 bytes, else `EINVAL`; then the string up to
    /// the first NUL (`kstrndup()`) goes to `guid_parse()`, whose error is returned.
    pub(crate) fn parse_create(buf: Written<'_>) -> Result<Uuid> {
        let len = buf.as_bytes().len();
        if len != UUID_STRING_LEN && len != UUID_STRING_LEN + 1 {
            return Err(EINVAL);
        }
        Uuid::guid_parse(buf.as_c_str())
    }

    /// The UUID as a C `guid_t`.
    pub(crate) fn to_guid(self) -> bindings::guid_t {
        bindings::guid_t { b: self.0 }
    }
}

#[kunit_tests(mdev_rs_uuid)]
mod tests {
    use super::*;

    /// The UUID of `TEXT`, in `guid_t` byte order.
    const BYTES: [u8; 16] = [
        0xf2, 0xf4, 0xb8, 0x83, 0x9f, 0x50, 0x2f, 0x38, 0x3c, 0x1e, 0xe6, 0xbf, 0xe0, 0xfa, 0x10,
        0x01,
    ];

    fn create(with_nul: &[u8]) -> Result<[u8; 16]> {
        Ok(Uuid::parse_create(Written::new(with_nul)?)?.0)
    }

    #[test]
    fn parses_guid_byte_order() -> Result {
        assert_eq!(create(b"83b8f4f2-509f-382f-3c1e-e6bfe0fa1001\0")?, BYTES);
        assert_eq!(create(b"83B8F4F2-509F-382F-3C1E-E6BFE0FA1001\0")?, BYTES);
        assert_eq!(
            Uuid::parse_create(Written::new(b"00000000-0000-0000-0000-000000000000\0")?)?
                .to_guid()
                .b,
            [0; 16]
        );
        Ok(())
    }

    #[test]
    fn create_accepts_36_or_37_bytes() {
        assert!(create(b"83b8f4f2-509f-382f-3c1e-e6bfe0fa1001\n\0").is_ok());
        // The C core ignores the 37th byte, whatever it is.
        assert!(create(b"83b8f4f2-509f-382f-3c1e-e6bfe0fa1001x\0").is_ok());
        assert_eq!(
            create(b"83b8f4f2-509f-382f-3c1e-e6bfe0fa1001\n\n\0").err(),
            Some(EINVAL)
        );
        assert_eq!(
            create(b"83b8f4f2-509f-382f-3c1e-e6bfe0fa100\0").err(),
            Some(EINVAL)
        );
        assert_eq!(create(b"\0").err(), Some(EINVAL));
    }

    #[test]
    fn rejects_what_guid_parse_rejects() {
        let bad: [&[u8]; 5] = [
            b"83b8f4f2-509f-382f-3c1e-e6bfe0fa100g\0",
            b"83b8f4f2+509f-382f-3c1e-e6bfe0fa1001\0",
            b"------------------------------------\0",
            b"83b8f4f2-509f-382f-3c1e-e6bfe0fa10\n\n\0",
            // A NUL among the first 36 bytes ends the C string early.
            b"83b8f4f2-5\0\x39f-382f-3c1e-e6bfe0fa1001\0",
        ];
        for bad in bad {
            assert_eq!(create(bad).err(), Some(EINVAL));
        }
    }
}
