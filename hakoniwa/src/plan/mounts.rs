//! The mount plan: the container's mounts lowered to the primitive steps
//! the child takes, in order, with every path already a C string.
//!
//! While the steps run, the host's root is at [`OLD_ROOT`] and the sandbox's
//! future root at [`NEW_ROOT`] (see `rootfs.rs`), so sources and targets are
//! prefixed here, once, in the caller.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Component, Path, PathBuf};

use nix::mount::MsFlags;

use crate::container::{Mount, TmpfsOptions, PROC_MASKED, PROC_READ_ONLY};
use crate::error::{Error, Result};
use crate::plan::layering::in_order;
use crate::sys::{MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};

/// Where the host's root is while the steps run.
pub(crate) const OLD_ROOT: &str = "/oldroot";
/// Where the sandbox's root is while the steps run.
pub(crate) const NEW_ROOT: &str = "/newroot";

/// The device nodes of a devfs, bound from the host's `/dev`: user
/// namespaces cannot `mknod`.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// The links of a devfs: `(name, target)`.
const DEVICE_LINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// One primitive step of building the root.
#[derive(Debug)]
pub(crate) enum StepKind {
    /// `mkdir`; an existing directory is fine.
    Dir { mode: u32 },
    /// An empty file to mount on; an existing one is fine.
    File,
    /// `symlink(original, target)`.
    Symlink { original: CString },
    /// A recursive bind of `source`, then `attrs` set on the whole tree.
    Bind { source: CString, attrs: u64 },
    /// A tmpfs with mount `flags` and `options`.
    Tmpfs { flags: MsFlags, options: CString },
    /// A proc filesystem of the current pid namespace.
    Proc,
    /// An mqueue filesystem of the current ipc namespace.
    Mqueue,
    /// A private devpts instance.
    Devpts { options: CString },
    /// An overlayfs: its lower layer is `lower` on the host side, or, when
    /// `None`, what the sandbox has at the target; `rest` holds the other
    /// options (upperdir, workdir…).
    Overlay {
        lower: Option<CString>,
        rest: CString,
    },
    /// A new file holding `contents`.
    Contents { contents: Vec<u8> },
    /// Makes the mount at the target read-only (not recursively).
    ReadOnly,
    /// Hides the target, if it exists: an empty read-only tmpfs over a
    /// directory, the host's `/dev/null` over a file.
    Mask,
    /// Binds the target, if it exists, onto itself read-only.
    ReadOnlyInPlace,
    /// Writes `value` into the target, which must exist: a `/proc/sys`
    /// entry.
    Sysctl { value: Vec<u8> },
}

/// A step and the path it acts on.
#[derive(Debug)]
pub(crate) struct Step {
    /// The full path while the steps run (under [`NEW_ROOT`], or in the
    /// staging tmpfs).
    pub target: CString,
    /// For a path inside the sandbox's root, the same path relative to it,
    /// resolved by the child with the root as its root (`openat2`), so that
    /// no symbolic link in a root directory or bind can lead a mount, a
    /// directory or a file outside.
    pub inside: Option<Inside>,
    pub kind: StepKind,
    /// What the step does, for error messages ("bind-mount /a to /b").
    pub what: String,
}

/// A path relative to the sandbox's root, and its parent and last name.
#[derive(Debug)]
pub(crate) struct Inside {
    pub path: CString,
    pub parent: CString,
    pub name: CString,
}

/// The sandbox's root and everything in it, as steps.
#[derive(Debug)]
pub(crate) struct MountPlan {
    pub steps: Vec<Step>,
    /// The step that mounts the root itself at [`NEW_ROOT`].
    pub root_step: usize,
    /// Whether the root mount is made read-only once everything is in place.
    pub root_read_only: bool,
}

/// The root's base: an empty tmpfs, or a directory tree of the host.
pub(crate) struct RootDir<'a> {
    pub path: &'a Path,
    pub writable: bool,
}

