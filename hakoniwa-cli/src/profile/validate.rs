//! Stage 4: the values of one parsed file, checked and given their types.
//! Each error names the key it is about (`mounts[3].source`); the caller
//! adds the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hakoniwa::landlock::{CompatMode, FsAccess, NetAccess, Resource, Scope};
use hakoniwa::{Namespace, Rlimit};

use super::model::{self, File, LimitValue};
use crate::values;

/// A key whose value is wrong, and why.
#[derive(Debug, PartialEq)]
pub(crate) struct Invalid {
    pub key: String,
    pub message: String,
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// What one file says, checked. Lists keep the file's order; `None` is a
/// single value the file does not set.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Layer {
    /// Each namespace with `share`: later entries win.
    pub namespaces: Vec<(Namespace, bool)>,
    pub rootfs: Option<String>,
    pub mounts: Vec<Mount>,
    /// `(PATH, CONTENTS)` of files to create.
    pub files: Vec<(String, String)>,
    /// Directories to create (mode 0700).
    pub dirs: Vec<String>,
    /// `ORIGINAL:LINK`.
    pub symlinks: Vec<String>,
    /// `PATH` or `PATH:rw`.
    pub rootdir: Option<String>,
    /// `NAME=VALUE`, or `NAME` to copy the caller's value.
    pub envs: Vec<String>,
    pub network: Option<NetworkMode>,
    pub landlock: Landlock,
    pub uidmaps: Vec<(u32, Option<u32>, u32)>,
    pub gidmaps: Vec<(u32, Option<u32>, u32)>,
    pub userns: Option<String>,
    /// `USER[:GROUP[:SUPP,...]]`.
    pub user: Option<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub allow_new_privs: Option<bool>,
    pub new_session: Option<bool>,
    pub peak_memory: Option<bool>,
    pub hostname: Option<String>,
    /// Later entries for the same resource win.
    pub rlimits: Vec<(Rlimit, u64)>,
    pub walltime: Option<Duration>,
    pub seccomp: Option<String>,
    pub allow_userns: Option<bool>,
    pub cmdline: Option<Vec<String>>,
    pub cwd: Option<String>,
    pub report: Option<String>,
    pub cgroup: CgroupLimits,
}

/// `[cgroup]`: each limit `None` unless the file sets it.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct CgroupLimits {
    pub memory: Option<u64>,
    pub memory_swap: Option<u64>,
    pub pids: Option<u64>,
    pub cpus: Option<f64>,
    pub cpu_weight: Option<u64>,
}

