//! Flags → `Container` + `Command`: the one mapping from what the user
//! wrote to the library's configuration.

use std::fs;
use std::path::Path;

use clap::ArgMatches;
use hakoniwa::{Command, Container, Namespace, Rlimit};

use crate::cli::CliError;
use crate::run::RunArgs;

/// One filesystem flag, in command-line order.
enum MountFlag<'a> {
    Bind { spec: &'a str, writable: bool },
    Devfs(&'a str),
    Tmpfs(&'a str),
}

/// Builds the container and the command that `args` ask for.
pub(crate) fn lower(
    args: &RunArgs,
    matches: &ArgMatches,
) -> Result<(Container, Command), CliError> {
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
    if args.rootfs != "none" {
        container.rootfs(&args.rootfs)?;
    }
    for mount in mount_flags(args, matches) {
        match mount {
            MountFlag::Bind { spec, writable } => {
                let (host, target) = bind_spec(spec)?;
                if writable {
                    container.bindmount_rw(&host, &target);
                } else {
                    container.bindmount_ro(&host, &target);
                }
            }
            MountFlag::Devfs(path) => {
                container.devfsmount(path);
            }
            MountFlag::Tmpfs(path) => {
                container.tmpfsmount(path);
            }
        }
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
            container.setrlimit(resource, value, value);
        }
    }

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
    Ok((container, command))
}

/// The filesystem flags in the order they were given, whichever flag each
/// came from: a later mount may sit on an earlier one.
fn mount_flags<'a>(args: &'a RunArgs, matches: &ArgMatches) -> Vec<MountFlag<'a>> {
    let indices = |id: &str| -> Vec<usize> {
        matches
            .indices_of(id)
            .map(|indices| indices.collect())
            .unwrap_or_default()
    };
    let mut flags: Vec<(usize, MountFlag<'a>)> = Vec::new();
    let ro = args.bindmount_ro.iter().map(|spec| MountFlag::Bind {
        spec,
        writable: false,
    });
    flags.extend(indices("bindmount_ro").into_iter().zip(ro));
    let rw = args.bindmount_rw.iter().map(|spec| MountFlag::Bind {
        spec,
        writable: true,
    });
    flags.extend(indices("bindmount_rw").into_iter().zip(rw));
    let devfs = args.devfs.iter().map(|path| MountFlag::Devfs(path));
    flags.extend(indices("devfs").into_iter().zip(devfs));
    let tmpfs = args.tmpfs.iter().map(|path| MountFlag::Tmpfs(path));
    flags.extend(indices("tmpfs").into_iter().zip(tmpfs));
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
