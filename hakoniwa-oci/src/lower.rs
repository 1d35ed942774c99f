//! `config.json` → `hakoniwa::Container` + `Command`: the only mapping path,
//! used by `run` and by `create`. Anything the specification requires that
//! hakoniwa cannot give is an error naming the field, never a silent skip.

use std::fs;
use std::path::Path;

use hakoniwa::seccomp::Filter;
use hakoniwa::{
    CgroupDirs, Command, Container, Namespace, Rlimit, Runctl, TmpfsOptions, PROC_MASKED,
    PROC_READ_ONLY,
};
use nix::sys::stat::{self, Mode};
use oci_spec::runtime::{
    LinuxIdMapping, LinuxNamespaceType, LinuxPersonalityDomain, LinuxSeccomp, PosixRlimit,
    PosixRlimitType,
};

use crate::cgroups;
use crate::devices;
use crate::error::{Error, SpecError};
use crate::hooks;
use crate::spec::{items, Linux, Mount, Process, Spec};

/// What runs: the command, in its container, and what the runtime sets on
/// itself before it spawns it, since the library gives the program the
/// caller's own: the umask and the OOM score adjustment.
pub struct Program {
    pub command: Command,
    pub umask: Option<u32>,
    pub oom_score_adj: Option<i32>,
    /// `process.consoleSize`: the terminal's rows and columns.
    pub console_size: Option<(u16, u16)>,
}

impl Program {
    /// Sets on this process what the program inherits from it.
    pub fn inherit_from_runtime(&self) -> Result<(), Error> {
        if let Some(umask) = self.umask {
            stat::umask(Mode::from_bits_truncate(umask));
        }
        if let Some(adjustment) = self.oom_score_adj {
            // Lowering it needs CAP_SYS_RESOURCE: refused, not skipped.
            let path = Path::new("/proc/self/oom_score_adj");
            fs::write(path, adjustment.to_string()).map_err(|e| Error::file("write", path, e))?;
        }
        Ok(())
    }
}

/// Maps a container's configuration, whose relative paths are relative to
/// `bundle`, onto a sandbox.
pub fn lower(spec: &Spec, bundle: &Path) -> Result<Program, SpecError> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| SpecError::field("process", "missing: nothing to run"))?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| SpecError::field("root", "missing: no root filesystem"))?;
    if let Some(given) = spec.hooks() {
        hooks::check(given)?;
    }
    let linux = spec.linux().as_ref();

    // Order matters only within the mounts, which the library applies in
    // the order given; everything else is configuration it orders itself.
    let mut container = Container::empty();
    namespaces(&mut container, linux)?;
    id_maps(&mut container, linux);
    container.rootdir(bundle.join(root.path()));
    // Absent is writable: the specification's default.
    if !root.readonly().unwrap_or(false) {
        container.runctl(Runctl::RootdirRW);
    }
    // A uts namespace joined by path keeps its hostname (a pod's).
    let joins_uts = namespace_list(linux)
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::Uts && n.path().is_some());
    if let Some(hostname) = spec
        .hostname()
        .as_deref()
        .filter(|h| !h.is_empty() && !joins_uts)
    {
        container.hostname(hostname);
    }
    if let Some(domainname) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        // Refused by the library without a uts namespace of the
        // container's own.
        container.sysctl("kernel.domainname", domainname);
    }
    mounts(&mut container, items(spec.mounts()), bundle)?;
    if let Some(linux) = linux {
        unsupported_linux(linux)?;
        masked_paths(&mut container, linux);
        // The library refuses a parameter of no namespace of the
        // container's. Sorted: the order of the file is lost in the model.
        let mut sysctl: Vec<_> = linux.sysctl().iter().flatten().collect();
        sysctl.sort();
        for (key, value) in sysctl {
            container.sysctl(key, value);
        }
        // In a pod's pid namespace, the container's cgroup is what ends
        // its processes and not the pod's others: it has one always.
        let joins_pid = namespace_list(Some(linux))
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::Pid && n.path().is_some());
        cgroups::lower(&mut container, linux, joins_pid)?;
        devices::lower(&mut container, items(linux.devices()), items(spec.mounts()))?;
    }
    process_command(container, process, linux)
}

