//! The Docker/OCI seccomp JSON format: `defaultAction`, `defaultErrnoRet`,
//! `architectures` or `archMap`, `flags`, and `syscalls[]` with `names`,
//! `action`, `errnoRet`, `args[]` and Docker's `includes`/`excludes`.

use serde::Deserialize;

use super::arch::{self, Arch};
use super::{Action, ArgCmp, ArgCmpOp, Condition, Error, Filter, Rule};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: String,
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    arch_map: Vec<ArchMapEntry>,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    syscalls: Vec<Syscall>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMapEntry {
    architecture: String,
    #[serde(default)]
    sub_architectures: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Syscall {
    /// Docker's older single-name form.
    name: Option<String>,
    #[serde(default)]
    names: Vec<String>,
    action: String,
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Arg>>,
    #[serde(default)]
    includes: Filters,
    #[serde(default)]
    excludes: Filters,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filters {
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    caps: Vec<String>,
    min_kernel: Option<String>,
}

/// The errno of `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE` without `errnoRet`,
/// as runc and crun use.
const DEFAULT_ERRNO: u32 = libc::EPERM as u32;
/// The largest errno the kernel returns (`MAX_ERRNO`).
const MAX_ERRNO: u32 = 4095;
/// Arguments a syscall has.
const ARGS: u32 = 6;

/// Whether to check that every syscall name exists on some architecture.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Names {
    Check,
    /// For the embedded profile, which a unit test checks instead.
    Trust,
}

pub(super) fn parse(name: &str, text: &str, names: Names) -> Result<Filter, Error> {
    let profile: Profile = serde_json::from_str(text).map_err(|source| Error::Json {
        profile: name.to_string(),
        source,
    })?;
    let invalid = |entry: &str, reason: String| Error::Invalid {
        profile: name.to_string(),
        entry: entry.to_string(),
        reason,
    };
    let default_action = action(&profile.default_action, profile.default_errno_ret)
        .map_err(|reason| invalid("defaultAction", reason))?;
    let mut filter = Filter::new(default_action);
    filter.name(name);

    // The architectures to cover: those listed, and from `archMap` the
    // entry of the host and its sub-architectures, as Docker reads it.
    let native_scmp = arch::host().map(|host| scmp_name(host.native));
    let mut arch_names = profile.architectures.clone();
    for entry in &profile.arch_map {
        if Some(entry.architecture.as_str()) == native_scmp {
            arch_names.push(entry.architecture.clone());
            arch_names.extend(entry.sub_architectures.iter().cloned());
        } else if Arch::from_scmp(&entry.architecture).is_err() {
            return Err(invalid(
                "archMap",
                format!("unknown architecture {:?}", entry.architecture),
            ));
        }
    }
    for arch_name in &arch_names {
        match Arch::from_scmp(arch_name) {
            Ok(Some(arch)) => {
                filter.add_arch(arch);
            }
            Ok(None) => {}
            Err(()) => {
                return Err(invalid(
                    "architectures",
                    format!("unknown architecture {arch_name:?}"),
                ))
            }
        }
    }
    for flag in &profile.flags {
        filter.flags |= match flag.as_str() {
            "SECCOMP_FILTER_FLAG_LOG" => libc::SECCOMP_FILTER_FLAG_LOG as u32,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32,
            other => return Err(invalid("flags", format!("unsupported flag {other:?}"))),
        };
    }

    for (index, syscall) in profile.syscalls.iter().enumerate() {
        let entry = format!("syscalls[{index}]");
        let rule = rule(syscall, &entry).map_err(|reason| invalid(&entry, reason))?;
        let unknown = match names {
            Names::Check => rule.names.iter().find(|n| !arch::is_known_anywhere(n)),
            Names::Trust => None,
        };
        if let Some(unknown) = unknown {
            return Err(Error::UnknownSyscall {
                profile: name.to_string(),
                entry,
                name: unknown.clone(),
            });
        }
        filter.rules.push(rule);
    }
    Ok(filter)
}

fn rule(syscall: &Syscall, entry: &str) -> Result<Rule, String> {
    let mut names = syscall.names.clone();
    names.extend(syscall.name.iter().cloned());
    if names.is_empty() {
        return Err("no syscall names".to_string());
    }
    let action = action(&syscall.action, syscall.errno_ret)?;
    let args = syscall
        .args
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, arg)| arg_cmp(arg).map_err(|reason| format!("args[{i}]: {reason}")))
        .collect::<Result<Vec<_>, _>>()?;
    let condition = Condition {
        include_arches: syscall.includes.arches.clone(),
        exclude_arches: syscall.excludes.arches.clone(),
        include_caps: caps(&syscall.includes.caps).map_err(|r| format!("includes: {r}"))?,
        exclude_caps: caps(&syscall.excludes.caps).map_err(|r| format!("excludes: {r}"))?,
        min_kernel: kernel(&syscall.includes.min_kernel).map_err(|r| format!("includes: {r}"))?,
        exclude_min_kernel: kernel(&syscall.excludes.min_kernel)
            .map_err(|r| format!("excludes: {r}"))?,
    };
    Ok(Rule {
        names,
        action,
        args,
        condition,
        origin: entry.to_string(),
        checked: true,
    })
}