/// Lowers the root and the container's mounts to steps. Mounts are applied
/// parents first (by the depth of their target; the order given among
/// equals), so a mount never hides one made inside it before.
pub(crate) fn plan(
    mounts: &[Mount],
    rootdir: Option<RootDir>,
    sysctls: &[(String, String)],
) -> Result<MountPlan> {
    let mut steps = Vec::new();
    let root_read_only = plan_root(&mut steps, rootdir)?;
    let root_step = steps.len() - 1;
    // Set through the first /proc, before its /proc/sys turns read-only.
    let mut sysctls = Some(sysctls);
    for (index, mount) in in_order(mounts).into_iter().enumerate() {
        match mount {
            Mount::Bind {
                source,
                target,
                writable,
                devices,
            } => plan_bind(&mut steps, source, target, *writable, *devices)?,
            Mount::Tmpfs { target, options } => plan_tmpfs(&mut steps, target, options)?,
            Mount::Procfs { target } => {
                plan_proc(&mut steps, target, sysctls.take().unwrap_or_default())?
            }
            Mount::Mqueue { target } => {
                let target = sandbox_path("mount target", target)?;
                make_dirs(&mut steps, &target)?;
                steps.push(step(
                    &target,
                    StepKind::Mqueue,
                    format!("mount mqueue on {}", target.display()),
                )?);
            }
            Mount::Mask { target } => {
                let target = sandbox_path("path to hide", target)?;
                let what = format!("hide {}", target.display());
                steps.push(step(&target, StepKind::Mask, what)?);
            }
            Mount::ReadOnly { target } => {
                let target = sandbox_path("path to make read-only", target)?;
                let what = format!("make {} read-only", target.display());
                steps.push(step(&target, StepKind::ReadOnlyInPlace, what)?);
            }
            Mount::Devfs { target } => plan_devfs(&mut steps, target)?,
            Mount::Symlink { original, link } => {
                let link = sandbox_path("symlink", link)?;
                make_parents(&mut steps, &link)?;
                steps.push(step(
                    &link,
                    StepKind::Symlink {
                        original: c_string(original.as_os_str().as_bytes().to_vec())?,
                    },
                    format!(
                        "create symlink {} -> {}",
                        link.display(),
                        original.display()
                    ),
                )?);
            }
            Mount::Dir { target, mode } => {
                let target = sandbox_path("directory", target)?;
                if *mode > 0o7777 {
                    return Err(Error::InvalidMode {
                        path: target,
                        mode: *mode,
                    });
                }
                make_parents(&mut steps, &target)?;
                steps.push(step(
                    &target,
                    StepKind::Dir { mode: *mode },
                    format!("create directory {} (mode {mode:o})", target.display()),
                )?);
            }
            Mount::File { target, contents } => {
                let target = sandbox_path("file", target)?;
                make_parents(&mut steps, &target)?;
                steps.push(step(
                    &target,
                    StepKind::Contents {
                        contents: contents.clone(),
                    },
                    format!("create file {}", target.display()),
                )?);
            }
            Mount::Overlay { target, upper } => {
                plan_overlay(&mut steps, index, target, upper.as_ref())?
            }
        }
    }
    if let Some((key, _)) = sysctls.and_then(|sysctls| sysctls.first()) {
        return Err(Error::Sysctl {
            key: key.clone(),
            reason: "the sandbox has no /proc to set it through",
        });
    }
    // A devfs turns read-only only once the mounts inside it (an mqueue at
    // /dev/mqueue) have made their mount points in it.
    let (read_only, mut steps): (Vec<Step>, Vec<Step>) = without_repeated_dirs(steps)
        .into_iter()
        .partition(|step| matches!(step.kind, StepKind::ReadOnly));
    steps.extend(read_only);
    Ok(MountPlan {
        steps,
        root_step,
        root_read_only,
    })
}

/// `steps` without those that make a directory an earlier step made with
/// the same mode, when no mount since has covered it: a hundred binds
/// under `/a` make `/a` once, not a hundred times.
fn without_repeated_dirs(steps: Vec<Step>) -> Vec<Step> {
    let mut made: HashMap<Vec<u8>, u32> = HashMap::new();
    steps
        .into_iter()
        .filter(|step| {
            let target = step.target.as_bytes();
            match step.kind {
                StepKind::Dir { mode } => made.insert(target.to_vec(), mode) != Some(mode),
                StepKind::File
                | StepKind::Symlink { .. }
                | StepKind::Contents { .. }
                | StepKind::Sysctl { .. }
                | StepKind::ReadOnly => true,
                // A mount hides what was made under its target (not the
                // target itself, which is its mount point).
                _ => {
                    made.retain(|dir, _| dir == target || !is_within(dir, target));
                    true
                }
            }
        })
        .collect()
}

/// Whether the path `inner` is `outer` or under it.
fn is_within(inner: &[u8], outer: &[u8]) -> bool {
    inner
        .strip_prefix(outer)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/") || outer.ends_with(b"/"))
}