/// Whether `process` asks for a terminal.
pub fn terminal(process: &Process) -> bool {
    process.terminal().unwrap_or(false)
}

/// Maps `process` (from `exec --process`, or the configuration's own with
/// other arguments) onto a program that enters the running container
/// through process `pid`: its namespaces and its `cgroup` (when it has one
/// of its own), the configuration's seccomp filter, the process's identity
/// and limits.
pub fn lower_exec(
    spec: &Spec,
    process: &Process,
    pid: u32,
    cgroup: Option<CgroupDirs>,
) -> Result<Program, SpecError> {
    let mut container = Container::empty();
    // A session (and so a process group) of its own: init, outside the
    // container's pid namespace, can then end the program with what it
    // started in its group when the `exec` holding it ends.
    container.enter(pid).runctl(Runctl::NewSession);
    if let Some(dirs) = cgroup {
        container.join_cgroup(dirs);
    }
    process_command(container, process, spec.linux().as_ref())
}

/// The part of the mapping a container's program and an `exec` share: the
/// identity, limits, privileges and seccomp filter of `process`, then the
/// command itself.
fn process_command(
    mut container: Container,
    process: &Process,
    linux: Option<&Linux>,
) -> Result<Program, SpecError> {
    let (program, args) = items(process.args())
        .split_first()
        .ok_or_else(|| SpecError::field("process.args", "empty: nothing to run"))?;
    unsupported_process(process)?;
    identity(&mut container, process);
    rlimits(&mut container, items(process.rlimits()))?;
    if !process.no_new_privileges().unwrap_or(false) {
        container.runctl(Runctl::AllowNewPrivs);
    }
    match linux.and_then(|linux| linux.seccomp().as_ref()) {
        Some(profile) => seccomp(&mut container, profile)?,
        None => {
            container.seccomp_unconfined();
        }
    }

    let mut command = container.command(program);
    command.args(args);
    for (index, entry) in items(process.env()).iter().enumerate() {
        let (key, value) = entry.split_once('=').ok_or_else(|| {
            SpecError::field(format!("process.env[{index}]"), "not of the form KEY=VALUE")
        })?;
        command.env(key, value);
    }
    if !process.cwd().is_absolute() {
        return Err(SpecError::field("process.cwd", "not an absolute path"));
    }
    command.current_dir(process.cwd());
    // From the container's own devpts, bound at its `/dev/console` as the
    // specification asks; its master goes to the console socket
    // (console.rs).
    if terminal(process) {
        command.terminal();
    }
    Ok(Program {
        command,
        umask: process.user().umask(),
        oom_score_adj: process.oom_score_adj(),
        console_size: process.console_size().map(|size| {
            let clamp = |n: u64| u16::try_from(n).unwrap_or(u16::MAX);
            (clamp(size.height()), clamp(size.width()))
        }),
    })
}

/// What `process` may ask for that this runtime cannot give: a security
/// label (no AppArmor or SELinux support), refused rather than dropped.
fn unsupported_process(process: &Process) -> Result<(), SpecError> {
    let labels = [
        (
            "process.apparmorProfile",
            process.apparmor_profile(),
            "AppArmor",
        ),
        ("process.selinuxLabel", process.selinux_label(), "SELinux"),
    ];
    for (field, value, module) in labels {
        if value.as_deref().is_some_and(|v| !v.is_empty()) {
            return Err(SpecError::field(
                field,
                format!(
                    "hakoniwa-oci does not apply {module} labels; run the container without one \
                     (podman: --security-opt label=disable or apparmor=unconfined)"
                ),
            ));
        }
    }
    Ok(())
}