/// One entry of `mounts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Mount {
    /// `dev`: its device nodes can be opened (`--dev-bind`).
    Bind {
        source: String,
        destination: String,
        rw: bool,
        dev: bool,
    },
    /// The destination and, as `--tmpfs` takes them, options.
    Tmpfs(String, Option<String>),
    Devfs(String),
    /// The destination and, for changes kept on the host, upper and work.
    Overlay(String, Option<(String, String)>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NetworkMode {
    /// A new network namespace with only loopback.
    None,
    /// The caller's network namespace.
    Host,
    /// A new network namespace connected by pasta, with these options.
    Pasta(Vec<String>),
}

#[derive(Debug, Default, PartialEq)]
pub(crate) struct Landlock {
    /// Each resource with `unrestrict`: later entries win.
    pub resources: Vec<(Resource, bool)>,
    pub fs: Vec<(PathBuf, FsAccess)>,
    pub net: Vec<(u16, NetAccess)>,
    pub scopes: Vec<Scope>,
    pub compat: Option<CompatMode>,
}

/// The rlimits a profile may set, by their names in `limits[].type`.
const RLIMITS: [Rlimit; 8] = [
    Rlimit::As,
    Rlimit::Core,
    Rlimit::Cpu,
    Rlimit::Fsize,
    Rlimit::Memlock,
    Rlimit::Nofile,
    Rlimit::Nproc,
    Rlimit::Stack,
];

/// Checks every value of `file`.
pub(crate) fn validate(file: File) -> Result<Layer, Invalid> {
    let mut layer = Layer::default();
    for (i, entry) in file.namespaces.into_iter().enumerate() {
        layer.namespaces.push((
            namespace(&entry.kind, &format!("namespaces[{i}].type"))?,
            entry.share,
        ));
    }
    layer.rootfs = file
        .rootfs
        .map(|rootfs| non_empty(rootfs, "rootfs"))
        .transpose()?;
    for (i, entry) in file.mounts.into_iter().enumerate() {
        layer.mounts.push(mount(entry, i)?);
    }
    if let Some(filesystem) = file.filesystem {
        self::filesystem(filesystem, &mut layer)?;
    }
    for (i, entry) in file.envs.into_iter().enumerate() {
        let key = format!("envs[{i}].name");
        if entry.name.is_empty() || entry.name.contains('=') {
            return Err(invalid(key, "a variable name is not empty and has no '='"));
        }
        layer.envs.push(match entry.value {
            Some(value) => format!("{}={value}", entry.name),
            None => entry.name,
        });
    }
    layer.network = file.network.map(network).transpose()?;
    if let Some(landlock) = file.landlock {
        layer.landlock = self::landlock(landlock)?;
    }
    if let Some(rootdir) = file.rootdir {
        let path = non_empty(rootdir.path, "rootdir.path")?;
        if let Err(err) = Path::new(&path).metadata() {
            return Err(invalid("rootdir.path", format!("{path}: {err}")));
        }
        layer.rootdir = Some(match rootdir.rw {
            true => format!("{path}:rw"),
            false => path,
        });
    }
    layer.uidmaps = id_maps(file.uidmaps, "uidmaps")?;
    layer.gidmaps = id_maps(file.gidmaps, "gidmaps")?;
    if let Some(mode) = file.userns {
        if mode != "auto" {
            return Err(invalid("userns", format!("{mode:?} is not a mode (auto)")));
        }
        layer.userns = Some(mode);
    }
    layer.user = file.user.map(user).transpose()?;
    if let Some(caps) = file.capabilities {
        for (list, name) in [(&caps.add, "add"), (&caps.drop, "drop")] {
            if let Some(i) = list.iter().position(|cap| cap.is_empty()) {
                return Err(invalid(
                    format!("capabilities.{name}[{i}]"),
                    "a capability name is not empty",
                ));
            }
        }
        layer.cap_add = caps.add;
        layer.cap_drop = caps.drop;
    }
    layer.allow_new_privs = file.allow_new_privs;
    layer.new_session = file.new_session;
    layer.peak_memory = file.peak_memory;
    layer.hostname = file
        .hostname
        .map(|name| non_empty(name, "hostname"))
        .transpose()?;
    for (i, entry) in file.limits.into_iter().enumerate() {
        limit(&mut layer, entry, i)?;
    }
    if let Some(seccomp) = file.seccomp {
        layer.seccomp = seccomp
            .path
            .map(|path| non_empty(path, "seccomp.path"))
            .transpose()?;
        layer.allow_userns = seccomp.allow_userns;
    }
    if let Some(command) = file.command {
        if let Some(cmdline) = command.cmdline {
            if cmdline.first().is_none_or(|program| program.is_empty()) {
                return Err(invalid(
                    "command.cmdline",
                    "the command line starts with the program",
                ));
            }
            layer.cmdline = Some(cmdline);
        }
        layer.cwd = command
            .cwd
            .map(|cwd| absolute(cwd, "command.cwd"))
            .transpose()?;
    }
    layer.report = file
        .report
        .map(|path| non_empty(path, "report"))
        .transpose()?;
    if let Some(cgroup) = file.cgroup {
        layer.cgroup = self::cgroup(cgroup)?;
    }
    Ok(layer)
}

/// `[cgroup]`: sizes and counts as numbers or as the flags spell them.
fn cgroup(table: model::CgroupTable) -> Result<CgroupLimits, Invalid> {
    let amount = |value: Option<LimitValue>, key: &str, parse: fn(&str) -> Result<u64, String>| {
        match value {
            None => Ok(None),
            Some(LimitValue::Integer(n)) => Ok(Some(n)),
            Some(LimitValue::Float(_)) => Err(invalid(key, "a whole number")),
            Some(LimitValue::Text(text)) => parse(&text).map(Some).map_err(|err| invalid(key, err)),
        }
    };
    Ok(CgroupLimits {
        memory: amount(table.memory, "cgroup.memory", values::size)?,
        memory_swap: amount(table.memory_swap, "cgroup.memory_swap", values::size)?,
        pids: amount(table.pids, "cgroup.pids", values::count)?,
        cpus: table.cpus,
        cpu_weight: table.cpu_weight,
    })
}

fn non_empty(value: String, key: &str) -> Result<String, Invalid> {
    if value.is_empty() {
        return Err(invalid(key, "empty"));
    }
    Ok(value)
}

/// A path in the sandbox.
fn absolute(path: String, key: &str) -> Result<String, Invalid> {
    if !path.starts_with('/') {
        return Err(invalid(
            key,
            format!("{path:?} is not absolute (it is a path in the sandbox)"),
        ));
    }
    Ok(path)
}

fn namespace(kind: &str, key: &str) -> Result<Namespace, Invalid> {
    match kind {
        "cgroup" => Ok(Namespace::Cgroup),
        "ipc" => Ok(Namespace::Ipc),
        "network" => Ok(Namespace::Network),
        "uts" => Ok(Namespace::Uts),
        "mount" | "pid" | "user" => Err(invalid(
            key,
            format!("the {kind} namespace is always new; it cannot be listed or shared"),
        )),
        _ => Err(invalid(
            key,
            format!("unknown namespace {kind:?} (cgroup, ipc, network or uts)"),
        )),
    }
}

fn mount(entry: model::MountEntry, i: usize) -> Result<Mount, Invalid> {
    let key = |field: &str| format!("mounts[{i}].{field}");
    let destination = entry.destination.unwrap_or_else(|| entry.source.clone());
    // The flags' syntax is HOST:CONTAINER, so a ':' in a path is ambiguous.
    for (path, field) in [(&entry.source, "source"), (&destination, "destination")] {
        if path.contains(':') {
            return Err(invalid(
                key(field),
                format!("{path:?}: ':' in a path is not supported"),
            ));
        }
    }
    let destination = absolute(destination, &key("destination"))?;
    if entry.options.is_some() && entry.kind != "tmpfs" {
        return Err(invalid(key("options"), "options are for a tmpfs"));
    }
    if (entry.upper.is_some() || entry.work.is_some()) && entry.kind != "overlay" {
        return Err(invalid(key("upper"), "upper and work are for an overlay"));
    }
    if entry.dev && !matches!(entry.kind.as_str(), "" | "bind") {
        return Err(invalid(key("dev"), "dev is for binds"));
    }
    if entry.dev && entry.rw {
        return Err(invalid(
            key("rw"),
            "a bind with dev = true is read-only (its device nodes stay writable); drop rw",
        ));
    }
    match entry.kind.as_str() {
        "" | "bind" => {
            if entry.source.is_empty() {
                return Err(invalid(key("source"), "a bind needs a host path"));
            }
            // Checked here to name the key; the mapping canonicalizes it.
            if let Err(err) = Path::new(&entry.source).metadata() {
                return Err(invalid(key("source"), format!("{}: {err}", entry.source)));
            }
            Ok(Mount::Bind {
                source: entry.source,
                destination,
                rw: entry.rw,
                dev: entry.dev,
            })
        }
        "tmpfs" | "devfs" | "overlay" if entry.rw => Err(invalid(
            key("rw"),
            format!("a {} is always writable; rw is for binds", entry.kind),
        )),
        "tmpfs" => {
            if let Some(options) = &entry.options {
                crate::values::tmpfs_options(options)
                    .map_err(|why| invalid(key("options"), why))?;
            }
            Ok(Mount::Tmpfs(destination, entry.options))
        }
        "devfs" => Ok(Mount::Devfs(destination)),
        "overlay" => match (entry.upper, entry.work) {
            (None, None) => Ok(Mount::Overlay(destination, None)),
            (Some(upper), Some(work)) => {
                for (path, field) in [(&upper, "upper"), (&work, "work")] {
                    if path.contains(':') {
                        return Err(invalid(
                            key(field),
                            format!("{path:?}: ':' in a path is not supported"),
                        ));
                    }
                }
                Ok(Mount::Overlay(destination, Some((upper, work))))
            }
            _ => Err(invalid(
                key("upper"),
                "an overlay kept on the host needs both upper and work",
            )),
        },
        other => Err(invalid(
            key("type"),
            format!("unknown mount type {other:?} (\"\" for a bind, tmpfs, devfs or overlay)"),
        )),
    }
}

fn filesystem(filesystem: model::Filesystem, layer: &mut Layer) -> Result<(), Invalid> {
    for (i, file) in filesystem.files.into_iter().enumerate() {
        let key = format!("filesystem.files[{i}].destination");
        layer
            .files
            .push((absolute(file.destination, &key)?, file.contents));
    }
    // The flags' syntax is PATH[:MODE] and ORIGINAL:LINK.
    for (i, dir) in filesystem.dirs.into_iter().enumerate() {
        let key = format!("filesystem.dirs[{i}].destination");
        layer
            .dirs
            .push(no_colon(absolute(dir.destination, &key)?, &key)?);
    }
    for (i, symlink) in filesystem.symlinks.into_iter().enumerate() {
        let key = |field| format!("filesystem.symlinks[{i}].{field}");
        let original = no_colon(
            non_empty(symlink.original, &key("original"))?,
            &key("original"),
        )?;
        let link = absolute(symlink.link, &key("link"))?;
        layer.symlinks.push(format!("{original}:{link}"));
    }
    Ok(())
}

fn no_colon(path: String, key: &str) -> Result<String, Invalid> {
    if path.contains(':') {
        return Err(invalid(
            key,
            format!("{path:?}: ':' in a path is not supported"),
        ));
    }
    Ok(path)
}

fn network(network: model::Network) -> Result<NetworkMode, Invalid> {
    let mode = match network.mode.as_str() {
        "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        "pasta" => return Ok(NetworkMode::Pasta(network.options)),
        other => {
            return Err(invalid(
                "network.mode",
                format!("unknown network mode {other:?} (none, host or pasta)"),
            ))
        }
    };
    if !network.options.is_empty() {
        return Err(invalid(
            "network.options",
            format!("options are for pasta, not for mode {:?}", network.mode),
        ));
    }
    Ok(mode)
}

fn landlock(landlock: model::Landlock) -> Result<Landlock, Invalid> {
    let mut layer = Landlock::default();
    for (i, entry) in landlock.resources.into_iter().enumerate() {
        let resource = entry
            .kind
            .parse()
            .map_err(|err| invalid(format!("landlock.resources[{i}].type"), format!("{err}")))?;
        layer.resources.push((resource, entry.unrestrict));
    }
    for (i, rule) in landlock.fs.into_iter().enumerate() {
        let path = absolute(rule.path, &format!("landlock.fs[{i}].path"))?;
        let access = fs_access(&rule.access).ok_or_else(|| {
            invalid(
                format!("landlock.fs[{i}].access"),
                format!(
                    "{:?} is not an access mask (r, w, x in this order, - for an absent \
                         right: r--, rw-, r-x, rwx…)",
                    rule.access
                ),
            )
        })?;
        layer.fs.push((path.into(), access));
    }
    for (i, rule) in landlock.net.into_iter().enumerate() {
        let access = match rule.access.as_str() {
            "tcp.bind" | "bind" => NetAccess::TcpBind,
            "tcp.connect" | "connect" => NetAccess::TcpConnect,
            other => {
                return Err(invalid(
                    format!("landlock.net[{i}].access"),
                    format!("unknown access {other:?} (tcp.bind or tcp.connect)"),
                ))
            }
        };
        layer.net.push((rule.port, access));
    }
    for (i, scope) in landlock.scope.iter().enumerate() {
        let scope = scope
            .parse()
            .map_err(|err| invalid(format!("landlock.scope[{i}]"), format!("{err}")))?;
        layer.scopes.push(scope);
    }
    layer.compat = landlock
        .compat
        .map(|mode| {
            mode.parse()
                .map_err(|err| invalid("landlock.compat", format!("{err}")))
        })
        .transpose()?;
    Ok(layer)
}

/// `r--`, `rw-`, `r-x`, `-wx`… (hakoniwa 1.x), or the letters alone
/// (`rx`, as the flags' library spells it).
fn fs_access(mask: &str) -> Option<FsAccess> {
    let letters: String = if mask.len() == 3 && mask.contains('-') {
        let positions = mask.chars().zip(['r', 'w', 'x']);
        let mut letters = String::new();
        for (given, expected) in positions {
            match given {
                '-' => {}
                letter if letter == expected => letters.push(letter),
                _ => return None,
            }
        }
        letters
    } else {
        mask.to_string()
    };
    letters.parse().ok()
}

fn id_maps(
    entries: Vec<model::IdMapEntry>,
    name: &str,
) -> Result<Vec<(u32, Option<u32>, u32)>, Invalid> {
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            let count = entry.count.unwrap_or(1);
            if count == 0 {
                return Err(invalid(format!("{name}[{i}].count"), "at least 1"));
            }
            Ok((entry.container_id, entry.host_id, count))
        })
        .collect()
}