/// The root, as the last of the steps added. A read-only root directory is the lower layer of an
/// overlay whose upper layer is in the staging tmpfs: the mount points the
/// sandbox needs are made there, and the directory is never written.
fn plan_root(steps: &mut Vec<Step>, rootdir: Option<RootDir>) -> Result<bool> {
    let root = Path::new("/");
    let Some(RootDir { path, writable }) = rootdir else {
        steps.push(step(
            root,
            StepKind::Tmpfs {
                flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                options: c_string("mode=0755".to_string())?,
            },
            "mount the root tmpfs".to_string(),
        )?);
        return Ok(true);
    };
    let host = fs::canonicalize(path).map_err(|source| Error::Rootdir {
        path: path.to_path_buf(),
        source,
    })?;
    if !host.is_dir() {
        return Err(Error::Rootdir {
            path: path.to_path_buf(),
            source: std::io::Error::from_raw_os_error(libc::ENOTDIR),
        });
    }
    if writable {
        steps.push(step(
            root,
            StepKind::Bind {
                source: host_c_string(&host)?,
                attrs: MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
            },
            format!(
                "bind-mount the root directory {} (read-write)",
                path.display()
            ),
        )?);
        return Ok(false);
    }
    let (upper, work) = ("/.root-upper", "/.root-work");
    for dir in [upper, work] {
        steps.push(staging_dir(dir)?);
    }
    let lower = overlay_path(&host, OLD_ROOT)?;
    steps.push(step(
        root,
        StepKind::Overlay {
            lower: Some(c_string(lower)?),
            rest: overlay_options(upper, work)?,
        },
        format!("mount the root directory {}", path.display()),
    )?);
    Ok(true)
}

/// A proc filesystem, with the entries that reach the host kernel hidden or
/// read-only.
fn plan_proc(steps: &mut Vec<Step>, target: &Path, sysctls: &[(String, String)]) -> Result<()> {
    let target = sandbox_path("mount target", target)?;
    make_dirs(steps, &target)?;
    steps.push(step(
        &target,
        StepKind::Proc,
        format!("mount proc on {}", target.display()),
    )?);
    for (key, value) in sysctls {
        let path = target.join("sys").join(key.replace('.', "/"));
        steps.push(step(
            &path,
            StepKind::Sysctl {
                value: value.as_bytes().to_vec(),
            },
            format!("set sysctl {key} = {value}"),
        )?);
    }
    for name in PROC_MASKED {
        let path = target.join(name);
        let what = format!("hide {}", path.display());
        steps.push(step(&path, StepKind::Mask, what)?);
    }
    for name in PROC_READ_ONLY {
        let path = target.join(name);
        let what = format!("make {} read-only", path.display());
        steps.push(step(&path, StepKind::ReadOnlyInPlace, what)?);
    }
    Ok(())
}

fn plan_tmpfs(steps: &mut Vec<Step>, target: &Path, options: &TmpfsOptions) -> Result<()> {
    let target = sandbox_path("mount target", target)?;
    let mode = match options.mode {
        Some(mode) if mode > 0o7777 => return Err(Error::InvalidMode { path: target, mode }),
        Some(mode) => mode,
        None if is_temporary_dir(&target) => 0o1777,
        None => 0o755,
    };
    let mut data = format!("mode={mode:o}");
    if let Some(size) = options.size {
        data += &format!(",size={size}");
    }
    if let Some(inodes) = options.nr_inodes {
        data += &format!(",nr_inodes={inodes}");
    }
    make_dirs(steps, &target)?;
    let what = format!("mount tmpfs on {} ({data})", target.display());
    steps.push(step(
        &target,
        StepKind::Tmpfs {
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            options: c_string(data)?,
        },
        what,
    )?);
    Ok(())
}

/// An overlay on `target`: its lower layer is what the sandbox has there
/// by then; its upper layer a fresh directory of the staging tmpfs, or the
/// host directory `upper`.
fn plan_overlay(
    steps: &mut Vec<Step>,
    index: usize,
    target: &Path,
    upper: Option<&(PathBuf, PathBuf)>,
) -> Result<()> {
    let target = sandbox_path("overlay target", target)?;
    make_dirs(steps, &target)?;
    let (upper, work, what) = match upper {
        None => {
            let upper = format!("/.overlay-{index}-upper");
            let work = format!("/.overlay-{index}-work");
            steps.push(staging_dir(&upper)?);
            steps.push(staging_dir(&work)?);
            let what = format!("mount a throw-away overlay on {}", target.display());
            (upper, work, what)
        }
        Some((upper, work)) => {
            let host_dir = |path: &Path| {
                fs::canonicalize(path).map_err(|source| Error::OverlayDir {
                    path: path.to_path_buf(),
                    source,
                })
            };
            let what = format!(
                "mount an overlay on {} (upper {}, work {})",
                target.display(),
                upper.display(),
                work.display()
            );
            (
                overlay_path(&host_dir(upper)?, OLD_ROOT)?,
                overlay_path(&host_dir(work)?, OLD_ROOT)?,
                what,
            )
        }
    };
    steps.push(step(
        &target,
        StepKind::Overlay {
            // The lower layer is found by the child, inside the root.
            lower: None,
            rest: overlay_options(&upper, &work)?,
        },
        what,
    )?);
    Ok(())
}

