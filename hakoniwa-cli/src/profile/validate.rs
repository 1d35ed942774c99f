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
mod tests {
    use super::*;

    fn layer(text: &str) -> Result<Layer, Invalid> {
        validate(toml::from_str(text).expect("valid TOML"))
    }

    fn error(text: &str) -> (String, String) {
        let err = layer(text).unwrap_err();
        (err.key, err.message)
    }

    #[test]
    fn cgroup_limits_take_numbers_and_the_flags_spellings() {
        let got = layer(
            r#"cgroup = { memory = "256M", memory_swap = 536870912, pids = "unlimited", cpus = 0.5, cpu_weight = 50 }"#,
        )
        .unwrap();
        assert_eq!(
            got.cgroup,
            CgroupLimits {
                memory: Some(256 << 20),
                memory_swap: Some(512 << 20),
                pids: Some(values::UNLIMITED),
                cpus: Some(0.5),
                cpu_weight: Some(50),
            }
        );
        assert_eq!(error(r#"cgroup = { memory = "lots" }"#).0, "cgroup.memory");
        assert_eq!(error("cgroup = { pids = 1.5 }").0, "cgroup.pids");
    }

    #[test]
    fn namespaces_keep_their_order_and_share_flag() {
        let got = layer(
            r#"namespaces = [{ type = "cgroup" }, { type = "ipc" }, { type = "network" },
                             { type = "uts" }, { type = "network", share = true }]"#,
        )
        .unwrap();
        assert_eq!(
            got.namespaces,
            [
                (Namespace::Cgroup, false),
                (Namespace::Ipc, false),
                (Namespace::Network, false),
                (Namespace::Uts, false),
                (Namespace::Network, true)
            ]
        );
        let (key, message) = error(r#"namespaces = [{ type = "uts" }, { type = "time" }]"#);
        assert_eq!(key, "namespaces[1].type");
        assert!(message.contains("unknown namespace \"time\""), "{message}");
        assert!(error(r#"namespaces = [{ type = "user" }]"#)
            .1
            .contains("always new"));
    }

    #[test]
    fn tmpfs_options_and_overlays() {
        let got = layer(
            r#"mounts = [
                { destination = "/tmp", type = "tmpfs", options = "size=64m,mode=1777" },
                { destination = "/usr", type = "overlay" },
                { destination = "/data", type = "overlay", upper = "/u", work = "/w" },
            ]"#,
        )
        .unwrap();
        assert_eq!(
            got.mounts,
            [
                Mount::Tmpfs("/tmp".into(), Some("size=64m,mode=1777".into())),
                Mount::Overlay("/usr".into(), None),
                Mount::Overlay("/data".into(), Some(("/u".into(), "/w".into()))),
            ]
        );
        let bad = [
            (
                r#"mounts = [{ destination = "/t", type = "tmpfs", options = "uid=0" }]"#,
                "mounts[0].options",
            ),
            (
                r#"mounts = [{ source = "/usr", options = "size=1m" }]"#,
                "mounts[0].options",
            ),
            (
                r#"mounts = [{ destination = "/d", type = "overlay", upper = "/u" }]"#,
                "mounts[0].upper",
            ),
            (
                r#"mounts = [{ source = "/usr", upper = "/u", work = "/w" }]"#,
                "mounts[0].upper",
            ),
        ];
        for (text, key) in bad {
            assert_eq!(error(text).0, key, "{text}");
        }
    }

    #[test]
    fn mounts_default_their_destination_and_type() {
        let got = layer(
            r#"mounts = [
                { source = "/usr" },
                { source = "/etc", destination = "/host-etc", rw = true },
                { source = "", destination = "/tmp", type = "tmpfs" },
                { source = "/dev", type = "devfs" },
                { source = "/bin", type = "bind" },
                { source = "/dev/null", destination = "/null", dev = true },
            ]"#,
        )
        .unwrap();
        assert_eq!(
            got.mounts,
            [
                Mount::Bind {
                    source: "/usr".into(),
                    destination: "/usr".into(),
                    rw: false,
                    dev: false
                },
                Mount::Bind {
                    source: "/etc".into(),
                    destination: "/host-etc".into(),
                    rw: true,
                    dev: false
                },
                Mount::Tmpfs("/tmp".into(), None),
                Mount::Devfs("/dev".into()),
                Mount::Bind {
                    source: "/bin".into(),
                    destination: "/bin".into(),
                    rw: false,
                    dev: false
                },
                Mount::Bind {
                    source: "/dev/null".into(),
                    destination: "/null".into(),
                    rw: false,
                    dev: true
                },
            ]
        );
    }

    #[test]
    fn bad_mounts_name_their_key() {
        let (key, message) =
            error(r#"mounts = [{ source = "/usr" }, { source = "/nonexistent-hakoniwa" }]"#);
        assert_eq!(key, "mounts[1].source");
        assert!(message.contains("No such file"), "{message}");
        let cases = [
            (
                r#"mounts = [{ source = "/usr", type = "squashfs" }]"#,
                "mounts[0].type",
            ),
            (
                r#"mounts = [{ source = "/dev/null", dev = true, rw = true }]"#,
                "mounts[0].rw",
            ),
            (
                r#"mounts = [{ destination = "/tmp", type = "tmpfs", dev = true }]"#,
                "mounts[0].dev",
            ),
            (
                r#"mounts = [{ source = "/usr", destination = "usr" }]"#,
                "mounts[0].destination",
            ),
            (
                r#"mounts = [{ source = "", type = "tmpfs" }]"#,
                "mounts[0].destination",
            ),
            (r#"mounts = [{ source = "" }]"#, "mounts[0].destination"),
            (
                r#"mounts = [{ source = "", destination = "/x" }]"#,
                "mounts[0].source",
            ),
            (
                r#"mounts = [{ source = "/a:b", destination = "/x" }]"#,
                "mounts[0].source",
            ),
            (
                r#"mounts = [{ destination = "/t", type = "tmpfs", rw = true }]"#,
                "mounts[0].rw",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error(text).0, expected, "{text}");
        }
    }

    #[test]
    fn envs_without_a_value_copy_the_callers() {
        let got = layer(r#"envs = [{ name = "TERM" }, { name = "A", value = "1=2" }, { name = "E", value = "" }]"#)
            .unwrap();
        assert_eq!(got.envs, ["TERM", "A=1=2", "E="]);
        assert_eq!(error(r#"envs = [{ name = "A=B" }]"#).0, "envs[0].name");
        assert_eq!(error(r#"envs = [{ name = "" }]"#).0, "envs[0].name");
    }

    #[test]
    fn network_modes() {
        assert_eq!(
            layer("network.mode = \"none\"").unwrap().network,
            Some(NetworkMode::None)
        );
        assert_eq!(
            layer("[network]\nmode = \"host\"").unwrap().network,
            Some(NetworkMode::Host)
        );
        assert_eq!(
            layer("[network]\nmode = \"pasta\"\noptions = [\"-T\", \"auto\"]")
                .unwrap()
                .network,
            Some(NetworkMode::Pasta(vec!["-T".into(), "auto".into()]))
        );
        assert_eq!(error("network.mode = \"slirp\"").0, "network.mode");
        assert_eq!(
            error("network = { mode = \"none\", options = [\"-T\"] }").0,
            "network.options"
        );
    }

    #[test]
    fn landlock_rules_and_masks() {
        let got = layer(
            r#"
            [landlock]
            resources = [{ type = "fs" }, { type = "tcp.connect", unrestrict = true }]
            fs = [{ path = "/usr", access = "r-x" }, { path = "/tmp", access = "rw-" },
                  { path = "/w", access = "-w-" }, { path = "/all", access = "rwx" },
                  { path = "/x", access = "--x" }, { path = "/etc", access = "r" }]
            net = [{ port = 443, access = "tcp.connect" }, { port = 8080, access = "bind" }]
            scope = ["signal"]
            compat = "best-effort"
            "#,
        )
        .unwrap()
        .landlock;
        assert_eq!(
            got.resources,
            [(Resource::Fs, false), (Resource::TcpConnect, true)]
        );
        let masks: Vec<String> = got.fs.iter().map(|(_, a)| a.to_string()).collect();
        assert_eq!(masks, ["rx", "rw", "w", "rwx", "x", "r"]);
        assert_eq!(
            got.net,
            [(443, NetAccess::TcpConnect), (8080, NetAccess::TcpBind)]
        );
        assert_eq!(got.scopes, [Scope::Signal]);
        assert_eq!(got.compat, Some(CompatMode::BestEffort));
        for (text, key) in [
            (
                "landlock.resources = [{ type = \"udp\" }]",
                "landlock.resources[0].type",
            ),
            (
                "landlock.fs = [{ path = \"/a\", access = \"w-r\" }]",
                "landlock.fs[0].access",
            ),
            (
                "landlock.fs = [{ path = \"/a\", access = \"---\" }]",
                "landlock.fs[0].access",
            ),
            (
                "landlock.fs = [{ path = \"a\", access = \"r--\" }]",
                "landlock.fs[0].path",
            ),
            (
                "landlock.net = [{ port = 1, access = \"udp\" }]",
                "landlock.net[0].access",
            ),
            ("landlock.scope = [\"ipc\"]", "landlock.scope[0]"),
            ("landlock.compat = \"maybe\"", "landlock.compat"),
        ] {
            assert_eq!(error(text).0, key, "{text}");
        }
    }

    #[test]
    fn id_maps_default_to_the_caller_and_one_id() {
        let got = layer(
            "uidmaps = [{ container_id = 0 }, { container_id = 1, host_id = 100000, count = 65536 }]\n\
             gidmaps = [{ container_id = 0, host_id = 5, size = 2 }]",
        )
        .unwrap();
        assert_eq!(got.uidmaps, [(0, None, 1), (1, Some(100000), 65536)]);
        assert_eq!(got.gidmaps, [(0, Some(5), 2)]);
        assert_eq!(
            error("uidmaps = [{ container_id = 0, count = 0 }]").0,
            "uidmaps[0].count"
        );
    }

    #[test]
    fn identity_keys() {
        let got = layer(
            r#"
            userns = "auto"
            allow_new_privs = true
            user = { name = "builder", group = "staff", groups = ["wheel", "audio"] }
            capabilities = { add = ["NET_RAW"], drop = ["ALL"] }
            "#,
        )
        .unwrap();
        assert_eq!(got.userns.as_deref(), Some("auto"));
        assert_eq!(got.allow_new_privs, Some(true));
        assert_eq!(got.user.as_deref(), Some("builder:staff:wheel,audio"));
        assert_eq!(got.cap_add, ["NET_RAW"]);
        assert_eq!(got.cap_drop, ["ALL"]);
        let user = |text| layer(text).unwrap().user.unwrap();
        assert_eq!(user("user.name = \"nobody\""), "nobody");
        assert_eq!(
            user("user = { name = \"1000\", groups = [\"10\"] }"),
            "1000::10"
        );
        assert_eq!(error("userns = \"keep-id\"").0, "userns");
        assert_eq!(error("user.name = \"a:b\"").0, "user.name");
        assert_eq!(
            error("user = { name = \"a\", groups = [\"x,y\"] }").0,
            "user.groups[0]"
        );
        assert_eq!(error("capabilities.add = [\"\"]").0, "capabilities.add[0]");
    }

    #[test]
    fn limits_take_numbers_and_the_flags_spellings() {
        let got = layer(
            r#"limits = [
                { type = "as", value = 1073741824 }, { type = "core", value = 0 },
                { type = "cpu", value = 30 }, { type = "fsize", value = "64M" },
                { type = "memlock", value = "64k" }, { type = "nofile", value = "unlimited" },
                { type = "nproc", value = 100 }, { type = "stack", value = "8M" },
                { type = "walltime", value = 1.5 },
            ]"#,
        )
        .unwrap();
        assert_eq!(
            got.rlimits,
            [
                (Rlimit::As, 1 << 30),
                (Rlimit::Core, 0),
                (Rlimit::Cpu, 30),
                (Rlimit::Fsize, 64 << 20),
                (Rlimit::Memlock, 64 << 10),
                (Rlimit::Nofile, values::UNLIMITED),
                (Rlimit::Nproc, 100),
                (Rlimit::Stack, 8 << 20),
            ]
        );
        assert_eq!(got.walltime, Some(Duration::from_millis(1500)));
        assert_eq!(
            layer("limits = [{ type = \"walltime\", value = 2 }]")
                .unwrap()
                .walltime,
            Some(Duration::from_secs(2))
        );
        for (text, key) in [
            ("limits = [{ type = \"rss\", value = 1 }]", "limits[0].type"),
            (
                "limits = [{ type = \"cpu\", value = \"1G\" }]",
                "limits[0].value",
            ),
            (
                "limits = [{ type = \"as\", value = 1.5 }]",
                "limits[0].value",
            ),
            (
                "limits = [{ type = \"walltime\", value = 0 }]",
                "limits[0].value",
            ),
        ] {
            assert_eq!(error(text).0, key, "{text}");
        }
    }

    #[test]
    fn scalar_keys() {
        let got = layer(
            r#"
            rootfs = "/"
            hostname = "box"
            report = "-"
            seccomp = { path = "podman", allow_userns = true }
            command = { cmdline = ["sh", "-c", "true"], cwd = "/tmp" }
            "#,
        )
        .unwrap();
        assert_eq!(got.rootfs.as_deref(), Some("/"));
        assert_eq!(got.hostname.as_deref(), Some("box"));
        assert_eq!(got.report.as_deref(), Some("-"));
        assert_eq!(got.seccomp.as_deref(), Some("podman"));
        assert_eq!(got.allow_userns, Some(true));
        assert_eq!(
            got.cmdline,
            Some(vec!["sh".to_string(), "-c".into(), "true".into()])
        );
        assert_eq!(got.cwd.as_deref(), Some("/tmp"));
        for (text, key) in [
            ("hostname = \"\"", "hostname"),
            ("command.cmdline = []", "command.cmdline"),
            ("command.cwd = \"tmp\"", "command.cwd"),
            ("seccomp.path = \"\"", "seccomp.path"),
            ("rootfs = \"\"", "rootfs"),
        ] {
            assert_eq!(error(text).0, key, "{text}");
        }
    }

    #[test]
    fn rootdir_and_filesystem_entries() {
        let got = layer(
            r#"
            rootdir = { path = "/usr", rw = true }
            [filesystem]
            files = [{ destination = "/etc/motd", contents = "hi:there\n" }]
            dirs = [{ destination = "/work" }]
            symlinks = [{ original = "usr/bin", link = "/bin" }]
            "#,
        )
        .unwrap();
        assert_eq!(got.rootdir.as_deref(), Some("/usr:rw"));
        assert_eq!(
            layer("rootdir.path = \"/usr\"").unwrap().rootdir.as_deref(),
            Some("/usr")
        );
        assert_eq!(
            got.files,
            [("/etc/motd".to_string(), "hi:there\n".to_string())]
        );
        assert_eq!(got.dirs, ["/work"]);
        assert_eq!(got.symlinks, ["usr/bin:/bin"]);
        for (text, key) in [
            ("rootdir.path = \"/nonexistent-hakoniwa\"", "rootdir.path"),
            (
                "[[filesystem.files]]\ndestination = \"f\"\ncontents = \"\"",
                "filesystem.files[0].destination",
            ),
            (
                "[[filesystem.dirs]]\ndestination = \"/a:b\"",
                "filesystem.dirs[0].destination",
            ),
            (
                "[[filesystem.symlinks]]\noriginal = \"\"\nlink = \"/b\"",
                "filesystem.symlinks[0].original",
            ),
            (
                "[[filesystem.symlinks]]\noriginal = \"a\"\nlink = \"b\"",
                "filesystem.symlinks[0].link",
            ),
        ] {
            assert_eq!(error(text).0, key, "{text}");
        }
    }
}
