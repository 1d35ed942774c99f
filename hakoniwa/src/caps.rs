//! Capabilities of the program: what it keeps inside its user namespace.
//!
//! A program whose uid is 0 inside would keep every capability across
//! `execve`, `CAP_SYS_ADMIN` included, and with it the power to remount a
//! read-only bind read-write or unmount it (binds made inside the sandbox
//! are not locked by the kernel). It gets the set container engines give
//! instead; any other uid gets none. `cap_add`/`cap_drop` change the set.

use nix::errno::Errno;

use crate::error::{Error, Result};
use crate::sys;

/// Capability names and numbers, from `<linux/capability.h>`.
const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// What a uid-0 program keeps: enough for a package manager in a root
/// directory, not enough to change mounts.
const ROOT_DEFAULT: [&str; 13] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "MKNOD",
    "AUDIT_WRITE",
    "SETFCAP",
];

/// The highest capability number we try to drop; the kernel answers
/// `EINVAL` past its own last one.
const LAST_POSSIBLE: u32 = 63;

/// The program's capabilities, decided before fork.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CapPlan {
    /// Bounding, permitted and effective set.
    pub mask: u64,
    /// Raise them as ambient capabilities too, so that they survive
    /// `execve` for a uid other than 0.
    pub ambient: bool,
}

/// The mask of [`ROOT_DEFAULT`].
pub(crate) fn root_default_mask() -> u64 {
    ROOT_DEFAULT
        .iter()
        .filter_map(|name| number(name))
        .fold(0, |mask, n| mask | 1 << n)
}

/// The number of a capability named `SYS_ADMIN`, `CAP_SYS_ADMIN` or
/// `cap_sys_admin` (the flags' and the seccomp profiles' spellings).
pub(crate) fn number(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    NAMES
        .iter()
        .position(|known| *known == bare)
        .map(|n| n as u32)
}

/// [`number`], or the error naming the unknown name.
fn checked_number(name: &str) -> Result<u32> {
    number(name).ok_or_else(|| Error::UnknownCapability {
        name: name.to_string(),
    })
}

/// The name of capability `number`, for messages.
pub(crate) fn name(number: u32) -> String {
    NAMES
        .get(number as usize)
        .map(|name| format!("CAP_{name}"))
        .unwrap_or_else(|| format!("capability {number}"))
}

/// The capabilities of a program running as `uid` inside: the default for
/// its uid, plus `add`, minus `drop` (`ALL` in `drop` starts from none, so
/// `--cap-drop ALL --cap-add X` gives only X). `None` when the sets cannot
/// be changed (no user namespace and not root).
pub(crate) fn program_capabilities(
    uid: u32,
    user_namespace: bool,
    add: &[String],
    drop: &[String],
) -> Result<Option<CapPlan>> {
    let mut mask = if uid == 0 { root_default_mask() } else { 0 };
    if drop.iter().any(|name| name.eq_ignore_ascii_case("ALL")) {
        mask = 0;
    }
    for name in add {
        mask |= 1 << checked_number(name)?;
    }
    for name in drop.iter().filter(|name| !name.eq_ignore_ascii_case("ALL")) {
        mask &= !(1 << checked_number(name)?);
    }
    if !user_namespace && !nix::unistd::geteuid().is_root() {
        return if add.is_empty() {
            Ok(None)
        } else {
            Err(Error::CapabilitiesUnavailable {
                names: add.join(","),
            })
        };
    }
    Ok(Some(CapPlan {
        mask,
        ambient: uid != 0 && mask != 0,
    }))
}

/// Program side, first half: reduces the bounding set to the plan's mask
/// and clears the ambient set. Needs `CAP_SETPCAP`, so it runs before the
/// program changes its user.
pub(crate) fn drop_bounding(plan: CapPlan) -> Result<(), Errno> {
    for cap in 0..=LAST_POSSIBLE {
        if plan.mask & (1 << cap) != 0 {
            continue;
        }
        match sys::drop_bounding_capability(cap) {
            Ok(()) => {}
            Err(Errno::EINVAL) => break,
            Err(errno) => return Err(errno),
        }
    }
    sys::clear_ambient_capabilities()
}

/// Program side, second half: sets effective and permitted to the mask;
/// for a uid other than 0, raises them as ambient capabilities (which needs
/// them inheritable); otherwise leaves inheritable empty.
pub(crate) fn set(plan: CapPlan) -> Result<(), Errno> {
    let inheritable = if plan.ambient { plan.mask } else { 0 };
    sys::set_capabilities(plan.mask, inheritable)?;
    if plan.ambient {
        for cap in (0..=LAST_POSSIBLE).filter(|cap| plan.mask & (1 << cap) != 0) {
            sys::raise_ambient_capability(cap)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_root_default_name_is_known() {
        assert_eq!(
            root_default_mask().count_ones() as usize,
            ROOT_DEFAULT.len()
        );
    }

    #[test]
    fn capabilities_are_found_with_or_without_prefix() {
        assert_eq!(number("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(number("sys_chroot"), Some(18));
        assert_eq!(number("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(number("CAP_NOPE"), None);
    }

    #[test]
    fn root_gets_the_engine_default_without_sys_admin() {
        let plan = program_capabilities(0, true, &[], &[]).unwrap().unwrap();
        assert_eq!(plan.mask, 0xa80405fb);
        assert!(!plan.ambient);
        assert_eq!(name(21), "CAP_SYS_ADMIN");
    }

    #[test]
    fn add_and_drop_change_the_set() {
        let add = names(&["sys_admin", "CAP_NET_RAW"]);
        let drop = names(&["CHOWN"]);
        let plan = program_capabilities(0, true, &add, &drop).unwrap().unwrap();
        assert_eq!(plan.mask, (0xa80405fb | 1 << 21 | 1 << 13) & !1);
        let only = program_capabilities(0, true, &names(&["KILL"]), &names(&["ALL"]))
            .unwrap()
            .unwrap();
        assert_eq!(only.mask, 1 << 5);
        let user = program_capabilities(1000, true, &names(&["NET_RAW"]), &[])
            .unwrap()
            .unwrap();
        assert_eq!((user.mask, user.ambient), (1 << 13, true));
        assert!(program_capabilities(0, true, &names(&["NOPE"]), &[]).is_err());
    }
}