fn user(user: model::User) -> Result<String, Invalid> {
    if user.name.is_empty() || user.name.contains(':') {
        return Err(invalid("user.name", "a user name or number, without ':'"));
    }
    let group = user.group.unwrap_or_default();
    if group.contains(':') {
        return Err(invalid("user.group", "a group name or number, without ':'"));
    }
    if let Some(i) = user
        .groups
        .iter()
        .position(|g| g.is_empty() || g.contains([':', ',']))
    {
        return Err(invalid(
            format!("user.groups[{i}]"),
            "a group name or number, without ':' or ','",
        ));
    }
    Ok(match (group.is_empty(), user.groups.is_empty()) {
        (true, true) => user.name,
        (false, true) => format!("{}:{group}", user.name),
        _ => format!("{}:{group}:{}", user.name, user.groups.join(",")),
    })
}

fn limit(layer: &mut Layer, entry: model::LimitEntry, i: usize) -> Result<(), Invalid> {
    let key = format!("limits[{i}].value");
    if entry.kind == "walltime" {
        let seconds = match entry.value {
            LimitValue::Integer(n) => values::seconds(&n.to_string()),
            LimitValue::Float(x) => values::seconds(&x.to_string()),
            LimitValue::Text(text) => values::seconds(&text),
        };
        layer.walltime = Some(seconds.map_err(|err| invalid(key, err))?);
        return Ok(());
    }
    let Some(resource) = RLIMITS.into_iter().find(|r| r.to_string() == entry.kind) else {
        return Err(invalid(
            format!("limits[{i}].type"),
            format!(
                "unknown limit {:?} (as, core, cpu, fsize, memlock, nofile, nproc, stack or walltime)",
                entry.kind
            ),
        ));
    };
    let is_size = matches!(
        resource,
        Rlimit::As | Rlimit::Core | Rlimit::Fsize | Rlimit::Memlock | Rlimit::Stack
    );
    let value = match entry.value {
        LimitValue::Integer(n) => n,
        LimitValue::Float(_) => {
            return Err(invalid(key, "a whole number (fractions are for walltime)"))
        }
        LimitValue::Text(text) if is_size => {
            values::size(&text).map_err(|err| invalid(key, err))?
        }
        LimitValue::Text(text) => values::count(&text).map_err(|err| invalid(key, err))?,
    };
    layer.rlimits.push((resource, value));
    Ok(())
}

#[cfg(test)]
mod tests;