/// Overlayfs options after `lowerdir`. `userxattr`: in a user namespace
/// overlayfs keeps its bookkeeping in `user.*` extended attributes,
/// `trusted.*` being out of reach.
fn overlay_options(upper: &str, work: &str) -> Result<CString> {
    c_string(format!("upperdir={upper},workdir={work},userxattr"))
}

/// A path as overlayfs options take it, under `prefix`; the characters
/// that separate options and layers cannot be escaped there.
fn overlay_path(path: &Path, prefix: &str) -> Result<String> {
    let text = path
        .to_str()
        .filter(|text| !text.contains([',', ':', '\\']));
    match text {
        Some("/") => Ok(prefix.to_string()),
        Some(text) => Ok(format!("{prefix}{text}")),
        None => Err(Error::InvalidPath {
            what: "overlay directory",
            path: path.to_path_buf(),
            reason: "overlayfs cannot take a path with ',', ':' or '\\'",
        }),
    }
}

/// A directory of the staging tmpfs (outside the sandbox's root).
fn staging_dir(path: &str) -> Result<Step> {
    Ok(Step {
        target: c_string(path.to_string())?,
        inside: None,
        kind: StepKind::Dir { mode: 0o755 },
        what: format!("create the staging directory {path}"),
    })
}

fn plan_bind(
    steps: &mut Vec<Step>,
    source: &Path,
    target: &Path,
    writable: bool,
    devices: bool,
) -> Result<()> {
    let target = sandbox_path("mount target", target)?;
    let host = fs::canonicalize(source).map_err(|err| Error::BindSource {
        path: source.to_path_buf(),
        source: err,
    })?;
    let is_dir = fs::metadata(&host)
        .map_err(|err| Error::BindSource {
            path: source.to_path_buf(),
            source: err,
        })?
        .is_dir();
    make_parents(steps, &target)?;
    steps.push(mount_point(&target, is_dir)?);
    // nosuid: a setuid binary on the host gains nothing in the sandbox.
    // nodev: a device node bound in by accident (a root directory's /dev, a
    // home holding a copy of /dev/sda) is no way to the host's hardware,
    // even for a program running as the host's root.
    let mut attrs = MOUNT_ATTR_NOSUID;
    if !writable {
        attrs |= MOUNT_ATTR_RDONLY;
    }
    if !devices {
        attrs |= MOUNT_ATTR_NODEV;
    }
    steps.push(step(
        &target,
        StepKind::Bind {
            source: host_c_string(&host)?,
            attrs,
        },
        format!(
            "bind-mount {} to {}{}{}",
            source.display(),
            target.display(),
            if writable { " (read-write)" } else { "" },
            if devices { " (devices)" } else { "" }
        ),
    )?);
    Ok(())
}

fn plan_devfs(steps: &mut Vec<Step>, target: &Path) -> Result<()> {
    let dev = sandbox_path("mount target", target)?;
    make_dirs(steps, &dev)?;
    steps.push(step(
        &dev,
        StepKind::Tmpfs {
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            options: c_string("mode=0755".to_string())?,
        },
        format!("mount devfs on {}", dev.display()),
    )?);
    for name in DEVICES {
        let node = dev.join(name);
        let host = Path::new("/dev").join(name);
        let is_char_device = fs::metadata(&host)
            .map(|meta| meta.file_type().is_char_device())
            .unwrap_or(false);
        if !is_char_device {
            return Err(Error::BindSource {
                path: host,
                source: std::io::Error::other("not a character device on the host"),
            });
        }
        steps.push(mount_point(&node, false)?);
        steps.push(step(
            &node,
            StepKind::Bind {
                source: host_c_string(&host)?,
                attrs: MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
            },
            format!("bind-mount {} to {}", host.display(), node.display()),
        )?);
    }
    let pts = dev.join("pts");
    steps.push(step(
        &pts,
        StepKind::Dir { mode: 0o755 },
        format!("create directory {}", pts.display()),
    )?);
    // A new instance: the sandbox sees its own terminals, not the host's.
    steps.push(step(
        &pts,
        StepKind::Devpts {
            options: c_string("newinstance,ptmxmode=0666,mode=0620".to_string())?,
        },
        format!("mount devpts on {}", pts.display()),
    )?);
    let shm = dev.join("shm");
    steps.push(step(
        &shm,
        StepKind::Dir { mode: 0o755 },
        format!("create directory {}", shm.display()),
    )?);
    steps.push(step(
        &shm,
        StepKind::Tmpfs {
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            options: c_string("mode=1777".to_string())?,
        },
        format!("mount tmpfs on {}", shm.display()),
    )?);
    for (name, original) in DEVICE_LINKS {
        let link = dev.join(name);
        steps.push(step(
            &link,
            StepKind::Symlink {
                original: c_string(original.to_string())?,
            },
            format!("create symlink {} -> {original}", link.display()),
        )?);
    }
    steps.push(step(
        &dev,
        StepKind::ReadOnly,
        format!("make {} read-only", dev.display()),
    )?);
    Ok(())
}

