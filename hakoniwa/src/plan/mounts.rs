//! The mount plan: the container's mounts lowered to the primitive steps
//! the child takes, in order, with every path already a C string.
//!
//! While the steps run, the host's root is at [`OLD_ROOT`] and the sandbox's
//! future root at [`NEW_ROOT`] (see `rootfs.rs`), so sources and targets are
//! prefixed here, once, in the caller.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Component, Path, PathBuf};

use nix::mount::MsFlags;

use crate::container::Mount;
use crate::error::{Error, Result};
use crate::sys::{MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};

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
    /// A private devpts instance.
    Devpts { options: CString },
    /// Makes the mount at the target read-only (not recursively).
    ReadOnly,
}

/// A step and the path it acts on (under [`NEW_ROOT`]).
#[derive(Debug)]
pub(crate) struct Step {
    pub target: CString,
    pub kind: StepKind,
    /// What the step does, for error messages ("bind-mount /a to /b").
    pub what: String,
}

/// Lowers the container's mounts to steps.
pub(crate) fn plan(mounts: &[Mount]) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    for mount in mounts {
        match mount {
            Mount::Bind {
                source,
                target,
                writable,
            } => plan_bind(&mut steps, source, target, *writable)?,
            Mount::Tmpfs { target } => {
                let target = sandbox_path("mount target", target)?;
                let mode = if is_temporary_dir(&target) {
                    "1777"
                } else {
                    "0755"
                };
                make_dirs(&mut steps, &target)?;
                steps.push(step(
                    &target,
                    StepKind::Tmpfs {
                        flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                        options: c_string(format!("mode={mode}"))?,
                    },
                    format!("mount tmpfs on {}", target.display()),
                )?);
            }
            Mount::Procfs { target } => {
                let target = sandbox_path("mount target", target)?;
                make_dirs(&mut steps, &target)?;
                steps.push(step(
                    &target,
                    StepKind::Proc,
                    format!("mount proc on {}", target.display()),
                )?);
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
        }
    }
    Ok(steps)
}

fn plan_bind(steps: &mut Vec<Step>, source: &Path, target: &Path, writable: bool) -> Result<()> {
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
    let attrs = if writable {
        MOUNT_ATTR_NOSUID
    } else {
        MOUNT_ATTR_NOSUID | MOUNT_ATTR_RDONLY
    };
    steps.push(step(
        &target,
        StepKind::Bind {
            source: host_c_string(&host)?,
            attrs,
        },
        format!(
            "bind-mount {} to {}{}",
            source.display(),
            target.display(),
            if writable { " (read-write)" } else { "" }
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
    if target != Path::new("/") {
        full.extend_from_slice(target.as_os_str().as_bytes());
    }
    Ok(Step {
        target: c_string(full)?,
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
mod tests {
    use super::*;

    fn whats(steps: &[Step]) -> Vec<(&str, &str)> {
        steps
            .iter()
            .map(|s| (s.target.to_str().unwrap(), s.what.as_str()))
            .collect()
    }

    #[test]
    fn bind_creates_parents_then_mount_point_then_binds() {
        let steps = plan(&[Mount::Bind {
            source: "/etc".into(),
            target: "/a/b".into(),
            writable: false,
        }])
        .unwrap();
        assert_eq!(
            whats(&steps),
            [
                ("/newroot/a", "create directory /a"),
                ("/newroot/a/b", "create mount point /a/b"),
                ("/newroot/a/b", "bind-mount /etc to /a/b"),
            ]
        );
        match &steps[2].kind {
            StepKind::Bind { source, attrs } => {
                assert_eq!(source.to_str().unwrap(), "/oldroot/etc");
                assert_eq!(*attrs, MOUNT_ATTR_NOSUID | MOUNT_ATTR_RDONLY);
            }
            other => panic!("not a bind: {other:?}"),
        }
    }

    #[test]
    fn bind_of_a_file_mounts_on_a_file() {
        let steps = plan(&[Mount::Bind {
            source: "/etc/hostname/../passwd".into(),
            target: "/passwd".into(),
            writable: true,
        }]);
        // `canonicalize` refuses a path through a regular file.
        assert!(matches!(steps, Err(Error::BindSource { .. })));
        let steps = plan(&[Mount::Bind {
            source: "/etc/passwd".into(),
            target: "/passwd".into(),
            writable: true,
        }])
        .unwrap();
        assert!(matches!(steps[0].kind, StepKind::File));
        assert!(matches!(
            steps[1].kind,
            StepKind::Bind { attrs, .. } if attrs == MOUNT_ATTR_NOSUID
        ));
    }

    #[test]
    fn missing_bind_source_names_the_path() {
        let err = plan(&[Mount::Bind {
            source: "/nonexistent/x".into(),
            target: "/x".into(),
            writable: false,
        }])
        .unwrap_err();
        assert_eq!(err.to_string(), "invalid bind-mount source /nonexistent/x");
    }

    #[test]
    fn targets_must_be_absolute_without_dotdot() {
        for bad in ["data", "/a/../b"] {
            let err = plan(&[Mount::Tmpfs { target: bad.into() }]).unwrap_err();
            assert!(matches!(err, Error::InvalidPath { .. }), "{bad}: {err}");
        }
        let steps = plan(&[Mount::Tmpfs {
            target: "//tmp/./".into(),
        }])
        .unwrap();
        assert_eq!(
            steps.last().unwrap().target.to_str().unwrap(),
            "/newroot/tmp"
        );
    }

    #[test]
    fn devfs_ends_read_only() {
        let steps = plan(&[Mount::Devfs {
            target: "/dev".into(),
        }])
        .unwrap();
        assert!(matches!(steps.last().unwrap().kind, StepKind::ReadOnly));
        assert!(whats(&steps).contains(&("/newroot/dev/null", "bind-mount /dev/null to /dev/null")));
    }
}
