//! Capabilities of the program: what it keeps inside its user namespace.
//!
//! A program whose uid is 0 inside would keep every capability across
//! `execve`, `CAP_SYS_ADMIN` included, and with it the power to remount a
//! read-only bind read-write or unmount it (binds made inside the sandbox
//! are not locked by the kernel). It gets the set container engines give
//! instead; any other uid gets none.

use nix::errno::Errno;

use crate::sys;

/// The capabilities a uid-0 program keeps, by number (`<linux/capability.h>`):
/// enough for a package manager in a root directory, not enough to change
/// mounts (`CAP_SYS_ADMIN` is 21).
const ROOT_DEFAULT: [u32; 13] = [
    0,  // CAP_CHOWN
    1,  // CAP_DAC_OVERRIDE
    3,  // CAP_FOWNER
    4,  // CAP_FSETID
    5,  // CAP_KILL
    6,  // CAP_SETGID
    7,  // CAP_SETUID
    8,  // CAP_SETPCAP
    10, // CAP_NET_BIND_SERVICE
    18, // CAP_SYS_CHROOT
    27, // CAP_MKNOD
    29, // CAP_AUDIT_WRITE
    31, // CAP_SETFCAP
];

/// The highest capability number we try to drop; the kernel answers
/// `EINVAL` past its own last one.
const LAST_POSSIBLE: u32 = 63;

/// The capability mask of a program running as `uid` inside, or `None`
/// when the sets cannot be changed (no user namespace and not root).
pub(crate) fn program_capabilities(uid: u32, user_namespace: bool) -> Option<u64> {
    if !user_namespace && !nix::unistd::geteuid().is_root() {
        return None;
    }
    if uid == 0 {
        Some(ROOT_DEFAULT.iter().fold(0, |mask, cap| mask | 1 << cap))
    } else {
        Some(0)
    }
}

/// Child side: reduces the bounding set to `mask`, clears the ambient set,
/// and sets effective, permitted and inheritable to `mask`.
pub(crate) fn apply(mask: u64) -> Result<(), Errno> {
    for cap in 0..=LAST_POSSIBLE {
        if mask & (1 << cap) != 0 {
            continue;
        }
        match sys::drop_bounding_capability(cap) {
            Ok(()) => {}
            Err(Errno::EINVAL) => break,
            Err(errno) => return Err(errno),
        }
    }
    sys::clear_ambient_capabilities()?;
    sys::set_capabilities(mask)
}
