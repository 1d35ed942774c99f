//! Why the environment refused to let a sandbox start, and what fixes it.
//! Reads the sysctls that gate user namespaces; runs in the caller, only
//! after a failure. The choice of hint is a pure function of what was read
//! and what failed, tested below.

use std::fs;

use nix::errno::Errno;

/// The sysctls that decide whether an unprivileged user namespace works.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Environment {
    /// `kernel.apparmor_restrict_unprivileged_userns = 1` (Ubuntu 23.10
    /// and later): the namespace is created, but a process without an
    /// AppArmor profile that allows `userns` holds no capability in it, so
    /// the first mount fails.
    apparmor_restricts_userns: bool,
    /// `user.max_user_namespaces = 0`.
    no_user_namespaces: bool,
    /// `kernel.unprivileged_userns_clone = 0` (Debian's older kernels).
    unprivileged_userns_disabled: bool,
}

impl Environment {
    fn read() -> Self {
        let sysctl = |path: &str| {
            fs::read_to_string(path)
                .ok()
                .map(|value| value.trim().to_string())
        };
        Self {
            apparmor_restricts_userns: sysctl(
                "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            )
            .as_deref()
                == Some("1"),
            no_user_namespaces: sysctl("/proc/sys/user/max_user_namespaces").as_deref()
                == Some("0"),
            unprivileged_userns_disabled: sysctl("/proc/sys/kernel/unprivileged_userns_clone")
                .as_deref()
                == Some("0"),
        }
    }

    /// A hint about a sysctl that forbids or cripples user namespaces.
    fn sysctl_hint(self) -> Option<String> {
        if self.apparmor_restricts_userns {
            return Some(APPARMOR.into());
        }
        if self.no_user_namespaces {
            return Some(
                "user namespaces are disabled (user.max_user_namespaces=0): enable them with \
                 `sudo sysctl user.max_user_namespaces=15000`"
                    .into(),
            );
        }
        if self.unprivileged_userns_disabled {
            return Some(
                "unprivileged user namespaces are disabled \
                 (kernel.unprivileged_userns_clone=0): enable them with \
                 `sudo sysctl kernel.unprivileged_userns_clone=1`"
                    .into(),
            );
        }
        None
    }
}

const APPARMOR: &str = "AppArmor restricts unprivileged user namespaces \
     (kernel.apparmor_restrict_unprivileged_userns=1): allow them with \
     `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`, or give \
     hakoniwa an AppArmor profile with the `userns` permission";

/// A new proc (or sysfs) mount in a user namespace is allowed only where
/// an instance of it is already fully visible (`mnt_already_visible` in
/// the kernel's `fs/namespace.c`); container engines cover parts of their
/// `/proc` with masks by default.
const MASKED_PROC: &str = "the kernel refuses a new /proc in a user namespace while the \
     /proc it can see has entries covered by other mounts, as container engines do by \
     default: run the container with `--security-opt systempaths=unconfined` (Docker) or \
     `--security-opt unmask=ALL` (Podman)";

const JOIN: &str = "joining a namespace takes CAP_SYS_ADMIN over the user namespace that owns it, \
     which a sandbox with a user namespace of its own does not hold: run as root (or as the \
     owner of that user namespace, inside it), without a user namespace of the sandbox's own";

/// A hint for a failed `clone` with namespace flags.
pub(crate) fn namespaces_hint(errno: Errno) -> Option<String> {
    clone_hint(Environment::read(), errno)
}

fn clone_hint(environment: Environment, errno: Errno) -> Option<String> {
    if let Some(hint) = environment.sysctl_hint() {
        return Some(hint);
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

/// What a failed setup step inside the sandbox was, as far as a hint
/// cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FailedStep {
    /// Mounting the sandbox's `/proc`.
    ProcMount,
    /// Any other mount, or making mounts private.
    Mount,
    /// Joining namespaces.
    Join,
    /// Something else.
    Other,
}

/// A hint for a setup step that failed inside the sandbox.
pub(crate) fn setup_hint(step: FailedStep, errno: i32) -> Option<String> {
    match step {
        _ if errno != libc::EPERM => None,
        FailedStep::Other => None,
        FailedStep::Join => Some(JOIN.into()),
        FailedStep::ProcMount | FailedStep::Mount => mount_hint(Environment::read(), step),
    }
}

/// A mount refused with `EPERM` inside a new user namespace: AppArmor
/// first (it refuses every mount), then the masked `/proc`.
fn mount_hint(environment: Environment, step: FailedStep) -> Option<String> {
    if environment.apparmor_restricts_userns {
        return Some(APPARMOR.into());
    }
    (step == FailedStep::ProcMount).then(|| MASKED_PROC.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_failures_name_the_sysctl_that_caused_them() {
        let apparmor = Environment {
            apparmor_restricts_userns: true,
            no_user_namespaces: true,
            ..Environment::default()
        };
        let hint = clone_hint(apparmor, Errno::EPERM).unwrap();
        assert!(
            hint.contains("apparmor_restrict_unprivileged_userns=0"),
            "{hint}"
        );
        let none = Environment {
            no_user_namespaces: true,
            ..Environment::default()
        };
        let hint = clone_hint(none, Errno::ENOSPC).unwrap();
        assert!(hint.contains("user.max_user_namespaces=15000"), "{hint}");
        let debian = Environment {
            unprivileged_userns_disabled: true,
            ..Environment::default()
        };
        let hint = clone_hint(debian, Errno::EPERM).unwrap();
        assert!(hint.contains("unprivileged_userns_clone=1"), "{hint}");
    }

    #[test]
    fn clone_failures_without_a_sysctl_hint_go_by_errno() {
        let plain = Environment::default();
        assert!(clone_hint(plain, Errno::ENOSPC).unwrap().contains("limit"));
        assert!(clone_hint(plain, Errno::EPERM)
            .unwrap()
            .contains("container"));
        assert_eq!(clone_hint(plain, Errno::EINVAL), None);
    }

    #[test]
    fn a_refused_proc_mount_points_at_masked_proc_or_apparmor() {
        let plain = Environment::default();
        let hint = mount_hint(plain, FailedStep::ProcMount).unwrap();
        assert!(hint.contains("systempaths=unconfined"), "{hint}");
        assert_eq!(mount_hint(plain, FailedStep::Mount), None);
        let apparmor = Environment {
            apparmor_restricts_userns: true,
            ..Environment::default()
        };
        for step in [FailedStep::ProcMount, FailedStep::Mount] {
            let hint = mount_hint(apparmor, step).unwrap();
            assert!(hint.contains("AppArmor"), "{hint}");
        }
    }

    #[test]
    fn only_permission_errors_of_mounts_and_joins_get_a_setup_hint() {
        assert_eq!(setup_hint(FailedStep::ProcMount, libc::ENOENT), None);
        assert_eq!(setup_hint(FailedStep::Other, libc::EPERM), None);
        assert_eq!(setup_hint(FailedStep::Join, libc::ENOENT), None);
        let hint = setup_hint(FailedStep::Join, libc::EPERM).unwrap();
        assert!(hint.contains("CAP_SYS_ADMIN"), "{hint}");
    }
}
