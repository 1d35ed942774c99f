//! Options → `Container` + `Command`: the one mapping from what the user
//! wrote, with flags or in a profile, to the library's configuration.

use std::fs;
use std::path::Path;

use hakoniwa::landlock::{FsAccess, NetAccess, Resource, Ruleset};
use hakoniwa::seccomp::{Filter, UserNamespaces};
use hakoniwa::{Cgroup, Command, Container, Namespace, Rlimit, Runctl, TmpfsOptions};

use crate::cli::CliError;
use crate::options::{Options, FILE_CONTENTS};
use crate::read;
use crate::run::RunArgs;
use crate::values;

/// One filesystem flag, in command-line order.
enum MountFlag<'a> {
    Bind {
        spec: &'a str,
        writable: bool,
        devices: bool,
    },
    Devfs(&'a str),
    Tmpfs(&'a str),
    Dir(&'a str),
    Symlink(&'a str),
    File(&'a str),
    Contents {
        path: &'a str,
        contents: &'a [u8],
    },
    OverlayTmp(&'a str),
    Overlay(&'a str),
}

/// Builds the container and the command that `options` ask for.
pub(crate) fn lower(options: &Options) -> Result<(Container, Command), CliError> {
    let args = &options.args;
    let mut container = Container::new();
    if args.unshare_all {
        for ns in [
            Namespace::Cgroup,
            Namespace::Ipc,
            Namespace::Network,
            Namespace::Uts,
        ] {
            container.unshare(ns);
        }
    }
    for (flag, ns) in [
        (args.unshare_cgroup, Namespace::Cgroup),
        (args.unshare_ipc, Namespace::Ipc),
        (args.unshare_network, Namespace::Network),
        (args.unshare_uts, Namespace::Uts),
    ] {
        if flag {
            container.unshare(ns);
        }
    }
    // Said outright, it overrides --unshare-network and --unshare-all.
    if let Some(network) = &args.network {
        container.network(network.clone());
    }
    if let Some(spec) = &args.rootdir {
        let (dir, writable) = match spec.rsplit_once(':') {
            Some((dir, "rw")) => (dir, true),
            Some((dir, "ro")) => (dir, false),
            _ => (spec.as_str(), false),
        };
        container.rootdir(dir);
        if writable {
            container.runctl(Runctl::RootdirRW);
        }
    }
    // With --rootdir, `Options` leaves --rootfs at none unless it was given.
    if args.rootfs != "none" {
        container.rootfs(&args.rootfs)?;
    }
    for mount in mount_flags(options) {
        lower_mount(&mut container, mount)?;
    }
    let mut workdir = None;
    if let Some(spec) = &args.workdir {
        match spec.strip_prefix(':') {
            Some(dir) => workdir = Some(dir.to_string()),
            None => {
                let (host, target) = bind_spec(spec)?;
                container.bindmount_rw(&host, &target);
                workdir = Some(target);
            }
        }
    }
    if let Some(name) = &args.hostname {
        container.hostname(name);
    }
    lower_identity(args, &mut container)?;
    for (limit, resource) in [
        (args.limit_as, Rlimit::As),
        (args.limit_core, Rlimit::Core),
        (args.limit_cpu, Rlimit::Cpu),
        (args.limit_fsize, Rlimit::Fsize),
        (args.limit_memlock, Rlimit::Memlock),
        (args.limit_nofile, Rlimit::Nofile),
        (args.limit_nproc, Rlimit::Nproc),
        (args.limit_stack, Rlimit::Stack),
    ] {
        if let Some(value) = limit {
            // For CPU time the program first gets SIGXCPU at the limit, which
            // names the cause, and SIGKILL a second later if it goes on.
            let hard = match resource {
                Rlimit::Cpu => value.saturating_add(1),
                _ => value,
            };
            container.setrlimit(resource, value, hard);
        }
    }
    if let Some(cgroup) = cgroup(args) {
        container.cgroup(cgroup);
    }
    let mut ruleset = landlock_ruleset(args);
    for (path, access) in &options.landlock_fs {
        ruleset.add_fs_rule(path, *access);
    }
    if !ruleset.is_empty() {
        container.landlock_ruleset(ruleset);
    }
    seccomp(&mut container, args)?;

    let (program, program_args) = args
        .command
        .split_first()
        .ok_or_else(|| CliError::new("no command given"))?;
    let mut command = container.command(program);
    command.args(program_args);
    for var in &args.setenv {
        let (name, value) = match var.split_once('=') {
            Some((name, value)) => (name.to_string(), value.to_string()),
            None => (var.clone(), std::env::var(var).unwrap_or_default()),
        };
        if name.is_empty() {
            return Err(CliError::new(format!(
                "invalid --setenv {var:?}: empty name"
            )));
        }
        command.env(name, value);
    }
    if let Some(dir) = workdir {
        command.current_dir(dir);
    }
    if let Some(limit) = args.limit_walltime {
        command.wait_timeout(limit);
    }
    for &fd in &args.pass_fd {
        command.pass_fd(fd);
    }
    Ok((container, command))
}

/// `--memory`, `--memory-swap`, `--pids`, `--cpus`, `--cpu-weight`: the
/// sandbox's cgroup, when any is given.
fn cgroup(args: &RunArgs) -> Option<Cgroup> {
    let given = [args.memory, args.memory_swap, args.pids, args.cpu_weight]
        .iter()
        .any(Option::is_some)
        || args.cpus.is_some();
    if !given {
        return None;
    }
    let mut cgroup = Cgroup::new();
    if let Some(bytes) = args.memory {
        cgroup.memory(bytes);
    }
    if let Some(bytes) = args.memory_swap {
        cgroup.memory_swap(bytes);
    }
    if let Some(count) = args.pids {
        cgroup.pids(count);
    }
    if let Some(cpus) = args.cpus {
        cgroup.cpus(cpus);
    }
    if let Some(weight) = args.cpu_weight {
        cgroup.cpu_weight(weight);
    }
    Some(cgroup)
}

/// `--seccomp NAME|PATH` and `--allow-userns` (which only `default` reads:
/// the other profiles have their own rules) as the container's filter.
fn seccomp(container: &mut Container, args: &RunArgs) -> Result<(), CliError> {
    let filter = match args.seccomp.as_str() {
        "unconfined" => {
            container.seccomp_unconfined();
            return Ok(());
        }
        "default" if args.allow_userns => Filter::hardened(UserNamespaces::Allow),
        "default" => {
            container.seccomp_default();
            return Ok(());
        }
        "podman" => Filter::podman(),
        "audit" => Filter::audit(),
        path => Filter::from_file(path).map_err(hakoniwa::Error::from)?,
    };
    container.seccomp_filter(filter);
    Ok(())
}

/// The `--landlock-*` flags as a ruleset; empty when none was given.
fn landlock_ruleset(args: &RunArgs) -> Ruleset {
    let mut ruleset = Ruleset::new();
    let restrict_all = args
        .landlock_restrict_all
        .then_some(Resource::ALL.as_slice());
    let old_spellings = [
        (args.landlock_restrict_fs, Resource::Fs),
        (args.landlock_restrict_tcp_bind, Resource::TcpBind),
        (args.landlock_restrict_tcp_connect, Resource::TcpConnect),
    ];
    let restricted = args
        .landlock_restrict
        .iter()
        .chain(restrict_all.into_iter().flatten())
        .chain(old_spellings.iter().filter(|(on, _)| *on).map(|(_, r)| r));
    for resource in restricted {
        ruleset.restrict(*resource);
    }
    for (lists, access) in [
        (&args.landlock_fs_ro, FsAccess::R),
        (&args.landlock_fs_rw, FsAccess::R | FsAccess::W),
        (&args.landlock_fs_rx, FsAccess::R | FsAccess::X),
    ] {
        for entry in lists.iter().flat_map(|list| &list.0) {
            if entry.optional {
                ruleset.add_optional_fs_rule(&entry.path, access);
            } else {
                ruleset.add_fs_rule(&entry.path, access);
            }
        }
    }
    for (lists, access) in [
        (&args.landlock_tcp_bind, NetAccess::TcpBind),
        (&args.landlock_tcp_connect, NetAccess::TcpConnect),
    ] {
        for port in lists.iter().flat_map(|list| &list.0) {
            ruleset.add_net_rule(*port, access);
        }
    }
    for scope in &args.landlock_scope {
        ruleset.scope(*scope);
    }
    if let Some(mode) = args.landlock_compat {
        ruleset.compat(mode);
    }
    ruleset
}

/// Maps, user, capabilities, no_new_privs.
fn lower_identity(args: &RunArgs, container: &mut Container) -> Result<(), CliError> {
    // CONTAINER alone (or with HOST omitted) maps the caller's own id.
    let maps = |given: &[(u32, Option<u32>, u32)], own: u32| -> Vec<(u32, u32, u32)> {
        given
            .iter()
            .map(|&(inside, host, count)| (inside, host.unwrap_or(own), count))
            .collect()
    };
    if !args.uidmap.is_empty() {
        container.uidmaps(&maps(&args.uidmap, nix::unistd::getuid().as_raw()));
    }
    if !args.gidmap.is_empty() {
        container.gidmaps(&maps(&args.gidmap, nix::unistd::getgid().as_raw()));
    }
    if args.userns.is_some() {
        container.userns_auto()?;
    }
    if let Some(spec) = &args.user {
        let mut parts = spec.splitn(3, ':');
        let user = parts.next().unwrap_or_default();
        if user.is_empty() {
            return Err(CliError::new(format!(
                "invalid --user {spec:?}: empty user"
            )));
        }
        let group = parts.next().filter(|group| !group.is_empty());
        let supplementary: Vec<&str> = parts
            .next()
            .map(|list| list.split(',').filter(|g| !g.is_empty()).collect())
            .unwrap_or_default();
        container.user(user, group, &supplementary);
    }
    for cap in &args.cap_add {
        container.cap_add(cap);
    }
    for cap in &args.cap_drop {
        container.cap_drop(cap);
    }
    if args.allow_new_privs {
        container.runctl(Runctl::AllowNewPrivs);
    }
    if args.new_session {
        container.runctl(Runctl::NewSession);
    }
    if args.peak_memory {
        container.runctl(Runctl::GetProcPidStatus);
    }
    Ok(())
}

fn lower_mount(container: &mut Container, mount: MountFlag) -> Result<(), CliError> {
    match mount {
        MountFlag::Bind {
            spec,
            writable,
            devices,
        } => {
            let (host, target) = bind_spec(spec)?;
            match (writable, devices) {
                (_, true) => container.devbindmount(&host, &target),
                (true, false) => container.bindmount_rw(&host, &target),
                (false, false) => container.bindmount_ro(&host, &target),
            };
        }
        MountFlag::Devfs(path) => {
            container.devfsmount(path);
        }
        MountFlag::Tmpfs(spec) => {
            let (path, options) = match spec.split_once(':') {
                Some((path, options)) => (path, values::tmpfs_options(options)),
                None => (spec, Ok(TmpfsOptions::default())),
            };
            let options =
                options.map_err(|why| CliError::new(format!("invalid --tmpfs {spec:?}: {why}")))?;
            container.tmpfsmount_with(path, options);
        }
        MountFlag::Dir(spec) => {
            let (path, mode) = match spec.split_once(':') {
                Some((path, mode)) => (path, values::mode(mode)),
                None => (spec, Ok(0o700)),
            };
            let mode =
                mode.map_err(|why| CliError::new(format!("invalid --dir {spec:?}: {why}")))?;
            container.dir(path, mode);
        }
        MountFlag::Symlink(spec) => {
            let (original, link) = spec.split_once(':').ok_or_else(|| {
                CliError::new(format!(
                    "invalid --symlink {spec:?}: expected ORIGINAL:LINK"
                ))
            })?;
            container.symlink(original, link);
        }
        MountFlag::File(spec) => {
            let (path, host) = spec.split_once(':').ok_or_else(|| {
                CliError::new(format!(
                    "invalid --file {spec:?}: expected CONTAINER_PATH:HOST_FILE"
                ))
            })?;
            let contents = read::bytes(Path::new(host)).map_err(|err| CliError {
                message: format!("invalid --file {spec:?}: cannot read {host}"),
                source: Some(Box::new(err)),
                hint: None,
            })?;
            container.file(path, contents);
        }
        MountFlag::Contents { path, contents } => {
            container.file(path, contents);
        }
        MountFlag::OverlayTmp(path) => {
            container.overlaymount_tmp(path);
        }
        MountFlag::Overlay(spec) => {
            let mut parts = spec.splitn(3, ':');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(path), Some(upper), Some(work)) if !upper.is_empty() && !work.is_empty() => {
                    container.overlaymount(path, upper, work);
                }
                _ => {
                    return Err(CliError::new(format!(
                        "invalid --overlay {spec:?}: expected PATH:UPPER:WORK"
                    )))
                }
            }
        }
    }
    Ok(())
}

/// The filesystem flags in the order they were given, whichever flag each
/// came from (the library then applies parents first, keeping this order
/// among mounts of the same depth).
fn mount_flags(options: &Options) -> Vec<MountFlag<'_>> {
    let args = &options.args;
    let indices = |id: &str| options.order.indices(id);
    let mut flags: Vec<(usize, MountFlag<'_>)> = Vec::new();
    let ro = args.bindmount_ro.iter().map(|spec| MountFlag::Bind {
        spec,
        writable: false,
        devices: false,
    });
    flags.extend(indices("bindmount_ro").into_iter().zip(ro));
    let rw = args.bindmount_rw.iter().map(|spec| MountFlag::Bind {
        spec,
        writable: true,
        devices: false,
    });
    flags.extend(indices("bindmount_rw").into_iter().zip(rw));
    let dev = args.dev_bind.iter().map(|spec| MountFlag::Bind {
        spec,
        writable: false,
        devices: true,
    });
    flags.extend(indices("dev_bind").into_iter().zip(dev));
    let devfs = args.devfs.iter().map(|path| MountFlag::Devfs(path));
    flags.extend(indices("devfs").into_iter().zip(devfs));
    let tmpfs = args.tmpfs.iter().map(|path| MountFlag::Tmpfs(path));
    flags.extend(indices("tmpfs").into_iter().zip(tmpfs));
    let dirs = args.dir.iter().map(|spec| MountFlag::Dir(spec));
    flags.extend(indices("dir").into_iter().zip(dirs));
    let links = args.symlink.iter().map(|spec| MountFlag::Symlink(spec));
    flags.extend(indices("symlink").into_iter().zip(links));
    let files = args.file.iter().map(|spec| MountFlag::File(spec));
    flags.extend(indices("file").into_iter().zip(files));
    let contents = options
        .files
        .iter()
        .map(|(path, contents)| MountFlag::Contents { path, contents });
    flags.extend(indices(FILE_CONTENTS).into_iter().zip(contents));
    let overlays = args
        .overlay_tmp
        .iter()
        .map(|path| MountFlag::OverlayTmp(path));
    flags.extend(indices("overlay_tmp").into_iter().zip(overlays));
    let overlays = args.overlay.iter().map(|spec| MountFlag::Overlay(spec));
    flags.extend(indices("overlay").into_iter().zip(overlays));
    flags.sort_by_key(|(index, _)| *index);
    flags.into_iter().map(|(_, flag)| flag).collect()
}

/// `HOST[:CONTAINER]`: the host path made absolute (it must exist), and the
/// container path, which defaults to it.
fn bind_spec(spec: &str) -> Result<(String, String), CliError> {
    let (host, target) = match spec.split_once(':') {
        Some((host, target)) => (host, Some(target)),
        None => (spec, None),
    };
    if host.is_empty() {
        return Err(CliError::new(format!(
            "invalid mount {spec:?}: empty host path"
        )));
    }
    let canonical = fs::canonicalize(host).map_err(|err| CliError {
        message: format!("invalid bind-mount source {host}"),
        source: Some(Box::new(err)),
        hint: None,
    })?;
    let canonical = canonical.to_string_lossy().into_owned();
    let target = match target {
        Some(target) if !Path::new(target).is_absolute() => {
            return Err(CliError::new(format!(
                "invalid mount {spec:?}: container path {target:?} is not absolute"
            )))
        }
        Some(target) => target.to_string(),
        None => canonical.clone(),
    };
    Ok((canonical, target))
}