fn action(name: &str, errno_ret: Option<u32>) -> Result<Action, String> {
    let data = errno_ret.unwrap_or(DEFAULT_ERRNO);
    Ok(match name {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" if data <= MAX_ERRNO => Action::Errno(data as i32),
        "SCMP_ACT_ERRNO" => return Err(format!("errnoRet {data} is above {MAX_ERRNO}")),
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        // libseccomp's SCMP_ACT_KILL is SCMP_ACT_KILL_THREAD.
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_TRACE" => Action::Trace(
            u16::try_from(data).map_err(|_| format!("errnoRet {data} is above 65535"))?,
        ),
        "SCMP_ACT_NOTIFY" => {
            return Err("SCMP_ACT_NOTIFY needs a supervisor, which hakoniwa does not run".into())
        }
        other => return Err(format!("unknown action {other:?}")),
    })
}

fn arg_cmp(arg: &Arg) -> Result<ArgCmp, String> {
    if arg.index >= ARGS {
        return Err(format!("index {} is not 0 to 5", arg.index));
    }
    let op = match arg.op.as_str() {
        "SCMP_CMP_NE" => ArgCmpOp::Ne,
        "SCMP_CMP_LT" => ArgCmpOp::Lt,
        "SCMP_CMP_LE" => ArgCmpOp::Le,
        "SCMP_CMP_EQ" => ArgCmpOp::Eq,
        "SCMP_CMP_GE" => ArgCmpOp::Ge,
        "SCMP_CMP_GT" => ArgCmpOp::Gt,
        // `value` is the mask, `valueTwo` what the masked argument must be.
        "SCMP_CMP_MASKED_EQ" => ArgCmpOp::MaskedEq,
        other => return Err(format!("unknown op {other:?}")),
    };
    Ok(ArgCmp::new(arg.index, op, arg.value, arg.value_two))
}

fn caps(names: &[String]) -> Result<u64, String> {
    names.iter().try_fold(0, |mask, name| {
        crate::caps::number(name)
            .map(|cap| mask | 1 << cap)
            .ok_or_else(|| format!("unknown capability {name:?}"))
    })
}

fn kernel(version: &Option<String>) -> Result<Option<(u32, u32)>, String> {
    let Some(version) = version else {
        return Ok(None);
    };
    parse_kernel_version(version)
        .map(Some)
        .ok_or_else(|| format!("minKernel {version:?} is not MAJOR.MINOR"))
}

/// `6.8`, `6.8.0-31-generic` → (6, 8).
pub(super) fn parse_kernel_version(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim().split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn scmp_name(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "SCMP_ARCH_X86_64",
        Arch::X86 => "SCMP_ARCH_X86",
        Arch::X32 => "SCMP_ARCH_X32",
        Arch::Aarch64 => "SCMP_ARCH_AARCH64",
        Arch::Arm => "SCMP_ARCH_ARM",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_profile_loads() {
        let filter = parse(
            "podman",
            include_str!("../../assets/seccomp/podman.json"),
            Names::Check,
        )
        .unwrap();
        assert_eq!(filter.default_action, Action::Errno(libc::ENOSYS));
        assert_eq!(filter.rules.len(), 40);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(filter.architectures, [Arch::X86_64, Arch::X86, Arch::X32]);
        }
        let socket = &filter.rules[31];
        assert_eq!(socket.action, Action::Errno(libc::EINVAL));
        assert_eq!(socket.args[1], ArgCmp::new(2, ArgCmpOp::Eq, 9, 0));
        assert_eq!(socket.condition.exclude_caps, 1 << 29);
    }

    #[test]
    fn errors_name_the_entry() {
        let text = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["getppidd"], "action": "SCMP_ACT_ERRNO"}]}"#;
        let err = parse("my.json", text, Names::Check)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid seccomp profile my.json: syscalls[1]: unknown system call \"getppidd\""
        );

        let text = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#;
        let err = parse("my.json", text, Names::Check)
            .unwrap_err()
            .to_string();
        assert!(err.contains("syscalls[0]: args[0]: index 6"), "{err}");

        let err = parse(
            "my.json",
            r#"{"defaultAction": "SCMP_ACT_NOPE"}"#,
            Names::Check,
        )
        .unwrap_err();
        assert!(err.to_string().contains("defaultAction: unknown action"));

        let err = parse("my.json", "{", Names::Check).unwrap_err();
        assert!(matches!(err, Error::Json { .. }));
    }

    #[test]
    fn names_of_other_machines_are_accepted() {
        let text = r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_S390X"],
            "syscalls": [{"names": ["s390_runtime_instr", "_llseek"], "action": "SCMP_ACT_ALLOW"}]}"#;
        let filter = parse("x", text, Names::Check).unwrap();
        assert!(filter.architectures.is_empty());
        assert_eq!(filter.default_action, Action::Errno(libc::EPERM));
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(parse_kernel_version("6.18.44-fc-v657"), Some((6, 18)));
        assert_eq!(parse_kernel_version("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel_version("4"), None);
    }
}
