//! How the mounts stack: the order they are applied in and, from it,
//! which host file a path of the sandbox will be, and what building the
//! root will create in host directories.

use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::container::Mount;

/// The mounts in the order they are applied: parents first, the order
/// given among mounts of the same depth; hiding and protecting last, so
/// that they act on the finished tree (and nothing needs to be made inside
/// a path once it is read-only).
pub(crate) fn in_order(mounts: &[Mount]) -> Vec<&Mount> {
    let mut ordered: Vec<&Mount> = mounts.iter().collect();
    let finishing = |mount: &Mount| matches!(mount, Mount::Mask { .. } | Mount::ReadOnly { .. });
    ordered.sort_by_key(|mount| (finishing(mount), depth(mount_target(mount))));
    ordered
}

fn mount_target(mount: &Mount) -> &Path {
    match mount {
        Mount::Bind { target, .. }
        | Mount::Tmpfs { target, .. }
        | Mount::Devfs { target }
        | Mount::Procfs { target }
        | Mount::Mqueue { target }
        | Mount::Mask { target }
        | Mount::ReadOnly { target }
        | Mount::Dir { target, .. }
        | Mount::File { target, .. }
        | Mount::Overlay { target, .. } => target,
        Mount::Symlink { link, .. } => link,
    }
}

/// The host file that will be at `path` in the sandbox: under the last bind
/// whose target holds it, in the order mounts are applied (parents first),
/// or else in the root directory. `None` when a filesystem made in the
/// sandbox (tmpfs, proc, dev) covers it last, or nothing does.
pub(crate) fn host_path(mounts: &[Mount], rootdir: Option<&Path>, path: &Path) -> Option<PathBuf> {
    host_path_after(&in_order(mounts), rootdir, path)
}

/// [`host_path`] once the `applied` mounts (in order) are in place.
fn host_path_after(applied: &[&Mount], rootdir: Option<&Path>, path: &Path) -> Option<PathBuf> {
    let covering = applied.iter().rev().find_map(|mount| match mount {
        Mount::Bind { source, target, .. } => {
            let rest = path.strip_prefix(target).ok()?;
            Some(Some(if rest.as_os_str().is_empty() {
                source.clone()
            } else {
                source.join(rest)
            }))
        }
        Mount::Tmpfs { target, .. }
        | Mount::Devfs { target }
        | Mount::Procfs { target }
        | Mount::Mqueue { target }
        | Mount::Mask { target }
        | Mount::Overlay { target, .. } => path.starts_with(target).then_some(None),
        Mount::Symlink { .. } | Mount::Dir { .. } | Mount::File { .. } | Mount::ReadOnly { .. } => {
            None
        }
    });
    match covering {
        Some(host) => host,
        None => rootdir.map(|dir| dir.join(path.strip_prefix("/").unwrap_or(path))),
    }
}

/// Entries of host directories (a writable root directory, a writable
/// bind) that building the root will create — mount points, the directories
/// on their way, the asked-for directories, files and links — and that do
/// not exist now: the caller removes them after the run (`Child`), so that
/// setting up a sandbox leaves no trace on the host.
pub(crate) fn host_leftovers(mounts: &[Mount], rootdir: Option<&Path>) -> Vec<PathBuf> {
    // Read-only binds turn read-only before anything is made inside them:
    // only a writable root directory or bind can gain entries.
    let writable_bind = |mount: &Mount| matches!(mount, Mount::Bind { writable: true, .. });
    if rootdir.is_none() && !mounts.iter().any(writable_bind) {
        return Vec::new();
    }
    let ordered = in_order(mounts);
    let mut created = Vec::new();
    for (index, mount) in ordered.iter().enumerate() {
        // Hiding or protecting a path makes nothing: what is not there is
        // left alone, and what the program makes there is its own.
        if matches!(mount, Mount::Mask { .. } | Mount::ReadOnly { .. }) {
            continue;
        }
        let mut paths: Vec<&Path> = mount_target(mount).ancestors().collect();
        paths.reverse();
        for path in paths.into_iter().filter(|path| *path != Path::new("/")) {
            if let Some(host) = host_path_after(&ordered[..index], rootdir, path) {
                if fs::symlink_metadata(&host).is_err() && !created.contains(&host) {
                    created.push(host);
                }
            }
        }
    }
    created
}

/// Components below `/`: `/` is 0, `/usr` 1, `/usr/local` 2.
fn depth(path: &Path) -> usize {
    path.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::container::TmpfsOptions;

    /// A read-only bind.
    pub(in crate::plan) fn bind(source: &str, target: &str) -> Mount {
        Mount::Bind {
            source: source.into(),
            target: target.into(),
            writable: false,
            devices: false,
        }
    }

    pub(in crate::plan) fn tmpfs(target: &str) -> Mount {
        Mount::Tmpfs {
            target: target.into(),
            options: TmpfsOptions::default(),
        }
    }

    #[test]
    fn the_last_mount_over_a_path_provides_it() {
        let mounts = [
            bind("/", "/"),
            bind("/srv/etc", "/etc"),
            bind("/x", "/etc/other"),
        ];
        assert_eq!(
            host_path(&mounts, None, Path::new("/etc/passwd")),
            Some(PathBuf::from("/srv/etc/passwd"))
        );
        let mounts = [
            bind("/srv/etc", "/etc"),
            Mount::Tmpfs {
                target: "/etc".into(),
                options: Default::default(),
            },
        ];
        assert_eq!(host_path(&mounts, None, Path::new("/etc/passwd")), None);
        assert_eq!(host_path(&[], None, Path::new("/etc/passwd")), None);
        assert_eq!(
            host_path(&[], Some(Path::new("/srv/root")), Path::new("/etc/passwd")),
            Some(PathBuf::from("/srv/root/etc/passwd"))
        );
    }

    #[test]
    fn mount_points_made_in_host_directories_are_listed_for_removal() {
        let rootdir = Path::new("/nonexistent-root");
        let mounts = [tmpfs("/tmp"), tmpfs("/proc")];
        assert_eq!(
            host_leftovers(&mounts, Some(rootdir)),
            [rootdir.join("tmp"), rootdir.join("proc")]
        );
        // Inside a tmpfs nothing reaches the host.
        let mounts = [tmpfs("/tmp"), tmpfs("/tmp/a/b")];
        assert_eq!(
            host_leftovers(&mounts, Some(rootdir)),
            [rootdir.join("tmp")]
        );
        // Mount points that exist already are not touched.
        assert!(host_leftovers(&[tmpfs("/etc")], Some(Path::new("/"))).is_empty());
    }
}