/// What `linux` may ask for that this runtime cannot give, refused: a
/// root whose mount events propagate (the sandbox's mounts are private),
/// and a personality other than plain Linux.
fn unsupported_linux(linux: &Linux) -> Result<(), SpecError> {
    if let Some(propagation) = linux.rootfs_propagation().as_deref() {
        if !matches!(propagation, "" | "private" | "rprivate") {
            return Err(SpecError::field(
                "linux.rootfsPropagation",
                format!("{propagation:?}: the container's mounts are always private"),
            ));
        }
    }
    if let Some(personality) = linux.personality() {
        if personality.domain() != LinuxPersonalityDomain::PerLinux
            || !items(personality.flags()).is_empty()
        {
            return Err(SpecError::field(
                "linux.personality",
                "only the LINUX domain, with no flags, is supported",
            ));
        }
    }
    Ok(())
}

/// `linux.namespaces`: a new instance of each one listed, or, with a
/// `path`, that one joined (network, ipc, uts, cgroup and pid: a pod's, or
/// podman's network namespace).
fn namespaces(container: &mut Container, linux: Option<&Linux>) -> Result<(), SpecError> {
    for (index, namespace) in namespace_list(linux).iter().enumerate() {
        let field = format!("linux.namespaces[{index}]");
        let kind = match namespace.typ() {
            LinuxNamespaceType::Cgroup => Namespace::Cgroup,
            LinuxNamespaceType::Ipc => Namespace::Ipc,
            LinuxNamespaceType::Mount => Namespace::Mount,
            LinuxNamespaceType::Network => Namespace::Network,
            LinuxNamespaceType::Pid => Namespace::Pid,
            LinuxNamespaceType::User => Namespace::User,
            LinuxNamespaceType::Uts => Namespace::Uts,
            LinuxNamespaceType::Time => {
                return Err(SpecError::field(
                    format!("{field}.type"),
                    "a time namespace is not supported",
                ))
            }
        };
        match (namespace.path(), kind) {
            (None, _) => {
                container.unshare(kind);
            }
            (
                Some(path),
                Namespace::Network
                | Namespace::Ipc
                | Namespace::Uts
                | Namespace::Cgroup
                | Namespace::Pid,
            ) => {
                container.join(kind, path);
            }
            (Some(_), _) => {
                return Err(SpecError::field(
                    format!("{field}.path"),
                    "joining an existing mount or user namespace is not supported yet",
                ))
            }
        }
    }
    Ok(())
}

/// `linux.uidMappings`/`gidMappings`; with a user namespace and no maps,
/// the caller is root inside (as `runc spec --rootless` writes).
fn id_maps(container: &mut Container, linux: Option<&Linux>) {
    let ranges = |maps: &[LinuxIdMapping]| -> Vec<(u32, u32, u32)> {
        maps.iter()
            .map(|m| (m.container_id(), m.host_id(), m.size()))
            .collect()
    };
    let user_namespace = namespace_list(linux)
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User);
    let uid_mappings = linux.map(|l| items(l.uid_mappings())).unwrap_or_default();
    let gid_mappings = linux.map(|l| items(l.gid_mappings())).unwrap_or_default();
    if uid_mappings.is_empty() && user_namespace {
        container.uidmap(0);
    } else {
        container.uidmaps(&ranges(uid_mappings));
    }
    if gid_mappings.is_empty() && user_namespace {
        container.gidmap(0);
    } else {
        container.gidmaps(&ranges(gid_mappings));
    }
}

/// `linux.namespaces` (none without `linux`).
fn namespace_list(linux: Option<&Linux>) -> &[oci_spec::runtime::LinuxNamespace] {
    linux.map(|l| items(l.namespaces())).unwrap_or_default()
}

