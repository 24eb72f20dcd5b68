// SPDX-License-Identifier: GPL-2.0
//! What the project's test programs in the guest share (`mdev-conformance`,
//! `vfio-client`): KTAP output, watching the kernel log for reports, errno values
//! printed by name, test outcomes and the check macros.

pub mod check;
pub mod errno;
pub mod kernel;
pub mod kmsg;
pub mod ktap;
pub mod ktap_check;
pub mod release;
pub mod uuid;

pub use check::Fail;
pub use check::OrFail;
pub use check::TestResult;
