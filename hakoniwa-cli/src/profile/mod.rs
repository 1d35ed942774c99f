//! Profiles (`hakoniwa run -c FILE`): TOML files rendered as minijinja
//! templates first, in the format of hakoniwa 1.x, with our additions.
//!
//! Loading goes in stages, each with its own error naming the file and,
//! where it can, the line or the key: the raw file is read, rendered
//! (`template.rs`), parsed as TOML (`model.rs`), checked (`validate.rs`),
//! and merged with the files it includes (`merge.rs`). The result becomes
//! the same [`Options`] the flags make, which `lower` turns into a
//! sandbox: profiles and flags share that one mapping.

mod merge;
mod model;
mod template;
mod validate;

use std::fmt;
use std::fs;
use std::ops::Range;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use hakoniwa::landlock::Resource;
use hakoniwa::{Namespace, Rlimit};

use crate::cli::CliError;
use crate::landlock::PortList;
use crate::options::{Options, FILE_CONTENTS};
use template::Renderer;
use validate::{Layer, Mount, NetworkMode};

/// A profile that could not be loaded: the file, where in it, and why.
#[derive(Debug, PartialEq)]
pub(crate) struct ProfileError {
    pub file: PathBuf,
    /// The line and column, when the error has a place in the text.
    pub line: Option<(usize, Option<usize>)>,
    /// Whether that line is of the rendered template rather than the file.
    pub rendered: bool,
    /// The key, as `mounts[3].rw`, when the error is about one.
    pub key: Option<String>,
    pub message: String,
}

impl ProfileError {
    fn new(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: None,
            rendered: false,
            key: None,
            message: message.into(),
        }
    }

    fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, column)) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = column {
                write!(f, ":{column}")?;
            }
            if self.rendered {
                f.write_str(" (after rendering)")?;
            }
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        Ok(())
    }
}

impl From<ProfileError> for CliError {
    fn from(err: ProfileError) -> Self {
        CliError {
            message: format!("invalid profile {err}"),
            source: Some(err.message.into()),
            hint: None,
        }
    }
}

/// Loads the profile at `path` with everything it includes.
pub(crate) fn load(path: &Path) -> Result<Options, ProfileError> {
    let failed = |err| ProfileError::new(path, format!("failed to read the profile: {err}"));
    let (file, dir) = match fs::canonicalize(path) {
        Ok(file) => {
            let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
            (file, dir)
        }
        // A pipe has no path to resolve (`-c <(cmd)`, `/dev/fd/N`): it is
        // read as given, and what it includes is found from the current
        // directory.
        Err(_) if fs::metadata(path).is_ok_and(|meta| meta.file_type().is_fifo()) => {
            (path.to_path_buf(), std::env::current_dir().map_err(failed)?)
        }
        Err(err) => return Err(failed(err)),
    };
    let renderer = Renderer::new(&dir);
    let layer = load_file(&renderer, &file, &dir, &mut Vec::new())?;
    Ok(options(layer))
}

/// One file and, before it, what it includes (relative to `dir`).
/// `including` is the chain of files that led here, to refuse a cycle.
fn load_file(
    renderer: &Renderer,
    file: &Path,
    dir: &Path,
    including: &mut Vec<PathBuf>,
) -> Result<Layer, ProfileError> {
    let raw = crate::read::text(file)
        .map_err(|err| ProfileError::new(file, format!("failed to read the profile: {err}")))?;
    let rendered = renderer.render(file, &raw).map_err(|err| ProfileError {
        file: err.file.unwrap_or_else(|| file.to_path_buf()),
        line: err.line.map(|line| (line, None)),
        rendered: false,
        key: None,
        message: format!("template: {}", err.message),
    })?;
    let mut parsed = parse(&rendered).map_err(|err| ProfileError {
        file: file.to_path_buf(),
        line: err.span.map(|span| line_and_column(&rendered, span.start)),
        rendered: rendered != raw,
        key: err.key,
        message: err.message,
    })?;
    let includes = std::mem::take(&mut parsed.include);
    let own = validate::validate(parsed)
        .map_err(|err| ProfileError::new(file, err.message).key(err.key))?;

    let mut merged = Layer::default();
    including.push(file.to_path_buf());
    for (i, include) in includes.iter().enumerate() {
        let key = format!("@include[{i}]");
        let path = dir.join(include);
        let path = fs::canonicalize(&path).map_err(|err| {
            ProfileError::new(file, format!("failed to read {}: {err}", path.display()))
                .key(key.clone())
        })?;
        if including.contains(&path) {
            return Err(
                ProfileError::new(file, format!("{} includes itself", path.display())).key(key),
            );
        }
        let parent = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        merged.merge(load_file(renderer, &path, &parent, including)?);
    }
    including.pop();
    merged.merge(own);
    Ok(merged)
}

/// A TOML error: where, the key it is about, what.
struct ParseError {
    span: Option<Range<usize>>,
    key: Option<String>,
    message: String,
}

/// Stage 3: the rendered text as TOML, into the profile's shape.
fn parse(text: &str) -> Result<model::File, ParseError> {
    let deserializer = toml::Deserializer::parse(text).map_err(|err| ParseError {
        span: err.span(),
        key: None,
        message: err.message().to_string(),
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let key = err.path().to_string();
        let err = err.into_inner();
        ParseError {
            span: err.span(),
            key: (key != ".").then_some(key),
            message: err.message().to_string(),
        }
    })
}

/// The 1-based line and column (in characters) of byte `offset`.
fn line_and_column(text: &str, offset: usize) -> (usize, Option<usize>) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, Some(column))
}