/// `mounts`, in order. `/dev` as a tmpfs becomes the library's devfs,
/// which brings its own `/dev/pts` and `/dev/shm`. A `sysfs` becomes a
/// read-only bind of the host's `/sys` (what runc and crun fall back to
/// when a new sysfs cannot be mounted); a `cgroup` under it is then the
/// host's hierarchy, read-only.
fn mounts(container: &mut Container, mounts: &[Mount], bundle: &Path) -> Result<(), SpecError> {
    let mut devfs = false;
    let mut sysfs: Option<&str> = None;
    for (index, mount) in mounts.iter().enumerate() {
        let field = format!("mounts[{index}]");
        let destination = path_str(mount.destination(), &format!("{field}.destination"))?;
        if !destination.starts_with('/') {
            return Err(SpecError::field(
                format!("{field}.destination"),
                "not an absolute path",
            ));
        }
        let options = items(mount.options());
        let bind = options.iter().any(|o| o == "bind" || o == "rbind");
        let kind = match mount.typ().as_deref() {
            Some("bind") | Some("none") | None if bind => "bind",
            Some(kind) => kind,
            None => {
                return Err(SpecError::field(
                    format!("{field}.type"),
                    "missing (and no bind option)",
                ))
            }
        };
        let under_sysfs = sysfs.is_some_and(|sys| Path::new(destination).starts_with(sys));
        match kind {
            "bind" => {
                let source = mount.source().as_ref().ok_or_else(|| {
                    SpecError::field(format!("{field}.source"), "missing for a bind mount")
                })?;
                let source = bundle.join(source);
                let source = path_str(&source, &format!("{field}.source"))?;
                if read_only(mount) {
                    container.bindmount_ro(source, destination);
                } else {
                    container.bindmount_rw(source, destination);
                }
            }
            "tmpfs" if destination == "/dev" => {
                devfs = true;
                container.devfsmount(destination);
            }
            "tmpfs" => {
                let options = tmpfs_options(options, &field)?;
                container.tmpfsmount_with(destination, options);
            }
            "proc" => {
                container.procfsmount(destination);
            }
            "sysfs" => {
                sysfs = Some(destination);
                container.bindmount_ro("/sys", destination);
            }
            "cgroup" | "cgroup2" if under_sysfs && read_only(mount) => {}
            "mqueue" => {
                container.mqueuemount(destination);
            }
            "devpts" if devfs && destination == "/dev/pts" => {}
            other => {
                return Err(SpecError::field(
                    format!("{field}.type"),
                    format!("a {other:?} mount at {destination} is not supported yet"),
                ))
            }
        }
    }
    Ok(())
}

/// Whether a mount asks to be read-only.
fn read_only(mount: &Mount) -> bool {
    items(mount.options()).iter().any(|o| o == "ro")
}

/// `size=`, `mode=` and `nr_inodes=` of a tmpfs; the flags (`nosuid`,
/// `nodev`, …) are those the library sets anyway.
fn tmpfs_options(options: &[String], field: &str) -> Result<TmpfsOptions, SpecError> {
    let mut tmpfs = TmpfsOptions::default();
    for option in options {
        let invalid =
            || SpecError::field(format!("{field}.options"), format!("invalid {option:?}"));
        if let Some(size) = option.strip_prefix("size=") {
            tmpfs.size = Some(parse_size(size).ok_or_else(invalid)?);
        } else if let Some(mode) = option.strip_prefix("mode=") {
            tmpfs.mode = Some(u32::from_str_radix(mode, 8).map_err(|_| invalid())?);
        } else if let Some(inodes) = option.strip_prefix("nr_inodes=") {
            tmpfs.nr_inodes = Some(parse_size(inodes).ok_or_else(invalid)?);
        }
    }
    Ok(tmpfs)
}