/// Adds the mount point `/dev/console` to a plan with a devfs at `/dev`,
/// before the steps that end it read-only: the program's terminal is
/// bound there (`Command::terminal`).
pub(crate) fn add_console(steps: &mut Vec<Step>) -> Result<()> {
    let read_only = steps
        .iter()
        .rev()
        .take_while(|step| matches!(step.kind, StepKind::ReadOnly))
        .count();
    let at = steps.len() - read_only;
    steps.insert(at, mount_point(Path::new("/dev/console"), false)?);
    Ok(())
}

/// Checks that `path` is absolute and has no `..`, and normalizes it.
pub(crate) fn sandbox_path(what: &'static str, path: &Path) -> Result<PathBuf> {
    let invalid = |reason| Error::InvalidPath {
        what,
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_absolute() {
        return Err(invalid("must be an absolute path"));
    }
    let mut normal = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => normal.push(name),
            Component::ParentDir => return Err(invalid("must not contain '..'")),
            Component::Prefix(_) => unreachable!("no path prefixes on Linux"),
        }
    }
    Ok(normal)
}

fn is_temporary_dir(path: &Path) -> bool {
    path == Path::new("/tmp") || path == Path::new("/var/tmp") || path == Path::new("/dev/shm")
}

/// Steps that create every directory on the way to `path`, `path` included.
fn make_dirs(steps: &mut Vec<Step>, path: &Path) -> Result<()> {
    make_parents(steps, path)?;
    if path != Path::new("/") {
        steps.push(step(
            path,
            StepKind::Dir { mode: 0o755 },
            format!("create mount point {}", path.display()),
        )?);
    }
    Ok(())
}

/// Steps that create every directory above `path`.
fn make_parents(steps: &mut Vec<Step>, path: &Path) -> Result<()> {
    let ancestors: Vec<&Path> = path
        .ancestors()
        .skip(1)
        .filter(|dir| *dir != Path::new("/"))
        .collect();
    for dir in ancestors.into_iter().rev() {
        steps.push(step(
            dir,
            StepKind::Dir { mode: 0o755 },
            format!("create directory {}", dir.display()),
        )?);
    }
    Ok(())
}

fn mount_point(path: &Path, is_dir: bool) -> Result<Step> {
    let kind = if is_dir {
        StepKind::Dir { mode: 0o755 }
    } else {
        StepKind::File
    };
    step(path, kind, format!("create mount point {}", path.display()))
}

fn step(target: &Path, kind: StepKind, what: String) -> Result<Step> {
    let mut full = NEW_ROOT.as_bytes().to_vec();
    let inside = if target == Path::new("/") {
        None
    } else {
        full.extend_from_slice(target.as_os_str().as_bytes());
        let relative = |path: &Path| {
            let text = path
                .strip_prefix("/")
                .unwrap_or(path)
                .as_os_str()
                .as_bytes();
            c_string(if text.is_empty() {
                b".".to_vec()
            } else {
                text.to_vec()
            })
        };
        let parent = target.parent().unwrap_or(Path::new("/"));
        let name = target.file_name().unwrap_or_default().as_bytes().to_vec();
        Some(Inside {
            path: relative(target)?,
            parent: relative(parent)?,
            name: c_string(name)?,
        })
    };
    Ok(Step {
        target: c_string(full)?,
        inside,
        kind,
        what,
    })
}

/// A host path as seen while the steps run.
fn host_c_string(host: &Path) -> Result<CString> {
    let mut full = OLD_ROOT.as_bytes().to_vec();
    full.extend_from_slice(host.as_os_str().as_bytes());
    c_string(full)
}

fn c_string(bytes: impl Into<Vec<u8>>) -> Result<CString> {
    CString::new(bytes).map_err(|err| Error::NulByte {
        what: "path",
        value: String::from_utf8_lossy(&err.into_vec()).into_owned(),
    })
}

#[cfg(test)]
mod tests;