/// Stage 6: the merged profile as the options the flags would give. The
/// CLI's defaults that describe a sandbox (`--rootfs /`) do not apply: a
/// profile states its own mounts.
fn options(layer: Layer) -> Options {
    let mut options = Options::defaults();
    let args = &mut options.args;

    // Later entries win, so `share = true` undoes an include's unshare.
    let mut unshared = std::collections::BTreeMap::new();
    for (namespace, share) in layer.namespaces {
        unshared.insert(namespace, !share);
    }
    match layer.network {
        Some(NetworkMode::None) => _ = unshared.insert(Namespace::Network, true),
        Some(NetworkMode::Host) => _ = unshared.insert(Namespace::Network, false),
        Some(NetworkMode::Pasta(options)) => {
            let mut pasta = hakoniwa::Pasta::new();
            pasta.args(options);
            args.network = Some(pasta.into());
        }
        None => {}
    }
    let unshared = |namespace| unshared.get(&namespace).copied().unwrap_or(false);
    args.unshare_cgroup = unshared(Namespace::Cgroup);
    args.unshare_ipc = unshared(Namespace::Ipc);
    args.unshare_network = unshared(Namespace::Network);
    args.unshare_uts = unshared(Namespace::Uts);

    args.rootfs = layer.rootfs.unwrap_or_else(|| "none".to_string());
    for mount in layer.mounts {
        let id = match mount {
            Mount::Bind {
                source,
                destination,
                rw,
                dev,
            } => {
                let spec = format!("{source}:{destination}");
                if dev {
                    args.dev_bind.push(spec);
                    "dev_bind"
                } else if rw {
                    args.bindmount_rw.push(spec);
                    "bindmount_rw"
                } else {
                    args.bindmount_ro.push(spec);
                    "bindmount_ro"
                }
            }
            Mount::Tmpfs(destination, options) => {
                args.tmpfs.push(match options {
                    Some(options) => format!("{destination}:{options}"),
                    None => destination,
                });
                "tmpfs"
            }
            Mount::Overlay(destination, None) => {
                args.overlay_tmp.push(destination);
                "overlay_tmp"
            }
            Mount::Overlay(destination, Some((upper, work))) => {
                args.overlay.push(format!("{destination}:{upper}:{work}"));
                "overlay"
            }
            Mount::Devfs(destination) => {
                args.devfs.push(destination);
                "devfs"
            }
        };
        options.order.push(id);
    }
    for dir in layer.dirs {
        args.dir.push(dir);
        options.order.push("dir");
    }
    for (path, contents) in layer.files {
        options.files.push((path, contents.into_bytes()));
        options.order.push(FILE_CONTENTS);
    }
    for symlink in layer.symlinks {
        args.symlink.push(symlink);
        options.order.push("symlink");
    }
    args.rootdir = layer.rootdir;
    args.setenv = layer.envs;

    // A resource's last entry decides; a lifted restriction drops the
    // rules that would restrict it again.
    let mut unrestricted = std::collections::BTreeMap::new();
    for (resource, unrestrict) in layer.landlock.resources {
        unrestricted.insert(resource, unrestrict);
    }
    let lifted = |resource| unrestricted.get(&resource) == Some(&true);
    args.landlock_restrict = unrestricted
        .iter()
        .filter(|(_, unrestrict)| !**unrestrict)
        .map(|(resource, _)| *resource)
        .collect();
    if !lifted(Resource::Fs) {
        options.landlock_fs = layer.landlock.fs;
    }
    for (port, access) in layer.landlock.net {
        if lifted(access.resource()) {
            continue;
        }
        match access {
            hakoniwa::landlock::NetAccess::TcpBind => {
                args.landlock_tcp_bind.push(PortList(vec![port]))
            }
            hakoniwa::landlock::NetAccess::TcpConnect => {
                args.landlock_tcp_connect.push(PortList(vec![port]))
            }
        }
    }
    args.landlock_scope = layer.landlock.scopes;
    args.landlock_compat = layer.landlock.compat;

    args.uidmap = layer.uidmaps;
    args.gidmap = layer.gidmaps;
    args.userns = layer.userns;
    args.user = layer.user;
    args.cap_add = layer.cap_add;
    args.cap_drop = layer.cap_drop;
    args.allow_new_privs = layer.allow_new_privs.unwrap_or(false);
    args.new_session = layer.new_session.unwrap_or(false);
    args.peak_memory = layer.peak_memory.unwrap_or(false);
    args.hostname = layer.hostname;
    for (resource, value) in layer.rlimits {
        let field = match resource {
            Rlimit::As => &mut args.limit_as,
            Rlimit::Core => &mut args.limit_core,
            Rlimit::Cpu => &mut args.limit_cpu,
            Rlimit::Fsize => &mut args.limit_fsize,
            Rlimit::Memlock => &mut args.limit_memlock,
            Rlimit::Nofile => &mut args.limit_nofile,
            Rlimit::Nproc => &mut args.limit_nproc,
            Rlimit::Stack => &mut args.limit_stack,
        };
        *field = Some(value);
    }
    args.limit_walltime = layer.walltime;
    if let Some(seccomp) = layer.seccomp {
        args.seccomp = seccomp;
    }
    args.allow_userns = layer.allow_userns.unwrap_or(false);
    if let Some(cmdline) = layer.cmdline {
        args.command = cmdline;
    }
    args.workdir = layer.cwd.map(|cwd| format!(":{cwd}"));
    args.report = layer.report;
    args.memory = layer.cgroup.memory;
    args.memory_swap = layer.cgroup.memory_swap;
    args.pids = layer.cgroup.pids;
    args.cpus = layer.cgroup.cpus;
    args.cpu_weight = layer.cgroup.cpu_weight;
    options
}

#[cfg(test)]
mod tests;