/// A size as mount(8) writes it: bytes, or with a `k`, `m` or `g` suffix.
fn parse_size(text: &str) -> Option<u64> {
    let (digits, unit) = match text.char_indices().last()? {
        (at, 'k' | 'K') => (&text[..at], 1 << 10),
        (at, 'm' | 'M') => (&text[..at], 1 << 20),
        (at, 'g' | 'G') => (&text[..at], 1 << 30),
        _ => (text, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(unit)
}

/// `linux.maskedPaths` and `linux.readonlyPaths`. The library already
/// hides or protects the `/proc` entries that reach the host kernel in
/// every `/proc` it mounts; other paths are hidden with `Container::mask`
/// or made read-only with `Container::readonly`, once every mount is in
/// place.
fn masked_paths(container: &mut Container, linux: &Linux) {
    let built_in = |path: &str, list: &[&str]| {
        path.strip_prefix("/proc/")
            .is_some_and(|entry| list.contains(&entry))
    };
    for path in items(linux.masked_paths()) {
        if !built_in(path, &PROC_MASKED) {
            container.mask(path);
        }
    }
    for path in items(linux.readonly_paths()) {
        // Hidden is stronger than read-only.
        if !built_in(path, &PROC_READ_ONLY) && !built_in(path, &PROC_MASKED) {
            container.readonly(path);
        }
    }
}

/// `process.user` and `process.capabilities`. hakoniwa gives the program
/// one set: root gets `permitted`; any other user only what is also
/// `ambient`, since `execve` clears the rest for a user that is not root
/// (`capabilities(7)`), as it does under runc.
fn identity(container: &mut Container, process: &Process) {
    let user = process.user();
    let supplementary: Vec<String> = items(user.additional_gids())
        .iter()
        .map(u32::to_string)
        .collect();
    let supplementary: Vec<&str> = supplementary.iter().map(String::as_str).collect();
    container.user(
        &user.uid().to_string(),
        Some(&user.gid().to_string()),
        &supplementary,
    );
    container.cap_drop("ALL");
    if let Some(capabilities) = process.capabilities() {
        let ambient = capabilities.ambient().clone().unwrap_or_default();
        let mut kept: Vec<String> = capabilities
            .permitted()
            .iter()
            .flatten()
            .filter(|capability| user.uid() == 0 || ambient.contains(capability))
            .map(|capability| format!("CAP_{capability}"))
            .collect();
        // A set in the model: sorted, so every run adds them alike.
        kept.sort();
        for capability in &kept {
            container.cap_add(capability);
        }
    }
}

/// `process.rlimits`.
fn rlimits(container: &mut Container, limits: &[PosixRlimit]) -> Result<(), SpecError> {
    for (index, limit) in limits.iter().enumerate() {
        let resource = match limit.typ() {
            PosixRlimitType::RlimitAs => Rlimit::As,
            PosixRlimitType::RlimitCore => Rlimit::Core,
            PosixRlimitType::RlimitCpu => Rlimit::Cpu,
            PosixRlimitType::RlimitFsize => Rlimit::Fsize,
            PosixRlimitType::RlimitMemlock => Rlimit::Memlock,
            PosixRlimitType::RlimitNofile => Rlimit::Nofile,
            PosixRlimitType::RlimitNproc => Rlimit::Nproc,
            PosixRlimitType::RlimitStack => Rlimit::Stack,
            other => {
                return Err(SpecError::field(
                    format!("process.rlimits[{index}].type"),
                    format!("{other} is not supported"),
                ))
            }
        };
        container.setrlimit(resource, limit.soft(), limit.hard());
    }
    Ok(())
}

/// `linux.seccomp`, compiled by the library's compiler.
fn seccomp(container: &mut Container, profile: &LinuxSeccomp) -> Result<(), SpecError> {
    if profile.listener_path().is_some() {
        return Err(SpecError::field(
            "linux.seccomp.listenerPath",
            "a seccomp notification listener is not supported yet",
        ));
    }
    // The model writes back the specification's JSON form, which is the
    // one the library's compiler reads.
    let json = serde_json::to_string(profile)
        .map_err(|error| SpecError::field("linux.seccomp", error.to_string()))?;
    let filter = Filter::from_json("linux.seccomp", &json)
        .map_err(|error| SpecError::field("linux.seccomp", error.to_string()))?;
    container.seccomp_filter(filter);
    Ok(())
}

/// A path the library's `&str` API can take.
fn path_str<'a>(path: &'a Path, field: &str) -> Result<&'a str, SpecError> {
    path.to_str()
        .ok_or_else(|| SpecError::field(field, "not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: &str) -> Spec {
        let text = format!(
            r#"{{"ociVersion": "1.0.2", "root": {{"path": "rootfs"}},
                "process": {{"user": {{"uid": 0, "gid": 0}}, "cwd": "/", "args": ["true"]}}
                {extra}}}"#
        );
        crate::spec::parse(&text).expect("a valid spec")
    }

    fn lower_error(extra: &str) -> String {
        match lower(&spec(extra), Path::new("/bundle")) {
            Ok(_) => panic!("{extra} was accepted"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn sizes_take_mount_suffixes() {
        assert_eq!(parse_size("65536k"), Some(64 << 20));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("k"), None);
    }

    #[test]
    fn hooks_are_checked_naming_the_field() {
        let hooks = spec(r#", "hooks": {"prestart": [{"path": "/bin/true", "timeout": 2}]}"#);
        assert!(lower(&hooks, Path::new("/bundle")).is_ok());
        let error = lower_error(r#", "hooks": {"createRuntime": [{"path": "true"}]}"#);
        assert_eq!(error, "hooks.createRuntime[0].path: not an absolute path");
        let error = lower_error(
            r#", "hooks": {"poststop": [{"path": "/x"}, {"path": "/y", "timeout": 0}]}"#,
        );
        assert_eq!(
            error,
            "hooks.poststop[1].timeout: must be greater than zero"
        );
        let error = lower_error(r#", "hooks": {"poststart": [{"path": "/x", "env": ["A"]}]}"#);
        assert_eq!(
            error,
            "hooks.poststart[0].env[0]: not of the form KEY=VALUE"
        );
    }

    #[test]
    fn an_unsupported_mount_names_its_index() {
        let error = lower_error(r#", "mounts": [{"destination": "/x", "type": "nfs"}]"#);
        assert!(error.starts_with("mounts[0].type: "), "{error}");
    }

    #[test]
    fn joining_a_user_namespace_is_refused() {
        let error = lower_error(
            r#", "linux": {"namespaces": [{"type": "network"}, {"type": "user", "path": "/proc/1/ns/user"}]}"#,
        );
        assert!(error.starts_with("linux.namespaces[1].path: "), "{error}");
    }

    #[test]
    fn what_cannot_be_given_is_refused_naming_the_field() {
        let labelled = |label: &str| {
            let text = format!(
                r#"{{"ociVersion": "1.0.2", "root": {{"path": "rootfs"}},
                    "process": {{"user": {{"uid": 0, "gid": 0}}, "cwd": "/", "args": ["true"], {label}}}}}"#
            );
            let spec = crate::spec::parse(&text).expect("a valid spec");
            match lower(&spec, Path::new("/bundle")) {
                Ok(_) => panic!("{label} was accepted"),
                Err(error) => error.to_string(),
            }
        };
        let error = labelled(r#""apparmorProfile": "containers-default""#);
        assert!(error.starts_with("process.apparmorProfile: "), "{error}");
        let error = labelled(r#""selinuxLabel": "system_u:system_r:container_t:s0""#);
        assert!(error.starts_with("process.selinuxLabel: "), "{error}");
        let error = lower_error(r#", "linux": {"rootfsPropagation": "rshared"}"#);
        assert!(error.starts_with("linux.rootfsPropagation: "), "{error}");
        let error = lower_error(r#", "linux": {"personality": {"domain": "LINUX32"}}"#);
        assert!(error.starts_with("linux.personality: "), "{error}");
        let accepted =
            r#", "linux": {"rootfsPropagation": "rprivate", "personality": {"domain": "LINUX"}}"#;
        lower(&spec(accepted), Path::new("/bundle")).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn an_unknown_rlimit_names_its_index() {
        let text = r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"},
            "process": {"user": {"uid": 0, "gid": 0}, "cwd": "/", "args": ["true"],
                        "rlimits": [{"type": "RLIMIT_NICE", "soft": 1, "hard": 1}]}}"#;
        let spec = crate::spec::parse(text).expect("a valid spec");
        let error = lower(&spec, Path::new("/b"))
            .err()
            .expect("refused")
            .to_string();
        assert!(error.starts_with("process.rlimits[0].type: "), "{error}");
    }
}
