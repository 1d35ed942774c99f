//! Why the kernel refused to create namespaces, and what fixes it. Reads
//! the sysctls that gate user namespaces; runs in the caller, only after a
//! failure.

use std::fs;

use nix::errno::Errno;

/// A hint for a failed `clone` with namespace flags.
pub(crate) fn namespaces_hint(errno: Errno) -> Option<String> {
    let sysctl = |path: &str| {
        fs::read_to_string(path)
            .ok()
            .map(|value| value.trim().to_string())
    };
    if sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return Some(
            "AppArmor restricts unprivileged user namespaces \
             (kernel.apparmor_restrict_unprivileged_userns=1): allow them with \
             `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`, or give \
             hakoniwa an AppArmor profile with the `userns` permission"
                .into(),
        );
    }
    if sysctl("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return Some(
            "user namespaces are disabled (user.max_user_namespaces=0): enable them with \
             `sudo sysctl user.max_user_namespaces=15000`"
                .into(),
        );
    }
    if sysctl("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return Some(
            "unprivileged user namespaces are disabled \
             (kernel.unprivileged_userns_clone=0): enable them with \
             `sudo sysctl kernel.unprivileged_userns_clone=1`"
                .into(),
        );
    }
    match errno {
        Errno::ENOSPC => {
            Some("the limit on namespaces is reached (see /proc/sys/user/max_*_namespaces)".into())
        }
        Errno::EPERM => Some(
            "the kernel or a surrounding container forbids new namespaces; inside Docker \
             or Podman, the container needs a seccomp profile that allows them"
                .into(),
        ),
        _ => None,
    }
}
